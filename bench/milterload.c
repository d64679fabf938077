/*
 * NAME
 *	milterload - milter load generator (speaks the MTA side itself)
 * SYNOPSIS
 *	milterload [options] SOCKET
 *
 *	SOCKET is unix:/path, local:/path, /path or inet:PORT@HOST.
 * DESCRIPTION
 *	Plays the MTA of the milter protocol, version 6, without libmilter:
 *	option negotiation (offers every action and protocol step, honours
 *	the SMFIP_NO* steps the filter skips, the SMFIP_NR_* replies it
 *	waives and the macro lists it asks for), then per session connect,
 *	helo, T transactions of MAIL and K RCPTs, the first T-1 ended by an
 *	abort (RSET), the last one going through DATA, headers, end of
 *	headers, body and end of message, then quit. Each session is a new
 *	connection, as Postfix and Sendmail do it.
 *
 *	Packets that need no reply (macros, abort, SMFIP_NR_* steps) are
 *	written together with the next one that does: one write(2) and,
 *	normally, one read(2) a round trip.
 *
 *	Every reply is checked. With --expect guard (the default; sessguard
 *	with local_domains = example.org and a trusted_networks that does not
 *	hold --client): a RCPT to x@remote.test of a session without
 *	{auth_authen} must get 'y' with code 554; every other step 'c'. With
 *	--expect null every step must get 'c'. A wrong or missing reply is an
 *	error: counted, the first few are printed, the session is dropped,
 *	and the exit status is 1.
 *
 *	Options:
 *	-n N	sessions in all (1000)
 *	-c C	concurrent connections, one thread each (8)
 *	-k K	recipients a transaction (2); even ones local, odd ones relay
 *	-t T	transactions a session (2)
 *	-a S	share of authenticated sessions, 0..1 (0.5)
 *	-H N	headers a message (3)
 *	-b N	body bytes (1000)
 *	--client ADDR	IPv4 client address of the connect step (192.0.2.10)
 *	--expect guard|null
 *	--timeout SECS	longest wait for one reply (10)
 *	--idle N	open N sessions (negotiation, connect, helo) with C
 *		threads, print "milterload: idle N sessions open", hold them
 *		until SIGUSR1, SIGTERM or SIGINT or --hold seconds (600), then
 *		run the rest of every session (its transactions, quit), so the
 *		filter must still serve each of them.
 *
 *	Output: sessions/s, callbacks/s (commands that fire a filter
 *	callback: every command but macros, counted per session as sent),
 *	latency percentiles p50/p99/p99.9 of each round trip by step and in
 *	all, errors; then one "RESULT key=value ..." line for scripts.
 * DIAGNOSTICS
 *	Exit 0 when every session ran and every reply was as expected, 1 when
 *	not, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>

#include "util/writeall.h"

#define OUTBUF_SIZE	(256 * 1024)
#define INBUF_SIZE	(128 * 1024)
#define MAX_ERRORS_SHOWN 10

/* Steps whose round trip is timed. */
enum step {
	ST_OPTNEG, ST_CONNECT, ST_HELO, ST_MAIL, ST_RCPT, ST_DATA,
	ST_HEADER, ST_EOH, ST_BODY, ST_EOM, ST_COUNT
};
static const char *const step_name[ST_COUNT] = {
	"optneg", "connect", "helo", "mail", "rcpt", "data",
	"header", "eoh", "body", "eom"
};

/*
 * Latency histogram, nanoseconds, log-linear: 32 sub-buckets per power
 * of two, so a percentile is off by at most 1/32 of its value.
 */
#define HIST_SUB_BITS	5
#define HIST_SUB	(1u << HIST_SUB_BITS)
#define HIST_BUCKETS	((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t	count;
	uint64_t	b[HIST_BUCKETS];
};

static unsigned
hist_index(uint64_t v)
{
	unsigned m, shift;

	if (v < HIST_SUB)
		return (unsigned)v;
	m = 63u - (unsigned)__builtin_clzll(v);
	shift = m - HIST_SUB_BITS;
	return (shift + 1) * HIST_SUB + (unsigned)((v >> shift) & (HIST_SUB - 1));
}

static double
hist_value(unsigned i)
{
	unsigned shift;

	if (i < HIST_SUB)
		return i;
	shift = i / HIST_SUB - 1;
	return ((double)((uint64_t)(HIST_SUB + i % HIST_SUB) << shift))
	    + ((double)((uint64_t)1 << shift)) / 2;
}

