/* Header mapping and the column rules of SPEC section 1. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "columns.h"
#include "streamrate/error.h"
#include "streamrate/session.h"

static struct sr_str S(const char *s) {
	return (struct sr_str){s, (uint32_t)strlen(s)};
}

static struct sr_header
hdr(int n, const char **names)
{
	struct sr_str v[16], bad;
	struct sr_header h;
	for (int i = 0; i < n; i++)
		v[i] = S(names[i]);
	cr_assert_eq(sr_header_init(&h, v, n, &bad), 0);
	return h;
}

static const char *std_names[] = {"session_id", "subscriber_id", "content_id",
                                  "start",      "duration_s",    "bytes",
                                  "quality"};

static enum sr_reason parse(const char **vals, struct sr_session *s)
{
	struct sr_header h = hdr(7, std_names);
	struct sr_str v[7];
	for (int i = 0; i < 7; i++)
		v[i] = S(vals[i]);
	return sr_session_parse(&h, v, s);
}

Test(session, good_record)
{
	const char *v[] = {"s1",   "sub", "c",  "2024-01-01T00:00:00Z",
	                   "0007", "0",   "UHD"};
	struct sr_session s;
	cr_assert_eq(parse(v, &s), SR_REASON_NONE);
	cr_assert_eq(s.duration_s, 7);
	cr_assert_eq(s.bytes, 0);
	cr_assert_eq(s.quality, SR_UHD);
	cr_assert_eq(s.start, 1704067200);
}

static void reason(int col, const char *val, enum sr_reason want)
{
	const char *v[] = {"s1", "sub", "c", "2024-01-01T00:00:00Z",
	                   "10", "100", "HD"};
	v[col] = val;
	struct sr_session s;
	cr_assert_eq(parse(v, &s), want, "column %d value '%s'", col, val);
}

Test(session, column_rules)
{
	char long_id[130];
	memset(long_id, 'a', 129);
	long_id[129] = 0;
	reason(0, "", SR_REASON_MALFORMED_SESSION_ID);
	reason(0, long_id, SR_REASON_MALFORMED_SESSION_ID);
	long_id[128] = 0;
	reason(0, long_id, SR_REASON_NONE);
	reason(1, "a\tb", SR_REASON_MALFORMED_SUBSCRIBER_ID);
	reason(2, "a\x7f", SR_REASON_MALFORMED_CONTENT_ID);
	reason(2, "caf\xc3\xa9 \xff", SR_REASON_NONE);
	reason(3, "2024-01-01T00:00:00", SR_REASON_MALFORMED_START);
	reason(4, "604800", SR_REASON_NONE);
	reason(4, "604801", SR_REASON_MALFORMED_DURATION_S);
	reason(4, "+1", SR_REASON_MALFORMED_DURATION_S);
	reason(4, " 1", SR_REASON_MALFORMED_DURATION_S);
	reason(4, "", SR_REASON_MALFORMED_DURATION_S);
	reason(5, "9223372036854775807", SR_REASON_NONE);
	reason(5, "9223372036854775808", SR_REASON_MALFORMED_BYTES);
	reason(5, "99999999999999999999999", SR_REASON_MALFORMED_BYTES);
	reason(6, "hd", SR_REASON_MALFORMED_QUALITY);
	reason(6, "*", SR_REASON_MALFORMED_QUALITY);
}

Test(session, first_offending_column_in_header_order)
{
	const char *names[] = {"quality",       "x",         "bytes",
	                       "duration_s",    "start",     "content_id",
	                       "subscriber_id", "session_id"};
	struct sr_header h = hdr(8, names);
	struct sr_str v[8] = {S("HD"),  S("junk"), S("-1"), S("x"),
	                      S("bad"), S(""),     S(""),   S("")};
	struct sr_session s;
	cr_assert_eq(sr_session_parse(&h, v, &s), SR_REASON_MALFORMED_BYTES);
	v[2] = S("1");
	cr_assert_eq(sr_session_parse(&h, v, &s),
	             SR_REASON_MALFORMED_DURATION_S);
}

Test(session, header_errors)
{
	struct sr_str v[8], bad;
	struct sr_header h;
	for (int i = 0; i < 7; i++)
		v[i] = S(std_names[i]);
	v[7] = S("extra");
	cr_assert_eq(sr_header_init(&h, v, 8, &bad), 0);
	cr_assert_eq(h.field[SR_COL_DEVICE_ID], -1);
	v[7] = S("bytes");
	cr_assert_eq(sr_header_init(&h, v, 8, &bad), SR_EHEADER);
	cr_assert_eq(bad.len, 5);
	v[7] = S("Quality");
	v[6] = S("QUALITY");
	cr_assert_eq(sr_header_init(&h, v, 8, &bad), SR_EHEADER);
	cr_assert(memcmp(bad.ptr, "quality", 7) == 0);
}

Test(session, reason_texts)
{
	struct sr_str t = sr_reason_text(SR_REASON_MALFORMED_DURATION_S);
	cr_assert(t.len == 20 && !memcmp(t.ptr, "malformed:duration_s", 20));
	t = sr_reason_text(SR_REASON_NOT_ENTITLED);
	cr_assert(t.len == 12 && !memcmp(t.ptr, "not_entitled", 12));
}

/* The rule itself: one or more ASCII digits, no larger than max. */
static bool ref_count(const char *p, size_t n, uint64_t max, uint64_t *out)
{
	unsigned __int128 v = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
		if (v > UINT64_MAX)
			v = (unsigned __int128)UINT64_MAX + 1; /* too big */
	}
	if (v > max)
		return false;
	*out = (uint64_t)v;
	return true;
}

/*
 * sr__parse_count against the rule on random counts of every length up
 * to 24, with leading zeros, near the limits and with one stray byte
 * (among them bytes one bit away from a digit, and bytes of 0x80 and
 * more, which a word-at-a-time reading would carry across). Each count
 * sits at the end of its own allocation, so that a read past it shows
 * under ASan.
 */
Test(session, counts_match_a_digit_loop)
{
	static const unsigned char stray[] = {
	    '/', ':', ' ', '+', '-', '.', 0, 0x7F, 0x80, 0x8A, 0xB0,
	    0xB9, 0xBA, 0xFF, 0x10, 0x20, 0x39 ^ 0x40, 0x30 ^ 0x80, 'a'};
	static const uint64_t maxes[] = {604800, INT64_MAX, 99999999,
	                                 100000000};
	srand(7);
	for (int iter = 0; iter < 400000; iter++) {
		size_t n = (size_t)(rand() % 25);
		char *p = malloc(n ? n : 1);
		int style = rand() % 4;
		for (size_t i = 0; i < n; i++) {
			int d = rand() % 10;
			if (style == 1 && i < n / 2)
				d = 0; /* leading zeros */
			if (style == 2)
				d = 9; /* near the limits */
			p[i] = (char)('0' + d);
		}
		if (n && rand() % 3 == 0)
			p[rand() % n] =
			    (char)stray[rand() % (int)sizeof(stray)];
		uint64_t max = maxes[rand() % 4], got = 7, want = 7;
		bool ok = sr__parse_count((struct sr_str){p, (uint32_t)n}, max,
		                          &got);
		bool ref = ref_count(p, n, max, &want);
		cr_assert_eq(ok, ref, "'%.*s' (%zu bytes) max %llu", (int)n, p,
		             n, (unsigned long long)max);
		if (ok)
			cr_assert_eq(got, want, "'%.*s'", (int)n, p);
		free(p);
	}
}
