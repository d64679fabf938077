/*
 * NAME
 *	fuzz_cidr - libFuzzer target for IP address and CIDR parsing
 * DESCRIPTION
 *	The input, as a C string, goes to ipaddr_parse() and cidr_parse() of
 *	src/util/ipaddr.c; its first bytes also serve as raw address bytes.
 *	Checked:
 *	- a parsed address is AF_INET or AF_INET6 (never IPv4-mapped IPv6),
 *	  formats with ipaddr_format() to text that parses back to the same
 *	  address, and agrees with inet_pton() on that text; text that
 *	  inet_pton() reads parses to the same address, also written in
 *	  brackets or (IPv6) with the "IPv6:" prefix;
 *	- a parsed CIDR has a prefix within its family and no host bits set,
 *	  always matches its own network address, any address that differs
 *	  only in host bits, and no address that differs inside the prefix
 *	  or is of the other family; written back as addr/prefix it parses
 *	  to the same block; a refusal gives a reason;
 *	- cidr_match() agrees with a bit-by-bit reference;
 *	- raw 4- and 16-byte addresses round-trip through inet_ntop() text,
 *	  ipaddr_parse() and ipaddr_from_sockaddr().
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "util/ipaddr.h"

static const uint8_t v4mapped[12] = { 0,0,0,0, 0,0,0,0, 0,0,0xff,0xff };

static int
same_addr(const struct ipaddr *a, const struct ipaddr *b)
{
	return a->family == b->family && memcmp(a->bytes, b->bytes, 16) == 0;
}

static unsigned
bit(const uint8_t *b, unsigned i)
{
	return (b[i / 8] >> (7 - i % 8)) & 1;
}

static int
ref_match(const struct cidr *c, const struct ipaddr *a)
{
	unsigned i;

	if (a->family == 0 || a->family != c->addr.family)
		return 0;
	for (i = 0; i < c->prefix; i++)
		if (bit(c->addr.bytes, i) != bit(a->bytes, i))
			return 0;
	return 1;
}

/* What ipaddr_parse() must make of text that inet_pton() reads. */
static int
ref_parse(const char *text, struct ipaddr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, text, a->bytes) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, a->bytes) == 1) {
		a->family = AF_INET6;
		if (memcmp(a->bytes, v4mapped, 12) == 0) {
			memmove(a->bytes, a->bytes + 12, 4);
			memset(a->bytes + 4, 0, 12);
			a->family = AF_INET;
		}
		return 0;
	}
	return -1;
}

static void
check_addr_text(const char *text)
{
	struct ipaddr a, b, r;
	char	buf[INET6_ADDRSTRLEN + 8], alt[128];
	uint8_t raw[16];

	if (ipaddr_parse(text, &a) == 0) {
		FUZZ_CHECK(a.family == AF_INET || a.family == AF_INET6,
		    "family %d for '%s'", a.family, text);
		FUZZ_CHECK(a.family == AF_INET || memcmp(a.bytes, v4mapped, 12),
		    "IPv4-mapped kept as IPv6 for '%s'", text);
		ipaddr_format(&a, buf, sizeof(buf));
		FUZZ_CHECK(ipaddr_parse(buf, &b) == 0 && same_addr(&a, &b),
		    "'%s' formats as '%s' which does not parse back", text, buf);
		FUZZ_CHECK(inet_pton(a.family, buf, raw) == 1
		    && memcmp(raw, a.bytes, a.family == AF_INET ? 4 : 16) == 0,
		    "'%s' formats as '%s', not what inet_pton reads", text, buf);
	}
	if (ref_parse(text, &r) == 0) {
		FUZZ_CHECK(ipaddr_parse(text, &a) == 0 && same_addr(&a, &r),
		    "'%s': inet_pton reads it, ipaddr_parse differs", text);
		if (strlen(text) < 60) {
			snprintf(alt, sizeof(alt), "[%s]", text);
			FUZZ_CHECK(ipaddr_parse(alt, &a) == 0 && same_addr(&a, &r),
			    "'%s' not read", alt);
			if (strchr(text, ':')) {
				snprintf(alt, sizeof(alt), "IPv6:%s", text);
				FUZZ_CHECK(ipaddr_parse(alt, &a) == 0
				    && same_addr(&a, &r), "'%s' not read", alt);
			}
		}
	}
}

