/*
 * NAME
 *	authres - Authentication-Results: which to delete, what to add
 * SYNOPSIS
 *	#include "authres.h"
 *
 *	int authres_is_name(name)
 *	int authres_claims(value, authserv_id)
 *
 *	void authres_txn_init(t, limit)
 *	void authres_txn_header(t, value, authserv_id)
 *	const unsigned *authres_txn_deletions(t, count)
 *	void authres_txn_clear(t)
 *	void authres_txn_free(t)
 *
 *	int authres_value(buf, size, authserv_id, login, why, whylen)
 * DESCRIPTION
 *	What auth_results = yes does (SPEC section 2, RFC 8601): at end of
 *	message, delete every incoming Authentication-Results header that
 *	claims our authserv-id (section 5: only we may write them), and add
 *	ours for an authenticated session. The module knows nothing of
 *	libmilter: it reads plain strings and gives back header indexes.
 *
 *	authres_is_name() tells whether a header name is
 *	Authentication-Results (case does not matter).
 *
 *	authres_claims() tells whether a header value claims authserv-id
 *	authserv_id, parsed as RFC 8601 section 2.2 has it: folding (CR, LF)
 *	is removed, CFWS is skipped, comments nest and take quoted-pairs; the
 *	authserv-id is a value of RFC 2045, a token or a quoted-string with
 *	quoted-pairs (white space around the content of a quoted-string is
 *	ignored). What follows the authserv-id (a version, ";", the results,
 *	or nothing at all for a bare "id") does not matter. Names compare
 *	without regard to case. To delete rather than keep what a lax reader
 *	could take for ours, the run of characters up to white space, ";",
 *	"(" or '"' also counts when it alone equals authserv_id (so an
 *	authserv_id with characters a token cannot have still matches, and
 *	so does "id/junk;" whose token is "id").
 *
 *	An authres_txn records, for one transaction, how many
 *	Authentication-Results headers were seen and the 1-based index of
 *	each that claims our authserv-id, among the headers of that name, in
 *	a list that grows as needed up to limit claims.
 *	authres_txn_header() is called for each Authentication-Results
 *	header in order. authres_txn_deletions() gives the indexes to delete,
 *	last first so that deleting one leaves the indexes of the others
 *	right, and their number in *count. authres_txn_clear() starts the
 *	next transaction; authres_txn_free() releases the memory.
 *
 *	authres_value() writes into buf the value of our header:
 *	"authserv-id; auth=pass smtp.auth=login", the login exactly as the
 *	MTA reported it: a token or an ASCII addr-spec (local@domain.name)
 *	as it is, anything else as a quoted-string with '"' and '\' as
 *	quoted-pairs (RFC 6532 allows UTF-8 there). authserv_id is written
 *	as a token, or as a quoted-string if it is none.
 * DIAGNOSTICS
 *	When a claim cannot be recorded (the limit, or no memory), the
 *	authres_txn is marked lost, with the reason in why; the caller must
 *	then refuse the message (tempfail): a claim it cannot delete would
 *	reach the mailbox.
 *
 *	authres_value() returns -1, with the reason in why, when the login
 *	cannot be written faithfully: a control character (C0, DEL, C1), a
 *	byte sequence that is not UTF-8, or a header longer than one line of
 *	AUTHRES_LINE_MAX characters. The caller adds no header then, and
 *	logs why. It never writes a shortened or altered login.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authres.h"

#define ID_CMP_MAX	512	/* longer quoted authserv-ids never match */

int
authres_is_name(const char *name)
{
	return name != NULL && strcasecmp(name, AUTHRES_NAME) == 0;
}

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* Folding white space, with the CR and LF of folding. */
static int
is_fws(int c)
{
	return is_wsp(c) || c == '\r' || c == '\n';
}

/* RFC 2045 tspecials. */
static int
is_tspecial(int c)
{
	return c != '\0' && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* A character of an RFC 2045 token: US-ASCII, no SPACE, CTL, tspecial. */
static int
is_token_char(int c)
{
	return c > 0x20 && c < 0x7f && !is_tspecial(c);
}

/* Skips CFWS: folding white space and comments, nested, with quoted-pairs. */
static const char *
skip_cfws(const char *p)
{
	int	depth;

	for (;;) {
		while (is_fws((unsigned char)*p))
			p++;
		if (*p != '(')
			return p;
		for (depth = 0; *p; p++) {
			if (*p == '\\' && p[1])
				p++;		/* quoted-pair */
			else if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0) {
				p++;
				break;
			}
		}
		/* an unclosed comment runs to the end: no authserv-id */
	}
}

