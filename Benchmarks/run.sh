#!/usr/bin/env bash
# The benchmark entry point (issue 12; not a test): builds release, generates a site, runs the
# real daemon against the Tencent API emulator on 127.0.0.1 and prints every figure beside a
# baseline measured in the same run, with the ratio and the goal.
#
#   Benchmarks/run.sh                  # 50,000 files in 5,000 directories
#   Benchmarks/run.sh --files 200000   # one size
#   Benchmarks/run.sh --scale          # the scale table: 50k and 200k files
#   Benchmarks/run.sh --scale --million   # … and 1,000,000 (minutes, ~5 GB of disk in $TMPDIR)
#   Benchmarks/run.sh --fleet          # SPEC §9: 3 origins × 50,000 files on one PostgreSQL, a
#                                      # 5,000-file deploy rsynced 2 s apart, beside one origin on
#                                      # SQLite in the same run (needs postgresql's initdb/postgres)
#
# Figures (bench-daemon, Benchmarks/DaemonBench): READY cold (empty state: walk + hash + watch)
# against `find | xargs sha256sum`; READY warm (restart, manifest complete, nothing changed)
# against the larger of `find -printf '%s %T@ %i'` and `inotifywait -m -r` until established;
# peak RSS against inotifywait's, and above the runtime's floor (the same daemon watching an
# empty tree) per file, and above the working floor (that daemon once its one file was modified
# and purged: every stage's code mapped) per file, with the anonymous / file-backed split (every
# daemon maps its code from pages its faults read in: the binary is dropped from the page cache
# and a daemon on an empty tree runs first); `flush --wait` after changing
# one file (and with --full; samples 0.3 s apart so the client's 10 requests/s limit is not
# what is measured);
# a burst of every file rewritten, 5,000 of them changed (1 in 10 at 50k; the daily URL quota
# is 10,000): last write → last batch accepted − quiet.
# The other scripts here measure one part each (sitewatch.sh, planner.sh, history.sh, tc3.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=()
million=0
scale=0
fleet=0
while [ $# -gt 0 ]; do
    case "$1" in
        --files) sizes+=("${2:?--files needs a number}"); shift 2 ;;
        --scale) scale=1; shift ;;
        --million) million=1; shift ;;
        --fleet) fleet=1; shift ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 64 ;;
    esac
done
[ "$scale" = 1 ] && sizes+=(50000 200000)
[ "$million" = 1 ] && sizes+=(1000000)
[ ${#sizes[@]} -eq 0 ] && sizes=(50000)

for tool in find xargs sha256sum inotifywait awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "missing $tool (apt-get install inotify-tools coreutils findutils)" >&2; exit 69; }
done
SCRATCH="${SCRATCH:-.build-bench}"
if [ "$fleet" = 1 ]; then
    # The fleet's figures: a throwaway PostgreSQL cluster (as the tests start one), the release
    # daemon and bench-daemon built in one scratch path.
    pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -x "$pgbin/initdb" ] || { echo "run.sh --fleet: PostgreSQL's initdb not found (apt-get install postgresql)" >&2; exit 69; }
    command -v rsync >/dev/null || { echo "run.sh --fleet: rsync not found" >&2; exit 69; }
    echo "building purgewatch and bench-daemon (release, $SCRATCH)…" >&2
    swift build -c release --scratch-path "$SCRATCH" --product purgewatch >&2
    swift build -c release --scratch-path "$SCRATCH" --product bench-daemon >&2
    BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)"
    pgdir=$(mktemp -d /tmp/pw-bench-pg-XXXXXX)
    asuser=()
    if [ "$(id -u)" = 0 ]; then chown postgres "$pgdir" 2>/dev/null && asuser=(setpriv --reuid=postgres --regid=postgres --clear-groups --); fi
    port=$(( 20000 + RANDOM % 20000 ))
    "${asuser[@]}" "$pgbin/initdb" -D "$pgdir/data" -A trust -U purgewatch --no-sync --no-locale -E UTF8 >/dev/null
    "${asuser[@]}" "$pgbin/postgres" -D "$pgdir/data" -p "$port" -k "$pgdir" -c listen_addresses=127.0.0.1 >"$pgdir/log" 2>&1 &
    pgpid=$!
    trap 'kill -INT $pgpid 2>/dev/null; wait $pgpid 2>/dev/null; rm -rf "$pgdir"' EXIT
    for _ in $(seq 1 100); do "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$port" && break; sleep 0.1; done
    "$pgbin/psql" -X -q -h 127.0.0.1 -p "$port" -U purgewatch -d postgres -c "CREATE DATABASE bench" >/dev/null
    files="${sizes[0]:-50000}"
    "$BIN/bench-daemon" --fleet "postgresql://purgewatch@127.0.0.1:$port/bench?sslmode=disable" --purgewatch "$BIN/purgewatch" \
        --files "$files" --dirs $((files / 10)) --changed 5000 --timeout $((120 + files / 500)) --quiet 1s
    exit $?
