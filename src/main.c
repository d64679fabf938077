/*
 * NAME
 *	main - command line and life cycle of the sessguard daemon
 * SYNOPSIS
 *	sessguard [-c FILE] [-p SOCKET] [-f] [-n] [-V] [-h]
 * DESCRIPTION
 *	Reads the configuration (-c FILE; else the default path if it exists;
 *	else the built-in defaults), then, while messages still reach the
 *	terminal: looks up user and group, opens the event log, locks the
 *	pidfile, binds the metrics endpoint and writes the metrics textfile
 *	once as the user (metricsd.c), opens the milter socket (as root) and
 *	gives it socket_mode and the user's group. Then it detaches (unless
 *	-f), writes its pid, drops privileges for good, starts the metrics
 *	threads, and hands control to libmilter until SIGTERM or SIGINT,
 *	then exits 0. No callback ever runs as root when a user is
 *	configured.
 *
 *	SIGUSR1 reloads the configuration and reopens the log files (see
 *	runtime.c); a thread of its own waits for it, because libmilter's
 *	signal thread owns SIGHUP, SIGTERM and SIGINT.
 *
 *	-n checks the configuration, prints the effective one and exits 0, or
 *	1 with a message naming file, line and key.
 *
 *	A unix socket left by a crashed run is removed; one that still answers
 *	belongs to a running filter and is left alone (exit 1). A pidfile
 *	locked by a running instance stops a second one (exit 1).
 * DIAGNOSTICS
 *	Every problem before the first connection is a message on stderr and
 *	exit status 1; nothing is half started.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "config.h"
#include "evlog.h"
#include "metricsd.h"
#include "milter.h"
#include "runtime.h"
#include "session.h"
#include "util/msg.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION	"unknown"
#endif

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: sessguard [-c FILE] [-p SOCKET] [-f] [-n] [-V] [-h]\n"
	    "  -c FILE    configuration file (default %s if it exists)\n"
	    "  -p SOCKET  milter socket: unix:/path, local:/path, inet:PORT@HOST,\n"
	    "             inet6:PORT@HOST (overrides 'socket')\n"
	    "  -f         stay in the foreground; log to stderr unless 'log' is set\n"
	    "  -n         check the configuration, print it, and exit\n"
	    "  -V         print the version and exit\n"
	    "  -h         print this help and exit\n",
	    SG_DEFAULT_CONFIG);
}

/* The path of a unix:/local: socket, or NULL for inet sockets. */
static const char *
unix_path(const char *sock)
{
	if (strncmp(sock, "unix:", 5) == 0)
		return sock + 5;
	if (strncmp(sock, "local:", 6) == 0)
		return sock + 6;
	return NULL;
}

/*
 * Makes way for the unix socket: a stale socket (nobody answers) is
 * removed; a live one, or anything that is not a socket, stops us.
 */
