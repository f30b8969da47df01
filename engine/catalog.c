/*
 * The compiled view of a stored catalog: every table read through one LMDB
 * read transaction, copied into the view's arena with ids resolved to
 * indexes, and indexed for rating. The transaction ends before
 * sr_catalog_open() returns, so a view is a private, immutable snapshot:
 * a later load changes nothing in it, and it holds no LMDB reader slot
 * while rating runs.
 *
 * Every table is stored in key order, which is the byte order of ids, so
 * the n-th row read is the entity of index n, rows that belong to one
 * entity (the subscriptions of a subscriber, the taxes of a region, the
 * tiers of a rate, the prices of a PPV event) arrive together, and ids
 * resolve by bisection over arrays already built.
 */
#include <stdlib.h>
#include <string.h>

#include "catalog_store.h"
#include "catalog_view.h"
#include "mem.h"
#include "streamrate/error.h"

struct build {
	struct sr_catalog *cat;
	uint32_t i; /* rows seen in the current table */
	struct sr_str *tmp_class, *tmp_package;
	struct sr_tier *tiers;
	struct sr_subscription *subs;
};

/* n zeroed elements of size bytes in the view's arena. */
static void *array(struct sr_catalog *cat, uint64_t n, size_t size)
{
	void *p = sr__arena_alloc(&cat->arena, n * size + 1);
	if (p)
		memset(p, 0, n * size + 1);
	return p;
}

/* The same, starting on a cache line. */
static void *line_array(struct sr_catalog *cat, uint64_t n, size_t size)
{
	char *p = array(cat, n * size + SR_CACHE_LINE, 1);
	return p ? p + (-(uintptr_t)p & (SR_CACHE_LINE - 1)) : NULL;
}

static int copy(struct sr_catalog *cat, struct sr_str s, struct sr_str *out)
{
	return sr__arena_str(&cat->arena, s, out) < 0 ? SR_ENOMEM : 0;
}

/*
 * Index of id in n structs of stride bytes, sorted by the struct sr_str
 * each starts with; SR_NONE when absent.
 */
static uint32_t find(const void *base, size_t stride, uint32_t n,
                     struct sr_str id)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct sr_str *s =
		    (const void *)((const char *)base + mid * stride);
		int c = sr__str_cmp(*s, id);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SR_NONE;
}

#define FIND(arr, n, id) find((arr), sizeof(*(arr)), (n), (id))

/* ---- Rows ---- */

static int currency_row(void *ctx, const void *row)
{
	struct build *b = ctx;
	const struct sr__currency_row *r = row;
	struct sr_currency *c = &b->cat->currencies[b->i++];
	c->exponent = r->exponent;
	return copy(b->cat, r->code, &c->code);
}

static int content_row(void *ctx, const void *row)
{
	struct build *b = ctx;
	const struct sr__content_row *r = row;
	/* Class and package indexes come once all content is seen. */
	b->tmp_class[b->i] = r->klass;
	b->tmp_package[b->i] = r->package;
	return copy(b->cat, r->id, &b->cat->content[b->i++].id);
}

static int str_cmp(const void *a, const void *b)
{
	return sr__str_cmp(*(const struct sr_str *)a,
	                   *(const struct sr_str *)b);
}

/* The distinct non-empty strings of s[0..n), sorted, copied. */
static int distinct(struct sr_catalog *cat, const struct sr_str *s, uint32_t n,
                    struct sr_str **out, uint32_t *nout)
{
	struct sr_str *v = malloc(((size_t)n + 1) * sizeof(*v));
	uint32_t m = 0, k = 0;
	if (!v)
		return SR_ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		if (s[i].len)
			v[m++] = s[i];
	qsort(v, m, sizeof(*v), str_cmp);
	*out = array(cat, m, sizeof(**out));
	int err = *out ? 0 : SR_ENOMEM;
	for (uint32_t i = 0; i < m && !err; i++)
		if (i == 0 || !sr_str_eq(v[i], v[i - 1]))
			err = copy(cat, v[i], &(*out)[k++]);
	*nout = k;
	free(v);
	return err;
}

