#!/usr/bin/env bash
# Long runs of the reference-model suite (the filesystem over the in-process Swift, no root or
# stack needed): many more seeded sequences than CI's budget, longer ones, from a given seed.
# usage: scripts/soak.sh [--model N] [--length STEPS] [--from SEED]
#   scripts/soak.sh --model 20000 --length 60        # tens of thousands of sequences
# A failure prints its seed and the shrunk sequence; replay it with
#   SWIFTMOUNT_MODEL_SEED=SEED swift test --filter ReferenceModelTests
set -euo pipefail
cd "$(dirname "$0")/.."
sequences=5000 length=40 from=100000
while [ $# -gt 0 ]; do
  case $1 in
    --model) sequences=$2; shift 2;;
    --length) length=$2; shift 2;;
    --from) from=$2; shift 2;;
    *) echo "usage: scripts/soak.sh [--model N] [--length STEPS] [--from SEED]" >&2; exit 2;;
  esac
done
bash scripts/install-deps.sh
swift build --build-tests
SWIFTMOUNT_MODEL_SEQUENCES=$sequences SWIFTMOUNT_MODEL_LENGTH=$length SWIFTMOUNT_MODEL_BASE=$from \
  swift test --skip-build --disable-swift-testing --filter ReferenceModelTests/testRandomSequencesAgreeWithTheModel
