/*
 * NAME
 *	milter - libmilter callbacks, translated to session events
 * SYNOPSIS
 *	#include "milter.h"
 *
 *	int milter_register(void)
 * DESCRIPTION
 *	The thin edge between libmilter and the pure core. Each callback
 *	takes the connection (conn.h) from smfi_getpriv(), reads the macros
 *	it needs with smfi_getsymval(), translates them into the core's
 *	neutral inputs (session.h: addresses, ESMTP parameters, what the MTA
 *	says of SASL and TLS, {rcpt_mailer} "error" as "the MTA rejected
 *	it"), calls the matching session_on_*() function and turns the
 *	verdict into SMFIS_* and, for a refusal, smfi_setreply(). No
 *	per-connection state lives anywhere but in the private pointer:
 *	libmilter's worker pool runs one connection's callbacks on varying
 *	threads.
 *
 *	xxfi_negotiate asks the MTA for the minimum, per connection, from
 *	the configuration snapshot current at that moment:
 *	- SMFIP_RCPT_REJ: recipients the MTA rejected itself still reach
 *	  the log;
 *	- SMFIP_NOBODY always: the eom size is then what the MTA reports
 *	  ({msg_size}, Sendmail) or what the client declared (SIZE=), see
 *	  session.c;
 *	- SMFIP_NOHDRS and SMFIP_NOEOH unless auth_results = yes; with them
 *	  the header actions (SMFIF_ADDHDRS, SMFIF_CHGHDRS) are not asked
 *	  either, and the session is told that this connection shows no
 *	  headers (session_set_sees): it then edits no header at end of
 *	  message even when a reload turns auth_results on during the
 *	  connection (the claims it would have to delete were never seen),
 *	  and logs neither eoh nor a header count;
 *	- no reply (SMFIP_NR_*) for connect, HELO, DATA, unknown commands,
 *	  and, when headers are asked, for headers and end of headers:
 *	  sessguard never refuses there, and those callbacks answer
 *	  SMFIS_NOREPLY. MAIL gets SMFIP_NR_MAIL too unless
 *	  session_may_refuse_at_mail() says a check of the snapshot can
 *	  refuse there; a reload that adds such a check applies to
 *	  connections negotiated after it.
 *	Only flags the MTA offered are asked for (libmilter offers every NR
 *	flag itself and answers "continue" for an MTA that lacks one). The
 *	flags asked are kept in the private data, which is therefore
 *	allocated at negotiation; when that fails, no NR flag is asked, so
 *	that every stage can still answer tempfail. Skipping stages and
 *	waiving replies changes neither which callbacks run for HELO, MAIL
 *	and RCPT nor libmilter's macro sets, so get_says() below is not
 *	affected. sessguard also asks for the macros it reads, so that
 *	neither Postfix nor Sendmail needs its macro lists changed: the TLS
 *	macros at HELO, MAIL and RCPT (S3: a client need not send EHLO after
 *	STARTTLS), the login at HELO too (an MTA that keeps a pre-TLS login
 *	reports it at the EHLO after STARTTLS), {msg_size} at end of message.
 *
 *	The SASL macros reach the core only as the report of the event at
 *	hand: libmilter keeps each stage's macros until the MTA sends that
 *	stage's set again, and smfi_getsymval() falls back to earlier stages,
 *	so a value left from an earlier MAIL or from HELO is dropped (see
 *	get_says()).
 *
 *	A permitted recipient gets SMFIS_CONTINUE, never SMFIS_ACCEPT, which
 *	would end filtering of the whole message. MAIL and RCPT answer what
 *	the core says (session.c: the sender/login check at MAIL, the relay
 *	decision and the rate limits at RCPT); a transaction that
 *	limit_action = hold put over a limit (session_hold()) is quarantined
 *	at end of message (smfi_quarantine, SMFIF_QUARANTINE is asked at
 *	negotiation): Postfix puts it in its hold queue, Sendmail in its
 *	quarantine.
 *
 *	libmilter also calls xxfi_abort when QUIT or a lost connection ends
 *	a transaction; an abort right before xxfi_close is therefore
 *	reported to the core as the end of the connection, not as a reset.
 *
 *	milter_register() registers the callbacks with libmilter.
 * DIAGNOSTICS
 *	End of message answers TEMPFAIL (451 4.3.0), with a warning and the
 *	eom event's reason, when an Authentication-Results header claiming
 *	our authserv-id cannot be deleted (not recorded, or smfi_chgheader
 *	failed), or when a message to be held cannot be quarantined (the MTA
 *	did not grant SMFIF_QUARANTINE): such a message is never delivered.
 *
 *	A connection whose session cannot be allocated gets a warning and
 *	TEMPFAIL at the first stage that has a reply: RCPT, or connect,
 *	HELO or MAIL when their reply was not waived, and end of message
 *	(sessguard never accepts what it could not check). The stages
 *	without reply return SMFIS_NOREPLY and keep nothing. After
 *	SMFIC_QUIT_NC (a new connection on the same milter link, without a
 *	new negotiation) the flags are not known: callbacks then return
 *	their verdicts, which libmilter turns into no reply where one was
 *	waived, and headers count as shown only once one arrives.
 *	smfi_register() failure is returned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmilter/mfapi.h>

#include "conn.h"
#include "milter.h"
#include "runtime.h"
#include "session.h"
#include "util/ipaddr.h"
#include "util/msg.h"

#define MAX_ARGS	64	/* ESMTP parameters kept of one MAIL/RCPT */
#define AR_TEXT	"Authentication-Results that claim this server cannot be " \
		"removed; try again later"

