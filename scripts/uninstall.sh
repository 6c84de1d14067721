#!/usr/bin/env bash
# Undoes scripts/install.sh:  scripts/uninstall.sh [--prefix /usr/local]
set -euo pipefail
PREFIX=/usr/local
[ "${1:-}" = "--prefix" ] && PREFIX=$2
rm -f "$PREFIX/bin/swiftmount" "$PREFIX/share/man/man8/swiftmount.8"
echo "removed $PREFIX/bin/swiftmount and its man page"
