/*
 * Unit tests of the lookup tables: src/util/strset.c, src/util/cidrset.c,
 * domain_set_add()/domain_set_match() of src/util/addr.c, each against a
 * brute-force reference (domain_match(), cidr_match() over every entry)
 * on random data; and large lists (100,000 domains, 10,000 networks) read
 * from file: lists through the configuration into the policy decision.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "policy.h"
#include "util/addr.h"
#include "util/cidrset.h"
#include "util/ipaddr.h"
#include "util/strset.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t
rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)((rng >> 16) % n);
}

/* strset */

START_TEST(t_strset_basic)
{
	struct strset *s = strset_create(0, 0);

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(strset_count(s), 0);
	ck_assert(!strset_has(s, "a", 1));
	ck_assert_int_eq(strset_add(s, "abc", 3), 1);
	ck_assert_int_eq(strset_add(s, "abc", 3), 0);
	ck_assert_int_eq(strset_add(s, "abcd", 3), 0);	/* only len bytes */
	ck_assert_int_eq(strset_add(s, "", 0), 1);
	ck_assert_int_eq(strset_add(s, "a\0b", 3), 1);
	ck_assert_uint_eq(strset_count(s), 3);
	ck_assert(strset_has(s, "abc", 3));
	ck_assert(strset_has(s, "abcx", 3));
	ck_assert(strset_has(s, "", 0));
	ck_assert(strset_has(s, "a\0b", 3));
	ck_assert(!strset_has(s, "a\0c", 3));
	ck_assert(!strset_has(s, "a", 1));
	ck_assert(!strset_has(s, "ABC", 3));		/* exact without ICASE */
	ck_assert(!strset_has(s, "abcd", 4));
	strset_free(s);
	/* a null set is empty */
	ck_assert(!strset_has(NULL, "a", 1));
	ck_assert(!strset_has_suffix(NULL, "a.b", 3, '.'));
	ck_assert_uint_eq(strset_count(NULL), 0);
	strset_free(NULL);
}
END_TEST

START_TEST(t_strset_icase)
{
	struct strset *s = strset_create(4, STRSET_ICASE);

	ck_assert_int_eq(strset_add(s, "Example.COM", 11), 1);
	ck_assert_int_eq(strset_add(s, "example.com", 11), 0);
	ck_assert(strset_has(s, "EXAMPLE.com", 11));
	ck_assert(!strset_has(s, "example.co", 10));
	/* only ASCII letters fold: '@' (0x40) and '`' (0x60) differ */
	ck_assert_int_eq(strset_add(s, "x@", 2), 1);
	ck_assert(!strset_has(s, "x`", 2));
	ck_assert_int_eq(strset_add(s, "\xc3\xa9", 2), 1);
	ck_assert(!strset_has(s, "\xc3\x89", 2));
	strset_free(s);
}
END_TEST

START_TEST(t_strset_suffix)
{
	struct strset *s = strset_create(0, STRSET_ICASE);

	strset_add(s, ".example.com", 12);
	strset_add(s, ".org", 4);
	ck_assert(strset_has_suffix(s, "a.example.com", 13, '.'));
	ck_assert(strset_has_suffix(s, "a.b.EXAMPLE.Com", 15, '.'));
	ck_assert(strset_has_suffix(s, "..example.com", 13, '.'));
	ck_assert(strset_has_suffix(s, "x.org", 5, '.'));
	/* the whole string is not a proper suffix */
	ck_assert(!strset_has_suffix(s, ".example.com", 12, '.'));
	ck_assert(!strset_has_suffix(s, ".org", 4, '.'));
	ck_assert(!strset_has_suffix(s, "example.com", 11, '.'));
	ck_assert(!strset_has_suffix(s, "aexample.com", 12, '.'));
	ck_assert(!strset_has_suffix(s, "a.example.co", 12, '.'));
	ck_assert(!strset_has_suffix(s, "", 0, '.'));
	/* another separator */
	ck_assert(!strset_has_suffix(s, "a-example.com", 13, '-'));
	strset_free(s);
}
END_TEST

