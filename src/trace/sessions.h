#ifndef SG_TRACE_SESSIONS_H
#define SG_TRACE_SESSIONS_H

#include <stddef.h>

#include <jansson.h>

/* One line of a session, as read. */
struct tline {
	char	*text;
	size_t	 len;
};

/* One SMTP session as gathered from the log, with the facts filters use. */
struct tsess {
	char	*id;
	struct tline *lines;
	size_t	 nlines, cap;
	char	*start_ts;	/* ts of the first line */
	char	*client_addr;	/* of the connect line, or null */
	char	**users;	/* distinct auth.user values */
	size_t	 nusers;
	unsigned rejected;	/* reject and would_reject verdicts */
	unsigned anomalies;
	int	 closed;	/* its close line was seen */
	struct tsess *hnext;	/* hash chain */
	struct tsess *prev, *next;	/* open sessions, by first line */
};

typedef void (*sessions_emit_fn)(const struct tsess *, void *);

struct sessions;

struct sessions *sessions_new(sessions_emit_fn, void *);
void	sessions_add(struct sessions *, const json_t *, const char *, size_t);
void	sessions_finish(struct sessions *);
void	sessions_free(struct sessions *);

#endif
