#!/usr/bin/env python3
"""Protocol tests of the policy-delegation front end (SPEC section 7).

Each scenario starts the real daemon (-f -c CONF; socket = none, or with
-p for a milter socket too, so that both front ends run in one daemon), speaks Postfix's
policy protocol to it over a unix socket (one scenario over inet), checks
every reply byte for byte, stops it with SIGTERM, and checks every line of
its JSON log: tests/milter/logcheck.py for the schema of SPEC section 5,
then each session's lines one by one, in order, none missing and none extra.

usage: t-policy.py [SCENARIO...]     (all by default)
Environment: SESSGUARD (the daemon), FAILALLOC (tests/fault/failalloc.so,
for the tempfail scenario), SG_SANITIZE (sanitizer reports are failures).
Prints 'ok'/'not ok' lines and 'N passed, N failed'; exit 0 only if none
failed.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LOGCHECK = os.path.join(HERE, "..", "milter", "logcheck.py")
SESSGUARD = os.environ.get("SESSGUARD", "src/sessguard")
FAILALLOC = os.environ.get("FAILALLOC", "")
PASSED = FAILED = 0
TMO = 20        # seconds: the longest any condition may take to appear
DAEMONS = []    # started, to be killed if a scenario fails half way

REFUSED = b"action=554 5.7.1 Relay access denied\n\n"
DUNNO = b"action=DUNNO\n\n"


def ok(cond, what):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print("ok - " + what)
    else:
        FAILED += 1
        print("not ok - " + what)
    return cond


def wait_for(cond, what, timeout=TMO):
    """Polls cond() until it is true (a condition, never a fixed delay)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


def request(**kw):
    """A request with every attribute Postfix 3.7 sends, in its order."""
    attrs = [
        ("request", "smtpd_access_policy"), ("protocol_state", "RCPT"),
        ("protocol_name", "ESMTP"), ("client_address", "192.0.2.10"),
        ("client_name", "client.example.net"),
        ("reverse_client_name", "client.example.net"),
        ("client_port", "40000"), ("helo_name", "client.example.net"),
        ("sender", "alice@example.org"), ("recipient", "bob@remote.test"),
        ("recipient_count", "0"), ("queue_id", ""),
        ("instance", "4d2.6578a1b2.3e8a1.0"), ("size", "0"),
        ("etrn_domain", ""), ("stress", ""), ("sasl_method", ""),
        ("sasl_username", ""), ("sasl_sender", ""), ("ccert_subject", ""),
        ("ccert_issuer", ""), ("ccert_fingerprint", ""),
        ("ccert_pubkey_fingerprint", ""), ("encryption_protocol", ""),
        ("encryption_cipher", ""), ("encryption_keysize", "0"),
        ("server_address", "127.0.0.1"), ("server_port", "25"),
        ("policy_context", ""),
    ]
    d = dict(attrs)
    d.update(kw)
    return "".join("%s=%s\n" % (k, v) for k, v in d.items()).encode() + b"\n"


def tls(**kw):
    kw.setdefault("encryption_protocol", "TLSv1.3")
    kw.setdefault("encryption_cipher", "TLS_AES_256_GCM_SHA384")
    kw.setdefault("encryption_keysize", "256")
    return request(**kw)


class Conn:
    """One policy client connection."""

    def __init__(self, daemon):
        self.s = socket.socket(daemon.family)
        self.s.settimeout(TMO)
        self.s.connect(daemon.addr)
        self.buf = b""

    def ask(self, req):
        self.s.sendall(req)
        return self.reply()

    def reply(self):
        while b"\n\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                return self.buf or None       # closed
            self.buf += chunk
        i = self.buf.index(b"\n\n") + 2
        r, self.buf = self.buf[:i], self.buf[i:]
        return r

    def closed_without_reply(self):
        """True when the server closes the connection and sent nothing."""
        try:
            data = self.s.recv(65536)
        except ConnectionResetError:
            return True
        return data == b""

    def close(self):
        self.s.close()


