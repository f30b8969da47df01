/*
 * fuzz_nginx: the nginx / nginx-rtmp access-log reader (engine/nginx*.c),
 * the newest input path. The first input byte picks what the rest is:
 *  - even: access-log lines, read through the real nginx-rtmp mapping of
 *    tests/fixtures (its custom format and its default "combined" one);
 *    every line must come out as a session, a skipped line or a reject,
 *    and a session must hold what the contract allows (ids of 1 to 128
 *    bytes without control bytes, a quality, a duration of at most
 *    604800 s, a start in years 0001-9999);
 *  - odd: a mapping file, which must compile or be refused with a line
 *    number inside the file, and, when it compiles, read the first line
 *    of the real capture without fault.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "streamrate/nginx.h"

#ifndef SR_FUZZ_NGINX
#define SR_FUZZ_NGINX "tests/fixtures/nginx-rtmp"
#endif

static struct sr_nginx *maps[2];
static struct sr_nginx_scratch scratch;

static const char sample[] =
	"127.0.0.1 [25/Nov/2026:06:54:01 +0100] PLAY \"live\" \"news\" "
	"\"user=sub001\" - 100 2000 \"\" \"LNX 9,0,124,2\" (3s)\n";

static void load_maps(void)
{
	static const char *const files[2] = {"streamrate.conf",
					     "streamrate-combined.conf"};
	for (int i = 0; i < 2 && !maps[i]; i++) {
		char path[512];
		struct sr_nginx_error e = {0};
		snprintf(path, sizeof(path), "%s/%s", SR_FUZZ_NGINX, files[i]);
		FUZZ_CHECK(sr_nginx_load(path, &maps[i], &e) == 0,
			   "cannot load %s: %s", path, e.msg);
	}
}

static bool valid_id(struct sr_str s)
{
	if (s.len < 1 || s.len > 128)
		return false;
	for (uint32_t i = 0; i < s.len; i++)
		if ((unsigned char)s.ptr[i] < 0x20 || s.ptr[i] == 0x7F)
			return false;
	return true;
}

static void read_lines(const struct sr_nginx *map, const char *p, size_t n)
{
	while (n) {
		const char *lf = memchr(p, '\n', n);
		size_t len = lf ? (size_t)(lf - p) + 1 : n;
		struct sr_session s;
		enum sr_reason why = SR_REASON_NONE;
		enum sr_nginx_outcome o =
			sr_nginx_parse_line(map, p, len, &scratch, &s, &why);
		if (o == SR_NGINX_SESSION) {
			FUZZ_CHECK(valid_id(s.session_id) &&
					   valid_id(s.subscriber_id) &&
					   valid_id(s.content_id),
				   "a session with an invalid id");
			FUZZ_CHECK(s.quality <= SR_UHD, "quality %u", s.quality);
			FUZZ_CHECK(s.duration_s <= 604800, "duration %u",
				   s.duration_s);
			/* 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z */
			FUZZ_CHECK(s.start >= -62135596800LL &&
					   s.start <= 253402300799LL,
				   "start %lld", (long long)s.start);
		} else if (o == SR_NGINX_REJECTED) {
			FUZZ_CHECK(why != SR_REASON_NONE, "a reject without reason");
		} else {
			FUZZ_CHECK(o == SR_NGINX_SKIPPED, "outcome %d", (int)o);
		}
		p += len;
		n -= len;
	}
}

static void read_mapping(const char *p, size_t n)
{
	struct sr_nginx *map = NULL;
	struct sr_nginx_error e = {0};
	uint32_t lines = 1;
	for (size_t i = 0; i < n; i++)
		lines += p[i] == '\n';
	if (sr_nginx_create(p, n, &map, &e) != 0) {
		FUZZ_CHECK(e.line <= lines, "error on line %u of %u", e.line,
			   lines);
		return;
	}
	read_lines(map, sample, sizeof(sample) - 1);
	sr_nginx_destroy(map);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	load_maps();
	const char *p = (const char *)data + 1;
	if (data[0] & 1)
		read_mapping(p, size - 1);
	else
		read_lines(maps[data[0] >> 1 & 1], p, size - 1);
	return 0;
}
