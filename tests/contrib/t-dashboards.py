#!/usr/bin/python3
"""contrib/grafana/sessguard.json and contrib/prometheus/sessguard.rules.yml
(issue 13 item 5) against what sessguard really exports.

The metric families, their labels and the label values are read from
src/metrics.c (the one place that renders them); every PromQL expression of
the dashboard and of the rules may use only those: a metric that does not
exist, a label the metric does not have, a value it never takes, a
template variable the dashboard does not define all fail.  The dashboard
must show sessions, verdicts, anomalies, limits hit and store health; the
rules must alert on a login over its limit, the store down and a jump in
relay refusals.  Both files are also checked for their structure (Grafana
dashboard model, Prometheus rule file).  When promtool is installed,
`promtool check rules` must accept the rules too, and `promtool test rules`
run tests/contrib/sessguard.rules.test.yml (each alert fires when it should,
not before).  Last, the checker must
refuse broken copies of both files (a renamed metric, a wrong label value).

Exit 0 when all is well, 1 otherwise, 77 without PyYAML (python3-yaml).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.abspath(os.environ.get("srcdir") or os.path.join(HERE, "..", ".."))
METRICS_C = os.path.join(SRCDIR, "src", "metrics.c")
DASHBOARD = os.path.join(SRCDIR, "contrib", "grafana", "sessguard.json")
RULES = os.path.join(SRCDIR, "contrib", "prometheus", "sessguard.rules.yml")

# Labels every scraped series has (Prometheus target labels).
TARGET_LABELS = {"instance", "job"}
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range", "__interval_ms",
                    "__range_s", "__range_ms"}
PANEL_TYPES = {"row", "timeseries", "stat", "bargauge", "gauge", "table", "text",
               "heatmap", "piechart", "state-timeline"}
PROMQL_WORDS = {"sum", "min", "max", "avg", "count", "by", "without", "rate", "irate",
                "increase", "delta", "changes", "offset", "and", "or", "unless",
                "sort_desc", "sort", "topk", "bottomk", "label_values", "on", "ignoring",
                "group_left", "group_right", "bool", "abs", "clamp_min", "clamp_max",
                "histogram_quantile", "time", "vector", "scalar", "absent"}


class Metrics:
    """Families, labels and label values that src/metrics.c renders."""

    def __init__(self, path):
        with open(path) as f:
            src = f.read()
        self.families = dict(re.findall(r'family\(sb,\s*"(sessguard_\w+)",\s*"(\w+)"', src))
        self.labels = {name: set() for name in self.families}
        for name, inner in re.findall(r'"(sessguard_\w+)\{([^}]*)\}', src):
            self.labels.setdefault(name, set()).update(re.findall(r'(\w+)=\\"', inner))
        self.values = {}

        def table(label, pattern, flags=0):
            found = re.findall(pattern, src, flags)
            if not found:
                raise SystemExit("FAIL: cannot find the %s values in %s (metrics.c changed? "
                                 "update %s)" % (label, path, __file__))
            self.values[label] = set(found)

        table("verdict", r'\{\s*M_RCPT_\w+,\s*"(\w+)"\s*\}')
        table("kind", r'\[ANOMALY_\w+\]\s*=\s*"(\w+)"')
        table("outcome", r'\[LIMIT_OUT_\w+\]\s*=\s*"(\w+)"')
        m = re.search(r'limit_names\[[^\]]*\]\s*=\s*\{([^}]*)\}', src)
        if not m:
            raise SystemExit("FAIL: cannot find limit_names in %s" % path)
        self.values["limit"] = set(re.findall(r'"(\w+)"', m.group(1)))


def check_expr(expr, metrics, where, errors, variables=None):
    """Metric names, label matchers and by() labels of one PromQL expression.
    Returns the set of labels an alert's templates may use."""
    if expr.count("(") != expr.count(")") or expr.count("{") != expr.count("}") \
            or expr.count("[") != expr.count("]"):
        errors.append("%s: unbalanced brackets in %r" % (where, expr))
    used = set()
    for name, sel in re.findall(r'\b(sessguard_\w+)\s*(\{[^}]*\})?', expr):
        if name not in metrics.families:
            errors.append("%s: metric %s is not exported by src/metrics.c (it has: %s)"
                          % (where, name, ", ".join(sorted(metrics.families))))
            continue
        used.add(name)
        for label, op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', sel or ""):
            if label in TARGET_LABELS:
                continue
            if label not in metrics.labels.get(name, ()):
                errors.append("%s: %s has no label %r (it has: %s)"
                              % (where, name, label,
                                 ", ".join(sorted(metrics.labels.get(name, ()))) or "none"))
                continue
            known = metrics.values.get(label)
            if not known or "$" in value:
                continue
            if op in ("=", "!="):
                if value not in known:
                    errors.append("%s: %s{%s=%r}: sessguard never sets that value (%s)"
                                  % (where, name, label, value, ", ".join(sorted(known))))
            else:
                for alt in value.split("|"):
                    try:
                        rx = re.compile("^(?:%s)$" % alt)
                    except re.error as e:
                        errors.append("%s: bad regex %r: %s" % (where, alt, e))
                        continue
                    if not any(rx.match(v) for v in known):
                        errors.append("%s: %s{%s=~...%r...} matches no value sessguard "
                                      "sets (%s)" % (where, name, label, alt,
                                                     ", ".join(sorted(known))))
    if not used:
        errors.append("%s: no sessguard metric in %r" % (where, expr))
    avail = set(TARGET_LABELS)
    for name in used:
        avail |= metrics.labels.get(name, set())
    grouped = set()
    for inner in re.findall(r'\b(?:by|without)\s*\(([^)]*)\)', expr):
        for label in [l.strip() for l in inner.split(",") if l.strip()]:
            if label not in avail:
                errors.append("%s: by (%s): no metric of the expression has that label"
                              % (where, label))
            grouped.add(label)
    for var in re.findall(r'\$\{?(\w+)', expr):
        if variables is None:
            errors.append("%s: template variable $%s in a rule" % (where, var))
        elif var not in variables and var not in GRAFANA_BUILTINS:
            errors.append("%s: template variable $%s is not defined" % (where, var))
    for word in re.findall(r'\b([a-z_]+)\s*\(', expr):
        if word not in PROMQL_WORDS:
            errors.append("%s: unknown function %r" % (where, word))
    return used, (grouped if re.search(r'\b(sum|min|max|avg|count)\b', expr) else avail)


