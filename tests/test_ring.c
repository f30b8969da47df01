/*
 * The lock-free parts of the pipeline under stress: a tiny SPSC ring
 * pushed through millions of wrap-arounds with a consumer that sleeps and
 * a producer that meets a full ring (back-pressure); and the shared
 * duplicate set claimed concurrently, which must keep the smallest input
 * position of every pair whatever the interleaving. Run under TSan by
 * tools/sanitize.sh.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "barrier.h"
#include "dedup.h"
#include "ring.h"
#include "streamrate/catalog.h"

#define ITEMS 2000000

struct pair {
	struct sr_ring *ring;
	uint64_t full; /* pushes refused because the ring was full */
};

static void *producer(void *arg)
{
	struct pair *p = arg;
	for (uintptr_t i = 1; i <= ITEMS; i++) {
		while (!sr__ring_push(p->ring, (void *)i)) {
			p->full++;
			sr__cpu_relax();
		}
	}
	return NULL;
}

Test(ring, tiny_ring_keeps_order_through_wraparound)
{
	struct sr_ring ring;
	cr_assert_eq(sr__ring_init(&ring, 2), 0);
	struct pair p = {.ring = &ring};
	pthread_t t;
	pthread_create(&t, NULL, producer, &p);
	for (uintptr_t want = 1; want <= ITEMS; want++) {
		uintptr_t got = (uintptr_t)sr__ring_pop_wait(&ring);
		if (got != want)
			cr_assert_fail("item %lu arrived as %lu",
			               (unsigned long)want, (unsigned long)got);
	}
	pthread_join(t, NULL);
	cr_assert_null(sr__ring_pop(&ring));
	/* With 2 slots the producer must have met a full ring. */
	cr_assert_gt(p.full, 0);
	sr__ring_finish(&ring);
}

Test(ring, pop_on_empty_and_push_on_full)
{
	struct sr_ring ring;
	cr_assert_eq(sr__ring_init(&ring, 2), 0);
	cr_assert_null(sr__ring_pop(&ring));
	cr_assert(sr__ring_push(&ring, (void *)1));
	cr_assert(sr__ring_push(&ring, (void *)2));
	cr_assert_not(sr__ring_push(&ring, (void *)3));
	cr_assert_eq((uintptr_t)sr__ring_pop(&ring), 1);
	cr_assert(sr__ring_push(&ring, (void *)3));
	cr_assert_eq((uintptr_t)sr__ring_pop(&ring), 2);
	cr_assert_eq((uintptr_t)sr__ring_pop(&ring), 3);
	cr_assert_null(sr__ring_pop(&ring));
	sr__ring_finish(&ring);
}

/* Two threads claim the same KEYS pairs at interleaved positions, in
 * opposite orders; afterwards every pair must hold its smallest position,
 * and every position that lost must have been reported exactly once,
 * either as a duplicate at claim time or as a retraction. */
#define KEYS 200000

struct claimer {
	struct sr_dedup *d;
	int parity;   /* positions 2k + parity */
	int backward; /* walk keys in reverse */
	uint64_t lost, retracted, fresh;
};

static struct sr_key128 key_of(uint64_t k)
{
	char id[32];
	int n = snprintf(id, sizeof(id), "sub%llu", (unsigned long long)k);
	return sr__dedup_key(sr_catalog_id_hash(id, (size_t)n),
	                     (struct sr_str){"s", 1});
}

static void *claim_all(void *arg)
{
	struct claimer *c = arg;
	for (uint64_t i = 0; i < KEYS; i++) {
		uint64_t k = c->backward ? KEYS - 1 - i : i;
		uint64_t retracted;
		bool fresh;
		if (!sr__dedup_claim(c->d, key_of(k),
		                     2 * k + (uint64_t)c->parity, &retracted,
		                     &fresh))
			c->lost++;
		if (retracted != SR_DEDUP_NO_POS)
			c->retracted++;
		c->fresh += fresh;
	}
	return NULL;
}

Test(dedup, concurrent_claims_keep_the_first_position)
{
	struct sr_dedup d;
	cr_assert_eq(sr__dedup_init(&d, 2 * KEYS), 0);
	struct claimer a = {&d, 0, 0, 0, 0, 0}, b = {&d, 1, 1, 0, 0, 0};
	pthread_t ta, tb;
	pthread_create(&ta, NULL, claim_all, &a);
	pthread_create(&tb, NULL, claim_all, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	/* Each pair was claimed twice: exactly one claim lost, one way or
	 * the other, and the pair entered the set once. */
	cr_assert_eq(a.lost + b.lost + a.retracted + b.retracted, KEYS);
	cr_assert_eq(a.fresh + b.fresh, KEYS);
	/* Position 2k (thread a) is always the first: b never keeps one. */
	cr_assert_eq(b.retracted, 0);
	for (uint64_t k = 0; k < KEYS; k += 997) {
		uint64_t retracted;
		bool fresh;
		/* A later position loses; the held position is 2k. */
		cr_assert_not(sr__dedup_claim(&d, key_of(k), 2 * k + 5,
		                              &retracted, &fresh));
		cr_assert(
		    sr__dedup_claim(&d, key_of(k), 0, &retracted, &fresh) ||
		    k == 0);
		if (k)
			cr_assert_eq(retracted, 2 * k);
	}
	sr__dedup_finish(&d);
}
