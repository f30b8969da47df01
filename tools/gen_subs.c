/*
 * The subscribers of the generated catalog: each gets one or two
 * subscription rows of one currency, shaped by a kind (in force all period,
 * changing plan on a day of the period, joining, leaving, leaving and
 * coming back, gone before, arriving after), so that invoices prorate and
 * sessions meet every subscription outcome.
 *
 * A few subscribers are reserved as accountants: each is tied to one rate
 * that alone prices its plan and class, and kept out of every random pick,
 * so that the session writer can make its usage add up exactly to an
 * allowance or a tier bound. The indexes built last (stable subscribers by
 * plan and region, subscribers out of force part of the period) are what
 * the edge-case makers aim with.
 */
#include <errno.h>
#include <stdlib.h>

#include "gen.h"

int sr__gen_sub_row_at(const struct gen_sub *s, int64_t t)
{
	for (int r = 0; r < s->nrows; r++) {
		int64_t from = (int64_t)s->from[r] * SR_GEN_DAY;
		int64_t to = (int64_t)s->to[r] * SR_GEN_DAY;

		if (from <= t && t < to)
			return r;
	}
	return -1;
}

/* ---- subscribers -------------------------------------------------------*/

static uint32_t draw_plan(const struct gen_model *m, struct gen_rng *rng)
{
	uint32_t pl = (uint32_t)rng_below(rng, m->nplans);

	/* Few subscribers choose the PPV-only plan. */
	if (!m->plans[pl].packages && rng_chance(rng, 700))
		pl = (uint32_t)rng_below(rng, m->nplans);
	return pl;
}

/* Another plan of the same currency (the same one if it is alone). */
static uint32_t sibling_plan(const struct gen_model *m, uint32_t pl,
                             struct gen_rng *rng)
{
	uint32_t start = (uint32_t)rng_below(rng, m->nplans);

	for (uint32_t k = 0; k < m->nplans; k++) {
		uint32_t q = (start + k) % m->nplans;

		if (q != pl && m->plans[q].currency == m->plans[pl].currency)
			return q;
	}
	return pl;
}

static uint8_t draw_region(unsigned currency, struct gen_rng *rng)
{
	uint8_t found[SR_GEN_NREGIONS];
	unsigned n = 0;

	for (uint8_t r = 0; r < SR_GEN_NREGIONS; r++)
		if (sr__gen_regions[r].currency == currency)
			found[n++] = r;
	if (!n)
		return (uint8_t)rng_below(rng, SR_GEN_NREGIONS);
	return found[rng_below(rng, n)];
}

static enum gen_sub_kind draw_sub_kind(struct gen_rng *rng)
{
	static const unsigned weights[] = {780, 40, 30, 30, 20, 15, 15, 10, 60};
	unsigned x = (unsigned)rng_below(rng, 1000);

	for (unsigned k = 0; k < sizeof(weights) / sizeof(weights[0]); k++) {
		if (x < weights[k])
			return (enum gen_sub_kind)k;
		x -= weights[k];
	}
	return SR_GEN_S_STABLE;
}

static void two_rows(struct gen_sub *s, int32_t a, int32_t b, int32_t c,
                     int32_t d)
{
	s->nrows = 2;
	s->from[0] = a;
	s->to[0] = b;
	s->from[1] = c;
	s->to[1] = d;
}

/* The rows' dates by kind; a row's end is exclusive, SR_GEN_OPEN_END if
 * empty. */
static void sub_dates(const struct gen_model *m, struct gen_sub *s,
                      struct gen_rng *rng)
{
	int32_t d0 = m->day0, dn = m->day0 + m->ndays;
	int32_t past = d0 - (int32_t)rng_range(rng, 1, 1500);
	int32_t mid = gen_day_in_period(m, rng);

	s->nrows = 1;
	s->from[0] = past;
	s->to[0] = SR_GEN_OPEN_END;
	switch (s->kind) {
	case SR_GEN_S_STABLE:
		if (rng_chance(rng, 60))
			s->to[0] = dn + (int32_t)rng_range(rng, 0, 2) * 30;
		break;
	case SR_GEN_S_HISTORY: {
		int32_t cut = rng_chance(rng, 200) ? d0 : past;

		two_rows(s, cut - (int32_t)rng_range(rng, 30, 900), cut, cut,
		         SR_GEN_OPEN_END);
		break;
	}
	case SR_GEN_S_CHANGE:
		two_rows(s, past, mid, mid, SR_GEN_OPEN_END);
		break;
	case SR_GEN_S_JOIN:
		s->from[0] = mid;
		break;
	case SR_GEN_S_LEAVE:
		s->to[0] = mid;
		break;
	case SR_GEN_S_GAP: {
		int32_t back = mid + (int32_t)rng_range(rng, 1, dn - mid);

		if (back >= dn)
			back = dn - 1;
		if (back <= mid)
			mid = back - 1;
		two_rows(s, past, mid, back, SR_GEN_OPEN_END);
		break;
	}
	case SR_GEN_S_SHORT:
		s->from[0] = d0 + (int32_t)rng_range(rng, 0, m->ndays - 2);
		s->to[0] = s->from[0] +
		           (int32_t)rng_range(rng, 1, dn - 1 - s->from[0]);
		break;
	case SR_GEN_S_PAST:
		s->to[0] = d0 - (int32_t)rng_range(rng, 0, 1) *
		                    (int32_t)rng_range(rng, 1, 400);
		s->from[0] = s->to[0] - (int32_t)rng_range(rng, 30, 700);
		break;
	default: /* SR_GEN_S_FUTURE */
		s->from[0] = dn + (int32_t)rng_range(rng, 0, 1) *
		                      (int32_t)rng_range(rng, 1, 60);
		break;
	}
}

