/*
 * NAME
 *	metricsd - the metrics served over loopback HTTP and as a textfile
 * SYNOPSIS
 *	#include "metricsd.h"
 *
 *	int metricsd_open(cfg, uid, gid, err, errlen)
 *	int metricsd_start(err, errlen)
 *	void metricsd_stop(void)
 * DESCRIPTION
 *	The two ways out for what metrics_render() produces: an HTTP endpoint
 *	for Prometheus to scrape (metrics_listen, a loopback address only) and
 *	a file for node_exporter's textfile collector (metrics_textfile),
 *	rewritten every metrics_interval seconds.
 *
 *	metricsd_open() does, while the daemon is still root and still on the
 *	terminal, everything that can fail for a reason the administrator
 *	must fix: it binds the listening socket (so that a port below 1024
 *	works) and writes the textfile once as the user the daemon becomes
 *	(uid and gid, with the supplementary groups of cfg->user; uid
 *	(uid_t)-1 for no change), in a child process, which proves that the
 *	directory is writable by that user. That first file shows the state at
 *	start: all counts zero, configuration generation 1. It copies what it
 *	needs from cfg, which a later reload may free.
 *
 *	metricsd_start() runs after detaching and dropping privileges, and
 *	after the signal mask is set, which its threads inherit: it starts the
 *	HTTP server (libmicrohttpd, one internal polling thread, at most 16
 *	connections, each closed after 10 idle seconds) and the textfile
 *	writer thread, which writes at once and then every metrics_interval
 *	seconds.
 *
 *	metricsd_stop() stops the server, then the writer, which writes one
 *	last time so that the file keeps the final counts.
 *
 *	GET or HEAD /metrics answers 200 with the Prometheus text format
 *	0.0.4; another path 404; another method 405. A textfile write goes
 *	to PATH.tmp in the same directory (a name the collector ignores), mode
 *	0644 whatever the umask, so that node_exporter can read it; it is
 *	fsync()ed and renamed over PATH: a reader sees the old file or the new
 *	one, never a part of one.
 * DIAGNOSTICS
 *	metricsd_open() and metricsd_start() return -1 with a message that
 *	names the key and its address or path. Later, a failed textfile write
 *	is logged (msg_warn) once, and again only after a write has succeeded;
 *	libmicrohttpd's own errors are logged as warnings.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "evlog.h"
#include "metrics.h"
#include "metricsd.h"
#include "runtime.h"
#include "util/msg.h"
#include "util/writeall.h"

#define HTTP_MAX_CONN	16
#define HTTP_TIMEOUT	10	/* seconds */
#define HTTP_BACKLOG	16
#define PROM_TYPE	"text/plain; version=0.0.4; charset=utf-8"

static int http_fd = -1;
static char *http_addr;
static struct MHD_Daemon *httpd;

static char *tf_path;
static char *tf_tmp;
static unsigned tf_interval;
static int tf_failing;		/* the writer thread's own */
static pthread_t tf_thread;
static int tf_running;
static int tf_stopping;		/* under tf_lock */
static pthread_mutex_t tf_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tf_cond;

/* The metrics now; the event log and the generation belong to runtime. */
static void
render(struct strbuf *sb)
{
	struct evlog *log = runtime_log();

	metrics_render(sb, log ? evlog_lost(log) : 0, runtime_generation());
}

/* HTTP */

static int
http_open(const struct sg_config *cfg, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int	fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (cfg->metrics_addr.family == AF_INET6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)cfg->metrics_port);
		memcpy(&sin6->sin6_addr, cfg->metrics_addr.bytes, 16);
		len = sizeof(*sin6);
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)cfg->metrics_port);
		memcpy(&sin->sin_addr, cfg->metrics_addr.bytes, 4);
		len = sizeof(*sin);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) < 0) {
		errf(err, errlen, "metrics_listen %s: socket: %s",
		    cfg->metrics_listen, strerror(errno));
		return -1;
	}
	/* a restart must not wait for connections in TIME_WAIT */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0
	    || listen(fd, HTTP_BACKLOG) < 0) {
		errf(err, errlen, "metrics_listen %s: cannot listen: %s",
		    cfg->metrics_listen, strerror(errno));
		close(fd);
		return -1;
	}
	if ((http_addr = strdup(cfg->metrics_listen)) == NULL) {
		errf(err, errlen, "out of memory");
		close(fd);
		return -1;
	}
	http_fd = fd;
	return 0;
}

static void
http_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
http_log(void *cls, const char *fmt, va_list ap)
{
	char	buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\r\n")] = '\0';
	msg_warn("metrics_listen %s: %s", http_addr, buf);
}

