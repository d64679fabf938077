/* Unit tests of the session state machine (rules S1-S6) and its log lines. */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "evlog.h"
#include "metrics.h"
#include "session.h"
#include "jsoncheck.h"

static struct sg_config *cfg;
static struct evlog *log_;
static struct sg_session *s;
static char linebuf[65536];

static void
setup_with(const char *text, enum sg_log_level level)
{
	char	err[512];

	cfg = config_load_string("t.conf", text, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "config: %s", err);
	log_ = evlog_memory(level, cfg->log_max_value);
	ck_assert_ptr_nonnull(log_);
	s = session_new(cfg, log_);
	ck_assert_ptr_nonnull(s);
}

static void
setup(void)
{
	setup_with("local_domains = example.org\n"
	    "trusted_networks = 10.0.0.0/8, 2001:db8::/32\n",
	    LOG_LEVEL_COMMANDS);
}

static void
teardown(void)
{
	session_free(s);
	evlog_close(log_);
	config_free(cfg);
}

/* The n-th (from 0) line of event ev, copied into linebuf, or NULL. */
static const char *
line_of(const char *ev, int n)
{
	const char *p = evlog_memory_text(log_), *nl;
	char	want[64];

	snprintf(want, sizeof(want), "\"event\":\"%s\"", ev);
	for (; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		ck_assert_ptr_nonnull(nl);
		if (memmem(p, (size_t)(nl - p), want, strlen(want)) && n-- == 0) {
			memcpy(linebuf, p, (size_t)(nl - p));
			linebuf[nl - p] = '\0';
			return linebuf;
		}
	}
	return NULL;
}

static int
count_of(const char *ev)
{
	int	n = 0;

	while (line_of(ev, n))
		n++;
	return n;
}

static const char *
str_field(const char *line, const char *key)
{
	static char out[4096];

	ck_assert_ptr_nonnull(line);
	if (json_get_string(line, key, out, sizeof(out)) != 0)
		return NULL;
	return out;
}

static long long
int_field(const char *line, const char *key)
{
	long long v;

	ck_assert_ptr_nonnull(line);
	ck_assert_msg(json_get_int(line, key, &v) == 0, "no %s in %s", key, line);
	return v;
}

/* A member of the auth object of a line ("" when auth is null). */
static const char *
auth_field(const char *line, const char *key)
{
	static char obj[4096], out[1024];
	const char *val;
	size_t	vlen;

	ck_assert_ptr_nonnull(line);
	ck_assert_msg(json_get_raw(line, "auth", &val, &vlen) == 0,
	    "no auth in %s", line);
	if (vlen == 4 && memcmp(val, "null", 4) == 0)
		return "";
	ck_assert_uint_lt(vlen, sizeof(obj));
	memcpy(obj, val, vlen);
	obj[vlen] = '\0';
	if (strcmp(key, "since_seq") == 0) {
		long long v;

		ck_assert_int_eq(json_get_int(obj, key, &v), 0);
		snprintf(out, sizeof(out), "%lld", v);
		return out;
	}
	ck_assert_int_eq(json_get_string(obj, key, out, sizeof(out)), 0);
	return out;
}

/* Every line is valid JSON and seq counts 1, 2, 3 ... */
static void
check_all_lines(void)
{
	const char *p = evlog_memory_text(log_), *nl;
	long long want = 1, seq;
	char	buf[65536];

	for (; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		ck_assert_ptr_nonnull(nl);
		ck_assert_msg(json_valid(p, (size_t)(nl - p)), "not JSON: %.*s",
		    (int)(nl - p), p);
		memcpy(buf, p, (size_t)(nl - p));
		buf[nl - p] = '\0';
		ck_assert_int_eq(json_get_int(buf, "seq", &seq), 0);
		ck_assert_int_eq(seq, want);
		want++;
	}
}

static void
connect4(const char *addr)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(40000);
	ck_assert_int_eq(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	session_on_connect(s, "client.example.net", (struct sockaddr *)&sin,
	    "smtpd");
}

static void
connect6(const char *addr)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(40001);
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &sin6.sin6_addr), 1);
	session_on_connect(s, "v6.example.net", (struct sockaddr *)&sin6, NULL);
}

static void
helo(const char *name)
{
	session_on_helo(s, name, NULL);
}

static void
helo_tls(const char *name)
{
	struct sg_mta_says says = {
		{ "TLSv1.3", "TLS_AES_256_GCM_SHA384", "256" }, NULL, NULL, NULL };

	session_on_helo(s, name, &says);
}

static void
mail_auth(const char *sender, const char *user, const char *mech,
    const char *author)
{
	struct sg_mta_says says = { { NULL, NULL, NULL }, user, mech, author };
	const char *argv[] = { sender };

	session_on_mail(s, argv, 1, &says);
}

static void
mail_args(const char *sender, const char *arg)
{
	const char *argv[] = { sender, arg };

	session_on_mail(s, argv, 2, NULL);
}

static enum sg_verdict
rcpt_mailer(const char *addr, const char *mailer, struct sg_rcpt_result *out)
{
	struct sg_rcpt_result res;
	const char *argv[] = { addr };

	session_on_rcpt(s, argv, 1, NULL, mailer, out ? out : &res);
	return out ? out->verdict : res.verdict;
}