/*
 * The SASL macros, read only as this event's own report. libmilter keeps
 * the macros of each stage until the MTA sends that stage's set again
 * (a new MAIL does not clear the MAIL set: when the MTA sends no macros
 * with it, the previous MAIL's are still there) and smfi_getsymval()
 * falls back from the latest stage to earlier ones. A value is this
 * event's own only if it lies in a macro buffer that is neither the HELO
 * set nor the set an earlier MAIL or RCPT event saw: libmilter allocates
 * a stage's new buffer before it frees the old one, so a fresh set never
 * has the address of the set it replaces. The addresses seen are
 * forgotten when libmilter frees those sets (HELO frees MAIL and later,
 * MAIL frees RCPT and later), so a reused address is never mistaken.
 */
enum sasl_sym { SYM_AUTHEN, SYM_TYPE, SYM_AUTHOR, NSYM };
static const char *const sym_name[NSYM] = {
	"{auth_authen}", "{auth_type}", "{auth_author}"
};
enum stage { STAGE_HELO, STAGE_MAIL, STAGE_RCPT, NSTAGE };

/* The private data of one connection. */
struct conn {
	struct sg_conn	*core;		/* session and configuration; NULL:
					   not set up (out of memory) */
	unsigned long	 pflags;	/* SMFIP_* negotiated */
	int		 known;		/* pflags known: this link negotiated */
	int		 abort_last;	/* the latest callback was abort */
	const char *seen[NSTAGE][NSYM];	/* value addresses seen per stage */
};

/* The connection's session, for every callback but abort and close. */
static struct sg_session *
get_session(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);

	if (c == NULL)
		return NULL;
	c->abort_last = 0;
	return c->core ? conn_session(c->core) : NULL;
}

/*
 * The answer of a stage whose reply may have been waived (nr: its
 * SMFIP_NR_* flag): SMFIS_NOREPLY when it was, else r.
 */
static sfsistat
reply(SMFICTX *ctx, unsigned long nr, sfsistat r)
{
	struct conn *c = smfi_getpriv(ctx);

	return c != NULL && c->known && (c->pflags & nr) ? SMFIS_NOREPLY : r;
}

/* Whether the current configuration asks for headers (auth_results). */
static int
want_headers(void)
{
	struct sg_snapshot *snap = runtime_acquire();
	int	yes;

	if (snap == NULL)
		return 0;
	yes = snapshot_config(snap)->auth_results;
	runtime_release(snap);
	return yes;
}

