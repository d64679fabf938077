#ifndef SG_CIDRSET_H
#define SG_CIDRSET_H

#include <stddef.h>

#include "util/ipaddr.h"

struct cidrset;

struct cidrset *cidrset_create(const struct cidr *, size_t);
int	cidrset_match(const struct cidrset *, const struct ipaddr *);
size_t	cidrset_lengths(const struct cidrset *, int);
void	cidrset_free(struct cidrset *);

#endif
