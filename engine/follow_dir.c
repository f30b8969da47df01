/*
 * Followed directories: their files are followed too, taken in name
 * order, new ones as they appear (inotify marks a directory to scan
 * again). A file renamed within the directory keeps its progress under
 * its new name; any other new name is a new file, read from its start.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "follow.h"
#include "streamrate/error.h"

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Untracked file names of a directory, sorted; *n of them. */
static int list_dir(const char *dir, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 0;
	*names = NULL;
	*n = 0;
	if (!d)
		return 0; /* not there (yet): nothing to follow */
	while ((e = readdir(d))) {
		struct stat st;
		if (e->d_name[0] == '.' ||
		    fstatat(dirfd(d), e->d_name, &st, 0) ||
		    !S_ISREG(st.st_mode))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			char **p = realloc(*names, cap * sizeof(*p));
			if (!p)
				break;
			*names = p;
		}
		if (!((*names)[*n] = strdup(e->d_name)))
			break;
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof(**names), cmp_name);
	return e ? SR_ENOMEM : 0;
}

/* A file of directory d already followed under another name? */
static struct sr__input *same_inode(struct sr__follow *f, int d,
                                    const struct stat *st)
{
	for (size_t i = 0; i < f->nin; i++) {
		struct sr__input *in = f->in[i];
		if (in->dir == d && in->fd >= 0 && !in->gone &&
		    in->id.ino == (uint64_t)st->st_ino &&
		    in->id.dev == (uint64_t)st->st_dev)
			return in;
	}
	return NULL;
}

static int scan_one(struct sr__follow *f, int d, const char *path)
{
	struct stat st;
	if (sr__input_find(f, path) || stat(path, &st) < 0)
		return 0;
	struct sr__input *moved = same_inode(f, d, &st);
	if (moved) {
		/* Renamed: the progress goes with the file. */
		if (!moved->old_key)
			moved->old_key = strdup(moved->path);
		moved->dirty = true;
		return moved->old_key ? sr__input_set_path(moved, path)
		                      : SR_ENOMEM;
	}
	sr__follow_event(f, SR_FOLLOW_NEW_FILE, path, 0, "following");
	return sr__input_add(f, path, d);
}

static int scan_dir(struct sr__follow *f, int d)
{
	char **names;
	size_t n;
	const char *dir = f->dirs[d].path;
	int err = list_dir(dir, &names, &n);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(dir) + strlen(names[i]) + 2;
		char *path = malloc(len);
		if (!err && !path)
			err = SR_ENOMEM;
		if (!err) {
			snprintf(path, len, "%s/%s", dir, names[i]);
			err = scan_one(f, d, path);
		}
		free(path);
		free(names[i]);
	}
	free(names);
	return err;
}

int sr__dirs_scan(struct sr__follow *f, bool all)
{
	bool any = false;
	for (size_t d = 0; d < f->ndirs; d++)
		any |= all || f->dirs[d].rescan;
	if (!any)
		return 0;
	/* New files look up their committed progress. */
	int err = sr__state_begin(f->state, false);
	for (size_t d = 0; d < f->ndirs && !err; d++) {
		if (!all && !f->dirs[d].rescan)
			continue;
		f->dirs[d].rescan = false;
		err = scan_dir(f, (int)d);
	}
	sr__state_abort(f->state);
	return err;
}
