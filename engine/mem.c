/*
 * Tables are anonymous private mappings: zeroed by the kernel, advised to
 * use huge pages, then populated for writing in one madvise call (or by
 * touching every page when the kernel predates MADV_POPULATE_WRITE).
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void *sr__table_alloc(size_t size)
{
	if (!size)
		size = 1;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (size >= (2u << 20))
		madvise(p, size, MADV_HUGEPAGE);
	if (madvise(p, size, MADV_POPULATE_WRITE) < 0) {
		long page = sysconf(_SC_PAGESIZE);
		for (size_t i = 0; i < size; i += (size_t)page)
			((volatile char *)p)[i] = 0;
	}
	return p;
}

void sr__table_free(void *p, size_t size)
{
	if (p)
		munmap(p, size ? size : 1);
}
