/*
 * The rules between rows and between files: ids that must be unique,
 * references that must resolve, intervals that must not overlap (taxes of
 * a region, subscriptions of a subscriber, rates that could both be the
 * most specific match, band rows on any day), tiers that must increase,
 * and one currency per subscriber.
 *
 * A conflict between two rows is reported on the later row's line and
 * names the earlier line, so a person fixing the file reads down it once.
 * Lookups are sorted arrays of (key, row) searched by bisection: built
 * once per check, cheap for a million rows, and their order is the byte
 * order the store and the view use as well.
 */
#include <stdlib.h>
#include <string.h>

#include "catalog_rows.h"
#include "streamrate/error.h"

struct key {
	struct sr_str key;
	uint32_t row, line;
};

struct index {
	struct key *k;
	uint32_t n;
};

/* What the relational checks share. */
struct relate {
	struct sr__cat *cat;
	struct index currencies, plans, content, classes, packages, ppv,
	    regions, bands, rates, allowances;
};

static void *row_at(struct sr__cat *cat, enum sr__file f, uint32_t i)
{
	return cat->rows[f].p + (size_t)i * sr__row_size[f];
}

static const char *show(struct relate *x, struct sr_str s)
{
	return sr__show(x->cat, s);
}

static int key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c = sr__str_cmp(x->key, y->key);
	if (c)
		return c;
	return (x->line > y->line) - (x->line < y->line);
}

typedef struct sr_str (*key_fn)(struct relate *x, const void *row);
/* Report row (the later) as a duplicate of the key's first row. */
typedef void (*dup_fn)(struct relate *x, const void *row,
                       const struct key *first);

/* A duplicate row takes no part in later checks: its conflicts with the
 * first row would only repeat the duplicate's report. */
static void set_bad(struct sr__cat *cat, enum sr__file f, uint32_t i)
{
	struct sr__currency_row *head = row_at(cat, f, i);
	head->bad = true;
}

/*
 * Index the rows of file f by key (rows whose key is empty are left out),
 * sorted by key; of equal keys the first by line stays, the others go to
 * dup (or are dropped silently when dup is NULL: a set of values).
 */
static int build(struct relate *x, enum sr__file f, key_fn kf, dup_fn dup,
                 struct index *ix)
{
	struct sr__cat *cat = x->cat;
	uint32_t n = cat->rows[f].n, m = 0;
	ix->k = malloc(((size_t)n + 1) * sizeof(*ix->k));
	if (!ix->k)
		return SR_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const void *row = row_at(cat, f, i);
		struct sr_str k = kf(x, row);
		if (k.len)
			ix->k[m++] = (struct key){k, i, *(const uint32_t *)row};
	}
	qsort(ix->k, m, sizeof(*ix->k), key_cmp);
	uint32_t out = 0;
	for (uint32_t i = 0; i < m; i++) {
		if (out && sr_str_eq(ix->k[i].key, ix->k[out - 1].key)) {
			if (dup) {
				dup(x, row_at(cat, f, ix->k[i].row),
				    &ix->k[out - 1]);
				set_bad(cat, f, ix->k[i].row);
			}
			continue;
		}
		ix->k[out++] = ix->k[i];
	}
	ix->n = out;
	return 0;
}

