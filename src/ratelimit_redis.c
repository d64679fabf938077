/*
 * NAME
 *	ratelimit_redis - the Redis store of the rate limits (hiredis)
 * SYNOPSIS
 *	#include "ratelimit_store.h"
 *
 *	struct rl_redis *rl_redis_create(spec, password, timeout_ms, err, errlen)
 *	int rl_redis_eval(r, script, nkeys, keys, nargs, args, out, nout,
 *		err, errlen)
 *	struct redisReply *rl_redis_command(r, argc, argv, lens, err, errlen)
 *	void rl_redis_reply_free(reply)
 *	void rl_redis_free(r)
 * DESCRIPTION
 *	A small pool of hiredis contexts to one Redis server: hiredis
 *	contexts are not thread-safe, so a call takes an idle context from
 *	the pool (a mutex and a list) or connects a new one, and gives it
 *	back when the call succeeded; a context that failed is closed. At
 *	most RL_POOL_IDLE idle contexts are kept.
 *
 *	rl_redis_create() parses spec (redis:unix:/path or
 *	redis:inet:HOST:PORT) and connects nothing yet. Every connection
 *	and every command is bounded by timeout_ms
 *	(redisConnectUnixWithTimeout / redisConnectWithTimeout, then
 *	redisSetTimeout). With a password each new connection first sends
 *	AUTH.
 *
 *	rl_redis_eval() runs script with EVALSHA: the script's SHA1 comes
 *	from SCRIPT LOAD the first time, and again when Redis answers
 *	NOSCRIPT (after a restart or a failover its script cache is empty),
 *	then EVALSHA is retried once. keys go to KEYS, args to ARGV. The
 *	reply must be an array of integers; they are stored in out (at most
 *	nout) and their number is returned.
 *
 *	rl_redis_command() sends one command and returns its reply (free it
 *	with rl_redis_reply_free()); an error reply is a failure.
 *
 *	A call on a pooled context that finds the connection closed (Redis
 *	restarted: EOF, EPIPE, ECONNRESET) is retried once on a new
 *	connection, and the other idle contexts are closed too; a timeout is
 *	not retried, so a stopped server costs one timeout a command.
 *
 *	Redis Cluster: every key of the rate limits lies in one slot (the
 *	hash tag {rl}), so one node serves them all. A node that does not
 *	answers MOVED SLOT HOST:PORT; the store then follows it: the idle
 *	contexts are closed, new ones go to HOST:PORT (until the next
 *	MOVED), and the command is sent again there, at most twice a call;
 *	a context in use meanwhile is closed, not pooled, when it comes back
 *	(each context carries the generation of the target it went to).
 *	After a failover the configured node redirects to the new master
 *	the same way; a node MOVED to that cannot be reached sends the next
 *	connection to the configured node again. ASK (a slot being
 *	migrated) is not followed: the call fails, as with any error reply.
 *
 *	hiredis writes with write(2), not send(MSG_NOSIGNAL): the process
 *	must ignore SIGPIPE (libmilter does; ratelimit_create() makes sure).
 * DIAGNOSTICS
 *	rl_redis_create() returns NULL with a reason in err for a bad spec
 *	or no memory. rl_redis_eval() returns -1 and rl_redis_command() NULL
 *	with a reason in err when the server cannot be reached, times out,
 *	refuses AUTH or answers with an error.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "ratelimit_store.h"
#include "util/msg.h"

#define RL_POOL_IDLE	16
#define RL_MOVED_HOST	256	/* a host name, or an IPv6 address */
#define RL_REDIRECTS	2	/* MOVED followed a call */

struct rl_conn {
	redisContext	*c;
	unsigned	 gen;		/* of the target it was opened to */
	struct rl_conn	*next;
};

struct rl_redis {
	char		*path;		/* unix socket, or NULL */
	char		*host;
	int		 port;
	char		*password;
	struct timeval	 tv;
	pthread_mutex_t	 lock;
	struct rl_conn	*idle;		/* the pool */
	size_t		 nidle;
	char		 sha[41];	/* of the script, "" until loaded */
	const char	*sha_of;	/* the script that sha belongs to */
	char		 moved_host[RL_MOVED_HOST]; /* "": not redirected */
	int		 moved_port;
	unsigned	 gen;		/* changes with the target */
};

