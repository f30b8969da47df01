/*
 * The follow state store (engine/state.c): every kind of fact survives a
 * commit and a reopen, an aborted transaction changes nothing, ledger
 * deltas add up (also past 64 bits) whatever order they come in, and the
 * duplicate keys come back with their period until the period is dropped.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"
#include "streamrate/error.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/sr-state-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(state, .init = setup, .fini = teardown);

static struct sr__state *open_state(void)
{
	struct sr__state *s;
	cr_assert_eq(sr__state_open(dir, false, &s), 0);
	return s;
}

Test(state, input_round_trip)
{
	struct sr__state *s = open_state();
	struct sr__input_state in = {
	    {7, 99, 0x1234567890abcdefULL, 4096}, 123456789012ULL, 4242, -5};
	struct sr__input_state got;
	cr_assert_eq(sr__state_begin(s, true), 0);
	cr_assert_eq(sr__state_input_put(s, "logs/a.csv", &in), 0);
	cr_assert_eq(sr__state_commit(s), 0);
	sr__state_close(s);

	s = open_state();
	cr_assert_eq(sr__state_begin(s, false), 0);
	cr_assert_eq(sr__state_input_get(s, "logs/a.csv", &got), 0);
	cr_assert_eq(got.id.dev, 7);
	cr_assert_eq(got.id.ino, 99);
	cr_assert_eq(got.id.fp, 0x1234567890abcdefULL);
	cr_assert_eq(got.id.fp_len, 4096);
	cr_assert_eq(got.off, 123456789012ULL);
	cr_assert_eq(got.line, 4242);
	cr_assert_eq(got.time_ns, -5);
	cr_assert_eq(sr__state_input_get(s, "logs/b.csv", &got), SR_ENOTFOUND);
	sr__state_close(s);
}

Test(state, abort_changes_nothing)
{
	struct sr__state *s = open_state();
	cr_assert_eq(sr__state_begin(s, true), 0);
	cr_assert_eq(sr__state_output_put(s, "rated-2024-03.csv", 100), 0);
	cr_assert_eq(sr__state_closed_put(s, "2024-03"), 0);
	sr__state_abort(s);
	cr_assert_eq(sr__state_begin(s, false), 0);
	cr_assert_eq(sr__state_closed_get(s, "2024-03"), SR_ENOTFOUND);
	sr__state_close(s);
}

struct ledger_seen {
	int n;
	int64_t sessions[4];
	unsigned __int128 count[4];
	char item[4][16];
};

static int on_total(void *ctx, const struct sr__ledger_key *k, int64_t sessions,
                    unsigned __int128 count)
{
	struct ledger_seen *seen = ctx;
	cr_assert_lt(seen->n, 4);
	cr_assert(k->subscriber.len == 4 &&
	          !memcmp(k->subscriber.ptr, "sub1", 4));
	snprintf(seen->item[seen->n], 16, "%c%.*s", k->kind, (int)k->item.len,
	         k->item.ptr);
	seen->sessions[seen->n] = sessions;
	seen->count[seen->n++] = count;
	return 0;
}

/* Two commits of deltas, given out of key order: totals add up, keys come
 * back in key order (PPV 'p' before usage 'u'), other periods apart. */
Test(state, ledger_totals_add_up)
{
	struct sr__state *s = open_state();
	unsigned __int128 big = (unsigned __int128)1 << 70;
	struct sr__ledger_delta d[3] = {
	    {"2024-03", {{"sub1", 4}, SR_STATE_USAGE, {"r2", 2}}, 2, big},
	    {"2024-03", {{"sub1", 4}, SR_STATE_PPV, {"match", 5}}, 1, 1},
	    {"2024-02", {{"sub1", 4}, SR_STATE_USAGE, {"r2", 2}}, 9, 9},
	};
	for (int round = 0; round < 2; round++) {
		cr_assert_eq(sr__state_begin(s, true), 0);
		cr_assert_eq(sr__state_ledger_add(s, d, 3), 0);
		cr_assert_eq(sr__state_commit(s), 0);
	}
	struct ledger_seen seen = {0};
	cr_assert_eq(sr__state_begin(s, false), 0);
	cr_assert_eq(sr__state_ledger_each(s, "2024-03", on_total, &seen), 0);
	cr_assert_eq(seen.n, 2);
	cr_assert_str_eq(seen.item[0], "pmatch");
	cr_assert_eq(seen.sessions[0], 2);
	cr_assert(seen.count[0] == 2);
	cr_assert_str_eq(seen.item[1], "ur2");
	cr_assert_eq(seen.sessions[1], 4);
	cr_assert(seen.count[1] == 2 * big);
	sr__state_close(s);
}

/* A model of the stored totals: [subscriber][kind][item]. */
#define M_SUBS 7
#define M_ITEMS 9
struct model {
	int64_t sessions[M_SUBS][2][M_ITEMS];
	unsigned __int128 count[M_SUBS][2][M_ITEMS];
	int walked;
	char last[64];
};

static const char *const m_subs[M_SUBS] = {"a", "ab", "b", "s10",
                                           "s2", "s20", "zzzz"};
static const char *const m_items[M_ITEMS] = {"",   "m",  "m1", "m10", "m2",
                                             "n",  "r",  "r1", "rr"};

static int find(const char *const *names, int n, struct sr_str s)
{
	for (int i = 0; i < n; i++)
		if (strlen(names[i]) == s.len && !memcmp(names[i], s.ptr, s.len))
			return i;
	return -1;
}

