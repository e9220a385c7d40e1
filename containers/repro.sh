#!/bin/sh
# The reproducibility gate's second build (kronos/qa/repro.py): build.sh again, from this directory
# (another build path), as another user (another uid and name), with the wall clock 398 days ahead
# (libfaketime), another timezone, locale and umask; DEB_BUILD_OPTIONS' parallel differs (set by
# kronos) and the container's hostname is its own. Bounded by KRONOS_REPRO_SECONDS.
set -eu
umask 0002
cd "$(dirname "$0")"
export TZ=Etc/GMT-14 LANG=C.UTF-8 LC_ALL=C.UTF-8
# FAKE_UTIME=1: libfaketime 0.9.10 fakes utime(NULL) too (without it, touching a file "now", as
# dpkg-source does, fails with EINVAL at random); its stat() then reports the faked times, consistently
export FAKETIME_DONT_FAKE_MONOTONIC=1 FAKE_UTIME=1
echo "kronos repro: as $(id -un) (uid $(id -u)) in $(pwd), umask $(umask), TZ=$TZ, LC_ALL=$LC_ALL," \
     "hostname $(hostname), DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-}"
exec timeout --kill-after=30 "${KRONOS_REPRO_SECONDS:-14400}" faketime -f "+398d" /bin/sh ./build.sh
