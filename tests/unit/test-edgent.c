/*
** tests/unit/test-edgent.c - Edgent's right-sizing: exits in text graphs (parsing, writing,
** every structural error with its message), the joint exit + partition choice against brute
** force over (exit, placement) on the bundled BranchyNet AlexNet and on random branchy chains
** (fixed seeds), with and without loading costs, and the monotonicity of the choice in
** bandwidth and deadline.
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cleave/cleave.h>

#include "common/rng.h"
#include "planner/edgent.h"
#include "planner/graph.h"

#define N_RANDOM 1500 /* random branchy chains checked against brute force */

static plan_graph *read_text(const char *text, char *err, size_t errlen)
{
    plan_graph *g = NULL;
    err[0] = '\0';
    cleave_status rc = plan_text_read(&g, text, strlen(text), err, errlen);
    if (rc != CLEAVE_OK)
        assert_null(g);
    return g;
}

static const char base[] = "input x 1x8\n"
                           "node m0 fc k=6 <- x\n"
                           "node m1 fc k=5 <- m0\n"
                           "node m2 fc k=4 <- m1\n"
                           "node b0 fc k=3 <- m0\n"
                           "node b1 fc k=2 <- b0\n";

/* BASE + TAIL must fail with exactly MSG. */
static void expect_error(const char *tail, const char *msg)
{
    char text[2048], err[512];
    snprintf(text, sizeof text, "%s%s", base, tail);
    plan_graph *g = read_text(text, err, sizeof err);
    assert_null(g);
    assert_string_equal(err, msg);
}

static void test_text_exits(void **state)
{
    (void)state;
    char err[512];
    char text[2048];
    snprintf(text, sizeof text,
             "%soutput m2 b1\nexit e1 accuracy=0.5 from=m0 layers=b0,b1\n"
             "exit main accuracy=0.9\n",
             base);
    plan_graph *g = read_text(text, err, sizeof err);
    assert_non_null(g);
    assert_int_equal(g->nexits, 2);
    assert_string_equal(g->exits[0].name, "e1");
    assert_int_equal(g->exits[0].from, plan_graph_find_node(g, "m0"));
    assert_int_equal(g->exits[0].nlayers, 2);
    assert_int_equal(g->exits[0].output, plan_graph_find_tensor(g, "b1"));
    assert_true(g->exits[0].accuracy == 0.5);
    assert_int_equal(g->exits[1].from, -1);
    assert_int_equal(g->exits[1].output, -1);

    /* written and read back: the same text */
    char *w1 = NULL, *w2 = NULL;
    size_t l1 = 0, l2 = 0;
    FILE *f = open_memstream(&w1, &l1);
    assert_int_equal(plan_text_write(g, f, err, sizeof err), CLEAVE_OK);
    fclose(f);
    assert_non_null(strstr(w1, "exit e1 accuracy=0.5 from=m0 layers=b0,b1\n"));
    assert_non_null(strstr(w1, "exit main accuracy=0.9\n"));
    plan_graph *g2 = read_text(w1, err, sizeof err);
    assert_non_null(g2);
    f = open_memstream(&w2, &l2);
    assert_int_equal(plan_text_write(g2, f, err, sizeof err), CLEAVE_OK);
    fclose(f);
    assert_string_equal(w1, w2);
    free(w1);
    free(w2);
    plan_graph_destroy(g2);

    /* the exits' networks: main = m0 m1 m2, e1 = m0 b0 b1 */
    plan_edgent *e = NULL;
    assert_int_equal(plan_edgent_create(&e, g, err, sizeof err), CLEAVE_OK);
    assert_int_equal(e->nexits, 2);
    assert_int_equal(e->exits[0].n, 3);
    assert_int_equal(e->exits[1].n, 3);
    assert_string_equal(g->nodes[e->exits[0].nodes[2]].name, "b1");
    assert_string_equal(g->nodes[e->exits[1].nodes[2]].name, "m2");
    plan_edgent_destroy(e);
    plan_graph_destroy(g);
}

