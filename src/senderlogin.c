/*
 * NAME
 *	senderlogin - which logins own which sender addresses (SPEC 8)
 * SYNOPSIS
 *	#include "senderlogin.h"
 *
 *	struct senderlogin_map *senderlogin_map_load(spec, err, errlen)
 *	struct senderlogin_map *senderlogin_map_text(name, text, err, errlen)
 *	void senderlogin_map_free(map)
 *	size_t senderlogin_map_count(map)
 *	const char *senderlogin_map_name(map)
 *
 *	int senderlogin_lookup(map, sender, result)
 *	enum senderlogin_verdict senderlogin_check(map, mode, sender, login,
 *		result)
 *	void senderlogin_reason(result, sender_shown, login_shown,
 *		show_entry, buf, size)
 *	void senderlogin_reply(text, sender, login, out, size)
 *	const char *senderlogin_mode_name(mode)
 * DESCRIPTION
 *	The map of sender_login_maps, and the decision of sender_login_check
 *	at MAIL, as Postfix's smtpd_sender_login_maps and its restrictions
 *	reject_authenticated_sender_login_mismatch (authenticated),
 *	reject_known_sender_login_mismatch (known) and
 *	reject_sender_login_mismatch (strict) make it.
 *
 *	senderlogin_map_load() loads spec: "file:/path", a text file read by
 *	util/linefile (so '#' comments, CR LF, at most SENDERLOGIN_FILE_MAX
 *	bytes), a line "address login[, login...]" where the logins are
 *	separated by commas or white space and address is user@domain,
 *	user+ext@domain or @domain (every address of the domain); or
 *	"cdb:/path", a tinycdb file whose keys are such addresses in lower
 *	case and whose values are the owner lists, as "cdb -c -m" builds it
 *	from the same lines. A text map is hashed into memory (util/strset,
 *	case-insensitive); a cdb file is copied into a sealed memfd (a
 *	file rewritten in place cannot disturb it), mapped, every record
 *	checked once, then looked up there. senderlogin_map_text() loads a
 *	text map from memory, named name in diagnostics. A map is immutable
 *	once loaded: any number of threads may look up in it at once. It
 *	belongs to one configuration snapshot and is freed with it by
 *	senderlogin_map_free() (a null map is allowed there).
 *
 *	senderlogin_lookup() finds the owners of sender: it looks up
 *	user+ext@domain itself, then user@domain (the extension cut at the
 *	first '+' of the local part), then @domain, case-insensitively, and
 *	the first entry found answers. It fills result->matched (the key)
 *	and result->owners ("alice, bob"), both cut to their size.
 *
 *	senderlogin_check() decides for one MAIL: sender is the envelope
 *	address, bare or in one pair of angle brackets as the MAIL command
 *	gives it ("" or "<>": the null sender, which is always permitted);
 *	login is the SASL login of the session, or
 *	NULL (or "") when it has not authenticated. With an authenticated
 *	session, authenticated and strict refuse a sender that is unlisted
 *	or whose entry does not name the login (compared case-insensitively);
 *	known refuses only the latter. With a session that has not
 *	authenticated, known and strict refuse a listed sender (Postfix
 *	does so "when SASL is enabled": here, when the check is on), and
 *	authenticated permits anything. Mode off, or a null map, permits.
 *	result->reason gets a sentence for the log, with the sender and the
 *	login in clear.
 *
 *	senderlogin_reason() writes that sentence again into buf with the
 *	sender and login given as shown (pseudonymized by the caller); with
 *	show_entry 0 the matched entry and the owners are left out.
 *
 *	senderlogin_reply() expands the text of sender_reply into out: %u is
 *	the login ("(not logged in)" when NULL), %s the sender, %% a '%';
 *	bytes outside printable ASCII become '?', and each substitution is
 *	cut at 256 bytes.
 * DIAGNOSTICS
 *	The loaders return NULL and put one message in err: "NAME:LINE:
 *	reason" for a bad line of a text map (no '@', bad domain, no login,
 *	an address listed twice, a control character, a line too long),
 *	"PATH: record N: reason" for a bad record of a cdb file (a key with
 *	upper case letters, which no lookup would find, among them), or
 *	"PATH: reason" when the file cannot be read or is no cdb file.
 *
 *	senderlogin_lookup() returns 1 when found, 0 when not, -1 when the
 *	cdb file cannot be read or memory runs out; senderlogin_check()
 *	answers SENDERLOGIN_ERROR then, and the caller should answer 4xx.
 */
