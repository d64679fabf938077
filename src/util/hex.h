#ifndef SG_HEX_H
#define SG_HEX_H

#include <stddef.h>

char	*hex_encode(char *, const void *, size_t);

#endif
