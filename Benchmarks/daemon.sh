#!/usr/bin/env bash
# Daemon benchmark (issue 5; not a test): a burst of 50,000 touched files in 5,000 directories of
# which 5,000 changed, against the real release `purgewatch run` and the Tencent API emulator on
# 127.0.0.1 (in the bench process). Prints, per run and as the median of RUNS:
#
#   latency     last write → arrival of the last accepted PurgeUrlsCache, minus `quiet`
#   requests    PurgeUrlsCache requests accepted (expected 5: Batch is 1,000)
#   exact       the accepted URLs are exactly the 5,000 changed ones (no unchanged URL purged)
#   peak RSS    the daemon's VmHWM just before SIGTERM
#   reconcile   spawn → READY=1 on a fresh state (walk + hash of the whole tree, watches set)
#   baseline    `find ROOT -type f -newer MARKER | wc -l` over the same tree after the burst: what a
#               cron-style job pays just to *find* candidates (all 50,000 touched files), before
#               reading a byte to tell the 5,000 changed ones from the 45,000 identical ones
#
#   Benchmarks/daemon.sh                          # builds release into .build-bench, 3 runs
#   SCRATCH=.build-x RUNS=5 QUIET=2s FILES=50000 DIRS=5000 CHANGED=5000 Benchmarks/daemon.sh
#   LOGDIR=/tmp/pw-logs Benchmarks/daemon.sh      # where each run's daemon log is kept
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH="${SCRATCH:-.build-bench}"
RUNS="${RUNS:-3}"
LOGDIR="${LOGDIR:-/tmp/purgewatch-bench-daemon}"
export BENCH_FILES="${FILES:-50000}" BENCH_DIRS="${DIRS:-5000}" BENCH_CHANGED="${CHANGED:-5000}" BENCH_QUIET="${QUIET:-2s}"

for tool in find wc awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "missing $tool" >&2; exit 1; }
done

# SwiftPM builds only the last of several --product flags, hence two invocations.
echo "building purgewatch and bench-daemon (release, scratch path $SCRATCH)…" >&2
swift build -c release --scratch-path "$SCRATCH" --product purgewatch >&2
swift build -c release --scratch-path "$SCRATCH" --product bench-daemon >&2
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)"

mkdir -p "$LOGDIR"
rm -f "$LOGDIR"/run*.out "$LOGDIR"/daemon-run*.log
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for run in $(seq "$RUNS"); do
    echo "run $run/$RUNS…" >&2
    "$BIN/bench-daemon" --purgewatch "$BIN/purgewatch" --log-copy "$LOGDIR/daemon-run$run.log" \
        | tee "$LOGDIR/run$run.out"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# value KEY FILE: the KEY=value of the RESULT line
value() { grep '^RESULT ' "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'; }
column_of() { for run in $(seq "$RUNS"); do value "$1" "$LOGDIR/run$run.out"; done; }

echo
printf 'Daemon benchmark summary: %s files / %s directories, %s changed, quiet %s; %s runs; %s cores; load %s → %s\n' \
    "$BENCH_FILES" "$BENCH_DIRS" "$BENCH_CHANGED" "$BENCH_QUIET" "$RUNS" "$(nproc)" "$load_before" "$load_after"
printf '%-6s | %12s | %8s | %5s | %13s | %11s | %8s | %20s\n' \
    run "latency s" requests exact "peak RSS MiB" "reconcile s" "burst s" "baseline find s (n)"
printf -- '-%.0s' {1..104}; echo
for run in $(seq "$RUNS"); do
    f="$LOGDIR/run$run.out"
    printf '%-6s | %12s | %8s | %5s | %13s | %11s | %8s | %20s\n' "$run" \
        "$(value latency_s "$f")" "$(value requests "$f")" "$(value exact "$f")" \
        "$(awk -v k="$(value peak_rss_kib "$f")" 'BEGIN { printf "%.1f", k / 1024 }')" \
        "$(value reconcile_s "$f")" "$(value burst_s "$f")" "$(value find_s "$f") ($(value find_count "$f"))"
done
printf -- '-%.0s' {1..104}; echo
all_exact=$(column_of exact | sort -u | tr '\n' ' ')
printf '%-6s | %12s | %8s | %5s | %13s | %11s | %8s | %20s\n' median \
    "$(column_of latency_s | median)" "$(column_of requests | median)" "$all_exact" \
    "$(column_of peak_rss_kib | median | awk '{ printf "%.1f", $1 / 1024 }')" \
    "$(column_of reconcile_s | median)" "$(column_of burst_s | median)" "$(column_of find_s | median)"
echo
echo "latency  = last write → last accepted PurgeUrlsCache (arrival at the emulator) − quiet ($BENCH_QUIET)"
echo "baseline = find ROOT -type f -newer MARKER | wc -l after the burst (daemon stopped, warm cache): finding the"
echo "           $BENCH_FILES touched files only — it cannot tell the $BENCH_CHANGED changed ones; not comparable work"
echo "daemon logs: $LOGDIR/daemon-run*.log"
