/*
 * NAME
 *	cidrset - which of many CIDR blocks holds an address, in O(1)
 * SYNOPSIS
 *	#include "util/cidrset.h"
 *
 *	struct cidrset *cidrset_create(blocks, n)
 *	int cidrset_match(set, addr)
 *	size_t cidrset_lengths(set, family)
 *	void cidrset_free(set)
 * DESCRIPTION
 *	cidrset_create() builds, from n blocks as cidr_parse() reads them,
 *	one open-addressing hash table (at most half full) keyed by family,
 *	prefix length and the address with its host bits cleared, and per
 *	family the list of the prefix lengths present, longest first. The
 *	set is immutable: any number of threads may use it at once.
 *
 *	cidrset_match() tells whether addr lies in one of the blocks, as
 *	cidr_match() over all of them would: for each prefix length present
 *	in the address's family, it clears the host bits of addr and looks
 *	the result up. The cost depends on the number of distinct prefix
 *	lengths (at most 33 for IPv4, 129 for IPv6), not on the number of
 *	blocks. A null set, a null address or one without a family match
 *	nothing.
 *
 *	cidrset_lengths() is the number of distinct prefix lengths of a
 *	family (AF_INET or AF_INET6) in the set, the number of lookups a
 *	miss costs. cidrset_free() frees a set; NULL is allowed.
 * DIAGNOSTICS
 *	cidrset_create() returns NULL when out of memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/cidrset.h"

struct cidrset_ent {
	uint8_t	used;
	uint8_t	v6;
	uint8_t	prefix;
	uint8_t	bytes[16];
};

struct cidrset {
	struct cidrset_ent *slot;
	size_t	 mask;		/* number of slots - 1 */
	uint8_t	 lens[2][129];	/* [v6]: prefix lengths present, longest first */
	size_t	 nlens[2];
};

/* addr's first len bytes with every bit from bit prefix on cleared. */
static void
cidrset_key(uint8_t out[16], const uint8_t *bytes, unsigned len,
    unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	memset(out, 0, 16);
	memcpy(out, bytes, full);
	if (rest && full < len)
		out[full] = (uint8_t)(bytes[full] & (0xff << (8 - rest)));
}

static size_t
cidrset_slot(const uint8_t key[16], int v6, unsigned prefix, size_t mask)
{
	uint64_t a, b, h;

	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	h = a * 0x9e3779b97f4a7c15ULL ^ b * 0xc2b2ae3d27d4eb4fULL
	    ^ ((uint64_t)prefix << 1 | (uint64_t)v6);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)h & mask;
}

/* Returns the slot that holds the key, or the empty one where it would go. */
static struct cidrset_ent *
cidrset_find(const struct cidrset *set, const uint8_t key[16], int v6,
    unsigned prefix)
{
	size_t	i = cidrset_slot(key, v6, prefix, set->mask);
	struct cidrset_ent *e;

	for (;; i = (i + 1) & set->mask) {
		e = &set->slot[i];
		if (!e->used || (e->v6 == v6 && e->prefix == prefix
		    && memcmp(e->bytes, key, 16) == 0))
			return e;
	}
}

struct cidrset *
cidrset_create(const struct cidr *blocks, size_t n)
{
	struct cidrset *set;
	struct cidrset_ent *e;
	uint8_t	 key[16], seen[2][129] = { { 0 } };
	size_t	 nslots = 16, i;
	unsigned max;
	int	 v6, p;

	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	while (nslots < n * 2 && nslots < SIZE_MAX / 4 / sizeof(*e))
		nslots *= 2;
	if ((set->slot = calloc(nslots, sizeof(*set->slot))) == NULL) {
		free(set);
		return NULL;
	}
	set->mask = nslots - 1;
	for (i = 0; i < n; i++) {
		if (blocks[i].addr.family != AF_INET
		    && blocks[i].addr.family != AF_INET6)
			continue;
		v6 = blocks[i].addr.family == AF_INET6;
		max = v6 ? 128 : 32;
		if (blocks[i].prefix > max)
			continue;
		cidrset_key(key, blocks[i].addr.bytes, v6 ? 16 : 4,
		    blocks[i].prefix);
		e = cidrset_find(set, key, v6, blocks[i].prefix);
		if (!e->used) {
			e->used = 1;
			e->v6 = (uint8_t)v6;
			e->prefix = (uint8_t)blocks[i].prefix;
			memcpy(e->bytes, key, 16);
		}
		seen[v6][blocks[i].prefix] = 1;
	}
	for (v6 = 0; v6 < 2; v6++)
		for (p = v6 ? 128 : 32; p >= 0; p--)
			if (seen[v6][p])
				set->lens[v6][set->nlens[v6]++] = (uint8_t)p;
	return set;
}

int
cidrset_match(const struct cidrset *set, const struct ipaddr *a)
{
	uint8_t	 key[16];
	size_t	 i;
	unsigned prefix;
	int	 v6;

	if (set == NULL || a == NULL
	    || (a->family != AF_INET && a->family != AF_INET6))
		return 0;
	v6 = a->family == AF_INET6;
	for (i = 0; i < set->nlens[v6]; i++) {
		prefix = set->lens[v6][i];
		cidrset_key(key, a->bytes, v6 ? 16 : 4, prefix);
		if (cidrset_find(set, key, v6, prefix)->used)
			return 1;
	}
	return 0;
}

size_t
cidrset_lengths(const struct cidrset *set, int family)
{
	if (set == NULL || (family != AF_INET && family != AF_INET6))
		return 0;
	return set->nlens[family == AF_INET6];
}

void
cidrset_free(struct cidrset *set)
{
	if (set == NULL)
		return;
	free(set->slot);
	free(set);
}
