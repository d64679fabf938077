/*
 * NAME
 *	senderbench - cost of a big sender_login_maps
 * SYNOPSIS
 *	bench/senderbench [--lines N] [--dir DIR]
 * DESCRIPTION
 *	Writes a text map of N lines (default 1,000,000: one address a line,
 *	every hundredth line a @domain catch-all, every tenth address with
 *	two owners) and the same records as a tinycdb file (libcdb's
 *	cdb_make), and measures, in this process:
 *
 *	load	senderlogin_map_load() of file:/path (the median of three
 *		loads), as a reload of the configuration does it, and of
 *		cdb:/path (which checks every record once);
 *	check	senderlogin_check() in strict mode on a mix of senders
 *		(listed addresses, the same with +extensions, addresses
 *		only a catch-all covers, unlisted ones), each call timed
 *		alone with CLOCK_MONOTONIC; p50 and p99 for 1,000 entries
 *		and for N, to show that a lookup does not grow with the map.
 *
 *	The target of issue 13: 1,000,000 lines load in under 2 s. Numbers
 *	are printed, never asserted.
 * DIAGNOSTICS
 *	Exit status 1 when a map cannot be written or loaded, or when a
 *	decision differs from the expected one (a bug, not a data point).
 */
#include <cdb.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchstat.h"
#include "senderlogin.h"

#define NCHECK	200000

static uint64_t rng = 88172645463325252ULL;

static uint32_t
rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* Line i of the map: key and owners. */
static void
entry(size_t i, char *key, size_t ksize, char *own, size_t osize)
{
	if (i % 100 == 99)
		snprintf(key, ksize, "@dept%zu.example.org", i);
	else
		snprintf(key, ksize, "user%zu@example%zu.org", i, i % 1000);
	if (i % 10 == 3)
		snprintf(own, osize, "login%zu, admin%zu", i, i % 50);
	else
		snprintf(own, osize, "login%zu", i);
}

static int
write_maps(const char *text, const char *db, size_t n)
{
	FILE	*fp;
	struct cdb_make cm;
	char	key[128], own[128];
	size_t	i;
	int	fd;

	if ((fp = fopen(text, "w")) == NULL)
		return -1;
	if ((fd = open(db, O_RDWR | O_CREAT | O_TRUNC, 0644)) < 0
	    || cdb_make_start(&cm, fd) < 0) {
		fclose(fp);
		return -1;
	}
	for (i = 0; i < n; i++) {
		entry(i, key, sizeof(key), own, sizeof(own));
		fprintf(fp, "%s %s\n", key, own);
		if (cdb_make_add(&cm, key, (unsigned)strlen(key), own,
		    (unsigned)strlen(own)) < 0)
			return -1;
	}
	if (cdb_make_finish(&cm) < 0 || close(fd) < 0)
		return -1;
	return fclose(fp) == 0 ? 0 : -1;
}

/* Times n checks; returns -1 when a verdict is wrong. */
static int
run_checks(const struct senderlogin_map *m, size_t lines, double *p50,
    double *p99)
{
	static double t[NCHECK];
	struct senderlogin_result r;
	char	sender[160], login[64], key[128], own[128];
	size_t	i, e;
	enum senderlogin_verdict want, got;
	double	t0;

	for (i = 0; i < NCHECK; i++) {
		e = rnd((uint32_t)lines);
		entry(e, key, sizeof(key), own, sizeof(own));
		snprintf(login, sizeof(login), "login%zu", e);
		want = SENDERLOGIN_PERMIT;
		switch (rnd(4)) {
		case 0:		/* the address itself */
			snprintf(sender, sizeof(sender), "%s",
			    key[0] == '@' ? "x" : "");
			strncat(sender, key, sizeof(sender) - strlen(sender) - 1);
			break;
		case 1:		/* with an extension */
			if (key[0] == '@')
				snprintf(sender, sizeof(sender), "x+tag%s", key);
			else {
				char	*at = strchr(key, '@');

				snprintf(sender, sizeof(sender), "%.*s+tag%s",
				    (int)(at - key), key, at);
			}
			break;
		case 2:		/* listed, but another login */
			snprintf(sender, sizeof(sender), "%s%s",
			    key[0] == '@' ? "x" : "", key);
			snprintf(login, sizeof(login), "login%zu", e + 1);
			want = SENDERLOGIN_REFUSE;
			break;
		default:	/* unlisted */
			snprintf(sender, sizeof(sender), "nobody%zu@nowhere.example",
			    e);
			want = SENDERLOGIN_REFUSE;
			break;
		}
		t0 = bench_now_ns();
		got = senderlogin_check(m, SENDERLOGIN_STRICT, sender, login, &r);
		t[i] = bench_now_ns() - t0;
		if (got != want) {
			fprintf(stderr, "senderbench: %s as %s: %s\n", sender,
			    login, r.reason);
			return -1;
		}
	}
	qsort(t, NCHECK, sizeof(t[0]), bench_cmp_double);
	*p50 = t[NCHECK / 2] / 1000.0;
	*p99 = t[NCHECK * 99 / 100] / 1000.0;
	return 0;
}

