#!/usr/bin/python3
"""sessguard-probe against tests/probe/brokensmtpd.py: the correct server
passes every check; with each bug switched on exactly the matching check
FAILs (with a transcript, credentials masked) and the others pass. Also:
LOGIN-only and implicit-TLS servers, exit statuses, a refused login, a
server that never answers, and one that sends escape sequences and
over-long lines. Only 127.0.0.1; every wait is for a condition.

Environment: SESSGUARD_PROBE (default src/probe/sessguard-probe).
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.environ.get("SESSGUARD_PROBE", "src/probe/sessguard-probe")
USER, PASSWORD = "alice@example.org", "s3cret-Pa55"
CHECKS = ("auth_survives_rset", "auth_survives_ehlo", "auth_survives_transactions",
          "auth_twice_refused", "auth_param_ignored", "open_relay", "starttls_injection",
          "tls_discards_state", "sequence", "unknown_command", "long_line")
# brokensmtpd --bug -> the one check that must FAIL
BUGS = {
    "rset-forgets-auth": "auth_survives_rset",
    "ehlo-forgets-auth": "auth_survives_ehlo",
    "transaction-forgets-auth": "auth_survives_transactions",
    "second-auth": "auth_twice_refused",
    "trusts-auth-param": "auth_param_ignored",
    "open-relay": "open_relay",
    "starttls-injection": "starttls_injection",
    "tls-keeps-ehlo": "tls_discards_state",
    "sequence": "sequence",
    "unknown-250": "unknown_command",
    "long-line-crash": "long_line",
}
SECRETS = [PASSWORD, base64.b64encode(PASSWORD.encode()).decode(),
           base64.b64encode(("\0%s\0%s" % (USER, PASSWORD)).encode()).decode(),
           base64.b64encode(USER.encode()).decode()]

failures = []
work = tempfile.mkdtemp(prefix="sg-probe-")


def fail(what):
    failures.append(what)
    print("not ok: " + what, flush=True)


def ok(what):
    print("ok: " + what, flush=True)


def wait_for(cond, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for " + what)
        time.sleep(0.02)


class Broken:
    """One brokensmtpd.py process."""
    n = 0

    def __init__(self, *args, tls=True):
        Broken.n += 1
        self.port_file = os.path.join(work, "port.%d" % Broken.n)
        self.log = os.path.join(work, "commands.%d" % Broken.n)
        argv = [sys.executable, os.path.join(HERE, "brokensmtpd.py"), "--user", USER,
                "--password", PASSWORD, "--port-file", self.port_file, "--log", self.log]
        if tls:
            argv += ["--cert", CERT, "--key", KEY]
        self.proc = subprocess.Popen(argv + list(args))
        wait_for(lambda: os.path.exists(self.port_file) or self.proc.poll() is not None,
                 "brokensmtpd's port file")
        if self.proc.poll() is not None:
            raise RuntimeError("brokensmtpd exited with %s" % self.proc.returncode)
        with open(self.port_file) as f:
            self.port = int(f.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)

    def commands(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("latin-1").splitlines()
        except FileNotFoundError:
            return []


def probe(port, *opts, password=PASSWORD, stdin_password=False, timeout=None, user=True):
    argv = [PROBE, "-p", str(port), "--json"]
    if user:
        if stdin_password:
            argv += ["--user", USER, "--password-file", "-"]
        else:
            pwfile = os.path.join(work, "password")
            with open(pwfile, "w") as f:
                f.write(password + "\n")
            argv += ["--user", USER, "--password-file", pwfile]
    argv += list(opts) + ["127.0.0.1"]
    env = dict(os.environ)
    if timeout:
        env["SESSGUARD_PROBE_TIMEOUT"] = str(timeout)
    p = subprocess.run(argv, input=(password + "\n") if stdin_password else "",
                       capture_output=True, text=True, timeout=120, env=env)
    results = {}
    for line in p.stdout.splitlines():
        obj = json.loads(line)
        results[obj["check"]] = obj
    return p, results


def expect(label, p, results, want_fail=(), want_skip=(), rc=None):
    """Every check reported once, in order; want_fail FAIL, want_skip SKIP,
    the others PASS; the exit status; no credential in the output."""
    good = True
    names = tuple(json.loads(l)["check"] for l in p.stdout.splitlines())
    if names != CHECKS:
        fail("%s: checks reported %s" % (label, names))
        good = False
    for name, r in results.items():
        want = "FAIL" if name in want_fail else "SKIP" if name in want_skip else "PASS"
        if r["result"] != want:
            fail("%s: %s is %s (%s), want %s; transcript: %s" % (
                label, name, r["result"], r["detail"], want, r.get("transcript")))
            good = False
        if r["result"] == "FAIL" and not any(l.startswith("C: ") for l in r.get("transcript", [])):
            fail("%s: FAIL %s without a C:/S: transcript" % (label, name))
            good = False
    if rc is None:
        rc = 1 if want_fail else 0
    if p.returncode != rc:
        fail("%s: exit status %d, want %d (stderr %r)" % (label, p.returncode, rc, p.stderr))
        good = False
    for secret in SECRETS:
        if secret in p.stdout or secret in p.stderr:
            fail("%s: a credential (%r) is in the output" % (label, secret))
            good = False
    if good:
        ok(label)
    return good


def test_correct_and_each_bug():
    srv = Broken()
    try:
        p, res = probe(srv.port, "--starttls", stdin_password=True)
        expect("correct server, --starttls, password on stdin", p, res)
        p, res = probe(srv.port)
        expect("correct server, plain text (STARTTLS checks still run)", p, res)
    finally:
        srv.stop()
    logs = srv.commands()
    sent = "\n".join(logs)
    if "MAIL FROM:<%s>" % USER not in sent or "RCPT TO:<sessguard-probe@example.net>" not in sent:
        fail("default sender (the user name, an address) or default --rcpt not used")
    srv = Broken("--bug", "rset-forgets-auth")
    try:
        p = subprocess.run([PROBE, "-p", str(srv.port), "--user", USER, "--password-file", "-",
                            "--sender", "bob@example.org", "--rcpt", "carol@remote.example",
                            "127.0.0.1"], input=PASSWORD + "\n", capture_output=True,
                           text=True, timeout=60)
        lines = p.stdout.splitlines()
        heads = [l.split(" ", 2)[:2] for l in lines if not l.startswith("    ")]
        fail_at = [i for i, l in enumerate(lines) if l.startswith("FAIL auth_survives_rset: ")]
        if p.returncode != 1 or [h[1].rstrip(":") for h in heads] != list(CHECKS) \
                or len(fail_at) != 1 or not lines[fail_at[0] + 1].startswith("    S: 220 ") \
                or "    C: RCPT TO:<carol@remote.example>" not in lines \
                or "    C: MAIL FROM:<bob@example.org>" not in lines \
                or "    C: AUTH PLAIN ********" not in lines or PASSWORD in p.stdout:
            fail("text output: exit %d: %r" % (p.returncode, p.stdout[:1500]))
        else:
            ok("text output: one line a check, the FAIL followed by its indented transcript")
    finally:
        srv.stop()
    for bug, check in BUGS.items():
        srv = Broken("--bug", bug)
        try:
            p, res = probe(srv.port, "--starttls", timeout=5)
            if expect("--bug %s: only %s fails" % (bug, check), p, res, want_fail=(check,)):
                tr = res[check]["transcript"]
                if bug == "rset-forgets-auth" and "C: AUTH PLAIN ********" not in tr:
                    fail("rset-forgets-auth: masked AUTH PLAIN line missing: %s" % tr)
                if bug == "starttls-injection" and "C: RSET" not in tr:
                    fail("starttls-injection: the pipelined RSET is not in the transcript")
        finally:
            srv.stop()
        logs += srv.commands()
    data = [l for l in logs if l.split(" ")[0].upper() in ("DATA", "BDAT")]
    if data:
        fail("the probe sent DATA/BDAT: %s" % data)
    elif not any(l.startswith("MAIL FROM:") for l in logs):
        fail("brokensmtpd logged no MAIL at all: %s" % logs[:20])
    else:
        ok("no DATA in %d commands, every MAIL transaction ended by RSET" % len(logs))


def test_login_only_and_implicit_tls():
    srv = Broken("--mechs", "LOGIN", "--bug", "rset-forgets-auth")
    try:
        p, res = probe(srv.port, "--starttls")
        if expect("AUTH LOGIN only, --bug rset-forgets-auth", p, res,
                  want_fail=("auth_survives_rset",)):
            tr = res["auth_survives_rset"]["transcript"]
            i = tr.index("C: AUTH LOGIN") if "C: AUTH LOGIN" in tr else -1
            if i < 0 or tr[i + 2] != "C: ********" or tr[i + 4] != "C: ********" \
                    or not tr[i + 5].startswith("S: 235"):
                fail("AUTH LOGIN exchange not as expected (masked): %s" % tr)
            else:
                ok("AUTH LOGIN: user name and password each after a 334, both masked")
    finally:
        srv.stop()
    srv = Broken("--implicit-tls")
    try:
        p, res = probe(srv.port, "--tls")
        expect("implicit TLS (--tls)", p, res,
               want_skip=("starttls_injection", "tls_discards_state"))
        if "implicit TLS" not in res.get("starttls_injection", {}).get("detail", ""):
            fail("--tls: the STARTTLS SKIP does not say why")
    finally:
        srv.stop()
    srv = Broken(tls=False)
    try:
        p, res = probe(srv.port)
        expect("server without STARTTLS", p, res,
               want_skip=("starttls_injection", "tls_discards_state"))
        p, res = probe(srv.port, "--starttls")
        if p.returncode != 2 or "STARTTLS" not in p.stderr:
            fail("--starttls to a server without it: exit %d, stderr %r, want 2"
                 % (p.returncode, p.stderr))
        else:
            ok("--starttls to a server without STARTTLS: exit 2")
        p, res = probe(srv.port, password="wrong-password")
        auth = [c for c in CHECKS if c.startswith("auth_") and c != "auth_param_ignored"]
        expect("wrong password: AUTH checks SKIP, exit 2", p, res, rc=2,
               want_skip=auth + ["starttls_injection", "tls_discards_state"])
        p, res = probe(srv.port, user=False)
        expect("no --user: AUTH checks SKIP, exit 0", p, res, want_skip=auth
               + ["starttls_injection", "tls_discards_state"], rc=0)
    finally:
        srv.stop()


def test_usage_and_connection_errors():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed_port = s.getsockname()[1]
    s.close()            # nothing listens there now
    pw = os.path.join(work, "password")
    cases = [
        ("connection refused", [PROBE, "-p", str(closed_port), "127.0.0.1"]),
        ("no HOST", [PROBE]),
        ("two HOSTs", [PROBE, "a", "b"]),
        ("--user without --password-file", [PROBE, "--user", "u", "127.0.0.1"]),
        ("--password on the command line", [PROBE, "--user", "u", "--password", "x",
                                             "127.0.0.1"]),
        ("--starttls with --tls", [PROBE, "--starttls", "--tls", "127.0.0.1"]),
        ("--rcpt with a CRLF", [PROBE, "--rcpt", "a@b\r\nDATA", "127.0.0.1"]),
        ("missing password file", [PROBE, "--user", "u", "--password-file", pw + ".none",
                                   "127.0.0.1"]),
    ]
    for label, argv in cases:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if p.returncode != 2 or not p.stderr.startswith("sessguard-probe: ") or p.stdout:
            fail("%s: exit %d, stdout %r, stderr %r; want 2 and a message"
                 % (label, p.returncode, p.stdout, p.stderr))
        else:
            ok("%s: exit 2" % label)


class Hostile:
    """A server on a thread: 'silent' greets nobody; 'rude' answers with
    escape sequences and over-long lines; 'endless' sends a line that never
    ends; 'tls-silent' says 220 to STARTTLS and then nothing."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.conns = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self.session, args=(c,), daemon=True).start()

    def session(self, c):
        try:
            if self.mode == "silent":
                c.recv(1)          # until the probe gives up and closes
                return
            if self.mode == "endless":
                c.sendall(b"220 " + b"x" * 100000)
                c.recv(1)
                return
            if self.mode == "tls-silent":
                # STARTTLS gets its 220, then nothing: no ServerHello
                f = c.makefile("rb")
                c.sendall(b"220 hello\r\n")
                for line in f:
                    if line.upper().startswith(b"EHLO"):
                        c.sendall(b"250-hello\r\n250 STARTTLS\r\n")
                    elif line.upper().startswith(b"STARTTLS"):
                        c.sendall(b"220 go ahead\r\n")
                        c.recv(1 << 16)
                        c.recv(1)
                        return
                return
            c.sendall(b"220 \x1b[2J\x1b]0;owned\x07 hello\r\n")
            f = c.makefile("rb")
            for line in f:
                verb = line.split(b" ")[0].strip().upper()
                if verb == b"EHLO":
                    c.sendall(b"250-rude\r\n250-" + b"\x9b31m" + b"L" * 5000 + b"\r\n250 OK\r\n")
                elif verb == b"QUIT":
                    c.sendall(b"221 bye\r\n")
                    return
                elif verb == b"XSGPROBE":
                    c.sendall(b"250 \x1b[31mfine\x1b[0m\r\n")
                elif verb in (b"NOOP", b"RSET"):
                    c.sendall(b"250 ok\r\n")
                else:
                    c.sendall(b"550 \x1b[5m\xff\xfe\r" + b"Z" * 3000 + b"\r\n")
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopping = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def test_hostile_servers():
    for mode in ("silent", "endless", "tls-silent"):
        h = Hostile(mode)
        t = time.monotonic()
        tls = ["--starttls"] if mode == "tls-silent" else []
        p = subprocess.run([PROBE, "-p", str(h.port)] + tls + ["127.0.0.1"], capture_output=True,
                           text=True, timeout=60,
                           env=dict(os.environ, SESSGUARD_PROBE_TIMEOUT="2"))
        took = time.monotonic() - t
        h.stop()
        if p.returncode != 2 or took > 10 or not p.stderr:
            fail("%s server: exit %d after %.1fs, stderr %r; want 2 within the timeout"
                 % (mode, p.returncode, took, p.stderr))
        else:
            ok("%s server: exit 2 after %.1fs: %s" % (mode, took, p.stderr.strip()))
    h = Hostile("rude")
    try:
        for fmt in ("text", "json"):
            argv = [PROBE, "-p", str(h.port)] + (["--json"] if fmt == "json" else []) \
                + ["127.0.0.1"]
            p = subprocess.run(argv, capture_output=True, timeout=60,
                               env=dict(os.environ, SESSGUARD_PROBE_TIMEOUT="5"))
            out = p.stdout
            bad = [b for b in (b"\x1b", b"\x07", b"\x9b", b"\xff", b"\r") if b in out]
            longest = max((len(l) for l in out.split(b"\n")), default=0)
            if p.returncode != 1 or bad or b"unknown_command" not in out:
                fail("rude server (%s): exit %d, raw bytes %r in the output: %r"
                     % (fmt, p.returncode, bad, out[:600]))
            elif fmt == "text" and (longest > 2000 or b"\\x1b[31mfine" not in out):
                fail("rude server (text): longest line %d, escapes: %r" % (longest, out[:800]))
            elif fmt == "json":
                try:
                    objs = [json.loads(l) for l in out.decode("utf-8").splitlines()]
                    tr = [o for o in objs if o["check"] == "unknown_command"][0]["transcript"]
                    if not any("\x1b[31mfine" in l for l in tr):
                        raise ValueError("transcript lost the reply: %r" % tr)
                    ok("rude server (json): valid JSON, bytes escaped, lines bounded")
                except (ValueError, IndexError, KeyError) as e:
                    fail("rude server (json): %s: %r" % (e, out[:600]))
            else:
                ok("rude server (text): escaped, longest line %d bytes" % longest)
    finally:
        h.stop()


def main():
    global CERT, KEY
    if not os.access(PROBE, os.X_OK):
        print("sessguard-probe not built: %s" % PROBE)
        return 1
    if shutil.which("openssl") is None:
        print("SKIP: openssl(1) is needed to make the test certificate")
        return 77
    CERT, KEY = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=mx.example.org", "-keyout", KEY, "-out", CERT],
                   check=True, capture_output=True)
    try:
        test_correct_and_each_bug()
        test_login_only_and_implicit_tls()
        test_usage_and_connection_errors()
        test_hostile_servers()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
