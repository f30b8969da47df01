/*
 * TZif files (RFC 8536) and POSIX TZ rules, read once when a view is built
 * so that rating never touches the C library's time zone state: TZ and
 * tzset() are process-global, not thread-safe, and localtime_r() is far
 * slower than a bisection over a few hundred instants.
 *
 * A file's explicit transitions cover the past (and, in "fat" files, up to
 * 2037); its footer rule covers every later instant. The footer's DST
 * start and end are precomputed in UTC for the years 1900..2199, so the
 * common lookup is a bisection or two array reads; other years compute the
 * rule on the spot, still without a library call.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "civil.h"
#include "streamrate/error.h"
#include "tz.h"

#define RULE_Y0    1900
#define RULE_YEARS 300
#define TZIF_MAX   (1u << 20)

bool sr__tz_name_ok(const char *name, size_t len)
{
	size_t comp = 0;

	if (len == 0 || len > 255 || name[0] == '/')
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || name[i] == '/') {
			/* No empty, "." or ".." component: names are the
			 * normalized relative paths zoneinfo keys are. */
			size_t clen = i - comp;
			if (clen == 0 || (clen == 1 && name[comp] == '.') ||
			    (clen == 2 && name[comp] == '.' &&
			     name[comp + 1] == '.'))
				return false;
			comp = i + 1;
			continue;
		}
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* ---- POSIX TZ strings ---- */

struct cursor {
	const char *p, *end;
};

