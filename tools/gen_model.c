/*
 * The generated catalog, built in memory before anything is written: plans,
 * content, rates with their versions, tiers and allowances, taxes and every
 * subscriber's subscription rows. The session writer draws from the same
 * model, so sessions name real subscribers and content, fall inside
 * subscriptions, and can aim at the model's boundaries (a rate replaced on
 * a day of the period, a plan change, an allowance about to run out).
 *
 * The model is valid by construction under every rule of SPEC section 2
 * and the README's catalog choices: it never draws two things that could
 * clash (band rows are a fixed disjoint table, rates of one key get
 * disjoint validity, a subscriber's rows are consecutive intervals of one
 * currency). It depends on the seed, the period and the catalog sizes only,
 * never on the session options, so one catalog serves many session sets.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

enum { SR_GEN_NPACKAGES = 6, SR_GEN_NTIERS = 5, SR_GEN_MAX_LEVEL = 7 };
enum { PK_BASIC, PK_NEWS, PK_KIDS, PK_SPORTS, PK_CINEMA, PK_PREMIUM };

#define PKG(x) (1u << (x))

const char *const sr__gen_class_names[SR_GEN_NCLASSES] = {
    "live", "vod", "movie", "sports", "kids", "news", "trailer", "ppv",
};

/* The packages a content row of each class may name. */
static const uint32_t class_packages[SR_GEN_NCLASSES] = {
    [SR_GEN_LIVE] = PKG(PK_BASIC) | PKG(PK_PREMIUM),
    [SR_GEN_VOD] = PKG(PK_BASIC) | PKG(PK_CINEMA) | PKG(PK_PREMIUM),
    [SR_GEN_MOVIE] = PKG(PK_CINEMA) | PKG(PK_PREMIUM),
    [SR_GEN_SPORTS] = PKG(PK_SPORTS) | PKG(PK_PREMIUM),
    [SR_GEN_KIDS] = PKG(PK_KIDS),
    [SR_GEN_NEWS] = PKG(PK_NEWS) | PKG(PK_BASIC),
    [SR_GEN_TRAILER] = PKG(PK_BASIC) | PKG(PK_CINEMA),
    [SR_GEN_PPV] = 0,
};

/* Share of each class in the content list, per mille. */
static const unsigned class_weights[SR_GEN_NCLASSES] = {
    150, 400, 150, 100, 80, 50, 40, 30,
};

/* The first content rows: every class and every package at least once, so
 * every package a plan names and every class a rate names exists. */
static const uint8_t seed_content[][2] = {
    {SR_GEN_LIVE, PK_BASIC},    {SR_GEN_VOD, PK_CINEMA},
    {SR_GEN_MOVIE, PK_PREMIUM}, {SR_GEN_SPORTS, PK_SPORTS},
    {SR_GEN_KIDS, PK_KIDS},     {SR_GEN_NEWS, PK_NEWS},
    {SR_GEN_TRAILER, PK_BASIC}, {SR_GEN_PPV, 0},
};

static const struct {
	const char *name;
	uint32_t packages;
	int64_t fee_eur; /* micro-units */
} plan_tiers[SR_GEN_NTIERS] = {
    {"basic", PKG(PK_BASIC) | PKG(PK_NEWS), 7990000},
    {"premium", 0x3f, 24990000},
    {"family", PKG(PK_BASIC) | PKG(PK_NEWS) | PKG(PK_KIDS), 11990000},
    {"sport", PKG(PK_BASIC) | PKG(PK_NEWS) | PKG(PK_SPORTS), 19990000},
    {"cinema", PKG(PK_BASIC) | PKG(PK_CINEMA) | PKG(PK_KIDS), 13990000},
};

/* The classes rates are made for; news and trailers stay included. */
static const uint8_t rated_classes[] = {
    SR_GEN_LIVE, SR_GEN_VOD, SR_GEN_MOVIE, SR_GEN_SPORTS, SR_GEN_KIDS,
};

/* Tax rates (percent x 10^4) a rate change may move to. */
static const uint32_t tax_steps[] = {
    0,      50000,  55000,  70000,  72500,  77500,  80000,  88750,
    100000, 130000, 150000, 160000, 180000, 190000, 200000, 212500,
};

/* The usual rate of each region, in sr__gen_regions order; UINT32_MAX for
 * a region without any tax row. */
