#ifndef SG_CHAIN_H
#define SG_CHAIN_H

#include <stddef.h>

#include "util/pseudo.h"

#define CHAIN_HEX	64
#define CHAIN_SUFFIX	",\"mac\":\""

void	chain_mac(const struct pseudo_key *, const char *, const char *, size_t,
	    char *);
int	chain_split(const char *, size_t, size_t *, char *);

#endif
