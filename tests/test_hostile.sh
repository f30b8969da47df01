#!/usr/bin/env bash
# Hostile session files, rated by the engine and by the oracle
# (tests/oracle/ref.py): NUL bytes, invalid UTF-8, records of 65535, 65536
# and 65537 bytes and of several megabytes, binary garbage, a file ending
# inside a quoted field, CR without LF, a header only, an empty file, a
# file of only a BOM. Each case must give the same exit code and, when the
# run is done, byte-identical outputs (summary.json without its timings),
# whatever the threads and chunk size, from a file or from a pipe.
#
#   tests/test_hostile.sh STREAMRATE_BIN
set -euo pipefail
bin=$(realpath "$1")
root=$(cd "$(dirname "$0")/.." && pwd)
oracle="$root/tests/oracle/ref.py"
catalog="$root/tests/fuzz/catalog"
tmp=$(mktemp -d)
trap "rm -rf \"\$tmp\"" EXIT
pass=0
failed=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

"$bin" catalog load --db "$tmp/db" "$catalog" >/dev/null

# The cases, written by a seeded generator so that they are the same on
# every run.
python3 - "$tmp/in" <<'EOF'
import os, random, sys

out = sys.argv[1]
os.makedirs(out)
rnd = random.Random(20240301)
HEADER = b'session_id,subscriber_id,content_id,start,duration_s,bytes,quality,device_id\n'


def rec(sid, sub=b's1', content=b'c1', start=b'2024-03-05T19:00:00Z',
        dur=b'125', nbytes=b'1000', q=b'HD', dev=b'tv'):
    return b','.join([sid, sub, content, start, dur, nbytes, q, dev])


def write(name, data):
    with open(os.path.join(out, name + '.csv'), 'wb') as f:
        f.write(data)


good = rec(b'ok1') + b'\n' + rec(b'ok2', b's2', b'c1', q=b'SD') + b'\n'

# NUL bytes: in an id (malformed), in an optional column (data), alone.
write('nul', HEADER + good + rec(b'n\x00ul') + b'\n' +
      rec(b'nul2', dev=b'd\x00\x00v') + b'\n\x00\n' +
      rec(b'nul3', content=b'\x00') + b'\n' + b'\x00' * 40 + b'\n')
# Invalid UTF-8: bytes, not text; ids may hold them.
write('utf8', HEADER + rec(b'\xff\xfe\xc3', sub=b's1') + b'\n' +
      rec(b'\xc0\x80', sub=b'\xed\xa0\x80') + b'\n' +
      rec(b'u3', dev=b'\x80"') + b'\n' + rec(b'"\xe2\x82"', dev=b'"\xf0,"') +
      b'\n' + good)
# Records of exactly 65535, 65536 and 65537 bytes (the limit is 65536
# without the line end), with LF and with CRLF, and a quoted field that
# makes a record too long across several lines.
lim = []
for n in (65535, 65536, 65537):
    for end in (b'\n', b'\r\n'):
        sid = b'L%d-%d' % (n, len(end))
        r = rec(sid, dev=b'x' * (n - len(rec(sid, dev=b''))))
        assert len(r) == n
        lim.append(r + end)
        # The same length in the session id: malformed:session_id.
        lim.append(rec(b'y' * (n - len(rec(b'', dev=b''))), dev=b'') + end)
big_quoted = rec(b'q', dev=b'"' + b'ab\n' * 21846 + b'"')
write('limits', HEADER + b''.join(lim) + good + big_quoted + b'\n' + good)
# Several megabytes on one line, quoted and not, then good records.
write('megaline', HEADER + rec(b'm1', dev=b'y' * (3 << 20)) + b'\n' + good +
      rec(b'm2', dev=b'"' + b'z,\r\n' * (1 << 20) + b'"') + b'\n' + good +
      b'w' * (2 << 20) + b'\n' + good)
# Binary garbage after a valid header, and as a whole file.
garbage = bytes(rnd.getrandbits(8) for _ in range(300000))
write('garbage', HEADER + good + garbage + b'\n' + good)
sparse = bytearray(garbage)
for i in range(0, len(sparse), 97):
    sparse[i] = 10  # LF now and then, so that records resync
write('garbage_lines', HEADER + bytes(sparse) + good)
write('garbage_whole', garbage)
# Files ending inside a quoted field.
write('open_quote', HEADER + good + rec(b'oq', dev=b'"never closed\nstill\n'))
write('open_quote_eof', HEADER + good + b'"')
# CR without LF: inside records, as the only line end, at the very end.
write('bare_cr', HEADER + good + rec(b'cr1') + b'\r' + rec(b'cr2') + b'\n' +
      rec(b'cr3', dev=b'a\rb') + b'\n\r\n\r\r\n' + good + rec(b'cr4') + b'\r')
