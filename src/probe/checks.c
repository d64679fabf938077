/*
 * NAME
 *	checks - the session checks of sessguard-probe
 * SYNOPSIS
 *	#include "probe/checks.h"
 *
 *	const struct check checks_table[]
 *	int probe_discover(probe, err, errsize)
 *	const char *check_result_name(result)
 * DESCRIPTION
 *	Each entry of checks_table (ended by a null name) is one check of
 *	SPEC section 9: its name and a function that runs it on a fresh
 *	connection (conn, prepared by the caller with smtp_init()) and fills
 *	in the outcome: PASS, FAIL or SKIP and a one-line detail. The caller
 *	sends QUIT if the connection is still open and prints the outcome,
 *	with the transcript of conn for a FAIL.
 *
 *	No check delivers mail: every MAIL that the server accepts is
 *	followed by RSET, and DATA is never sent.
 *
 *	The relay checks need a recipient the server does not take for
 *	itself (probe->rcpt). Where a check wants a relay after AUTH to be
 *	accepted (auth_survives_*), a refusal is a FAIL only when the same
 *	relay is accepted on a fresh connection right after AUTH (the
 *	control, tried once); otherwise the check is SKIPped, since the
 *	server refuses that recipient or sender anyway.
 *
 *	Where the server wants a login before MAIL (submission ports), the
 *	sequence check logs in first when it has a user name.
 *
 *	probe_discover() opens one session the way the checks will (TLS as
 *	probe->tls says), notes whether the plain-text EHLO offers STARTTLS
 *	and which SASL mechanism to use, and with a user name tries the
 *	login once.
 *
 *	check_result_name() returns "PASS", "FAIL" or "SKIP".
 * DIAGNOSTICS
 *	probe_discover() returns -1 with a message in err when the server
 *	cannot be used at all (no connection, no greeting, EHLO or STARTTLS
 *	refused, TLS handshake failed), else 0; a refused login sets
 *	probe->login_refused and the AUTH checks are then SKIPped. A
 *	connection lost in the middle of a check is a FAIL where the check
 *	is about the session going on (sequence, unknown_command, long_line,
 *	the second half of auth_*), otherwise a SKIP; a check never waits
 *	longer than the I/O timeouts of smtpio.c.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "probe/checks.h"
#include "probe/sasl.h"

#define LOST(c)		((c) < 0)

#define OPEN_TLS	1	/* STARTTLS when probe->tls says so */
#define OPEN_NO_EHLO	2	/* stop after the greeting */

#define LONG_LINE	1000	/* bytes, CRLF included */
#define TRANSACTIONS	3

/* A function, not a macro: its argument is often a command. */
static int
is_2xx(int code)
{
	return code >= 200 && code < 300;
}

const char *
check_result_name(enum check_result r)
{
	return r == CHECK_PASS ? "PASS" : r == CHECK_FAIL ? "FAIL" : "SKIP";
}

static void
outcome(struct check_outcome *o, enum check_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
outcome(struct check_outcome *o, enum check_result r, const char *fmt, ...)
{
	va_list	ap;

	o->result = r;
	va_start(ap, fmt);
	vsnprintf(o->detail, sizeof(o->detail), fmt, ap);
	va_end(ap);
}

/* The first line of a reply, for a detail; static, one at a time. */
static const char *
said(const struct smtp_reply *r)
{
	static char buf[200];

	return smtp_reply_first(r, buf, sizeof(buf));
}

/* EHLO argument: our own address as a literal, which every server takes. */
static void
probe_helo_name(const struct smtp_conn *c, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char	addr[INET6_ADDRSTRLEN];

	snprintf(buf, size, "[127.0.0.1]");
	if (getsockname(c->fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET
	    && inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
	    addr, sizeof(addr)))
		snprintf(buf, size, "[%s]", addr);
	else if (ss.ss_family == AF_INET6
	    && inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
	    addr, sizeof(addr)))
		snprintf(buf, size, "[IPv6:%s]", addr);
}

