/*
 * Tables are anonymous private mappings: zeroed by the kernel, advised to
 * use huge pages, then populated for writing by touching every page.
 * MADV_POPULATE_WRITE would do the same in one call, but it holds the
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
	if (size >= (2u << 20))
		madvise(p, size, MADV_HUGEPAGE);
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
