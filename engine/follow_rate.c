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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "civil.h"
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

static void csv_next(struct sr__follow *f, struct sr__input *in, const char *p,
                     size_t n, bool eof, unsigned slot, struct sr__record *r)
{
	struct sr_csv_record rec;
	uint32_t expect = in->header.nfields;
	r->kind =
	    sr__csv_split(p, n, eof, f->fields, expect, expect,
	                  f->scratch + (size_t)slot * SR_SCRATCH_SIZE, &rec);
	if (r->kind == SR_SPLIT_MORE)
		return;
	r->raw = rec.raw;
	r->raw_len = rec.raw_len;
	r->consumed = rec.consumed;
	r->lines = rec.lines;
	r->why = r->kind == SR_SPLIT_RECORD
	             ? sr_session_parse(&in->header, f->fields, &r->s)
	             : SR_REASON_NONE;
}

const struct sr__decoder sr__csv_decoder = {csv_begin, csv_next};

/* ---- Duplicate keys ---- */

static struct sr_key128 key_of(const struct sr_session *s, int64_t month)
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
	if (f->nkeys == f->keys_cap) {
		size_t cap = f->keys_cap ? f->keys_cap * 2 : 4096;
		struct sr__mkey *p = realloc(f->keys, cap * sizeof(*p));
		if (!p)
			return SR_ENOMEM;
		f->keys = p;
		f->keys_cap = cap;
	}
	f->keys[f->nkeys++] = (struct sr__mkey){k, month};
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

int sr__rate_load(struct sr__follow *f, size_t expect)
{
	size_t stored;
	int err = sr__state_keys_count(f->state, &stored);
	/* Sized once for what is stored and the backlog: growing a table of
	 * millions of keys by doubling costs more than rating them. */
	if (!err)
		err = sr__dedup_init(&f->dedup, stored + expect + (1 << 16));
	if (!err)
		err = sr__state_keys_each(f->state, on_stored_keys, f);
	f->dedup_pos = 1;
	return err;
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
	if (d->slots) {
		sr__table_free(d->slots, (d->mask + 1) * sizeof(*d->slots));
		sr__table_free(d->used, (d->mask + 1) / 2 * sizeof(*d->used));
	}
	d->slots = NULL;
	d->used = NULL;
}

