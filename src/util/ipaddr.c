/*
 * NAME
 *	ipaddr - IPv4/IPv6 addresses and CIDR blocks
 * SYNOPSIS
 *	#include "util/ipaddr.h"
 *
 *	int ipaddr_parse(text, addr)
 *	int ipaddr_from_sockaddr(sa, addr, port)
 *	void ipaddr_format(addr, buf, size)
 *	int cidr_parse(text, cidr, why)
 *	int cidr_match(cidr, addr)
 *	int cidr_cover(blocks, n, family)
 * DESCRIPTION
 *	ipaddr_parse() reads a numeric IPv4 or IPv6 address (an IPv6 address
 *	may be written in brackets or with an "IPv6:" prefix, as in SMTP).
 *	An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is stored as IPv4 so that
 *	IPv4 blocks match it.
 *
 *	ipaddr_from_sockaddr() takes the address and port of an AF_INET or
 *	AF_INET6 socket address; port may be null.
 *
 *	cidr_parse() reads "addr" or "addr/prefix". The host bits must be
 *	zero, as in Postfix, so that a typo like 10.0.0.1/8 is caught.
 *
 *	cidr_match() tells whether addr lies inside the block.
 *
 *	cidr_cover() tells whether the blocks of family (AF_INET or
 *	AF_INET6) among the n blocks together hold every address of that
 *	family: 0.0.0.0/0, or 0.0.0.0/1 and 128.0.0.0/1, and so on.
 * DIAGNOSTICS
 *	The parsers return 0 on success and -1 on bad input; cidr_parse()
 *	then points *why at a short reason. ipaddr_from_sockaddr() returns -1
 *	for other address families.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/ipaddr.h"

static const uint8_t v4mapped[12] = { 0,0,0,0, 0,0,0,0, 0,0,0xff,0xff };

static void
ipaddr_unmap(struct ipaddr *a)
{
	if (a->family == AF_INET6 && memcmp(a->bytes, v4mapped, 12) == 0) {
		memmove(a->bytes, a->bytes + 12, 4);
		memset(a->bytes + 4, 0, 12);
		a->family = AF_INET;
	}
}

int
ipaddr_parse(const char *text, struct ipaddr *a)
{
	char	buf[64];
	size_t	len;

	memset(a, 0, sizeof(*a));
	if (strncasecmp(text, "IPv6:", 5) == 0)
		text += 5;
	len = strlen(text);
	if (len >= sizeof(buf))
		return -1;
	if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
		memcpy(buf, text + 1, len - 2);
		buf[len - 2] = '\0';
	} else {
		memcpy(buf, text, len + 1);
	}
	if (inet_pton(AF_INET, buf, a->bytes) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, a->bytes) == 1) {
		a->family = AF_INET6;
		ipaddr_unmap(a);
		return 0;
	}
	return -1;
}

int
ipaddr_from_sockaddr(const struct sockaddr *sa, struct ipaddr *a, unsigned *port)
{
	memset(a, 0, sizeof(*a));
	if (port)
		*port = 0;
	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		a->family = AF_INET;
		memcpy(a->bytes, &in->sin_addr, 4);
		if (port)
			*port = ntohs(in->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		a->family = AF_INET6;
		memcpy(a->bytes, &in6->sin6_addr, 16);
		if (port)
			*port = ntohs(in6->sin6_port);
		ipaddr_unmap(a);
		return 0;
	}
	return -1;
}

void
ipaddr_format(const struct ipaddr *a, char *buf, size_t size)
{
	if (a->family == 0 || inet_ntop(a->family, a->bytes, buf, size) == NULL)
		snprintf(buf, size, "unknown");
}

int
cidr_parse(const char *text, struct cidr *c, const char **why)
{
	char	buf[80], *slash, *end;
	unsigned long prefix;
	unsigned max, i;

	memset(c, 0, sizeof(*c));
	if (strlen(text) >= sizeof(buf)) {
		*why = "too long";
		return -1;
	}
	strcpy(buf, text);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (ipaddr_parse(buf, &c->addr) < 0) {
		*why = "not an IPv4 or IPv6 address";
		return -1;
	}
	/* an IPv4-mapped block written in IPv6 keeps its IPv4 meaning */
	max = c->addr.family == AF_INET ? 32 : 128;
	if (slash == NULL) {
		c->prefix = max;
		return 0;
	}
	if (*slash < '0' || *slash > '9') {
		*why = "bad prefix length";
		return -1;
	}
	prefix = strtoul(slash, &end, 10);
	if (*end != '\0' || prefix > 128) {
		*why = "bad prefix length";
		return -1;
	}
	if (c->addr.family == AF_INET && strchr(buf, ':') != NULL) {
		if (prefix < 96) {
			*why = "prefix too short for an IPv4-mapped address";
			return -1;
		}
		prefix -= 96;
	}
	if (prefix > max) {
		*why = "prefix length too large";
		return -1;
	}
	c->prefix = (unsigned)prefix;
	for (i = c->prefix; i < max; i++) {
		if (c->addr.bytes[i / 8] & (0x80 >> (i % 8))) {
			*why = "host bits set after the prefix";
			return -1;
		}
	}
	return 0;
}

int
cidr_match(const struct cidr *c, const struct ipaddr *a)
{
	unsigned full, rest;

	if (a->family == 0 || a->family != c->addr.family)
		return 0;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(c->addr.bytes, a->bytes, full) != 0)
		return 0;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		if ((c->addr.bytes[full] & mask) != (a->bytes[full] & mask))
			return 0;
	}
	return 1;
}

static int
cidr_cmp(const void *a, const void *b)
{
	const struct cidr *x = a, *y = b;

	return memcmp(x->addr.bytes, y->addr.bytes, sizeof(x->addr.bytes));
}

int
cidr_cover(const struct cidr *blocks, size_t n, int family)
{
	struct cidr *v;
	uint8_t	 next[16] = { 0 }, last[16];	/* next: first not covered */
	unsigned len = family == AF_INET ? 4 : 16, b;
	size_t	 i, m = 0;
	int	 j, all = 0;

	if (n == 0 || (v = calloc(n, sizeof(*v))) == NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (blocks[i].addr.family == family)
			v[m++] = blocks[i];
	qsort(v, m, sizeof(*v), cidr_cmp);
	for (i = 0; i < m && !all; i++) {
		if (memcmp(v[i].addr.bytes, next, len) > 0)
			break;			/* a gap before this block */
		memcpy(last, v[i].addr.bytes, len);
		for (b = v[i].prefix; b < len * 8; b++)
			last[b / 8] |= (uint8_t)(0x80 >> (b % 8));
		if (memcmp(last, next, len) < 0)
			continue;		/* inside what is covered */
		memcpy(next, last, len);
		for (j = (int)len - 1; j >= 0 && ++next[j] == 0; j--)
			;
		all = j < 0;			/* past the last address */
	}
	free(v);
	return all;
}
