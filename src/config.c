/*
 * NAME
 *	config - the configuration key table, parser and snapshots
 * SYNOPSIS
 *	#include "config.h"
 *
 *	struct sg_config *config_defaults(err, errlen)
 *	struct sg_config *config_load(path, err, errlen)
 *	struct sg_config *config_load_string(name, text, err, errlen)
 *	int config_override(cfg, key, value, err, errlen)
 *	void config_free(cfg)
 *	void config_print(cfg, sb)
 *	void config_print_keys(sb)
 *	int config_show_key(cfg, key, sb)
 * DESCRIPTION
 *	One table (keys[] below) declares every key: its name, its default
 *	and a line of documentation, and the functions that set and show it.
 *	Defaults, parsing, the -n output and the key list of the man page all
 *	come from that table.
 *
 *	The file format is "key = value" lines. A '#' at the start of a line,
 *	or after white space, starts a comment. List values are separated by
 *	commas or white space; in a list of domains or networks an entry
 *	"file:/path" reads more entries from that file, one or more a line.
 *
 *	config_defaults() returns the built-in configuration. config_load()
 *	reads a file over the defaults; config_load_string() does the same for
 *	text in memory, named name in diagnostics. A snapshot is immutable once
 *	returned and is freed with config_free(); config_override() sets one
 *	key before the snapshot is put to use (the -p option).
 *
 *	config_print() writes the effective configuration as "key = value"
 *	lines that config_load() reads back to the same configuration.
 *	config_print_keys() writes "key default doc" lines from the table;
 *	config_show_key() the value of one key as config_print() shows it.
 * DIAGNOSTICS
 *	The loaders return NULL and put one message in err naming the file,
 *	line and key ("FILE:LINE: key: reason") on the first error; nothing is
 *	half applied. Unknown keys, bad values, control characters, lines
 *	longer than 64 KiB and unreadable files are errors.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "util/addr.h"

#define CONFIG_MAX_LINE		65536
#define CONFIG_MAX_INCLUDE	3

struct cfg_key {
	const char *name;
	const char *defval;
	const char *doc;
	int	(*set)(struct sg_config *, const struct cfg_key *, const char *,
		    char *, size_t);
	void	(*show)(const struct sg_config *, const struct cfg_key *,
		    struct strbuf *);
	size_t	 off;		/* offset of the field for generic setters */
};

#define FIELD(f)	offsetof(struct sg_config, f)
#define AT(cfg, k, type) ((type *)(void *)((char *)(cfg) + (k)->off))

static void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char *
xstrdup(const char *s, char *err, size_t errlen)
{
	char	*p = strdup(s);

	if (p == NULL)
		errf(err, errlen, "out of memory");
	return p;
}

/* Lists. */

