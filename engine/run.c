/*
 * A batch run: every input header is checked before anything is rated
 * (a bad header refuses the run with no output changed), then records flow
 * one way, bytes -> split records -> parsed sessions -> rated records ->
 * ledger -> invoices, and the outputs are renamed into place together at
 * the end. This file holds the sequential flow; how records are spread
 * over cores lives in the pipeline.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csv.h"
#include "dedup.h"
#include "emit.h"
#include "money.h"
#include "streamrate/error.h"
#include "streamrate/invoice.h"
#include "streamrate/run.h"

#define SR_READ_SIZE (4u << 20)
#define SR_HEADER_FIELDS 1024

enum { OUT_RATED, OUT_REJECTS, OUT_JSONL, OUT_CSV, OUT_SUMMARY, OUT_COUNT };

struct input {
	const char *path;
	int fd;
	char *buf;
	size_t cap, pos, len; /* unconsumed bytes are buf[pos..len) */
	size_t chunk;
	bool eof;
	uint64_t line; /* physical line of the next record */
	struct sr_header header;
	bool empty;      /* nothing to rate in this file */
	struct sr_buf file_field; /* path as a rejects.csv field */
};

struct run {
	const struct sr_run_config *cfg;
	struct sr_run_stats *stats;
	struct sr_run_error *error;
	struct sr_period period;
	struct sr_catalog *cat;
	struct sr_ledger *ledger;
	struct sr_dedup dedup;
	struct input *inputs;
	struct sr_out out[OUT_COUNT];
	struct sr_buf rated, rejects; /* rows not yet written */
	struct sr_str *fields;
	char *scratch;
	sr_i128 *totals; /* per currency index */
};

static int fail(struct run *r, int code, const char *path, uint64_t line,
		const char *fmt, ...)
{
	va_list ap;
	snprintf(r->error->path, sizeof(r->error->path), "%s", path ? path : "");
	r->error->line = line;
	va_start(ap, fmt);
	vsnprintf(r->error->msg, sizeof(r->error->msg), fmt, ap);
	va_end(ap);
	return code;
}

