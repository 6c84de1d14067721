#!/usr/bin/env bash
# Throughput of swiftmount next to baselines measured in the same run on the same stack:
#   raw curl PUT/GET (the ceiling), python-swiftclient upload/download, swiftmount cp in / cat out.
# usage: scripts/bench.sh [--size MiB] [--runs N] [--segment-size 64M]
# Prints min/median/max MB/s (10^6 B/s) and each row's median as a ratio of curl's.
# Uses the dev stack (scripts/dev-stack.sh) and the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=1024 RUNS=3 SEGMENT=64M
while [ $# -gt 0 ]; do
  case $1 in
    --size) SIZE=$2; shift 2;; --runs) RUNS=$2; shift 2;; --segment-size) SEGMENT=$2; shift 2;;
    --quick) SIZE=256; RUNS=1; shift;;
    *) echo "unknown argument $1" >&2; exit 2;;
  esac
done

bash scripts/install-deps.sh --with-stack
# Hour-long tokens: the curl rows reuse one token for the whole run.
TOKEN_TTL=3600 bash scripts/dev-stack.sh start >/dev/null
swift build -c release --product swiftmount >/dev/null
eval "$(bash scripts/dev-stack.sh env demo)"

WORK=$(mktemp -d /var/tmp/swiftmount-bench.XXXXXX)
MNT=$WORK/mnt
CONTAINER=bench-$$
mkdir -p "$MNT"
PIDFILE=$WORK/daemon.pid
cleanup() {
  grep -q " $MNT " /proc/mounts && fusermount3 -u "$MNT"
  swiftclient delete "$CONTAINER" >/dev/null 2>&1 || true
  swiftclient delete "${CONTAINER}_segments" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

head -c "${SIZE}M" /dev/urandom > "$WORK/src"
BYTES=$(stat -c %s "$WORK/src")
swiftclient post "$CONTAINER"

# A token for curl, kept in a header file (mode 600), never on a command line.
read -r STORAGE_URL TOKEN_FILE < <(/usr/bin/python3 - "$WORK" <<'PY'
import json, os, sys, urllib.request
body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": os.environ["OS_USERNAME"], "domain": {"name": "Default"}, "password": os.environ["OS_PASSWORD"]}}},
    "scope": {"project": {"name": os.environ["OS_PROJECT_NAME"], "domain": {"name": "Default"}}}}}
req = urllib.request.Request(os.environ["OS_AUTH_URL"] + "/auth/tokens", data=json.dumps(body).encode(),
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req) as r:
    token = r.headers["X-Subject-Token"]
    cat = json.load(r)["token"]["catalog"]
url = [e["url"] for s in cat if s["type"] == "object-store" for e in s["endpoints"] if e["interface"] == "public"][0]
path = os.path.join(sys.argv[1], "token.hdr")
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
os.write(fd, ("X-Auth-Token: " + token + "\n").encode()); os.close(fd)
print(url, path)
PY
)

now() { date +%s.%N; }
declare -A RESULTS
measure() { # label command...
  local label=$1; shift
  local t0 t1 rates=()
  for ((i = 0; i < RUNS; i++)); do
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    t0=$(now); "$@"; t1=$(now)
    rates+=("$(echo "$BYTES / ($t1 - $t0) / 1000000" | bc -l)")
  done
  RESULTS[$label]=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.0f %.0f %.0f", a[1], a[int((NR+1)/2)], a[NR]}')
  printf '%-34s %s\n' "$label" "${RESULTS[$label]}" >&2
}

curl_put() { curl -sf -o /dev/null -H @"$TOKEN_FILE" -T "$WORK/src" "$STORAGE_URL/$CONTAINER/curl.bin"; }
curl_get() { curl -sf -o /dev/null -H @"$TOKEN_FILE" "$STORAGE_URL/$CONTAINER/curl.bin"; }
sc_put() { (cd "$WORK" && swiftclient upload --use-slo --segment-size 100M --object-name sc.bin "$CONTAINER" src >/dev/null); }
sc_get() { swiftclient download "$CONTAINER" sc.bin -o /dev/null >/dev/null; }
mount_fs() {
  .build/release/swiftmount "$CONTAINER" "$MNT" -o "segment_size=$SEGMENT,log_file=$WORK/daemon.log"
}
sm_put() { cp "$WORK/src" "$MNT/sm.bin"; }
sm_get() { cat "$MNT/sm.bin" > /dev/null; }

measure "curl PUT" curl_put
measure "curl GET" curl_get
measure "swiftclient upload (SLO 100M)" sc_put
measure "swiftclient download" sc_get
mount_fs
measure "swiftmount cp in" sm_put
measure "swiftmount cat out" sm_get
HWM=$(grep VmHWM /proc/"$(pgrep -f "swiftmount $CONTAINER $MNT" | head -1)"/status | awk '{print $2}')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
med() { echo "${RESULTS[$1]}" | awk '{print $2}'; }
echo
echo "| $SIZE MiB file, $RUNS runs, $(nproc) cores, $(date -u +%F) | MB/s min | median | max | median vs curl |"
echo "|---|---|---|---|---|"
for row in "curl PUT:curl PUT" "swiftclient upload (SLO 100M):curl PUT" "swiftmount cp in:curl PUT" \
           "curl GET:curl GET" "swiftclient download:curl GET" "swiftmount cat out:curl GET"; do
  label=${row%%:*}; base=${row##*:}
  read -r mn md mx <<< "${RESULTS[$label]}"
  echo "| $label | $mn | $md | $mx | $(ratio "$md" "$(med "$base")") |"
done
echo
echo "swiftmount daemon peak RSS (VmHWM): $((HWM / 1024)) MiB (segment_size=$SEGMENT)"
