#!/usr/bin/env bash
# Benchmark of `streamrate follow` (README, "Following live logs"):
#
#  1. latency: a small writer appends a generated session file at a fixed
#     rate (default 50,000 lines/s, in one write per millisecond) while
#     follow runs; a reader thread watches rated-YYYY-MM.csv and takes, for
#     every rated row, the time from the append of its line to the row's
#     presence in the file. Prints p50 / p90 / p99 / p99.9 / max.
#  2. backlog: follow --once over a large file already written, against
#     batch `rate` over the same file (best of three each), and checks that
#     both give the same rated rows.
#
# usage: bash bench/follow.sh [BUILD_DIR] [LINES_PER_S] [SECONDS] [BACKLOG_RECORDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath "${1:-$root/build}")
rate=${2:-50000}
secs=${3:-10}
backlog=${4:-5000000}
bin="$build/tools/streamrate"
tmp=$(mktemp -d)
fpid=
trap '[ -n "$fpid" ] && kill -9 "$fpid" 2>/dev/null; rm -rf "$tmp"' EXIT

# The writer and latency reader: one C program, two threads.
cat > "$tmp/lat.c" <<'EOF'
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *src, *out;
static size_t nlines, *line_off, seen_rows;
static uint64_t *t_append, *lat;
static volatile size_t appended;
static volatile int writer_done;
static const char *dst_path, *out_path;
static long rate;

static uint64_t now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Session ids of the generated file are unique: a hash map id -> line. */
static size_t *map;
static size_t mask;
static uint64_t hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}
static size_t id_len(const char *p)
{
	const char *c = memchr(p, ',', 200);
	return (size_t)(c - p);
}
static void map_put(size_t line)
{
	const char *p = src + line_off[line];
	size_t n = id_len(p), i = hash(p, n) & mask;
	while (map[i])
		i = (i + 1) & mask;
	map[i] = line + 1;
}
static long map_get(const char *p, size_t n)
{
	for (size_t i = hash(p, n) & mask; map[i]; i = (i + 1) & mask) {
		const char *q = src + line_off[map[i] - 1];
		if (id_len(q) == n && !memcmp(p, q, n))
			return (long)map[i] - 1;
	}
	return -1;
}