/* Make room and read more bytes of in; sets eof at the end. */
static int read_more(struct run *r, struct input *in)
{
	if (in->pos > 0) {
		memmove(in->buf, in->buf + in->pos, in->len - in->pos);
		in->len -= in->pos;
		in->pos = 0;
	}
	if (in->cap - in->len < in->chunk) {
		size_t cap = in->cap ? in->cap : in->chunk;
		while (cap - in->len < in->chunk)
			cap *= 2;
		char *b = realloc(in->buf, cap);
		if (!b)
			return SR_ENOMEM;
		in->buf = b;
		in->cap = cap;
	}
	for (;;) {
		ssize_t n = read(in->fd, in->buf + in->len, in->chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(r, -errno, in->path, 0, "read: %s",
				    strerror(errno));
		in->len += (size_t)n;
		in->eof = n == 0;
		r->stats->bytes += (uint64_t)n;
		return 0;
	}
}

/* Split the next record of in, reading as needed. */
static int next_record(struct run *r, struct input *in, uint32_t cap,
		       uint32_t expect, struct sr_csv_record *rec,
		       enum sr_split *kind)
{
	for (;;) {
		if (in->pos == in->len && in->eof) {
			*kind = SR_SPLIT_MORE; /* no record left */
			return 0;
		}
		if (in->pos < in->len) {
			*kind = sr__csv_split(in->buf + in->pos, in->len - in->pos,
					      in->eof, r->fields, cap, expect,
					      r->scratch, rec);
			if (*kind != SR_SPLIT_MORE)
				return 0;
		}
		int err = read_more(r, in);
		if (err)
			return err;
	}
}

static int open_input(struct run *r, struct input *in, const char *path)
{
	in->path = path;
	in->line = 1;
	in->chunk = r->cfg->chunk_size ? r->cfg->chunk_size : SR_READ_SIZE;
	in->fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (in->fd < 0)
		return fail(r, -errno, path, 0, "%s", strerror(errno));
	if (sr__buf_reserve(&in->file_field, SR_CSV_FIELD_MAX(strlen(path))))
		return SR_ENOMEM;
	sr__csv_field(&in->file_field, path, strlen(path));
	return 0;
}

/* Read and check the header; a file that is empty adds nothing. */
static int read_header(struct run *r, struct input *in)
{
	struct sr_csv_record rec;
	enum sr_split kind;
	struct sr_str bad;

	/* A UTF-8 byte order mark at the very start is ignored. */
	while (in->len < 3 && !in->eof) {
		int err = read_more(r, in);
		if (err)
			return err;
	}
	if (in->len >= 3 && !memcmp(in->buf, "\xEF\xBB\xBF", 3))
		in->pos = 3;
	int err = next_record(r, in, SR_HEADER_FIELDS, 0, &rec, &kind);
	if (err)
		return err;
	if (kind == SR_SPLIT_MORE) {
		in->empty = true;
		return 0;
	}
	if (kind == SR_SPLIT_MALFORMED)
		return fail(r, SR_EHEADER, in->path, 1,
			    "header cannot be split");
	if (kind == SR_SPLIT_EMPTY) {
		rec.nfields = 1;
		r->fields[0] = (struct sr_str){"", 0};
	}
	if (sr_header_init(&in->header, r->fields, rec.nfields, &bad) < 0) {
		bool missing = true;
		for (uint32_t i = 0; i < rec.nfields; i++)
			missing &= !sr_str_eq(r->fields[i], bad);
		return fail(r, SR_EHEADER, in->path, 1,
			    missing ? "header lacks required column '%.*s'"
				    : "header names column '%.*s' twice",
			    (int)bad.len, bad.ptr);
	}
	in->pos += rec.consumed;
	in->line += rec.lines;
	return 0;
}

static int reject(struct run *r, struct input *in, uint64_t line,
		  enum sr_reason why, const struct sr_csv_record *rec)
{
	r->stats->rejected++;
	r->stats->by_reason[why]++;
	return sr__emit_reject(&r->rejects, in->file_field.data,
			       in->file_field.len, line, why, rec->raw,
			       rec->raw_len);
}

/* Steps 1 to 10 and the ledger for one split record. */
static int handle(struct run *r, struct input *in, uint64_t line,
		  const struct sr_csv_record *rec)
{
	struct sr_session s;
	struct sr_rated rated;

	enum sr_reason why = sr_session_parse(&in->header, r->fields, &s);
	if (why)
		return reject(r, in, line, why, rec);
	if (!sr_period_holds(&r->period, s.start))
		return reject(r, in, line, SR_REASON_OTHER_PERIOD, rec);
	int fresh = sr__dedup_insert(
		&r->dedup, sr__dedup_key(s.subscriber_id, s.session_id));
	if (fresh < 0)
		return fresh;
	if (!fresh)
		return reject(r, in, line, SR_REASON_DUPLICATE, rec);
	why = sr_rate(r->cat, &s, &rated);
	if (why)
		return reject(r, in, line, why, rec);
	r->stats->rated++;
	int err = sr_ledger_add(r->ledger, &rated, 1);
	return err ? err : sr__emit_rated(&r->rated, r->cat, &r->period, &s,
					  &rated);
}

/* Move formatted rows to their files once they are large. */
static int drain(struct run *r, bool all)
{
	size_t limit = all ? 0 : (1u << 20);
	int err = 0;
	if (r->rated.len > limit) {
		err = sr__out_write(&r->out[OUT_RATED], r->rated.data,
				    r->rated.len);
		r->rated.len = 0;
	}
	if (!err && r->rejects.len > limit) {
		err = sr__out_write(&r->out[OUT_REJECTS], r->rejects.data,
				    r->rejects.len);
		r->rejects.len = 0;
	}
	return err;
}

static int rate_file(struct run *r, struct input *in)
{
	uint32_t expect = in->header.nfields;
	struct sr_csv_record rec;
	enum sr_split kind;

	for (;;) {
		int err = next_record(r, in, expect, expect, &rec, &kind);
		if (err)
			return err;
		if (kind == SR_SPLIT_MORE)
			return drain(r, false);
		uint64_t line = in->line;
		in->pos += rec.consumed;
		in->line += rec.lines;
		if (kind == SR_SPLIT_EMPTY)
			r->stats->skipped++;
		else if (kind == SR_SPLIT_MALFORMED)
			err = reject(r, in, line, SR_REASON_MALFORMED_LINE, &rec);
		else
			err = handle(r, in, line, &rec);
		if (!err)
			err = drain(r, false);
		if (err)
			return err;
	}
}

struct invoice_ctx {
	struct run *r;
	struct sr_buf json, csv;
};

static int on_invoice(void *ctx, const struct sr_invoice *inv)
{
	struct invoice_ctx *c = ctx;
	struct run *r = c->r;
	int err = sr__emit_invoice_json(&c->json, &r->period, inv);
	if (!err)
		err = sr__emit_invoice_csv(&c->csv, inv);
	if (!err && c->json.len > (1u << 20)) {
		err = sr__out_write(&r->out[OUT_JSONL], c->json.data, c->json.len);
		c->json.len = 0;
	}
	if (!err && c->csv.len > (1u << 20)) {
		err = sr__out_write(&r->out[OUT_CSV], c->csv.data, c->csv.len);
		c->csv.len = 0;
	}
	r->totals[inv->currency_index] += inv->total;
	r->stats->invoices++;
	return err;
}

static int write_invoices(struct run *r)
{
	struct invoice_ctx c = {.r = r};
	const struct sr_subscriber *failed = NULL;
	int err = sr__out_write(&r->out[OUT_CSV], SR_INVOICES_CSV_HEADER,
				strlen(SR_INVOICES_CSV_HEADER));
	if (!err)
		err = sr_invoices_build(r->cat, &r->period, r->ledger,
					on_invoice, &c, &failed);
	if (!err)
		err = sr__out_write(&r->out[OUT_JSONL], c.json.data, c.json.len);
	if (!err)
		err = sr__out_write(&r->out[OUT_CSV], c.csv.data, c.csv.len);
	sr__buf_finish(&c.json);
	sr__buf_finish(&c.csv);
	if (err == SR_EOVERFLOW && failed)
		return fail(r, err, r->cfg->db, 0,
			    "invoice of subscriber '%.*s' does not fit in "
			    "64-bit micro-units",
			    (int)failed->id.len, failed->id.ptr);
	return err;
}

/* A sum of invoice totals (multiples of the minor unit) as text; the sum
 * over many invoices may pass 64 bits. */
static size_t format_total(sr_i128 t, int exponent, char *out)
{
	size_t n = sr__format_i128(t / SR_MICRO, out);
	int64_t frac = (int64_t)(t % SR_MICRO);
	if (exponent)
		out[n++] = '.';
	for (int64_t i = 0, d = SR_MICRO / 10; i < exponent; i++, d /= 10)
		out[n++] = (char)('0' + frac / d % 10);
	return n;
}

/* summary.json: counts, reasons and totals in byte order, timings. */
static int write_summary(struct run *r, uint32_t ncurrencies)
{
	struct sr_buf b = {0};
	struct sr_run_stats *st = r->stats;
	int err = sr__buf_reserve(&b, 4096 + 64 * ncurrencies);
	if (err)
		return err;
	b.len += (size_t)snprintf(b.data, 256,
				  "{\"records\":%llu,\"rated\":%llu,"
				  "\"skipped\":%llu,\"rejected\":{",
				  (unsigned long long)st->records,
				  (unsigned long long)st->rated,
				  (unsigned long long)st->skipped);
	/* Reason texts sorted: the enum order is not byte order. */
	bool done[SR_REASON_COUNT] = {0}, first = true;
	for (;;) {
		int best = -1;
		for (int i = 1; i < SR_REASON_COUNT; i++) {
			if (done[i] || !st->by_reason[i])
				continue;
			struct sr_str a = sr_reason_text(i);
			if (best < 0 || strcmp(a.ptr, sr_reason_text(best).ptr) < 0)
				best = i;
		}
		if (best < 0)
			break;
		done[best] = true;
		b.len += (size_t)snprintf(b.data + b.len, 128, "%s\"%s\":%llu",
					  first ? "" : ",",
					  sr_reason_text(best).ptr,
					  (unsigned long long)st->by_reason[best]);
		first = false;
	}
	b.len += (size_t)snprintf(b.data + b.len, 128,
				  "},\"invoices\":%llu,\"totals\":{",
				  (unsigned long long)st->invoices);
	first = true;
	for (uint32_t i = 0; i < ncurrencies; i++) {
		const struct sr_currency *c = sr_catalog_currency(r->cat, i);
		if (!r->totals[i])
			continue;
		b.len += (size_t)snprintf(b.data + b.len, 32, "%s\"%.*s\":\"",
					  first ? "" : ",", (int)c->code.len,
					  c->code.ptr);
		b.len += format_total(r->totals[i], c->exponent, b.data + b.len);
		sr__buf_put(&b, "\"", 1);
		first = false;
	}
	uint64_t ms = st->elapsed_ns / 1000000, ns = st->elapsed_ns ? st->elapsed_ns : 1;
	b.len += (size_t)snprintf(
		b.data + b.len, 128,
		"},\"seconds\":%llu.%03llu,\"records_per_second\":%llu}\n",
		(unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000),
		(unsigned long long)((unsigned __int128)st->records * 1000000000u / ns));
	err = sr__out_write(&r->out[OUT_SUMMARY], b.data, b.len);
	sr__buf_finish(&b);
	return err;
}

static const char *const out_names[OUT_COUNT] = {
	"rated.csv", "rejects.csv", NULL, NULL, "summary.json"};

static int open_outputs(struct run *r)
{
	char name[64];
	int err = mkdir(r->cfg->out, 0755) < 0 && errno != EEXIST ? -errno : 0;
	if (err)
		return fail(r, err, r->cfg->out, 0, "%s", strerror(-err));
	for (int i = 0; i < OUT_COUNT; i++) {
		const char *n = out_names[i];
		if (!n) {
			snprintf(name, sizeof(name), "invoices-%s.%s",
				 r->period.text, i == OUT_JSONL ? "jsonl" : "csv");
			n = name;
		}
		err = sr__out_open(&r->out[i], r->cfg->out, n);
		if (err)
			return fail(r, err, r->out[i].tmp ? r->out[i].tmp : n, 0,
				    "%s", sr_strerror(err));
	}
	err = sr__out_write(&r->out[OUT_RATED], SR_RATED_HEADER,
			    strlen(SR_RATED_HEADER));
	if (!err)
		err = sr__out_write(&r->out[OUT_REJECTS], SR_REJECTS_HEADER,
				    strlen(SR_REJECTS_HEADER));
	return err;
}

/* Flush and fsync every output, then rename them all into place. */
static int commit_outputs(struct run *r)
{
	for (int i = 0; i < OUT_COUNT; i++) {
		int err = sr__out_flush(&r->out[i]);
		if (err)
			return fail(r, err, r->out[i].path, 0, "%s",
				    strerror(-err));
	}
	for (int i = 0; i < OUT_COUNT; i++) {
		int err = sr__out_commit(&r->out[i]);
		if (err)
			return fail(r, err, r->out[i].path, 0, "%s",
				    strerror(-err));
	}
	int dir = open(r->cfg->out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir >= 0) {
		fsync(dir);
		close(dir);
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int setup(struct run *r)
{
	const struct sr_run_config *cfg = r->cfg;
	int err;

	if (sr_period_init(&r->period, cfg->period) < 0)
		return fail(r, SR_EINVAL, NULL, 0, "bad period '%s'", cfg->period);
	err = sr_catalog_open(cfg->db, &r->cat);
	if (err)
		return fail(r, err, cfg->db, 0, "cannot open catalog: %s",
			    sr_strerror(err));
	r->inputs = calloc(cfg->nfiles ? cfg->nfiles : 1, sizeof(*r->inputs));
	r->fields = calloc(SR_HEADER_FIELDS, sizeof(*r->fields));
	r->scratch = malloc(SR_SCRATCH_SIZE);
	r->totals = calloc(sr_catalog_ncurrencies(r->cat) + 1, sizeof(*r->totals));
	if (!r->inputs || !r->fields || !r->scratch || !r->totals)
		return SR_ENOMEM;
	for (unsigned i = 0; i < cfg->nfiles; i++)
		r->inputs[i].fd = -1;
	err = sr_ledger_create(&r->ledger);
	if (!err)
		err = sr__dedup_init(&r->dedup, 1 << 16);
	return err;
}

static void teardown(struct run *r)
{
	for (int i = 0; i < OUT_COUNT; i++)
		sr__out_discard(&r->out[i]);
	for (unsigned i = 0; r->inputs && i < r->cfg->nfiles; i++) {
		struct input *in = &r->inputs[i];
		if (in->fd > 0)
			close(in->fd);
		free(in->buf);
		sr__buf_finish(&in->file_field);
	}
	sr__buf_finish(&r->rated);
	sr__buf_finish(&r->rejects);
	sr__dedup_finish(&r->dedup);
	sr_ledger_destroy(r->ledger);
	sr_catalog_close(r->cat);
	free(r->inputs);
	free(r->fields);
	free(r->scratch);
	free(r->totals);
}

static int run(struct run *r)
{
	const struct sr_run_config *cfg = r->cfg;
	uint64_t t0 = now_ns();
	int err = setup(r);

	/* Every header first: a bad one refuses the run before any rating. */
	for (unsigned i = 0; !err && i < cfg->nfiles; i++) {
		err = open_input(r, &r->inputs[i], cfg->files[i]);
		if (!err)
			err = read_header(r, &r->inputs[i]);
	}
	if (!err)
		err = open_outputs(r);
	for (unsigned i = 0; !err && i < cfg->nfiles; i++)
		if (!r->inputs[i].empty)
			err = rate_file(r, &r->inputs[i]);
	if (!err)
		err = drain(r, true);
	if (!err)
		err = write_invoices(r);
	r->stats->records = r->stats->rated + r->stats->rejected;
	r->stats->elapsed_ns = now_ns() - t0;
	if (!err)
		err = write_summary(r, sr_catalog_ncurrencies(r->cat));
	if (!err)
		err = commit_outputs(r);
	return err;
}

int sr_run(const struct sr_run_config *cfg, struct sr_run_stats *stats,
	   struct sr_run_error *error)
{
	struct run r = {.cfg = cfg, .stats = stats, .error = error};
	memset(stats, 0, sizeof(*stats));
	memset(error, 0, sizeof(*error));
	for (int i = 0; i < OUT_COUNT; i++)
		r.out[i].fd = -1;
	int err = run(&r);
	if (err && !error->msg[0])
		fail(&r, err, cfg->out, 0, "%s", sr_strerror(err));
	teardown(&r);
	return err;
}
