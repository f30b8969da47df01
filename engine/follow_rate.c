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
                     size_t n, bool eof, struct sr__record *r)
{
	struct sr_csv_record rec;
	uint32_t expect = in->header.nfields;
	r->kind = sr__csv_split(p, n, eof, f->fields, expect, expect,
	                        f->scratch, &rec);
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

static int remember_key(struct sr__follow *f, struct sr_key128 k)
{
	if (f->nkeys == f->keys_cap) {
		size_t cap = f->keys_cap ? f->keys_cap * 2 : 4096;
		struct sr_key128 *p = realloc(f->keys, cap * sizeof(*p));
		if (!p)
			return SR_ENOMEM;
		f->keys = p;
		f->keys_cap = cap;
	}
	f->keys[f->nkeys++] = k;
	return 0;
}

static int on_stored_keys(void *ctx, const struct sr_key128 *keys, size_t n)
{
	struct sr__follow *f = ctx;
	bool first;
	for (size_t i = 0; i < n; i++) {
		int err = claim(f, keys[i], 0, &first);
		if (err)
			return err;
	}
	return 0;
}

int sr__rate_load(struct sr__follow *f)
{
	int err = sr__dedup_init(&f->dedup, 1 << 16);
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

/* Rebuild the index with at least twice the entries' slots. */
static int deltas_reindex(struct sr__deltas *d, size_t slots)
{
	uint32_t *index = calloc(slots, sizeof(*index));
	if (!index)
		return SR_ENOMEM;
	free(d->index);
	d->index = index;
	d->mask = slots - 1;
	for (size_t i = 0; i < d->n; i++) {
		struct sr__delta *e = &d->e[i];
		size_t s = delta_slot(d, e->month, e->subscriber, e->item);
		while (d->index[s])
			s = (s + 1) & d->mask;
		d->index[s] = (uint32_t)i + 1;
	}
	return 0;
}

static struct sr__delta *delta_find(struct sr__deltas *d, int64_t month,
                                    uint32_t sub, const void *item)
{
	if (!d->index || (d->n + 1) * 2 > d->mask + 1) {
		if (deltas_reindex(d, d->index ? (d->mask + 1) * 2 : 1024))
			return NULL;
	}
	size_t s = delta_slot(d, month, sub, item);
	for (; d->index[s]; s = (s + 1) & d->mask) {
		struct sr__delta *e = &d->e[d->index[s] - 1];
		if (e->item == item && e->subscriber == sub &&
		    e->month == month)
			return e;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 1024;
		struct sr__delta *e = realloc(d->e, cap * sizeof(*e));
		if (!e)
			return NULL;
		d->e = e;
		d->cap = cap;
	}
	d->index[s] = (uint32_t)++d->n;
	struct sr__delta *e = &d->e[d->n - 1];
	*e =
	    (struct sr__delta){.month = month, .subscriber = sub, .item = item};
	return e;
}

/* Count a rated session as the batch ledger does: PPV purchases and usage
 * under a rate; an included session counts nothing. */
static int delta_add(struct sr__deltas *d, int64_t month,
                     const struct sr_rated *r)
{
	bool ppv = r->content->ppv;
	const void *item =
	    ppv ? (const void *)r->content : (const void *)r->rate;
	if (!item)
		return 0;
	struct sr__delta *e = delta_find(d, month, r->subscriber->index, item);
	if (!e)
		return SR_ENOMEM;
	e->kind = ppv ? SR_LEDGER_PPV : SR_LEDGER_USAGE;
	e->sessions++;
	e->count += ppv ? 1 : r->units;
	return 0;
}

static void delta_text(int64_t month, char *text)
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

int sr__rate_save(struct sr__follow *f)
{
	struct sr__deltas *d = &f->deltas;
	char text[8];
	for (size_t i = 0; i < d->n; i++) {
		const struct sr__delta *e = &d->e[i];
		struct sr__ledger_key k = {
		    .subscriber =
		        sr_catalog_subscriber_at(f->cat, e->subscriber)->id,
		};
		if (e->kind == SR_LEDGER_PPV) {
			k.kind = SR_STATE_PPV;
			k.item = ((const struct sr_content *)e->item)->id;
		} else {
			k.kind = SR_STATE_USAGE;
			k.item = ((const struct sr_rate *)e->item)->id;
		}
		delta_text(e->month, text);
		int err = sr__state_ledger_add(f->state, text, &k, e->sessions,
		                               e->count);
		if (err)
			return err;
	}
	return sr__state_keys_append(f->state, f->keys, f->nkeys);
}

void sr__rate_committed(struct sr__follow *f)
{
	struct sr__deltas *d = &f->deltas;
	if (d->index)
		memset(d->index, 0, (d->mask + 1) * sizeof(*d->index));
	d->n = 0;
	f->nkeys = 0;
}

void sr__rate_finish(struct sr__follow *f)
{
	sr__dedup_finish(&f->dedup);
	free(f->keys);
	free(f->deltas.e);
	free(f->deltas.index);
	f->keys = NULL;
	f->deltas = (struct sr__deltas){0};
}

/* ---- Steps 1 to 10 ---- */

static int64_t month_of(int64_t instant)
{
	int64_t y;
	unsigned m, d;
	sr__civil_from_days(sr__day_of(instant), &y, &m, &d);
	return y * 12 + m - 1;
}

static int reject(struct sr__follow *f, struct sr__fout *out,
                  struct sr__input *in, const struct sr__record *r,
                  enum sr_reason why)
{
	int err = sr__fout_ready(&f->outs, out);
	size_t before = out->buf.len;
	if (!err)
		err = sr__emit_reject(&out->buf, in->field.data, in->field.len,
		                      in->line, why, r->raw, r->raw_len);
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

/* A parsed record: its period, then steps 2 to 10. */
static int rate_session(struct sr__follow *f, struct sr__input *in,
                        const struct sr__record *r)
{
	int64_t month = month_of(r->s.start);
	struct sr_rated out;
	bool first;

	if (month < 12 || month > 9999 * 12 + 11)
		return reject(f, &f->outs.unknown, in, r,
		              SR_REASON_OTHER_PERIOD);
	struct sr__fperiod *p = sr__fouts_period(&f->outs, f->state, month);
	if (!p)
		return SR_ENOMEM;
	if (p->closed)
		return reject(f, &p->rejects, in, r, SR_REASON_PERIOD_CLOSED);
	p->touched = true;
	struct sr_key128 k = key_of(&r->s, month);
	int err = claim(f, k, f->dedup_pos++, &first);
	if (!err && first)
		err = remember_key(f, k);
	if (err)
		return err;
	if (!first)
		return reject(f, &p->rejects, in, r, SR_REASON_DUPLICATE);
	enum sr_reason why = sr_rate(f->cat, &r->s, &out);
	if (why)
		return reject(f, &p->rejects, in, r, why);
	return rated(f, p, r, &out);
}

static int rate_one(struct sr__follow *f, struct sr__input *in,
                    const struct sr__record *r)
{
	switch (r->kind) {
	case SR_SPLIT_EMPTY:
		f->stats->skipped++;
		return 0;
	case SR_SPLIT_MALFORMED:
		f->stats->records++;
		return reject(f, &f->outs.unknown, in, r,
		              SR_REASON_MALFORMED_LINE);
	default:
		f->stats->records++;
		if (r->why)
			return reject(f, &f->outs.unknown, in, r, r->why);
		return rate_session(f, in, r);
	}
}

int sr__rate_bytes(struct sr__follow *f, struct sr__input *in, const char *p,
                   size_t n, bool eof, size_t *used)
{
	size_t off = 0;
	int err = 0;
	while (off < n && !err) {
		struct sr__record r;
		f->dec->next(f, in, p + off, n - off, eof, &r);
		if (r.kind == SR_SPLIT_MORE)
			break;
		err = rate_one(f, in, &r);
		off += r.consumed;
		in->off += r.consumed;
		in->line += r.lines;
	}
	f->stats->bytes += off;
	*used = off;
	if (off) {
		in->dirty = true;
		f->pending = true;
	}
	return err;
}