static void
check_cidr(const char *text, const uint8_t *data, size_t size)
{
	struct cidr c, c2;
	struct ipaddr a;
	const char *why = NULL;
	char	buf[INET6_ADDRSTRLEN], back[INET6_ADDRSTRLEN + 8];
	unsigned max, i, flip;

	if (cidr_parse(text, &c, &why) < 0) {
		FUZZ_CHECK(why != NULL && *why, "refused '%s' without a reason",
		    text);
		return;
	}
	FUZZ_CHECK(c.addr.family == AF_INET || c.addr.family == AF_INET6,
	    "'%s': family %d", text, c.addr.family);
	max = c.addr.family == AF_INET ? 32 : 128;
	FUZZ_CHECK(c.prefix <= max, "'%s': prefix %u", text, c.prefix);
	for (i = c.prefix; i < 128; i++)
		FUZZ_CHECK(bit(c.addr.bytes, i) == 0, "'%s': bit %u set", text, i);
	FUZZ_CHECK(cidr_match(&c, &c.addr), "'%s' does not match its own "
	    "network address", text);

	ipaddr_format(&c.addr, buf, sizeof(buf));
	snprintf(back, sizeof(back), "%s/%u", buf, c.prefix);
	FUZZ_CHECK(cidr_parse(back, &c2, &why) == 0
	    && same_addr(&c.addr, &c2.addr) && c.prefix == c2.prefix,
	    "'%s' prints as '%s' which reads back differently", text, back);

	/* addresses from the input bytes */
	a = c.addr;
	for (i = 0; i < 16 && i < size; i++)
		a.bytes[i] = data[size - 1 - i];
	if (a.family == AF_INET)
		memset(a.bytes + 4, 0, 12);
	FUZZ_CHECK(cidr_match(&c, &a) == ref_match(&c, &a),
	    "'%s': cidr_match disagrees with the reference", text);
	/* same network, any host bits */
	for (i = 0; i < c.prefix; i++) {
		uint8_t m = (uint8_t)(0x80 >> (i % 8));

		a.bytes[i / 8] = (uint8_t)((a.bytes[i / 8] & ~m)
		    | (c.addr.bytes[i / 8] & m));
	}
	FUZZ_CHECK(cidr_match(&c, &a), "'%s': host bits change the match",
	    text);
	if (c.prefix > 0) {
		flip = (size ? data[0] : 0) % c.prefix;
		a.bytes[flip / 8] ^= (uint8_t)(0x80 >> (flip % 8));
		FUZZ_CHECK(!cidr_match(&c, &a), "'%s': matches with bit %u of "
		    "the prefix flipped", text, flip);
	}
	a.family = c.addr.family == AF_INET ? AF_INET6 : AF_INET;
	FUZZ_CHECK(!cidr_match(&c, &a), "'%s': matches another family", text);
	a.family = 0;
	FUZZ_CHECK(!cidr_match(&c, &a), "'%s': matches family 0", text);
}

static void
check_raw(const uint8_t *data, size_t size)
{
	uint8_t	b[16] = { 0 };
	char	text[INET6_ADDRSTRLEN], fmt[INET6_ADDRSTRLEN];
	struct ipaddr a, s;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	unsigned port;

	memcpy(b, data, size < 16 ? size : 16);

	inet_ntop(AF_INET, b, text, sizeof(text));
	FUZZ_CHECK(ipaddr_parse(text, &a) == 0 && a.family == AF_INET
	    && memcmp(a.bytes, b, 4) == 0, "IPv4 %s does not round-trip", text);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(2525);
	memcpy(&sin.sin_addr, b, 4);
	FUZZ_CHECK(ipaddr_from_sockaddr((struct sockaddr *)&sin, &s, &port) == 0
	    && same_addr(&a, &s) && port == 2525, "sockaddr_in %s", text);
	ipaddr_format(&s, fmt, sizeof(fmt));
	FUZZ_CHECK(strcmp(fmt, text) == 0, "%s formats as %s", text, fmt);

	inet_ntop(AF_INET6, b, text, sizeof(text));
	FUZZ_CHECK(ipaddr_parse(text, &a) == 0, "IPv6 %s not read", text);
	if (memcmp(b, v4mapped, 12) == 0)
		FUZZ_CHECK(a.family == AF_INET && memcmp(a.bytes, b + 12, 4) == 0,
		    "IPv4-mapped %s not read as IPv4", text);
	else
		FUZZ_CHECK(a.family == AF_INET6 && memcmp(a.bytes, b, 16) == 0,
		    "IPv6 %s does not round-trip", text);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(25);
	memcpy(&sin6.sin6_addr, b, 16);
	FUZZ_CHECK(ipaddr_from_sockaddr((struct sockaddr *)&sin6, &s, &port) == 0
	    && same_addr(&a, &s) && port == 25, "sockaddr_in6 %s", text);
	ipaddr_format(&s, fmt, sizeof(fmt));
	FUZZ_CHECK(ipaddr_parse(fmt, &a) == 0 && same_addr(&a, &s),
	    "%s formats as %s which does not read back", text, fmt);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*text = fz_cstr(data, size);

	check_addr_text(text);
	check_cidr(text, data, size);
	check_raw(data, size);
	free(text);
	return 0;
}
