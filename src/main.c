/*
 * NAME
 *	main - command line and life cycle of the sessguard daemon
 * SYNOPSIS
 *	sessguard [-c FILE] [-p SOCKET] [-f] [-n] [-V] [-h]
 *	sessguard [-c FILE] -L | -R KEY
 * DESCRIPTION
 *	Reads the configuration (-c FILE; else the default path if it exists;
 *	else the built-in defaults), then, while messages still reach the
 *	terminal: looks up user and group, opens the event log, locks the
 *	pidfile, binds the metrics endpoint and writes the metrics textfile
 *	once as the user (metricsd.c), opens the milter socket (as root) and
 *	gives it socket_mode and the user's group. Then it detaches (unless
 *	-f), writes its pid, drops privileges for good, starts the metrics
 *	threads, and hands control to libmilter until SIGTERM or SIGINT,
 *	then exits 0. With policy_listen, the policy-delegation server
 *	(policyd.c) opens its socket beside the milter's and runs in
 *	threads of its own; with socket = none there is no milter and the
 *	main thread itself waits for the signal. No callback ever runs as
 *	root when a user is configured.
 *
 *	SIGUSR1 reloads the configuration and reopens the log files (see
 *	runtime.c); a thread of its own waits for it, because libmilter's
 *	signal thread owns SIGHUP, SIGTERM and SIGINT. All four are blocked
 *	as the first thing main() does, so that every thread inherits the
 *	mask and none of them is ever delivered with its default action (a
 *	SIGUSR1 from logrotate during start would kill the daemon): one that
 *	arrives during start stays pending until its thread waits for it.
 *	Signals that arrive before main() runs at all (the dynamic loader)
 *	cannot be helped.
 *
 *	-n checks the configuration, prints the effective one and exits 0, or
 *	1 with a message naming file, line and key.
 *
 *	-L lists the rate-limit counters over or near their limits, -R KEY
 *	resets one (limitcli.c), and exit.
 *
 *	A unix socket left by a crashed run is removed; one that still answers
 *	belongs to a running filter and is left alone (exit 1). A pidfile
 *	locked by a running instance stops a second one (exit 1). The
 *	plumbing itself (socket preparation, pidfile lock, detaching,
 *	privilege drop) lives in util/sock.c and util/daemon.c.
 * DIAGNOSTICS
 *	Every problem before the first connection is a message on stderr and
 *	exit status 1; nothing is half started.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "config.h"
#include "evlog.h"
#include "limitcli.h"
#include "metricsd.h"
#include "milter.h"
#include "policyd.h"
#include "ratelimit.h"
#include "runtime.h"
#include "session.h"
#include "util/daemon.h"
#include "util/msg.h"
#include "util/sock.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION	"unknown"
#endif

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: sessguard [-c FILE] [-p SOCKET] [-f] [-n] [-V] [-h] [-L | -R KEY]\n"
	    "  -c FILE    configuration file (default %s if it exists)\n"
	    "  -p SOCKET  milter socket: unix:/path, local:/path, inet:PORT@HOST,\n"
	    "             inet6:PORT@HOST (overrides 'socket')\n"
	    "  -f         stay in the foreground; log to stderr unless 'log' is set\n"
	    "  -n         check the configuration, print it, and exit\n"
	    "  -V         print the version and exit\n"
	    "  -h         print this help and exit\n"
	    "  -L         list rate-limit keys over or near their limits\n"
	    "  -R KEY     reset the rate-limit counters of KEY (login:NAME,\n"
	    "             client:ADDRESS)\n",
	    SG_DEFAULT_CONFIG);
}

/*
 * A configuration that others may write decides who may relay: say so.
 * (A warning, not an error: the postmaster may have reasons, but should
 * know.)
 */
static void
warn_if_writable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	if (st.st_mode & S_IWOTH)
		msg_warn("configuration %s is writable by every user (mode %04o): "
		    "anyone could open the relay; chmod o-w it", path,
		    (unsigned)(st.st_mode & 07777));
	else if ((st.st_mode & S_IWGRP) && st.st_gid != 0)
		msg_warn("configuration %s is writable by group %u (mode %04o): "
		    "members of that group decide who may relay", path,
		    (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777));
}

static void *
reload_thread(void *arg)
{
	sigset_t *set = arg;
	char	err[1024];
	int	sig;

	for (;;) {
		if (sigwait(set, &sig) != 0 || sig != SIGUSR1)
			continue;
		if (runtime_reload(err, sizeof(err)) < 0)
			msg_warn("reload: %s; keeping the old configuration", err);
		else
			msg_info("configuration reloaded (generation %u)",
			    runtime_generation());
	}
	return NULL;
}

