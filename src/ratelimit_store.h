#ifndef SG_RATELIMIT_STORE_H
#define SG_RATELIMIT_STORE_H

#include <stddef.h>

/* Inside the rate-limit module only: the Redis store (ratelimit_redis.c). */

struct rl_redis;
struct redisReply;

struct rl_redis *rl_redis_create(const char *, const char *, unsigned, char *,
	    size_t);
int	rl_redis_eval(struct rl_redis *, const char *, size_t,
	    const char *const *, size_t, const char *const *, long long *,
	    size_t, char *, size_t);
struct redisReply *rl_redis_command(struct rl_redis *, int, const char **,
	    const size_t *, char *, size_t);
void	rl_redis_reply_free(struct redisReply *);
void	rl_redis_free(struct rl_redis *);

#endif
