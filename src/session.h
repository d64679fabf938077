#ifndef SG_SESSION_H
#define SG_SESSION_H

#include <stddef.h>

#include "authres.h"
#include "config.h"
#include "evlog.h"

struct sg_session;

/*
 * The core's input vocabulary. It knows no protocol: a front end (the
 * milter in milter.c, the policy-delegation server in policyd.c, a test)
 * translates what its protocol says into these calls. One session is one
 * SMTP connection; it is used by one thread at a time.
 *
 *	session_new(cfg, log, front)	one connection begins (counted in
 *					the metrics here, nowhere else)
 *	session_on_connect(s, name, addr, port, daemon)
 *	session_on_helo(s, name, says)	each HELO/EHLO
 *	session_on_mail(s, sender, params, nparams, says, res)
 *					each MAIL FROM: starts a transaction;
 *					res (may be NULL): the answer to MAIL
 *					(the sender/login check)
 *	session_on_rcpt(s, rcpt, params, nparams, mta_rejected, says, res)
 *					each RCPT TO: the relay decision
 *	session_on_data/eoh/header/body/eom, session_on_abort (RSET or any
 *	other end of a transaction), session_on_unknown
 *	session_on_close(s, how)	the connection ended; then
 *	session_free(s)
 *
 * The usual way to hold a session is a connection (conn.h), which also
 * holds the configuration snapshot and renews it at each MAIL.
 *
 * struct sg_mta_says: what the MTA says at one event. Every field may be
 * NULL or empty, meaning "not said at this event". A front end passes
 * only what the MTA reported for this very event, never a value it kept
 * from an earlier one (the milter drops libmilter's leftovers). Any event
 * may carry the TLS state (S3: the first event in TLS after plaintext is
 * the boundary); the policy protocol carries SASL and TLS state on every
 * request, the milter carries the login at HELO and MAIL.
 *
 * struct sg_front: which front end reaches the session ("via" on the
 * connect event) and which events its protocol shows. An anomaly about an
 * event the front end cannot see is never raised: mail_without_helo needs
 * SG_SEES_HELO. A front end that does not see MAIL but learns that a new
 * transaction began (policy: a new instance) may call session_on_mail()
 * with what it knows. session_set_sees() narrows what one connection
 * shows (the milter skips headers and body when it negotiated them away):
 * without SG_SEES_HEADERS the eom event has no header count and end of
 * message edits no header; without SG_SEES_BODY the eom size is the one
 * the MTA reports (session_set_msg_size) or the client declared (SIZE=).
 *
 * session_may_refuse_at_mail(cfg): whether some check of cfg can refuse
 * at MAIL FROM (sender_login_check on); a front end that can waive the
 * MAIL reply (milter SMFIP_NR_MAIL) does so only when this says no.
 *
 * session_set_ratelimit(s, rl): the rate-limit engine (ratelimit.h) the
 * relay recipients of s are counted in; none (the default): no limits.
 * conn_open() gives every session the daemon's engine.
 *
 * session_hold(s, why, size): limit_action = hold put the current
 * transaction over a limit: the front end asks the MTA to hold the
 * message (milter: smfi_quarantine at end of message, with why as the
 * reason; policy: action=HOLD). Each recipient accepted that way has
 * res->hold set. Ask before session_on_eom(), which ends the
 * transaction.
 */
struct sg_tls_info {
	const char *version;	/* e.g. TLSv1.3; set: the session is in TLS */
	const char *cipher;
	const char *bits;
};

struct sg_mta_says {
	struct sg_tls_info tls;	/* TLS state (S3); empty: plaintext */
	const char *login;	/* SASL login: the only proof (S1) */
	const char *mech;	/* SASL mechanism */
	const char *auth_param;	/* the client's AUTH= claim, never trusted */
};

#define SG_SEES_HELO	0x01u	/* HELO/EHLO events */
#define SG_SEES_MAIL	0x02u	/* MAIL FROM events */
#define SG_SEES_ABORT	0x04u	/* RSET (inside a transaction) */
#define SG_SEES_DATA	0x08u	/* DATA and end of message */
#define SG_SEES_HEADERS	0x10u	/* header lines and end of headers */
#define SG_SEES_BODY	0x20u	/* body chunks */
#define SG_SEES_ALL	0xffu