/* Whether a check of the current configuration can refuse at MAIL. */
static int
mail_may_refuse(void)
{
	struct sg_snapshot *snap = runtime_acquire();
	int	yes;

	if (snap == NULL)
		return 1;
	yes = session_may_refuse_at_mail(snapshot_config(snap));
	runtime_release(snap);
	return yes;
}

static char *
getsym(SMFICTX *ctx, const char *name)
{
	return smfi_getsymval(ctx, (char *)name);
}

static size_t
count_args(char **argv)
{
	size_t	n = 0;

	while (argv && argv[n] && n < MAX_ARGS)
		n++;
	return n;
}

static sfsistat
mlfi_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	struct conn *c = smfi_getpriv(ctx);
	unsigned long want = SMFIP_RCPT_REJ | SMFIP_NOBODY;
	unsigned long acts = SMFIF_SETSYMLIST | SMFIF_QUARANTINE;
	int	hdrs = want_headers();

	(void)f2;
	(void)f3;
	if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL
	    && smfi_setpriv(ctx, c) != MI_SUCCESS) {
		free(c);
		c = NULL;
	}
	if (hdrs)
		acts |= SMFIF_ADDHDRS | SMFIF_CHGHDRS;
	else
		want |= SMFIP_NOHDRS | SMFIP_NOEOH;
	if (c != NULL) {	/* the waived replies are remembered */
		want |= SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_DATA
		    | SMFIP_NR_UNKN;
		if (hdrs)
			want |= SMFIP_NR_HDR | SMFIP_NR_EOH;
		if (!mail_may_refuse())
			want |= SMFIP_NR_MAIL;
	}
	*pf0 = f0 & acts;
	*pf1 = f1 & want;
	*pf2 = 0;
	*pf3 = 0;
	if (c != NULL) {
		c->pflags = *pf1;
		c->known = 1;
	}
	if (f0 & SMFIF_SETSYMLIST) {
		smfi_setsymlist(ctx, SMFIM_CONNECT, "j {daemon_name}");
		/*
		 * TLS at every event (S3: the client need not send EHLO
		 * after STARTTLS); the login at HELO too, to see one that
		 * the MTA keeps across STARTTLS.
		 */
		smfi_setsymlist(ctx, SMFIM_HELO, "{tls_version} {cipher} "
		    "{cipher_bits} {auth_authen} {auth_type}");
		smfi_setsymlist(ctx, SMFIM_ENVFROM, "i {auth_type} "
		    "{auth_authen} {auth_author} {tls_version} {cipher} "
		    "{cipher_bits}");
		smfi_setsymlist(ctx, SMFIM_ENVRCPT, "{rcpt_mailer} "
		    "{tls_version} {cipher} {cipher_bits}");
		smfi_setsymlist(ctx, SMFIM_EOM, "i {msg_size}");
	}
	return SMFIS_CONTINUE;
}

/* What the session sees of this connection, from the flags negotiated. */
static unsigned
conn_sees(const struct conn *c)
{
	unsigned sees = sg_front_milter.sees;

	if (!c->known || (c->pflags & SMFIP_NOHDRS))
		sees &= ~SG_SEES_HEADERS;
	if (!c->known || (c->pflags & SMFIP_NOBODY))
		sees &= ~SG_SEES_BODY;
	return sees;
}

static void
mconn_free(struct conn *c)
{
	if (c == NULL)
		return;
	conn_free(c->core);
	free(c);
}

static sfsistat
mlfi_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
	struct conn *c = smfi_getpriv(ctx);
	struct ipaddr a;
	char	addr[64];
	unsigned port = 0;

	/* none: negotiation could not allocate it, or after SMFIC_QUIT_NC */
	if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL
	    && smfi_setpriv(ctx, c) != MI_SUCCESS) {
		free(c);
		c = NULL;
	}
	if (c == NULL || (c->core == NULL
	    && (c->core = conn_open(&sg_front_milter)) == NULL)) {
		msg_warn("connect from %.64s: out of memory; tempfail at "
		    "the first stage with a reply", hostname ? hostname
		    : "unknown");
		return reply(ctx, SMFIP_NR_CONN, SMFIS_TEMPFAIL);
	}
	session_set_sees(conn_session(c->core), conn_sees(c));
	if (ipaddr_from_sockaddr(hostaddr, &a, &port) == 0)
		ipaddr_format(&a, addr, sizeof(addr));
	else
		addr[0] = '\0';
	session_on_connect(conn_session(c->core), hostname,
	    addr[0] ? addr : NULL, port, getsym(ctx, "{daemon_name}"));
	return reply(ctx, SMFIP_NR_CONN, SMFIS_CONTINUE);
}

