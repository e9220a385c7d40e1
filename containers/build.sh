#!/bin/sh
# Phase 2 (untrusted, no network, as the builder user): unpack the source package in
# <this directory>/src (/build/src; the reproducibility gate's second build puts it elsewhere) and
# build the binary packages; the results are moved to <this directory>/out.
# Environment: KRONOS_PROFILES, DEB_BUILD_OPTIONS.
set -eu
top=$(cd "$(dirname "$0")" && pwd)
cd "$top"
set -- src/*.dsc
dpkg-source --no-check -x "$1" pkg
cd pkg
profiles=""
if [ -n "${KRONOS_PROFILES:-}" ]; then profiles="-P$KRONOS_PROFILES"; fi
echo "kronos: DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-} profiles=${KRONOS_PROFILES:-none}"
echo "kronos: building as $(id -un) with network interfaces: $(ls /sys/class/net | tr '\n' ' ')"
# shellcheck disable=SC2086
dpkg-buildpackage -us -uc -b $profiles
cd "$top"
mkdir -p out
for f in *.deb *.udeb *.ddeb *.buildinfo *.changes; do
    [ -e "$f" ] && mv "$f" out/
done
# Build-tree files the recipe keeps (build.keep): "name<TAB>glob" lines in keep.list, each glob
# relative to the unpacked source and matching exactly one file, copied to out/<name>.
if [ -f keep.list ]; then
    tab=$(printf '\t')
    while IFS="$tab" read -r name pattern; do
        found=$(cd pkg && for f in $pattern; do [ -f "$f" ] && printf '%s\n' "$f"; done || true)
        count=$(printf '%s' "$found" | grep -c . || true)
        if [ "$count" -ne 1 ]; then
            echo "kronos: keep $name: '$pattern' matches $count files in the build tree, not one:" $found >&2
            exit 3
        fi
        cp "pkg/$found" "out/$name"
        echo "kronos: kept $found as $name"
    done < keep.list
fi
ls -l out
