/*
 * NAME
 *	policyload - Postfix policy-delegation load generator
 * SYNOPSIS
 *	policyload [options] SERVER
 *
 *	SERVER is unix:/path, /path, inet:PORT@HOST or HOST:PORT (IPv4).
 * DESCRIPTION
 *	Plays the policy client of C Postfix smtpd processes (SMTPD_POLICY_
 *	README): C connections, each a stream of requests one at a time, as
 *	Postfix sends them, until N requests were answered in all. Every
 *	request carries the full attribute set of Postfix 3.7, in its order,
 *	empty where unknown, and every request is distinct: each connection
 *	is one smtpd process (its pid is the first field of instance), which
 *	serves one SMTP session after another; a session has a client
 *	address and port of its own, is authenticated (sasl_username,
 *	sasl_method) in the share -a of sessions and in TLS in a third of
 *	them, and runs T transactions (a new instance each: pid, seconds,
 *	microseconds, counter) of K RCPT requests, even ones to a local
 *	recipient (example.org), odd ones to a remote one (remote.test), each
 *	recipient address numbered.
 *
 *	Every reply is checked: a remote recipient of an unauthenticated
 *	session must get "action=" followed by --refuse (554 5.7.1 by
 *	default), every other request "action=DUNNO" (in any case). The
 *	server under test must know example.org as local and trust none of
 *	the client addresses (198.51.100.0/24). A wrong reply, a closed
 *	connection or a reply later than --timeout is an error: counted,
 *	the first few are printed, and the exit status is 1.
 *
 *	One thread drives every connection (epoll); latency is from the
 *	write of a request to the end of its reply.
 *
 *	Options:
 *	-n N	requests in all (20000)
 *	-c C	concurrent connections (8)
 *	-k K	RCPT requests a transaction (2)
 *	-t T	transactions a session (2)
 *	-a S	share of authenticated sessions, 0..1 (0.5)
 *	--refuse TEXT	what a refusal starts with ("554 5.7.1")
 *	--timeout SECS	longest wait for one reply (10)
 *
 *	Output: requests/s and the latency percentiles p50/p99/p99.9, then
 *	one "RESULT key=value ..." line for scripts (bench/run).
 * DIAGNOSTICS
 *	Exit 0 when every request got its expected reply, 1 when not, 2 on
 *	bad usage or when the server cannot be reached.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define REQ_MAX		4096
#define REPLY_MAX	1024
#define MAX_ERRORS_SHOWN 5

struct pconn {
	int	 fd;
	unsigned id;			/* connection number */
	unsigned pid;			/* the smtpd process it plays */
	unsigned long session;		/* sessions begun */
	unsigned long counter;		/* instance counter */
	char	 addr[32];
	unsigned port;
	int	 authed, tls;
	unsigned txn, rcpt;		/* position in the session */
	char	 instance[64];
	int	 expect_refuse;
	char	 out[REQ_MAX];
	size_t	 outlen, outoff;
	char	 in[REPLY_MAX];
	size_t	 inlen;
	uint64_t sent_ns;
	int	 busy;			/* a request is out */
	int	 dead;
};

static long opt_n = 20000;
static unsigned opt_c = 8, opt_k = 2, opt_t = 2;
static double opt_a = 0.5;
static const char *opt_refuse = "554 5.7.1";
static int opt_timeout = 10;

static uint64_t *lat;
static long nlat, sent, errors, wrong, inflight;
static unsigned long rcpt_no;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
usage(void)
{
	fprintf(stderr, "usage: policyload [-n N] [-c C] [-k K] [-t T] [-a SHARE] "
	    "[--refuse TEXT] [--timeout SECS] SERVER\n"
	    "SERVER: unix:/path, /path, inet:PORT@HOST, HOST:PORT\n");
	exit(2);
}

