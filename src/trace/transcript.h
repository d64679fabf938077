#ifndef SG_TRACE_TRANSCRIPT_H
#define SG_TRACE_TRANSCRIPT_H

#include <stdio.h>

#include "trace/sessions.h"

void	transcript_print(FILE *, const struct tsess *);

#endif
