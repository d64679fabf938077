/*
 * NAME
 *	json - JSON string escaping for log lines
 * SYNOPSIS
 *	#include "util/json.h"
 *
 *	void json_put_string(sb, data, len, max)
 *	void json_put_cstring(sb, str, max)
 *	void json_wire_decode(sb, value, len)
 *	size_t utf8_seq_len(p, avail)
 * DESCRIPTION
 *	json_put_string() appends data[0..len) to sb as a quoted JSON string.
 *	Valid UTF-8 is copied as is; every byte that is not part of a valid
 *	UTF-8 sequence is written as the four characters \xNN (in JSON text
 *	"\\xNN"), so that the log stays valid UTF-8, and a backslash as two
 *	backslashes (in JSON text "\\\\"), so that a literal "\x80" from the
 *	wire and the byte 0x80 stay apart: the original bytes can always be
 *	recovered (SPEC section 5). Then the value is escaped as JSON: quote,
 *	backslash and control characters.
 *
 *	When max is not zero and len exceeds max, only the first max bytes
 *	(cut back to a character boundary) are written, followed by the mark
 *	"...(+N bytes)" where ... is U+2026 and N counts the bytes left out.
 *
 *	json_put_cstring() is json_put_string() for a NUL-terminated string;
 *	a null pointer is written as JSON null.
 *
 *	json_wire_decode() undoes the first step for a value that a JSON
 *	parser has already unescaped: it appends to sb the original bytes,
 *	"\\" giving one backslash and "\xNN" the byte NN. A backslash
 *	followed by anything else (a log written before backslashes were
 *	doubled) is kept as it is.
 *
 *	utf8_seq_len() returns the length (1-4) of the well-formed UTF-8
 *	sequence at p, given avail bytes, or 0 when p does not start one
 *	(overlong forms, surrogates and code points past U+10FFFF are refused).
 */
#include <string.h>

#include "util/hex.h"
#include "util/json.h"

size_t
utf8_seq_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	size_t	n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (avail < n)
		return 0;
	for (i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if (c == 0xe0 && p[1] < 0xa0)		/* overlong */
		return 0;
	if (c == 0xed && p[1] > 0x9f)		/* surrogate */
		return 0;
	if (c == 0xf0 && p[1] < 0x90)		/* overlong */
		return 0;
	if (c == 0xf4 && p[1] > 0x8f)		/* past U+10FFFF */
		return 0;
	return n;
}

void
json_put_string(struct strbuf *sb, const char *data, size_t len, size_t max)
{
	const unsigned char *p = (const unsigned char *)data;
	size_t	i, n, cut = len;
	char	tmp[8];

	if (max && len > max) {
		cut = max;
		/* do not split a valid multibyte sequence at the cut */
		for (i = cut; i > 0 && i + 4 > cut; i--) {
			if ((p[i - 1] & 0xc0) == 0x80)
				continue;
			n = utf8_seq_len(p + i - 1, len - (i - 1));
			if (n > 1 && i - 1 + n > cut)
				cut = i - 1;
			break;
		}
	}
	strbuf_reserve(sb, cut + 2);
	strbuf_putc(sb, '"');
	for (i = 0; i < cut; i += n) {
		unsigned char c = p[i];
		size_t	run;

		/* a run of printable ASCII that needs no escape: one copy */
		for (run = i; run < cut && p[run] >= 0x20 && p[run] < 0x7f
		    && p[run] != '"' && p[run] != '\\'; run++)
			;
		if (run > i) {
			strbuf_append(sb, data + i, run - i);
			n = run - i;
			continue;
		}
		n = 1;
		switch (c) {
		case '"':
			strbuf_append(sb, "\\\"", 2);
			continue;
		case '\\':
			strbuf_append(sb, "\\\\\\\\", 4);
			continue;
		case '\n':
			strbuf_append(sb, "\\n", 2);
			continue;
		case '\r':
			strbuf_append(sb, "\\r", 2);
			continue;
		case '\t':
			strbuf_append(sb, "\\t", 2);
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			memcpy(tmp, "\\u00", 4);
			hex_encode(tmp + 4, &c, 1);
			strbuf_append(sb, tmp, 6);
			continue;
		}
		if (c < 0x80) {
			strbuf_putc(sb, (char)c);
			continue;
		}
		n = utf8_seq_len(p + i, cut - i);
		if (n == 0) {
			memcpy(tmp, "\\\\x", 3);
			hex_encode(tmp + 3, p + i, 1);
			strbuf_append(sb, tmp, 5);
			n = 1;
			continue;
		}
		strbuf_append(sb, data + i, n);
	}
	if (cut < len)
		strbuf_printf(sb, JSON_TRUNC_MARK "(+%zu bytes)", len - cut);
	strbuf_putc(sb, '"');
}

static int
json_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void
json_wire_decode(struct strbuf *sb, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t	i, run;
	int	hi, lo;

	for (i = 0; i < len;) {
		for (run = i; run < len && p[run] != '\\'; run++)
			;
		strbuf_append(sb, s + i, run - i);
		if ((i = run) >= len)
			break;
		if (i + 1 < len && p[i + 1] == '\\') {
			strbuf_putc(sb, '\\');
			i += 2;
		} else if (i + 3 < len && p[i + 1] == 'x'
		    && (hi = json_hexval(p[i + 2])) >= 0
		    && (lo = json_hexval(p[i + 3])) >= 0) {
			strbuf_putc(sb, (char)(hi << 4 | lo));
			i += 4;
		} else {
			strbuf_putc(sb, '\\');
			i++;
		}
	}
}

void
json_put_cstring(struct strbuf *sb, const char *s, size_t max)
{
	if (s == NULL)
		strbuf_append(sb, "null", 4);
	else
		json_put_string(sb, s, strlen(s), max);
}
