/*
 * Rating a chunk of whole records, and settling it at commit. The worker
 * side is the hot path: split, parse, check the period, claim the pair in
 * the shared duplicate set, rate, append the row. Rejects are kept as small
 * events rather than text because their line numbers depend on the chunks
 * before; they are rare, so formatting them at commit costs little.
 *
 * Settling handles the rare case where a record of this chunk lost its
 * duplicate claim to an earlier record rated later by another worker: its
 * row and ledger delta are cut out, and it becomes a `duplicate` reject.
 */
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "columns.h"
#include "csv.h"
#include "streamrate/error.h"
#include "streamrate/rate.h"

#define SR_MAX_FIELDS 1024

/* The rating pipeline of sr__chunk_rate(): records are
 * SR_DEPTH apart between stages, SR_RING of them in flight. */
#define SR_DEPTH  3
#define SR_STAGES 4
#define SR_RING   16 /* records in flight, > (SR_STAGES - 1) * SR_DEPTH */

_Static_assert(SR_RING > (SR_STAGES - 1) * SR_DEPTH, "ring too small");

int sr__chunk_ctx_init(struct sr_chunk_ctx *ctx, const struct sr_catalog *cat,
                       const struct sr_period *period, struct sr_dedup *dedup,
                       size_t keys)
{
	*ctx =
	    (struct sr_chunk_ctx){.cat = cat, .period = period, .dedup = dedup};
	ctx->fields = calloc(SR_MAX_FIELDS, sizeof(*ctx->fields));
	/* One scratch per record of a batch: parsed fields point into it. */
	ctx->scratch = malloc((size_t)SR_RING * SR_SCRATCH_SIZE);
	if (!ctx->fields || !ctx->scratch)
		return SR_ENOMEM;
	int err = keys ? sr_ledger_create(&ctx->ledger,
	                                  sr_catalog_nsubscribers(cat), keys)
	               : 0;
	return err ? err : sr__rowfmt_init(&ctx->fmt, cat, period);
}

void sr__chunk_ctx_finish(struct sr_chunk_ctx *ctx)
{
	free(ctx->fields);
	free(ctx->scratch);
	sr_ledger_destroy(ctx->ledger);
	sr__rowfmt_finish(&ctx->fmt);
	*ctx = (struct sr_chunk_ctx){0};
}

void sr__chunk_reset(struct sr_chunk *c)
{
	c->rated.len = 0;
	c->nrows = c->nrejects = 0;
	c->lines = c->skipped = c->fresh = 0;
	memset(c->by_reason, 0, sizeof(c->by_reason));
	c->error = 0;
	c->nretracts = 0;
}

void sr__chunk_finish(struct sr_chunk *c)
{
	sr__buf_finish(&c->rated);
	free(c->row_pos);
	free(c->row_end);
	free(c->deltas);
	free(c->rejects);
	free(c->retracts);
}

static int add_retract(struct sr_chunk *c, uint64_t pos)
{
	if (c->nretracts == c->retracts_cap) {
		size_t cap = c->retracts_cap ? c->retracts_cap * 2 : 64;
		uint64_t *r = realloc(c->retracts, cap * sizeof(*r));
		if (!r)
			return SR_ENOMEM;
		c->retracts = r;
		c->retracts_cap = cap;
	}
	c->retracts[c->nretracts++] = pos;
	return 0;
}

static int add_reject(struct sr_chunk *c, size_t off, uint32_t line,
                      enum sr_reason why, const struct sr_csv_record *rec,
                      bool claimed)
{
	if (c->nrejects == c->rejects_cap) {
		size_t cap = c->rejects_cap ? c->rejects_cap * 2 : 256;
		struct sr_reject_event *e =
		    realloc(c->rejects, cap * sizeof(*e));
		if (!e)
			return SR_ENOMEM;
		c->rejects = e;
		c->rejects_cap = cap;
	}
	c->rejects[c->nrejects++] = (struct sr_reject_event){
	    .pos = c->pos + off,
	    .line = line,
	    .raw_len = rec->raw_len,
	    .raw_off = (uint32_t)off,
	    .reason = (uint16_t)why,
	    .claimed = claimed,
	};
	c->by_reason[why]++;
	return 0;
}

