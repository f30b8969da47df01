/*
 * Records of follow: decoding an input's bytes into session records (the
 * CSV decoder of SPEC section 1; another log format would be another
 * struct sr__decoder), and the steps of SPEC section 3 for each record
 * with the record's own period in place of the run's.
 *
 * Step 2 becomes "the period is not closed" (else period_closed, and the
 * record is kept in the rejects for re-rating). Step 3 runs per period:
 * the duplicate key is a 128-bit XXH3 of (subscriber_id, session_id)
 * seeded with the period, so the first occurrence within a period wins,
 * as in a batch run of that period. Keys claimed since the last commit are
 * kept in a list and appended to the state at commit; ledger changes are
 * summed per (period, subscriber, rate or PPV content) and added to the
 * stored totals at commit.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "catalog_rows.h"
#include "civil.h"
#include "columns.h"
#include "follow.h"
#include "mem.h"
#include "streamrate/error.h"
#include "streamrate/ledger.h"

#define SR_HEADER_FIELDS 1024

/* ---- The CSV decoder ---- */

static int header_message(struct sr__follow *f, struct sr__input *in,
                          uint32_t n, char *msg, size_t cap)
{
	struct sr_str bad;
	if (sr_header_init(&in->header, f->fields, n, &bad) == 0)
		return 0;
	bool missing = true;
	for (uint32_t i = 0; i < n; i++)
		missing &= !sr_str_eq(f->fields[i], bad);
	snprintf(msg, cap,
	         missing ? "header lacks required column '%.*s'"
	                 : "header names column '%.*s' twice",
	         (int)bad.len, bad.ptr);
	return SR_EHEADER;
}

static int csv_begin(struct sr__follow *f, struct sr__input *in, const char *p,
                     size_t n, size_t *consumed, uint64_t *lines, char *msg,
                     size_t cap)
{
	struct sr_csv_record rec;
	size_t skip = 0;

	/* A BOM, or the start of one, decides nothing yet. */
	if (n < 3 && !memcmp(p, "\xEF\xBB\xBF", n))
		return 1;
	if (!memcmp(p, "\xEF\xBB\xBF", 3))
		skip = 3;
	if (n == skip)
		return 1;
	enum sr_split kind =
	    sr__csv_split(p + skip, n - skip, false, f->fields,
	                  SR_HEADER_FIELDS, 0, f->scratch, &rec);
	if (kind == SR_SPLIT_MORE)
		return 1;
	if (kind == SR_SPLIT_MALFORMED) {
		snprintf(msg, cap, "header cannot be split");
		return SR_EHEADER;
	}
	if (kind == SR_SPLIT_EMPTY)
		f->fields[0] = (struct sr_str){"", 0};
	int err = header_message(
	    f, in, kind == SR_SPLIT_EMPTY ? 1 : rec.nfields, msg, cap);
	if (err)
		return err;
	*consumed = skip + rec.consumed;
	*lines = rec.lines;
	return 0;
}

static void csv_next(const struct sr__follow *f, const struct sr__input *in,
                     struct sr__scratch *sc, const char *p, size_t n, bool eof,
                     unsigned slot, struct sr__record *r)
{
	struct sr_csv_record rec;
	uint32_t expect = in->header.nfields;
	(void)f;
	r->kind =
	    sr__csv_split(p, n, eof, sc->fields, expect, expect,
	                  sc->bytes + (size_t)slot * SR_SCRATCH_SIZE, &rec);
	if (r->kind == SR_SPLIT_MORE)
		return;
	r->raw = rec.raw;
	r->raw_len = rec.raw_len;
	r->consumed = rec.consumed;
	r->lines = rec.lines;
	r->why = r->kind == SR_SPLIT_RECORD
	             ? sr__session_parse(&in->header, sc->fields, rec.clean,
	                                 &r->s)
	             : SR_REASON_NONE;
}

const struct sr__decoder sr__csv_decoder = {csv_begin, csv_next};

/* ---- Duplicate keys ---- */

