/*
 * Unit and integration tests of src/ratelimit.c: the rate-limit keys of
 * the configuration; the memory store's limits and windows on an injected
 * clock; the Redis store against a real redis-server that each test
 * starts on a unix socket in a temporary directory (port 0) and stops by
 * its pid: the same results as memory, two engines sharing one limit,
 * Redis killed (down reported once; tempfail or local), stopped with
 * SIGSTOP (every call returns), restarted (NOSCRIPT), requirepass, TTLs,
 * list and reset.
 *
 * The Redis cases skip with a message when no redis-server is found
 * (REDIS_SERVER, else PATH, /usr/bin, /usr/sbin); CI installs it.
 */
#include <check.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "config.h"
#include "ratelimit.h"
#include "util/cidrset.h"
#include "util/ipaddr.h"
#include "util/strbuf.h"
#include "util/strset.h"

static char err[1024];
static char tmpdir[256];	/* made by the unchecked fixture */

/* The injected clock. */
static uint64_t fake_now;

static uint64_t
fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static uint64_t
real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct sg_config *
load(const char *text)
{
	struct sg_config *cfg;

	err[0] = '\0';
	cfg = config_load_string("t.conf", text, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "refused: %s\n--\n%s", err, text);
	return cfg;
}

static void
load_bad(const char *text, const char *word)
{
	struct sg_config *cfg;

	cfg = config_load_string("t.conf", text, err, sizeof(err));
	ck_assert_msg(cfg == NULL, "accepted: %s", text);
	ck_assert_msg(strstr(err, word) != NULL, "'%s' lacks '%s'", err, word);
}

static struct ratelimit *
engine(const struct sg_config *cfg)
{
	struct ratelimit *rl = ratelimit_create(cfg, err, sizeof(err));

	ck_assert_msg(rl != NULL, "ratelimit_create: %s", err);
	ratelimit_set_clock(rl, fake_clock, NULL);
	return rl;
}

static struct ipaddr
ip(const char *s)
{
	struct ipaddr a;

	ck_assert_int_eq(ipaddr_parse(s, &a), 0);
	return a;
}

static struct rl_result
check(struct ratelimit *rl, const struct sg_config *cfg, const char *login,
    const char *client, int newmsg)
{
	struct rl_result res;
	struct ipaddr a;

	if (client)
		a = ip(client);
	ratelimit_check(rl, cfg, login, client ? &a : NULL, newmsg, &res);
	return res;
}

/* The configuration keys. */

START_TEST(t_config_keys)
{
	struct sg_config *cfg;
	struct ipaddr a;
	char	path[300], text[400];
	int	fd;

	cfg = load("");
	ck_assert_int_eq(ratelimit_enabled(cfg), 0);
	ck_assert_str_eq(cfg->limit_store, "memory");
	ck_assert_uint_eq(cfg->limit_store_timeout, 100);
	ck_assert_int_eq(cfg->limit_store_down, LIMIT_DOWN_TEMPFAIL);
	ck_assert_int_eq(cfg->limit_action, LIMIT_ACTION_TEMPFAIL);
	ck_assert_str_eq(cfg->limit_reply.code, "450");
	ck_assert_str_eq(cfg->limit_reply.xcode, "4.7.1");
	ck_assert_str_eq(cfg->limit_reply.text, "Rate limit exceeded: %r");
	config_free(cfg);

	cfg = load("limit_login_recipients = 100/1h\n"
	    "limit_login_messages = 20/10m\n"
	    "limit_client_recipients = 5/s\n"
	    "limit_login_clients = 3/2d\n"
	    "limit_exempt = Alice, 192.0.2.0/24 2001:db8::/32, 198.51.100.7\n"
	    "limit_store = redis:inet:127.0.0.1:6379\n"
	    "limit_store_timeout = 250\n"
	    "limit_store_down = local\n"
	    "limit_action = hold\n"
	    "limit_reply = 421 4.7.0 Too fast: %r\n");
	ck_assert_int_eq(ratelimit_enabled(cfg), 1);
	ck_assert_uint_eq(cfg->limit_login_recipients.max, 100);
	ck_assert_uint_eq(cfg->limit_login_recipients.period_s, 3600);
	ck_assert_uint_eq(cfg->limit_login_messages.period_s, 600);
	ck_assert_uint_eq(cfg->limit_client_recipients.max, 5);
	ck_assert_uint_eq(cfg->limit_client_recipients.period_s, 1);
	ck_assert_uint_eq(cfg->limit_login_clients.period_s, 2 * 86400);
	ck_assert_int_eq(cfg->limit_action, LIMIT_ACTION_HOLD);
	ck_assert_int_eq(cfg->limit_store_down, LIMIT_DOWN_LOCAL);
	ck_assert_str_eq(cfg->limit_reply.code, "421");
	a = ip("192.0.2.99");
	ck_assert(cidrset_match(cfg->limit_exempt_nets, &a));
	a = ip("198.51.100.7");
	ck_assert(cidrset_match(cfg->limit_exempt_nets, &a));
	a = ip("198.51.100.8");
	ck_assert(!cidrset_match(cfg->limit_exempt_nets, &a));
	ck_assert(strset_has(cfg->limit_exempt_logins, "alice", 5));
	ck_assert(!strset_has(cfg->limit_exempt_logins, "192.0.2.0/24", 12));
	config_free(cfg);

	load_bad("limit_login_recipients = 100\n", "expected N/PERIOD");
	load_bad("limit_login_recipients = 0/1h\n", "expected N/PERIOD");
	load_bad("limit_login_recipients = 10/1w\n", "expected N/PERIOD");
	load_bad("limit_login_recipients = 10/0m\n", "expected N/PERIOD");
	load_bad("limit_login_recipients = 10/1hh\n", "expected N/PERIOD");
	load_bad("limit_login_recipients = 10/367d\n", "expected N/PERIOD");
	load_bad("limit_login_recipients = 1000001/1s\n",
	    "more than one a microsecond");
	cfg = load("limit_login_recipients = 1000000/1s\n");
	ck_assert_uint_eq(cfg->limit_login_recipients.max, 1000000);
	config_free(cfg);
	load_bad("limit_exempt = 10.0.0.1/8\n", "limit_exempt: '10.0.0.1/8'");
	load_bad("limit_store = redis\n", "expected memory, redis:unix");
	load_bad("limit_store = redis:unix:relative\n", "redis:unix:/absolute");
	load_bad("limit_store = redis:inet:localhost\n", "redis:inet:HOST:PORT");
	load_bad("limit_store = redis:inet:localhost:0\n", "redis:inet:HOST:PORT");
	load_bad("limit_store_timeout = 0\n", "milliseconds from 1 to 60000");
	load_bad("limit_store_down = ignore\n", "tempfail or local");
	load_bad("limit_action = reject\n", "tempfail, hold or monitor");
	load_bad("limit_reply = 550 5.7.1 no\n", "must start with a 4xx");
	load_bad("limit_reply = 450 5.7.1 mixed\n", "expected 4.X.Y");
	load_bad("relay_reply = 450 4.7.1 no\n", "must start with a 5xx");

	/* the password file: first line; refused when others may read it */
	snprintf(path, sizeof(path), "%s/pw", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "s3cret\nrest\n", 12), 12);
	close(fd);
	snprintf(text, sizeof(text), "limit_store_password_file = %s\n", path);
	cfg = load(text);
	ck_assert_str_eq(cfg->limit_store_password, "s3cret");
	config_free(cfg);
	chmod(path, 0644);
	load_bad(text, "readable or writable by others");
}
END_TEST

