/*
 * NAME
 *	input - lines of a log file, plain or gzip-compressed
 * SYNOPSIS
 *	#include "trace/input.h"
 *
 *	struct input *input_open(path, why)
 *	int input_line(in, line, len, complete)
 *	const char *input_name(in)
 *	const char *input_error(in)
 *	void input_close(in)
 * DESCRIPTION
 *	input_open() opens path for reading, or standard input when path is
 *	a null pointer or "-". Whether the data is gzip-compressed is told by
 *	its first bytes, not by the name: logrotate's delaycompress leaves a
 *	plain log.1 beside log.2.gz, and a compressed file may be renamed or
 *	arrive on a pipe. Several gzip members in a row are read as one.
 *
 *	input_line() points *line at the next line (without its newline, not
 *	NUL-terminated; NUL bytes inside are kept) and *len at its length,
 *	valid until the next call. *complete is 0 for a last line that has
 *	no newline: a log cut short while it was being written. Lines may be
 *	of any length.
 *
 *	input_name() is the name for messages ("(standard input)" for stdin).
 *	input_close() closes the file (standard input too) and frees in.
 * DIAGNOSTICS
 *	input_open() returns a null pointer and points *why at the system's
 *	reason. input_line() returns 1 for a line, 0 at the end, -1 when the
 *	data cannot be read (an I/O error, a damaged or truncated gzip stream,
 *	or data compressed by a program other than gzip); input_error() then
 *	says why.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "trace/diag.h"
#include "trace/input.h"
#include "util/strbuf.h"

#define INPUT_CHUNK	65536
#define INPUT_ONLY_GZIP	"; only gzip is read (decompress it first)"

struct input {
	gzFile	 gz;
	char	*name;
	char	*buf;
	size_t	 start, end;
	int	 first;		/* nothing read yet */
	struct strbuf line;
	const char *error;
};

/* Compressed formats we can name but not read. */
static const struct {
	const char *magic;
	size_t	 len;
	const char *error;
} input_foreign[] = {
	{ "\xfd" "7zXZ\0", 6, "compressed with xz" INPUT_ONLY_GZIP },
	{ "\x28\xb5\x2f\xfd", 4, "compressed with zstd" INPUT_ONLY_GZIP },
	{ "BZh", 3, "compressed with bzip2" INPUT_ONLY_GZIP },
};

struct input *
input_open(const char *path, const char **why)
{
	struct input *in;
	int	fd;

	if (path == NULL || strcmp(path, "-") == 0) {
		path = NULL;
		fd = dup(STDIN_FILENO);
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		*why = strerror(errno);
		return NULL;
	}
	in = mem_alloc(sizeof(*in));
	memset(in, 0, sizeof(*in));
	if ((in->gz = gzdopen(fd, "rb")) == NULL) {
		close(fd);
		diag_fatal("out of memory");
	}
	gzbuffer(in->gz, INPUT_CHUNK);
	in->name = mem_strdup(path ? path : "(standard input)");
	in->buf = mem_alloc(INPUT_CHUNK);
	in->first = 1;
	strbuf_init(&in->line);
	return in;
}

static int
input_check_foreign(struct input *in)
{
	size_t	i, have = in->end - in->start;

	if (!gzdirect(in->gz))
		return 0;
	for (i = 0; i < sizeof(input_foreign) / sizeof(input_foreign[0]); i++)
		if (have >= input_foreign[i].len
		    && memcmp(in->buf, input_foreign[i].magic, input_foreign[i].len) == 0) {
			in->error = input_foreign[i].error;
			return -1;
		}
	return 0;
}

/* Refills the buffer: 1 with data, 0 at the end, -1 on error. */
static int
input_fill(struct input *in)
{
	int	n, errnum;
	const char *msg;

	n = gzread(in->gz, in->buf, INPUT_CHUNK);
	if (n < 0) {
		msg = gzerror(in->gz, &errnum);
		in->error = errnum == Z_ERRNO ? strerror(errno) : msg;
		return -1;
	}
	if (n == 0) {
		gzerror(in->gz, &errnum);
		if (errnum == Z_BUF_ERROR) {
			in->error = "the gzip data ends early (file cut short?)";
			return -1;
		}
	}
	in->start = 0;
	in->end = (size_t)n;
	if (in->first && n > 0) {
		in->first = 0;
		if (input_check_foreign(in) < 0)
			return -1;
	}
	return n > 0;
}

int
input_line(struct input *in, const char **line, size_t *len, int *complete)
{
	const char *nl;
	size_t	n;
	int	r;

	strbuf_reset(&in->line);
	for (;;) {
		if (in->start < in->end) {
			n = in->end - in->start;
			nl = memchr(in->buf + in->start, '\n', n);
			if (nl != NULL)
				n = (size_t)(nl - (in->buf + in->start));
			strbuf_append(&in->line, in->buf + in->start, n);
			if (strbuf_failed(&in->line))
				diag_fatal("%s: out of memory (a line too long?)", in->name);
			in->start += n;
			if (nl != NULL) {
				in->start++;
				*complete = 1;
				break;
			}
		}
		if ((r = input_fill(in)) < 0)
			return -1;
		if (r == 0) {
			if (in->line.len == 0)
				return 0;
			*complete = 0;
			break;
		}
	}
	*line = strbuf_str(&in->line);
	*len = in->line.len;
	return 1;
}

const char *
input_name(const struct input *in)
{
	return in->name;
}

const char *
input_error(const struct input *in)
{
	return in->error ? in->error : "read error";
}

void
input_close(struct input *in)
{
	gzclose(in->gz);
	strbuf_free(&in->line);
	free(in->buf);
	free(in->name);
	free(in);
}
