/*
 * streamrate close: close a period of the follow state and write its
 * invoices (include/streamrate/follow.h). The invoices are byte for byte
 * those a batch `rate` of the same records writes; records of the period
 * that follow meets afterwards are rejected as period_closed.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "commands.h"
#include "streamrate/error.h"
#include "streamrate/follow.h"

static const char usage_text[] =
    "usage: streamrate close --db DBDIR --state STATEDIR --period YYYY-MM\n"
    "                        --out OUTDIR\n"
    "\n"
    "Mark the period closed in the follow state STATEDIR and write\n"
    "OUTDIR/invoices-YYYY-MM.jsonl and .csv from the totals it holds.\n"
    "Closing a closed period again writes the same invoices.\n"
    "\n"
    "Exit: 0 done, 1 usage, 2 bad catalog or totals the catalog cannot\n"
    "resolve, 3 I/O failure.\n";

int sr_cmd_close(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"db", required_argument, NULL, 'd'},
	    {"state", required_argument, NULL, 's'},
	    {"period", required_argument, NULL, 'p'},
	    {"out", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct sr_close_config cfg = {0};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			cfg.db = optarg;
			break;
		case 's':
			cfg.state = optarg;
			break;
		case 'p':
			cfg.period = optarg;
			break;
		case 'o':
			cfg.out = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return SR_EXIT_OK;
		default:
			goto usage;
		}
	}
	if (!cfg.db || !cfg.state || !cfg.period || !cfg.out || optind != argc)
		goto usage;

	struct sr_run_error e;
	uint64_t n = 0;
	int err = sr_follow_close(&cfg, &n, &e);
	if (err) {
		sr_cli_report("close", e.path, e.line, e.msg);
		if (err == SR_EINVAL)
			fputs(usage_text, stderr);
		return sr_cli_exit_code(err);
	}
	fprintf(stderr, "streamrate close: %s closed, %llu invoices\n",
	        cfg.period, (unsigned long long)n);
	return SR_EXIT_OK;

usage:
	fputs(usage_text, stderr);
	return SR_EXIT_USAGE;
}
