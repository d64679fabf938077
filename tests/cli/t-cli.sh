#!/bin/sh
# Command-line behaviour of the daemon: -V -h -n -p, configuration errors
# (message naming file, line and key; exit 1; nothing started), the unix
# socket's directory, stale and live sockets, SIGTERM and SIGINT.
set -u
: "${SESSGUARD:?SESSGUARD must name the daemon binary}"
dir=$(mktemp -d "${TMPDIR:-/tmp}/sg-cli.XXXXXX") || exit 1
pids=
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done; rm -rf "$dir"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }

# run NAME EXPECTED_STATUS PATTERN -- args...: status and a pattern in the output
run() {
	name=$1 want=$2 pat=$3
	shift 4
	"$SESSGUARD" "$@" >"$dir/out" 2>&1 </dev/null
	got=$?
	if [ "$got" -ne "$want" ]; then
		bad "$name: exit $got, wanted $want: $(head -3 "$dir/out")"
	elif ! grep -q -- "$pat" "$dir/out"; then
		bad "$name: output lacks '$pat': $(head -3 "$dir/out")"
	else
		ok "$name"
	fi
}

conf() { printf '%s\n' "$@" > "$dir/c.conf"; }

run "-V prints the version" 0 '^sessguard [0-9]' -- -V
run "-h prints usage" 0 'usage: sessguard' -- -h
run "unknown option" 1 'unknown option -x' -- -x
run "missing argument" 1 'needs an argument' -- -c
run "stray argument" 1 'unexpected argument' -- -n extra
run "-n on built-in defaults" 0 '^socket = unix:/run/sessguard/sessguard.sock' -- -n -c /dev/null
run "-n shows every key" 0 '^authserv_id = ' -- -n -c /dev/null
run "-p overrides socket" 0 '^socket = inet:8891@127.0.0.1' -- -n -c /dev/null -p inet:8891@127.0.0.1
run "-p rejects bad syntax" 1 'socket' -- -n -c /dev/null -p tcp:1@x
run "missing config file" 1 "$dir/none.conf: cannot open" -- -n -c "$dir/none.conf"

conf "mode = enforce" "" "# comment" "mode = sometimes"
run "bad value names file, line, key" 1 "c.conf:4: mode: 'sometimes'" -- -n -c "$dir/c.conf"
conf "no_such_key = 1"
run "unknown key" 1 "c.conf:1: no_such_key: unknown key" -- -n -c "$dir/c.conf"
conf "trusted_networks = 10.0.0.1/8"
run "host bits in a network" 1 "c.conf:1: trusted_networks: '10.0.0.1/8'" -- -n -c "$dir/c.conf"
conf "relay_reply = 450 4.7.1 try later"
run "4xx relay_reply refused" 1 "c.conf:1: relay_reply" -- -n -c "$dir/c.conf"
conf "local_domains = file:$dir/missing.list"
run "missing list file" 1 "missing.list" -- -n -c "$dir/c.conf"
conf "just words"
run "line without =" 1 "c.conf:1: just: expected 'key = value'" -- -n -c "$dir/c.conf"
conf "mode = monitor" "socket = none"
run "no listener at all refused" 1 "c.conf:2: socket: none turns the milter listener off and policy_listen is empty" -- -n -c "$dir/c.conf"
run "-p none without policy_listen refused" 1 "policy_listen is empty" -- -n -c /dev/null -p none
conf "socket = none" "policy_listen = inet:10040@127.0.0.1"
run "policy-only configuration" 0 "^socket = none" -- -n -c "$dir/c.conf"
printf 'mode = enforce\0\n' > "$dir/c.conf"
run "NUL byte in config" 1 "NUL byte" -- -n -c "$dir/c.conf"

# Foot-guns that are valid but warned about on stderr, naming file and line
# (issue 10 item 5); -n still exits 0 and prints the configuration.
warns() {
	name=$1 pat=$2
	"$SESSGUARD" -n -c "$dir/c.conf" >"$dir/out" 2>"$dir/err" </dev/null
	got=$?
	if [ "$got" -ne 0 ]; then
		bad "$name: exit $got: $(head -3 "$dir/err")"
	elif ! grep -q -- "$pat" "$dir/err"; then
		bad "$name: stderr lacks '$pat': $(head -3 "$dir/err")"
	elif ! grep -q '^mode = ' "$dir/out"; then
		bad "$name: no configuration printed"
	else
		ok "$name"
	fi
}
conf "mode = monitor" "trusted_networks = 127.0.0.0/8, 0.0.0.0/0"
warns "0.0.0.0/0 warned as an open relay" "warning: .*c.conf:2: trusted_networks: covers every IPv4 address.*open relay"
conf "trusted_networks = ::/0"
warns "::/0 warned as an open relay" "warning: .*c.conf:1: trusted_networks: covers every IPv6 address.*open relay"
conf "trusted_networks = ::ffff:0:0/96"
warns "::ffff:0:0/96 warned as an open relay" "c.conf:1: trusted_networks: covers every IPv4 address"
conf "trusted_networks = 0.0.0.0/1 128.0.0.0/1"
warns "two halves warned as an open relay" "c.conf:1: trusted_networks: covers every IPv4 address"
printf '10.0.0.0/8\n0.0.0.0/0\n' > "$dir/nets.list"
conf "" "trusted_networks = file:$dir/nets.list"
warns "open relay from an included file" "c.conf:2: trusted_networks: covers every IPv4 address"
conf "mode = monitor" "log_level = decisions" "mode = enforce"
warns "key given twice" "warning: .*c.conf:3: mode: overriding earlier entry at line 1"
conf "mode = monitor" "trusted_networks = 10.0.0.0/8, 0.0.0.0/1"
"$SESSGUARD" -n -c "$dir/c.conf" 2>&1 >/dev/null | grep -q warning &&
    bad "warning for a harmless configuration" || ok "no warning for a harmless configuration"
