/*
 * NAME
 *	metrics - counters and gauges, in Prometheus text format
 * SYNOPSIS
 *	#include "metrics.h"
 *
 *	void metrics_count(counter)
 *	void metrics_live(delta)
 *	unsigned long long metrics_value(counter)
 *	const char *anomaly_name(kind)
 *	void metrics_anomaly(kind)
 *	unsigned long long metrics_anomaly_value(kind)
 *	long long metrics_live_sessions(void)
 *	void metrics_limit(limit, outcome)
 *	unsigned long long metrics_limit_value(limit, outcome)
 *	void metrics_limit_store(up)
 *	void metrics_render(sb, log_lines_lost, config_generation)
 * DESCRIPTION
 *	Process-wide counters (sessions, transactions, recipients by verdict,
 *	anomalies by kind) and the gauge of live sessions, kept as relaxed
 *	atomics: counting costs one atomic add on the hot path, no lock.
 *
 *	metrics_limit() counts one rate-limit decision (SPEC section 8) by
 *	the limit's name ("limit_login_recipients", ...; NULL or another
 *	name: none) and outcome. metrics_limit_store() sets the gauge of the
 *	store's health (1 up, 0 down; 1 until a failure is seen). The
 *	sender/login check at MAIL is counted by verdict (M_SENDER_*).
 *
 *	Anomaly kinds are an enum; anomaly_name() is the one table of their
 *	names, used by the event log and by the metric labels alike. A kind
 *	outside the enum has no name (NULL) and is counted nowhere.
 *
 *	metrics_render() appends the Prometheus text exposition (version
 *	0.0.4) of every metric, with the two values the caller owns: the
 *	event-log lines lost and the configuration generation.
 * DIAGNOSTICS
 *	None.
 */
#include <stdatomic.h>
#include <string.h>

#include "metrics.h"

static atomic_ullong counters[M_NCOUNTERS];
static atomic_ullong anomalies[ANOMALY_NKINDS];
static atomic_llong live;

#define NLIMITS	4
static const char *const limit_names[NLIMITS + 1] = {
	"limit_login_recipients", "limit_login_messages",
	"limit_client_recipients", "limit_login_clients", "none",
};
static const char *const limit_outcomes[LIMIT_NOUTCOMES] = {
	[LIMIT_OUT_ALLOW] = "allow",
	[LIMIT_OUT_TEMPFAIL] = "tempfail",
	[LIMIT_OUT_HOLD] = "hold",
	[LIMIT_OUT_MONITOR] = "monitor",
	[LIMIT_OUT_UNAVAILABLE] = "unavailable",
	[LIMIT_OUT_EXEMPT] = "exempt",
	[LIMIT_OUT_NONE] = "none",
};
static atomic_ullong limits[NLIMITS + 1][LIMIT_NOUTCOMES];
static atomic_int store_down;

static const char *const anomaly_names[ANOMALY_NKINDS] = {
	[ANOMALY_AUTH_CHANGED] = "auth_changed",
	[ANOMALY_AUTH_CARRIED] = "auth_carried",
	[ANOMALY_UNKNOWN_COMMAND] = "unknown_command",
	[ANOMALY_MAIL_WITHOUT_HELO] = "mail_without_helo",
	[ANOMALY_CLIENT_AUTH_PARAM] = "client_auth_param",
	[ANOMALY_AUTH_RESULTS_SKIPPED] = "auth_results_skipped",
	[ANOMALY_AUTH_KEPT_ACROSS_TLS] = "auth_kept_across_tls",
	[ANOMALY_LIMIT_EXCEEDED] = "limit_exceeded",
	[ANOMALY_LIMIT_STORE_DOWN] = "limit_store_down",
	[ANOMALY_LIMIT_STORE_UP] = "limit_store_up",
};

const char *
anomaly_name(enum sg_anomaly k)
{
	return (unsigned)k < ANOMALY_NKINDS ? anomaly_names[k] : NULL;
}

void
metrics_anomaly(enum sg_anomaly k)
{
	if ((unsigned)k < ANOMALY_NKINDS)
		atomic_fetch_add_explicit(&anomalies[k], 1, memory_order_relaxed);
}

unsigned long long
metrics_anomaly_value(enum sg_anomaly k)
{
	return (unsigned)k < ANOMALY_NKINDS ? atomic_load(&anomalies[k]) : 0;
}

void
metrics_count(enum sg_counter c)
{
	if ((unsigned)c < M_NCOUNTERS)
		atomic_fetch_add_explicit(&counters[c], 1, memory_order_relaxed);
}

void
metrics_live(int delta)
{
	atomic_fetch_add_explicit(&live, delta, memory_order_relaxed);
}

unsigned long long
metrics_value(enum sg_counter c)
{
	return (unsigned)c < M_NCOUNTERS ? atomic_load(&counters[c]) : 0;
}

