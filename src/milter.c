/*
 * NAME
 *	milter - libmilter callbacks, translated to session events
 * SYNOPSIS
 *	#include "milter.h"
 *
 *	int milter_register(void)
 * DESCRIPTION
 *	The thin edge between libmilter and the pure core. Each callback
 *	takes the connection's sg_session from smfi_getpriv(), reads the
 *	macros it needs with smfi_getsymval(), calls the matching
 *	session_on_*() function and turns the verdict into SMFIS_* and, for a
 *	refusal, smfi_setreply(). No per-connection state lives anywhere but
 *	in the private pointer: libmilter's worker pool runs one connection's
 *	callbacks on varying threads.
 *
 *	xxfi_negotiate asks for SMFIP_RCPT_REJ (recipients the MTA rejected
 *	itself still reach the log), skips no stage, and asks for the macros
 *	sessguard reads, so that neither Postfix nor Sendmail needs its macro
 *	lists changed.
 *
 *	A permitted recipient gets SMFIS_CONTINUE, never SMFIS_ACCEPT, which
 *	would end filtering of the whole message.
 *
 *	The configuration comes from runtime_acquire(): taken at connect and
 *	renewed at every MAIL, so a reload applies from the next transaction
 *	and never in the middle of one.
 *
 *	milter_register() registers the callbacks with libmilter.
 * DIAGNOSTICS
 *	End of message answers TEMPFAIL (451 4.3.0), with a warning and the
 *	eom event's reason, when an Authentication-Results header claiming
 *	our authserv-id cannot be deleted (not recorded, or smfi_chgheader
 *	failed): such a message is never delivered.
 *
 *	A connection whose session cannot be allocated gets TEMPFAIL and a
 *	warning; so does any later event of it (sessguard never accepts
 *	what it could not check). smfi_register() failure is returned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmilter/mfapi.h>

#include "metrics.h"
#include "milter.h"
#include "runtime.h"
#include "session.h"
#include "util/msg.h"

#define MAX_ARGS	64	/* ESMTP parameters kept of one MAIL/RCPT */

/* The private data of one connection. */
struct conn {
	struct sg_session  *session;
	struct sg_snapshot *snap;	/* the configuration it uses */
};

static struct sg_session *
get_session(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);

	return c ? c->session : NULL;
}

/* At MAIL: a transaction starts with the newest configuration. */
static void
refresh_config(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);
	struct sg_snapshot *snap;

	if (c == NULL || (snap = runtime_acquire()) == NULL)
		return;
	if (snap == c->snap) {
		runtime_release(snap);
		return;
	}
	session_set_config(c->session, snapshot_config(snap));
	runtime_release(c->snap);
	c->snap = snap;
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
	(void)f2;
	(void)f3;
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_SETSYMLIST);
	*pf1 = f1 & SMFIP_RCPT_REJ;
	*pf2 = 0;
	*pf3 = 0;
	if (f0 & SMFIF_SETSYMLIST) {
		smfi_setsymlist(ctx, SMFIM_CONNECT, "j {daemon_name}");
		smfi_setsymlist(ctx, SMFIM_HELO,
		    "{tls_version} {cipher} {cipher_bits}");
		smfi_setsymlist(ctx, SMFIM_ENVFROM,
		    "i {auth_type} {auth_authen} {auth_author}");
		smfi_setsymlist(ctx, SMFIM_ENVRCPT, "{rcpt_mailer}");
		smfi_setsymlist(ctx, SMFIM_EOM, "i");
	}
	return SMFIS_CONTINUE;
}

static void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	session_free(c->session);
	runtime_release(c->snap);
	free(c);
}

static sfsistat
mlfi_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL
	    || (c->snap = runtime_acquire()) == NULL
	    || (c->session = session_new(snapshot_config(c->snap),
	    runtime_log())) == NULL) {
		msg_warn("connect from %.64s: out of memory; answering tempfail",
		    hostname ? hostname : "unknown");
		conn_free(c);
		return SMFIS_TEMPFAIL;
	}
	if (smfi_setpriv(ctx, c) != MI_SUCCESS) {
		msg_warn("connect from %.64s: smfi_setpriv failed; "
		    "answering tempfail", hostname ? hostname : "unknown");
		conn_free(c);
		return SMFIS_TEMPFAIL;
	}
	metrics_count(M_SESSIONS);
	metrics_live(1);
	session_on_connect(c->session, hostname, hostaddr,
	    getsym(ctx, "{daemon_name}"));
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_helo(SMFICTX *ctx, char *helo)
{
	struct sg_session *s = get_session(ctx);
	struct sg_tls_macros tls;

	if (s == NULL)
		return SMFIS_TEMPFAIL;
	tls.version = getsym(ctx, "{tls_version}");
	tls.cipher = getsym(ctx, "{cipher}");
	tls.bits = getsym(ctx, "{cipher_bits}");
	session_on_helo(s, helo, &tls);
	return SMFIS_CONTINUE;
}

