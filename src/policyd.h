#ifndef SG_POLICYD_H
#define SG_POLICYD_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

int	policyd_open(const struct sg_config *, uid_t, gid_t, char *, size_t);
int	policyd_start(char *, size_t);
void	policyd_stop(void);

#endif
