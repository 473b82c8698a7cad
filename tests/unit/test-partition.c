/*
** tests/unit/test-partition.c - the planner's cost model and partition algorithms: hand-computed
** latencies, and thousands of random series-parallel graphs and DAGs (fixed seeds) on which dp,
** mincut and brute force must agree, Neurosurgeon must equal the best single split, and Couper
** the best of its own candidates; the max-flow against a brute-force minimum cut.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rng.h"
#include "planner/partition.h"

#define N_SP 3000  /* random series-parallel graphs checked against brute force */
#define N_DAG 3000 /* random DAGs checked against brute force */

/* ---- a problem builder -------------------------------------------------------------------- */

#define GMAXN 256
#define GMAXT 512
#define GMAXC 24 /* consumer entries per tensor */

typedef struct gen {
    int n, nt;
    double t_end[GMAXN], t_edge[GMAXN];
    int producer[GMAXT], ncons[GMAXT], consl[GMAXT][GMAXC];
    double up[GMAXT], down[GMAXT];
    unsigned char out[GMAXT];
    int cons_off[GMAXT + 1], cons[GMAXT * GMAXC];
    int full; /* a limit was hit: the caller draws again */
    /* cost style of the current graph */
    int integer;          /* small integer costs: many exact ties */
    double edge_ratio_hi; /* t_edge = t_end * U(0, edge_ratio_hi) */
    double bw_scale;
    plan_problem p;
} gen;

static double unif(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * cl_rng_uniform(s);
}

static int irand(uint64_t *s, int n)
{
    return (int)(cl_rng_next(s) % (uint64_t)n);
}

static void gen_reset(gen *g, uint64_t *s)
{
    g->n = g->nt = 0;
    g->full = 0;
    g->integer = unif(s, 0, 1) < 0.3;
    g->edge_ratio_hi = unif(s, 0, 1) < 0.5 ? 1.0 : 3.0;
    g->bw_scale = exp(unif(s, log(0.05), log(20.0)));
}

static double draw_time(gen *g, uint64_t *s, double hi)
{
    if (g->integer)
        return (double)irand(s, 6);
    return unif(s, 0, 1) < 0.05 ? 0.0 : unif(s, 0.0, hi);
}

static int node(gen *g, uint64_t *s)
{
    if (g->n == GMAXN) {
        g->full = 1;
        return GMAXN - 1;
    }
    int v = g->n++;
    g->t_end[v] = draw_time(g, s, 100.0);
    g->t_edge[v] = g->integer ? (double)irand(s, 6) : g->t_end[v] * unif(s, 0.0, g->edge_ratio_hi);
    return v;
}

static int tensor(gen *g, uint64_t *s, int producer)
{
    if (g->nt == GMAXT) {
        g->full = 1;
        return GMAXT - 1;
    }
    int t = g->nt++;
    g->producer[t] = producer;
    g->ncons[t] = 0;
    g->out[t] = 0;
    g->up[t] = g->integer ? (double)irand(s, 8) : draw_time(g, s, 100.0) / g->bw_scale;
    g->down[t] = g->integer ? (double)irand(s, 8) : g->up[t] * unif(s, 0.2, 1.0);
    return t;
}

static void consume(gen *g, int t, int v)
{
    if (g->ncons[t] == GMAXC) {
        g->full = 1;
        return;
    }
    g->consl[t][g->ncons[t]++] = v;
}

/* Lay the consumer lists out as CSR and point G->p at the arrays. */
static const plan_problem *gen_finish(gen *g)
{
    int k = 0;
    for (int t = 0; t < g->nt; t++) {
        g->cons_off[t] = k;
        for (int j = 0; j < g->ncons[t]; j++)
            g->cons[k++] = g->consl[t][j];
    }
    g->cons_off[g->nt] = k;
    g->p = (plan_problem){.n = g->n,
                          .t_end = g->t_end,
                          .t_edge = g->t_edge,
                          .ntensors = g->nt,
                          .producer = g->producer,
                          .up_us = g->up,
                          .down_us = g->down,
                          .cons_off = g->cons_off,
                          .cons = g->cons,
                          .is_output = g->out};
    return &g->p;
}

