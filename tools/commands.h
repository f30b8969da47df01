/*
 * The subcommands of the streamrate program. Each takes the arguments after
 * its own name (argv[0] is the subcommand) and returns the process exit
 * code of SPEC section 7: 0 done, 1 usage, 2 bad catalog or input, 3 I/O.
 */
#ifndef SR_TOOLS_COMMANDS_H
#define SR_TOOLS_COMMANDS_H

enum {
	SR_EXIT_OK = 0,
	SR_EXIT_USAGE = 1,
	SR_EXIT_DATA = 2,
	SR_EXIT_IO = 3,
};

int sr_cmd_catalog(int argc, char **argv);
int sr_cmd_rate(int argc, char **argv);
int sr_cmd_gen(int argc, char **argv);
int sr_cmd_follow(int argc, char **argv);
int sr_cmd_close(int argc, char **argv);

#endif