static void
strlist_free(struct sg_strlist *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
strlist_add(struct sg_strlist *l, const char *s, size_t len)
{
	char	**v, *p;

	if ((p = malloc(len + 1)) == NULL)
		return -1;
	memcpy(p, s, len);
	p[len] = '\0';
	if ((v = realloc(l->v, (l->n + 1) * sizeof(*v))) == NULL) {
		free(p);
		return -1;
	}
	v[l->n++] = p;
	l->v = v;
	return 0;
}

static int
is_sep(int c)
{
	return c == ',' || c == ' ' || c == '\t';
}

static int split_into(struct sg_strlist *, const char *, int, char *, size_t);
static int parse_uint(const char *, unsigned long, unsigned long, int,
    unsigned long *);

/* Reads list entries from file:/path, one or more a line, # comments. */
static int
split_file(struct sg_strlist *l, const char *path, int depth, char *err,
    size_t errlen)
{
	FILE	*fp;
	char	*line = NULL, *hash;
	size_t	 cap = 0;
	ssize_t	 n;
	int	 lineno = 0, rc = 0;
	char	 sub[512];

	if (depth >= CONFIG_MAX_INCLUDE) {
		errf(err, errlen, "file:%s: nested too deeply", path);
		return -1;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		errf(err, errlen, "file:%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		line[strcspn(line, "\r\n")] = '\0';
		if (split_into(l, line, depth + 1, sub, sizeof(sub)) < 0) {
			errf(err, errlen, "%s:%d: %s", path, lineno, sub);
			rc = -1;
			break;
		}
	}
	free(line);
	fclose(fp);
	return rc;
}

static int
split_into(struct sg_strlist *l, const char *value, int depth, char *err,
    size_t errlen)
{
	const char *p = value, *start;
	char	path[PATH_MAX];

	for (;;) {
		while (*p && is_sep((unsigned char)*p))
			p++;
		if (*p == '\0')
			return 0;
		start = p;
		while (*p && !is_sep((unsigned char)*p))
			p++;
		if (depth >= 0 && (size_t)(p - start) > 5
		    && strncmp(start, "file:", 5) == 0) {
			if ((size_t)(p - start - 5) >= sizeof(path)) {
				errf(err, errlen, "file name too long");
				return -1;
			}
			memcpy(path, start + 5, (size_t)(p - start - 5));
			path[p - start - 5] = '\0';
			if (split_file(l, path, depth, err, errlen) < 0)
				return -1;
			continue;
		}
		if (strlist_add(l, start, (size_t)(p - start)) < 0) {
			errf(err, errlen, "out of memory");
			return -1;
		}
	}
}

static void
show_list(const struct sg_strlist *l, struct strbuf *sb)
{
	size_t	i;

	for (i = 0; i < l->n; i++) {
		if (i)
			strbuf_puts(sb, ", ");
		strbuf_puts(sb, l->v[i]);
	}
}

/* Setters and printers, one pair a value type. */

static int
set_string(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	char	**field = AT(cfg, k, char *);
	char	*p = NULL;

	if (*v && (p = xstrdup(v, err, errlen)) == NULL)
		return -1;
	free(*field);
	*field = p;
	return 0;
}

static void
show_string(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	char	*const *field = AT(cfg, k, char *const);

	if (*field)
		strbuf_puts(sb, *field);
}

/* Checks the socket syntax of libmilter (SPEC section 3). */
static int
check_socket(const char *v, char *err, size_t errlen)
{
	const char *rest;
	unsigned long port;

	if (strncmp(v, "unix:", 5) == 0 || strncmp(v, "local:", 6) == 0) {
		rest = strchr(v, ':') + 1;
		if (*rest != '/') {
			errf(err, errlen, "'%s': a unix socket needs an absolute path", v);
			return -1;
		}
		if (strlen(rest) >= 108) {
			errf(err, errlen, "'%s': socket path too long", v);
			return -1;
		}
	} else if (strncmp(v, "inet:", 5) == 0 || strncmp(v, "inet6:", 6) == 0) {
		rest = strchr(v, ':') + 1;
		if (!isdigit((unsigned char)*rest)) {
			errf(err, errlen, "'%s': expected inet:PORT@HOST", v);
			return -1;
		}
		port = 0;
		while (isdigit((unsigned char)*rest) && port <= 65535)
			port = port * 10 + (unsigned long)(*rest++ - '0');
		if (port < 1 || port > 65535) {
			errf(err, errlen, "'%s': port out of range", v);
			return -1;
		}
		if (*rest != '\0' && (*rest != '@' || rest[1] == '\0')) {
			errf(err, errlen, "'%s': expected inet:PORT@HOST", v);
			return -1;
		}
	} else {
		errf(err, errlen, "'%s': expected unix:/path, local:/path, "
		    "inet:PORT@HOST or inet6:PORT@HOST", v);
		return -1;
	}
	return 0;
}

/* The milter socket; "none" turns the milter listener off. */
static int
set_socket(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	if (strcmp(v, "none") != 0 && check_socket(v, err, errlen) < 0)
		return -1;
	return set_string(cfg, k, v, err, errlen);
}

/* The policy-delegation socket; empty turns it off. */
static int
set_listen(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	if (*v && check_socket(v, err, errlen) < 0)
		return -1;
	return set_string(cfg, k, v, err, errlen);
}

static int
set_session_idle(struct sg_config *cfg, const struct cfg_key *k,
    const char *v, char *err, size_t errlen)
{
	unsigned long n;

	(void)k;
	if (parse_uint(v, 1, 86400, 10, &n) < 0) {
		errf(err, errlen, "'%s': expected seconds from 1 to 86400", v);
		return -1;
	}
	cfg->policy_session_idle = (unsigned)n;
	return 0;
}

static void
show_session_idle(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	(void)k;
	strbuf_printf(sb, "%u", cfg->policy_session_idle);
}

static int
set_mode(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	(void)k;
	if (strcmp(v, "enforce") == 0)
		cfg->mode = MODE_ENFORCE;
	else if (strcmp(v, "monitor") == 0)
		cfg->mode = MODE_MONITOR;
	else {
		errf(err, errlen, "'%s': expected enforce or monitor", v);
		return -1;
	}
	return 0;
}

static void
show_mode(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	(void)k;
	strbuf_puts(sb, config_mode_name(cfg->mode));
}

static int
set_domains(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	struct sg_strlist *field = AT(cfg, k, struct sg_strlist), l = { 0 };
	const char *why;
	size_t	i;
	char	*p;

	if (split_into(&l, v, 0, err, errlen) < 0)
		goto bad;
	for (i = 0; i < l.n; i++) {
		for (p = l.v[i]; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (domain_valid(l.v[i], &why) < 0) {
			errf(err, errlen, "'%s': %s", l.v[i], why);
			goto bad;
		}
	}
	strlist_free(field);
	*field = l;
	return 0;
bad:
	strlist_free(&l);
	return -1;
}

static void
show_strlist(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	show_list(AT(cfg, k, const struct sg_strlist), sb);
}

static int
set_networks(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	struct sg_strlist l = { 0 };
	struct cidr *c = NULL;
	const char *why;
	size_t	i;

	(void)k;
	if (split_into(&l, v, 0, err, errlen) < 0)
		goto bad;
	if (l.n && (c = calloc(l.n, sizeof(*c))) == NULL) {
		errf(err, errlen, "out of memory");
		goto bad;
	}
	for (i = 0; i < l.n; i++) {
		if (cidr_parse(l.v[i], &c[i], &why) < 0) {
			errf(err, errlen, "'%s': %s", l.v[i], why);
			goto bad;
		}
	}
	strlist_free(&cfg->trusted_text);
	free(cfg->trusted);
	cfg->trusted_text = l;
	cfg->trusted = c;
	cfg->ntrusted = l.n;
	return 0;
bad:
	free(c);
	strlist_free(&l);
	return -1;
}

static int
set_reply(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	struct sg_reply r = { "", "", NULL };
	const char *p = v, *q;
	size_t	n;

	(void)k;
	if (!(p[0] == '5' && isdigit((unsigned char)p[1])
	    && isdigit((unsigned char)p[2]) && (p[3] == ' ' || p[3] == '\0'))) {
		errf(err, errlen, "'%s': must start with a 5xx reply code "
		    "(a refusal is permanent; use mode = monitor to try out)", v);
		return -1;
	}
	memcpy(r.code, p, 3);
	p += 3;
	while (*p == ' ')
		p++;
	/* optional enhanced status code, class matching the reply code */
	if (p[0] == '5' && p[1] == '.') {
		q = p + 2;
		for (n = 0; isdigit((unsigned char)*q); q++)
			n++;
		if (n < 1 || n > 3 || *q != '.')
			goto badx;
		q++;
		for (n = 0; isdigit((unsigned char)*q); q++)
			n++;
		if (n < 1 || n > 3 || (*q != ' ' && *q != '\0'))
			goto badx;
		memcpy(r.xcode, p, (size_t)(q - p));
		r.xcode[q - p] = '\0';
		p = q;
		while (*p == ' ')
			p++;
	} else if (isdigit((unsigned char)p[0]) && p[1] == '.') {
		goto badx;
	}
	if (*p == '\0') {
		errf(err, errlen, "'%s': the reply needs a text", v);
		return -1;
	}
	if (strlen(p) > 900) {
		errf(err, errlen, "reply text longer than 900 characters");
		return -1;
	}
	for (q = p; *q; q++) {
		if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e) {
			errf(err, errlen, "reply text must be printable ASCII");
			return -1;
		}
	}
	if ((r.text = xstrdup(p, err, errlen)) == NULL)
		return -1;
	free(cfg->relay_reply.text);
	cfg->relay_reply = r;
	return 0;
badx:
	errf(err, errlen, "'%s': bad enhanced status code (expected 5.X.Y)", v);
	return -1;
}

static void
show_reply(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	(void)k;
	strbuf_puts(sb, cfg->relay_reply.code);
	if (cfg->relay_reply.xcode[0])
		strbuf_printf(sb, " %s", cfg->relay_reply.xcode);
	strbuf_printf(sb, " %s", cfg->relay_reply.text);
}

static int
set_log(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	struct sg_strlist l = { 0 }, files = { 0 };
	int	sys = 0, std = 0;
	size_t	i;

	(void)k;
	if (split_into(&l, v, -1, err, errlen) < 0)
		goto bad;
	if (l.n == 0) {
		errf(err, errlen, "at least one of syslog, stderr, file:/path, "
		    "or none");
		goto bad;
	}
	for (i = 0; i < l.n; i++) {
		if (strcmp(l.v[i], "none") == 0 && l.n == 1)
			;
		else if (strcmp(l.v[i], "syslog") == 0)
			sys = 1;
		else if (strcmp(l.v[i], "stderr") == 0)
			std = 1;
		else if (strncmp(l.v[i], "file:", 5) == 0 && l.v[i][5] == '/') {
			if (strlist_add(&files, l.v[i] + 5, strlen(l.v[i] + 5)) < 0) {
				errf(err, errlen, "out of memory");
				goto bad;
			}
		} else {
			errf(err, errlen, "'%s': expected syslog, stderr, "
			    "file:/absolute/path, or none alone", l.v[i]);
			goto bad;
		}
	}
	strlist_free(&l);
	strlist_free(&cfg->log_files);
	cfg->log_files = files;
	cfg->log_syslog = sys;
	cfg->log_stderr = std;
	return 0;
bad:
	strlist_free(&l);
	strlist_free(&files);
	return -1;
}

static void
show_log(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	size_t	i;
	const char *sep = "";

	(void)k;
	if (cfg->log_syslog) {
		strbuf_puts(sb, "syslog");
		sep = ", ";
	}
	if (cfg->log_stderr) {
		strbuf_printf(sb, "%sstderr", sep);
		sep = ", ";
	}
	for (i = 0; i < cfg->log_files.n; i++) {
		strbuf_printf(sb, "%sfile:%s", sep, cfg->log_files.v[i]);
		sep = ", ";
	}
	if (*sep == '\0')
		strbuf_puts(sb, "none");
}

static int
set_log_level(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	(void)k;
	if (strcmp(v, "commands") == 0)
		cfg->log_level = LOG_LEVEL_COMMANDS;
	else if (strcmp(v, "decisions") == 0)
		cfg->log_level = LOG_LEVEL_DECISIONS;
	else {
		errf(err, errlen, "'%s': expected commands or decisions", v);
		return -1;
	}
	return 0;
}

static void
show_log_level(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	(void)k;
	strbuf_puts(sb, cfg->log_level == LOG_LEVEL_COMMANDS ?
	    "commands" : "decisions");
}

static int
parse_uint(const char *v, unsigned long min, unsigned long max, int base,
    unsigned long *out)
{
	char	*end;
	unsigned long n;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	n = strtoul(v, &end, base);
	if (errno || *end != '\0' || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

static int
set_max_value(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	unsigned long n;

	(void)k;
	if (parse_uint(v, 16, 65536, 10, &n) < 0) {
		errf(err, errlen, "'%s': expected a number of bytes "
		    "from 16 to 65536", v);
		return -1;
	}
	cfg->log_max_value = n;
	return 0;
}

static void
show_max_value(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	(void)k;
	strbuf_printf(sb, "%zu", cfg->log_max_value);
}

static const struct {
	const char *name;
	int	 code;
} facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

static int
set_facility(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	size_t	i;

	(void)k;
	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
		if (strcmp(v, facilities[i].name) == 0) {
			cfg->syslog_facility = facilities[i].code;
			return 0;
		}
	}
	errf(err, errlen, "'%s': expected mail, daemon, user, auth, authpriv "
	    "or local0 to local7", v);
	return -1;
}

static void
show_facility(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	size_t	i;

	(void)k;
	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (facilities[i].code == cfg->syslog_facility)
			strbuf_puts(sb, facilities[i].name);
}

static int
set_name(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	const char *p;

	for (p = v; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-'
		    && *p != '.') {
			errf(err, errlen, "'%s': not a valid user or group name", v);
			return -1;
		}
	}
	return set_string(cfg, k, v, err, errlen);
}

static int
set_path(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	if (*v && *v != '/') {
		errf(err, errlen, "'%s': expected an absolute path", v);
		return -1;
	}
	return set_string(cfg, k, v, err, errlen);
}

static int
set_socket_mode(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	unsigned long n;

	(void)k;
	if (parse_uint(v, 0, 0777, 8, &n) < 0) {
		errf(err, errlen, "'%s': expected an octal mode such as 0660", v);
		return -1;
	}
	cfg->socket_mode = (unsigned)n;
	return 0;
}

static void
show_socket_mode(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	(void)k;
	strbuf_printf(sb, "%04o", cfg->socket_mode);
}

static int
set_timeout(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	unsigned long n;

	(void)k;
	if (*v == '\0' || strcmp(v, "default") == 0) {
		cfg->milter_timeout = -1;
		return 0;
	}
	if (parse_uint(v, 1, 86400, 10, &n) < 0) {
		errf(err, errlen, "'%s': expected seconds from 1 to 86400, "
		    "or default", v);
		return -1;
	}
	cfg->milter_timeout = (int)n;
	return 0;
}

static void
show_timeout(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	(void)k;
	if (cfg->milter_timeout < 0)
		strbuf_puts(sb, "default");
	else
		strbuf_printf(sb, "%d", cfg->milter_timeout);
}

static int
set_bool(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	int	*field = AT(cfg, k, int);

	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0
	    || strcmp(v, "on") == 0 || strcmp(v, "1") == 0)
		*field = 1;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0
	    || strcmp(v, "off") == 0 || strcmp(v, "0") == 0)
		*field = 0;
	else {
		errf(err, errlen, "'%s': expected yes or no", v);
		return -1;
	}
	return 0;
}