/* A series-parallel block reading tensor IN; returns the tensor it produces.  Single nodes
** (sometimes with a constant operand, a dead-end or an early-exit side node), series of two
** blocks, and parallel blocks: two or three branches from one fork tensor (or from the outputs
** of a split node), some empty (a residual shortcut), joined by one node. */
static int sp_block(gen *g, uint64_t *s, int in, int depth)
{
    double r = unif(s, 0, 1);
    if (depth <= 0 || r < 0.3) {
        int c = -1;
        if (unif(s, 0, 1) < 0.08) { /* a constant operand: a node with no inputs */
            int cn = node(g, s);
            c = tensor(g, s, cn);
        }
        int v = node(g, s);
        consume(g, in, v);
        if (unif(s, 0, 1) < 0.05)
            consume(g, in, v); /* reads the same tensor twice, like Add(x, x) */
        if (c >= 0)
            consume(g, c, v);
        int o = tensor(g, s, v);
        g->out[o] = unif(s, 0, 1) < 0.04; /* an output that later nodes read as well */
        if (unif(s, 0, 1) < 0.08) {       /* a side node: dead end or early exit */
            int d = node(g, s);
            consume(g, o, d);
            int dt = tensor(g, s, d);
            g->out[dt] = unif(s, 0, 1) < 0.5;
        }
        return o;
    }
    if (r < 0.55)
        return sp_block(g, s, sp_block(g, s, in, depth - 1), depth - 1);
    int ins[2] = {in, in}, nins = 1;
    if (unif(s, 0, 1) < 0.2) { /* a split node with two output tensors */
        int sv = node(g, s);
        consume(g, in, sv);
        ins[0] = tensor(g, s, sv);
        ins[1] = tensor(g, s, sv);
        nins = 2;
    }
    int k = 2 + irand(s, 2), outs[3];
    for (int b = 0; b < k; b++) {
        int src = ins[irand(s, nins)];
        outs[b] = unif(s, 0, 1) < 0.25 ? src : sp_block(g, s, src, depth - 1);
    }
    int j = node(g, s);
    for (int b = 0; b < k; b++)
        consume(g, outs[b], j);
    return tensor(g, s, j);
}

/* A random series-parallel problem with MINN..MAXN nodes. */
static const plan_problem *gen_sp(gen *g, uint64_t *s, int minn, int maxn)
{
    for (;;) {
        gen_reset(g, s);
        int x = tensor(g, s, -1);
        int depth = 1 + irand(s, 5);
        int y = sp_block(g, s, x, depth);
        g->out[y] = 1;
        if (!g->full && g->n >= minn && g->n <= maxn)
            return gen_finish(g);
    }
}

/* A random chain of 1..MAXN nodes, sometimes with several tensors between neighbours. */
static const plan_problem *gen_chain(gen *g, uint64_t *s, int maxn)
{
    gen_reset(g, s);
    int n = 1 + irand(s, maxn);
    int prev = tensor(g, s, -1);
    for (int i = 0; i < n; i++) {
        int v = node(g, s);
        consume(g, prev, v);
        if (i > 0 && unif(s, 0, 1) < 0.2) {
            int extra = tensor(g, s, v - 1);
            consume(g, extra, v);
        }
        prev = tensor(g, s, v);
    }
    g->out[prev] = 1;
    return gen_finish(g);
}

/* A random DAG of MINN..MAXN nodes: each node reads 0..3 earlier tensors (network inputs
** included), produces one or two; unread tensors mostly become outputs.  ASSUME gives Couper's
** assumptions: a faster edge on every node, and outputs only at the last node. */
static const plan_problem *gen_dag(gen *g, uint64_t *s, int minn, int maxn, int assume)
{
    gen_reset(g, s);
    if (assume)
        g->edge_ratio_hi = 1.0;
    int n = minn + irand(s, maxn - minn + 1), nin = 1 + (unif(s, 0, 1) < 0.3);
    for (int i = 0; i < nin; i++)
        tensor(g, s, -1);
    for (int v = 0; v < n; v++) {
        node(g, s);
        int k = unif(s, 0, 1) < 0.08 ? 0 : 1 + irand(s, 3);
        for (int j = 0; j < k; j++)
            consume(g, irand(s, g->nt), v);
        tensor(g, s, v);
        if (unif(s, 0, 1) < 0.15)
            tensor(g, s, v);
    }
    for (int v = 0; assume && v < n; v++)
        g->t_edge[v] = fmin(g->t_edge[v], g->t_end[v]);
    for (int t = nin; t < g->nt; t++) {
        if (assume)
            g->out[t] = g->producer[t] == n - 1;
        else
            g->out[t] = g->ncons[t] == 0 ? unif(s, 0, 1) < 0.8 : unif(s, 0, 1) < 0.08;
    }
    return gen_finish(g);
}

/* ---- helpers ------------------------------------------------------------------------------ */

static void assert_close(double got, double want, const char *what, int idx)
{
    double tol = 1e-9 * fmax(1.0, fabs(want));
    if (!(fabs(got - want) <= tol))
        fail_msg("%s (case %d): got %.17g, want %.17g", what, idx, got, want);
}

typedef cleave_status (*algo_fn)(const plan_problem *, plan_result *, char *, size_t);