static void test_text_exit_errors(void **state)
{
    (void)state;
    char err[512];
    /* a branch whose layers read nothing of the main path */
    plan_graph *g = read_text("input x 1x8\nnode m0 fc k=6 <- x\nnode m1 fc k=4 <- m0\n"
                              "node k0 fc c=6 k=3\nnode k1 fc k=2 <- k0\noutput m1 k1\n"
                              "exit e1 accuracy=0.5 from=m0 layers=k0,k1\nexit m accuracy=1\n",
                              err, sizeof err);
    assert_null(g);
    assert_string_equal(err, "exit 'e1' does not attach to the main path at 'm0': none of its "
                             "layers reads 'm0'");
    expect_error("output m2 b1\nexit e1 accuracy=1.5 from=m0 layers=b0,b1\n",
                 "line 8: exit 'e1': accuracy 1.5 is outside [0, 1]");
    expect_error("output m2 b1\nexit e1 accuracy=-0.1 from=m0 layers=b0,b1\n",
                 "line 8: exit 'e1': accuracy -0.1 is outside [0, 1]");
    expect_error("output m2 b1\nexit e1 accuracy=high\n",
                 "line 8: exit 'e1': accuracy 'high' is not a number");
    expect_error("output m2 b1\nexit e1 from=m0 layers=b0,b1\n",
                 "line 8: exit 'e1': accuracy is missing");
    expect_error("output m2 b1\nexit e1 accuracy=0.5 from=m0\n",
                 "line 8: exit 'e1': 'from' and 'layers' go together (a branch exit) or not at "
                 "all (the main exit)");
    expect_error("output m2 b1\nexit e1 accuracy=0.5 from=zz layers=b0,b1\n",
                 "line 8: exit 'e1': 'from' node 'zz' is not defined");
    expect_error("output m2 b1\nexit e1 accuracy=0.5 from=m0 layers=b0,q\n",
                 "line 8: exit 'e1': layer 'q' is not defined");
    expect_error("output m2 b1\nexit e1 accuracy=0.5 colour=red\n",
                 "line 8: exit 'e1': unknown key 'colour' (accuracy=A [from=NODE "
                 "layers=L1,L2,...])");
    expect_error("output m2 b1\nexit e1 accuracy=0.5\nexit e2 accuracy=0.6\n",
                 "line 9: exits 'e1' and 'e2' are both the main exit");
    expect_error("output m2 b1\nexit e1 accuracy=0.5\nexit e1 accuracy=0.6\n",
                 "line 9: exit 'e1' is declared twice");
    /* structure: found when the graph is finished */
    expect_error("output m2 b1\nexit e1 accuracy=0.5 from=m1 layers=b0,b1\nexit m accuracy=1\n",
                 "exit 'e1' does not attach to the main path at 'm1': layer 'b0' reads 'm0' (an "
                 "exit's layers read only the output of its 'from' node and each other's)");
    expect_error("output m2 b1\nexit e1 accuracy=0.5 from=m0 layers=b1\nexit m accuracy=1\n",
                 "exit 'e1' does not attach to the main path at 'm0': layer 'b1' reads 'b0' (an "
                 "exit's layers read only the output of its 'from' node and each other's)");
    expect_error("output m2 b1\nexit e1 accuracy=0.5 from=b0 layers=b1\n"
                 "exit e2 accuracy=0.5 from=m0 layers=b0\nexit m accuracy=1\n",
                 "exit 'e1': 'from' node 'b0' is not on the main path (it is a layer of exit "
                 "'e2')");
    expect_error("output m2 b1\nexit e1 accuracy=0.5 from=m0 layers=b0\nexit m accuracy=1\n",
                 "exit 'e1': layer 'b0' feeds node 'b1', outside the exit");
    expect_error("node b2 fc k=2 <- b0\noutput m2 b1 b2\n"
                 "exit e1 accuracy=0.5 from=m0 layers=b0,b1,b2\nexit m accuracy=1\n",
                 "exit 'e1' has several last layers ('b1', 'b2'); an exit ends in one");
    expect_error("output m2\nexit e1 accuracy=0.5 from=m0 layers=b0,b1\nexit m accuracy=1\n",
                 "exit 'e1': its result 'b1' is not a network output");
    expect_error("output m2 b1\nexit e1 accuracy=0.5 from=m0 layers=b0,b1\n",
                 "graph declares exits but no main exit (an exit without 'from')");
    expect_error("output b1\nexit e1 accuracy=0.5 from=m0 layers=b0,b1\nexit m accuracy=1\n",
                 "the main path has no network output");
    expect_error("node c0 fc k=3 <- m1\nnode c1 fc k=2 <- c0\noutput m2 b1 c1\n"
                 "exit e1 accuracy=0.5 from=m0 layers=b0,b1,c1\nexit m accuracy=1\n",
                 "exit 'e1' does not attach to the main path at 'm0': layer 'c1' reads 'c0' (an "
                 "exit's layers read only the output of its 'from' node and each other's)");
    expect_error("node c0 fc k=3 <- m0\noutput m2 b1 c0\n"
                 "exit e1 accuracy=0.5 from=m1 layers=c0\nexit m accuracy=1\n",
                 "exit 'e1' does not attach to the main path at 'm1': layer 'c0' reads 'm0' (an "
                 "exit's layers read only the output of its 'from' node and each other's)");
    expect_error("output m2 b1\nexit e1 accuracy=0.5 from=m0 layers=b0,b1\n"
                 "exit e2 accuracy=0.5 from=m1 layers=b1\nexit m accuracy=1\n",
                 "exit 'e2': layer 'b1' is also in exit 'e1'");
}

