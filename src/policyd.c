/*
 * NAME
 *	policyd - Postfix policy-delegation front end
 * SYNOPSIS
 *	#include "policyd.h"
 *
 *	int policyd_open(cfg, uid, gid, err, errlen)
 *	int policyd_start(err, errlen)
 *	void policyd_stop(void)
 * DESCRIPTION
 *	The second thin front end beside milter.c (SPEC section 7): Postfix's
 *	check_policy_service requests, translated to the same session
 *	events, and the verdicts to action= replies.
 *
 *	policyd_open() creates the listening socket of policy_listen
 *	(unix:/path, local:/path, inet:PORT@HOST, inet6:PORT@HOST) with
 *	sock_listen() while the daemon is still root: a unix socket is born
 *	with socket_mode and given to uid and gid ((uid_t)-1, (gid_t)-1:
 *	left as is), like the milter socket; a stale one is replaced, a
 *	live one stops us. It also raises the soft limit of open files to
 *	the hard one, for many concurrent policy connections.
 *
 *	policyd_start() starts the server threads (call it after detaching
 *	and after runtime_init()); policyd_stop() stops them, closes every
 *	connection, ends the remaining sessions (close with "reason":
 *	"shutdown") and removes the unix socket.
 *
 *	Server. PD_THREADS threads, each an epoll loop over non-blocking
 *	sockets, share the listening socket; a connection stays with the
 *	thread that accepted it. Requests on one connection are answered in
 *	order, one at a time (policyreq.c frames and parses them). No read
 *	or write ever blocks, so a slow or silent client delays nobody: a
 *	request begun must be complete within PD_READ_TIMEOUT seconds, a
 *	reply must be taken within the same time, and a connection without
 *	a request is closed after PD_IDLE_TIMEOUT seconds (longer than
 *	Postfix's own smtpd_policy_service_max_idle, so that Postfix closes
 *	first). A malformed request gets no reply: it is logged and its
 *	connection closed, as the protocol prescribes.
 *
 *	Sessions. Postfix sends nothing at AUTH, RSET, STARTTLS, QUIT or
 *	disconnect, and one smtpd process serves its SMTP sessions one after
 *	another over one policy connection, which it may also close and
 *	open again. So sessions live in one process-wide table (a mutex),
 *	keyed by the smtpd pid (the first field of instance; empty until
 *	the first MAIL), client_address and client_port. A request whose
 *	key differs starts a new session; a session in use by one request
 *	is not used by another at the same time (the second waits). A
 *	session ends:
 *	- after policy_session_idle seconds without a request ("idle");
 *	- when the connection that used it last brings another SMTP session
 *	  (that smtpd process went on to its next client: "next_session"),
 *	  or another smtpd process now has its client address and port;
 *	- at shutdown ("shutdown").
 *	Every session logs "via":"policy" on connect and raises no anomaly
 *	that needs stages the protocol never shows (mail_without_helo).
 *
 *	Mapping (no event is invented beyond these). A session is a
 *	connection of the core (conn.c, sg_front_policy); every request
 *	says the TLS state (encryption_*) and the login (sasl_username,
 *	sasl_method; sasl_sender is the client's AUTH= claim, never
 *	trusted), and the core finds the TLS boundary (S3) at whichever
 *	event first carries TLS after plaintext.
 *	- the first request of a session: connect (client_name,
 *	  client_address, client_port);
 *	- a helo_name other than the last one, or the same one first seen
 *	  in TLS after plaintext (Postfix forgets the HELO name at STARTTLS,
 *	  so the client sent EHLO again): helo, without the login, which
 *	  an AUTH after that EHLO may have brought;
 *	- a new instance (or an RCPT outside any transaction): a new
 *	  transaction, conn_on_mail() with <sender>, which also renews the
 *	  configuration snapshot;
 *	- protocol_state RCPT: rcpt with <recipient>; DATA: data;
 *	  END-OF-MESSAGE: eom with queue_id and size.
 *	Replies: a permitted recipient, a would_reject (monitor) and every
 *	stage other than RCPT and MAIL get DUNNO (never OK); a refusal gets
 *	the relay_reply text with its reason, as the milter sets it; the
 *	sender/login check (SPEC section 8) answers at MAIL, and at every
 *	RCPT of a transaction whose sender it refused, with sender_reply; a
 *	recipient that limit_action = hold accepts gets HOLD; when no
 *	session can be had (out of memory, an unusable key) an RCPT gets
 *	451 4.3.0. Every reply is one line of valid UTF-8.
 * DIAGNOSTICS
 *	policyd_open() and policyd_start() return -1 with a message naming
 *	the socket. Malformed requests, timeouts and allocation failures
 *	are warnings (msg_warn) naming the policy connection; the daemon
 *	carries on.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "policyd.h"
#include "policyreq.h"
#include "runtime.h"
#include "session.h"
#include "util/msg.h"
#include "util/sock.h"
#include "util/strbuf.h"

#define PD_THREADS	2
#define PD_READ_TIMEOUT	100	/* s: Postfix's own policy timeout */
#define PD_IDLE_TIMEOUT	330	/* s: after Postfix's max_idle of 300 */
#define PD_BUF_INIT	4096
#define PD_REPLY_MAX	1024
#define PD_BUCKETS	4096
#define PD_EVENTS	64
#define PD_TICK_MS	200
#define PD_BURST	16	/* requests of one client in a row */

