/*
 * Edge cases that aim at the rating rather than the parsing: starts with
 * offsets and fractions, records of other periods and on the period's
 * edges, unknown subscribers and content, subscribers out of force, DST
 * nights, instants on a rate's, a subscription's or a band's first second,
 * pay-per-view purchases, content outside the plan, valid extremes, and
 * reserved subscribers whose usage sums exactly to an allowance or a tier
 * bound. Every record here splits and parses; where it lands is for the
 * engine and the oracle to agree on.
 */
#include <string.h>

#include "gen.h"

/* ---- offset ------------------------------------------------------------*/

static int32_t random_offset(struct gen_rng *rng)
{
	static const int32_t mins[] = {0, 15, 30, 45};
	int32_t h = (int32_t)rng_range(rng, 0, 23);
	int32_t m = rng_chance(rng, 800) ? mins[rng_below(rng, 4)]
	                                 : (int32_t)rng_range(rng, 0, 59);
	int32_t off = h * 3600 + m * 60;

	return rng_chance(rng, 500) ? off : -off;
}

/* Writes the start as the region's local time with its offset, or with
 * another offset, and maybe a fraction: the same instant either way. */
static void offset_start(struct gen_ses *s, struct gen_rec *r)
{
	const struct gen_zone *z = sr__gen_regions[r->region].zone;
	unsigned k = (unsigned)rng_below(&s->rng, 10);

	r->zulu = false;
	r->off = k < 5 ? sr__gen_zone_offset(z, r->t) : random_offset(&s->rng);
	if (k == 9)
		r->off = 0;
	if (rng_chance(&s->rng, 600))
		r->frac = (uint8_t)rng_range(&s->rng, 1, 9);
	if (k == 9 && rng_chance(&s->rng, 500)) {
		char v[64];
		size_t n = value_of(s, r, SR_GEN_C_START, v);

		v[n - 6] = '-'; /* "-00:00" */
		sr__gen_rec_raw(r, SR_GEN_C_START, v, n);
	}
}

static uint32_t edge_offset(struct gen_ses *s, struct gen_rec *r)
{
	start_normal(s, r);
	offset_start(s, r);
	sr__gen_emit(s, r);
	return 1;
}

/* ---- period ------------------------------------------------------------*/

static uint32_t edge_period(struct gen_ses *s, struct gen_rec *r)
{
	const struct gen_model *m = s->m;
	int64_t t, edge = rng_chance(&s->rng, 500) ? m->t0 : m->t1;
	int32_t off = 0;

	switch (rng_below(&s->rng, 5)) {
	case 0: /* the last second before, or the first after */
		t = edge == m->t0 ? edge - 1 : edge;
		break;
	case 1: /* the first or the last second inside */
		t = edge == m->t0 ? edge : edge - 1;
		break;
	case 2: /* months away */
		t = edge == m->t0
		        ? edge - rng_range(&s->rng, 1, 400 * SR_GEN_DAY)
		        : edge + rng_range(&s->rng, 0, 400 * SR_GEN_DAY);
		break;
	default: { /* the written date says one month, the instant another */
		int64_t d = rng_range(&s->rng, 1, 6 * 3600);
		bool inside = rng_chance(&s->rng, 500);

		t = inside ? (edge == m->t0 ? edge + d - 1 : edge - d)
		           : (edge == m->t0 ? edge - d : edge + d - 1);
		off = (int32_t)(d + rng_range(&s->rng, 0, 3600)) / 60 * 60 + 60;
		if (off > 23 * 3600)
			off = 23 * 3600;
		/* Shift the wall time across the edge. */
		bool ahead = t < edge;

		off = ahead ? off : -off;
	}
	}
	sr__gen_rec_reset(s, r);
	sr__gen_rec_for_sub(s, r, sr__gen_pick_sub(s), t);
	if (off) {
		r->zulu = false;
		r->off = off;
	}
	r->counted = t >= m->t0 && t < m->t1;
	sr__gen_emit(s, r);
	return 1;
}

