/*
 * NAME
 *	addr - mail address and domain helpers
 * SYNOPSIS
 *	#include "util/addr.h"
 *
 *	int addr_domain(addr, &dom, &domlen)
 *	int domain_match(entry, dom, domlen)
 *	int domain_valid(entry, &why)
 *	int addr_routing(addr)
 *
 *	int domain_set_add(set, entry)
 *	int domain_set_match(set, dom, domlen)
 * DESCRIPTION
 *	addr_domain() finds the domain of an envelope address as an MTA
 *	hands it to a milter: optional angle brackets, an optional RFC 5321
 *	source route (@a,@b:user@domain), a local part that may be quoted
 *	("a@b"@example.com) with backslash escapes. It returns ADDR_DOMAIN
 *	with dom/domlen pointing into addr (a trailing dot left out),
 *	ADDR_NO_DOMAIN for an address without '@' (e.g. "postmaster"), and
 *	ADDR_MALFORMED for anything it cannot read (unbalanced quote, empty
 *	domain, "<>"). It never writes to addr.
 *
 *	addr_routing() tells whether the local part of an address carries
 *	sender-specified routing: '%', '!' or a quoted '@' (user%remote@here,
 *	remote!user@here, "user@remote"@here), which an MTA may forward
 *	elsewhere (Postfix's allow_untrusted_routing).
 *
 *	domain_match() compares case-insensitively: an entry "example.com"
 *	matches that domain only; an entry ".example.com" matches
 *	example.com and every subdomain of it.
 *
 *	domain_valid() checks a configured entry: letters, digits, '-', '.',
 *	'_', no empty labels; or an address literal [192.0.2.1],
 *	[IPv6:2001:db8::1].
 *
 *	domain_set_add() and domain_set_match() are domain_match() over a
 *	whole list in O(1) of its size: domain_set_add() puts a checked
 *	entry into a set made with strset_create(hint, STRSET_ICASE) (an
 *	entry ".example.com" as itself and as "example.com"), and
 *	domain_set_match() tells whether some entry added matches the
 *	domain, by one lookup of the domain itself (unless it starts with a
 *	dot) and one of each of its dot-led suffixes: O(length of the
 *	domain).
 * DIAGNOSTICS
 *	domain_valid() returns 0 when the entry is good, -1 and a reason
 *	otherwise. domain_set_add() returns -1 when out of memory, else 0.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "util/addr.h"
#include "util/ipaddr.h"
#include "util/strset.h"

/*
 * Finds the local part [*lp, *lpend) and the last unquoted '@' (or NULL);
 * returns ADDR_MALFORMED or 0. Shared by addr_domain() and addr_routing().
 */
static int
addr_split(const char *addr, const char **lp, const char **at_out,
    const char **end_out)
{
	const char *p = addr, *end, *at = NULL;
	int	inquote = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (end > p && *p == '<') {
		if (end[-1] != '>')
			return ADDR_MALFORMED;
		p++;
		end--;
	}
	if (p == end)
		return ADDR_MALFORMED;
	if (*p == '@') {
		while (p < end && *p != ':')
			p++;
		if (p == end)
			return ADDR_MALFORMED;
		p++;
	}
	*lp = p;
	for (; p < end; p++) {
		if (inquote) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '"')
				inquote = 0;
		} else if (*p == '"') {
			inquote = 1;
		} else if (*p == '\\' && p + 1 < end) {
			p++;
		} else if (*p == '@') {
			at = p;
		}
	}
	if (inquote)
		return ADDR_MALFORMED;
	*at_out = at;
	*end_out = end;
	return 0;
}

int
addr_routing(const char *addr)
{
	const char *lp, *at, *end, *p;

	if (addr_split(addr, &lp, &at, &end) < 0)
		return 0;
	for (p = lp; p < (at ? at : end); p++)
		if (*p == '%' || *p == '!' || *p == '@')
			return 1;
	return 0;
}

int
addr_domain(const char *addr, const char **dom, size_t *domlen)
{
	const char *lp, *end, *at;

	*dom = NULL;
	*domlen = 0;
	if (addr_split(addr, &lp, &at, &end) < 0)
		return ADDR_MALFORMED;
	if (at == NULL)
		return ADDR_NO_DOMAIN;
	at++;
	while (end > at && end[-1] == '.')
		end--;
	if (end == at)
		return ADDR_MALFORMED;
	*dom = at;
	*domlen = (size_t)(end - at);
	return ADDR_DOMAIN;
}

int
domain_match(const char *entry, const char *dom, size_t len)
{
	size_t	elen;

	if (entry[0] == '.') {
		elen = strlen(entry + 1);
		if (len == elen && strncasecmp(entry + 1, dom, len) == 0)
			return 1;
		elen = strlen(entry);
		return len > elen
		    && strncasecmp(entry, dom + len - elen, elen) == 0;
	}
	elen = strlen(entry);
	return len == elen && strncasecmp(entry, dom, len) == 0;
}

int
domain_valid(const char *entry, const char **why)
{
	const char *p = entry;
	int	label = 0;

	if (*p == '.')
		p++;
	if (*p == '\0') {
		*why = "empty domain";
		return -1;
	}
	if (*p == '[') {
		struct ipaddr ip;
		char	lit[64];
		size_t	len = strlen(entry);

		if (p != entry || len < 3 || entry[len - 1] != ']'
		    || len - 2 >= sizeof(lit)) {
			*why = "bad address literal";
			return -1;
		}
		memcpy(lit, entry + 1, len - 2);
		lit[len - 2] = '\0';
		if (strpbrk(lit, "[]") != NULL || ipaddr_parse(lit, &ip) < 0) {
			*why = "bad address literal";
			return -1;
		}
		return 0;
	}
	for (; *p; p++) {
		if (*p == '.') {
			if (label == 0) {
				*why = "empty label";
				return -1;
			}
			label = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-' || *p == '_') {
			label++;
		} else {
			*why = "character not allowed in a domain";
			return -1;
		}
	}
	if (label == 0) {
		*why = "empty label";
		return -1;
	}
	return 0;
}

int
domain_set_add(struct strset *set, const char *entry)
{
	size_t	len = strlen(entry);

	if (entry[0] == '.' && strset_add(set, entry + 1, len - 1) < 0)
		return -1;
	return strset_add(set, entry, len) < 0 ? -1 : 0;
}

/*
 * As domain_match() over every entry: an entry without a leading dot,
 * or the name of a dotted one, equal to the whole domain (which then
 * does not start with a dot itself); or a dotted entry equal to a
 * proper suffix of the domain that starts at a dot.
 */
int
domain_set_match(const struct strset *set, const char *dom, size_t len)
{
	if (len > 0 && dom[0] != '.' && strset_has(set, dom, len))
		return 1;
	return strset_has_suffix(set, dom, len, '.');
}