/* Does an EHLO reply list this keyword? */
static int
ehlo_has(const struct smtp_reply *r, const char *keyword)
{
	const char *p = r->text.data ? r->text.data : "";
	size_t	len, klen = strlen(keyword);

	for (; *p; p += len + (p[len] == '\n')) {
		len = strcspn(p, "\n");
		if (len >= 4 + klen && strncasecmp(p + 4, keyword, klen) == 0
		    && (len == 4 + klen || p[4 + klen] == ' '))
			return 1;
	}
	return 0;
}

static int
probe_ehlo(struct smtp_conn *c, struct smtp_reply *r)
{
	char	name[INET6_ADDRSTRLEN + 8];

	probe_helo_name(c, name, sizeof(name));
	return smtp_cmd(c, r, "EHLO %s", name);
}

/* STARTTLS (already sent or not) through the handshake. */
static int
probe_tls_after(struct probe *p, struct smtp_conn *c, struct smtp_reply *r,
    struct check_outcome *o)
{
	if (smtp_read(c, r) != 220) {
		outcome(o, CHECK_SKIP, "STARTTLS: %s", said(r));
		return -1;
	}
	if (smtp_pending(c)) {
		smtp_note(c, "plain text after the 220 discarded");
		smtp_discard(c);
	}
	if (smtp_tls(c, p->ssl_ctx, p->host) < 0) {
		outcome(o, CHECK_SKIP, "%s", c->error);
		return -1;
	}
	return 0;
}

/*
 * Connect, greeting, EHLO, and with OPEN_TLS under --starttls STARTTLS
 * and EHLO again. r holds the last EHLO reply. On failure the outcome is
 * a SKIP that says why.
 */
static int
probe_open(struct probe *p, struct smtp_conn *c, struct smtp_reply *r,
    int flags, struct check_outcome *o)
{
	if (smtp_connect(c, p->host, p->port) < 0) {
		outcome(o, CHECK_SKIP, "cannot connect: %s", c->error);
		return -1;
	}
	if (p->tls == PROBE_TLS_IMPLICIT && smtp_tls(c, p->ssl_ctx, p->host) < 0) {
		outcome(o, CHECK_SKIP, "%s", c->error);
		return -1;
	}
	if (!is_2xx(smtp_read(c, r))) {
		outcome(o, CHECK_SKIP, "greeting: %s", said(r));
		return -1;
	}
	if (flags & OPEN_NO_EHLO)
		return 0;
	if (!is_2xx(probe_ehlo(c, r))) {
		outcome(o, CHECK_SKIP, "EHLO: %s", said(r));
		return -1;
	}
	if (!(flags & OPEN_TLS) || p->tls != PROBE_TLS_STARTTLS)
		return 0;
	if (smtp_send(c, "STARTTLS") < 0) {
		outcome(o, CHECK_SKIP, "STARTTLS: %s", c->error);
		return -1;
	}
	if (probe_tls_after(p, c, r, o) < 0)
		return -1;
	if (!is_2xx(probe_ehlo(c, r))) {
		outcome(o, CHECK_SKIP, "EHLO after STARTTLS: %s", said(r));
		return -1;
	}
	return 0;
}

/* MAIL FROM:<sender> params, RCPT TO:<rcpt>, RSET. */
struct relay {
	int	mail;
	int	rcpt;			/* 0: not tried */
	char	why[300];		/* what the server said */
};

static void
probe_relay(struct probe *p, struct smtp_conn *c, struct smtp_reply *r,
    const char *params, struct relay *rel)
{
	rel->rcpt = 0;
	rel->mail = smtp_cmd(c, r, "MAIL FROM:<%s>%s", p->sender, params);
	if (!is_2xx(rel->mail)) {
		snprintf(rel->why, sizeof(rel->why), "MAIL FROM:<%s>%s got: %s",
		    p->sender, params, said(r));
		if (!LOST(rel->mail))
			smtp_cmd(c, r, "RSET");
		return;
	}
	rel->rcpt = smtp_cmd(c, r, "RCPT TO:<%s>", p->rcpt);
	snprintf(rel->why, sizeof(rel->why), "RCPT TO:<%s> got: %s", p->rcpt,
	    said(r));
	if (!LOST(rel->rcpt))
		smtp_cmd(c, r, "RSET");
}