static bool at_end(const struct cursor *c)
{
	return c->p == c->end;
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Up to maxd digits into *v; -1 when there is none. */
static int number(struct cursor *c, int maxd, int32_t *v)
{
	int32_t x = 0;
	int d = 0;
	while (!at_end(c) && is_digit(*c->p) && d < maxd) {
		x = x * 10 + (*c->p++ - '0');
		d++;
	}
	*v = x;
	return d ? 0 : -1;
}

/* A zone abbreviation: <...> or letters. */
static int abbrev(struct cursor *c)
{
	if (!at_end(c) && *c->p == '<') {
		const char *q = memchr(c->p, '>', (size_t)(c->end - c->p));
		if (!q || q == c->p + 1)
			return -1;
		c->p = q + 1;
		return 0;
	}
	const char *start = c->p;
	while (!at_end(c) && ((*c->p >= 'a' && *c->p <= 'z') ||
	                      (*c->p >= 'A' && *c->p <= 'Z')))
		c->p++;
	return c->p - start >= 3 ? 0 : -1;
}

/* [+-]h[:mm[:ss]] with h up to maxh, as signed seconds. */
static int hms(struct cursor *c, int32_t maxh, int32_t *out)
{
	int32_t sign = 1, h, m = 0, s = 0;
	if (!at_end(c) && (*c->p == '+' || *c->p == '-'))
		sign = *c->p++ == '-' ? -1 : 1;
	if (number(c, 3, &h) < 0 || h > maxh)
		return -1;
	if (!at_end(c) && *c->p == ':') {
		c->p++;
		if (number(c, 2, &m) < 0 || m > 59)
			return -1;
		if (!at_end(c) && *c->p == ':') {
			c->p++;
			if (number(c, 2, &s) < 0 || s > 59)
				return -1;
		}
	}
	*out = sign * (h * 3600 + m * 60 + s);
	return 0;
}

/* A rule date: Jn, n or Mm.w.d, then an optional /time. */
static int when(struct cursor *c, struct sr__tz_when *w)
{
	int32_t a, b, d;
	w->time = 7200;
	if (!at_end(c) && *c->p == 'M') {
		c->p++;
		if (number(c, 2, &a) < 0 || a < 1 || a > 12 || at_end(c) ||
		    *c->p++ != '.' || number(c, 1, &b) < 0 || b < 1 || b > 5 ||
		    at_end(c) || *c->p++ != '.' || number(c, 1, &d) < 0 ||
		    d > 6)
			return -1;
		*w = (struct sr__tz_when){'M', (uint16_t)d, (uint8_t)a,
		                          (uint8_t)b, 7200};
	} else {
		bool julian = !at_end(c) && *c->p == 'J';
		c->p += julian;
		if (number(c, 3, &d) < 0 || d > 365 || (julian && d < 1))
			return -1;
		*w = (struct sr__tz_when){julian ? 'J' : 'D', (uint16_t)d, 0, 0,
		                          7200};
	}
	if (!at_end(c) && *c->p == '/') {
		c->p++;
		return hms(c, 167, &w->time);
	}
	return 0;
}

int sr__tz_rule_parse(const char *s, size_t n, struct sr__tz_rule *rule)
{
	struct cursor c = {s, s + n};
	int32_t off;

	*rule = (struct sr__tz_rule){0};
	/* POSIX offsets count west: "CET-1" is one hour east. */
	if (abbrev(&c) < 0 || hms(&c, 24, &off) < 0)
		return -1;
	rule->std_off = rule->dst_off = -off;
	if (at_end(&c))
		return 0;
	if (abbrev(&c) < 0)
		return -1;
	rule->has_dst = true;
	rule->dst_off = rule->std_off + 3600;
	if (!at_end(&c) && *c.p != ',') {
		if (hms(&c, 24, &off) < 0)
			return -1;
		rule->dst_off = -off;
	}
	if (at_end(&c)) {
		/* No dates: POSIX leaves them to the implementation; glibc
		 * uses the United States rules. */
		rule->start = (struct sr__tz_when){'M', 0, 3, 2, 7200};
		rule->end = (struct sr__tz_when){'M', 0, 11, 1, 7200};
		return 0;
	}
	if (*c.p++ != ',' || when(&c, &rule->start) < 0 || at_end(&c) ||
	    *c.p++ != ',' || when(&c, &rule->end) < 0)
		return -1;
	return at_end(&c) ? 0 : -1;
}

static bool leap_year(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Local seconds since the epoch of a rule date in year y. */
static int64_t when_local(const struct sr__tz_when *w, int64_t y)
{
	int64_t day;
	if (w->kind == 'J') {
		/* Jn counts 1..365 and never names February 29. */
		day = sr__days_from_civil(y, 1, 1) + w->day - 1 +
		      (leap_year(y) && w->day >= 60);
	} else if (w->kind == 'D') {
		day = sr__days_from_civil(y, 1, 1) + w->day;
	} else {
		int64_t first = sr__days_from_civil(y, w->month, 1);
		unsigned sunday0 = (sr__weekday(first) + 1) % 7;
		unsigned md =
		    (w->day + 7 - sunday0) % 7 + 1 + (w->week - 1) * 7u;
		if (md > sr__month_days(y, w->month))
			md -= 7;
		day = first + md - 1;
	}
	return day * SR_DAY + w->time;
}

static void rule_year(const struct sr__tz_rule *r, int64_t y, int64_t *start,
                      int64_t *end)
{
	*start = when_local(&r->start, y) - r->std_off;
	*end = when_local(&r->end, y) - r->dst_off;
}

static int64_t utc_year(int64_t instant)
{
	int64_t y;
	unsigned m, d;
	/* Clamp far instants: rules are only evaluated in years 1..9999. */
	if (instant < -62135596800LL)
		return 1;
	if (instant > 253402300799LL)
		return 9999;
	sr__civil_from_days(sr__day_of(instant), &y, &m, &d);
	return y;
}

static int32_t rule_offset(const struct sr__tz *tz, int64_t t)
{
	int64_t y = utc_year(t), start, end;
	if (y >= tz->y0 && y < tz->y0 + tz->nyears) {
		start = tz->ystart[y - tz->y0];
		end = tz->yend[y - tz->y0];
	} else {
		rule_year(&tz->rule, y, &start, &end);
	}
	/* Southern zones have DST across the new year: end before start. */
	bool dst =
	    start < end ? (start <= t && t < end) : !(end <= t && t < start);
	return dst ? tz->rule.dst_off : tz->rule.std_off;
}

int32_t sr__tz_offset(const struct sr__tz *tz, int64_t t)
{
	if (tz->n && t < tz->at[0])
		return tz->before;
	if (tz->n && t <= tz->at[tz->n - 1]) {
		if (tz->ix && t >= tz->ix_from) {
			uint32_t i = tz->ix[(uint64_t)(t - tz->ix_from) >>
			                    SR_TZ_SPAN_BITS];
			while (i + 1 < tz->n && tz->at[i + 1] <= t)
				i++;
			return tz->off[i];
		}
		/* The last transition at or before t. */
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
	return tz->has_rule ? rule_offset(tz, t) : tz->last;
}

/* ---- TZif ---- */

struct tzif_counts {
	uint32_t isut, isstd, leap, time, type, chars;
};

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* Header at p: counts, and the size of the data block that follows. */
static int header(const unsigned char *p, size_t n, size_t tsize,
                  struct tzif_counts *h, size_t *block)
{
	if (n < 44 || memcmp(p, "TZif", 4) != 0)
		return -1;
	*h = (struct tzif_counts){be32(p + 20), be32(p + 24), be32(p + 28),
	                          be32(p + 32), be32(p + 36), be32(p + 40)};
	if (h->type == 0 || h->type > 256 || h->time > 100000 ||
	    h->leap > 100000 || h->chars > 100000 ||
	    (h->isut && h->isut != h->type) ||
	    (h->isstd && h->isstd != h->type))
		return -1;
	*block = h->time * (tsize + 1) + h->type * 6 + h->chars +
	         h->leap * (tsize + 4) + h->isstd + h->isut;
	return n - 44 >= *block ? 0 : -1;
}

/*
 * The span index: rating asks one offset a session, and bisecting a few
 * hundred transitions took about 50 instructions of the 2,300 a record
 * (callgrind). Spans start at the first transition after 1900 (TZif
 * files may open with one at -2^59), and a zone whose transitions span
 * more than SR_TZ_SPANS_MAX of them keeps bisecting.
 */
static int index_spans(struct sr__tz *tz, struct sr__arena *arena)
{
	uint32_t i = 0;
	while (i < tz->n && tz->at[i] < -2208988800) /* 1900-01-01 */
		i++;
	if (i == tz->n)
		return 0;
	uint64_t spans = (uint64_t)(tz->at[tz->n - 1] - tz->at[i]) >>
	                     SR_TZ_SPAN_BITS;
	if (spans >= SR_TZ_SPANS_MAX)
		return 0;
	uint32_t *ix = sr__arena_alloc(arena, (spans + 1) * sizeof(*ix));
	if (!ix)
		return SR_ENOMEM;
	tz->ix_from = tz->at[i];
	for (uint64_t b = 0; b <= spans; b++) {
		int64_t start = tz->ix_from + (int64_t)(b << SR_TZ_SPAN_BITS);
		while (i + 1 < tz->n && tz->at[i + 1] <= start)
			i++;
		ix[b] = i;
	}
	tz->ix = ix;
	return 0;
}

/* Transitions and types of one data block into tz. */
static int block(const unsigned char *p, const struct tzif_counts *h,
                 size_t tsize, struct sr__arena *arena, struct sr__tz *tz)
{
	const unsigned char *idx = p + h->time * tsize, *types = idx + h->time;
	int64_t *at = sr__arena_alloc(arena, h->time * sizeof(int64_t) + 8);
	int32_t *off = sr__arena_alloc(arena, h->time * sizeof(int32_t) + 8);
	if (!at || !off)
		return SR_ENOMEM;
	for (uint32_t i = 0; i < h->time; i++) {
		at[i] = tsize == 8 ? be64(p + i * 8) : (int32_t)be32(p + i * 4);
		if (idx[i] >= h->type || (i && at[i] <= at[i - 1]))
			return SR_ENOTFOUND;
		off[i] = (int32_t)be32(types + idx[i] * 6);
	}
	/* Before the first transition: the first standard-time type. */
	int32_t before = INT32_MIN;
	for (uint32_t t = 0; t < h->type && before == INT32_MIN; t++)
		if (!types[t * 6 + 4])
			before = (int32_t)be32(types + t * 6);
	if (before == INT32_MIN)
		before = h->time ? off[0] : (int32_t)be32(types);
	*tz = (struct sr__tz){.n = h->time, .at = at, .off = off};
	int err = index_spans(tz, arena);
	if (err)
		return err;
	tz->before = before;
	tz->last = h->time ? off[h->time - 1]
	                   : (int32_t)be32(types + (h->type - 1) * 6);
	return 0;
}

/* The footer "\nTZ\n" after the v2+ block, when it holds a DST rule. */
static int footer(const unsigned char *p, size_t n, struct sr__arena *arena,
                  struct sr__tz *tz)
{
	struct sr__tz_rule rule;
	if (n < 2 || p[0] != '\n')
		return n == 0 ? 0 : SR_ENOTFOUND;
	const unsigned char *nl = memchr(p + 1, '\n', n - 1);
	if (!nl)
		return SR_ENOTFOUND;
	size_t len = (size_t)(nl - p - 1);
	if (len == 0)
		return 0;
	if (sr__tz_rule_parse((const char *)p + 1, len, &rule) < 0)
		return SR_ENOTFOUND;
	if (!rule.has_dst) {
		/* A fixed footer: zoneinfo keeps the last transition's type
		 * when there are two or more transitions. */
		if (tz->n < 2)
			tz->last = rule.std_off;
		return 0;
	}
	int64_t *ys = sr__arena_alloc(arena, RULE_YEARS * sizeof(int64_t));
	int64_t *ye = sr__arena_alloc(arena, RULE_YEARS * sizeof(int64_t));
	if (!ys || !ye)
		return SR_ENOMEM;
	for (uint32_t i = 0; i < RULE_YEARS; i++)
		rule_year(&rule, RULE_Y0 + i, &ys[i], &ye[i]);
	tz->has_rule = true;
	tz->rule = rule;
	tz->y0 = RULE_Y0;
	tz->nyears = RULE_YEARS;
	tz->ystart = ys;
	tz->yend = ye;
	return 0;
}

int sr__tz_parse(const unsigned char *p, size_t n, struct sr__arena *arena,
                 struct sr__tz *tz)
{
	struct tzif_counts h;
	size_t size;

	if (header(p, n, 4, &h, &size) < 0)
		return SR_ENOTFOUND;
	if (p[4] == 0)
		return block(p + 44, &h, 4, arena, tz);
	/* Version 2 and later: skip the 32-bit block, use the 64-bit one. */
	p += 44 + size;
	n -= 44 + size;
	if (header(p, n, 8, &h, &size) < 0)
		return SR_ENOTFOUND;
	int err = block(p + 44, &h, 8, arena, tz);
	if (err)
		return err;
	return footer(p + 44 + size, n - 44 - size, arena, tz);
}

static int read_all(int fd, unsigned char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

int sr__tz_load(const char *name, size_t len, struct sr__arena *arena,
                struct sr__tz *tz)
{
	char path[sizeof(SR_TZDIR) + 260];
	struct stat st;
	unsigned char *buf;
	int err = SR_ENOTFOUND;

	if (!sr__tz_name_ok(name, len))
		return SR_ENOTFOUND;
	memcpy(path, SR_TZDIR "/", sizeof(SR_TZDIR));
	memcpy(path + sizeof(SR_TZDIR), name, len);
	path[sizeof(SR_TZDIR) + len] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return SR_ENOTFOUND;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > TZIF_MAX)
		goto err_fd;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = SR_ENOMEM;
		goto err_fd;
	}
	if (read_all(fd, buf, (size_t)st.st_size) == 0)
		err = sr__tz_parse(buf, (size_t)st.st_size, arena, tz);
	free(buf);
err_fd:
	close(fd);
	return err;
}
