#!/bin/sh
# log_flush end to end: lines buffered in memory reach the file when the
# daemon stops on SIGTERM (libmilter's signal thread catches it only if no
# other thread takes it: the flusher thread must block signals, or SIGTERM
# killed the process with its buffer), and the daemon exits 0.
set -u
: "${SESSGUARD:?SESSGUARD must name the daemon binary}"
load=${MILTERLOAD:-$(dirname "$SESSGUARD")/../bench/milterload}
if [ ! -x "$load" ]; then
	echo "SKIP: no bench/milterload ($load)"
	exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/sg-logflush.XXXXXX") || exit 1
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$dir"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }

sock="$dir/s.sock"
log="$dir/log.jsonl"
cat > "$dir/c.conf" <<CONF
socket = unix:$sock
log = file:$log
log_level = commands
log_flush = 10000
local_domains = example.org
trusted_networks = 192.0.2.1/32
CONF
"$SESSGUARD" -f -c "$dir/c.conf" > "$dir/err" 2>&1 &
pid=$!
i=0
while [ ! -S "$sock" ] && [ $i -lt 200 ] && kill -0 $pid 2>/dev/null; do
	sleep 0.05
	i=$((i + 1))
done
if [ -S "$sock" ]; then
	ok "daemon with log_flush = 10000 listens"
else
	bad "daemon did not start: $(tail -3 "$dir/err")"
fi
if "$load" --expect guard -n 20 -c 2 "unix:$sock" > "$dir/load.out" 2>&1; then
	ok "20 sessions, every reply right"
else
	bad "load: $(tail -3 "$dir/load.out")"
fi
before=$(grep -c '"event":"close"' "$log" 2>/dev/null)
kill -TERM $pid
wait $pid
st=$?
pid=
[ $st -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $st (killed by the signal?)"
closes=$(grep -c '"event":"close"' "$log" 2>/dev/null)
connects=$(grep -c '"event":"connect"' "$log" 2>/dev/null)
if [ "$closes" = 20 ] && [ "$connects" = 20 ]; then
	ok "every session's lines written at the stop ($before of 20 before it)"
else
	bad "after SIGTERM: $connects connect and $closes close lines of 20"
fi
if python3 -c '
import json, sys
for line in open(sys.argv[1]):
    json.loads(line)
' "$log" 2>"$dir/json.err"; then
	ok "every line whole JSON"
else
	bad "broken lines: $(head -2 "$dir/json.err")"
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
