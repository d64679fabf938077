/*
 * Unit tests of src/util/sock.c and src/util/daemon.c: listening sockets
 * from a libmilter-style spec (unix, inet, inet6), the way made for a unix
 * socket (stale removed, live or non-socket refused), the pidfile lock,
 * identity lookup.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/daemon.h"
#include "util/sock.h"

static char dir[] = "/tmp/sg-test-daemon.XXXXXX";
static char spec[256], path[200], err[512];

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	snprintf(spec, sizeof(spec), "unix:%s", path);
	err[0] = '\0';
}

static void
teardown(void)
{
	char	cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
}

/* Connects to the unix socket path: 0 on success. */
static int
connect_unix(const char *p)
{
	struct sockaddr_un sun;
	int	fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(p) >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, p, strlen(p) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	return rc;
}

START_TEST(t_sock_unix_path)
{
	ck_assert_str_eq(sock_unix_path("unix:/a/b"), "/a/b");
	ck_assert_str_eq(sock_unix_path("local:/a"), "/a");
	ck_assert_ptr_null(sock_unix_path("inet:25@127.0.0.1"));
	ck_assert_ptr_null(sock_unix_path("inet6:25"));
}
END_TEST

START_TEST(t_sock_listen_unix)
{
	struct stat st;
	int	fd;

	fd = sock_listen(spec, 0640, (uid_t)-1, (gid_t)-1, 5, err, sizeof(err));
	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ck_assert_int_eq(connect_unix(path), 0);	/* listening */

	/* a live socket is never taken over */
	ck_assert_int_eq(sock_listen(spec, 0660, (uid_t)-1, (gid_t)-1, 5, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "in use by a running filter") != NULL, "%s", err);
	ck_assert_int_eq(sock_prepare(spec, err, sizeof(err)), -1);
	ck_assert_int_eq(stat(path, &st), 0);
	close(fd);
}
END_TEST

START_TEST(t_sock_listen_stale)
{
	struct stat st;
	int	fd;

	/* a socket nobody listens on: removed and replaced */
	fd = sock_listen(spec, 0600, (uid_t)-1, (gid_t)-1, 5, err, sizeof(err));
	ck_assert_msg(fd >= 0, "%s", err);
	close(fd);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_ne(connect_unix(path), 0);
	fd = sock_listen(spec, 0660, (uid_t)-1, (gid_t)-1, 5, err, sizeof(err));
	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0660);
	ck_assert_int_eq(connect_unix(path), 0);
	close(fd);
}
END_TEST

START_TEST(t_sock_prepare_refuses)
{
	char	sp[300];
	int	fd;

	/* not a socket: left alone */
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(sock_prepare(spec, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "is not a socket") != NULL, "%s", err);
	ck_assert_int_eq(sock_listen(spec, 0660, (uid_t)-1, (gid_t)-1, 5, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(access(path, F_OK), 0);
	/* no directory */
	snprintf(sp, sizeof(sp), "unix:%s/nodir/s.sock", dir);
	ck_assert_int_eq(sock_prepare(sp, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "/nodir does not exist") != NULL, "%s", err);
	/* nothing there: nothing to do; inet: nothing to do */
	unlink(path);
	ck_assert_int_eq(sock_prepare(spec, err, sizeof(err)), 0);
	ck_assert_int_eq(sock_prepare("inet:1@127.0.0.1", err, sizeof(err)), 0);
	/* a path that does not fit sun_path */
	memset(sp, 'a', sizeof(sp) - 1);
	sp[sizeof(sp) - 1] = '\0';
	memcpy(sp, "unix:/", 6);
	ck_assert_int_eq(sock_listen(sp, 0660, (uid_t)-1, (gid_t)-1, 5, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "too long") != NULL, "%s", err);
}
END_TEST

START_TEST(t_sock_finish_owner)
{
	struct stat st;
	int	fd;

	if (geteuid() != 0)
		return;			/* chown to another user needs root */
	fd = sock_listen(spec, 0660, 12345, 23456, 5, err, sizeof(err));
	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_uid, 12345);
	ck_assert_uint_eq(st.st_gid, 23456);
	ck_assert_uint_eq(st.st_mode & 07777, 0660);
	close(fd);
}
END_TEST

/* Port the kernel chose for fd (network order converted). */
static int
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int
connect_inet(int family, const char *addr, int port)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	int	fd, rc;

	fd = socket(family, SOCK_STREAM, 0);
	if (family == AF_INET) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((unsigned short)port);
		inet_pton(AF_INET, addr, &sin.sin_addr);
		rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	} else {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons((unsigned short)port);
		inet_pton(AF_INET6, addr, &sin6.sin6_addr);
		rc = connect(fd, (struct sockaddr *)&sin6, sizeof(sin6));
	}
	close(fd);
	return rc;
}

