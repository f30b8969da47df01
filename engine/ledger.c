/*
 * The ledger is one open-addressing table keyed by (subscriber, item): the
 * item is a rate for usage or a content for PPV purchases. Keys are
 * pointers into the shared catalog view plus the subscriber index; slots
 * are 32 bytes and the table doubles at half load, so an update is one
 * hash and usually one cache line.
 *
 * Usage entries remember that a session was rated under the rate even when
 * its units sum to zero: SPEC section 4 gives a usage line for "every rate
 * the subscriber has rated sessions under", so a key exists once any
 * session counted, and disappears only when every addition was taken back.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "streamrate/error.h"
#include "streamrate/ledger.h"

struct slot {
	const void *item; /* NULL: empty slot */
	uint32_t subscriber;
	uint32_t kind;
	int64_t sessions;       /* additions minus take-backs */
	unsigned __int128 count;
};

struct sr_ledger {
	struct slot *slots;
	size_t mask;
	size_t used;
};

int sr_ledger_create(struct sr_ledger **out)
{
	struct sr_ledger *l = calloc(1, sizeof(*l));
	if (!l)
		return SR_ENOMEM;
	l->mask = 1023;
	l->slots = calloc(l->mask + 1, sizeof(*l->slots));
	if (!l->slots) {
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
	free(l->slots);
	free(l);
}

static size_t hash_key(const void *item, uint32_t subscriber)
{
	struct {
		const void *item;
		uint64_t subscriber;
	} key = {item, subscriber};
	return (size_t)XXH3_64bits(&key, sizeof(key));
}

static struct slot *find(struct slot *slots, size_t mask, const void *item,
			 uint32_t subscriber, uint32_t kind)
{
	size_t i = hash_key(item, subscriber) & mask;
	for (;; i = (i + 1) & mask) {
		struct slot *s = &slots[i];
		if (!s->item || (s->item == item && s->subscriber == subscriber &&
				 s->kind == kind))
			return s;
	}
}

static int grow(struct sr_ledger *l)
{
	size_t mask = l->mask * 2 + 1;
	struct slot *slots = calloc(mask + 1, sizeof(*slots));
	if (!slots)
		return SR_ENOMEM;
	for (size_t i = 0; i <= l->mask; i++) {
		struct slot *s = &l->slots[i];
		if (s->item)
			*find(slots, mask, s->item, s->subscriber, s->kind) = *s;
	}
	free(l->slots);
	l->slots = slots;
	l->mask = mask;
	return 0;
}

static int update(struct sr_ledger *l, const void *item, uint32_t subscriber,
		  uint32_t kind, int64_t sessions, unsigned __int128 count,
		  int sign)
{
	struct slot *s = find(l->slots, l->mask, item, subscriber, kind);
	if (!s->item) {
		if ((l->used + 1) * 2 > l->mask + 1) {
			int err = grow(l);
			if (err)
				return err;
			s = find(l->slots, l->mask, item, subscriber, kind);
		}
		s->item = item;
		s->subscriber = subscriber;
		s->kind = kind;
		l->used++;
	}
	s->sessions += sign * sessions;
	if (sign > 0)
		s->count += count;
	else
		s->count -= count;
	return 0;
}

int sr_ledger_add(struct sr_ledger *l, const struct sr_rated *r, int sign)
{
	if (r->content->ppv)
		return update(l, r->content, r->subscriber->index,
			      SR_LEDGER_PPV, 1, 1, sign);
	if (!r->rate)
		return 0;
	return update(l, r->rate, r->subscriber->index, SR_LEDGER_USAGE, 1,
		      r->units, sign);
}

int sr_ledger_merge(struct sr_ledger *dst, const struct sr_ledger *src)
{
	for (size_t i = 0; i <= src->mask; i++) {
		const struct slot *s = &src->slots[i];
		if (!s->item)
			continue;
		int err = update(dst, s->item, s->subscriber, s->kind,
				 s->sessions, s->count, 1);
		if (err)
			return err;
	}
	return 0;
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
	if (a->subscriber != b->subscriber)
		return a->subscriber < b->subscriber ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->kind == SR_LEDGER_USAGE)
		return (a->rate->index > b->rate->index) -
		       (a->rate->index < b->rate->index);
	return cmp_str(a->content->id, b->content->id);
}

int sr_ledger_entries(const struct sr_ledger *l,
		      struct sr_ledger_entry **entries, size_t *n)
{
	struct sr_ledger_entry *e = malloc((l->used + 1) * sizeof(*e));
	size_t k = 0;

	if (!e)
		return SR_ENOMEM;
	for (size_t i = 0; i <= l->mask; i++) {
		const struct slot *s = &l->slots[i];
		if (!s->item || s->sessions == 0)
			continue;
		e[k] = (struct sr_ledger_entry){
			.subscriber = s->subscriber,
			.kind = s->kind,
			.count = s->count,
		};
		if (s->kind == SR_LEDGER_USAGE)
			e[k].rate = s->item;
		else
			e[k].content = s->item;
		k++;
	}
	qsort(e, k, sizeof(*e), cmp_entry);
	*entries = e;
	*n = k;
	return 0;
}
