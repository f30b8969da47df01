#!/usr/bin/env bash
# Faults around `streamrate rate`: full disks, inputs that cannot be read,
# missing and damaged catalogs, outputs that cannot be written, kill -9.
# Every failure must exit 3 (I/O) or 2 (bad catalog), print a message that
# names the file, leave the previous outputs byte for byte as they were,
# and leave no temporary file behind. A killed run leaves each output as
# it was or complete and new (SPEC section 5).
#
#   tests/test_faults.sh STREAMRATE_BIN
#
# Cases that need root powers the machine may not grant (mounting a
# tmpfs or a loop device, chattr, running as another user) are skipped
# with a note when unavailable.
set -euo pipefail
bin=$(realpath "$1")
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
mounts=()
immutable=()
cleanup() {
	local m
	for m in "${immutable[@]}"; do chattr -i "$m" 2>/dev/null || true; done
	for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
pass=0
failed=0
skipped=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
skip() { echo "SKIP: $*"; skipped=$((skipped + 1)); }
outs="rated.csv rejects.csv invoices-2024-03.jsonl invoices-2024-03.csv summary.json"

# ---- inputs -------------------------------------------------------------

# w: a generated workload (about 19 MB of sessions, 500 subscribers).
"$bin" gen --out "$tmp/w" --seed 7 --subscribers 500 --sessions 150000 \
	--edge 5 >/dev/null
"$bin" catalog load --db "$tmp/w/db" "$tmp/w/catalog" >/dev/null
big=$tmp/w/sessions-1.csv
# clean: the same catalog, sessions without edge cases (few rejects).
"$bin" gen --out "$tmp/clean" --seed 7 --subscribers 500 --sessions 150000 \
	--clean >/dev/null
# many: 6000 subscribers and few sessions: large invoice files.
"$bin" gen --out "$tmp/many" --seed 3 --subscribers 6000 --sessions 200 \
	--clean >/dev/null
"$bin" catalog load --db "$tmp/many/db" "$tmp/many/catalog" >/dev/null
# small: the fuzzers' catalog; rej.csv: 60000 records that cannot be split
# (a large rejects.csv, an empty rated.csv); one.csv: one good record.
"$bin" catalog load --db "$tmp/small" "$root/tests/fuzz/catalog" >/dev/null
python3 - "$tmp" <<'EOF'
import sys
d = sys.argv[1]
h = 'session_id,subscriber_id,content_id,start,duration_s,bytes,quality\n'
with open(d + '/rej.csv', 'w') as f:
    f.write(h)
    for i in range(60000):
        f.write('bad%d,"x"y,c1,2024-03-05T19:00:00Z,1,1,HD\n' % i)
with open(d + '/one.csv', 'w') as f:
    f.write(h + 'ok1,s1,c1,2024-03-05T19:00:00Z,125,1000,HD\n')
EOF

# The previous outputs every failing run must leave alone: a run of
# one.csv against the small catalog, kept in $tmp/prev.
previous() { # outdir
	rm -rf "$1"
	"$bin" rate --db "$tmp/small" --period 2024-03 --out "$1" "$tmp/one.csv"
	rm -rf "$tmp/prev"
	cp -a "$1" "$tmp/prev"
}

# ---- checks -------------------------------------------------------------

# expect LABEL CODE PATTERN OUTDIR -- COMMAND...: the command exits CODE,
# its message matches PATTERN (the file it names), and OUTDIR holds the
# previous outputs exactly, and nothing else.
expect() {
	local label=$1 want=$2 pattern=$3 dir=$4 got=0 f
	shift 5
	"$@" >/dev/null 2>"$tmp/err" || got=$?
	if [ "$got" -ne "$want" ]; then
		bad "$label: exit $got, want $want: $(head -c 400 "$tmp/err")"
		return 0
	fi
	if ! grep -q -- "$pattern" "$tmp/err"; then
		bad "$label: message does not name '$pattern': $(head -c 400 "$tmp/err")"
		return 0
	fi
	if [ -d "$dir" ]; then
		for f in $outs; do
			if ! cmp -s "$tmp/prev/$f" "$dir/$f"; then
				bad "$label: $f changed"
				return 0
			fi
		done
		f=$(find "$dir" -mindepth 1 -name '.*tmp*' | head -3)
		[ -z "$f" ] || { bad "$label: temporary files left: $f"; return 0; }
	fi
	ok
}

rate() { # db outdir args... (files last)
	local db=$1 out=$2
	shift 2
	"$bin" rate --db "$db" --period 2024-03 --out "$out" "$@"
}

# ---- 1. full disk: a file size limit ------------------------------------

# RLIMIT_FSIZE in a subshell: the program ignores SIGXFSZ, so writes past
# the limit fail with EFBIG. The limits hit rated.csv (written with
# O_DIRECT: at once, within a direct write, after a few of them; on the
# clean sessions, whose few rejects are not written before rated.csv's
# first 4 MiB block), rejects.csv and the invoices.
limited() { # kbytes command...
	local k=$1
	shift
	(ulimit -f "$k" && "$@")
}
previous "$tmp/o"
for k in 1 5000 8193; do
	expect "file size limit ${k}K on rated.csv" 3 "rated.csv.*File too large" \
		"$tmp/o" -- limited "$k" rate "$tmp/w/db" "$tmp/o" \
		"$tmp/clean/sessions-1.csv"
done
expect "file size limit on rejects.csv" 3 "rejects.csv.*File too large" \
	"$tmp/o" -- limited 1000 rate "$tmp/small" "$tmp/o" "$tmp/rej.csv"
expect "file size limit on the invoices" 3 "invoices-2024-03.jsonl.*File too large" \
	"$tmp/o" -- limited 1000 rate "$tmp/many/db" "$tmp/o" "$tmp/many/sessions-1.csv"
expect "file size limit, one thread, small reads" 3 "rated.csv" \
	"$tmp/o" -- limited 3000 rate "$tmp/w/db" "$tmp/o" --threads 1 \
	--chunk-size 4096 "$big"

# ---- 2. full disk: small file systems -----------------------------------

# Leave about KB kilobytes free on DIR's file system.
fill() { # dir kb
	local free
	rm -f "$1/filler"
	free=$(df --output=avail -k "$1" | tail -1)
	if [ "$free" -gt "$2" ]; then
		head -c $(((free - $2) * 1024)) /dev/zero >"$1/filler" 2>/dev/null || true
	fi
}

# fs_case LABEL DIR: fill DIR's file system while writing each output.
fs_case() {
	local label=$1 d=$2
	previous "$d/o"
	fill "$d" 1024
	expect "$label: rated.csv" 3 "rated.csv.*No space left" "$d/o" -- \
		rate "$tmp/w/db" "$d/o" "$tmp/clean/sessions-1.csv"
	expect "$label: rejects.csv" 3 "rejects.csv.*No space left" "$d/o" -- \
		rate "$tmp/small" "$d/o" "$tmp/rej.csv"
	fill "$d" 256
	expect "$label: invoices" 3 "invoices-2024-03.jsonl.*No space left" \
		"$d/o" -- rate "$tmp/many/db" "$d/o" "$tmp/many/sessions-1.csv"
	rm -f "$d/filler"
}

# A 3 MiB tmpfs (it takes O_DIRECT since Linux 6.6).
mkdir -p "$tmp/tmpfs"
if mount -t tmpfs -o size=3m tmpfs "$tmp/tmpfs" 2>/dev/null; then
	mounts+=("$tmp/tmpfs")
	fs_case "full tmpfs" "$tmp/tmpfs"
else
	skip "full tmpfs: cannot mount a tmpfs here"
fi

# A 4 MiB ext4 on a loop device: O_DIRECT to a block device.
mkdir -p "$tmp/ext4"
if command -v mkfs.ext4 >/dev/null && truncate -s 4M "$tmp/ext4.img" &&
	mkfs.ext4 -q -F "$tmp/ext4.img" 2>/dev/null &&
	mount -o loop "$tmp/ext4.img" "$tmp/ext4" 2>/dev/null; then
	mounts+=("$tmp/ext4")
	fs_case "full ext4" "$tmp/ext4"
else
	skip "full ext4: cannot mount a loop device here"
fi

# ---- 3. inputs that cannot be read --------------------------------------

previous "$tmp/o"
mkdir -p "$tmp/adir.csv"
expect "input is a directory" 3 "adir.csv" "$tmp/o" -- \
	rate "$tmp/small" "$tmp/o" "$tmp/one.csv" "$tmp/adir.csv"
# Reading a process's memory at offset 0 fails with EIO.
expect "input read fails (EIO)" 3 "/proc/self/mem" "$tmp/o" -- \
	rate "$tmp/small" "$tmp/o" /proc/self/mem
ln -s "$tmp/nowhere.csv" "$tmp/dangling.csv"
expect "dangling symlink" 3 "dangling.csv" "$tmp/o" -- \
	rate "$tmp/small" "$tmp/o" "$tmp/dangling.csv"
ln -s "$tmp/loop2.csv" "$tmp/loop1.csv"
ln -s "$tmp/loop1.csv" "$tmp/loop2.csv"
expect "symlink loop" 3 "loop1.csv" "$tmp/o" -- \
	rate "$tmp/small" "$tmp/o" "$tmp/loop1.csv"
python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" \
	"$tmp/sock.csv"
expect "input is a socket" 3 "sock.csv" "$tmp/o" -- \
	rate "$tmp/small" "$tmp/o" "$tmp/sock.csv"

# A file that shrinks while it is read: fstat reports 1 MiB more than
# there is (an LD_PRELOAD shim), so the reads come up short at the end.
if command -v cc >/dev/null; then
	cat >"$tmp/shim.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/stat.h>
/* fstat64 for the program (64-bit file offsets); fstat and the
 * __fxstat pair for sanitizer runtimes that call those instead. */
int __fxstat(int ver, int fd, struct stat *st);
int __fxstat64(int ver, int fd, struct stat64 *st);
static void grow(unsigned long long ino, off_t *size)
{
	const char *want = getenv("SHRINK_INO");
	if (want && ino == strtoull(want, 0, 10))
		*size += 1 << 20;
}
#define REAL(fn)                                                            \
	static __typeof__(fn) *real;                                        \
	if (!real)                                                          \
		real = (__typeof__(fn) *)dlsym(RTLD_NEXT, #fn)
int fstat64(int fd, struct stat64 *st)
{
	REAL(fstat64);
	int r = real(fd, st);
	if (r == 0)
		grow(st->st_ino, &st->st_size);
	return r;
}
int fstat(int fd, struct stat *st)
{
	REAL(fstat);
	int r = real(fd, st);
	if (r == 0)
		grow(st->st_ino, &st->st_size);
	return r;
}
int __fxstat(int ver, int fd, struct stat *st)
{
	REAL(__fxstat);
	int r = real(ver, fd, st);
	if (r == 0)
		grow(st->st_ino, &st->st_size);
	return r;
}
int __fxstat64(int ver, int fd, struct stat64 *st)
{
	REAL(__fxstat64);
	int r = real(ver, fd, st);
	if (r == 0)
		grow(st->st_ino, &st->st_size);
	return r;
}
EOF
	if cc -shared -fPIC -o "$tmp/shim.so" "$tmp/shim.c" -ldl 2>"$tmp/cc.err"; then
		expect "file shrinks while read" 3 "sessions-1.csv.*shrank" "$tmp/o" -- \
			env SHRINK_INO="$(stat -c %i "$big")" LD_PRELOAD="$tmp/shim.so" \
			ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
			"$bin" rate --db "$tmp/w/db" --period 2024-03 --out "$tmp/o" \
			--chunk-size 65536 "$big"
	else
		skip "file shrinks while read: cannot build the shim: $(head -c 200 "$tmp/cc.err")"
	fi
else
	skip "file shrinks while read: no C compiler"
fi

# Unreadable for an ordinary user (root reads through mode bits).
chmod 755 "$tmp"
if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1 &&
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$bin" --help \
		>/dev/null 2>&1; then
	u=$(id -u nobody)
	g=$(id -g nobody)
	cp -a "$tmp/small" "$tmp/small-nobody"
	chown -R "$u:$g" "$tmp/small-nobody"
	mkdir -p "$tmp/nb"
	previous "$tmp/nb/o"
	chown -R "$u:$g" "$tmp/nb"
	cp "$tmp/one.csv" "$tmp/secret.csv"
	chmod 000 "$tmp/secret.csv"
	expect "input without read permission" 3 "secret.csv.*Permission denied" \
		"$tmp/nb/o" -- setpriv --reuid="$u" --regid="$g" --clear-groups \
		"$bin" rate --db "$tmp/small-nobody" --period 2024-03 \
		--out "$tmp/nb/o" "$tmp/secret.csv"
	# And an output directory it may not write.
	chown root:root "$tmp/nb/o"
	chmod 755 "$tmp/nb/o"
	expect "output directory without write permission" 3 "nb/o.*Permission denied" \
		"$tmp/nb/o" -- setpriv --reuid="$u" --regid="$g" --clear-groups \
		"$bin" rate --db "$tmp/small-nobody" --period 2024-03 \
		--out "$tmp/nb/o" "$tmp/one.csv"
else
	skip "permissions: no setpriv, no user nobody, or $bin not runnable by nobody"
fi

# Not failures: a file deleted while it is read is still read whole, and
# a pipe whose writer stops early is a shorter input. Both must give the
# outputs of the bytes actually read.
same_as() { # dir dir label
	local f
	for f in rated.csv rejects.csv invoices-2024-03.jsonl invoices-2024-03.csv; do
		cmp -s "$1/$f" "$2/$f" || { bad "$3: $f differs"; return 0; }
	done
	ok
}
# The same name on the command line (rejects.csv carries it), in two
# directories: a/ for the odd input, b/ for the plain file.
mkdir -p "$tmp/a" "$tmp/b"
cp "$big" "$tmp/a/in.csv"
cp "$big" "$tmp/b/in.csv"
(cd "$tmp/b" && rate "$tmp/w/db" out in.csv)
(cd "$tmp/a" && exec "$bin" rate --db "$tmp/w/db" --period 2024-03 --out out \
	--threads 1 --chunk-size 4096 in.csv) &
pid=$!
# Delete it once the run has it open (or has finished).
opened() {
	local fd
	for fd in "/proc/$1/fd/"*; do
		[ "$(readlink "$fd" 2>/dev/null)" = "$2" ] && return 0
	done
	return 1
}
for _ in $(seq 400); do
	opened "$pid" "$tmp/a/in.csv" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.025
done
rm -f "$tmp/a/in.csv"
if wait "$pid"; then
	same_as "$tmp/a/out" "$tmp/b/out" "input deleted while read"
else
	bad "input deleted while read: exit $?"
fi
rm -rf "$tmp/a/out" "$tmp/b/out"
head -c 5000000 "$big" >"$tmp/b/in.csv"
mkfifo "$tmp/a/in.csv"
head -c 5000000 "$big" >"$tmp/a/in.csv" &
if (cd "$tmp/a" && rate "$tmp/w/db" out --chunk-size 100000 in.csv) &&
	(cd "$tmp/b" && rate "$tmp/w/db" out in.csv); then
	same_as "$tmp/a/out" "$tmp/b/out" "pipe closed early"
else
	bad "pipe closed early: exit $?"
fi
wait

# ---- 4. catalogs: missing and damaged -----------------------------------

previous "$tmp/o"
expect "missing catalog directory" 2 "no-such-db" "$tmp/o" -- \
	rate "$tmp/no-such-db" "$tmp/o" "$tmp/one.csv"
expect "catalog path is a file" 2 "one.csv" "$tmp/o" -- \
	rate "$tmp/one.csv" "$tmp/o" "$tmp/one.csv"
mkdir -p "$tmp/emptydb"
expect "catalog directory without a store" 2 "emptydb" "$tmp/o" -- \
	rate "$tmp/emptydb" "$tmp/o" "$tmp/one.csv"
damaged() { # name how
	rm -rf "${tmp:?}/$1"
	cp -a "$tmp/small" "$tmp/$1"
	local f=$tmp/$1/data.mdb
	case $2 in
	garbage) head -c 300000 /dev/urandom >"$f" ;;
	empty) : >"$f" ;;
	half) truncate -s $(($(stat -c %s "$f") / 2)) "$f" ;;
	meta) python3 -c "
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
for i in range(8192):
    b[i] ^= 0x5a
