/*
 * A lock-free single-producer single-consumer ring of pointers. The
 * producer publishes with a release store of the tail, the consumer takes
 * with an acquire load: no lock, no allocation. A consumer that finds the
 * ring empty spins briefly and then sleeps on a futex, so idle workers cost
 * nothing on an oversubscribed machine; the producer wakes it only when it
 * announced that it sleeps.
 */
#ifndef SR_RING_H
#define SR_RING_H

#include <stdbool.h>
#include <stdint.h>

struct sr_ring {
	void **items;
	uint32_t mask;
	/* Producer and consumer indexes live on their own cache lines. */
	uint32_t tail __attribute__((aligned(64)));
	uint32_t head __attribute__((aligned(64)));
	uint32_t sleeping __attribute__((aligned(64)));
};

/* capacity is rounded up to a power of two. 0 or SR_ENOMEM. */
int sr__ring_init(struct sr_ring *r, uint32_t capacity);
void sr__ring_finish(struct sr_ring *r);

/* Producer: false when full. */
bool sr__ring_push(struct sr_ring *r, void *item);
/* Consumer: NULL when empty. */
void *sr__ring_pop(struct sr_ring *r);
/* Consumer: wait until an item is there, then take it. */
void *sr__ring_pop_wait(struct sr_ring *r);

#endif