/* One SMTP session as the policy requests show it. */
struct psess {
	struct psess	*hnext;		/* hash chain */
	struct psess	*lprev, *lnext;	/* by last use, oldest first */
	unsigned	 bucket;
	char		 addr[64];
	char		 port[16];
	char		 pid[24];	/* "" until an instance names it */
	char		 instance[128];	/* of the current transaction */
	int		 in_txn;
	struct sg_rcpt_result mail;	/* the transaction's sender check */
	char		 helo[256];
	int		 tls;		/* TLS state of the last request */
	int		 busy;		/* a request is using it */
	struct pclient	*client;	/* the connection that used it last */
	double		 last;
	struct sg_conn	*sc;		/* session and configuration */
};

struct ploop;

/* One policy client connection. */
struct pclient {
	struct pclient	*prev, *next;
	struct pclient	*pprev, *pnext;	/* on the loop's pending list */
	int		 pending;
	struct ploop	*loop;
	int		 fd;
	unsigned long	 id;
	char		*in;
	size_t		 inlen, incap;
	size_t		 scan;		/* no empty line before this line start */
	char		 out[PD_REPLY_MAX];
	size_t		 outoff, outlen;
	double		 last;		/* last byte read or written */
	double		 begun;		/* the unfinished request began */
	struct psess	*cur;		/* its current SMTP session */
};

struct ploop {
	int		 ep;
	int		 index;
	int		 listening;
	pthread_t	 th;
	struct pclient	*clients;
	struct pclient	*pend_head, *pend_tail;	/* more requests buffered */
	double		 next_scan;
	double		 next_expire;
};

static int listen_fd = -1;
static char *listen_path;		/* unix socket to remove at stop */
static char *listen_name;
static int wake_fd = -1;
static atomic_int stopping;
static atomic_ulong conn_ids;
static struct ploop loops[PD_THREADS];
static int nloops;

static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tab_cond = PTHREAD_COND_INITIALIZER;
static struct psess *buckets[PD_BUCKETS];
static struct psess *lru_head, *lru_tail;

static char listen_marker, wake_marker;

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
policyd_open(const struct sg_config *cfg, uid_t uid, gid_t gid, char *err,
    size_t errlen)
{
	struct rlimit rl;
	const char *path = sock_unix_path(cfg->policy_listen);
	int	flags;

	if ((listen_name = strdup(cfg->policy_listen)) == NULL
	    || (path && (listen_path = strdup(path)) == NULL)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((listen_fd = sock_listen(cfg->policy_listen, cfg->socket_mode, uid,
	    gid, SOMAXCONN, err, errlen)) < 0)
		return -1;
	if ((flags = fcntl(listen_fd, F_GETFL)) < 0
	    || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "policy_listen %s: %s", cfg->policy_listen,
		    strerror(errno));
		return -1;
	}
	/* every policy connection is a descriptor: sites run many smtpd */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return 0;
}

