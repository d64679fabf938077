/*
 * NAME
 *	limitcli - sessguard -L and -R: the rate-limit counters for admins
 * SYNOPSIS
 *	#include "limitcli.h"
 *
 *	int limitcli_main(cfg, reset_key)
 * DESCRIPTION
 *	With reset_key NULL (sessguard -L), lists on stdout the counters of
 *	the configured limit_store that stand at 80% of their limit or
 *	more, one a line, tab-separated: key, limit, count/max, period in
 *	seconds, and "over" or "near"; keys with bytes outside printable
 *	ASCII are written with \xNN. Nothing is listed when nothing is near
 *	a limit.
 *
 *	With reset_key (sessguard -R KEY; login:NAME or client:ADDRESS),
 *	removes that key's counters, so the login or address starts afresh,
 *	and says how many counters there were.
 *
 *	Both need a shared store: with limit_store = memory the counters
 *	live inside the running daemon, out of reach.
 * DIAGNOSTICS
 *	Returns the exit status: 0 done, 1 on a bad key, a memory store or
 *	an unreachable Redis (message on stderr).
 */
#include <stdio.h>
#include <string.h>

#include "limitcli.h"
#include "ratelimit.h"

#define NEAR_PERCENT	80

static void
put_escaped(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e
		    || *s == '\\')
			printf("\\x%02x", (unsigned char)*s);
		else
			putchar(*s);
	}
}

static void
print_one(void *ctx, const struct rl_limit *l)
{
	int	*n = ctx;

	put_escaped(l->key);
	printf("\t%s\t%lu/%lu\t%lus\t%s\n", l->name, l->count, l->max,
	    l->period_s, l->count >= l->max ? "over" : "near");
	(*n)++;
}

int
limitcli_main(const struct sg_config *cfg, const char *reset_key)
{
	struct ratelimit *rl;
	char	err[512];
	int	n = 0, rc;

	if (strcmp(cfg->limit_store, "memory") == 0) {
		fprintf(stderr, "sessguard: limit_store = memory: the counters "
		    "live inside the running daemon; -L and -R need a shared "
		    "store (limit_store = redis:...)\n");
		return 1;
	}
	if ((rl = ratelimit_create(cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "sessguard: %s\n", err);
		return 1;
	}
	if (reset_key) {
		rc = ratelimit_reset(rl, reset_key, err, sizeof(err));
		if (rc >= 0)
			printf("%s: %d counter%s removed\n", reset_key, rc,
			    rc == 1 ? "" : "s");
	} else {
		rc = ratelimit_list(rl, cfg, NEAR_PERCENT, print_one, &n, err,
		    sizeof(err));
		if (rc >= 0 && n == 0 && !ratelimit_enabled(cfg))
			fprintf(stderr, "sessguard: no rate limit is set in "
			    "this configuration\n");
	}
	ratelimit_free(rl);
	if (rc < 0) {
		fprintf(stderr, "sessguard: %s: %s\n", reset_key ? "-R" : "-L",
		    err);
		return 1;
	}
	return 0;
}