static struct senderlogin_map *
load(const char *spec, double *ms)
{
	char	err[1024];
	struct senderlogin_map *m;
	double	t0 = bench_now_ns();

	if ((m = senderlogin_map_load(spec, err, sizeof(err))) == NULL) {
		fprintf(stderr, "senderbench: %s\n", err);
		return NULL;
	}
	*ms = (bench_now_ns() - t0) / 1e6;
	return m;
}

int
main(int argc, char **argv)
{
	char	dir[256] = "", text[300], db[300], spec[310];
	size_t	n = 1000000, sizes[2], k, j;
	double	ms[3], cdbms, p50, p99;
	struct senderlogin_map *m;
	char	tmpl[] = "/tmp/sg-senderbench.XXXXXX";
	int	i, own_dir = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--lines") == 0 && i + 1 < argc)
			n = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			snprintf(dir, sizeof(dir), "%s", argv[++i]);
		else {
			fprintf(stderr, "usage: senderbench [--lines N] [--dir DIR]\n");
			return 2;
		}
	}
	if (n < 1000)
		n = 1000;
	if (dir[0] == '\0') {
		if (mkdtemp(tmpl) == NULL) {
			perror("senderbench: mkdtemp");
			return 1;
		}
		snprintf(dir, sizeof(dir), "%s", tmpl);
		own_dir = 1;
	}
	sizes[0] = 1000;
	sizes[1] = n;
	printf("== senderlogin: sender_login_maps of 1000 and %zu lines\n", n);
	for (k = 0; k < 2; k++) {
		snprintf(text, sizeof(text), "%s/senders-%zu", dir, sizes[k]);
		snprintf(db, sizeof(db), "%s/senders-%zu.cdb", dir, sizes[k]);
		if (write_maps(text, db, sizes[k]) < 0) {
			fprintf(stderr, "senderbench: cannot write %s\n", text);
			return 1;
		}
		snprintf(spec, sizeof(spec), "file:%s", text);
		for (j = 0; j < 3; j++) {
			if ((m = load(spec, &ms[j])) == NULL)
				return 1;
			if (j < 2)
				senderlogin_map_free(m);
		}
		qsort(ms, 3, sizeof(ms[0]), bench_cmp_double);
		if (run_checks(m, sizes[k], &p50, &p99) < 0)
			return 1;
		printf("   file: %8zu lines: load %8.1f ms (median of 3), check "
		    "p50 %.3f us p99 %.3f us\n", sizes[k], ms[1], p50, p99);
		senderlogin_map_free(m);
		snprintf(spec, sizeof(spec), "cdb:%s", db);
		if ((m = load(spec, &cdbms)) == NULL
		    || run_checks(m, sizes[k], &p50, &p99) < 0)
			return 1;
		printf("   cdb:  %8zu lines: load %8.1f ms (checks every record), "
		    "check p50 %.3f us p99 %.3f us\n", sizes[k], cdbms, p50, p99);
		senderlogin_map_free(m);
		if (k == 1)
			printf("   target: %zu lines load in under 2 s: %s "
			    "(file %.1f ms, cdb %.1f ms)\n", n,
			    ms[1] < 2000 ? "met" : "NOT met", ms[1], cdbms);
		unlink(text);
		unlink(db);
	}
	if (own_dir)
		rmdir(dir);
	return 0;
}
