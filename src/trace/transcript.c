/*
 * NAME
 *	transcript - a session of the JSON log, told as an SMTP dialogue
 * SYNOPSIS
 *	#include "trace/transcript.h"
 *
 *	void transcript_print(fp, session)
 * DESCRIPTION
 *	transcript_print() writes one session to fp: a header line (session
 *	id, client address, port and name, the MTA's daemon name, start
 *	time), then one entry per log line in log order, each under its seq
 *	so that reasons such as "at seq 3" can be followed:
 *
 *	    C: lines   the commands as the MTA reported them (HELO/EHLO, MAIL
 *	               with its ESMTP parameters, RCPT, DATA, end of message,
 *	               RSET or other abort, unknown commands);
 *	    S: lines   sessguard's verdict on a RCPT, on a MAIL (the sender/
 *	               login check) or on a message (a hold, a tempfail),
 *	               with the SMTP reply it gave and its reason;
 *	    limit:     the rate limit a RCPT was counted against (the limit
 *	               object: name, key, count of max per period);
 *	    auth:      the login in force at each MAIL, and at a RCPT when it
 *	               changed; the client's AUTH= claim, shown as untrusted;
 *	    TLS:       a STARTTLS boundary;
 *	    !!         anomalies;
 *	    close      the summary of the close line.
 *
 *	A jump in seq (log_level = decisions, or lines lost) is shown as such.
 *	A session without its close line ends with "(no close seen)".
 *
 *	Each output line is written through termesc, so log values cannot
 *	drive the terminal; fields a line lacks show as "?" or "-".
 * DIAGNOSTICS
 *	None: the lines were checked when read, and a field that is missing
 *	or of another type is shown, not refused. Allocation failure is
 *	fatal (diag_fatal()).
 */
#include <string.h>

#include <jansson.h>

#include "trace/diag.h"
#include "trace/record.h"
#include "trace/termesc.h"
#include "trace/transcript.h"
#include "util/strbuf.h"

#define TX_INDENT	"       "	/* under the seq column */
#define TX_SUB		TX_INDENT "   "	/* under a command */

struct tx {
	FILE	*fp;
	struct strbuf sb;
	long long prev_seq;
	json_t	*auth;		/* the login last shown, or null */
};

typedef void (*tx_event_fn)(struct tx *, const json_t *);

static void
tx_flush(struct tx *t)
{
	if (strbuf_failed(&t->sb))
		diag_fatal("out of memory");
	termesc_write(t->fp, t->sb.data ? t->sb.data : "", t->sb.len);
	fputc('\n', t->fp);
	strbuf_reset(&t->sb);
}

/* Starts the entry of one log line: the seq column, after any gap. */
static void
tx_begin(struct tx *t, const json_t *rec)
{
	long long seq = 0;

	record_int(rec, "seq", &seq);
	if (seq > t->prev_seq + 1) {
		if (seq == t->prev_seq + 2)
			strbuf_printf(&t->sb, TX_INDENT "(seq %lld not in the log)",
			    t->prev_seq + 1);
		else
			strbuf_printf(&t->sb, TX_INDENT "(seq %lld-%lld not in the log)",
			    t->prev_seq + 1, seq - 1);
		tx_flush(t);
	}
	if (seq > t->prev_seq)
		t->prev_seq = seq;
	strbuf_printf(&t->sb, "%5lld  ", seq);
}

static void
tx_count(struct strbuf *sb, const json_t *rec, const char *key,
    const char *one, const char *many)
{
	long long n;

	if (record_int(rec, key, &n) < 0)
		strbuf_printf(sb, "? %s", many);
	else
		strbuf_printf(sb, "%lld %s", n, n == 1 ? one : many);
}

/* "alice (PLAIN) since seq 3, carried", or "none". */
static void
tx_put_auth(struct strbuf *sb, const json_t *auth)
{
	const char *source;

	if (auth == NULL) {
		strbuf_puts(sb, "none");
		return;
	}
	record_put(sb, auth, "user", "?");
	if (record_str(auth, "mech") != NULL) {
		strbuf_puts(sb, " (");
		record_put(sb, auth, "mech", "?");
		strbuf_puts(sb, ")");
	}
	strbuf_puts(sb, " since seq ");
	record_put(sb, auth, "since_seq", "?");
	source = record_str(auth, "source");
	if (source && strcmp(source, "carried") == 0)
		strbuf_puts(sb, ", carried");
	else if (source && strcmp(source, "mta") == 0)
		strbuf_puts(sb, ", reported by the MTA");
	else {
		strbuf_puts(sb, ", source ");
		record_put(sb, auth, "source", "?");
	}
}