/* ---- brute force over (exit, placement) -------------------------------------------------- */

/* One exit of a generated graph, as the generator knows it (independently of planner/). */
typedef struct oexit {
    int nodes[32], n; /* graph node ids */
    double w[32];     /* their weight bytes (set by oracle_best) */
    int result;       /* the tensor returned to the end device */
    double acc;
} oexit;

typedef struct oracle {
    oexit ex[8];
    int nex;
    double up, down, rtt_ms;
    const plan_loading *le, *lx;
} oracle;

/* The latency of placing exit X's nodes by MASK (bit j: nodes[j] on the edge), computed from
** the graph directly: compute, every tensor that crosses (once per direction), the result's
** download, loading costs. */
static double oracle_cost(const plan_graph *g, const oracle *o, const oexit *x, unsigned mask,
                          const double *te, const double *tx)
{
    int side[256];
    double c = 0.0, w[2] = {0, 0};
    int used[2] = {0, 0};
    for (int v = 0; v < g->nnodes; v++)
        side[v] = -1;
    for (int j = 0; j < x->n; j++) {
        int s = (mask >> j) & 1, v = x->nodes[j];
        side[v] = s;
        c += s ? tx[v] : te[v];
        w[s] += x->w[j];
        used[s] = 1;
    }
    for (int t = 0; t < g->ntensors; t++) {
        const plan_tensor *ts = &g->tensors[t];
        int s = ts->producer < 0 ? 0 : side[ts->producer];
        if (s < 0)
            continue;
        int up = 0, down = 0;
        for (int k = 0; k < ts->nconsumers; k++) {
            int cs = side[ts->consumers[k]];
            up |= s == 0 && cs == 1;
            down |= s == 1 && cs == 0;
        }
        down |= s == 1 && t == x->result;
        double bits = 8.0 * (double)ts->bytes;
        if (up)
            c += o->rtt_ms * 500.0 + bits / o->up;
        if (down)
            c += o->rtt_ms * 500.0 + bits / o->down;
    }
    if (o->le) {
        if (used[0])
            c += o->le->a_us + o->le->us_per_byte * w[0];
        if (used[1])
            c += o->lx->a_us + o->lx->us_per_byte * w[1];
    }
    return c;
}

/* Best latency of each exit by enumeration into BEST[]. */
static void oracle_best(const plan_graph *g, oracle *o, const double *te, const double *tx,
                        double *best)
{
    for (int i = 0; i < o->nex; i++) {
        for (int j = 0; j < o->ex[i].n; j++)
            o->ex[i].w[j] = plan_node_weight_bytes(g, o->ex[i].nodes[j]);
        best[i] = INFINITY;
        for (unsigned m = 0; m < (1u << o->ex[i].n); m++) {
            double c = oracle_cost(g, o, &o->ex[i], m, te, tx);
            if (c < best[i])
                best[i] = c;
        }
    }
}

static int close_to(double a, double b)
{
    return fabs(a - b) <= 1e-9 * (fabs(a) + fabs(b)) + 1e-9;
}

