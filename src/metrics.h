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
	ANOMALY_NKINDS
};

void	metrics_count(enum sg_counter);
void	metrics_live(int);
unsigned long long metrics_value(enum sg_counter);
const char *anomaly_name(enum sg_anomaly);
void	metrics_anomaly(enum sg_anomaly);
unsigned long long metrics_anomaly_value(enum sg_anomaly);
long long metrics_live_sessions(void);
void	metrics_render(struct strbuf *, unsigned long long, unsigned);

#endif