static void
show_bool(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	strbuf_puts(sb, *AT(cfg, k, const int) ? "yes" : "no");
}

static int
set_authserv_id(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	char	host[256];
	const char *p;

	if (*v == '\0') {
		if (gethostname(host, sizeof(host)) < 0)
			strcpy(host, "localhost");
		host[sizeof(host) - 1] = '\0';
		v = host;
	}
	if (strlen(v) > 255) {
		errf(err, errlen, "longer than 255 characters");
		return -1;
	}
	for (p = v; *p; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p > 0x7e
		    || strchr(";()\"\\", *p)) {
			errf(err, errlen, "'%s': not a valid authserv-id", v);
			return -1;
		}
	}
	return set_string(cfg, k, v, err, errlen);
}

/* Metrics are served on loopback only: the counters tell who is refused. */
static int
set_metrics_listen(struct sg_config *cfg, const struct cfg_key *k,
    const char *v, char *err, size_t errlen)
{
	const char *rest, *at;
	struct ipaddr a;
	unsigned long port = 0;
	int	v6;

	cfg->metrics_port = 0;
	if (*v == '\0')
		return set_string(cfg, k, v, err, errlen);
	v6 = strncmp(v, "inet6:", 6) == 0;
	if (!v6 && strncmp(v, "inet:", 5) != 0) {
		errf(err, errlen, "'%s': expected inet:PORT@127.0.0.1 or "
		    "inet6:PORT@::1", v);
		return -1;
	}
	rest = v + (v6 ? 6 : 5);
	if ((at = strchr(rest, '@')) == NULL || at[1] == '\0') {
		errf(err, errlen, "'%s': needs a loopback address (inet:PORT@127.0.0.1 "
		    "or inet6:PORT@::1): metrics are served on loopback only", v);
		return -1;
	}
	if (!isdigit((unsigned char)*rest)) {
		errf(err, errlen, "'%s': expected a port number after '%s'", v,
		    v6 ? "inet6:" : "inet:");
		return -1;
	}
	while (isdigit((unsigned char)*rest) && port <= 65535)
		port = port * 10 + (unsigned long)(*rest++ - '0');
	if (rest != at || port < 1 || port > 65535) {
		errf(err, errlen, "'%s': expected a port from 1 to 65535 "
		    "before '@'", v);
		return -1;
	}
	if (ipaddr_parse(at + 1, &a) < 0 || a.family != (v6 ? AF_INET6 : AF_INET)) {
		errf(err, errlen, "'%s': '%s' is not a numeric IPv%c address",
		    v, at + 1, v6 ? '6' : '4');
		return -1;
	}
	if (v6 ? memcmp(a.bytes, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) != 0
	    : a.bytes[0] != 127) {
		errf(err, errlen, "'%s': %s is not a loopback address; metrics are "
		    "served on loopback only (127.0.0.0/8 or ::1)", v, at + 1);
		return -1;
	}
	if (set_string(cfg, k, v, err, errlen) < 0)
		return -1;
	cfg->metrics_addr = a;
	cfg->metrics_port = (unsigned)port;
	return 0;
}