START_TEST(t_config_print_round_trip)
{
	struct sg_config *cfg;
	struct strbuf sb;

	cfg = load("limit_login_recipients = 100/60m\n"
	    "limit_login_clients = 4/90s\n"
	    "limit_client_recipients = 7/86400s\n");
	strbuf_init(&sb);
	config_show_key(cfg, "limit_login_recipients", &sb);
	strbuf_puts(&sb, " ");
	config_show_key(cfg, "limit_login_clients", &sb);
	strbuf_puts(&sb, " ");
	config_show_key(cfg, "limit_client_recipients", &sb);
	strbuf_puts(&sb, " [");
	config_show_key(cfg, "limit_login_messages", &sb);
	strbuf_puts(&sb, "]");
	ck_assert_str_eq(strbuf_str(&sb), "100/1h 4/90s 7/1d []");
	strbuf_free(&sb);
	config_free(cfg);
}
END_TEST

/*
 * Scenarios, run against the memory store and against Redis with the same
 * expectations: the step's time (seconds after the start), the call, and
 * the verdict, limit and count it must give.
 */
struct step {
	unsigned at;
	const char *login, *client;
	int	 newmsg;
	enum rl_verdict v;
	const char *name;	/* the limit reported, NULL: not consulted */
	unsigned long count;
	int	 first;		/* first_over */
};

#define LOGIN_RCPT	"limit_login_recipients"
#define LOGIN_MSG	"limit_login_messages"
#define CLIENT_RCPT	"limit_client_recipients"
#define LOGIN_CLIENTS	"limit_login_clients"

/* 3/1h: a burst of 3, then one every 20 minutes; no 2x at an edge. */
static const char conf_gcra[] = "limit_login_recipients = 3/1h\n";
static const struct step steps_gcra[] = {
	{ 0, "alice", "192.0.2.1", 1, RL_ALLOW, LOGIN_RCPT, 1, 0 },
	{ 0, "Alice", "192.0.2.1", 0, RL_ALLOW, LOGIN_RCPT, 2, 0 },
	{ 1, "ALICE", "192.0.2.1", 0, RL_ALLOW, LOGIN_RCPT, 3, 0 },
	{ 2, "alice", "192.0.2.1", 0, RL_OVER, LOGIN_RCPT, 3, 1 },
	{ 3, "alice", "192.0.2.1", 0, RL_OVER, LOGIN_RCPT, 3, 0 },
	/* another login has its own counter */
	{ 3, "bob", "192.0.2.1", 1, RL_ALLOW, LOGIN_RCPT, 1, 0 },
	/* an hour boundary gives nothing: 20 minutes after the first */
	{ 1199, "alice", "192.0.2.1", 0, RL_OVER, LOGIN_RCPT, 3, 0 },
	{ 1200, "alice", "192.0.2.1", 0, RL_ALLOW, LOGIN_RCPT, 3, 0 },
	{ 1201, "alice", "192.0.2.1", 0, RL_OVER, LOGIN_RCPT, 3, 1 },
	/* a full period later the window is empty */
	{ 1201 + 3600, "alice", "192.0.2.1", 0, RL_ALLOW, LOGIN_RCPT, 1, 0 },
	/* no login: nothing applies */
	{ 5000, NULL, "192.0.2.1", 1, RL_NONE, NULL, 0, 0 },
};

/* messages count only the first accepted relay recipient of a message */
static const char conf_msgs[] = "limit_login_messages = 2/10m\n";
static const struct step steps_msgs[] = {
	{ 0, "alice", "192.0.2.1", 1, RL_ALLOW, LOGIN_MSG, 1, 0 },
	{ 0, "alice", "192.0.2.1", 0, RL_NONE, NULL, 0, 0 },
	{ 0, "alice", "192.0.2.1", 0, RL_NONE, NULL, 0, 0 },
	{ 1, "alice", "192.0.2.1", 1, RL_ALLOW, LOGIN_MSG, 2, 0 },
	{ 2, "alice", "192.0.2.1", 1, RL_OVER, LOGIN_MSG, 2, 1 },
	{ 300, "alice", "192.0.2.1", 1, RL_ALLOW, LOGIN_MSG, 2, 0 },
};

/* distinct clients: a sliding window of addresses last seen */
static const char conf_clients[] = "limit_login_clients = 2/1h\n";
static const struct step steps_clients[] = {
	{ 0, "alice", "192.0.2.1", 1, RL_ALLOW, LOGIN_CLIENTS, 1, 0 },
	{ 10, "alice", "2001:db8::7", 1, RL_ALLOW, LOGIN_CLIENTS, 2, 0 },
	{ 20, "alice", "192.0.2.1", 0, RL_ALLOW, LOGIN_CLIENTS, 2, 0 },
	{ 30, "alice", "192.0.2.3", 1, RL_OVER, LOGIN_CLIENTS, 2, 1 },
	{ 31, "alice", "192.0.2.4", 1, RL_OVER, LOGIN_CLIENTS, 2, 0 },
	/* known addresses still pass while the new ones are refused */
	{ 40, "alice", "2001:db8::7", 0, RL_ALLOW, LOGIN_CLIENTS, 2, 0 },
	{ 41, "bob", "192.0.2.3", 1, RL_ALLOW, LOGIN_CLIENTS, 1, 0 },
	/* 192.0.2.1 was last seen at 20 s: gone at 3620 s, not before */
	{ 3619, "alice", "192.0.2.3", 1, RL_OVER, LOGIN_CLIENTS, 2, 1 },
	{ 3620, "alice", "192.0.2.3", 1, RL_ALLOW, LOGIN_CLIENTS, 2, 0 },
};

/*
 * Every limit at once: a refused recipient counts in none of them, and
 * the limit reported is the one refused, else the nearest its maximum.
 */
static const char conf_all[] =
    "limit_login_recipients = 10/1h\n"
    "limit_login_messages = 5/1h\n"
    "limit_client_recipients = 2/1h\n"
    "limit_login_clients = 5/1h\n"
    "limit_exempt = carol, 198.51.100.0/24\n";
static const struct step steps_all[] = {
	{ 0, "alice", "192.0.2.1", 1, RL_ALLOW, CLIENT_RCPT, 1, 0 },
	{ 0, "alice", "192.0.2.1", 0, RL_ALLOW, CLIENT_RCPT, 2, 0 },
	{ 0, "alice", "192.0.2.1", 0, RL_OVER, CLIENT_RCPT, 2, 1 },
	/* the refusals did not count for alice: 3 of 10 from elsewhere */
	{ 0, "alice", "192.0.2.2", 0, RL_ALLOW, CLIENT_RCPT, 1, 0 },
	{ 0, "alice", "192.0.2.3", 0, RL_ALLOW, LOGIN_CLIENTS, 3, 0 },
	{ 0, "alice", "192.0.2.4", 1, RL_ALLOW, LOGIN_CLIENTS, 4, 0 },
	/* trusted clients without a login: only the client limit */
	{ 0, NULL, "192.0.2.9", 0, RL_ALLOW, CLIENT_RCPT, 1, 0 },
	/* exempt: a login in any case, a network */
	{ 0, "Carol", "192.0.2.1", 1, RL_NONE, NULL, 0, 0 },
	{ 0, "alice", "198.51.100.20", 1, RL_NONE, NULL, 0, 0 },
	{ 0, NULL, "198.51.100.20", 1, RL_NONE, NULL, 0, 0 },
};

