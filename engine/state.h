/*
 * The durable state of `streamrate follow` and `streamrate close`: one
 * LMDB environment in the state directory holding, per input, the identity
 * of the content being read and how far it has been committed; the byte
 * size each output file had at the last commit; the duplicate keys; the
 * per-(period, subscriber, rate or PPV content) totals; and the closed
 * periods. One write transaction holds one commit, so a crash leaves the
 * state of the last commit whole, and output files are cut back to the
 * sizes it names.
 *
 * Ids are stored as strings, never as catalog indexes: the catalog may be
 * reloaded between commits. Every function works on the transaction begun
 * by sr__state_begin(); views returned by readers live until it ends.
 */
#ifndef SR_STATE_H
#define SR_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dedup.h"
#include "streamrate/types.h"

/* Which content an input is reading: the file, and its first bytes. */
struct sr__ident {
	uint64_t dev, ino;
	uint64_t fp;     /* XXH3-64 of the first fp_len bytes */
	uint32_t fp_len; /* at most SR_FP_MAX; 0: nothing read yet */
};

#define SR_FP_MAX 4096

/* An input's committed progress. */
struct sr__input_state {
	struct sr__ident id;
	uint64_t off;    /* first byte not yet rated */
	uint64_t line;   /* line number of the record at off */
	int64_t time_ns; /* wall clock (CLOCK_REALTIME) when follow first
	                  * opened this content: a copy written since then
	                  * may hold it (copy-truncate) */
};

enum sr__ledger_kind_byte {
	SR_STATE_USAGE = 'u',
	SR_STATE_PPV = 'p',
};

struct sr__state;

/*
 * Open (creating it and the directory if missing) the state at dir. With
 * lazy_meta, a commit syncs the data but not LMDB's meta page: a system
 * crash may then undo the last commit (never tear it), which follow
 * recovers from like any other restart, at half the fsyncs per commit.
 */
int sr__state_open(const char *dir, bool lazy_meta, struct sr__state **out);
/* A second handle on the same environment, for another thread's
 * transactions. Close it before the original. */
int sr__state_fork(struct sr__state *s, struct sr__state **out);
/* Abort any transaction and close; accepts NULL. */
void sr__state_close(struct sr__state *s);

/* Begin the one transaction the other calls use. */
int sr__state_begin(struct sr__state *s, bool write);
/* Commit it (durably) or abort it. */
int sr__state_commit(struct sr__state *s);
void sr__state_abort(struct sr__state *s);

/* A small value under a name in "meta": 0, or SR_ENOTFOUND. */
int sr__state_meta_get(struct sr__state *s, const char *key,
                       struct sr_str *val);
int sr__state_meta_put(struct sr__state *s, const char *key, struct sr_str val);

/* Inputs, keyed by path. get: 0 or SR_ENOTFOUND. */
int sr__state_input_get(struct sr__state *s, const char *path,
                        struct sr__input_state *in);
int sr__state_input_put(struct sr__state *s, const char *path,
                        const struct sr__input_state *in);
int sr__state_input_del(struct sr__state *s, const char *path);
typedef int (*sr__state_input_fn)(void *ctx, const char *path, size_t len,
                                  const struct sr__input_state *in);
int sr__state_inputs_each(struct sr__state *s, sr__state_input_fn fn,
                          void *ctx);

/* Committed output sizes, keyed by file name in the output directory. */
int sr__state_output_put(struct sr__state *s, const char *name, uint64_t size);
typedef int (*sr__state_output_fn)(void *ctx, const char *name, size_t len,
                                   uint64_t size);
int sr__state_outputs_each(struct sr__state *s, sr__state_output_fn fn,
                           void *ctx);

/* Duplicate keys, by period: appended in blocks of up to 4,000; read
 * back with their period; dropped when the period is closed. */
int sr__state_keys_append(struct sr__state *s, const char *period,
                          const struct sr_key128 *keys, size_t n);
typedef int (*sr__state_keys_fn)(void *ctx, const char *period,
                                 const struct sr_key128 *keys, size_t n);
int sr__state_keys_each(struct sr__state *s, sr__state_keys_fn fn, void *ctx);
int sr__state_keys_drop(struct sr__state *s, const char *period);
/* How many keys are stored (sizes only: no block is read). */
int sr__state_keys_count(struct sr__state *s, size_t *n);

/* Closed periods ("YYYY-MM"). closed_get: 0 when closed, or SR_ENOTFOUND. */
int sr__state_closed_get(struct sr__state *s, const char *period);
int sr__state_closed_put(struct sr__state *s, const char *period);

/* Ledger totals: add a delta to one key; walk one period's keys. */
struct sr__ledger_key {
	struct sr_str subscriber;
	unsigned kind;      /* enum sr__ledger_kind_byte */
	struct sr_str item; /* rate_id or PPV content_id */
};
struct sr__ledger_delta {
	const char *period; /* "YYYY-MM" */
	struct sr__ledger_key k;
	int64_t sessions;
	unsigned __int128 count;
};
/* Add n deltas to the stored totals (one cursor pass in key order). */
int sr__state_ledger_add(struct sr__state *s, const struct sr__ledger_delta *d,
                         size_t n);
typedef int (*sr__state_ledger_fn)(void *ctx, const struct sr__ledger_key *k,
                                   int64_t sessions, unsigned __int128 count);
int sr__state_ledger_each(struct sr__state *s, const char *period,
                          sr__state_ledger_fn fn, void *ctx);

#endif
