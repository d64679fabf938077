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
 *	const char *config_restart_key(n)
 * DESCRIPTION
 *	One table (keys[] below) declares every key as data: its name, value
 *	type, field, default, bounds or words, whether a reload changes it
 *	or only a restart, and a line of documentation. Each type has one
 *	setter and one printer (config_types.c). Defaults, parsing, the -n
 *	output, the key list of the man page and the restart-only keys of a
 *	reload all come from that table.
 *
 *	The file format is "key = value" lines, read by util/linefile: a '#'
 *	at the start of a line, or after white space, starts a comment. List
 *	values are separated by commas or white space; in a list of domains
 *	or networks an entry "file:/path" reads more entries from that file,
 *	one or more a line, by the same reader and rules.
 *
 *	config_defaults() returns the built-in configuration. config_load()
 *	reads a file over the defaults and reports its warnings with
 *	msg_warn(); config_load_string() does the same for text in memory,
 *	named name in diagnostics, and leaves the warnings in cfg->warnings
 *	only. A snapshot is immutable once returned and is freed with
 *	config_free(); config_override() sets one key before the snapshot is
 *	put to use (the -p option).
 *
 *	config_print() writes the effective configuration as "key = value"
 *	lines that config_load() reads back to the same configuration.
 *	config_print_keys() writes "key default doc" lines from the table;
 *	config_show_key() the value of one key as config_print() shows it.
 *	config_restart_key() names the n-th key that only a restart changes,
 *	or returns NULL past the last.
 * DIAGNOSTICS
 *	The loaders return NULL and put one message in err naming the file,
 *	line and key ("FILE:LINE: key: reason") on the first error; nothing is
 *	half applied. Unknown keys, bad values, control characters, lines
 *	longer than 64 KiB, NUL bytes, unreadable files and a configuration
 *	with neither a milter socket nor policy_listen are errors.
 *
 *	Warnings ("FILE:LINE: key: ..."): a key given twice (the later entry
 *	overrides the earlier one, as in Postfix), and trusted_networks that
 *	cover every IPv4 or every IPv6 address, which makes an open relay.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config.h"
#include "config_types.h"
#include "util/cidrset.h"
#include "util/linefile.h"
#include "util/msg.h"
#include "util/strset.h"

#define FIELD(f)	offsetof(struct sg_config, f)

_Static_assert(sizeof(enum sg_mode) == sizeof(int)
    && sizeof(enum sg_log_level) == sizeof(int)
    && sizeof(enum pseudo_mode) == sizeof(int)
    && sizeof(enum senderlogin_mode) == sizeof(int)
    && sizeof(enum sg_limit_down) == sizeof(int)
    && sizeof(enum sg_limit_action) == sizeof(int), "cfg_enum stores an int");

static const struct cfg_name modes[] = {
	{ "enforce", MODE_ENFORCE }, { "monitor", MODE_MONITOR }, { NULL, 0 },
};

static const struct cfg_name levels[] = {
	{ "commands", LOG_LEVEL_COMMANDS }, { "decisions", LOG_LEVEL_DECISIONS },
	{ NULL, 0 },
};

static const struct cfg_name facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 }, { NULL, 0 },
};

static const struct cfg_name store_downs[] = {
	{ "tempfail", LIMIT_DOWN_TEMPFAIL }, { "local", LIMIT_DOWN_LOCAL },
	{ NULL, 0 },
};

static const struct cfg_name limit_actions[] = {
	{ "tempfail", LIMIT_ACTION_TEMPFAIL }, { "hold", LIMIT_ACTION_HOLD },
	{ "monitor", LIMIT_ACTION_MONITOR }, { NULL, 0 },
};

static const struct cfg_name pseudo_modes[] = {
	{ "no", PSEUDO_OFF }, { "yes", PSEUDO_FULL },
	{ "local-part", PSEUDO_LOCAL_PART }, { NULL, 0 },
};

static const struct cfg_name sender_checks[] = {
	{ "off", SENDERLOGIN_OFF }, { "authenticated", SENDERLOGIN_AUTHENTICATED },
	{ "known", SENDERLOGIN_KNOWN }, { "strict", SENDERLOGIN_STRICT },
	{ NULL, 0 },
};

