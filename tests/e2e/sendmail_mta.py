"""A private, throw-away Sendmail 8.17 instance for sessguard's end-to-end tests.

Sendmail is not installed on the machine (Debian's sendmail-bin conflicts with
postfix); tests/e2e/sendmail-install-deps.sh downloads and unpacks its .debs into
a cache directory, ${SESSGUARD_E2E_CACHE:-/var/cache/sessguard-e2e}/sendmail/root.

Each instance lives in its own directory (<workdir>/sendmail): .mc/.cf, queue,
aliases, help and status files, SASL sasldb, a self-signed certificate made at
start, and the Sendmail log. Sendmail runs as root in the foreground (-bD) inside
private namespaces made with unshare:

  * mount: /usr/lib/sasl2 is bind-mounted from the instance's sasl/ directory
    (Sendmail reads Sendmail.conf only from the system SASL path);
    /etc/hosts, /etc/nsswitch.conf (files only) and /etc/resolv.conf
    (nameserver 127.0.0.1) are replaced so that Sendmail sends no DNS query,
    and none off the machine in any case (the machine's resolver is not on
    loopback);
    /dev is a small tmpfs with null/zero/random/urandom/tty and /dev/log bound
    to a datagram socket this module reads: that is the Sendmail log
    (<dir>/sendmail.log), there being no syslog daemon here;
  * uts: host name mta-test.example.org (Sendmail sleeps 60 s at start when its
    host name is unqualified);
  * pid: Sendmail is PID 1 there, so when it ends every child it forked ends too,
    and it is sent SIGTERM when the unshare process (our child) dies.

Mail is never delivered: DeliveryMode=queueonly, no queue runner, mailers
that would run are /bin/false. Two listeners on 127.0.0.1 (like
postfix_mta.py's), {daemon_name} = the deployment's name:

  * port_front_end  (daemon name front-end): Sendmail's own behaviour, which
    relays for loopback clients (stock Sendmail: 127.0.0.1 only; here class R
    holds 127, so all of 127.0.0.0/8) -- sessguard is the guard that decides;
  * port_second_line (daemon name second-line): Sendmail itself refuses a relay
    RCPT with "554 5.7.1 Relay access denied" unless the session authenticated
    (Local_check_rcpt); sessguard checks again (with SMFIP_RCPT_REJ it sees
    those recipients with {rcpt_mailer} = error).

Local domain example.org (class w); every user there exists: the SASL users
and postmaster are aliases of root, any other name goes to root by LUSER_RELAY
(all of it stays in the queue). SASL realm example.org, mechanisms PLAIN LOGIN,
offered without TLS too. STARTTLS with a self-signed certificate.
The milter: INPUT_MAIL_FILTER(sessguard, S=unix:<milter_socket>, F=T,
T=S:10s;R:10s;E:1m). With F=T and no milter listening, Sendmail answers 4xx to
every command after EHLO (AUTH and STARTTLS included).

Usage:
    mta = SendmailMTA(workdir, "/tmp/x/sessguard.sock", users={"alice": "secret"})
    mta.start()          # raises SendmailError with the Sendmail log on failure
    ... smtplib.SMTP(mta.host, mta.port_front_end) ...
    mta.stop()           # idempotent
"""

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

__all__ = ["SendmailMTA", "SendmailError", "available", "CACHE_DIR", "SENDMAIL_ROOT"]

CACHE_DIR = os.path.join(
    os.environ.get("SESSGUARD_E2E_CACHE", "/var/cache/sessguard-e2e"), "sendmail")
SENDMAIL_ROOT = os.path.join(CACHE_DIR, "root")
SENDMAIL_BIN = os.path.join(SENDMAIL_ROOT, "usr/libexec/sendmail/sendmail")
CF_DIR = os.path.join(SENDMAIL_ROOT, "usr/share/sendmail/cf") + "/"
INSTALL_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "sendmail-install-deps.sh")

HOSTNAME = "mta-test.example.org"
LOCAL_DOMAIN = "example.org"
SASL_REALM = "example.org"

_HELPFILE = """\
#	sessguard e2e test instance
smtp	This is a sessguard end-to-end test Sendmail (%s).
smtp	Topics: HELO EHLO MAIL RCPT DATA RSET QUIT HELP AUTH STARTTLS
"""