START_TEST(t_strset_many)
{
	struct strset *s = strset_create(10, 0);
	char	buf[32];
	int	i, n;

	for (i = 0; i < 200000; i++) {
		n = snprintf(buf, sizeof(buf), "k%d", i);
		ck_assert_int_eq(strset_add(s, buf, (size_t)n), 1);
	}
	ck_assert_uint_eq(strset_count(s), 200000);
	for (i = 0; i < 200000; i++) {
		n = snprintf(buf, sizeof(buf), "k%d", i);
		ck_assert(strset_has(s, buf, (size_t)n));
		ck_assert_int_eq(strset_add(s, buf, (size_t)n), 0);
		n = snprintf(buf, sizeof(buf), "x%d", i);
		ck_assert(!strset_has(s, buf, (size_t)n));
	}
	strset_free(s);
}
END_TEST

/* domain_set_match() against domain_match() over every entry */

static const char *const labels[] = { "a", "b", "ab", "A", "B", "-", "x_y" };
#define NLABELS	(sizeof(labels) / sizeof(labels[0]))

/* A random name of 1 to 4 labels; with odd, an empty label or dot too. */
static void
rand_name(char *buf, size_t size, int odd)
{
	int	n = 1 + (int)rnd(4), i;

	buf[0] = '\0';
	if (odd && rnd(6) == 0)
		strcat(buf, ".");
	for (i = 0; i < n; i++) {
		if (i)
			strcat(buf, odd && rnd(10) == 0 ? ".." : ".");
		strncat(buf, labels[rnd(NLABELS)], size - strlen(buf) - 1);
	}
	if (odd && rnd(10) == 0)
		strcat(buf, ".");
}

START_TEST(t_domain_set_reference)
{
	char	entries[40][64], *lower, dom[64];
	const char *why;
	struct strset *s;
	size_t	ne, i, k;
	int	round, want, got, hits = 0, misses = 0;

	for (round = 0; round < 300; round++) {
		s = strset_create(0, STRSET_ICASE);
		ne = 1 + rnd(40);
		for (i = 0; i < ne; i++) {
			do {
				rand_name(entries[i], sizeof(entries[i]), 0);
				if (rnd(2)) {
					memmove(entries[i] + 1, entries[i],
					    strlen(entries[i]) + 1);
					entries[i][0] = '.';
				}
				for (lower = entries[i]; *lower; lower++)
					if (*lower >= 'A' && *lower <= 'Z')
						*lower += 'a' - 'A';
			} while (domain_valid(entries[i], &why) < 0);
			ck_assert_int_eq(domain_set_add(s, entries[i]), 0);
		}
		for (k = 0; k < 300; k++) {
			rand_name(dom, sizeof(dom), 1);
			want = 0;
			for (i = 0; i < ne && !want; i++)
				want = domain_match(entries[i], dom, strlen(dom));
			got = domain_set_match(s, dom, strlen(dom));
			ck_assert_msg(got == want, "round %d: '%s': set %d, "
			    "list %d", round, dom, got, want);
			if (want)
				hits++;
			else
				misses++;
		}
		strset_free(s);
	}
	/* the random data exercised both answers */
	ck_assert_int_gt(hits, 1000);
	ck_assert_int_gt(misses, 1000);
}
END_TEST

