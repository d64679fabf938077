"""End-to-end scenarios: each checks the SMTP replies the client sees AND the
JSON log sessguard wrote for that very session (found by the client's port)."""

import concurrent.futures
import os
import re
import signal
import threading
import time

from e2e_common import (ScenarioFailure, check, contains, eq, message, reply_is, same_user,
                        scenario)

REMOTE = "remote.example.net"   # not local, not relay_domains: a relay attempt
AUTHSERV_ID = "mx.sessguard.test"   # sessguard's authserv_id (auth_results = yes)
# {daemon_name} per listener (postfix_mta.py sets milter_macro_daemon_name,
# sendmail_mta.py names its DAEMON_OPTIONS); an MTA class may say otherwise
# with a daemon_names attribute.
DAEMON_NAMES = {"second_line": "second-line", "front_end": "front-end", "both": "both"}
# The milter listeners and sessguard's policy front end (SPEC section 7; Postfix
# only: check_policy_service on its own listener, no milter there).
ALL = ("second_line", "front_end", "policy")

def expect_accepted_relay(ctx, sess, rcpt, login, mech=None):
    ev = sess.one_rcpt(rcpt)
    eq(ev.get("relay"), True, "rcpt %s relay" % rcpt)
    eq(ev.get("verdict"), "accept", "rcpt %s verdict (%s)" % (rcpt, ev.get("reason")))
    auth = ev.get("auth")
    check(isinstance(auth, dict), "rcpt %s: auth is %r, want an object" % (rcpt, auth))
    check(same_user(auth.get("user"), login), "rcpt %s: auth.user %r is not %r"
          % (rcpt, auth.get("user"), login))
    if mech:
        eq(str(auth.get("mech", "")).upper(), mech, "rcpt %s auth.mech" % rcpt)
    check(auth.get("source") in ("mta", "carried"), "rcpt %s: auth.source %r"
          % (rcpt, auth.get("source")))
    check(isinstance(auth.get("since_seq"), int), "rcpt %s: auth.since_seq %r"
          % (rcpt, auth.get("since_seq")))
    check(ev.get("reason"), "rcpt %s: no reason" % rcpt)
    return ev


def expect_refused_relay(ctx, sess, rcpt, reply, phrase="not authenticated"):
    """Relay refused: by Postfix itself on the second line (verdict mta_rejected),
    by sessguard on the front end (verdict reject, reason has the phrase)."""
    ev = sess.one_rcpt(rcpt)
    eq(ev.get("relay"), True, "rcpt %s relay" % rcpt)
    if ctx.mta_guards:
        # the MTA's own refusal: Postfix 554 5.7.1, Sendmail 550 5.7.1
        line = reply_is(reply, "5", "RCPT TO:<%s>" % rcpt)
        contains(line, "5.7.1", "RCPT TO:<%s> reply" % rcpt)
        eq(ev.get("verdict"), "mta_rejected", "rcpt %s verdict (MTA refused it first)" % rcpt)
    else:
        reply_is(reply, "554 5.7.1", "RCPT TO:<%s>" % rcpt)
        eq(ev.get("verdict"), "reject", "rcpt %s verdict" % rcpt)
        contains(ev.get("reason"), phrase, "rcpt %s reason" % rcpt)
        contains(ev.get("reply"), "5.7.1", "rcpt %s reply" % rcpt)
    return ev


def expect_local(sess, rcpt, reply):
    reply_is(reply, "250", "RCPT TO:<%s>" % rcpt)
    ev = sess.one_rcpt(rcpt)
    eq(ev.get("relay"), False, "rcpt %s relay" % rcpt)
    eq(ev.get("verdict"), "accept", "rcpt %s verdict" % rcpt)
    return ev