/*
 * The signals the daemon waits for, blocked before anything else runs:
 * the threads created later (libmilter's workers and signal thread, the
 * reload thread, the metrics threads) inherit the mask, so SIGUSR1
 * reaches only the reload thread's sigwait() and SIGHUP, SIGTERM and
 * SIGINT only libmilter's signal thread, whenever they arrive.
 */
static sigset_t reload_set;

static void
block_signals(void)
{
	sigset_t block;
	int	rc;

	sigemptyset(&reload_set);
	sigaddset(&reload_set, SIGUSR1);
	block = reload_set;
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	if ((rc = pthread_sigmask(SIG_BLOCK, &block, NULL)) != 0)
		msg_fatal("pthread_sigmask: %s", strerror(rc));
}

static void
start_reload_thread(void)
{
	pthread_t th;
	int	rc;

	if ((rc = pthread_create(&th, NULL, reload_thread, &reload_set)) != 0)
		msg_fatal("pthread_create: %s", strerror(rc));
	pthread_detach(th);
}

/*
 * Without the milter (socket = none) nobody runs libmilter's signal
 * thread: wait for SIGTERM or SIGINT (or SIGHUP, which stops libmilter
 * too) here; start_reload_thread() blocked them in every thread.
 */
static void
wait_for_stop(void)
{
	sigset_t set;
	int	sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	while (sigwait(&set, &sig) != 0)
		;
}

/* Gives the log files to the user the daemon becomes, for reopening. */
static void
chown_logs(const struct sg_config *cfg, const struct daemon_ugid *id)
{
	size_t	i;

	if (!id->change)
		return;
	for (i = 0; i < cfg->log_files.n; i++)
		if (chown(cfg->log_files.v[i], id->uid, id->gid) < 0)
			msg_fatal("chown %s: %s", cfg->log_files.v[i],
			    strerror(errno));
}

