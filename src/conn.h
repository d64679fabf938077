#ifndef SG_CONN_H
#define SG_CONN_H

#include "session.h"

/*
 * One client connection as a front end holds it: the session (session.h)
 * and the configuration snapshot it uses. The core rule that it keeps:
 * the configuration is the newest at connect and is renewed at each MAIL
 * (conn_on_mail), so a reload applies from the next transaction and never
 * in the middle of one.
 *
 *	c = conn_open(&sg_front_milter);	NULL: out of memory, tempfail
 *	session_on_connect(conn_session(c), ...);
 *	conn_on_mail(c, sender, params, nparams, says, res);  instead of
 *						session_on_mail()
 *	session_on_rcpt(conn_session(c), ...);	and every other event
 *	conn_close(c, how);			logs close, frees all
 */
struct sg_conn;

struct sg_conn *conn_open(const struct sg_front *);
struct sg_session *conn_session(const struct sg_conn *);
void	conn_on_mail(struct sg_conn *, const char *, const char *const *,
	    size_t, const struct sg_mta_says *, struct sg_rcpt_result *);
void	conn_close(struct sg_conn *, const struct sg_close *);
void	conn_free(struct sg_conn *);

#endif