static void
error(struct pconn *c, const char *what, const char *detail)
{
	errors++;
	if (errors <= MAX_ERRORS_SHOWN)
		fprintf(stderr, "policyload: connection %u: %s%s%.200s\n", c->id,
		    what, detail ? ": " : "", detail ? detail : "");
	else if (errors == MAX_ERRORS_SHOWN + 1)
		fprintf(stderr, "policyload: more errors not shown\n");
}

static int
dial(const char *server)
{
	struct sockaddr_un sun;
	struct sockaddr_in sin;
	const char *path = NULL, *at, *colon;
	char	host[64];
	unsigned long port;
	int	fd, one = 1;

	if (strncmp(server, "unix:", 5) == 0)
		path = server + 5;
	else if (server[0] == '/')
		path = server;
	if (path) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(path) >= sizeof(sun.sun_path))
			return -1;
		strcpy(sun.sun_path, path);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			close(fd);
			return -1;
		}
		return fd;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	if (strncmp(server, "inet:", 5) == 0 && (at = strchr(server, '@'))) {
		port = strtoul(server + 5, NULL, 10);
		snprintf(host, sizeof(host), "%s", at + 1);
	} else if ((colon = strrchr(server, ':')) != NULL
	    && (size_t)(colon - server) < sizeof(host)) {
		memcpy(host, server, colon - server);
		host[colon - server] = '\0';
		port = strtoul(colon + 1, NULL, 10);
	} else
		return -1;
	if (port == 0 || port > 65535 || inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return -1;
	sin.sin_port = htons((uint16_t)port);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* The next SMTP session of this smtpd process. */
static void
next_session(struct pconn *c)
{
	unsigned long s = c->session++;
	unsigned h = (unsigned)(c->id * 2654435761u + s * 40503u);

	snprintf(c->addr, sizeof(c->addr), "198.51.100.%u", 1 + h % 250);
	c->port = 1024 + (unsigned)((c->id * 7919u + s * 104729u) % 64000u);
	c->authed = ((h >> 8) % 1000) < (unsigned)(opt_a * 1000 + 0.5);
	c->tls = (s + c->id) % 3 == 0;
	c->txn = 0;
	c->rcpt = 0;
}

static void
next_instance(struct pconn *c)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(c->instance, sizeof(c->instance), "%x.%lx.%lx.%lx", c->pid,
	    (unsigned long)ts.tv_sec, (unsigned long)(ts.tv_nsec / 1000),
	    c->counter++);
}

/* Formats the next request of c into c->out. */
static void
make_request(struct pconn *c)
{
	int	relay, n;
	unsigned long r;

	if (c->rcpt == opt_k) {			/* transaction done */
		c->rcpt = 0;
		if (++c->txn == opt_t)
			next_session(c);
	}
	if (c->rcpt == 0)
		next_instance(c);
	relay = c->rcpt % 2 == 1;
	r = rcpt_no++;
	n = snprintf(c->out, sizeof(c->out),
	    "request=smtpd_access_policy\n"
	    "protocol_state=RCPT\n"
	    "protocol_name=ESMTP\n"
	    "client_address=%s\n"
	    "client_name=host-%u.example.net\n"
	    "reverse_client_name=host-%u.example.net\n"
	    "client_port=%u\n"
	    "helo_name=host-%u.example.net\n"
	    "sender=user%lu@%s\n"
	    "recipient=r%lu@%s\n"
	    "recipient_count=%u\n"
	    "queue_id=\n"
	    "instance=%s\n"
	    "size=0\n"
	    "etrn_domain=\n"
	    "stress=\n"
	    "sasl_method=%s\n"
	    "sasl_username=%s%s%s\n"
	    "sasl_sender=\n"
	    "ccert_subject=\n"
	    "ccert_issuer=\n"
	    "ccert_fingerprint=\n"
	    "ccert_pubkey_fingerprint=\n"
	    "encryption_protocol=%s\n"
	    "encryption_cipher=%s\n"
	    "encryption_keysize=%s\n"
	    "server_address=127.0.0.1\n"
	    "server_port=25\n"
	    "policy_context=\n"
	    "\n",
	    c->addr, c->port, c->port, c->port, c->port,
	    c->session, c->authed ? "example.org" : "remote.test",
	    r, relay ? "remote.test" : "example.org",
	    c->rcpt,
	    c->instance,
	    c->authed ? "PLAIN" : "",
	    c->authed ? "user" : "", c->authed ? "x" : "", c->authed ? "@example.org" : "",
	    c->tls ? "TLSv1.3" : "",
	    c->tls ? "TLS_AES_256_GCM_SHA384" : "",
	    c->tls ? "256" : "0");
	c->outlen = (size_t)n < sizeof(c->out) ? (size_t)n : sizeof(c->out) - 1;
	c->outoff = 0;
	c->expect_refuse = relay && !c->authed;
	c->rcpt++;
}

