/*
 * Catalog files into rows, and the rules a row can break on its own: the
 * id rule, amounts, percents, dates, HH:MM times, day lists, qualities,
 * meters, units, time zone names. Files use the session dialect of SPEC
 * section 1 (BOM ignored, empty lines skipped, columns in any order,
 * unknown columns ignored), split by the same sr__csv_split().
 *
 * Every problem becomes a diagnostic on the record's first physical line
 * and reading goes on, so one run reports everything. A file that is
 * missing or whose header is incomplete is marked unusable, and the checks
 * between files skip references into it rather than flood the report with
 * consequences of one mistake.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog_rows.h"
#include "civil.h"
#include "money.h"
#include "streamrate/error.h"
#include "tz.h"

#define MAX_COLUMNS 10
#define HEADER_CAP  4096

/* The state of reading one file. */
struct reader {
	struct sr__cat *cat;
	enum sr__file file;
	uint32_t line;
	bool bad; /* the current row broke a rule */
	const char *const *cols;
	uint32_t ncols;
	int32_t map[MAX_COLUMNS]; /* header position of each column */
	struct sr_str f[MAX_COLUMNS];
	struct sr_str *fields; /* HEADER_CAP split fields */
	char *scratch;
	struct sr__arena tmp; /* per-file scratch (zone loading) */
};

#define FAIL(r, ...)                                                           \
	do {                                                                   \
		(r)->bad = true;                                               \
		sr__diag((r)->cat, (r)->file, (r)->line, __VA_ARGS__);         \
	} while (0)

static const char *show(struct reader *r, struct sr_str s)
{
	return sr__show(r->cat, s);
}

/* ---- Fields ---- */

/* An id column of this file's own rows; empty when it breaks the rule. */
static struct sr_str id_field(struct reader *r, int col)
{
	struct sr_str v = r->f[col];
	const char *name = r->cols[col];
	if (v.len == 0)
		FAIL(r, "empty %s", name);
	else if (v.len > SR_ID_MAX)
		FAIL(r, "%s '%s' is longer than %d bytes", name, show(r, v),
		     SR_ID_MAX);
	else if (!sr__valid_id(v))
		FAIL(r, "%s '%s' holds a control byte", name, show(r, v));
	else
		return v;
	return (struct sr_str){0};
}

/* A reference to another file's id, looked up later. */
static struct sr_str ref_field(struct reader *r, int col)
{
	if (r->f[col].len == 0)
		FAIL(r, "empty %s", r->cols[col]);
	return r->f[col];
}

static int64_t amount_field(struct reader *r, int col)
{
	int64_t v = 0;
	if (sr__parse_amount(r->f[col].ptr, r->f[col].len, &v) < 0)
		FAIL(r,
		     "%s '%s' is not an amount (digits, then at most 6 after "
		     "a point)",
		     r->cols[col], show(r, r->f[col]));
	return v;
}

/* A date, or open when empty and optional; false when it broke a rule. */
static bool date_field(struct reader *r, int col, bool optional, int64_t open,
                       int64_t *out)
{
	struct sr_str s = r->f[col];
	*out = open;
	if (s.len == 0 && optional)
		return true;
	if (s.len == 0)
		FAIL(r, "empty %s: a date YYYY-MM-DD is required",
		     r->cols[col]);
	else if (sr__parse_date(s.ptr, s.len, out) < 0)
		FAIL(r, "%s '%s' is not a date YYYY-MM-DD", r->cols[col],
		     show(r, s));
	else
		return true;
	return false;
}

/* Digits only, min (0 or 1) to INT64_MAX. */
static uint64_t count_field(struct reader *r, int col, uint64_t min)
{
	struct sr_str s = r->f[col];
	uint64_t v = 0;
	uint32_t i = 0;
	for (; i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9'; i++) {
		v = v * 10 + (uint64_t)(s.ptr[i] - '0');
		if (v > INT64_MAX)
			break;
	}
	if (s.len == 0 || i != s.len || v < min) {
		FAIL(r, "%s '%s' is not a %s integer", r->cols[col],
		     show(r, s), min ? "positive" : "non-negative");
		return 0;
	}
	return v;
}

