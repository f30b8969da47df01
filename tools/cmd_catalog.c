/* streamrate catalog: placeholder until the catalog subcommands land. */
#include <stdio.h>

#include "commands.h"

int sr_cmd_catalog(int argc, char **argv)
{
	fprintf(stderr, "streamrate catalog: not built yet\n");
	return SR_EXIT_USAGE;
}
