#!/usr/bin/env bash
# End-to-end properties of `streamrate follow` and `streamrate close`:
#  - catching up on files and directories gives, per period, the rows a
#    batch `rate` of that period gives over the same files (rated rows
#    byte for byte and in order; rejects the same, file column aside when
#    rotation renamed files), and close gives byte-identical invoices;
#  - records appended in pieces (partial lines) are rated once complete;
#  - kill -9 at random moments while a writer appends and rotates the
#    file (rename and copy-truncate): after restarts, the same outputs;
#  - a file re-fed under another name: every record a duplicate;
#  - a closed period: later records rejected as period_closed;
#  - a file with a bad header is skipped with file:line, others go on;
#  - SIGTERM: exit 0 after a commit; a second follow on a state: refused.
set -euo pipefail
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
pass=0
failed=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
cd "$tmp"

# The comparison: for every period follow wrote, batch `rate` of that
# period over the given files. Rejects are compared without their file
# column when --renamed (rotation gives the followed path, batch the
# rotated file names); malformed records are compared with
# rejects-unknown.csv.
cat > cmp.py <<'EOF'
import csv, glob, io, os, re, subprocess, sys

def rows(data):
    out, start, q = [], 0, False
    for i, c in enumerate(data):
        if c == 0x22:
            q = not q
        elif c == 0x0A and not q:
            out.append(data[start:i + 1])
            start = i + 1
    if start < len(data):
        out.append(data[start:])
    return out

def reason(row):
    return next(csv.reader(io.StringIO(row.decode('latin-1'), newline='')))[2]

def drop_file(rs):
    """The rows without their first (file) field."""
    out = [rs[0]]
    for r in rs[1:]:
        if r[:1] == b'"':
            j = 1
            while True:
                j = r.index(b'"', j)
                if r[j + 1:j + 2] != b'"':
                    break
                j += 2
            out.append(r[j + 2:])
        else:
            out.append(r[r.index(b',') + 1:])
    return out

def main():
    bin_, db, mode, out, batch = sys.argv[1:6]
    files = sys.argv[6:]
    names = glob.glob(out + '/rated-*.csv') + glob.glob(out + '/rejects-[0-9]*.csv')
    periods = sorted({re.search(r'(\d{4}-\d\d)\.csv$', n).group(1) for n in names})
    fails = []
    unknown = None
    for p in periods:
        b = f'{batch}/{p}'
        if not os.path.exists(b + '/rated.csv'):
            os.makedirs(batch, exist_ok=True)
            subprocess.run([bin_, 'rate', '--db', db, '--period', p, '--out', b] + files, check=True)
        br = open(b + '/rated.csv', 'rb').read()
        fr = open(f'{out}/rated-{p}.csv', 'rb').read() if os.path.exists(f'{out}/rated-{p}.csv') else rows(br)[0]
        if fr != br:
            fails.append(f'rated-{p}.csv differs from batch')
        bj = rows(open(b + '/rejects.csv', 'rb').read())
        fj = rows(open(f'{out}/rejects-{p}.csv', 'rb').read()) if os.path.exists(f'{out}/rejects-{p}.csv') else bj[:1]
        want = [bj[0]] + [r for r in bj[1:] if reason(r) != 'other_period' and not reason(r).startswith('malformed')]
        if unknown is None:
            unknown = [bj[0]] + [r for r in bj[1:] if reason(r).startswith('malformed')]
        if mode == 'renamed':
            want, fj = drop_file(want), drop_file(fj)
        if fj != want:
            fails.append(f'rejects-{p}.csv differs from batch ({len(fj)} rows, want {len(want)})')
    if unknown is not None:
        fu = rows(open(out + '/rejects-unknown.csv', 'rb').read()) if os.path.exists(out + '/rejects-unknown.csv') else unknown[:1]
        fu = [fu[0]] + [r for r in fu[1:] if reason(r) != 'other_period']
        if mode == 'renamed':
            unknown, fu = drop_file(unknown), drop_file(fu)
        if fu != unknown:
            fails.append(f'rejects-unknown.csv differs from batch ({len(fu)} rows, want {len(unknown)})')
    for f in fails:
        print(f)
    print(f'{len(periods)} periods compared')
    sys.exit(1 if fails else 0)

main()
EOF