static void
hist_add(struct hist *h, uint64_t v)
{
	h->count++;
	h->b[hist_index(v)]++;
}

static void
hist_merge(struct hist *to, const struct hist *from)
{
	unsigned i;

	to->count += from->count;
	for (i = 0; i < HIST_BUCKETS; i++)
		to->b[i] += from->b[i];
}

/* The value (ns) below which a share q of the samples lie. */
static double
hist_pct(const struct hist *h, double q)
{
	uint64_t want, seen = 0;
	unsigned i;

	if (h->count == 0)
		return 0;
	want = (uint64_t)(q * (double)h->count);
	if (want >= h->count)
		want = h->count - 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > want)
			return hist_value(i);
	}
	return hist_value(HIST_BUCKETS - 1);
}

/* Options. */
static long	opt_sessions = 1000;
static int	opt_conns = 8;
static int	opt_rcpts = 2;
static int	opt_txns = 2;
static double	opt_auth = 0.5;
static int	opt_headers = 3;
static int	opt_body = 1000;
static const char *opt_client = "192.0.2.10";
static int	opt_expect_null;
static int	opt_timeout = 10;
static long	opt_idle;
static int	opt_hold = 600;
static const char *opt_socket;

/* The peer address, resolved once. */
static struct sockaddr_storage peer;
static socklen_t peer_len;

static atomic_long next_session;
static atomic_long errors_shown;

/* Macros this MTA can send, by stage. */
enum macro {
	MC_J, MC_DAEMON, MC_CLIENT_ADDR, MC_CLIENT_NAME,
	MC_QID, MC_AUTH_TYPE, MC_AUTH_AUTHEN, MC_MAIL_ADDR,
	MC_RCPT_MAILER, MC_RCPT_ADDR, MC_EOM_QID, MC_COUNT
};
static const struct {
	int		 stage;		/* SMFIM_* */
	const char	*name;
} macro_tab[MC_COUNT] = {
	{ SMFIM_CONNECT, "j" },
	{ SMFIM_CONNECT, "{daemon_name}" },
	{ SMFIM_CONNECT, "{client_addr}" },
	{ SMFIM_CONNECT, "{client_name}" },
	{ SMFIM_ENVFROM, "i" },
	{ SMFIM_ENVFROM, "{auth_type}" },
	{ SMFIM_ENVFROM, "{auth_authen}" },
	{ SMFIM_ENVFROM, "{mail_addr}" },
	{ SMFIM_ENVRCPT, "{rcpt_mailer}" },
	{ SMFIM_ENVRCPT, "{rcpt_addr}" },
	{ SMFIM_EOM, "i" },
};

/* What one negotiation settled. */
struct nego {
	uint32_t	version, actions, proto;
	unsigned	macro_mask;	/* bits of enum macro to send */
};

/* One thread's state: buffers and statistics. */
struct worker {
	pthread_t	 tid;
	int		 index;
	char		*out;
	size_t		 outlen;
	char		*in;
	size_t		 inlen;
	size_t		 inused;	/* bytes of the packet last returned */
	struct hist	 hist[ST_COUNT];
	uint64_t	 sessions_ok;
	uint64_t	 callbacks;
	uint64_t	 errors;
	/* idle mode: this thread's open sessions */
	struct conn	*idle;
	long		 nidle;
};

/* One session on one connection. */
struct conn {
	int		 fd;
	long		 index;
	int		 auth;
	struct nego	 nego;
};

