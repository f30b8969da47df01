/*
 * The catalog in LMDB: loading a checked catalog in one write transaction,
 * reading it back row by row, and dumping it as canonical CSV files.
 *
 * Loading clears and rewrites every database in a single transaction, so
 * a reader whose transaction began earlier keeps its snapshot of the old
 * catalog, and a reader that begins later sees the new one whole: LMDB's
 * copy-on-write pages give the contract's "old or new, never a mix".
 *
 * Layout. One named database per file, plus "meta". Keys sort with LMDB's
 * default comparison (memcmp, then the shorter first), which is the byte
 * order of ids the view numbers everything by, so a cursor walks each
 * table in index order and the loader can append pre-sorted keys. Ids
 * never hold a control byte, so 0x00 separates the parts of a composite
 * key and sorts "a" + 00 before "ab" + 00, as "a" sorts before "ab".
 * Instants in keys are big-endian int64 with the sign bit flipped, so
 * byte order is numeric order; counts in keys are big-endian uint64.
 * Values are little-endian and packed: fixed-size fields first, then
 * strings as a uint32 length and the bytes. Open bounds are stored as
 * INT64_MIN / INT64_MAX, a '*' band as the empty string.
 *
 *   db            key                              value
 *   meta          "format"                         u32 version (1)
 *   currencies    currency                         u8 exponent
 *   plans         plan_id                          i64 fee, str currency,
 *                                                  str packages (sorted,
 *                                                  one space apart)
 *   content       content_id                       str class, str package
 *   ppv_prices    content_id 00 currency           i64 price
 *   regions       region                           str timezone
 *   taxes         region 00 be64 valid_from        u32 rate, i64 valid_to
 *   bands         band 00 u8 first day, be16 from  u8 days, u16 from, to
 *   rates         rate_id                          u8 quality, u8 meter,
 *                                                  u64 unit, i64 price,
 *                                                  i64 from, i64 to,
 *                                                  str plan, str class,
 *                                                  str band
 *   tiers         rate_id 00 be64 from_units       i64 price
 *   allowances    rate_id                          u64 units
 *   subscriptions subscriber_id 00 be64 start      i64 end, str plan,
 *                                                  str region
 *
 * Days are a bit mask (bit 0 Monday); band bounds are minutes, 1440 for
 * "24:00". A band row's key uses its first day and start because rows
 * never overlap: no two rows of a band share both.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>

#include "catalog_store.h"
#include "streamrate/error.h"

#define FORMAT_VERSION 1
/*
 * The map is address space only (the file grows with the data), but tools
 * that limit address space (valgrind) cannot map tens of GiB, so a load
 * sizes it from the data: room for the new catalog, the previous one and
 * the one before (LMDB reuses a replaced catalog's pages two loads later),
 * with a floor. Readers use the size recorded in the file.
 */
#define SR_LMDB_MAP_MIN (256ull << 20)
#define SR_LMDB_ROW_BYTES 512

static const char *const db_names[SR__NFILES] = {
    "currencies", "plans", "content", "ppv_prices", "regions",       "taxes",
    "bands",      "rates", "tiers",   "allowances", "subscriptions",
};

int sr__lmdb_err(int rc)
{
	if (rc > 0)
		return -rc; /* a system errno */
	if (rc == MDB_MAP_FULL)
		return SR_EFULL;
	return rc ? SR_ELMDB : 0;
}

/* ---- Encoding ---- */

struct buf {
	char *p;
	size_t n, cap;
	bool nomem;
};

static char *grow(struct buf *b, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->nomem = true;
			return NULL;
		}
		b->p = p;
		b->cap = cap;
	}
	char *at = b->p + b->n;
	b->n += n;
	return at;
}

static void put_le(struct buf *b, uint64_t v, int bytes)
{
	char *p = grow(b, (size_t)bytes);
	for (int i = 0; p && i < bytes; i++)
		p[i] = (char)(v >> (8 * i));
}

static void put_be(struct buf *b, uint64_t v, int bytes)
{
	char *p = grow(b, (size_t)bytes);
	for (int i = 0; p && i < bytes; i++)
		p[i] = (char)(v >> (8 * (bytes - 1 - i)));
}

