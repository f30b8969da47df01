/*
 * The tariff catalog: loading CSV directories into LMDB, checking them,
 * dumping them back, and the compiled read-only view that rating uses.
 *
 * Loading validates every file and every rule of SPEC section 2, reports
 * every problem through a diagnostic callback, and then stores the whole
 * catalog in one LMDB write transaction, or changes nothing.
 *
 * The view (struct sr_catalog) is built from one LMDB read transaction and
 * then owns copies of everything it needs: the transaction is closed before
 * sr_catalog_open() returns, so a view keeps showing the catalog as it was
 * when it was opened, whatever is loaded afterwards. A view is immutable and
 * may be read from any number of threads at once. Every pointer returned by
 * a lookup lives as long as the view.
 *
 * Indexes: plans, currencies, regions, bands, classes, packages and rates
 * are numbered 0..n-1 in the byte order of their ids; subscribers are
 * numbered in the byte order of subscriber_id, so iterating indexes gives
 * invoice order. Two views opened on the same stored catalog number
 * everything identically.
 */
#ifndef STREAMRATE_CATALOG_H
#define STREAMRATE_CATALOG_H

#include "streamrate/types.h"

struct sr_catalog;

/*
 * Called once per problem found. file is the catalog file's base name
 * (e.g. "rates.csv"); line is 1-based (header = 1), 0 when the problem is
 * not on a line (a missing file). msg has no trailing newline. The strings
 * live only during the call.
 */
typedef void (*sr_diag_fn)(void *ctx, const char *file, uint32_t line,
			   const char *msg);

/*
 * Validate the catalog directory dir. Returns 0 when valid, SR_ECATALOG
 * after reporting every problem through diag, or another negative code for
 * failures that are not the catalog's fault (out of memory).
 */
int sr_catalog_check(const char *dir, sr_diag_fn diag, void *ctx);

/*
 * Validate dir and store it in the LMDB environment at dbdir (created if
 * missing) in one write transaction that replaces the previous catalog
 * whole. On any problem, nothing in dbdir changes. Returns as check does,
 * or SR_ELMDB / SR_EIO when the store fails.
 */
int sr_catalog_load(const char *dbdir, const char *dir, sr_diag_fn diag,
		    void *ctx);

/*
 * Write the catalog stored in dbdir as the eleven CSV files into outdir
 * (created if missing). dump then load then dump gives identical files.
 */
int sr_catalog_dump(const char *dbdir, const char *outdir);

/* The eleven catalog files, in the order of SPEC section 2. */
#define SR_CATALOG_FILES 11
/* Base name of catalog file i ("currencies.csv"...), NULL past the end. */
const char *sr_catalog_file_name(unsigned i);
/* Rows stored in dbdir per catalog file, in that order. */
int sr_catalog_count(const char *dbdir, uint64_t rows[SR_CATALOG_FILES]);

/* Build a view of the catalog stored in dbdir. */
int sr_catalog_open(const char *dbdir, struct sr_catalog **out);
/* Free a view; accepts NULL. */
void sr_catalog_close(struct sr_catalog *cat);

struct sr_currency {
	struct sr_str code;
	int exponent; /* 0 to 3 */
};

struct sr_plan {
	struct sr_str id;
	uint32_t currency;
	int64_t monthly_fee;
	uint32_t npackages;
	const uint32_t *packages; /* package indexes, ascending */
};

struct sr_content {
	struct sr_str id;
	uint32_t klass;   /* class index */
	uint32_t package; /* package index; SR_NONE for PPV */
	bool ppv;
};

struct sr_region {
	struct sr_str id;
	struct sr_str timezone;
};

struct sr_subscription {
	uint32_t plan;
	uint32_t region;
	int64_t start; /* instant of the start date, 00:00 UTC */
	int64_t end;   /* exclusive; SR_TIME_MAX when open-ended */
};

struct sr_subscriber {
	struct sr_str id;
	uint32_t index; /* position in byte order of ids */
	uint32_t nsubs;
	const struct sr_subscription *subs; /* ascending start, no overlaps */
};

struct sr_tier {
	uint64_t from_units;
	int64_t unit_price;
};

struct sr_rate {
	struct sr_str id;
	uint32_t index;
	uint32_t plan;
	uint32_t klass;
	uint8_t quality; /* enum sr_quality, SR_QUALITY_ANY for '*' */
	uint8_t meter;   /* enum sr_meter */
	uint32_t band;   /* band index, SR_NONE for '*' */
	uint64_t unit;   /* seconds or bytes per billing unit, > 0 */
	int64_t unit_price;
	int64_t valid_from; /* SR_TIME_MIN when always */
	int64_t valid_to;   /* SR_TIME_MAX when open-ended */
	uint64_t allowance; /* 0 when none */
	uint32_t ntiers;
	const struct sr_tier *tiers; /* from_units strictly increasing */
};