static const struct key *find(const struct index *ix, struct sr_str k)
{
	uint32_t lo = 0, hi = ix->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = sr__str_cmp(ix->k[mid].key, k);
		if (c == 0)
			return &ix->k[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * Whether reference k (from a row of file f at line) resolves in ix, the
 * index of file target; reports "unknown <what>" when it does not. A
 * reference into an unusable file, or an empty one, is not checked.
 */
static bool resolve(struct relate *x, enum sr__file f, uint32_t line,
                    enum sr__file target, const struct index *ix,
                    struct sr_str k, const char *what)
{
	if (!x->cat->usable[target] || k.len == 0)
		return false;
	if (find(ix, k))
		return true;
	sr__diag(x->cat, f, line, "unknown %s '%s'", what, show(x, k));
	return false;
}

/* ---- Keys ---- */

static struct sr_str currency_key(struct relate *x, const void *row)
{
	return ((const struct sr__currency_row *)row)->code;
}

static struct sr_str plan_key(struct relate *x, const void *row)
{
	return ((const struct sr__plan_row *)row)->id;
}

static struct sr_str content_key(struct relate *x, const void *row)
{
	return ((const struct sr__content_row *)row)->id;
}

static struct sr_str class_key(struct relate *x, const void *row)
{
	return ((const struct sr__content_row *)row)->klass;
}

static struct sr_str package_key(struct relate *x, const void *row)
{
	return ((const struct sr__content_row *)row)->package;
}

static struct sr_str region_key(struct relate *x, const void *row)
{
	return ((const struct sr__region_row *)row)->id;
}

static struct sr_str band_key(struct relate *x, const void *row)
{
	return ((const struct sr__band_row *)row)->band;
}

static struct sr_str rate_key(struct relate *x, const void *row)
{
	return ((const struct sr__rate_row *)row)->id;
}

static struct sr_str allowance_key(struct relate *x, const void *row)
{
	return ((const struct sr__allowance_row *)row)->rate;
}

/* content_id, a 0x00 (ids hold no control byte), currency. */
static struct sr_str ppv_key(struct relate *x, const void *row)
{
	const struct sr__ppv_row *p = row;
	struct sr_str k = {0};
	if (p->content.len == 0 || p->currency.len == 0)
		return k;
	char *buf = sr__arena_alloc(&x->cat->arena,
	                            p->content.len + 1 + p->currency.len);
	if (!buf) {
		x->cat->nomem = true;
		return k;
	}
	memcpy(buf, p->content.ptr, p->content.len);
	buf[p->content.len] = 0;
	memcpy(buf + p->content.len + 1, p->currency.ptr, p->currency.len);
	return (struct sr_str){buf, p->content.len + 1 + p->currency.len};
}

/* ---- Duplicates ---- */

static void dup_id(struct relate *x, enum sr__file f, const char *col,
                   const void *row, const struct key *first)
{
	sr__diag(x->cat, f, *(const uint32_t *)row,
	         "duplicate %s '%s' (first on line %u)", col,
	         show(x, first->key), first->line);
}

static void dup_currency(struct relate *x, const void *row,
                         const struct key *first)
{
	dup_id(x, SR__CURRENCIES, "currency", row, first);
}

static void dup_plan(struct relate *x, const void *row, const struct key *first)
{
	dup_id(x, SR__PLANS, "plan_id", row, first);
}

static void dup_content(struct relate *x, const void *row,
                        const struct key *first)
{
	dup_id(x, SR__CONTENT, "content_id", row, first);
}

static void dup_region(struct relate *x, const void *row,
                       const struct key *first)
{
	dup_id(x, SR__REGIONS, "region", row, first);
}

static void dup_rate(struct relate *x, const void *row, const struct key *first)
{
	dup_id(x, SR__RATES, "rate_id", row, first);
}

static void dup_ppv(struct relate *x, const void *row, const struct key *first)
{
	const struct sr__ppv_row *p = row;
	sr__diag(x->cat, SR__PPV, p->line,
	         "duplicate price for content '%s' in %s (first on line %u)",
	         show(x, p->content), show(x, p->currency), first->line);
}

static void dup_allowance(struct relate *x, const void *row,
                          const struct key *first)
{
	const struct sr__allowance_row *a = row;
	sr__diag(x->cat, SR__ALLOWANCES, a->line,
	         "duplicate allowance for rate '%s' (first on line %u)",
	         show(x, a->rate), first->line);
}

static int build_all(struct relate *x)
{
	int err = 0;
	err = err ? err
	          : build(x, SR__CURRENCIES, currency_key, dup_currency,
	                  &x->currencies);
	err = err ? err : build(x, SR__PLANS, plan_key, dup_plan, &x->plans);
	err =
	    err ? err
	        : build(x, SR__CONTENT, content_key, dup_content, &x->content);
	err = err ? err : build(x, SR__CONTENT, class_key, NULL, &x->classes);
	err =
	    err ? err : build(x, SR__CONTENT, package_key, NULL, &x->packages);
	err = err ? err : build(x, SR__PPV, ppv_key, dup_ppv, &x->ppv);
	err = err ? err
	          : build(x, SR__REGIONS, region_key, dup_region, &x->regions);
	err = err ? err : build(x, SR__BANDS, band_key, NULL, &x->bands);
	err = err ? err : build(x, SR__RATES, rate_key, dup_rate, &x->rates);
	err = err ? err
	          : build(x, SR__ALLOWANCES, allowance_key, dup_allowance,
	                  &x->allowances);
	return err;
}

/* ---- Overlaps ---- */

struct span {
	struct sr_str group;
	int64_t from, to;
	uint32_t row, line;
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	int c = sr__str_cmp(x->group, y->group);
	if (c)
		return c;
	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	return (x->line > y->line) - (x->line < y->line);
}

/* Report that later (a row of the file) overlaps earlier. */
typedef void (*overlap_fn)(struct relate *x, const void *later,
                           const void *earlier);

/*
 * Within each group, every span that starts before the furthest end seen
 * so far overlaps the span holding that end; the pair is reported on the
 * later of the two lines.
 */
static void overlaps(struct relate *x, enum sr__file f, struct span *s,
                     uint32_t n, overlap_fn report)
{
	qsort(s, n, sizeof(*s), span_cmp);
	uint32_t far = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (i == 0 || !sr_str_eq(s[i].group, s[far].group)) {
			far = i;
			continue;
		}
		if (s[i].from < s[far].to) {
			const struct span *later = &s[i], *earlier = &s[far];
			if (later->line < earlier->line) {
				later = &s[far];
				earlier = &s[i];
			}
			report(x, row_at(x->cat, f, later->row),
			       row_at(x->cat, f, earlier->row));
		}
		if (s[i].to > s[far].to)
			far = i;
	}
}

/* ---- Files ---- */

static void check_plans(struct relate *x)
{
	struct sr__cat *cat = x->cat;
	for (uint32_t i = 0; i < cat->rows[SR__PLANS].n; i++) {
		const struct sr__plan_row *p = row_at(cat, SR__PLANS, i);
		resolve(x, SR__PLANS, p->line, SR__CURRENCIES, &x->currencies,
		        p->currency, "currency");
		struct sr_str l = p->packages;
		if (!l.len)
			continue; /* no packages; l.ptr may be NULL */
		for (uint32_t a = 0, b = 0; b <= l.len; b++) {
			if (b < l.len && l.ptr[b] != ' ')
				continue;
			struct sr_str pkg = {l.ptr + a, b - a};
			resolve(x, SR__PLANS, p->line, SR__CONTENT,
			        &x->packages, pkg, "package");
			a = b + 1;
		}
	}
}

static void check_ppv(struct relate *x)
{
	struct sr__cat *cat = x->cat;
	for (uint32_t i = 0; i < cat->rows[SR__PPV].n; i++) {
		const struct sr__ppv_row *p = row_at(cat, SR__PPV, i);
		if (resolve(x, SR__PPV, p->line, SR__CONTENT, &x->content,
		            p->content, "content")) {
			const struct sr__content_row *c =
			    row_at(cat, SR__CONTENT,
			           find(&x->content, p->content)->row);
			if (c->klass.len &&
			    !sr_str_eq(c->klass, (struct sr_str){"ppv", 3}))
				sr__diag(cat, SR__PPV, p->line,
				         "content '%s' is not pay-per-view "
				         "(class '%s', line %u of content.csv)",
				         show(x, p->content), show(x, c->klass),
				         c->line);
		}
		resolve(x, SR__PPV, p->line, SR__CURRENCIES, &x->currencies,
		        p->currency, "currency");
	}
}

static void tax_overlap(struct relate *x, const void *later,
                        const void *earlier)
{
	const struct sr__tax_row *a = later, *b = earlier;
	sr__diag(x->cat, SR__TAXES, a->line,
	         "tax row overlaps line %u for region '%s'", b->line,
	         show(x, a->region));
}

static int check_taxes(struct relate *x)
{
	struct sr__cat *cat = x->cat;
	uint32_t n = cat->rows[SR__TAXES].n, m = 0;
	struct span *s = malloc(((size_t)n + 1) * sizeof(*s));
	if (!s)
		return SR_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const struct sr__tax_row *t = row_at(cat, SR__TAXES, i);
		resolve(x, SR__TAXES, t->line, SR__REGIONS, &x->regions,
		        t->region, "region");
		if (!t->bad)
			s[m++] = (struct span){t->region, t->from, t->to, i,
			                       t->line};
	}
	overlaps(x, SR__TAXES, s, m, tax_overlap);
	free(s);
	return 0;
}