class Daemon:
    def __init__(self, name, conf, milter=False, inet_port=None, env=None):
        self.dir = tempfile.mkdtemp(prefix="sg-policy-%s." % name)
        self.log = os.path.join(self.dir, "log.jsonl")
        if inet_port:
            listen = "inet:%d@127.0.0.1" % inet_port
            self.family, self.addr = socket.AF_INET, ("127.0.0.1", inet_port)
        else:
            self.addr = os.path.join(self.dir, "policy.sock")
            listen = "unix:" + self.addr
            self.family = socket.AF_UNIX
        self.conf = os.path.join(self.dir, "sessguard.conf")
        with open(self.conf, "w") as f:
            f.write("log = file:%s\npolicy_listen = %s\n" % (self.log, listen))
            if not milter:
                f.write("socket = none\n")
            f.write(conf)
        e = dict(os.environ)
        if os.environ.get("SG_SANITIZE"):
            e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + \
                ":log_path=%s/asan" % self.dir
            e["UBSAN_OPTIONS"] = e.get("UBSAN_OPTIONS", "") + \
                ":log_path=%s/ubsan" % self.dir
        e.update(env or {})
        argv = [SESSGUARD, "-f", "-c", self.conf]
        if milter:
            argv += ["-p", "unix:" + os.path.join(self.dir, "milter.sock")]
        self.stderr = open(os.path.join(self.dir, "stderr"), "w+")
        self.p = subprocess.Popen(argv, stderr=self.stderr, env=e)
        DAEMONS.append(self.p)
        wait_for(lambda: "policy server listening" in self.err()
                 or self.p.poll() is not None, "the policy server")
        if self.p.poll() is not None:
            raise AssertionError("daemon exited: " + self.err())

    def err(self):
        self.stderr.flush()
        with open(self.stderr.name) as f:
            return f.read()

    def conn(self):
        return Conn(self)

    def lines(self):
        try:
            with open(self.log, encoding="utf-8") as f:
                return [json.loads(l) for l in f.read().splitlines()]
        except FileNotFoundError:
            return []

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(TMO)
        ok(rc == 0, "daemon exits 0 on SIGTERM (got %s)" % rc)
        r = subprocess.run([sys.executable, LOGCHECK, self.log],
                           capture_output=True, text=True)
        ok(r.returncode == 0, "log schema: " + (r.stdout + r.stderr).strip())
        reports = [f for f in os.listdir(self.dir)
                   if f.startswith(("asan.", "ubsan."))]
        if not ok(not reports, "no sanitizer report"):
            for f in reports:
                print(open(os.path.join(self.dir, f)).read())
        return self.lines()


def sessions(lines):
    """The log's sessions in the order they began: lists of lines."""
    order, by = [], {}
    for ev in lines:
        if ev["session"] not in by:
            order.append(ev["session"])
            by[ev["session"]] = []
        by[ev["session"]].append(ev)
    return [by[s] for s in order]


def get(ev, key):
    cur = ev
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return KeyError
        cur = cur[part]
    return cur


def match(ev, want):
    """want: (event, {key: value}); a value '~text' means 'contains'."""
    name, fields = want
    if ev["event"] != name:
        return "event %s, want %s" % (ev["event"], name)
    for k, v in fields.items():
        got = get(ev, k)
        if isinstance(v, str) and v.startswith("~"):
            if not isinstance(got, str) or v[1:] not in got:
                return "%s=%r does not contain %r" % (k, got, v[1:])
        elif got != v or type(got) != type(v):
            return "%s=%r, want %r" % (k, got, v)
    return None


def check_session(sess, want, what):
    """Every line of one session, in order: none missing, none extra."""
    got = [ev["event"] for ev in sess]
    if len(sess) != len(want):
        return ok(False, "%s: %d lines %s, want %d %s" % (
            what, len(sess), got, len(want), [w[0] for w in want]))
    for i, (ev, w) in enumerate(zip(sess, want)):
        why = match(ev, w)
        if why:
            return ok(False, "%s: line %d: %s: %s" % (what, i + 1, why,
                                                      json.dumps(ev)))
    return ok(True, "%s: all %d log lines as expected" % (what, len(want)))


def check_log(lines, wants, what):
    ss = sessions(lines)
    if not ok(len(ss) == len(wants), "%s: %d sessions, want %d" % (
            what, len(ss), len(wants))):
        for l in lines:
            print("   ", json.dumps(l))
        return
    for i, (s, w) in enumerate(zip(ss, wants)):
        if not check_session(s, w, "%s session %d" % (what, i + 1)):
            for l in s:
                print("   ", json.dumps(l))


def connect(**f):
    d = {"via": "policy", "client_addr": "192.0.2.10", "client_port": 40000,
         "client_name": "client.example.net", "daemon": None}
    d.update(f)
    return ("connect", d)


def helo(name="client.example.net", **f):
    f["helo"] = name
    f.setdefault("tls", None)
    return ("helo", f)


def close(reason="shutdown", **f):
    f["reason"] = reason
    return ("close", f)


BASE = "local_domains = example.org\ntrusted_networks = 192.0.2.1/32\n"


# Scenarios -------------------------------------------------------------

