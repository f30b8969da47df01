/* Header mapping and the column rules of SPEC section 1. */
#include <criterion/criterion.h>
#include <string.h>

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