static void
fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
fatal(const char *fmt, ...)
{
	va_list	ap;

	fputs("milterload: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void
sess_error(struct worker *w, const struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
sess_error(struct worker *w, const struct conn *c, const char *fmt, ...)
{
	va_list	ap;
	char	msg[512];

	w->errors++;
	if (atomic_fetch_add(&errors_shown, 1) >= MAX_ERRORS_SHOWN)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "milterload: error: session %ld (%s): %s\n",
	    c->index, c->auth ? "auth" : "unauth", msg);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
parse_socket(const char *spec)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&peer;
	struct sockaddr_in *sin = (struct sockaddr_in *)&peer;
	const char *path = NULL, *at;
	char	port[16];
	size_t	n;

	memset(&peer, 0, sizeof(peer));
	if (strncmp(spec, "unix:", 5) == 0)
		path = spec + 5;
	else if (strncmp(spec, "local:", 6) == 0)
		path = spec + 6;
	else if (spec[0] == '/')
		path = spec;
	if (path) {
		if (strlen(path) >= sizeof(sun->sun_path))
			fatal("socket path too long: %s", path);
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, path);
		peer_len = sizeof(*sun);
		return;
	}
	if (strncmp(spec, "inet:", 5) != 0 || (at = strchr(spec, '@')) == NULL)
		fatal("socket %s: expected unix:/path or inet:PORT@HOST", spec);
	n = (size_t)(at - (spec + 5));
	if (n == 0 || n >= sizeof(port))
		fatal("socket %s: bad port", spec);
	memcpy(port, spec + 5, n);
	port[n] = '\0';
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(port));
	if (inet_pton(AF_INET, at + 1, &sin->sin_addr) != 1)
		fatal("socket %s: host must be an IPv4 address", spec);
	peer_len = sizeof(*sin);
}

/* Packet building. */

static void
put_raw(struct worker *w, const void *p, size_t n)
{
	if (w->outlen + n > OUTBUF_SIZE)
		fatal("output buffer overflow (body too large?)");
	memcpy(w->out + w->outlen, p, n);
	w->outlen += n;
}

static void
put_u32(struct worker *w, uint32_t v)
{
	uint32_t be = htonl(v);

	put_raw(w, &be, 4);
}

/* Starts a packet; returns the offset of its length word. */
static size_t
pkt_begin(struct worker *w, char cmd)
{
	size_t	at = w->outlen;

	put_u32(w, 0);
	put_raw(w, &cmd, 1);
	return at;
}

static void
pkt_str(struct worker *w, const char *s)
{
	put_raw(w, s, strlen(s) + 1);
}

static void
pkt_end(struct worker *w, size_t at)
{
	uint32_t be = htonl((uint32_t)(w->outlen - at - 4));

	memcpy(w->out + at, &be, 4);
}

/* A macro packet for one stage; values[] by enum macro, NULL: not sent. */
static void
put_macros(struct worker *w, const struct conn *c, char cmd, int stage,
    const char *const values[MC_COUNT])
{
	size_t	at = 0;
	int	i, any = 0;

	for (i = 0; i < MC_COUNT; i++) {
		if (macro_tab[i].stage != stage || values[i] == NULL
		    || !(c->nego.macro_mask & (1u << i)))
			continue;
		if (!any) {
			at = pkt_begin(w, SMFIC_MACRO);
			put_raw(w, &cmd, 1);
			any = 1;
		}
		pkt_str(w, macro_tab[i].name);
		pkt_str(w, values[i]);
	}
	if (any)
		pkt_end(w, at);
}

/* I/O. */

static int
flush_out(struct worker *w, struct conn *c)
{
	int	rc = 0;

	if (w->outlen && write_buf(c->fd, w->out, w->outlen, -1, NULL) < 0) {
		sess_error(w, c, "write: %s", strerror(errno));
		rc = -1;
	}
	w->outlen = 0;
	return rc;
}

/*
 * Reads one packet into w->in: *cmd, data at w->in + 5, *len bytes of it.
 * Bytes past the packet (a second reply in the same read) are kept.
 */
static int
read_packet(struct worker *w, struct conn *c, char *cmd, char **data,
    size_t *len)
{
	uint32_t be, plen;
	ssize_t	n;

	/* Drop the previous packet, keep what followed it. */
	if (w->inlen > w->inused) {
		memmove(w->in, w->in + w->inused, w->inlen - w->inused);
		w->inlen -= w->inused;
	} else {
		w->inlen = 0;
	}
	w->inused = 0;
	for (;;) {
		if (w->inlen >= 5) {
			memcpy(&be, w->in, 4);
			plen = ntohl(be);
			if (plen == 0 || plen > INBUF_SIZE - 4) {
				sess_error(w, c, "bad reply length %u", plen);
				return -1;
			}
			if (w->inlen >= 4 + (size_t)plen) {
				*cmd = w->in[4];
				*data = w->in + 5;
				*len = plen - 1;
				w->inused = 4 + plen;
				return 0;
			}
		}
		n = read(c->fd, w->in + w->inlen, INBUF_SIZE - w->inlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			sess_error(w, c, "read: %s", n == 0 ? "connection closed"
			    : errno == EAGAIN ? "timeout" : strerror(errno));
			return -1;
		}
		w->inlen += (size_t)n;
	}
}