static const uint32_t region_tax[SR_GEN_NREGIONS] = {
    200000, 190000, 200000, 88750, 72500,  150000,
    100000, 180000, 130000, 0,     100000, UINT32_MAX,
};

static const struct gen_zone zones[] = {
    {"Europe/Paris", 3600, SR_GEN_DST_EU},
    {"Europe/Berlin", 3600, SR_GEN_DST_EU},
    {"Europe/London", 0, SR_GEN_DST_EU},
    {"America/New_York", -5 * 3600, SR_GEN_DST_US},
    {"America/Los_Angeles", -8 * 3600, SR_GEN_DST_US},
    {"America/St_Johns", -(3 * 3600 + 1800), SR_GEN_DST_US},
    {"Asia/Tokyo", 9 * 3600, SR_GEN_DST_NONE},
    {"Asia/Kolkata", 5 * 3600 + 1800, SR_GEN_DST_NONE},
    {"Asia/Kathmandu", 5 * 3600 + 2700, SR_GEN_DST_NONE},
    {"Asia/Kuwait", 3 * 3600, SR_GEN_DST_NONE},
    {"Australia/Sydney", 10 * 3600, SR_GEN_DST_AU},
    {"UTC", 0, SR_GEN_DST_NONE},
};

/* Exponents 0, 2 and 3; the last currency is named by no plan. */
const struct gen_currency sr__gen_currencies[SR_GEN_NCURRENCIES] = {
    {"EUR", 2, 1000},   {"USD", 2, 1080}, {"GBP", 2, 850},
    {"JPY", 0, 160000}, {"KWD", 3, 330},  {"INR", 2, 90000},
    {"AUD", 2, 1650},   {"CAD", 2, 1470}, {"CHF", 2, 950},
};

const struct gen_region sr__gen_regions[SR_GEN_NREGIONS] = {
    {"fr", &zones[0], 0, "FR"},      {"de", &zones[1], 0, "DE"},
    {"gb", &zones[2], 2, "GB"},      {"us-ny", &zones[3], 1, "US"},
    {"us-ca", &zones[4], 1, "US"},   {"ca-nl", &zones[5], 7, "CA"},
    {"jp", &zones[6], 3, "JP"},      {"in", &zones[7], 5, "IN"},
    {"np", &zones[8], 1, "NP"},      {"kw", &zones[9], 4, "KW"},
    {"au-nsw", &zones[10], 6, "AU"}, {"intl", &zones[11], 1, "ZZ"},
};

const char *const sr__gen_band_ids[SR_GEN_NBAND_IDS] = {
    "night",
    "early",
    "peak",
    "weekend",
};

/* Disjoint rows: a local time is in at most one band. The boundaries at
 * 02:30 on Sundays fall inside the hours DST skips or repeats. */
const struct gen_band_row sr__gen_bands[SR_GEN_NBANDS] = {
    {"night", 0x7f, 0, 2 * 3600 + 1800},
    {"early", 0x7f, 2 * 3600 + 1800, 7 * 3600},
    {"peak", 0x1f, 18 * 3600, 23 * 3600},
    {"night", 0x7f, 23 * 3600, 24 * 3600},
    {"weekend", 0x60, 9 * 3600, 18 * 3600},
};

/* ---- helpers -----------------------------------------------------------*/

static int64_t convert(int64_t eur_micro, unsigned currency)
{
	return eur_micro * sr__gen_currencies[currency].per_eur_milli / 1000;
}

/* Rounds an amount to the currency's minor unit, as a price list would. */
static int64_t minor(int64_t micro, unsigned currency)
{
	int64_t q = 1;

	for (int e = sr__gen_currencies[currency].exponent; e < 6; e++)
		q *= 10;
	return (micro + q / 2) / q * q;
}

/* ---- plans and content -------------------------------------------------*/

