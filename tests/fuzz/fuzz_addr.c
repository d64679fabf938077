/*
 * NAME
 *	fuzz_addr - libFuzzer target for address and domain helpers
 * DESCRIPTION
 *	Input: "ENTRY\nADDRESS" (without a newline, the whole input serves as
 *	both). ADDRESS is copied into a buffer of exactly its length + 1, so
 *	AddressSanitizer sees any read past it. Checked:
 *	- addr_domain(): one of its three results; a domain is non-empty,
 *	  lies inside the address right after an '@', has no trailing dot;
 *	  otherwise no domain is given; the address is not written to;
 *	  wrapping the address in <> or surrounding it with white space
 *	  changes nothing, for addr_routing() too;
 *	- domain_valid(): a refusal has a reason; an accepted entry is an
 *	  address literal in brackets or dot-separated non-empty labels of
 *	  letters, digits, '-' and '_', with an optional leading dot;
 *	- domain_match() agrees with a reference and ignores case;
 *	- policy_is_local() with a configuration (config_load_string) whose
 *	  local_domains (or relay_domains) is ENTRY: an accepted entry loads;
 *	  the recipient is local exactly when it has no sender-specified
 *	  routing (addr_routing()) and either no domain or a domain that
 *	  domain_match(ENTRY, domain) accepts; never when malformed; the
 *	  reason (why) says which list;
 *	- policy_decide_rcpt(): a relay attempt is permitted exactly when the
 *	  session is authenticated or the client trusted.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "fuzz.h"
#include "policy.h"
#include "util/addr.h"
#include "util/ipaddr.h"

static int
ref_domain_match(const char *entry, const char *dom, size_t len)
{
	size_t	elen = strlen(entry), i;
	const char *e = entry;
	int	sub = 0;

	if (*e == '.') {
		sub = 1;
		e++;
		elen--;
	}
	if (len == elen) {
		for (i = 0; i < len; i++)
			if (tolower((unsigned char)e[i])
			    != tolower((unsigned char)dom[i]))
				return 0;
		return 1;
	}
	if (!sub || len < elen + 2)
		return 0;
	/* a subdomain: "x." + entry at the end */
	if (dom[len - elen - 1] != '.')
		return 0;
	for (i = 0; i < elen; i++)
		if (tolower((unsigned char)e[i])
		    != tolower((unsigned char)dom[len - elen + i]))
			return 0;
	return 1;
}

static int
ref_domain_syntax(const char *e)
{
	const char *p = e;
	int	label = 0;

	if (*p == '[')
		return strlen(p) >= 3 && p[strlen(p) - 1] == ']';
	if (*p == '.')
		p++;
	if (*p == '\0')
		return 0;
	for (; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
		    || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_') {
			label++;
		} else {
			return 0;
		}
	}
	return label > 0;
}

static int
domain_of(const char *addr, const char **dom, size_t *len)
{
	int	r = addr_domain(addr, dom, len);

	FUZZ_CHECK(r == ADDR_DOMAIN || r == ADDR_NO_DOMAIN
	    || r == ADDR_MALFORMED, "addr_domain returned %d", r);
	if (r != ADDR_DOMAIN)
		FUZZ_CHECK(*dom == NULL && *len == 0, "domain given for %d", r);
	return r;
}

static void
check_addr(const char *addr, size_t alen)
{
	const char *dom, *dom2;
	size_t	len, len2;
	char	*copy, *alt;
	int	r, r2, rt;

	copy = fz_cstr((const uint8_t *)addr, alen);
	r = domain_of(addr, &dom, &len);
	rt = addr_routing(addr);
	FUZZ_CHECK(rt == 0 || rt == 1, "addr_routing returned %d", rt);
	FUZZ_CHECK(memcmp(copy, addr, alen + 1) == 0, "address written to");
	if (r == ADDR_NO_DOMAIN && !strpbrk(addr, "%!\\\""))
		FUZZ_CHECK(!rt, "'%s': routing without %%, ! or quotes", addr);
	if (r == ADDR_DOMAIN) {
		FUZZ_CHECK(len > 0, "empty domain");
		FUZZ_CHECK(dom > addr && dom + len <= addr + alen,
		    "domain outside the address");
		FUZZ_CHECK(dom[-1] == '@', "domain not after an '@'");
		FUZZ_CHECK(dom[len - 1] != '.', "trailing dot kept");
	}

	alt = malloc(alen + 5);
	if (alt == NULL)
		abort();
	if (alen > 0 && !strchr("< \t", addr[0])
	    && !strchr("> \t", addr[alen - 1])) {
		alt[0] = '<';
		memcpy(alt + 1, addr, alen);
		memcpy(alt + 1 + alen, ">", 2);
		r2 = domain_of(alt, &dom2, &len2);
		FUZZ_CHECK(r2 == r, "<%s>: %d, without <>: %d", addr, r2, r);
		FUZZ_CHECK(addr_routing(alt) == addr_routing(addr),
		    "<%s>: routing differs", addr);
		if (r == ADDR_DOMAIN)
			FUZZ_CHECK(len2 == len && memcmp(dom, dom2, len) == 0,
			    "<%s>: another domain", addr);
	}
	memcpy(alt, " \t", 2);
	memcpy(alt + 2, addr, alen);
	memcpy(alt + 2 + alen, " ", 2);
	r2 = domain_of(alt, &dom2, &len2);
	FUZZ_CHECK(r2 == r, "' %s ': %d, without blanks: %d", addr, r2, r);
	FUZZ_CHECK(addr_routing(alt) == addr_routing(addr),
	    "' %s ': routing differs", addr);
	if (r == ADDR_DOMAIN)
		FUZZ_CHECK(len2 == len && memcmp(dom, dom2, len) == 0,
		    "' %s ': another domain", addr);
	free(alt);
	free(copy);
}