/* Solve with planner/edgent and compare with the oracle at DEADLINE_US. */
static void check_against(const plan_graph *g, plan_edgent *e, const oracle *o, const double *te,
                          const double *tx, const double *best, double deadline_us)
{
    char err[512];
    plan_edgent_opts opts;
    plan_edgent_opts_init(&opts);
    opts.up_mbps = o->up;
    opts.down_mbps = o->down;
    opts.rtt_ms = o->rtt_ms;
    opts.deadline_us = deadline_us;
    opts.load_end = o->le;
    opts.load_edge = o->lx;
    cleave_status rc = plan_edgent_solve(e, g, te, tx, &opts, err, sizeof err);
    if (rc != CLEAVE_OK)
        fail_msg("%s", err);
    assert_int_equal(e->nexits, o->nex);
    /* each exit: its optimum, and its placement really costs what it reports */
    for (int i = 0; i < o->nex; i++) {
        const plan_edgent_exit *ex = &e->exits[i];
        assert_int_equal(ex->n, o->ex[i].n);
        unsigned mask = 0;
        for (int j = 0; j < ex->n; j++) {
            int k = 0;
            while (k < o->ex[i].n && o->ex[i].nodes[k] != ex->nodes[j])
                k++;
            assert_true(k < o->ex[i].n);
            mask |= (unsigned)ex->on_edge[j] << k;
        }
        double c = oracle_cost(g, o, &o->ex[i], mask, te, tx);
        if (!close_to(c, ex->r.total_us) || !close_to(best[i], ex->r.total_us))
            fail_msg("exit %d: reported %.17g, its placement costs %.17g, optimum %.17g", i,
                     ex->r.total_us, c, best[i]);
    }
    /* the joint choice over every (exit, placement) pair */
    int any = 0;
    double acc = -1, lat = INFINITY, fastest = INFINITY;
    for (int i = 0; i < o->nex; i++) {
        fastest = fmin(fastest, best[i]);
        if (best[i] <= deadline_us) {
            if (!any || o->ex[i].acc > acc || (o->ex[i].acc == acc && best[i] < lat)) {
                acc = o->ex[i].acc;
                lat = best[i];
            }
            any = 1;
        }
    }
    assert_int_equal(e->feasible, any);
    const plan_edgent_exit *c = &e->exits[e->chosen];
    if (any) {
        assert_true(c->accuracy == acc || (isnan(c->accuracy) && isnan(acc)));
        assert_true(close_to(c->r.total_us, lat));
    } else {
        assert_true(close_to(c->r.total_us, fastest));
    }
}

static int irand(uint64_t *s, int n)
{
    return (int)(cl_rng_next(s) % (uint64_t)n);
}

/* A random branchy chain: a main chain of fc layers and 0-3 branches of 1-3 fc layers each,
** written in the text format (so the reader is exercised too), with its oracle exits. */
static plan_graph *random_branchy(uint64_t *s, oracle *o)
{
    char text[8192], err[512];
    size_t len = 0;
    int nmain = 2 + irand(s, 7), nbr = irand(s, 4);
    static const double accs[] = {0.3, 0.5, 0.5, 0.7, 0.9};
    len += (size_t)snprintf(text + len, sizeof text - len, "input x 1x%d\n", 1 + irand(s, 4000));
    for (int i = 0; i < nmain; i++) {
        char in[16] = "x";
        if (i)
            snprintf(in, sizeof in, "m%d", i - 1);
        len += (size_t)snprintf(text + len, sizeof text - len, "node m%d fc k=%d <- %s\n", i,
                                1 + irand(s, 4000), in);
    }
    memset(o, 0, sizeof *o);
    int from[4], nl[4];
    for (int b = 0; b < nbr; b++) {
        from[b] = irand(s, nmain - 1);
        nl[b] = 1 + irand(s, 3);
        for (int j = 0; j < nl[b]; j++) {
            char in[16];
            if (j)
                snprintf(in, sizeof in, "b%d_%d", b, j - 1);
            else
                snprintf(in, sizeof in, "m%d", from[b]);
            len += (size_t)snprintf(text + len, sizeof text - len, "node b%d_%d fc k=%d <- %s\n", b,
                                    j, 1 + irand(s, 4000), in);
        }
    }
    len += (size_t)snprintf(text + len, sizeof text - len, "output m%d", nmain - 1);
    for (int b = 0; b < nbr; b++)
        len += (size_t)snprintf(text + len, sizeof text - len, " b%d_%d", b, nl[b] - 1);
    len += (size_t)snprintf(text + len, sizeof text - len, "\n");
    double main_acc = accs[irand(s, 5)];
    for (int b = 0; b < nbr; b++) {
        len += (size_t)snprintf(text + len, sizeof text - len,
                                "exit e%d accuracy=%g from=m%d "
                                "layers=",
                                b, accs[irand(s, 5)], from[b]);
        for (int j = 0; j < nl[b]; j++)
            len += (size_t)snprintf(text + len, sizeof text - len, "%sb%d_%d", j ? "," : "", b, j);
        len += (size_t)snprintf(text + len, sizeof text - len, "\n");
    }
    if (nbr > 0)
        len += (size_t)snprintf(text + len, sizeof text - len, "exit main accuracy=%g\n", main_acc);
    assert_true(len < sizeof text);
    plan_graph *g = read_text(text, err, sizeof err);
    if (!g)
        fail_msg("%s\n%s", err, text);
    /* the oracle's exits, from the generator's own bookkeeping */
    for (int b = 0; b < nbr; b++) {
        oexit *x = &o->ex[o->nex++];
        char name[16];
        for (int i = 0; i <= from[b]; i++) {
            snprintf(name, sizeof name, "m%d", i);
            x->nodes[x->n++] = plan_graph_find_node(g, name);
        }
        for (int j = 0; j < nl[b]; j++) {
            snprintf(name, sizeof name, "b%d_%d", b, j);
            x->nodes[x->n++] = plan_graph_find_node(g, name);
        }
        x->result = plan_graph_find_tensor(g, name);
        x->acc = g->exits[b].accuracy;
    }
    oexit *x = &o->ex[o->nex++];
    char name[16];
    for (int i = 0; i < nmain; i++) {
        snprintf(name, sizeof name, "m%d", i);
        x->nodes[x->n++] = plan_graph_find_node(g, name);
    }
    x->result = plan_graph_find_tensor(g, name);
    x->acc = nbr > 0 ? main_acc : NAN;
    return g;
}

