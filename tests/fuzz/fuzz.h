/*
 * NAME
 *	fuzz - helpers shared by the libFuzzer targets
 * SYNOPSIS
 *	#include "fuzz.h"
 *
 *	FUZZ_CHECK(cond, fmt, ...)
 *	char *fz_cstr(data, size)
 *	void fz_expect_value(val, len, max, out)
 *	int fz_decode_string(json, len, out)
 *	size_t fz_utf8_len(p, avail)
 * DESCRIPTION
 *	FUZZ_CHECK() reports a broken invariant on stderr and aborts, which
 *	libFuzzer records as a crash with the input that caused it.
 *
 *	fz_cstr() copies the fuzzer's bytes into a buffer of exactly size + 1
 *	bytes with a NUL at the end, so that AddressSanitizer catches a read
 *	past the string; embedded NULs shorten the string as C would.
 *
 *	fz_expect_value() computes, independently of src/util/json.c, what a
 *	wire value must decode to once written to the log (SPEC section 5):
 *	the longest prefix of at most max bytes that does not split a valid
 *	UTF-8 sequence, every byte that is not part of a valid sequence
 *	replaced by the four characters \xNN, every backslash by two, and
 *	"\xe2\x80\xa6(+N bytes)" when something was left out. max 0 means no
 *	bound.
 *
 *	fz_decode_string() decodes one JSON string (json[0..len), quotes
 *	included) with the strict reader of tests/unit/jsoncheck.h.
 * DIAGNOSTICS
 *	fz_cstr() aborts when out of memory; fz_decode_string() returns -1
 *	on a malformed string.
 */
#ifndef SG_FUZZ_H
#define SG_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsoncheck.h"
#include "util/strbuf.h"

#define FUZZ_CHECK(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "\nINVARIANT FAILED at %s:%d: %s\n  ",	\
		    __FILE__, __LINE__, #cond);				\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

static inline char *
fz_cstr(const uint8_t *data, size_t size)
{
	char	*s = malloc(size + 1);

	if (s == NULL)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static inline size_t
fz_utf8_len(const unsigned char *p, size_t avail)
{
	return jc_utf8_len(p, avail);
}

static inline void
fz_expect_value(const unsigned char *v, size_t len, size_t max,
    struct strbuf *out)
{
	size_t	cut = 0, i, n;
	char	tmp[32];

	/* the largest character boundary at or before max */
	if (max == 0 || len <= max) {
		cut = len;
	} else {
		for (i = 0; i < len; i += n) {
			n = fz_utf8_len(v + i, len - i);
			if (n == 0)
				n = 1;
			if (i + n > max)
				break;
			cut = i + n;
		}
	}
	strbuf_reset(out);
	for (i = 0; i < cut; i += n) {
		n = fz_utf8_len(v + i, len - i);
		if (n == 0) {
			snprintf(tmp, sizeof(tmp), "\\x%02x", v[i]);
			strbuf_puts(out, tmp);
			n = 1;
			continue;
		}
		if (n == 1 && v[i] == '\\')
			strbuf_puts(out, "\\\\");	/* a backslash as two */
		else
			strbuf_append(out, (const char *)v + i, n);
	}
	if (cut < len) {
		snprintf(tmp, sizeof(tmp), "\xe2\x80\xa6(+%zu bytes)", len - cut);
		strbuf_puts(out, tmp);
	}
}

static inline int
fz_decode_string(const char *json, size_t len, struct strbuf *out)
{
	struct jc c;
	size_t	n = 0;
	int	fits = 1;

	c.p = (const unsigned char *)json;
	c.end = c.p + len;
	if (jc_string(&c, NULL, 0, &n, NULL) < 0 || c.p != c.end)
		return -1;
	strbuf_reset(out);
	if (strbuf_reserve(out, n + 1) < 0)
		abort();
	c.p = (const unsigned char *)json;
	if (jc_string(&c, out->data, out->cap, &n, &fits) < 0 || !fits)
		return -1;
	out->len = n;
	out->data[n] = '\0';
	return 0;
}

#endif
