#!/bin/sh
# Runs one protocol test: tests/milter/t-NAME.lua through miltertest against
# the built daemon, with t-NAME.conf (@DIR@ replaced by a private temporary
# directory), then checks the JSON log: every line against SPEC section 5,
# and the lines listed in t-NAME.expect, in order.
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

dir=$(mktemp -d "${TMPDIR:-/tmp}/sg-$name.XXXXXX") || exit 1
# a script that fails half way leaves its filter running: stop it
trap 'pkill -f -- "-c $dir/sessguard.conf" 2>/dev/null; rm -rf "$dir"' EXIT
conf="$dir/sessguard.conf"
if [ -f "$here/$name.conf" ]; then
	sed "s#@DIR@#$dir#g" "$here/$name.conf" > "$conf"
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