static plan_result run_ok(algo_fn f, const plan_problem *p, unsigned char *buf, const char *name,
                          int idx)
{
    char err[256] = "";
    plan_result r;
    memset(&r, 0, sizeof r);
    r.on_edge = buf;
    cleave_status st = f(p, &r, err, sizeof err);
    if (st != CLEAVE_OK)
        fail_msg("%s (case %d) failed: %s (%s)", name, idx, err, cleave_status_name(st));
    /* the reported breakdown is the cost model's for the placement returned */
    plan_result chk;
    plan_evaluate(p, r.on_edge, &chk);
    assert_close(r.total_us, chk.total_us, name, idx);
    assert_close(r.total_us, r.end_us + r.edge_us + r.up_us + r.down_us, name, idx);
    return r;
}

/* The cost of every placement by plan_evaluate(); N <= 12. */
static double naive_best(const plan_problem *p)
{
    unsigned char x[GMAXN];
    double best = INFINITY;
    plan_result r;
    for (uint32_t m = 0; m < (1u << p->n); m++) {
        for (int i = 0; i < p->n; i++)
            x[i] = (m >> i) & 1u;
        plan_evaluate(p, x, &r);
        if (r.total_us < best)
            best = r.total_us;
    }
    return best;
}

static double split_cost(const plan_problem *p, int k)
{
    unsigned char x[GMAXN];
    plan_result r;
    for (int i = 0; i < p->n; i++)
        x[i] = i >= k;
    plan_evaluate(p, x, &r);
    return r.total_us;
}

/* ---- the cost model by hand --------------------------------------------------------------- */

/* Four nodes; X (input) read by 0 and 2; A of node 0 read by 1 and 2; B: 1 -> 3; C: 2 -> 3;
** Y: output of 3; Z: a side output of 1; D: an unread tensor of 2. */
static const plan_problem *hand_problem(gen *g)
{
    static const double te[] = {10, 20, 30, 40}, tg[] = {1, 2, 3, 4};
    static const int prod[] = {-1, 0, 1, 2, 3, 1, 2};
    static const double up[] = {100, 5, 7, 9, 13, 19, 29}, down[] = {1000, 6, 8, 11, 17, 23, 31};
    static const unsigned char out[] = {0, 0, 0, 0, 1, 1, 0};
    memset(g, 0, sizeof *g);
    g->n = 4;
    g->nt = 7;
    for (int i = 0; i < 4; i++) {
        g->t_end[i] = te[i];
        g->t_edge[i] = tg[i];
    }
    for (int t = 0; t < 7; t++) {
        g->producer[t] = prod[t];
        g->up[t] = up[t];
        g->down[t] = down[t];
        g->out[t] = out[t];
    }
    consume(g, 0, 0);
    consume(g, 0, 2);
    consume(g, 1, 1);
    consume(g, 1, 2);
    consume(g, 2, 3);
    consume(g, 3, 3);
    return gen_finish(g);
}

static void test_evaluate_hand(void **state)
{
    (void)state;
    gen *g = calloc(1, sizeof *g);
    const plan_problem *p = hand_problem(g);
    plan_result r;
    /* 0 end, 1 edge, 2 edge, 3 end: X up (node 2), A up once for both readers, B and C down,
    ** Z down (an output produced on the edge), Y stays, D costs nothing */
    const unsigned char a[] = {0, 1, 1, 0};
    plan_evaluate(p, a, &r);
    assert_close(r.end_us, 50, "end", 0);
    assert_close(r.edge_us, 5, "edge", 0);
    assert_close(r.up_us, 100 + 5, "up", 0);
    assert_close(r.down_us, 8 + 11 + 23, "down", 0);
    assert_close(r.total_us, 202, "total", 0);
    /* all on the edge: X up once though read twice, outputs Y and Z down */
    const unsigned char b[] = {1, 1, 1, 1};
    plan_evaluate(p, b, &r);
    assert_close(r.total_us, 10 + 100 + 17 + 23, "all edge", 1);
    /* all on the end device: compute only */
    const unsigned char c[] = {0, 0, 0, 0};
    plan_evaluate(p, c, &r);
    assert_close(r.total_us, 100, "all end", 2);
    assert_close(r.up_us + r.down_us, 0, "all end transfers", 2);
    /* 0 edge, 1 end, 2 edge, 3 edge: X up once for nodes 0 and 2, A down once (node 1), B up,
    ** C stays, Y down */
    const unsigned char d[] = {1, 0, 1, 1};
    plan_evaluate(p, d, &r);
    assert_close(r.up_us, 100 + 7, "up", 3);
    assert_close(r.down_us, 6 + 17, "down", 3);
    assert_close(r.total_us, 20 + 8 + 107 + 23, "total", 3);

    /* local, edge and brute on it */
    unsigned char buf[GMAXN];
    plan_result l = run_ok(plan_local, p, buf, "local", 0);
    assert_close(l.total_us, 100, "local", 0);
    plan_result e = run_ok(plan_edge, p, buf, "edge", 0);
    assert_close(e.total_us, 150, "edge", 0);
    plan_result bf = run_ok(plan_brute, p, buf, "brute", 0);
    assert_close(bf.total_us, naive_best(p), "brute", 0);
    assert_int_equal(bf.evaluated, 16);
    assert_int_equal(bf.exact, 1);
    plan_result m = run_ok(plan_mincut, p, buf, "mincut", 0);
    assert_close(m.total_us, bf.total_us, "mincut", 0);
    plan_result dp = run_ok(plan_dp, p, buf, "dp", 0);
    assert_close(dp.total_us, bf.total_us, "dp", 0);
    assert_int_equal(dp.exact, 1);
    free(g);
}

