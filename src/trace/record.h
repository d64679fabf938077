#ifndef SG_TRACE_RECORD_H
#define SG_TRACE_RECORD_H

#include <stddef.h>

#include <jansson.h>

#include "util/strbuf.h"

json_t	*record_parse(const char *, size_t, struct strbuf *);
const char *record_str(const json_t *, const char *);
int	record_int(const json_t *, const char *, long long *);
const json_t *record_auth(const json_t *);
void	record_put(struct strbuf *, const json_t *, const char *, const char *);
void	record_put_value(struct strbuf *, const json_t *);

#endif