compare() { # label mode follow-out batch-dir files...
	local label=$1
	shift
	if python3 cmp.py "$bin" w/db "$@" > cmp.log 2>&1; then ok; else bad "$label: $(cat cmp.log)"; fi
}

same_invoices() { # label state period batch-dir
	"$bin" close --db w/db --state "$2" --period "$3" --out "$2.inv" 2>/dev/null
	if cmp -s "$2.inv/invoices-$3.jsonl" "$4/$3/invoices-$3.jsonl" &&
		cmp -s "$2.inv/invoices-$3.csv" "$4/$3/invoices-$3.csv"; then
		ok
	else
		bad "$1: invoices-$3 differ from batch"
	fi
}

# An array, not a function: a background function would be a subshell,
# and signals would reach it instead of follow.
follow=("$bin" follow --db w/db --quiet)

# Every edge-case kind but 'eof' (a last record without LF, which follow
# rightly waits for).
mix=field=20,line=8,dup=8,quote=6,crlf=6,empty=3,offset=10,period=6,unknown=6,nosub=5,dst=4,bound=6,ppv=6,noent=5,big=3,tier=2
"$bin" gen --out w --seed 7 --edge 10 --mix "$mix" --subscribers 300 \
	--sessions 40000 --files 3 --period 2024-03 > /dev/null
"$bin" catalog load --db w/db w/catalog > /dev/null

# 1. Catching up: three files, then a directory of them.
"${follow[@]}" --state s1 --out o1 --once w/sessions-1.csv w/sessions-2.csv w/sessions-3.csv
compare "catch up, files" exact o1 b1 w/sessions-1.csv w/sessions-2.csv w/sessions-3.csv
same_invoices "catch up" s1 2024-03 b1
same_invoices "catch up" s1 2024-02 b1
mkdir d2
cp w/sessions-1.csv d2/a.csv
cp w/sessions-2.csv d2/b.csv
"${follow[@]}" --state s2 --out o2 --once d2
compare "catch up, directory" exact o2 b2 d2/a.csv d2/b.csv

# 2. A directory grows: a new file appears, and then the first file comes
# again under another name: all its records are duplicates.
cp w/sessions-3.csv d2/c.csv
"${follow[@]}" --state s2 --out o2 --once d2
cp w/sessions-1.csv d2/d.csv
"${follow[@]}" --state s2 --out o2 --once d2
compare "re-fed file" exact o2 b2x d2/a.csv d2/b.csv d2/c.csv d2/d.csv
n=$(grep -c ",duplicate," o2/rejects-2024-03.csv || true)
[ "$n" -gt 10000 ] && ok || bad "re-fed file: only $n duplicates"
same_invoices "re-fed file" s2 2024-03 b2x

# 3. Live, with partial lines: a writer appends the file in random pieces
# while follow runs; SIGTERM ends it with exit 0.
cat > writer.py <<'EOF'
import os, random, shutil, sys, time
src, path, gens, seed, rotate = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
rnd = random.Random(seed)
data = open(src, 'rb').read()
nl = data.index(b'\n') + 1
header, lines = data[:nl], data[nl:].splitlines(keepends=True)
written, i, k = [], 0, 0
while True:
    n = rnd.randint(2500, 5000) if rotate != 'none' else len(lines)
    part = header + b''.join(lines[i:i + n])
    i += n
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    pos = 0
    while pos < len(part):
        step = rnd.randint(1, 3000)
        os.write(fd, part[pos:pos + step])
        pos += step
        time.sleep(rnd.random() * 0.003)
    if i >= len(lines):
        written.append(path)
        os.close(fd)
        break
    k += 1
    g = f'{path}.{k}'
    if rotate == 'rename' or (rotate == 'both' and k % 2):
        os.rename(path, g)
    else:
        shutil.copyfile(path, g)
        os.ftruncate(fd, 0)
    os.close(fd)
    written.append(g)
open(gens, 'w').write('\n'.join(written) + '\n')
EOF
mkdir live
"${follow[@]}" --state s3 --out o3 live/log.csv &
fpid=$!
pids+=("$fpid")
python3 writer.py w/sessions-1.csv live/log.csv gens3 3 none
sleep 0.5
kill -TERM "$fpid"
code=0
wait "$fpid" || code=$?
[ "$code" -eq 0 ] && ok || bad "SIGTERM: exit $code"
compare "live, partial lines" exact o3 b3 live/log.csv