static void
watch(int ep, struct pconn *c, uint32_t what)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = what;
	ev.data.ptr = c;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
kill_conn(int ep, struct pconn *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	if (c->busy)
		inflight--;
	c->busy = 0;
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
}

/* Sends (the rest of) the request; 0 when all went out. */
static int
flush(int ep, struct pconn *c)
{
	ssize_t	n;

	while (c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			watch(ep, c, EPOLLIN | EPOLLOUT);
			return 1;
		}
		if (n <= 0) {
			error(c, "send failed", strerror(errno));
			kill_conn(ep, c);
			return -1;
		}
		c->outoff += (size_t)n;
	}
	watch(ep, c, EPOLLIN);
	return 0;
}

static void
start_request(int ep, struct pconn *c)
{
	if (c->dead || sent >= opt_n)
		return;
	make_request(c);
	sent++;
	inflight++;
	c->busy = 1;
	c->inlen = 0;
	c->sent_ns = now_ns();
	flush(ep, c);
}

/* Checks a complete reply of len bytes. */
static void
check_reply(struct pconn *c, size_t len)
{
	char	want[256];
	const char *r = c->in;

	if (c->expect_refuse) {
		snprintf(want, sizeof(want), "action=%s", opt_refuse);
		if (strncmp(r, want, strlen(want)) != 0) {
			c->in[len - 2] = '\0';
			wrong++;
			error(c, "want a refusal of a remote recipient without a login, got",
			    r);
		}
	} else if (len != strlen("action=DUNNO\n\n")
	    || strncasecmp(r, "action=DUNNO\n\n", len) != 0) {
		c->in[len - 2] = '\0';
		wrong++;
		error(c, "want DUNNO, got", r);
	}
}