static void *writer(void *arg)
{
	int fd = open(dst_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	size_t header = line_off[1];
	if (write(fd, src, header) != (ssize_t)header)
		exit(1);
	uint64_t t0 = now();
	size_t next = 1;
	while (next < nlines) {
		/* Lines due by now at the target rate, written at once. */
		uint64_t due = 1 + (now() - t0) * (uint64_t)rate / 1000000000u;
		if (due > nlines)
			due = nlines;
		if (due > next) {
			uint64_t t = now();
			for (size_t i = next; i < due; i++)
				t_append[i] = t;
			size_t a = line_off[next], b = line_off[due];
			if (write(fd, src + a, b - a) != (ssize_t)(b - a))
				exit(1);
			next = due;
			appended = next;
		}
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	close(fd);
	writer_done = 1;
	return arg;
}

/* Follow the rated file; time every row's arrival. */
static void *reader(void *arg)
{
	size_t cap = 1 << 26, have = 0, done = 0;
	char *buf = malloc(cap);
	int fd = -1;
	uint64_t idle_since = 0;
	for (;;) {
		if (fd < 0)
			fd = open(out_path, O_RDONLY);
		ssize_t n = fd < 0 ? 0 : read(fd, buf + have, cap - have);
		uint64_t t = now();
		if (n > 0) {
			have += (size_t)n;
			char *p = buf + done, *end = buf + have, *lf;
			while ((lf = memchr(p, '\n', (size_t)(end - p)))) {
				long line = map_get(p, id_len(p));
				if (line > 0) {
					lat[seen_rows++] = t - t_append[line];
				}
				p = lf + 1;
			}
			done = (size_t)(p - buf);
			if (done > cap / 2) {
				memmove(buf, buf + done, have - done);
				have -= done;
				done = 0;
			}
			idle_since = t;
			continue;
		}
		if (writer_done && t - idle_since > 2000000000u)
			break; /* nothing new for 2 s after the last append */
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
	return arg;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	FILE *f = fopen(argv[1], "rb");
	dst_path = argv[2];
	out_path = argv[3];
	rate = atol(argv[4]);
	size_t want = (size_t)atol(argv[5]);
	fseek(f, 0, SEEK_END);
	size_t size = (size_t)ftell(f);
	rewind(f);
	src = malloc(size);
	if (fread(src, 1, size, f) != size)
		return 1;
	line_off = malloc((want + 2) * sizeof(*line_off));
	line_off[0] = 0;
	for (size_t off = 0; off < size && nlines <= want;) {
		char *lf = memchr(src + off, '\n', size - off);
		off = (size_t)(lf - src) + 1;
		line_off[++nlines] = off;
	}
	t_append = calloc(nlines, sizeof(*t_append));
	lat = calloc(nlines, sizeof(*lat));
	for (mask = 1; mask < 2 * nlines; mask <<= 1)
		;
	map = calloc(mask--, sizeof(*map));
	for (size_t i = 1; i < nlines; i++)
		map_put(i);
	pthread_t w, r;
	pthread_create(&r, NULL, reader, NULL);
	pthread_create(&w, NULL, writer, NULL);
	pthread_join(w, NULL);
	pthread_join(r, NULL);
	qsort(lat, seen_rows, sizeof(*lat), cmp);
	if (!seen_rows)
		return 1;
#define P(q) (lat[(size_t)((seen_rows - 1) * (q))] / 1000)
	printf("lines appended %zu, rated rows seen %zu\n", nlines - 1, seen_rows);
	printf("latency append -> rated row (us): p50 %llu  p90 %llu  p99 %llu"
	       "  p99.9 %llu  max %llu\n",
	       (unsigned long long)P(0.5), (unsigned long long)P(0.9),
	       (unsigned long long)P(0.99), (unsigned long long)P(0.999),
	       (unsigned long long)(lat[seen_rows - 1] / 1000));
	return 0;
}
EOF
cc -O2 -pthread -o "$tmp/lat" "$tmp/lat.c"

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -r)"
echo "build:   $build ($(grep -m1 buildtype "$build/meson-info/intro-buildoptions.json" >/dev/null 2>&1 && echo release || echo '?'))"

# 1. Latency.
lines=$((rate * secs))
"$bin" gen --out "$tmp/w" --seed 1 --clean --subscribers 100000 \
	--sessions "$lines" --period 2024-03 > /dev/null
"$bin" catalog load --db "$tmp/w/db" "$tmp/w/catalog" > /dev/null
mkdir "$tmp/live"
echo
echo "latency: $rate lines/s for $secs s, follow --commit-ms 100"
echo "  $bin follow --db DB --state ST --out OUT --quiet live/sessions.csv"
"$bin" follow --db "$tmp/w/db" --state "$tmp/st" --out "$tmp/out" --quiet \
	--commit-ms 100 "$tmp/live/sessions.csv" &
fpid=$!
sleep 0.3
"$tmp/lat" "$tmp/w/sessions-1.csv" "$tmp/live/sessions.csv" \
	"$tmp/out/rated-2024-03.csv" "$rate" "$lines" | sed 's/^/  /'
kill -TERM "$fpid"
wait "$fpid" || true
fpid=

# 2. Backlog.
echo
"$bin" gen --out "$tmp/b" --seed 2 --clean --subscribers 100000 \
	--sessions "$backlog" --period 2024-03 > /dev/null
"$bin" catalog load --db "$tmp/b/db" "$tmp/b/catalog" > /dev/null
mb=$(( $(stat -c %s "$tmp/b/sessions-1.csv") >> 20 ))
echo "backlog: $backlog records, $mb MB, best of 3"
best() { sort -n | head -1; }
# Each run: wall, then CPU (user + sys) seconds; the best is the fastest wall.
for i in 1 2 3; do
	rm -rf "$tmp/bo" "$tmp/bs"
	/usr/bin/time -f "%e %U %S" -o "$tmp/t" "$bin" follow --db "$tmp/b/db" \
		--state "$tmp/bs" --out "$tmp/bo" --once --quiet \
		"$tmp/b/sessions-1.csv"
	awk '{ print $1, $2 + $3 }' "$tmp/t" >> "$tmp/tf"
	rm -rf "$tmp/br"
	/usr/bin/time -f "%e %U %S" -o "$tmp/t" "$bin" rate --db "$tmp/b/db" \
		--period 2024-03 --out "$tmp/br" "$tmp/b/sessions-1.csv"
	awk '{ print $1, $2 + $3 }' "$tmp/t" >> "$tmp/tr"
done
cmp -s "$tmp/bo/rated-2024-03.csv" "$tmp/br/rated.csv" || {
	echo "FAIL: follow and rate rated rows differ"
	exit 1
}
read -r tf cf < <(best < "$tmp/tf")
read -r tr cr < <(best < "$tmp/tr")
awk -v n="$backlog" -v tf="$tf" -v tr="$tr" -v cf="$cf" -v cr="$cr" 'BEGIN {
	printf "  follow --once: %.2f s, %.2f M records/s, CPU %.2f s\n", tf, n / tf / 1e6, cf
	printf "  rate:          %.2f s, %.2f M records/s, CPU %.2f s\n", tr, n / tr / 1e6, cr
	printf "  follow / rate: %.2fx the time, %.2fx the CPU (rated rows identical)\n", tf / tr, cf / cr
}'
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  $bin follow --db DB --state ST --out OUT --once FILE"
echo "  $bin rate --db DB --period 2024-03 --out OUT FILE"
