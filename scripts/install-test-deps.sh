#!/bin/sh
# Installs everything the tests need on a fresh Debian machine: Python packages, and Debian's
# Chromium, redis-server, nginx and PostgreSQL (the tests start their own, on loopback).
# Never `playwright install`: it downloads its own browser, which this project does not use.
set -eu
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing="$missing redis-server"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx-light"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    # Whether or not the packages start their own services, the tests start their own servers.
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
# promtool (`promtool check metrics` on /metrics): only the one binary, taken out of Debian's
# `prometheus` package into tools/ (git-ignored), so that no Prometheus service is installed.
if [ ! -x tools/promtool ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    dir=$(mktemp -d)
    (cd "$dir" && apt-get download prometheus >/dev/null 2>&1) \
        || { $SUDO apt-get update -qq && (cd "$dir" && apt-get download prometheus >/dev/null 2>&1); }
    dpkg-deb -x "$dir"/prometheus_*.deb "$dir/x"
    mkdir -p tools
    cp "$dir/x/usr/bin/promtool" tools/promtool
    rm -rf "$dir"
fi
