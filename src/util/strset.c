/*
 * NAME
 *	strset - an immutable-once-built hash set of strings
 * SYNOPSIS
 *	#include "util/strset.h"
 *
 *	struct strset *strset_create(hint, flags)
 *	int strset_add(set, s, len)
 *	int strset_has(set, s, len)
 *	int strset_has_suffix(set, s, len, sep)
 *	long strset_index(set, s, len)
 *	size_t strset_count(set)
 *	void strset_free(set)
 * DESCRIPTION
 *	A set of byte strings in an open-addressing hash table (linear
 *	probing, at most half full), for tables that are built once and then
 *	only read, such as the domain lists of a configuration snapshot.
 *	Lookups do not change the set, so any number of threads may look up
 *	at once once it is built; adding needs exclusive access.
 *
 *	strset_create() makes an empty set sized for about hint strings (it
 *	grows past that). With flags STRSET_ICASE, ASCII letters compare
 *	case-insensitively; other bytes always compare exactly.
 *
 *	strset_add() copies the len bytes at s into the set (any bytes,
 *	NUL included) unless an equal string is there.
 *
 *	strset_has() tells whether the len bytes at s are in the set.
 *
 *	strset_has_suffix() tells whether some proper suffix of s that
 *	starts with the byte sep, s[i..len) with 0 < i < len and s[i] == sep,
 *	is in the set: with sep '.', whether a parent domain written with its
 *	leading dot (".example.com") is. It hashes from the end of s to the
 *	start, so all the suffixes together cost O(len), not O(len^2), and
 *	does one probe a separator.
 *
 *	strset_index() tells where the len bytes at s are: the strings are
 *	numbered from 0 in the order they were first added, so a caller
 *	keeps a value for each in an array of its own and has a map. It
 *	returns -1 when s is not in the set.
 *
 *	strset_count() is the number of strings in the set. strset_free()
 *	frees it; a null set is allowed there, in strset_has(),
 *	strset_has_suffix() (always 0) and strset_count() (0).
 *	strset_index() (-1) also.
 * DIAGNOSTICS
 *	strset_create() returns NULL when out of memory. strset_add()
 *	returns 1 when it added the string, 0 when the set already had it,
 *	-1 when out of memory (the set is unchanged then).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/strset.h"

struct strset_ent {
	uint64_t hash;
	size_t	 off;		/* in pool */
	size_t	 len;
};

/* A slot holds the hash's top bits: most misses never touch ent or pool. */
struct strset_slot {
	uint32_t idx;		/* 0: empty, else index into ent + 1 */
	uint32_t tag;		/* hash >> 32 */
};

struct strset {
	int	 flags;
	char	*pool;
	size_t	 poolused, poolcap;
	struct strset_ent *ent;
	size_t	 n, entcap;
	struct strset_slot *slot;
	size_t	 mask;		/* number of slots - 1 */
};

#define FNV_BASIS	0xcbf29ce484222325ULL
#define FNV_PRIME	0x100000001b3ULL

static inline unsigned char
fold(const struct strset *set, unsigned char c)
{
	if ((set->flags & STRSET_ICASE) && c >= 'A' && c <= 'Z')
		return (unsigned char)(c + ('a' - 'A'));
	return c;
}

/* One byte of FNV-1a; strings are hashed from their last byte back. */
static inline uint64_t
hash_step(const struct strset *set, uint64_t h, unsigned char c)
{
	return (h ^ fold(set, c)) * FNV_PRIME;
}

static uint64_t
hash_str(const struct strset *set, const char *s, size_t len)
{
	uint64_t h = FNV_BASIS;

	while (len > 0)
		h = hash_step(set, h, (unsigned char)s[--len]);
	return h;
}

/* Spreads the bits before the mask takes the low ones (murmur3's fmix). */
static inline size_t
slot_of(uint64_t h, size_t mask)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)h & mask;
}

static int
equal(const struct strset *set, const char *a, const char *b, size_t len)
{
	size_t	i;

	if (!(set->flags & STRSET_ICASE))
		return memcmp(a, b, len) == 0;
	for (i = 0; i < len; i++)
		if (fold(set, (unsigned char)a[i]) != fold(set, (unsigned char)b[i]))
			return 0;
	return 1;
}

