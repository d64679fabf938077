/*
 * NAME
 *	smtpload - ESMTP load generator for the Postfix benchmark
 * SYNOPSIS
 *	smtpload [-s sessions] [-m messages] [-l length] [-r rcpts]
 *	    [-f from] [-t to] [-M helo-name] [-T timeout-s]
 *	    [-a user:password [-U users]] host:port
 * DESCRIPTION
 *	smtp-source's load with ESMTP: smtp-source (Postfix 3.7) says HELO,
 *	so a milter behind Postfix never sees an ESMTP session. smtpload
 *	runs sessions threads in parallel; each takes the next of messages
 *	messages and sends it in a connection of its own, like smtp-source
 *	without -d: greeting, EHLO, MAIL FROM, rcpts RCPT TO (named 1to,
 *	2to, ... as smtp-source -r names them), DATA with a few headers and
 *	length bytes of body in lines of 78 octets, QUIT. No pipelining.
 *
 *	With -a, every session authenticates after EHLO with AUTH PLAIN and
 *	its initial response, base64 of "\0user\0password" (one round trip;
 *	the server must answer 235), so that its relay recipients are those
 *	of an authenticated session. The user part may hold one "%d": with
 *	-U users, message number i (0, 1, ...) logs in as that user with
 *	%d replaced by i modulo users (-a 'user%d:secret' -U 100: user0 ..
 *	user99, cycled, all with the password secret); without -U, %d is 0.
 *	The password is everything after the first ':', the same for all.
 *
 *	Every reply code is checked (220, 250, 235 for AUTH, 250 for each
 *	RCPT, 354, 250, 221); a message counts as sent when the server
 *	accepted its DATA.
 *	At the end one line:
 *	RESULT messages=N ok=N errors=N elapsed_s=S messages_per_s=R
 * DIAGNOSTICS
 *	Exit status 1 when a message was not accepted (the first few
 *	failures are printed), 2 on a usage error.
 */
#include <errno.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct conn {
	int	fd;
	char	buf[8192];
	size_t	len, off;
};

static const char *opt_host, *opt_port;
static const char *opt_from = "bench@remote.test";
static const char *opt_to = "rcpt@example.org";
static const char *opt_helo = "client.test";
static int opt_sessions = 8, opt_rcpts = 2, opt_timeout = 60;
static long opt_messages = 100;
static size_t opt_length = 10240;
static const char *opt_user;	/* -a: before the ':'; may hold one %d */
static const char *opt_pass;	/* -a: after the ':' */
static int opt_users = 1;	/* -U */

#define AUTH_MAX	256	/* user and password, each */

static char *message;		/* headers, body, "." line */
static size_t message_len;
static atomic_long next_msg, ok_msgs, err_msgs;
static atomic_int printed;

static void
fail(const char *what, const char *detail)
{
	if (atomic_fetch_add(&printed, 1) < 5)
		fprintf(stderr, "smtpload: %s: %s\n", what, detail);
}

