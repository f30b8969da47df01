/*
 * The workload generator's shared parts: a seeded PRNG, a big-buffer file
 * writer with hand-rolled number formatting, civil-calendar and time-zone
 * arithmetic, the in-memory model of the generated catalog, and the state
 * the session writer and its edge-case makers share.
 *
 * The generator depends on libc only: it must be able to produce inputs the
 * engine has never seen, so it shares no code with it. Everything it
 * writes is a function of its arguments: one xoshiro256** stream per
 * concern, seeded from the user's seed with splitmix64, never rand().
 */
#ifndef SR_TOOLS_GEN_H
#define SR_TOOLS_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SR_GEN_DAY      86400
#define SR_GEN_OPEN_END INT32_MAX /* a date bound left empty */
#define SR_GEN_NO_DATE  INT32_MIN /* an empty valid_from */
#define SR_GEN_NONE     UINT32_MAX

/* ---- PRNG --------------------------------------------------------------*/

struct gen_rng {
	uint64_t s[4];
};

/* Seed one independent stream; the same (seed, stream) gives the same
 * sequence on every machine. */
void sr__gen_rng_seed(struct gen_rng *rng, uint64_t seed, uint64_t stream);
/* splitmix64's finaliser: a bijection of 64-bit values. */
uint64_t sr__gen_mix(uint64_t x);

static inline uint64_t rng_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(struct gen_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rng_rotl(s[3], 45);
	return result;
}

/* Uniform in [0, n) by a 128-bit multiply: the bias is below 2^-32 for
 * the small n used here, and it costs no division. */
