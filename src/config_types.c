/*
 * NAME
 *	config_types - the value types of the configuration keys
 * SYNOPSIS
 *	#include "config_types.h"
#include "senderlogin.h"
 *
 *	const struct cfg_type cfg_string, cfg_uint, cfg_octal, cfg_size,
 *		cfg_timeout, cfg_bool, cfg_enum, cfg_domains, cfg_networks,
 *		cfg_reply, cfg_log, cfg_hostname, cfg_loopback, cfg_key_file,
 *		cfg_sender_map, cfg_rate, cfg_exempt, cfg_password_file
 *
 *	int cfg_check_socket(value, err, errlen)
 *	int cfg_check_socket_or_none(value, err, errlen)
 *	int cfg_check_listen(value, err, errlen)
 *	int cfg_check_name(value, err, errlen)
 *	int cfg_check_path(value, err, errlen)
 *	int cfg_check_prom(value, err, errlen)
 *	int cfg_check_store(value, err, errlen)
 * DESCRIPTION
 *	One setter and one printer a value type, driven by the fields of
 *	the key (struct cfg_key in config.c's table), as Postfix's
 *	CONFIG_INT_TABLE and friends are: the field's offset, the bounds of
 *	a number, the words of an enumeration, the check of a string.
 *
 *	cfg_string: text, empty is NULL, checked by the key's check
 *	function. cfg_uint, cfg_octal (printed %04o), cfg_size (a size_t):
 *	numbers from min to max. cfg_timeout: an int from min to max, or
 *	"default" (or empty) for -1. cfg_bool: yes/no, true/false, on/off,
 *	1/0. cfg_enum: one of the key's names. cfg_domains and cfg_networks:
 *	lists, separated by commas or white space, where "file:/path" reads
 *	more entries from that file with the reader of the configuration
 *	file (util/linefile), three levels deep; a domain list is lowercased
 *	and also hashed into list->set (domain_set_add()), trusted_networks
 *	into cfg->trusted_set (util/cidrset), once, so that the decision
 *	costs the same for 10 entries as for 100,000. cfg_reply: a permanent
 *	SMTP reply (relay_reply, sender_reply) into the struct sg_reply at
 *	the key's field. cfg_sender_map: sender_login_maps, the text at the
 *	key's field and the map, loaded (senderlogin.c) into
 *	cfg->sender_login_map with the snapshot, so a reload reloads it.
 *	cfg_log: log destinations. cfg_hostname: an
 *	authserv-id, empty is the host name. cfg_loopback: a loopback-only
 *	inet:PORT@ADDR endpoint (metrics_listen). cfg_key_file: a key file,
 *	loaded (log_key_file).
 *	cfg_rate: a rate limit N/PERIOD (struct sg_rate; empty is off),
 *	printed in the largest unit that divides the period. cfg_exempt:
 *	limit_exempt, addresses and CIDR blocks into cfg->limit_exempt_nets,
 *	the other entries (logins) into cfg->limit_exempt_logins.
 *	cfg_password_file: limit_store_password_file, whose first line is
 *	kept in cfg->limit_store_password; a file readable by others is
 *	refused. cfg_reply: the class of the code is 5, or 4 when the key's
 *	min is 4 (limit_reply).
 *
 *	The check functions validate a string value: the libmilter socket
 *	syntax, that syntax or "none", that syntax or empty, a user or
 *	group name, an absolute path, a .prom file, a limit_store.
 * DIAGNOSTICS
 *	Setters return 0, or -1 with a reason in err (without file, line or
 *	key) and the configuration unchanged.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_types.h"
#include "senderlogin.h"
#include "util/addr.h"
#include "util/cidrset.h"
#include "util/linefile.h"
#include "util/msg.h"
#include "util/strset.h"

#define AT(cfg, k, type) ((type *)(void *)((char *)(cfg) + (k)->off))

/* Lists. */

void
cfg_strlist_free(struct sg_strlist *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	strset_free(l->set);
	l->v = NULL;
	l->n = 0;
	l->set = NULL;
}