def t_replies():
    """Permitted, refused (enforce), trusted, other stages; the reason."""
    d = Daemon("replies", BASE + "relay_reply = 554 5.7.1 Relay access "
               "denied: %r\n", milter=True)
    c = d.conn()
    r = c.ask(request(protocol_state="CONNECT", helo_name="", sender="",
                      recipient="", instance=""))
    ok(r == DUNNO, "CONNECT stage: DUNNO (%r)" % r)
    r = c.ask(request(protocol_state="EHLO", sender="", recipient="",
                      instance=""))
    ok(r == DUNNO, "EHLO stage: DUNNO (%r)" % r)
    r = c.ask(request(protocol_state="MAIL", recipient="", instance=""))
    ok(r == DUNNO, "MAIL stage: DUNNO (%r)" % r)
    r = c.ask(request(recipient="carol@example.org"))
    ok(r == DUNNO, "local recipient: DUNNO (%r)" % r)
    r = c.ask(request())
    ok(r == b"action=554 5.7.1 Relay access denied: not authenticated\n\n",
       "relay refused: the relay_reply with reason 'not authenticated' "
       "(%r)" % r)
    r = c.ask(request(protocol_state="VRFY", recipient="x@remote.test",
                      instance=""))
    ok(r == DUNNO, "VRFY stage: DUNNO (%r)" % r)
    r = c.ask(request(protocol_state="DATA", recipient=""))
    ok(r == DUNNO, "DATA stage: DUNNO (%r)" % r)
    r = c.ask(request(protocol_state="END-OF-MESSAGE", recipient="",
                      queue_id="4QXYZ1", size="1234"))
    ok(r == DUNNO, "END-OF-MESSAGE stage: DUNNO (%r)" % r)
    t = d.conn()
    r = t.ask(request(client_address="192.0.2.1", client_port="5000",
                      instance="4d3.1.1.0"))
    ok(r == DUNNO, "trusted client: DUNNO (%r)" % r)
    c.close()
    t.close()
    lines = d.stop()
    check_log(lines, [[
        connect(),
        helo(),
        ("mail", {"txn": 1, "sender": "<alice@example.org>", "args": [],
                  "auth": None}),
        ("rcpt", {"txn": 1, "rcpt": "<carol@example.org>", "relay": False,
                  "verdict": "accept",
                  "reason": "recipient domain in local_domains"}),
        ("rcpt", {"txn": 1, "rcpt": "<bob@remote.test>", "relay": True,
                  "verdict": "reject", "reason": "not authenticated",
                  "reply": "554 5.7.1 Relay access denied: not "
                  "authenticated"}),
        ("data", {"txn": 1}),
        ("eom", {"txn": 1, "queue_id": "4QXYZ1", "size": 1234}),
        close(transactions=1, rcpts=2, rejected=1, auth=None),
    ], [
        connect(client_addr="192.0.2.1", client_port=5000),
        helo(),
        ("mail", {"txn": 1}),
        ("rcpt", {"txn": 1, "relay": True, "verdict": "accept",
                  "reason": "client 192.0.2.1 in trusted_networks"}),
        close(),
    ]], "replies")
    ok(not any(l.get("kind") == "mail_without_helo" for l in lines),
       "no mail_without_helo anomaly")


def t_monitor():
    d = Daemon("monitor", BASE + "mode = monitor\n")
    c = d.conn()
    # no HELO seen (Postfix allows MAIL without it): no mail_without_helo,
    # the policy front end does not see every stage
    r = c.ask(request(helo_name=""))
    ok(r == DUNNO, "monitor: a refused relay gets DUNNO (%r)" % r)
    c.close()
    check_log(d.stop(), [[
        connect(), ("mail", {"txn": 1}),
        ("rcpt", {"verdict": "would_reject", "relay": True,
                  "reason": "not authenticated"}),
        close(rejected=0),
    ]], "monitor")


def t_tempfail():
    """No session can be allocated: an RCPT gets 451 4.3.0, never DUNNO."""
    if not FAILALLOC or not os.path.exists(FAILALLOC) \
            or os.environ.get("SG_SANITIZE"):
        print("ok - tempfail # SKIP needs FAILALLOC, not under sanitizers")
        return
    flag = tempfile.mktemp(prefix="sg-policy-fail.")
    d = Daemon("tempfail", BASE, env={
        "LD_PRELOAD": FAILALLOC, "SG_FAIL_CALLOC_MIN": "512",
        "SG_FAIL_CALLOC_FILE": flag})
    c = d.conn()
    # a request that gets no session (key too long): the connection is
    # accepted (its own allocation done) before allocations fail
    r = c.ask(request(protocol_state="EHLO", client_port="1" * 20))
    ok(r == DUNNO, "a key too long: no session, DUNNO at EHLO (%r)" % r)
    ok("too long; no session" in d.err(), "... and a warning")
    open(flag, "w").close()
    r = c.ask(request(recipient="carol@example.org"))
    ok(r == b"action=451 4.3.0 Temporary failure in relay check, try again "
       b"later\n\n", "no memory for the session: 451 4.3.0 (%r)" % r)
    r = c.ask(request(protocol_state="EHLO", recipient="", instance=""))
    ok(r == DUNNO, "no memory at EHLO: DUNNO, nothing to decide (%r)" % r)
    os.remove(flag)
    r = c.ask(request(recipient="carol@example.org"))
    ok(r == DUNNO, "memory back: the same connection is served (%r)" % r)
    ok("out of memory for a session of 192.0.2.10" in d.err(),
       "the daemon says why")
    c.close()
    check_log(d.stop(), [[
        connect(), helo(), ("mail", {"txn": 1}),
        ("rcpt", {"verdict": "accept", "rcpt": "<carol@example.org>"}),
        close(),
    ]], "tempfail")