/* The session table; every function here runs under tab_lock. */

static unsigned
key_bucket(const char *addr, const char *port)
{
	unsigned h = 2166136261u;
	const char *p;

	for (p = addr; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ ':') * 16777619u;
	for (p = port; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % PD_BUCKETS;
}

static void
lru_unlink(struct psess *ps)
{
	if (ps->lprev)
		ps->lprev->lnext = ps->lnext;
	else
		lru_head = ps->lnext;
	if (ps->lnext)
		ps->lnext->lprev = ps->lprev;
	else
		lru_tail = ps->lprev;
	ps->lprev = ps->lnext = NULL;
}

static void
lru_append(struct psess *ps)
{
	ps->lprev = lru_tail;
	ps->lnext = NULL;
	if (lru_tail)
		lru_tail->lnext = ps;
	else
		lru_head = ps;
	lru_tail = ps;
}

/* Takes a session out of the table; the caller ends it (sess_end). */
static void
tab_remove(struct psess *ps)
{
	struct psess **pp;

	for (pp = &buckets[ps->bucket]; *pp; pp = &(*pp)->hnext)
		if (*pp == ps) {
			*pp = ps->hnext;
			break;
		}
	lru_unlink(ps);
	if (ps->client && ps->client->cur == ps)
		ps->client->cur = NULL;
	ps->client = NULL;
}

/* Logs the close of a session out of the table, and frees it. */
static void
sess_end(struct psess *ps, const char *reason)
{
	struct sg_close how = { 0, reason };

	if (ps == NULL)
		return;
	conn_close(ps->sc, &how);
	free(ps);
}

static struct psess *
sess_new(const char *addr, const char *port, const char *pid)
{
	struct psess *ps;

	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		return NULL;
	if ((ps->sc = conn_open(&sg_front_policy)) == NULL) {
		free(ps);
		return NULL;
	}
	snprintf(ps->addr, sizeof(ps->addr), "%s", addr);
	snprintf(ps->port, sizeof(ps->port), "%s", port);
	snprintf(ps->pid, sizeof(ps->pid), "%s", pid);
	ps->bucket = key_bucket(addr, port);
	return ps;
}

struct lookup {
	const char *addr, *port;
	char	pid[24];
	struct psess *ended[2];		/* sessions this request ended */
	int	created;
};

/*
 * The session of a request, marked busy, or NULL (out of memory). Waits
 * while another request uses it.
 */
static struct psess *
tab_get(struct pclient *c, struct lookup *lk)
{
	struct psess *ps, *old;
	unsigned b = key_bucket(lk->addr, lk->port);

again:
	for (ps = buckets[b]; ps; ps = ps->hnext)
		if (strcmp(ps->addr, lk->addr) == 0
		    && strcmp(ps->port, lk->port) == 0)
			break;
	if (ps && ps->busy) {
		pthread_cond_wait(&tab_cond, &tab_lock);
		goto again;
	}
	if (ps && lk->pid[0] && ps->pid[0] && strcmp(ps->pid, lk->pid) != 0) {
		/* another smtpd process has this client address and port now */
		tab_remove(ps);
		lk->ended[0] = ps;
		ps = NULL;
	}
	old = c->cur;
	if (old && old != ps && !old->busy && old->client == c) {
		/* this smtpd process went on to its next SMTP session */
		tab_remove(old);
		lk->ended[1] = old;
	}
	if (ps == NULL) {
		if ((ps = sess_new(lk->addr, lk->port, lk->pid)) == NULL)
			return NULL;
		ps->hnext = buckets[b];
		buckets[b] = ps;
		lru_append(ps);
		lk->created = 1;
	} else if (lk->pid[0] && ps->pid[0] == '\0')
		memcpy(ps->pid, lk->pid, sizeof(ps->pid));
	ps->busy = 1;
	if (ps->client && ps->client != c && ps->client->cur == ps)
		ps->client->cur = NULL;
	ps->client = c;
	c->cur = ps;
	return ps;
}

static void
tab_put(struct psess *ps)
{
	ps->busy = 0;
	ps->last = now_mono();
	lru_unlink(ps);
	lru_append(ps);
	pthread_cond_broadcast(&tab_cond);
}

/* Ends the sessions idle for longer than policy_session_idle. */
static void
sessions_expire(void)
{
	struct sg_snapshot *snap = runtime_acquire();
	struct psess *ps, *done = NULL;
	double	idle, now = now_mono();

	if (snap == NULL)
		return;
	idle = snapshot_config(snap)->policy_session_idle;
	runtime_release(snap);
	pthread_mutex_lock(&tab_lock);
	while ((ps = lru_head) != NULL && !ps->busy && now - ps->last >= idle) {
		tab_remove(ps);
		ps->hnext = done;
		done = ps;
	}
	pthread_mutex_unlock(&tab_lock);
	while ((ps = done) != NULL) {
		done = ps->hnext;
		sess_end(ps, "idle");
	}
}

/* Translation of one request. */

static int
nonempty(const char *v)
{
	return v != NULL && *v != '\0';
}

static unsigned
port_number(const char *port)
{
	unsigned long p = strtoul(port, NULL, 10);

	return *port && strspn(port, "0123456789") == strlen(port)
	    && strlen(port) < 6 && p <= 65535 ? (unsigned)p : 0;
}

/* "<addr>" as the milter gives it, in sb. */
static const char *
bracketed(struct strbuf *sb, const char *addr)
{
	strbuf_reset(sb);
	if (addr[0] == '<')
		strbuf_puts(sb, addr);
	else
		strbuf_printf(sb, "<%s>", addr);
	return strbuf_str(sb);
}

/*
 * Applies one request to its session; res is set at RCPT, and at MAIL by
 * the sender/login check. A transaction whose sender the check refused
 * answers each RCPT with that refusal (the mail line says why) without a
 * relay decision: Postfix asks at RCPT where the milter would have refused
 * MAIL, and such a recipient must not count against a rate limit.
 */
static void
apply(struct psess *ps, const struct policyreq *req, int created,
    struct sg_rcpt_result *res)
{
	struct sg_session *s = conn_session(ps->sc);
	const char *stage = policyreq_get(req, PREQ_PROTOCOL_STATE);
	const char *helo = policyreq_get(req, PREQ_HELO_NAME);
	const char *inst = policyreq_get(req, PREQ_INSTANCE);
	struct sg_mta_says says, at_helo;
	struct strbuf sb;
	int	tls_now;

	memset(&says, 0, sizeof(says));
	says.tls.version = policyreq_get(req, PREQ_ENCRYPTION_PROTOCOL);
	says.tls.cipher = policyreq_get(req, PREQ_ENCRYPTION_CIPHER);
	says.tls.bits = policyreq_get(req, PREQ_ENCRYPTION_KEYSIZE);
	says.login = policyreq_get(req, PREQ_SASL_USERNAME);
	says.mech = policyreq_get(req, PREQ_SASL_METHOD);
	says.auth_param = policyreq_get(req, PREQ_SASL_SENDER);
	tls_now = nonempty(says.tls.version) || nonempty(says.tls.cipher);
	strbuf_init(&sb);

	if (created)
		session_on_connect(s, policyreq_get(req, PREQ_CLIENT_NAME),
		    ps->addr, port_number(ps->port), NULL);
	/*
	 * A HELO name not seen before means an EHLO: so does one in TLS
	 * after plaintext, for Postfix forgets the name at STARTTLS. The
	 * login is not said there: it may come from an AUTH after it.
	 */
	if (nonempty(helo) && (strcmp(helo, ps->helo) != 0
	    || (tls_now && !ps->tls))) {
		memset(&at_helo, 0, sizeof(at_helo));
		at_helo.tls = says.tls;
		session_on_helo(s, helo, &at_helo);
		snprintf(ps->helo, sizeof(ps->helo), "%s", helo);
		ps->in_txn = 0;
	}
	ps->tls = tls_now;

	if ((nonempty(inst) && strcmp(inst, ps->instance) != 0)
	    || (!ps->in_txn && strcmp(stage, "RCPT") == 0)) {
		conn_on_mail(ps->sc, bracketed(&sb, policyreq_get(req,
		    PREQ_SENDER)), NULL, 0, &says, &ps->mail);
		snprintf(ps->instance, sizeof(ps->instance), "%s", inst);
		ps->in_txn = 1;
	}

	if (strcmp(stage, "RCPT") == 0 && ps->in_txn
	    && (ps->mail.verdict == VERDICT_REJECT
	    || ps->mail.verdict == VERDICT_TEMPFAIL)) {
		*res = ps->mail;
	} else if (strcmp(stage, "RCPT") == 0) {
		session_on_rcpt(s, bracketed(&sb, policyreq_get(req,
		    PREQ_RECIPIENT)), NULL, 0, 0, &says, res);
	} else if (strcmp(stage, "MAIL") == 0 && ps->in_txn) {
		*res = ps->mail;
	} else if (strcmp(stage, "DATA") == 0 && ps->in_txn) {
		session_on_data(s);
	} else if (strcmp(stage, "END-OF-MESSAGE") == 0 && ps->in_txn) {
		session_set_msg_size(s, policyreq_get(req, PREQ_SIZE));
		session_on_eom(s, policyreq_get(req, PREQ_QUEUE_ID));
		ps->in_txn = 0;
	}
	strbuf_free(&sb);
}

/*
 * The action for a recipient (or sender) verdict; a recipient that
 * limit_action = hold accepted puts the message on hold (SPEC section 8).
 */
static void
rcpt_action(const struct sg_rcpt_result *res, char *buf, size_t size)
{
	if (res->verdict == VERDICT_REJECT || res->verdict == VERDICT_TEMPFAIL)
		snprintf(buf, size, "%s%s%s %s", res->code,
		    res->xcode[0] ? " " : "", res->xcode, res->text);
	else if (res->hold)
		snprintf(buf, size, "HOLD rate limit exceeded");
	else
		snprintf(buf, size, "DUNNO");
}

/* Answers one parsed request into c->out. */
static void
handle(struct pclient *c, const struct policyreq *req)
{
	struct lookup lk;
	struct psess *ps = NULL;
	struct sg_rcpt_result res;
	const char *inst = policyreq_get(req, PREQ_INSTANCE);
	char	action[SG_REPLY_TEXT_MAX + 32];
	int	rcpt, mail;
	size_t	pidlen = strcspn(inst, ".");

	memset(&lk, 0, sizeof(lk));
	memset(&res, 0, sizeof(res));
	rcpt = strcmp(policyreq_get(req, PREQ_PROTOCOL_STATE), "RCPT") == 0;
	mail = strcmp(policyreq_get(req, PREQ_PROTOCOL_STATE), "MAIL") == 0;
	lk.addr = policyreq_get(req, PREQ_CLIENT_ADDRESS);
	lk.port = policyreq_get(req, PREQ_CLIENT_PORT);
	if (req->ndup)
		msg_warn("policy connection %lu: attribute %s repeated; the "
		    "first value counts", c->id,
		    policyreq_attr_name(req->first_dup));
	if (strlen(lk.addr) >= sizeof(ps->addr) || strlen(lk.port)
	    >= sizeof(ps->port) || pidlen >= sizeof(lk.pid)
	    || strlen(inst) >= sizeof(ps->instance)) {
		msg_warn("policy connection %lu: client_address, client_port "
		    "or instance too long; no session", c->id);
	} else {
		memcpy(lk.pid, inst, pidlen);
		lk.pid[pidlen] = '\0';
		pthread_mutex_lock(&tab_lock);
		ps = tab_get(c, &lk);
		pthread_mutex_unlock(&tab_lock);
		sess_end(lk.ended[0], "next_session");
		sess_end(lk.ended[1], "next_session");
		if (ps == NULL)
			msg_warn("policy connection %lu: out of memory for a "
			    "session of %.64s", c->id, lk.addr);
	}
	if (ps != NULL) {
		apply(ps, req, lk.created, &res);
		pthread_mutex_lock(&tab_lock);
		tab_put(ps);
		pthread_mutex_unlock(&tab_lock);
	} else if (rcpt)
		session_rcpt_unchecked(&res);
	if (rcpt || (mail && ps != NULL))
		rcpt_action(&res, action, sizeof(action));
	else
		snprintf(action, sizeof(action), "DUNNO");
	c->outoff = 0;
	c->outlen = policyreq_action(c->out, sizeof(c->out), action);
}

/* Connections. */

static void
pend_remove(struct pclient *c)
{
	struct ploop *lp = c->loop;

	if (!c->pending)
		return;
	if (c->pprev)
		c->pprev->pnext = c->pnext;
	else
		lp->pend_head = c->pnext;
	if (c->pnext)
		c->pnext->pprev = c->pprev;
	else
		lp->pend_tail = c->pprev;
	c->pprev = c->pnext = NULL;
	c->pending = 0;
}

/* Its buffered requests wait for the loop's next round. */
static void
pend_add(struct pclient *c)
{
	struct ploop *lp = c->loop;

	if (c->pending)
		return;
	c->pending = 1;
	c->pnext = NULL;
	c->pprev = lp->pend_tail;
	if (lp->pend_tail)
		lp->pend_tail->pnext = c;
	else
		lp->pend_head = c;
	lp->pend_tail = c;
}

static void
client_close(struct pclient *c)
{
	struct ploop *lp = c->loop;

	pthread_mutex_lock(&tab_lock);
	if (c->cur && c->cur->client == c)
		c->cur->client = NULL;
	c->cur = NULL;
	pthread_mutex_unlock(&tab_lock);
	pend_remove(c);
	epoll_ctl(lp->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		lp->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->in);
	free(c);
}

static void
client_watch(struct pclient *c, uint32_t what)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = what;
	ev.data.ptr = c;
	epoll_ctl(c->loop->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Sends what is pending; 1 when all of it went, 0 when not yet, -1 error. */
static int
client_flush(struct pclient *c)
{
	ssize_t	n;

	while (c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		c->outoff += (size_t)n;
		c->last = now_mono();
	}
	c->outoff = c->outlen = 0;
	return 1;
}

/*
 * Answers the complete requests in the input, in order, while replies
 * leave at once, at most PD_BURST of them: a client that pipelines many
 * waits for the loop's next round (pend_add), so that it cannot hold the
 * thread from the others. Returns -1 when the connection was closed.
 */
static int
client_process(struct pclient *c)
{
	struct policyreq req;
	char	err[128];
	size_t	len;
	int	rc, n = 0;

	while (c->outlen == 0 && c->inlen > 0) {
		if (n++ == PD_BURST) {
			pend_add(c);
			return 0;
		}
		/*
		 * From the last line start scanned, so that a client that
		 * sends a byte at a time costs linear time, not quadratic.
		 */
		len = policyreq_frame(c->in + c->scan, c->inlen - c->scan);
		if (len > 0)
			len += c->scan;
		else {
			char	*nl = memrchr(c->in, '\n', c->inlen);

			c->scan = nl ? (size_t)(nl + 1 - c->in) : 0;
			if (c->inlen <= POLICYREQ_MAX)
				return 0;
			len = c->inlen;		/* over the bound: malformed */
		}
		c->scan = 0;
		if (policyreq_parse(&req, c->in, len, err, sizeof(err)) < 0) {
			msg_warn("policy connection %lu: malformed request (%s); "
			    "closing it without a reply", c->id, err);
			client_close(c);
			return -1;
		}
		handle(c, &req);
		memmove(c->in, c->in + len, c->inlen - len);
		c->inlen -= len;
		c->begun = c->inlen ? now_mono() : 0;
		if (c->inlen == 0 && c->incap > PD_BUF_INIT) {
			/* a big request once does not keep 64 KiB for good */
			char	*p = realloc(c->in, PD_BUF_INIT);

			if (p != NULL) {
				c->in = p;
				c->incap = PD_BUF_INIT;
			}
		}
		if ((rc = client_flush(c)) < 0) {
			client_close(c);
			return -1;
		}
		if (rc == 0)
			client_watch(c, EPOLLOUT);
	}
	return 0;
}

/* One read, then its requests (level-triggered: more data, more calls). */
static void
client_readable(struct pclient *c)
{
	size_t	cap;
	ssize_t	n;
	char	*p;

	if (c->outlen || c->pending)
		return;			/* a reply waits, or requests do */
	if (c->inlen == c->incap) {
		if (c->incap > POLICYREQ_MAX) {
			client_process(c);	/* answers, or malformed */
			return;
		}
		cap = c->incap * 2 > POLICYREQ_MAX + 1 ? POLICYREQ_MAX + 1
		    : c->incap * 2;
		if ((p = realloc(c->in, cap)) == NULL) {
			msg_warn("policy connection %lu: out of memory; "
			    "closing it", c->id);
			client_close(c);
			return;
		}
		c->in = p;
		c->incap = cap;
	}
	do
		n = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		if (c->inlen > 0)
			msg_warn("policy connection %lu: closed in the "
			    "middle of a request", c->id);
		client_close(c);
		return;
	}
	if (c->inlen == 0)
		c->begun = now_mono();
	c->inlen += (size_t)n;
	c->last = now_mono();
	client_process(c);
}

static void
client_writable(struct pclient *c)
{
	int	rc = client_flush(c);

	if (rc < 0) {
		client_close(c);
		return;
	}
	if (rc == 0)
		return;
	client_watch(c, EPOLLIN);
	client_process(c);
}

static void
loop_accept(struct ploop *lp)
{
	struct epoll_event ev;
	struct pclient *c;
	int	fd;

	for (;;) {
		fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE
			    || errno == ENOBUFS || errno == ENOMEM) {
				/* pause accepting until the next scan */
				msg_warn("policy server: accept: %s; pausing",
				    strerror(errno));
				epoll_ctl(lp->ep, EPOLL_CTL_DEL, listen_fd, NULL);
				lp->listening = 0;
			}
			return;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL
		    || (c->in = malloc(PD_BUF_INIT)) == NULL) {
			msg_warn("policy server: out of memory for a connection");
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->loop = lp;
		c->incap = PD_BUF_INIT;
		c->id = atomic_fetch_add(&conn_ids, 1) + 1;
		c->last = now_mono();
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(lp->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			msg_warn("policy server: epoll_ctl: %s", strerror(errno));
			free(c->in);
			free(c);
			close(fd);
			continue;
		}
		c->next = lp->clients;
		if (lp->clients)
			lp->clients->prev = c;
		lp->clients = c;
	}
}

