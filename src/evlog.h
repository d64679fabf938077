#ifndef SG_EVLOG_H
#define SG_EVLOG_H

#include <stddef.h>

#include "config.h"
#include "util/strbuf.h"

struct evlog;

/* One log line under construction; lives on the caller's stack. */
struct evline {
	struct evlog	*log;
	struct strbuf	*sb;
	int		 skip;
	int		 depth;
	int		 first;
};

struct evlog *evlog_open(const struct sg_config *, int, char *, size_t);
struct evlog *evlog_memory(enum sg_log_level, size_t);
const char *evlog_memory_text(struct evlog *);
void	evlog_memory_clear(struct evlog *);
void	evlog_close(struct evlog *);
int	evlog_start(struct evlog *, char *, size_t);
void	evlog_flush(struct evlog *);
int	evlog_reopen(struct evlog *, char *, size_t);
unsigned long long evlog_lost(const struct evlog *);
size_t	evlog_max_value(const struct evlog *);
void	evlog_set_levels(struct evlog *, enum sg_log_level, size_t);
void	evlog_set_syslog_socket(const char *);
int	evlog_wants(const struct evlog *, const char *);

void	evlog_begin(struct evline *, struct evlog *, struct strbuf *,
	    const char *, unsigned, const char *);
void	evlog_str(struct evline *, const char *, const char *);
void	evlog_strn(struct evline *, const char *, const char *, size_t);
void	evlog_text(struct evline *, const char *, const char *);
void	evlog_int(struct evline *, const char *, long long);
void	evlog_bool(struct evline *, const char *, int);
void	evlog_null(struct evline *, const char *);
void	evlog_obj_begin(struct evline *, const char *);
void	evlog_obj_end(struct evline *);
void	evlog_arr_begin(struct evline *, const char *);
void	evlog_arr_str(struct evline *, const char *);
void	evlog_arr_end(struct evline *);
int	evlog_end(struct evline *);

void	evlog_timestamp(char *, size_t);

void	evlog_write_counts(struct evlog *, unsigned long long *,
	    unsigned long long *);
size_t	evlog_queued(struct evlog *);
void	evlog_set_write_hook(void (*)(void *), void *);
void	evlog_set_wait_ms(int);

#endif
