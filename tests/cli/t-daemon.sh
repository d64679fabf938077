#!/bin/sh
# The daemon's life cycle: SIGUSR1 reload (a valid change applies to the
# next transaction, never to one in flight; a broken file keeps the old
# configuration and says file, line and key), log reopening after rotation,
# detaching with a locked pidfile, a second instance refused, privileges
# dropped before any callback (checked in /proc), and start-up errors.
set -u
: "${SESSGUARD:?SESSGUARD must name the daemon binary}"
: "${MILTERTEST:=$(command -v miltertest)}"
here=$(cd "$(dirname "$0")" && pwd)
lib="$here/../milter/lib.lua"
if [ -z "$MILTERTEST" ] || [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs miltertest and root"
	exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/sg-daemon.XXXXXX") || exit 1
chmod 755 "$dir"
pids=
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done; rm -rf "$dir"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }

sock="$dir/sessguard.sock"
conf="$dir/c.conf"
log="$dir/log.jsonl"
base() {
	printf 'socket = unix:%s\nlog = file:%s\nlocal_domains = example.org\ntrusted_networks = 192.0.2.1/32\n' "$sock" "$log"
}
# listening N: the daemon's stderr ($dir/err) says "listening on" N times;
# it says so after listen(), while the socket file exists from bind() on
listening() { [ "$(grep -c 'listening on' "$dir/err")" -ge "$1" ]; }
wait_for() {	# wait_for TEST... : up to 10 s (libmilter stops within 5 s)
	i=0
	while ! "$@" && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	"$@"
}
# mt SCRIPT: runs a miltertest script against the running daemon
mt() {
	"$MILTERTEST" -D "LIB=$lib" -D "DIR=$dir" -D "PID=$pid" -D "CONF=$conf" \
	    -s "$1" >"$dir/mt.out" 2>&1 && ! grep -q '^FAIL' "$dir/mt.out"
}
# one relay attempt without auth; $1: the reply expected
cat > "$dir/relay.lua" <<'LUA'
dofile(LIB)
conn = reconnect()
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<a@example.org>")
rcpt(conn, "<x@remote.test>", WANT == "reject" and SMFIR_REPLYCODE or SMFIR_CONTINUE)
mt.disconnect(conn)
LUA
relay() {
	"$MILTERTEST" -D "LIB=$lib" -D "DIR=$dir" -D "WANT=$1" -s "$dir/relay.lua" \
	    >"$dir/mt.out" 2>&1 && ! grep -q '^FAIL' "$dir/mt.out"
}

# --- reload -------------------------------------------------------------
base > "$conf"
"$SESSGUARD" -f -c "$conf" 2>"$dir/err" &
pid=$!
pids="$pids $pid"
wait_for listening 1 || bad "daemon did not start: $(cat "$dir/err")"
relay reject && ok "enforce before reload" || bad "enforce before reload: $(cat "$dir/mt.out")"

{ base; echo "mode = monitor"; } > "$conf"
kill -USR1 $pid
wait_for grep -q 'configuration reloaded (generation 2)' "$dir/err" &&
    ok "SIGUSR1 reloads" || bad "no reload message: $(cat "$dir/err")"
relay accept && ok "the next session follows the new mode" ||
    bad "after reload: $(cat "$dir/mt.out")"
grep -q '"verdict":"would_reject"' "$log" && ok "would_reject logged" || bad "no would_reject"

# a transaction in flight keeps the configuration it started with
cat > "$dir/inflight.lua" <<'LUA'
dofile(LIB)
conn = reconnect()
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<a@example.org>")
-- monitor now; switch to enforce in the middle of the transaction, and
-- wait until the daemon says it reloaded (generation 3), up to 10 s
if not os.execute("sed -i '/^mode/d' " .. CONF .. " && kill -USR1 " .. PID ..
    " && i=0; while ! grep -q 'configuration reloaded (generation 3)' " ..
    DIR .. "/err && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done; " ..
    "grep -q 'configuration reloaded (generation 3)' " .. DIR .. "/err") then
	fail("no reload to enforce in the middle of the transaction")
end
rcpt(conn, "<x@remote.test>", SMFIR_CONTINUE)
ok(mt.abort(conn), "abort")
mail(conn, "<a@example.org>")
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
mt.disconnect(conn)
LUA
mt "$dir/inflight.lua" && ok "in-flight transaction keeps its config; the next one follows" ||
    bad "in-flight: $(cat "$dir/mt.out")"

# a broken file keeps the old configuration and names file, line and key
{ base; echo "mode = sometimes"; } > "$conf"
kill -USR1 $pid
wait_for grep -q "c.conf:5: mode: 'sometimes'.*keeping the old configuration" "$dir/err" &&
    ok "bad reload: error names file, line, key" || bad "bad reload message: $(cat "$dir/err")"