int
cfg_strlist_add(struct sg_strlist *l, const char *s, size_t len)
{
	char	**v, *p;

	if ((p = malloc(len + 1)) == NULL)
		return -1;
	memcpy(p, s, len);
	p[len] = '\0';
	/* the capacity is the next power of two: no realloc an entry */
	if ((l->n & (l->n - 1)) == 0) {
		if (l->n > SIZE_MAX / 2 / sizeof(*v)
		    || (v = realloc(l->v, (l->n ? l->n * 2 : 1) * sizeof(*v)))
		    == NULL) {
			free(p);
			return -1;
		}
		l->v = v;
	}
	l->v[l->n++] = p;
	return 0;
}

static int
is_sep(int c)
{
	return c == ',' || c == ' ' || c == '\t';
}

static int split_into(struct sg_strlist *, const char *, int, char *, size_t);

struct include {
	struct sg_strlist *list;
	int	 depth;
};

/* One line of an included file: as a line of the main file is read. */
static int
include_line(void *ctx, char *line, int lineno, int ctl, char *err,
    size_t errlen)
{
	struct include *inc = ctx;

	(void)lineno;
	if (ctl) {
		errf(err, errlen, "control character in line");
		return -1;
	}
	return split_into(inc->list, line, inc->depth + 1, err, errlen);
}

