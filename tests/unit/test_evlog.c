/*
 * Unit tests of src/evlog.c: JSON Lines built with the evlog_* calls, the
 * level filter, the value bound, the file sinks, reopen and lost lines.
 * Every line is judged by the independent checker of jsoncheck.h.
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "evlog.h"
#include "util/json.h"
#include "util/strbuf.h"

#include "jsoncheck.h"

#define MARK	"\xe2\x80\xa6"		/* U+2026 */

static char err[1024];

/* Is ts "YYYY-MM-DDTHH:MM:SS.ffffffZ", a real UTC time near now? */
static void
check_ts(const char *ts)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	struct tm tm;
	time_t	t, now = time(NULL);
	size_t	i;

	ck_assert_msg(strlen(ts) == sizeof(shape) - 1, "ts '%s'", ts);
	for (i = 0; shape[i]; i++) {
		if (shape[i] == 'd')
			ck_assert_msg(ts[i] >= '0' && ts[i] <= '9', "ts '%s'", ts);
		else
			ck_assert_msg(ts[i] == shape[i], "ts '%s'", ts);
	}
	memset(&tm, 0, sizeof(tm));
	ck_assert_ptr_nonnull(strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm));
	ck_assert_int_ge(tm.tm_mon, 0);
	ck_assert_int_le(tm.tm_mon, 11);
	ck_assert_int_le(tm.tm_hour, 23);
	t = timegm(&tm);
	ck_assert_msg(t >= now - 60 && t <= now + 5, "ts '%s' is not now", ts);
}

/*
 * Checks every line of text: newline-terminated, valid JSON object, the
 * four common members. Returns the number of lines.
 */
static size_t
check_lines(const char *text)
{
	const char *p = text, *nl;
	char	buf[64];
	long long seq;
	size_t	n = 0;

	while (*p) {
		nl = strchr(p, '\n');
		ck_assert_msg(nl != NULL, "line not terminated: %.200s", p);
		ck_assert_msg(json_valid(p, (size_t)(nl - p)),
		    "invalid JSON: %.*s", (int)(nl - p), p);
		ck_assert_int_eq(*p, '{');
		ck_assert_int_eq(json_get_string(p, "ts", buf, sizeof(buf)), 0);
		check_ts(buf);
		ck_assert_int_eq(json_get_int(p, "seq", &seq), 0);
		ck_assert_int_ge(seq, 1);
		ck_assert_int_eq(json_get_string(p, "event", buf, sizeof(buf)), 0);
		ck_assert_ptr_nonnull(strstr(p, "\"session\":"));
		/* the common members come first, in this order */
		ck_assert_int_eq(strncmp(p, "{\"ts\":\"", 7), 0);
		n++;
		p = nl + 1;
	}
	return n;
}

/* The n-th line (from 0) of text, as a pointer into it. */
static const char *
nth_line(const char *text, size_t n)
{
	while (n--) {
		text = strchr(text, '\n');
		ck_assert_ptr_nonnull(text);
		text++;
	}
	return text;
}

static char *
raw(const char *line, const char *key)
{
	const char *v;
	size_t	len;
	char	*r;

	ck_assert_msg(json_get_raw(line, key, &v, &len) == 0, "no %s in %s",
	    key, line);
	r = strndup(v, len);
	ck_assert_ptr_nonnull(r);
	return r;
}

#define RAW_EQ(line, key, want) do {					\
	char *r_ = raw((line), (key));					\
	ck_assert_str_eq(r_, (want));					\
	free(r_);							\
} while (0)

static char *
read_file_text(const char *path)
{
	FILE	*fp = fopen(path, "r");
	struct strbuf sb;
	char	buf[4096], *r;
	size_t	n;

	ck_assert_msg(fp != NULL, "cannot open %s", path);
	strbuf_init(&sb);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		strbuf_append(&sb, buf, n);
	fclose(fp);
	r = strdup(strbuf_str(&sb));
	strbuf_free(&sb);
	return r;
}

static int
one_line(struct evlog *log, struct strbuf *sb, unsigned seq, const char *event,
    const char *key, const char *val)
{
	struct evline l;

	evlog_begin(&l, log, sb, "sess-1", seq, event);
	if (key)
		evlog_str(&l, key, val);
	return evlog_end(&l);
}

