/*
 * Calendar arithmetic on the proleptic Gregorian calendar, after Howard
 * Hinnant's days_from_civil algorithms: branch-light integer code that is
 * exact for every year, so timestamps never pass through struct tm or the
 * process time zone.
 */
#include "civil.h"
#include "swar.h"

int64_t sr__days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void sr__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned sr__month_days(int64_t y, unsigned m)
{
	static const unsigned char days[12] = {31, 28, 31, 30, 31, 30,
	                                       31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

unsigned sr__weekday(int64_t days)
{
	/* 1970-01-01 was a Thursday (3 when Monday is 0). */
	int64_t w = (days + 3) % 7;
	return (unsigned)(w < 0 ? w + 7 : w);
}

int64_t sr__day_of(int64_t instant)
{
	int64_t d = instant / SR_DAY;
	return d - (instant % SR_DAY < 0);
}

int64_t sr__digits(const char *p, size_t n)
{
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned char)p[i] - '0';
		if (c > 9)
			return -1;
		v = v * 10 + c;
	}
	return v;
}

static int parse_ymd(const char *p, int64_t *y, unsigned *m, unsigned *d)
{
	if (p[4] != '-' || p[7] != '-')
		return -1;
	int64_t yy = sr__digits(p, 4), mm = sr__digits(p + 5, 2),
	        dd = sr__digits(p + 8, 2);
	if (yy < 1 || mm < 1 || mm > 12 || dd < 1)
		return -1;
	if ((unsigned)dd > sr__month_days(yy, (unsigned)mm))
		return -1;
	*y = yy;
	*m = (unsigned)mm;
	*d = (unsigned)dd;
	return 0;
}

int sr__parse_date(const char *p, size_t n, int64_t *instant)
{
	int64_t y;
	unsigned m, d;
	if (n != 10 || parse_ymd(p, &y, &m, &d) < 0)
		return -1;
	*instant = sr__days_from_civil(y, m, d) * SR_DAY;
	return 0;
}

int sr__parse_period(const char *p, size_t n, int64_t *y, unsigned *m)
{
	if (n != 7 || p[4] != '-')
		return -1;
	int64_t yy = sr__digits(p, 4), mm = sr__digits(p + 5, 2);
	if (yy < 1 || mm < 1 || mm > 12)
		return -1;
	*y = yy;
	*m = (unsigned)mm;
	return 0;
}

/*
 * The fixed part "YYYY-MM-DDTHH:MM:SS" is checked as three 8-byte words
 * (bytes 0-7, 8-15 and 11-18) rather than digit by digit: it is the
 * costliest field of every record. A byte b is a digit when x = b ^ '0'
 * has a clear high nibble and x + 6 does not reach 0x10; a carry out of
 * a byte only happens when that byte already fails.
 */
#define DIGIT_NIBBLES (SR_ONES * 0xF0)

static bool word_digits(uint64_t w, uint64_t mask)
{
	uint64_t x = w ^ (SR_ONES * '0');
	return ((x | (x + SR_ONES * 6)) & DIGIT_NIBBLES & mask) == 0;
}

/* The digit in byte k of a checked word, and a two-digit number. */
static unsigned dig(uint64_t w, int k)
{
	return (unsigned)(w >> (8 * k)) & 0xF;
}

static unsigned two(uint64_t w, int k)
{
	return dig(w, k) * 10 + dig(w, k + 1);
}

/* Little-endian byte k of a word holding c. */
#define AT(k, c) ((uint64_t)(unsigned char)(c) << (8 * (k)))

int sr__parse_rfc3339(const char *p, size_t n, int64_t *instant)
{
	/* Shortest form: YYYY-MM-DDTHH:MM:SSZ, 20 bytes. */
	if (n < 20)
		return -1;
	uint64_t a = sr__word(p), b = sr__word(p + 8), c = sr__word(p + 11);
	/* a: YYYY-MM-  b: DDTHH:MM  c: HH:MM:SS */
	if ((a & (AT(4, 0xFF) | AT(7, 0xFF))) != (AT(4, '-') | AT(7, '-')) ||
	    (b & (AT(2, 0xFF) | AT(5, 0xFF))) != (AT(2, 'T') | AT(5, ':')) ||
	    (c & AT(5, 0xFF)) != AT(5, ':') ||
	    !word_digits(a, ~(AT(4, 0xFF) | AT(7, 0xFF))) ||
	    !word_digits(b, ~(AT(2, 0xFF) | AT(5, 0xFF))) ||
	    !word_digits(c, AT(6, 0xFF) | AT(7, 0xFF)))
		return -1;
	int64_t y = two(a, 0) * 100 + two(a, 2);
	unsigned m = two(a, 5), d = two(b, 0);
	unsigned hh = two(b, 3), mi = two(b, 6), ss = two(c, 6);
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > sr__month_days(y, m) ||
	    hh > 23 || mi > 59 || ss > 59)
		return -1;
	size_t i = 19;
	if (p[i] == '.') {
		size_t f = ++i;
		while (i < n && (unsigned)((unsigned char)p[i] - '0') <= 9)
			i++;
		if (i == f)
			return -1;
	}
	int64_t offset;
	if (i + 1 == n && p[i] == 'Z') {
		offset = 0;
	} else if (i + 6 == n && (p[i] == '+' || p[i] == '-') &&
	           p[i + 3] == ':') {
		int64_t oh = sr__digits(p + i + 1, 2),
		        om = sr__digits(p + i + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
		offset = (oh * 60 + om) * 60;
		if (p[i] == '-')
			offset = -offset;
	} else {
		return -1;
	}
	*instant = sr__days_from_civil(y, m, d) * SR_DAY + hh * 3600 + mi * 60 +
	           ss - offset;
	return 0;
}

#undef AT

static char *put_sr__digits(char *out, int64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		out[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return out + width;
}

size_t sr__format_date(int64_t instant, char *out)
{
	int64_t y;
	unsigned m, d;
	sr__civil_from_days(sr__day_of(instant), &y, &m, &d);
	/* Years outside 0..9999 only arise from offsets at the very edges
	 * of the range; clamp the text rather than overflow the buffer. */
	if (y < 0)
		y = 0;
	if (y > 9999)
		y = 9999;
	char *o = put_sr__digits(out, y, 4);
	*o++ = '-';
	o = put_sr__digits(o, m, 2);
	*o++ = '-';
	put_sr__digits(o, d, 2);
	return 10;
}

size_t sr__format_utc(int64_t instant, char *out)
{
	int64_t sod = instant - sr__day_of(instant) * SR_DAY;
	sr__format_date(instant, out);
	char *o = out + 10;
	*o++ = 'T';
	o = put_sr__digits(o, sod / 3600, 2);
	*o++ = ':';
	o = put_sr__digits(o, sod / 60 % 60, 2);
	*o++ = ':';
	o = put_sr__digits(o, sod % 60, 2);
	*o = 'Z';
	return 20;
}