#define RELAYED(rel)	(is_2xx((rel)->mail) && is_2xx((rel)->rcpt))

static void
probe_quit(struct smtp_conn *c)
{
	struct smtp_reply r;

	if (c->fd < 0)
		return;
	smtp_reply_init(&r);
	smtp_cmd(c, &r, "QUIT");
	smtp_reply_free(&r);
	smtp_close(c);
}

/* Can the AUTH checks run at all? */
static int
probe_auth_usable(struct probe *p, struct check_outcome *o)
{
	if (p->user == NULL) {
		outcome(o, CHECK_SKIP, "no --user given");
		return 0;
	}
	if (p->mech == NULL) {
		outcome(o, CHECK_SKIP, "the server offers neither AUTH PLAIN nor "
		    "AUTH LOGIN%s", p->tls == PROBE_TLS_NONE && p->starttls_offered ?
		    " before STARTTLS (try --starttls)" : "");
		return 0;
	}
	if (p->login_refused) {
		outcome(o, CHECK_SKIP, "the server refused the login");
		return 0;
	}
	return 1;
}

static int
probe_login(struct probe *p, struct smtp_conn *c, struct smtp_reply *r,
    struct check_outcome *o)
{
	if (sasl_auth(c, r, p->mech, p->user, p->password) != 235) {
		outcome(o, CHECK_SKIP, "AUTH %s: %s", p->mech, said(r));
		return -1;
	}
	return 0;
}

/* Once: is the relay accepted on a fresh connection right after AUTH? */
static int
probe_control(struct probe *p)
{
	struct smtp_conn c;
	struct smtp_reply r;
	struct check_outcome o;
	struct relay rel;

	if (p->control)
		return p->control;
	smtp_init(&c, p->timeout);
	smtp_reply_init(&r);
	p->control = -1;
	if (probe_open(p, &c, &r, OPEN_TLS, &o) < 0
	    || probe_login(p, &c, &r, &o) < 0) {
		snprintf(p->control_why, sizeof(p->control_why),
		    "control session (EHLO, AUTH, MAIL, RCPT): %.400s", o.detail);
	} else {
		probe_relay(p, &c, &r, "", &rel);
		if (RELAYED(&rel))
			p->control = 1;
		else
			snprintf(p->control_why, sizeof(p->control_why),
			    "even right after AUTH %s; choose --sender and --rcpt "
			    "that the server relays for %s", rel.why, p->user);
	}
	probe_quit(&c);
	smtp_reply_free(&r);
	strbuf_free(&c.transcript);
	return p->control;
}

/* The end of an auth_survives_* check: rel is the relay after the step. */
static void
auth_verdict(struct probe *p, struct check_outcome *o, const struct relay *rel,
    const char *after)
{
	if (RELAYED(rel))
		outcome(o, CHECK_PASS, "%s", "");
	else if (probe_control(p) < 0)
		outcome(o, CHECK_SKIP, "%s", p->control_why);
	else
		outcome(o, CHECK_FAIL, "%s, %s; on a fresh connection right after "
		    "AUTH it is accepted: the server forgot the login", after,
		    LOST(rel->mail) || LOST(rel->rcpt) ? "the connection was lost" :
		    rel->why);
}

static void
check_auth_survives_rset(struct probe *p, struct smtp_conn *c,
    struct check_outcome *o)
{
	struct smtp_reply r;
	struct relay rel;

