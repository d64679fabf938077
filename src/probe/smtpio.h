#ifndef SG_PROBE_SMTPIO_H
#define SG_PROBE_SMTPIO_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "util/strbuf.h"

#define SMTP_LINE_KEEP	 512		/* bytes of a reply line kept */
#define SMTP_LINE_MAX	 65536		/* longer reply line: protocol error */
#define SMTP_REPLY_LINES 100		/* lines of one reply, at most */
#define SMTP_TRANSCRIPT_MAX 65536	/* bytes of transcript kept */

/* Negative reply codes: no reply was read. */
#define SMTP_ERR_TIMEOUT (-1)
#define SMTP_ERR_CLOSED	(-2)
#define SMTP_ERR_PROTO	(-3)
#define SMTP_ERR_IO	(-4)

struct smtp_reply {
	int	code;			/* 100..599 or SMTP_ERR_* */
	struct strbuf text;		/* lines (bounded) separated by '\n' */
};

struct smtp_conn {
	int	fd;
	SSL	*ssl;
	int	timeout;		/* seconds, for each read and write */
	char	buf[4096];		/* received, not yet consumed */
	size_t	start, end;
	struct strbuf transcript;	/* "C: ..." / "S: ..." lines, '\n' ended */
	int	transcript_full;
	char	error[256];		/* what went wrong last */
};

void	smtp_init(struct smtp_conn *, int);
int	smtp_connect(struct smtp_conn *, const char *, const char *);
int	smtp_tls(struct smtp_conn *, SSL_CTX *, const char *);
size_t	smtp_pending(const struct smtp_conn *);
void	smtp_discard(struct smtp_conn *);
int	smtp_write(struct smtp_conn *, const char *, size_t, const char *);
int	smtp_send(struct smtp_conn *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	smtp_read(struct smtp_conn *, struct smtp_reply *);
int	smtp_cmd(struct smtp_conn *, struct smtp_reply *, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	smtp_note(struct smtp_conn *, const char *);
void	smtp_close(struct smtp_conn *);
void	smtp_reply_init(struct smtp_reply *);
void	smtp_reply_free(struct smtp_reply *);
const char *smtp_reply_first(const struct smtp_reply *, char *, size_t);

#endif
