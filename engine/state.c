/*
 * The follow state in LMDB. One named database per kind of fact, all
 * written in the one transaction of a commit:
 *
 *   db       key                                  value
 *   meta     name                                 bytes
 *   inputs   path                                 u64 dev, u64 ino, u64 fp,
 *                                                 u32 fp_len, u64 off,
 *                                                 u64 line, i64 time
 *   outputs  file name                            u64 committed size
 *   keys     period be64 block number             16-byte keys (lo, hi)
 *   ledger   period 00 subscriber                 per item: u8 kind,
 *                                                 u8 item length, item,
 *                                                 i64 sessions, u128 count
 *   closed   period                               u8 1
 *
 * Numbers in values are little-endian. meta "format" names this layout
 * (SR_STATE_FORMAT); a state of another layout is refused, not misread.
 * Duplicate keys are appended in blocks
 * of up to 4,000 per period (no B-tree search per key): the set of the
 * open periods is read whole at start into memory, where the membership
 * tests happen; closing a period drops its blocks. Ledger keys use 0x00
 * between period and subscriber: no id holds it.
 */
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_rows.h"
#include "catalog_store.h"
#include "mem.h"
#include "state.h"
#include "streamrate/error.h"

/* Address space only, as for the catalog (and the same build override). */
#ifndef SR_STATE_MAPSIZE
#ifdef SR_LMDB_MAPSIZE
#define SR_STATE_MAPSIZE SR_LMDB_MAPSIZE
#else
#define SR_STATE_MAPSIZE (64ull << 30)
#endif
#endif

enum { DB_META, DB_INPUTS, DB_OUTPUTS, DB_KEYS, DB_LEDGER, DB_CLOSED, NDB };

static const char *const db_names[NDB] = {"meta", "inputs", "outputs",
                                          "keys", "ledger", "closed"};

struct sr__state {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi[NDB];
	bool fork; /* shares the environment of another handle */
};

/* The layout of the values, in meta "format". Layout 1 (no "format")
 * kept one ledger key per subscriber and item. */
#define SR_STATE_FORMAT "2"

/* A new state gets this layout; an existing one must have it. */
static int check_format(struct sr__state *s, MDB_txn *txn)
{
	MDB_val k = {6, "format"}, v;
	int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
	if (!rc)
		return v.mv_size == strlen(SR_STATE_FORMAT) &&
		               !memcmp(v.mv_data, SR_STATE_FORMAT, v.mv_size)
		           ? 0
		           : SR_ESTATEFORMAT;
	if (rc != MDB_NOTFOUND)
		return sr__lmdb_err(rc);
	MDB_stat st;
	rc = mdb_stat(txn, s->dbi[DB_INPUTS], &st);
	if (rc)
		return sr__lmdb_err(rc);
	if (st.ms_entries)
		return SR_ESTATEFORMAT; /* written before "format" existed */
	v = (MDB_val){strlen(SR_STATE_FORMAT), SR_STATE_FORMAT};
	return sr__lmdb_err(mdb_put(txn, s->dbi[DB_META], &k, &v, 0));
}

static int create_dbs(struct sr__state *s)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	for (int i = 0; i < NDB && !rc; i++)
		rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &s->dbi[i]);
	int err = rc ? sr__lmdb_err(rc) : check_format(s, txn);
	if (err) {
		mdb_txn_abort(txn);
		return err;
	}
	return sr__lmdb_err(mdb_txn_commit(txn));
}

int sr__state_open(const char *dir, bool lazy_meta, struct sr__state **out)
{
	struct sr__state *s = calloc(1, sizeof(*s));
	if (!s)
		return SR_ENOMEM;
	int err = sr__mkdirs(dir);
	if (err)
		goto err_free;
	int rc = mdb_env_create(&s->env);
	if (rc) {
		err = sr__lmdb_err(rc);
		goto err_free;
	}
	rc = mdb_env_set_mapsize(s->env, SR_STATE_MAPSIZE);
	if (!rc)
		rc = mdb_env_set_maxdbs(s->env, NDB + 2);
	if (!rc)
		rc = mdb_env_open(s->env, dir, lazy_meta ? MDB_NOMETASYNC : 0,
		                  0664);
	err = rc ? sr__lmdb_err(rc) : create_dbs(s);
	if (err)
		goto err_env;
	*out = s;
	return 0;
err_env:
	mdb_env_close(s->env);
err_free:
	free(s);
	return err;
}

