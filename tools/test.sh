#!/usr/bin/env bash
# The whole test suite: install what is missing, build with warnings as
# errors, run every Criterion program and the end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
build=${BUILD:-build-test}
if [ ! -d "$build" ]; then
	meson setup "$build" -Dwerror=true -Dtests=enabled
fi
ninja -C "$build"
meson test -C "$build" --print-errorlogs
