#!/bin/sh
# Install what the Sendmail end-to-end harness (tests/e2e/sendmail_mta.py) needs,
# without installing Sendmail itself: the sendmail-bin package conflicts with
# postfix (which the Postfix harness needs on the same machine), so its .debs are
# only downloaded and unpacked into a cache directory.
#
#   cache dir: ${SESSGUARD_E2E_CACHE:-/var/cache/sessguard-e2e}/sendmail
#     debs/   the downloaded .deb files
#     root/   their unpacked contents (usr/libexec/sendmail/sendmail,
#             usr/share/sendmail/cf/...)
#     .stamp  written when everything is in place (makes reruns fast)
#
# Idempotent; a rerun with everything in place only checks and exits.
# Needs root and Debian's apt (Debian 12: sendmail 8.17.1.9).
set -eu

CACHE="${SESSGUARD_E2E_CACHE:-/var/cache/sessguard-e2e}/sendmail"
DEBS="$CACHE/debs"
ROOT="$CACHE/root"
STAMP="$CACHE/.stamp"

# Runtime libraries of usr/libexec/sendmail/sendmail, plus the tools the harness
# runs: m4 (builds the .cf), saslpasswd2 (sasl2-bin), the SASL PLAIN/LOGIN plugins
# and sasldb auxprop (libsasl2-modules, libsasl2-modules-db), openssl (test
# certificate), unshare/mount (util-linux, mount).
PKGS="m4 sasl2-bin libsasl2-2 libsasl2-modules libsasl2-modules-db openssl \
libwrap0 libdb5.3 libldap-2.5-0 liblockfile1 libnsl2 libssl3 util-linux mount"
SM_PKGS="sendmail-bin sendmail-cf sensible-mda"

if [ "$(id -u)" != 0 ]; then
    echo "sendmail-install-deps.sh: must run as root" >&2
    exit 1
fi

all_installed() {
    for p in $PKGS; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || return 1
    done
    return 0
}

if [ -f "$STAMP" ] && [ -x "$ROOT/usr/libexec/sendmail/sendmail" ] \
   && [ ! -g "$ROOT/usr/libexec/sendmail/sendmail" ] \
   && [ -f "$ROOT/usr/share/sendmail/cf/m4/cf.m4" ] && all_installed \
   && [ -d /usr/lib/sasl2 ]; then
    echo "sendmail e2e deps: already in place ($ROOT)"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! all_installed; then
    apt-get update -q || true
    apt-get install -y -q --no-install-recommends $PKGS
fi

mkdir -p "$DEBS" "$ROOT"
# apt-get download writes into the current directory; the _apt sandbox user
# cannot write into a root-owned cache dir, so download as root explicitly.
cd "$DEBS"
need=""
for p in $SM_PKGS; do
    ls "$DEBS"/"${p}"_*.deb >/dev/null 2>&1 || need="$need $p"
done
if [ -n "$need" ]; then
    if ! apt-get -o APT::Sandbox::User=root download $need; then
        apt-get update -q || true
        apt-get -o APT::Sandbox::User=root download $need
    fi
fi
for f in "$DEBS"/*.deb; do
    dpkg-deb -x "$f" "$ROOT"
done
# Our private copy runs as root only. Without the setgid bit the kernel keeps
# the parent-death signal across exec, so Sendmail dies with its harness.
chmod g-s "$ROOT/usr/libexec/sendmail/sendmail"

# The mount point that Sendmail's SASL configuration is bind-mounted over
# (Sendmail reads <app>.conf only from the system SASL path).
mkdir -p /usr/lib/sasl2

test -x "$ROOT/usr/libexec/sendmail/sendmail"
test -f "$ROOT/usr/share/sendmail/cf/m4/cf.m4"
missing=$(ldd "$ROOT/usr/libexec/sendmail/sendmail" | grep 'not found' || true)
if [ -n "$missing" ]; then
    echo "sendmail e2e deps: libraries missing:" >&2
    echo "$missing" >&2
    exit 1
fi
date -u +%FT%TZ > "$STAMP"
echo "sendmail e2e deps: ready in $ROOT"
