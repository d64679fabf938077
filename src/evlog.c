/*
 * NAME
 *	evlog - structured event log (JSON Lines)
 * SYNOPSIS
 *	#include "evlog.h"
 *
 *	struct evlog *evlog_open(cfg, foreground, err, errlen)
 *	struct evlog *evlog_memory(level, max_value)
 *	void evlog_close(log)
 *	int evlog_reopen(log, err, errlen)
 *	void evlog_set_levels(log, level, max_value)
 *	void evlog_set_syslog_socket(path)
 *
 *	void evlog_begin(line, log, buf, session, seq, event)
 *	void evlog_str(line, key, value), evlog_int(...), evlog_bool(...), ...
 *	int evlog_end(line)
 *
 *	int evlog_start(log, err, errlen)
 *	void evlog_flush(log)
 *
 *	void evlog_write_counts(log, lines, writes)
 *	size_t evlog_queued(log)
 *	void evlog_set_write_hook(hook, arg)
 * DESCRIPTION
 *	An evlog is a set of sinks (files, stderr, syslog, or a memory buffer
 *	for tests) plus the level filter and the value bound. It is shared by
 *	all threads; nothing in it changes while lines are written except the
 *	files behind the descriptors, which evlog_reopen() swaps atomically
 *	(dup3), for log rotation, and each sink's note of a line cut short,
 *	kept under that sink's lock. The syslog sink is a client of its own
 *	(util/syslogc.c), not glibc's syslog(), which can block without end
 *	when syslogd stalls; evlog_set_syslog_socket() names another socket
 *	than /dev/log (tests), before evlog_open().
 *
 *	A line is built in a caller-owned buffer (one per session, reused, so
 *	the hot path does not allocate once warm) with evlog_begin(), which
 *	writes ts, session, seq and event, then one call a field, then
 *	evlog_end(), which hands the line to every sink and returns once
 *	each has written it (or lost it): the caller's verdict never reaches
 *	the MTA before the lines that explain it reach the kernel. A file or
 *	stderr sink commits in groups: a thread that finds a write in
 *	progress queues its line in the sink's buffer and waits for the
 *	writer's lock, as it would for a plain lock; whoever gets the lock
 *	next writes every line queued by then in one write(2), and the
 *	threads whose lines that write carried return without writing.
 *	Alone, a line costs one write(2); lines that meet a write in
 *	progress share one. Lines are whole in the buffer and one writer writes at a
 *	time, so lines longer than PIPE_BUF on a pipe (stderr, a FIFO) do not
 *	interleave either. Files are opened O_APPEND.
 *
 *	log_flush = N (opt-in) buffers lines instead, once evlog_start() has
 *	started the flusher thread (after the daemon forks; before, lines are
 *	written as above): evlog_end() queues the line and returns, and the
 *	flusher writes the queue every N ms; the line that takes a sink's
 *	queue past 64 KiB writes it at once, and a line that finds 64 KiB
 *	queued waits for its write, so the queue stays bounded when the sink
 *	is slow. evlog_flush() writes what is queued now; evlog_close()
 *	stops the flusher and writes the rest. A crash loses at most the
 *	lines of the last N ms.
 *
 *	evlog_write_counts() adds up, over the descriptor sinks, the lines
 *	handed to them and the write batches they took (benchmarks, tests);
 *	evlog_queued() counts the lines waiting for a writer, and
 *	evlog_set_write_hook() names a function that each writer calls with
 *	its batch taken, before it writes (tests only).
 *
 *	evlog_set_levels() changes log_level and log_max_value in place (a
 *	reload); lines under construction may see either setting.
 *
 *	Every string from the wire goes through json_put_string(): invalid
 *	UTF-8 as \xNN, a backslash as two (so the bytes can be recovered),
 *	escaped as JSON, cut at log_max_value bytes with a mark.
 *
 *	With log_chain, each line ends in a mac chained over the lines
 *	(util/chain.c), computed and written under a lock so that lines
 *	reach the file in chain order; every file starts with a "chain" line
 *	naming the mac before it (the rotated file's last, or the last of the
 *	file before a restart, read back at open).
 *
 *	With log_level = decisions, only connect, rcpt, anomaly and close lines
 *	are written; evlog_begin() marks other lines skipped and the field
 *	calls cost nothing.
 * DIAGNOSTICS
 *	evlog_open() and evlog_reopen() return NULL/-1 with a message naming
 *	the file. A line that a sink cannot take whole is counted as lost
 *	(evlog_lost(), once a sink); evlog_end() returns -1 then, and the
 *	first line that gets through afterwards reports the loss as a
 *	warning. A line that a sink took only in part is ended with a
 *	newline (at once, or before the next line), so that it stays one
 *	broken line and the next line starts clean; the lines queued after
 *	it in the same batch are lost, each counted. Sinks are non-blocking:
 *	a full one (a pipe nobody reads, a syslogd that does not read) delays
 *	a line by at most 100 ms from its arrival (a batch is bounded by the
 *	time left to its oldest line), so the log never stalls mail longer.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "evlog.h"
#include "util/chain.h"
#include "util/json.h"
#include "util/msg.h"
#include "util/syslogc.h"
#include "util/writeall.h"

#define EVLOG_MAX_FILES	8
#define EVLOG_WAIT_MS_DEFAULT 100	/* the longest a full sink may delay mail */

