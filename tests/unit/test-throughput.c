/*
** tests/unit/test-throughput.c - the throughput objective: stage times against hand-computed
** values, the frame-drop formula against a discrete-event simulation of the pipeline, and, on
** thousands of random chains and DAGs (fixed seeds), the exact single-split methods against an
** enumeration of their candidate sets, brute force against a plain enumeration of every
** placement, DSH within its ratio of the optimum with a valid lower bound, and branch and bound
** equal to the optimum.
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
#include "planner/throughput.h"

#define N_CHAINS 1500 /* random chains checked against enumeration */
#define N_DAGS 1500   /* random DAGs */
#define N_LARGER 120  /* larger random graphs for branch and bound */

static int close_to(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(1.0, fmax(fabs(a), fabs(b)));
}

/* ---- random problems ---------------------------------------------------------------------- */

#define RMAXN 18
#define RMAXT (RMAXN + 1)

typedef struct rgraph {
    double te[RMAXN], tx[RMAXN], up[RMAXT], dn[RMAXT];
    int prod[RMAXT], off[RMAXT + 1], cons[RMAXT * RMAXN];
    unsigned char out[RMAXT];
    plan_problem p;
} rgraph;

static double uni(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * cl_rng_uniform(s);
}

/* A random problem of N nodes: tensor 0 is the network input, tensor i + 1 node i's output.  A
** chain passes each node's output to the next node only; a DAG also feeds later nodes at random
** (skip connections, fan-out) and sometimes makes an early node's tensor an output too.  Costs
** are small integers (many ties) or continuous with the end device 1-4x slower than the edge
** and the link from very slow to very fast. */
static const plan_problem *rgraph_make(rgraph *g, uint64_t *s, int n, int dag)
{
    int integer = uni(s, 0, 1) < 0.3, k = 0;
    double slow = uni(s, 1.0, 4.0), link = exp(uni(s, log(0.02), log(20.0)));
    for (int i = 0; i < n; i++) {
        if (integer) {
            g->te[i] = (double)(cl_rng_next(s) % 6);
            g->tx[i] = (double)(cl_rng_next(s) % 6);
        } else {
            g->tx[i] = uni(s, 0.0, 100.0);
            g->te[i] = g->tx[i] * slow * uni(s, 0.5, 1.5);
        }
    }
    for (int t = 0; t <= n; t++) {
        g->prod[t] = t - 1;
        g->out[t] = t == n;
        g->off[t] = k;
        if (integer) {
            g->up[t] = (double)(cl_rng_next(s) % 8);
            g->dn[t] = (double)(cl_rng_next(s) % 8);
        } else {
            g->up[t] = uni(s, 0.0, 100.0) / link;
            g->dn[t] = g->up[t] * uni(s, 0.2, 1.0);
        }
        for (int c = t; c < n; c++) { /* consumers come after producer t - 1 */
            int take = c == t ? !dag || uni(s, 0, 1) < 0.85 : dag && uni(s, 0, 1) < 0.2;
            if (take)
                g->cons[k++] = c;
        }
        if (dag && t > 0 && t < n && uni(s, 0, 1) < 0.08)
            g->out[t] = 1;
    }
    g->off[n + 1] = k;
    g->p = (plan_problem){.n = n,
                          .t_end = g->te,
                          .t_edge = g->tx,
                          .ntensors = n + 1,
                          .producer = g->prod,
                          .up_us = g->up,
                          .down_us = g->dn,
                          .cons_off = g->off,
                          .cons = g->cons,
                          .is_output = g->out};
    return &g->p;
}

/* The stages and latency of placement X, straight from the cost model. */
static void stages(const plan_problem *p, const unsigned char *x, plan_stages *st, double *total)
{
    plan_result r;
    plan_evaluate(p, x, &r);
    plan_stages_of(&r, st);
    if (total)
        *total = r.total_us;
}

/* The smallest bottleneck over the split positions K[0..COUNT), each costed from scratch. */
static double enum_splits(const plan_problem *p, const int *k, int count)
{
    unsigned char x[RMAXN];
    double best = INFINITY;
    for (int c = 0; c < count; c++) {
        for (int i = 0; i < p->n; i++)
            x[i] = i >= k[c];
        plan_stages st;
        stages(p, x, &st, NULL);
        best = fmin(best, st.bottleneck_us);
    }
    return best;
}

