/*
 * NAME
 *	sock - listening sockets named as libmilter names them
 * SYNOPSIS
 *	#include "util/sock.h"
 *
 *	const char *sock_unix_path(spec)
 *
 *	int sock_prepare(spec, err, errlen)
 *
 *	int sock_finish(spec, mode, uid, gid, err, errlen)
 *
 *	int sock_listen(spec, mode, uid, gid, backlog, err, errlen)
 * DESCRIPTION
 *	A socket is named by a spec as libmilter's smfi_setconn() takes it:
 *	unix:/path or local:/path, inet:PORT, inet:PORT@HOST,
 *	inet6:PORT or inet6:PORT@HOST (HOST a name or an address, an IPv6
 *	address with or without brackets; no HOST: every address). The
 *	milter socket is opened by libmilter itself with sock_prepare()
 *	before and sock_finish() after it; any other listener (the policy
 *	delegation socket) is opened by sock_listen() alone.
 *
 *	sock_unix_path() returns the path of a unix:/local: spec, or NULL
 *	for an inet spec.
 *
 *	sock_prepare() makes way for a unix socket: its directory must
 *	exist; a socket left by a crashed run (connect() is refused) is
 *	removed, with a message; a socket that still answers belongs to a
 *	running filter, and anything that is not a socket is never touched:
 *	both are errors. Nothing to do for inet specs.
 *
 *	sock_finish() gives a unix socket the permissions mode and the
 *	owner uid:gid ((uid_t)-1 and (gid_t)-1: leave as is). Nothing to do
 *	for inet specs.
 *
 *	sock_listen() prepares, creates, binds and listens (backlog), and
 *	finishes a unix socket; a unix socket is born with its mode (the
 *	umask is changed around bind(), which is why sock_listen() and
 *	the umask dance around smfi_opensocket() belong to the start, before
 *	any thread runs). An inet socket gets SO_REUSEADDR, an inet6 one
 *	IPV6_V6ONLY (inet6:PORT is not IPv4 too); port 0 asks the
 *	kernel for a free one (getsockname() tells which). The descriptor
 *	is close-on-exec.
 * DIAGNOSTICS
 *	sock_prepare(), sock_finish() return 0 and sock_listen() the
 *	descriptor, or -1 with a message naming the socket in err.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/msg.h"
#include "util/sock.h"

const char *
sock_unix_path(const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return spec + 5;
	if (strncmp(spec, "local:", 6) == 0)
		return spec + 6;
	return NULL;
}

/* Fills sun with path; -1 when it does not fit. */
static int
unix_addr(struct sockaddr_un *sun, const char *path, char *err, size_t errlen)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (*path == '\0' || strlen(path) >= sizeof(sun->sun_path)) {
		snprintf(err, errlen, "socket unix:%s: path empty or too long",
		    path);
		return -1;
	}
	memcpy(sun->sun_path, path, strlen(path) + 1);
	return 0;
}

int
sock_prepare(const char *spec, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	const char *path;
	char	buf[sizeof(sun.sun_path)], *dir;
	int	fd, live;

	if ((path = sock_unix_path(spec)) == NULL)
		return 0;
	if (unix_addr(&sun, path, err, errlen) < 0)
		return -1;
	memcpy(buf, sun.sun_path, sizeof(buf));
	dir = dirname(buf);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "socket unix:%s: directory %s does not "
		    "exist (create it, or choose another socket)", path, dir);
		return -1;
	}
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "socket unix:%s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "socket unix:%s: exists and is not a "
		    "socket; not touching it", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	live = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	if (live) {
		snprintf(err, errlen, "socket unix:%s is in use by a running "
		    "filter", path);
		return -1;
	}
	if (unlink(path) < 0) {
		snprintf(err, errlen, "cannot remove stale socket %s: %s", path,
		    strerror(errno));
		return -1;
	}
	msg_info("removed stale socket %s", path);
	return 0;
}

