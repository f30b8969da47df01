#!/usr/bin/env bash
# The newcomer's first run: install what is missing, build, load the
# bundled example catalog into an LMDB store, rate the example sessions of
# June 2024, and show the invoices, the rejects and the run's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
if [ ! -d build ]; then
	meson setup build >/dev/null
fi
ninja -C build >/dev/null
bin=./build/tools/streamrate
out=${OUT:-out/example}
rm -rf "$out"
mkdir -p "$out"
"$bin" catalog load --db "$out/db" tools/example/catalog
"$bin" rate --db "$out/db" --period 2024-06 --out "$out/rated" \
	tools/example/sessions-2024-06.csv
echo
echo "== invoices (invoices-2024-06.csv)"
cat "$out/rated/invoices-2024-06.csv"
echo
echo "== first invoice in full (invoices-2024-06.jsonl)"
head -n 1 "$out/rated/invoices-2024-06.jsonl"
echo
echo "== rejects (rejects.csv)"
cat "$out/rated/rejects.csv"
echo
echo "== summary.json"
cat "$out/rated/summary.json"
echo
echo "All outputs are in $out/rated; the catalog store is $out/db."
