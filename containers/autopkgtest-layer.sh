#!/bin/sh
# The autopkgtest layer (as root, with network), over the target's base image: Debian's autopkgtest
# from the target's own archive; it runs the tests with its null runner inside a fresh container.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -q -y --no-install-recommends autopkgtest
apt-get clean
rm -rf /var/lib/apt/lists/*
autopkgtest --version 2>/dev/null || dpkg-query -W -f '${Version}\n' autopkgtest