/* ---- bad input ---------------------------------------------------------------------------- */

static void expect_einval(const plan_problem *p, unsigned char *buf, const char *msg)
{
    char err[256] = "";
    plan_result r;
    memset(&r, 0, sizeof r);
    r.on_edge = buf;
    algo_fn fns[] = {plan_local, plan_edge, plan_neurosurgeon, plan_dp, plan_mincut, plan_brute};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        err[0] = '\0';
        assert_int_equal(fns[i](p, &r, err, sizeof err), CLEAVE_EINVAL);
        assert_string_equal(err, msg);
    }
    err[0] = '\0';
    assert_int_equal(plan_couper(p, NULL, &r, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, msg);
}

static void test_bad_input(void **state)
{
    (void)state;
    gen *g = calloc(1, sizeof *g);
    unsigned char buf[GMAXN];
    const plan_problem *p = hand_problem(g);
    plan_problem q = *p;

    q.n = 0;
    expect_einval(&q, buf, "problem has no nodes");
    q = *p;
    g->cons[1] = 0; /* X read by node 0 twice: fine; make A (producer 0) read by node 0 */
    g->cons[2] = 0;
    expect_einval(&q, buf, "tensor 1: consumer 0 does not come after its producer 0");
    p = hand_problem(g);
    q = *p;
    g->t_edge[2] = -1.0;
    expect_einval(&q, buf, "node 2: edge time -1 is negative or not finite");
    p = hand_problem(g);
    q = *p;
    g->t_end[1] = NAN;
    expect_einval(&q, buf, "node 1: end-device time nan is negative or not finite");
    p = hand_problem(g);
    q = *p;
    g->up[3] = INFINITY;
    expect_einval(&q, buf, "tensor 3: transfer time is negative or not finite");
    p = hand_problem(g);
    q = *p;
    g->producer[2] = 7;
    expect_einval(&q, buf, "tensor 2: producer 7 is not a node");
    p = hand_problem(g);
    q = *p;
    g->cons[4] = 9;
    expect_einval(&q, buf, "tensor 2: consumer 9 is not a node");
    p = hand_problem(g);
    q = *p;
    q.cons = NULL;
    expect_einval(&q, buf, "problem is missing an array");
    q = *p;
    expect_einval(NULL, buf, "no problem given");

    /* no placement array */
    char err[256] = "";
    plan_result r;
    memset(&r, 0, sizeof r);
    assert_int_equal(plan_mincut(p, &r, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "no placement array given for the result");
    /* brute force refuses big graphs */
    uint64_t s = 11;
    const plan_problem *big = gen_sp(g, &s, PLAN_BRUTE_MAX_NODES + 1, 200);
    r.on_edge = buf;
    assert_int_equal(plan_brute(big, &r, err, sizeof err), CLEAVE_EINVAL);
    char want[128];
    snprintf(want, sizeof want, "brute force is limited to 24 nodes, got %d", big->n);
    assert_string_equal(err, want);
    /* unknown couper method, unknown algorithm */
    plan_couper_opts o = {.method = PLAN_COUPER_METHOD_COUNT};
    assert_int_equal(plan_couper(p, &o, &r, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "unknown couper method 4");
    assert_int_equal(plan_run(PLAN_ALGO_COUNT, p, &r, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "unknown partition algorithm 7");
    /* names round-trip */
    for (int a = 0; a < PLAN_ALGO_COUNT; a++) {
        plan_algo back;
        assert_int_equal(plan_algo_parse(plan_algo_name((plan_algo)a), &back), 0);
        assert_int_equal(back, a);
    }
    plan_algo none;
    assert_int_equal(plan_algo_parse("annealing", &none), -1);
    plan_couper_method mm;
    assert_int_equal(plan_couper_method_parse("comm-slim", &mm), 0);
    assert_int_equal(mm, PLAN_COUPER_COMM_SLIM);
    assert_int_equal(plan_couper_method_parse("greedy", &mm), -1);
    free(g);
}

/* ---- brute force against plain enumeration ------------------------------------------------ */

static void test_brute_vs_naive(void **state)
{
    (void)state;
    gen *g = calloc(1, sizeof *g);
    unsigned char buf[GMAXN];
    uint64_t s = 0x5eed0001;
    for (int c = 0; c < 300; c++) {
        const plan_problem *p = gen_dag(g, &s, 1, 12, 0);
        plan_result b = run_ok(plan_brute, p, buf, "brute", c);
        assert_close(b.total_us, naive_best(p), "brute vs enumeration", c);
        assert_int_equal(b.evaluated, (int64_t)1 << p->n);
    }
    /* the Gray-code walk's resynchronisation on a graph of 2^20 placements */
    const plan_problem *p = gen_sp(g, &s, 20, 20);
    plan_result b = run_ok(plan_brute, p, buf, "brute 20", 0);
    plan_result m = run_ok(plan_mincut, p, buf, "mincut 20", 0);
    assert_close(b.total_us, m.total_us, "brute vs mincut, 20 nodes", 0);
    free(g);
}

/* ---- the property tests ------------------------------------------------------------------- */

/* dp = mincut = brute on random series-parallel graphs; dp says it is exact. */
static void test_sp_graphs(void **state)
{
    (void)state;
    gen *g = calloc(1, sizeof *g);
    unsigned char buf[GMAXN];
    uint64_t s = 0x5eed0002;
    int multi = 0;
    for (int c = 0; c < N_SP; c++) {
        const plan_problem *p = gen_sp(g, &s, c % 4 ? 8 : 2, 14);
        for (int t = 0; t < p->ntensors; t++)
            multi += p->cons_off[t + 1] - p->cons_off[t] >= 2;
        plan_result b = run_ok(plan_brute, p, buf, "brute", c);
        plan_result m = run_ok(plan_mincut, p, buf, "mincut", c);
        plan_result d = run_ok(plan_dp, p, buf, "dp", c);
        assert_close(m.total_us, b.total_us, "mincut vs brute (sp)", c);
        assert_close(d.total_us, b.total_us, "dp vs brute (sp)", c);
        if (!d.exact)
            fail_msg("dp (case %d) not exact on a series-parallel graph: %s", c, d.note);
        assert_int_equal(m.exact, 1);
    }
    assert_true(multi > N_SP); /* multi-consumer tensors were exercised */
    /* bigger ones, beyond brute force: dp = mincut */
    for (int c = 0; c < 1000; c++) {
        const plan_problem *p = gen_sp(g, &s, 15, 200);
        plan_result m = run_ok(plan_mincut, p, buf, "mincut", c);
        plan_result d = run_ok(plan_dp, p, buf, "dp", c);
        assert_close(d.total_us, m.total_us, "dp vs mincut (big sp)", c);
        assert_int_equal(d.exact, 1);
    }
    free(g);
}

/* On chains the seed's recurrence, the general reduction, mincut and brute force agree. */
static void test_chains(void **state)
{
    (void)state;
    gen *g = calloc(1, sizeof *g);
    unsigned char buf[GMAXN];
    uint64_t s = 0x5eed0003;
    for (int c = 0; c < 500; c++) {
        const plan_problem *p = gen_chain(g, &s, 14);
        plan_result b = run_ok(plan_brute, p, buf, "brute", c);
        plan_result d = run_ok(plan_dp, p, buf, "dp", c);
        assert_non_null(strstr(d.note, "seed-002 recurrence"));
        assert_int_equal(d.exact, 1);
        assert_close(d.total_us, b.total_us, "dp chain vs brute", c);
        plan_result d2 = run_ok(plan_dp_general, p, buf, "dp general", c);
        assert_close(d2.total_us, b.total_us, "dp general vs brute", c);
        plan_result m = run_ok(plan_mincut, p, buf, "mincut", c);
        assert_close(m.total_us, b.total_us, "mincut vs brute (chain)", c);
    }
    free(g);
}

/* mincut = brute on random DAGs; dp is exact when it says so and never below the optimum. */
static void test_dags(void **state)
{
    (void)state;
    gen *g = calloc(1, sizeof *g);
    unsigned char buf[GMAXN];
    uint64_t s = 0x5eed0004;
    int inexact = 0, optimal = 0;
    double gap_max = 0.0;
    for (int c = 0; c < N_DAG; c++) {
        const plan_problem *p = gen_dag(g, &s, c % 4 ? 8 : 1, 14, 0);
        plan_result b = run_ok(plan_brute, p, buf, "brute", c);
        plan_result m = run_ok(plan_mincut, p, buf, "mincut", c);
        assert_close(m.total_us, b.total_us, "mincut vs brute (dag)", c);
        plan_result d = run_ok(plan_dp, p, buf, "dp", c);
        if (d.exact) {
            assert_close(d.total_us, b.total_us, "dp (exact) vs brute (dag)", c);
        } else {
            inexact++;
            gap_max = fmax(gap_max, d.total_us / fmax(b.total_us, 1e-300) - 1.0);
            optimal += d.total_us <= b.total_us * (1.0 + 1e-9);
            assert_true(d.total_us >= b.total_us - 1e-9 * fmax(1.0, b.total_us));
            assert_non_null(strstr(d.note, "graph is not series-parallel"));
        }
    }
    print_message("dp: %d of %d random DAGs not series-parallel; the heuristic was optimal on %d "
                  "of them, at most %.1f%% above the optimum\n",
                  inexact, N_DAG, optimal, 100.0 * gap_max);
    assert_true(inexact > 50); /* the fallback was exercised */
    free(g);
}

/* A hand-made graph that is not series-parallel: the complete DAG on five nodes (dense block),
** and a node with more multi-read tensors than dp keeps flags for. */
static void test_dp_not_sp(void **state)
{
    (void)state;
    gen *g = calloc(1, sizeof *g);
    unsigned char buf[GMAXN];
    uint64_t s = 0x5eed0005;
    for (int c = 0; c < 50; c++) {
        gen_reset(g, &s);
        int x = tensor(g, &s, -1), prev[6], np = 0;
        prev[np++] = x;
        for (int v = 0; v < 5; v++) {
            node(g, &s);
            for (int j = 0; j < np; j++)
                consume(g, prev[j], v);
            prev[np++] = tensor(g, &s, v);
        }
        g->out[prev[np - 1]] = 1;
        const plan_problem *p = gen_finish(g);
        plan_result d = run_ok(plan_dp, p, buf, "dp dense", c);
        plan_result b = run_ok(plan_brute, p, buf, "brute dense", c);
        assert_int_equal(d.exact, 0);
        assert_non_null(strstr(d.note, "graph is not series-parallel"));
        assert_true(d.total_us >= b.total_us - 1e-9 * fmax(1.0, b.total_us));
    }
    /* node 0 makes 7 tensors each read by nodes 1 and 2 */
    gen_reset(g, &s);
    int x = tensor(g, &s, -1);
    for (int v = 0; v < 3; v++)
        node(g, &s);
    consume(g, x, 0);
    for (int k = 0; k < 7; k++) {
        int t = tensor(g, &s, 0);
        consume(g, t, 1);
        consume(g, t, 2);
    }
    int y = tensor(g, &s, 1), z = tensor(g, &s, 2);
    g->out[y] = g->out[z] = 1;
    const plan_problem *p = gen_finish(g);
    plan_result d = run_ok(plan_dp, p, buf, "dp flags", 0);
    assert_int_equal(d.exact, 0);
    assert_string_equal(d.note, "node 0 has 7 tensors read by several nodes (dp handles 6): dp "
                                "fell back to the best single split");
    free(g);
}

/* Neurosurgeon = the best single split, each split costed by plan_evaluate(). */
static void test_neurosurgeon(void **state)
{
    (void)state;
    gen *g = calloc(1, sizeof *g);
    unsigned char buf[GMAXN];
    uint64_t s = 0x5eed0006;
    for (int c = 0; c < 1500; c++) {
        const plan_problem *p = c % 2 ? gen_dag(g, &s, 1, 30, 0) : gen_sp(g, &s, 1, 60);
        double best = INFINITY;
        for (int k = 0; k <= p->n; k++)
            best = fmin(best, split_cost(p, k));
        plan_result r = run_ok(plan_neurosurgeon, p, buf, "neurosurgeon", c);
        assert_close(r.total_us, best, "neurosurgeon vs splits", c);
        int k = 0; /* the placement is a split */
        while (k < p->n && !r.on_edge[k])
            k++;
        for (int i = k; i < p->n; i++)
            assert_int_equal(r.on_edge[i], 1);
        assert_int_equal(r.evaluated, p->n + 1);
    }
    free(g);
}

/* ---- Couper ------------------------------------------------------------------------------- */

/* The candidate rule of partition.h, computed naively: per position, count the tensors with a
** producer before it and a reader after it. */
static int naive_candidates(const plan_problem *p, const unsigned char *marks, int *k)
{
    unsigned char cst[GMAXN];
    for (int i = 0; i < p->n; i++) {
        int c = marks && marks[i];
        if (!c) {
            c = 1;
            for (int t = 0; t < p->ntensors; t++)
                for (int j = p->cons_off[t]; j < p->cons_off[t + 1]; j++)
                    if (p->cons[j] == i && (p->producer[t] < 0 || !cst[p->producer[t]]))
                        c = 0;
        }
        cst[i] = (unsigned char)c;
    }
    int m = 0;
    for (int pos = 1; pos < p->n; pos++) {
        int cross = 0;
        for (int t = 0; t < p->ntensors; t++) {
            int after = 0;
            for (int j = p->cons_off[t]; j < p->cons_off[t + 1]; j++)
                after |= p->cons[j] >= pos;
            cross += p->producer[t] < pos && after;
        }
        if (cross == 1 && !cst[pos - 1])
            k[m++] = pos;
    }
    return m;
}

static plan_result couper_ok(const plan_problem *p, plan_couper_method m, unsigned char *buf,
                             int idx)
{
    char err[256] = "";
    plan_couper_opts o = {.method = m};
    plan_result r;
    memset(&r, 0, sizeof r);
    r.on_edge = buf;
    cleave_status st = plan_couper(p, &o, &r, err, sizeof err);
    if (st != CLEAVE_OK)
        fail_msg("couper %s (case %d): %s", plan_couper_method_name(m), idx, err);
    return r;
}

static void test_couper(void **state)
{
    (void)state;
    gen *g = calloc(1, sizeof *g);
    unsigned char buf[GMAXN];
    int k[GMAXN], want[GMAXN];
    uint64_t s = 0x5eed0007;
    int matched = 0, fewer = 0, total = 0;
    for (int c = 0; c < 2000; c++) {
        int assume = c % 2;
        const plan_problem *p = c % 4 < 2 ? gen_dag(g, &s, 1, 30, assume) : gen_sp(g, &s, 1, 60);
        if (c % 4 >= 2 && assume) { /* Couper's assumptions on the sp graph too */
            for (int i = 0; i < g->n; i++)
                g->t_edge[i] = fmin(g->t_edge[i], g->t_end[i]);
            for (int t = 0; t < g->nt; t++)
                g->out[t] = g->producer[t] == g->n - 1;
        }
        char err[256] = "";
        int count = -1;
        assert_int_equal(plan_couper_candidates(p, NULL, k, &count, err, sizeof err), CLEAVE_OK);
        int m = naive_candidates(p, NULL, want);
        assert_int_equal(count, m);
        assert_memory_equal(k, want, sizeof(int) * (size_t)m);
        /* strongman = the best of the baseline and every candidate */
        double best = split_cost(p, 0);
        for (int j = 0; j < m; j++)
            best = fmin(best, split_cost(p, k[j]));
        plan_result st = couper_ok(p, PLAN_COUPER_STRONGMAN, buf, c);
        assert_close(st.total_us, best, "strongman vs its candidates", c);
        assert_int_equal(st.evaluated, m + 1);
        /* early-stop always finds it; comm-slim and hybrid never beat it */
        plan_result es = couper_ok(p, PLAN_COUPER_EARLY_STOP, buf, c);
        assert_close(es.total_us, best, "early-stop vs strongman", c);
        assert_true(es.evaluated <= st.evaluated);
        plan_result cs = couper_ok(p, PLAN_COUPER_COMM_SLIM, buf, c);
        assert_true(cs.total_us >= best - 1e-9 * fmax(1.0, best));
        plan_result hy = couper_ok(p, PLAN_COUPER_HYBRID, buf, c);
        assert_true(hy.total_us >= best - 1e-9 * fmax(1.0, best));
        assert_true(hy.evaluated <= cs.evaluated); /* comm-slim's list, cut short */
        if (assume) /* the assumptions of partition.h: hybrid finds the strongman plan */
            assert_close(hy.total_us, best, "hybrid vs strongman under the assumptions", c);
        else {
            total++;
            matched += fabs(hy.total_us - best) <= 1e-9 * fmax(1.0, best);
        }
        fewer += hy.evaluated < st.evaluated;
    }
    print_message("couper: hybrid = strongman on %d of %d unrestricted graphs; fewer "
                  "evaluations on %d of 2000\n",
                  matched, total, fewer);
    assert_true(matched < total); /* the assumptions matter */
    free(g);
}

/* Hand cases: comm-slim skips the best candidate when the end device is faster on its prefix;
** the constant rule and the caller's marks exclude positions. */
static void test_couper_hand(void **state)
{
    (void)state;
    gen *g = calloc(1, sizeof *g);
    unsigned char buf[GMAXN];
    /* chain X -> 0 -> A -> 1 -> B -> 2 -> Y: node 0 is fast on the end device, A is bigger than
    ** X; baseline 10 + 102 + 1 = 113, after 0: 1 + 20 + 2 + 1 = 24, after 1: 1004 */
    memset(g, 0, sizeof *g);
    g->n = 3;
    g->nt = 4;
    const double te[] = {1, 1000, 1000}, tg[] = {100, 1, 1}, up[] = {10, 20, 1, 1};
    for (int i = 0; i < 3; i++) {
        g->t_end[i] = te[i];
        g->t_edge[i] = tg[i];
    }
    for (int t = 0; t < 4; t++) {
        g->producer[t] = t - 1;
        g->up[t] = up[t];
        g->down[t] = 1;
        if (t < 3)
            consume(g, t, t);
    }
    g->out[3] = 1;
    const plan_problem *p = gen_finish(g);
    plan_result st = couper_ok(p, PLAN_COUPER_STRONGMAN, buf, 0);
    assert_close(st.total_us, 24, "strongman", 0);
    assert_int_equal(st.evaluated, 3);
    plan_result hy = couper_ok(p, PLAN_COUPER_HYBRID, buf, 0);
    assert_close(hy.total_us, 113, "hybrid", 0);
    assert_int_equal(hy.evaluated, 1);
    assert_string_equal(hy.note, "hybrid: 1 of 3 positions evaluated (baseline included), 1 "
                                 "skipped, 1 not reached; 3 of 3 nodes on the edge");
    plan_result es = couper_ok(p, PLAN_COUPER_EARLY_STOP, buf, 0);
    assert_close(es.total_us, 24, "early-stop", 0);
    assert_int_equal(es.evaluated, 2);

    /* marks: node 1 marked constant removes position 2; marking node 0 makes node 1, which
    ** reads only node 0, constant as well */
    int k[GMAXN], count = 0;
    char err[256];
    const unsigned char marks1[] = {0, 1, 0}, marks0[] = {1, 0, 0};
    assert_int_equal(plan_couper_candidates(p, marks1, k, &count, err, sizeof err), CLEAVE_OK);
    assert_int_equal(count, 1);
    assert_int_equal(k[0], 1);
    plan_couper_opts o = {.method = PLAN_COUPER_STRONGMAN, .is_constant = marks1};
    plan_result r;
    memset(&r, 0, sizeof r);
    r.on_edge = buf;
    assert_int_equal(plan_couper(p, &o, &r, err, sizeof err), CLEAVE_OK);
    assert_close(r.total_us, 24, "strongman without position 2", 0);
    assert_int_equal(r.evaluated, 2);
    assert_int_equal(plan_couper_candidates(p, marks0, k, &count, err, sizeof err), CLEAVE_OK);
    assert_int_equal(count, 0);
    o.is_constant = marks0;
    assert_int_equal(plan_couper(p, &o, &r, err, sizeof err), CLEAVE_OK);
    assert_close(r.total_us, 113, "strongman with the baseline only", 0);

    /* structural rule: 0 reads X and makes an output; 1 is a constant read by 2, whose result
    ** is an output.  Position 2 has one crossing tensor but follows a constant */
    memset(g, 0, sizeof *g);
    g->n = 3;
    g->nt = 4;
    g->producer[0] = -1;
    g->producer[1] = 0;
    g->producer[2] = 1;
    g->producer[3] = 2;
    consume(g, 0, 0);
    consume(g, 2, 2);
    g->out[1] = g->out[3] = 1;
    p = gen_finish(g);
    assert_int_equal(plan_couper_candidates(p, NULL, k, &count, err, sizeof err), CLEAVE_OK);
    assert_int_equal(count, 0);
    free(g);
}

/* ---- the max-flow against brute-force minimum cuts ---------------------------------------- */

static void test_maxflow(void **state)
{
    (void)state;
    uint64_t s = 0x5eed0008;
    for (int c = 0; c < 1000; c++) {
        int nv = 2 + irand(&s, 9), na = irand(&s, 4 * nv);
        int from[64], to[64];
        double cap[64];
        plan_flow *f = plan_flow_create(nv, 4);
        assert_non_null(f);
        for (int a = 0; a < na; a++) {
            from[a] = irand(&s, nv);
            to[a] = irand(&s, nv);
            double r = unif(&s, 0, 1);
            cap[a] = r < 0.1   ? 0.0
                     : r < 0.2 ? INFINITY
                     : r < 0.4 ? (double)irand(&s, 4)
                               : unif(&s, 0.0, 10.0);
            assert_int_equal(plan_flow_add(f, from[a], to[a], cap[a]), CLEAVE_OK);
        }
        int src = 0, snk = nv - 1;
        double best = INFINITY;
        for (uint32_t m = 0; m < (1u << nv); m++) {
            if (!(m & 1u) || (m >> snk) & 1u)
                continue;
            double cut = 0.0;
            for (int a = 0; a < na; a++)
                if ((m >> from[a]) & 1u && !((m >> to[a]) & 1u))
                    cut += cap[a];
            best = fmin(best, cut);
        }
        double flow = plan_flow_run(f, src, snk, NULL);
        if (isinf(best)) {
            assert_true(isinf(flow));
        } else {
            assert_close(flow, best, "max flow vs min cut", c);
            double cut = 0.0;
            assert_true(plan_flow_source_side(f, src));
            assert_false(plan_flow_source_side(f, snk));
            for (int a = 0; a < na; a++)
                if (plan_flow_source_side(f, from[a]) && !plan_flow_source_side(f, to[a]))
                    cut += cap[a];
            assert_close(cut, best, "cut found vs min cut", c);
        }
        plan_flow_destroy(f);
    }
    plan_flow_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluate_hand),  cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_brute_vs_naive), cmocka_unit_test(test_sp_graphs),
        cmocka_unit_test(test_chains),         cmocka_unit_test(test_dags),
        cmocka_unit_test(test_dp_not_sp),      cmocka_unit_test(test_neurosurgeon),
        cmocka_unit_test(test_couper),         cmocka_unit_test(test_couper_hand),
        cmocka_unit_test(test_maxflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
