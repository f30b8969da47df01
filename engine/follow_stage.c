/*
 * The pure stage of follow: everything a record needs before its
 * duplicate claim and its ledger total, and that depends on nothing but
 * the record, the input's header and the catalog view: splitting and
 * parsing (step 1), the period and the duplicate key, sr_rate() (steps 4
 * to 10) and the text of the rated row. Step 3 rejects a duplicate
 * whatever its rate outcome, so the follower can claim keys after the
 * rating and drop the row of a record that turns out a duplicate (or of a
 * closed period).
 *
 * A large job (a backlog read) runs on the stage's own thread, which
 * fills blocks of records into a ring of SR_STAGE_BLOCKS while the
 * follower takes them in input order; a small one (the few records of a
 * live read) runs on the calling thread, which keeps a live row's latency
 * free of thread hops. The ring is two counters, produced and consumed,
 * published with release stores; a side that finds nothing to do spins
 * briefly, then sleeps on a futex and asks to be woken only once a few
 * blocks are ready (or free), so that hand-overs come in batches instead
 * of a wake-up per block.
 */
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "barrier.h"
#include "follow.h"
#include "streamrate/error.h"
#include "streamrate/nginx.h"

#define SR_STAGE_BLOCKS 16
/* Jobs below this many bytes are staged on the calling thread. */
#define SR_STAGE_INLINE (64u << 10)
/* A sleeping follower wants this many blocks ready, a sleeping stage
 * this many free, before the other side wakes it. */
#define SR_STAGE_WAKE  4
#define SR_STAGE_SPINS 64

enum { WAITS_NONE, WAITS_JOB, WAITS_FREE };

/* The row format of one period. */
struct fmonth {
	int64_t month;
	struct sr_period period;
	struct sr_rowfmt fmt;
};

struct sr__stage {
	const struct sr__follow *f;
	struct sr__scratch sc;
	struct fmonth **months;
	size_t nmonths;
	struct fmonth *last;
	struct sr__block *blocks; /* the ring, then one for inline jobs */
	pthread_t thread;
	bool started;

	/* The job: written by the follower before it counts it in jobs. */
	const struct sr__input *in;
	const char *p;
	size_t n;
	bool eof;
	uint64_t line;

	/* Futex words and flags, each side's on its own cache line. */
	uint32_t jobs __attribute__((aligned(64)));     /* follower */
	uint32_t quit, abort;                           /* follower */
	uint32_t follower_waits, follower_want;         /* follower */
	uint32_t consumed __attribute__((aligned(64))); /* follower */
	uint32_t produced __attribute__((aligned(64))); /* stage */
	uint32_t stage_waits, stage_want;               /* stage */
};

static void futex_wait(uint32_t *word, uint32_t seen)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

