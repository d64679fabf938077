#ifndef SG_TRACE_TSTAMP_H
#define SG_TRACE_TSTAMP_H

/* A point in time: seconds since the epoch (UTC) and microseconds. */
struct tstamp {
	long long	sec;
	long		usec;
};

int	tstamp_parse(const char *, struct tstamp *);
int	tstamp_cmp(const struct tstamp *, const struct tstamp *);

#endif