#include <cdb.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "senderlogin.h"
#include "util/addr.h"
#include "util/linefile.h"
#include "util/msg.h"
#include "util/strset.h"
#include "util/writeall.h"

#define LOGIN_MAX	255	/* bytes of one login in a map */
#define CDB_MAX		(1 << 30) /* bytes of a cdb file */
#define SHOWN_MAX	256	/* bytes of an address or login in a text */

struct senderlogin_val {
	size_t	 off;		/* owners "a,b" in pool */
	int	 line;		/* where the entry is, for duplicates */
};

struct senderlogin_map {
	char	*name;		/* "file:/path", "cdb:/path", or the name */
	int	 is_cdb;
	/* a text map */
	struct strset *keys;
	struct senderlogin_val *val;
	size_t	 nval, valcap;
	char	*pool;
	size_t	 poolused, poolcap;
	/* a cdb map */
	int	 fd;
	struct cdb cdb;
	size_t	 ncdb;
};

static int
is_sep(int c)
{
	return c == ',' || c == ' ' || c == '\t';
}

/* Copies s, bytes outside printable ASCII as '?', cut at max bytes. */
static void
put_shown(char **out, char *end, const char *s, size_t len, size_t max)
{
	size_t	i;

	for (i = 0; i < len && i < max && *out + 1 < end; i++) {
		unsigned char c = (unsigned char)s[i];

		*(*out)++ = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
	}
	**out = '\0';
}

/* Checks an address key; len bytes at key, NUL-terminated. */
static int
check_key(const char *key, size_t len, char *err, size_t errlen)
{
	const char *at, *why;

	if (len > SENDERLOGIN_KEY_MAX) {
		errf(err, errlen, "address longer than %d bytes",
		    SENDERLOGIN_KEY_MAX);
		return -1;
	}
	if (strpbrk(key, "<>") != NULL) {
		errf(err, errlen, "'%s': write the address without angle "
		    "brackets (the null sender <> is always exempt)", key);
		return -1;
	}
	if ((at = strrchr(key, '@')) == NULL) {
		errf(err, errlen, "'%s': expected user@domain or @domain", key);
		return -1;
	}
	if (at[1] == '.' || domain_valid(at + 1, &why) < 0) {
		errf(err, errlen, "'%s': %s", key, at[1] == '.'
		    ? "domain starts with a dot" : why);
		return -1;
	}
	return 0;
}

/*
 * Parses an owner list (len bytes at v) into "a,b" at out (room for len
 * + 1 bytes); returns the number of logins, or -1 with a reason.
 */
