#!/usr/bin/env bash
# swiftmount next to its peers, measured in one run on one stack with the same files:
#   raw curl PUT/GET (the ceiling), python-swiftclient, rclone copy, rclone mount (--vfs-cache-mode
#   off and writes), swiftmount; small files (100 x 1 MiB, 1,000 x 4 KiB) and metadata (ls -l of
#   5,000 objects, find over a 10,000-object tree) against rclone mount; each mount's peak RSS.
# usage: scripts/bench.sh [--quick] [--size MiB] [--runs N] [--segment-size 64M] [--out DIR]
# Each figure is min/median/max over the runs; every row's median is divided by its baseline's.
# Writes the table as Markdown and JSON to bench/results/latest.{md,json} (or --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=1024 RUNS=3 SEGMENT=64M OUT=bench/results
BIG_FILES=100 TINY_FILES=1000 LIST_OBJECTS=5000 TREE_OBJECTS=10000
while [ $# -gt 0 ]; do
  case $1 in
    --size) SIZE=$2; shift 2;; --runs) RUNS=$2; shift 2;; --segment-size) SEGMENT=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    --quick) SIZE=128 RUNS=1 BIG_FILES=20 TINY_FILES=200 LIST_OBJECTS=500 TREE_OBJECTS=1000; shift;;
    *) echo "unknown argument $1" >&2; exit 2;;
  esac
done

bash scripts/install-deps.sh --with-bench
# Hour-long tokens: curl reuses one token for the run, and rclone 1.60 refuses tokens that expire
# within a minute (it reports "Response didn't have storage url and auth token").
TOKEN_TTL=3600 bash scripts/dev-stack.sh start >/dev/null
swift build -c release --product swiftmount >/dev/null
eval "$(bash scripts/dev-stack.sh env demo)"
# rclone's remote "sw" from the environment: nothing on a command line. (Never run rclone with -vv
# here: its debug output prints the key.)
export RCLONE_CONFIG_SW_TYPE=swift RCLONE_CONFIG_SW_USER=$OS_USERNAME RCLONE_CONFIG_SW_KEY=$OS_PASSWORD \
  RCLONE_CONFIG_SW_AUTH=$OS_AUTH_URL RCLONE_CONFIG_SW_DOMAIN=$OS_USER_DOMAIN_NAME \
  RCLONE_CONFIG_SW_TENANT=$OS_PROJECT_NAME RCLONE_CONFIG_SW_TENANT_DOMAIN=$OS_PROJECT_DOMAIN_NAME \
  RCLONE_CONFIG_SW_REGION=$OS_REGION_NAME RCLONE_CONFIG_SW_AUTH_VERSION=3 RCLONE_CONFIG=/dev/null