static int add_row(struct sr_chunk_ctx *ctx, struct sr_chunk *c, size_t off,
                   const struct sr_session *s, const struct sr_rated *r)
{
	if (c->nrows == c->rows_cap) {
		size_t cap = c->rows_cap ? c->rows_cap * 2 : 4096;
		uint64_t *pos = realloc(c->row_pos, cap * sizeof(*pos));
		if (pos)
			c->row_pos = pos;
		uint32_t *end = realloc(c->row_end, cap * sizeof(*end));
		if (end)
			c->row_end = end;
		struct sr_ledger_delta *d =
		    realloc(c->deltas, cap * sizeof(*d));
		if (!pos || !end || !d)
			return SR_ENOMEM;
		c->deltas = d;
		c->rows_cap = cap;
	}
	int err = sr__emit_rated(&c->rated, &ctx->fmt, s, r);
	if (err)
		return err;
	c->row_pos[c->nrows] = c->pos + off;
	c->row_end[c->nrows] = (uint32_t)c->rated.len;
	sr_ledger_delta_of(r, &c->deltas[c->nrows]);
	return sr_ledger_apply(ctx->ledger, &c->deltas[c->nrows++], 1);
}

/*
 * Records are rated as a software pipeline so that the cache misses of one
 * record (its duplicate-set slot, the subscriber's table slot and block,
 * its ledger slot) overlap with the work on others instead of queueing:
 * each record goes through four stages, SR_DEPTH records apart, and what
 * a stage touches was prefetched a stage before. At any moment one record
 * is parsed while earlier ones are claimed, rated and emitted, so every
 * prefetch has SR_DEPTH records of work to arrive. Outcomes are emitted
 * in input order by the last stage.
 */


struct item {
	size_t off;
	uint32_t line;
	enum sr_split kind;
	enum sr_reason why;
	bool claimed; /* got past step 3 */
	struct sr_csv_record rec;
	struct sr_session s;
	struct sr_key128 key;
	uint64_t sub_hash;     /* of the subscriber id, for its lookups */
	uint64_t content_hash; /* of the content id */
	struct sr_subscriber sub; /* what rated.subscriber points to */
	struct sr_rated rated;
};

/* Unquoted ids cannot hold a comma or a quote (and valid ids hold no CR
 * or LF): tell the row writer it may copy them as they are. */
static uint8_t plain_ids(const struct sr_header *h, uint64_t quoted)
{
	static const int cols[3] = {SR_COL_SESSION_ID, SR_COL_SUBSCRIBER_ID,
	                            SR_COL_CONTENT_ID};
	uint8_t plain = 0;
	for (int k = 0; k < 3; k++) {
		int32_t f = h->field[cols[k]];
		if (f < 63 && !(quoted >> f & 1))
			plain |= (uint8_t)(1u << k);
	}
	return plain;
}

/* Stage 1: split, parse, check the period; hash for the claim and lookup. */
static void split_one(struct sr_chunk_ctx *ctx, const struct sr_chunk *c,
                      struct item *it, char *scratch, size_t *off,
                      uint32_t *line)
{
	uint32_t expect = c->header->nfields;
	it->off = *off;
	it->line = *line;
	it->why = SR_REASON_NONE;
	it->claimed = false;
	it->kind = sr__csv_split(c->data + *off, c->len - *off, true,
	                         ctx->fields, expect, expect, scratch, &it->rec);
	*off += it->rec.consumed;
	*line += it->rec.lines;
	if (it->kind != SR_SPLIT_RECORD)
		return;
	it->why = sr__session_parse(c->header, ctx->fields, it->rec.clean,
	                            &it->s);
	it->s.plain = plain_ids(c->header, it->rec.quoted);
	if (!it->why && !sr_period_holds(ctx->period, it->s.start))
		it->why = SR_REASON_OTHER_PERIOD;
	if (it->why)
		return;
	it->sub_hash = sr_catalog_id_hash(it->s.subscriber_id.ptr,
	                                  it->s.subscriber_id.len);
	it->key = sr__dedup_key(it->sub_hash, it->s.session_id);
	it->content_hash = sr_catalog_id_hash(it->s.content_id.ptr,
	                                      it->s.content_id.len);
}

/* Stage 2: claim in the duplicate set (step 3). */
static int claim_one(struct sr_chunk_ctx *ctx, struct sr_chunk *c,
                     struct item *it)
{
	uint64_t retracted;
	bool fresh;
	if (it->kind != SR_SPLIT_RECORD || it->why)
		return 0;
	bool first = sr__dedup_claim(ctx->dedup, it->key, c->pos + it->off,
	                             &retracted, &fresh);
	c->fresh += fresh;
	if (retracted != SR_DEDUP_NO_POS) {
		int err = add_retract(c, retracted);
		if (err)
			return err;
	}
	if (!first) {
		it->why = SR_REASON_DUPLICATE;
		return 0;
	}
	it->claimed = true;
	return 0;
}

