/*
 * NAME
 *	fuzz_config - libFuzzer target for the configuration parser
 * DESCRIPTION
 *	The input, as text, goes to config_load_string() (src/config.c).
 *	Checked:
 *	- it returns a configuration or NULL with a message; the message is
 *	  "fuzz.conf:LINE: ..." with LINE within the text, has no control
 *	  characters but tabs, and names the first bad line: the lines before it load,
 *	  the text up to and including it fails with the same message;
 *	- a configuration prints (config_print()) as text that loads again
 *	  and prints the same; it has every key of config_print_keys() once, in order,
 *	  with the value config_show_key() gives.
 *
 *	"file:/path" list entries are read through sg_fuzz_fopen(), to which
 *	run.sh points config.c's fopen() (-Dfopen=sg_fuzz_fopen): it serves a
 *	few lists from memory (/lists/domains, /lists/networks,
 *	/lists/nested, /lists/loop, /lists/bad) and refuses every other path,
 *	so the fuzzer never reads the file system.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

FILE	*sg_fuzz_fopen(const char *, const char *);

static const struct {
	const char *path;
	const char *text;
} lists[] = {
	{ "/lists/domains", "example.com\n.example.org  # subdomains too\n"
	    "mail.example.net, backup.example\n\n# only a comment\n" },
	{ "/lists/networks", "192.0.2.0/24\n2001:db8::/32 # documentation\n"
	    "10.0.0.0/8 ::ffff:198.51.100.0/120\n" },
	{ "/lists/nested", "file:/lists/domains\nnested.example\n" },
	{ "/lists/loop", "loop.example file:/lists/loop\n" },
	{ "/lists/bad", "good.example\nbad..example\n" },
};

FILE *
sg_fuzz_fopen(const char *path, const char *mode)
{
	size_t	i;

	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if (strcmp(path, lists[i].path) == 0)
			return fmemopen((void *)lists[i].text,
			    strlen(lists[i].text), mode);
	errno = ENOENT;
	return NULL;
}

/* Start of line n (from 1) of text, as config_load_string() counts. */
static const char *
line_start(const char *text, int n)
{
	const char *p = text, *nl;

	while (--n > 0 && (nl = strchr(p, '\n')) != NULL)
		p = nl + 1;
	return p;
}

/* An error of config_check(): a rule between keys, at a line before line. */
static int
between_keys(const char *err, long line)
{
	static const char *const rules[] = {
		": socket: none turns the milter listener off",
		": log_pseudonymize: needs ",
		": log_chain: needs ",
		": sender_login_check: needs ",
	};
	const char *p;
	long	at;
	size_t	i;

	if (strncmp(err, "fuzz.conf:", 10) != 0)
		return 0;
	at = strtol(err + 10, (char **)&p, 10);
	if (at < 1 || at >= line)
		return 0;
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (strncmp(p, rules[i], strlen(rules[i])) == 0)
			return 1;
	return 0;
}