struct sr_key128 sr__follow_key(const struct sr_session *s, int64_t month)
{
	char buf[2 * 128 + 1];
	memcpy(buf, s->subscriber_id.ptr, s->subscriber_id.len);
	buf[s->subscriber_id.len] = 0;
	memcpy(buf + s->subscriber_id.len + 1, s->session_id.ptr,
	       s->session_id.len);
	XXH128_hash_t h = XXH3_128bits_withSeed(
	    buf, s->subscriber_id.len + 1 + s->session_id.len, (uint64_t)month);
	return (struct sr_key128){h.low64 ? h.low64 : 1, h.high64};
}

/* Add k to the in-memory set at pos; *first when it was not there. */
static int claim(struct sr__follow *f, struct sr_key128 k, uint64_t pos,
                 bool *first)
{
	uint64_t retracted;
	bool fresh;
	if (f->dedup_used + 1 > sr__dedup_capacity(&f->dedup)) {
		int err = sr__dedup_grow(&f->dedup, f->dedup_used + 1);
		if (err)
			return err;
	}
	*first = sr__dedup_claim(&f->dedup, k, pos, &retracted, &fresh);
	f->dedup_used += fresh;
	return 0;
}

static int remember_key(struct sr__follow *f, struct sr_key128 k, int64_t month)
{
	if ((f->nkeys + 1) * sizeof(struct sr__mkey) > f->keys.cap &&
	    sr__buf_reserve(&f->keys, (f->nkeys + 1) * sizeof(struct sr__mkey)))
		return SR_ENOMEM;
	((struct sr__mkey *)(void *)f->keys.data)[f->nkeys++] = (struct sr__mkey){k, month};
	return 0;
}

/* The keys of a closed period are dropped by close; a block written just
 * before the close is skipped here. */
static int on_stored_keys(void *ctx, const char *period,
                          const struct sr_key128 *keys, size_t n)
{
	struct sr__follow *f = ctx;
	bool first;
	if (sr__state_closed_get(f->state, period) == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int err = claim(f, keys[i], 0, &first);
		if (err)
			return err;
	}
	return 0;
}

/* ---- Ledger deltas ---- */

static size_t delta_slot(const struct sr__deltas *d, int64_t month,
                         uint32_t sub, const void *item)
{
	uint64_t h = ((uint64_t)(uintptr_t)item ^ (uint64_t)month << 40 ^
	              (uint64_t)sub * 0xC2B2AE3D27D4EB4FULL) *
	             0x9E3779B97F4A7C15ULL;
	return (size_t)(h >> 20) & d->mask;
}

/* The slot of (month, sub, item): its entry, or the empty slot for it. */
static struct sr__delta *delta_probe(const struct sr__deltas *d, int64_t month,
                                     uint32_t sub, const void *item)
{
	for (size_t s = delta_slot(d, month, sub, item);;
	     s = (s + 1) & d->mask) {
		struct sr__delta *e = &d->slots[s];
		if (!e->item || (e->item == item && e->subscriber == sub &&
		                 e->month == month))
			return e;
	}
}

static void deltas_free(struct sr__deltas *d)
{
	if (d->slots)
		sr__table_free(d->slots, (d->mask + 1) * sizeof(*d->slots));
	if (d->used)
		sr__table_free(d->used, (d->mask + 1) / 2 * sizeof(*d->used));
	d->slots = NULL;
	d->used = NULL;
}

/* Twice the slots (deltas_init() made the first); entries move, links
 * rebuilt. */
static int deltas_grow(struct sr__deltas *d)
{
	struct sr__deltas n = *d;
	n.mask = d->mask * 2 + 1;
	/* Populated tables: probes are random. */
	n.slots = sr__table_alloc((n.mask + 1) * sizeof(*n.slots));
	n.used = sr__table_alloc((n.mask + 1) / 2 * sizeof(*n.used));
	if (!n.slots || !n.used) {
		deltas_free(&n);
		return SR_ENOMEM;
	}
	for (size_t i = 0; i < d->n; i++) {
		const struct sr__delta *e = &d->slots[d->used[i]];
		struct sr__delta *to =
		    delta_probe(&n, e->month, e->subscriber, e->item);
		*to = *e;
		n.used[i] = (uint32_t)(to - n.slots);
	}
	deltas_free(d);
	*d = n;
	return 0;
}

