/*
 * NAME
 *	sessguard-probe - test an SMTP server for session bugs
 * SYNOPSIS
 *	sessguard-probe [-p PORT] [--starttls|--tls] [--user U --password-file F]
 *	    [--rcpt ADDR] [--sender ADDR] [--json] HOST
 * DESCRIPTION
 *	Connects to the SMTP server HOST and runs the checks of SPEC section
 *	9 (checks.c), each on its own connection, printing one outcome a
 *	check (report.c). The password comes from the file F, or from
 *	standard input for "-", never from the command line; its first line
 *	is the password. The environment variable SESSGUARD_PROBE_TIMEOUT
 *	sets the I/O timeout in seconds (default 20).
 *
 *	Nothing is delivered: no check sends DATA.
 * DIAGNOSTICS
 *	Usage errors and a server that cannot be used at all (no connection,
 *	no greeting, no STARTTLS under --starttls) are reported on stderr.
 *	Exit status 0 when no check failed, 1 when a check failed, 2 for a
 *	usage or connection error, or when the server refused the login
 *	(and nothing failed).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "probe/checks.h"
#include "probe/report.h"
#include "probe/sasl.h"
#include "probe/smtpio.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define PROBE_EXIT_FAIL		1
#define PROBE_EXIT_ERROR	2
#define PROBE_ADDR_MAX		254
#define PROBE_TIMEOUT		20

static const char probe_usage_text[] =
"usage: sessguard-probe [-p PORT] [--starttls|--tls]\n"
"                       [--user U --password-file F] [--rcpt ADDR]\n"
"                       [--sender ADDR] [--json] HOST\n"
"Checks the SMTP session semantics of HOST without delivering mail.\n"
"  -p PORT             port (default 25, with --tls 465)\n"
"  --starttls          STARTTLS before each check\n"
"  --tls               TLS from the start (implicit TLS, submissions)\n"
"  --user U            log in as U for the AUTH checks\n"
"  --password-file F   the password: first line of F, - for standard input\n"
"  --rcpt ADDR         a remote recipient (default sessguard-probe@example.net)\n"
"  --sender ADDR       the envelope sender (default: U if it is an address)\n"
"  --json              one JSON object a check\n"
"Exit: 0 nothing failed, 1 a check failed, 2 usage or connection error.\n";

enum {
	OPT_STARTTLS = 256, OPT_TLS, OPT_USER, OPT_PASSWORD_FILE, OPT_RCPT,
	OPT_SENDER, OPT_JSON,
};

static const struct option probe_longopts[] = {
	{"starttls", no_argument, NULL, OPT_STARTTLS},
	{"tls", no_argument, NULL, OPT_TLS},
	{"user", required_argument, NULL, OPT_USER},
	{"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
	{"rcpt", required_argument, NULL, OPT_RCPT},
	{"sender", required_argument, NULL, OPT_SENDER},
	{"json", no_argument, NULL, OPT_JSON},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static void probe_usage_error(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
probe_usage_error(const char *fmt, ...)
{
	va_list	ap;

	fputs("sessguard-probe: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'sessguard-probe --help'.\n", stderr);
	exit(PROBE_EXIT_ERROR);
}

/* An address goes into a command line: no space, CR, LF, <, > or NUL. */
static const char *
probe_address(const char *opt, const char *s)
{
	size_t	len = strlen(s);

	if (len == 0 || len > PROBE_ADDR_MAX || strpbrk(s, " \t\r\n<>") != NULL)
		probe_usage_error("%s: not a mail address without spaces or <> "
		    "of at most %d bytes", opt, PROBE_ADDR_MAX);
	return s;
}

/* The first line of the file, or of standard input for "-". */
static void
probe_read_password(const char *path, char *buf, size_t size)
{
	size_t	len = 0;
	ssize_t	n;
	int	fd;

	if (strcmp(path, "-") == 0)
		fd = 0;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		probe_usage_error("--password-file %s: %s", path, strerror(errno));
	while (len < size - 1) {
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			probe_usage_error("--password-file %s: %s", path,
			    strerror(errno));
		if (n == 0)
			break;
		if (memchr(buf + len, '\n', (size_t)n)) {
			len += (size_t)n;
			break;
		}
		len += (size_t)n;
	}
	if (fd != 0)
		close(fd);
	buf[len] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (strlen(buf) > SASL_PASS_MAX)
		probe_usage_error("--password-file %s: password longer than %d "
		    "bytes", path, SASL_PASS_MAX);
	if (buf[0] == '\0')
		probe_usage_error("--password-file %s: empty password", path);
}

