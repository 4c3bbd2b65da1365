#!/usr/bin/env bash
# Builds dist/purgewatch_<version>_<arch>.deb with dpkg-deb alone: no network, no debhelper.
# Layout, maintainer scripts and lintian's verdict: docs/packaging.md.
#
#   scripts/package-deb.sh                                  # builds the release binary first
#   scripts/package-deb.sh --binary path/to/purgewatch      # packages a binary built elsewhere
#   PURGEWATCH_BINARY=path/to/purgewatch scripts/package-deb.sh
#
# Environment: SCRATCH_PATH (the release build's scratch path, default .build-static),
# DEB_REVISION (the Debian revision, default 1), DEB_MAINTAINER (the Maintainer field),
# SOURCE_DATE_EPOCH (file times and the changelog date; default: the last commit's time).
# The upstream version is read from Sources/PurgewatchCLI (PurgeWatch.version), never written here.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022

binary="${PURGEWATCH_BINARY:-}"
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
        --binary=*) binary="${1#--binary=}"; shift ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "package-deb: unknown argument '$1' (see --help)" >&2; exit 64 ;;
    esac
done

for tool in dpkg-deb dpkg-shlibdeps gzip strip readelf; do
    command -v "$tool" >/dev/null || { echo "package-deb: $tool is missing (apt-get install dpkg-dev binutils)" >&2; exit 69; }
done

# --- Version: the one string in Sources/PurgewatchCLI ------------------------------------------
versions=$(grep -rhoE 'static let version = "[^"]+"' Sources/PurgewatchCLI | sed -E 's/.*"([^"]+)"/\1/' | sort -u)
if [ "$(printf '%s\n' "$versions" | grep -c .)" != 1 ]; then
    echo "package-deb: expected exactly one 'static let version = \"…\"' in Sources/PurgewatchCLI, found: ${versions:-none}" >&2
    exit 65
fi
upstream="$versions"
version="$upstream-${DEB_REVISION:-1}"
arch="$(dpkg --print-architecture)"
maintainer="${DEB_MAINTAINER:-purgewatch maintainers <purgewatch@example.com>}"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH="$(git log -1 --format=%ct 2>/dev/null || date +%s)"
fi
export SOURCE_DATE_EPOCH
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

# --- The release binary -------------------------------------------------------------------------
if [ -z "$binary" ]; then
    scratch="${SCRATCH_PATH:-.build-static}"
    echo "package-deb: building the release binary (scratch path $scratch)"
    # The flags, and why each: scripts/release-flags.sh (the benchmark builds with them too).
    # shellcheck source=scripts/release-flags.sh
    . scripts/release-flags.sh
    flags=("${release_flags[@]}" --scratch-path "$scratch")
    swift build "${flags[@]}" --product purgewatch
    binary="$(swift build "${flags[@]}" --show-bin-path)/purgewatch"
fi
[ -x "$binary" ] || { echo "package-deb: no executable at $binary" >&2; exit 66; }
built_version="$("$binary" --version)"
if [ "$built_version" != "$upstream" ]; then
    echo "package-deb: $binary says version '$built_version', the sources say '$upstream' (stale binary?)" >&2
    exit 65
fi
if ldd "$binary" | grep -q 'libswift\|libdispatch\|libFoundation\|not found'; then
    echo "package-deb: $binary needs libraries that are not Debian's (build with --static-swift-stdlib):" >&2
    ldd "$binary" >&2
    exit 65
fi

if readelf -d "$binary" | grep -qE '\((RPATH|RUNPATH)\)'; then
    echo "package-deb: $binary has an RPATH/RUNPATH (build it with --disable-local-rpath):" >&2
    readelf -d "$binary" | grep -E '\((RPATH|RUNPATH)\)' >&2
    exit 65
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
install -d -m 0755 "$root"

# --- Files, by Debian convention ----------------------------------------------------------------
install -D -m 0755 "$binary" "$root/usr/bin/purgewatch"
# As dh_strip does for an executable: the symbols and the .comment/.note sections go.
strip --remove-section=.comment --remove-section=.note "$root/usr/bin/purgewatch"
"$root/usr/bin/purgewatch" --version >/dev/null

# The repository's unit, with only ExecStart= pointing at /usr/bin.
unit="$root/usr/lib/systemd/system/purgewatch@.service"
install -d -m 0755 "$(dirname "$unit")"
sed -E 's|^ExecStart=/usr/local/bin/purgewatch |ExecStart=/usr/bin/purgewatch |' systemd/purgewatch@.service >"$unit"
chmod 0644 "$unit"
if ! grep -q '^ExecStart=/usr/bin/purgewatch run ' "$unit" \
    || [ "$(diff systemd/purgewatch@.service "$unit" | grep -c '^[<>]')" != 2 ]; then
    echo "package-deb: expected to change exactly the ExecStart= line of systemd/purgewatch@.service" >&2
    diff systemd/purgewatch@.service "$unit" >&2 || true
    exit 65
fi
install -D -m 0644 systemd/purgewatch.sysusers "$root/usr/lib/sysusers.d/purgewatch.conf"
install -D -m 0644 systemd/purgewatch.catalog "$root/usr/lib/systemd/catalog/purgewatch.catalog"

