/*
 * The set of (subscriber_id, session_id) pairs seen in a run (SPEC section
 * 3, step 3). Pairs are kept as 128-bit XXH3 hashes: 16 bytes per unique
 * session whatever the id lengths, with a collision chance below 10^-20 for
 * a billion sessions.
 */
#ifndef SR_DEDUP_H
#define SR_DEDUP_H

#include <stdbool.h>
#include <stdint.h>

#include "streamrate/types.h"

struct sr_key128 {
	uint64_t lo, hi;
};

struct sr_dedup {
	struct sr_key128 *slots; /* lo == 0 && hi == 0: empty */
	size_t mask;
	size_t used;
};

struct sr_key128 sr__dedup_key(struct sr_str subscriber, struct sr_str session);

int sr__dedup_init(struct sr_dedup *d, size_t expect);
void sr__dedup_finish(struct sr_dedup *d);
/* Insert k: 1 when it was new, 0 when already there, or SR_ENOMEM. */
int sr__dedup_insert(struct sr_dedup *d, struct sr_key128 k);

#endif