def t_carried():
    """S2: a login in the first transaction, none in later ones."""
    d = Daemon("carried", BASE)
    c = d.conn()
    r = c.ask(request(sasl_username="alice", sasl_method="LOGIN",
                      instance="4d2.1.1.0"))
    ok(r == DUNNO, "authenticated relay: DUNNO (%r)" % r)
    # RSET (invisible), a new transaction: Postfix reports no login
    r = c.ask(request(instance="4d2.1.2.0", recipient="friend@remote.test"))
    ok(r == DUNNO, "login carried into the next transaction (%r)" % r)
    r = c.ask(request(instance="4d2.1.2.0", recipient="other@remote.test"))
    ok(r == DUNNO, "and for its next recipient (%r)" % r)
    c.close()
    alice = {"user": "alice", "mech": "LOGIN", "since_seq": 3}
    check_log(d.stop(), [[
        connect(), helo(),
        ("mail", {"txn": 1, "auth": dict(alice, source="mta")}),
        ("rcpt", {"txn": 1, "verdict": "accept",
                  "reason": "authenticated as alice (LOGIN) at seq 3"}),
        ("mail", {"txn": 2, "auth": dict(alice, source="carried")}),
        ("anomaly", {"kind": "auth_carried"}),
        ("rcpt", {"txn": 2, "verdict": "accept", "rcpt":
                  "<friend@remote.test>", "reason": "~carried"}),
        ("rcpt", {"txn": 2, "verdict": "accept", "auth.source": "carried"}),
        close(transactions=2, rcpts=3, rejected=0, auth=dict(
            alice, source="carried")),
    ]], "carried")


def t_authparam():
    """S1: the AUTH= claim (sasl_sender) is logged, never trusted."""
    d = Daemon("authparam", BASE)
    c = d.conn()
    r = c.ask(request(sasl_sender="alice@example.org"))
    ok(r == REFUSED, "AUTH= without login: refused (%r)" % r)
    c.close()
    check_log(d.stop(), [[
        connect(), helo(),
        ("mail", {"txn": 1, "auth": None, "auth_param": "alice@example.org"}),
        ("anomaly", {"kind": "client_auth_param", "detail": "~AUTH=alice"}),
        ("rcpt", {"verdict": "reject", "reason": "not authenticated",
                  "auth": None}),
        close(rejected=1, auth=None),
    ]], "authparam")


def t_starttls():
    """S3: a login in plaintext, then TLS: the login is gone."""
    d = Daemon("starttls", BASE + "relay_reply = 554 5.7.1 Relay access "
               "denied: %r\n")
    c = d.conn()
    r = c.ask(request(protocol_state="EHLO", recipient="", instance="",
                      sender=""))
    ok(r == DUNNO, "plaintext EHLO: DUNNO")
    r = c.ask(request(sasl_username="alice", sasl_method="PLAIN",
                      instance="4d2.1.1.0"))
    ok(r == DUNNO, "plaintext login relays (%r)" % r)
    # STARTTLS (invisible); EHLO again inside TLS; Postfix reports no login
    r = c.ask(tls(protocol_state="EHLO", recipient="", instance="",
                  sender=""))
    ok(r == DUNNO, "EHLO in TLS: DUNNO")
    r = c.ask(tls(instance="4d2.1.2.0"))
    ok(r.startswith(b"action=554 5.7.1 Relay access denied: not "
                    b"authenticated: auth discarded by STARTTLS"),
       "after STARTTLS the plaintext login no longer relays (%r)" % r)
    # a fresh AUTH inside TLS counts (S1)
    r = c.ask(tls(instance="4d2.1.3.0", sasl_username="bob",
                  sasl_method="PLAIN"))
    ok(r == DUNNO, "a login inside TLS relays (%r)" % r)
    c.close()
    check_log(d.stop(), [[
        connect(), helo(),
        ("mail", {"txn": 1, "auth.user": "alice"}),
        ("rcpt", {"verdict": "accept"}),
        ("tls", {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384",
                 "bits": 256}),
        helo(tls={"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384",
                  "bits": 256}),
        ("mail", {"txn": 2, "auth": None}),
        ("rcpt", {"verdict": "reject",
                  "reason": "not authenticated: auth discarded by STARTTLS "
                  "at seq 5"}),
        ("mail", {"txn": 3, "auth.user": "bob", "auth.source": "mta"}),
        ("rcpt", {"verdict": "accept", "reason": "~authenticated as bob"}),
        close(transactions=3, rejected=1),
    ]], "starttls")


