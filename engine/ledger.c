/*
 * A ledger is an open-addressing table keyed by (subscriber index, item):
 * the item is a rate for usage or a content for PPV purchases, as pointers
 * into the shared catalog view, which every worker sees at the same
 * addresses (rates and contents are distinct objects, so the pointer alone
 * is a unique key). An update is one multiply-shift and usually one cache
 * line, which a worker can prefetch ahead of time.
 *
 * The table is laid out by subscriber: subscriber s's keys start probing
 * in a run of homes at start(s), which grows with s, and a probe only ever
 * moves forward (past the last run, into a tail, never wrapping round). So
 * s's entries lie between start(s) and the first empty slot after its last
 * home, and the invoices, which take subscribers in index order, read the
 * table from one end to the other. An earlier build sorted the finished
 * table by subscriber instead: two passes over it and a copy, 2.6% of the
 * samples of a 2-thread run. Runs are sized from the expected keys per
 * subscriber; one with far more keys than its run (say thousands of PPV
 * contents) spills over its neighbours' runs, and their probes then
 * cross its keys: slower for those subscribers, never wrong.
 *
 * A key stays while any session counts for it: SPEC section 4 gives a
 * usage line for every rate the subscriber has rated sessions under, even
 * when their units sum to zero.
 */
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "streamrate/error.h"
#include "streamrate/ledger.h"

/*
 * 32 bytes. The count is a signed 96-bit number (hi:lo, two's complement):
 * a corrections ledger holds negative counts, and ledgers are summed in
 * 128 bits after sign extension. 2^95 units would need billions of
 * sessions of 2^63 bytes each.
 */
struct slot {
	const void *item;    /* NULL: empty */
	uint32_t subscriber; /* index; bit 31 is the kind (set: PPV) */
	int32_t sessions;
	uint64_t lo; /* count, low 64 bits */
	int32_t hi;  /* count, high 32 bits, with the sign */
};

#define KIND_BIT 0x80000000u
/* Slots past the last home, where probes from the last runs end; a probe
 * that would go beyond grows the table. */
#define TAIL 256

struct sr_ledger {
	uint32_t nsubscribers;
	bool sealed;
	struct slot *slots; /* size + TAIL of them */
	size_t size, used;
	uint64_t scale; /* start(s) = s * scale >> 32 */
	unsigned run;   /* log2 of the homes per subscriber */
};

static size_t table_bytes(size_t size)
{
	return (size + TAIL) * sizeof(struct slot);
}

/* An empty table of size slots (a power of two) plus the tail. */
static int table_init(struct sr_ledger *l, size_t size)
{
	l->slots = sr__table_alloc(table_bytes(size));
	if (!l->slots)
		return SR_ENOMEM;
	l->size = size;
	l->used = 0;
	/* Run starts spread evenly over the table; each subscriber's run
	 * is the largest power of two that fits its share (at least 1). */
	uint32_t n = l->nsubscribers ? l->nsubscribers : 1;
	l->scale = ((uint64_t)size << 32) / n;
	l->run = 0;
	while (((size_t)2 << l->run) <= size / n)
		l->run++;
	return 0;
}

int sr_ledger_create(struct sr_ledger **out, uint32_t nsubscribers, size_t keys)
{
	struct sr_ledger *l = calloc(1, sizeof(*l));
	if (!l)
		return SR_ENOMEM;
	l->nsubscribers = nsubscribers;
	size_t size = 1024;
	while (size * 7 / 10 < keys)
		size *= 2;
	int err = table_init(l, size);
	if (err) {
		sr_ledger_destroy(l);
		return err;
	}
	*out = l;
	return 0;
}

void sr_ledger_destroy(struct sr_ledger *l)
{
	if (!l)
		return;
	if (l->slots)
		sr__table_free(l->slots, table_bytes(l->size));
	free(l);
}

static size_t start_of(const struct sr_ledger *l, uint32_t subscriber)
{
	return (size_t)((uint64_t)subscriber * l->scale >> 32);
}

static size_t home_of(const struct sr_ledger *l, uint32_t subscriber,
                      const void *item)
{
	uint64_t h = (uint64_t)(uintptr_t)item * 0x9E3779B97F4A7C15ULL;
	return start_of(l, subscriber) + (l->run ? h >> (64 - l->run) : 0);
}

/* The slot of the key, or the empty slot where it goes; NULL when the
 * probe would run past the tail. */
static struct slot *find(const struct sr_ledger *l, uint32_t subscriber,
                         const void *item)
{
	for (size_t i = home_of(l, subscriber, item); i < l->size + TAIL; i++) {
		struct slot *s = &l->slots[i];
		if (!s->item || (s->item == item &&
		                 (s->subscriber & ~KIND_BIT) == subscriber))
			return s;
	}
	return NULL;
}

/* Double the table, as often as it takes for every key to fit. */
static int grow(struct sr_ledger *l)
{
	struct sr_ledger n = *l;
	for (size_t size = l->size * 2;; size *= 2) {
		int err = table_init(&n, size);
		if (err)
			return err;
		size_t i;
		for (i = 0; i < l->size + TAIL; i++) {
			struct slot *s = &l->slots[i], *to;
			if (!s->item)
				continue;
			to = find(&n, s->subscriber & ~KIND_BIT, s->item);
			if (!to)
				break;
			*to = *s;
		}
		if (i == l->size + TAIL)
			break;
		sr__table_free(n.slots, table_bytes(size));
	}
	n.used = l->used;
	sr__table_free(l->slots, table_bytes(l->size));
	*l = n;
	return 0;
}

