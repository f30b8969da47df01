#!/usr/bin/env bash
# The test suite under the sanitizers, built with clang:
#  - build-asan: AddressSanitizer (LeakSanitizer on) and
#    UndefinedBehaviorSanitizer, every report fatal; the whole suite;
#  - build-tsan: ThreadSanitizer; the tests that run the rating pipeline
#    (rate_e2e, kat, faults, hostile) and follow's threads (follow).
# A report fails the run even when a test script ignored the exit status
# of the program that made it (a killed run, an expected failure): every
# report is also written under BUILD/sanitizer-logs/, and any file there
# is a failure, printed at the end.
#
#   bash tools/sanitize.sh [asan|tsan]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(asan tsan)
pipeline_tests=(rate_e2e kat faults hostile follow)

setup() { # dir sanitizer
	if [ ! -f "$1/build.ninja" ]; then
		CC=clang meson setup "$1" -Dtests=enabled \
			-Dbuildtype=debugoptimized -Db_sanitize="$2" \
			-Db_lundef=false -Db_lto=false -Dc_args=-fno-sanitize-recover=all \
			>/dev/null
	fi
}

# One line: how the tests of a build did.
results() { # dir label
	python3 - "$1/meson-logs/testlog.json" "$2" <<'EOF'
import json, sys
res = [json.loads(l).get("result") for l in open(sys.argv[1])]
ok = sum(r in ("OK", "EXPECTEDFAIL") for r in res)
print(f"sanitize: {sys.argv[2]}: {ok} passed, {len(res) - ok} failed")
EOF
}

# Fail when the sanitizers wrote any report, and show them.
check_logs() { # dir label
	local f n=0
	for f in "$1"/*; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		echo "sanitize: $2: report in ${f##*/}:"
		head -n 40 "$f" | sed 's/^/    /'
	done
	if [ "$n" -gt 0 ]; then
		echo "sanitize: $2: $n sanitizer report(s)"
		return 1
	fi
	echo "sanitize: $2: no sanitizer report"
}

# Memory mappings TSan cannot handle (high vm.mmap_rnd_bits): run the
# tests without address space randomisation.
tsan_wrapper() { # binary
	if "$1" --help 2>&1 | grep -q 'unexpected memory mapping'; then
		echo "setarch $(uname -m) -R"
	fi
}

asan() {
	local b=build-asan logs
	logs=$PWD/$b/sanitizer-logs
	setup "$b" address,undefined
	ninja -C "$b" >/dev/null
	rm -rf "$logs" && mkdir -p "$logs"
	local rc=0
	ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:log_path=$logs/asan" \
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan" \
		meson test -C "$b" --no-rebuild --print-errorlogs || rc=$?
	results "$b" "ASan+UBSan"
	check_logs "$logs" "ASan+UBSan" || rc=1
	return $rc
}

tsan() {
	local b=build-tsan logs wrap
	logs=$PWD/$b/sanitizer-logs
	setup "$b" thread
	ninja -C "$b" tools/streamrate >/dev/null
	rm -rf "$logs" && mkdir -p "$logs"
	wrap=$(tsan_wrapper "$b/tools/streamrate")
	# The pipeline tests this tree has.
	local t tests=() have
	have=$(meson test -C "$b" --no-rebuild --list 2>/dev/null)
	for t in "${pipeline_tests[@]}"; do
		grep -qx "$t" <<<"$have" && tests+=("$t")
	done
	local rc=0
	TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$logs/tsan" \
		meson test -C "$b" --no-rebuild --print-errorlogs \
		${wrap:+--wrapper "$wrap"} "${tests[@]}" || rc=$?
	results "$b" "TSan"
	check_logs "$logs" "TSan" || rc=1
	return $rc
}

failed=0
for s in "${steps[@]}"; do
	case $s in
	asan | tsan) "$s" || failed=$((failed + 1)) ;;
	*)
		echo "usage: tools/sanitize.sh [asan|tsan]..." >&2
		exit 1
		;;
	esac
done
echo "sanitize: ${#steps[@]} build(s), $failed failed"
[ "$failed" -eq 0 ]
