/*
 * Invoice arithmetic of SPEC section 4. Every amount is computed exactly
 * as a fraction of 128-bit integers and rounded once, half away from zero,
 * to a multiple of the currency's minor unit: proration is fee x days / D,
 * tax is subtotal x rate / 100, and the graduated usage value is a sum of
 * exact products. Any amount that does not fit in int64_t micro-units
 * stops the build: a billing engine must never print a wrapped number.
 */
#include <stdlib.h>

#include "civil.h"
#include "money.h"
#include "streamrate/error.h"
#include "streamrate/invoice.h"

struct builder {
	const struct sr_catalog *cat;
	const struct sr_period *period;
	struct sr_invoice_line *lines;
	uint32_t cap;
	uint32_t n;
	int exponent;
	struct sr_ledger_entry *entries;
	size_t entries_cap;
};

static int push(struct builder *b, const struct sr_invoice_line *line)
{
	if (b->n == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 16;
		struct sr_invoice_line *l = realloc(b->lines, cap * sizeof(*l));
		if (!l)
			return SR_ENOMEM;
		b->lines = l;
		b->cap = cap;
	}
	b->lines[b->n++] = *line;
	return 0;
}

/* Days of the period inside [start, end). */
static uint32_t days_inside(const struct sr_period *p,
                            const struct sr_subscription *row)
{
	int64_t from = row->start > p->start ? row->start : p->start;
	int64_t to = row->end < p->end ? row->end : p->end;
	return to > from ? (uint32_t)((to - from) / SR_DAY) : 0;
}

static int recurring_lines(struct builder *b, const struct sr_subscriber *s)
{
	for (uint32_t i = 0; i < s->nsubs; i++) {
		uint32_t days = days_inside(b->period, &s->subs[i]);
		if (!days)
			continue;
		struct sr_invoice_line line = {.type = SR_LINE_RECURRING};
		line.plan = sr_catalog_plan(b->cat, s->subs[i].plan);
		line.days = days;
		int err = sr__round_minor_div(
		    (sr_i128)line.plan->monthly_fee * days, b->period->days,
		    b->exponent, &line.amount);
		if (!err)
			err = push(b, &line);
		if (err)
			return err;
	}
	return 0;
}

int sr_usage_value(const struct sr_rate *r, unsigned __int128 billable,
                   __int128 *value)
{
	/* Billable units are numbered from 0; segment k runs from its
	 * from_units to the next tier's, at its price. */
	unsigned __int128 from = 0;
	int64_t price = r->unit_price;
	__int128 sum = 0;

	for (uint32_t k = 0; k <= r->ntiers; k++) {
		unsigned __int128 to =
		    k < r->ntiers ? r->tiers[k].from_units : billable;
		if (to > billable)
			to = billable;
		if (to > from) {
			unsigned __int128 n = to - from;
			__int128 part;
			if (__builtin_mul_overflow((__int128)n, (__int128)price,
			                           &part) ||
			    __builtin_add_overflow(sum, part, &sum))
				return SR_EOVERFLOW;
		}
		if (k == r->ntiers || r->tiers[k].from_units >= billable)
			break;
		from = r->tiers[k].from_units;
		price = r->tiers[k].unit_price;
	}
	*value = sum;
	return 0;
}

static int usage_line(struct builder *b, const struct sr_ledger_entry *e)
{
	struct sr_invoice_line line = {.type = SR_LINE_USAGE};
	__int128 value;

	line.rate = e->rate;
	line.units = e->count;
	line.allowance = e->rate->allowance;
	line.billable =
	    e->count > line.allowance ? e->count - line.allowance : 0;
	int err = sr_usage_value(e->rate, line.billable, &value);
	if (!err)
		err = sr__round_minor(value, b->exponent, &line.amount);
	return err ? err : push(b, &line);
}

static int ppv_line(struct builder *b, const struct sr_ledger_entry *e,
                    uint32_t currency)
{
	struct sr_invoice_line line = {.type = SR_LINE_PPV};
	int64_t price;

	line.content = e->content;
	if (sr_catalog_ppv_price(b->cat, e->content, currency, &price) < 0)
		return SR_EINVAL; /* rated PPV always had a price */
	int err = sr__round_minor(price, b->exponent, &line.amount);
	return err ? err : push(b, &line);
}

