#!/bin/sh
# sessguard-trace(1) on hand-written logs shaped like the daemon's: the
# transcript of the carried-login (RSET), STARTTLS and AUTH= cases, the
# sender/login and rate-limit lines of issue 13, parallel
# sessions, every filter, --json byte for byte, garbled and cut-short lines,
# rotated and gzip-compressed files, unreadable files, usage errors.
set -u
: "${SESSGUARD_TRACE:?SESSGUARD_TRACE must name the sessguard-trace binary}"
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
data=$srcdir/tests/trace
dir=$(mktemp -d "${TMPDIR:-/tmp}/sg-trace.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
pass=0
fail=0
ALL="$data/carried.ndjson $data/starttls.ndjson $data/authparam.ndjson $data/parallel.ndjson"

ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }

# trace ARGS...: runs the tool, output in $dir/out and $dir/err, status in $rc
trace() {
	"$SESSGUARD_TRACE" "$@" >"$dir/out" 2>"$dir/err"
	rc=$?
}

# status NAME WANT: the last run exited WANT
status() {
	if [ "$rc" -eq "$2" ]; then ok "$1: exit $2"; else
		bad "$1: exit $rc, wanted $2: $(head -3 "$dir/err")"; fi
}

# has NAME TEXT...: each TEXT is in the output, in this order
has() {
	name=$1
	shift
	last=0
	for text in "$@"; do
		n=$(grep -nF -- "$text" "$dir/out" | head -1 | cut -d: -f1)
		if [ -z "$n" ]; then
			bad "$name: output lacks: $text"
			return
		fi
		if [ "$n" -le "$last" ]; then
			bad "$name: out of order: $text"
			return
		fi
		last=$n
	done
	ok "$name"
}

# lacks NAME TEXT: TEXT is not in the output
lacks() {
	if grep -qF -- "$2" "$dir/out"; then bad "$1: output has: $2"; else ok "$1"; fi
}

# sessions NAME IDS: the transcripts printed are exactly IDS, in this order
sessions() {
	got=$(awk '$1 == "session" { printf "%s%s", sep, $2; sep = " " }' "$dir/out")
	if [ "$got" = "$2" ]; then ok "$1"; else bad "$1: sessions '$got', wanted '$2'"; fi
}

# same NAME FILE1 FILE2: byte-identical
same() {
	if cmp -s "$2" "$3"; then ok "$1"; else
		bad "$1: $(diff "$2" "$3" | head -5)"; fi
}

# block ID: the transcript of one session
block() {
	awk -v id="$1" '$1 == "session" && $2 == id { p = 1 } p && /^$/ { exit } p' "$dir/out"
}

# --- transcripts
trace "$data/carried.ndjson"
status "carried" 0
has "carried: RSET keeps the login, carried" \
    "session 5e1d0a01.1 — client 192.0.2.10:49152 nokia.example.net, daemon submission, start 2026-11-23T09:14:02.100001Z" \
    "    2  C: EHLO/HELO nokia.example.net" \
    "    3  C: MAIL FROM:<alice@example.org> SIZE=2048" \
    "          auth: alice (LOGIN) since seq 3, reported by the MTA" \
    "    4  C: RCPT TO:<friend@remote.test>" \
    "       S: accepted — authenticated as alice (LOGIN) at seq 3" \
    "    5  C: RSET / abort (transaction 1 discarded)" \
    "    6  C: MAIL FROM:<alice@example.org>" \
    "          auth: alice (LOGIN) since seq 3, carried" \
    "    7  !! anomaly auth_carried: the MTA did not report the login at this MAIL" \
    "       S: accepted — authenticated as alice (LOGIN) at seq 3, carried across 1 reset" \
    "    9  C: DATA" \
    "   10  (end of headers)" \
    "   11  C: . (end of message, queue id 4ABC123, 1873 bytes, 9 headers)" \
    "   12  close" \
    "          summary: duration 3.023 s, 2 transactions, 1 reset, 2 rcpts, 0 rejected" \
    "          final auth: alice (LOGIN) since seq 3, carried"
lacks "carried: a closed session is not marked open" "(no close seen)"