static int
send_all(struct conn *c, const char *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(c->fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One reply, multi-line ones joined: its code, or -1. */
static int
reply(struct conn *c, char *last, size_t lastlen)
{
	char	line[1024];
	size_t	ll = 0;
	ssize_t	n;
	char	ch;

	for (;;) {
		if (c->off == c->len) {
			if ((n = read(c->fd, c->buf, sizeof(c->buf))) <= 0) {
				if (n < 0 && errno == EINTR)
					continue;
				return -1;
			}
			c->off = 0;
			c->len = (size_t)n;
		}
		ch = c->buf[c->off++];
		if (ch == '\n') {
			line[ll] = '\0';
			if (ll > 0 && line[ll - 1] == '\r')
				line[--ll] = '\0';
			snprintf(last, lastlen, "%s", line);
			if (ll < 3)
				return -1;
			if (ll == 3 || line[3] == ' ')
				return atoi(line);
			ll = 0;		/* "250-..." goes on */
			continue;
		}
		if (ll < sizeof(line) - 1)
			line[ll++] = ch;
	}
}

static int
command(struct conn *c, const char *cmd, int want, const char *stage)
{
	char	last[1024];
	int	code;

	if (cmd && send_all(c, cmd, strlen(cmd)) < 0) {
		fail(stage, strerror(errno));
		return -1;
	}
	if ((code = reply(c, last, sizeof(last))) != want) {
		fail(stage, code < 0 ? "connection lost or bad reply" : last);
		return -1;
	}
	return 0;
}

static int
dial(void)
{
	struct addrinfo hints, *res, *ai;
	struct timeval tv;
	int	fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(opt_host, opt_port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    0)) < 0)
			continue;
		tv.tv_sec = opt_timeout;
		tv.tv_usec = 0;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* "AUTH PLAIN base64(\0user\0password)\r\n" for message n, into cmd. */
static void
auth_command(long n, char *cmd, size_t cmdlen)
{
	unsigned char plain[2 * AUTH_MAX + 16];
	const char *pct = strstr(opt_user, "%d");
	size_t	len, plen = strlen(opt_pass);
	int	k;

	plain[0] = '\0';
	if (pct)
		len = 1 + (size_t)snprintf((char *)plain + 1, sizeof(plain) - 1,
		    "%.*s%ld%s", (int)(pct - opt_user), opt_user,
		    n % opt_users, pct + 2);
	else
		len = 1 + (size_t)snprintf((char *)plain + 1, sizeof(plain) - 1,
		    "%s", opt_user);
	plain[len++] = '\0';
	memcpy(plain + len, opt_pass, plen);
	len += plen;
	/* 11 + 4 * ceil(len / 3) + 3 bytes: cmd holds 1200 */
	k = snprintf(cmd, cmdlen, "AUTH PLAIN ");
	k += EVP_EncodeBlock((unsigned char *)cmd + k, plain, (int)len);
	snprintf(cmd + k, cmdlen - (size_t)k, "\r\n");
}

static int
one_message(long n)
{
	struct conn c;
	char	cmd[1200];
	int	i, rc = -1;

	memset(&c, 0, sizeof(c));
	if ((c.fd = dial()) < 0) {
		fail("connect", strerror(errno));
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "EHLO %s\r\n", opt_helo);
	if (command(&c, NULL, 220, "greeting") < 0
	    || command(&c, cmd, 250, "EHLO") < 0)
		goto out;
	if (opt_user) {
		auth_command(n, cmd, sizeof(cmd));
		if (command(&c, cmd, 235, "AUTH") < 0)
			goto out;
	}
	snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>\r\n", opt_from);
	if (command(&c, cmd, 250, "MAIL") < 0)
		goto out;
	for (i = 1; i <= opt_rcpts; i++) {
		if (opt_rcpts == 1)
			snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>\r\n", opt_to);
		else
			snprintf(cmd, sizeof(cmd), "RCPT TO:<%d%s>\r\n", i,
			    opt_to);
		if (command(&c, cmd, 250, "RCPT") < 0)
			goto out;
	}
	if (command(&c, "DATA\r\n", 354, "DATA") < 0)
		goto out;
	if (send_all(&c, message, message_len) < 0) {
		fail("message", strerror(errno));
		goto out;
	}
	if (command(&c, NULL, 250, "end of data") < 0)
		goto out;
	rc = 0;
	command(&c, "QUIT\r\n", 221, "QUIT");	/* the message is in */
out:
	close(c.fd);
	return rc;
}

static void *
session_main(void *arg)
{
	long	n;

	(void)arg;
	while ((n = atomic_fetch_add(&next_msg, 1)) < opt_messages) {
		if (one_message(n) == 0)
			atomic_fetch_add(&ok_msgs, 1);
		else
			atomic_fetch_add(&err_msgs, 1);
	}
	return NULL;
}

static void
build_message(void)
{
	static const char line[] = "0123456789abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd\r\n";	/* 78 + CRLF */
	size_t	cap = opt_length + 2 * sizeof(line) + 1024, n;
	char	*p;

	if ((message = malloc(cap)) == NULL) {
		perror("smtpload: malloc");
		exit(2);
	}
	n = (size_t)snprintf(message, cap, "From: <%s>\r\nTo: <%s>\r\n"
	    "Subject: sessguard bench\r\n\r\n", opt_from, opt_to);
	p = message + n;
	while ((size_t)(p - message) - n < opt_length) {
		memcpy(p, line, sizeof(line) - 1);
		p += sizeof(line) - 1;
	}
	memcpy(p, ".\r\n", 3);
	p += 3;
	message_len = (size_t)(p - message);
}

static void
usage(void)
{
	fprintf(stderr, "usage: smtpload [-s sessions] [-m messages] "
	    "[-l length] [-r rcpts] [-f from] [-t to] [-M helo] [-T secs] "
	    "[-a user:password [-U users]] host:port\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct timespec t0, t1;
	pthread_t *th;
	char	*colon, *auth = NULL;
	const char *pct;
	double	secs;
	int	ch, i;

	while ((ch = getopt(argc, argv, "s:m:l:r:f:t:M:T:a:U:")) != -1) {
		switch (ch) {
		case 's': opt_sessions = atoi(optarg); break;
		case 'm': opt_messages = atol(optarg); break;
		case 'l': opt_length = (size_t)atol(optarg); break;
		case 'r': opt_rcpts = atoi(optarg); break;
		case 'f': opt_from = optarg; break;
		case 't': opt_to = optarg; break;
		case 'M': opt_helo = optarg; break;
		case 'T': opt_timeout = atoi(optarg); break;
		case 'a': auth = optarg; break;
		case 'U': opt_users = atoi(optarg); break;
		default: usage();
		}
	}
	if (optind != argc - 1 || opt_sessions < 1 || opt_messages < 1
	    || opt_rcpts < 1 || opt_rcpts > 1000)
		usage();
	if (auth) {
		/* user:password; the user holds at most one %d, no other % */
		if ((colon = strchr(auth, ':')) == NULL || colon == auth)
			usage();
		*colon = '\0';
		opt_user = auth;
		opt_pass = colon + 1;
		pct = strstr(opt_user, "%d");
		if (strlen(opt_user) > AUTH_MAX - 16
		    || strlen(opt_pass) > AUTH_MAX
		    || (strchr(opt_user, '%') && strchr(opt_user, '%') != pct)
		    || (pct && strchr(pct + 1, '%')))
			usage();
	}
	if (opt_users < 1)
		usage();
	opt_host = argv[optind];
	if ((colon = strrchr(argv[optind], ':')) == NULL)
		usage();
	*colon = '\0';
	opt_port = colon + 1;
	build_message();
	if ((th = calloc((size_t)opt_sessions, sizeof(*th))) == NULL)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < opt_sessions; i++)
		if (pthread_create(&th[i], NULL, session_main, NULL) != 0) {
			perror("smtpload: pthread_create");
			return 2;
		}
	for (i = 0; i < opt_sessions; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("RESULT messages=%ld ok=%ld errors=%ld elapsed_s=%.3f "
	    "messages_per_s=%.1f\n", opt_messages, atomic_load(&ok_msgs),
	    atomic_load(&err_msgs), secs, atomic_load(&ok_msgs) / secs);
	free(message);
	free(th);
	return atomic_load(&err_msgs) ? 1 : 0;
}
