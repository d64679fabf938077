#ifndef SG_STRBUF_H
#define SG_STRBUF_H

#include <stddef.h>

/* A growable byte string. On allocation failure the buffer keeps what it had
 * and remembers the failure; callers check strbuf_failed() once at the end. */
struct strbuf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	int	 failed;
};

void	strbuf_init(struct strbuf *);
void	strbuf_free(struct strbuf *);
void	strbuf_reset(struct strbuf *);
int	strbuf_reserve(struct strbuf *, size_t);
void	strbuf_append(struct strbuf *, const char *, size_t);
void	strbuf_puts(struct strbuf *, const char *);
void	strbuf_putc(struct strbuf *, char);
void	strbuf_printf(struct strbuf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
const char *strbuf_str(struct strbuf *);

#define strbuf_failed(sb)	((sb)->failed)

#endif
