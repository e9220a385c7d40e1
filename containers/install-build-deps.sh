#!/bin/sh
# Phase 1 (trusted, with network, as root): install the build dependencies of the
# source package in /kronos/src. The container is then committed as the build-deps layer.
# Environment: KRONOS_PROFILES (comma list), KRONOS_EXTRA_SOURCES (one "deb ..." line each).
set -eu
export DEBIAN_FRONTEND=noninteractive
if [ -n "${KRONOS_EXTRA_SOURCES:-}" ]; then
    printf '%s\n' "$KRONOS_EXTRA_SOURCES" > /etc/apt/sources.list.d/kronos-extra.list
fi
if [ -f /kronos/local/Packages ]; then
    echo "deb [trusted=yes] file:/kronos/local ./" > /etc/apt/sources.list.d/kronos-local.list
fi
apt-get update --error-on=any
set -- /kronos/src/*.dsc
profiles=""
if [ -n "${KRONOS_PROFILES:-}" ]; then profiles="-P $KRONOS_PROFILES"; fi
# shellcheck disable=SC2086
apt-get build-dep -y --no-install-recommends $profiles "$1"
apt-get clean
rm -rf /kronos/src /var/lib/apt/lists/*
