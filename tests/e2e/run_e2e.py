#!/usr/bin/python3
"""sessguard end-to-end tests against real MTAs (a private Postfix instance, and
Sendmail when tests/e2e/sendmail_mta.py is present and usable).

Usage (from the build directory = repository root, as root):
    python3 tests/e2e/run_e2e.py [SUBSTRING ...]
Environment:
    SESSGUARD   path of the daemon (default src/sessguard)
    E2E_MTA     comma list of MTAs to run (default: all available: postfix,sendmail)
    E2E_KEEP=1  keep the temporary directory (it is always kept when something failed)
    E2E_VERBOSE=1  print the SMTP transcripts and log lines of failed scenarios
Prints PASS/FAIL per scenario and ends with 'N passed, N failed'.  Exit 0 when
nothing failed, 1 otherwise, 77 when it cannot run here (not root).
"""

import importlib
import os
import subprocess
import shutil
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from e2e_common import SCENARIOS, Context, ScenarioFailure, Sessguard  # noqa: E402
import scenarios  # noqa: E402  (importing it registers the scenarios)
import probe_scenarios  # noqa: E402,F401  (sessguard-probe against the MTAs)
import limit_scenarios  # noqa: E402  (SPEC section 8: limits, Redis, both MTAs)

USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret",
         "dave": "dave-secret", "erin": "erin-secret", "frank": "frank-secret"}

PHASES = ("enforce", "monitor", "killed", "stopped")
DEFAULT_FEATURES = frozenset({"front_end", "auth_plain", "auth_login"})
# For MTA classes that do not say themselves (no 'features' attribute).
KNOWN_FEATURES = {
    "sendmail": frozenset({"front_end", "second_line", "auth_plain", "auth_login",
                           "starttls"}),
}
# Behaviour found in trial runs, added to whatever the MTA class says.
MTA_FACTS = {
    # Sendmail 8.17 keeps the SASL login across STARTTLS ("503 5.5.0 Already
    # Authenticated" to a second AUTH) and sends {auth_authen} again after TLS.
    "sendmail": frozenset({"keeps_auth_across_starttls"}),
}


class Results:
    def __init__(self, verbose):
        self.passed = 0
        self.failed = 0
        self.failures = []
        self.verbose = verbose

    def ok(self, name, note=""):
        self.passed += 1
        print("PASS %s%s" % (name, (" (" + note + ")") if note else ""), flush=True)

    def fail(self, name, why, detail=""):
        self.failed += 1
        why = " ".join(str(why).split())
        self.failures.append(name)
        print("FAIL %s: %s" % (name, why), flush=True)
        if self.verbose and detail:
            for line in detail.splitlines():
                print("    " + line, flush=True)


def mta_classes(wanted):
    out = []
    if "postfix" in wanted:
        import postfix_mta
        ok, why = postfix_mta.available()
        out.append(("postfix", postfix_mta.PostfixMTA, ok, why))
    if "sendmail" in wanted:
        if os.path.exists(os.path.join(HERE, "sendmail_mta.py")):
            try:
                mod = importlib.import_module("sendmail_mta")
                cls = getattr(mod, "SendmailMTA")
                ok, why = availability(mod, cls)
                out.append(("sendmail", cls, ok, why))
            except Exception as e:  # noqa: BLE001
                out.append(("sendmail", None, False, "cannot use sendmail_mta: %s" % e))
        else:
            out.append(("sendmail", None, False, "tests/e2e/sendmail_mta.py not present"))
    return out


def availability(mod, cls):
    """(ok, why) from whatever the MTA module offers."""
    reason = getattr(cls, "unavailable_reason", None)
    if callable(reason):
        why = reason()
        return (why is None), (why or "")
    avail = getattr(cls, "available", None) or getattr(mod, "available", None)
    if callable(avail):
        r = avail()
        if isinstance(r, tuple):
            return bool(r[0]), (r[1] if len(r) > 1 else "")
        return bool(r), ("" if r else "not available here")
    return True, ""


def make_mta(cls, workdir, sock, policy_sock=None):
    if policy_sock and cls.__name__ == "PostfixMTA":
        return cls(workdir, sock, users=USERS, policy_socket=policy_sock)
    try:
        return cls(workdir, sock, users=USERS)
    except TypeError:
        return cls(workdir, sock)


def deployments_of(mta):
    """[(deployment, port)]: one listener per deployment; an MTA with a single port
    (Sendmail relays for localhost clients) only has the front-end one."""
    sl, fe = getattr(mta, "port_second_line", None), getattr(mta, "port_front_end", None)
    deps = []
    if sl and sl != fe:
        deps.append(("second_line", sl))
    if fe:
        deps.append(("front_end", fe))
    for dep in ("policy", "both"):     # sessguard's policy front end (Postfix)
        port = getattr(mta, "port_" + dep, None)
        if port:
            deps.append((dep, port))
    return deps