static enum sg_verdict
rcpt(const char *addr)
{
	return rcpt_mailer(addr, NULL, NULL);
}

/* S1 */

START_TEST(s1_authen_authenticates)
{
	connect4("192.0.2.10");
	helo("phone");
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	ck_assert(session_authenticated(s));
	ck_assert_str_eq(session_auth_user(s), "alice");
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_ACCEPT);
	ck_assert_str_eq(auth_field(line_of("rcpt", 0), "user"), "alice");
	ck_assert_str_eq(auth_field(line_of("rcpt", 0), "mech"), "PLAIN");
	ck_assert_str_eq(auth_field(line_of("rcpt", 0), "source"), "mta");
	ck_assert_str_eq(auth_field(line_of("rcpt", 0), "since_seq"), "3");
	ck_assert_str_eq(str_field(line_of("rcpt", 0), "reason"),
	    "authenticated as alice (PLAIN) at seq 3");
	check_all_lines();
}
END_TEST

START_TEST(s1_auth_author_alone_never)
{
	connect4("192.0.2.10");
	helo("phone");
	mail_auth("<a@example.org>", NULL, NULL, "<victim@example.org>");
	ck_assert(!session_authenticated(s));
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_REJECT);
	ck_assert_str_eq(str_field(line_of("mail", 0), "auth_param"),
	    "<victim@example.org>");
	ck_assert_str_eq(auth_field(line_of("mail", 0), "user"), "");
	ck_assert_str_eq(str_field(line_of("anomaly", 0), "kind"),
	    "client_auth_param");
	check_all_lines();
}
END_TEST

START_TEST(s1_auth_param_and_empty_authen_never)
{
	connect4("192.0.2.10");
	helo("phone");
	mail_args("<a@example.org>", "AUTH=<victim@example.org>");
	ck_assert(!session_authenticated(s));
	ck_assert_str_eq(str_field(line_of("mail", 0), "auth_param"),
	    "<victim@example.org>");
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_REJECT);
	session_on_abort(s);
	mail_auth("<a@example.org>", "", "PLAIN", "alice");
	ck_assert(!session_authenticated(s));
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_REJECT);
	ck_assert_int_eq(count_of("anomaly"), 2);
	check_all_lines();
}
END_TEST

START_TEST(s1_auth_param_empty_claim_is_no_anomaly)
{
	connect4("192.0.2.10");
	helo("phone");
	mail_args("<a@example.org>", "AUTH=<>");
	ck_assert_int_eq(count_of("anomaly"), 0);
	ck_assert_str_eq(str_field(line_of("mail", 0), "auth_param"), "<>");
}
END_TEST

/* S2 */

START_TEST(s2_carried_across_abort_without_macros)
{
	struct sg_rcpt_result res;

	connect4("192.0.2.10");
	helo("nokia");
	mail_auth("<alice@example.org>", "alice", "LOGIN", NULL);
	session_on_abort(s);
	mail_auth("<alice@example.org>", NULL, NULL, NULL);
	ck_assert(session_authenticated(s));
	ck_assert_int_eq(rcpt_mailer("<x@remote.test>", "smtp", &res),
	    VERDICT_ACCEPT);
	ck_assert_str_eq(auth_field(line_of("mail", 1), "source"), "carried");
	ck_assert_str_eq(auth_field(line_of("rcpt", 0), "source"), "carried");
	ck_assert_str_eq(auth_field(line_of("rcpt", 0), "since_seq"), "3");
	ck_assert_str_eq(str_field(line_of("anomaly", 0), "kind"), "auth_carried");
	ck_assert_str_eq(str_field(line_of("rcpt", 0), "reason"),
	    "authenticated as alice (LOGIN) at seq 3, carried across 1 reset");
	check_all_lines();
}
END_TEST

START_TEST(s2_survives_eom_and_helo)
{
	connect4("192.0.2.10");
	helo("nokia");
	mail_auth("<alice@example.org>", "alice", "LOGIN", NULL);
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_ACCEPT);
	session_on_data(s);
	session_on_header(s, "Subject", "x");
	session_on_eoh(s);
	session_on_body(s, 100);
	session_on_eom(s, "QID1");
	helo("nokia");
	helo("nokia-again");
	mail_auth("<alice@example.org>", NULL, NULL, NULL);
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_ACCEPT);
	/* the MTA reports it again: source back to mta, same since_seq */
	session_on_abort(s);
	mail_auth("<alice@example.org>", "alice", "LOGIN", NULL);
	ck_assert_int_eq(rcpt("<y@remote.test>"), VERDICT_ACCEPT);
	ck_assert_str_eq(auth_field(line_of("rcpt", 2), "source"), "mta");
	ck_assert_str_eq(auth_field(line_of("rcpt", 2), "since_seq"), "3");
	ck_assert_int_eq(int_field(line_of("eom", 0), "size"), 100);
	ck_assert_int_eq(int_field(line_of("eom", 0), "headers"), 1);
	ck_assert_str_eq(str_field(line_of("eom", 0), "queue_id"), "QID1");
	check_all_lines();
}
END_TEST