relay reject && ok "old configuration kept after a bad reload" ||
    bad "after bad reload: $(cat "$dir/mt.out")"
kill -0 $pid 2>/dev/null && ok "daemon survives a bad reload" || bad "daemon died"

# log reopen after rotation
mv "$log" "$log.1"
base > "$conf"
kill -USR1 $pid
wait_for test -f "$log" && ok "log file reopened after rename" || bad "no new log file"
relay reject
wait_for grep -q '"event":"close"' "$log" && ok "new lines go to the new file" ||
    bad "new log empty"
grep -q '"event":"close"' "$log.1" && ok "old lines stay in the rotated file" ||
    bad "rotated file lost lines"
kill -TERM $pid
wait $pid
[ $? -eq 0 ] && ok "exit 0 after reloads" || bad "bad exit after reloads"

# --- SIGUSR1 during start (logrotate may send one) ---------------------------
# The configuration is read through a symlink to a FIFO: the daemon blocks
# reading it, so it is certainly inside main() (past the dynamic loader,
# before its threads start) when the first SIGUSR1 is sent. Then it gets
# SIGUSR1 in a tight loop until its socket exists. It must neither die nor
# lose the signal: a pending SIGUSR1 is a reload once the daemon runs.
rm -f "$log"
base > "$dir/real.conf"
mkfifo "$dir/fifo.conf"
ln -s "$dir/fifo.conf" "$dir/link.conf"
"$SESSGUARD" -f -c "$dir/link.conf" 2>"$dir/err" &
pid=$!
pids="$pids $pid"
exec 3<>"$dir/fifo.conf"	# a writer that does not wait for a reader
reading() { ls -l /proc/$pid/fd 2>/dev/null | grep -q fifo.conf; }
wait_for reading || bad "the daemon did not open its configuration"
kill -USR1 $pid
(
	n=0
	while [ ! -S "$sock" ] && [ $n -lt 200000 ] && kill -USR1 $pid 2>/dev/null; do
		n=$((n + 1))
	done
	echo $n > "$dir/nsent"
) 3>&- &
spid=$!
ln -sfn "$dir/real.conf" "$dir/link.conf"	# reloads read the real file
(base >&3) 2>/dev/null		# a subshell: SIGPIPE if the daemon died
exec 3>&-
wait $spid
kill -USR1 $pid 2>/dev/null
if kill -0 $pid 2>/dev/null && wait_for grep -q 'listening on' "$dir/err"; then
	ok "SIGUSR1 during start does not kill the daemon ($(cat "$dir/nsent") more sent)"
else
	bad "SIGUSR1 during start killed the daemon: $(cat "$dir/err")"
fi
wait_for grep -q 'configuration reloaded' "$dir/err" &&
    ok "a SIGUSR1 sent during start is a reload, not lost" ||
    bad "no reload after SIGUSR1 during start: $(cat "$dir/err")"
relay reject && kill -0 $pid 2>/dev/null && ok "the daemon serves after SIGUSR1 during start" ||
    bad "serve after SIGUSR1 during start: $(cat "$dir/mt.out")"
kill -TERM $pid 2>/dev/null
wait $pid
[ $? -eq 0 ] && ok "exit 0 after SIGUSR1 during start" || bad "bad exit after SIGUSR1 during start"

# --- detach, pidfile, second instance, privileges --------------------------
rm -f "$log" "$log.1"
chown nobody:nogroup "$dir"	# as /run/sessguard: the user removes its socket
{ base; echo "pidfile = $dir/sessguard.pid"; echo "user = nobody";
  echo "group = nogroup"; echo "socket_mode = 0660"; } > "$conf"
"$SESSGUARD" -c "$conf" 2>"$dir/err"
st=$?
[ $st -eq 0 ] && ok "detaching start exits 0" || bad "detaching start: exit $st: $(cat "$dir/err")"
wait_for test -s "$dir/sessguard.pid" || bad "no pidfile"
pid=$(cat "$dir/sessguard.pid" 2>/dev/null)
pids="$pids $pid"
wait_for test -S "$sock"
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then ok "pidfile names the running daemon"
else bad "pidfile pid $pid not running"; fi
[ "$(ps -o sid= -p "$pid" | tr -d ' ')" != "$(ps -o sid= -p $$ | tr -d ' ')" ] &&
    [ "$(ps -o tty= -p "$pid" | tr -d ' ')" = "?" ] &&
    ok "detached: a session of its own, no terminal" || bad "not detached"
