#!/usr/bin/env bash
# Per-event database cost with 1,000,000 old queue rows and 100,000 old batches vs an empty
# state (bench-history, release build). Usage: Benchmarks/history.sh [queue-rows] [batches]
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${SCRATCH_PATH:-.build-bench}"
swift build -c release --scratch-path "$SCRATCH" --product bench-history >&2
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/bench-history"
"$BIN" --queue "${1:-1000000}" --batches "${2:-100000}"
