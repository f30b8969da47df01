/*
 * Integer money: parsing, half-away-from-zero rounding at every minor
 * unit, formatting, and the graduated usage value of SPEC section 4.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "money.h"
#include "streamrate/error.h"
#include "streamrate/invoice.h"

static int64_t amount(const char *s)
{
	int64_t v = -1;
	cr_assert_eq(sr__parse_amount(s, strlen(s), &v), 0, "%s", s);
	return v;
}

static void bad_amount(const char *s)
{
	int64_t v;
	cr_assert_eq(sr__parse_amount(s, strlen(s), &v), -1, "%s", s);
}

Test(money, parse_amount)
{
	cr_assert_eq(amount("0"), 0);
	cr_assert_eq(amount("9.99"), 9990000);
	cr_assert_eq(amount("007.000001"), 7000001);
	cr_assert_eq(amount("9223372036854.775807"), INT64_MAX);
	bad_amount("9223372036854.775808");
	bad_amount("1.0000001");
	bad_amount("-1");
	bad_amount("+1");
	bad_amount("1.");
	bad_amount(".5");
	bad_amount("1e3");
	bad_amount(" 1");
	bad_amount("");
	bad_amount("1,5");
}

Test(money, parse_percent)
{
	uint32_t r;
	cr_assert_eq(sr__parse_percent("8.875", 5, &r), 0);
	cr_assert_eq(r, 88750);
	cr_assert_eq(sr__parse_percent("100", 3, &r), 0);
	cr_assert_eq(r, 1000000);
	cr_assert_eq(sr__parse_percent("100.0001", 8, &r), -1);
	cr_assert_eq(sr__parse_percent("1.00001", 7, &r), -1);
}

static int64_t minor(sr_i128 micro, int e)
{
	int64_t out;
	cr_assert_eq(sr__round_minor(micro, e, &out), 0);
	return out;
}

Test(money, round_half_away_from_zero)
{
	/* exponent 2: 1.005 -> 1.01, 1.004999 -> 1.00 */
	cr_assert_eq(minor(1005000, 2), 1010000);
	cr_assert_eq(minor(1004999, 2), 1000000);
	cr_assert_eq(minor(-1005000, 2), -1010000);
	/* exponent 0: 2.5 -> 3, 3.5 -> 4, 2.499999 -> 2 */
	cr_assert_eq(minor(2500000, 0), 3000000);
	cr_assert_eq(minor(3500000, 0), 4000000);
	cr_assert_eq(minor(2499999, 0), 2000000);
	/* exponent 3: 0.0005 -> 0.001 */
	cr_assert_eq(minor(500, 3), 1000);
	cr_assert_eq(minor(499, 3), 0);
	int64_t out;
	/* 9.99 x 12 / 29 = 4.133793.. -> 4.13 */
	cr_assert_eq(sr__round_minor_div((sr_i128)9990000 * 12, 29, 2, &out),
	             0);
	cr_assert_eq(out, 4130000);
	cr_assert_eq(sr__round_minor_div((sr_i128)INT64_MAX * 4, 1, 2, &out),
	             SR_EOVERFLOW);
}

static void fixed(int64_t v, int digits, const char *want)
{
	char buf[SR_AMOUNT_TEXT];
	size_t n = sr__format_fixed(v, digits, buf);
	buf[n] = 0;
	cr_assert_str_eq(buf, want);
}

Test(money, format)
{
	char buf[SR_AMOUNT_TEXT];
	fixed(0, 6, "0.000000");
	fixed(12500000, 6, "12.500000");
	fixed(1200000000, 0, "1200");
	fixed(9990000, 2, "9.99");
	fixed(1000, 3, "0.001");
	fixed(-1500000, 2, "-1.50");
	fixed(INT64_MAX, 6, "9223372036854.775807");
	/* Every digit count, on fraction digits that are all different. */
	static const char *const cut[] = {"123",      "123.4",     "123.45",
	                                  "123.456",  "123.4567",  "123.45678",
	                                  "123.456789"};
	for (int d = 0; d <= 6; d++)
		fixed(123456789, d, cut[d]);
	fixed(-90000001, 5, "-90.00000");
	fixed(-90000001, 6, "-90.000001");
	buf[sr__format_amount(9990000, buf)] = 0;
	cr_assert_str_eq(buf, "9.99");
	buf[sr__format_amount(5000000, buf)] = 0;
	cr_assert_str_eq(buf, "5");
	buf[sr__format_percent(88750, buf)] = 0;
	cr_assert_str_eq(buf, "8.875");
	buf[sr__format_percent(200000, buf)] = 0;
	cr_assert_str_eq(buf, "20");
	buf[sr__format_percent(0, buf)] = 0;
	cr_assert_str_eq(buf, "0");
}

Test(money, graduated_value)
{
	/* base 0.10 below 100, 0.08 from 100, 0.05 from 1000. */
	struct sr_tier tiers[] = {{100, 80000}, {1000, 50000}};
	struct sr_rate r = {.unit_price = 100000, .ntiers = 2, .tiers = tiers};
	__int128 v;
	cr_assert_eq(sr_usage_value(&r, 0, &v), 0);
	cr_assert(v == 0);
	cr_assert_eq(sr_usage_value(&r, 99, &v), 0);
	cr_assert(v == 99 * 100000);
	cr_assert_eq(sr_usage_value(&r, 100, &v), 0);
	cr_assert(v == 100 * 100000);
	cr_assert_eq(sr_usage_value(&r, 101, &v), 0);
	cr_assert(v == 100 * 100000 + 80000);
	/* 100 x 0.10 + 900 x 0.08 + 5 x 0.05 = 10 + 72 + 0.25 */
	cr_assert_eq(sr_usage_value(&r, 1005, &v), 0);
	cr_assert(v == 82250000);
	struct sr_rate flat = {.unit_price = INT64_MAX};
	cr_assert_eq(sr_usage_value(&flat, (unsigned __int128)1 << 70, &v),
	             SR_EOVERFLOW);
}

/* Integers of every length, at and beside each power of ten, against
 * the C library's formatting. */
Test(money, format_every_length)
{
	char buf[64], want[64];
	uint64_t p = 1;
	for (int k = 0; k < 20; k++, p *= 10) {
		const uint64_t near[] = {p - 1, p, p + 1, p * 2 - 1, p * 9 + 7};
		for (int i = 0; i < 5; i++) {
			uint64_t v = near[i];
			if (k == 19 && i >= 3)
				v = UINT64_MAX - (uint64_t)i; /* no overflow */
			buf[sr__format_i128((sr_i128)v, buf)] = 0;
			snprintf(want, sizeof(want), "%llu", (unsigned long long)v);
			cr_assert_str_eq(buf, want);
		}
	}
	buf[sr__format_i128((sr_i128)UINT64_MAX + 1, buf)] = 0;
	cr_assert_str_eq(buf, "18446744073709551616");
	buf[sr__format_i128(-(sr_i128)1234567, buf)] = 0;
	cr_assert_str_eq(buf, "-1234567");
}
