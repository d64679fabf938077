/*
 * NAME
 *	smtpio - SMTP client I/O for sessguard-probe: timeouts, bounds, TLS
 * SYNOPSIS
 *	#include "probe/smtpio.h"
 *
 *	void smtp_init(conn, timeout)
 *	int smtp_connect(conn, host, port)
 *	int smtp_tls(conn, ctx, servername)
 *	size_t smtp_pending(conn)
 *	void smtp_discard(conn)
 *	int smtp_write(conn, data, len, shown)
 *	int smtp_send(conn, fmt, ...)
 *	int smtp_read(conn, reply)
 *	int smtp_cmd(conn, reply, fmt, ...)
 *	void smtp_note(conn, text)
 *	void smtp_close(conn)
 *	void smtp_reply_init(reply), smtp_reply_free(reply)
 *	const char *smtp_reply_first(reply, buf, size)
 * DESCRIPTION
 *	One client connection to an SMTP server, plain or TLS, and the
 *	transcript of everything said on it: each line the client wrote as
 *	"C: line", each reply line as "S: line", events (TLS handshake,
 *	timeout, close) as "-- text". Transcript lines are raw bytes without
 *	'\n'; whoever prints them escapes them (report.c).
 *
 *	smtp_init() prepares conn with a timeout in seconds. smtp_connect()
 *	resolves host and connects to port (a number or service name), each
 *	address in turn, within the timeout. smtp_tls() runs the client side
 *	of a TLS handshake on the connection (for STARTTLS after its 220, or
 *	at once for implicit TLS); servername goes out as SNI unless it is an
 *	address literal. Bytes already received in plain text are not part
 *	of TLS: smtp_pending() tells how many there are (a server that
 *	answered commands pipelined behind STARTTLS before its handshake),
 *	smtp_discard() drops them, and smtp_tls() refuses to start while any
 *	are left. A failed handshake closes the connection.
 *
 *	smtp_write() sends data[0..len), which holds one or more CRLF-ended
 *	lines, in one write; the transcript gets the lines of shown instead
 *	when shown is not null (masked credentials). smtp_send() formats one
 *	command line, adds CRLF and sends it. smtp_read() reads one reply,
 *	multi-line or not; smtp_cmd() is smtp_send() then smtp_read().
 *	smtp_note() adds a "-- text" line to the transcript. smtp_close()
 *	closes the connection and keeps the transcript (strbuf_free() it).
 *
 *	smtp_reply_first() copies the first line of a reply (at most size-1
 *	bytes) to buf, or "no reply: " and the error when there was none
 *	(smtp_read() leaves conn->error in reply->text then).
 *
 *	Bounds: every read and write waits at most the timeout (SO_RCVTIMEO,
 *	SO_SNDTIMEO), and a whole reply at most twice the timeout, however
 *	slowly it trickles in. Of a reply line SMTP_LINE_KEEP bytes are kept
 *	and the rest counted ("...(+N bytes)"); a line over SMTP_LINE_MAX
 *	bytes or a reply over SMTP_REPLY_LINES lines is a protocol error,
 *	after which the connection is unusable. The transcript stops growing
 *	at SMTP_TRANSCRIPT_MAX bytes.
 * DIAGNOSTICS
 *	smtp_connect(), smtp_tls() and smtp_write() return 0, or -1 with the
 *	reason in conn->error. smtp_read() returns the reply code, or one of
 *	SMTP_ERR_TIMEOUT, SMTP_ERR_CLOSED, SMTP_ERR_PROTO, SMTP_ERR_IO with
 *	conn->error set; the code is also in reply->code.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "probe/smtpio.h"
#include "util/json.h"

void
smtp_init(struct smtp_conn *conn, int timeout)
{
	conn->fd = -1;
	conn->ssl = NULL;
	conn->timeout = timeout;
	conn->start = conn->end = 0;
	strbuf_init(&conn->transcript);
	conn->transcript_full = 0;
	conn->error[0] = '\0';
}

static void
smtp_error(struct smtp_conn *conn, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(conn->error, sizeof(conn->error), fmt, ap);
	va_end(ap);
}

/* One transcript line: prefix, then data cut at SMTP_LINE_KEEP bytes. */
static void
smtp_record(struct smtp_conn *conn, const char *prefix, const char *data,
    size_t len, size_t dropped)
{
	struct strbuf *t = &conn->transcript;

	if (conn->transcript_full)
		return;
	if (len > SMTP_LINE_KEEP) {
		dropped += len - SMTP_LINE_KEEP;
		len = SMTP_LINE_KEEP;
	}
	if (t->len + len + 64 > SMTP_TRANSCRIPT_MAX) {
		strbuf_puts(t, "-- transcript cut here\n");
		conn->transcript_full = 1;
		return;
	}
	strbuf_puts(t, prefix);
	strbuf_append(t, data, len);
	if (dropped)
		strbuf_printf(t, JSON_TRUNC_MARK "(+%zu bytes)", dropped);
	strbuf_putc(t, '\n');
}