static void
run_steps(struct ratelimit *rl, const struct sg_config *cfg,
    const struct step *st, size_t n, uint64_t start)
{
	struct rl_result res;
	size_t	i;

	for (i = 0; i < n; i++) {
		fake_now = start + (uint64_t)st[i].at * 1000;
		res = check(rl, cfg, st[i].login, st[i].client, st[i].newmsg);
		ck_assert_msg(res.verdict == st[i].v, "step %zu: verdict %d, "
		    "wanted %d (%s)", i, res.verdict, st[i].v, res.store_error);
		ck_assert_int_eq(res.store_change, RL_STORE_SAME);
		ck_assert_int_eq(res.local, 0);
		if (st[i].name == NULL) {
			ck_assert_msg(!res.consulted, "step %zu consulted %s", i,
			    res.limit.name);
			continue;
		}
		ck_assert_msg(res.consulted, "step %zu: not consulted", i);
		ck_assert_msg(strcmp(res.limit.name, st[i].name) == 0,
		    "step %zu: limit %s, wanted %s", i, res.limit.name,
		    st[i].name);
		ck_assert_msg(res.limit.count == st[i].count, "step %zu: count "
		    "%lu, wanted %lu", i, res.limit.count, st[i].count);
		ck_assert_msg(res.first_over == st[i].first, "step %zu: "
		    "first_over %d", i, res.first_over);
	}
}

struct scenario {
	const char *conf;
	const struct step *steps;
	size_t	 n;
};

#define SCEN(c, s)	{ c, s, sizeof(s) / sizeof(s[0]) }
static const struct scenario scenarios[] = {
	SCEN(conf_gcra, steps_gcra),
	SCEN(conf_msgs, steps_msgs),
	SCEN(conf_clients, steps_clients),
	SCEN(conf_all, steps_all),
};
#define NSCEN	(int)(sizeof(scenarios) / sizeof(scenarios[0]))

START_TEST(t_memory_scenario)
{
	struct sg_config *cfg = load(scenarios[_i].conf);
	struct ratelimit *rl = engine(cfg);

	run_steps(rl, cfg, scenarios[_i].steps, scenarios[_i].n, real_ms());
	ratelimit_free(rl);
	config_free(cfg);
}
END_TEST

START_TEST(t_memory_details)
{
	struct sg_config *cfg = load("limit_login_recipients = 2/1m\n"
	    "limit_reply = 450 4.7.1 Slow down: %r\n");
	struct ratelimit *rl = engine(cfg);
	struct rl_result res;
	char	reason[200], login[400];

	fake_now = real_ms();
	res = check(rl, cfg, "alice", NULL, 1);
	ck_assert_int_eq(res.verdict, RL_ALLOW);
	ck_assert_str_eq(res.limit.key, "login:alice");
	ck_assert_uint_eq(res.limit.max, 2);
	ck_assert_uint_eq(res.limit.period_s, 60);
	res = check(rl, cfg, "alice", NULL, 0);
	res = check(rl, cfg, "alice", NULL, 0);
	ck_assert_int_eq(res.verdict, RL_OVER);
	ratelimit_reason(&res, reason, sizeof(reason));
	ck_assert_str_eq(reason,
	    "login:alice over limit_login_recipients (2 of 2 per 60 s)");
	/* the reason is printable ASCII and bounded, whatever the login */
	memset(login, 'x', sizeof(login) - 1);
	login[sizeof(login) - 1] = '\0';
	login[3] = '\n';
	login[4] = (char)0xe9;
	check(rl, cfg, login, NULL, 1);
	check(rl, cfg, login, NULL, 1);
	res = check(rl, cfg, login, NULL, 1);
	ck_assert_int_eq(res.verdict, RL_OVER);
	ck_assert_uint_eq(strlen(res.limit.key), 6 + RL_LOGIN_MAX);
	ratelimit_reason(&res, reason, sizeof(reason));
	ck_assert_ptr_null(strchr(reason, '\n'));
	ck_assert_ptr_nonnull(strstr(reason, "login:xxx??xx"));
	/* disabled: nothing */
	config_free(cfg);
	cfg = load("");
	res = check(rl, cfg, "alice", "192.0.2.1", 1);
	ck_assert_int_eq(res.verdict, RL_NONE);
	ck_assert_int_eq(res.consulted, 0);
	ratelimit_free(rl);
	config_free(cfg);
}
END_TEST

struct listed {
	char	 lines[16][400];
	int	 n;
};

static void
collect(void *ctx, const struct rl_limit *l)
{
	struct listed *ls = ctx;

	if (ls->n < 16)
		snprintf(ls->lines[ls->n++], sizeof(ls->lines[0]),
		    "%s %s %lu/%lu %lus", l->key, l->name, l->count, l->max,
		    l->period_s);
}

static int
listed_has(const struct listed *ls, const char *line)
{
	int	i;

	for (i = 0; i < ls->n; i++)
		if (strcmp(ls->lines[i], line) == 0)
			return 1;
	return 0;
}

/*
 * Spends (logins from trusted or unknown clients, so the client limit
 * stays out of it): alice 10 of 10, bob 8 of 10, dave 2 of 10; and
 * 192.0.2.9 9 of 10 without a login.
 */