/* The SASL macros of this stage's own set; see sasl_sym above. */
static void
get_says(SMFICTX *ctx, enum stage stage, struct sg_mta_says *says)
{
	struct conn *c = smfi_getpriv(ctx);
	const char *v[NSYM];
	int	i, st;

	memset(says, 0, sizeof(*says));
	/* TLS never goes away: its macros from any stage are the truth */
	says->tls.version = getsym(ctx, "{tls_version}");
	says->tls.cipher = getsym(ctx, "{cipher}");
	says->tls.bits = getsym(ctx, "{cipher_bits}");
	if (c == NULL)
		return;
	for (st = stage + 1; st < NSTAGE; st++)	/* libmilter freed them */
		for (i = 0; i < NSYM; i++)
			c->seen[st][i] = NULL;
	for (i = 0; i < NSYM; i++) {
		const char *p = getsym(ctx, sym_name[i]);

		v[i] = NULL;
		for (st = 0; st < (int)stage && p; st++)
			if (p == c->seen[st][i])
				p = NULL;	/* an earlier stage's value */
		if (p == NULL)
			c->seen[stage][i] = NULL;  /* not in this stage's set */
		else if (p != c->seen[stage][i])
			c->seen[stage][i] = v[i] = p;	/* sent with this event */
		/* else: the set an earlier event of this stage saw */
	}
	says->login = v[SYM_AUTHEN];
	says->mech = v[SYM_TYPE];
	says->auth_param = v[SYM_AUTHOR];
}

static sfsistat
mlfi_helo(SMFICTX *ctx, char *helo)
{
	struct sg_session *s = get_session(ctx);
	struct sg_mta_says says;

	if (s == NULL)
		return reply(ctx, SMFIP_NR_HELO, SMFIS_TEMPFAIL);
	get_says(ctx, STAGE_HELO, &says);
	session_on_helo(s, helo, &says);
	return reply(ctx, SMFIP_NR_HELO, SMFIS_CONTINUE);
}

static sfsistat answer(SMFICTX *, const struct sg_rcpt_result *);

static sfsistat
mlfi_envfrom(SMFICTX *ctx, char **argv)
{
	struct sg_session *s = get_session(ctx);
	struct conn *c = smfi_getpriv(ctx);
	struct sg_rcpt_result res;
	struct sg_mta_says says;
	size_t	n = count_args(argv);

	if (s == NULL)
		return reply(ctx, SMFIP_NR_MAIL, SMFIS_TEMPFAIL);
	get_says(ctx, STAGE_MAIL, &says);
	conn_on_mail(c->core, n > 0 ? argv[0] : NULL,
	    (const char *const *)argv + (n > 0), n > 0 ? n - 1 : 0, &says,
	    &res);
	return reply(ctx, SMFIP_NR_MAIL, answer(ctx, &res));
}

/* smfi_setreply() formats the text: no CR/LF, '%' doubled, bounded. */
static void
set_reply(SMFICTX *ctx, const struct sg_rcpt_result *res)
{
	char	text[SG_REPLY_TEXT_MAX * 2 + 1];
	const char *p;
	size_t	n = 0;

	for (p = res->text; *p && n + 2 < sizeof(text) && n < 900; p++) {
		if (*p == '%')
			text[n++] = '%';
		text[n++] = (*p == '\r' || *p == '\n') ? ' ' : *p;
	}
	text[n] = '\0';
	if (smfi_setreply(ctx, (char *)res->code,
	    res->xcode[0] ? (char *)res->xcode : NULL, text) != MI_SUCCESS)
		msg_warn("smfi_setreply failed for reply %s %s",
		    res->code, res->xcode);
}

