/*
** planner/edgent.h - Edgent's right-sizing (Li, Zhou, Chen, "Edge intelligence: on-demand deep
** learning model co-inference with device-edge synergy", MECOMM 2018; seed 001): choose the
** early exit and the partition of the network up to it together, so that accuracy is highest
** without missing a latency requirement.  Internal to the planner stage.
**
** Each exit of a graph (planner/graph.h: a branch leaving the main path, or the main exit) is
** the network of the nodes its result needs: the main path up to the branch's 'from' node plus
** the branch's own layers (for the main exit, the main path).  Its best partition is found with
** an exact partition algorithm (the DADS minimum cut by default) under the cost model of
** planner/problem.h, the exit's result being what returns to the end device.  Then:
**
**   chosen = the most accurate exit whose best latency <= the deadline (ties: the lower
**            latency, then the earlier exit);
**   if no exit meets the deadline: the fastest exit (ties: the more accurate, then the earlier),
**            reported as missing it.
**
** Because every placement's latency falls as bandwidth rises, and the deadline only admits more
** exits as it grows, the chosen accuracy never falls when bandwidth or deadline grow, as long as
** some exit meets the deadline (the fastest-exit answer when none does is a report, not a
** selection, and follows no such rule).
**
** Model loading (seed 001's "model loading" regression, optional): a side that runs at least one
** layer first loads the weights of its layers, costing a_us + us_per_byte * weight bytes once.
** The intercepts make the cost depend on whether a side is used at all; the optimum is still
** exact: with the per-byte parts added to every node's time, let U be the optimum; then the
** answer is the cheapest of all-on-end + a_end, all-on-edge + a_edge and, when U uses both
** sides, U + a_end + a_edge (any placement that uses both sides costs at least U).  This needs
** a_end, a_edge >= 0.
*/
#ifndef CLEAVE_PLANNER_EDGENT_H
#define CLEAVE_PLANNER_EDGENT_H

#include <stddef.h>

#include <cleave/cleave.h>

#include "planner/graph.h"
#include "planner/partition.h"

/* One side's one-off model-loading cost: a_us + us_per_byte * bytes, both >= 0. */
typedef struct plan_loading {
    double a_us, us_per_byte;
} plan_loading;

typedef struct plan_edgent_opts {
    double up_mbps, down_mbps, rtt_ms; /* the link, as plan_problem_build() takes it */
    double deadline_us;                /* the latency requirement, > 0 and finite */
    const plan_loading *load_end;      /* both NULL: no loading cost; otherwise both given */
    const plan_loading *load_edge;
    plan_algo algo; /* partition algorithm run on each exit (PLAN_ALGO_MINCUT is exact) */
} plan_edgent_opts;

/* One exit's best plan. */
typedef struct plan_edgent_exit {
    const char *name;       /* the exit's name (points into the graph); "main" without exits */
    double accuracy;        /* declared accuracy; NaN for a graph that declares no exits */
    int n;                  /* nodes of the exit's network */
    int *nodes;             /* n graph node ids, in the graph's topological order */
    unsigned char *on_edge; /* n: the placement (1 = on the edge), after plan_edgent_solve() */
    plan_result r;          /* its breakdown; r.total_us includes the loading costs below,
                            ** r.end_us ... r.down_us do not; r.on_edge is on_edge */
    double load_end_us, load_edge_us; /* loading costs charged (0 without loading) */
    int meets;                        /* r.total_us <= the deadline */
} plan_edgent_exit;

typedef struct plan_edgent {
    int nexits;
    plan_edgent_exit *exits; /* in the graph's exit declaration order */
    int chosen;              /* the exit chosen by the rule above (after solve), else -1 */
    int feasible;            /* 1: the chosen exit meets the deadline */
} plan_edgent;

/* Zero *O, with algo PLAN_ALGO_MINCUT and no loading; the caller then sets the link and the
** deadline (zero is invalid for both, so a forgotten field is an error, not a default). */
void plan_edgent_opts_init(plan_edgent_opts *o);

/* Prepare the exits of the finished graph G into *OUT (each exit's node set; a graph without
** exits has one exit "main" holding every node).  Free with plan_edgent_destroy().
** CLEAVE_EINVAL (an unfinished graph) or CLEAVE_ENOMEM; *OUT is NULL on failure. */
cleave_status plan_edgent_create(plan_edgent **out, const plan_graph *g, char *err, size_t errlen);
void plan_edgent_destroy(plan_edgent *e); /* NULL is a harmless no-op */

/* Solve every exit of E (made from G) with per-node times END_US / EDGE_US (indexed by graph
** node id, as plan_problem_build() takes them) under OPTS, and choose.  Errors (CLEAVE_EINVAL):
** "deadline must be a positive number of ms, got -1" (printed in ms), "loading costs must be
** given for both sides", "loading cost must be >= 0 ..."; plan_problem_build()'s and the
** algorithm's; CLEAVE_ENOMEM. */
cleave_status plan_edgent_solve(plan_edgent *e, const plan_graph *g, const double *end_us,
                                const double *edge_us, const plan_edgent_opts *opts, char *err,
                                size_t errlen);

/* The choice rule alone, over N exits with ACCURACY[i] (NaN counts as lower than any number)
** and best latency TOTAL_US[i]: returns the chosen index (-1 when N == 0) and sets *FEASIBLE. */
int plan_edgent_choose(const double *accuracy, const double *total_us, int n, double deadline_us,
                       int *feasible);

/* Weight bytes of graph node V (CLEAVE_FEAT_W_BYTES of its layer; 0 for unknown-op and
** zero-cost nodes): what the loading cost counts. */
double plan_node_weight_bytes(const plan_graph *g, int v);

#endif /* CLEAVE_PLANNER_EDGENT_H */
