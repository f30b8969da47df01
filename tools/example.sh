#!/usr/bin/env bash
# The newcomer's first run: install what is missing, build, load the bundled
# example catalog into an LMDB store and show what it holds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
if [ ! -d build ]; then
	meson setup build >/dev/null
fi
ninja -C build >/dev/null
out=${OUT:-out/example}
mkdir -p "$out"
./build/tools/streamrate catalog load --db "$out/db" tools/example/catalog
./build/tools/streamrate catalog dump --db "$out/db" "$out/dump"
for f in "$out"/dump/*.csv; do
	echo "== $(basename "$f")"
	cat "$f"
done
