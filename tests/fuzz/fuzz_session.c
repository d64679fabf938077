/*
 * NAME
 *	fuzz_session - libFuzzer target for the session state machine
 * DESCRIPTION
 *	The input is an event stream in text, one event a line, fields
 *	separated by tabs; in a field \t, \n, \\ and \xNN stand for a tab, a
 *	newline, a backslash and any byte:
 *
 *	config	KEY = VALUE	...	(first line only: configuration lines)
 *	connect	ADDR	NAME	DAEMON	(ADDR: IPv4, IPv6, unix, or - for none)
 *	helo	NAME	{tls_version}=V	{cipher}=C	{cipher_bits}=B
 *		{auth_authen}=U	{auth_type}=M
 *	mail	ARG...	{auth_authen}=U	{auth_type}=M	{auth_author}=A	{}
 *		{tls_version}=V	{cipher}=C	{cipher_bits}=B
 *	rcpt	ARG...	{auth_authen}=U	...	{rcpt_mailer}=R	{tls_version}=V ...
 *	data | eoh | abort | header NAME VALUE | body LEN | eom QUEUEID
 *	unknown	COMMAND
 *	close	(ends the stream; the harness closes the session in any case)
 *
 *	A missing field is a null pointer, an empty one "". Macros may come
 *	in any order among the arguments; "{}" passes auth macros that are
 *	all null (without any of them, no macro structure at all). Without a
 *	config line the configuration is local_domains = example.org,
 *	.example.net; relay_domains = backup.example; trusted_networks =
 *	10.0.0.0/8, 2001:db8::/32. A config with "file:" is not run.
 *
 *	The harness keeps a model of SPEC section 1 and checks after every
 *	event:
 *	- S1/S3: the session is authenticated exactly when the model is: a
 *	  non-empty {auth_authen} was reported in the current TLS epoch (the
 *	  epoch ends at the first HELO, MAIL or RCPT with TLS macros after a
 *	  plaintext HELO, MAIL, RCPT or unknown command), other than a login
 *	  first reported before the next HELO after that boundary (kept
 *	  across TLS: anomaly auth_kept_across_tls); the user is the newest
 *	  report (S5, first 255 bytes); {auth_author} never counts; abort,
 *	  end of message, HELO without TLS and unknown commands keep it (S2);
 *	- S4: no transaction after abort, end of message and HELO; the
 *	  transaction number counts MAILs;
 *	- log: the lines of the event are exactly the expected events
 *	  (tls, helo, mail, anomalies of S6 in order, ...; log_level =
 *	  decisions keeps connect, rcpt, anomaly, close), each one line of
 *	  valid JSON with ts, session, seq and event; seq is the model's,
 *	  strictly increasing, session_seq() agrees;
 *	- RCPT: verdict, reply and reason as SPEC section 2 says: a relay
 *	  attempt (policy_is_local() false) from a client outside
 *	  trusted_networks (checked bit by bit here) without model
 *	  authentication is never accepted: reject in enforce mode,
 *	  would_reject in monitor mode, with the relay_reply (%r expanded)
 *	  and a reason naming STARTTLS when a boundary was seen;
 *	  mta_rejected when {rcpt_mailer} is "error";
 *	- the auth object of mail, rcpt and close lines (user, mech,
 *	  since_seq, source mta or carried), auth_param, the eom line (size,
 *	  headers of this transaction) and the close summary (transactions,
 *	  resets, rcpts, rejected);
 *	- at end of message, session_ar_plan() (auth_results = yes, RFC
 *	  8601): deletes only Authentication-Results naming our authserv-id,
 *	  every one in a plain form (id;, folded id, quoted id), indexes
 *	  descending; adds one for an authenticated session naming the exact
 *	  identity (as it is, or a quoted-string), with no control character,
 *	  or none and the anomaly auth_results_skipped.
 *	Logged values are compared after JSON decoding with what SPEC section
 *	5 says they must be (fz_expect_value()). With SG_FUZZ_VERBOSE set in
 *	the environment, the log lines go to stderr as well (to read what a
 *	reproducer does).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "config.h"
#include "evlog.h"
#include "fuzz.h"
#include "policy.h"
#include "session.h"
#include "util/addr.h"

#define MAXFIELDS	32
#define MAXEVENTS	512
#define NAME_MAX_B	255	/* the session keeps 255 bytes of a name */
#define MECH_MAX_B	63
#define MAXAR		64

static const char default_config[] =
	"local_domains = example.org, .example.net\n"
	"relay_domains = backup.example\n"
	"trusted_networks = 10.0.0.0/8, 2001:db8::/32\n";

struct ev {
	char	*f[MAXFIELDS];	/* f[0] is the event name */
	size_t	 n;
};

struct model {
	const struct sg_config *cfg;
	size_t	 max;		/* log_max_value */
	int	 decisions;	/* log_level = decisions */

	struct ipaddr client;
	char	 client_addr[64];

	int	 tls_active, plaintext_seen, helo_seen;
	unsigned boundary_seq, discarded_seq;
	int	 no_auth_since_tls;		/* boundary, no HELO since */
	char	 kept_user[NAME_MAX_B + 1];	/* login kept across TLS */
	unsigned kept_noted;			/* txn + 1 when logged */

	int	 auth;
	char	 user[NAME_MAX_B + 1];
	char	 mech[MECH_MAX_B + 1];
	unsigned since_seq, auth_resets;
	int	 carried;

	unsigned seq, txn;
	int	 in_txn, abort_last;
	unsigned resets, rcpts, rejected;

	unsigned headers;	/* of this transaction */
	unsigned long long size;
	size_t	 nar;		/* Authentication-Results headers */
	char	*ar[MAXAR];	/* their values (NULL: none given) */
};

/* One expected log line. */
struct want {
	const char *event;
	const char *kind;	/* anomaly kind */
};

struct check {
	struct evlog *log;
	int	 verbose;	/* SG_FUZZ_VERBOSE set: log lines to stderr */
	struct strbuf a, b;
	char	*line;		/* current line, NUL-terminated copy */
	size_t	 linecap;
	char	 sid[64];
};

static struct sg_config *default_cfg;

/* Input decoding. */