static void make_plan(struct gen_model *m, uint32_t i, struct gen_rng *rng)
{
	struct gen_plan *pl = &m->plans[i];
	unsigned tier = (i / 8) % SR_GEN_NTIERS;
	char *p = pl->id;

	pl->currency = i % 8;
	pl->packages = plan_tiers[tier].packages;
	pl->fee = minor(convert(plan_tiers[tier].fee_eur, pl->currency),
	                pl->currency);
	/* Some fees carry sub-minor digits, so proration must be exact. */
	if (rng_chance(rng, 200))
		pl->fee += rng_range(rng, 1, 9999);
	/* With four plans or more, the last one entitles no package at all:
	 * its subscribers can only buy pay-per-view events. */
	bool ppv_only = m->nplans >= 4 && i == m->nplans - 1;

	if (ppv_only) {
		pl->packages = 0;
		pl->fee = minor(convert(990000, pl->currency), pl->currency);
	}
	p = sr__gen_put_str(p, ppv_only ? "payperview" : plan_tiers[tier].name);
	*p++ = '-';
	for (const char *c = sr__gen_currencies[pl->currency].code; *c; c++)
		*p++ = (char)(*c | 0x20);
	if (i >= 8 * SR_GEN_NTIERS) {
		*p++ = '-';
		p = sr__gen_put_u64(p, i / (8 * SR_GEN_NTIERS) + 1);
	}
	*p = 0;
}

static uint8_t draw_class(struct gen_rng *rng)
{
	unsigned x = (unsigned)rng_below(rng, 1000);

	for (uint8_t c = 0; c < SR_GEN_NCLASSES; c++) {
		if (x < class_weights[c])
			return c;
		x -= class_weights[c];
	}
	return SR_GEN_VOD;
}

static uint8_t draw_package(uint8_t klass, struct gen_rng *rng)
{
	uint32_t set = class_packages[klass];
	unsigned n = (unsigned)__builtin_popcount(set);
	unsigned k = (unsigned)rng_below(rng, n);

	for (uint8_t pk = 0; pk < SR_GEN_NPACKAGES; pk++)
		if ((set >> pk) & 1 && k-- == 0)
			return pk;
	return 0;
}

static void make_content(struct gen_model *m, uint32_t i, struct gen_rng *rng)
{
	struct gen_content *c = &m->content[i];
	size_t nseed = sizeof(seed_content) / sizeof(seed_content[0]);

	if (i < nseed) {
		c->klass = seed_content[i][0];
		c->package = seed_content[i][1];
	} else {
		c->klass = draw_class(rng);
		c->package = draw_package(c->klass, rng);
	}
	if (c->klass != SR_GEN_PPV)
		return;
	c->price_eur = rng_range(rng, 4, 29) * 1000000 + 990000;
	c->priced = 0x1ff;
	/* Now and then an event has no price in one currency (not EUR):
	 * buying it there is rated no_price. */
	if (i >= nseed && rng_chance(rng, 200))
		c->priced &= (uint16_t) ~(1u << rng_range(rng, 1, 7));
}

static bool plan_plays(const struct gen_plan *pl, const struct gen_content *c)
{
	if (c->klass == SR_GEN_PPV)
		return (c->priced >> pl->currency) & 1;
	return (pl->packages >> c->package) & 1;
}

static int index_content(struct gen_model *m)
{
	for (uint32_t i = 0; i < m->ncontent; i++)
		m->nby_class[m->content[i].klass]++;
	for (int c = 0; c < SR_GEN_NCLASSES; c++) {
		m->by_class[c] =
		    malloc((m->nby_class[c] + 1) * sizeof(uint32_t));
		if (!m->by_class[c])
			return -ENOMEM;
		m->nby_class[c] = 0;
	}
	for (uint32_t i = 0; i < m->ncontent; i++) {
		unsigned c = m->content[i].klass;

		m->by_class[c][m->nby_class[c]++] = i;
	}
	for (uint32_t p = 0; p < m->nplans; p++) {
		struct gen_plan *pl = &m->plans[p];

		pl->entitled = malloc((m->ncontent + 1) * sizeof(uint32_t));
		if (!pl->entitled)
			return -ENOMEM;
		for (uint32_t i = 0; i < m->ncontent; i++)
			if (plan_plays(pl, &m->content[i]))
				pl->entitled[pl->nentitled++] = i;
	}
	return 0;
}

/* ---- rates -------------------------------------------------------------*/

static bool plan_has_class(const struct gen_model *m, uint32_t plan,
                           uint8_t klass)
{
	for (uint32_t k = 0; k < m->nby_class[klass]; k++)
		if (plan_plays(&m->plans[plan],
		               &m->content[m->by_class[klass][k]]))
			return true;
	return false;
}