int sr__state_fork(struct sr__state *s, struct sr__state **out)
{
	struct sr__state *f = malloc(sizeof(*f));
	if (!f)
		return SR_ENOMEM;
	*f = *s;
	f->txn = NULL;
	f->fork = true;
	*out = f;
	return 0;
}

void sr__state_close(struct sr__state *s)
{
	if (!s)
		return;
	sr__state_abort(s);
	if (!s->fork)
		mdb_env_close(s->env);
	free(s);
}

int sr__state_begin(struct sr__state *s, bool write)
{
	sr__state_abort(s);
	return sr__lmdb_err(
	    mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &s->txn));
}

int sr__state_commit(struct sr__state *s)
{
	int rc = mdb_txn_commit(s->txn);
	s->txn = NULL;
	return sr__lmdb_err(rc);
}

void sr__state_abort(struct sr__state *s)
{
	if (!s || !s->txn)
		return;
	mdb_txn_abort(s->txn);
	s->txn = NULL;
}

/* ---- Little-endian packing ---- */

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static MDB_val cstr_val(const char *s)
{
	return (MDB_val){strlen(s), (void *)s};
}

static int get(struct sr__state *s, int db, MDB_val *k, MDB_val *v)
{
	int rc = mdb_get(s->txn, s->dbi[db], k, v);
	return rc == MDB_NOTFOUND ? SR_ENOTFOUND : sr__lmdb_err(rc);
}

static int put(struct sr__state *s, int db, MDB_val *k, void *p, size_t n,
               unsigned flags)
{
	MDB_val v = {n, p};
	if (k->mv_size == 0 || k->mv_size > 511)
		return SR_EINVAL;
	return sr__lmdb_err(mdb_put(s->txn, s->dbi[db], k, &v, flags));
}

/* Call fn(ctx, key, value) for every entry of db whose key starts with
 * prefix (all when plen is 0), in key order. */
typedef int (*entry_fn)(void *ctx, const MDB_val *k, const MDB_val *v);

static int each(struct sr__state *s, int db, const void *prefix, size_t plen,
                entry_fn fn, void *ctx)
{
	MDB_cursor *cur;
	MDB_val k = {plen, (void *)prefix}, v;
	int rc = mdb_cursor_open(s->txn, s->dbi[db], &cur);
	if (rc)
		return sr__lmdb_err(rc);
	int err = 0;
	rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
	for (; !rc && !err; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (plen &&
		    (k.mv_size < plen || memcmp(k.mv_data, prefix, plen)))
			break;
		err = fn(ctx, &k, &v);
	}
	mdb_cursor_close(cur);
	if (!err && rc && rc != MDB_NOTFOUND)
		err = sr__lmdb_err(rc);
	return err;
}

/* ---- Meta ---- */

int sr__state_meta_get(struct sr__state *s, const char *key, struct sr_str *val)
{
	MDB_val k = cstr_val(key), v;
	int err = get(s, DB_META, &k, &v);
	if (!err)
		*val = (struct sr_str){v.mv_data, (uint32_t)v.mv_size};
	return err;
}

int sr__state_meta_put(struct sr__state *s, const char *key, struct sr_str val)
{
	MDB_val k = cstr_val(key);
	return put(s, DB_META, &k, (void *)val.ptr, val.len, 0);
}

/* ---- Inputs ---- */

#define INPUT_SIZE 52

static void pack_input(unsigned char *p, const struct sr__input_state *in)
{
	put64(p, in->id.dev);
	put64(p + 8, in->id.ino);
	put64(p + 16, in->id.fp);
	put32(p + 24, in->id.fp_len);
	put64(p + 28, in->off);
	put64(p + 36, in->line);
	put64(p + 44, (uint64_t)in->time_ns);
}