static void put_bytes(struct buf *b, struct sr_str s)
{
	char *p = grow(b, s.len);
	if (p && s.len)
		memcpy(p, s.ptr, s.len);
}

static void put_str(struct buf *b, struct sr_str s)
{
	put_le(b, s.len, 4);
	put_bytes(b, s);
}

/* A key part: separator, then an instant that sorts numerically. */
static void put_instant_key(struct buf *b, int64_t t)
{
	put_le(b, 0, 1);
	put_be(b, (uint64_t)t ^ (1ull << 63), 8);
}

static void enc_currency(const void *row, struct buf *k, struct buf *v)
{
	const struct sr__currency_row *r = row;
	put_bytes(k, r->code);
	put_le(v, r->exponent, 1);
}

static void enc_plan(const void *row, struct buf *k, struct buf *v)
{
	const struct sr__plan_row *r = row;
	put_bytes(k, r->id);
	put_le(v, (uint64_t)r->fee, 8);
	put_str(v, r->currency);
	put_str(v, r->packages);
}

static void enc_content(const void *row, struct buf *k, struct buf *v)
{
	const struct sr__content_row *r = row;
	put_bytes(k, r->id);
	put_str(v, r->klass);
	put_str(v, r->package);
}

static void enc_ppv(const void *row, struct buf *k, struct buf *v)
{
	const struct sr__ppv_row *r = row;
	put_bytes(k, r->content);
	put_le(k, 0, 1);
	put_bytes(k, r->currency);
	put_le(v, (uint64_t)r->price, 8);
}

static void enc_region(const void *row, struct buf *k, struct buf *v)
{
	const struct sr__region_row *r = row;
	put_bytes(k, r->id);
	put_str(v, r->timezone);
}

static void enc_tax(const void *row, struct buf *k, struct buf *v)
{
	const struct sr__tax_row *r = row;
	put_bytes(k, r->region);
	put_instant_key(k, r->from);
	put_le(v, r->rate, 4);
	put_le(v, (uint64_t)r->to, 8);
}

static void enc_band(const void *row, struct buf *k, struct buf *v)
{
	const struct sr__band_row *r = row;
	put_bytes(k, r->band);
	put_le(k, 0, 1);
	put_be(k, (uint64_t)__builtin_ctz(r->days), 1);
	put_be(k, r->from, 2);
	put_le(v, r->days, 1);
	put_le(v, r->from, 2);
	put_le(v, r->to, 2);
}

static void enc_rate(const void *row, struct buf *k, struct buf *v)
{
	const struct sr__rate_row *r = row;
	put_bytes(k, r->id);
	put_le(v, r->quality, 1);
	put_le(v, r->meter, 1);
	put_le(v, r->unit, 8);
	put_le(v, (uint64_t)r->price, 8);
	put_le(v, (uint64_t)r->from, 8);
	put_le(v, (uint64_t)r->to, 8);
	put_str(v, r->plan);
	put_str(v, r->klass);
	put_str(v, r->band);
}

static void enc_tier(const void *row, struct buf *k, struct buf *v)
{
	const struct sr__tier_row *r = row;
	put_bytes(k, r->rate);
	put_le(k, 0, 1);
	put_be(k, r->from_units, 8);
	put_le(v, (uint64_t)r->price, 8);
}

static void enc_allowance(const void *row, struct buf *k, struct buf *v)
{
	const struct sr__allowance_row *r = row;
	put_bytes(k, r->rate);
	put_le(v, r->units, 8);
}

static void enc_sub(const void *row, struct buf *k, struct buf *v)
{
	const struct sr__sub_row *r = row;
	put_bytes(k, r->subscriber);
	put_instant_key(k, r->start);
	put_le(v, (uint64_t)r->end, 8);
	put_str(v, r->plan);
	put_str(v, r->region);
}

