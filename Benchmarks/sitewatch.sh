#!/usr/bin/env bash
# SiteWatch benchmark (not a test): a generated site of 50,000 files in 5,000 directories,
# purgewatch's walker/hasher/watcher against the usual shell baselines, side by side.
#
#   Benchmarks/sitewatch.sh                 # builds release into .build-watch, tree in /tmp
#   TREE=/path DIRS=5000 FILES=10 RUNS=3 Benchmarks/sitewatch.sh
#   DROP_CACHES=1 Benchmarks/sitewatch.sh   # (root) drop the page cache before each cold run
#
# Prints wall time (median of RUNS) and peak RSS for:
#   cold walk+hash   bench-sitewatch cold (empty manifest: hash all, record)  vs  find … | xargs sha256sum
#   warm walk        bench-sitewatch warm (manifest complete: stat only)       vs  find -printf '%s %T@ %i\n'
#   watch setup      bench-sitewatch watch → "Watches established."            vs  inotifywait -m -r
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH="${SCRATCH_PATH:-.build-watch}"
TREE="${TREE:-/tmp/purgewatch-bench/site}"
WORK="$(dirname "$TREE")"
DIRS="${DIRS:-5000}"
FILES="${FILES:-10}"
RUNS="${RUNS:-3}"

for tool in /usr/bin/time inotifywait sha256sum find xargs; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "missing $tool: apt-get install -y time inotify-tools coreutils findutils" >&2
        exit 1
    fi
done

echo "building bench-sitewatch (release, scratch path $SCRATCH)…" >&2
swift build -c release --scratch-path "$SCRATCH" --product bench-sitewatch >&2
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/bench-sitewatch"

mkdir -p "$WORK"
if [[ ! -f "$WORK/.generated-$DIRS-$FILES" ]]; then
    rm -rf "$TREE"
    echo "generating $TREE ($DIRS directories × $FILES files)…" >&2
    "$BIN" generate "$TREE" "$DIRS" "$FILES" >&2
    touch -d '1 hour ago' "$WORK/.stamp" && find "$TREE" -type f -exec touch -r "$WORK/.stamp" {} +
    touch "$WORK/.generated-$DIRS-$FILES"
fi
nfiles=$(find "$TREE" -type f | wc -l)
ndirs=$(find "$TREE" -type d | wc -l)
mb=$(du -sm "$TREE" | cut -f1)

drop_caches() {
    if [[ "${DROP_CACHES:-0}" == 1 && $(id -u) == 0 ]]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi
}

# measure NAME CMD… : appends "seconds kib" to $WORK/NAME.runs (wall clock and max RSS from time -v)
measure() {
    local name=$1; shift
    /usr/bin/time -v -o "$WORK/time.out" "$@" > "$WORK/$name.stdout" 2>/dev/null
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.out" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.out")
    echo "$wall $rss" >> "$WORK/$name.runs"
}

# watch_setup NAME CMD… : time from exec to "Watches established" on stderr; VmHWM read from /proc
watch_setup() {
    local name=$1; shift
    local err="$WORK/$name.stderr"
    : > "$err"
    local t0 t1 pid rss
    t0=$(date +%s%N)
    "$@" > /dev/null 2> "$err" &
    pid=$!
    until grep -q "Watches established" "$err" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then echo "$name exited early: $(cat "$err")" >&2; return 1; fi
        sleep 0.002
    done
    t1=$(date +%s%N)
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }') $rss" >> "$WORK/$name.runs"
}

median() { sort -n -k1,1 "$1" | awk '{ t[NR]=$1; r[NR]=$2 } END { m=int((NR+1)/2); printf "%s %s", t[m], r[m] }'; }

rm -f "$WORK"/*.runs
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for run in $(seq "$RUNS"); do
    echo "run $run/$RUNS…" >&2
    rm -f "$WORK/state.sqlite"*
    drop_caches; measure ours_cold "$BIN" cold "$TREE" "$WORK/state.sqlite"
    drop_caches; measure base_cold sh -c "find '$TREE' -type f -print0 | xargs -0 sha256sum > /dev/null"
    measure ours_warm "$BIN" warm "$TREE" "$WORK/state.sqlite"
    measure base_warm sh -c "find '$TREE' -printf '%s %T@ %i\n' > /dev/null"
    watch_setup ours_watch "$BIN" watch "$TREE"
    watch_setup base_watch inotifywait -m -r "$TREE"
done

measure ours_noop "$BIN" noop "$TREE"
# Once: every file rewritten in place with its own bytes while the watcher runs (no baseline:
# inotifywait has no content judgement). Expect 0 overflows and 0 changes.
"$BIN" rewrite "$TREE" "$WORK/state.sqlite" > "$WORK/ours_rewrite.stdout"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

printf '\nSiteWatch benchmark: %s files, %s directories, %s MB (%s); median of %s runs; %s cores; load %s → %s\n' \
    "$nfiles" "$ndirs" "$mb" "$TREE" "$RUNS" "$(nproc)" "$load_before" "$load_after"
printf '%-16s | %-34s | %10s | %10s | %-26s | %10s | %10s | %7s | %7s\n' \
    "task" "baseline" "base s" "base RSS" "purgewatch" "ours s" "ours RSS" "time ×" "RSS ×"
printf -- '-%.0s' {1..150}; echo
row() {
    local task=$1 bname=$2 bkey=$3 oname=$4 okey=$5
    read -r bt br <<< "$(median "$WORK/$bkey.runs")"
    read -r ot or <<< "$(median "$WORK/$okey.runs")"
    printf '%-16s | %-34s | %10s | %7.1f MB | %-26s | %10s | %7.1f MB | %7s | %7s\n' \
        "$task" "$bname" "$bt" "$(awk -v k="$br" 'BEGIN{print k/1024}')" "$oname" "$ot" "$(awk -v k="$or" 'BEGIN{print k/1024}')" \
        "$(awk -v a="$ot" -v b="$bt" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')" \
        "$(awk -v a="$or" -v b="$br" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
}
row "cold walk+hash" "find | xargs sha256sum" base_cold "bench-sitewatch cold" ours_cold
row "warm walk" "find -printf '%s %T@ %i'" base_warm "bench-sitewatch warm" ours_warm
row "watch setup" "inotifywait -m -r (established)" base_watch "SiteMonitor.start()" ours_watch
read -r _ floor <<< "$(median "$WORK/ours_noop.runs")"
printf '(peak RSS floor of a do-nothing bench-sitewatch — Swift runtime, Foundation via swift-crypto, SQLite: %.1f MB)\n' \
    "$(awk -v k="$floor" 'BEGIN{print k/1024}')"
echo
echo "purgewatch detail (last run):"
cat "$WORK/ours_cold.stdout" "$WORK/ours_warm.stdout" "$WORK/ours_rewrite.stdout"
echo "(time × and RSS × are purgewatch / baseline; cold = empty manifest, page cache warm unless DROP_CACHES=1)"