static void
prepare_unix_socket(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	char	buf[sizeof(sun.sun_path)], *dir;
	int	fd;

	snprintf(buf, sizeof(buf), "%s", path);
	dir = dirname(buf);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		msg_fatal("socket unix:%s: directory %s does not exist "
		    "(create it, or choose another socket with -p)", path, dir);
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return;
		msg_fatal("socket unix:%s: %s", path, strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		msg_fatal("socket unix:%s: exists and is not a socket; "
		    "not touching it", path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
		msg_fatal("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		msg_fatal("socket unix:%s is in use by a running filter", path);
	close(fd);
	if (unlink(path) < 0)
		msg_fatal("cannot remove stale socket %s: %s", path,
		    strerror(errno));
	msg_info("removed stale socket %s", path);
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

/* The user and group to become; uid 0 and no change when none is set. */
struct identity {
	int	 change;
	uid_t	 uid;
	gid_t	 gid;
	char	*name;
};

static void
lookup_identity(const struct sg_config *cfg, struct identity *id)
{
	struct passwd *pw;
	struct group *gr;

	memset(id, 0, sizeof(*id));
	if (cfg->user == NULL && cfg->group == NULL)
		return;
	if (getuid() != 0 && geteuid() != 0)
		msg_fatal("user/group are set, but sessguard was not started "
		    "as root: cannot change identity");
	id->change = 1;
	id->uid = getuid();
	id->gid = getgid();
	if (cfg->user) {
		if ((pw = getpwnam(cfg->user)) == NULL)
			msg_fatal("user %s: no such user", cfg->user);
		id->uid = pw->pw_uid;
		id->gid = pw->pw_gid;
		id->name = cfg->user;
	}
	if (cfg->group) {
		if ((gr = getgrnam(cfg->group)) == NULL)
			msg_fatal("group %s: no such group", cfg->group);
		id->gid = gr->gr_gid;
	}
}

static void
drop_privileges(const struct identity *id)
{
	if (!id->change)
		return;
	if (id->name ? initgroups(id->name, id->gid) < 0
	    : setgroups(1, &id->gid) < 0)
		msg_fatal("setgroups: %s", strerror(errno));
	if (setgid(id->gid) < 0)
		msg_fatal("setgid(%u): %s", (unsigned)id->gid, strerror(errno));
	if (setuid(id->uid) < 0)
		msg_fatal("setuid(%u): %s", (unsigned)id->uid, strerror(errno));
	if (id->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		msg_fatal("could regain root after dropping privileges");
}

/*
 * Opens and locks the pidfile before detaching (the flock survives the
 * fork), so that a second instance is refused on the terminal.
 */
static int
lock_pidfile(const char *path)
{
	char	buf[32];
	ssize_t	n;
	int	fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0)
		msg_fatal("pidfile %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			msg_fatal("pidfile %s: lock: %s", path, strerror(errno));
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		msg_fatal("pidfile %s is locked: sessguard is already running "
		    "(pid %s)", path, buf[0] ? buf : "unknown");
	}
	return fd;
}

static void
write_pidfile(int fd, const char *path)
{
	char	buf[32];
	int	len;

	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len)
		msg_fatal("pidfile %s: write: %s", path, strerror(errno));
}

/* Detaches from the terminal: two forks, a new session, stdio on /dev/null. */
static void
detach(void)
{
	pid_t	pid;
	int	fd;

	if ((pid = fork()) < 0)
		msg_fatal("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		msg_fatal("setsid: %s", strerror(errno));
	if ((pid = fork()) < 0)
		msg_fatal("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		msg_fatal("chdir /: %s", strerror(errno));
	if ((fd = open("/dev/null", O_RDWR)) < 0)
		msg_fatal("/dev/null: %s", strerror(errno));
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	msg_to_syslog(1);
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

static void
start_reload_thread(void)
{
	static sigset_t set;
	sigset_t block;
	pthread_t th;
	int	rc;

	/*
	 * Blocked before any thread starts, so every thread inherits the
	 * mask: SIGUSR1 reaches only this thread's sigwait(), and SIGHUP,
	 * SIGTERM and SIGINT only libmilter's signal thread.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	block = set;
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	if ((rc = pthread_sigmask(SIG_BLOCK, &block, NULL)) != 0)
		msg_fatal("pthread_sigmask: %s", strerror(rc));
	if ((rc = pthread_create(&th, NULL, reload_thread, &set)) != 0)
		msg_fatal("pthread_create: %s", strerror(rc));
	pthread_detach(th);
}

/* Gives the log files to the user the daemon becomes, for reopening. */
static void
chown_logs(const struct sg_config *cfg, const struct identity *id)
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
	struct identity id;
	const char *cfgpath = NULL, *sockopt = NULL, *upath;
	char	err[1024];
	char	*sockpath = NULL, *pidpath = NULL;
	mode_t	 oldmask;
	int	c, foreground = 0, check = 0, rc, pidfd = -1;

	msg_init("sessguard", 0);
	opterr = 0;
	while ((c = getopt(argc, argv, ":c:p:fnVh")) != -1) {
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

	lookup_identity(cfg, &id);
	if ((log = evlog_open(cfg, foreground, err, sizeof(err))) == NULL)
		msg_fatal("%s", err);
	chown_logs(cfg, &id);
	session_ids_init();
	if (cfg->pidfile)
		pidfd = lock_pidfile(cfg->pidfile);
	if (metricsd_open(cfg, id.change ? id.uid : (uid_t)-1, id.gid, err,
	    sizeof(err)) < 0)
		msg_fatal("%s", err);

	if ((upath = unix_path(cfg->socket)) != NULL)
		prepare_unix_socket(upath);
	if (smfi_setconn(cfg->socket) != MI_SUCCESS)
		msg_fatal("socket %s: smfi_setconn failed", cfg->socket);
	if (cfg->milter_timeout > 0)
		smfi_settimeout(cfg->milter_timeout);
	if (milter_register() != MI_SUCCESS)
		msg_fatal("smfi_register failed");
	/* the socket is born with its mode: no moment with another one */
	oldmask = umask(~cfg->socket_mode & 0777);
	if (smfi_opensocket(false) != MI_SUCCESS)
		msg_fatal("socket %s: cannot open (in use, or no permission)",
		    cfg->socket);
	umask(oldmask);
	if (upath && chmod(upath, cfg->socket_mode) < 0)
		msg_fatal("chmod %s: %s", upath, strerror(errno));
	if (upath && id.change && chown(upath, id.uid, id.gid) < 0)
		msg_fatal("chown %s: %s", upath, strerror(errno));

	if (!foreground)
		detach();
	if (pidfd >= 0)
		write_pidfile(pidfd, cfg->pidfile);
	drop_privileges(&id);
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
	runtime_init(cfg, log, cfgpath, sockopt);
	start_reload_thread();
	if (metricsd_start(err, sizeof(err)) < 0)
		msg_fatal("%s", err);
	rc = smfi_main();

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
	evlog_close(log);
	free(sockpath);
	free(pidpath);
	return 0;
}
