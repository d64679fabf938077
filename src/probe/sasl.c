/*
 * NAME
 *	sasl - AUTH PLAIN and AUTH LOGIN for sessguard-probe
 * SYNOPSIS
 *	#include "probe/sasl.h"
 *
 *	const char *sasl_choose(ehlo)
 *	int sasl_auth(conn, reply, mech, user, password)
 * DESCRIPTION
 *	sasl_choose() reads the AUTH keyword of an EHLO reply (also the old
 *	"AUTH=" form) and returns "PLAIN" when the server offers it, else
 *	"LOGIN" when it offers that, else a null pointer.
 *
 *	sasl_auth() logs in on conn with mech "PLAIN" (RFC 4616 with the
 *	initial response of RFC 4954; authorization identity empty; a server
 *	that answers 334 instead gets the response then) or "LOGIN" (no
 *	initial response, as the phones send it: user name and password each
 *	after a 334). The transcript shows every credential as ********, and
 *	the buffers that held them are wiped. An unexpected 334 is answered
 *	with "*", which cancels the exchange (RFC 4954 section 4).
 * DIAGNOSTICS
 *	Returns the code of the final reply (235 on success) or an SMTP_ERR_*
 *	value; the reply is in reply.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "probe/sasl.h"

#define SASL_MASK	"********"

const char *
sasl_choose(const struct smtp_reply *ehlo)
{
	const char *p = ehlo->text.data ? ehlo->text.data : "";
	int	plain = 0, login = 0;
	size_t	len;

	for (; *p; p += len + (p[len] == '\n')) {
		const char *w, *end;

		len = strcspn(p, "\n");
		if (len < 9 || strncasecmp(p + 4, "AUTH", 4) != 0
		    || (p[8] != ' ' && p[8] != '='))
			continue;
		for (w = p + 9, end = p + len; w < end;) {
			size_t n = strcspn(w, " \n");

			if (n > (size_t)(end - w))
				n = (size_t)(end - w);
			if (n == 5 && strncasecmp(w, "PLAIN", 5) == 0)
				plain = 1;
			if (n == 5 && strncasecmp(w, "LOGIN", 5) == 0)
				login = 1;
			w += n + 1;
		}
	}
	return plain ? "PLAIN" : login ? "LOGIN" : NULL;
}

/* Sends prefix + base64(data) + CRLF, shown as prefix + mask. */
static int
sasl_send_secret(struct smtp_conn *conn, struct smtp_reply *reply,
    const char *prefix, const unsigned char *data, size_t len)
{
	unsigned char line[32 + 4 * ((SASL_USER_MAX + SASL_PASS_MAX + 4) / 3 + 1)];
	char	shown[64];
	size_t	plen = strlen(prefix);
	int	n, rc;

	if (len > SASL_USER_MAX + SASL_PASS_MAX + 2 || plen > 30) {
		snprintf(conn->error, sizeof(conn->error), "credentials too long");
		strbuf_reset(&reply->text);
		return reply->code = SMTP_ERR_IO;
	}
	memcpy(line, prefix, plen);
	n = EVP_EncodeBlock(line + plen, data, (int)len);
	memcpy(line + plen + n, "\r\n", 2);
	snprintf(shown, sizeof(shown), "%s" SASL_MASK, prefix);
	rc = smtp_write(conn, (char *)line, plen + (size_t)n + 2, shown);
	OPENSSL_cleanse(line, sizeof(line));
	if (rc < 0) {
		strbuf_reset(&reply->text);
		return reply->code = SMTP_ERR_IO;
	}
	return smtp_read(conn, reply);
}

static int
sasl_cancel(struct smtp_conn *conn, struct smtp_reply *reply)
{
	return smtp_cmd(conn, reply, "*");
}

int
sasl_auth(struct smtp_conn *conn, struct smtp_reply *reply, const char *mech,
    const char *user, const char *password)
{
	unsigned char buf[SASL_USER_MAX + SASL_PASS_MAX + 2];
	size_t	ulen = strlen(user), plen = strlen(password);
	int	code;

	if (ulen > SASL_USER_MAX || plen > SASL_PASS_MAX) {
		snprintf(conn->error, sizeof(conn->error), "credentials too long");
		strbuf_reset(&reply->text);
		return reply->code = SMTP_ERR_IO;
	}
	if (strcmp(mech, "PLAIN") == 0) {
		buf[0] = '\0';
		memcpy(buf + 1, user, ulen);
		buf[1 + ulen] = '\0';
		memcpy(buf + 2 + ulen, password, plen);
		code = sasl_send_secret(conn, reply, "AUTH PLAIN ", buf,
		    2 + ulen + plen);
		if (code == 334)
			code = sasl_send_secret(conn, reply, "", buf,
			    2 + ulen + plen);
		OPENSSL_cleanse(buf, sizeof(buf));
		if (code == 334)
			code = sasl_cancel(conn, reply);
		return code;
	}
	if ((code = smtp_cmd(conn, reply, "AUTH LOGIN")) != 334)
		return code;
	if ((code = sasl_send_secret(conn, reply, "", (const unsigned char *)user,
	    ulen)) != 334)
		return code;
	code = sasl_send_secret(conn, reply, "", (const unsigned char *)password,
	    plen);
	if (code == 334)
		code = sasl_cancel(conn, reply);
	return code;
}
