/*
 * Unit tests of src/senderlogin.c: the map of sender_login_maps (text and
 * cdb files), the lookup order, the three modes of sender_login_check
 * against Postfix's reject_authenticated_sender_login_mismatch,
 * reject_known_sender_login_mismatch and reject_sender_login_mismatch,
 * the reply, and the keys in a configuration.
 */
#include <cdb.h>
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "senderlogin.h"
#include "util/strbuf.h"

/* The map of every test: extensions, catch-alls, several owners. */
static const char map_text[] =
    "# owners of sender addresses\n"
    "alice@example.org      alice\n"
    "Shared@Example.org     alice, BOB carol\n"
    "bob+lists@example.org  listbot\n"
    "bob@example.org        bob   # a comment\n"
    "@catchall.example      carol,dave\n"
    "postmaster@catchall.example  erin\r\n"
    "\n";

static char tmpdir[] = "/tmp/sg-senderlogin.XXXXXX";

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char	cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(tmpdir, "/tmp/sg-senderlogin.XXXXXX");
}

static void
write_file(const char *path, const char *text)
{
	FILE	*fp = fopen(path, "w");

	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	ck_assert_int_eq(fclose(fp), 0);
}

static struct senderlogin_map *
load_text(const char *text)
{
	char	err[512] = "";
	struct senderlogin_map *m = senderlogin_map_text("map", text, err,
	    sizeof(err));

	ck_assert_msg(m != NULL, "map did not load: %s", err);
	return m;
}

/* The error of a map that must not load. */
static const char *
bad_text(const char *text)
{
	static char err[512];
	struct senderlogin_map *m;

	err[0] = '\0';
	m = senderlogin_map_text("map", text, err, sizeof(err));
	ck_assert_msg(m == NULL, "map loaded: %s", text);
	return err;
}

static enum senderlogin_verdict
check(const struct senderlogin_map *m, enum senderlogin_mode mode,
    const char *sender, const char *login)
{
	struct senderlogin_result r;

	return senderlogin_check(m, mode, sender, login, &r);
}

#define P	SENDERLOGIN_PERMIT
#define R	SENDERLOGIN_REFUSE
#define AUTH	SENDERLOGIN_AUTHENTICATED
#define KNOWN	SENDERLOGIN_KNOWN
#define STRICT	SENDERLOGIN_STRICT

/*
 * One row a case: sender, login (NULL: not authenticated), and the verdict
 * of authenticated, known and strict. Postfix's table (Wietse, postfix-users,
 * 2022): authenticated refuses an authenticated client whose sender is
 * unlisted or not its own; known refuses an authenticated client whose
 * listed sender is not its own, and an unauthenticated one using a listed
 * sender; strict is both of authenticated and unauthenticated.
 */
