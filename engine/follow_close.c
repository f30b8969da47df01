/*
 * Closing a period: the invoices of SPEC section 4 from the totals follow
 * stored, byte for byte what a batch run over the same records writes.
 * The stored totals (ids as strings) are resolved against the current
 * catalog into a ledger, and sr_invoices_build() does the rest, exactly as
 * for a batch run.
 *
 * One LMDB write transaction marks the period closed and reads its totals;
 * it is committed only once the invoice files are in place, so a close
 * that fails changes nothing, and a running follow (whose commits wait for
 * this transaction) either committed its records of the period before the
 * totals were read or finds the period closed at its next commit.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog_rows.h"
#include "follow.h"
#include "streamrate/error.h"
#include "streamrate/invoice.h"
#include "streamrate/ledger.h"

struct closing {
	const struct sr_close_config *cfg;
	struct sr_run_error *err;
	struct sr_period period;
	struct sr_catalog *cat;
	struct sr__state *state;
	struct sr_ledger *ledger;
	struct sr_out json, csv;
	uint64_t invoices;
};

static int fail(struct closing *c, int code, const char *path, const char *fmt,
                const char *a, int alen)
{
	snprintf(c->err->path, sizeof(c->err->path), "%s", path);
	snprintf(c->err->msg, sizeof(c->err->msg), fmt, alen, a);
	return code;
}

/* The rate with this id: rates are numbered in the byte order of ids. */
static const struct sr_rate *rate_by_id(const struct sr_catalog *cat,
                                        struct sr_str id)
{
	uint32_t lo = 0, hi = sr_catalog_nrates(cat);
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct sr_rate *r = sr_catalog_rate(cat, mid);
		uint32_t n = r->id.len < id.len ? r->id.len : id.len;
		int c = memcmp(r->id.ptr, id.ptr, n);
		if (!c)
			c = (r->id.len > id.len) - (r->id.len < id.len);
		if (!c)
			return r;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * Add a stored total to the ledger through the public per-session call:
 * usage in pieces of at most 2^64 - 1 units (one piece in practice), a PPV
 * content once (an invoice has one line per content bought).
 */
static int add_total(struct closing *c, const struct sr_subscriber *sub,
                     const struct sr__ledger_key *k, unsigned __int128 count)
{
	static const struct sr_content usage = {.ppv = false};
	struct sr_rated r = {.subscriber = sub, .content = &usage};
	if (k->kind == SR_STATE_PPV) {
		r.content =
		    sr_catalog_content(c->cat, k->item.ptr, k->item.len);
		if (!r.content || !r.content->ppv)
			return fail(c, SR_ENOTFOUND, c->cfg->db,
			            "stored totals name PPV content '%.*s', "
			            "which the catalog does not have",
			            k->item.ptr, (int)k->item.len);
		return sr_ledger_add(c->ledger, &r, 1);
	}
	r.rate = rate_by_id(c->cat, k->item);
	if (!r.rate)
		return fail(c, SR_ENOTFOUND, c->cfg->db,
		            "stored totals name rate '%.*s', which the catalog "
		            "does not have",
		            k->item.ptr, (int)k->item.len);
	if (count >> 84)
		return SR_EOVERFLOW;
	int err = 0;
	do {
		r.units = count > UINT64_MAX ? UINT64_MAX : (uint64_t)count;
		count -= r.units;
		err = sr_ledger_add(c->ledger, &r, 1);
	} while (!err && count);
	return err;
}

static int on_total(void *ctx, const struct sr__ledger_key *k, int64_t sessions,
                    unsigned __int128 count)
{
	struct closing *c = ctx;
	const struct sr_subscriber *sub =
	    sr_catalog_subscriber(c->cat, k->subscriber.ptr, k->subscriber.len);
	if (!sub)
		return fail(c, SR_ENOTFOUND, c->cfg->db,
		            "stored totals name subscriber '%.*s', which the "
		            "catalog does not have",
		            k->subscriber.ptr, (int)k->subscriber.len);
	return sessions ? add_total(c, sub, k, count) : 0;
}

static int on_invoice(void *ctx, const struct sr_invoice *inv)
{
	struct closing *c = ctx;
	struct sr_buf b = {0};
	int err = sr__emit_invoice_json(&b, &c->period, inv);
	if (!err)
		err = sr__out_write(&c->json, b.data, b.len);
	b.len = 0;
	if (!err)
		err = sr__emit_invoice_csv(&b, inv);
	if (!err)
		err = sr__out_write(&c->csv, b.data, b.len);
	sr__buf_finish(&b);
	c->invoices++;
	return err;
}

static int write_invoices(struct closing *c)
{
	char name[64];
	const struct sr_subscriber *failed = NULL;
	snprintf(name, sizeof(name), "invoices-%s.jsonl", c->period.text);
	int err = sr__out_open(&c->json, c->cfg->out, name);
	if (!err)
		err = sr__out_direct(&c->json);
	snprintf(name, sizeof(name), "invoices-%s.csv", c->period.text);
	if (!err)
		err = sr__out_open(&c->csv, c->cfg->out, name);
	if (!err)
		err = sr__out_direct(&c->csv);
	if (!err)
		err = sr__out_write(&c->csv, SR_INVOICES_CSV_HEADER,
		                    strlen(SR_INVOICES_CSV_HEADER));
	if (!err)
		err = sr_ledger_seal(c->ledger);
	if (!err)
		err = sr_invoices_build(
		    c->cat, &c->period,
		    (const struct sr_ledger *const *)&c->ledger, 1, on_invoice,
		    c, &failed);
	if (err == SR_EOVERFLOW && failed)
		return fail(c, err, c->cfg->db,
		            "invoice of subscriber '%.*s' does not fit in "
		            "64-bit micro-units",
		            failed->id.ptr, (int)failed->id.len);
	for (int i = 0; i < 2 && !err; i++)
		err = sr__out_flush(i ? &c->csv : &c->json);
	for (int i = 0; i < 2 && !err; i++)
		err = sr__out_commit(i ? &c->csv : &c->json);
	return err ? fail(c, err, c->cfg->out, "%.*s", sr_strerror(err), -1)
	           : 0;
}

static int open_all(struct closing *c)
{
	const struct sr_close_config *cfg = c->cfg;
	if (sr_period_init(&c->period, cfg->period) < 0)
		return fail(c, SR_EINVAL, "", "bad period '%.*s'", cfg->period,
		            -1);
	int err = sr_catalog_open(cfg->db, &c->cat);
	if (err == -ENOENT || err == -ENOTDIR)
		err = SR_ENOCATALOG;
	if (err)
		return fail(c, err, cfg->db, "cannot open catalog: %.*s",
		            sr_strerror(err), -1);
	/* A mistyped --state must not create a state and close it there. */
	char path[4096];
	struct stat st;
	snprintf(path, sizeof(path), "%s/data.mdb", cfg->state);
	if (stat(path, &st) < 0)
		return fail(c, SR_ENOTFOUND, cfg->state,
		            "no follow state here%.*s", "", 0);
	uint32_t n = sr_catalog_nsubscribers(c->cat);
	err = sr_ledger_create(&c->ledger, n, (size_t)n * 2);
	if (!err)
		err = sr__state_open(cfg->state, false, &c->state);
	if (!err)
		err = sr__mkdirs(cfg->out);
	return err ? fail(c, err, cfg->state, "%.*s", sr_strerror(err), -1) : 0;
}

static int close_period(struct closing *c)
{
	int err = open_all(c);
	if (!err && (err = sr__state_begin(c->state, true)))
		return fail(c, err, c->cfg->state, "%.*s", sr_strerror(err),
		            -1);
	if (!err)
		err = sr__state_ledger_each(c->state, c->period.text, on_total,
		                            c);
	if (!err)
		err = write_invoices(c);
	if (!err)
		err = sr__state_closed_put(c->state, c->period.text);
	/* Records of a closed period never reach step 3 again. */
	if (!err)
		err = sr__state_keys_drop(c->state, c->period.text);
	if (!err)
		err = sr__state_commit(c->state);
	if (err && !c->err->msg[0])
		fail(c, err, c->cfg->state, "%.*s", sr_strerror(err), -1);
	return err;
}

int sr_follow_close(const struct sr_close_config *cfg, uint64_t *invoices,
                    struct sr_run_error *err)
{
	struct closing c = {.cfg = cfg, .err = err};
	c.json.fd = c.csv.fd = -1;
	memset(err, 0, sizeof(*err));
	int code = close_period(&c);
	*invoices = c.invoices;
	sr__out_discard(&c.json);
	sr__out_discard(&c.csv);
	sr__state_close(c.state);
	sr_ledger_destroy(c.ledger);
	sr_catalog_close(c.cat);
	return code;
}
