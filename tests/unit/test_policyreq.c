/*
 * Unit tests of src/policyreq.c: framing and parsing one Postfix
 * policy-delegation request (SPEC section 7), and the reply line.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policyreq.h"

static char err[256];

/* A request as Postfix 3.7 sends it at RCPT (every attribute). */
static const char full[] =
    "request=smtpd_access_policy\n"
    "protocol_state=RCPT\n"
    "protocol_name=ESMTP\n"
    "client_address=192.0.2.10\n"
    "client_name=client.example.net\n"
    "reverse_client_name=client.example.net\n"
    "client_port=41234\n"
    "helo_name=client.example.net\n"
    "sender=alice@example.org\n"
    "recipient=bob@remote.test\n"
    "recipient_count=0\n"
    "queue_id=\n"
    "instance=1a2b.5f0e1c2d.3e8a1.0\n"
    "size=0\n"
    "etrn_domain=\n"
    "stress=\n"
    "sasl_method=PLAIN\n"
    "sasl_username=alice\n"
    "sasl_sender=\n"
    "ccert_subject=\n"
    "ccert_issuer=\n"
    "ccert_fingerprint=\n"
    "ccert_pubkey_fingerprint=\n"
    "encryption_protocol=TLSv1.3\n"
    "encryption_cipher=TLS_AES_256_GCM_SHA384\n"
    "encryption_keysize=256\n"
    "server_address=127.0.0.1\n"
    "server_port=25\n"
    "policy_context=\n"
    "\n";

/* Parses a copy of text (the copy lives until the next call). */
static int
parse(struct policyreq *req, const char *text, size_t len)
{
	static char *buf;

	free(buf);
	buf = malloc(len + 1);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, text, len);
	buf[len] = 'X';		/* a byte after the request: never read */
	err[0] = '\0';
	return policyreq_parse(req, buf, len, err, sizeof(err));
}

START_TEST(test_full_request)
{
	struct policyreq req;

	ck_assert_uint_eq(policyreq_frame(full, strlen(full)), strlen(full));
	ck_assert_int_eq(parse(&req, full, strlen(full)), 0);
	ck_assert_str_eq(policyreq_get(&req, PREQ_PROTOCOL_STATE), "RCPT");
	ck_assert_str_eq(policyreq_get(&req, PREQ_CLIENT_ADDRESS), "192.0.2.10");
	ck_assert_str_eq(policyreq_get(&req, PREQ_CLIENT_PORT), "41234");
	ck_assert_str_eq(policyreq_get(&req, PREQ_INSTANCE),
	    "1a2b.5f0e1c2d.3e8a1.0");
	ck_assert_str_eq(policyreq_get(&req, PREQ_SASL_USERNAME), "alice");
	ck_assert_str_eq(policyreq_get(&req, PREQ_SASL_SENDER), "");
	ck_assert_ptr_nonnull(req.v[PREQ_SASL_SENDER]);
	ck_assert_str_eq(policyreq_get(&req, PREQ_ENCRYPTION_KEYSIZE), "256");
	ck_assert_str_eq(policyreq_get(&req, PREQ_QUEUE_ID), "");
	/* reverse_client_name, recipient_count, etrn_domain, stress,
	 * ccert_* (4), server_*, policy_context: 11 unknown */
	ck_assert_uint_eq(req.nunknown, 11);
	ck_assert_uint_eq(req.nlines, 29);
	ck_assert_uint_eq(req.ndup, 0);
}
END_TEST

START_TEST(test_frame)
{
	const char two[] = "request=smtpd_access_policy\n\nrequest=x\n\n";

	ck_assert_uint_eq(policyreq_frame("", 0), 0);
	ck_assert_uint_eq(policyreq_frame("a=b\n", 4), 0);
	ck_assert_uint_eq(policyreq_frame("a=b\n\n", 5), 5);
	ck_assert_uint_eq(policyreq_frame("a=b", 3), 0);
	ck_assert_uint_eq(policyreq_frame("\n", 1), 1);
	/* the first of two pipelined requests */
	ck_assert_uint_eq(policyreq_frame(two, strlen(two)), 29);
	/* CR LF tolerated */
	ck_assert_uint_eq(policyreq_frame("a=b\r\n\r\n", 7), 7);
	ck_assert_uint_eq(policyreq_frame("a=b\r\n\r", 6), 0);
	/* a value may hold "=" and CR that is not before LF */
	ck_assert_uint_eq(policyreq_frame("a=b=c\rd\n\nz", 10), 9);
}
END_TEST

START_TEST(test_order_and_values)
{
	struct policyreq req;
	const char r[] = "sender=\nrequest=smtpd_access_policy\r\n"
	    "helo_name=a=b\nrecipient=<x@y>\n\r\n";

	ck_assert_int_eq(parse(&req, r, strlen(r)), 0);
	ck_assert_str_eq(req.v[PREQ_SENDER], "");
	ck_assert_str_eq(req.v[PREQ_HELO_NAME], "a=b");
	ck_assert_str_eq(req.v[PREQ_RECIPIENT], "<x@y>");
	ck_assert_ptr_null(req.v[PREQ_SASL_USERNAME]);
	ck_assert_str_eq(policyreq_get(&req, PREQ_SASL_USERNAME), "");
}
END_TEST

