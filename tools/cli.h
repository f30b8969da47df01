/*
 * What every subcommand shares: the exit codes of SPEC section 7 for an
 * engine error, and the one shape of an error message, naming the file
 * and, where there is one, the line.
 */
#ifndef SR_TOOLS_CLI_H
#define SR_TOOLS_CLI_H

#include <stdint.h>

/* SR_EXIT_* for an engine error code (0 for 0). */
int sr_cli_exit_code(int err);
/* "streamrate CMD: path:line: msg" on standard error; path may be empty,
 * line 0 when not about a line. */
void sr_cli_report(const char *cmd, const char *path, uint64_t line,
		   const char *msg);

#endif