/* The checker itself must be able to say no. */
START_TEST(t_checker)
{
	static const char *const good[] = {
		"{}", "[]", "0", "-0", "1.5e+10", "-12.0E-3", "\"\"", "true",
		"null", " {\"a\" : [1, {\"b\":null}] } ", "\"\\u00e9\\ud83d\\ude00\"",
		"\"\xc3\xa9\xf0\x9f\x98\x80\"", "\"\\\\x ff \\/\"",
	};
	static const char *const bad[] = {
		"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "01", "1.",
		".5", "+1", "1e", "tru", "nul", "\"abc", "\"a\nb\"", "\"\\x41\"",
		"\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\xff\"",
		"\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
		"{\"a\":1,\"a\":2}", "{} {}", "{a:1}", "'a'", "\"\t\"",
		"{\"a\":1}}", "NaN",
	};
	char	out[16];
	long long n;
	size_t	i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(json_valid(good[i], strlen(good[i])), "%s", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!json_valid(bad[i], strlen(bad[i])), "%s", bad[i]);
	ck_assert(!json_valid("\"a\0b\"", 5));
	ck_assert_int_eq(json_get_string("{\"a\":{\"k\":\"in\"},\"k\":\"A\\u00e9\\n\"}",
	    "k", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "A\xc3\xa9\n");
	ck_assert_int_eq(json_get_string("{\"k\":\"toolongforthebuffer\"}", "k",
	    out, sizeof(out)), -1);
	ck_assert_int_eq(json_get_string("{\"k\":1}", "k", out, sizeof(out)), -1);
	ck_assert_int_eq(json_get_string("{\"k\":\"x\"", "k", out, sizeof(out)), -1);
	ck_assert_int_eq(json_get_int("{\"k\":-42}\n{\"k\":1}", "k", &n), 0);
	ck_assert_int_eq(n, -42);
	ck_assert_int_eq(json_get_int("{\"k\":4.2}", "k", &n), -1);
	ck_assert_int_eq(json_get_int("{\"k\":\"4\"}", "k", &n), -1);
	ck_assert_int_eq(json_get_int("{\"j\":4}", "k", &n), -1);
	ck_assert_int_eq(json_get_int("{\"k\":99999999999999999999}", "k", &n), -1);
}
END_TEST

START_TEST(t_basic_line)
{
	struct evlog *log = evlog_memory(LOG_LEVEL_COMMANDS, 512);
	struct strbuf sb;
	struct evline l;
	const char *text;
	char	buf[64];
	long long n;

	ck_assert_ptr_nonnull(log);
	ck_assert_uint_eq(evlog_max_value(log), 512);
	strbuf_init(&sb);
	evlog_begin(&l, log, &sb, "3f2a9c", 1, "connect");
	evlog_str(&l, "client_addr", "192.0.2.1");
	evlog_int(&l, "client_port", 40000);
	evlog_str(&l, "client_name", "mail.example.net");
	ck_assert_int_eq(evlog_end(&l), 0);
	text = evlog_memory_text(log);
	ck_assert_uint_eq(check_lines(text), 1);
	ck_assert_int_eq(json_get_string(text, "session", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "3f2a9c");
	ck_assert_int_eq(json_get_int(text, "seq", &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(json_get_string(text, "event", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "connect");
	ck_assert_int_eq(json_get_string(text, "client_addr", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "192.0.2.1");
	ck_assert_int_eq(json_get_int(text, "client_port", &n), 0);
	ck_assert_int_eq(n, 40000);
	ck_assert_int_eq(json_get_string(text, "client_name", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "mail.example.net");
	ck_assert_int_eq(evlog_lost(log), 0);

	/* lines accumulate; seq is the caller's */
	evlog_begin(&l, log, &sb, "3f2a9c", 4294967295u, "close");
	ck_assert_int_eq(evlog_end(&l), 0);
	text = evlog_memory_text(log);
	ck_assert_uint_eq(check_lines(text), 2);
	ck_assert_int_eq(json_get_int(nth_line(text, 1), "seq", &n), 0);
	ck_assert_int_eq(n, 4294967295LL);

	evlog_memory_clear(log);
	ck_assert_str_eq(evlog_memory_text(log), "");
	ck_assert_int_eq(one_line(log, &sb, 2, "helo", "helo", "x"), 0);
	ck_assert_uint_eq(check_lines(evlog_memory_text(log)), 1);
	strbuf_free(&sb);
	evlog_close(log);
}
END_TEST

START_TEST(t_field_types)
{
	struct evlog *log = evlog_memory(LOG_LEVEL_COMMANDS, 0);
	struct strbuf sb;
	struct evline l;
	const char *text;
	char	buf[64];
	size_t	n;

	strbuf_init(&sb);
	evlog_begin(&l, log, &sb, "s", 7, "rcpt");
	evlog_str(&l, "s", "text");
	evlog_strn(&l, "sn", "a\0b-not-this", 3);
	evlog_str(&l, "nullstr", NULL);
	evlog_int(&l, "zero", 0);
	evlog_int(&l, "neg", -17);
	evlog_int(&l, "max", LLONG_MAX);
	evlog_int(&l, "min", LLONG_MIN);
	evlog_bool(&l, "t", 1);
	evlog_bool(&l, "f", 0);
	evlog_bool(&l, "t2", 42);
	evlog_null(&l, "nothing");
	evlog_obj_begin(&l, "auth");
	evlog_str(&l, "user", "alice");
	evlog_str(&l, "mech", "PLAIN");
	evlog_int(&l, "since_seq", 4);
	evlog_obj_begin(&l, "inner");
	evlog_bool(&l, "deep", 1);
	evlog_obj_end(&l);
	evlog_str(&l, "source", "mta");
	evlog_obj_end(&l);
	evlog_obj_begin(&l, "empty_obj");
	evlog_obj_end(&l);
	evlog_arr_begin(&l, "args");
	evlog_arr_str(&l, "SIZE=100");
	evlog_arr_str(&l, "BODY=8BITMIME");
	evlog_arr_str(&l, NULL);
	evlog_arr_end(&l);
	evlog_arr_begin(&l, "empty_arr");
	evlog_arr_end(&l);
	evlog_str(&l, "last", "end");
	ck_assert_int_eq(evlog_end(&l), 0);

	text = evlog_memory_text(log);
	ck_assert_uint_eq(check_lines(text), 1);
	RAW_EQ(text, "s", "\"text\"");
	ck_assert_int_eq(json_get_stringn(text, "sn", buf, sizeof(buf), &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_mem_eq(buf, "a\0b", 3);
	RAW_EQ(text, "nullstr", "null");
	RAW_EQ(text, "zero", "0");
	RAW_EQ(text, "neg", "-17");
	RAW_EQ(text, "max", "9223372036854775807");
	RAW_EQ(text, "min", "-9223372036854775808");
	RAW_EQ(text, "t", "true");
	RAW_EQ(text, "f", "false");
	RAW_EQ(text, "t2", "true");
	RAW_EQ(text, "nothing", "null");
	RAW_EQ(text, "auth", "{\"user\":\"alice\",\"mech\":\"PLAIN\","
	    "\"since_seq\":4,\"inner\":{\"deep\":true},\"source\":\"mta\"}");
	RAW_EQ(text, "empty_obj", "{}");
	RAW_EQ(text, "args", "[\"SIZE=100\",\"BODY=8BITMIME\",null]");
	RAW_EQ(text, "empty_arr", "[]");
	RAW_EQ(text, "last", "\"end\"");
	/* members of the nested object are not top-level members */
	ck_assert_int_eq(json_get_string(text, "user", buf, sizeof(buf)), -1);
	strbuf_free(&sb);
	evlog_close(log);
}
END_TEST

START_TEST(t_hostile_values)
{
	static const struct { const char *in; size_t len; const char *dec; size_t declen; } v[] = {
		{ "a\"b", 3, "a\"b", 3 },
		{ "\\", 1, "\\\\", 2 },
		/* a literal \x80 and the byte 0x80 stay apart (injective) */
		{ "\\x80", 4, "\\\\x80", 5 },
		{ "\x80", 1, "\\x80", 4 },
		{ "\\\xff\\", 3, "\\\\\\xff\\\\", 8 },
		{ "\"},\"event\":\"x", 13, "\"},\"event\":\"x", 13 },
		{ "line1\r\nline2\n", 13, "line1\r\nline2\n", 13 },
		{ "\x01\x1b[0m\x7f\t", 8, "\x01\x1b[0m\x7f\t", 8 },
		{ "nul\0inside", 10, "nul\0inside", 10 },
		{ "\xff\xfe", 2, "\\xff\\xfe", 8 },
		{ "caf\xc3\xa9 \xc3(", 7, "caf\xc3\xa9 \\xc3(", 10 },
		{ "\xed\xa0\x80", 3, "\\xed\\xa0\\x80", 12 },
		{ "\xc0\x8a", 2, "\\xc0\\x8a", 8 },
		{ "\xe2\x80\xa8\xe2\x80\xa9", 6, "\xe2\x80\xa8\xe2\x80\xa9", 6 },
	};
	struct evlog *log = evlog_memory(LOG_LEVEL_COMMANDS, 512);
	struct strbuf sb;
	struct evline l;
	struct strbuf orig;
	const char *text;
	char	dec[128];
	size_t	i, n;

	strbuf_init(&sb);
	strbuf_init(&orig);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		evlog_begin(&l, log, &sb, "s\"1\\\n", (unsigned)i + 1, "unknown");
		evlog_strn(&l, "command", v[i].in, v[i].len);
		evlog_arr_begin(&l, "args");
		evlog_strn(&l, NULL, v[i].in, v[i].len);
		evlog_arr_end(&l);
		ck_assert_int_eq(evlog_end(&l), 0);
	}
	text = evlog_memory_text(log);
	ck_assert_uint_eq(check_lines(text), sizeof(v) / sizeof(v[0]));
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const char *line = nth_line(text, i);

		ck_assert_int_eq(json_get_stringn(line, "command", dec,
		    sizeof(dec), &n), 0);
		ck_assert_msg(n == v[i].declen && memcmp(dec, v[i].dec, n) == 0,
		    "value %zu decoded to '%.*s'", i, (int)n, dec);
		/* and back to the bytes from the wire */
		strbuf_reset(&orig);
		json_wire_decode(&orig, dec, n);
		ck_assert_msg(orig.len == v[i].len
		    && memcmp(orig.data, v[i].in, orig.len) == 0,
		    "value %zu did not come back", i);
		ck_assert_int_eq(json_get_string(line, "session", dec,
		    sizeof(dec)), 0);
		ck_assert_str_eq(dec, "s\"1\\\\\n");
		ck_assert_int_eq(json_get_string(line, "event", dec,
		    sizeof(dec)), 0);
		ck_assert_str_eq(dec, "unknown");
	}
	strbuf_free(&orig);
	strbuf_free(&sb);
	evlog_close(log);
}
END_TEST

/* A 100 KB value of each kind stays one valid line, cut at the bound. */
START_TEST(t_value_bound)
{
	static const char fill[] = { 'A', '"', '\x01', '\xff', '\\' };
	static const size_t declen[] = { 1, 1, 1, 4, 2 };
	size_t	big = 100 * 1024, max = 512, i, k, n, bound;
	char	*in = malloc(big), *dec = malloc(big * 4), want[64];
	struct evlog *log = evlog_memory(LOG_LEVEL_COMMANDS, max);
	struct strbuf sb;
	struct evline l;
	const char *text, *line, *v;

	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(dec);
	strbuf_init(&sb);
	for (k = 0; k < sizeof(fill); k++) {
		memset(in, fill[k], big);
		evlog_begin(&l, log, &sb, "s", 1, "unknown");
		evlog_strn(&l, "command", in, big);
		ck_assert_int_eq(evlog_end(&l), 0);
	}
	/* a NUL-terminated value is bounded too */
	memset(in, 'B', big - 1);
	in[big - 1] = '\0';
	evlog_begin(&l, log, &sb, "s", 2, "helo");
	evlog_str(&l, "helo", in);
	ck_assert_int_eq(evlog_end(&l), 0);

	text = evlog_memory_text(log);
	ck_assert_uint_eq(check_lines(text), sizeof(fill) + 1);
	snprintf(want, sizeof(want), MARK "(+%zu bytes)", big - max);
	for (k = 0; k < sizeof(fill); k++) {
		line = nth_line(text, k);
		ck_assert_int_eq(json_get_stringn(line, "command", dec, big * 4,
		    &n), 0);
		ck_assert_uint_eq(n, max * declen[k] + strlen(want));
		for (i = 0; i < max; i++) {
			if (fill[k] == '\xff')
				ck_assert_int_eq(memcmp(dec + i * 4, "\\xff", 4), 0);
			else if (fill[k] == '\\')
				ck_assert_int_eq(memcmp(dec + i * 2, "\\\\", 2), 0);
			else
				ck_assert_int_eq(dec[i], fill[k]);
		}
		ck_assert_mem_eq(dec + max * declen[k], want, strlen(want));
		/* the line itself: at most six bytes a value byte */
		bound = 6 * max + strlen(want) + 200;
		ck_assert_uint_le((size_t)(strchr(line, '\n') - line), bound);
	}
	line = nth_line(text, sizeof(fill));
	ck_assert_int_eq(json_get_stringn(line, "helo", dec, big * 4, &n), 0);
	snprintf(want, sizeof(want), MARK "(+%zu bytes)", big - 1 - max);
	ck_assert_uint_eq(n, max + strlen(want));
	ck_assert_mem_eq(dec + max, want, strlen(want));
	/* the session id is ours, not from the wire: not cut */
	v = NULL;
	ck_assert_int_eq(json_get_raw(line, "session", &v, &n), 0);
	ck_assert_uint_eq(n, 3);
	strbuf_free(&sb);
	evlog_close(log);
	free(in);
	free(dec);
}
END_TEST

START_TEST(t_level_decisions)
{
	static const char *const events[] = {
		"connect", "helo", "tls", "mail", "rcpt", "data", "header",
		"eoh", "body", "eom", "abort", "unknown", "anomaly", "close",
	};
	static const char *const kept[] = { "connect", "rcpt", "anomaly", "close" };
	struct evlog *dec = evlog_memory(LOG_LEVEL_DECISIONS, 512);
	struct evlog *cmd = evlog_memory(LOG_LEVEL_COMMANDS, 512);
	struct strbuf sb;
	const char *text;
	char	buf[32];
	long long seq;
	size_t	i;

	strbuf_init(&sb);
	for (i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		ck_assert_int_eq(one_line(dec, &sb, (unsigned)i + 1, events[i],
		    "x", "y"), 0);
		ck_assert_int_eq(one_line(cmd, &sb, (unsigned)i + 1, events[i],
		    "x", "y"), 0);
		ck_assert_int_eq(evlog_wants(cmd, events[i]), 1);
	}
	ck_assert_int_eq(evlog_wants(dec, "connect"), 1);
	ck_assert_int_eq(evlog_wants(dec, "rcpt"), 1);
	ck_assert_int_eq(evlog_wants(dec, "anomaly"), 1);
	ck_assert_int_eq(evlog_wants(dec, "close"), 1);
	ck_assert_int_eq(evlog_wants(dec, "mail"), 0);
	ck_assert_int_eq(evlog_wants(dec, "helo"), 0);
	ck_assert_int_eq(evlog_wants(dec, "tls"), 0);
	ck_assert_int_eq(evlog_wants(dec, "eom"), 0);

	text = evlog_memory_text(dec);
	ck_assert_uint_eq(check_lines(text), 4);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(json_get_string(nth_line(text, i), "event", buf,
		    sizeof(buf)), 0);
		ck_assert_str_eq(buf, kept[i]);
	}
	/* seq keeps the session's numbering: gaps show what was left out */
	ck_assert_int_eq(json_get_int(nth_line(text, 1), "seq", &seq), 0);
	ck_assert_int_eq(seq, 5);
	text = evlog_memory_text(cmd);
	ck_assert_uint_eq(check_lines(text), sizeof(events) / sizeof(events[0]));
	ck_assert_int_eq(evlog_lost(dec), 0);
	strbuf_free(&sb);
	evlog_close(dec);
	evlog_close(cmd);
}
END_TEST

START_TEST(t_skipped_line_leaves_buffer)
{
	struct evlog *log = evlog_memory(LOG_LEVEL_DECISIONS, 512);
	struct strbuf sb;
	struct evline l;

	strbuf_init(&sb);
	evlog_begin(&l, log, &sb, "s", 1, "mail");
	evlog_str(&l, "sender", "<a@b>");
	evlog_obj_begin(&l, "auth");
	evlog_arr_begin(&l, "args");
	ck_assert_int_eq(evlog_end(&l), 0);
	ck_assert_str_eq(evlog_memory_text(log), "");
	ck_assert_uint_eq(sb.len, 0);
	/* no log at all: every call is a no-op */
	evlog_begin(&l, NULL, &sb, "s", 1, "connect");
	evlog_str(&l, "k", "v");
	ck_assert_int_eq(evlog_end(&l), 0);
	ck_assert_uint_eq(sb.len, 0);
	strbuf_free(&sb);
	evlog_close(log);
}
END_TEST

START_TEST(t_unbalanced_is_lost)
{
	struct evlog *log = evlog_memory(LOG_LEVEL_COMMANDS, 512);
	struct strbuf sb;
	struct evline l;

	strbuf_init(&sb);
	evlog_begin(&l, log, &sb, "s", 1, "mail");
	evlog_obj_begin(&l, "auth");
	evlog_str(&l, "user", "x");
	ck_assert_int_eq(evlog_end(&l), -1);
	ck_assert_uint_eq(evlog_lost(log), 1);
	ck_assert_str_eq(evlog_memory_text(log), "");
	/* the buffer is fit for the next line */
	ck_assert_int_eq(one_line(log, &sb, 2, "rcpt", "rcpt", "<x@y>"), 0);
	ck_assert_uint_eq(check_lines(evlog_memory_text(log)), 1);
	ck_assert_uint_eq(evlog_lost(log), 1);
	strbuf_free(&sb);
	evlog_close(log);
}
END_TEST

START_TEST(t_timestamp)
{
	char	a[40], b[40];

	evlog_timestamp(a, sizeof(a));
	check_ts(a);
	evlog_timestamp(b, sizeof(b));
	check_ts(b);
	ck_assert_int_le(strcmp(a, b), 0);
}
END_TEST

/* Files */

static char tmpdir[64];

static void
make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/sg-test-evlog-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static struct sg_config *cfg_with(const char *, ...)
    __attribute__((format(printf, 1, 2)));

static struct sg_config *
cfg_with(const char *fmt, ...)
{
	char	text[1024];
	struct sg_config *cfg;
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	cfg = config_load_string("t.conf", text, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	return cfg;
}

START_TEST(t_file_sink_and_reopen)
{
	char	path[128], rotated[128], *text;
	struct sg_config *cfg;
	struct evlog *log;
	struct strbuf sb;
	long long seq;
	struct stat st;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/sg.jsonl", tmpdir);
	snprintf(rotated, sizeof(rotated), "%s/sg.jsonl.1", tmpdir);
	cfg = cfg_with("log = file:%s\nlog_level = commands\n", path);
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777 & ~0640, 0);
	strbuf_init(&sb);
	ck_assert_int_eq(one_line(log, &sb, 1, "connect", "client_addr", "::1"), 0);
	ck_assert_int_eq(one_line(log, &sb, 2, "helo", "helo", "x\ny"), 0);
	text = read_file_text(path);
	ck_assert_uint_eq(check_lines(text), 2);
	free(text);

	/* logrotate: rename, line still goes to the old file until reopen */
	ck_assert_int_eq(rename(path, rotated), 0);
	ck_assert_int_eq(one_line(log, &sb, 3, "mail", "sender", "<a@b>"), 0);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(evlog_reopen(log, err, sizeof(err)), 0);
	ck_assert_int_eq(one_line(log, &sb, 4, "rcpt", "rcpt", "<c@d>"), 0);
	ck_assert_int_eq(one_line(log, &sb, 5, "close", NULL, NULL), 0);

	text = read_file_text(rotated);
	ck_assert_uint_eq(check_lines(text), 3);
	ck_assert_int_eq(json_get_int(nth_line(text, 2), "seq", &seq), 0);
	ck_assert_int_eq(seq, 3);
	free(text);
	text = read_file_text(path);
	ck_assert_uint_eq(check_lines(text), 2);
	ck_assert_int_eq(json_get_int(text, "seq", &seq), 0);
	ck_assert_int_eq(seq, 4);
	free(text);

	/* reopen of an existing file appends */
	ck_assert_int_eq(evlog_reopen(log, err, sizeof(err)), 0);
	ck_assert_int_eq(one_line(log, &sb, 6, "close", NULL, NULL), 0);
	text = read_file_text(path);
	ck_assert_uint_eq(check_lines(text), 3);
	free(text);
	ck_assert_uint_eq(evlog_lost(log), 0);

	evlog_close(log);
	config_free(cfg);
	strbuf_free(&sb);
	unlink(path);
	unlink(rotated);
	rmdir(tmpdir);
}
END_TEST

START_TEST(t_two_files)
{
	char	a[128], b[128], *ta, *tb;
	struct sg_config *cfg;
	struct evlog *log;
	struct strbuf sb;

	make_tmpdir();
	snprintf(a, sizeof(a), "%s/a.jsonl", tmpdir);
	snprintf(b, sizeof(b), "%s/b.jsonl", tmpdir);
	cfg = cfg_with("log = file:%s, file:%s\n", a, b);
	log = evlog_open(cfg, 1, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	strbuf_init(&sb);
	ck_assert_int_eq(one_line(log, &sb, 1, "connect", "k", "v"), 0);
	ta = read_file_text(a);
	tb = read_file_text(b);
	ck_assert_uint_eq(check_lines(ta), 1);
	ck_assert_str_eq(ta, tb);
	free(ta);
	free(tb);
	evlog_close(log);
	config_free(cfg);
	strbuf_free(&sb);
	unlink(a);
	unlink(b);
	rmdir(tmpdir);
}
END_TEST

START_TEST(t_open_unwritable)
{
	char	good[128], bad[128];
	struct sg_config *cfg;
	struct evlog *log;

	make_tmpdir();
	snprintf(good, sizeof(good), "%s/ok.jsonl", tmpdir);
	snprintf(bad, sizeof(bad), "%s/no/such/dir/x.jsonl", tmpdir);
	cfg = cfg_with("log = file:%s file:%s\n", good, bad);
	err[0] = '\0';
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_ptr_null(log);
	ck_assert_msg(strstr(err, bad) != NULL, "'%s' does not name %s", err, bad);
	config_free(cfg);

	/* a directory is no log file either */
	cfg = cfg_with("log = file:%s\n", tmpdir);
	err[0] = '\0';
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_ptr_null(log);
	ck_assert_ptr_nonnull(strstr(err, tmpdir));
	config_free(cfg);
	unlink(good);
	rmdir(tmpdir);
}
END_TEST

START_TEST(t_reopen_failure_keeps_old)
{
	char	dir[128], moved[128], path[128], oldpath[128], *text;
	struct sg_config *cfg;
	struct evlog *log;
	struct strbuf sb;

	make_tmpdir();
	snprintf(dir, sizeof(dir), "%s/d", tmpdir);
	snprintf(moved, sizeof(moved), "%s/e", tmpdir);
	snprintf(path, sizeof(path), "%s/d/x.jsonl", tmpdir);
	snprintf(oldpath, sizeof(oldpath), "%s/e/x.jsonl", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	cfg = cfg_with("log = file:%s\n", path);
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	ck_assert_int_eq(rename(dir, moved), 0);
	err[0] = '\0';
	ck_assert_int_eq(evlog_reopen(log, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, path) != NULL, "'%s' does not name %s", err,
	    path);
	strbuf_init(&sb);
	ck_assert_int_eq(one_line(log, &sb, 1, "connect", "k", "v"), 0);
	text = read_file_text(oldpath);
	ck_assert_uint_eq(check_lines(text), 1);
	free(text);
	evlog_close(log);
	config_free(cfg);
	strbuf_free(&sb);
	unlink(oldpath);
	rmdir(moved);
	rmdir(tmpdir);
}
END_TEST

START_TEST(t_lost_on_write_failure)
{
	struct sg_config *cfg = cfg_with("log = file:%s\n", "/dev/full");
	struct evlog *log = evlog_open(cfg, 0, err, sizeof(err));
	struct strbuf sb;

	ck_assert_msg(log != NULL, "%s", err);
	strbuf_init(&sb);
	ck_assert_uint_eq(evlog_lost(log), 0);
	ck_assert_int_eq(one_line(log, &sb, 1, "connect", "k", "v"), -1);
	ck_assert_uint_eq(evlog_lost(log), 1);
	ck_assert_int_eq(one_line(log, &sb, 2, "close", NULL, NULL), -1);
	ck_assert_uint_eq(evlog_lost(log), 2);
	evlog_close(log);
	config_free(cfg);
	strbuf_free(&sb);
}
END_TEST

/*
 * A sink that blocks (a FIFO nobody reads) delays a line by a bounded time,
 * the lines it cannot take are counted, and it takes lines again once
 * drained.
 */
START_TEST(t_blocked_sink_bounded)
{
	char	path[128], buf[65536];
	struct sg_config *cfg;
	struct evlog *log;
	struct strbuf sb;
	struct timespec t0, t1;
	int	rfd, i, rc = 0;
	long long ms;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	rfd = open(path, O_RDONLY | O_NONBLOCK);
	ck_assert_int_ge(rfd, 0);
	cfg = cfg_with("log = file:%s\n", path);
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	strbuf_init(&sb);
	for (i = 0; i < 100000 && rc == 0; i++)
		rc = one_line(log, &sb, (unsigned)i + 1, "connect", "k", "v");
	ck_assert_int_eq(rc, -1);		/* the pipe filled up */
	ck_assert_uint_eq(evlog_lost(log), 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(one_line(log, &sb, 1, "connect", "k", "v"), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_msg(ms < 2000, "a blocked sink held a line for %lld ms", ms);
	ck_assert_uint_eq(evlog_lost(log), 2);
	while (read(rfd, buf, sizeof(buf)) > 0)
		;
	ck_assert_int_eq(one_line(log, &sb, 2, "close", NULL, NULL), 0);
	ck_assert_uint_eq(evlog_lost(log), 2);
	evlog_close(log);
	config_free(cfg);
	strbuf_free(&sb);
	close(rfd);
	unlink(path);
	rmdir(tmpdir);
}
END_TEST

/*
 * Splits text into lines and counts those that are whole JSON objects
 * and those that are not; the text must end in a newline.
 */
static void
count_json_lines(const char *text, size_t len, size_t *good, size_t *bad)
{
	const char *p = text, *end = text + len, *nl;

	*good = *bad = 0;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		ck_assert_msg(nl != NULL, "text does not end in a newline");
		/* msg_warn() on stderr reporting a loss: not a log line */
		if (strncmp(p, "sessguard: warning: event log: ", 31) == 0)
			;
		else if (nl > p && json_valid(p, (size_t)(nl - p)))
			(*good)++;
		else
			(*bad)++;
		p = nl + 1;
	}
}

/* Reads what the pipe holds now into sb. */
static void
drain_into(int rfd, struct strbuf *sb)
{
	char	buf[65536];
	ssize_t	n;

	while ((n = read(rfd, buf, sizeof(buf))) > 0)
		strbuf_append(sb, buf, (size_t)n);
}

/*
 * A line longer than what is left in a pipe stops part-way (the reader
 * is stalled for more than 100 ms). It must not tear the next line: the
 * broken one ends with its own newline, the lines after it are whole,
 * and exactly the lines that are not whole are counted as lost. (Before,
 * the next line was glued to the half line: two lines corrupt, one
 * counted.)
 */
START_TEST(t_short_write_no_torn_line)
{
	char	path[128], *value;
	struct sg_config *cfg;
	struct evlog *log;
	struct strbuf sb, got;
	size_t	good, bad, vlen = 10000;
	unsigned attempted = 0, ok = 0;
	int	rfd, rc = 0;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	rfd = open(path, O_RDONLY | O_NONBLOCK);
	ck_assert_int_ge(rfd, 0);
	cfg = cfg_with("log = file:%s\nlog_max_value = 65536\n", path);
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	value = malloc(vlen + 1);
	ck_assert_ptr_nonnull(value);
	memset(value, 'v', vlen);
	value[vlen] = '\0';
	strbuf_init(&sb);
	strbuf_init(&got);

	/* fill the pipe until a line does not fit: it goes in part-way */
	while (rc == 0 && attempted < 1000) {
		rc = one_line(log, &sb, ++attempted, "rcpt", "rcpt", value);
		ok += rc == 0;
	}
	ck_assert_int_eq(rc, -1);
	ck_assert_uint_eq(evlog_lost(log), 1);
	/* still full: the next line cannot even start, and is lost too */
	ck_assert_int_eq(one_line(log, &sb, ++attempted, "rcpt", "rcpt", value), -1);
	ck_assert_uint_eq(evlog_lost(log), 2);
	/* the reader catches up; the lines after that are whole */
	drain_into(rfd, &got);
	ck_assert_int_eq(one_line(log, &sb, ++attempted, "rcpt", "rcpt", value), 0);
	ck_assert_int_eq(one_line(log, &sb, ++attempted, "close", NULL, NULL), 0);
	ok += 2;
	drain_into(rfd, &got);

	count_json_lines(got.data, got.len, &good, &bad);
	ck_assert_msg(good == ok, "%zu whole lines read back, %u written", good, ok);
	ck_assert_msg(good + evlog_lost(log) == attempted,
	    "%zu whole + %llu lost != %u attempted", good, evlog_lost(log),
	    attempted);
	ck_assert_msg(bad <= evlog_lost(log), "%zu broken lines, %llu counted",
	    bad, evlog_lost(log));
	ck_assert_uint_eq(bad, 1);		/* the one that stopped part-way */

	free(value);
	strbuf_free(&sb);
	strbuf_free(&got);
	evlog_close(log);
	config_free(cfg);
	close(rfd);
	unlink(path);
	rmdir(tmpdir);
}
END_TEST

/*
 * Lines longer than PIPE_BUF from several threads into one pipe (a FIFO
 * sink, or stderr) with a reader that reads in small pieces: a pipe
 * write of more than PIPE_BUF bytes is not atomic, so without a lock a
 * line of one thread landed in the middle of another's.
 */
#define BIGTHREADS	4
#define BIGLINES	60

struct bigwriter {
	struct evlog *log;
	int	id;
};

static void *
bigwriter_main(void *arg)
{
	struct bigwriter *w = arg;
	struct strbuf sb;
	struct evline l;
	char	session[16], *value;
	size_t	vlen = 3 * PIPE_BUF + 123 * (size_t)w->id;
	int	i;

	snprintf(session, sizeof(session), "big%d", w->id);
	value = malloc(vlen + 1);
	ck_assert_ptr_nonnull(value);
	memset(value, 'a' + w->id, vlen);
	value[vlen] = '\0';
	strbuf_init(&sb);
	for (i = 0; i < BIGLINES; i++) {
		evlog_begin(&l, w->log, &sb, session, (unsigned)i + 1, "rcpt");
		evlog_str(&l, "rcpt", value);
		evlog_end(&l);
	}
	strbuf_free(&sb);
	free(value);
	return NULL;
}

struct slowreader {
	int	fd;
	struct strbuf got;
};

static void *
slowreader_main(void *arg)
{
	struct slowreader *r = arg;
	char	buf[1000];
	ssize_t	n;

	/* small reads keep the pipe near full, so writes go in pieces */
	while ((n = read(r->fd, buf, sizeof(buf))) > 0)
		strbuf_append(&r->got, buf, (size_t)n);
	return NULL;
}

static void
big_lines_through_pipe(int use_stderr)
{
	char	path[128];
	struct sg_config *cfg;
	struct evlog *log;
	pthread_t th[BIGTHREADS], rth;
	struct bigwriter w[BIGTHREADS];
	struct slowreader r;
	unsigned long long lost;
	size_t	good, bad;
	int	i, saved = -1, wfd, pfd[2];

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	if (use_stderr) {
		ck_assert_int_eq(pipe(pfd), 0);
		r.fd = pfd[0];
		saved = dup(STDERR_FILENO);
		ck_assert_int_eq(dup2(pfd[1], STDERR_FILENO), STDERR_FILENO);
		close(pfd[1]);
		cfg = cfg_with("log = stderr\nlog_max_value = 65536\n");
	} else {
		ck_assert_int_eq(mkfifo(path, 0600), 0);
		r.fd = open(path, O_RDONLY | O_NONBLOCK);
		ck_assert_int_ge(r.fd, 0);
		cfg = cfg_with("log = file:%s\nlog_max_value = 65536\n", path);
	}
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	ck_assert_int_eq(fcntl(r.fd, F_SETFL, 0), 0);	/* blocking reads */
	strbuf_init(&r.got);
	ck_assert_int_eq(pthread_create(&rth, NULL, slowreader_main, &r), 0);
	for (i = 0; i < BIGTHREADS; i++) {
		w[i].log = log;
		w[i].id = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, bigwriter_main,
		    &w[i]), 0);
	}
	for (i = 0; i < BIGTHREADS; i++)
		pthread_join(th[i], NULL);
	/* the reader sees the end once every write end is closed */
	if (use_stderr) {
		wfd = open("/dev/null", O_WRONLY);
		ck_assert_int_ge(wfd, 0);
		ck_assert_int_eq(dup2(wfd, STDERR_FILENO), STDERR_FILENO);
		close(wfd);
	}
	lost = evlog_lost(log);
	ck_assert_uint_lt(lost, BIGTHREADS * BIGLINES);
	evlog_close(log);
	pthread_join(rth, NULL);
	count_json_lines(r.got.data, r.got.len, &good, &bad);
	ck_assert_msg(bad == 0, "%zu of %zu lines read back are not JSON",
	    bad, good + bad);
	ck_assert_uint_eq(good + lost, BIGTHREADS * BIGLINES);
	if (use_stderr) {
		ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
		close(saved);
	}
	strbuf_free(&r.got);
	config_free(cfg);
	close(r.fd);
	unlink(path);
	rmdir(tmpdir);
}

START_TEST(t_big_lines_fifo)
{
	big_lines_through_pipe(0);
}
END_TEST

START_TEST(t_big_lines_stderr)
{
	big_lines_through_pipe(1);
}
END_TEST

/*
 * log = syslog through our own client: a syslogd that does not read (a
 * datagram socket in a temporary directory, standing in for /dev/log)
 * costs a line at most 100 ms and the loss is counted; the messages are
 * glibc's RFC 3164 form; once it reads again, lines get through. (glibc's
 * syslog() blocked here without end.)
 */
static int
fake_syslogd(const char *path)
{
	struct sockaddr_un sun;
	int	fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

START_TEST(t_syslog_bounded)
{
	char	path[128], dgram[70000], want[64];
	struct sg_config *cfg;
	struct evlog *log;
	struct strbuf sb;
	struct timespec t0, t1;
	const char *json;
	ssize_t	n;
	long long ms;
	unsigned sent = 0, got = 0;
	int	sfd, rc = 0;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/log", tmpdir);
	sfd = fake_syslogd(path);
	evlog_set_syslog_socket(path);
	cfg = cfg_with("log = syslog\nsyslog_facility = mail\n");
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	strbuf_init(&sb);

	/* one line arrives as one datagram, in glibc's format */
	ck_assert_int_eq(one_line(log, &sb, 1, "connect", "k", "v"), 0);
	sent++;
	n = recv(sfd, dgram, sizeof(dgram) - 1, 0);
	ck_assert_int_gt(n, 0);
	dgram[n] = '\0';
	got++;
	ck_assert_msg(strncmp(dgram, "<22>", 4) == 0, "not mail.info: %s", dgram);
	ck_assert_msg(dgram[7] == ' ' && dgram[10] == ' ' && dgram[13] == ':'
	    && dgram[16] == ':' && dgram[19] == ' ', "no 'Mmm dd hh:mm:ss': %s",
	    dgram);
	snprintf(want, sizeof(want), " sessguard[%ld]: {", (long)getpid());
	ck_assert_msg((json = strstr(dgram, want)) != NULL, "no tag: %s", dgram);
	json += strlen(want) - 1;
	ck_assert_msg(dgram[n - 1] == '}', "a newline or more after the line");
	ck_assert_uint_eq(check_lines(strcat(dgram, "\n") + (json - dgram)), 1);

	/* syslogd stops reading: its queue fills, then lines are lost */
	while (rc == 0 && sent < 100000) {
		rc = one_line(log, &sb, ++sent, "rcpt", "rcpt", "<a@b>");
	}
	ck_assert_int_eq(rc, -1);
	ck_assert_uint_eq(evlog_lost(log), 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(one_line(log, &sb, ++sent, "rcpt", "rcpt", "<a@b>"), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_msg(ms < 1000, "a stalled syslogd held a line for %lld ms", ms);
	ck_assert_msg(ms >= 90, "gave up after %lld ms, before the bound", ms);
	ck_assert_uint_eq(evlog_lost(log), 2);

	/* it reads again: every line it got is whole, the next gets through */
	while ((n = recv(sfd, dgram, sizeof(dgram) - 1, MSG_DONTWAIT)) > 0) {
		dgram[n] = '\0';
		ck_assert_ptr_nonnull(strstr(dgram, "\"rcpt\":\"<a@b>\"}"));
		ck_assert_int_eq(dgram[n - 1], '}');
		got++;
	}
	ck_assert_uint_eq(got + evlog_lost(log), sent);
	ck_assert_int_eq(one_line(log, &sb, ++sent, "close", NULL, NULL), 0);
	ck_assert_int_gt(recv(sfd, dgram, sizeof(dgram) - 1, MSG_DONTWAIT), 0);

	/* syslogd restarts (a new socket at the same path): reconnected */
	close(sfd);
	unlink(path);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(one_line(log, &sb, ++sent, "close", NULL, NULL), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_msg(ms < 1000, "no syslogd held a line for %lld ms", ms);
	ck_assert_uint_eq(evlog_lost(log), 3);
	sfd = fake_syslogd(path);
	ck_assert_int_eq(one_line(log, &sb, ++sent, "close", NULL, NULL), 0);
	ck_assert_int_gt(recv(sfd, dgram, sizeof(dgram) - 1, MSG_DONTWAIT), 0);

	evlog_close(log);
	evlog_set_syslog_socket(NULL);
	config_free(cfg);
	strbuf_free(&sb);
	close(sfd);
	unlink(path);
	rmdir(tmpdir);
}
END_TEST

/* -f without "log" in the file: lines go to stderr, and only there. */
START_TEST(t_foreground_stderr)
{
	char	path[128], *text;
	struct sg_config *cfg;
	struct evlog *log;
	struct strbuf sb;
	int	fd, saved;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/stderr.txt", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	saved = dup(STDERR_FILENO);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);

	cfg = config_load_string("t.conf", "mode = monitor\n", err, sizeof(err));
	ck_assert_ptr_nonnull(cfg);
	log = evlog_open(cfg, 1, err, sizeof(err));
	ck_assert_ptr_nonnull(log);
	strbuf_init(&sb);
	ck_assert_int_eq(one_line(log, &sb, 1, "connect", "k", "v"), 0);
	evlog_close(log);
	config_free(cfg);

	/* with an explicit file, -f does not add stderr */
	cfg = cfg_with("log = file:%s/f.jsonl\n", tmpdir);
	log = evlog_open(cfg, 1, err, sizeof(err));
	ck_assert_ptr_nonnull(log);
	ck_assert_int_eq(one_line(log, &sb, 2, "close", NULL, NULL), 0);
	evlog_close(log);
	config_free(cfg);

	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	text = read_file_text(path);
	ck_assert_uint_eq(check_lines(text), 1);
	free(text);
	strbuf_free(&sb);
	unlink(path);
	snprintf(path, sizeof(path), "%s/f.jsonl", tmpdir);
	text = read_file_text(path);
	ck_assert_uint_eq(check_lines(text), 1);
	free(text);
	unlink(path);
	rmdir(tmpdir);
}
END_TEST

/* Concurrent writers: whole lines, none lost, none interleaved. */
struct writer {
	struct evlog *log;
	int	id;
};

#define NTHREADS	4
#define NLINES		300

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	struct strbuf sb;
	struct evline l;
	char	session[16], value[3000];
	int	i;

	snprintf(session, sizeof(session), "t%d", w->id);
	memset(value, 'a' + w->id, sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	strbuf_init(&sb);
	for (i = 0; i < NLINES; i++) {
		evlog_begin(&l, w->log, &sb, session, (unsigned)i + 1, "rcpt");
		evlog_str(&l, "rcpt", value);
		evlog_end(&l);
	}
	strbuf_free(&sb);
	return NULL;
}

START_TEST(t_concurrent_writers)
{
	char	path[128], *text;
	struct sg_config *cfg;
	struct evlog *log;
	pthread_t th[NTHREADS];
	struct writer w[NTHREADS];
	int	i;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/mt.jsonl", tmpdir);
	cfg = cfg_with("log = file:%s\nlog_max_value = 4096\n", path);
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	for (i = 0; i < NTHREADS; i++) {
		w[i].log = log;
		w[i].id = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	text = read_file_text(path);
	ck_assert_uint_eq(check_lines(text), NTHREADS * NLINES);
	free(text);
	ck_assert_uint_eq(evlog_lost(log), 0);
	evlog_close(log);
	config_free(cfg);
	unlink(path);
	rmdir(tmpdir);
}
END_TEST

/*
 * Reopen while writers write: no line may be lost. (Regression: reopen
 * once closed the old descriptor while a writer could still hold its
 * number, and lines went to a closed descriptor.)
 */
struct rewriter {
	struct evlog *log;
	atomic_int *stop;
	unsigned long written;
};

static void *
rewriter_main(void *arg)
{
	struct rewriter *w = arg;
	struct strbuf sb;
	struct evline l;

	strbuf_init(&sb);
	while (!atomic_load(w->stop) && w->written < 15000) {
		evlog_begin(&l, w->log, &sb, "r", 1, "rcpt");
		evlog_str(&l, "rcpt", "<a@b>");
		evlog_end(&l);
		w->written++;
	}
	strbuf_free(&sb);
	return NULL;
}

START_TEST(t_reopen_under_load)
{
	char	path[128], *text;
	struct sg_config *cfg;
	struct evlog *log;
	pthread_t th[NTHREADS];
	struct rewriter w[NTHREADS];
	atomic_int stop = 0;
	unsigned long total = 0, nlines;
	const char *p, *nl;
	int	i;

	/* what is checked is the reopen, not the 100 ms bound under load */
	evlog_set_wait_ms(60000);
	make_tmpdir();
	snprintf(path, sizeof(path), "%s/ro.jsonl", tmpdir);
	cfg = cfg_with("log = file:%s\n", path);
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	for (i = 0; i < NTHREADS; i++) {
		w[i].log = log;
		w[i].stop = &stop;
		w[i].written = 0;
		ck_assert_int_eq(pthread_create(&th[i], NULL, rewriter_main,
		    &w[i]), 0);
	}
	for (i = 0; i < 20000; i++)
		ck_assert_int_eq(evlog_reopen(log, err, sizeof(err)), 0);
	atomic_store(&stop, 1);
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		total += w[i].written;
	}
	text = read_file_text(path);
	evlog_set_wait_ms(0);
	ck_assert_msg(evlog_lost(log) == 0, "%llu of %lu lines lost during reopen",
	    evlog_lost(log), total);
	/* whole, valid lines; check_lines() would be slow under valgrind */
	for (p = text, nlines = 0; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		ck_assert(json_valid(p, (size_t)(nl - p)));
		nlines++;
	}
	ck_assert_str_eq(p, "");
	ck_assert_uint_eq(nlines, total);
	free(text);
	evlog_close(log);
	config_free(cfg);
	unlink(path);
	rmdir(tmpdir);
}
END_TEST

/*
 * Group commit. GROUPTHREADS threads log one line each; the first writer
 * is held inside its write (the test hook) until every other thread has
 * queued its line, so the others must go out together in one more
 * write: 2 writes for GROUPTHREADS lines, every line exactly once and
 * whole, and each evlog_end() returns only once its own line is written.
 */
#define GROUPTHREADS	8

struct grouptest {
	struct evlog *log;
	atomic_int entered;		/* writers that reached the hook */
	atomic_int held;		/* the first writer is in the hook */
	int	id;
	int	rc;
	const char *path;
	size_t	seen;			/* lines in the file when end returned */
};

static void
group_hook(void *arg)
{
	struct grouptest *g = arg;

	if (atomic_fetch_add(&g->entered, 1) != 0)
		return;
	atomic_store(&g->held, 1);
	while (evlog_queued(g->log) < GROUPTHREADS - 1)
		sched_yield();
}

static size_t
count_newlines(const char *path)
{
	char	*text = read_file_text(path), *p;
	size_t	n = 0;

	for (p = text; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	free(text);
	return n;
}

static void *
group_main(void *arg)
{
	struct grouptest *g = arg;
	struct strbuf sb;
	struct evline l;
	char	session[16];

	snprintf(session, sizeof(session), "g%d", g->id);
	strbuf_init(&sb);
	evlog_begin(&l, g->log, &sb, session, 1, "rcpt");
	evlog_str(&l, "rcpt", "<a@example.org>");
	g->rc = evlog_end(&l);
	/* the line is in the file before evlog_end() returns */
	if (g->path)
		g->seen = count_newlines(g->path);
	strbuf_free(&sb);
	return NULL;
}

/*
 * Runs GROUPTHREADS threads of group_main() against log, with the first
 * writer held until the others have queued. Fills g[]. No ck_assert()
 * here: t_group_cut_short runs it under a file size limit that check's
 * own message file would hit.
 */
static void
group_run(struct evlog *log, struct grouptest *g, const char *path)
{
	pthread_t th[GROUPTHREADS];
	struct grouptest shared;
	int	i;

	memset(&shared, 0, sizeof(shared));
	shared.log = log;
	evlog_set_write_hook(group_hook, &shared);
	for (i = 0; i < GROUPTHREADS; i++) {
		g[i].log = log;
		g[i].id = i;
		g[i].path = path;
		g[i].rc = 99;
		g[i].seen = 0;
		if (pthread_create(&th[i], NULL, group_main, &g[i]) != 0)
			abort();
		/* thread 0 becomes the first writer */
		while (i == 0 && !atomic_load(&shared.held))
			sched_yield();
	}
	for (i = 0; i < GROUPTHREADS; i++)
		pthread_join(th[i], NULL);
	evlog_set_write_hook(NULL, NULL);
}

static struct evlog *
group_open(struct sg_config *cfg)
{
	struct evlog *log = evlog_open(cfg, 0, err, sizeof(err));

	ck_assert_msg(log != NULL, "%s", err);
	return log;
}

START_TEST(t_group_commit)
{
	char	path[128], *text, want[32];
	struct grouptest g[GROUPTHREADS];
	unsigned long long lines, writes;
	struct sg_config *cfg;
	struct evlog *log;
	const char *p;
	int	i, n;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/gc.jsonl", tmpdir);
	cfg = cfg_with("log = file:%s\n", path);
	log = group_open(cfg);
	group_run(log, g, path);
	evlog_write_counts(log, &lines, &writes);
	ck_assert_uint_eq(lines, GROUPTHREADS);
	ck_assert_msg(writes == 2, "%llu writes for %d lines: not grouped",
	    writes, GROUPTHREADS);
	ck_assert_uint_eq(evlog_lost(log), 0);
	text = read_file_text(path);
	ck_assert_uint_eq(check_lines(text), GROUPTHREADS);
	for (i = 0; i < GROUPTHREADS; i++) {
		ck_assert_int_eq(g[i].rc, 0);
		/* g0 went alone; the others in one write, before any returned */
		ck_assert_msg(g[i].seen >= (i == 0 ? 1 : GROUPTHREADS),
		    "thread %d returned before its line was written", i);
		snprintf(want, sizeof(want), "\"session\":\"g%d\"", i);
		for (p = text, n = 0; (p = strstr(p, want)) != NULL; p++)
			n++;
		ck_assert_msg(n == 1, "line of g%d %d times", i, n);
	}
	/* the first line went alone, the others after it */
	ck_assert_ptr_nonnull(strstr(text, "\"session\":\"g0\""));
	ck_assert(strstr(text, "\"session\":\"g0\"") < strchr(text, '\n'));
	free(text);
	evlog_close(log);
	config_free(cfg);
	unlink(path);
	rmdir(tmpdir);
}
END_TEST

/* A grouped batch that fails whole: every line in it is counted lost. */
START_TEST(t_group_all_lost)
{
	struct grouptest g[GROUPTHREADS];
	unsigned long long lines, writes;
	struct sg_config *cfg;
	struct evlog *log;
	int	i;

	cfg = cfg_with("log = file:%s\n", "/dev/full");
	log = group_open(cfg);
	group_run(log, g, NULL);
	evlog_write_counts(log, &lines, &writes);
	ck_assert_uint_eq(lines, GROUPTHREADS);
	ck_assert_uint_eq(writes, 2);
	ck_assert_uint_eq(evlog_lost(log), GROUPTHREADS);
	for (i = 0; i < GROUPTHREADS; i++)
		ck_assert_int_eq(g[i].rc, -1);
	evlog_close(log);
	config_free(cfg);
}
END_TEST

/*
 * A grouped batch cut short in its fourth line (the file size limit,
 * RLIMIT_FSIZE, stands in for a full disk): the lines before the cut
 * are whole and theirs, the cut line is one broken line, the lines after
 * it are not written; each of those is counted lost, and the next line
 * starts a line of its own.
 */
START_TEST(t_group_cut_short)
{
	char	path[128], *text;
	struct grouptest g[GROUPTHREADS];
	struct sg_config *cfg;
	struct evlog *log;
	struct strbuf sb;
	struct rlimit rl, saved;
	size_t	good, bad, linelen;
	int	i, ok = 0, lost = 0;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/cut.jsonl", tmpdir);
	signal(SIGXFSZ, SIG_IGN);
	/* every line of group_main() has the same length: measure one */
	cfg = cfg_with("log = file:%s\n", path);
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	memset(&g[0], 0, sizeof(g[0]));
	g[0].log = log;
	group_main(&g[0]);
	ck_assert_int_eq(g[0].rc, 0);
	evlog_close(log);
	text = read_file_text(path);
	linelen = strlen(text);
	free(text);
	unlink(path);

	/* room for the first line alone, then 3.5 lines of the batch */
	log = group_open(cfg);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	saved = rl;
	rl.rlim_cur = (rlim_t)(linelen * 4 + linelen / 2);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	group_run(log, g, NULL);
	/* room again (also for check's own messages) */
	if (setrlimit(RLIMIT_FSIZE, &saved) != 0)
		abort();
	for (i = 0; i < GROUPTHREADS; i++) {
		ck_assert(g[i].rc == 0 || g[i].rc == -1);
		ok += g[i].rc == 0;
		lost += g[i].rc == -1;
	}
	ck_assert_int_eq(ok, 4);
	ck_assert_int_eq(lost, GROUPTHREADS - 4);
	ck_assert_uint_eq(evlog_lost(log), GROUPTHREADS - 4);
	/* the broken line gets its newline, then the line */
	strbuf_init(&sb);
	ck_assert_int_eq(one_line(log, &sb, 9, "close", NULL, NULL), 0);
	strbuf_free(&sb);
	text = read_file_text(path);
	count_json_lines(text, strlen(text), &good, &bad);
	ck_assert_uint_eq(good, 5);
	ck_assert_uint_eq(bad, 1);
	free(text);
	evlog_close(log);
	config_free(cfg);
	unlink(path);
	rmdir(tmpdir);
}
END_TEST

/*
 * Many threads, many lines, a file and a pipe read in small pieces: every
 * line arrives exactly once and whole, in each thread's order.
 */
#define MANYTHREADS	16
#define MANYLINES	1500

struct many {
	struct evlog *log;
	int	id;
};

static void *
many_main(void *arg)
{
	struct many *m = arg;
	struct strbuf sb;
	struct evline l;
	char	session[16], value[200];
	int	i;

	snprintf(session, sizeof(session), "m%02d", m->id);
	/* lengths differ from line to line and from thread to thread */
	strbuf_init(&sb);
	for (i = 0; i < MANYLINES; i++) {
		size_t vlen = (size_t)((i * 7 + m->id * 13) % 180);

		memset(value, 'a' + m->id % 26, vlen);
		value[vlen] = '\0';
		evlog_begin(&l, m->log, &sb, session, (unsigned)i + 1, "rcpt");
		evlog_str(&l, "rcpt", value);
		ck_assert_int_eq(evlog_end(&l), 0);
	}
	strbuf_free(&sb);
	return NULL;
}

/*
 * Every line of text whole and of a many_main() thread, each thread's in
 * order; exactly once each when all is set, else with gaps (lines lost
 * to a full pipe, counted elsewhere). Returns the number of lines.
 */
static size_t
check_many(const char *text, int all)
{
	static long long next[MANYTHREADS];
	char	session[16];
	const char *p, *nl;
	long long seq;
	size_t	n = 0;
	int	id;

	memset(next, 0, sizeof(next));
	for (p = text; (nl = strchr(p, '\n')) != NULL; p = nl + 1, n++) {
		ck_assert_msg(json_valid(p, (size_t)(nl - p)), "broken line %.*s",
		    (int)(nl - p), p);
		ck_assert_int_eq(json_get_string(p, "session", session,
		    sizeof(session)), 0);
		ck_assert_int_eq(json_get_int(p, "seq", &seq), 0);
		ck_assert_int_eq(sscanf(session, "m%d", &id), 1);
		ck_assert(id >= 0 && id < MANYTHREADS);
		if (all)
			ck_assert_msg(seq == next[id] + 1, "m%02d: seq %lld "
			    "after %lld", id, seq, next[id]);
		else
			ck_assert_msg(seq > next[id], "m%02d: seq %lld after "
			    "%lld", id, seq, next[id]);
		next[id] = seq;
	}
	ck_assert_str_eq(p, "");
	for (id = 0; all && id < MANYTHREADS; id++)
		ck_assert_int_eq(next[id], MANYLINES);
	return n;
}

static void
many_threads(const char *extra, int start)
{
	char	path[128], fifo[128], *text;
	unsigned long long lines, writes;
	pthread_t th[MANYTHREADS], rth;
	struct many m[MANYTHREADS];
	struct slowreader r;
	struct sg_config *cfg;
	struct evlog *log;
	unsigned long long lost;
	size_t	got;
	int	i;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/many.jsonl", tmpdir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	r.fd = open(fifo, O_RDONLY | O_NONBLOCK);
	ck_assert_int_ge(r.fd, 0);
	cfg = cfg_with("log = file:%s, file:%s\n%s", path, fifo, extra);
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	if (start)
		ck_assert_int_eq(evlog_start(log, err, sizeof(err)), 0);
	ck_assert_int_eq(fcntl(r.fd, F_SETFL, 0), 0);
	strbuf_init(&r.got);
	ck_assert_int_eq(pthread_create(&rth, NULL, slowreader_main, &r), 0);
	for (i = 0; i < MANYTHREADS; i++) {
		m[i].log = log;
		m[i].id = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, many_main, &m[i]), 0);
	}
	for (i = 0; i < MANYTHREADS; i++)
		pthread_join(th[i], NULL);
	evlog_write_counts(log, &lines, &writes);
	ck_assert_uint_eq(lines, 2ULL * MANYTHREADS * MANYLINES);
	ck_assert_uint_le(writes, lines);
	/* a figure, not a check: how much grouping this machine saw */
	fprintf(stderr, "%d threads%s: %llu lines in %llu writes\n",
	    MANYTHREADS, start ? ", log_flush" : "", lines, writes);
	evlog_flush(log);		/* buffered: writes the rest */
	lost = evlog_lost(log);
	evlog_close(log);
	pthread_join(rth, NULL);
	/* the file takes every line; the pipe may miss some, all counted */
	text = read_file_text(path);
	check_many(text, 1);
	free(text);
	got = check_many(strbuf_str(&r.got), 0);
	ck_assert_msg(got + lost == (size_t)MANYTHREADS * MANYLINES,
	    "pipe: %zu lines + %llu lost != %d", got, lost,
	    MANYTHREADS * MANYLINES);
	strbuf_free(&r.got);
	config_free(cfg);
	close(r.fd);
	unlink(path);
	unlink(fifo);
	rmdir(tmpdir);
}

START_TEST(t_group_many_threads)
{
	many_threads("", 0);
}
END_TEST

START_TEST(t_buffered_many_threads)
{
	many_threads("log_flush = 5\n", 1);
}
END_TEST

/* Lines in a file: how many, none broken. */
static size_t
file_lines(const char *path)
{
	char	*text = read_file_text(path);
	size_t	good, bad;

	count_json_lines(text, strlen(text), &good, &bad);
	ck_assert_uint_eq(bad, 0);
	free(text);
	return good;
}

/*
 * log_flush: lines wait in memory and go out together, at the latest
 * when the log closes; before evlog_start() (the daemon forks after
 * opening the log) every line is still written before evlog_end()
 * returns.
 */
START_TEST(t_buffered_close_writes)
{
	char	path[128];
	unsigned long long lines, writes;
	struct sg_config *cfg;
	struct evlog *log;
	struct strbuf sb;
	unsigned i;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/buf.jsonl", tmpdir);
	cfg = cfg_with("log = file:%s\nlog_flush = 10000\n", path);
	ck_assert_uint_eq(cfg->log_flush, 10000);
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	strbuf_init(&sb);
	ck_assert_int_eq(one_line(log, &sb, 1, "connect", "k", "v"), 0);
	ck_assert_uint_eq(file_lines(path), 1);		/* not started: at once */
	ck_assert_int_eq(evlog_start(log, err, sizeof(err)), 0);
	for (i = 2; i <= 11; i++)
		ck_assert_int_eq(one_line(log, &sb, i, "rcpt", "k", "v"), 0);
	evlog_write_counts(log, &lines, &writes);
	ck_assert_uint_eq(lines, 11);
	ck_assert_uint_eq(writes, 1);			/* the first line only */
	evlog_close(log);
	ck_assert_uint_eq(file_lines(path), 11);	/* in one more write */
	strbuf_free(&sb);
	config_free(cfg);
	unlink(path);
	rmdir(tmpdir);
}
END_TEST

/* The flusher writes buffered lines without any further line or close. */
START_TEST(t_buffered_flusher)
{
	char	path[128];
	struct sg_config *cfg;
	struct evlog *log;
	struct strbuf sb;
	unsigned i;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/fl.jsonl", tmpdir);
	cfg = cfg_with("log = file:%s\nlog_flush = 20\n", path);
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	ck_assert_int_eq(evlog_start(log, err, sizeof(err)), 0);
	strbuf_init(&sb);
	for (i = 1; i <= 5; i++)
		ck_assert_int_eq(one_line(log, &sb, i, "rcpt", "k", "v"), 0);
	/* wait for the condition; check's timeout ends a hang */
	while (file_lines(path) < 5)
		usleep(5000);
	ck_assert_uint_eq(file_lines(path), 5);
	evlog_close(log);
	ck_assert_uint_eq(file_lines(path), 5);
	strbuf_free(&sb);
	config_free(cfg);
	unlink(path);
	rmdir(tmpdir);
}
END_TEST

/*
 * Past 64 KiB the line that crosses it writes the buffer; a buffered
 * batch that fails counts each of its lines lost.
 */
START_TEST(t_buffered_threshold_and_loss)
{
	char	path[128], value[1001];
	unsigned long long lines, writes;
	struct stat st;
	size_t	linelen;
	struct sg_config *cfg;
	struct evlog *log;
	struct strbuf sb;
	unsigned i, n = 0;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/th.jsonl", tmpdir);
	memset(value, 'x', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	cfg = cfg_with("log = file:%s\nlog_flush = 10000\n"
	    "log_max_value = 4096\n", path);
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	ck_assert_int_eq(evlog_start(log, err, sizeof(err)), 0);
	strbuf_init(&sb);
	do {
		ck_assert_int_eq(one_line(log, &sb, 100 + ++n, "rcpt", "v",
		    value), 0);
		evlog_write_counts(log, &lines, &writes);
	} while (writes == 0 && n < 1000);
	ck_assert_uint_eq(writes, 1);
	ck_assert_uint_eq(file_lines(path), n);
	/* the line that took the buffer to 64 KiB wrote it, not before */
	ck_assert_int_eq(stat(path, &st), 0);
	linelen = (size_t)st.st_size / n;
	ck_assert_uint_eq((size_t)st.st_size, linelen * n);	/* all alike */
	ck_assert_uint_ge(n * linelen, 64 * 1024);
	ck_assert_uint_lt((n - 1) * linelen, 64 * 1024);
	evlog_close(log);
	config_free(cfg);
	unlink(path);

	cfg = cfg_with("log = file:/dev/full\nlog_flush = 10000\n"
	    "log_max_value = 4096\n");
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	ck_assert_int_eq(evlog_start(log, err, sizeof(err)), 0);
	for (i = 1; i <= n; i++)
		ck_assert_int_eq(one_line(log, &sb, i, "rcpt", "v", value), 0);
	ck_assert_uint_eq(evlog_lost(log), n);
	evlog_close(log);
	config_free(cfg);
	strbuf_free(&sb);
	rmdir(tmpdir);
}
END_TEST

/*
 * log_flush with a sink slower than the lines: while a write is out, the
 * queue fills to 64 KiB without waiting; the line after that waits for
 * its own write (memory stays bounded; before, the queue grew without
 * end and a huge batch then missed its time bound).
 */
struct fullq {
	struct evlog *log;
	atomic_int held, release, done;
	int	n, rc;
	char	value[1001];
};

static void
fullq_hook(void *arg)
{
	struct fullq *f = arg;

	if (atomic_exchange(&f->held, 1) != 0)
		return;
	while (!atomic_load(&f->release))
		sched_yield();
}

static void *
fullq_filler(void *arg)
{
	struct fullq *f = arg;
	struct strbuf sb;
	unsigned long long lines, writes = 0;

	strbuf_init(&sb);
	/* until its own line takes the queue past 64 KiB and it writes */
	while (writes == 0) {
		one_line(f->log, &sb, 100 + (unsigned)++f->n, "rcpt", "v",
		    f->value);
		evlog_write_counts(f->log, &lines, &writes);
	}
	strbuf_free(&sb);
	return NULL;
}

static void *
fullq_last(void *arg)
{
	struct fullq *f = arg;
	struct strbuf sb;

	strbuf_init(&sb);
	f->rc = one_line(f->log, &sb, 999, "close", NULL, NULL);
	atomic_store(&f->done, 1);
	strbuf_free(&sb);
	return NULL;
}

START_TEST(t_buffered_full_waits)
{
	char	path[128];
	struct sg_config *cfg;
	struct fullq f;
	struct strbuf sb;
	pthread_t a, c;
	int	i;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/fq.jsonl", tmpdir);
	cfg = cfg_with("log = file:%s\nlog_flush = 10000\n"
	    "log_max_value = 4096\n", path);
	memset(&f, 0, sizeof(f));
	memset(f.value, 'x', sizeof(f.value) - 1);
	f.log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(f.log != NULL, "%s", err);
	ck_assert_int_eq(evlog_start(f.log, err, sizeof(err)), 0);
	evlog_set_write_hook(fullq_hook, &f);
	ck_assert_int_eq(pthread_create(&a, NULL, fullq_filler, &f), 0);
	while (!atomic_load(&f.held))	/* its write is out, and held */
		sched_yield();
	/* as many lines again: they queue without waiting, to 64 KiB */
	strbuf_init(&sb);
	for (i = 0; i < f.n; i++)
		ck_assert_int_eq(one_line(f.log, &sb, 100 + (unsigned)i + 1,
		    "rcpt", "v", f.value), 0);
	strbuf_free(&sb);
	ck_assert_uint_eq(evlog_queued(f.log), 0);	/* nobody waits */
	/* the next line finds the queue full: it must wait for its write */
	ck_assert_int_eq(pthread_create(&c, NULL, fullq_last, &f), 0);
	while (!atomic_load(&f.done) && evlog_queued(f.log) == 0)
		sched_yield();
	ck_assert_msg(!atomic_load(&f.done), "a line returned with 64 KiB "
	    "queued and a write out");
	atomic_store(&f.release, 1);
	pthread_join(a, NULL);
	pthread_join(c, NULL);
	evlog_set_write_hook(NULL, NULL);
	ck_assert_int_eq(f.rc, 0);
	ck_assert_uint_eq(evlog_lost(f.log), 0);
	evlog_close(f.log);
	ck_assert_uint_eq(file_lines(path), 2 * (size_t)f.n + 1);
	config_free(cfg);
	unlink(path);
	rmdir(tmpdir);
}
END_TEST

/*
 * A write that hangs (a hung disk; here the test hook holds the writer)
 * holds up a line queued behind it for its 100 ms at most, as the lock
 * wait did before group commit: the line leaves the queue, is counted
 * lost and is never written, and the writer's own line and the lines
 * after it are whole.
 */
struct hang {
	struct evlog *log;
	atomic_int held, release, done;
	int	rc;
};

static void
hang_hook(void *arg)
{
	struct hang *h = arg;

	if (atomic_exchange(&h->held, 1) != 0)
		return;
	while (!atomic_load(&h->release))
		sched_yield();
}

static void *
hang_first(void *arg)
{
	struct hang *h = arg;
	struct strbuf sb;

	strbuf_init(&sb);
	ck_assert_int_eq(one_line(h->log, &sb, 1, "connect", "k", "v"), 0);
	strbuf_free(&sb);
	return NULL;
}

static void *
hang_second(void *arg)
{
	struct hang *h = arg;
	struct strbuf sb;

	strbuf_init(&sb);
	h->rc = one_line(h->log, &sb, 2, "helo", "k", "v");
	atomic_store(&h->done, 1);
	strbuf_free(&sb);
	return NULL;
}

START_TEST(t_group_wait_bounded)
{
	char	path[128], *text;
	struct sg_config *cfg;
	struct strbuf sb;
	struct hang h;
	pthread_t a, b;
	size_t	good, bad;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/hang.jsonl", tmpdir);
	cfg = cfg_with("log = file:%s\n", path);
	memset(&h, 0, sizeof(h));
	h.log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(h.log != NULL, "%s", err);
	evlog_set_write_hook(hang_hook, &h);
	ck_assert_int_eq(pthread_create(&a, NULL, hang_first, &h), 0);
	while (!atomic_load(&h.held))
		sched_yield();
	ck_assert_int_eq(pthread_create(&b, NULL, hang_second, &h), 0);
	/* the writer stays held until the queued line has given up */
	pthread_join(b, NULL);
	ck_assert_int_eq(h.rc, -1);
	ck_assert_uint_eq(evlog_lost(h.log), 1);
	ck_assert_uint_eq(evlog_queued(h.log), 0);
	atomic_store(&h.release, 1);
	pthread_join(a, NULL);
	evlog_set_write_hook(NULL, NULL);
	strbuf_init(&sb);
	ck_assert_int_eq(one_line(h.log, &sb, 3, "close", NULL, NULL), 0);
	strbuf_free(&sb);
	evlog_close(h.log);
	text = read_file_text(path);
	count_json_lines(text, strlen(text), &good, &bad);
	ck_assert_uint_eq(good, 2);
	ck_assert_uint_eq(bad, 0);
	ck_assert_ptr_null(strstr(text, "\"helo\""));
	free(text);
	config_free(cfg);
	unlink(path);
	rmdir(tmpdir);
}
END_TEST

/*
 * Log descriptors stay close-on-exec, also after a reopen (a dup2() into
 * the old number would clear the flag; regression test).
 */
static int
cloexec_of(const char *path)
{
	char	link[64], target[256];
	ssize_t	n;
	int	fd, found = -1;

	for (fd = 3; fd < 1024; fd++) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		if ((n = readlink(link, target, sizeof(target) - 1)) < 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, path) == 0) {
			ck_assert_msg(found < 0, "%s open twice", path);
			found = fd;
		}
	}
	ck_assert_msg(found >= 0, "%s not open", path);
	return (fcntl(found, F_GETFD) & FD_CLOEXEC) != 0;
}

START_TEST(t_cloexec)
{
	char	path[128];
	struct sg_config *cfg;
	struct evlog *log;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/ce.jsonl", tmpdir);
	cfg = cfg_with("log = file:%s\n", path);
	log = evlog_open(cfg, 0, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	ck_assert_msg(cloexec_of(path), "log fd not close-on-exec after open");
	ck_assert_int_eq(evlog_reopen(log, err, sizeof(err)), 0);
	ck_assert_msg(cloexec_of(path), "log fd not close-on-exec after reopen");
	evlog_close(log);
	config_free(cfg);
	unlink(path);
	rmdir(tmpdir);
}
END_TEST

static Suite *
evlog_suite(void)
{
	Suite	*s = suite_create("evlog");
	TCase	*tc;

	tc = tcase_create("lines");
	tcase_add_test(tc, t_checker);
	tcase_add_test(tc, t_basic_line);
	tcase_add_test(tc, t_field_types);
	tcase_add_test(tc, t_hostile_values);
	tcase_add_test(tc, t_value_bound);
	tcase_add_test(tc, t_level_decisions);
	tcase_add_test(tc, t_skipped_line_leaves_buffer);
	tcase_add_test(tc, t_unbalanced_is_lost);
	tcase_add_test(tc, t_timestamp);
	suite_add_tcase(s, tc);

	tc = tcase_create("sinks");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, t_file_sink_and_reopen);
	tcase_add_test(tc, t_two_files);
	tcase_add_test(tc, t_open_unwritable);
	tcase_add_test(tc, t_reopen_failure_keeps_old);
	tcase_add_test(tc, t_lost_on_write_failure);
	tcase_add_test(tc, t_blocked_sink_bounded);
	tcase_add_test(tc, t_short_write_no_torn_line);
	tcase_add_test(tc, t_big_lines_fifo);
	tcase_add_test(tc, t_big_lines_stderr);
	tcase_add_test(tc, t_syslog_bounded);
	tcase_add_test(tc, t_foreground_stderr);
	tcase_add_test(tc, t_concurrent_writers);
	tcase_add_test(tc, t_reopen_under_load);
	tcase_add_test(tc, t_cloexec);
	tcase_add_test(tc, t_group_commit);
	tcase_add_test(tc, t_group_all_lost);
	tcase_add_test(tc, t_group_cut_short);
	tcase_add_test(tc, t_group_many_threads);
	tcase_add_test(tc, t_buffered_many_threads);
	tcase_add_test(tc, t_buffered_close_writes);
	tcase_add_test(tc, t_buffered_flusher);
	tcase_add_test(tc, t_buffered_threshold_and_loss);
	tcase_add_test(tc, t_buffered_full_waits);
	tcase_add_test(tc, t_group_wait_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(evlog_suite());
	int	failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