def t_starttls_rcpt():
    """S3 when the policy service sees RCPT only (its usual place)."""
    d = Daemon("starttls-rcpt", BASE)
    # session 1: plaintext login; STARTTLS, EHLO and a new AUTH inside TLS
    c = d.conn()
    ok(c.ask(request(sasl_username="alice", sasl_method="PLAIN")) == DUNNO,
       "plaintext login relays")
    r = c.ask(tls(instance="4d2.1.2.0", sasl_username="bob",
                  sasl_method="PLAIN"))
    ok(r == DUNNO, "EHLO and AUTH inside TLS (Postfix forgets the plaintext "
       "login at STARTTLS): the new login relays (%r)" % r)
    c.close()
    # session 2: plaintext login; STARTTLS and MAIL without EHLO (Postfix
    # forgot the HELO name; no AUTH is possible before EHLO)
    c = d.conn()
    ok(c.ask(request(client_port="40001", instance="4d2.2.1.0",
                     sasl_username="alice", sasl_method="PLAIN")) == DUNNO,
       "plaintext login relays")
    r = c.ask(tls(client_port="40001", instance="4d2.2.2.0", helo_name=""))
    ok(r.startswith(b"action=554 5.7.1 Relay access denied"),
       "no EHLO after STARTTLS: the plaintext login does not relay (%r)" % r)
    c.close()
    t = {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384",
         "bits": 256}
    check_log(d.stop(), [[
        connect(), helo(), ("mail", {"txn": 1, "auth.user": "alice"}),
        ("rcpt", {"verdict": "accept"}),
        ("tls", t), helo(tls=t),
        ("mail", {"txn": 2, "auth.user": "bob", "auth.source": "mta"}),
        ("rcpt", {"verdict": "accept", "reason": "~authenticated as bob"}),
        close(transactions=2, rejected=0),
    ], [
        connect(client_port=40001), helo(),
        ("mail", {"txn": 1, "auth.user": "alice"}),
        ("rcpt", {"verdict": "accept"}),
        ("tls", t),
        ("mail", {"txn": 2, "auth": None}),
        ("rcpt", {"verdict": "reject", "reason": "not authenticated: auth "
                  "discarded by STARTTLS at seq 5"}),
        close(transactions=2, rejected=1),
    ]], "starttls-rcpt")


def t_sessions():
    """A new session when client_port or the smtpd pid changes."""
    d = Daemon("sessions", BASE)
    c = d.conn()
    c.ask(request(sasl_username="alice", sasl_method="PLAIN"))
    # the same smtpd, its next client (another port): a new session
    r = c.ask(request(client_port="40001", instance="4d2.2.1.0"))
    ok(r == REFUSED, "new client port: a new session, no login (%r)" % r)
    # another smtpd process with the same client address and port
    c2 = d.conn()
    r = c2.ask(request(client_port="40001", instance="5e3.2.1.0"))
    ok(r == REFUSED, "new smtpd pid: a new session (%r)" % r)
    c.close()
    c2.close()
    check_log(d.stop(), [[
        connect(), helo(), ("mail", {"auth.user": "alice"}),
        ("rcpt", {"verdict": "accept"}),
        close("next_session", transactions=1),
    ], [
        connect(client_port=40001), helo(), ("mail", {"auth": None}),
        ("rcpt", {"verdict": "reject"}),
        close("next_session"),
    ], [
        connect(client_port=40001), helo(), ("mail", {"auth": None}),
        ("rcpt", {"verdict": "reject"}),
        close("shutdown"),
    ]], "sessions")


