/*
 * Inputs of follow. An input is a stream of content found at a path: a
 * followed file, or a file of a followed directory. Its identity is the
 * file (st_dev, st_ino) plus an XXH3 fingerprint of its first bytes (up to
 * 4 KiB of what was rated), so that a path holding new content is told
 * apart from the same content grown, even when a file system reuses an
 * inode number.
 *
 * Rotation. When a followed file's path holds another file (renamed away
 * and recreated), the old content is read to its end through the
 * descriptor still open on it, its last record taken as final, and the
 * path's new content is followed from its start. When the same file
 * shrinks below what was read (copy-truncate), the old bytes live on in
 * the copy: a file beside it whose first bytes match the fingerprint and
 * which is long enough; the rest is rated from the copy, then the new
 * content from its start. After a restart the same searches find the old
 * content by the saved identity (follow_find.c holds the searches). In a
 * followed directory (follow_dir.c) a renamed file keeps its progress
 * under its new name, and a copy or a recreated name is a new file: a
 * directory means every file in it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "follow.h"
#include "streamrate/error.h"

#define SR_READ_CHUNK (1u << 20)

/* ---- Input objects ---- */

int sr__input_set_path(struct sr__input *in, const char *path)
{
	char *p = strdup(path);
	if (!p)
		return SR_ENOMEM;
	free(in->path);
	in->path = p;
	in->field.len = 0;
	int err = sr__buf_reserve(&in->field, SR_CSV_FIELD_MAX(strlen(path)));
	if (!err)
		sr__csv_field(&in->field, path, strlen(path));
	return err;
}

static void input_free(struct sr__input *in)
{
	if (!in)
		return;
	if (in->fd >= 0)
		close(in->fd);
	sr__buf_finish(&in->buf);
	sr__buf_finish(&in->field);
	free(in->path);
	free(in->old_key);
	free(in);
}

static struct sr__input *input_new(const char *path, int dir)
{
	struct sr__input *in = calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	in->fd = -1;
	in->dir = dir;
	in->line = 1;
	if (sr__input_set_path(in, path)) {
		input_free(in);
		return NULL;
	}
	return in;
}

/* Insert in at position at of the input list. */
static int input_insert(struct sr__follow *f, struct sr__input *in, size_t at)
{
	if (f->nin == f->incap) {
		size_t cap = f->incap ? f->incap * 2 : 16;
		struct sr__input **p = realloc(f->in, cap * sizeof(*p));
		if (!p)
			return SR_ENOMEM;
		f->in = p;
		f->incap = cap;
	}
	memmove(f->in + at + 1, f->in + at, (f->nin - at) * sizeof(*f->in));
	f->in[at] = in;
	f->nin++;
	return 0;
}

/* Where a new file of directory d goes: after the files of d that sort
 * before it, so that a directory's files are taken in name order. */
static size_t dir_position(struct sr__follow *f, int d, const char *path)
{
	size_t at = f->nin, i;
	for (i = 0; i < f->nin; i++)
		if (f->in[i]->dir == d)
			break;
	for (; i < f->nin && f->in[i]->dir == d; i++)
		if (strcmp(f->in[i]->path, path) > 0)
			return i;
	if (i < f->nin || at == f->nin)
		at = i;
	return at;
}

struct sr__input *sr__input_find(struct sr__follow *f, const char *path)
{
	for (size_t i = 0; i < f->nin; i++)
		if (!f->in[i]->gone && !strcmp(f->in[i]->path, path))
			return f->in[i];
	return NULL;
}

void sr__inputs_finish(struct sr__follow *f)
{
	for (size_t i = 0; i < f->nin; i++)
		input_free(f->in[i]);
	free(f->in);
	f->in = NULL;
	f->nin = f->incap = 0;
}

/* ---- Content ---- */

/* Keep the first SR_FP_MAX bytes of the content for its fingerprint. */
static void keep_head(struct sr__input *in, const char *p, size_t n,
                      uint64_t at)
{
	if (at >= SR_FP_MAX || at != in->head_len)
		return;
	size_t take = n < SR_FP_MAX - at ? n : SR_FP_MAX - (size_t)at;
	memcpy(in->head + at, p, take);
	in->head_len += (uint32_t)take;
}

