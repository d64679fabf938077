#!/bin/sh
# sessguard -L and -R against a real Redis that this test starts on a unix
# socket in a temporary directory (port 0) and stops by its pid: listing
# the keys over or near their limits (counters written in the store's
# documented format, see src/ratelimit.c), resetting a login and an
# address, bad keys, the memory store, an unreachable store, requirepass.
# Skips (exit 77) when redis-server is not installed; CI installs it.
set -u
: "${SESSGUARD:?SESSGUARD must name the daemon binary}"
redis=${REDIS_SERVER:-}
if [ -z "$redis" ]; then
	redis=$(command -v redis-server 2>/dev/null || true)
	[ -z "$redis" ] && [ -x /usr/bin/redis-server ] && redis=/usr/bin/redis-server
fi
cli=$(command -v redis-cli 2>/dev/null || true)
if [ -z "$redis" ] || [ -z "$cli" ]; then
	echo "SKIP: redis-server or redis-cli not found (Debian package redis-server)"
	exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/sg-limits.XXXXXX") || exit 1
rpid=
trap '[ -n "$rpid" ] && kill -9 $rpid 2>/dev/null; rm -rf "$dir"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }

sock=$dir/redis.sock
cat > "$dir/redis.conf" <<EOF
port 0
unixsocket $sock
unixsocketperm 700
dir $dir
save ""
appendonly no
daemonize no
logfile $dir/redis.log
EOF
"$redis" "$dir/redis.conf" &
rpid=$!
# wait until it answers PING (at most 10 s)
i=0
until [ "$("$cli" -s "$sock" ping 2>/dev/null)" = PONG ]; do
	i=$((i + 1))
	if [ $i -gt 500 ] || ! kill -0 $rpid 2>/dev/null; then
		echo "not ok - redis-server did not start: $(tail -3 "$dir/redis.log")"
		exit 1
	fi
	sleep 0.02
done
r() { "$cli" -s "$sock" "$@" >/dev/null; }

# run NAME EXPECTED_STATUS PATTERN -- args...: status and a pattern in the output
run() {
	name=$1 want=$2 pat=$3
	shift 4
	"$SESSGUARD" "$@" >"$dir/out" 2>&1 </dev/null
	got=$?
	if [ "$got" -ne "$want" ]; then
		bad "$name: exit $got, wanted $want: $(head -3 "$dir/out")"
	elif ! grep -q -- "$pat" "$dir/out"; then
		bad "$name: output lacks '$pat': $(head -5 "$dir/out")"
	else
		ok "$name"
	fi
}
has() {
	if grep -q -- "$2" "$dir/out"; then
		ok "$1"
	else
		bad "$1: output lacks '$2': $(cat "$dir/out")"
	fi
}
lacks() {
	if grep -q -- "$2" "$dir/out"; then
		bad "$1: output has '$2'"
	else
		ok "$1"
	fi
}

cat > "$dir/c.conf" <<EOF
limit_login_recipients = 10/1h
limit_client_recipients = 10/1h
limit_login_clients = 2/1h
limit_store = redis:unix:$sock
EOF

# Counters as the engine writes them: a GCRA counter holds its theoretical
# arrival time t in microseconds (negative once a recipient was refused);
# 10/1h has an emission interval of 360000 ms, so t = now + n * 360000 ms
# means n in the window.
now=$(date +%s%3N)
e=360000
r SET 'sg:{rl}:login:alice:rcpt' -$(((now + 10 * e) * 1000))
r SET 'sg:{rl}:login:bob:rcpt' $(((now + 8 * e) * 1000))
r SET 'sg:{rl}:login:dave:rcpt' $(((now + 2 * e) * 1000))
r SET 'sg:{rl}:client:192.0.2.7:rcpt' $(((now + 9 * e) * 1000))
r SET "$(printf 'sg:{rl}:login:ev\til:rcpt')" $(((now + 10 * e) * 1000))
r ZADD 'sg:{rl}:login:carol:clients' "$now" 192.0.2.1 "$now" 192.0.2.2 inf '!'
# a counter of sessguard 0.x (a hash, other key names): not ours any more
r HSET 'sg:{login:zed}:rcpt' t $((now + 10 * e))
r SET 'other:app' 1

run "-L lists a login over its limit" 0 "$(printf '^login:alice\tlimit_login_recipients\t10/10\t3600s\tover$')" -- -c "$dir/c.conf" -L
has "-L lists a login near its limit" "$(printf '^login:bob\tlimit_login_recipients\t8/10\t3600s\tnear$')"
has "-L lists a client address" "$(printf '^client:192.0.2.7\tlimit_client_recipients\t9/10\t3600s\tnear$')"
has "-L lists distinct clients (the marker not counted)" "$(printf '^login:carol\tlimit_login_clients\t2/2\t3600s\tover$')"
has "-L escapes a control character in a login" '^login:ev\\x09il	'
lacks "-L leaves out a login at 20%" "login:dave"
lacks "-L leaves out other keys" "other"
lacks "-L leaves out the old key layout" "zed"
if [ "$(wc -l < "$dir/out")" -eq 5 ]; then ok "-L: five lines"; else bad "-L: $(wc -l < "$dir/out") lines"; fi

run "-R login (any case)" 0 "^login:ALICE: 1 counter removed" -- -c "$dir/c.conf" -R login:ALICE
run "-L after -R" 0 "login:bob" -- -c "$dir/c.conf" -L
lacks "-L no longer lists the login reset" "login:alice"
run "-R client" 0 "^client:192.0.2.7: 1 counter removed" -- -c "$dir/c.conf" -R client:192.0.2.7
run "-R a key without counters" 0 "login:nobody: 0 counters removed" -- -c "$dir/c.conf" -R login:nobody
run "-R a bad key" 1 "expected login:NAME or client:ADDRESS" -- -c "$dir/c.conf" -R alice
run "-R a bad address" 1 "expected login:NAME or client:ADDRESS" -- -c "$dir/c.conf" -R client:example.org
run "-R needs an argument" 1 "needs an argument" -- -c "$dir/c.conf" -R

printf 'limit_login_recipients = 10/1h\n' > "$dir/mem.conf"
run "-L with the memory store" 1 "limit_store = memory" -- -c "$dir/mem.conf" -L
run "-R with the memory store" 1 "need a shared store" -- -c "$dir/mem.conf" -R login:alice
printf 'limit_store = redis:unix:%s\n' "$sock" > "$dir/off.conf"
run "-L with no limit set" 0 "no rate limit is set" -- -c "$dir/off.conf" -L

printf 'limit_login_recipients = 10/1h\nlimit_store = redis:unix:%s/none.sock\n' "$dir" > "$dir/down.conf"
run "-L with the store unreachable" 1 "none.sock" -- -c "$dir/down.conf" -L
run "-R with the store unreachable" 1 "^sessguard: -R: redis unix:" -- -c "$dir/down.conf" -R login:bob

# requirepass: refused without the password file, served with it
r CONFIG SET requirepass 'pa ss'
run "-L without the password" 1 "NOAUTH" -- -c "$dir/c.conf" -L
printf 'pa ss\n' > "$dir/pw"
chmod 600 "$dir/pw"
cp "$dir/c.conf" "$dir/pw.conf"
printf 'limit_store_password_file = %s\n' "$dir/pw" >> "$dir/pw.conf"
run "-L with limit_store_password_file" 0 "login:bob" -- -c "$dir/pw.conf" -L
chmod 644 "$dir/pw"
run "a password file others can read is refused" 1 "readable or writable by others" -- -c "$dir/pw.conf" -L

kill $rpid
wait $rpid 2>/dev/null
rpid=
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