static void
loop_listen(struct ploop *lp)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.ptr = &listen_marker;
	if (epoll_ctl(lp->ep, EPOLL_CTL_ADD, listen_fd, &ev) == 0)
		lp->listening = 1;
}

/* Closes the connections that are too slow or idle too long. */
static void
loop_scan(struct ploop *lp, double now)
{
	struct pclient *c, *next;

	for (c = lp->clients; c; c = next) {
		next = c->next;
		if (c->outlen && now - c->last > PD_READ_TIMEOUT)
			msg_warn("policy connection %lu: reply not taken in "
			    "%d s; closing it", c->id, PD_READ_TIMEOUT);
		else if (c->inlen && now - c->begun > PD_READ_TIMEOUT)
			msg_warn("policy connection %lu: request not complete "
			    "in %d s; closing it", c->id, PD_READ_TIMEOUT);
		else if (!c->inlen && !c->outlen
		    && now - c->last > PD_IDLE_TIMEOUT)
			;
		else
			continue;
		client_close(c);
	}
}

/* A burst for each client that has requests buffered, in turn. */
static void
loop_pending(struct ploop *lp)
{
	struct pclient *c, *last = lp->pend_tail;
	int	was_last = 0;

	while (!was_last && (c = lp->pend_head) != NULL
	    && !atomic_load(&stopping)) {
		was_last = c == last;	/* the ones added meanwhile: next round */
		pend_remove(c);
		client_process(c);
	}
}

