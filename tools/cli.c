/*
 * Exit codes and error messages of the streamrate program, in one place
 * so that every subcommand speaks the same way.
 */
#include <stdio.h>

#include "cli.h"
#include "commands.h"
#include "streamrate/error.h"

int sr_cli_exit_code(int err)
{
	switch (err) {
	case 0:
		return SR_EXIT_OK;
	case SR_EINVAL:
		return SR_EXIT_USAGE;
	case SR_EHEADER:
	case SR_ECATALOG:
	case SR_ENOCATALOG:
	case SR_ENOTFOUND:
	case SR_EOVERFLOW:
	case SR_ELMDB:
		return SR_EXIT_DATA;
	default:
		return SR_EXIT_IO;
	}
}

void sr_cli_report(const char *cmd, const char *path, uint64_t line,
		   const char *msg)
{
	if (path && path[0] && line)
		fprintf(stderr, "streamrate %s: %s:%llu: %s\n", cmd, path,
			(unsigned long long)line, msg);
	else if (path && path[0])
		fprintf(stderr, "streamrate %s: %s: %s\n", cmd, path, msg);
	else
		fprintf(stderr, "streamrate %s: %s\n", cmd, msg);
}
