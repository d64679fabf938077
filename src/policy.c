/*
 * NAME
 *	policy - the relay decision
 * SYNOPSIS
 *	#include "policy.h"
 *
 *	int policy_is_trusted(cfg, client)
 *	int policy_is_local(cfg, rcpt, &why)
 *	struct policy_result policy_decide_rcpt(cfg, client, rcpt, authenticated)
 * DESCRIPTION
 *	Pure functions of the configuration and their arguments, no state,
 *	safe from any thread (SPEC section 2).
 *
 *	policy_is_local() tells whether a recipient address is local: its
 *	domain is in local_domains or relay_domains (case-insensitive, an
 *	entry .example.com also matching subdomains), or it has no domain.
 *	An address that cannot be read (unbalanced quotes, empty domain) is
 *	not local: when in doubt, the recipient counts as a relay attempt.
 *	Nor is an address with sender-specified routing in its local part
 *	(user%remote@here, remote!user@here, "user@remote"@here), which an
 *	MTA may forward elsewhere: Postfix counts it as relaying too.
 *
 *	policy_is_trusted() tells whether the client address lies in
 *	trusted_networks. A client without an IP address (a unix-socket
 *	client of the MTA) is not trusted.
 *
 *	Both look up hash sets built once with the configuration snapshot
 *	(util/strset through domain_set_match(), util/cidrset): the cost of
 *	a decision does not grow with the length of the lists.
 *
 *	policy_decide_rcpt() combines both with the session's authentication:
 *	a local recipient is permitted; a relay attempt is permitted when the
 *	session is authenticated or the client trusted, else refused. A local
 *	address with sender-specified routing in its local part (user%remote@,
 *	remote!user@, "user@remote"@) counts as a relay attempt, as Postfix
 *	counts it: the MTA may forward it elsewhere. What to
 *	do with a refusal (reject or only log) is the caller's business.
 */
#include <stddef.h>

#include "policy.h"
#include "util/addr.h"
#include "util/cidrset.h"

/* The list's hash set (util/strset) holds every entry; empty: none. */
static int
list_match(const struct sg_strlist *l, const char *dom, size_t len)
{
	return domain_set_match(l->set, dom, len);
}

int
policy_is_local(const struct sg_config *cfg, const char *rcpt,
    enum policy_why *why)
{
	const char *dom;
	size_t	len;

	if (addr_routing(rcpt))
		return 0;
	switch (addr_domain(rcpt, &dom, &len)) {
	case ADDR_NO_DOMAIN:
		*why = WHY_NO_DOMAIN;
		return 1;
	case ADDR_DOMAIN:
		if (list_match(&cfg->local_domains, dom, len)) {
			*why = WHY_LOCAL;
			return 1;
		}
		if (list_match(&cfg->relay_domains, dom, len)) {
			*why = WHY_RELAY_DOMAIN;
			return 1;
		}
		return 0;
	default:
		return 0;
	}
}

int
policy_is_trusted(const struct sg_config *cfg, const struct ipaddr *client)
{
	return cidrset_match(cfg->trusted_set, client);
}

struct policy_result
policy_decide_rcpt(const struct sg_config *cfg, const struct ipaddr *client,
    const char *rcpt, int authenticated)
{
	struct policy_result r;

	r.routing = 0;
	if (policy_is_local(cfg, rcpt, &r.why)) {
		r.relay = 0;
		r.permitted = 1;
		return r;
	}
	r.relay = 1;
	if (authenticated) {
		r.permitted = 1;
		r.why = WHY_AUTHENTICATED;
	} else if (policy_is_trusted(cfg, client)) {
		r.permitted = 1;
		r.why = WHY_TRUSTED;
	} else {
		r.permitted = 0;
		r.why = WHY_REFUSED;
		r.routing = addr_routing(rcpt);
	}
	return r;
}
