#ifndef SG_SENDERLOGIN_H
#define SG_SENDERLOGIN_H

#include <stddef.h>

/* sender_login_check: the words and their Postfix restrictions. */
enum senderlogin_mode {
	SENDERLOGIN_OFF,
	SENDERLOGIN_AUTHENTICATED,	/* reject_authenticated_sender_login_mismatch */
	SENDERLOGIN_KNOWN,		/* reject_known_sender_login_mismatch */
	SENDERLOGIN_STRICT,		/* reject_sender_login_mismatch */
};

enum senderlogin_verdict {
	SENDERLOGIN_PERMIT,
	SENDERLOGIN_REFUSE,
	SENDERLOGIN_ERROR,		/* the map could not be read: 4xx */
};

enum senderlogin_why {
	SENDERLOGIN_WHY_OFF,		/* permit: check off, or no map */
	SENDERLOGIN_WHY_NULL_SENDER,	/* permit: <> is exempt */
	SENDERLOGIN_WHY_OWNER,		/* permit: the login owns the sender */
	SENDERLOGIN_WHY_UNLISTED_FREE,	/* permit: unlisted, known mode */
	SENDERLOGIN_WHY_UNAUTH_FREE,	/* permit: no login, authenticated mode */
	SENDERLOGIN_WHY_UNLISTED_FREE_UNAUTH, /* permit: no login, unlisted */
	SENDERLOGIN_WHY_NOT_OWNER,	/* refuse: listed, the login not an owner */
	SENDERLOGIN_WHY_UNLISTED,	/* refuse: authenticated, sender unlisted */
	SENDERLOGIN_WHY_NOT_LOGGED_IN,	/* refuse: listed, no login */
	SENDERLOGIN_WHY_MAP_ERROR,	/* error: lookup failed */
};

#define SENDERLOGIN_KEY_MAX	320	/* matched and owners are cut there */
#define SENDERLOGIN_OWNERS_MAX	512
#define SENDERLOGIN_REASON_MAX	1024
#define SENDERLOGIN_FILE_MAX	((size_t)256 << 20)	/* bytes of a file: map */

struct senderlogin_result {
	enum senderlogin_verdict verdict;
	enum senderlogin_why why;
	char	 matched[SENDERLOGIN_KEY_MAX + 1];	/* key that matched, or "" */
	char	 owners[SENDERLOGIN_OWNERS_MAX + 1];	/* "alice, bob", or "" */
	char	 reason[SENDERLOGIN_REASON_MAX];	/* in clear */
};

struct senderlogin_map;

struct senderlogin_map *senderlogin_map_load(const char *, char *, size_t);
struct senderlogin_map *senderlogin_map_text(const char *, const char *,
	    char *, size_t);
void	senderlogin_map_free(struct senderlogin_map *);
size_t	senderlogin_map_count(const struct senderlogin_map *);
const char *senderlogin_map_name(const struct senderlogin_map *);
int	senderlogin_lookup(const struct senderlogin_map *, const char *,
	    struct senderlogin_result *);
enum senderlogin_verdict senderlogin_check(const struct senderlogin_map *,
	    enum senderlogin_mode, const char *, const char *,
	    struct senderlogin_result *);
void	senderlogin_reason(const struct senderlogin_result *, const char *,
	    const char *, int, char *, size_t);
void	senderlogin_reply(const char *, const char *, const char *, char *,
	    size_t);
const char *senderlogin_mode_name(enum senderlogin_mode);

#endif
