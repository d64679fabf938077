/*
 * NAME
 *	fuzz_policyreq - libFuzzer target for the policy-delegation request
 *	parser and reply line
 * DESCRIPTION
 *	The input is the bytes a policy client sent. If it starts with '#',
 *	the rest is padded with a long attribute line to a total just below,
 *	at or above POLICYREQ_MAX (the second byte picks how close), so that
 *	the size bound is reached without huge inputs. Buffers are allocated
 *	with exactly the input's length, so AddressSanitizer catches a read
 *	past it. Checked:
 *	- policyreq_frame() agrees with a reference line scanner: the length
 *	  up to the first empty line (LF or CR LF), or 0;
 *	- policyreq_parse() on the whole input and on the framed prefix:
 *	  accepted exactly when a reference parse accepts (no NUL, at most
 *	  POLICYREQ_MAX bytes, every line before the empty line has '=',
 *	  request=smtpd_access_policy, an empty line present); a refusal has
 *	  a reason; an accepted request gives every known attribute the
 *	  value of its first line (CR before LF dropped), NULL when absent,
 *	  pointing inside the buffer; the counts of lines, unknown names and
 *	  repetitions agree;
 *	- policyreq_action() on the input as a C string, into buffers of
 *	  several sizes: "action=" + at most 900 bytes + "\n\n", one line of
 *	  valid UTF-8 with no control character; a printable ASCII text that
 *	  fits comes out unchanged.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "policyreq.h"

/* The first empty line's end, or 0: one line at a time, no memchr. */
static size_t
ref_frame(const uint8_t *d, size_t n)
{
	size_t	i = 0, start;

	while (i < n) {
		start = i;
		while (i < n && d[i] != '\n')
			i++;
		if (i == n)
			return 0;
		if (i == start || (i == start + 1 && d[start] == '\r'))
			return i + 1;
		i++;
	}
	return 0;
}

struct ref {
	int	ok;
	size_t	vstart[PREQ_NATTR], vlen[PREQ_NATTR];
	int	have[PREQ_NATTR];
	unsigned nlines, nunknown, ndup;
	int	first_dup;
};

static int
ref_attr(const uint8_t *name, size_t len)
{
	int	a;

	for (a = 0; a < PREQ_NATTR; a++)
		if (strlen(policyreq_attr_name(a)) == len
		    && memcmp(policyreq_attr_name(a), name, len) == 0)
			return a;
	return -1;
}

static void
ref_parse(const uint8_t *d, size_t n, struct ref *r)
{
	size_t	i = 0, start, end, eq;
	int	a;

	memset(r, 0, sizeof(*r));
	r->first_dup = -1;
	if (n > POLICYREQ_MAX || memchr(d, 0, n))
		return;
	for (;;) {
		start = i;
		while (i < n && d[i] != '\n')
			i++;
		if (i == n)
			return;			/* no empty line */
		end = i++;
		if (end > start && d[end - 1] == '\r')
			end--;
		if (end == start)
			break;
		r->nlines++;
		for (eq = start; eq < end && d[eq] != '='; eq++)
			;
		if (eq == end)
			return;
		a = ref_attr(d + start, eq - start);
		if (a < 0)
			r->nunknown++;
		else if (r->have[a]) {
			if (r->ndup++ == 0)
				r->first_dup = a;
		} else {
			r->have[a] = 1;
			r->vstart[a] = eq + 1;
			r->vlen[a] = end - eq - 1;
		}
	}
	r->ok = r->have[PREQ_REQUEST] && r->vlen[PREQ_REQUEST] == 19
	    && memcmp(d + r->vstart[PREQ_REQUEST], "smtpd_access_policy", 19)
	    == 0;
}

