/*
 * NAME
 *	sessions - gather interleaved log lines into sessions
 * SYNOPSIS
 *	#include "trace/sessions.h"
 *
 *	struct sessions *sessions_new(emit, ctx)
 *	void sessions_add(set, rec, line, len)
 *	void sessions_finish(set)
 *	void sessions_free(set)
 * DESCRIPTION
 *	The daemon serves connections in parallel, so the lines of one session
 *	are spread among others. sessions_add() files one line (its parsed
 *	record rec and its text line[0..len), kept byte for byte) under its
 *	"session" id, and notes what the filters ask about: the start time,
 *	the client address, every auth.user, reject and would_reject
 *	verdicts, anomalies. When the line is the session's close, the
 *	session is complete: emit(session, ctx) is called and the session
 *	forgotten; a later line with the same id starts a new one.
 *
 *	sessions_finish() emits the sessions still open (their close was not
 *	in the input), in the order of their first line, and forgets them.
 *	sessions_free() frees the set and whatever it still holds, unseen.
 *
 *	Only open sessions are held, so memory follows the number of
 *	connections in flight, not the size of the log.
 * DIAGNOSTICS
 *	None: allocation either succeeds or does not return (mem_alloc()).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace/diag.h"
#include "trace/record.h"
#include "trace/sessions.h"

struct sessions {
	struct tsess **table;
	size_t	 size, count;
	struct tsess *first, *last;
	sessions_emit_fn emit;
	void	*ctx;
};

static size_t
sessions_hash(const char *id)
{
	uint64_t h = 14695981039346656037ULL;

	while (*id)
		h = (h ^ (unsigned char)*id++) * 1099511628211ULL;
	return (size_t)h;
}

struct sessions *
sessions_new(sessions_emit_fn emit, void *ctx)
{
	struct sessions *set = mem_alloc(sizeof(*set));

	memset(set, 0, sizeof(*set));
	set->size = 256;
	set->table = mem_array(NULL, set->size, sizeof(*set->table));
	memset(set->table, 0, set->size * sizeof(*set->table));
	set->emit = emit;
	set->ctx = ctx;
	return set;
}

static void
sessions_grow(struct sessions *set)
{
	struct tsess **old = set->table, *s, *next;
	size_t	osize = set->size, i, b;

	set->size *= 2;
	set->table = mem_array(NULL, set->size, sizeof(*set->table));
	memset(set->table, 0, set->size * sizeof(*set->table));
	for (i = 0; i < osize; i++)
		for (s = old[i]; s != NULL; s = next) {
			next = s->hnext;
			b = sessions_hash(s->id) & (set->size - 1);
			s->hnext = set->table[b];
			set->table[b] = s;
		}
	free(old);
}

static struct tsess *
sessions_lookup(struct sessions *set, const char *id)
{
	struct tsess *s;

	for (s = set->table[sessions_hash(id) & (set->size - 1)]; s; s = s->hnext)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

static struct tsess *
sessions_create(struct sessions *set, const char *id)
{
	struct tsess *s = mem_alloc(sizeof(*s));
	size_t	b;

	memset(s, 0, sizeof(*s));
	s->id = mem_strdup(id);
	if (set->count >= set->size)
		sessions_grow(set);
	b = sessions_hash(id) & (set->size - 1);
	s->hnext = set->table[b];
	set->table[b] = s;
	s->prev = set->last;
	if (set->last)
		set->last->next = s;
	else
		set->first = s;
	set->last = s;
	set->count++;
	return s;
}

static void
sessions_unlink(struct sessions *set, struct tsess *s)
{
	struct tsess **pp;

	for (pp = &set->table[sessions_hash(s->id) & (set->size - 1)]; *pp != s;
	    pp = &(*pp)->hnext)
		;
	*pp = s->hnext;
	if (s->prev)
		s->prev->next = s->next;
	else
		set->first = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		set->last = s->prev;
	set->count--;
}

static void
sessions_destroy(struct tsess *s)
{
	size_t	i;

	for (i = 0; i < s->nlines; i++)
		free(s->lines[i].text);
	for (i = 0; i < s->nusers; i++)
		free(s->users[i]);
	free(s->lines);
	free(s->users);
	free(s->start_ts);
	free(s->client_addr);
	free(s->id);
	free(s);
}

static void
sessions_note_user(struct tsess *s, const json_t *rec)
{
	const json_t *auth = record_auth(rec);
	struct strbuf sb;
	const char *user;
	size_t	i;

	if (auth == NULL || record_str(auth, "user") == NULL)
		return;
	/* the login as the client sent it (\xNN and \\ undone) */
	strbuf_init(&sb);
	record_put(&sb, auth, "user", "");
	if (strbuf_failed(&sb))
		diag_fatal("out of memory");
	user = strbuf_str(&sb);
	for (i = 0; i < s->nusers; i++)
		if (strcmp(s->users[i], user) == 0)
			break;
	if (i == s->nusers) {
		s->users = mem_array(s->users, s->nusers + 1, sizeof(*s->users));
		s->users[s->nusers++] = mem_strdup(user);
	}
	strbuf_free(&sb);
}

/* What the filters look at, noted as the lines go by. */
static void
sessions_note(struct tsess *s, const json_t *rec)
{
	const char *event = record_str(rec, "event");
	const char *verdict = record_str(rec, "verdict");
	const char *addr;

	if (s->start_ts == NULL)
		s->start_ts = mem_strdup(record_str(rec, "ts"));
	if (strcmp(event, "connect") == 0 && s->client_addr == NULL
	    && (addr = record_str(rec, "client_addr")) != NULL)
		s->client_addr = mem_strdup(addr);
	if (verdict && (strcmp(verdict, "reject") == 0
	    || strcmp(verdict, "would_reject") == 0))
		s->rejected++;
	if (strcmp(event, "anomaly") == 0)
		s->anomalies++;
	if (strcmp(event, "close") == 0)
		s->closed = 1;
	sessions_note_user(s, rec);
}

void
sessions_add(struct sessions *set, const json_t *rec, const char *line, size_t len)
{
	const char *id = record_str(rec, "session");
	struct tsess *s;
	struct tline *l;

	if ((s = sessions_lookup(set, id)) == NULL)
		s = sessions_create(set, id);
	if (s->nlines == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->lines = mem_array(s->lines, s->cap, sizeof(*s->lines));
	}
	l = &s->lines[s->nlines++];
	l->text = mem_alloc(len + 1);
	memcpy(l->text, line, len);
	l->text[len] = '\0';
	l->len = len;
	sessions_note(s, rec);
	if (s->closed) {
		sessions_unlink(set, s);
		set->emit(s, set->ctx);
		sessions_destroy(s);
	}
}

void
sessions_finish(struct sessions *set)
{
	struct tsess *s;

	while ((s = set->first) != NULL) {
		sessions_unlink(set, s);
		set->emit(s, set->ctx);
		sessions_destroy(s);
	}
}

void
sessions_free(struct sessions *set)
{
	struct tsess *s;

	while ((s = set->first) != NULL) {
		sessions_unlink(set, s);
		sessions_destroy(s);
	}
	free(set->table);
	free(set);
}
