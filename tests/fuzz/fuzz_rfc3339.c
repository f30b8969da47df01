/*
 * fuzz_rfc3339: the timestamp, date and period parsers of engine/civil.c
 * against libc's calendar (timegm, gmtime_r), which shares no code with
 * them. Properties, for the input as a timestamp:
 *  - accepted exactly when the grammar of SPEC section 1 holds (a real
 *    date in years 0001-9999, hours 00-23, minutes and seconds 00-59, an
 *    optional fraction of one or more digits, Z or an offset of 00-23
 *    hours and 00-59 minutes), with the instant libc computes;
 *  - parse, format, parse gives the same instant, and the canonical
 *    YYYY-MM-DDTHH:MM:SSZ form formats back to the very same bytes;
 *  - the date and the period in front of it parse the same way;
 * and any instant of years 0001-9999 drawn from the input's first bytes
 * formats to text that parses back to it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "civil.h"
#include "fuzz.h"

static bool digits(const char *p, size_t n, int *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		*v = *v * 10 + (p[i] - '0');
	}
	return true;
}

/* YYYY-MM-DD as libc sees it: days since the epoch, or false. */
static bool ref_date(const char *p, int64_t *days)
{
	int y, m, d;
	if (!digits(p, 4, &y) || p[4] != '-' || !digits(p + 5, 2, &m) ||
	    p[7] != '-' || !digits(p + 8, 2, &d))
		return false;
	if (y < 1 || m < 1 || m > 12 || d < 1)
		return false;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
	time_t t = timegm(&tm);
	struct tm back;
	if (!gmtime_r(&t, &back) || back.tm_mday != d || back.tm_mon != m - 1)
		return false; /* 2023-02-30 normalises to March */
	*days = (int64_t)t / 86400;
	return true;
}

static bool ref_rfc3339(const char *p, size_t n, int64_t *instant)
{
	int64_t days;
	int hh, mi, ss, oh, om;
	if (n < 20 || !ref_date(p, &days) || p[10] != 'T' ||
	    !digits(p + 11, 2, &hh) || p[13] != ':' ||
	    !digits(p + 14, 2, &mi) || p[16] != ':' || !digits(p + 17, 2, &ss))
		return false;
	if (hh > 23 || mi > 59 || ss > 59)
		return false;
	size_t i = 19;
	if (p[i] == '.') {
		size_t k = ++i;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == k)
			return false;
	}
	int64_t off = 0;
	if (n - i == 1 && p[i] == 'Z') {
		off = 0;
	} else if (n - i == 6 && (p[i] == '+' || p[i] == '-') &&
	           digits(p + i + 1, 2, &oh) && p[i + 3] == ':' &&
	           digits(p + i + 4, 2, &om) && oh <= 23 && om <= 59) {
		off = (oh * 60 + om) * 60 * (p[i] == '-' ? -1 : 1);
	} else {
		return false;
	}
	*instant = days * 86400 + hh * 3600 + mi * 60 + ss - off;
	return true;
}

static void timestamp(const char *p, size_t n)
{
	int64_t got = 0, want = 0;
	bool ok = sr__parse_rfc3339(p, n, &got) == 0;
	bool ref = ref_rfc3339(p, n, &want);
	FUZZ_CHECK(ok == ref, "'%.*s': engine %s, libc %s", (int)n, p,
	           ok ? "accepts" : "refuses", ref ? "accepts" : "refuses");
	if (!ok)
		return;
	FUZZ_CHECK(got == want, "'%.*s': %lld, libc %lld", (int)n, p,
	           (long long)got, (long long)want);

	char text[20], date[10];
	FUZZ_CHECK(sr__format_utc(got, text) == 20, "format length");
	FUZZ_CHECK(sr__format_date(got, date) == 10, "date length");
	FUZZ_CHECK(!memcmp(text, date, 10), "date differs from timestamp");
	if (n == 20 && p[19] == 'Z')
		FUZZ_CHECK(!memcmp(text, p, 20), "'%.*s' formats as '%.20s'",
		           (int)n, p, text);
	/* An offset can move the instant into year 0000 or 10000, which
	 * the canonical form cannot carry: the year is clamped (only
	 * instants of other periods have them), and the text is not that
	 * instant. */
	int64_t y;
	unsigned m, d;
	sr__civil_from_days(sr__day_of(got), &y, &m, &d);
	int64_t again;
	if (y >= 1 && y <= 9999) {
		FUZZ_CHECK(sr__parse_rfc3339(text, 20, &again) == 0 &&
		               again == got,
		           "'%.20s' does not parse back", text);
	} else {
		FUZZ_CHECK(
		    sr__parse_rfc3339(text, 20, &again) < 0 || again != got,
		    "year %lld formatted as '%.20s'", (long long)y, text);
	}
}

static void date_and_period(const char *p, size_t n)
{
	int64_t got, days, y;
	unsigned m;
	if (n >= 10) {
		bool ok = sr__parse_date(p, 10, &got) == 0;
		bool ref = ref_date(p, &days);
		FUZZ_CHECK(ok == ref, "date '%.10s'", p);
		if (ok) {
			char back[10];
			FUZZ_CHECK(got == days * 86400, "date '%.10s'", p);
			sr__format_date(got, back);
			FUZZ_CHECK(!memcmp(back, p, 10),
			           "date '%.10s' -> '%.10s'", p, back);
		}
	}
	if (n != 10)
		FUZZ_CHECK(sr__parse_date(p, n, &got) < 0,
		           "date of %zu bytes accepted", n);
	if (n != 7)
		FUZZ_CHECK(sr__parse_period(p, n, &y, &m) < 0,
		           "period of %zu bytes accepted", n);
	if (n >= 7) {
		int yy, mm;
		bool ref = digits(p, 4, &yy) && p[4] == '-' &&
		           digits(p + 5, 2, &mm) && yy >= 1 && mm >= 1 &&
		           mm <= 12;
		bool ok = sr__parse_period(p, 7, &y, &m) == 0;
		FUZZ_CHECK(ok == ref, "period '%.7s'", p);
		if (ok)
			FUZZ_CHECK(y == yy && m == (unsigned)mm,
			           "period '%.7s'", p);
	}
}

/* An instant of years 0001..9999 from the first 8 bytes. */
static void instant(const uint8_t *data, size_t size)
{
	const int64_t lo = -62135596800; /* 0001-01-01T00:00:00Z */
	const int64_t hi = 253402300799; /* 9999-12-31T23:59:59Z */
	uint64_t v = 0;
	if (size < 8)
		return;
	for (int i = 0; i < 8; i++)
		v = v << 8 | data[i];
	int64_t t = lo + (int64_t)(v % (uint64_t)(hi - lo + 1));
	char text[20];
	int64_t back;
	sr__format_utc(t, text);
	FUZZ_CHECK(sr__parse_rfc3339(text, 20, &back) == 0 && back == t,
	           "%lld -> '%.20s'", (long long)t, text);
	time_t tt = (time_t)t;
	struct tm tm;
	char want[21];
	FUZZ_CHECK(gmtime_r(&tt, &tm) != NULL, "gmtime");
	snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02dZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec);
	FUZZ_CHECK(!memcmp(text, want, 20), "%lld: '%.20s', libc '%s'",
	           (long long)t, text, want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact copy: reads past the text are AddressSanitizer reports. */
	char *p = fuzz_copy((const char *)data, size);
	timestamp(p, size);
	date_and_period(p, size);
	instant(data, size);
	free(p);
	return 0;
}