/* Twice the slots (or the first 1024); entries move, links rebuilt. */
static int deltas_grow(struct sr__deltas *d)
{
	struct sr__deltas n = *d;
	n.mask = d->slots ? d->mask * 2 + 1 : 65535;
	/* Tables of huge pages, populated: probes are random. */
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

/* The item a rated session counts under (NULL: included, nothing). */
static const void *delta_item(const struct sr_rated *r)
{
	return r->content->ppv ? (const void *)r->content
	                       : (const void *)r->rate;
}

static void delta_prefetch(const struct sr__deltas *d, int64_t month,
                           const struct sr_rated *r)
{
	const void *item = delta_item(r);
	if (item && d->slots)
		__builtin_prefetch(
		    &d->slots[delta_slot(d, month, r->subscriber->index, item)],
		    1);
}

/* Count a rated session as the batch ledger does: PPV purchases and usage
 * under a rate; an included session counts nothing. */
static int delta_add(struct sr__deltas *d, int64_t month,
                     const struct sr_rated *r)
{
	const void *item = delta_item(r);
	uint32_t sub = r->subscriber->index;
	if (!item)
		return 0;
	if ((d->n + 1) * 2 > d->mask + 1 && deltas_grow(d))
		return SR_ENOMEM;
	struct sr__delta *e = delta_probe(d, month, sub, item);
	if (!e->item) {
		*e = (struct sr__delta){
		    .month = month,
		    .subscriber = sub,
		    .item = item,
		    .kind = r->content->ppv ? SR_LEDGER_PPV : SR_LEDGER_USAGE};
		d->used[d->n++] = (uint32_t)(e - d->slots);
	}
	e->sessions++;
	e->count += r->content->ppv ? 1 : r->units;
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

static int cmp_id(struct sr_str a, struct sr_str b)
{
	int c = memcmp(a.ptr, b.ptr, a.len < b.len ? a.len : b.len);
	return c ? c : (a.len > b.len) - (a.len < b.len);
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
		return cmp_id(((const struct sr_content *)a->item)->id,
		              ((const struct sr_content *)b->item)->id);
	uint32_t x = ((const struct sr_rate *)a->item)->index,
	         y = ((const struct sr_rate *)b->item)->index;
	return (x > y) - (x < y);
}

int sr__rate_snapshot(struct sr__follow *f, struct sr__job *job)
{
	struct sr__deltas *d = &f->deltas;
	job->raw = malloc((d->n + 1) * sizeof(*job->raw));
	if (!job->raw)
		return SR_ENOMEM;
	for (size_t i = 0; i < d->n; i++) {
		job->raw[i] = d->slots[d->used[i]];
		d->slots[d->used[i]] = (struct sr__delta){0};
	}
	job->nraw = d->n;
	job->cat = f->cat;
	d->n = 0;
	/* The keys move to the job; the next ones go to a new list. */
	job->keys = f->keys;
	job->nkeys = f->nkeys;
	f->keys = NULL;
	f->nkeys = f->keys_cap = 0;
	return 0;
}

int sr__rate_job_deltas(struct sr__job *job)
{
	size_t n = job->nraw;
	job->deltas = malloc((n + 1) * sizeof(*job->deltas));
	job->texts = malloc((n + 1) * 8);
	if (!job->deltas || !job->texts)
		return SR_ENOMEM;
	if (n)
		qsort(job->raw, n, sizeof(*job->raw), cmp_delta);
	for (size_t i = 0; i < n; i++)
		state_delta(job->cat, &job->raw[i], &job->deltas[i],
		            job->texts + 8 * i);
	job->ndeltas = n;
	return 0;
}

void sr__rate_finish(struct sr__follow *f)
{
	sr__dedup_finish(&f->dedup);
	free(f->keys);
	deltas_free(&f->deltas);
	f->keys = NULL;
	f->deltas = (struct sr__deltas){0};
}

/* ---- Steps 1 to 10 ---- */

/*
 * Records are decoded in batches and rated in a second pass, in input
 * order: the first pass finds each record's period and duplicate key and
 * prefetches the duplicate set's slot and the subscriber, so that those
 * cache misses overlap instead of queueing (as the batch workers do).
 */
struct item {
	struct sr__record r;
	uint64_t line;         /* line of the record */
	struct sr__fperiod *p; /* its period; NULL: none (or no record) */
	struct sr_key128 key;  /* when p is open */
	enum sr_reason why;    /* of steps 2 to 10 */
	struct sr_rated rated; /* when why is none */
};

static int64_t month_of(int64_t instant)
{
	int64_t y;
	unsigned m, d;
	sr__civil_from_days(sr__day_of(instant), &y, &m, &d);
	return y * 12 + m - 1;
}

static int reject(struct sr__follow *f, struct sr__fout *out,
                  struct sr__input *in, const struct item *it,
                  enum sr_reason why)
{
	int err = sr__fout_ready(&f->outs, out);
	size_t before = out->buf.len;
	if (!err)
		err = sr__emit_reject(&out->buf, in->field.data, in->field.len,
		                      it->line, why, it->r.raw, it->r.raw_len);
	if (err)
		return err;
	sr__fout_added(&f->outs, out, before);
	f->stats->rejected++;
	f->stats->by_reason[why]++;
	return 0;
}

static int rated(struct sr__follow *f, struct sr__fperiod *p,
                 const struct sr__record *r, const struct sr_rated *out)
{
	int err = sr__fout_ready(&f->outs, &p->rated);
	size_t before = p->rated.buf.len;
	if (!err)
		err = sr__emit_rated(&p->rated.buf, &p->fmt, &r->s, out);
	if (!err)
		err = delta_add(&f->deltas, p->month, out);
	if (err)
		return err;
	sr__fout_added(&f->outs, &p->rated, before);
	f->stats->rated++;
	return 0;
}

/* Pass 1 for one parsed record: its period and key, and prefetches. */
static int prepare(struct sr__follow *f, struct item *it)
{
	int64_t month = month_of(it->r.s.start);
	it->p = NULL;
	if (month < 12 || month > 9999 * 12 + 11)
		return 0;
	it->p = sr__fouts_period(&f->outs, f->state, month);
	if (!it->p)
		return SR_ENOMEM;
	if (it->p->closed)
		return 0;
	it->key = key_of(&it->r.s, month);
	sr__dedup_prefetch(&f->dedup, it->key);
	sr_catalog_prefetch_subscriber(f->cat, it->r.s.subscriber_id.ptr,
	                               it->r.s.subscriber_id.len, 0);
	return 0;
}

/* Pass 2 for a parsed record: steps 2 and 3 with the record's period,
 * into it->why; prefetches the subscriber of a record still in. */
static int judge(struct sr__follow *f, struct item *it)
{
	struct sr__fperiod *p = it->p;
	bool first = false; /* claim() may fail before setting it */
	if (!p) {
		it->why = SR_REASON_OTHER_PERIOD;
		return 0;
	}
	if (p->closed) {
		it->why = SR_REASON_PERIOD_CLOSED;
		return 0;
	}
	p->touched = true;
	int err = claim(f, it->key, f->dedup_pos++, &first);
	if (!err && first)
		err = remember_key(f, it->key, p->month);
	it->why = first ? SR_REASON_NONE : SR_REASON_DUPLICATE;
	if (first)
		sr_catalog_prefetch_subscriber(f->cat,
		                               it->r.s.subscriber_id.ptr,
		                               it->r.s.subscriber_id.len, 1);
	return err;
}

/* Pass 2, second half: steps 4 to 10 for the records still in. */
static void rate_item(struct sr__follow *f, struct item *it)
{
	if (it->r.kind != SR_SPLIT_RECORD || it->r.why || !it->p ||
	    it->p->closed || it->why)
		return;
	it->why = sr_rate(f->cat, &it->r.s, &it->rated);
	if (!it->why)
		delta_prefetch(&f->deltas, it->p->month, &it->rated);
}

/* Pass 3: the outcome of every record, in input order. */
static int emit(struct sr__follow *f, struct sr__input *in, struct item *it)
{
	switch (it->r.kind) {
	case SR_SPLIT_EMPTY:
		f->stats->skipped++;
		return 0;
	case SR_SPLIT_MALFORMED:
		f->stats->records++;
		return reject(f, &f->outs.unknown, in, it,
		              SR_REASON_MALFORMED_LINE);
	default:
		f->stats->records++;
		if (it->r.why)
			return reject(f, &f->outs.unknown, in, it, it->r.why);
		if (!it->p)
			return reject(f, &f->outs.unknown, in, it, it->why);
		if (it->why)
			return reject(f, &it->p->rejects, in, it, it->why);
		return rated(f, it->p, &it->r, &it->rated);
	}
}

/* Pass 1: decode up to a batch of records from [p + *off, p + n). */
static int decode_batch(struct sr__follow *f, struct sr__input *in,
                        const char *p, size_t n, bool eof, struct item *b,
                        size_t *count, size_t *off, uint64_t *line)
{
	size_t k = 0;
	int err = 0;
	while (k < SR_FOLLOW_BATCH && *off < n && !err) {
		struct item *it = &b[k];
		f->dec->next(f, in, p + *off, n - *off, eof, (unsigned)k,
		             &it->r);
		if (it->r.kind == SR_SPLIT_MORE)
			break;
		it->line = *line;
		it->p = NULL;
		*off += it->r.consumed;
		*line += it->r.lines;
		if (it->r.kind == SR_SPLIT_RECORD && !it->r.why)
			err = prepare(f, it);
		k++;
	}
	*count = k;
	return err;
}

int sr__rate_bytes(struct sr__follow *f, struct sr__input *in, const char *p,
                   size_t n, bool eof, size_t *used)
{
	struct item batch[SR_FOLLOW_BATCH];
	size_t off = 0, k = 1;
	uint64_t line = in->line;
	int err = 0;
	while (off < n && k && !err) {
		err = decode_batch(f, in, p, n, eof, batch, &k, &off, &line);
		for (size_t i = 0; i < k && !err; i++)
			if (batch[i].r.kind == SR_SPLIT_RECORD &&
			    !batch[i].r.why)
				err = judge(f, &batch[i]);
		for (size_t i = 0; i < k && !err; i++)
			rate_item(f, &batch[i]);
		for (size_t i = 0; i < k && !err; i++)
			err = emit(f, in, &batch[i]);
	}
	in->off += off;
	in->line = line;
	f->stats->bytes += off;
	*used = off;
	if (off) {
		in->dirty = true;
		f->pending = true;
	}
	return err;
}
