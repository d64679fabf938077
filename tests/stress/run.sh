#!/bin/sh
# Stress tests (issue 6), run by .ci/run after the sanitizer build:
#   soak     milterload drives SOAK_SESSIONS sessions (default 50000) through
#            the daemon as built (AddressSanitizer in CI): no error, no
#            sanitizer report, no RSS growth after warm-up;
#   reload   SIGUSR1 with a broken, then a good configuration, again and
#            again, under load: no session dropped or answered wrongly;
#   tsan     the daemon built with ThreadSanitizer under 200 concurrent
#            sessions, and the policy front end's protocol tests (1,000
#            connections, a session shared by two): zero reports.
# The long soak: SOAK_SESSIONS=1000000 sh tests/stress/run.sh soak
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
top=$PWD
SESSGUARD=${SESSGUARD:-$top/src/sessguard}
LOAD=${MILTERLOAD:-$top/bench/milterload}
SOAK_SESSIONS=${SOAK_SESSIONS:-50000}
what=${1:-all}
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/sg-stress.XXXXXX") || exit 1
pids=
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done; rm -rf "$dir"' EXIT
[ -x "$LOAD" ] || make -s bench/milterload >/dev/null 2>&1
[ -x "$LOAD" ] || { echo "not ok - no bench/milterload"; echo "0 passed, 1 failed"; exit 1; }

# the load generator is a tool, not under test: its own exit leaks are not ours
load() { ASAN_OPTIONS=detect_leaks=0 "$LOAD" "$@"; }

