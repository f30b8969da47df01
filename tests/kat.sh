#!/usr/bin/env bash
# Known-answer tests of batch rating (tests/kat/<group>/, see tests/kat/README.md).
#
#   tests/kat.sh STREAMRATE_BIN [GROUP...]
#
# For each group: load tests/kat/G/catalog into a fresh LMDB store, run
# `rate` from inside the group directory with the period and files of
# tests/kat/G/args, check the exit code against expected/exit and, when it
# is 0, compare every expected file byte for byte.
set -u
here=$(cd "$(dirname "$0")" && pwd)
kat="$here/kat"

if [ $# -lt 1 ]; then
	echo "usage: tests/kat.sh STREAMRATE_BIN [GROUP...]" >&2
	exit 1
fi
bin=$1
shift
case $bin in /*) ;; *) bin="$PWD/$bin" ;; esac
if [ ! -x "$bin" ]; then
	echo "kat: $bin is not an executable" >&2
	exit 1
fi

# run_group G TMP: run the engine for group G, outputs in TMP/out.
run_group() {
	local g=$1 tmp=$2
	if ! "$bin" catalog load --db "$tmp/db" "$kat/$g/catalog" \
		>"$tmp/load.log" 2>&1; then
		echo "kat: $g: catalog load failed:" >&2
		sed 's/^/    /' "$tmp/load.log" >&2
		return 99
	fi
	(cd "$kat/$g" && "$bin" rate --db "$tmp/db" --period "$period" \
		--out "$tmp/out" "${files[@]}") >"$tmp/rate.log" 2>&1
}

# shellcheck source=kat/lib.sh
. "$kat/lib.sh"
kat_main "$@"