/* An empty table for n deltas, its pages not yet touched. */
static int deltas_init(struct sr__deltas *d, size_t n)
{
	size_t slots = 65536;
	while (slots < 2 * (n + 1))
		slots *= 2;
	*d = (struct sr__deltas){.mask = slots - 1};
	d->slots = sr__table_map(slots * sizeof(*d->slots));
	d->used = sr__table_map(slots / 2 * sizeof(*d->used));
	if (!d->slots || !d->used) {
		deltas_free(d);
		return SR_ENOMEM;
	}
	return 0;
}

/*
 * The tables are sized for the whole backlog (the duplicate set: 128 MiB
 * for 5M records), and zeroing their pages took the follower a quarter
 * second before it read a byte, with the other core idle: a second thread
 * takes half of them.
 */
struct populate {
	struct sr_dedup *dedup;
	struct sr__deltas *deltas;
};

static void touch_share(struct populate *p, unsigned share)
{
	sr__dedup_touch(p->dedup, share, 2);
	size_t bytes = (p->deltas->mask + 1) * sizeof(*p->deltas->slots);
	sr__table_touch(p->deltas->slots, bytes / 2 * share,
	                share ? bytes : bytes / 2);
}

static void *touch_half(void *arg)
{
	touch_share(arg, 1);
	return NULL;
}

static void populate(struct sr_dedup *dedup, struct sr__deltas *deltas)
{
	struct populate p = {dedup, deltas};
	pthread_t t;
	bool helped = !pthread_create(&t, NULL, touch_half, &p);
	touch_share(&p, 0);
	if (helped)
		pthread_join(t, NULL);
	else
		touch_share(&p, 1);
}

int sr__rate_load(struct sr__follow *f, size_t expect)
{
	size_t stored;
	int err = sr__state_keys_count(f->state, &stored);
	/* Sized once for what is stored and the backlog: growing a table of
	 * millions of keys by doubling costs more than rating them. */
	if (!err)
		err = sr__dedup_init_shared(&f->dedup,
		                            stored + expect + (1 << 16));
	/* A commit's deltas: one per subscriber and rate or PPV content it
	 * used since the last commit, at most one per record. Growing by
	 * doubling to the 670k of a backlog commit (100k subscribers) held
	 * the follower alone for 0.2 s, with the stage waiting. */
	size_t per_sub = (size_t)sr_catalog_nsubscribers(f->cat) * 8;
	if (!err)
		err = deltas_init(&f->deltas, expect < per_sub ? expect : per_sub);
	if (!err)
		populate(&f->dedup, &f->deltas);
	if (!err)
		err = sr__state_keys_each(f->state, on_stored_keys, f);
	f->dedup_pos = 1;
	return err;
}

static void delta_prefetch(const struct sr__deltas *d,
                           const struct sr__staged *r)
{
	if (r->item && d->slots)
		__builtin_prefetch(
		    &d->slots[delta_slot(d, r->month, r->subscriber, r->item)],
		    1);
}

/* Count a rated session as the batch ledger does: PPV purchases and usage
 * under a rate (the staged item); an included session counts nothing. */
static int delta_add(struct sr__deltas *d, const struct sr__staged *r)
{
	const void *item = r->item;
	uint32_t sub = r->subscriber;
	int64_t month = r->month;
	if (!item)
		return 0;
	if ((d->n + 1) * 2 > d->mask + 1 && deltas_grow(d))
		return SR_ENOMEM;
	struct sr__delta *e = delta_probe(d, month, sub, item);
	if (!e->item) {
		*e = (struct sr__delta){.month = month,
		                        .subscriber = sub,
		                        .item = item,
		                        .kind = r->ppv ? SR_LEDGER_PPV
		                                       : SR_LEDGER_USAGE};
		d->used[d->n++] = (uint32_t)(e - d->slots);
	}
	e->sessions++;
	e->count += r->ppv ? 1 : r->units;
	return 0;
}

