/*
 * NAME
 *	policyreq - one Postfix policy-delegation request, and a reply line
 * SYNOPSIS
 *	#include "policyreq.h"
 *
 *	size_t policyreq_frame(buf, len)
 *	int policyreq_parse(req, buf, len, err, errlen)
 *	const char *policyreq_get(req, attr)
 *	const char *policyreq_attr_name(attr)
 *	size_t policyreq_action(out, size, text)
 * DESCRIPTION
 *	The SMTP access policy delegation protocol (Postfix
 *	SMTPD_POLICY_README): a request is name=value lines, each ended by
 *	LF, and the request by an empty line. One CR before an LF is
 *	tolerated and dropped.
 *
 *	policyreq_frame() finds where the first request in buf[0..len) ends:
 *	the length up to and including the LF of its empty line, or 0 when
 *	no complete request is there yet. It reads nothing else.
 *
 *	policyreq_parse() reads one request: buf[0..len) as framed (bytes
 *	after the empty line are not looked at). It works in place: the
 *	line ends and the first '=' of each line become NULs, and req->v[]
 *	points at the values inside buf, NULL for an attribute that is
 *	absent. Unknown names are counted and ignored. A name that appears
 *	twice keeps its first value; the repetitions are counted (ndup) and
 *	the first repeated one named (first_dup), so that the caller can say
 *	so. A request is malformed when it is longer than POLICYREQ_MAX,
 *	holds a NUL, has a line without '=', has no empty line to end it, or
 *	lacks request=smtpd_access_policy.
 *
 *	policyreq_get() is req->v[attr] with "" for an absent attribute:
 *	Postfix sends every attribute, empty when unknown.
 *
 *	policyreq_action() writes the reply "action=TEXT\n\n" to out (size
 *	at least 16) and returns its length. The reply is one line of valid
 *	UTF-8, whatever TEXT holds: control characters and bytes that are
 *	not part of a valid UTF-8 sequence become '?', and TEXT is cut at
 *	900 bytes (as the milter's reply) or at what out can hold, never
 *	inside a character.
 * DIAGNOSTICS
 *	policyreq_parse() returns 0, or -1 with a short reason in err.
 *	Nothing allocates; nothing else fails.
 */
#include <stdio.h>
#include <string.h>

#include "policyreq.h"

#define ACTION_TEXT_MAX	900

static const char *const attr_names[PREQ_NATTR] = {
	[PREQ_REQUEST] = "request",
	[PREQ_PROTOCOL_STATE] = "protocol_state",
	[PREQ_PROTOCOL_NAME] = "protocol_name",
	[PREQ_CLIENT_ADDRESS] = "client_address",
	[PREQ_CLIENT_NAME] = "client_name",
	[PREQ_CLIENT_PORT] = "client_port",
	[PREQ_HELO_NAME] = "helo_name",
	[PREQ_SENDER] = "sender",
	[PREQ_RECIPIENT] = "recipient",
	[PREQ_QUEUE_ID] = "queue_id",
	[PREQ_INSTANCE] = "instance",
	[PREQ_SIZE] = "size",
	[PREQ_SASL_METHOD] = "sasl_method",
	[PREQ_SASL_USERNAME] = "sasl_username",
	[PREQ_SASL_SENDER] = "sasl_sender",
	[PREQ_ENCRYPTION_PROTOCOL] = "encryption_protocol",
	[PREQ_ENCRYPTION_CIPHER] = "encryption_cipher",
	[PREQ_ENCRYPTION_KEYSIZE] = "encryption_keysize",
};

const char *
policyreq_attr_name(enum preq_attr a)
{
	return (unsigned)a < PREQ_NATTR ? attr_names[a] : "?";
}

const char *
policyreq_get(const struct policyreq *req, enum preq_attr a)
{
	return req->v[a] ? req->v[a] : "";
}

size_t
policyreq_frame(const char *buf, size_t len)
{
	const char *p = buf, *nl;
	size_t	rest = len;

	/* each line start: an empty line ("\n" or "\r\n") ends the request */
	while (rest > 0) {
		if (p[0] == '\n')
			return (size_t)(p - buf) + 1;
		if (p[0] == '\r' && rest > 1 && p[1] == '\n')
			return (size_t)(p - buf) + 2;
		if ((nl = memchr(p, '\n', rest)) == NULL)
			return 0;
		rest -= (size_t)(nl + 1 - p);
		p = nl + 1;
	}
	return 0;
}

static int
lookup(const char *name)
{
	int	i;

	for (i = 0; i < PREQ_NATTR; i++)
		if (strcmp(name, attr_names[i]) == 0)
			return i;
	return -1;
}

int
policyreq_parse(struct policyreq *req, char *buf, size_t len, char *err,
    size_t errlen)
{
	char	*p = buf, *end = buf + len, *nl, *eq;
	int	 a;

	memset(req, 0, sizeof(*req));
	req->first_dup = -1;
	if (len > POLICYREQ_MAX) {
		snprintf(err, errlen, "request longer than %d bytes",
		    POLICYREQ_MAX);
		return -1;
	}
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "NUL byte at offset %zu",
		    (size_t)((char *)memchr(buf, '\0', len) - buf));
		return -1;
	}
	for (;;) {
		if (p == end
		    || (nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			snprintf(err, errlen, "request not ended by an empty "
			    "line");
			return -1;
		}
		*nl = '\0';
		if (nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		if (*p == '\0')
			break;
		req->nlines++;
		if ((eq = strchr(p, '=')) == NULL) {
			snprintf(err, errlen, "line %u has no '='", req->nlines);
			return -1;
		}
		*eq = '\0';
		if ((a = lookup(p)) < 0)
			req->nunknown++;
		else if (req->v[a] != NULL) {
			if (req->ndup++ == 0)
				req->first_dup = a;
		} else
			req->v[a] = eq + 1;
		p = nl + 1;
	}
	if (req->v[PREQ_REQUEST] == NULL) {
		snprintf(err, errlen, "no request attribute");
		return -1;
	}
	if (strcmp(req->v[PREQ_REQUEST], "smtpd_access_policy") != 0) {
		snprintf(err, errlen, "request is not smtpd_access_policy");
		return -1;
	}
	return 0;
}

/* The length of the valid UTF-8 character at p (avail bytes), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t avail)
{
	size_t	n, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;
		else if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (avail < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

size_t
policyreq_action(char *out, size_t size, const char *text)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t	n, max, clen, avail = strlen(text);

	n = (size_t)snprintf(out, size, "action=");
	max = size - n - 3;		/* "\n\n" and the NUL */
	if (max > ACTION_TEXT_MAX)
		max = ACTION_TEXT_MAX;
	max += n;
	while (avail > 0) {
		clen = utf8_len(p, avail);
		if (clen == 1 && (*p < 0x20 || *p == 0x7f))
			clen = 0;
		if (n + (clen ? clen : 1) > max)
			break;
		if (clen == 0) {
			out[n++] = '?';
			p++;
			avail--;
			continue;
		}
		memcpy(out + n, p, clen);
		n += clen;
		p += clen;
		avail -= clen;
	}
	out[n++] = '\n';
	out[n++] = '\n';
	out[n] = '\0';
	return n;
}
