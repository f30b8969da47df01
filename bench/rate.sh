#!/usr/bin/env bash
# The rating benchmark of the pipeline issue: a clean generated workload of
# 5,000,000 sessions in 2 files (about 490 MB) for 200,000 subscribers,
# rated with 1 and 2 threads on a warm page cache. Checks that both runs
# give byte-identical outputs, then prints records/s, MB/s and peak RSS,
# and, as the floor, the time `wc -l` takes over the same files.
#
#   bash bench/rate.sh [BUILD_DIR]        (default: build-bench, release)
#
# Environment: SESSIONS, SUBSCRIBERS, THREADS ("1 2"), WORK (work dir,
# default /tmp/streamrate-bench; the workload is generated once).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench}
sessions=${SESSIONS:-5000000}
subscribers=${SUBSCRIBERS:-200000}
threads=${THREADS:-"1 2"}
work=${WORK:-/tmp/streamrate-bench}

if [ ! -d "$build" ]; then
	meson setup "$build" "$root" --buildtype=release >/dev/null
fi
ninja -C "$build" >/dev/null
bin="$build/tools/streamrate"

mkdir -p "$work"
data="$work/w-$sessions-$subscribers"
if [ ! -f "$data/done" ]; then
	rm -rf "$data"
	"$bin" gen --out "$data" --seed 1 --subscribers "$subscribers" \
		--sessions "$sessions" --files 2 --clean >/dev/null
	"$bin" catalog load --db "$data/db" "$data/catalog" >/dev/null
	touch "$data/done"
fi
files=("$data"/sessions-1.csv "$data"/sessions-2.csv)
bytes=$(cat "${files[@]}" | wc -c)
cat "${files[@]}" >/dev/null # warm the page cache

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)"
echo "workload: $sessions sessions, $subscribers subscribers, $((bytes / 1000000)) MB"
t0=$(date +%s%N)
wc -l "${files[@]}" >/dev/null
t1=$(date +%s%N)
echo "floor: wc -l $(( (t1 - t0) / 1000000 )) ms"

first=""
for t in $threads; do
	out="$work/out-$t"
	rm -rf "$out"
	/usr/bin/time -f "%e %M" -o "$work/time" "$bin" rate --db "$data/db" \
		--period 2024-03 --out "$out" --threads "$t" --verbose \
		"${files[@]}" 2> "$work/phases" || { cat "$work/phases"; exit 1; }
	read -r secs kb < "$work/time"
	records=$(sed 's/.*"records":\([0-9]*\).*/\1/' "$out/summary.json")
	awk -v t="$t" -v s="$secs" -v r="$records" -v b="$bytes" -v kb="$kb" 'BEGIN {
		printf "threads %s: %.2f s, %.0f records/s, %.0f MB/s, peak RSS %.0f MiB\n",
			t, s, r / s, b / s / 1e6, kb / 1024 }'
	sed -n 's/.* s: /  phases: /p' "$work/phases"
	if [ -z "$first" ]; then
		first=$out
	else
		for f in rated.csv rejects.csv invoices-2024-03.jsonl invoices-2024-03.csv; do
			cmp -s "$first/$f" "$out/$f" || { echo "MISMATCH: $f differs between runs"; exit 1; }
		done
		echo "outputs identical to the first run"
	fi
done