static void
check_entry(const char *entry)
{
	const char *why = NULL;
	int	rc = domain_valid(entry, &why);

	FUZZ_CHECK(rc == 0 || rc == -1, "domain_valid returned %d", rc);
	if (rc < 0)
		FUZZ_CHECK(why != NULL && *why, "'%s' refused without a reason",
		    entry);
	else
		FUZZ_CHECK(ref_domain_syntax(entry), "'%s' accepted", entry);
}

static void
check_policy(const char *entry, const char *addr, int relay_list,
    unsigned sel)
{
	struct sg_config *cfg;
	struct policy_result pr;
	struct ipaddr client;
	enum policy_why why = WHY_REFUSED;
	const char *dom, *why_s;
	size_t	len, tlen;
	char	err[512], *text;
	int	r, local, want, m;

	if (domain_valid(entry, &why_s) < 0)
		return;
	tlen = strlen(entry) + 32;
	if ((text = malloc(tlen)) == NULL)
		abort();
	snprintf(text, tlen, "%s = %s\n",
	    relay_list ? "relay_domains" : "local_domains", entry);
	cfg = config_load_string("fuzz.conf", text, err, sizeof(err));
	FUZZ_CHECK(cfg != NULL, "valid entry '%s' refused: %s", entry, err);
	free(text);

	r = addr_domain(addr, &dom, &len);
	local = policy_is_local(cfg, addr, &why);
	if (addr_routing(addr)) {
		FUZZ_CHECK(!local, "'%s' with sender-specified routing local",
		    addr);
	} else if (r == ADDR_NO_DOMAIN) {
		FUZZ_CHECK(local && why == WHY_NO_DOMAIN, "'%s' without domain "
		    "not local", addr);
	} else if (r == ADDR_MALFORMED) {
		FUZZ_CHECK(!local, "malformed '%s' local", addr);
	} else {
		m = domain_match(entry, dom, len);
		FUZZ_CHECK(m == ref_domain_match(entry, dom, len),
		    "domain_match('%s', '%.*s') = %d", entry, (int)len, dom, m);
		FUZZ_CHECK(local == m, "'%s' with %s = %s: local %d, "
		    "domain_match %d", addr, relay_list ? "relay_domains" :
		    "local_domains", entry, local, m);
		if (local)
			FUZZ_CHECK(why == (relay_list ? WHY_RELAY_DOMAIN :
			    WHY_LOCAL), "why %d", why);
	}

	/* default trusted_networks 127.0.0.0/8, ::1/128 */
	memset(&client, 0, sizeof(client));
	switch (sel % 3) {
	case 0:
		ipaddr_parse("127.0.0.1", &client);
		break;
	case 1:
		ipaddr_parse("192.0.2.1", &client);
		break;
	}
	want = (sel / 3) & 1;		/* authenticated */
	pr = policy_decide_rcpt(cfg, sel % 3 == 2 ? NULL : &client, addr, want);
	FUZZ_CHECK(pr.relay == !local, "relay %d local %d", pr.relay, local);
	if (!pr.relay)
		FUZZ_CHECK(pr.permitted, "local refused");
	else
		FUZZ_CHECK(pr.permitted == (want || sel % 3 == 0),
		    "relay '%s' permitted %d (auth %d, client %u)", addr,
		    pr.permitted, want, sel % 3);
	config_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char	*entry, *addr;
	const char *dom;
	size_t	len, i;
	char	*upper;

	if (nl) {
		entry = fz_cstr(data, (size_t)(nl - data));
		addr = fz_cstr(nl + 1, size - (size_t)(nl - data) - 1);
	} else {
		entry = fz_cstr(data, size);
		addr = fz_cstr(data, size);
	}
	/* shrink the buffer to the C string, so a read past it is caught */
	if (strlen(addr) < size) {
		char	*a = fz_cstr((uint8_t *)addr, strlen(addr));

		free(addr);
		addr = a;
	}
	check_addr(addr, strlen(addr));
	check_entry(entry);
	check_entry(addr);
	if (addr_domain(addr, &dom, &len) == ADDR_DOMAIN) {
		FUZZ_CHECK(domain_match(entry, dom, len)
		    == ref_domain_match(entry, dom, len),
		    "domain_match('%s', '%.*s')", entry, (int)len, dom);
		upper = fz_cstr((const uint8_t *)dom, len);
		for (i = 0; i < len; i++)
			upper[i] = (char)toupper((unsigned char)upper[i]);
		FUZZ_CHECK(domain_match(entry, upper, len)
		    == domain_match(entry, dom, len), "case matters");
		free(upper);
	}
	check_policy(entry, addr, size > 0 && (data[size - 1] & 1),
	    size > 1 ? data[size - 2] : 0);
	free(entry);
	free(addr);
	return 0;
}