struct sr_tax {
	int64_t valid_from; /* SR_TIME_MIN when always */
	int64_t valid_to;   /* SR_TIME_MAX when open-ended */
	uint32_t rate;      /* percent x 10^4: 8.875% is 88750 */
};

/* Counts of each table, for iteration by index. */
uint32_t sr_catalog_nsubscribers(const struct sr_catalog *cat);
uint32_t sr_catalog_nrates(const struct sr_catalog *cat);
uint32_t sr_catalog_ncurrencies(const struct sr_catalog *cat);
uint32_t sr_catalog_nplans(const struct sr_catalog *cat);
uint32_t sr_catalog_nregions(const struct sr_catalog *cat);
uint32_t sr_catalog_nbands(const struct sr_catalog *cat);
uint32_t sr_catalog_nclasses(const struct sr_catalog *cat);

const struct sr_currency *sr_catalog_currency(const struct sr_catalog *cat,
					      uint32_t index);
const struct sr_plan *sr_catalog_plan(const struct sr_catalog *cat,
				      uint32_t index);
const struct sr_region *sr_catalog_region(const struct sr_catalog *cat,
					  uint32_t index);
const struct sr_rate *sr_catalog_rate(const struct sr_catalog *cat,
				      uint32_t index);
struct sr_str sr_catalog_band_id(const struct sr_catalog *cat, uint32_t index);
struct sr_str sr_catalog_class_id(const struct sr_catalog *cat, uint32_t index);
struct sr_str sr_catalog_package_id(const struct sr_catalog *cat,
				    uint32_t index);
const struct sr_subscriber *
sr_catalog_subscriber_at(const struct sr_catalog *cat, uint32_t index);

/* Lookups by id; NULL when unknown. */
const struct sr_subscriber *sr_catalog_subscriber(const struct sr_catalog *cat,
						  const char *id, size_t len);
/* The hash of an id in the view's tables, and the lookup given it: a
 * caller that hashes once can prefetch and look up without hashing again.
 * The lookup fills *view with the subscriber's record and returns view
 * (NULL when unknown): it reads the record's copy beside the rows, one
 * cache line fewer than the record itself. */
uint64_t sr_catalog_id_hash(const char *id, size_t len);
const struct sr_subscriber *
sr_catalog_subscriber_h(const struct sr_catalog *cat, const char *id,
                        size_t len, uint64_t hash, struct sr_subscriber *view);
const struct sr_content *sr_catalog_content(const struct sr_catalog *cat,
					    const char *id, size_t len);
const struct sr_content *sr_catalog_content_h(const struct sr_catalog *cat,
                                              const char *id, size_t len,
                                              uint64_t hash);

/*
 * Hints for a lookup of the subscriber whose id has hash
 * (sr_catalog_id_hash()) coming soon, for callers that work
 * on batches so that memory latency overlaps: step 0 prefetches the id's
 * table slot; step 1 (once that slot is likely cached) the subscriber's
 * block of rows and id bytes, one or two cache lines. Neither changes
 * anything.
 */
void sr_catalog_prefetch_subscriber(const struct sr_catalog *cat,
                                    uint64_t hash, int step);
/* The same for a content id: step 0 its table slot, step 1 its record. */
void sr_catalog_prefetch_content(const struct sr_catalog *cat, uint64_t hash,
                                 int step);

/* PPV price of content in currency: 0 and *price, or SR_ENOTFOUND. */
int sr_catalog_ppv_price(const struct sr_catalog *cat,
			 const struct sr_content *content, uint32_t currency,
			 int64_t *price);

/*
 * Rates of (plan, class), most specific first: exact quality and exact
 * band, exact quality and '*', '*' and exact band, '*' and '*'; within one
 * specificity by valid_from. *n receives the count (0: none).
 */
const struct sr_rate *const *sr_catalog_rates(const struct sr_catalog *cat,
					      uint32_t plan, uint32_t klass,
					      uint32_t *n);

/*
 * Band holding a local weekday (0 = Monday .. 6 = Sunday) and second of
 * the local day (0..86399); SR_NONE when no band row holds it.
 */
uint32_t sr_catalog_band_at(const struct sr_catalog *cat, unsigned weekday,
			    uint32_t second_of_day);

/* Offset of region's local time from UTC at instant, in seconds east. */
int32_t sr_catalog_utc_offset(const struct sr_catalog *cat, uint32_t region,
			      int64_t instant);

/* Tax row of region in force at instant (a day's 00:00 UTC); NULL if none. */
const struct sr_tax *sr_catalog_tax(const struct sr_catalog *cat,
				    uint32_t region, int64_t instant);

#endif
