#!/bin/sh
# Phase 2 (untrusted, no network, as the builder user): unpack the source package in
# /build/src and build the binary packages; the results are moved to /build/out.
# Environment: KRONOS_PROFILES, DEB_BUILD_OPTIONS.
set -eu
cd /build
set -- src/*.dsc
dpkg-source --no-check -x "$1" pkg
cd pkg
profiles=""
if [ -n "${KRONOS_PROFILES:-}" ]; then profiles="-P$KRONOS_PROFILES"; fi
echo "kronos: DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-} profiles=${KRONOS_PROFILES:-none}"
echo "kronos: building as $(id -un) with network interfaces: $(ls /sys/class/net | tr '\n' ' ')"
# shellcheck disable=SC2086
dpkg-buildpackage -us -uc -b $profiles
cd /build
mkdir -p out
for f in *.deb *.udeb *.ddeb *.buildinfo *.changes; do
    [ -e "$f" ] && mv "$f" out/
done
ls -l out
