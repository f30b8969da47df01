#!/usr/bin/env bash
# End-to-end checks of `streamrate gen`, the workload generator:
# reproducibility (same arguments, byte-identical files; another seed,
# other files), the catalog's eleven files and headers, the session files'
# headers, the catalog's independence from the session options, the
# --clean promise (every record rated, checked with the Python oracle when
# python3 is there), and that `streamrate catalog check` accepts generated
# catalogs of several seeds and shapes (skipped while that command is not
# built yet).
#
# usage: test_gen.sh path/to/streamrate
set -uo pipefail

exe=${1:?usage: test_gen.sh path/to/streamrate}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

gen() {
	"$exe" gen "$@" >/dev/null || fail "streamrate gen $* exited $?"
}

# ---- reproducibility --------------------------------------------------

gen --out "$tmp/a" --seed 42 --subscribers 300 --sessions 20000 --files 3
gen --out "$tmp/b" --seed 42 --subscribers 300 --sessions 20000 --files 3
gen --out "$tmp/c" --seed 43 --subscribers 300 --sessions 20000 --files 3

for f in $(cd "$tmp/a" && find . -type f | sort); do
	cmp -s "$tmp/a/$f" "$tmp/b/$f" || fail "same seed, $f differs"
done
[ "$(cd "$tmp/a" && find . -type f | sort)" = \
	"$(cd "$tmp/b" && find . -type f | sort)" ] ||
	fail "same seed, different file sets"
for f in sessions-1.csv sessions-3.csv catalog/subscriptions.csv \
	catalog/rates.csv catalog/content.csv; do
	cmp -s "$tmp/a/$f" "$tmp/c/$f" && fail "seeds 42 and 43 give the same $f"
done

# ---- catalog files and headers ----------------------------------------

declare -A headers=(
	[currencies.csv]="currency,exponent"
	[plans.csv]="plan_id,currency,monthly_fee,packages"
	[content.csv]="content_id,class,package"
	[ppv_prices.csv]="content_id,currency,price"
	[regions.csv]="region,timezone"
	[taxes.csv]="region,rate_percent,valid_from,valid_to"
	[bands.csv]="band,days,from,to"
	[rates.csv]="rate_id,plan_id,class,quality,band,meter,unit,unit_price,valid_from,valid_to"
	[tiers.csv]="rate_id,from_units,unit_price"
	[allowances.csv]="rate_id,units"
	[subscriptions.csv]="subscriber_id,plan_id,region,start,end"
)
n=$(find "$tmp/a/catalog" -type f | wc -l)
[ "$n" -eq 11 ] || fail "catalog has $n files, not 11"
for f in "${!headers[@]}"; do
	if [ ! -f "$tmp/a/catalog/$f" ]; then
		fail "catalog/$f missing"
		continue
	fi
	got=$(head -n 1 "$tmp/a/catalog/$f")
	[ "$got" = "${headers[$f]}" ] || fail "catalog/$f header is '$got'"
	[ "$(wc -l <"$tmp/a/catalog/$f")" -gt 1 ] || fail "catalog/$f has no rows"
done
subs=$(tail -n +2 "$tmp/a/catalog/subscriptions.csv" | cut -d, -f1 | sort -u |
	wc -l)
[ "$subs" -eq 300 ] || fail "subscriptions.csv names $subs subscribers"

# ---- session headers ---------------------------------------------------

std="session_id,subscriber_id,content_id,start,duration_s,bytes,quality"
gen --out "$tmp/s" --seed 5 --sessions 1000 --files 2 --clean
for f in "$tmp/s/sessions-1.csv" "$tmp/s/sessions-2.csv"; do
	got=$(head -n 1 "$f")
	[ "$got" = "$std" ] || fail "$(basename "$f") header is '$got'"
done
# --clean: one record a line, seven plain fields each, 500 per file.
for f in "$tmp/s"/sessions-*.csv; do
	bad=$(tail -n +2 "$f" | awk -F, 'NF != 7 || /"/' | wc -l)
	[ "$bad" -eq 0 ] || fail "$(basename "$f"): $bad odd lines under --clean"
	[ "$(wc -l <"$f")" -eq 501 ] || fail "$(basename "$f"): not 500 records"