def run_mta(name, cls, binary, base, selectors, res):
    workdir = os.path.join(base, name)
    os.makedirs(workdir)
    os.chmod(workdir, 0o755)
    sgdir = os.path.join(workdir, "sg")
    sock = os.path.join(sgdir, "sessguard.sock")
    # below Postfix's queue_directory, named relative to it in main.cf
    # (check_policy_service unix:sessguard/policy.sock), as with a chroot
    psock = os.path.join(workdir, "mta", "queue", "sessguard", "policy.sock")
    os.makedirs(sgdir)
    os.chmod(sgdir, 0o755)
    mta = make_mta(cls, os.path.join(workdir, "mta"), "unix:" + sock, "unix:" + psock)
    t0 = time.monotonic()
    try:
        try:
            mta.start()
        except Exception as e:  # noqa: BLE001
            res.fail("%s/setup" % name, "MTA did not start: %s" % e, traceback.format_exc())
            return
        users = dict(getattr(mta, "users", None) or USERS)
        feats = frozenset(getattr(mta, "features", None) or
                          KNOWN_FEATURES.get(name, DEFAULT_FEATURES))
        feats |= MTA_FACTS.get(name, frozenset())
        deps = deployments_of(mta)
        print("# %s up in %.1fs: %s" % (name, time.monotonic() - t0,
              ", ".join("%s port %d" % d for d in deps)), flush=True)
        for phase in PHASES:
            todo = []
            for sc in SCENARIOS:
                if sc.phase != phase or not sc.needs <= feats | {"second_line", "front_end"}:
                    continue
                for dep, port in deps:
                    if dep not in sc.deployments:
                        continue
                    full = "%s/%s/%s" % (name, dep.replace("_", "-"), sc.name)
                    if selectors and not any(s in full for s in selectors):
                        continue
                    todo.append((full, sc, dep, port))
            if not todo:
                continue
            mode = "monitor" if phase == "monitor" else "enforce"
            sg = Sessguard(binary, os.path.join(sgdir, phase), mode=mode,
                           local_domains=getattr(mta, "local_domain", "example.org"),
                           trusted_networks="192.0.2.1/32, " + scenarios.TRUSTED_ADDR + "/32",
                           socket_path=sock,
                           policy_path=psock if getattr(mta, "port_policy", None) else None,
                           extra={"auth_results": "yes",
                                  "authserv_id": scenarios.AUTHSERV_ID})
            if phase != "stopped":
                try:
                    sg.start()
                except Exception as e:  # noqa: BLE001
                    for full, _, _, _ in todo:
                        res.fail(full, "sessguard did not start: %s" % e)
                    continue
            try:
                for full, sc, dep, port in todo:
                    if phase == "killed" and not sg.running():
                        sg.stop()
                        try:
                            sg.start()
                        except Exception as e:  # noqa: BLE001
                            res.fail(full, "sessguard did not restart: %s" % e)
                            continue
                    run_one(full, sc, mta, dep, port, sg, users, feats, res)
                    if phase in ("enforce", "monitor") and not sg.running():
                        res.fail("%s/%s/sessguard_alive" % (name, phase),
                                 "sessguard died during %s: rc=%s stderr: %s"
                                 % (full, sg.proc and sg.proc.returncode,
                                    sg.stderr_text()[-600:]))
                        sg.stop()
                        try:
                            sg.start()
                        except Exception as e:  # noqa: BLE001
                            res.fail("%s/%s/sessguard_restart" % (name, phase), str(e))
                            break
            finally:
                if phase == "killed":
                    sg.stop()
                elif phase != "stopped":
                    t = time.monotonic()
                    rc = sg.stop()
                    label = "%s/%s/sessguard_sigterm_exit_0" % (name, phase)
                    if rc == 0:
                        res.ok(label, "%.1fs" % (time.monotonic() - t))
                    else:
                        res.fail(label, "exit status after SIGTERM: %r; stderr: %s"
                                 % (rc, sg.stderr_text()[-600:]))
                    check_log(name, phase, sg, res)
    finally:
        mta.stop()


def check_log(name, phase, sg, res):
    label = "%s/%s/log_wellformed" % (name, phase)
    try:
        lines = sg.log()
        by = {}
        for o in lines:
            by.setdefault(o["session"], []).append(o)
        for sid, ls in by.items():
            seqs = [o["seq"] for o in ls]
            if sorted(seqs) != seqs or len(set(seqs)) != len(seqs):
                raise ScenarioFailure("session %s: seq not strictly increasing in file "
                                      "order: %s" % (sid, seqs))
        if not lines:
            raise ScenarioFailure("log %s is empty" % sg.log_path)
        res.ok(label, "%d lines, %d sessions" % (len(lines), len(by)))
    except Exception as e:  # noqa: BLE001
        res.fail(label, str(e))
        return
    check_transcripts(name, phase, sg, by, res)