static int resolve_content(struct build *b)
{
	struct sr_catalog *cat = b->cat;
	int err = distinct(cat, b->tmp_class, cat->ncontent, &cat->classes,
	                   &cat->nclasses);
	if (!err)
		err = distinct(cat, b->tmp_package, cat->ncontent,
		               &cat->packages, &cat->npackages);
	for (uint32_t i = 0; i < cat->ncontent && !err; i++) {
		struct sr_content *c = &cat->content[i];
		c->klass = FIND(cat->classes, cat->nclasses, b->tmp_class[i]);
		c->ppv = sr_str_eq(b->tmp_class[i], (struct sr_str){"ppv", 3});
		c->package = c->ppv ? SR_NONE
		                    : FIND(cat->packages, cat->npackages,
		                           b->tmp_package[i]);
		if (c->klass == SR_NONE || (!c->ppv && c->package == SR_NONE))
			err = SR_ECATALOG;
	}
	return err;
}

static int plan_row(void *ctx, const void *row)
{
	struct build *b = ctx;
	struct sr_catalog *cat = b->cat;
	const struct sr__plan_row *r = row;
	struct sr_plan *p = &cat->plans[b->i++];
	uint32_t *pk = array(cat, r->packages.len / 2 + 1, sizeof(*pk));
	if (!pk)
		return SR_ENOMEM;
	p->currency = FIND(cat->currencies, cat->ncurrencies, r->currency);
	p->monthly_fee = r->fee;
	p->packages = pk;
	/* The stored list is sorted by bytes, so indexes come ascending. */
	struct sr_str l = r->packages;
	for (uint32_t a = 0, z = 0; z <= l.len && l.len; z++) {
		if (z < l.len && l.ptr[z] != ' ')
			continue;
		struct sr_str id = {l.ptr + a, z - a};
		pk[p->npackages] = FIND(cat->packages, cat->npackages, id);
		if (pk[p->npackages++] == SR_NONE)
			return SR_ECATALOG;
		a = z + 1;
	}
	if (p->currency == SR_NONE)
		return SR_ECATALOG;
	return copy(cat, r->id, &p->id);
}

static int region_row(void *ctx, const void *row)
{
	struct build *b = ctx;
	struct sr_catalog *cat = b->cat;
	const struct sr__region_row *r = row;
	struct sr_region *g = &cat->regions[b->i];
	int err = copy(cat, r->id, &g->id);
	if (!err)
		err = copy(cat, r->timezone, &g->timezone);
	if (!err)
		err = sr__tz_load(r->timezone.ptr, r->timezone.len, &cat->arena,
		                  &cat->zones[b->i]);
	b->i++;
	/* A zone known at load time but gone from the system since. */
	return err == SR_ENOTFOUND ? SR_ECATALOG : err;
}

static int tax_row(void *ctx, const void *row)
{
	struct build *b = ctx;
	struct sr_catalog *cat = b->cat;
	const struct sr__tax_row *r = row;
	uint32_t g = FIND(cat->regions, cat->nregions, r->region);
	if (g == SR_NONE)
		return SR_ECATALOG;
	/* Rows come by region: count now, turn counts into offsets later. */
	cat->tax_off[g + 1]++;
	cat->taxes[b->i++] = (struct sr_tax){r->from, r->to, r->rate};
	return 0;
}

static int band_row(void *ctx, const void *row)
{
	struct build *b = ctx;
	struct sr_catalog *cat = b->cat;
	const struct sr__band_row *r = row;
	if (cat->nbands == 0 ||
	    !sr_str_eq(cat->bands[cat->nbands - 1], r->band)) {
		int err = copy(cat, r->band, &cat->bands[cat->nbands++]);
		if (err)
			return err;
	}
	for (unsigned d = 0; d < 7; d++)
		for (unsigned m = r->from; (r->days >> d & 1) && m < r->to; m++)
			cat->band_minute[d][m] = cat->nbands - 1;
	return 0;
}

