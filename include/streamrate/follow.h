/*
 * Live rating: following growing session files and directories, with
 * exactly-once state (sr_follow_run), and closing a period into invoices
 * from the stored totals (sr_follow_close).
 *
 * There is no run period: a session belongs to the month of its own start,
 * and its rated row goes to OUTDIR/rated-YYYY-MM.csv, its reject to
 * OUTDIR/rejects-YYYY-MM.csv. A record rejected before its start is known
 * (malformed:line, malformed:<column>) or whose start lies outside the
 * months 0001-01 to 9999-12 goes to OUTDIR/rejects-unknown.csv. Step 3
 * (duplicates) runs per period across every followed input, so the rows of
 * one period are those a batch `rate` of that period would give.
 *
 * State: the committed offset of every input, the committed size of every
 * output file, the duplicate keys and the ledger totals live in one LMDB
 * environment in the state directory and change in one transaction per
 * commit, after the output rows of that commit are on disk. A process
 * killed at any moment restarts from the last commit: outputs are cut back
 * to their committed sizes and each input resumes at its committed offset.
 * The library never prints: what a person should know (a refused header, a
 * rotation, lost content) is reported through the event callback.
 */
#ifndef STREAMRATE_FOLLOW_H
#define STREAMRATE_FOLLOW_H

#include <signal.h>

#include "streamrate/run.h"

/*
 * How an input's bytes become session records: CSV session files (SPEC
 * section 1, a header per file), or nginx / nginx-rtmp access logs read
 * through a compiled mapping (include/streamrate/nginx.h, no header).
 */
enum sr_follow_format {
	SR_FOLLOW_CSV = 0,
	SR_FOLLOW_NGINX = 1,
};

struct sr_nginx;

enum sr_follow_event {
	SR_FOLLOW_BAD_HEADER, /* file skipped until its content changes */
	SR_FOLLOW_ROTATED,    /* path now holds new content */
	SR_FOLLOW_TRUNCATED,  /* same file, cut back: new content */
	SR_FOLLOW_LOST,       /* old content not found: not all rated */
	SR_FOLLOW_NEW_FILE,   /* a file appeared in a followed directory */
	SR_FOLLOW_RESTART,    /* a period was closed under us: re-read */
};

/* path and msg live only during the call; line is 0 when not about one. */
typedef void (*sr_follow_event_fn)(void *ctx, enum sr_follow_event ev,
                                   const char *path, uint64_t line,
                                   const char *msg);

struct sr_follow_stats {
	uint64_t records; /* rated + rejected */
	uint64_t rated;
	uint64_t skipped; /* empty lines */
	uint64_t rejected;
	uint64_t by_reason[SR_REASON_COUNT];
	uint64_t bytes; /* input bytes rated */
	uint64_t commits;
	uint64_t elapsed_ns;
};

struct sr_follow_config {
	const char *db;           /* LMDB catalog directory */
	const char *state;        /* state directory, created if missing */
	const char *out;          /* output directory, created if missing */
	const char *const *paths; /* files or directories to follow */
	unsigned npaths;
	enum sr_follow_format format;
	const struct sr_nginx *nginx; /* SR_FOLLOW_NGINX: the mapping */
	unsigned commit_ms; /* at most this long between commits; 0: 100 */
	unsigned poll_ms;   /* re-check paths without events; 0: 250 */
	/* Rate what is there now, commit and return (catch up, no wait). */
	bool once;
	/* Set (e.g. by a signal handler) to finish what is read, commit and
	 * return 0. May be NULL. */
	const volatile sig_atomic_t *stop;
	sr_follow_event_fn event; /* may be NULL */
	void *event_ctx;
};

/*
 * Follow until *stop is set (or, with once, until everything there is
 * rated). Returns 0; SR_ECATALOG / SR_ENOCATALOG; SR_EINVAL (bad config,
 * or a state directory used with another output directory); SR_EBUSY-like
 * -EWOULDBLOCK when another follow holds the state; SR_ELMDB or a negative
 * errno on I/O failures. err names the file.
 */
int sr_follow_run(const struct sr_follow_config *cfg,
                  struct sr_follow_stats *stats, struct sr_run_error *err);

struct sr_close_config {
	const char *db;     /* LMDB catalog directory */
	const char *state;  /* the follow state directory */
	const char *period; /* "YYYY-MM" */
	const char *out;    /* where invoices-YYYY-MM.{jsonl,csv} go */
};

/*
 * Mark period closed in the state (later records of it are rejected as
 * period_closed) and write its invoices, built from the stored totals
 * exactly as a batch run builds them, atomically into out. Closing again
 * writes the same invoices. *invoices receives their count. Returns 0,
 * SR_EINVAL (bad period), SR_ECATALOG / SR_ENOCATALOG, SR_ENOTFOUND (the
 * totals name an id the catalog no longer has), SR_EOVERFLOW (an amount
 * does not fit), SR_ELMDB or a negative errno.
 */
int sr_follow_close(const struct sr_close_config *cfg, uint64_t *invoices,
                    struct sr_run_error *err);

#endif