static int check_model(void *ctx, const struct sr__ledger_key *k,
                       int64_t sessions, unsigned __int128 count)
{
	struct model *m = ctx;
	int s = find(m_subs, M_SUBS, k->subscriber),
	    i = find(m_items, M_ITEMS, k->item),
	    kind = k->kind == SR_STATE_PPV ? 0 : 1;
	cr_assert(s >= 0 && i >= 0, "unknown key");
	cr_assert_eq(m->sessions[s][kind][i], sessions, "%s %c%s", m_subs[s],
	             k->kind, m_items[i]);
	cr_assert(m->count[s][kind][i] == count, "%s %c%s: %llx want %llx",
	          m_subs[s], k->kind, m_items[i], (unsigned long long)count,
	          (unsigned long long)m->count[s][kind][i]);
	/* Keys come in order: subscriber, kind, item, as strings. */
	char key[64];
	snprintf(key, sizeof(key), "%s%c%c%s", m_subs[s], 1, k->kind,
	         m_items[i]);
	cr_assert(strcmp(m->last, key) < 0, "%s after %s", key, m->last);
	strcpy(m->last, key);
	m->walked++;
	return 0;
}

/* Random rounds of deltas (repeated keys, any order, items that are
 * prefixes of others) against a model, the state reopened between
 * rounds: every total is right, and none is invented. */
Test(state, ledger_matches_model)
{
	static struct model m;
	struct sr__ledger_delta d[64];
	unsigned seed = 12345;
	for (int round = 0; round < 40; round++) {
		struct sr__state *s = open_state();
		int n = (int)(rand_r(&seed) % 64);
		for (int j = 0; j < n; j++) {
			int sub = (int)(rand_r(&seed) % M_SUBS),
			    kind = (int)(rand_r(&seed) % 2),
			    item = (int)(rand_r(&seed) % M_ITEMS);
			int64_t ses = (int64_t)(rand_r(&seed) % 5) - 1;
			unsigned __int128 c = (unsigned __int128)rand_r(&seed)
			                      << (round % 3 * 40);
			d[j] = (struct sr__ledger_delta){
			    rand_r(&seed) % 4 ? "2024-03" : "2024-02",
			    {{m_subs[sub], (uint32_t)strlen(m_subs[sub])},
			     kind ? SR_STATE_USAGE : SR_STATE_PPV,
			     {m_items[item], (uint32_t)strlen(m_items[item])}},
			    ses,
			    c};
			if (d[j].period[6] == '3') {
				m.sessions[sub][kind][item] += ses;
				m.count[sub][kind][item] += c;
			}
		}
		cr_assert_eq(sr__state_begin(s, true), 0);
		cr_assert_eq(sr__state_ledger_add(s, d, (size_t)n), 0);
		cr_assert_eq(sr__state_commit(s), 0);
		m.walked = 0;
		m.last[0] = 0;
		cr_assert_eq(sr__state_begin(s, false), 0);
		cr_assert_eq(sr__state_ledger_each(s, "2024-03", check_model, &m),
		             0);
		int want = 0;
		for (int a = 0; a < M_SUBS; a++)
			for (int b = 0; b < 2; b++)
				for (int c = 0; c < M_ITEMS; c++)
					want += m.count[a][b][c] ||
					        m.sessions[a][b][c];
		cr_assert_geq(m.walked, want);
		sr__state_close(s);
	}
}

/* A state directory of another layout is refused, not misread. */
Test(state, other_format_refused)
{
	struct sr__state *s = open_state();
	cr_assert_eq(sr__state_begin(s, true), 0);
	cr_assert_eq(sr__state_meta_put(s, "format", (struct sr_str){"1", 1}),
	             0);
	cr_assert_eq(sr__state_commit(s), 0);
	sr__state_close(s);
	cr_assert_eq(sr__state_open(dir, false, &s), SR_ESTATEFORMAT);
}

static int count_keys(void *ctx, const char *period,
                      const struct sr_key128 *keys, size_t n)
{
	uint64_t *sum = ctx;
	cr_assert_str_eq(period, "2024-03");
	for (size_t i = 0; i < n; i++)
		*sum += keys[i].lo + keys[i].hi;
	return 0;
}

Test(state, keys_come_back)
{
	struct sr__state *s = open_state();
	static struct sr_key128 k[10000];
	uint64_t want = 0, got = 0;
	for (int i = 0; i < 10000; i++) {
		k[i] = (struct sr_key128){(uint64_t)i * 3 + 1, (uint64_t)i};
		want += k[i].lo + k[i].hi;
	}
	cr_assert_eq(sr__state_begin(s, true), 0);
	cr_assert_eq(sr__state_keys_append(s, "2024-03", k, 6000), 0);
	cr_assert_eq(sr__state_keys_append(s, "2024-02", k, 10), 0);
	cr_assert_eq(sr__state_commit(s), 0);
	cr_assert_eq(sr__state_begin(s, true), 0);
	cr_assert_eq(sr__state_keys_append(s, "2024-03", k + 6000, 4000), 0);
	cr_assert_eq(sr__state_keys_append(s, "2024-02", k, 10), 0);
	/* Closing February drops its blocks, and only those. */
	cr_assert_eq(sr__state_keys_drop(s, "2024-02"), 0);
	cr_assert_eq(sr__state_commit(s), 0);
	sr__state_close(s);
	s = open_state();
	cr_assert_eq(sr__state_begin(s, false), 0);
	cr_assert_eq(sr__state_keys_each(s, count_keys, &got), 0);
	cr_assert_eq(got, want);
	sr__state_close(s);
}