/* Key and value of one row of each file, as the layout above says. */
static void (*const encode[SR__NFILES])(const void *, struct buf *,
                                        struct buf *) = {
    enc_currency, enc_plan, enc_content, enc_ppv,       enc_region, enc_tax,
    enc_band,     enc_rate, enc_tier,    enc_allowance, enc_sub,
};

/* ---- Decoding ---- */

struct rd {
	const unsigned char *p, *end;
	bool bad;
};

static uint64_t get_le(struct rd *r, int bytes)
{
	uint64_t v = 0;
	if (r->end - r->p < bytes) {
		r->bad = true;
		return 0;
	}
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += bytes;
	return v;
}

static uint64_t get_be(struct rd *r, int bytes)
{
	uint64_t v = 0;
	if (r->end - r->p < bytes) {
		r->bad = true;
		return 0;
	}
	for (int i = 0; i < bytes; i++)
		v = v << 8 | r->p[i];
	r->p += bytes;
	return v;
}

static struct sr_str get_str(struct rd *r)
{
	uint64_t n = get_le(r, 4);
	if ((uint64_t)(r->end - r->p) < n) {
		r->bad = true;
		return (struct sr_str){0};
	}
	struct sr_str s = {(const char *)r->p, (uint32_t)n};
	r->p += n;
	return s;
}

/* A key's id part, up to the 0x00 separator (or the whole key). */
static struct sr_str get_id(struct rd *r, bool composite)
{
	size_t n = (size_t)(r->end - r->p);
	const unsigned char *z = composite ? memchr(r->p, 0, n) : NULL;
	if (composite && !z) {
		r->bad = true;
		return (struct sr_str){0};
	}
	struct sr_str s = {(const char *)r->p,
	                   (uint32_t)(z ? (size_t)(z - r->p) : n)};
	r->p += s.len + (z != NULL);
	return s;
}

static struct sr_str rest(struct rd *r)
{
	struct sr_str s = {(const char *)r->p, (uint32_t)(r->end - r->p)};
	r->p = r->end;
	return s;
}

static int64_t get_instant_key(struct rd *r)
{
	return (int64_t)(get_be(r, 8) ^ (1ull << 63));
}

static uint32_t le32(const void *p)
{
	struct rd r = {p, (const unsigned char *)p + 4, false};
	return (uint32_t)get_le(&r, 4);
}

static void dec_currency(struct rd *k, struct rd *v, void *row)
{
	struct sr__currency_row *r = row;
	r->code = get_id(k, false);
	r->exponent = (uint8_t)get_le(v, 1);
}

static void dec_plan(struct rd *k, struct rd *v, void *row)
{
	struct sr__plan_row *r = row;
	r->id = get_id(k, false);
	r->fee = (int64_t)get_le(v, 8);
	r->currency = get_str(v);
	r->packages = get_str(v);
}

static void dec_content(struct rd *k, struct rd *v, void *row)
{
	struct sr__content_row *r = row;
	r->id = get_id(k, false);
	r->klass = get_str(v);
	r->package = get_str(v);
}

static void dec_ppv(struct rd *k, struct rd *v, void *row)
{
	struct sr__ppv_row *r = row;
	r->content = get_id(k, true);
	r->currency = rest(k);
	r->price = (int64_t)get_le(v, 8);
}

static void dec_region(struct rd *k, struct rd *v, void *row)
{
	struct sr__region_row *r = row;
	r->id = get_id(k, false);
	r->timezone = get_str(v);
}

static void dec_tax(struct rd *k, struct rd *v, void *row)
{
	struct sr__tax_row *r = row;
	r->region = get_id(k, true);
	r->from = get_instant_key(k);
	r->rate = (uint32_t)get_le(v, 4);
	r->to = (int64_t)get_le(v, 8);
}

static void dec_band(struct rd *k, struct rd *v, void *row)
{
	struct sr__band_row *r = row;
	r->band = get_id(k, true);
	get_be(k, 3); /* first day and start, repeated in the value */
	r->days = (uint8_t)get_le(v, 1);
	r->from = (uint16_t)get_le(v, 2);
	r->to = (uint16_t)get_le(v, 2);
}

