#!/bin/sh
# Metrics (issue 7, part 5): the Prometheus endpoint on loopback and the
# node_exporter textfile. A session with one refused relay RCPT, one
# accepted local RCPT and an AUTH= claim must show in the exact counters;
# the live-sessions gauge goes 1 during it and back to 0; the configuration
# generation goes 1 then 2 after SIGUSR1; other paths answer 404, other
# methods 405; the textfile has the same content and is replaced atomically
# (read over and over while it is rewritten every second). Configuration
# errors: a non-loopback metrics_listen (sessguard -n: file:line: key, exit
# 1), a textfile in a missing directory or one the user cannot write, a
# port in use (start refused, exit 1). As root: a port below 1024 served
# after dropping privileges.
set -u
: "${SESSGUARD:?SESSGUARD must name the daemon binary}"
: "${MILTERTEST:=$(command -v miltertest)}"
: "${PYTHON3:=$(command -v python3)}"
here=$(cd "$(dirname "$0")" && pwd)
lib="$here/../milter/lib.lua"
scrape="$here/scrape.py"
if [ -z "$MILTERTEST" ] || [ -z "$PYTHON3" ]; then
	echo "SKIP: needs miltertest and python3 (Debian packages miltertest, python3)"
	exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/sg-metrics.XXXXXX") || exit 1
chmod 755 "$dir"
pids=
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done; rm -rf "$dir"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }
wait_for() {	# wait_for TEST... : up to 10 s
	i=0
	while ! "$@" && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	"$@"
}

port=$("$PYTHON3" "$scrape" freeport) || { echo "no free port"; exit 1; }
url="http://127.0.0.1:$port"
sock="$dir/sessguard.sock"
conf="$dir/c.conf"
prom="$dir/prom/sessguard.prom"
mkdir "$dir/prom"
base() {
	printf 'socket = unix:%s\nlog = file:%s/log.jsonl\n' "$sock" "$dir"
	printf 'local_domains = example.org\ntrusted_networks = 192.0.2.1/32\n'
}
# get PATH [METHOD]: the answer in $dir/get.out
get() {
	"$PYTHON3" "$scrape" get "$url$1" ${2:-GET} > "$dir/get.out" 2>&1
}
# has LINE: the last answer holds this exact line
has() { grep -qxF -- "$1" "$dir/get.out"; }
# scrape_has LINE: a new scrape holds it (for wait_for)
scrape_has() { get /metrics && has "$1"; }

# --- configuration errors: sessguard -n -------------------------------------
nfail() {	# nfail NAME PATTERN LINE: -n refuses LINE at line 2
	printf 'mode = enforce\n%s\n' "$3" > "$dir/n.conf"
	"$SESSGUARD" -n -c "$dir/n.conf" > "$dir/n.out" 2>&1
	st=$?
	[ $st -eq 1 ] && grep -q -- "$dir/n.conf:2: $2" "$dir/n.out" && ok "-n refuses $1" ||
	    bad "-n $1: exit $st: $(cat "$dir/n.out")"
}
nfail "metrics_listen on 0.0.0.0" "metrics_listen: .*0.0.0.0 is not a loopback address" \
    "metrics_listen = inet:9100@0.0.0.0"
nfail "metrics_listen on 192.0.2.1" "metrics_listen: .*192.0.2.1 is not a loopback address" \
    "metrics_listen = inet:9100@192.0.2.1"
nfail "metrics_listen on ::" "metrics_listen: .*is not a loopback address" \
    "metrics_listen = inet6:9100@::"
nfail "metrics_listen without an address" "metrics_listen: .*loopback only" \
    "metrics_listen = inet:9100"
nfail "metrics_listen with a host name" "metrics_listen: .*not a numeric IPv4 address" \
    "metrics_listen = inet:9100@localhost"
nfail "a relative metrics_textfile" "metrics_textfile: .*absolute path" \
    "metrics_textfile = sessguard.prom"
