/*
 * NAME
 *	daemon - pidfile lock, detaching, privilege drop
 * SYNOPSIS
 *	#include "util/daemon.h"
 *
 *	int daemon_ugid_lookup(user, group, ugid, err, errlen)
 *
 *	int daemon_ugid_set(ugid, err, errlen)
 *
 *	int daemon_pidfile_lock(path, err, errlen)
 *
 *	int daemon_pidfile_write(fd, path, err, errlen)
 *
 *	int daemon_detach(err, errlen)
 * DESCRIPTION
 *	The generic parts of a daemon's start, as Postfix keeps set_ugid()
 *	and open_lock() apart from its programs' main().
 *
 *	daemon_ugid_lookup() looks up the user and group (either may be
 *	NULL) to become later, while messages still reach the terminal (the
 *	user's name must live until daemon_ugid_set()). No
 *	user and no group: ugid->change is 0 and nothing will change. A user
 *	alone brings its primary group; a group overrides it. Changing
 *	identity needs root.
 *
 *	daemon_ugid_set() drops privileges for good: supplementary groups
 *	(the user's, or the group alone), gid, then uid; it checks that root
 *	cannot be regained. Call it before any thread starts, so that every
 *	thread runs as the user.
 *
 *	daemon_pidfile_lock() opens (creating it 0644, never through a
 *	symlink) and flock()s the pidfile, and returns its descriptor (close-
 *	on-exec). The lock survives daemon_detach()'s forks and is held until
 *	the process ends, so a second instance is refused, with the pid the
 *	file names, while the first is still on the terminal.
 *
 *	daemon_pidfile_write() writes the current pid into the locked file
 *	(after detaching: the pid that stays).
 *
 *	daemon_detach() forks twice around setsid(), changes to /, puts
 *	stdin, stdout and stderr on /dev/null and sends msg_*() messages to
 *	syslog. The original process exits 0. Signals pending in it are not
 *	inherited (fork() clears them); the signal mask is.
 * DIAGNOSTICS
 *	Each returns -1 (daemon_pidfile_lock(): -1 instead of a descriptor)
 *	with a message in err naming the user, group, file or call that
 *	failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util/daemon.h"
#include "util/msg.h"

int
daemon_ugid_lookup(const char *user, const char *group,
    struct daemon_ugid *ugid, char *err, size_t errlen)
{
	struct passwd *pw;
	struct group *gr;

	memset(ugid, 0, sizeof(*ugid));
	if (user == NULL && group == NULL)
		return 0;
	if (getuid() != 0 && geteuid() != 0) {
		snprintf(err, errlen, "user/group are set, but sessguard was "
		    "not started as root: cannot change identity");
		return -1;
	}
	ugid->change = 1;
	ugid->uid = getuid();
	ugid->gid = getgid();
	if (user) {
		if ((pw = getpwnam(user)) == NULL) {
			snprintf(err, errlen, "user %s: no such user", user);
			return -1;
		}
		ugid->uid = pw->pw_uid;
		ugid->gid = pw->pw_gid;
		ugid->name = user;
	}
	if (group) {
		if ((gr = getgrnam(group)) == NULL) {
			snprintf(err, errlen, "group %s: no such group", group);
			return -1;
		}
		ugid->gid = gr->gr_gid;
	}
	return 0;
}

int
daemon_ugid_set(const struct daemon_ugid *ugid, char *err, size_t errlen)
{
	if (!ugid->change)
		return 0;
	if (ugid->name ? initgroups(ugid->name, ugid->gid) < 0
	    : setgroups(1, &ugid->gid) < 0) {
		snprintf(err, errlen, "setgroups: %s", strerror(errno));
		return -1;
	}
	if (setgid(ugid->gid) < 0) {
		snprintf(err, errlen, "setgid(%u): %s", (unsigned)ugid->gid,
		    strerror(errno));
		return -1;
	}
	if (setuid(ugid->uid) < 0) {
		snprintf(err, errlen, "setuid(%u): %s", (unsigned)ugid->uid,
		    strerror(errno));
		return -1;
	}
	if (ugid->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		snprintf(err, errlen, "could regain root after dropping "
		    "privileges");
		return -1;
	}
	return 0;
}

int
daemon_pidfile_lock(const char *path, char *err, size_t errlen)
{
	char	buf[32];
	ssize_t	n;
	int	fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0644)) < 0) {
		snprintf(err, errlen, "pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			snprintf(err, errlen, "pidfile %s: lock: %s", path,
			    strerror(errno));
		} else {
			n = read(fd, buf, sizeof(buf) - 1);
			buf[n > 0 ? n : 0] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
			snprintf(err, errlen, "pidfile %s is locked: sessguard "
			    "is already running (pid %s)", path,
			    buf[0] ? buf : "unknown");
		}
		close(fd);
		return -1;
	}
	return fd;
}

int
daemon_pidfile_write(int fd, const char *path, char *err, size_t errlen)
{
	char	buf[32];
	int	len;

	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
		snprintf(err, errlen, "pidfile %s: write: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
daemon_detach(char *err, size_t errlen)
{
	pid_t	pid;
	int	fd;

	if ((pid = fork()) < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0)
		_exit(0);
	if (setsid() < 0) {
		snprintf(err, errlen, "setsid: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0) {
		snprintf(err, errlen, "chdir /: %s", strerror(errno));
		return -1;
	}
	if ((fd = open("/dev/null", O_RDWR)) < 0) {
		snprintf(err, errlen, "/dev/null: %s", strerror(errno));
		return -1;
	}
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	msg_to_syslog(1);
	return 0;
}