static void
on_readable(int ep, struct pconn *c)
{
	ssize_t	n;
	char	*end;
	size_t	len;

	for (;;) {
		n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen,
		    MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			error(c, c->busy ? "connection closed before the reply"
			    : "connection closed", n < 0 ? strerror(errno) : NULL);
			kill_conn(ep, c);
			return;
		}
		c->inlen += (size_t)n;
		c->in[c->inlen] = '\0';
		if (!c->busy) {
			error(c, "data without a request", c->in);
			kill_conn(ep, c);
			return;
		}
		if ((end = strstr(c->in, "\n\n")) != NULL)
			break;
		if (c->inlen >= sizeof(c->in) - 1) {
			error(c, "reply too long", NULL);
			kill_conn(ep, c);
			return;
		}
	}
	len = (size_t)(end - c->in) + 2;
	if (len != c->inlen) {
		error(c, "more than one reply to one request", c->in);
		kill_conn(ep, c);
		return;
	}
	lat[nlat++] = now_ns() - c->sent_ns;
	check_reply(c, len);
	c->busy = 0;
	inflight--;
	start_request(ep, c);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double p)
{
	long	i;

	if (nlat == 0)
		return 0;
	i = (long)(p * (double)(nlat - 1) + 0.5);
	return (double)lat[i] / 1000.0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "refuse", required_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 'O' },
		{ NULL, 0, NULL, 0 }
	};
	struct epoll_event ev, evs[256];
	struct pconn *conns;
	struct rlimit rl;
	uint64_t t0, t1, tick;
	unsigned i;
	int	ep, ch, n, k;
	double	secs;

	while ((ch = getopt_long(argc, argv, "n:c:k:t:a:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n': opt_n = atol(optarg); break;
		case 'c': opt_c = (unsigned)atoi(optarg); break;
		case 'k': opt_k = (unsigned)atoi(optarg); break;
		case 't': opt_t = (unsigned)atoi(optarg); break;
		case 'a': opt_a = atof(optarg); break;
		case 'R': opt_refuse = optarg; break;
		case 'O': opt_timeout = atoi(optarg); break;
		default: usage();
		}
	}
	if (optind != argc - 1 || opt_n < 1 || opt_c < 1 || opt_c > 100000
	    || opt_k < 1 || opt_t < 1 || opt_a < 0 || opt_a > 1 || opt_timeout < 1)
		usage();
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((lat = calloc((size_t)opt_n, sizeof(*lat))) == NULL
	    || (conns = calloc(opt_c, sizeof(*conns))) == NULL
	    || (ep = epoll_create1(0)) < 0) {
		perror("policyload");
		return 2;
	}
	for (i = 0; i < opt_c; i++) {
		struct pconn *c = &conns[i];

		if ((c->fd = dial(argv[optind])) < 0) {
			fprintf(stderr, "policyload: cannot connect connection %u to %s: %s\n",
			    i, argv[optind], strerror(errno));
			return 2;
		}
		c->id = i;
		c->pid = 10000 + i;
		next_session(c);
		c->txn = 0;
		c->rcpt = 0;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	}
	t0 = now_ns();
	for (i = 0; i < opt_c; i++)
		start_request(ep, &conns[i]);
	tick = t0;
	for (;;) {
		if (inflight == 0)
			break;
		n = epoll_wait(ep, evs, (int)(sizeof(evs) / sizeof(evs[0])), 1000);
		if (n < 0 && errno != EINTR) {
			perror("policyload: epoll_wait");
			return 2;
		}
		for (k = 0; k < n; k++) {
			struct pconn *c = evs[k].data.ptr;

			if (c->dead)
				continue;
			if ((evs[k].events & EPOLLOUT) && c->busy
			    && c->outoff < c->outlen && flush(ep, c) < 0)
				continue;
			if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(ep, c);
		}
		t1 = now_ns();
		if (t1 - tick >= 1000000000u) {	/* replies overdue */
			tick = t1;
			for (i = 0; i < opt_c; i++) {
				struct pconn *c = &conns[i];

				if (c->busy && t1 - c->sent_ns
				    > (uint64_t)opt_timeout * 1000000000u) {
					error(c, "no reply in time", NULL);
					kill_conn(ep, c);
				}
			}
		}
	}
	t1 = now_ns();
	secs = (double)(t1 - t0) / 1e9;
	qsort(lat, (size_t)nlat, sizeof(*lat), cmp_u64);
	printf("policyload: %ld requests answered on %u connections in %.2f s: "
	    "%.0f requests/s, latency p50 %.0f us, p99 %.0f us, p99.9 %.0f us; "
	    "wrong replies %ld, errors %ld, unanswered %ld\n", nlat, opt_c, secs,
	    (double)nlat / secs, pct(0.50), pct(0.99), pct(0.999), wrong, errors,
	    opt_n - nlat);
	printf("RESULT requests=%ld ok=%ld errors=%ld req_per_s=%.1f p50_us=%.1f "
	    "p99_us=%.1f p999_us=%.1f secs=%.3f\n", opt_n, nlat - wrong,
	    errors + (opt_n - nlat), (double)nlat / secs, pct(0.50), pct(0.99),
	    pct(0.999), secs);
	return errors || nlat < opt_n ? 1 : 0;
}