START_TEST(s2_rcpt_macros_alone_do_not_mark_carried)
{
	struct sg_mta_says am = { { NULL, NULL, NULL }, NULL, NULL, NULL };
	struct sg_rcpt_result res;
	const char *argv[] = { "<x@remote.test>" };

	connect4("192.0.2.10");
	helo("h");
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	session_on_rcpt(s, argv, 1, &am, NULL, &res);
	ck_assert_int_eq(res.verdict, VERDICT_ACCEPT);
	ck_assert_int_eq(count_of("anomaly"), 0);
	ck_assert_str_eq(auth_field(line_of("rcpt", 0), "source"), "mta");
}
END_TEST

/* S3 */

START_TEST(s3_tls_boundary_discards_auth)
{
	struct sg_rcpt_result res;

	connect4("192.0.2.10");
	helo("plain");
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_ACCEPT);
	session_on_abort(s);
	helo_tls("tls");
	ck_assert(!session_authenticated(s));
	ck_assert_ptr_nonnull(line_of("tls", 0));
	ck_assert_int_eq(int_field(line_of("tls", 0), "bits"), 256);
	mail_auth("<alice@example.org>", NULL, NULL, NULL);
	ck_assert_int_eq(rcpt_mailer("<x@remote.test>", NULL, &res),
	    VERDICT_REJECT);
	ck_assert_ptr_nonnull(strstr(str_field(line_of("rcpt", 1), "reason"),
	    "not authenticated: auth discarded by STARTTLS at seq"));
	/* no carried anomaly: the login is gone, not forgotten by the MTA */
	ck_assert_int_eq(count_of("anomaly"), 0);
	/* a second TLS HELO is no new boundary */
	helo_tls("tls2");
	ck_assert_int_eq(count_of("tls"), 1);
	/* logging in again inside TLS works */
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_ACCEPT);
	check_all_lines();
}
END_TEST

START_TEST(s3_boundary_without_known_auth_names_starttls)
{
	connect4("192.0.2.10");
	helo("plain");
	helo_tls("tls");
	mail_auth("<a@example.org>", NULL, NULL, NULL);
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_REJECT);
	ck_assert_ptr_nonnull(strstr(str_field(line_of("rcpt", 0), "reason"),
	    "STARTTLS"));
	ck_assert_ptr_nonnull(strstr(str_field(line_of("rcpt", 0), "reason"),
	    "not authenticated"));
}
END_TEST

START_TEST(s3_tls_from_the_start_is_no_boundary)
{
	connect4("192.0.2.10");
	helo_tls("smtps");
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	helo_tls("smtps");
	ck_assert(session_authenticated(s));
	session_on_abort(s);
	ck_assert(session_authenticated(s));
	ck_assert_int_eq(count_of("tls"), 1);
}
END_TEST

/* S3 at MAIL or RCPT: no EHLO after STARTTLS (issue 10 item 2). */

static void
mail_tls(const char *sender, const char *user)
{
	struct sg_mta_says says = {
		{ "TLSv1.3", "TLS_AES_256_GCM_SHA384", "256" }, user,
		user ? "PLAIN" : NULL, NULL };
	const char *argv[] = { sender };

	session_on_mail(s, argv, 1, &says);
}

START_TEST(s3_boundary_at_mail)
{
	connect4("192.0.2.10");
	helo("plain");
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_ACCEPT);
	session_on_abort(s);
	mail_tls("<alice@example.org>", NULL);
	ck_assert(!session_authenticated(s));
	ck_assert_int_eq(count_of("tls"), 1);
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_REJECT);
	ck_assert_ptr_nonnull(strstr(str_field(line_of("rcpt", 1), "reason"),
	    "auth discarded by STARTTLS"));
	ck_assert_int_eq(count_of("anomaly"), 1);	/* mail_without_helo */
	ck_assert_str_eq(str_field(line_of("anomaly", 0), "kind"),
	    "mail_without_helo");
	check_all_lines();
}
END_TEST

START_TEST(s3_boundary_at_rcpt)
{
	struct sg_mta_says tls = {
		{ "TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", "256" },
		NULL, NULL, NULL };
	struct sg_rcpt_result res;
	const char *argv[] = { "<x@remote.test>" };

	connect4("192.0.2.10");
	helo("plain");
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	session_on_rcpt(s, argv, 1, &tls, NULL, &res);
	ck_assert_int_eq(res.verdict, VERDICT_REJECT);
	ck_assert_int_eq(count_of("tls"), 1);
	ck_assert_ptr_nonnull(strstr(str_field(line_of("rcpt", 0), "reason"),
	    "auth discarded by STARTTLS"));
}
END_TEST

/* S3: a login the MTA keeps across STARTTLS (issue 10 item 3). */

