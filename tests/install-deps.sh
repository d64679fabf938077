#!/bin/sh
# Installs, as root on Debian 12, every Debian package that building and
# testing sessguard needs, then what the end-to-end harness needs: a Postfix
# without a system instance, and Sendmail unpacked beside it (the two
# packages conflict). Safe to run again.
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

BUILD_PKGS="build-essential autoconf automake pkg-config libmilter-dev libssl-dev libjansson-dev zlib1g-dev libmicrohttpd-dev libcdb-dev libhiredis-dev"
TEST_PKGS="check miltertest python3 python3-yaml procps tinycdb redis-server"

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: not root; assuming installed: $BUILD_PKGS $TEST_PKGS" >&2
	exit 0
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends $BUILD_PKGS $TEST_PKGS >/dev/null
sh tests/e2e/install-deps.sh
sh tests/e2e/sendmail-install-deps.sh
