/*
 * NAME
 *	ratelimit - rate limits per login and per client address
 * SYNOPSIS
 *	#include "ratelimit.h"
 *
 *	struct ratelimit *ratelimit_create(cfg, err, errlen)
 *	void ratelimit_set_clock(rl, fn, ctx)
 *	int ratelimit_enabled(cfg)
 *	void ratelimit_check(rl, cfg, login, client, new_message, res)
 *	void ratelimit_reason(res, buf, len)
 *	int ratelimit_list(rl, cfg, percent, fn, ctx, err, errlen)
 *	int ratelimit_reset(rl, key, err, errlen)
 *	const char *ratelimit_store_name(rl)
 *	void ratelimit_free(rl)
 * DESCRIPTION
 *	The four limits of SPEC section 8, front-end neutral and free of
 *	libmilter. Counters live in the store named by limit_store: this
 *	process's memory, or a Redis server shared by every sessguard that
 *	names it (ratelimit_redis.c), so that a limit holds across MTAs.
 *
 *	Algorithm. The three counting limits (limit_login_recipients,
 *	limit_login_messages, limit_client_recipients) use GCRA, the generic
 *	cell rate algorithm: "N/PERIOD" lets N through at once and then one
 *	more every PERIOD/N (the emission interval); over any span t at most
 *	N + t*N/PERIOD pass, so no calendar edge lets 2N through in a
 *	moment. A counter is one value, its theoretical arrival time (TAT);
 *	a recipient passes when TAT + PERIOD/N - now <= PERIOD, and then
 *	TAT = max(TAT, now) + PERIOD/N. The count reported is
 *	ceil((TAT - now) / (PERIOD/N)): what the window holds, this
 *	recipient included. limit_login_clients is a sliding window of the
 *	distinct client addresses seen for the login in the last PERIOD (a
 *	sorted set: address -> last seen); a new address past N is refused,
 *	a known one refreshes its time. Every counter expires once it is
 *	empty (a Redis TTL, a deadline in memory).
 *
 *	One decision checks every limit the recipient touches and counts it
 *	in all of them only if none refuses: a refused recipient costs
 *	nothing. In Redis that is one EVALSHA of one Lua script (SCRIPT
 *	below), each counter one key listed in KEYS, the arguments in ARGV.
 *	Every key carries the hash tag {rl}, so the keys of one decision (a
 *	login's and its client's) share one slot and the script also runs on
 *	a Redis Cluster. Time comes from this process's clock (milliseconds),
 *	passed to the script, so the clocks of the MTAs sharing a store should
 *	agree (NTP). The memory store runs the same algorithm under a mutex.
 *
 *	Store keys: sg:{rl}:login:NAME:rcpt, sg:{rl}:login:NAME:msg (GCRA:
 *	a string, the TAT in microseconds, negative once refused),
 *	sg:{rl}:login:NAME:clients (a sorted set: address -> last seen, ms),
 *	sg:{rl}:client:ADDR:rcpt. NAME is the SASL
 *	login in lower case (a case-insensitive backend must not give an
 *	account N logins), cut at RL_LOGIN_MAX bytes; ADDR the address in
 *	canonical text form.
 *
 *	ratelimit_create() returns an engine for cfg's store; the store's
 *	keys (limit_store, its password and timeout) take effect only here.
 *	The limits themselves come from the snapshot given to each call, so
 *	a reload changes them. ratelimit_set_clock() replaces the clock
 *	(tests).
 *
 *	ratelimit_enabled() says whether cfg sets any limit.
 *
 *	ratelimit_check() decides one relay recipient: login is the
 *	session's SASL login or NULL, client its client address (or NULL or
 *	family 0 when unknown), new_message non-zero when this recipient
 *	would be the first accepted relay recipient of the transaction
 *	(limit_login_messages counts it). It fills res: verdict NONE (no
 *	limit applies: all off, exempt, nothing to key on), ALLOW (counted),
 *	OVER (res->limit is the limit refused; nothing counted) or
 *	UNAVAILABLE (the store cannot be reached and limit_store_down is
 *	tempfail); res->limit is SPEC's limit object whenever consulted is
 *	set (over: the limit refused; else the limit nearest its maximum);
 *	first_over marks the first refusal of a counter since it last
 *	accepted (anomaly limit_exceeded); store_change is DOWN or UP in
 *	the one call that saw the store fail or recover (anomalies
 *	limit_store_down and limit_store_up), with store_error saying why;
 *	local marks a decision taken by this process's counters while the
 *	store is down (limit_store_down = local). What to do over a limit
 *	(limit_action) is the caller's business.
 *
 *	While the store is down, only one call a second tries it again; the
 *	others fail at once. Every try is bounded by limit_store_timeout
 *	per connection and command.
 *
 *	ratelimit_reason() writes the %r text of limit_reply: printable
 *	ASCII, bounded.
 *
 *	ratelimit_list() calls fn for every counter of the store at or
 *	above percent of its limit in cfg (sessguard -L). ratelimit_reset()
 *	removes the counters of one key, "login:NAME" or "client:ADDR"
 *	(sessguard -R), and returns how many there were.
 *
 *	Threads: every function but create and free may be called from any
 *	thread at any time.
 * DIAGNOSTICS
 *	ratelimit_create() returns NULL with a reason in err. ratelimit_list()
 *	and ratelimit_reset() return -1 with a reason in err for a bad key or
 *	an unreachable store. ratelimit_check() cannot fail: a store error
 *	becomes UNAVAILABLE or a local decision, as configured.
 */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "ratelimit.h"