static int rate_row(void *ctx, const void *row)
{
	struct build *b = ctx;
	struct sr_catalog *cat = b->cat;
	const struct sr__rate_row *r = row;
	struct sr_rate *t = &cat->rates[b->i];
	t->index = b->i++;
	t->plan = FIND(cat->plans, cat->nplans, r->plan);
	t->klass = FIND(cat->classes, cat->nclasses, r->klass);
	t->quality = r->quality;
	t->meter = r->meter;
	t->band =
	    r->band.len ? FIND(cat->bands, cat->nbands, r->band) : SR_NONE;
	t->unit = r->unit;
	t->unit_price = r->price;
	t->valid_from = r->from;
	t->valid_to = r->to;
	if (t->plan == SR_NONE || t->klass == SR_NONE ||
	    (r->band.len && t->band == SR_NONE))
		return SR_ECATALOG;
	return copy(cat, r->id, &t->id);
}

static int tier_row(void *ctx, const void *row)
{
	struct build *b = ctx;
	struct sr_catalog *cat = b->cat;
	const struct sr__tier_row *r = row;
	uint32_t i = FIND(cat->rates, cat->nrates, r->rate);
	if (i == SR_NONE)
		return SR_ECATALOG;
	/* Tiers come by rate, then by from_units. */
	struct sr_rate *t = &cat->rates[i];
	if (t->ntiers == 0)
		t->tiers = &b->tiers[b->i];
	b->tiers[b->i++] = (struct sr_tier){r->from_units, r->price};
	t->ntiers++;
	return 0;
}

static int allowance_row(void *ctx, const void *row)
{
	struct build *b = ctx;
	const struct sr__allowance_row *r = row;
	uint32_t i = FIND(b->cat->rates, b->cat->nrates, r->rate);
	if (i == SR_NONE)
		return SR_ECATALOG;
	b->cat->rates[i].allowance = r->units;
	return 0;
}

static int ppv_row(void *ctx, const void *row)
{
	struct build *b = ctx;
	struct sr_catalog *cat = b->cat;
	const struct sr__ppv_row *r = row;
	uint32_t c = FIND(cat->content, cat->ncontent, r->content);
	uint32_t cur = FIND(cat->currencies, cat->ncurrencies, r->currency);
	if (c == SR_NONE || cur == SR_NONE)
		return SR_ECATALOG;
	cat->ppv_off[c + 1]++;
	cat->ppv[b->i++] = (struct sr__ppv_price){cur, r->price};
	return 0;
}

static int sub_row(void *ctx, const void *row)
{
	struct build *b = ctx;
	struct sr_catalog *cat = b->cat;
	const struct sr__sub_row *r = row;
	struct sr_subscription *s = &b->subs[b->i++];
	struct sr_subscriber *who =
	    cat->nsubscribers ? &cat->subscribers[cat->nsubscribers - 1] : NULL;
	/* Rows come by subscriber, then by start. The id still points into
	 * the read transaction and the rows into b->subs: pack_subscribers()
	 * moves both next to each other. */
	if (!who || !sr_str_eq(who->id, r->subscriber)) {
		who = &cat->subscribers[cat->nsubscribers];
		who->index = cat->nsubscribers++;
		who->subs = s;
		who->id = r->subscriber;
	}
	who->nsubs++;
	*s = (struct sr_subscription){
	    FIND(cat->plans, cat->nplans, r->plan),
	    FIND(cat->regions, cat->nregions, r->region), r->start, r->end};
	return s->plan == SR_NONE || s->region == SR_NONE ? SR_ECATALOG : 0;
}

/* ---- Indexes ---- */