/* Edge cases through the policy: the set against a linear domain_match(). */
START_TEST(t_policy_edges)
{
	char	err[512];
	struct sg_config *cfg = config_load_string("t.conf",
	    "local_domains = .Sub.local.test, local.test, .test2, [192.0.2.25],"
	    " [IPv6:2001:DB8::1]\n", err, sizeof(err));
	static const char *const rcpts[] = {
		"<u@local.test>", "<u@LOCAL.TEST>", "<u@local.test.>",
		"<u@x.local.test>", "<u@sub.local.test>", "<u@.sub.local.test>",
		"<u@a..sub.local.test>", "<u@sub.local.test..>",
		"<u@xsub.local.test>", "<u@test2>", "<u@.test2>", "<u@a.test2>",
		"<u@..test2>", "<u@atest2>", "<u@[192.0.2.25]>",
		"<u@x.[192.0.2.25]>", "<u@[ipv6:2001:db8::1]>",
		"<u@[IPv6:2001:DB8::1]>", "<u@.>", "<u@..>", "<u@test2.>",
	};
	enum policy_why why;
	const char *dom;
	size_t	i, j, len;
	int	want;

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_uint_eq(strset_count(cfg->local_domains.set), 7);
	for (i = 0; i < sizeof(rcpts) / sizeof(rcpts[0]); i++) {
		want = 0;
		if (addr_domain(rcpts[i], &dom, &len) == ADDR_DOMAIN)
			for (j = 0; j < cfg->local_domains.n; j++)
				want |= domain_match(cfg->local_domains.v[j], dom, len);
		ck_assert_msg(policy_is_local(cfg, rcpts[i], &why) == want,
		    "%s: want %d", rcpts[i], want);
	}
	config_free(cfg);
}
END_TEST

/* cidrset_match() against cidr_match() over every block */