install -d -m 0755 "$root/usr/share/man/man1"
for page in docs/man/*.1; do
    gzip -9n -c "$page" >"$root/usr/share/man/man1/$(basename "$page").gz"
done
# bash-completion sources the file: the generator's #! line means nothing there (lintian).
install -d -m 0755 "$root/usr/share/bash-completion/completions"
sed '1{/^#!/d}' docs/completions/purgewatch.bash >"$root/usr/share/bash-completion/completions/purgewatch"
chmod 0644 "$root/usr/share/bash-completion/completions/purgewatch"
install -D -m 0644 docs/completions/_purgewatch "$root/usr/share/zsh/vendor-completions/_purgewatch"
install -D -m 0644 docs/completions/purgewatch.fish "$root/usr/share/fish/vendor_completions.d/purgewatch.fish"

doc="$root/usr/share/doc/purgewatch"
install -D -m 0644 packaging/deb/copyright "$doc/copyright"
install -d -m 0755 "$doc/examples"
install -m 0644 Config/*.toml "$doc/examples/"
# What a Prometheus and a Grafana beside the daemon install (docs/metrics.md): the alerting
# rules with their promtool tests, and the dashboard.
install -D -m 0644 packaging/prometheus/purgewatch.rules.yml "$root/usr/share/purgewatch/prometheus/purgewatch.rules.yml"
install -D -m 0644 packaging/prometheus/purgewatch.rules.test.yml "$root/usr/share/purgewatch/prometheus/purgewatch.rules.test.yml"
install -D -m 0644 packaging/grafana/purgewatch-dashboard.json "$root/usr/share/purgewatch/grafana/purgewatch-dashboard.json"
{
    echo "purgewatch ($version) unstable; urgency=medium"
    echo
    echo "  * Built by scripts/package-deb.sh from purgewatch $upstream (commit $commit)."
    echo
    echo " -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.Debian.gz"
chmod 0644 "$doc/changelog.Debian.gz"
if [ -s packaging/deb/lintian-overrides ]; then
    install -D -m 0644 packaging/deb/lintian-overrides "$root/usr/share/lintian/overrides/purgewatch"
fi

# --- Control ------------------------------------------------------------------------------------
# dpkg-shlibdeps wants a source tree: a debian/control stub is enough.
stub="$work/stub"
mkdir -p "$stub/debian"
printf 'Source: purgewatch\n\nPackage: purgewatch\nArchitecture: any\n' >"$stub/debian/control"
depends="$(cd "$stub" && dpkg-shlibdeps -O -e"$root/usr/bin/purgewatch" 2>"$work/shlibdeps.log" | sed -n 's/^shlibs:Depends=//p')" || {
    cat "$work/shlibdeps.log" >&2
    exit 1
}
[ -n "$depends" ] || { echo "package-deb: dpkg-shlibdeps found no dependencies" >&2; cat "$work/shlibdeps.log" >&2; exit 1; }
# Packed relative relocations (DT_RELR, scripts/release-flags.sh) need glibc 2.36; the binary
# says so with a GLIBC_ABI_DT_RELR version need, which libc6's symbols file does not map, so
# dpkg-shlibdeps alone would allow an older libc6 that cannot load it.
if readelf -V "$root/usr/bin/purgewatch" | grep 'GLIBC_ABI_DT_RELR' >/dev/null; then
    libc_version="$(printf '%s' "$depends" | sed -nE 's/.*libc6 \(>= ([^)]+)\).*/\1/p')"
    if [ -z "$libc_version" ] || dpkg --compare-versions "$libc_version" lt 2.36; then
        depends="$(printf '%s' "$depends" | sed -E 's/libc6( \([^)]*\))?/libc6 (>= 2.36)/')"
    fi
    case ", $depends," in *', libc6 ('*) ;; *)
        echo "package-deb: the binary needs glibc ≥ 2.36 (DT_RELR) but Depends names no libc6: $depends" >&2
        exit 1 ;;
    esac
fi
# The unit's ExecReload= runs /bin/kill, which is procps' (not in a minbase system).
if grep -q '^ExecReload=/bin/kill ' "$unit"; then
    depends="$depends, procps"
fi

# Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up, and 1 per directory.
installed_size="$(find "$root" -mindepth 1 \( -type f -printf '%s\n' \) -o \( -printf '1024\n' \) \
    | awk '{ total += int(($1 + 1023) / 1024) } END { print total }')"

install -d -m 0755 "$root/DEBIAN"
control="$(<packaging/deb/control.in)"
control="${control//@VERSION@/$version}"
control="${control//@ARCH@/$arch}"
control="${control//@MAINTAINER@/$maintainer}"
control="${control//@INSTALLED_SIZE@/$installed_size}"
control="${control//@DEPENDS@/$depends}"
printf '%s\n' "$control" >"$root/DEBIAN/control"
for script in postinst prerm postrm; do
    install -m 0755 "packaging/deb/$script" "$root/DEBIAN/$script"
done
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

# Every file's time is the commit's (reproducible; dpkg-deb clamps to SOURCE_DATE_EPOCH too).
find "$root" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +

mkdir -p dist
deb="dist/purgewatch_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
size=$(stat -c %s "$deb")
echo "package-deb: wrote $deb ($size bytes, $(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1048576 }') MiB; installed $installed_size KiB)"
echo "package-deb: Depends: $depends"
