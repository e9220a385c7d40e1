#!/bin/sh
# One autopkgtest run (kronos/qa/autopkgtest.py), as root in a throwaway container with network (the
# tests' dependencies come from the archive): the .dsc's debian/tests with autopkgtest's null runner,
# against the .debs in /kronos/in (ours: pinned by autopkgtest over the archive's), or, with none, the
# archive's own binaries (the baseline). Results in /kronos/out (summary, run/: autopkgtest's logs). Its exit is autopkgtest's.
set -u
export DEBIAN_FRONTEND=noninteractive
mkdir -p /kronos/out
: > /kronos/out/summary
cd /kronos/in
set -- *.dsc
dsc=$1
apt-get update -q >/dev/null || { echo "kronos: apt-get update failed" >&2; exit 16; }
debs=$(ls ./*.deb 2>/dev/null | tr '\n' ' ')
# without .debs: the archive's binaries (autopkgtest would otherwise build the .dsc itself)
if [ -n "$debs" ]; then args="$debs"; else args="--no-built-binaries"; fi
echo "+ autopkgtest --output-dir /kronos/out/run --summary-file /kronos/out/summary $dsc $args -- null"
# shellcheck disable=SC2086
timeout --kill-after=30 "${KRONOS_AUTOPKGTEST_SECONDS:-14400}" \
    autopkgtest --output-dir /kronos/out/run --summary-file /kronos/out/summary "$dsc" $args -- null
code=$?
rm -rf /kronos/out/run/binaries  # copies of the packages under test: not worth keeping
echo "kronos: autopkgtest exit $code"
exit $code
