/*
 * The pipeline's main thread runs one loop over a ring of slots. A slot is
 * one read buffer (registered with io_uring) and the chunk rated from it;
 * it moves FREE -> READING -> READ -> RATING -> RATED -> WRITING -> FREE,
 * always in sequence order, so the ring itself is the back-pressure: a
 * read for sequence s waits until sequence s - nslots is written.
 *
 * Record boundaries are found here, sequentially, because the contract's
 * resync rule makes them depend on whole records. The common case costs a
 * memchr: a buffer without any quote ends its last record at its last LF.
 * Bytes after the last whole record (the tail) are copied in front of the
 * next buffer of the same file, into padding reserved for it.
 *
 * Chunks go to worker k = seq % threads through lock-free SPSC rings; a
 * worker marks its slot RATED with a release store and pokes an eventfd
 * that io_uring also signals, so the main thread sleeps in one place.
 * Commits happen in sequence order: line numbers, duplicate retractions and
 * output offsets are all decided there, which is what makes the output
 * independent of threads and timing.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "barrier.h"
#include "chunk.h"
#include "csv.h"
#include "direct.h"
#include "pipeline.h"
#include "ring.h"
#include "streamrate/error.h"

/* Room in front of each buffer for the previous buffer's tail. */
#define SR_PAD              (SR_RECORD_MAX * 2)
#define SR_SLOTS_PER_THREAD 4
#define SR_MIN_SLOTS        6
/* A record that gets past step 2 takes at least this many bytes. */
#define SR_MIN_CLAIM_BYTES 32

enum slot_state {
	SLOT_FREE,
	SLOT_READING,
	SLOT_READ,
	SLOT_RATING,
	SLOT_RATED,
	SLOT_WRITING,
};

enum { OP_READ = 1, OP_WRITE = 2, OP_DIRECT = 3 };

/* rated.csv, the big output, is written with O_DIRECT where the file
 * system allows (direct.h): the commit copies rows into its blocks. */
#define SR_RATED_BLOCK (4u << 20)

struct slot {
	uint64_t seq;
	unsigned state; /* enum slot_state; RATING -> RATED crosses threads */
	unsigned index;
	char *buf; /* SR_PAD + chunk_size bytes, registered */
	size_t want, got;
	uint64_t off;
	unsigned source;
	bool last;           /* this read ends its source */
	struct sr_buf spill; /* tail + data when the tail exceeds SR_PAD */
	struct sr_chunk chunk;
	struct sr_buf rejects;
	uint64_t bound; /* most claims this chunk can add */
	bool rated_by_worker;
	bool settled;  /* commit: retractions applied, rejects formatted */
	size_t staged; /* commit: rated bytes copied for direct I/O */
	unsigned writes;
	uint64_t write_off[2];
	size_t write_len[2];
};

struct worker {
	struct pipeline *p;
	pthread_t thread;
	bool started;
	struct sr_ring in;
	struct sr_chunk_ctx ctx;
	int seal_err;
};

struct pipeline {
	const struct sr_pipeline_config *cfg;
	struct sr_run_stats *stats;
	struct sr_run_error *error;
	struct io_uring ring;
	bool ring_ok;
	int efd;
	struct slot *slots;
	unsigned nslots;
	struct worker *workers;
	unsigned nworkers;
	uint64_t read_seq, dispatch_seq, commit_seq;
	unsigned read_source;
	unsigned rating;   /* slots with workers, until committed */
	unsigned inflight; /* reads and slot writes submitted, not completed */
	uint64_t stream_pos;
	struct sr_dedup dedup;
	uint64_t claimed;        /* pairs in the set, from committed chunks */
	uint64_t inflight_bound; /* most claims dispatched chunks can add */
	struct sr_chunk_ctx commit_ctx;
	struct sr_ledger *corrections; /* retracted rows, taken back */
	uint64_t *pending; /* retracted positions not yet applied, sorted */
	size_t npending, pending_cap;
	uint64_t rated_off, rejects_off;
	struct sr_direct dio;
	struct sr_str *split_fields;
	char *split_scratch;
	uint64_t last_progress;
};