struct sg_front {
	const char *via;	/* "milter", "policy" */
	unsigned sees;		/* SG_SEES_* */
};

extern const struct sg_front sg_front_milter;	/* sees everything */
extern const struct sg_front sg_front_policy;	/* sees RCPT (and MAIL) */

/* How a connection ended (session_on_close); NULL: an ordinary close. */
struct sg_close {
	int	 abort_was_end;	/* the last abort ended the connection, it
				   was no RSET (libmilter aborts before close) */
	const char *reason;	/* logged as "reason" (e.g. "idle"), or NULL */
};

enum sg_verdict {
	VERDICT_ACCEPT,
	VERDICT_REJECT,
	VERDICT_WOULD_REJECT,
	VERDICT_TEMPFAIL,
	VERDICT_MTA_REJECTED,
};

#define SG_REPLY_TEXT_MAX	960

/* The answer to one RCPT (or MAIL: the sender/login check). */
struct sg_rcpt_result {
	enum sg_verdict	verdict;
	int		hold;	/* accepted, but hold the message */
	char		code[4];
	char		xcode[12];
	char		text[SG_REPLY_TEXT_MAX + 1];
};

/* What end of message does to Authentication-Results (auth_results = yes). */
struct sg_ar_plan {
	int	 refuse;		/* tempfail: a claim cannot be deleted */
	char	 why[160];		/* ... why */
	size_t	 ndelete;
	const unsigned *delete;		/* 1-based, descending; valid until the
					   session's next event */
	int	 add;
	char	 value[AUTHRES_VALUE_MAX + 1];	/* the header to insert */
};

void	session_ids_init(void);
struct sg_session *session_new(const struct sg_config *, struct evlog *,
	    const struct sg_front *);
void	session_free(struct sg_session *);
const char *session_id(const struct sg_session *);
const struct sg_config *session_config(const struct sg_session *);
void	session_set_config(struct sg_session *, const struct sg_config *);
void	session_set_sees(struct sg_session *, unsigned);
unsigned session_sees(const struct sg_session *);
void	session_set_msg_size(struct sg_session *, const char *);
int	session_may_refuse_at_mail(const struct sg_config *);
struct ratelimit;
void	session_set_ratelimit(struct sg_session *, struct ratelimit *);
int	session_hold(const struct sg_session *, char *, size_t);

void	session_on_connect(struct sg_session *, const char *, const char *,
	    unsigned, const char *);
void	session_on_helo(struct sg_session *, const char *,
	    const struct sg_mta_says *);
void	session_on_mail(struct sg_session *, const char *,
	    const char *const *, size_t, const struct sg_mta_says *,
	    struct sg_rcpt_result *);
void	session_on_rcpt(struct sg_session *, const char *,
	    const char *const *, size_t, int, const struct sg_mta_says *,
	    struct sg_rcpt_result *);
void	session_on_data(struct sg_session *);
void	session_on_header(struct sg_session *, const char *, const char *);
void	session_on_eoh(struct sg_session *);
void	session_on_body(struct sg_session *, size_t);
void	session_on_eom(struct sg_session *, const char *);
void	session_ar_plan(struct sg_session *, struct sg_ar_plan *);
void	session_ar_failed(struct sg_session *, const char *);
void	session_on_abort(struct sg_session *);
void	session_on_unknown(struct sg_session *, const char *);
void	session_on_close(struct sg_session *, const struct sg_close *);

const char *verdict_name(enum sg_verdict);
void	tempfail_result(struct sg_rcpt_result *, const char *);
void	session_rcpt_unchecked(struct sg_rcpt_result *);

/* Read-only views for the milter layer and the tests. */
int	session_authenticated(const struct sg_session *);
const char *session_auth_user(const struct sg_session *);
unsigned session_seq(const struct sg_session *);
unsigned session_txn(const struct sg_session *);
int	session_in_txn(const struct sg_session *);

#endif
