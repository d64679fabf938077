#ifndef SG_SOCK_H
#define SG_SOCK_H

#include <stddef.h>
#include <sys/types.h>

const char *sock_unix_path(const char *);
int	sock_prepare(const char *, char *, size_t);
int	sock_finish(const char *, unsigned, uid_t, gid_t, char *, size_t);
int	sock_listen(const char *, unsigned, uid_t, gid_t, int, char *, size_t);

#endif
