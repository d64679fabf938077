/*
 * NAME
 *	diag - diagnostics and memory of sessguard-trace
 * SYNOPSIS
 *	#include "trace/diag.h"
 *
 *	void diag_init(progname)
 *	void diag_warn(fmt, ...)
 *	void diag_fatal(fmt, ...)
 *
 *	void *mem_alloc(size)
 *	void *mem_array(ptr, count, size)
 *	char *mem_strdup(s)
 * DESCRIPTION
 *	diag_warn() writes "progname: message" to stderr. The message often
 *	quotes the log being read (file names, parser errors that cite the
 *	offending text), so it goes through termesc: a hostile log cannot
 *	send control sequences to the terminal this way either.
 *
 *	diag_fatal() does the same and exits with status 1.
 *
 *	mem_alloc() and mem_strdup() are malloc() and strdup() that either
 *	succeed or do not return; mem_array() resizes ptr to count elements
 *	of size bytes, refusing products that overflow.
 * DIAGNOSTICS
 *	Allocation failure: "out of memory" and exit status 1. A tool that
 *	reads a log has nothing to keep alive, and a half-printed session
 *	would mislead.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace/diag.h"
#include "trace/termesc.h"

static const char *progname = "sessguard-trace";

void
diag_init(const char *name)
{
	progname = name;
}

static void
diag_vwarn(const char *fmt, va_list ap)
{
	char	*text;

	fflush(stdout);
	if (vasprintf(&text, fmt, ap) < 0) {
		fprintf(stderr, "%s: out of memory\n", progname);
		return;
	}
	fprintf(stderr, "%s: ", progname);
	termesc_write(stderr, text, strlen(text));
	fputc('\n', stderr);
	free(text);
}

void
diag_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	diag_vwarn(fmt, ap);
	va_end(ap);
}

void
diag_fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	diag_vwarn(fmt, ap);
	va_end(ap);
	exit(1);
}

void *
mem_alloc(size_t size)
{
	void	*p;

	if ((p = malloc(size ? size : 1)) == NULL)
		diag_fatal("out of memory");
	return p;
}

void *
mem_array(void *ptr, size_t count, size_t size)
{
	void	*p;
	size_t	bytes;

	if (size && count > SIZE_MAX / size)
		diag_fatal("out of memory");
	bytes = count * size;
	if ((p = realloc(ptr, bytes > 0 ? bytes : 1)) == NULL)
		diag_fatal("out of memory");
	return p;
}

char *
mem_strdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		diag_fatal("out of memory");
	return p;
}
