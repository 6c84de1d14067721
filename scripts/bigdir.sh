#!/usr/bin/env bash
# ls -l of one directory of N objects written as swiftmount writes them (listed attributes in
# their Content-Type), on a cold and a warm mount: time, HEAD requests (proxy log) and the
# daemon's RSS growth. Too slow for CI (creating 100,000 objects takes minutes).
# usage: scripts/bigdir.sh [--objects N] [--attr-timeout SECONDS (also dir_cache_ttl)] [--keep]
#   --keep: the container (bigdir-N) stays for the next run, which then skips creating it.
set -euo pipefail
cd "$(dirname "$0")/.."
N=100000 ATTR=60 KEEP=
while [ $# -gt 0 ]; do
  case $1 in
    --objects) N=$2; shift 2;; --attr-timeout) ATTR=$2; shift 2;; --keep) KEEP=1; shift;;
    *) echo "unknown argument $1" >&2; exit 2;;
  esac
done
bash scripts/install-deps.sh --with-stack
bash scripts/dev-stack.sh start >/dev/null
swift build -c release --product swiftmount >/dev/null
eval "$(bash scripts/dev-stack.sh env demo)"
WORK=$(mktemp -d /var/tmp/swiftmount-bigdir.XXXXXX)
MNT=$WORK/mnt CONTAINER=bigdir-$N PID=
mkdir -p "$MNT"
cleanup() {
  grep -q " $MNT " /proc/mounts && fusermount3 -u -z "$MNT"
  [ -n "$KEEP" ] || swiftclient delete "$CONTAINER" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
PROXY_LOG=${SWIFTMOUNT_STACK_DIR:-/var/lib/swiftmount-dev}/log/proxy-keystone.log
if [ "$(swiftclient stat "$CONTAINER" 2>/dev/null | awk '/Objects:/ {print $2}')" != "$N" ]; then
  t0=$(date +%s.%N)
  /usr/bin/python3 scripts/devstack/put_listed.py "$CONTAINER" "$N"
  echo "created $N objects in $(echo "$(date +%s.%N) - $t0" | bc) s" >&2
fi
# Baseline: the same listing with python-swiftclient (page after page, as the mount lists).
t0=$(date +%s.%N)
listed=$(swiftclient list "$CONTAINER" --prefix big/ --delimiter / | wc -l)
echo "baseline: swiftclient lists the $listed names in $(echo "$(date +%s.%N) - $t0" | bc) s" >&2
rss() { awk '/VmRSS/ {printf "%d", $2 / 1024}' "/proc/$PID/status"; }
heads() { grep -c "HEAD /v1/[^ ]*/$CONTAINER/big/" "$PROXY_LOG" || true; }
.build/release/swiftmount "$CONTAINER" "$MNT" -o "attr_timeout=$ATTR,dir_cache_ttl=$ATTR,log_file=$WORK/swiftmount.log"
PID=$(pgrep -n -f "swiftmount $CONTAINER $MNT")
before_rss=$(rss) before_heads=$(heads)
t0=$(date +%s.%N); lines=$(ls -l "$MNT/big" | wc -l); t1=$(date +%s.%N)
# The kernel closes the directory in the daemon after ls exits (releasedir is asynchronous):
# RSS is read once the reading has ended there.
sleep 2
cold_rss=$(rss)
t2=$(date +%s.%N); ls -l "$MNT/big" >/dev/null; t3=$(date +%s.%N)
sleep 2
echo "ls -l of $N objects ($((lines - 1)) listed): cold $(echo "$t1 - $t0" | bc) s, warm $(echo "$t3 - $t2" | bc) s;" \
  "$(( $(heads) - before_heads )) HEADs; RSS $before_rss → $cold_rss → $(rss) MiB, peak" \
  "$(awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$PID/status") MiB (attr_timeout=dir_cache_ttl=$ATTR)"
fusermount3 -u "$MNT"
