/*
 * streamrate follow: rate session files as they grow, with exactly-once
 * state (include/streamrate/follow.h). Parses options, turns SIGTERM and
 * SIGINT into "finish what is read, commit, exit 0", prints the engine's
 * events (refused headers, rotations) on standard error, and maps errors
 * to the exit codes of SPEC section 7.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "streamrate/error.h"
#include "streamrate/follow.h"
#include "streamrate/nginx.h"

static const char usage_text[] =
    "usage: streamrate follow --db DBDIR --state STATEDIR --out OUTDIR\n"
    "                         [--commit-ms N] [--poll-ms N] [--once]\n"
    "                         [--nginx MAPPING] [--quiet] PATH...\n"
    "\n"
    "Follow session files and directories (their files, in name order)\n"
    "as they grow, rating each record once it is complete. Rows go to\n"
    "OUTDIR/rated-YYYY-MM.csv and OUTDIR/rejects-YYYY-MM.csv by the\n"
    "period of each session's start; records whose period is unknown\n"
    "(malformed) to OUTDIR/rejects-unknown.csv. Progress, duplicate keys\n"
    "and totals are committed to STATEDIR; a restart after any crash\n"
    "resumes exactly at the last commit. SIGTERM or SIGINT: finish what\n"
    "is read, commit, exit 0.\n"
    "\n"
    "  --commit-ms N   longest time between commits (default 100)\n"
    "  --poll-ms N     re-check paths without events (default 250)\n"
    "  --once          rate what is there now, commit and exit\n"
    "  --nginx MAPPING the paths are nginx / nginx-rtmp access logs, read\n"
    "                  through this mapping file (README, \"nginx and\n"
    "                  nginx-rtmp logs\"); one record per line\n"
    "  --quiet         do not print rotations and new files\n"
    "\n"
    "Exit: 0 done, 1 usage, 2 bad catalog, 3 I/O failure or state busy.\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void catch_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a wait is interrupted and sees the flag. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

static void on_event(void *ctx, enum sr_follow_event ev, const char *path,
                     uint64_t line, const char *msg)
{
	bool quiet = *(bool *)ctx;
	if (quiet && ev != SR_FOLLOW_BAD_HEADER && ev != SR_FOLLOW_LOST)
		return;
	sr_cli_report("follow", path, line, msg);
}

static int parse_ms(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v == 0 || v > 3600000)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Compile an nginx mapping file, printing where it is wrong. */
static int load_mapping(const char *path, struct sr_nginx **out)
{
	struct sr_nginx_error e = {0};
	int err = sr_nginx_load(path, out, &e);
	if (!err)
		return 0;
	sr_cli_report("follow", path, e.line, e.msg[0] ? e.msg : sr_strerror(err));
	return -1;
}

static void report(const struct sr_run_error *e)
{
	sr_cli_report("follow", e->path, e->line, e->msg);
}

int sr_cmd_follow(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"db", required_argument, NULL, 'd'},
	    {"state", required_argument, NULL, 's'},
	    {"out", required_argument, NULL, 'o'},
	    {"commit-ms", required_argument, NULL, 'c'},
	    {"poll-ms", required_argument, NULL, 'p'},
	    {"once", no_argument, NULL, '1'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"nginx", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct sr_follow_config cfg = {.stop = &stop, .event = on_event};
	const char *mapping = NULL;
	bool quiet = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+hq", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			cfg.db = optarg;
			break;
		case 's':
			cfg.state = optarg;
			break;
		case 'o':
			cfg.out = optarg;
			break;
		case 'c':
			if (parse_ms(optarg, &cfg.commit_ms) < 0)
				goto usage;
			break;
		case 'p':
			if (parse_ms(optarg, &cfg.poll_ms) < 0)
				goto usage;
			break;
		case '1':
			cfg.once = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'n':
			mapping = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return SR_EXIT_OK;
		default:
			goto usage;
		}
	}
	if (!cfg.db || !cfg.state || !cfg.out || optind >= argc)
		goto usage;
	cfg.paths = (const char *const *)argv + optind;
	cfg.npaths = (unsigned)(argc - optind);
	cfg.event_ctx = &quiet;
	struct sr_nginx *ngx = NULL;
	if (mapping && load_mapping(mapping, &ngx) < 0)
		return SR_EXIT_DATA;
	cfg.format = ngx ? SR_FOLLOW_NGINX : SR_FOLLOW_CSV;
	cfg.nginx = ngx;
	catch_signals();

	struct sr_follow_stats st;
	struct sr_run_error e;
	int err = sr_follow_run(&cfg, &st, &e);
	sr_nginx_destroy(ngx);
	if (err) {
		report(&e);
		return sr_cli_exit_code(err);
	}
	if (!quiet)
		fprintf(stderr,
		        "streamrate follow: %llu records, %llu rated, %llu "
		        "rejected, %llu skipped, %llu commits\n",
		        (unsigned long long)st.records,
		        (unsigned long long)st.rated,
		        (unsigned long long)st.rejected,
		        (unsigned long long)st.skipped,
		        (unsigned long long)st.commits);
	return SR_EXIT_OK;

usage:
	fputs(usage_text, stderr);
	return SR_EXIT_USAGE;
}