static void *
loop_run(void *arg)
{
	struct ploop *lp = arg;
	struct epoll_event evs[PD_EVENTS];
	double	now;
	int	n, i;

	while (!atomic_load(&stopping)) {
		n = epoll_wait(lp->ep, evs, PD_EVENTS, lp->pend_head ? 0
		    : PD_TICK_MS);
		if (n < 0 && errno != EINTR) {
			msg_warn("policy server: epoll_wait: %s",
			    strerror(errno));
			n = 0;
		}
		for (i = 0; i < n && !atomic_load(&stopping); i++) {
			if (evs[i].data.ptr == &listen_marker)
				loop_accept(lp);
			else if (evs[i].data.ptr == &wake_marker)
				break;
			else if (((struct pclient *)evs[i].data.ptr)->outlen)
				client_writable(evs[i].data.ptr); /* or error */
			else
				client_readable(evs[i].data.ptr);
		}
		loop_pending(lp);
		now = now_mono();
		if (lp->index == 0 && now >= lp->next_expire) {
			lp->next_expire = now + PD_TICK_MS / 1000.0;
			sessions_expire();
		}
		if (now >= lp->next_scan) {
			lp->next_scan = now + 1;
			loop_scan(lp, now);
			if (!lp->listening)
				loop_listen(lp);
		}
	}
	return NULL;
}