static struct slot STOP;

static int fail(struct pipeline *p, int code, const char *path,
                const char *what)
{
	if (!p->error->msg[0]) {
		snprintf(p->error->path, sizeof(p->error->path), "%s", path);
		snprintf(p->error->msg, sizeof(p->error->msg), "%s: %s", what,
		         code < 0 && code > -4096 ? strerror(-code)
		                                  : sr_strerror(code));
	}
	return code;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Slot states are read across threads only for RATING -> RATED, but every
 * access is atomic so that the protocol is plain to see (and to TSan). */
static unsigned state_of(struct slot *s)
{
	return sr__load_acquire(&s->state);
}

static void set_state(struct slot *s, unsigned state)
{
	sr__store_release(&s->state, state);
}

static struct slot *slot_of(struct pipeline *p, uint64_t seq)
{
	return &p->slots[seq % p->nslots];
}

/* ---- workers ---------------------------------------------------------- */

/*
 * A worker builds its own context, ledger included, so that the ledgers'
 * pages are zeroed on every core at once, while the first reads are in
 * flight, rather than one after the other before any rating starts. A
 * worker that could not build it fails each chunk it gets.
 */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct sr_pipeline_config *cfg = w->p->cfg;
	uint64_t one = 1;
	/* A worker meets most subscribers, under a few rates each. */
	int err = sr__chunk_ctx_init(&w->ctx, cfg->cat, cfg->period,
	                             &w->p->dedup,
	                             (size_t)sr_catalog_nsubscribers(cfg->cat) *
	                                 4);
	for (;;) {
		struct slot *s = sr__ring_pop_wait(&w->in);
		if (s == &STOP) {
			/* Every chunk is in: group the totals for the
			 * invoices here, in parallel. */
			w->seal_err = err ? err : sr_ledger_seal(w->ctx.ledger);
			return NULL;
		}
		if (err)
			s->chunk.error = err;
		else
			sr__chunk_rate(&w->ctx, &s->chunk);
		sr__store_release(&s->state, SLOT_RATED);
		if (write(w->p->efd, &one, sizeof(one)) < 0) {
			/* The counter cannot overflow at one per chunk. */
		}
	}
}

/* ---- reads ------------------------------------------------------------ */

/* Start the next read into slot s, or mark it READ at once when there is
 * nothing left to read of its source. Returns false when no source is
 * left to read. */
