/*
 * NAME
 *	sessguard-trace - sessions of the sessguard JSON log as transcripts
 * SYNOPSIS
 *	sessguard-trace [--session ID] [--client ADDR|CIDR] [--user NAME]
 *	    [--since TIME] [--until TIME] [--rejected] [--anomalies] [--json]
 *	    [FILE...]
 * DESCRIPTION
 *	Reads the JSON Lines log of sessguard(8) from the files (oldest
 *	first, gzip-compressed or not) or standard input, gathers the lines
 *	of each session and prints each selected session when its close
 *	line arrives, as a transcript (transcript.c) or, with --json, as its
 *	log lines unchanged. Sessions without a close are printed at the end
 *	of input in the order of their first line. The filters are in
 *	filter.c; see sessguard-trace(1).
 * DIAGNOSTICS
 *	A line that is not JSON or lacks ts, session, seq or event is
 *	reported on stderr with file name and line number and skipped. Exit
 *	status 0; 1 when a file could not be read (the others are still
 *	read) or standard output could not be written; 2 for a usage error.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "trace/diag.h"
#include "trace/filter.h"
#include "trace/input.h"
#include "trace/record.h"
#include "trace/sessions.h"
#include "trace/transcript.h"
#include "util/chain.h"
#include "util/pseudo.h"
#include "util/strbuf.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION	"unknown"
#endif

#define TRACE_USAGE_ERROR	2
#define TRACE_FILE_ERROR	1
#define TRACE_BROKEN		3	/* --verify: the chain is broken */

struct trace {
	struct filter *filter;
	int	 json;
	int	 failed;	/* a file could not be read */
	const char *keyfile;	/* --key */
	const char *match[32];	/* --match */
	size_t	 nmatch;
	int	 verify;	/* --verify */
};

static const char trace_usage_text[] =
"usage: sessguard-trace [options] [FILE...]\n"
"Prints the sessions of sessguard's JSON log (FILEs, oldest first, .gz too;\n"
"standard input without FILE or with -) as readable transcripts.\n"
"  --session ID        only session ID\n"
"  --client ADDR|CIDR  only sessions from this client address or block\n"
"  --user NAME         only sessions where NAME logged in\n"
"  --since TIME        only sessions started at or after TIME (RFC 3339)\n"
"  --until TIME        only sessions started at or before TIME\n"
"  --rejected          only sessions with a reject or would_reject verdict\n"
"  --anomalies         only sessions with an anomaly\n"
"  --key FILE --verify  check the mac chain of a log written with log_chain\n"
"  --key FILE --match VALUE\n"
"                      sessions naming VALUE in a pseudonymised log\n"
"                      (log_pseudonymize; FILE is its log_key_file)\n"
"  -j, --json          print the sessions' log lines unchanged\n"
"  -h, --help          this text\n"
"  -V, --version       the version\n"
"--session, --client and --user may be repeated (any of them matches);\n"
"different options must all match.\n";

static void trace_usage_error(const char *, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void
trace_usage_error(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "sessguard-trace: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'sessguard-trace --help'.\n");
	exit(TRACE_USAGE_ERROR);
}

enum { OPT_SESSION = 256, OPT_CLIENT, OPT_USER, OPT_SINCE, OPT_UNTIL,
    OPT_REJECTED, OPT_ANOMALIES, OPT_KEY, OPT_MATCH, OPT_VERIFY };

static const struct option trace_longopts[] = {
	{ "session", required_argument, NULL, OPT_SESSION },
	{ "client", required_argument, NULL, OPT_CLIENT },
	{ "user", required_argument, NULL, OPT_USER },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ "rejected", no_argument, NULL, OPT_REJECTED },
	{ "anomalies", no_argument, NULL, OPT_ANOMALIES },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "match", required_argument, NULL, OPT_MATCH },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* A filter option; returns 0 when c is not one. */
static int
trace_filter_option(struct trace *tr, int c, const char *arg)
{
	const char *why;

	switch (c) {
	case OPT_SESSION:
		filter_add_session(tr->filter, arg);
		return 1;
	case OPT_CLIENT:
		if (filter_add_client(tr->filter, arg, &why) < 0)
			trace_usage_error("--client: '%s': %s", arg, why);
		return 1;
	case OPT_USER:
		filter_add_user(tr->filter, arg);
		return 1;
	case OPT_SINCE:
	case OPT_UNTIL:
		if ((c == OPT_SINCE ? filter_set_since : filter_set_until)(tr->filter,
		    arg) < 0)
			trace_usage_error("%s: '%s' is not an RFC 3339 time "
			    "(2026-11-23T15:00:00Z)",
			    c == OPT_SINCE ? "--since" : "--until", arg);
		return 1;
	case OPT_REJECTED:
		filter_want_rejected(tr->filter);
		return 1;
	case OPT_ANOMALIES:
		filter_want_anomalies(tr->filter);
		return 1;
	case OPT_KEY:
		tr->keyfile = arg;
		return 1;
	case OPT_VERIFY:
		tr->verify = 1;
		return 1;
	case OPT_MATCH:
		if (tr->nmatch == sizeof(tr->match) / sizeof(tr->match[0]))
			trace_usage_error("--match: at most %zu values",
			    sizeof(tr->match) / sizeof(tr->match[0]));
		tr->match[tr->nmatch++] = arg;
		return 1;
	}
	return 0;
}

