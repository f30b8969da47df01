/*
 * The catalog as rows: what the loader reads from the eleven CSV files,
 * what it checks, and what the store encodes into LMDB and decodes back.
 * One row struct per file, holding parsed values and views of id bytes;
 * a parsed catalog (struct sr__cat) owns the file buffers those views point
 * into, an arena for everything else, and the diagnostics found so far.
 *
 * Shared by catalog_read.c (files into rows, the rules of one row),
 * catalog_check.c (the rules between rows and files), catalog_store.c
 * (rows into LMDB and back) and catalog.c (the compiled view). Internal:
 * nothing here is public API.
 */
#ifndef SR_CATALOG_ROWS_H
#define SR_CATALOG_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog_arena.h"
#include "csv.h"
#include "streamrate/catalog.h"
#include "columns.h"
#include "streamrate/types.h"

/* The eleven files in the order of SPEC section 2 (and of dumps). */
enum sr__file {
	SR__CURRENCIES,
	SR__PLANS,
	SR__CONTENT,
	SR__PPV,
	SR__REGIONS,
	SR__TAXES,
	SR__BANDS,
	SR__RATES,
	SR__TIERS,
	SR__ALLOWANCES,
	SR__SUBSCRIPTIONS,
	SR__NFILES
};

/* "currencies.csv" .. "subscriptions.csv". */
extern const char *const sr__file_names[SR__NFILES];
/* Column names of each file in SPEC order, NULL-terminated. */
extern const char *const *const sr__file_columns[SR__NFILES];

/* Size of each file's row struct. */
extern const size_t sr__row_size[SR__NFILES];

/* Band bounds are minutes of the local day; 1440 is "24:00". */
#define SR_DAY_MINUTES 1440

/*
 * Every row starts with where it came from; bad is set when one of its
 * fields broke a rule, so that relational checks skip it instead of
 * reporting the same problem twice. An id field that broke the id rule is
 * left empty (len 0) and is neither indexed nor looked up.
 */
struct sr__currency_row {
	uint32_t line;
	bool bad;
	uint8_t exponent;
	struct sr_str code;
};

struct sr__plan_row {
	uint32_t line;
	bool bad;
	int64_t fee;
	struct sr_str id, currency;
	/* Canonical list: package ids in byte order, one space apart. */
	struct sr_str packages;
};

struct sr__content_row {
	uint32_t line;
	bool bad;
	struct sr_str id, klass, package; /* package empty for PPV */
};

struct sr__ppv_row {
	uint32_t line;
	bool bad;
	int64_t price;
	struct sr_str content, currency;
};

struct sr__region_row {
	uint32_t line;
	bool bad;
	struct sr_str id, timezone;
};

struct sr__tax_row {
	uint32_t line;
	bool bad;
	uint32_t rate; /* percent x 10^4 */
	int64_t from, to;
	struct sr_str region;
};

struct sr__band_row {
	uint32_t line;
	bool bad;
	uint8_t days;      /* bit 0 Monday .. bit 6 Sunday */
	uint16_t from, to; /* minutes, from < to <= 1440 */
	struct sr_str band;
};

struct sr__rate_row {
	uint32_t line;
	bool bad;
	uint8_t quality; /* enum sr_quality */
	uint8_t meter;   /* enum sr_meter */
	uint64_t unit;
	int64_t price, from, to;
	struct sr_str id, plan, klass;
	struct sr_str band; /* empty for '*' */
};

struct sr__tier_row {
	uint32_t line;
	bool bad;
	uint64_t from_units;
	int64_t price;
	struct sr_str rate;
};

struct sr__allowance_row {
	uint32_t line;
	bool bad;
	uint64_t units;
	struct sr_str rate;
};

struct sr__sub_row {
	uint32_t line;
	bool bad;
	int64_t start, end;
	struct sr_str subscriber, plan, region;
};

/* A growable array of fixed-size elements. */
struct sr__vec {
	char *p;
	uint32_t n, cap;
};

/* A new zeroed element of size bytes at the end, or NULL (out of memory). */
void *sr__vec_push(struct sr__vec *v, size_t size);

struct sr__diag {
	uint32_t file, line, seq;
	const char *msg;
};

/* A catalog read from files, with its diagnostics. */
struct sr__cat {
	struct sr__arena arena;
	char *buf[SR__NFILES];
	struct sr__vec rows[SR__NFILES];
	bool usable[SR__NFILES]; /* read, with a complete header */
	/* Row numbers in key order, when a check has sorted them already. */
	uint32_t *order[SR__NFILES];
	struct sr__vec diags;
	bool io_error; /* a file could not be read (not its content's fault) */
	bool nomem;
};

/* Record a problem (printf-style); allocation failures set cat->nomem. */
__attribute__((format(printf, 4, 5))) void sr__diag(struct sr__cat *cat,
                                                    enum sr__file file,
                                                    uint32_t line,
                                                    const char *fmt, ...);
/* s made printable for a message: control bytes as \xHH, long ids cut. */
const char *sr__show(struct sr__cat *cat, struct sr_str s);

/* Read and check each file on its own (catalog_read.c). */
int sr__cat_read(struct sr__cat *cat, const char *dir);
/* Check the rules between rows and files (catalog_check.c). */
void sr__cat_relate(struct sr__cat *cat);
/*
 * Read dir and check everything; report the diagnostics in file and line
 * order through diag. Returns 0, SR_ECATALOG, SR_EIO or SR_ENOMEM; the
 * caller frees cat with sr__cat_free() whatever the result.
 */
int sr__cat_parse(struct sr__cat *cat, const char *dir, sr_diag_fn diag,
                  void *ctx);
void sr__cat_free(struct sr__cat *cat);

/* Create path and its missing parents: 0 or a negative errno. */
int sr__mkdirs(const char *path);

/* Byte order of ids: memcmp, then the shorter first. */
int sr__str_cmp(struct sr_str a, struct sr_str b);

/* "mon".."sun". */
extern const char *const sr__weekday_names[7];

#endif