# 4. kill -9 at random moments while the writer appends and rotates by
# rename and by copy-truncate; follow restarts each time. The followed
# file does not exist when follow starts.
mkdir rot
cat w/sessions-2.csv > src4.csv
tail -n +2 w/sessions-3.csv >> src4.csv
python3 writer.py src4.csv rot/log.csv gens4 4 both &
wpid=$!
pids+=("$wpid")
kills=0
while kill -0 "$wpid" 2>/dev/null; do
	"${follow[@]}" --state s4 --out o4 --commit-ms 20 rot/log.csv 2>> follow4.err &
	fpid=$!
	pids+=("$fpid")
	sleep "0.$((RANDOM % 40 + 5))"
	kill -9 "$fpid" 2>/dev/null || true
	wait "$fpid" 2>/dev/null || true
	kills=$((kills + 1))
done
wait "$wpid"
"${follow[@]}" --state s4 --out o4 --once rot/log.csv 2>> follow4.err
mapfile -t gens < gens4
echo "kill -9 test: $kills kills, ${#gens[@]} generations"
compare "kill -9 with rotation" renamed o4 b4 "${gens[@]}"
same_invoices "kill -9 with rotation" s4 2024-03 b4
if grep -q "gone\|could not be read" follow4.err; then
	bad "kill -9: content lost: $(grep "gone\|could not" follow4.err | head -3)"
else
	ok
fi

