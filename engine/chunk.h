/*
 * Rating a chunk: a run of whole records of one input file, and what
 * rating made of it. A worker rates a chunk (sr__chunk_rate) with no lock
 * and no allocation per record; the in-order commit then settles it
 * (sr__chunk_settle): it applies the duplicate claims other chunks took
 * back, and formats the rejects, whose line numbers need every earlier
 * chunk's line count. Each rated row's ledger delta is added to the
 * worker's ledger at once and kept, so that the commit can take it back if
 * the row turns out a duplicate. This part knows tariffs but not threads.
 */
#ifndef SR_CHUNK_H
#define SR_CHUNK_H

#include "dedup.h"
#include "emit.h"
#include "streamrate/ledger.h"
#include "streamrate/session.h"

/* A record rejected in a chunk, formatted at commit time. */
struct sr_reject_event {
	uint64_t pos;  /* input position of the record */
	uint32_t line; /* physical line, relative to the chunk's first */
	uint32_t raw_len;
	uint32_t raw_off; /* offset of the raw record in the chunk */
	uint16_t reason;  /* enum sr_reason */
	uint16_t claimed; /* got past step 3 (a claim others may take back) */
};

struct sr_chunk {
	/* In: set by the dispatcher. */
	const char *data;
	size_t len;
	uint64_t pos; /* input position of data[0] */
	const struct sr_header *header;

	/* Out: set by the worker. */
	struct sr_buf rated;            /* rated.csv rows */
	uint64_t *row_pos;              /* input position of each rated row */
	uint32_t *row_end;              /* end offset of each row in rated */
	struct sr_ledger_delta *deltas; /* what each row adds to the ledger */
	size_t nrows, rows_cap;
	struct sr_reject_event *rejects;
	size_t nrejects, rejects_cap;
	uint64_t lines;   /* physical lines in the chunk */
	uint64_t skipped; /* empty lines */
	uint64_t fresh;   /* pairs new to the duplicate set */
	uint64_t by_reason[SR_REASON_COUNT];
	int error; /* a negative code if rating failed */
	/* Positions of later records whose claim this chunk took: they are
	 * duplicates, and always belong to chunks committed after this one. */
	uint64_t *retracts;
	size_t nretracts, retracts_cap;
};

/* Per-thread context of rating. */
struct sr_chunk_ctx {
	const struct sr_catalog *cat;
	const struct sr_period *period;
	struct sr_dedup *dedup;
	struct sr_ledger *ledger; /* this thread's totals */
	struct sr_rowfmt fmt;     /* encoded catalog ids for rated rows */
	struct sr_str *fields;
	char *scratch;
};

/* A context whose ledger is sized for about keys keys; none when 0 (the
 * commit side, which only formats rejects). */
int sr__chunk_ctx_init(struct sr_chunk_ctx *ctx, const struct sr_catalog *cat,
                       const struct sr_period *period, struct sr_dedup *dedup,
                       size_t keys);
void sr__chunk_ctx_finish(struct sr_chunk_ctx *ctx);

/* Reset the outputs of c for new input; keeps its buffers. */
void sr__chunk_reset(struct sr_chunk *c);
void sr__chunk_finish(struct sr_chunk *c);

/* Rate every record of c (steps 1 to 10) into c's outputs. Returns 0 or a
 * negative code (also in c->error). */
int sr__chunk_rate(struct sr_chunk_ctx *ctx, struct sr_chunk *c);

/*
 * Commit side: apply the retractions retracted[0..n) (sorted positions of
 * records of c that lost their claim: a rated row is cut out, its ledger
 * delta taken back into corrections, and the record becomes a duplicate
 * reject; a rejected claim changes reason), then append the reject rows to
 * rejects, numbering lines from first_line. Counts move accordingly in c.
 */
int sr__chunk_settle(struct sr_chunk_ctx *ctx, struct sr_chunk *c,
                     const uint64_t *retracted, size_t n, uint64_t first_line,
                     const struct sr_buf *file_field, struct sr_buf *rejects,
                     struct sr_ledger *corrections);

#endif