"$SESSGUARD" -f -c "$conf" -p "unix:$dir/other.sock" >"$dir/err2" 2>&1
st=$?
[ $st -eq 1 ] && grep -q "already running (pid $pid)" "$dir/err2" &&
    ok "second instance refused by the pidfile lock" || bad "second instance: exit $st $(cat "$dir/err2")"
relay reject && ok "detached daemon serves" || bad "detached serve: $(cat "$dir/mt.out")"
nobody=$(id -u nobody)
nogroup=$(getent group nogroup | cut -d: -f3)
allok=yes
for t in /proc/"$pid"/task/*; do
	u=$(awk '/^Uid:/ {print $2 $3 $4 $5}' "$t/status")
	g=$(awk '/^Gid:/ {print $2 $3 $4 $5}' "$t/status")
	[ "$u" = "$nobody$nobody$nobody$nobody" ] && [ "$g" = "$nogroup$nogroup$nogroup$nogroup" ] || allok=no
done
[ $allok = yes ] && ok "every thread runs as nobody:nogroup" || bad "a thread keeps privileges"
nocaps=yes
for t in /proc/"$pid"/task/*; do
	grep -q '^CapEff:[[:space:]]*0000000000000000$' "$t/status" || nocaps=no
	grep -q '^CapPrm:[[:space:]]*0000000000000000$' "$t/status" || nocaps=no
done
[ $nocaps = yes ] && ok "no capabilities left: it writes only where nobody may" ||
    bad "capabilities kept after the drop"
[ -w /etc ] && su -s /bin/sh nobody -c "test -w /etc" 2>/dev/null &&
    bad "nobody can write /etc?" || ok "the user cannot write system paths"
grep -q '^Groups:[[:space:]]*'"$nogroup"'[[:space:]]*$' /proc/"$pid"/status &&
    ok "no supplementary groups but nogroup" || bad "groups: $(grep Groups /proc/$pid/status)"
[ "$(stat -c '%U:%G %a' "$sock")" = "nobody:nogroup 660" ] && ok "socket owned by the user, mode 0660" ||
    bad "socket: $(stat -c '%U:%G %a' "$sock")"
[ "$(stat -c %U "$log")" = nobody ] && ok "log file handed to the user" || bad "log owner $(stat -c %U "$log")"
kill -TERM "$pid"
wait_for sh -c "! kill -0 $pid 2>/dev/null" && ok "stops on SIGTERM" || bad "did not stop"
[ -e "$sock" ] || [ -e "$dir/sessguard.pid" ] && bad "socket or pidfile left at exit" ||
    ok "socket and pidfile removed at exit"

# --- log_chain across rotation and restart ---------------------------------
: "${SESSGUARD_TRACE:=$(dirname "$SESSGUARD")/trace/sessguard-trace}"
chown root:root "$dir"
rm -f "$log" "$log.1"
head -c 32 /dev/urandom > "$dir/key"
chmod 600 "$dir/key"
{ base; echo "log_key_file = $dir/key"; echo "log_chain = yes"; } > "$conf"
"$SESSGUARD" -f -c "$conf" 2>"$dir/err" &
pid=$!
pids="$pids $pid"
wait_for listening 1
relay reject
mv "$log" "$log.1"
kill -USR1 $pid
wait_for test -f "$log"
relay reject
kill -TERM $pid
wait $pid
"$SESSGUARD" -f -c "$conf" 2>>"$dir/err" &
pid=$!
pids="$pids $pid"
wait_for listening 2
relay reject
kill -TERM $pid
wait $pid
"$SESSGUARD_TRACE" --key "$dir/key" --verify "$log.1" "$log" > "$dir/verify" 2>&1 &&
    grep -q "chain intact" "$dir/verify" &&
    ok "log_chain: one chain across rotation and restart" ||
    bad "log_chain: $(cat "$dir/verify")"
[ "$(grep -c '"event":"chain"' "$log")" = 2 ] &&
    ok "log_chain: a chain line at the reopen and at the restart" ||
    bad "log_chain: chain lines: $(grep -c '"event":"chain"' "$log")"
sed -i '3s/"seq":[0-9]*/"seq":99/' "$log"
"$SESSGUARD_TRACE" --key "$dir/key" --verify "$log.1" "$log" > "$dir/verify" 2>&1
[ $? -eq 3 ] && grep -q 'log.jsonl:3: broken' "$dir/verify" &&
    ok "log_chain: an altered line is named" || bad "tamper not found: $(cat "$dir/verify")"

# --- start-up errors: clear message, exit 1 --------------------------------
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
startfail "missing user" "user nosuchuser: no such user" "user = nosuchuser"
startfail "missing group" "group nosuchgroup: no such group" "group = nosuchgroup"
startfail "unwritable pidfile" "pidfile /proc/nope/x.pid" "pidfile = /proc/nope/x.pid"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