fi
# purgewatch is built as it ships (scripts/release-flags.sh: static Swift runtime, lld, packed
# relocations), in the package's scratch path; the measuring tools in their own.
SHIP_SCRATCH="${SHIP_SCRATCH:-.build-static}"
. scripts/release-flags.sh
echo "building purgewatch (as shipped, scratch path $SHIP_SCRATCH) and bench-daemon (release, $SCRATCH)…" >&2
PURGEWATCH="$(swift build "${release_flags[@]}" --scratch-path "$SHIP_SCRATCH" --show-bin-path)/purgewatch"
rm -f "$PURGEWATCH" # relinked with the current scripts/purgewatch.order, which SwiftPM does not track
swift build "${release_flags[@]}" --scratch-path "$SHIP_SCRATCH" --product purgewatch >&2
swift build -c release --scratch-path "$SCRATCH" --product bench-daemon >&2
swift build -c release --scratch-path "$SCRATCH" --product bench-idle >&2
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)"

OUT="${OUT:-/tmp/purgewatch-bench-run}"
mkdir -p "$OUT"
value() { grep '^RESULT ' "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a == a + 0) printf "%.2f×", a / b; else print "-" }'; }
place_note() {
    case "$1" in
        code) echo "the binary's pages read from the file: code and read-only data" ;;
        relocated) echo "the binary's pages written at load: relocated data, .data, .bss" ;;
        libraries) echo "libc, libsqlite3, libm, ld.so, libgcc_s, libz (shared with other processes)" ;;
        heap) echo "the main malloc arena" ;;
        other_anon) echo "thread stacks, large allocations, .bss beyond the file" ;;
    esac
}
mib() { awk -v k="$1" 'BEGIN { if (k > 0) printf "%.1f MiB", k / 1024; else print "?" }'; }

for files in "${sizes[@]}"; do
    dirs=$((files / 10))
    echo "size $files files / $dirs directories…" >&2
    # The daemon and the inotifywait baseline watch every directory at once (at rest).
    limit=$(cat /proc/sys/fs/inotify/max_user_watches)
    if [ "$limit" -lt $((2 * dirs + 100)) ]; then
        echo "run.sh: fs.inotify.max_user_watches is $limit; $files files need $((2 * dirs + 100)) (sysctl -w fs.inotify.max_user_watches=$((4 * dirs))); the rest row's inotifywait will fail" >&2
    fi
    "$BIN/bench-daemon" --purgewatch "$PURGEWATCH" --files "$files" --dirs "$dirs" --changed "$(( dirs < 5000 ? dirs : 5000 ))" \
        --timeout $((60 + files / 1000)) --log-copy "$OUT/daemon-$files.log" --idle "$BIN/bench-idle" | tee "$OUT/run-$files.out" >&2
done