def t_reconnect():
    """One SMTP session continued on a second policy connection."""
    d = Daemon("reconnect", BASE)
    a = d.conn()
    r = a.ask(request(sasl_username="alice", sasl_method="PLAIN"))
    ok(r == DUNNO, "first connection: authenticated (%r)" % r)
    a.close()   # smtpd closes an idle policy connection, opens another
    b = d.conn()
    r = b.ask(request(instance="4d2.6578a1b2.3e8a1.1"))
    ok(r == DUNNO, "second connection: the same session, login carried "
       "(%r)" % r)
    b.close()
    check_log(d.stop(), [[
        connect(), helo(), ("mail", {"txn": 1, "auth.source": "mta"}),
        ("rcpt", {"verdict": "accept"}),
        ("mail", {"txn": 2, "auth.source": "carried"}),
        ("anomaly", {"kind": "auth_carried"}),
        ("rcpt", {"verdict": "accept", "auth.source": "carried"}),
        close(transactions=2),
    ]], "reconnect")


def t_idle():
    """policy_session_idle = 1: the session ends with reason idle."""
    d = Daemon("idle", BASE + "policy_session_idle = 1\n")
    c = d.conn()
    ok(c.ask(request()) == REFUSED, "a request")
    wait_for(lambda: any(l["event"] == "close" for l in d.lines()),
             "the idle close")
    r = c.ask(request(instance="4d2.1.2.0"))
    ok(r == REFUSED, "the connection is still served after the session "
       "ended (%r)" % r)
    c.close()
    check_log(d.stop(), [[
        connect(), helo(), ("mail", {}), ("rcpt", {"verdict": "reject"}),
        close("idle", transactions=1, rcpts=1),
    ], [
        connect(), helo(), ("mail", {}), ("rcpt", {"verdict": "reject"}),
        close("shutdown"),
    ]], "idle")


def t_malformed():
    """No reply, the connection closed, nothing else disturbed."""
    d = Daemon("malformed", BASE)
    other = d.conn()
    good = request(recipient="carol@example.org")
    ok(other.ask(good) == DUNNO, "a connection before")
    big = b"request=smtpd_access_policy\nx=" + b"a" * 65536 + b"\n\n"
    cases = [
        ("NUL", request(sender="a\0b@example.org"), "NUL byte"),
        ("line without '='", b"request=smtpd_access_policy\nbogus\n\n",
         "line 2 has no '='"),
        ("over 64 KiB", big, "longer than 65536"),
        ("no request=", b"protocol_state=RCPT\nrecipient=x@remote.test\n\n",
         "no request attribute"),
        ("request=other", request(request="junk"), "not smtpd_access_policy"),
        ("over 64 KiB without an end", b"x=" + b"a" * 70000,
         "longer than 65536"),
    ]
    for name, data, why in cases:
        m = d.conn()
        try:
            m.s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        ok(m.closed_without_reply(), "%s: closed without a reply" % name)
        m.close()
        wait_for(lambda: d.err().count("malformed request") ==
                 cases.index((name, data, why)) + 1, "the warning")
        ok(why in d.err().splitlines()[-1], "%s: logged (%s)" % (name, why))
        ok(other.ask(good) == DUNNO, "%s: the other connection is served"
           % name)
    # a good request first, then a malformed one on the same connection
    m = d.conn()
    m.s.sendall(good + b"request=smtpd_access_policy\nbogus\n\n")
    ok(m.reply() == DUNNO, "pipelined: the good request is answered")
    ok(m.closed_without_reply(), "pipelined: then closed")
    m.close()
    other.close()
    lines = d.stop()
    ss = sessions(lines)
    ok(len(ss) == 1 and [l["event"] for l in ss[0]] == [
        "connect", "helo", "mail"] + ["rcpt"] * 8 + ["close"],
       "malformed requests leave no trace in the event log: %s"
       % [[l["event"] for l in s] for s in ss])


def t_concurrent():
    """1,000 concurrent connections, each doing a request."""
    n = 1000
    d = Daemon("concurrent", BASE)
    conns = [d.conn() for _ in range(n)]
    for i, c in enumerate(conns):
        c.s.sendall(request(client_port=str(10000 + i),
                            instance="%x.1.1.0" % (1000 + i),
                            sasl_username="u%d" % i if i % 2 else ""))
    replies = [c.reply() for c in conns]
    ok(all(r == (DUNNO if i % 2 else REFUSED) for i, r in enumerate(replies)),
       "1,000 concurrent connections: every reply right")
    for c in conns:
        c.close()
    lines = d.stop()
    ss = sessions(lines)
    ok(len(ss) == n, "1,000 sessions (%d)" % len(ss))
    good = 0
    for s in ss:
        ev = [l["event"] for l in s]
        port = s[0].get("client_port")
        if ev != ["connect", "helo", "mail", "rcpt", "close"] or \
                not isinstance(port, int):
            continue
        i = port - 10000
        want = "accept" if i % 2 else "reject"
        user = ("u%d" % i) if i % 2 else None
        if s[3]["verdict"] == want and get(s[3], "auth.user") in (user, KeyError) \
                and s[4].get("reason") == "shutdown":
            good += 1
    ok(good == n, "each session's lines right (%d of %d)" % (good, n))


