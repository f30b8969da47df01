/*
 * A ledger is an open-addressing table keyed by (subscriber index, item):
 * the item is a rate for usage or a content for PPV purchases, as pointers
 * into the shared catalog view, which every worker sees at the same
 * addresses (rates and contents are distinct objects, so the pointer alone
 * is a unique key). An update is one multiplicative hash and usually one
 * cache line, which a worker can prefetch ahead of time.
 *
 * Once every update is in, sealing turns the table into its entries
 * grouped by subscriber (a counting sort: two sequential passes over the
 * table), and frees the table. Invoices then read each subscriber's
 * entries from consecutive memory, subscriber after subscriber, where
 * following per-subscriber links cost a cache miss an entry.
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

struct sr_ledger {
	uint32_t nsubscribers;
	struct slot *slots; /* the table; NULL once sealed */
	unsigned bits;
	size_t used;
	/* Sealed: subscriber s's entries are sorted[off[s] .. off[s + 1]). */
	uint32_t *off;
	struct slot *sorted;
};

static size_t table_bytes(unsigned bits)
{
	return ((size_t)1 << bits) * sizeof(struct slot);
}

int sr_ledger_create(struct sr_ledger **out, uint32_t nsubscribers, size_t keys)
{
	struct sr_ledger *l = calloc(1, sizeof(*l));
	if (!l)
		return SR_ENOMEM;
	l->nsubscribers = nsubscribers;
	l->bits = 10;
	while (((size_t)1 << l->bits) * 7 / 10 < keys)
		l->bits++;
	l->slots = sr__table_alloc(table_bytes(l->bits));
	if (!l->slots) {
		sr_ledger_destroy(l);
		return SR_ENOMEM;
	}
	*out = l;
	return 0;
}

void sr_ledger_destroy(struct sr_ledger *l)
{
	if (!l)
		return;
	sr__table_free(l->slots, table_bytes(l->bits));
	free(l->off);
	free(l->sorted);
	free(l);
}

static size_t slot_of(const struct sr_ledger *l, uint32_t subscriber,
                      const void *item)
{
	uint64_t h = ((uint64_t)(uintptr_t)item ^
	              (uint64_t)subscriber * 0xC2B2AE3D27D4EB4FULL) *
	             0x9E3779B97F4A7C15ULL;
	return (size_t)(h >> (64 - l->bits));
}

static struct slot *find(const struct sr_ledger *l, uint32_t subscriber,
                         const void *item)
{
	size_t mask = ((size_t)1 << l->bits) - 1;
	for (size_t i = slot_of(l, subscriber, item);; i = (i + 1) & mask) {
		struct slot *s = &l->slots[i];
		if (!s->item || (s->item == item &&
		                 (s->subscriber & ~KIND_BIT) == subscriber))
			return s;
	}
}

/* Double the table. */
static int grow(struct sr_ledger *l)
{
	struct sr_ledger n = *l;
	n.bits = l->bits + 1;
	n.slots = sr__table_alloc(table_bytes(n.bits));
	if (!n.slots)
		return SR_ENOMEM;
	for (size_t i = 0; i < ((size_t)1 << l->bits); i++) {
		struct slot *s = &l->slots[i];
		if (s->item)
			*find(&n, s->subscriber & ~KIND_BIT, s->item) = *s;
	}
	sr__table_free(l->slots, table_bytes(l->bits));
	*l = n;
	return 0;
}

int sr_ledger_seal(struct sr_ledger *l)
{
	if (!l->slots)
		return 0;
	size_t nslots = (size_t)1 << l->bits;
	/* off[s + 2] counts s's entries; after the sums, off[s + 1] is
	 * where s starts, and it ends where s + 1 starts once placed. */
	uint32_t *off = calloc((size_t)l->nsubscribers + 2, sizeof(*off));
	struct slot *sorted = malloc((l->used + 1) * sizeof(*sorted));
	if (!off || !sorted) {
		free(off);
		free(sorted);
		return SR_ENOMEM;
	}
	for (size_t i = 0; i < nslots; i++)
		if (l->slots[i].item)
			off[(l->slots[i].subscriber & ~KIND_BIT) + 2]++;
	for (size_t s = 2; s < (size_t)l->nsubscribers + 2; s++)
		off[s] += off[s - 1];
	for (size_t i = 0; i < nslots; i++) {
		const struct slot *e = &l->slots[i];
		if (e->item)
			sorted[off[(e->subscriber & ~KIND_BIT) + 1]++] = *e;
	}
	sr__table_free(l->slots, table_bytes(l->bits));
	l->slots = NULL;
	l->off = off;
	l->sorted = sorted;
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
	if (d->item && l->slots)
		__builtin_prefetch(
		    &l->slots[slot_of(l, d->subscriber, d->item)], 1);
}

int sr_ledger_apply(struct sr_ledger *l, const struct sr_ledger_delta *d,
                    int sign)
{
	if (!d->item)
		return 0;
	if (!l->slots)
		return SR_EINVAL; /* sealed */
	struct slot *s = find(l, d->subscriber, d->item);
	if (!s->item) {
		if ((l->used + 1) * 10 > ((size_t)7 << l->bits)) {
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
		for (uint32_t i = l->off[subscriber];
		     i < l->off[subscriber + 1]; i++)
			gather(&l->sorted[i], out, &count, cap);
	}
	if (count > cap)
		return count;
	/* Keys whose every session was taken back are gone. */
	size_t kept = 0;
	for (size_t k = 0; k < count; k++)
		if (out[k].sessions)
			out[kept++] = out[k];
	/* out may be NULL when nothing was gathered. */
	if (kept > 1)
		qsort(out, kept, sizeof(*out), cmp_entry);
	return kept;
}