/* ---- unknown -----------------------------------------------------------*/

static void unknown_id(struct gen_ses *s, struct gen_rec *r, enum gen_col col)
{
	char v[300];
	size_t n = value_of(s, r, col, v);

	switch (rng_below(&s->rng, 4)) {
	case 0: /* case matters */
		for (size_t i = 0; i < n; i++)
			if (v[i] >= 'a' && v[i] <= 'z')
				v[i] = (char)(v[i] - 32);
		break;
	case 1: /* so do spaces: they are id bytes */
		memmove(v + 1, v, n++);
		v[0] = ' ';
		break;
	case 2:
		v[n++] = ' ';
		break;
	default: /* and bytes beyond ASCII */
		memcpy(v + n, "\xc3\xa9", 2);
		n += 2;
	}
	sr__gen_rec_raw(r, col, v, n);
}

static uint32_t edge_unknown(struct gen_ses *s, struct gen_rec *r)
{
	const struct gen_model *m = s->m;
	bool sub = rng_chance(&s->rng, 500);

	start_normal(s, r);
	if (rng_chance(&s->rng, 500))
		unknown_id(s, r, sub ? SR_GEN_C_SUBSCRIBER : SR_GEN_C_CONTENT);
	else if (sub)
		r->sub = m->nsubs + (uint32_t)rng_below(&s->rng, 1000);
	else
		r->content = m->ncontent + (uint32_t)rng_below(&s->rng, 1000);
	sr__gen_emit(s, r);
	return 1;
}

/* ---- nosub -------------------------------------------------------------*/

static uint32_t edge_nosub(struct gen_ses *s, struct gen_rec *r)
{
	const struct gen_model *m = s->m;

	for (int tries = 0; m->nlimited && tries < 16; tries++) {
		uint32_t sub = m->limited[rng_below(&s->rng, m->nlimited)];
		int64_t t = sr__gen_pick_instant(s);

		if (sr__gen_sub_row_at(&m->subs[sub], t) >= 0)
			continue;
		sr__gen_rec_reset(s, r);
		sr__gen_rec_for_sub(s, r, sub, t);
		sr__gen_emit(s, r);
		return 1;
	}
	return 0;
}

/* ---- dst ---------------------------------------------------------------*/

/* A DST switch of some region inside the period; false if none. */
static bool find_switch(struct gen_ses *s, unsigned *region, int64_t *at)
{
	const struct gen_model *m = s->m;
	unsigned start = (unsigned)rng_below(&s->rng, SR_GEN_NREGIONS);

	for (unsigned k = 0; k < SR_GEN_NREGIONS; k++) {
		unsigned g = (start + k) % SR_GEN_NREGIONS;
		int64_t sw[2];

		if (!m->nregion_stable[g] ||
		    !sr__gen_zone_switches(sr__gen_regions[g].zone, m->year,
		                           &sw[0], &sw[1]))
			continue;
		for (int i = 0; i < 2; i++)
			if (sw[i] >= m->t0 && sw[i] < m->t1) {
				*region = g;
				*at = sw[i];
				return true;
			}
	}
	return false;
}

static uint32_t edge_dst(struct gen_ses *s, struct gen_rec *r)
{
	static const int32_t deltas[] = {-3601, -3600, -1801, -1,   0,
	                                 1,     1800,  3599,  3600, 5400};
	const struct gen_model *m = s->m;
	unsigned g;
	int64_t at;

	if (!find_switch(s, &g, &at))
		return 0;
	int64_t t = at + deltas[rng_below(&s->rng, SR_GEN_NELEM(deltas))];

	if (t < m->t0 || t >= m->t1)
		t = at;
	uint32_t sub =
	    m->region_stable[g][rng_below(&s->rng, m->nregion_stable[g])];
	const struct gen_zone *z = sr__gen_regions[g].zone;

	sr__gen_rec_reset(s, r);
	sr__gen_rec_for_sub(s, r, sub, t);
	unsigned k = (unsigned)rng_below(&s->rng, 5);

	/* Mostly the local wall time with its offset; sometimes Z; sometimes
	 * the other offset of the zone, a wall time in the skipped or the
	 * repeated hour that names the same instant. */
	if (k < 4) {
		r->zulu = false;
		r->off = sr__gen_zone_offset(z, t);
		if (k == 3)
			r->off += r->off == z->std_off ? 3600 : -3600;
	}
	sr__gen_emit(s, r);
	return 1;
}

