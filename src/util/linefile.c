/*
 * NAME
 *	linefile - read a text file of lines, with # comments
 * SYNOPSIS
 *	#include "util/linefile.h"
 *
 *	int linefile_read(path, fn, ctx, err, errlen)
 *	int linefile_read_max(path, max, fn, ctx, err, errlen)
 *	int linefile_text(name, text, fn, ctx, err, errlen)
 * DESCRIPTION
 *	The one reader of the configuration file and of the files its lists
 *	include (file:/path), so that both follow the same rules: at most
 *	LINEFILE_MAX_SIZE bytes, no NUL byte, lines ended by LF or CR LF (a
 *	last line without either counts too), at most LINEFILE_MAX_LINE
 *	bytes a line, and a '#' at the start of a line or after a space or
 *	tab starts a comment that runs to the end of the line.
 *
 *	linefile_text() calls fn(ctx, line, lineno, ctl, err, errlen) for
 *	each line of text, numbered from 1, with the line end and the
 *	comment removed; ctl is 1 when what remains holds a control
 *	character other than tab (0x01-0x1f, 0x7f). fn may change the line.
 *	linefile_read() reads the file path whole and does the same.
 *	linefile_read_max() does it for a file of at most max bytes instead
 *	of LINEFILE_MAX_SIZE (the big tables of sender_login_maps).
 * DIAGNOSTICS
 *	Both return 0, or -1 with one message in err: "NAME: reason" for the
 *	file as a whole (cannot open, read error, too large, NUL byte), or
 *	"NAME:LINE: reason" for a line, where the reason of fn follows the
 *	line number. The first error stops the reading.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/linefile.h"
#include "util/msg.h"

/* Cuts the comment; tells whether a control character is left. */
static int
linefile_strip(char *line)
{
	char	*p;
	int	 ctl = 0;

	for (p = line; *p; p++) {
		if (*p == '#' && (p == line || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			ctl = 1;
	}
	return ctl;
}

int
linefile_text(const char *name, const char *text, linefile_fn fn, void *ctx,
    char *err, size_t errlen)
{
	const char *p = text, *nl, *next;
	char	*line, sub[1024];
	size_t	 len;
	int	 lineno = 0, ctl;

	while (*p) {
		lineno++;
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		next = nl ? nl + 1 : p + len;	/* before the CR is dropped */
		if (len > LINEFILE_MAX_LINE) {
			errf(err, errlen, "%s:%d: line longer than %d bytes",
			    name, lineno, LINEFILE_MAX_LINE);
			return -1;
		}
		if (len && p[len - 1] == '\r')
			len--;
		if ((line = malloc(len + 1)) == NULL) {
			errf(err, errlen, "%s: out of memory", name);
			return -1;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		ctl = linefile_strip(line);
		if (fn(ctx, line, lineno, ctl, sub, sizeof(sub)) < 0) {
			free(line);
			errf(err, errlen, "%s:%d: %s", name, lineno, sub);
			return -1;
		}
		free(line);
		p = next;
	}
	return 0;
}

int
linefile_read(const char *path, linefile_fn fn, void *ctx, char *err,
    size_t errlen)
{
	return linefile_read_max(path, LINEFILE_MAX_SIZE, fn, ctx, err, errlen);
}

int
linefile_read_max(const char *path, size_t max, linefile_fn fn, void *ctx,
    char *err, size_t errlen)
{
	FILE	*fp;
	char	*text = NULL, *p;
	size_t	 len = 0, cap = 0, n;
	int	 rc = -1;

	if ((fp = fopen(path, "r")) == NULL) {
		errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (cap - len < 4096) {
			if (cap > max) {
				errf(err, errlen, "%s: file too large", path);
				goto out;
			}
			cap = cap ? cap * 2 : 8192;
			if ((p = realloc(text, cap)) == NULL) {
				errf(err, errlen, "%s: out of memory", path);
				goto out;
			}
			text = p;
		}
		if ((n = fread(text + len, 1, cap - len - 1, fp)) == 0)
			break;
		len += n;
	}
	if (ferror(fp)) {
		errf(err, errlen, "%s: read error: %s", path, strerror(errno));
		goto out;
	}
	if (memchr(text, '\0', len) != NULL) {
		errf(err, errlen, "%s: contains a NUL byte (not a text file)", path);
		goto out;
	}
	text[len] = '\0';
	rc = linefile_text(path, text, fn, ctx, err, errlen);
out:
	free(text);
	fclose(fp);
	return rc;
}