/* Negotiation. */

static int
in_list(const char *list, const char *name)
{
	const char *p = list, *e;
	size_t	n, nlen = strlen(name);

	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		for (e = p; *e && *e != ' ' && *e != ','; e++)
			;
		n = (size_t)(e - p);
		if (n == nlen && memcmp(p, name, n) == 0)
			return 1;
		/* "{x}" and "x" name the same macro */
		if (name[0] == '{' && n + 2 == nlen && memcmp(p, name + 1, n) == 0)
			return 1;
		if (p[0] == '{' && nlen + 2 == n && memcmp(p + 1, name, nlen) == 0)
			return 1;
		p = e;
	}
	return 0;
}

static int
round_trip_read(struct worker *w, struct conn *c, enum step st, char *cmd,
    char **data, size_t *len)
{
	uint64_t t0 = now_ns();

	if (flush_out(w, c) < 0)
		return -1;
	do {
		if (read_packet(w, c, cmd, data, len) < 0)
			return -1;
	} while (*cmd == SMFIR_PROGRESS);
	hist_add(&w->hist[st], now_ns() - t0);
	return 0;
}

static int
negotiate(struct worker *w, struct conn *c)
{
	char	cmd, *data;
	size_t	len, off, slen;
	uint32_t v[3], stage;
	unsigned given = 0, mask = 0;
	int	i;

	size_t	at = pkt_begin(w, SMFIC_OPTNEG);
	put_u32(w, SMFI_PROT_VERSION);
	put_u32(w, SMFI_CURR_ACTS);
	put_u32(w, SMFI_CURR_PROT);
	pkt_end(w, at);
	w->callbacks++;
	if (round_trip_read(w, c, ST_OPTNEG, &cmd, &data, &len) < 0)
		return -1;
	if (cmd != SMFIC_OPTNEG || len < MILTER_OPTLEN) {
		sess_error(w, c, "optneg: expected 'O', got '%c' (%zu bytes)",
		    cmd, len);
		return -1;
	}
	for (i = 0; i < 3; i++) {
		memcpy(&v[i], data + 4 * i, 4);
		v[i] = ntohl(v[i]);
	}
	if (v[0] < 2 || v[0] > SMFI_PROT_VERSION
	    || (v[1] & ~(uint32_t)SMFI_CURR_ACTS)
	    || (v[2] & ~(uint32_t)SMFI_CURR_PROT)) {
		sess_error(w, c, "optneg: bad answer version %u actions %#x "
		    "protocol %#x", v[0], v[1], v[2]);
		return -1;
	}
	c->nego.version = v[0];
	c->nego.actions = v[1];
	c->nego.proto = v[2];
	/* Then the macro lists of smfi_setsymlist(): stage, names. */
	for (off = MILTER_OPTLEN; len - off >= 4; off += slen + 1) {
		memcpy(&stage, data + off, 4);
		stage = ntohl(stage);
		off += 4;
		slen = strnlen(data + off, len - off);
		if (slen == len - off || stage > SMFIM_LAST) {
			sess_error(w, c, "optneg: bad macro list");
			return -1;
		}
		given |= 1u << stage;
		for (i = 0; i < MC_COUNT; i++)
			if (macro_tab[i].stage == (int)stage
			    && in_list(data + off, macro_tab[i].name))
				mask |= 1u << i;
	}
	for (i = 0; i < MC_COUNT; i++)
		if (!(given & (1u << macro_tab[i].stage)))
			mask |= 1u << i;
	c->nego.macro_mask = mask;
	return 0;
}

/*
 * One step of the session, packet already buffered. With the filter's
 * SMFIP_NR_* flag for it, the packet waits for the next one; else a round
 * trip whose reply must be expect ('c', or 'y' with code 554).
 */
static int
step(struct worker *w, struct conn *c, enum step st, uint32_t nr_flag,
    char expect, const char *what)
{
	char	cmd, *data;
	size_t	len;

	w->callbacks++;
	if (nr_flag && (c->nego.proto & nr_flag))
		return 0;
	if (round_trip_read(w, c, st, &cmd, &data, &len) < 0)
		return -1;
	if (cmd == expect && (expect != SMFIR_REPLYCODE
	    || (len >= 4 && memcmp(data, "554", 3) == 0)))
		return 0;
	if (st == ST_BODY && cmd == SMFIR_SKIP && (c->nego.proto & SMFIP_SKIP))
		return 0;
	if (cmd == SMFIR_REPLYCODE && len > 0 && data[len - 1] == '\0')
		sess_error(w, c, "%s %s: expected '%c', got 'y' \"%.100s\"",
		    step_name[st], what, expect, data);
	else
		sess_error(w, c, "%s %s: expected '%c'%s, got '%c'",
		    step_name[st], what, expect,
		    expect == SMFIR_REPLYCODE ? " (554)" : "", cmd);
	return -1;
}

