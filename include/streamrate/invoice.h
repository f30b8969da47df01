/*
 * Invoices of a period (SPEC section 4), built from the catalog view and a
 * ledger: recurring lines prorated by days, usage lines with allowances and
 * graduated tiers, PPV lines, tax of the subscriber's latest region. All
 * amounts are int64_t micro-units rounded to the currency's minor unit by
 * one exact 128-bit division each.
 */
#ifndef STREAMRATE_INVOICE_H
#define STREAMRATE_INVOICE_H

#include "streamrate/ledger.h"

enum sr_line_type {
	SR_LINE_RECURRING,
	SR_LINE_USAGE,
	SR_LINE_PPV,
};

struct sr_invoice_line {
	enum sr_line_type type;
	const struct sr_plan *plan;       /* recurring */
	uint32_t days;                    /* recurring */
	const struct sr_rate *rate;       /* usage */
	unsigned __int128 units;          /* usage */
	uint64_t allowance;               /* usage */
	unsigned __int128 billable;       /* usage */
	const struct sr_content *content; /* ppv */
	int64_t amount;
};

struct sr_invoice {
	const struct sr_subscriber *subscriber;
	const struct sr_currency *currency;
	uint32_t currency_index;
	const struct sr_region *region;
	uint32_t nlines;
	const struct sr_invoice_line *lines;
	int64_t subtotal;
	uint32_t tax_rate; /* percent x 10^4; 0 when no tax applies */
	int64_t tax;
	int64_t total;
};

/* Called once per invoice in subscriber byte order; the invoice lives only
 * during the call. A non-zero return stops the build and is returned. */
typedef int (*sr_invoice_fn)(void *ctx, const struct sr_invoice *inv);

/*
 * Build every invoice of period p from the totals of ledgers[0..nledgers)
 * (their sum is what counts). Returns 0, the callback's non-zero return,
 * SR_ENOMEM, or SR_EOVERFLOW with *failed set to the subscriber whose
 * amounts do not fit in 64-bit micro-units.
 */
int sr_invoices_build(const struct sr_catalog *cat, const struct sr_period *p,
                      const struct sr_ledger *const *ledgers, unsigned nledgers,
                      sr_invoice_fn fn, void *ctx,
                      const struct sr_subscriber **failed);

/* The same for the subscribers of indexes first..last-1 only, so that
 * callers can build ranges in parallel and write them in order. */
int sr_invoices_build_range(const struct sr_catalog *cat,
                            const struct sr_period *p,
                            const struct sr_ledger *const *ledgers,
                            unsigned nledgers, uint32_t first, uint32_t last,
                            sr_invoice_fn fn, void *ctx,
                            const struct sr_subscriber **failed);

/* The graduated value of billable units under rate r, in micro-units
 * (unrounded); SR_EOVERFLOW when it does not fit in 127 bits. */
int sr_usage_value(const struct sr_rate *r, unsigned __int128 billable,
                   __int128 *value);

#endif
