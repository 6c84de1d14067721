#!/usr/bin/env bash
# Installs the Debian packages swiftmount needs to build, test and run the local stack.
# Idempotent; safe to run on a fresh Debian 12 machine as root.
set -euo pipefail

BUILD_PKGS=(libfuse3-dev fuse3 libcurl4-openssl-dev libssl-dev pkg-config)
STACK_PKGS=(swift swift-proxy swift-object swift-container swift-account python3-swift
            python3-keystone python3-keystonemiddleware uwsgi-core uwsgi-plugin-python3
            memcached python3-swiftclient curl iptables rsync bc attr strace)

# The peer the benchmarks compare with (rclone mount, rclone copy).
BENCH_PKGS=(rclone)

want=("${BUILD_PKGS[@]}")
for arg in "$@"; do
  case $arg in
    --with-stack) want+=("${STACK_PKGS[@]}");;
    --with-bench) want+=("${STACK_PKGS[@]}" "${BENCH_PKGS[@]}");;
    *) echo "usage: install-deps.sh [--with-stack] [--with-bench]" >&2; exit 2;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

# python3-swiftclient ships /usr/bin/swift, which would shadow the Swift toolchain on PATH.
if ! dpkg-divert --list /usr/bin/swift | grep -q swiftclient; then
  dpkg-divert --local --rename --divert /usr/bin/swiftclient --add /usr/bin/swift >/dev/null
fi

# Keep the packaged services from starting on install: the dev stack runs its own.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1
fi
trap '[ $created_policy = 1 ] && rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