static char	body[MILTER_CHUNK_SIZE];

static void
body_init(void)
{
	size_t	i;

	for (i = 0; i < sizeof(body); i++)
		body[i] = (i % 78 == 76) ? '\r' : (i % 78 == 77) ? '\n'
		    : (char)('a' + i % 26);
}

static int
auth_session(long idx)
{
	return (long)((double)(idx + 1) * opt_auth)
	    > (long)((double)idx * opt_auth);
}

static int
conn_socket(struct worker *w, struct conn *c)
{
	struct timeval tv;
	int	one = 1;

	c->fd = socket(peer.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		sess_error(w, c, "socket: %s", strerror(errno));
		return -1;
	}
	tv.tv_sec = opt_timeout;
	tv.tv_usec = 0;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (peer.ss_family == AF_INET)
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (connect(c->fd, (struct sockaddr *)&peer, peer_len) < 0) {
		if (errno == EINTR)
			continue;
		sess_error(w, c, "connect %s: %s", opt_socket, strerror(errno));
		return -1;
	}
	return 0;
}

/* Negotiation, connect, helo. */
static int
session_open(struct worker *w, struct conn *c)
{
	const char *mv[MC_COUNT] = { 0 };
	char	name[64];
	unsigned char fam = SMFIA_INET;
	uint16_t port = htons((uint16_t)(1024 + c->index % 60000));
	size_t	at;

	c->auth = auth_session(c->index);
	w->outlen = 0;
	w->inlen = w->inused = 0;
	if (conn_socket(w, c) < 0 || negotiate(w, c) < 0)
		return -1;
	snprintf(name, sizeof(name), "client-%ld.test", c->index);
	if (!(c->nego.proto & SMFIP_NOCONNECT)) {
		mv[MC_J] = "mx.example.org";
		mv[MC_DAEMON] = "bench";
		mv[MC_CLIENT_ADDR] = opt_client;
		mv[MC_CLIENT_NAME] = name;
		put_macros(w, c, SMFIC_CONNECT, SMFIM_CONNECT, mv);
		at = pkt_begin(w, SMFIC_CONNECT);
		pkt_str(w, name);
		put_raw(w, &fam, 1);
		put_raw(w, &port, 2);
		pkt_str(w, opt_client);
		pkt_end(w, at);
		if (step(w, c, ST_CONNECT, SMFIP_NR_CONN, SMFIR_CONTINUE, "") < 0)
			return -1;
	}
	if (!(c->nego.proto & SMFIP_NOHELO)) {
		at = pkt_begin(w, SMFIC_HELO);
		pkt_str(w, name);
		pkt_end(w, at);
		if (step(w, c, ST_HELO, SMFIP_NR_HELO, SMFIR_CONTINUE, "") < 0)
			return -1;
	}
	return 0;
}