void
smtp_note(struct smtp_conn *conn, const char *text)
{
	smtp_record(conn, "-- ", text, strlen(text), 0);
}

/* Sets the socket timeouts; also used before TLS exists. */
static int
smtp_set_timeouts(int fd, int timeout)
{
	struct timeval tv;

	tv.tv_sec = timeout;
	tv.tv_usec = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0
	    || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -1;
	return 0;
}

/* connect() to one address within the timeout. */
static int
smtp_connect_one(struct smtp_conn *conn, const struct addrinfo *ai)
{
	struct pollfd pfd;
	socklen_t slen;
	int	fd, flags, err, n;

	if ((fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol)) < 0) {
		smtp_error(conn, "socket: %s", strerror(errno));
		return -1;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		goto fail_errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS)
			goto fail_errno;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do
			n = poll(&pfd, 1, conn->timeout * 1000);
		while (n < 0 && errno == EINTR);
		if (n == 0) {
			smtp_error(conn, "connect: timed out after %d s",
			    conn->timeout);
			close(fd);
			return -1;
		}
		slen = sizeof(err);
		if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &slen) < 0)
			goto fail_errno;
		if (err) {
			errno = err;
			goto fail_errno;
		}
	}
	if (fcntl(fd, F_SETFL, flags) < 0
	    || smtp_set_timeouts(fd, conn->timeout) < 0)
		goto fail_errno;
	conn->fd = fd;
	return 0;

fail_errno:
	smtp_error(conn, "connect: %s", strerror(errno));
	close(fd);
	return -1;
}

int
smtp_connect(struct smtp_conn *conn, const char *host, const char *port)
{
	struct addrinfo hints, *res, *ai;
	int	rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		smtp_error(conn, "%s port %s: %s", host, port, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (smtp_connect_one(conn, ai) == 0)
			break;
	freeaddrinfo(res);
	return conn->fd >= 0 ? 0 : -1;
}

static int
smtp_is_literal(const char *name)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, name, addr) == 1
	    || inet_pton(AF_INET6, name, addr) == 1;
}

int
smtp_tls(struct smtp_conn *conn, SSL_CTX *ctx, const char *servername)
{
	char	note[128], ebuf[160];
	unsigned long e;
	int	rc;

	if (conn->start != conn->end) {
		smtp_error(conn, "%zu bytes of plain text still unread",
		    conn->end - conn->start);
		return -1;
	}
	if ((conn->ssl = SSL_new(ctx)) == NULL
	    || SSL_set_fd(conn->ssl, conn->fd) != 1) {
		smtp_error(conn, "TLS: cannot set up (out of memory?)");
		smtp_close(conn);
		return -1;
	}
	if (servername && !smtp_is_literal(servername))
		SSL_set_tlsext_host_name(conn->ssl, servername);
	ERR_clear_error();
	errno = 0;
	if ((rc = SSL_connect(conn->ssl)) != 1) {
		e = ERR_get_error();
		if (e) {
			ERR_error_string_n(e, ebuf, sizeof(ebuf));
			smtp_error(conn, "TLS handshake failed: %s", ebuf);
		} else if (errno == EAGAIN || errno == EWOULDBLOCK)
			smtp_error(conn, "TLS handshake failed: timed out after %d s",
			    conn->timeout);
		else
			smtp_error(conn, "TLS handshake failed: %s",
			    errno ? strerror(errno) : "connection closed");
		smtp_note(conn, conn->error);
		smtp_close(conn);
		return -1;
	}
	snprintf(note, sizeof(note), "TLS handshake done (%s, %s)",
	    SSL_get_version(conn->ssl), SSL_get_cipher_name(conn->ssl));
	smtp_note(conn, note);
	return 0;
}

size_t
smtp_pending(const struct smtp_conn *conn)
{
	return conn->end - conn->start;
}

void
smtp_discard(struct smtp_conn *conn)
{
	conn->start = conn->end = 0;
}

