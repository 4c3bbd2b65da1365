#!/usr/bin/env bash
# Regenerates what is derived from the argument parser, so it never drifts from the code:
#   docs/completions/purgewatch.bash   bash  (install as /usr/share/bash-completion/completions/purgewatch)
#   docs/completions/_purgewatch       zsh   (install into a directory on $fpath, e.g. /usr/local/share/zsh/site-functions/)
#   docs/completions/purgewatch.fish   fish  (install as /usr/share/fish/vendor_completions.d/purgewatch.fish)
#   docs/man/*.1                       man pages, one per command, from swift-argument-parser's
#                                      generate-manual plugin (install into /usr/local/share/man/man1/)
# Run it after changing a command's arguments or help, and commit the result.
#
#   scripts/generate-docs.sh            # uses .build
#   SCRATCH_PATH=.build-ops scripts/generate-docs.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scratch="${SCRATCH_PATH:-.build}"
# A fixed date (the last commit's) keeps regenerated pages identical when nothing changed.
date="$(git log -1 --format=%cs 2>/dev/null || date -u +%F)"

echo "generate-docs: building purgewatch (scratch path $scratch)"
swift build --scratch-path "$scratch" --product purgewatch
bin="$(swift build --scratch-path "$scratch" --show-bin-path)/purgewatch"

mkdir -p docs/completions docs/man
"$bin" --generate-completion-script bash >docs/completions/purgewatch.bash
"$bin" --generate-completion-script zsh >docs/completions/_purgewatch
"$bin" --generate-completion-script fish >docs/completions/purgewatch.fish
echo "generate-docs: wrote docs/completions/{purgewatch.bash,_purgewatch,purgewatch.fish}"

# The plugin builds the package's executables (debug: reuses the build above) and writes its
# pages into the plugin's work directory; copy them out, replacing pages of removed commands.
swift package --scratch-path "$scratch" generate-manual \
    --configuration debug --multi-page --date "$date" --section 1
pages="$scratch/plugins/GenerateManual/outputs/purgewatch"
if ! compgen -G "$pages/*.1" >/dev/null; then
    echo "generate-docs: the generate-manual plugin wrote no pages into $pages" >&2
    exit 1
fi
rm -f docs/man/*.1
cp "$pages"/*.1 docs/man/
echo "generate-docs: wrote $(cd docs/man && echo *.1 | sed 's/ /, /g') into docs/man/"
