/*
 * NAME
 *	filter - which sessions to show
 * SYNOPSIS
 *	#include "trace/filter.h"
 *
 *	struct filter *filter_new(void)
 *	void filter_add_session(f, id)
 *	int filter_add_client(f, text, why)
 *	void filter_add_user(f, name), filter_add_text(f, text)
 *	int filter_set_since(f, time), filter_set_until(f, time)
 *	void filter_want_rejected(f), filter_want_anomalies(f)
 *	int filter_match(f, session)
 *	void filter_free(f)
 * DESCRIPTION
 *	A filter is a set of conditions, all of which a session must meet;
 *	an empty filter takes every session. Sessions, clients and users
 *	may each be given several times: the session then needs to match
 *	one of them.
 *
 *	filter_add_session(): the session id equals id.
 *
 *	filter_add_client(): the connect line's client_addr is the address
 *	text ("192.0.2.10", "2001:db8::25"; compared as addresses, so other
 *	spellings of the same IPv6 address and IPv4-mapped forms match too)
 *	or lies in the CIDR block text ("192.0.2.0/24"). Text that is not an
 *	address is compared as a string (client_addr may be a placeholder
 *	such as "unknown").
 *
 *	filter_add_user(): some auth.user of the session (on any line)
 *	equals name.
 *
 *	filter_add_text(): some line of the session contains text (used
 *	for the pseudonyms of --match, which are unique strings).
 *
 *	filter_set_since(), filter_set_until(): the session started (its
 *	first line's ts) at or after, at or before, the RFC 3339 time.
 *
 *	filter_want_rejected(): the session has a reject or would_reject
 *	verdict. filter_want_anomalies(): it has an anomaly line.
 *
 *	filter_match() returns 1 when the session meets the filter, else 0.
 * DIAGNOSTICS
 *	filter_add_client() returns -1 for a malformed CIDR block and points
 *	*why at the reason; filter_set_since() and filter_set_until() return
 *	-1 for text that is not an RFC 3339 time. Otherwise 0.
 */
#include <stdlib.h>
#include <string.h>

#include "trace/diag.h"
#include "trace/filter.h"
#include "trace/tstamp.h"
#include "util/ipaddr.h"

struct client {
	enum { CLIENT_TEXT, CLIENT_ADDR, CLIENT_CIDR } kind;
	struct cidr cidr;	/* an address is a block of all its bits */
	char	*text;
};

struct filter {
	char	**ids;
	size_t	 nids;
	struct client *clients;
	size_t	 nclients;
	char	**users;
	size_t	 nusers;
	char	**texts;	/* pseudonyms of --match */
	size_t	 ntexts;
	int	 have_since, have_until;
	struct tstamp since, until;
	int	 rejected, anomalies;
};

struct filter *
filter_new(void)
{
	struct filter *f = mem_alloc(sizeof(*f));

	memset(f, 0, sizeof(*f));
	return f;
}

static void
filter_push(char ***list, size_t *n, const char *s)
{
	*list = mem_array(*list, *n + 1, sizeof(**list));
	(*list)[(*n)++] = mem_strdup(s);
}

void
filter_add_session(struct filter *f, const char *id)
{
	filter_push(&f->ids, &f->nids, id);
}

void
filter_add_user(struct filter *f, const char *name)
{
	filter_push(&f->users, &f->nusers, name);
}

int
filter_add_client(struct filter *f, const char *text, const char **why)
{
	struct client c;

	memset(&c, 0, sizeof(c));
	if (strchr(text, '/') != NULL) {
		if (cidr_parse(text, &c.cidr, why) < 0)
			return -1;
		c.kind = CLIENT_CIDR;
	} else if (ipaddr_parse(text, &c.cidr.addr) == 0) {
		c.kind = CLIENT_ADDR;
	} else {
		c.kind = CLIENT_TEXT;
	}
	c.text = mem_strdup(text);
	f->clients = mem_array(f->clients, f->nclients + 1, sizeof(*f->clients));
	f->clients[f->nclients++] = c;
	return 0;
}

int
filter_set_since(struct filter *f, const char *text)
{
	f->have_since = 1;
	return tstamp_parse(text, &f->since);
}

int
filter_set_until(struct filter *f, const char *text)
{
	f->have_until = 1;
	return tstamp_parse(text, &f->until);
}

void
filter_want_rejected(struct filter *f)
{
	f->rejected = 1;
}

void
filter_want_anomalies(struct filter *f)
{
	f->anomalies = 1;
}

static int
filter_in_list(char **list, size_t n, const char *s)
{
	size_t	i;

	for (i = 0; s != NULL && i < n; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

static int
filter_client_one(const struct client *c, const char *addr)
{
	struct ipaddr a;

	if (c->kind == CLIENT_TEXT)
		return strcmp(c->text, addr) == 0;
	if (ipaddr_parse(addr, &a) < 0)
		return 0;
	if (c->kind == CLIENT_CIDR)
		return cidr_match(&c->cidr, &a);
	return a.family == c->cidr.addr.family
	    && memcmp(a.bytes, c->cidr.addr.bytes, sizeof(a.bytes)) == 0;
}

static int
filter_client(const struct filter *f, const struct tsess *s)
{
	size_t	i;

	if (f->nclients == 0)
		return 1;
	for (i = 0; s->client_addr != NULL && i < f->nclients; i++)
		if (filter_client_one(&f->clients[i], s->client_addr))
			return 1;
	return 0;
}

static int
filter_users(const struct filter *f, const struct tsess *s)
{
	size_t	i;

	if (f->nusers == 0)
		return 1;
	for (i = 0; i < s->nusers; i++)
		if (filter_in_list(f->users, f->nusers, s->users[i]))
			return 1;
	return 0;
}

static int
filter_time(const struct filter *f, const struct tsess *s)
{
	struct tstamp start;

	if (!f->have_since && !f->have_until)
		return 1;
	if (s->start_ts == NULL || tstamp_parse(s->start_ts, &start) < 0)
		return 0;
	if (f->have_since && tstamp_cmp(&start, &f->since) < 0)
		return 0;
	if (f->have_until && tstamp_cmp(&start, &f->until) > 0)
		return 0;
	return 1;
}

void
filter_add_text(struct filter *f, const char *text)
{
	filter_push(&f->texts, &f->ntexts, text);
}

/* Some line of the session holds one of the texts (a pseudonym). */
static int
filter_texts(const struct filter *f, const struct tsess *s)
{
	size_t	i, j;

	if (f->ntexts == 0)
		return 1;
	for (i = 0; i < s->nlines; i++)
		for (j = 0; j < f->ntexts; j++)
			if (memmem(s->lines[i].text, s->lines[i].len, f->texts[j],
			    strlen(f->texts[j])) != NULL)
				return 1;
	return 0;
}

int
filter_match(const struct filter *f, const struct tsess *s)
{
	if (f->nids && !filter_in_list(f->ids, f->nids, s->id))
		return 0;
	if (f->rejected && s->rejected == 0)
		return 0;
	if (f->anomalies && s->anomalies == 0)
		return 0;
	return filter_client(f, s) && filter_users(f, s) && filter_time(f, s)
	    && filter_texts(f, s);
}

static void
filter_free_list(char **list, size_t n)
{
	while (n > 0)
		free(list[--n]);
	free(list);
}

void
filter_free(struct filter *f)
{
	size_t	i;

	filter_free_list(f->ids, f->nids);
	filter_free_list(f->users, f->nusers);
	filter_free_list(f->texts, f->ntexts);
	for (i = 0; i < f->nclients; i++)
		free(f->clients[i].text);
	free(f->clients);
	free(f);
}
