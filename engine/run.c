/*
 * A batch run: every input header is checked before anything is rated
 * (a bad header refuses the run with no output changed), then records flow
 * one way, bytes -> split records -> parsed sessions -> rated records ->
 * ledger -> invoices, and the outputs are renamed into place together at
 * the end. This file holds the sequential flow; how records are spread
 * over cores lives in the pipeline.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csv.h"
#include "emit.h"
#include "pipeline.h"
#include "money.h"
#include "streamrate/error.h"
#include "streamrate/invoice.h"
#include "streamrate/run.h"

/*
 * Bytes per read, and so per chunk. A chunk and its rated rows (about 1.6
 * times its size) should stay in a core's 2 MiB L2 while a worker rates
 * it and the commit copies its rows out: on the bench workload (5M
 * records, 2 threads) 4 MiB chunks took 1.36-1.54 s and 2.5-2.7 s of CPU,
 * 256 KiB to 1 MiB 1.23-1.47 s and 2.1-2.5 s, and peak RSS fell from 476
 * to 346 MiB.
 */
#define SR_READ_SIZE     (512u << 10)
#define SR_HEADER_FIELDS 1024

enum { OUT_RATED, OUT_REJECTS, OUT_JSONL, OUT_CSV, OUT_SUMMARY, OUT_COUNT };

struct run {
	const struct sr_run_config *cfg;
	struct sr_run_stats *stats;
	struct sr_run_error *error;
	struct sr_period period;
	struct sr_catalog *cat;
	struct sr_ledgers ledgers;
	struct sr_source *sources;
	struct sr_out out[OUT_COUNT];
	struct sr_str *fields;
	char *scratch;
	sr_i128 *totals; /* per currency index */
	size_t chunk_size;
	unsigned threads;
	struct sr_pipeline_prep prep;
};

static int fail(struct run *r, int code, const char *path, uint64_t line,
                const char *fmt, ...)
{
	va_list ap;
	snprintf(r->error->path, sizeof(r->error->path), "%s",
	         path ? path : "");
	r->error->line = line;
	va_start(ap, fmt);
	vsnprintf(r->error->msg, sizeof(r->error->msg), fmt, ap);
	va_end(ap);
	return code;
}

/* An output's write, flush or commit failed: name the file. */
static int out_fail(struct run *r, int i, int err)
{
	return fail(r, err, r->out[i].path, 0, "%s", sr_strerror(err));
}