printf 'a.test\0evil.test\n' > "$dir/doms.list"
conf "local_domains = file:$dir/doms.list"
run "NUL byte in an included file" 1 "c.conf:1: local_domains: .*doms.list: contains a NUL byte" -- -n -c "$dir/c.conf"
printf 'a.test\001\n' > "$dir/doms.list"
run "control character in an included file" 1 "doms.list:1: control character" -- -n -c "$dir/c.conf"

# A config error also stops a real start, before the socket exists.
conf "socket = unix:$dir/s.sock" "mode = bogus"
run "bad config: no start" 1 "mode" -- -f -c "$dir/c.conf"
[ -e "$dir/s.sock" ] && bad "socket created despite bad config" || ok "no socket after bad config"

conf "socket = unix:$dir/nodir/s.sock" "log = file:$dir/log.jsonl"
run "socket directory missing" 1 "directory $dir/nodir does not exist" -- -f -c "$dir/c.conf"

conf "socket = unix:$dir/s.sock" "log = file:/nonexistent-dir/x.jsonl"
run "unwritable log" 1 "/nonexistent-dir/x.jsonl" -- -f -c "$dir/c.conf"

# Start for real; a second instance must not steal the live socket.
conf "socket = unix:$dir/s.sock" "log = file:$dir/log.jsonl"
wait_for() {	# wait_for TEST...: polls the condition for up to 10 s
	i=0
	while ! "$@" && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	"$@"
}
# up: the daemon said it listens (after listen(); the socket file exists
# from bind() on, and a stale one even before the daemon starts)
up() { grep -q "listening on" "$1"; }
"$SESSGUARD" -f -c "$dir/c.conf" 2>"$dir/d1.err" &
p1=$!
pids="$pids $p1"
if wait_for up "$dir/d1.err" && [ -S "$dir/s.sock" ]; then ok "daemon starts with -f"
else bad "daemon did not start: $(cat "$dir/d1.err")"; fi
mode=$(stat -c %a "$dir/s.sock" 2>/dev/null)
[ "$mode" = 660 ] && ok "socket_mode 0660 applied" || bad "socket mode is $mode"
run "live socket is not stolen" 1 "in use by a running filter" -- -f -c "$dir/c.conf"
kill -TERM $p1
wait $p1
st=$?
[ $st -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $st"
[ -e "$dir/s.sock" ] && bad "socket left after SIGTERM" || ok "socket removed at exit"

# A stale socket (nobody listening) is removed and replaced.
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$dir/s.sock"
[ -S "$dir/s.sock" ] || bad "could not make a stale socket"
"$SESSGUARD" -f -c "$dir/c.conf" 2>"$dir/d2.err" &
p2=$!
pids="$pids $p2"
if wait_for up "$dir/d2.err" && [ -S "$dir/s.sock" ] && kill -0 $p2 2>/dev/null &&
    grep -q "removed stale socket" "$dir/d2.err" &&
    python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])" "$dir/s.sock"; then
	ok "stale socket replaced"
else
	bad "stale socket not handled: $(cat "$dir/d2.err")"
fi
kill -INT $p2
wait $p2
st=$?
[ $st -eq 0 ] && ok "SIGINT: exit 0" || bad "SIGINT: exit $st"

# Something that is not a socket is never removed.
: > "$dir/s.sock"
run "regular file in the socket's place" 1 "is not a socket" -- -f -c "$dir/c.conf"
[ -f "$dir/s.sock" ] && ok "regular file left alone" || bad "regular file removed"

# A configuration others may write is warned about (it decides who relays).
conf "mode = enforce"
chmod 0666 "$dir/c.conf"
run "world-writable config warned about" 0 "writable by every user" -- -n -c "$dir/c.conf"
chmod 0644 "$dir/c.conf"
"$SESSGUARD" -n -c "$dir/c.conf" 2>&1 | grep -q writable &&
    bad "warning for a config only root writes" || ok "no warning for mode 0644"

# The example configuration lists every key of the table, and -n output
# reads back to itself.
example="$(dirname "$0")/../../contrib/sessguard.conf.example"
"$SESSGUARD" -n -c /dev/null | sed -n 's/^\([a-z_]*\) = .*/\1/p' | sort > "$dir/keys.table"
sed -n 's/^\([a-z_]*\) =.*/\1/p' "$example" | sort > "$dir/keys.example"
if cmp -s "$dir/keys.table" "$dir/keys.example"; then
	ok "example config lists every key"
else
	bad "example config and key table differ: $(diff "$dir/keys.table" "$dir/keys.example" | tr '\n' ' ')"
fi
conf "local_domains = example.org, .example.com" "trusted_networks = 10.0.0.0/8 2001:db8::/32" \
    "relay_reply = 550 5.7.0 Go away # no" "log = stderr, file:$dir/x.jsonl" "mode = monitor"
"$SESSGUARD" -n -c "$dir/c.conf" | grep -v '^#' > "$dir/p1.conf"
"$SESSGUARD" -n -c "$dir/p1.conf" | grep -v '^#' > "$dir/p2.conf"
if cmp -s "$dir/p1.conf" "$dir/p2.conf" && grep -q '^relay_reply = 550 5.7.0 Go away$' "$dir/p1.conf"; then
	ok "-n output reads back to itself"
else
	bad "-n round trip differs: $(diff "$dir/p1.conf" "$dir/p2.conf" | tr '\n' ' ')"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