def t_slow():
    """A silent client and one that never reads delay nobody."""
    d = Daemon("slow", BASE)
    silent = d.conn()
    silent.s.sendall(b"request=smtpd_access_policy\nprotocol_st")
    idle = d.conn()
    # a client that sends many requests and reads no reply
    hog = d.conn()
    many = request(client_port="30000") * 20000
    sent = []

    def send_all():
        try:
            hog.s.sendall(many)
            sent.append(True)
        except OSError:
            pass
    th = threading.Thread(target=send_all)
    th.start()
    # wait until the server stopped reading from the hog (its reply is stuck)
    wait_for(lambda: d.lines() and len(d.lines()) > 10, "the hog's requests")
    fast = d.conn()
    fast.s.settimeout(2)
    t0 = time.monotonic()
    for i in range(20):
        r = fast.ask(request(client_port="30001", instance="4d3.1.%d.0" % i))
        if r != REFUSED:
            break
    took = time.monotonic() - t0
    ok(r == REFUSED and took < 2, "20 requests answered in %.3f s beside a "
       "silent, an idle and a non-reading client" % took)
    # the hog reads at last: every reply is there, in order
    hog.s.settimeout(TMO)
    got = 0
    while got < 20000:
        r = hog.reply()
        if r != REFUSED:
            break
        got += 1
    th.join(TMO)
    ok(got == 20000 and sent, "the non-reading client gets all 20,000 "
       "replies once it reads (%d)" % got)
    silent.s.sendall(b"ate=RCPT\nrecipient=carol@example.org\n\n")
    # a request sent a byte at a time, CR LF line ends, then a good one
    trickle = request(client_port="30002", recipient="carol@example.org")
    trickle = trickle.replace(b"\n", b"\r\n") + request(client_port="30002")
    for i in range(len(trickle)):
        fast.s.sendall(trickle[i:i + 1])
    fast.s.settimeout(TMO)
    r1, r2 = fast.reply(), fast.reply()
    ok(r1 == DUNNO and r2 == REFUSED, "a request a byte at a time, and the "
       "next one (%r, %r)" % (r1, r2))
    r = silent.reply()
    ok(r == DUNNO, "the slow request, completed, is answered (%r)" % r)
    for c in (silent, idle, hog, fast):
        c.close()
    lines = d.stop()
    ok(len(sessions(lines)) == 4, "four sessions (%d)"
       % len(sessions(lines)))


def t_quitter():
    """A client that leaves while its replies are stuck is freed at once."""
    d = Daemon("quitter", BASE)
    fds = lambda: len(os.listdir("/proc/%d/fd" % d.p.pid))
    before = fds()
    q = d.conn()
    small = b"request=smtpd_access_policy\nprotocol_state=RCPT\n" \
        b"client_address=192.0.2.10\nclient_port=30003\n" \
        b"recipient=x@remote.test\ninstance=4d4.1.1.0\n\n"

    def send():
        try:
            q.s.sendall(small * 20000)
        except OSError:
            pass
    th = threading.Thread(target=send, daemon=True)
    th.start()
    size = [-1]

    def stuck():      # the server stopped answering: the log stands still
        time.sleep(0.05)
        n, size[0] = size[0], os.path.getsize(d.log)
        return n == size[0] and n > 0
    wait_for(stuck, "the server to stop reading the quitter")
    q.s.shutdown(socket.SHUT_RDWR)
    q.close()
    wait_for(lambda: fds() <= before, "the connection to be freed")
    ok(True, "a client gone with replies pending is freed at once")
    d.stop()


