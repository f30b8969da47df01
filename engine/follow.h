/*
 * Internals of `streamrate follow`, shared by its parts:
 *
 *   follow.c        the loop: setup from the state, waiting on inotify,
 *                   commits, stopping, restarting after a close
 *   follow_input.c  inputs: identities, resuming, rotation by rename and
 *                   by copy-truncate, reading
 *   follow_find.c   finding old content: by inode, by fingerprint, and
 *                   generations rotated away unseen
 *   follow_dir.c    followed directories
 *   follow_nginx.c  the nginx access-log decoder
 *   follow_commit.c commits on their own thread
 *   follow_write.c  the row writer thread
 *   follow_stage.c  the pure stage: decoding, parsing, rating and
 *                   formatting records, on a thread of its own ahead of
 *                   the follower when a read is large
 *   follow_rate.c   records: the CSV decoder, and in input order the
 *                   periods, duplicate keys, ledger deltas and outputs
 *   follow_out.c    the per-period output files and their recovery
 *   follow_close.c  closing a period into invoices
 *
 * The follower thread owns every ordered decision (duplicate claims,
 * totals, outputs, commits); the stage, the row writer and the committer
 * threads take work from it. Nothing here allocates per record.
 */
#ifndef SR_FOLLOW_INTERNAL_H
#define SR_FOLLOW_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "csv.h"
#include "dedup.h"
#include "emit.h"
#include "state.h"
#include "streamrate/follow.h"
#include "streamrate/rate.h"

/* Returned inside the engine when a period was closed under a running
 * follow: everything is rebuilt from the state, as after a restart. */
#define SR__RESTART 1

/* ---- Output files (follow_out.c) ---- */

struct sr__fout {
	char name[40];
	const char *header; /* written first into a new file */
	int fd;             /* -1: not open */
	uint64_t committed; /* size at the last commit */
	uint64_t size;      /* bytes written or buffered */
	struct sr_buf buf;  /* rows not yet written; they end at size */
	bool known;         /* the state has a committed size for it */
	bool dirty;         /* written since the last fsync */
	bool created;       /* created since the last commit */
};

/* The outputs of one period; month is year * 12 + month - 1. */
struct sr__fperiod {
	int64_t month;
	struct sr_period period;
	struct sr_rowfmt fmt; /* rated rows of this period */
	struct sr__fout rated, rejects;
	bool closed;  /* closed in the state: records are period_closed */
	bool touched; /* rated or counted since the last commit */
};

struct sr__known_out {
	char name[40];
	uint64_t size;
};

struct sr__fouts {
	char *dir;
	const struct sr_catalog *cat;
	struct sr__fperiod **p; /* stable pointers */
	size_t n, cap;
	struct sr__fperiod *last;
	struct sr__fout unknown; /* rejects-unknown.csv */
	struct sr__known_out *known;
	size_t nknown;
	uint64_t buffered; /* bytes in every buf */
	unsigned nopen;    /* open descriptors */
	struct sr__writer *writer;
};

int sr__fouts_init(struct sr__fouts *o, const char *dir,
                   const struct sr_catalog *cat);
void sr__fouts_finish(struct sr__fouts *o);
/* Cut every output back to its committed size; remove uncommitted ones. */
int sr__fouts_recover(struct sr__fouts *o, struct sr__state *st,
                      struct sr_run_error *err);
/* The outputs of month, created on first use (then whether the state has
 * it closed is read); NULL when out of memory or the state fails. */
struct sr__fperiod *sr__fouts_period(struct sr__fouts *o, struct sr__state *st,
                                     int64_t month);
/* Make f ready to take rows: open or create it (writing its header). */
int sr__fout_ready(struct sr__fouts *o, struct sr__fout *f);
/* Account for bytes just appended to f->buf. */
static inline void sr__fout_added(struct sr__fouts *o, struct sr__fout *f,
                                  size_t before)
{
	f->size += f->buf.len - before;
	o->buffered += f->buf.len - before;
}
/* Write every buffer out (no fsync). */
int sr__fouts_write(struct sr__fouts *o, struct sr_run_error *err);
struct sr__job;
/* Into job: the files to fsync (their descriptors duplicated) and the
 * sizes to record; they then count as committed. */
