#!/bin/sh
# Install what the Postfix end-to-end tests (tests/e2e/run_e2e.py) need, without
# setting up a system mail server: the debconf answer "No configuration" keeps
# postfix from writing /etc/postfix/main.cf or starting a system instance.
# Idempotent; needs root and Debian's apt (checked on Debian 12, Postfix 3.7).
# Sendmail's pieces are installed by sendmail-install-deps.sh (they conflict with
# the postfix package, so they are only unpacked, never installed).
set -eu

PKGS="postfix sasl2-bin libsasl2-modules libsasl2-modules-db openssl python3"

if [ "$(id -u)" != 0 ]; then
    echo "install-deps.sh: must run as root" >&2
    exit 1
fi

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' \
        || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "postfix e2e deps: already installed"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Must be answered BEFORE postfix is installed.
echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
apt-get update -q
# policy-rc.d or not: never start the system instance (no systemd in containers).
apt-get install -y -q --no-install-recommends $missing
echo "postfix e2e deps: installed:$missing"