/* The index of s + 1, or 0. */
static size_t
lookup(const struct strset *set, uint64_t h, const char *s, size_t len)
{
	size_t	i = slot_of(h, set->mask);
	const struct strset_ent *e;

	for (; set->slot[i].idx != 0; i = (i + 1) & set->mask) {
		if (set->slot[i].tag != (uint32_t)(h >> 32))
			continue;
		e = &set->ent[set->slot[i].idx - 1];
		if (e->hash == h && e->len == len
		    && equal(set, set->pool + e->off, s, len))
			return set->slot[i].idx;
	}
	return 0;
}

static int
resize(struct strset *set, size_t nslots)
{
	struct strset_slot *slot;
	size_t	 i, j, mask = nslots - 1;

	if ((slot = calloc(nslots, sizeof(*slot))) == NULL)
		return -1;
	for (i = 0; i < set->n; i++) {
		for (j = slot_of(set->ent[i].hash, mask); slot[j].idx != 0;
		    j = (j + 1) & mask)
			;
		slot[j].idx = (uint32_t)(i + 1);
		slot[j].tag = (uint32_t)(set->ent[i].hash >> 32);
	}
	free(set->slot);
	set->slot = slot;
	set->mask = mask;
	return 0;
}

struct strset *
strset_create(size_t hint, int flags)
{
	struct strset *set;
	size_t	nslots = 16;

	if (hint > UINT32_MAX / 4)
		hint = UINT32_MAX / 4;
	while (nslots < hint * 2)
		nslots *= 2;
	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	set->flags = flags;
	if (resize(set, nslots) < 0) {
		free(set);
		return NULL;
	}
	return set;
}

int
strset_add(struct strset *set, const char *s, size_t len)
{
	uint64_t h = hash_str(set, s, len);
	size_t	 i, cap;
	void	*p;

	if (lookup(set, h, s, len))
		return 0;
	if (set->n >= UINT32_MAX - 1 || len > SIZE_MAX / 2 - set->poolused)
		return -1;
	if ((set->n + 1) * 2 > set->mask + 1
	    && resize(set, (set->mask + 1) * 2) < 0)
		return -1;
	if (set->n == set->entcap) {
		cap = set->entcap ? set->entcap * 2 : 16;
		if ((p = realloc(set->ent, cap * sizeof(*set->ent))) == NULL)
			return -1;
		set->ent = p;
		set->entcap = cap;
	}
	if (set->poolcap - set->poolused < len + 1) {
		cap = set->poolcap ? set->poolcap : 1024;
		while (cap - set->poolused < len + 1)
			cap *= 2;
		if ((p = realloc(set->pool, cap)) == NULL)
			return -1;
		set->pool = p;
		set->poolcap = cap;
	}
	memcpy(set->pool + set->poolused, s, len);
	set->pool[set->poolused + len] = '\0';
	set->ent[set->n].hash = h;
	set->ent[set->n].off = set->poolused;
	set->ent[set->n].len = len;
	set->poolused += len + 1;
	for (i = slot_of(h, set->mask); set->slot[i].idx != 0;
	    i = (i + 1) & set->mask)
		;
	set->slot[i].idx = (uint32_t)(++set->n);
	set->slot[i].tag = (uint32_t)(h >> 32);
	return 1;
}

int
strset_has(const struct strset *set, const char *s, size_t len)
{
	if (set == NULL || set->n == 0)
		return 0;
	return lookup(set, hash_str(set, s, len), s, len) != 0;
}

long
strset_index(const struct strset *set, const char *s, size_t len)
{
	if (set == NULL || set->n == 0)
		return -1;
	return (long)lookup(set, hash_str(set, s, len), s, len) - 1;
}

int
strset_has_suffix(const struct strset *set, const char *s, size_t len,
    int sep)
{
	uint64_t h = FNV_BASIS;
	size_t	 i;

	if (set == NULL || set->n == 0)
		return 0;
	for (i = len; i > 1; ) {
		i--;
		h = hash_step(set, h, (unsigned char)s[i]);
		if ((unsigned char)s[i] == (unsigned char)sep
		    && lookup(set, h, s + i, len - i) != 0)
			return 1;
	}
	return 0;
}

size_t
strset_count(const struct strset *set)
{
	return set ? set->n : 0;
}

void
strset_free(struct strset *set)
{
	if (set == NULL)
		return;
	free(set->pool);
	free(set->ent);
	free(set->slot);
	free(set);
}
