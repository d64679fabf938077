/*
 * NAME
 *	session - per-connection SMTP state machine
 * SYNOPSIS
 *	#include "session.h"
 *
 *	void session_ids_init(void)
 *	struct sg_session *session_new(cfg, log, front)
 *	void session_free(s)
 *	void session_set_config(s, cfg)
 *	void session_set_sees(s, sees), unsigned session_sees(s)
 *	void session_set_msg_size(s, size)
 *	int session_may_refuse_at_mail(cfg)
 *	void session_set_ratelimit(s, rl)
 *	int session_hold(s, why, size)
 *
 *	void session_on_connect(s, name, addr, port, daemon)
 *	void session_on_helo(s, helo, says)
 *	void session_on_mail(s, sender, params, nparams, says, result)
 *	void session_on_rcpt(s, rcpt, params, nparams, mta_rejected, says,
 *		result)
 *	void session_on_data(s), session_on_eoh(s), session_on_abort(s)
 *	void session_on_header(s, name, value), session_on_body(s, len)
 *	void session_on_eom(s, queue_id)
 *	void session_ar_plan(s, plan)
 *	void session_ar_failed(s, why)
 *	void session_on_unknown(s, command)
 *	void session_on_close(s, how)
 * DESCRIPTION
 *	One sg_session follows one SMTP connection as the MTA reports it,
 *	with the rules of SPEC section 1:
 *
 *	S1: the session is authenticated only by a non-empty {auth_authen}
 *	    from the MTA; {auth_author} (the client's AUTH= claim) is logged
 *	    as auth_param and never trusted.
 *	S2: authentication lasts the connection: across aborts (RSET),
 *	    completed transactions and repeated HELO. When the MTA stops
 *	    reporting it, the identity is carried (source "carried").
 *	S3: the first event (HELO, MAIL or RCPT) whose TLS state is set
 *	    after the session was seen in plaintext is a TLS boundary:
 *	    authentication and HELO name are discarded (RFC 3207 section
 *	    4.2). A login the MTA reports where no AUTH can have happened
 *	    since (before the next EHLO) predates TLS and stays discarded
 *	    while the MTA keeps reporting it (auth_kept_across_tls).
 *	S4: transaction state goes at abort, end of message and HELO; the
 *	    transaction number grows with every MAIL.
 *	S5: a different identity in the same TLS epoch is an anomaly; the
 *	    newest report wins.
 *	S6: anomalies are logged, never silently fixed.
 *
 *	Every event is numbered (seq, from 1) and logged through evlog. The
 *	relay decision at RCPT comes from policy_decide_rcpt(); the session
 *	adds the verdict (enforce or monitor), the SMTP reply and the reason.
 *
 *	SPEC section 8, for every front end alike. At MAIL, with
 *	sender_login_check on, senderlogin_check() decides whether the
 *	session's login may use the sender: the mail event then carries
 *	verdict, reason (and reply when refusing), and session_on_mail()'s
 *	result says what to answer (sender_reply; would_reject in mode
 *	monitor; 451 4.3.0 when the map cannot be read). At RCPT, a relay
 *	recipient that the relay decision permitted is counted by the
 *	rate-limit engine given with session_set_ratelimit() (none: no
 *	limits); over a limit, limit_action decides: tempfail (limit_reply,
 *	%r the limit), hold (accept; session_hold() then says the
 *	transaction is to be held: the milter quarantines at end of message,
 *	the policy server answers HOLD, and the eom event says verdict
 *	"hold") or monitor (accept). mode = monitor turns the tempfail into
 *	would_reject and holds nothing. The rcpt event carries the limit
 *	object whenever a limit was consulted; the anomalies limit_exceeded,
 *	limit_store_down and limit_store_up follow it. A store that is down
 *	with limit_store_down = tempfail answers 451 4.3.0.
 *
 *	session_ar_plan() says what end of message does with
 *	Authentication-Results when auth_results = yes (SPEC section 2,
 *	RFC 8601, parsed by authres): which incoming ones claiming our
 *	authserv-id to delete (all of them), and the one to add for an
 *	authenticated session; or that the message must be refused because
 *	a claim could not be recorded. A login that cannot be named exactly
 *	gets no header and the anomaly auth_results_skipped.
 *	session_ar_failed() tells that a deletion failed: the eom event then
 *	logs verdict tempfail with the reason.
 *
 *	What a connection shows can be narrowed (session_set_sees(): the
 *	milter negotiates headers and body away). Without headers there is
 *	no eoh event, no header count at eom and no Authentication-Results
 *	edit, whatever the configuration says (the claims were never seen).
 *	The eom size is the body bytes counted when the body is shown;
 *	otherwise the size the MTA reports at end of message
 *	(session_set_msg_size(): Sendmail's {msg_size}, the real size of
 *	headers and body), else the size the client declared with SIZE= at
 *	MAIL (RFC 1870, an estimate: Postfix reports no size), else null.
 *
 *	The module knows no protocol: a front end (the milter, the policy
 *	server, a test) feeds it plain strings, as session.h describes, and
 *	says which events it can see (struct sg_front): an anomaly about an
 *	event that front end cannot see is never raised. Sessions and live
 *	sessions are counted here (session_new, session_free), with the
 *	rest of the metrics. Values from the wire are
 *	kept in fixed, bounded fields, so events never allocate; the only
 *	allocation is the session itself and its reusable log buffer.
 *
 *	A session is used by one thread at a time (libmilter serialises the
 *	callbacks of a connection); sessions share only the immutable config
 *	and the evlog.
 * DIAGNOSTICS
 *	session_new() returns NULL when out of memory; the caller answers
 *	TEMPFAIL. Nothing else fails: a log line that cannot be written is
 *	counted as lost by evlog.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "authres.h"
#include "metrics.h"
#include "policy.h"
#include "ratelimit.h"
#include "senderlogin.h"
#include "session.h"
#include "util/ipaddr.h"

#define SG_NAME_MAX	256	/* host names, HELO names, logins */
#define SG_MECH_MAX	64