static int
set_metrics_textfile(struct sg_config *cfg, const struct cfg_key *k,
    const char *v, char *err, size_t errlen)
{
	size_t	len = strlen(v);

	if (*v && *v != '/') {
		errf(err, errlen, "'%s': expected an absolute path", v);
		return -1;
	}
	if (*v && (len < 7 || strcmp(v + len - 5, ".prom") != 0
	    || v[len - 6] == '/')) {
		errf(err, errlen, "'%s': expected a file name ending in .prom (what "
		    "node_exporter's textfile collector reads)", v);
		return -1;
	}
	if (len + sizeof(".tmp") > PATH_MAX) {
		errf(err, errlen, "path too long");
		return -1;
	}
	return set_string(cfg, k, v, err, errlen);
}

static int
set_metrics_interval(struct sg_config *cfg, const struct cfg_key *k,
    const char *v, char *err, size_t errlen)
{
	unsigned long n;

	(void)k;
	if (parse_uint(v, 1, 3600, 10, &n) < 0) {
		errf(err, errlen, "'%s': expected seconds from 1 to 3600", v);
		return -1;
	}
	cfg->metrics_interval = (unsigned)n;
	return 0;
}

static void
show_metrics_interval(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	(void)k;
	strbuf_printf(sb, "%u", cfg->metrics_interval);
}

