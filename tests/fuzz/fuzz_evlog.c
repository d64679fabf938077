/*
 * NAME
 *	fuzz_evlog - libFuzzer target for the JSON Lines writer
 * DESCRIPTION
 *	Drives evlog_begin()/evlog_str()/evlog_strn()/... of src/evlog.c with
 *	arbitrary bytes in every value (keys are fixed, as in the daemon)
 *	through an evlog_memory() log whose max_value is taken from the input
 *	(16..4096) and may change between calls (a reload).
 *
 *	Input: two bytes of max_value, one byte of flags (bit 0: log_level
 *	decisions), then operations, one byte each plus their operands:
 *	begin a line (session id bytes, seq, event from a table), str (a C
 *	string), strn (bytes with NULs, in a buffer of exactly that size), a
 *	long repeated value, NULL string, int, bool, null, object and array
 *	begin/end, array string, end of line, set levels.
 *
 *	Checked for every line: evlog_end() succeeds and the memory log grows
 *	by exactly the line built; the line is one line ending in a newline,
 *	valid JSON and valid UTF-8 (tests/unit/jsoncheck.h), with ts, session
 *	(the id as given, escaped), seq and event first. Checked for every
 *	value as it is appended: it decodes to exactly what SPEC section 5
 *	says (fz_expect_value(): cut at max_value bytes on a character
 *	boundary, invalid bytes as \xNN, a backslash as two, the mark
 *	"...(+N bytes)"). Lines
 *	that log_level = decisions drops leave no trace.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evlog.h"
#include "fuzz.h"

struct in {
	const uint8_t *p;
	size_t	 n;
};

static unsigned
get_u8(struct in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static unsigned
get_u16(struct in *in)
{
	unsigned v = get_u8(in);

	return v << 8 | get_u8(in);
}

/* Up to max bytes from the input, length from one or two bytes. */
static const uint8_t *
get_bytes(struct in *in, size_t *len, int wide)
{
	const uint8_t *p;
	size_t	n = wide ? get_u16(in) : get_u8(in);

	if (n > in->n)
		n = in->n;
	p = in->p;
	in->p += n;
	in->n -= n;
	*len = n;
	return p;
}

static const char *const keys[] = {
	"helo", "sender", "rcpt", "reason", "command", "detail", "kind",
	"client_name", "queue_id", "user", "mech", "source", "reply",
	"args", "auth", "tls",
};
#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

static const char *const events[] = {
	"connect", "helo", "tls", "mail", "rcpt", "data", "eoh", "eom",
	"abort", "unknown", "anomaly", "close",
};
#define NEVENTS	(sizeof(events) / sizeof(events[0]))

#define MAXDEPTH 32

struct state {
	struct evlog	*log;
	enum sg_log_level level;
	struct strbuf	 sb;		/* the line under construction */
	struct strbuf	 want, got;
	struct evline	 l;
	int		 open;		/* a line is under construction */
	int		 depth;		/* 0: top-level object */
	int		 isarr[MAXDEPTH + 1];
	unsigned	 used[MAXDEPTH + 1];	/* keys used, per object */
	const char	*session;
	size_t		 session_len;
	unsigned	 seq;
	const char	*event;
};

/* A key not yet used in the current object, or NULL. */
static const char *
pick_key(struct state *st, unsigned sel)
{
	unsigned i, k;

	for (i = 0; i < NKEYS; i++) {
		k = (sel + i) % NKEYS;
		if (!(st->used[st->depth] & (1u << k))) {
			st->used[st->depth] |= 1u << k;
			return keys[k];
		}
	}
	return NULL;
}

