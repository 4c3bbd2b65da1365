#!/usr/bin/env bash
# Regenerates scripts/purgewatch.order, the function order the shipped binary is linked with
# (scripts/release-flags.sh: lld --symbol-ordering-file). Like a PGO profile (Go commits its
# default.pgo the same way), it is a measured input kept in the tree, not a build product.
#
#   scripts/order-file.sh            # ≈ 3 min: builds, runs the benchmark's workload under callgrind
#
# Why: a daemon touches ≈ 2.6 MB of its 27 MB of code, scattered over the whole text, and the
# kernel maps 64 KiB around every page fault; functions that run placed together cost ≈ 4 MiB
# less resident memory at the floor and ≈ 5 MiB at the peak (issue 23; docs/ARCHITECTURE.md, "Memory"). What runs is recorded from the
# benchmark's own workload on a small site (bench-daemon: cold start, warm start, an empty
# tree, a burst, flushes, purges sent to the emulator over HTTP, status and flush clients),
# every process under `valgrind --tool=callgrind`, which lists every function that executed at
# least once (sampling profilers miss the ones that run once at start).
# Stale entries are harmless: lld places what it finds and ignores names that no longer exist
# (--no-warn-symbol-ordering), so a function added since is only placed with the cold code.
# Regenerate after a change of toolchain or dependencies, or when the benchmark's floor rises.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in valgrind nm; do
    command -v "$tool" >/dev/null || { echo "order-file: $tool is missing (apt-get install valgrind binutils)" >&2; exit 69; }
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The binary as shipped. Which functions run does not depend on where the current order put
# them, so the build is the package's own (scripts/release-flags.sh, its scratch path).
. scripts/release-flags.sh
scratch="${SCRATCH_PATH:-.build-static}"
swift build "${release_flags[@]}" --scratch-path "$scratch" --product purgewatch >&2
binary="$(swift build "${release_flags[@]}" --scratch-path "$scratch" --show-bin-path)/purgewatch"
strip --strip-debug -o "$work/purgewatch" "$binary" # valgrind 3.19 cannot read Swift's DWARF 5
swift build -c release --scratch-path .build-bench --product bench-daemon >&2
swift build -c release --scratch-path .build-bench --product bench-idle >&2
bench="$(swift build -c release --scratch-path .build-bench --show-bin-path)"

mkdir "$work/profiles"
cat >"$work/purgewatch-traced" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --dump-instr=no --demangle=no --callgrind-out-file=$work/profiles/%p.out $work/purgewatch "\$@"
EOF
chmod +x "$work/purgewatch-traced"
"$bench/bench-daemon" --purgewatch "$work/purgewatch-traced" --files 2000 --dirs 200 --changed 200 \
    --timeout 600 --rest 5 --idle "$bench/bench-idle" --tmp "$work" >&2

# Every function that ran, in its place in the profiled binary (keeps each module's neighbours):
# first those the daemon (`purgewatch run`) ran, then those only the short-lived commands ran
# (status, flush, check-config). Mixed, the commands' functions (ICU's date formatting behind
# `status`, argument help…) sat between the daemon's and spread its resident code over 7.6 MiB of
# text for 2.6 MB that runs (issue 23).
: >"$work/daemon.list"
: >"$work/commands.list"
for profile in "$work"/profiles/*.out; do
    if grep -qE '^cmd: .*purgewatch run( |$)' "$profile"; then echo "$profile" >>"$work/daemon.list"; else echo "$profile" >>"$work/commands.list"; fi
done
[ -s "$work/daemon.list" ] || { echo "order-file: no profile of 'purgewatch run'" >&2; exit 70; }
executed() { xargs cat <"$1" | sed -nE 's/^c?fn=\([0-9]+\) //p' | sort -u; }
executed "$work/daemon.list" >"$work/executed.daemon"
if [ -s "$work/commands.list" ]; then executed "$work/commands.list" >"$work/executed.commands"; else : >"$work/executed.commands"; fi
nm "$work/purgewatch" | awk '$2 ~ /^[tTwW]$/ { print $1, $3 }' | sort >"$work/symbols"
{
    awk 'FILENAME == ARGV[1] { ran[$0] = 1; next } ($2 in ran) && !seen[$2]++ { print $2 }' "$work/executed.daemon" "$work/symbols"
    awk 'FILENAME == ARGV[1] { daemon[$0] = 1; next } FILENAME == ARGV[2] { ran[$0] = 1; next }
         ($2 in ran) && !($2 in daemon) && !seen[$2]++ { print $2 }' "$work/executed.daemon" "$work/executed.commands" "$work/symbols"
} >scripts/purgewatch.order
# SwiftPM does not know the order file is an input of the link: make the next build relink.
rm -f "$binary"
echo "order-file: scripts/purgewatch.order: $(wc -l <scripts/purgewatch.order) functions of $(wc -l <"$work/symbols") ($(wc -l <"$work/executed.daemon") run by the daemon, first)" >&2