static void make_sub(struct gen_model *m, struct gen_sub *s,
                     struct gen_rng *rng)
{
	s->kind = (uint8_t)draw_sub_kind(rng);
	s->plan[0] = (uint16_t)draw_plan(m, rng);
	s->region[0] = draw_region(m->plans[s->plan[0]].currency, rng);
	sub_dates(m, s, rng);
	s->plan[1] = (uint16_t)sibling_plan(m, s->plan[0], rng);
	/* Some move house when they change plan: the invoice's tax then
	 * follows the newest row's region. */
	s->region[1] = rng_chance(rng, 300)
	                   ? draw_region(m->plans[s->plan[1]].currency, rng)
	                   : s->region[0];
}

static bool sub_is_stable(const struct gen_sub *s)
{
	return s->kind == SR_GEN_S_STABLE || s->kind == SR_GEN_S_HISTORY;
}

/* The plan a stable subscriber has all period long. */
static uint32_t stable_plan(const struct gen_sub *s)
{
	return s->plan[s->nrows - 1];
}

/* ---- accountants -------------------------------------------------------*/

/* A rate alone for its plan and class, open over the whole period: every
 * session of that plan and class lands on it. */
static bool rate_is_simple(const struct gen_model *m, uint32_t i)
{
	const struct gen_rate *r = &m->rates[i];

	if (r->quality || r->band || r->to != SR_GEN_OPEN_END)
		return false;
	if (r->allowance < 0 && !r->ntiers)
		return false;
	/* The rows of one pair are adjacent: see make_pair_rates(). */
	if (i > 0 && r[-1].plan == r->plan && r[-1].klass == r->klass)
		return false;
	return i + 1 == m->nrates || r[1].plan != r->plan ||
	       r[1].klass != r->klass;
}

static uint64_t acct_target(const struct gen_rate *r, unsigned n,
                            struct gen_rng *rng)
{
	uint64_t a = r->allowance > 0 ? (uint64_t)r->allowance : 0;
	uint64_t t = r->ntiers ? r->tier_from[rng_below(rng, r->ntiers)] : 0;

	switch (n % 5) {
	case 0:
		return a;
	case 1:
		return a + 1;
	case 2:
		return a ? a - 1 : a + t;
	case 3:
		return a + t;
	default:
		return a + t + 1;
	}
}

static uint32_t find_stable_on(const struct gen_model *m, uint32_t plan,
                               struct gen_rng *rng)
{
	uint32_t start = (uint32_t)rng_below(rng, m->nsubs);

	for (uint32_t k = 0; k < m->nsubs; k++) {
		uint32_t i = (start + k) % m->nsubs;
		const struct gen_sub *s = &m->subs[i];

		if (sub_is_stable(s) && !s->reserved && stable_plan(s) == plan)
			return i;
	}
	return SR_GEN_NONE;
}

static int make_accts(struct gen_model *m, struct gen_rng *rng)
{
	uint32_t want = m->nsubs / 100 < 16 ? m->nsubs / 100 : 16;

	m->accts = calloc(want + 1, sizeof(*m->accts));
	if (!m->accts)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->nrates && m->naccts < want; i++) {
		if (!rate_is_simple(m, i))
			continue;
		for (unsigned n = 0; n < 5 && m->naccts < want; n++) {
			uint32_t sub = find_stable_on(m, m->rates[i].plan, rng);

			if (sub == SR_GEN_NONE)
				break;
			m->subs[sub].reserved = 1;
			m->accts[m->naccts++] = (struct gen_acct){
			    sub, i, acct_target(&m->rates[i], n, rng)};
		}
	}
	return 0;
}

/* ---- indexes -----------------------------------------------------------*/

static int alloc_lists(struct gen_model *m)
{
	size_t n = (size_t)m->nsubs + 1;

	m->stable = malloc(n * sizeof(uint32_t));
	m->limited = malloc(n * sizeof(uint32_t));
	if (!m->stable || !m->limited)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->nsubs; i++) {
		const struct gen_sub *s = &m->subs[i];

		if (s->reserved)
			continue;
		if (sub_is_stable(s)) {
			m->plans[stable_plan(s)].nstable++;
			m->nregion_stable[s->region[s->nrows - 1]]++;
		}
	}
	for (uint32_t p = 0; p < m->nplans; p++) {
		m->plans[p].stable = malloc((m->plans[p].nstable + 1) * 4);
		if (!m->plans[p].stable)
			return -ENOMEM;
		m->plans[p].nstable = 0;
	}
	for (int r = 0; r < SR_GEN_NREGIONS; r++) {
		m->region_stable[r] = malloc((m->nregion_stable[r] + 1) * 4);
		if (!m->region_stable[r])
			return -ENOMEM;
		m->nregion_stable[r] = 0;
	}
	return 0;
}

static int index_subs(struct gen_model *m)
{
	int err = alloc_lists(m);

	if (err)
		return err;
	for (uint32_t i = 0; i < m->nsubs; i++) {
		const struct gen_sub *s = &m->subs[i];

		if (s->reserved)
			continue;
		if (!sub_is_stable(s)) {
			m->limited[m->nlimited++] = i;
			continue;
		}
		struct gen_plan *pl = &m->plans[stable_plan(s)];
		unsigned r = s->region[s->nrows - 1];

		m->stable[m->nstable++] = i;
		pl->stable[pl->nstable++] = i;
		m->region_stable[r][m->nregion_stable[r]++] = i;
	}
	return 0;
}

int sr__gen_subs_build(struct gen_model *m, struct gen_rng *rng)
{
	int err;

	for (uint32_t i = 0; i < m->nsubs; i++)
		make_sub(m, &m->subs[i], rng);
	if ((err = make_accts(m, rng)))
		return err;
	return index_subs(m);
}
