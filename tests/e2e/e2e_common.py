"""Shared pieces of sessguard's end-to-end tests: the daemon under test, an SMTP
client that remembers what it saw, log access, assertions and the scenario
registry.  Python 3 standard library only."""

import base64
import json
import os
import re
import signal
import smtplib
import ssl
import stat
import subprocess
import time

# --------------------------------------------------------------------------
# assertions


class ScenarioFailure(AssertionError):
    pass


def check(cond, why):
    if not cond:
        raise ScenarioFailure(why)


def eq(got, want, what):
    if got != want:
        raise ScenarioFailure("%s: got %r, want %r" % (what, got, want))


def reply_is(reply, prefix, what):
    """reply is (code, text) as from smtplib; prefix like '250', '554 5.7.1', '4'."""
    code, text = reply
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    line = "%d %s" % (code, text.replace("\n", " | "))
    if not line.startswith(prefix):
        raise ScenarioFailure("%s: SMTP reply %r, want %r..." % (what, line, prefix))
    return line


def contains(haystack, needle, what):
    if haystack is None or needle not in str(haystack):
        raise ScenarioFailure("%s: %r does not contain %r" % (what, haystack, needle))


# --------------------------------------------------------------------------
# the daemon under test

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|\+00:00)$")


class SessguardError(RuntimeError):
    pass


