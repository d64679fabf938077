#ifndef SG_CONFIG_TYPES_H
#define SG_CONFIG_TYPES_H

#include <stddef.h>

#include "config.h"

/* Inside the configuration module only: the key table and its types. */

#define CFG_MAX_INCLUDE	3

struct cfg_key;

/* A value type: one setter and one printer for every key of the type. */
struct cfg_type {
	int	(*set)(struct sg_config *, const struct cfg_key *, const char *,
		    char *, size_t);
	void	(*show)(const struct sg_config *, const struct cfg_key *,
		    struct strbuf *);
};

/* A word of an enumerated key and the value it stands for. */
struct cfg_name {
	const char *name;
	int	 value;
};

enum cfg_reload { CFG_RELOAD, CFG_RESTART };

struct cfg_key {
	const char *name;
	const struct cfg_type *type;
	size_t	 off;			/* the field in struct sg_config */
	const char *defval;
	enum cfg_reload reload;		/* a reload changes it, or a restart */
	unsigned long min, max;		/* bounds of numbers */
	const struct cfg_name *names;	/* words of enums, NULL-terminated */
	int	(*check)(const char *, char *, size_t);	/* of strings */
	const char *hint;		/* "expected ..." after a bad value */
	const char *doc;
};

extern const struct cfg_type cfg_string, cfg_uint, cfg_octal, cfg_size,
	cfg_timeout, cfg_bool, cfg_enum, cfg_domains, cfg_networks, cfg_reply,
	cfg_log, cfg_hostname, cfg_loopback, cfg_key_file, cfg_sender_map,
	cfg_rate, cfg_exempt, cfg_password_file;

int	cfg_check_socket(const char *, char *, size_t);
int	cfg_check_socket_or_none(const char *, char *, size_t);
int	cfg_check_listen(const char *, char *, size_t);
int	cfg_check_name(const char *, char *, size_t);
int	cfg_check_path(const char *, char *, size_t);
int	cfg_check_prom(const char *, char *, size_t);
int	cfg_check_store(const char *, char *, size_t);

void	cfg_strlist_free(struct sg_strlist *);
int	cfg_strlist_add(struct sg_strlist *, const char *, size_t);

#endif
