/*
 * A stored catalog back to the eleven CSV files, canonically: columns in
 * the order of SPEC section 2, rows in key order, amounts and percents
 * without trailing fractional zeros, dates as YYYY-MM-DD and open bounds
 * empty, days in week order, package lists sorted, fields quoted only when
 * they hold a comma, a quote, CR or LF. Loading a dump stores the same
 * rows, so dump, load, dump gives identical files.
 *
 * Each file is written to a temporary name in the output directory, synced
 * and renamed over the old one: a reader sees a whole file, old or new.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog_store.h"
#include "civil.h"
#include "money.h"
#include "streamrate/error.h"

/* The text fields of one row, numbers formatted into buf. */
struct line {
	struct sr_str f[10];
	uint32_t n;
	size_t used;
	char buf[512];
};

static void add(struct line *l, struct sr_str s)
{
	l->f[l->n++] = s;
}

static void add_lit(struct line *l, const char *s)
{
	add(l, (struct sr_str){s, (uint32_t)strlen(s)});
}

/* The last len bytes written to buf become the next field. */
static void add_buf(struct line *l, size_t len)
{
	add(l, (struct sr_str){l->buf + l->used, (uint32_t)len});
	l->used += len;
}

static void add_amount(struct line *l, int64_t micro)
{
	add_buf(l, sr__format_amount(micro, l->buf + l->used));
}

static void add_uint(struct line *l, uint64_t v)
{
	add_buf(l, (size_t)sprintf(l->buf + l->used, "%llu",
	                           (unsigned long long)v));
}

/* A date, or empty for an open bound. */
static void add_date(struct line *l, int64_t t)
{
	if (t == SR_TIME_MIN || t == SR_TIME_MAX)
		add_lit(l, "");
	else
		add_buf(l, sr__format_date(t, l->buf + l->used));
}

static void add_hhmm(struct line *l, unsigned minutes)
{
	add_buf(l, (size_t)sprintf(l->buf + l->used, "%02u:%02u", minutes / 60,
	                           minutes % 60));
}

static void add_days(struct line *l, uint8_t days)
{
	size_t n = 0;
	for (int d = 0; d < 7; d++) {
		if (!(days & (1u << d)))
			continue;
		if (n)
			l->buf[l->used + n++] = ' ';
		memcpy(l->buf + l->used + n, sr__weekday_names[d], 3);
		n += 3;
	}
	add_buf(l, n);
}

static const char *const qualities[4] = {"SD", "HD", "UHD", "*"};

static void fmt_currency(const void *row, struct line *l)
{
	const struct sr__currency_row *r = row;
	add(l, r->code);
	add_uint(l, r->exponent);
}

static void fmt_plan(const void *row, struct line *l)
{
	const struct sr__plan_row *r = row;
	add(l, r->id);
	add(l, r->currency);
	add_amount(l, r->fee);
	add(l, r->packages);
}

static void fmt_content(const void *row, struct line *l)
{
	const struct sr__content_row *r = row;
	add(l, r->id);
	add(l, r->klass);
	add(l, r->package);
}

static void fmt_ppv(const void *row, struct line *l)
{
	const struct sr__ppv_row *r = row;
	add(l, r->content);
	add(l, r->currency);
	add_amount(l, r->price);
}

static void fmt_region(const void *row, struct line *l)
{
	const struct sr__region_row *r = row;
	add(l, r->id);
	add(l, r->timezone);
}

static void fmt_tax(const void *row, struct line *l)
{
	const struct sr__tax_row *r = row;
	add(l, r->region);
	add_buf(l, sr__format_percent(r->rate, l->buf + l->used));
	add_date(l, r->from);
	add_date(l, r->to);
}

static void fmt_band(const void *row, struct line *l)
{
	const struct sr__band_row *r = row;
	add(l, r->band);
	add_days(l, r->days);
	add_hhmm(l, r->from);
	add_hhmm(l, r->to);
}

