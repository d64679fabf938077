#ifndef SG_PROBE_REPORT_H
#define SG_PROBE_REPORT_H

#include <stdio.h>

#include "probe/checks.h"
#include "util/strbuf.h"

void	report_check(FILE *, int, const char *, const struct check_outcome *,
	    const struct strbuf *);

#endif
