#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include <stddef.h>

#include "senderlogin.h"
#include "util/ipaddr.h"
#include "util/pseudo.h"
#include "util/strbuf.h"

#ifndef SG_DEFAULT_CONFIG
#define SG_DEFAULT_CONFIG	"/etc/sessguard/sessguard.conf"
#endif

enum sg_mode { MODE_ENFORCE, MODE_MONITOR };
enum sg_log_level { LOG_LEVEL_COMMANDS, LOG_LEVEL_DECISIONS };
enum sg_limit_down { LIMIT_DOWN_TEMPFAIL, LIMIT_DOWN_LOCAL };
enum sg_limit_action { LIMIT_ACTION_TEMPFAIL, LIMIT_ACTION_HOLD,
	LIMIT_ACTION_MONITOR };

struct strset;
struct cidrset;
struct senderlogin_map;

struct sg_strlist {
	char	**v;
	size_t	  n;
	struct strset *set;	/* domain lists: the entries, hashed; else NULL */
};

struct sg_reply {
	char	code[4];	/* "554" */
	char	xcode[12];	/* "5.7.1" or "" */
	char	*text;		/* may hold %r for the reason */
};

/* A rate limit "N/PERIOD"; max 0: off. */
struct sg_rate {
	unsigned long max;
	unsigned long period_s;
};

/* One immutable configuration snapshot. */
struct sg_config {
	char		*source;	/* file it came from, or NULL */
	char		*socket;		/* "none": no milter listener */
	char		*policy_listen;		/* NULL: off */
	unsigned	 policy_session_idle;	/* seconds */
	enum sg_mode	 mode;
	struct sg_strlist local_domains;
	struct sg_strlist relay_domains;
	struct sg_strlist trusted_text;	/* as written, for -n */
	struct cidr	*trusted;
	size_t		 ntrusted;
	struct cidrset	*trusted_set;	/* the same blocks, hashed */
	struct sg_reply	 relay_reply;
	int		 log_syslog;
	int		 log_stderr;
	struct sg_strlist log_files;
	int		 log_explicit;	/* "log" was set in the file */
	enum sg_log_level log_level;
	size_t		 log_max_value;
	unsigned	 log_flush;	/* ms; 0: every line before the reply */
	int		 syslog_facility;
	char		*user;
	char		*group;
	char		*pidfile;
	unsigned	 socket_mode;
	int		 milter_timeout;	/* -1: libmilter default */
	int		 auth_results;
	char		*authserv_id;
	char		*metrics_listen;	/* as written, for -n */
	struct ipaddr	 metrics_addr;		/* loopback, checked */
	unsigned	 metrics_port;
	char		*metrics_textfile;
	unsigned	 metrics_interval;
	enum pseudo_mode log_pseudonymize;
	char		*log_key_file;
	struct pseudo_key log_key;
	int		 log_chain;
	char		*sender_login_maps;	/* as written, for -n */
	struct senderlogin_map *sender_login_map; /* loaded, or NULL */
	enum senderlogin_mode sender_login_check;
	struct sg_reply	 sender_reply;		/* %u login, %s sender */
	/* rate limits (SPEC section 8, src/ratelimit.c) */
	struct sg_rate	 limit_login_recipients;
	struct sg_rate	 limit_login_messages;
	struct sg_rate	 limit_client_recipients;
	struct sg_rate	 limit_login_clients;
	struct sg_strlist limit_exempt;		/* as written, for -n */
	struct cidrset	*limit_exempt_nets;	/* its networks */
	struct strset	*limit_exempt_logins;	/* its logins, any case */
	char		*limit_store;		/* memory, redis:unix:..., redis:inet:... */
	char		*limit_store_password_file;
	char		*limit_store_password;	/* its first line, or NULL */
	unsigned	 limit_store_timeout;	/* milliseconds */
	enum sg_limit_down limit_store_down;
	enum sg_limit_action limit_action;
	struct sg_reply	 limit_reply;		/* 4xx */
	struct sg_strlist warnings;	/* "FILE:LINE: key: ..." of the loader */
};

struct sg_config *config_defaults(char *, size_t);
struct sg_config *config_load(const char *, char *, size_t);
struct sg_config *config_load_string(const char *, const char *, char *, size_t);
int	config_override(struct sg_config *, const char *, const char *, char *,
	    size_t);
void	config_free(struct sg_config *);
void	config_print(const struct sg_config *, struct strbuf *);
void	config_print_keys(struct strbuf *);
int	config_show_key(const struct sg_config *, const char *, struct strbuf *);
const char *config_restart_key(size_t);
const char *config_mode_name(enum sg_mode);

#endif
