/*
 * NAME
 *	msg - diagnostics of the daemon itself
 * SYNOPSIS
 *	#include "util/msg.h"
 *
 *	void msg_init(progname, facility)
 *	void msg_to_syslog(on)
 *	void msg_info(fmt, ...), msg_warn(fmt, ...)
 *	void msg_fatal(fmt, ...)
 *
 *	void errf(err, errlen, fmt, ...)
 * DESCRIPTION
 *	Plain-text messages about the daemon (start, stop, configuration,
 *	internal errors), as opposed to the JSON event log of the sessions.
 *	They go to stderr, prefixed with the program name and severity, and,
 *	after msg_to_syslog(1) (a detached daemon), to syslog instead.
 *
 *	msg_fatal() reports and exits with status 1: for conditions before
 *	any mail is touched (bad configuration, unusable socket).
 *
 *	errf() formats a message into the caller's buffer err of errlen
 *	bytes (truncated, always terminated): the "char *err, size_t errlen"
 *	convention by which modules hand a diagnostic to their caller.
 * DIAGNOSTICS
 *	None: these are the diagnostics.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

#include "util/msg.h"

static const char *progname = "sessguard";
static int use_syslog;
static int facility = LOG_MAIL;

void
msg_init(const char *name, int fac)
{
	progname = name;
	facility = fac;
}

void
msg_to_syslog(int on)
{
	use_syslog = on;
	if (on)
		openlog(progname, LOG_PID | LOG_NDELAY, facility);
}

static void
msg_vlog(int prio, const char *tag, const char *fmt, va_list ap)
{
	char	buf[2048];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (use_syslog)
		syslog(prio, "%s: %s", tag, buf);
	else
		fprintf(stderr, "%s: %s: %s\n", progname, tag, buf);
}

void
msg_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	msg_vlog(LOG_INFO, "info", fmt, ap);
	va_end(ap);
}

void
msg_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	msg_vlog(LOG_WARNING, "warning", fmt, ap);
	va_end(ap);
}

void
msg_fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	msg_vlog(LOG_ERR, "fatal", fmt, ap);
	va_end(ap);
	exit(1);
}

void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