static void random_times(uint64_t *s, const plan_graph *g, double *te, double *tx)
{
    int integer = irand(s, 3) == 0; /* small integers: many exact ties */
    for (int v = 0; v < g->nnodes; v++) {
        te[v] = integer ? (double)irand(s, 6) * 1000 : 20000.0 * cl_rng_uniform(s);
        tx[v] = integer ? (double)irand(s, 3) * 1000 : te[v] * 1.5 * cl_rng_uniform(s);
    }
}

static void test_random_vs_brute(void **state)
{
    (void)state;
    uint64_t seed = 0x5eed0007u;
    char err[512];
    for (int it = 0; it < N_RANDOM; it++) {
        oracle o;
        plan_graph *g = random_branchy(&seed, &o);
        double te[256], tx[256], best[8];
        random_times(&seed, g, te, tx);
        plan_loading le = {cl_rng_uniform(&seed) * 50000, cl_rng_uniform(&seed) * 1e-3};
        plan_loading lx = {cl_rng_uniform(&seed) * 5000, cl_rng_uniform(&seed) * 1e-4};
        if (irand(&seed, 3) == 0) {
            o.le = &le;
            o.lx = &lx;
        }
        o.up = 0.5 + 50 * cl_rng_uniform(&seed);
        o.down = irand(&seed, 2) ? o.up : 0.5 + 50 * cl_rng_uniform(&seed);
        o.rtt_ms = irand(&seed, 2) ? 0.0 : 20 * cl_rng_uniform(&seed);
        plan_edgent *e = NULL;
        assert_int_equal(plan_edgent_create(&e, g, err, sizeof err), CLEAVE_OK);
        oracle_best(g, &o, te, tx, best);
        /* deadlines: below all, between each pair of distinct optima, above all */
        double sorted[8];
        memcpy(sorted, best, sizeof(double) * (size_t)o.nex);
        for (int i = 1; i < o.nex; i++)
            for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
                double t = sorted[j];
                sorted[j] = sorted[j - 1];
                sorted[j - 1] = t;
            }
        check_against(g, e, &o, te, tx, best, sorted[0] * 0.5 + 1e-3);
        for (int i = 0; i + 1 < o.nex; i++)
            if (sorted[i + 1] - sorted[i] > 1e-6 * sorted[i + 1])
                check_against(g, e, &o, te, tx, best, 0.5 * (sorted[i] + sorted[i + 1]));
        check_against(g, e, &o, te, tx, best, sorted[o.nex - 1] * 2 + 1);
        plan_edgent_destroy(e);
        plan_graph_destroy(g);
    }
}

