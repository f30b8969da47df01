#!/usr/bin/env bash
# End-to-end properties of `streamrate rate` on generated workloads:
#  - outputs byte-identical to the independent Python oracle
#    (tests/oracle/ref.py), summary.json included but for its timings;
#  - every output byte-identical whatever --threads and --chunk-size;
#  - every input record in rated.csv or rejects.csv exactly once;
#  - exit codes of SPEC section 7, with no output changed on failure;
#  - a run killed with SIGKILL leaves the previous outputs intact.
set -euo pipefail
bin=$(realpath "$1")
root=$(cd "$(dirname "$0")/.." && pwd)
oracle="$root/tests/oracle/ref.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
failed=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
outs="rated.csv rejects.csv invoices-2024-03.jsonl invoices-2024-03.csv"

same_outputs() { # dir dir label
	local f
	for f in $outs; do
		cmp -s "$1/$f" "$2/$f" || { bad "$3: $f differs"; diff <(head -c 2000000 "$1/$f") <(head -c 2000000 "$2/$f") | head -5; return 0; }
	done
	sed 's/"seconds":[^}]*}/}/' "$1/summary.json" > "$tmp/s1"
	sed 's/"seconds":[^}]*}/}/' "$2/summary.json" > "$tmp/s2"
	cmp -s "$tmp/s1" "$tmp/s2" || { bad "$3: summary.json differs"; return 0; }
	ok
}

# Every input record exactly once: rated rows + reject rows = records,
# and records + skipped = the records the oracle saw (it counts lines
# of every kind the same way).
count_check() { # outdir label
	local rated rejected records
	rated=$(python3 -c "import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline='', encoding='latin-1')))-1)" "$1/rated.csv")
	rejected=$(python3 -c "import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline='', encoding='latin-1')))-1)" "$1/rejects.csv")
	records=$(sed 's/.*"records":\([0-9]*\).*/\1/' "$1/summary.json")
	[ $((rated + rejected)) -eq "$records" ] && ok || bad "$2: $rated rated + $rejected rejected != $records records"
}

workload() { # name gen-args...
	local name=$1
	shift
	"$bin" gen --out "$tmp/$name" "$@" >/dev/null
	"$bin" catalog load --db "$tmp/$name/db" "$tmp/$name/catalog" >/dev/null
	python3 "$oracle" rate --catalog "$tmp/$name/catalog" --period 2024-03 \
		--out "$tmp/$name/ref" "$tmp/$name"/sessions-*.csv
}

rate() { # name outdir extra-args...
	local name=$1 out=$2
	shift 2
	"$bin" rate --db "$tmp/$name/db" --period 2024-03 --out "$out" "$@" \
		"$tmp/$name"/sessions-*.csv
}

# 1. Against the oracle, on several seeds and edge-case mixes.
for spec in "1 5 mixed" "2 20 shuffle" "3 60 mixed" "4 0 std" "5 100 shuffle"; do
	set -- $spec
	name="w$1"
	workload "$name" --seed "$1" --edge "$2" --header "$3" \
		--subscribers 300 --sessions 6000 --files 2 --period 2024-03
	rate "$name" "$tmp/$name/out"
	same_outputs "$tmp/$name/out" "$tmp/$name/ref" "oracle seed $1 edge $2"
	count_check "$tmp/$name/out" "seed $1"
done

# 2. Determinism: threads x chunk sizes, including chunks of a few bytes
# that put quoted line breaks and CRLF at every chunk edge.
for t in 1 2 3 8; do
	for c in 1 3 64 4096 65536 1048576; do
		rate w3 "$tmp/m" --threads "$t" --chunk-size "$c"
		same_outputs "$tmp/m" "$tmp/w3/ref" "threads $t chunk $c"
		rm -rf "$tmp/m"
	done
done

# 2b. A file fed again after others: every record of the copy is a
# duplicate, claimed while the workers are still starting up (a worker
# that populated its share of the duplicate set with stores erased keys
# the other had just claimed: two duplicates were rated, with 2 threads
# only). Checked against the oracle, several times per thread count.
workload dup --seed 7 --edge 10 --subscribers 300 --sessions 40000 \
	--files 3 --period 2024-03
cp "$tmp/dup/sessions-1.csv" "$tmp/dup/sessions-4.csv"
python3 "$oracle" rate --catalog "$tmp/dup/catalog" --period 2024-03 \
	--out "$tmp/dup/ref" "$tmp/dup"/sessions-*.csv
for t in 1 2 3 8; do
	for i in 1 2 3; do
		rate dup "$tmp/m" --threads "$t"
		same_outputs "$tmp/m" "$tmp/dup/ref" "re-fed file, threads $t"
		rm -rf "$tmp/m"
	done