static void dec_rate(struct rd *k, struct rd *v, void *row)
{
	struct sr__rate_row *r = row;
	r->id = get_id(k, false);
	r->quality = (uint8_t)get_le(v, 1);
	r->meter = (uint8_t)get_le(v, 1);
	r->unit = get_le(v, 8);
	r->price = (int64_t)get_le(v, 8);
	r->from = (int64_t)get_le(v, 8);
	r->to = (int64_t)get_le(v, 8);
	r->plan = get_str(v);
	r->klass = get_str(v);
	r->band = get_str(v);
}

static void dec_tier(struct rd *k, struct rd *v, void *row)
{
	struct sr__tier_row *r = row;
	r->rate = get_id(k, true);
	r->from_units = get_be(k, 8);
	r->price = (int64_t)get_le(v, 8);
}

static void dec_allowance(struct rd *k, struct rd *v, void *row)
{
	struct sr__allowance_row *r = row;
	r->rate = get_id(k, false);
	r->units = get_le(v, 8);
}

static void dec_sub(struct rd *k, struct rd *v, void *row)
{
	struct sr__sub_row *r = row;
	r->subscriber = get_id(k, true);
	r->start = get_instant_key(k);
	r->end = (int64_t)get_le(v, 8);
	r->plan = get_str(v);
	r->region = get_str(v);
}

static void (*const decode_row[SR__NFILES])(struct rd *, struct rd *,
                                            void *) = {
    dec_currency, dec_plan, dec_content, dec_ppv,       dec_region, dec_tax,
    dec_band,     dec_rate, dec_tier,    dec_allowance, dec_sub,
};

/* Decode an entry of file f into row (whose line the caller sets). */
static int decode(enum sr__file f, const MDB_val *key, const MDB_val *val,
                  void *row)
{
	const unsigned char *kp = key->mv_data, *vp = val->mv_data;
	struct rd k = {kp, kp + key->mv_size, false};
	struct rd v = {vp, vp + val->mv_size, false};
	memset(row, 0, sr__row_size[f]);
	decode_row[f](&k, &v, row);
	/* Every byte used, none missing: anything else is not our layout. */
	if (k.bad || v.bad || k.p != k.end || v.p != v.end)
		return SR_ECATALOG;
	return 0;
}

/* ---- Environments ---- */

/*
 * LMDB maps data.mdb and trusts it: in a file cut short (a copy, or a
 * disk that filled up) the first page past the end is a SIGBUS. Refuse a
 * store whose file is shorter than the pages its meta page has in use.
 */
static int check_size(MDB_env *env)
{
	MDB_envinfo info;
	MDB_stat ms;
	mdb_filehandle_t fd;
	struct stat st;
	if (mdb_env_info(env, &info) || mdb_env_stat(env, &ms) ||
	    mdb_env_get_fd(env, &fd) || fstat(fd, &st) < 0)
		return SR_ELMDB;
	if ((uint64_t)st.st_size <
	    ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize)
		return SR_ELMDB;
	return 0;
}

/* Open dbdir; mapsize 0 keeps the size recorded in the file. */
static int env_open(const char *dbdir, unsigned flags, size_t mapsize,
		    MDB_env **env)
{
	int rc = mdb_env_create(env);
	if (rc)
		return sr__lmdb_err(rc);
	if (mapsize)
		rc = mdb_env_set_mapsize(*env, mapsize);
	if (!rc)
		rc = mdb_env_set_maxdbs(*env, SR__NFILES + 4);
	if (!rc)
		rc = mdb_env_open(*env, dbdir, flags, 0664);
	int err = sr__lmdb_err(rc);
	if (!err)
		err = check_size(*env);
	if (err) {
		mdb_env_close(*env);
		*env = NULL;
	}
	return err;
}

