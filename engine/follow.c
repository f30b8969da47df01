/*
 * The follow loop. A session of it opens the catalog and the state, cuts
 * the outputs back to the last commit, loads the duplicate keys, resumes
 * every input, and then repeats: read and rate what each input has (in
 * input order, a directory's files by name), write the rows out so they
 * show within milliseconds, commit when one is due, wait for inotify (or
 * the poll interval) when nothing is left.
 *
 * A commit writes and fsyncs the rows, then records in one LMDB write
 * transaction the new input offsets, output sizes, duplicate keys and
 * ledger deltas. Killed between the two, the next session cuts the rows
 * back and rates the same records again: nothing lost, nothing counted
 * twice. If `close` closed a period that this commit counts records for,
 * the transaction is dropped and the session starts over from the state,
 * where those records then meet the closed period.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog_rows.h"
#include "follow.h"
#include "streamrate/error.h"
#include "streamrate/nginx.h"

/* Buffered rows past this are written out without waiting for a round.
 * Small enough to be handed to the writer while still in cache: on the
 * bench backlog (5M records), 8 MiB took 2.13-2.55 s, 2 MiB 2.00-2.10 s
 * and 1 MiB 2.02-2.10 s (5 runs each, alternated). */
#define SR_WRITE_AT (2u << 20)
#define SR_FIELDS   1024

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct session {
	struct sr__follow f;
	int lock_fd;
	uint64_t last_commit;
	uint64_t commit_ns;
	struct sr_follow_stats committed; /* stats as of the last commit */
	struct sr__committer *committer;
	int64_t catalog_stamp;    /* of the catalog the view was built from */
	uint64_t catalog_checked; /* when it was last looked at */
	const char *restart;      /* why the session starts over */
};

void sr__follow_event(struct sr__follow *f, enum sr_follow_event ev,
                      const char *path, uint64_t line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	if (!f->cfg->event)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	f->cfg->event(f->cfg->event_ctx, ev, path, line, msg);
}

int sr__follow_fail(struct sr__follow *f, int code, const char *path,
                    uint64_t line, const char *fmt, ...)
{
	va_list ap;
	snprintf(f->err->path, sizeof(f->err->path), "%s", path ? path : "");
	f->err->line = line;
	va_start(ap, fmt);
	vsnprintf(f->err->msg, sizeof(f->err->msg), fmt, ap);
	va_end(ap);
	return code;
}

static bool stopping(const struct sr__follow *f)
{
	return f->cfg->stop && *f->cfg->stop;
}

/* ---- Commit ---- */

/* The open periods this commit counts records for: the committer checks
 * that `close` did not close one meanwhile. */
static int touched_periods(struct sr__follow *f, struct sr__job *job)
{
	job->periods = malloc((f->outs.n + 1) * sizeof(*job->periods));
	if (!job->periods)
		return SR_ENOMEM;
	for (size_t i = 0; i < f->outs.n; i++) {
		struct sr__fperiod *p = f->outs.p[i];
		if (p->touched && !p->closed)
			memcpy(job->periods[job->nperiods++], p->period.text,
			       8);
		p->touched = false;
	}
	return 0;
}

/* Write the rows out, take a snapshot of what they commit and hand it to
 * the committer; with wait, until it is durable. */
static int commit(struct session *s, bool wait)
{
	struct sr__follow *f = &s->f;
	/* The previous job first: its buffers are this one's. */
	int err = sr__committer_wait(s->committer, &s->committed, f->err);
	if (err)
		return err;
	struct sr_buf keys, raw;
	sr__committer_spares(s->committer, &keys, &raw);
	struct sr__job *job = calloc(1, sizeof(*job));
	err = job ? sr__fouts_write(&f->outs, f->err) : SR_ENOMEM;
	if (!err) {
		f->stats->commits++;
		job->stats = *f->stats;
		err = touched_periods(f, job);
	}
	if (!err)
		err = sr__fouts_snapshot(&f->outs, job);
	if (!err)
		err = sr__inputs_snapshot(f, job);
	if (!err)
		err = sr__rate_snapshot(f, job, &keys, &raw);
	sr__buf_finish(&keys); /* left when the snapshot was not taken */
	sr__buf_finish(&raw);
	if (err) {
		sr__job_free(job);
		return f->err->msg[0] ? err
		                      : sr__follow_fail(f, err, f->cfg->out, 0,
		                                        "%s", sr_strerror(err));
	}
	err = sr__committer_post(s->committer, job, &s->committed, f->err);
	f->pending = false;
	s->last_commit = now_ns();
	if (!err && wait)
		err = sr__committer_wait(s->committer, &s->committed, f->err);
	return err;
}

