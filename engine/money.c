/*
 * Integer money. Amounts enter as decimal text with a bounded number of
 * fractional digits, live as int64_t micro-units, and every division the
 * contract asks for (proration, tiers, tax) is one exact 128-bit division
 * rounded half away from zero, never a chain of rounded steps.
 */
#include <string.h>

#include <stdbool.h>

#include "money.h"
#include "streamrate/error.h"

/* Digits, a dot and up to maxfrac digits, scaled to 10^scale units. */
static int parse_fixed(const char *p, size_t n, int maxfrac, int scale,
                       sr_i128 max, sr_i128 *out)
{
	sr_i128 v = 0;
	size_t i = 0;
	int frac = 0;

	if (n == 0)
		return -1;
	while (i < n && p[i] >= '0' && p[i] <= '9') {
		v = v * 10 + (p[i++] - '0');
		if (v > max)
			return -1;
	}
	if (i == 0)
		return -1;
	if (i < n) {
		if (p[i++] != '.' || i == n)
			return -1;
		while (i < n && p[i] >= '0' && p[i] <= '9' && frac < maxfrac) {
			v = v * 10 + (p[i++] - '0');
			frac++;
		}
		if (i != n)
			return -1;
	}
	for (; frac < scale; frac++)
		v *= 10;
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

int sr__parse_amount(const char *p, size_t n, int64_t *micro)
{
	sr_i128 v;
	if (parse_fixed(p, n, 6, 6, INT64_MAX, &v) < 0)
		return -1;
	*micro = (int64_t)v;
	return 0;
}

int sr__parse_percent(const char *p, size_t n, uint32_t *rate)
{
	sr_i128 v;
	if (parse_fixed(p, n, 4, 4, 1000000, &v) < 0)
		return -1;
	*rate = (uint32_t)v;
	return 0;
}

int sr__round_div(sr_i128 num, sr_i128 den, int64_t *out)
{
	bool neg = num < 0;
	unsigned __int128 a = (unsigned __int128)(neg ? -num : num);
	unsigned __int128 d = (unsigned __int128)den;
	unsigned __int128 q = a / d, r = a % d;

	/* Half away from zero: round up when the remainder is >= d/2. */
	if (r >= d - r)
		q++;
	if (q > (unsigned __int128)INT64_MAX)
		return SR_EOVERFLOW;
	*out = neg ? -(int64_t)q : (int64_t)q;
	return 0;
}

static const int64_t scale10[7] = {1, 10, 100, 1000, 10000, 100000, 1000000};

int sr__round_minor_div(sr_i128 num, sr_i128 den, int exponent, int64_t *out)
{
	int64_t q = scale10[6 - exponent], units;
	int err = sr__round_div(num, den * q, &units);
	if (err)
		return err;
	if (__builtin_mul_overflow(units, q, out))
		return SR_EOVERFLOW;
	return 0;
}

int sr__round_minor(sr_i128 micro, int exponent, int64_t *out)
{
	return sr__round_minor_div(micro, 1, exponent, out);
}

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* The two digits of v < 100 as a little-endian 16-bit word. */
static inline uint64_t pair16(unsigned v)
{
	uint16_t w;
	memcpy(&w, digit_pairs + v * 2, 2);
	return w;
}

/* Decimal of a 64-bit value, two digits per division. */
/* Digits written straight to their places, two at a time from the end:
 * no staging buffer and no copy call (a variable-length memcpy was a
 * third of the cost of formatting an amount). */
static size_t format_u64(uint64_t v, char *out)
{
	size_t n = 1;
	for (uint64_t t = v; t >= 10; t /= 10)
		n++;
	char *p = out + n;
	while (v >= 100) {
		unsigned d = (unsigned)(v % 100) * 2;
		v /= 100;
		*--p = digit_pairs[d + 1];
		*--p = digit_pairs[d];
	}
	if (v >= 10) {
		*--p = digit_pairs[v * 2 + 1];
		*--p = digit_pairs[v * 2];
	} else {
		*--p = (char)('0' + v);
	}
	return n;
}

size_t sr__format_i128(sr_i128 v, char *out)
{
	size_t len = 0;
	unsigned __int128 a = (unsigned __int128)(v < 0 ? -v : v);

	if (v < 0)
		out[len++] = '-';
	if (a <= UINT64_MAX)
		return len + format_u64((uint64_t)a, out + len);
	/* Past 64 bits (unit sums only): split off the low 19 digits. */
	const uint64_t e19 = 10000000000000000000ULL;
	len += sr__format_i128((sr_i128)(a / e19), out + len);
	uint64_t low = (uint64_t)(a % e19);
	char tmp[24];
	size_t n = format_u64(low, tmp);
	memset(out + len, '0', 19 - n);
	memcpy(out + len + 19 - n, tmp, n);
	return len + 19;
}

size_t sr__format_fixed(int64_t micro, int digits, char *out)
{
	size_t len = 0;
	uint64_t a = micro < 0 ? -(uint64_t)micro : (uint64_t)micro;

	if (micro < 0)
		out[len++] = '-';
	len += format_u64(a / SR_POW6, out + len);
	if (digits <= 0)
		return len;
	/* The six fractional digits in one register, first digit in the low
	 * byte, stored from there. They used to go through a char[6] on the
	 * stack, written two bytes at a time and read back by memcpy() four
	 * at a time: every read missed store forwarding, and perf put a
	 * tenth of rate's CPU on that one load. */
	unsigned f = (unsigned)(a % SR_POW6);
	uint64_t w = pair16(f / 10000) | (uint64_t)pair16(f / 100 % 100) << 16 |
	             (uint64_t)pair16(f % 100) << 32;
	out[len++] = '.';
	if (digits >= 6) {
		uint32_t lo = (uint32_t)w;
		uint16_t hi = (uint16_t)(w >> 32);
		memcpy(out + len, &lo, 4);
		memcpy(out + len + 4, &hi, 2);
		return len + 6;
	}
	for (int i = 0; i < digits; i++)
		out[len++] = (char)(w >> (8 * i));
	return len;
}

size_t sr__format_amount(int64_t micro, char *out)
{
	int digits = 6;
	uint64_t a = micro < 0 ? -(uint64_t)micro : (uint64_t)micro;
	while (digits > 0 && a % (uint64_t)scale10[7 - digits] == 0)
		digits--;
	return sr__format_fixed(micro, digits, out);
}

size_t sr__format_percent(uint32_t rate, char *out)
{
	/* percent x 10^4 is micro-units of a percent divided by 100. */
	return sr__format_amount((int64_t)rate * 100, out);
}
