#!/bin/sh
# The Debian package, as root on Debian 12: builds sessguard_*.deb with
# dpkg-buildpackage from a clean copy of the tree (its own "make check"
# included), installs it, checks what it installed (daemon, configuration,
# system user, man pages, unit, tmpfiles, logrotate), runs one miltertest
# session against the installed /usr/sbin/sessguard, and purges the package
# again (and the sessguard user and group, if this script made them).
#   sh tests/pkg/run.sh            DEB_BUILD_OPTIONS is passed on (nocheck
#                                  skips the package build's make check)
# Ends with one line "N passed, N failed"; exit status 0 only if none failed.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
export DEBIAN_FRONTEND=noninteractive
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }
finish() { echo "$pass passed, $fail failed"; [ $fail -eq 0 ]; exit $?; }
# check NAME COMMAND...: one check by exit status
check() {
	name=$1
	shift
	if "$@" >"$work/check.out" 2>&1; then
		ok "$name"
	else
		bad "$name: $(head -5 "$work/check.out" | tr '\n' ' ')"
	fi
}

if [ "$(id -u)" != 0 ]; then
	echo "not ok - tests/pkg/run.sh installs packages: run it as root"
	echo "0 passed, 1 failed"
	exit 1
fi

work=$(mktemp -d /tmp/sg-pkg.XXXXXX) || exit 1
had_user=no
getent passwd sessguard >/dev/null && had_user=yes
had_group=no
getent group sessguard >/dev/null && had_group=yes
installed=no
cleanup() {
	# a filter that miltertest left behind (found by our private config path)
	for p in $(pgrep -f "$work/mt/sessguard.conf"); do
		kill "$p" 2>/dev/null
	done
	if [ $installed = yes ]; then
		apt-get purge -y -qq sessguard >"$work/purge.log" 2>&1 ||
		    cat "$work/purge.log"
	fi
	if [ $had_user = no ] && getent passwd sessguard >/dev/null; then
		deluser --system --quiet sessguard >/dev/null 2>&1
	fi
	if [ $had_group = no ] && getent group sessguard >/dev/null; then
		delgroup --system --quiet sessguard >/dev/null 2>&1
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# 1. Build dependencies (from debian/control) and the packaging tools.
if apt-get update -qq >"$work/apt.log" 2>&1 &&
    apt-get install -y -qq --no-install-recommends dpkg-dev debhelper \
    fakeroot build-essential miltertest man-db >>"$work/apt.log" 2>&1 &&
    apt-get build-dep -y -qq "$top" >>"$work/apt.log" 2>&1; then
	ok "build dependencies installed"
else
	bad "apt-get failed: $(tail -5 "$work/apt.log" | tr '\n' ' ')"
	finish
fi

# 2. A clean copy of the tree: the files git knows of, plus new ones that
# are not ignored (no build products); without git, everything (the
# package build's clean step removes a previous build).
mkdir "$work/src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$top" && git ls-files -co --exclude-standard |
	    grep -v -e '\.so$' -e '~$' -e '^debian/sessguard/' \
	        -e '^debian/\.debhelper/' -e '^debian/files$' \
	        -e '^debian/debhelper-build-stamp$' -e '\.substvars$' |
	    while read -r f; do [ -e "$f" ] || [ -L "$f" ] && printf '%s\n' "$f"; done |
	    tar -cf - -T -) | tar -xf - -C "$work/src"
else
	(cd "$top" && tar -cf - --exclude=autom4te.cache .) | tar -xf - -C "$work/src"
fi
check "clean copy has debian/control" test -f "$work/src/debian/control"

# 3. Build.
start=$(date +%s)
if (cd "$work/src" && DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$(nproc)}" \
    timeout -k 5 240 dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b ($(($(date +%s) - start)) s)"