static int unpack_input(const MDB_val *v, struct sr__input_state *in)
{
	const unsigned char *p = v->mv_data;
	if (v->mv_size != INPUT_SIZE)
		return SR_ELMDB;
	in->id.dev = get64(p);
	in->id.ino = get64(p + 8);
	in->id.fp = get64(p + 16);
	in->id.fp_len = (uint32_t)(get64(p + 24) & 0xFFFFFFFFu);
	in->off = get64(p + 28);
	in->line = get64(p + 36);
	in->time_ns = (int64_t)get64(p + 44);
	return 0;
}

int sr__state_input_get(struct sr__state *s, const char *path,
                        struct sr__input_state *in)
{
	MDB_val k = cstr_val(path), v;
	int err = get(s, DB_INPUTS, &k, &v);
	return err ? err : unpack_input(&v, in);
}

int sr__state_input_put(struct sr__state *s, const char *path,
                        const struct sr__input_state *in)
{
	unsigned char p[INPUT_SIZE];
	MDB_val k = cstr_val(path);
	pack_input(p, in);
	return put(s, DB_INPUTS, &k, p, INPUT_SIZE, 0);
}

int sr__state_input_del(struct sr__state *s, const char *path)
{
	MDB_val k = cstr_val(path);
	int rc = mdb_del(s->txn, s->dbi[DB_INPUTS], &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : sr__lmdb_err(rc);
}

struct input_walk {
	sr__state_input_fn fn;
	void *ctx;
};

static int on_input(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct input_walk *w = ctx;
	struct sr__input_state in;
	char path[512];
	int err = unpack_input(v, &in);
	if (err || k->mv_size >= sizeof(path))
		return err ? err : SR_ELMDB;
	memcpy(path, k->mv_data, k->mv_size);
	path[k->mv_size] = 0;
	return w->fn(w->ctx, path, k->mv_size, &in);
}

int sr__state_inputs_each(struct sr__state *s, sr__state_input_fn fn, void *ctx)
{
	struct input_walk w = {fn, ctx};
	return each(s, DB_INPUTS, NULL, 0, on_input, &w);
}

/* ---- Outputs ---- */

int sr__state_output_put(struct sr__state *s, const char *name, uint64_t size)
{
	unsigned char p[8];
	MDB_val k = cstr_val(name);
	put64(p, size);
	return put(s, DB_OUTPUTS, &k, p, 8, 0);
}

struct output_walk {
	sr__state_output_fn fn;
	void *ctx;
};

static int on_output(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct output_walk *w = ctx;
	char name[512];
	if (v->mv_size != 8 || k->mv_size >= sizeof(name))
		return SR_ELMDB;
	memcpy(name, k->mv_data, k->mv_size);
	name[k->mv_size] = 0;
	return w->fn(w->ctx, name, k->mv_size, get64(v->mv_data));
}

int sr__state_outputs_each(struct sr__state *s, sr__state_output_fn fn,
                           void *ctx)
{
	struct output_walk w = {fn, ctx};
	return each(s, DB_OUTPUTS, NULL, 0, on_output, &w);
}

/* ---- Duplicate keys ---- */

/* The number of the next block of period's keys: one past its last. */
static int next_block(struct sr__state *s, const char *period, uint64_t *next)
{
	MDB_cursor *cur;
	unsigned char end[15];
	MDB_val k = {15, end}, v;
	memcpy(end, period, 7);
	memset(end + 7, 0xFF, 8);
	*next = 0;
	int rc = mdb_cursor_open(s->txn, s->dbi[DB_KEYS], &cur);
	if (rc)
		return sr__lmdb_err(rc);
	/* The first key past the period, then the one before it. */
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	rc = mdb_cursor_get(cur, &k, &v,
	                    rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
	if (!rc && k.mv_size == 15 && !memcmp(k.mv_data, period, 7))
		for (int i = 7; i < 15; i++)
			*next =
			    *next << 8 | ((const unsigned char *)k.mv_data)[i];
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND)
		return sr__lmdb_err(rc);
	*next += !rc && k.mv_size == 15 && !memcmp(k.mv_data, period, 7);
	return 0;
}

/*
 * Keys go in values of at most 4,000 (64 KB of overflow pages). LMDB
 * mallocs a dirty value's pages whole: a 40 MB block of a backlog commit
 * was a fresh mapping each time, whose pages cost the committer up to
 * 2.2 ms/MiB to fault in on this VM; 64 KB ones are reused from the heap.
 */
#define KEYS_PER_BLOCK 4000

int sr__state_keys_append(struct sr__state *s, const char *period,
                          const struct sr_key128 *keys, size_t n)
{
	unsigned char key[15];
	uint64_t next;
	int err = n ? next_block(s, period, &next) : 0;
	memcpy(key, period, 7);
	for (size_t done = 0; done < n && !err; next++) {
		size_t m = n - done < KEYS_PER_BLOCK ? n - done : KEYS_PER_BLOCK;
		for (int i = 0; i < 8; i++)
			key[7 + i] = (unsigned char)(next >> (8 * (7 - i)));
		/* Reserve the value and fill it in place. */
		MDB_val k = {15, key}, v = {m * 16, NULL};
		int rc = mdb_put(s->txn, s->dbi[DB_KEYS], &k, &v, MDB_RESERVE);
		if (rc)
			return sr__lmdb_err(rc);
		unsigned char *p = v.mv_data;
		for (size_t i = 0; i < m; i++) {
			put64(p + 16 * i, keys[done + i].lo);
			put64(p + 16 * i + 8, keys[done + i].hi);
		}
		done += m;
	}
	return err;
}

struct keys_walk {
	sr__state_keys_fn fn;
	void *ctx;
	struct sr_key128 buf[4096];
};

static int on_keys(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct keys_walk *w = ctx;
	const unsigned char *p = v->mv_data;
	size_t n = v->mv_size / 16;
	char period[8];
	if (v->mv_size % 16 || k->mv_size != 15)
		return SR_ELMDB;
	memcpy(period, k->mv_data, 7);
	period[7] = 0;
	while (n) {
		size_t m = n < 4096 ? n : 4096;
		for (size_t i = 0; i < m; i++)
			w->buf[i] = (struct sr_key128){get64(p + 16 * i),
			                               get64(p + 16 * i + 8)};
		int err = w->fn(w->ctx, period, w->buf, m);
		if (err)
			return err;
		p += 16 * m;
		n -= m;
	}
	return 0;
}

int sr__state_keys_each(struct sr__state *s, sr__state_keys_fn fn, void *ctx)
{
	struct keys_walk *w = malloc(sizeof(*w));
	if (!w)
		return SR_ENOMEM;
	w->fn = fn;
	w->ctx = ctx;
	int err = each(s, DB_KEYS, NULL, 0, on_keys, w);
	free(w);
	return err;
}

static int on_count(void *ctx, const MDB_val *k, const MDB_val *v)
{
	*(size_t *)ctx += v->mv_size / 16;
	return 0;
}

int sr__state_keys_count(struct sr__state *s, size_t *n)
{
	*n = 0;
	return each(s, DB_KEYS, NULL, 0, on_count, n);
}

int sr__state_keys_drop(struct sr__state *s, const char *period)
{
	MDB_cursor *cur;
	MDB_val k = {7, (void *)period}, v;
	int rc = mdb_cursor_open(s->txn, s->dbi[DB_KEYS], &cur);
	if (rc)
		return sr__lmdb_err(rc);
	while (!(rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) &&
	       k.mv_size == 15 && !memcmp(k.mv_data, period, 7)) {
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			break;
		k = (MDB_val){7, (void *)period};
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == MDB_SUCCESS ? 0 : sr__lmdb_err(rc);
}

/* ---- Closed periods ---- */

int sr__state_closed_get(struct sr__state *s, const char *period)
{
	MDB_val k = cstr_val(period), v;
	return get(s, DB_CLOSED, &k, &v);
}

int sr__state_closed_put(struct sr__state *s, const char *period)
{
	MDB_val k = cstr_val(period);
	return put(s, DB_CLOSED, &k, "\1", 1, 0);
}

/* ---- Ledger totals ---- */

/*
 * One value per period and subscriber, holding all its totals: a backlog
 * commit touches every subscriber, and one B-tree operation per
 * subscriber instead of one per (subscriber, item) took the committer's
 * ledger time from 0.12-0.23 s to 0.05-0.09 s per commit (5M records, 100k
 * subscribers). An entry is
 *
 *   u8 kind, u8 item length, item, i64 sessions, u128 count (lo, hi)
 *
 * and entries are in key order: kind ('p' before 'u'), then item id.
 */
#define ENTRY_FIXED 26 /* kind, length, sessions, count */

/* period 00 subscriber, into key (at least 8 + 128 bytes). */
static size_t ledger_key(unsigned char *key, const char *period,
                         struct sr_str subscriber)
{
	memcpy(key, period, 7);
	key[7] = 0;
	memcpy(key + 8, subscriber.ptr, subscriber.len);
	return 8 + subscriber.len;
}

/* The order of the stored keys and entries. */
static int delta_cmp(const struct sr__ledger_delta *x,
                     const struct sr__ledger_delta *y)
{
	int c = memcmp(x->period, y->period, 7);
	if (!c)
		c = sr__str_cmp(x->k.subscriber, y->k.subscriber);
	if (!c)
		c = (x->k.kind > y->k.kind) - (x->k.kind < y->k.kind);
	return c ? c : sr__str_cmp(x->k.item, y->k.item);
}

static int order_cmp(const void *a, const void *b, void *ctx)
{
	const struct sr__ledger_delta *d = ctx;
	return delta_cmp(&d[*(const uint32_t *)a], &d[*(const uint32_t *)b]);
}

/* One stored or added total, as the merge sees it. */
struct entry {
	unsigned kind;
	struct sr_str item;
	int64_t sessions;
	unsigned __int128 count;
};

/* The entry at *p in a stored value; false when it is not well formed. */
static bool entry_read(const unsigned char **p, const unsigned char *end,
                       struct entry *e)
{
	const unsigned char *q = *p;
	if (end - q < ENTRY_FIXED || end - q < ENTRY_FIXED + q[1])
		return false;
	e->kind = q[0];
	e->item = (struct sr_str){(const char *)q + 2, q[1]};
	q += 2 + q[1];
	e->sessions = (int64_t)get64(q);
	e->count = (unsigned __int128)get64(q + 16) << 64 | get64(q + 8);
	*p = q + 24;
	return true;
}

static unsigned char *entry_write(unsigned char *p, const struct entry *e)
{
	p[0] = (unsigned char)e->kind;
	p[1] = (unsigned char)e->item.len;
	memcpy(p + 2, e->item.ptr, e->item.len);
	p += 2 + e->item.len;
	put64(p, (uint64_t)e->sessions);
	put64(p + 8, (uint64_t)e->count);
	put64(p + 16, (uint64_t)(e->count >> 64));
	return p + 24;
}

static int entry_cmp(const struct entry *a, const struct entry *b)
{
	int c = (a->kind > b->kind) - (a->kind < b->kind);
	return c ? c : sr__str_cmp(a->item, b->item);
}

/* The stored value had, merged with the deltas d[o[0..n)] (sorted), into
 * b; *len receives its size. */
static int merge_value(const MDB_val *had, const struct sr__ledger_delta *d,
                       const uint32_t *o, size_t n, struct sr_buf *b,
                       size_t *len)
{
	size_t size = had ? had->mv_size : 0;
	for (size_t i = 0; i < n; i++)
		size += ENTRY_FIXED + d[o[i]].k.item.len;
	int err = sr__buf_reserve(b, size);
	if (err)
		return err;
	const unsigned char *p = had ? had->mv_data : NULL,
	                    *end = p ? p + had->mv_size : NULL;
	unsigned char *w = (unsigned char *)b->data, *last = NULL;
	struct entry old, add, prev = {0};
	bool more = p < end;
	if (more && !entry_read(&p, end, &old))
		return SR_ELMDB;
	for (size_t i = 0; more || i < n;) {
		if (i < n) {
			const struct sr__ledger_delta *x = &d[o[i]];
			add = (struct entry){x->k.kind, x->k.item, x->sessions,
			                     x->count};
		}
		int c = !more ? 1 : i == n ? -1 : entry_cmp(&old, &add);
		struct entry e = c < 0 ? old : add;
		if (!c) {
			e.sessions += old.sessions;
			e.count += old.count;
		}
		if (last && !entry_cmp(&prev, &e)) {
			/* A key given twice: add to the entry just written. */
			prev.sessions += e.sessions;
			prev.count += e.count;
			w = entry_write(last, &prev);
		} else {
			prev = e;
			last = w;
			w = entry_write(w, &e);
		}
		if (c <= 0 && more) {
			more = p < end;
			if (more && !entry_read(&p, end, &old))
				return SR_ELMDB;
		}
		if (c >= 0)
			i++;
	}
	*len = (size_t)(w - (unsigned char *)b->data);
	return 0;
}

/*
 * Apply the deltas d[o[0..n)], sorted, one subscriber at a time through
 * one cursor: consecutive keys share pages, which LMDB finds again
 * without a search from the root. The put gets its own copy of the key:
 * the one the search returns points into the page, which a value of
 * another size rewrites.
 */
static int apply_sorted(struct sr__state *s, const struct sr__ledger_delta *d,
                        const uint32_t *o, size_t n)
{
	unsigned char key[8 + 128];
	struct sr_buf b = {0};
	MDB_cursor *cur = NULL;
	int rc = mdb_cursor_open(s->txn, s->dbi[DB_LEDGER], &cur), err = 0;
	for (size_t i = 0, j; i < n && !rc && !err; i = j) {
		const struct sr__ledger_delta *x = &d[o[i]];
		for (j = i + 1; j < n; j++) {
			const struct sr__ledger_delta *y = &d[o[j]];
			if (memcmp(x->period, y->period, 7) ||
			    sr__str_cmp(x->k.subscriber, y->k.subscriber))
				break;
		}
		MDB_val k = {ledger_key(key, x->period, x->k.subscriber), key},
		        found = k, v;
		rc = mdb_cursor_get(cur, &found, &v, MDB_SET_KEY);
		if (rc && rc != MDB_NOTFOUND)
			break;
		size_t len;
		err = merge_value(rc ? NULL : &v, d, o + i, j - i, &b, &len);
		v = (MDB_val){len, b.data};
		if (!err)
			rc = mdb_cursor_put(cur, &k, &v, rc ? 0 : MDB_CURRENT);
	}
	if (cur)
		mdb_cursor_close(cur);
	sr__buf_finish(&b);
	return err ? err : sr__lmdb_err(rc);
}

int sr__state_ledger_add(struct sr__state *s, const struct sr__ledger_delta *d,
                         size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (d[i].k.subscriber.len > 128 || d[i].k.item.len > 128 ||
		    !d[i].k.subscriber.len || strlen(d[i].period) != 7)
			return SR_EINVAL;
	uint32_t *o = malloc((n + 1) * sizeof(*o));
	if (!o)
		return SR_ENOMEM;
	bool sorted = true;
	for (size_t i = 0; i < n; i++) {
		o[i] = (uint32_t)i;
		sorted = sorted && (!i || delta_cmp(&d[i - 1], &d[i]) <= 0);
	}
	if (!sorted)
		qsort_r(o, n, sizeof(*o), order_cmp, (void *)d);
	int err = apply_sorted(s, d, o, n);
	free(o);
	return err;
}

struct ledger_walk {
	sr__state_ledger_fn fn;
	void *ctx;
};

static int on_ledger(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct ledger_walk *w = ctx;
	const unsigned char *p = v->mv_data, *end = p + v->mv_size;
	if (k->mv_size < 9 || p == end)
		return SR_ELMDB;
	struct sr__ledger_key key = {
	    .subscriber = {(const char *)k->mv_data + 8,
	                   (uint32_t)(k->mv_size - 8)},
	};
	int err = 0;
	while (p < end && !err) {
		struct entry e;
		if (!entry_read(&p, end, &e))
			return SR_ELMDB;
		key.kind = e.kind;
		key.item = e.item;
		err = w->fn(w->ctx, &key, e.sessions, e.count);
	}
	return err;
}

int sr__state_ledger_each(struct sr__state *s, const char *period,
                          sr__state_ledger_fn fn, void *ctx)
{
	struct ledger_walk w = {fn, ctx};
	unsigned char prefix[8];
	memcpy(prefix, period, 7);
	prefix[7] = 0;
	return each(s, DB_LEDGER, prefix, 8, on_ledger, &w);
}
