#ifndef SG_METRICSD_H
#define SG_METRICSD_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

int	metricsd_open(const struct sg_config *, uid_t, gid_t, char *, size_t);
int	metricsd_start(char *, size_t);
void	metricsd_stop(void);

#endif