static void check_bands(struct relate *x)
{
	struct sr__cat *cat = x->cat;
	if (cat->rows[SR__BANDS].n == 0)
		return;
	const struct sr__band_row *b = row_at(cat, SR__BANDS, 0);
	/* Band rows are few: compare every pair, report each row once. */
	for (uint32_t j = 0; j < cat->rows[SR__BANDS].n; j++) {
		for (uint32_t i = 0; i < j && !b[j].bad; i++) {
			uint8_t common = b[i].days & b[j].days;
			if (b[i].bad || !common || b[i].from >= b[j].to ||
			    b[j].from >= b[i].to)
				continue;
			sr__diag(cat, SR__BANDS, b[j].line,
			         "band row of '%s' overlaps the row of '%s' "
			         "(line %u) on %s",
			         show(x, b[j].band), show(x, b[i].band),
			         b[i].line,
			         sr__weekday_names[__builtin_ctz(common)]);
			break;
		}
	}
}

static const char *const quality_names[4] = {"SD", "HD", "UHD", "*"};

static void rate_overlap(struct relate *x, const void *later,
                         const void *earlier)
{
	const struct sr__rate_row *a = later, *b = earlier;
	struct sr_str band = a->band.len ? a->band : (struct sr_str){"*", 1};
	sr__diag(x->cat, SR__RATES, a->line,
	         "rate '%s' overlaps rate '%s' (line %u) for plan '%s' class "
	         "'%s' quality '%s' band '%s'",
	         show(x, a->id), show(x, b->id), b->line, show(x, a->plan),
	         show(x, a->klass), quality_names[a->quality], show(x, band));
}