#define RESTART	CFG_RESTART
#define RELOAD	CFG_RELOAD

static const struct cfg_key keys[] = {
	{ "socket", &cfg_string, FIELD(socket),
	  "unix:/run/sessguard/sessguard.sock", RESTART,
	  .check = cfg_check_socket_or_none,
	  .doc = "where the MTA connects: unix:/path, local:/path, inet:PORT@HOST, inet6:PORT@HOST" },
	{ "policy_listen", &cfg_string, FIELD(policy_listen), "", RESTART,
	  .check = cfg_check_listen,
	  .doc = "Postfix policy-delegation socket: unix:/path, inet:PORT@HOST, inet6:PORT@HOST (empty: off)" },
	{ "policy_session_idle", &cfg_uint, FIELD(policy_session_idle), "300",
	  RELOAD, 1, 86400, .hint = "seconds from 1 to 86400",
	  .doc = "seconds after which an idle policy session ends (1 to 86400)" },
	{ "mode", &cfg_enum, FIELD(mode), "enforce", RELOAD,
	  .names = modes, .hint = "enforce or monitor",
	  .doc = "enforce rejects refused relay attempts; monitor only logs would_reject" },
	{ "local_domains", &cfg_domains, FIELD(local_domains), "", RELOAD,
	  .doc = "domains delivered here; .example.com also matches subdomains" },
	{ "relay_domains", &cfg_domains, FIELD(relay_domains), "", RELOAD,
	  .doc = "domains this host relays for anyone (backup MX); same syntax" },
	{ "trusted_networks", &cfg_networks, FIELD(trusted_text),
	  "127.0.0.0/8, ::1/128", RELOAD,
	  .doc = "clients (IPv4/IPv6 CIDR) that may relay without authentication" },
	{ "relay_reply", &cfg_reply, FIELD(relay_reply),
	  "554 5.7.1 Relay access denied", RELOAD,
	  .doc = "reply to a refused relay RCPT: 5xx code, enhanced code, text (%r: the reason)" },
	{ "log", &cfg_log, 0, "syslog", RESTART,
	  .doc = "log destinations: syslog, stderr, file:/path (several allowed), or none" },
	{ "log_level", &cfg_enum, FIELD(log_level), "commands", RELOAD,
	  .names = levels, .hint = "commands or decisions",
	  .doc = "commands logs every event; decisions only connect, rcpt, anomaly, close" },
	{ "log_max_value", &cfg_size, FIELD(log_max_value), "512", RELOAD,
	  16, 65536, .hint = "a number of bytes from 16 to 65536",
	  .doc = "longest value from the wire written to the log, in bytes" },
	{ "log_flush", &cfg_uint, FIELD(log_flush), "0", RESTART,
	  0, 10000, .hint = "milliseconds from 0 to 10000",
	  .doc = "0: each line is written before the reply it explains; N: lines are buffered, written every N ms (a crash loses up to N ms of lines)" },
	{ "syslog_facility", &cfg_enum, FIELD(syslog_facility), "mail", RESTART,
	  .names = facilities,
	  .hint = "mail, daemon, user, auth, authpriv or local0 to local7",
	  .doc = "syslog facility: mail, daemon, user, auth, authpriv, local0-local7" },
	{ "user", &cfg_string, FIELD(user), "", RESTART,
	  .check = cfg_check_name,
	  .doc = "user to run as after opening the socket (empty: stay as started)" },
	{ "group", &cfg_string, FIELD(group), "", RESTART,
	  .check = cfg_check_name,
	  .doc = "group to run as (empty: the user's primary group)" },
	{ "pidfile", &cfg_string, FIELD(pidfile), "", RESTART,
	  .check = cfg_check_path,
	  .doc = "file that holds the process id (empty: none)" },
	{ "socket_mode", &cfg_octal, FIELD(socket_mode), "0660", RESTART,
	  0, 0777, .hint = "an octal mode such as 0660",
	  .doc = "permissions of a unix socket" },
	{ "milter_timeout", &cfg_timeout, FIELD(milter_timeout), "default",
	  RESTART, 1, 86400, .hint = "seconds from 1 to 86400, or default",
	  .doc = "seconds libmilter waits on the MTA (default: libmilter's own)" },
	{ "auth_results", &cfg_bool, FIELD(auth_results), "no", RELOAD,
	  .doc = "add Authentication-Results for authenticated senders at end of message" },
	{ "authserv_id", &cfg_hostname, FIELD(authserv_id), "", RELOAD,
	  .doc = "authserv-id of Authentication-Results (empty: the host name)" },
	{ "metrics_listen", &cfg_loopback, FIELD(metrics_listen), "", RESTART,
	  .doc = "Prometheus endpoint, loopback only: inet:PORT@127.0.0.1 or inet6:PORT@::1 (empty: off)" },
	{ "metrics_textfile", &cfg_string, FIELD(metrics_textfile), "", RESTART,
	  .check = cfg_check_prom,
	  .doc = "file for node_exporter's textfile collector, absolute, ending in .prom (empty: off)" },
	{ "metrics_interval", &cfg_uint, FIELD(metrics_interval), "15", RESTART,
	  1, 3600, .hint = "seconds from 1 to 3600",
	  .doc = "seconds between writes of metrics_textfile (1 to 3600)" },
	{ "log_pseudonymize", &cfg_enum, FIELD(log_pseudonymize), "no", RELOAD,
	  .names = pseudo_modes, .hint = "no, yes or local-part",
	  .doc = "user names and addresses logged as keyed HMAC-SHA256 tokens: no, yes, local-part" },
	{ "log_key_file", &cfg_key_file, FIELD(log_key_file), "", RELOAD,
	  .doc = "secret key of log_pseudonymize, 16 to 4096 bytes, not readable by others" },
	{ "log_chain", &cfg_bool, FIELD(log_chain), "no", RESTART,
	  .doc = "tamper-evident log: each line carries mac, an HMAC (log_key_file) chained over the lines" },
	{ "sender_login_maps", &cfg_sender_map, FIELD(sender_login_maps), "",
	  RELOAD,
	  .doc = "owners of sender addresses, lines 'address login[, login...]': file:/path or cdb:/path (empty: none)" },
	{ "sender_login_check", &cfg_enum, FIELD(sender_login_check), "off",
	  RELOAD, .names = sender_checks,
	  .hint = "off, authenticated, known or strict",
	  .doc = "sender/login binding at MAIL: off, authenticated, known, strict (as Postfix's reject_*sender_login_mismatch)" },
	{ "sender_reply", &cfg_reply, FIELD(sender_reply),
	  "553 5.7.1 Sender address rejected: not owned by user %u", RELOAD,
	  .doc = "reply to a refused MAIL: 5xx code, enhanced code, text (%u: the login, %s: the sender)" },
	{ "limit_login_recipients", &cfg_rate, FIELD(limit_login_recipients),
	  "", RELOAD,
	  .doc = "relay recipients accepted per login, N/PERIOD such as 100/1h (empty: off)" },
	{ "limit_login_messages", &cfg_rate, FIELD(limit_login_messages), "",
	  RELOAD,
	  .doc = "messages with a relay recipient per login, N/PERIOD (empty: off)" },
	{ "limit_client_recipients", &cfg_rate, FIELD(limit_client_recipients),
	  "", RELOAD,
	  .doc = "relay recipients per client address, N/PERIOD (empty: off)" },
	{ "limit_login_clients", &cfg_rate, FIELD(limit_login_clients), "",
	  RELOAD,
	  .doc = "distinct client addresses per login, N/PERIOD (empty: off)" },
	{ "limit_exempt", &cfg_exempt, FIELD(limit_exempt), "", RELOAD,
	  .doc = "logins and client networks (CIDR) that no rate limit applies to" },
	{ "limit_store", &cfg_string, FIELD(limit_store), "memory", RESTART,
	  .check = cfg_check_store,
	  .doc = "where the counters live: memory, redis:unix:/path, redis:inet:HOST:PORT" },
	{ "limit_store_password_file", &cfg_password_file,
	  FIELD(limit_store_password_file), "", RESTART,
	  .doc = "file whose first line is the Redis password (AUTH); not readable by others" },
	{ "limit_store_timeout", &cfg_uint, FIELD(limit_store_timeout), "100",
	  RESTART, 1, 60000, .hint = "milliseconds from 1 to 60000",
	  .doc = "milliseconds a connection to or command of the store may take" },
	{ "limit_store_down", &cfg_enum, FIELD(limit_store_down), "tempfail",
	  RELOAD, .names = store_downs, .hint = "tempfail or local",
	  .doc = "while the store is unreachable: tempfail, or local (this process's own counters)" },
	{ "limit_action", &cfg_enum, FIELD(limit_action), "tempfail", RELOAD,
	  .names = limit_actions, .hint = "tempfail, hold or monitor",
	  .doc = "over a limit: tempfail (limit_reply), hold (accept, hold the message), monitor (log)" },
	{ "limit_reply", &cfg_reply, FIELD(limit_reply),
	  "450 4.7.1 Rate limit exceeded: %r", RELOAD, 4, 4,
	  .doc = "reply over a limit: 4xx code, enhanced code, text (%r: which limit)" },
};

