/*
** cli/profiling.h - what `cleave profile` and `cleave calibrate` share: the profiling options,
** their checks, the signal handling, the progress display and the run summary.
*/
#ifndef CLEAVE_CLI_PROFILING_H
#define CLEAVE_CLI_PROFILING_H

#include <getopt.h>
#include <signal.h>

#include "cli/cli.h"
#include "profiler/profile.h"

/* getopt_long values of the shared options (above any short option character). */
enum {
    CLI_O_DEVICE = 256,
    CLI_O_DB,
    CLI_O_SWEEP,
    CLI_O_TYPES,
    CLI_O_LOAD,
    CLI_O_BUDGET,
    CLI_O_THREADS,
    CLI_O_SEED,
    CLI_O_WINDOW,
    CLI_O_SAMPLE,
    CLI_O_PROBES,
    CLI_O_RESUME,
    CLI_O_QUIET,
    CLI_O_NEXT /* the first value free for a command's own options */
};

/* The struct option entries of the shared options, for a command's longopts table. */
#define CLI_PROFILE_LONGOPTS                                                                       \
    {"device", required_argument, NULL, CLI_O_DEVICE}, {"db", required_argument, NULL, CLI_O_DB},  \
        {"sweep", required_argument, NULL, CLI_O_SWEEP},                                           \
        {"types", required_argument, NULL, CLI_O_TYPES},                                           \
        {"load", required_argument, NULL, CLI_O_LOAD},                                             \
        {"budget", required_argument, NULL, CLI_O_BUDGET},                                         \
        {"threads", required_argument, NULL, CLI_O_THREADS},                                       \
        {"seed", required_argument, NULL, CLI_O_SEED},                                             \
        {"window-ms", required_argument, NULL, CLI_O_WINDOW},                                      \
        {"sample-ms", required_argument, NULL, CLI_O_SAMPLE},                                      \
        {"probes", required_argument, NULL, CLI_O_PROBES},                                         \
        {"resume", no_argument, NULL, CLI_O_RESUME},                                               \
    {                                                                                              \
        "quiet", no_argument, NULL, CLI_O_QUIET                                                    \
    }

/* The usage lines describing the shared options. */
extern const char cli_profile_options_help[];

struct cli_profile_args {
    prof_run_config cfg;
    const char *loads[64];
    size_t nloads;
    const char *db;
    int quiet;
};

void cli_profile_args_init(struct cli_profile_args *a);

/* If OPT is a shared option, apply ARG to A and return 1; return 0 if OPT is not one of them;
** return -1 after printing a usage error (exit code CLI_USAGE). */
int cli_profile_option(const char *cmd, int opt, const char *arg, struct cli_profile_args *a);

/* Check the options before anything is opened: a device name, the sweep, the types, the loads.
** Returns CLI_OK or the exit code after printing the error. */
int cli_profile_check(const char *cmd, struct cli_profile_args *a);

/* Run the profiler with Ctrl-C / SIGTERM handling and progress on stderr, and print the summary.
** Returns CLI_OK, CLI_INTERRUPTED (a signal stopped it) or CLI_ERR (printed). */
int cli_profile_run(struct cli_profile_args *a, prof_run_summary *sum);

#endif /* CLEAVE_CLI_PROFILING_H */