/* Shows the login in force, always or only when it changed. */
static void
tx_auth(struct tx *t, const json_t *rec, const char *label, int always)
{
	const json_t *auth = record_auth(rec);

	if (!always && (auth == NULL ? t->auth == NULL : json_equal(
	    (json_t *)auth, t->auth)))
		return;
	strbuf_printf(&t->sb, TX_SUB "%s: ", label);
	tx_put_auth(&t->sb, auth);
	tx_flush(t);
	json_decref(t->auth);
	t->auth = auth ? json_deep_copy(auth) : NULL;
	if (auth && t->auth == NULL)
		diag_fatal("out of memory");
}

/* "S: <reply> — <reason>" for a verdict. */
static void
tx_verdict(struct tx *t, const json_t *rec)
{
	const char *v = record_str(rec, "verdict");

	strbuf_puts(&t->sb, TX_INDENT "S: ");
	if (v == NULL)
		strbuf_puts(&t->sb, "(no verdict)");
	else if (strcmp(v, "accept") == 0)
		strbuf_puts(&t->sb, "accepted");
	else if (strcmp(v, "reject") == 0)
		record_put(&t->sb, rec, "reply", "rejected");
	else if (strcmp(v, "would_reject") == 0) {
		strbuf_puts(&t->sb, "(monitor) would reject: ");
		record_put(&t->sb, rec, "reply", "rejected");
	} else if (strcmp(v, "tempfail") == 0)
		record_put(&t->sb, rec, "reply", "temporary failure (4xx)");
	else if (strcmp(v, "mta_rejected") == 0)
		strbuf_puts(&t->sb, "(rejected by the MTA itself)");
	else if (strcmp(v, "hold") == 0)
		strbuf_puts(&t->sb, "accepted and held (limit_action hold)");
	else
		strbuf_printf(&t->sb, "verdict %s", v);
	if (record_str(rec, "reason") != NULL) {
		strbuf_puts(&t->sb, " \xe2\x80\x94 ");
		record_put(&t->sb, rec, "reason", "");
	}
	tx_flush(t);
}

/* "192.0.2.10:12345 client.example.net" ([addr]:port for IPv6). */
static void
tx_put_client(struct strbuf *sb, const json_t *rec)
{
	const char *addr = record_str(rec, "client_addr");
	int	v6 = addr && strchr(addr, ':') != NULL;

	strbuf_puts(sb, v6 ? "[" : "");
	record_put(sb, rec, "client_addr", "?");
	strbuf_puts(sb, v6 ? "]:" : ":");
	record_put(sb, rec, "client_port", "?");
	strbuf_puts(sb, " ");
	record_put(sb, rec, "client_name", "?");
	strbuf_puts(sb, ", daemon ");
	record_put(sb, rec, "daemon", "-");
}

static void
tx_connect(struct tx *t, const json_t *rec)
{
	strbuf_puts(&t->sb, "connect from ");
	tx_put_client(&t->sb, rec);
	tx_flush(t);
}

static void
tx_helo(struct tx *t, const json_t *rec)
{
	const json_t *tls = json_object_get(rec, "tls");

	strbuf_puts(&t->sb, "C: EHLO/HELO ");
	record_put(&t->sb, rec, "helo", "?");
	if (json_is_object(tls)) {
		strbuf_puts(&t->sb, " (over ");
		record_put(&t->sb, tls, "version", "TLS");
		strbuf_puts(&t->sb, ")");
	}
	tx_flush(t);
}

static void
tx_tls(struct tx *t, const json_t *rec)
{
	strbuf_puts(&t->sb, "   TLS: ");
	record_put(&t->sb, rec, "version", "?");
	strbuf_puts(&t->sb, " ");
	record_put(&t->sb, rec, "cipher", "?");
	strbuf_puts(&t->sb, " ");
	record_put(&t->sb, rec, "bits", "?");
	strbuf_puts(&t->sb, " bits (STARTTLS boundary: login and HELO name"
	    " before it are discarded)");
	tx_flush(t);
	json_decref(t->auth);
	t->auth = NULL;
}

