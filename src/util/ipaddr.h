#ifndef SG_IPADDR_H
#define SG_IPADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An IPv4 or IPv6 address; IPv4 is kept as such (family AF_INET, 4 bytes). */
struct ipaddr {
	int	family;		/* AF_INET, AF_INET6, or 0 when unknown */
	uint8_t	bytes[16];
};

struct cidr {
	struct ipaddr	addr;
	unsigned	prefix;
};

int	ipaddr_parse(const char *, struct ipaddr *);
int	ipaddr_from_sockaddr(const struct sockaddr *, struct ipaddr *, unsigned *);
void	ipaddr_format(const struct ipaddr *, char *, size_t);
int	cidr_parse(const char *, struct cidr *, const char **);
int	cidr_match(const struct cidr *, const struct ipaddr *);
int	cidr_cover(const struct cidr *, size_t, int);

#endif
