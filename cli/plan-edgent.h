/*
** cli/plan-edgent.h - `cleave plan --algo edgent`: the early exit and partition chosen together
** under a latency requirement (seed 001), with bandwidth and deadline sweeps.
*/
#ifndef CLEAVE_CLI_PLAN_EDGENT_H
#define CLEAVE_CLI_PLAN_EDGENT_H

#include <cleave/cleave.h>

#include "planner/graph.h"
#include "planner/partition.h"

/* A sweep A:B:N: N values from A to B, evenly spaced (N == 1: A alone). */
typedef struct cli_sweep {
    int n;
    double a, b;
} cli_sweep;

typedef struct cli_edgent_args {
    const char *model, *end_dev, *edge_dev;
    const plan_graph *g;
    const double *t_end, *t_edge; /* per graph node, microseconds */
    const cleave_predictor *pe, *px;
    double up, down, rtt; /* Mbit/s, Mbit/s, ms */
    double deadline_ms;   /* > 0, or 0 when only --sweep-deadline gives deadlines */
    int include_loading;
    plan_algo partition; /* used when partition_given, else the minimum cut */
    int partition_given;
    cli_sweep bw, dl; /* n == 0: no sweep */
    const char *plot_dir;
    int json;
} cli_edgent_args;

/* Parse "A:B:N" for option OPT into *OUT (0 < A <= B, 1 <= N <= 10000; A == B when N == 1);
** returns 0 or prints a usage error and returns -1. */
int cli_parse_sweep(const char *opt, const char *val, cli_sweep *out);

/* Run the Edgent choice as A says and print it; returns the exit code. */
int cli_plan_edgent(const cli_edgent_args *a);

#endif /* CLEAVE_CLI_PLAN_EDGENT_H */
