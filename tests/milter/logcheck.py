#!/usr/bin/env python3
"""Checks a sessguard JSON Lines log.

usage: logcheck.py LOG [EXPECT]

1. Every line is one JSON object with the fields SPEC section 5 gives its
   event; seq counts 1, 2, 3 ... within each session (log_level commands)
   or at least increases (decisions).
2. EXPECT, if given, lists lines that must appear in the log in that order
   (other lines may come between). A line of EXPECT is an event name and
   conditions:  key=value (JSON value, else a string), key~=text (the
   string contains text), key! (the field is absent). Dotted keys reach
   into objects (auth.source=carried). '# ...' lines are comments. A line
   'session' starts the expectations of the next session: each block must
   match the lines of one session, in order, and blocks take sessions in
   the order the sessions began. A line starting with '!' must NOT appear
   anywhere in the log: '!rcpt verdict=accept relay=true'.
"""
import json
import re
import sys

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
AUTH_KEYS = {"user", "mech", "since_seq", "source"}
FIELDS = {
    "connect": ["client_addr", "client_port", "client_name", "daemon", "via"],
    "helo": ["helo", "tls"],
    "tls": ["version", "cipher", "bits"],
    "mail": ["txn", "sender", "args", "auth"],
    "rcpt": ["txn", "rcpt", "relay", "verdict", "reason", "auth"],
    "data": ["txn"],
    "eoh": ["txn"],
    # "headers" only when the filter asked for headers (auth_results)
    "eom": ["txn", "queue_id", "size", "verdict"],
    "abort": ["txn"],
    "unknown": ["command"],
    "anomaly": ["kind", "detail"],
    "close": ["duration_ms", "transactions", "resets", "rcpts", "rejected",
              "auth"],
    "chain": ["prev"],
}
VERDICTS = {"accept", "reject", "would_reject", "tempfail", "mta_rejected"}
KINDS = {"auth_changed", "auth_carried", "unknown_command",
         "mail_without_helo", "client_auth_param", "auth_results_skipped",
         "auth_kept_across_tls", "limit_exceeded", "limit_store_down",
         "limit_store_up"}
LIMIT_KEYS = {"name", "key", "count", "max", "period_s"}
LIMIT_NAMES = {"limit_login_recipients", "limit_login_messages",
               "limit_client_recipients", "limit_login_clients"}


def fail(msg):
    print("FAIL: logcheck: " + msg)
    sys.exit(1)


def check_auth(n, a):
    if a is None:
        return
    if not isinstance(a, dict) or set(a) != AUTH_KEYS:
        fail("line %d: bad auth object %r" % (n, a))
    if a["source"] not in ("mta", "carried"):
        fail("line %d: bad auth.source %r" % (n, a["source"]))
    if not isinstance(a["since_seq"], int) or a["since_seq"] < 1:
        fail("line %d: bad auth.since_seq" % n)


def check_schema(lines):
    last = {}
    events = []
    for n, raw in enumerate(lines, 1):
        try:
            ev = json.loads(raw)
        except ValueError as e:
            fail("line %d is not JSON (%s): %r" % (n, e, raw[:200]))
        if not isinstance(ev, dict):
            fail("line %d is not an object" % n)
        for k in ("ts", "session", "seq", "event"):
            if k not in ev:
                fail("line %d lacks %s" % (n, k))
        if not TS.match(ev["ts"]):
            fail("line %d: ts %r is not RFC 3339 UTC with microseconds"
                 % (n, ev["ts"]))
        name = ev["event"]
        if name not in FIELDS:
            fail("line %d: unknown event %r" % (n, name))
        for k in FIELDS[name]:
            if k not in ev:
                fail("line %d: %s lacks %s" % (n, name, k))
        sid, seq = ev["session"], ev["seq"]
        if not isinstance(seq, int) or seq <= last.get(sid, 0):
            fail("line %d: seq %r does not increase in session %s"
                 % (n, seq, sid))
        last[sid] = seq
        if name == "rcpt":
            if ev["verdict"] not in VERDICTS:
                fail("line %d: bad verdict %r" % (n, ev["verdict"]))
            if ev["verdict"] in ("reject", "tempfail") and "reply" not in ev:
                fail("line %d: a refusal without reply" % n)
            if not isinstance(ev["relay"], bool):
                fail("line %d: relay is not a bool" % n)
        if name == "rcpt" and "limit" in ev:
            lim = ev["limit"]
            if not isinstance(lim, dict) or set(lim) != LIMIT_KEYS:
                fail("line %d: bad limit object %r" % (n, lim))
            if lim["name"] not in LIMIT_NAMES:
                fail("line %d: bad limit name %r" % (n, lim["name"]))
            for k in ("count", "max", "period_s"):
                if not isinstance(lim[k], int) or lim[k] < 0:
                    fail("line %d: bad limit.%s" % (n, k))
        if name == "mail" and "verdict" in ev:
            # SPEC section 8: the sender/login check adds verdict, reason
            if ev["verdict"] not in VERDICTS - {"mta_rejected"}:
                fail("line %d: bad mail verdict %r" % (n, ev["verdict"]))
            if "reason" not in ev:
                fail("line %d: mail verdict without reason" % n)
            if ev["verdict"] in ("reject", "tempfail") and "reply" not in ev:
                fail("line %d: a refusal without reply" % n)
        if name == "eom" and ev["verdict"] not in ("accept", "tempfail",
                                                   "hold"):
            fail("line %d: bad eom verdict %r" % (n, ev["verdict"]))
        if name == "anomaly" and ev["kind"] not in KINDS:
            fail("line %d: unknown anomaly kind %r" % (n, ev["kind"]))
        if name in ("mail", "rcpt", "close"):
            check_auth(n, ev["auth"])
        events.append(ev)
    return events