/* Splits a list value; depth < 0: "file:" is an entry, not an include. */
static int
split_into(struct sg_strlist *l, const char *value, int depth, char *err,
    size_t errlen)
{
	const char *p = value, *start;
	char	path[PATH_MAX];
	struct include inc = { l, depth };

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
			if (depth >= CFG_MAX_INCLUDE) {
				errf(err, errlen, "file:%s: nested too deeply", path);
				return -1;
			}
			if (linefile_read(path, include_line, &inc, err, errlen) < 0)
				return -1;
			continue;
		}
		if (cfg_strlist_add(l, start, (size_t)(p - start)) < 0) {
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

/* Strings. */

static int
set_string(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	char	**field = AT(cfg, k, char *);
	char	*p = NULL;

	if (k->check && k->check(v, err, errlen) < 0)
		return -1;
	if (*v && (p = strdup(v)) == NULL) {
		errf(err, errlen, "out of memory");
		return -1;
	}
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

const struct cfg_type cfg_string = { set_string, show_string };

/* The socket syntax of libmilter (SPEC section 3). */
int
cfg_check_socket(const char *v, char *err, size_t errlen)
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

int
cfg_check_socket_or_none(const char *v, char *err, size_t errlen)
{
	return strcmp(v, "none") == 0 ? 0 : cfg_check_socket(v, err, errlen);
}

int
cfg_check_listen(const char *v, char *err, size_t errlen)
{
	return *v == '\0' ? 0 : cfg_check_socket(v, err, errlen);
}

int
cfg_check_name(const char *v, char *err, size_t errlen)
{
	const char *p;

	for (p = v; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-'
		    && *p != '.') {
			errf(err, errlen, "'%s': not a valid user or group name", v);
			return -1;
		}
	}
	return 0;
}

int
cfg_check_path(const char *v, char *err, size_t errlen)
{
	if (*v && *v != '/') {
		errf(err, errlen, "'%s': expected an absolute path", v);
		return -1;
	}
	return 0;
}

int
cfg_check_prom(const char *v, char *err, size_t errlen)
{
	size_t	len = strlen(v);

	if (cfg_check_path(v, err, errlen) < 0)
		return -1;
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
	return 0;
}

/* The authserv-id of Authentication-Results; empty: the host name. */
static int
set_hostname(struct sg_config *cfg, const struct cfg_key *k, const char *v,
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

const struct cfg_type cfg_hostname = { set_hostname, show_string };

/* Metrics are served on loopback only: the counters tell who is refused. */
static int
set_loopback(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
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

const struct cfg_type cfg_loopback = { set_loopback, show_string };

static int
set_key_file(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	struct pseudo_key key = { NULL, 0 };

	if (cfg_check_path(v, err, errlen) < 0)
		return -1;
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

const struct cfg_type cfg_key_file = { set_key_file, show_string };

/* Numbers. */

static int
parse_uint(const char *v, const struct cfg_key *k, int base,
    unsigned long *out, char *err, size_t errlen)
{
	char	*end;
	unsigned long n;

	errno = 0;
	if (isdigit((unsigned char)*v)) {
		n = strtoul(v, &end, base);
		if (errno == 0 && *end == '\0' && n >= k->min && n <= k->max) {
			*out = n;
			return 0;
		}
	}
	errf(err, errlen, "'%s': expected %s", v, k->hint);
	return -1;
}

static int
set_uint(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	unsigned long n;

	if (parse_uint(v, k, 10, &n, err, errlen) < 0)
		return -1;
	*AT(cfg, k, unsigned) = (unsigned)n;
	return 0;
}

static void
show_uint(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	strbuf_printf(sb, "%u", *AT(cfg, k, const unsigned));
}

const struct cfg_type cfg_uint = { set_uint, show_uint };

static int
set_octal(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	unsigned long n;

	if (parse_uint(v, k, 8, &n, err, errlen) < 0)
		return -1;
	*AT(cfg, k, unsigned) = (unsigned)n;
	return 0;
}

static void
show_octal(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	strbuf_printf(sb, "%04o", *AT(cfg, k, const unsigned));
}

const struct cfg_type cfg_octal = { set_octal, show_octal };

static int
set_size(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	unsigned long n;

	if (parse_uint(v, k, 10, &n, err, errlen) < 0)
		return -1;
	*AT(cfg, k, size_t) = n;
	return 0;
}

static void
show_size(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	strbuf_printf(sb, "%zu", *AT(cfg, k, const size_t));
}

const struct cfg_type cfg_size = { set_size, show_size };

/* Seconds, or "default" (-1): the other party's own value. */
static int
set_timeout(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	unsigned long n;

	if (*v == '\0' || strcmp(v, "default") == 0) {
		*AT(cfg, k, int) = -1;
		return 0;
	}
	if (parse_uint(v, k, 10, &n, err, errlen) < 0)
		return -1;
	*AT(cfg, k, int) = (int)n;
	return 0;
}

static void
show_timeout(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	int	n = *AT(cfg, k, const int);

	if (n < 0)
		strbuf_puts(sb, "default");
	else
		strbuf_printf(sb, "%d", n);
}

const struct cfg_type cfg_timeout = { set_timeout, show_timeout };

/* Words. */

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

const struct cfg_type cfg_bool = { set_bool, show_bool };

/* An enum field: the table's enums all have the size of an int. */
static int
set_enum(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	const struct cfg_name *n;

	for (n = k->names; n->name; n++) {
		if (strcmp(v, n->name) == 0) {
			*AT(cfg, k, int) = n->value;
			return 0;
		}
	}
	errf(err, errlen, "'%s': expected %s", v, k->hint);
	return -1;
}

static void
show_enum(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	const struct cfg_name *n;

	for (n = k->names; n->name; n++) {
		if (n->value == *AT(cfg, k, const int)) {
			strbuf_puts(sb, n->name);
			return;
		}
	}
}

const struct cfg_type cfg_enum = { set_enum, show_enum };

/* Lists of domains and networks. */

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
	if (l.n && (l.set = strset_create(l.n, STRSET_ICASE)) == NULL)
		goto nomem;
	for (i = 0; i < l.n; i++) {
		for (p = l.v[i]; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (domain_valid(l.v[i], &why) < 0) {
			errf(err, errlen, "'%s': %s", l.v[i], why);
			goto bad;
		}
		if (domain_set_add(l.set, l.v[i]) < 0)
			goto nomem;
	}
	cfg_strlist_free(field);
	*field = l;
	return 0;
nomem:
	errf(err, errlen, "out of memory");
bad:
	cfg_strlist_free(&l);
	return -1;
}

static void
show_strlist(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	show_list(AT(cfg, k, const struct sg_strlist), sb);
}

const struct cfg_type cfg_domains = { set_domains, show_strlist };

/* trusted_networks: the text for -n at the key's field, and the blocks. */
static int
set_networks(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	struct sg_strlist l = { 0 };
	struct cidr *c = NULL;
	struct cidrset *set = NULL;
	const char *why;
	size_t	i;

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
	if (l.n && (set = cidrset_create(c, l.n)) == NULL) {
		errf(err, errlen, "out of memory");
		goto bad;
	}
	cfg_strlist_free(AT(cfg, k, struct sg_strlist));
	free(cfg->trusted);
	cidrset_free(cfg->trusted_set);
	*AT(cfg, k, struct sg_strlist) = l;
	cfg->trusted = c;
	cfg->ntrusted = l.n;
	cfg->trusted_set = set;
	return 0;
bad:
	free(c);
	cfg_strlist_free(&l);
	return -1;
}

const struct cfg_type cfg_networks = { set_networks, show_strlist };

/*
 * A reply "Cxx [C.X.Y] text" at the key's field: class C is 5 (relay_reply,
 * sender_reply), or 4 when the key's min is 4 (limit_reply, a temporary
 * refusal).
 */
static int
set_reply(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	struct sg_reply r = { "", "", NULL }, *field = AT(cfg, k, struct sg_reply);
	const char *p = v, *q;
	char	cls = k->min == 4 ? '4' : '5';
	size_t	n;

	if (!(p[0] == cls && isdigit((unsigned char)p[1])
	    && isdigit((unsigned char)p[2]) && (p[3] == ' ' || p[3] == '\0'))) {
		if (cls == '5')
			errf(err, errlen, "'%s': must start with a 5xx reply code "
			    "(a refusal is permanent; use mode = monitor to try out)", v);
		else
			errf(err, errlen, "'%s': must start with a 4xx reply code "
			    "(a rate limit is temporary; limit_action = monitor "
			    "only logs)", v);
		return -1;
	}
	memcpy(r.code, p, 3);
	p += 3;
	while (*p == ' ')
		p++;
	/* optional enhanced status code, class matching the reply code */
	if (p[0] == cls && p[1] == '.') {
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
	if ((r.text = strdup(p)) == NULL) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	free(field->text);
	*field = r;
	return 0;
badx:
	errf(err, errlen, "'%s': bad enhanced status code (expected %c.X.Y)", v,
	    cls);
	return -1;
}

static void
show_reply(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	const struct sg_reply *r = AT(cfg, k, const struct sg_reply);

	strbuf_puts(sb, r->code);
	if (r->xcode[0])
		strbuf_printf(sb, " %s", r->xcode);
	strbuf_printf(sb, " %s", r->text);
}

const struct cfg_type cfg_reply = { set_reply, show_reply };

/* sender_login_maps: file:/path or cdb:/path, loaded now; empty: none. */
static int
set_sender_map(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	struct senderlogin_map *m = NULL;

	if (*v && (m = senderlogin_map_load(v, err, errlen)) == NULL)
		return -1;
	if (set_string(cfg, k, v, err, errlen) < 0) {
		senderlogin_map_free(m);
		return -1;
	}
	senderlogin_map_free(cfg->sender_login_map);
	cfg->sender_login_map = m;
	return 0;
}

const struct cfg_type cfg_sender_map = { set_sender_map, show_string };

/* log: syslog, stderr, file:/path (several), or none alone. */
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
			if (cfg_strlist_add(&files, l.v[i] + 5,
			    strlen(l.v[i] + 5)) < 0) {
				errf(err, errlen, "out of memory");
				goto bad;
			}
		} else {
			errf(err, errlen, "'%s': expected syslog, stderr, "
			    "file:/absolute/path, or none alone", l.v[i]);
			goto bad;
		}
	}
	cfg_strlist_free(&l);
	cfg_strlist_free(&cfg->log_files);
	cfg->log_files = files;
	cfg->log_syslog = sys;
	cfg->log_stderr = std;
	return 0;
bad:
	cfg_strlist_free(&l);
	cfg_strlist_free(&files);
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

const struct cfg_type cfg_log = { set_log, show_log };

/* Rate limits (SPEC section 8): "N/PERIOD", PERIOD [count]s|m|h|d. */

#define RATE_MAX_N	1000000000UL
#define RATE_MAX_PERIOD	(366UL * 86400)

static int
set_rate(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	struct sg_rate r = { 0, 0 };
	unsigned long n = 0, count = 0, unit;
	const char *p = v;

	if (*v == '\0')
		goto done;
	if (!isdigit((unsigned char)*p))
		goto bad;
	while (isdigit((unsigned char)*p) && n <= RATE_MAX_N)
		n = n * 10 + (unsigned long)(*p++ - '0');
	if (n < 1 || n > RATE_MAX_N || *p++ != '/')
		goto bad;
	if (!isdigit((unsigned char)*p))
		count = 1;
	while (isdigit((unsigned char)*p) && count <= RATE_MAX_PERIOD)
		count = count * 10 + (unsigned long)(*p++ - '0');
	switch (*p) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		goto bad;
	}
	if (p[1] != '\0' || count < 1 || count > RATE_MAX_PERIOD / unit)
		goto bad;
	/* the counters keep time in microseconds */
	if (n > count * unit * 1000000UL) {
		errf(err, errlen, "'%s': more than one a microsecond, which the "
		    "counters (kept in microseconds) cannot tell apart", v);
		return -1;
	}
	r.max = n;
	r.period_s = count * unit;
done:
	*AT(cfg, k, struct sg_rate) = r;
	return 0;
bad:
	errf(err, errlen, "'%s': expected N/PERIOD, N from 1 to %lu, PERIOD a "
	    "number of s, m, h or d up to 366d (e.g. 100/1h, 20/10m), or empty "
	    "for off", v, RATE_MAX_N);
	return -1;
}

/* Printed in the largest unit that divides it: 3600 is 1h, 90 is 90s. */
static void
show_rate(const struct sg_config *cfg, const struct cfg_key *k,
    struct strbuf *sb)
{
	const struct sg_rate *r = AT(cfg, k, const struct sg_rate);
	unsigned long p = r->period_s;

	if (r->max == 0)
		return;
	if (p % 86400 == 0)
		strbuf_printf(sb, "%lu/%lud", r->max, p / 86400);
	else if (p % 3600 == 0)
		strbuf_printf(sb, "%lu/%luh", r->max, p / 3600);
	else if (p % 60 == 0)
		strbuf_printf(sb, "%lu/%lum", r->max, p / 60);
	else
		strbuf_printf(sb, "%lu/%lus", r->max, p);
}

const struct cfg_type cfg_rate = { set_rate, show_rate };

/*
 * limit_exempt: entries that read as an IPv4 or IPv6 address or CIDR block
 * are networks (cfg->limit_exempt_nets), the others logins
 * (cfg->limit_exempt_logins, compared without regard to case).
 */
static int
set_exempt(struct sg_config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	struct sg_strlist l = { 0 };
	struct cidr *c = NULL;
	struct cidrset *nets = NULL;
	struct strset *logins = NULL;
	struct ipaddr a;
	const char *why;
	char	buf[80];
	size_t	i, nc = 0;

	if (split_into(&l, v, 0, err, errlen) < 0)
		goto bad;
	if (l.n && ((c = calloc(l.n, sizeof(*c))) == NULL
	    || (logins = strset_create(l.n, STRSET_ICASE)) == NULL))
		goto nomem;
	for (i = 0; i < l.n; i++) {
		/* after a separator '#' starts a comment: -n could not print it */
		if (l.v[i][0] == '#') {
			errf(err, errlen, "'%s': an entry may not start with '#'",
			    l.v[i]);
			goto bad;
		}
		snprintf(buf, sizeof(buf), "%s", l.v[i]);
		buf[strcspn(buf, "/")] = '\0';
		if (strlen(l.v[i]) < sizeof(buf) && ipaddr_parse(buf, &a) == 0) {
			if (cidr_parse(l.v[i], &c[nc], &why) < 0) {
				errf(err, errlen, "'%s': %s", l.v[i], why);
				goto bad;
			}
			nc++;
		} else if (strset_add(logins, l.v[i], strlen(l.v[i])) < 0)
			goto nomem;
	}
	if (nc && (nets = cidrset_create(c, nc)) == NULL)
		goto nomem;
	free(c);
	cfg_strlist_free(AT(cfg, k, struct sg_strlist));
	cidrset_free(cfg->limit_exempt_nets);
	strset_free(cfg->limit_exempt_logins);
	*AT(cfg, k, struct sg_strlist) = l;
	cfg->limit_exempt_nets = nets;
	cfg->limit_exempt_logins = logins;
	return 0;
nomem:
	errf(err, errlen, "out of memory");
bad:
	free(c);
	strset_free(logins);
	cfg_strlist_free(&l);
	return -1;
}

const struct cfg_type cfg_exempt = { set_exempt, show_strlist };

/* limit_store: memory, redis:unix:/path or redis:inet:HOST:PORT. */
int
cfg_check_store(const char *v, char *err, size_t errlen)
{
	const char *p, *colon;
	unsigned long port = 0;

	if (strcmp(v, "memory") == 0)
		return 0;
	if (strncmp(v, "redis:unix:", 11) == 0) {
		p = v + 11;
		if (*p != '/' || strlen(p) >= 108) {
			errf(err, errlen, "'%s': expected redis:unix:/absolute/path "
			    "(shorter than 108 bytes)", v);
			return -1;
		}
		return 0;
	}
	if (strncmp(v, "redis:inet:", 11) == 0) {
		p = v + 11;
		colon = strrchr(p, ':');
		if (colon && colon > p && isdigit((unsigned char)colon[1])) {
			for (p = colon + 1; isdigit((unsigned char)*p)
			    && port <= 65535; p++)
				port = port * 10 + (unsigned long)(*p - '0');
			if (*p == '\0' && port >= 1 && port <= 65535
			    && colon - (v + 11) < 256)
				return 0;
		}
		errf(err, errlen, "'%s': expected redis:inet:HOST:PORT", v);
		return -1;
	}
	errf(err, errlen, "'%s': expected memory, redis:unix:/path or "
	    "redis:inet:HOST:PORT", v);
	return -1;
}

/*
 * limit_store_password_file: the first line of the file is the password
 * (cfg->limit_store_password); the file may not be readable by others.
 */
static int
set_password_file(struct sg_config *cfg, const struct cfg_key *k,
    const char *v, char *err, size_t errlen)
{
	struct stat st;
	char	buf[1024], *pw = NULL;
	ssize_t	n;
	int	fd;

	if (cfg_check_path(v, err, errlen) < 0)
		return -1;
	if (*v) {
		if ((fd = open(v, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
			errf(err, errlen, "%s: %s", v, strerror(errno));
			return -1;
		}
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			errf(err, errlen, "%s: not a regular file", v);
			close(fd);
			return -1;
		}
		if (st.st_mode & (S_IROTH | S_IWOTH)) {
			errf(err, errlen, "%s: readable or writable by others "
			    "(mode %04o): chmod o-rw it", v,
			    (unsigned)(st.st_mode & 07777));
			close(fd);
			return -1;
		}
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n < 0) {
			errf(err, errlen, "%s: %s", v, strerror(errno));
			return -1;
		}
		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		if (buf[0] == '\0' || (size_t)n == sizeof(buf) - 1) {
			errf(err, errlen, "%s: expected a password of 1 to 1000 "
			    "bytes on the first line", v);
			return -1;
		}
		if ((pw = strdup(buf)) == NULL) {
			errf(err, errlen, "out of memory");
			return -1;
		}
	}
	if (set_string(cfg, k, v, err, errlen) < 0) {
		free(pw);
		return -1;
	}
	free(cfg->limit_store_password);
	cfg->limit_store_password = pw;
	return 0;
}

const struct cfg_type cfg_password_file = { set_password_file, show_string };