START_TEST(s3_kept_login_at_helo_stays_discarded)
{
	struct sg_mta_says says = {
		{ "TLSv1.3", "TLS_AES_256_GCM_SHA384", "256" }, "alice", "PLAIN",
		NULL };

	connect4("192.0.2.10");
	helo("plain");
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	session_on_abort(s);
	session_on_helo(s, "tls", &says);
	ck_assert(!session_authenticated(s));
	ck_assert_str_eq(str_field(line_of("anomaly", 0), "kind"),
	    "auth_kept_across_tls");
	mail_tls("<alice@example.org>", "alice");
	ck_assert(!session_authenticated(s));
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_REJECT);
	ck_assert_int_eq(rcpt("<y@remote.test>"), VERDICT_REJECT);
	ck_assert_ptr_nonnull(strstr(str_field(line_of("rcpt", 0), "reason"),
	    "STARTTLS"));
	/* once at the HELO, once for the transaction */
	ck_assert_int_eq(count_of("anomaly"), 2);
	ck_assert_int_eq(metrics_anomaly_value(ANOMALY_AUTH_KEPT_ACROSS_TLS) > 0, 1);
	session_on_abort(s);
	/* a fresh AUTH inside TLS as another user counts */
	mail_tls("<bob@example.org>", "bob");
	ck_assert(session_authenticated(s));
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_ACCEPT);
	check_all_lines();
}
END_TEST

START_TEST(s3_kept_login_at_mail_without_ehlo)
{
	connect4("192.0.2.10");
	helo("plain");
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	session_on_abort(s);
	mail_tls("<alice@example.org>", "alice");
	ck_assert(!session_authenticated(s));
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_REJECT);
	ck_assert_int_eq(count_of("tls"), 1);
	ck_assert_ptr_nonnull(strstr(evlog_memory_text(log_),
	    "\"kind\":\"auth_kept_across_tls\""));
}
END_TEST

/* Postfix resets SASL at STARTTLS: a new AUTH, even as the same user, counts. */
START_TEST(s3_fresh_auth_after_ehlo_counts)
{
	connect4("192.0.2.10");
	helo("plain");
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	session_on_abort(s);
	helo_tls("tls");
	mail_tls("<alice@example.org>", "alice");
	ck_assert(session_authenticated(s));
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_ACCEPT);
	ck_assert_ptr_null(strstr(evlog_memory_text(log_), "auth_kept"));
}
END_TEST

/* S4 */

START_TEST(s4_transactions)
{
	connect4("192.0.2.10");
	helo("h");
	ck_assert_uint_eq(session_txn(s), 0);
	mail_auth("<a@example.org>", NULL, NULL, NULL);
	ck_assert_uint_eq(session_txn(s), 1);
	ck_assert(session_in_txn(s));
	session_on_abort(s);
	ck_assert(!session_in_txn(s));
	ck_assert_int_eq(int_field(line_of("abort", 0), "txn"), 1);
	mail_auth("<a@example.org>", NULL, NULL, NULL);
	ck_assert_uint_eq(session_txn(s), 2);
	helo("h2");
	ck_assert(!session_in_txn(s));
	mail_auth("<a@example.org>", NULL, NULL, NULL);
	session_on_data(s);
	session_on_body(s, 7);
	session_on_eom(s, NULL);
	ck_assert(!session_in_txn(s));
	ck_assert_int_eq(int_field(line_of("eom", 0), "txn"), 3);
	ck_assert_int_eq(int_field(line_of("eom", 0), "size"), 7);
	mail_auth("<a@example.org>", NULL, NULL, NULL);
	session_on_body(s, 1);
	session_on_eom(s, NULL);
	ck_assert_int_eq(int_field(line_of("eom", 1), "size"), 1);
	ck_assert_int_eq(int_field(line_of("eom", 1), "txn"), 4);
	rcpt("<x@remote.test>");
	session_on_close(s);
	ck_assert_int_eq(int_field(line_of("close", 0), "transactions"), 4);
	ck_assert_int_eq(int_field(line_of("close", 0), "resets"), 1);
	ck_assert_int_eq(int_field(line_of("close", 0), "rcpts"), 1);
	ck_assert_int_eq(int_field(line_of("close", 0), "rejected"), 1);
	check_all_lines();
}
END_TEST

/* S5 */

START_TEST(s5_auth_changed)
{
	connect4("192.0.2.10");
	helo("h");
	mail_auth("<a@example.org>", "alice", "PLAIN", NULL);
	session_on_abort(s);
	mail_auth("<b@example.org>", "bob", "LOGIN", NULL);
	ck_assert_str_eq(session_auth_user(s), "bob");
	ck_assert_str_eq(str_field(line_of("anomaly", 0), "kind"), "auth_changed");
	ck_assert_str_eq(auth_field(line_of("mail", 1), "user"), "bob");
	ck_assert_str_eq(auth_field(line_of("mail", 1), "since_seq"), "5");
	ck_assert_ptr_nonnull(strstr(str_field(line_of("anomaly", 0), "detail"),
	    "alice"));
	check_all_lines();
}
END_TEST

/* S6 */

START_TEST(s6_unknown_and_mail_without_helo)
{
	connect4("192.0.2.10");
	session_on_unknown(s, "A128 AUTH xxxx xxxx");
	ck_assert_str_eq(str_field(line_of("unknown", 0), "command"),
	    "A128 AUTH xxxx xxxx");
	ck_assert_str_eq(str_field(line_of("anomaly", 0), "kind"),
	    "unknown_command");
	mail_auth("<a@example.org>", NULL, NULL, NULL);
	ck_assert_str_eq(str_field(line_of("anomaly", 1), "kind"),
	    "mail_without_helo");
	check_all_lines();
}
END_TEST