/*
 * The core's answer to MAIL or RCPT: a refusal with its reply (the status
 * follows the reply code: smfi_setreply takes 4xx only with TEMPFAIL),
 * else continue.
 */
static sfsistat
answer(SMFICTX *ctx, const struct sg_rcpt_result *res)
{
	switch (res->verdict) {
	case VERDICT_REJECT:
	case VERDICT_TEMPFAIL:
		set_reply(ctx, res);
		return res->code[0] == '4' ? SMFIS_TEMPFAIL : SMFIS_REJECT;
	default:
		return SMFIS_CONTINUE;
	}
}

static sfsistat
mlfi_envrcpt(SMFICTX *ctx, char **argv)
{
	struct sg_session *s = get_session(ctx);
	struct sg_mta_says says;
	struct sg_rcpt_result res;
	const char *mailer;
	size_t	n = count_args(argv);

	if (s == NULL) {
		session_rcpt_unchecked(&res);
		set_reply(ctx, &res);
		return SMFIS_TEMPFAIL;
	}
	get_says(ctx, STAGE_RCPT, &says);
	/* SMFIP_RCPT_REJ: a recipient the MTA refused comes with mailer error */
	mailer = getsym(ctx, "{rcpt_mailer}");
	session_on_rcpt(s, n > 0 ? argv[0] : NULL,
	    (const char *const *)argv + (n > 0), n > 0 ? n - 1 : 0,
	    mailer != NULL && strcmp(mailer, "error") == 0, &says, &res);
	return answer(ctx, &res);
}

static sfsistat
mlfi_data(SMFICTX *ctx)
{
	struct sg_session *s = get_session(ctx);

	if (s == NULL)
		return reply(ctx, SMFIP_NR_DATA, SMFIS_TEMPFAIL);
	session_on_data(s);
	return reply(ctx, SMFIP_NR_DATA, SMFIS_CONTINUE);
}

/*
 * Headers shown where the flags are not known (after SMFIC_QUIT_NC): the
 * session then edits Authentication-Results as configured; a header
 * action the MTA did not grant makes end of message answer tempfail.
 * A connection negotiated without headers never edits them, even if an
 * MTA sends headers all the same.
 */
static void
headers_arrive(SMFICTX *ctx, struct sg_session *s)
{
	struct conn *c = smfi_getpriv(ctx);

	if (!c->known)
		session_set_sees(s, session_sees(s) | SG_SEES_HEADERS);
}

static sfsistat
mlfi_header(SMFICTX *ctx, char *name, char *value)
{
	struct sg_session *s = get_session(ctx);

	if (s == NULL)
		return reply(ctx, SMFIP_NR_HDR, SMFIS_TEMPFAIL);
	headers_arrive(ctx, s);
	session_on_header(s, name, value);
	return reply(ctx, SMFIP_NR_HDR, SMFIS_CONTINUE);
}

static sfsistat
mlfi_eoh(SMFICTX *ctx)
{
	struct sg_session *s = get_session(ctx);

	if (s == NULL)
		return reply(ctx, SMFIP_NR_EOH, SMFIS_TEMPFAIL);
	headers_arrive(ctx, s);
	session_on_eoh(s);
	return reply(ctx, SMFIP_NR_EOH, SMFIS_CONTINUE);
}

static sfsistat
mlfi_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct sg_session *s = get_session(ctx);

	(void)chunk;
	if (s == NULL)
		return SMFIS_TEMPFAIL;
	/* an MTA that did not take SMFIP_NOBODY: count the bytes */
	session_set_sees(s, session_sees(s) | SG_SEES_BODY);
	session_on_body(s, len);
	return SMFIS_CONTINUE;
}

/*
 * End of message refused because a claim on our authserv-id could not be
 * deleted: delivering it would hand the forged header to the mailbox.
 */
