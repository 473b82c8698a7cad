/*
** cli/cmd-help.c - `cleave help [CMD]`: the overview, or CMD's own --help.
*/
#include "cli/cli.h"

#include <string.h>

int cmd_help(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        cli_print_overview(stdout);
        return cli_finish(CLI_OK);
    }
    if (argc > 2)
        return cli_usage_error("help", "takes at most one command name");
    const struct cli_cmd *cmd = cli_find_command(argv[1]);
    if (!cmd)
        return cli_usage_error("help", "no such command '%s'", argv[1]);
    char *sub[] = {argv[1], (char *)"--help", NULL};
    return cmd->fn(2, sub);
}