else
	bad "dpkg-buildpackage failed (or took more than 240 s); the end of its log:"
	tail -60 "$work/build.log"
	for f in "$work"/src/tests/*/*.log; do
		grep -q '^FAIL' "$f" 2>/dev/null && { echo "--- $f"; tail -20 "$f"; }
	done
	finish
fi
grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR):' "$work/build.log" | sed 's/^/    make check: /'
deb=$(ls "$work"/sessguard_*.deb 2>/dev/null | grep -v dbgsym | head -1)
check "a sessguard_*.deb was built" test -n "$deb"

# 4. Install it.
if apt-get install -y -qq "$deb" >"$work/install.log" 2>&1; then
	installed=yes
	ok "apt-get install ./$(basename "$deb")"
else
	installed=yes
	bad "install failed: $(tail -5 "$work/install.log" | tr '\n' ' ')"
	finish
fi

sg=/usr/sbin/sessguard
check "$sg -V" sh -c "$sg -V | grep -q '^sessguard [0-9]'"
check "$sg -n reads /etc/sessguard/sessguard.conf" sh -c \
    "$sg -n | grep -q 'configuration /etc/sessguard/sessguard.conf is valid' &&
     $sg -n | grep -q '^user = sessguard\$'"
check "/etc/sessguard/sessguard.conf is a conffile" sh -c \
    "dpkg-query -W -f='\${Conffiles}' sessguard | grep -q ' /etc/sessguard/sessguard.conf '"
check "user sessguard exists" id sessguard
check "group sessguard exists" getent group sessguard
check "man -w sessguard" sh -c "man -w sessguard | grep -q 'man8/sessguard.8'"
check "man -w sessguard.conf" sh -c "man -w 5 sessguard.conf | grep -q 'man5/sessguard.conf.5'"
check "/usr/bin/sessguard-probe -V" sh -c "/usr/bin/sessguard-probe -V | grep -q '^sessguard-probe [0-9]'"
for page in "8 sessguard" "5 sessguard.conf" "1 sessguard-probe"; do
	check "man $page renders without warnings" sh -c \
	    "MANWIDTH=80 man --warnings $page 2>&1 >/dev/null | grep . && exit 1; exit 0"
done
unit=$(dpkg -L sessguard | grep '/systemd/system/sessguard.service$')
check "systemd unit installed" test -f "$unit"
check "systemd unit not enabled" test ! -e /etc/systemd/system/multi-user.target.wants/sessguard.service
check "tmpfiles.d entry installed" test -f /usr/lib/tmpfiles.d/sessguard.conf
check "/run/sessguard belongs to sessguard" sh -c \
    "[ \"\$(stat -c '%U:%G %a' /run/sessguard)\" = 'sessguard:sessguard 750' ]"
check "/var/log/sessguard belongs to sessguard" sh -c \
    "[ \"\$(stat -c '%U' /var/log/sessguard)\" = sessguard ]"
check "logrotate file installed" test -f /etc/logrotate.d/sessguard

# 5. One miltertest session against the installed daemon: an authenticated
# relay is let through, one without authentication is rejected.
mt=$work/mt
mkdir "$mt"
cat >"$mt/sessguard.conf" <<EOF
socket = unix:$mt/sessguard.sock
log = file:$mt/log.jsonl
local_domains = example.org
EOF
cat >"$mt/t.lua" <<'EOF'
function expect(conn, want, what)
	local got = mt.getreply(conn)
	if got ~= want then
		print("FAIL: " .. what .. ": got " .. tostring(got))
		os.exit(1)
	end
end
function sess(client, user)
	local conn = mt.connect("unix:" .. DIR .. "/sessguard.sock", 100, 0.05)
	if conn == nil then
		print("FAIL: cannot connect to the filter")
		os.exit(1)
	end
	assert(mt.conninfo(conn, "client.example.net", client) == nil)
	expect(conn, SMFIR_CONTINUE, "connect")
	assert(mt.helo(conn, "client.example.net") == nil)
	expect(conn, SMFIR_CONTINUE, "helo")
	if user ~= nil then
		assert(mt.macro(conn, SMFIC_MAIL, "{auth_authen}", user,
		    "{auth_type}", "PLAIN") == nil)
	else
		assert(mt.macro(conn, SMFIC_MAIL, "i", "NOAUTH") == nil)
	end
	assert(mt.mailfrom(conn, "<alice@example.org>") == nil)
	expect(conn, SMFIR_CONTINUE, "mail")
	return conn
end
mt.startfilter(SESSGUARD, "-f", "-c", CONF)
local conn = sess("192.0.2.10", "alice")
assert(mt.rcptto(conn, "<bob@remote.test>") == nil)
expect(conn, SMFIR_CONTINUE, "authenticated relay rcpt")
mt.disconnect(conn)
conn = sess("192.0.2.11", nil)
assert(mt.rcptto(conn, "<bob@remote.test>") == nil)
expect(conn, SMFIR_REPLYCODE, "unauthenticated relay rcpt")
mt.disconnect(conn)
print("OK")
EOF
if timeout 60 miltertest -D "SESSGUARD=$sg" -D "CONF=$mt/sessguard.conf" \
    -D "DIR=$mt" -s "$mt/t.lua" >"$mt/out" 2>&1 && grep -q '^OK$' "$mt/out"; then
	ok "miltertest: authenticated relay continues, unauthenticated gets a reply code"
else
	bad "miltertest session: $(tr '\n' ' ' <"$mt/out")"
fi
check "log: authenticated relay accepted" grep -q \
    '"event":"rcpt".*"verdict":"accept".*authenticated as alice' "$mt/log.jsonl"
check "log: unauthenticated relay rejected" grep -q \
    '"event":"rcpt".*"verdict":"reject".*not authenticated' "$mt/log.jsonl"

# 6. Purge: nothing of the package stays.
if apt-get purge -y -qq sessguard >"$work/purge.log" 2>&1; then
	installed=no
	ok "apt-get purge -y sessguard"
else
	bad "purge failed: $(tail -5 "$work/purge.log" | tr '\n' ' ')"
fi
check "daemon, configuration and logs are gone" sh -c \
    "[ ! -e $sg ] && [ ! -e /etc/sessguard ] && [ ! -e /var/log/sessguard ]"
finish
