/*
** planner/throughput.h - the throughput objective of a partition (DADS's heavy-load case, Couper's
** frame-rate SLA): frames are pipelined through three stages, and a plan is judged by its
** slowest stage instead of by the sum.  Internal to the planner stage.
**
** Pipeline model (Hu, Bao, Wang, Liu, "Dynamic adaptive DNN surgery for inference acceleration
** on the edge", INFOCOM 2019, heavy-load case).  Each frame keeps three resources busy: the end
** device for the compute time of the nodes it runs (`end`), the link for the transfers of the
** frame (`xfer` = uploads + downloads, one shared network stage as in DADS) and the edge for the
** compute time of its nodes (`edge`), each figure from plan_evaluate() (problem.h's cost model).
** With frames in flight on every resource at once, the pipeline completes one frame per
** bottleneck = max(end, xfer, edge) in the long run, whatever order the placement visits the
** sides in; so the sustainable frame rate is 1e6 / bottleneck frames per second (bottleneck in
** microseconds).  A single frame still takes end + xfer + edge (its latency).
**
** Frame drops (the queueing model plan_tput_drop_rate() implements): frames arrive periodically
** at F per second into a bounded buffer (at least one frame) in front of each stage; a stage
** serves one frame at a time, and a frame that finds the buffer of the stage it needs full is
** dropped.  In the long run the bottleneck never idles when F exceeds what it sustains, so the
** pipeline delivers min(F, sustainable) frames per second and drops the fraction
** max(0, 1 - sustainable / F).  (Without any buffer the bottleneck would idle between a
** completion and the next arrival and accept 1 frame in ceil(F / sustainable) instead.)
**
** Minimising the bottleneck is NP-hard on general graphs: with no tensors and every node as fast
** on both sides, it is PARTITION.  So this module offers: the exact optimum over two candidate
** sets (every single split of the topological order, Neurosurgeon's; Couper's slicing
** positions), DADS's approximation ("dsh", guaranteed within 3x of the optimum over all
** placements, with a certified per-instance bound), branch and bound from dsh's plan (exact
** when it finishes within its budget), and brute force over every placement for small graphs.
** Every entry point returns CLEAVE_OK, CLEAVE_EINVAL (bad problem or argument,
** message in ERR) or CLEAVE_ENOMEM, and fills OUT as described at plan_tput_result.
*/
#ifndef CLEAVE_PLANNER_THROUGHPUT_H
#define CLEAVE_PLANNER_THROUGHPUT_H

#include <stddef.h>

#include "planner/problem.h"

/* A placement's three pipeline stages, microseconds per frame. */
typedef struct plan_stages {
    double end_us;        /* compute on the end device */
    double xfer_us;       /* uploads + downloads */
    double edge_us;       /* compute on the edge */
    double bottleneck_us; /* the largest of the three */
} plan_stages;

/* The stages of a breakdown R filled by plan_evaluate() (or any algorithm). */
void plan_stages_of(const plan_result *r, plan_stages *out);

/* "end", "network" or "edge": the stage that is the bottleneck (the first of the largest). */
const char *plan_stages_bottleneck(const plan_stages *s);

/* Frames per second the pipeline sustains: 1e6 / bottleneck_us; INFINITY for a bottleneck of 0. */
double plan_tput_fps(double bottleneck_us);

/* The long-run fraction of frames dropped when they arrive at FPS (> 0) per second (the model
** above): max(0, 1 - plan_tput_fps(bottleneck_us) / fps), in [0, 1). */
double plan_tput_drop_rate(double bottleneck_us, double fps);

/* The throughput methods. */
typedef enum plan_tput_algo {
    PLAN_TPUT_SPLIT,  /* exact over the n + 1 single splits of the topological order */
    PLAN_TPUT_COUPER, /* exact over Couper's slicing positions (partition.h), baseline included */
    PLAN_TPUT_DSH,    /* DADS heavy load: weighted minimum cuts, within 3x of the optimum */
    PLAN_TPUT_BNB,    /* branch and bound from dsh's plan: exact unless its budget runs out */
    PLAN_TPUT_BRUTE,  /* every placement, n <= PLAN_TPUT_BRUTE_MAX_NODES */
    PLAN_TPUT_COUNT
} plan_tput_algo;

/* "split", "couper", "dsh", "bnb", "brute"; "?" out of range. */
const char *plan_tput_algo_name(plan_tput_algo a);

/* Brute force refuses graphs with more nodes than this (2^20 placements, each costed afresh). */
#define PLAN_TPUT_BRUTE_MAX_NODES 20

/* Which placements a plan is optimal (or approximately optimal) among. */
typedef enum plan_tput_scope {
    PLAN_TPUT_SCOPE_ALL,    /* every placement */
    PLAN_TPUT_SCOPE_SPLITS, /* the single splits of the topological order */
    PLAN_TPUT_SCOPE_COUPER, /* Couper's slicing positions */
} plan_tput_scope;