/* Reads more into buf; returns the number of bytes or an SMTP_ERR_*. */
static int
smtp_fill(struct smtp_conn *conn)
{
	size_t	room;
	ssize_t	n;
	int	err;

	if (conn->start == conn->end)
		conn->start = conn->end = 0;
	if (conn->start > 0 && conn->end == sizeof(conn->buf)) {
		memmove(conn->buf, conn->buf + conn->start, conn->end - conn->start);
		conn->end -= conn->start;
		conn->start = 0;
	}
	room = sizeof(conn->buf) - conn->end;
	if (conn->ssl) {
		ERR_clear_error();
		errno = 0;
		n = SSL_read(conn->ssl, conn->buf + conn->end, (int)room);
		if (n > 0)
			goto got;
		err = SSL_get_error(conn->ssl, (int)n);
		if (err == SSL_ERROR_ZERO_RETURN
		    || (err == SSL_ERROR_SYSCALL && errno == 0))
			goto closed;
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE
		    || errno == EAGAIN || errno == EWOULDBLOCK)
			goto timeout;
		smtp_error(conn, "TLS read error (%s)",
		    errno ? strerror(errno) : "protocol");
		return SMTP_ERR_IO;
	}
	do
		n = recv(conn->fd, conn->buf + conn->end, room, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		goto got;
	if (n == 0)
		goto closed;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		goto timeout;
	smtp_error(conn, "read error: %s", strerror(errno));
	return SMTP_ERR_IO;

got:
	conn->end += (size_t)n;
	return (int)n;
closed:
	smtp_error(conn, "connection closed by the server");
	return SMTP_ERR_CLOSED;
timeout:
	smtp_error(conn, "no reply within %d s", conn->timeout);
	return SMTP_ERR_TIMEOUT;
}

static double
smtp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * One line without its '\n' (and '\r'): the first SMTP_LINE_KEEP bytes in
 * line, the count of the others in *dropped.
 */
static int
smtp_getline(struct smtp_conn *conn, struct strbuf *line, size_t *dropped,
    double deadline)
{
	size_t	total = 0, take;
	char	*nl, lastc = '\0';
	int	rc;

	strbuf_reset(line);
	*dropped = 0;
	if (strbuf_reserve(line, SMTP_LINE_KEEP + 2) < 0) {
		smtp_error(conn, "out of memory");
		return SMTP_ERR_IO;
	}
	for (;;) {
		nl = memchr(conn->buf + conn->start, '\n', conn->end - conn->start);
		take = (nl ? (size_t)(nl - conn->buf) : conn->end) - conn->start;
		if (take > 0)
			lastc = conn->buf[conn->start + take - 1];
		total += take;
		if (line->len <= SMTP_LINE_KEEP) {
			size_t keep = SMTP_LINE_KEEP + 1 - line->len;

			strbuf_append(line, conn->buf + conn->start,
			    take < keep ? take : keep);
		}
		conn->start += take;
		if (nl) {
			conn->start++;
			break;
		}
		if (total > SMTP_LINE_MAX) {
			smtp_error(conn, "reply line longer than %d bytes",
			    SMTP_LINE_MAX);
			return SMTP_ERR_PROTO;
		}
		if (smtp_now() > deadline) {
			smtp_error(conn, "reply not complete within %d s",
			    2 * conn->timeout);
			return SMTP_ERR_TIMEOUT;
		}
		if ((rc = smtp_fill(conn)) < 0)
			return rc;
	}
	if (lastc == '\r')
		total--;			/* CRLF ends the line */
	if (line->len > total)
		line->len = total;
	if (line->len > SMTP_LINE_KEEP)
		line->len = SMTP_LINE_KEEP;
	if (line->data)
		line->data[line->len] = '\0';
	*dropped = total - line->len;
	return strbuf_failed(line) ? SMTP_ERR_IO : 0;
}

