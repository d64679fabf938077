#ifndef SG_SESSION_H
#define SG_SESSION_H

#include <stddef.h>
#include <sys/socket.h>

#include "authres.h"
#include "config.h"
#include "evlog.h"

struct sg_session;

/* Macros the MTA reported at HELO (TLS) and at MAIL/RCPT (SASL); any may be NULL. */
struct sg_tls_macros {
	const char *version;
	const char *cipher;
	const char *bits;
};

struct sg_auth_macros {
	const char *authen;	/* {auth_authen}: the SASL login, the only proof */
	const char *type;	/* {auth_type}: the mechanism */
	const char *author;	/* {auth_author}: the client's AUTH= claim */
};

enum sg_verdict {
	VERDICT_ACCEPT,
	VERDICT_REJECT,
	VERDICT_WOULD_REJECT,
	VERDICT_TEMPFAIL,
	VERDICT_MTA_REJECTED,
};

#define SG_REPLY_TEXT_MAX	960

struct sg_rcpt_result {
	enum sg_verdict	verdict;
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
struct sg_session *session_new(const struct sg_config *, struct evlog *);
void	session_free(struct sg_session *);
const char *session_id(const struct sg_session *);
const struct sg_config *session_config(const struct sg_session *);
void	session_set_config(struct sg_session *, const struct sg_config *);

void	session_on_connect(struct sg_session *, const char *,
	    const struct sockaddr *, const char *);
void	session_on_helo(struct sg_session *, const char *,
	    const struct sg_tls_macros *);
void	session_on_mail(struct sg_session *, const char *const *, size_t,
	    const struct sg_auth_macros *);
void	session_on_rcpt(struct sg_session *, const char *const *, size_t,
	    const struct sg_auth_macros *, const char *,
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
void	session_on_close(struct sg_session *);

const char *verdict_name(enum sg_verdict);
void	tempfail_result(struct sg_rcpt_result *, const char *);

/* Read-only views for the milter layer and the tests. */
int	session_authenticated(const struct sg_session *);
const char *session_auth_user(const struct sg_session *);
unsigned session_seq(const struct sg_session *);
unsigned session_txn(const struct sg_session *);
int	session_in_txn(const struct sg_session *);

#endif
