"""End-to-end scenarios of SPEC section 8 (issue 13): sender/login binding and
rate limits, with a real redis-server shared by the Postfix and the Sendmail
instance, each MTA with its own sessguard.

run_e2e.py calls run_limits() after the per-MTA phases.  Each phase here is
one sessguard configuration, written for both sessguards (they are restarted
between phases); each scenario runs once per MTA ("limits/<mta>/<name>"), or
once for both ("limits/both/<name>").  The store is emptied (FLUSHALL)
before every scenario, so that they do not count each other's recipients.

Logins: every scenario authenticates as "<user>@example.org".  Postfix
reports the plain "alice" as {auth_authen} "alice@example.org" (its
smtpd_sasl_local_domain), Sendmail as "alice": with the realm given by the
client both report the same login, and a limit keyed on it is one counter.
"""

import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import time
import traceback

from e2e_common import (Context, ScenarioFailure, Sessguard, check, contains, eq, message,
                        reply_is)

REDIS_SERVER = "/usr/bin/redis-server"
REMOTE = "remote.example.net"
DOMAIN = "example.org"
MAP_TEXT = """\
# sessguard e2e: sender_login_maps (SPEC section 8)
alice@example.org          alice@example.org
# several owners, upper case in the map
Shared@Example.ORG         bob@example.org, CAROL@example.org
# a catch-all: any address of the domain
@partner.example.net       dave@example.org
"""

# ---------------------------------------------------------------------------
# redis-server


class RedisError(RuntimeError):
    pass


class Redis:
    """A private redis-server on a unix socket in workdir (port 0: no TCP)."""

    def __init__(self, workdir):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        os.chmod(workdir, 0o755)
        self.sock = os.path.join(workdir, "redis.sock")
        self.logfile = os.path.join(workdir, "redis.log")
        self.proc = None

    def start(self, timeout=10.0):
        try:
            os.unlink(self.sock)
        except FileNotFoundError:
            pass
        argv = [REDIS_SERVER, "--port", "0", "--unixsocket", self.sock,
                "--unixsocketperm", "777", "--save", "", "--appendonly", "no",
                "--dir", self.workdir, "--logfile", self.logfile, "--daemonize", "no"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RedisError("redis-server exited with %s at start: %s"
                                 % (self.proc.returncode, self.log_text()[-1500:]))
            try:
                if self.command("PING") == "PONG":
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RedisError("redis-server did not answer PING on %s within %.0fs"
                                 % (self.sock, timeout))
            time.sleep(0.02)

    def command(self, *args):
        """One command in RESP; returns a simple reply as str, an integer as int."""
        req = "*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a.encode()), a)
                                                for a in args)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(self.sock)
            s.sendall(req.encode())
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        line = data.split(b"\r\n", 1)[0].decode(errors="replace")
        if line.startswith(("+", "-")):
            if line.startswith("-"):
                raise RedisError("redis: %s" % line[1:])
            return line[1:]
        if line.startswith(":"):
            return int(line[1:])
        return line

    def kill(self, sig=signal.SIGKILL):
        """Stop it by its PID (SIGKILL: no shutdown, the 'crash' of a store)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def stop(self):
        self.kill(signal.SIGTERM)

    def log_text(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


# ---------------------------------------------------------------------------
# registry

LIMIT_SCENARIOS = []
PHASES = []   # (name, settings) in run order


def phase(name, **settings):
    PHASES.append((name, settings))


def lscenario(name, phase_name, both=False):
    def deco(func):
        LIMIT_SCENARIOS.append((name, phase_name, both, func))
        return func
    return deco


class SkipScenario(Exception):
    pass


class LCtx(Context):
    """A scenario's context on one MTA (front-end listener), plus the store."""

    def __init__(self, mta_name, mta, sg, users, redis, env):
        Context.__init__(self, mta, "front_end", mta.port_front_end, sg, users)
        self.mta_name = mta_name
        self.redis = redis
        self.env = env    # the LimitsRun

    def login(self, user):
        return "%s@%s" % (user, DOMAIN)

    def auth(self, c, user):
        reply_is(c.auth_plain(self.login(user), self.users[user]), "235",
                 "AUTH PLAIN %s" % self.login(user))

    def authed_client(self, user):
        c = self.client()
        reply_is(c.ehlo("laptop.example.net"), "250", "EHLO")
        self.auth(c, user)
        return c