/* The format stamp and the table handles of an open snapshot. */
static int open_tables(struct sr__store *s)
{
	MDB_dbi meta;
	MDB_val key = {6, "format"}, val;
	int rc = mdb_dbi_open(s->txn, "meta", 0, &meta);
	if (!rc)
		rc = mdb_get(s->txn, meta, &key, &val);
	if (rc == MDB_NOTFOUND)
		return SR_ENOCATALOG;
	if (rc)
		return sr__lmdb_err(rc);
	if (val.mv_size != 4 || le32(val.mv_data) != FORMAT_VERSION)
		return SR_ECATALOG;
	for (int f = 0; f < SR__NFILES && !rc; f++)
		rc = mdb_dbi_open(s->txn, db_names[f], 0, &s->dbi[f]);
	return rc == MDB_NOTFOUND ? SR_ECATALOG : sr__lmdb_err(rc);
}

int sr__store_open(const char *dbdir, struct sr__store *s)
{
	struct stat st;
	*s = (struct sr__store){0};
	int err = env_open(dbdir, MDB_RDONLY, 0, &s->env);
	/* A directory without data.mdb holds no catalog yet. */
	if (err == -ENOENT && stat(dbdir, &st) == 0 && S_ISDIR(st.st_mode))
		return SR_ENOCATALOG;
	/* A data.mdb too short for its meta pages (empty, say) looks new to
	 * LMDB, which then fails to initialise it read-only. */
	if (err == -EBADF)
		return SR_ELMDB;
	if (err)
		return err;
	err = sr__lmdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->txn));
	if (err)
		goto err_env;
	err = open_tables(s);
	if (err)
		goto err_env;
	return 0;
err_env:
	sr__store_close(s);
	return err;
}

void sr__store_close(struct sr__store *s)
{
	if (s->txn)
		mdb_txn_abort(s->txn);
	if (s->env)
		mdb_env_close(s->env);
	*s = (struct sr__store){0};
}

uint64_t sr__store_count(struct sr__store *s, enum sr__file f)
{
	MDB_stat st;
	return mdb_stat(s->txn, s->dbi[f], &st) ? 0 : st.ms_entries;
}

int sr__store_each(struct sr__store *s, enum sr__file f, sr__row_fn fn,
                   void *ctx)
{
	MDB_cursor *cur;
	MDB_val k, v;
	union {
		struct sr__plan_row plan;
		struct sr__rate_row rate;
		struct sr__sub_row sub;
		char any[256];
	} row;

	int rc = mdb_cursor_open(s->txn, s->dbi[f], &cur);
	if (rc)
		return sr__lmdb_err(rc);
	int err = 0;
	uint32_t line = 1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc && !err;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		err = decode(f, &k, &v, &row);
		/* Every row struct starts with its line. */
		row.plan.line = ++line;
		if (!err)
			err = fn(ctx, &row);
	}
	mdb_cursor_close(cur);
	if (!err && rc != MDB_NOTFOUND)
		err = sr__lmdb_err(rc);
	return err;
}

/* ---- Loading ---- */

struct entry {
	size_t k, v;
	uint32_t klen, vlen;
};

/* Keys are sorted like LMDB's default comparison: memcmp, then length. */
static int entry_cmp(const void *a, const void *b, void *ctx)
{
	const struct entry *x = a, *y = b;
	const char *keys = ctx;
	uint32_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(keys + x->k, keys + y->k, n);
	if (c)
		return c;
	return (x->klen > y->klen) - (x->klen < y->klen);
}

static bool sorted(const struct entry *e, uint32_t n, const char *keys)
{
	for (uint32_t i = 1; i < n; i++)
		if (entry_cmp(&e[i - 1], &e[i], (void *)keys) >= 0)
			return false;
	return true;
}

/*
 * Encode every row of file f, in the order a check left (when it did),
 * sort the keys unless that order is already right, and append them.
 */
static int put_table(MDB_txn *txn, MDB_dbi dbi, struct sr__cat *cat,
                     enum sr__file f)
{
	uint32_t n = cat->rows[f].n;
	const uint32_t *order = cat->order[f];
	struct buf k = {0}, v = {0};
	struct entry *e = malloc(((size_t)n + 1) * sizeof(*e));
	int err = e ? 0 : SR_ENOMEM;

