#ifndef SG_RATELIMIT_H
#define SG_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "util/ipaddr.h"

#define RL_LOGIN_MAX	256	/* longer logins are cut for the counters */
#define RL_KEY_MAX	(RL_LOGIN_MAX + 16)	/* "login:..." or "client:..." */

enum rl_verdict {
	RL_NONE,	/* no limit applies: all off, exempt, nothing to key on */
	RL_ALLOW,	/* within every limit that applies; counted */
	RL_OVER,	/* over res->limit; nothing counted */
	RL_UNAVAILABLE,	/* the store is down and limit_store_down = tempfail */
};

enum rl_store_change { RL_STORE_SAME, RL_STORE_DOWN, RL_STORE_UP };

/* SPEC section 8's "limit" object. */
struct rl_limit {
	const char *name;		/* "limit_login_recipients", ... */
	char	 key[RL_KEY_MAX];	/* "login:alice", "client:192.0.2.7" */
	unsigned long count;		/* in the window, this recipient included */
	unsigned long max;
	unsigned long period_s;
};

struct rl_result {
	enum rl_verdict verdict;
	int	 consulted;		/* limit is set (verdict ALLOW or OVER) */
	struct rl_limit limit;		/* the limit over, else the nearest */
	int	 first_over;		/* OVER, first refusal of this counter
					 * since it last accepted: anomaly
					 * limit_exceeded */
	int	 exempt;		/* limit_exempt matched (verdict NONE) */
	int	 local;			/* decided by this process's counters
					 * because the store is down */
	enum rl_store_change store_change;	/* anomaly limit_store_down/_up */
	char	 store_error[200];	/* why the store failed, or "" */
};

struct ratelimit;

/* Milliseconds since the epoch; tests inject their own. */
typedef uint64_t (*rl_clock_fn)(void *);

/* One counter as -L shows it. */
typedef void (*rl_list_fn)(void *, const struct rl_limit *);

struct ratelimit *ratelimit_create(const struct sg_config *, char *, size_t);
void	ratelimit_set_clock(struct ratelimit *, rl_clock_fn, void *);
int	ratelimit_enabled(const struct sg_config *);
void	ratelimit_check(struct ratelimit *, const struct sg_config *,
	    const char *, const struct ipaddr *, int, struct rl_result *);
void	ratelimit_reason(const struct rl_result *, char *, size_t);
int	ratelimit_list(struct ratelimit *, const struct sg_config *, unsigned,
	    rl_list_fn, void *, char *, size_t);
int	ratelimit_reset(struct ratelimit *, const char *, char *, size_t);
const char *ratelimit_store_name(const struct ratelimit *);
void	ratelimit_free(struct ratelimit *);

#endif