trace "$data/starttls.ndjson"
has "starttls: the login discarded at the TLS boundary" \
    "          auth: carol (PLAIN) since seq 3, reported by the MTA" \
    "    6     TLS: TLSv1.3 TLS_AES_256_GCM_SHA384 256 bits" \
    "    7  C: EHLO/HELO laptop.example.net (over TLSv1.3)" \
    "    8  C: MAIL FROM:<carol@example.org> BODY=8BITMIME" \
    "          auth: none" \
    "       S: 554 5.7.1 Relay access denied — not authenticated: auth discarded by STARTTLS at seq 6" \
    "       S: accepted — recipient domain in local_domains" \
    "          summary: duration 101 ms, 2 transactions, 2 resets, 3 rcpts, 1 rejected" \
    "          final auth: none"

trace "$data/authparam.ndjson"
has "authparam: the AUTH= claim is untrusted and refused" \
    "    3  C: MAIL FROM:<ceo@example.org> AUTH=<victim@example.org>" \
    "          auth: none" \
    "          client's AUTH=<victim@example.org> (untrusted: a claim, never a login)" \
    "    4  !! anomaly client_auth_param: client sent AUTH=<victim@example.org>" \
    "       S: 554 5.7.1 Relay access denied — not authenticated" \
    "       S: (rejected by the MTA itself) — not authenticated; already rejected by the MTA"

trace "$data/limits.ndjson"
status "limits" 0
has "limits: sender verdicts at MAIL, the limit object, the hold (issue 13)" \
    "    3  C: MAIL FROM:<ceo@example.org>" \
    "       S: 553 5.7.1 Sender address rejected: not owned by user bob — sender <ceo@example.org> not owned by login bob" \
    "       S: accepted — sender <bob@example.org> owned by login bob" \
    "    5  C: RCPT TO:<x@remote.test>" \
    "          limit: login:bob 2 of 2 per 3600 s (limit_login_recipients)" \
    "       S: accepted — authenticated as bob (PLAIN) at seq 3; login:bob over limit_login_recipients (2 of 2 per 3600 s): limit_action hold" \
    "    7  !! anomaly limit_exceeded: login:bob over limit_login_recipients" \
    "       S: accepted and held (limit_action hold) — login:bob over limit_login_recipients (2 of 2 per 3600 s)"

trace "$data/parallel.ndjson"
status "parallel" 0
sessions "parallel: printed at close, then the open ones by first line" \
    "7f3a0c11.2 7f3a0c11.4 7f3a0c11.1 7f3a0c11.3 7f3a0c11.5"
has "parallel: IPv6 client, monitor verdict" \
    "session 7f3a0c11.2 — client [2001:db8::25]:40002 v6.example.net, daemon -" \
    "       S: (monitor) would reject: 554 5.7.1 Relay access denied — not authenticated"
has "parallel: trusted network" "       S: accepted — client 10.1.2.3 in trusted_networks"
block 7f3a0c11.1 > "$dir/b1"
if grep -qF "queue id 4XYZ789" "$dir/b1" && ! grep -qF "victim" "$dir/b1" &&
    [ "$(grep -c '^ *[0-9][0-9]*  ' "$dir/b1")" -eq 7 ]; then
	ok "parallel: a session holds its own lines only"
else
	bad "parallel: session 7f3a0c11.1: $(cat "$dir/b1")"
fi
n=$(grep -c '(no close seen)' "$dir/out")
[ "$n" -eq 2 ] && ok "parallel: two sessions without close" ||
    bad "parallel: $n marked (no close seen)"
has "parallel: control characters shown escaped" \
    'C: <unknown command: \x1b[2J\x1b]0;pwned\x07XYZZY\x09now\xff>' \
    'C: EHLO/HELO evil\u009B31m\u202Etxt.exe'
if LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')" "$dir/out" ||
    LC_ALL=C grep -q "$(printf '\302[\200-\237]')" "$dir/out" ||
    LC_ALL=C grep -q "$(printf '\342\200\256')" "$dir/out"; then
	bad "parallel: a control character reached the output"
else
	ok "parallel: no control character reaches the terminal"
fi