/*
 * --match VALUE with --key FILE: the pseudonyms sessguard writes for VALUE
 * with log_pseudonymize = yes, and = local-part for an address; a session
 * matches when a line holds one. The clear value is never looked for.
 */
static void
trace_match_pseudonyms(struct trace *tr)
{
	struct pseudo_key key;
	char	err[512], tok[700], local[700], *lp, *p;
	size_t	i;

	if (tr->nmatch == 0) {
		if (tr->keyfile && !tr->verify)
			trace_usage_error("--key needs --match or --verify");
		return;
	}
	if (tr->keyfile == NULL)
		trace_usage_error("--match needs --key FILE (the log_key_file)");
	if (pseudo_key_load(tr->keyfile, &key, err, sizeof(err)) < 0) {
		fprintf(stderr, "sessguard-trace: --key: %s\n", err);
		exit(TRACE_FILE_ERROR);
	}
	for (i = 0; i < tr->nmatch; i++) {
		pseudo_value(&key, PSEUDO_FULL, tr->match[i], tok, sizeof(tok));
		filter_add_text(tr->filter, tok);
		if (strchr(tr->match[i], '@') == NULL)
			continue;
		pseudo_value(&key, PSEUDO_LOCAL_PART, tr->match[i], local,
		    sizeof(local));
		/* without the angle brackets, so both spellings match */
		lp = local[0] == '<' ? local + 1 : local;
		if ((p = strrchr(lp, '>')) != NULL)
			*p = '\0';
		filter_add_text(tr->filter, lp);
	}
	pseudo_key_free(&key);
}

static void
trace_bad_option(const char *arg)
{
	const char *eq = strchr(arg, '=');
	const struct option *o;
	size_t	len;

	if (strncmp(arg, "--", 2) != 0)
		trace_usage_error("unknown option -%c", optopt);
	len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
	for (o = trace_longopts; eq && o->name; o++)
		if (strlen(o->name) == len && strncmp(o->name, arg + 2, len) == 0)
			trace_usage_error("--%s takes no argument", o->name);
	trace_usage_error("unknown option %s", arg);
}

static void
trace_options(struct trace *tr, int argc, char **argv)
{
	int	c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jhV", trace_longopts, NULL)) != -1) {
		if (trace_filter_option(tr, c, optarg))
			continue;
		switch (c) {
		case 'j':
			tr->json = 1;
			break;
		case 'h':
			fputs(trace_usage_text, stdout);
			exit(0);
		case 'V':
			printf("sessguard-trace %s\n", PACKAGE_VERSION);
			exit(0);
		case ':':
			trace_usage_error("%s needs an argument", argv[optind - 1]);
		default:
			trace_bad_option(argv[optind - 1]);
		}
	}
}

/* The value of "prev" in a chain line, or -1. */
static int
chain_prev(const char *line, size_t len, char *prev)
{
	static const char key[] = "\"event\":\"chain\"";
	const char *p, *q;

	if (memmem(line, len, key, sizeof(key) - 1) == NULL
	    || (p = memmem(line, len, "\"prev\":\"", 8)) == NULL)
		return -1;
	p += 8;
	if ((q = memchr(p, '"', len - (size_t)(p - line))) == NULL
	    || q - p > CHAIN_HEX)
		return -1;
	memcpy(prev, p, (size_t)(q - p));
	prev[q - p] = '\0';
	return 0;
}

/*
 * --verify: walks the files in order along the mac chain and names the
 * first line where it breaks. Returns the exit status.
 */