#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

/* A file being read: where each key was last set, for checks and warnings. */
struct load {
	struct sg_config *cfg;
	const char *name;
	int	 line[NKEYS];
};

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
	cfg_strlist_free(&cfg->local_domains);
	cfg_strlist_free(&cfg->relay_domains);
	cfg_strlist_free(&cfg->trusted_text);
	free(cfg->trusted);
	cidrset_free(cfg->trusted_set);
	free(cfg->relay_reply.text);
	cfg_strlist_free(&cfg->log_files);
	free(cfg->user);
	free(cfg->group);
	free(cfg->pidfile);
	free(cfg->authserv_id);
	free(cfg->metrics_listen);
	free(cfg->metrics_textfile);
	free(cfg->log_key_file);
	pseudo_key_free(&cfg->log_key);
	free(cfg->sender_login_maps);
	senderlogin_map_free(cfg->sender_login_map);
	free(cfg->sender_reply.text);
	cfg_strlist_free(&cfg->limit_exempt);
	cidrset_free(cfg->limit_exempt_nets);
	strset_free(cfg->limit_exempt_logins);
	free(cfg->limit_store);
	free(cfg->limit_store_password_file);
	free(cfg->limit_store_password);
	free(cfg->limit_reply.text);
	cfg_strlist_free(&cfg->warnings);
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
		if (keys[i].type->set(cfg, &keys[i], keys[i].defval, sub,
		    sizeof(sub)) < 0) {
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

static void warn(struct load *, const char *, int, const char *, ...)
	__attribute__((format(printf, 4, 5)));

/* Keeps a warning "NAME:LINE: key: text" in cfg->warnings. */
static void
warn(struct load *ld, const char *key, int line, const char *fmt, ...)
{
	char	buf[1024];
	int	n;
	va_list	ap;

	n = snprintf(buf, sizeof(buf), "%s:%d: %s: ", ld->name, line, key);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(buf))
		vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	(void)cfg_strlist_add(&ld->cfg->warnings, buf, strlen(buf));
}

