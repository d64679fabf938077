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
#include "ratelimit.h"
#include "senderlogin.h"
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
	s = session_new(cfg, log_, &sg_front_milter);
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

/* Every line is valid JSON (several sessions in one log). */
static void
check_all_lines_any(void)
{
	const char *p = evlog_memory_text(log_), *nl;

	for (; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		ck_assert_ptr_nonnull(nl);
		ck_assert_msg(json_valid(p, (size_t)(nl - p)), "not JSON: %.*s",
		    (int)(nl - p), p);
	}
}

static void
connect4(const char *addr)
{
	session_on_connect(s, "client.example.net", addr, 40000, "smtpd");
}

static void
connect6(const char *addr)
{
	session_on_connect(s, "v6.example.net", addr, 40001, NULL);
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
	session_on_mail(s, sender, NULL, 0, &says, NULL);
}

static void
mail_args(const char *sender, const char *arg)
{
	const char *params[] = { arg };

	session_on_mail(s, sender, params, 1, NULL, NULL);
}

static enum sg_verdict
rcpt_mailer(const char *addr, const char *mailer, struct sg_rcpt_result *out)
{
	struct sg_rcpt_result res;
	session_on_rcpt(s, addr, NULL, 0, mailer && strcmp(mailer, "error") == 0,
	    NULL, out ? out : &res);
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
	connect4("192.0.2.10");
	helo("h");
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	session_on_rcpt(s, "<x@remote.test>", NULL, 0, 0, &am, &res);
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
	session_on_mail(s, sender, NULL, 0, &says, NULL);
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

	connect4("192.0.2.10");
	helo("plain");
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	session_on_rcpt(s, "<x@remote.test>", NULL, 0, 0, &tls, &res);
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
	session_on_close(s, NULL);
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
	s = session_new(cfg, log_, &sg_front_milter);
	connect6("2001:db8::1");
	helo("h");
	mail_auth("<a@remote.test>", NULL, NULL, NULL);
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_ACCEPT);
	ck_assert_str_eq(str_field(line_of("connect", 1), "client_addr"),
	    "2001:db8::1");
	session_free(s);
	s = session_new(cfg, log_, &sg_front_milter);
	connect6("2001:db9::1");
	helo("h");
	mail_auth("<a@remote.test>", NULL, NULL, NULL);
	ck_assert_int_eq(rcpt("<x@remote.test>"), VERDICT_REJECT);
}
END_TEST

