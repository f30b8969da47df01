/*
 * streamrate: the command-line front of the engine. This file only
 * dispatches to subcommands; each lives in its own cmd_*.c.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "commands.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
    {"catalog", sr_cmd_catalog, "check, load or dump a tariff catalog"},
    {"rate", sr_cmd_rate, "rate session files for a period"},
    {"gen", sr_cmd_gen, "generate a catalog and session files"},
    {"follow", sr_cmd_follow, "rate growing session files, exactly once"},
    {"close", sr_cmd_close, "close a followed period into invoices"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: streamrate <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\n'streamrate <command> --help' describes a command.\n");
}

int main(int argc, char **argv)
{
	/* A file-size limit must fail a write with EFBIG, reported with the
	 * file's name, instead of killing the process mid-output. */
	signal(SIGXFSZ, SIG_IGN);
	/* rate checks every input's header before rating any, so it holds
	 * one descriptor per file: allow as many as the system lets us. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
	    nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	if (argc < 2) {
		usage(stderr);
		return SR_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return SR_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "streamrate: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return SR_EXIT_USAGE;
}