int sr__follow_maybe_commit(struct sr__follow *f, bool backlog)
{
	struct session *s = (struct session *)f;
	uint64_t every = s->commit_ns;
	if (backlog && every < SR_BACKLOG_COMMIT_MS * 1000000ull)
		every = SR_BACKLOG_COMMIT_MS * 1000000ull;
	/* A commit still running (slow fsyncs) delays the next one rather
	 * than the reading: the next snapshot simply holds more. */
	if (f->pending && now_ns() - s->last_commit >= every &&
	    !sr__committer_busy(s->committer))
		return commit(s, false);
	if (f->outs.buffered > SR_WRITE_AT)
		return sr__fouts_write(&f->outs, f->err);
	return 0;
}

/* ---- Setup ---- */

static int take_lock(struct session *s)
{
	const char *dir = s->f.cfg->state;
	char path[PATH_MAX];
	int err = sr__mkdirs(dir);
	if (err)
		return sr__follow_fail(&s->f, err, dir, 0, "%s",
		                       sr_strerror(err));
	snprintf(path, sizeof(path), "%s/follow.lock", dir);
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lock_fd < 0)
		return sr__follow_fail(&s->f, -errno, path, 0, "%s",
		                       strerror(errno));
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return sr__follow_fail(&s->f, -EWOULDBLOCK, dir, 0,
		                       "another follow is using this state");
	return 0;
}

/* The state belongs to one output directory: refuse another. */
static int check_out_dir(struct sr__follow *f)
{
	char real[PATH_MAX];
	struct sr_str had;
	int err = sr__mkdirs(f->cfg->out);
	if (err || !realpath(f->cfg->out, real))
		return sr__follow_fail(
		    f, err ? err : -errno, f->cfg->out, 0, "%s",
		    err ? sr_strerror(err) : strerror(errno));
	err = sr__state_begin(f->state, true);
	if (!err)
		err = sr__state_meta_get(f->state, "out", &had);
	if (!err && (had.len != strlen(real) || memcmp(had.ptr, real, had.len)))
		return sr__follow_fail(f, SR_EINVAL, f->cfg->state, 0,
		                       "this state belongs to output directory "
		                       "%.*s",
		                       (int)had.len, had.ptr);
	if (err == SR_ENOTFOUND)
		err = sr__state_meta_put(
		    f->state, "out",
		    (struct sr_str){real, (uint32_t)strlen(real)});
	if (!err)
		err = sr__state_commit(f->state);
	return err ? sr__follow_fail(f, err, f->cfg->state, 0, "%s",
	                             sr_strerror(err))
	           : 0;
}

/* When the catalog's data file changed last (a load commits there). */
static int64_t catalog_stamp(const char *db)
{
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof(path), "%s/data.mdb", db);
	if (stat(path, &st) < 0)
		return 0;
	return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

static int open_catalog(struct session *s)
{
	struct sr__follow *f = &s->f;
	s->catalog_stamp = catalog_stamp(f->cfg->db);
	s->catalog_checked = now_ns();
	int err = sr_catalog_open(f->cfg->db, &f->cat);
	if (err == -ENOENT || err == -ENOTDIR)
		err = SR_ENOCATALOG;
	if (err)
		return sr__follow_fail(f, err, f->cfg->db, 0,
		                       "cannot open catalog: %s",
		                       sr_strerror(err));
	return 0;
}

/* A watch on dir for the events that matter; -1 when it cannot be. */
static int watch(struct sr__follow *f, const char *dir)
{
	if (f->ino_fd < 0)
		return -1;
	return inotify_add_watch(f->ino_fd, dir,
	                         IN_MODIFY | IN_CREATE | IN_MOVED_TO |
	                             IN_MOVED_FROM | IN_DELETE |
	                             IN_CLOSE_WRITE | IN_ATTRIB);
}