/* The smallest bottleneck over every placement, in plain binary order. */
static double enum_all(const plan_problem *p)
{
    unsigned char x[RMAXN];
    double best = INFINITY;
    for (uint32_t m = 0; m < (1u << p->n); m++) {
        for (int i = 0; i < p->n; i++)
            x[i] = (m >> i) & 1u;
        plan_stages st;
        stages(p, x, &st, NULL);
        best = fmin(best, st.bottleneck_us);
    }
    return best;
}

/* ---- hand-computed cases ------------------------------------------------------------------ */

/* A 3-node chain a -> b -> c: input (up 4, down 4) -> a -> ta (up 1, down 1) -> b -> tb (up 1,
** down 1) -> c -> tc (output, down 1); end times 1, 2, 1 and edge times 1, 2, 1. */
static const double h_te[] = {1, 2, 1}, h_tx[] = {1, 2, 1};
static const double h_up[] = {4, 1, 1, 1}, h_dn[] = {4, 1, 1, 1};
static const int h_prod[] = {-1, 0, 1, 2}, h_off[] = {0, 1, 2, 3, 3}, h_cons[] = {0, 1, 2};
static const unsigned char h_out[] = {0, 0, 0, 1};
static const plan_problem hand = {.n = 3,
                                  .t_end = h_te,
                                  .t_edge = h_tx,
                                  .ntensors = 4,
                                  .producer = h_prod,
                                  .up_us = h_up,
                                  .down_us = h_dn,
                                  .cons_off = h_off,
                                  .cons = h_cons,
                                  .is_output = h_out};

static void test_hand(void **state)
{
    (void)state;
    unsigned char x[3] = {0, 1, 0}, y[3];
    plan_stages st;
    double total;
    char err[256], g[128];
    /* end, edge, end: end = 1 + 1, edge = 2, xfer = up(ta) + down(tb) = 2 */
    stages(&hand, x, &st, &total);
    assert_true(st.end_us == 2 && st.edge_us == 2 && st.xfer_us == 2 && st.bottleneck_us == 2);
    assert_true(total == 6);
    assert_string_equal(plan_stages_bottleneck(&st), "end");
    assert_true(plan_tput_fps(st.bottleneck_us) == 5e5);

    /* Splits: k=0: xfer 4+1=5 (input up, output down), edge 4 -> 5; k=1: end 1, edge 3, xfer 2
    ** -> 3; k=2: end 3, edge 1, xfer 2 -> 3, later latency 6 vs 6: k=1 wins (first); k=3: end 4. */
    plan_tput_result r = {.r.on_edge = y};
    assert_int_equal(plan_tput_split(&hand, &r, err, sizeof err), CLEAVE_OK);
    assert_true(r.st.bottleneck_us == 3 && r.st.end_us == 1 && r.st.edge_us == 3);
    assert_int_equal(r.r.evaluated, 4);
    assert_int_equal(r.r.exact, 0);
    plan_tput_guarantee(&r, g, sizeof g);
    assert_string_equal(g, "optimal over the 4 single splits");
    /* ... but the optimum over all placements switches sides twice: a chain is not enough for
    ** single splits to be optimal under the throughput objective. */
    assert_int_equal(plan_tput_brute(&hand, &r, err, sizeof err), CLEAVE_OK);
    assert_true(r.st.bottleneck_us == 2 && r.r.exact && r.lower_us == 2);
    assert_memory_equal(y, x, 3);
    assert_int_equal(r.r.evaluated, 8);
    plan_tput_guarantee(&r, g, sizeof g);
    assert_string_equal(g, "optimal over all placements");
    assert_int_equal(plan_tput_dsh(&hand, &r, err, sizeof err), CLEAVE_OK);
    assert_true(r.st.bottleneck_us <= 3 * 2 && r.lower_us <= 2 && r.ratio == 3);
    /* Couper: one tensor crosses at k = 1 and k = 2; with the baseline, 3 positions */
    assert_int_equal(plan_tput_couper(&hand, NULL, &r, err, sizeof err), CLEAVE_OK);
    assert_true(r.st.bottleneck_us == 3);
    plan_tput_guarantee(&r, g, sizeof g);
    assert_string_equal(g, "optimal over Couper's 3 slicing positions");
}

