#!/bin/sh
# The whole test suite, as the README's Quick start runs it:
#   sh tests/run.sh              install packages, build (-Werror), run
#                                unit, protocol (miltertest) and end-to-end
#                                (Postfix, Sendmail) tests
#   sh tests/run.sh --sanitize   the same, built with AddressSanitizer and
#                                UndefinedBehaviorSanitizer
#   --no-install                 skip apt-get (packages already there)
# Ends with one line "N passed, N failed"; exit status 0 only if none failed.
set -u
cd "$(dirname "$0")/.." || exit 1

sanitize=no
install=yes
for arg in "$@"; do
	case $arg in
	--sanitize) sanitize=yes ;;
	--no-install) install=no ;;
	*) echo "usage: sh tests/run.sh [--sanitize] [--no-install]" >&2; exit 2 ;;
	esac
done

if [ $install = yes ]; then
	sh tests/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
fi

CFLAGS="-O2 -g"
LDFLAGS=""
if [ $sanitize = yes ]; then
	CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
	LDFLAGS="-fsanitize=address,undefined"
	export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
	export SG_SANITIZE=1
fi

log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
build() {
	[ -f Makefile ] && make distclean >/dev/null 2>&1
	autoreconf -fi >/dev/null 2>&1 &&
	./configure --enable-werror CFLAGS="$CFLAGS" LDFLAGS="$LDFLAGS" >/dev/null &&
	make -j2 >/dev/null
}
if ! build; then
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi

make -j2 check >"$log" 2>&1
rc=$?
grep -E '^(PASS|FAIL|XPASS|ERROR|SKIP):' "$log"
if [ $rc -ne 0 ]; then
	cat test-suite.log 2>/dev/null | tail -100
fi
pass=$(sed -n 's/^# PASS: *//p' "$log" | tail -1)
fail=$(sed -n 's/^# FAIL: *//p' "$log" | tail -1)
err=$(sed -n 's/^# ERROR: *//p' "$log" | tail -1)
skip=$(sed -n 's/^# SKIP: *//p' "$log" | tail -1)
pass=${pass:-0}
fail=$(( ${fail:-0} + ${err:-0} ))
[ $rc -ne 0 ] && [ $fail -eq 0 ] && fail=1
skip=${skip:-0}

if [ -f tests/e2e/run_e2e.py ]; then
	SESSGUARD="$PWD/src/sessguard" python3 tests/e2e/run_e2e.py >"$log" 2>&1
	erc=$?
	cat "$log"
	if [ $erc -eq 77 ]; then
		skip=$((skip + 1))
	else
		ep=$(sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*/\1/p' "$log" | tail -1)
		ef=$(sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*/\2/p' "$log" | tail -1)
		pass=$((pass + ${ep:-0}))
		fail=$((fail + ${ef:-0}))
		[ $erc -ne 0 ] && [ "${ef:-0}" -eq 0 ] && fail=$((fail + 1))
	fi
fi

echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