int sr__fouts_snapshot(struct sr__fouts *o, struct sr__job *job);

/* ---- Inputs (follow_input.c) ---- */

enum sr__phase {
	SR_PHASE_HEADER,  /* the content's header is not read yet */
	SR_PHASE_RECORDS, /* rating records */
	SR_PHASE_BAD,     /* header refused: skip until the content changes */
};

struct sr__input {
	char *path;          /* where the content is (file, or dir/name) */
	int dir;             /* index of its followed directory, -1: a file */
	struct sr_buf field; /* path as a rejects.csv field */
	int fd;              /* -1: not open (missing) */
	struct sr__ident id; /* current content; fp is computed at commit */
	char head[SR_FP_MAX];
	uint32_t head_len; /* first bytes of the content, for fp */
	int64_t since_ns;  /* wall clock when the content was first opened */
	uint64_t off;      /* first byte not yet rated */
	uint64_t line;     /* line number of the record at off */
	uint64_t read_off; /* offset of the next read: off + buf.len */
	struct sr_buf buf; /* bytes read, not yet rated; start at off */
	enum sr__phase phase;
	struct sr_header header;
	bool finishing;   /* old content of a rotated file: to its end, then
	                   * switch to what the path holds */
	bool dirty;       /* progress to save at the next commit */
	bool gone;        /* to forget at the next commit */
	char *old_key;    /* a previous path to forget (renamed) */
	uint64_t hdr_end; /* where the records start */
};

/* A followed directory. */
struct sr__dirw {
	char *path;
	int wd;      /* inotify watch, -1 */
	bool rescan; /* entries may have changed */
};

struct sr__follow;

/* The input following path, NULL if none (follow_input.c). */
struct sr__input *sr__input_find(struct sr__follow *f, const char *path);
/* Follow path (a file of directory dir, -1: a followed file), resuming
 * from the state's open transaction. */
int sr__input_add(struct sr__follow *f, const char *path, int dir);
int sr__input_set_path(struct sr__input *in, const char *path);

/* ---- Finding old content (follow_find.c) ---- */

uint64_t sr__fp(const void *p, size_t n);
/* pread until n bytes or the end: the count, or a negative errno. */
ssize_t sr__pread_full(int fd, void *p, size_t n, uint64_t off);
/* Does the content at fd start with the bytes id fingerprints? */
bool sr__fp_matches(int fd, const struct sr__ident *id);

/* A file found in the directory of a followed path. */
struct sr__found {
	int fd;     /* open on it; -1: none found */
	char *name; /* its path */
	bool by_inode;
	int64_t mtime_ns;
};
void sr__found_clear(struct sr__found *c);
/*
 * Search the directory of path for the content id, at least off bytes
 * long: the file with its inode, else the newest (modified no earlier
 * than newer_than) starting with its fingerprinted bytes; skip_ino is
 * never taken.
 */
int sr__find_old(const char *path, const struct sr__ident *id, uint64_t off,
                 uint64_t skip_ino, int64_t newer_than, struct sr__found *best);
/*
 * The oldest copy of the content id in the directory of path: a file
 * other than skip_ino starting with its fingerprinted bytes, at least off
 * bytes long, modified between since and until (inodes do not count).
 */
int sr__find_copy(const char *path, const struct sr__ident *id, uint64_t off,
                  uint64_t skip_ino, int64_t since, int64_t until,
                  struct sr__found *best);
/* The generation after the content in is reading, if rotated away. */
int sr__find_next(const struct sr__input *in, struct sr__found *next);

/* Bytes the inputs hold past what was rated (the backlog). */
uint64_t sr__inputs_backlog(struct sr__follow *f);
/* Make the inputs of every configured path, resuming from the state. */
int sr__inputs_setup(struct sr__follow *f);
void sr__inputs_finish(struct sr__follow *f);
/* Read and rate what input i has; check rotation when it has nothing.
 * *progress is set when bytes were rated. */