/* The bound in force: EVLOG_WAIT_MS_DEFAULT, or a test's own (see below). */
static _Atomic int evlog_wait_ms = EVLOG_WAIT_MS_DEFAULT;
#define EVLOG_WAIT_MS	atomic_load_explicit(&evlog_wait_ms, memory_order_relaxed)

/*
 * A descriptor sink's own state (group commit). Two locks: the writer's,
 * held across a write(2) as a rule is, and the queue's, held for a few
 * instructions at a time. A thread with a line takes the writer's lock
 * at once if the sink is idle and writes the line itself. If a write is
 * in progress it queues the line, notes itself as a waiter, and sleeps
 * on the writer's lock (the wait a plain lock costs anyway); once it has
 * the lock, its line has either been written by the writer before it,
 * together with every line queued then, or it is still queued and this
 * thread writes it, together with every line queued now, in one write.
 * Either way the line is out before the thread returns, so a line has
 * reached the kernel before the callback that produced it answers the
 * MTA. torn (under the writer's lock) says that the last write stopped
 * part-way through a line which still lacks its newline; that newline
 * is written before anything else.
 */
struct waiter {
	struct waiter	*next;
	size_t		 end;		/* where the line ends in its batch */
	size_t		 len;
	long long	 deadline;	/* arrival + EVLOG_WAIT_MS */
	int		 taken;		/* a writer has the line in hand */
	int		 state;		/* WAIT_QUEUED, WAIT_OK, WAIT_LOST */
};

#define WAIT_QUEUED	0
#define WAIT_OK		1
#define WAIT_LOST	2

#define EVLOG_KEEP_BUF	(256 * 1024)	/* batch buffers above this are freed */
#define EVLOG_BUFFER	(64 * 1024)	/* log_flush: written at once past this */

struct sink {
	pthread_mutex_t	 wlock;		/* the writer's, across a write */
	int		 torn;		/* under wlock */
	pthread_mutex_t	 qlock;		/* the queue's; the rest is under it */
	struct strbuf	 pending;	/* queued lines, whole, in order */
	struct strbuf	 spare;		/* the other buffer, while not in use */
	struct waiter	*head, *tail;	/* the waiters of pending, in order */
	unsigned long long lines, writes;
};

struct evlog {
	_Atomic int	 level;		/* enum sg_log_level; reloadable */
	atomic_size_t	 max_value;	/* reloadable */
	int		 use_syslog;
	struct syslogc	 sys;		/* our own client: bounded, unlike syslog() */
	int		 use_stderr;
	size_t		 nfiles;
	char		*paths[EVLOG_MAX_FILES];
	_Atomic int	 fds[EVLOG_MAX_FILES];
	struct sink	 files[EVLOG_MAX_FILES];
	struct sink	 err;		/* stderr */
	atomic_ullong	 lost;
	atomic_ullong	 pending;	/* lost since the last report */
	int		 memory;
	int		 has_sink;	/* any sink at all (log = none: no) */
	unsigned	 flush_ms;	/* log_flush: 0 lossless, else buffered */
	_Atomic int	 buffered;	/* log_flush > 0 and evlog_start() done */
	int		 flusher_on;
	int		 stopping;	/* under flushlock */
	pthread_t	 flusher;
	pthread_mutex_t	 flushlock;
	pthread_cond_t	 flushcond;
	pthread_mutex_t	 memlock;
	struct strbuf	 membuf;
	int		 chain;		/* log_chain: lines carry a chained mac */
	struct pseudo_key key;
	struct chain	 mac;		/* HMAC fetched once, over key */
	pthread_mutex_t	 chainlock;	/* orders lines: mac, then write */
	char		 prev[CHAIN_HEX + 1];
	unsigned	 chainseq;
	struct strbuf	 chainbuf;
};

static void evlog_chain_link(struct evlog *);
static void evlog_stop(struct evlog *);

/* Where syslogd listens; tests point it elsewhere. */
static const char *evlog_syslog_path = SYSLOGC_PATH;

void
evlog_set_syslog_socket(const char *path)
{
	evlog_syslog_path = path ? path : SYSLOGC_PATH;
}

static void
sink_init(struct sink *sk)
{
	memset(sk, 0, sizeof(*sk));
	pthread_mutex_init(&sk->wlock, NULL);
	pthread_mutex_init(&sk->qlock, NULL);
	strbuf_init(&sk->pending);
	strbuf_init(&sk->spare);
}

static void
sink_free(struct sink *sk)
{
	pthread_mutex_destroy(&sk->wlock);
	pthread_mutex_destroy(&sk->qlock);
	strbuf_free(&sk->pending);
	strbuf_free(&sk->spare);
}

static void
evlog_sinks_init(struct evlog *log)
{
	size_t	i;

	for (i = 0; i < EVLOG_MAX_FILES; i++)
		sink_init(&log->files[i]);
	sink_init(&log->err);
}

/*
 * The mac of the last line of a log file, so that a restart continues
 * the chain ("" when the file is empty or new).
 */