/* Read more of src into its tail buffer; *eof at the end. */
static int read_more(struct run *r, struct sr_source *src, bool *eof)
{
	int err = sr__buf_reserve(&src->tail, r->chunk_size);
	if (err)
		return err;
	for (;;) {
		ssize_t n = read(src->fd, src->tail.data + src->tail.len,
		                 r->chunk_size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(r, -errno, src->path, 0, "read: %s",
			            strerror(errno));
		src->tail.len += (size_t)n;
		src->next_off += (uint64_t)n;
		r->stats->bytes += (uint64_t)n;
		*eof = n == 0;
		return 0;
	}
}

static int open_source(struct run *r, struct sr_source *src, const char *path)
{
	struct stat st;
	src->path = path;
	src->line = 1;
	src->tail_has_lf = true; /* unknown yet: the first dispatch looks */
	src->fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (src->fd < 0)
		return fail(r, -errno, path, 0, "%s", strerror(errno));
	if (fstat(src->fd, &st) < 0)
		return fail(r, -errno, path, 0, "%s", strerror(errno));
	if (S_ISDIR(st.st_mode))
		return fail(r, -EISDIR, path, 0, "%s", strerror(EISDIR));
	src->seekable = S_ISREG(st.st_mode);
	src->size = src->seekable ? (uint64_t)st.st_size : 0;
	if (sr__buf_reserve(&src->file_field, SR_CSV_FIELD_MAX(strlen(path))))
		return SR_ENOMEM;
	sr__csv_field(&src->file_field, path, strlen(path));
	return 0;
}

/* Drop n bytes from the front of src's tail. */
static void consume(struct sr_source *src, size_t n)
{
	memmove(src->tail.data, src->tail.data + n, src->tail.len - n);
	src->tail.len -= n;
}

static int header_error(struct run *r, struct sr_source *src, uint32_t n)
{
	struct sr_str bad;
	if (sr_header_init(&src->header, r->fields, n, &bad) == 0)
		return 0;
	bool missing = true;
	for (uint32_t i = 0; i < n; i++)
		missing &= !sr_str_eq(r->fields[i], bad);
	return fail(r, SR_EHEADER, src->path, 1,
	            missing ? "header lacks required column '%.*s'"
	                    : "header names column '%.*s' twice",
	            (int)bad.len, bad.ptr);
}

/*
 * Read and check the header. The bytes read past it stay in the source's
 * tail for the pipeline. A file that is empty (or only a BOM) adds nothing.
 */
static int read_header(struct run *r, struct sr_source *src)
{
	struct sr_csv_record rec;
	enum sr_split kind = SR_SPLIT_MORE;
	bool eof = false, bom_checked = false;

	while (kind == SR_SPLIT_MORE) {
		int err = read_more(r, src, &eof);
		if (err)
			return err;
		if (!bom_checked && (src->tail.len >= 3 || eof)) {
			bom_checked = true;
			if (src->tail.len >= 3 &&
			    !memcmp(src->tail.data, "\xEF\xBB\xBF", 3))
				consume(src, 3);
		}
		if (!bom_checked)
			continue;
		if (!src->tail.len && eof) {
			src->empty = true;
			return 0;
		}
		if (src->tail.len)
			kind = sr__csv_split(src->tail.data, src->tail.len, eof,
			                     r->fields, SR_HEADER_FIELDS, 0,
			                     r->scratch, &rec);
	}
	if (kind == SR_SPLIT_MALFORMED)
		return fail(r, SR_EHEADER, src->path, 1,
		            "header cannot be split");
	if (kind == SR_SPLIT_EMPTY)
		r->fields[0] = (struct sr_str){"", 0};
	int err =
	    header_error(r, src, kind == SR_SPLIT_EMPTY ? 1 : rec.nfields);
	if (err)
		return err;
	consume(src, rec.consumed);
	src->line += rec.lines;
	return 0;
}

/*
 * Invoices are built in blocks of subscribers: thread t of T builds blocks
 * t, t + T, t + 2T... into its own buffers, then waits for its block's
 * turn and writes it, so blocks reach the files in subscriber order while
 * the other threads go on building. Memory stays bounded by a block per
 * thread, and the output cannot depend on the threads.
 */
#define SR_INVOICE_BLOCK 4096

struct invoices {
	struct run *r;
	uint32_t nblocks, nc;
	unsigned nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool ready;    /* nthreads is final: the threads have started */
	uint32_t turn; /* the next block to write */
	int err;       /* the first error, in block order */
};

struct invoice_part {
	struct invoices *all;
	unsigned t;
	uint32_t first, last;
	struct sr_buf json, csv;
	sr_i128 *totals; /* per currency index */
	uint64_t count;
	const struct sr_subscriber *failed;
	int err;
	pthread_t thread;
};

static int on_invoice(void *ctx, const struct sr_invoice *inv)
{
	struct invoice_part *part = ctx;
	int err = sr__emit_invoice_json(&part->json, &part->all->r->period,
	                                inv);
	if (!err)
		err = sr__emit_invoice_csv(&part->csv, inv);
	part->totals[inv->currency_index] += inv->total;
	part->count++;
	return err;
}

/* Write a built part in order and add up its totals. */
static int write_part(struct run *r, struct invoice_part *part, uint32_t nc)
{
	if (part->err == SR_EOVERFLOW && part->failed)
		return fail(r, part->err, r->cfg->db, 0,
		            "invoice of subscriber '%.*s' does not fit in "
		            "64-bit micro-units",
		            (int)part->failed->id.len, part->failed->id.ptr);
	if (part->err)
		return part->err;
	int err =
	    sr__out_write(&r->out[OUT_JSONL], part->json.data, part->json.len);
	if (err)
		return out_fail(r, OUT_JSONL, err);
	err = sr__out_write(&r->out[OUT_CSV], part->csv.data, part->csv.len);
	if (err)
		return out_fail(r, OUT_CSV, err);
	for (uint32_t c = 0; c < nc; c++) {
		r->totals[c] += part->totals[c];
		part->totals[c] = 0;
	}
	r->stats->invoices += part->count;
	part->count = 0;
	return 0;
}

static void *build_parts(void *arg)
{
	struct invoice_part *part = arg;
	struct invoices *all = part->all;
	struct run *r = all->r;
	uint32_t n = sr_catalog_nsubscribers(r->cat);

	pthread_mutex_lock(&all->mu);
	while (!all->ready)
		pthread_cond_wait(&all->cv, &all->mu);
	pthread_mutex_unlock(&all->mu);
	for (uint32_t k = part->t; k < all->nblocks; k += all->nthreads) {
		part->first = k * SR_INVOICE_BLOCK;
		part->last = n - part->first > SR_INVOICE_BLOCK
		                 ? part->first + SR_INVOICE_BLOCK
		                 : n;
		part->json.len = part->csv.len = 0;
		part->err = sr_invoices_build_range(
		    r->cat, &r->period,
		    (const struct sr_ledger *const *)r->ledgers.l,
		    r->ledgers.n, part->first, part->last, on_invoice, part,
		    &part->failed);
		pthread_mutex_lock(&all->mu);
		while (all->turn != k && !all->err)
			pthread_cond_wait(&all->cv, &all->mu);
		if (!all->err)
			all->err = write_part(r, part, all->nc);
		all->turn++;
		bool stop = all->err != 0; /* read under the lock */
		pthread_cond_broadcast(&all->cv);
		pthread_mutex_unlock(&all->mu);
		if (stop)
			break;
	}
	return NULL;
}

static int write_invoices(struct run *r, unsigned threads)
{
	uint32_t n = sr_catalog_nsubscribers(r->cat);
	struct invoices all = {
	    .r = r,
	    .nblocks = (n + SR_INVOICE_BLOCK - 1) / SR_INVOICE_BLOCK,
	    .nc = sr_catalog_ncurrencies(r->cat),
	    .nthreads = threads,
	    .mu = PTHREAD_MUTEX_INITIALIZER,
	    .cv = PTHREAD_COND_INITIALIZER,
	};
	struct invoice_part *parts = calloc(threads, sizeof(*parts));
	int err = parts ? 0 : SR_ENOMEM;

	for (unsigned t = 0; !err && t < threads; t++) {
		parts[t].all = &all;
		parts[t].t = t;
		parts[t].totals = calloc(all.nc + 1, sizeof(*parts[t].totals));
		if (!parts[t].totals)
			err = SR_ENOMEM;
	}
	if (!err) {
		err = sr__out_write(&r->out[OUT_CSV], SR_INVOICES_CSV_HEADER,
		                    strlen(SR_INVOICES_CSV_HEADER));
		if (err)
			out_fail(r, OUT_CSV, err);
	}
	/* The caller's thread builds as thread 0; when a thread cannot
	 * start, the blocks are shared by those that did. */
	if (!err) {
		unsigned started = 1;
		while (started < threads &&
		       !pthread_create(&parts[started].thread, NULL,
		                       build_parts, &parts[started]))
			started++;
		pthread_mutex_lock(&all.mu);
		all.nthreads = started;
		all.ready = true;
		pthread_cond_broadcast(&all.cv);
		pthread_mutex_unlock(&all.mu);
		build_parts(&parts[0]);
		for (unsigned t = 1; t < started; t++)
			pthread_join(parts[t].thread, NULL);
		err = all.err;
	}
	for (unsigned t = 0; parts && t < threads; t++) {
		sr__buf_finish(&parts[t].json);
		sr__buf_finish(&parts[t].csv);
		free(parts[t].totals);
	}
	free(parts);
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
			if (best < 0 ||
			    strcmp(a.ptr, sr_reason_text(best).ptr) < 0)
				best = i;
		}
		if (best < 0)
			break;
		done[best] = true;
		b.len +=
		    (size_t)snprintf(b.data + b.len, 128, "%s\"%s\":%llu",
		                     first ? "" : ",", sr_reason_text(best).ptr,
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
		b.len +=
		    format_total(r->totals[i], c->exponent, b.data + b.len);
		sr__buf_put(&b, "\"", 1);
		first = false;
	}
	uint64_t ms = st->elapsed_ns / 1000000,
	         ns = st->elapsed_ns ? st->elapsed_ns : 1;
	b.len += (size_t)snprintf(
	    b.data + b.len, 128,
	    "},\"seconds\":%llu.%03llu,\"records_per_second\":%llu}\n",
	    (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000),
	    (unsigned long long)((unsigned __int128)st->records * 1000000000u /
	                         ns));
	err = sr__out_write(&r->out[OUT_SUMMARY], b.data, b.len);
	sr__buf_finish(&b);
	return err ? out_fail(r, OUT_SUMMARY, err) : 0;
}

