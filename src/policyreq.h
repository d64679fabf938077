#ifndef SG_POLICYREQ_H
#define SG_POLICYREQ_H

#include <stddef.h>

/* The largest request accepted, terminating empty line included. */
#define POLICYREQ_MAX	65536

/* The attributes sessguard reads; every other one is ignored. */
enum preq_attr {
	PREQ_REQUEST,
	PREQ_PROTOCOL_STATE,
	PREQ_PROTOCOL_NAME,
	PREQ_CLIENT_ADDRESS,
	PREQ_CLIENT_NAME,
	PREQ_CLIENT_PORT,
	PREQ_HELO_NAME,
	PREQ_SENDER,
	PREQ_RECIPIENT,
	PREQ_QUEUE_ID,
	PREQ_INSTANCE,
	PREQ_SIZE,
	PREQ_SASL_METHOD,
	PREQ_SASL_USERNAME,
	PREQ_SASL_SENDER,
	PREQ_ENCRYPTION_PROTOCOL,
	PREQ_ENCRYPTION_CIPHER,
	PREQ_ENCRYPTION_KEYSIZE,
	PREQ_NATTR
};

/* One parsed request; the values point into the caller's buffer. */
struct policyreq {
	const char *v[PREQ_NATTR];	/* NULL: absent */
	unsigned    nlines;		/* attribute lines */
	unsigned    nunknown;		/* lines with an unknown name */
	unsigned    ndup;		/* repeated known names (first wins) */
	int	    first_dup;		/* the first repeated one, or -1 */
};

size_t	policyreq_frame(const char *, size_t);
int	policyreq_parse(struct policyreq *, char *, size_t, char *, size_t);
const char *policyreq_get(const struct policyreq *, enum preq_attr);
const char *policyreq_attr_name(enum preq_attr);
size_t	policyreq_action(char *, size_t, const char *);

#endif
