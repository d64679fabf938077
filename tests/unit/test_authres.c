/*
 * Unit tests of src/authres: the RFC 8601 reading of Authentication-Results
 * (which headers claim our authserv-id), the per-transaction list of claims,
 * and the value of the header we add.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authres.h"

#define ID	"mx.example.org"

/* authres_claims: the forms of RFC 8601 section 2.2 that claim our id */

START_TEST(t_claims_plain)
{
	ck_assert(authres_claims(ID "; auth=pass smtp.auth=x", ID));
	ck_assert(authres_claims(ID ";auth=pass", ID));
	ck_assert(authres_claims("MX.Example.ORG; spf=pass", ID));
	ck_assert(authres_claims("  \t" ID " ; dkim=pass", ID));
	ck_assert(authres_claims(ID, "MX.EXAMPLE.ORG"));
}
END_TEST

START_TEST(t_claims_folded)
{
	/* folded between the id and ";", with CRLF or with LF alone */
	ck_assert(authres_claims(ID "\r\n ; auth=pass", ID));
	ck_assert(authres_claims(ID "\r\n\t; auth=pass", ID));
	ck_assert(authres_claims(ID "\n\t;auth=pass", ID));
	ck_assert(authres_claims(ID "\r\n \r\n ;auth=pass", ID));
	/* folded before the id */
	ck_assert(authres_claims("\r\n " ID "; auth=pass", ID));
	ck_assert(authres_claims(" (x)\r\n\t" ID "; auth=pass", ID));
}
END_TEST

START_TEST(t_claims_quoted)
{
	ck_assert(authres_claims("\"" ID "\"; auth=pass", ID));
	ck_assert(authres_claims("\"MX.example.org\";auth=pass", ID));
	ck_assert(authres_claims("\"mx.ex\\ample.org\"; auth=pass", ID));
	ck_assert(authres_claims("\"\\m\\x\\.\\e\\x\\a\\m\\p\\l\\e\\.\\o\\r\\g\"; a",
	    ID));
	ck_assert(authres_claims("\" " ID " \"; auth=pass", ID));
	ck_assert(authres_claims("\"mx.example.\r\n org\"; a", "mx.example. org"));
	ck_assert(authres_claims("\"mx.exa\r\nmple.org\"; a", ID));
	ck_assert(authres_claims("(c) \"" ID "\"\r\n ; auth=pass", ID));
	/* an unclosed quoted-string still names its content */
	ck_assert(authres_claims("\"" ID, ID));
	ck_assert(!authres_claims("\"" ID ".evil\"; auth=pass", ID));
	ck_assert(!authres_claims("\"mx\"; auth=pass", ID));
	ck_assert(!authres_claims("\"\"; auth=pass", ID));
}
END_TEST

START_TEST(t_claims_comments)
{
	ck_assert(authres_claims("(forged) " ID "; auth=pass", ID));
	ck_assert(authres_claims("(a (nested (deep)) one)" ID ";a", ID));
	ck_assert(authres_claims("(with \\) a quoted-pair) " ID ";a", ID));
	ck_assert(authres_claims("(with \\( one) (two)\r\n (three) " ID ";a",
	    ID));
	ck_assert(authres_claims(ID "(comment after); auth=pass", ID));
	/* the id inside a comment is no id */
	ck_assert(!authres_claims("(" ID ") other.example; spf=pass", ID));
	ck_assert(!authres_claims("(unclosed " ID "; auth=pass", ID));
	ck_assert(!authres_claims("((" ID ") still a comment " ID, ID));
}
END_TEST

START_TEST(t_claims_version_and_none)
{
	ck_assert(authres_claims(ID " 1; auth=pass", ID));
	ck_assert(authres_claims(ID " (v) 1 ; auth=pass", ID));
	ck_assert(authres_claims(ID "\r\n 1;auth=pass", ID));
	ck_assert(authres_claims(ID "; none", ID));
	ck_assert(authres_claims(ID, ID));		/* no ";" at all */
	ck_assert(authres_claims(" " ID " ", ID));
	ck_assert(authres_claims(ID " (just a comment)", ID));
	ck_assert(authres_claims("\"" ID "\"", ID));
}
END_TEST