struct sg_auth {
	int		valid;
	char		user[SG_NAME_MAX];
	int		user_cut;	/* the login was longer than user[] */
	char		mech[SG_MECH_MAX];
	unsigned	since_seq;
	unsigned	resets;		/* aborts since it was first seen */
	int		carried;	/* the latest MAIL did not report it */
};

struct sg_session {
	const struct sg_config *cfg;
	const struct sg_front *front;
	unsigned	 sees;		/* SG_SEES_*: front, narrowed per connection */
	struct evlog	*log;
	struct strbuf	 line;
	char		 id[32];
	unsigned	 seq;
	struct timespec	 start;

	struct ipaddr	 client;
	char		 client_addr[64];

	int		 helo_seen;
	char		 helo[SG_NAME_MAX];
	int		 plaintext_seen;
	int		 tls_active;
	unsigned	 tls_boundary_seq;	/* 0: no boundary seen */
	unsigned	 auth_discarded_seq;	/* 0: nothing discarded */
	int		 no_auth_since_tls;	/* boundary seen, no EHLO since */
	char		 kept_user[SG_NAME_MAX]; /* pre-TLS login still reported */
	unsigned	 kept_noted;		/* txn + 1 when last logged */

	struct sg_auth	 auth;

	unsigned	 txn;
	int		 in_txn;
	unsigned	 txn_headers;
	struct authres_txn ar;		/* Authentication-Results seen */
	size_t		 ar_deleted;	/* ... of them deleted at eom */
	char		 eom_refused[200];	/* why eom answers tempfail */
	unsigned long long txn_size;	/* body bytes counted */
	unsigned long long size_declared;	/* MAIL SIZE= */
	unsigned	 txn_counted;	/* relay recipients the limits counted */
	int		 hold;		/* limit_action hold: hold the message */
	char		 hold_why[300];	/* ... why (rate-limit reason) */
	unsigned long long size_mta;	/* what the MTA reports at eom */
	int		 size_have;	/* 1: size_declared set, 2: size_mta */

	struct ratelimit *rl;		/* rate-limit engine, or NULL: no limits */

	unsigned	 transactions;
	unsigned	 resets;
	unsigned	 rcpts;
	unsigned	 rejected;
};

static char id_prefix[16];
static atomic_ulong id_counter;

const struct sg_front sg_front_milter = { "milter", SG_SEES_ALL };
const struct sg_front sg_front_policy = { "policy", SG_SEES_MAIL };

void
session_ids_init(void)
{
	unsigned int r;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (unsigned)getpid() ^ (unsigned)time(NULL);
	snprintf(id_prefix, sizeof(id_prefix), "%08x", r);
}

struct sg_session *
session_new(const struct sg_config *cfg, struct evlog *log,
    const struct sg_front *front)
{
	struct sg_session *s;
	unsigned long n;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (id_prefix[0] == '\0')
		session_ids_init();
	s->cfg = cfg;
	s->front = front ? front : &sg_front_milter;
	s->sees = s->front->sees;
	s->log = log;
	strbuf_init(&s->line);
	authres_txn_init(&s->ar, AUTHRES_CLAIMS_MAX);
	n = atomic_fetch_add(&id_counter, 1) + 1;
	snprintf(s->id, sizeof(s->id), "%s.%lu", id_prefix, n);
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	strcpy(s->client_addr, "unknown");
	metrics_count(M_SESSIONS);
	metrics_live(1);
	return s;
}

void
session_free(struct sg_session *s)
{
	if (s == NULL)
		return;
	metrics_live(-1);
	strbuf_free(&s->line);
	authres_txn_free(&s->ar);
	free(s);
}

const char *
session_id(const struct sg_session *s)
{
	return s->id;
}

const struct sg_config *
session_config(const struct sg_session *s)
{
	return s->cfg;
}

/* A new configuration (reload) takes effect from the next transaction. */
void
session_set_config(struct sg_session *s, const struct sg_config *cfg)
{
	s->cfg = cfg;
}

/* What this connection shows: the front end's events, narrowed or widened. */
void
session_set_sees(struct sg_session *s, unsigned sees)
{
	s->sees = sees;
}

unsigned
session_sees(const struct sg_session *s)
{
	return s->sees;
}

/*
 * Whether some check of cfg can refuse at MAIL FROM: the sender/login
 * check (SPEC section 8) when it is on. The relay decision and the rate
 * limits are made at RCPT.
 */
int
session_may_refuse_at_mail(const struct sg_config *cfg)
{
	return cfg != NULL && cfg->sender_login_check != SENDERLOGIN_OFF;
}

/* The rate-limit engine the session's relay recipients are counted in. */
void
session_set_ratelimit(struct sg_session *s, struct ratelimit *rl)
{
	s->rl = rl;
}

/*
 * limit_action = hold: whether the current transaction is to be held
 * (milter: quarantine at end of message; policy: HOLD), and why.
 */
int
session_hold(const struct sg_session *s, char *why, size_t size)
{
	if (!s->hold)
		return 0;
	if (why != NULL && size > 0)
		snprintf(why, size, "%s", s->hold_why);
	return 1;
}

/* A decimal size, bounded; -1 when it is none. */
static int
parse_size(const char *p, unsigned long long *out)
{
	unsigned long long v = 0;

	if (p == NULL || *p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (~0ULL - 9) / 10)
			return -1;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (*p != '\0')
		return -1;
	*out = v;
	return 0;
}

/* The message size as the MTA reports it at end of message ({msg_size}). */
void
session_set_msg_size(struct sg_session *s, const char *size)
{
	if (parse_size(size, &s->size_mta) == 0)
		s->size_have = 2;
}

int
session_authenticated(const struct sg_session *s)
{
	return s->auth.valid;
}

const char *
session_auth_user(const struct sg_session *s)
{
	return s->auth.valid ? s->auth.user : NULL;
}

unsigned
session_seq(const struct sg_session *s)
{
	return s->seq;
}

unsigned
session_txn(const struct sg_session *s)
{
	return s->txn;
}

int
session_in_txn(const struct sg_session *s)
{
	return s->in_txn;
}

