/*
 * A bump allocator for data that lives and dies together: a parsed
 * catalog's strings, a compiled view's tables, a time zone's transitions.
 * A few big chunks instead of one malloc per row, freed all at once.
 */
#ifndef SR_CATALOG_ARENA_H
#define SR_CATALOG_ARENA_H

#include <stddef.h>

#include "streamrate/types.h"

struct sr__arena {
	struct sr__chunk *chunks;
	char *cur, *end;
	size_t next;
};

/* n bytes aligned to 16, or NULL when out of memory. */
void *sr__arena_alloc(struct sr__arena *a, size_t n);
/* A copy of s in the arena; returns -1 when out of memory. */
int sr__arena_str(struct sr__arena *a, struct sr_str s, struct sr_str *out);
/* Free every chunk; the arena is empty and reusable afterwards. */
void sr__arena_free(struct sr__arena *a);

#endif