/* The result of a throughput method.  Every method minimises the bottleneck, ties broken by the
** smaller latency (end + xfer + edge).
**   r        the placement (r.on_edge: P->n bytes owned by the caller) and its latency breakdown,
**            as partition.h's algorithms fill it; r.exact = 1 when the bottleneck is proven the
**            smallest over every placement.
**   st       the placement's stages.
**   scope    the set of placements the guarantee is about;
**   ratio    the a-priori guarantee: st.bottleneck_us <= ratio x the smallest bottleneck over
**            SCOPE (1 for the exact methods, 3 for dsh);
**   lower_us a proven lower bound on the smallest bottleneck over every placement (0 when the
**            method computes none), so st.bottleneck_us / lower_us bounds this plan's distance
**            from the optimum on this instance;
**   candidates  the size of SCOPE when it is a candidate set (n + 1 splits, or Couper's
**            positions), else 0. */
typedef struct plan_tput_result {
    plan_result r;
    plan_stages st;
    plan_tput_scope scope;
    double ratio;
    double lower_us;
    int candidates;
} plan_tput_result;

/* The exact optimum over the n + 1 single splits (nodes [0, k) on the end device), from one
** O(n + tensors) sweep; the first best k wins ties.  evaluated = n + 1. */
cleave_status plan_tput_split(const plan_problem *p, plan_tput_result *out, char *err,
                              size_t errlen);

/* The exact optimum over Couper's slicing positions: position 0 (everything on the edge) and
** plan_couper_candidates(P, IS_CONSTANT) (IS_CONSTANT optional).  evaluated = positions. */
cleave_status plan_tput_couper(const plan_problem *p, const unsigned char *is_constant,
                               plan_tput_result *out, char *err, size_t errlen);

/* DADS's heavy-load approximation (see throughput.c for the method and the proof of the ratio):
** weighted minimum cuts minimising a.end + b.xfer + c.edge for weights (a, b, c) on the simplex,
** starting from (1/3, 1/3, 1/3) and moved towards the heavier stages by multiplicative weights,
** the best single split, then single-node moves while they lower the bottleneck.  Guarantee:
** bottleneck <= 3 x the optimum over every placement (ratio = 3); lower_us is the best value of
** min_x a.end(x) + b.xfer(x) + c.edge(x) over the weights tried, a lower bound on the optimum,
** and r.exact = 1 when the plan meets it.  evaluated = placements costed. */
cleave_status plan_tput_dsh(const plan_problem *p, plan_tput_result *out, char *err, size_t errlen);

/* Branch and bound over every placement, nodes in topological order, starting from the plan of
** plan_tput_dsh() and trying its side first.  A partial placement is dropped when
**   max(end, xfer, edge so far, (end + edge so far + sum of min(t_end, t_edge) of the rest) / 2)
** is not below the best bottleneck found (every term only grows as nodes are placed; the last
** because each remaining node adds its time to one of the two sides), or when the least
** max(end, edge) the remaining nodes can reach, split even fractionally between the sides, is
** not.  BUDGET limits the work: partial placements visited plus steps of that second bound.
** When the search ends within it the plan is optimal (r.exact = 1, ratio 1, lower_us = its
** bottleneck); otherwise it is the best found, no worse than dsh's (ratio 3, dsh's lower
** bound), and the note says the search stopped.  The bottleneck is optimal; among plans of
** equal bottleneck the latency is not minimised (unlike brute force).
** DSH (optional) is plan_tput_dsh()'s result for P, to start from instead of running it again.
** evaluated = dsh's count + partial placements visited. */
cleave_status plan_tput_bnb(const plan_problem *p, int64_t budget, const plan_tput_result *dsh,
                            plan_tput_result *out, char *err, size_t errlen);

/* The budget plan_tput_run() gives plan_tput_bnb(). */
#define PLAN_TPUT_BNB_BUDGET 200000000

/* Every placement; CLEAVE_EINVAL for n > PLAN_TPUT_BRUTE_MAX_NODES.  evaluated = 2^n,
** lower_us = the optimum, r.exact = 1. */
cleave_status plan_tput_brute(const plan_problem *p, plan_tput_result *out, char *err,
                              size_t errlen);

/* Run method A with its defaults (couper: IS_CONSTANT as given, may be NULL). */
cleave_status plan_tput_run(plan_tput_algo a, const plan_problem *p,
                            const unsigned char *is_constant, plan_tput_result *out, char *err,
                            size_t errlen);

/* One line saying what OUT's guarantee is, e.g. "optimal over all placements", "optimal over
** the 51 single splits", "within 3x of the optimum (certified within 1.04x)". */
void plan_tput_guarantee(const plan_tput_result *r, char *buf, size_t len);

/* 1 when A is a better throughput plan than B: a smaller bottleneck, or the same bottleneck and
** a smaller latency. */
int plan_tput_better(const plan_stages *a, double a_total_us, const plan_stages *b,
                     double b_total_us);

#endif /* CLEAVE_PLANNER_THROUGHPUT_H */
