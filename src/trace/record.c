/*
 * NAME
 *	record - one line of the sessguard JSON log
 * SYNOPSIS
 *	#include "trace/record.h"
 *
 *	json_t *record_parse(line, len, why)
 *	const char *record_str(rec, key)
 *	int record_int(rec, key, value)
 *	const json_t *record_auth(rec)
 *	void record_put(sb, rec, key, dflt)
 *	void record_put_value(sb, value)
 * DESCRIPTION
 *	record_parse() parses line[0..len) with jansson and checks the fields
 *	every line has (SPEC section 5): "ts" an RFC 3339 string, "session" a
 *	non-empty string, "seq" an integer from 1, "event" a non-empty
 *	string. Duplicate keys are refused, so that this tool and others
 *	cannot be shown different values by one line. The caller owns the
 *	result (json_decref()).
 *
 *	record_str() returns the string value of key, or a null pointer when
 *	the key is absent or not a string. record_int() stores an integer
 *	value and returns 0, or returns -1.
 *
 *	record_auth() returns the "auth" object of a line, or a null pointer
 *	when it is absent, null or not an object.
 *
 *	record_put() appends the value of key as text: a string as the bytes
 *	it stands for (the daemon writes a byte that is not UTF-8 as \xNN
 *	and a backslash as two, SPEC section 5; json_wire_decode() undoes
 *	that), a number in decimal, true or false; dflt when the key is
 *	absent or null, "?" for anything else. record_put_value() does the
 *	same for a value at hand (an array member), "?" for a null pointer.
 *
 *	Strings may hold NUL (\u0000 in the log): callers that need their
 *	bytes use the lengths jansson keeps.
 * DIAGNOSTICS
 *	record_parse() returns a null pointer and puts a reason in why: the
 *	parser's message with the column, or the field that is missing or
 *	malformed.
 */
#include <string.h>

#include "trace/record.h"
#include "trace/tstamp.h"
#include "util/json.h"

static int
record_check(const json_t *rec, struct strbuf *why)
{
	const char *s;
	long long seq;
	struct tstamp ts;

	if ((s = record_str(rec, "ts")) == NULL) {
		strbuf_puts(why, "no \"ts\" string");
		return -1;
	}
	if (tstamp_parse(s, &ts) < 0) {
		strbuf_puts(why, "\"ts\" is not an RFC 3339 time");
		return -1;
	}
	if ((s = record_str(rec, "session")) == NULL || *s == '\0') {
		strbuf_puts(why, "no \"session\" string");
		return -1;
	}
	if (record_int(rec, "seq", &seq) < 0 || seq < 1) {
		strbuf_puts(why, "no \"seq\" number");
		return -1;
	}
	if ((s = record_str(rec, "event")) == NULL || *s == '\0') {
		strbuf_puts(why, "no \"event\" string");
		return -1;
	}
	return 0;
}

json_t *
record_parse(const char *line, size_t len, struct strbuf *why)
{
	json_error_t err;
	json_t	*rec;

	rec = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
	    &err);
	if (rec == NULL) {
		strbuf_printf(why, "not JSON (column %d: %s)", err.column, err.text);
		return NULL;
	}
	if (!json_is_object(rec)) {
		strbuf_puts(why, "not a JSON object");
		json_decref(rec);
		return NULL;
	}
	if (record_check(rec, why) < 0) {
		json_decref(rec);
		return NULL;
	}
	return rec;
}

const char *
record_str(const json_t *rec, const char *key)
{
	const json_t *v = json_object_get(rec, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

int
record_int(const json_t *rec, const char *key, long long *value)
{
	const json_t *v = json_object_get(rec, key);

	if (!json_is_integer(v))
		return -1;
	*value = json_integer_value(v);
	return 0;
}

const json_t *
record_auth(const json_t *rec)
{
	const json_t *v = json_object_get(rec, "auth");

	return json_is_object(v) ? v : NULL;
}

void
record_put(struct strbuf *sb, const json_t *rec, const char *key, const char *dflt)
{
	const json_t *v = json_object_get(rec, key);

	if (v == NULL || json_is_null(v))
		strbuf_puts(sb, dflt);
	else
		record_put_value(sb, v);
}

void
record_put_value(struct strbuf *sb, const json_t *v)
{
	if (v == NULL)
		strbuf_puts(sb, "?");
	else if (json_is_string(v))
		json_wire_decode(sb, json_string_value(v), json_string_length(v));
	else if (json_is_integer(v))
		strbuf_printf(sb, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		strbuf_printf(sb, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		strbuf_puts(sb, json_is_true(v) ? "true" : "false");
	else
		strbuf_puts(sb, "?");
}
