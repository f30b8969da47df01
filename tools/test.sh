#!/usr/bin/env bash
# The whole test suite: install what is missing, build with warnings as
# errors, run every Criterion program, the known-answer groups and the
# end-to-end tests, and close with one "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
build=${BUILD:-build-test}
if [ ! -d "$build" ]; then
	meson setup "$build" -Dwerror=true -Dtests=enabled
fi
ninja -C "$build"
status=0
meson test -C "$build" --print-errorlogs || status=$?
python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit "$status"