# --- \xNN and \\ (SPEC section 5): the bytes from the wire come back, and
# the transcript shows them unambiguously: a byte that is not UTF-8 as
# \xNN, a backslash as \\, a NUL (\u0000 in the log) as \x00
trace "$data/escapes.ndjson"
status "escapes" 0
has "escapes: a literal \\x80 and the byte 0x80 stay apart" \
    '    2  C: EHLO/HELO a\\b\xc3.example' \
    '    3  C: MAIL FROM:<lit\\x80-byte\x80@example.org> X=\\\\ NUL\x00' \
    '          auth: dom\\ann (PLAIN) since seq 2, reported by the MTA' \
    '       S: 554 5.7.1 no \\ here'
trace --user 'dom\ann' "$data/escapes.ndjson"
sessions "--user matches the login as sent (one backslash)" "9e5c0001.1"
trace --user 'dom\\ann' "$data/escapes.ndjson"
sessions "--user: the log's doubled backslash is not the login" ""

# --- filters (over all four files)
trace --session 7f3a0c11.4 $ALL
sessions "--session" "7f3a0c11.4"
trace --session 7f3a0c11.4 --session 5e1d0a01.2 $ALL
sessions "--session twice" "5e1d0a01.2 7f3a0c11.4"
trace --client 198.51.100.7 $ALL
sessions "--client address" "7f3a0c11.1"
trace --client 2001:db8:0:0:0:0:0:25 $ALL
sessions "--client IPv6, another spelling" "7f3a0c11.2"
trace --client 192.0.2.0/24 $ALL
sessions "--client CIDR" "5e1d0a01.1 5e1d0a01.2 7f3a0c11.5"
trace --client 2001:db8::/32 $ALL
sessions "--client IPv6 CIDR" "7f3a0c11.2"
trace --client 10.0.0.0/8 --client 203.0.113.9 $ALL
sessions "--client twice" "7f3a0c11.4 7f3a0c11.3"
trace --user alice $ALL
sessions "--user alice" "5e1d0a01.1"
trace --user carol $ALL
sessions "--user carol (logged in before STARTTLS only)" "5e1d0a01.2"
trace --user bob $ALL
sessions "--user bob" "7f3a0c11.1"
trace --user victim@example.org $ALL
sessions "--user: an AUTH= claim is no login" ""
trace --since 2026-11-23T12:00:02Z $ALL
sessions "--since" "7f3a0c11.4 7f3a0c11.3 7f3a0c11.5"
trace --until 2026-11-23T10:02:00.0001Z $ALL
sessions "--until (inclusive, fractions)" "5e1d0a01.1 5e1d0a01.2"
trace --since 2026-11-23T13:00:00+01:00 --until 2026-11-23T12:00:01.5Z $ALL
sessions "--since with offset and --until" "7f3a0c11.2 7f3a0c11.1"
trace --since 2026-11-24 $ALL
sessions "--since a date" ""
trace --rejected $ALL
sessions "--rejected (reject and would_reject)" "5e1d0a01.2 5e1d0a01.3 7f3a0c11.2 7f3a0c11.5"
trace --anomalies $ALL
sessions "--anomalies" "5e1d0a01.1 5e1d0a01.3 7f3a0c11.3 7f3a0c11.5"
trace --rejected --anomalies $ALL
sessions "--rejected --anomalies" "5e1d0a01.3 7f3a0c11.5"
trace --rejected --client 2001:db8::/32 $ALL
sessions "--rejected --client" "7f3a0c11.2"

# --- --json: the lines themselves
trace --json "$data/carried.ndjson"
same "--json: one session, byte for byte" "$data/carried.ndjson" "$dir/out"
trace --json "$data/parallel.ndjson"
sort "$data/parallel.ndjson" > "$dir/want"
sort "$dir/out" > "$dir/got"
same "--json: every line of parallel sessions" "$dir/want" "$dir/got"
trace --json --session 7f3a0c11.3 "$data/parallel.ndjson"
grep -F '"session":"7f3a0c11.3"' "$data/parallel.ndjson" > "$dir/want"
same "--json --session: escapes untouched" "$dir/want" "$dir/out"
trace -j --rejected $ALL
cat $ALL | grep -E '"session":"(5e1d0a01\.2|5e1d0a01\.3|7f3a0c11\.2|7f3a0c11\.5)"' |
    sort > "$dir/want"
sort "$dir/out" > "$dir/got"
same "--json --rejected: the lines of exactly those sessions" "$dir/want" "$dir/got"

