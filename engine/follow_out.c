/*
 * The output files of follow: rated-YYYY-MM.csv and rejects-YYYY-MM.csv
 * per period, and rejects-unknown.csv for records whose period cannot be
 * known. Rows are appended to a buffer, written out after each read (so
 * they appear within milliseconds), and made durable at commit: fsync of
 * every file written since the last commit (and of the directory when a
 * file was created), before the state transaction records their sizes.
 *
 * On start, every file is cut back to the size the state committed, and a
 * rated-* or rejects-* file the state does not know is removed: it was
 * created by a commit that never happened. The output directory belongs
 * to follow.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog_rows.h"
#include "follow.h"
#include "streamrate/error.h"

/* Descriptors kept open across commits; past this, closed after each. */
#define SR_OPEN_MAX 128

static void fout_init(struct sr__fout *f, const char *name, const char *hdr)
{
	*f = (struct sr__fout){.fd = -1, .header = hdr};
	snprintf(f->name, sizeof(f->name), "%s", name);
}

static void fout_finish(struct sr__fout *f)
{
	if (f->fd >= 0)
		close(f->fd);
	sr__buf_finish(&f->buf);
	f->fd = -1;
}

int sr__fouts_init(struct sr__fouts *o, const char *dir,
                   const struct sr_catalog *cat)
{
	*o = (struct sr__fouts){.cat = cat};
	fout_init(&o->unknown, "rejects-unknown.csv", SR_REJECTS_HEADER);
	o->dir = strdup(dir);
	if (!o->dir)
		return SR_ENOMEM;
	return sr__writer_start(&o->writer);
}

void sr__fouts_finish(struct sr__fouts *o)
{
	if (!o->dir)
		return; /* never initialised */
	sr__writer_stop(o->writer);
	for (size_t i = 0; i < o->n; i++) {
		fout_finish(&o->p[i]->rated);
		fout_finish(&o->p[i]->rejects);
		sr__rowfmt_finish(&o->p[i]->fmt);
		free(o->p[i]);
	}
	fout_finish(&o->unknown);
	free(o->p);
	free(o->known);
	free(o->dir);
	*o = (struct sr__fouts){0};
}

/* Output file i of 2n + 1: each period's two, then rejects-unknown. */
static struct sr__fout *fout_at(struct sr__fouts *o, size_t i)
{
	if (i == 2 * o->n)
		return &o->unknown;
	return i % 2 ? &o->p[i / 2]->rejects : &o->p[i / 2]->rated;
}

static const struct sr__known_out *known_size(const struct sr__fouts *o,
                                              const char *name)
{
	for (size_t i = 0; i < o->nknown; i++)
		if (!strcmp(o->known[i].name, name))
			return &o->known[i];
	return NULL;
}

static void fout_known(struct sr__fouts *o, struct sr__fout *f)
{
	const struct sr__known_out *k = known_size(o, f->name);
	if (k) {
		f->known = true;
		f->committed = f->size = k->size;
	}
}

/* ---- Recovery ---- */

struct recover_ctx {
	struct sr__fouts *o;
	struct sr_run_error *err;
};

static int fail(struct sr_run_error *e, int code, const char *dir,
                const char *name, const char *msg)
{
	snprintf(e->path, sizeof(e->path), "%s/%s", dir, name);
	e->line = 0;
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
	return code;
}

/* Cut one committed output back to its committed size. */
static int on_output(void *ctx, const char *name, size_t len, uint64_t size)
{
	struct recover_ctx *c = ctx;
	struct sr__fouts *o = c->o;
	char path[4096];
	struct stat st;

	if (len >= sizeof(o->known[0].name))
		return fail(c->err, SR_ELMDB, o->dir, name, "bad state entry");
	struct sr__known_out *k =
	    realloc(o->known, (o->nknown + 1) * sizeof(*k));
	if (!k)
		return SR_ENOMEM;
	o->known = k;
	snprintf(k[o->nknown].name, sizeof(k->name), "%s", name);
	k[o->nknown++].size = size;
	snprintf(path, sizeof(path), "%s/%s", o->dir, name);
	if (stat(path, &st) < 0 || (uint64_t)st.st_size < size)
		return fail(c->err, SR_EIO, o->dir, name,
		            "committed output is missing or shorter than "
		            "its committed size");
	if ((uint64_t)st.st_size > size && truncate(path, (off_t)size) < 0)
		return fail(c->err, -errno, o->dir, name, strerror(errno));
	return 0;
}

static bool is_output_name(const char *n)
{
	size_t len = strlen(n);
	return len > 4 && !strcmp(n + len - 4, ".csv") &&
	       (!strncmp(n, "rated-", 6) || !strncmp(n, "rejects-", 8));
}

/* Remove the outputs no commit knows. */
static int remove_uncommitted(struct sr__fouts *o, struct sr_run_error *err)
{
	DIR *d = opendir(o->dir);
	struct dirent *e;
	int code = 0;
	if (!d)
		return fail(err, -errno, o->dir, "", strerror(errno));
	while (!code && (e = readdir(d))) {
		if (!is_output_name(e->d_name) || known_size(o, e->d_name))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
			code = fail(err, -errno, o->dir, e->d_name,
			            strerror(errno));
	}
	closedir(d);
	return code;
}

