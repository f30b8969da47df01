/* streamrate gen: placeholder until the gen subcommands land. */
#include <stdio.h>

#include "commands.h"

int sr_cmd_gen(int argc, char **argv)
{
	fprintf(stderr, "streamrate gen: not built yet\n");
	return SR_EXIT_USAGE;
}
