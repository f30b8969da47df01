/*
 * fuzz_catalog: the catalog checker on a directory where one file is the
 * fuzzer's bytes and the ten others come from a valid catalog
 * (tests/fuzz/catalog). The first input byte picks the file, the rest is
 * its content. Properties:
 *  - sr_catalog_check returns 0 with no diagnostic, or SR_ECATALOG with at
 *    least one; nothing else (the files are all readable);
 *  - every diagnostic names one of the eleven files, with a line between
 *    1 and that file's last line, and a one-line message with no control
 *    byte (ids are shown escaped);
 *  - diagnostics come sorted by file, in SPEC order, then by line;
 *  - a catalog that passes loads into LMDB, and dump, load, dump gives
 *    identical files (SPEC section 2).
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "streamrate/catalog.h"
#include "streamrate/error.h"

#ifndef SR_FUZZ_CATALOG
#error "SR_FUZZ_CATALOG: the directory of the valid catalog"
#endif

struct file {
	const char *name;
	char *base; /* the valid catalog's content */
	size_t base_len;
	uint32_t lines; /* last line of the file as checked */
};

static struct file files[SR_CATALOG_FILES];
/* The catalog under test; two stores and two dumps for round trips. */
static char dir[] = "/tmp/fuzz_catalog.XXXXXX";
static char work[] = "/tmp/fuzz_catalog_rt.XXXXXX";

static char *path_of(const char *d, const char *name)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf), "%s/%s", d, name);
	return buf;
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	FUZZ_CHECK(f != NULL, "cannot open %s", path);
	char *buf = NULL;
	size_t cap = 0;
	*n = 0;
	do {
		cap = cap ? cap * 2 : 1 << 16;
		buf = realloc(buf, cap);
		FUZZ_CHECK(buf != NULL, "memory");
		*n += fread(buf + *n, 1, cap - *n, f);
	} while (*n == cap);
	fclose(f);
	return buf;
}

static void put(const char *name, const char *p, size_t n)
{
	int fd = open(path_of(dir, name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	FUZZ_CHECK(fd >= 0, "cannot write %s", name);
	while (n) {
		ssize_t w = write(fd, p, n);
		FUZZ_CHECK(w > 0, "cannot write %s", name);
		p += w;
		n -= (size_t)w;
	}
	close(fd);
}

/* The last line a diagnostic may name: LFs + 1. */
static uint32_t last_line(const char *p, size_t n)
{
	uint32_t k = 1;
	for (size_t i = 0; i < n; i++)
		k += p[i] == '\n';
	return k;
}

static void cleanup(void)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, work);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_catalog: could not remove %s\n", dir);
}

struct seen {
	unsigned n;
	int last_file;
	uint32_t last_line;
};

static void on_diag(void *ctx, const char *file, uint32_t line, const char *msg)
{
	struct seen *s = ctx;
	int k = -1;
	for (unsigned i = 0; i < SR_CATALOG_FILES; i++)
		if (!strcmp(file, files[i].name))
			k = (int)i;
	FUZZ_CHECK(k >= 0, "diagnostic for unknown file '%s'", file);
	FUZZ_CHECK(line >= 1 && line <= files[k].lines,
	           "%s:%u: %s (the file has %u lines)", file, line, msg,
	           files[k].lines);
	FUZZ_CHECK(msg[0], "%s:%u: empty message", file, line);
	for (const char *c = msg; *c; c++)
		FUZZ_CHECK((unsigned char)*c >= 0x20 && *c != 0x7f,
		           "%s:%u: control byte 0x%02x in message", file, line,
		           (unsigned char)*c);
	FUZZ_CHECK(k > s->last_file ||
	               (k == s->last_file && line >= s->last_line),
	           "%s:%u: after %s:%u", file, line, files[s->last_file].name,
	           s->last_line);
	s->last_file = k;
	s->last_line = line;
	s->n++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FUZZ_CHECK(mkdtemp(dir) != NULL && mkdtemp(work) != NULL, "mkdtemp");
	atexit(cleanup);
	for (unsigned i = 0; i < SR_CATALOG_FILES; i++) {
		struct file *f = &files[i];
		f->name = sr_catalog_file_name(i);
		f->base =
		    slurp(path_of(SR_FUZZ_CATALOG, f->name), &f->base_len);
		f->lines = last_line(f->base, f->base_len);
		put(f->name, f->base, f->base_len);
	}
	/* The base must be valid, or nothing below means much. */
	struct seen s = {0};
	FUZZ_CHECK(sr_catalog_check(dir, on_diag, &s) == 0 && !s.n,
	           "%s is not a valid catalog", SR_FUZZ_CATALOG);
	return 0;
}

static bool same_file(const char *a, const char *b)
{
	size_t na, nb;
	char *x = slurp(a, &na), *y = slurp(b, &nb);
	bool same = na == nb && !memcmp(x, y, na);
	free(x);
	free(y);
	return same;
}

/* Load the checked catalog, dump it, load and dump the dump: the two
 * dumps must be the same files. */
static void round_trip(void)
{
	char db1[300], db2[300], d1[300], d2[300];
	struct seen s = {0};
	snprintf(db1, sizeof(db1), "%s/db1", work);
	snprintf(db2, sizeof(db2), "%s/db2", work);
	snprintf(d1, sizeof(d1), "%s/dump1", work);
	snprintf(d2, sizeof(d2), "%s/dump2", work);
	int err = sr_catalog_load(db1, dir, on_diag, &s);
	FUZZ_CHECK(!err && !s.n, "load of a checked catalog: %d", err);
	FUZZ_CHECK(!(err = sr_catalog_dump(db1, d1)), "dump: %d", err);
	err = sr_catalog_load(db2, d1, on_diag, &s);
	FUZZ_CHECK(!err && !s.n, "load of a dump: %d", err);
	FUZZ_CHECK(!(err = sr_catalog_dump(db2, d2)), "dump: %d", err);
	for (unsigned i = 0; i < SR_CATALOG_FILES; i++) {
		char a[600], b[600];
		snprintf(a, sizeof(a), "%s/%s", d1, files[i].name);
		snprintf(b, sizeof(b), "%s/%s", d2, files[i].name);
		FUZZ_CHECK(same_file(a, b), "dump, load, dump changed %s",
		           files[i].name);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned k = size ? data[0] % SR_CATALOG_FILES : 0;
	const char *p = size ? (const char *)data + 1 : "";
	size_t n = size ? size - 1 : 0;
	struct file *f = &files[k];
	struct seen s = {.last_file = 0};

	put(f->name, p, n);
	f->lines = last_line(p, n);
	int err = sr_catalog_check(dir, on_diag, &s);
	FUZZ_CHECK(err == 0 || err == SR_ECATALOG, "check returned %d", err);
	FUZZ_CHECK((err == 0) == (s.n == 0), "returned %d after %u diagnostics",
	           err, s.n);
	if (!err)
		round_trip();
	put(f->name, f->base, f->base_len);
	f->lines = last_line(f->base, f->base_len);
	return 0;
}
