#ifndef SG_PSEUDO_H
#define SG_PSEUDO_H

#include <stddef.h>

#define PSEUDO_KEY_MIN	16
#define PSEUDO_KEY_MAX	4096
#define PSEUDO_PREFIX	"pn:"

enum pseudo_mode { PSEUDO_OFF, PSEUDO_FULL, PSEUDO_LOCAL_PART };

struct pseudo_key {
	unsigned char	*bytes;
	size_t		 len;
};

int	pseudo_key_load(const char *, struct pseudo_key *, char *, size_t);
void	pseudo_key_free(struct pseudo_key *);
void	pseudo_token(const struct pseudo_key *, const char *, size_t, char *,
	    size_t);
void	pseudo_value(const struct pseudo_key *, enum pseudo_mode, const char *,
	    char *, size_t);

#endif
