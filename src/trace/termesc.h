#ifndef SG_TRACE_TERMESC_H
#define SG_TRACE_TERMESC_H

#include <stddef.h>
#include <stdio.h>

void	termesc_write(FILE *, const char *, size_t);

#endif