void sr__month_text(int64_t month, char *text)
{
	unsigned y = (unsigned)(month / 12) % 10000,
	         m = (unsigned)(month % 12) + 1;
	text[0] = (char)('0' + y / 1000);
	text[1] = (char)('0' + y / 100 % 10);
	text[2] = (char)('0' + y / 10 % 10);
	text[3] = (char)('0' + y % 10);
	text[4] = '-';
	text[5] = (char)('0' + m / 10);
	text[6] = (char)('0' + m % 10);
	text[7] = 0;
}

/* The ids of a delta, as the state stores them. */
static void state_delta(const struct sr_catalog *cat, const struct sr__delta *e,
                        struct sr__ledger_delta *out, char *text)
{
	const struct sr_subscriber *sub =
	    sr_catalog_subscriber_at(cat, e->subscriber);
	out->k.subscriber = sub->id;
	if (e->kind == SR_LEDGER_PPV) {
		out->k.kind = SR_STATE_PPV;
		out->k.item = ((const struct sr_content *)e->item)->id;
	} else {
		out->k.kind = SR_STATE_USAGE;
		out->k.item = ((const struct sr_rate *)e->item)->id;
	}
	sr__month_text(e->month, text);
	out->period = text;
	out->sessions = e->sessions;
	out->count = e->count;
}

/* The order of the state's keys: period, subscriber id (the catalog's
 * index order), PPV ('p') before usage ('u'), item id (rates: index). */
static int cmp_delta(const void *pa, const void *pb)
{
	const struct sr__delta *a = pa, *b = pb;
	if (a->month != b->month)
		return a->month < b->month ? -1 : 1;
	if (a->subscriber != b->subscriber)
		return a->subscriber < b->subscriber ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind == SR_LEDGER_PPV ? -1 : 1;
	if (a->kind == SR_LEDGER_PPV)
		return sr__str_cmp(((const struct sr_content *)a->item)->id,
		              ((const struct sr_content *)b->item)->id);
	uint32_t x = ((const struct sr_rate *)a->item)->index,
	         y = ((const struct sr_rate *)b->item)->index;
	return (x > y) - (x < y);
}

int sr__rate_snapshot(struct sr__follow *f, struct sr__job *job,
                      struct sr_buf *spare_keys, struct sr_buf *spare_raw)
{
	struct sr__deltas *d = &f->deltas;
	job->raw = *spare_raw;
	*spare_raw = (struct sr_buf){0};
	if (sr__buf_reserve(&job->raw, (d->n + 1) * sizeof(struct sr__delta)))
		return SR_ENOMEM;
	struct sr__delta *raw = (void *)job->raw.data;
	for (size_t i = 0; i < d->n; i++) {
		raw[i] = d->slots[d->used[i]];
		d->slots[d->used[i]] = (struct sr__delta){0};
	}
	job->nraw = d->n;
	job->cat = f->cat;
	d->n = 0;
	/* The keys move to the job; the next ones go to the spare. */
	job->keys = f->keys;
	job->nkeys = f->nkeys;
	f->keys = *spare_keys;
	*spare_keys = (struct sr_buf){0};
	f->nkeys = 0;
	return 0;
}

/*
 * The state's key order as an integer: period, subscriber index, PPV
 * before usage. Deltas equal on it differ only in their item.
 */
static uint64_t ord_key(const struct sr__delta *e)
{
	return (uint64_t)e->month << 33 | (uint64_t)e->subscriber << 1 |
	       (e->kind != SR_LEDGER_PPV);
}

/* LSD radix sort of a[] by ord_key, one pass per byte that differs; the
 * deltas move whole, so every pass reads and writes in sequence. */
static void radix_sort(struct sr__delta *a, struct sr__delta *tmp, size_t n)
{
	uint64_t all_or = 0, all_and = ~0ull;
	for (size_t i = 0; i < n; i++) {
		all_or |= ord_key(&a[i]);
		all_and &= ord_key(&a[i]);
	}
	for (unsigned shift = 0; shift < 64; shift += 8) {
		size_t count[257] = {0};
		if (!((all_or ^ all_and) >> shift & 0xFF))
			continue; /* the same byte everywhere */
		for (size_t i = 0; i < n; i++)
			count[(ord_key(&a[i]) >> shift & 0xFF) + 1]++;
		for (unsigned b = 0; b < 256; b++)
			count[b + 1] += count[b];
		for (size_t i = 0; i < n; i++)
			tmp[count[ord_key(&a[i]) >> shift & 0xFF]++] = a[i];
		memcpy(a, tmp, n * sizeof(*a));
	}
}