/* Relay decision, verdicts and replies. */

START_TEST(rcpt_reject_reply_fields)
{
	struct sg_rcpt_result res;

	connect4("192.0.2.10");
	helo("h");
	mail_auth("<a@remote.test>", NULL, NULL, NULL);
	ck_assert_int_eq(rcpt_mailer("<x@remote.test>", NULL, &res),
	    VERDICT_REJECT);
	ck_assert_str_eq(res.code, "554");
	ck_assert_str_eq(res.xcode, "5.7.1");
	ck_assert_str_eq(res.text, "Relay access denied");
	ck_assert_str_eq(str_field(line_of("rcpt", 0), "reply"),
	    "554 5.7.1 Relay access denied");
	ck_assert_str_eq(str_field(line_of("rcpt", 0), "reason"),
	    "not authenticated");
	ck_assert_str_eq(str_field(line_of("rcpt", 0), "verdict"), "reject");
	ck_assert_int_eq(rcpt_mailer("<x@example.org>", NULL, &res),
	    VERDICT_ACCEPT);
	ck_assert_ptr_null(str_field(line_of("rcpt", 1), "reply"));
	ck_assert_int_eq(rcpt_mailer("<x@remote.test>", "error", &res),
	    VERDICT_MTA_REJECTED);
	ck_assert_str_eq(str_field(line_of("rcpt", 2), "verdict"),
	    "mta_rejected");
	check_all_lines();
}
END_TEST

START_TEST(rcpt_trusted_v4_v6)
{
	connect4("10.9.8.7");
	helo("h");
	mail_auth("<a@remote.test>", NULL, NULL, NULL);
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_ACCEPT);
	ck_assert_str_eq(str_field(line_of("rcpt", 0), "reason"),
	    "client 10.9.8.7 in trusted_networks");
	session_free(s);
	s = session_new(cfg, log_);
	connect6("2001:db8::1");
	helo("h");
	mail_auth("<a@remote.test>", NULL, NULL, NULL);
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_ACCEPT);
	ck_assert_str_eq(str_field(line_of("connect", 1), "client_addr"),
	    "2001:db8::1");
	session_free(s);
	s = session_new(cfg, log_);
	connect6("2001:db9::1");
	helo("h");
	mail_auth("<a@remote.test>", NULL, NULL, NULL);
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_REJECT);
}
END_TEST

START_TEST(rcpt_unix_client_not_trusted)
{
	session_on_connect(s, "localhost", NULL, NULL);
	helo("h");
	mail_auth("<a@remote.test>", NULL, NULL, NULL);
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_REJECT);
	ck_assert_str_eq(str_field(line_of("connect", 0), "client_addr"),
	    "unknown");
}
END_TEST

START_TEST(monitor_would_reject)
{
	struct sg_rcpt_result res;

	teardown();
	setup_with("mode = monitor\ntrusted_networks =\n", LOG_LEVEL_COMMANDS);
	connect4("127.0.0.1");
	helo("h");
	mail_auth("<a@remote.test>", NULL, NULL, NULL);
	ck_assert_int_eq(rcpt_mailer("<x@remote.test>", NULL, &res),
	    VERDICT_WOULD_REJECT);
	ck_assert_str_eq(str_field(line_of("rcpt", 0), "verdict"),
	    "would_reject");
	session_on_close(s);
	ck_assert_int_eq(int_field(line_of("close", 0), "rejected"), 0);
}
END_TEST

START_TEST(reply_with_reason)
{
	struct sg_rcpt_result res;

	teardown();
	setup_with("relay_reply = 550 5.7.0 Authenticate first: %r\n"
	    "trusted_networks =\n", LOG_LEVEL_COMMANDS);
	connect4("127.0.0.1");
	helo("plain");
	mail_auth("<a@remote.test>", "alice", "PLAIN", NULL);
	helo_tls("tls");
	mail_auth("<a@remote.test>", NULL, NULL, NULL);
	ck_assert_int_eq(rcpt_mailer("<x@remote.test>", NULL, &res),
	    VERDICT_REJECT);
	ck_assert_str_eq(res.code, "550");
	ck_assert_str_eq(res.xcode, "5.7.0");
	ck_assert_ptr_nonnull(strstr(res.text,
	    "Authenticate first: not authenticated: auth discarded by STARTTLS"));
}
END_TEST

START_TEST(decisions_level)
{
	teardown();
	setup_with("local_domains = example.org\n", LOG_LEVEL_DECISIONS);
	connect4("192.0.2.1");
	helo("h");
	mail_auth("<a@example.org>", NULL, NULL, "<x@example.org>");
	rcpt("<x@remote.test>");
	session_on_abort(s);
	session_on_unknown(s, "FOO");
	session_on_close(s);
	ck_assert_int_eq(count_of("connect"), 1);
	ck_assert_int_eq(count_of("rcpt"), 1);
	ck_assert_int_eq(count_of("anomaly"), 2);
	ck_assert_int_eq(count_of("close"), 1);
	ck_assert_int_eq(count_of("helo"), 0);
	ck_assert_int_eq(count_of("mail"), 0);
	ck_assert_int_eq(count_of("abort"), 0);
	ck_assert_int_eq(count_of("unknown"), 0);
}
END_TEST