static enum MHD_Result
http_answer(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_len, void **con_cls)
{
	struct MHD_Response *resp;
	struct strbuf sb;
	unsigned status;
	enum MHD_Result rc;

	(void)cls;
	(void)version;
	(void)upload;
	(void)upload_len;
	(void)con_cls;
	strbuf_init(&sb);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0
	    && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		strbuf_puts(&sb, "method not allowed: GET /metrics\n");
	} else if (strcmp(url, "/metrics") != 0) {
		status = MHD_HTTP_NOT_FOUND;
		strbuf_puts(&sb, "not found: the metrics are at /metrics\n");
	} else {
		status = MHD_HTTP_OK;
		render(&sb);
	}
	resp = strbuf_failed(&sb) ? NULL : MHD_create_response_from_buffer(sb.len,
	    (void *)strbuf_str(&sb), MHD_RESPMEM_MUST_COPY);
	strbuf_free(&sb);
	if (resp == NULL)
		return MHD_NO;		/* closes the connection */
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    status == MHD_HTTP_OK ? PROM_TYPE : "text/plain; charset=utf-8")
	    != MHD_YES || (status == MHD_HTTP_METHOD_NOT_ALLOWED
	    && MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
	    "GET, HEAD") != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static int
http_start(char *err, size_t errlen)
{
	httpd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO
	    | MHD_USE_ERROR_LOG, 0, NULL, NULL, http_answer, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)http_fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONN,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT,
	    MHD_OPTION_END);
	if (httpd == NULL) {
		errf(err, errlen, "metrics_listen %s: cannot start the HTTP "
		    "server", http_addr);
		return -1;
	}
	http_fd = -1;			/* the server's now; it closes it */
	return 0;
}

/* Textfile */

/* Replaces the textfile with data: temp file, fsync, rename. */
static int
textfile_write(const char *data, size_t len, char *err, size_t errlen)
{
	int	fd, e;

	if (unlink(tf_tmp) < 0 && errno != ENOENT) {
		errf(err, errlen, "cannot remove %s: %s", tf_tmp, strerror(errno));
		return -1;
	}
	if ((fd = open(tf_tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW
	    | O_CLOEXEC, 0644)) < 0) {
		errf(err, errlen, "cannot create %s: %s", tf_tmp, strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0644) < 0 || write_buf(fd, data, len, -1, NULL) < 0
	    || fsync(fd) < 0) {
		e = errno;
		close(fd);
		unlink(tf_tmp);
		errf(err, errlen, "cannot write %s: %s", tf_tmp, strerror(e));
		return -1;
	}
	if (close(fd) < 0 || rename(tf_tmp, tf_path) < 0) {
		e = errno;
		unlink(tf_tmp);
		errf(err, errlen, "cannot replace %s: %s", tf_path, strerror(e));
		return -1;
	}
	return 0;
}

/*
 * The first write, as the user the daemon becomes: in a child, which
 * takes that identity and reports a failure through a pipe.
 */
static int
textfile_probe(const char *user, uid_t uid, gid_t gid, const char *data,
    size_t len, char *err, size_t errlen)
{
	char	why[512];
	ssize_t	n;
	size_t	got = 0;
	pid_t	pid;
	int	pfd[2], st;

	if (uid == (uid_t)-1)
		return textfile_write(data, len, err, errlen);
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		errf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		errf(err, errlen, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		close(pfd[0]);
		if ((user ? initgroups(user, gid) : setgroups(1, &gid)) < 0
		    || setgid(gid) < 0 || setuid(uid) < 0)
			snprintf(why, sizeof(why), "cannot take uid %u: %s",
			    (unsigned)uid, strerror(errno));
		else if (textfile_write(data, len, why, sizeof(why)) == 0)
			_exit(0);
		if (write(pfd[1], why, strlen(why)) < 0)
			_exit(2);
		_exit(1);
	}
	close(pfd[1]);
	while (got < sizeof(why) - 1) {
		n = read(pfd[0], why + got, sizeof(why) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	why[got] = '\0';
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			errf(err, errlen, "waitpid: %s", strerror(errno));
			return -1;
		}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	errf(err, errlen, "%s (as user %s)", got ? why : "the writer failed",
	    user ? user : "root");
	return -1;
}

static int
textfile_open(const struct sg_config *cfg, uid_t uid, gid_t gid, char *err,
    size_t errlen)
{
	const char *path = cfg->metrics_textfile;
	struct strbuf sb;
	struct stat st;
	char	*dir, *slash, why[700];
	int	rc;

	if ((tf_path = strdup(path)) == NULL
	    || (tf_tmp = malloc(strlen(path) + sizeof(".tmp"))) == NULL
	    || (dir = strdup(path)) == NULL) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	sprintf(tf_tmp, "%s.tmp", path);
	tf_interval = cfg->metrics_interval;
	slash = strrchr(dir, '/');		/* the path is absolute */
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		errf(err, errlen, "metrics_textfile %s: directory %s does not "
		    "exist", path, dir);
		free(dir);
		return -1;
	}
	free(dir);
	strbuf_init(&sb);
	metrics_render(&sb, 0, 1);
	if (strbuf_failed(&sb)) {
		errf(err, errlen, "out of memory");
		rc = -1;
	} else if ((rc = textfile_probe(cfg->user, uid, gid, strbuf_str(&sb),
	    sb.len, why, sizeof(why))) < 0)
		errf(err, errlen, "metrics_textfile %s: %s", path, why);
	strbuf_free(&sb);
	return rc;
}