def check_dashboard(path, metrics):
    errors = []
    try:
        with open(path) as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        return ["%s: %s" % (path, e)]
    for key, typ in (("title", str), ("uid", str), ("schemaVersion", int), ("panels", list),
                     ("templating", dict), ("time", dict)):
        if not isinstance(dash.get(key), typ):
            errors.append("dashboard: %s missing or not %s" % (key, typ.__name__))
    if errors:
        return errors
    variables = {v.get("name") for v in dash["templating"].get("list", [])}
    for inp in dash.get("__inputs", []):
        variables.add(inp.get("name"))
    ids = set()
    cells = {}
    used = set()
    for p in dash["panels"]:
        where = "panel %r" % p.get("title")
        if not isinstance(p.get("id"), int) or p["id"] in ids:
            errors.append("%s: id %r missing or not unique" % (where, p.get("id")))
        ids.add(p.get("id"))
        if p.get("type") not in PANEL_TYPES:
            errors.append("%s: unknown type %r" % (where, p.get("type")))
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in "xywh") or g["x"] + g["w"] > 24:
            errors.append("%s: bad gridPos %r" % (where, g))
            continue
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    errors.append("%s overlaps panel %r" % (where, cells[(x, y)]))
                    break
                cells[(x, y)] = p.get("title")
            else:
                continue
            break
        if p.get("type") == "row":
            continue
        if not p.get("title"):
            errors.append("panel %r has no title" % p.get("id"))
        ds = p.get("datasource") or {}
        if ds.get("type") != "prometheus":
            errors.append("%s: datasource %r is not prometheus" % (where, ds))
        targets = p.get("targets") or []
        if not targets:
            errors.append("%s: no targets" % where)
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or not all(refs):
            errors.append("%s: refIds %r not unique" % (where, refs))
        for t in targets:
            u, _ = check_expr(t.get("expr", ""), metrics, where, errors, variables)
            used |= u
    for v in dash["templating"].get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if v.get("type") == "query":
            check_expr(q or "", metrics, "variable %s" % v.get("name"), errors, variables)
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            check_expr(a["expr"], metrics, "annotation %r" % a.get("name"), errors, variables)
    # sessions, verdicts, anomalies, limits hit, store health
    for need in ("sessguard_sessions_total", "sessguard_recipients_total",
                 "sessguard_anomalies_total", "sessguard_limit_decisions_total",
                 "sessguard_limit_store_up"):
        if need not in used:
            errors.append("dashboard: no panel shows %s" % need)
    return errors


DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


def check_rules(path, metrics):
    import yaml
    errors = []
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        return ["%s: %s" % (path, e)]
    if not isinstance(doc, dict) or set(doc) != {"groups"} or \
            not isinstance(doc["groups"], list) or not doc["groups"]:
        return ["rules: want a mapping with one key, groups: a non-empty list"]
    alerts = {}
    names = set()
    for g in doc["groups"]:
        if not isinstance(g, dict) or not isinstance(g.get("name"), str):
            errors.append("rules: a group without a name: %r" % (g,))
            continue
        if g["name"] in names:
            errors.append("rules: group %s twice" % g["name"])
        names.add(g["name"])
        extra = set(g) - {"name", "interval", "rules", "limit"}
        if extra:
            errors.append("group %s: unknown keys %s" % (g["name"], sorted(extra)))
        if "interval" in g and not DURATION.match(str(g["interval"])):
            errors.append("group %s: bad interval %r" % (g["name"], g["interval"]))
        for r in g.get("rules") or []:
            kind = [k for k in ("alert", "record") if k in r]
            where = "rule %s" % (r.get("alert") or r.get("record"))
            if len(kind) != 1:
                errors.append("%s: want exactly one of alert, record" % where)
                continue
            allowed = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"} \
                if kind == ["alert"] else {"record", "expr", "labels"}
            if set(r) - allowed:
                errors.append("%s: unknown keys %s" % (where, sorted(set(r) - allowed)))
            if not isinstance(r.get("expr"), str):
                errors.append("%s: no expr" % where)
                continue
            used, labels = check_expr(r["expr"], metrics, where, errors)
            if kind == ["record"]:
                continue
            if not re.match(r"^[A-Z][A-Za-z0-9]+$", r["alert"]):
                errors.append("%s: alert name not CamelCase" % where)
            if r["alert"] in alerts:
                errors.append("%s: alert twice" % where)
            alerts[r["alert"]] = (r["expr"], used)
            if "for" in r and not DURATION.match(str(r["for"])):
                errors.append("%s: bad for %r" % (where, r["for"]))
            if (r.get("labels") or {}).get("severity") not in ("critical", "warning", "info"):
                errors.append("%s: labels.severity must be critical, warning or info" % where)
            ann = r.get("annotations") or {}
            if not ann.get("summary"):
                errors.append("%s: no annotations.summary" % where)
            for text in list(ann.values()) + list((r.get("labels") or {}).values()):
                for lab in re.findall(r"\$labels\.(\w+)", str(text)):
                    if lab not in labels:
                        errors.append("%s: template uses $labels.%s, the expression keeps "
                                      "only %s" % (where, lab, sorted(labels)))
                if str(text).count("{{") != str(text).count("}}"):
                    errors.append("%s: unbalanced {{ }} in %r" % (where, text))
    wanted = {
        "a login over its limit": lambda e, u: "sessguard_limit_decisions_total" in u and
        "limit_login" in e or 'kind="limit_exceeded"' in e,
        "the limit store down": lambda e, u: "sessguard_limit_store_up" in u or
        "limit_store_down" in e,
        "a jump in relay refusals": lambda e, u: "sessguard_recipients_total" in u and
        "reject" in e and "offset" in e,
    }
    for what, test in wanted.items():
        if not any(test(e, u) for e, u in alerts.values()):
            errors.append("rules: no alert for %s" % what)
    return errors