nfail "a metrics_textfile not ending in .prom" "metrics_textfile: .*\.prom" \
    "metrics_textfile = /var/lib/prometheus/node-exporter/sessguard.txt"
nfail "metrics_interval 0" "metrics_interval: .*1 to 3600" "metrics_interval = 0"
nfail "metrics_interval 3601" "metrics_interval: .*1 to 3600" "metrics_interval = 3601"
printf 'metrics_listen = inet6:9100@::1\nmetrics_textfile = /x/y.prom\nmetrics_interval = 60\n' > "$dir/n.conf"
"$SESSGUARD" -n -c "$dir/n.conf" > "$dir/n.out" 2>&1 &&
    grep -qx 'metrics_listen = inet6:9100@::1' "$dir/n.out" &&
    grep -qx 'metrics_textfile = /x/y.prom' "$dir/n.out" &&
    grep -qx 'metrics_interval = 60' "$dir/n.out" &&
    ok "-n accepts and prints the metrics keys" || bad "-n metrics keys: $(cat "$dir/n.out")"

# --- the running daemon ---------------------------------------------------
{ base; echo "metrics_listen = inet:$port@127.0.0.1"; echo "metrics_textfile = $prom";
  echo "metrics_interval = 1"; } > "$conf"
"$SESSGUARD" -f -c "$conf" 2>"$dir/err" &
pid=$!
pids="$pids $pid"
wait_for test -S "$sock" || bad "daemon did not start: $(cat "$dir/err")"
wait_for get /metrics
head -2 "$dir/get.out" > "$dir/head"
[ "$(cat "$dir/head")" = "200
content-type: text/plain; version=0.0.4; charset=utf-8" ] &&
    ok "GET /metrics: 200, text/plain; version=0.0.4" || bad "GET /metrics: $(cat "$dir/get.out")"
has "sessguard_sessions_total 0" && has "sessguard_config_generation 1" &&
    has "sessguard_live_sessions 0" && ok "at start: no sessions, generation 1" ||
    bad "at start: $(cat "$dir/get.out")"
[ "$("$PYTHON3" "$scrape" listening "$port")" = 127.0.0.1 ] &&
    ok "listens on 127.0.0.1:$port only" ||
    bad "listening on: $("$PYTHON3" "$scrape" listening "$port" | tr '\n' ' ')"
grep -q "metrics served at inet:$port@127.0.0.1" "$dir/err" &&
    grep -q "metrics written to $prom every 1 s" "$dir/err" &&
    ok "start-up names the endpoint and the textfile" || bad "start-up messages: $(cat "$dir/err")"

get /other
[ "$(head -1 "$dir/get.out")" = 404 ] && ok "another path: 404" || bad "/other: $(head -3 "$dir/get.out")"
get / && [ "$(head -1 "$dir/get.out")" = 404 ] && ok "/: 404" || bad "/: $(head -1 "$dir/get.out")"
get /metrics POST
[ "$(head -1 "$dir/get.out")" = 405 ] && has "allow: GET, HEAD" &&
    ok "POST: 405 with Allow: GET, HEAD" || bad "POST: $(head -3 "$dir/get.out")"
get /metrics HEAD
[ "$(head -1 "$dir/get.out")" = 200 ] && [ "$(sed -n '5,$p' "$dir/get.out" | wc -c)" -eq 0 ] &&
    ok "HEAD: 200, no body" || bad "HEAD: $(cat "$dir/get.out")"

# One session: AUTH= claimed without a login (anomaly client_auth_param),
# a relay RCPT refused, a local RCPT accepted; scraped while it is open.
cat > "$dir/session.lua" <<'LUA'
dofile(LIB)
conn = reconnect()
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<a@example.org>", nil, nil, nil, "AUTH=<victim@example.org>")
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
rcpt(conn, "<bob@example.org>", SMFIR_CONTINUE)
os.execute(SCRAPE .. " > " .. DIR .. "/during.out")
mt.disconnect(conn)
LUA
"$MILTERTEST" -D "LIB=$lib" -D "DIR=$dir" \
    -D "SCRAPE=$PYTHON3 $scrape get $url/metrics" -s "$dir/session.lua" >"$dir/mt.out" 2>&1 &&
    ! grep -q '^FAIL' "$dir/mt.out" && ok "session: relay refused, local accepted" ||
    bad "session: $(cat "$dir/mt.out")"
grep -qx "sessguard_live_sessions 1" "$dir/during.out" && ok "live sessions 1 during the session" ||
    bad "during the session: $(grep live "$dir/during.out")"
wait_for scrape_has "sessguard_live_sessions 0" && ok "live sessions back to 0 after disconnect" ||
    bad "live after disconnect: $(grep live_sessions "$dir/get.out")"
sed -n 's/^\(sessguard_[a-z_]*\({[^}]*}\)\{0,1\} [0-9]*\)$/\1/p' "$dir/get.out" > "$dir/samples"
cat > "$dir/want" <<'EOF'
sessguard_sessions_total 1
sessguard_transactions_total 1
sessguard_recipients_total{verdict="accept"} 1
sessguard_recipients_total{verdict="reject"} 1
sessguard_recipients_total{verdict="would_reject"} 0
sessguard_recipients_total{verdict="tempfail"} 0
sessguard_recipients_total{verdict="mta_rejected"} 0
sessguard_sender_checks_total{verdict="accept"} 0
sessguard_sender_checks_total{verdict="reject"} 0
sessguard_sender_checks_total{verdict="would_reject"} 0
sessguard_sender_checks_total{verdict="tempfail"} 0
sessguard_limit_decisions_total{limit="limit_login_recipients",outcome="allow"} 0
sessguard_limit_decisions_total{limit="limit_login_recipients",outcome="tempfail"} 0
sessguard_limit_decisions_total{limit="limit_login_recipients",outcome="hold"} 0
sessguard_limit_decisions_total{limit="limit_login_recipients",outcome="monitor"} 0
sessguard_limit_decisions_total{limit="limit_login_messages",outcome="allow"} 0
sessguard_limit_decisions_total{limit="limit_login_messages",outcome="tempfail"} 0
sessguard_limit_decisions_total{limit="limit_login_messages",outcome="hold"} 0
sessguard_limit_decisions_total{limit="limit_login_messages",outcome="monitor"} 0
sessguard_limit_decisions_total{limit="limit_client_recipients",outcome="allow"} 0
sessguard_limit_decisions_total{limit="limit_client_recipients",outcome="tempfail"} 0
sessguard_limit_decisions_total{limit="limit_client_recipients",outcome="hold"} 0
sessguard_limit_decisions_total{limit="limit_client_recipients",outcome="monitor"} 0
sessguard_limit_decisions_total{limit="limit_login_clients",outcome="allow"} 0
sessguard_limit_decisions_total{limit="limit_login_clients",outcome="tempfail"} 0
sessguard_limit_decisions_total{limit="limit_login_clients",outcome="hold"} 0
sessguard_limit_decisions_total{limit="limit_login_clients",outcome="monitor"} 0
sessguard_limit_decisions_total{limit="none",outcome="unavailable"} 0
sessguard_limit_decisions_total{limit="none",outcome="exempt"} 0
sessguard_limit_decisions_total{limit="none",outcome="none"} 0
sessguard_limit_store_up 1
sessguard_anomalies_total{kind="auth_changed"} 0
sessguard_anomalies_total{kind="auth_carried"} 0
sessguard_anomalies_total{kind="unknown_command"} 0
sessguard_anomalies_total{kind="mail_without_helo"} 0
sessguard_anomalies_total{kind="client_auth_param"} 1
sessguard_anomalies_total{kind="auth_results_skipped"} 0
sessguard_anomalies_total{kind="auth_kept_across_tls"} 0
sessguard_anomalies_total{kind="limit_exceeded"} 0
sessguard_anomalies_total{kind="limit_store_down"} 0
sessguard_anomalies_total{kind="limit_store_up"} 0
sessguard_log_lines_lost_total 0
sessguard_live_sessions 0
sessguard_config_generation 1
EOF
cmp -s "$dir/want" "$dir/samples" && ok "exact counter values after the session" ||
    bad "counters (< want, > got): $(diff "$dir/want" "$dir/samples" | grep '^[<>]' | tr '\n' ' ')"

# The textfile catches up within a second or two and has the same content.
cp "$dir/get.out" "$dir/scrape1"
sed -n '5,$p' "$dir/scrape1" > "$dir/body1"
wait_for cmp -s "$dir/body1" "$prom" && ok "textfile has the content of the endpoint" ||
    bad "textfile differs: $(diff "$dir/body1" "$prom" | grep '^[<>]' | tr '\n' ' ')"
[ "$(stat -c %a "$prom")" = 644 ] && ok "textfile mode 0644" || bad "textfile mode $(stat -c %a "$prom")"
"$PYTHON3" "$scrape" watch "$prom" 3 > "$dir/watch.out" 2>&1 &&
    ok "textfile replaced atomically: $(tail -1 "$dir/watch.out")" ||
    bad "textfile watch: $(tail -5 "$dir/watch.out" | tr '\n' ' ')"
[ -z "$(ls "$dir/prom" | grep -v '^sessguard\.prom$' | grep -v '^sessguard\.prom\.tmp$')" ] &&
    ok "nothing else in the textfile directory" || bad "textfile dir: $(ls "$dir/prom")"

# Reload: generation 2, in the endpoint and the file; the metrics keys need
# a restart, and a reload that changes one says so.
{ base; echo "metrics_listen = inet:$port@127.0.0.1"; echo "metrics_textfile = $prom";
  echo "metrics_interval = 2"; } > "$conf"
kill -USR1 $pid
wait_for scrape_has "sessguard_config_generation 2" && ok "generation 2 after SIGUSR1" ||
    bad "generation after reload: $(grep generation "$dir/get.out")"
wait_for grep -qx "sessguard_config_generation 2" "$prom" && ok "textfile shows generation 2" ||
    bad "textfile generation: $(grep generation "$prom")"
grep -q "reload: metrics_interval changed (1 -> 2): takes effect at the next restart" "$dir/err" &&
    ok "changing metrics_interval needs a restart (and says so)" || bad "no restart warning: $(cat "$dir/err")"

# A second instance on the same port is refused at start.
{ printf 'socket = unix:%s/other.sock\nlog = none\n' "$dir"; echo "metrics_listen = inet:$port@127.0.0.1"; } > "$dir/other.conf"
"$SESSGUARD" -f -c "$dir/other.conf" > "$dir/other.err" 2>&1 &
p=$!
pids="$pids $p"
wait_for sh -c "! kill -0 $p 2>/dev/null"
wait $p
st=$?
[ $st -eq 1 ] && grep -q "metrics_listen inet:$port@127.0.0.1: cannot listen: Address already in use" "$dir/other.err" &&
    ok "port in use: refused at start, exit 1" || bad "port in use: exit $st: $(cat "$dir/other.err")"
[ -e "$dir/other.sock" ] && bad "port in use: milter socket left behind"

kill -TERM $pid
wait $pid
st=$?
[ $st -eq 0 ] && ok "exit 0 on SIGTERM" || bad "exit $st on SIGTERM"
grep -qx "sessguard_config_generation 2" "$prom" && [ ! -e "$prom.tmp" ] &&
    ok "textfile left complete at exit, no temporary file" || bad "textfile at exit: $(ls "$dir/prom")"
get /metrics && bad "endpoint still answers after exit" || ok "endpoint closed at exit"

# --- start-up errors --------------------------------------------------------
startfail() {	# startfail NAME PATTERN CONFIG-LINES...
	name=$1 pat=$2
	shift 2
	{ base; for l in "$@"; do echo "$l"; done; } > "$conf"
	"$SESSGUARD" -f -c "$conf" >"$dir/err" 2>&1 &
	p=$!
	pids="$pids $p"
	i=0
	while kill -0 $p 2>/dev/null && [ $i -lt 60 ]; do sleep 0.05; i=$((i + 1)); done
	if kill -0 $p 2>/dev/null; then
		bad "$name: still running"; kill -9 $p
	else
		wait $p
		st=$?
		[ $st -eq 1 ] && grep -q -- "$pat" "$dir/err" && ok "$name" ||
		    bad "$name: exit $st: $(cat "$dir/err")"
	fi
	[ -e "$sock" ] && bad "$name: socket left behind" && rm -f "$sock"
}
startfail "textfile in a missing directory: exit 1" \
    "metrics_textfile $dir/nodir/s.prom: directory $dir/nodir does not exist" \
    "metrics_textfile = $dir/nodir/s.prom"

if [ "$(id -u)" = 0 ]; then
	mkdir "$dir/rootonly"
	chmod 755 "$dir/rootonly"
	startfail "textfile directory not writable by the user: exit 1" \
	    "metrics_textfile $dir/rootonly/s.prom: cannot create $dir/rootonly/s.prom.tmp: Permission denied (as user nobody)" \
	    "metrics_textfile = $dir/rootonly/s.prom" "user = nobody" "group = nogroup"
	[ -e "$dir/rootonly/s.prom" ] && bad "textfile written by root anyway"

	# a privileged port, served after the drop to nobody; the file is
	# written by nobody
	low=$("$PYTHON3" "$scrape" freeport 600 1000)
	url="http://127.0.0.1:$low"
	chown nobody:nogroup "$dir" "$dir/prom"
	rm -f "$prom"
	{ base; echo "metrics_listen = inet:$low@127.0.0.1"; echo "metrics_textfile = $prom";
	  echo "user = nobody"; echo "group = nogroup"; } > "$conf"
	"$SESSGUARD" -f -c "$conf" 2>"$dir/err" &
	pid=$!
	pids="$pids $pid"
	wait_for test -S "$sock"
	wait_for get /metrics && [ "$(head -1 "$dir/get.out")" = 200 ] &&
	    ok "port $low (< 1024) served after dropping privileges" ||
	    bad "low port: $(cat "$dir/get.out") $(cat "$dir/err")"
	[ "$(awk '/^Uid:/ {print $2}' /proc/$pid/status 2>/dev/null)" = "$(id -u nobody)" ] &&
	    ok "running as nobody" || bad "not running as nobody"
	wait_for test "$(stat -c %U "$prom" 2>/dev/null)" = nobody &&
	    ok "textfile written by nobody" || bad "textfile owner: $(stat -c %U "$prom" 2>&1)"
	kill -TERM $pid
	wait $pid
fi
if [ -r /proc/net/if_inet6 ] && grep -q '^0\{31\}1 ' /proc/net/if_inet6; then
	port=$("$PYTHON3" "$scrape" freeport)
	url="http://[::1]:$port"
	{ base; echo "metrics_listen = inet6:$port@::1"; } > "$conf"
	"$SESSGUARD" -f -c "$conf" 2>"$dir/err" &
	pid=$!
	pids="$pids $pid"
	wait_for get /metrics && [ "$(head -1 "$dir/get.out")" = 200 ] &&
	    [ "$("$PYTHON3" "$scrape" listening "$port")" = ::1 ] &&
	    ok "inet6:$port@::1 served on ::1 only" || bad "IPv6: $(cat "$dir/get.out") $(cat "$dir/err")"
	kill -TERM $pid
	wait $pid
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