#include "ratelimit_store.h"
#include "util/cidrset.h"
#include "util/msg.h"
#include "util/strset.h"

#define MEM_BUCKETS	4096
#define RETRY_MS	1000	/* a down store is tried again after this */
#define NSPEC		4
#define RKEY_PREFIX	"sg:{rl}:"	/* one hash tag: one Cluster slot */
#define RKEY_MAX	(RL_KEY_MAX + 24)

/* Keep in step with mem_decide() below. */
static const char SCRIPT[] =
"-- sessguard rate limits: check every limit, count in all only if none\n"
"-- refuses. Every key carries the hash tag {rl}: one slot, so the script\n"
"-- runs on a Redis Cluster too. KEYS[i]: counter i. ARGV[1]: now (us),\n"
"-- ARGV[2]: now (ms), ARGV[3]: the client address (the member of 'd');\n"
"-- then per counter, from ARGV[4i]: kind and three numbers.\n"
"--   g (GCRA, a string: the TAT in us, negative once refused): emission\n"
"--     interval (us), tolerance = the period (us), TTL (ms);\n"
"--   d (distinct members, a sorted set scored by last sight in ms; '!' at\n"
"--     +inf once refused): max, the oldest score that counts, TTL (ms).\n"
"-- A redis.call costs far more than Lua: 8 in the common case.\n"
"local now = tonumber(ARGV[1])\n"
"local over, first = 0, 0\n"
"local out, gk, mark, tat, fresh = {0, 0}, {}, {}, {}, {}\n"
"for i = 1, #KEYS do\n"
"  if ARGV[i * 4] == 'g' then gk[#gk + 1] = KEYS[i] end\n"
"end\n"
"local v = {}\n"
"if #gk > 0 then v = redis.call('MGET', unpack(gk)) end\n"
"local j = 0\n"
"for i = 1, #KEYS do\n"
"  local b = i * 4\n"
"  if ARGV[b] == 'g' then\n"
"    j = j + 1\n"
"    local e, tau = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])\n"
"    local t = tonumber(v[j]) or now\n"
"    if t < 0 then t = -t; mark[i] = true end\n"
"    if t < now then t = now end\n"
"    if t + e - now > tau + 10 then\n"
"      out[i + 2] = math.ceil((t - now - 10) / e)\n"
"      tat[i] = t\n"
"      if over == 0 then over = i end\n"
"    else\n"
"      tat[i] = t + e\n"
"      out[i + 2] = math.ceil((t + e - now - 10) / e)\n"
"    end\n"
"  else\n"
"    local k = KEYS[i]\n"
"    local card = redis.call('ZCOUNT', k, ARGV[b + 2], '(inf')\n"
"    local sc = redis.call('ZMSCORE', k, ARGV[3], '!')\n"
"    if sc[2] then mark[i] = true end\n"
"    fresh[i] = not sc[1] or tonumber(sc[1]) < tonumber(ARGV[b + 2])\n"
"    out[i + 2] = card\n"
"    if fresh[i] and card >= tonumber(ARGV[b + 1]) and over == 0 then\n"
"      over = i\n"
"    end\n"
"  end\n"
"end\n"
"if over > 0 then\n"
"  if ARGV[over * 4] == 'g' then\n"
"    if not mark[over] then\n"
"      first = 1\n"
"      redis.call('SET', KEYS[over], string.format('%d', -tat[over] - 0.5),\n"
"        'KEEPTTL')\n"
"    end\n"
"  else\n"
"    first = redis.call('ZADD', KEYS[over], 'NX', 'inf', '!')\n"
"  end\n"
"else\n"
"  for i = 1, #KEYS do\n"
"    local b = i * 4\n"
"    local k = KEYS[i]\n"
"    if ARGV[b] == 'g' then\n"
"      redis.call('SET', k, string.format('%d', tat[i] + 0.5), 'PX',\n"
"        ARGV[b + 3])\n"
"    else\n"
"      redis.call('ZADD', k, ARGV[2], ARGV[3])\n"
"      if fresh[i] then\n"
"        out[i + 2] = out[i + 2] + 1\n"
"        redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. ARGV[b + 2])\n"
"      end\n"
"      if mark[i] then redis.call('ZREM', k, '!') end\n"
"      redis.call('PEXPIRE', k, ARGV[b + 3])\n"
"    end\n"
"  end\n"
"end\n"
"out[1], out[2] = over, first\n"
"return out\n";

