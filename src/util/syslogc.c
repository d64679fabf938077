/*
 * NAME
 *	syslogc - a syslog client that never blocks for long
 * SYNOPSIS
 *	#include "util/syslogc.h"
 *
 *	int syslogc_open(c, path, tag, facility)
 *	int syslogc_send(c, severity, msg, len, timeout_ms)
 *	void syslogc_close(c)
 * DESCRIPTION
 *	glibc's syslog() writes to a blocking socket: when syslogd stalls
 *	(its queue full, the daemon stopped), every thread that logs hangs
 *	in it. This client sends the same messages over its own non-blocking
 *	datagram socket, so that a stalled syslogd costs a message, not the
 *	mail.
 *
 *	syslogc_open() makes the socket and connects it to path (normally
 *	SYSLOGC_PATH, /dev/log); tag and facility (LOG_MAIL, ...) go into
 *	every message. A syslogd that is not there yet is not an error: each
 *	send tries to connect again.
 *
 *	syslogc_send() sends one message in the RFC 3164 form glibc uses:
 *	"<PRI>Mmm dd hh:mm:ss tag[pid]: msg" (local time, PRI = facility |
 *	severity), msg[0..len) without a newline. When syslogd's queue is
 *	full it waits, with poll(2), at most timeout_ms in all; when syslogd
 *	went away (a restart) it connects again once. A datagram arrives
 *	whole or not at all, so a message is never torn. Threads may send at
 *	once; only a reconnect takes the lock.
 *
 *	syslogc_close() closes the socket.
 * DIAGNOSTICS
 *	syslogc_open() returns -1 only when no socket can be made.
 *	syslogc_send() returns 0 when the message was handed to the kernel,
 *	-1 with errno when it is lost (ETIMEDOUT: syslogd did not take it in
 *	time; ECONNREFUSED, ENOENT: no syslogd; EMSGSIZE: too long).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util/syslogc.h"

static long long
syslogc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
syslogc_connect(int fd, const char *path)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	return connect(fd, (struct sockaddr *)&sun, sizeof(sun));
}

int
syslogc_open(struct syslogc *c, const char *path, const char *tag,
    int facility)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->path, sizeof(c->path), "%s", path);
	snprintf(c->tag, sizeof(c->tag), "%s", tag);
	c->facility = facility & LOG_FACMASK;
	pthread_mutex_init(&c->lock, NULL);
	c->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	(void)syslogc_connect(c->fd, c->path);	/* may come later */
	return 0;
}

void
syslogc_close(struct syslogc *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	pthread_mutex_destroy(&c->lock);
}

/*
 * A new socket connected to syslogd, put behind the old descriptor number
 * in one step (dup3), so that a concurrent send uses the old socket or the
 * new one, never a closed number.
 */
static int
syslogc_reconnect(struct syslogc *c)
{
	int	fd, rc = -1, e;

	pthread_mutex_lock(&c->lock);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && syslogc_connect(fd, c->path) == 0
	    && dup3(fd, c->fd, O_CLOEXEC) >= 0)
		rc = 0;
	e = errno;
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&c->lock);
	errno = e;
	return rc;
}

/* "<PRI>Mmm dd hh:mm:ss tag[pid]: ", as glibc writes it. */
static size_t
syslogc_header(const struct syslogc *c, int severity, char *buf, size_t size)
{
	static const char months[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	struct tm tm;
	time_t	now = time(NULL);
	int	n;

	if (localtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	n = snprintf(buf, size, "<%d>%s %2d %02d:%02d:%02d %s[%ld]: ",
	    c->facility | (severity & LOG_PRIMASK), months[tm.tm_mon % 12],
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, c->tag,
	    (long)getpid());
	return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}

int
syslogc_send(struct syslogc *c, int severity, const char *msg, size_t len,
    int timeout_ms)
{
	char	head[128];
	struct iovec iov[2];
	struct msghdr mh;
	struct pollfd pfd;
	long long deadline = syslogc_now_ms() + timeout_ms, left;
	int	reconnected = 0, e;

	if (c->fd < 0) {
		errno = EBADF;
		return -1;
	}
	iov[0].iov_base = head;
	iov[0].iov_len = syslogc_header(c, severity, head, sizeof(head));
	iov[1].iov_base = (void *)msg;
	iov[1].iov_len = len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	for (;;) {
		if (sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			return 0;
		switch (e = errno) {
		case EINTR:
			continue;
		case EAGAIN:
#if EWOULDBLOCK != EAGAIN
		case EWOULDBLOCK:
#endif
		case ENOBUFS:
			if ((left = deadline - syslogc_now_ms()) <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			pfd.fd = c->fd;
			pfd.events = POLLOUT;
			pfd.revents = 0;
			/* ENOBUFS: poll says writable at once; wait a little */
			if (poll(&pfd, 1, e == ENOBUFS ? 1 : (int)left) < 0
			    && errno != EINTR)
				return -1;
			continue;
		case ECONNREFUSED:
		case ECONNRESET:
		case ENOTCONN:
		case EDESTADDRREQ:
		case EPIPE:
			/* syslogd went away, or was not there at open */
			if (reconnected++ || syslogc_reconnect(c) < 0)
				return -1;
			continue;
		default:
			return -1;
		}
	}
}