WORK=$(mktemp -d /var/tmp/swiftmount-bench.XXXXXX)
SMNT=$WORK/swiftmount RMNT=$WORK/rclone
CONTAINER=bench-$$
mkdir -p "$SMNT" "$RMNT" "$OUT"
SM_PID= RC_PID=
cleanup() {
  for m in "$SMNT" "$RMNT"; do grep -q " $m " /proc/mounts && fusermount3 -u -z "$m"; done
  [ -n "$RC_PID" ] && kill "$RC_PID" 2>/dev/null
  for c in "$CONTAINER" "${CONTAINER}_segments" "${CONTAINER}-meta"; do swiftclient delete "$c" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

head -c "${SIZE}M" /dev/urandom > "$WORK/src"
BYTES=$(stat -c %s "$WORK/src")
swiftclient post "$CONTAINER"

# A token for curl, kept in a header file (mode 600), never on a command line.
TOKEN_FILE=$WORK/token.hdr
STORAGE_URL=$(/usr/bin/python3 scripts/devstack/issue_token.py "$TOKEN_FILE")

now() { date +%s.%N; }
ROWS=$WORK/rows.tsv
: > "$ROWS"
# measure LABEL UNIT AMOUNT BASELINE command...: AMOUNT units (bytes → MB/s, else per second) per run.
measure() {
  local label=$1 unit=$2 amount=$3 base=$4; shift 4
  local t0 t1 rates=()
  for ((i = 0; i < RUNS; i++)); do
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    # SETUP (not timed), e.g. a fresh mount so every run starts with cold caches.
    if [ -n "${SETUP:-}" ]; then $SETUP; fi
    t0=$(now); "$@"; t1=$(now)
    if [ "$unit" = MB/s ]; then rates+=("$(echo "$amount / ($t1 - $t0) / 1000000" | bc -l)")
    else rates+=("$(echo "$amount / ($t1 - $t0)" | bc -l)"); fi
  done
  local stats
  stats=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f\t%.1f\t%.1f", a[1], a[int((NR+1)/2)], a[NR]}')
  printf '%s\t%s\t%s\t%s\n' "$label" "$unit" "$stats" "$base" >> "$ROWS"
  printf '%-44s %s %s\n' "$label" "$(echo "$stats" | tr '\t' ' ')" "$unit" >&2
}

wait_mounted() { for _ in $(seq 100); do grep -q " $1 " /proc/mounts && return 0; sleep 0.1; done; echo "no mount on $1" >&2; exit 1; }
sm_mount() {
  .build/release/swiftmount "$CONTAINER" "$SMNT" -o "segment_size=$SEGMENT,log_file=$WORK/swiftmount.log${SM_OPTS:+,$SM_OPTS}"
  SM_PID=$(pgrep -n -f "swiftmount $CONTAINER $SMNT")
}
sm_umount() { fusermount3 -u "$SMNT"; while kill -0 "$SM_PID" 2>/dev/null; do sleep 0.1; done; }
rc_mount() { # cache mode
  # --use-server-modtime (RC_MODTIME): without it rclone HEADs every object for its mtime.
  # (A short --dir-cache-time makes rclone relist while ls -l runs: minutes for 500 objects.)
  rclone mount "sw:$CONTAINER" "$RMNT" --vfs-cache-mode "$1" --vfs-write-back 0s ${RC_MODTIME---use-server-modtime} \
    --cache-dir "$WORK/rclone-cache" --log-file "$WORK/rclone.log" &
  RC_PID=$!
  wait_mounted "$RMNT"
}
rc_umount() { fusermount3 -u "$RMNT"; wait "$RC_PID" 2>/dev/null || true; RC_PID=; }
rc_remount() { rc_umount; rc_mount off; }
sm_remount() { sm_umount; sm_mount; }
hwm() { awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }
head_size() { curl -sfI -H @"$TOKEN_FILE" "$STORAGE_URL/$CONTAINER/$1" | awk 'tolower($1) == "content-length:" {print $2+0}'; }

# Large file.
curl_put() { curl -sf -o /dev/null -H @"$TOKEN_FILE" -T "$WORK/src" "$STORAGE_URL/$CONTAINER/curl.bin"; }
curl_get() { curl -sf -o /dev/null -H @"$TOKEN_FILE" "$STORAGE_URL/$CONTAINER/curl.bin"; }
sc_put() { (cd "$WORK" && swiftclient upload --use-slo --segment-size 100M --object-name sc.bin "$CONTAINER" src >/dev/null); }
sc_get() { swiftclient download "$CONTAINER" sc.bin -o /dev/null >/dev/null; }
rcc_put() { rclone copyto --ignore-times "$WORK/src" "sw:$CONTAINER/rcc.bin"; }
rcc_get() { rclone cat "sw:$CONTAINER/rcc.bin" > /dev/null; }
mount_put() { cp "$WORK/src" "$1/$2"; }
mount_get() { cat "$1/$2" > /dev/null; }
# With --vfs-cache-mode writes, close returns once the local copy is made: time until Swift has it.
rc_writes_put() { cp "$WORK/src" "$RMNT/rcw.bin"; until [ "$(head_size rcw.bin)" = "$BYTES" ]; do sleep 0.05; done; }

measure "curl PUT" MB/s "$BYTES" "curl PUT" curl_put
measure "swiftclient upload (SLO 100M)" MB/s "$BYTES" "curl PUT" sc_put
measure "rclone copy up" MB/s "$BYTES" "curl PUT" rcc_put
rc_mount off
measure "rclone mount (cache off) cp in" MB/s "$BYTES" "curl PUT" mount_put "$RMNT" rco.bin
measure "rclone mount (cache off) cat out" MB/s "$BYTES" "curl GET" mount_get "$RMNT" rco.bin
RC_OFF_HWM=$(hwm "$RC_PID")
rc_umount
rc_mount writes
measure "rclone mount (cache writes) cp in, until stored" MB/s "$BYTES" "curl PUT" rc_writes_put
RC_WRITES_HWM=$(hwm "$RC_PID")
rc_umount
sm_mount
measure "swiftmount cp in (until close returns)" MB/s "$BYTES" "curl PUT" mount_put "$SMNT" sm.bin
measure "curl GET" MB/s "$BYTES" "curl GET" curl_get
measure "swiftclient download" MB/s "$BYTES" "curl GET" sc_get
measure "rclone copy down" MB/s "$BYTES" "curl GET" rcc_get
measure "swiftmount cat out" MB/s "$BYTES" "curl GET" mount_get "$SMNT" sm.bin
SM_HWM=$(hwm "$SM_PID")
sm_umount

# Small files, through each mount (rclone's streaming mode, like swiftmount's).
head -c 1M /dev/urandom > "$WORK/one-mib"
head -c 4K /dev/urandom > "$WORK/four-kib"
small() { # mountpoint dir count file
  local i dir=$1/$2-$RANDOM; mkdir -p "$dir"
  for i in $(seq "$3"); do cp "$WORK/$4" "$dir/f$i"; done
}
rc_mount off
measure "rclone mount: ${BIG_FILES} x 1 MiB" files/s "$BIG_FILES" "rclone mount: ${BIG_FILES} x 1 MiB" small "$RMNT" rc-mib "$BIG_FILES" one-mib
measure "rclone mount: ${TINY_FILES} x 4 KiB" files/s "$TINY_FILES" "rclone mount: ${TINY_FILES} x 4 KiB" small "$RMNT" rc-kib "$TINY_FILES" four-kib
rc_umount
sm_mount
measure "swiftmount: ${BIG_FILES} x 1 MiB" files/s "$BIG_FILES" "rclone mount: ${BIG_FILES} x 1 MiB" small "$SMNT" sm-mib "$BIG_FILES" one-mib
measure "swiftmount: ${TINY_FILES} x 4 KiB" files/s "$TINY_FILES" "rclone mount: ${TINY_FILES} x 4 KiB" small "$SMNT" sm-kib "$TINY_FILES" four-kib
sm_umount

# Metadata: a flat directory and a tree of 1-byte files, uploaded by swiftclient (neither mount
# made them). (Empty objects would cost swiftmount a HEAD each: a DLO manifest also lists as 0 bytes.)
mkdir -p "$WORK/meta/flat" "$WORK/meta/tree"
(cd "$WORK/meta/flat" && for i in $(seq "$LIST_OBJECTS"); do printf x > "$i"; done)
for d in $(seq 0 $((TREE_OBJECTS / 100 - 1))); do
  mkdir -p "$WORK/meta/tree/d$((d / 10))/e$d"; (cd "$WORK/meta/tree/d$((d / 10))/e$d" && for i in $(seq 100); do printf x > "$i"; done)
done
(cd "$WORK/meta" && swiftclient upload --object-threads 32 "$CONTAINER" flat tree >/dev/null)
list_flat() { [ "$(ls -l "$1/flat" | wc -l)" -gt "$LIST_OBJECTS" ] || { echo "short listing" >&2; exit 1; }; }
find_tree() { [ "$(find "$1/tree" -type f | wc -l)" -eq "$TREE_OBJECTS" ] || { echo "short find" >&2; exit 1; }; }
# Two pairs for ls -l: mtimes from the listing (rclone --use-server-modtime, swiftmount
# attrs_from=listing), and each object's own mtime and mode (a HEAD per object: rclone's default,
# swiftmount's default with parallel read-ahead).
LS_LISTING="ls -l ${LIST_OBJECTS} objects, listing times"
LS_OBJECTS="ls -l ${LIST_OBJECTS} objects, object times"
rc_mount off
SETUP=rc_remount measure "rclone mount: $LS_LISTING" objects/s "$LIST_OBJECTS" "rclone mount: $LS_LISTING" list_flat "$RMNT"
SETUP=rc_remount measure "rclone mount: find ${TREE_OBJECTS}-object tree" objects/s "$TREE_OBJECTS" "rclone mount: find ${TREE_OBJECTS}-object tree" find_tree "$RMNT"
rc_umount
RC_MODTIME= rc_mount off
RC_MODTIME= SETUP=rc_remount measure "rclone mount: $LS_OBJECTS" objects/s "$LIST_OBJECTS" "rclone mount: $LS_OBJECTS" list_flat "$RMNT"
rc_umount
SM_OPTS=attrs_from=listing sm_mount
SM_OPTS=attrs_from=listing SETUP=sm_remount measure "swiftmount: $LS_LISTING" objects/s "$LIST_OBJECTS" "rclone mount: $LS_LISTING" list_flat "$SMNT"
SM_OPTS=attrs_from=listing SETUP=sm_remount measure "swiftmount: find ${TREE_OBJECTS}-object tree" objects/s "$TREE_OBJECTS" "rclone mount: find ${TREE_OBJECTS}-object tree" find_tree "$SMNT"
sm_umount
sm_mount
SETUP=sm_remount measure "swiftmount: $LS_OBJECTS" objects/s "$LIST_OBJECTS" "rclone mount: $LS_OBJECTS" list_flat "$SMNT"

# Objects the mount wrote itself (cp -a: modes and mtimes kept) carry their attributes in the
# listing: ls -l of them on a cold mount must cost listing pages and no HEAD per name (counted in
# the proxy's log). Then rsync -a of a tree into the mount, twice: the second run must find
# nothing to send, and send no HEAD either.
PROXY_LOG=${SWIFTMOUNT_STACK_DIR:-/var/lib/swiftmount-dev}/log/proxy-keystone.log
heads() { grep -c "HEAD /v1/[^ ]*/$CONTAINER/$1" "$PROXY_LOG" || true; }
cp -a "$WORK/meta/flat" "$SMNT/mine"
list_mine() { [ "$(ls -l "$1/mine" | wc -l)" -gt "$LIST_OBJECTS" ] || { echo "short listing" >&2; exit 1; }; }
LS_MINE="ls -l ${LIST_OBJECTS} objects it wrote, exact attributes"
HEADS_BEFORE=$(heads mine/)
SETUP=sm_remount measure "swiftmount: $LS_MINE" objects/s "$LIST_OBJECTS" "rclone mount: $LS_LISTING" list_mine "$SMNT"
LS_MINE_HEADS=$(( $(heads mine/) - HEADS_BEFORE ))
RSYNC_TREE=$WORK/meta/tree/d0
rsync -a "$RSYNC_TREE/" "$SMNT/synced/"
sm_remount
HEADS_BEFORE=$(heads synced/)
RSYNC_AGAIN=$(rsync -ai "$RSYNC_TREE/" "$SMNT/synced/" | wc -l)
RSYNC_HEADS=$(( $(heads synced/) - HEADS_BEFORE ))
echo "ls -l of the mount's own objects: $LS_MINE_HEADS HEADs; rsync -a again: $RSYNC_AGAIN changes, $RSYNC_HEADS HEADs" >&2
sm_umount

/usr/bin/python3 - "$ROWS" "$OUT" "$SIZE" "$RUNS" "$RC_OFF_HWM" "$RC_WRITES_HWM" "$SM_HWM" "$SEGMENT" \
  "$LS_MINE_HEADS" "$RSYNC_AGAIN" "$RSYNC_HEADS" "$(find "$RSYNC_TREE" -type f | wc -l)" <<'PY'
import json, os, platform, subprocess, sys, time
rows_file, out, size, runs, rc_off, rc_writes, sm, segment, ls_heads, rsync_again, rsync_heads, rsync_files = sys.argv[1:]
rows = []
for line in open(rows_file):
    label, unit, lo, med, hi, base = line.rstrip("\n").split("\t")
    rows.append({"row": label, "unit": unit, "min": float(lo), "median": float(med), "max": float(hi), "baseline": base})
medians = {r["row"]: r["median"] for r in rows}
for r in rows:
    r["ratio"] = round(r["median"] / medians[r["baseline"]], 2) if medians.get(r["baseline"]) else None
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
machine = {"date": time.strftime("%Y-%m-%d", time.gmtime()), "cores": os.cpu_count(), "cpu": cpu,
           "kernel": platform.release(), "file_mib": int(size), "runs": int(runs), "segment_size": segment,
           "stack": "dev-stack.sh on 127.0.0.1 (one-replica Swift 2.30 + Keystone 22, Debian 12)",
           "rclone": subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout.split("\n")[0]}
rss = {"rclone mount (cache off)": int(rc_off), "rclone mount (cache writes)": int(rc_writes), "swiftmount": int(sm)}
checks = {"ls_l_own_objects_heads": int(ls_heads), "rsync_again_changes": int(rsync_again), "rsync_again_heads": int(rsync_heads),
          "rsync_tree_files": int(rsync_files)}
json.dump({"machine": machine, "rows": rows, "peak_rss_mib": rss, "checks": checks}, open(os.path.join(out, "latest.json"), "w"), indent=2)
md = [f"Measured {machine['date']} on {machine['cores']} cores ({cpu}), {machine['stack']}; {size} MiB random file, "
      f"{runs} run(s) per row; MB/s = 10^6 B/s; ratio = row median / baseline median.", "",
      "| row | unit | min | median | max | baseline | ratio |", "|---|---|---|---|---|---|---|"]
md += [f"| {r['row']} | {r['unit']} | {r['min']:.1f} | {r['median']:.1f} | {r['max']:.1f} | {r['baseline']} | {r['ratio']} |" for r in rows]
md += ["", f"ls -l of the objects swiftmount wrote sent {ls_heads} HEAD requests; rsync -a of a {rsync_files}-file tree "
       f"into the mount, run again on a fresh mount: {rsync_again} changes, {rsync_heads} HEAD requests (proxy log)."]
md += ["", "Peak RSS (VmHWM): " + ", ".join(f"{k} {v} MiB" for k, v in rss.items()) + f" (swiftmount segment_size={segment})."]
open(os.path.join(out, "latest.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