START_TEST(t_claims_not_ours)
{
	ck_assert(!authres_claims("other.example.net; spf=pass", ID));
	ck_assert(!authres_claims(ID ".evil; auth=pass", ID));
	ck_assert(!authres_claims("x" ID "; auth=pass", ID));
	ck_assert(!authres_claims("mx.example.or; auth=pass", ID));
	ck_assert(!authres_claims("", ID));
	ck_assert(!authres_claims("   ", ID));
	ck_assert(!authres_claims("; auth=pass", ID));
	ck_assert(!authres_claims(NULL, ID));
	ck_assert(!authres_claims(ID, NULL));
	ck_assert(!authres_claims(ID, ""));
}
END_TEST

START_TEST(t_claims_lax_run)
{
	/* a token stops at a tspecial: the id is still ours */
	ck_assert(authres_claims(ID "/junk; auth=pass", ID));
	ck_assert(authres_claims(ID "@x; auth=pass", ID));
	/* an authserv_id with characters a token cannot have */
	ck_assert(authres_claims("mx/1@example.org; auth=pass",
	    "mx/1@example.org"));
	ck_assert(authres_claims("\"mx/1@example.org\"; a", "mx/1@example.org"));
	ck_assert(!authres_claims("mx/1; auth=pass", "mx/1@example.org"));
}
END_TEST

START_TEST(t_claims_long)
{
	size_t	n = 100000;
	char	*v = malloc(n + 64);
	size_t	i;

	ck_assert_ptr_nonnull(v);
	/* a long quoted-string, white space, then our id: not the id */
	v[0] = '"';
	for (i = 1; i < n; i++)
		v[i] = 'a';
	strcpy(v + n, "\"; a");
	ck_assert(!authres_claims(v, ID));
	/* quoted content padded with white space beyond any buffer */
	v[0] = '"';
	strcpy(v + 1, ID);
	for (i = 1 + strlen(ID); i < n; i++)
		v[i] = ' ';
	strcpy(v + n, "\"; a");
	ck_assert(authres_claims(v, ID));
	/* white space, then more text */
	strcpy(v + n, "x\"; a");
	ck_assert(!authres_claims(v, ID));
	/* many nested comments */
	for (i = 0; i < n / 2; i++)
		v[i] = '(';
	for (; i < n; i++)
		v[i] = ')';
	strcpy(v + n, ID ";");
	ck_assert(authres_claims(v, ID));
	free(v);
}
END_TEST

/* authres_txn */

