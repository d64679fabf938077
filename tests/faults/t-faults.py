#!/usr/bin/env python3
"""Fault tests (issue 6): the MTA drops the connection mid-transaction and
mid-DATA without abort or QUIT; the log file's filesystem fills up (a tiny
tmpfs): verdicts go on unchanged, lost lines are counted and reported once
the sink takes lines again; a log sink that blocks (a FIFO nobody reads)
delays mail by a bounded time only.

A raw milter client (protocol version 6) drives the daemon, so that the
connection can be cut at any byte. Prints 'N passed, N failed'.
"""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

SESSGUARD = os.environ.get("SESSGUARD", "src/sessguard")
PASSED = FAILED = 0


def ok(cond, what):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print("ok - " + what)
    else:
        FAILED += 1
        print("not ok - " + what)


class Milter:
    """A minimal MTA side of the milter protocol."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(10)
        self.s.connect(path)
        # offer everything (actions 0x1ff, all protocol steps)
        self.send(b"O", struct.pack(">III", 6, 0x1FF, 0x1FFFFF))
        cmd, data = self.recv()
        assert cmd == b"O", cmd
        # as an MTA does: no reply awaited where the filter waived it, and
        # no stage sent that it asked to skip
        self.proto = struct.unpack(">III", data[:12])[2]

    # the stages whose reply the filter may waive (SMFIP_NR_*), and the
    # stages it may ask the MTA to skip (SMFIP_NO*)
    NO_REPLY = {b"C": 0x1000, b"H": 0x2000, b"M": 0x4000, b"R": 0x8000,
                b"T": 0x10000, b"U": 0x20000, b"N": 0x40000, b"B": 0x80000,
                b"L": 0x80}
    SKIPPED = {b"B": 0x10, b"L": 0x20, b"N": 0x40}

    def skipped(self, cmd):
        return bool(self.proto & self.SKIPPED.get(cmd, 0))

    def send(self, cmd, data=b""):
        self.s.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    def recv(self):
        hdr = self._read(4)
        n = struct.unpack(">I", hdr)[0]
        body = self._read(n)
        return body[:1], body[1:]

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def ask(self, cmd, data=b""):
        """The filter's reply, None when it waived it or skips the stage."""
        if self.skipped(cmd):
            return None
        self.send(cmd, data)
        if self.proto & self.NO_REPLY.get(cmd, 0):
            return None
        return self.recv()[0]

    def macro(self, stage, **kv):
        data = stage
        for k, v in kv.items():
            data += k.encode() + b"\0" + v.encode() + b"\0"
        self.send(b"D", data)

    def connect(self, addr):
        return self.ask(b"C", b"client.example.net\0" + b"4" +
                        struct.pack(">H", 40000) + addr.encode() + b"\0")

    def helo(self, name):
        return self.ask(b"H", name.encode() + b"\0")

    def mail(self, sender, user=None):
        if user:
            self.macro(b"M", **{"{auth_authen}": user, "{auth_type}": "PLAIN"})
        return self.ask(b"M", sender.encode() + b"\0")

    def rcpt(self, rcpt):
        return self.ask(b"R", rcpt.encode() + b"\0")

    def drop(self):
        self.s.close()


def start(conf_text, d):
    conf = os.path.join(d, "c.conf")
    with open(conf, "w") as f:
        f.write(conf_text)
    errpath = os.path.join(d, "err")
    err = open(errpath, "w")
    p = subprocess.Popen([SESSGUARD, "-f", "-c", conf], stderr=err)
    sock = os.path.join(d, "s.sock")
    # the socket file exists from bind() on; "listening on" comes after
    # listen(): only then does a connection find the daemon
    wait_for(lambda: p.poll() is not None or
             "listening on" in open(errpath).read(), 10.0)
    return p, sock


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
        return -9


def lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def wait_for(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def base(d, log):
    return ("socket = unix:%s/s.sock\nlog = file:%s\n"
            "local_domains = example.org\ntrusted_networks = 192.0.2.1/32\n"
            % (d, log))


def test_drops(d):
    log = os.path.join(d, "drops.jsonl")
    p, sock = start(base(d, log), d)
    try:
        # dropped after RCPT (mid-transaction), without abort or QUIT
        m = Milter(sock)
        m.connect("192.0.2.10")
        m.helo("a")
        m.mail("<alice@example.org>", "alice")
        ok(m.rcpt("<x@remote.test>") == b"c", "authenticated relay accepted")
        m.drop()
        # dropped in the middle of DATA, after a header
        m = Milter(sock)
        m.connect("192.0.2.11")
        m.helo("b")
        m.mail("<bob@example.org>")
        m.rcpt("<bob@example.org>")
        m.ask(b"T")
        m.ask(b"L", b"Subject\0hello\0")
        if not m.skipped(b"B"):
            m.send(b"B", b"partial body")   # no reply awaited: cut mid-body
        m.drop()
        # dropped in the middle of a packet
        m = Milter(sock)
        m.connect("192.0.2.12")
        m.s.sendall(struct.pack(">I", 100) + b"Hhalf")
        m.drop()
        # the daemon goes on, and nothing of the dropped sessions leaks
        m = Milter(sock)
        m.connect("192.0.2.13")
        m.helo("c")
        m.mail("<mallory@example.org>")
        ok(m.rcpt("<x@remote.test>") == b"y", "next session refused as before")
        m.send(b"Q")
        m.drop()
        # libmilter's worker pool may see the third connection's hang-up
        # before it reads the connect packet waiting in the socket, and
        # then ends it without any callback: that session may have no
        # lines at all. Every session that has lines has a close line.
        def closed():
            ev = lines(log)
            opened = {e["session"] for e in ev if e["event"] == "connect"}
            shut = {e["session"] for e in ev if e["event"] == "close"}
            return len(opened) >= 3 and opened == shut
        ok(wait_for(closed), "a close line for every dropped session")
        ev = lines(log)
        # every line of a session, not only its verdicts: no auth field
        # set, and alice's login nowhere; the first session, alice's own,
        # shows that the check sees a login where there is one
        def session_of(addr):
            ids = {e["session"] for e in ev if e["event"] == "connect"
                   and e.get("client_addr") == addr}
            return [e for e in ev if e["session"] in ids]

        def has_login(e):
            return e.get("auth") is not None or "alice" in json.dumps(e)
        alice = session_of("192.0.2.10")
        ok(any(e.get("auth") is not None for e in alice),
           "the check sees the login in alice's own session")
        after = session_of("192.0.2.13")
        leaked = [e for e in after if has_login(e)]
        ok(len(after) >= 5 and not leaked,
           "no login leaked across sessions (%d lines of the next session%s)"
           % (len(after), ", leaked in: %r" % leaked if leaked else ""))
        ok(p.poll() is None, "daemon alive after drops")
    finally:
        ok(stop(p) == 0, "exit 0 after drops")


def test_full_disk(d):
    mnt = os.path.join(d, "tiny")
    os.mkdir(mnt)
    if subprocess.call(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt]) != 0:
        ok(False, "mount a tiny tmpfs (needs root)")
        return
    p = None
    try:
        log = os.path.join(mnt, "log.jsonl")
        p, sock = start(base(d, log), d)
        filler = os.path.join(mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:                                # fill the filesystem
            while True:
                os.write(fd, b"x" * 4096)
        except OSError:
            pass
        os.close(fd)
        verdicts = []
        for i in range(20):
            m = Milter(sock)
            m.connect("192.0.2.%d" % (20 + i % 2))
            m.helo("h")
            m.mail("<a@example.org>", "alice" if i % 2 == 0 else None)
            verdicts.append(m.rcpt("<x@remote.test>"))
            m.send(b"Q")
            m.drop()
        ok(verdicts == [b"c", b"y"] * 10, "verdicts unchanged while the log "
           "filesystem is full")
        os.unlink(filler)                      # the sink recovers
        m = Milter(sock)
        m.connect("192.0.2.30")
        m.helo("h")
        m.mail("<a@example.org>")
        m.rcpt("<x@remote.test>")
        m.send(b"Q")
        m.drop()
        err = os.path.join(d, "err")
        ok(wait_for(lambda: "lost while a log sink failed" in open(err).read()),
           "lost lines reported once the sink takes lines again")
        ok(wait_for(lambda: any(e["event"] == "connect" and
                                e["client_addr"] == "192.0.2.30"
                                for e in lines(log))),
           "lines written again after recovery")
    finally:
        if p:
            ok(stop(p) == 0, "exit 0 after a full disk")
        subprocess.call(["umount", mnt])


def test_blocking_sink(d):
    fifo = os.path.join(d, "fifo")
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)   # a reader that never reads
    p, sock = start(base(d, fifo), d)
    try:
        worst = 0.0
        verdicts = []
        for i in range(200):               # far more than the pipe holds
            t0 = time.monotonic()
            m = Milter(sock)
            m.connect("192.0.2.40")
            m.helo("h")
            m.mail("<a@example.org>")
            verdicts.append(m.rcpt("<x@remote.test>"))
            m.send(b"Q")
            m.drop()
            worst = max(worst, time.monotonic() - t0)
        ok(set(verdicts) == {b"y"}, "verdicts go on with a blocked log sink")
        ok(worst < 3.0, "a blocked sink delays a session by a bounded time "
           "(worst %.2f s)" % worst)
    finally:
        ok(stop(p) == 0, "exit 0 with a blocked sink")
        os.close(rfd)
    err = open(os.path.join(d, "err")).read()
    ok("log lines were lost" in err, "the lines the sink could not take "
       "are counted and reported")


def main():
    tests = [test_drops, test_full_disk, test_blocking_sink]
    if os.geteuid() != 0:             # only the tmpfs mount needs root
        print("ok - # SKIP test_full_disk: needs root (tmpfs mount)")
        tests.remove(test_full_disk)
    for t in tests:
        with tempfile.TemporaryDirectory(prefix="sg-faults-") as d:
            try:
                t(d)
            except Exception as e:        # a harness error is a failure
                ok(False, "%s: %r" % (t.__name__, e))
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 0 if FAILED == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