START_TEST(test_duplicates_first_wins)
{
	struct policyreq req;
	const char r[] = "request=smtpd_access_policy\nsasl_username=alice\n"
	    "sasl_username=mallory\nrecipient=a@b\nsasl_username=\n"
	    "recipient=c@d\n\n";

	ck_assert_int_eq(parse(&req, r, strlen(r)), 0);
	ck_assert_str_eq(req.v[PREQ_SASL_USERNAME], "alice");
	ck_assert_str_eq(req.v[PREQ_RECIPIENT], "a@b");
	ck_assert_uint_eq(req.ndup, 3);
	ck_assert_int_eq(req.first_dup, PREQ_SASL_USERNAME);
	ck_assert_str_eq(policyreq_attr_name(req.first_dup), "sasl_username");
}
END_TEST

START_TEST(test_unknown_ignored)
{
	struct policyreq req;
	const char r[] = "x-future=1\nrequest=smtpd_access_policy\n=novalue\n"
	    "REQUEST=other\n\n";

	ck_assert_int_eq(parse(&req, r, strlen(r)), 0);
	ck_assert_uint_eq(req.nunknown, 3);
}
END_TEST

static void
malformed(const char *r, size_t len, const char *why)
{
	struct policyreq req;

	ck_assert_msg(parse(&req, r, len) == -1, "accepted: %s", why);
	ck_assert_msg(strstr(err, why) != NULL, "err '%s', want '%s'", err, why);
}

START_TEST(test_malformed)
{
	static const char nul[] = "request=smtpd_access_policy\nsender=a\0b\n\n";

	malformed(nul, sizeof(nul) - 1, "NUL byte at offset 36");
	malformed("request=smtpd_access_policy\nnoequals\n\n", 38,
	    "line 2 has no '='");
	malformed("sender=a\n\n", 10, "no request attribute");
	malformed("\n", 1, "no request attribute");
	malformed("request=junk\n\n", 14, "not smtpd_access_policy");
	malformed("request=smtpd_access_policy \n\n", 30,
	    "not smtpd_access_policy");
	malformed("request=smtpd_access_policy\n", 28, "not ended");
	malformed("request=smtpd_access_policy", 27, "not ended");
	malformed("", 0, "not ended");
}
END_TEST

START_TEST(test_size_bound)
{
	struct policyreq req;
	size_t	len;
	char	*r;

	/* exactly POLICYREQ_MAX: accepted; one byte more: malformed */
	r = malloc(POLICYREQ_MAX + 2);
	ck_assert_ptr_nonnull(r);
	len = (size_t)sprintf(r, "request=smtpd_access_policy\nx=");
	memset(r + len, 'a', POLICYREQ_MAX - len - 2);
	r[POLICYREQ_MAX - 2] = '\n';
	r[POLICYREQ_MAX - 1] = '\n';
	ck_assert_uint_eq(policyreq_frame(r, POLICYREQ_MAX), POLICYREQ_MAX);
	ck_assert_int_eq(parse(&req, r, POLICYREQ_MAX), 0);
	memmove(r + POLICYREQ_MAX - 1, r + POLICYREQ_MAX - 2, 2);
	r[POLICYREQ_MAX - 2] = 'a';
	malformed(r, POLICYREQ_MAX + 1, "longer than 65536");
	free(r);
}
END_TEST

static void
action(const char *text, const char *want)
{
	char	out[1024];
	size_t	n;

	n = policyreq_action(out, sizeof(out), text);
	ck_assert_uint_eq(n, strlen(out));
	ck_assert_msg(strcmp(out, want) == 0, "got '%s' want '%s'", out, want);
}

START_TEST(test_action)
{
	char	big[2000], want[1000], small[16];

	action("DUNNO", "action=DUNNO\n\n");
	action("554 5.7.1 Relay access denied", "action=554 5.7.1 Relay "
	    "access denied\n\n");
	/* one line: no CR, LF, TAB or other controls */
	action("451 a\r\nb\tc\x7f", "action=451 a??b?c?\n\n");
	/* valid UTF-8 kept, invalid bytes replaced one by one */
	action("550 caf\xc3\xa9 \xe2\x80\xa6", "action=550 caf\xc3\xa9 "
	    "\xe2\x80\xa6\n\n");
	action("550 \xc3 \xff \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf",
	    "action=550 ? ? ??? ???? ??\n\n");
	/* truncated sequence at the end */
	action("550 \xe2\x80", "action=550 ??\n\n");
	/* bounded at 900 bytes of text, never inside a character */
	memset(big, 'a', 899);
	memcpy(big + 899, "\xc3\xa9xyz", 6);
	snprintf(want, sizeof(want), "action=%.899s\n\n", big);
	action(big, want);
	/* a small buffer still gets a whole, ended reply */
	ck_assert_uint_eq(policyreq_action(small, sizeof(small),
	    "451 4.3.0 much too long"), 15);
	ck_assert_str_eq(small, "action=451 4.\n\n");
}
END_TEST

static Suite *
suite(void)
{
	Suite	*s = suite_create("policyreq");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_full_request);
	tcase_add_test(tc, test_frame);
	tcase_add_test(tc, test_order_and_values);
	tcase_add_test(tc, test_duplicates_first_wins);
	tcase_add_test(tc, test_unknown_ignored);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_size_bound);
	tcase_add_test(tc, test_action);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