static void
get_auth(SMFICTX *ctx, struct sg_auth_macros *am)
{
	am->authen = getsym(ctx, "{auth_authen}");
	am->type = getsym(ctx, "{auth_type}");
	am->author = getsym(ctx, "{auth_author}");
}

static sfsistat
mlfi_envfrom(SMFICTX *ctx, char **argv)
{
	struct sg_session *s = get_session(ctx);
	struct sg_auth_macros am;

	if (s == NULL)
		return SMFIS_TEMPFAIL;
	refresh_config(ctx);
	get_auth(ctx, &am);
	session_on_mail(s, (const char *const *)argv, count_args(argv), &am);
	return SMFIS_CONTINUE;
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

static sfsistat
mlfi_envrcpt(SMFICTX *ctx, char **argv)
{
	struct sg_session *s = get_session(ctx);
	struct sg_auth_macros am;
	struct sg_rcpt_result res;

	if (s == NULL) {
		tempfail_result(&res, "no session state");
		metrics_count(M_RCPT_TEMPFAIL);
		set_reply(ctx, &res);
		return SMFIS_TEMPFAIL;
	}
	get_auth(ctx, &am);
	session_on_rcpt(s, (const char *const *)argv, count_args(argv), &am,
	    getsym(ctx, "{rcpt_mailer}"), &res);
	switch (res.verdict) {
	case VERDICT_REJECT:
		set_reply(ctx, &res);
		return SMFIS_REJECT;
	case VERDICT_TEMPFAIL:
		set_reply(ctx, &res);
		return SMFIS_TEMPFAIL;
	default:
		return SMFIS_CONTINUE;
	}
}

static sfsistat
mlfi_data(SMFICTX *ctx)
{
	struct sg_session *s = get_session(ctx);

	if (s == NULL)
		return SMFIS_TEMPFAIL;
	session_on_data(s);
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_header(SMFICTX *ctx, char *name, char *value)
{
	struct sg_session *s = get_session(ctx);

	if (s == NULL)
		return SMFIS_TEMPFAIL;
	session_on_header(s, name, value);
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_eoh(SMFICTX *ctx)
{
	struct sg_session *s = get_session(ctx);

	if (s == NULL)
		return SMFIS_TEMPFAIL;
	session_on_eoh(s);
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct sg_session *s = get_session(ctx);

	(void)chunk;
	if (s == NULL)
		return SMFIS_TEMPFAIL;
	session_on_body(s, len);
	return SMFIS_CONTINUE;
}

/*
 * End of message refused because a claim on our authserv-id could not be
 * deleted: delivering it would hand the forged header to the mailbox.
 */
static sfsistat
eom_refuse(SMFICTX *ctx, struct sg_session *s, const char *why)
{
	session_ar_failed(s, why);
	msg_warn("session %s: message refused (tempfail): %s", session_id(s),
	    why);
	if (smfi_setreply(ctx, "451", "4.3.0", "Authentication-Results that "
	    "claim this server cannot be removed; try again later")
	    != MI_SUCCESS)
		msg_warn("session %s: cannot set the reply", session_id(s));
	session_on_eom(s, getsym(ctx, "i"));
	return SMFIS_TEMPFAIL;
}

static sfsistat
mlfi_eom(SMFICTX *ctx)
{
	struct sg_session *s = get_session(ctx);
	struct sg_ar_plan plan;
	char	why[sizeof(plan.why)];
	size_t	i;

	if (s == NULL)
		return SMFIS_TEMPFAIL;
	session_ar_plan(s, &plan);
	if (plan.refuse)
		return eom_refuse(ctx, s, plan.why);
	for (i = 0; i < plan.ndelete; i++)
		if (smfi_chgheader(ctx, AUTHRES_NAME, (int)plan.delete[i],
		    NULL) != MI_SUCCESS) {
			snprintf(why, sizeof(why), "cannot delete "
			    "Authentication-Results #%u", plan.delete[i]);
			return eom_refuse(ctx, s, why);
		}
	if (plan.add && smfi_insheader(ctx, 0, AUTHRES_NAME, plan.value)
	    != MI_SUCCESS)
		msg_warn("session %s: cannot add Authentication-Results",
		    session_id(s));
	session_on_eom(s, getsym(ctx, "i"));
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_abort(SMFICTX *ctx)
{
	struct sg_session *s = get_session(ctx);

	if (s != NULL)
		session_on_abort(s);
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_unknown(SMFICTX *ctx, const char *cmd)
{
	struct sg_session *s = get_session(ctx);

	if (s == NULL)
		return SMFIS_TEMPFAIL;
	session_on_unknown(s, cmd);
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_close(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	session_on_close(c->session);
	metrics_live(-1);
	smfi_setpriv(ctx, NULL);
	conn_free(c);
	return SMFIS_CONTINUE;
}

int
milter_register(void)
{
	struct smfiDesc desc;

	memset(&desc, 0, sizeof(desc));
	desc.xxfi_name = "sessguard";
	desc.xxfi_version = SMFI_VERSION;
	desc.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_SETSYMLIST;
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
