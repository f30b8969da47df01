/*
 * Time zones: UTC offsets one second before and at each daylight saving
 * change of 2024, 2030 and 2045 in both hemispheres (instants taken from
 * Python's zoneinfo on the same tz database), fixed zones with half-hour
 * offsets, POSIX TZ footers, and names that must not reach the file
 * system. 2030 and 2045 are past the explicit transitions of "slim" TZif
 * files, so they exercise the footer rule.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamrate/error.h"
#include "tz.h"

static struct sr__arena arena;

static void teardown(void)
{
	sr__arena_free(&arena);
}

TestSuite(tz, .fini = teardown);

static struct sr__tz zone(const char *name)
{
	struct sr__tz tz;
	int err = sr__tz_load(name, strlen(name), &arena, &tz);
	cr_assert_eq(err, 0, "%s: %s", name, sr_strerror(err));
	return tz;
}

/* The offset is before until the change at instant t, after from t on. */
static void change(const struct sr__tz *tz, int64_t t, int32_t before,
                   int32_t after)
{
	cr_assert_eq(sr__tz_offset(tz, t - 1), before, "at %lld - 1",
	             (long long)t);
	cr_assert_eq(sr__tz_offset(tz, t), after, "at %lld", (long long)t);
}

Test(tz, paris)
{
	struct sr__tz tz = zone("Europe/Paris");
	change(&tz, 1711846800, 3600, 7200); /* 2024-03-31T01:00:00Z */
	change(&tz, 1729990800, 7200, 3600); /* 2024-10-27T01:00:00Z */
	change(&tz, 1901149200, 3600, 7200); /* 2030-03-31T01:00:00Z */
	change(&tz, 1919293200, 7200, 3600); /* 2030-10-27T01:00:00Z */
	change(&tz, 2374102800, 3600, 7200); /* 2045-03-26T01:00:00Z */
	change(&tz, 2392851600, 7200, 3600); /* 2045-10-29T01:00:00Z */
}

Test(tz, new_york)
{
	struct sr__tz tz = zone("America/New_York");
	change(&tz, 1710054000, -18000, -14400); /* 2024-03-10T07:00:00Z */
	change(&tz, 1730613600, -14400, -18000); /* 2024-11-03T06:00:00Z */
	change(&tz, 1899356400, -18000, -14400); /* 2030-03-10T07:00:00Z */
	change(&tz, 1919916000, -14400, -18000); /* 2030-11-03T06:00:00Z */
	change(&tz, 2372914800, -18000, -14400); /* 2045-03-12T07:00:00Z */
	change(&tz, 2393474400, -14400, -18000); /* 2045-11-05T06:00:00Z */
}

Test(tz, sydney_has_summer_over_new_year)
{
	struct sr__tz tz = zone("Australia/Sydney");
	change(&tz, 1712419200, 39600, 36000); /* 2024-04-06T16:00:00Z */
	change(&tz, 1728144000, 36000, 39600); /* 2024-10-05T16:00:00Z */
	change(&tz, 1901721600, 39600, 36000); /* 2030-04-06T16:00:00Z */
	change(&tz, 1917446400, 36000, 39600); /* 2030-10-05T16:00:00Z */
	change(&tz, 2374675200, 39600, 36000); /* 2045-04-01T16:00:00Z */
	change(&tz, 2390400000, 36000, 39600); /* 2045-09-30T16:00:00Z */
	/* 2046-01-01T00:00:00Z, a summer morning. */
	cr_assert_eq(sr__tz_offset(&tz, 2398377600), 39600);
}

Test(tz, fixed_zones)
{
	struct sr__tz kolkata = zone("Asia/Kolkata"), utc = zone("UTC");
	int64_t at[] = {0, 1711846800, 1901149200, 2392851600, 253402300799};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		cr_assert_eq(sr__tz_offset(&kolkata, at[i]), 19800);
		cr_assert_eq(sr__tz_offset(&utc, at[i]), 0);
	}
}

