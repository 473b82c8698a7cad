/*
** cli/main.c - the `cleave` command: global options and the command table.
*/
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct cli_cmd commands[] = {
    {"calibrate", cmd_calibrate, "calibrate a device once: profile, fit and report"},
    {"profile", cmd_profile, "time layers under synthetic load into the store"},
    {"plan", cmd_plan, "partition a model between end device and edge"},
    {"run", cmd_run, "run a model, whole or split with an edge server"},
    {"validate", cmd_validate, "compare predicted with measured latency per node"},
    {"serve", cmd_serve, "serve as the edge of split (co-inference) runs"},
    {"bench", cmd_bench, "time layers on this machine's backend"},
    {"fit", cmd_fit, "fit latency models from stored samples"},
    {"predict", cmd_predict, "predict the latency of layers on a device"},
    {"report", cmd_report, "R² tables and plots per layer type"},
    {"db", cmd_db, "inspect, export, merge or check a store"},
    {"info", cmd_info, "describe this machine, the backend and what is usable"},
    {"help", cmd_help, "show help for cleave or one of its commands"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void print_overview(FILE *out)
{
    fprintf(out, "usage: cleave [--version] [--help] <command> [<args>]\n\n"
                 "cleave learns how long DNN layers take on a device, also under load, and\n"
                 "splits networks between an end device and an edge server.\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "   %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nSee 'cleave help <command>' for the options of one command.\n");
}

/* Levenshtein distance, for suggesting the nearest command to a typo (git's help.c does the
** same with a weighted variant). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];
    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof cur);
    }
    return prev[lb];
}

const struct cli_cmd *cli_find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

void cli_print_overview(FILE *out)
{
    print_overview(out);
}

/* oneDNN's OpenMP runtime reads OMP_PROC_BIND when the library loads, before main runs, so
** binding must be in the environment at exec time.  Unbound two-thread OpenMP is bimodal under
** background load (DESIGN.md), so unless the user chose a binding we re-execute ourselves once
** with OMP_PROC_BIND=true.  The binding is part of a device's identity and is recorded. */
static void ensure_binding(char **argv)
{
    if (getenv("OMP_PROC_BIND") || getenv("CLEAVE_NO_REEXEC"))
        return;
    setenv("OMP_PROC_BIND", "true", 1);
    setenv("CLEAVE_NO_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
    /* If exec fails we go on unbound; `cleave info` shows the binding in force. */
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_overview(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("cleave %s\n", cleave_version());
        return cli_finish(CLI_OK);
    }
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        print_overview(stdout);
        return cli_finish(CLI_OK);
    }
    const struct cli_cmd *cmd = cli_find_command(name);
    if (!cmd) {
        const char *best = NULL;
        size_t best_d = 3;
        for (size_t i = 0; i < NCOMMANDS; i++) {
            size_t d = edit_distance(name, commands[i].name);
            if (d < best_d || (d == best_d && !best && d < 3)) {
                best_d = d;
                best = commands[i].name;
            }
        }
        fprintf(stderr, "cleave: '%s' is not a cleave command. See 'cleave --help'.\n", name);
        if (best)
            fprintf(stderr, "\nThe most similar command is\n\t%s\n", best);
        return CLI_USAGE;
    }
    if (strcmp(cmd->name, "help") != 0)
        ensure_binding(argv);
    return cmd->fn(argc - 1, argv + 1);
}