static const struct {
	const char *sender, *login;
	enum senderlogin_verdict v[3];	/* authenticated, known, strict */
} cases[] = {
	/* authenticated, owner */
	{ "alice@example.org", "alice", { P, P, P } },
	/* authenticated, not the owner */
	{ "alice@example.org", "bob", { R, R, R } },
	/* authenticated, unlisted sender */
	{ "mallory@elsewhere.example", "bob", { R, P, R } },
	/* not authenticated, listed sender */
	{ "alice@example.org", NULL, { P, R, R } },
	{ "alice@example.org", "", { P, R, R } },
	/* not authenticated, unlisted sender */
	{ "mallory@elsewhere.example", NULL, { P, P, P } },
	/* several owners, and case-insensitive keys and logins */
	{ "shared@example.org", "alice", { P, P, P } },
	{ "shared@example.org", "bob", { P, P, P } },
	{ "SHARED@EXAMPLE.ORG", "Carol", { P, P, P } },
	{ "shared@example.org", "dave", { R, R, R } },
	{ "ALICE@example.ORG", "ALICE", { P, P, P } },
	{ "alice@example.org", "alic", { R, R, R } },
	{ "alice@example.org", "alicex", { R, R, R } },
	/* extensions: user+ext@domain first, then user@domain */
	{ "alice+news@example.org", "alice", { P, P, P } },
	{ "alice+news@example.org", "bob", { R, R, R } },
	{ "bob+lists@example.org", "listbot", { P, P, P } },
	{ "bob+lists@example.org", "bob", { R, R, R } },	/* itself first */
	{ "bob+other@example.org", "bob", { P, P, P } },
	{ "bob+other@example.org", "listbot", { R, R, R } },
	{ "alice+@example.org", "alice", { P, P, P } },
	{ "+alice@example.org", "alice", { R, P, R } },	/* no user part */
	{ "alice+news@example.org", NULL, { P, R, R } },
	/* catch-all: @domain, after the address itself */
	{ "anyone@catchall.example", "carol", { P, P, P } },
	{ "anyone+x@catchall.example", "dave", { P, P, P } },
	{ "anyone@catchall.example", "alice", { R, R, R } },
	{ "anyone@catchall.example", NULL, { P, R, R } },
	{ "postmaster@catchall.example", "erin", { P, P, P } },
	{ "postmaster@catchall.example", "carol", { R, R, R } },
	/* a subdomain is not the domain */
	{ "anyone@sub.catchall.example", "carol", { R, P, R } },
	{ "anyone@sub.catchall.example", NULL, { P, P, P } },
	/* a local part alone, and odd addresses: unlisted */
	{ "alice", "alice", { R, P, R } },
	{ "alice@", "alice", { R, P, R } },
	{ "@example.org", "alice", { R, P, R } },
	/* the last '@' separates the domain */
	{ "\"a@b\"@catchall.example", "carol", { P, P, P } },
	/* the null sender is exempt */
	{ "", "bob", { P, P, P } },
	{ "<>", "bob", { P, P, P } },
	{ "", NULL, { P, P, P } },
	/* as the MAIL command gives it, in angle brackets */
	{ "<alice@example.org>", "alice", { P, P, P } },
	{ "<Alice+x@example.org>", "bob", { R, R, R } },
	{ "<alice@example.org>", NULL, { P, R, R } },
	{ "<mallory@elsewhere.example>", "bob", { R, P, R } },
};

START_TEST(t_modes)
{
	struct senderlogin_map *m = load_text(map_text);
	static const enum senderlogin_mode modes[] = { AUTH, KNOWN, STRICT };
	size_t	i, j;

	ck_assert_uint_eq(senderlogin_map_count(m), 6);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (j = 0; j < 3; j++) {
			struct senderlogin_result r;

			senderlogin_check(m, modes[j], cases[i].sender,
			    cases[i].login, &r);
			ck_assert_msg(r.verdict == cases[i].v[j],
			    "%s as %s, %s: got %s (%s)", cases[i].sender,
			    cases[i].login ? cases[i].login : "(none)",
			    senderlogin_mode_name(modes[j]),
			    r.verdict == P ? "permit" : "refuse", r.reason);
		}
	/* off, or no map: everything passes */
	ck_assert_int_eq(check(m, SENDERLOGIN_OFF, "alice@example.org", "bob"), P);
	ck_assert_int_eq(check(NULL, STRICT, "alice@example.org", "bob"), P);
	senderlogin_map_free(m);
	senderlogin_map_free(NULL);
}
END_TEST