static int
hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char *
unescape(const char *p, size_t len)
{
	char	*out = malloc(len + 1), *o = out;
	size_t	i;
	unsigned v;

	if (out == NULL)
		abort();
	for (i = 0; i < len; i++) {
		if (p[i] == '\\' && i + 1 < len) {
			switch (p[i + 1]) {
			case 't':
				*o++ = '\t';
				i++;
				continue;
			case 'n':
				*o++ = '\n';
				i++;
				continue;
			case '\\':
				*o++ = '\\';
				i++;
				continue;
			case 'x':
				if (i + 3 < len && hex(p[i + 2]) >= 0
				    && hex(p[i + 3]) >= 0) {
					v = (unsigned)(hex(p[i + 2]) << 4
					    | hex(p[i + 3]));
					*o++ = (char)v;
					i += 3;
					continue;
				}
				break;
			}
		}
		*o++ = p[i];
	}
	*o = '\0';
	/* exactly the string's size, so that reads past it are caught */
	o = strdup(out);
	free(out);
	if (o == NULL)
		abort();
	return o;
}

static void
split_line(const char *p, size_t len, struct ev *ev)
{
	const char *end = p + len, *tab;

	ev->n = 0;
	while (ev->n < MAXFIELDS) {
		tab = memchr(p, '\t', (size_t)(end - p));
		if (tab == NULL)
			tab = end;
		ev->f[ev->n++] = unescape(p, (size_t)(tab - p));
		if (tab == end)
			break;
		p = tab + 1;
	}
}

static void
free_ev(struct ev *ev)
{
	size_t	i;

	for (i = 0; i < ev->n; i++)
		free(ev->f[i]);
	ev->n = 0;
}

/* Field i or NULL. */
static const char *
field(const struct ev *ev, size_t i)
{
	return i < ev->n ? ev->f[i] : NULL;
}

/* Macro {name}=value among the fields (the last one wins), or NULL. */
static const char *
macro(const struct ev *ev, const char *name)
{
	size_t	i, n = strlen(name);
	const char *v = NULL;

	for (i = 1; i < ev->n; i++)
		if (strncmp(ev->f[i], name, n) == 0 && ev->f[i][n] == '=')
			v = ev->f[i] + n + 1;
	return v;
}

static int
is_macro(const char *f)
{
	return f[0] == '{' && strchr(f, '}') != NULL
	    && (strchr(f, '}')[1] == '=' || strcmp(f, "{}") == 0);
}

/* The arguments (not macros) of an event. */
static size_t
args_of(const struct ev *ev, const char **argv)
{
	size_t	i, n = 0;

	for (i = 1; i < ev->n; i++)
		if (!is_macro(ev->f[i]))
			argv[n++] = ev->f[i];
	return n;
}

static const struct sg_mta_says *
auth_of(const struct ev *ev, struct sg_mta_says *am)
{
	size_t	i;
	int	any = 0;

	memset(am, 0, sizeof(*am));
	am->login = macro(ev, "{auth_authen}");
	am->mech = macro(ev, "{auth_type}");
	am->auth_param = macro(ev, "{auth_author}");
	for (i = 1; i < ev->n; i++)
		if (strcmp(ev->f[i], "{}") == 0)
			any = 1;
	if (am->login || am->mech || am->auth_param || any)
		return am;
	return NULL;
}

/* Model helpers. */

static int
empty(const char *v)
{
	return v == NULL || *v == '\0';
}