/* Two date columns [from, to): parse both, the end after the start. */
static void interval(struct reader *r, int from_col, int to_col, bool optional,
                     int64_t *from, int64_t *to)
{
	bool ok = date_field(r, from_col, optional, SR_TIME_MIN, from);
	ok &= date_field(r, to_col, true, SR_TIME_MAX, to);
	if (ok && r->f[from_col].len && r->f[to_col].len && *from >= *to)
		FAIL(r, "%s %.*s is not after %s %.*s", r->cols[to_col],
		     (int)r->f[to_col].len, r->f[to_col].ptr, r->cols[from_col],
		     (int)r->f[from_col].len, r->f[from_col].ptr);
}

/* "HH:MM" as minutes; "24:00" only when allow24. */
static uint16_t time_field(struct reader *r, int col, bool allow24)
{
	struct sr_str s = r->f[col];
	const char *p = s.ptr;
	if (s.len == 5 && p[2] == ':') {
		int d[4] = {p[0] - '0', p[1] - '0', p[3] - '0', p[4] - '0'};
		bool digits = true;
		for (int i = 0; i < 4; i++)
			digits &= d[i] >= 0 && d[i] <= 9;
		int h = d[0] * 10 + d[1], m = d[2] * 10 + d[3];
		if (digits && h < 24 && m < 60)
			return (uint16_t)(h * 60 + m);
		if (digits && allow24 && h == 24 && m == 0)
			return SR_DAY_MINUTES;
	}
	FAIL(r, "%s '%s' is not a time HH:MM from 00:00 to %s", r->cols[col],
	     show(r, s), allow24 ? "24:00" : "23:59");
	return 0;
}

/* Split a space-separated list into items; -1 (and a diagnostic) when
 * an item is empty. */
static int split_list(struct reader *r, int col, struct sr_str *items,
                      uint32_t cap, uint32_t *n)
{
	struct sr_str s = r->f[col];
	uint32_t start = 0;
	*n = 0;
	for (uint32_t i = 0; i <= s.len; i++) {
		if (i < s.len && s.ptr[i] != ' ')
			continue;
		if (i == start || *n == cap) {
			FAIL(r, "%s '%s' %s", r->cols[col], show(r, s),
			     i == start
			         ? "has an empty item (items are one space "
			           "apart)"
			         : "has too many items");
			return -1;
		}
		items[(*n)++] = (struct sr_str){s.ptr + start, i - start};
		start = i + 1;
	}
	return 0;
}

static bool is(struct sr_str s, const char *lit)
{
	return sr_str_eq(s, (struct sr_str){lit, (uint32_t)strlen(lit)});
}

/* ---- Rows ---- */

static void currency_row(struct reader *r, void *row)
{
	struct sr__currency_row *c = row;
	struct sr_str code = r->f[0], e = r->f[1];
	bool upper = code.len == 3;
	for (uint32_t i = 0; i < code.len && upper; i++)
		upper = code.ptr[i] >= 'A' && code.ptr[i] <= 'Z';
	if (upper)
		c->code = code;
	else
		FAIL(r, "currency '%s' is not 3 uppercase letters",
		     show(r, code));
	if (e.len == 1 && e.ptr[0] >= '0' && e.ptr[0] <= '3')
		c->exponent = (uint8_t)(e.ptr[0] - '0');
	else
		FAIL(r, "exponent '%s' is not 0, 1, 2 or 3", show(r, e));
}

static int cmp_str(const void *a, const void *b)
{
	return sr__str_cmp(*(const struct sr_str *)a,
	                   *(const struct sr_str *)b);
}

/* The packages column as the canonical list: sorted, one space apart. */
static struct sr_str package_list(struct reader *r)
{
	/* The split fields are copied into r->f: reuse their array. */
	struct sr_str *items = r->fields, out = {0};
	uint32_t n;
	if (r->f[3].len == 0 || split_list(r, 3, items, HEADER_CAP, &n) < 0)
		return out;
	qsort(items, n, sizeof(items[0]), cmp_str);
	char *p = sr__arena_alloc(&r->cat->arena, r->f[3].len);
	if (!p) {
		r->cat->nomem = true;
		return out;
	}
	out.ptr = p;
	for (uint32_t i = 0; i < n; i++) {
		if (i && sr_str_eq(items[i], items[i - 1])) {
			FAIL(r, "package '%s' is listed twice",
			     show(r, items[i]));
			continue;
		}
		if (out.len)
			p[out.len++] = ' ';
		memcpy(p + out.len, items[i].ptr, items[i].len);
		out.len += items[i].len;
	}
	return out;
}

