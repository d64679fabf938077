/*
 * NAME
 *	tstamp - RFC 3339 time stamps
 * SYNOPSIS
 *	#include "trace/tstamp.h"
 *
 *	int tstamp_parse(text, ts)
 *	int tstamp_cmp(a, b)
 * DESCRIPTION
 *	tstamp_parse() reads an RFC 3339 date-time, "2026-11-23T15:12:05Z",
 *	with optional fractional seconds (kept to the microsecond) and a
 *	"Z" or a numeric offset ("+01:00"); "t" or a space may stand for "T",
 *	"z" for "Z". A date alone ("2026-11-23") means its midnight UTC, for
 *	the command line. The log's own stamps are UTC with microseconds, but
 *	a --since typed by a person need not be.
 *
 *	tstamp_cmp() returns <0, 0 or >0 as a is before, equal to or after b.
 * DIAGNOSTICS
 *	tstamp_parse() returns 0, or -1 for text that is not such a time
 *	(a field out of range, a missing or extra character).
 */
#include <ctype.h>
#include <string.h>
#include <time.h>

#include "trace/tstamp.h"

/* Reads exactly n digits at *p into *out, advancing *p. */
static int
tstamp_digits(const char **p, int n, int *out)
{
	int	v = 0;

	while (n-- > 0) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (*(*p)++ - '0');
	}
	*out = v;
	return 0;
}

static int
tstamp_expect(const char **p, const char *set)
{
	if (**p == '\0' || strchr(set, **p) == NULL)
		return -1;
	(*p)++;
	return 0;
}

static int
tstamp_date(const char **p, struct tm *tm)
{
	int	y, m, d;
	static const int mdays[] = { 31,29,31,30,31,30,31,31,30,31,30,31 };

	if (tstamp_digits(p, 4, &y) < 0 || tstamp_expect(p, "-") < 0
	    || tstamp_digits(p, 2, &m) < 0 || tstamp_expect(p, "-") < 0
	    || tstamp_digits(p, 2, &d) < 0)
		return -1;
	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return -1;
	if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	tm->tm_year = y - 1900;
	tm->tm_mon = m - 1;
	tm->tm_mday = d;
	return 0;
}

static int
tstamp_time(const char **p, struct tm *tm, long *usec)
{
	int	h, mi, s;
	long	scale = 100000;

	if (tstamp_digits(p, 2, &h) < 0 || tstamp_expect(p, ":") < 0
	    || tstamp_digits(p, 2, &mi) < 0 || tstamp_expect(p, ":") < 0
	    || tstamp_digits(p, 2, &s) < 0)
		return -1;
	if (h > 23 || mi > 59 || s > 60)
		return -1;
	*usec = 0;
	if (**p == '.') {
		(*p)++;
		if (!isdigit((unsigned char)**p))
			return -1;
		for (; isdigit((unsigned char)**p); (*p)++, scale /= 10)
			*usec += (**p - '0') * scale;
	}
	tm->tm_hour = h;
	tm->tm_min = mi;
	tm->tm_sec = s;
	return 0;
}

/* The offset of local time from UTC, in seconds east. */
static int
tstamp_offset(const char **p, long *east)
{
	int	sign, h, m;

	if (**p == 'Z' || **p == 'z') {
		(*p)++;
		*east = 0;
		return 0;
	}
	if (**p != '+' && **p != '-')
		return -1;
	sign = *(*p)++ == '-' ? -1 : 1;
	if (tstamp_digits(p, 2, &h) < 0 || tstamp_expect(p, ":") < 0
	    || tstamp_digits(p, 2, &m) < 0 || h > 23 || m > 59)
		return -1;
	*east = sign * (h * 3600L + m * 60L);
	return 0;
}

int
tstamp_parse(const char *text, struct tstamp *ts)
{
	struct tm tm;
	const char *p = text;
	long	east = 0;

	memset(&tm, 0, sizeof(tm));
	ts->usec = 0;
	if (tstamp_date(&p, &tm) < 0)
		return -1;
	if (*p != '\0') {
		if (tstamp_expect(&p, "Tt ") < 0 || tstamp_time(&p, &tm, &ts->usec) < 0
		    || tstamp_offset(&p, &east) < 0 || *p != '\0')
			return -1;
	}
	ts->sec = (long long)timegm(&tm) - east;
	return 0;
}

int
tstamp_cmp(const struct tstamp *a, const struct tstamp *b)
{
	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	if (a->usec != b->usec)
		return a->usec < b->usec ? -1 : 1;
	return 0;
}
