#!/bin/sh
# Builds the libFuzzer targets and runs each for a while:
#   sh tests/fuzz/run.sh [SECONDS] [TARGET...]
# SECONDS defaults to 60 a target; TARGET is config, evlog, addr, cidr,
# session or policyreq (all by default). Each target is compiled with clang
# straight from the sources (-fsanitize=fuzzer,address,undefined) into
# tests/fuzz/build/, and runs on a copy of its seed corpus
# (tests/fuzz/corpus/TARGET), which
# therefore never grows. A target passes when it ran its time without a
# crash, a broken invariant, a leak, a timeout or running out of memory, and
# every known reproducer in tests/fuzz/crashes/TARGET/ now runs clean.
# Ends with one line "N passed, N failed"; exit status 0 only if none failed.
# Findings are kept in tests/fuzz/build/artifacts/TARGET/ (see README).
# The sources are those of libsgcore.a in Makefile.am, linked with libcrypto
# and libcdb
# (SG_FUZZ_LIBS overrides); SG_FUZZ_RSS_MB the memory limit (2048), CC the
# compiler (clang).
set -u
cd "$(dirname "$0")/../.." || exit 1

secs=60
case ${1:-} in
[0-9]*) secs=$1; shift ;;
-*) echo "usage: sh tests/fuzz/run.sh [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac
targets=${*:-config evlog addr cidr session policyreq}
build=tests/fuzz/build
rss_mb=${SG_FUZZ_RSS_MB:-2048}

# The pure core as Makefile.am builds it (libsgcore.a), so that a new module
# needs no change here; every target links all of it.
CORE=$(sed -n '/^libsgcore_a_SOURCES/,/^$/p' Makefile.am | tr ' \t\\' '\n\n\n' |
    grep '^src/.*\.c$')
[ -n "$CORE" ] || CORE="src/util/strbuf.c src/util/json.c src/util/ipaddr.c
src/util/addr.c src/util/msg.c src/config.c src/evlog.c src/policy.c
src/session.c"

maxlen() {
	case $1 in
	config) echo 8192 ;; evlog) echo 8192 ;; addr) echo 1024 ;;
	cidr) echo 256 ;; session) echo 8192 ;; policyreq) echo 4096 ;;
	esac
}

find_cc() {
	for c in ${CC:-} clang clang-14; do
		command -v "$c" >/dev/null 2>&1 || continue
		printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)'\
'{ (void)d; (void)n; return 0; }\n' >"$build/probe.c"
		if "$c" -fsanitize=fuzzer,address,undefined "$build/probe.c" \
		    -o "$build/probe" >/dev/null 2>&1; then
			echo "$c"
			return 0
		fi
	done
	return 1
}

mkdir -p "$build" || exit 1
if ! cc=$(find_cc); then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "installing clang and libFuzzer (apt-get)"
		apt-get update -qq >/dev/null 2>&1
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    clang libclang-rt-14-dev >/dev/null 2>&1
	fi
	if ! cc=$(find_cc); then
		echo "clang with libFuzzer not found (Debian: apt-get install clang libclang-rt-14-dev)"
		echo "0 passed, 1 failed"
		exit 1
	fi
fi
echo "compiler: $($cc --version | head -1)"

CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
-fno-sanitize-recover=undefined -Wall -Wextra -D_GNU_SOURCE -pthread
-I src -I tests/unit -I tests/fuzz"
# what the core links with (Makefile.am: $(CRYPTO_LIBS), OpenSSL libcrypto;
# configure's LIBS: -lcdb, tinycdb, for sender_login_maps = cdb:/path;
# $(HIREDIS_LIBS) and -lm for the rate limits' Redis store)
LIBS=${SG_FUZZ_LIBS:-"$(pkg-config --libs libcrypto 2>/dev/null ||
    echo -lcrypto) -lcdb -lhiredis -lm"}
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

pass=0
fail=0
for t in $targets; do
	if [ ! -f "tests/fuzz/fuzz_$t.c" ]; then
		echo "fuzz_$t: no such target"
		fail=$((fail + 1))
		continue
	fi
	bin=$build/fuzz_$t
	work=$build/work/$t
	art=$build/artifacts/$t
	log=$build/fuzz_$t.log
	extra=""
	# config.c reads "file:" lists through the harness, never from disk
	[ "$t" = config ] && extra="-Dfopen=sg_fuzz_fopen"
	# shellcheck disable=SC2086
	if ! $cc $CFLAGS $extra -o "$bin" "tests/fuzz/fuzz_$t.c" $CORE $LIBS \
	    >"$build/fuzz_$t.build" 2>&1; then
		echo "fuzz_$t: build failed"
		sed 's/^/    /' "$build/fuzz_$t.build" | head -40
		fail=$((fail + 1))
		continue
	fi
	# known reproducers first: each must now run clean
	known=""
	for f in tests/fuzz/crashes/"$t"/*; do
		[ -f "$f" ] || continue
		if ! "$bin" -timeout=10 -rss_limit_mb="$rss_mb" "$f" \
		    >"$build/fuzz_$t.known.log" 2>&1; then
			known="$known $(basename "$f")"
		fi
	done
	rm -rf "$work" "$art"
	mkdir -p "$work" "$art"
	cp tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null
	seeds=$(ls "$work" | wc -l)
	dict=""
	[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$secs" -rss_limit_mb="$rss_mb" -timeout=25 \
	    -max_len="$(maxlen "$t")" -print_final_stats=1 \
	    -artifact_prefix="$art/" $dict "$work" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
	corp=$(ls "$work" | wc -l)
	found=$(ls "$art" 2>/dev/null)
	if [ $rc -eq 0 ] && [ -z "$found" ] && [ -z "$known" ]; then
		pass=$((pass + 1))
		verdict="nothing found: PASS"
	elif [ $rc -eq 0 ] && [ -z "$found" ]; then
		fail=$((fail + 1))
		verdict="nothing new found, but known reproducers still fail: FAIL"
	else
		fail=$((fail + 1))
		verdict="FOUND (exit $rc): FAIL"
	fi
	echo "fuzz_$t: ${runs:-0} runs, ${speed:-0} exec/s," \
	    "${cov:-cov: ?}, corpus $seeds -> $corp, $verdict"
	for f in $known; do
		echo "    known reproducer still fails: tests/fuzz/crashes/$t/$f"
	done
	if [ -n "$found" ]; then
		for f in $found; do
			echo "    reproducer: $art/$f  (rerun: $bin $art/$f)"
		done
	fi
	if [ $rc -ne 0 ] || [ -n "$found" ]; then
		grep -E -A12 'INVARIANT FAILED|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY' \
		    "$log" | head -40 | sed 's/^/    /'
	fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