open(sys.argv[1], 'wb').write(b)" "$f" ;;
	esac
}
for how in garbage empty half meta; do
	damaged "bad-$how" "$how"
	expect "damaged store ($how data.mdb)" 2 "bad-$how" "$tmp/o" -- \
		rate "$tmp/bad-$how" "$tmp/o" "$tmp/one.csv"
done

# ---- 5. outputs that cannot be written ----------------------------------

previous "$tmp/o"
expect "output parent is a file" 3 "one.csv/out" "$tmp/o" -- \
	rate "$tmp/small" "$tmp/one.csv/out" "$tmp/one.csv"
expect "output directory is a file" 3 "one.csv" "$tmp/o" -- \
	rate "$tmp/small" "$tmp/one.csv" "$tmp/one.csv"
# Immutable directory: no file may be created or renamed in it.
if chattr +i "$tmp/o" 2>/dev/null; then
	immutable+=("$tmp/o")
	expect "immutable output directory" 3 "rated.csv" "$tmp/o" -- \
		rate "$tmp/small" "$tmp/o" "$tmp/one.csv"
	chattr -i "$tmp/o"
else
	skip "immutable output directory: chattr +i not supported here"
fi
# Read-only bind mount of the output directory.
mkdir -p "$tmp/ro"
previous "$tmp/ro/o"
if mount --bind "$tmp/ro" "$tmp/ro" 2>/dev/null; then
	mounts+=("$tmp/ro")
	if mount -o remount,bind,ro "$tmp/ro" 2>/dev/null; then
		expect "read-only file system" 3 "Read-only file system" "$tmp/ro/o" -- \
			rate "$tmp/small" "$tmp/ro/o" "$tmp/one.csv"
	else
		skip "read-only file system: cannot remount read-only"
	fi
	umount "$tmp/ro"
