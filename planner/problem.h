/*
** planner/problem.h - the partitioning problem every algorithm solves, independent of where the
** graph and the costs came from.
**
** Cost model (seeds 001/002, DESIGN.md "Planner"): layers run one at a time, so the latency of
** an inference is the sum of the compute time of every node on the side it runs on, plus the
** time of every tensor crossing between the sides.  A tensor produced on side A and consumed by
** one or more nodes on side B crosses once (A -> B), whatever the number of consumers; a tensor
** may cross in both directions at most once each.  Network inputs start on the end device; every
** network output must end on the end device (an output produced on the edge is downloaded).
*/
#ifndef CLEAVE_PLANNER_PROBLEM_H
#define CLEAVE_PLANNER_PROBLEM_H

#include <stddef.h>
#include <stdint.h>

#include <cleave/cleave.h>

typedef struct plan_problem {
    int n;                /* nodes, numbered in a topological order */
    const double *t_end;  /* compute time of node i on the end device, microseconds */
    const double *t_edge; /* ... on the edge server */
    int ntensors;
    const int *producer;   /* tensor t's producing node, or -1 for a network input (on the end) */
    const double *up_us;   /* time to send tensor t end -> edge (rtt/2 + bytes*8/up) */
    const double *down_us; /* time to send tensor t edge -> end */
    const int *cons_off;   /* consumers of tensor t: cons[cons_off[t] .. cons_off[t+1]) */
    const int *cons;
    const unsigned char *is_output; /* tensor t is a network output */
} plan_problem;

/* A placement and its predicted breakdown. */
typedef struct plan_result {
    unsigned char *on_edge; /* n entries, 1 = the node runs on the edge; owned by the caller */
    double total_us, end_us, edge_us, up_us, down_us;
    int64_t evaluated; /* candidate placements the algorithm evaluated */
    int exact;         /* 1: optimal under the cost model for this graph */
    char note[160];    /* e.g. "graph is not series-parallel: dp is a heuristic here" */
} plan_result;

/* The latency of placement ON_EDGE under P (the cost model above), with its breakdown. */
void plan_evaluate(const plan_problem *p, const unsigned char *on_edge, plan_result *out);

#endif /* CLEAVE_PLANNER_PROBLEM_H */