struct rl_redis *
rl_redis_create(const char *spec, const char *password, unsigned timeout_ms,
    char *err, size_t errlen)
{
	struct rl_redis *r;
	const char *colon;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto nomem;
	pthread_mutex_init(&r->lock, NULL);
	r->tv.tv_sec = timeout_ms / 1000;
	r->tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
	if (strncmp(spec, "redis:unix:", 11) == 0) {
		if ((r->path = strdup(spec + 11)) == NULL)
			goto nomem;
	} else if (strncmp(spec, "redis:inet:", 11) == 0
	    && (colon = strrchr(spec + 11, ':')) != NULL) {
		if ((r->host = strndup(spec + 11, (size_t)(colon - spec - 11)))
		    == NULL)
			goto nomem;
		/* [::1]:6379 */
		if (r->host[0] == '[' && r->host[strlen(r->host) - 1] == ']') {
			memmove(r->host, r->host + 1, strlen(r->host));
			r->host[strlen(r->host) - 1] = '\0';
		}
		r->port = atoi(colon + 1);
	} else {
		errf(err, errlen, "'%s': not a Redis store", spec);
		rl_redis_free(r);
		return NULL;
	}
	if (password && (r->password = strdup(password)) == NULL)
		goto nomem;
	return r;
nomem:
	errf(err, errlen, "out of memory");
	rl_redis_free(r);
	return NULL;
}

void
rl_redis_free(struct rl_redis *r)
{
	struct rl_conn *c;

	if (r == NULL)
		return;
	while ((c = r->idle) != NULL) {
		r->idle = c->next;
		redisFree(c->c);
		free(c);
	}
	pthread_mutex_destroy(&r->lock);
	free(r->path);
	free(r->host);
	if (r->password) {
		memset(r->password, 0, strlen(r->password));
		free(r->password);
	}
	free(r);
}

void
rl_redis_reply_free(struct redisReply *reply)
{
	if (reply)
		freeReplyObject(reply);
}

static const char *
where(struct rl_redis *r, char *buf, size_t len)
{
	pthread_mutex_lock(&r->lock);
	if (r->moved_host[0])
		snprintf(buf, len, "redis %.100s:%d (MOVED there)",
		    r->moved_host, r->moved_port);
	else if (r->path)
		snprintf(buf, len, "redis unix:%.100s", r->path);
	else
		snprintf(buf, len, "redis %.100s:%d", r->host, r->port);
	pthread_mutex_unlock(&r->lock);
	return buf;
}

/*
 * A new connection, authenticated; NULL with a reason in err. *gen: the
 * generation of the target it went to.
 */
static redisContext *
conn_open(struct rl_redis *r, unsigned *gen, char *err, size_t errlen)
{
	redisContext *c;
	redisReply *reply;
	char	w[160], host[RL_MOVED_HOST];
	int	port;

	pthread_mutex_lock(&r->lock);
	memcpy(host, r->moved_host, sizeof(host));
	port = r->moved_port;
	*gen = r->gen;
	pthread_mutex_unlock(&r->lock);
	if (host[0])
		c = redisConnectWithTimeout(host, port, r->tv);
	else
		c = r->path ? redisConnectUnixWithTimeout(r->path, r->tv)
		    : redisConnectWithTimeout(r->host, r->port, r->tv);
	if (c == NULL) {
		errf(err, errlen, "%s: out of memory", where(r, w, sizeof(w)));
		return NULL;
	}
	if (c->err) {
		errf(err, errlen, "%s: connect: %s", where(r, w, sizeof(w)),
		    c->errstr);
		redisFree(c);
		/* the node MOVED to is gone: ask the configured one again */
		if (host[0]) {
			pthread_mutex_lock(&r->lock);
			if (strcmp(r->moved_host, host) == 0
			    && r->moved_port == port) {
				r->moved_host[0] = '\0';
				r->gen++;
			}
			pthread_mutex_unlock(&r->lock);
		}
		return NULL;
	}
	if (redisSetTimeout(c, r->tv) != REDIS_OK) {
		errf(err, errlen, "%s: cannot set the timeout",
		    where(r, w, sizeof(w)));
		redisFree(c);
		return NULL;
	}
	if (r->password) {
		reply = redisCommand(c, "AUTH %s", r->password);
		if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
			errf(err, errlen, "%s: AUTH: %s", where(r, w, sizeof(w)),
			    reply ? reply->str : c->errstr);
			if (reply)
				freeReplyObject(reply);
			redisFree(c);
			return NULL;
		}
		freeReplyObject(reply);
	}
	return c;
}