static void
bounded(char *dst, size_t max, const char *src)
{
	size_t	len = strlen(src);

	if (len > max)
		len = max;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static int
ref_trusted(const struct sg_config *cfg, const struct ipaddr *a)
{
	size_t	i;
	unsigned b;

	if (a->family == 0)
		return 0;
	for (i = 0; i < cfg->ntrusted; i++) {
		const struct cidr *c = &cfg->trusted[i];

		if (c->addr.family != a->family)
			continue;
		for (b = 0; b < c->prefix; b++)
			if (((c->addr.bytes[b / 8] ^ a->bytes[b / 8])
			    >> (7 - b % 8)) & 1)
				break;
		if (b == c->prefix)
			return 1;
	}
	return 0;
}

enum auth_what { A_NONE, A_SAME, A_NEW, A_CHANGED, A_CARRIED, A_KEPT };

/* What the MTA's auth macros do to the model at event seq (note_auth). */
static enum auth_what
model_auth(struct model *m, const struct sg_mta_says *am, int at_mail,
    unsigned seq)
{
	const char *authen = am ? am->login : NULL;
	const char *type = am ? am->mech : NULL;
	char	user[NAME_MAX_B + 1];
	enum auth_what w;

	if (!empty(authen) && m->boundary_seq) {
		bounded(user, NAME_MAX_B, authen);
		if (m->no_auth_since_tls && m->kept_user[0] == '\0')
			strcpy(m->kept_user, user);
		if (m->kept_user[0] && strcmp(m->kept_user, user) == 0)
			return A_KEPT;
	}
	if (empty(authen)) {
		if (!m->auth)
			return A_NONE;
		if (!at_mail)
			return A_SAME;
		m->carried = 1;
		return A_CARRIED;
	}
	bounded(user, NAME_MAX_B, authen);
	if (m->auth && strcmp(user, m->user) == 0) {
		m->carried = 0;
		if (!empty(type))
			bounded(m->mech, MECH_MAX_B, type);
		return A_SAME;
	}
	w = m->auth ? A_CHANGED : A_NEW;
	m->auth = 1;
	strcpy(m->user, user);
	bounded(m->mech, MECH_MAX_B, empty(type) ? "" : type);
	m->since_seq = seq;
	m->auth_resets = 0;
	m->carried = 0;
	return w;
}

static void
model_forget_auth(struct model *m)
{
	m->auth = 0;
	m->user[0] = '\0';
	m->mech[0] = '\0';
	m->since_seq = 0;
	m->auth_resets = 0;
	m->carried = 0;
}

/* S4: what abort, end of message, HELO and MAIL discard. */
static void
model_txn_clear(struct model *m)
{
	size_t	i;

	m->in_txn = 0;
	m->headers = 0;
	m->size = 0;
	for (i = 0; i < m->nar; i++)
		free(m->ar[i]);
	m->nar = 0;
}

/*
 * Top-level members of the last JSON object looked at, so that checking a
 * line reads it once (jsoncheck's readers re-read the whole line each
 * time). The object must have been checked with json_valid(); jx_forget()
 * before its buffer is reused.
 */
#define JX_MAX	48

static struct {
	const char *obj;
	size_t	 n;
	char	 name[JX_MAX][32];
	const char *v[JX_MAX];
	size_t	 vlen[JX_MAX];
} jx;

static void
jx_forget(void)
{
	jx.obj = NULL;
}

static int
jx_raw(const char *obj, const char *key, const char **v, size_t *vlen)
{
	struct jc c;
	size_t	i;
	int	fits;

	if (jx.obj != obj) {
		jx.obj = obj;
		jx.n = 0;
		c.p = (const unsigned char *)obj;
		c.end = c.p + strcspn(obj, "\n");
		jc_ws(&c);
		FUZZ_CHECK(c.p < c.end && *c.p == '{', "not an object: %s", obj);
		c.p++;
		jc_ws(&c);
		while (c.p < c.end && *c.p == '"' && jx.n < JX_MAX) {
			FUZZ_CHECK(jc_string(&c, jx.name[jx.n],
			    sizeof(jx.name[0]), NULL, &fits) == 0, "name");
			if (!fits)
				jx.name[jx.n][0] = '\0';
			jc_ws(&c);
			c.p++;		/* ':' */
			jc_ws(&c);
			jx.v[jx.n] = (const char *)c.p;
			FUZZ_CHECK(jc_value(&c, 1) == 0, "value: %s", obj);
			jx.vlen[jx.n] = (size_t)((const char *)c.p - jx.v[jx.n]);
			while (jx.vlen[jx.n] && strchr(" \t\r\n",
			    jx.v[jx.n][jx.vlen[jx.n] - 1]))
				jx.vlen[jx.n]--;
			jx.n++;
			if (c.p < c.end && *c.p == ',')
				c.p++;
			jc_ws(&c);
		}
	}
	for (i = 0; i < jx.n; i++) {
		if (strcmp(jx.name[i], key) == 0) {
			*v = jx.v[i];
			*vlen = jx.vlen[i];
			return 0;
		}
	}
	return -1;
}

static int
jx_string(const char *obj, const char *key, char *out, size_t outlen)
{
	const char *v;
	size_t	vlen;
	struct jc c;
	int	fits;

	if (jx_raw(obj, key, &v, &vlen) < 0 || *v != '"')
		return -1;
	c.p = (const unsigned char *)v;
	c.end = c.p + vlen;
	if (jc_string(&c, out, outlen, NULL, &fits) < 0 || !fits)
		return -1;
	return 0;
}

static int
jx_int(const char *obj, const char *key, long long *out)
{
	const char *v;
	size_t	vlen;
	char	buf[32], *end;

	if (jx_raw(obj, key, &v, &vlen) < 0 || vlen == 0 || vlen >= sizeof(buf)
	    || !strchr("-0123456789", *v))
		return -1;
	memcpy(buf, v, vlen);
	buf[vlen] = '\0';
	*out = strtoll(buf, &end, 10);
	return *end == '\0' ? 0 : -1;
}

/* Log checks. */

static int
kept(const struct model *m, const char *event)
{
	return !m->decisions || strcmp(event, "connect") == 0
	    || strcmp(event, "rcpt") == 0 || strcmp(event, "anomaly") == 0
	    || strcmp(event, "close") == 0;
}

static void check_bounded(struct check *, size_t, const char *,
    const char *, const char *);

/* Decoded string member key of line equals the logged form of val. */
static void
check_str(struct check *ck, const struct model *m, const char *line,
    const char *key, const char *val)
{
	check_bounded(ck, m->max, line, key, val);
}

/* sessguard's own words (kinds, verdicts, reasons): never cut. */
static void
check_text(struct check *ck, const struct model *m, const char *line,
    const char *key, const char *val)
{
	(void)m;
	check_bounded(ck, 0, line, key, val);
}

static void
check_bounded(struct check *ck, size_t max, const char *line,
    const char *key, const char *val)
{
	const char *v;
	size_t	vlen;

	FUZZ_CHECK(jx_raw(line, key, &v, &vlen) == 0, "no %s in %s",
	    key, line);
	if (val == NULL) {
		FUZZ_CHECK(vlen == 4 && memcmp(v, "null", 4) == 0,
		    "%s should be null: %s", key, line);
		return;
	}
	FUZZ_CHECK(fz_decode_string(v, vlen, &ck->a) == 0, "%s not a string: "
	    "%s", key, line);
	fz_expect_value((const unsigned char *)val, strlen(val), max, &ck->b);
	FUZZ_CHECK(ck->a.len == ck->b.len && memcmp(strbuf_str(&ck->a),
	    strbuf_str(&ck->b), ck->a.len) == 0, "%s is '%s', expected '%s'",
	    key, strbuf_str(&ck->a), strbuf_str(&ck->b));
}

static long long
get_int(const char *line, const char *key)
{
	long long v;

	FUZZ_CHECK(jx_int(line, key, &v) == 0, "no integer %s in %s",
	    key, line);
	return v;
}

static void
check_auth(struct check *ck, const struct model *m, const char *line)
{
	const char *v;
	size_t	vlen;
	char	*obj;

	FUZZ_CHECK(jx_raw(line, "auth", &v, &vlen) == 0, "no auth: %s",
	    line);
	if (!m->auth) {
		FUZZ_CHECK(vlen == 4 && memcmp(v, "null", 4) == 0,
		    "auth should be null: %s", line);
		return;
	}
	FUZZ_CHECK(*v == '{', "auth not an object: %s", line);
	obj = fz_cstr((const uint8_t *)v, vlen);
	check_str(ck, m, obj, "user", m->user);
	check_str(ck, m, obj, "mech", m->mech[0] ? m->mech : NULL);
	FUZZ_CHECK(get_int(obj, "since_seq") == m->since_seq, "since_seq %lld,"
	    " model %u: %s", get_int(obj, "since_seq"), m->since_seq, line);
	check_text(ck, m, obj, "source", m->carried ? "carried" : "mta");
	jx_forget();
	free(obj);
}

/*
 * Checks the lines the last event wrote against the expected ones (before
 * filtering), numbered from first_seq; calls back for the main line.
 */
static const char *
check_lines(struct check *ck, struct sg_session *s, const struct model *m,
    const struct want *w, size_t nw, unsigned first_seq, const char *main_ev)
{
	const char *text = evlog_memory_text(ck->log);
	const char *p = text, *nl, *main_line = NULL;
	size_t	i, len;
	char	ev[32], kind[64];
	static char mainbuf[1 << 17];

	for (i = 0; i < nw; i++) {
		if (!kept(m, w[i].event))
			continue;
		nl = strchr(p, '\n');
		FUZZ_CHECK(nl != NULL, "line %zu (%s) missing; log:\n%s", i,
		    w[i].event, text);
		len = (size_t)(nl - p);
		if (len + 1 > ck->linecap) {
			free(ck->line);
			ck->linecap = len + 1;
			if ((ck->line = malloc(ck->linecap)) == NULL)
				abort();
		}
		jx_forget();
		memcpy(ck->line, p, len);
		ck->line[len] = '\0';
		FUZZ_CHECK(memchr(ck->line, '\r', len) == NULL, "CR in line");
		FUZZ_CHECK(json_valid(ck->line, len), "invalid JSON: %s",
		    ck->line);
		FUZZ_CHECK(jx_string(ck->line, "event", ev, sizeof(ev))
		    == 0 && strcmp(ev, w[i].event) == 0, "event %s, expected "
		    "%s: %s", ev, w[i].event, ck->line);
		FUZZ_CHECK(get_int(ck->line, "seq") == (long long)(first_seq + i),
		    "seq %lld, expected %zu: %s", get_int(ck->line, "seq"),
		    first_seq + i, ck->line);
		FUZZ_CHECK(jx_string(ck->line, "session", ev, sizeof(ev))
		    == 0 && strcmp(ev, session_id(s)) == 0, "session: %s",
		    ck->line);
		FUZZ_CHECK(jx_string(ck->line, "ts", kind, sizeof(kind))
		    == 0 && strlen(kind) == 27, "ts: %s", ck->line);
		/* our own words are not cut at log_max_value */
		if (w[i].kind)
			check_text(ck, m, ck->line, "kind", w[i].kind);
		if (main_ev && strcmp(w[i].event, main_ev) == 0 && !main_line) {
			FUZZ_CHECK(len < sizeof(mainbuf), "line too long");
			memcpy(mainbuf, ck->line, len + 1);
			main_line = mainbuf;
			jx_forget();
		}
		p = nl + 1;
	}
	FUZZ_CHECK(*p == '\0', "unexpected lines:\n%s\nafter expected %zu "
	    "lines; log:\n%s", p, nw, text);
	FUZZ_CHECK(session_seq(s) == m->seq, "session_seq %u, model %u",
	    session_seq(s), m->seq);
	return main_line;
}

/* The model's expectations for the state after every event. */
static void
check_state(struct sg_session *s, const struct model *m, const char *what)
{
	const char *u = session_auth_user(s);

	FUZZ_CHECK(session_authenticated(s) == m->auth, "after %s: "
	    "authenticated %d, model %d (user %s)", what,
	    session_authenticated(s), m->auth, u ? u : "(none)");
	if (m->auth)
		FUZZ_CHECK(u != NULL && strcmp(u, m->user) == 0, "after %s: "
		    "user '%s', model '%s'", what, u ? u : "(null)", m->user);
	else
		FUZZ_CHECK(u == NULL, "after %s: user %s without auth", what, u);
	FUZZ_CHECK(session_in_txn(s) == m->in_txn, "after %s: in_txn %d, "
	    "model %d", what, session_in_txn(s), m->in_txn);
	FUZZ_CHECK(session_txn(s) == m->txn, "after %s: txn %u, model %u",
	    what, session_txn(s), m->txn);
}

static void
add(struct want *w, size_t *n, const char *event, const char *kind)
{
	w[*n].event = event;
	w[*n].kind = kind;
	(*n)++;
}

static void
anomaly_of(struct model *m, struct want *w, size_t *n, enum auth_what a)
{
	if (a == A_CHANGED)
		add(w, n, "anomaly", "auth_changed");
	else if (a == A_CARRIED)
		add(w, n, "anomaly", "auth_carried");
	else if (a == A_KEPT && m->kept_noted != m->txn + 1) {
		m->kept_noted = m->txn + 1;	/* once a transaction */
		add(w, n, "anomaly", "auth_kept_across_tls");
	}
}

static int
tls_macros(const struct ev *ev, struct sg_tls_info *tls)
{
	tls->version = macro(ev, "{tls_version}");
	tls->cipher = macro(ev, "{cipher}");
	tls->bits = macro(ev, "{cipher_bits}");
	return !empty(tls->version) || !empty(tls->cipher);
}

/*
 * S3 at any event: the TLS state it reports. The tls line (if any) is
 * added to w and counted in m->seq.
 */
static void
model_tls(struct model *m, int tls_now, struct want *w, size_t *n)
{
	if (!tls_now) {
		if (!m->tls_active)
			m->plaintext_seen = 1;
		return;
	}
	if (m->tls_active)
		return;
	m->tls_active = 1;
	m->seq++;
	add(w, n, "tls", NULL);
	if (!m->plaintext_seen)
		return;
	m->boundary_seq = m->seq;
	m->no_auth_since_tls = 1;
	if (m->auth) {
		m->discarded_seq = m->seq;
		model_forget_auth(m);
	}
	m->helo_seen = 0;
}

static void
reason_auth(const struct model *m, char *buf, size_t size)
{
	size_t	n;

	n = (size_t)snprintf(buf, size, "authenticated as %s (%s) at seq %u",
	    m->user, m->mech[0] ? m->mech : "?", m->since_seq);
	if (m->auth_resets)
		snprintf(buf + n, size - n, ", carried across %u reset%s",
		    m->auth_resets, m->auth_resets == 1 ? "" : "s");
	else if (m->carried)
		snprintf(buf + n, size - n, ", carried");
}

static void
expand(const char *text, const char *reason, char *out, size_t size)
{
	size_t	n = 0;
	const char *p, *q;

	for (p = text; *p && n + 1 < size; p++) {
		if (p[0] == '%' && p[1] == 'r') {
			for (q = reason; *q && n + 1 < size; q++)
				out[n++] = (*q < 0x20 || *q > 0x7e) ? '?' : *q;
			p++;
			continue;
		}
		out[n++] = *p;
	}
	out[n] = '\0';
}

static void
do_rcpt(struct check *ck, struct sg_session *s, struct model *m,
    const struct ev *ev)
{
	const char *argv[MAXFIELDS], *rcpt, *mailer, *line;
	struct sg_mta_says amb;
	const struct sg_mta_says *am = auth_of(ev, &amb);
	struct sg_tls_info tls;
	struct sg_rcpt_result res;
	struct want w[5];
	enum policy_why why;
	enum auth_what a;
	enum sg_verdict want;
	size_t	argc = args_of(ev, argv), nw = 0, ntls;
	unsigned first = m->seq + 1;
	int	local, trusted, tls_now = tls_macros(ev, &tls);
	char	reason[1024], text[SG_REPLY_TEXT_MAX + 1], reply[1200];
	const char *vn;

	rcpt = argc > 0 && argv[0] ? argv[0] : "";
	mailer = macro(ev, "{rcpt_mailer}");
	model_tls(m, tls_now, w, &nw);
	ntls = nw;
	m->seq++;
	m->abort_last = 0;
	m->rcpts++;
	a = model_auth(m, am, 0, m->seq);
	add(w, &nw, "rcpt", NULL);
	anomaly_of(m, w, &nw, a);
	m->seq += (unsigned)(nw - ntls) - 1;
	if (tls.version || tls.cipher || tls.bits) {
		if (am == NULL)
			memset(&amb, 0, sizeof(amb));
		amb.tls = tls;
		am = &amb;
	}

	memset(&res, 0x5a, sizeof(res));
	session_on_rcpt(s, argc > 0 ? argv[0] : NULL, argv + (argc > 0),
	    argc > 0 ? argc - 1 : 0, mailer && strcmp(mailer, "error") == 0,
	    am, &res);

	local = policy_is_local(m->cfg, rcpt, &why);
	trusted = ref_trusted(m->cfg, &m->client);
	if (local)
		snprintf(reason, sizeof(reason), "%s", why == WHY_LOCAL ?
		    "recipient domain in local_domains" : why == WHY_RELAY_DOMAIN ?
		    "recipient domain in relay_domains" :
		    "recipient without a domain is local");
	else if (m->auth)
		reason_auth(m, reason, sizeof(reason));
	else if (trusted)
		snprintf(reason, sizeof(reason), "client %s in trusted_networks",
		    m->client_addr);
	else if (m->discarded_seq)
		snprintf(reason, sizeof(reason), "not authenticated: auth "
		    "discarded by STARTTLS at seq %u", m->discarded_seq);
	else if (m->boundary_seq)
		snprintf(reason, sizeof(reason), "not authenticated since "
		    "STARTTLS at seq %u (a login before it does not count, "
		    "RFC 3207)", m->boundary_seq);
	else
		snprintf(reason, sizeof(reason), "not authenticated");
	if (!local && !m->auth && !trusted && m->kept_user[0])
		snprintf(reason + strlen(reason), sizeof(reason) - strlen(reason),
		    "; the MTA still reports the login from before STARTTLS");
	if (!local && !m->auth && !trusted && addr_routing(rcpt))
		snprintf(reason + strlen(reason), sizeof(reason) - strlen(reason),
		    " (sender-specified routing in %s counts as relaying)", rcpt);

	if (mailer && strcmp(mailer, "error") == 0) {
		want = VERDICT_MTA_REJECTED;
		snprintf(reason + strlen(reason), sizeof(reason) - strlen(reason),
		    "; already rejected by the MTA");
	} else if (local || m->auth || trusted) {
		want = VERDICT_ACCEPT;
	} else {
		want = m->cfg->mode == MODE_MONITOR ? VERDICT_WOULD_REJECT
		    : VERDICT_REJECT;
	}
	FUZZ_CHECK(res.verdict == want, "rcpt '%s': verdict %s, model %s "
	    "(local %d, auth %d, trusted %d, mode %s)", rcpt,
	    verdict_name(res.verdict), verdict_name(want), local, m->auth,
	    trusted, config_mode_name(m->cfg->mode));
	/* the rule that matters most, said once more on its own */
	if (!local && !m->auth && !trusted)
		FUZZ_CHECK(res.verdict != VERDICT_ACCEPT, "relay accepted");
	if (want == VERDICT_REJECT || want == VERDICT_WOULD_REJECT) {
		FUZZ_CHECK(strcmp(res.code, m->cfg->relay_reply.code) == 0
		    && strcmp(res.xcode, m->cfg->relay_reply.xcode) == 0,
		    "reply code %.4s %.12s", res.code, res.xcode);
		expand(m->cfg->relay_reply.text, reason, text, sizeof(text));
		FUZZ_CHECK(strcmp(res.text, text) == 0, "reply text '%s', "
		    "expected '%s'", res.text, text);
		if (want == VERDICT_REJECT)
			m->rejected++;
	} else {
		FUZZ_CHECK(res.code[0] == '\0', "reply code for %s",
		    verdict_name(want));
	}

	line = check_lines(ck, s, m, w, nw, first, "rcpt");
	if (line == NULL)
		return;
	vn = verdict_name(want);
	check_text(ck, m, line, "verdict", vn);
	check_str(ck, m, line, "rcpt", rcpt);
	check_text(ck, m, line, "reason", reason);
	FUZZ_CHECK(get_int(line, "txn") == m->txn, "txn");
	{
		const char *v;
		size_t	vlen;

		FUZZ_CHECK(jx_raw(line, "relay", &v, &vlen) == 0
		    && vlen == (local ? 5u : 4u) && memcmp(v, local ? "false" :
		    "true", vlen) == 0, "relay: %s", line);
		if (res.code[0]) {
			snprintf(reply, sizeof(reply), "%s%s%s %s", res.code,
			    res.xcode[0] ? " " : "", res.xcode, res.text);
			check_text(ck, m, line, "reply", reply);
		} else {
			FUZZ_CHECK(jx_raw(line, "reply", &v, &vlen) < 0,
			    "reply without a refusal: %s", line);
		}
	}
	check_auth(ck, m, line);
}

static void
do_mail(struct check *ck, struct sg_session *s, struct model *m,
    const struct ev *ev)
{
	const char *argv[MAXFIELDS], *line, *param = NULL;
	struct sg_mta_says amb;
	const struct sg_mta_says *am = auth_of(ev, &amb);
	struct sg_tls_info tls;
	struct want w[8];
	enum auth_what a;
	size_t	argc = args_of(ev, argv), nw = 0, i, ntls;
	unsigned first = m->seq + 1;
	int	tls_now = tls_macros(ev, &tls);

	model_tls(m, tls_now, w, &nw);
	ntls = nw;
	model_txn_clear(m);
	m->in_txn = 1;
	m->txn++;
	m->seq++;
	m->abort_last = 0;
	for (i = 1; i < argc && !param; i++)
		if (strncasecmp(argv[i], "AUTH=", 5) == 0)
			param = argv[i] + 5;
	if (param == NULL && am && !empty(am->auth_param))
		param = am->auth_param;
	a = model_auth(m, am, 1, m->seq);
	add(w, &nw, "mail", NULL);
	if (!m->helo_seen)
		add(w, &nw, "anomaly", "mail_without_helo");
	anomaly_of(m, w, &nw, a);
	if (param && strcmp(param, "<>") != 0 && !m->auth)
		add(w, &nw, "anomaly", "client_auth_param");
	m->seq += (unsigned)(nw - ntls) - 1;
	if (tls.version || tls.cipher || tls.bits) {
		if (am == NULL)
			memset(&amb, 0, sizeof(amb));
		amb.tls = tls;
		am = &amb;
	}

	session_on_mail(s, argc > 0 ? argv[0] : NULL, argv + (argc > 0),
	    argc > 0 ? argc - 1 : 0, am, NULL);
	line = check_lines(ck, s, m, w, nw, first, "mail");
	if (line == NULL)
		return;
	FUZZ_CHECK(get_int(line, "txn") == m->txn, "txn");
	check_str(ck, m, line, "sender", argc > 0 ? argv[0] : NULL);
	if (param)
		check_str(ck, m, line, "auth_param", param);
	else {
		const char *v;
		size_t	vlen;

		FUZZ_CHECK(jx_raw(line, "auth_param", &v, &vlen) < 0,
		    "auth_param without AUTH=: %s", line);
	}
	check_auth(ck, m, line);
}

static void
do_helo(struct check *ck, struct sg_session *s, struct model *m,
    const struct ev *ev)
{
	struct sg_mta_says says;
	struct sg_tls_info tls;
	const char *helo = field(ev, 1), *line;
	struct want w[4];
	size_t	nw = 0;
	unsigned first = m->seq + 1;
	enum auth_what a = A_NONE;
	int	tls_now, given;

	tls_now = tls_macros(ev, &tls);
	memset(&says, 0, sizeof(says));
	says.tls = tls;
	says.login = macro(ev, "{auth_authen}");
	says.mech = macro(ev, "{auth_type}");
	given = tls.version || tls.cipher || tls.bits || says.login
	    || says.mech;
	if (helo && is_macro(helo))
		helo = NULL;
	model_txn_clear(m);
	m->abort_last = 0;
	model_tls(m, tls_now, w, &nw);
	m->helo_seen = 1;
	m->seq++;
	add(w, &nw, "helo", NULL);
	/* a login at HELO counts only where it shows one kept across TLS */
	if (m->no_auth_since_tls && !empty(says.login))
		a = model_auth(m, &says, 0, m->seq);
	m->no_auth_since_tls = 0;
	{
		size_t	before = nw;

		anomaly_of(m, w, &nw, a);
		m->seq += (unsigned)(nw - before);
	}

	session_on_helo(s, helo, given ? &says : NULL);
	line = check_lines(ck, s, m, w, nw, first, "helo");
	if (line == NULL)
		return;
	check_str(ck, m, line, "helo", helo ? helo : "");
}

static void
do_connect(struct check *ck, struct sg_session *s, struct model *m,
    const struct ev *ev)
{
	const char *addr = field(ev, 1), *line;
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	const char *text = NULL;	/* what a front end passes */
	unsigned port = 0;
	static const uint8_t mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
	struct want w[1];
	size_t	nw = 0;
	unsigned first = m->seq + 1;

	memset(&ss, 0, sizeof(ss));
	memset(&m->client, 0, sizeof(m->client));
	if (addr && inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		text = addr;
		port = 40025;
		m->client.family = AF_INET;
		memcpy(m->client.bytes, &sin->sin_addr, 4);
	} else if (addr && inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		text = addr;
		port = 40026;
		if (memcmp(&sin6->sin6_addr, mapped, 12) == 0) {
			m->client.family = AF_INET;
			memcpy(m->client.bytes, (uint8_t *)&sin6->sin6_addr + 12, 4);
		} else {
			m->client.family = AF_INET6;
			memcpy(m->client.bytes, &sin6->sin6_addr, 16);
		}
	}
	if (m->client.family)
		inet_ntop(m->client.family, m->client.bytes, m->client_addr,
		    sizeof(m->client_addr));
	m->seq++;
	m->abort_last = 0;
	add(w, &nw, "connect", NULL);

	session_on_connect(s, field(ev, 2), text, port, field(ev, 3));
	line = check_lines(ck, s, m, w, nw, first, "connect");
	if (line == NULL)
		return;
	check_str(ck, m, line, "client_addr", m->client_addr);
	check_str(ck, m, line, "client_name", field(ev, 2));
}

static void
do_simple(struct check *ck, struct sg_session *s, struct model *m,
    const char *event)
{
	struct want w[1];
	size_t	nw = 0;
	unsigned first = m->seq + 1;
	const char *line;

	m->seq++;
	m->abort_last = 0;
	add(w, &nw, event, NULL);
	if (strcmp(event, "data") == 0)
		session_on_data(s);
	else
		session_on_eoh(s);
	line = check_lines(ck, s, m, w, nw, first, event);
	if (line)
		FUZZ_CHECK(get_int(line, "txn") == m->txn, "txn");
}

static void
do_close(struct check *ck, struct sg_session *s, struct model *m)
{
	struct want w[1];
	size_t	nw = 0;
	unsigned first = m->seq + 1, resets = m->resets;
	const char *line;

	struct sg_close how = { 0, NULL };

	/* as the milter does: an abort right before close ended it */
	how.abort_was_end = m->abort_last;
	if (m->abort_last && resets)
		resets--;
	m->seq++;
	add(w, &nw, "close", NULL);
	session_on_close(s, &how);
	line = check_lines(ck, s, m, w, nw, first, "close");
	if (ck->verbose)
		fputs(evlog_memory_text(ck->log), stderr);
	FUZZ_CHECK(line != NULL, "no close line");
	FUZZ_CHECK(get_int(line, "transactions") == m->txn, "transactions");
	FUZZ_CHECK(get_int(line, "resets") == resets, "resets %lld, model %u",
	    get_int(line, "resets"), resets);
	FUZZ_CHECK(get_int(line, "rcpts") == m->rcpts, "rcpts");
	FUZZ_CHECK(get_int(line, "rejected") == m->rejected, "rejected");
	FUZZ_CHECK(get_int(line, "duration_ms") >= 0, "duration");
	check_auth(ck, m, line);
}

/*
 * Does value mention id (case-insensitive), once quoted-pairs and folding
 * are taken out?
 */
static int
mentions(const char *value, const char *id)
{
	char	buf[8192];
	size_t	n = 0, len = strlen(id);
	const char *p;

	for (p = value; *p && n < sizeof(buf) - 1; p++)
		if (*p != '\\' && *p != '\r' && *p != '\n')
			buf[n++] = *p;
	buf[n] = '\0';
	for (p = buf; *p; p++)
		if (strncasecmp(p, id, len) == 0)
			return 1;
	return 0;
}

/* Is value one of the plain forms that claim id: "id;", "id\r\n ;", "\"id\";"? */
static int
plainly_claims(const char *v, const char *id)
{
	size_t	n = strlen(id);

	while (*v == ' ' || *v == '\t')
		v++;
	if (*v == '"')
		return strncasecmp(v + 1, id, n) == 0 && v[n + 1] == '"'
		    && v[n + 2] == ';';
	if (strncasecmp(v, id, n) != 0)
		return 0;
	v += n;
	if (strncmp(v, "\r\n ", 3) == 0)
		v += 3;
	return *v == ';';
}

/*
 * RFC 8601 at end of message (auth_results = yes): delete only headers
 * that name our authserv-id, and every one in a plain form, last first;
 * add ours for an authenticated session naming the exact identity, or
 * none when it cannot be written (a control character or non-ASCII byte,
 * or a login as long as the session keeps). Returns whether the session
 * logged the anomaly auth_results_skipped.
 */
static int
check_ar_plan(struct sg_session *s, const struct model *m)
{
	struct sg_ar_plan plan;
	const char *id = m->cfg->authserv_id, *u, *v;
	char	want[2048];
	size_t	i, j, n;
	int	found, odd = 0;

	memset(&plan, 0x5a, sizeof(plan));
	session_ar_plan(s, &plan);
	if (!m->cfg->auth_results) {
		FUZZ_CHECK(plan.ndelete == 0 && !plan.add, "auth_results = no "
		    "but the plan deletes %zu, adds %d", plan.ndelete, plan.add);
		return 0;
	}
	FUZZ_CHECK(!plan.refuse, "refused: %s", plan.why);
	FUZZ_CHECK(plan.ndelete <= m->nar, "deletes %zu of %zu", plan.ndelete,
	    m->nar);
	for (i = 0; i < plan.ndelete; i++) {
		FUZZ_CHECK(plan.delete[i] >= 1 && plan.delete[i] <= m->nar
		    && (i == 0 || plan.delete[i] < plan.delete[i - 1]),
		    "delete index %u (of %zu)", plan.delete[i], m->nar);
		v = m->ar[plan.delete[i] - 1];
		FUZZ_CHECK(v && id && mentions(v, id), "deletes "
		    "Authentication-Results '%s' not naming %s", v ? v : "(null)",
		    id ? id : "(null)");
	}
	for (i = 0; i < m->nar && id; i++) {
		v = m->ar[i];
		if (v == NULL || !plainly_claims(v, id))
			continue;
		for (found = 0, j = 0; j < plan.ndelete; j++)
			if (plan.delete[j] == i + 1)
				found = 1;
		FUZZ_CHECK(found, "keeps Authentication-Results #%zu '%s'",
		    i + 1, v);
	}
	if (!m->auth) {
		FUZZ_CHECK(!plan.add, "plan adds for an unauthenticated session");
		return 0;
	}
	for (u = m->user; *u; u++)
		if ((unsigned char)*u < 0x20 || (unsigned char)*u >= 0x7f)
			odd = 1;
	if (!plan.add) {
		FUZZ_CHECK(odd || strlen(m->user) >= NAME_MAX_B, "no header for "
		    "login '%s'", m->user);
		return 1;
	}
	FUZZ_CHECK(memchr(plan.value, '\0', sizeof(plan.value)) != NULL,
	    "value not terminated");
	FUZZ_CHECK(strlen(plan.value) <= 998 - 24, "header longer than a line");
	for (v = plan.value; *v; v++)
		FUZZ_CHECK((unsigned char)*v >= 0x20 && *v != 0x7f,
		    "control character in header: %s", plan.value);
	/* the identity as it is (token, addr-spec) or as a quoted-string */
	n = (size_t)snprintf(want, sizeof(want), "%s; auth=pass smtp.auth=", id);
	if (strncmp(plan.value, want, n) != 0)	/* an id that is no token */
		n = (size_t)snprintf(want, sizeof(want),
		    "\"%s\"; auth=pass smtp.auth=", id);
	FUZZ_CHECK(strncmp(plan.value, want, n) == 0, "Authentication-Results "
	    "'%s' does not start with '%s'", plan.value, want);
	v = plan.value + n;
	if (strcmp(v, m->user) == 0) {
		FUZZ_CHECK(strpbrk(v, " \"\\;()<>,:[]") == NULL && *v,
		    "login '%s' written unquoted", v);
		return 0;
	}
	want[0] = '"';
	for (n = 1, u = m->user; *u && n < sizeof(want) - 3; u++) {
		if (*u == '"' || *u == '\\')
			want[n++] = '\\';
		want[n++] = *u;
	}
	want[n++] = '"';
	want[n] = '\0';
	FUZZ_CHECK(strcmp(v, want) == 0, "smtp.auth=%s, expected %s or %s", v,
	    m->user, want);
	return 0;
}

static void
do_event(struct check *ck, struct sg_session *s, struct model *m,
    const struct ev *ev)
{
	const char *name = ev->f[0];
	struct want w[2];
	size_t	nw = 0;
	unsigned first = m->seq + 1;
	const char *line;

	if (strcmp(name, "connect") == 0) {
		do_connect(ck, s, m, ev);
	} else if (strcmp(name, "helo") == 0) {
		do_helo(ck, s, m, ev);
	} else if (strcmp(name, "mail") == 0) {
		do_mail(ck, s, m, ev);
	} else if (strcmp(name, "rcpt") == 0) {
		do_rcpt(ck, s, m, ev);
	} else if (strcmp(name, "data") == 0 || strcmp(name, "eoh") == 0) {
		do_simple(ck, s, m, name);
	} else if (strcmp(name, "header") == 0) {
		m->headers++;
		if (field(ev, 1) && strcasecmp(field(ev, 1),
		    "Authentication-Results") == 0 && m->nar < MAXAR) {
			m->ar[m->nar++] = field(ev, 2) ? strdup(field(ev, 2)) :
			    NULL;
		}
		session_on_header(s, field(ev, 1), field(ev, 2));
		check_lines(ck, s, m, w, 0, first, NULL);
	} else if (strcmp(name, "body") == 0) {
		size_t	len = field(ev, 1) ?
		    strtoul(field(ev, 1), NULL, 10) % 100000000 : 0;

		m->size += len;
		session_on_body(s, len);
		check_lines(ck, s, m, w, 0, first, NULL);
	} else if (strcmp(name, "eom") == 0) {
		unsigned long long size = m->size;
		unsigned headers = m->headers;

		if (check_ar_plan(s, m)) {
			m->seq++;
			add(w, &nw, "anomaly", "auth_results_skipped");
		}
		m->seq++;
		m->abort_last = 0;
		model_txn_clear(m);
		add(w, &nw, "eom", NULL);
		session_on_eom(s, field(ev, 1));
		line = check_lines(ck, s, m, w, nw, first, "eom");
		if (line) {
			FUZZ_CHECK(get_int(line, "txn") == m->txn, "txn");
			check_str(ck, m, line, "queue_id", empty(field(ev, 1)) ?
			    NULL : field(ev, 1));
			FUZZ_CHECK(get_int(line, "size") == (long long)size,
			    "size %lld, model %llu", get_int(line, "size"), size);
			FUZZ_CHECK(get_int(line, "headers") == headers,
			    "headers %lld, model %u", get_int(line, "headers"),
			    headers);
		}
	} else if (strcmp(name, "abort") == 0) {
		m->seq++;
		model_txn_clear(m);
		m->resets++;
		if (m->auth)
			m->auth_resets++;
		add(w, &nw, "abort", NULL);
		session_on_abort(s);
		m->abort_last = 1;
		check_lines(ck, s, m, w, nw, first, NULL);
	} else if (strcmp(name, "unknown") == 0) {
		if (!m->tls_active)
			m->plaintext_seen = 1;
		m->seq += 2;
		m->abort_last = 0;
		add(w, &nw, "unknown", NULL);
		add(w, &nw, "anomaly", "unknown_command");
		session_on_unknown(s, field(ev, 1));
		line = check_lines(ck, s, m, w, nw, first, "unknown");
		if (line)
			check_str(ck, m, line, "command", field(ev, 1) ?
			    field(ev, 1) : "");
	} else {
		return;		/* not an event: ignored */
	}
	check_state(s, m, name);
	if (ck->verbose)
		fputs(evlog_memory_text(ck->log), stderr);
	evlog_memory_clear(ck->log);
}

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	err[1024];

	(void)argc;
	(void)argv;
	default_cfg = config_load_string("default", default_config, err,
	    sizeof(err));
	if (default_cfg == NULL) {
		fprintf(stderr, "default configuration: %s\n", err);
		abort();
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct sg_config *cfg = NULL;
	struct evlog *log;
	struct sg_session *s;
	struct model m;
	struct check ck;
	struct ev ev;
	struct strbuf text;
	char	err[1024];
	int	nevents = 0;
	size_t	i;

	memset(&ev, 0, sizeof(ev));
	memset(&ck, 0, sizeof(ck));
	strbuf_init(&ck.a);
	strbuf_init(&ck.b);

	/* an optional first line "config" */
	nl = memchr(p, '\n', size);
	if (size >= 6 && memcmp(p, "config", 6) == 0
	    && (size == 6 || p[6] == '\t' || p[6] == '\n')) {
		split_line(p, nl ? (size_t)(nl - p) : size, &ev);
		strbuf_init(&text);
		for (i = 1; i < ev.n; i++) {
			strbuf_puts(&text, ev.f[i]);
			strbuf_putc(&text, '\n');
		}
		free_ev(&ev);
		if (strstr(strbuf_str(&text), "file:") == NULL)
			cfg = config_load_string("fuzz.conf", strbuf_str(&text),
			    err, sizeof(err));
		strbuf_free(&text);
		if (cfg == NULL)
			goto out;
		p = nl ? nl + 1 : end;
	}
	memset(&m, 0, sizeof(m));
	m.cfg = cfg ? cfg : default_cfg;
	m.max = m.cfg->log_max_value;
	m.decisions = m.cfg->log_level == LOG_LEVEL_DECISIONS;
	strcpy(m.client_addr, "unknown");
	if ((log = evlog_memory(m.cfg->log_level, m.cfg->log_max_value)) == NULL
	    || (s = session_new(m.cfg, log, &sg_front_milter)) == NULL)
		abort();
	ck.log = log;
	ck.verbose = getenv("SG_FUZZ_VERBOSE") != NULL;

	while (p < end && nevents < MAXEVENTS) {
		nl = memchr(p, '\n', (size_t)(end - p));
		split_line(p, nl ? (size_t)(nl - p) : (size_t)(end - p), &ev);
		p = nl ? nl + 1 : end;
		if (strcmp(ev.f[0], "close") == 0) {
			free_ev(&ev);
			break;
		}
		do_event(&ck, s, &m, &ev);
		free_ev(&ev);
		nevents++;
	}
	do_close(&ck, s, &m);
	check_state(s, &m, "close");
	model_txn_clear(&m);

	session_free(s);
	evlog_close(log);
out:
	config_free(cfg);
	free(ck.line);
	strbuf_free(&ck.a);
	strbuf_free(&ck.b);
	return 0;
}