class SendmailError(RuntimeError):
    """Sendmail did not start (the message carries its output and log)."""


def _which(name):
    return shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin:" + os.environ.get("PATH", ""))


def _port_listening(port, host="127.0.0.1"):
    """True when a TCP socket LISTENs on host:port (read from /proc, no connect:
    a probe connection would reach the milter and show up in sessguard's log)."""
    want = "%s:%04X" % ("".join("%02X" % int(b) for b in reversed(host.split("."))), port)
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[1] == want and parts[3] == "0A":
                    return True
    except OSError:
        pass
    return False


def _die_with_parent():
    """preexec_fn: SIGKILL this child (unshare, which ignores SIGTERM while it
    waits) when the parent dies (PR_SET_PDEATHSIG); its --kill-child then
    sends SIGTERM to Sendmail."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except Exception:  # noqa: BLE001
        pass


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class _SyslogSink(threading.Thread):
    """Receives what Sendmail sends to /dev/log and appends it to a file."""

    def __init__(self, sock_path, log_path):
        super().__init__(daemon=True, name="sendmail-syslog")
        self.sock_path = sock_path
        self.log_path = log_path
        try:
            os.unlink(sock_path)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(sock_path)
        os.chmod(sock_path, 0o666)
        self.sock.settimeout(0.2)
        self._stop_ev = threading.Event()
        self._lock = threading.Lock()

    def run(self):
        with open(self.log_path, "ab", buffering=0) as f:
            while True:
                if self._stop_ev.is_set():
                    # close(): every writer is gone; take what is queued, then end
                    self.sock.setblocking(False)
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    continue
                except (BlockingIOError, OSError):
                    break
                # "<pri>Mmm dd hh:mm:ss sendmail[pid]: text" -> drop the <pri>
                data = data.rstrip(b"\0\r\n")
                if data.startswith(b"<"):
                    end = data.find(b">")
                    if 0 < end < 5:
                        data = data[end + 1:]
                with self._lock:
                    f.write(data + b"\n")

    def close(self):
        """Call when nothing writes any more: the lines still queued in the
        socket are written out before the thread ends."""
        self._stop_ev.set()
        self.join(timeout=2)
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            os.unlink(self.sock_path)
        except OSError:
            pass


def available():
    """(True, '') when a private Sendmail can run here, else (False, why)."""
    why = SendmailMTA.unavailable_reason()
    return (why is None, why or "")


class SendmailMTA:
    """A private Sendmail listening on 127.0.0.1 with sessguard as its milter."""

    name = "sendmail"
    # What the e2e scenarios may rely on (cf. postfix_mta.PostfixMTA.features).
    # Sendmail hands xxfi_unknown the whole command line, so no
    # "unknown_first_word_only".
    # keeps_auth_across_starttls: Sendmail 8.17 keeps the SASL login across
    # STARTTLS (unlike Postfix, and unlike RFC 3207 4.2): after TLS a new AUTH
    # gets "503 5.5.0 Already Authenticated", the session stays ESMTPSA, and
    # MAIL after TLS carries {auth_authen}/{auth_type} of the pre-TLS login to
    # the milter again.
    features = frozenset({"second_line", "front_end", "starttls", "auth_plain", "auth_login",
                          "keeps_auth_across_starttls"})
    # Sendmail hands the milter the whole unknown command line.
    unknown_first_word_only = False
    host = "127.0.0.1"
    hostname = HOSTNAME
    local_domain = LOCAL_DOMAIN
    sasl_realm = SASL_REALM

    def __init__(self, workdir, milter_socket, users=None, port_front_end=None,
                 port_second_line=None, log_level=14, milter_timeouts="S:10s;R:10s;E:1m",
                 catch_all_local=True):
        self.workdir = os.path.abspath(workdir)
        self.dir = os.path.join(self.workdir, "sendmail")
        self.milter_socket = milter_socket
        if milter_socket.startswith(("unix:", "local:", "inet:", "inet6:")):
            self.milter_spec = milter_socket if not milter_socket.startswith("local:") \
                else "unix:" + milter_socket[len("local:"):]
        else:
            self.milter_spec = "unix:" + os.path.abspath(milter_socket)
        self.users = dict(users if users is not None else {"alice": "secret"})
        self.port_front_end = port_front_end or _free_port()
        self.port_second_line = port_second_line or _free_port()
        while self.port_second_line == self.port_front_end:
            self.port_second_line = _free_port()
        self.ports = (self.port_front_end, self.port_second_line)
        self.log_level = log_level
        self.catch_all_local = catch_all_local
        self.milter_timeouts = milter_timeouts
        self.cf_path = os.path.join(self.dir, "sendmail.cf")
        self.mc_path = os.path.join(self.dir, "sendmail.mc")
        self.queue_dir = os.path.join(self.dir, "queue")
        self.log_path = os.path.join(self.dir, "sendmail.log")
        self.out_path = os.path.join(self.dir, "sendmail.out")
        self.cert_path = os.path.join(self.dir, "tls", "cert.pem")
        self.key_path = os.path.join(self.dir, "tls", "key.pem")
        self.proc = None
        self._sink = None
        self._out = None
        self.start_seconds = None
        self.stop_seconds = None

    # ------------------------------------------------------------ availability
    @staticmethod
    def unavailable_reason():
        """None when this harness can run here, else a sentence why not."""
        if os.geteuid() != 0:
            return "not root"
        for tool in ("unshare", "mount", "umount", "m4", "saslpasswd2", "openssl", "hostname"):
            if not _which(tool):
                return "%s not found (run %s)" % (tool, INSTALL_SCRIPT)
        if not os.access(SENDMAIL_BIN, os.X_OK):
            return "%s missing (run %s)" % (SENDMAIL_BIN, INSTALL_SCRIPT)
        if not os.path.isfile(os.path.join(CF_DIR, "m4", "cf.m4")):
            return "sendmail-cf not unpacked in %s (run %s)" % (CF_DIR, INSTALL_SCRIPT)
        if not os.path.isdir("/usr/lib/sasl2"):
            return "/usr/lib/sasl2 missing (run %s)" % INSTALL_SCRIPT
        plugdirs = ["/usr/lib/x86_64-linux-gnu/sasl2", "/usr/lib/sasl2", "/usr/lib64/sasl2",
                    "/usr/lib/aarch64-linux-gnu/sasl2"]
        if not any(os.path.exists(os.path.join(d, "libplain.so.2")) or
                   os.path.exists(os.path.join(d, "libplain.so")) for d in plugdirs):
            return "SASL PLAIN plugin missing (libsasl2-modules)"
        try:
            r = subprocess.run(
                [_which("unshare"), "--mount", "--uts", "--pid", "--fork",
                 "--propagation", "private", "sh", "-c",
                 "mount -t tmpfs sessguard-e2e-probe /mnt && hostname x.example.org"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
        except (OSError, subprocess.SubprocessError) as e:
            return "unshare failed: %s" % e
        if r.returncode != 0:
            return "unshare/mount in a private namespace failed: %s" % \
                r.stdout.decode(errors="replace").strip()
        return None

    @staticmethod
    def available():
        """Whether a private Sendmail can run here (root, unshare, unpacked packages)."""
        return SendmailMTA.unavailable_reason() is None

    # ------------------------------------------------------------ files
    def _mc(self):
        d = self.dir
        for p in (d, self.milter_spec):
            for ch in "`',\n\t ":
                if ch in p:
                    raise ValueError("path unusable in a sendmail .mc: %r" % p)
        q = lambda s: "`" + s + "'"  # m4 quoting
        lines = [
            "divert(-1)",
            "# sessguard e2e: generated by tests/e2e/sendmail_mta.py",
            "divert(0)dnl",
            "include(%s)dnl" % q(os.path.join(CF_DIR, "m4", "cf.m4")),
            "VERSIONID(%s)dnl" % q("sessguard e2e test instance"),
            "define(`PROCMAIL_MAILER_PATH', `/bin/false')dnl",
            "define(`LOCAL_MAILER_PATH', `/bin/false')dnl",
            "OSTYPE(`linux')dnl",
            "define(`confDOMAIN_NAME', %s)dnl" % q(HOSTNAME),
            "define(`QUEUE_DIR', %s)dnl" % q(self.queue_dir),
            "define(`STATUS_FILE', %s)dnl" % q(os.path.join(d, "sendmail.st")),
            "define(`HELP_FILE', %s)dnl" % q(os.path.join(d, "helpfile")),
            "define(`ALIAS_FILE', %s)dnl" % q(os.path.join(d, "aliases")),
            "define(`confPID_FILE', %s)dnl" % q(os.path.join(d, "sendmail.pid")),
            "define(`confHOST_STATUS_DIRECTORY', %s)dnl" % q(os.path.join(d, "hoststat")),
            "define(`confSERVICE_SWITCH_FILE', %s)dnl" % q(os.path.join(d, "service.switch")),
            "define(`confHOSTS_FILE', %s)dnl" % q(os.path.join(d, "hosts")),
            "define(`confDEAD_LETTER_DROP', %s)dnl" % q(os.path.join(d, "dead.letter")),
            "define(`confUSERDB_SPEC', `')dnl",
            "define(`confDEF_AUTH_INFO', `')dnl",
            "define(`confCR_FILE', %s)dnl" % q("-o " + os.path.join(d, "relay-domains")),
            "define(`confDELIVERY_MODE', `queueonly')dnl",
            "define(`confTO_IDENT', `0s')dnl",
            "define(`confDONT_PROBE_INTERFACES', `true')dnl",
            "define(`confLOG_LEVEL', %s)dnl" % q(str(self.log_level)),
            # never slow down or refuse because the test machine is loaded
            "define(`confQUEUE_LA', `1000')dnl",
            "define(`confREFUSE_LA', `1000')dnl",
            "define(`confDELAY_LA', `0')dnl",
            "define(`confMAX_DAEMON_CHILDREN', `0')dnl",
            "define(`confCONNECTION_RATE_THROTTLE', `0')dnl",
            "define(`confBAD_RCPT_THROTTLE', `0')dnl",
            "define(`confMAX_NOOP_COMMANDS', `1000')dnl",
            "define(`confAUTH_REALM', %s)dnl" % q(SASL_REALM),
            "define(`confAUTH_MECHANISMS', `PLAIN LOGIN')dnl",
            "TRUST_AUTH_MECH(`PLAIN LOGIN')dnl",
            "define(`confCACERT_PATH', %s)dnl" % q(os.path.join(d, "tls")),
            "define(`confCACERT', %s)dnl" % q(self.cert_path),
            "define(`confSERVER_CERT', %s)dnl" % q(self.cert_path),
            "define(`confSERVER_KEY', %s)dnl" % q(self.key_path),
            "define(`confCLIENT_CERT', %s)dnl" % q(self.cert_path),
            "define(`confCLIENT_KEY', %s)dnl" % q(self.key_path),
            # TrustStickyBit: the workdir may sit under /tmp
            "define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit,GroupReadableKeyFile,GroupReadableSASLDBFile')dnl",
            "define(`confMILTER_MACROS_CONNECT', `j, _, {daemon_name}, {if_name}, {if_addr}, "
            "{client_addr}, {client_port}, {client_name}')dnl",
            "define(`confMILTER_MACROS_HELO', `{tls_version}, {cipher}, {cipher_bits}, "
            "{cert_subject}, {cert_issuer}')dnl",
            "define(`confMILTER_MACROS_ENVFROM', `i, {auth_type}, {auth_authen}, {auth_ssf}, "
            "{auth_author}, {mail_mailer}, {mail_host}, {mail_addr}')dnl",
            "define(`confMILTER_MACROS_ENVRCPT', `{rcpt_mailer}, {rcpt_host}, {rcpt_addr}')dnl",
            "define(`confMILTER_MACROS_EOM', `{msg_id}')dnl",
            "FEATURE(`no_default_msa')dnl",
            "FEATURE(`accept_unresolvable_domains')dnl",
            "FEATURE(`nocanonify')dnl",
            "DAEMON_OPTIONS(`Port=%d, Addr=127.0.0.1, Name=front-end, Listen=256')dnl"
            % self.port_front_end,
            "DAEMON_OPTIONS(`Port=%d, Addr=127.0.0.1, Name=second-line, Listen=256')dnl"
            % self.port_second_line,
            "LOCAL_DOMAIN(%s)dnl" % q(LOCAL_DOMAIN),
            # every user of example.org exists (unknown ones go to root, i.e. stay queued)
            "define(`LUSER_RELAY', `local:root')dnl" if self.catch_all_local else "dnl",
            # relay for the whole loopback net, not only 127.0.0.1 (test clients bind
            # 127.0.0.2, 127.0.0.3 ...); class R matches client address prefixes
            "RELAY_DOMAIN(`127')dnl",
            "INPUT_MAIL_FILTER(`sessguard', `S=%s, F=T, T=%s')dnl" % (
                self.milter_spec, self.milter_timeouts),
            "MAILER(`local')dnl",
            "MAILER(`smtp')dnl",
            # Second-line listener: refuse relaying unless authenticated, like
            # Postfix's permit_sasl_authenticated, reject_unauth_destination.
            # Debian's Sendmail is built without _FFR_MILTER_CHECK_REJECTIONS_TOO:
            # recipients refused by check_rcpt or by the parse ruleset reach no
            # milter, even with SMFIP_RCPT_REJ. Refusals made inside recipient()
            # do (like "User unknown"), so: route such a recipient to a local
            # marker user (ruleset 0) and refuse that user in ruleset 5
            # (localaddr, run inside recipient()). The milter then sees the RCPT
            # with {rcpt_mailer} = error, like Postfix's reject_unauth_destination.
            "LOCAL_RULE_0",
            "R$+ < @ $+ >\t\t$: $1 < @ $2 > $| $&{daemon_name} $| $&{auth_type} $| $&{addr_type}",
            "R$+ < @ $=w . > $| $*\t$: $1 < @ $2 . >",
            "R$+ < @ $=w > $| $*\t$: $1 < @ $2 >",
            "R$+ < @ $+ > $| second-line $| $| e r\t$#local $: sessguard-relay-denied",
            "R$* $| $*\t\t$: $1",
            "LOCAL_RULESETS",
            "SLocal_localaddr",
            "Rsessguard-relay-denied\t$#error $@ 5.7.1 $: \"554 Relay access denied\"",
        ]
        return "\n".join(lines) + "\n"

    def _run_script(self):
        d = self.dir
        return """\
