#ifndef SG_PROBE_SASL_H
#define SG_PROBE_SASL_H

#include "probe/smtpio.h"

#define SASL_USER_MAX	256
#define SASL_PASS_MAX	1024

const char *sasl_choose(const struct smtp_reply *);
int	sasl_auth(struct smtp_conn *, struct smtp_reply *, const char *,
	    const char *, const char *);

#endif