START_TEST(t_txn_all_claims)
{
	struct authres_txn t;
	const unsigned *del;
	size_t	n, i;
	char	v[64];

	authres_txn_init(&t, AUTHRES_CLAIMS_MAX);
	/* 40 headers: odd ones (1, 3, ...) ours, in changing forms */
	for (i = 1; i <= 40; i++) {
		if (i % 2 == 0)
			snprintf(v, sizeof(v), "other.example; spf=pass");
		else if (i % 3 == 0)
			snprintf(v, sizeof(v), "\"" ID "\"; auth=pass");
		else
			snprintf(v, sizeof(v), ID "\r\n ; auth=pass n=%zu", i);
		authres_txn_header(&t, v, ID);
	}
	ck_assert_uint_eq(t.seen, 40);
	ck_assert(!t.lost);
	del = authres_txn_deletions(&t, &n);
	ck_assert_uint_eq(n, 20);
	for (i = 0; i < n; i++)		/* last first */
		ck_assert_uint_eq(del[i], 39 - 2 * i);
	/* asking again gives the same */
	del = authres_txn_deletions(&t, &n);
	ck_assert_uint_eq(n, 20);
	ck_assert_uint_eq(del[0], 39);
	ck_assert_uint_eq(del[19], 1);
	authres_txn_clear(&t);
	ck_assert_uint_eq(t.seen, 0);
	del = authres_txn_deletions(&t, &n);
	ck_assert_uint_eq(n, 0);
	authres_txn_header(&t, ID, ID);
	del = authres_txn_deletions(&t, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(del[0], 1);
	authres_txn_free(&t);
	authres_txn_free(&t);
}
END_TEST

START_TEST(t_txn_many)
{
	struct authres_txn t;
	const unsigned *del;
	size_t	n, i;

	authres_txn_init(&t, AUTHRES_CLAIMS_MAX);
	for (i = 0; i < 5000; i++)
		authres_txn_header(&t, ID "; auth=pass", ID);
	ck_assert(!t.lost);
	del = authres_txn_deletions(&t, &n);
	ck_assert_uint_eq(n, 5000);
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(del[i], 5000 - i);
	authres_txn_clear(&t);		/* a big list is released */
	ck_assert_uint_eq(t.nclaims, 0);
	ck_assert_uint_eq(t.limit, AUTHRES_CLAIMS_MAX);
	authres_txn_free(&t);
}
END_TEST

START_TEST(t_txn_limit)
{
	struct authres_txn t;
	size_t	n;

	authres_txn_init(&t, 3);
	authres_txn_header(&t, ID, ID);
	authres_txn_header(&t, "other; x", ID);
	authres_txn_header(&t, ID, ID);
	authres_txn_header(&t, ID, ID);
	ck_assert(!t.lost);
	authres_txn_header(&t, "other; x", ID);	/* not a claim: fine */
	ck_assert(!t.lost);
	authres_txn_header(&t, ID, ID);		/* the 4th claim */
	ck_assert(t.lost);
	ck_assert_ptr_nonnull(strstr(t.why, "more than 3"));
	authres_txn_deletions(&t, &n);
	ck_assert_uint_eq(n, 3);
	authres_txn_clear(&t);
	ck_assert(!t.lost);
	ck_assert_str_eq(t.why, "");
	authres_txn_free(&t);
}
END_TEST

/* authres_value */

static int
value(const char *id, const char *login, char *buf, size_t size, char *why)
{
	return authres_value(buf, size, id, login, why, 256);
}

START_TEST(t_value_forms)
{
	char	buf[AUTHRES_VALUE_MAX + 1], why[256];

	ck_assert_int_eq(value(ID, "alice", buf, sizeof(buf), why), 0);
	ck_assert_str_eq(buf, ID "; auth=pass smtp.auth=alice");
	ck_assert_int_eq(value(ID, "alice@example.org", buf, sizeof(buf), why),
	    0);
	ck_assert_str_eq(buf, ID "; auth=pass smtp.auth=alice@example.org");
	ck_assert_int_eq(value(ID, "a.b+c@sub.example-1.org", buf, sizeof(buf),
	    why), 0);
	ck_assert_str_eq(buf, ID "; auth=pass smtp.auth=a.b+c@sub.example-1.org");
	/* no domain-name of RFC 6376: quoted */
	ck_assert_int_eq(value(ID, "alice@localhost", buf, sizeof(buf), why), 0);
	ck_assert_str_eq(buf, ID "; auth=pass smtp.auth=\"alice@localhost\"");
	ck_assert_int_eq(value(ID, "a..b@example.org", buf, sizeof(buf), why),
	    0);
	ck_assert_str_eq(buf, ID "; auth=pass smtp.auth=\"a..b@example.org\"");
	ck_assert_int_eq(value(ID, "we\"ird \\user", buf, sizeof(buf), why), 0);
	ck_assert_str_eq(buf, ID "; auth=pass smtp.auth=\"we\\\"ird \\\\user\"");
	ck_assert_int_eq(value(ID, "a;b=c", buf, sizeof(buf), why), 0);
	ck_assert_str_eq(buf, ID "; auth=pass smtp.auth=\"a;b=c\"");
	ck_assert_int_eq(value(ID, "", buf, sizeof(buf), why), 0);
	ck_assert_str_eq(buf, ID "; auth=pass smtp.auth=\"\"");
	/* UTF-8 (RFC 6532) */
	ck_assert_int_eq(value(ID, "\xc3\xa5lice", buf, sizeof(buf), why), 0);
	ck_assert_str_eq(buf, ID "; auth=pass smtp.auth=\"\xc3\xa5lice\"");
	ck_assert_int_eq(value(ID, "\xe2\x82\xac\xf0\x9f\x98\x80", buf,
	    sizeof(buf), why), 0);
	ck_assert_str_eq(buf, ID "; auth=pass smtp.auth=\""
	    "\xe2\x82\xac\xf0\x9f\x98\x80\"");
	/* an authserv_id that is no token is quoted */
	ck_assert_int_eq(value("mx/1@example.org", "alice", buf, sizeof(buf),
	    why), 0);
	ck_assert_str_eq(buf, "\"mx/1@example.org\"; auth=pass smtp.auth=alice");
}
END_TEST

static void
refused(const char *login, const char *what)
{
	char	buf[AUTHRES_VALUE_MAX + 1], why[256];

	memset(buf, 'x', sizeof(buf));
	ck_assert_msg(value(ID, login, buf, sizeof(buf), why) == -1,
	    "login accepted: %s", buf);
	ck_assert_str_eq(buf, "");
	ck_assert_msg(strstr(why, what) != NULL, "why: %s", why);
}

START_TEST(t_value_refused)
{
	refused("ceo\x01@example.org", "control character (byte 0x01 at offset 3)");
	refused("ceo\t", "control character");
	refused("ceo\r\nX-Evil: 1", "control character");
	refused("ceo\x7f", "control character");
	refused("ceo\xc2\x85", "control character");	/* C1 NEL */
	refused("ceo\xc2\x9f", "control character");
	refused("ceo\xff", "not UTF-8 (byte 0xff at offset 3)");
	refused("\xc0\xaf", "not UTF-8");		/* overlong */
	refused("\xe0\x80\xaf", "not UTF-8");		/* overlong */
	refused("\xed\xa0\x80", "not UTF-8");		/* surrogate */
	refused("\xf4\x90\x80\x80", "not UTF-8");	/* past U+10FFFF */
	refused("ab\xe2\x82", "not UTF-8");		/* cut short */
	refused("\x80", "not UTF-8");
}
END_TEST

START_TEST(t_value_length)
{
	char	buf[AUTHRES_VALUE_MAX + 1], why[256], login[2000];
	size_t	room = AUTHRES_VALUE_MAX - strlen(ID "; auth=pass smtp.auth=");

	ck_assert_uint_eq(AUTHRES_VALUE_MAX, 998 - 24);
	memset(login, 'a', room);
	login[room] = '\0';
	ck_assert_int_eq(value(ID, login, buf, sizeof(buf), why), 0);
	ck_assert_uint_eq(strlen(buf), AUTHRES_VALUE_MAX);
	ck_assert_str_eq(buf + strlen(buf) - room, login);
	login[room] = 'a';
	login[room + 1] = '\0';
	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(value(ID, login, buf, sizeof(buf), why), -1);
	ck_assert_str_eq(buf, "");
	ck_assert_ptr_nonnull(strstr(why, "does not fit one header line"));
	/* quoting counts: room - 2 characters and two quoted-pairs */
	memset(login, 'a', room - 2);
	login[0] = '"';
	login[room - 2] = '\0';
	ck_assert_int_eq(value(ID, login, buf, sizeof(buf), why), -1);
	login[0] = 'a';
	login[1] = ' ';
	ck_assert_int_eq(value(ID, login, buf, sizeof(buf), why), 0);
	/* a smaller buffer than a line also refuses, never cuts */
	ck_assert_int_eq(value(ID, "alice", buf, 20, why), -1);
	ck_assert_str_eq(buf, "");
}
END_TEST

static Suite *
authres_suite(void)
{
	Suite	*s = suite_create("authres");
	TCase	*tc;

	tc = tcase_create("claims");
	tcase_add_test(tc, t_claims_plain);
	tcase_add_test(tc, t_claims_folded);
	tcase_add_test(tc, t_claims_quoted);
	tcase_add_test(tc, t_claims_comments);
	tcase_add_test(tc, t_claims_version_and_none);
	tcase_add_test(tc, t_claims_not_ours);
	tcase_add_test(tc, t_claims_lax_run);
	tcase_add_test(tc, t_claims_long);
	suite_add_tcase(s, tc);

	tc = tcase_create("txn");
	tcase_add_test(tc, t_txn_all_claims);
	tcase_add_test(tc, t_txn_many);
	tcase_add_test(tc, t_txn_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("value");
	tcase_add_test(tc, t_value_forms);
	tcase_add_test(tc, t_value_refused);
	tcase_add_test(tc, t_value_length);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(authres_suite());
	int	failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