/* Rates conflict when plan, class, quality and band are equal: the group
 * key joins them with 0x00 bytes, which no id holds. */
static struct sr_str rate_group(struct relate *x, const struct sr__rate_row *r)
{
	size_t n = r->plan.len + r->klass.len + r->band.len + 4;
	char *p = sr__arena_alloc(&x->cat->arena, n);
	if (!p) {
		x->cat->nomem = true;
		return (struct sr_str){0};
	}
	char *o = p;
	memcpy(o, r->plan.ptr, r->plan.len);
	o += r->plan.len;
	*o++ = 0;
	memcpy(o, r->klass.ptr, r->klass.len);
	o += r->klass.len;
	*o++ = 0;
	*o++ = (char)('0' + r->quality);
	*o++ = 0;
	if (r->band.len) /* empty for '*' */
		memcpy(o, r->band.ptr, r->band.len);
	return (struct sr_str){p, (uint32_t)n};
}

static void check_rate_refs(struct relate *x, const struct sr__rate_row *r)
{
	resolve(x, SR__RATES, r->line, SR__PLANS, &x->plans, r->plan, "plan");
	/* A rate for class ppv is allowed and never applies: PPV sessions
	 * are priced from ppv_prices.csv at step 6. */
	resolve(x, SR__RATES, r->line, SR__CONTENT, &x->classes, r->klass,
	        "class");
	resolve(x, SR__RATES, r->line, SR__BANDS, &x->bands, r->band, "band");
}