START_TEST(hostile_values_bounded)
{
	char	*big = malloc(100001);
	const char *p, *nl;

	memset(big, 'A', 100000);
	big[100000] = '\0';
	big[10] = '\xff';
	big[20] = '"';
	big[30] = '\n';
	connect4("192.0.2.1");
	session_on_helo(s, big, NULL);
	session_on_unknown(s, big);
	mail_auth(big, big, big, big);
	rcpt(big);
	session_on_close(s);
	free(big);
	check_all_lines();
	for (p = evlog_memory_text(log_); *p; p = nl + 1) {
		nl = strchr(p, '\n');
		/* 512 bytes a value, escaped, a handful of values a line */
		ck_assert_int_lt(nl - p, 8192);
	}
	ck_assert_ptr_nonnull(strstr(str_field(line_of("unknown", 0), "command"),
	    "\xe2\x80\xa6(+"));
}
END_TEST

START_TEST(abort_before_close_is_no_reset)
{
	connect4("192.0.2.1");
	helo("h");
	mail_auth("<a@example.org>", "alice", "PLAIN", NULL);
	session_on_abort(s);
	mail_auth("<a@example.org>", NULL, NULL, NULL);
	session_on_abort(s);		/* QUIT inside a transaction */
	session_on_close(s);
	ck_assert_int_eq(int_field(line_of("close", 0), "resets"), 1);
	ck_assert_int_eq(int_field(line_of("close", 0), "transactions"), 2);
	ck_assert_int_eq(count_of("abort"), 2);
}
END_TEST

START_TEST(auth_results_plan)
{
	struct sg_ar_plan plan;

	teardown();
	setup_with("auth_results = yes\nauthserv_id = mx.example.org\n",
	    LOG_LEVEL_COMMANDS);
	connect4("192.0.2.1");
	helo("h");
	mail_auth("<a@example.org>", "alice@example.org", "PLAIN", NULL);
	session_on_header(s, "Authentication-Results", "mx.example.org; auth=pass");
	session_on_header(s, "Received", "from x");
	session_on_header(s, "AUTHENTICATION-RESULTS", "other.example; spf=pass");
	session_on_header(s, "Authentication-Results",
	    " (c (nested)) MX.EXAMPLE.ORG;dkim=pass");
	session_on_header(s, "Authentication-Results", "mx.example.org.evil; x");
	session_ar_plan(s, &plan);
	ck_assert_uint_eq(plan.ndelete, 2);
	ck_assert_uint_eq(plan.delete[0], 3);	/* last first */
	ck_assert_uint_eq(plan.delete[1], 1);
	ck_assert(plan.add);
	ck_assert_str_eq(plan.value,
	    "mx.example.org; auth=pass smtp.auth=alice@example.org");
	session_on_eom(s, NULL);
	/* the next transaction starts afresh */
	mail_auth("<a@example.org>", "we\"ird user", "PLAIN", NULL);
	session_ar_plan(s, &plan);
	ck_assert_uint_eq(plan.ndelete, 0);
	ck_assert_str_eq(plan.value,
	    "mx.example.org; auth=pass smtp.auth=\"we\\\"ird user\"");
}
END_TEST

START_TEST(auth_results_off_or_unauthenticated)
{
	struct sg_ar_plan plan;

	connect4("192.0.2.1");
	helo("h");
	mail_auth("<a@example.org>", "alice", "PLAIN", NULL);
	session_on_header(s, "Authentication-Results", "x; auth=pass");
	session_ar_plan(s, &plan);	/* auth_results = no */
	ck_assert(!plan.add);
	ck_assert_uint_eq(plan.ndelete, 0);
	teardown();
	setup_with("auth_results = yes\nauthserv_id = mx\n", LOG_LEVEL_COMMANDS);
	connect4("192.0.2.1");
	helo("h");
	mail_auth("<a@example.org>", NULL, NULL, "alice");
	session_on_header(s, "Authentication-Results", "mx; auth=pass");
	session_ar_plan(s, &plan);
	ck_assert(!plan.add);
	ck_assert_uint_eq(plan.ndelete, 1);
}
END_TEST