static void set_ident(struct sr__input *in, const struct stat *st)
{
	in->id.dev = (uint64_t)st->st_dev;
	in->id.ino = (uint64_t)st->st_ino;
}

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Follow the content open at fd from its start. */
static int content_start(struct sr__input *in, int fd)
{
	struct stat st;
	if (in->fd >= 0 && in->fd != fd)
		close(in->fd);
	in->fd = fd;
	in->id = (struct sr__ident){0};
	in->since_ns = wall_ns();
	if (fd >= 0) {
		if (fstat(fd, &st) < 0)
			return -errno;
		set_ident(in, &st);
	}
	in->head_len = 0;
	in->hdr_end = 0;
	in->off = in->read_off = 0;
	in->line = 1;
	in->buf.len = 0;
	in->phase = SR_PHASE_HEADER;
	in->finishing = false;
	in->dirty = true;
	return 0;
}

/* Read bytes from the content's start until its header is decoded;
 * returns the header's end, or a negative code (refused or cut short). */
static int64_t header_end(struct sr__follow *f, struct sr__input *in)
{
	struct sr_buf b = {0};
	char msg[256];
	size_t used = 0;
	uint64_t lines = 0;
	int r = 1;
	for (uint64_t at = 0; r == 1;) {
		int err = sr__buf_reserve(&b, 65536);
		ssize_t n =
		    err ? err
		        : sr__pread_full(in->fd, b.data + b.len, 65536, at);
		if (n <= 0) {
			r = n < 0 ? (int)n : SR_EHEADER;
			break;
		}
		b.len += (size_t)n;
		at += (uint64_t)n;
		r = f->dec->begin(f, in, b.data, b.len, &used, &lines, msg,
		                  sizeof(msg));
	}
	sr__buf_finish(&b);
	if (r)
		return r < 0 ? r : SR_EHEADER;
	in->line = 1 + lines;
	return (int64_t)used;
}

/* Resume the content open at fd (already checked) at the committed
 * progress st: the header is decoded again from the content's start. */
static int content_resume(struct sr__follow *f, struct sr__input *in, int fd,
                          const struct sr__input_state *st)
{
	int err = content_start(in, fd);
	in->since_ns = st->time_ns; /* the same content, seen since then */
	if (err || !st->off)
		return err;
	ssize_t n = sr__pread_full(fd, in->head, SR_FP_MAX, 0);
	if (n < 0)
		return (int)n;
	/* Only what was rated: reads from st->off then extend it, where
	 * bytes kept past st->off would freeze it at whatever the file held
	 * now, and the identity of the content at a header's length. */
	in->head_len =
	    (uint32_t)((uint64_t)n < st->off ? (uint64_t)n : st->off);
	int64_t end = header_end(f, in);
	if (end < 0 || (uint64_t)end > st->off) {
		in->phase = SR_PHASE_BAD;
		return 0;
	}
	in->phase = SR_PHASE_RECORDS;
	in->hdr_end = (uint64_t)end;
	in->off = in->read_off = st->off;
	in->line = st->line;
	in->dirty = false;
	return 0;
}

/* ---- Setup from the state ---- */

static int open_path(const char *path)
{
	return open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
}

/* Is the content at path the committed one? Then fd is open on it. */
static bool still_there(const char *path, const struct sr__input_state *st,
                        int *fd)
{
	struct stat s;
	*fd = open_path(path);
	if (*fd < 0)
		return false;
	if (fstat(*fd, &s) == 0 && (uint64_t)s.st_dev == st->id.dev &&
	    (uint64_t)s.st_ino == st->id.ino &&
	    (uint64_t)s.st_size >= st->off && sr__fp_matches(*fd, &st->id))
		return true;
	close(*fd);
	*fd = -1;
	return false;
}

/* Resume in from old, where its committed content st was found. */
static int recover_from(struct sr__follow *f, struct sr__input *in,
                        const struct sr__input_state *st, struct sr__found *old)
{
	int err = 0;
	if (in->dir >= 0 && !sr__input_find(f, old->name)) {
		/* In a followed directory: the file goes on under its new
		 * name; the old name, if it exists again, is a new file. */
		in->old_key = strdup(in->path);
		err =
		    in->old_key ? sr__input_set_path(in, old->name) : SR_ENOMEM;
	}
	if (!err)
		err = content_resume(f, in, old->fd, st);
	in->finishing = in->dir < 0;
	in->dirty = true;
	old->fd = -1;
	sr__found_clear(old);
	return err;
}