static int
set_pseudonymize(struct sg_config *cfg, const struct cfg_key *k,
    const char *v, char *err, size_t errlen)
{
	(void)k;
	if (strcmp(v, "no") == 0)
		cfg->log_pseudonymize = PSEUDO_OFF;
	else if (strcmp(v, "yes") == 0)
		cfg->log_pseudonymize = PSEUDO_FULL;
	else if (strcmp(v, "local-part") == 0)
		cfg->log_pseudonymize = PSEUDO_LOCAL_PART;
	else {
		errf(err, errlen, "'%s': expected no, yes or local-part", v);
		return -1;
	}
	return 0;
}

static void
show_pseudonymize(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	(void)k;
	strbuf_puts(sb, cfg->log_pseudonymize == PSEUDO_FULL ? "yes" :
	    cfg->log_pseudonymize == PSEUDO_LOCAL_PART ? "local-part" : "no");
}

static int
set_key_file(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	struct pseudo_key key = { NULL, 0 };

	if (*v && *v != '/') {
		errf(err, errlen, "'%s': expected an absolute path", v);
		return -1;
	}
	if (*v && pseudo_key_load(v, &key, err, errlen) < 0)
		return -1;
	if (set_string(cfg, k, v, err, errlen) < 0) {
		pseudo_key_free(&key);
		return -1;
	}
	pseudo_key_free(&cfg->log_key);
	cfg->log_key = key;
	return 0;
}