/* Stage 3: rate (steps 4 to 10). */
static void rate_one(struct sr_chunk_ctx *ctx, struct item *it)
{
	if (!it->claimed)
		return;
	const struct sr_subscriber *sub = sr_catalog_subscriber_h(
	    ctx->cat, it->s.subscriber_id.ptr, it->s.subscriber_id.len,
	    it->sub_hash, &it->sub);
	const struct sr_content *content =
	    sr_catalog_content_h(ctx->cat, it->s.content_id.ptr,
	                         it->s.content_id.len, it->content_hash);
	it->why = sr_rate_for(ctx->cat, &it->s, sub, content, &it->rated);
}

/*
 * Every prefetch goes out together at the end of a round: the duplicate
 * set's slot and the subscriber's table slot of the record just split, the
 * subscriber's block of the record just claimed, the ledger slot of the
 * record just rated. On 4 KiB pages each starts with a page walk that may
 * itself miss the caches, and a prefetch cannot retire before its walk
 * ends: issued apart, the walks stalled one after the other; issued
 * together they overlap. (The block's prefetch, issued in the claim
 * stage, had 15% of the pipeline's samples on the instruction after it;
 * moved here, 8 alternated 2-thread runs rated in 1.10-1.23 s against
 * 1.19-1.32 s, with the change below.)
 */
static void prefetch_round(struct sr_chunk_ctx *ctx, const struct item *split,
                           const struct item *claimed,
                           const struct item *rated)
{
	if (split && split->kind == SR_SPLIT_RECORD && !split->why) {
		sr__dedup_prefetch(ctx->dedup, split->key);
		sr_catalog_prefetch_subscriber(ctx->cat, split->sub_hash, 0);
		sr_catalog_prefetch_content(ctx->cat, split->content_hash, 0);
	}
	if (claimed && claimed->claimed) {
		sr_catalog_prefetch_subscriber(ctx->cat, claimed->sub_hash, 1);
		sr_catalog_prefetch_content(ctx->cat, claimed->content_hash,
		                            1);
	}
	if (rated && rated->claimed && !rated->why) {
		struct sr_ledger_delta d;
		sr_ledger_delta_of(&rated->rated, &d);
		sr_ledger_prefetch(ctx->ledger, &d);
	}
}

/* Stage 4: the outcome, in input order. */
static int emit_one(struct sr_chunk_ctx *ctx, struct sr_chunk *c,
                    const struct item *it)
{
	if (it->kind == SR_SPLIT_EMPTY) {
		c->skipped++;
		return 0;
	}
	if (it->kind == SR_SPLIT_MALFORMED)
		return add_reject(c, it->off, it->line,
		                  SR_REASON_MALFORMED_LINE, &it->rec, false);
	if (it->why)
		return add_reject(c, it->off, it->line, it->why, &it->rec,
		                  it->claimed);
	return add_row(ctx, c, it->off, &it->s, &it->rated);
}

