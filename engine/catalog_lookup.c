/*
 * The lookups rating makes for every session: subscriber and content by id
 * (xxHash into open-addressing tables), the candidate rates of a (plan,
 * class), the band of a local minute, a zone's UTC offset, the tax and the
 * PPV price in force. None allocates, locks or calls the C library, and a
 * view is immutable, so any number of threads may call them at once.
 */
#include <string.h>
#define XXH_INLINE_ALL /* inline XXH3 on the hot path, no PLT call */
#include <xxhash.h>

#include "catalog_view.h"
#include "civil.h"
#include "mem.h"
#include "streamrate/error.h"

uint64_t sr__hash_id(struct sr_str id)
{
	return XXH3_64bits(id.ptr, id.len);
}

uint64_t sr__hash_pair(uint32_t a, uint32_t b)
{
	uint64_t k = (uint64_t)a << 32 | b;
	return XXH3_64bits(&k, sizeof(k));
}

int sr__table_init(struct sr__arena *arena, struct sr__table *t, uint32_t n)
{
	uint64_t cap = 16;
	while (cap < 2 * (uint64_t)n)
		cap *= 2;
	t->slots = sr__arena_alloc(arena, cap * sizeof(*t->slots));
	if (!t->slots)
		return SR_ENOMEM;
	memset(t->slots, 0, cap * sizeof(*t->slots));
	t->mask = (uint32_t)(cap - 1);
	return 0;
}

void sr__table_add(struct sr__table *t, uint64_t h, uint32_t idx, bool hint)
{
	uint32_t pos = (uint32_t)h;
	while (t->slots[pos & t->mask].idx1)
		pos++;
	t->slots[pos & t->mask] =
	    (struct sr__slot){idx + 1, ((uint32_t)(h >> 32) & ~1u) | hint};
}

/*
 * The next index stored under hash h, walking from *pos (start it at
 * (uint32_t)h); SR_NONE when the probe reaches an empty slot.
 */
static uint32_t table_next(const struct sr__table *t, uint64_t h, uint32_t *pos)
{
	uint32_t tag = (uint32_t)(h >> 32);
	for (;;) {
		const struct sr__slot *s = &t->slots[*pos & t->mask];
		(*pos)++;
		if (!s->idx1)
			return SR_NONE;
		if ((s->tag ^ tag) <= 1) /* bit 0 is the hint */
			return s->idx1 - 1;
	}
}

uint32_t sr_catalog_nsubscribers(const struct sr_catalog *cat)
{
	return cat->nsubscribers;
}

uint32_t sr_catalog_nrates(const struct sr_catalog *cat)
{
	return cat->nrates;
}

uint32_t sr_catalog_ncurrencies(const struct sr_catalog *cat)
{
	return cat->ncurrencies;
}

uint32_t sr_catalog_nplans(const struct sr_catalog *cat)
{
	return cat->nplans;
}

uint32_t sr_catalog_nregions(const struct sr_catalog *cat)
{
	return cat->nregions;
}

uint32_t sr_catalog_nbands(const struct sr_catalog *cat)
{
	return cat->nbands;
}

uint32_t sr_catalog_nclasses(const struct sr_catalog *cat)
{
	return cat->nclasses;
}

const struct sr_currency *sr_catalog_currency(const struct sr_catalog *cat,
                                              uint32_t index)
{
	return index < cat->ncurrencies ? &cat->currencies[index] : NULL;
}

const struct sr_plan *sr_catalog_plan(const struct sr_catalog *cat,
                                      uint32_t index)
{
	return index < cat->nplans ? &cat->plans[index] : NULL;
}

const struct sr_region *sr_catalog_region(const struct sr_catalog *cat,
                                          uint32_t index)
{
	return index < cat->nregions ? &cat->regions[index] : NULL;
}

const struct sr_rate *sr_catalog_rate(const struct sr_catalog *cat,
                                      uint32_t index)
{
	return index < cat->nrates ? &cat->rates[index] : NULL;
}