static const struct cfg_key keys[] = {
	{ "socket", "unix:/run/sessguard/sessguard.sock",
	  "where the MTA connects: unix:/path, local:/path, inet:PORT@HOST, inet6:PORT@HOST",
	  set_socket, show_string, FIELD(socket) },
	{ "policy_listen", "",
	  "Postfix policy-delegation socket: unix:/path, inet:PORT@HOST, inet6:PORT@HOST (empty: off)",
	  set_listen, show_string, FIELD(policy_listen) },
	{ "policy_session_idle", "300",
	  "seconds after which an idle policy session ends (1 to 86400)",
	  set_session_idle, show_session_idle, 0 },
	{ "mode", "enforce",
	  "enforce rejects refused relay attempts; monitor only logs would_reject",
	  set_mode, show_mode, 0 },
	{ "local_domains", "",
	  "domains delivered here; .example.com also matches subdomains",
	  set_domains, show_strlist, FIELD(local_domains) },
	{ "relay_domains", "",
	  "domains this host relays for anyone (backup MX); same syntax",
	  set_domains, show_strlist, FIELD(relay_domains) },
	{ "trusted_networks", "127.0.0.0/8, ::1/128",
	  "clients (IPv4/IPv6 CIDR) that may relay without authentication",
	  set_networks, show_strlist, FIELD(trusted_text) },
	{ "relay_reply", "554 5.7.1 Relay access denied",
	  "reply to a refused relay RCPT: 5xx code, enhanced code, text (%r: the reason)",
	  set_reply, show_reply, 0 },
	{ "log", "syslog",
	  "log destinations: syslog, stderr, file:/path (several allowed), or none",
	  set_log, show_log, 0 },
	{ "log_level", "commands",
	  "commands logs every event; decisions only connect, rcpt, anomaly, close",
	  set_log_level, show_log_level, 0 },
	{ "log_max_value", "512",
	  "longest value from the wire written to the log, in bytes",
	  set_max_value, show_max_value, 0 },
	{ "syslog_facility", "mail",
	  "syslog facility: mail, daemon, user, auth, authpriv, local0-local7",
	  set_facility, show_facility, 0 },
	{ "user", "",
	  "user to run as after opening the socket (empty: stay as started)",
	  set_name, show_string, FIELD(user) },
	{ "group", "",
	  "group to run as (empty: the user's primary group)",
	  set_name, show_string, FIELD(group) },
	{ "pidfile", "",
	  "file that holds the process id (empty: none)",
	  set_path, show_string, FIELD(pidfile) },
	{ "socket_mode", "0660",
	  "permissions of a unix socket",
	  set_socket_mode, show_socket_mode, 0 },
	{ "milter_timeout", "default",
	  "seconds libmilter waits on the MTA (default: libmilter's own)",
	  set_timeout, show_timeout, 0 },
	{ "auth_results", "no",
	  "add Authentication-Results for authenticated senders at end of message",
	  set_bool, show_bool, FIELD(auth_results) },
	{ "authserv_id", "",
	  "authserv-id of Authentication-Results (empty: the host name)",
	  set_authserv_id, show_string, FIELD(authserv_id) },
	{ "metrics_listen", "",
	  "Prometheus endpoint, loopback only: inet:PORT@127.0.0.1 or inet6:PORT@::1 (empty: off)",
	  set_metrics_listen, show_string, FIELD(metrics_listen) },
	{ "metrics_textfile", "",
	  "file for node_exporter's textfile collector, absolute, ending in .prom (empty: off)",
	  set_metrics_textfile, show_string, FIELD(metrics_textfile) },
	{ "metrics_interval", "15",
	  "seconds between writes of metrics_textfile (1 to 3600)",
	  set_metrics_interval, show_metrics_interval, 0 },
	{ "log_pseudonymize", "no",
	  "user names and addresses logged as keyed HMAC-SHA256 tokens: no, yes, local-part",
	  set_pseudonymize, show_pseudonymize, 0 },
	{ "log_key_file", "",
	  "secret key of log_pseudonymize, 16 to 4096 bytes, not readable by others",
	  set_key_file, show_string, FIELD(log_key_file) },
	{ "log_chain", "no",
	  "tamper-evident log: each line carries mac, an HMAC (log_key_file) chained over the lines",
	  set_bool, show_bool, FIELD(log_chain) },
};