static void base_price(struct gen_rate *r, unsigned currency,
                       struct gen_rng *rng)
{
	static const uint32_t time_units[] = {60, 60, 60, 1, 30, 3600};
	static const uint32_t byte_units[] = {1000000, 1000000, 1048576,
	                                      1000000000};

	r->meter = rng_chance(rng, 300) ? SR_GEN_BYTES : SR_GEN_TIME;
	if (r->meter == SR_GEN_TIME) {
		r->unit = time_units[rng_below(rng, 6)];
		/* 0.0001 to 0.0006 EUR a second, in micro-units per unit. */
		int64_t per_s = rng_range(rng, 100, 600);

		r->price = convert(per_s * r->unit, currency);
	} else {
		r->unit = byte_units[rng_below(rng, 4)];
		int64_t per_mb = convert(rng_range(rng, 100, 600), currency);

		/* Capped so that even a record of INT64_MAX bytes charges
		 * under 10^18 micro-units: a subscriber's invoice never
		 * overflows however the generator's extremes land. */
		if (per_mb > 100000)
			per_mb = 100000;
		r->price = r->unit >= 1000000000 ? per_mb * 1000 : per_mb;
	}
	if (r->price < 1)
		r->price = 1;
}

static void add_extras(struct gen_rate *r, struct gen_rng *rng, bool force)
{
	/* Allowances and tier bounds are counted in an amount of use (10 h
	 * or so), so a few sessions reach them whatever the unit. */
	uint64_t per = r->meter == SR_GEN_TIME ? 3600 / r->unit + 1
	                                       : 1000000000 / r->unit + 1;

	r->allowance = -1;
	if (force || rng_chance(rng, 300))
		/* Never 0: the loader takes allowance units as positive. */
		r->allowance = (int64_t)(per * rng_range(rng, 1, 20));
	if (!force && !rng_chance(rng, 300))
		return;
	r->ntiers = (uint8_t)rng_range(rng, force ? 2 : 1, 3);
	uint64_t from = per * (uint64_t)rng_range(rng, 1, 10);

	for (int k = 0; k < r->ntiers; k++) {
		r->tier_from[k] = from;
		r->tier_price[k] = r->price * (8 - 2 * k) / 10;
		from += per * (uint64_t)rng_range(rng, 2, 20);
	}
}

static void record_switch(struct gen_model *m, uint32_t plan, uint8_t klass,
                          int32_t day)
{
	m->switches[m->nswitches++] = (struct gen_switch){plan, klass, day};
}

/*
 * Adds the rate rows of one (plan, class) pair down to a depth: level 0 is
 * the catch-all rate, and each further level adds one row with a new
 * feature. Rows of one key never overlap in time.
 */
static void make_pair_rates(struct gen_model *m, uint32_t plan, uint8_t klass,
                            int depth, bool force, struct gen_rng *rng)
{
	uint32_t first = m->nrates;
	struct gen_rate base = {.plan = plan, .klass = klass, .version = 1};

	base_price(&base, m->plans[plan].currency, rng);
	base.from = rng_chance(rng, 500)
	                ? SR_GEN_NO_DATE
	                : m->day0 - (int32_t)rng_range(rng, 30, 900);
	base.to = SR_GEN_OPEN_END;
	add_extras(&base, rng, force);
	for (int level = 0; level < depth; level++) {
		struct gen_rate r = base;

		r.allowance = -1;
		r.ntiers = 0;
		switch (level) {
		case 0:
			r = base;
			break;
		case 1: /* quality-specific */
			r.quality = 3;
			r.price = base.price * 3 / 2;
			break;
		case 2: /* band-specific: peak dearer or night cheaper */
			r.band = rng_chance(rng, 500) ? 3 : 1;
			r.price = r.band == 3 ? base.price * 13 / 10
			                      : base.price / 2 + 1;
			break;
		case 3: /* the catch-all replaced on a day of the period */
			r.version = 2;
			r.from = gen_day_in_period(m, rng);
			m->rates[first].to = r.from;
			r.price = base.price * rng_range(rng, 8, 12) / 10 + 1;
			add_extras(&r, rng, false);
			record_switch(m, plan, klass, r.from);
			break;
		case 4: /* quality and band */
			r.quality = 2;
			r.band = 4;
			r.price = base.price * 9 / 10 + 1;
			break;
		case 5: /* a rate that only starts during the period */
			r.quality = 1;
			r.band = 2;
			r.from = gen_day_in_period(m, rng);
			r.price = base.price * 7 / 10 + 1;
			record_switch(m, plan, klass, r.from);
			break;
		default: /* one that expired before the period */
			r.quality = 2;
			r.to = m->day0 - (int32_t)rng_range(rng, 0, 60);
			r.from = r.to - (int32_t)rng_range(rng, 30, 400);
			break;
		}
		m->rates[m->nrates++] = r;
	}
}

