#ifndef SG_WRITEALL_H
#define SG_WRITEALL_H

#include <stddef.h>

int	write_buf(int, const void *, size_t, int, size_t *);

#endif