done

gen --out "$tmp/f" --seed 5 --sessions 100 --header full --no-bom
got=$(head -n 1 "$tmp/f/sessions-1.csv")
[ "$got" = "$std,device_id,ip,country" ] || fail "full header is '$got'"

# Shuffled headers hold every required column once, BOM or not.
gen --out "$tmp/h" --seed 6 --sessions 100 --files 4 --header shuffle --bom
for f in "$tmp/h"/sessions-*.csv; do
	head -c 3 "$f" | cmp -s - <(printf '\xef\xbb\xbf') ||
		fail "$(basename "$f"): no BOM under --bom"
	cols=$(head -n 1 "$f" | tail -c +4 | tr ',' '\n')
	for c in ${std//,/ }; do
		[ "$(grep -cx "$c" <<<"$cols")" -eq 1 ] ||
			fail "$(basename "$f"): column $c not there once"
	done
done

# ---- the catalog does not depend on the session options ---------------

gen --out "$tmp/k" --seed 42 --subscribers 300 --catalog-only
gen --out "$tmp/l" --seed 42 --subscribers 300 --sessions-only --sessions 10
diff -r "$tmp/a/catalog" "$tmp/k/catalog" >/dev/null ||
	fail "the catalog changes with the session options"
[ -e "$tmp/k/sessions-1.csv" ] && fail "--catalog-only wrote sessions"
[ -e "$tmp/l/catalog" ] && fail "--sessions-only wrote a catalog"

# ---- usage errors ------------------------------------------------------

for args in "" "--out" "--out $tmp/x --period 2024-13" \
	"--out $tmp/x --mix nosuchkind=1" "--out $tmp/x --edge 101" \
	"--out $tmp/x --content 7" "--out $tmp/x --frobnicate"; do
	# shellcheck disable=SC2086
	"$exe" gen $args >/dev/null 2>&1
	rc=$?
	[ $rc -eq 1 ] || fail "gen $args exited $rc, not 1"
done
"$exe" gen --help | grep -q -- "--mix" || fail "--help does not list --mix"

# ---- --clean rates every record (Python oracle) ------------------------

oracle="$here/oracle/ref.py"
if command -v python3 >/dev/null && [ -f "$oracle" ]; then
	gen --out "$tmp/o" --seed 11 --subscribers 400 --sessions 5000 --clean
	if python3 "$oracle" rate --catalog "$tmp/o/catalog" --period 2024-03 \
		--out "$tmp/o/out" "$tmp/o/sessions-1.csv"; then
		grep -q '"records":5000,"rated":5000,' "$tmp/o/out/summary.json" ||
			fail "--clean: not every record rated by the oracle"
	else
		fail "the oracle refused a generated --clean workload"
	fi
else
	echo "SKIP: no python3 or oracle: --clean rating not checked"
fi

# ---- streamrate catalog check -------------------------------------------

out=$("$exe" catalog check "$tmp/a/catalog" 2>&1)
if grep -q "not built yet" <<<"$out"; then
	echo "SKIP: 'streamrate catalog check' is not built yet"
else
	shapes=("--seed 1" "--seed 2 --plans 1 --content 8 --subscribers 1"
		"--seed 3 --plans 4 --rates 5" "--seed 4 --plans 45 --rates 400"
		"--seed 5 --period 2023-02 --subscribers 5000"
		"--seed 6 --period 2024-10" "--seed 7 --period 2025-11")
	for shape in "${shapes[@]}"; do
		dir="$tmp/cat-${shape// /_}"
		# shellcheck disable=SC2086
		gen --out "$dir" --catalog-only $shape
		"$exe" catalog check "$dir/catalog" >"$tmp/check.out" 2>&1 ||
			fail "catalog check rejects 'gen $shape': $(head -5 "$tmp/check.out")"
	done
fi

if [ "$failures" -ne 0 ]; then
	echo "$failures failure(s)" >&2
	exit 1
fi
echo "gen: all checks passed"
