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
	M_ANOMALY_AUTH_CHANGED,
	M_ANOMALY_AUTH_CARRIED,
	M_ANOMALY_UNKNOWN_COMMAND,
	M_ANOMALY_MAIL_WITHOUT_HELO,
	M_ANOMALY_CLIENT_AUTH_PARAM,
	M_ANOMALY_AUTH_RESULTS_SKIPPED,
	M_NCOUNTERS
};

void	metrics_count(enum sg_counter);
void	metrics_live(int);
unsigned long long metrics_value(enum sg_counter);
long long metrics_live_sessions(void);
void	metrics_render(struct strbuf *, unsigned long long, unsigned);

#endif