START_TEST(t_reasons)
{
	struct senderlogin_map *m = load_text(map_text);
	struct senderlogin_result r;
	char	buf[SENDERLOGIN_REASON_MAX];

	ck_assert_int_eq(senderlogin_check(m, STRICT, "Alice+x@example.org",
	    "bob", &r), R);
	ck_assert_int_eq(r.why, SENDERLOGIN_WHY_NOT_OWNER);
	ck_assert_str_eq(r.matched, "alice@example.org");
	ck_assert_str_eq(r.owners, "alice");
	ck_assert_str_eq(r.reason, "sender Alice+x@example.org not owned by "
	    "login bob (entry alice@example.org: alice)");
	senderlogin_reason(&r, "TOKEN1", "TOKEN2", 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "sender TOKEN1 not owned by login TOKEN2");

	ck_assert_int_eq(senderlogin_check(m, AUTH, "x@elsewhere.example",
	    "bob", &r), R);
	ck_assert_int_eq(r.why, SENDERLOGIN_WHY_UNLISTED);
	ck_assert_str_eq(r.matched, "");
	ck_assert_str_eq(r.reason, "sender x@elsewhere.example is unlisted "
	    "(login bob owns no entry for it)");

	ck_assert_int_eq(senderlogin_check(m, KNOWN, "a@catchall.example",
	    NULL, &r), R);
	ck_assert_int_eq(r.why, SENDERLOGIN_WHY_NOT_LOGGED_IN);
	ck_assert_str_eq(r.owners, "carol, dave");
	ck_assert_str_eq(r.reason, "not authenticated: sender a@catchall.example "
	    "belongs to carol, dave (entry @catchall.example)");
	senderlogin_reason(&r, "T", "", 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "not authenticated: sender T is listed in "
	    "sender_login_maps");

	ck_assert_int_eq(senderlogin_check(m, KNOWN, "shared@example.org",
	    "bob", &r), P);
	ck_assert_int_eq(r.why, SENDERLOGIN_WHY_OWNER);
	ck_assert_str_eq(r.owners, "alice, BOB, carol");

	ck_assert_int_eq(senderlogin_check(m, KNOWN, "x@elsewhere.example",
	    "bob", &r), P);
	ck_assert_int_eq(r.why, SENDERLOGIN_WHY_UNLISTED_FREE);
	ck_assert_int_eq(senderlogin_check(m, AUTH, "alice@example.org",
	    NULL, &r), P);
	ck_assert_int_eq(r.why, SENDERLOGIN_WHY_UNAUTH_FREE);
	ck_assert_int_eq(senderlogin_check(m, STRICT, "<>", "bob", &r), P);
	ck_assert_int_eq(r.why, SENDERLOGIN_WHY_NULL_SENDER);
	ck_assert_str_eq(r.reason, "the null sender is exempt");
	ck_assert_int_eq(senderlogin_check(m, STRICT, "<bob@example.org>",
	    "alice", &r), R);
	ck_assert_str_eq(r.reason, "sender bob@example.org not owned by login "
	    "alice (entry bob@example.org: bob)");

	/* untrusted bytes are shown as '?', and cut */
	ck_assert_int_eq(senderlogin_check(m, AUTH, "a\r\nb@x.example",
	    "bo\033b", &r), R);
	ck_assert_str_eq(r.reason, "sender a??b@x.example is unlisted "
	    "(login bo?b owns no entry for it)");
	senderlogin_map_free(m);
}
END_TEST

/* Addresses longer than any buffer are looked up whole (no bypass). */
START_TEST(t_long_sender)
{
	struct senderlogin_map *m = load_text(map_text);
	struct senderlogin_result r;
	size_t	n = 5000;
	char	*s = malloc(n + 32);

	ck_assert_ptr_nonnull(s);
	strcpy(s, "alice+");
	memset(s + 6, 'x', n);
	strcpy(s + 6 + n, "@example.org");
	ck_assert_int_eq(senderlogin_check(m, KNOWN, s, "bob", &r), R);
	ck_assert_str_eq(r.matched, "alice@example.org");
	ck_assert_int_lt(strlen(r.reason), SENDERLOGIN_REASON_MAX);
	ck_assert_int_eq(senderlogin_check(m, KNOWN, s, "alice", &r), P);
	memcpy(s, "zzzzz", 5);
	ck_assert_int_eq(senderlogin_check(m, AUTH, s, "alice", &r), R);
	ck_assert_int_eq(r.why, SENDERLOGIN_WHY_UNLISTED);
	free(s);
	senderlogin_map_free(m);
}
END_TEST