/* The row with the latest start overlapping the period. */
static const struct sr_subscription *latest_row(const struct sr_period *p,
                                                const struct sr_subscriber *s)
{
	const struct sr_subscription *row = NULL;
	for (uint32_t i = 0; i < s->nsubs; i++)
		if (days_inside(p, &s->subs[i]))
			row = &s->subs[i];
	return row;
}

static int totals(struct builder *b, struct sr_invoice *inv,
                  const struct sr_subscription *row)
{
	int64_t subtotal = 0;
	for (uint32_t i = 0; i < b->n; i++)
		if (__builtin_add_overflow(subtotal, b->lines[i].amount,
		                           &subtotal))
			return SR_EOVERFLOW;
	const struct sr_tax *tax =
	    sr_catalog_tax(b->cat, row->region, b->period->end - SR_DAY);
	inv->subtotal = subtotal;
	inv->tax_rate = tax ? tax->rate : 0;
	/* subtotal x (rate / 10^4) / 100 = subtotal x rate / 10^6. */
	int err = sr__round_minor_div((sr_i128)subtotal * inv->tax_rate,
	                              SR_MICRO, b->exponent, &inv->tax);
	if (err || __builtin_add_overflow(subtotal, inv->tax, &inv->total))
		return SR_EOVERFLOW;
	return 0;
}

/* Lines and totals of one subscriber; e[0..n) are its ledger entries. */
static int build_one(struct builder *b, const struct sr_subscriber *s,
                     const struct sr_subscription *row,
                     const struct sr_ledger_entry *e, size_t n,
                     struct sr_invoice *inv)
{
	const struct sr_plan *plan = sr_catalog_plan(b->cat, row->plan);
	const struct sr_currency *cur =
	    sr_catalog_currency(b->cat, plan->currency);
	int err;

	b->n = 0;
	b->exponent = cur->exponent;
	err = recurring_lines(b, s);
	for (size_t i = 0; !err && i < n; i++)
		err = e[i].kind == SR_LEDGER_USAGE
		          ? usage_line(b, &e[i])
		          : ppv_line(b, &e[i], plan->currency);
	if (!err)
		err = totals(b, inv, row);
	inv->subscriber = s;
	inv->currency = cur;
	inv->currency_index = plan->currency;
	inv->region = sr_catalog_region(b->cat, row->region);
	inv->nlines = b->n;
	inv->lines = b->lines;
	return err;
}

/* The ledger totals of subscriber i into b->entries; *n of them. */
static int collect(struct builder *b, const struct sr_ledger *const *ledgers,
                   unsigned nledgers, uint32_t i, size_t *n)
{
	for (;;) {
		*n = sr_ledger_collect(ledgers, nledgers, i, b->entries,
		                       b->entries_cap);
		if (*n <= b->entries_cap)
			return 0;
		struct sr_ledger_entry *e =
		    realloc(b->entries, *n * 2 * sizeof(*e));
		if (!e)
			return SR_ENOMEM;
		b->entries = e;
		b->entries_cap = *n * 2;
	}
}

int sr_invoices_build(const struct sr_catalog *cat, const struct sr_period *p,
                      const struct sr_ledger *const *ledgers, unsigned nledgers,
                      sr_invoice_fn fn, void *ctx,
                      const struct sr_subscriber **failed)
{
	return sr_invoices_build_range(cat, p, ledgers, nledgers, 0,
	                               sr_catalog_nsubscribers(cat), fn, ctx,
	                               failed);
}

int sr_invoices_build_range(const struct sr_catalog *cat,
                            const struct sr_period *p,
                            const struct sr_ledger *const *ledgers,
                            unsigned nledgers, uint32_t first, uint32_t last,
                            sr_invoice_fn fn, void *ctx,
                            const struct sr_subscriber **failed)
{
	struct builder b = {.cat = cat, .period = p};
	int err = 0;

	for (uint32_t i = first; i < last && !err; i++) {
		const struct sr_subscriber *s =
		    sr_catalog_subscriber_at(cat, i);
		const struct sr_subscription *row = latest_row(p, s);
		if (!row)
			continue; /* no row overlaps: no invoice */
		size_t n;
		struct sr_invoice inv;
		err = collect(&b, ledgers, nledgers, i, &n);
		if (!err)
			err = build_one(&b, s, row, b.entries, n, &inv);
		if (err == SR_EOVERFLOW && failed)
			*failed = s;
		if (!err)
			err = fn(ctx, &inv);
	}
	free(b.lines);
	free(b.entries);
	return err;
}