else
	skip "read-only file system: cannot bind-mount"
fi

# ---- 6. kill -9 ---------------------------------------------------------

# A run killed at any moment leaves each output either as it was or
# complete and new: compare with the previous outputs and with those of
# an uninterrupted run (summary.json without its timings). The renames
# come last and summary.json's is the last of them.
norm() { sed 's/,"seconds":.*}/}/' "$1"; }
rm -rf "$tmp/new"
rate "$tmp/w/db" "$tmp/new" --threads 2 --chunk-size 1024 "$big"
leftover=0
renewed=0
for delay in 0.01 0.03 0.06 0.1 0.15 0.2 0.3 0.5; do
	previous "$tmp/k"
	"$bin" rate --db "$tmp/w/db" --period 2024-03 --out "$tmp/k" \
		--threads 2 --chunk-size 1024 "$big" 2>/dev/null &
	pid=$!
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	torn=
	for f in $outs; do
		if [ "$f" = summary.json ]; then
			norm "$tmp/k/$f" >"$tmp/n1"
			norm "$tmp/prev/$f" >"$tmp/n2"
			norm "$tmp/new/$f" >"$tmp/n3"
			cmp -s "$tmp/n1" "$tmp/n2" || cmp -s "$tmp/n1" "$tmp/n3" || torn="$torn $f"
		else
			cmp -s "$tmp/k/$f" "$tmp/prev/$f" || cmp -s "$tmp/k/$f" "$tmp/new/$f" ||
				torn="$torn $f"
		fi
	done
	# summary.json is renamed last: when it is new, so is every output.
	if cmp -s "$tmp/n1" "$tmp/n3"; then
		for f in $outs; do
			[ "$f" = summary.json ] || cmp -s "$tmp/k/$f" "$tmp/new/$f" ||
				torn="$torn $f(old, summary.json new)"
		done
	fi
	if [ -z "$torn" ]; then
		ok
	else
		bad "kill -9 after ${delay}s: torn or missing:$torn"
	fi
	leftover=$((leftover + $(find "$tmp/k" -name '.*tmp*' | wc -l)))
	if cmp -s "$tmp/k/rated.csv" "$tmp/new/rated.csv"; then
		renewed=$((renewed + 1))
	fi
done
# A killed process cannot remove its temporary files; they are hidden
# and named after its pid. Not an error, but worth seeing.
echo "kill -9: $renewed of 8 killed runs had finished rated.csv;" \
	"$leftover temporary file(s) left behind"

echo "faults: $pass passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
