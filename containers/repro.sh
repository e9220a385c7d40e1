#!/bin/sh
# The reproducibility gate's second build (kronos/qa/repro.py): build.sh again, from this directory
# (another build path), as another user (another uid and name), with the wall clock 398 days ahead
# (datefudge), another timezone, locale and umask; DEB_BUILD_OPTIONS' parallel differs (set by
# kronos) and the container's hostname is its own. Bounded by KRONOS_REPRO_SECONDS.
# datefudge, not libfaketime: datefudge moves what the clock calls answer and nothing else, while
# libfaketime 0.9.10 either fails utime(NULL) with EINVAL at random (dpkg-source does that) or, with
# FAKE_UTIME=1, shifts every explicitly set file time by the offset, so that an upstream file's mtime
# in the .deb differs by 398 days: a difference of the tool, not of the package.
set -eu
umask 0002
cd "$(dirname "$0")"
export TZ=Etc/GMT-14 LANG=C.UTF-8 LC_ALL=C.UTF-8
echo "kronos repro: as $(id -un) (uid $(id -u)) in $(pwd), umask $(umask), TZ=$TZ, LC_ALL=$LC_ALL," \
     "hostname $(hostname), DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-}"
ahead=$(date -u -d '+398 days' '+%Y-%m-%d %H:%M:%S')
echo "kronos repro: the clock at $ahead UTC"
# not exec'd: this shell is the container's PID 1, and coreutils 9.10's timeout (sid) exits 125 as PID 1
timeout --kill-after=30 "${KRONOS_REPRO_SECONDS:-14400}" datefudge "$ahead" /bin/sh ./build.sh
exit $?