static sfsistat
eom_refuse(SMFICTX *ctx, struct sg_session *s, const char *why,
    const char *text)
{
	session_ar_failed(s, why);
	msg_warn("session %s: message refused (tempfail): %s", session_id(s),
	    why);
	if (smfi_setreply(ctx, "451", "4.3.0", (char *)text) != MI_SUCCESS)
		msg_warn("session %s: cannot set the reply", session_id(s));
	session_on_eom(s, getsym(ctx, "i"));
	return SMFIS_TEMPFAIL;
}

static sfsistat
mlfi_eom(SMFICTX *ctx)
{
	struct sg_session *s = get_session(ctx);
	struct sg_ar_plan plan;
	char	why[sizeof(plan.why)], hold[256];
	size_t	i;

	if (s == NULL)
		return SMFIS_TEMPFAIL;
	session_set_msg_size(s, getsym(ctx, "{msg_size}"));
	session_ar_plan(s, &plan);
	if (plan.refuse)
		return eom_refuse(ctx, s, plan.why, AR_TEXT);
	for (i = 0; i < plan.ndelete; i++)
		if (smfi_chgheader(ctx, AUTHRES_NAME, (int)plan.delete[i],
		    NULL) != MI_SUCCESS) {
			snprintf(why, sizeof(why), "cannot delete "
			    "Authentication-Results #%u", plan.delete[i]);
			return eom_refuse(ctx, s, why, AR_TEXT);
		}
	if (plan.add && smfi_insheader(ctx, 0, AUTHRES_NAME, plan.value)
	    != MI_SUCCESS)
		msg_warn("session %s: cannot add Authentication-Results",
		    session_id(s));
	/* limit_action = hold: a message the MTA would not hold is refused */
	if (session_hold(s, hold, sizeof(hold))
	    && smfi_quarantine(ctx, hold) != MI_SUCCESS)
		return eom_refuse(ctx, s, "cannot hold the message (the MTA "
		    "did not grant quarantine)", "Rate limit exceeded; "
		    "try again later");
	session_on_eom(s, getsym(ctx, "i"));
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_abort(SMFICTX *ctx)
{
	struct sg_session *s = get_session(ctx);
	struct conn *c = smfi_getpriv(ctx);

	if (s != NULL) {
		session_on_abort(s);
		c->abort_last = 1;
	}
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_unknown(SMFICTX *ctx, const char *cmd)
{
	struct sg_session *s = get_session(ctx);

	if (s == NULL)
		return reply(ctx, SMFIP_NR_UNKN, SMFIS_TEMPFAIL);
	session_on_unknown(s, cmd);
	return reply(ctx, SMFIP_NR_UNKN, SMFIS_CONTINUE);
}

static sfsistat
mlfi_close(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);
	struct sg_close how = { 0, NULL };

	if (c == NULL)
		return SMFIS_CONTINUE;
	/* libmilter aborts a transaction that QUIT or a lost link ends */
	how.abort_was_end = c->abort_last;
	smfi_setpriv(ctx, NULL);
	conn_close(c->core, &how);
	c->core = NULL;
	mconn_free(c);
	return SMFIS_CONTINUE;
}

int
milter_register(void)
{
	struct smfiDesc desc;

	memset(&desc, 0, sizeof(desc));
	desc.xxfi_name = "sessguard";
	desc.xxfi_version = SMFI_VERSION;
	desc.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_SETSYMLIST
	    | SMFIF_QUARANTINE;
	desc.xxfi_connect = mlfi_connect;
	desc.xxfi_helo = mlfi_helo;
	desc.xxfi_envfrom = mlfi_envfrom;
	desc.xxfi_envrcpt = mlfi_envrcpt;
	desc.xxfi_header = mlfi_header;
	desc.xxfi_eoh = mlfi_eoh;
	desc.xxfi_body = mlfi_body;
	desc.xxfi_eom = mlfi_eom;
	desc.xxfi_abort = mlfi_abort;
	desc.xxfi_close = mlfi_close;
	desc.xxfi_unknown = mlfi_unknown;
	desc.xxfi_data = mlfi_data;
	desc.xxfi_negotiate = mlfi_negotiate;
	return smfi_register(desc);
}
