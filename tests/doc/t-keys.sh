#!/bin/sh
# The configuration keys are written down in three places besides the key
# table of src/config.c: the output of sessguard -n, the KEYS section of
# doc/sessguard.conf.5 (each key a ".TP" followed by ".B key") and
# contrib/sessguard.conf.example ("key =" lines). All three must list the
# same keys in the same order, the order of the table.
# Environment: SESSGUARD names the daemon binary; SG_MANPAGE and
# SG_EXAMPLE may name other files to check (the tests of this test).
set -u
: "${SESSGUARD:?SESSGUARD must name the daemon binary}"
srcdir=$(dirname "$0")/../..
page=${SG_MANPAGE:-$srcdir/doc/sessguard.conf.5}
example=${SG_EXAMPLE:-$srcdir/contrib/sessguard.conf.example}
dir=$(mktemp -d "${TMPDIR:-/tmp}/sg-keys.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }

# compare NAME FILE: FILE against the keys of sessguard -n, in order
compare() {
	if [ ! -s "$2" ]; then
		bad "$1: no keys found"
	elif cmp -s "$dir/table" "$2"; then
		ok "$1 lists the $(wc -l < "$2" | tr -d ' ') keys of sessguard -n in order"
	else
		bad "$1 differs from sessguard -n (< table, > $1): $(diff "$dir/table" "$2" | grep '^[<>]' | tr '\n' ' ')"
	fi
}

if "$SESSGUARD" -n -c /dev/null > "$dir/n.out" 2>&1; then
	ok "sessguard -n -c /dev/null"
else
	bad "sessguard -n -c /dev/null failed: $(head -3 "$dir/n.out")"
fi
sed -n 's/^\([a-z_][a-z0-9_]*\) = .*/\1/p' "$dir/n.out" > "$dir/table"

# The man page: in the KEYS section, the ".B key" line right after ".TP".
if [ -r "$page" ]; then
	awk '
		/^\.SH / { inkeys = ($2 == "KEYS"); tp = 0; next }
		!inkeys { next }
		/^\.TP/ { tp = 1; next }
		tp && /^\.B / { print $2 }
		{ tp = 0 }
	' "$page" > "$dir/page"
	compare "$(basename "$page")" "$dir/page"
else
	bad "cannot read $page"
fi

# The example configuration: the "key =" lines (comments do not count).
if [ -r "$example" ]; then
	sed -n 's/^\([a-z_][a-z0-9_]*\)[ 	]*=.*/\1/p' "$example" > "$dir/example"
	compare "$(basename "$example")" "$dir/example"
else
	bad "cannot read $example"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
