/*
 * A ledger is a head per subscriber index and a pool of entries linked
 * per subscriber. A subscriber has a handful of keys (its rates and PPV
 * events), so finding one is a walk of a few entries; the head array is
 * allocated once, populated up front, and never rehashed, and the pool
 * grows by doubling. Entries are keyed by pointers into the shared catalog
 * view, which every worker sees at the same addresses.
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

struct entry {
	const void *item;
	uint32_t next; /* pool index + 1 of the subscriber's next entry */
	uint32_t kind;
	int64_t sessions;
	unsigned __int128 count;
};

struct sr_ledger {
	uint32_t nsubscribers;
	uint32_t *head; /* pool index + 1 of each subscriber's first entry */
	struct entry *pool;
	size_t n, cap;
};

int sr_ledger_create(struct sr_ledger **out, uint32_t nsubscribers)
{
	struct sr_ledger *l = calloc(1, sizeof(*l));
	if (!l)
		return SR_ENOMEM;
	l->nsubscribers = nsubscribers;
	l->head = sr__table_alloc((size_t)nsubscribers * sizeof(*l->head));
	if (!l->head) {
		free(l);
		return SR_ENOMEM;
	}
	*out = l;
	return 0;
}

void sr_ledger_destroy(struct sr_ledger *l)
{
	if (!l)
		return;
	sr__table_free(l->head, (size_t)l->nsubscribers * sizeof(*l->head));
	free(l->pool);
	free(l);
}

static int update(struct sr_ledger *l, uint32_t subscriber, const void *item,
		  uint32_t kind, unsigned __int128 count, int sign)
{
	uint32_t *head = &l->head[subscriber];
	struct entry *e;

	for (uint32_t i = *head; i; i = e->next) {
		e = &l->pool[i - 1];
		if (e->item == item && e->kind == kind)
			goto found;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		struct entry *pool = realloc(l->pool, cap * sizeof(*pool));
		if (!pool)
			return SR_ENOMEM;
		l->pool = pool;
		l->cap = cap;
	}
	e = &l->pool[l->n++];
	*e = (struct entry){.item = item, .next = *head, .kind = kind};
	*head = (uint32_t)l->n;
found:
	e->sessions += sign;
	if (sign > 0)
		e->count += count;
	else
		e->count -= count;
	return 0;
}

int sr_ledger_add(struct sr_ledger *l, const struct sr_rated *r, int sign)
{
	if (r->content->ppv)
		return update(l, r->subscriber->index, r->content,
			      SR_LEDGER_PPV, 1, sign);
	if (!r->rate)
		return 0;
	return update(l, r->subscriber->index, r->rate, SR_LEDGER_USAGE,
		      r->units, sign);
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
static void gather(const struct entry *e, struct sr_ledger_entry *out,
		   size_t *n, size_t cap)
{
	for (size_t k = 0; k < *n && k < cap; k++) {
		const void *item = out[k].kind == SR_LEDGER_USAGE
					   ? (const void *)out[k].rate
					   : (const void *)out[k].content;
		if (out[k].kind == e->kind && item == e->item) {
			out[k].sessions += e->sessions;
			out[k].count += e->count;
			return;
		}
	}
	if (*n < cap) {
		out[*n] = (struct sr_ledger_entry){
			.kind = e->kind,
			.sessions = e->sessions,
			.count = e->count,
		};
		if (e->kind == SR_LEDGER_USAGE)
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
		for (uint32_t i = l->head[subscriber]; i; i = l->pool[i - 1].next)
			gather(&l->pool[i - 1], out, &count, cap);
	}
	if (count > cap)
		return count;
	/* Keys whose every session was taken back are gone. */
	size_t kept = 0;
	for (size_t k = 0; k < count; k++)
		if (out[k].sessions)
			out[kept++] = out[k];
	qsort(out, kept, sizeof(*out), cmp_entry);
	return kept;
}