/* Rate depth per pair: mostly the catch-all alone, some with every
 * feature; then adjusted to --rates when given. */
static void draw_depths(int *depth, uint32_t npairs, uint32_t want,
                        struct gen_rng *rng)
{
	static const int weights[] = {0, 450, 150, 100, 100, 100, 50, 50};
	uint64_t total = 0;

	for (uint32_t i = 0; i < npairs; i++) {
		unsigned x = (unsigned)rng_below(rng, 1000);
		int d = 1;

		while (d < SR_GEN_MAX_LEVEL && x >= (unsigned)weights[d])
			x -= (unsigned)weights[d++];
		depth[i] = d;
	}
	if (npairs > 0)
		depth[0] = SR_GEN_MAX_LEVEL;
	if (npairs > 1)
		depth[1] = 1;
	for (uint32_t i = 0; i < npairs; i++)
		total += (uint64_t)depth[i];
	for (uint32_t i = npairs; want && total > want && i-- > 0;)
		while (depth[i] > 0 && total > want) {
			depth[i]--;
			total--;
		}
	for (bool grew = true; want && total < want && grew;) {
		grew = false;
		for (uint32_t i = 0; i < npairs && total < want; i++)
			if (depth[i] < SR_GEN_MAX_LEVEL) {
				depth[i]++;
				total++;
				grew = true;
			}
	}
}

static int make_rates(struct gen_model *m, const struct gen_params *p,
                      struct gen_rng *rng)
{
	size_t nrc = sizeof(rated_classes);
	uint32_t npairs = 0;
	uint32_t *pairs = malloc(m->nplans * nrc * sizeof(uint32_t));
	int *depth = malloc((m->nplans * nrc + 1) * sizeof(int));

	if (!pairs || !depth)
		goto err;
	for (uint32_t pl = 0; pl < m->nplans; pl++)
		for (size_t k = 0; k < nrc; k++)
			if (plan_has_class(m, pl, rated_classes[k]))
				pairs[npairs++] =
				    pl * (uint32_t)nrc + (uint32_t)k;
	draw_depths(depth, npairs, p->rates, rng);
	m->rates =
	    calloc((size_t)npairs * SR_GEN_MAX_LEVEL + 1, sizeof(*m->rates));
	m->switches = calloc((size_t)npairs * 2 + 1, sizeof(*m->switches));
	if (!m->rates || !m->switches)
		goto err;
	for (uint32_t i = 0; i < npairs; i++)
		make_pair_rates(m, pairs[i] / (uint32_t)nrc,
		                rated_classes[pairs[i] % nrc], depth[i], i < 2,
		                rng);
	free(pairs);
	free(depth);
	return 0;
err:
	free(pairs);
	free(depth);
	return -ENOMEM;
}

/* ---- taxes -------------------------------------------------------------*/

/* A region's rows: consecutive intervals between sorted breakpoints, the
 * first open at the start, the last open or (rarely) closed. */