START_TEST(rcpt_unix_client_not_trusted)
{
	session_on_connect(s, "localhost", NULL, 0, NULL);
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
	session_on_close(s, NULL);
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
	session_on_close(s, NULL);
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
	session_on_close(s, NULL);
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
	{
		/* the front end knows the abort ended the connection */
		struct sg_close how = { 1, NULL };

		session_on_close(s, &how);
	}
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

/*
 * Issue 11: one core, two vocabularies. The same SMTP sessions, told the
 * way the milter tells them (every stage; SASL at MAIL, not repeated
 * after RSET; TLS at HELO) and the way the policy protocol does (RCPT
 * only; every request carries SASL and TLS state), reach the same
 * verdicts and the same reasons.
 */
#define FRONTS_REPLY "relay_reply = 554 5.7.1 Relay access denied: %r\n" \
	"local_domains = example.org\ntrusted_networks = 10.0.0.0/8\n"

struct step {
	char	 kind;		/* h helo, m mail, r rcpt, a abort */
	const char *arg;	/* helo name, sender, recipient */
	const char *login;	/* what the MTA's milter macros say here */
	int	 tls;		/* the session is in TLS now */
	const char *policy_login; /* what every policy request says here */
};

static const struct sg_mta_says *
says_of(struct sg_mta_says *m, const char *login, int tls)
{
	memset(m, 0, sizeof(*m));
	if (tls) {
		m->tls.version = "TLSv1.3";
		m->tls.cipher = "TLS_AES_256_GCM_SHA384";
		m->tls.bits = "256";
	}
	m->login = login;
	m->mech = login ? "PLAIN" : NULL;
	return m;
}

/* Runs steps through front f; the verdicts and reply texts of each RCPT. */
static size_t
run_front(const struct sg_front *f, const char *client,
    const struct step *st, size_t n, enum sg_verdict *v, char (*text)[256])
{
	struct sg_session *x = session_new(cfg, log_, f);
	struct sg_mta_says says;
	struct sg_rcpt_result res;
	size_t	i, nr = 0;
	int	policy = f == &sg_front_policy;

	ck_assert_ptr_nonnull(x);
	session_on_connect(x, "c.example.net", client, 40000, NULL);
	for (i = 0; i < n; i++) {
		const char *login = policy ? st[i].policy_login : st[i].login;

		switch (st[i].kind) {
		case 'h':
			if (!policy)
				session_on_helo(x, st[i].arg,
				    says_of(&says, login, st[i].tls));
			break;
		case 'm':
			if (!policy)
				session_on_mail(x, st[i].arg, NULL, 0,
				    says_of(&says, login, st[i].tls), NULL);
			break;
		case 'a':
			if (!policy)
				session_on_abort(x);
			break;
		case 'r':
			session_on_rcpt(x, st[i].arg, NULL, 0, 0,
			    says_of(&says, policy ? login : NULL, st[i].tls),
			    &res);
			v[nr] = res.verdict;
			snprintf(text[nr], sizeof(text[nr]), "%.255s", res.text);
			nr++;
			break;
		}
	}
	session_on_close(x, NULL);
	session_free(x);
	return nr;
}

static char *
no_digits(char *text)
{
	char	*p, *q;

	for (p = q = text; *p; p++)
		if (*p < '0' || *p > '9')
			*q++ = *p;
	*q = '\0';
	return text;
}

static void
same_verdicts(const char *client, const struct step *st, size_t n,
    const enum sg_verdict *want, const char *const *phrase)
{
	enum sg_verdict vm[8], vp[8];
	char	tm[8][256], tp[8][256];
	size_t	nm, np, i;

	nm = run_front(&sg_front_milter, client, st, n, vm, tm);
	np = run_front(&sg_front_policy, client, st, n, vp, tp);
	ck_assert_uint_eq(nm, np);
	for (i = 0; i < nm; i++) {
		ck_assert_msg(vm[i] == want[i] && vp[i] == want[i],
		    "rcpt %zu: milter %s, policy %s, want %s", i,
		    verdict_name(vm[i]), verdict_name(vp[i]),
		    verdict_name(want[i]));
		/* the same reason, but for the event numbers (seq) */
		ck_assert_str_eq(no_digits(tm[i]), no_digits(tp[i]));
		if (phrase[i])
			ck_assert_msg(strstr(tm[i], phrase[i]), "rcpt %zu: %s",
			    i, tm[i]);
	}
}

START_TEST(fronts_same_verdicts)
{
	/* Nokia E61i: AUTH, RSET, the MTA stops reporting the login at MAIL */
	static const struct step nokia[] = {
		{ 'h', "phone", NULL, 0, NULL },
		{ 'm', "<alice@example.org>", "alice", 0, "alice" },
		{ 'r', "<x@remote.test>", NULL, 0, "alice" },
		{ 'a', NULL, NULL, 0, NULL },
		{ 'm', "<alice@example.org>", NULL, 0, "alice" },
		{ 'r', "<y@remote.test>", NULL, 0, "alice" },
		{ 'r', "<bob@example.org>", NULL, 0, "alice" },
	};
	static const enum sg_verdict nokia_v[] = {
		VERDICT_ACCEPT, VERDICT_ACCEPT, VERDICT_ACCEPT };
	static const char *const nokia_p[] = { NULL, NULL, NULL };
	/* no AUTH: relay refused, local accepted */
	static const struct step unauth[] = {
		{ 'h', "h", NULL, 0, NULL },
		{ 'm', "<a@example.org>", NULL, 0, NULL },
		{ 'r', "<x@remote.test>", NULL, 0, NULL },
		{ 'r', "<bob@example.org>", NULL, 0, NULL },
	};
	static const enum sg_verdict unauth_v[] = {
		VERDICT_REJECT, VERDICT_ACCEPT };
	static const char *const unauth_p[] = { "not authenticated", NULL };
	/* AUTH, RSET, STARTTLS, EHLO, MAIL: the login is gone */
	static const struct step tls[] = {
		{ 'h', "plain", NULL, 0, NULL },
		{ 'm', "<alice@example.org>", "alice", 0, "alice" },
		{ 'r', "<x@remote.test>", NULL, 0, "alice" },
		{ 'a', NULL, NULL, 0, NULL },
		{ 'h', "tls", NULL, 1, NULL },
		{ 'm', "<alice@example.org>", NULL, 1, NULL },
		{ 'r', "<x@remote.test>", NULL, 1, NULL },
		{ 'r', "<bob@example.org>", NULL, 1, NULL },
	};
	static const enum sg_verdict tls_v[] = {
		VERDICT_ACCEPT, VERDICT_REJECT, VERDICT_ACCEPT };
	static const char *const tls_p[] = { NULL,
		"not authenticated: auth discarded by STARTTLS at seq", NULL };

	teardown();
	setup_with(FRONTS_REPLY, LOG_LEVEL_COMMANDS);
	same_verdicts("192.0.2.10", nokia, 7, nokia_v, nokia_p);
	same_verdicts("192.0.2.10", unauth, 4, unauth_v, unauth_p);
	same_verdicts("192.0.2.10", tls, 8, tls_v, tls_p);
	/* a trusted client relays without AUTH */
	same_verdicts("10.1.2.3", unauth, 4, (const enum sg_verdict[]){
	    VERDICT_ACCEPT, VERDICT_ACCEPT }, (const char *const[]){ NULL, NULL });
	check_all_lines_any();
}
END_TEST

/* An anomaly about an event the front end cannot see is never raised. */
START_TEST(fronts_policy_no_mail_without_helo)
{
	struct sg_session *x = session_new(cfg, log_, &sg_front_policy);
	struct sg_rcpt_result res;

	session_on_connect(x, "c.example.net", "192.0.2.10", 40000, NULL);
	session_on_mail(x, "<a@example.org>", NULL, 0, NULL, NULL);
	session_on_rcpt(x, "<x@remote.test>", NULL, 0, 0, NULL, &res);
	ck_assert_int_eq(res.verdict, VERDICT_REJECT);
	session_on_close(x, NULL);
	session_free(x);
	ck_assert_int_eq(count_of("anomaly"), 0);
	ck_assert_str_eq(str_field(line_of("connect", 0), "via"), "policy");
	/* the milter sees HELO: there it is raised */
	connect4("192.0.2.10");
	mail_auth("<a@example.org>", NULL, NULL, NULL);
	ck_assert_str_eq(str_field(line_of("anomaly", 0), "kind"),
	    "mail_without_helo");
	ck_assert_str_eq(str_field(line_of("connect", 1), "via"), "milter");
}
END_TEST

/* Sessions and live sessions are counted by the core, once each. */
START_TEST(fronts_session_metrics)
{
	unsigned long long n = metrics_value(M_SESSIONS);
	long long live = metrics_live_sessions();
	struct sg_session *x = session_new(cfg, log_, &sg_front_policy);

	ck_assert_uint_eq(metrics_value(M_SESSIONS), n + 1);
	ck_assert_int_eq(metrics_live_sessions(), live + 1);
	session_free(x);
	ck_assert_int_eq(metrics_live_sessions(), live);
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
	session_on_close(s, NULL);
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

/* SPEC section 8: sender/login binding at MAIL, rate limits at RCPT. */

/* A member of the limit object of a line, as text ("" when absent). */
static const char *
limit_field(const char *line, const char *key)
{
	static char obj[4096], out[1024];
	const char *val;
	size_t	vlen;
	long long n;

	ck_assert_ptr_nonnull(line);
	if (json_get_raw(line, "limit", &val, &vlen) != 0)
		return "";
	ck_assert_uint_lt(vlen, sizeof(obj));
	memcpy(obj, val, vlen);
	obj[vlen] = '\0';
	if (json_get_string(obj, key, out, sizeof(out)) == 0)
		return out;
	ck_assert_int_eq(json_get_int(obj, key, &n), 0);
	snprintf(out, sizeof(out), "%lld", n);
	return out;
}

static enum sg_verdict
mail_as(const char *sender, const char *user, struct sg_rcpt_result *res)
{
	struct sg_mta_says says = { { NULL, NULL, NULL }, user, "PLAIN", NULL };

	session_on_mail(s, sender, NULL, 0, user ? &says : NULL, res);
	return res->verdict;
}

static void
setup_sender(const char *mode, const char *extra)
{
	char	text[1024], err[256];

	teardown();
	snprintf(text, sizeof(text), "local_domains = example.org\n"
	    "trusted_networks =\n%s", extra ? extra : "");
	setup_with(text, LOG_LEVEL_COMMANDS);
	/* the map as config.c would load it from sender_login_maps */
	cfg->sender_login_map = senderlogin_map_text("t.map",
	    "alice@example.org alice\nshared@example.org alice, bob\n"
	    "@example.net carol\n", err, sizeof(err));
	ck_assert_msg(cfg->sender_login_map != NULL, "map: %s", err);
	ck_assert_int_eq(session_may_refuse_at_mail(cfg), 0);
	cfg->sender_login_check = strcmp(mode, "strict") == 0 ?
	    SENDERLOGIN_STRICT : strcmp(mode, "known") == 0 ?
	    SENDERLOGIN_KNOWN : SENDERLOGIN_AUTHENTICATED;
	ck_assert_int_eq(session_may_refuse_at_mail(cfg), 1);
	connect4("192.0.2.10");
	helo("phone");
}

START_TEST(sender_check_at_mail)
{
	struct sg_rcpt_result res;
	unsigned long long rej = metrics_value(M_SENDER_REJECT);
	unsigned long long acc = metrics_value(M_SENDER_ACCEPT);
	const char *l;

	setup_sender("authenticated", NULL);
	/* no login (yet): anything goes in this mode */
	ck_assert_int_eq(mail_as("<alice@example.org>", NULL, &res), VERDICT_ACCEPT);
	ck_assert_int_eq(mail_as("<Alice+x@Example.org>", "alice", &res),
	    VERDICT_ACCEPT);
	l = line_of("mail", 1);
	ck_assert_str_eq(str_field(l, "verdict"), "accept");
	ck_assert_ptr_nonnull(strstr(str_field(l, "reason"), "owned by login alice"));
	ck_assert_ptr_null(str_field(l, "reply"));

	ck_assert_int_eq(mail_as("<alice@example.org>", "bob", &res),
	    VERDICT_REJECT);
	ck_assert_str_eq(res.code, "553");
	ck_assert_str_eq(res.xcode, "5.7.1");
	ck_assert_str_eq(res.text, "Sender address rejected: not owned by user bob");
	l = line_of("mail", 2);
	ck_assert_str_eq(str_field(l, "verdict"), "reject");
	ck_assert_str_eq(str_field(l, "reply"),
	    "553 5.7.1 Sender address rejected: not owned by user bob");
	ck_assert_ptr_nonnull(strstr(str_field(l, "reason"),
	    "not owned by login bob"));
	/* several owners; a catch-all; unlisted; <> exempt; no login free */
	ck_assert_int_eq(mail_as("<shared@example.org>", "bob", &res), VERDICT_ACCEPT);
	ck_assert_int_eq(mail_as("<x@example.net>", "carol", &res), VERDICT_ACCEPT);
	ck_assert_int_eq(mail_as("<x@remote.test>", "carol", &res), VERDICT_REJECT);
	ck_assert_int_eq(mail_as("<>", "carol", &res), VERDICT_ACCEPT);
	ck_assert_uint_eq(metrics_value(M_SENDER_REJECT), rej + 2);
	ck_assert_uint_eq(metrics_value(M_SENDER_ACCEPT), acc + 5);
	/* a refused MAIL still starts a transaction number */
	ck_assert_int_eq(int_field(line_of("mail", 6), "txn"), 7);
	check_all_lines();
}
END_TEST

START_TEST(sender_check_modes)
{
	struct sg_rcpt_result res;

	setup_sender("known", NULL);
	ck_assert_int_eq(mail_as("<alice@example.org>", NULL, &res), VERDICT_REJECT);
	ck_assert_str_eq(res.text, "Sender address rejected: not owned by user "
	    "(not logged in)");
	ck_assert_int_eq(mail_as("<free@remote.test>", NULL, &res), VERDICT_ACCEPT);
	ck_assert_int_eq(mail_as("<free@remote.test>", "alice", &res), VERDICT_ACCEPT);
	ck_assert_int_eq(mail_as("<alice@example.org>", "bob", &res), VERDICT_REJECT);
	setup_sender("strict", NULL);
	ck_assert_int_eq(mail_as("<alice@example.org>", NULL, &res), VERDICT_REJECT);
	ck_assert_int_eq(mail_as("<free@remote.test>", NULL, &res), VERDICT_ACCEPT);
	ck_assert_int_eq(mail_as("<free@remote.test>", "alice", &res), VERDICT_REJECT);
	ck_assert_int_eq(mail_as("<alice@example.org>", "alice", &res), VERDICT_ACCEPT);
	/* mode monitor: would_reject, and MAIL is answered with accept */
	setup_sender("strict", "mode = monitor\n");
	ck_assert_int_eq(mail_as("<alice@example.org>", "bob", &res),
	    VERDICT_WOULD_REJECT);
	ck_assert_str_eq(str_field(line_of("mail", 0), "verdict"), "would_reject");
	/* off: no verdict on the mail line at all */
	cfg->sender_login_check = SENDERLOGIN_OFF;
	ck_assert_int_eq(mail_as("<alice@example.org>", "bob", &res), VERDICT_ACCEPT);
	ck_assert_ptr_null(str_field(line_of("mail", 1), "verdict"));
	ck_assert_ptr_null(str_field(line_of("mail", 1), "reason"));
	check_all_lines();
}
END_TEST

START_TEST(sender_check_pseudonymized)
{
	struct sg_rcpt_result res;
	char	extra[256];
	const char *log;

	write_key(0600);
	snprintf(extra, sizeof(extra), "log_pseudonymize = yes\n"
	    "log_key_file = %s\n", keypath);
	setup_sender("authenticated", extra);
	ck_assert_int_eq(mail_as("<alice@example.org>", "bob", &res),
	    VERDICT_REJECT);
	/* the client hears the clear reply; the log never holds the names */
	ck_assert_str_eq(res.text, "Sender address rejected: not owned by user bob");
	log = evlog_memory_text(log_);
	ck_assert_ptr_null(strstr(log, "alice"));
	ck_assert_ptr_null(strstr(log, "bob"));
	ck_assert_ptr_nonnull(strstr(str_field(line_of("mail", 0), "reply"), "pn:"));
	ck_assert_ptr_nonnull(strstr(str_field(line_of("mail", 0), "reason"), "pn:"));
	unlink(keypath);
}
END_TEST

static struct ratelimit *rl;

static void
setup_limits(const char *extra)
{
	char	text[1024], err[256];

	teardown();
	snprintf(text, sizeof(text), "local_domains = example.org\n"
	    "trusted_networks = 10.0.0.0/8\nlimit_store = memory\n%s", extra);
	setup_with(text, LOG_LEVEL_COMMANDS);
	rl = ratelimit_create(cfg, err, sizeof(err));
	ck_assert_msg(rl != NULL, "ratelimit_create: %s", err);
	session_set_ratelimit(s, rl);
	connect4("192.0.2.10");
	helo("phone");
}

static void
teardown_limits(void)
{
	ratelimit_free(rl);
	rl = NULL;
}

START_TEST(limits_tempfail)
{
	struct sg_rcpt_result res;
	unsigned long long over, exc;
	const char *l;

	setup_limits("limit_login_recipients = 2/1h\n");
	over = metrics_limit_value("limit_login_recipients", LIMIT_OUT_TEMPFAIL);
	exc = metrics_anomaly_value(ANOMALY_LIMIT_EXCEEDED);
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	ck_assert_int_eq(rcpt("<a@remote.test>"), VERDICT_ACCEPT);
	ck_assert_int_eq(rcpt("<l@example.org>"), VERDICT_ACCEPT);
	ck_assert_int_eq(rcpt("<b@remote.test>"), VERDICT_ACCEPT);
	ck_assert_int_eq(rcpt_mailer("<c@remote.test>", NULL, &res),
	    VERDICT_TEMPFAIL);
	ck_assert_str_eq(res.code, "450");
	ck_assert_str_eq(res.xcode, "4.7.1");
	ck_assert_str_eq(res.text, "Rate limit exceeded: login:alice over "
	    "limit_login_recipients (2 of 2 per 3600 s)");
	ck_assert_int_eq(rcpt("<d@remote.test>"), VERDICT_TEMPFAIL);
	l = line_of("rcpt", 0);
	ck_assert_str_eq(limit_field(l, "name"), "limit_login_recipients");
	ck_assert_str_eq(limit_field(l, "key"), "login:alice");
	ck_assert_str_eq(limit_field(l, "count"), "1");
	ck_assert_str_eq(limit_field(l, "max"), "2");
	ck_assert_str_eq(limit_field(l, "period_s"), "3600");
	ck_assert_str_eq(limit_field(line_of("rcpt", 1), "name"), "");
	ck_assert_str_eq(limit_field(line_of("rcpt", 3), "count"), "2");
	ck_assert_str_eq(str_field(line_of("rcpt", 3), "verdict"), "tempfail");
	ck_assert_ptr_nonnull(strstr(str_field(line_of("rcpt", 3), "reason"),
	    "limit_action tempfail"));
	/* limit_exceeded once, at the first refusal */
	ck_assert_int_eq(count_of("anomaly"), 1);
	ck_assert_str_eq(str_field(line_of("anomaly", 0), "kind"), "limit_exceeded");
	ck_assert_uint_eq(metrics_anomaly_value(ANOMALY_LIMIT_EXCEEDED), exc + 1);
	ck_assert_uint_eq(metrics_limit_value("limit_login_recipients",
	    LIMIT_OUT_TEMPFAIL), over + 2);
	ck_assert(!session_hold(s, NULL, 0));
	ck_assert_str_eq(limit_field(line_of("rcpt", 4), "name"),
	    "limit_login_recipients");
	check_all_lines();
	teardown_limits();
}
END_TEST

START_TEST(limits_monitor_mode_and_action)
{
	struct sg_rcpt_result res;

	/* mode monitor never refuses: would_reject, with the reply it would give */
	setup_limits("limit_login_recipients = 1/1h\nmode = monitor\n");
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	ck_assert_int_eq(rcpt("<a@remote.test>"), VERDICT_ACCEPT);
	ck_assert_int_eq(rcpt_mailer("<b@remote.test>", NULL, &res),
	    VERDICT_WOULD_REJECT);
	ck_assert_str_eq(res.code, "450");
	teardown_limits();

	setup_limits("limit_login_recipients = 1/1h\nlimit_action = monitor\n");
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	ck_assert_int_eq(rcpt("<a@remote.test>"), VERDICT_ACCEPT);
	ck_assert_int_eq(rcpt_mailer("<b@remote.test>", NULL, &res),
	    VERDICT_ACCEPT);
	ck_assert_str_eq(res.code, "");
	ck_assert_int_eq(res.hold, 0);
	ck_assert_ptr_nonnull(strstr(str_field(line_of("rcpt", 1), "reason"),
	    "limit_action monitor"));
	ck_assert_str_eq(str_field(line_of("anomaly", 0), "kind"), "limit_exceeded");
	check_all_lines();
	teardown_limits();
}
END_TEST

START_TEST(limits_hold)
{
	struct sg_rcpt_result res;
	char	why[256];

	setup_limits("limit_login_recipients = 1/1h\nlimit_action = hold\n");
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	ck_assert_int_eq(rcpt_mailer("<a@remote.test>", NULL, &res), VERDICT_ACCEPT);
	ck_assert_int_eq(res.hold, 0);
	ck_assert(!session_hold(s, why, sizeof(why)));
	ck_assert_int_eq(rcpt_mailer("<b@remote.test>", NULL, &res), VERDICT_ACCEPT);
	ck_assert_int_eq(res.hold, 1);
	ck_assert(session_hold(s, why, sizeof(why)));
	ck_assert_str_eq(why, "login:alice over limit_login_recipients "
	    "(1 of 1 per 3600 s)");
	session_on_data(s);
	session_on_eom(s, "Q1");
	ck_assert_str_eq(str_field(line_of("eom", 0), "verdict"), "hold");
	ck_assert_str_eq(str_field(line_of("eom", 0), "reason"), why);
	/* the next transaction starts unheld */
	ck_assert(!session_hold(s, NULL, 0));
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	ck_assert(!session_hold(s, NULL, 0));
	check_all_lines();
	teardown_limits();
}
END_TEST

START_TEST(limits_not_for_local_refused_or_without_engine)
{
	setup_limits("limit_login_recipients = 1/1h\nlimit_exempt = boss\n");
	mail_auth("<x@example.org>", NULL, NULL, NULL);
	ck_assert_int_eq(rcpt("<a@remote.test>"), VERDICT_REJECT);
	ck_assert_int_eq(rcpt("<l@example.org>"), VERDICT_ACCEPT);
	ck_assert_str_eq(limit_field(line_of("rcpt", 0), "name"), "");
	ck_assert_str_eq(limit_field(line_of("rcpt", 1), "name"), "");
	mail_auth("<boss@example.org>", "boss", "PLAIN", NULL);
	ck_assert_int_eq(rcpt("<a@remote.test>"), VERDICT_ACCEPT);
	ck_assert_int_eq(rcpt("<b@remote.test>"), VERDICT_ACCEPT);
	ck_assert_ptr_nonnull(strstr(str_field(line_of("rcpt", 3), "reason"),
	    "exempt from rate limits"));
	ck_assert_str_eq(limit_field(line_of("rcpt", 3), "name"), "");
	/* no engine: no limits, whatever the configuration says */
	session_set_ratelimit(s, NULL);
	mail_auth("<alice@example.org>", "alice", "PLAIN", NULL);
	ck_assert_int_eq(rcpt("<a@remote.test>"), VERDICT_ACCEPT);
	ck_assert_int_eq(rcpt("<b@remote.test>"), VERDICT_ACCEPT);
	ck_assert_str_eq(limit_field(line_of("rcpt", 5), "name"), "");
	check_all_lines();
	teardown_limits();
}
END_TEST

START_TEST(limits_pseudonymized_key)
{
	char	extra[256];

	write_key(0600);
	snprintf(extra, sizeof(extra), "log_pseudonymize = yes\n"
	    "log_key_file = %s\nlimit_login_recipients = 1/1h\n", keypath);
	setup_limits(extra);
	mail_auth("<x@example.org>", "alice", "PLAIN", NULL);
	rcpt("<a@remote.test>");
	rcpt("<b@remote.test>");
	ck_assert_ptr_null(strstr(evlog_memory_text(log_), "alice"));
	ck_assert_ptr_nonnull(strstr(limit_field(line_of("rcpt", 0), "key"),
	    "login:pn:"));
	unlink(keypath);
	teardown_limits();
}
END_TEST

START_TEST(limit_metrics_rendered)
{
	struct strbuf sb;

	metrics_limit("limit_login_clients", LIMIT_OUT_HOLD);
	metrics_limit(NULL, LIMIT_OUT_UNAVAILABLE);
	metrics_limit_store(0);
	strbuf_init(&sb);
	metrics_render(&sb, 0, 1);
	ck_assert_ptr_nonnull(strstr(strbuf_str(&sb), "sessguard_limit_decisions_total{"
	    "limit=\"limit_login_clients\",outcome=\"hold\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(strbuf_str(&sb), "sessguard_limit_decisions_total{"
	    "limit=\"none\",outcome=\"unavailable\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(strbuf_str(&sb), "sessguard_limit_store_up 0\n"));
	ck_assert_ptr_nonnull(strstr(strbuf_str(&sb), "sessguard_sender_checks_total{"
	    "verdict=\"reject\"}"));
	ck_assert_ptr_nonnull(strstr(strbuf_str(&sb), "sessguard_anomalies_total{"
	    "kind=\"limit_store_down\"}"));
	metrics_limit_store(1);
	strbuf_free(&sb);
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
	struct sg_session *t = session_new(cfg, log_, &sg_front_milter);

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
	tcase_add_test(tc, fronts_same_verdicts);
	tcase_add_test(tc, fronts_policy_no_mail_without_helo);
	tcase_add_test(tc, fronts_session_metrics);
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
	tcase_add_test(tc, sender_check_at_mail);
	tcase_add_test(tc, sender_check_modes);
	tcase_add_test(tc, sender_check_pseudonymized);
	tcase_add_test(tc, limits_tempfail);
	tcase_add_test(tc, limits_monitor_mode_and_action);
	tcase_add_test(tc, limits_hold);
	tcase_add_test(tc, limits_not_for_local_refused_or_without_engine);
	tcase_add_test(tc, limits_pseudonymized_key);
	tcase_add_test(tc, limit_metrics_rendered);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