static int header_only_copy(struct sr__follow *f, struct sr__input *in, int fd,
                            const struct sr__input_state *st,
                            struct sr__found *copy);

/* The committed content of in is not at its path any more: find it. */
static int recover_moved(struct sr__follow *f, struct sr__input *in,
                         const struct sr__input_state *st)
{
	struct stat now;
	struct sr__found old;
	uint64_t skip = stat(in->path, &now) == 0 ? (uint64_t)now.st_ino : 0;
	/* In a followed directory, only a rename keeps progress: a copy is
	 * a file of its own. */
	int64_t copies = in->dir >= 0 ? INT64_MAX : INT64_MIN;
	int err = sr__find_old(in->path, &st->id, st->off, skip, copies, &old);
	if (err)
		return err;
	if (old.by_inode) {
		/* Renamed; but what it holds may be a later content written
		 * after a copy-truncate took the committed one away. */
		struct sr__found copy;
		err = header_only_copy(f, in, old.fd, st, &copy);
		if (err || copy.fd >= 0)
			sr__found_clear(&old);
		if (err)
			return err;
		if (copy.fd >= 0)
			return recover_from(f, in, st, &copy);
	}
	if (old.fd >= 0)
		return recover_from(f, in, st, &old);
	if (!st->off && in->dir >= 0)
		return 1; /* a directory's file removed before it was read */
	sr__follow_event(f, SR_FOLLOW_LOST, in->path, st->line,
	                 "the content rated up to byte %llu is gone; what "
	                 "followed it was not rated",
	                 (unsigned long long)st->off);
	return 1;
}

/*
 * The content at fd (at the path, or found by its inode) starts with the
 * committed bytes, but if they were only the header, or nothing was rated
 * yet, it may be a later content copy-truncate wrote into the same file,
 * and the committed one lives on in a copy: the oldest file beside it that
 * starts with the same header, is longer than what was rated, and was
 * written after follow first opened the committed content (st->time_ns)
 * and no later than fd's content. A followed file only.
 */
static int header_only_copy(struct sr__follow *f, struct sr__input *in, int fd,
                            const struct sr__input_state *st,
                            struct sr__found *copy)
{
	char head[SR_FP_MAX];
	struct stat now;
	*copy = (struct sr__found){.fd = -1};
	if (in->dir >= 0 || st->id.fp_len >= SR_FP_MAX || fstat(fd, &now) < 0)
		return 0;
	int keep = in->fd;
	in->fd = fd;
	int64_t end = header_end(f, in);
	in->fd = keep;
	if (end < 0 || (uint64_t)end < st->off)
		return 0;
	/* The commit fingerprints less than the header (offset 0): a copy
	 * shows by the header fd's content starts with. */
	struct sr__ident id = st->id;
	if (id.fp_len < (uint64_t)end) {
		size_t n = end < SR_FP_MAX ? (size_t)end : SR_FP_MAX;
		if (sr__pread_full(fd, head, n, 0) != (ssize_t)n)
			return 0;
		id.fp_len = (uint32_t)n;
		id.fp = sr__fp(head, n);
	}
	int64_t until =
	    (int64_t)now.st_mtim.tv_sec * 1000000000 + now.st_mtim.tv_nsec;
	return sr__find_copy(in->path, &id, st->off + 1, (uint64_t)now.st_ino,
	                     st->time_ns, until, copy);
}

/* Resume in from its committed state st (0), or start it fresh (1). */
static int input_recover(struct sr__follow *f, struct sr__input *in,
                         const struct sr__input_state *st)
{
	struct sr__found copy;
	int fd;
	/* Only a content never opened (its path was missing) is nothing to
	 * resume. One opened but not read yet (offset 0) is still the
	 * content to read: after a rotation it may be a generation beside
	 * the path, and starting from what the path holds now would skip
	 * it. */
	if (!st->id.dev && !st->id.ino && !st->off)
		return 1;
	if (!still_there(in->path, st, &fd))
		return recover_moved(f, in, st);
	int err = header_only_copy(f, in, fd, st, &copy);
	if (err || copy.fd >= 0) {
		close(fd);
		return err ? err : recover_from(f, in, st, &copy);
	}
	return content_resume(f, in, fd, st);
}

