#ifndef SG_LIMITCLI_H
#define SG_LIMITCLI_H

#include "config.h"

int	limitcli_main(const struct sg_config *, const char *);

#endif