static int
probe_timeout(void)
{
	const char *s = getenv("SESSGUARD_PROBE_TIMEOUT");
	char	*end;
	long	v;

	if (s == NULL || *s == '\0')
		return PROBE_TIMEOUT;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 1 || v > 3600)
		probe_usage_error("SESSGUARD_PROBE_TIMEOUT=%s: want seconds, "
		    "1 to 3600", s);
	return (int)v;
}

int
main(int argc, char **argv)
{
	static char password[SASL_PASS_MAX + 2];
	struct probe p;
	const char *pwfile = NULL;
	const struct check *ck;
	struct check_outcome o;
	struct smtp_conn conn;
	char	err[600];
	int	c, json = 0, failed = 0, rc;

	memset(&p, 0, sizeof(p));
	p.rcpt = "sessguard-probe@example.net";
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:hV", probe_longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			p.port = optarg;
			break;
		case OPT_STARTTLS:
		case OPT_TLS:
			if (p.tls != PROBE_TLS_NONE)
				probe_usage_error("--starttls and --tls exclude "
				    "each other");
			p.tls = c == OPT_TLS ? PROBE_TLS_IMPLICIT :
			    PROBE_TLS_STARTTLS;
			break;
		case OPT_USER:
			if (optarg[0] == '\0' || strlen(optarg) > SASL_USER_MAX)
				probe_usage_error("--user: empty or longer than "
				    "%d bytes", SASL_USER_MAX);
			p.user = optarg;
			break;
		case OPT_PASSWORD_FILE:
			pwfile = optarg;
			break;
		case OPT_RCPT:
			p.rcpt = probe_address("--rcpt", optarg);
			break;
		case OPT_SENDER:
			p.sender = probe_address("--sender", optarg);
			break;
		case OPT_JSON:
			json = 1;
			break;
		case 'h':
			fputs(probe_usage_text, stdout);
			return 0;
		case 'V':
			printf("sessguard-probe %s\n", PACKAGE_VERSION);
			return 0;
		case ':':
			probe_usage_error("option %s needs an argument",
			    argv[optind - 1]);
		default:
			probe_usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		probe_usage_error("want exactly one HOST");
	p.host = argv[optind];
	if ((p.user == NULL) != (pwfile == NULL))
		probe_usage_error("--user and --password-file go together");
	if (p.port == NULL)
		p.port = p.tls == PROBE_TLS_IMPLICIT ? "465" : "25";
	if (p.sender == NULL)
		p.sender = p.user && strchr(p.user, '@') ?
		    probe_address("--user (as sender)", p.user) :
		    "sessguard-probe@example.com";
	p.timeout = probe_timeout();
	if (pwfile) {
		probe_read_password(pwfile, password, sizeof(password));
		p.password = password;
	}

	signal(SIGPIPE, SIG_IGN);
	if ((p.ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		fputs("sessguard-probe: cannot set up TLS\n", stderr);
		return PROBE_EXIT_ERROR;
	}
	/* the probe tests session semantics, not certificates */
	SSL_CTX_set_verify(p.ssl_ctx, SSL_VERIFY_NONE, NULL);
	/* a server that dies mid-session: "connection closed", not an error */
	SSL_CTX_set_options(p.ssl_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);

	err[0] = '\0';
	if (probe_discover(&p, err, sizeof(err)) < 0) {
		fprintf(stderr, "sessguard-probe: %s\n", err);
		rc = PROBE_EXIT_ERROR;
		goto out;
	}
	if (p.login_refused)
		fprintf(stderr, "sessguard-probe: login refused, AUTH checks "
		    "skipped: %s\n", err);
	for (ck = checks_table; ck->name; ck++) {
		smtp_init(&conn, p.timeout);
		o.result = CHECK_SKIP;
		o.detail[0] = '\0';
		ck->run(&p, &conn, &o);
		if (conn.fd >= 0) {
			struct smtp_reply r;

			smtp_reply_init(&r);
			smtp_cmd(&conn, &r, "QUIT");
			smtp_reply_free(&r);
			smtp_close(&conn);
		}
		report_check(stdout, json, ck->name, &o, &conn.transcript);
		strbuf_free(&conn.transcript);
		if (o.result == CHECK_FAIL)
			failed = 1;
	}
	rc = failed ? PROBE_EXIT_FAIL : p.login_refused ? PROBE_EXIT_ERROR : 0;
	if (ferror(stdout) || fflush(stdout) != 0) {
		fprintf(stderr, "sessguard-probe: cannot write the report: %s\n",
		    strerror(errno));
		rc = PROBE_EXIT_ERROR;
	}
out:
	OPENSSL_cleanse(password, sizeof(password));
	SSL_CTX_free(p.ssl_ctx);
	return rc;
}