int
main(int argc, char **argv)
{
	struct sg_config *cfg;
	struct evlog *log;
	struct daemon_ugid id;
	const char *cfgpath = NULL, *sockopt = NULL, *upath;
	char	err[1024];
	char	*sockpath = NULL, *pidpath = NULL;
	mode_t	 oldmask;
	int	c, foreground = 0, check = 0, rc = MI_SUCCESS, pidfd = -1;
	int	milter, policy;
	int	limits_list = 0;
	const char *limits_reset = NULL;
	struct ratelimit *rl;

	block_signals();
	msg_init("sessguard", 0);
	opterr = 0;
	while ((c = getopt(argc, argv, ":c:p:fnVhLR:")) != -1) {
		switch (c) {
		case 'c':
			cfgpath = optarg;
			break;
		case 'p':
			sockopt = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'L':
			limits_list = 1;
			break;
		case 'R':
			limits_reset = optarg;
			break;
		case 'V':
			printf("sessguard %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "sessguard: option -%c needs an argument\n",
			    optopt);
			usage(stderr);
			return 1;
		default:
			fprintf(stderr, "sessguard: unknown option -%c\n", optopt);
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sessguard: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		return 1;
	}

	if (cfgpath == NULL && access(SG_DEFAULT_CONFIG, F_OK) == 0)
		cfgpath = SG_DEFAULT_CONFIG;
	cfg = cfgpath ? config_load(cfgpath, err, sizeof(err))
	    : config_defaults(err, sizeof(err));
	if (cfg == NULL)
		msg_fatal("%s", err);
	if (sockopt && config_override(cfg, "socket", sockopt, err,
	    sizeof(err)) < 0)
		msg_fatal("-p: %s", err);
	msg_init("sessguard", cfg->syslog_facility);

	if (cfgpath)
		warn_if_writable(cfgpath);
	/* -L, -R: the rate-limit counters of the store, then exit */
	if (limits_list || limits_reset) {
		rc = limitcli_main(cfg, limits_reset);
		config_free(cfg);
		return rc;
	}
	if (check) {
		struct strbuf sb;

		strbuf_init(&sb);
		strbuf_printf(&sb, "# sessguard %s: configuration %s is valid\n",
		    PACKAGE_VERSION, cfgpath ? cfgpath : "(built-in defaults)");
		config_print(cfg, &sb);
		fputs(strbuf_str(&sb), stdout);
		strbuf_free(&sb);
		config_free(cfg);
		return 0;
	}

	if (cfg->mode == MODE_ENFORCE && cfg->local_domains.n == 0
	    && cfg->relay_domains.n == 0)
		msg_warn("local_domains and relay_domains are empty: every "
		    "recipient with a domain counts as a relay attempt");

	milter = strcmp(cfg->socket, "none") != 0;
	policy = cfg->policy_listen != NULL;
	if (daemon_ugid_lookup(cfg->user, cfg->group, &id, err, sizeof(err)) < 0)
		msg_fatal("%s", err);
	if ((log = evlog_open(cfg, foreground, err, sizeof(err))) == NULL)
		msg_fatal("%s", err);
	chown_logs(cfg, &id);
	session_ids_init();
	if (cfg->pidfile && (pidfd = daemon_pidfile_lock(cfg->pidfile, err,
	    sizeof(err))) < 0)
		msg_fatal("%s", err);
	if (metricsd_open(cfg, id.change ? id.uid : (uid_t)-1, id.gid, err,
	    sizeof(err)) < 0)
		msg_fatal("%s", err);

	upath = milter ? sock_unix_path(cfg->socket) : NULL;
	if (milter) {
		if (sock_prepare(cfg->socket, err, sizeof(err)) < 0)
			msg_fatal("%s", err);
		if (smfi_setconn(cfg->socket) != MI_SUCCESS)
			msg_fatal("socket %s: smfi_setconn failed", cfg->socket);
		if (cfg->milter_timeout > 0)
			smfi_settimeout(cfg->milter_timeout);
		if (milter_register() != MI_SUCCESS)
			msg_fatal("smfi_register failed");
		/* the socket is born with its mode: no moment with another one */
		oldmask = umask(~cfg->socket_mode & 0777);
		if (smfi_opensocket(false) != MI_SUCCESS)
			msg_fatal("socket %s: cannot open (in use, or no "
			    "permission)", cfg->socket);
		umask(oldmask);
		if (sock_finish(cfg->socket, cfg->socket_mode, id.change ?
		    id.uid : (uid_t)-1, id.change ? id.gid : (gid_t)-1, err,
		    sizeof(err)) < 0)
			msg_fatal("%s", err);
	}
	if (policy && policyd_open(cfg, id.change ? id.uid : (uid_t)-1,
	    id.change ? id.gid : (gid_t)-1, err, sizeof(err)) < 0)
		msg_fatal("%s", err);

	if (!foreground && daemon_detach(err, sizeof(err)) < 0)
		msg_fatal("%s", err);
	if (pidfd >= 0 && daemon_pidfile_write(pidfd, cfg->pidfile, err,
	    sizeof(err)) < 0)
		msg_fatal("%s", err);
	if (daemon_ugid_set(&id, err, sizeof(err)) < 0)
		msg_fatal("%s", err);
	/* log_flush: the flusher thread, in the process that stays */
	if (evlog_start(log, err, sizeof(err)) < 0)
		msg_fatal("%s", err);
	msg_info("sessguard %s listening on %s, mode %s%s%s", PACKAGE_VERSION,
	    cfg->socket, config_mode_name(cfg->mode),
	    id.change ? ", running as " : "", id.change ?
	    (cfg->user ? cfg->user : cfg->group) : "");

	/* from here on a reload may free cfg: keep what the exit needs */
	if ((upath && (sockpath = strdup(upath)) == NULL)
	    || (cfg->pidfile && (pidpath = strdup(cfg->pidfile)) == NULL))
		msg_fatal("out of memory");
	/* the store keys are restart-only: one engine for the daemon's life */
	if ((rl = ratelimit_create(cfg, err, sizeof(err))) == NULL)
		msg_fatal("limit_store %s: %s", cfg->limit_store, err);
	runtime_set_ratelimit(rl);
	runtime_init(cfg, log, cfgpath, sockopt);
	start_reload_thread();
	if (metricsd_start(err, sizeof(err)) < 0)
		msg_fatal("%s", err);
	if (policy && policyd_start(err, sizeof(err)) < 0)
		msg_fatal("%s", err);
	if (milter)
		rc = smfi_main();
	else
		wait_for_stop();
	policyd_stop();

	msg_info("sessguard stopping%s", rc == MI_SUCCESS ? "" :
	    " (libmilter reported a failure)");
	metricsd_stop();
	if (sockpath)
		unlink(sockpath);
	if (pidpath)
		unlink(pidpath);
	if (evlog_lost(log))
		msg_warn("%llu log lines were lost", evlog_lost(log));
	runtime_shutdown();
	runtime_set_ratelimit(NULL);
	ratelimit_free(rl);
	evlog_close(log);
	free(sockpath);
	free(pidpath);
	return 0;
}