int sr_ledger_seal(struct sr_ledger *l)
{
	l->sealed = true;
	return 0;
}

void sr_ledger_delta_of(const struct sr_rated *r, struct sr_ledger_delta *d)
{
	d->subscriber = r->subscriber->index;
	if (r->content->ppv) {
		*d = (struct sr_ledger_delta){r->content, d->subscriber,
		                              SR_LEDGER_PPV, 1};
	} else {
		*d = (struct sr_ledger_delta){r->rate, d->subscriber,
		                              SR_LEDGER_USAGE, r->units};
	}
}

void sr_ledger_prefetch(const struct sr_ledger *l,
                        const struct sr_ledger_delta *d)
{
	if (d->item)
		__builtin_prefetch(
		    &l->slots[home_of(l, d->subscriber, d->item)], 1);
}

int sr_ledger_apply(struct sr_ledger *l, const struct sr_ledger_delta *d,
                    int sign)
{
	if (!d->item)
		return 0;
	if (l->sealed)
		return SR_EINVAL;
	struct slot *s = find(l, d->subscriber, d->item);
	if (!s || !s->item) {
		while (!s || (l->used + 1) * 10 > l->size * 7) {
			int err = grow(l);
			if (err)
				return err;
			s = find(l, d->subscriber, d->item);
		}
		s->item = d->item;
		s->subscriber =
		    d->subscriber | (d->kind == SR_LEDGER_PPV ? KIND_BIT : 0);
		l->used++;
	}
	/* 96-bit add or subtract, carrying into hi. */
	uint64_t lo = s->lo;
	s->sessions += sign;
	if (sign > 0) {
		s->lo = lo + d->units;
		s->hi += s->lo < lo;
	} else {
		s->lo = lo - d->units;
		s->hi -= lo < d->units;
	}
	return 0;
}

int sr_ledger_add(struct sr_ledger *l, const struct sr_rated *r, int sign)
{
	struct sr_ledger_delta d;
	sr_ledger_delta_of(r, &d);
	return sr_ledger_apply(l, &d, sign);
}

static int cmp_str(struct sr_str a, struct sr_str b)
{
	int c = memcmp(a.ptr, b.ptr, a.len < b.len ? a.len : b.len);
	if (c)
		return c;
	return (a.len > b.len) - (a.len < b.len);
}

static int cmp_entry(const void *pa, const void *pb)
{
	const struct sr_ledger_entry *a = pa, *b = pb;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->kind == SR_LEDGER_USAGE)
		return (a->rate->index > b->rate->index) -
		       (a->rate->index < b->rate->index);
	return cmp_str(a->content->id, b->content->id);
}

/* Add one ledger entry into out[0..*n), combining equal keys. */
static void gather(const struct slot *e, struct sr_ledger_entry *out, size_t *n,
                   size_t cap)
{
	uint32_t kind =
	    e->subscriber & KIND_BIT ? SR_LEDGER_PPV : SR_LEDGER_USAGE;
	/* Sign-extend the 96-bit count; sums then wrap correctly mod 2^128. */
	unsigned __int128 count =
	    (unsigned __int128)(__int128)e->hi << 64 | e->lo;
	for (size_t k = 0; k < *n && k < cap; k++) {
		const void *item = out[k].kind == SR_LEDGER_USAGE
		                       ? (const void *)out[k].rate
		                       : (const void *)out[k].content;
		if (item == e->item) {
			out[k].sessions += e->sessions;
			out[k].count += count;
			return;
		}
	}
	if (*n < cap) {
		out[*n] = (struct sr_ledger_entry){
		    .kind = kind,
		    .sessions = e->sessions,
		    .count = count,
		};
		if (kind == SR_LEDGER_USAGE)
			out[*n].rate = e->item;
		else
			out[*n].content = e->item;
	}
	(*n)++;
}

size_t sr_ledger_collect(const struct sr_ledger *const *ledgers, unsigned n,
                         uint32_t subscriber, struct sr_ledger_entry *out,
                         size_t cap)
{
	size_t count = 0;
	for (unsigned j = 0; j < n; j++) {
		const struct sr_ledger *l = ledgers[j];
		/* From the run's start to the first empty slot at or past
		 * its last home (see the top of the file). */
		size_t last =
		    start_of(l, subscriber) + ((size_t)1 << l->run) - 1;
		for (size_t i = start_of(l, subscriber); i < l->size + TAIL;
		     i++) {
			const struct slot *e = &l->slots[i];
			if (!e->item) {
				if (i >= last)
					break;
				continue;
			}
			if ((e->subscriber & ~KIND_BIT) == subscriber)
				gather(e, out, &count, cap);
		}
	}
	if (count > cap)
		return count;
	/* Keys whose every session was taken back are gone. */
	size_t kept = 0;
	for (size_t k = 0; k < count; k++)
		if (out[k].sessions)
			out[kept++] = out[k];
	/* out may be NULL when nothing was gathered. Most subscribers have
	 * a handful of entries: insertion sort, where qsort's merge sort
	 * cost about 330 instructions an invoice (callgrind). */
	if (kept > 32) {
		qsort(out, kept, sizeof(*out), cmp_entry);
		return kept;
	}
	for (size_t k = 1; k < kept; k++) {
		struct sr_ledger_entry e = out[k];
		size_t j = k;
		for (; j > 0 && cmp_entry(&out[j - 1], &e) > 0; j--)
			out[j] = out[j - 1];
		out[j] = e;
	}
	return kept;
}