	smtp_reply_init(&r);
	if (!probe_auth_usable(p, o) || probe_open(p, c, &r, OPEN_TLS, o) < 0
	    || probe_login(p, c, &r, o) < 0)
		goto out;
	if (!is_2xx(smtp_cmd(c, &r, "RSET"))) {
		outcome(o, CHECK_FAIL, "RSET after AUTH got: %s", said(&r));
		goto out;
	}
	probe_relay(p, c, &r, "", &rel);
	auth_verdict(p, o, &rel, "after AUTH and RSET (the Nokia E61i sequence)");
out:
	smtp_reply_free(&r);
}

static void
check_auth_survives_ehlo(struct probe *p, struct smtp_conn *c,
    struct check_outcome *o)
{
	struct smtp_reply r;
	struct relay rel;

	smtp_reply_init(&r);
	if (!probe_auth_usable(p, o) || probe_open(p, c, &r, OPEN_TLS, o) < 0
	    || probe_login(p, c, &r, o) < 0)
		goto out;
	if (!is_2xx(probe_ehlo(c, &r))) {
		outcome(o, CHECK_FAIL, "EHLO after AUTH got: %s", said(&r));
		goto out;
	}
	probe_relay(p, c, &r, "", &rel);
	auth_verdict(p, o, &rel, "after AUTH and a second EHLO");
out:
	smtp_reply_free(&r);
}

static void
check_auth_survives_transactions(struct probe *p, struct smtp_conn *c,
    struct check_outcome *o)
{
	struct smtp_reply r;
	struct relay rel;
	char	after[80];
	int	i;

	smtp_reply_init(&r);
	if (!probe_auth_usable(p, o) || probe_open(p, c, &r, OPEN_TLS, o) < 0
	    || probe_login(p, c, &r, o) < 0)
		goto out;
	for (i = 1; i <= TRANSACTIONS; i++) {
		probe_relay(p, c, &r, "", &rel);
		if (!RELAYED(&rel))
			break;
	}
	snprintf(after, sizeof(after), "in transaction %d after AUTH", i);
	auth_verdict(p, o, &rel, after);
	if (o->result == CHECK_PASS)
		outcome(o, CHECK_PASS, "%d transactions, each ended by RSET",
		    TRANSACTIONS);
out:
	smtp_reply_free(&r);
}

static void
check_auth_twice_refused(struct probe *p, struct smtp_conn *c,
    struct check_outcome *o)
{
	struct smtp_reply r;
	int	code;

	smtp_reply_init(&r);
	if (!probe_auth_usable(p, o) || probe_open(p, c, &r, OPEN_TLS, o) < 0
	    || probe_login(p, c, &r, o) < 0)
		goto out;
	code = sasl_auth(c, &r, p->mech, p->user, p->password);
	if (LOST(code))
		outcome(o, CHECK_SKIP, "second AUTH: %s", said(&r));
	else if (code < 400)
		outcome(o, CHECK_FAIL, "a second AUTH got %s (RFC 4954 section 4: "
		    "503)", said(&r));
	else if (code == 503)
		outcome(o, CHECK_PASS, "%s", "");
	else
		outcome(o, CHECK_PASS, "second AUTH refused with %d (RFC 4954 "
		    "says 503)", code);
out:
	smtp_reply_free(&r);
}

/* xtext (RFC 3461 section 4) of s into buf. */
static void
xtext(const char *s, char *buf, size_t size)
{
	size_t	n = 0;

	for (; *s && n + 4 < size; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < '!' || ch > '~' || ch == '+' || ch == '=')
			n += (size_t)snprintf(buf + n, size - n, "+%02X", ch);
		else
			buf[n++] = (char)ch;
	}
	buf[n] = '\0';
}

static void
check_auth_param_ignored(struct probe *p, struct smtp_conn *c,
    struct check_outcome *o)
{
	struct smtp_reply r;
	struct relay plain, withparam;
	char	param[700], x[600];