static void futex_wake(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---- Staging records ---- */

/* Where one job's records come from. */
struct cursor {
	const struct sr__input *in;
	const char *p;
	size_t n, off;
	bool eof, done;
	uint64_t line;
};

/* The row format of month, made on first use; NULL when out of memory. */
static const struct sr_rowfmt *month_fmt(struct sr__stage *st, int64_t month)
{
	char text[8];
	if (st->last && st->last->month == month)
		return &st->last->fmt;
	for (size_t i = 0; i < st->nmonths; i++)
		if (st->months[i]->month == month)
			return &(st->last = st->months[i])->fmt;
	struct fmonth **a = realloc(st->months, (st->nmonths + 1) * sizeof(*a));
	if (!a)
		return NULL;
	st->months = a;
	struct fmonth *m = calloc(1, sizeof(*m));
	sr__month_text(month, text);
	if (!m || sr_period_init(&m->period, text) < 0 ||
	    sr__rowfmt_init(&m->fmt, st->f->cat, &m->period)) {
		if (m)
			sr__rowfmt_finish(&m->fmt);
		free(m);
		return NULL;
	}
	m->month = month;
	st->months[st->nmonths++] = m;
	return &(st->last = m)->fmt;
}

/* What the follower needs of a decoded record, but its rating. */
static void stage_one(struct sr__stage *st, const struct sr__record *r,
                      struct sr__staged *s, uint64_t line)
{
	*s = (struct sr__staged){.raw = r->raw,
	                         .raw_len = r->raw_len,
	                         .kind = (uint8_t)r->kind,
	                         .month = -1,
	                         .line = line};
	if (r->kind != SR_SPLIT_RECORD)
		return;
	s->parse = (uint8_t)r->why;
	if (r->why)
		return;
	int64_t month = sr__month_of(r->s.start);
	if (month < 12 || month > 9999 * 12 + 11)
		return;
	s->month = (int32_t)month;
	s->key = sr__follow_key(&r->s, month);
}

/* Decode the next record into r and s; false (and c->done) when no
 * complete record is left. */
static bool decode_one(struct sr__stage *st, struct cursor *c, unsigned slot,
                       struct sr__record *r, struct sr__staged *s)
{
	const struct sr__follow *f = st->f;
	if (c->off < c->n)
		f->dec->next(f, c->in, &st->sc, c->p + c->off, c->n - c->off,
		             c->eof, slot, r);
	if (c->off >= c->n || r->kind == SR_SPLIT_MORE) {
		c->done = true;
		return false;
	}
	stage_one(st, r, s, c->line);
	if (s->month >= 0)
		r->sub_hash = sr_catalog_id_hash(r->s.subscriber_id.ptr,
		                                 r->s.subscriber_id.len);
	c->off += r->consumed;
	c->line += r->lines;
	return true;
}

/* Step step of the subscriber lookup's prefetches for a record to rate. */
static void prefetch(struct sr__stage *st, const struct sr__record *r,
                     const struct sr__staged *s, int step)
{
	if (s->month >= 0)
		sr_catalog_prefetch_subscriber(st->f->cat, r->sub_hash, step);
}

/* Rate a record of a known period and format its row. */
static int rate_one(struct sr__stage *st, const struct sr__record *r,
                    struct sr__staged *s, struct sr_buf *text)
{
	struct sr_rated o;
	struct sr_subscriber view;
	if (s->month < 0)
		return 0;
	const struct sr_subscriber *sub = sr_catalog_subscriber_h(
	    st->f->cat, r->s.subscriber_id.ptr, r->s.subscriber_id.len,
	    r->sub_hash, &view);
	s->why = (uint8_t)sr_rate_for(
	    st->f->cat, &r->s, sub,
	    sr_catalog_content(st->f->cat, r->s.content_id.ptr,
	                       r->s.content_id.len),
	    &o);
	if (s->why)
		return 0;
	const struct sr_rowfmt *fmt = month_fmt(st, s->month);
	size_t before = text->len;
	int err = fmt ? sr__emit_rated(text, fmt, &r->s, &o) : SR_ENOMEM;
	if (err)
		return err;
	s->row_len = (uint32_t)(text->len - before);
	s->subscriber = o.subscriber->index;
	s->ppv = o.content->ppv;
	s->item =
	    o.content->ppv ? (const void *)o.content : (const void *)o.rate;
	s->units = o.units;
	return 0;
}

/*
 * Stage the next block of the job at c into b. A record goes through the
 * subscriber lookup's two prefetch steps (catalog.h) a few records
 * apart before it is rated, so that their cache misses overlap with the
 * work on the records in between; it keeps its decoder slot until then
 * (SR_LAG_RATE < SR_FOLLOW_BATCH).
 */
#define SR_LAG_STEP 4
#define SR_LAG_RATE (2 * SR_LAG_STEP)
static void fill(struct sr__stage *st, struct cursor *c, struct sr__block *b)
{
	struct sr__record r[SR_FOLLOW_BATCH];
	struct sr__staged *s = b->rec;
	size_t from = c->off;
	unsigned n = 0, a1 = 0, a2 = 0;
	b->text.len = 0;
	b->err = 0;
	for (;;) {
		bool drain = c->done || n == SR_STAGE_RECORDS;
		if (!drain && decode_one(st, c, n % SR_FOLLOW_BATCH,
		                         &r[n % SR_FOLLOW_BATCH], &s[n])) {
			prefetch(st, &r[n % SR_FOLLOW_BATCH], &s[n], 0);
			n++;
		}
		drain = c->done || n == SR_STAGE_RECORDS;
		if (a1 < n && (drain || n - a1 > SR_LAG_STEP)) {
			prefetch(st, &r[a1 % SR_FOLLOW_BATCH], &s[a1], 1);
			a1++;
		}
		if (a2 < a1 && (drain || n - a2 > SR_LAG_RATE)) {
			b->err = rate_one(st, &r[a2 % SR_FOLLOW_BATCH], &s[a2],
			                  &b->text);
			a2++;
		}
		if (b->err || (drain && a2 == n))
			break;
	}
	b->n = n;
	b->consumed = c->off - from;
	b->line = c->line;
	b->last = c->done || b->err;
}

/* ---- The ring ---- */

/* Stage: wait for a job past seen (or quit); its count. */
static uint32_t await_job(struct sr__stage *st, uint32_t seen)
{
	for (unsigned spin = 0;; spin++) {
		uint32_t j = sr__load_acquire(&st->jobs);
		if (j != seen || sr__load_acquire(&st->quit))
			return j;
		if (spin < SR_STAGE_SPINS) {
			sr__cpu_relax();
			continue;
		}
		sr__store_relaxed(&st->stage_waits, WAITS_JOB);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (sr__load_acquire(&st->jobs) == seen &&
		    !sr__load_acquire(&st->quit))
			futex_wait(&st->jobs, seen);
		sr__store_relaxed(&st->stage_waits, WAITS_NONE);
	}
}

/* Stage: wait until the block at produced is free. */
static void await_free(struct sr__stage *st, uint32_t produced)
{
	for (unsigned spin = 0;; spin++) {
		uint32_t c = sr__load_acquire(&st->consumed);
		if (produced - c < SR_STAGE_BLOCKS)
			return;
		if (spin < SR_STAGE_SPINS) {
			sr__cpu_relax();
			continue;
		}
		sr__store_relaxed(&st->stage_want,
		                  produced - SR_STAGE_BLOCKS + SR_STAGE_WAKE);
		sr__store_relaxed(&st->stage_waits, WAITS_FREE);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (sr__load_acquire(&st->consumed) == c)
			futex_wait(&st->consumed, c);
		sr__store_relaxed(&st->stage_waits, WAITS_NONE);
	}
}

/* Stage: hand the block before produced over. */
static void publish(struct sr__stage *st, uint32_t produced, bool last)
{
	sr__store_release(&st->produced, produced);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (sr__load_relaxed(&st->follower_waits) &&
	    (last ||
	     (int32_t)(produced - sr__load_relaxed(&st->follower_want)) >= 0))
		futex_wake(&st->produced);
}

/* Follower: wait until the block at consumed is ready. */
static void await_block(struct sr__stage *st, uint32_t consumed)
{
	for (unsigned spin = 0;; spin++) {
		uint32_t p = sr__load_acquire(&st->produced);
		if (p != consumed)
			return;
		if (spin < SR_STAGE_SPINS) {
			sr__cpu_relax();
			continue;
		}
		sr__store_relaxed(&st->follower_want, consumed + SR_STAGE_WAKE);
		sr__store_relaxed(&st->follower_waits, 1);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (sr__load_acquire(&st->produced) == p)
			futex_wait(&st->produced, p);
		sr__store_relaxed(&st->follower_waits, 0);
	}
}

/* Follower: give the block before consumed back. */
static void release(struct sr__stage *st, uint32_t consumed)
{
	sr__store_release(&st->consumed, consumed);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (sr__load_relaxed(&st->stage_waits) == WAITS_FREE &&
	    (int32_t)(consumed - sr__load_relaxed(&st->stage_want)) >= 0)
		futex_wake(&st->consumed);
}

static void *stage_main(void *arg)
{
	struct sr__stage *st = arg;
	pthread_setname_np(pthread_self(), "sr-stage"); /* for perf, top */
	uint32_t seen = 0, produced = 0;
	for (;;) {
		seen = await_job(st, seen);
		if (sr__load_acquire(&st->quit))
			break;
		struct cursor c = {.in = st->in,
		                   .p = st->p,
		                   .n = st->n,
		                   .eof = st->eof,
		                   .line = st->line};
		bool last;
		do {
			await_free(st, produced);
			struct sr__block *b =
			    &st->blocks[produced % SR_STAGE_BLOCKS];
			if (sr__load_relaxed(&st->abort)) {
				c.done = true;
				c.off = c.n;
			}
			fill(st, &c, b);
			last = b->last;
			publish(st, ++produced, last);
		} while (!last);
	}
	return NULL;
}

/* ---- Jobs ---- */

static int run_inline(struct sr__stage *st, struct cursor *c,
                      int (*take)(void *ctx, const struct sr__block *b),
                      void *ctx)
{
	struct sr__block *b = &st->blocks[SR_STAGE_BLOCKS];
	int err = 0;
	while (!c->done && !err) {
		fill(st, c, b);
		err = b->err ? b->err : b->n ? take(ctx, b) : 0;
	}
	return err;
}

static int run_thread(struct sr__stage *st,
                      int (*take)(void *ctx, const struct sr__block *b),
                      void *ctx)
{
	uint32_t consumed = sr__load_relaxed(&st->consumed);
	int err = 0;
	sr__store_relaxed(&st->abort, 0);
	sr__store_release(&st->jobs, sr__load_relaxed(&st->jobs) + 1);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (sr__load_relaxed(&st->stage_waits) == WAITS_JOB)
		futex_wake(&st->jobs);
	for (bool last = false; !last;) {
		await_block(st, consumed);
		const struct sr__block *b =
		    &st->blocks[consumed % SR_STAGE_BLOCKS];
		last = b->last;
		if (!err)
			err = b->err ? b->err : b->n ? take(ctx, b) : 0;
		if (err)
			sr__store_relaxed(&st->abort, 1);
		release(st, ++consumed);
	}
	return err;
}

int sr__stage_run(struct sr__stage *st, const struct sr__input *in,
                  const char *p, size_t n, bool eof, uint64_t line,
                  int (*take)(void *ctx, const struct sr__block *b), void *ctx)
{
	if (n < SR_STAGE_INLINE || !st->started) {
		struct cursor c = {
		    .in = in, .p = p, .n = n, .eof = eof, .line = line};
		return run_inline(st, &c, take, ctx);
	}
	st->in = in;
	st->p = p;
	st->n = n;
	st->eof = eof;
	st->line = line;
	return run_thread(st, take, ctx);
}

/* ---- Lifecycle ---- */

int sr__stage_start(struct sr__stage **out, const struct sr__follow *f)
{
	struct sr__stage *st = aligned_alloc(64, sizeof(*st));
	if (!st)
		return SR_ENOMEM;
	*st = (struct sr__stage){.f = f};
	st->sc.fields = calloc(SR_FOLLOW_FIELDS, sizeof(*st->sc.fields));
	st->sc.bytes = malloc((size_t)SR_FOLLOW_BATCH * SR_SCRATCH_SIZE);
	st->blocks = calloc(SR_STAGE_BLOCKS + 1, sizeof(*st->blocks));
	if (f->dec == &sr__nginx_decoder)
		st->sc.ngx = malloc(SR_FOLLOW_BATCH * sizeof(*st->sc.ngx));
	if (!st->sc.fields || !st->sc.bytes || !st->blocks ||
	    (f->dec == &sr__nginx_decoder && !st->sc.ngx)) {
		sr__stage_stop(st);
		return SR_ENOMEM;
	}
	st->started = pthread_create(&st->thread, NULL, stage_main, st) == 0;
	if (!st->started) {
		sr__stage_stop(st);
		return SR_ENOMEM;
	}
	*out = st;
	return 0;
}

void sr__stage_stop(struct sr__stage *st)
{
	if (!st)
		return;
	if (st->started) {
		sr__store_release(&st->quit, 1);
		sr__store_release(&st->jobs, sr__load_relaxed(&st->jobs) + 1);
		futex_wake(&st->jobs);
		pthread_join(st->thread, NULL);
	}
	for (size_t i = 0; st->blocks && i <= SR_STAGE_BLOCKS; i++)
		sr__buf_finish(&st->blocks[i].text);
	for (size_t i = 0; i < st->nmonths; i++) {
		sr__rowfmt_finish(&st->months[i]->fmt);
		free(st->months[i]);
	}
	free(st->months);
	free(st->blocks);
	free(st->sc.fields);
	free(st->sc.bytes);
	free(st->sc.ngx);
	free(st);
}