/* PARTITION: independent nodes, no tensors, equally fast on both sides.  {3, 1, 1, 2, 2, 1}
** splits into two halves of 5. */
static void test_partition_instance(void **state)
{
    (void)state;
    static const double t[] = {3, 1, 1, 2, 2, 1};
    static const int off[] = {0};
    plan_problem p = {.n = 6, .t_end = t, .t_edge = t, .ntensors = 0, .cons_off = off};
    unsigned char x[6];
    plan_tput_result r = {.r.on_edge = x};
    char err[256];
    assert_int_equal(plan_tput_brute(&p, &r, err, sizeof err), CLEAVE_OK);
    assert_true(r.st.bottleneck_us == 5 && r.st.xfer_us == 0);
    assert_int_equal(plan_tput_dsh(&p, &r, err, sizeof err), CLEAVE_OK);
    assert_true(r.st.bottleneck_us <= 15 && r.lower_us <= 5 + 1e-9 && r.lower_us > 0);
    print_message("dsh on PARTITION {3,1,1,2,2,1}: bottleneck %g (optimum 5), lower bound %g\n",
                  r.st.bottleneck_us, r.lower_us);
}

static void test_errors(void **state)
{
    (void)state;
    double t[21] = {0};
    int off[1] = {0};
    unsigned char x[21];
    plan_problem p = {.n = 21, .t_end = t, .t_edge = t, .cons_off = off};
    plan_tput_result r = {.r.on_edge = x};
    char err[256];
    assert_int_equal(plan_tput_brute(&p, &r, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "brute force is limited to 20 nodes, got 21");
    p.n = 0;
    for (int a = 0; a < PLAN_TPUT_COUNT; a++) {
        assert_int_equal(plan_tput_run((plan_tput_algo)a, &p, NULL, &r, err, sizeof err),
                         CLEAVE_EINVAL);
        assert_string_equal(err, "problem has no nodes");
    }
    p.n = 2;
    r.r.on_edge = NULL;
    assert_int_equal(plan_tput_dsh(&p, &r, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "no placement array given for the result");
    assert_int_equal(plan_tput_run(PLAN_TPUT_COUNT, &p, NULL, &r, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "unknown throughput method 5");
    assert_string_equal(plan_tput_algo_name(PLAN_TPUT_DSH), "dsh");
    assert_string_equal(plan_tput_algo_name(PLAN_TPUT_COUNT), "?");
    /* a plan of zero cost sustains any rate */
    r.r.on_edge = x;
    assert_int_equal(plan_tput_dsh(&p, &r, err, sizeof err), CLEAVE_OK);
    assert_true(r.st.bottleneck_us == 0 && isinf(plan_tput_fps(0)) && r.r.exact);
    assert_true(plan_tput_drop_rate(0, 1e9) == 0);
}

/* ---- the drop model against a simulation ---------------------------------------------------- */

/* Periodic arrivals every A (from time 0) through stages S[0..3) served one frame at a time,
** FIFO, each with room for Q waiting frames; a frame finding its stage full is dropped.  Returns
** the fraction of N frames dropped. */
static double simulate(const double *s, double a, int q, int n)
{
    enum { RING = 64 };
    double dep[3][RING]; /* departure times of the frames last admitted to each stage */
    int head[3] = {0}, cnt[3] = {0}, dropped = 0;
    double last[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (int f = 0; f < n; f++) {
        double t = f * a;
        int kept = 1;
        for (int i = 0; i < 3 && kept; i++) {
            while (cnt[i] > 0 && dep[i][head[i]] <= t) { /* frames gone by time t */
                head[i] = (head[i] + 1) % RING;
                cnt[i]--;
            }
            if (cnt[i] >= q + 1) {
                kept = 0;
                break;
            }
            double d = fmax(t, last[i]) + s[i];
            last[i] = d;
            dep[i][(head[i] + cnt[i]++) % RING] = d;
            t = d;
        }
        dropped += !kept;
    }
    return (double)dropped / n;
}

static void test_drop_model(void **state)
{
    (void)state;
    static const double cases[][4] = {
        /* end, xfer, edge (us), fps */
        {1000, 500, 200, 500},    {1000, 500, 200, 2000},  {300, 4000, 1000, 1000},
        {100, 200, 7000, 400},    {2500, 2500, 2500, 900}, {50, 50, 50, 100},
        {1500, 100, 3000, 10000},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        plan_stages st = {cases[c][0], cases[c][1], cases[c][2], 0};
        st.bottleneck_us = fmax(st.end_us, fmax(st.xfer_us, st.edge_us));
        double want = plan_tput_drop_rate(st.bottleneck_us, cases[c][3]);
        for (int q = 1; q <= 4; q++) {
            double got = simulate(cases[c], 1e6 / cases[c][3], q, 200000);
            if (fabs(got - want) > 1e-3)
                fail_msg("case %zu, buffer %d: simulated drop %.5f, model %.5f", c, q, got, want);
        }
    }
    /* Without a buffer the model does not hold: at 1.5 service times per arrival, one frame
    ** in two is kept, not two in three. */
    double s[3] = {1500, 0, 0};
    assert_true(fabs(simulate(s, 1000, 0, 100000) - 0.5) < 1e-3);
    assert_true(fabs(plan_tput_drop_rate(1500, 1000) - 1.0 / 3) < 1e-12);
}

/* ---- random graphs ------------------------------------------------------------------------ */

static void check_random(int dag, int count, uint64_t seed)
{
    uint64_t s = seed;
    rgraph g;
    unsigned char x[RMAXN];
    int k[RMAXN + 1], ncand;
    plan_tput_result r = {.r.on_edge = x};
    char err[256];
    int dsh_opt = 0, dsh_cert = 0, split_opt = 0, stopped_checked = 0;
    double worst = 1.0, worst_cert = 1.0;
    for (int c = 0; c < count; c++) {
        int n = 1 + (int)(cl_rng_next(&s) % 12);
        const plan_problem *p = rgraph_make(&g, &s, n, dag);
        double opt = enum_all(p);

        assert_int_equal(plan_tput_brute(p, &r, err, sizeof err), CLEAVE_OK);
        if (!close_to(r.st.bottleneck_us, opt))
            fail_msg("graph %d: brute %.17g, enumeration %.17g", c, r.st.bottleneck_us, opt);
        plan_stages st;
        double total;
        stages(p, x, &st, &total);
        assert_true(st.bottleneck_us == r.st.bottleneck_us && total == r.r.total_us);

        for (int i = 0; i <= n; i++)
            k[i] = i;
        double want = enum_splits(p, k, n + 1);
        assert_int_equal(plan_tput_split(p, &r, err, sizeof err), CLEAVE_OK);
        if (!close_to(r.st.bottleneck_us, want))
            fail_msg("graph %d: split %.17g, enumeration %.17g", c, r.st.bottleneck_us, want);
        stages(p, x, &st, NULL);
        assert_true(st.bottleneck_us == r.st.bottleneck_us);
        split_opt += close_to(want, opt);

        k[0] = 0;
        assert_int_equal(plan_couper_candidates(p, NULL, k + 1, &ncand, err, sizeof err),
                         CLEAVE_OK);
        want = enum_splits(p, k, ncand + 1);
        assert_int_equal(plan_tput_couper(p, NULL, &r, err, sizeof err), CLEAVE_OK);
        if (!close_to(r.st.bottleneck_us, want))
            fail_msg("graph %d: couper %.17g, enumeration %.17g", c, r.st.bottleneck_us, want);
        assert_int_equal(r.candidates, ncand + 1);

        assert_int_equal(plan_tput_dsh(p, &r, err, sizeof err), CLEAVE_OK);
        stages(p, x, &st, NULL);
        assert_true(st.bottleneck_us == r.st.bottleneck_us);
        if (r.st.bottleneck_us > 3.0 * opt * (1 + 1e-12) + 1e-12)
            fail_msg("graph %d: dsh %.17g beyond 3x the optimum %.17g", c, r.st.bottleneck_us, opt);
        if (r.lower_us > opt * (1 + 1e-9) + 1e-12)
            fail_msg("graph %d: dsh lower bound %.17g above the optimum %.17g", c, r.lower_us, opt);
        if (r.r.exact && !close_to(r.st.bottleneck_us, opt))
            fail_msg("graph %d: dsh claims optimal %.17g, optimum %.17g", c, r.st.bottleneck_us,
                     opt);
        dsh_opt += close_to(r.st.bottleneck_us, opt);
        dsh_cert += r.r.exact;
        double dsh_b = r.st.bottleneck_us;
        int dsh_exact = r.r.exact;
        if (opt > 0) {
            worst = fmax(worst, r.st.bottleneck_us / opt);
            if (r.lower_us > 0)
                worst_cert = fmax(worst_cert, r.st.bottleneck_us / r.lower_us);
        }

        assert_int_equal(plan_tput_run(PLAN_TPUT_BNB, p, NULL, &r, err, sizeof err), CLEAVE_OK);
        if (!close_to(r.st.bottleneck_us, opt) || !r.r.exact || r.ratio != 1.0)
            fail_msg("graph %d: bnb %.17g (exact %d), optimum %.17g", c, r.st.bottleneck_us,
                     r.r.exact, opt);
        stages(p, x, &st, NULL);
        assert_true(st.bottleneck_us == r.st.bottleneck_us);
        if (!dsh_exact && !stopped_checked) { /* a budget too small to finish */
            assert_int_equal(plan_tput_bnb(p, 1, NULL, &r, err, sizeof err), CLEAVE_OK);
            assert_true(r.st.bottleneck_us <= dsh_b && r.ratio == 3.0 && !r.r.exact);
            assert_memory_equal(r.r.note, "search stopped after its budget", 31);
            stopped_checked = 1;
        }
    }
    assert_true(stopped_checked);
    print_message("%s: %d graphs (bnb optimal on all); best split optimal on %d; dsh optimal on %d "
                  "(certified on %d), "
                  "worst dsh/optimum %.4f, worst dsh/lower bound %.4f\n",
                  dag ? "DAGs" : "chains", count, split_opt, dsh_opt, dsh_cert, worst, worst_cert);
}

/* Branch and bound against brute force on larger graphs (13-17 nodes), where it searches deeper. */
static void test_bnb_larger(void **state)
{
    (void)state;
    uint64_t s = 0x74707574626e62ULL;
    rgraph g;
    unsigned char x[RMAXN];
    plan_tput_result r = {.r.on_edge = x};
    char err[256];
    int64_t visits = 0;
    for (int c = 0; c < N_LARGER; c++) {
        const plan_problem *p = rgraph_make(&g, &s, 13 + (int)(cl_rng_next(&s) % 5), c % 2);
        assert_int_equal(plan_tput_brute(p, &r, err, sizeof err), CLEAVE_OK);
        double opt = r.st.bottleneck_us;
        assert_int_equal(plan_tput_run(PLAN_TPUT_BNB, p, NULL, &r, err, sizeof err), CLEAVE_OK);
        if (!close_to(r.st.bottleneck_us, opt) || !r.r.exact)
            fail_msg("graph %d: bnb %.17g, brute %.17g", c, r.st.bottleneck_us, opt);
        visits += r.r.evaluated;
        /* the same from a dsh result given (the command line's path) */
        unsigned char y[RMAXN];
        plan_tput_result d = {.r.on_edge = y};
        assert_int_equal(plan_tput_dsh(p, &d, err, sizeof err), CLEAVE_OK);
        assert_int_equal(plan_tput_bnb(p, PLAN_TPUT_BNB_BUDGET, &d, &r, err, sizeof err),
                         CLEAVE_OK);
        if (!close_to(r.st.bottleneck_us, opt) || !r.r.exact || r.r.on_edge != x)
            fail_msg("graph %d: bnb from dsh %.17g, brute %.17g", c, r.st.bottleneck_us, opt);
    }
    print_message("bnb = brute on %d graphs of 13-17 nodes (%lld placements evaluated or "
                  "visited in all, brute force: up to 2^17 each)\n",
                  N_LARGER, (long long)visits);
}

static void test_random_chains(void **state)
{
    (void)state;
    check_random(0, N_CHAINS, 0x7470757431ULL);
}

static void test_random_dags(void **state)
{
    (void)state;
    check_random(1, N_DAGS, 0x7470757432ULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand),          cmocka_unit_test(test_partition_instance),
        cmocka_unit_test(test_errors),        cmocka_unit_test(test_drop_model),
        cmocka_unit_test(test_random_chains), cmocka_unit_test(test_random_dags),
        cmocka_unit_test(test_bnb_larger),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