	smtp_reply_init(&r);
	if (probe_open(p, c, &r, OPEN_TLS, o) < 0)
		goto out;
	probe_relay(p, c, &r, "", &plain);
	if (LOST(plain.mail) || LOST(plain.rcpt)) {
		outcome(o, CHECK_SKIP, "connection lost: %s", c->error);
		goto out;
	}
	xtext(p->sender, x, sizeof(x));
	snprintf(param, sizeof(param), " AUTH=%s", x);
	probe_relay(p, c, &r, param, &withparam);
	if (LOST(withparam.mail) || LOST(withparam.rcpt))
		outcome(o, CHECK_SKIP, "connection lost: %s", c->error);
	else if (!is_2xx(withparam.mail))
		outcome(o, CHECK_PASS, "%s", withparam.why);
	else if (is_2xx(withparam.rcpt) && !RELAYED(&plain))
		outcome(o, CHECK_FAIL, "without AUTH= %s; with AUTH= from a client "
		    "that never logged in %s", plain.why, withparam.why);
	else if (RELAYED(&plain))
		outcome(o, CHECK_PASS, "it relays without AUTH= as well: see "
		    "open_relay");
	else
		outcome(o, CHECK_PASS, "%s", "");
out:
	smtp_reply_free(&r);
}

static void
check_open_relay(struct probe *p, struct smtp_conn *c, struct check_outcome *o)
{
	struct smtp_reply r;
	struct relay rel;

	smtp_reply_init(&r);
	if (probe_open(p, c, &r, OPEN_TLS, o) < 0)
		goto out;
	probe_relay(p, c, &r, "", &rel);
	if (LOST(rel.mail) || LOST(rel.rcpt))
		outcome(o, CHECK_SKIP, "connection lost: %s", c->error);
	else if (RELAYED(&rel))
		outcome(o, CHECK_FAIL, "without AUTH %s", rel.why);
	else
		outcome(o, CHECK_PASS, "%s", rel.why);
out:
	smtp_reply_free(&r);
}

/* Why a STARTTLS check cannot run, or null. */
static const char *
starttls_unusable(const struct probe *p)
{
	if (p->tls == PROBE_TLS_IMPLICIT)
		return "implicit TLS (--tls): no STARTTLS on this port";
	if (!p->starttls_offered)
		return "the server does not offer STARTTLS";
	return NULL;
}

static void
check_starttls_injection(struct probe *p, struct smtp_conn *c,
    struct check_outcome *o)
{
	static const char inject[] = "STARTTLS\r\nRSET\r\n";
	struct smtp_reply r;
	const char *why;
	int	code;

	smtp_reply_init(&r);
	if ((why = starttls_unusable(p)) != NULL) {
		outcome(o, CHECK_SKIP, "%s", why);
		goto out;
	}
	if (probe_open(p, c, &r, 0, o) < 0)
		goto out;
	/* one write, so that both commands arrive in one packet */
	if (smtp_write(c, inject, sizeof(inject) - 1, NULL) < 0) {
		outcome(o, CHECK_SKIP, "%s", c->error);
		goto out;
	}
	code = smtp_read(c, &r);
	if (code != 220) {
		outcome(o, CHECK_PASS, "STARTTLS with a command behind it got: %s",
		    said(&r));
		goto out;
	}
	if (smtp_pending(c)) {
		smtp_note(c, "plain text after the 220 (the RSET answered before "
		    "TLS) discarded");
		smtp_discard(c);
	}
	if (smtp_tls(c, p->ssl_ctx, p->host) < 0) {
		outcome(o, CHECK_SKIP, "%s", c->error);
		goto out;
	}
	/*
	 * Inside TLS: EHLO, then QUIT. A server that kept the RSET sent in
	 * plain text answers it first, so QUIT gets the EHLO reply, not 221.
	 */
	code = probe_ehlo(c, &r);
	if (LOST(code)) {
		outcome(o, CHECK_SKIP, "EHLO in TLS: %s", said(&r));
		goto out;
	}
	code = smtp_cmd(c, &r, "QUIT");
	if (code == 221) {
		outcome(o, CHECK_PASS, "%s", "");
		smtp_close(c);
	} else if (LOST(code))
		outcome(o, CHECK_SKIP, "QUIT in TLS: %s", said(&r));
	else
		outcome(o, CHECK_FAIL, "inside TLS the server answered one command "
		    "more than it was sent: it ran the RSET pipelined in plain text "
		    "behind STARTTLS (CVE-2011-0411)");
out:
	smtp_reply_free(&r);
}