/* Followed directories, and watches on them and on files' directories. */
static int setup_watches(struct sr__follow *f)
{
	const struct sr_follow_config *cfg = f->cfg;
	f->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	f->dirs = calloc(cfg->npaths, sizeof(*f->dirs));
	if (!f->dirs)
		return SR_ENOMEM;
	for (unsigned i = 0; i < cfg->npaths; i++) {
		struct stat st;
		const char *p = cfg->paths[i];
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			struct sr__dirw *d = &f->dirs[f->ndirs++];
			if (!(d->path = strdup(p)))
				return SR_ENOMEM;
			d->wd = watch(f, p);
			d->rescan = true;
			continue;
		}
		char *copy = strdup(p);
		if (!copy)
			return SR_ENOMEM;
		watch(f, dirname(copy)); /* files: events of their directory */
		free(copy);
	}
	return 0;
}

static int setup(struct session *s)
{
	struct sr__follow *f = &s->f;
	int err = take_lock(s);
	if (!err)
		err = open_catalog(s);
	if (!err && (err = sr__state_open(f->cfg->state, true, &f->state)))
		sr__follow_fail(f, err, f->cfg->state, 0, "%s",
		                sr_strerror(err));
	if (!err)
		err = check_out_dir(f);
	if (!err)
		err = sr__fouts_init(&f->outs, f->cfg->out, f->cat);
	if (!err)
		err = setup_watches(f);
	if (!err)
		err = sr__state_begin(f->state, false);
	if (!err)
		err = sr__fouts_recover(&f->outs, f->state, f->err);
	if (!err)
		err = sr__inputs_setup(f);
	sr__state_abort(f->state);
	if (!err)
		err = sr__dirs_scan(f, true);
	/* Records of a session file take about 100 bytes. */
	if (!err && !(err = sr__state_begin(f->state, false)))
		err = sr__rate_load(f, (size_t)(sr__inputs_backlog(f) / 100));
	sr__state_abort(f->state);
	if (!err)
		err = sr__committer_start(&s->committer, f->state);
	if (!err)
		err = sr__stage_start(&f->stage, f);
	return err;
}

static void teardown(struct session *s)
{
	struct sr__follow *f = &s->f;
	sr__committer_stop(s->committer); /* uses what follows */
	sr__stage_stop(f->stage);
	sr__inputs_finish(f);
	for (size_t i = 0; i < f->ndirs; i++)
		free(f->dirs[i].path);
	free(f->dirs);
	if (f->ino_fd >= 0)
		close(f->ino_fd);
	sr__rate_finish(f);
	sr__fouts_finish(&f->outs);
	sr__state_close(f->state);
	sr_catalog_close(f->cat);
	free(f->fields);
	free(f->scratch);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
}

/* ---- Waiting ---- */

/* Read the pending inotify events; mark directories to scan again. */
static void take_events(struct sr__follow *f)
{
	char buf[16384] __attribute__((aligned(8)));
	ssize_t n;
	while ((n = read(f->ino_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const void *)p;
			for (size_t d = 0; d < f->ndirs; d++)
				if (e->wd == f->dirs[d].wd ||
				    (e->mask & IN_Q_OVERFLOW))
					f->dirs[d].rescan |=
					    !(e->mask &
					      (IN_MODIFY | IN_CLOSE_WRITE));
			p += sizeof(*e) + e->len;
		}
	}
}

/* Sleep until an event, the next commit or the poll interval. */
static void wait_events(struct session *s, unsigned poll_ms)
{
	struct sr__follow *f = &s->f;
	int64_t ms = poll_ms;
	if (f->pending) {
		int64_t left =
		    (int64_t)(s->last_commit + s->commit_ns - now_ns());
		left = left > 0 ? left / 1000000 + 1 : 0;
		ms = left < ms ? left : ms;
	}
	struct pollfd p = {.fd = f->ino_fd, .events = POLLIN};
	int r = poll(&p, f->ino_fd >= 0, (int)ms);
	if (r > 0)
		take_events(f);
	else if (r == 0)
		for (size_t d = 0; d < f->ndirs; d++)
			f->dirs[d].rescan = true; /* a timeout: look anyway */
	for (size_t d = 0; d < f->ndirs; d++)
		if (f->dirs[d].wd < 0)
			f->dirs[d].wd = watch(f, f->dirs[d].path);
}

/* ---- The loop ---- */

