/* streamrate rate: placeholder until the rate subcommands land. */
#include <stdio.h>

#include "commands.h"

int sr_cmd_rate(int argc, char **argv)
{
	fprintf(stderr, "streamrate rate: not built yet\n");
	return SR_EXIT_USAGE;
}
