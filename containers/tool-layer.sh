#!/bin/sh
# A tool layer (kronos/layers.py), as root with network: the packages the arguments name, from the
# target's own archive; then, when KRONOS_LAYER_USER is set, that user (uid KRONOS_LAYER_UID) and its
# directory KRONOS_LAYER_DIR (the repro layer's second builder).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -q -y --no-install-recommends "$@"
apt-get clean
rm -rf /var/lib/apt/lists/*
if [ -n "${KRONOS_LAYER_USER:-}" ]; then
    useradd --create-home --uid "$KRONOS_LAYER_UID" --shell /bin/sh "$KRONOS_LAYER_USER"
    install -d -o "$KRONOS_LAYER_USER" -g "$KRONOS_LAYER_USER" "$KRONOS_LAYER_DIR"
fi
dpkg-query -W "$@"
