#!/usr/bin/env bash
# Fails if any of the dev stack's passwords or keys, or anything shaped like a Keystone (fernet)
# or tempauth token, appears in the given log files.
set -uo pipefail
DIR=${SWIFTMOUNT_STACK_DIR:-/var/lib/swiftmount-dev}
files=()
for f in "$@"; do [ -f "$f" ] && files+=("$f"); done
[ ${#files[@]} -eq 0 ] && { echo "secrets-scan: no logs to scan"; exit 0; }
found=0
if [ -f "$DIR/secrets.env" ]; then
  while IFS='=' read -r name value; do
    [ -n "$value" ] || continue
    if grep -lF -- "$value" "${files[@]}" >/dev/null 2>&1; then echo "secrets-scan: $name appears in a log"; found=1; fi
  done < "$DIR/secrets.env"
fi
# Fernet tokens start with gAAAAA; tempauth tokens with AUTH_tk.
if grep -lE 'gAAAAA[A-Za-z0-9_-]{40,}|AUTH_tk[0-9a-f]{20,}' "${files[@]}" >/dev/null 2>&1; then
  echo "secrets-scan: a token appears in a log"; found=1
fi
[ $found = 0 ] && echo "secrets-scan: ${#files[@]} logs clean"
exit $found
