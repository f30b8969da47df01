/*
 * Tables are anonymous private mappings: zeroed by the kernel, on 4 KiB
 * pages, then populated for writing by touching every page.
 *
 * Not on transparent huge pages, although probes are random and 2 MiB
 * pages would spare TLB misses: on a KVM guest whose host takes back free
 * memory (it is told of free blocks of 2 MiB and more), a fresh 2 MiB
 * page comes from those blocks and faults in the host while the guest
 * zeroes it: 2.1-2.4 ms per MB after a few idle seconds against 0.33 ms
 * on 4 KiB pages, which come from smaller free blocks (a 256 MB table:
 * 0.54 s against 0.085 s); and two workers faulting at once wait for
 * each other in the host. Alternated
 * runs of the 5M bench at 2 threads, 6 s apart: 1.60-1.67 s on huge pages,
 * 1.43-1.48 s on small ones (user time +0.2 s of TLB misses, system time
 * -0.5 s); back to back, 1.45-1.55 s against 1.41-1.45 s.
 *
 * MADV_POPULATE_WRITE would populate in one call, but it holds the
 * process's mmap lock the whole time, and every mmap meanwhile (a thread
 * stack, a large malloc) waited: starting the second worker while the
 * first populated its ledger took 155 ms. A touch is a page fault, which
 * locks only its own mapping.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem.h"
#include "streamrate/error.h"

void *sr__table_map(size_t size)
{
	void *p = mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Say so where the system default is "always". */
	madvise(p, size, MADV_NOHUGEPAGE);
	return p;
}

void sr__table_touch(void *p, size_t from, size_t to)
{
	/* Other threads may already use the pages of a share (a claim
	 * lands anywhere): an atomic add of 0 faults a page in for writing
	 * without ever changing a word, where a store of 0 would erase a
	 * key claimed a moment before. */
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	for (size_t i = from - from % page; i < to; i += page)
		__atomic_fetch_add((uint64_t *)((char *)p + i), 0,
		                   __ATOMIC_RELAXED);
}

void *sr__table_alloc(size_t size)
{
	void *p = sr__table_map(size);
	if (p)
		sr__table_touch(p, 0, size);
	return p;
}

void sr__table_free(void *p, size_t size)
{
	if (p)
		munmap(p, size ? size : 1);
}

int sr__buf_reserve(struct sr_buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	char *d = realloc(b->data, cap);
	if (!d)
		return SR_ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

void sr__buf_finish(struct sr_buf *b)
{
	free(b->data);
	*b = (struct sr_buf){0};
}