/* Monotonicity: once some exit meets the deadline, more bandwidth keeps one meeting it and never
** lowers the chosen accuracy; a longer deadline likewise. */
static void test_monotone(void **state)
{
    (void)state;
    uint64_t seed = 0xa11ce7u;
    char err[512];
    for (int it = 0; it < 300; it++) {
        oracle o;
        plan_graph *g = random_branchy(&seed, &o);
        double te[256], tx[256];
        random_times(&seed, g, te, tx);
        plan_edgent *e = NULL;
        assert_int_equal(plan_edgent_create(&e, g, err, sizeof err), CLEAVE_OK);
        plan_edgent_opts opts;
        plan_edgent_opts_init(&opts);
        opts.rtt_ms = irand(&seed, 2) ? 0.0 : 10.0;
        double deadline = 5000 + 100000 * cl_rng_uniform(&seed);
        opts.deadline_us = deadline;
        int was = 0;
        double acc = -2;
        for (double bw = 0.05; bw < 500; bw *= 1.25) {
            opts.up_mbps = opts.down_mbps = bw;
            assert_int_equal(plan_edgent_solve(e, g, te, tx, &opts, err, sizeof err), CLEAVE_OK);
            double a = e->exits[e->chosen].accuracy;
            a = isnan(a) ? -1 : a;
            if (was) {
                assert_true(e->feasible);
                assert_true(a >= acc);
            }
            if (e->feasible) {
                was = 1;
                acc = a;
            }
        }
        opts.up_mbps = opts.down_mbps = 1 + 20 * cl_rng_uniform(&seed);
        was = 0;
        acc = -2;
        for (double d = 100; d < 1e7; d *= 1.3) {
            opts.deadline_us = d;
            assert_int_equal(plan_edgent_solve(e, g, te, tx, &opts, err, sizeof err), CLEAVE_OK);
            double a = e->exits[e->chosen].accuracy;
            a = isnan(a) ? -1 : a;
            if (was) {
                assert_true(e->feasible);
                assert_true(a >= acc);
            }
            if (e->feasible) {
                was = 1;
                acc = a;
            }
        }
        plan_edgent_destroy(e);
        plan_graph_destroy(g);
    }
}

/* The choice rule on hand-made numbers. */
static void test_choose(void **state)
{
    (void)state;
    int f;
    double acc[] = {0.5, 0.7, 0.7, 0.9}, lat[] = {10, 30, 20, 50};
    assert_int_equal(plan_edgent_choose(acc, lat, 4, 40, &f), 2); /* 0.7 tie: the faster */
    assert_int_equal(f, 1);
    assert_int_equal(plan_edgent_choose(acc, lat, 4, 50, &f), 3); /* <= deadline counts */
    assert_int_equal(plan_edgent_choose(acc, lat, 4, 9, &f), 0);  /* none: the fastest */
    assert_int_equal(f, 0);
    double acc2[] = {0.5, 0.9}, lat2[] = {10, 10};
    assert_int_equal(plan_edgent_choose(acc2, lat2, 2, 5, &f), 1); /* fastest tie: accurate */
    assert_int_equal(plan_edgent_choose(acc2, lat2, 0, 5, &f), -1);
}

