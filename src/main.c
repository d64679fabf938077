/*
 * NAME
 *	main - command line and life cycle of the sessguard daemon
 * SYNOPSIS
 *	sessguard [-c FILE] [-p SOCKET] [-f] [-n] [-V] [-h]
 * DESCRIPTION
 *	Reads the configuration (-c FILE; else the default path if it exists;
 *	else the built-in defaults), opens the event log and the milter socket
 *	while messages still reach the terminal, detaches unless -f, and hands
 *	control to libmilter until SIGTERM or SIGINT, then exits 0.
 *
 *	-n checks the configuration, prints the effective one and exits 0, or
 *	1 with a message naming file, line and key.
 *
 *	A unix socket left by a crashed run is removed; one that still answers
 *	belongs to a running filter and is left alone (exit 1).
 * DIAGNOSTICS
 *	Every problem before the first connection is a message on stderr and
 *	exit status 1; nothing is half started.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "config.h"
#include "evlog.h"
#include "milter.h"
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

int
main(int argc, char **argv)
{
	struct sg_config *cfg;
	struct evlog *log;
	const char *cfgpath = NULL, *sockopt = NULL, *upath;
	char	err[1024];
	int	c, foreground = 0, check = 0, rc;

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

	if ((log = evlog_open(cfg, foreground, err, sizeof(err))) == NULL)
		msg_fatal("%s", err);
	session_ids_init();

	if ((upath = unix_path(cfg->socket)) != NULL)
		prepare_unix_socket(upath);
	if (smfi_setconn(cfg->socket) != MI_SUCCESS)
		msg_fatal("socket %s: smfi_setconn failed", cfg->socket);
	if (cfg->milter_timeout > 0)
		smfi_settimeout(cfg->milter_timeout);
	if (milter_register(cfg, log) != MI_SUCCESS)
		msg_fatal("smfi_register failed");
	if (smfi_opensocket(false) != MI_SUCCESS)
		msg_fatal("socket %s: cannot open (in use, or no permission)",
		    cfg->socket);
	if (upath && chmod(upath, cfg->socket_mode) < 0)
		msg_fatal("chmod %s: %s", upath, strerror(errno));

	if (!foreground) {
		if (daemon(0, 0) < 0)
			msg_fatal("daemon: %s", strerror(errno));
		msg_to_syslog(1);
	}
	msg_info("sessguard %s listening on %s, mode %s", PACKAGE_VERSION,
	    cfg->socket, config_mode_name(cfg->mode));

	rc = smfi_main();

	msg_info("sessguard stopping%s", rc == MI_SUCCESS ? "" :
	    " (libmilter reported a failure)");
	if (upath)
		unlink(upath);
	if (evlog_lost(log))
		msg_warn("%llu log lines were lost", evlog_lost(log));
	evlog_close(log);
	config_free(cfg);
	return 0;
}