static void
list_reset_case(struct ratelimit *rl, const struct sg_config *cfg)
{
	struct listed ls = { .n = 0 };
	int	i;

	fake_now = real_ms();
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(check(rl, cfg, "alice", NULL, 0).verdict,
		    RL_ALLOW);
	for (i = 0; i < 8; i++)
		check(rl, cfg, "bob", NULL, 0);
	for (i = 0; i < 2; i++)
		check(rl, cfg, "dave", NULL, 0);
	for (i = 0; i < 9; i++)
		check(rl, cfg, NULL, "192.0.2.9", 0);
	ck_assert_int_eq(ratelimit_list(rl, cfg, 80, collect, &ls, err,
	    sizeof(err)), 0);
	ck_assert_msg(ls.n == 3, "%d listed: %s | %s", ls.n, ls.lines[0],
	    ls.lines[1]);
	ck_assert(listed_has(&ls, "login:alice limit_login_recipients 10/10 3600s"));
	ck_assert(listed_has(&ls, "login:bob limit_login_recipients 8/10 3600s"));
	ck_assert(listed_has(&ls, "client:192.0.2.9 limit_client_recipients 9/10 3600s"));

	ck_assert_int_eq(check(rl, cfg, "alice", NULL, 0).verdict, RL_OVER);
	ck_assert_int_eq(ratelimit_reset(rl, "login:ALICE", err, sizeof(err)), 1);
	ck_assert_int_eq(ratelimit_reset(rl, "login:alice", err, sizeof(err)), 0);
	ck_assert_int_eq(check(rl, cfg, "alice", NULL, 0).verdict, RL_ALLOW);
	ck_assert_int_eq(ratelimit_reset(rl, "client:192.0.2.9", err,
	    sizeof(err)), 1);
	ls.n = 0;
	ck_assert_int_eq(ratelimit_list(rl, cfg, 80, collect, &ls, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(ls.n, 1);
	ck_assert_int_eq(ratelimit_reset(rl, "user:alice", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "expected login:NAME or client:ADDRESS"));
	ck_assert_int_eq(ratelimit_reset(rl, "client:nonsense", err,
	    sizeof(err)), -1);
}

static const char conf_list[] =
    "limit_login_recipients = 10/1h\nlimit_client_recipients = 10/1h\n";

START_TEST(t_memory_list_reset)
{
	struct sg_config *cfg = load(conf_list);
	struct ratelimit *rl = engine(cfg);

	list_reset_case(rl, cfg);
	ratelimit_free(rl);
	config_free(cfg);
}
END_TEST

/* A real redis-server, started by the test and stopped by pid. */

static const char *
redis_binary(void)
{
	static const char *const dirs[] = { "/usr/bin", "/usr/sbin",
	    "/usr/local/bin" };
	static char buf[512];
	const char *env = getenv("REDIS_SERVER"), *path;
	char	*copy, *dir, *save;
	size_t	i;

	if (env && *env)
		return access(env, X_OK) == 0 ? env : NULL;
	if ((path = getenv("PATH")) != NULL && (copy = strdup(path)) != NULL) {
		for (dir = strtok_r(copy, ":", &save); dir;
		    dir = strtok_r(NULL, ":", &save)) {
			snprintf(buf, sizeof(buf), "%s/redis-server", dir);
			if (access(buf, X_OK) == 0) {
				free(copy);
				return buf;
			}
		}
		free(copy);
	}
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(buf, sizeof(buf), "%s/redis-server", dirs[i]);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

#define SKIP_WITHOUT_REDIS() do { \
	if (redis_binary() == NULL) { \
		fprintf(stderr, "SKIP %s: redis-server not found (Debian " \
		    "package redis-server)\n", __func__); \
		return; \
	} \
} while (0)

struct redis {
	pid_t	 pid;
	char	 sock[300];
	char	 conf[300];
};

static redisContext *
redis_connect(const struct redis *r, const char *password)
{
	struct timeval tv = { 1, 0 };
	redisContext *c = redisConnectUnixWithTimeout(r->sock, tv);
	redisReply *reply;

	if (c == NULL || c->err) {
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	if (password) {
		reply = redisCommand(c, "AUTH %s", password);
		if (reply)
			freeReplyObject(reply);
	}
	return c;
}

/* Starts redis-server on a fresh (or the same) socket; waits for PING. */
/* A redis-server of our own; extra: more configuration lines, or NULL. */
static void
redis_start_x(struct redis *r, const char *name, const char *password,
    const char *extra)
{
	struct timespec pause = { 0, 10 * 1000 * 1000 };
	redisContext *c;
	redisReply *reply;
	FILE	*fp;
	char	log[300];
	int	i, status, up = 0;

	snprintf(r->sock, sizeof(r->sock), "%s/%s.sock", tmpdir, name);
	snprintf(r->conf, sizeof(r->conf), "%s/%s.conf", tmpdir, name);
	snprintf(log, sizeof(log), "%s/%s.log", tmpdir, name);
	fp = fopen(r->conf, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "port 0\nunixsocket %s\nunixsocketperm 700\ndir %s\n"
	    "save \"\"\nappendonly no\ndaemonize no\nlogfile %s\n",
	    r->sock, tmpdir, log);
	if (password)
		fprintf(fp, "requirepass %s\n", password);
	if (extra)
		fputs(extra, fp);
	fclose(fp);
	unlink(r->sock);
	r->pid = fork();
	ck_assert_int_ge(r->pid, 0);
	if (r->pid == 0) {
		/* dies with the test, even one that fails half way */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(redis_binary(), "redis-server", r->conf, (char *)NULL);
		_exit(127);
	}
	/* wait for the socket to answer PING: up to 10 s */
	for (i = 0; i < 1000 && !up; i++) {
		ck_assert_msg(waitpid(r->pid, &status, WNOHANG) == 0,
		    "redis-server exited; see %s", log);
		if ((c = redis_connect(r, password)) != NULL) {
			reply = redisCommand(c, "PING");
			up = reply && reply->type == REDIS_REPLY_STATUS;
			if (reply)
				freeReplyObject(reply);
			redisFree(c);
		}
		if (!up)
			nanosleep(&pause, NULL);
	}
	ck_assert_msg(up, "redis-server did not answer PING on %s", r->sock);
}

static void
redis_start(struct redis *r, const char *name, const char *password)
{
	redis_start_x(r, name, password, NULL);
}

static void
redis_stop(struct redis *r)
{
	int	status;

	if (r->pid <= 0)
		return;
	kill(r->pid, SIGKILL);
	waitpid(r->pid, &status, 0);
	r->pid = 0;
}

static struct sg_config *
load_redis(const struct redis *r, const char *conf, const char *extra)
{
	char	text[2048];

	snprintf(text, sizeof(text), "%slimit_store = redis:unix:%s\n%s",
	    conf, r->sock, extra ? extra : "");
	return load(text);
}

START_TEST(t_redis_scenario)
{
	struct redis r;
	struct sg_config *cfg;
	struct ratelimit *rl;

	SKIP_WITHOUT_REDIS();
	redis_start(&r, "scen", NULL);
	cfg = load_redis(&r, scenarios[_i].conf, NULL);
	rl = engine(cfg);
	run_steps(rl, cfg, scenarios[_i].steps, scenarios[_i].n, real_ms());
	ratelimit_free(rl);
	config_free(cfg);
	redis_stop(&r);
}
END_TEST

/* Every key the script writes has a TTL. */
START_TEST(t_redis_ttl)
{
	struct redis r;
	struct sg_config *cfg;
	struct ratelimit *rl;
	redisContext *c;
	redisReply *keys, *ttl;
	size_t	i;

	SKIP_WITHOUT_REDIS();
	redis_start(&r, "ttl", NULL);
	cfg = load_redis(&r, conf_all, NULL);
	rl = engine(cfg);
	fake_now = real_ms();
	check(rl, cfg, "alice", "192.0.2.1", 1);
	check(rl, cfg, "alice", "192.0.2.1", 1);
	ck_assert_int_eq(check(rl, cfg, "alice", "192.0.2.1", 1).verdict,
	    RL_OVER);
	c = redis_connect(&r, NULL);
	ck_assert_ptr_nonnull(c);
	keys = redisCommand(c, "KEYS *");
	ck_assert_ptr_nonnull(keys);
	ck_assert_uint_eq(keys->elements, 4);
	for (i = 0; i < keys->elements; i++) {
		ttl = redisCommand(c, "PTTL %s", keys->element[i]->str);
		ck_assert_msg(ttl->integer > 0 && ttl->integer <= 3600 * 1000 + 1,
		    "%s: PTTL %lld", keys->element[i]->str, ttl->integer);
		/* one hash tag, {rl}: one Cluster slot for every key */
		ck_assert(strncmp(keys->element[i]->str, "sg:{rl}:", 8) == 0);
		freeReplyObject(ttl);
	}
	freeReplyObject(keys);
	redisFree(c);
	ratelimit_free(rl);
	config_free(cfg);
	redis_stop(&r);
}
END_TEST

/*
 * The cost of a decision (issue 13 section 4): one round trip, the
 * script loaded once, and no more than 8 commands inside it with all
 * four limits on and a client already counted (one MGET and one SET a
 * GCRA counter; ZCOUNT, ZMSCORE, ZADD and PEXPIRE for the distinct
 * clients). A redis.call costs Redis 7 some 3,000 to 10,000 instructions.
 */
static long
cmdstat_calls(const char *info, const char *name)
{
	char	pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "cmdstat_%s:calls=", name);
	p = strstr(info, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : 0;
}

START_TEST(t_redis_cost)
{
	struct redis r;
	struct sg_config *cfg;
	struct ratelimit *rl;
	redisContext *c;
	redisReply *info;
	const char *p;
	long	inner = 0;
	int	i;

	SKIP_WITHOUT_REDIS();
	redis_start(&r, "cost", NULL);
	cfg = load_redis(&r, "limit_login_recipients = 1000/1h\n"
	    "limit_login_messages = 1000/1h\n"
	    "limit_client_recipients = 1000/1h\n"
	    "limit_login_clients = 10/1h\n", NULL);
	rl = engine(cfg);
	fake_now = real_ms();
	ck_assert_int_eq(check(rl, cfg, "alice", "192.0.2.1", 1).verdict,
	    RL_ALLOW);
	c = redis_connect(&r, NULL);
	ck_assert_ptr_nonnull(c);
	freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
	for (i = 0; i < 10; i++) {
		fake_now += 1000;
		ck_assert_int_eq(check(rl, cfg, "alice", "192.0.2.1", 1).verdict,
		    RL_ALLOW);
	}
	info = redisCommand(c, "INFO commandstats");
	ck_assert_ptr_nonnull(info);
	ck_assert_int_eq(cmdstat_calls(info->str, "evalsha"), 10);
	ck_assert_int_eq(cmdstat_calls(info->str, "script|load")
	    + cmdstat_calls(info->str, "script"), 0);
	for (p = info->str; (p = strstr(p, "cmdstat_")) != NULL; p++)
		if (strncmp(p, "cmdstat_evalsha:", 16) != 0
		    && strncmp(p, "cmdstat_config", 14) != 0
		    && strncmp(p, "cmdstat_info:", 13) != 0
		    && strstr(p, ":calls=") != NULL)
			inner += strtol(strstr(p, ":calls=") + 7, NULL, 10);
	ck_assert_msg(inner <= 10 * 8, "%ld commands in 10 decisions", inner);
	freeReplyObject(info);
	redisFree(c);
	ratelimit_free(rl);
	config_free(cfg);
	redis_stop(&r);
}
END_TEST

static redisReply *
must(redisContext *c, const char *fmt, ...)
{
	redisReply *reply;
	va_list	ap;

	va_start(ap, fmt);
	reply = redisvCommand(c, fmt, ap);
	va_end(ap);
	ck_assert_msg(reply != NULL, "%s: %s", fmt, c->errstr);
	return reply;
}

/* Whether a cluster node says every slot is served. */
static int
cluster_ok(redisContext *c)
{
	redisReply *reply = must(c, "CLUSTER INFO");
	int	ok;

	ok = reply->type == REDIS_REPLY_STRING
	    && strstr(reply->str, "cluster_state:ok") != NULL;
	freeReplyObject(reply);
	return ok;
}

/*
 * A Redis Cluster refuses a script whose keys lie in different slots
 * (CROSSSLOT): a login's counters and its client's must share one. A
 * one-node cluster serving every slot shows it.
 */
START_TEST(t_redis_cluster)
{
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	struct redis r;
	struct sg_config *cfg;
	struct ratelimit *rl;
	struct rl_result res;
	redisContext *c;
	redisReply *reply;
	char	extra[600];
	int	i, ok = 0;

	SKIP_WITHOUT_REDIS();
	snprintf(extra, sizeof(extra), "cluster-enabled yes\n"
	    "cluster-config-file %s/cluster-nodes.conf\n", tmpdir);
	redis_start_x(&r, "cluster", NULL, extra);
	c = redis_connect(&r, NULL);
	ck_assert_ptr_nonnull(c);
	reply = redisCommand(c, "CLUSTER ADDSLOTSRANGE 0 16383");
	ck_assert_ptr_nonnull(reply);
	ck_assert_int_eq(reply->type, REDIS_REPLY_STATUS);
	freeReplyObject(reply);
	/* the node says ok once its cron has seen the slots: up to 10 s */
	for (i = 0; i < 500 && !(ok = cluster_ok(c)); i++)
		nanosleep(&pause, NULL);
	ck_assert_msg(ok, "the one-node cluster did not come up");
	redisFree(c);
	cfg = load_redis(&r, conf_all, NULL);
	rl = engine(cfg);
	fake_now = real_ms();
	res = check(rl, cfg, "alice", "192.0.2.1", 1);
	ck_assert_msg(res.verdict == RL_ALLOW, "verdict %d: %s", res.verdict,
	    res.store_error);
	ck_assert_int_eq(check(rl, cfg, "alice", "192.0.2.1", 1).verdict,
	    RL_ALLOW);
	ck_assert_int_eq(check(rl, cfg, "alice", "192.0.2.1", 1).verdict,
	    RL_OVER);
	ratelimit_free(rl);
	config_free(cfg);
	redis_stop(&r);
}
END_TEST

/* A free TCP port on 127.0.0.1 (for a moment). */
static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int	fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static void threads_case(struct ratelimit *, const struct sg_config *);

/*
 * Redis Cluster, two nodes: A serves every slot but the one of {rl}, B
 * that one. sessguard, pointed at A, follows A's MOVED to B, for the
 * decisions and for -L (SCAN, which no node redirects) and -R.
 */
START_TEST(t_redis_cluster_moved)
{
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	struct redis a, b;
	struct sg_config *cfg;
	struct ratelimit *rl;
	struct listed ls = { .n = 0 };
	struct rl_result res;
	struct sg_config *cfg2;
	struct ratelimit *rl2;
	redisContext *ca, *cb;
	redisReply *reply;
	char	extra[600], text[600];
	int	pa, pb, busa, busb, slot, i, ok = 0;

	SKIP_WITHOUT_REDIS();
	pa = free_port();
	pb = free_port();
	busa = free_port();
	busb = free_port();
	snprintf(extra, sizeof(extra), "port %d\nbind 127.0.0.1\n"
	    "cluster-enabled yes\ncluster-port %d\n"
	    "cluster-config-file %s/nodes-a.conf\n", pa, busa, tmpdir);
	redis_start_x(&a, "clua", NULL, extra);
	snprintf(extra, sizeof(extra), "port %d\nbind 127.0.0.1\n"
	    "cluster-enabled yes\ncluster-port %d\n"
	    "cluster-config-file %s/nodes-b.conf\n", pb, busb, tmpdir);
	redis_start_x(&b, "club", NULL, extra);
	ca = redis_connect(&a, NULL);
	cb = redis_connect(&b, NULL);
	ck_assert_ptr_nonnull(ca);
	ck_assert_ptr_nonnull(cb);
	reply = must(ca, "CLUSTER KEYSLOT sg:{rl}:x");
	slot = (int)reply->integer;
	freeReplyObject(reply);
	if (slot > 0)
		freeReplyObject(must(ca, "CLUSTER ADDSLOTSRANGE 0 %d", slot - 1));
	if (slot < 16383)
		freeReplyObject(must(ca, "CLUSTER ADDSLOTSRANGE %d 16383",
		    slot + 1));
	freeReplyObject(must(cb, "CLUSTER ADDSLOTS %d", slot));
	freeReplyObject(must(ca, "CLUSTER MEET 127.0.0.1 %d %d", pb, busb));
	/* up once A redirects a key of {rl} to B: 20 s at most */
	for (i = 0; i < 1000 && !ok; i++) {
		reply = must(ca, "GET sg:{rl}:x");
		ok = reply->type == REDIS_REPLY_ERROR
		    && strncmp(reply->str, "MOVED ", 6) == 0;
		freeReplyObject(reply);
		if (!ok)
			nanosleep(&pause, NULL);
	}
	ck_assert_msg(ok, "node A never answered MOVED");
	/* and both nodes see every slot served */
	for (i = 0; i < 1000 && !(ok = cluster_ok(ca) && cluster_ok(cb)); i++)
		nanosleep(&pause, NULL);
	ck_assert_msg(ok, "the two-node cluster did not come up");

	snprintf(text, sizeof(text), "%slimit_store = redis:inet:127.0.0.1:%d\n",
	    conf_list, pa);
	cfg = load(text);
	rl = engine(cfg);
	res = check(rl, cfg, "erin", NULL, 0);
	ck_assert_msg(res.verdict == RL_ALLOW, "verdict %d: %s", res.verdict,
	    res.store_error);
	list_reset_case(rl, cfg);
	ratelimit_free(rl);
	/* the counters are on B, none on A */
	reply = must(cb, "DBSIZE");
	ck_assert_int_gt(reply->integer, 0);
	freeReplyObject(reply);
	reply = must(ca, "DBSIZE");
	ck_assert_int_eq(reply->integer, 0);
	freeReplyObject(reply);
	/* a fresh engine's first call is -L: bob's 8 of 10 are listed */
	rl = engine(cfg);
	ck_assert_int_eq(ratelimit_list(rl, cfg, 80, collect, &ls, err,
	    sizeof(err)), 0);
	ck_assert_msg(ls.n == 1, "%d listed", ls.n);
	ck_assert(listed_has(&ls, "login:bob limit_login_recipients 8/10 3600s"));
	ratelimit_free(rl);
	/* and -R */
	rl = engine(cfg);
	ck_assert_int_eq(ratelimit_reset(rl, "login:bob", err, sizeof(err)), 1);

	/* 8 threads on a fresh engine, all redirected at once: none fails */
	ck_assert_int_eq(ratelimit_reset(rl, "login:alice", err, sizeof(err)),
	    1);
	snprintf(text, sizeof(text), "limit_login_recipients = 100/1h\n"
	    "limit_store = redis:inet:127.0.0.1:%d\n", pa);
	cfg2 = load(text);
	rl2 = engine(cfg2);
	threads_case(rl2, cfg2);
	ratelimit_free(rl2);
	config_free(cfg2);

	/*
	 * B dies and A takes its slot over: the one decision that finds B
	 * gone fails (the store is down), and the next try, a second later,
	 * goes to the configured node, A, again.
	 */
	res = check(rl, cfg, "erin", NULL, 0);
	ck_assert_int_eq(res.verdict, RL_ALLOW);
	redisFree(cb);
	redis_stop(&b);
	freeReplyObject(must(ca, "CLUSTER DELSLOTS %d", slot));
	freeReplyObject(must(ca, "CLUSTER ADDSLOTS %d", slot));
	for (i = 0, ok = 0; i < 1000 && !ok; i++) {
		reply = must(ca, "GET sg:{rl}:x");
		ok = reply->type != REDIS_REPLY_ERROR;
		freeReplyObject(reply);
		if (!ok)
			nanosleep(&pause, NULL);
	}
	ck_assert_msg(ok, "node A did not take the slot over");
	fake_now += 10;
	res = check(rl, cfg, "erin", NULL, 0);
	ck_assert_int_eq(res.verdict, RL_UNAVAILABLE);
	ck_assert_int_eq(res.store_change, RL_STORE_DOWN);
	fake_now += 1001;
	res = check(rl, cfg, "erin", NULL, 0);
	ck_assert_msg(res.verdict == RL_ALLOW, "verdict %d: %s", res.verdict,
	    res.store_error);
	ck_assert_int_eq(res.store_change, RL_STORE_UP);
	ratelimit_free(rl);
	reply = must(ca, "DBSIZE");
	ck_assert_int_eq(reply->integer, 1);	/* erin's counter, anew */
	freeReplyObject(reply);
	config_free(cfg);
	redisFree(ca);
	redis_stop(&a);
}
END_TEST

/*
 * A MOVED answer comes from the network: a fake node that loads any
 * script and answers every other command with the error given. What is
 * no plain HOST:PORT is not followed: the decision fails with the reply
 * in its reason, and the store keeps its address.
 */
struct fake_node {
	int	 lfd;
	const char *answer;
	pthread_t th;
};

static void *
fake_serve(void *arg)
{
	struct fake_node *f = arg;
	char	buf[8192];
	const char *sha = "$40\r\n0123456789012345678901234567890123456789\r\n";
	ssize_t	n;
	int	fd;

	while ((fd = accept(f->lfd, NULL, NULL)) >= 0) {
		/* one command a read: hiredis writes each in one write(2) */
		while ((n = read(fd, buf, sizeof(buf) - 1)) > 0) {
			buf[n] = '\0';
			if (strstr(buf, "SCRIPT") != NULL)
				(void)!write(fd, sha, strlen(sha));
			else
				(void)!write(fd, f->answer, strlen(f->answer));
		}
		close(fd);
	}
	return NULL;
}

START_TEST(t_redis_moved_hostile)
{
	static const char *const bad[] = {
		"-MOVED 1 evil;host:6379\r\n",	/* not a host name */
		"-MOVED 1 127.0.0.1:0\r\n",		/* no port */
		"-MOVED 1 127.0.0.1:65536\r\n",
		"-MOVED 1 127.0.0.1:80x\r\n",
		"-MOVED 1 127.0.0.1\r\n",		/* no port at all */
		"-MOVED x 127.0.0.1:6379\r\n",	/* no slot */
		"-MOVED 1 :6379\r\n",		/* same host: a unix socket has none */
		"-ASK 1 127.0.0.1:6379\r\n",	/* not followed */
	};
	struct fake_node f;
	struct sockaddr_un sun;
	struct sg_config *cfg;
	struct ratelimit *rl;
	struct rl_result res;
	char	path[300], text[500], longmoved[700];
	size_t	i;

	snprintf(path, sizeof(path), "%s/fake.sock", tmpdir);
	unlink(path);
	f.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(f.lfd, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(path), sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	ck_assert_int_eq(bind(f.lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(f.lfd, 16), 0);
	f.answer = bad[0];
	ck_assert_int_eq(pthread_create(&f.th, NULL, fake_serve, &f), 0);
	snprintf(text, sizeof(text), "limit_login_recipients = 10/1h\n"
	    "limit_store = redis:unix:%s\n", path);
	cfg = load(text);
	for (i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
		if (i == sizeof(bad) / sizeof(bad[0])) {
			/* a host name of 600 bytes */
			memset(longmoved, 'a', sizeof(longmoved));
			memcpy(longmoved, "-MOVED 1 ", 9);
			snprintf(longmoved + 609, sizeof(longmoved) - 609,
			    ":6379\r\n");
			f.answer = longmoved;
		} else
			f.answer = bad[i];
		rl = engine(cfg);
		fake_now = real_ms();
		res = check(rl, cfg, "alice", NULL, 0);
		ck_assert_int_eq(res.verdict, RL_UNAVAILABLE);
		ck_assert_msg(strstr(res.store_error, f.answer[1] == 'A'
		    ? "ASK" : "MOVED") != NULL && strstr(res.store_error,
		    "(MOVED there)") == NULL, "%zu: %s", i, res.store_error);
		ratelimit_free(rl);
	}
	/* a plain HOST:PORT is followed, there nobody answers */
	f.answer = "-MOVED 7 127.0.0.1:1\r\n";
	rl = engine(cfg);
	fake_now = real_ms();
	res = check(rl, cfg, "alice", NULL, 0);
	ck_assert_int_eq(res.verdict, RL_UNAVAILABLE);
	ck_assert_msg(strstr(res.store_error, "127.0.0.1:1 (MOVED there)")
	    != NULL, "%s", res.store_error);
	ratelimit_free(rl);
	config_free(cfg);
	shutdown(f.lfd, SHUT_RDWR);
	close(f.lfd);
	pthread_join(f.th, NULL);
}
END_TEST

/* Two MTAs, one store: half the limit through each, then refused. */
START_TEST(t_redis_shared)
{
	struct redis r;
	struct sg_config *cfg;
	struct ratelimit *a, *b;
	struct rl_result res;
	int	i;

	SKIP_WITHOUT_REDIS();
	redis_start(&r, "shared", NULL);
	cfg = load_redis(&r, "limit_login_recipients = 10/1h\n", NULL);
	a = engine(cfg);
	b = engine(cfg);
	fake_now = real_ms();
	for (i = 0; i < 10; i++) {
		res = check(i % 2 ? b : a, cfg, "alice", "192.0.2.1", 0);
		ck_assert_msg(res.verdict == RL_ALLOW, "recipient %d refused", i);
		ck_assert_uint_eq(res.limit.count, (unsigned long)i + 1);
	}
	ck_assert_int_eq(check(a, cfg, "alice", "192.0.2.1", 0).verdict, RL_OVER);
	ck_assert_int_eq(check(b, cfg, "alice", "192.0.2.1", 0).verdict, RL_OVER);
	ratelimit_free(a);
	ratelimit_free(b);
	config_free(cfg);
	redis_stop(&r);
}
END_TEST

/*
 * Redis killed: the first call reports the store down, once; tempfail
 * answers UNAVAILABLE, local decides with this process's counters. Redis
 * back (a new server: empty script cache): up reported once.
 */
START_TEST(t_redis_killed)
{
	struct redis r;
	struct sg_config *cfg, *local;
	struct ratelimit *rl;
	struct rl_result res;
	uint64_t start;
	int	i;

	SKIP_WITHOUT_REDIS();
	redis_start(&r, "killed", NULL);
	cfg = load_redis(&r, "limit_login_recipients = 3/1h\n", NULL);
	local = load_redis(&r, "limit_login_recipients = 3/1h\n",
	    "limit_store_down = local\n");
	rl = engine(cfg);
	start = fake_now = real_ms();
	res = check(rl, cfg, "alice", "192.0.2.1", 0);
	ck_assert_int_eq(res.verdict, RL_ALLOW);
	redis_stop(&r);

	res = check(rl, cfg, "alice", "192.0.2.1", 0);
	ck_assert_int_eq(res.verdict, RL_UNAVAILABLE);
	ck_assert_int_eq(res.store_change, RL_STORE_DOWN);
	ck_assert_msg(res.store_error[0] != '\0', "no reason");
	res = check(rl, cfg, "alice", "192.0.2.1", 0);
	ck_assert_int_eq(res.verdict, RL_UNAVAILABLE);
	ck_assert_int_eq(res.store_change, RL_STORE_SAME);
	ck_assert_msg(strstr(res.store_error, "killed.sock") != NULL, "%s",
	    res.store_error);
	/* a retry a second later fails again: still no second report */
	fake_now += 1500;
	res = check(rl, cfg, "alice", "192.0.2.1", 0);
	ck_assert_int_eq(res.verdict, RL_UNAVAILABLE);
	ck_assert_int_eq(res.store_change, RL_STORE_SAME);

	/* local: this process's counters, the same limit */
	for (i = 0; i < 3; i++) {
		res = check(rl, local, "alice", "192.0.2.1", 0);
		ck_assert_int_eq(res.verdict, RL_ALLOW);
		ck_assert_int_eq(res.local, 1);
		ck_assert_int_eq(res.store_change, RL_STORE_SAME);
	}
	res = check(rl, local, "alice", "192.0.2.1", 0);
	ck_assert_int_eq(res.verdict, RL_OVER);
	ck_assert_int_eq(res.local, 1);

	redis_start(&r, "killed", NULL);
	fake_now += 1500;
	res = check(rl, cfg, "alice", "192.0.2.1", 0);
	ck_assert_msg(res.verdict == RL_ALLOW, "verdict %d: %s", res.verdict,
	    res.store_error);
	ck_assert_int_eq(res.store_change, RL_STORE_UP);
	ck_assert_int_eq(res.local, 0);
	res = check(rl, cfg, "alice", "192.0.2.1", 0);
	ck_assert_int_eq(res.store_change, RL_STORE_SAME);
	ck_assert_int_eq(res.verdict, RL_ALLOW);
	(void)start;
	ratelimit_free(rl);
	config_free(cfg);
	config_free(local);
	redis_stop(&r);
}
END_TEST

/* Redis restarted, or its script cache flushed: NOSCRIPT, reloaded. */
START_TEST(t_redis_noscript)
{
	struct redis r;
	struct sg_config *cfg;
	struct ratelimit *rl;
	struct rl_result res;
	redisContext *c;
	redisReply *reply;
	int	i;

	SKIP_WITHOUT_REDIS();
	redis_start(&r, "noscript", NULL);
	cfg = load_redis(&r, "limit_login_recipients = 5/1h\n", NULL);
	rl = engine(cfg);
	fake_now = real_ms();
	/* several pooled connections at once */
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(check(rl, cfg, "alice", NULL, 0).verdict,
		    RL_ALLOW);
	c = redis_connect(&r, NULL);
	reply = redisCommand(c, "SCRIPT FLUSH");
	freeReplyObject(reply);
	redisFree(c);
	res = check(rl, cfg, "alice", NULL, 0);
	ck_assert_msg(res.verdict == RL_ALLOW, "after SCRIPT FLUSH: %d %s",
	    res.verdict, res.store_error);
	ck_assert_uint_eq(res.limit.count, 3);

	/* a restart: the pooled connection is dead, the cache empty */
	redis_stop(&r);
	redis_start(&r, "noscript", NULL);
	res = check(rl, cfg, "alice", NULL, 0);
	ck_assert_msg(res.verdict == RL_ALLOW, "after restart: %d %s",
	    res.verdict, res.store_error);
	ck_assert_int_eq(res.store_change, RL_STORE_SAME);
	ck_assert_uint_eq(res.limit.count, 1);	/* a new, empty server */
	ratelimit_free(rl);
	config_free(cfg);
	redis_stop(&r);
}
END_TEST

/* Redis stopped with SIGSTOP: every call returns, bounded by the timeout. */
START_TEST(t_redis_stopped)
{
	struct redis r;
	struct sg_config *cfg;
	struct ratelimit *rl;
	struct rl_result res;
	uint64_t t0;
	int	i;

	SKIP_WITHOUT_REDIS();
	redis_start(&r, "stopped", NULL);
	cfg = load_redis(&r, "limit_login_recipients = 5/1h\n",
	    "limit_store_timeout = 100\n");
	rl = engine(cfg);
	fake_now = real_ms();
	ck_assert_int_eq(check(rl, cfg, "alice", NULL, 0).verdict, RL_ALLOW);
	kill(r.pid, SIGSTOP);
	for (i = 0; i < 3; i++) {
		t0 = real_ms();
		res = check(rl, cfg, i == 1 ? "bob" : "alice", NULL, 0);
		ck_assert_msg(real_ms() - t0 < 2000, "call %d took %llu ms", i,
		    (unsigned long long)(real_ms() - t0));
		ck_assert_int_eq(res.verdict, RL_UNAVAILABLE);
		ck_assert_int_eq(res.store_change, i == 0 ? RL_STORE_DOWN
		    : RL_STORE_SAME);
		fake_now += 1500;	/* each call tries the store again */
	}
	kill(r.pid, SIGCONT);
	ratelimit_free(rl);
	config_free(cfg);
	redis_stop(&r);
}
END_TEST

/* requirepass: AUTH with the password file; without it, unavailable. */
START_TEST(t_redis_auth)
{
	struct redis r;
	struct sg_config *cfg, *nopw;
	struct ratelimit *rl, *rl2;
	struct rl_result res;
	char	path[300], extra[400];
	int	fd;

	SKIP_WITHOUT_REDIS();
	redis_start(&r, "auth", "t0ps3cret");
	snprintf(path, sizeof(path), "%s/redis.pw", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "t0ps3cret\n", 10), 10);
	close(fd);
	snprintf(extra, sizeof(extra), "limit_store_password_file = %s\n", path);
	cfg = load_redis(&r, "limit_login_recipients = 5/1h\n", extra);
	rl = engine(cfg);
	fake_now = real_ms();
	res = check(rl, cfg, "alice", NULL, 0);
	ck_assert_msg(res.verdict == RL_ALLOW, "%d %s", res.verdict,
	    res.store_error);

	nopw = load_redis(&r, "limit_login_recipients = 5/1h\n", NULL);
	rl2 = engine(nopw);
	res = check(rl2, nopw, "alice", NULL, 0);
	ck_assert_int_eq(res.verdict, RL_UNAVAILABLE);
	ck_assert_int_eq(res.store_change, RL_STORE_DOWN);
	ck_assert_msg(strstr(res.store_error, "NOAUTH") != NULL, "%s",
	    res.store_error);
	ratelimit_free(rl);
	ratelimit_free(rl2);
	config_free(cfg);
	config_free(nopw);
	redis_stop(&r);
}
END_TEST

START_TEST(t_redis_list_reset)
{
	struct redis r;
	struct sg_config *cfg;
	struct ratelimit *rl;

	SKIP_WITHOUT_REDIS();
	redis_start(&r, "list", NULL);
	cfg = load_redis(&r, conf_list, NULL);
	rl = engine(cfg);
	list_reset_case(rl, cfg);
	ratelimit_free(rl);
	config_free(cfg);
	redis_stop(&r);
}
END_TEST

/*
 * Threads: 8 threads, 50 recipients each, one login limited to 100: exactly
 * 100 pass, whatever the interleaving (memory: the mutex; Redis: the pool
 * of contexts and the atomic script).
 */
#define NTHREADS	8
struct worker {
	struct ratelimit *rl;
	const struct sg_config *cfg;
	pthread_t th;
	int	 allowed, over, other;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	struct rl_result res;
	int	i;

	for (i = 0; i < 50; i++) {
		ratelimit_check(w->rl, w->cfg, "alice", NULL, 0, &res);
		if (res.verdict == RL_ALLOW)
			w->allowed++;
		else if (res.verdict == RL_OVER)
			w->over++;
		else
			w->other++;
	}
	return NULL;
}

static void
threads_case(struct ratelimit *rl, const struct sg_config *cfg)
{
	struct worker w[NTHREADS];
	int	i, allowed = 0, over = 0, other = 0;

	fake_now = real_ms();
	memset(w, 0, sizeof(w));
	for (i = 0; i < NTHREADS; i++) {
		w[i].rl = rl;
		w[i].cfg = cfg;
		ck_assert_int_eq(pthread_create(&w[i].th, NULL, work, &w[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(w[i].th, NULL);
		allowed += w[i].allowed;
		over += w[i].over;
		other += w[i].other;
	}
	ck_assert_int_eq(other, 0);
	ck_assert_int_eq(allowed, 100);
	ck_assert_int_eq(over, NTHREADS * 50 - 100);
}

START_TEST(t_memory_threads)
{
	struct sg_config *cfg = load("limit_login_recipients = 100/1h\n");
	struct ratelimit *rl = engine(cfg);

	threads_case(rl, cfg);
	ratelimit_free(rl);
	config_free(cfg);
}
END_TEST

START_TEST(t_redis_threads)
{
	struct redis r;
	struct sg_config *cfg;
	struct ratelimit *rl;

	SKIP_WITHOUT_REDIS();
	redis_start(&r, "threads", NULL);
	cfg = load_redis(&r, "limit_login_recipients = 100/1h\n", NULL);
	rl = engine(cfg);
	threads_case(rl, cfg);
	ratelimit_free(rl);
	config_free(cfg);
	redis_stop(&r);
}
END_TEST

static void
make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/sg-rl.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
}

static void
remove_tmpdir(void)
{
	char	cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static Suite *
ratelimit_suite(void)
{
	Suite	*s = suite_create("ratelimit");
	TCase	*tc = tcase_create("memory");
	TCase	*tr = tcase_create("redis");

	tcase_add_unchecked_fixture(tc, make_tmpdir, remove_tmpdir);
	tcase_add_test(tc, t_config_keys);
	tcase_add_test(tc, t_config_print_round_trip);
	tcase_add_loop_test(tc, t_memory_scenario, 0, NSCEN);
	tcase_add_test(tc, t_memory_details);
	tcase_add_test(tc, t_memory_list_reset);
	tcase_add_test(tc, t_memory_threads);
	suite_add_tcase(s, tc);

	tcase_add_unchecked_fixture(tr, make_tmpdir, remove_tmpdir);
	tcase_set_timeout(tr, 60);
	tcase_add_loop_test(tr, t_redis_scenario, 0, NSCEN);
	tcase_add_test(tr, t_redis_ttl);
	tcase_add_test(tr, t_redis_cost);
	tcase_add_test(tr, t_redis_cluster);
	tcase_add_test(tr, t_redis_cluster_moved);
	tcase_add_test(tr, t_redis_moved_hostile);
	tcase_add_test(tr, t_redis_shared);
	tcase_add_test(tr, t_redis_killed);
	tcase_add_test(tr, t_redis_noscript);
	tcase_add_test(tr, t_redis_stopped);
	tcase_add_test(tr, t_redis_auth);
	tcase_add_test(tr, t_redis_list_reset);
	tcase_add_test(tr, t_redis_threads);
	suite_add_tcase(s, tr);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(ratelimit_suite());
	int	failed;

	if (redis_binary() == NULL)
		fprintf(stderr, "test_ratelimit: redis-server not found (Debian "
		    "package redis-server): the Redis cases are skipped\n");
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
