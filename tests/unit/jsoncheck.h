/*
 * NAME
 *	jsoncheck - strict JSON checker and field reader for unit tests
 * SYNOPSIS
 *	#include "jsoncheck.h"
 *
 *	int json_valid(line, len)
 *	int json_get_string(line, key, out, outlen)
 *	int json_get_stringn(line, key, out, outlen, &n)
 *	int json_get_int(line, key, &out)
 *	int json_get_raw(line, key, &val, &vlen)
 * DESCRIPTION
 *	An independent recursive-descent reader of RFC 8259, so that the tests
 *	do not trust the code under test to judge its own output.
 *
 *	json_valid() tells (1/0) whether line[0..len) is one JSON text: exact
 *	grammar of numbers, literals, strings (no raw control characters, only
 *	the escapes of RFC 8259, \uXXXX surrogates in pairs) and well-formed
 *	UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
 *	U+10FFFF). Being stricter than the RFC's SHOULD, it also refuses an
 *	object that repeats a member name (compared as written, first 64
 *	names of an object) and nesting deeper than 64.
 *
 *	The readers take one log line: line ends at the first newline or NUL,
 *	so a pointer into a multi-line buffer will do. The line must be valid
 *	and an object; only its top-level members are looked at.
 *	json_get_string() decodes the escapes of a string member into out (NUL
 *	terminated); json_get_stringn() also gives the decoded length, for
 *	values holding NUL. json_get_int() reads an integer member (no
 *	fraction, no exponent, in range of long long). json_get_raw() points
 *	at the member's value as written (any type), e.g. to compare "null",
 *	"true" or a nested object.
 * DIAGNOSTICS
 *	The readers return 0 when the key is found with a value of the right
 *	type that fits in out; -1 otherwise (not found, invalid line, wrong
 *	type, too long).
 */
#ifndef SG_TEST_JSONCHECK_H
#define SG_TEST_JSONCHECK_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define JC_MAX_DEPTH	64
#define JC_MAX_NAMES	64

struct jc {
	const unsigned char *p;
	const unsigned char *end;
};

static inline void
jc_ws(struct jc *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'
	    || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629 table 3-7), or 0. */
