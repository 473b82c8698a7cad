/*
** runtime/exec.h - the executor: run an imported graph node by node on the profiler's backends,
** with data really flowing from node to node, and time every node.
**
** Each node the executor owns is prepared once (prof_kernel_prepare(): primitive creation,
** weight reorders) with weights drawn from a seed derived from the run's seed and the node's
** id, so two processes that import the same model with the same seed hold the same weights.
** Running a node hands it its inputs, runs it (timed: exactly what the profiler times, so
** measured and predicted latencies are comparable) and leaves the output in the kernel.  An
** input whose producer's output has exactly the layout the consumer's kernel wants
** (prof_kernel_native()) is copied over byte for byte; any other goes through the tensor's plain
** NCHW buffer (prof_kernel_read(), then prof_kernel_write()).  Plain buffers are filled only
** when something needs them: a conversion, rt_exec_tensor().
**
** Node kinds (DESIGN.md "Executor and co-inference"):
**   - catalogue layers run their kernel; add/mul inputs that broadcast (a dimension of 1) are
**     expanded to the layer's shape first; an add/mul/concat input the node does not name (an
**     ONNX initializer) keeps the kernel's seeded values, i.e. it is a constant;
**   - zero-cost nodes (reshape, flatten, Identity, Squeeze, ...) pass their input's value on
**     (same elements, plain row-major order) and take 0 us: no kernel runs;
**   - unknown-op nodes (imported with --unknown-op fallback) run their stand-in, a copy of the
**     output's size; the output is the first input when the element counts agree (an identity
**     op), otherwise the stand-in's seeded data - deterministic, but not the op's semantics;
**   - recurrent layers whose output is the last hidden state (dirs x n x k) get it cut out of
**     the full sequence output (forward direction at t = T-1, backward at t = 0).
** Tensor buffers are plain fp32, allocated for every tensor of the graph.  Internal to the
** runtime stage.
*/
#ifndef CLEAVE_RUNTIME_EXEC_H
#define CLEAVE_RUNTIME_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include <cleave/cleave.h>

#include "planner/graph.h"

typedef struct rt_exec rt_exec;

/* Prepare every node of the finished graph G for which LOCAL[node] is non-zero (LOCAL NULL:
** every node) for THREADS threads, weights from SEED.  G is borrowed and must outlive the
** executor.  On success *OUT owns the executor; on failure *OUT is NULL and ERR names the node:
** "node 'conv1': <backend's message>".  CLEAVE_EINVAL, CLEAVE_ENOMEM, CLEAVE_EUNSUPPORTED,
** CLEAVE_EBACKEND. */
cleave_status rt_exec_create(rt_exec **out, const plan_graph *g, const unsigned char *local,
                             int threads, uint64_t seed, char *err, size_t errlen);

/* Free X and every kernel and buffer it owns; NULL is a harmless no-op. */
void rt_exec_destroy(rt_exec *x);

/* The plain buffer of tensor T (its element count in *ELEMS, may be NULL), owned by X, holding
** T's current value (read out of its producer's kernel first if need be).  The caller may
** write it: from then on it is T's only copy.  NULL for a bad id or when the read-back fails. */
float *rt_exec_tensor(rt_exec *x, int t, size_t *elems);

/* Fill every network input with values uniform in [-1, 1) drawn from the executor's seed and
** the tensor's id (the same in every process). */
void rt_exec_fill_inputs(rt_exec *x);

/* Run node NODE (it must be local): inputs in, kernel, output out.  *RUN_US (may be NULL)
** receives the time of the kernel's run() alone, in microseconds (0 for zero-cost nodes).
** CLEAVE_EINVAL ("node 'x' is not run by this process", element counts that do not fit) or the
** kernel's status, with the message in ERR. */
cleave_status rt_exec_run_node(rt_exec *x, int node, double *run_us, char *err, size_t errlen);

/* Run every local node in topological order; NODE_US[node] (may be NULL; indexed by graph node
** id) receives each run() time.  Stops at the first failure. */
cleave_status rt_exec_run_all(rt_exec *x, double *node_us, char *err, size_t errlen);

/* Measurements of whole-graph runs (rt_exec_measure()); arrays indexed by graph node id. */
typedef struct rt_measure {
    int reps;
    double *node_us;        /* nnodes: median over the reps of each node's run() time */
    double compute_us;      /* median over the reps of the sum of run() times */
    double wall_us;         /* median over the reps of the whole pass, data movement included */
    double *rep_compute_us; /* reps: each rep's sum of run() times */
    /* The other statistics a device's models may predict (cleave_predictor_target()), over
    ** the same reps and computed as the profiler computes them (prof_timing_stats()). */
    double *node_mean_us, *node_p90_us; /* nnodes */
    double compute_mean_us, compute_p90_us;
} rt_measure;

/* Node NODE's (NODE < 0: the compute total's) statistic STAT of M: "mean", "median" or "p90"
** (the strings of cleave_predictor_target()); NaN for another STAT. */
double rt_measure_stat(const rt_measure *m, int node, const char *stat);

/* Fill the inputs, run every local node WARMUP times untimed, then REPS (>= 1) timed passes,
** into *M (allocated here; free with rt_measure_release()).  Stops at the first failure. */
cleave_status rt_exec_measure(rt_exec *x, int warmup, int reps, rt_measure *m, char *err,
                              size_t errlen);
void rt_measure_release(rt_measure *m);

/* The median of V[0..N) (reordered in place); NaN for N = 0. */
double rt_median(double *v, int n);

/* The prepared kernel of NODE (NULL for zero-cost and remote nodes), owned by X: tests read its
** weights to recompute the graph with the reference kernels. */
struct prof_kernel *rt_exec_kernel(const rt_exec *x, int node);

/* The implementation that runs NODE: "jit:avx2", "portable", "copy" (zero-cost) or "" (not
** local).  Owned by X. */
const char *rt_exec_impl(const rt_exec *x, int node);

#endif /* CLEAVE_RUNTIME_EXEC_H */
