/*
 * Memory the engine manages itself: large tables, and growable buffers.
 *
 * Large zeroed tables (the duplicate set, ledgers) are mapped on small
 * pages (mem.c says why) and populated for writing up front: a table that
 * first maps the shared zero page on a read and copies on the first write
 * pays a TLB shootdown that interrupts every other core, which on two
 * cores cost a quarter of the run.
 */
#ifndef SR_MEM_H
#define SR_MEM_H

#include <stddef.h>

/* Bytes of a cache line, the unit of memory traffic. */
#define SR_CACHE_LINE 64

/* size bytes of zeroed memory, populated; NULL when out of memory. */
void *sr__table_alloc(size_t size);
/* The same, not populated yet: its users populate their shares of it
 * with sr__table_touch(), in parallel. */
void *sr__table_map(size_t size);
/* Populate bytes [from, to) of a table, leaving its contents as they
 * are even while other threads use it. */
void sr__table_touch(void *p, size_t from, size_t to);
/* Free a table of size bytes; accepts NULL. */
void sr__table_free(void *p, size_t size);

/* A growable byte buffer: row text, and arrays reused from one commit to
 * the next (it only grows, and keeps its pages until finished). */
struct sr_buf {
	char *data;
	size_t len;
	size_t cap;
};

/* Room for more bytes after len (contents kept); SR_ENOMEM. */
int sr__buf_reserve(struct sr_buf *b, size_t more);
void sr__buf_finish(struct sr_buf *b);

static inline void sr__buf_put(struct sr_buf *b, const void *p, size_t n)
{
	__builtin_memcpy(b->data + b->len, p, n);
	b->len += n;
}


#endif
