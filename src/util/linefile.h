#ifndef SG_LINEFILE_H
#define SG_LINEFILE_H

#include <stddef.h>

#define LINEFILE_MAX_LINE	65536
#define LINEFILE_MAX_SIZE	(16 * 1024 * 1024)

/* Called for each line; returns 0, or -1 with a message in err. */
typedef int (*linefile_fn)(void *ctx, char *line, int lineno, int ctl,
	    char *err, size_t errlen);

int	linefile_read(const char *, linefile_fn, void *, char *, size_t);
int	linefile_read_max(const char *, size_t, linefile_fn, void *, char *,
	    size_t);
int	linefile_text(const char *, const char *, linefile_fn, void *, char *,
	    size_t);

#endif