static struct sr_str str_at(const struct sr_str *a, uint32_t n, uint32_t i)
{
	return i < n ? a[i] : (struct sr_str){0};
}

struct sr_str sr_catalog_band_id(const struct sr_catalog *cat, uint32_t index)
{
	return str_at(cat->bands, cat->nbands, index);
}

struct sr_str sr_catalog_class_id(const struct sr_catalog *cat, uint32_t index)
{
	return str_at(cat->classes, cat->nclasses, index);
}

struct sr_str sr_catalog_package_id(const struct sr_catalog *cat,
                                    uint32_t index)
{
	return str_at(cat->packages, cat->npackages, index);
}

const struct sr_subscriber *
sr_catalog_subscriber_at(const struct sr_catalog *cat, uint32_t index)
{
	return index < cat->nsubscribers ? &cat->subscribers[index] : NULL;
}

uint64_t sr_catalog_id_hash(const char *id, size_t len)
{
	return sr__hash_id((struct sr_str){id, (uint32_t)len});
}

/* The block at table index i, and its id bytes after the rows (the
 * layout catalog.c builds). */
static const struct sr__sub_block *block_at(const struct sr_catalog *cat,
                                            uint32_t i)
{
	return (const void *)(cat->sub_blocks + (size_t)i * 8);
}

static const char *block_id(const struct sr__sub_block *b)
{
	return (const char *)((const struct sr_subscription *)(b + 1) +
	                      b->nsubs);
}

const struct sr_subscriber *
sr_catalog_subscriber_h(const struct sr_catalog *cat, const char *id,
                        size_t len, uint64_t h, struct sr_subscriber *view)
{
	struct sr_str key = {id, (uint32_t)len};
	uint32_t pos = (uint32_t)h, i;
	if (len > SR_ID_MAX)
		return NULL;
	while ((i = table_next(&cat->subscriber_ids, h, &pos)) != SR_NONE) {
		const struct sr__sub_block *b = block_at(cat, i);
		const char *bid = block_id(b);
		if (sr_str_eq((struct sr_str){bid, b->id_len}, key)) {
			*view = (struct sr_subscriber){{bid, b->id_len},
			                               b->index,
			                               b->nsubs,
			                               (const void *)(b + 1)};
			return view;
		}
	}
	return NULL;
}

const struct sr_subscriber *sr_catalog_subscriber(const struct sr_catalog *cat,
                                                  const char *id, size_t len)
{
	struct sr_subscriber view;
	const struct sr_subscriber *w = sr_catalog_subscriber_h(
	    cat, id, len, sr_catalog_id_hash(id, len), &view);
	return w ? &cat->subscribers[w->index] : NULL;
}

/* Step 0 of a lookup's prefetches: the slot where hash h's probe starts. */
static void prefetch_home(const struct sr__table *t, uint64_t h)
{
	__builtin_prefetch(&t->slots[(uint32_t)h & t->mask]);
}

void sr_catalog_prefetch_subscriber(const struct sr_catalog *cat, uint64_t h,
                                    int step)
{
	const struct sr__table *t = &cat->subscriber_ids;
	if (step == 0) {
		prefetch_home(t, h);
		return;
	}
	/* The block of the first slot with the id's tag: the slot at h
	 * holds another subscriber in about a quarter of the lookups (the
	 * table is up to half full), and prefetching that one's block
	 * left the lookup a cache miss (perf: 4.5% of a 2-thread run's
	 * samples on the block's first load). */
	uint32_t pos = (uint32_t)h, i = table_next(t, h, &pos);
	if (i == SR_NONE)
		return;
	/* The block (catalog.c), and its next line when the slot's hint
	 * says it spans more than one (a block of five subscriptions or
	 * more has further lines, fetched when rated). The block's length
	 * used to be read from its head in a third step: a dependent load,
	 * 6.6% of the pipeline's samples. */
	const char *b = (const char *)block_at(cat, i);
	__builtin_prefetch(b);
	if (t->slots[(pos - 1) & t->mask].tag & 1)
		__builtin_prefetch(b + SR_CACHE_LINE);
}

