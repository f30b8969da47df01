/*
 * Commits of follow, off the reading thread. A commit costs a few fsyncs
 * (the output files, LMDB's data pages) that take tens of milliseconds on
 * ordinary disks; done inline they would hold up the rows of every record
 * appended meanwhile. So the follower takes a snapshot of what to commit
 * (struct sr__job) and hands it to one committer thread, which makes the
 * rows durable and then writes the snapshot's offsets, sizes, keys and
 * totals in one LMDB write transaction. One job is in flight at a time:
 * handing over the next waits for the previous, so commits stay in order.
 *
 * The order that makes a crash harmless holds per job: the rows up to the
 * recorded sizes are fsynced before the transaction that records them.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "follow.h"
#include "streamrate/error.h"

/* ---- Jobs ---- */

void sr__job_free(struct sr__job *job)
{
	if (!job)
		return;
	for (size_t i = 0; i < job->nfds; i++)
		close(job->fds[i]);
	for (size_t i = 0; i < job->nputs; i++)
		free(job->puts[i].path);
	for (size_t i = 0; i < job->ndels; i++)
		free(job->dels[i]);
	free(job->fds);
	free(job->puts);
	free(job->dels);
	free(job->outs);
	sr__buf_finish(&job->keys);
	sr__buf_finish(&job->raw);
	free(job->periods);
	free(job);
}

/* Room for one more element of an array of size bytes each. */
static int room(void *pp, size_t *cap, size_t n, size_t size)
{
	void **p = pp;
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 16;
	void *m = realloc(*p, c * size);
	if (!m)
		return SR_ENOMEM;
	*p = m;
	*cap = c;
	return 0;
}

int sr__job_fd(struct sr__job *job, int fd)
{
	int err = room(&job->fds, &job->fds_cap, job->nfds, sizeof(int));
	if (err)
		return err;
	int d = dup(fd);
	if (d < 0)
		return -errno;
	job->fds[job->nfds++] = d;
	return 0;
}

int sr__job_del(struct sr__job *job, const char *path)
{
	int err = room(&job->dels, &job->dels_cap, job->ndels, sizeof(char *));
	char *p = err ? NULL : strdup(path);
	if (!p)
		return SR_ENOMEM;
	job->dels[job->ndels++] = p;
	return 0;
}

int sr__job_put(struct sr__job *job, const char *path,
                const struct sr__input_state *st)
{
	int err =
	    room(&job->puts, &job->puts_cap, job->nputs, sizeof(*job->puts));
	char *p = err ? NULL : strdup(path);
	if (!p)
		return SR_ENOMEM;
	job->puts[job->nputs++] = (struct sr__job_input){p, *st};
	return 0;
}

int sr__job_output(struct sr__job *job, const char *name, uint64_t size)
{
	int err =
	    room(&job->outs, &job->outs_cap, job->nouts, sizeof(*job->outs));
	if (err)
		return err;
	struct sr__job_output *o = &job->outs[job->nouts++];
	snprintf(o->name, sizeof(o->name), "%s", name);
	o->size = size;
	return 0;
}

/* ---- Running a job ---- */

static int job_fail(struct sr__job *job, int code, const char *path,
                    const char *what)
{
	snprintf(job->err.path, sizeof(job->err.path), "%s", path);
	snprintf(job->err.msg, sizeof(job->err.msg), "%s: %s", what,
	         sr_strerror(code));
	return code;
}