static void test_bad_options(void **state)
{
    (void)state;
    char err[512], text[2048];
    snprintf(text, sizeof text,
             "%soutput m2 b1\nexit e1 accuracy=0.5 from=m0 layers=b0,b1\n"
             "exit main accuracy=0.9\n",
             base);
    plan_graph *g = read_text(text, err, sizeof err);
    assert_non_null(g);
    plan_edgent *e = NULL;
    assert_int_equal(plan_edgent_create(&e, g, err, sizeof err), CLEAVE_OK);
    double te[8] = {1, 1, 1, 1, 1}, tx[8] = {1, 1, 1, 1, 1};
    plan_edgent_opts o;
    plan_edgent_opts_init(&o);
    o.up_mbps = o.down_mbps = 1;
    o.deadline_us = 0;
    assert_int_equal(plan_edgent_solve(e, g, te, tx, &o, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "deadline must be a positive number of ms, got 0");
    o.deadline_us = -2000;
    assert_int_equal(plan_edgent_solve(e, g, te, tx, &o, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "deadline must be a positive number of ms, got -2");
    o.deadline_us = 1000;
    plan_loading neg = {-1, 0}, ok = {1, 0};
    o.load_end = &ok;
    assert_int_equal(plan_edgent_solve(e, g, te, tx, &o, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "loading costs must be given for both sides");
    o.load_edge = &neg;
    assert_int_equal(plan_edgent_solve(e, g, te, tx, &o, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "loading cost must be >= 0 and finite on the edge device, got -1 us "
                             "+ 0 us/byte");
    plan_edgent_destroy(e);
    plan_graph_destroy(g);
}

/* The bundled BranchyNet AlexNet with seed 001's devices: five exits, and the choice equals
** brute force over (exit, placement) at several bandwidths and deadlines. */
static void test_bundled(void **state)
{
    (void)state;
    char err[512];
    plan_graph *g = NULL;
    cleave_predictor *pe = NULL, *px = NULL;
    if (plan_text_load(&g, CLEAVE_SRC_DIR "/data/models/branchy_alexnet.txt", err, sizeof err))
        fail_msg("%s", err);
    if (cleave_predictor_open_formulas(&pe, CLEAVE_SRC_DIR "/data/devices/edgent-rpi3.device", err,
                                       sizeof err) ||
        cleave_predictor_open_formulas(&px, CLEAVE_SRC_DIR "/data/devices/edgent-desktop.device",
                                       err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(g->nexits, 5);
    double te[64], tx[64];
    assert_true(g->nnodes <= 64);
    for (int v = 0; v < g->nnodes; v++) {
        cleave_prediction r;
        te[v] = tx[v] = 0;
        if (g->nodes[v].flags & PLAN_NODE_ZERO_COST)
            continue;
        assert_int_equal(cleave_predict(pe, &g->nodes[v].layer, NULL, &r), CLEAVE_OK);
        te[v] = r.latency_us;
        assert_int_equal(cleave_predict(px, &g->nodes[v].layer, NULL, &r), CLEAVE_OK);
        tx[v] = r.latency_us;
    }
    oracle o;
    memset(&o, 0, sizeof o);
    plan_edgent *e = NULL;
    assert_int_equal(plan_edgent_create(&e, g, err, sizeof err), CLEAVE_OK);
    o.nex = e->nexits;
    /* the oracle's exits from the file's structure: main path up to 'from' + the layers */
    for (int i = 0; i < o.nex; i++) {
        const plan_exit *x = &g->exits[i];
        oexit *ox = &o.ex[i];
        ox->acc = x->accuracy;
        for (int k = 0; k < g->nnodes; k++) {
            int v = g->order[k], branch = 0;
            for (int j = 0; j < g->nexits; j++)
                for (int l = 0; l < g->exits[j].nlayers; l++)
                    branch |= g->exits[j].layers[l] == v;
            int take = branch ? 0 : x->from < 0 || g->rank_of[v] <= g->rank_of[x->from];
            for (int l = 0; l < x->nlayers; l++)
                take |= x->layers[l] == v;
            if (take)
                ox->nodes[ox->n++] = v;
        }
        ox->result = x->from < 0 ? plan_graph_find_tensor(g, "fc8") : x->output;
        assert_true(ox->n <= 24);
    }
    static const double bws[] = {0.5, 1.2, 20}; /* the middle one with loading costs */
    plan_loading le, lx;
    double y0, y1;
    assert_int_equal(cleave_predict_loading(pe, 0, &y0), CLEAVE_OK);
    assert_int_equal(cleave_predict_loading(pe, 1e6, &y1), CLEAVE_OK);
    le = (plan_loading){y0, (y1 - y0) / 1e6};
    assert_true(fabs(y0 - 842136.0) < 1e-6); /* Table 2: 842.136 ms */
    assert_int_equal(cleave_predict_loading(px, 0, &y0), CLEAVE_OK);
    assert_int_equal(cleave_predict_loading(px, 1e6, &y1), CLEAVE_OK);
    lx = (plan_loading){y0, (y1 - y0) / 1e6};
    for (size_t i = 0; i < sizeof bws / sizeof bws[0]; i++) {
        double best[8];
        int loading = i == 1;
        o.up = o.down = bws[i];
        o.le = loading ? &le : NULL;
        o.lx = loading ? &lx : NULL;
        oracle_best(g, &o, te, tx, best);
        for (double d = 5000; d < 3e6; d *= 2.1)
            check_against(g, e, &o, te, tx, best, d);
    }
    plan_edgent_destroy(e);
    plan_graph_destroy(g);
    cleave_predictor_close(pe);
    cleave_predictor_close(px);
}

/* Formula devices through the public API: values, errors naming the line and the feature. */
static cleave_status open_text(cleave_predictor **p, const char *text, char *err, size_t errlen)
{
    char path[] = "/tmp/cleave-formula-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    char msg[512];
    cleave_status rc = cleave_predictor_open_formulas(p, path, msg, sizeof msg);
    /* drop the "'PATH': " prefix so that messages compare */
    const char *m = strncmp(msg, "'", 1) == 0 && strstr(msg, "': ") ? strstr(msg, "': ") + 3 : msg;
    snprintf(err, errlen, "%s", rc == CLEAVE_OK ? "" : m);
    remove(path);
    return rc;
}

static void test_formulas(void **state)
{
    (void)state;
    char err[512];
    cleave_predictor *p = NULL;
    cleave_prediction r;
    cleave_layer l;
    assert_int_equal(open_text(&p,
                               "# test\ndevice t\nunit us\n"
                               "fc = 2 * in_elems + -(3 - out_elems) / 2 # comment\n"
                               "act = (x1 + 1) * (1 + 1)\nloading = 1e-3 * model_bytes + 7\n",
                               err, sizeof err),
                     CLEAVE_OK);
    assert_string_equal(cleave_predictor_device(p), "t");
    assert_int_equal(cleave_layer_parse(&l, "fc c=10 k=5", err, sizeof err), CLEAVE_OK);
    assert_int_equal(cleave_predict(p, &l, NULL, &r), CLEAVE_OK);
    assert_true(fabs(r.latency_us - (2 * 10 - (3 - 5) / 2.0)) < 1e-12); /* 21 us */
    assert_string_equal(r.family, "formula");
    assert_int_equal(cleave_layer_parse(&l, "relu c=4", err, sizeof err), CLEAVE_OK);
    assert_int_equal(cleave_predict(p, &l, NULL, &r), CLEAVE_OK);
    assert_true(r.latency_us == 10.0);
    assert_int_equal(cleave_layer_parse(&l, "add c=4", err, sizeof err), CLEAVE_OK);
    assert_int_equal(cleave_predict(p, &l, NULL, &r), CLEAVE_ENOMODEL);
    assert_string_equal(cleave_predictor_errmsg(p),
                        "no formula for layer type 'add' in device 't'");
    cleave_model_info mi;
    assert_int_equal(cleave_predictor_model(p, CLEAVE_LAYER_FC, 0, &mi), CLEAVE_OK);
    assert_string_equal(mi.family, "formula");
    assert_int_equal(mi.nfeatures, 2);
    double y;
    assert_int_equal(cleave_predict_loading(p, 1000, &y), CLEAVE_OK);
    assert_true(fabs(y - 8.0) < 1e-12);
    assert_int_equal(cleave_predict_loading(p, -1, &y), CLEAVE_EINVAL);
    cleave_predictor_close(p);

    assert_int_equal(open_text(&p, "device d\nunit ms\nconv = 1\n", err, sizeof err), CLEAVE_OK);
    assert_int_equal(cleave_predict_loading(p, 1, &y), CLEAVE_ENOMODEL);
    assert_string_equal(cleave_predictor_errmsg(p), "device 'd' has no model-loading formula");
    cleave_predictor_close(p);

    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"device d\nunit ms\nconv = 6e-3 * x3 + 1\n",
         "line 3: formula for 'conv' names unknown feature 'x3'"},
        {"device d\nunit ms\nloading = 2 * x1\n",
         "line 3: the loading formula reads only model_bytes, not 'x1'"},
        {"device d\nunit ms\nfc = model_bytes\n",
         "line 3: formula for 'fc' names unknown feature 'model_bytes'"},
        {"device d\nunit ms\nconvv = 1\n", "line 3: unknown layer type 'convv'"},
        {"device d\nunit ms\nconv = 1\nconv = 2\n", "line 4: 'conv' is given twice"},
        {"device d\nunit ms\nconv = (1 + 2\n",
         "line 3: formula for 'conv': expected ')' at 'end of line'"},
        {"device d\nunit ms\nconv = 1 +\n",
         "line 3: formula for 'conv': expected a number, a feature or '(' at 'end of line'"},
        {"device d\nunit ms\nconv = 1 2\n", "line 3: formula for 'conv': unexpected '2'"},
        {"device d\nunit s\n", "line 2: unit 's' is neither 'ms' nor 'us'"},
        {"unit ms\nconv = 1\n", "no 'device NAME' line"},
        {"device d\nconv = 1\n", "no 'unit ms' or 'unit us' line"},
        {"device d\nunit ms\n", "no formula"},
        {"device d\nunit ms\nconv 1\n",
         "line 3: expected 'TYPE = FORMULA', 'loading = FORMULA', 'device NAME' or 'unit ms|us'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = (cleave_predictor *)1;
        assert_int_equal(open_text(&p, bad[i].text, err, sizeof err), CLEAVE_EPARSE);
        assert_null(p);
        assert_string_equal(err, bad[i].msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_exits),      cmocka_unit_test(test_text_exit_errors),
        cmocka_unit_test(test_choose),          cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_random_vs_brute), cmocka_unit_test(test_monotone),
        cmocka_unit_test(test_bundled),         cmocka_unit_test(test_formulas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