/* Within each run of equal ord_key, the items in the state's order. */
static void sort_items(struct sr__delta *a, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct sr__delta x = a[i];
		uint64_t k = ord_key(&x);
		size_t j = i;
		while (j > 0 && ord_key(&a[j - 1]) == k &&
		       cmp_delta(&a[j - 1], &x) > 0) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = x;
	}
}

int sr__rate_job_deltas(struct sr__job *job, struct sr_buf *tmp,
                        struct sr_buf *out)
{
	size_t n = job->nraw;
	struct sr__delta *raw = (void *)job->raw.data;
	size_t each = sizeof(*job->deltas) + 8; /* and its period's text */
	if (sr__buf_reserve(tmp, (n + 1) * sizeof(*raw)) ||
	    sr__buf_reserve(out, (n + 1) * each))
		return SR_ENOMEM;
	/* A radix sort on the integer part of the order: qsort() with
	 * cmp_delta() took a fifth of the committer's time on a backlog. */
	radix_sort(raw, (void *)tmp->data, n);
	sort_items(raw, n);
	job->deltas = (void *)out->data;
	char *texts = (char *)(job->deltas + n + 1);
	for (size_t i = 0; i < n; i++)
		state_delta(job->cat, &raw[i], &job->deltas[i], texts + 8 * i);
	job->ndeltas = n;
	return 0;
}

void sr__rate_finish(struct sr__follow *f)
{
	sr__dedup_finish(&f->dedup);
	sr__buf_finish(&f->keys);
	deltas_free(&f->deltas);
	f->deltas = (struct sr__deltas){0};
}

/* ---- Steps 2 and 3, and the outcome, in input order ---- */

/*
 * The stage (follow_stage.c) has parsed, rated and formatted the records;
 * what depends on the records before them happens here, strictly in input
 * order: the period's outputs and whether it is closed, the duplicate
 * claim, the ledger delta and the row or reject. The duplicate-set slot
 * and the ledger slot of a record a few places ahead are prefetched, so
 * that those cache misses overlap instead of queueing.
 */
#define SR_AHEAD 8

int64_t sr__month_of(int64_t instant)
{
	int64_t y;
	unsigned m, d;
	sr__civil_from_days(sr__day_of(instant), &y, &m, &d);
	return y * 12 + m - 1;
}

static int reject(struct sr__follow *f, struct sr__fout *out,
                  struct sr__input *in, const struct sr__staged *r,
                  enum sr_reason why)
{
	int err = sr__fout_ready(&f->outs, out);
	size_t before = out->buf.len;
	if (!err)
		err = sr__emit_reject(&out->buf, in->field.data, in->field.len,
		                      r->line, why, r->raw, r->raw_len);
	if (err)
		return err;
	sr__fout_added(&f->outs, out, before);
	f->stats->rejected++;
	f->stats->by_reason[why]++;
	return 0;
}

/* The staged row of r into its period's rated file. */
static int rated(struct sr__follow *f, struct sr__fperiod *p,
                 const struct sr__staged *r, const char *row)
{
	int err = sr__fout_ready(&f->outs, &p->rated);
	if (!err)
		err = sr__buf_reserve(&p->rated.buf, r->row_len);
	if (!err)
		err = delta_add(&f->deltas, r);
	if (err)
		return err;
	size_t before = p->rated.buf.len;
	sr__buf_put(&p->rated.buf, row, r->row_len);
	sr__fout_added(&f->outs, &p->rated, before);
	f->stats->rated++;
	return 0;
}

/* Where a record goes and why: p NULL is rejects-unknown.csv. */
struct verdict {
	struct sr__fperiod *p;
	enum sr_reason why;
};