# --- garbled and cut-short lines
trace "$data/garbled.ndjson"
status "garbled lines are not fatal" 0
if grep -q 'garbled.ndjson:3: not JSON' "$dir/err" &&
    grep -q 'garbled.ndjson:5: no "seq"' "$dir/err" &&
    grep -q 'garbled.ndjson:6: not a JSON object' "$dir/err" &&
    grep -q 'garbled.ndjson:8: last line cut short' "$dir/err" &&
    [ "$(wc -l < "$dir/err")" -eq 4 ]; then
	ok "garbled: each bad line reported with file and line number"
else
	bad "garbled: stderr: $(cat "$dir/err")"
fi
has "garbled: the good lines still tell the session" \
    "    3  C: MAIL FROM:<a@example.org>" \
    "       (seq 4 not in the log)" \
    "    5  C: RCPT TO:<c@example.org>" \
    "       (no close seen)"
trace --json "$data/garbled.ndjson"
sed -n '1p;2p;4p;7p' "$data/garbled.ndjson" > "$dir/want"
same "garbled: --json passes the good lines only" "$dir/want" "$dir/out"

# --- standard input, rotated and compressed files
trace "$data/carried.ndjson"
cp "$dir/out" "$dir/whole"
trace < "$data/carried.ndjson"
same "standard input" "$dir/whole" "$dir/out"
trace - < "$data/carried.ndjson"
same "standard input as -" "$dir/whole" "$dir/out"
head -n 6 "$data/carried.ndjson" | gzip -c > "$dir/sessguard.log.2.gz"
tail -n +7 "$data/carried.ndjson" > "$dir/sessguard.log.1"
trace "$dir/sessguard.log.2.gz" "$dir/sessguard.log.1"
status "rotated" 0
same "rotated: a session across .gz and plain files is joined" "$dir/whole" "$dir/out"
cp "$dir/sessguard.log.2.gz" "$dir/renamed"
trace "$dir/renamed" "$dir/sessguard.log.1"
same "gzip told by its magic bytes, not its name" "$dir/whole" "$dir/out"
gzip -c < "$data/carried.ndjson" | "$SESSGUARD_TRACE" > "$dir/out" 2>"$dir/err"
same "gzip on standard input" "$dir/whole" "$dir/out"
cp "$data/carried.ndjson" "$dir/plain.gz"
trace "$dir/plain.gz"
same "a plain file named .gz" "$dir/whole" "$dir/out"
tail -n +7 "$data/carried.ndjson" | gzip -c > "$dir/part2.gz"
cat "$dir/sessguard.log.2.gz" "$dir/part2.gz" > "$dir/members.gz"
trace "$dir/members.gz"
same "gzip members in a row" "$dir/whole" "$dir/out"

# --- unreadable files
trace "$dir/missing.ndjson" "$data/carried.ndjson"
status "missing file" 1
if grep -q "missing.ndjson: cannot open" "$dir/err" &&
    grep -qF "session 5e1d0a01.1" "$dir/out"; then
	ok "missing file: named, and the other files still read"
else
	bad "missing file: $(cat "$dir/err")"
fi
trace "$dir"
status "a directory" 1
grep -q "$dir: cannot read" "$dir/err" && ok "a directory: named" ||
    bad "a directory: $(cat "$dir/err")"
gzip -c < "$data/parallel.ndjson" > "$dir/full.gz"
head -c 300 "$dir/full.gz" > "$dir/cut.gz"
trace "$dir/cut.gz"
status "truncated gzip" 1
grep -q "cut.gz: cannot read" "$dir/err" && ok "truncated gzip: named" ||
    bad "truncated gzip: $(cat "$dir/err")"
if command -v xz >/dev/null 2>&1; then
	xz -c < "$data/carried.ndjson" > "$dir/log.xz"
	trace "$dir/log.xz"
	status "xz" 1
	grep -q "log.xz: .*compressed with xz" "$dir/err" && ok "xz: named" ||
	    bad "xz: $(cat "$dir/err")"
fi

# --- usage
trace --bogus
status "unknown option" 2
trace --session
status "missing argument" 2
trace --since yesterday
status "bad --since" 2
grep -q "'yesterday' is not an RFC 3339 time" "$dir/err" && ok "bad --since: said why" ||
    bad "bad --since: $(cat "$dir/err")"
