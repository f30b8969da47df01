/*
 * The row writer of follow: one thread that pwrite()s the rows the
 * follower formatted, so that the kernel's copy of them into the page
 * cache (a fifth of the follower's time on a backlog) runs beside the
 * rating instead of inside it. The follower hands over a full buffer and
 * takes an empty one from a small pool; every write lands at its own file
 * offset, so their order does not matter, only that they are done before
 * a commit fsyncs the files: each write has a sequence number and the
 * committer waits for the last one of its snapshot. The few rows of one
 * round of a live follower are written inline when nothing is queued.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "direct.h"
#include "follow.h"
#include "streamrate/error.h"

/* Bytes handed over and not yet written past which the follower waits. */
#define SR_WRITER_MAX  (64u << 20)
#define SR_WRITER_POOL 16
/* A round's rows up to this size are written inline when nothing is
 * queued: a live follower then shows them without a thread hop. */
#define SR_WRITER_INLINE (256u << 10)
/* Writes from this size on start their write-back at once. */
#define SR_WRITER_KICK (1u << 20)
/* Writes from this size on send their whole blocks to the device with
 * O_DIRECT, from an aligned copy. */
#define SR_WRITER_DIRECT (256u << 10)

struct task {
	int fd; /* a duplicate, closed when written */
	struct sr_buf buf;
	uint64_t off;
};

struct sr__writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct task *q; /* FIFO: q[head .. head + n) modulo cap */
	size_t head, n, cap;
	struct sr_buf pool[SR_WRITER_POOL];
	size_t npool;
	size_t queued;         /* bytes in q */
	uint64_t pushed, done; /* sequence numbers */
	int error;             /* the first failure */
	bool quit;
	bool buffered_only;    /* O_DIRECT refused once: no more tries */
	char *stage;           /* aligned copy of a direct write */
	size_t stage_cap;
};

static int pwrite_all(int fd, const char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/*
 * A large write: its whole 4 KiB blocks go to the device with O_DIRECT
 * from an aligned copy, the partial blocks at either end through the page
 * cache. On a backlog the kernel's copy of rows into the page cache was a
 * quarter of follow's CPU, where a memcpy costs a fraction of it (batch
 * rated.csv does the same). Direct and cached writes never share a
 * block: the ends of one write are the ends of its neighbours, all
 * cached. Any refusal of O_DIRECT (a file system without it) falls back
 * to plain writes, which give the same bytes.
 */
static int direct_fd(int fd)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
}

static int write_task(struct sr__writer *w, const struct task *t)
{
	const char *p = t->buf.data;
	uint64_t end = t->off + t->buf.len;
	uint64_t a = (t->off + SR_DIRECT_ALIGN - 1) & ~(uint64_t)(SR_DIRECT_ALIGN - 1);
	uint64_t b = end & ~(uint64_t)(SR_DIRECT_ALIGN - 1);
	if (w->buffered_only || t->buf.len < SR_WRITER_DIRECT || b <= a)
		return pwrite_all(t->fd, p, t->buf.len, t->off);
	size_t mid = (size_t)(b - a);
	if (w->stage_cap < mid) {
		free(w->stage);
		w->stage = aligned_alloc(SR_DIRECT_ALIGN, mid);
		w->stage_cap = w->stage ? mid : 0;
	}
	int dfd = w->stage ? direct_fd(t->fd) : -1;
	if (dfd < 0) {
		w->buffered_only = w->stage != NULL;
		return pwrite_all(t->fd, p, t->buf.len, t->off);
	}
	memcpy(w->stage, p + (a - t->off), mid);
	int err = pwrite_all(t->fd, p, (size_t)(a - t->off), t->off);
	if (!err) {
		ssize_t n = pwrite(dfd, w->stage, mid, (off_t)a);
		if (n != (ssize_t)mid) {
			/* Refused or short: the same bytes through the cache. */
			if (n < 0 && errno == EINVAL)
				w->buffered_only = true;
			err = pwrite_all(t->fd, p + (a - t->off), mid, a);
		}
	}
	if (!err)
		err = pwrite_all(t->fd, p + (b - t->off), (size_t)(end - b), b);
	close(dfd);
	return err;
}