START_TEST(metrics_counted)
{
	unsigned long long rej = metrics_value(M_RCPT_REJECT);
	unsigned long long acc = metrics_value(M_RCPT_ACCEPT);
	unsigned long long txn = metrics_value(M_TRANSACTIONS);
	unsigned long long par = metrics_anomaly_value(ANOMALY_CLIENT_AUTH_PARAM);
	struct strbuf sb;

	connect4("192.0.2.1");
	helo("h");
	mail_auth("<a@example.org>", NULL, NULL, "<x@example.org>");
	rcpt("<x@remote.test>");
	rcpt("<x@example.org>");
	ck_assert_uint_eq(metrics_value(M_RCPT_REJECT), rej + 1);
	ck_assert_uint_eq(metrics_value(M_RCPT_ACCEPT), acc + 1);
	ck_assert_uint_eq(metrics_value(M_TRANSACTIONS), txn + 1);
	ck_assert_uint_eq(metrics_anomaly_value(ANOMALY_CLIENT_AUTH_PARAM), par + 1);
	strbuf_init(&sb);
	metrics_render(&sb, 7, 3);
	ck_assert_ptr_nonnull(strstr(strbuf_str(&sb),
	    "# TYPE sessguard_recipients_total counter\n"));
	ck_assert_ptr_nonnull(strstr(strbuf_str(&sb),
	    "sessguard_log_lines_lost_total 7\n"));
	ck_assert_ptr_nonnull(strstr(strbuf_str(&sb),
	    "sessguard_config_generation 3\n"));
	ck_assert_ptr_nonnull(strstr(strbuf_str(&sb),
	    "sessguard_anomalies_total{kind=\"client_auth_param\"} "));
	strbuf_free(&sb);
}
END_TEST

/*
 * Issue 10 item 16: one name table, every kind counted under its own
 * name, and nothing counted for a value that is not a kind (the old
 * strcmp chain counted any unknown kind as client_auth_param).
 */
START_TEST(anomaly_kinds_table)
{
	unsigned long long before[ANOMALY_NKINDS];
	struct strbuf sb;
	unsigned k, j;
	char	want[128];

	for (k = 0; k < ANOMALY_NKINDS; k++) {
		ck_assert_ptr_nonnull(anomaly_name((enum sg_anomaly)k));
		for (j = 0; j < k; j++)
			ck_assert_str_ne(anomaly_name((enum sg_anomaly)k),
			    anomaly_name((enum sg_anomaly)j));
	}
	ck_assert_ptr_null(anomaly_name(ANOMALY_NKINDS));
	ck_assert_ptr_null(anomaly_name((enum sg_anomaly)-1));
	ck_assert_str_eq(anomaly_name(ANOMALY_AUTH_KEPT_ACROSS_TLS),
	    "auth_kept_across_tls");
	for (k = 0; k < ANOMALY_NKINDS; k++)
		before[k] = metrics_anomaly_value((enum sg_anomaly)k);
	metrics_anomaly(ANOMALY_NKINDS);
	metrics_anomaly((enum sg_anomaly)1000);
	for (k = 0; k < ANOMALY_NKINDS; k++)
		ck_assert_uint_eq(metrics_anomaly_value((enum sg_anomaly)k),
		    before[k]);
	for (k = 0; k < ANOMALY_NKINDS; k++) {
		metrics_anomaly((enum sg_anomaly)k);
		for (j = 0; j < ANOMALY_NKINDS; j++)
			ck_assert_uint_eq(metrics_anomaly_value((enum sg_anomaly)j),
			    before[j] + (j <= k));
	}
	strbuf_init(&sb);
	metrics_render(&sb, 0, 1);
	for (k = 0; k < ANOMALY_NKINDS; k++) {
		snprintf(want, sizeof(want),
		    "sessguard_anomalies_total{kind=\"%s\"} %llu\n",
		    anomaly_name((enum sg_anomaly)k), before[k] + 1);
		ck_assert_msg(strstr(strbuf_str(&sb), want), "no %s", want);
	}
	strbuf_free(&sb);
}
END_TEST

/* Each anomaly the session logs counts under the kind it logged. */
START_TEST(anomaly_logged_and_counted_alike)
{
	unsigned long long unk = metrics_anomaly_value(ANOMALY_UNKNOWN_COMMAND);
	unsigned long long par = metrics_anomaly_value(ANOMALY_CLIENT_AUTH_PARAM);

	connect4("192.0.2.1");
	session_on_unknown(s, "FOO");
	ck_assert_str_eq(str_field(line_of("anomaly", 0), "kind"),
	    "unknown_command");
	ck_assert_uint_eq(metrics_anomaly_value(ANOMALY_UNKNOWN_COMMAND), unk + 1);
	ck_assert_uint_eq(metrics_anomaly_value(ANOMALY_CLIENT_AUTH_PARAM), par);
}
END_TEST

static char keypath[64];

static void
write_key(mode_t mode)
{
	int	fd;

	snprintf(keypath, sizeof(keypath), "/tmp/sg-key.XXXXXX");
	fd = mkstemp(keypath);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "0123456789abcdef0123456789abcdef", 32), 32);
	close(fd);
	chmod(keypath, mode);
}