static int
trace_verify(struct trace *tr, int argc, char **argv)
{
	struct pseudo_key key;
	struct chain ch;
	struct input *in;
	const char *why, *line, *name;
	char	err[512], prev[CHAIN_HEX + 1], mac[CHAIN_HEX + 1],
		want[CHAIN_HEX + 1], claim[CHAIN_HEX + 1];
	unsigned long lineno, total = 0;
	size_t	len, body;
	int	i, r, complete, started = 0, files = 0;

	if (tr->keyfile == NULL)
		trace_usage_error("--verify needs --key FILE (the log_key_file)");
	if (pseudo_key_load(tr->keyfile, &key, err, sizeof(err)) < 0) {
		fprintf(stderr, "sessguard-trace: --key: %s\n", err);
		return TRACE_FILE_ERROR;
	}
	if (chain_init(&ch, &key) < 0) {
		fprintf(stderr, "sessguard-trace: --verify: OpenSSL offers no "
		    "HMAC\n");
		pseudo_key_free(&key);
		return TRACE_FILE_ERROR;
	}
	prev[0] = '\0';
	for (i = optind; i < argc || (i == optind && optind == argc); i++) {
		const char *path = i < argc ? argv[i] : NULL;

		if ((in = input_open(path, &why)) == NULL) {
			fprintf(stderr, "sessguard-trace: %s: cannot open: %s\n",
			    path ? path : "(standard input)", why);
			chain_free(&ch);
			pseudo_key_free(&key);
			return TRACE_FILE_ERROR;
		}
		name = input_name(in);
		files++;
		lineno = 0;
		while ((r = input_line(in, &line, &len, &complete)) > 0) {
			lineno++;
			if (chain_split(line, len, &body, mac) < 0) {
				printf("%s:%lu: broken: no mac (altered, cut short, "
				    "or not written with log_chain)\n", name, lineno);
				goto broken;
			}
			if (chain_prev(line, len, claim) == 0) {
				if (!started)
					memcpy(prev, claim, sizeof(claim));
				else if (strcmp(claim, prev) != 0) {
					printf("%s:%lu: broken: this file does not "
					    "follow the line before it (a file or "
					    "lines between are missing, or files "
					    "are out of order)\n", name, lineno);
					goto broken;
				}
			} else if (!started) {
				printf("%s:%lu: broken: the log does not start "
				    "with a chain line (lines before it are "
				    "missing)\n", name, lineno);
				goto broken;
			}
			started = 1;
			chain_mac(&ch, prev, line, body, want);
			if (strcmp(want, mac) != 0) {
				printf("%s:%lu: broken: first line that fails: it was "
				    "altered, or a line before it was removed, "
				    "inserted or reordered\n", name, lineno);
				goto broken;
			}
			memcpy(prev, mac, sizeof(mac));
			total++;
		}
		if (r < 0) {
			fprintf(stderr, "sessguard-trace: %s: cannot read after "
			    "line %lu: %s\n", name, lineno, input_error(in));
			input_close(in);
			chain_free(&ch);
			pseudo_key_free(&key);
			return TRACE_FILE_ERROR;
		}
		input_close(in);
	}
	chain_free(&ch);
	pseudo_key_free(&key);
	printf("chain intact: %lu lines in %d file%s\n", total, files,
	    files == 1 ? "" : "s");
	return 0;
broken:
	input_close(in);
	chain_free(&ch);
	pseudo_key_free(&key);
	return TRACE_BROKEN;
}

static void
trace_emit(const struct tsess *s, void *ctx)
{
	struct trace *tr = ctx;
	size_t	i;

	if (!filter_match(tr->filter, s))
		return;
	if (tr->json) {
		for (i = 0; i < s->nlines; i++) {
			fwrite(s->lines[i].text, 1, s->lines[i].len, stdout);
			fputc('\n', stdout);
		}
	} else {
		transcript_print(stdout, s);
	}
	fflush(stdout);
}

/* One line of input: filed under its session, or reported and skipped. */
static void
trace_line(struct sessions *set, const struct input *in, unsigned long lineno,
    const char *line, size_t len, int complete)
{
	struct strbuf why;
	json_t	*rec;

	strbuf_init(&why);
	if ((rec = record_parse(line, len, &why)) == NULL) {
		diag_warn("%s:%lu: %s%s; line skipped", input_name(in), lineno,
		    complete ? "" : "last line cut short (no newline): ",
		    strbuf_failed(&why) ? "out of memory" : strbuf_str(&why));
	} else {
		/* the links of a log_chain log belong to no session */
		if (!json_is_string(json_object_get(rec, "event"))
		    || strcmp(json_string_value(json_object_get(rec, "event")),
		    "chain") != 0)
			sessions_add(set, rec, line, len);
		json_decref(rec);
	}
	strbuf_free(&why);
}

static void
trace_file(struct trace *tr, struct sessions *set, const char *path)
{
	struct input *in;
	const char *why, *line;
	unsigned long lineno = 0;
	size_t	len;
	int	complete, r;

	if ((in = input_open(path, &why)) == NULL) {
		diag_warn("%s: cannot open: %s", path ? path : "(standard input)",
		    why);
		tr->failed = 1;
		return;
	}
	while ((r = input_line(in, &line, &len, &complete)) > 0)
		trace_line(set, in, ++lineno, line, len, complete);
	if (r < 0) {
		diag_warn("%s: cannot read after line %lu: %s", input_name(in),
		    lineno, input_error(in));
		tr->failed = 1;
	}
	input_close(in);
}

int
main(int argc, char **argv)
{
	struct trace tr;
	struct sessions *set;
	int	i;

	diag_init("sessguard-trace");
	memset(&tr, 0, sizeof(tr));
	tr.filter = filter_new();
	trace_options(&tr, argc, argv);
	if (tr.verify) {
		i = trace_verify(&tr, argc, argv);
		filter_free(tr.filter);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			diag_warn("standard output: write error");
			return 1;
		}
		return i;
	}
	trace_match_pseudonyms(&tr);
	set = sessions_new(trace_emit, &tr);
	if (optind == argc)
		trace_file(&tr, set, NULL);
	for (i = optind; i < argc; i++)
		trace_file(&tr, set, argv[i]);
	sessions_finish(set);
	sessions_free(set);
	filter_free(tr.filter);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		diag_warn("standard output: write error");
		return 1;
	}
	return tr.failed ? 1 : 0;
}