static bool start_read(struct pipeline *p, struct slot *s)
{
	const struct sr_pipeline_config *cfg = p->cfg;
	struct sr_source *src;

	for (;;) {
		if (p->read_source == cfg->nsources)
			return false;
		src = &cfg->sources[p->read_source];
		if (!src->read_done && !src->empty)
			break;
		p->read_source++;
	}
	if (src->reading)
		return false; /* a pipe: one read at a time */
	s->source = p->read_source;
	s->off = src->next_off;
	s->got = 0;
	s->last = false;
	set_state(s, SLOT_READING);
	if (src->seekable) {
		uint64_t left =
		    src->size > src->next_off ? src->size - src->next_off : 0;
		s->want =
		    left < cfg->chunk_size ? (size_t)left : cfg->chunk_size;
		src->next_off += s->want;
		if (src->next_off >= src->size) {
			s->last = true;
			src->read_done = true;
		}
		if (!s->want) {
			set_state(s, SLOT_READ);
			return true;
		}
	} else {
		s->want = cfg->chunk_size;
		src->reading = true;
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(&p->ring);
	p->inflight++;
	io_uring_prep_read_fixed(
	    sqe, src->fd, s->buf + SR_PAD, (unsigned)s->want,
	    src->seekable ? s->off : (uint64_t)-1, (int)s->index);
	io_uring_sqe_set_data64(sqe, (uint64_t)s->index << 8 | OP_READ);
	/* A read served from the page cache would otherwise copy inline, in
	 * this thread, which also dispatches and commits: let io_uring's
	 * own workers do it. */
	sqe->flags |= IOSQE_ASYNC;
	return true;
}

static void submit_reads(struct pipeline *p)
{
	while (p->read_seq < p->commit_seq + p->nslots) {
		struct slot *s = slot_of(p, p->read_seq);
		if (state_of(s) != SLOT_FREE)
			break;
		s->seq = p->read_seq;
		if (!start_read(p, s))
			break;
		p->read_seq++;
	}
}

/* A read completed with res bytes (or -errno). */
static int read_done(struct pipeline *p, struct slot *s, int res)
{
	struct sr_source *src = &p->cfg->sources[s->source];
	if (res < 0)
		return fail(p, res, src->path, "read");
	s->got = (size_t)res;
	if (!src->seekable) {
		src->reading = false;
		if (res == 0)
			s->last = src->read_done = true;
	} else {
		/* A short read of a regular file: finish it by hand. */
		while (s->got < s->want) {
			ssize_t n =
			    pread(src->fd, s->buf + SR_PAD + s->got,
			          s->want - s->got, (off_t)(s->off + s->got));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return fail(p, -errno, src->path, "read");
			if (n == 0)
				return fail(p, SR_EIO, src->path,
				            "file shrank while being read");
			s->got += (size_t)n;
		}
	}
	p->stats->bytes += s->got;
	set_state(s, SLOT_READ);
	return 0;
}

/* ---- record boundaries and dispatch ----------------------------------- */

/*
 * Length of the whole records at the start of data[0..n): the position
 * after the last record that these bytes decide. A stretch without any
 * quote ends each record at an LF, however malformed; only lines holding
 * a quote need the splitter.
 */
static size_t boundary(struct pipeline *p, const struct sr_header *h,
                       const char *data, size_t n, bool eof)
{
	if (eof)
		return n;
	const char *lastq = memrchr(data, '"', n);
	size_t pos = 0;
	while (pos < n) {
		if (!lastq || data + pos > lastq) {
			const char *lf = memrchr(data + pos, '\n', n - pos);
			return lf ? (size_t)(lf - data) + 1 : pos;
		}
		const char *lf = memchr(data + pos, '\n', n - pos);
		const char *end = lf ? lf : data + n;
		if (!memchr(data + pos, '"', (size_t)(end - data) - pos)) {
			if (!lf)
				return pos;
			pos = (size_t)(lf - data) + 1;
			continue;
		}
		struct sr_csv_record rec;
		if (sr__csv_split(data + pos, n - pos, false, p->split_fields,
		                  h->nfields, h->nfields, p->split_scratch,
		                  &rec) == SR_SPLIT_MORE)
			return pos;
		pos += rec.consumed;
	}
	return pos;
}

/* Put the source's tail in front of the slot's new bytes. */
static int assemble(struct slot *s, struct sr_source *src, const char **data,
                    size_t *n)
{
	size_t tl = src->tail.len;
	if (tl <= SR_PAD) {
		memcpy(s->buf + SR_PAD - tl, src->tail.data, tl);
		*data = s->buf + SR_PAD - tl;
		*n = tl + s->got;
		return 0;
	}
	s->spill.len = 0;
	int err = sr__buf_reserve(&s->spill, tl + s->got);
	if (err)
		return err;
	sr__buf_put(&s->spill, src->tail.data, tl);
	sr__buf_put(&s->spill, s->buf + SR_PAD, s->got);
	*data = s->spill.data;
	*n = s->spill.len;
	return 0;
}

/* Make sure the duplicate set has room for what a chunk may claim; it
 * can only grow while no worker claims. Returns 1 to wait. */
static int dedup_room(struct pipeline *p, uint64_t bound)
{
	if (p->claimed + p->inflight_bound + bound <=
	    sr__dedup_capacity(&p->dedup))
		return 0;
	if (p->rating)
		return 1;
	return sr__dedup_grow(&p->dedup, p->claimed + bound);
}

static int dispatch(struct pipeline *p)
{
	while (p->dispatch_seq < p->read_seq) {
		struct slot *s = slot_of(p, p->dispatch_seq);
		if (state_of(s) != SLOT_READ)
			return 0;
		struct sr_source *src = &p->cfg->sources[s->source];
		uint64_t bound =
		    (src->tail.len + s->got) / SR_MIN_CLAIM_BYTES + 1;
		int err = dedup_room(p, bound);
		if (err)
			return err < 0
			           ? fail(p, err, src->path, "duplicate set")
			           : 0;
		const char *data;
		size_t n;
		/* Without an LF, no record can be decided (its end, or the
		 * line a malformed one is reported as, needs one): a long
		 * line read in small pieces grows the tail in place, in
		 * linear time, instead of being copied and scanned again. */
		if (!s->last && !src->tail_has_lf &&
		    !memchr(s->buf + SR_PAD, '\n', s->got)) {
			err = sr__buf_reserve(&src->tail, s->got);
			if (err)
				return fail(p, err, src->path, "read");
			sr__buf_put(&src->tail, s->buf + SR_PAD, s->got);
			data = NULL;
			n = 0;
		} else {
			err = assemble(s, src, &data, &n);
			if (err)
				return fail(p, err, src->path, "read");
		}
		size_t b =
		    data ? boundary(p, &src->header, data, n, s->last) : 0;
		if (data) {
			src->tail.len = 0;
			err = sr__buf_reserve(&src->tail, n - b);
			if (err)
				return fail(p, err, src->path, "read");
			sr__buf_put(&src->tail, data + b, n - b);
			src->tail_has_lf =
			    memchr(data + b, '\n', n - b) != NULL;
		}

		struct sr_chunk *c = &s->chunk;
		sr__chunk_reset(c);
		c->data = data;
		c->len = b;
		c->pos = p->stream_pos;
		c->header = &src->header;
		p->stream_pos += b;
		s->bound = bound;
		s->settled = false;
		s->staged = 0;
		p->inflight_bound += bound;
		s->rated_by_worker = b > 0;
		if (b > 0) {
			set_state(s, SLOT_RATING);
			p->rating++;
			sr__ring_push(&p->workers[s->seq % p->nworkers].in, s);
		} else {
			set_state(s, SLOT_RATED);
		}
		p->dispatch_seq++;
	}
	return 0;
}

/* ---- direct writes of rated.csv --------------------------------------- */

static int reap(struct pipeline *p, unsigned *seen);

/* After the last commit: wait for every write, then write the padded last
 * block and cut the file to its true size. */
static int direct_finish(struct pipeline *p)
{
	unsigned seen = 0;
	int err = 0;
	/* Never go on with writes in flight: the last block and the
	 * truncation must come after them. */
	while (p->dio.inflight && !err) {
		int r = io_uring_submit_and_wait(&p->ring, 1);
		if (r < 0 && r != -EINTR)
			return fail(p, r, p->cfg->rated_path, "io_uring");
		err = reap(p, &seen);
	}
	if (err)
		return err;
	err = sr__direct_tail(&p->dio);
	return err ? fail(p, err, p->cfg->rated_path, "write") : 0;
}

/* ---- commit and writes ------------------------------------------------ */

static void write_out(struct pipeline *p, struct slot *s, int which,
                      const char *data, size_t len)
{
	if (!len)
		return;
	int fd = which ? p->cfg->rejects_fd : p->cfg->rated_fd;
	uint64_t *off = which ? &p->rejects_off : &p->rated_off;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&p->ring);
	p->inflight++;
	io_uring_prep_write(sqe, fd, data, (unsigned)len, *off);
	io_uring_sqe_set_data64(sqe, (uint64_t)s->index << 8 |
	                                 (unsigned)which << 4 | OP_WRITE);
	s->write_off[which] = *off;
	s->write_len[which] = len;
	*off += len;
	s->writes++;
}