/* Follow what path holds from its start, if it is a regular file (a path
 * that was missing at start is a file; a directory there is ignored). */
static int start_fresh(struct sr__input *in)
{
	struct stat st;
	int fd = open_path(in->path);
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
	}
	return fd < 0 ? 0 : content_start(in, fd);
}

int sr__input_add(struct sr__follow *f, const char *path, int dir)
{
	struct sr__input_state st;
	struct sr__input *in = input_new(path, dir);
	if (!in)
		return SR_ENOMEM;
	int err =
	    input_insert(f, in, dir < 0 ? f->nin : dir_position(f, dir, path));
	if (err) {
		input_free(in);
		return err;
	}
	err = sr__state_input_get(f->state, path, &st);
	if (err == SR_ENOTFOUND)
		return start_fresh(in);
	if (!err)
		err = input_recover(f, in, &st);
	if (err == 1 && in->dir >= 0 && access(path, F_OK) < 0)
		in->gone = true; /* a directory's file that is no more */
	else if (err == 1)
		err = start_fresh(in);
	return err < 0 ? err : 0;
}

/* State entries of files of directory d (one level, not hidden). */
struct dir_walk {
	struct sr__follow *f;
	int d;
	int err;
};

static int on_state_input(void *ctx, const char *path, size_t len,
                          const struct sr__input_state *st)
{
	struct dir_walk *w = ctx;
	const char *dir = w->f->dirs[w->d].path;
	size_t n = strlen(dir);
	if (len <= n + 1 || strncmp(path, dir, n) || path[n] != '/' ||
	    strchr(path + n + 1, '/') || path[n + 1] == '.' ||
	    sr__input_find(w->f, path))
		return 0;
	return sr__input_add(w->f, path, w->d);
}

uint64_t sr__inputs_backlog(struct sr__follow *f)
{
	uint64_t sum = 0;
	struct stat st;
	for (size_t i = 0; i < f->nin; i++) {
		struct sr__input *in = f->in[i];
		if (in->fd >= 0 && fstat(in->fd, &st) == 0 &&
		    (uint64_t)st.st_size > in->off)
			sum += (uint64_t)st.st_size - in->off;
	}
	return sum;
}

int sr__inputs_setup(struct sr__follow *f)
{
	const struct sr_follow_config *cfg = f->cfg;
	int err = 0;
	for (unsigned i = 0; i < cfg->npaths && !err; i++) {
		struct stat st;
		const char *p = cfg->paths[i];
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
			continue; /* a directory: below */
		if (!sr__input_find(f, p))
			err = sr__input_add(f, p, -1);
	}
	for (size_t d = 0; d < f->ndirs && !err; d++) {
		struct dir_walk w = {f, (int)d, 0};
		err = sr__state_inputs_each(f->state, on_state_input, &w);
	}
	return err;
}

/* ---- Reading and rating ---- */

/* Rate what the buffer holds; eof: no byte follows it in this content. */
static int consume(struct sr__follow *f, struct sr__input *in, bool eof)
{
	char msg[256];
	size_t used = 0, n = 0;
	uint64_t lines = 0;
	int err = 0;

	if (in->phase == SR_PHASE_HEADER && in->buf.len) {
		int r = f->dec->begin(f, in, in->buf.data, in->buf.len, &used,
		                      &lines, msg, sizeof(msg));
		if (r == 1 && !eof)
			return 0;
		if (r) {
			if (r == 1)
				snprintf(msg, sizeof(msg), "header cut short");
			sr__follow_event(f, SR_FOLLOW_BAD_HEADER, in->path, 1,
			                 "%s; file skipped", msg);
			in->phase = SR_PHASE_BAD;
			in->buf.len = 0;
			return 0;
		}
		in->off += used;
		in->hdr_end = in->off;
		in->line += lines;
		in->phase = SR_PHASE_RECORDS;
		in->dirty = f->pending = true;
	}
	if (in->phase == SR_PHASE_RECORDS && in->buf.len > used)
		err = sr__rate_bytes(f, in, in->buf.data + used,
		                     in->buf.len - used, eof, &n);
	used += n;
	memmove(in->buf.data, in->buf.data + used, in->buf.len - used);
	in->buf.len -= used;
	return err;
}