/* One limit a recipient touches. */
struct spec {
	int	 kind;			/* 'g' or 'd' */
	const char *name;		/* limit_... */
	const char *key;		/* "login:..." or "client:..." */
	char	 rkey[RKEY_MAX];	/* the store's key */
	unsigned long max, period_s;
	const char *member;		/* 'd': the client address */
	long long count;
};

/* Memory store: the same counters in a hash table. */
struct mem_member {
	char	 addr[48];
	uint64_t seen;
};

struct mem_entry {
	struct mem_entry *next;
	uint64_t expire;		/* ms; gone from then on */
	double	 tat;			/* 'g' */
	int	 over;			/* refused since it last accepted */
	int	 kind;
	struct mem_member *m;		/* 'd' */
	size_t	 n, cap;
	char	 name[];
};

struct mem_store {
	pthread_mutex_t lock;
	struct mem_entry *b[MEM_BUCKETS];
	size_t	 sweep;
};

struct ratelimit {
	struct rl_redis *redis;		/* NULL: the memory store only */
	struct mem_store mem;		/* the store, or the local fallback */
	char	*store_name;
	rl_clock_fn clock;
	void	*clock_ctx;
	pthread_mutex_t lock;		/* of up and next_try */
	int	 up;
	uint64_t next_try;
	char	 down_why[200];
};

static uint64_t
real_clock(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Memory store. */

static unsigned
mem_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % MEM_BUCKETS;
}

static void
mem_entry_free(struct mem_entry *e)
{
	free(e->m);
	free(e);
}

/* Drops the expired entries of one bucket; under the lock. */
static void
mem_sweep_bucket(struct mem_store *ms, size_t i, uint64_t now)
{
	struct mem_entry **pp = &ms->b[i], *e;

	while ((e = *pp) != NULL) {
		if (e->expire <= now) {
			*pp = e->next;
			mem_entry_free(e);
		} else
			pp = &e->next;
	}
}

