/*
 * The SPSC ring and its sleep protocol. Sleeping is a Dekker handshake:
 * the consumer sets `sleeping` and re-checks the tail; the producer stores
 * the tail and then reads `sleeping`, each with a full fence between, so at
 * least one of them sees the other and no wake-up is lost.
 */
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "barrier.h"
#include "ring.h"
#include "streamrate/error.h"

#define SR_RING_SPINS 2000

int sr__ring_init(struct sr_ring *r, uint32_t capacity)
{
	uint32_t n = 2;
	while (n < capacity)
		n *= 2;
	r->items = calloc(n, sizeof(*r->items));
	if (!r->items)
		return SR_ENOMEM;
	r->mask = n - 1;
	r->head = r->tail = r->sleeping = 0;
	return 0;
}

void sr__ring_finish(struct sr_ring *r)
{
	free(r->items);
	r->items = NULL;
}

bool sr__ring_push(struct sr_ring *r, void *item)
{
	uint32_t tail = sr__load_relaxed(&r->tail);
	if (tail - sr__load_acquire(&r->head) > r->mask)
		return false;
	r->items[tail & r->mask] = item;
	sr__store_release(&r->tail, tail + 1);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (sr__load_relaxed(&r->sleeping))
		syscall(SYS_futex, &r->tail, FUTEX_WAKE_PRIVATE, 1, NULL, NULL,
		        0);
	return true;
}

void *sr__ring_pop(struct sr_ring *r)
{
	uint32_t head = sr__load_relaxed(&r->head);
	if (head == sr__load_acquire(&r->tail))
		return NULL;
	void *item = r->items[head & r->mask];
	sr__store_release(&r->head, head + 1);
	return item;
}

void *sr__ring_pop_wait(struct sr_ring *r)
{
	for (;;) {
		for (int i = 0; i < SR_RING_SPINS; i++) {
			void *item = sr__ring_pop(r);
			if (item)
				return item;
			sr__cpu_relax();
		}
		uint32_t seen = sr__load_acquire(&r->tail);
		sr__store_relaxed(&r->sleeping, 1);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (sr__load_acquire(&r->tail) == seen &&
		    seen == sr__load_relaxed(&r->head))
			syscall(SYS_futex, &r->tail, FUTEX_WAIT_PRIVATE, seen,
			        NULL, NULL, 0);
		sr__store_relaxed(&r->sleeping, 0);
	}
}