static void plan_row(struct reader *r, void *row)
{
	struct sr__plan_row *p = row;
	p->id = id_field(r, 0);
	p->currency = ref_field(r, 1);
	p->fee = amount_field(r, 2);
	p->packages = package_list(r);
}

static bool class_ok(struct sr_str s)
{
	for (uint32_t i = 0; i < s.len; i++) {
		char c = s.ptr[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return false;
	}
	return s.len > 0;
}

/* PPV content has no package; other content one that plans can list. */
static struct sr_str package_field(struct reader *r, bool ppv)
{
	struct sr_str pkg = r->f[2];
	if (ppv && pkg.len)
		FAIL(r,
		     "pay-per-view content '%s' has package '%s'; PPV "
		     "content has none",
		     show(r, r->f[0]), show(r, pkg));
	else if (!ppv && pkg.len == 0)
		FAIL(r, "content '%s' of class '%s' has no package",
		     show(r, r->f[0]), show(r, r->f[1]));
	else if (pkg.len)
		return id_field(r, 2);
	return (struct sr_str){0};
}

static void content_row(struct reader *r, void *row)
{
	struct sr__content_row *c = row;
	c->id = id_field(r, 0);
	if (class_ok(r->f[1]))
		c->klass = r->f[1];
	else
		FAIL(r, "class '%s' does not match [a-z0-9_]+",
		     show(r, r->f[1]));
	c->package = package_field(r, is(r->f[1], "ppv"));
}

static void ppv_row(struct reader *r, void *row)
{
	struct sr__ppv_row *p = row;
	p->content = ref_field(r, 0);
	p->currency = ref_field(r, 1);
	p->price = amount_field(r, 2);
}

static void region_row(struct reader *r, void *row)
{
	struct sr__region_row *g = row;
	struct sr_str tz = r->f[1];
	struct sr__tz zone;
	g->id = id_field(r, 0);
	/* Load the zone now, so that a view can always be built. */
	int err = sr__tz_load(tz.ptr, tz.len, &r->tmp, &zone);
	sr__arena_free(&r->tmp);
	if (err == SR_ENOMEM)
		r->cat->nomem = true;
	else if (err)
		FAIL(r, "timezone '%s' is not in the time zone database",
		     show(r, tz));
	else
		g->timezone = tz;
}

static void tax_row(struct reader *r, void *row)
{
	struct sr__tax_row *t = row;
	t->region = ref_field(r, 0);
	if (sr__parse_percent(r->f[1].ptr, r->f[1].len, &t->rate) < 0)
		FAIL(r,
		     "rate_percent '%s' is not a percent from 0 to 100 with "
		     "at most 4 decimals",
		     show(r, r->f[1]));
	interval(r, 2, 3, true, &t->from, &t->to);
}

static uint8_t days_field(struct reader *r)
{
	struct sr_str items[8];
	uint32_t n;
	uint8_t mask = 0;
	if (r->f[1].len == 0) {
		FAIL(r, "empty days");
		return 0;
	}
	if (split_list(r, 1, items, 8, &n) < 0)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		int d = 0;
		while (d < 7 &&
		       !sr_str_eq(items[i],
		                  (struct sr_str){sr__weekday_names[d], 3}))
			d++;
		if (d == 7)
			FAIL(r,
			     "unknown day '%s' (days are mon tue wed thu "
			     "fri sat sun)",
			     show(r, items[i]));
		else if (mask & (1u << d))
			FAIL(r, "day '%s' is listed twice",
			     sr__weekday_names[d]);
		else
			mask |= (uint8_t)(1u << d);
	}
	return mask;
}

