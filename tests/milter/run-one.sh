#!/bin/sh
# Runs one protocol test: tests/milter/t-NAME.lua through miltertest against
# the built daemon, with t-NAME.conf (@DIR@ replaced by a private temporary
# directory, @HERE@ by this directory), then checks the JSON log: every line
# against SPEC section 5, and the lines listed in t-NAME.expect, in order.
# When t-NAME.redis exists, a redis-server of its own (port 0, a unix socket
# in the temporary directory, the lines of t-NAME.redis appended to its
# configuration) runs for the test: @REDIS@ in the .conf is its socket, and
# the script stops and starts it again with DIR/redis-stop.sh and
# DIR/redis-start.sh (each returns once the server is gone or listens).
# Exit status as automake wants: 0 pass, 1 fail, 77 skip.
set -u
lua=$1
here=$(cd "$(dirname "$lua")" && pwd)
name=$(basename "$lua" .lua)
: "${MILTERTEST:=$(command -v miltertest)}"
: "${PYTHON3:=$(command -v python3)}"
: "${SESSGUARD:?SESSGUARD must name the daemon binary}"

if [ -z "$MILTERTEST" ] || [ -z "$PYTHON3" ]; then
	echo "SKIP: $name needs miltertest and python3 (Debian packages miltertest, python3)"
	exit 77
fi

if [ -n "${SG_SANITIZE:-}" ] && [ -f "$here/$name.conf" ] &&
    head -1 "$here/$name.conf" | grep -q 'sanitizers: skip'; then
	echo "SKIP: $name does not run under the sanitizers"
	exit 77
fi

redis=
if [ -f "$here/$name.redis" ]; then
	redis=$(command -v redis-server) || {
		echo "SKIP: $name needs redis-server (Debian package redis-server)"
		exit 77
	}
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/sg-$name.XXXXXX") || exit 1
# a script that fails half way leaves its filter running: stop it
trap 'pkill -f -- "-c $dir/sessguard.conf" 2>/dev/null
	[ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null
	rm -rf "$dir"' EXIT
conf="$dir/sessguard.conf"

if [ -n "$redis" ]; then
	{
		printf 'port 0\nunixsocket %s/redis.sock\nunixsocketperm 700\n' "$dir"
		printf 'dir %s\nsave ""\nappendonly no\ndaemonize no\n' "$dir"
		printf 'logfile %s/redis.log\n' "$dir"
		cat "$here/$name.redis"
	} > "$dir/redis.conf"
	{
		echo '#!/bin/sh'
		echo "rm -f '$dir/redis.sock'"
		echo "'$redis' '$dir/redis.conf' &"
		echo "echo \$! > '$dir/redis.pid'"
		echo 'i=0'
		echo "while [ ! -S '$dir/redis.sock' ]; do"
		echo "	kill -0 \$(cat '$dir/redis.pid') 2>/dev/null || { echo 'redis-server exited'; exit 1; }"
		echo '	i=$((i + 1)); [ $i -gt 1000 ] && { echo "redis-server never listened"; exit 1; }'
		echo '	sleep 0.01'
		echo 'done'
	} > "$dir/redis-start.sh"
	{
		echo '#!/bin/sh'
		echo "pid=\$(cat '$dir/redis.pid') || exit 1"
		echo 'kill -KILL "$pid"'
		echo '# gone, or a zombie nobody reaps yet: either way it answers no more'
		echo 'i=0'
		echo 'while [ -e /proc/$pid ] && ! grep -q "^State:.*Z" /proc/$pid/status 2>/dev/null; do'
		echo '	i=$((i + 1)); [ $i -gt 1000 ] && { echo "redis-server did not die"; exit 1; }'
		echo '	sleep 0.01'
		echo 'done'
		echo "rm -f '$dir/redis.pid'"
	} > "$dir/redis-stop.sh"
	chmod +x "$dir/redis-start.sh" "$dir/redis-stop.sh"
	"$dir/redis-start.sh" || exit 1
fi

if [ -f "$here/$name.conf" ]; then
	sed -e "s#@DIR@#$dir#g" -e "s#@HERE@#$here#g" \
	    -e "s#@REDIS@#$dir/redis.sock#g" "$here/$name.conf" > "$conf"
else
	printf 'socket = unix:%s/sessguard.sock\nlog = file:%s/log.jsonl\n' \
	    "$dir" "$dir" > "$conf"
fi

# Under the sanitizers, reports (leaks at exit too) go to files we check.
if [ -n "${SG_SANITIZE:-}" ]; then
	export ASAN_OPTIONS="${ASAN_OPTIONS:-}:log_path=$dir/asan"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:log_path=$dir/ubsan"
fi

"$MILTERTEST" -D "SESSGUARD=$SESSGUARD" -D "CONF=$conf" -D "DIR=$dir" \
    -D "LIB=$here/lib.lua" -D "FAILALLOC=${FAILALLOC:-}" -s "$lua" > "$dir/out" 2>&1
rc=$?
cat "$dir/out"
if [ $rc -ne 0 ] || grep -q '^FAIL' "$dir/out"; then
	echo "FAIL: $name: miltertest exited $rc"
	[ -f "$dir/log.jsonl" ] && { echo "--- log:"; cat "$dir/log.jsonl"; }
	exit 1
fi
if [ ! -s "$dir/log.jsonl" ]; then
	echo "FAIL: $name: no log written"
	exit 1
fi
if ls "$dir"/asan.* "$dir"/ubsan.* >/dev/null 2>&1; then
	echo "FAIL: $name: sanitizer report:"
	cat "$dir"/asan.* "$dir"/ubsan.* 2>/dev/null
	exit 1
fi
if [ -f "$here/$name.stderr" ] && ! grep -qF -f "$here/$name.stderr" "$dir/out"; then
	echo "FAIL: $name: the daemon did not say: $(cat "$here/$name.stderr")"
	exit 1
fi
expect=
[ -f "$here/$name.expect" ] && expect="$here/$name.expect"
"$PYTHON3" "$here/logcheck.py" "$dir/log.jsonl" $expect || {
	echo "--- log:"; cat "$dir/log.jsonl"; exit 1; }
echo "PASS: $name"
exit 0
