#!/usr/bin/env bash
# Installs swiftmount so that mount(8) and /etc/fstab can use it:
#   scripts/install.sh [--binary PATH] [--prefix /usr/local]
# Builds the release binary (unless --binary names one) and installs it as PREFIX/bin/swiftmount,
# with the man page swiftmount(8).
# `mount -t fuse.swiftmount CONTAINER DIR -o ...` and fstab lines of type fuse.swiftmount then work
# through fuse3's mount helper (/sbin/mount.fuse3), which runs `swiftmount CONTAINER DIR -o ...`
# with a reset PATH (so the binary must be in /usr/local/bin, /usr/bin or /sbin).
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=/usr/local
BINARY=
while [ $# -gt 0 ]; do
  case $1 in
    --binary) BINARY=$2; shift 2;;
    --prefix) PREFIX=$2; shift 2;;
    *) echo "usage: scripts/install.sh [--binary PATH] [--prefix DIR]" >&2; exit 2;;
  esac
done
bash scripts/install-deps.sh
if [ -z "$BINARY" ]; then
  swift build -c release --product swiftmount
  BINARY=.build/release/swiftmount
fi
install -D -m 0755 "$BINARY" "$PREFIX/bin/swiftmount"
install -D -m 0644 docs/swiftmount.8 "$PREFIX/share/man/man8/swiftmount.8"
[ -x /sbin/mount.fuse3 ] || { echo "install: /sbin/mount.fuse3 is missing (package fuse3)" >&2; exit 1; }
echo "installed $PREFIX/bin/swiftmount; mount with: mount -t fuse.swiftmount CONTAINER DIR -o os_cloud=NAME"