/* Steps 2 and 3 of a parsed record of a known period. */
static int judge_period(struct sr__follow *f, const struct sr__staged *r,
                        struct verdict *v)
{
	struct sr__fperiod *p = sr__fouts_period(&f->outs, f->state, r->month);
	bool first = false; /* claim() may fail before setting it */
	if (!p)
		return SR_ENOMEM;
	v->p = p;
	if (p->closed) {
		v->why = SR_REASON_PERIOD_CLOSED;
		return 0;
	}
	p->touched = true;
	int err = claim(f, r->key, f->dedup_pos++, &first);
	if (!err && first)
		err = remember_key(f, r->key, p->month);
	v->why = !first ? SR_REASON_DUPLICATE : (enum sr_reason)r->why;
	return err;
}

/* Where a record goes and why (SR_REASON_NONE: rated). */
static int judge(struct sr__follow *f, const struct sr__staged *r,
                 struct verdict *v)
{
	*v = (struct verdict){NULL, SR_REASON_NONE};
	if (r->kind == SR_SPLIT_MALFORMED)
		v->why = SR_REASON_MALFORMED_LINE;
	else if (r->kind != SR_SPLIT_RECORD)
		return 0;
	else if (r->parse)
		v->why = r->parse;
	else if (r->month < 0)
		v->why = SR_REASON_OTHER_PERIOD;
	else
		return judge_period(f, r, v);
	return 0;
}

/* The outcome of a judged record. */
static int outcome(struct sr__follow *f, struct sr__input *in,
                   const struct sr__staged *r, const struct verdict *v,
                   const char *row)
{
	if (r->kind == SR_SPLIT_EMPTY) {
		f->stats->skipped++;
		return 0;
	}
	f->stats->records++;
	if (!v->p)
		return reject(f, &f->outs.unknown, in, r, v->why);
	if (v->why)
		return reject(f, &v->p->rejects, in, r, v->why);
	return rated(f, v->p, r, row);
}

static void ahead(struct sr__follow *f, const struct sr__staged *r)
{
	if (r->month < 0)
		return;
	sr__dedup_prefetch(&f->dedup, r->key);
	delta_prefetch(&f->deltas, r);
}

struct take {
	struct sr__follow *f;
	struct sr__input *in;
	size_t used;
	uint64_t line;
};

/* Judge, then output, a batch of records at a time: the claims' atomic
 * operations then do not wait behind the stores of the rows. */
static int take_batch(struct take *t, const struct sr__block *b, unsigned i,
                      unsigned k, const char **row)
{
	struct verdict v[SR_FOLLOW_BATCH];
	int err = 0;
	for (unsigned j = 0; j < k && !err; j++) {
		if (i + j + SR_AHEAD < b->n)
			ahead(t->f, &b->rec[i + j + SR_AHEAD]);
		err = judge(t->f, &b->rec[i + j], &v[j]);
	}
	for (unsigned j = 0; j < k && !err; j++) {
		err = outcome(t->f, t->in, &b->rec[i + j], &v[j], *row);
		*row += b->rec[i + j].row_len;
	}
	return err;
}

static int take_block(void *ctx, const struct sr__block *b)
{
	struct take *t = ctx;
	const char *row = b->text.data;
	int err = 0;
	for (unsigned i = 0; i < b->n && i < SR_AHEAD; i++)
		ahead(t->f, &b->rec[i]);
	for (unsigned i = 0; i < b->n && !err; i += SR_FOLLOW_BATCH) {
		unsigned k =
		    b->n - i < SR_FOLLOW_BATCH ? b->n - i : SR_FOLLOW_BATCH;
		err = take_batch(t, b, i, k, &row);
	}
	t->used += b->consumed;
	t->line = b->line;
	return err;
}

int sr__rate_bytes(struct sr__follow *f, struct sr__input *in, const char *p,
                   size_t n, bool eof, size_t *used)
{
	struct take t = {f, in, 0, in->line};
	int err =
	    sr__stage_run(f->stage, in, p, n, eof, in->line, take_block, &t);
	in->off += t.used;
	in->line = t.line;
	f->stats->bytes += t.used;
	*used = t.used;
	if (t.used) {
		in->dirty = true;
		f->pending = true;
	}
	return err;
}