/* Checks what the last call appended at sb[before..]: [,]["key":]value. */
static void
check_value(struct state *st, size_t before, const char *key,
    const unsigned char *v, size_t len, size_t max)
{
	const char *p = strbuf_str(&st->sb) + before;
	size_t	 n = st->sb.len - before, klen;

	if (st->l.skip) {
		FUZZ_CHECK(n == 0, "skipped line grew by %zu bytes", n);
		return;
	}
	FUZZ_CHECK(n > 0, "value not written");
	if (*p == ',') {
		p++;
		n--;
	}
	if (key) {
		klen = strlen(key);
		FUZZ_CHECK(n >= klen + 3 && p[0] == '"'
		    && memcmp(p + 1, key, klen) == 0 && p[klen + 1] == '"'
		    && p[klen + 2] == ':', "key %s not written as such", key);
		p += klen + 3;
		n -= klen + 3;
	}
	if (v == NULL) {
		FUZZ_CHECK(n == 4 && memcmp(p, "null", 4) == 0,
		    "NULL value not written as null: %.*s", (int)n, p);
		return;
	}
	FUZZ_CHECK(fz_decode_string(p, n, &st->got) == 0,
	    "value is not one valid JSON string: %.*s", (int)(n > 200 ? 200 : n), p);
	fz_expect_value(v, len, max, &st->want);
	FUZZ_CHECK(st->got.len == st->want.len
	    && memcmp(strbuf_str(&st->got), strbuf_str(&st->want),
	    st->want.len) == 0,
	    "value of %zu bytes (max %zu) decodes to %zu bytes, expected %zu:\n"
	    "  got  %.300s\n  want %.300s", len, max, st->got.len,
	    st->want.len, strbuf_str(&st->got), strbuf_str(&st->want));
}

static void
begin_line(struct state *st, struct in *in)
{
	size_t	len;
	const uint8_t *b = get_bytes(in, &len, 0);
	char	*id = fz_cstr(b, len);

	st->session = id;
	st->session_len = strlen(id);
	st->seq = get_u16(in) << 16 | get_u16(in);
	st->event = events[get_u8(in) % NEVENTS];
	strbuf_reset(&st->sb);
	evlog_begin(&st->l, st->log, &st->sb, st->session, st->seq, st->event);
	st->open = 1;
	st->depth = 0;
	st->isarr[0] = 0;
	st->used[0] = 0;
	if (st->level == LOG_LEVEL_DECISIONS && strcmp(st->event, "connect")
	    && strcmp(st->event, "rcpt") && strcmp(st->event, "anomaly")
	    && strcmp(st->event, "close"))
		FUZZ_CHECK(st->l.skip, "event %s not skipped at decisions",
		    st->event);
	else
		FUZZ_CHECK(!st->l.skip, "event %s skipped", st->event);
}

