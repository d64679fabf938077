/*
 * NAME
 *	writeall - write a whole buffer, within a time bound
 * SYNOPSIS
 *	#include "util/writeall.h"
 *
 *	int write_buf(fd, buf, len, timeout_ms, done)
 * DESCRIPTION
 *	write_buf() writes buf[0..len) to fd, calling write(2) again after
 *	a short write and after EINTR, and returns 0 once every byte is
 *	written.
 *
 *	On a non-blocking descriptor that is full (EAGAIN), it waits with
 *	poll(2) for the descriptor to take more, for at most timeout_ms
 *	milliseconds in all (CLOCK_MONOTONIC, counted from the first wait):
 *	0 does not wait at all; a negative timeout_ms waits as long as it
 *	takes. A blocking descriptor simply blocks in write(2).
 *
 *	When done is not a null pointer, *done is set to the number of bytes
 *	written, also when the call fails: a caller that writes records (log
 *	lines) learns whether one stopped part-way.
 * DIAGNOSTICS
 *	write_buf() returns -1 with errno set when a write fails (ENOSPC,
 *	EPIPE, EIO, ...) or when the time is up (ETIMEDOUT); then *done bytes
 *	went out.
 */
#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "util/writeall.h"

static long long
writeall_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
write_buf(int fd, const void *buf, size_t len, int timeout_ms, size_t *done)
{
	const char *p = buf;
	struct pollfd pfd;
	long long deadline = -1, left;
	size_t	 written = 0;
	ssize_t	 n;
	int	 rc = 0, wait;

	while (written < len) {
		if ((n = write(fd, p + written, len - written)) >= 0) {
			written += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			rc = -1;
			break;
		}
		if (timeout_ms >= 0) {
			if (deadline < 0)
				deadline = writeall_now_ms() + timeout_ms;
			if ((left = deadline - writeall_now_ms()) <= 0) {
				errno = ETIMEDOUT;
				rc = -1;
				break;
			}
			wait = (int)left;
		} else {
			wait = -1;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, wait) < 0 && errno != EINTR) {
			rc = -1;
			break;
		}
	}
	if (done)
		*done = written;
	return rc;
}