static inline size_t
jc_utf8_len(const unsigned char *p, size_t avail)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t	n, i;

	if (avail == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (avail < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

static inline int
jc_hex4(struct jc *c, unsigned *v)
{
	int	i;

	*v = 0;
	if (c->end - c->p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		unsigned char h = *c->p++;

		*v <<= 4;
		if (h >= '0' && h <= '9')
			*v |= (unsigned)(h - '0');
		else if (h >= 'a' && h <= 'f')
			*v |= (unsigned)(h - 'a' + 10);
		else if (h >= 'A' && h <= 'F')
			*v |= (unsigned)(h - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

static inline size_t
jc_put_utf8(unsigned cp, unsigned char *b)
{
	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	b[0] = (unsigned char)(0xf0 | (cp >> 18));
	b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	b[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Reads a string at c->p. With out, decodes into it when it fits (*fits
 * says so); *outn gets the decoded length either way.
 */
static inline int
jc_string(struct jc *c, char *out, size_t outlen, size_t *outn, int *fits)
{
	size_t	n = 0, elen;
	unsigned char enc[4];
	unsigned cp, lo;

	if (fits)
		*fits = 1;
	if (c->p >= c->end || *c->p != '"')
		return -1;
	c->p++;
	for (;;) {
		if (c->p >= c->end)
			return -1;
		if (*c->p == '"') {
			c->p++;
			break;
		}
		if (*c->p < 0x20)
			return -1;
		if (*c->p == '\\') {
			c->p++;
			if (c->p >= c->end)
				return -1;
			elen = 1;
			switch (*c->p++) {
			case '"':	enc[0] = '"'; break;
			case '\\':	enc[0] = '\\'; break;
			case '/':	enc[0] = '/'; break;
			case 'b':	enc[0] = '\b'; break;
			case 'f':	enc[0] = '\f'; break;
			case 'n':	enc[0] = '\n'; break;
			case 'r':	enc[0] = '\r'; break;
			case 't':	enc[0] = '\t'; break;
			case 'u':
				if (jc_hex4(c, &cp) < 0)
					return -1;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (c->end - c->p < 2 || c->p[0] != '\\'
					    || c->p[1] != 'u')
						return -1;
					c->p += 2;
					if (jc_hex4(c, &lo) < 0 || lo < 0xdc00
					    || lo > 0xdfff)
						return -1;
					cp = 0x10000 + ((cp - 0xd800) << 10)
					    + (lo - 0xdc00);
				} else if (cp >= 0xdc00 && cp <= 0xdfff) {
					return -1;
				}
				elen = jc_put_utf8(cp, enc);
				break;
			default:
				return -1;
			}
		} else {
			elen = jc_utf8_len(c->p, (size_t)(c->end - c->p));
			if (elen == 0)
				return -1;
			memcpy(enc, c->p, elen);
			c->p += elen;
		}
		if (out && fits && *fits && n + elen < outlen)
			memcpy(out + n, enc, elen);
		else if (fits)
			*fits = 0;
		n += elen;
	}
	if (out && fits && *fits) {
		if (n < outlen)
			out[n] = '\0';
		else
			*fits = 0;
	}
	if (outn)
		*outn = n;
	return 0;
}

/* Number grammar of RFC 8259 section 6; *isint when no fraction/exponent. */
static inline int
jc_number(struct jc *c, int *isint)
{
	*isint = 1;
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p >= c->end)
		return -1;
	if (*c->p == '0')
		c->p++;
	else if (*c->p >= '1' && *c->p <= '9')
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			c->p++;
	else
		return -1;
	if (c->p < c->end && *c->p == '.') {
		*isint = 0;
		c->p++;
		if (c->p >= c->end || *c->p < '0' || *c->p > '9')
			return -1;
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			c->p++;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		*isint = 0;
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (c->p >= c->end || *c->p < '0' || *c->p > '9')
			return -1;
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			c->p++;
	}
	return 0;
}

static inline int
jc_literal(struct jc *c, const char *word)
{
	size_t	n = strlen(word);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return -1;
	c->p += n;
	return 0;
}

static inline int jc_value(struct jc *, int);

static inline int
jc_object(struct jc *c, int depth)
{
	const unsigned char *name[JC_MAX_NAMES];
	size_t	namelen[JC_MAX_NAMES], nnames = 0, i;
	const unsigned char *start;

	c->p++;
	jc_ws(c);
	if (c->p < c->end && *c->p == '}') {
		c->p++;
		return 0;
	}
	for (;;) {
		jc_ws(c);
		start = c->p;
		if (jc_string(c, NULL, 0, NULL, NULL) < 0)
			return -1;
		for (i = 0; i < nnames; i++)
			if (namelen[i] == (size_t)(c->p - start)
			    && memcmp(name[i], start, namelen[i]) == 0)
				return -1;
		if (nnames < JC_MAX_NAMES) {
			name[nnames] = start;
			namelen[nnames++] = (size_t)(c->p - start);
		}
		jc_ws(c);
		if (c->p >= c->end || *c->p != ':')
			return -1;
		c->p++;
		if (jc_value(c, depth + 1) < 0)
			return -1;
		jc_ws(c);
		if (c->p >= c->end)
			return -1;
		if (*c->p == '}') {
			c->p++;
			return 0;
		}
		if (*c->p != ',')
			return -1;
		c->p++;
	}
}

static inline int
jc_array(struct jc *c, int depth)
{
	c->p++;
	jc_ws(c);
	if (c->p < c->end && *c->p == ']') {
		c->p++;
		return 0;
	}
	for (;;) {
		if (jc_value(c, depth + 1) < 0)
			return -1;
		jc_ws(c);
		if (c->p >= c->end)
			return -1;
		if (*c->p == ']') {
			c->p++;
			return 0;
		}
		if (*c->p != ',')
			return -1;
		c->p++;
	}
}

/* One value with the white space around it. */
static inline int
jc_value(struct jc *c, int depth)
{
	int	isint, rc;

	if (depth > JC_MAX_DEPTH)
		return -1;
	jc_ws(c);
	if (c->p >= c->end)
		return -1;
	switch (*c->p) {
	case '{':
		rc = jc_object(c, depth);
		break;
	case '[':
		rc = jc_array(c, depth);
		break;
	case '"':
		rc = jc_string(c, NULL, 0, NULL, NULL);
		break;
	case 't':
		rc = jc_literal(c, "true");
		break;
	case 'f':
		rc = jc_literal(c, "false");
		break;
	case 'n':
		rc = jc_literal(c, "null");
		break;
	default:
		rc = jc_number(c, &isint);
		break;
	}
	if (rc == 0)
		jc_ws(c);
	return rc;
}

static inline int
json_valid(const char *line, size_t len)
{
	struct jc c;

	c.p = (const unsigned char *)line;
	c.end = c.p + len;
	return jc_value(&c, 0) == 0 && c.p == c.end;
}

/* Finds top-level member key of the line; points at its value as written. */
static inline int
json_get_raw(const char *line, const char *key, const char **val,
    size_t *vlen)
{
	struct jc c;
	char	name[256];
	size_t	len = strcspn(line, "\n");
	int	fits;
	const unsigned char *v;

	if (!json_valid(line, len))
		return -1;
	c.p = (const unsigned char *)line;
	c.end = c.p + len;
	jc_ws(&c);
	if (*c.p != '{')
		return -1;
	c.p++;
	jc_ws(&c);
	while (c.p < c.end && *c.p == '"') {
		if (jc_string(&c, name, sizeof(name), NULL, &fits) < 0)
			return -1;
		jc_ws(&c);
		c.p++;				/* ':' */
		jc_ws(&c);
		v = c.p;
		if (jc_value(&c, 1) < 0)
			return -1;
		if (fits && strcmp(name, key) == 0) {
			*val = (const char *)v;
			*vlen = (size_t)(c.p - v);
			while (*vlen && strchr(" \t\r\n", v[*vlen - 1]))
				(*vlen)--;
			return 0;
		}
		if (*c.p == ',')
			c.p++;
		jc_ws(&c);
	}
	return -1;
}

static inline int
json_get_stringn(const char *line, const char *key, char *out, size_t outlen,
    size_t *n)
{
	const char *v;
	size_t	vlen;
	struct jc c;
	int	fits;

	if (json_get_raw(line, key, &v, &vlen) < 0 || *v != '"')
		return -1;
	c.p = (const unsigned char *)v;
	c.end = c.p + vlen;
	if (jc_string(&c, out, outlen, n, &fits) < 0 || !fits)
		return -1;
	return 0;
}

static inline int
json_get_string(const char *line, const char *key, char *out, size_t outlen)
{
	return json_get_stringn(line, key, out, outlen, NULL);
}

static inline int
json_get_int(const char *line, const char *key, long long *out)
{
	const char *v;
	size_t	vlen;
	struct jc c;
	int	isint;
	char	buf[32], *end;
	long long n;

	if (json_get_raw(line, key, &v, &vlen) < 0)
		return -1;
	c.p = (const unsigned char *)v;
	c.end = c.p + vlen;
	if (jc_number(&c, &isint) < 0 || !isint || c.p != c.end
	    || vlen >= sizeof(buf))
		return -1;
	memcpy(buf, v, vlen);
	buf[vlen] = '\0';
	errno = 0;
	n = strtoll(buf, &end, 10);
	if (errno || *end != '\0')
		return -1;
	*out = n;
	return 0;
}

#endif