/* Keep an emptied buffer for the follower, or free it. */
static void recycle(struct sr__writer *w, struct sr_buf *b)
{
	b->len = 0;
	if (w->npool < SR_WRITER_POOL)
		w->pool[w->npool++] = *b;
	else
		sr__buf_finish(b);
}

static void *writer_main(void *arg)
{
	struct sr__writer *w = arg;
	pthread_setname_np(pthread_self(), "sr-write"); /* for perf, top */
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->n && !w->quit)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->n)
			break;
		struct task t = w->q[w->head];
		pthread_mutex_unlock(&w->lock);
		int err = write_task(w, &t);
		/* Start the write-back of a large write without waiting for
		 * it: the next commit's fsync then finds little left to do
		 * (on a backlog, the last fsync held up the end by half a
		 * second). Only a hint; an error shows again at fsync. */
		if (!err && t.buf.len >= SR_WRITER_KICK)
			(void)sync_file_range(t.fd, (off_t)t.off,
			                      (off_t)t.buf.len,
			                      SYNC_FILE_RANGE_WRITE);
		close(t.fd);
		pthread_mutex_lock(&w->lock);
		w->head = (w->head + 1) % w->cap;
		w->n--;
		w->queued -= t.buf.len;
		w->done++;
		if (err && !w->error)
			w->error = err;
		recycle(w, &t.buf);
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int sr__writer_start(struct sr__writer **out)
{
	struct sr__writer *w = calloc(1, sizeof(*w));
	if (!w)
		return SR_ENOMEM;
	w->cap = 64;
	w->q = malloc(w->cap * sizeof(*w->q));
	if (!w->q)
		goto err_free;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->thread, NULL, writer_main, w))
		goto err_sync;
	*out = w;
	return 0;
err_sync:
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
err_free:
	free(w->q);
	free(w);
	return SR_ENOMEM;
}

/* Room for one more task (the lock held). */
static int grow_queue(struct sr__writer *w)
{
	if (w->n < w->cap)
		return 0;
	struct task *q = malloc(2 * w->cap * sizeof(*q));
	if (!q)
		return SR_ENOMEM;
	for (size_t i = 0; i < w->n; i++)
		q[i] = w->q[(w->head + i) % w->cap];
	free(w->q);
	w->q = q;
	w->head = 0;
	w->cap *= 2;
	return 0;
}

int sr__writer_push(struct sr__writer *w, int fd, struct sr_buf *b,
                    uint64_t off)
{
	int d = dup(fd);
	if (d < 0)
		return -errno;
	pthread_mutex_lock(&w->lock);
	while (w->queued > SR_WRITER_MAX && !w->error)
		pthread_cond_wait(&w->cond, &w->lock);
	int err = w->error ? w->error : grow_queue(w);
	if (!err) {
		w->q[(w->head + w->n++) % w->cap] = (struct task){d, *b, off};
		w->queued += b->len;
		w->pushed++;
		*b = w->npool ? w->pool[--w->npool] : (struct sr_buf){0};
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	if (err)
		close(d);
	return err;
}

int sr__writer_write(struct sr__writer *w, int fd, struct sr_buf *b,
                     uint64_t off)
{
	pthread_mutex_lock(&w->lock);
	bool idle = !w->n;
	int err = w->error;
	pthread_mutex_unlock(&w->lock);
	/* Only this thread pushes: an idle queue stays idle meanwhile, so an
	 * inline write never lands beyond a gap still queued. */
	if (err || !idle || b->len > SR_WRITER_INLINE)
		return err ? err : sr__writer_push(w, fd, b, off);
	err = pwrite_all(fd, b->data, b->len, off);
	b->len = 0;
	return err;
}

uint64_t sr__writer_pushed(struct sr__writer *w)
{
	pthread_mutex_lock(&w->lock);
	uint64_t n = w->pushed;
	pthread_mutex_unlock(&w->lock);
	return n;
}

int sr__writer_wait(struct sr__writer *w, uint64_t seq)
{
	pthread_mutex_lock(&w->lock);
	while (w->done < seq && !w->error)
		pthread_cond_wait(&w->cond, &w->lock);
	int err = w->error;
	pthread_mutex_unlock(&w->lock);
	return err;
}

void sr__writer_stop(struct sr__writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->quit = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	for (size_t i = 0; i < w->npool; i++)
		sr__buf_finish(&w->pool[i]);
	free(w->stage);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->q);
	free(w);
}