static void band_row(struct reader *r, void *row)
{
	struct sr__band_row *b = row;
	b->band = id_field(r, 0);
	b->days = days_field(r);
	bool was_bad = r->bad;
	r->bad = false;
	b->from = time_field(r, 2, false);
	b->to = time_field(r, 3, true);
	if (!r->bad && b->from >= b->to)
		FAIL(r, "to %.5s is not after from %.5s", r->f[3].ptr,
		     r->f[2].ptr);
	r->bad |= was_bad;
}

static void rate_row(struct reader *r, void *row)
{
	static const char *const qualities[4] = {"SD", "HD", "UHD", "*"};
	struct sr__rate_row *t = row;
	t->id = id_field(r, 0);
	t->plan = ref_field(r, 1);
	t->klass = ref_field(r, 2);
	t->quality = 0;
	while (t->quality < 4 && !is(r->f[3], qualities[t->quality]))
		t->quality++;
	if (t->quality == 4)
		FAIL(r, "quality '%s' is not SD, HD, UHD or *",
		     show(r, r->f[3]));
	t->band = is(r->f[4], "*") ? (struct sr_str){0} : ref_field(r, 4);
	if (is(r->f[5], "time"))
		t->meter = SR_METER_TIME;
	else if (is(r->f[5], "bytes"))
		t->meter = SR_METER_BYTES;
	else
		FAIL(r, "meter '%s' is not time or bytes", show(r, r->f[5]));
	t->unit = count_field(r, 6, 1);
	t->price = amount_field(r, 7);
	interval(r, 8, 9, true, &t->from, &t->to);
}

static void tier_row(struct reader *r, void *row)
{
	struct sr__tier_row *t = row;
	t->rate = ref_field(r, 0);
	t->from_units = count_field(r, 1, 1);
	t->price = amount_field(r, 2);
}

static void allowance_row(struct reader *r, void *row)
{
	struct sr__allowance_row *a = row;
	a->rate = ref_field(r, 0);
	a->units = count_field(r, 1, 0); /* 0: nothing included */
}

static void sub_row(struct reader *r, void *row)
{
	struct sr__sub_row *s = row;
	s->subscriber = id_field(r, 0);
	s->plan = ref_field(r, 1);
	s->region = ref_field(r, 2);
	interval(r, 3, 4, false, &s->start, &s->end);
}

static void (*const parse_row[SR__NFILES])(struct reader *, void *) = {
    currency_row, plan_row, content_row, ppv_row,       region_row, tax_row,
    band_row,     rate_row, tier_row,    allowance_row, sub_row,
};

/* ---- Files ---- */

/* Map the header's names to the file's columns. */
static int header(struct reader *r, uint32_t n)
{
	int ok = 0;
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t j = 0; j < i; j++) {
			if (sr_str_eq(r->fields[i], r->fields[j])) {
				FAIL(r, "column '%s' appears twice",
				     show(r, r->fields[i]));
				ok = -1;
				break;
			}
		}
	}
	for (uint32_t c = 0; c < r->ncols; c++) {
		r->map[c] = -1;
		for (uint32_t i = 0; i < n; i++)
			if (is(r->fields[i], r->cols[c]))
				r->map[c] = (int32_t)i;
		if (r->map[c] < 0) {
			FAIL(r, "missing column '%s'", r->cols[c]);
			ok = -1;
		}
	}
	return ok;
}

/* Say why a record could not be split. */
static void unsplittable(struct reader *r, const char *p, size_t n,
                         uint32_t expect)
{
	struct sr_csv_record rec;
	if (sr__csv_split(p, n, true, r->fields, HEADER_CAP, 0, r->scratch,
	                  &rec) == SR_SPLIT_RECORD)
		FAIL(r, "record has %u fields, the header has %u", rec.nfields,
		     expect);
	else
		FAIL(r,
		     "record cannot be split (a quote out of place, or "
		     "longer than %d bytes)",
		     SR_RECORD_MAX);
}

/* One split record into a row; strings unescaped into the scratch buffer
 * are copied, the others keep pointing into the file's buffer. */