static void
check_error(const char *text, const char *err)
{
	const char *p, *end;
	char	err2[1024], *part;
	struct sg_config *cfg;
	long	line;
	int	lines = 0;

	for (p = err; *p; p++)
		FUZZ_CHECK(((unsigned char)*p >= 0x20 || *p == '\t')
		    && *p != 0x7f, "control character in message: %s", err);
	FUZZ_CHECK(strncmp(err, "fuzz.conf:", 10) == 0, "message does not name "
	    "the file: %s", err);
	line = strtol(err + 10, (char **)&p, 10);
	FUZZ_CHECK(p > err + 10 && strncmp(p, ": ", 2) == 0 && p[2] != '\0',
	    "message does not name a line: %s", err);
	for (p = text; *p; lines++) {
		end = strchr(p, '\n');
		p = end ? end + 1 : p + strlen(p);
	}
	FUZZ_CHECK(line >= 1 && line <= lines, "line %ld of %d: %s", line,
	    lines, err);

	/*
	 * The lines before it are good: each alone. Together they may break
	 * a rule between keys (socket = none without policy_listen, a key
	 * that needs another), which is checked once the whole file is read,
	 * so after every line's own errors.
	 */
	p = line_start(text, (int)line);
	part = fz_cstr((const uint8_t *)text, (size_t)(p - text));
	cfg = config_load_string("fuzz.conf", part, err2, sizeof(err2));
	FUZZ_CHECK(cfg != NULL || between_keys(err2, line), "lines before %ld "
	    "fail: %s (whole text: %s)", line, err2, err);
	config_free(cfg);
	free(part);

	/* that line alone makes it fail, the same way */
	end = strchr(p, '\n');
	end = end ? end + 1 : p + strlen(p);
	part = fz_cstr((const uint8_t *)text, (size_t)(end - text));
	cfg = config_load_string("fuzz.conf", part, err2, sizeof(err2));
	FUZZ_CHECK(cfg == NULL && strcmp(err, err2) == 0, "up to line %ld: %s; "
	    "whole text: %s", line, cfg ? "loads" : err2, err);
	free(part);
}

static void
check_roundtrip(const struct sg_config *cfg)
{
	struct strbuf p1, p2, one, keys;
	struct sg_config *cfg2;
	char	err[1024], *line, *name;
	size_t	klen;
	const char *p, *k;

	strbuf_init(&p1);
	strbuf_init(&p2);
	strbuf_init(&one);
	config_print(cfg, &p1);
	FUZZ_CHECK(!strbuf_failed(&p1), "print failed");
	cfg2 = config_load_string("fuzz.print", strbuf_str(&p1), err,
	    sizeof(err));
	FUZZ_CHECK(cfg2 != NULL, "printed configuration does not load: %s\n"
	    "--- printed:\n%s", err, strbuf_str(&p1));
	config_print(cfg2, &p2);
	FUZZ_CHECK(strcmp(strbuf_str(&p1), strbuf_str(&p2)) == 0,
	    "print, load, print differs:\n--- first:\n%s--- second:\n%s",
	    strbuf_str(&p1), strbuf_str(&p2));
	config_free(cfg2);

	/* every key of the table once, in order, as config_show_key() says */
	strbuf_init(&keys);
	config_print_keys(&keys);
	k = strbuf_str(&keys);
	p = strbuf_str(&p1);
	for (; *k; k = strchr(k, '\n') + 1) {
		klen = strcspn(k, "\t");
		FUZZ_CHECK(strncmp(p, k, klen) == 0
		    && strncmp(p + klen, " = ", 3) == 0, "print: %s", p);
		name = fz_cstr((const uint8_t *)k, klen);
		strbuf_reset(&one);
		FUZZ_CHECK(config_show_key(cfg, name, &one) == 0,
		    "key %s unknown", name);
		p += klen + 3;
		line = strchr(p, '\n');
		FUZZ_CHECK(line != NULL && (size_t)(line - p) == one.len
		    && memcmp(p, strbuf_str(&one), one.len) == 0,
		    "config_show_key(%s) = '%s'", name, strbuf_str(&one));
		p = line + 1;
		free(name);
	}
	FUZZ_CHECK(*p == '\0', "print has more keys: %s", p);
	strbuf_free(&keys);
	strbuf_free(&p1);
	strbuf_free(&p2);
	strbuf_free(&one);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*text = fz_cstr(data, size);
	char	 err[1024];
	struct sg_config *cfg;

	err[0] = '\0';
	cfg = config_load_string("fuzz.conf", text, err, sizeof(err));
	if (cfg == NULL) {
		check_error(text, err);
	} else {
		FUZZ_CHECK(cfg->log_max_value >= 16 && cfg->log_max_value <= 65536,
		    "log_max_value %zu", cfg->log_max_value);
		FUZZ_CHECK(cfg->ntrusted == cfg->trusted_text.n, "ntrusted");
		check_roundtrip(cfg);
		config_free(cfg);
	}
	free(text);
	return 0;
}