int sr__fouts_recover(struct sr__fouts *o, struct sr__state *st,
                      struct sr_run_error *err)
{
	struct recover_ctx c = {o, err};
	int code = sr__mkdirs(o->dir);
	if (code)
		return fail(err, code, o->dir, "", sr_strerror(code));
	code = sr__state_outputs_each(st, on_output, &c);
	if (!code)
		code = remove_uncommitted(o, err);
	if (!code)
		fout_known(o, &o->unknown);
	return code;
}

/* ---- Periods ---- */

static int period_text(int64_t month, char *text)
{
	int64_t y = month / 12;
	unsigned m = (unsigned)(month % 12) + 1;
	if (month < 12 || y > 9999)
		return -1;
	snprintf(text, 8, "%04d-%02u", (int)y, m);
	return 0;
}

static struct sr__fperiod *period_new(struct sr__fouts *o, struct sr__state *st,
                                      int64_t month)
{
	char text[8], name[40];
	struct sr__fperiod *p = calloc(1, sizeof(*p));
	if (!p || period_text(month, text) < 0 ||
	    sr_period_init(&p->period, text) < 0 ||
	    sr__rowfmt_init(&p->fmt, o->cat, &p->period))
		goto err_free;
	p->month = month;
	snprintf(name, sizeof(name), "rated-%s.csv", text);
	fout_init(&p->rated, name, SR_RATED_HEADER);
	snprintf(name, sizeof(name), "rejects-%s.csv", text);
	fout_init(&p->rejects, name, SR_REJECTS_HEADER);
	fout_known(o, &p->rated);
	fout_known(o, &p->rejects);
	if (sr__state_begin(st, false))
		goto err_free;
	p->closed = sr__state_closed_get(st, text) == 0;
	sr__state_abort(st);
	return p;
err_free:
	if (p)
		sr__rowfmt_finish(&p->fmt);
	free(p);
	return NULL;
}

struct sr__fperiod *sr__fouts_period(struct sr__fouts *o, struct sr__state *st,
                                     int64_t month)
{
	if (o->last && o->last->month == month)
		return o->last;
	for (size_t i = 0; i < o->n; i++)
		if (o->p[i]->month == month)
			return o->last = o->p[i];
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 8;
		struct sr__fperiod **p = realloc(o->p, cap * sizeof(*p));
		if (!p)
			return NULL;
		o->p = p;
		o->cap = cap;
	}
	struct sr__fperiod *p = period_new(o, st, month);
	if (p)
		o->p[o->n++] = o->last = p;
	return p;
}

/* ---- Writing ---- */

int sr__fout_ready(struct sr__fouts *o, struct sr__fout *f)
{
	char path[4096];
	if (f->fd >= 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", o->dir, f->name);
	bool fresh = !f->known && !f->created;
	int flags = O_WRONLY | O_CLOEXEC | (fresh ? O_CREAT | O_TRUNC : 0);
	f->fd = open(path, flags, 0644);
	if (f->fd < 0)
		return -errno;
	o->nopen++;
	if (!fresh)
		return 0;
	/* A new file: its header is the first row of the next commit. */
	f->created = true;
	size_t before = f->buf.len, n = strlen(f->header);
	int err = sr__buf_reserve(&f->buf, n);
	if (err)
		return err;
	sr__buf_put(&f->buf, f->header, n);
	sr__fout_added(o, f, before);
	return 0;
}

int sr__fouts_write(struct sr__fouts *o, struct sr_run_error *err)
{
	for (size_t i = 0; i <= 2 * o->n; i++) {
		struct sr__fout *f = fout_at(o, i);
		if (!f->buf.len)
			continue;
		int code = sr__writer_write(o->writer, f->fd, &f->buf,
		                            f->size - f->buf.len);
		if (code)
			return fail(err, code, o->dir, f->name,
			            sr_strerror(code));
		f->dirty = true;
	}
	o->buffered = 0;
	return 0;
}

/* Past SR_OPEN_MAX descriptors, close them all: they reopen on use. */
static void close_some(struct sr__fouts *o)
{
	if (o->nopen <= SR_OPEN_MAX)
		return;
	for (size_t i = 0; i <= 2 * o->n; i++) {
		struct sr__fout *f = fout_at(o, i);
		if (f->fd >= 0 && !f->buf.len && !f->dirty) {
			close(f->fd);
			f->fd = -1;
			o->nopen--;
		}
	}
}

int sr__fouts_snapshot(struct sr__fouts *o, struct sr__job *job)
{
	int err = 0;
	job->dir = o->dir;
	job->writer = o->writer;
	job->wseq = sr__writer_pushed(o->writer);
	for (size_t i = 0; i <= 2 * o->n && !err; i++) {
		struct sr__fout *f = fout_at(o, i);
		job->sync_dir |= f->created;
		if (f->dirty)
			err = sr__job_fd(job, f->fd);
		f->dirty = false;
		if (!err && (f->size != f->committed || f->created))
			err = sr__job_output(job, f->name, f->size);
		f->known |= f->size != f->committed || f->created;
		f->committed = f->size;
		f->created = false;
	}
	if (!err)
		close_some(o);
	return err;
}
