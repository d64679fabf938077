#ifndef SG_STRSET_H
#define SG_STRSET_H

#include <stddef.h>

#define STRSET_ICASE	1	/* ASCII letters compare case-insensitively */

struct strset;

struct strset *strset_create(size_t, int);
int	strset_add(struct strset *, const char *, size_t);
int	strset_has(const struct strset *, const char *, size_t);
int	strset_has_suffix(const struct strset *, const char *, size_t, int);
long	strset_index(const struct strset *, const char *, size_t);
size_t	strset_count(const struct strset *);
void	strset_free(struct strset *);

#endif
