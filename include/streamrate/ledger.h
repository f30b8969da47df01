/*
 * Per-subscriber period totals: units per (subscriber, rate) and purchases
 * per (subscriber, PPV content). Adding is a hash-table update with no
 * allocation except when the table grows; ledgers of several workers merge
 * into one, and an addition can be taken back (a record later found to be
 * a duplicate), so speculation by parallel workers stays exact.
 */
#ifndef STREAMRATE_LEDGER_H
#define STREAMRATE_LEDGER_H

#include "streamrate/rate.h"

struct sr_ledger;

int sr_ledger_create(struct sr_ledger **out);
void sr_ledger_destroy(struct sr_ledger *l);

/* Count a rated session (included sessions, with no rate, count nothing).
 * sign is +1 to add, -1 to take back an earlier addition. */
int sr_ledger_add(struct sr_ledger *l, const struct sr_rated *r, int sign);
/* Add every total of src into dst. */
int sr_ledger_merge(struct sr_ledger *dst, const struct sr_ledger *src);

enum sr_ledger_kind {
	SR_LEDGER_USAGE = 0,
	SR_LEDGER_PPV = 1,
};

struct sr_ledger_entry {
	uint32_t subscriber; /* subscriber index */
	uint32_t kind;       /* enum sr_ledger_kind */
	const struct sr_rate *rate;       /* usage */
	const struct sr_content *content; /* ppv */
	unsigned __int128 count; /* units (usage) or purchases (ppv) */
};

/*
 * Every key some session still counts for, sorted by subscriber index,
 * usage before PPV, then rate index or content id bytes. On success
 * *entries is a malloc'd array of *n entries that the caller frees.
 */
int sr_ledger_entries(const struct sr_ledger *l,
		      struct sr_ledger_entry **entries, size_t *n);

#endif
