#ifndef SG_RUNTIME_H
#define SG_RUNTIME_H

#include <stddef.h>

#include "config.h"
#include "evlog.h"

struct sg_snapshot;

void	runtime_init(struct sg_config *, struct evlog *, const char *,
	    const char *);
struct sg_snapshot *runtime_acquire(void);
void	runtime_release(struct sg_snapshot *);
const struct sg_config *snapshot_config(const struct sg_snapshot *);
struct evlog *runtime_log(void);
unsigned runtime_generation(void);
int	runtime_reload(char *, size_t);
void	runtime_shutdown(void);
struct ratelimit;
void	runtime_set_ratelimit(struct ratelimit *);
struct ratelimit *runtime_ratelimit(void);

#endif