int sr__input_pump(struct sr__follow *f, size_t i, bool *progress);
/* Look for new files in the followed directories that need it. */
int sr__dirs_scan(struct sr__follow *f, bool all);
/* Into job: the progress of changed inputs and the paths to forget;
 * inputs that are gone are dropped. */
int sr__inputs_snapshot(struct sr__follow *f, struct sr__job *job);

/* ---- Records (follow_rate.c) ---- */

/* A record as a decoder gives it. */
struct sr__record {
	enum sr_split kind;
	enum sr_reason why; /* parse result of a SR_SPLIT_RECORD */
	struct sr_session s;
	uint64_t sub_hash; /* of s.subscriber_id once parsed (the stage's) */
	const char *raw;
	uint32_t raw_len;
	uint32_t consumed;
	uint32_t lines;
};

/* Where a decoder decodes records into: one per thread that decodes. */
struct sr_nginx_scratch;
#define SR_FOLLOW_FIELDS 1024
struct sr__scratch {
	struct sr_str *fields;        /* SR_FOLLOW_FIELDS */
	char *bytes;                  /* SR_FOLLOW_BATCH * SR_SCRATCH_SIZE */
	struct sr_nginx_scratch *ngx; /* SR_FOLLOW_BATCH; nginx only */
};

/*
 * A decoder turns an input's bytes into records. begin() reads what comes
 * before the records (a CSV header), on the follower: 0 with *consumed and
 * *lines, 1 when it needs more bytes, or SR_EHEADER with a message; it may
 * keep state in the input. next() gives one record, or SR_SPLIT_MORE; what
 * it decodes into sc's slot number slot (0 .. SR_FOLLOW_BATCH - 1) stays
 * valid until that slot is used again. next() only reads f and in: it runs
 * on the stage's thread while the follower goes on.
 */
#define SR_FOLLOW_BATCH 16
struct sr__decoder {
	int (*begin)(struct sr__follow *f, struct sr__input *in, const char *p,
	             size_t n, size_t *consumed, uint64_t *lines, char *msg,
	             size_t msgcap);
	void (*next)(const struct sr__follow *f, const struct sr__input *in,
	             struct sr__scratch *sc, const char *p, size_t n, bool eof,
	             unsigned slot, struct sr__record *r);
};

extern const struct sr__decoder sr__csv_decoder;
extern const struct sr__decoder sr__nginx_decoder;

/* The month (year * 12 + month - 1) of an instant, UTC. */
int64_t sr__month_of(int64_t instant);
/* The duplicate key of s in month. */
struct sr_key128 sr__follow_key(const struct sr_session *s, int64_t month);

/* ---- The pure stage (follow_stage.c) ---- */

/*
 * One record as the stage leaves it: everything the follower needs to
 * decide its outcome in input order, and nothing that points into a
 * decoder's scratch. The stage rates every parsed record of a known
 * period, even one that turns out closed or a duplicate: sr_rate() is
 * pure, and the follower then drops the row.
 */
struct sr__staged {
	const char *raw; /* in the job's bytes */
	uint32_t raw_len;
	uint8_t kind;     /* enum sr_split: record, empty or malformed */
	uint8_t parse;    /* enum sr_reason of step 1 */
	uint8_t why;      /* enum sr_reason of sr_rate(), steps 4 to 10 */
	uint8_t ppv;      /* the item is a PPV content */
	int32_t month;    /* -1: no period (outside 0001-01 .. 9999-12) */
	uint32_t row_len; /* of its rated row, next in the block's text */
	uint32_t subscriber;
	const void *item; /* ledger item (rate or PPV content); NULL: none */
	uint64_t units;
	uint64_t line;
	struct sr_key128 key;
};