/* The rows up to the recorded sizes, on disk. */
static int job_sync(struct sr__job *job)
{
	int err = sr__writer_wait(job->writer, job->wseq);
	if (err)
		return job_fail(job, err, job->dir, "write");
	for (size_t i = 0; i < job->nfds; i++)
		if (fsync(job->fds[i]) < 0)
			return job_fail(job, -errno, job->dir, "fsync");
	if (!job->sync_dir)
		return 0;
	int d = open(job->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	err = d < 0 || fsync(d) < 0 ? -errno : 0;
	if (d >= 0)
		close(d);
	return err ? job_fail(job, err, job->dir, "fsync") : 0;
}

/* Was a period this job counts records for closed meanwhile? */
static int closed_meanwhile(struct sr__state *st, const struct sr__job *job)
{
	for (size_t i = 0; i < job->nperiods; i++) {
		int err = sr__state_closed_get(st, job->periods[i]);
		if (err != SR_ENOTFOUND)
			return err ? err : SR__RESTART;
	}
	return 0;
}

/*
 * The committer's own buffers, reused from job to job, as the follower
 * reuses the keys and raw deltas of the job before (the spares). On the
 * 2-vCPU VM measured, a fresh page costs 0.15 ms/MiB to fault in when
 * the host already backs it and up to 2.2 ms/MiB when it does not, and a
 * backlog commit's arrays are tens of MiB.
 */
struct scratch {
	struct sr_buf tmp, deltas, block, done;
};

static void scratch_free(struct scratch *s)
{
	sr__buf_finish(&s->tmp);
	sr__buf_finish(&s->deltas);
	sr__buf_finish(&s->block);
	sr__buf_finish(&s->done);
}

/* The job's keys, gathered by period (a commit holds few periods). */
static int append_keys(struct sr__state *st, const struct sr__job *job,
                       struct scratch *s)
{
	const struct sr__mkey *keys = (const void *)job->keys.data;
	size_t nkeys = job->nkeys;
	if (sr__buf_reserve(&s->block, (nkeys + 1) * sizeof(struct sr_key128)) ||
	    sr__buf_reserve(&s->done, nkeys + 1))
		return SR_ENOMEM;
	struct sr_key128 *block = (void *)s->block.data;
	bool *done = (void *)s->done.data;
	memset(done, 0, nkeys);
	int err = 0;
	for (size_t i = 0; i < nkeys && !err; i++) {
		if (done[i])
			continue;
		size_t n = 0;
		for (size_t j = i; j < nkeys; j++) {
			if (done[j] || keys[j].month != keys[i].month)
				continue;
			block[n++] = keys[j].k;
			done[j] = true;
		}
		char text[8];
		sr__month_text(keys[i].month, text);
		err = sr__state_keys_append(st, text, block, n);
	}
	return err;
}

static int job_apply(struct sr__state *st, const struct sr__job *job,
                     struct scratch *s)
{
	int err = closed_meanwhile(st, job);
	/* Forgotten paths first: a new file may reuse an old name. */
	for (size_t i = 0; i < job->ndels && !err; i++)
		err = sr__state_input_del(st, job->dels[i]);
	for (size_t i = 0; i < job->nputs && !err; i++)
		err = sr__state_input_put(st, job->puts[i].path,
		                          &job->puts[i].st);
	for (size_t i = 0; i < job->nouts && !err; i++)
		err = sr__state_output_put(st, job->outs[i].name,
		                           job->outs[i].size);
	if (!err)
		err = append_keys(st, job, s);
	if (!err)
		err = sr__state_ledger_add(st, job->deltas, job->ndeltas);
	return err;
}

static int job_run(struct sr__state *st, struct sr__job *job,
                   struct scratch *s)
{
	int err = sr__rate_job_deltas(job, &s->tmp, &s->deltas);
	if (!err)
		err = job_sync(job);
	if (err)
		return err;
	err = sr__state_begin(st, true);
	if (!err)
		err = job_apply(st, job, s);
	if (!err)
		err = sr__state_commit(st);
	sr__state_abort(st);
	if (err && err != SR__RESTART)
		job_fail(job, err, job->dir, "commit");
	return err;
}

/* ---- The committer thread ---- */

struct sr__committer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct sr__state *st;
	struct sr__job *job; /* in flight, or done and not yet collected */
	bool done, quit;
	struct scratch scratch;       /* the committer thread's */
	struct sr_buf spare_keys, spare_raw; /* the follower's */
};

static void *committer_main(void *arg)
{
	struct sr__committer *c = arg;
	pthread_setname_np(pthread_self(), "sr-commit"); /* for perf, top */
	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->quit && (!c->job || c->done))
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->quit)
			break;
		struct sr__job *job = c->job;
		pthread_mutex_unlock(&c->lock);
		job->result = job_run(c->st, job, &c->scratch);
		pthread_mutex_lock(&c->lock);
		c->done = true;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int sr__committer_start(struct sr__committer **out, struct sr__state *st)
{
	struct sr__committer *c = calloc(1, sizeof(*c));
	if (!c)
		return SR_ENOMEM;
	int err = sr__state_fork(st, &c->st);
	if (err)
		goto err_free;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (pthread_create(&c->thread, NULL, committer_main, c)) {
		err = SR_ENOMEM;
		goto err_sync;
	}
	*out = c;
	return 0;
err_sync:
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	sr__state_close(c->st);
err_free:
	free(c);
	return err;
}

int sr__committer_wait(struct sr__committer *c,
                       struct sr_follow_stats *committed,
                       struct sr_run_error *err)
{
	pthread_mutex_lock(&c->lock);
	while (c->job && !c->done)
		pthread_cond_wait(&c->cond, &c->lock);
	struct sr__job *job = c->job;
	c->job = NULL;
	c->done = false;
	pthread_mutex_unlock(&c->lock);
	if (!job)
		return 0;
	int result = job->result;
	if (!result && committed)
		*committed = job->stats;
	if (result && result != SR__RESTART && err)
		*err = job->err;
	if (!c->spare_keys.data) {
		c->spare_keys = job->keys;
		job->keys = (struct sr_buf){0};
	}
	if (!c->spare_raw.data) {
		c->spare_raw = job->raw;
		job->raw = (struct sr_buf){0};
	}
	sr__job_free(job);
	return result;
}

void sr__committer_spares(struct sr__committer *c, struct sr_buf *keys,
                          struct sr_buf *raw)
{
	*keys = c->spare_keys;
	*raw = c->spare_raw;
	c->spare_keys = c->spare_raw = (struct sr_buf){0};
}

bool sr__committer_busy(struct sr__committer *c)
{
	pthread_mutex_lock(&c->lock);
	bool busy = c->job && !c->done;
	pthread_mutex_unlock(&c->lock);
	return busy;
}

int sr__committer_post(struct sr__committer *c, struct sr__job *job,
                       struct sr_follow_stats *committed,
                       struct sr_run_error *err)
{
	int result = sr__committer_wait(c, committed, err);
	if (result) {
		sr__job_free(job);
		return result;
	}
	pthread_mutex_lock(&c->lock);
	c->job = job;
	c->done = false;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void sr__committer_stop(struct sr__committer *c)
{
	if (!c)
		return;
	sr__committer_wait(c, NULL, NULL);
	pthread_mutex_lock(&c->lock);
	c->quit = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	sr__state_close(c->st);
	scratch_free(&c->scratch);
	sr__buf_finish(&c->spare_keys);
	sr__buf_finish(&c->spare_raw);
	free(c);
}
