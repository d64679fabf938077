/*
 * NAME
 *	hex - bytes as lower-case hexadecimal digits
 * SYNOPSIS
 *	#include "util/hex.h"
 *
 *	char *hex_encode(out, data, len)
 * DESCRIPTION
 *	hex_encode() writes the 2 * len lower-case hex digits of data[0..len)
 *	to out, then a NUL, and returns a pointer to that NUL (so that calls
 *	can be chained). out must have room for 2 * len + 1 bytes. It is the
 *	one hex encoder of the project: MACs, pseudonyms, and the \xNN form
 *	of bytes that are not UTF-8.
 * DIAGNOSTICS
 *	None.
 */
#include "util/hex.h"

char *
hex_encode(char *out, const void *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = data;
	size_t	i;

	for (i = 0; i < len; i++) {
		*out++ = digits[p[i] >> 4];
		*out++ = digits[p[i] & 15];
	}
	*out = '\0';
	return out;
}
