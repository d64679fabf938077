#!/bin/sh
# Quick start, as root on Debian 12: install the build dependencies, build
# sessguard, and run it in the foreground on its built-in defaults (socket
# unix:/run/sessguard/sessguard.sock, JSON log on stderr). Ctrl-C stops it.
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends build-essential autoconf \
    automake pkg-config libmilter-dev libssl-dev libjansson-dev zlib1g-dev \
    libmicrohttpd-dev libcdb-dev libhiredis-dev check >/dev/null
[ -f Makefile ] || { autoreconf -fi && ./configure; }
make -j2
mkdir -p /run/sessguard
exec ./src/sessguard -f