/* Records of a job handed over together. */
#define SR_STAGE_RECORDS 128
struct sr__block {
	struct sr__staged rec[SR_STAGE_RECORDS];
	unsigned n;
	struct sr_buf text; /* the rated rows of rec[], in order */
	size_t consumed;    /* bytes of rec[] */
	uint64_t line;      /* line number after the block */
	bool last;          /* the job's last block (maybe empty) */
	int err;
};

struct sr__stage;
/* The stage of f (decoder, catalog, config), with its thread. */
int sr__stage_start(struct sr__stage **out, const struct sr__follow *f);
/* End the thread and free; accepts NULL. */
void sr__stage_stop(struct sr__stage *st);
/*
 * The records in [p, p + n) of in, from line: decode, rate and format
 * them and hand them, a block at a time in input order, to take() on the
 * calling thread; a large job runs on the stage's thread meanwhile. The
 * bytes and in stay untouched until it returns. Stops at the first error
 * (of take or the stage) and returns it.
 */
int sr__stage_run(struct sr__stage *st, const struct sr__input *in,
                  const char *p, size_t n, bool eof, uint64_t line,
                  int (*take)(void *ctx, const struct sr__block *b), void *ctx);

/* A duplicate key claimed since the last commit, and its period. */
struct sr__mkey {
	struct sr_key128 k;
	int64_t month;
};

/* "YYYY-MM" of month (year * 12 + month - 1) into text[8]. */
void sr__month_text(int64_t month, char *text);

/* A ledger change not yet committed, keyed by period, subscriber, item. */
struct sr__delta {
	int64_t month;
	uint32_t subscriber;
	uint32_t kind; /* enum sr_ledger_kind */
	const void *item;
	int64_t sessions;
	unsigned __int128 count;
};

struct sr__deltas {
	struct sr__delta *slots; /* open addressing; item NULL: empty */
	uint32_t *used;          /* slots in use, in order of first use */
	size_t n, mask;
};

/* Rate the records in [p, p + n) of input in; *used receives the bytes
 * consumed (whole records only, unless eof). */
int sr__rate_bytes(struct sr__follow *f, struct sr__input *in, const char *p,
                   size_t n, bool eof, size_t *used);
/* Into job: the ledger deltas and the new duplicate keys; both start
 * again empty, in the spare buffers given (which this takes). */
int sr__rate_snapshot(struct sr__follow *f, struct sr__job *job,
                      struct sr_buf *spare_keys, struct sr_buf *spare_raw);
/* On the committer: the job's deltas in the state's key order and form,
 * in job->deltas; tmp and out are its scratch buffers. */
int sr__rate_job_deltas(struct sr__job *job, struct sr_buf *tmp,
                        struct sr_buf *out);
/* Load the committed duplicate keys into memory. */
int sr__rate_load(struct sr__follow *f, size_t expect);
void sr__rate_finish(struct sr__follow *f);

/* ---- The row writer (follow_write.c) ---- */

struct sr__writer;
int sr__writer_start(struct sr__writer **out);
/* Hand over b's bytes, to be written at off of fd (a duplicate is kept);
 * b receives an empty buffer. Waits while too much is queued. Returns 0 or
 * the first write failure so far. */
int sr__writer_push(struct sr__writer *w, int fd, struct sr_buf *b,
                    uint64_t off);
/* Write b (emptied) at off of fd now when it is small and nothing is
 * queued, else push it. */
int sr__writer_write(struct sr__writer *w, int fd, struct sr_buf *b,
                     uint64_t off);
/* Sequence number of the last push. */
uint64_t sr__writer_pushed(struct sr__writer *w);
/* Wait until the pushes up to seq are written: 0 or the first failure. */
int sr__writer_wait(struct sr__writer *w, uint64_t seq);
/* Write what is queued, then end the thread; accepts NULL. */
void sr__writer_stop(struct sr__writer *w);

/* ---- Commits (follow_commit.c) ---- */

/*
 * What one commit makes durable, taken from the follower at one instant:
 * the committer thread fsyncs the files, then applies the rest in one
 * LMDB write transaction, while the follower goes on reading and writing
 * rows. Rows written after the snapshot are past the sizes it records.
 */
