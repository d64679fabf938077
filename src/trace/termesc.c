/*
 * NAME
 *	termesc - text from a log, made safe for a terminal
 * SYNOPSIS
 *	#include "trace/termesc.h"
 *
 *	void termesc_write(fp, text, len)
 * DESCRIPTION
 *	termesc_write() writes text[0..len) to fp so that nothing in it can
 *	act on a terminal: the log quotes what SMTP clients sent, and a
 *	client (or whoever wrote the log file) may have put escape sequences
 *	there.
 *
 *	C0 controls (tab and newline included) and DEL are written as the four
 *	characters \xNN; so is every byte that does not start well-formed
 *	UTF-8. The C1 controls U+0080..U+009F (an 8-bit CSI among them) and
 *	the characters that reorder or break displayed text (bidirectional
 *	overrides and isolates, U+2028, U+2029) are written as \uNNNN. Other
 *	UTF-8 is copied as is. A backslash is written as two, so that what
 *	is shown stays unambiguous: \x80 is the byte 0x80, \\x80 the four
 *	characters a client sent (the caller passes the original bytes,
 *	record_put()).
 * DIAGNOSTICS
 *	None here; the caller checks ferror(fp).
 */
#include <stdint.h>
#include <stdio.h>

#include "trace/termesc.h"
#include "util/hex.h"
#include "util/json.h"

static uint32_t
termesc_decode(const unsigned char *p, size_t n)
{
	if (n == 2)
		return ((uint32_t)(p[0] & 0x1f) << 6) | (p[1] & 0x3f);
	if (n == 3)
		return ((uint32_t)(p[0] & 0x0f) << 12)
		    | ((uint32_t)(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
	return ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3f) << 12)
	    | ((uint32_t)(p[2] & 0x3f) << 6) | (p[3] & 0x3f);
}

/* A byte as the four characters \xNN. */
static void
termesc_byte(FILE *fp, unsigned char c)
{
	char	tmp[5] = "\\x";

	hex_encode(tmp + 2, &c, 1);
	fputs(tmp, fp);
}

static int
termesc_unsafe(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c
	    || cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e)
	    || (cp >= 0x2066 && cp <= 0x2069);
}

void
termesc_write(FILE *fp, const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t	i, n;
	uint32_t cp;

	for (i = 0; i < len; i += n) {
		n = utf8_seq_len(p + i, len - i);
		if (n == 0 || (n == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
			termesc_byte(fp, p[i]);
			n = 1;
		} else if (n == 1) {
			if (p[i] == '\\')
				fputc('\\', fp);
			fputc(p[i], fp);
		} else if (termesc_unsafe(cp = termesc_decode(p + i, n))) {
			fprintf(fp, "\\u%04X", (unsigned)cp);
		} else {
			fwrite(p + i, 1, n, fp);
		}
	}
}
