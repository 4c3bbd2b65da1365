# Sourced by scripts/package-deb.sh, Benchmarks/run.sh and scripts/order-file.sh: how the shipped
# binary is built, so that the benchmark measures (and the profile records) what users run. `release_flags` is a bash array for `swift build`.
#
# --static-swift-stdlib: one self-contained binary (no Swift runtime on the target).
# --disable-local-rpath: no RUNPATH=$ORIGIN (/usr/bin is not a library directory).
# -z now: full RELRO, as Debian's hardening flags link (lintian: hardening-no-bindnow).
# lld with -z pack-relative-relocs (DT_RELR, glibc ≥ 2.36): the 120,000 relative relocations of
#   a position-independent Swift binary take 28 KiB instead of 2.9 MiB, which the loader read
#   page by page at every start (issue 23: −2.1 MiB of resident memory).
# --no-export-dynamic: the toolchain's static-stdlib-args.lnk exports every symbol of the
#   executable (37,000 entries in .dynsym/.dynstr, read by the loader); nothing looks them up
#   (−3.0 MiB resident).
# -function-sections (Swift) and -ffunction-sections (the C of BoringSSL, SQLite's shim): every
#   function in its own section, closures and async parts included (Swift splits only the
#   public ones by default, clang none), so that the linker can place each one;
# --symbol-ordering-file: the functions that run (scripts/purgewatch.order, recorded by
#   scripts/order-file.sh) placed together at the start of the text, so the pages the daemon
#   touches are few and contiguous (−4 MiB resident at the floor, −5 MiB at the peak).
# libstdc++ linked statically (the C++ of ICU, BoringSSL and toml++): the shared library cost
#   1.5 MiB resident for a few functions (its relocations and locale set-up at load); the
#   archive contributes only what is called, placed with the rest. Found through a directory
#   that holds only libstdc++.a (the linker takes the first directory with either form, and
#   the archive's own directory has libstdc++.so beside it). Without the archive, the shared
#   library is linked as before.
# Sourced from the package's root directory (both callers cd there first).
release_static_libraries="$PWD/.build-link/static"
mkdir -p "$release_static_libraries"
if libstdcxx="$("${CC:-clang}" -print-file-name=libstdc++.a 2>/dev/null)" && [ -f "$libstdcxx" ]; then
    ln -sfn "$libstdcxx" "$release_static_libraries/libstdc++.a"
else
    rm -f "$release_static_libraries/libstdc++.a"
    echo "release-flags: no libstdc++.a (apt-get install libstdc++-12-dev): libstdc++ is linked as a shared library" >&2
fi
release_flags=(
    -c release --static-swift-stdlib --disable-local-rpath
    -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections
    -Xswiftc -use-ld=lld -Xswiftc "-L$release_static_libraries"
    -Xlinker -z -Xlinker now
    -Xlinker -z -Xlinker pack-relative-relocs
    -Xlinker --no-export-dynamic
    -Xlinker "--symbol-ordering-file=$PWD/scripts/purgewatch.order" -Xlinker --no-warn-symbol-ordering
)