static void
last_mac(const char *path, char *prev)
{
	char	buf[8192];
	ssize_t	n;
	off_t	size;
	size_t	len, body;
	char	*end, *start;
	int	fd;

	prev[0] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > 0 && lseek(fd, size > (off_t)sizeof(buf) - 1 ?
	    size - (off_t)sizeof(buf) + 1 : 0, SEEK_SET) >= 0
	    && (n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		end = buf + n;
		while (end > buf && end[-1] == '\n')
			end--;
		*end = '\0';
		start = strrchr(buf, '\n');
		start = start ? start + 1 : buf;
		len = (size_t)(end - start);
		if (chain_split(start, len, &body, prev) < 0)
			prev[0] = '\0';
	}
	close(fd);
}

static int
evlog_chain_start(struct evlog *log, const struct sg_config *cfg, char *err,
    size_t errlen)
{
	log->chain = 1;
	pthread_mutex_init(&log->chainlock, NULL);
	strbuf_init(&log->chainbuf);
	if ((log->key.bytes = malloc(cfg->log_key.len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(log->key.bytes, cfg->log_key.bytes, cfg->log_key.len);
	log->key.len = cfg->log_key.len;
	if (chain_init(&log->mac, &log->key) < 0) {
		snprintf(err, errlen, "log_chain: OpenSSL offers no HMAC");
		return -1;
	}
	if (log->nfiles > 0)
		last_mac(log->paths[0], log->prev);
	evlog_chain_link(log);
	return 0;
}

static int
evlog_open_file(const char *path, char *err, size_t errlen)
{
	int	fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY
	    | O_NONBLOCK,
	    0640);
	if (fd < 0)
		snprintf(err, errlen, "log file %s: %s", path, strerror(errno));
	return fd;
}

struct evlog *
evlog_open(const struct sg_config *cfg, int foreground, char *err,
    size_t errlen)
{
	struct evlog *log;
	size_t	i;
	int	fd;

	if (cfg->log_files.n > EVLOG_MAX_FILES) {
		snprintf(err, errlen, "log: at most %d files", EVLOG_MAX_FILES);
		return NULL;
	}
	if ((log = calloc(1, sizeof(*log))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&log->level, (int)cfg->log_level);
	atomic_init(&log->max_value, cfg->log_max_value);
	log->flush_ms = cfg->log_flush;
	evlog_sinks_init(log);
	if (foreground && !cfg->log_explicit) {
		log->use_stderr = 1;
	} else {
		log->use_syslog = cfg->log_syslog;
		log->use_stderr = cfg->log_stderr;
	}
	/* a pipe or socket on stderr must not stall mail either */
	if (log->use_stderr && !isatty(STDERR_FILENO)) {
		int	fl = fcntl(STDERR_FILENO, F_GETFL);

		if (fl >= 0)
			fcntl(STDERR_FILENO, F_SETFL, fl | O_NONBLOCK);
	}
	if (log->use_syslog && syslogc_open(&log->sys, evlog_syslog_path,
	    "sessguard", cfg->syslog_facility) < 0) {
		snprintf(err, errlen, "log = syslog: cannot make a socket: %s",
		    strerror(errno));
		log->use_syslog = 0;
		evlog_close(log);
		return NULL;
	}
	for (i = 0; i < cfg->log_files.n; i++) {
		if ((fd = evlog_open_file(cfg->log_files.v[i], err, errlen)) < 0
		    || (log->paths[i] = strdup(cfg->log_files.v[i])) == NULL) {
			if (fd >= 0) {
				close(fd);
				snprintf(err, errlen, "out of memory");
			}
			log->nfiles = i;
			evlog_close(log);
			return NULL;
		}
		atomic_store(&log->fds[i], fd);
		log->nfiles = i + 1;
	}
	log->has_sink = log->use_syslog || log->use_stderr || log->nfiles > 0;
	if (cfg->log_chain && evlog_chain_start(log, cfg, err, errlen) < 0) {
		evlog_close(log);
		return NULL;
	}
	return log;
}

struct evlog *
evlog_memory(enum sg_log_level level, size_t max_value)
{
	struct evlog *log;

	if ((log = calloc(1, sizeof(*log))) == NULL)
		return NULL;
	atomic_init(&log->level, (int)level);
	atomic_init(&log->max_value, max_value);
	evlog_sinks_init(log);
	log->memory = 1;
	log->has_sink = 1;
	pthread_mutex_init(&log->memlock, NULL);
	strbuf_init(&log->membuf);
	return log;
}

const char *
evlog_memory_text(struct evlog *log)
{
	return strbuf_str(&log->membuf);
}

void
evlog_memory_clear(struct evlog *log)
{
	strbuf_reset(&log->membuf);
}

void
evlog_close(struct evlog *log)
{
	size_t	i;

	if (log == NULL)
		return;
	evlog_stop(log);
	if (log->use_syslog)
		syslogc_close(&log->sys);
	for (i = 0; i < log->nfiles; i++) {
		close(atomic_load(&log->fds[i]));
		free(log->paths[i]);
	}
	if (log->memory) {
		strbuf_free(&log->membuf);
		pthread_mutex_destroy(&log->memlock);
	}
	for (i = 0; i < EVLOG_MAX_FILES; i++)
		sink_free(&log->files[i]);
	sink_free(&log->err);
	if (log->chain) {
		chain_free(&log->mac);
		pseudo_key_free(&log->key);
		strbuf_free(&log->chainbuf);
		pthread_mutex_destroy(&log->chainlock);
	}
	free(log);
}

int
evlog_reopen(struct evlog *log, char *err, size_t errlen)
{
	size_t	i;
	int	fd, old, rc = 0;

	/*
	 * dup3() puts the new file behind the same descriptor number in one
	 * step: a concurrent write() goes to the old file or the new one,
	 * never to a closed descriptor.
	 */
	for (i = 0; i < log->nfiles; i++) {
		if ((fd = evlog_open_file(log->paths[i], err, errlen)) < 0) {
			rc = -1;
			continue;
		}
		old = atomic_load(&log->fds[i]);
		/* a batch in flight goes to the old file whole */
		pthread_mutex_lock(&log->files[i].wlock);
		/* the old file's last line gets its newline if it can */
		if (log->files[i].torn && write_buf(old, "\n", 1, 0, NULL) == 0)
			log->files[i].torn = 0;
		if (dup3(fd, old, O_CLOEXEC) < 0) {
			snprintf(err, errlen, "log file %s: dup3: %s",
			    log->paths[i], strerror(errno));
			rc = -1;
		} else {
			log->files[i].torn = 0;	/* a new file starts clean */
		}
		pthread_mutex_unlock(&log->files[i].wlock);
		close(fd);
	}
	if (log->chain)
		evlog_chain_link(log);
	return rc;
}

unsigned long long
evlog_lost(const struct evlog *log)
{
	return atomic_load(&log->lost);
}

size_t
evlog_max_value(const struct evlog *log)
{
	return atomic_load_explicit(&log->max_value, memory_order_relaxed);
}

void
evlog_set_levels(struct evlog *log, enum sg_log_level level, size_t max_value)
{
	atomic_store(&log->level, (int)level);
	atomic_store(&log->max_value, max_value);
}

int
evlog_wants(const struct evlog *log, const char *event)
{
	if (atomic_load_explicit(&log->level, memory_order_relaxed)
	    == LOG_LEVEL_COMMANDS)
		return 1;
	return strcmp(event, "connect") == 0 || strcmp(event, "chain") == 0 || strcmp(event, "rcpt") == 0
	    || strcmp(event, "anomaly") == 0 || strcmp(event, "close") == 0;
}

static char *
put_digits(char *p, unsigned long v, int width)
{
	int	i;

	for (i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

/*
 * RFC 3339 UTC with microseconds, formatted by hand: every log line has
 * one, and gmtime_r() plus snprintf() cost more than the rest of a line.
 * The civil date from days since the epoch follows H. Hinnant's
 * days_from_civil inverse (proleptic Gregorian calendar).
 */
void
evlog_timestamp(char *buf, size_t size)
{
	struct timespec ts;
	long long days, z, era, doe, yoe, y, doy, mp, d, m, secs;
	char	tmp[32], *p = tmp;

	clock_gettime(CLOCK_REALTIME, &ts);
	days = ts.tv_sec / 86400;
	secs = ts.tv_sec % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;
	p = put_digits(p, (unsigned long)y, 4);
	*p++ = '-';
	p = put_digits(p, (unsigned long)m, 2);
	*p++ = '-';
	p = put_digits(p, (unsigned long)d, 2);
	*p++ = 'T';
	p = put_digits(p, (unsigned long)(secs / 3600), 2);
	*p++ = ':';
	p = put_digits(p, (unsigned long)(secs / 60 % 60), 2);
	*p++ = ':';
	p = put_digits(p, (unsigned long)(secs % 60), 2);
	*p++ = '.';
	p = put_digits(p, (unsigned long)(ts.tv_nsec / 1000), 6);
	*p++ = 'Z';
	*p = '\0';
	snprintf(buf, size, "%s", tmp);
}

/* Appends a decimal integer without printf. */
static void
put_int(struct strbuf *sb, long long v)
{
	char	tmp[24], *p = tmp + sizeof(tmp);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v
	    : (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	strbuf_append(sb, p, (size_t)(tmp + sizeof(tmp) - p));
}

static void
evlog_key(struct evline *l, const char *key)
{
	if (!l->first)
		strbuf_putc(l->sb, ',');
	l->first = 0;
	if (key) {
		strbuf_putc(l->sb, '"');
		strbuf_puts(l->sb, key);
		strbuf_append(l->sb, "\":", 2);
	}
}

void
evlog_begin(struct evline *l, struct evlog *log, struct strbuf *sb,
    const char *session, unsigned seq, const char *event)
{
	char	ts[40];

	l->log = log;
	l->sb = sb;
	l->depth = 0;
	l->first = 1;
	/* no sink, or a level that drops it: build nothing */
	l->skip = log == NULL || !log->has_sink || !evlog_wants(log, event);
	if (l->skip)
		return;
	strbuf_reset(sb);
	evlog_timestamp(ts, sizeof(ts));
	strbuf_append(sb, "{\"ts\":\"", 7);
	strbuf_puts(sb, ts);
	strbuf_append(sb, "\",\"session\":", 12);
	json_put_cstring(sb, session, 0);
	strbuf_append(sb, ",\"seq\":", 7);
	put_int(sb, seq);
	strbuf_append(sb, ",\"event\":\"", 10);
	strbuf_puts(sb, event);
	strbuf_putc(sb, '"');
	l->first = 0;
}

void
evlog_strn(struct evline *l, const char *key, const char *val, size_t len)
{
	if (l->skip)
		return;
	evlog_key(l, key);
	json_put_string(l->sb, val, len, evlog_max_value(l->log));
}

void
evlog_str(struct evline *l, const char *key, const char *val)
{
	if (l->skip)
		return;
	evlog_key(l, key);
	json_put_cstring(l->sb, val, evlog_max_value(l->log));
}

/*
 * sessguard's own words (kinds, verdicts, reasons, details): not cut at
 * log_max_value, which bounds values from the wire; their buffers bound
 * them, and tools search them for fixed phrases.
 */
void
evlog_text(struct evline *l, const char *key, const char *val)
{
	if (l->skip)
		return;
	evlog_key(l, key);
	json_put_cstring(l->sb, val, 0);
}

void
evlog_int(struct evline *l, const char *key, long long val)
{
	if (l->skip)
		return;
	evlog_key(l, key);
	put_int(l->sb, val);
}

void
evlog_bool(struct evline *l, const char *key, int val)
{
	if (l->skip)
		return;
	evlog_key(l, key);
	strbuf_puts(l->sb, val ? "true" : "false");
}

void
evlog_null(struct evline *l, const char *key)
{
	if (l->skip)
		return;
	evlog_key(l, key);
	strbuf_puts(l->sb, "null");
}

void
evlog_obj_begin(struct evline *l, const char *key)
{
	if (l->skip)
		return;
	evlog_key(l, key);
	strbuf_putc(l->sb, '{');
	l->first = 1;
	l->depth++;
}

void
evlog_obj_end(struct evline *l)
{
	if (l->skip)
		return;
	strbuf_putc(l->sb, '}');
	l->first = 0;
	l->depth--;
}

void
evlog_arr_begin(struct evline *l, const char *key)
{
	if (l->skip)
		return;
	evlog_key(l, key);
	strbuf_putc(l->sb, '[');
	l->first = 1;
	l->depth++;
}

void
evlog_arr_str(struct evline *l, const char *val)
{
	evlog_str(l, NULL, val);
}

void
evlog_arr_end(struct evline *l)
{
	if (l->skip)
		return;
	strbuf_putc(l->sb, ']');
	l->first = 0;
	l->depth--;
}

static long long
evlog_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count_lost(struct evlog *);
static void report_recovery(struct evlog *);

/* Milliseconds left until deadline, 0 when it has passed. */
static long long
evlog_ms_left(long long deadline)
{
	long long left = deadline - evlog_now_ms();

	return left < 0 ? 0 : left;
}

/* Tests: called by a writer with its batch taken, before it writes. */
static void (*evlog_write_hook)(void *);
static void *evlog_write_hook_arg;

void
evlog_set_write_hook(void (*hook)(void *), void *arg)
{
	evlog_write_hook = hook;
	evlog_write_hook_arg = arg;
}

/*
 * Writes data (whole lines) to fd, first the newline that a line cut
 * short before still lacks (*torn), within deadline. Returns 0, or -1
 * with *done bytes of data written; *torn says whether the sink now
 * lacks a newline.
 *
 * A write that stops part-way (the time is up, the disk is full) keeps
 * the lines before the stop; the line it stopped in is ended at once
 * with a newline if the sink takes one, or else before the next write,
 * so the next line always starts a line of its own and the broken line
 * is one line, lost; the lines after it are not written at all, lost.
 * Data that cannot get its predecessor's newline out first is not
 * written at all.
 */
static int
sink_put(int fd, const char *data, size_t len, long long deadline,
    int *torn, size_t *done)
{
	int	rc = -1;

	*done = 0;
	if (*torn && write_buf(fd, "\n", 1, (int)evlog_ms_left(deadline),
	    NULL) < 0)
		return -1;
	*torn = 0;
	rc = write_buf(fd, data, len, (int)evlog_ms_left(deadline), done);
	if (rc < 0 && *done > 0 && data[*done - 1] != '\n'
	    && write_buf(fd, "\n", 1, 0, NULL) < 0)
		*torn = 1;
	return rc;
}

/*
 * The writer's part, called with both locks held; returns with the
 * writer's lock held and the queue's released: takes every queued line
 * and writes them in one go, the queue free meanwhile, within the time
 * left to the oldest waiter's line (the descriptors are non-blocking),
 * then notes for each waiter how its line fared.
 *
 * Buffered lines (log_flush) have no waiter: the writer counts those of
 * them that it could not write, and a batch of them only gets a time
 * bound of its own.
 */
static void
sink_lead(struct evlog *log, struct sink *sk, int fd)
{
	struct strbuf batch = sk->pending;
	struct waiter *w, *list = sk->head;
	long long deadline = list ? list->deadline
	    : evlog_now_ms() + EVLOG_WAIT_MS;
	size_t	done = 0, off, nlost = 0;
	const char *nl;
	int	rc, torn = sk->torn;

	for (w = list; w != NULL; w = w->next)
		w->taken = 1;
	sk->pending = sk->spare;
	strbuf_init(&sk->spare);
	sk->head = sk->tail = NULL;
	sk->writes++;
	pthread_mutex_unlock(&sk->qlock);

	if (evlog_write_hook)
		evlog_write_hook(evlog_write_hook_arg);
	rc = sink_put(fd, batch.data, batch.len, deadline, &torn, &done);
	sk->torn = torn;
	/* the lines not written: those from the one cut short on */
	for (off = done; rc < 0 && off < batch.len
	    && (nl = memchr(batch.data + off, '\n', batch.len - off)) != NULL;
	    off = (size_t)(nl - batch.data) + 1)
		nlost++;

	pthread_mutex_lock(&sk->qlock);
	for (w = list; w != NULL; w = w->next) {
		w->state = rc == 0 || w->end <= done ? WAIT_OK : WAIT_LOST;
		if (w->state == WAIT_LOST)
			nlost--;	/* a waiter counts its own */
	}
	while (nlost-- > 0)
		count_lost(log);
	if (rc == 0 && list == NULL)
		report_recovery(log);
	if (batch.cap > EVLOG_KEEP_BUF)
		strbuf_free(&batch);
	strbuf_reset(&batch);
	sk->spare = batch;
	pthread_mutex_unlock(&sk->qlock);
}

/*
 * Takes the writer's lock for a queued line, waiting until the line's
 * deadline at most (the old rule: a stuck write, such as one to a hung
 * disk, holds up no other thread's mail for longer). When the time is
 * up and no writer has the line in hand yet, the line leaves the queue
 * and -1 says it is lost; a line a writer has in hand waits for that
 * writer, whose write is bounded by the same deadline or an earlier
 * one. Returns 0 with the writer's lock held.
 */
static int
sink_wait(struct sink *sk, struct waiter *me)
{
	struct timespec until;
	struct waiter **pp;

	/*
	 * pthread_mutex_timedlock, not _clocklock: GCC 12's ThreadSanitizer
	 * does not intercept the latter and then reports every unlock. A
	 * wall-clock step only lengthens or shortens this one wait; writes
	 * are bounded on the monotonic deadline.
	 */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)evlog_ms_left(me->deadline) * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	if (pthread_mutex_timedlock(&sk->wlock, &until) == 0)
		return 0;
	pthread_mutex_lock(&sk->qlock);
	if (me->taken || me->state != WAIT_QUEUED) {
		pthread_mutex_unlock(&sk->qlock);
		pthread_mutex_lock(&sk->wlock);
		return 0;
	}
	/* cut the line out of the queue; the lines after it move up */
	for (pp = &sk->head; *pp != me; pp = &(*pp)->next)
		;
	*pp = me->next;
	if (sk->tail == me) {
		sk->tail = NULL;
		for (pp = &sk->head; *pp != NULL; pp = &(*pp)->next)
			sk->tail = *pp;
	}
	memmove(sk->pending.data + me->end - me->len,
	    sk->pending.data + me->end, sk->pending.len - me->end + 1);
	sk->pending.len -= me->len;
	for (pp = &me->next; *pp != NULL; pp = &(*pp)->next)
		(*pp)->end -= me->len;
	pthread_mutex_unlock(&sk->qlock);
	return -1;
}

/*
 * Hands one line to a descriptor sink and returns once it is written
 * (or lost). Every line is written whole or counted lost, within
 * EVLOG_WAIT_MS of its arrival as a rule: a write is bounded by the time
 * left to the oldest line it carries, and a line queued behind a write
 * arrived after every line of that write.
 * Returns 0, or -1 for a line lost.
 *
 * Buffered (log_flush, after evlog_start()): the line is queued and the
 * call returns at once; the flusher writes the queue every log_flush ms,
 * and the thread whose line takes it past EVLOG_BUFFER bytes writes it
 * then, if no write is in progress. A line that finds EVLOG_BUFFER bytes
 * queued already (the sink is slower than the lines come) waits for its
 * write as above: the buffer stays bounded.
 */
static int
sink_write(struct evlog *log, struct sink *sk, int fd, const char *p,
    size_t len)
{
	struct waiter me;
	long long deadline;
	size_t	done;
	int	rc, torn, buffered = atomic_load_explicit(&log->buffered,
		    memory_order_relaxed);

	pthread_mutex_lock(&sk->qlock);
	/* a full buffer holds the threads that add to it: memory bounded */
	if (buffered && sk->pending.len >= EVLOG_BUFFER)
		buffered = 0;
	/* an idle sink: the line goes out from the caller's buffer */
	if (!buffered && sk->pending.len == 0
	    && pthread_mutex_trylock(&sk->wlock) == 0) {
		sk->writes++;
		sk->lines++;
		pthread_mutex_unlock(&sk->qlock);
		deadline = evlog_now_ms() + EVLOG_WAIT_MS;
		if (evlog_write_hook)
			evlog_write_hook(evlog_write_hook_arg);
		torn = sk->torn;
		rc = sink_put(fd, p, len, deadline, &torn, &done);
		sk->torn = torn;
		pthread_mutex_unlock(&sk->wlock);
		return rc;
	}
	strbuf_append(&sk->pending, p, len);
	if (strbuf_failed(&sk->pending)) {	/* no memory: not queued */
		sk->pending.failed = 0;
		pthread_mutex_unlock(&sk->qlock);
		return -1;
	}
	sk->lines++;
	if (buffered) {
		if (sk->pending.len >= EVLOG_BUFFER
		    && pthread_mutex_trylock(&sk->wlock) == 0) {
			sink_lead(log, sk, fd);
			pthread_mutex_unlock(&sk->wlock);
		} else {
			pthread_mutex_unlock(&sk->qlock);
		}
		return 0;
	}
	me.next = NULL;
	me.end = sk->pending.len;
	me.len = len;
	me.deadline = evlog_now_ms() + EVLOG_WAIT_MS;
	me.taken = 0;
	me.state = WAIT_QUEUED;
	if (sk->tail)
		sk->tail->next = &me;
	else
		sk->head = &me;
	sk->tail = &me;
	pthread_mutex_unlock(&sk->qlock);

	/* no write is out once this is ours: the line is written, or queued */
	if (sink_wait(sk, &me) < 0)
		return -1;			/* not written: out of the queue */
	pthread_mutex_lock(&sk->qlock);
	if (me.state == WAIT_QUEUED)
		sink_lead(log, sk, fd);		/* mine and all queued since */
	else
		pthread_mutex_unlock(&sk->qlock);
	pthread_mutex_unlock(&sk->wlock);
	return me.state == WAIT_OK ? 0 : -1;
}

/*
 * Writes what a sink has queued (log_flush), after the write in progress
 * if there is one.
 */
static void
sink_flush(struct evlog *log, struct sink *sk, int fd)
{
	pthread_mutex_lock(&sk->wlock);
	pthread_mutex_lock(&sk->qlock);
	if (sk->pending.len > 0)
		sink_lead(log, sk, fd);
	else
		pthread_mutex_unlock(&sk->qlock);
	pthread_mutex_unlock(&sk->wlock);
}

void
evlog_flush(struct evlog *log)
{
	size_t	i;

	for (i = 0; i < log->nfiles; i++)
		sink_flush(log, &log->files[i], atomic_load(&log->fds[i]));
	if (log->use_stderr)
		sink_flush(log, &log->err, STDERR_FILENO);
}

static void *
evlog_flusher(void *arg)
{
	struct evlog *log = arg;
	struct timespec until;

	pthread_mutex_lock(&log->flushlock);
	while (!log->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += log->flush_ms / 1000;
		until.tv_nsec += (long)(log->flush_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!log->stopping && pthread_cond_timedwait(&log->flushcond,
		    &log->flushlock, &until) == 0)
			;
		pthread_mutex_unlock(&log->flushlock);
		evlog_flush(log);
		pthread_mutex_lock(&log->flushlock);
	}
	pthread_mutex_unlock(&log->flushlock);
	return NULL;
}

int
evlog_start(struct evlog *log, char *err, size_t errlen)
{
	pthread_condattr_t ca;
	sigset_t all, old;
	int	rc;

	if (log == NULL || log->memory || log->flush_ms == 0 || log->flusher_on
	    || (log->nfiles == 0 && !log->use_stderr))
		return 0;
	pthread_mutex_init(&log->flushlock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&log->flushcond, &ca);
	pthread_condattr_destroy(&ca);
	log->stopping = 0;
	/*
	 * The flusher takes no signal: libmilter's signal thread must get
	 * SIGTERM, or its default action kills the process, buffer and all.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&log->flusher, NULL, evlog_flusher, log);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "log_flush: cannot start the log "
		    "flusher: %s", strerror(rc));
		pthread_mutex_destroy(&log->flushlock);
		pthread_cond_destroy(&log->flushcond);
		return -1;
	}
	log->flusher_on = 1;
	atomic_store(&log->buffered, 1);
	return 0;
}

/* Stops the flusher and writes what is left (evlog_close). */
static void
evlog_stop(struct evlog *log)
{
	if (!log->flusher_on)
		return;
	atomic_store(&log->buffered, 0);
	pthread_mutex_lock(&log->flushlock);
	log->stopping = 1;
	pthread_cond_signal(&log->flushcond);
	pthread_mutex_unlock(&log->flushlock);
	pthread_join(log->flusher, NULL);
	pthread_mutex_destroy(&log->flushlock);
	pthread_cond_destroy(&log->flushcond);
	log->flusher_on = 0;
	evlog_flush(log);
}

void
evlog_write_counts(struct evlog *log, unsigned long long *lines,
    unsigned long long *writes)
{
	struct sink *sk;
	size_t	i;

	*lines = *writes = 0;
	for (i = 0; i <= EVLOG_MAX_FILES; i++) {
		sk = i < EVLOG_MAX_FILES ? &log->files[i] : &log->err;
		pthread_mutex_lock(&sk->qlock);
		*lines += sk->lines;
		*writes += sk->writes;
		pthread_mutex_unlock(&sk->qlock);
	}
}

size_t
evlog_queued(struct evlog *log)
{
	struct waiter *w;
	struct sink *sk;
	size_t	i, n = 0;

	for (i = 0; i <= EVLOG_MAX_FILES; i++) {
		sk = i < EVLOG_MAX_FILES ? &log->files[i] : &log->err;
		pthread_mutex_lock(&sk->qlock);
		for (w = sk->head; w != NULL; w = w->next)
			n++;
		pthread_mutex_unlock(&sk->qlock);
	}
	return n;
}

/* After a failure, the first line that gets through reports the loss. */
static void
report_recovery(struct evlog *log)
{
	unsigned long long n;

	if (atomic_load_explicit(&log->pending, memory_order_relaxed) == 0)
		return;
	if ((n = atomic_exchange(&log->pending, 0)) > 0)
		msg_warn("event log: %llu line%s lost while a log sink failed "
		    "(%llu in all); it takes lines again", n, n == 1 ? "" : "s",
		    (unsigned long long)atomic_load(&log->lost));
}

static void
count_lost(struct evlog *log)
{
	atomic_fetch_add(&log->lost, 1);
	atomic_fetch_add(&log->pending, 1);
}

static int chain_end(struct evlog *, struct strbuf *, int);
static int write_sinks(struct evlog *, struct strbuf *);

int
evlog_end(struct evline *l)
{
	struct evlog *log = l->log;
	struct strbuf *sb = l->sb;

	if (l->skip)
		return 0;
	if (log->chain)
		return chain_end(log, sb, l->depth);
	strbuf_append(sb, "}\n", 2);
	if (strbuf_failed(sb) || l->depth != 0) {
		count_lost(log);
		strbuf_reset(sb);
		return -1;
	}
	return write_sinks(log, sb);
}

/*
 * log_chain: the mac covers the previous line's mac and this line, so
 * lines must reach the sinks in the order their macs were made: compute
 * and write under one lock (formatting stays outside it).
 */
static int
chain_end_locked(struct evlog *log, struct strbuf *sb)
{
	char	mac[CHAIN_HEX + 1];
	int	rc;

	chain_mac(&log->mac, log->prev, sb->data, sb->len, mac);
	strbuf_append(sb, CHAIN_SUFFIX, sizeof(CHAIN_SUFFIX) - 1);
	strbuf_append(sb, mac, CHAIN_HEX);
	strbuf_append(sb, "\"}\n", 3);
	if (strbuf_failed(sb) || mac[0] == '\0') {
		count_lost(log);
		strbuf_reset(sb);
		return -1;
	}
	rc = write_sinks(log, sb);
	memcpy(log->prev, mac, sizeof(mac));
	return rc;
}

static int
chain_end(struct evlog *log, struct strbuf *sb, int depth)
{
	int	rc;

	if (strbuf_failed(sb) || depth != 0) {
		count_lost(log);
		strbuf_reset(sb);
		return -1;
	}
	pthread_mutex_lock(&log->chainlock);
	rc = chain_end_locked(log, sb);
	pthread_mutex_unlock(&log->chainlock);
	return rc;
}

/*
 * A chain line starts every file (at start and at each reopen): it names
 * the mac of the line before it, which may be in the previous file.
 */
static void
evlog_chain_link(struct evlog *log)
{
	struct evline l;
	char	prev[CHAIN_HEX + 1];

	pthread_mutex_lock(&log->chainlock);
	memcpy(prev, log->prev, sizeof(prev));
	log->chainseq++;
	evlog_begin(&l, log, &log->chainbuf, "chain", log->chainseq, "chain");
	evlog_str(&l, "prev", prev);
	if (!l.skip && !strbuf_failed(&log->chainbuf))
		chain_end_locked(log, &log->chainbuf);
	pthread_mutex_unlock(&log->chainlock);
}

static int
write_sinks(struct evlog *log, struct strbuf *sb)
{
	size_t	i;
	int	rc = 0;

	if (log->memory) {
		pthread_mutex_lock(&log->memlock);
		strbuf_append(&log->membuf, sb->data, sb->len);
		pthread_mutex_unlock(&log->memlock);
	}
	for (i = 0; i < log->nfiles; i++) {
		if (sink_write(log, &log->files[i], atomic_load(&log->fds[i]),
		    sb->data, sb->len) < 0) {
			count_lost(log);
			rc = -1;
		}
	}
	if (log->use_stderr && sink_write(log, &log->err, STDERR_FILENO, sb->data,
	    sb->len) < 0) {
		count_lost(log);
		rc = -1;
	}
	if (log->use_syslog && syslogc_send(&log->sys, LOG_INFO, sb->data,
	    sb->len - 1, EVLOG_WAIT_MS) < 0) {
		count_lost(log);
		rc = -1;
	}
	if (rc == 0)
		report_recovery(log);
	return rc;
}

/*
 * For tests only: the bound a full or busy sink may delay one line, in
 * milliseconds, for every log of the process. A test that checks that no
 * line is lost for another reason (a reopen) raises it, so that a loaded
 * machine that starves a thread past 100 ms does not count as a loss.
 */
void
evlog_set_wait_ms(int ms)
{
	atomic_store(&evlog_wait_ms, ms > 0 ? ms : EVLOG_WAIT_MS_DEFAULT);
}
