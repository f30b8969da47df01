/*
 * The rating pipeline: io_uring reads of the input files into registered
 * buffers, record boundaries found on the main thread, chunks rated by one
 * worker per core through lock-free SPSC rings, and an in-order commit
 * that writes rated.csv and rejects.csv with io_uring. The output bytes do
 * not depend on the number of threads or on the chunk size. The pipeline
 * knows threads and I/O; the tariffs are the chunk's business.
 */
#ifndef SR_PIPELINE_H
#define SR_PIPELINE_H

#include <pthread.h>

#include "dedup.h"
#include "emit.h"
#include "streamrate/ledger.h"
#include "streamrate/run.h"
#include "streamrate/session.h"

/* One input file, opened and with its header read by the caller. */
struct sr_source {
	const char *path;
	int fd;
	bool seekable; /* a regular file: reads at offsets, many in flight */
	uint64_t size; /* seekable: bytes in the file */
	uint64_t next_off; /* offset of the next read */
	bool empty;        /* nothing after the header (or no header) */
	struct sr_header header;
	struct sr_buf tail;       /* read but not yet dispatched */
	struct sr_buf file_field; /* path as a rejects.csv field */
	uint64_t line;            /* line number of the next chunk */
	/* Pipeline-private state. */
	bool read_done;
	bool reading;
	bool tail_has_lf; /* the tail holds an LF (a record may be decided) */
};

/*
 * A run's duplicate set, started ahead of the pipeline: sized for the
 * input's bytes and its pages populated on a thread of its own while the
 * caller loads the catalog on the other core. (The workers populated it
 * at the start of rating instead, 23-33 ms each for the 5M bench's
 * 128 MB, while the catalog load had left a core idle for 45 ms.)
 */
struct sr_pipeline_prep {
	pthread_t thread;
	bool started;
	uint64_t bytes;
	int err;
	struct sr_dedup dedup;
};

/* Start preparing for bytes of input (0 when unknown, as for a pipe). */
void sr__pipeline_prepare(struct sr_pipeline_prep *prep, uint64_t bytes);
/* Wait for the thread and free what the pipeline did not take. */
void sr__pipeline_prep_finish(struct sr_pipeline_prep *prep);

struct sr_pipeline_config {
	const struct sr_catalog *cat;
	const struct sr_period *period;
	struct sr_source *sources;
	unsigned nsources;
	unsigned threads;  /* rating workers, >= 1 */
	size_t chunk_size; /* bytes per read */
	int rated_fd;
	const char *rated_header; /* written first, by the pipeline */
	int rejects_fd;
	uint64_t rejects_off;
	const char *rated_path, *rejects_path; /* for messages; rated_path is
	                                        * reopened for direct I/O */
	/* Called about every 200 ms from the calling thread, if set. */
	void (*progress)(void *ctx, const struct sr_run_stats *sofar);
	void *progress_ctx;
	struct sr_pipeline_prep *prep; /* or NULL: the pipeline builds it */
};

/* The ledgers a pipeline leaves: one per worker and the corrections. */
struct sr_ledgers {
	struct sr_ledger **l;
	unsigned n;
};

void sr__ledgers_finish(struct sr_ledgers *ls);

/*
 * Rate every source. On success, ledgers holds the totals (the caller
 * finishes them) and stats the counts. On failure, err names the file.
 */
int sr__pipeline_run(const struct sr_pipeline_config *cfg,
                     struct sr_run_stats *stats, struct sr_ledgers *ledgers,
                     struct sr_run_error *err);

#endif