static void record(struct reader *r)
{
	struct sr__cat *cat = r->cat;
	for (uint32_t c = 0; c < r->ncols; c++) {
		struct sr_str v = r->fields[r->map[c]];
		if (v.ptr >= r->scratch &&
		    v.ptr < r->scratch + SR_SCRATCH_SIZE &&
		    sr__arena_str(&cat->arena, v, &v) < 0)
			cat->nomem = true;
		r->f[c] = v;
	}
	void *row = sr__vec_push(&cat->rows[r->file], sr__row_size[r->file]);
	if (!row) {
		cat->nomem = true;
		return;
	}
	r->bad = false;
	parse_row[r->file](r, row);
	/* Every row struct starts with line and bad, as currency rows do. */
	struct sr__currency_row *head = row;
	head->line = r->line;
	head->bad = r->bad;
}

static void records(struct reader *r, const char *p, size_t n)
{
	uint32_t expect = 0;
	bool head = true;
	r->line = 1;
	while (n > 0 && !r->cat->nomem) {
		struct sr_csv_record rec;
		enum sr_split s =
		    sr__csv_split(p, n, true, r->fields, HEADER_CAP, expect,
		                  r->scratch, &rec);
		if (head) {
			if (s == SR_SPLIT_MALFORMED) {
				FAIL(r, "cannot split the header");
				return;
			}
			/* An empty first line is a header without names. */
			if (header(r, s == SR_SPLIT_RECORD ? rec.nfields : 0) <
			    0)
				return;
			expect = rec.nfields ? rec.nfields : 1;
			head = false;
		} else if (s == SR_SPLIT_MALFORMED) {
			unsplittable(r, p, n, expect);
		} else if (s == SR_SPLIT_RECORD) {
			record(r);
		}
		p += rec.consumed;
		n -= rec.consumed;
		r->line += rec.lines;
	}
	if (head) {
		FAIL(r, "empty file: a header is required");
		return;
	}
	r->cat->usable[r->file] = true;
}

static int slurp(const char *path, char **buf, size_t *n)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = 0;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto err_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		err = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto err_fd;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		err = SR_ENOMEM;
		goto err_fd;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t k = read(fd, *buf + got, (size_t)st.st_size - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			err = k < 0 ? -errno : -EIO;
			free(*buf);
			*buf = NULL;
			goto err_fd;
		}
		got += (size_t)k;
	}
	*n = got;
err_fd:
	close(fd);
	return err;
}

static void read_file(struct reader *r, const char *dir)
{
	struct sr__cat *cat = r->cat;
	const char *name = sr__file_names[r->file];
	size_t dlen = strlen(dir), nlen = strlen(name), n = 0;
	char *path = malloc(dlen + nlen + 2);
	if (!path) {
		cat->nomem = true;
		return;
	}
	memcpy(path, dir, dlen);
	path[dlen] = '/';
	memcpy(path + dlen + 1, name, nlen + 1);
	int err = slurp(path, &cat->buf[r->file], &n);
	free(path);
	r->line = 0;
	if (err == -ENOENT) {
		FAIL(r, "missing file");
	} else if (err == SR_ENOMEM) {
		cat->nomem = true;
	} else if (err) {
		FAIL(r, "cannot read: %s", strerror(-err));
		cat->io_error = true;
	} else {
		const char *p = cat->buf[r->file];
		/* A UTF-8 byte order mark does not count as data. */
		size_t bom =
		    n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
		records(r, p + bom, n - bom);
	}
}

int sr__cat_read(struct sr__cat *cat, const char *dir)
{
	struct reader r = {.cat = cat};
	r.fields = malloc(HEADER_CAP * sizeof(*r.fields));
	r.scratch = malloc(SR_SCRATCH_SIZE);
	if (!r.fields || !r.scratch) {
		cat->nomem = true;
		goto out;
	}
	for (int f = 0; f < SR__NFILES && !cat->nomem; f++) {
		r.file = (enum sr__file)f;
		r.cols = sr__file_columns[f];
		for (r.ncols = 0; r.cols[r.ncols]; r.ncols++)
			;
		read_file(&r, dir);
	}
out:
	sr__arena_free(&r.tmp);
	free(r.fields);
	free(r.scratch);
	return cat->nomem ? SR_ENOMEM : 0;
}