/*
 * An idle context from the pool, or a new one; *pooled says which, *gen
 * is the generation of its target.
 */
static redisContext *
conn_get(struct rl_redis *r, int *pooled, unsigned *gen, char *err,
    size_t errlen)
{
	struct rl_conn *n;
	redisContext *c = NULL;

	pthread_mutex_lock(&r->lock);
	if ((n = r->idle) != NULL) {
		r->idle = n->next;
		r->nidle--;
	}
	pthread_mutex_unlock(&r->lock);
	if (n) {
		c = n->c;
		*gen = n->gen;
		free(n);
		*pooled = 1;
		return c;
	}
	*pooled = 0;
	return conn_open(r, gen, err, errlen);
}

/* Back to the pool; closed when the pool is full or the target moved. */
static void
conn_put(struct rl_redis *r, redisContext *c, unsigned gen)
{
	struct rl_conn *n;

	pthread_mutex_lock(&r->lock);
	if (gen == r->gen && r->nidle < RL_POOL_IDLE
	    && (n = malloc(sizeof(*n))) != NULL) {
		n->c = c;
		n->gen = gen;
		n->next = r->idle;
		r->idle = n;
		r->nidle++;
		c = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	if (c)
		redisFree(c);
}

/* Closes every idle context: after one was found closed, all were. */
static void
pool_flush(struct rl_redis *r)
{
	struct rl_conn *list, *n;

	pthread_mutex_lock(&r->lock);
	list = r->idle;
	r->idle = NULL;
	r->nidle = 0;
	pthread_mutex_unlock(&r->lock);
	while ((n = list) != NULL) {
		list = n->next;
		redisFree(n->c);
		free(n);
	}
}

/* The connection was found closed: worth one retry on a new one. */
static int
conn_closed(const redisContext *c, int saved_errno)
{
	return c->err == REDIS_ERR_EOF || (c->err == REDIS_ERR_IO
	    && (saved_errno == EPIPE || saved_errno == ECONNRESET));
}

/*
 * A Cluster node's "MOVED SLOT HOST:PORT": new connections go to
 * HOST:PORT and the idle ones are closed. 1 when msg is a MOVED that
 * could be followed; 0 otherwise. The reply comes from the network:
 * HOST must be a plain host name or address, PORT a port. An empty
 * HOST (Redis: the node's address is unknown) means the same host.
 */
static int
follow_moved(struct rl_redis *r, const char *msg)
{
	const char *p, *colon;
	char	host[RL_MOVED_HOST];
	size_t	hl, i;
	long	port;
	char	*end;

	if (strncmp(msg, "MOVED ", 6) != 0)
		return 0;
	p = msg + 6;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == msg + 6 || *p++ != ' ' || (colon = strrchr(p, ':')) == NULL)
		return 0;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || port < 1 || port > 65535)
		return 0;
	hl = (size_t)(colon - p);
	if (hl >= sizeof(host))
		return 0;
	for (i = 0; i < hl; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A'
		    && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9')
		    || p[i] == '.' || p[i] == ':' || p[i] == '-'
		    || p[i] == '_'))
			return 0;
	memcpy(host, p, hl);
	host[hl] = '\0';
	if (hl == 0) {
		if (r->host == NULL)	/* a unix socket: no host to reuse */
			return 0;
		snprintf(host, sizeof(host), "%s", r->host);
	}
	pthread_mutex_lock(&r->lock);
	if (strcmp(r->moved_host, host) != 0 || r->moved_port != (int)port) {
		memcpy(r->moved_host, host, sizeof(host));
		r->moved_port = (int)port;
		r->gen++;
	}
	pthread_mutex_unlock(&r->lock);
	pool_flush(r);
	return 1;
}