set -eu
W=%(dir)s
SM=%(bin)s
mount --bind "$W/sasl" /usr/lib/sasl2
if [ -e /etc/resolv.conf ]; then mount --bind "$W/resolv.conf" /etc/resolv.conf; fi
mount --bind "$W/hosts" /etc/hosts
mount --bind "$W/nsswitch.conf" /etc/nsswitch.conf
hostname %(hostname)s
mkdir -p "$W/olddev"
mount --rbind /dev "$W/olddev"
mount -t tmpfs -o mode=0755,size=1m sessguard-e2e-dev /dev
for n in null zero full random urandom tty; do
    : > /dev/$n
    mount --bind "$W/olddev/$n" /dev/$n
done
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
: > /dev/log
mount --bind "$W/syslog.sock" /dev/log
umount -l "$W/olddev"
"$SM" -C "$W/sendmail.cf" -bi
echo "sessguard-e2e: exec sendmail -bD"
exec "$SM" -C "$W/sendmail.cf" -bD
""" % {"dir": d, "bin": SENDMAIL_BIN, "hostname": HOSTNAME}

    def _prepare(self):
        d = self.dir
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        os.chmod(d, 0o755)
        for sub, mode in (("queue", 0o700), ("sasl", 0o755), ("tls", 0o700), ("hoststat", 0o700)):
            os.makedirs(os.path.join(d, sub))
            os.chmod(os.path.join(d, sub), mode)

        def write(name, text, mode=0o644):
            p = os.path.join(d, name)
            with open(p, "w") as f:
                f.write(text)
            os.chmod(p, mode)
            return p

        write("sendmail.mc", self._mc())
        write("run.sh", self._run_script(), 0o755)
        write("helpfile", _HELPFILE % HOSTNAME)
        write("sendmail.st", "")
        write("service.switch", "hosts files\naliases files\n")
        write("hosts", "127.0.0.1 localhost %s mta-test\n::1 localhost ip6-localhost %s mta-test\n"
              % (HOSTNAME, HOSTNAME))
        # libc lookups (Sendmail's own host name, client PTR) from files only
        write("nsswitch.conf", "".join("%s: files\n" % db for db in (
            "passwd", "group", "shadow", "gshadow", "hosts", "networks", "protocols",
            "services", "ethers", "rpc", "netgroup", "aliases")))
        write("resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        aliases = ["postmaster: root", "MAILER-DAEMON: postmaster", "abuse: postmaster"]
        for u in self.users:
            if u.lower() not in ("root", "postmaster", "mailer-daemon", "abuse"):
                aliases.append("%s: root" % u)
        write("aliases", "\n".join(aliases) + "\n")
        db = os.path.join(d, "sasl", "sasldb2")
        write("sasl/Sendmail.conf",
              "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: %s\n"
              "mech_list: PLAIN LOGIN\n" % db)

        with open(self.mc_path) as src, open(self.cf_path, "w") as dst:
            r = subprocess.run([_which("m4"), "-D_CF_DIR_=" + CF_DIR], stdin=src, stdout=dst,
                               stderr=subprocess.PIPE)
        if r.returncode != 0 or os.path.getsize(self.cf_path) < 1000:
            raise SendmailError("m4 failed building %s: %s" % (self.cf_path,
                                                                r.stderr.decode(errors="replace")))

        for user, password in self.users.items():
            r = subprocess.run([_which("saslpasswd2"), "-p", "-c", "-f", db, "-u", SASL_REALM, user],
                               input=password.encode(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            if r.returncode != 0:
                raise SendmailError("saslpasswd2 failed for %s: %s" % (
                    user, r.stdout.decode(errors="replace")))
        if os.path.exists(db):
            os.chmod(db, 0o600)

        r = subprocess.run([_which("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", self.key_path, "-out", self.cert_path, "-days", "3",
                            "-subj", "/CN=" + HOSTNAME], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise SendmailError("openssl req failed: %s" % r.stdout.decode(errors="replace"))
        os.chmod(self.key_path, 0o600)
        os.chmod(self.cert_path, 0o644)

    # ------------------------------------------------------------ lifecycle
    def start(self, timeout=30):
        """Start Sendmail; return when both listeners accept. Raises SendmailError
        (with Sendmail's output and log) if it does not come up."""
        if self.proc is not None:
            raise SendmailError("already started")
        reason = self.unavailable_reason()
        if reason:
            raise SendmailError("sendmail harness unavailable: " + reason)
        t0 = time.monotonic()
        try:
            st = os.stat(SENDMAIL_BIN)
            if st.st_mode & 0o6000:
                # setgid would make the kernel drop unshare's --kill-child
                # (parent-death signal) at exec; our private copy runs as root.
                os.chmod(SENDMAIL_BIN, st.st_mode & 0o1777)
            self._prepare()
            self._sink = _SyslogSink(os.path.join(self.dir, "syslog.sock"), self.log_path)
            self._sink.start()
            self._out = open(self.out_path, "wb")
            # If this (main) thread's process dies without stop(), unshare is
            # killed, and its --kill-child sends SIGTERM to Sendmail.
            preexec = _die_with_parent if threading.current_thread() is threading.main_thread() \
                else None
            self.proc = subprocess.Popen(
                [_which("unshare"), "--mount", "--uts", "--pid", "--fork",
                 "--kill-child=SIGTERM", "--propagation", "private",
                 "sh", os.path.join(self.dir, "run.sh")],
                stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, cwd=self.dir, preexec_fn=preexec,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"})
            deadline = t0 + timeout
            while True:
                if all(_port_listening(p) for p in self.ports):
                    break
                if self.proc.poll() is not None:
                    raise SendmailError("sendmail exited with status %s during start"
                                        % self.proc.returncode)
                if time.monotonic() > deadline:
                    raise SendmailError("sendmail did not listen on ports %s within %ss"
                                        % (self.ports, timeout))
                time.sleep(0.05)
        except Exception as e:
            diag = self.diagnostics()
            self.stop()
            if isinstance(e, SendmailError):
                raise SendmailError("%s\n%s" % (e, diag)) from None
            raise SendmailError("%s: %s\n%s" % (type(e).__name__, e, diag)) from e
        self.start_seconds = time.monotonic() - t0
        atexit.register(self.stop)
        return self

    def _namespace_pids(self):
        """Host PIDs of the processes in our private PID namespace (Sendmail and
        its connection children), PID 1 of the namespace (Sendmail) first."""
        if self.proc is None:
            return []
        try:
            mine = os.readlink("/proc/%d/ns/pid_for_children" % self.proc.pid)
        except OSError:
            return []
        pids = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == self.proc.pid:
                continue
            try:
                if os.readlink("/proc/%s/ns/pid" % name) != mine:
                    continue
                nspid = "0"
                with open("/proc/%s/status" % name) as f:
                    for line in f:
                        if line.startswith("NSpid:"):
                            nspid = line.split()[-1]
                pids.append((nspid != "1", int(name)))
            except (OSError, ValueError):
                pass
        return [pid for _, pid in sorted(pids)]

    def stop(self, timeout=10):
        """Stop Sendmail and everything it started. Safe to call any number of
        times, also after a failed start."""
        t0 = time.monotonic()
        proc = self.proc
        if proc is not None:
            try:
                inner = self._namespace_pids()
                # SIGTERM to Sendmail (PID 1 of the namespace) so it ends cleanly;
                # the kernel then kills the rest of the namespace and unshare exits.
                if inner:
                    try:
                        os.kill(inner[0], signal.SIGTERM)
                    except ProcessLookupError:
                        pass
                else:
                    try:
                        os.killpg(proc.pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
                try:
                    proc.wait(timeout=timeout / 2)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(proc.pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
                    try:
                        proc.wait(timeout=timeout / 2)
                    except subprocess.TimeoutExpired:
                        pass
            finally:
                # whatever is left of our namespace, and our process group
                for pid in self._namespace_pids():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
                self.proc = None
            # the listeners are gone when the kernel has torn the namespace down
            end = time.monotonic() + 5
            while any(_port_listening(p) for p in self.ports) and time.monotonic() < end:
                time.sleep(0.05)
        if self._sink is not None:
            # Sendmail and its children are gone (the namespace's PID 1 is
            # reaped only after the kernel killed the rest): what they logged
            # is queued in the socket, and close() drains it
            self._sink.close()
            self._sink = None
        if self._out is not None:
            self._out.close()
            self._out = None
        if proc is not None:
            self.stop_seconds = time.monotonic() - t0
            try:
                atexit.unregister(self.stop)
            except Exception:  # noqa: BLE001
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ------------------------------------------------------------ inspection
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        """The Sendmail log so far (what it sent to syslog)."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def output_text(self):
        try:
            with open(self.out_path, "rb") as f:
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def diagnostics(self):
        return ("--- sendmail output (%s) ---\n%s--- sendmail log (%s) ---\n%s"
                % (self.out_path, self.output_text(), self.log_path, self.log_text()))

    def queue_ids(self):
        """Queue ids of the messages Sendmail accepted (they stay queued)."""
        try:
            return sorted(n[2:] for n in os.listdir(self.queue_dir) if n.startswith("qf"))
        except OSError:
            return []

    def __repr__(self):
        return "<SendmailMTA %s front=%d second=%d milter=%s>" % (
            self.dir, self.port_front_end, self.port_second_line, self.milter_spec)


if __name__ == "__main__":
    # Debug by hand: python3 tests/e2e/sendmail_mta.py [milter-socket]
    # starts one instance and waits for Enter.
    import sys
    import tempfile
    _tmp = tempfile.mkdtemp(prefix="sessguard-sendmail-")
    _sock = sys.argv[1] if len(sys.argv) > 1 else "unix:" + os.path.join(_tmp, "sessguard.sock")
    _mta = SendmailMTA(_tmp, _sock, users={"alice": "secret", "bob": "hunter2"})
    _mta.start()
    print("%r up in %.2fs\n  front-end   127.0.0.1:%d\n  second-line 127.0.0.1:%d\n"
          "  users %s (realm %s)\n  log %s\n  queue %s"
          % (_mta, _mta.start_seconds, _mta.port_front_end, _mta.port_second_line,
             _mta.users, SASL_REALM, _mta.log_path, _mta.queue_dir))
    try:
        input("Enter stops it: ")
    except (EOFError, KeyboardInterrupt):
        pass
    _mta.stop()
    print("stopped in %.2fs; files kept in %s" % (_mta.stop_seconds, _tmp))