struct sr__job_input {
	char *path;
	struct sr__input_state st;
};

struct sr__job_output {
	char name[40];
	uint64_t size;
};

struct sr__job {
	int *fds; /* to fsync, then close */
	size_t nfds, fds_cap;
	bool sync_dir;
	const char *dir;
	struct sr__writer *writer; /* rows pushed up to wseq come first */
	uint64_t wseq;
	struct sr__job_input *puts;
	size_t nputs, puts_cap;
	char **dels;
	size_t ndels, dels_cap;
	struct sr__job_output *outs;
	size_t nouts, outs_cap;
	struct sr_buf keys; /* struct sr__mkey, nkeys of them */
	size_t nkeys;
	struct sr_buf raw; /* struct sr__delta as the follower counted them */
	size_t nraw;
	const struct sr_catalog *cat; /* their ids */
	/* On the committer, in its scratch buffers: */
	struct sr__ledger_delta *deltas;
	size_t ndeltas;
	char (*periods)[8]; /* open periods the commit counts records for */
	size_t nperiods;
	struct sr_follow_stats stats; /* as of the snapshot */
	int result;
	struct sr_run_error err;
};

void sr__job_free(struct sr__job *job);
int sr__job_fd(struct sr__job *job, int fd);
int sr__job_del(struct sr__job *job, const char *path);
int sr__job_put(struct sr__job *job, const char *path,
                const struct sr__input_state *st);
int sr__job_output(struct sr__job *job, const char *name, uint64_t size);

/* A thread that runs one job at a time on its own state handle. */
struct sr__committer;
int sr__committer_start(struct sr__committer **out, struct sr__state *st);
/* Hand job over (the committer owns it); waits for the previous one and
 * returns its result. */
int sr__committer_post(struct sr__committer *c, struct sr__job *job,
                       struct sr_follow_stats *committed,
                       struct sr_run_error *err);
/* Is a job still running? */
bool sr__committer_busy(struct sr__committer *c);
/* Wait for the job in flight: its result (0 when none). The job's keys
 * and raw deltas buffers become the spares. */
int sr__committer_wait(struct sr__committer *c,
                       struct sr_follow_stats *committed,
                       struct sr_run_error *err);
/* The buffers of the last job collected, to fill again (empty when
 * none): the follower reuses them instead of fresh ones. */
void sr__committer_spares(struct sr__committer *c, struct sr_buf *keys,
                          struct sr_buf *raw);
/* Wait, then end the thread; accepts NULL. */
void sr__committer_stop(struct sr__committer *c);

/* ---- The follower (follow.c) ---- */

struct sr__follow {
	const struct sr_follow_config *cfg;
	struct sr_follow_stats *stats;
	struct sr_run_error *err;
	struct sr_catalog *cat;
	struct sr__state *state;
	const struct sr__decoder *dec;
	struct sr__fouts outs;

	struct sr__input **in;
	size_t nin, incap;
	struct sr__dirw *dirs;
	size_t ndirs;
	int ino_fd; /* inotify, -1 */

	struct sr_dedup dedup;
	size_t dedup_used;
	uint64_t dedup_pos;
	struct sr_buf keys; /* struct sr__mkey claimed since the last commit */
	size_t nkeys;
	struct sr__deltas deltas;

	struct sr__stage *stage;
	struct sr_str *fields; /* for headers */
	char *scratch;
	bool pending; /* something to commit */
};

/* Report an event to the caller, printf-style message. */
void sr__follow_event(struct sr__follow *f, enum sr_follow_event ev,
                      const char *path, uint64_t line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Fill f->err and return code. */
int sr__follow_fail(struct sr__follow *f, int code, const char *path,
                    uint64_t line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Commit when one is due: commit_ms after the last one when caught up,
 * SR_BACKLOG_COMMIT_MS while there is a backlog (each commit adds every
 * touched total to the state, so fewer commits catch up faster). */
#define SR_BACKLOG_COMMIT_MS 1000
int sr__follow_maybe_commit(struct sr__follow *f, bool backlog);

#endif