/* Appends the decimal digits of v at p; returns the end. */
static char *
put_uint(char *p, size_t v)
{
	char	tmp[24];
	size_t	n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/*
 * The command in the protocol's own form (RESP: *argc, then $len and
 * the bytes of each argument) into buf; its length, or 0 when it does
 * not fit. hiredis's redisFormatCommandArgv does the same through
 * sdscatfmt, several times slower, on the path of every relay RCPT.
 */
static size_t
resp_format(char *buf, size_t size, int argc, const char **argv,
    const size_t *lens)
{
	char	*p = buf, *end = buf + size;
	size_t	len;
	int	i;

	if (size < 24)
		return 0;
	*p++ = '*';
	p = put_uint(p, (size_t)argc);
	*p++ = '\r';
	*p++ = '\n';
	for (i = 0; i < argc; i++) {
		len = lens ? lens[i] : strlen(argv[i]);
		if ((size_t)(end - p) < len + 28)
			return 0;
		*p++ = '$';
		p = put_uint(p, len);
		*p++ = '\r';
		*p++ = '\n';
		memcpy(p, argv[i], len);
		p += len;
		*p++ = '\r';
		*p++ = '\n';
	}
	return (size_t)(p - buf);
}

/*
 * Sends one command on c. Returns the reply (errors included), or NULL
 * when the connection failed (c is then unusable).
 */
static redisReply *
conn_command(redisContext *c, int argc, const char **argv,
    const size_t *lens, int *saved_errno)
{
	redisReply *reply = NULL;
	char	buf[2048];
	size_t	len;
	void	*out;

	errno = 0;
	if ((len = resp_format(buf, sizeof(buf), argc, argv, lens)) == 0)
		reply = redisCommandArgv(c, argc, argv, lens);
	else if (redisAppendFormattedCommand(c, buf, len) == REDIS_OK
	    && redisGetReply(c, &out) == REDIS_OK)
		reply = out;
	*saved_errno = errno;
	return reply;
}

/* SCRIPT LOAD: the script's SHA1 into r->sha. */
static int
script_load(struct rl_redis *r, redisContext *c, const char *script,
    int *saved_errno, char *err, size_t errlen)
{
	const char *argv[3] = { "SCRIPT", "LOAD", script };
	redisReply *reply;
	char	w[160];

	if ((reply = conn_command(c, 3, argv, NULL, saved_errno)) == NULL)
		return -1;
	if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
		errf(err, errlen, "%s: SCRIPT LOAD: %s", where(r, w, sizeof(w)),
		    reply->type == REDIS_REPLY_ERROR ? reply->str
		    : "unexpected reply");
		freeReplyObject(reply);
		return -2;
	}
	pthread_mutex_lock(&r->lock);
	memcpy(r->sha, reply->str, 40);
	r->sha[40] = '\0';
	r->sha_of = script;
	pthread_mutex_unlock(&r->lock);
	freeReplyObject(reply);
	return 0;
}

/*
 * EVALSHA on c, loading the script first or after NOSCRIPT. Returns the
 * reply; NULL with *failed = 1 when the connection failed, or with
 * *failed = 0 and err set when Redis answered an error (*moved = 1: a
 * MOVED that the store now follows).
 */
