/*
 * streamrate rate: rate session files for one period into an output
 * directory (SPEC section 5). Parses options, runs, prints what went wrong
 * naming the file and line, and maps engine errors to the exit codes of
 * SPEC section 7.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "streamrate/error.h"
#include "streamrate/run.h"

static const char usage_text[] =
    "usage: streamrate rate --db DBDIR --period YYYY-MM --out OUTDIR\n"
    "                       [--threads N] [--chunk-size BYTES] [--verbose]\n"
    "                       FILE...\n"
    "\n"
    "Rate session files (FILE '-' is standard input) against the catalog\n"
    "stored in DBDIR, writing rated.csv, rejects.csv,\n"
    "invoices-YYYY-MM.jsonl, invoices-YYYY-MM.csv and summary.json into\n"
    "OUTDIR. Outputs appear only when complete.\n"
    "\n"
    "  --threads N        rating workers (default: one per core)\n"
    "  --chunk-size BYTES bytes per read (default 512 KiB)\n"
    "  --verbose          print where the time went\n"
    "\n"
    "Exit: 0 done, 1 usage, 2 bad catalog or input file, 3 I/O failure.\n";

struct progress {
	uint64_t total; /* input bytes, when known */
	uint64_t start_ns;
	bool shown;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One status line on standard error, rewritten in place. */
static void show_progress(void *ctx, const struct sr_run_stats *st)
{
	struct progress *pr = ctx;
	uint64_t ns = now_ns() - pr->start_ns;
	uint64_t ms = ns / 1000000 ? ns / 1000000 : 1;
	uint64_t rps = st->records * 1000 / ms;
	fprintf(stderr, "\r%llu MB, %llu records, %llu records/s",
	        (unsigned long long)(st->bytes >> 20),
	        (unsigned long long)st->records, (unsigned long long)rps);
	if (pr->total && st->bytes && st->bytes < pr->total) {
		uint64_t left = (pr->total - st->bytes) * ms / st->bytes / 1000;
		fprintf(stderr, ", %llu s left", (unsigned long long)left);
	}
	fputs("   ", stderr);
	pr->shown = true;
}

static uint64_t input_size(char **files, int n)
{
	uint64_t total = 0;
	struct stat st;
	for (int i = 0; i < n; i++)
		if (strcmp(files[i], "-") && stat(files[i], &st) == 0 &&
		    S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	return total;
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v == 0 || *s == '-')
		return -1;
	*out = (size_t)v;
	return 0;
}

int sr_cmd_rate(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"db", required_argument, NULL, 'd'},
	    {"period", required_argument, NULL, 'p'},
	    {"out", required_argument, NULL, 'o'},
	    {"threads", required_argument, NULL, 't'},
	    {"chunk-size", required_argument, NULL, 'c'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct sr_run_config cfg = {0};
	bool verbose = false;
	size_t n;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+hv", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			cfg.db = optarg;
			break;
		case 'p':
			cfg.period = optarg;
			break;
		case 'o':
			cfg.out = optarg;
			break;
		case 't':
			if (parse_size(optarg, &n) < 0 || n > 1024)
				goto usage;
			cfg.threads = (unsigned)n;
			break;
		case 'c':
			if (parse_size(optarg, &cfg.chunk_size) < 0 ||
			    cfg.chunk_size > (1u << 30))
				goto usage;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return SR_EXIT_OK;
		default:
			goto usage;
		}
	}
	if (!cfg.db || !cfg.period || !cfg.out || optind >= argc)
		goto usage;
	cfg.files = (const char *const *)argv + optind;
	cfg.nfiles = (unsigned)(argc - optind);

	struct progress pr = {.start_ns = now_ns()};
	if (isatty(STDERR_FILENO)) {
		pr.total = input_size(argv + optind, argc - optind);
		cfg.progress = show_progress;
		cfg.progress_ctx = &pr;
	}
	struct sr_run_stats st;
	struct sr_run_error e;
	int err = sr_run(&cfg, &st, &e);
	if (pr.shown)
		fputs("\n", stderr);
	if (err) {
		sr_cli_report("rate", e.path, e.line, e.msg);
		if (err == SR_EINVAL)
			fputs(usage_text, stderr);
		return sr_cli_exit_code(err);
	}
	if (verbose)
		fprintf(stderr,
		        "%llu records in %.3f s: setup %.3f, rating %.3f, "
		        "invoices %.3f, durable outputs %.3f\n",
		        (unsigned long long)st.records, st.elapsed_ns / 1e9,
		        st.setup_ns / 1e9, st.rate_ns / 1e9,
		        st.invoice_ns / 1e9, st.commit_ns / 1e9);
	return SR_EXIT_OK;

usage:
	fputs(usage_text, stderr);
	return SR_EXIT_USAGE;
}
