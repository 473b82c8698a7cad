/*
** cli/cli.h - what the subcommands of the `cleave` command share: the command table entry
** type, exit codes, and error helpers.  Only cli/ prints to the user or exits.
*/
#ifndef CLEAVE_CLI_H
#define CLEAVE_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <cleave/cleave.h>

#include "fit/design.h"

/* Exit codes (STYLE.md): 0 success, 1 error, 2 bad usage, 130 interrupted. */
enum { CLI_OK = 0, CLI_ERR = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 };

/* A subcommand: ARGV[0] is its name; it returns the process exit code. */
typedef int (*cli_fn)(int argc, char **argv);

struct cli_cmd {
    const char *name;
    cli_fn fn;
    const char *summary;
};

/* Every subcommand, defined in cli/cmd-<name>.c. */
int cmd_bench(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_db(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* The table entry for NAME, or NULL; the overview listing every command (cli/main.c). */
const struct cli_cmd *cli_find_command(const char *name);
void cli_print_overview(FILE *out);

/* "cleave: error: <message>\n" on stderr; returns CLI_ERR. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "cleave <cmd>: <message>\n" plus "see 'cleave <cmd> --help'" on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a positive integer option value; on failure prints a usage error naming OPT. */
int cli_parse_int(const char *cmd, const char *opt, const char *val, long lo, long hi, long *out);
/* The options of the commands that run models (`cleave run`, `cleave validate`), parsed in one
** place so that both take them alike: --threads N, --reps R, --warmup W, --seed S,
** --unknown-op error|fallback.  A command numbers its own options from CLI_X_NEXT and puts
** CLI_EXEC_LONGOPTS in its table. */
enum { CLI_X_THREADS = 512, CLI_X_REPS, CLI_X_WARMUP, CLI_X_SEED, CLI_X_UNKNOWN, CLI_X_NEXT };
#define CLI_EXEC_LONGOPTS                                                                          \
    {"threads", required_argument, NULL, CLI_X_THREADS},                                           \
        {"reps", required_argument, NULL, CLI_X_REPS},                                             \
        {"warmup", required_argument, NULL, CLI_X_WARMUP},                                         \
        {"seed", required_argument, NULL, CLI_X_SEED},                                             \
    {                                                                                              \
        "unknown-op", required_argument, NULL, CLI_X_UNKNOWN                                       \
    }
typedef struct cli_exec_args {
    int threads, reps, warmup; /* threads 0 until cli_exec_args_finish(): one per online CPU */
    uint64_t seed;             /* of the weights and inputs */
    unsigned flags;            /* graph import flags (PLAN_ONNX_FALLBACK) */
} cli_exec_args;
/* Defaults: threads 0 (all CPUs), reps 10, warmup 2, seed 1, unknown ops refused. */
void cli_exec_args_init(cli_exec_args *a);
/* If OPT is one of the options above, take ARG into *A: 1, or -1 after a usage error of CMD.
** 0 when OPT is not one of them. */
int cli_exec_option(const char *cmd, int opt, const char *arg, cli_exec_args *a);
/* Resolve threads 0 to the number of online CPUs. */
void cli_exec_args_finish(cli_exec_args *a);

/* A plan's predicted breakdown as JSON members on stdout: "total_us": T, "end_us": E,
** "edge_us": G, "up_us": U, "down_us": D (no surrounding braces or commas). */
struct plan_result;
void cli_json_breakdown(const struct plan_result *r);

/* --target: "mean", "median" or "p90" into *OUT; else a usage error, -1. */
int cli_parse_target(const char *cmd, const char *val, fit_target *out);
/* Parse a size such as 512M, 2G, 1048576 into bytes. */
int cli_parse_bytes(const char *cmd, const char *opt, const char *val, unsigned long long *out);

/* Parse a load given as KEY=VALUE,... (load feature names of include/cleave/load.h) into *OUT;
** features not given are NaN.  Returns 0, or prints a usage error naming CMD and OPT and
** returns -1. */
int cli_parse_load(const char *cmd, const char *opt, const char *text, cleave_load *out);

/* Flush stdout and report a write error (a closed pipe, a full disk); returns CODE or CLI_ERR. */
int cli_finish(int code);

/* Open the predictor of DEVICE: a formula device file (docs/devices.md) when DEVICE ends in
** ".device" or contains a '/' (cli_is_formula_device() is then 1), otherwise the calibrated
** device of that name in the store at DB.  Returns the status; the message goes to ERR. */
int cli_is_formula_device(const char *device);
cleave_status cli_open_predictor(cleave_predictor **p, const char *db, const char *device,
                                 char *err, size_t errlen);

/* The store path: the --db value if given, else $CLEAVE_DB, else "cleave.db". */
const char *cli_db_path(const char *opt);

#endif /* CLEAVE_CLI_H */
