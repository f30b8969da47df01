/* Calendar arithmetic and the timestamp forms of the contract. */
#include <criterion/criterion.h>
#include <string.h>

#include "civil.h"

static int64_t ts(const char *s)
{
	int64_t t = 0;
	cr_assert_eq(sr__parse_rfc3339(s, strlen(s), &t), 0, "%s", s);
	return t;
}

static void bad(const char *s)
{
	int64_t t;
	cr_assert_eq(sr__parse_rfc3339(s, strlen(s), &t), -1, "%s", s);
}

Test(civil, days_round_trip)
{
	for (int64_t d = -800000; d < 3000000; d += 97) {
		int64_t y;
		unsigned m, dd;
		sr__civil_from_days(d, &y, &m, &dd);
		cr_assert_eq(sr__days_from_civil(y, m, dd), d);
	}
	cr_assert_eq(sr__days_from_civil(1970, 1, 1), 0);
	cr_assert_eq(sr__days_from_civil(2000, 3, 1), 11017);
	cr_assert_eq(sr__weekday(0), 3); /* Thursday */
	cr_assert_eq(sr__weekday(sr__days_from_civil(2024, 3, 31)), 6);
}

Test(civil, rfc3339_forms)
{
	cr_assert_eq(ts("1970-01-01T00:00:00Z"), 0);
	cr_assert_eq(ts("1970-01-01T01:00:00+01:00"), 0);
	cr_assert_eq(ts("1969-12-31T23:30:00.999-00:30"), 0);
	cr_assert_eq(ts("2024-02-29T12:00:00.1Z"), 1709208000);
	cr_assert_eq(ts("0001-01-01T00:00:00Z"), -62135596800LL);
	cr_assert_eq(ts("9999-12-31T23:59:59+23:59"),
	             253402214400LL + 86399 - 86340);
}

Test(civil, rfc3339_rejects)
{
	bad("2023-02-29T00:00:00Z");
	bad("2024-01-01t00:00:00Z");
	bad("2024-01-01T00:00:00z");
	bad("2024-01-01T24:00:00Z");
	bad("2024-01-01T00:60:00Z");
	bad("2024-01-01T00:00:60Z");
	bad("2024-01-01T00:00:00.Z");
	bad("2024-01-01T00:00:00");
	bad("2024-01-01T00:00:00+24:00");
	bad("2024-01-01T00:00:00+01:60");
	bad("2024-01-01T00:00:00+0100");
	bad("0000-01-01T00:00:00Z");
	bad("2024-1-01T00:00:00Z");
	bad("2024-01-01 00:00:00Z");
	bad("+024-01-01T00:00:00Z");
	bad("2024-01-01T00:00:00ZZ");
}

Test(civil, format)
{
	char out[21] = {0};
	sr__format_utc(ts("2024-03-31T02:30:00+02:00"), out);
	cr_assert_str_eq(out, "2024-03-31T00:30:00Z");
	sr__format_utc(-1, out);
	cr_assert_str_eq(out, "1969-12-31T23:59:59Z");
}

Test(civil, dates_and_periods)
{
	int64_t t, y;
	unsigned m;
	cr_assert_eq(sr__parse_date("2024-02-29", 10, &t), 0);
	cr_assert_eq(t, 1709164800);
	cr_assert_eq(sr__parse_date("2023-02-29", 10, &t), -1);
	cr_assert_eq(sr__parse_date("2023-13-01", 10, &t), -1);
	cr_assert_eq(sr__parse_period("2024-02", 7, &y, &m), 0);
	cr_assert(y == 2024 && m == 2);
	cr_assert_eq(sr__parse_period("2024-00", 7, &y, &m), -1);
	cr_assert_eq(sr__month_days(2024, 2), 29);
	cr_assert_eq(sr__month_days(1900, 2), 28);
	cr_assert_eq(sr__month_days(2000, 2), 29);
}
