/*
 * Civil (proleptic Gregorian, UTC) calendar arithmetic and the text forms
 * of instants the contract uses: YYYY-MM-DD dates, RFC 3339 timestamps,
 * YYYY-MM periods. Pure integer arithmetic, no libc time functions, valid
 * for every year 0001..9999 and beyond.
 */
#ifndef SR_CIVIL_H
#define SR_CIVIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SR_DAY 86400

/* Days since 1970-01-01 of a civil date (any year, m 1..12, d 1..31). */
int64_t sr__days_from_civil(int64_t y, unsigned m, unsigned d);
/* Inverse of sr__days_from_civil. */
void sr__civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
/* Days in month m of year y. */
unsigned sr__month_days(int64_t y, unsigned m);
/* Weekday of a day count: 0 = Monday .. 6 = Sunday. */
unsigned sr__weekday(int64_t days);
/* Floor division of an instant into (days, second of day). */
int64_t sr__day_of(int64_t instant);

/* n ASCII digits at p as a number, or -1 when any is not a digit. */
int64_t sr__digits(const char *p, size_t n);

/* "YYYY-MM-DD", a real date in years 0001..9999: 0 and 00:00 UTC, or -1. */
int sr__parse_date(const char *p, size_t n, int64_t *instant);
/* "YYYY-MM", month 01..12, year 0001..9999: 0, or -1. */
int sr__parse_period(const char *p, size_t n, int64_t *y, unsigned *m);
/*
 * RFC 3339 as SPEC section 1 restricts it:
 * YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM); the fraction is dropped.
 * 0 and the UTC instant, or -1.
 */
int sr__parse_rfc3339(const char *p, size_t n, int64_t *instant);

/* Writes "YYYY-MM-DDTHH:MM:SSZ" (20 bytes, no NUL); returns 20. Years
 * outside 0000..9999 are clamped: only instants of other periods have them. */
size_t sr__format_utc(int64_t instant, char *out);
/* Writes "YYYY-MM-DD" (10 bytes, no NUL) of the instant's UTC day. */
size_t sr__format_date(int64_t instant, char *out);

#endif