/* Read once at read_off: the count, 0 at the end, or a negative code. */
static ssize_t read_some(struct sr__input *in)
{
	int err = sr__buf_reserve(&in->buf, SR_READ_CHUNK);
	if (err)
		return err;
	ssize_t n;
	do
		n = pread(in->fd, in->buf.data + in->buf.len, SR_READ_CHUNK,
		          (off_t)in->read_off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	keep_head(in, in->buf.data + in->buf.len, (size_t)n, in->read_off);
	in->buf.len += (size_t)n;
	in->read_off += (uint64_t)n;
	return n;
}

/* Read and rate until the content has nothing more for now. */
static int drain(struct sr__follow *f, struct sr__input *in, bool *progress)
{
	for (;;) {
		ssize_t n = read_some(in);
		if (n < 0)
			return sr__follow_fail(f, (int)n, in->path, 0,
			                       "read: %s", strerror((int)-n));
		if (n == 0)
			return 0;
		*progress = true;
		int err = consume(f, in, false);
		if (!err)
			err = sr__follow_maybe_commit(f, true);
		if (err)
			return err;
	}
}

/* The old content is done: its last record is final. Then follow what
 * the path holds now, from its start (or a generation rotated away before
 * this follower saw it, first). */
static int finish_and_switch(struct sr__follow *f, struct sr__input *in)
{
	bool progress = false;
	int err = in->phase == SR_PHASE_BAD ? 0 : drain(f, in, &progress);
	if (!err && in->phase != SR_PHASE_BAD)
		err = consume(f, in, true);
	if (err)
		return err;
	if (in->buf.len)
		sr__follow_event(f, SR_FOLLOW_LOST, in->path, in->line,
		                 "%zu bytes at the end of the old content "
		                 "could not be read as records",
		                 in->buf.len);
	struct sr__found next = {.fd = -1};
	if (in->phase == SR_PHASE_RECORDS)
		err = sr__find_next(in, &next);
	close(in->fd);
	in->fd = -1;
	f->pending = true;
	if (err)
		return err;
	if (next.fd < 0) {
		content_start(in, -1); /* cannot fail without a descriptor */
		return start_fresh(in);
	}
	/* A generation rotated away before this follower saw it. */
	sr__follow_event(f, SR_FOLLOW_ROTATED, in->path, 0,
	                 "%s was rotated away meanwhile; reading it first",
	                 next.name);
	err = content_start(in, next.fd);
	in->finishing = true;
	next.fd = -1;
	sr__found_clear(&next);
	return err;
}

/* The file was cut back below what was read: copy-truncate, or a new
 * content written in place. Rate the rest of the old content from its
 * copy, if there is one, then the new content from its start. */
static int truncated(struct sr__follow *f, struct sr__input *in)
{
	struct sr__found copy;
	if (in->dir >= 0) {
		/* In a followed directory a copy is a file of its own, rated
		 * as any other (what was rated here is duplicate there). */
		sr__follow_event(f, SR_FOLLOW_TRUNCATED, in->path, 0,
		                 "cut back; new content from its start");
		in->buf.len = 0;
		return content_start(in, in->fd);
	}
	struct sr__ident id = in->id;
	id.fp_len =
	    in->head_len < in->read_off ? in->head_len : (uint32_t)in->read_off;
	id.fp = sr__fp(in->head, id.fp_len);
	int err = sr__find_old(in->path, &id, in->read_off, in->id.ino,
	                       INT64_MIN, &copy);
	if (err)
		return err;
	sr__follow_event(f, SR_FOLLOW_TRUNCATED, in->path, 0,
	                 copy.name ? "cut back; the rest of the old content "
	                             "is read from %s"
	                           : "cut back; no copy of the old content%s",
	                 copy.name ? copy.name : "");
	if (copy.fd < 0) {
		err = consume(f, in, true);
		in->buf.len = 0;
		return err ? err : content_start(in, in->fd);
	}
	int same = in->fd;
	struct stat cs;
	in->fd = copy.fd;
	copy.fd = -1;
	if (fstat(in->fd, &cs) == 0)
		set_ident(in, &cs);
	err = finish_and_switch(f, in);
	close(same);
	sr__found_clear(&copy);
	return err;
}

/* Nothing more to read: has the path moved on to other content? */
static int check_rotation(struct sr__follow *f, struct sr__input *in,
                          const struct stat *fs, bool *progress)
{
	struct stat ps;
	bool moved = stat(in->path, &ps) < 0 ||
	             (uint64_t)ps.st_ino != in->id.ino ||
	             (uint64_t)ps.st_dev != in->id.dev;
	if (!moved)
		return 0;
	*progress = true;
	if (in->dir < 0) {
		sr__follow_event(f, SR_FOLLOW_ROTATED, in->path, 0,
		                 "new file at this path; the old one was read "
		                 "to its end");
		return finish_and_switch(f, in);
	}
	if (fs->st_nlink == 0) {
		in->gone = true; /* deleted, and read to its end */
		f->pending = true;
	} else {
		f->dirs[in->dir].rescan = true; /* renamed: find its name */
	}
	return 0;
}

/*
 * Was the content replaced in place: cut back below what was read, or
 * (when it grew) no longer starting with the bytes read? The second test
 * catches a copy-truncate whose file grew back past the read offset
 * before this follower looked.
 */
static bool replaced(struct sr__input *in, uint64_t size)
{
	char head[SR_FP_MAX];
	size_t n = in->head_len;
	if (size < in->read_off)
		return true;
	if (size == in->read_off || !n || in->finishing)
		return false;
	return sr__pread_full(in->fd, head, n, 0) != (ssize_t)n ||
	       memcmp(head, in->head, n);
}

int sr__input_pump(struct sr__follow *f, size_t i, bool *progress)
{
	struct sr__input *in = f->in[i];
	struct stat fs;
	int err = 0;
	if (in->gone)
		return 0;
	if (in->fd < 0) {
		if (in->dir >= 0 || (err = start_fresh(in)) || in->fd < 0)
			return in->dir >= 0 ? 0 : err;
		/* Its identity is worth a commit of its own: after a restart
		 * it is found again even if rotated away unread. */
		f->pending = true;
	}
	if (fstat(in->fd, &fs) < 0)
		return sr__follow_fail(f, -errno, in->path, 0, "%s",
		                       strerror(errno));
	if (replaced(in, (uint64_t)fs.st_size)) {
		*progress = true;
		if (in->phase == SR_PHASE_BAD)
			return content_start(in, in->fd);
		return truncated(f, in);
	}
	bool got = false;
	err = in->phase == SR_PHASE_BAD ? 0 : drain(f, in, &got);
	*progress |= got;
	if (err || got)
		return err;
	if (in->finishing) {
		*progress = true;
		return finish_and_switch(f, in);
	}
	return check_rotation(f, in, &fs, progress);
}

static void prune(struct sr__follow *f)
{
	size_t kept = 0;
	for (size_t i = 0; i < f->nin; i++) {
		if (f->in[i]->gone)
			input_free(f->in[i]);
		else
			f->in[kept++] = f->in[i];
	}
	f->nin = kept;
}

/* The committed progress of in. */
static struct sr__input_state progress_of(const struct sr__input *in)
{
	struct sr__input_state st = {.id = in->id,
	                             .off = in->off,
	                             .line = in->line,
	                             .time_ns = in->since_ns};
	uint64_t n = in->off < in->head_len ? in->off : in->head_len;
	st.id.fp_len = (uint32_t)n;
	st.id.fp = sr__fp(in->head, (size_t)n);
	return st;
}

int sr__inputs_snapshot(struct sr__follow *f, struct sr__job *job)
{
	int err = 0;
	for (size_t i = 0; i < f->nin && !err; i++) {
		struct sr__input *in = f->in[i];
		if (in->old_key)
			err = sr__job_del(job, in->old_key);
		free(in->old_key);
		in->old_key = NULL;
		if (!err && in->gone)
			err = sr__job_del(job, in->path);
	}
	for (size_t i = 0; i < f->nin && !err; i++) {
		struct sr__input *in = f->in[i];
		if (in->gone || !in->dirty)
			continue;
		struct sr__input_state st = progress_of(in);
		err = sr__job_put(job, in->path, &st);
		in->dirty = false;
	}
	prune(f);
	return err;
}