static void
check_parse(const uint8_t *d, size_t n)
{
	struct policyreq req;
	struct ref r;
	char	*buf = malloc(n ? n : 1), err[256];
	int	rc, a;

	if (buf == NULL)
		abort();
	memcpy(buf, d, n);
	ref_parse(d, n, &r);
	err[0] = '\0';
	rc = policyreq_parse(&req, buf, n, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
	FUZZ_CHECK((rc == 0) == r.ok, "parse %d, reference %d (%s)", rc, r.ok,
	    err);
	if (rc < 0) {
		FUZZ_CHECK(err[0] != '\0', "a refusal without reason");
		free(buf);
		return;
	}
	FUZZ_CHECK(req.nlines == r.nlines && req.nunknown == r.nunknown
	    && req.ndup == r.ndup && req.first_dup == r.first_dup,
	    "counts %u/%u/%u/%d, want %u/%u/%u/%d", req.nlines, req.nunknown,
	    req.ndup, req.first_dup, r.nlines, r.nunknown, r.ndup, r.first_dup);
	for (a = 0; a < PREQ_NATTR; a++) {
		if (!r.have[a]) {
			FUZZ_CHECK(req.v[a] == NULL, "%s present",
			    policyreq_attr_name(a));
			FUZZ_CHECK(*policyreq_get(&req, a) == '\0',
			    "get of absent");
			continue;
		}
		FUZZ_CHECK(req.v[a] == buf + r.vstart[a], "%s at %td, want %zu",
		    policyreq_attr_name(a), req.v[a] ? req.v[a] - buf : -1,
		    r.vstart[a]);
		FUZZ_CHECK(strlen(req.v[a]) == r.vlen[a]
		    && memcmp(req.v[a], d + r.vstart[a], r.vlen[a]) == 0,
		    "%s value differs", policyreq_attr_name(a));
	}
	FUZZ_CHECK(strcmp(policyreq_get(&req, PREQ_REQUEST),
	    "smtpd_access_policy") == 0, "request value");
	free(buf);
}

static void
check_action(const uint8_t *d, size_t n, size_t size)
{
	char	*text = fz_cstr(d, n), *out = malloc(size);
	size_t	len, i, tlen = strlen(text), c;
	int	printable = 1;

	if (out == NULL)
		abort();
	len = policyreq_action(out, size, text);
	FUZZ_CHECK(len < size && out[len] == '\0' && strlen(out) == len,
	    "length %zu of %zu", len, size);
	FUZZ_CHECK(len >= 9 && memcmp(out, "action=", 7) == 0
	    && memcmp(out + len - 2, "\n\n", 2) == 0, "shape");
	FUZZ_CHECK(len - 9 <= 900, "text of %zu bytes", len - 9);
	for (i = 7; i < len - 2; i += c) {
		c = fz_utf8_len((const unsigned char *)out + i, len - 2 - i);
		FUZZ_CHECK(c > 0, "invalid UTF-8 at %zu", i);
		FUZZ_CHECK(c > 1 || ((unsigned char)out[i] >= 0x20
		    && out[i] != 0x7f), "control 0x%02x at %zu",
		    (unsigned char)out[i], i);
	}
	for (i = 0; i < tlen; i++)
		if ((unsigned char)text[i] < 0x20
		    || (unsigned char)text[i] >= 0x7f)
			printable = 0;
	if (printable && tlen <= 900 && tlen + 10 <= size)
		FUZZ_CHECK(len == tlen + 9 && memcmp(out + 7, text, tlen) == 0,
		    "printable text changed");
	free(out);
	free(text);
}

static void
check_all(const uint8_t *d, size_t n)
{
	size_t	f = policyreq_frame((const char *)d, n);

	FUZZ_CHECK(f == ref_frame(d, n), "frame %zu, reference %zu", f,
	    ref_frame(d, n));
	check_parse(d, n);
	if (f > 0 && f < n)
		check_parse(d, f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char head[] = "request=smtpd_access_policy\nx=";
	uint8_t	*big;
	size_t	total, fill, hl = sizeof(head) - 1;

	if (size >= 2 && data[0] == '#') {
		total = POLICYREQ_MAX - 8 + data[1] % 16;
		if (size - 2 + hl + 1 > total)
			return 0;
		if ((big = malloc(total)) == NULL)
			abort();
		fill = total - (size - 2) - hl - 1;
		memcpy(big, head, hl);
		memset(big + hl, 'a', fill);
		big[hl + fill] = '\n';
		memcpy(big + hl + fill + 1, data + 2, size - 2);
		check_all(big, total);
		free(big);
		return 0;
	}
	check_all(data, size);
	check_action(data, size, 1024);
	check_action(data, size, 16 + size % 64);
	return 0;
}