static int check_rates(struct relate *x)
{
	struct sr__cat *cat = x->cat;
	uint32_t n = cat->rows[SR__RATES].n, m = 0;
	struct span *s = malloc(((size_t)n + 1) * sizeof(*s));
	if (!s)
		return SR_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const struct sr__rate_row *r = row_at(cat, SR__RATES, i);
		check_rate_refs(x, r);
		if (!r->bad)
			s[m++] = (struct span){rate_group(x, r), r->from, r->to,
			                       i, r->line};
	}
	overlaps(x, SR__RATES, s, m, rate_overlap);
	free(s);
	return 0;
}

static int check_tiers(struct relate *x)
{
	struct sr__cat *cat = x->cat;
	uint32_t n = cat->rows[SR__TIERS].n, m = 0;
	struct key *k = malloc(((size_t)n + 1) * sizeof(*k));
	if (!k)
		return SR_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const struct sr__tier_row *t = row_at(cat, SR__TIERS, i);
		resolve(x, SR__TIERS, t->line, SR__RATES, &x->rates, t->rate,
		        "rate");
		if (!t->bad)
			k[m++] = (struct key){t->rate, i, t->line};
	}
	/* By rate, then in file order: each tier above the one before. */
	qsort(k, m, sizeof(*k), key_cmp);
	for (uint32_t i = 1; i < m; i++) {
		const struct sr__tier_row *a = row_at(cat, SR__TIERS, k[i].row),
		                          *b = row_at(cat, SR__TIERS,
		                                      k[i - 1].row);
		if (sr_str_eq(a->rate, b->rate) &&
		    a->from_units <= b->from_units)
			sr__diag(cat, SR__TIERS, a->line,
			         "from_units %llu of rate '%s' is not above "
			         "%llu (line %u)",
			         (unsigned long long)a->from_units,
			         show(x, a->rate),
			         (unsigned long long)b->from_units, b->line);
	}
	free(k);
	return 0;
}

static void check_allowances(struct relate *x)
{
	struct sr__cat *cat = x->cat;
	for (uint32_t i = 0; i < cat->rows[SR__ALLOWANCES].n; i++) {
		const struct sr__allowance_row *a =
		    row_at(cat, SR__ALLOWANCES, i);
		resolve(x, SR__ALLOWANCES, a->line, SR__RATES, &x->rates,
		        a->rate, "rate");
	}
}

/*
 * Spans sorted by (subscriber, start) are in the store's key order: keep
 * their rows' order so that loading a million subscriptions does not sort
 * them twice. Only when every row took part (a valid catalog).
 */
static void keep_order(struct sr__cat *cat, enum sr__file f,
                       const struct span *s, uint32_t m)
{
	if (m != cat->rows[f].n ||
	    !(cat->order[f] = malloc(((size_t)m + 1) * sizeof(uint32_t))))
		return;
	for (uint32_t i = 0; i < m; i++)
		cat->order[f][i] = s[i].row;
}

static void sub_overlap(struct relate *x, const void *later,
                        const void *earlier)
{
	const struct sr__sub_row *a = later, *b = earlier;
	sr__diag(x->cat, SR__SUBSCRIPTIONS, a->line,
	         "subscription of '%s' overlaps line %u",
	         show(x, a->subscriber), b->line);
}

/* The currency of a subscription row's plan, or empty when unknown. */
static struct sr_str sub_currency(struct relate *x, const struct sr__sub_row *s)
{
	const struct key *k = find(&x->plans, s->plan);
	if (!k)
		return (struct sr_str){0};
	return ((const struct sr__plan_row *)row_at(x->cat, SR__PLANS, k->row))
	    ->currency;
}

/* The rows of one subscriber, s[0..n), share the first row's currency. */
static void one_currency(struct relate *x, const struct span *s, uint32_t n)
{
	const struct sr__sub_row *first = NULL;
	for (uint32_t i = 0; i < n; i++) {
		const struct sr__sub_row *r =
		    row_at(x->cat, SR__SUBSCRIPTIONS, s[i].row);
		if (sub_currency(x, r).len && (!first || r->line < first->line))
			first = r;
	}
	for (uint32_t i = 0; first && i < n; i++) {
		const struct sr__sub_row *r =
		    row_at(x->cat, SR__SUBSCRIPTIONS, s[i].row);
		struct sr_str c = sub_currency(x, r),
		              c0 = sub_currency(x, first);
		if (c.len && !sr_str_eq(c, c0))
			sr__diag(x->cat, SR__SUBSCRIPTIONS, r->line,
			         "subscriber '%s' mixes currencies: plan "
			         "'%s' is in %s, plan '%s' (line %u) in %s",
			         show(x, r->subscriber), show(x, r->plan),
			         show(x, c), show(x, first->plan), first->line,
			         show(x, c0));
	}
}