static int
parse_owners(const char *v, size_t len, char *out, char *err, size_t errlen)
{
	size_t	i = 0, start, n = 0, o = 0;
	int	count = 0;

	while (i < len) {
		while (i < len && is_sep((unsigned char)v[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && !is_sep((unsigned char)v[i])) {
			unsigned char c = (unsigned char)v[i];

			if (c < 0x20 || c == 0x7f) {
				errf(err, errlen, "control character in a login");
				return -1;
			}
			i++;
		}
		n = i - start;
		if (n > LOGIN_MAX) {
			errf(err, errlen, "login longer than %d bytes", LOGIN_MAX);
			return -1;
		}
		if (count++)
			out[o++] = ',';
		memcpy(out + o, v + start, n);
		o += n;
	}
	out[o] = '\0';
	if (count == 0)
		errf(err, errlen, "no login after the address");
	return count ? count : -1;
}

static struct senderlogin_map *
map_new(const char *name)
{
	struct senderlogin_map *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->fd = -1;
	if ((m->name = strdup(name)) == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

void
senderlogin_map_free(struct senderlogin_map *m)
{
	if (m == NULL)
		return;
	if (m->is_cdb) {
		cdb_free(&m->cdb);
		if (m->fd >= 0)
			close(m->fd);
	}
	strset_free(m->keys);
	free(m->val);
	free(m->pool);
	free(m->name);
	free(m);
}

/* One line of a text map (a linefile_fn). */
static int
map_line(void *ctx, char *line, int lineno, int ctl, char *err,
    size_t errlen)
{
	struct senderlogin_map *m = ctx;
	char	*key, *p, *owners;
	size_t	 keylen, rest, cap;
	long	 first;
	void	*q;
	int	 rc;

	key = line + strspn(line, " \t");
	if (*key == '\0')
		return 0;
	if (ctl) {
		errf(err, errlen, "control character in line");
		return -1;
	}
	p = key + strcspn(key, " \t,");
	keylen = (size_t)(p - key);
	owners = *p ? p + 1 : p;
	*p = '\0';
	if (check_key(key, keylen, err, errlen) < 0)
		return -1;
	rest = strlen(owners);
	if (m->poolcap - m->poolused < rest + 1) {
		cap = m->poolcap ? m->poolcap : 65536;
		while (cap - m->poolused < rest + 1)
			cap *= 2;
		if ((q = realloc(m->pool, cap)) == NULL)
			goto nomem;
		m->pool = q;
		m->poolcap = cap;
	}
	if (parse_owners(owners, rest, m->pool + m->poolused, err, errlen) < 0)
		return -1;
	if ((rc = strset_add(m->keys, key, keylen)) < 0)
		goto nomem;
	if (rc == 0) {
		first = strset_index(m->keys, key, keylen);
		errf(err, errlen, "'%s': listed again (first at line %d)", key,
		    m->val[first].line);
		return -1;
	}
	if (m->nval == m->valcap) {
		cap = m->valcap ? m->valcap * 2 : 1024;
		if ((q = realloc(m->val, cap * sizeof(*m->val))) == NULL)
			goto nomem;
		m->val = q;
		m->valcap = cap;
	}
	m->val[m->nval].off = m->poolused;
	m->val[m->nval].line = lineno;
	m->nval++;
	m->poolused += strlen(m->pool + m->poolused) + 1;
	return 0;
nomem:
	errf(err, errlen, "out of memory");
	return -1;
}

static struct senderlogin_map *
map_text(const char *name, const char *path, const char *text, char *err,
    size_t errlen)
{
	struct senderlogin_map *m;
	struct stat st;
	size_t	hint = 1024;
	int	rc;

	/* sized once for lines of some 40 bytes: no rehash while loading */
	if (path && stat(path, &st) == 0 && st.st_size / 40 > 1024)
		hint = (size_t)(st.st_size / 40);
	if ((m = map_new(name)) == NULL
	    || (m->keys = strset_create(hint, STRSET_ICASE)) == NULL) {
		senderlogin_map_free(m);
		errf(err, errlen, "%s: out of memory", path ? path : name);
		return NULL;
	}
	rc = text ? linefile_text(name, text, map_line, m, err, errlen)
	    : linefile_read_max(path, SENDERLOGIN_FILE_MAX, map_line, m, err,
	    errlen);
	if (rc < 0) {
		senderlogin_map_free(m);
		return NULL;
	}
	return m;
}

struct senderlogin_map *
senderlogin_map_text(const char *name, const char *text, char *err,
    size_t errlen)
{
	return map_text(name, NULL, text, err, errlen);
}

/* Every record of a cdb file is checked as a line of a text map is. */
static int
map_cdb_check(struct senderlogin_map *m, const char *path, char *err,
    size_t errlen)
{
	unsigned pos;
	const char *k, *v, *p;
	char	 key[SENDERLOGIN_KEY_MAX + 2], *owners = NULL, sub[512];
	size_t	 klen, vlen, cap = 0;
	int	 rc;

	cdb_seqinit(&pos, &m->cdb);
	while ((rc = cdb_seqnext(&pos, &m->cdb)) > 0) {
		m->ncdb++;
		klen = cdb_keylen(&m->cdb);
		vlen = cdb_datalen(&m->cdb);
		if ((k = cdb_getkey(&m->cdb)) == NULL
		    || (v = cdb_getdata(&m->cdb)) == NULL)
			break;
		if (klen > SENDERLOGIN_KEY_MAX) {
			errf(err, errlen, "%s: record %zu: address longer than "
			    "%d bytes", path, m->ncdb, SENDERLOGIN_KEY_MAX);
			goto bad;
		}
		memcpy(key, k, klen);
		key[klen] = '\0';
		for (p = key; *p; p++)
			if (isupper((unsigned char)*p))
				break;
		if (strlen(key) != klen || *p || check_key(key, klen, sub,
		    sizeof(sub)) < 0) {
			char	shown[SHOWN_MAX + 1], *o = shown;

			put_shown(&o, shown + sizeof(shown), k, klen, SHOWN_MAX);
			errf(err, errlen, "%s: record %zu ('%s'): %s", path,
			    m->ncdb, shown, strlen(key) != klen
			    ? "NUL byte in the key" : *p
			    ? "upper case in the key (keys must be lower case: "
			    "lookups are)" : sub);
			goto bad;
		}
		if (vlen + 1 > cap) {
			free(owners);
			cap = vlen + 1;
			if ((owners = malloc(cap)) == NULL) {
				errf(err, errlen, "%s: out of memory", path);
				return -1;
			}
		}
		if (parse_owners(v, vlen, owners, sub, sizeof(sub)) < 0) {
			errf(err, errlen, "%s: record %zu ('%s'): %s", path,
			    m->ncdb, key, sub);
			goto bad;
		}
	}
	free(owners);
	if (rc != 0) {
		errf(err, errlen, "%s: corrupt cdb file (record %zu)", path,
		    m->ncdb + 1);
		return -1;
	}
	return 0;
bad:
	free(owners);
	return -1;
}

/*
 * A private, sealed copy of the file at path (a memfd): tinycdb maps its
 * file, and a file truncated in place while mapped (cp over it, or an
 * editor) would kill the process with SIGBUS at the next lookup. The copy
 * cannot shrink. Returns its descriptor, or -1 with a reason in err.
 */
static int
cdb_copy(const char *path, char *err, size_t errlen)
{
	char	buf[65536];
	ssize_t	n;
	off_t	total = 0;
	int	fd, mfd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if ((mfd = memfd_create("sessguard-cdb", MFD_CLOEXEC
	    | MFD_ALLOW_SEALING)) < 0) {
		errf(err, errlen, "%s: memfd_create: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	for (;;) {
		if ((n = read(fd, buf, sizeof(buf))) < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			errf(err, errlen, "%s: read: %s", path, strerror(errno));
			goto bad;
		}
		if (n == 0)
			break;
		if ((total += n) > CDB_MAX) {
			errf(err, errlen, "%s: larger than %d MiB", path,
			    CDB_MAX >> 20);
			goto bad;
		}
		if (write_buf(mfd, buf, (size_t)n, -1, NULL) < 0) {
			errf(err, errlen, "%s: copy: %s", path,
			    strerror(errno));
			goto bad;
		}
	}
	close(fd);
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW
	    | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		errf(err, errlen, "%s: seal: %s", path, strerror(errno));
		close(mfd);
		return -1;
	}
	return mfd;
bad:
	close(fd);
	close(mfd);
	return -1;
}

static struct senderlogin_map *
map_cdb(const char *name, const char *path, char *err, size_t errlen)
{
	struct senderlogin_map *m;

	if ((m = map_new(name)) == NULL) {
		errf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	if ((m->fd = cdb_copy(path, err, errlen)) < 0)
		goto bad;
	if (cdb_init(&m->cdb, m->fd) < 0) {
		errf(err, errlen, "%s: not a cdb file (build it with cdb -c -m)",
		    path);
		goto bad;
	}
	m->is_cdb = 1;
	if (map_cdb_check(m, path, err, errlen) < 0)
		goto bad;
	return m;
bad:
	senderlogin_map_free(m);
	return NULL;
}

struct senderlogin_map *
senderlogin_map_load(const char *spec, char *err, size_t errlen)
{
	if (strncmp(spec, "file:/", 6) == 0)
		return map_text(spec, spec + 5, NULL, err, errlen);
	if (strncmp(spec, "cdb:/", 5) == 0)
		return map_cdb(spec, spec + 4, err, errlen);
	errf(err, errlen, "'%s': expected file:/absolute/path or "
	    "cdb:/absolute/path", spec);
	return NULL;
}

size_t
senderlogin_map_count(const struct senderlogin_map *m)
{
	if (m == NULL)
		return 0;
	return m->is_cdb ? m->ncdb : m->nval;
}

const char *
senderlogin_map_name(const struct senderlogin_map *m)
{
	return m ? m->name : "";
}

/* Looks one key up: 1 with the owners, 0 not found, -1 error. */
static int
map_get(const struct senderlogin_map *m, const char *k, size_t klen,
    const char **owners, size_t *olen)
{
	struct cdb c;
	long	i;
	int	rc;

	if (!m->is_cdb) {
		if ((i = strset_index(m->keys, k, klen)) < 0)
			return 0;
		*owners = m->pool + m->val[i].off;
		*olen = strlen(*owners);
		return 1;
	}
	if (klen > SENDERLOGIN_KEY_MAX)
		return 0;		/* no key is longer */
	/* cdb_find() keeps the position in the struct: use a copy of it */
	c = m->cdb;
	if ((rc = cdb_find(&c, k, (unsigned)klen)) <= 0)
		return rc;
	if ((*owners = cdb_getdata(&c)) == NULL)
		return -1;
	*olen = cdb_datalen(&c);
	return 1;
}

/* "a,b" or "a, b" or "a b" (len bytes) into "a, b" at out. */
static void
show_owners(const char *v, size_t len, char *out, size_t size)
{
	char	*o = out, *end = out + size;
	size_t	 i = 0, start;

	*o = '\0';
	while (i < len) {
		while (i < len && is_sep((unsigned char)v[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && !is_sep((unsigned char)v[i]))
			i++;
		if (o != out && o + 3 < end) {
			*o++ = ',';
			*o++ = ' ';
		}
		put_shown(&o, end, v + start, i - start, SHOWN_MAX);
	}
}

/* The lookups of senderlogin_lookup(); owners point into the map. */
static int
find(const struct senderlogin_map *m, const char *sender, size_t len,
    const char **owners, size_t *olen, struct senderlogin_result *res)
{
	char	 stack[2 * SENDERLOGIN_KEY_MAX + 4], *buf, *lc, *st, *at, *plus;
	char	*o;
	const char *probe[3];
	size_t	 plen[3], i, n = 0;
	int	 rc = 0;

	res->matched[0] = res->owners[0] = '\0';
	if (m == NULL)
		return 0;
	if (len > SIZE_MAX / 2 - 2)
		return -1;
	if (2 * len + 2 <= sizeof(stack))
		buf = stack;
	else if ((buf = malloc(2 * len + 2)) == NULL)
		return -1;
	lc = buf;
	st = buf + len + 1;
	for (i = 0; i < len; i++)
		lc[i] = (char)tolower((unsigned char)sender[i]);
	lc[len] = '\0';
	probe[n] = lc;
	plen[n++] = len;
	if ((at = strrchr(lc, '@')) != NULL) {
		/* user+ext@domain: then user@domain */
		plus = memchr(lc, '+', (size_t)(at - lc));
		if (plus != NULL && plus > lc) {
			memcpy(st, lc, (size_t)(plus - lc));
			memcpy(st + (plus - lc), at, len - (size_t)(at - lc) + 1);
			probe[n] = st;
			plen[n++] = (size_t)(plus - lc) + len - (size_t)(at - lc);
		}
		/* then @domain */
		if (at != lc) {
			probe[n] = at;
			plen[n++] = len - (size_t)(at - lc);
		}
	}
	for (i = 0; i < n; i++)
		if ((rc = map_get(m, probe[i], plen[i], owners, olen)) != 0)
			break;
	if (rc > 0) {
		o = res->matched;
		put_shown(&o, res->matched + sizeof(res->matched), probe[i],
		    plen[i], SENDERLOGIN_KEY_MAX);
		show_owners(*owners, *olen, res->owners, sizeof(res->owners));
	}
	if (buf != stack)
		free(buf);
	return rc;
}

int
senderlogin_lookup(const struct senderlogin_map *m, const char *sender,
    struct senderlogin_result *res)
{
	const char *owners;
	size_t	 olen;

	return find(m, sender, strlen(sender), &owners, &olen, res);
}

/* Whether login is one of the owners (olen bytes at owners). */
static int
owned_by(const char *owners, size_t olen, const char *login)
{
	size_t	 llen = strlen(login), i, start;

	for (i = 0; i < olen; ) {
		while (i < olen && is_sep((unsigned char)owners[i]))
			i++;
		start = i;
		while (i < olen && !is_sep((unsigned char)owners[i]))
			i++;
		if (i - start == llen && llen > 0
		    && strncasecmp(owners + start, login, llen) == 0)
			return 1;
	}
	return 0;
}

/* The sentence of result, sender (slen bytes) and login as given. */
static void
reason(const struct senderlogin_result *res, const char *sender, size_t slen,
    const char *login, int show_entry, char *buf, size_t size)
{
	char	 s[SHOWN_MAX + 1], l[SHOWN_MAX + 1], *o;
	char	 entry[SENDERLOGIN_KEY_MAX + SENDERLOGIN_OWNERS_MAX + 16] = "";

	o = s;
	put_shown(&o, s + sizeof(s), sender, slen, SHOWN_MAX);
	o = l;
	put_shown(&o, l + sizeof(l), login, strlen(login), SHOWN_MAX);
	if (show_entry && res->matched[0])
		snprintf(entry, sizeof(entry), " (entry %s: %s)", res->matched,
		    res->owners);
	switch (res->why) {
	case SENDERLOGIN_WHY_OFF:
		snprintf(buf, size, "sender_login_check is off");
		break;
	case SENDERLOGIN_WHY_NULL_SENDER:
		snprintf(buf, size, "the null sender is exempt");
		break;
	case SENDERLOGIN_WHY_OWNER:
		snprintf(buf, size, "sender %s owned by login %s%s", s, l, entry);
		break;
	case SENDERLOGIN_WHY_UNLISTED_FREE:
		snprintf(buf, size, "sender %s is unlisted: any login may use it",
		    s);
		break;
	case SENDERLOGIN_WHY_UNAUTH_FREE:
		snprintf(buf, size, "not authenticated: sender_login_check "
		    "authenticated checks only authenticated sessions");
		break;
	case SENDERLOGIN_WHY_UNLISTED_FREE_UNAUTH:
		snprintf(buf, size, "not authenticated, and sender %s is "
		    "unlisted", s);
		break;
	case SENDERLOGIN_WHY_NOT_OWNER:
		snprintf(buf, size, "sender %s not owned by login %s%s", s, l,
		    entry);
		break;
	case SENDERLOGIN_WHY_UNLISTED:
		snprintf(buf, size, "sender %s is unlisted (login %s owns no "
		    "entry for it)", s, l);
		break;
	case SENDERLOGIN_WHY_NOT_LOGGED_IN:
		if (show_entry && res->matched[0])
			snprintf(buf, size, "not authenticated: sender %s belongs "
			    "to %s (entry %s)", s, res->owners, res->matched);
		else
			snprintf(buf, size, "not authenticated: sender %s is "
			    "listed in sender_login_maps", s);
		break;
	case SENDERLOGIN_WHY_MAP_ERROR:
		snprintf(buf, size, "sender_login_maps: lookup of sender %s "
		    "failed", s);
		break;
	}
}

enum senderlogin_verdict
senderlogin_check(const struct senderlogin_map *m, enum senderlogin_mode mode,
    const char *sender, const char *login, struct senderlogin_result *res)
{
	const char *owners = NULL, *s = sender ? sender : "";
	size_t	 olen = 0, slen = strlen(s);
	int	 found;

	res->matched[0] = res->owners[0] = '\0';
	if (login != NULL && *login == '\0')
		login = NULL;
	/* "<a@b.example>" as the milter's MAIL argument: the address inside */
	if (slen >= 2 && s[0] == '<' && s[slen - 1] == '>') {
		s++;
		slen -= 2;
	}
	res->verdict = SENDERLOGIN_PERMIT;
	if (mode == SENDERLOGIN_OFF || m == NULL)
		res->why = SENDERLOGIN_WHY_OFF;
	else if (slen == 0)
		res->why = SENDERLOGIN_WHY_NULL_SENDER;
	else if (login == NULL && mode == SENDERLOGIN_AUTHENTICATED)
		res->why = SENDERLOGIN_WHY_UNAUTH_FREE;
	else if ((found = find(m, s, slen, &owners, &olen, res)) < 0) {
		res->verdict = SENDERLOGIN_ERROR;
		res->why = SENDERLOGIN_WHY_MAP_ERROR;
	} else if (login != NULL) {
		if (found && owned_by(owners, olen, login))
			res->why = SENDERLOGIN_WHY_OWNER;
		else if (found) {
			res->verdict = SENDERLOGIN_REFUSE;
			res->why = SENDERLOGIN_WHY_NOT_OWNER;
		} else if (mode == SENDERLOGIN_KNOWN)
			res->why = SENDERLOGIN_WHY_UNLISTED_FREE;
		else {
			res->verdict = SENDERLOGIN_REFUSE;
			res->why = SENDERLOGIN_WHY_UNLISTED;
		}
	} else if (found) {
		/* known and strict: a listed address needs its owner's login */
		res->verdict = SENDERLOGIN_REFUSE;
		res->why = SENDERLOGIN_WHY_NOT_LOGGED_IN;
	} else
		res->why = SENDERLOGIN_WHY_UNLISTED_FREE_UNAUTH;
	reason(res, s, slen, login ? login : "", 1, res->reason,
	    sizeof(res->reason));
	return res->verdict;
}

void
senderlogin_reason(const struct senderlogin_result *res, const char *sender,
    const char *login, int show_entry, char *buf, size_t size)
{
	reason(res, sender, strlen(sender), login, show_entry, buf, size);
}
void
senderlogin_reply(const char *text, const char *sender, const char *login,
    char *out, size_t size)
{
	char	*o = out, *end = out + size;
	const char *p, *sub;

	if (size == 0)
		return;
	*o = '\0';
	for (p = text; *p && o + 1 < end; p++) {
		if (p[0] == '%' && (p[1] == 'u' || p[1] == 's')) {
			sub = p[1] == 's' ? sender
			    : login && *login ? login : "(not logged in)";
			put_shown(&o, end, sub, strlen(sub), SHOWN_MAX);
			p++;
			continue;
		}
		if (p[0] == '%' && p[1] == '%')
			p++;
		put_shown(&o, end, p, 1, 1);
	}
}

const char *
senderlogin_mode_name(enum senderlogin_mode mode)
{
	switch (mode) {
	case SENDERLOGIN_OFF:
		return "off";
	case SENDERLOGIN_AUTHENTICATED:
		return "authenticated";
	case SENDERLOGIN_KNOWN:
		return "known";
	case SENDERLOGIN_STRICT:
		return "strict";
	}
	return "off";
}