START_TEST(t_bad_lines)
{
	ck_assert_str_eq(bad_text("a@b.example x\nnoat y\n"),
	    "map:2: 'noat': expected user@domain or @domain");
	ck_assert_str_eq(bad_text("a@b.example\n"),
	    "map:1: no login after the address");
	ck_assert_str_eq(bad_text("a@b.example ,, \n"),
	    "map:1: no login after the address");
	ck_assert_str_eq(bad_text("\n\nA@b.example x\na@B.EXAMPLE y\n"),
	    "map:4: 'a@B.EXAMPLE': listed again (first at line 3)");
	ck_assert_str_eq(bad_text("@bad..example x\n"),
	    "map:1: '@bad..example': empty label");
	ck_assert_str_eq(bad_text("@.example x\n"),
	    "map:1: '@.example': domain starts with a dot");
	ck_assert_str_eq(bad_text("a@ x\n"), "map:1: 'a@': empty domain");
	ck_assert_str_eq(bad_text("<a@b.example> x\n"),
	    "map:1: '<a@b.example>': write the address without angle brackets "
	    "(the null sender <> is always exempt)");
	ck_assert_str_eq(bad_text("<> x\n"),
	    "map:1: '<>': write the address without angle brackets "
	    "(the null sender <> is always exempt)");
	ck_assert_str_eq(bad_text("a@b.example x\001y\n"),
	    "map:1: control character in line");
	ck_assert_ptr_nonnull(strstr(bad_text("a@b.example "
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"),
	    "map:1: login longer than 255 bytes"));
	/* comments and blank lines are not entries; an empty map loads */
	{
		struct senderlogin_map *m = load_text("# nothing\n\n   \n");

		ck_assert_uint_eq(senderlogin_map_count(m), 0);
		ck_assert_int_eq(check(m, STRICT, "a@b.example", NULL), P);
		ck_assert_int_eq(check(m, STRICT, "a@b.example", "a"), R);
		senderlogin_map_free(m);
	}
}
END_TEST

START_TEST(t_file_map)
{
	char	path[256], spec[300], err[512] = "";
	struct senderlogin_map *m;

	snprintf(path, sizeof(path), "%s/senders", tmpdir);
	write_file(path, map_text);
	snprintf(spec, sizeof(spec), "file:%s", path);
	m = senderlogin_map_load(spec, err, sizeof(err));
	ck_assert_msg(m != NULL, "%s", err);
	ck_assert_str_eq(senderlogin_map_name(m), spec);
	ck_assert_uint_eq(senderlogin_map_count(m), 6);
	ck_assert_int_eq(check(m, STRICT, "shared@example.org", "carol"), P);
	ck_assert_int_eq(check(m, STRICT, "shared@example.org", "erin"), R);
	senderlogin_map_free(m);

	/* a bad line names the file and the line */
	write_file(path, "a@b.example x\n\nbad y\n");
	ck_assert_ptr_null(senderlogin_map_load(spec, err, sizeof(err)));
	snprintf(spec, sizeof(spec), "%s:3: 'bad': expected user@domain or "
	    "@domain", path);
	ck_assert_str_eq(err, spec);

	ck_assert_ptr_null(senderlogin_map_load("file:/nonexistent/senders",
	    err, sizeof(err)));
	ck_assert_str_eq(err, "/nonexistent/senders: cannot open: No such "
	    "file or directory");
	ck_assert_ptr_null(senderlogin_map_load("hash:/etc/senders", err,
	    sizeof(err)));
	ck_assert_str_eq(err, "'hash:/etc/senders': expected "
	    "file:/absolute/path or cdb:/absolute/path");
	ck_assert_ptr_null(senderlogin_map_load("file:relative", err,
	    sizeof(err)));
}
END_TEST

/* A cdb file by libcdb's cdb_make API: keys lower case, values owners. */
static void
make_cdb(const char *path, const char *const *kv)
{
	struct cdb_make cm;
	int	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(cdb_make_start(&cm, fd), 0);
	for (; *kv; kv += 2)
		ck_assert_int_eq(cdb_make_add(&cm, kv[0], (unsigned)strlen(kv[0]),
		    kv[1], (unsigned)strlen(kv[1])), 0);
	ck_assert_int_eq(cdb_make_finish(&cm), 0);
	ck_assert_int_eq(close(fd), 0);
}

static const char *const cdb_records[] = {
	"alice@example.org", "alice",
	"shared@example.org", "alice, BOB carol",
	"bob+lists@example.org", "listbot",
	"bob@example.org", "bob",
	"@catchall.example", "carol,dave",
	"postmaster@catchall.example", "erin",
	NULL,
};

START_TEST(t_cdb_map)
{
	static const enum senderlogin_mode modes[] = { AUTH, KNOWN, STRICT };
	char	path[256], spec[300], err[512] = "";
	struct senderlogin_map *m;
	struct senderlogin_result r;
	size_t	i, j;

	snprintf(path, sizeof(path), "%s/senders.cdb", tmpdir);
	make_cdb(path, cdb_records);
	snprintf(spec, sizeof(spec), "cdb:%s", path);
	m = senderlogin_map_load(spec, err, sizeof(err));
	ck_assert_msg(m != NULL, "%s", err);
	ck_assert_uint_eq(senderlogin_map_count(m), 6);
	/* the same decisions as the text map */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (j = 0; j < 3; j++) {
			senderlogin_check(m, modes[j], cases[i].sender,
			    cases[i].login, &r);
			ck_assert_msg(r.verdict == cases[i].v[j],
			    "cdb: %s as %s, %s: %s", cases[i].sender,
			    cases[i].login ? cases[i].login : "(none)",
			    senderlogin_mode_name(modes[j]), r.reason);
		}
	ck_assert_int_eq(senderlogin_check(m, STRICT, "Shared+x@EXAMPLE.org",
	    "erin", &r), R);
	ck_assert_str_eq(r.matched, "shared@example.org");
	ck_assert_str_eq(r.owners, "alice, BOB, carol");
	senderlogin_map_free(m);
}
END_TEST

/*
 * A cdb file rewritten in place (cp over it truncates it, then writes)
 * while loaded: lookups go on with the map loaded, and the process lives
 * (tinycdb maps its file: a mapped file cut short means SIGBUS).
 */
START_TEST(t_cdb_truncated)
{
	static char filler[2000][40];
	const char *kv[2 * 2000 + 16];
	char	path[256], spec[300], err[512] = "";
	struct senderlogin_map *m;
	struct senderlogin_result r;
	size_t	i, n = 0;
	int	fd;

	/* pages of records, so that the hash tables lie past the first page */
	for (i = 0; cdb_records[i]; i++)
		kv[n++] = cdb_records[i];
	for (i = 0; i < 2000; i++) {
		snprintf(filler[i], sizeof(filler[i]), "user%zu@filler.example",
		    i);
		kv[n++] = filler[i];
		kv[n++] = "filler";
	}
	kv[n] = NULL;
	snprintf(path, sizeof(path), "%s/cut.cdb", tmpdir);
	make_cdb(path, kv);
	snprintf(spec, sizeof(spec), "cdb:%s", path);
	m = senderlogin_map_load(spec, err, sizeof(err));
	ck_assert_msg(m != NULL, "%s", err);
	/* cut short as a copy over it half done: the header still there */
	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	close(fd);
	ck_assert_int_eq(senderlogin_check(m, STRICT, "Shared+x@EXAMPLE.org",
	    "erin", &r), R);
	ck_assert_str_eq(r.owners, "alice, BOB, carol");
	senderlogin_map_free(m);
	/* and the file cut short is refused at the next load, by name */
	ck_assert_ptr_null(senderlogin_map_load(spec, err, sizeof(err)));
	ck_assert_msg(strstr(err, path) != NULL, "%s", err);
}
END_TEST

START_TEST(t_cdb_bad)
{
	static const char *const upper[] = {
		"alice@example.org", "alice", "Bob@example.org", "bob", NULL,
	};
	static const char *const nologin[] = {
		"alice@example.org", "alice", "x@example.org", " , ", NULL,
	};
	static const char *const nodomain[] = { "alice", "alice", NULL };
	char	path[256], spec[300], want[512], err[512] = "";

	snprintf(path, sizeof(path), "%s/bad.cdb", tmpdir);
	snprintf(spec, sizeof(spec), "cdb:%s", path);
	make_cdb(path, upper);
	ck_assert_ptr_null(senderlogin_map_load(spec, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: record 2 ('Bob@example.org'): upper "
	    "case in the key (keys must be lower case: lookups are)", path);
	ck_assert_str_eq(err, want);
	make_cdb(path, nologin);
	ck_assert_ptr_null(senderlogin_map_load(spec, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: record 2 ('x@example.org'): no login "
	    "after the address", path);
	ck_assert_str_eq(err, want);
	make_cdb(path, nodomain);
	ck_assert_ptr_null(senderlogin_map_load(spec, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: record 1 ('alice'): 'alice': expected "
	    "user@domain or @domain", path);
	ck_assert_str_eq(err, want);
	/* not a cdb file at all */
	write_file(path, "alice@example.org alice\n");
	ck_assert_ptr_null(senderlogin_map_load(spec, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: not a cdb file (build it with cdb -c "
	    "-m)", path);
	ck_assert_str_eq(err, want);
}
END_TEST

/* The documented way: tinycdb's cdb -c -m from the lines of a text map. */
START_TEST(t_cdb_tool)
{
	char	src[256], db[256], spec[300], cmd[1024], err[512] = "";
	struct senderlogin_map *m;

	if (system("command -v cdb >/dev/null 2>&1") != 0) {
		fprintf(stderr, "t_cdb_tool: the cdb tool (Debian package "
		    "tinycdb) is not installed: skipped\n");
		return;
	}
	snprintf(src, sizeof(src), "%s/senders", tmpdir);
	snprintf(db, sizeof(db), "%s/senders.cdb", tmpdir);
	write_file(src, "alice@example.org alice\n"
	    "Shared@Example.org alice, bob\n"
	    "@catchall.example carol\n");
	/* the command of sessguard.conf(5) */
	snprintf(cmd, sizeof(cmd), "tr A-Z a-z < '%s' | cdb -c -m '%s'", src, db);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(spec, sizeof(spec), "cdb:%s", db);
	m = senderlogin_map_load(spec, err, sizeof(err));
	ck_assert_msg(m != NULL, "%s", err);
	ck_assert_uint_eq(senderlogin_map_count(m), 3);
	ck_assert_int_eq(check(m, STRICT, "SHARED@example.org", "bob"), P);
	ck_assert_int_eq(check(m, STRICT, "shared@example.org", "carol"), R);
	ck_assert_int_eq(check(m, STRICT, "x@catchall.example", "carol"), P);
	ck_assert_int_eq(check(m, KNOWN, "x@catchall.example", NULL), R);
	senderlogin_map_free(m);
}
END_TEST

START_TEST(t_reply)
{
	char	out[600];

	senderlogin_reply("Sender address rejected: not owned by user %u",
	    "a@b.example", "bob", out, sizeof(out));
	ck_assert_str_eq(out, "Sender address rejected: not owned by user bob");
	senderlogin_reply("<%s> not owned by %u (100%%)", "a@b.example", NULL,
	    out, sizeof(out));
	ck_assert_str_eq(out, "<a@b.example> not owned by (not logged in) "
	    "(100%)");
	senderlogin_reply("%s %x %", "a\r\nb", "", out, sizeof(out));
	ck_assert_str_eq(out, "a??b %x %");
	senderlogin_reply("long %s", "0123456789", "", out, 10);
	ck_assert_str_eq(out, "long 0123");
}
END_TEST

/* The keys: loaded with the snapshot, errors name both files. */
START_TEST(t_config)
{
	char	path[256], conf[600], want[600], err[1024] = "";
	struct sg_config *cfg;
	struct strbuf sb;

	snprintf(path, sizeof(path), "%s/senders", tmpdir);
	write_file(path, map_text);
	snprintf(conf, sizeof(conf), "sender_login_maps = file:%s\n"
	    "sender_login_check = known\n"
	    "sender_reply = 553 5.7.1 <%%s> is not yours, %%u\n", path);
	cfg = config_load_string("c.conf", conf, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->sender_login_check, KNOWN);
	ck_assert_uint_eq(senderlogin_map_count(cfg->sender_login_map), 6);
	ck_assert_str_eq(cfg->sender_reply.code, "553");
	ck_assert_str_eq(cfg->sender_reply.xcode, "5.7.1");
	ck_assert_str_eq(cfg->sender_reply.text, "<%s> is not yours, %u");
	ck_assert_str_eq(cfg->relay_reply.text, "Relay access denied");
	ck_assert_int_eq(check(cfg->sender_login_map, cfg->sender_login_check,
	    "bob@example.org", "alice"), R);
	strbuf_init(&sb);
	config_show_key(cfg, "sender_reply", &sb);
	ck_assert_str_eq(strbuf_str(&sb), "553 5.7.1 <%s> is not yours, %u");
	strbuf_free(&sb);
	config_free(cfg);

	/* defaults */
	cfg = config_load_string("c.conf", "", err, sizeof(err));
	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(cfg->sender_login_check, SENDERLOGIN_OFF);
	ck_assert_ptr_null(cfg->sender_login_map);
	ck_assert_str_eq(cfg->sender_reply.text,
	    "Sender address rejected: not owned by user %u");
	config_free(cfg);

	/* a bad map line: the configuration's line and the map's */
	write_file(path, "a@b.example x\nbad\n");
	snprintf(conf, sizeof(conf), "\nsender_login_maps = file:%s\n", path);
	ck_assert_ptr_null(config_load_string("c.conf", conf, err, sizeof(err)));
	snprintf(want, sizeof(want), "c.conf:2: sender_login_maps: %s:2: 'bad': "
	    "expected user@domain or @domain", path);
	ck_assert_str_eq(err, want);

	ck_assert_ptr_null(config_load_string("c.conf",
	    "sender_login_check = strict\n", err, sizeof(err)));
	ck_assert_str_eq(err, "c.conf:1: sender_login_check: needs "
	    "sender_login_maps");
	ck_assert_ptr_null(config_load_string("c.conf",
	    "sender_login_check = yes\n", err, sizeof(err)));
	ck_assert_str_eq(err, "c.conf:1: sender_login_check: 'yes': expected "
	    "off, authenticated, known or strict");
	ck_assert_ptr_null(config_load_string("c.conf",
	    "sender_reply = 450 4.7.1 try later\n", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "c.conf:1: sender_reply: '450 4.7.1 "
	    "try later': must start with a 5xx reply code"));
	ck_assert_ptr_null(config_load_string("c.conf",
	    "sender_login_maps = /etc/senders\n", err, sizeof(err)));
	ck_assert_str_eq(err, "c.conf:1: sender_login_maps: '/etc/senders': "
	    "expected file:/absolute/path or cdb:/absolute/path");
}
END_TEST

/* A reload reads the map again: a new snapshot sees the new file. */
START_TEST(t_reload)
{
	char	path[256], conf[600], err[1024] = "";
	struct sg_config *a, *b;

	snprintf(path, sizeof(path), "%s/senders", tmpdir);
	write_file(path, "a@b.example alice\n");
	snprintf(conf, sizeof(conf), "sender_login_maps = file:%s\n"
	    "sender_login_check = strict\n", path);
	a = config_load_string("c.conf", conf, err, sizeof(err));
	ck_assert_msg(a != NULL, "%s", err);
	write_file(path, "a@b.example bob\n");
	b = config_load_string("c.conf", conf, err, sizeof(err));
	ck_assert_msg(b != NULL, "%s", err);
	/* the old snapshot keeps its own map while sessions still use it */
	ck_assert_int_eq(check(a->sender_login_map, STRICT, "a@b.example",
	    "alice"), P);
	ck_assert_int_eq(check(b->sender_login_map, STRICT, "a@b.example",
	    "alice"), R);
	ck_assert_int_eq(check(b->sender_login_map, STRICT, "a@b.example",
	    "bob"), P);
	config_free(a);
	config_free(b);
}
END_TEST

/* 100,000 lines: every entry found, with the right owner. */
START_TEST(t_large)
{
	char	path[256], spec[300], err[512] = "", addr[64], login[32];
	struct senderlogin_map *m;
	FILE	*fp;
	size_t	i, n = 100000;

	snprintf(path, sizeof(path), "%s/big", tmpdir);
	ck_assert_ptr_nonnull(fp = fopen(path, "w"));
	for (i = 0; i < n; i++)
		fprintf(fp, "user%zu@d%zu.example u%zu\n", i, i % 997, i);
	ck_assert_int_eq(fclose(fp), 0);
	snprintf(spec, sizeof(spec), "file:%s", path);
	m = senderlogin_map_load(spec, err, sizeof(err));
	ck_assert_msg(m != NULL, "%s", err);
	ck_assert_uint_eq(senderlogin_map_count(m), n);
	for (i = 0; i < n; i++) {
		snprintf(addr, sizeof(addr), "USER%zu+x@d%zu.example", i, i % 997);
		snprintf(login, sizeof(login), "u%zu", i);
		ck_assert_int_eq(check(m, STRICT, addr, login), P);
		snprintf(login, sizeof(login), "u%zu", i + 1);
		ck_assert_int_eq(check(m, STRICT, addr, login), R);
	}
	senderlogin_map_free(m);
}
END_TEST

static Suite *
senderlogin_suite(void)
{
	Suite	*s = suite_create("senderlogin");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_modes);
	tcase_add_test(tc, t_reasons);
	tcase_add_test(tc, t_long_sender);
	tcase_add_test(tc, t_bad_lines);
	tcase_add_test(tc, t_file_map);
	tcase_add_test(tc, t_cdb_map);
	tcase_add_test(tc, t_cdb_truncated);
	tcase_add_test(tc, t_cdb_bad);
	tcase_add_test(tc, t_cdb_tool);
	tcase_add_test(tc, t_reply);
	tcase_add_test(tc, t_config);
	tcase_add_test(tc, t_reload);
	tcase_add_test(tc, t_large);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(senderlogin_suite());
	int	failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
