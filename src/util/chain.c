/*
 * NAME
 *	chain - the MAC chain of a tamper-evident log
 * SYNOPSIS
 *	#include "util/chain.h"
 *
 *	int chain_init(chain, key)
 *	void chain_free(chain)
 *	void chain_mac(chain, prev, body, len, out)
 *	int chain_split(line, len, &body_len, mac)
 * DESCRIPTION
 *	With log_chain = yes every log line ends in "mac":"<64 hex digits>",
 *	HMAC-SHA256 under the log key over the previous line's mac, a newline,
 *	and this line up to (not including) its ,"mac": member. Changing,
 *	removing, inserting or reordering a line breaks the chain at that
 *	place; without the key nobody can mend it.
 *
 *	chain_init() fetches the HMAC implementation once (OpenSSL's
 *	EVP_MAC_fetch() searches the provider tables under a lock: too dear
 *	for every log line) and remembers key, which must outlive the chain;
 *	chain_free() releases what chain_init() fetched. chain_mac() may then
 *	run in several threads at once.
 *
 *	chain_mac() computes that mac (prev is "" for the first line of a
 *	chain) into out (CHAIN_HEX + 1 bytes).
 *
 *	chain_split() finds the mac at the end of a line as written (without
 *	its newline): it returns 0, the length of the part the mac covers and
 *	the mac itself, or -1 when the line carries none.
 * DIAGNOSTICS
 *	chain_init() returns -1 when OpenSSL offers no HMAC.
 *	chain_mac() writes an empty string if the MAC cannot be computed.
 */
#include <string.h>

#include <openssl/evp.h>

#include "util/chain.h"
#include "util/hex.h"

int
chain_init(struct chain *ch, const struct pseudo_key *key)
{
	ch->key = key;
	ch->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	return ch->mac ? 0 : -1;
}

void
chain_free(struct chain *ch)
{
	EVP_MAC_free(ch->mac);
	ch->mac = NULL;
	ch->key = NULL;
}

void
chain_mac(const struct chain *ch, const char *prev, const char *body,
    size_t len, char *out)
{
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	unsigned char md[32];
	size_t	mdlen = 0;

	out[0] = '\0';
	if (ch->mac == NULL)
		return;
	params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_MAC_CTX_new(ch->mac)) != NULL
	    && EVP_MAC_init(ctx, ch->key->bytes, ch->key->len, params)
	    && EVP_MAC_update(ctx, (const unsigned char *)prev, strlen(prev))
	    && EVP_MAC_update(ctx, (const unsigned char *)"\n", 1)
	    && EVP_MAC_update(ctx, (const unsigned char *)body, len)
	    && EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) && mdlen == 32)
		hex_encode(out, md, 32);
	EVP_MAC_CTX_free(ctx);
}

int
chain_split(const char *line, size_t len, size_t *body_len, char *mac)
{
	size_t	slen = sizeof(CHAIN_SUFFIX) - 1, i;
	const char *p;

	/* ,"mac":" + 64 hex + "} */
	if (len < slen + CHAIN_HEX + 2)
		return -1;
	p = line + len - (slen + CHAIN_HEX + 2);
	if (memcmp(p, CHAIN_SUFFIX, slen) != 0
	    || memcmp(line + len - 2, "\"}", 2) != 0)
		return -1;
	for (i = 0; i < CHAIN_HEX; i++) {
		char	c = p[slen + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
		mac[i] = c;
	}
	mac[CHAIN_HEX] = '\0';
	*body_len = (size_t)(p - line);
	return 0;
}