def wait_delivered(mta, qid, rcpts, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        log = mta.maillog_text()
        missing = [r for r in rcpts
                   if not re.search(r"%s: to=<%s>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d,.*"
                                    r"status=sent" % (qid, re.escape(r), mta.port_sink), log)]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise ScenarioFailure("message %s to %s not delivered to the smtp-sink within %.0fs"
                                  % (qid, missing, timeout))
        time.sleep(0.1)


def expect_connect(ctx, sess, client):
    c = sess.lines[0]
    eq(c.get("client_addr"), client.local_addr, "connect client_addr")
    eq(c.get("via"), ctx.via, "connect via (the front end)")
    if ctx.via == "policy":
        # the policy protocol names no daemon
        eq(c.get("daemon"), None, "connect daemon of a policy session")
        return
    names = getattr(ctx.mta, "daemon_names", None) or DAEMON_NAMES
    want = names.get(ctx.deployment)
    if want:
        eq(c.get("daemon"), want, "connect daemon ({daemon_name} of the listener)")


# ---------------------------------------------------------------------------
@scenario("nokia_e61i_auth_login_rset_relay", deployments=ALL, needs=("auth_login",))
def nokia_e61i(ctx):
    """Nokia E61i: EHLO, AUTH LOGIN, RSET, MAIL, RCPT remote -> accepted."""
    login, pw = ctx.user(0)
    c = ctx.client()
    reply_is(c.ehlo("Nokia-E61i"), "250", "EHLO")
    reply_is(c.auth_login(login, pw), "235", "AUTH LOGIN")
    reply_is(c.cmd("RSET"), "250", "RSET")
    reply_is(c.cmd("MAIL FROM:<%s@%s>" % (login, ctx.local_domain)), "250", "MAIL")
    rcpt = "friend@" + REMOTE
    reply_is(c.cmd("RCPT TO:<%s>" % rcpt), "250", "RCPT TO:<%s>" % rcpt)
    reply_is(c.cmd("RSET"), "250", "RSET")
    s = ctx.session(c)
    expect_connect(ctx, s, c)
    check(s.events("helo"), "no helo event")
    mail = s.one("mail")
    check(isinstance(mail.get("auth"), dict), "mail auth %r, want the login" % mail.get("auth"))
    expect_accepted_relay(ctx, s, rcpt, login, mech="LOGIN")


@scenario("unauthenticated_relay_rejected_local_accepted", deployments=ALL)
def unauth_relay(ctx):
    c = ctx.client()
    reply_is(c.ehlo("stranger.example.net"), "250", "EHLO")
    reply_is(c.cmd("MAIL FROM:<someone@%s>" % REMOTE), "250", "MAIL")
    relay = "victim@elsewhere.example.com"
    r1 = c.cmd("RCPT TO:<%s>" % relay)
    local = "postmaster@" + ctx.local_domain
    r2 = c.cmd("RCPT TO:<%s>" % local)
    reply_is(c.cmd("RSET"), "250", "RSET")
    s = ctx.session(c)
    expect_connect(ctx, s, c)
    expect_refused_relay(ctx, s, relay, r1)
    expect_local(s, local, r2)
    for ev in s.events("rcpt"):
        eq(ev.get("auth"), None, "rcpt %s auth of a session that never authenticated"
           % ev.get("rcpt"))
    close = s.lines[-1]
    eq((close.get("transactions"), close.get("rcpts"), close.get("auth")), (1, 2, None),
       "close summary (transactions, rcpts, auth)")
    if not ctx.mta_guards:
        eq(close.get("rejected"), 1, "close summary rejected")


@scenario("auth_param_without_auth_not_trusted", deployments=ALL)
def auth_param(ctx):
    c = ctx.client()
    reply_is(c.ehlo("forger.example.net"), "250", "EHLO")
    reply_is(c.cmd("MAIL FROM:<a@%s> AUTH=<victim@%s>" % (ctx.local_domain, ctx.local_domain)),
             "250", "MAIL with AUTH=")
    relay = "target@" + REMOTE
    r = c.cmd("RCPT TO:<%s>" % relay)
    s = ctx.session(c)
    mail = s.one("mail")
    contains(mail.get("auth_param"), "victim@" + ctx.local_domain, "mail auth_param")
    eq(mail.get("auth"), None, "mail auth (AUTH= must not authenticate)")
    check(s.anomalies("client_auth_param"), "no anomaly client_auth_param: " + s.brief())
    ev = expect_refused_relay(ctx, s, relay, r)
    eq(ev.get("auth"), None, "rcpt auth")


@scenario("authenticated_multi_transaction_rset_data", deployments=ALL, needs=("auth_plain",))
def multi_txn(ctx):
    login, pw = ctx.user(1)
    sender = "%s@%s" % (login, ctx.local_domain)
    c = ctx.client()
    reply_is(c.ehlo("laptop.example.net"), "250", "EHLO")
    reply_is(c.auth_plain(login, pw), "235", "AUTH PLAIN")
    rcpts = ["one@" + REMOTE, "two@" + REMOTE, "three@" + REMOTE, "four@other.example.com"]
    # 1: complete message
    reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL 1")
    reply_is(c.cmd("RCPT TO:<%s>" % rcpts[0]), "250", "RCPT 1")
    d1 = c.data(message(sender, rcpts[:1]))
    reply_is(d1, "250", "end of DATA 1")
    reply_is(c.cmd("RSET"), "250", "RSET after DATA")
    # 2: aborted by RSET
    reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL 2")
    reply_is(c.cmd("RCPT TO:<%s>" % rcpts[1]), "250", "RCPT 2")
    reply_is(c.cmd("RSET"), "250", "RSET 2")
    reply_is(c.cmd("RSET"), "250", "RSET 3")
    reply_is(c.cmd("NOOP"), "250", "NOOP")
    # 3: two recipients, complete message
    reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL 3")
    reply_is(c.cmd("RCPT TO:<%s>" % rcpts[2]), "250", "RCPT 3a")
    reply_is(c.cmd("RCPT TO:<%s>" % rcpts[3]), "250", "RCPT 3b")
    d3 = c.data(message(sender, rcpts[2:]))
    reply_is(d3, "250", "end of DATA 3")
    s = ctx.session(c)
    for r in rcpts:
        expect_accepted_relay(ctx, s, r, login, mech="PLAIN")
    # The login dates from the first MAIL and survives DATA and RSET: a
    # sessguard that forgot it at the abort would date it anew.
    first_mail = s.events("mail")[0]
    since = [s.one_rcpt(r)["auth"].get("since_seq") for r in rcpts]
    eq(since, [first_mail.get("seq")] * len(rcpts),
       "auth.since_seq of the rcpts (the login of the first MAIL)")
    if ctx.via == "milter":
        contains(s.one_rcpt(rcpts[2]).get("reason"), "carried across 1 reset",
                 "reason of the rcpt after the RSET inside transaction 2")
    txns = [s.one_rcpt(r).get("txn") for r in rcpts]
    check(txns[0] < txns[1] < txns[2] == txns[3],
          "txn numbers of the rcpts %s: want increasing per MAIL" % txns)
    eq(len(s.events("mail")), 3, "mail events")
    eq(len(s.events("eom")), 2, "eom events")
    if ctx.via == "policy":
        # Postfix sends no policy request at RSET: none is invented
        eq(s.events("abort"), [], "abort events of a policy session")
    else:
        check(s.events("abort"), "no abort event for the RSET inside transaction 2: "
              + s.brief())
        check(any(a.get("txn") == txns[1] for a in s.events("abort")),
              "no abort of txn %s: %s" % (txns[1], s.events("abort")))
    close = s.lines[-1]
    eq((close.get("transactions"), close.get("rcpts"), close.get("rejected")), (3, 4, 0),
       "close summary (transactions, rcpts, rejected)")
    check(isinstance(close.get("auth"), dict) and same_user(close["auth"].get("user"), login),
          "close auth %r" % close.get("auth"))
    eoms = s.events("eom")
    eq([e.get("txn") for e in eoms], [txns[0], txns[2]], "txn of the eom events")
    if hasattr(ctx.mta, "maillog_text"):
        # Postfix: the queue id in the DATA reply is the one sessguard logged, and the
        # accepted messages went to the smtp-sink on loopback, nowhere else.
        for reply, eom, to in ((d1, eoms[0], rcpts[:1]), (d3, eoms[1], rcpts[2:])):
            m = re.search(r"queued as (\w+)", reply[1].decode("latin-1"))
            check(m, "no queue id in the DATA reply %r" % (reply,))
            eq(eom.get("queue_id"), m.group(1), "eom queue_id")
            wait_delivered(ctx.mta, m.group(1), to)


@scenario("auth_then_starttls_discards_auth", deployments=ALL,
          needs=("auth_plain", "starttls"))
def starttls_discards(ctx):
    login, pw = ctx.user(0)
    sender = "%s@%s" % (login, ctx.local_domain)
    c = ctx.client()
    reply_is(c.ehlo("roamer.example.net"), "250", "EHLO")
    reply_is(c.auth_plain(login, pw), "235", "AUTH PLAIN")
    # A MAIL so that the login reaches the milter before TLS (AUTH fires no callback).
    before = "before-tls@" + REMOTE
    reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL before TLS")
    reply_is(c.cmd("RCPT TO:<%s>" % before), "250", "RCPT before TLS")
    reply_is(c.cmd("RSET"), "250", "RSET")
    reply_is(c.starttls(), "220", "STARTTLS")
    reply_is(c.ehlo("roamer.example.net"), "250", "EHLO after TLS")
    reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL after TLS")
    after = "after-tls@" + REMOTE
    r = c.cmd("RCPT TO:<%s>" % after)
    # AUTH again inside TLS (outside a transaction, RFC 4954 section 4)
    reply_is(c.cmd("RSET"), "250", "RSET")
    reauth = c.auth_plain(login, pw)
    again = "again-in-tls@" + REMOTE
    if reauth[0] == 235:
        reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL after AUTH in TLS")
        reply_is(c.cmd("RCPT TO:<%s>" % again), "250", "RCPT after AUTH in TLS")
    s = ctx.session(c)
    expect_accepted_relay(ctx, s, before, login)
    tls = s.one("tls")
    check(str(tls.get("version", "")).startswith("TLS") and tls.get("cipher"),
          "tls event without version/cipher: %r" % tls)
    helos = s.events("helo")
    check(len(helos) >= 2 and helos[-1].get("tls"), "the EHLO after STARTTLS has no tls "
          "object: %s" % helos)
    if ctx.has("keeps_auth_across_starttls"):
        # Sendmail 8.17 keeps the SASL login across STARTTLS and reports
        # {auth_authen} again at the EHLO and the MAIL after TLS, so Sendmail itself
        # lets the relay through.  S3: that login stays discarded; sessguard
        # refuses on both deployments.  Sendmail refuses a new AUTH: the client
        # cannot log in again inside TLS.
        expect_kept_login_refused(ctx, s, after, r, login, tls)
        line = reply_is(reauth, "503", "AUTH again inside TLS (Sendmail)")
        contains(line, "Already Authenticated", "AUTH again inside TLS (Sendmail)")
        return
    ev = expect_refused_relay(ctx, s, after, r, phrase="STARTTLS")
    eq(ev.get("auth"), None, "rcpt after TLS auth")
    check(not s.anomalies("auth_kept_across_tls"), "anomaly auth_kept_across_tls on an "
          "MTA that discards the login at STARTTLS: " + s.brief())
    # Postfix reset SASL at STARTTLS: a fresh AUTH inside TLS counts (S1)
    reply_is(reauth, "235", "AUTH again inside TLS")
    ev = expect_accepted_relay(ctx, s, again, login)
    eq(ev["auth"].get("source"), "mta", "auth.source after AUTH in TLS")
    check(ev["auth"]["since_seq"] > tls["seq"], "auth since_seq %s is not after the TLS "
          "boundary at seq %s" % (ev["auth"]["since_seq"], tls["seq"]))


def expect_kept_login_refused(ctx, s, rcpt, reply, login, tls):
    """A pre-TLS login the MTA still reports after STARTTLS (S3): refused by
    sessguard with the STARTTLS reason and the anomaly auth_kept_across_tls."""
    reply_is(reply, "554 5.7.1", "RCPT TO:<%s> (login kept across STARTTLS)" % rcpt)
    ev = s.one_rcpt(rcpt)
    eq(ev.get("relay"), True, "rcpt %s relay" % rcpt)
    eq(ev.get("verdict"), "reject", "rcpt %s verdict" % rcpt)
    contains(ev.get("reason"), "STARTTLS", "rcpt %s reason" % rcpt)
    eq(ev.get("auth"), None, "rcpt %s auth" % rcpt)
    kept = s.anomalies("auth_kept_across_tls")
    check(kept, "no anomaly auth_kept_across_tls: " + s.brief())
    check(all(a["seq"] > tls["seq"] for a in kept), "auth_kept_across_tls before the "
          "TLS boundary")
    check(same_user(kept[0].get("detail", "").split("login ")[1].split(" ")[0], login),
          "auth_kept_across_tls does not name %s: %r" % (login, kept[0].get("detail")))
    return ev


@scenario("auth_rset_starttls_without_ehlo", deployments=ALL,
          needs=("auth_plain", "starttls"))
def starttls_without_ehlo(ctx):
    """Issue 10 item 2: EHLO, AUTH, MAIL, RCPT, RSET, STARTTLS, MAIL, RCPT with no
    EHLO after STARTTLS (Postfix allows it).  The MAIL after STARTTLS is the TLS
    boundary: a tls event, the login discarded, the relay refused (STARTTLS)."""
    login, pw = ctx.user(0)
    sender = "%s@%s" % (login, ctx.local_domain)
    c = ctx.client()
    reply_is(c.ehlo("roamer.example.net"), "250", "EHLO")
    reply_is(c.auth_plain(login, pw), "235", "AUTH PLAIN")
    before = "before-tls@" + REMOTE
    reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL before TLS")
    reply_is(c.cmd("RCPT TO:<%s>" % before), "250", "RCPT before TLS")
    reply_is(c.cmd("RSET"), "250", "RSET")
    reply_is(c.starttls(), "220", "STARTTLS")
    r = c.cmd("MAIL FROM:<%s>" % sender)
    if r[0] != 250:
        # an MTA that insists on EHLO after STARTTLS: nothing to show
        reply_is(r, "5", "MAIL after STARTTLS without EHLO")
        return
    after = "after-tls@" + REMOTE
    r = c.cmd("RCPT TO:<%s>" % after)
    s = ctx.session(c)
    expect_accepted_relay(ctx, s, before, login)
    tls = s.one("tls")
    check(str(tls.get("version", "")).startswith("TLS") and tls.get("cipher"),
          "tls event without version/cipher: %r" % tls)
    mails = s.events("mail")
    check(len(mails) == 2 and tls["seq"] < mails[1]["seq"], "the tls event is not at the "
          "MAIL after STARTTLS: %s" % s.brief())
    eq(len(s.events("helo")), 1, "helo events (no EHLO after STARTTLS)")
    if ctx.has("keeps_auth_across_starttls"):
        expect_kept_login_refused(ctx, s, after, r, login, tls)
        return
    eq(mails[1].get("auth"), None, "auth of the MAIL after STARTTLS (a stale macro?)")
    ev = expect_refused_relay(ctx, s, after, r, phrase="STARTTLS")
    eq(ev.get("auth"), None, "rcpt after TLS auth")
    check(not s.anomalies("auth_kept_across_tls"), "anomaly auth_kept_across_tls: "
          + s.brief())


@scenario("sonyericsson_a128_unknown_command", deployments=ALL)
def sonyericsson(ctx):
    c = ctx.client()
    reply_is(c.ehlo("SonyEricsson"), "250", "EHLO")
    line = "A128 AUTH xxxx xxxx"
    reply_is(c.cmd(line), "5", line)
    reply_is(c.cmd("MAIL FROM:<phone@%s>" % REMOTE), "250", "MAIL")
    relay = "someone@" + REMOTE
    r = c.cmd("RCPT TO:<%s>" % relay)
    s = ctx.session(c)
    if ctx.via == "policy":
        # Postfix sends no policy request for an unknown command: no event
        eq(s.events("unknown"), [], "unknown events of a policy session")
        expect_refused_relay(ctx, s, relay, r)
        return
    unknown = s.one("unknown")
    cmd = unknown.get("command")
    if ctx.has("unknown_first_word_only"):
        # Postfix hands milters only the command name.
        eq(cmd, "A128", "unknown command as it reached the milter")
    else:
        check(isinstance(cmd, str) and cmd.startswith("A128"), "unknown command %r" % cmd)
    expect_refused_relay(ctx, s, relay, r)


@scenario("monitor_mode_would_reject", deployments=("front_end", "policy"), phase="monitor")
def monitor(ctx):
    c = ctx.client()
    reply_is(c.ehlo("stranger.example.net"), "250", "EHLO")
    reply_is(c.cmd("MAIL FROM:<someone@%s>" % REMOTE), "250", "MAIL")
    relay = "victim@elsewhere.example.com"
    reply_is(c.cmd("RCPT TO:<%s>" % relay), "250", "RCPT (monitor mode lets it pass)")
    reply_is(c.cmd("RSET"), "250", "RSET")
    s = ctx.session(c)
    ev = s.one_rcpt(relay)
    eq(ev.get("verdict"), "would_reject", "rcpt verdict in monitor mode")
    contains(ev.get("reason"), "not authenticated", "rcpt reason")


@scenario("sessguard_stopped_mta_defers", deployments=ALL, phase="stopped")
def stopped(ctx):
    """No milter listening: milter_default_action = tempfail must defer, never relay.
    No policy server: Postfix's smtpd_policy_service_default_action (451 4.3.5)
    defers every recipient, authenticated or not."""
    login, pw = ctx.user(0)
    for authed in (False, True):
        c = ctx.client()
        replies = []
        replies.append(c.ehlo("anyone.example.net"))
        if authed:
            replies.append(c.auth_plain(login, pw))
        replies.append(c.cmd("MAIL FROM:<x@%s>" % ctx.local_domain))
        rr = c.cmd("RCPT TO:<nobody@%s>" % REMOTE)
        replies.append(rr)
        dr = c.cmd("DATA")
        c.quit()
        check(any(400 <= code < 500 for code, _ in replies),
              "%s: no 4xx defer while sessguard is down: %s"
              % ("authenticated" if authed else "unauthenticated", c.text()))
        check(not 200 <= rr[0] < 300, "RCPT accepted while sessguard is down: " + c.text())
        if ctx.via == "policy":
            # the policy check runs at RCPT, before permit_sasl_authenticated
            reply_is(replies[-2], "250", "MAIL while sessguard is down (policy)")
            reply_is(rr, "451 4.3.5", "RCPT while sessguard is down (policy)")
        elif ctx.mta.name == "postfix":
            # milter_default_action = tempfail: Postfix answers MAIL with 451 4.7.1
            reply_is(replies[-2], "451 4.7.1", "MAIL while sessguard is down")
        check(dr[0] != 354, "DATA accepted while sessguard is down: " + c.text())
    if ctx.via == "policy":
        log = ctx.mta.maillog_text()
        check(re.search(r"postfix/policy/smtpd\[\d+\]: warning: problem talking to "
                        r"server \S*policy\.sock", log),
              "Postfix maillog shows no failed policy server")
    elif ctx.mta.name == "postfix":
        log = ctx.mta.maillog_text()
        check("milter-reject" in log and "4.7.1" in log,
              "Postfix maillog shows no milter tempfail")


@scenario("parallel_sessions_mixed_auth", deployments=("front_end", "policy"),
          needs=("auth_plain", "auth_login"))
def parallel(ctx):
    # the policy front end: 80 smtpd processes, each with its policy connection
    n = 80 if ctx.via == "policy" else 50
    start = threading.Barrier(n, timeout=20)

    def one(i):
        authed = i % 2 == 0
        login, pw = ctx.user(i // 2)
        # Postfix: several loopback source addresses (all in the front end's
        # mynetworks); other MTAs may only relay for 127.0.0.1 itself.
        src = "127.0.0.%d" % (1 + i % 3) if ctx.mta.name == "postfix" else "127.0.0.1"
        c = ctx.client(source_addr=src)
        try:
            start.wait()
        except threading.BrokenBarrierError:
            pass
        reply_is(c.ehlo("p%02d.example.net" % i), "250", "EHLO")
        if authed:
            if i % 4 == 0:
                reply_is(c.auth_plain(login, pw), "235", "AUTH PLAIN")
            else:
                reply_is(c.auth_login(login, pw), "235", "AUTH LOGIN")
        relay1 = "r1-%02d@%s" % (i, REMOTE)
        relay2 = "r2-%02d@%s" % (i, REMOTE)
        local = "postmaster@" + ctx.local_domain
        reply_is(c.cmd("MAIL FROM:<p%02d@%s>" % (i, ctx.local_domain)), "250", "MAIL")
        r1 = c.cmd("RCPT TO:<%s>" % relay1)
        rl = c.cmd("RCPT TO:<%s>" % local)
        reply_is(c.cmd("RSET"), "250", "RSET")
        reply_is(c.cmd("MAIL FROM:<p%02d@%s>" % (i, ctx.local_domain)), "250", "MAIL 2")
        r2 = c.cmd("RCPT TO:<%s>" % relay2)
        c.quit()
        s = ctx.sessguard.session_of(c.local_port, client_addr=src, timeout=30, via=ctx.via)
        s.sanity()
        expect_local(s, local, rl)
        if authed:
            reply_is(r1, "250", "RCPT relay 1 (authenticated)")
            reply_is(r2, "250", "RCPT relay 2 (authenticated)")
            expect_accepted_relay(ctx, s, relay1, login)
            expect_accepted_relay(ctx, s, relay2, login)
        else:
            expect_refused_relay(ctx, s, relay1, r1)
            expect_refused_relay(ctx, s, relay2, r2)
            for ev in s.events("rcpt"):
                eq(ev.get("auth"), None, "rcpt auth in an unauthenticated session")
        return s.sid

    errors = []
    sids = []
    idle = ctx.sessguard.settings.get("policy_session_idle")
    if ctx.via == "policy":
        # 80 sessions on 2 cores: a pause inside one SMTP session may outlast
        # the short idle of these tests and split it in two (SPEC 7)
        ctx.sessguard.reload(policy_session_idle="10")
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
            futs = {ex.submit(one, i): i for i in range(n)}
            for f in concurrent.futures.as_completed(futs):
                try:
                    sids.append(f.result())
                except Exception as e:  # noqa: BLE001 - collect every session's failure
                    errors.append("session %d: %s: %s" % (futs[f], type(e).__name__, e))
    finally:
        if ctx.via == "policy":
            ctx.sessguard.reload(policy_session_idle=idle)
    if errors:
        errors.sort()
        raise ScenarioFailure("%d of %d sessions failed; first: %s"
                              % (len(errors), n, " || ".join(errors[:3])))
    eq(len(set(sids)), n, "distinct session ids")


@scenario("sessguard_killed_mid_session_mta_defers", deployments=ALL, phase="killed")
def killed(ctx):
    """sessguard dies (SIGKILL) while a session is open: the MTA must defer the
    rest of that session (milter_default_action = tempfail), never relay."""
    login, pw = ctx.user(2)
    a = ctx.client()
    u = ctx.client()
    reply_is(a.ehlo("authed.example.net"), "250", "EHLO")
    reply_is(a.auth_plain(login, pw), "235", "AUTH PLAIN")
    reply_is(u.ehlo("stranger.example.net"), "250", "EHLO")
    ctx.sessguard.proc.send_signal(signal.SIGKILL)
    ctx.sessguard.proc.wait(5)
    for c in (a, u):
        m = c.cmd("MAIL FROM:<x@%s>" % ctx.local_domain)
        r = c.cmd("RCPT TO:<nobody@%s>" % REMOTE)
        d = c.cmd("DATA")
        c.quit()
        # MAIL has no reply (SMFIP_NR_MAIL): the MTA notices the dead filter
        # at RCPT at the latest; a recipient it refuses itself (relay of an
        # unauthenticated client, second line) may get its own 5xx first
        check(400 <= m[0] < 500 or 400 <= r[0] < 500
              or (c is u and 500 <= r[0] < 600),
              "no refusal after sessguard died: " + c.text())
        check(not 200 <= r[0] < 300, "RCPT accepted after sessguard died: " + c.text())
        check(d[0] != 354, "DATA accepted after sessguard died: " + c.text())
    # restarted over the stale socket the killed one left: it serves again
    sg = ctx.sessguard
    check(os.path.exists(sg.socket_path), "no socket file left after SIGKILL")
    sg.stop()
    before = sg.stderr_text().count("listening on")
    removed = sg.stderr_text().count("removed stale socket")
    sg.start(keep_socket=True)
    deadline = time.monotonic() + 10
    while sg.stderr_text().count("listening on") == before and time.monotonic() < deadline:
        time.sleep(0.05)     # the old socket file is there: wait for the new one
    check(sg.stderr_text().count("removed stale socket") > removed,
          "the restart did not handle the stale socket: " + sg.stderr_text()[-300:])
    c = ctx.client()
    reply_is(c.ehlo("again.example.net"), "250", "EHLO after restart")
    reply_is(c.cmd("MAIL FROM:<x@%s>" % REMOTE), "250", "MAIL after restart")
    local = "postmaster@" + ctx.local_domain
    reply_is(c.cmd("RCPT TO:<%s>" % local), "250", "RCPT after restart")
    c.quit()


@scenario("auth_survives_second_ehlo", deployments=ALL, needs=("auth_plain",))
def second_ehlo(ctx):
    """S2/S4: a second EHLO mid-transaction aborts the transaction, not the login."""
    login, pw = ctx.user(3)
    sender = "%s@%s" % (login, ctx.local_domain)
    c = ctx.client()
    reply_is(c.ehlo("first.example.net"), "250", "EHLO")
    reply_is(c.auth_plain(login, pw), "235", "AUTH PLAIN")
    reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL 1")
    r1 = "ehlo-1@" + REMOTE
    reply_is(c.cmd("RCPT TO:<%s>" % r1), "250", "RCPT 1")
    reply_is(c.ehlo("second.example.net"), "250", "second EHLO")
    reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL 2")
    r2 = "ehlo-2@" + REMOTE
    reply_is(c.cmd("RCPT TO:<%s>" % r2), "250", "RCPT 2 after the second EHLO")
    s = ctx.session(c)
    e1 = expect_accepted_relay(ctx, s, r1, login)
    e2 = expect_accepted_relay(ctx, s, r2, login)
    check(e2["txn"] > e1["txn"], "txn after the second EHLO %s, before %s"
          % (e2["txn"], e1["txn"]))
    eq(e2["auth"]["since_seq"], e1["auth"]["since_seq"],
       "auth since_seq (the login dates from before the second EHLO)")
    helos = s.events("helo")
    eq([h.get("helo") for h in helos], ["first.example.net", "second.example.net"], "helo names")
    if ctx.via == "policy":
        # no policy request at EHLO: the transaction ends unseen, no abort
        eq(s.events("abort"), [], "abort events of a policy session")
        check(e1["seq"] < helos[1]["seq"] < e2["seq"], "second helo not between the "
              "rcpts: %s" % s.brief())
        return
    aborts = [a for a in s.events("abort") if a.get("txn") == e1["txn"]]
    check(aborts and aborts[0]["seq"] < helos[1]["seq"],
          "no abort of txn %s before the second helo: %s" % (e1["txn"], s.brief()))


TRUSTED_ADDR = "127.0.0.9"   # run_e2e.py puts 127.0.0.9/32 in trusted_networks


@scenario("trusted_network_client_relays_without_auth", deployments=("front_end", "policy"))
def trusted(ctx):
    c = ctx.client(source_addr=TRUSTED_ADDR)
    reply_is(c.ehlo("webmail.example.org"), "250", "EHLO")
    reply_is(c.cmd("MAIL FROM:<web@%s>" % ctx.local_domain), "250", "MAIL")
    relay = "friend@" + REMOTE
    reply_is(c.cmd("RCPT TO:<%s>" % relay), "250", "RCPT from a trusted address")
    s = ctx.session(c)
    eq(s.lines[0].get("client_addr"), TRUSTED_ADDR, "connect client_addr")
    ev = s.one_rcpt(relay)
    eq((ev.get("relay"), ev.get("verdict")), (True, "accept"), "rcpt (relay, verdict)")
    contains(ev.get("reason"), "trusted_networks", "rcpt reason")
    eq(ev.get("auth"), None, "rcpt auth")


def delivered_message(mta, msgid, timeout=15.0):
    """The dump of the message with that Message-ID from the smtp-sink."""
    deadline = time.monotonic() + timeout
    while True:
        for name in sorted(os.listdir(mta.sink_dir)):
            with open(os.path.join(mta.sink_dir, name), "rb") as f:
                text = f.read().decode("latin-1")
            if msgid in text:
                return text
        if time.monotonic() > deadline:
            raise ScenarioFailure("message %s not found in the smtp-sink dumps" % msgid)
        time.sleep(0.1)


def header_values(text, name):
    """Values of the headers called name (unfolded), in order."""
    head = text.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
    out, cur = [], None
    for line in head.replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and cur is not None:
            out[-1] += " " + line.strip()
            continue
        cur = None
        if ":" in line and line.split(":", 1)[0].strip().lower() == name.lower():
            cur = name
            out.append(line.split(":", 1)[1].strip())
    return out


@scenario("auth_results_header_delivered", deployments=("front_end",),
          needs=("auth_plain",))
def auth_results(ctx):
    """auth_results = yes, end to end: the delivered message carries our
    Authentication-Results with the SASL login, and a forged one claiming
    our authserv-id is gone; an unauthenticated message gets none."""
    if not hasattr(ctx.mta, "sink_dir"):
        return      # only the Postfix harness delivers to a dumping sink
    login, pw = ctx.user(0)
    sender = "%s@%s" % (login, ctx.local_domain)
    c = ctx.client()
    reply_is(c.ehlo("laptop.example.net"), "250", "EHLO")
    reply_is(c.auth_plain(login, pw), "235", "AUTH PLAIN")
    reply_is(c.cmd("MAIL FROM:<%s>" % sender), "250", "MAIL")
    rcpt = "ar@" + REMOTE
    reply_is(c.cmd("RCPT TO:<%s>" % rcpt), "250", "RCPT")
    msgid = "<ar.%d.%d@client.example.net>" % (os.getpid(), int(time.time() * 1e6))
    body = ("Authentication-Results: %s; auth=pass smtp.auth=mallory\r\n"
            "Authentication-Results: other.example.net; spf=pass\r\n"
            "From: <%s>\r\nTo: <%s>\r\nSubject: A-R\r\nMessage-ID: %s\r\n\r\nhi\r\n"
            % (AUTHSERV_ID, sender, rcpt, msgid))
    reply_is(c.data(body), "250", "end of DATA")
    text = delivered_message(ctx.mta, msgid)
    ars = header_values(text, "Authentication-Results")
    ours = [v for v in ars if v.lower().startswith(AUTHSERV_ID)]
    eq(len(ours), 1, "Authentication-Results with our authserv-id in %r" % ars)
    contains(ours[0], "auth=pass", "our Authentication-Results")
    check(re.search(r"smtp\.auth=%s(@%s)?$" % (re.escape(login),
                                                 re.escape(ctx.local_domain)),
                    ours[0]), "smtp.auth of %r is not the login %s" % (ours[0], login))
    check(not any("mallory" in v for v in ars), "the forged header survived: %r" % ars)
    check(any(v.startswith("other.example.net") for v in ars),
          "another server's Authentication-Results was removed: %r" % ars)
    # an unauthenticated sender to a local recipient: no header of ours
    c2 = ctx.client()
    reply_is(c2.ehlo("stranger.example.net"), "250", "EHLO")
    reply_is(c2.cmd("MAIL FROM:<someone@%s>" % REMOTE), "250", "MAIL")
    local = "postmaster@" + ctx.local_domain
    reply_is(c2.cmd("RCPT TO:<%s>" % local), "250", "RCPT local")
    msgid2 = "<ar2.%d.%d@client.example.net>" % (os.getpid(), int(time.time() * 1e6))
    reply_is(c2.data("From: <someone@%s>\r\nTo: <%s>\r\nMessage-ID: %s\r\n\r\nhi\r\n"
                     % (REMOTE, local, msgid2)), "250", "end of DATA 2")
    text2 = delivered_message(ctx.mta, msgid2)
    eq([v for v in header_values(text2, "Authentication-Results")
        if v.lower().startswith(AUTHSERV_ID)], [],
       "our Authentication-Results on an unauthenticated message")


def queued_message(mta, msgid, timeout=15.0):
    """The headers of the queued message with that Message-ID, from
    Sendmail's qf file (queueonly: what Sendmail would deliver), as
    'Name: value' lines."""
    deadline = time.monotonic() + timeout
    while True:
        for name in sorted(os.listdir(mta.queue_dir)):
            if not name.startswith("qf"):
                continue
            try:
                with open(os.path.join(mta.queue_dir, name), "rb") as f:
                    qf = f.read().decode("latin-1")
            except OSError:
                continue
            if msgid not in qf:
                continue
            out, in_header = [], False
            for line in qf.split("\n"):
                if line.startswith("H"):
                    h = line[1:]
                    if h.startswith("?"):           # H?flags?Name: value
                        h = h.split("?", 2)[2]
                    out.append(h)
                    in_header = True
                elif line[:1] in (" ", "\t") and in_header:
                    out.append(line)
                else:
                    in_header = False
            return "\n".join(out) + "\n\n"
        if time.monotonic() > deadline:
            raise ScenarioFailure("message %s not found in the Sendmail queue" % msgid)
        time.sleep(0.1)


@scenario("auth_results_forged_forms_removed", deployments=("front_end",))
def auth_results_forged(ctx):
    """auth_results = yes (issue 10 item 1): an unauthenticated client sends
    Authentication-Results claiming our authserv-id folded before ';', with
    the id as a quoted-string, behind comments, with a version, bare: 26
    of them (more than the old cap of 16). None reaches the message the MTA
    delivers (Postfix: the smtp-sink dump; Sendmail: the queued qf file);
    another server's header stays."""
    if hasattr(ctx.mta, "sink_dir"):
        fetch = delivered_message
    elif hasattr(ctx.mta, "queue_dir"):
        fetch = queued_message
    else:
        return
    folded = "%s\r\n ; auth=pass smtp.auth=ceo@example.org"
    quoted = "\"%s\"; auth=pass smtp.auth=ceo@example.org"
    forms = [
        "%s; auth=pass smtp.auth=ceo@example.org",
        "(forged (nested)) %s 1; auth=pass smtp.auth=ceo",      # comment, version
        "%s",                                                    # no ';' at all
    ]
    ids = [AUTHSERV_ID, AUTHSERV_ID.upper()]
    # twenty claims of forms a naive reader sees (more than the old cap of
    # 16), then three folded and three quoted: 26 claims
    heads = []
    for i in range(20):
        heads.append("Authentication-Results: " + forms[i % len(forms)] % ids[i % 2])
        if i == 10:
            heads.append("Authentication-Results: other.example.net; spf=pass")
    for i in range(3):
        heads.append("Authentication-Results: " + folded % ids[i % 2])
        heads.append("Authentication-Results: " + quoted % ids[i % 2])
    c = ctx.client()
    reply_is(c.ehlo("stranger.example.net"), "250", "EHLO")
    reply_is(c.cmd("MAIL FROM:<someone@%s>" % REMOTE), "250", "MAIL")
    local = "postmaster@" + ctx.local_domain
    reply_is(c.cmd("RCPT TO:<%s>" % local), "250", "RCPT local")
    msgid = "<arf.%d.%d@client.example.net>" % (os.getpid(), int(time.time() * 1e6))
    reply_is(c.data("\r\n".join(heads) + "\r\nFrom: <someone@%s>\r\nTo: <%s>\r\n"
                    "Subject: forged A-R\r\nMessage-ID: %s\r\n\r\nhi\r\n"
                    % (REMOTE, local, msgid)), "250", "end of DATA")
    text = fetch(ctx.mta, msgid)
    ars = header_values(text, "Authentication-Results")
    forged = [v for v in ars if AUTHSERV_ID in v.lower()]
    eq(forged, [], "forged Authentication-Results in the delivered message")
    eq(ars, ["other.example.net; spf=pass"], "Authentication-Results left")
    s = ctx.session(c)
    eoms = s.events("eom")
    check(eoms and eoms[-1].get("ar_deleted") == 26,
          "eom does not say 26 deleted: %s" % s.brief())


@scenario("milter_and_policy_same_session_agree", deployments=("both",),
          needs=("auth_plain",))
def both_front_ends(ctx):
    """Both front ends in one daemon on one listener (SPEC section 7): each SMTP
    session is logged twice, once "via":"milter" and once "via":"policy", and
    the two agree on every recipient.  The policy check runs first, so a
    recipient it refuses reaches the milter as one the MTA rejected."""
    login, pw = ctx.user(4)
    a = ctx.client()
    reply_is(a.ehlo("laptop.example.net"), "250", "EHLO")
    reply_is(a.auth_plain(login, pw), "235", "AUTH PLAIN")
    reply_is(a.cmd("MAIL FROM:<%s@%s>" % (login, ctx.local_domain)), "250", "MAIL")
    ok = "both-ok@" + REMOTE
    reply_is(a.cmd("RCPT TO:<%s>" % ok), "250", "RCPT (authenticated relay)")
    u = ctx.client()
    reply_is(u.ehlo("stranger.example.net"), "250", "EHLO")
    reply_is(u.cmd("MAIL FROM:<someone@%s>" % REMOTE), "250", "MAIL")
    bad = "both-victim@" + REMOTE
    rb = u.cmd("RCPT TO:<%s>" % bad)
    reply_is(rb, "554 5.7.1", "RCPT (unauthenticated relay)")
    local = "postmaster@" + ctx.local_domain
    reply_is(u.cmd("RCPT TO:<%s>" % local), "250", "RCPT local")
    for c, rcpts in ((a, {ok: "accept"}), (u, {bad: "reject", local: "accept"})):
        c.quit()
        m = ctx.sessguard.session_of(c.local_port, via="milter", timeout=15)
        p = ctx.sessguard.session_of(c.local_port, via="policy", timeout=15)
        m.sanity()
        p.sanity()
        check(m.sid != p.sid, "one session id for both front ends: %s" % m.sid)
        eq(m.lines[0].get("daemon"), "both", "milter connect daemon")
        eq(p.lines[0].get("daemon"), None, "policy connect daemon")
        for sess in (m, p):
            eq(sess.lines[0].get("client_addr"), c.local_addr,
               "connect client_addr (%s)" % sess.lines[0].get("via"))
        for rcpt, want in rcpts.items():
            pv = p.one_rcpt(rcpt).get("verdict")
            mv = m.one_rcpt(rcpt).get("verdict")
            eq(pv, want, "policy verdict for %s" % rcpt)
            # the milter decides alone what the policy let through, and
            # sees the policy's refusal as the MTA's
            eq(mv, want if want == "accept" else "mta_rejected",
               "milter verdict for %s (policy: %s)" % (rcpt, pv))
            eq(p.one_rcpt(rcpt).get("relay"), m.one_rcpt(rcpt).get("relay"),
               "relay flag of %s, policy vs milter" % rcpt)
        pa, ma = p.one_rcpt(list(rcpts)[0]).get("auth"), m.one_rcpt(list(rcpts)[0]).get("auth")
        eq(pa is None, ma is None, "auth of the first rcpt, policy %r vs milter %r" % (pa, ma))
        if pa:
            check(same_user(pa.get("user"), login) and same_user(ma.get("user"), login),
                  "auth.user policy %r, milter %r" % (pa.get("user"), ma.get("user")))


@scenario("policy_dunno_lets_later_restrictions_run", deployments=("policy", "both"))
def policy_dunno(ctx):
    """A permitted recipient gets DUNNO, never OK (SPEC section 7): Postfix's
    own check after sessguard's (check_recipient_access blocked@, see
    postfix_mta.py) still refuses it, in the recipient restrictions (policy)
    and in the relay restrictions (both)."""
    c = ctx.client()
    reply_is(c.ehlo("stranger.example.net"), "250", "EHLO")
    reply_is(c.cmd("MAIL FROM:<someone@%s>" % REMOTE), "250", "MAIL")
    blocked = "blocked@" + ctx.local_domain
    line = reply_is(c.cmd("RCPT TO:<%s>" % blocked), "554 5.7.1",
                    "RCPT of a recipient Postfix refuses after sessguard")
    contains(line, "Access denied", "RCPT TO:<%s> reply (check_recipient_access)" % blocked)
    local = "postmaster@" + ctx.local_domain
    reply_is(c.cmd("RCPT TO:<%s>" % local), "250", "RCPT local")
    c.quit()
    s = ctx.sessguard.session_of(c.local_port, via="policy", timeout=15)
    s.sanity()
    ev = s.one_rcpt(blocked)
    eq((ev.get("relay"), ev.get("verdict")), (False, "accept"),
       "policy rcpt %s (relay, verdict): sessguard permitted it" % blocked)
    expect_local(s, local, (250, b""))