def promtool_path():
    return os.environ.get("PROMTOOL") or shutil.which("promtool")


def promtool(*args):
    """None when promtool accepts, else its output."""
    p = subprocess.run([promtool_path()] + list(args), capture_output=True, text=True,
                       timeout=60, cwd=HERE)
    return None if p.returncode == 0 else (p.stdout + p.stderr).strip()


def main():
    try:
        import yaml  # noqa: F401
    except ImportError:
        print("SKIP: needs PyYAML (Debian package python3-yaml)")
        return 77
    metrics = Metrics(METRICS_C)
    fails = 0
    n = 0

    def report(ok, what, detail=""):
        nonlocal fails, n
        n += 1
        print("%s %d - %s%s" % ("ok" if ok else "not ok", n, what,
                               "" if ok else ": " + detail))
        if not ok:
            fails += 1

    errs = check_dashboard(DASHBOARD, metrics)
    report(not errs, "contrib/grafana/sessguard.json uses what src/metrics.c exports",
           "; ".join(errs))
    errs = check_rules(RULES, metrics)
    report(not errs, "contrib/prometheus/sessguard.rules.yml is a well-formed rule file "
           "with the three alerts", "; ".join(errs))
    if promtool_path():
        out = promtool("check", "rules", RULES)
        report(out is None, "promtool check rules", out or "")
        out = promtool("test", "rules", "sessguard.rules.test.yml")
        report(out is None, "promtool test rules (the alerts fire when they should)",
               out or "")
    else:
        print("# promtool not installed (Debian package prometheus; or set PROMTOOL): "
              "structural check only")

    # The checker must refuse broken copies.
    tmp = tempfile.mkdtemp(prefix="sg-contrib-")
    try:
        with open(DASHBOARD) as f:
            dash = f.read()
        with open(RULES) as f:
            rules = f.read()
        broken = [
            ("dashboard", dash.replace("sessguard_limit_store_up", "sessguard_store_up")),
            ("dashboard", dash.replace('outcome=~\\"tempfail|hold|monitor\\"',
                                       'outcome=~\\"tempfail|held\\"')),
            ("dashboard", dash.replace("$instance", "$host", 1)),
            ("dashboard", dash[:-3]),
            ("rules", rules.replace("sessguard_limit_store_up", "sessguard_store_up")),
            ("rules", rules.replace('verdict=~"reject|would_reject"', 'verdict="rejected"')),
            ("rules", rules.replace("{{ $labels.limit }}", "{{ $labels.login }}")),
            ("rules", rules.replace("for: 1m", "for: soon")),
        ]
        for i, (which, text) in enumerate(broken):
            if text == (dash if which == "dashboard" else rules):
                report(False, "broken copy %d of the %s" % (i, which),
                       "the mutation did not apply: update this test")
                continue
            p = os.path.join(tmp, "%d.%s" % (i, "json" if which == "dashboard" else "yml"))
            with open(p, "w") as f:
                f.write(text)
            errs = check_dashboard(p, metrics) if which == "dashboard" \
                else check_rules(p, metrics)
            report(bool(errs), "broken copy %d of the %s is refused" % (i, which),
                   "accepted")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % n)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