/* Does the quoted-string whose content starts at p (after '"') equal id? */
static int
quoted_equals(const char *p, const char *id)
{
	char	buf[ID_CMP_MAX];
	size_t	n = 0, end = 0;
	int	c;

	for (; *p && *p != '"'; p++) {
		c = (unsigned char)*p;
		if (c == '\\' && p[1])
			c = (unsigned char)*++p;	/* quoted-pair */
		if (c == '\r' || c == '\n')
			continue;		/* unfold */
		if (n == 0 && is_wsp(c))
			continue;		/* leading white space */
		if (n == sizeof(buf)) {
			if (!is_wsp(c))
				return 0;	/* longer than any id */
			continue;
		}
		buf[n++] = (char)c;
		if (!is_wsp(c))
			end = n;		/* trailing white space goes */
	}
	return end == strlen(id) && strncasecmp(buf, id, end) == 0;
}

int
authres_claims(const char *value, const char *id)
{
	const char *p, *start;
	size_t	idlen, token, run;

	if (value == NULL || id == NULL || *id == '\0')
		return 0;
	p = skip_cfws(value);
	if (*p == '"')
		return quoted_equals(p + 1, id);
	idlen = strlen(id);
	start = p;
	while (is_token_char((unsigned char)*p))
		p++;
	token = (size_t)(p - start);
	while (*p && !is_fws((unsigned char)*p) && *p != ';' && *p != '('
	    && *p != '"')
		p++;
	run = (size_t)(p - start);
	return (token == idlen && strncasecmp(start, id, idlen) == 0)
	    || (run == idlen && strncasecmp(start, id, idlen) == 0);
}

void
authres_txn_init(struct authres_txn *t, size_t limit)
{
	memset(t, 0, sizeof(*t));
	t->limit = limit;
}

static void
reverse(unsigned *v, size_t n)
{
	size_t	i;
	unsigned tmp;

	for (i = 0; i < n / 2; i++) {
		tmp = v[i];
		v[i] = v[n - 1 - i];
		v[n - 1 - i] = tmp;
	}
}

static void
lose(struct authres_txn *t, const char *why)
{
	if (t->lost)
		return;
	t->lost = 1;
	snprintf(t->why, sizeof(t->why), "%s", why);
}

void
authres_txn_header(struct authres_txn *t, const char *value, const char *id)
{
	unsigned *grown;
	size_t	cap;
	char	why[sizeof(t->why)];

	t->seen++;
	if (!authres_claims(value, id))
		return;
	if (t->descending) {
		reverse(t->claims, t->nclaims);
		t->descending = 0;
	}
	if (t->nclaims >= t->limit) {
		snprintf(why, sizeof(why), "more than %zu Authentication-Results "
		    "headers claim our authserv-id", t->limit);
		lose(t, why);
		return;
	}
	if (t->nclaims == t->cap) {
		cap = t->cap ? t->cap * 2 : 16;
		if (cap > t->limit)
			cap = t->limit;
		grown = realloc(t->claims, cap * sizeof(*grown));
		if (grown == NULL) {
			snprintf(why, sizeof(why), "out of memory recording "
			    "Authentication-Results header #%u", t->seen);
			lose(t, why);
			return;
		}
		t->claims = grown;
		t->cap = cap;
	}
	t->claims[t->nclaims++] = t->seen;
}

const unsigned *
authres_txn_deletions(struct authres_txn *t, size_t *count)
{
	if (!t->descending) {
		reverse(t->claims, t->nclaims);
		t->descending = 1;
	}
	*count = t->nclaims;
	return t->claims;
}

void
authres_txn_clear(struct authres_txn *t)
{
	size_t	limit = t->limit;

	if (t->cap > 256) {		/* keep a small list for the next one */
		authres_txn_free(t);
		authres_txn_init(t, limit);
		return;
	}
	t->seen = 0;
	t->nclaims = 0;
	t->descending = 0;
	t->lost = 0;
	t->why[0] = '\0';
}

