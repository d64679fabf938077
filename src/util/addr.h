#ifndef SG_ADDR_H
#define SG_ADDR_H

#include <stddef.h>

#define ADDR_NO_DOMAIN	0
#define ADDR_DOMAIN	1
#define ADDR_MALFORMED	(-1)

int	addr_domain(const char *, const char **, size_t *);
int	domain_match(const char *, const char *, size_t);
int	domain_valid(const char *, const char **);
int	addr_routing(const char *);

struct strset;
int	domain_set_add(struct strset *, const char *);
int	domain_set_match(const struct strset *, const char *, size_t);

#endif