trace --until 2026-02-30T00:00:00Z
status "impossible --until" 2
trace --client 10.0.0.1/8
status "CIDR with host bits" 2
trace --since 2026-11-23T12:00:02 "$data/parallel.ndjson"
status "--since without an offset" 2
trace --since 2028-02-29T00:00:00Z "$data/parallel.ndjson"
status "--since on a leap day" 0
trace --since "2026-11-23 17:30:02.5+05:30" "$data/parallel.ndjson"
sessions "--since with a space, fraction and offset" "7f3a0c11.4 7f3a0c11.5"
trace --help
status "--help" 0
grep -q '^usage: sessguard-trace' "$dir/out" && ok "--help: usage" || bad "--help: $(cat "$dir/out")"
trace -V
grep -q '^sessguard-trace [0-9]' "$dir/out" && ok "-V: version" || bad "-V: $(cat "$dir/out")"

# Pseudonymised logs (log_pseudonymize = local-part, key tests/trace/pseudo.key):
# --key --match finds a person's sessions though the log never names them.
cp "$data/pseudo.key" "$dir/key"
chmod 600 "$dir/key"
grep -qi 'alice\|bob@' "$data/pseudo.ndjson" && bad "the pseudonymised sample names people" ||
    ok "the pseudonymised sample holds no clear names"
trace --key "$dir/key" --match alice@example.org "$data/pseudo.ndjson"
status "--match alice" 0
sessions "--key --match an address" "9d5cdd6e.1"
trace --key "$dir/key" --match '<bob@EXAMPLE.org>' "$data/pseudo.ndjson"
sessions "--match the address in brackets, domain in capitals" "9d5cdd6e.2"
trace --key "$dir/key" --match carol@example.org "$data/pseudo.ndjson"
sessions "--match nobody in the log" ""
trace --match alice@example.org "$data/pseudo.ndjson"
status "--match without --key" 2
chmod 644 "$dir/key"
trace --key "$dir/key" --match alice@example.org "$data/pseudo.ndjson"
status "a key others may read is refused" 1

# Tamper-evident logs (log_chain = yes, key tests/trace/pseudo.key): a rotated
# file and the file after a restart, linked by chain lines.
chmod 600 "$dir/key"
trace --key "$dir/key" --verify "$data/chain.1.ndjson" "$data/chain.ndjson"
status "--verify an intact chain" 0
has "--verify reports the lines" "chain intact: 21 lines in 2 files"
sed '4s/"seq":[0-9]*/"seq":77/' "$data/chain.ndjson" > "$dir/altered.ndjson"
trace --key "$dir/key" --verify "$data/chain.1.ndjson" "$dir/altered.ndjson"
status "--verify an altered line" 3
has "--verify names the altered line" "altered.ndjson:4: broken"
sed '3d' "$data/chain.ndjson" > "$dir/removed.ndjson"
trace --key "$dir/key" --verify "$data/chain.1.ndjson" "$dir/removed.ndjson"
has "--verify names the line after a removed one" "removed.ndjson:3: broken"
awk 'NR == 5 { l = $0; next } { print } NR == 6 { print l }' "$data/chain.ndjson" \
    > "$dir/reordered.ndjson"
trace --key "$dir/key" --verify "$data/chain.1.ndjson" "$dir/reordered.ndjson"
has "--verify names reordered lines" "reordered.ndjson:5: broken"
sed '5p' "$data/chain.ndjson" > "$dir/inserted.ndjson"
trace --key "$dir/key" --verify "$data/chain.1.ndjson" "$dir/inserted.ndjson"
has "--verify names an inserted line" "inserted.ndjson:6: broken"
trace --key "$dir/key" --verify "$data/chain.ndjson" "$data/chain.1.ndjson"
has "--verify: files out of order" "chain.1.ndjson:1: broken: this file does not follow"
cp "$data/pseudo.key" "$dir/key644"
chmod 644 "$dir/key644"
trace --key "$dir/key644" --verify "$data/chain.ndjson"
status "--verify with a key others may read" 1
trace "$data/chain.ndjson"
sessions "chain lines belong to no session" "0c22920a.2 35bd2377.1"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