START_TEST(pseudonymized_log)
{
	char	text[512];
	const char *log;

	write_key(0600);
	teardown();
	snprintf(text, sizeof(text), "log_pseudonymize = yes\nlog_key_file = %s\n"
	    "local_domains = example.org\ntrusted_networks =\n", keypath);
	setup_with(text, LOG_LEVEL_COMMANDS);
	connect4("192.0.2.1");
	helo("h");
	mail_auth("<Alice@Example.ORG>", "alice", "PLAIN", NULL);
	mail_args("<bob@example.org>", "AUTH=<victim@example.org>");
	rcpt("<friend@remote.test>");
	session_on_close(s);
	log = evlog_memory_text(log_);
	ck_assert_ptr_null(strstr(log, "alice"));
	ck_assert_ptr_null(strstr(log, "Alice"));
	ck_assert_ptr_null(strstr(log, "bob@"));
	ck_assert_ptr_null(strstr(log, "victim"));
	ck_assert_ptr_null(strstr(log, "friend"));
	ck_assert_ptr_nonnull(strstr(str_field(line_of("mail", 0), "sender"), "pn:"));
	ck_assert_uint_eq(strlen(str_field(line_of("mail", 0), "sender")), 27);
	/* stable: the same value gives the same token */
	{
		char	a[64];

		snprintf(a, sizeof(a), "%s", auth_field(line_of("mail", 0), "user"));
		ck_assert_str_eq(auth_field(line_of("close", 0), "user"), a);
		ck_assert_ptr_nonnull(strstr(str_field(line_of("rcpt", 0), "reason"), a));
	}
	check_all_lines();
	unlink(keypath);
}
END_TEST

START_TEST(pseudonymized_local_part)
{
	char	text[512];

	write_key(0640);
	teardown();
	snprintf(text, sizeof(text), "log_pseudonymize = local-part\n"
	    "log_key_file = %s\n", keypath);
	setup_with(text, LOG_LEVEL_COMMANDS);
	connect4("192.0.2.1");
	helo("h");
	mail_auth("<alice@Example.ORG>", NULL, NULL, NULL);
	rcpt("<>");
	ck_assert_ptr_nonnull(strstr(str_field(line_of("mail", 0), "sender"),
	    "@example.org>"));
	ck_assert_ptr_null(strstr(str_field(line_of("mail", 0), "sender"), "alice"));
	ck_assert_str_eq(str_field(line_of("rcpt", 0), "rcpt"), "<>");
	unlink(keypath);
}
END_TEST

START_TEST(pseudonymize_key_errors)
{
	struct sg_config *c;
	char	text[512], err[512];

	c = config_load_string("t.conf", "log_pseudonymize = yes\n", err,
	    sizeof(err));
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, "t.conf:1: log_pseudonymize: needs log_key_file");
	write_key(0644);
	snprintf(text, sizeof(text), "log_key_file = %s\n", keypath);
	c = config_load_string("t.conf", text, err, sizeof(err));
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err, "readable or writable by others") != NULL, "%s", err);
	unlink(keypath);
}
END_TEST

START_TEST(session_ids_unique)
{
	struct sg_session *t = session_new(cfg, log_);

	ck_assert_str_ne(session_id(s), session_id(t));
	session_free(t);
}
END_TEST

int
main(void)
{
	Suite	*su = suite_create("session");
	TCase	*tc = tcase_create("rules");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, s1_authen_authenticates);
	tcase_add_test(tc, s1_auth_author_alone_never);
	tcase_add_test(tc, s1_auth_param_and_empty_authen_never);
	tcase_add_test(tc, s1_auth_param_empty_claim_is_no_anomaly);
	tcase_add_test(tc, s2_carried_across_abort_without_macros);
	tcase_add_test(tc, s2_survives_eom_and_helo);
	tcase_add_test(tc, s2_rcpt_macros_alone_do_not_mark_carried);
	tcase_add_test(tc, s3_tls_boundary_discards_auth);
	tcase_add_test(tc, s3_boundary_without_known_auth_names_starttls);
	tcase_add_test(tc, s3_tls_from_the_start_is_no_boundary);
	tcase_add_test(tc, s4_transactions);
	tcase_add_test(tc, s5_auth_changed);
	tcase_add_test(tc, s6_unknown_and_mail_without_helo);
	tcase_add_test(tc, rcpt_reject_reply_fields);
	tcase_add_test(tc, rcpt_trusted_v4_v6);
	tcase_add_test(tc, rcpt_unix_client_not_trusted);
	tcase_add_test(tc, monitor_would_reject);
	tcase_add_test(tc, reply_with_reason);
	tcase_add_test(tc, decisions_level);
	tcase_add_test(tc, hostile_values_bounded);
	tcase_add_test(tc, abort_before_close_is_no_reset);
	tcase_add_test(tc, auth_results_plan);
	tcase_add_test(tc, auth_results_off_or_unauthenticated);
	tcase_add_test(tc, metrics_counted);
	tcase_add_test(tc, anomaly_kinds_table);
	tcase_add_test(tc, s3_boundary_at_mail);
	tcase_add_test(tc, s3_boundary_at_rcpt);
	tcase_add_test(tc, s3_kept_login_at_helo_stays_discarded);
	tcase_add_test(tc, s3_kept_login_at_mail_without_ehlo);
	tcase_add_test(tc, s3_fresh_auth_after_ehlo_counts);
	tcase_add_test(tc, anomaly_logged_and_counted_alike);
	tcase_add_test(tc, pseudonymized_log);
	tcase_add_test(tc, pseudonymized_local_part);
	tcase_add_test(tc, pseudonymize_key_errors);
	tcase_add_test(tc, session_ids_unique);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
