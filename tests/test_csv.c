/*
 * The record splitter against SPEC section 1: quoting, CR handling, the
 * resync rule, the 65536-byte limit, and asking for more bytes instead of
 * guessing at a window's end.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

static char scratch[SR_SCRATCH_SIZE];
static struct sr_str f[16];
static struct sr_csv_record rec;

static enum sr_split split(const char *s, bool eof, uint32_t expect)
{
	return sr__csv_split(s, strlen(s), eof, f, 16, expect, scratch, &rec);
}

static void field_is(uint32_t i, const char *want)
{
	cr_assert_eq(f[i].len, strlen(want), "field %u length %u", i, f[i].len);
	cr_assert(memcmp(f[i].ptr, want, f[i].len) == 0, "field %u", i);
}

Test(csv, plain_record)
{
	cr_assert_eq(split("a,b,c\nnext", false, 3), SR_SPLIT_RECORD);
	cr_assert_eq(rec.consumed, 6);
	cr_assert_eq(rec.raw_len, 5);
	cr_assert_eq(rec.lines, 1);
	field_is(0, "a");
	field_is(2, "c");
}

Test(csv, crlf_drops_one_cr)
{
	cr_assert_eq(split("a,b,c\r\r\n", true, 3), SR_SPLIT_RECORD);
	field_is(2, "c\r");
	cr_assert_eq(rec.raw_len, 6);
	cr_assert_eq(rec.consumed, 8);
}

Test(csv, quoted_comma_quote_and_newline)
{
	cr_assert_eq(split("\"a,1\",\"say \"\"hi\"\"\",\"x\ny\"\r\n", true, 3),
	             SR_SPLIT_RECORD);
	field_is(0, "a,1");
	field_is(1, "say \"hi\"");
	field_is(2, "x\ny");
	cr_assert_eq(rec.lines, 2);
}

Test(csv, last_record_without_lf)
{
	cr_assert_eq(split("a,b", true, 2), SR_SPLIT_RECORD);
	cr_assert_eq(rec.consumed, 3);
}

Test(csv, cr_at_eof_is_data)
{
	cr_assert_eq(split("a,b\r", true, 2), SR_SPLIT_RECORD);
	field_is(1, "b\r");
}

Test(csv, empty_lines)
{
	cr_assert_eq(split("\n", true, 3), SR_SPLIT_EMPTY);
	cr_assert_eq(rec.consumed, 1);
	cr_assert_eq(split("\r\nx", true, 3), SR_SPLIT_EMPTY);
	cr_assert_eq(rec.consumed, 2);
}

Test(csv, stray_quote_resyncs_at_next_line)
{
	cr_assert_eq(split("a,b\"c,d\ne,f,g\n", true, 3), SR_SPLIT_MALFORMED);
	cr_assert_eq(rec.raw_len, 7);
	cr_assert_eq(rec.consumed, 8);
}

Test(csv, junk_after_closing_quote)
{
	cr_assert_eq(split("\"a\"x,b,c\n", true, 3), SR_SPLIT_MALFORMED);
	cr_assert_eq(split("\"a\"\r,b,c\n", true, 3), SR_SPLIT_MALFORMED);
}

Test(csv, field_count_mismatch_reports_first_line)
{
	/* A well-quoted record spanning two lines but with 2 fields: only
	 * the first physical line is reported, reading resumes inside. */
	cr_assert_eq(split("a,\"x\r\ny\"\nz", true, 3), SR_SPLIT_MALFORMED);
	cr_assert_eq(rec.raw_len, 4);
	cr_assert_eq(rec.consumed, 6);
	cr_assert_eq(rec.lines, 1);
}

Test(csv, eof_inside_quotes)
{
	cr_assert_eq(split("a,\"b\nc,d", true, 3), SR_SPLIT_MALFORMED);
	cr_assert_eq(rec.raw_len, 4);
	cr_assert_eq(split("a,\"b\nc,d", false, 3), SR_SPLIT_MORE);
}

Test(csv, more_at_window_edges)
{
	cr_assert_eq(split("a,b,c", false, 3), SR_SPLIT_MORE);
	cr_assert_eq(split("a,\"b\"", false, 2), SR_SPLIT_MORE);
	cr_assert_eq(split("a,\"b\"\r", false, 2), SR_SPLIT_MORE);
	cr_assert_eq(split("a,\"b\"\"", false, 2), SR_SPLIT_MORE);
	cr_assert_eq(split("a,b\"c", false, 2), SR_SPLIT_MORE);
}

static void long_record(size_t len, enum sr_split want)
{
	char *buf = malloc(len + 8);
	memset(buf, 'x', len);
	buf[0] = ',';
	memcpy(buf + len, "\r\nok", 5);
	struct sr_str many[4];
	enum sr_split got =
	    sr__csv_split(buf, len + 4, true, many, 4, 2, scratch, &rec);
	cr_assert_eq(got, want, "length %zu", len);
	cr_assert_eq(rec.raw_len, len);
	cr_assert_eq(rec.consumed, len + 2);
	free(buf);
}