static int
transaction(struct worker *w, struct conn *c, int t, int last)
{
	const char *mv[MC_COUNT] = { 0 };
	char	qid[32], user[32], addr[64], what[80];
	size_t	at, left, n;
	int	k, h, relay;

	snprintf(qid, sizeof(qid), "Q%lX%X", c->index, t);
	if (!(c->nego.proto & SMFIP_NOMAIL)) {
		mv[MC_QID] = qid;
		if (c->auth) {
			snprintf(user, sizeof(user), "user%ld", c->index % 1000);
			mv[MC_AUTH_TYPE] = "PLAIN";
			mv[MC_AUTH_AUTHEN] = user;
		}
		snprintf(addr, sizeof(addr), "s%ld@remote.test", c->index);
		mv[MC_MAIL_ADDR] = addr;
		put_macros(w, c, SMFIC_MAIL, SMFIM_ENVFROM, mv);
		at = pkt_begin(w, SMFIC_MAIL);
		snprintf(addr, sizeof(addr), "<s%ld@remote.test>", c->index);
		pkt_str(w, addr);
		pkt_str(w, "SIZE=1000");
		pkt_end(w, at);
		if (step(w, c, ST_MAIL, SMFIP_NR_MAIL, SMFIR_CONTINUE, "") < 0)
			return -1;
	}
	for (k = 0; k < opt_rcpts && !(c->nego.proto & SMFIP_NORCPT); k++) {
		relay = k % 2;
		memset(mv, 0, sizeof(mv));
		snprintf(addr, sizeof(addr), "u%ld.%d@%s", c->index, k,
		    relay ? "remote.test" : "example.org");
		mv[MC_RCPT_MAILER] = relay ? "smtp" : "local";
		mv[MC_RCPT_ADDR] = addr;
		put_macros(w, c, SMFIC_RCPT, SMFIM_ENVRCPT, mv);
		at = pkt_begin(w, SMFIC_RCPT);
		snprintf(what, sizeof(what), "<%s>", addr);
		pkt_str(w, what);
		pkt_end(w, at);
		if (step(w, c, ST_RCPT, SMFIP_NR_RCPT,
		    !opt_expect_null && relay && !c->auth ? SMFIR_REPLYCODE
		    : SMFIR_CONTINUE, what) < 0)
			return -1;
	}
	if (!last) {
		at = pkt_begin(w, SMFIC_ABORT);	/* sent with the next MAIL */
		pkt_end(w, at);
		w->callbacks++;
		return 0;
	}
	if (!(c->nego.proto & SMFIP_NODATA)) {
		at = pkt_begin(w, SMFIC_DATA);
		pkt_end(w, at);
		if (step(w, c, ST_DATA, SMFIP_NR_DATA, SMFIR_CONTINUE, "") < 0)
			return -1;
	}
	for (h = 0; h < opt_headers && !(c->nego.proto & SMFIP_NOHDRS); h++) {
		at = pkt_begin(w, SMFIC_HEADER);
		snprintf(what, sizeof(what), "X-Bench-%d", h);
		pkt_str(w, what);
		snprintf(what, sizeof(what), " header %d of session %ld", h,
		    c->index);
		pkt_str(w, what);
		pkt_end(w, at);
		if (step(w, c, ST_HEADER, SMFIP_NR_HDR, SMFIR_CONTINUE, "") < 0)
			return -1;
	}
	if (!(c->nego.proto & SMFIP_NOEOH)) {
		at = pkt_begin(w, SMFIC_EOH);
		pkt_end(w, at);
		if (step(w, c, ST_EOH, SMFIP_NR_EOH, SMFIR_CONTINUE, "") < 0)
			return -1;
	}
	for (left = (size_t)opt_body; left > 0
	    && !(c->nego.proto & SMFIP_NOBODY); left -= n) {
		n = left < sizeof(body) ? left : sizeof(body);
		at = pkt_begin(w, SMFIC_BODY);
		put_raw(w, body, n);
		pkt_end(w, at);
		if (step(w, c, ST_BODY, SMFIP_NR_BODY, SMFIR_CONTINUE, "") < 0)
			return -1;
	}
	memset(mv, 0, sizeof(mv));
	mv[MC_EOM_QID] = qid;
	put_macros(w, c, SMFIC_BODYEOB, SMFIM_EOM, mv);
	at = pkt_begin(w, SMFIC_BODYEOB);
	pkt_end(w, at);
	return step(w, c, ST_EOM, 0, SMFIR_CONTINUE, "");
}