static int write_done(struct pipeline *p, struct slot *s, int which, int res)
{
	const char *path = which ? p->cfg->rejects_path : p->cfg->rated_path;
	int fd = which ? p->cfg->rejects_fd : p->cfg->rated_fd;
	const char *data = which ? s->rejects.data : s->chunk.rated.data;
	size_t done = res > 0 ? (size_t)res : 0;

	if (res < 0)
		return fail(p, res, path, "write");
	/* A short write (a full disk on the way): finish it by hand so the
	 * error, if any, is the one the disk gives. */
	while (done < s->write_len[which]) {
		ssize_t n = pwrite(fd, data + done, s->write_len[which] - done,
		                   (off_t)(s->write_off[which] + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fail(p, n < 0 ? -errno : SR_EIO, path, "write");
		done += (size_t)n;
	}
	if (--s->writes == 0)
		set_state(s, SLOT_FREE);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Keep the chunk's outgoing retractions for the chunks after it. */
static int keep_retractions(struct pipeline *p, const struct sr_chunk *c)
{
	if (!c->nretracts)
		return 0;
	size_t need = p->npending + c->nretracts;
	if (need > p->pending_cap) {
		uint64_t *m = realloc(p->pending, need * 2 * sizeof(*m));
		if (!m)
			return SR_ENOMEM;
		p->pending = m;
		p->pending_cap = need * 2;
	}
	memcpy(p->pending + p->npending, c->retracts,
	       c->nretracts * sizeof(*c->retracts));
	p->npending = need;
	qsort(p->pending, p->npending, sizeof(*p->pending), cmp_u64);
	return 0;
}

static void count(struct pipeline *p, const struct sr_chunk *c)
{
	struct sr_run_stats *st = p->stats;
	st->rated += c->nrows;
	st->skipped += c->skipped;
	for (int i = 1; i < SR_REASON_COUNT; i++) {
		st->by_reason[i] += c->by_reason[i];
		st->rejected += c->by_reason[i];
	}
	st->records = st->rated + st->rejected;
}

/* Retractions, rejects and counts of a chunk, once. */
static int settle(struct pipeline *p, struct slot *s)
{
	struct sr_chunk *c = &s->chunk;
	struct sr_source *src = &p->cfg->sources[s->source];
	if (c->error)
		return fail(p, c->error, src->path, "rate");

	/* Retractions aimed at this chunk sit at the front of pending. */
	size_t n = 0;
	while (n < p->npending && p->pending[n] < c->pos + c->len)
		n++;
	s->rejects.len = 0;
	int err =
	    sr__chunk_settle(&p->commit_ctx, c, p->pending, n, src->line,
	                     &src->file_field, &s->rejects, p->corrections);
	if (err)
		return fail(p, err, src->path, "rate");
	/* pending is NULL until the first retraction: memmove only when
	 * there is something to drop (a NULL argument is undefined even for
	 * zero bytes). */
	if (n) {
		memmove(p->pending, p->pending + n,
		        (p->npending - n) * sizeof(*p->pending));
		p->npending -= n;
	}
	err = keep_retractions(p, c);
	if (err)
		return fail(p, err, src->path, "rate");

	src->line += c->lines;
	count(p, c);
	p->claimed += c->fresh;
	p->inflight_bound -= s->bound;
	if (s->rated_by_worker)
		p->rating--;
	s->settled = true;
	return 0;
}

/* Commit a rated slot: 0 done, 1 waiting for staging room, or an error. */
static int commit_one(struct pipeline *p, struct slot *s)
{
	struct sr_chunk *c = &s->chunk;
	if (!s->settled) {
		int err = settle(p, s);
		if (err)
			return err;
	}
	/* rated.data is NULL for a chunk that never had a row. */
	if (p->dio.fd >= 0 && s->staged < c->rated.len) {
		s->staged += sr__direct_append(&p->dio, &p->ring,
		                               c->rated.data + s->staged,
		                               c->rated.len - s->staged);
		if (s->staged < c->rated.len)
			return 1;
	}
	s->writes = 0;
	set_state(s, SLOT_WRITING);
	if (p->dio.fd < 0)
		write_out(p, s, 0, c->rated.data, c->rated.len);
	write_out(p, s, 1, s->rejects.data, s->rejects.len);
	if (!s->writes)
		set_state(s, SLOT_FREE);
	return 0;
}

static int commit(struct pipeline *p)
{
	while (p->commit_seq < p->dispatch_seq) {
		struct slot *s = slot_of(p, p->commit_seq);
		if (state_of(s) != SLOT_RATED)
			return 0;
		int r = commit_one(p, s);
		if (r < 0)
			return r;
		if (r > 0)
			return 0; /* staging buffers are all in flight */
		p->commit_seq++;
	}
	return 0;
}

/* ---- the loop --------------------------------------------------------- */

static int reap(struct pipeline *p, unsigned *seen)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0, others = 0;
	int err = 0;

	io_uring_for_each_cqe(&p->ring, head, cqe)
	{
		uint64_t d = io_uring_cqe_get_data64(cqe);
		struct slot *s = &p->slots[(d >> 8) % p->nslots];
		int e;
		n++;
		if (sr__direct_owns(&p->dio, d)) {
			e = sr__direct_done(&p->dio, d, cqe->res);
			if (e)
				e = fail(p, e, p->cfg->rated_path, "write");
			if (!err)
				err = e;
			continue;
		}
		others++;
		if ((d & 0xf) == OP_READ)
			e = read_done(p, s, cqe->res);
		else
			e = write_done(p, s, (int)(d >> 4 & 1), cqe->res);
		if (!err)
			err = e;
	}
	io_uring_cq_advance(&p->ring, n);
	p->inflight -= others;
	*seen += n;
	return err;
}

static bool finished(struct pipeline *p)
{
	if (p->read_source < p->cfg->nsources || p->commit_seq < p->read_seq)
		return false;
	for (unsigned i = 0; i < p->nslots; i++)
		if (state_of(&p->slots[i]) != SLOT_FREE)
			return false;
	return true;
}

static void report(struct pipeline *p)
{
	if (!p->cfg->progress)
		return;
	uint64_t t = now_ns();
	if (t - p->last_progress < 200000000u)
		return;
	p->last_progress = t;
	p->cfg->progress(p->cfg->progress_ctx, p->stats);
}

static int loop(struct pipeline *p)
{
	for (;;) {
		uint64_t before = p->read_seq + p->dispatch_seq + p->commit_seq;
		unsigned seen = 0;
		int err = reap(p, &seen);
		if (!err) {
			submit_reads(p);
			err = dispatch(p);
		}
		if (!err)
			err = commit(p);
		if (err)
			return err;
		int r = io_uring_submit(&p->ring);
		if (r < 0)
			return fail(p, r, p->cfg->rated_path, "io_uring");
		if (finished(p))
			return 0;
		report(p);
		if (!seen &&
		    before == p->read_seq + p->dispatch_seq + p->commit_seq) {
			/* Nothing moved: sleep until a completion or a worker.
			 */
			uint64_t v;
			if (!p->inflight && !p->dio.inflight && !p->rating)
				return fail(p, SR_EIO, p->cfg->rated_path,
				            "pipeline stalled");
			if (read(p->efd, &v, sizeof(v)) < 0 && errno != EINTR)
				return fail(p, -errno, p->cfg->rated_path,
				            "eventfd");
		}
	}
}

/* ---- setup ------------------------------------------------------------ */

static int setup_slots(struct pipeline *p)
{
	const struct sr_pipeline_config *cfg = p->cfg;
	p->nslots = cfg->threads * SR_SLOTS_PER_THREAD;
	if (p->nslots < SR_MIN_SLOTS)
		p->nslots = SR_MIN_SLOTS;
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	struct iovec *iov = calloc(p->nslots, sizeof(*iov));
	if (!p->slots || !iov) {
		free(iov);
		return SR_ENOMEM;
	}
	for (unsigned i = 0; i < p->nslots; i++) {
		struct slot *s = &p->slots[i];
		s->index = i;
		s->buf = malloc(SR_PAD + cfg->chunk_size);
		if (!s->buf) {
			free(iov);
			return SR_ENOMEM;
		}
		iov[i] = (struct iovec){s->buf + SR_PAD, cfg->chunk_size};
	}
	int err = io_uring_queue_init(p->nslots * 4, &p->ring, 0);
	if (err) {
		free(iov);
		return err;
	}
	p->ring_ok = true;
	err = io_uring_register_buffers(&p->ring, iov, p->nslots);
	free(iov);
	if (err)
		return err;
	p->efd = eventfd(0, EFD_CLOEXEC);
	if (p->efd < 0)
		return -errno;
	return io_uring_register_eventfd(&p->ring, p->efd);
}

static int setup_workers(struct pipeline *p)
{
	const struct sr_pipeline_config *cfg = p->cfg;
	p->nworkers = cfg->threads;
	p->workers = calloc(p->nworkers, sizeof(*p->workers));
	if (!p->workers)
		return SR_ENOMEM;
	for (unsigned i = 0; i < p->nworkers; i++) {
		struct worker *w = &p->workers[i];
		w->p = p;
		int err = sr__ring_init(&w->in, p->nslots + 1);
		if (err)
			return err;
		err = pthread_create(&w->thread, NULL, worker_main, w);
		if (err)
			return -err;
		w->started = true;
	}
	return 0;
}

/* rated.csv starts with its header, staged or written at offset 0. */
static int write_rated_header(struct pipeline *p)
{
	const char *h = p->cfg->rated_header;
	size_t n = strlen(h);
	if (p->dio.fd >= 0) {
		sr__direct_append(&p->dio, &p->ring, h, n);
		return 0;
	}
	if (pwrite(p->cfg->rated_fd, h, n, 0) != (ssize_t)n)
		return fail(p, -errno, p->cfg->rated_path, "write");
	p->rated_off = n;
	return 0;
}

/* Sized for clean input of about 100 bytes a record; it grows. */
static size_t dedup_expect(uint64_t bytes)
{
	return (size_t)(bytes / 96 + 4096);
}

static void *prepare_main(void *arg)
{
	struct sr_pipeline_prep *prep = arg;
	prep->err = sr__dedup_init(&prep->dedup, dedup_expect(prep->bytes));
	return NULL;
}

void sr__pipeline_prepare(struct sr_pipeline_prep *prep, uint64_t bytes)
{
	*prep = (struct sr_pipeline_prep){.bytes = bytes};
	prep->started =
	    pthread_create(&prep->thread, NULL, prepare_main, prep) == 0;
	if (!prep->started)
		prepare_main(prep); /* no thread: here, then */
}

static void prep_join(struct sr_pipeline_prep *prep)
{
	if (prep->started)
		pthread_join(prep->thread, NULL);
	prep->started = false;
}

void sr__pipeline_prep_finish(struct sr_pipeline_prep *prep)
{
	prep_join(prep);
	sr__dedup_finish(&prep->dedup);
}

/* The duplicate set: the prepared one, or one built here. */
static int take_dedup(struct pipeline *p, uint64_t bytes)
{
	struct sr_pipeline_prep *prep = p->cfg->prep;
	if (!prep)
		return sr__dedup_init(&p->dedup, dedup_expect(bytes));
	prep_join(prep);
	if (prep->err)
		return prep->err;
	p->dedup = prep->dedup;
	prep->dedup = (struct sr_dedup){0};
	return 0;
}

static int setup(struct pipeline *p)
{
	const struct sr_pipeline_config *cfg = p->cfg;
	uint64_t bytes = 0;
	p->dio.fd = -1;
	for (unsigned i = 0; i < cfg->nsources; i++)
		bytes += cfg->sources[i].size;
	p->efd = -1;
	p->rejects_off = cfg->rejects_off;
	p->split_fields = calloc(1024, sizeof(*p->split_fields));
	p->split_scratch = malloc(SR_SCRATCH_SIZE);
	if (!p->split_fields || !p->split_scratch)
		return SR_ENOMEM;
	int err = take_dedup(p, bytes);
	if (!err)
		err = sr__chunk_ctx_init(&p->commit_ctx, cfg->cat, cfg->period,
		                         &p->dedup, 0);
	if (!err)
		err = sr_ledger_create(&p->corrections,
		                       sr_catalog_nsubscribers(cfg->cat), 64);
	if (!err)
		err = setup_slots(p);
	if (!err)
		err = setup_workers(p);
	if (!err)
		err = sr__direct_open(&p->dio, cfg->rated_path, cfg->rated_fd,
		                      OP_DIRECT, SR_RATED_BLOCK);
	if (!err)
		err = write_rated_header(p);
	return err;
}

/* Stop the workers (they seal their ledgers on the way out). */
static void stop_workers(struct pipeline *p)
{
	for (unsigned i = 0; p->workers && i < p->nworkers; i++) {
		struct worker *w = &p->workers[i];
		if (w->started) {
			while (!sr__ring_push(&w->in, &STOP))
				sr__cpu_relax();
			pthread_join(w->thread, NULL);
			w->started = false;
		}
	}
}

static void teardown(struct pipeline *p)
{
	stop_workers(p);
	for (unsigned i = 0; p->workers && i < p->nworkers; i++) {
		struct worker *w = &p->workers[i];
		sr__ring_finish(&w->in);
		sr__chunk_ctx_finish(&w->ctx);
	}
	free(p->workers);
	/* After an error, reads or writes may still target our buffers. */
	while (p->ring_ok && p->inflight + p->dio.inflight) {
		struct io_uring_cqe *cqe;
		if (io_uring_submit_and_wait(&p->ring, 1) < 0 ||
		    io_uring_peek_cqe(&p->ring, &cqe) < 0)
			break;
		uint64_t d = io_uring_cqe_get_data64(cqe);
		if (sr__direct_owns(&p->dio, d))
			p->dio.inflight--;
		else
			p->inflight--;
		io_uring_cqe_seen(&p->ring, cqe);
	}
	if (p->ring_ok)
		io_uring_queue_exit(&p->ring);
	if (p->efd >= 0)
		close(p->efd);
	sr__direct_close(&p->dio);
	for (unsigned i = 0; p->slots && i < p->nslots; i++) {
		struct slot *s = &p->slots[i];
		free(s->buf);
		sr__buf_finish(&s->spill);
		sr__buf_finish(&s->rejects);
		sr__chunk_finish(&s->chunk);
	}
	free(p->slots);
	free(p->pending);
	free(p->split_fields);
	free(p->split_scratch);
	sr__chunk_ctx_finish(&p->commit_ctx);
	sr_ledger_destroy(p->corrections);
	sr__dedup_finish(&p->dedup);
}

void sr__ledgers_finish(struct sr_ledgers *ls)
{
	for (unsigned i = 0; i < ls->n; i++)
		sr_ledger_destroy(ls->l[i]);
	free(ls->l);
	*ls = (struct sr_ledgers){0};
}

/* Hand the workers' ledgers and the corrections to the caller. */
static int take_ledgers(struct pipeline *p, struct sr_ledgers *out)
{
	int err = sr_ledger_seal(p->corrections);
	for (unsigned i = 0; i < p->nworkers && !err; i++)
		err = p->workers[i].seal_err;
	if (err)
		return err;
	out->l = calloc(p->nworkers + 1, sizeof(*out->l));
	if (!out->l)
		return SR_ENOMEM;
	for (unsigned i = 0; i < p->nworkers; i++) {
		out->l[out->n++] = p->workers[i].ctx.ledger;
		p->workers[i].ctx.ledger = NULL;
	}
	out->l[out->n++] = p->corrections;
	p->corrections = NULL;
	return 0;
}

int sr__pipeline_run(const struct sr_pipeline_config *cfg,
                     struct sr_run_stats *stats, struct sr_ledgers *ledgers,
                     struct sr_run_error *error)
{
	struct pipeline p = {.cfg = cfg, .stats = stats, .error = error};
	int err = setup(&p);
	if (err)
		fail(&p, err, cfg->rated_path, "cannot start the pipeline");
	if (!err)
		err = loop(&p);
	/* Every claim is made: free the duplicate set before the workers
	 * seal their ledgers, whose sorted copies would otherwise raise
	 * the peak by their size (355 to 326 MiB at 2 threads, 5M). */
	if (!err)
		sr__dedup_finish(&p.dedup);
	if (!err && p.dio.fd >= 0)
		err = direct_finish(&p);
	stop_workers(&p);
	if (!err)
		err = take_ledgers(&p, ledgers);
	if (err && !error->msg[0])
		fail(&p, err, cfg->rated_path, "rate");
	teardown(&p);
	return err;
}