class Sessguard:
    """One sessguard process with its own config, socket and JSON log."""

    def __init__(self, binary, workdir, mode="enforce", local_domains="example.org",
                 relay_domains="", trusted_networks="192.0.2.1/32",
                 relay_reply="554 5.7.1 Relay access denied", log_level="commands",
                 socket_path=None, extra=None, policy_path=None):
        self.binary = os.path.abspath(binary)
        self.workdir = os.path.abspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        os.chmod(self.workdir, 0o755)  # the MTA (user postfix) must reach the socket
        self.socket_path = socket_path or os.path.join(self.workdir, "sessguard.sock")
        self.log_path = os.path.join(self.workdir, "sessguard.jsonl")
        self.conf_path = os.path.join(self.workdir, "sessguard.conf")
        self.stderr_path = os.path.join(self.workdir, "sessguard.stderr")
        # the policy front end too (SPEC section 7): both in one daemon
        self.policy_path = policy_path
        self.settings = {
            "socket": "unix:" + self.socket_path,
            "log": "file:" + self.log_path,
            "mode": mode,
            "local_domains": local_domains,
            "relay_domains": relay_domains,
            "trusted_networks": trusted_networks,
            "relay_reply": relay_reply,
            "log_level": log_level,
            "socket_mode": "0666",
        }
        if policy_path:
            self.settings["policy_listen"] = "unix:" + policy_path
            # a policy session ends when idle (Postfix says nothing at QUIT)
            self.settings["policy_session_idle"] = "2"
        if extra:
            self.settings.update(extra)
        self.proc = None
        self._stderr = None

    @property
    def milter_socket(self):
        return "unix:" + self.socket_path

    def write_config(self):
        lines = ["# written by tests/e2e/e2e_common.py"]
        for k, v in self.settings.items():
            if v is None:
                continue
            if v == "":
                continue  # empty list: leave the key at its default
            lines.append("%s = %s" % (k, v))
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=10.0, keep_socket=False):
        """keep_socket: leave a socket file in place (a stale one after a
        crash), for sessguard itself to handle."""
        if not os.access(self.binary, os.X_OK):
            raise SessguardError("sessguard binary %s is missing or not executable"
                                 % self.binary)
        self.write_config()
        sockets = [p for p in (self.socket_path, self.policy_path) if p]
        for path in sockets:
            try:
                if not keep_socket:
                    os.unlink(path)
            except FileNotFoundError:
                pass
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([self.binary, "-f", "-c", self.conf_path],
                                     stdin=subprocess.DEVNULL, stdout=self._stderr,
                                     stderr=self._stderr, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SessguardError("sessguard exited with %s at start: %s"
                                     % (self.proc.returncode, self.stderr_text()[-2000:]))
            ready = 0
            for path in sockets:
                try:
                    st = os.stat(path)
                    if stat.S_ISSOCK(st.st_mode):
                        if (st.st_mode & 0o006) != 0o006:
                            raise SessguardError(
                                "socket %s has mode %o although socket_mode = 0666: the MTA "
                                "(another user) cannot connect" % (path, st.st_mode & 0o777))
                        ready += 1
                except FileNotFoundError:
                    pass
            if ready == len(sockets):
                return
            time.sleep(0.05)
        self.stop()
        raise SessguardError("sessguard did not create %s within %.0fs: %s"
                             % (self.socket_path, timeout, self.stderr_text()[-2000:]))

    def stop(self, timeout=8.0):
        """SIGTERM, then SIGKILL after timeout.  Returns the exit status (or None)."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    rc = self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
                    rc = "killed"
            else:
                rc = self.proc.returncode
            self.proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        return rc

    def reload(self, timeout=10.0, **settings):
        """Changes settings, reloads (SIGUSR1) and waits for the daemon to say
        it took the new configuration."""
        self.settings.update(settings)
        self.write_config()
        before = self.stderr_text().count("configuration reloaded")
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while self.stderr_text().count("configuration reloaded") == before:
            if time.monotonic() > deadline:
                raise SessguardError("no reload within %.0fs: %s"
                                     % (timeout, self.stderr_text()[-500:]))
            time.sleep(0.05)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # ---------------------------------------------------------------- the log
    def log(self):
        """All complete lines of the JSON log, each checked and parsed."""
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        out = []
        lines = data.split(b"\n")
        # A last line without its newline may still be being written: skip it.
        for n, raw in enumerate(lines[:-1], 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ScenarioFailure("log line %d is not UTF-8: %s" % (n, e))
            try:
                obj = json.loads(text)
            except ValueError as e:
                raise ScenarioFailure("log line %d is not JSON (%s): %r" % (n, e, text[:300]))
            check(isinstance(obj, dict), "log line %d is not an object: %r" % (n, text[:200]))
            for key in ("ts", "session", "seq", "event"):
                check(key in obj, "log line %d has no %r: %r" % (n, key, text[:300]))
            check(isinstance(obj["ts"], str) and TS_RE.match(obj["ts"]),
                  "log line %d: ts %r is not RFC 3339 UTC with microseconds" % (n, obj["ts"]))
            check(isinstance(obj["seq"], int) and obj["seq"] >= 1,
                  "log line %d: seq %r is not a positive integer" % (n, obj["seq"]))
            check(isinstance(obj["event"], str) and obj["event"],
                  "log line %d: bad event %r" % (n, obj["event"]))
            out.append(obj)
        return out

    def session_of(self, client_port, client_addr=None, timeout=10.0, need_close=True,
                   via=None):
        """Lines of the session whose connect event has this client port (and
        was reached through that front end: "milter" or "policy"), in seq
        order; waits until its close event is logged (need_close)."""
        deadline = time.monotonic() + timeout
        sid = None
        lines = []
        while True:
            lines = self.log()
            if sid is None:
                for o in lines:
                    if o["event"] == "connect" and str(o.get("client_port")) == str(client_port) \
                            and (client_addr is None or o.get("client_addr") == client_addr) \
                            and (via is None or o.get("via") == via):
                        sid = o["session"]
            if sid is not None:
                mine = [o for o in lines if o["session"] == sid]
                if not need_close or any(o["event"] == "close" for o in mine):
                    return Session(sid, sorted(mine, key=lambda o: o["seq"]))
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if sid is None:
            raise ScenarioFailure("no connect event with client_port %s (%s) in %s (%d lines)"
                                  % (client_port, client_addr, self.log_path, len(lines)))
        raise ScenarioFailure("session %s (client port %s) has no close event after %.0fs"
                              % (sid, client_port, timeout))


class Session:
    """The log lines of one session."""

    def __init__(self, sid, lines):
        self.sid = sid
        self.lines = lines

    def events(self, event):
        return [o for o in self.lines if o["event"] == event]

    def one(self, event, **match):
        found = [o for o in self.events(event)
                 if all(o.get(k) == v for k, v in match.items())]
        check(len(found) == 1, "session %s: want exactly one %s %s, got %d: %s"
              % (self.sid, event, match or "", len(found), self.brief()))
        return found[0]

    def rcpt(self, address):
        """The rcpt event(s) for this recipient address (with or without <>)."""
        want = address.strip("<>").lower()
        return [o for o in self.events("rcpt")
                if str(o.get("rcpt", "")).strip("<>").lower() == want]

    def one_rcpt(self, address):
        found = self.rcpt(address)
        check(len(found) == 1, "session %s: want one rcpt event for %s, got %d: %s"
              % (self.sid, address, len(found), self.brief()))
        return found[0]

    def anomalies(self, kind=None):
        return [o for o in self.events("anomaly") if kind is None or o.get("kind") == kind]

    def brief(self, limit=3000):
        text = " ".join(json.dumps(o, separators=(",", ":")) for o in self.lines)
        return text if len(text) <= limit else text[:limit] + "..."

    def sanity(self):
        """Every session: starts with connect, ends with close, seq strictly increasing."""
        check(self.lines, "session %s is empty" % self.sid)
        eq(self.lines[0]["event"], "connect", "session %s first event" % self.sid)
        eq(self.lines[-1]["event"], "close", "session %s last event" % self.sid)
        seqs = [o["seq"] for o in self.lines]
        check(all(a < b for a, b in zip(seqs, seqs[1:])),
              "session %s: seq not strictly increasing: %s" % (self.sid, seqs))
        eq(seqs[0], 1, "session %s: seq of connect" % self.sid)


# --------------------------------------------------------------------------
# SMTP client


def b64(s):
    return base64.b64encode(s.encode()).decode()


class Client:
    """An SMTP client that keeps a transcript.  cmd() sends one raw line."""

    def __init__(self, host, port, source_addr=None, timeout=30.0):
        src = (source_addr, 0) if source_addr else None
        self.smtp = smtplib.SMTP(timeout=timeout, source_address=src)
        self.transcript = []
        code, msg = self.smtp.connect(host, port)
        self.transcript.append(("<connect>", code, msg))
        self.banner = (code, msg)
        self.local_addr, self.local_port = self.smtp.sock.getsockname()[:2]
        self.closed = False

    def cmd(self, line):
        code, msg = self.smtp.docmd(line)
        self.transcript.append((line, code, msg))
        return code, msg

    def ehlo(self, name="client.example.net"):
        r = self.cmd("EHLO " + name)
        # let smtplib know the extensions (starttls() and data() use them)
        self.smtp.ehlo_resp = r[1]
        self.smtp.does_esmtp = True
        self.smtp.esmtp_features = {}
        for line in r[1].decode("latin-1").split("\n")[1:]:
            parts = line.split(None, 1)
            if parts:
                self.smtp.esmtp_features[parts[0].lower()] = parts[1] if len(parts) > 1 else ""
        return r

    def auth_plain(self, user, password):
        return self.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (user, password)))

    def auth_login(self, user, password):
        """AUTH LOGIN without initial response, as old phones do."""
        r = self.cmd("AUTH LOGIN")
        if r[0] != 334:
            return r
        r = self.cmd(b64(user))
        if r[0] != 334:
            return r
        return self.cmd(b64(password))

    def starttls(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        code, msg = self.smtp.docmd("STARTTLS")
        self.transcript.append(("STARTTLS", code, msg))
        if code == 220:
            self.smtp.sock = ctx.wrap_socket(self.smtp.sock, server_hostname="mx.example.org")
            self.smtp.file = None
            self.smtp.helo_resp = None
            self.smtp.ehlo_resp = None
            self.smtp.esmtp_features = {}
            self.smtp.does_esmtp = False
        return code, msg

    def data(self, body):
        """DATA with a complete message; returns the final reply (or the 354 refusal)."""
        code, msg = self.cmd("DATA")
        if code != 354:
            return code, msg
        if not body.endswith("\r\n"):
            body += "\r\n"
        payload = re.sub(r"(?m)^\.", "..", body).encode() + b".\r\n"
        self.smtp.send(payload)
        code, msg = self.smtp.getreply()
        self.transcript.append(("<message>", code, msg))
        return code, msg

    def quit(self):
        if self.closed:
            return
        self.closed = True
        try:
            code, msg = self.smtp.docmd("QUIT")
            self.transcript.append(("QUIT", code, msg))
        except (smtplib.SMTPException, OSError):
            pass
        try:
            self.smtp.close()
        except OSError:
            pass

    def text(self):
        out = []
        for line, code, msg in self.transcript:
            if isinstance(msg, bytes):
                msg = msg.decode("utf-8", "replace")
            out.append("%s -> %s %s" % (line, code, msg.replace("\n", " | ")))
        return "; ".join(out)


def message(sender, rcpts, subject="sessguard e2e"):
    return ("From: <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%d.%d@client.example.net>"
            "\r\n\r\nHello from the sessguard end-to-end test.\r\n"
            % (sender, ", ".join("<%s>" % r for r in rcpts), subject, os.getpid(),
               int(time.time() * 1e6)))


# --------------------------------------------------------------------------
# scenario registry

SCENARIOS = []
# Listeners: the milter behind Postfix's own relay check, the milter alone,
# sessguard's policy front end alone (check_policy_service), both front ends.
DEPLOYMENTS = ("second_line", "front_end", "policy", "both")


class Scenario:
    def __init__(self, name, func, deployments, phase, needs):
        self.name = name
        self.func = func
        self.deployments = deployments  # subset of DEPLOYMENTS
        self.phase = phase              # "enforce", "monitor" or "stopped"
        self.needs = needs              # MTA features required


def scenario(name, deployments=("second_line", "front_end"), phase="enforce", needs=()):
    def deco(func):
        SCENARIOS.append(Scenario(name, func, tuple(deployments), phase, frozenset(needs)))
        return func
    return deco


class Context:
    """What a scenario gets: the MTA, the listener it talks to, the daemon."""

    def __init__(self, mta, deployment, port, sessguard, users, features=None,
                 host="127.0.0.1"):
        self.mta = mta
        self.features = frozenset(features if features is not None
                                  else getattr(mta, "features", ()))
        self.deployment = deployment          # "second_line", "front_end", "policy", "both"
        self.port = port
        self.sessguard = sessguard
        self.users = users                    # {login: password}
        self.host = host
        self.local_domain = getattr(mta, "local_domain", "example.org")
        self.clients = []

    @property
    def mta_guards(self):
        """True where the MTA itself refuses unauthenticated relaying (second line)."""
        return self.deployment == "second_line"

    @property
    def via(self):
        """The front end whose session a scenario checks: the policy listener
        has no milter; "both" has the two, and the milter's is checked."""
        return "policy" if self.deployment == "policy" else "milter"

    def has(self, feature):
        return feature in self.features

    def client(self, source_addr=None):
        c = Client(self.host, self.port, source_addr=source_addr)
        self.clients.append(c)
        return c

    def user(self, n=0):
        names = sorted(self.users)
        name = names[n % len(names)]
        return name, self.users[name]

    def session(self, client, timeout=15.0):
        client.quit()
        s = self.sessguard.session_of(client.local_port, timeout=timeout, via=self.via)
        s.sanity()
        return s

    def close_all(self):
        for c in self.clients:
            c.quit()


def same_user(logged, login):
    """{auth_authen} may carry the SASL realm (Postfix: alice@example.org)."""
    if not isinstance(logged, str):
        return False
    return logged == login or logged.split("@")[0] == login.split("@")[0]