Test(tz, before_the_first_transition)
{
	/* Paris kept local mean time (+0:09:21) until 1891. */
	struct sr__tz tz = zone("Europe/Paris");
	cr_assert_eq(sr__tz_offset(&tz, -5000000000), 561);
}

Test(tz, names)
{
	cr_assert(sr__tz_name_ok("Europe/Paris", 12));
	cr_assert(sr__tz_name_ok("UTC", 3));
	cr_assert(!sr__tz_name_ok("", 0));
	cr_assert(!sr__tz_name_ok("/etc/passwd", 11));
	cr_assert(!sr__tz_name_ok("../etc/passwd", 13));
	cr_assert(!sr__tz_name_ok("Europe/../UTC", 13));
	cr_assert(!sr__tz_name_ok("Europe//Paris", 13));
	cr_assert(!sr__tz_name_ok("Europe/Paris/", 13));
	cr_assert(!sr__tz_name_ok("./UTC", 5));
	cr_assert(!sr__tz_name_ok("UT\nC", 4));
	struct sr__tz tz;
	cr_assert_eq(sr__tz_load("Mars/Base", 9, &arena, &tz), SR_ENOTFOUND);
	cr_assert_eq(sr__tz_load("zone.tab", 8, &arena, &tz), SR_ENOTFOUND);
	cr_assert_eq(sr__tz_load("Europe", 6, &arena, &tz), SR_ENOTFOUND);
}

static struct sr__tz_rule rule(const char *s)
{
	struct sr__tz_rule r;
	cr_assert_eq(sr__tz_rule_parse(s, strlen(s), &r), 0, "%s", s);
	return r;
}

Test(tz, posix_rules)
{
	struct sr__tz_rule r = rule("CET-1CEST,M3.5.0,M10.5.0/3");
	cr_assert_eq(r.std_off, 3600);
	cr_assert_eq(r.dst_off, 7200);
	cr_assert(r.has_dst);
	cr_assert_eq(r.start.kind, 'M');
	cr_assert_eq(r.start.month, 3);
	cr_assert_eq(r.start.week, 5);
	cr_assert_eq(r.start.day, 0);
	cr_assert_eq(r.start.time, 7200);
	cr_assert_eq(r.end.time, 10800);

	r = rule("<+0330>-3:30");
	cr_assert_eq(r.std_off, 12600);
	cr_assert(!r.has_dst);

	r = rule("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1");
	cr_assert_eq(r.std_off, -10800);
	cr_assert_eq(r.dst_off, -7200);
	cr_assert_eq(r.start.time, -7200);

	r = rule("IST-2IDT,M3.4.4/26,M10.5.0");
	cr_assert_eq(r.start.time, 26 * 3600);

	r = rule("AAA3BBB2,J60/1:30:15,300");
	cr_assert_eq(r.dst_off, -7200);
	cr_assert_eq(r.start.kind, 'J');
	cr_assert_eq(r.start.day, 60);
	cr_assert_eq(r.start.time, 5415);
	cr_assert_eq(r.end.kind, 'D');

	struct sr__tz_rule bad;
	const char *wrong[] = {"",
	                       "C",
	                       "CET",
	                       "CET-1CEST,M13.1.0,M10.5.0",
	                       "CET-1CEST,M3.5.0",
	                       "CET-1CEST,M3.6.0,M10.5.0",
	                       "CET-1CEST,J0,J5",
	                       "CET-1CEST,M3.5.0,M10.5.0/168",
	                       "CET-1CEST,M3.5.0,M10.5.0x"};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
		cr_assert_eq(
		    sr__tz_rule_parse(wrong[i], strlen(wrong[i]), &bad), -1,
		    "%s", wrong[i]);
}

/*
 * A version 2 TZif image without transitions, all in the footer: a check
 * of Julian-day rules, which no current zone uses.
 */
