#ifndef SG_METRICS_H
#define SG_METRICS_H

#include "util/strbuf.h"

enum sg_counter {
	M_SESSIONS,
	M_TRANSACTIONS,
	M_RCPT_ACCEPT,
	M_RCPT_REJECT,
	M_RCPT_WOULD_REJECT,
	M_RCPT_TEMPFAIL,
	M_RCPT_MTA_REJECTED,
	M_SENDER_ACCEPT,	/* sender/login check at MAIL, by verdict */
	M_SENDER_REJECT,
	M_SENDER_WOULD_REJECT,
	M_SENDER_TEMPFAIL,
	M_NCOUNTERS
};

/*
 * Anomaly kinds (SPEC S6). anomaly_name() is the one table of their log
 * and metric names; a value outside the enum has no name and no counter.
 */
enum sg_anomaly {
	ANOMALY_AUTH_CHANGED,
	ANOMALY_AUTH_CARRIED,
	ANOMALY_UNKNOWN_COMMAND,
	ANOMALY_MAIL_WITHOUT_HELO,
	ANOMALY_CLIENT_AUTH_PARAM,
	ANOMALY_AUTH_RESULTS_SKIPPED,
	ANOMALY_AUTH_KEPT_ACROSS_TLS,
	ANOMALY_LIMIT_EXCEEDED,
	ANOMALY_LIMIT_STORE_DOWN,
	ANOMALY_LIMIT_STORE_UP,
	ANOMALY_NKINDS
};

/*
 * Rate-limit decisions (SPEC section 8) by outcome; the outcomes over a
 * limit (tempfail, hold, monitor: limit_action) and allow are counted per
 * limit, the others without one.
 */
enum sg_limit_outcome {
	LIMIT_OUT_ALLOW,	/* counted; per the limit nearest its maximum */
	LIMIT_OUT_TEMPFAIL,	/* over, limit_action tempfail */
	LIMIT_OUT_HOLD,		/* over, limit_action hold */
	LIMIT_OUT_MONITOR,	/* over, limit_action monitor */
	LIMIT_OUT_UNAVAILABLE,	/* store down, limit_store_down = tempfail */
	LIMIT_OUT_EXEMPT,	/* limit_exempt */
	LIMIT_OUT_NONE,		/* nothing to key on */
	LIMIT_NOUTCOMES
};

void	metrics_count(enum sg_counter);
void	metrics_live(int);
unsigned long long metrics_value(enum sg_counter);
const char *anomaly_name(enum sg_anomaly);
void	metrics_anomaly(enum sg_anomaly);
unsigned long long metrics_anomaly_value(enum sg_anomaly);
long long metrics_live_sessions(void);
void	metrics_limit(const char *, enum sg_limit_outcome);
unsigned long long metrics_limit_value(const char *, enum sg_limit_outcome);
void	metrics_limit_store(int);
void	metrics_render(struct strbuf *, unsigned long long, unsigned);

#endif