/*
 * Commands that many servers refuse before EHLO. tls_discards_state uses
 * the first one that a fresh session refuses and that EHLO makes
 * acceptable (MAIL may still be refused after EHLO where it needs AUTH):
 * after STARTTLS it must be refused again.
 */
static const struct {
	const char *head;		/* then the sender, when tail is set */
	const char *tail;
} ehlo_needed[] = {
	{"MAIL FROM:<", ">"},
	{"MAIL FROM:<", "> BODY=8BITMIME"},
	{"AUTH LOGIN", NULL},
	{NULL, NULL},
};

/* Sends ehlo_needed[i] and undoes it if it was accepted. */
static int
try_ehlo_needed(struct probe *p, struct smtp_conn *c, struct smtp_reply *r,
    int i, char *said_buf, size_t size)
{
	int	code;

	code = smtp_cmd(c, r, "%s%s%s", ehlo_needed[i].head,
	    ehlo_needed[i].tail ? p->sender : "",
	    ehlo_needed[i].tail ? ehlo_needed[i].tail : "");
	smtp_reply_first(r, said_buf, size);
	if (is_2xx(code))
		smtp_cmd(c, r, "RSET");
	else if (code == 334)
		smtp_cmd(c, r, "*");
	return code;
}

static void
check_tls_discards_state(struct probe *p, struct smtp_conn *c,
    struct check_outcome *o)
{
	struct smtp_reply r;
	const char *why;
	char	what[80], got[200];
	int	refused[sizeof(ehlo_needed) / sizeof(ehlo_needed[0])] = {0};
	int	i, code, nrefused = 0;

	smtp_reply_init(&r);
	if ((why = starttls_unusable(p)) != NULL) {
		outcome(o, CHECK_SKIP, "%s", why);
		goto out;
	}
	if (probe_open(p, c, &r, OPEN_NO_EHLO, o) < 0)
		goto out;
	for (i = 0; ehlo_needed[i].head; i++) {
		code = try_ehlo_needed(p, c, &r, i, got, sizeof(got));
		if (LOST(code)) {
			outcome(o, CHECK_SKIP, "before EHLO: %s", got);
			goto out;
		}
		refused[i] = code >= 400;
		nrefused += refused[i];
	}
	if (nrefused == 0) {
		outcome(o, CHECK_SKIP, "the server takes MAIL and AUTH without any "
		    "EHLO, so it cannot show whether STARTTLS discards the EHLO");
		goto out;
	}
	if (!is_2xx(probe_ehlo(c, &r))) {
		outcome(o, CHECK_SKIP, "EHLO: %s", said(&r));
		goto out;
	}
	for (i = 0; ehlo_needed[i].head; i++) {
		if (!refused[i])
			continue;
		code = try_ehlo_needed(p, c, &r, i, got, sizeof(got));
		if (LOST(code)) {
			outcome(o, CHECK_SKIP, "after EHLO: %s", got);
			goto out;
		}
		if (is_2xx(code) || code == 334)
			break;
	}
	if (ehlo_needed[i].head == NULL) {
		outcome(o, CHECK_SKIP, "what the server refuses before EHLO it "
		    "refuses after EHLO too (last: %s), so it cannot show whether "
		    "STARTTLS discards the EHLO", got);
		goto out;
	}
	snprintf(what, sizeof(what), "%s%s%s", ehlo_needed[i].head,
	    ehlo_needed[i].tail ? ".." : "",
	    ehlo_needed[i].tail ? ehlo_needed[i].tail : "");
	if (smtp_send(c, "STARTTLS") < 0) {
		outcome(o, CHECK_SKIP, "STARTTLS: %s", c->error);
		goto out;
	}
	if (probe_tls_after(p, c, &r, o) < 0)
		goto out;
	code = try_ehlo_needed(p, c, &r, i, got, sizeof(got));
	if (LOST(code))
		outcome(o, CHECK_SKIP, "%s in TLS: %s", what, got);
	else if (code < 400)
		outcome(o, CHECK_FAIL, "after STARTTLS, %s without a new EHLO got %s: "
		    "the server kept the EHLO from before TLS (RFC 3207 section 4.2)",
		    what, got);
	else
		outcome(o, CHECK_PASS, "after STARTTLS, %s without a new EHLO got: %s",
		    what, got);
out:
	smtp_reply_free(&r);
}