static size_t tzif(unsigned char *buf, const char *footer)
{
	size_t n = 0;
	for (int part = 0; part < 2; part++) {
		memset(buf + n, 0, 44);
		memcpy(buf + n, "TZif2", 5);
		buf[n + 39] = 1; /* typecnt */
		buf[n + 43] = 4; /* charcnt */
		n += 44;
		/* One type: offset 0, standard, abbreviation "UTC". */
		memset(buf + n, 0, 6);
		n += 6;
		memcpy(buf + n, "UTC", 4);
		n += 4;
	}
	n += (size_t)sprintf((char *)buf + n, "\n%s\n", footer);
	return n;
}

Test(tz, julian_day_rules)
{
	unsigned char buf[256];
	struct sr__tz tz;
	size_t n = tzif(buf, "AAA-1BBB,J60,J300");
	cr_assert_eq(sr__tz_parse(buf, n, &arena, &tz), 0);
	/* J60 is March 1 even in a leap year: 2024-03-01T02:00 local
	 * standard time is 01:00Z. J300 is October 27, 02:00 summer time. */
	change(&tz, 1709254800, 3600, 7200);
	change(&tz, 1729987200, 7200, 3600);
	/* Zero-based 59 is February 29 in 2024. */
	n = tzif(buf, "AAA-1BBB,59,300");
	cr_assert_eq(sr__tz_parse(buf, n, &arena, &tz), 0);
	change(&tz, 1709168400, 3600, 7200);
	n = tzif(buf, "AAA-1BBB,M3.5.0,M13.5.0");
	cr_assert_eq(sr__tz_parse(buf, n, &arena, &tz), SR_ENOTFOUND);
	cr_assert_eq(sr__tz_parse(buf, 30, &arena, &tz), SR_ENOTFOUND);
}

/* The last transition at or before t by bisection, as a reference. */
static int32_t bisect(const struct sr__tz *tz, int64_t t)
{
	uint32_t lo = 0, hi = tz->n - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo + 1) / 2;
		if (tz->at[mid] <= t)
			lo = mid;
		else
			hi = mid - 1;
	}
	return tz->off[lo];
}

/*
 * The span index gives the same offset as bisecting, over zones with
 * many transitions, few, and transitions close together: at, and one
 * second either side of, every transition, and at random instants
 * between the first and the last.
 */
Test(tz, span_index_matches_bisection)
{
	static const char *names[] = {
	    "Europe/Paris",      "America/New_York", "Australia/Sydney",
	    "Africa/Casablanca", "America/St_Johns", "Europe/London",
	    "Asia/Kolkata",      "Pacific/Chatham",  "America/Sao_Paulo",
	    "Antarctica/Troll"};
	srand(11);
	for (size_t z = 0; z < sizeof(names) / sizeof(*names); z++) {
		struct sr__tz tz = zone(names[z]);
		if (tz.n == 0)
			continue;
		cr_assert(tz.ix != NULL || tz.n < 2, "%s: no index", names[z]);
		for (uint32_t i = 0; i < tz.n; i++) {
			for (int64_t d = -1; d <= 1; d++) {
				int64_t t = tz.at[i] + d;
				if (t < tz.at[0] || t > tz.at[tz.n - 1])
					continue;
				cr_assert_eq(sr__tz_offset(&tz, t), bisect(&tz, t),
				             "%s at %lld", names[z], (long long)t);
			}
		}
		/* Half from the first transition, half from the index's. */
		for (int k = 0; k < 40000; k++) {
			int64_t from = k % 2 && tz.ix ? tz.ix_from : tz.at[0];
			int64_t span = tz.at[tz.n - 1] - from;
			if (span <= 0)
				continue;
			int64_t t = from + (int64_t)(((uint64_t)rand() << 31 ^
			                              (uint64_t)rand()) %
			                             (uint64_t)span);
			cr_assert_eq(sr__tz_offset(&tz, t), bisect(&tz, t),
			             "%s at %lld", names[z], (long long)t);
		}
	}
}