static void prefix_sums(uint32_t *off, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		off[i + 1] += off[i];
}

/* Candidates of a (plan, class): exact quality and band first, '*' and
 * '*' last; then by valid_from; then by index, for a total order. */
static unsigned rank(const struct sr_rate *r)
{
	return (r->quality == SR_QUALITY_ANY) * 2u + (r->band == SR_NONE);
}

static int candidate_cmp(const void *a, const void *b)
{
	const struct sr_rate *x = *(const struct sr_rate *const *)a,
	                     *y = *(const struct sr_rate *const *)b;
	if (x->plan != y->plan)
		return x->plan < y->plan ? -1 : 1;
	if (x->klass != y->klass)
		return x->klass < y->klass ? -1 : 1;
	if (rank(x) != rank(y))
		return rank(x) < rank(y) ? -1 : 1;
	if (x->valid_from != y->valid_from)
		return x->valid_from < y->valid_from ? -1 : 1;
	return (x->index > y->index) - (x->index < y->index);
}

static int index_rates(struct sr_catalog *cat)
{
	cat->candidates = array(cat, cat->nrates, sizeof(*cat->candidates));
	cat->groups = array(cat, cat->nrates, sizeof(*cat->groups));
	if (!cat->candidates || !cat->groups)
		return SR_ENOMEM;
	for (uint32_t i = 0; i < cat->nrates; i++)
		cat->candidates[i] = &cat->rates[i];
	qsort(cat->candidates, cat->nrates, sizeof(*cat->candidates),
	      candidate_cmp);
	for (uint32_t i = 0; i < cat->nrates; i++) {
		const struct sr_rate *r = cat->candidates[i];
		struct sr__group *g =
		    cat->ngroups ? &cat->groups[cat->ngroups - 1] : NULL;
		if (!g || g->plan != r->plan || g->klass != r->klass) {
			g = &cat->groups[cat->ngroups++];
			*g = (struct sr__group){r->plan, r->klass, i, 0};
		}
		g->n++;
	}
	int err = sr__table_init(&cat->arena, &cat->group_keys, cat->ngroups);
	for (uint32_t i = 0; i < cat->ngroups && !err; i++)
		sr__table_add(
		    &cat->group_keys,
		    sr__hash_pair(cat->groups[i].plan, cat->groups[i].klass),
		    i, false);
	/* Every session looks its (plan, class) up: when the grid is small,
	 * a direct table answers without hashing. */
	uint64_t cells = (uint64_t)cat->nplans * cat->nclasses;
	if (!err && cells && cells <= SR_GROUP_GRID_MAX) {
		cat->group_grid = array(cat, (size_t)cells, sizeof(uint32_t));
		if (!cat->group_grid)
			return SR_ENOMEM;
		for (uint64_t c = 0; c < cells; c++)
			cat->group_grid[c] = SR_NONE;
		for (uint32_t i = 0; i < cat->ngroups; i++)
			cat->group_grid[(uint64_t)cat->groups[i].plan *
			                    cat->nclasses +
			                cat->groups[i].klass] = i;
	}
	return err;
}

/*
 * Every session reads its subscriber's id (to confirm the lookup) and
 * subscription rows (step 4), so each subscriber gets one block: a head
 * (index and sizes), the rows, the id bytes. A block of up to a cache
 * line never straddles two, and the id table leads straight to it: a
 * lookup touches two lines, the slot and the block, each prefetched by
 * the step before. (Through the sr_subscriber record it was three
 * dependent lines; perf put the most samples of the rating loop on the
 * loads of that record and of the id.)
 */
static size_t block_size(const struct sr_subscriber *w)
{
	size_t n = sizeof(struct sr__sub_block) +
	           w->nsubs * sizeof(struct sr_subscription) + w->id.len;
	return (n + 7) & ~(size_t)7;
}