write('cr_only', HEADER.replace(b'\n', b'\r') + good.replace(b'\n', b'\r'))
# Header only, with and without its line end and BOM; empty; a BOM only.
write('header_only', HEADER)
write('header_only_nolf', HEADER[:-1])
write('header_only_bom_crlf', b'\xef\xbb\xbf' + HEADER[:-1] + b'\r\n')
write('empty', b'')
write('bom_only', b'\xef\xbb\xbf')
write('bom_partial', b'\xef\xbb')
# Many empty lines and lines of spaces around good records.
write('blank', HEADER + b'\n' * 5000 + good + b' \n' * 3 + b'\r\n' * 7 + good)
EOF

same_outputs() { # engine-dir oracle-dir label
	local f
	for f in rated.csv rejects.csv invoices-2024-03.jsonl invoices-2024-03.csv; do
		if ! cmp -s "$1/$f" "$2/$f"; then
			bad "$3: $f differs"
			diff -a <(head -c 3000 "$1/$f") <(head -c 3000 "$2/$f") | head -6
			return 0
		fi
	done
	sed 's/,"seconds":.*}/}/' "$1/summary.json" >"$tmp/s1"
	sed 's/,"seconds":.*}/}/' "$2/summary.json" >"$tmp/s2"
	cmp -s "$tmp/s1" "$tmp/s2" || { bad "$3: summary.json differs"; diff "$tmp/s1" "$tmp/s2"; return 0; }
	ok
}

# check LABEL ARGS FILES...: the engine and the oracle on the same files.
check() { # label "engine args" files...
	local label=$1 args=$2 e=0 r=0
	shift 2
	rm -rf "$tmp/e" "$tmp/r"
	# shellcheck disable=SC2086 # args are words
	(cd "$tmp/in" && "$bin" rate --db "$tmp/db" --period 2024-03 \
		--out "$tmp/e" $args "$@") >/dev/null 2>"$tmp/e.err" || e=$?
	(cd "$tmp/in" && python3 "$oracle" rate --catalog "$catalog" \
		--period 2024-03 --out "$tmp/r" "$@") >/dev/null 2>"$tmp/r.err" || r=$?
	if [ "$e" -ne "$r" ]; then
		bad "$label: engine exit $e, oracle exit $r ($(head -c 300 "$tmp/e.err"))"
	elif [ "$e" -ne 0 ]; then
		# A refused run writes nothing and says which file.
		if [ -e "$tmp/e" ] && [ -n "$(ls -A "$tmp/e")" ]; then
			bad "$label: exit $e but outputs written"
		elif ! grep -q "$1" "$tmp/e.err"; then
			bad "$label: message does not name $1: $(cat "$tmp/e.err")"
		else
			ok
		fi
	else
		same_outputs "$tmp/e" "$tmp/r" "$label"
	fi
}

cases=(nul utf8 limits megaline garbage garbage_lines garbage_whole
	open_quote open_quote_eof bare_cr cr_only header_only header_only_nolf
	header_only_bom_crlf empty bom_only bom_partial blank)
for c in "${cases[@]}"; do
	check "$c" "" "$c.csv"
done

# Thread counts and chunk sizes that put record edges, the 64 KiB limit
# and multi-megabyte tails (longer than a read buffer's padding) at many
# positions of the reads. Reads much shorter than a record cost a rescan
# of the record per read, so long records get larger reads.
matrix() { # case "threads chunk"...
	local c=$1 tc
	shift
	for tc in "$@"; do
		# shellcheck disable=SC2086 # two words
		set -- $tc
		check "$c threads $1 chunk $2" "--threads $1 --chunk-size $2" "$c.csv"
	done
}
for c in nul utf8 bare_cr open_quote garbage_lines blank; do
	matrix "$c" "1 1" "2 7" "3 4096" "2 65536"
done
matrix limits "1 4096" "2 65537" "3 131072"
matrix megaline "2 65536" "4 1048576"

# Every case that rates, in one run: line numbers and duplicates across
# files.
check "all files" "" nul.csv utf8.csv limits.csv megaline.csv garbage.csv \
	garbage_lines.csv open_quote.csv bare_cr.csv header_only.csv empty.csv \
	bom_only.csv blank.csv open_quote_eof.csv

# From a pipe: the same outputs (file name '-').
for c in limits megaline bare_cr; do
	rm -rf "$tmp/e" "$tmp/r"
	"$bin" rate --db "$tmp/db" --period 2024-03 --out "$tmp/e" \
		--chunk-size 5000 - <"$tmp/in/$c.csv" >/dev/null
	python3 "$oracle" rate --catalog "$catalog" --period 2024-03 \
		--out "$tmp/r" - <"$tmp/in/$c.csv" >/dev/null
	same_outputs "$tmp/e" "$tmp/r" "$c from a pipe"
done

echo "hostile: $pass passed, $failed failed"
[ "$failed" -eq 0 ]