done

# 3. Standard input gives the same as a file (file name '-' in rejects).
"$bin" rate --db "$tmp/w2/db" --period 2024-03 --out "$tmp/stdin" - \
	< "$tmp/w2/sessions-1.csv"
python3 "$oracle" rate --catalog "$tmp/w2/catalog" --period 2024-03 \
	--out "$tmp/stdin-ref" - < "$tmp/w2/sessions-1.csv"
same_outputs "$tmp/stdin" "$tmp/stdin-ref" "stdin"
cat "$tmp/w2/sessions-1.csv" | "$bin" rate --db "$tmp/w2/db" --period 2024-03 \
	--out "$tmp/pipe" --chunk-size 1000 -
same_outputs "$tmp/pipe" "$tmp/stdin-ref" "pipe"

# 4. Exit codes, and nothing changed on failure.
expect_exit() { # code label command...
	local want=$1 label=$2 got=0
	shift 2
	"$@" 2>"$tmp/err" >/dev/null || got=$?
	if [ "$got" -ne "$want" ]; then
		bad "$label: exit $got, want $want ($(cat "$tmp/err"))"
	elif [ "$want" -ne 0 ] && [ ! -s "$tmp/err" ]; then
		bad "$label: no message"
	else
		ok
	fi
}
cp -r "$tmp/w1/out" "$tmp/keep"
printf 'session_id,subscriber_id,content_id,start,duration_s,quality\n' > "$tmp/nobytes.csv"
expect_exit 2 "missing column" "$bin" rate --db "$tmp/w1/db" --period 2024-03 \
	--out "$tmp/w1/out" "$tmp/w1/sessions-1.csv" "$tmp/nobytes.csv"
grep -q "nobytes.csv:1: header lacks required column 'bytes'" "$tmp/err" && ok || bad "missing column message: $(cat "$tmp/err")"
printf 'session_id,subscriber_id,content_id,start,duration_s,bytes,quality,bytes\n' > "$tmp/twice.csv"
expect_exit 2 "column twice" "$bin" rate --db "$tmp/w1/db" --period 2024-03 \
	--out "$tmp/w1/out" "$tmp/twice.csv"
printf 'session_id,"sub\n' > "$tmp/split.csv"
expect_exit 2 "header cannot be split" "$bin" rate --db "$tmp/w1/db" \
	--period 2024-03 --out "$tmp/w1/out" "$tmp/split.csv"
expect_exit 3 "missing input" "$bin" rate --db "$tmp/w1/db" --period 2024-03 \
	--out "$tmp/w1/out" "$tmp/no-such-file.csv"
grep -q "no-such-file.csv" "$tmp/err" && ok || bad "missing input names the file"
expect_exit 2 "missing catalog" "$bin" rate --db "$tmp/no-db" --period 2024-03 \
	--out "$tmp/w1/out" "$tmp/w1/sessions-1.csv"
expect_exit 1 "bad period" "$bin" rate --db "$tmp/w1/db" --period 2024-13 \
	--out "$tmp/w1/out" "$tmp/w1/sessions-1.csv"
expect_exit 1 "no file" "$bin" rate --db "$tmp/w1/db" --period 2024-03 \
	--out "$tmp/w1/out"
diff -r "$tmp/keep" "$tmp/w1/out" >/dev/null && ok || bad "outputs changed by failed runs"

# 5. Killed midway: previous outputs stay whole. A slow pipe keeps the
# run alive long enough to be killed while writing.
(
	head -1 "$tmp/w1/sessions-1.csv"
	for i in 1 2 3 4 5 6 7 8 9 10; do tail -n +2 "$tmp/w1/sessions-1.csv"; sleep 0.1; done
) | "$bin" rate --db "$tmp/w1/db" --period 2024-03 --out "$tmp/w1/out" --chunk-size 4096 - &
pid=$!
sleep 0.4
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
for f in $outs summary.json; do
	cmp -s "$tmp/keep/$f" "$tmp/w1/out/$f" || bad "killed run changed $f"
done
ok
# The next run cleans the killed run's temporary files away.
rate w1 "$tmp/w1/out"
if ls -A "$tmp/w1/out" | grep -q '\.tmp\.'; then
	bad "stale temporary files left: $(ls -A "$tmp/w1/out")"
else
	ok
fi
same_outputs "$tmp/w1/out" "$tmp/w1/ref" "after a killed run"

echo "rate e2e: $pass passed, $failed failed"
[ "$failed" -eq 0 ]