# 5. A closed period: what arrives later for it is period_closed, kept
# in its rejects; invoices do not change.
cp w/sessions-3.csv d2/e.csv
"${follow[@]}" --state s2 --out o2 --once d2
c3=$(python3 -c "
import csv,sys
n=0
for r in csv.DictReader(open('d2/e.csv', newline='', encoding='latin-1')):
    n+=1
print(n)" 2>/dev/null || echo 0)
n=$(grep -c ",period_closed," o2/rejects-2024-03.csv || true)
[ "$n" -gt 1000 ] && ok || bad "period_closed: $n rejects"
if grep -q ",period_closed," o2/rejects-2024-02.csv; then
	bad "period_closed in an open period"
else
	ok
fi
cp s2.inv/invoices-2024-03.jsonl keep.jsonl
"$bin" close --db w/db --state s2 --period 2024-03 --out s2.inv 2>/dev/null
cmp -s keep.jsonl s2.inv/invoices-2024-03.jsonl && ok || bad "close again changed invoices"
: "$c3"

# 6. A bad header: reported as file:1 and skipped; the others go on.
mkdir d6
printf 'session_id,subscriber_id,content_id,start,duration_s,quality\nx,y,z,2024-03-01T00:00:00Z,1,SD\n' > d6/a-bad.csv
cp w/sessions-1.csv d6/b.csv
"$bin" follow --db w/db --state s6 --out o6 --once d6 2> err6 || true
grep -q "d6/a-bad.csv:1: header lacks required column 'bytes'" err6 && ok || bad "bad header message: $(cat err6)"
compare "bad header skipped" exact o6 b6 d6/b.csv

# 7. One follow per state; a state is bound to its output directory.
"${follow[@]}" --state s3 --out o3 live/log.csv &
fpid=$!
pids+=("$fpid")
sleep 0.3
code=0
"${follow[@]}" --state s3 --out o3 --once live/log.csv 2> err7 || code=$?
[ "$code" -eq 3 ] && grep -q "another follow" err7 && ok || bad "second follow: exit $code $(cat err7)"
kill -TERM "$fpid"
wait "$fpid" || true
code=0
"${follow[@]}" --state s3 --out o3-other --once live/log.csv 2> err7 || code=$?
[ "$code" -eq 1 ] && ok || bad "other output directory: exit $code $(cat err7)"

code=0
"$bin" close --db w/db --state no-such-state --period 2024-03 --out x 2> err7 || code=$?
[ "$code" -eq 2 ] && [ ! -e no-such-state ] && ok || bad "close without a state: exit $code $(cat err7)"

# 8. nginx-rtmp access logs through a mapping (--nginx): the rated rows
# and invoices of the real capture equal batch `rate` of the same
# sessions written as CSV (tests/fixtures/nginx-rtmp/expected.csv), with
# the capture's subscribers and streams added to a generated catalog.
fx=$here/fixtures/nginx-rtmp
if [ -f "$fx/access.log" ]; then
	"$bin" gen --out n --seed 5 --period 2026-11 --subscribers 20 --catalog-only > /dev/null
	row=$(sed -n 2p n/catalog/content.csv | cut -d, -f2-)
	for c in news cinema sports; do echo "$c,$row" >> n/catalog/content.csv; done
	sub=$(sed -n 3p n/catalog/subscriptions.csv | cut -d, -f2,3)
	for s in 1 2 3 4 5 6 7; do echo "sub00$s,$sub,2026-01-01," >> n/catalog/subscriptions.csv; done
	"$bin" catalog load --db n/db n/catalog > /dev/null
	python3 - "$fx/expected.csv" > n/sessions.csv <<'EOF2'
import csv, sys
cols = ['session_id', 'subscriber_id', 'content_id', 'start', 'duration_s', 'bytes', 'quality']
print(','.join(cols))
for r in csv.DictReader(open(sys.argv[1])):
    if r['outcome'] == 'session':
        print(','.join(r[k] for k in cols))
EOF2
	"$bin" rate --db n/db --period 2026-11 --out n/b n/sessions.csv
	cp "$fx/access.log" n/access.log
	"$bin" follow --db n/db --state n/s --out n/o --once --quiet \
		--nginx "$fx/streamrate.conf" n/access.log
	cmp -s n/o/rated-2026-11.csv n/b/rated.csv && ok || bad "nginx: rated rows differ"
	grep -q "access.log,3,malformed:subscriber_id," n/o/rejects-unknown.csv && ok || bad "nginx: malformed line"
	"$bin" close --db n/db --state n/s --period 2026-11 --out n/o 2>/dev/null
	cmp -s n/o/invoices-2026-11.jsonl n/b/invoices-2026-11.jsonl && ok || bad "nginx: invoices differ"
fi

# 9. close while follow runs and records keep coming: what was committed
# before the close is rated and invoiced, the rest is period_closed; the
# rated rows and invoices equal a batch run over the input up to the
# first period_closed record.
"$bin" gen --out c --seed 9 --clean --subscribers 200 --sessions 30000 \
	--period 2024-03 > /dev/null
"$bin" catalog load --db c/db c/catalog > /dev/null
mkdir c/live
"$bin" follow --db c/db --state c/s --out c/o --quiet --commit-ms 20 c/live/log.csv &
fpid=$!
pids+=("$fpid")
python3 writer.py c/sessions-1.csv c/live/log.csv c/gens 9 none &
wpid=$!
sleep 0.8
"$bin" close --db c/db --state c/s --period 2024-03 --out c/inv 2>/dev/null
wait "$wpid"
sleep 1
kill -TERM "$fpid"
wait "$fpid" || true
first=$(grep -m1 ",period_closed," c/o/rejects-2024-03.csv | cut -d, -f2 || true)
if [ -z "$first" ]; then
	bad "close under follow: no period_closed reject (the writer was too fast?)"
else
	head -n $((first - 1)) c/live/log.csv > c/prefix.csv
	"$bin" rate --db c/db --period 2024-03 --out c/b c/prefix.csv
	cmp -s c/o/rated-2024-03.csv c/b/rated.csv && ok || bad "close under follow: rated rows differ from the prefix"
	cmp -s c/inv/invoices-2024-03.jsonl c/b/invoices-2024-03.jsonl && ok || bad "close under follow: invoices differ from the prefix"
	n=$(($(wc -l < c/live/log.csv) - first + 1))
	m=$(grep -c ",period_closed," c/o/rejects-2024-03.csv)
	[ "$n" -eq "$m" ] && ok || bad "close under follow: $m period_closed, want $n"
fi

# 10. Two rotations while follow is stopped: the generation in between is
# found by its header and modification time, and rated too.
python3 - w/sessions-2.csv gen <<'EOF2'
import sys
data = open(sys.argv[1], 'rb').read()
nl = data.index(b'\n') + 1
lines = data[nl:].splitlines(keepends=True)
k = len(lines) // 3
for i, part in enumerate([lines[:k // 2], lines[k // 2:k], lines[k:2 * k], lines[2 * k:]]):
    open(f'{sys.argv[2]}{i}', 'wb').write((data[:nl] if i != 1 else b'') + b''.join(part))
EOF2
for how in rename copy; do
	mkdir "two-$how"
	cat gen0 > "two-$how/log.csv"
	"${follow[@]}" --state "two-$how.s" --out "two-$how.o" --once "two-$how/log.csv"
	cat gen1 >> "two-$how/log.csv"
	for g in 2 3; do
		sleep 0.02
		if [ "$how" = rename ]; then
			mv "two-$how/log.csv" "two-$how/log.csv.$g"
		else
			cp "two-$how/log.csv" "two-$how/log.csv.$g"
			: > "two-$how/log.csv"
		fi
		sleep 0.02
		cat "gen$g" >> "two-$how/log.csv"
	done
	"${follow[@]}" --state "two-$how.s" --out "two-$how.o" --once "two-$how/log.csv"
compare "two rotations ($how) while stopped" renamed "two-$how.o" "two-$how.b" \
		"two-$how/log.csv.2" "two-$how/log.csv.3" "two-$how/log.csv"
done

# 11. A rotation before any record of the file was rated: follow opened
# the new file (its identity committed at offset 0) and was stopped;
# then the file was rotated away, by rename, and by copy-truncate followed
# by a rename of the same file. The committed file is found again (by
# inode; for the copy, by its header and a modification time after follow
# opened it), not skipped for what the path holds now.
python3 - w/sessions-3.csv part <<'EOF2'
import sys
data = open(sys.argv[1], 'rb').read()
nl = data.index(b'\n') + 1
lines = data[nl:].splitlines(keepends=True)
k = len(lines) // 4
for i in range(4):
    open(f'{sys.argv[2]}{i}', 'wb').write(data[:nl] + b''.join(lines[i * k:(i + 1) * k]))
EOF2
for how in rename copy; do
	d=zero-$how
	mkdir "$d"
	cat part0 > "$d/log.csv"
	"${follow[@]}" --state "$d.s" --out "$d.o" --once "$d/log.csv"
	mv "$d/log.csv" "$d/log.csv.1"
	: > "$d/log.csv"
	"${follow[@]}" --state "$d.s" --out "$d.o" --once "$d/log.csv"
	sleep 0.02
	cat part1 >> "$d/log.csv"
	if [ "$how" = rename ]; then
		mv "$d/log.csv" "$d/log.csv.2"
		cat part2 > "$d/log.csv"
		files=("$d/log.csv.1" "$d/log.csv.2" "$d/log.csv")
	else
		cp "$d/log.csv" "$d/log.csv.2"
		truncate -s 0 "$d/log.csv"
		cat part2 >> "$d/log.csv"
		mv "$d/log.csv" "$d/log.csv.3"
		cat part3 > "$d/log.csv"
		files=("$d/log.csv.1" "$d/log.csv.2" "$d/log.csv.3" "$d/log.csv")
	fi
	"${follow[@]}" --state "$d.s" --out "$d.o" --once "$d/log.csv" 2> "$d.err"
	compare "rotated before a record was rated ($how)" renamed "$d.o" "$d.b" "${files[@]}"
done

# 12. A rotation's next file created at the path while follow looks for
# generations rotated away unseen (the path missing when looked up, the
# file there by the time the directory is read; the hook holds follow
# between the two): the file is the path's, read once from its start, not
# first as a rotated generation and then again (its records duplicates).
mkdir scan
cat part0 > scan/log.csv
"${follow[@]}" --state scan.s --out scan.o --once scan/log.csv
mv scan/log.csv scan/log.csv.1
SR_FOLLOW_TEST_SCAN_HOOK=$tmp/scan.hook "${follow[@]}" --state scan.s \
	--out scan.o --once scan/log.csv &
fpid=$!
pids+=("$fpid")
for _ in $(seq 500); do [ -e scan.hook ] && break; sleep 0.02; done
[ -e scan.hook ] && ok || bad "scan hook: follow never looked for generations"
sleep 0.02
cat part1 > scan/log.csv
rm -f scan.hook
wait "$fpid"
compare "file created at the path during a scan" renamed scan.o scan.b \
	scan/log.csv.1 scan/log.csv

echo "follow: $pass passed, $failed failed"
[ "$failed" -eq 0 ]
