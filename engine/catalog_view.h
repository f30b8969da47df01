/*
 * The compiled view's layout, shared by catalog.c (which builds it from one
 * LMDB read transaction) and catalog_lookup.c (the lookups rating calls,
 * once or more per session). Everything lives in the view's arena.
 */
#ifndef SR_CATALOG_VIEW_H
#define SR_CATALOG_VIEW_H

#include "catalog_arena.h"
#include "catalog_rows.h"
#include "streamrate/catalog.h"
#include "tz.h"

/*
 * An open-addressing hash table of indexes: a slot holds index + 1 (0 is
 * empty) and the high half of the key's hash, so most misses end without
 * comparing ids. The tag's bit 0 is not compared: it holds a hint of the
 * table's own (the subscriber table: the block spans two cache lines).
 * At most half full, probed linearly.
 */
struct sr__slot {
	uint32_t idx1;
	uint32_t tag;
};

#define SR_GROUP_GRID_MAX (4u << 20)

struct sr__table {
	struct sr__slot *slots;
	uint32_t mask;
};

/* The rates of one (plan, class), as a slice of the candidate array. */
struct sr__group {
	uint32_t plan, klass;
	uint32_t off, n;
};

struct sr__ppv_price {
	uint32_t currency;
	int64_t price;
};

/* The head of a subscriber's block (catalog.c), its subscription rows
 * and id bytes right after: a lookup reads the table slot and the block,
 * never the sr_subscriber record. */
struct sr__sub_block {
	uint32_t index, nsubs, id_len, unused;
};

struct sr_catalog {
	struct sr__arena arena;
	uint32_t ncurrencies, nplans, ncontent, nregions, nbands, nclasses,
	    npackages, nrates, nsubscribers, ngroups;
	struct sr_currency *currencies;
	struct sr_plan *plans;
	struct sr_content *content;
	struct sr_region *regions;
	struct sr__tz *zones; /* per region */
	struct sr_str *bands, *classes, *packages;
	struct sr_rate *rates;
	const struct sr_rate **candidates;
	struct sr__group *groups;
	struct sr_subscriber *subscribers;
	struct sr_tax *taxes;
	uint32_t *tax_off; /* region r: taxes[tax_off[r] .. tax_off[r+1]) */
	struct sr__ppv_price *ppv;
	uint32_t *ppv_off; /* content c: ppv[ppv_off[c] .. ppv_off[c+1]) */
	/* Subscriber ids map to their block's offset in sub_blocks / 8;
	 * content ids and group keys to indexes. */
	struct sr__table subscriber_ids, content_ids, group_keys;
	const char *sub_blocks;
	/* Group of each (plan, class) as plan * nclasses + class, SR_NONE for
	 * none; NULL when the grid would exceed SR_GROUP_GRID_MAX cells. */
	uint32_t *group_grid;
	/* Band of each minute of each local weekday; SR_NONE for none. */
	uint32_t band_minute[7][SR_DAY_MINUTES];
};

/* Hash of an id, and of a (plan, class) pair. */
uint64_t sr__hash_id(struct sr_str id);
uint64_t sr__hash_pair(uint32_t a, uint32_t b);
/* A table for n entries in arena: 0 or SR_ENOMEM. */
int sr__table_init(struct sr__arena *arena, struct sr__table *t, uint32_t n);
/* Add index idx under hash h (keys are unique), with a hint bit. */
void sr__table_add(struct sr__table *t, uint64_t h, uint32_t idx, bool hint);

#endif
