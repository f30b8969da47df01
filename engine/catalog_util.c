/*
 * The small machinery every catalog file shares: the names of the files and
 * their columns, the arena that holds a catalog's strings and arrays in a
 * few big chunks instead of one malloc per row, growable row arrays, and
 * the diagnostics list that is sorted into file and line order before
 * anyone sees it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog_rows.h"

const char *const sr__file_names[SR__NFILES] = {
    "currencies.csv", "plans.csv",      "content.csv",       "ppv_prices.csv",
    "regions.csv",    "taxes.csv",      "bands.csv",         "rates.csv",
    "tiers.csv",      "allowances.csv", "subscriptions.csv",
};

static const char *const currency_cols[] = {"currency", "exponent", NULL};
static const char *const plan_cols[] = {"plan_id", "currency", "monthly_fee",
                                        "packages", NULL};
static const char *const content_cols[] = {"content_id", "class", "package",
                                           NULL};
static const char *const ppv_cols[] = {"content_id", "currency", "price", NULL};
static const char *const region_cols[] = {"region", "timezone", NULL};
static const char *const tax_cols[] = {"region", "rate_percent", "valid_from",
                                       "valid_to", NULL};
static const char *const band_cols[] = {"band", "days", "from", "to", NULL};
static const char *const rate_cols[] = {
    "rate_id", "plan_id",    "class",      "quality",  "band", "meter",
    "unit",    "unit_price", "valid_from", "valid_to", NULL};
static const char *const tier_cols[] = {"rate_id", "from_units", "unit_price",
                                        NULL};
static const char *const allowance_cols[] = {"rate_id", "units", NULL};
static const char *const sub_cols[] = {"subscriber_id", "plan_id", "region",
                                       "start",         "end",     NULL};

const char *const *const sr__file_columns[SR__NFILES] = {
    currency_cols, plan_cols,      content_cols, ppv_cols,
    region_cols,   tax_cols,       band_cols,    rate_cols,
    tier_cols,     allowance_cols, sub_cols,
};

const size_t sr__row_size[SR__NFILES] = {
    sizeof(struct sr__currency_row), sizeof(struct sr__plan_row),
    sizeof(struct sr__content_row),  sizeof(struct sr__ppv_row),
    sizeof(struct sr__region_row),   sizeof(struct sr__tax_row),
    sizeof(struct sr__band_row),     sizeof(struct sr__rate_row),
    sizeof(struct sr__tier_row),     sizeof(struct sr__allowance_row),
    sizeof(struct sr__sub_row),
};

const char *const sr__weekday_names[7] = {"mon", "tue", "wed", "thu",
                                          "fri", "sat", "sun"};

struct sr__chunk {
	struct sr__chunk *next;
	max_align_t pad[];
};

#define ARENA_FIRST   (64u << 10)
#define ARENA_LARGEST (64u << 20)

void *sr__arena_alloc(struct sr__arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if ((size_t)(a->end - a->cur) < n) {
		/* Chunks double up to 64 MiB, so a big catalog lives in a
		 * handful of them and a small one wastes little. */
		size_t size = a->next ? a->next : ARENA_FIRST;
		if (size < n)
			size = n;
		struct sr__chunk *c = malloc(sizeof(*c) + size + 16);
		if (!c)
			return NULL;
		c->next = a->chunks;
		a->chunks = c;
		a->cur = (char *)(((uintptr_t)c->pad + 15) & ~(uintptr_t)15);
		a->end = a->cur + size;
		if (a->next < ARENA_LARGEST)
			a->next = a->next ? a->next * 2 : ARENA_FIRST * 2;
	}
	void *p = a->cur;
	a->cur += n;
	return p;
}

int sr__arena_str(struct sr__arena *a, struct sr_str s, struct sr_str *out)
{
	char *p = s.len ? sr__arena_alloc(a, s.len) : NULL;
	if (s.len && !p)
		return -1;
	if (s.len)
		memcpy(p, s.ptr, s.len);
	*out = (struct sr_str){p, s.len};
	return 0;
}

void sr__arena_free(struct sr__arena *a)
{
	struct sr__chunk *c = a->chunks;
	while (c) {
		struct sr__chunk *next = c->next;
		free(c);
		c = next;
	}
	*a = (struct sr__arena){0};
}

void *sr__vec_push(struct sr__vec *v, size_t size)
{
	if (v->n == v->cap) {
		uint32_t cap = v->cap ? v->cap * 2 : 64;
		char *p = realloc(v->p, (size_t)cap * size);
		if (!p)
			return NULL;
		v->p = p;
		v->cap = cap;
	}
	void *e = v->p + (size_t)v->n++ * size;
	memset(e, 0, size);
	return e;
}

void sr__diag(struct sr__cat *cat, enum sr__file file, uint32_t line,
              const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	struct sr__diag *d = sr__vec_push(&cat->diags, sizeof(*d));
	char *msg = sr__arena_alloc(&cat->arena, (size_t)n + 1);
	if (!d || !msg) {
		cat->nomem = true;
		if (d)
			cat->diags.n--;
		return;
	}
	memcpy(msg, buf, (size_t)n + 1);
	*d = (struct sr__diag){file, line, cat->diags.n, msg};
}

#define SHOW_MAX 64

const char *sr__show(struct sr__cat *cat, struct sr_str s)
{
	static const char hex[] = "0123456789abcdef";
	char *out = sr__arena_alloc(&cat->arena, SHOW_MAX * 4 + 8);
	size_t o = 0;

	if (!out) {
		cat->nomem = true;
		return "?";
	}
	for (uint32_t i = 0; i < s.len && i < SHOW_MAX; i++) {
		unsigned char c = (unsigned char)s.ptr[i];
		if (c < 0x20 || c == 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	if (s.len > SHOW_MAX) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = 0;
	return out;
}

int sr__str_cmp(struct sr_str a, struct sr_str b)
{
	uint32_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
	if (c)
		return c;
	return (a.len > b.len) - (a.len < b.len);
}

int sr__mkdirs(const char *path)
{
	char *p = strdup(path);
	int err = 0;
	if (!p)
		return -ENOMEM;
	/* Each parent in turn, like mkdir -p; existing ones are fine. */
	for (char *s = p + 1; !err; s++) {
		bool end = *s == 0;
		if (*s != '/' && !end)
			continue;
		*s = 0;
		if (mkdir(p, 0775) < 0 && errno != EEXIST)
			err = -errno;
		if (end)
			break;
		*s = '/';
	}
	free(p);
	return err;
}