static void
end_line(struct state *st)
{
	const char *text;
	size_t	 len;
	long long seq;
	char	 ts[64];

	while (st->depth > 0) {
		if (st->isarr[st->depth])
			evlog_arr_end(&st->l);
		else
			evlog_obj_end(&st->l);
		st->depth--;
	}
	FUZZ_CHECK(evlog_end(&st->l) == 0, "evlog_end failed");
	st->open = 0;
	text = evlog_memory_text(st->log);
	len = strlen(text);
	if (st->l.skip) {
		FUZZ_CHECK(len == 0, "skipped line written: %s", text);
		goto out;
	}
	FUZZ_CHECK(len == st->sb.len && memcmp(text, st->sb.data, len) == 0,
	    "memory log differs from the line built");
	FUZZ_CHECK(len > 1 && text[len - 1] == '\n', "line without newline");
	FUZZ_CHECK(memchr(text, '\n', len - 1) == NULL, "newline inside line");
	FUZZ_CHECK(memchr(text, '\r', len) == NULL, "CR inside line");
	FUZZ_CHECK(json_valid(text, len - 1), "invalid JSON: %.400s", text);
	FUZZ_CHECK(strncmp(text, "{\"ts\":\"", 7) == 0, "line starts %.20s", text);
	FUZZ_CHECK(json_get_string(text, "ts", ts, sizeof(ts)) == 0
	    && strlen(ts) == 27 && ts[4] == '-' && ts[10] == 'T'
	    && ts[19] == '.' && ts[26] == 'Z', "bad ts");
	FUZZ_CHECK(json_get_int(text, "seq", &seq) == 0
	    && seq == (long long)st->seq, "seq %lld, expected %u", seq, st->seq);
	FUZZ_CHECK(json_get_string(text, "event", ts, sizeof(ts)) == 0
	    && strcmp(ts, st->event) == 0, "event");
	{
		const char *v;
		size_t	vlen;

		FUZZ_CHECK(json_get_raw(text, "session", &v, &vlen) == 0,
		    "no session");
		FUZZ_CHECK(fz_decode_string(v, vlen, &st->got) == 0, "session");
		fz_expect_value((const unsigned char *)st->session,
		    st->session_len, 0, &st->want);
		FUZZ_CHECK(st->got.len == st->want.len && memcmp(strbuf_str(&st->got),
		    strbuf_str(&st->want), st->got.len) == 0, "session id mangled");
	}
out:
	evlog_memory_clear(st->log);
	free((void *)st->session);
	st->session = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct state st;
	unsigned max, op;
	int	 nops = 0;

	memset(&st, 0, sizeof(st));
	max = 16 + get_u16(&in) % (4096 - 16 + 1);
	st.level = (get_u8(&in) & 1) ? LOG_LEVEL_DECISIONS : LOG_LEVEL_COMMANDS;
	if ((st.log = evlog_memory(st.level, max)) == NULL)
		abort();
	strbuf_init(&st.sb);
	strbuf_init(&st.want);
	strbuf_init(&st.got);

	while (in.n > 0 && nops++ < 4096) {
		const char *key = NULL;
		const uint8_t *b;
		size_t	 len, before, cur;
		char	*s;

		op = get_u8(&in) % 14;
		if (op == 13) {		/* reload: new level and bound */
			cur = 16 + get_u16(&in) % (4096 - 16 + 1);
			st.level = (get_u8(&in) & 1) ?
			    LOG_LEVEL_DECISIONS : LOG_LEVEL_COMMANDS;
			evlog_set_levels(st.log, st.level, cur);
			FUZZ_CHECK(evlog_max_value(st.log) == cur, "max_value");
			continue;
		}
		if (!st.open || op == 0) {
			if (st.open)
				end_line(&st);
			begin_line(&st, &in);
			if (op == 0)
				continue;
		}
		if (op == 11) {
			end_line(&st);
			continue;
		}
		if (op == 10) {
			if (st.depth > 0) {
				if (st.isarr[st.depth])
					evlog_arr_end(&st.l);
				else
					evlog_obj_end(&st.l);
				st.depth--;
			}
			continue;
		}
		if (!st.isarr[st.depth]) {
			key = pick_key(&st, get_u8(&in));
			if (key == NULL)
				continue;
		}
		cur = evlog_max_value(st.log);
		before = st.sb.len;
		switch (op) {
		case 1:		/* str: a C string */
		case 9:		/* arr_str */
			b = get_bytes(&in, &len, 1);
			s = fz_cstr(b, len);
			if (key)
				evlog_str(&st.l, key, s);
			else
				evlog_arr_str(&st.l, s);
			check_value(&st, before, key, (unsigned char *)s,
			    strlen(s), cur);
			free(s);
			break;
		case 2:		/* strn: NULs inside, no terminator */
			b = get_bytes(&in, &len, 1);
			s = malloc(len ? len : 1);
			if (s == NULL)
				abort();
			memcpy(s, b, len);
			evlog_strn(&st.l, key, s, len);
			check_value(&st, before, key, (unsigned char *)s, len, cur);
			free(s);
			break;
		case 12: {	/* a long value: a pattern repeated */
			size_t	 reps, i;

			b = get_bytes(&in, &len, 0);
			len %= 8;
			reps = get_u16(&in) % 9000;
			if (len == 0)
				break;
			s = malloc(len * reps + 1);
			if (s == NULL)
				abort();
			for (i = 0; i < reps; i++)
				memcpy(s + i * len, b, len);
			evlog_strn(&st.l, key, s, len * reps);
			check_value(&st, before, key, (unsigned char *)s,
			    len * reps, cur);
			free(s);
			break;
		}
		case 3:
			evlog_str(&st.l, key, NULL);
			check_value(&st, before, key, NULL, 0, cur);
			break;
		case 4: {
			long long v = (long long)((uint64_t)get_u16(&in) << 48
			    | (uint64_t)get_u16(&in) << 32
			    | (uint64_t)get_u16(&in) << 16 | get_u16(&in));

			evlog_int(&st.l, key, v);
			break;
		}
		case 5:
			evlog_bool(&st.l, key, get_u8(&in) & 1);
			break;
		case 6:
			evlog_null(&st.l, key);
			break;
		case 7:
		case 8:
			if (st.depth >= MAXDEPTH || key == NULL)
				break;	/* values in arrays are strings only */
			if (op == 7)
				evlog_obj_begin(&st.l, key);
			else
				evlog_arr_begin(&st.l, key);
			st.depth++;
			st.isarr[st.depth] = op == 8;
			st.used[st.depth] = 0;
			break;
		}
	}
	if (st.open)
		end_line(&st);
	strbuf_free(&st.sb);
	strbuf_free(&st.want);
	strbuf_free(&st.got);
	evlog_close(st.log);
	return 0;
}