#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

const char *
config_mode_name(enum sg_mode mode)
{
	return mode == MODE_MONITOR ? "monitor" : "enforce";
}

void
config_free(struct sg_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->source);
	free(cfg->socket);
	free(cfg->policy_listen);
	strlist_free(&cfg->local_domains);
	strlist_free(&cfg->relay_domains);
	strlist_free(&cfg->trusted_text);
	free(cfg->trusted);
	free(cfg->relay_reply.text);
	strlist_free(&cfg->log_files);
	free(cfg->user);
	free(cfg->group);
	free(cfg->pidfile);
	free(cfg->authserv_id);
	free(cfg->metrics_listen);
	free(cfg->metrics_textfile);
	free(cfg->log_key_file);
	pseudo_key_free(&cfg->log_key);
	free(cfg);
}

struct sg_config *
config_defaults(char *err, size_t errlen)
{
	struct sg_config *cfg;
	char	sub[512];
	size_t	i;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].set(cfg, &keys[i], keys[i].defval, sub, sizeof(sub)) < 0) {
			errf(err, errlen, "built-in default of %s: %s",
			    keys[i].name, sub);
			config_free(cfg);
			return NULL;
		}
	}
	return cfg;
}

static const struct cfg_key *
config_find(const char *name)
{
	size_t	i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Applies one line; returns 0, or -1 with err set (without file/line). */
static int
config_line(struct sg_config *cfg, char *line, char *err, size_t errlen)
{
	const struct cfg_key *k;
	char	*p, *name, *value, *end, sub[512];

	int	ctl = 0;

	for (p = line; *p; p++) {
		if (*p == '#' && (p == line || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			ctl = 1;
	}
	name = line + strspn(line, " \t");
	if (*name == '\0')
		return 0;
	p = name + strcspn(name, " \t=");
	end = p;
	p += strspn(p, " \t");
	if (*p != '=') {
		*end = '\0';
		if (ctl)
			errf(err, errlen, "control character in line");
		else
			errf(err, errlen, "%.64s: expected 'key = value'", name);
		return -1;
	}
	*end = '\0';
	if (ctl) {
		for (p = name; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		errf(err, errlen, "%.64s: control character in value", name);
		return -1;
	}
	value = p + 1 + strspn(p + 1, " \t");
	end = value + strlen(value);
	while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if ((k = config_find(name)) == NULL) {
		errf(err, errlen, "%.64s: unknown key", name);
		return -1;
	}
	if (*value == '#') {
		/* written back as "key = #..." it would read as a comment */
		errf(err, errlen, "%s: a value may not start with '#'", k->name);
		return -1;
	}
	if (k->set(cfg, k, value, sub, sizeof(sub)) < 0) {
		errf(err, errlen, "%s: %s", k->name, sub);
		return -1;
	}
	if (k->set == set_log)
		cfg->log_explicit = 1;
	return 0;
}

static int
no_listener(const struct sg_config *cfg)
{
	return strcmp(cfg->socket, "none") == 0 && cfg->policy_listen == NULL;
}

#define NO_LISTENER	"none turns the milter listener off and " \
	"policy_listen is empty: nothing would listen (set policy_listen, " \
	"or a milter socket)"

/* Checks between keys, once the whole file is read. */
static int
config_check(const struct sg_config *cfg, const char *name, char *err,
    size_t errlen)
{
	if (no_listener(cfg)) {
		errf(err, errlen, "%s:%d: socket: %s", name, cfg->socket_line,
		    NO_LISTENER);
		return -1;
	}
	if (cfg->log_pseudonymize != PSEUDO_OFF && cfg->log_key.len == 0) {
		errf(err, errlen, "%s:%d: log_pseudonymize: needs log_key_file",
		    name, cfg->pseudo_line);
		return -1;
	}
	if (cfg->log_chain && cfg->log_key.len == 0) {
		errf(err, errlen, "%s:%d: log_chain: needs log_key_file",
		    name, cfg->chain_line);
		return -1;
	}
	return 0;
}

struct sg_config *
config_load_string(const char *name, const char *text, char *err,
    size_t errlen)
{
	struct sg_config *cfg;
	const char *p = text, *nl, *next;
	char	*line, sub[700];
	size_t	len;
	int	lineno = 0;

	if ((cfg = config_defaults(err, errlen)) == NULL)
		return NULL;
	if ((cfg->source = xstrdup(name, err, errlen)) == NULL)
		goto bad;
	while (*p) {
		lineno++;
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		next = nl ? nl + 1 : p + len;	/* before the CR is dropped */
		if (len > CONFIG_MAX_LINE) {
			errf(err, errlen, "%s:%d: line longer than %d bytes",
			    name, lineno, CONFIG_MAX_LINE);
			goto bad;
		}
		if (len && p[len - 1] == '\r')
			len--;
		if ((line = malloc(len + 1)) == NULL) {
			errf(err, errlen, "%s: out of memory", name);
			goto bad;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		if (config_line(cfg, line, sub, sizeof(sub)) < 0) {
			free(line);
			errf(err, errlen, "%s:%d: %s", name, lineno, sub);
			goto bad;
		}
		if (strncmp(line + strspn(line, " \t"), "log_pseudonymize", 16) == 0)
			cfg->pseudo_line = lineno;
		if (strncmp(line + strspn(line, " \t"), "log_chain", 9) == 0)
			cfg->chain_line = lineno;
		if (strncmp(line + strspn(line, " \t"), "socket", 6) == 0
		    && strchr(" \t=", line[strspn(line, " \t") + 6]))
			cfg->socket_line = lineno;
		free(line);
		p = next;
	}
	if (config_check(cfg, name, err, errlen) < 0)
		goto bad;
	return cfg;
bad:
	config_free(cfg);
	return NULL;
}

struct sg_config *
config_load(const char *path, char *err, size_t errlen)
{
	struct sg_config *cfg;
	FILE	*fp;
	char	*text = NULL;
	size_t	 len = 0, cap = 0, n;

	if ((fp = fopen(path, "r")) == NULL) {
		errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - len < 4096) {
			char	*p;

			if (cap > 16 * 1024 * 1024) {
				errf(err, errlen, "%s: file too large", path);
				goto bad;
			}
			cap = cap ? cap * 2 : 8192;
			if ((p = realloc(text, cap)) == NULL) {
				errf(err, errlen, "%s: out of memory", path);
				goto bad;
			}
			text = p;
		}
		n = fread(text + len, 1, cap - len - 1, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		errf(err, errlen, "%s: read error: %s", path, strerror(errno));
		goto bad;
	}
	if (memchr(text, '\0', len) != NULL) {
		errf(err, errlen, "%s: contains a NUL byte (not a text file)", path);
		goto bad;
	}
	text[len] = '\0';
	fclose(fp);
	cfg = config_load_string(path, text, err, errlen);
	free(text);
	return cfg;
bad:
	free(text);
	fclose(fp);
	return NULL;
}

void
config_print(const struct sg_config *cfg, struct strbuf *sb)
{
	size_t	i;

	for (i = 0; i < NKEYS; i++) {
		strbuf_printf(sb, "%s = ", keys[i].name);
		keys[i].show(cfg, &keys[i], sb);
		strbuf_putc(sb, '\n');
	}
}

int
config_show_key(const struct sg_config *cfg, const char *name,
    struct strbuf *sb)
{
	const struct cfg_key *k;

	if ((k = config_find(name)) == NULL)
		return -1;
	k->show(cfg, k, sb);
	return 0;
}

void
config_print_keys(struct strbuf *sb)
{
	size_t	i;

	for (i = 0; i < NKEYS; i++)
		strbuf_printf(sb, "%s\t%s\t%s\n", keys[i].name, keys[i].defval,
		    keys[i].doc);
}

int
config_override(struct sg_config *cfg, const char *name, const char *value,
    char *err, size_t errlen)
{
	const struct cfg_key *k;
	char	sub[512];

	if ((k = config_find(name)) == NULL) {
		errf(err, errlen, "%s: unknown key", name);
		return -1;
	}
	if ((k->set == set_socket ? strcmp(value, "none") == 0
	    : strcmp(cfg->socket, "none") == 0)
	    && (k->set == set_listen ? *value == '\0' : cfg->policy_listen == NULL)) {
		errf(err, errlen, "%s: %s", name, NO_LISTENER);
		return -1;
	}
	if (k->set(cfg, k, value, sub, sizeof(sub)) < 0) {
		errf(err, errlen, "%s: %s", name, sub);
		return -1;
	}
	return 0;
}