echo
printf 'purgewatch benchmark (Benchmarks/run.sh): %s cores, load %s\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-9s | %-40s | %10s | %-44s | %10s | %7s | %s\n' files figure purgewatch baseline "baseline" ratio goal
printf -- '-%.0s' {1..150}; echo
for files in "${sizes[@]}"; do
    f="$OUT/run-$files.out"
    watch_floor=$(awk -v a="$(value stat_s "$f")" -v b="$(value inotifywait_s "$f")" 'BEGIN { print (a > b ? a : b) }')
    printf '%-9s | %-40s | %9ss | %-44s | %9ss | %7s | %s\n' "$files" "READY cold (empty state)" "$(value reconcile_s "$f")" \
        "find | xargs sha256sum" "$(value sha256_s "$f")" "$(ratio "$(value reconcile_s "$f")" "$(value sha256_s "$f")")" "≤ 1.3×"
    printf '%-9s | %-40s | %9ss | %-44s | %9ss | %7s | %s\n' "$files" "READY warm (nothing changed)" "$(value ready_warm_s "$f")" \
        "max(find -printf, inotifywait -m -r)" "$watch_floor" "$(ratio "$(value ready_warm_s "$f")" "$watch_floor")" "≤ 1.5×"
    printf '%-9s | %-40s | %10s | %-44s | %10s | %7s | %s\n' "$files" "peak RSS (end of the burst)" "$(mib "$(value peak_rss_kib "$f")")" \
        "inotifywait -m -r" "$(mib "$(value inotifywait_rss_kib "$f")")" "$(ratio "$(value peak_rss_kib "$f")" "$(value inotifywait_rss_kib "$f")")" \
        "≤ 24 MiB at 50k, ≤ 40 MiB at 1M"
    printf '%-9s | %-40s | %10s | %-44s | %10s | %7s | %s\n' "$files" "peak RSS above the runtime's floor" \
        "$(value per_file_b "$f") B/file" "purgewatch on an empty tree (VmHWM)" "$(mib "$(value idle_rss_kib "$f")")" "-" \
        "watchman ≈ 440 B/file"
    printf '%-9s | %-40s | %10s | %-44s | %10s | %7s | %s\n' "$files" "peak RSS above the working floor" \
        "$(value per_file_worked_b "$f") B/file" "the same after one file purged (VmHWM)" "$(mib "$(value worked_rss_kib "$f")")" "-" \
        "≤ 100 B/file: what the site's size costs (every stage's code is in this floor)"
    printf '%-9s | %-40s | %10s | %-44s | %10s | %7s | %s\n' "$files" "breakdown: anonymous + file-backed" \
        "$(mib "$(value end_anon_kib "$f")") + $(mib "$(value end_file_kib "$f")")" "floor: anonymous + file-backed" \
        "$(mib "$(value idle_anon_kib "$f")") + $(mib "$(value idle_file_kib "$f")")" "-" \
        "smaps_rollup at the end | at the floor; threads $(value end_threads "$f") | $(value idle_threads "$f")"
    for place in code relocated libraries heap other_anon; do
        printf '%-9s | %-40s | %10s | %-44s | %10s | %7s | %s\n' "$files" "  $place" "$(mib "$(value "end_${place}_kib" "$f")")" \
            "  at the floor" "$(mib "$(value "idle_${place}_kib" "$f")")" "-" "$(place_note "$place")"
    done
    printf '%-9s | %-40s | %9ss | %-44s | %9ss | %7s | %s\n' "$files" "flush --wait after changing 1 file" "$(value flush_s "$f")" \
        "flush --wait --full (stat walk of the tree)" "$(value flush_full_s "$f")" "$(ratio "$(value flush_s "$f")" "$(value flush_full_s "$f")")" \
        "≤ 0.03 s, flat in tree size (CLI spawn $(value spawn_s "$f") s)"
    printf '%-9s | %-40s | %10s | %-44s | %10s | %7s | %s\n' "$files" "at rest: wake-ups/s, all threads" "$(value rest_wakeups_per_s "$f")" \
        "idle inotifywait -m -r | idle Swift program" "$(value inotifywait_rest_wakeups_per_s "$f") | $(value swift_idle_wakeups_per_s "$f")" "-" "≤ 1/s, ~0 CPU (CPU $(value rest_cpu_pct "$f") %)"
    printf '%-9s | %-40s | %9ss | %-44s | %10s | %7s | %s\n' "$files" "burst: last write → last batch − quiet" "$(value latency_s "$f")" \
        "exact URLs: $(value exact "$f"), $(value requests "$f") requests" "-" "-" "≤ 1.0 s at 50k"
done
echo "(ratios are purgewatch / baseline; logs and raw output in $OUT)"