static redisReply *
eval_on(struct rl_redis *r, redisContext *c, const char *script,
    int argc, const char **argv, int *saved_errno, int *failed, int *moved,
    char *err, size_t errlen)
{
	redisReply *reply;
	char	sha[41], w[160];
	int	rc, tries;

	*failed = 0;
	*moved = 0;
	/* load if unknown, EVALSHA, on NOSCRIPT load again, EVALSHA */
	for (tries = 0; tries < 4; tries++) {
		pthread_mutex_lock(&r->lock);
		if (r->sha_of == script)
			memcpy(sha, r->sha, sizeof(sha));
		else
			sha[0] = '\0';
		pthread_mutex_unlock(&r->lock);
		if (sha[0] == '\0') {
			rc = script_load(r, c, script, saved_errno, err, errlen);
			if (rc == -1)
				*failed = 1;
			if (rc < 0)
				return NULL;
			continue;
		}
		argv[1] = sha;
		if ((reply = conn_command(c, argc, argv, NULL, saved_errno))
		    == NULL) {
			*failed = 1;
			return NULL;
		}
		if (reply->type == REDIS_REPLY_ERROR
		    && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
			freeReplyObject(reply);
			pthread_mutex_lock(&r->lock);
			r->sha[0] = '\0';
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		if (reply->type == REDIS_REPLY_ERROR) {
			errf(err, errlen, "%s: EVALSHA: %.200s",
			    where(r, w, sizeof(w)), reply->str);
			*moved = follow_moved(r, reply->str);
			freeReplyObject(reply);
			return NULL;
		}
		return reply;
	}
	errf(err, errlen, "%s: the script is not found even after SCRIPT LOAD",
	    where(r, w, sizeof(w)));
	return NULL;
}

int
rl_redis_eval(struct rl_redis *r, const char *script, size_t nkeys,
    const char *const *keys, size_t nargs, const char *const *args,
    long long *out, size_t nout, char *err, size_t errlen)
{
	const char *argv[3 + 16 + 32];
	char	nk[16], w[160];
	redisContext *c;
	redisReply *reply = NULL;
	size_t	i;
	int	argc = 0, pooled, saved_errno = 0, failed, moved, attempt;
	int	redirects = 0;
	unsigned gen;

	if (nkeys > 16 || nargs > 32) {
		errf(err, errlen, "too many keys or arguments");
		return -1;
	}
	snprintf(nk, sizeof(nk), "%zu", nkeys);
	argv[argc++] = "EVALSHA";
	argv[argc++] = "";
	argv[argc++] = nk;
	for (i = 0; i < nkeys; i++)
		argv[argc++] = keys[i];
	for (i = 0; i < nargs; i++)
		argv[argc++] = args[i];
	for (attempt = 0; attempt < 2; attempt++) {
		if ((c = conn_get(r, &pooled, &gen, err, errlen)) == NULL)
			return -1;
		reply = eval_on(r, c, script, argc, argv, &saved_errno,
		    &failed, &moved, err, errlen);
		if (moved && redirects++ < RL_REDIRECTS) {
			redisFree(c);	/* a connection to the old node */
			attempt--;
			continue;
		}
		if (reply || !failed) {
			conn_put(r, c, gen);
			break;
		}
		if (pooled && conn_closed(c, saved_errno)) {
			redisFree(c);
			pool_flush(r);
			continue;
		}
		errf(err, errlen, "%s: %s", where(r, w, sizeof(w)),
		    c->errstr[0] ? c->errstr : "connection failed");
		redisFree(c);
		return -1;
	}
	if (reply == NULL) {
		if (attempt == 2)
			errf(err, errlen, "%s: connection closed",
			    where(r, w, sizeof(w)));
		return -1;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements > nout) {
		errf(err, errlen, "%s: unexpected reply to the script",
		    where(r, w, sizeof(w)));
		freeReplyObject(reply);
		return -1;
	}
	for (i = 0; i < reply->elements; i++) {
		if (reply->element[i]->type != REDIS_REPLY_INTEGER) {
			errf(err, errlen, "%s: unexpected reply to the script",
			    where(r, w, sizeof(w)));
			freeReplyObject(reply);
			return -1;
		}
		out[i] = reply->element[i]->integer;
	}
	i = reply->elements;
	freeReplyObject(reply);
	return (int)i;
}

struct redisReply *
rl_redis_command(struct rl_redis *r, int argc, const char **argv,
    const size_t *lens, char *err, size_t errlen)
{
	redisContext *c;
	redisReply *reply;
	char	w[160];
	int	pooled, saved_errno, attempt, redirects = 0;
	unsigned gen;

	for (attempt = 0; attempt < 2; attempt++) {
		if ((c = conn_get(r, &pooled, &gen, err, errlen)) == NULL)
			return NULL;
		if ((reply = conn_command(c, argc, argv, lens, &saved_errno))
		    != NULL) {
			if (reply->type == REDIS_REPLY_ERROR
			    && redirects < RL_REDIRECTS
			    && follow_moved(r, reply->str)) {
				redirects++;
				freeReplyObject(reply);
				redisFree(c);
				attempt--;
				continue;
			}
			conn_put(r, c, gen);
			if (reply->type == REDIS_REPLY_ERROR) {
				errf(err, errlen, "%s: %s: %s",
				    where(r, w, sizeof(w)), argv[0], reply->str);
				freeReplyObject(reply);
				return NULL;
			}
			return reply;
		}
		if (pooled && conn_closed(c, saved_errno)) {
			redisFree(c);
			pool_flush(r);
			continue;
		}
		errf(err, errlen, "%s: %s", where(r, w, sizeof(w)),
		    c->errstr[0] ? c->errstr : "connection failed");
		redisFree(c);
		return NULL;
	}
	errf(err, errlen, "%s: connection closed", where(r, w, sizeof(w)));
	return NULL;
}