/* ---- bound -------------------------------------------------------------*/

/* Content of a class the plan plays, or SR_GEN_NONE. */
static uint32_t content_of_class(struct gen_ses *s, uint32_t plan,
                                 unsigned klass)
{
	const struct gen_plan *pl = &s->m->plans[plan];
	uint32_t start;

	if (!pl->nentitled)
		return SR_GEN_NONE;
	start = (uint32_t)rng_below(&s->rng, pl->nentitled);
	for (uint32_t k = 0; k < pl->nentitled; k++) {
		uint32_t c = pl->entitled[(start + k) % pl->nentitled];

		if (s->m->content[c].klass == klass)
			return c;
	}
	return SR_GEN_NONE;
}

/* On the day a rate of (plan, class) is replaced or starts. */
static bool bound_rate(struct gen_ses *s, struct gen_rec *r)
{
	const struct gen_model *m = s->m;

	if (!m->nswitches)
		return false;
	const struct gen_switch *sw =
	    &m->switches[rng_below(&s->rng, m->nswitches)];
	const struct gen_plan *pl = &m->plans[sw->plan];
	uint32_t c = content_of_class(s, sw->plan, sw->klass);

	if (!pl->nstable || c == SR_GEN_NONE)
		return false;
	int64_t t = (int64_t)sw->day * SR_GEN_DAY + rng_range(&s->rng, -1, 1);

	sr__gen_rec_for_sub(s, r, pl->stable[rng_below(&s->rng, pl->nstable)],
	                    t);
	r->content = c;
	return true;
}

/* On the first day of a row or the day after its last. */
static bool bound_sub(struct gen_ses *s, struct gen_rec *r)
{
	const struct gen_model *m = s->m;

	if (!m->nlimited)
		return false;
	uint32_t sub = m->limited[rng_below(&s->rng, m->nlimited)];
	const struct gen_sub *su = &m->subs[sub];
	int row = (int)rng_below(&s->rng, su->nrows);
	int32_t day = rng_chance(&s->rng, 500) ? su->from[row] : su->to[row];
	int64_t t = (int64_t)day * SR_GEN_DAY - rng_range(&s->rng, 0, 1);

	if (t < m->t0 || t >= m->t1)
		return false;
	sr__gen_rec_for_sub(s, r, sub, t);
	return true;
}

/* On a band's first second, or the last before it, in local time. */
static bool bound_band(struct gen_ses *s, struct gen_rec *r)
{
	const struct gen_model *m = s->m;

	if (!m->nstable)
		return false;
	uint32_t sub = m->stable[rng_below(&s->rng, m->nstable)];
	const struct gen_sub *su = &m->subs[sub];
	const struct gen_zone *z =
	    sr__gen_regions[su->region[su->nrows - 1]].zone;
	const struct gen_band_row *b =
	    &sr__gen_bands[rng_below(&s->rng, SR_GEN_NBANDS)];
	int64_t day = m->day0 + rng_range(&s->rng, 0, m->ndays - 1);
	int64_t local = day * SR_GEN_DAY +
	                (rng_chance(&s->rng, 500) ? b->from : b->to) -
	                rng_range(&s->rng, 0, 1);
	int64_t t = sr__gen_zone_to_utc(z, local);

	if (t < m->t0 || t >= m->t1)
		return false;
	sr__gen_rec_for_sub(s, r, sub, t);
	if (rng_chance(&s->rng, 600)) {
		r->zulu = false;
		r->off = sr__gen_zone_offset(z, t);
	}
	return true;
}

