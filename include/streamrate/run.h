/*
 * A batch rating run (SPEC sections 3 to 7): session files in, rated.csv,
 * rejects.csv, invoices and summary.json out, all appearing atomically in
 * the output directory. The library reports; only the caller prints.
 */
#ifndef STREAMRATE_RUN_H
#define STREAMRATE_RUN_H

#include "streamrate/session.h"

struct sr_run_stats {
	uint64_t records; /* rated + rejected */
	uint64_t rated;
	uint64_t skipped; /* empty lines */
	uint64_t rejected;
	uint64_t by_reason[SR_REASON_COUNT];
	uint64_t invoices;
	uint64_t bytes;      /* input bytes read */
	uint64_t elapsed_ns; /* wall time of the run */
	/* Where the time went: opening the catalog and headers, rating,
	 * building invoices, and making the outputs durable. */
	uint64_t setup_ns, rate_ns, invoice_ns, commit_ns;
};

struct sr_run_config {
	const char *db;           /* LMDB catalog directory */
	const char *period;       /* "YYYY-MM" */
	const char *out;          /* output directory, created if missing */
	const char *const *files; /* "-" is standard input */
	unsigned nfiles;
	unsigned threads;  /* 0: one per core */
	size_t chunk_size; /* read size; 0: default */
	/* Called about every 200 ms from the calling thread while rating;
	 * may be NULL. */
	void (*progress)(void *ctx, const struct sr_run_stats *sofar);
	void *progress_ctx;
};

/* What went wrong, for the caller's message: which file, which line. */
struct sr_run_error {
	char path[1024];
	uint64_t line; /* 0 when not about a line */
	char msg[512];
};

/*
 * Run. Returns 0; SR_EHEADER (a file's header refuses the run: nothing
 * written); SR_ECATALOG / SR_ENOCATALOG; SR_EOVERFLOW (an invoice amount
 * does not fit); SR_EINVAL (bad period or configuration); or a negative
 * errno for I/O failures. err describes the failure.
 */
int sr_run(const struct sr_run_config *cfg, struct sr_run_stats *stats,
           struct sr_run_error *err);

#endif
