/*
 * The generator's plumbing: seeding the PRNG streams, the big-buffer file
 * writer, hand-rolled number and date formatting, civil-calendar arithmetic
 * and the daylight-saving rules of the zones the catalog names.
 *
 * Writing five million records in seconds rules out a stdio call per field:
 * records are formatted straight into one multi-megabyte buffer that is
 * handed to write(2) when full. The calendar and zone code is its own, not
 * libc's, so that the output never depends on the machine's TZ settings or
 * its tz database version.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "civil.h"
#include "gen.h"

/* ---- PRNG --------------------------------------------------------------*/

uint64_t sr__gen_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

void sr__gen_rng_seed(struct gen_rng *rng, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ sr__gen_mix(stream + 0x9e3779b97f4a7c15ULL);

	for (int i = 0; i < 4; i++) {
		x += 0x9e3779b97f4a7c15ULL;
		rng->s[i] = sr__gen_mix(x);
	}
}

/* ---- Output ------------------------------------------------------------*/

int sr__gen_out_open(struct gen_out *out, const char *path)
{
	memset(out, 0, sizeof(*out));
	out->path = path;
	out->buf = malloc(SR_GEN_OUT_CAP);
	if (!out->buf)
		return ENOMEM;
	out->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out->fd < 0) {
		int err = errno;

		free(out->buf);
		out->buf = NULL;
		return err;
	}
	return 0;
}

static void write_all(struct gen_out *out, const char *p, size_t n)
{
	while (n && !out->err) {
		ssize_t w = write(out->fd, p, n);

		if (w < 0) {
			if (errno != EINTR)
				out->err = errno;
			continue;
		}
		p += w;
		n -= (size_t)w;
	}
}

void sr__gen_out_drain(struct gen_out *out)
{
	write_all(out, out->buf, out->len);
	out->len = 0;
}

void sr__gen_out_bytes(struct gen_out *out, const void *p, size_t n)
{
	if (n > SR_GEN_OUT_CAP / 2) {
		sr__gen_out_drain(out);
		write_all(out, p, n);
		return;
	}
	char *dst = out_room(out, n);

	memcpy(dst, p, n);
	out_done(out, dst + n);
}

void sr__gen_out_printf(struct gen_out *out, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		sr__gen_out_bytes(out, line,
		                  (size_t)n < sizeof(line) ? (size_t)n
		                                           : sizeof(line) - 1);
}

int sr__gen_out_close(struct gen_out *out)
{
	sr__gen_out_drain(out);
	if (close(out->fd) < 0 && !out->err)
		out->err = errno;
	free(out->buf);
	out->buf = NULL;
	return out->err;
}

/* ---- Formatting --------------------------------------------------------*/

char *sr__gen_put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

char *sr__gen_put_pad(char *p, uint64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

char *sr__gen_put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

char *sr__gen_put_date(char *p, int32_t day)
{
	int y;
	unsigned m, d;

	sr__gen_civil_from_days(day, &y, &m, &d);
	p = sr__gen_put_pad(p, (uint64_t)y, 4);
	*p++ = '-';
	p = sr__gen_put_pad(p, m, 2);
	*p++ = '-';
	return sr__gen_put_pad(p, d, 2);
}

char *sr__gen_put_amount(char *p, int64_t micro, int min_frac)
{
	uint64_t frac = (uint64_t)(micro % 1000000);
	int digits = 6;

	p = sr__gen_put_u64(p, (uint64_t)(micro / 1000000));
	while (digits > min_frac && frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	if (digits == 0)
		return p;
	*p++ = '.';
	return sr__gen_put_pad(p, frac, digits);
}

/* ---- Calendar ----------------------------------------------------------*/

/* The engine's calendar (engine/civil.c), in the generator's types. */
int32_t sr__gen_days_from_civil(int y, unsigned m, unsigned d)
{
	return (int32_t)sr__days_from_civil(y, m, d);
}

void sr__gen_civil_from_days(int32_t z, int *y, unsigned *m, unsigned *d)
{
	int64_t yy;
	sr__civil_from_days(z, &yy, m, d);
	*y = (int)yy;
}

unsigned sr__gen_month_days(int y, unsigned m)
{
	return sr__month_days(y, m);
}

unsigned sr__gen_weekday(int32_t day)
{
	return sr__weekday(day);
}

/* ---- Time zones --------------------------------------------------------*/

/* The day of the n-th Sunday (n >= 1) of a month, or the last if n = 0. */
static int32_t sunday(int year, unsigned month, int n)
{
	int32_t first = sr__gen_days_from_civil(year, month, 1);

	if (n == 0) {
		int32_t last = first + (int32_t)sr__gen_month_days(year, month);

		return last - 1 -
		       (int32_t)((sr__gen_weekday(last - 1) + 1) % 7);
	}
	int32_t first_sun = first + (int32_t)((6 - sr__gen_weekday(first)) % 7);

	return first_sun + 7 * (n - 1);
}

bool sr__gen_zone_switches(const struct gen_zone *z, int year, int64_t *on,
                           int64_t *off)
{
	int64_t two = 2 * 3600;

	switch (z->dst) {
	case SR_GEN_DST_EU:
		*on = (int64_t)sunday(year, 3, 0) * SR_GEN_DAY + 3600;
		*off = (int64_t)sunday(year, 10, 0) * SR_GEN_DAY + 3600;
		return true;
	case SR_GEN_DST_US:
		/* 02:00 standard time on, 02:00 daylight time off. */
		*on =
		    (int64_t)sunday(year, 3, 2) * SR_GEN_DAY + two - z->std_off;
		*off = (int64_t)sunday(year, 11, 1) * SR_GEN_DAY + two -
		       (z->std_off + 3600);
		return true;
	case SR_GEN_DST_AU:
		/* 02:00 standard time on, 03:00 daylight time off: both at
		 * 02:00 standard time. */
		*on = (int64_t)sunday(year, 10, 1) * SR_GEN_DAY + two -
		      z->std_off;
		*off =
		    (int64_t)sunday(year, 4, 1) * SR_GEN_DAY + two - z->std_off;
		return true;
	default:
		return false;
	}
}

int32_t sr__gen_zone_offset(const struct gen_zone *z, int64_t t)
{
	int y;
	unsigned m, d;
	int64_t on, off;

	/* The UTC year is right for every switch: none is near New Year. */
	sr__gen_civil_from_days(gen_day_of(t), &y, &m, &d);
	if (!sr__gen_zone_switches(z, y, &on, &off))
		return z->std_off;
	bool dst = on < off ? (t >= on && t < off) : (t >= on || t < off);

	return z->std_off + (dst ? 3600 : 0);
}

int64_t sr__gen_zone_to_utc(const struct gen_zone *z, int64_t local)
{
	int64_t first = local - (z->std_off + 3600);

	/* Prefer the daylight reading: it is the earlier instant. */
	if (sr__gen_zone_offset(z, first) == z->std_off + 3600)
		return first;
	return local - z->std_off;
}
