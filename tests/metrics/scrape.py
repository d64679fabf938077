#!/usr/bin/env python3
"""Helpers of t-metrics.sh.

scrape.py get URL [METHOD]   print "STATUS", "content-type: TYPE", "allow: A",
                             a blank line and the body; exit 2 if no answer
scrape.py freeport [LO HI]   print a TCP port free on 127.0.0.1 (in LO..HI)
scrape.py listening PORT     print the local addresses listening on PORT
scrape.py watch FILE SECS    read FILE over and over for SECS seconds; every
                             read must be a whole exposition; print counts,
                             exit 1 on a partial read or if FILE was never
                             replaced (same inode throughout)
"""
import os
import socket
import sys
import time
import urllib.error
import urllib.request


def get(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        resp = urllib.request.urlopen(req, timeout=5)
    except urllib.error.HTTPError as e:
        resp = e
    except OSError as e:
        print("no answer: %s" % e)
        return 2
    body = resp.read().decode("utf-8", "replace")
    print(resp.status)
    print("content-type: %s" % resp.headers.get("Content-Type"))
    print("allow: %s" % resp.headers.get("Allow"))
    print()
    sys.stdout.write(body)
    return 0


def freeport(lo=None, hi=None):
    for port in range(int(lo), int(hi) + 1) if lo else [0]:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            port = s.getsockname()[1]
        except OSError:
            continue
        finally:
            s.close()
        print(port)
        return 0
    return 1


def listening(port):
    port = int(port)
    for name, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            addr, p = f[1].split(":")
            if int(p, 16) != port or f[3] != "0A":	# LISTEN
                continue
            raw = bytes.fromhex(addr)
            # /proc prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            print(socket.inet_ntop(socket.AF_INET6 if v6 else socket.AF_INET, raw))
    return 0


def whole(text):
    lines = text.split("\n")
    samples = [l for l in lines if l and not l.startswith("#")]
    return (text.endswith("\n") and len(samples) == 44
            and sum(l.startswith("# TYPE ") for l in lines) == 10
            and samples[-1].startswith("sessguard_config_generation ")
            and lines[0].startswith("# HELP sessguard_sessions_total"))


def watch(path, secs):
    end = time.monotonic() + float(secs)
    reads = partial = 0
    inodes = set()
    while time.monotonic() < end:
        try:
            with open(path) as f:
                inodes.add(os.fstat(f.fileno()).st_ino)
                text = f.read()
        except FileNotFoundError:
            partial += 1
            print("missing at read %d" % reads)
            continue
        reads += 1
        if not whole(text):
            partial += 1
            print("partial read %d: %r" % (reads, text[-80:]))
    print("reads %d partial %d files %d" % (reads, partial, len(inodes)))
    return 0 if partial == 0 and len(inodes) >= 2 and reads > 100 else 1


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    sys.exit({"get": get, "freeport": freeport, "listening": listening,
              "watch": watch}[cmd](*args))
