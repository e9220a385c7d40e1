#!/bin/sh
# The reproducibility gate's layer (as root, with network), over a build-deps layer: libfaketime's
# faketime, the second build's user (another uid and name than the builder's) and its directory ($1).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -q -y --no-install-recommends faketime
apt-get clean
rm -rf /var/lib/apt/lists/*
useradd --create-home --uid 1001 --shell /bin/sh rebuilder
install -d -o rebuilder -g rebuilder "$1"
faketime -f "+398d" date -u