/* Applies one line (a linefile_fn); errors without file and line. */
static int
config_line(void *ctx, char *line, int lineno, int ctl, char *err,
    size_t errlen)
{
	struct load *ld = ctx;
	const struct cfg_key *k;
	char	*p, *name, *value, *end, sub[512];

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
	if (k->type->set(ld->cfg, k, value, sub, sizeof(sub)) < 0) {
		errf(err, errlen, "%s: %s", k->name, sub);
		return -1;
	}
	if (k->type == &cfg_log)
		ld->cfg->log_explicit = 1;
	if (ld->line[k - keys])
		warn(ld, k->name, lineno, "overriding earlier entry at line %d",
		    ld->line[k - keys]);
	ld->line[k - keys] = lineno;
	return 0;
}

static int
line_of(const struct load *ld, const char *name)
{
	return ld->line[config_find(name) - keys];
}

#define NO_LISTENER	"none turns the milter listener off and " \
	"policy_listen is empty: nothing would listen (set policy_listen, " \
	"or a milter socket)"

/* Checks between keys, and warnings, once the whole file is read. */
static int
config_check(struct load *ld, char *err, size_t errlen)
{
	const struct sg_config *cfg = ld->cfg;

	if (strcmp(cfg->socket, "none") == 0 && cfg->policy_listen == NULL) {
		errf(err, errlen, "%s:%d: socket: %s", ld->name,
		    line_of(ld, "socket"), NO_LISTENER);
		return -1;
	}
	if (cfg->log_pseudonymize != PSEUDO_OFF && cfg->log_key.len == 0) {
		errf(err, errlen, "%s:%d: log_pseudonymize: needs log_key_file",
		    ld->name, line_of(ld, "log_pseudonymize"));
		return -1;
	}
	if (cfg->log_chain && cfg->log_key.len == 0) {
		errf(err, errlen, "%s:%d: log_chain: needs log_key_file",
		    ld->name, line_of(ld, "log_chain"));
		return -1;
	}
	if (cfg->sender_login_check != SENDERLOGIN_OFF
	    && cfg->sender_login_map == NULL) {
		errf(err, errlen, "%s:%d: sender_login_check: needs "
		    "sender_login_maps", ld->name, line_of(ld, "sender_login_check"));
		return -1;
	}
	if (cidr_cover(cfg->trusted, cfg->ntrusted, AF_INET))
		warn(ld, "trusted_networks", line_of(ld, "trusted_networks"),
		    "covers every IPv4 address (and every IPv4-mapped IPv6 "
		    "address): any client may relay without authentication, "
		    "an open relay");
	if (cidr_cover(cfg->trusted, cfg->ntrusted, AF_INET6))
		warn(ld, "trusted_networks", line_of(ld, "trusted_networks"),
		    "covers every IPv6 address: any client may relay without "
		    "authentication, an open relay");
	return 0;
}

