/*
** cli/cmd-profile.c - `cleave profile`: time the sweep's layers under synthetic load levels
** and store the samples, resumably.
*/
#include "cli/profiling.h"

static const char usage[] =
    "usage: cleave profile --device NAME [--db PATH] [--sweep FILE] [--types LIST]\n"
    "                      [--load SPEC]... [--budget TIME] [--threads N] [--seed S]\n"
    "                      [--window-ms MS] [--sample-ms MS] [--probes cpu,mem|none]\n"
    "                      [--resume] [--quiet]\n"
    "\n"
    "Time every layer shape of a sweep under every load level and store the samples with\n"
    "the dynamic load features observed just before each one.  Samples are committed in\n"
    "batches: a crash loses at most the batch in flight, and --resume continues the\n"
    "device's unfinished run without duplicates.  Ctrl-C stops the load, commits what was\n"
    "measured and exits 130.\n"
    "\n";

int cmd_profile(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_PROFILE_LONGOPTS, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    struct cli_profile_args a;
    prof_run_summary sum;
    int opt, r;

    cli_profile_args_init(&a);
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            fputs(cli_profile_options_help, stdout);
            return cli_finish(CLI_OK);
        }
        r = cli_profile_option("profile", opt, optarg, &a);
        if (r < 0)
            return CLI_USAGE;
        if (r == 0)
            return cli_usage_error("profile", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind < argc)
        return cli_usage_error("profile", "unexpected argument '%s'", argv[optind]);
    if ((r = cli_profile_check("profile", &a)) != CLI_OK)
        return r;
    return cli_finish(cli_profile_run(&a, &sum));
}