# ---------------------------------------------------------------------------
# helpers


def limit_of(ev, what):
    lim = ev.get("limit")
    check(isinstance(lim, dict), "%s: rcpt event has no limit object: %s"
          % (what, json.dumps(ev)))
    for k in ("name", "key", "count", "max", "period_s"):
        check(k in lim, "%s: limit object has no %r: %s" % (what, k, lim))
    return lim


def all_anomalies(sg, kind):
    return [o for o in sg.log() if o["event"] == "anomaly" and o.get("kind") == kind]


def wait_anomalies(sg, kind, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        got = all_anomalies(sg, kind)
        if len(got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def relay_rcpts(c, rcpts):
    return [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]


def code_of(reply):
    return reply[0]


# ---------------------------------------------------------------------------
# phases: one sessguard configuration each (both MTAs)

REDIS = "redis:unix:{redis_sock}"

phase("tempfail", limit_store=REDIS, limit_login_recipients="4/1h",
      limit_exempt="frank@example.org", limit_store_down="tempfail",
      limit_action="tempfail")
phase("hold", limit_store=REDIS, limit_login_recipients="2/1h", limit_action="hold")
phase("monitor", limit_store=REDIS, limit_login_recipients="2/1h", limit_action="monitor")
phase("sender_authenticated", sender_login_maps="file:{map}",
      sender_login_check="authenticated")
phase("sender_known", sender_login_maps="file:{map}", sender_login_check="known")
phase("sender_strict", sender_login_maps="file:{map}", sender_login_check="strict")


# ---------------------------------------------------------------------------
# rate limits


@lscenario("login_over_recipient_limit_4xx", "tempfail")
def over_limit(ctx):
    """limit_login_recipients = 4/1h: the fifth relay recipient gets 450 4.7.1,
    a local recipient after it is still accepted, every relay rcpt event
    carries the limit object."""
    c = ctx.authed_client("alice")
    sender = ctx.login("alice")
    reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL")
    rcpts = ["r%d@%s" % (i, REMOTE) for i in range(1, 7)]
    replies = relay_rcpts(c, rcpts)
    for i in range(4):
        reply_is(replies[i], "250", "RCPT %d (within the limit)" % (i + 1))
    reply_is(replies[4], "450 4.7.1", "RCPT 5 (first past the limit)")
    reply_is(replies[5], "450 4.7.1", "RCPT 6 (past the limit)")
    local = "postmaster@" + DOMAIN
    reply_is(c.cmd("RCPT TO:<%s>" % local), "250", "local RCPT after the limit")
    reply_is(c.cmd("RSET"), "250", "RSET")
    s = ctx.session(c)
    for i, r in enumerate(rcpts):
        ev = s.one_rcpt(r)
        lim = limit_of(ev, "rcpt %d" % (i + 1))
        eq(lim["name"], "limit_login_recipients", "rcpt %d limit.name" % (i + 1))
        eq(lim["key"], "login:" + sender, "rcpt %d limit.key" % (i + 1))
        eq((lim["max"], lim["period_s"]), (4, 3600), "rcpt %d limit max, period_s" % (i + 1))
        if i < 4:
            eq(lim["count"], i + 1, "rcpt %d limit.count" % (i + 1))
            eq(ev.get("verdict"), "accept", "rcpt %d verdict" % (i + 1))
        else:
            eq(ev.get("verdict"), "tempfail", "rcpt %d verdict" % (i + 1))
            check(lim["count"] >= 4, "rcpt %d limit.count %r" % (i + 1, lim["count"]))
            contains(ev.get("reason"), "limit_login_recipients", "rcpt %d reason" % (i + 1))
    ev = s.one_rcpt(local)
    eq(ev.get("verdict"), "accept", "local rcpt verdict")
    eq(ev.get("limit"), None, "local rcpt: no limit consulted")
    eq(len(s.anomalies("limit_exceeded")), 1,
       "limit_exceeded anomalies (the first refusal only): " + s.brief())


@lscenario("limit_exempt_login", "tempfail")
def exempt(ctx):
    """limit_exempt = frank@example.org: 6 relay recipients, no limit."""
    c = ctx.authed_client("frank")
    reply_is(c.cmd("MAIL FROM:<%s>" % ctx.login("frank")), "250", "MAIL")
    rcpts = ["x%d@%s" % (i, REMOTE) for i in range(1, 7)]
    for i, r in enumerate(relay_rcpts(c, rcpts)):
        reply_is(r, "250", "RCPT %d of an exempt login" % (i + 1))
    reply_is(c.cmd("RSET"), "250", "RSET")
    s = ctx.session(c)
    for r in rcpts:
        ev = s.one_rcpt(r)
        eq(ev.get("verdict"), "accept", "rcpt %s verdict" % r)
        eq(ev.get("limit"), None, "rcpt %s: exempt, no limit consulted" % r)
    eq(s.anomalies("limit_exceeded"), [], "limit_exceeded anomalies")


@lscenario("two_mtas_one_store", "tempfail", both=True)
def two_mtas(env):
    """Postfix and Sendmail, each with its own sessguard, one Redis: dave
    spends 2 of 4 through each; the next relay recipient is refused through
    either MTA (at the limit, not at twice it)."""
    if "sendmail" not in env.ctxs or "postfix" not in env.ctxs:
        raise SkipScenario("needs both Postfix and Sendmail (have: %s)"
                           % ", ".join(sorted(env.ctxs)))
    pf, sm = env.ctxs["postfix"], env.ctxs["sendmail"]
    sender = pf.login("dave")
    order = [(pf, "a1"), (pf, "a2"), (sm, "b1"), (sm, "b2"), (pf, "a3"), (sm, "b3")]
    clients = {}
    for ctx in (pf, sm):
        c = ctx.authed_client("dave")
        reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL via %s" % ctx.mta_name)
        clients[ctx.mta_name] = c
    replies = {}
    for ctx, local in order:
        replies[local] = clients[ctx.mta_name].cmd("RCPT TO:<%s@%s>" % (local, REMOTE))
    for local in ("a1", "a2", "b1", "b2"):
        reply_is(replies[local], "250", "RCPT %s (4 of 4 across both MTAs)" % local)
    reply_is(replies["a3"], "450 4.7.1", "5th RCPT via Postfix")
    reply_is(replies["b3"], "450 4.7.1", "6th RCPT via Sendmail")
    sess = {}
    for ctx in (pf, sm):
        clients[ctx.mta_name].cmd("RSET")
        sess[ctx.mta_name] = ctx.session(clients[ctx.mta_name])
    counts = {}
    for ctx, local in order:
        ev = sess[ctx.mta_name].one_rcpt("%s@%s" % (local, REMOTE))
        lim = limit_of(ev, "%s rcpt %s" % (ctx.mta_name, local))
        eq(lim["key"], "login:" + sender, "%s limit.key" % local)
        counts[local] = lim["count"]
    eq([counts[x] for x in ("a1", "a2", "b1", "b2")], [1, 2, 3, 4],
       "limit.count of the accepted rcpts, in order across both MTAs")


@lscenario("redis_stopped_bounded_by_timeout", "tempfail")
def store_stopped(ctx):
    """Redis SIGSTOPped (it accepts, never answers): a relay recipient gets
    4xx within limit_store_timeout (100 ms) and some slack, not after the
    MTA's own milter timeout; one limit_store_down.  SIGCONT: accepted again
    (a late answer on the old connection must not be taken for a new
    question's), one limit_store_up."""
    sg = ctx.sessguard
    sender = ctx.login("erin")
    c = ctx.authed_client("erin")
    reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL")
    reply_is(c.cmd("RCPT TO:<up1@%s>" % REMOTE), "250", "RCPT with the store up")
    down0 = len(all_anomalies(sg, "limit_store_down"))
    up0 = len(all_anomalies(sg, "limit_store_up"))
    os.kill(ctx.redis.proc.pid, signal.SIGSTOP)
    try:
        t = time.monotonic()
        r1 = c.cmd("RCPT TO:<stop1@%s>" % REMOTE)
        took = time.monotonic() - t
        reply_is(r1, "4", "relay RCPT with the store stopped")
        check(took < 2.0, "the RCPT with the store stopped took %.2fs (limit_store_timeout "
              "is 100 ms)" % took)
        r2 = c.cmd("RCPT TO:<stop2@%s>" % REMOTE)
        reply_is(r2, "4", "second relay RCPT with the store stopped")
    finally:
        os.kill(ctx.redis.proc.pid, signal.SIGCONT)
    s = ctx.session(c)
    eq(s.one_rcpt("stop1@" + REMOTE).get("verdict"), "tempfail", "rcpt stop1 verdict")
    eq(len(all_anomalies(sg, "limit_store_down")) - down0, 1, "limit_store_down anomalies")
    deadline = time.monotonic() + 10
    while True:
        c = ctx.authed_client("erin")
        reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL (store back)")
        r = c.cmd("RCPT TO:<cont1@%s>" % REMOTE)
        if r[0] == 250 or time.monotonic() > deadline:
            break
        reply_is(r, "451", "relay RCPT before the store is probed again")
        c.quit()
        time.sleep(0.1)
    reply_is(r, "250", "relay RCPT after SIGCONT")
    reply_is(c.cmd("RCPT TO:<cont2@%s>" % REMOTE), "250", "second relay RCPT after SIGCONT")
    s = ctx.session(c)
    # up1 counted before the stop.  stop1's script was sent before the
    # timeout: the resumed Redis still runs it (a refused recipient that
    # counts: the limit errs on the safe side), stop2 was never sent (the
    # store known down).  So cont1 is the 2nd or 3rd, never more.
    counts = [limit_of(s.one_rcpt("%s@%s" % (x, REMOTE)), x)["count"]
              for x in ("cont1", "cont2")]
    check(counts in ([2, 3], [3, 4]), "limit.count of the two recipients after SIGCONT: "
          "%s, want [2, 3] or [3, 4] (up1, perhaps stop1, then these)" % counts)
    eq(len(all_anomalies(sg, "limit_store_up")) - up0, 1, "limit_store_up anomalies")


@lscenario("redis_killed_tempfail_then_back", "tempfail")
def store_down(ctx):
    """limit_store_down = tempfail: Redis killed -> a relay recipient gets
    4xx, anomaly limit_store_down once (two refusals); Redis restarted ->
    accepted, anomaly limit_store_up once."""
    sg = ctx.sessguard
    # the store is up and known up: one accepted relay recipient first
    c = ctx.authed_client("erin")
    sender = ctx.login("erin")
    reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL")
    reply_is(c.cmd("RCPT TO:<up1@%s>" % REMOTE), "250", "RCPT with the store up")
    ctx.session(c)
    down0 = len(all_anomalies(sg, "limit_store_down"))
    up0 = len(all_anomalies(sg, "limit_store_up"))
    ctx.redis.kill()
    try:
        c = ctx.authed_client("erin")
        reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL (store down)")
        r1 = c.cmd("RCPT TO:<down1@%s>" % REMOTE)
        r2 = c.cmd("RCPT TO:<down2@%s>" % REMOTE)
        rl = c.cmd("RCPT TO:<postmaster@%s>" % DOMAIN)
        reply_is(r1, "4", "relay RCPT with the store down")
        reply_is(r2, "4", "second relay RCPT with the store down")
        reply_is(rl, "250", "local RCPT with the store down (needs no store)")
        s = ctx.session(c)
        for r in ("down1", "down2"):
            eq(s.one_rcpt("%s@%s" % (r, REMOTE)).get("verdict"), "tempfail",
               "rcpt %s verdict" % r)
        downs = all_anomalies(sg, "limit_store_down")
        eq(len(downs) - down0, 1, "limit_store_down anomalies for two refusals")
    finally:
        ctx.redis.start()
    # A store found down is probed again once a second (src/ratelimit.c
    # RETRY_MS): until then a relay recipient still gets 4xx.  Wait for
    # that, not for a fixed time.
    deadline = time.monotonic() + 10
    tries = 0
    while True:
        tries += 1
        c = ctx.authed_client("erin")
        reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL (store back)")
        r = c.cmd("RCPT TO:<back1@%s>" % REMOTE)
        if r[0] == 250 or time.monotonic() > deadline:
            break
        reply_is(r, "451", "relay RCPT before the store is probed again")
        c.quit()
        time.sleep(0.1)
    reply_is(r, "250", "relay RCPT with the store back (after %d tries)" % tries)
    reply_is(c.cmd("RCPT TO:<back2@%s>" % REMOTE), "250", "second relay RCPT, store back")
    s = ctx.session(c)
    lim = limit_of(s.one_rcpt("back1@" + REMOTE), "rcpt back1")
    eq(lim["count"], 1, "limit.count after the restart (empty store, script reloaded)")
    ups = all_anomalies(sg, "limit_store_up")
    eq(len(ups) - up0, 1, "limit_store_up anomalies after the restart")
    eq(len(all_anomalies(sg, "limit_store_down")) - down0, 1,
       "limit_store_down anomalies in all")


# ------------------------------------------------------------------ hold


def postfix_queue(mta):
    p = subprocess.run(["/usr/sbin/postqueue", "-c", mta.config_dir, "-j"],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise ScenarioFailure("postqueue -j: %s" % p.stderr.strip())
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def sendmail_queue(mta):
    """{queue id: quarantine reason or None} of the queue files: a
    quarantined envelope is an hf file (qf while being written) with a 'q'
    line."""
    out = {}
    try:
        names = os.listdir(mta.queue_dir)
    except OSError:
        return out
    for n in names:
        if n[:2] not in ("qf", "hf"):
            continue
        try:
            with open(os.path.join(mta.queue_dir, n), errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        if not lines or lines[-1] != ".":
            continue   # still being written
        q = [l[1:] for l in lines if l.startswith("q")]
        out[n[2:]] = q[0] if q else None
    return out


def queued_rcpts_sendmail(mta, qid):
    for pre in ("hf", "qf"):
        try:
            with open(os.path.join(mta.queue_dir, pre + qid), errors="replace") as f:
                return [l.split(":", 1)[-1].strip("<>") for l in f.read().splitlines()
                        if l.startswith("R")]
        except OSError:
            pass
    return []


def wait_for(cond, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise ScenarioFailure("%s within %.0fs" % (what, timeout))
        time.sleep(0.1)


def send_message(ctx, user, rcpts, subject):
    c = ctx.authed_client(user)
    sender = ctx.login(user)
    reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL")
    for r in rcpts:
        reply_is(c.cmd("RCPT TO:<%s>" % r), "250", "RCPT %s" % r)
    d = c.data(message(sender, rcpts, subject=subject))
    reply_is(d, "250", "end of DATA")
    return c


@lscenario("limit_action_hold_lands_in_hold_queue", "hold")
def hold(ctx):
    """limit_action = hold, 2/1h: a message within the limit is not held; the
    next one, over it, is accepted and lands in Postfix's hold queue /
    Sendmail's quarantine."""
    tag = "sg-hold-%d" % int(time.time() * 1000)
    ok_rcpt = "within@" + REMOTE
    over = ["h1@" + REMOTE, "h2@" + REMOTE]
    c = send_message(ctx, "bob", [ok_rcpt], tag + "-within")
    s1 = ctx.session(c)
    c = send_message(ctx, "bob", over, tag + "-over")
    s2 = ctx.session(c)
    eq(limit_of(s1.one_rcpt(ok_rcpt), "within")["count"], 1, "limit.count of message 1")
    ev = s2.one_rcpt(over[1])
    lim = limit_of(ev, "rcpt h2")
    eq((lim["name"], lim["max"]), ("limit_login_recipients", 2), "rcpt h2 limit")
    eq(ev.get("verdict"), "accept", "rcpt h2 verdict (hold accepts)")
    contains(ev.get("reason"), "hold", "rcpt h2 reason")
    eoms = s2.events("eom")
    check(eoms and eoms[-1].get("verdict") == "hold",
          "eom event of the held message: %s" % eoms)
    check(all(e.get("verdict") != "hold" for e in s1.events("eom")),
          "message 1 (within the limit) logged as held: %s" % s1.events("eom"))
    check(s2.anomalies("limit_exceeded"), "no limit_exceeded anomaly: " + s2.brief())
    mta = ctx.mta
    if ctx.mta_name == "postfix":
        def held():
            q = postfix_queue(mta)
            return [m for m in q if m.get("queue_name") == "hold"]
        msgs = wait_for(held, "no message in Postfix's hold queue (postqueue -j)")
        eq(len(msgs), 1, "messages in the hold queue")
        got = sorted(r.get("address") for r in msgs[0].get("recipients", []))
        eq(got, sorted(over), "recipients of the held message")
        p = subprocess.run(["/usr/sbin/postsuper", "-c", mta.config_dir, "-d", "ALL", "hold"],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, "postsuper -d ALL hold: %s" % p.stderr)
    else:
        def quarantined():
            return {k: v for k, v in sendmail_queue(mta).items() if v is not None}
        q = wait_for(quarantined, "no quarantined envelope (hf file with a q line) in %s"
                     % mta.queue_dir)
        eq(len(q), 1, "quarantined envelopes: %s" % q)
        qid = list(q)[0]
        eq(sorted(queued_rcpts_sendmail(mta, qid)), sorted(over),
           "recipients of the quarantined envelope")
        plain = [k for k, v in sendmail_queue(mta).items() if v is None]
        check(any(ok_rcpt in queued_rcpts_sendmail(mta, k) for k in plain),
              "message 1 (within the limit) is not in the queue unquarantined")
        for k in ([] if os.environ.get("E2E_KEEP", "") not in ("", "0")
                  else list(sendmail_queue(mta))):
            for pre in ("hf", "qf", "df"):
                try:
                    os.unlink(os.path.join(mta.queue_dir, pre + k))
                except OSError:
                    pass


# ------------------------------------------------------------------ monitor


@lscenario("limit_action_monitor_accepts_and_logs", "monitor")
def monitor(ctx):
    """limit_action = monitor, 2/1h: the third relay recipient is accepted,
    logged would_reject with the limit object, anomaly limit_exceeded."""
    c = ctx.authed_client("carol")
    reply_is(c.cmd("MAIL FROM:<%s>" % ctx.login("carol")), "250", "MAIL")
    rcpts = ["m%d@%s" % (i, REMOTE) for i in range(1, 4)]
    for i, r in enumerate(relay_rcpts(c, rcpts)):
        reply_is(r, "250", "RCPT %d (monitor accepts)" % (i + 1))
    reply_is(c.cmd("RSET"), "250", "RSET")
    s = ctx.session(c)
    ev = s.one_rcpt(rcpts[2])
    lim = limit_of(ev, "rcpt 3")
    eq((lim["name"], lim["max"]), ("limit_login_recipients", 2), "rcpt 3 limit")
    # SPEC section 8: "monitor only logs".  The recipient is accepted;
    # the reason tells the limit it is over and that the action was
    # monitor (the verdict stays accept: it is not mode = monitor's
    # would_reject of a refusal).
    check(ev.get("verdict") in ("accept", "would_reject"),
          "rcpt 3 verdict %r (monitor accepts)" % ev.get("verdict"))
    contains(ev.get("reason"), "over limit_login_recipients", "rcpt 3 reason")
    contains(ev.get("reason"), "monitor", "rcpt 3 reason")
    eq(s.one_rcpt(rcpts[0]).get("limit", {}).get("count"), 1, "rcpt 1 limit.count")
    eq(s.one_rcpt(rcpts[1]).get("verdict"), "accept", "rcpt 2 verdict")
    eq(len(s.anomalies("limit_exceeded")), 1, "limit_exceeded anomalies")


# ------------------------------------------------------------------ sender/login
# (login or None, sender, {mode: accepted?})
P, R = True, False
SENDER_CASES = [
    ("alice", "alice@example.org", {"authenticated": P, "known": P, "strict": P}),
    ("alice", "Alice+news@example.org", {"authenticated": P, "known": P, "strict": P}),
    ("alice", "shared@example.org", {"authenticated": R, "known": R, "strict": R}),
    ("carol", "shared@example.org", {"authenticated": P, "known": P, "strict": P}),
    ("bob", "SHARED+x@example.org", {"authenticated": P, "known": P, "strict": P}),
    ("dave", "anyone+tag@partner.example.net", {"authenticated": P, "known": P, "strict": P}),
    ("alice", "someone@partner.example.net", {"authenticated": R, "known": R, "strict": R}),
    ("alice", "nobody@unlisted.example.com", {"authenticated": R, "known": P, "strict": R}),
    ("alice", "", {"authenticated": P, "known": P, "strict": P}),
    (None, "alice@example.org", {"authenticated": P, "known": R, "strict": R}),
    (None, "stranger@unlisted.example.com", {"authenticated": P, "known": P, "strict": P}),
]


def sender_binding(ctx, mode):
    by_login = {}
    for n, (login, sender, want) in enumerate(SENDER_CASES):
        by_login.setdefault(login, []).append((n, sender, want[mode]))
    failures = []
    for login, cases in by_login.items():
        c = ctx.authed_client(login) if login else ctx.client()
        if not login:
            reply_is(c.ehlo("stranger.example.net"), "250", "EHLO")
        replies = []
        for n, sender, ok in cases:
            r = c.cmd("MAIL FROM:<%s>" % sender)
            replies.append(r)
            c.cmd("RSET")
        s = ctx.session(c)
        mails = s.events("mail")
        eq(len(mails), len(cases), "mail events of login %s" % login)
        for (n, sender, ok), r, ev in zip(cases, replies, mails):
            what = "%s: %s as <%s>" % (mode, login or "unauthenticated", sender)
            line = "%d %s" % (r[0], r[1].decode(errors="replace"))
            if ok:
                if r[0] != 250:
                    failures.append("%s: want 250, got %r" % (what, line))
                if ev.get("verdict") not in (None, "accept"):
                    failures.append("%s: mail verdict %r" % (what, ev.get("verdict")))
            else:
                if not line.startswith("553 5.7.1"):
                    failures.append("%s: want 553 5.7.1, got %r" % (what, line))
                if ev.get("verdict") != "reject" or not ev.get("reason"):
                    failures.append("%s: mail event verdict %r reason %r, want reject "
                                    "with a reason" % (what, ev.get("verdict"),
                                                       ev.get("reason")))
                elif login and login not in str(ev.get("reason")) + line:
                    failures.append("%s: neither reason nor reply names the login: %r / %r"
                                    % (what, ev.get("reason"), line))
            if sender and ok and login and ev.get("verdict") is None:
                failures.append("%s: the mail event of a checked sender has no verdict"
                                % what)
    if failures:
        raise ScenarioFailure("; ".join(failures))


@lscenario("sender_login_authenticated", "sender_authenticated")
def sl_auth(ctx):
    sender_binding(ctx, "authenticated")


@lscenario("sender_login_known", "sender_known")
def sl_known(ctx):
    sender_binding(ctx, "known")


@lscenario("sender_login_strict", "sender_strict")
def sl_strict(ctx):
    sender_binding(ctx, "strict")


# ---------------------------------------------------------------------------
# the runner


class LimitsRun:
    def __init__(self, binary, base, res, users):
        self.binary = binary
        self.base = base
        self.res = res
        self.users = users
        self.mtas = {}      # name -> (mta, sgdir, sock)
        self.ctxs = {}      # name -> LCtx of the running phase
        self.sgs = {}


def stop_all(sgs):
    """SIGTERM every sessguard at once (each takes a few seconds to end)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(sgs))) as ex:
        return dict(zip(sgs, ex.map(lambda sg: sg.stop(), sgs.values())))


def run_limits(binary, base, selectors, res, classes, make_mta, users):
    """classes: [(name, cls, ok, why)] as run_e2e.mta_classes() gives."""
    todo = []
    for name, ph, both, func in LIMIT_SCENARIOS:
        targets = ["both"] if both else [n for n, _, ok, _ in classes if ok]
        for t in targets:
            full = "limits/%s/%s" % (t, name)
            if selectors and not any(s in full for s in selectors):
                continue
            todo.append((full, name, ph, t, func))
    if not todo:
        return
    if not os.access(REDIS_SERVER, os.X_OK):
        for full, *_ in todo:
            res.fail(full, "%s missing (apt-get install redis-server; "
                     "tests/install-deps.sh)" % REDIS_SERVER)
        return
    t0 = time.monotonic()
    wd = os.path.join(base, "limits")
    os.makedirs(wd)
    os.chmod(wd, 0o755)
    mapfile = os.path.join(wd, "sender_login_map")
    with open(mapfile, "w") as f:
        f.write(MAP_TEXT)
    redis = Redis(os.path.join(wd, "redis"))
    env = LimitsRun(binary, base, res, users)
    env.redis = redis
    started = []
    try:
        try:
            redis.start()
        except Exception as e:  # noqa: BLE001
            for full, *_ in todo:
                res.fail(full, "redis-server did not start: %s" % e)
            return
        for name, cls, ok, why in classes:
            if not ok:
                continue
            mwd = os.path.join(wd, name)
            sgdir = os.path.join(mwd, "sg")
            os.makedirs(sgdir)
            os.chmod(mwd, 0o755)
            os.chmod(sgdir, 0o755)
            sock = os.path.join(sgdir, "sessguard.sock")
            mta = make_mta(cls, os.path.join(mwd, "mta"), "unix:" + sock)
            try:
                mta.start()
            except Exception as e:  # noqa: BLE001
                res.fail("limits/%s/setup" % name, "MTA did not start: %s" % e)
                continue
            started.append(mta)
            env.mtas[name] = (mta, sgdir, sock)
        print("# limits: redis and %s up in %.1fs" % (", ".join(env.mtas) or "no MTA",
                                                      time.monotonic() - t0), flush=True)
        gen = 0
        for ph, settings in PHASES:
            mine = [t for t in todo if t[2] == ph]
            if not mine:
                continue
            conf = {k: v.format(redis_sock=redis.sock, map=mapfile)
                    for k, v in settings.items()}
            conf.setdefault("limit_store", REDIS.format(redis_sock=redis.sock))
            gen += 1
            bad = enter_phase(env, ph, conf, gen)
            for full, name, _, target, func in mine:
                if bad:
                    res.fail(full, bad)
                    continue
                if target != "both" and target not in env.ctxs:
                    res.fail(full, "%s is not running" % target)
                    continue
                run_one(full, target, func, env, redis, res)
    finally:
        stop_all(env.sgs)
        for mta in started:
            try:
                mta.stop()
            except Exception:  # noqa: BLE001
                pass
        redis.stop()
    print("# limits: %.1fs" % (time.monotonic() - t0), flush=True)


def enter_phase(env, ph, conf, gen):
    """The sessguards take the phase's configuration: the first phase starts
    them (limit_store and log only change at a restart), each next one is a
    reload (SIGUSR1), done when the daemon says so.  None, or why not."""
    for name, (mta, sgdir, sock) in env.mtas.items():
        if gen == 1:
            sg = Sessguard(env.binary, sgdir,
                           local_domains=getattr(mta, "local_domain", DOMAIN),
                           trusted_networks="192.0.2.1/32", socket_path=sock)
            sg.base = dict(sg.settings)
            sg.settings.update(conf)
            try:
                sg.start()
            except Exception as e:  # noqa: BLE001
                return "sessguard (%s) did not start: %s" % (name, e)
            env.sgs[name] = sg
            env.ctxs[name] = LCtx(name, mta, sg, env.users, env.redis, env)
            continue
        sg = env.sgs.get(name)
        if sg is None or not sg.running():
            return "sessguard (%s) is not running: %s" % (
                name, sg.stderr_text()[-600:] if sg else "")
        sg.settings = dict(sg.base)
        sg.settings.update(conf)
        sg.write_config()
        want = "configuration reloaded (generation %d)" % gen
        before = len(sg.stderr_text())
        os.kill(sg.proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while want not in sg.stderr_text()[before:]:
            new = sg.stderr_text()[before:]
            if "keeping the old configuration" in new or \
                    time.monotonic() > deadline or not sg.running():
                return "sessguard (%s) did not reload into phase %s: %s" % (
                    name, ph, new[-600:])
            time.sleep(0.05)
    return None


def run_one(full, target, func, env, redis, res):
    t = time.monotonic()
    ctxs = list(env.ctxs.values()) if target == "both" else [env.ctxs[target]]
    try:
        if redis.proc is None or redis.proc.poll() is not None:
            redis.start()
        redis.command("FLUSHALL")
        func(env if target == "both" else ctxs[0])
    except SkipScenario as e:
        print("SKIP %s: %s" % (full, e), flush=True)
    except ScenarioFailure as e:
        res.fail(full, e, details(ctxs))
    except Exception as e:  # noqa: BLE001
        res.fail(full, "%s: %s" % (type(e).__name__, e), traceback.format_exc() +
                 details(ctxs))
    else:
        res.ok(full, "%.1fs" % (time.monotonic() - t))
    finally:
        for c in ctxs:
            c.close_all()
            c.clients = []


def details(ctxs):
    out = []
    for ctx in ctxs:
        for c in ctx.clients[-4:]:
            out.append("%s client %s: %s" % (ctx.mta_name, c.local_port, c.text()))
            try:
                s = ctx.sessguard.session_of(c.local_port, timeout=0.5, need_close=False)
                out.append("log: " + s.brief(4000))
            except Exception as e:  # noqa: BLE001
                out.append("log: %s" % e)
        out.append("%s sessguard stderr: %s" % (ctx.mta_name,
                                                ctx.sessguard.stderr_text()[-800:]))
    return "\n".join(out)


__all__ = ["run_limits", "Redis", "LIMIT_SCENARIOS", "PHASES"]