static void
tx_mail(struct tx *t, const json_t *rec)
{
	const json_t *args = json_object_get(rec, "args");
	const json_t *arg;
	size_t	i;

	strbuf_puts(&t->sb, "C: MAIL FROM:");
	record_put(&t->sb, rec, "sender", "?");
	json_array_foreach(args, i, arg) {
		strbuf_puts(&t->sb, " ");
		record_put_value(&t->sb, json_is_string(arg) ? arg : NULL);
	}
	tx_flush(t);
	tx_auth(t, rec, "auth", 1);
	if (record_str(rec, "auth_param") != NULL) {
		strbuf_puts(&t->sb, TX_SUB "client's AUTH=");
		record_put(&t->sb, rec, "auth_param", "");
		strbuf_puts(&t->sb, " (untrusted: a claim, never a login)");
		tx_flush(t);
	}
	/* sender_login_check on: the verdict on the sender */
	if (record_str(rec, "verdict") != NULL)
		tx_verdict(t, rec);
}

/* "limit: login:alice 3 of 100 per 3600 s (limit_login_recipients)" */
static void
tx_limit(struct tx *t, const json_t *rec)
{
	const json_t *lim = json_object_get(rec, "limit");

	if (!json_is_object(lim))
		return;
	strbuf_puts(&t->sb, TX_SUB "limit: ");
	record_put(&t->sb, lim, "key", "?");
	strbuf_puts(&t->sb, " ");
	record_put(&t->sb, lim, "count", "?");
	strbuf_puts(&t->sb, " of ");
	record_put(&t->sb, lim, "max", "?");
	strbuf_puts(&t->sb, " per ");
	record_put(&t->sb, lim, "period_s", "?");
	strbuf_puts(&t->sb, " s (");
	record_put(&t->sb, lim, "name", "?");
	strbuf_puts(&t->sb, ")");
	tx_flush(t);
}

static void
tx_rcpt(struct tx *t, const json_t *rec)
{
	strbuf_puts(&t->sb, "C: RCPT TO:");
	record_put(&t->sb, rec, "rcpt", "?");
	tx_flush(t);
	tx_verdict(t, rec);
	tx_limit(t, rec);
	tx_auth(t, rec, "auth now", 0);
}

static void
tx_data(struct tx *t, const json_t *rec)
{
	(void)rec;
	strbuf_puts(&t->sb, "C: DATA");
	tx_flush(t);
}

static void
tx_eoh(struct tx *t, const json_t *rec)
{
	(void)rec;
	strbuf_puts(&t->sb, "(end of headers)");
	tx_flush(t);
}

static void
tx_eom(struct tx *t, const json_t *rec)
{
	const char *v = record_str(rec, "verdict");

	strbuf_puts(&t->sb, "C: . (end of message, queue id ");
	record_put(&t->sb, rec, "queue_id", "unknown");
	strbuf_puts(&t->sb, ", ");
	tx_count(&t->sb, rec, "size", "byte", "bytes");
	strbuf_puts(&t->sb, ", ");
	tx_count(&t->sb, rec, "headers", "header", "headers");
	strbuf_puts(&t->sb, ")");
	tx_flush(t);
	if (v == NULL || strcmp(v, "accept") != 0)
		tx_verdict(t, rec);
}

static void
tx_abort(struct tx *t, const json_t *rec)
{
	strbuf_puts(&t->sb, "C: RSET / abort (transaction ");
	record_put(&t->sb, rec, "txn", "?");
	strbuf_puts(&t->sb, " discarded)");
	tx_flush(t);
}

static void
tx_unknown(struct tx *t, const json_t *rec)
{
	strbuf_puts(&t->sb, "C: <unknown command: ");
	record_put(&t->sb, rec, "command", "");
	strbuf_puts(&t->sb, ">");
	tx_flush(t);
}

static void
tx_anomaly(struct tx *t, const json_t *rec)
{
	strbuf_puts(&t->sb, "!! anomaly ");
	record_put(&t->sb, rec, "kind", "?");
	strbuf_puts(&t->sb, ": ");
	record_put(&t->sb, rec, "detail", "");
	tx_flush(t);
}

