/*
 * NAME
 *	conn - a client connection: its session and its configuration
 * SYNOPSIS
 *	#include "conn.h"
 *
 *	struct sg_conn *conn_open(front)
 *	struct sg_session *conn_session(c)
 *	void conn_on_mail(c, sender, params, nparams, says, res)
 *	void conn_close(c, how)
 *	void conn_free(c)
 * DESCRIPTION
 *	What every front end holds for one SMTP connection: the session and
 *	the configuration snapshot (runtime_acquire()) it uses, taken at
 *	conn_open(), and the daemon's rate-limit engine
 *	(runtime_ratelimit()). conn_on_mail() renews the snapshot before it
 *	reports the MAIL: a reload applies from the next transaction and never in
 *	the middle of one.
 *
 *	conn_close() reports the end of the connection to the session and
 *	frees everything; conn_free() frees without reporting (a connection
 *	whose set-up failed half way).
 * DIAGNOSTICS
 *	conn_open() returns NULL when out of memory or when no configuration
 *	is loaded; the front end answers tempfail.
 */
#include <stdlib.h>

#include "conn.h"
#include "runtime.h"

struct sg_conn {
	struct sg_session  *session;
	struct sg_snapshot *snap;
};

struct sg_conn *
conn_open(const struct sg_front *front)
{
	struct sg_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->snap = runtime_acquire()) == NULL
	    || (c->session = session_new(snapshot_config(c->snap),
	    runtime_log(), front)) == NULL) {
		conn_free(c);
		return NULL;
	}
	session_set_ratelimit(c->session, runtime_ratelimit());
	return c;
}

struct sg_session *
conn_session(const struct sg_conn *c)
{
	return c->session;
}

/* A transaction starts with the newest configuration. */
static void
refresh_config(struct sg_conn *c)
{
	struct sg_snapshot *snap;

	if ((snap = runtime_acquire()) == NULL)
		return;
	if (snap == c->snap) {
		runtime_release(snap);
		return;
	}
	session_set_config(c->session, snapshot_config(snap));
	runtime_release(c->snap);
	c->snap = snap;
}

void
conn_on_mail(struct sg_conn *c, const char *sender, const char *const *params,
    size_t nparams, const struct sg_mta_says *says, struct sg_rcpt_result *res)
{
	refresh_config(c);
	session_on_mail(c->session, sender, params, nparams, says, res);
}

void
conn_close(struct sg_conn *c, const struct sg_close *how)
{
	if (c == NULL)
		return;
	session_on_close(c->session, how);
	conn_free(c);
}

void
conn_free(struct sg_conn *c)
{
	if (c == NULL)
		return;
	session_free(c->session);
	runtime_release(c->snap);
	free(c);
}
