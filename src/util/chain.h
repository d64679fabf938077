#ifndef SG_CHAIN_H
#define SG_CHAIN_H

#include <stddef.h>

#include "util/pseudo.h"

#define CHAIN_HEX	64
#define CHAIN_SUFFIX	",\"mac\":\""

struct evp_mac_st;

/* The key and the MAC algorithm, fetched once (chain_init()). */
struct chain {
	const struct pseudo_key *key;
	struct evp_mac_st *mac;
};

int	chain_init(struct chain *, const struct pseudo_key *);
void	chain_free(struct chain *);
void	chain_mac(const struct chain *, const char *, const char *, size_t,
	    char *);
int	chain_split(const char *, size_t, size_t *, char *);

#endif