def lookup(ev, key):
    cur = ev
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def parse_cond(tok):
    if tok.endswith("!"):
        return (tok[:-1], "absent", None)
    if "~=" in tok:
        k, v = tok.split("~=", 1)
        return (k, "contains", v)
    k, v = tok.split("=", 1)
    try:
        val = json.loads(v)
    except ValueError:
        val = v
    return (k, "eq", val)


def matches(ev, name, conds):
    if ev["event"] != name:
        return False
    for key, op, val in conds:
        found, got = lookup(ev, key)
        if op == "absent":
            if found:
                return False
        elif not found:
            return False
        elif op == "contains":
            if not isinstance(got, str) or val not in got:
                return False
        elif got != val or type(got) != type(val):
            return False
    return True


def split_line(line):
    # key=value tokens; a value may be "quoted text with spaces"
    # ("quoted" only where a token starts, so JSON values keep their quotes)
    return [t.replace("\0", " ") for t in
            re.sub(r'(^|\s)"([^"]*)"(?=\s|$)',
                   lambda m: m.group(1) + m.group(2).replace(" ", "\0"),
                   line).split()]


def parse_expect(path):
    """Blocks of (lineno, text, name, conds), one a session; and negations."""
    blocks, negs, cur = [], [], []
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line == "session":
            if cur:
                blocks.append(cur)
            cur = []
            continue
        negate = line.startswith("!")
        toks = split_line(line.lstrip("!"))
        try:
            item = (n, line, toks[0], [parse_cond(t) for t in toks[1:]])
        except ValueError:
            fail("%s:%d: cannot read '%s'" % (path, n, line))
        (negs if negate else cur).append(item)
    if cur:
        blocks.append(cur)
    return blocks, negs


def block_matches(block, lines):
    """The first line of the block that no line matches, or None."""
    pos = 0
    for item in block:
        _, _, name, conds = item
        while pos < len(lines) and not matches(lines[pos], name, conds):
            pos += 1
        if pos == len(lines):
            return item
        pos += 1
    return None


def check_expect(events, path):
    """Each block must match, in order, the lines of its own session; the
    blocks take distinct sessions in the order the sessions began (lines of
    parallel or closing sessions may interleave in the file)."""
    blocks, negs = parse_expect(path)
    for n, line, name, conds in negs:
        for ev in events:
            if matches(ev, name, conds):
                fail("%s:%d: unwanted line found: %s" % (path, n,
                     json.dumps(ev)))
    order, by_session = [], {}
    for ev in events:
        if ev["session"] not in by_session:
            order.append(ev["session"])
            by_session[ev["session"]] = []
        by_session[ev["session"]].append(ev)
    start = 0
    for block in blocks:
        first_miss = None
        for i in range(start, len(order)):
            miss = block_matches(block, by_session[order[i]])
            if miss is None:
                start = i + 1
                break
            if first_miss is None:
                first_miss = miss
        else:
            n, line = (first_miss or block[0])[:2]
            fail("%s:%d: no line matches '%s' (in order, in one session)"
                 % (path, n, line))


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__)
        sys.exit(2)
    lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
    events = check_schema(lines)
    if len(sys.argv) == 3:
        check_expect(events, sys.argv[2])
    print("logcheck: %d lines valid%s" % (len(events),
          ", expectations met" if len(sys.argv) == 3 else ""))


if __name__ == "__main__":
    main()