def t_shared():
    """Two connections hammering one SMTP session at once: each request
    has the session to itself (seq strictly increasing, no line lost)."""
    d = Daemon("shared", BASE)
    n = 2000
    conns = [d.conn(), d.conn()]
    results = [None, None]

    def send(k):
        conns[k].s.sendall(b"".join(request(instance="4d2.1.%d.%d"
                                            % (k, i // 10)) for i in range(n)))

    def read(k):
        results[k] = [conns[k].reply() for _ in range(n)]
    # pipelined: a sender and a reader a connection
    ths = [threading.Thread(target=f, args=(k,)) for k in (0, 1)
           for f in (send, read)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(TMO * 3)
    ok(all(r == [REFUSED] * n for r in results),
       "4,000 requests on one session from two connections: every reply")
    for c in conns:
        c.close()
    lines = d.stop()
    ss = sessions(lines)
    ok(len(ss) == 1, "one session (%d)" % len(ss))
    rc = [l for l in lines if l["event"] == "rcpt"]
    ok(len(rc) == 2 * n, "every rcpt logged (%d)" % len(rc))
    ok([l["seq"] for l in ss[0]] == list(range(1, len(ss[0]) + 1)),
       "seq 1, 2, 3 ... without gaps")


def t_inet():
    """inet:PORT@127.0.0.1, and the unix socket's mode."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    d = Daemon("inet", BASE, inet_port=port, milter=True)
    c = d.conn()
    ok(c.ask(request()) == REFUSED, "inet listener answers")
    c.close()
    d.stop()
    u = Daemon("mode", BASE + "socket_mode = 0600\n")
    mode = os.stat(u.addr).st_mode & 0o777
    ok(mode == 0o600, "unix socket mode 0600 (%o)" % mode)
    u.stop()
    ok(not os.path.exists(u.addr), "unix socket removed at stop")


def t_sender_limits():
    """SPEC section 8 through this front end: the sender/login check
    answers at MAIL (and at each RCPT of that transaction), a rate limit
    with limit_action = hold answers HOLD; the log as the milter's."""
    smap = os.path.join(HERE, "..", "milter", "t-sender.map")
    d = Daemon("sender", BASE + "sender_login_maps = file:%s\n"
               "sender_login_check = authenticated\nlimit_store = memory\n"
               "limit_login_recipients = 1/1h\nlimit_action = hold\n" % smap)
    c = d.conn()
    refused = (b"action=553 5.7.1 Sender address rejected: not owned by "
               b"user bob\n\n")
    r = c.ask(request(protocol_state="MAIL", recipient="",
                      sasl_username="bob", sasl_method="PLAIN"))
    ok(r == refused, "sender of another login refused at MAIL (%r)" % r)
    r = c.ask(request(sasl_username="bob", sasl_method="PLAIN"))
    ok(r == refused, "... and at its RCPT (%r)" % r)
    inst = "4d2.6578a1b2.3e8a1.1"
    r = c.ask(request(protocol_state="MAIL", recipient="", instance=inst,
                      sender="shared@example.org", sasl_username="bob",
                      sasl_method="PLAIN"))
    ok(r == DUNNO, "a sender the login shares: DUNNO (%r)" % r)
    r = c.ask(request(instance=inst, sender="shared@example.org",
                      sasl_username="bob", sasl_method="PLAIN"))
    ok(r == DUNNO, "first relay recipient within the limit: DUNNO (%r)" % r)
    r = c.ask(request(instance=inst, sender="shared@example.org",
                      recipient="carol@remote.test", sasl_username="bob",
                      sasl_method="PLAIN"))
    ok(r == b"action=HOLD rate limit exceeded\n\n",
       "over the limit with limit_action = hold: HOLD (%r)" % r)
    c.close()
    lines = d.stop()
    mails = [l for l in lines if l["event"] == "mail"]
    rcpts = [l for l in lines if l["event"] == "rcpt"]
    kinds = [l["kind"] for l in lines if l["event"] == "anomaly"]
    ok(len(mails) == 2 and mails[0].get("verdict") == "reject"
       and mails[0].get("reply") == "553 5.7.1 Sender address rejected: "
       "not owned by user bob" and "not owned by login bob"
       in mails[0].get("reason", "") and mails[1].get("verdict") == "accept",
       "mail lines: verdict, reply, reason (%r)" % mails)
    ok(len(rcpts) == 2 and rcpts[0].get("limit", {}).get("key") ==
       "login:bob" and rcpts[1]["verdict"] == "accept"
       and "limit_action hold" in rcpts[1]["reason"],
       "rcpt lines: the refused sender's recipient is not decided again; "
       "the limit object (%r)" % rcpts)
    ok(kinds == ["limit_exceeded"], "anomaly limit_exceeded (%r)" % kinds)


SCENARIOS = [t_replies, t_monitor, t_tempfail, t_carried, t_authparam,
             t_starttls, t_starttls_rcpt, t_sessions, t_reconnect, t_idle, t_malformed,
             t_concurrent, t_slow, t_quitter, t_shared, t_inet,
             t_sender_limits]


def main():
    if not os.path.exists(SESSGUARD):
        print("SKIP: no daemon at %s" % SESSGUARD)
        sys.exit(77)
    want = sys.argv[1:]
    for t in SCENARIOS:
        if want and not any(w in t.__name__ for w in want):
            continue
        print("# " + t.__name__)
        try:
            t()
        except Exception as e:   # a failed condition ends the scenario
            ok(False, "%s: %s: %s" % (t.__name__, type(e).__name__, e))
        while DAEMONS:
            p = DAEMONS.pop()
            if p.poll() is None:
                p.kill()
                p.wait()
    print("%d passed, %d failed" % (PASSED, FAILED))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
