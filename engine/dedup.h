/*
 * The set of (subscriber_id, session_id) pairs of a run (SPEC section 3,
 * step 3), shared lock-free by the rating workers.
 *
 * A pair is a 128-bit XXH3 hash, of which a slot keeps 83 bits (64 + 19)
 * beside the input position (byte offset in the run's input stream, 44
 * bits) of the earliest occurrence claimed so far: 16 bytes per unique
 * session. Workers claim pairs in whatever order the chunks are rated; the
 * slot keeps the minimum position, so when a worker claims an earlier
 * position than the one stored, the stored record turns out to be the
 * duplicate and is "retracted". The in-order commit applies retractions
 * before writing a chunk: the result is exactly the first occurrence in
 * input order, whatever the threads and timing. Two different pairs share
 * 83 hash bits with a chance below 10^-7 for a billion sessions.
 */
#ifndef SR_DEDUP_H
#define SR_DEDUP_H

#include <stdbool.h>
#include <stdint.h>

#include "streamrate/types.h"

#define SR_DEDUP_POS_BITS 44
#define SR_DEDUP_NO_POS   UINT64_MAX

struct sr_key128 {
	uint64_t lo, hi;
};

struct sr_dedup {
	uint64_t *slots; /* pairs of words: key, VALID | key bits | pos */
	size_t mask;     /* slot count - 1 */
};

/*
 * The key of (subscriber id, session id), given the subscriber id's
 * 64-bit XXH3 (sr_catalog_id_hash(), which rating computes anyway): the
 * 128-bit XXH3 of the session id seeded with it. Pairs of two subscribers
 * share a key only if both the subscribers' hashes and the session ids
 * are equal, or by a 128-bit coincidence.
 */
struct sr_key128 sr__dedup_key(uint64_t subscriber_hash, struct sr_str session);

int sr__dedup_init(struct sr_dedup *d, size_t expect);
/* The same, its pages populated later by the threads that claim, each
 * calling sr__dedup_touch() for its share once it may claim. */
int sr__dedup_init_shared(struct sr_dedup *d, size_t expect);
void sr__dedup_touch(struct sr_dedup *d, unsigned share, unsigned shares);
void sr__dedup_finish(struct sr_dedup *d);
/* Slots a set of this size may fill before it must grow. */
static inline size_t sr__dedup_capacity(const struct sr_dedup *d)
{
	return (d->mask + 1) / 4 * 3;
}
/* Rehash into twice the slots; only while no thread claims. */
int sr__dedup_grow(struct sr_dedup *d, size_t used);

/* Hint that k will be claimed soon. */
static inline void sr__dedup_prefetch(const struct sr_dedup *d,
                                      struct sr_key128 k)
{
	__builtin_prefetch(&d->slots[2 * (k.lo & d->mask)], 1);
}

/*
 * Claim pair k at input position pos. Returns true when pos is the
 * earliest occurrence so far; then *retracted is the position of the
 * record that lost its claim, or SR_DEDUP_NO_POS. Returns false when an
 * earlier position already holds the pair (this record is a duplicate).
 * *fresh tells whether the pair was new to the set (for its size).
 */
bool sr__dedup_claim(struct sr_dedup *d, struct sr_key128 k, uint64_t pos,
                     uint64_t *retracted, bool *fresh);

#endif