static const char *const out_names[OUT_COUNT] = {"rated.csv", "rejects.csv",
                                                 NULL, NULL, "summary.json"};

/*
 * A run killed before its rename leaves ".NAME.tmp.PID" files behind; the
 * previous outputs are intact, but the debris would pile up. Remove the
 * temporary files of our outputs whose process is gone.
 */
static void remove_stale(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d))) {
		const char *tmp = strstr(e->d_name, ".tmp.");
		if (e->d_name[0] != '.' || !tmp)
			continue;
		char *end;
		long pid = strtol(tmp + 5, &end, 10);
		if (*end || pid <= 0 || pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue; /* alive, or not ours to judge */
		bool ours = !strncmp(e->d_name, ".rated.csv.", 11) ||
		            !strncmp(e->d_name, ".rejects.csv.", 13) ||
		            !strncmp(e->d_name, ".summary.json.", 14) ||
		            !strncmp(e->d_name, ".invoices-", 10);
		if (ours)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

static int open_outputs(struct run *r)
{
	char name[64];
	int err = mkdir(r->cfg->out, 0755) < 0 && errno != EEXIST ? -errno : 0;
	if (err)
		return fail(r, err, r->cfg->out, 0, "%s", strerror(-err));
	remove_stale(r->cfg->out);
	for (int i = 0; i < OUT_COUNT; i++) {
		const char *n = out_names[i];
		if (!n) {
			snprintf(name, sizeof(name), "invoices-%s.%s",
			         r->period.text,
			         i == OUT_JSONL ? "jsonl" : "csv");
			n = name;
		}
		err = sr__out_open(&r->out[i], r->cfg->out, n);
		if (!err && (i == OUT_JSONL || i == OUT_CSV))
			err = sr__out_direct(&r->out[i]);
		if (err)
			return fail(r, err, r->out[i].tmp ? r->out[i].tmp : n,
			            0, "%s", sr_strerror(err));
	}
	/* The pipeline writes rejects after this header, at known offsets,
	 * and the whole of rated.csv itself. */
	err = sr__out_write(&r->out[OUT_REJECTS], SR_REJECTS_HEADER,
	                    strlen(SR_REJECTS_HEADER));
	if (!err)
		err = sr__out_drain(&r->out[OUT_REJECTS]);
	return err ? out_fail(r, OUT_REJECTS, err) : 0;
}

/* Flush and fsync every output, then rename them all into place. */
static int commit_outputs(struct run *r)
{
	for (int i = 0; i < OUT_COUNT; i++) {
		int err = sr__out_flush(&r->out[i]);
		if (err)
			return out_fail(r, i, err);
	}
	for (int i = 0; i < OUT_COUNT; i++) {
		int err = sr__out_commit(&r->out[i]);
		if (err)
			return out_fail(r, i, err);
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

	r->chunk_size = cfg->chunk_size ? cfg->chunk_size : SR_READ_SIZE;
	if (sr_period_init(&r->period, cfg->period) < 0)
		return fail(r, SR_EINVAL, NULL, 0, "bad period '%s'",
		            cfg->period);
	err = sr_catalog_open(cfg->db, &r->cat);
	if (err == -ENOENT || err == -ENOTDIR)
		err = SR_ENOCATALOG; /* a bad catalog path, not an I/O fault */
	if (err)
		return fail(r, err, cfg->db, 0, "cannot open catalog: %s",
		            sr_strerror(err));
	r->sources = calloc(cfg->nfiles ? cfg->nfiles : 1, sizeof(*r->sources));
	r->fields = calloc(SR_HEADER_FIELDS, sizeof(*r->fields));
	r->scratch = malloc(SR_SCRATCH_SIZE);
	r->totals =
	    calloc(sr_catalog_ncurrencies(r->cat) + 1, sizeof(*r->totals));
	if (!r->sources || !r->fields || !r->scratch || !r->totals)
		return SR_ENOMEM;
	for (unsigned i = 0; i < cfg->nfiles; i++)
		r->sources[i].fd = -1;
	return 0;
}

static void teardown(struct run *r)
{
	for (int i = 0; i < OUT_COUNT; i++)
		sr__out_discard(&r->out[i]);
	for (unsigned i = 0; r->sources && i < r->cfg->nfiles; i++) {
		struct sr_source *src = &r->sources[i];
		if (src->fd > 0)
			close(src->fd);
		sr__buf_finish(&src->tail);
		sr__buf_finish(&src->file_field);
	}
	sr__ledgers_finish(&r->ledgers);
	sr__pipeline_prep_finish(&r->prep);
	sr_catalog_close(r->cat);
	free(r->sources);
	free(r->fields);
	free(r->scratch);
	free(r->totals);
}

static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

static int rate_all(struct run *r)
{
	const struct sr_run_config *cfg = r->cfg;
	r->threads = cfg->threads ? cfg->threads : default_threads();
	struct sr_pipeline_config pc = {
	    .cat = r->cat,
	    .period = &r->period,
	    .sources = r->sources,
	    .nsources = cfg->nfiles,
	    .threads = r->threads,
	    .chunk_size = r->chunk_size,
	    .rated_fd = r->out[OUT_RATED].fd,
	    .rated_header = SR_RATED_HEADER,
	    .rejects_fd = r->out[OUT_REJECTS].fd,
	    .rejects_off = strlen(SR_REJECTS_HEADER),
	    .rated_path = r->out[OUT_RATED].tmp,
	    .rejects_path = r->out[OUT_REJECTS].tmp,
	    .progress = cfg->progress,
	    .progress_ctx = cfg->progress_ctx,
	    .prep = &r->prep,
	};
	return sr__pipeline_run(&pc, r->stats, &r->ledgers, r->error);
}

/* The bytes of the input files, as far as they are regular files. */
static uint64_t input_bytes(const struct sr_run_config *cfg)
{
	uint64_t bytes = 0;
	struct stat st;
	for (unsigned i = 0; i < cfg->nfiles; i++)
		if (strcmp(cfg->files[i], "-") && stat(cfg->files[i], &st) == 0 &&
		    S_ISREG(st.st_mode))
			bytes += (uint64_t)st.st_size;
	return bytes;
}

static int run(struct run *r)
{
	const struct sr_run_config *cfg = r->cfg;
	uint64_t t0 = now_ns();
	/* The duplicate set fills its pages while the catalog loads. */
	sr__pipeline_prepare(&r->prep, input_bytes(cfg));
	int err = setup(r);

	/* Every header first: a bad one refuses the run before any rating. */
	for (unsigned i = 0; !err && i < cfg->nfiles; i++) {
		err = open_source(r, &r->sources[i], cfg->files[i]);
		if (!err)
			err = read_header(r, &r->sources[i]);
	}
	if (!err)
		err = open_outputs(r);
	uint64_t t1 = now_ns();
	if (!err)
		err = rate_all(r);
	uint64_t t2 = now_ns();
	if (!err)
		err = write_invoices(r, r->threads);
	uint64_t t3 = now_ns();
	r->stats->setup_ns = t1 - t0;
	r->stats->rate_ns = t2 - t1;
	r->stats->invoice_ns = t3 - t2;
	r->stats->elapsed_ns = t3 - t0;
	if (!err)
		err = write_summary(r, sr_catalog_ncurrencies(r->cat));
	if (!err)
		err = commit_outputs(r);
	r->stats->commit_ns = now_ns() - t3;
	r->stats->elapsed_ns = now_ns() - t0;
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