static void
tx_duration(struct strbuf *sb, const json_t *rec)
{
	long long ms;

	if (record_int(rec, "duration_ms", &ms) < 0)
		strbuf_puts(sb, "duration ?");
	else if (ms < 1000)
		strbuf_printf(sb, "duration %lld ms", ms);
	else
		strbuf_printf(sb, "duration %lld.%03lld s", ms / 1000, ms % 1000);
}

static void
tx_close(struct tx *t, const json_t *rec)
{
	strbuf_puts(&t->sb, "close");
	tx_flush(t);
	strbuf_puts(&t->sb, TX_SUB "summary: ");
	tx_duration(&t->sb, rec);
	strbuf_puts(&t->sb, ", ");
	tx_count(&t->sb, rec, "transactions", "transaction", "transactions");
	strbuf_puts(&t->sb, ", ");
	tx_count(&t->sb, rec, "resets", "reset", "resets");
	strbuf_puts(&t->sb, ", ");
	tx_count(&t->sb, rec, "rcpts", "rcpt", "rcpts");
	strbuf_puts(&t->sb, ", ");
	tx_count(&t->sb, rec, "rejected", "rejected", "rejected");
	tx_flush(t);
	tx_auth(t, rec, "final auth", 1);
}

static void
tx_other(struct tx *t, const json_t *rec)
{
	strbuf_puts(&t->sb, "(event ");
	record_put(&t->sb, rec, "event", "?");
	strbuf_puts(&t->sb, ")");
	tx_flush(t);
}

static const struct {
	const char *event;
	tx_event_fn fn;
} tx_events[] = {
	{ "connect", tx_connect },
	{ "helo", tx_helo },
	{ "tls", tx_tls },
	{ "mail", tx_mail },
	{ "rcpt", tx_rcpt },
	{ "data", tx_data },
	{ "eoh", tx_eoh },
	{ "eom", tx_eom },
	{ "abort", tx_abort },
	{ "unknown", tx_unknown },
	{ "anomaly", tx_anomaly },
	{ "close", tx_close },
};

static void
tx_line(struct tx *t, const json_t *rec)
{
	const char *event = record_str(rec, "event");
	size_t	i;

	tx_begin(t, rec);
	for (i = 0; i < sizeof(tx_events) / sizeof(tx_events[0]); i++)
		if (strcmp(event, tx_events[i].event) == 0) {
			tx_events[i].fn(t, rec);
			return;
		}
	tx_other(t, rec);
}

/* The header; returns 1 when it used up the first line (a connect). */
static int
tx_header(struct tx *t, const struct tsess *s, const json_t *first)
{
	const char *event = record_str(first, "event");
	int	connect = strcmp(event, "connect") == 0;

	strbuf_printf(&t->sb, "session %s \xe2\x80\x94 ", s->id);
	if (connect) {
		strbuf_puts(&t->sb, "client ");
		tx_put_client(&t->sb, first);
		record_int(first, "seq", &t->prev_seq);
	} else {
		strbuf_puts(&t->sb, "connect not in the log");
	}
	strbuf_printf(&t->sb, ", start %s", s->start_ts ? s->start_ts : "?");
	tx_flush(t);
	return connect;
}

static json_t *
tx_parse(const struct tline *l)
{
	struct strbuf why;
	json_t	*rec;

	strbuf_init(&why);
	rec = record_parse(l->text, l->len, &why);
	strbuf_free(&why);
	return rec;
}

void
transcript_print(FILE *fp, const struct tsess *s)
{
	struct tx t;
	json_t	*rec;
	size_t	i;

	memset(&t, 0, sizeof(t));
	t.fp = fp;
	strbuf_init(&t.sb);
	for (i = 0; i < s->nlines; i++) {
		if ((rec = tx_parse(&s->lines[i])) == NULL)
			diag_fatal("out of memory");
		if (i > 0 || !tx_header(&t, s, rec))
			tx_line(&t, rec);
		json_decref(rec);
	}
	if (!s->closed) {
		strbuf_puts(&t.sb, TX_INDENT "(no close seen)");
		tx_flush(&t);
	}
	fputc('\n', fp);
	json_decref(t.auth);
	strbuf_free(&t.sb);
}
