#ifndef SG_JSON_H
#define SG_JSON_H

#include <stddef.h>

#include "util/strbuf.h"

#define JSON_TRUNC_MARK	"\xe2\x80\xa6"	/* U+2026 HORIZONTAL ELLIPSIS */

void	json_put_string(struct strbuf *, const char *, size_t, size_t);
void	json_put_cstring(struct strbuf *, const char *, size_t);
void	json_wire_decode(struct strbuf *, const char *, size_t);
size_t	utf8_seq_len(const unsigned char *, size_t);

#endif