Test(csv, record_length_limit)
{
	long_record(65535, SR_SPLIT_RECORD);
	long_record(65536, SR_SPLIT_RECORD);
	long_record(65537, SR_SPLIT_MALFORMED);
	long_record(3 << 20, SR_SPLIT_MALFORMED);
}

Test(csv, long_quoted_record_is_malformed)
{
	size_t len = 70000;
	char *buf = malloc(len + 16);
	memset(buf, 'y', len);
	memcpy(buf, "a,\"", 3);
	buf[100] = '\n';
	memcpy(buf + len, "\"\nz", 4);
	cr_assert_eq(sr__csv_split(buf, len + 3, true, f, 16, 2, scratch, &rec),
	             SR_SPLIT_MALFORMED);
	cr_assert_eq(rec.raw_len, 100);
	free(buf);
}

Test(csv, too_many_fields_for_cap)
{
	struct sr_str two[2];
	cr_assert_eq(
	    sr__csv_split("a,b,c\n", 6, true, two, 2, 2, scratch, &rec),
	    SR_SPLIT_MALFORMED);
}

#ifdef SR_CSV_PLAIN_BUILDS
/* One plain-line build's answer on p[0..n), fields included. */
struct plain {
	enum sr_split kind;
	struct sr_csv_record rec;
	struct sr_str f[8];
};

static void same_plain(const struct plain *a, const struct plain *b,
                       const char *p, size_t n)
{
	cr_assert_eq(a->kind, b->kind, "kind on %zu bytes", n);
	if (a->kind != SR_SPLIT_RECORD)
		return;
	cr_assert_eq(a->rec.raw, p);
	cr_assert_eq(a->rec.raw_len, b->rec.raw_len);
	cr_assert_eq(a->rec.consumed, b->rec.consumed);
	cr_assert_eq(a->rec.nfields, b->rec.nfields);
	cr_assert_eq(a->rec.clean, b->rec.clean, "clean on %zu bytes", n);
	for (uint32_t i = 0; i < a->rec.nfields; i++) {
		cr_assert_eq(a->f[i].ptr, b->f[i].ptr);
		cr_assert_eq(a->f[i].len, b->f[i].len);
	}
}

/*
 * The SSE2 and AVX2 builds of the plain-line scan give the same answers:
 * lines of every length across the 16-, 32- and 64-byte block edges, with
 * commas, quotes, CRs, control bytes and the window's end anywhere.
 */
Test(csv, plain_builds_agree)
{
	static const char alphabet[] = "ab,,,\"\r\r\n\n\001\177x";
	char buf[300];
	unsigned seed = 12345;
	size_t records = 0;

	if (!sr__csv_have_avx2())
		cr_skip_test("no AVX2 on this machine");
	for (int round = 0; round < 200000; round++) {
		size_t n = (size_t)(round % 290) + 1;
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			/* Mostly plain bytes, so that whole lines occur. */
			unsigned r = seed >> 16;
			buf[i] =
			    r % 8 ? (char)('a' + r % 5)
			          : alphabet[(r >> 3) % (sizeof(alphabet) - 1)];
		}
		struct plain s, a;
		for (uint32_t cap = 3; cap <= 8; cap += 5) {
			s.kind =
			    sr__csv_plain_sse2(buf, n, s.f, cap, 0, &s.rec);
			a.kind =
			    sr__csv_plain_avx2(buf, n, a.f, cap, 0, &a.rec);
			same_plain(&s, &a, buf, n);
			records += s.kind == SR_SPLIT_RECORD;
		}
	}
	/* The test saw both answers often. */
	cr_assert_gt(records, 50000);
	cr_assert_lt(records, 350000);
}

/* A control byte other than the CR of CR LF makes a line unclean, in any
 * block of either build; the byte just past the line does not. */
Test(csv, plain_builds_see_control_bytes)
{
	char buf[200];
	if (!sr__csv_have_avx2())
		cr_skip_test("no AVX2 on this machine");
	for (size_t at = 0; at < 130; at++) {
		memset(buf, 'x', sizeof(buf));
		buf[5] = ',';
		buf[130] = '\n';
		buf[131] = '\001';
		buf[at] = at == 5 ? ',' : '\t';
		struct plain s, a;
		s.kind = sr__csv_plain_sse2(buf, 140, s.f, 8, 2, &s.rec);
		a.kind = sr__csv_plain_avx2(buf, 140, a.f, 8, 2, &a.rec);
		same_plain(&s, &a, buf, 140);
		cr_assert_eq(s.kind, SR_SPLIT_RECORD);
		cr_assert_eq(s.rec.clean, at == 5, "tab at %zu", at);
	}
}
#endif
