#ifndef SG_MILTER_H
#define SG_MILTER_H

#include "config.h"
#include "evlog.h"

int	milter_register(const struct sg_config *, struct evlog *);

#endif