START_TEST(t_sock_listen_inet)
{
	char	sp[64];
	int	fd, fd2, port;

	fd = sock_listen("inet:0@127.0.0.1", 0, (uid_t)-1, (gid_t)-1, 5, err,
	    sizeof(err));
	ck_assert_msg(fd >= 0, "%s", err);
	port = bound_port(fd);
	ck_assert_int_gt(port, 0);
	ck_assert_int_eq(connect_inet(AF_INET, "127.0.0.1", port), 0);
	/* the same port again: in use */
	snprintf(sp, sizeof(sp), "inet:%d@127.0.0.1", port);
	ck_assert_int_eq(sock_listen(sp, 0, (uid_t)-1, (gid_t)-1, 5, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "bind") != NULL && strstr(err, sp) != NULL,
	    "%s", err);
	close(fd);

	/* inet6, with and without brackets; skipped without IPv6 */
	fd = sock_listen("inet6:0@::1", 0, (uid_t)-1, (gid_t)-1, 5, err,
	    sizeof(err));
	if (fd >= 0) {
		ck_assert_int_eq(connect_inet(AF_INET6, "::1", bound_port(fd)), 0);
		fd2 = sock_listen("inet6:0@[::1]", 0, (uid_t)-1, (gid_t)-1, 5,
		    err, sizeof(err));
		ck_assert_msg(fd2 >= 0, "%s", err);
		close(fd2);
		close(fd);
		/* inet6 without a host: every IPv6 address, and only IPv6 */
		fd = sock_listen("inet6:0", 0, (uid_t)-1, (gid_t)-1, 5, err,
		    sizeof(err));
		ck_assert_msg(fd >= 0, "%s", err);
		port = bound_port(fd);
		ck_assert_int_eq(connect_inet(AF_INET6, "::1", port), 0);
		ck_assert_int_ne(connect_inet(AF_INET, "127.0.0.1", port), 0);
		close(fd);
	}
}
END_TEST

START_TEST(t_sock_listen_bad_spec)
{
	static const char *bad[] = {
		"tcp:25@127.0.0.1", "inet:", "inet:@127.0.0.1", "inet:x@127.0.0.1",
		"inet:70000@127.0.0.1", "inet:123456@127.0.0.1", "inet:25@",
		"inet:25x", "inet6:25@[]",
		"unix:", "",
	};
	size_t	i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(sock_listen(bad[i], 0660, (uid_t)-1, (gid_t)-1, 5,
		    err, sizeof(err)) == -1, "'%s' accepted", bad[i]);
		ck_assert_msg(err[0] != '\0', "'%s': no message", bad[i]);
	}
}
END_TEST

START_TEST(t_pidfile_lock)
{
	char	pf[256], buf[64];
	int	fd, fd2;

	snprintf(pf, sizeof(pf), "%s/x.pid", dir);
	fd = daemon_pidfile_lock(pf, err, sizeof(err));
	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_int_eq(daemon_pidfile_write(fd, pf, err, sizeof(err)), 0);
	/* a second lock (another open file) is refused, naming the pid */
	fd2 = daemon_pidfile_lock(pf, err, sizeof(err));
	ck_assert_int_eq(fd2, -1);
	snprintf(buf, sizeof(buf), "already running (pid %ld)", (long)getpid());
	ck_assert_msg(strstr(err, buf) != NULL, "%s", err);
	close(fd);
	/* released with the descriptor */
	fd2 = daemon_pidfile_lock(pf, err, sizeof(err));
	ck_assert_msg(fd2 >= 0, "%s", err);
	close(fd2);
	/* never through a symlink */
	snprintf(buf, sizeof(buf), "%s/link.pid", dir);
	ck_assert_int_eq(symlink(pf, buf), 0);
	ck_assert_int_eq(daemon_pidfile_lock(buf, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "link.pid") != NULL, "%s", err);
}
END_TEST

START_TEST(t_ugid_lookup)
{
	struct daemon_ugid id;
	struct group *gr;

	ck_assert_int_eq(daemon_ugid_lookup(NULL, NULL, &id, err, sizeof(err)), 0);
	ck_assert_int_eq(id.change, 0);
	ck_assert_int_eq(daemon_ugid_set(&id, err, sizeof(err)), 0);
	if (geteuid() != 0)
		return;
	ck_assert_int_eq(daemon_ugid_lookup("nosuchuser.x", NULL, &id, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "user nosuchuser.x: no such user");
	ck_assert_int_eq(daemon_ugid_lookup(NULL, "nosuchgroup.x", &id, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "group nosuchgroup.x: no such group");
	ck_assert_int_eq(daemon_ugid_lookup("root", "nogroup", &id, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(id.change, 1);
	ck_assert_uint_eq(id.uid, 0);
	ck_assert_ptr_nonnull(gr = getgrnam("nogroup"));
	ck_assert_uint_eq(id.gid, gr->gr_gid);
	ck_assert_str_eq(id.name, "root");
}
END_TEST

static Suite *
daemon_suite(void)
{
	Suite  *s = suite_create("daemon");
	TCase  *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_sock_unix_path);
	tcase_add_test(tc, t_sock_listen_unix);
	tcase_add_test(tc, t_sock_listen_stale);
	tcase_add_test(tc, t_sock_prepare_refuses);
	tcase_add_test(tc, t_sock_finish_owner);
	tcase_add_test(tc, t_sock_listen_inet);
	tcase_add_test(tc, t_sock_listen_bad_spec);
	tcase_add_test(tc, t_pidfile_lock);
	tcase_add_test(tc, t_ugid_lookup);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(daemon_suite());
	int	failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
