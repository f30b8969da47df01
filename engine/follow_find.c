/*
 * Finding the content an input was reading when its path no longer holds
 * it: by inode (a rename), by the fingerprint of its first bytes (the copy
 * copy-truncate leaves), and the generations rotated away before the
 * follower looked (by header line and modification time). Every search
 * looks only in the directory of the followed path, where log rotation
 * puts the old files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "follow.h"
#include "streamrate/error.h"

uint64_t sr__fp(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

ssize_t sr__pread_full(int fd, void *p, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r =
		    pread(fd, (char *)p + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Does the content at fd start with the bytes id fingerprints? */
bool sr__fp_matches(int fd, const struct sr__ident *id)
{
	char head[SR_FP_MAX];
	if (!id->fp_len)
		return true;
	ssize_t n = sr__pread_full(fd, head, id->fp_len, 0);
	return n == (ssize_t)id->fp_len && sr__fp(head, id->fp_len) == id->fp;
}

void sr__found_clear(struct sr__found *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->name);
	*c = (struct sr__found){.fd = -1};
}

/* What a search looks for besides the content's identity. */
struct want {
	uint64_t off;      /* at least this many bytes */
	uint64_t skip_ino; /* never this file */
	int64_t since;     /* copies modified no earlier than this */
	int64_t until;     /* ... and no later than this */
	bool inode;        /* an inode match counts, and wins */
	bool oldest;       /* among copies, the oldest (else the newest) */
};

/* Is file name of dir the old content id? An inode match wins (when it
 * counts); among fingerprint matches (copies) the newest or the oldest. */
static void consider(int dfd, const char *name, const struct sr__ident *id,
                     const struct want *w, struct sr__found *best)
{
	struct stat st;
	if (fstatat(dfd, name, &st, 0) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size < w->off)
		return;
	bool inode = w->inode && (uint64_t)st.st_dev == id->dev &&
	             (uint64_t)st.st_ino == id->ino;
	int64_t mtime =
	    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if ((uint64_t)st.st_ino == w->skip_ino || best->by_inode)
		return;
	bool worse = best->fd >= 0 && (w->oldest ? mtime >= best->mtime_ns
	                                         : mtime <= best->mtime_ns);
	if (!inode &&
	    (!id->fp_len || mtime < w->since || mtime > w->until || worse))
		return;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (!sr__fp_matches(fd, id)) {
		close(fd);
		return;
	}
	sr__found_clear(best);
	*best = (struct sr__found){fd, strdup(name), inode, mtime};
}

static char *dir_of(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return NULL;
	char *d = strdup(dirname(copy));
	free(copy);
	return d;
}

/*
 * The name of path in its directory. What a search looks for is never
 * there: while a rotation has renamed the file away and not yet made the
 * next one, the path is missing, and the file created at the path during
 * a scan is the path's next content, to be read from its start.
 */
static const char *base_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* Search the directory of path for the content id. */
static int search(const char *path, const struct sr__ident *id,
                  const struct want *w, struct sr__found *best)
{
	const char *base = base_of(path);
	*best = (struct sr__found){.fd = -1};
	char *dir = dir_of(path);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	if (!d) {
		free(dir);
		return dir ? 0 : SR_ENOMEM;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, base))
			consider(dirfd(d), e->d_name, id, w, best);
	closedir(d);
	if (best->name) {
		size_t n = strlen(dir) + strlen(best->name) + 2;
		char *full = malloc(n);
		if (full)
			snprintf(full, n, "%s/%s", dir, best->name);
		free(best->name);
		best->name = full;
	}
	free(dir);
	return 0;
}

int sr__find_old(const char *path, const struct sr__ident *id, uint64_t off,
                 uint64_t skip_ino, int64_t newer_than, struct sr__found *best)
{
	struct want w = {off, skip_ino, newer_than, INT64_MAX, true, false};
	return search(path, id, &w, best);
}

int sr__find_copy(const char *path, const struct sr__ident *id, uint64_t off,
                  uint64_t skip_ino, int64_t since, int64_t until,
                  struct sr__found *best)
{
	struct want w = {off, skip_ino, since, until, false, true};
	return search(path, id, &w, best);
}

/*
 * The generation after the one just read, if the path rotated more than
 * once before this follower looked: the rotated file beside the path that
 * starts with the same header line and was modified after the one just
 * read, the earliest such (a file's modification time survives renames).
 * Never the file at the path itself, even one created during the scan
 * (the path was missing when its inode was taken): read as a rotated
 * generation, to its end as it was then, it would be read again from its
 * start as the path's file, and its records rated twice.
 */
static bool next_candidate(int dfd, const char *name, const struct stat *done,
                           uint64_t path_ino, const struct sr__input *in,
                           struct stat *st)
{
	char head[SR_FP_MAX];
	if (fstatat(dfd, name, st, 0) < 0 || !S_ISREG(st->st_mode) ||
	    (uint64_t)st->st_ino == path_ino || st->st_ino == done->st_ino ||
	    (uint64_t)st->st_size <= in->hdr_end ||
	    st->st_mtim.tv_sec < done->st_mtim.tv_sec ||
	    (st->st_mtim.tv_sec == done->st_mtim.tv_sec &&
	     st->st_mtim.tv_nsec <= done->st_mtim.tv_nsec))
		return false;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	bool same =
	    fd >= 0 &&
	    sr__pread_full(fd, head, in->hdr_end, 0) == (ssize_t)in->hdr_end &&
	    !memcmp(head, in->head, in->hdr_end);
	if (fd >= 0)
		close(fd);
	return same;
}

/* A hook for tests/test_follow.sh: with SR_FOLLOW_TEST_SCAN_HOOK naming a
 * file, create it here and wait (up to 10 s) until the test removes it,
 * so that a file can appear at the path between its lookup and the scan. */
static void test_pause(void)
{
	const char *hook = getenv("SR_FOLLOW_TEST_SCAN_HOOK");
	if (!hook)
		return;
	int h = open(hook, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (h >= 0)
		close(h);
	for (int i = 0; i < 1000 && access(hook, F_OK) == 0; i++)
		usleep(10000);
}

int sr__find_next(const struct sr__input *in, struct sr__found *next)
{
	struct stat done, now, st;
	char *dir = dir_of(in->path);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	*next = (struct sr__found){.fd = -1};
	if (!d || fstat(in->fd, &done) < 0 || in->hdr_end > in->head_len) {
		if (d)
			closedir(d);
		free(dir);
		return dir ? 0 : SR_ENOMEM;
	}
	uint64_t path_ino =
	    stat(in->path, &now) == 0 ? (uint64_t)now.st_ino : 0;
	test_pause();
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, base_of(in->path)) ||
		    !next_candidate(dirfd(d), e->d_name, &done, path_ino, in,
		                    &st))
			continue;
		int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 +
		             st.st_mtim.tv_nsec;
		if (next->name && mt >= next->mtime_ns)
			continue;
		free(next->name);
		next->name = strdup(e->d_name);
		next->mtime_ns = mt;
	}
	closedir(d);
	if (next->name) {
		size_t n = strlen(dir) + strlen(next->name) + 2;
		char *full = malloc(n);
		if (full) {
			snprintf(full, n, "%s/%s", dir, next->name);
			next->fd =
			    open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		}
		free(next->name);
		next->name = full;
	}
	free(dir);
	return 0;
}