static struct sg_config *
config_read(const char *name, const char *text, char *err, size_t errlen)
{
	struct load ld = { NULL, name, { 0 } };
	int	rc;

	if ((ld.cfg = config_defaults(err, errlen)) == NULL)
		return NULL;
	if ((ld.cfg->source = strdup(name)) == NULL) {
		errf(err, errlen, "out of memory");
		goto bad;
	}
	rc = text ? linefile_text(name, text, config_line, &ld, err, errlen)
	    : linefile_read(name, config_line, &ld, err, errlen);
	if (rc < 0 || config_check(&ld, err, errlen) < 0)
		goto bad;
	return ld.cfg;
bad:
	config_free(ld.cfg);
	return NULL;
}

struct sg_config *
config_load_string(const char *name, const char *text, char *err,
    size_t errlen)
{
	return config_read(name, text, err, errlen);
}

struct sg_config *
config_load(const char *path, char *err, size_t errlen)
{
	struct sg_config *cfg;
	size_t	i;

	if ((cfg = config_read(path, NULL, err, errlen)) != NULL)
		for (i = 0; i < cfg->warnings.n; i++)
			msg_warn("%s", cfg->warnings.v[i]);
	return cfg;
}

void
config_print(const struct sg_config *cfg, struct strbuf *sb)
{
	size_t	i;

	for (i = 0; i < NKEYS; i++) {
		strbuf_printf(sb, "%s = ", keys[i].name);
		keys[i].type->show(cfg, &keys[i], sb);
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
	k->type->show(cfg, k, sb);
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

const char *
config_restart_key(size_t n)
{
	size_t	i;

	for (i = 0; i < NKEYS; i++)
		if (keys[i].reload == CFG_RESTART && n-- == 0)
			return keys[i].name;
	return NULL;
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
	if ((strcmp(k->name, "socket") == 0 ? strcmp(value, "none") == 0
	    : strcmp(cfg->socket, "none") == 0)
	    && (strcmp(k->name, "policy_listen") == 0 ? *value == '\0'
	    : cfg->policy_listen == NULL)) {
		errf(err, errlen, "%s: %s", name, NO_LISTENER);
		return -1;
	}
	if (k->type->set(cfg, k, value, sub, sizeof(sub)) < 0) {
		errf(err, errlen, "%s: %s", name, sub);
		return -1;
	}
	return 0;
}
