/*
 * streamrate catalog: check a catalog directory, load it into an LMDB
 * store, dump a store back to CSV files. Every problem the engine reports
 * is printed as DIR/file:line: message, all of them, so one run shows
 * everything to fix; the exit code follows SPEC section 7.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "streamrate/catalog.h"
#include "streamrate/error.h"

static const char usage_text[] =
    "usage: streamrate catalog check DIR\n"
    "       streamrate catalog load --db DBDIR DIR\n"
    "       streamrate catalog dump --db DBDIR OUTDIR\n"
    "\n"
    "  check  validate the eleven CSV files of DIR against SPEC section 2\n"
    "  load   validate DIR and store it in the LMDB environment DBDIR\n"
    "         (created if missing), replacing the stored catalog whole;\n"
    "         on any problem nothing in DBDIR changes\n"
    "  dump   write the catalog stored in DBDIR as canonical CSV files\n"
    "         into OUTDIR (created if missing)\n"
    "\n"
    "Problems are printed as DIR/file:line: message. Exit status: 0 done,\n"
    "1 usage, 2 bad catalog, 3 I/O failure.\n";

struct args {
	const char *db;
	const char *pos[2];
	int npos;
	bool help;
};

struct printer {
	char *dir; /* without trailing slashes */
	unsigned n;
};

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "streamrate catalog: %s\n", why);
	fputs(usage_text, stderr);
	return SR_EXIT_USAGE;
}

/* --db DBDIR, --db=DBDIR, --help and positional arguments. */
static int parse(int argc, char **argv, struct args *a)
{
	*a = (struct args){0};
	for (int i = 2; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			a->help = true;
		} else if (!strcmp(s, "--db") && i + 1 < argc) {
			a->db = argv[++i];
		} else if (!strncmp(s, "--db=", 5)) {
			a->db = s + 5;
		} else if (s[0] == '-' && s[1] != 0) {
			fprintf(stderr,
			        "streamrate catalog: unknown option '%s'\n", s);
			return -1;
		} else if (a->npos < 2) {
			a->pos[a->npos++] = s;
		} else {
			fprintf(stderr,
			        "streamrate catalog: too many arguments\n");
			return -1;
		}
	}
	return 0;
}

static void print_diag(void *ctx, const char *file, uint32_t line,
                       const char *msg)
{
	struct printer *p = ctx;
	p->n++;
	if (line)
		fprintf(stderr, "%s/%s:%u: %s\n", p->dir, file, line, msg);
	else
		fprintf(stderr, "%s/%s: %s\n", p->dir, file, msg);
}

static int printer_init(struct printer *p, const char *dir)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	p->n = 0;
	p->dir = strndup(dir, n);
	if (p->dir && n == 1 && p->dir[0] == '/')
		p->dir[0] = 0; /* "/" + "/rates.csv" would double the slash */
	return p->dir ? 0 : -1;
}

/* The catalog directory must exist before its files are looked for. */
static int check_dir(const char *dir)
{
	struct stat st;
	if (stat(dir, &st) < 0) {
		fprintf(stderr, "streamrate catalog: %s: %s\n", dir,
		        strerror(errno));
		return errno == ENOENT || errno == ENOTDIR ? SR_EXIT_DATA
		                                           : SR_EXIT_IO;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "streamrate catalog: %s: not a directory\n",
		        dir);
		return SR_EXIT_DATA;
	}
	return SR_EXIT_OK;
}

/* Exit code of an engine error; the message names path. */
static int fail(const char *verb, const char *path, int err, unsigned n)
{
	if (err == SR_ECATALOG) {
		fprintf(stderr,
		        "streamrate catalog %s: %s: %u problem%s, "
		        "nothing changed\n",
		        verb, path, n, n == 1 ? "" : "s");
		return SR_EXIT_DATA;
	}
	fprintf(stderr, "streamrate catalog %s: %s: %s\n", verb, path,
	        sr_strerror(err));
	return err == SR_ENOCATALOG ? SR_EXIT_DATA : SR_EXIT_IO;
}

static int cmd_check(const struct args *a)
{
	struct printer p;
	if (a->npos != 1 || a->db)
		return usage("check takes one directory");
	int rc = check_dir(a->pos[0]);
	if (rc)
		return rc;
	if (printer_init(&p, a->pos[0]) < 0)
		return SR_EXIT_IO;
	int err = sr_catalog_check(a->pos[0], print_diag, &p);
	if (!err)
		printf("%s: valid catalog\n", p.dir);
	else
		rc = fail("check", p.dir, err, p.n);
	free(p.dir);
	return rc;
}

/* "3 currencies, 4 plans, ..." from the stored counts. */
static void print_counts(const char *db, const char *dir,
                         const uint64_t rows[SR_CATALOG_FILES])
{
	printf("loaded %s into %s:", dir, db);
	for (unsigned i = 0; i < SR_CATALOG_FILES; i++) {
		const char *name = sr_catalog_file_name(i);
		printf("%s %llu %.*s", i ? "," : "",
		       (unsigned long long)rows[i], (int)(strlen(name) - 4),
		       name);
	}
	printf("\n");
}

static int cmd_load(const struct args *a)
{
	struct printer p;
	uint64_t rows[SR_CATALOG_FILES];
	if (a->npos != 1 || !a->db)
		return usage("load takes --db DBDIR and one directory");
	int rc = check_dir(a->pos[0]);
	if (rc)
		return rc;
	if (printer_init(&p, a->pos[0]) < 0)
		return SR_EXIT_IO;
	int err = sr_catalog_load(a->db, a->pos[0], print_diag, &p);
	if (err == SR_ECATALOG || err == SR_EIO)
		rc = fail("load", p.dir, err, p.n);
	else if (err)
		rc = fail("load", a->db, err, p.n);
	else if ((err = sr_catalog_count(a->db, rows)) != 0)
		rc = fail("load", a->db, err, 0);
	else
		print_counts(a->db, p.dir, rows);
	free(p.dir);
	return rc;
}

static int cmd_dump(const struct args *a)
{
	uint64_t rows[SR_CATALOG_FILES];
	if (a->npos != 1 || !a->db)
		return usage("dump takes --db DBDIR and one output directory");
	/* Open the store first, so that a failure names the right path. */
	int err = sr_catalog_count(a->db, rows);
	if (err)
		return fail("dump", a->db, err, 0);
	err = sr_catalog_dump(a->db, a->pos[0]);
	if (err)
		return fail("dump", a->pos[0], err, 0);
	return SR_EXIT_OK;
}

int sr_cmd_catalog(int argc, char **argv)
{
	struct args a;
	if (argc < 2)
		return usage(NULL);
	const char *verb = argv[1];
	if (!strcmp(verb, "--help") || !strcmp(verb, "-h")) {
		fputs(usage_text, stdout);
		return SR_EXIT_OK;
	}
	if (parse(argc, argv, &a) < 0)
		return usage(NULL);
	if (a.help) {
		fputs(usage_text, stdout);
		return SR_EXIT_OK;
	}
	if (!strcmp(verb, "check"))
		return cmd_check(&a);
	if (!strcmp(verb, "load"))
		return cmd_load(&a);
	if (!strcmp(verb, "dump"))
		return cmd_dump(&a);
	fprintf(stderr, "streamrate catalog: unknown subcommand '%s'\n", verb);
	return usage(NULL);
}
