/*
 * Large zeroed tables (the duplicate set, ledgers). They are mapped with
 * transparent huge pages where the kernel allows and populated for writing
 * up front: a table that first maps the shared zero page on a read and
 * copies on the first write pays a TLB shootdown that interrupts every
 * other core, which on two cores cost a quarter of the run.
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


#endif