static void
check_sequence(struct probe *p, struct smtp_conn *c, struct check_outcome *o)
{
	struct smtp_reply r;
	int	rcpt, mail;

	smtp_reply_init(&r);
	if (probe_open(p, c, &r, OPEN_TLS, o) < 0)
		goto out;
	/* where MAIL needs a login (submission), log in when we can */
	if (p->user && p->mech && !p->login_refused
	    && LOST(sasl_auth(c, &r, p->mech, p->user, p->password))) {
		outcome(o, CHECK_SKIP, "AUTH: %s", said(&r));
		goto out;
	}
	/* postmaster: every server takes it (RFC 5321 4.5.1), so only the
	 * missing MAIL can make it refuse */
	rcpt = smtp_cmd(c, &r, "RCPT TO:<postmaster>");
	if (rcpt < 400) {
		outcome(o, CHECK_FAIL, "RCPT TO:<postmaster> before MAIL got: %s", said(&r));
		if (!LOST(rcpt))
			smtp_cmd(c, &r, "RSET");
		goto out;
	}
	mail = smtp_cmd(c, &r, "MAIL FROM:<%s>", p->sender);
	if (!is_2xx(mail)) {
		outcome(o, LOST(mail) ? CHECK_FAIL : CHECK_SKIP,
		    "MAIL after a refused RCPT got: %s", said(&r));
		goto out;
	}
	mail = smtp_cmd(c, &r, "MAIL FROM:<%s>", p->sender);
	if (mail < 400)
		outcome(o, CHECK_FAIL, "a second MAIL in a transaction got: %s",
		    said(&r));
	else if (rcpt == 503 && mail == 503)
		outcome(o, CHECK_PASS, "%s", "");
	else
		outcome(o, CHECK_PASS, "refused with %d and %d (RFC 5321: 503)",
		    rcpt, mail);
	if (!LOST(mail))
		smtp_cmd(c, &r, "RSET");
out:
	smtp_reply_free(&r);
}

/* After a strange command: NOOP must still get 250. */
static int
session_goes_on(struct smtp_conn *c, struct smtp_reply *r,
    struct check_outcome *o, const char *what)
{
	if (is_2xx(smtp_cmd(c, r, "NOOP")))
		return 1;
	outcome(o, CHECK_FAIL, "after %s, NOOP got: %s", what, said(r));
	return 0;
}

static void
check_unknown_command(struct probe *p, struct smtp_conn *c,
    struct check_outcome *o)
{
	struct smtp_reply r;
	int	code;

	smtp_reply_init(&r);
	if (probe_open(p, c, &r, OPEN_TLS, o) < 0)
		goto out;
	code = smtp_cmd(c, &r, "XSGPROBE");
	if (code < 500) {
		outcome(o, CHECK_FAIL, "an unknown command got: %s (want 5xx)",
		    said(&r));
		goto out;
	}
	if (session_goes_on(c, &r, o, "an unknown command"))
		outcome(o, CHECK_PASS, "%s", "");
out:
	smtp_reply_free(&r);
}