int
policyd_start(char *err, size_t errlen)
{
	struct epoll_event ev;
	int	i, rc;

	if ((wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		snprintf(err, errlen, "policy server: eventfd: %s",
		    strerror(errno));
		return -1;
	}
	for (i = 0; i < PD_THREADS; i++) {
		struct ploop *lp = &loops[i];

		lp->index = i;
		if ((lp->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
			snprintf(err, errlen, "policy server: epoll_create1: %s",
			    strerror(errno));
			return -1;
		}
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = &wake_marker;
		epoll_ctl(lp->ep, EPOLL_CTL_ADD, wake_fd, &ev);
		loop_listen(lp);
		if ((rc = pthread_create(&lp->th, NULL, loop_run, lp)) != 0) {
			snprintf(err, errlen, "policy server: pthread_create: %s",
			    strerror(rc));
			return -1;
		}
		nloops++;
	}
	msg_info("policy server listening on %s", listen_name);
	return 0;
}

void
policyd_stop(void)
{
	uint64_t one = 1;
	struct psess *ps;
	int	i;

	if (listen_fd < 0)
		return;
	atomic_store(&stopping, 1);
	if (wake_fd >= 0 && write(wake_fd, &one, sizeof(one)) < 0)
		msg_warn("policy server: cannot wake the threads: %s",
		    strerror(errno));
	for (i = 0; i < nloops; i++) {
		pthread_join(loops[i].th, NULL);
		while (loops[i].clients)
			client_close(loops[i].clients);
		close(loops[i].ep);
	}
	nloops = 0;
	close(listen_fd);
	listen_fd = -1;
	if (wake_fd >= 0)
		close(wake_fd);
	if (listen_path)
		unlink(listen_path);
	for (;;) {
		pthread_mutex_lock(&tab_lock);
		if ((ps = lru_head) != NULL)
			tab_remove(ps);
		pthread_mutex_unlock(&tab_lock);
		if (ps == NULL)
			break;
		sess_end(ps, "shutdown");
	}
	free(listen_path);
	free(listen_name);
	listen_path = listen_name = NULL;
}
