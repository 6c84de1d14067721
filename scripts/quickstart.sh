#!/usr/bin/env bash
# From a fresh Debian 12 machine (as root) to a mounted container:
#   scripts/quickstart.sh [CONTAINER] [MOUNTPOINT]      (defaults: images /mnt/swiftmount/images)
# Installs packages, builds swiftmount (release), and mounts. With OS_* or ST_* credentials in the
# environment it mounts that cloud; otherwise it starts the local Swift + Keystone stack
# (scripts/dev-stack.sh) and mounts a container of its demo user.
set -euo pipefail
cd "$(dirname "$0")/.."
CONTAINER=${1:-images}
MOUNTPOINT=${2:-/mnt/swiftmount/$CONTAINER}

if [ -z "${OS_AUTH_URL:-}${ST_AUTH:-}" ]; then
  bash scripts/install-deps.sh --with-stack
  bash scripts/dev-stack.sh start
  eval "$(bash scripts/dev-stack.sh env demo)"
  # Create the container (idempotent); credentials come from the environment, not argv.
  swiftclient post "$CONTAINER"
else
  bash scripts/install-deps.sh
fi

swift build -c release --product swiftmount
mkdir -p "$MOUNTPOINT"
if grep -q " $MOUNTPOINT fuse.swiftmount " /proc/mounts; then fusermount3 -u "$MOUNTPOINT"; fi
.build/release/swiftmount "$CONTAINER" "$MOUNTPOINT" -o log_file=/var/log/swiftmount-"$CONTAINER".log
echo "quickstart: container '$CONTAINER' is mounted on $MOUNTPOINT (log: /var/log/swiftmount-$CONTAINER.log)"
echo "quickstart: try  cp some.img $MOUNTPOINT/ && sha256sum $MOUNTPOINT/some.img ;  unmount with  fusermount3 -u $MOUNTPOINT"
