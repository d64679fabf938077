#ifndef SG_AUTHRES_H
#define SG_AUTHRES_H

#include <stddef.h>

#define AUTHRES_NAME		"Authentication-Results"

/*
 * Our header must fit one line of RFC 5322 section 2.1.1 (998 characters
 * without CRLF): "Authentication-Results: " and the value.
 */
#define AUTHRES_LINE_MAX	998
#define AUTHRES_VALUE_MAX	(AUTHRES_LINE_MAX - (sizeof(AUTHRES_NAME ": ") - 1))

/*
 * Claims recorded in one transaction at most: above what an MTA passes by
 * default (Postfix's header_size_limit of 102400 bytes holds about 3 900
 * such headers, Sendmail's MaxHeadersLength 32768 bytes far fewer); past
 * it the message is refused with tempfail, never delivered.
 */
#define AUTHRES_CLAIMS_MAX	10000

/* The Authentication-Results of one transaction. */
struct authres_txn {
	unsigned  seen;		/* Authentication-Results headers seen */
	unsigned *claims;	/* 1-based indexes of those claiming our id */
	size_t	  nclaims;
	size_t	  cap;
	size_t	  limit;	/* at most this many claims */
	int	  descending;	/* claims[] was turned last first */
	int	  lost;		/* a claim could not be recorded */
	char	  why[160];	/* ... and why */
};

int	authres_claims(const char *, const char *);
int	authres_is_name(const char *);

void	authres_txn_init(struct authres_txn *, size_t);
void	authres_txn_header(struct authres_txn *, const char *, const char *);
const unsigned *authres_txn_deletions(struct authres_txn *, size_t *);
void	authres_txn_clear(struct authres_txn *);
void	authres_txn_free(struct authres_txn *);

int	authres_value(char *, size_t, const char *, const char *, char *,
	    size_t);

#endif
