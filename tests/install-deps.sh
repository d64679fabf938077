#!/bin/sh
# Installs, as root on Debian 12, every Debian package that building and
# testing sessguard needs. Safe to run again.
set -eu
export DEBIAN_FRONTEND=noninteractive

BUILD_PKGS="build-essential autoconf automake pkg-config libmilter-dev libssl-dev"
TEST_PKGS="check miltertest python3 valgrind"
# End-to-end: a real Postfix (without a system instance), Cyrus SASL,
# OpenSSL for test certificates, swaks as a second SMTP client, and what
# the Sendmail harness unpacks by hand (it conflicts with postfix).
E2E_PKGS="postfix sasl2-bin libsasl2-modules openssl swaks m4 libwrap0 procps util-linux"

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: not root; assuming these are installed:" \
	    "$BUILD_PKGS $TEST_PKGS $E2E_PKGS" >&2
	exit 0
fi
echo "postfix postfix/main_mailer_type select No configuration" \
    | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends $BUILD_PKGS $TEST_PKGS \
    $E2E_PKGS >/dev/null
# The postfix package starts nothing without a configuration; make sure
# no system instance runs beside the private test instances.
if command -v systemctl >/dev/null 2>&1; then
	systemctl disable --now postfix >/dev/null 2>&1 || true
fi