static uint32_t edge_bound(struct gen_ses *s, struct gen_rec *r)
{
	const struct gen_model *m = s->m;
	bool ok = false;

	sr__gen_rec_reset(s, r);
	switch (rng_below(&s->rng, 4)) {
	case 0:
		ok = bound_rate(s, r);
		break;
	case 1:
		ok = bound_sub(s, r);
		break;
	case 2:
		ok = bound_band(s, r);
		break;
	}
	if (!ok) { /* the period's first or last second */
		int64_t t = rng_chance(&s->rng, 500) ? m->t0 : m->t1 - 1;

		sr__gen_rec_normal(s, r, t);
	}
	sr__gen_emit(s, r);
	return 1;
}

/* ---- ppv, noent --------------------------------------------------------*/

static uint32_t edge_ppv(struct gen_ses *s, struct gen_rec *r)
{
	const struct gen_model *m = s->m;
	uint32_t n = m->nby_class[SR_GEN_PPV];

	if (!n)
		return 0;
	uint32_t c = m->by_class[SR_GEN_PPV][rng_below(&s->rng, n)];
	uint32_t times = rng_chance(&s->rng, 300) ? 2 : 1;
	int64_t t = sr__gen_pick_instant(s);

	sr__gen_rec_reset(s, r);
	sr__gen_rec_normal(s, r, t);
	uint32_t sub = r->sub;

	for (uint32_t i = 0; i < times; i++) {
		if (i) {
			sr__gen_rec_reset(s, r);
			sr__gen_rec_for_sub(s, r, sub,
			                    t + rng_range(&s->rng, 0, 3600));
			if (r->t >= m->t1)
				r->t = m->t1 - 1;
		}
		r->content = c;
		sr__gen_emit(s, r);
	}
	return times;
}

/* Content outside the packages of the plan in force; a subscriber whose
 * plan has every package is passed over. */
static uint32_t edge_noent(struct gen_ses *s, struct gen_rec *r)
{
	const struct gen_model *m = s->m;

	for (int tries = 0; tries < 64; tries++) {
		if (tries % 8 == 0)
			start_normal(s, r);
		const struct gen_sub *su = &m->subs[r->sub];
		int row = sr__gen_sub_row_at(su, r->t);
		const struct gen_plan *pl =
		    &m->plans[su->plan[row < 0 ? 0 : row]];
		uint32_t c = (uint32_t)rng_below(&s->rng, m->ncontent);
		const struct gen_content *ct = &m->content[c];

		if (ct->klass == SR_GEN_PPV ||
		    ((pl->packages >> ct->package) & 1))
			continue;
		r->content = c;
		sr__gen_emit(s, r);
		return 1;
	}
	return 0;
}

/* ---- big: valid extremes -----------------------------------------------*/

/* INT64_MAX bytes, at most once per subscriber: rates cap their price so
 * one such session stays far below an invoice overflow. */
static void max_bytes(struct gen_ses *s, struct gen_rec *r)
{
	const struct gen_model *m = s->m;

	while (s->big_cursor < m->nsubs && m->subs[s->big_cursor].reserved)
		s->big_cursor++;
	if (s->big_cursor >= m->nsubs) {
		r->bytes = 1000000000000ULL;
		return;
	}
	sr__gen_rec_for_sub(s, r, s->big_cursor++, r->t);
	r->bytes = INT64_MAX;
}