static void fmt_rate(const void *row, struct line *l)
{
	const struct sr__rate_row *r = row;
	add(l, r->id);
	add(l, r->plan);
	add(l, r->klass);
	add_lit(l, qualities[r->quality & 3]);
	add(l, r->band.len ? r->band : (struct sr_str){"*", 1});
	add_lit(l, r->meter == SR_METER_TIME ? "time" : "bytes");
	add_uint(l, r->unit);
	add_amount(l, r->price);
	add_date(l, r->from);
	add_date(l, r->to);
}

static void fmt_tier(const void *row, struct line *l)
{
	const struct sr__tier_row *r = row;
	add(l, r->rate);
	add_uint(l, r->from_units);
	add_amount(l, r->price);
}

static void fmt_allowance(const void *row, struct line *l)
{
	const struct sr__allowance_row *r = row;
	add(l, r->rate);
	add_uint(l, r->units);
}

static void fmt_sub(const void *row, struct line *l)
{
	const struct sr__sub_row *r = row;
	add(l, r->subscriber);
	add(l, r->plan);
	add(l, r->region);
	add_date(l, r->start);
	add_date(l, r->end);
}

static void (*const format[SR__NFILES])(const void *, struct line *) = {
    fmt_currency, fmt_plan, fmt_content, fmt_ppv,       fmt_region, fmt_tax,
    fmt_band,     fmt_rate, fmt_tier,    fmt_allowance, fmt_sub,
};

/* A field, quoted only when it holds a comma, a quote, CR or LF. */
static void put_field(FILE *out, struct sr_str s)
{
	bool quote = false;
	for (uint32_t i = 0; i < s.len && !quote; i++)
		quote = s.ptr[i] == ',' || s.ptr[i] == '"' ||
		        s.ptr[i] == '\r' || s.ptr[i] == '\n';
	if (!quote) {
		fwrite(s.ptr, 1, s.len, out);
		return;
	}
	putc('"', out);
	for (uint32_t i = 0; i < s.len; i++) {
		if (s.ptr[i] == '"')
			putc('"', out);
		putc(s.ptr[i], out);
	}
	putc('"', out);
}

static void put_line(FILE *out, const struct line *l)
{
	for (uint32_t i = 0; i < l->n; i++) {
		if (i)
			putc(',', out);
		put_field(out, l->f[i]);
	}
	putc('\n', out);
}

struct dump {
	FILE *out;
	enum sr__file file;
};

static int dump_row(void *ctx, const void *row)
{
	struct dump *d = ctx;
	struct line l = {.n = 0};
	format[d->file](row, &l);
	put_line(d->out, &l);
	return ferror(d->out) ? -EIO : 0;
}

/* Header and rows of one file into out; then flushed to the disk. */
static int write_file(struct sr__store *s, enum sr__file f, FILE *out)
{
	struct dump d = {out, f};
	struct line head = {.n = 0};
	for (const char *const *c = sr__file_columns[f]; *c; c++)
		add_lit(&head, *c);
	put_line(out, &head);
	int err = sr__store_each(s, f, dump_row, &d);
	if (!err && (fflush(out) != 0 || fsync(fileno(out)) < 0))
		err = -errno;
	return err;
}

static char *join(const char *dir, const char *prefix, const char *name)
{
	size_t n = strlen(dir) + strlen(prefix) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s%s", dir, prefix, name);
	return p;
}

static int dump_file(struct sr__store *s, enum sr__file f, const char *outdir)
{
	char *tmp = join(outdir, ".tmp.", sr__file_names[f]);
	char *path = join(outdir, "", sr__file_names[f]);
	int err = tmp && path ? 0 : SR_ENOMEM;
	if (err)
		goto out;
	FILE *out = fopen(tmp, "w");
	if (!out) {
		err = -errno;
		goto out;
	}
	err = write_file(s, f, out);
	if (fclose(out) != 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
out:
	free(tmp);
	free(path);
	return err;
}

int sr_catalog_dump(const char *dbdir, const char *outdir)
{
	struct sr__store s;
	int err = sr__store_open(dbdir, &s);
	if (err)
		return err;
	err = sr__mkdirs(outdir);
	for (int f = 0; f < SR__NFILES && !err; f++)
		err = dump_file(&s, (enum sr__file)f, outdir);
	sr__store_close(&s);
	return err;
}