conf() {	# conf FILE [extra lines]
	f=$1
	shift
	{
		echo "socket = unix:$dir/s.sock"
		echo "log = file:$dir/log.jsonl"
		echo "local_domains = example.org"
		echo "trusted_networks = 192.0.2.1/32"
		for l in "$@"; do echo "$l"; done
	} > "$f"
}
start() {	# start BINARY CONF: sets $pid
	rm -f "$dir/s.sock" "$dir/log.jsonl"
	"$1" -f -c "$2" 2>"$dir/err" &
	pid=$!
	pids="$pids $pid"
	i=0
	while [ ! -S "$dir/s.sock" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	[ -S "$dir/s.sock" ]
}
stop() {
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
}
# wait_err PATTERN N: until N lines of the daemon's stderr match PATTERN
# (10 s at most, and not past the daemon's end)
wait_err() {
	i=0
	while [ "$(grep -c -- "$1" "$dir/err")" -lt "$2" ]; do
		[ $i -ge 200 ] && return 1
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
		i=$((i + 1))
	done
}
rss() { awk '/^VmRSS:/ {print $2}' /proc/"$pid"/status; }
errors_of() { sed -n 's/.*errors[= ]\([0-9][0-9]*\).*/\1/p' "$1" | tail -1; }

soak() {
	conf "$dir/c.conf"
	# a small quarantine, so that ASan's own memory levels off early
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=8:log_path=$dir/asan" \
	UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:log_path=$dir/ubsan" \
	    start "$SESSGUARD" "$dir/c.conf" || { bad "soak: daemon did not start"; return; }
	warm=$((SOAK_SESSIONS / 5))
	load -n "$warm" -c 8 -k 2 -t 2 -a 0.5 --expect guard "unix:$dir/s.sock" > "$dir/warm.out" 2>&1
	r1=$(rss)
	load -n $((SOAK_SESSIONS - warm)) -c 8 -k 2 -t 2 -a 0.5 --expect guard \
	    "unix:$dir/s.sock" > "$dir/soak.out" 2>&1
	st=$?
	r2=$(rss)
	grep RESULT "$dir/soak.out"
	[ $st -eq 0 ] && [ "$(errors_of "$dir/soak.out")" = 0 ] &&
	    ok "soak: $SOAK_SESSIONS sessions, every reply right" ||
	    bad "soak: load generator: exit $st: $(tail -3 "$dir/soak.out")"
	echo "# RSS after warm-up ${r1} KiB, at the end ${r2} KiB"
	[ $((r2 - r1)) -lt $((r1 / 10 + 2048)) ] &&
	    ok "soak: no RSS growth after warm-up ($r1 -> $r2 KiB)" ||
	    bad "soak: RSS grew from $r1 to $r2 KiB"
	stop
	st=$?
	[ $st -eq 0 ] && ok "soak: exit 0" || bad "soak: exit $st"
	if ls "$dir"/asan.* "$dir"/ubsan.* >/dev/null 2>&1; then
		bad "soak: sanitizer report"; cat "$dir"/asan.* "$dir"/ubsan.* | head -40
	else
		ok "soak: no sanitizer report"
	fi
}

reload() {
	conf "$dir/c.conf"
	start "$SESSGUARD" "$dir/c.conf" || { bad "reload: daemon did not start"; return; }
	load -n 20000 -c 16 -k 2 -t 2 -a 0.5 --expect guard "unix:$dir/s.sock" \
	    > "$dir/load.out" 2>&1 &
	lp=$!
	n=0
	# each reload once the previous one took effect: refused (the broken
	# file), or the next generation (the good one; generation 1 at start)
	while kill -0 $lp 2>/dev/null && [ $n -lt 40 ]; do
		conf "$dir/c.conf" "mode = sometimes"
		kill -USR1 "$pid"
		wait_err "keeping the old configuration" $((n + 1)) ||
		    { bad "reload: broken file $((n + 1)) not refused"; break; }
		conf "$dir/c.conf" "log_level = commands"
		kill -USR1 "$pid"
		wait_err "configuration reloaded (generation $((n + 2)))" 1 ||
		    { bad "reload: good file $((n + 1)) not loaded"; break; }
		n=$((n + 1))
	done
	wait $lp
	st=$?
	[ $st -eq 0 ] && [ "$(errors_of "$dir/load.out")" = 0 ] &&
	    ok "reload under load: $n broken and $n good reloads, no wrong or lost reply" ||
	    bad "reload under load: exit $st: $(tail -3 "$dir/load.out")"
	grep -q "keeping the old configuration" "$dir/err" &&
	    ok "reload under load: broken files refused" || bad "no refusal logged"
	kill -0 "$pid" 2>/dev/null && ok "reload under load: daemon alive" || bad "daemon died"
	stop
}

tsan() {
	bin=$dir/sessguard-tsan
	# ThreadSanitizer build of the daemon, straight from the sources
	if ! gcc -fsanitize=thread -O1 -g -D_GNU_SOURCE -DPACKAGE_VERSION='"tsan"' \
	    -I src $(pkg-config --cflags libmicrohttpd) src/*.c src/util/*.c \
	    -o "$bin" -lmilter $(pkg-config --libs libmicrohttpd libcrypto) -lcdb -lhiredis -lm -lpthread \
	    2>"$dir/tsan-build.err"; then
		bad "tsan: build failed: $(head -5 "$dir/tsan-build.err")"
		return
	fi
	conf "$dir/c.conf"
	TSAN_OPTIONS="log_path=$dir/tsan halt_on_error=0" start "$bin" "$dir/c.conf" ||
	    { bad "tsan: daemon did not start"; return; }
	load -n 4000 -c 200 -k 2 -t 2 -a 0.5 --expect guard "unix:$dir/s.sock" \
	    > "$dir/tload.out" 2>&1
	st=$?
	kill -USR1 "$pid"	# a reload while sessions come and go
	load -n 2000 -c 200 -k 2 -t 2 -a 0.5 --expect guard "unix:$dir/s.sock" \
	    >> "$dir/tload.out" 2>&1 || st=$?
	stop
	[ $st -eq 0 ] && ok "tsan: 200 concurrent sessions, every reply right" ||
	    bad "tsan: load: $(tail -3 "$dir/tload.out")"
	# the policy front end's threads: its protocol tests on the same build
	if TSAN_OPTIONS="log_path=$dir/tsan halt_on_error=0" SESSGUARD=$bin \
	    python3 tests/policy/t-policy.py concurrent shared sessions \
	    reconnect slow quitter idle > "$dir/tpolicy.out" 2>&1; then
		ok "tsan: policy front end, $(tail -1 "$dir/tpolicy.out")"
	else
		bad "tsan: policy: $(grep -m3 'not ok' "$dir/tpolicy.out")"
	fi
	# Reports with a frame in our sources count. Debian's libmilter (not
	# instrumented) races with itself while it shuts down (mi_listener,
	# mi_stop_milters, its control thread at exit): those are listed, not
	# counted.
	cat "$dir"/tsan.* > "$dir/tsan.all" 2>/dev/null
	awk -v out="$dir/tsan.ours" '
		/^==================/ { if (rep != "" && ours) printf "%s", rep > out;
		    rep = ""; ours = 0; next }
		{ rep = rep $0 "\n" }
		/ (src|\.\.\/src|[^ ]*\/src)\/[a-z_/]+\.c:[0-9]+/ { ours = 1 }
		END { if (rep != "" && ours) printf "%s", rep > out }' "$dir/tsan.all"
	theirs=$(grep -c 'WARNING: ThreadSanitizer' "$dir/tsan.all")
	if [ -s "$dir/tsan.ours" ]; then
		bad "tsan: $(grep -c 'WARNING: ThreadSanitizer' "$dir/tsan.ours") report(s) in sessguard's code"
		head -80 "$dir/tsan.ours"
	else
		ok "tsan: zero reports in sessguard's code ($theirs inside libmilter's own shutdown, not counted)"
	fi
}

case $what in
soak) soak ;;
reload) reload ;;
tsan) tsan ;;
all) soak; reload; tsan ;;
*) echo "usage: sh tests/stress/run.sh [soak|reload|tsan|all]"; exit 2 ;;
esac
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