/* The transactions, then quit. */
static int
session_finish(struct worker *w, struct conn *c)
{
	size_t	at;
	int	t;

	for (t = 0; t < opt_txns; t++)
		if (transaction(w, c, t, t == opt_txns - 1) < 0)
			return -1;
	at = pkt_begin(w, SMFIC_QUIT);
	pkt_end(w, at);
	w->callbacks++;
	return flush_out(w, c);
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void *
load_thread(void *arg)
{
	struct worker *w = arg;
	struct conn c;

	for (;;) {
		memset(&c, 0, sizeof(c));
		c.index = atomic_fetch_add(&next_session, 1);
		if (c.index >= opt_sessions)
			break;
		c.fd = -1;
		if (session_open(w, &c) == 0 && session_finish(w, &c) == 0)
			w->sessions_ok++;
		conn_close(&c);
	}
	return NULL;
}

/* Idle mode: open, wait on the barrier, wait again, finish. */
static pthread_barrier_t barrier;

static void *
idle_thread(void *arg)
{
	struct worker *w = arg;
	struct conn c;
	long	i;

	for (;;) {
		memset(&c, 0, sizeof(c));
		c.index = atomic_fetch_add(&next_session, 1);
		if (c.index >= opt_idle)
			break;
		c.fd = -1;
		/*
		 * Packets that need no reply wait in the worker's buffer for
		 * the next one that does: a session held idle must send its
		 * own now, before the next session uses the buffer.
		 */
		if (session_open(w, &c) == 0 && flush_out(w, &c) == 0)
			w->idle[w->nidle++] = c;
		else
			conn_close(&c);
	}
	pthread_barrier_wait(&barrier);
	pthread_barrier_wait(&barrier);
	for (i = 0; i < w->nidle; i++) {
		if (session_finish(w, &w->idle[i]) == 0)
			w->sessions_ok++;
		conn_close(&w->idle[i]);
	}
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr, "usage: milterload [-n sessions] [-c connections] "
	    "[-k rcpts] [-t txns] [-a auth_share]\n"
	    "    [-H headers] [-b body_bytes] [--client ADDR] "
	    "[--expect guard|null] [--timeout SECS]\n"
	    "    [--idle N [--hold SECS]] SOCKET\n");
	exit(2);
}

static long
num_arg(const char *s, long lo, long hi, const char *what)
{
	char	*end;
	long	v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		fatal("%s: '%s' is not a number from %ld to %ld", what, s, lo, hi);
	return v;
}

