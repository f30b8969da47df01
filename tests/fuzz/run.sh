#!/usr/bin/env bash
# Build the libFuzzer harnesses of tests/fuzz with clang, AddressSanitizer
# and UndefinedBehaviorSanitizer (every report fatal) in their own build
# directory, and run each for about SECONDS (default 60; 0 runs the seeds
# only) from its seed corpus, all at once. Any crash, hang (10 s for one
# input), leak, sanitizer report or broken property fails the run; the
# input that did it is kept under BUILD/artifacts/.
#
#   bash tests/fuzz/run.sh [SECONDS]
#
# BUILD_FUZZ names the build directory (default build-fuzz). New inputs
# the fuzzers find stay in BUILD/corpus/, never in the checked-in seeds.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
build=${BUILD_FUZZ:-build-fuzz}
harnesses=(fuzz_split fuzz_rfc3339 fuzz_catalog fuzz_nginx)

if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" -Dfuzz=true -Dtests=enabled \
		-Dbuildtype=debugoptimized -Db_sanitize=address,undefined \
		-Db_lundef=false -Db_lto=false -Dc_args=-fno-sanitize-recover=all >/dev/null
fi
ninja -C "$build" "${harnesses[@]/#/tests/fuzz/}" >/dev/null

mkdir -p "$build/artifacts" "$build/logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
pids=()
for h in "${harnesses[@]}"; do
	mkdir -p "$build/corpus/$h"
	if [ "$secs" -gt 0 ]; then
		limit=(-max_total_time="$secs")
	else
		limit=(-runs=0)
	fi
	"$build/tests/fuzz/$h" "${limit[@]}" -timeout=10 -rss_limit_mb=4096 \
		-print_final_stats=1 -artifact_prefix="$build/artifacts/$h-" \
		"$build/corpus/$h" "tests/fuzz/corpus/$h" \
		>"$build/logs/$h.log" 2>&1 &
	pids+=($!)
done

failed=0
for i in "${!harnesses[@]}"; do
	h=${harnesses[$i]}
	rc=0
	wait "${pids[$i]}" || rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/logs/$h.log")
	cov=$(grep -o 'cov: [0-9]*' "$build/logs/$h.log" | tail -1)
	if [ "$rc" -eq 0 ]; then
		echo "fuzz: $h ok: ${runs:-0} inputs in ${secs} s, ${cov:-cov: ?}"
	else
		failed=$((failed + 1))
		echo "fuzz: $h FAIL (exit $rc), log $build/logs/$h.log:"
		grep -E 'property failed|ERROR|SUMMARY|runtime error|Test unit written' \
			"$build/logs/$h.log" | head -20 | sed 's/^/    /'
	fi
done
echo "fuzz: $((${#harnesses[@]} - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