const char *
verdict_name(enum sg_verdict v)
{
	switch (v) {
	case VERDICT_ACCEPT:
		return "accept";
	case VERDICT_REJECT:
		return "reject";
	case VERDICT_WOULD_REJECT:
		return "would_reject";
	case VERDICT_TEMPFAIL:
		return "tempfail";
	case VERDICT_MTA_REJECTED:
		return "mta_rejected";
	}
	return "tempfail";
}

/* Helpers. */

static int
empty(const char *v)
{
	return v == NULL || *v == '\0';
}

/* Copies a wire value into a bounded field (cut at a byte boundary). */
static void
copy_bounded(char *dst, size_t size, const char *src)
{
	size_t	len = strlen(src);

	if (len >= size)
		len = size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/*
 * A user name or address as the log shows it: itself, or its pseudonym
 * when log_pseudonymize is on (the log never holds the clear value).
 */
#define SHOWN_MAX	600

static const char *
shown(const struct sg_session *s, const char *v, char *buf)
{
	if (v == NULL || s->cfg->log_pseudonymize == PSEUDO_OFF)
		return v;
	pseudo_value(&s->cfg->log_key, s->cfg->log_pseudonymize, v, buf,
	    SHOWN_MAX);
	return buf;
}

/* An ESMTP parameter as the log shows it: AUTH=<addr> names a person. */
static const char *
shown_arg(const struct sg_session *s, const char *arg, char *buf)
{
	if (arg == NULL || s->cfg->log_pseudonymize == PSEUDO_OFF
	    || strncasecmp(arg, "AUTH=", 5) != 0)
		return arg;
	memcpy(buf, arg, 5);
	pseudo_value(&s->cfg->log_key, s->cfg->log_pseudonymize, arg + 5,
	    buf + 5, SHOWN_MAX - 5);
	return buf;
}

static void
begin(struct sg_session *s, struct evline *l, const char *event)
{
	s->seq++;
	evlog_begin(l, s->log, &s->line, s->id, s->seq, event);
}

static void
put_auth(struct sg_session *s, struct evline *l, const char *key)
{
	if (!s->auth.valid) {
		evlog_null(l, key);
		return;
	}
	evlog_obj_begin(l, key);
	char	buf[SHOWN_MAX];

	evlog_str(l, "user", shown(s, s->auth.user, buf));
	evlog_str(l, "mech", s->auth.mech[0] ? s->auth.mech : NULL);
	evlog_int(l, "since_seq", s->auth.since_seq);
	evlog_text(l, "source", s->auth.carried ? "carried" : "mta");
	evlog_obj_end(l);
}

static void
anomaly(struct sg_session *s, enum sg_anomaly kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
anomaly(struct sg_session *s, enum sg_anomaly kind, const char *fmt, ...)
{
	struct evline l;
	char	detail[1024];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (anomaly_name(kind) == NULL)
		return;			/* not a kind: nothing to name or count */
	metrics_anomaly(kind);
	begin(s, &l, "anomaly");
	evlog_text(&l, "kind", anomaly_name(kind));
	evlog_text(&l, "detail", detail);
	evlog_end(&l);
}

static void
txn_clear(struct sg_session *s)
{
	s->in_txn = 0;
	s->txn_headers = 0;
	authres_txn_clear(&s->ar);
	s->ar_deleted = 0;
	s->eom_refused[0] = '\0';
	s->txn_size = 0;
	s->size_have = 0;
	s->txn_counted = 0;
	s->hold = 0;
	s->hold_why[0] = '\0';
}

enum auth_change {
	AUTH_NONE,		/* not reported, not remembered */
	AUTH_SAME,		/* reported as remembered */
	AUTH_NEW,		/* first report */
	AUTH_CHANGED,		/* a different identity (S5) */
	AUTH_CARRIED,		/* not reported, remembered (S2) */
	AUTH_KEPT,		/* a pre-TLS login the MTA still reports (S3) */
};

/*
 * Applies what the MTA says about SASL at the event numbered seq; at_mail:
 * this is a MAIL event, where the MTA reports the login if there is one.
 * The caller logs the anomalies after its own event line; *old keeps the
 * identity that a change replaced.
 */
static enum auth_change
note_auth(struct sg_session *s, const struct sg_mta_says *says, int at_mail,
    unsigned seq, struct sg_auth *old)
{
	const char *authen = says ? says->login : NULL;
	const char *type = says ? says->mech : NULL;
	char	user[SG_NAME_MAX];

	*old = s->auth;
	if (!empty(authen) && s->tls_boundary_seq) {
		/*
		 * S3: between STARTTLS and the next EHLO no AUTH can happen,
		 * so a login the MTA reports there predates TLS; and while
		 * the MTA keeps reporting that login, it is still that one
		 * (an MTA that keeps it also refuses a new AUTH).
		 */
		copy_bounded(user, sizeof(user), authen);
		if (s->no_auth_since_tls && s->kept_user[0] == '\0')
			memcpy(s->kept_user, user, sizeof(user));
		if (s->kept_user[0] && strcmp(s->kept_user, user) == 0)
			return AUTH_KEPT;
	}
	if (empty(authen)) {
		if (!s->auth.valid)
			return AUTH_NONE;
		if (!at_mail)
			return AUTH_SAME;
		s->auth.carried = 1;
		return AUTH_CARRIED;
	}
	copy_bounded(user, sizeof(user), authen);
	if (s->auth.valid && strcmp(s->auth.user, user) == 0) {
		s->auth.carried = 0;
		s->auth.user_cut = strlen(authen) >= sizeof(user);
		if (!empty(type))
			copy_bounded(s->auth.mech, sizeof(s->auth.mech), type);
		return AUTH_SAME;
	}
	s->auth.carried = 0;
	s->auth.resets = 0;
	s->auth.since_seq = seq;
	memcpy(s->auth.user, user, sizeof(user));
	s->auth.user_cut = strlen(authen) >= sizeof(user);
	copy_bounded(s->auth.mech, sizeof(s->auth.mech), empty(type) ? "" : type);
	if (s->auth.valid)
		return AUTH_CHANGED;
	s->auth.valid = 1;
	return AUTH_NEW;
}

static void
auth_anomalies(struct sg_session *s, enum auth_change what,
    const struct sg_auth *old)
{
	char	a[SHOWN_MAX], b[SHOWN_MAX];

	if (what == AUTH_CHANGED)
		anomaly(s, ANOMALY_AUTH_CHANGED, "the MTA reported login %s at seq %u, "
		    "now %s; the newest report wins", shown(s, old->user, a),
		    old->since_seq, shown(s, s->auth.user, b));
	else if (what == AUTH_CARRIED)
		anomaly(s, ANOMALY_AUTH_CARRIED, "the MTA did not report the login "
		    "at this MAIL; %s (%s) from seq %u still stands",
		    shown(s, s->auth.user, a),
		    s->auth.mech[0] ? s->auth.mech : "?", s->auth.since_seq);
	else if (what == AUTH_KEPT && s->kept_noted != s->txn + 1) {
		s->kept_noted = s->txn + 1;	/* once a transaction */
		anomaly(s, ANOMALY_AUTH_KEPT_ACROSS_TLS, "the MTA still reports "
		    "login %s from before STARTTLS at seq %u; it stays "
		    "discarded (RFC 3207 section 4.2)", shown(s, s->kept_user, a),
		    s->tls_boundary_seq);
	}
}

/* Events. */

/*
 * addr: the client's IPv4 or IPv6 address as text (NULL or anything
 * else: unknown); port: its TCP port (logged only with an address).
 */
void
session_on_connect(struct sg_session *s, const char *name, const char *addr,
    unsigned port, const char *daemon)
{
	struct evline l;

	if (addr && ipaddr_parse(addr, &s->client) == 0)
		ipaddr_format(&s->client, s->client_addr, sizeof(s->client_addr));
	else
		memset(&s->client, 0, sizeof(s->client));
	begin(s, &l, "connect");
	evlog_str(&l, "client_addr", s->client_addr);
	if (s->client.family)
		evlog_int(&l, "client_port", port);
	else
		evlog_null(&l, "client_port");
	evlog_str(&l, "client_name", name);
	evlog_str(&l, "daemon", empty(daemon) ? NULL : daemon);
	evlog_text(&l, "via", s->front->via);
	evlog_end(&l);
}

/* version, cipher, bits (a number when the MTA gives one) */
static void
put_tls(struct evline *l, const struct sg_tls_info *tls)
{
	const char *b = tls->bits;

	evlog_str(l, "version", empty(tls->version) ? NULL : tls->version);
	evlog_str(l, "cipher", empty(tls->cipher) ? NULL : tls->cipher);
	if (!empty(b) && strspn(b, "0123456789") == strlen(b) && strlen(b) < 10)
		evlog_int(l, "bits", atoll(b));
	else
		evlog_str(l, "bits", empty(b) ? NULL : b);
}

static int
tls_on(const struct sg_mta_says *says)
{
	return says && (!empty(says->tls.version) || !empty(says->tls.cipher));
}

/*
 * S3: the TLS state the MTA reports at any event. The first event in TLS
 * after the session was seen in plaintext is the boundary: it logs a tls
 * event and discards the login and the HELO name (RFC 3207 section 4.2).
 */
static void
note_tls(struct sg_session *s, const struct sg_mta_says *says)
{
	struct evline l;

	if (!tls_on(says)) {
		if (!s->tls_active)
			s->plaintext_seen = 1;
		return;
	}
	if (s->tls_active)
		return;
	s->tls_active = 1;
	begin(s, &l, "tls");
	put_tls(&l, &says->tls);
	evlog_end(&l);
	if (!s->plaintext_seen)
		return;			/* TLS from the start (smtps) */
	s->tls_boundary_seq = s->seq;
	s->no_auth_since_tls = 1;
	if (s->auth.valid) {
		s->auth_discarded_seq = s->seq;
		memset(&s->auth, 0, sizeof(s->auth));
	}
	s->helo_seen = 0;
	s->helo[0] = '\0';
}

void
session_on_helo(struct sg_session *s, const char *helo,
    const struct sg_mta_says *says)
{
	struct evline l;
	struct sg_auth old;
	enum auth_change what = AUTH_NONE;
	int	tls_now = tls_on(says);

	txn_clear(s);
	note_tls(s, says);
	s->helo_seen = 1;
	copy_bounded(s->helo, sizeof(s->helo), helo ? helo : "");
	begin(s, &l, "helo");
	evlog_str(&l, "helo", helo ? helo : "");
	if (tls_now) {
		evlog_obj_begin(&l, "tls");
		put_tls(&l, &says->tls);
		evlog_obj_end(&l);
	} else {
		evlog_null(&l, "tls");
	}
	evlog_end(&l);
	/*
	 * A login reported at HELO counts only to catch one kept across
	 * STARTTLS; otherwise MAIL reports it (and dates it).
	 */
	if (s->no_auth_since_tls && says && !empty(says->login))
		what = note_auth(s, says, 0, s->seq, &old);
	s->no_auth_since_tls = 0;	/* AUTH may follow this EHLO */
	auth_anomalies(s, what, &old);
}

static const char *
auth_param(const char *const *params, size_t nparams,
    const struct sg_mta_says *says)
{
	size_t	i;

	for (i = 0; i < nparams; i++)
		if (params[i] && strncasecmp(params[i], "AUTH=", 5) == 0)
			return params[i] + 5;
	return says && !empty(says->auth_param) ? says->auth_param : NULL;
}

static enum sg_counter sender_counter(enum sg_verdict);

/*
 * The sender/login check of SPEC section 8 for one MAIL: the verdict and
 * the reply into res, the reason for the log into reason and the reply
 * as the log shows it into logreply (pseudonymised like the rest of the
 * line). Returns 0 when the check is off.
 */
static int
check_sender(struct sg_session *s, const char *sender,
    struct sg_rcpt_result *res, char *reason, size_t rsize, char *logreply,
    size_t lsize)
{
	const struct sg_config *cfg = s->cfg;
	struct senderlogin_result slr;
	enum senderlogin_verdict v;
	const char *login = s->auth.valid ? s->auth.user : NULL;
	char	a[SHOWN_MAX], b[SHOWN_MAX], text[SG_REPLY_TEXT_MAX + 1];
	const char *ss, *sl;

	logreply[0] = '\0';
	if (cfg->sender_login_check == SENDERLOGIN_OFF)
		return 0;
	v = senderlogin_check(cfg->sender_login_map, cfg->sender_login_check,
	    sender, login, &slr);
	ss = shown(s, sender, a);
	sl = login ? shown(s, login, b) : NULL;
	if (cfg->log_pseudonymize == PSEUDO_OFF)
		snprintf(reason, rsize, "%s", slr.reason);
	else
		senderlogin_reason(&slr, ss, sl ? sl : "", 0, reason, rsize);
	switch (v) {
	case SENDERLOGIN_PERMIT:
		res->verdict = VERDICT_ACCEPT;
		break;
	case SENDERLOGIN_ERROR:
		res->verdict = VERDICT_TEMPFAIL;
		strcpy(res->code, "451");
		strcpy(res->xcode, "4.3.0");
		snprintf(res->text, sizeof(res->text),
		    "Temporary failure in sender check, try again later");
		snprintf(logreply, lsize, "451 4.3.0 %s", res->text);
		break;
	case SENDERLOGIN_REFUSE:
		res->verdict = cfg->mode == MODE_MONITOR ?
		    VERDICT_WOULD_REJECT : VERDICT_REJECT;
		memcpy(res->code, cfg->sender_reply.code, sizeof(res->code));
		memcpy(res->xcode, cfg->sender_reply.xcode, sizeof(res->xcode));
		senderlogin_reply(cfg->sender_reply.text, sender, login,
		    res->text, sizeof(res->text));
		senderlogin_reply(cfg->sender_reply.text, ss, sl, text,
		    sizeof(text));
		snprintf(logreply, lsize, "%s%s%s %s", res->code,
		    res->xcode[0] ? " " : "", res->xcode, text);
		break;
	}
	metrics_count(sender_counter(res->verdict));
	return 1;
}

/*
 * sender: the MAIL FROM address as given; params: its ESMTP parameters;
 * res (may be NULL): the answer to MAIL, accept unless the sender/login
 * check refuses (SPEC section 8).
 */
void
session_on_mail(struct sg_session *s, const char *sender,
    const char *const *params, size_t nparams, const struct sg_mta_says *says,
    struct sg_rcpt_result *res)
{
	struct evline l;
	struct sg_auth old;
	struct sg_rcpt_result mine;
	enum auth_change what;
	const char *param;
	char	buf[SHOWN_MAX], reason[1024];
	char	logreply[SG_REPLY_TEXT_MAX + 32];
	int	checked;
	size_t	i;

	note_tls(s, says);
	txn_clear(s);
	s->txn++;
	s->transactions++;
	metrics_count(M_TRANSACTIONS);
	s->in_txn = 1;
	param = auth_param(params, nparams, says);
	for (i = 0; i < nparams; i++)
		if (params[i] && strncasecmp(params[i], "SIZE=", 5) == 0
		    && parse_size(params[i] + 5, &s->size_declared) == 0)
			s->size_have = 1;

	s->seq++;
	what = note_auth(s, says, 1, s->seq, &old);
	if (res == NULL)
		res = &mine;
	memset(res, 0, sizeof(*res));
	res->verdict = VERDICT_ACCEPT;
	checked = check_sender(s, sender ? sender : "", res, reason,
	    sizeof(reason), logreply, sizeof(logreply));
	evlog_begin(&l, s->log, &s->line, s->id, s->seq, "mail");
	evlog_int(&l, "txn", s->txn);
	evlog_str(&l, "sender", shown(s, sender, buf));
	evlog_arr_begin(&l, "args");
	for (i = 0; i < nparams; i++)
		evlog_arr_str(&l, shown_arg(s, params[i], buf));
	evlog_arr_end(&l);
	put_auth(s, &l, "auth");
	if (param)
		evlog_str(&l, "auth_param", shown(s, param, buf));
	if (checked) {
		evlog_text(&l, "verdict", verdict_name(res->verdict));
		if (logreply[0])
			evlog_text(&l, "reply", logreply);
		evlog_text(&l, "reason", reason);
	}
	evlog_end(&l);

	if (!s->helo_seen && (s->front->sees & SG_SEES_HELO))
		anomaly(s, ANOMALY_MAIL_WITHOUT_HELO, "MAIL FROM before any HELO/EHLO%s",
		    s->tls_boundary_seq ? " since STARTTLS" : "");
	auth_anomalies(s, what, &old);
	if (param && strcmp(param, "<>") != 0 && !s->auth.valid)
		anomaly(s, ANOMALY_CLIENT_AUTH_PARAM, "client sent AUTH=%.256s on MAIL "
		    "FROM without authenticating; ignored (RFC 4954 section 5)",
		    shown(s, param, buf));
}

static void
reason_authenticated(const struct sg_session *s, char *buf, size_t size)
{
	size_t	n;

	char	user[SHOWN_MAX];

	n = (size_t)snprintf(buf, size, "authenticated as %s (%s) at seq %u",
	    shown(s, s->auth.user, user), s->auth.mech[0] ? s->auth.mech : "?",
	    s->auth.since_seq);
	if (n >= size)
		return;
	if (s->auth.resets)
		snprintf(buf + n, size - n, ", carried across %u reset%s",
		    s->auth.resets, s->auth.resets == 1 ? "" : "s");
	else if (s->auth.carried)
		snprintf(buf + n, size - n, ", carried");
}

static void
reason_refused(const struct sg_session *s, char *buf, size_t size)
{
	size_t	n;

	if (s->auth_discarded_seq)
		n = (size_t)snprintf(buf, size, "not authenticated: auth "
		    "discarded by STARTTLS at seq %u", s->auth_discarded_seq);
	else if (s->tls_boundary_seq)
		n = (size_t)snprintf(buf, size, "not authenticated since "
		    "STARTTLS at seq %u (a login before it does not count, "
		    "RFC 3207)", s->tls_boundary_seq);
	else
		n = (size_t)snprintf(buf, size, "not authenticated");
	if (s->kept_user[0] && n < size)
		snprintf(buf + n, size - n, "; the MTA still reports the "
		    "login from before STARTTLS");
}

static void
reason_policy(const struct sg_session *s, const struct policy_result *pr,
    const char *rcpt, char *buf, size_t size)
{
	char	addr[SHOWN_MAX];

	switch (pr->why) {
	case WHY_LOCAL:
		snprintf(buf, size, "recipient domain in local_domains");
		break;
	case WHY_RELAY_DOMAIN:
		snprintf(buf, size, "recipient domain in relay_domains");
		break;
	case WHY_NO_DOMAIN:
		snprintf(buf, size, "recipient without a domain is local");
		break;
	case WHY_AUTHENTICATED:
		reason_authenticated(s, buf, size);
		break;
	case WHY_TRUSTED:
		snprintf(buf, size, "client %s in trusted_networks",
		    s->client_addr);
		break;
	case WHY_REFUSED:
		reason_refused(s, buf, size);
		if (pr->routing)
			snprintf(buf + strlen(buf), size - strlen(buf),
			    " (sender-specified routing in %s counts as relaying)",
			    shown(s, rcpt, addr));
		break;
	}
}

/* Builds the reply text from relay_reply, %r standing for the reason. */
static void
expand_reply(const struct sg_reply *r, const char *reason, char *out,
    size_t size)
{
	const char *p;
	size_t	n = 0;

	for (p = r->text; *p && n + 1 < size; p++) {
		if (p[0] == '%' && p[1] == 'r') {
			const char *q;

			for (q = reason; *q && n + 1 < size; q++) {
				unsigned char c = (unsigned char)*q;

				out[n++] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
			}
			p++;
			continue;
		}
		out[n++] = *p;
	}
	out[n] = '\0';
}

static enum sg_counter
sender_counter(enum sg_verdict v)
{
	switch (v) {
	case VERDICT_ACCEPT:
		return M_SENDER_ACCEPT;
	case VERDICT_REJECT:
		return M_SENDER_REJECT;
	case VERDICT_WOULD_REJECT:
		return M_SENDER_WOULD_REJECT;
	default:
		break;
	}
	return M_SENDER_TEMPFAIL;
}

static enum sg_counter
verdict_counter(enum sg_verdict v)
{
	switch (v) {
	case VERDICT_ACCEPT:
		return M_RCPT_ACCEPT;
	case VERDICT_REJECT:
		return M_RCPT_REJECT;
	case VERDICT_WOULD_REJECT:
		return M_RCPT_WOULD_REJECT;
	case VERDICT_MTA_REJECTED:
		return M_RCPT_MTA_REJECTED;
	case VERDICT_TEMPFAIL:
		break;
	}
	return M_RCPT_TEMPFAIL;
}

void
tempfail_result(struct sg_rcpt_result *res, const char *why)
{
	(void)why;
	res->verdict = VERDICT_TEMPFAIL;
	strcpy(res->code, "451");
	strcpy(res->xcode, "4.3.0");
	snprintf(res->text, sizeof(res->text),
	    "Temporary failure in relay check, try again later");
}

/*
 * rcpt: the RCPT TO address as given; params: its ESMTP parameters (not
 * used yet); mta_rejected: the MTA refused this recipient itself (the
 * event only reaches the log then).
 */
/*
 * A recipient that a front end must answer without a session (its
 * connection could not be set up): tempfail, counted like any other.
 */
void
session_rcpt_unchecked(struct sg_rcpt_result *res)
{
	tempfail_result(res, "no session state");
	metrics_count(M_RCPT_TEMPFAIL);
}

/* A limit key as the log shows it: the login of "login:NAME" pseudonymised. */
static const char *
shown_key(const struct sg_session *s, const char *key, char *buf)
{
	if (s->cfg->log_pseudonymize == PSEUDO_OFF
	    || strncmp(key, "login:", 6) != 0)
		return key;
	memcpy(buf, key, 6);
	pseudo_value(&s->cfg->log_key, s->cfg->log_pseudonymize, key + 6,
	    buf + 6, SHOWN_MAX - 6);
	return buf;
}

/*
 * The rate limits (SPEC section 8) for a relay recipient that the relay
 * decision permitted: counts it, or turns res into what limit_action says
 * (tempfail; hold: accept and hold the message; monitor: accept and log),
 * appending to reason. mode = monitor never refuses: a tempfail becomes
 * would_reject and hold only logs.
 */
static void
limit_rcpt(struct sg_session *s, struct sg_rcpt_result *res, char *reason,
    size_t size, struct rl_result *rl)
{
	const struct sg_config *cfg = s->cfg;
	int	monitor = cfg->mode == MODE_MONITOR;
	size_t	n = strlen(reason);
	char	r[300], key[SHOWN_MAX];
	const char *action;

	memset(rl, 0, sizeof(*rl));
	rl->verdict = RL_NONE;
	if (s->rl == NULL || !ratelimit_enabled(cfg))
		return;
	ratelimit_check(s->rl, cfg, s->auth.valid ? s->auth.user : NULL,
	    s->client.family ? &s->client : NULL, s->txn_counted == 0, rl);
	switch (rl->verdict) {
	case RL_NONE:
		metrics_limit(NULL, rl->exempt ? LIMIT_OUT_EXEMPT : LIMIT_OUT_NONE);
		if (rl->exempt && n < size)
			snprintf(reason + n, size - n, "; exempt from rate limits");
		return;
	case RL_ALLOW:
		s->txn_counted++;
		metrics_limit(rl->limit.name, LIMIT_OUT_ALLOW);
		if (rl->local && n < size)
			snprintf(reason + n, size - n, "; rate limits counted "
			    "locally (store down)");
		return;
	case RL_UNAVAILABLE:
		metrics_limit(NULL, LIMIT_OUT_UNAVAILABLE);
		if (n < size)
			snprintf(reason + n, size - n, "; rate-limit store "
			    "unavailable%s%s", rl->store_error[0] ? ": " : "",
			    rl->store_error);
		res->verdict = monitor ? VERDICT_WOULD_REJECT : VERDICT_TEMPFAIL;
		strcpy(res->code, "451");
		strcpy(res->xcode, "4.3.0");
		snprintf(res->text, sizeof(res->text), "Temporary failure in "
		    "rate-limit check, try again later");
		return;
	case RL_OVER:
		break;
	}
	switch (cfg->limit_action) {
	case LIMIT_ACTION_TEMPFAIL:
		action = monitor ? "would tempfail (mode monitor)" : "tempfail";
		metrics_limit(rl->limit.name, LIMIT_OUT_TEMPFAIL);
		res->verdict = monitor ? VERDICT_WOULD_REJECT : VERDICT_TEMPFAIL;
		memcpy(res->code, cfg->limit_reply.code, sizeof(res->code));
		memcpy(res->xcode, cfg->limit_reply.xcode, sizeof(res->xcode));
		{
			/* as the log shows it (like relay_reply's %r) */
			struct rl_result shown_rl = *rl;

			snprintf(shown_rl.limit.key, sizeof(shown_rl.limit.key),
			    "%s", shown_key(s, rl->limit.key, key));
			ratelimit_reason(&shown_rl, r, sizeof(r));
		}
		expand_reply(&cfg->limit_reply, r, res->text, sizeof(res->text));
		break;
	case LIMIT_ACTION_HOLD:
		action = monitor ? "would hold (mode monitor)" : "hold";
		metrics_limit(rl->limit.name, LIMIT_OUT_HOLD);
		res->hold = !monitor;
		break;
	default:
		action = "monitor";
		metrics_limit(rl->limit.name, LIMIT_OUT_MONITOR);
		break;
	}
	snprintf(r, sizeof(r), "%s over %s (%lu of %lu per %lu s)",
	    shown_key(s, rl->limit.key, key), rl->limit.name, rl->limit.count,
	    rl->limit.max, rl->limit.period_s);
	if (n < size)
		snprintf(reason + n, size - n, "; %s: limit_action %s", r, action);
	if (res->hold && !s->hold) {
		s->hold = 1;
		snprintf(s->hold_why, sizeof(s->hold_why), "%s", r);
	}
}

static void
put_limit(struct sg_session *s, struct evline *l, const struct rl_result *rl)
{
	char	key[SHOWN_MAX];

	if (!rl->consulted)
		return;
	evlog_obj_begin(l, "limit");
	evlog_text(l, "name", rl->limit.name);
	evlog_str(l, "key", shown_key(s, rl->limit.key, key));
	evlog_int(l, "count", (long long)rl->limit.count);
	evlog_int(l, "max", (long long)rl->limit.max);
	evlog_int(l, "period_s", (long long)rl->limit.period_s);
	evlog_obj_end(l);
}

static void
limit_anomalies(struct sg_session *s, const struct rl_result *rl)
{
	char	key[SHOWN_MAX];

	if (rl->store_change == RL_STORE_DOWN) {
		metrics_limit_store(0);
		anomaly(s, ANOMALY_LIMIT_STORE_DOWN, "rate-limit store %s "
		    "unreachable%s%.200s; limit_store_down = %s",
		    s->rl ? ratelimit_store_name(s->rl) : "?",
		    rl->store_error[0] ? ": " : "", rl->store_error,
		    s->cfg->limit_store_down == LIMIT_DOWN_LOCAL ? "local"
		    : "tempfail");
	} else if (rl->store_change == RL_STORE_UP) {
		metrics_limit_store(1);
		anomaly(s, ANOMALY_LIMIT_STORE_UP, "rate-limit store %s "
		    "reachable again", s->rl ? ratelimit_store_name(s->rl) : "?");
	}
	if (rl->verdict == RL_OVER && rl->first_over)
		anomaly(s, ANOMALY_LIMIT_EXCEEDED, "%s over %s (%lu of %lu per "
		    "%lu s)", shown_key(s, rl->limit.key, key), rl->limit.name,
		    rl->limit.count, rl->limit.max, rl->limit.period_s);
}

void
session_on_rcpt(struct sg_session *s, const char *rcpt,
    const char *const *params, size_t nparams, int mta_rejected,
    const struct sg_mta_says *says, struct sg_rcpt_result *res)
{
	struct evline l;
	struct sg_auth old;
	struct policy_result pr;
	struct rl_result rl;
	enum auth_change what;
	char	reason[1024], shownbuf[SHOWN_MAX];

	(void)params;
	(void)nparams;
	if (rcpt == NULL)
		rcpt = "";
	note_tls(s, says);
	s->seq++;
	s->rcpts++;
	what = note_auth(s, says, 0, s->seq, &old);
	pr = policy_decide_rcpt(s->cfg, s->client.family ? &s->client : NULL,
	    rcpt, s->auth.valid);
	reason_policy(s, &pr, rcpt, reason, sizeof(reason));
	memset(res, 0, sizeof(*res));
	memset(&rl, 0, sizeof(rl));
	if (mta_rejected) {
		res->verdict = VERDICT_MTA_REJECTED;
		snprintf(reason + strlen(reason), sizeof(reason) - strlen(reason),
		    "; already rejected by the MTA");
	} else if (pr.permitted) {
		res->verdict = VERDICT_ACCEPT;
		if (pr.relay)
			limit_rcpt(s, res, reason, sizeof(reason), &rl);
	} else {
		res->verdict = s->cfg->mode == MODE_MONITOR ?
		    VERDICT_WOULD_REJECT : VERDICT_REJECT;
		memcpy(res->code, s->cfg->relay_reply.code, sizeof(res->code));
		memcpy(res->xcode, s->cfg->relay_reply.xcode, sizeof(res->xcode));
		expand_reply(&s->cfg->relay_reply, reason, res->text,
		    sizeof(res->text));
		if (res->verdict == VERDICT_REJECT)
			s->rejected++;
	}

	metrics_count(verdict_counter(res->verdict));
	evlog_begin(&l, s->log, &s->line, s->id, s->seq, "rcpt");
	evlog_int(&l, "txn", s->txn);
	evlog_str(&l, "rcpt", shown(s, rcpt, shownbuf));
	evlog_bool(&l, "relay", pr.relay);
	evlog_text(&l, "verdict", verdict_name(res->verdict));
	if (res->code[0]) {
		char	reply[SG_REPLY_TEXT_MAX + 32];

		snprintf(reply, sizeof(reply), "%s%s%s %s", res->code,
		    res->xcode[0] ? " " : "", res->xcode, res->text);
		evlog_text(&l, "reply", reply);
	}
	evlog_text(&l, "reason", reason);
	put_auth(s, &l, "auth");
	put_limit(s, &l, &rl);
	evlog_end(&l);
	auth_anomalies(s, what, &old);
	limit_anomalies(s, &rl);
}

static void
txn_event(struct sg_session *s, const char *event)
{
	struct evline l;

	begin(s, &l, event);
	evlog_int(&l, "txn", s->txn);
	evlog_end(&l);
}

void
session_on_data(struct sg_session *s)
{
	txn_event(s, "data");
}

void
session_on_header(struct sg_session *s, const char *name, const char *value)
{
	s->txn_headers++;
	if (s->cfg->auth_results && authres_is_name(name))
		authres_txn_header(&s->ar, value, s->cfg->authserv_id);
}

/*
 * RFC 8601 section 5: at end of message, delete every Authentication-Results
 * that claims our authserv-id (forged or stale: only we may write them),
 * last first so that the indexes stay right, and add ours for an
 * authenticated session, naming the exact login or none at all. A claim
 * that could not be recorded refuses the message: it must not reach the
 * mailbox.
 */
void
session_ar_plan(struct sg_session *s, struct sg_ar_plan *plan)
{
	char	why[sizeof(plan->why)];

	memset(plan, 0, sizeof(*plan));
	/* headers never seen (not negotiated): nothing is known to edit */
	if (!s->cfg->auth_results || !(s->sees & SG_SEES_HEADERS))
		return;
	if (s->ar.lost) {
		plan->refuse = 1;
		snprintf(plan->why, sizeof(plan->why), "%s", s->ar.why);
		session_ar_failed(s, plan->why);
		return;
	}
	plan->delete = authres_txn_deletions(&s->ar, &plan->ndelete);
	s->ar_deleted = plan->ndelete;
	if (!s->auth.valid)
		return;
	if (s->auth.user_cut) {
		anomaly(s, ANOMALY_AUTH_RESULTS_SKIPPED, "no Authentication-Results "
		    "added: the login is longer than %zu bytes; the header "
		    "names no shorter identity", sizeof(s->auth.user) - 1);
		return;
	}
	if (authres_value(plan->value, sizeof(plan->value),
	    s->cfg->authserv_id, s->auth.user, why, sizeof(why)) < 0) {
		anomaly(s, ANOMALY_AUTH_RESULTS_SKIPPED, "no Authentication-Results "
		    "added: %s", why);
		return;
	}
	plan->add = 1;
}

void
session_ar_failed(struct sg_session *s, const char *why)
{
	snprintf(s->eom_refused, sizeof(s->eom_refused), "%s", why);
}

void
session_on_eoh(struct sg_session *s)
{
	if (s->sees & SG_SEES_HEADERS)
		txn_event(s, "eoh");
}

void
session_on_body(struct sg_session *s, size_t len)
{
	s->txn_size += len;
}

void
session_on_eom(struct sg_session *s, const char *queue_id)
{
	struct evline l;

	begin(s, &l, "eom");
	evlog_int(&l, "txn", s->txn);
	evlog_str(&l, "queue_id", empty(queue_id) ? NULL : queue_id);
	if (s->sees & SG_SEES_BODY)
		evlog_int(&l, "size", (long long)s->txn_size);
	else if (s->size_have == 2)
		evlog_int(&l, "size", (long long)s->size_mta);
	else if (s->size_have == 1)
		evlog_int(&l, "size", (long long)s->size_declared);
	else
		evlog_null(&l, "size");
	if (s->sees & SG_SEES_HEADERS)
		evlog_int(&l, "headers", s->txn_headers);
	if (s->eom_refused[0]) {
		evlog_text(&l, "verdict", "tempfail");
		evlog_text(&l, "reason", s->eom_refused);
	} else if (s->hold) {
		evlog_text(&l, "verdict", "hold");
		evlog_text(&l, "reason", s->hold_why);
		if (s->cfg->auth_results && (s->sees & SG_SEES_HEADERS))
			evlog_int(&l, "ar_deleted", (long long)s->ar_deleted);
	} else {
		evlog_text(&l, "verdict", "accept");
		if (s->cfg->auth_results && (s->sees & SG_SEES_HEADERS))
			evlog_int(&l, "ar_deleted", (long long)s->ar_deleted);
	}
	evlog_end(&l);
	txn_clear(s);
}

void
session_on_abort(struct sg_session *s)
{
	txn_event(s, "abort");
	s->resets++;
	if (s->auth.valid)
		s->auth.resets++;
	txn_clear(s);
}

void
session_on_unknown(struct sg_session *s, const char *command)
{
	struct evline l;
	unsigned seq;

	if (!s->tls_active)
		s->plaintext_seen = 1;
	begin(s, &l, "unknown");
	seq = s->seq;
	evlog_str(&l, "command", command ? command : "");
	evlog_end(&l);
	anomaly(s, ANOMALY_UNKNOWN_COMMAND, "the client sent a command the MTA "
	    "does not know (seq %u)", seq);
}

/*
 * how->abort_was_end: the front end knows that the abort just reported
 * ended the connection (QUIT or a lost connection inside a transaction)
 * and was no reset of the session.
 */
void
session_on_close(struct sg_session *s, const struct sg_close *how)
{
	struct evline l;
	struct timespec now;
	long long ms;

	if (how && how->abort_was_end && s->resets) {
		s->resets--;
		if (s->auth.valid && s->auth.resets)
			s->auth.resets--;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(now.tv_sec - s->start.tv_sec) * 1000
	    + (now.tv_nsec - s->start.tv_nsec) / 1000000;
	begin(s, &l, "close");
	evlog_int(&l, "duration_ms", ms < 0 ? 0 : ms);
	evlog_int(&l, "transactions", s->transactions);
	evlog_int(&l, "resets", s->resets);
	evlog_int(&l, "rcpts", s->rcpts);
	evlog_int(&l, "rejected", s->rejected);
	put_auth(s, &l, "auth");
	if (how && how->reason)
		evlog_text(&l, "reason", how->reason);
	evlog_end(&l);
}