def check_transcripts(name, phase, sg, by, res):
    """sessguard-trace tells every session of the scenario log: one
    transcript a session, with its commands and verdicts, no line skipped."""
    label = "%s/%s/trace_transcripts" % (name, phase)
    trace = os.environ.get("SESSGUARD_TRACE") or os.path.join(
        os.path.dirname(os.path.abspath(sg.binary)), "trace", "sessguard-trace")
    try:
        p = subprocess.run([trace, sg.log_path], capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0 or p.stderr.strip():
            raise ScenarioFailure("sessguard-trace exit %d: %s"
                                  % (p.returncode, p.stderr[-300:]))
        heads = [l.split()[1] for l in p.stdout.splitlines()
                 if l.startswith("session ")]
        if sorted(heads) != sorted(by):
            raise ScenarioFailure("transcripts for %d sessions, the log has %d"
                                  % (len(heads), len(by)))
        for want in ("C: MAIL FROM:", "C: RCPT TO:", "S: ", "summary:"):
            if want not in p.stdout:
                raise ScenarioFailure("no '%s' in the transcripts" % want)
        res.ok(label, "%d transcripts" % len(heads))
    except Exception as e:  # noqa: BLE001
        res.fail(label, str(e))


def run_one(full, sc, mta, dep, port, sg, users, feats, res):
    ctx = Context(mta, dep, port, sg, users, feats)
    t = time.monotonic()
    try:
        sc.func(ctx)
    except ScenarioFailure as e:
        res.fail(full, e, detail_of(ctx))
    except Exception as e:  # noqa: BLE001
        res.fail(full, "%s: %s" % (type(e).__name__, e), traceback.format_exc() + detail_of(ctx))
    else:
        res.ok(full, "%.1fs" % (time.monotonic() - t))
    finally:
        ctx.close_all()


def detail_of(ctx):
    out = []
    for c in ctx.clients[:3]:
        out.append("client %s:%s: %s" % (c.local_addr, c.local_port, c.text()))
        try:
            s = ctx.sessguard.session_of(c.local_port, timeout=0.5, need_close=False)
            out.append("log: " + s.brief(6000))
        except Exception as e:  # noqa: BLE001
            out.append("log: %s" % e)
    return "\n".join(out)


def main():
    selectors = [a for a in sys.argv[1:] if not a.startswith("-")]
    if os.geteuid() != 0:
        print("*" * 72)
        print("SKIP: sessguard end-to-end tests need root (they run private Postfix/")
        print("SKIP: Sendmail instances); run them as root: sudo tests/e2e/run_e2e.py")
        print("*" * 72)
        return 77
    binary = os.environ.get("SESSGUARD", "src/sessguard")
    verbose = os.environ.get("E2E_VERBOSE", "") not in ("", "0")
    res = Results(verbose)
    started = time.monotonic()
    if not os.access(binary, os.X_OK):
        res.fail("setup", "sessguard binary %r not found or not executable (set SESSGUARD)"
                 % binary)
        print("%d passed, %d failed" % (res.passed, res.failed))
        return 1
    wanted = [m.strip() for m in os.environ.get("E2E_MTA", "postfix,sendmail").split(",")
              if m.strip()]
    base = tempfile.mkdtemp(prefix="sg-e2e-")
    os.chmod(base, 0o755)
    ran_any = False
    try:
        classes = mta_classes(wanted)
        for name, cls, ok, why in classes:
            if not ok:
                # As root every wanted MTA must run: a missing one is a
                # failure, not a silent skip (choose MTAs with E2E_MTA).
                res.fail("setup-%s" % name, "cannot run here: %s" % why)
                continue
            ran_any = True
            run_mta(name, cls, binary, base, selectors, res)
        if ran_any:
            limit_scenarios.run_limits(binary, base, selectors, res, classes, make_mta,
                                       USERS)
    finally:
        keep = res.failed or os.environ.get("E2E_KEEP", "") not in ("", "0")
        if keep:
            print("# work directory kept: %s" % base)
        else:
            shutil.rmtree(base, ignore_errors=True)
    if not ran_any:
        res.fail("setup", "no MTA available (run tests/e2e/install-deps.sh)")
    print("# %.1fs" % (time.monotonic() - started))
    print("%d passed, %d failed" % (res.passed, res.failed))
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
