/*
** planner/partition.h - the partition algorithms over a plan_problem (local, edge, Neurosurgeon,
** Couper, the seed-002 dynamic program, the DADS minimum cut, brute force), their shared
** helpers, and the max-flow the minimum cut runs on.  Internal to the planner stage.
**
** Every algorithm has the same contract: P must pass plan_problem_check() (each entry point
** checks it again and fails with its message); OUT->on_edge must point at P->n bytes owned by
** the caller, which receive the placement (1 = the node runs on the edge); the other fields of
** OUT are overwritten: the breakdown of that placement by plan_evaluate(), `evaluated` (what
** the algorithm counted, see each function), `exact` (1 when the placement is proven optimal
** under the cost model of problem.h for this graph) and `note` (one line, may be empty).
** Returns CLEAVE_OK, CLEAVE_EINVAL (bad problem or argument: message in ERR) or CLEAVE_ENOMEM.
** Nothing is kept between calls; every allocation is freed before returning.
*/
#ifndef CLEAVE_PLANNER_PARTITION_H
#define CLEAVE_PLANNER_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#include "planner/problem.h"

/* The algorithms by name, for the command line and for plan_run(). */
typedef enum plan_algo {
    PLAN_ALGO_LOCAL,
    PLAN_ALGO_EDGE,
    PLAN_ALGO_NEUROSURGEON,
    PLAN_ALGO_COUPER,
    PLAN_ALGO_DP,
    PLAN_ALGO_MINCUT,
    PLAN_ALGO_BRUTE,
    PLAN_ALGO_COUNT
} plan_algo;

/* "local", "edge", "neurosurgeon", "couper", "dp", "mincut", "brute"; "?" out of range. */
const char *plan_algo_name(plan_algo a);

/* The algorithm called NAME into *OUT; returns 0, or -1 for an unknown name. */
int plan_algo_parse(const char *name, plan_algo *out);

/* Brute force refuses problems with more nodes than this (2^24 placements, about 0.2 s). */
#define PLAN_BRUTE_MAX_NODES 24

/* Check that P is a well-formed problem: n >= 1, ntensors >= 0, the arrays present (is_output
** may be NULL: no tensor is an output), every time finite and >= 0, producers in [-1, n),
** cons_off non-decreasing from 0, every consumer in [0, n) and after its tensor's producer in
** the topological order.  Returns CLEAVE_OK or CLEAVE_EINVAL with e.g.
** "tensor 3: consumer 1 does not come after its producer 2". */
cleave_status plan_problem_check(const plan_problem *p, char *err, size_t errlen);

/* Everything on the end device (network outputs then stay there; nothing is sent).
** evaluated = 1, exact = 0. */
cleave_status plan_local(const plan_problem *p, plan_result *out, char *err, size_t errlen);

/* Everything on the edge: the network inputs are uploaded and the outputs downloaded.
** evaluated = 1, exact = 0. */
cleave_status plan_edge(const plan_problem *p, plan_result *out, char *err, size_t errlen);

/* Neurosurgeon (Kang et al., "Neurosurgeon: collaborative intelligence between the cloud and
** mobile edge", ASPLOS 2017): the best single split of the topological order, nodes [0, k) on
** the end device and [k, n) on the edge, over k = 0..n (k = n is local, k = 0 is edge); the
** first best k wins ties.  One O(n + edges) sweep; evaluated = n + 1; exact = 0 (a chain's
** optimum may switch sides more than once). */
cleave_status plan_neurosurgeon(const plan_problem *p, plan_result *out, char *err, size_t errlen);

/* Couper's candidate-evaluation methods (Hsu, Bhardwaj, Gavrilovska, "Couper: DNN model
** slicing for video analytics containers at the edge", SEC 2019). */
typedef enum plan_couper_method {
    PLAN_COUPER_STRONGMAN,  /* evaluate every candidate */
    PLAN_COUPER_COMM_SLIM,  /* skip candidates whose tensor costs more to upload than the input */
    PLAN_COUPER_EARLY_STOP, /* stop once the end-device prefix alone exceeds the best total */
    PLAN_COUPER_HYBRID,     /* both */
    PLAN_COUPER_METHOD_COUNT
} plan_couper_method;

/* "strongman", "comm-slim", "early-stop", "hybrid"; "?" out of range. */
const char *plan_couper_method_name(plan_couper_method m);
int plan_couper_method_parse(const char *name, plan_couper_method *out); /* 0, or -1 */

typedef struct plan_couper_opts {
    plan_couper_method method;
    const unsigned char *is_constant; /* optional, n entries: 1 marks a constant/read op */
} plan_couper_opts;

/* Couper's slicing candidates of P: the split positions k in [1, n) (nodes [0, k) on the end
** device) where exactly one tensor crosses the cut (no multi-parallel path: counting network
** inputs still needed after the cut), and node k-1 is not a constant/read op.  A node is a
** constant/read op when IS_CONSTANT (optional) marks it, or when every tensor it consumes is
** produced by a constant/read op (so also when it consumes nothing): its value does not depend
** on the network input, like the Const and variable-read operators Couper excludes.  A node
** that consumes a network input is never one by this rule.  The cut after the last op (k = n)
** is excluded by the range.  (Nodes that read only network inputs, such as the first
** convolution, are kept: cutting after them is a real choice.  A caller who wants them
** excluded marks them.)  K receives the positions in increasing order (room for n entries) and
** *COUNT their number. */
cleave_status plan_couper_candidates(const plan_problem *p, const unsigned char *is_constant,
                                     int *k, int *count, char *err, size_t errlen);

