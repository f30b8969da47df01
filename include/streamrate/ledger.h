/*
 * Per-subscriber period totals: units per (subscriber, rate) and purchases
 * per (subscriber, PPV content), keyed by the catalog's subscriber index.
 * Adding is one hash probe with no allocation but when the table doubles.
 * Each worker keeps its own ledger; invoices read several at once. An addition
 * can be taken back (a record later found to be a duplicate), so speculation by
 * parallel workers stays exact.
 */
#ifndef STREAMRATE_LEDGER_H
#define STREAMRATE_LEDGER_H

#include "streamrate/rate.h"

struct sr_ledger;

/* A ledger for subscriber indexes 0..nsubscribers-1, sized for about
 * keys entries (it grows past that). */
int sr_ledger_create(struct sr_ledger **out, uint32_t nsubscribers,
                     size_t keys);
void sr_ledger_destroy(struct sr_ledger *l);

enum sr_ledger_kind {
	SR_LEDGER_USAGE = 0,
	SR_LEDGER_PPV = 1,
};

/*
 * What one rated session adds to a ledger, as a small value: workers keep
 * these beside their rated rows and the in-order commit applies them, so
 * one ledger serves a whole run.
 */
struct sr_ledger_delta {
	const void *item;    /* the rate or PPV content; NULL: nothing */
	uint32_t subscriber; /* subscriber index */
	uint32_t kind;       /* enum sr_ledger_kind */
	uint64_t units;      /* units, or 1 purchase */
};

/* The delta of a rated session (included sessions, with no rate, add
 * nothing). */
void sr_ledger_delta_of(const struct sr_rated *r, struct sr_ledger_delta *d);
/* Hint that d will be applied soon: prefetches its slot. */
void sr_ledger_prefetch(const struct sr_ledger *l,
                        const struct sr_ledger_delta *d);
/* Apply d; sign is +1 to add, -1 to take back an earlier addition.
 * SR_EINVAL once the ledger is sealed. */
int sr_ledger_apply(struct sr_ledger *l, const struct sr_ledger_delta *d,
                    int sign);
/* sr_ledger_delta_of() then sr_ledger_apply(). */
int sr_ledger_add(struct sr_ledger *l, const struct sr_rated *r, int sign);

struct sr_ledger_entry {
	uint32_t kind;                    /* enum sr_ledger_kind */
	const struct sr_rate *rate;       /* usage */
	const struct sr_content *content; /* ppv */
	int64_t sessions;                 /* sessions counted */
	unsigned __int128 count;          /* units (usage) or purchases (ppv) */
};

/*
 * End the updates of l: from here it is read-only, and further updates
 * fail with SR_EINVAL. Its table is already laid out by subscriber for
 * sr_ledger_collect(). Sealing again does nothing.
 */
int sr_ledger_seal(struct sr_ledger *l);

/*
 * The totals of one subscriber summed over sealed ledgers[0..n): every key some
 * session still counts for, usage before PPV, then by rate index or content
 * id bytes. Writes at most cap entries to out and returns how many there
 * are; when that is more than cap, call again with a larger out.
 */
size_t sr_ledger_collect(const struct sr_ledger *const *ledgers, unsigned n,
                         uint32_t subscriber, struct sr_ledger_entry *out,
                         size_t cap);

#endif