static size_t block_at(size_t pos, size_t size)
{
	if (size <= SR_CACHE_LINE && pos / SR_CACHE_LINE != (pos + size - 1) / SR_CACHE_LINE)
		return (pos + SR_CACHE_LINE - 1) & ~(size_t)(SR_CACHE_LINE - 1);
	return pos;
}

static int pack_subscribers(struct sr_catalog *cat)
{
	size_t total = 0;
	for (uint32_t i = 0; i < cat->nsubscribers; i++) {
		size_t size = block_size(&cat->subscribers[i]);
		total = block_at(total, size) + size;
	}
	char *base = line_array(cat, total, 1);
	if (!base)
		return SR_ENOMEM;
	size_t pos = 0;
	for (uint32_t i = 0; i < cat->nsubscribers; i++) {
		struct sr_subscriber *w = &cat->subscribers[i];
		size_t size = block_size(w);
		size_t rows = w->nsubs * sizeof(struct sr_subscription);
		pos = block_at(pos, size);
		struct sr__sub_block head = {w->index, w->nsubs, w->id.len, 0};
		char *p = base + pos;
		memcpy(p, &head, sizeof(head));
		p += sizeof(head);
		memcpy(p, w->subs, rows);
		memcpy(p + rows, w->id.ptr, w->id.len);
		w->subs = (const void *)p;
		w->id.ptr = p + rows;
		pos += size;
	}
	cat->sub_blocks = base;
	return 0;
}

/* The offset of w's block in sub_blocks, in 8-byte units. */
static uint32_t block_of(const struct sr_catalog *cat,
                         const struct sr_subscriber *w)
{
	const char *head = (const char *)w->subs - sizeof(struct sr__sub_block);
	return (uint32_t)((size_t)(head - cat->sub_blocks) / 8);
}

static int index_ids(struct sr_catalog *cat)
{
	int err = sr__table_init(&cat->arena, &cat->subscriber_ids,
	                         cat->nsubscribers);
	if (!err)
		err = sr__table_init(&cat->arena, &cat->content_ids,
		                     cat->ncontent);
	for (uint32_t i = 0; i < cat->nsubscribers && !err; i++) {
		const struct sr_subscriber *w = &cat->subscribers[i];
		uint32_t at = block_of(cat, w);
		/* The hint: the block crosses a line, so a lookup's
		 * prefetch takes the next line as well. */
		bool wide = (size_t)at * 8 % SR_CACHE_LINE + block_size(w) >
		            SR_CACHE_LINE;
		sr__table_add(&cat->subscriber_ids, sr__hash_id(w->id), at,
		              wide);
	}
	for (uint32_t i = 0; i < cat->ncontent && !err; i++)
		sr__table_add(&cat->content_ids,
		              sr__hash_id(cat->content[i].id), i, false);
	return err;
}

/* ---- Building ---- */

static int each(struct sr__store *s, struct build *b, enum sr__file f,
                sr__row_fn fn)
{
	b->i = 0;
	return sr__store_each(s, f, fn, b);
}

