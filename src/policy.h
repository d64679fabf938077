#ifndef SG_POLICY_H
#define SG_POLICY_H

#include "config.h"
#include "util/ipaddr.h"

enum policy_why {
	WHY_LOCAL,		/* domain in local_domains */
	WHY_RELAY_DOMAIN,	/* domain in relay_domains */
	WHY_NO_DOMAIN,		/* address without a domain */
	WHY_AUTHENTICATED,	/* relay by an authenticated session */
	WHY_TRUSTED,		/* relay from trusted_networks */
	WHY_REFUSED,		/* relay, neither authenticated nor trusted */
};

struct policy_result {
	int		relay;		/* recipient is a relay attempt */
	int		routing;	/* ... because of sender-specified routing */
	int		permitted;
	enum policy_why	why;
};

int	policy_is_trusted(const struct sg_config *, const struct ipaddr *);
int	policy_is_local(const struct sg_config *, const char *, enum policy_why *);
struct policy_result policy_decide_rcpt(const struct sg_config *,
	    const struct ipaddr *, const char *, int);

#endif