static void
rand_block(struct cidr *c, int v6, const struct cidr *near)
{
	unsigned max = v6 ? 128 : 32, i;

	memset(c, 0, sizeof(*c));
	c->addr.family = v6 ? AF_INET6 : AF_INET;
	if (near && near->addr.family == c->addr.family && rnd(2))
		c->addr = near->addr;		/* nested or overlapping */
	else
		for (i = 0; i < (v6 ? 16u : 4u); i++)
			c->addr.bytes[i] = (uint8_t)(rnd(4) == 0 ? rnd(256) : rnd(3));
	c->prefix = rnd(4) == 0 ? rnd(max + 1) : max - rnd(max / 2);
	for (i = c->prefix; i < max; i++)	/* host bits zero, as parsed */
		c->addr.bytes[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
}

static void
rand_addr(struct ipaddr *a, const struct cidr *blocks, size_t n, int v6)
{
	unsigned i;

	if (n && rnd(2)) {			/* inside or near a block */
		*a = blocks[rnd((uint32_t)n)].addr;
		i = rnd(v6 ? 16 : 4);
		if (rnd(2))
			a->bytes[i] ^= (uint8_t)(1u << rnd(8));
		return;
	}
	memset(a, 0, sizeof(*a));
	a->family = v6 ? AF_INET6 : AF_INET;
	for (i = 0; i < (v6 ? 16u : 4u); i++)
		a->bytes[i] = (uint8_t)(rnd(4) == 0 ? rnd(256) : rnd(3));
}

START_TEST(t_cidrset_reference)
{
	struct cidr blocks[64];
	struct cidrset *set;
	struct ipaddr a;
	size_t	n, i, k;
	int	round, want, got, hits = 0, misses = 0;

	for (round = 0; round < 400; round++) {
		n = rnd(64);
		for (i = 0; i < n; i++)
			rand_block(&blocks[i], (int)rnd(2),
			    i ? &blocks[rnd((uint32_t)i)] : NULL);
		set = cidrset_create(blocks, n);
		ck_assert_ptr_nonnull(set);
		for (k = 0; k < 400; k++) {
			rand_addr(&a, blocks, n, (int)rnd(2));
			want = 0;
			for (i = 0; i < n && !want; i++)
				want = cidr_match(&blocks[i], &a);
			got = cidrset_match(set, &a);
			ck_assert_msg(got == want, "round %d: set %d, list %d",
			    round, got, want);
			if (want)
				hits++;
			else
				misses++;
		}
		cidrset_free(set);
	}
	ck_assert_int_gt(hits, 10000);
	ck_assert_int_gt(misses, 10000);
}
END_TEST

START_TEST(t_cidrset_edges)
{
	struct cidr c[4];
	struct cidrset *set;
	struct ipaddr a;
	const char *why;

	ck_assert_int_eq(cidr_parse("0.0.0.0/0", &c[0], &why), 0);
	ck_assert_int_eq(cidr_parse("2001:db8::1", &c[1], &why), 0);
	ck_assert_int_eq(cidr_parse("::ffff:10.0.0.0/104", &c[2], &why), 0);
	ck_assert_int_eq(cidr_parse("2001:db8::1/128", &c[3], &why), 0);
	set = cidrset_create(c, 4);
	ck_assert_uint_eq(cidrset_lengths(set, AF_INET), 2);	/* 0, 8 */
	ck_assert_uint_eq(cidrset_lengths(set, AF_INET6), 1);	/* 128 twice */
	ipaddr_parse("203.0.113.9", &a);
	ck_assert(cidrset_match(set, &a));
	ipaddr_parse("::ffff:203.0.113.9", &a);
	ck_assert(cidrset_match(set, &a));
	ipaddr_parse("2001:db8::1", &a);
	ck_assert(cidrset_match(set, &a));
	ipaddr_parse("2001:db8::2", &a);
	ck_assert(!cidrset_match(set, &a));
	memset(&a, 0, sizeof(a));
	ck_assert(!cidrset_match(set, &a));
	ck_assert(!cidrset_match(set, NULL));
	ck_assert(!cidrset_match(NULL, &a));
	cidrset_free(set);
	/* no blocks */
	set = cidrset_create(NULL, 0);
	ipaddr_parse("127.0.0.1", &a);
	ck_assert(!cidrset_match(set, &a));
	cidrset_free(set);
}
END_TEST

/* Large lists from file: lists, through the configuration. */

#define NDOMAINS	100000
#define NNETS		10000

static char *
write_list(const char *tag, int (*line)(char *, size_t, int), int n)
{
	char	*path = malloc(64);
	FILE	*fp;
	char	buf[128];
	int	fd, i;

	snprintf(path, 64, "/tmp/sg-tables-%s-XXXXXX", tag);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	fp = fdopen(fd, "w");
	for (i = 0; i < n; i++) {
		line(buf, sizeof(buf), i);
		fprintf(fp, "%s\n", buf);
	}
	fclose(fp);
	return path;
}

/* every 10th domain a dotted entry, the rest exact */
static int
domain_line(char *buf, size_t size, int i)
{
	return snprintf(buf, size, "%sD%d.Example%d.test", i % 10 ? "" : ".",
	    i, i % 7);
}

/* 10.x.y.0/24 and 2001:db8:x:y::/64 alternately */
static int
net_line(char *buf, size_t size, int i)
{
	if (i % 2)
		return snprintf(buf, size, "2001:db8:%x:%x::/64", i >> 8, i & 255);
	return snprintf(buf, size, "10.%d.%d.0/24", i >> 8, i & 255);
}

START_TEST(t_large_lists)
{
	char	err[512], text[256], rcpt[128], *dpath, *npath;
	struct sg_config *cfg;
	struct ipaddr a;
	enum policy_why why;
	int	i;

	dpath = write_list("dom", domain_line, NDOMAINS);
	npath = write_list("net", net_line, NNETS);
	snprintf(text, sizeof(text), "local_domains = file:%s, extra.test\n"
	    "relay_domains = file:%s\ntrusted_networks = file:%s\n", dpath,
	    dpath, npath);
	cfg = config_load_string("t.conf", text, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_uint_eq(cfg->local_domains.n, NDOMAINS + 1);
	/* dotted entries are in the set twice: with and without the dot */
	ck_assert_uint_eq(strset_count(cfg->local_domains.set),
	    NDOMAINS + NDOMAINS / 10 + 1);
	ck_assert_uint_eq(cfg->ntrusted, NNETS);
	for (i = 0; i < NDOMAINS; i += 997) {
		snprintf(rcpt, sizeof(rcpt), "<u@d%d.EXAMPLE%d.test>", i, i % 7);
		ck_assert_msg(policy_is_local(cfg, rcpt, &why) && why == WHY_LOCAL,
		    "%s", rcpt);
		snprintf(rcpt, sizeof(rcpt), "<u@mx.d%d.example%d.test>", i, i % 7);
		ck_assert_msg(policy_is_local(cfg, rcpt, &why) == (i % 10 == 0),
		    "%s", rcpt);
		snprintf(rcpt, sizeof(rcpt), "<u@d%d.example%d.test>", i,
		    (i + 1) % 7);
		ck_assert_msg(!policy_is_local(cfg, rcpt, &why), "%s", rcpt);
	}
	ck_assert(policy_is_local(cfg, "<u@d99999.example4.test>", &why));
	ck_assert(policy_is_local(cfg, "<u@extra.test>", &why));
	ck_assert(!policy_is_local(cfg, "<u@d100000.example5.test>", &why));
	for (i = 0; i < NNETS; i += 101) {		/* a host inside each */
		if (i % 2)
			snprintf(text, sizeof(text), "2001:db8:%x:%x::9", i >> 8,
			    i & 255);
		else
			snprintf(text, sizeof(text), "10.%d.%d.9", i >> 8, i & 255);
		ck_assert_int_eq(ipaddr_parse(text, &a), 0);
		ck_assert_msg(policy_is_trusted(cfg, &a), "%s", text);
	}
	ipaddr_parse("10.39.16.1", &a);			/* past 10,000 */
	ck_assert(!policy_is_trusted(cfg, &a));
	ipaddr_parse("2001:db8:1:1:0:0:0:1", &a);	/* an odd one */
	ck_assert(policy_is_trusted(cfg, &a));
	ipaddr_parse("2001:db8:1:2::1", &a);		/* an even one */
	ck_assert(!policy_is_trusted(cfg, &a));
	config_free(cfg);
	unlink(dpath);
	unlink(npath);
	free(dpath);
	free(npath);
}
END_TEST

/* A reload replaces the sets: the later value wins, the old one is freed. */
START_TEST(t_override_rebuilds)
{
	char	err[512];
	struct sg_config *cfg = config_load_string("t.conf",
	    "local_domains = a.test\ntrusted_networks = 192.0.2.0/24\n", err,
	    sizeof(err));
	struct ipaddr a;
	enum policy_why why;

	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(config_override(cfg, "local_domains", "b.test", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(config_override(cfg, "trusted_networks",
	    "198.51.100.0/24", err, sizeof(err)), 0);
	ck_assert(!policy_is_local(cfg, "<u@a.test>", &why));
	ck_assert(policy_is_local(cfg, "<u@b.test>", &why));
	ipaddr_parse("192.0.2.1", &a);
	ck_assert(!policy_is_trusted(cfg, &a));
	ipaddr_parse("198.51.100.1", &a);
	ck_assert(policy_is_trusted(cfg, &a));
	ck_assert_int_eq(config_override(cfg, "local_domains", "", err,
	    sizeof(err)), 0);
	ck_assert_ptr_null(cfg->local_domains.set);
	ck_assert(!policy_is_local(cfg, "<u@b.test>", &why));
	/* a bad value leaves the old list and set */
	ck_assert_int_eq(config_override(cfg, "trusted_networks",
	    "198.51.100.0/24 bad", err, sizeof(err)), -1);
	ck_assert(policy_is_trusted(cfg, &a));
	config_free(cfg);
}
END_TEST

static Suite *
tables_suite(void)
{
	Suite	*s = suite_create("tables");
	TCase	*tc;

	/* generous: a loaded CI machine must not time out a correct run */
	tc = tcase_create("strset");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_strset_basic);
	tcase_add_test(tc, t_strset_icase);
	tcase_add_test(tc, t_strset_suffix);
	tcase_add_test(tc, t_strset_many);
	suite_add_tcase(s, tc);
	tc = tcase_create("domains");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_domain_set_reference);
	tcase_add_test(tc, t_policy_edges);
	suite_add_tcase(s, tc);
	tc = tcase_create("cidrset");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_cidrset_reference);
	tcase_add_test(tc, t_cidrset_edges);
	suite_add_tcase(s, tc);
	tc = tcase_create("large");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_large_lists);
	tcase_add_test(tc, t_override_rebuilds);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(tables_suite());
	int	failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