static int
smtp_line_code(const char *s, size_t len, int *last)
{
	if (len < 3 || s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9'
	    || s[2] < '0' || s[2] > '9')
		return -1;
	if (len > 3 && s[3] != ' ' && s[3] != '-')
		return -1;
	*last = len == 3 || s[3] == ' ';
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

int
smtp_read(struct smtp_conn *conn, struct smtp_reply *reply)
{
	struct strbuf line;
	double	deadline = smtp_now() + 2.0 * conn->timeout;
	size_t	dropped;
	int	rc, code, last = 0, nlines = 0;

	strbuf_reset(&reply->text);
	reply->code = 0;
	if (conn->fd < 0) {
		smtp_error(conn, "not connected");
		return reply->code = SMTP_ERR_IO;
	}
	strbuf_init(&line);
	while (!last) {
		if ((rc = smtp_getline(conn, &line, &dropped, deadline)) < 0) {
			reply->code = rc;
			smtp_note(conn, conn->error);
			break;
		}
		smtp_record(conn, "S: ", line.data, line.len, dropped);
		code = smtp_line_code(line.data, line.len, &last);
		if (code < 0 || (reply->code && code != reply->code)
		    || ++nlines > SMTP_REPLY_LINES) {
			smtp_error(conn, nlines > SMTP_REPLY_LINES ?
			    "reply longer than %d lines" :
			    "malformed reply line", SMTP_REPLY_LINES);
			smtp_note(conn, conn->error);
			reply->code = SMTP_ERR_PROTO;
			break;
		}
		reply->code = code;
		if (reply->text.len)
			strbuf_putc(&reply->text, '\n');
		strbuf_append(&reply->text, line.data, line.len);
	}
	strbuf_free(&line);
	if (reply->code < 0) {
		strbuf_reset(&reply->text);
		strbuf_puts(&reply->text, conn->error);
		smtp_close(conn);
	}
	return reply->code;
}

int
smtp_write(struct smtp_conn *conn, const char *data, size_t len,
    const char *shown)
{
	const char *p, *end, *eol;
	size_t	off = 0;
	ssize_t	n;

	if (conn->fd < 0) {
		smtp_error(conn, "not connected");
		return -1;
	}
	p = shown ? shown : data;
	end = shown ? shown + strlen(shown) : data + len;
	for (; p < end; p = eol + 2) {
		if ((eol = memmem(p, (size_t)(end - p), "\r\n", 2)) == NULL)
			eol = end;
		smtp_record(conn, "C: ", p, (size_t)(eol - p), 0);
		if (eol == end)
			break;
	}
	while (off < len) {
		if (conn->ssl) {
			ERR_clear_error();
			n = SSL_write(conn->ssl, data + off, (int)(len - off));
		} else {
			do
				n = send(conn->fd, data + off, len - off,
				    MSG_NOSIGNAL);
			while (n < 0 && errno == EINTR);
		}
		if (n <= 0) {
			smtp_error(conn, "write failed: %s",
			    errno == EAGAIN ? "timed out" :
			    errno ? strerror(errno) : "connection closed");
			smtp_note(conn, conn->error);
			smtp_close(conn);
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

static int
smtp_vsend(struct smtp_conn *conn, const char *fmt, va_list ap)
{
	char	buf[2048];
	int	n;

	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	if (n < 0 || (size_t)n >= sizeof(buf) - 2) {
		smtp_error(conn, "command too long for the probe");
		return -1;
	}
	memcpy(buf + n, "\r\n", 2);
	return smtp_write(conn, buf, (size_t)n + 2, NULL);
}

int
smtp_send(struct smtp_conn *conn, const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	rc = smtp_vsend(conn, fmt, ap);
	va_end(ap);
	return rc;
}

int
smtp_cmd(struct smtp_conn *conn, struct smtp_reply *reply, const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	rc = smtp_vsend(conn, fmt, ap);
	va_end(ap);
	if (rc < 0) {
		strbuf_reset(&reply->text);
		strbuf_puts(&reply->text, conn->error);
		return reply->code = SMTP_ERR_IO;
	}
	return smtp_read(conn, reply);
}

void
smtp_close(struct smtp_conn *conn)
{
	if (conn->ssl) {
		SSL_free(conn->ssl);
		conn->ssl = NULL;
	}
	if (conn->fd >= 0) {
		close(conn->fd);
		conn->fd = -1;
	}
	conn->start = conn->end = 0;
}

void
smtp_reply_init(struct smtp_reply *reply)
{
	reply->code = 0;
	strbuf_init(&reply->text);
}

void
smtp_reply_free(struct smtp_reply *reply)
{
	strbuf_free(&reply->text);
}

const char *
smtp_reply_first(const struct smtp_reply *reply, char *buf, size_t size)
{
	const char *text = reply->text.data ? reply->text.data : "";
	size_t	len = strcspn(text, "\n");

	if (reply->code < 0 && len > 0) {
		snprintf(buf, size, "no reply: %.*s", (int)len, text);
		return buf;
	}
	if (reply->code < 0 || len == 0) {
		snprintf(buf, size, "%s", reply->code == SMTP_ERR_TIMEOUT ?
		    "no reply (timeout)" : reply->code == SMTP_ERR_CLOSED ?
		    "connection closed" : reply->code == SMTP_ERR_PROTO ?
		    "malformed reply" : "no reply");
		return buf;
	}
	if (len >= size)
		len = size - 1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	return buf;
}
