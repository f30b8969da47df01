#!/usr/bin/env bash
# The known-answer tests of tests/kat run against the oracle
# tests/oracle/ref.py (reads the catalog CSV directory directly).
#
#   tests/kat_oracle.sh [GROUP...]
set -u
here=$(cd "$(dirname "$0")" && pwd)
kat="$here/kat"
ref="$here/oracle/ref.py"

# run_group G TMP: run the oracle for group G, outputs in TMP/out.
run_group() {
	local g=$1 tmp=$2
	(cd "$kat/$g" && python3 "$ref" rate --catalog "$kat/$g/catalog" \
		--period "$period" --out "$tmp/out" "${files[@]}") \
		>"$tmp/rate.log" 2>&1
}

# shellcheck source=kat/lib.sh
. "$kat/lib.sh"
kat_main "$@"