static struct mem_entry *
mem_find(struct mem_store *ms, const char *name, uint64_t now)
{
	struct mem_entry *e;
	unsigned h = mem_hash(name);

	mem_sweep_bucket(ms, h, now);
	for (e = ms->b[h]; e; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static struct mem_entry *
mem_add(struct mem_store *ms, const char *name, int kind)
{
	struct mem_entry *e;
	size_t	len = strlen(name);
	unsigned h = mem_hash(name);

	if ((e = calloc(1, sizeof(*e) + len + 1)) == NULL)
		return NULL;
	memcpy(e->name, name, len + 1);
	e->kind = kind;
	e->next = ms->b[h];
	ms->b[h] = e;
	return e;
}

/* Members of a 'd' entry seen after now - period; drops the others. */
static void
mem_prune(struct mem_entry *e, uint64_t now, uint64_t period)
{
	size_t	i, j;

	for (i = j = 0; i < e->n; i++)
		if (e->m[i].seen + period > now)
			e->m[j++] = e->m[i];
	e->n = j;
}

static double
gcra_e(const struct spec *s)
{
	return (double)s->period_s * 1000.0 / (double)s->max;
}

/*
 * The script, in memory: returns the 1-based index of the limit over (0:
 * none), sets *first, fills counts. -1: out of memory.
 */
static int
mem_decide(struct mem_store *ms, struct spec *sp, size_t n, uint64_t now,
    int *first)
{
	struct mem_entry *e[NSPEC];
	struct mem_member *m;
	double	nxt[NSPEC], tat, ev, period;
	size_t	i, j, cap;
	int	over = 0, rc = 0;

	*first = 0;
	pthread_mutex_lock(&ms->lock);
	for (i = 0; i < 4; i++) {
		mem_sweep_bucket(ms, ms->sweep, now);
		ms->sweep = (ms->sweep + 1) % MEM_BUCKETS;
	}
	for (i = 0; i < n; i++) {
		e[i] = mem_find(ms, sp[i].rkey, now);
		period = (double)sp[i].period_s * 1000.0;
		if (sp[i].kind == 'g') {
			ev = gcra_e(&sp[i]);
			tat = e[i] ? e[i]->tat : (double)now;
			if (tat < (double)now)
				tat = (double)now;
			if (tat + ev - (double)now > period + 0.01) {
				sp[i].count = (long long)ceil((tat - (double)now
				    - 0.01) / ev);
				if (over == 0)
					over = (int)i + 1;
			} else {
				nxt[i] = tat + ev;
				sp[i].count = (long long)ceil((nxt[i]
				    - (double)now - 0.01) / ev);
			}
		} else {
			if (e[i])
				mem_prune(e[i], now, sp[i].period_s * 1000);
			sp[i].count = e[i] ? (long long)e[i]->n : 0;
			for (j = 0; e[i] && j < e[i]->n; j++)
				if (strcmp(e[i]->m[j].addr, sp[i].member) == 0)
					break;
			if (e[i] && j < e[i]->n)
				;
			else if ((unsigned long)sp[i].count >= sp[i].max) {
				if (over == 0)
					over = (int)i + 1;
			} else
				sp[i].count++;
		}
	}
	if (over) {
		/* an entry that refuses exists: its TAT or members are ahead */
		if (e[over - 1] && !e[over - 1]->over) {
			e[over - 1]->over = 1;
			*first = 1;
		}
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (e[i] == NULL && (e[i] = mem_add(ms, sp[i].rkey,
		    sp[i].kind)) == NULL) {
			rc = -1;
			goto out;
		}
		e[i]->over = 0;
		if (sp[i].kind == 'g') {
			e[i]->tat = nxt[i];
			e[i]->expire = (uint64_t)ceil(nxt[i]) + 1;
			continue;
		}
		e[i]->expire = now + sp[i].period_s * 1000;
		for (j = 0; j < e[i]->n; j++)
			if (strcmp(e[i]->m[j].addr, sp[i].member) == 0)
				break;
		if (j == e[i]->n) {
			if (e[i]->n == e[i]->cap) {
				cap = e[i]->cap ? e[i]->cap * 2 : 4;
				if ((m = realloc(e[i]->m, cap * sizeof(*m)))
				    == NULL) {
					rc = -1;
					goto out;
				}
				e[i]->m = m;
				e[i]->cap = cap;
			}
			snprintf(e[i]->m[j].addr, sizeof(e[i]->m[j].addr), "%s",
			    sp[i].member);
			e[i]->n++;
		}
		e[i]->m[j].seen = now;
	}
out:
	pthread_mutex_unlock(&ms->lock);
	return rc < 0 ? -1 : over;
}

static void
mem_free(struct mem_store *ms)
{
	struct mem_entry *e;
	size_t	i;

	for (i = 0; i < MEM_BUCKETS; i++) {
		while ((e = ms->b[i]) != NULL) {
			ms->b[i] = e->next;
			mem_entry_free(e);
		}
	}
	pthread_mutex_destroy(&ms->lock);
}

/* The engine. */

struct ratelimit *
ratelimit_create(const struct sg_config *cfg, char *err, size_t errlen)
{
	struct ratelimit *rl;
	struct sigaction sa;

	if ((rl = calloc(1, sizeof(*rl))) == NULL
	    || (rl->store_name = strdup(cfg->limit_store)) == NULL) {
		free(rl);
		errf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&rl->lock, NULL);
	pthread_mutex_init(&rl->mem.lock, NULL);
	rl->clock = real_clock;
	rl->up = 1;
	if (strcmp(cfg->limit_store, "memory") != 0) {
		rl->redis = rl_redis_create(cfg->limit_store,
		    cfg->limit_store_password, cfg->limit_store_timeout, err,
		    errlen);
		if (rl->redis == NULL) {
			ratelimit_free(rl);
			return NULL;
		}
		/* hiredis writes with write(2): a closed peer must not kill us */
		if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
			signal(SIGPIPE, SIG_IGN);
	}
	return rl;
}

void
ratelimit_set_clock(struct ratelimit *rl, rl_clock_fn fn, void *ctx)
{
	rl->clock = fn ? fn : real_clock;
	rl->clock_ctx = ctx;
}

const char *
ratelimit_store_name(const struct ratelimit *rl)
{
	return rl->store_name;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	rl_redis_free(rl->redis);
	mem_free(&rl->mem);
	pthread_mutex_destroy(&rl->lock);
	free(rl->store_name);
	free(rl);
}

int
ratelimit_enabled(const struct sg_config *cfg)
{
	return cfg->limit_login_recipients.max || cfg->limit_login_messages.max
	    || cfg->limit_client_recipients.max || cfg->limit_login_clients.max;
}

/* "login:" and the login in lower case, cut at RL_LOGIN_MAX. */
static void
login_key(const char *login, char *buf, size_t len)
{
	size_t	i, n = strlen(login);

	if (n > RL_LOGIN_MAX)
		n = RL_LOGIN_MAX;
	snprintf(buf, len, "login:%.*s", (int)n, login);
	for (i = 6; buf[i]; i++)
		buf[i] = (char)tolower((unsigned char)buf[i]);
}

static void
spec_add(struct spec *sp, size_t *n, int kind, const char *name,
    const char *key, const struct sg_rate *rate, const char *suffix,
    const char *member)
{
	struct spec *s = &sp[(*n)++];

	s->kind = kind;
	s->name = name;
	s->key = key;
	snprintf(s->rkey, sizeof(s->rkey), RKEY_PREFIX "%s:%s", key, suffix);
	s->max = rate->max;
	s->period_s = rate->period_s;
	s->member = member;
	s->count = 0;
}

/* Which limit of the store key name is it, and for which key. */
static const char *
rkey_parse(const char *rkey, char *key, size_t keylen, const char **suffix)
{
	static const struct {
		const char *prefix, *suffix, *name;
	} map[] = {
		{ "login:", "rcpt", "limit_login_recipients" },
		{ "login:", "msg", "limit_login_messages" },
		{ "login:", "clients", "limit_login_clients" },
		{ "client:", "rcpt", "limit_client_recipients" },
	};
	const size_t pl = sizeof(RKEY_PREFIX) - 1;
	size_t	i, len = strlen(rkey), sl, kl;

	if (strncmp(rkey, RKEY_PREFIX, pl) != 0)
		return NULL;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		sl = strlen(map[i].suffix);
		kl = strlen(map[i].prefix);
		if (len < pl + kl + 1 + 1 + sl
		    || strncmp(rkey + pl, map[i].prefix, kl) != 0
		    || strcmp(rkey + len - sl, map[i].suffix) != 0
		    || rkey[len - sl - 1] != ':')
			continue;
		snprintf(key, keylen, "%.*s", (int)(len - sl - 1 - pl),
		    rkey + pl);
		*suffix = map[i].suffix;
		return map[i].name;
	}
	return NULL;
}

static const struct sg_rate *
rate_of(const struct sg_config *cfg, const char *name)
{
	if (strcmp(name, "limit_login_recipients") == 0)
		return &cfg->limit_login_recipients;
	if (strcmp(name, "limit_login_messages") == 0)
		return &cfg->limit_login_messages;
	if (strcmp(name, "limit_login_clients") == 0)
		return &cfg->limit_login_clients;
	return &cfg->limit_client_recipients;
}

static void
result_limit(struct rl_result *res, const struct spec *s)
{
	res->consulted = 1;
	res->limit.name = s->name;
	snprintf(res->limit.key, sizeof(res->limit.key), "%s", s->key);
	res->limit.count = s->count < 0 ? 0 : (unsigned long)s->count;
	res->limit.max = s->max;
	res->limit.period_s = s->period_s;
}

/* Redis: one EVALSHA; 0, or -1 with the reason in err. */
static int
redis_decide(struct ratelimit *rl, struct spec *sp, size_t n, uint64_t now,
    int *over, int *first, char *err, size_t errlen)
{
	const char *keys[NSPEC], *args[3 + NSPEC * 4], *member = "";
	char	nums[2 + NSPEC * 3][32];
	long long out[2 + NSPEC];
	unsigned long long period_ms;
	size_t	i, na = 0, nn = 0;
	int	got;

	/* the script's arguments: see its text */
	snprintf(nums[nn], sizeof(nums[0]), "%llu",
	    (unsigned long long)now * 1000);
	args[na++] = nums[nn++];
	snprintf(nums[nn], sizeof(nums[0]), "%llu", (unsigned long long)now);
	args[na++] = nums[nn++];
	for (i = 0; i < n; i++)
		if (sp[i].kind == 'd')
			member = sp[i].member;
	args[na++] = member;
	for (i = 0; i < n; i++) {
		keys[i] = sp[i].rkey;
		period_ms = (unsigned long long)sp[i].period_s * 1000;
		if (sp[i].kind == 'g') {
			args[na++] = "g";
			snprintf(nums[nn], sizeof(nums[0]), "%.17g",
			    gcra_e(&sp[i]) * 1000.0);
			args[na++] = nums[nn++];
			snprintf(nums[nn], sizeof(nums[0]), "%llu",
			    period_ms * 1000);
			args[na++] = nums[nn++];
			snprintf(nums[nn], sizeof(nums[0]), "%llu",
			    period_ms + 1);
			args[na++] = nums[nn++];
		} else {
			args[na++] = "d";
			snprintf(nums[nn], sizeof(nums[0]), "%lu", sp[i].max);
			args[na++] = nums[nn++];
			/* a member seen at s counts while s + period > now */
			snprintf(nums[nn], sizeof(nums[0]), "%lld",
			    (long long)now - (long long)period_ms + 1);
			args[na++] = nums[nn++];
			snprintf(nums[nn], sizeof(nums[0]), "%llu", period_ms);
			args[na++] = nums[nn++];
		}
	}
	got = rl_redis_eval(rl->redis, SCRIPT, n, keys, na, args, out,
	    sizeof(out) / sizeof(out[0]), err, errlen);
	if (got < 0)
		return -1;
	if ((size_t)got != n + 2 || out[0] < 0 || (size_t)out[0] > n) {
		errf(err, errlen, "unexpected reply to the script");
		return -1;
	}
	*over = (int)out[0];
	*first = out[1] == 1;
	for (i = 0; i < n; i++)
		sp[i].count = out[2 + i];
	return 0;
}

void
ratelimit_check(struct ratelimit *rl, const struct sg_config *cfg,
    const char *login, const struct ipaddr *client, int new_message,
    struct rl_result *res)
{
	struct spec sp[NSPEC];
	char	lkey[RL_KEY_MAX], ckey[RL_KEY_MAX], addr[48], err[200];
	size_t	n = 0, i, best;
	uint64_t now;
	int	over = 0, first = 0, rc, try;

	memset(res, 0, sizeof(*res));
	res->verdict = RL_NONE;
	if (!ratelimit_enabled(cfg))
		return;
	if (login && *login == '\0')
		login = NULL;
	if (client && client->family == 0)
		client = NULL;
	if ((login && cfg->limit_exempt_logins
	    && strset_has(cfg->limit_exempt_logins, login, strlen(login)))
	    || (client && cfg->limit_exempt_nets
	    && cidrset_match(cfg->limit_exempt_nets, client))) {
		res->exempt = 1;
		return;
	}
	if (client) {
		ipaddr_format(client, addr, sizeof(addr));
		snprintf(ckey, sizeof(ckey), "client:%s", addr);
	}
	if (login) {
		login_key(login, lkey, sizeof(lkey));
		if (cfg->limit_login_recipients.max)
			spec_add(sp, &n, 'g', "limit_login_recipients", lkey,
			    &cfg->limit_login_recipients, "rcpt", NULL);
		if (cfg->limit_login_messages.max && new_message)
			spec_add(sp, &n, 'g', "limit_login_messages", lkey,
			    &cfg->limit_login_messages, "msg", NULL);
		if (cfg->limit_login_clients.max && client)
			spec_add(sp, &n, 'd', "limit_login_clients", lkey,
			    &cfg->limit_login_clients, "clients", addr);
	}
	if (client && cfg->limit_client_recipients.max)
		spec_add(sp, &n, 'g', "limit_client_recipients", ckey,
		    &cfg->limit_client_recipients, "rcpt", NULL);
	if (n == 0)
		return;

	now = rl->clock(rl->clock_ctx);
	rc = -1;
	if (rl->redis) {
		pthread_mutex_lock(&rl->lock);
		try = rl->up || now >= rl->next_try;
		if (!rl->up && try)
			rl->next_try = now + RETRY_MS;	/* one probe a second */
		pthread_mutex_unlock(&rl->lock);
		if (try)
			rc = redis_decide(rl, sp, n, now, &over, &first, err,
			    sizeof(err));
		else
			snprintf(err, sizeof(err), "store down");
		pthread_mutex_lock(&rl->lock);
		if (rc < 0 && try && rl->up) {
			rl->up = 0;
			rl->next_try = now + RETRY_MS;
			snprintf(rl->down_why, sizeof(rl->down_why), "%s", err);
			res->store_change = RL_STORE_DOWN;
		} else if (rc == 0 && !rl->up) {
			rl->up = 1;
			res->store_change = RL_STORE_UP;
		}
		if (rc < 0)
			snprintf(res->store_error, sizeof(res->store_error), "%s",
			    try ? err : rl->down_why);
		pthread_mutex_unlock(&rl->lock);
		if (rc < 0 && cfg->limit_store_down != LIMIT_DOWN_LOCAL) {
			res->verdict = RL_UNAVAILABLE;
			return;
		}
		res->local = rc < 0;
	}
	if (rc < 0) {
		for (i = 0; i < n; i++)
			sp[i].count = 0;
		if ((over = mem_decide(&rl->mem, sp, n, now, &first)) < 0) {
			/* no memory for a counter: cannot decide */
			snprintf(res->store_error, sizeof(res->store_error),
			    "out of memory");
			res->verdict = RL_UNAVAILABLE;
			return;
		}
	}
	if (over) {
		res->verdict = RL_OVER;
		res->first_over = first;
		result_limit(res, &sp[over - 1]);
		return;
	}
	res->verdict = RL_ALLOW;
	/* the nearest its maximum: count/max largest */
	for (best = 0, i = 1; i < n; i++)
		if ((double)sp[i].count / (double)sp[i].max
		    > (double)sp[best].count / (double)sp[best].max)
			best = i;
	result_limit(res, &sp[best]);
}

/* "login:alice over limit_login_recipients (100 per 3600 s)" */
void
ratelimit_reason(const struct rl_result *res, char *buf, size_t len)
{
	char	key[RL_KEY_MAX], *p;

	if (len == 0)
		return;
	switch (res->verdict) {
	case RL_UNAVAILABLE:
		snprintf(buf, len, "rate-limit store unavailable");
		return;
	case RL_NONE:
		snprintf(buf, len, res->exempt ? "exempt from rate limits"
		    : "no rate limit applies");
		return;
	default:
		break;
	}
	snprintf(key, sizeof(key), "%.64s", res->limit.key);
	for (p = key; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	snprintf(buf, len, "%s %s %s (%lu of %lu per %lu s)", key,
	    res->verdict == RL_OVER ? "over" : "within", res->limit.name,
	    res->limit.count, res->limit.max, res->limit.period_s);
}

/* The window's count of one counter, as the script would see it. */
static unsigned long
count_g(double tat, uint64_t now, const struct sg_rate *rate)
{
	double	ev = (double)rate->period_s * 1000.0 / (double)rate->max, c;

	if (tat <= (double)now)
		return 0;
	c = ceil((tat - (double)now - 0.01) / ev);
	return c < 0 ? 0 : (unsigned long)c;
}

struct lister {
	const struct sg_config *cfg;
	unsigned percent;
	rl_list_fn fn;
	void	*ctx;
};

static void
list_one(struct lister *ls, const char *name, const char *key,
    unsigned long count)
{
	const struct sg_rate *rate = rate_of(ls->cfg, name);
	struct rl_limit l;

	if (rate->max == 0 || (double)count * 100 < (double)ls->percent
	    * (double)rate->max)
		return;
	l.name = name;
	snprintf(l.key, sizeof(l.key), "%s", key);
	l.count = count;
	l.max = rate->max;
	l.period_s = rate->period_s;
	ls->fn(ls->ctx, &l);
}

static int
mem_list(struct ratelimit *rl, struct lister *ls, uint64_t now)
{
	struct mem_entry *e;
	const char *name, *suffix;
	char	key[RL_KEY_MAX];
	size_t	i;
	unsigned long count;

	pthread_mutex_lock(&rl->mem.lock);
	for (i = 0; i < MEM_BUCKETS; i++) {
		mem_sweep_bucket(&rl->mem, i, now);
		for (e = rl->mem.b[i]; e; e = e->next) {
			if ((name = rkey_parse(e->name, key, sizeof(key),
			    &suffix)) == NULL)
				continue;
			if (e->kind == 'g')
				count = count_g(e->tat, now, rate_of(ls->cfg, name));
			else {
				mem_prune(e, now,
				    rate_of(ls->cfg, name)->period_s * 1000);
				count = e->n;
			}
			list_one(ls, name, key, count);
		}
	}
	pthread_mutex_unlock(&rl->mem.lock);
	return 0;
}

static int
redis_list(struct ratelimit *rl, struct lister *ls, uint64_t now, char *err,
    size_t errlen)
{
	redisReply *scan, *r;
	const char *argv[6], *name, *suffix;
	char	cursor[32] = "0", key[RL_KEY_MAX], min[32];
	const struct sg_rate *rate;
	unsigned long count;
	size_t	i;

	/*
	 * SCAN names no key, so a Cluster node never redirects it: ask for
	 * a key of the slot first, and a node that does not serve it
	 * answers MOVED, which the store follows.
	 */
	argv[0] = "EXISTS";
	argv[1] = RKEY_PREFIX;
	if ((r = rl_redis_command(rl->redis, 2, argv, NULL, err, errlen))
	    == NULL)
		return -1;
	rl_redis_reply_free(r);
	do {
		argv[0] = "SCAN";
		argv[1] = cursor;
		argv[2] = "MATCH";
		argv[3] = RKEY_PREFIX "*";
		argv[4] = "COUNT";
		argv[5] = "1000";
		if ((scan = rl_redis_command(rl->redis, 6, argv, NULL, err,
		    errlen)) == NULL)
			return -1;
		if (scan->type != REDIS_REPLY_ARRAY || scan->elements != 2
		    || scan->element[0]->type != REDIS_REPLY_STRING
		    || scan->element[1]->type != REDIS_REPLY_ARRAY) {
			errf(err, errlen, "unexpected reply to SCAN");
			rl_redis_reply_free(scan);
			return -1;
		}
		snprintf(cursor, sizeof(cursor), "%s", scan->element[0]->str);
		for (i = 0; i < scan->element[1]->elements; i++) {
			r = scan->element[1]->element[i];
			if (r->type != REDIS_REPLY_STRING || strlen(r->str)
			    != r->len || (name = rkey_parse(r->str, key,
			    sizeof(key), &suffix)) == NULL)
				continue;
			rate = rate_of(ls->cfg, name);
			if (rate->max == 0)
				continue;
			if (strcmp(suffix, "clients") == 0) {
				snprintf(min, sizeof(min), "(%llu",
				    (unsigned long long)(now
				    - rate->period_s * 1000));
				argv[0] = "ZCOUNT";
				argv[2] = min;
				argv[3] = "(+inf";
			} else {
				argv[0] = "GET";
			}
			argv[1] = r->str;
			if ((r = rl_redis_command(rl->redis, argv[0][0] == 'Z'
			    ? 4 : 2, argv, NULL, err, errlen)) == NULL) {
				rl_redis_reply_free(scan);
				return -1;
			}
			if (r->type == REDIS_REPLY_INTEGER)
				count = r->integer < 0 ? 0
				    : (unsigned long)r->integer;
			else if (r->type == REDIS_REPLY_STRING)
				/* us; negative once refused */
				count = count_g(fabs(strtod(r->str, NULL))
				    / 1000.0, now, rate);
			else
				count = 0;
			rl_redis_reply_free(r);
			list_one(ls, name, key, count);
		}
		rl_redis_reply_free(scan);
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

int
ratelimit_list(struct ratelimit *rl, const struct sg_config *cfg,
    unsigned percent, rl_list_fn fn, void *ctx, char *err, size_t errlen)
{
	struct lister ls = { cfg, percent, fn, ctx };
	uint64_t now = rl->clock(rl->clock_ctx);

	if (rl->redis)
		return redis_list(rl, &ls, now, err, errlen);
	return mem_list(rl, &ls, now);
}

int
ratelimit_reset(struct ratelimit *rl, const char *key, char *err,
    size_t errlen)
{
	static const char *const lsuffix[] = { "rcpt", "msg", "clients" };
	static const char *const csuffix[] = { "rcpt" };
	const char *const *suffix;
	const char *argv[4];
	char	norm[RL_KEY_MAX], rkeys[3][RKEY_MAX], addr[48];
	struct ipaddr a;
	struct mem_entry **pp, *e;
	redisReply *r;
	size_t	i, ns;
	int	n = 0;

	if (strncmp(key, "login:", 6) == 0 && key[6] != '\0'
	    && strlen(key + 6) <= RL_LOGIN_MAX) {
		login_key(key + 6, norm, sizeof(norm));
		suffix = lsuffix;
		ns = 3;
	} else if (strncmp(key, "client:", 7) == 0
	    && ipaddr_parse(key + 7, &a) == 0) {
		ipaddr_format(&a, addr, sizeof(addr));
		snprintf(norm, sizeof(norm), "client:%s", addr);
		suffix = csuffix;
		ns = 1;
	} else {
		errf(err, errlen, "'%.80s': expected login:NAME or client:ADDRESS",
		    key);
		return -1;
	}
	for (i = 0; i < ns; i++)
		snprintf(rkeys[i], sizeof(rkeys[i]), RKEY_PREFIX "%s:%s", norm,
		    suffix[i]);
	if (rl->redis) {
		argv[0] = "DEL";
		for (i = 0; i < ns; i++)
			argv[1 + i] = rkeys[i];
		if ((r = rl_redis_command(rl->redis, (int)ns + 1, argv, NULL,
		    err, errlen)) == NULL)
			return -1;
		n = r->type == REDIS_REPLY_INTEGER ? (int)r->integer : 0;
		rl_redis_reply_free(r);
		return n;
	}
	pthread_mutex_lock(&rl->mem.lock);
	for (i = 0; i < ns; i++) {
		for (pp = &rl->mem.b[mem_hash(rkeys[i])]; (e = *pp) != NULL; ) {
			if (strcmp(e->name, rkeys[i]) == 0) {
				*pp = e->next;
				mem_entry_free(e);
				n++;
			} else
				pp = &e->next;
		}
	}
	pthread_mutex_unlock(&rl->mem.lock);
	return n;
}
