/*
 * NAME
 *	runtime - the current configuration snapshot, and reloading it
 * SYNOPSIS
 *	#include "runtime.h"
 *
 *	void runtime_init(cfg, log, path, socket_override)
 *	struct sg_snapshot *runtime_acquire(void)
 *	void runtime_release(snap)
 *	const struct sg_config *snapshot_config(snap)
 *	struct evlog *runtime_log(void)
 *	int runtime_reload(err, errlen)
 *	void runtime_shutdown(void)
 *	void runtime_set_ratelimit(rl)
 *	struct ratelimit *runtime_ratelimit(void)
 * DESCRIPTION
 *	Configurations are immutable snapshots with a reference count. The
 *	milter layer takes the current one with runtime_acquire() when a
 *	connection opens and again at every MAIL, so a transaction runs to
 *	its end with the configuration it started with, and drops its old
 *	one with runtime_release(); the last release frees a snapshot.
 *	Only acquire, release and the swap take the lock, each for a few
 *	instructions: callbacks never wait on a reload.
 *
 *	runtime_reload() (SIGUSR1) reads the configuration again from the
 *	path given to runtime_init() (or the built-in defaults), with the
 *	same -p override, reopens the log files (logrotate's hook) and
 *	applies log_level and log_max_value to the event log. Keys that only
 *	take effect at start (those the key table of config.c marks restart-
 *	only: socket, policy_listen, socket_mode, user, group, pidfile, log
 *	and others; config_restart_key() names them) keep their old effect;
 *	a change to them is reported as needing a restart.
 *
 *	runtime_set_ratelimit() keeps the daemon's rate-limit engine (made
 *	once at start, before any connection: its store keys are
 *	restart-only), which runtime_ratelimit() hands to every connection.
 * DIAGNOSTICS
 *	runtime_reload() returns -1 with a message naming file, line and key
 *	when the new configuration is bad; the old snapshot stays in force.
 *	A log file that cannot be reopened is reported; its old descriptor
 *	stays in use.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "util/msg.h"

struct sg_snapshot {
	struct sg_config *cfg;
	unsigned	  refs;		/* under lock */
	unsigned	  generation;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct sg_snapshot *current;
static struct evlog *the_log;
static char *config_path;
static char *socket_override;
static struct ratelimit *the_ratelimit;

void
runtime_set_ratelimit(struct ratelimit *rl)
{
	the_ratelimit = rl;
}

struct ratelimit *
runtime_ratelimit(void)
{
	return the_ratelimit;
}

static struct sg_snapshot *
snapshot_new(struct sg_config *cfg, unsigned generation)
{
	struct sg_snapshot *snap;

	if ((snap = calloc(1, sizeof(*snap))) == NULL)
		return NULL;
	snap->cfg = cfg;
	snap->refs = 1;			/* the reference of "current" */
	snap->generation = generation;
	return snap;
}

void
runtime_init(struct sg_config *cfg, struct evlog *log, const char *path,
    const char *sockopt)
{
	if ((current = snapshot_new(cfg, 1)) == NULL)
		msg_fatal("out of memory");
	the_log = log;
	if ((path && (config_path = strdup(path)) == NULL)
	    || (sockopt && (socket_override = strdup(sockopt)) == NULL))
		msg_fatal("out of memory");
}

struct sg_snapshot *
runtime_acquire(void)
{
	struct sg_snapshot *snap;

	pthread_mutex_lock(&lock);
	snap = current;
	if (snap)
		snap->refs++;
	pthread_mutex_unlock(&lock);
	return snap;
}

void
runtime_release(struct sg_snapshot *snap)
{
	int	last;

	if (snap == NULL)
		return;
	pthread_mutex_lock(&lock);
	last = --snap->refs == 0;
	pthread_mutex_unlock(&lock);
	if (last) {
		config_free(snap->cfg);
		free(snap);
	}
}

const struct sg_config *
snapshot_config(const struct sg_snapshot *snap)
{
	return snap->cfg;
}

struct evlog *
runtime_log(void)
{
	return the_log;
}

unsigned
runtime_generation(void)
{
	unsigned gen;

	pthread_mutex_lock(&lock);
	gen = current ? current->generation : 0;
	pthread_mutex_unlock(&lock);
	return gen;
}

/* Warns about start-only keys whose value the new file changes. */
static void
report_restart_keys(const struct sg_config *old, const struct sg_config *new)
{
	struct strbuf a, b;
	const char *key;
	size_t	i;

	strbuf_init(&a);
	strbuf_init(&b);
	for (i = 0; (key = config_restart_key(i)) != NULL; i++) {
		strbuf_reset(&a);
		strbuf_reset(&b);
		config_show_key(old, key, &a);
		config_show_key(new, key, &b);
		if (strcmp(strbuf_str(&a), strbuf_str(&b)) != 0)
			msg_warn("reload: %s changed (%s -> %s): takes effect at "
			    "the next restart", key, strbuf_str(&a),
			    strbuf_str(&b));
	}
	strbuf_free(&a);
	strbuf_free(&b);
}

int
runtime_reload(char *err, size_t errlen)
{
	struct sg_config *cfg;
	struct sg_snapshot *snap, *old;
	char	why[1024];

	if (evlog_reopen(the_log, why, sizeof(why)) < 0)
		msg_warn("reload: %s", why);
	cfg = config_path ? config_load(config_path, err, errlen)
	    : config_defaults(err, errlen);
	if (cfg && socket_override
	    && config_override(cfg, "socket", socket_override, err, errlen) < 0) {
		config_free(cfg);
		cfg = NULL;
	}
	if (cfg == NULL)
		return -1;
	pthread_mutex_lock(&lock);
	old = current;
	pthread_mutex_unlock(&lock);
	if (old == NULL) {		/* shutting down */
		snprintf(err, errlen, "shutting down");
		config_free(cfg);
		return -1;
	}
	report_restart_keys(old->cfg, cfg);
	if ((snap = snapshot_new(cfg, old->generation + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		config_free(cfg);
		return -1;
	}
	evlog_set_levels(the_log, cfg->log_level, cfg->log_max_value);
	pthread_mutex_lock(&lock);
	current = snap;
	pthread_mutex_unlock(&lock);
	runtime_release(old);
	return 0;
}

void
runtime_shutdown(void)
{
	struct sg_snapshot *snap;

	pthread_mutex_lock(&lock);
	snap = current;
	current = NULL;
	pthread_mutex_unlock(&lock);
	runtime_release(snap);
}
