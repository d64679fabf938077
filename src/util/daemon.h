#ifndef SG_DAEMON_H
#define SG_DAEMON_H

#include <stddef.h>
#include <sys/types.h>

/* The user and group to become; change == 0: stay as started. */
struct daemon_ugid {
	int	 change;
	uid_t	 uid;
	gid_t	 gid;
	const char *name;		/* user for initgroups(), or NULL */
};

int	daemon_ugid_lookup(const char *, const char *, struct daemon_ugid *,
	    char *, size_t);
int	daemon_ugid_set(const struct daemon_ugid *, char *, size_t);
int	daemon_pidfile_lock(const char *, char *, size_t);
int	daemon_pidfile_write(int, const char *, char *, size_t);
int	daemon_detach(char *, size_t);

#endif