const struct sr_content *sr_catalog_content(const struct sr_catalog *cat,
                                            const char *id, size_t len)
{
	return sr_catalog_content_h(
	    cat, id, len, sr__hash_id((struct sr_str){id, (uint32_t)len}));
}

void sr_catalog_prefetch_content(const struct sr_catalog *cat, uint64_t h,
                                 int step)
{
	const struct sr__table *t = &cat->content_ids;
	if (step == 0) {
		prefetch_home(t, h);
		return;
	}
	uint32_t pos = (uint32_t)h, i = table_next(t, h, &pos);
	if (i != SR_NONE)
		__builtin_prefetch(&cat->content[i]);
}

const struct sr_content *sr_catalog_content_h(const struct sr_catalog *cat,
                                              const char *id, size_t len,
                                              uint64_t h)
{
	struct sr_str key = {id, (uint32_t)len};
	uint32_t pos = (uint32_t)h, i;
	if (len > SR_ID_MAX)
		return NULL;
	while ((i = table_next(&cat->content_ids, h, &pos)) != SR_NONE)
		if (sr_str_eq(cat->content[i].id, key))
			return &cat->content[i];
	return NULL;
}

int sr_catalog_ppv_price(const struct sr_catalog *cat,
                         const struct sr_content *content, uint32_t currency,
                         int64_t *price)
{
	if (content < cat->content || content >= cat->content + cat->ncontent)
		return SR_ENOTFOUND;
	uint32_t c = (uint32_t)(content - cat->content);
	for (uint32_t i = cat->ppv_off[c]; i < cat->ppv_off[c + 1]; i++) {
		if (cat->ppv[i].currency == currency) {
			*price = cat->ppv[i].price;
			return 0;
		}
	}
	return SR_ENOTFOUND;
}

const struct sr_rate *const *sr_catalog_rates(const struct sr_catalog *cat,
                                              uint32_t plan, uint32_t klass,
                                              uint32_t *n)
{
	if (cat->group_grid) {
		uint32_t g =
		    plan < cat->nplans && klass < cat->nclasses
		        ? cat->group_grid[(uint64_t)plan * cat->nclasses +
		                          klass]
		        : SR_NONE;
		*n = g == SR_NONE ? 0 : cat->groups[g].n;
		return g == SR_NONE ? NULL
		                    : cat->candidates + cat->groups[g].off;
	}
	uint64_t h = sr__hash_pair(plan, klass);
	uint32_t pos = (uint32_t)h, i;
	while ((i = table_next(&cat->group_keys, h, &pos)) != SR_NONE) {
		const struct sr__group *g = &cat->groups[i];
		if (g->plan == plan && g->klass == klass) {
			*n = g->n;
			return cat->candidates + g->off;
		}
	}
	*n = 0;
	return NULL;
}

uint32_t sr_catalog_band_at(const struct sr_catalog *cat, unsigned weekday,
                            uint32_t second_of_day)
{
	/* Bounds are whole minutes, so the minute's band is exact for
	 * every second in it. */
	if (weekday > 6 || second_of_day >= SR_DAY)
		return SR_NONE;
	return cat->band_minute[weekday][second_of_day / 60];
}

int32_t sr_catalog_utc_offset(const struct sr_catalog *cat, uint32_t region,
                              int64_t instant)
{
	if (region >= cat->nregions)
		return 0;
	return sr__tz_offset(&cat->zones[region], instant);
}

const struct sr_tax *sr_catalog_tax(const struct sr_catalog *cat,
                                    uint32_t region, int64_t instant)
{
	if (region >= cat->nregions)
		return NULL;
	/* A region has a handful of rows, sorted and disjoint. */
	for (uint32_t i = cat->tax_off[region]; i < cat->tax_off[region + 1];
	     i++) {
		const struct sr_tax *t = &cat->taxes[i];
		if (t->valid_from <= instant && instant < t->valid_to)
			return t;
	}
	return NULL;
}