/* Arrays sized by the stored row counts. */
static int allocate(struct sr_catalog *cat, struct sr__store *s,
                    struct build *b)
{
	uint64_t n[SR__NFILES];
	for (int f = 0; f < SR__NFILES; f++) {
		n[f] = sr__store_count(s, (enum sr__file)f);
		if (n[f] >= UINT32_MAX / 2)
			return SR_EFULL;
	}
	cat->ncurrencies = (uint32_t)n[SR__CURRENCIES];
	cat->nplans = (uint32_t)n[SR__PLANS];
	cat->ncontent = (uint32_t)n[SR__CONTENT];
	cat->nregions = (uint32_t)n[SR__REGIONS];
	cat->nrates = (uint32_t)n[SR__RATES];
	cat->currencies =
	    array(cat, n[SR__CURRENCIES], sizeof(*cat->currencies));
	cat->plans = array(cat, n[SR__PLANS], sizeof(*cat->plans));
	cat->content = array(cat, n[SR__CONTENT], sizeof(*cat->content));
	cat->regions = array(cat, n[SR__REGIONS], sizeof(*cat->regions));
	cat->zones = array(cat, n[SR__REGIONS], sizeof(*cat->zones));
	cat->taxes = array(cat, n[SR__TAXES], sizeof(*cat->taxes));
	cat->tax_off = array(cat, n[SR__REGIONS] + 1, sizeof(uint32_t));
	cat->bands = array(cat, n[SR__BANDS], sizeof(*cat->bands));
	cat->rates = array(cat, n[SR__RATES], sizeof(*cat->rates));
	cat->ppv = array(cat, n[SR__PPV], sizeof(*cat->ppv));
	cat->ppv_off = array(cat, n[SR__CONTENT] + 1, sizeof(uint32_t));
	cat->subscribers =
	    line_array(cat, n[SR__SUBSCRIPTIONS], sizeof(*cat->subscribers));
	b->subs = calloc(n[SR__SUBSCRIPTIONS] + 1, sizeof(*b->subs));
	b->tiers = array(cat, n[SR__TIERS], sizeof(*b->tiers));
	b->tmp_class = malloc((n[SR__CONTENT] + 1) * sizeof(struct sr_str));
	b->tmp_package = malloc((n[SR__CONTENT] + 1) * sizeof(struct sr_str));
	if (!cat->currencies || !cat->plans || !cat->content || !cat->regions ||
	    !cat->zones || !cat->taxes || !cat->tax_off || !cat->bands ||
	    !cat->rates || !cat->ppv || !cat->ppv_off || !cat->subscribers ||
	    !b->subs || !b->tiers || !b->tmp_class || !b->tmp_package)
		return SR_ENOMEM;
	return 0;
}

static int build(struct sr_catalog *cat, struct sr__store *s, struct build *b)
{
	int err = allocate(cat, s, b);
	memset(cat->band_minute, 0xff, sizeof(cat->band_minute));
	err = err ? err : each(s, b, SR__CURRENCIES, currency_row);
	err = err ? err : each(s, b, SR__CONTENT, content_row);
	err = err ? err : resolve_content(b);
	err = err ? err : each(s, b, SR__PLANS, plan_row);
	err = err ? err : each(s, b, SR__REGIONS, region_row);
	err = err ? err : each(s, b, SR__TAXES, tax_row);
	err = err ? err : each(s, b, SR__BANDS, band_row);
	err = err ? err : each(s, b, SR__RATES, rate_row);
	err = err ? err : each(s, b, SR__TIERS, tier_row);
	err = err ? err : each(s, b, SR__ALLOWANCES, allowance_row);
	err = err ? err : each(s, b, SR__PPV, ppv_row);
	err = err ? err : each(s, b, SR__SUBSCRIPTIONS, sub_row);
	err = err ? err : pack_subscribers(cat);
	if (err)
		return err;
	prefix_sums(cat->tax_off, cat->nregions);
	prefix_sums(cat->ppv_off, cat->ncontent);
	err = index_rates(cat);
	return err ? err : index_ids(cat);
}

int sr_catalog_open(const char *dbdir, struct sr_catalog **out)
{
	struct sr__store s;
	struct build b = {0};
	struct sr_catalog *cat = calloc(1, sizeof(*cat));
	if (!cat)
		return SR_ENOMEM;
	int err = sr__store_open(dbdir, &s);
	if (err)
		goto err_cat;
	b.cat = cat;
	err = build(cat, &s, &b);
	sr__store_close(&s);
	free(b.tmp_class);
	free(b.tmp_package);
	free(b.subs);
	if (err)
		goto err_cat;
	*out = cat;
	return 0;
err_cat:
	sr_catalog_close(cat);
	return err;
}

void sr_catalog_close(struct sr_catalog *cat)
{
	if (!cat)
		return;
	sr__arena_free(&cat->arena);
	free(cat);
}
