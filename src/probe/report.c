/*
 * NAME
 *	report - the outcome of one sessguard-probe check, as text or JSON
 * SYNOPSIS
 *	#include "probe/report.h"
 *
 *	void report_check(fp, json, name, outcome, transcript)
 * DESCRIPTION
 *	report_check() writes the outcome of the check called name to fp.
 *
 *	As text: "PASS name", "FAIL name" or "SKIP name", then ": detail"
 *	when there is one, on one line; for a FAIL the transcript follows,
 *	each of its lines indented by four spaces ("    C: RSET",
 *	"    S: 250 2.0.0 Ok", "    -- TLS handshake done ...").
 *
 *	With json set: one JSON object on one line, with the members check,
 *	result ("PASS", "FAIL" or "SKIP") and detail (a string, maybe
 *	empty), and for a FAIL transcript, an array of its lines.
 *
 *	The detail and the transcript quote the server, which may send
 *	anything: as text they go through termesc_write() (control
 *	characters and bytes that are not UTF-8 as \xNN), as JSON through
 *	json_put_string(). Their length is bounded by smtpio.c.
 * DIAGNOSTICS
 *	None here; the caller checks ferror(fp).
 */
#include <string.h>

#include "probe/report.h"
#include "trace/termesc.h"
#include "util/json.h"

static void
report_text(FILE *fp, const char *name, const struct check_outcome *o,
    const struct strbuf *t)
{
	const char *p, *nl, *end;

	fprintf(fp, "%s %s", check_result_name(o->result), name);
	if (o->detail[0]) {
		fputs(": ", fp);
		termesc_write(fp, o->detail, strlen(o->detail));
	}
	fputc('\n', fp);
	if (o->result != CHECK_FAIL || t->len == 0)
		return;
	for (p = t->data, end = t->data + t->len; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		fputs("    ", fp);
		termesc_write(fp, p, (size_t)(nl - p));
		fputc('\n', fp);
	}
}

static void
report_json(FILE *fp, const char *name, const struct check_outcome *o,
    const struct strbuf *t)
{
	struct strbuf sb;
	const char *p, *nl, *end;

	strbuf_init(&sb);
	strbuf_puts(&sb, "{\"check\":");
	json_put_cstring(&sb, name, 0);
	strbuf_printf(&sb, ",\"result\":\"%s\",\"detail\":",
	    check_result_name(o->result));
	json_put_cstring(&sb, o->detail, 0);
	if (o->result == CHECK_FAIL) {
		strbuf_puts(&sb, ",\"transcript\":[");
		for (p = t->data, end = p + t->len; p && p < end; p = nl + 1) {
			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				nl = end;
			if (p != t->data)
				strbuf_putc(&sb, ',');
			json_put_string(&sb, p, (size_t)(nl - p), 0);
		}
		strbuf_putc(&sb, ']');
	}
	strbuf_puts(&sb, "}\n");
	if (!strbuf_failed(&sb))
		fwrite(sb.data, 1, sb.len, fp);
	strbuf_free(&sb);
}

void
report_check(FILE *fp, int json, const char *name,
    const struct check_outcome *o, const struct strbuf *transcript)
{
	if (json)
		report_json(fp, name, o, transcript);
	else
		report_text(fp, name, o, transcript);
	fflush(fp);
}
