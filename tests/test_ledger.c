/*
 * Ledger totals: additions, take-backs kept in a separate corrections
 * ledger (negative counts, summed across ledgers in 128 bits), keys whose
 * every session was taken back disappear, counts past 64 bits, and the
 * order of a subscriber's entries (usage by rate index, then PPV by
 * content id bytes).
 */
#include <criterion/criterion.h>

#include "streamrate/error.h"
#include "streamrate/ledger.h"

static struct sr_rate rates[3] = {{.index = 0}, {.index = 1}, {.index = 2}};
static struct sr_content movie = {.id = {"movie", 5}};
static struct sr_content ppv_b = {.id = {"b-event", 7}, .ppv = true};
static struct sr_content ppv_a = {.id = {"a-event", 7}, .ppv = true};

static struct sr_ledger_delta usage(uint32_t sub, int rate, uint64_t units)
{
	return (struct sr_ledger_delta){&rates[rate], sub, SR_LEDGER_USAGE,
	                                units};
}

static struct sr_ledger_delta ppv(uint32_t sub, const struct sr_content *c)
{
	return (struct sr_ledger_delta){c, sub, SR_LEDGER_PPV, 1};
}

Test(ledger, sums_and_take_backs_across_ledgers)
{
	struct sr_ledger *a, *b;
	cr_assert_eq(sr_ledger_create(&a, 10, 4), 0);
	cr_assert_eq(sr_ledger_create(&b, 10, 4), 0);
	struct sr_ledger_delta d1 = usage(3, 2, 7), d2 = usage(3, 2, 5),
	                       d3 = usage(3, 0, 9), d4 = ppv(3, &ppv_b),
	                       d5 = ppv(3, &ppv_a);
	cr_assert_eq(sr_ledger_apply(a, &d1, 1), 0);
	cr_assert_eq(sr_ledger_apply(a, &d2, 1), 0);
	cr_assert_eq(sr_ledger_apply(a, &d3, 1), 0);
	cr_assert_eq(sr_ledger_apply(a, &d4, 1), 0);
	cr_assert_eq(sr_ledger_apply(a, &d5, 1), 0);
	/* b takes back the 5 units of rate 2 and the whole of rate 0. */
	cr_assert_eq(sr_ledger_apply(b, &d2, -1), 0);
	cr_assert_eq(sr_ledger_apply(b, &d3, -1), 0);

	cr_assert_eq(sr_ledger_seal(a), 0);
	cr_assert_eq(sr_ledger_seal(b), 0);
	cr_assert_eq(sr_ledger_apply(a, &d1, 1), SR_EINVAL);
	const struct sr_ledger *both[] = {a, b};
	struct sr_ledger_entry e[8];
	size_t n = sr_ledger_collect(both, 2, 3, e, 8);
	cr_assert_eq(n, 3);
	cr_assert_eq(e[0].kind, SR_LEDGER_USAGE);
	cr_assert_eq(e[0].rate, &rates[2]);
	cr_assert(e[0].count == 7);
	cr_assert_eq(e[0].sessions, 1);
	/* PPV entries by content id bytes: a-event before b-event. */
	cr_assert_eq(e[1].content, &ppv_a);
	cr_assert_eq(e[2].content, &ppv_b);
	cr_assert_eq(sr_ledger_collect(both, 2, 4, e, 8), 0);
	sr_ledger_destroy(a);
	sr_ledger_destroy(b);
}

Test(ledger, counts_past_64_bits)
{
	struct sr_ledger *a;
	cr_assert_eq(sr_ledger_create(&a, 1, 1), 0);
	struct sr_ledger_delta big = usage(0, 1, UINT64_MAX);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(sr_ledger_apply(a, &big, 1), 0);
	cr_assert_eq(sr_ledger_apply(a, &big, -1), 0);
	cr_assert_eq(sr_ledger_seal(a), 0);
	const struct sr_ledger *one[] = {a};
	struct sr_ledger_entry e[2];
	cr_assert_eq(sr_ledger_collect(one, 1, 0, e, 2), 1);
	cr_assert(e[0].count == (unsigned __int128)UINT64_MAX * 2);
	cr_assert_eq(e[0].sessions, 2);
	sr_ledger_destroy(a);
}

Test(ledger, grows_past_its_hint)
{
	struct sr_ledger *a;
	cr_assert_eq(sr_ledger_create(&a, 5000, 1), 0);
	for (uint32_t s = 0; s < 5000; s++)
		for (int r = 0; r < 3; r++) {
			struct sr_ledger_delta d = usage(s, r, s + 1);
			cr_assert_eq(sr_ledger_apply(a, &d, 1), 0);
		}
	cr_assert_eq(sr_ledger_seal(a), 0);
	cr_assert_eq(sr_ledger_seal(a), 0); /* again: nothing */
	const struct sr_ledger *one[] = {a};
	struct sr_ledger_entry e[4];
	cr_assert_eq(sr_ledger_collect(one, 1, 4321, e, 4), 3);
	cr_assert(e[1].count == 4322 && e[1].rate == &rates[1]);
	(void)movie;
	sr_ledger_destroy(a);
}

/*
 * Against a plain array of totals: subscribers with many keys (their
 * probes spill into their neighbours' runs), others with none, updates in
 * a scrambled order, a table grown many times from a hint of one key.
 */
Test(ledger, matches_a_plain_model)
{
	enum { SUBS = 300, ITEMS = 40 };
	static struct sr_rate many[ITEMS];
	static int64_t sessions[SUBS][ITEMS];
	static uint64_t units[SUBS][ITEMS];
	struct sr_ledger *a;
	unsigned seed = 7;

	for (int i = 0; i < ITEMS; i++)
		many[i].index = (uint32_t)i;
	cr_assert_eq(sr_ledger_create(&a, SUBS, 1), 0);
	for (int k = 0; k < 60000; k++) {
		seed = seed * 1103515245u + 12345u;
		uint32_t sub = (seed >> 8) % SUBS;
		/* A third of the subscribers have no sessions; subscriber
		 * 17 uses every rate. */
		if (sub % 3 == 1)
			continue;
		uint32_t item = sub == 17 ? (seed >> 20) % ITEMS
		                          : (seed >> 20) % (1 + sub % 6);
		struct sr_ledger_delta d = {&many[item], sub, SR_LEDGER_USAGE,
		                            seed % 1000};
		cr_assert_eq(sr_ledger_apply(a, &d, 1), 0);
		sessions[sub][item]++;
		units[sub][item] += d.units;
	}
	cr_assert_eq(sr_ledger_seal(a), 0);
	const struct sr_ledger *one[] = {a};
	for (uint32_t sub = 0; sub < SUBS; sub++) {
		struct sr_ledger_entry e[ITEMS];
		size_t n = sr_ledger_collect(one, 1, sub, e, ITEMS), k = 0;
		for (int i = 0; i < ITEMS; i++) {
			if (!sessions[sub][i])
				continue;
			cr_assert_lt(k, n, "subscriber %u", sub);
			cr_assert_eq(e[k].rate, &many[i], "subscriber %u", sub);
			cr_assert_eq(e[k].sessions, sessions[sub][i]);
			cr_assert(e[k].count == units[sub][i]);
			k++;
		}
		cr_assert_eq(n, k, "subscriber %u", sub);
		if (sub == 17)
			cr_assert_eq(n, ITEMS);
	}
	sr_ledger_destroy(a);
}
