/*
 * NAME
 *	strbuf - growable byte strings
 * SYNOPSIS
 *	#include "util/strbuf.h"
 *
 *	void strbuf_init(sb), strbuf_free(sb), strbuf_reset(sb)
 *	int strbuf_reserve(sb, extra)
 *	void strbuf_append(sb, data, len), strbuf_puts(sb, s), strbuf_putc(sb, c)
 *	void strbuf_printf(sb, fmt, ...)
 *	const char *strbuf_str(sb)
 * DESCRIPTION
 *	A strbuf holds bytes with a terminating NUL kept past len. Appends grow
 *	the buffer geometrically. strbuf_reset() empties it but keeps memory.
 *	strbuf_str() returns the NUL-terminated contents ("" when empty).
 * DIAGNOSTICS
 *	Allocation failure is not fatal: the buffer stops growing, keeps its
 *	contents and sets the failed flag (strbuf_failed()), which the caller
 *	turns into a TEMPFAIL or a lost log line as fits.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

void
strbuf_init(struct strbuf *sb)
{
	sb->data = NULL;
	sb->len = 0;
	sb->cap = 0;
	sb->failed = 0;
}

void
strbuf_free(struct strbuf *sb)
{
	free(sb->data);
	strbuf_init(sb);
}

void
strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	sb->failed = 0;
	if (sb->data)
		sb->data[0] = '\0';
}

int
strbuf_reserve(struct strbuf *sb, size_t extra)
{
	size_t	need, ncap;
	char	*p;

	if (sb->failed)
		return -1;
	if (extra > ((size_t)-1) / 2 - sb->len) {
		sb->failed = 1;
		return -1;
	}
	need = sb->len + extra + 1;
	if (need <= sb->cap)
		return 0;
	ncap = sb->cap ? sb->cap : 256;
	while (ncap < need)
		ncap *= 2;
	if ((p = realloc(sb->data, ncap)) == NULL) {
		sb->failed = 1;
		return -1;
	}
	sb->data = p;
	sb->cap = ncap;
	return 0;
}

void
strbuf_append(struct strbuf *sb, const char *data, size_t len)
{
	if ((sb->failed || len >= sb->cap - sb->len)
	    && strbuf_reserve(sb, len) < 0)
		return;
	if (len)
		memcpy(sb->data + sb->len, data, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
}

void
strbuf_puts(struct strbuf *sb, const char *s)
{
	strbuf_append(sb, s, strlen(s));
}

void
strbuf_putc(struct strbuf *sb, char c)
{
	if ((sb->failed || sb->len + 2 > sb->cap) && strbuf_reserve(sb, 1) < 0)
		return;
	sb->data[sb->len++] = c;
	sb->data[sb->len] = '\0';
}

void
strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list	ap;
	size_t	room;
	int	n;

	/* one pass into the room there is; a second only when it is short */
	if (strbuf_reserve(sb, 64) < 0)
		return;
	room = sb->cap - sb->len;
	va_start(ap, fmt);
	n = vsnprintf(sb->data + sb->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		sb->failed = 1;
		sb->data[sb->len] = '\0';
		return;
	}
	if ((size_t)n >= room) {
		if (strbuf_reserve(sb, (size_t)n) < 0) {
			sb->data[sb->len] = '\0';
			return;
		}
		va_start(ap, fmt);
		vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	sb->len += (size_t)n;
}

const char *
strbuf_str(struct strbuf *sb)
{
	return sb->data ? sb->data : "";
}