	for (uint32_t i = 0; i < n && !err; i++) {
		size_t k0 = k.n, v0 = v.n, row = order ? order[i] : i;
		encode[f](cat->rows[f].p + row * sr__row_size[f], &k, &v);
		e[i] = (struct entry){k0, v0, (uint32_t)(k.n - k0),
		                      (uint32_t)(v.n - v0)};
		if (k.nomem || v.nomem)
			err = SR_ENOMEM;
	}
	if (!err && !sorted(e, n, k.p))
		qsort_r(e, n, sizeof(*e), entry_cmp, k.p);
	for (uint32_t i = 0; i < n && !err; i++) {
		MDB_val key = {e[i].klen, k.p + e[i].k};
		MDB_val val = {e[i].vlen, v.p + e[i].v};
		/* Sorted input: append to the last page instead of seeking. */
		err = sr__lmdb_err(mdb_put(txn, dbi, &key, &val, MDB_APPEND));
	}
	free(e);
	free(k.p);
	free(v.p);
	return err;
}

static int put_all(MDB_txn *txn, struct sr__cat *cat)
{
	MDB_dbi dbi;
	uint32_t version = FORMAT_VERSION;
	MDB_val key = {6, "format"}, val = {4, &version};

	for (int f = 0; f < SR__NFILES; f++) {
		int rc = mdb_dbi_open(txn, db_names[f], MDB_CREATE, &dbi);
		/* Empty the table inside this transaction: readers keep
		 * the pages of their own snapshot. */
		if (!rc)
			rc = mdb_drop(txn, dbi, 0);
		if (rc)
			return sr__lmdb_err(rc);
		int err = put_table(txn, dbi, cat, (enum sr__file)f);
		if (err)
			return err;
	}
	int rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi);
	if (!rc)
		rc = mdb_put(txn, dbi, &key, &val, 0);
	return sr__lmdb_err(rc);
}

/* A map for the catalog being stored next to what the file holds. */
static size_t map_size(const char *dbdir, const struct sr__cat *cat)
{
	char path[4096];
	struct stat st;
	uint64_t rows = 0, size = 0;
	for (int f = 0; f < SR__NFILES; f++)
		rows += cat->rows[f].n;
	snprintf(path, sizeof(path), "%s/data.mdb", dbdir);
	if (stat(path, &st) == 0)
		size = (uint64_t)st.st_size;
	size = size * 2 + rows * SR_LMDB_ROW_BYTES * 3;
	if (size < SR_LMDB_MAP_MIN)
		size = SR_LMDB_MAP_MIN;
	return (size_t)((size + (64u << 20) - 1) / (64u << 20) * (64u << 20));
}

static int store(const char *dbdir, struct sr__cat *cat)
{
	MDB_env *env;
	MDB_txn *txn;

	int err = sr__mkdirs(dbdir);
	if (err)
		return err;
	err = env_open(dbdir, 0, map_size(dbdir, cat), &env);
	if (err)
		return err;
	int rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc) {
		err = sr__lmdb_err(rc);
		goto err_env;
	}
	err = put_all(txn, cat);
	if (err) {
		mdb_txn_abort(txn);
		goto err_env;
	}
	err = sr__lmdb_err(mdb_txn_commit(txn));
err_env:
	mdb_env_close(env);
	return err;
}

int sr_catalog_load(const char *dbdir, const char *dir, sr_diag_fn diag,
                    void *ctx)
{
	struct sr__cat cat;
	int err = sr__cat_parse(&cat, dir, diag, ctx);
	if (!err)
		err = store(dbdir, &cat);
	sr__cat_free(&cat);
	return err;
}

const char *sr_catalog_file_name(unsigned i)
{
	return i < SR__NFILES ? sr__file_names[i] : NULL;
}

int sr_catalog_count(const char *dbdir, uint64_t rows[SR_CATALOG_FILES])
{
	struct sr__store s;
	int err = sr__store_open(dbdir, &s);
	if (err)
		return err;
	for (int f = 0; f < SR__NFILES; f++)
		rows[f] = sr__store_count(&s, (enum sr__file)f);
	sr__store_close(&s);
	return 0;
}