int
sock_finish(const char *spec, unsigned mode, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
	const char *path;

	if ((path = sock_unix_path(spec)) == NULL)
		return 0;
	if (chmod(path, (mode_t)(mode & 07777)) < 0) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		return -1;
	}
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) < 0) {
		snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
listen_unix(const char *spec, const char *path, unsigned mode, uid_t uid,
    gid_t gid, int backlog, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	mode_t	old;
	int	fd, rc, e;

	if (unix_addr(&sun, path, err, errlen) < 0
	    || sock_prepare(spec, err, errlen) < 0)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "socket %s: %s", spec, strerror(errno));
		return -1;
	}
	old = umask(~(mode_t)mode & 0777);	/* born with its mode */
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	e = errno;
	umask(old);
	if (rc < 0) {
		snprintf(err, errlen, "socket %s: bind: %s", spec, strerror(e));
		close(fd);
		return -1;
	}
	if (listen(fd, backlog) < 0) {
		snprintf(err, errlen, "socket %s: listen: %s", spec,
		    strerror(errno));
		goto fail;
	}
	if (sock_finish(spec, mode, uid, gid, err, errlen) < 0)
		goto fail;
	return fd;
fail:
	unlink(path);
	close(fd);
	return -1;
}

static int
listen_inet(const char *spec, int family, const char *rest, int backlog,
    char *err, size_t errlen)
{
	struct addrinfo hints, *res;
	char	port[8], host[256];
	const char *at;
	size_t	n, plen;
	int	fd, on = 1, rc;

	plen = strspn(rest, "0123456789");
	at = rest + plen;
	if (plen == 0 || plen > 5 || atoi(rest) > 65535
	    || (*at != '\0' && (*at != '@' || at[1] == '\0'))) {
		snprintf(err, errlen, "socket %s: expected %s:PORT@HOST", spec,
		    family == AF_INET6 ? "inet6" : "inet");
		return -1;
	}
	memcpy(port, rest, plen);
	port[plen] = '\0';
	host[0] = '\0';
	if (*at == '@') {
		at++;
		n = strlen(at);
		if (n >= 2 && at[0] == '[' && at[n - 1] == ']') {
			at++;
			n -= 2;
		}
		if (n == 0 || n >= sizeof(host)) {
			snprintf(err, errlen, "socket %s: bad host", spec);
			return -1;
		}
		memcpy(host, at, n);
		host[n] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "socket %s: %s", spec, gai_strerror(rc));
		return -1;
	}
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "socket %s: %s", spec, strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0
	    || (res->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) < 0)) {
		snprintf(err, errlen, "socket %s: setsockopt: %s", spec,
		    strerror(errno));
		goto fail;
	}
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
		snprintf(err, errlen, "socket %s: bind: %s", spec,
		    strerror(errno));
		goto fail;
	}
	if (listen(fd, backlog) < 0) {
		snprintf(err, errlen, "socket %s: listen: %s", spec,
		    strerror(errno));
		goto fail;
	}
	freeaddrinfo(res);
	return fd;
fail:
	freeaddrinfo(res);
	close(fd);
	return -1;
}

int
sock_listen(const char *spec, unsigned mode, uid_t uid, gid_t gid,
    int backlog, char *err, size_t errlen)
{
	const char *path;

	if ((path = sock_unix_path(spec)) != NULL)
		return listen_unix(spec, path, mode, uid, gid, backlog, err,
		    errlen);
	if (strncmp(spec, "inet:", 5) == 0)
		return listen_inet(spec, AF_INET, spec + 5, backlog, err, errlen);
	if (strncmp(spec, "inet6:", 6) == 0)
		return listen_inet(spec, AF_INET6, spec + 6, backlog, err, errlen);
	snprintf(err, errlen, "socket %s: expected unix:/path, local:/path, "
	    "inet:PORT@HOST or inet6:PORT@HOST", spec);
	return -1;
}