static void
check_long_line(struct probe *p, struct smtp_conn *c, struct check_outcome *o)
{
	char	line[LONG_LINE];
	struct smtp_reply r;
	int	code;

	smtp_reply_init(&r);
	if (probe_open(p, c, &r, OPEN_TLS, o) < 0)
		goto out;
	memcpy(line, "NOOP ", 5);
	memset(line + 5, 'X', sizeof(line) - 7);
	memcpy(line + sizeof(line) - 2, "\r\n", 2);
	if (smtp_write(c, line, sizeof(line), NULL) < 0) {
		outcome(o, CHECK_FAIL, "%d-byte command: %s", LONG_LINE, c->error);
		goto out;
	}
	code = smtp_read(c, &r);
	if (LOST(code)) {
		outcome(o, CHECK_FAIL, "a %d-byte command got: %s", LONG_LINE,
		    said(&r));
		goto out;
	}
	if (!session_goes_on(c, &r, o, "a long line"))
		goto out;
	if (code == 500)
		outcome(o, CHECK_PASS, "%s", "");
	else
		outcome(o, CHECK_PASS, "a %d-byte command got %d, not 500 (RFC 5321 "
		    "allows 512), and the session went on", LONG_LINE, code);
out:
	smtp_reply_free(&r);
}

const struct check checks_table[] = {
	{"auth_survives_rset", check_auth_survives_rset},
	{"auth_survives_ehlo", check_auth_survives_ehlo},
	{"auth_survives_transactions", check_auth_survives_transactions},
	{"auth_twice_refused", check_auth_twice_refused},
	{"auth_param_ignored", check_auth_param_ignored},
	{"open_relay", check_open_relay},
	{"starttls_injection", check_starttls_injection},
	{"tls_discards_state", check_tls_discards_state},
	{"sequence", check_sequence},
	{"unknown_command", check_unknown_command},
	{"long_line", check_long_line},
	{NULL, NULL},
};

int
probe_discover(struct probe *p, char *err, size_t errsize)
{
	struct smtp_conn c;
	struct smtp_reply r;
	struct check_outcome o;
	int	rc = -1, code;

	smtp_init(&c, p->timeout);
	smtp_reply_init(&r);
	if (probe_open(p, &c, &r, OPEN_NO_EHLO, &o) < 0)
		goto out;
	if (!is_2xx(probe_ehlo(&c, &r))) {
		snprintf(o.detail, sizeof(o.detail), "EHLO: %s", said(&r));
		goto out;
	}
	p->starttls_offered = ehlo_has(&r, "STARTTLS");
	if (p->tls == PROBE_TLS_STARTTLS) {
		if (!p->starttls_offered) {
			snprintf(o.detail, sizeof(o.detail),
			    "the server does not offer STARTTLS");
			goto out;
		}
		if (smtp_send(&c, "STARTTLS") < 0) {
			snprintf(o.detail, sizeof(o.detail), "%s", c.error);
			goto out;
		}
		if (probe_tls_after(p, &c, &r, &o) < 0)
			goto out;
		if (!is_2xx(probe_ehlo(&c, &r))) {
			snprintf(o.detail, sizeof(o.detail), "EHLO after STARTTLS: %s",
			    said(&r));
			goto out;
		}
	}
	p->mech = sasl_choose(&r);
	rc = 0;
	if (p->user && p->mech) {
		code = sasl_auth(&c, &r, p->mech, p->user, p->password);
		if (code != 235) {
			p->login_refused = 1;
			snprintf(err, errsize, "AUTH %s as %s: %s", p->mech, p->user,
			    said(&r));
		}
	}
out:
	if (rc < 0)
		snprintf(err, errsize, "%s port %s: %s", p->host, p->port, o.detail);
	probe_quit(&c);
	smtp_reply_free(&r);
	strbuf_free(&c.transcript);
	return rc;
}
