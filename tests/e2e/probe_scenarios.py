"""sessguard-probe (SPEC section 9) against the real MTAs of the e2e run:
every check passes, or is SKIP for a reason written down in EXPLAINED_SKIPS.
Registered by importing this module (run_e2e.py does)."""

import json
import os
import subprocess

from e2e_common import ScenarioFailure, check, eq, scenario
from scenarios import REMOTE

CHECKS = ("auth_survives_rset", "auth_survives_ehlo", "auth_survives_transactions",
          "auth_twice_refused", "auth_param_ignored", "open_relay", "starttls_injection",
          "tls_discards_state", "sequence", "unknown_command", "long_line")

# (MTA class name, check) -> (why the check cannot tell anything there, a
# phrase the probe's SKIP detail must contain).
NO_EHLO_NEEDED = ("it takes MAIL and AUTH without any EHLO, so there is no command that "
                  "EHLO unlocks and STARTTLS would have to lock again", "without any EHLO")
EXPLAINED_SKIPS = {
    # smtpd_helo_required = no, the default
    ("PostfixMTA", "tls_discards_state"): NO_EHLO_NEEDED,
    # no PrivacyOptions=needmailhelo, the default
    ("SendmailMTA", "tls_discards_state"): NO_EHLO_NEEDED,
}


def probe_binary(ctx):
    return os.environ.get("SESSGUARD_PROBE") or os.path.join(
        os.path.dirname(os.path.abspath(ctx.sessguard.binary)), "probe", "sessguard-probe")


def run_probe(ctx):
    """The probe with --starttls and a login, over the listener of ctx:
    (exit status, the JSON objects, stderr)."""
    login, password = ctx.user(0)
    argv = [probe_binary(ctx), "-p", str(ctx.port), "--starttls", "--user", login,
            "--password-file", "-", "--rcpt", "probe@" + REMOTE,
            "--sender", "%s@%s" % (login, ctx.local_domain), "--json", ctx.host]
    p = subprocess.run(argv, input=password + "\n", capture_output=True, text=True,
                       timeout=600, env=dict(os.environ, SESSGUARD_PROBE_TIMEOUT="20"))
    check(password not in p.stdout + p.stderr, "the password shows in the probe's output")
    try:
        results = [json.loads(line) for line in p.stdout.splitlines()]
    except ValueError as e:
        raise ScenarioFailure("probe output is not JSON lines (%s): %r" % (e, p.stdout[:500]))
    eq(tuple(r.get("check") for r in results), CHECKS, "checks reported")
    mta = type(ctx.mta).__name__
    for r in results:
        if r["detail"]:
            print("# %s %s %s: %s" % (mta, r["result"], r["check"], r["detail"]), flush=True)
    return p.returncode, results, p.stderr.strip()[-300:]


def judge(ctx, results, want_fail=()):
    mta = type(ctx.mta).__name__
    bad = []
    for r in results:
        if r["result"] == "FAIL" and r["check"] not in want_fail:
            bad.append("FAIL %s: %s | %s" % (r["check"], r["detail"],
                                              " | ".join(r.get("transcript", []))))
        elif r["result"] != "FAIL" and r["check"] in want_fail:
            bad.append("%s %s, want FAIL: %s" % (r["result"], r["check"], r["detail"]))
        elif r["result"] == "SKIP" and (
                (mta, r["check"]) not in EXPLAINED_SKIPS
                or EXPLAINED_SKIPS[mta, r["check"]][1] not in r["detail"]):
            bad.append("unexplained SKIP %s: %s" % (r["check"], r["detail"]))
        elif r["result"] not in ("PASS", "SKIP", "FAIL"):
            bad.append("result %r" % r)
    check(not bad, "; ".join(bad))


@scenario("probe_all_checks", needs=("starttls",))
def probe_all_checks(ctx):
    rc, results, stderr = run_probe(ctx)
    judge(ctx, results)
    eq(rc, 0, "probe exit status (stderr: %s)" % stderr)


@scenario("probe_finds_open_relay", deployments=("front_end",), phase="monitor",
          needs=("starttls",))
def probe_finds_open_relay(ctx):
    """On the front-end listener the MTA relays for loopback clients and
    leaves the decision to sessguard; in monitor mode sessguard refuses
    nothing, so this is an open relay, and the probe must say so (and
    nothing else)."""
    rc, results, stderr = run_probe(ctx)
    judge(ctx, results, want_fail=("open_relay",))
    eq(rc, 1, "probe exit status (stderr: %s)" % stderr)