long long
metrics_live_sessions(void)
{
	return atomic_load(&live);
}

static unsigned
limit_index(const char *name)
{
	unsigned i;

	for (i = 0; name != NULL && i < NLIMITS; i++)
		if (strcmp(name, limit_names[i]) == 0)
			return i;
	return NLIMITS;
}

void
metrics_limit(const char *name, enum sg_limit_outcome o)
{
	if ((unsigned)o < LIMIT_NOUTCOMES)
		atomic_fetch_add_explicit(&limits[limit_index(name)][o], 1,
		    memory_order_relaxed);
}

unsigned long long
metrics_limit_value(const char *name, enum sg_limit_outcome o)
{
	return (unsigned)o < LIMIT_NOUTCOMES ?
	    atomic_load(&limits[limit_index(name)][o]) : 0;
}

void
metrics_limit_store(int up)
{
	atomic_store(&store_down, !up);
}

static void
family(struct strbuf *sb, const char *name, const char *type,
    const char *help)
{
	strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
metrics_render(struct strbuf *sb, unsigned long long lost, unsigned generation)
{
	static const struct {
		enum sg_counter c;
		const char *label;
	} rcpts[] = {
		{ M_RCPT_ACCEPT, "accept" },
		{ M_RCPT_REJECT, "reject" },
		{ M_RCPT_WOULD_REJECT, "would_reject" },
		{ M_RCPT_TEMPFAIL, "tempfail" },
		{ M_RCPT_MTA_REJECTED, "mta_rejected" },
	};
	size_t	i;
	unsigned k;

	family(sb, "sessguard_sessions_total", "counter",
	    "SMTP connections seen");
	strbuf_printf(sb, "sessguard_sessions_total %llu\n",
	    metrics_value(M_SESSIONS));
	family(sb, "sessguard_transactions_total", "counter",
	    "MAIL transactions seen");
	strbuf_printf(sb, "sessguard_transactions_total %llu\n",
	    metrics_value(M_TRANSACTIONS));
	family(sb, "sessguard_recipients_total", "counter",
	    "RCPT decisions by verdict");
	for (i = 0; i < sizeof(rcpts) / sizeof(rcpts[0]); i++)
		strbuf_printf(sb, "sessguard_recipients_total{verdict=\"%s\"} %llu\n",
		    rcpts[i].label, metrics_value(rcpts[i].c));
	family(sb, "sessguard_sender_checks_total", "counter",
	    "sender/login checks at MAIL by verdict");
	for (i = 0; i < 4; i++)
		strbuf_printf(sb, "sessguard_sender_checks_total{verdict=\"%s\"} "
		    "%llu\n", rcpts[i].label,
		    metrics_value((enum sg_counter)(M_SENDER_ACCEPT + i)));
	family(sb, "sessguard_limit_decisions_total", "counter",
	    "rate-limit decisions by limit and outcome");
	for (i = 0; i <= NLIMITS; i++)
		for (k = 0; k < LIMIT_NOUTCOMES; k++) {
			int	per = k == LIMIT_OUT_ALLOW || k == LIMIT_OUT_TEMPFAIL
			    || k == LIMIT_OUT_HOLD || k == LIMIT_OUT_MONITOR;

			if (per != (i < NLIMITS))
				continue;
			strbuf_printf(sb, "sessguard_limit_decisions_total{"
			    "limit=\"%s\",outcome=\"%s\"} %llu\n",
			    limit_names[i], limit_outcomes[k],
			    (unsigned long long)atomic_load(&limits[i][k]));
		}
	family(sb, "sessguard_limit_store_up", "gauge",
	    "rate-limit store reachable (1) or down (0)");
	strbuf_printf(sb, "sessguard_limit_store_up %d\n",
	    !atomic_load(&store_down));
	family(sb, "sessguard_anomalies_total", "counter",
	    "anomalies by kind");
	for (k = 0; k < ANOMALY_NKINDS; k++)
		strbuf_printf(sb, "sessguard_anomalies_total{kind=\"%s\"} %llu\n",
		    anomaly_name((enum sg_anomaly)k),
		    metrics_anomaly_value((enum sg_anomaly)k));
	family(sb, "sessguard_log_lines_lost_total", "counter",
	    "event-log lines a sink could not take");
	strbuf_printf(sb, "sessguard_log_lines_lost_total %llu\n", lost);
	family(sb, "sessguard_live_sessions", "gauge",
	    "SMTP connections open now");
	strbuf_printf(sb, "sessguard_live_sessions %lld\n",
	    metrics_live_sessions());
	family(sb, "sessguard_config_generation", "gauge",
	    "configuration generation (1 at start, +1 each reload)");
	strbuf_printf(sb, "sessguard_config_generation %u\n", generation);
}