void
authres_txn_free(struct authres_txn *t)
{
	free(t->claims);
	t->claims = NULL;
	t->nclaims = t->cap = 0;
}

/*
 * Length of the UTF-8 character at p (1-4), or 0 if the bytes are not
 * UTF-8 (overlong forms, surrogates, beyond U+10FFFF, cut sequences) or
 * if it is a control character (C0, DEL, C1); *bad tells which.
 */
static size_t
printable_char(const unsigned char *p, const char **bad)
{
	unsigned c = p[0];
	size_t	n, i;
	unsigned lo = 0x80, hi = 0xbf;

	if (c < 0x20 || c == 0x7f) {
		*bad = "a control character";
		return 0;
	}
	if (c < 0x80)
		return 1;
	*bad = "a byte sequence that is not UTF-8";
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	if (c == 0xc2 && p[1] < 0xa0) {
		*bad = "a control character";	/* C1: U+0080 to U+009F */
		return 0;
	}
	return n;
}

static int
is_token(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!is_token_char((unsigned char)*s))
			return 0;
	return 1;
}

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	    || (c >= '0' && c <= '9');
}

/*
 * The addr-spec form of a pvalue (RFC 8601 section 2.2): a dot-atom-text
 * local-part (RFC 5322), "@", a domain-name of RFC 6376 (at least two
 * labels of letters, digits and inner hyphens).
 */
static int
is_addr_spec(const char *s)
{
	const char *at = strchr(s, '@'), *p;
	size_t	labels = 0, len = 0;

	if (at == NULL || at == s || *s == '.' || at[-1] == '.')
		return 0;
	for (p = s; p < at; p++)
		if (!(is_alnum((unsigned char)*p)
		    || strchr("!#$%&'*+-/=?^_`{|}~", *p) != NULL
		    || (*p == '.' && p[1] != '.')))
			return 0;
	for (p = at + 1;; p++) {
		if (*p == '.' || *p == '\0') {
			if (len == 0 || p[-1] == '-')
				return 0;
			labels++;
			len = 0;
			if (*p == '\0')
				break;
		} else if (is_alnum((unsigned char)*p)
		    || (*p == '-' && len > 0))
			len++;
		else
			return 0;
	}
	return labels >= 2;
}

/*
 * Appends s to buf: as it is if it is a token (or, when addr allows, an
 * addr-spec), or else as a quoted-string.
 */
static int
put_value(char *buf, size_t size, size_t *n, const char *s, int addr)
{
	int	quote = !is_token(s) && !(addr && is_addr_spec(s));

	if (quote && *n < size)
		buf[(*n)++] = '"';
	for (; *s; s++) {
		if (quote && (*s == '"' || *s == '\\') && *n < size)
			buf[(*n)++] = '\\';
		if (*n < size)
			buf[(*n)++] = *s;
	}
	if (quote && *n < size)
		buf[(*n)++] = '"';
	return *n < size ? 0 : -1;
}

int
authres_value(char *buf, size_t size, const char *id, const char *login,
    char *why, size_t whylen)
{
	const unsigned char *p;
	const char *bad = NULL;
	size_t	n = 0, len, k;
	static const char mid[] = "; auth=pass smtp.auth=";

	if (size)
		buf[0] = '\0';
	for (p = (const unsigned char *)login; *p; p += len) {
		if ((len = printable_char(p, &bad)) == 0) {
			snprintf(why, whylen, "the login has %s (byte 0x%02x "
			    "at offset %zu); the header names no other identity",
			    bad, *p, (size_t)(p - (const unsigned char *)login));
			return -1;
		}
	}
	k = size < AUTHRES_VALUE_MAX + 1 ? size : AUTHRES_VALUE_MAX + 1;
	if (put_value(buf, k, &n, id, 0) < 0 || n + sizeof(mid) - 1 >= k)
		goto toolong;
	memcpy(buf + n, mid, sizeof(mid) - 1);
	n += sizeof(mid) - 1;
	if (put_value(buf, k, &n, login, 1) < 0)
		goto toolong;
	buf[n] = '\0';
	return 0;
toolong:
	if (size)
		buf[0] = '\0';
	snprintf(why, whylen, "the login of %zu bytes does not fit one header "
	    "line of %d characters; the header names no shorter identity",
	    strlen(login), AUTHRES_LINE_MAX);
	return -1;
}
