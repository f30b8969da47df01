/*
 * Money and percentages as integers: parsing the catalog's decimals into
 * micro-units, rounding half away from zero with 128-bit intermediates, and
 * writing amounts back as text. No floating point anywhere.
 */
#ifndef SR_MONEY_H
#define SR_MONEY_H

#include <stddef.h>
#include <stdint.h>

typedef __int128 sr_i128;

#define SR_POW6 1000000ULL

/* Longest text sr__format_* writes, with room to spare. */
#define SR_AMOUNT_TEXT 48

/* "[0-9]+(.[0-9]{1,6})?" into micro-units: 0, or -1 (junk or too big). */
int sr__parse_amount(const char *p, size_t n, int64_t *micro);
/* "[0-9]+(.[0-9]{1,4})?", at most 100, into percent x 10^4: 0 or -1. */
int sr__parse_percent(const char *p, size_t n, uint32_t *rate);

/*
 * num / den rounded half away from zero (den > 0). Returns 0, or
 * SR_EOVERFLOW when the result does not fit in int64_t.
 */
int sr__round_div(sr_i128 num, sr_i128 den, int64_t *out);
/* micro rounded to a multiple of 10^(6-exponent), half away from zero. */
int sr__round_minor(sr_i128 micro, int exponent, int64_t *out);
/* The exact fraction num / den micro-units, rounded the same way. */
int sr__round_minor_div(sr_i128 num, sr_i128 den, int exponent, int64_t *out);

/* micro-units with exactly digits (0..6) fractional digits, truncating
 * finer digits (callers round first). Returns the length; no NUL. */
size_t sr__format_fixed(int64_t micro, int digits, char *out);
/* micro-units without trailing fractional zeros ("9.99", "5"). */
size_t sr__format_amount(int64_t micro, char *out);
/* percent x 10^4 without trailing fractional zeros ("20", "8.875"). */
size_t sr__format_percent(uint32_t rate, char *out);
/* A signed 128-bit integer in decimal. */
size_t sr__format_i128(sr_i128 v, char *out);

#endif
