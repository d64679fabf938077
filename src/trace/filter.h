#ifndef SG_TRACE_FILTER_H
#define SG_TRACE_FILTER_H

#include "trace/sessions.h"

struct filter;

struct filter *filter_new(void);
void	filter_add_session(struct filter *, const char *);
int	filter_add_client(struct filter *, const char *, const char **);
void	filter_add_user(struct filter *, const char *);
void	filter_add_text(struct filter *, const char *);
int	filter_set_since(struct filter *, const char *);
int	filter_set_until(struct filter *, const char *);
void	filter_want_rejected(struct filter *);
void	filter_want_anomalies(struct filter *);
int	filter_match(const struct filter *, const struct tsess *);
void	filter_free(struct filter *);

#endif