static int check_subs(struct relate *x)
{
	struct sr__cat *cat = x->cat;
	uint32_t n = cat->rows[SR__SUBSCRIPTIONS].n, m = 0;
	struct span *s = malloc(((size_t)n + 1) * sizeof(*s));
	if (!s)
		return SR_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const struct sr__sub_row *r = row_at(cat, SR__SUBSCRIPTIONS, i);
		resolve(x, SR__SUBSCRIPTIONS, r->line, SR__PLANS, &x->plans,
		        r->plan, "plan");
		resolve(x, SR__SUBSCRIPTIONS, r->line, SR__REGIONS, &x->regions,
		        r->region, "region");
		if (!r->bad)
			s[m++] = (struct span){r->subscriber, r->start, r->end,
			                       i, r->line};
	}
	overlaps(x, SR__SUBSCRIPTIONS, s, m, sub_overlap);
	keep_order(cat, SR__SUBSCRIPTIONS, s, m);
	if (cat->usable[SR__PLANS]) {
		for (uint32_t i = 0, j; i < m; i = j) {
			for (j = i + 1;
			     j < m && sr_str_eq(s[j].group, s[i].group); j++)
				;
			if (j - i > 1)
				one_currency(x, s + i, j - i);
		}
	}
	free(s);
	return 0;
}

void sr__cat_relate(struct sr__cat *cat)
{
	struct relate x = {.cat = cat};
	int err = build_all(&x);
	if (!err) {
		check_plans(&x);
		check_ppv(&x);
		err = check_taxes(&x);
	}
	if (!err) {
		check_bands(&x);
		err = check_rates(&x);
	}
	err = err ? err : check_tiers(&x);
	if (!err) {
		check_allowances(&x);
		err = check_subs(&x);
	}
	if (err)
		cat->nomem = true;
	struct index *all[] = {
	    &x.currencies, &x.plans,   &x.content, &x.classes, &x.packages,
	    &x.ppv,        &x.regions, &x.bands,   &x.rates,   &x.allowances};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		free(all[i]->k);
}

static int diag_cmp(const void *a, const void *b)
{
	const struct sr__diag *x = a, *y = b;
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

int sr__cat_parse(struct sr__cat *cat, const char *dir, sr_diag_fn diag,
                  void *ctx)
{
	*cat = (struct sr__cat){0};
	int err = sr__cat_read(cat, dir);
	if (!err)
		sr__cat_relate(cat);
	if (cat->nomem)
		return SR_ENOMEM;
	struct sr__diag *d = (struct sr__diag *)cat->diags.p;
	if (d)
		qsort(d, cat->diags.n, sizeof(*d), diag_cmp);
	for (uint32_t i = 0; i < cat->diags.n && diag; i++)
		diag(ctx, sr__file_names[d[i].file], d[i].line, d[i].msg);
	if (cat->io_error)
		return SR_EIO;
	return cat->diags.n ? SR_ECATALOG : 0;
}

void sr__cat_free(struct sr__cat *cat)
{
	for (int f = 0; f < SR__NFILES; f++) {
		free(cat->buf[f]);
		free(cat->rows[f].p);
		free(cat->order[f]);
	}
	free(cat->diags.p);
	sr__arena_free(&cat->arena);
	*cat = (struct sr__cat){0};
}

int sr_catalog_check(const char *dir, sr_diag_fn diag, void *ctx)
{
	struct sr__cat cat;
	int err = sr__cat_parse(&cat, dir, diag, ctx);
	sr__cat_free(&cat);
	return err;
}