int sr__chunk_rate(struct sr_chunk_ctx *ctx, struct sr_chunk *c)
{
	struct item ring[SR_RING];
	uint32_t line = 0;
	size_t off = 0, n = 0; /* n: records started */
	int err = 0;

	/* Round t starts record t and moves record t - k * SR_DEPTH on to
	 * stage k + 1; it ends when the last record has been emitted. */
	for (size_t t = 0; !err && (off < c->len || t < n + (SR_STAGES - 1) * SR_DEPTH);
	     t++) {
		bool split = off < c->len;
		if (split) {
			split_one(ctx, c, &ring[t % SR_RING],
			          ctx->scratch + (t % SR_RING) * SR_SCRATCH_SIZE,
			          &off, &line);
			n = t + 1;
		}
#define AT(k) (t >= (k) * SR_DEPTH && t - (k) * SR_DEPTH < n)
#define ITEM(k) (&ring[(t - (k) * SR_DEPTH) % SR_RING])
		if (AT(1))
			err = claim_one(ctx, c, ITEM(1));
		if (AT(2))
			rate_one(ctx, ITEM(2));
		if (AT(3) && !err)
			err = emit_one(ctx, c, ITEM(3));
		prefetch_round(ctx, split ? &ring[t % SR_RING] : NULL,
		               AT(1) ? ITEM(1) : NULL, AT(2) ? ITEM(2) : NULL);
#undef AT
#undef ITEM
	}
	c->lines = line;
	c->error = err;
	return err;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static int cmp_event(const void *a, const void *b)
{
	return cmp_u64(&((const struct sr_reject_event *)a)->pos,
	               &((const struct sr_reject_event *)b)->pos);
}

/* The rated row at index i lost its claim: it becomes a reject. */
static int unrate(struct sr_chunk_ctx *ctx, struct sr_chunk *c, size_t i)
{
	size_t off = (size_t)(c->row_pos[i] - c->pos);
	struct sr_csv_record rec;
	uint32_t line = 0;

	for (const char *p = c->data;
	     (p = memchr(p, '\n', (size_t)(c->data + off - p))); p++)
		line++;
	uint32_t n = c->header->nfields;
	sr__csv_split(c->data + off, c->len - off, true, ctx->fields, n, n,
	              ctx->scratch, &rec);
	return add_reject(c, off, line, SR_REASON_DUPLICATE, &rec, false);
}

/* Cut the rows at sorted indexes cut[0..n) out of the rated text. */
static void cut_rows(struct sr_chunk *c, const size_t *cut, size_t n)
{
	size_t w = 0, from = 0, kept = 0, k = 0;
	for (size_t i = 0; i < c->nrows; i++) {
		size_t end = c->row_end[i];
		if (k < n && cut[k] == i) {
			k++;
		} else {
			memmove(c->rated.data + w, c->rated.data + from,
			        end - from);
			w += end - from;
			c->row_pos[kept] = c->row_pos[i];
			c->deltas[kept] = c->deltas[i];
			c->row_end[kept++] = (uint32_t)w;
		}
		from = end;
	}
	c->rated.len = w;
	c->nrows = kept;
}

/* Apply the retractions of c: positions whose claim an earlier record took. */
static int apply_retractions(struct sr_chunk_ctx *ctx, struct sr_chunk *c,
                             const uint64_t *retracted, size_t count,
                             struct sr_ledger *corrections)
{
	size_t nrej = c->nrejects, n = 0, cap = 0;
	size_t *cut = NULL;
	int err = 0;

	for (size_t r = 0; r < count && !err; r++) {
		uint64_t *row = bsearch(&retracted[r], c->row_pos, c->nrows,
		                        sizeof(*c->row_pos), cmp_u64);
		if (row) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				size_t *m = realloc(cut, cap * sizeof(*m));
				if (!m) {
					err = SR_ENOMEM;
					break;
				}
				cut = m;
			}
			cut[n] = (size_t)(row - c->row_pos);
			err = sr_ledger_apply(corrections, &c->deltas[cut[n]],
			                      -1);
			if (!err)
				err = unrate(ctx, c, cut[n]);
			n++;
			continue;
		}
		struct sr_reject_event key = {.pos = retracted[r]};
		struct sr_reject_event *e =
		    bsearch(&key, c->rejects, nrej, sizeof(key), cmp_event);
		if (e && e->claimed) {
			c->by_reason[e->reason]--;
			c->by_reason[SR_REASON_DUPLICATE]++;
			e->reason = SR_REASON_DUPLICATE;
			e->claimed = 0;
		}
	}
	if (!err && n) {
		qsort(cut, n, sizeof(*cut), cmp_u64);
		cut_rows(c, cut, n);
		qsort(c->rejects, c->nrejects, sizeof(*c->rejects), cmp_event);
	}
	free(cut);
	return err;
}

int sr__chunk_settle(struct sr_chunk_ctx *ctx, struct sr_chunk *c,
                     const uint64_t *retracted, size_t n, uint64_t first_line,
                     const struct sr_buf *file_field, struct sr_buf *rejects,
                     struct sr_ledger *corrections)
{
	int err = n ? apply_retractions(ctx, c, retracted, n, corrections) : 0;

	for (size_t i = 0; i < c->nrejects && !err; i++) {
		const struct sr_reject_event *e = &c->rejects[i];
		err =
		    sr__emit_reject(rejects, file_field->data, file_field->len,
		                    first_line + e->line, e->reason,
		                    c->data + e->raw_off, e->raw_len);
	}
	return err;
}
