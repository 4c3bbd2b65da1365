#!/usr/bin/env bash
# Directory-fallback planning cost: bench-planner (release build) on 50,000 queued URLs over the
# URL quota, sparse and dense trees, against sorting the same URLs (the floor) in the same run.
# Usage: Benchmarks/planner.sh [urls]   (prints figures; not a test, never fails on speed)
set -euo pipefail
cd "$(dirname "$0")/.."
URLS="${1:-50000}"
SCRATCH="${SCRATCH_PATH:-.build-bench}"
swift build -c release --scratch-path "$SCRATCH" --product bench-planner >&2
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/bench-planner"
"$BIN" --urls "$URLS"