static void
parse_args(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "client", required_argument, NULL, 'C' },
		{ "expect", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "idle", required_argument, NULL, 'i' },
		{ "hold", required_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct in_addr a;
	char	*end;
	int	ch;

	while ((ch = getopt_long(argc, argv, "n:c:k:t:a:H:b:", lopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'n':
			opt_sessions = num_arg(optarg, 1, 1000000000, "-n");
			break;
		case 'c':
			opt_conns = (int)num_arg(optarg, 1, 10000, "-c");
			break;
		case 'k':
			opt_rcpts = (int)num_arg(optarg, 1, 10000, "-k");
			break;
		case 't':
			opt_txns = (int)num_arg(optarg, 1, 10000, "-t");
			break;
		case 'a':
			opt_auth = strtod(optarg, &end);
			if (*end || opt_auth < 0 || opt_auth > 1)
				fatal("-a: expected a share from 0 to 1");
			break;
		case 'H':
			opt_headers = (int)num_arg(optarg, 0, 10000, "-H");
			break;
		case 'b':
			opt_body = (int)num_arg(optarg, 0, 100000000, "-b");
			break;
		case 'C':
			if (inet_pton(AF_INET, optarg, &a) != 1)
				fatal("--client: expected an IPv4 address");
			opt_client = optarg;
			break;
		case 'e':
			if (strcmp(optarg, "null") == 0)
				opt_expect_null = 1;
			else if (strcmp(optarg, "guard") == 0)
				opt_expect_null = 0;
			else
				fatal("--expect: guard or null");
			break;
		case 'T':
			opt_timeout = (int)num_arg(optarg, 1, 86400, "--timeout");
			break;
		case 'i':
			opt_idle = num_arg(optarg, 1, 1000000, "--idle");
			break;
		case 'h':
			opt_hold = (int)num_arg(optarg, 0, 86400, "--hold");
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	opt_socket = argv[optind];
	parse_socket(opt_socket);
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
report(struct worker *w, int n, double secs, long planned)
{
	struct hist *all = calloc(1, sizeof(*all));
	struct hist *st = calloc(ST_COUNT, sizeof(*st));
	uint64_t ok = 0, cb = 0, err = 0;
	int	i, s;

	if (all == NULL || st == NULL)
		fatal("out of memory");
	for (i = 0; i < n; i++) {
		ok += w[i].sessions_ok;
		cb += w[i].callbacks;
		err += w[i].errors;
		for (s = 0; s < ST_COUNT; s++) {
			hist_merge(&st[s], &w[i].hist[s]);
			hist_merge(all, &w[i].hist[s]);
		}
	}
	if (ok + err < (uint64_t)planned)	/* cannot happen; be sure */
		err += (uint64_t)planned - ok - err;
	printf("milterload: %s, %ld sessions, %d connections, %d rcpts x %d "
	    "txns, %d headers, %d body bytes, auth %.2f, expect %s\n",
	    opt_socket, planned, opt_conns, opt_rcpts, opt_txns, opt_headers,
	    opt_body, opt_auth, opt_expect_null ? "null" : "guard");
	printf("%" PRIu64 " sessions ok in %.3f s: %.1f sessions/s, %.0f "
	    "callbacks/s, %" PRIu64 " round trips, errors %" PRIu64 "\n",
	    ok, secs, (double)ok / secs, (double)cb / secs, all->count, err);
	printf("%-8s %10s %9s %9s %9s\n", "step", "count", "p50_us", "p99_us",
	    "p99.9_us");
	for (s = 0; s <= ST_COUNT; s++) {
		const struct hist *h = s < ST_COUNT ? &st[s] : all;

		if (h->count == 0)
			continue;
		printf("%-8s %10" PRIu64 " %9.1f %9.1f %9.1f\n",
		    s < ST_COUNT ? step_name[s] : "all", h->count,
		    hist_pct(h, 0.5) / 1e3, hist_pct(h, 0.99) / 1e3,
		    hist_pct(h, 0.999) / 1e3);
	}
	printf("RESULT sessions=%ld ok=%" PRIu64 " errors=%" PRIu64
	    " elapsed_s=%.3f sessions_per_s=%.1f callbacks_per_s=%.0f"
	    " p50_us=%.1f p99_us=%.1f p999_us=%.1f rcpt_p99_us=%.1f\n",
	    planned, ok, err, secs, (double)ok / secs, (double)cb / secs,
	    hist_pct(all, 0.5) / 1e3, hist_pct(all, 0.99) / 1e3,
	    hist_pct(all, 0.999) / 1e3, hist_pct(&st[ST_RCPT], 0.99) / 1e3);
	fflush(stdout);
	free(all);
	free(st);
}

int
main(int argc, char **argv)
{
	struct worker *w;
	sigset_t sigs;
	struct timespec hold;
	uint64_t t0, t1;
	uint64_t errs = 0, ok = 0;
	long	planned, open = 0;
	int	i, rc;

	parse_args(argc, argv);
	raise_nofile();
	body_init();
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);	/* inherited by threads */

	if ((w = calloc((size_t)opt_conns, sizeof(*w))) == NULL)
		fatal("out of memory");
	planned = opt_idle ? opt_idle : opt_sessions;
	if (opt_idle && pthread_barrier_init(&barrier, NULL,
	    (unsigned)opt_conns + 1) != 0)
		fatal("pthread_barrier_init failed");
	t0 = now_ns();
	for (i = 0; i < opt_conns; i++) {
		w[i].index = i;
		w[i].out = malloc(OUTBUF_SIZE);
		w[i].in = malloc(INBUF_SIZE);
		if (opt_idle)
			w[i].idle = calloc((size_t)opt_idle, sizeof(struct conn));
		if (w[i].out == NULL || w[i].in == NULL
		    || (opt_idle && w[i].idle == NULL))
			fatal("out of memory");
		rc = pthread_create(&w[i].tid, NULL,
		    opt_idle ? idle_thread : load_thread, &w[i]);
		if (rc != 0)
			fatal("pthread_create: %s", strerror(rc));
	}
	if (opt_idle) {
		pthread_barrier_wait(&barrier);
		for (i = 0; i < opt_conns; i++) {
			open += w[i].nidle;
			errs += w[i].errors;
		}
		printf("milterload: idle %ld sessions open (%" PRIu64
		    " errors) in %.3f s\n", open, errs, (double)(now_ns() - t0)
		    / 1e9);
		fflush(stdout);
		hold.tv_sec = opt_hold;
		hold.tv_nsec = 0;
		while (sigtimedwait(&sigs, NULL, &hold) < 0 && errno == EINTR)
			;
		t0 = now_ns();
		pthread_barrier_wait(&barrier);
	}
	for (i = 0; i < opt_conns; i++)
		pthread_join(w[i].tid, NULL);
	t1 = now_ns();
	report(w, opt_conns, (double)(t1 - t0) / 1e9, planned);
	errs = 0;
	for (i = 0; i < opt_conns; i++) {
		errs += w[i].errors;
		ok += w[i].sessions_ok;
		free(w[i].out);
		free(w[i].in);
		free(w[i].idle);
	}
	free(w);
	return errs == 0 && ok == (uint64_t)planned ? 0 : 1;
}