static void
textfile_update(void)
{
	struct strbuf sb;
	char	why[700];

	strbuf_init(&sb);
	render(&sb);
	if (strbuf_failed(&sb))
		snprintf(why, sizeof(why), "out of memory");
	if (strbuf_failed(&sb)
	    || textfile_write(strbuf_str(&sb), sb.len, why, sizeof(why)) < 0) {
		if (!tf_failing)
			msg_warn("metrics_textfile %s: %s (logged again only "
			    "after a write succeeds)", tf_path, why);
		tf_failing = 1;
	} else if (tf_failing) {
		msg_info("metrics_textfile %s: written again", tf_path);
		tf_failing = 0;
	}
	strbuf_free(&sb);
}

static void *
textfile_thread(void *arg)
{
	struct timespec due;
	int	stop = 0;

	(void)arg;
	while (!stop) {
		textfile_update();
		clock_gettime(CLOCK_MONOTONIC, &due);
		due.tv_sec += tf_interval;
		pthread_mutex_lock(&tf_lock);
		while (!tf_stopping
		    && pthread_cond_timedwait(&tf_cond, &tf_lock, &due) != ETIMEDOUT)
			;
		stop = tf_stopping;
		pthread_mutex_unlock(&tf_lock);
	}
	textfile_update();		/* the final counts */
	return NULL;
}

static int
textfile_start(char *err, size_t errlen)
{
	pthread_condattr_t attr;
	int	rc;

	if ((rc = pthread_condattr_init(&attr)) != 0
	    || (rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) != 0
	    || (rc = pthread_cond_init(&tf_cond, &attr)) != 0
	    || (rc = pthread_create(&tf_thread, NULL, textfile_thread, NULL))
	    != 0) {
		errf(err, errlen, "metrics_textfile %s: cannot start the "
		    "writer: %s", tf_path, strerror(rc));
		return -1;
	}
	pthread_condattr_destroy(&attr);
	tf_running = 1;
	return 0;
}

/* The interface */

int
metricsd_open(const struct sg_config *cfg, uid_t uid, gid_t gid, char *err,
    size_t errlen)
{
	if (cfg->metrics_listen && http_open(cfg, err, errlen) < 0)
		return -1;
	if (cfg->metrics_textfile && textfile_open(cfg, uid, gid, err,
	    errlen) < 0) {
		if (http_fd >= 0)
			close(http_fd);
		http_fd = -1;
		return -1;
	}
	return 0;
}

int
metricsd_start(char *err, size_t errlen)
{
	if (http_fd >= 0) {
		if (http_start(err, errlen) < 0)
			return -1;
		msg_info("metrics served at %s, GET /metrics", http_addr);
	}
	if (tf_path) {
		if (textfile_start(err, errlen) < 0)
			return -1;
		msg_info("metrics written to %s every %u s", tf_path,
		    tf_interval);
	}
	return 0;
}

void
metricsd_stop(void)
{
	if (httpd) {
		MHD_stop_daemon(httpd);
		httpd = NULL;
	}
	if (http_fd >= 0) {
		close(http_fd);
		http_fd = -1;
	}
	if (tf_running) {
		pthread_mutex_lock(&tf_lock);
		tf_stopping = 1;
		pthread_cond_signal(&tf_cond);
		pthread_mutex_unlock(&tf_lock);
		pthread_join(tf_thread, NULL);
		pthread_cond_destroy(&tf_cond);
		tf_running = 0;
	}
	free(http_addr);
	free(tf_path);
	free(tf_tmp);
	http_addr = tf_path = tf_tmp = NULL;
}