/* Read and rate every input once; *progress when something was rated. */
static int round_all(struct session *s, bool *progress)
{
	struct sr__follow *f = &s->f;
	size_t before = f->nin;
	int err = 0;
	for (size_t i = 0; i < f->nin && !err && !stopping(f); i++)
		err = sr__input_pump(f, i, progress);
	if (!err)
		err = sr__dirs_scan(f, false);
	*progress |= f->nin != before;
	if (!err)
		err = sr__fouts_write(&f->outs, f->err);
	if (!err)
		err = sr__follow_maybe_commit(f, false);
	return err;
}

/* A catalog loaded since the view was built: commit, then start over
 * with a view of the new one. */
static bool catalog_changed(struct session *s, unsigned poll_ms)
{
	uint64_t t = now_ns();
	if (t - s->catalog_checked < (uint64_t)poll_ms * 1000000u)
		return false;
	s->catalog_checked = t;
	return catalog_stamp(s->f.cfg->db) != s->catalog_stamp;
}

static int follow_loop(struct session *s)
{
	struct sr__follow *f = &s->f;
	const struct sr_follow_config *cfg = f->cfg;
	unsigned poll_ms = cfg->poll_ms ? cfg->poll_ms : 250;
	int err = 0;
	for (;;) {
		bool progress = false;
		err = round_all(s, &progress);
		if (err)
			return err;
		if (stopping(f) || (cfg->once && !progress))
			break;
		if (catalog_changed(s, poll_ms)) {
			s->restart = "the catalog was loaded again";
			err = SR__RESTART;
			break;
		}
		if (!progress)
			wait_events(s, poll_ms);
	}
	int done = f->pending ? commit(s, true)
	                      : sr__committer_wait(s->committer, &s->committed,
	                                           f->err);
	return done ? done : err;
}

static int run_session(struct session *s)
{
	struct sr__follow *f = &s->f;
	f->fields = calloc(SR_FIELDS, sizeof(*f->fields));
	f->scratch = malloc(SR_SCRATCH_SIZE); /* headers */
	if (!f->fields || !f->scratch)
		return SR_ENOMEM;
	if (f->cfg->format == SR_FOLLOW_NGINX)
		f->dec = &sr__nginx_decoder;
	int err = setup(s);
	if (!err)
		err = follow_loop(s);
	return err;
}

static int check_config(const struct sr_follow_config *cfg,
                        struct sr_run_error *e)
{
	if (cfg->db && cfg->state && cfg->out && cfg->npaths &&
	    (cfg->format == SR_FOLLOW_CSV ||
	     (cfg->format == SR_FOLLOW_NGINX && cfg->nginx)))
		return 0;
	snprintf(e->msg, sizeof(e->msg),
	         "--db, --state, --out and a path "
	         "are required");
	return SR_EINVAL;
}

int sr_follow_run(const struct sr_follow_config *cfg,
                  struct sr_follow_stats *stats, struct sr_run_error *err)
{
	uint64_t t0 = now_ns();
	memset(stats, 0, sizeof(*stats));
	memset(err, 0, sizeof(*err));
	int code = check_config(cfg, err);
	struct sr_follow_stats at_commit = {0};
	while (!code) {
		struct session s = {.lock_fd = -1};
		s.f = (struct sr__follow){.cfg = cfg,
		                          .stats = stats,
		                          .err = err,
		                          .dec = &sr__csv_decoder,
		                          .ino_fd = -1};
		s.commit_ns =
		    (uint64_t)(cfg->commit_ms ? cfg->commit_ms : 100) *
		    1000000u;
		s.last_commit = now_ns();
		s.committed = at_commit;
		code = run_session(&s);
		at_commit = s.committed;
		teardown(&s);
		const char *why = s.restart ? s.restart : "a period was closed";
		if (code != SR__RESTART)
			break;
		/* Rows after the last commit are cut back and rated again. */
		*stats = at_commit;
		code = 0;
		struct sr__follow ev = {.cfg = cfg};
		sr__follow_event(&ev, SR_FOLLOW_RESTART, cfg->state, 0,
		                 "%s; resuming from the last commit", why);
	}
	stats->elapsed_ns = now_ns() - t0;
	if (code && !err->msg[0])
		snprintf(err->msg, sizeof(err->msg), "%s", sr_strerror(code));
	return code;
}
