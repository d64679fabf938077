#!/usr/bin/env python3
"""Self-test of the private Sendmail harness (sendmail_mta.py), without sessguard.

    python3 tests/e2e/sendmail_selftest.py [--keep] [--sessguard PATH]

1. No milter listening on the socket (F=T): EHLO still lists AUTH PLAIN LOGIN
   and STARTTLS, but MAIL, RCPT, AUTH and STARTTLS get 4xx -- never accepted.
2. A null milter (written here, speaks the milter protocol, continues every
   step, asks for SMFIP_RCPT_REJ) on the socket: AUTH PLAIN/LOGIN as alice work,
   a wrong password gets 535, STARTTLS works, relaying from 127.0.0.1 is accepted
   on the front-end port and refused (550 5.7.1) by Sendmail itself on the
   second-line port unless authenticated; accepted mail stays in the queue.
   Prints the macros the milter received at each stage.
3. With --sessguard PATH: runs that binary (copied to a temp dir) as the milter
   and checks relay refusal/permission and its JSON log.

Needs root; run tests/e2e/sendmail-install-deps.sh first. Exit status 0 when
every check passed; the last line is "N passed, N failed".
"""

import argparse
import base64
import json
import os
import shutil
import smtplib
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sendmail_mta import SendmailMTA  # noqa: E402

CLIENT_NAME = "client.example.net"
RESULTS = {"passed": 0, "failed": 0}


def check(ok, what, detail=""):
    if ok:
        RESULTS["passed"] += 1
        print("ok   - %s" % what)
    else:
        RESULTS["failed"] += 1
        print("FAIL - %s %s" % (what, detail))
    return ok


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def smtp(port, source=None):
    return smtplib.SMTP("127.0.0.1", port, local_hostname=CLIENT_NAME, timeout=20,
                        source_address=(source, 0) if source else None)