static inline uint64_t rng_below(struct gen_rng *rng, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(rng) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline int64_t rng_range(struct gen_rng *rng, int64_t lo, int64_t hi)
{
	return lo + (int64_t)rng_below(rng, (uint64_t)(hi - lo) + 1);
}

/* True with probability per_mille / 1000. */
static inline bool rng_chance(struct gen_rng *rng, unsigned per_mille)
{
	return rng_below(rng, 1000) < per_mille;
}

/* ---- Output ------------------------------------------------------------*/

#define SR_GEN_OUT_CAP (8u << 20)

/* A file written through one big buffer; the first error sticks. */
struct gen_out {
	int fd;
	int err; /* 0 or an errno value */
	char *buf;
	size_t len;
	const char *path;
};

int sr__gen_out_open(struct gen_out *out, const char *path);
/* Flushes and closes; returns 0 or the first errno value met. */
int sr__gen_out_close(struct gen_out *out);
void sr__gen_out_drain(struct gen_out *out);
void sr__gen_out_bytes(struct gen_out *out, const void *p, size_t n);
void sr__gen_out_printf(struct gen_out *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Room for n more bytes (n <= SR_GEN_OUT_CAP); commit with out_done(). */
static inline char *out_room(struct gen_out *out, size_t n)
{
	if (SR_GEN_OUT_CAP - out->len < n)
		sr__gen_out_drain(out);
	return out->buf + out->len;
}

static inline void out_done(struct gen_out *out, char *end)
{
	out->len = (size_t)(end - out->buf);
}

/* ---- Formatting --------------------------------------------------------*/

char *sr__gen_put_u64(char *p, uint64_t v);
/* v in decimal, left-padded with zeros to width digits. */
char *sr__gen_put_pad(char *p, uint64_t v, int width);
char *sr__gen_put_str(char *p, const char *s);
/* "YYYY-MM-DD" of a day number (days since 1970-01-01). */
char *sr__gen_put_date(char *p, int32_t day);
/* A micro-unit amount with between min_frac and 6 fractional digits,
 * trailing zeros dropped down to min_frac. */
char *sr__gen_put_amount(char *p, int64_t micro, int min_frac);

/* ---- Calendar and time zones -------------------------------------------*/

int32_t sr__gen_days_from_civil(int y, unsigned m, unsigned d);
void sr__gen_civil_from_days(int32_t z, int *y, unsigned *m, unsigned *d);
unsigned sr__gen_month_days(int y, unsigned m);
/* 0 = Monday .. 6 = Sunday. */
unsigned sr__gen_weekday(int32_t day);
/* Floor division of an instant (or a local wall time) into days. */
static inline int32_t gen_day_of(int64_t t)
{
	return (int32_t)((t >= 0 ? t : t - (SR_GEN_DAY - 1)) / SR_GEN_DAY);
}

enum gen_dst {
	SR_GEN_DST_NONE,
	SR_GEN_DST_EU, /* last Sunday of March/October, 01:00 UTC */
	SR_GEN_DST_US, /* second Sunday of March, first of November, 02:00 */
	SR_GEN_DST_AU, /* first Sunday of October, first of April (south) */
};

/* A time zone as the rules in force since 2011; enough for the zones the
 * generator names, which all follow one of these rules. */
struct gen_zone {
	const char *name;
	int32_t std_off; /* seconds east of UTC */
	enum gen_dst dst;
};

int32_t sr__gen_zone_offset(const struct gen_zone *z, int64_t t);
/* The DST start and end instants (UTC) of a year; false without DST. */
bool sr__gen_zone_switches(const struct gen_zone *z, int year, int64_t *on,
                           int64_t *off);
/* An instant whose wall time in z is local (in a skipped hour: one of the
 * two readings; in a repeated hour: the first). */
int64_t sr__gen_zone_to_utc(const struct gen_zone *z, int64_t local);

/* ---- Options -----------------------------------------------------------*/

/* Edge-case kinds of the session files, in --mix order. */
enum gen_kind {
	SR_GEN_K_FIELD,
	SR_GEN_K_LINE,
	SR_GEN_K_DUP,
	SR_GEN_K_QUOTE,
	SR_GEN_K_CRLF,
	SR_GEN_K_EMPTY,
	SR_GEN_K_OFFSET,
	SR_GEN_K_PERIOD,
	SR_GEN_K_UNKNOWN,
	SR_GEN_K_NOSUB,
	SR_GEN_K_DST,
	SR_GEN_K_BOUND,
	SR_GEN_K_PPV,
	SR_GEN_K_NOENT,
	SR_GEN_K_BIG,
	SR_GEN_K_TIER,
	SR_GEN_K_EOF,
	SR_GEN_NKINDS,
};

extern const char *const sr__gen_kind_names[SR_GEN_NKINDS];
extern const unsigned sr__gen_kind_defaults[SR_GEN_NKINDS];

enum gen_header {
	SR_GEN_H_STD,     /* the seven required columns, spec order */
	SR_GEN_H_FULL,    /* required and optional columns, spec order */
	SR_GEN_H_SHUFFLE, /* permuted, with optional and unknown columns */
	SR_GEN_H_MIXED,   /* file 1 full, the others drawn per file */
};

struct gen_params {
	uint64_t seed;
	int year;
	unsigned month;
	uint32_t subscribers, content, plans, rates, files;
	uint64_t sessions;
	uint32_t edge_ppm; /* share of edge-case records, per million */
	unsigned weights[SR_GEN_NKINDS];
	enum gen_header header;
	int bom; /* -1 drawn per file (mixed headers only), 0 never, 1 always */
	bool write_catalog, write_sessions;
	const char *out;
};

/* ---- The catalog model -------------------------------------------------*/

enum gen_class {
	SR_GEN_LIVE,
	SR_GEN_VOD,
	SR_GEN_MOVIE,
	SR_GEN_SPORTS,
	SR_GEN_KIDS,
	SR_GEN_NEWS,
	SR_GEN_TRAILER,
	SR_GEN_PPV,
	SR_GEN_NCLASSES,
};

enum {
	SR_GEN_NCURRENCIES = 9,
	SR_GEN_NREGIONS = 12,
	SR_GEN_NBANDS = 5,
	SR_GEN_NBAND_IDS = 4,
};

struct gen_currency {
	const char *code;
	int exponent;
	int32_t per_eur_milli; /* rough exchange rate, x1000 */
};

struct gen_region {
	const char *id;
	const struct gen_zone *zone;
	unsigned currency;
	const char *country;
};

/* One row of bands.csv; days is a bit set, bit 0 = Monday. */
struct gen_band_row {
	const char *band;
	unsigned days;
	int32_t from, to; /* seconds of the local day */
};

extern const struct gen_currency sr__gen_currencies[SR_GEN_NCURRENCIES];
extern const struct gen_region sr__gen_regions[SR_GEN_NREGIONS];
extern const struct gen_band_row sr__gen_bands[SR_GEN_NBANDS];
extern const char *const sr__gen_band_ids[SR_GEN_NBAND_IDS];
extern const char *const sr__gen_class_names[SR_GEN_NCLASSES];

struct gen_plan {
	char id[32];
	unsigned currency;
	uint32_t packages; /* bit set of package numbers */
	int64_t fee;
	uint32_t *entitled; /* content a session of this plan may play */
	uint32_t nentitled;
	uint32_t *stable; /* subscribers on this plan for the whole period */
	uint32_t nstable;
};

struct gen_content {
	uint8_t klass;
	uint8_t package;
	uint16_t priced; /* PPV: bit set of currencies with a price */
	int64_t price_eur;
};

enum gen_sub_kind {
	SR_GEN_S_STABLE,  /* one plan in force over the whole period */
	SR_GEN_S_CHANGE,  /* changes plan on a day of the period */
	SR_GEN_S_JOIN,    /* starts on a day of the period */
	SR_GEN_S_LEAVE,   /* ends on a day of the period */
	SR_GEN_S_GAP,     /* leaves and comes back within the period */
	SR_GEN_S_SHORT,   /* starts and ends within the period */
	SR_GEN_S_PAST,    /* ended before the period */
	SR_GEN_S_FUTURE,  /* starts after the period */
	SR_GEN_S_HISTORY, /* an older row before the one in force */
};

/* A subscriber's rows: rows[0] starts first. Days since 1970-01-01. */
struct gen_sub {
	int32_t from[2], to[2];
	uint16_t plan[2];
	uint8_t region[2];
	uint8_t nrows;
	uint8_t kind;
	uint8_t reserved; /* kept out of random picks: see struct gen_acct */
};

enum gen_meter { SR_GEN_TIME, SR_GEN_BYTES };

struct gen_rate {
	uint32_t plan;
	uint8_t klass;
	uint8_t quality; /* 0 = '*', 1 SD, 2 HD, 3 UHD */
	uint8_t band;    /* 0 = '*', else sr__gen_band_ids index + 1 */
	uint8_t meter;
	uint8_t version;
	uint8_t ntiers;
	uint32_t unit;
	int64_t price;
	int32_t from, to;  /* days, SR_GEN_NO_DATE / SR_GEN_OPEN_END if empty */
	int64_t allowance; /* -1: none */
	uint64_t tier_from[3];
	int64_t tier_price[3];
};

struct gen_tax {
	uint8_t region;
	uint32_t rate_e4; /* percent x 10^4 */
	int32_t from, to;
};

/* A day on which a rate of (plan, class) is replaced or starts. */
struct gen_switch {
	uint32_t plan;
	uint8_t klass;
	int32_t day;
};

/* A subscriber reserved for one simple rate (quality '*', band '*', valid
 * all period, alone for its plan and class): its sessions sum to exactly
 * target units, right on an allowance or tier boundary. */
struct gen_acct {
	uint32_t sub;
	uint32_t rate;
	uint64_t target;
};

struct gen_model {
	int year;
	unsigned month;
	int32_t day0, ndays; /* first day of the period, days in it */
	int64_t t0, t1;      /* the period's instants, [t0, t1) */
	int id_width;        /* digits of subscriber numbers */

	uint32_t nplans, ncontent, nsubs, nrates, ntaxes, nswitches, naccts;
	struct gen_plan *plans;
	struct gen_content *content;
	struct gen_sub *subs;
	struct gen_rate *rates;
	struct gen_tax *taxes;
	struct gen_switch *switches;
	struct gen_acct *accts;

	uint32_t *by_class[SR_GEN_NCLASSES];
	uint32_t nby_class[SR_GEN_NCLASSES];
	uint32_t *stable; /* every stable, unreserved subscriber */
	uint32_t nstable;
	uint32_t *limited; /* subscribers out of force for part of the period */
	uint32_t nlimited;
	uint32_t *region_stable[SR_GEN_NREGIONS];
	uint32_t nregion_stable[SR_GEN_NREGIONS];
};

/* Builds the whole catalog in memory; 0 or -ENOMEM. */
int sr__gen_model_build(struct gen_model *m, const struct gen_params *p);
void sr__gen_model_finish(struct gen_model *m);
/* Writes the eleven files into dir (created); 0 or an errno value. */
int sr__gen_catalog_write(const struct gen_model *m, const char *dir);

/* Formats of ids shared by the catalog and the session writers. */
char *sr__gen_put_sub_id(char *p, const struct gen_model *m, uint32_t sub);
char *sr__gen_put_content_id(char *p, const struct gen_model *m,
                             uint32_t content);
/* The row of a subscriber in force at t, or -1. */
int sr__gen_sub_row_at(const struct gen_sub *s, int64_t t);
/* Subscribers, accountants and the indexes of gen_subs.c. */
int sr__gen_subs_build(struct gen_model *m, struct gen_rng *rng);

/* A day of the period other than the first: a change on the 1st would not
 * happen inside the period. */
static inline int32_t gen_day_in_period(const struct gen_model *m,
                                        struct gen_rng *rng)
{
	return m->day0 + (int32_t)rng_range(rng, 1, m->ndays - 1);
}

/* ---- The session writer ------------------------------------------------*/

enum gen_col {
	SR_GEN_C_SESSION,
	SR_GEN_C_SUBSCRIBER,
	SR_GEN_C_CONTENT,
	SR_GEN_C_START,
	SR_GEN_C_DURATION,
	SR_GEN_C_BYTES,
	SR_GEN_C_QUALITY,
	SR_GEN_C_DEVICE,
	SR_GEN_C_IP,
	SR_GEN_C_COUNTRY,
	SR_GEN_C_EXTRA,
	SR_GEN_C_CDN,
	SR_GEN_C_AGENT,
	SR_GEN_NCOLS,
};

#define SR_GEN_NREQUIRED 7
#define SR_GEN_RAW_CAP   (160u << 10)
#define SR_GEN_RING      4096

/*
 * One record before it is written: the values it stands for, and raw
 * bytes for the columns an edge case replaces (written as they are, so
 * they carry their own quotes). Kept in one reused struct: no allocation
 * per record.
 */
struct gen_rec {
	uint32_t sub;     /* subscriber index, may be >= nsubs (unknown) */
	uint32_t content; /* content index, may be >= ncontent (unknown) */
	uint64_t sid;     /* session number; the id is a bijection of it */
	int64_t t;        /* start instant */
	int32_t off;      /* offset written, seconds east of UTC */
	bool zulu;        /* write Z rather than +00:00-style offsets */
	uint8_t frac;     /* fractional digits written */
	uint8_t quality;  /* 1 SD, 2 HD, 3 UHD */
	uint8_t region;
	uint32_t duration;
	uint64_t bytes;
	bool crlf;
	int8_t fields_delta; /* -1 drop the last field, +1 add one */
	bool counted;        /* passes steps 1 and 2 (as far as we know) */
	bool keep;           /* remember the pair for later duplicates */
	uint32_t raw_mask;   /* bit per column with raw bytes */
	uint32_t raw_off[SR_GEN_NCOLS], raw_len[SR_GEN_NCOLS];
	uint32_t raw_used;
	char *raw; /* SR_GEN_RAW_CAP bytes */
};

/* A (subscriber, session) pair written earlier, for duplicates. */
struct gen_pair {
	uint32_t sub;
	uint64_t sid;
};

struct gen_ses {
	const struct gen_model *m;
	const struct gen_params *p;
	struct gen_rng rng;
	struct gen_out out;
	uint64_t written, total;
	uint64_t next_sid;
	uint32_t file; /* 0-based */
	uint32_t ncols;
	uint8_t cols[SR_GEN_NCOLS];
	bool has_extra;     /* this file has an unknown column */
	uint32_t long_left; /* >64 KiB records still allowed in this file */
	uint32_t big_cursor, acct_cursor;
	uint64_t sid_key;
	struct gen_pair counted[SR_GEN_RING], uncounted[SR_GEN_RING];
	uint64_t ncounted, nuncounted;
	uint32_t cum[SR_GEN_NKINDS]; /* cumulative kind weights */
	char *scratch;               /* a rendered record, for measuring */
	struct gen_rec rec;
};

/* Writes the session files; 0 or an errno value (already reported).
 * *written is the number of records (and empty lines) written. */
int sr__gen_sessions_write(const struct gen_model *m,
                           const struct gen_params *p, uint64_t *written);

/* Shared by the edge-case makers (gen_edge.c). */
void sr__gen_rec_reset(struct gen_ses *s, struct gen_rec *r);
/* A realistic record at about instant t; false if no subscriber fits. */
bool sr__gen_rec_normal(struct gen_ses *s, struct gen_rec *r, int64_t t);
/* Fills the values of r for subscriber sub at t (plan in force, or the
 * first row's plan), keeping sub. */
void sr__gen_rec_for_sub(struct gen_ses *s, struct gen_rec *r, uint32_t sub,
                         int64_t t);
void sr__gen_rec_raw(struct gen_rec *r, enum gen_col col, const void *bytes,
                     size_t n);
/* Formats the value of col from r into p as written when no raw bytes
 * replace it; returns the end. */
char *sr__gen_put_value(const struct gen_ses *s, const struct gen_rec *r,
                        enum gen_col col, char *p);
/* The record as it will be written, without its line end. */
char *sr__gen_render(const struct gen_ses *s, const struct gen_rec *r, char *p);
void sr__gen_emit(struct gen_ses *s, struct gen_rec *r);
void sr__gen_emit_bytes(struct gen_ses *s, const void *p, size_t n);
/* A subscriber index for random picks: never a reserved one. */
uint32_t sr__gen_pick_sub(struct gen_ses *s);
/* An instant in the period. */
int64_t sr__gen_pick_instant(struct gen_ses *s);
/* Writes one edge case of a kind; returns the number of records written
 * (0 if the kind found nothing to work on). gen_edge.c makes the dialect
 * kinds and hands the others to gen_aim.c. */
uint32_t sr__gen_edge(struct gen_ses *s, enum gen_kind kind);
uint32_t sr__gen_aim(struct gen_ses *s, enum gen_kind kind);

#define SR_GEN_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Raw bytes for a column, from a C string. */
static inline void raw_str(struct gen_rec *r, enum gen_col col, const char *s)
{
	sr__gen_rec_raw(r, col, s, strlen(s));
}

/* The record's own value of col, into buf (at least 256 bytes). */
static inline size_t value_of(struct gen_ses *s, struct gen_rec *r,
                              enum gen_col col, char *buf)
{
	return (size_t)(sr__gen_put_value(s, r, col, buf) - buf);
}

/* A realistic record at a random instant of the period. */
static inline void start_normal(struct gen_ses *s, struct gen_rec *r)
{
	sr__gen_rec_reset(s, r);
	sr__gen_rec_normal(s, r, sr__gen_pick_instant(s));
}

#endif