static void odd_session_id(struct gen_ses *s, struct gen_rec *r)
{
	char v[300];
	size_t n = value_of(s, r, SR_GEN_C_SESSION, v);

	switch (rng_below(&s->rng, 3)) {
	case 0: /* 128 bytes, the most allowed */
		while (n < 128)
			v[n++] = 'z';
		n = 128;
		break;
	case 1: /* UTF-8 */
		memmove(v + 8, v, n);
		memcpy(v,
		       "s\xc3\xa9"
		       "ance-",
		       8);
		n += 8;
		break;
	default: /* not UTF-8: still data */
		memcpy(v + n, "\xff\xfe\x80", 3);
		n += 3;
	}
	sr__gen_rec_raw(r, SR_GEN_C_SESSION, v, n);
}

static uint32_t edge_big(struct gen_ses *s, struct gen_rec *r)
{
	start_normal(s, r);
	switch (rng_below(&s->rng, 8)) {
	case 0:
		r->duration = 604800;
		break;
	case 1:
		r->duration = 0;
		r->bytes = 0;
		break;
	case 2:
		raw_str(r, SR_GEN_C_DURATION, "0000000000000000000000000060");
		break;
	case 3:
		raw_str(r, SR_GEN_C_BYTES, "00000000000000000000000001048576");
		break;
	case 4:
		max_bytes(s, r);
		break;
	case 5:
		odd_session_id(s, r);
		break;
	case 6:
		r->zulu = true;
		r->frac = 9;
		break;
	default:
		r->bytes = 1;
		r->duration = 1;
	}
	sr__gen_emit(s, r);
	return 1;
}

/* ---- tier: usage that lands on a bound ---------------------------------*/

static uint32_t edge_tier(struct gen_ses *s, struct gen_rec *r)
{
	const struct gen_model *m = s->m;

	if (s->acct_cursor >= m->naccts)
		return 0;
	const struct gen_acct *a = &m->accts[s->acct_cursor++];
	const struct gen_rate *rt = &m->rates[a->rate];
	uint32_t c = content_of_class(s, rt->plan, rt->klass);
	uint64_t left = a->target, written = 0;
	uint64_t most = rt->meter == SR_GEN_TIME ? 604800 / rt->unit : left + 1;

	if (c == SR_GEN_NONE)
		return 0;
	do {
		uint64_t u = left < most ? left : most;

		if (u > 1 && rng_chance(&s->rng, 500))
			u = (uint64_t)rng_range(&s->rng, 1, (int64_t)u);
		sr__gen_rec_reset(s, r);
		sr__gen_rec_for_sub(s, r, a->sub, sr__gen_pick_instant(s));
		r->content = c;
		/* Any amount in ((u - 1) * unit, u * unit] makes u units. */
		uint64_t amount =
		    u ? u * rt->unit - (uint64_t)rng_below(&s->rng, rt->unit)
		      : 0;

		if (rt->meter == SR_GEN_TIME)
			r->duration = (uint32_t)amount;
		else
			r->bytes = amount;
		sr__gen_emit(s, r);
		left -= u;
		written++;
	} while (left);
	return (uint32_t)written;
}

/* ---- dispatch ----------------------------------------------------------*/

static uint32_t (*const makers[SR_GEN_NKINDS])(struct gen_ses *s,
                                               struct gen_rec *r) = {
    [SR_GEN_K_OFFSET] = edge_offset,   [SR_GEN_K_PERIOD] = edge_period,
    [SR_GEN_K_UNKNOWN] = edge_unknown, [SR_GEN_K_NOSUB] = edge_nosub,
    [SR_GEN_K_DST] = edge_dst,         [SR_GEN_K_BOUND] = edge_bound,
    [SR_GEN_K_PPV] = edge_ppv,         [SR_GEN_K_NOENT] = edge_noent,
    [SR_GEN_K_BIG] = edge_big,         [SR_GEN_K_TIER] = edge_tier,
};

uint32_t sr__gen_aim(struct gen_ses *s, enum gen_kind kind)
{
	if (kind >= SR_GEN_NKINDS || !makers[kind])
		return 0;
	return makers[kind](s, &s->rec);
}