def wait_until(cond, timeout=10.0):
    """Polls cond() until it is true or timeout seconds have passed (monotonic
    clock); returns its last value, so the checks that follow report a miss."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.02)


def auth_plain(s, user, password):
    tok = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
    return s.docmd("AUTH", "PLAIN " + tok)


# --------------------------------------------------------------------------
# A null milter: continues every step, records what it was sent.

SMFIP_RCPT_REJ = 0x00000800  # libmilter/mfdef.h


class NullMilter:
    def __init__(self, path):
        self.path = path
        self.events = []          # (connection number, command char, [strings])
        self.lock = threading.Lock()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(32)
        self.nconn = 0
        self.nended = 0           # connections the MTA has finished (Q or EOF)
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            with self.lock:
                self.nconn += 1
                n = self.nconn
            threading.Thread(target=self._conn, args=(c, n), daemon=True).start()

    def _conn(self, c, n):
        buf = b""

        def read(k):
            nonlocal buf
            while len(buf) < k:
                d = c.recv(65536)
                if not d:
                    raise EOFError
                buf += d
            r, buf = buf[:k], buf[k:]
            return r

        try:
            while True:
                length = struct.unpack(">I", read(4))[0]
                pkt = read(length)
                cmd, data = chr(pkt[0]), pkt[1:]
                with self.lock:
                    self.events.append((n, cmd, data.split(b"\0")))
                if cmd == "O":
                    c.sendall(struct.pack(">IcIII", 13, b"O", 6, 0, SMFIP_RCPT_REJ))
                elif cmd in "DAK":
                    pass
                elif cmd == "Q":
                    return
                else:
                    c.sendall(struct.pack(">Ic", 1, b"c"))
        except (EOFError, OSError):
            pass
        finally:
            c.close()
            with self.lock:
                self.nended += 1

    def macros(self):
        """[(conn, stage char, {name: value})] of the D packets."""
        out = []
        with self.lock:
            for n, cmd, parts in self.events:
                if cmd == "D" and parts and parts[0]:
                    stage = chr(parts[0][0])
                    items = [parts[0][1:]] + parts[1:]
                    d = {}
                    for i in range(0, len(items) - 1, 2):
                        d[items[i].decode(errors="replace")] = items[i + 1].decode(errors="replace")
                    out.append((n, stage, d))
        return out

    def all_ended(self, n):
        """At least n connections were opened, and the MTA finished every one."""
        with self.lock:
            return self.nconn >= n and self.nended == self.nconn

    def close(self):
        self.closed = True
        try:
            self.srv.close()
        except OSError:
            pass
        try:
            os.unlink(self.path)
        except OSError:
            pass


# --------------------------------------------------------------------------

def phase_no_milter(mta):
    print("# phase 1: nothing listens on %s (F=T)" % mta.milter_spec)
    for label, port in (("front", mta.port_front_end), ("second", mta.port_second_line)):
        s = smtp(port)
        code, msg = s.ehlo()
        check(code == 250, "%s: EHLO 250" % label, (code, msg))
        feats = s.esmtp_features
        check("PLAIN" in feats.get("auth", "").split() and "LOGIN" in feats.get("auth", "").split(),
              "%s: EHLO lists AUTH PLAIN LOGIN" % label, feats.get("auth"))
        check("starttls" in feats, "%s: EHLO lists STARTTLS" % label)
        code, msg = s.docmd("MAIL FROM:<sender@example.net>")
        check(400 <= code < 500, "%s: MAIL tempfailed without milter" % label, (code, msg))
        code, msg = s.docmd("RCPT TO:<someone@example.com>")
        check(code != 250 and code >= 400, "%s: RCPT (remote) not accepted without milter" % label, (code, msg))
        code, msg = s.docmd("RCPT TO:<alice@example.org>")
        check(code != 250 and code >= 400, "%s: RCPT (local) not accepted without milter" % label, (code, msg))
        code, msg = auth_plain(s, "alice", "secret")
        check(400 <= code < 500, "%s: AUTH tempfailed without milter (Sendmail F=T)" % label, (code, msg))
        code, msg = s.docmd("STARTTLS")
        check(400 <= code < 500, "%s: STARTTLS tempfailed without milter (Sendmail F=T)" % label, (code, msg))
        s.quit()
    check(mta.queue_ids() == [], "nothing queued without milter", mta.queue_ids())


def phase_null_milter(mta):
    print("# phase 2: null milter on %s" % mta.milter_spec)
    m = NullMilter(mta.milter_spec.split(":", 1)[1])
    try:
        # AUTH PLAIN, relay after auth, RSET keeps auth
        s = smtp(mta.port_second_line)
        s.ehlo()
        code, msg = auth_plain(s, "alice", "wrong")
        check(code == 535, "AUTH PLAIN alice with wrong password -> 535", (code, msg))
        code, msg = auth_plain(s, "alice", "secret")
        check(code == 235, "AUTH PLAIN alice -> 235", (code, msg))
        code, msg = s.docmd("MAIL FROM:<alice@example.org>")
        check(code == 250, "MAIL after AUTH", (code, msg))
        code, msg = s.docmd("RCPT TO:<someone@example.com>")
        check(code == 250, "second-line: authenticated relay RCPT accepted", (code, msg))
        s.docmd("RSET")
        code, msg = s.docmd("MAIL FROM:<alice@example.org>")
        code, msg = s.docmd("RCPT TO:<someone@example.com>")
        check(code == 250, "second-line: relay RCPT after RSET still authenticated", (code, msg))
        code, msg = s.data(b"Subject: selftest\r\n\r\nhello\r\n")
        check(code == 250, "DATA accepted (queued, never delivered)", (code, msg))
        s.quit()

        # AUTH LOGIN via smtplib
        s = smtp(mta.port_front_end)
        s.ehlo()
        s.user, s.password = "bob", "hunter2"
        try:
            code, msg = s.auth("LOGIN", s.auth_login)
        except smtplib.SMTPException as e:
            code, msg = getattr(e, "smtp_code", -1), str(e)
        check(code == 235, "AUTH LOGIN bob -> 235", (code, msg))
        s.quit()

        # unauthenticated relay: front accepts (Sendmail relays for localhost),
        # second line refuses by itself
        s = smtp(mta.port_front_end)
        s.ehlo()
        s.docmd("MAIL FROM:<x@example.net> AUTH=alice@example.org")
        code, msg = s.docmd("RCPT TO:<someone@example.com>")
        check(code == 250, "front-end: unauthenticated relay from 127.0.0.1 accepted by Sendmail "
              "(sessguard must decide)", (code, msg))
        code, msg = s.docmd("RCPT TO:<alice@example.org>")
        check(code == 250, "front-end: local recipient accepted", (code, msg))
        code, msg = s.docmd("RCPT TO:<nosuchuser@example.org>")
        check(code == 250, "front-end: any local user accepted (LUSER_RELAY)", (code, msg))
        code, msg = s.docmd("A128 AUTH xxxx xxxx")
        check(500 <= code < 600, "unknown command -> 5xx", (code, msg))
        s.quit()
        s = smtp(mta.port_front_end, source="127.0.0.3")
        s.ehlo()
        s.docmd("MAIL FROM:<x@example.net>")
        code, msg = s.docmd("RCPT TO:<someone@example.com>")
        check(code == 250, "front-end: relay from 127.0.0.3 accepted by Sendmail", (code, msg))
        s.quit()
        s = smtp(mta.port_second_line)
        s.ehlo()
        s.docmd("MAIL FROM:<x@example.net>")
        code, msg = s.docmd("RCPT TO:<someone@example.com>")
        check(code == 554 and msg.startswith(b"5.7.1"),
              "second-line: unauthenticated relay refused by Sendmail 554 5.7.1", (code, msg))
        code, msg = s.docmd("RCPT TO:<alice@example.org>")
        check(code == 250, "second-line: local recipient accepted", (code, msg))
        code, msg = s.docmd("RCPT TO:<postmaster@EXAMPLE.ORG>")
        check(code == 250, "second-line: local recipient (upper case domain) accepted", (code, msg))
        s.quit()

        # STARTTLS, then AUTH inside TLS
        s = smtp(mta.port_front_end)
        s.ehlo()
        code, msg = s.starttls(context=tls_context())
        check(code == 220, "STARTTLS -> 220", (code, msg))
        check(s.sock.version() is not None, "TLS established: %s %s" % (s.sock.version(), s.sock.cipher()[0]))
        code, msg = s.ehlo()
        check(code == 250 and "starttls" not in s.esmtp_features, "EHLO after STARTTLS", (code, msg))
        code, msg = auth_plain(s, "alice", "secret")
        check(code == 235, "AUTH PLAIN inside TLS -> 235", (code, msg))
        code, msg = s.docmd("MAIL FROM:<alice@example.org>")
        code, msg = s.docmd("RCPT TO:<someone@example.com>")
        check(code == 250, "relay RCPT inside TLS after AUTH", (code, msg))
        s.quit()
        # Sendmail ends a session's milter connection after QUIT: wait until
        # it has ended all six, so that everything it sent is recorded.
        if not wait_until(lambda: m.all_ended(6)):
            print("# milter connections: %d opened, %d ended" % (m.nconn, m.nended))

        check(len(mta.queue_ids()) == 1, "exactly one message queued", mta.queue_ids())
        check(m.nconn >= 5, "Sendmail opened one milter connection per SMTP session", m.nconn)

        print("# macros the null milter received (stage: names)")
        seen = {}
        for n, stage, d in m.macros():
            seen.setdefault(stage, set()).update(k for k, v in d.items())
        for stage in sorted(seen):
            print("#   %s: %s" % (stage, " ".join(sorted(seen[stage]))))
        mail = [d for n, st, d in m.macros() if st == "M"]
        check(any(d.get("{auth_authen}") == "alice" and d.get("{auth_type}") == "PLAIN" for d in mail),
              "{auth_authen}=alice {auth_type}=PLAIN at MAIL")
        check(any(d.get("{auth_author}") == "alice@example.org" and not d.get("{auth_authen}")
                  for d in mail),
              "client's AUTH= reaches the milter as {auth_author} while not authenticated")
        unk = [parts for n, cmd, parts in m.events if cmd == "U"]
        print("# unknown command as the milter got it: %r" % (unk,))
        check(any(p and p[0].startswith(b"A128 AUTH") for p in unk),
              "Sendmail hands the milter the whole unknown command line")
        helo = [d for n, st, d in m.macros() if st == "H"]
        check(any(d.get("{tls_version}") for d in helo), "{tls_version} at HELO after STARTTLS")
        rcpt = [d for n, st, d in m.macros() if st == "R"]
        check(any(d.get("{rcpt_mailer}") == "error" for d in rcpt),
              "MTA-rejected recipients reach the milter with {rcpt_mailer}=error (SMFIP_RCPT_REJ)")
        conn = [d for n, st, d in m.macros() if st == "C"]
        check(any(d.get("{daemon_name}") == "second-line" for d in conn) and
              any(d.get("{daemon_name}") == "front-end" for d in conn),
              "{daemon_name} tells the two listeners apart")
    finally:
        m.close()


# --------------------------------------------------------------------------

def phase_sessguard(mta, binary, tmp):
    print("# phase 3: sessguard %s" % binary)
    exe = os.path.join(tmp, "sessguard")
    shutil.copy2(binary, exe)
    sock = mta.milter_spec.split(":", 1)[1]
    log = os.path.join(tmp, "sessguard.jsonl")
    conf = os.path.join(tmp, "sessguard.conf")
    with open(conf, "w") as f:
        f.write("socket = unix:%s\nlog = file:%s\nlocal_domains = example.org\n"
                "trusted_networks = 192.0.2.1/32\n" % (sock, log))
    err = open(os.path.join(tmp, "sessguard.stderr"), "wb")
    p = subprocess.Popen([exe, "-f", "-c", conf], stdout=err, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 10
        while not os.path.exists(sock) and time.monotonic() < end and p.poll() is None:
            time.sleep(0.05)
        if not check(os.path.exists(sock), "sessguard socket appears", p.poll()):
            return
        nsessions = 0
        for label, port in (("front", mta.port_front_end), ("second", mta.port_second_line)):
            s = smtp(port)
            s.ehlo()
            s.docmd("MAIL FROM:<x@example.net> AUTH=alice@example.org")
            code, msg = s.docmd("RCPT TO:<someone@example.com>")
            want = b"5.7.1"
            check(code in (550, 554) and want in msg,
                  "%s: unauthenticated relay rejected (%s)" % (label, msg.decode(errors="replace")),
                  (code, msg))
            if label == "front":
                check(code == 554, "front: the 554 comes from sessguard", (code, msg))
            code, msg = s.docmd("RCPT TO:<alice@example.org>")
            check(code == 250, "%s: local recipient accepted" % label, (code, msg))
            s.quit()
            nsessions += 1
            s = smtp(port)
            s.ehlo()
            code, msg = auth_plain(s, "alice", "secret")
            check(code == 235, "%s: AUTH PLAIN" % label, (code, msg))
            s.docmd("RSET")
            code, msg = s.docmd("MAIL FROM:<alice@example.org>")
            check(code == 250, "%s: MAIL after AUTH+RSET" % label, (code, msg))
            code, msg = s.docmd("RCPT TO:<someone@example.com>")
            check(code == 250, "%s: authenticated relay accepted" % label, (code, msg))
            s.quit()
            nsessions += 1
        # STARTTLS discards auth (S3): AUTH, STARTTLS, EHLO, relay -> refused
        s = smtp(mta.port_front_end)
        s.ehlo()
        s.docmd("MAIL FROM:<x@example.net>")
        s.docmd("RSET")
        s.starttls(context=tls_context())
        s.ehlo()
        code, msg = auth_plain(s, "alice", "secret")
        s.docmd("MAIL FROM:<alice@example.org>")
        code, msg = s.docmd("RCPT TO:<someone@example.com>")
        check(code == 250, "front: AUTH inside TLS then relay accepted", (code, msg))
        s.quit()
        nsessions += 1

        # wait for the log lines themselves: the close line of every session
        def complete_lines():
            with open(log) as f:
                return [raw for raw in f if raw.endswith("\n")]

        def closes():
            n = 0
            for raw in complete_lines():
                try:
                    n += json.loads(raw).get("event") == "close"
                except ValueError:
                    pass
            return n
        if not wait_until(lambda: closes() >= nsessions):
            print("# not every one of the %d sessions has its close line yet" % nsessions)
        lines = []
        with open(log) as f:
            for raw in f:
                try:
                    lines.append(json.loads(raw))
                except ValueError:
                    check(False, "log line is JSON", raw[:200])
        check(len(lines) > 0, "sessguard wrote %d JSON lines" % len(lines))
        rc = [l for l in lines if l.get("event") == "rcpt"]
        check(any(l.get("verdict") == "reject" and "not authenticated" in l.get("reason", "")
                  for l in rc), "log: a reject with 'not authenticated'")
        check(any(l.get("verdict") == "accept" and (l.get("auth") or {}).get("user") == "alice"
                  for l in rc), "log: an accept authenticated as alice")
        check(any(l.get("verdict") == "mta_rejected" for l in rc),
              "log: second-line refusal by Sendmail logged as mta_rejected")
        print("# sessguard log (%s):" % log)
        for l in lines:
            print("#   " + json.dumps(l, sort_keys=True))
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        err.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--sessguard", help="also test this sessguard binary")
    args = ap.parse_args()

    reason = SendmailMTA.unavailable_reason()
    if reason:
        print("SKIP: sendmail harness unavailable: %s" % reason)
        return 77
    tmp = tempfile.mkdtemp(prefix="sessguard-sendmail-")
    mta = SendmailMTA(tmp, "unix:" + os.path.join(tmp, "milter.sock"),
                      users={"alice": "secret", "bob": "hunter2"})
    try:
        mta.start()
        print("# started %r in %.2fs" % (mta, mta.start_seconds))
        phase_no_milter(mta)
        phase_null_milter(mta)
        if args.sessguard:
            phase_sessguard(mta, args.sessguard, tmp)
    except Exception as e:  # report, then tear down
        check(False, "unexpected %s: %s" % (type(e).__name__, e))
        print(mta.diagnostics())
    finally:
        mta.stop()
        mta.stop()  # idempotent
        print("# stopped in %.2fs" % (mta.stop_seconds or 0))
        check(not mta.running() and not any(
            os.path.exists("/proc/%d" % p) for p in mta._namespace_pids()),
            "stopped, no process left")
        if RESULTS["failed"]:
            print("# sendmail log:\n" + mta.log_text()[-6000:])
        if args.keep or RESULTS["failed"]:
            print("# files kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