static void make_region_taxes(struct gen_model *m, uint8_t region,
                              bool force_change, struct gen_rng *rng)
{
	int32_t cuts[4];
	int n = 0, main = 0;
	size_t nsteps = sizeof(tax_steps) / sizeof(tax_steps[0]);

	if (region_tax[region] == UINT32_MAX)
		return;
	cuts[n++] = SR_GEN_NO_DATE;
	if (rng_chance(rng, 500)) {
		cuts[n++] = m->day0 - (int32_t)rng_range(rng, 0, 2000);
		main = 1;
	}
	if (force_change || rng_chance(rng, 250))
		cuts[n++] = rng_chance(rng, 300) ? m->day0 + m->ndays - 1
		                                 : gen_day_in_period(m, rng);
	if (rng_chance(rng, 200))
		cuts[n++] = m->day0 + m->ndays + (int32_t)rng_range(rng, 0, 90);
	bool closed = rng_chance(rng, 80);

	for (int i = 0; i < n; i++) {
		struct gen_tax *t = &m->taxes[m->ntaxes++];

		t->region = region;
		t->from = cuts[i];
		t->to = i + 1 < n ? cuts[i + 1] : SR_GEN_OPEN_END;
		t->rate_e4 = i == main ? region_tax[region]
		                       : tax_steps[rng_below(rng, nsteps)];
		/* A change changes something. */
		while (i && t->rate_e4 == t[-1].rate_e4)
			t->rate_e4 = tax_steps[rng_below(rng, nsteps)];
		if (i + 1 == n && closed)
			t->to =
			    m->day0 + (int32_t)rng_range(rng, 1, 2 * m->ndays);
		if (t->to <= t->from && t->from != SR_GEN_NO_DATE)
			t->to = t->from + 1;
	}
}

static int make_taxes(struct gen_model *m, struct gen_rng *rng)
{
	uint8_t forced = (uint8_t)rng_below(rng, SR_GEN_NREGIONS - 1);

	m->taxes = calloc(SR_GEN_NREGIONS * 4, sizeof(*m->taxes));
	if (!m->taxes)
		return -ENOMEM;
	for (uint8_t r = 0; r < SR_GEN_NREGIONS; r++)
		make_region_taxes(m, r, r == forced, rng);
	return 0;
}

/* ---- the whole model ---------------------------------------------------*/

static int alloc_model(struct gen_model *m)
{
	m->plans = calloc(m->nplans, sizeof(*m->plans));
	m->content = calloc(m->ncontent, sizeof(*m->content));
	m->subs = calloc(m->nsubs, sizeof(*m->subs));
	return m->plans && m->content && m->subs ? 0 : -ENOMEM;
}

static void set_period(struct gen_model *m, const struct gen_params *p)
{
	uint32_t n = p->subscribers;

	m->year = p->year;
	m->month = p->month;
	m->day0 = sr__gen_days_from_civil(p->year, p->month, 1);
	m->ndays = (int32_t)sr__gen_month_days(p->year, p->month);
	m->t0 = (int64_t)m->day0 * SR_GEN_DAY;
	m->t1 = m->t0 + (int64_t)m->ndays * SR_GEN_DAY;
	m->id_width = 6;
	for (uint32_t lim = 1000000; n > lim && m->id_width < 10; lim *= 10)
		m->id_width++;
}

int sr__gen_model_build(struct gen_model *m, const struct gen_params *p)
{
	struct gen_rng rng;
	int err;

	memset(m, 0, sizeof(*m));
	m->nplans = p->plans;
	m->ncontent = p->content;
	m->nsubs = p->subscribers;
	set_period(m, p);
	if ((err = alloc_model(m)))
		return err;
	sr__gen_rng_seed(&rng, p->seed, 1);
	for (uint32_t i = 0; i < m->nplans; i++)
		make_plan(m, i, &rng);
	for (uint32_t i = 0; i < m->ncontent; i++)
		make_content(m, i, &rng);
	if ((err = index_content(m)))
		return err;
	sr__gen_rng_seed(&rng, p->seed, 2);
	if ((err = make_rates(m, p, &rng)) || (err = make_taxes(m, &rng)))
		return err;
	sr__gen_rng_seed(&rng, p->seed, 3);
	return sr__gen_subs_build(m, &rng);
}

void sr__gen_model_finish(struct gen_model *m)
{
	for (uint32_t i = 0; m->plans && i < m->nplans; i++) {
		free(m->plans[i].entitled);
		free(m->plans[i].stable);
	}
	for (int c = 0; c < SR_GEN_NCLASSES; c++)
		free(m->by_class[c]);
	for (int r = 0; r < SR_GEN_NREGIONS; r++)
		free(m->region_stable[r]);
	free(m->plans);
	free(m->content);
	free(m->subs);
	free(m->rates);
	free(m->taxes);
	free(m->switches);
	free(m->accts);
	free(m->stable);
	free(m->limited);
	memset(m, 0, sizeof(*m));
}
