/*
 * Open-addressing set of 128-bit keys with linear probing. The key's low
 * half picks the slot: XXH3 output is uniform, so no further mixing is
 * needed. The all-zero key marks an empty slot; a real all-zero hash is
 * remapped to another fixed value, which cannot make two pairs collide
 * more often than the hash itself does.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "dedup.h"
#include "streamrate/error.h"

struct sr_key128 sr__dedup_key(struct sr_str subscriber, struct sr_str session)
{
	/* Ids are at most 128 bytes and hold no control byte, so a NUL
	 * separator keeps ("ab","c") apart from ("a","bc"). */
	char buf[2 * 128 + 1];
	memcpy(buf, subscriber.ptr, subscriber.len);
	buf[subscriber.len] = 0;
	memcpy(buf + subscriber.len + 1, session.ptr, session.len);
	XXH128_hash_t h = XXH3_128bits(buf, subscriber.len + 1 + session.len);
	struct sr_key128 k = {h.low64, h.high64};
	if (!k.lo && !k.hi)
		k.lo = 1;
	return k;
}

int sr__dedup_init(struct sr_dedup *d, size_t expect)
{
	size_t n = 1024;
	while (n < expect * 2)
		n *= 2;
	d->slots = calloc(n, sizeof(*d->slots));
	if (!d->slots)
		return SR_ENOMEM;
	d->mask = n - 1;
	d->used = 0;
	return 0;
}

void sr__dedup_finish(struct sr_dedup *d)
{
	free(d->slots);
	d->slots = NULL;
}

static struct sr_key128 *probe(struct sr_key128 *slots, size_t mask,
			       struct sr_key128 k)
{
	for (size_t i = k.lo & mask;; i = (i + 1) & mask) {
		struct sr_key128 *s = &slots[i];
		if ((s->lo == k.lo && s->hi == k.hi) || (!s->lo && !s->hi))
			return s;
	}
}

static int grow(struct sr_dedup *d)
{
	size_t mask = d->mask * 2 + 1;
	struct sr_key128 *slots = calloc(mask + 1, sizeof(*slots));
	if (!slots)
		return SR_ENOMEM;
	for (size_t i = 0; i <= d->mask; i++)
		if (d->slots[i].lo || d->slots[i].hi)
			*probe(slots, mask, d->slots[i]) = d->slots[i];
	free(d->slots);
	d->slots = slots;
	d->mask = mask;
	return 0;
}

int sr__dedup_insert(struct sr_dedup *d, struct sr_key128 k)
{
	struct sr_key128 *s = probe(d->slots, d->mask, k);
	if (s->lo || s->hi)
		return 0;
	if ((d->used + 1) * 2 > d->mask + 1) {
		int err = grow(d);
		if (err)
			return err;
		s = probe(d->slots, d->mask, k);
	}
	*s = k;
	d->used++;
	return 1;
}
