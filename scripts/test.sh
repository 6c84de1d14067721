#!/usr/bin/env bash
# Everything the tests need, then every test: Debian packages, the real Swift + Keystone stack on
# 127.0.0.1 (with 8-second tokens, so tokens expire inside tests), a build, and `swift test`.
# Run as root on Debian 12:  scripts/test.sh [extra swift test arguments, e.g. --filter MountTests]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --with-stack
TOKEN_TTL=${TOKEN_TTL:-8} TEMPAUTH_TTL=${TEMPAUTH_TTL:-8} bash scripts/dev-stack.sh start

# Test containers earlier runs left behind (a killed run, a crashed test) slow every account scan.
(eval "$(bash scripts/dev-stack.sh env demo)" && /usr/bin/python3 scripts/devstack/purge_test_containers.py) ||
  echo "some test containers of earlier runs are left; the tests run slower but the same" >&2

swift build --build-tests
# Each mounted daemon logs at debug level here; the logs are scanned for secrets afterwards.
export SWIFTMOUNT_TEST_LOG_DIR=${SWIFTMOUNT_TEST_LOG_DIR:-$(mktemp -d /tmp/swiftmount-test-logs.XXXXXX)}
echo "daemon logs: $SWIFTMOUNT_TEST_LOG_DIR"
# XCTest only: the suites are XCTest, and Swift Testing's empty summary would read as "no tests".
set +e
swift test --skip-build --disable-swift-testing "$@"
status=$?
set -e

# No token or password may reach the daemons' logs, even at debug level.
bash scripts/secrets-scan.sh "$SWIFTMOUNT_TEST_LOG_DIR"/*.log || status=1
exit "$status"
