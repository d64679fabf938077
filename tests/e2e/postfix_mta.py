"""A private, throw-away Postfix instance for sessguard's end-to-end tests.

Everything lives below one work directory: config_directory, queue_directory,
data_directory, the Cyrus SASL config and sasldb, the self-signed TLS
certificate and the mail log.  No system instance, no systemd, no chroot.

Two smtpd listeners on 127.0.0.1 (SPEC section 6):

* ``port_second_line``: ``permit_mynetworks, permit_sasl_authenticated,
  reject_unauth_destination`` with mynetworks overridden to a TEST-NET
  address, so the loopback test clients are NOT in mynetworks: Postfix itself
  refuses unauthenticated relaying and sessguard checks again.
* ``port_front_end``: ``permit_mynetworks, reject_unauth_destination`` with
  127.0.0.0/8 in mynetworks, so Postfix lets the clients relay and sessguard
  decides on the session's own authentication.

With ``policy_socket`` set (``unix:/abs/path`` of sessguard's policy_listen)
two more (SPEC section 7):

* ``port_policy``: no milter; ``check_policy_service`` first in
  smtpd_recipient_restrictions, before ``permit_sasl_authenticated`` and
  ``permit_mynetworks`` (127.0.0.0/8, so only sessguard refuses a relay),
  smtpd_relay_restrictions empty so that every recipient reaches it; also in
  smtpd_end_of_data_restrictions (the eom event with its queue id).
* ``port_both``: the milter and the same policy check, here first in
  smtpd_relay_restrictions (as contrib/postfix/main.cf-policy has it): one
  SMTP session, two sessguard sessions (via milter and via policy).
A recipient blocked@example.org is refused by Postfix after the policy check
(check_recipient_access), so a DUNNO shows apart from an OK.

Accepted mail never leaves the machine: every transport (local, relay,
default) points at an ``smtp-sink`` on 127.0.0.1.

Needs root and the Debian packages postfix, sasl2-bin, libsasl2-modules and
openssl (see install-deps.sh).
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
SASLPASSWD2 = "/usr/sbin/saslpasswd2"
SMTP_SINK = "/usr/sbin/smtp-sink"
OPENSSL = "/usr/bin/openssl"

LOCAL_DOMAIN = "example.org"
MYHOSTNAME = "mx.example.org"
# Not in mynetworks of the second-line listener: nobody on loopback is.
OUTSIDE_NET = "192.0.2.1/32"

DEFAULT_USERS = {"alice": "alice-secret", "bob": "bob-secret"}


def free_port(host="127.0.0.1"):
    """A TCP port that is free right now on host (small race, fine here)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_port(host, port, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def available():
    """(True, '') when this machine can run a private Postfix, else (False, why)."""
    if os.geteuid() != 0:
        return False, "not root"
    for path in (POSTFIX, POSTCONF, SASLPASSWD2, SMTP_SINK, OPENSSL):
        if not os.access(path, os.X_OK):
            return False, "missing %s (run tests/e2e/install-deps.sh)" % path
    sasl_dirs = ["/usr/lib/x86_64-linux-gnu/sasl2", "/usr/lib/aarch64-linux-gnu/sasl2",
                 "/usr/lib/sasl2"]
    if not any(os.path.exists(os.path.join(d, "libplain.so")) for d in sasl_dirs) and \
            not any(os.path.exists(os.path.join(d, "libplain.so.2")) for d in sasl_dirs):
        return False, "missing Cyrus SASL PLAIN plugin (libsasl2-modules)"
    return True, ""


class PostfixError(RuntimeError):
    pass


class PostfixMTA:
    """Private Postfix instance.  Use start()/stop(); stop() always tears down."""

    name = "postfix"
    # What the scenarios may rely on.
    features = frozenset({"second_line", "front_end", "starttls", "auth_plain",
                          "auth_login", "unknown_first_word_only"})
    local_domain = LOCAL_DOMAIN

    def __init__(self, workdir, milter_socket, users=None, keep=False, policy_socket=None):
        self.workdir = os.path.abspath(workdir)
        self.milter_socket = milter_socket  # "unix:/path" or a plain path
        if not self.milter_socket.startswith(("unix:", "local:", "inet:", "inet6:")):
            self.milter_socket = "unix:" + self.milter_socket
        self.users = dict(users or DEFAULT_USERS)
        self.keep = keep
        self.config_dir = os.path.join(self.workdir, "etc")
        self.queue_dir = os.path.join(self.workdir, "queue")
        self.data_dir = os.path.join(self.workdir, "data")
        # Debian's Postfix (patch 07_sasl_config) reads $config_directory/sasl/smtpd.conf
        # and ignores cyrus_sasl_config_path; keep both pointing at the same place.
        self.sasl_dir = os.path.join(self.config_dir, "sasl")
        self.tls_dir = os.path.join(self.workdir, "tls")
        self.log_dir = os.path.join(self.workdir, "log")
        self.maillog = os.path.join(self.log_dir, "maillog")
        self.sasldb = os.path.join(self.sasl_dir, "sasldb2")
        self.port_second_line = None
        self.port_front_end = None
        self.policy_socket = policy_socket  # "unix:/abs/path" or None
        self.port_policy = None
        self.port_both = None
        self.port_sink = None
        self.host = "127.0.0.1"
        self._sink = None
        self._started = False
        self._atexit = False

    # ------------------------------------------------------------------ setup
    def _run(self, argv, input_text=None, check=True):
        p = subprocess.run(argv, input=input_text, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        if check and p.returncode != 0:
            raise PostfixError("%s failed (%d): %s" % (" ".join(argv), p.returncode,
                                                         p.stdout.strip()))
        return p

    def _write(self, path, text, mode=0o644):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)

    def _make_dirs(self):
        os.makedirs(self.workdir, exist_ok=True)
        # Postfix daemons (user postfix) must be able to traverse to the work dir;
        # a mkdtemp() parent is 0700.  Add o+x to such parents below the temp dir.
        tmp = os.path.realpath(tempfile.gettempdir())
        parent = os.path.dirname(self.workdir)
        while parent.startswith(tmp + os.sep):
            mode = os.stat(parent).st_mode
            if not mode & 0o001:
                os.chmod(parent, (mode & 0o7777) | 0o001)
            parent = os.path.dirname(parent)
        p = self.workdir
        while p != os.sep:
            if not os.stat(p).st_mode & 0o001:
                raise PostfixError("user postfix cannot traverse %s (mode %o); use a work "
                                   "dir below a world-traversable path" % (p, os.stat(p).st_mode))
            p = os.path.dirname(p)
        # Postfix daemons run as user postfix and open absolute paths below here.
        os.chmod(self.workdir, 0o755)
        for d in (self.config_dir, self.sasl_dir, self.queue_dir, self.data_dir,
                  self.tls_dir, self.log_dir):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        if self.policy_socket:
            # sessguard's policy socket may live below the queue directory
            os.makedirs(os.path.dirname(self.policy_socket.split(":", 1)[1]), exist_ok=True)
        shutil.chown(self.data_dir, "postfix", "postfix")
        os.chmod(self.data_dir, 0o700)

    def _make_tls(self):
        key = os.path.join(self.tls_dir, "key.pem")
        cert = os.path.join(self.tls_dir, "cert.pem")
        self._run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                   "-out", cert, "-days", "2", "-subj", "/CN=" + MYHOSTNAME])
        os.chmod(key, 0o600)
        return cert, key

    def _make_sasl(self):
        self._write(os.path.join(self.sasl_dir, "smtpd.conf"),
                    "pwcheck_method: auxprop\n"
                    "auxprop_plugin: sasldb\n"
                    "sasldb_path: %s\n"
                    "mech_list: PLAIN LOGIN\n" % self.sasldb)
        for user, password in self.users.items():
            self._run([SASLPASSWD2, "-p", "-c", "-f", self.sasldb, "-u", LOCAL_DOMAIN,
                       user], input_text=password)
        for fn in os.listdir(self.sasl_dir):
            if fn.startswith("sasldb2"):
                p = os.path.join(self.sasl_dir, fn)
                shutil.chown(p, "root", "postfix")
                os.chmod(p, 0o640)

    def _main_cf(self, cert, key):
        sink = "smtp:[127.0.0.1]:%d" % self.port_sink
        return """\
# Generated by sessguard tests/e2e/postfix_mta.py -- private test instance
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = {myhostname}
mydomain = {domain}
myorigin = {domain}
mydestination = {domain}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
readme_directory = no
# all delivery goes to the smtp-sink on loopback
default_transport = {sink}
relay_transport = {sink}
local_transport = {sink}
smtp_tls_security_level = none
maillog_file = {maillog}
maillog_file_prefixes = {workdir}
service_throttle_time = 1s
smtpd_peername_lookup = no
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_client_connection_count_limit = 0
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
# SASL (Cyrus, sasldb, no saslauthd)
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {sasl}
smtpd_sasl_local_domain = {domain}
smtpd_sasl_security_options = noanonymous
# STARTTLS, AUTH allowed before TLS (the tests need plaintext AUTH)
smtpd_tls_security_level = may
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_auth_only = no
smtpd_tls_loglevel = 0
# the milter under test
smtpd_milters = {milter}
milter_default_action = tempfail
milter_connect_timeout = 5s
milter_command_timeout = 20s
milter_content_timeout = 60s
{policy}""".format(queue=self.queue_dir, data=self.data_dir, myhostname=MYHOSTNAME,
           domain=LOCAL_DOMAIN, sink=sink, maillog=self.maillog, workdir=self.workdir,
           sasl=self.sasl_dir, cert=cert, key=key, milter=self.milter_socket,
           policy=self._policy_cf())

    def _policy_cf(self):
        if not self.policy_socket:
            return ""
        where = self.policy_socket
        path = where.split(":", 1)[1]
        if path.startswith(self.queue_dir + os.sep):
            # relative to queue_directory, as with a chrooted smtpd
            where = "unix:" + os.path.relpath(path, self.queue_dir)
        # smtpd's default policy client settings (when sessguard is down:
        # smtpd_policy_service_default_action = 451 4.3.5)
        return (
            "# sessguard's policy front end (master.cf listeners policy, both)\n"
            "sessguard_policy = check_policy_service %s\n"
            "# a recipient Postfix refuses after sessguard: its DUNNO must let\n"
            "# the rest of the list run (OK would skip it)\n"
            "e2e_blocked = check_recipient_access inline:{blocked@%s=REJECT}\n"
            "sessguard_rcpt_restrictions = $sessguard_policy, $e2e_blocked,\n"
            "    permit_sasl_authenticated, permit_mynetworks, reject_unauth_destination\n"
            "sessguard_relay_restrictions = $sessguard_policy, $e2e_blocked,\n"
            "    permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination\n"
            % (where, LOCAL_DOMAIN))

    def _master_cf(self):
        second = ("127.0.0.1:%d inet n - n - - smtpd\n"
                  "  -o syslog_name=postfix/second-line\n"
                  "  -o milter_macro_daemon_name=second-line\n"
                  "  -o mynetworks=%s\n"
                  "  -o smtpd_relay_restrictions=permit_mynetworks,permit_sasl_authenticated,"
                  "reject_unauth_destination\n" % (self.port_second_line, OUTSIDE_NET))
        front = ("127.0.0.1:%d inet n - n - - smtpd\n"
                 "  -o syslog_name=postfix/front-end\n"
                 "  -o milter_macro_daemon_name=front-end\n"
                 "  -o mynetworks=127.0.0.0/8\n"
                 "  -o smtpd_relay_restrictions=permit_mynetworks,reject_unauth_destination\n"
                 % self.port_front_end)
        policy = ""
        for port, name in ((self.port_policy, "policy"), (self.port_both, "both")):
            if not port:
                continue
            policy += ("127.0.0.1:%d inet n - n - - smtpd\n"
                       "  -o syslog_name=postfix/%s\n"
                       "  -o milter_macro_daemon_name=%s\n" % (port, name, name))
            if name == "policy":
                # in the recipient restrictions, the relay ones empty
                policy += ("  -o smtpd_milters=\n"
                           "  -o smtpd_relay_restrictions=\n"
                           "  -o smtpd_recipient_restrictions=$sessguard_rcpt_restrictions\n")
            else:
                # in the relay restrictions (contrib/postfix/main.cf-policy)
                policy += "  -o smtpd_relay_restrictions=$sessguard_relay_restrictions\n"
            policy += ("  -o mynetworks=127.0.0.0/8\n"
                       "  -o smtpd_end_of_data_restrictions=$sessguard_policy\n")
        rest = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""
        return second + front + policy + rest

    # -------------------------------------------------------------- lifecycle
    def start(self):
        if self._started:
            return
        if not self._atexit:
            atexit.register(self.stop)
            self._atexit = True
        self._started = True  # so that stop() cleans up a half-done start
        try:
            self._make_dirs()
            self.port_second_line = free_port()
            self.port_front_end = free_port()
            while self.port_front_end == self.port_second_line:
                self.port_front_end = free_port()
            if self.policy_socket:
                taken = {self.port_second_line, self.port_front_end}
                while self.port_policy is None or self.port_policy in taken:
                    self.port_policy = free_port()
                taken.add(self.port_policy)
                while self.port_both is None or self.port_both in taken:
                    self.port_both = free_port()
            self.port_sink = free_port()
            cert, key = self._make_tls()
            self._make_sasl()
            self._write(os.path.join(self.config_dir, "main.cf"), self._main_cf(cert, key))
            self._write(os.path.join(self.config_dir, "master.cf"), self._master_cf())
            self._start_sink()
            self._run([POSTFIX, "-c", self.config_dir, "check"])
            self._run([POSTFIX, "-c", self.config_dir, "start"])
            for port in (self.port_second_line, self.port_front_end, self.port_policy,
                         self.port_both):
                if port and not wait_port(self.host, port):
                    raise PostfixError("postfix did not listen on %d; maillog:\n%s"
                                       % (port, self.maillog_text()[-3000:]))
        except BaseException:
            self.stop()
            raise

    def _start_sink(self):
        # smtp-sink must drop privileges when started as root.
        self._sink_log = open(os.path.join(self.log_dir, "smtp-sink.out"), "w")
        # every delivered message is dumped to a file there (-d), so that the
        # tests read the headers Postfix delivered
        self.sink_dir = os.path.join(self.workdir, "sink")
        os.makedirs(self.sink_dir, exist_ok=True)
        shutil.chown(self.sink_dir, "postfix", "postfix")
        self._sink = subprocess.Popen(
            [SMTP_SINK, "-u", "postfix", "-h", "sink.invalid", "-c",
             "-d", os.path.join(self.sink_dir, "%M."),
             "127.0.0.1:%d" % self.port_sink, "100"],
            stdout=self._sink_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        if not wait_port(self.host, self.port_sink, timeout=5):
            raise PostfixError("smtp-sink did not start")

    def stop(self):
        if not self._started:
            return
        self._started = False
        try:
            if os.path.exists(os.path.join(self.config_dir, "main.cf")):
                self._run([POSTFIX, "-c", self.config_dir, "stop"], check=False)
                self._wait_master_gone()
        finally:
            if self._sink is not None:
                if self._sink.poll() is None:
                    self._sink.terminate()
                    try:
                        self._sink.wait(5)
                    except subprocess.TimeoutExpired:
                        self._sink.kill()
                        self._sink.wait(5)
                self._sink = None
                self._sink_log.close()

    def _master_pid(self):
        pidfile = os.path.join(self.queue_dir, "pid", "master.pid")
        try:
            with open(pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def _wait_master_gone(self, timeout=10.0):
        pid = self._master_pid()
        if pid is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        # Still there: abort the instance hard (master and its children).
        self._run([POSTFIX, "-c", self.config_dir, "abort"], check=False)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    # ---------------------------------------------------------------- helpers
    def maillog_text(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def describe(self):
        return "postfix %s (second-line %s, front-end %s)" % (
            self.workdir, self.port_second_line, self.port_front_end)


if __name__ == "__main__":
    # Manual smoke test: start an instance, print where it is, wait for Enter.
    import sys
    ok, why = available()
    if not ok:
        print("SKIP: " + why)
        sys.exit(77)
    d = tempfile.mkdtemp(prefix="sessguard-pf-")
    sock = sys.argv[1] if len(sys.argv) > 1 else os.path.join(d, "milter.sock")
    mta = PostfixMTA(os.path.join(d, "pf"), sock)
    mta.start()
    print(mta.describe())
    try:
        input("running; Enter stops ")
    finally:
        mta.stop()
