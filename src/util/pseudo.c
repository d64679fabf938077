/*
 * NAME
 *	pseudo - pseudonyms for user names and addresses in the log
 * SYNOPSIS
 *	#include "util/pseudo.h"
 *
 *	int pseudo_key_load(path, key, err, errlen)
 *	void pseudo_key_free(key)
 *	void pseudo_token(key, data, len, out, outlen)
 *	void pseudo_value(key, mode, value, out, outlen)
 * DESCRIPTION
 *	A pseudonym is "pn:" and the first 96 bits of HMAC-SHA256(key, value)
 *	in hex (OpenSSL EVP_Q_mac): stable across restarts with the same key,
 *	so that one person's sessions can still be found (sessguard-trace
 *	--key --match), while the log never holds the clear value.
 *
 *	pseudo_key_load() reads a key file of 16 to 4096 bytes. The file must
 *	not be readable by others: a key anyone can read protects nothing.
 *
 *	pseudo_value() writes the pseudonym of a user name or an envelope
 *	address. Addresses are normalised first (angle brackets dropped, the
 *	domain in lower case) so that <Alice@Example.ORG> and
 *	alice@example.org... differ only where the local part does. In mode
 *	PSEUDO_LOCAL_PART the domain of an address is kept in the clear:
 *	<pn:1a2b...@example.org>. The null sender <> stays <>.
 * DIAGNOSTICS
 *	pseudo_key_load() returns -1 with a message naming the file.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/hex.h"
#include "util/pseudo.h"

int
pseudo_key_load(const char *path, struct pseudo_key *key, char *err,
    size_t errlen)
{
	unsigned char buf[PSEUDO_KEY_MAX + 1];
	struct stat st;
	ssize_t	n;
	size_t	len = 0;
	int	fd;

	key->bytes = NULL;
	key->len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		snprintf(err, errlen, "%s: readable or writable by others "
		    "(mode %04o): chmod o-rw it", path,
		    (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	while (len < sizeof(buf)
	    && (n = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (len < PSEUDO_KEY_MIN || len > PSEUDO_KEY_MAX) {
		snprintf(err, errlen, "%s: a key of %d to %d bytes is needed "
		    "(e.g. head -c 32 /dev/urandom)", path, PSEUDO_KEY_MIN,
		    PSEUDO_KEY_MAX);
		return -1;
	}
	if ((key->bytes = malloc(len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(key->bytes, buf, len);
	key->len = len;
	return 0;
}

void
pseudo_key_free(struct pseudo_key *key)
{
	if (key->bytes) {
		memset(key->bytes, 0, key->len);
		free(key->bytes);
	}
	key->bytes = NULL;
	key->len = 0;
}

void
pseudo_token(const struct pseudo_key *key, const char *data, size_t len,
    char *out, size_t outlen)
{
	unsigned char mac[32];
	size_t	maclen = 0;

	if (outlen < sizeof(PSEUDO_PREFIX) + 24) {
		if (outlen)
			out[0] = '\0';
		return;
	}
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key->bytes, key->len,
	    (const unsigned char *)data, len, mac, sizeof(mac), &maclen) == NULL
	    || maclen < 12) {
		snprintf(out, outlen, PSEUDO_PREFIX "error");
		return;
	}
	memcpy(out, PSEUDO_PREFIX, sizeof(PSEUDO_PREFIX) - 1);
	hex_encode(out + sizeof(PSEUDO_PREFIX) - 1, mac, 12);
}

void
pseudo_value(const struct pseudo_key *key, enum pseudo_mode mode,
    const char *value, char *out, size_t outlen)
{
	char	norm[1024], tok[64];
	const char *v = value, *at;
	size_t	len = strlen(value), i;

	if (len >= 2 && v[0] == '<' && v[len - 1] == '>') {
		v++;
		len -= 2;
	}
	if (len == 0) {
		snprintf(out, outlen, "%s", value);
		return;
	}
	if (len >= sizeof(norm))
		len = sizeof(norm) - 1;
	memcpy(norm, v, len);
	norm[len] = '\0';
	at = strrchr(norm, '@');
	if (at)
		for (i = (size_t)(at - norm) + 1; i < len; i++)
			norm[i] = (char)tolower((unsigned char)norm[i]);
	if (mode == PSEUDO_LOCAL_PART && at && at != norm) {
		pseudo_token(key, norm, (size_t)(at - norm), tok, sizeof(tok));
		snprintf(out, outlen, "%s%s%s%s", value[0] == '<' ? "<" : "", tok,
		    at, value[0] == '<' ? ">" : "");
		return;
	}
	pseudo_token(key, norm, len, out, outlen);
}
