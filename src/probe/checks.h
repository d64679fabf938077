#ifndef SG_PROBE_CHECKS_H
#define SG_PROBE_CHECKS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "probe/smtpio.h"

enum probe_tls {
	PROBE_TLS_NONE,			/* plain text; STARTTLS checks if offered */
	PROBE_TLS_STARTTLS,		/* STARTTLS before every check */
	PROBE_TLS_IMPLICIT,		/* TLS from the first byte (port 465) */
};

struct probe {
	/* what the command line says */
	const char *host;
	const char *port;
	enum probe_tls tls;
	const char *user;		/* null: no AUTH checks */
	const char *password;
	const char *rcpt;		/* a remote address */
	const char *sender;
	int	timeout;		/* seconds, each read and write */
	SSL_CTX	*ssl_ctx;
	/* what probe_discover() learnt */
	int	starttls_offered;	/* in the plain-text EHLO */
	const char *mech;		/* "PLAIN", "LOGIN" or null */
	int	login_refused;		/* the credentials did not work */
	int	control;		/* relay after AUTH: 0 untried, 1 ok, -1 not */
	char	control_why[800];
};

enum check_result {
	CHECK_PASS,
	CHECK_FAIL,
	CHECK_SKIP,
};

struct check_outcome {
	enum check_result result;
	char	detail[1024];
};

struct check {
	const char *name;
	void	(*run)(struct probe *, struct smtp_conn *, struct check_outcome *);
};

extern const struct check checks_table[];

int	probe_discover(struct probe *, char *, size_t);
const char *check_result_name(enum check_result);

#endif