/* Couper: position 0 (the unsliced model on the edge, the input being what crosses) is the
** baseline, always evaluated first; then the candidates of plan_couper_candidates() in order,
** filtered by OPTS->method (OPTS NULL: hybrid, no constant marks):
**   comm-slim  skips a candidate whose crossing tensor's upload time exceeds the baseline's
**              (the network inputs' upload time);
**   early-stop stops at the first candidate whose end-device prefix time alone exceeds the best
**              total so far (later candidates' prefixes are no shorter, so none can win).
** The best evaluated position wins (the first on ties).  evaluated = positions evaluated,
** baseline included; exact = 0.  Early-stop always returns the strongman plan; comm-slim (and
** so hybrid) does whenever every node is at least as fast on the edge as on the end device and
** every network output is produced by the last node (then a skipped candidate costs at least
** the baseline), and may miss it otherwise. */
cleave_status plan_couper(const plan_problem *p, const plan_couper_opts *opts, plan_result *out,
                          char *err, size_t errlen);

/* The seed-002 dynamic program (see planner/dp.c for the recurrences).  On a chain it runs the
** seed's OPT_end / OPT_edge recurrence; otherwise it reduces series and parallel structure
** (and dangling nodes) to virtual nodes with one cost per state of their two terminals.  It is
** exact (exact = 1) whenever the graph reduces completely, which includes every series-parallel
** graph; otherwise `note` says the graph is not series-parallel, exact = 0, and the placement is
** the better of the dp over a series-parallel relaxation and the best single split.  A node
** with more than 6 tensors read by several nodes each is beyond its tables: then too exact = 0,
** the note says so, and the placement is the best single split.
** evaluated = partial placements compared. */
cleave_status plan_dp(const plan_problem *p, plan_result *out, char *err, size_t errlen);

/* DADS's minimum s-t cut (Hu, Bao, Wang et al., "Dynamic adaptive DNN surgery for inference
** acceleration on the edge", INFOCOM 2019), exact for every DAG under the cost model (see
** planner/mincut.c for the construction); exact = 1; evaluated = augmenting paths found. */
cleave_status plan_mincut(const plan_problem *p, plan_result *out, char *err, size_t errlen);

/* Every one of the 2^n placements (a Gray-code walk that updates the latency incrementally);
** CLEAVE_EINVAL for n > PLAN_BRUTE_MAX_NODES.  evaluated = 2^n; exact = 1. */
cleave_status plan_brute(const plan_problem *p, plan_result *out, char *err, size_t errlen);

/* Run algorithm A with its defaults (couper: hybrid, no constant marks). */
cleave_status plan_run(plan_algo a, const plan_problem *p, plan_result *out, char *err,
                       size_t errlen);

/* ---- maximum flow (planner/mincut.c), exposed for tests -------------------------------- */

typedef struct plan_flow plan_flow;

/* A flow network with NV vertices and room for about EDGE_HINT edges (it grows); NULL when out
** of memory.  Capacities are doubles >= 0, INFINITY allowed; free with plan_flow_destroy(). */
plan_flow *plan_flow_create(int nv, int edge_hint);
void plan_flow_destroy(plan_flow *f); /* NULL is a harmless no-op */

/* Add the arc FROM -> TO with capacity CAP_US (arcs of capacity 0 and loops are left out);
** returns CLEAVE_OK, CLEAVE_ENOMEM, or CLEAVE_EINVAL for a vertex out of range or a capacity
** that is negative or NaN. */
cleave_status plan_flow_add(plan_flow *f, int from, int to, double cap_us);

/* The maximum S -> T flow value by Dinic's algorithm (Dinic 1970: blocking flows on BFS level
** graphs, O(V^2 E)); *AUGMENTS (may be NULL) receives the augmenting paths used.  Afterwards
** plan_flow_source_side() tells the minimum cut.  INFINITY when some S -> T path has only
** infinite arcs (no finite cut exists; the sides are then meaningless). */
double plan_flow_run(plan_flow *f, int s, int t, int64_t *augments);

/* 1 when V is reachable from S in the residual network after plan_flow_run(): the source side
** of a minimum cut (the one with the fewest vertices). */
int plan_flow_source_side(const plan_flow *f, int v);

/* ---- shared internals --------------------------------------------------------------------- */

/* The general elimination dp of plan_dp(), also on chains (tests compare it with the chain
** recurrence). */
cleave_status plan_dp_general(const plan_problem *p, plan_result *out, char *err, size_t errlen);

/* Write a printf-style message into ERR (ERRLEN bytes; ERR may be NULL). */
void plan_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The checks every entry point starts with: plan_problem_check(), and OUT->on_edge present. */
cleave_status plan_check_call(const plan_problem *p, const plan_result *out, char *err,
                              size_t errlen);

/* Clear the bookkeeping fields of R (evaluated, exact, note); on_edge is kept. */
void plan_result_reset(plan_result *r);

/* The latencies of all n + 1 single splits (nodes [0, k) on the end device), from one sweep
** with difference arrays: O(n + ntensors + consumers). */
typedef struct plan_split {
    double *total_us;      /* n + 1: latency of split k */
    double *prefix_end_us; /* n + 1: compute time of nodes [0, k) on the end device */
    int *ncross;           /* n + 1: tensors uploaded at split k (network inputs included) */
    int *cross_tensor;     /* n + 1: the uploaded tensor when ncross[k] == 1, else -1 */
} plan_split;

/* Fill S (allocating its arrays) for the valid problem P; CLEAVE_OK or CLEAVE_ENOMEM. */
cleave_status plan_split_sweep(const plan_problem *p, plan_split *s, char *err, size_t errlen);
void plan_split_release(plan_split *s);

/* Put the split-K placement into OUT->on_edge and fill the breakdown. */
void plan_apply_split(const plan_problem *p, int k, plan_result *out);

#endif /* CLEAVE_PLANNER_PARTITION_H */
