/*
** tests/unit/test-graph.c - the planner graph: building, topological order, validation messages,
** helpers (MACs, histogram, transfer time, plan_problem), and the text format (reading, errors
** naming the line, round trips of hand-written graphs and of the zoo).
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "planner/graph.h"

/* ---- building helpers ------------------------------------------------------------------------ */

/* Add tensor NAME with dims "1x3x8x8"; returns its id. */
static int T(plan_graph *g, const char *name, const char *dims)
{
    int64_t d[4];
    int rank = 0, id = -1;
    char buf[128], err[256];
    snprintf(buf, sizeof buf, "%s", dims);
    for (char *save = NULL, *tok = strtok_r(buf, "x", &save); tok; tok = strtok_r(NULL, "x", &save))
        d[rank++] = strtoll(tok, NULL, 10);
    if (plan_graph_add_tensor(g, name, d, rank, &id, err, sizeof err) != CLEAVE_OK)
        fail_msg("add_tensor: %s", err);
    return id;
}

static int IN(plan_graph *g, const char *name, const char *dims)
{
    char err[256];
    int id = T(g, name, dims);
    assert_int_equal(plan_graph_add_input(g, id, err, sizeof err), CLEAVE_OK);
    return id;
}

static void OUT(plan_graph *g, const char *name)
{
    char err[256];
    assert_int_equal(plan_graph_add_output(g, plan_graph_find_tensor(g, name), err, sizeof err),
                     CLEAVE_OK);
}

static cleave_layer L(const char *spec)
{
    cleave_layer l;
    char err[256];
    if (cleave_layer_parse(&l, spec, err, sizeof err) != CLEAVE_OK)
        fail_msg("layer '%s': %s", spec, err);
    return l;
}

/* Add node NAME running SPEC on the tensors named in INS (space-separated), writing OUTNAME. */
static int N(plan_graph *g, const char *name, const char *spec, const char *ins,
             const char *outname)
{
    int in[16], nin = 0, id = -1;
    char buf[256], err[256];
    snprintf(buf, sizeof buf, "%s", ins);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        in[nin] = plan_graph_find_tensor(g, tok);
        assert_true(in[nin] >= 0);
        nin++;
    }
    cleave_layer l = L(spec);
    if (plan_graph_add_node(g, name, NULL, &l, in, nin, plan_graph_find_tensor(g, outname), 0, &id,
                            err, sizeof err) != CLEAVE_OK)
        fail_msg("add_node: %s", err);
    return id;
}

static plan_graph *new_graph(void)
{
    plan_graph *g = NULL;
    assert_int_equal(plan_graph_create(&g, "t"), CLEAVE_OK);
    return g;
}

static void expect_finish(plan_graph *g, cleave_status rc, const char *msg)
{
    char err[512] = "";
    assert_int_equal(plan_graph_finish(g, err, sizeof err), rc);
    assert_string_equal(err, msg);
    plan_graph_destroy(g);
}

/* x -> a -> b, a -> c, d = b + c; nodes added in reverse so ids run against the order. */
static plan_graph *diamond(void)
{
    char err[256];
    plan_graph *g = new_graph();
    IN(g, "x", "1x4x8x8");
    T(g, "ya", "1x4x8x8");
    T(g, "yb", "1x4x8x8");
    T(g, "yc", "1x4x8x8");
    T(g, "yd", "1x4x8x8");
    N(g, "d", "add n=1 c=4 h=8 w=8", "yb yc", "yd");
    N(g, "c", "relu n=1 c=4 h=8 w=8", "ya", "yc");
    N(g, "b", "sigmoid n=1 c=4 h=8 w=8", "ya", "yb");
    N(g, "a", "conv n=1 c=4 h=8 w=8 k=4 kernel=3 pad=1", "x", "ya");
    OUT(g, "yd");
    assert_int_equal(plan_graph_finish(g, err, sizeof err), CLEAVE_OK);
    return g;
}

/* ---- building and order -------------------------------------------------------------------------
 */

static void test_order(void **state)
{
    (void)state;
    plan_graph *g = diamond();
    /* Kahn with the smallest ready id first: a(3); then c(1) before b(2); then d(0). */
    int want[4] = {3, 1, 2, 0};
    for (int k = 0; k < 4; k++) {
        assert_int_equal(g->order[k], want[k]);
        assert_int_equal(g->rank_of[want[k]], k);
    }
    const plan_tensor *ya = &g->tensors[plan_graph_find_tensor(g, "ya")];
    assert_int_equal(ya->nconsumers, 2);
    assert_int_equal(ya->consumers[0], 1);
    assert_int_equal(ya->consumers[1], 2);
    assert_int_equal(ya->producer, 3);
    assert_int_equal(ya->bytes, 4 * 256);
    assert_int_equal(g->tensors[plan_graph_find_tensor(g, "x")].producer, -1);
    assert_true(g->tensors[plan_graph_find_tensor(g, "yd")].is_output);
    const plan_node *d = &g->nodes[0];
    assert_int_equal(d->in_bytes, 2 * 4 * 256);
    assert_int_equal(d->out_bytes, 4 * 256);
    assert_string_equal(d->op, "add"); /* no op given: the type name */
    plan_graph_destroy(g);

    /* A chain added in order keeps its order; Add(x, x) lists x's consumer once. */
    g = new_graph();
    char err[256];
    IN(g, "x", "1x8");
    T(g, "y", "1x8");
    T(g, "z", "1x8");
    N(g, "p", "add n=1 c=8", "x x", "y");
    N(g, "q", "relu n=1 c=8", "y", "z");
    OUT(g, "z");
    assert_int_equal(plan_graph_finish(g, err, sizeof err), CLEAVE_OK);
    assert_int_equal(g->order[0], 0);
    assert_int_equal(g->order[1], 1);
    assert_int_equal(g->tensors[0].nconsumers, 1);
    plan_graph_destroy(g);
}

static void test_build_errors(void **state)
{
    (void)state;
    char err[256];
    int64_t d[5] = {1, 2, 3, 4, 5};
    plan_graph *g = new_graph();
    int x = IN(g, "x", "1x4");
    int y = T(g, "y", "1x4");
    assert_int_equal(plan_graph_add_tensor(g, "x", d, 2, NULL, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "tensor 'x' is defined twice");
    assert_int_equal(plan_graph_add_tensor(g, "v", d, 5, NULL, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "tensor 'v' has rank 5; 1 to 4 dimensions are supported");
    assert_int_equal(plan_graph_add_input(g, x, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "input 'x' is declared twice");
    cleave_layer l = L("relu n=1 c=4");
    assert_int_equal(plan_graph_add_node(g, "a", NULL, &l, &x, 1, y, 0, NULL, err, sizeof err),
                     CLEAVE_OK);
    assert_int_equal(plan_graph_add_node(g, "b", NULL, &l, &x, 1, y, 0, NULL, err, sizeof err),
                     CLEAVE_EINVAL);
    assert_string_equal(err, "tensor 'y' is written by both 'a' and 'b'");
    assert_int_equal(plan_graph_add_node(g, "a", NULL, &l, &x, 1, y, 0, NULL, err, sizeof err),
                     CLEAVE_EINVAL);
    assert_string_equal(err, "node 'a' is defined twice");
    assert_int_equal(plan_graph_add_node(g, "c", NULL, &l, &y, 1, x, 0, NULL, err, sizeof err),
                     CLEAVE_EINVAL);
    assert_string_equal(err, "node 'c' writes the network input 'x'");
    assert_int_equal(plan_graph_add_input(g, y, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "tensor 'y' is written by node 'a' and cannot be a network input");
    assert_int_equal(plan_graph_add_output(g, 99, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "no tensor 99");
    plan_graph_destroy(g);
}

/* ---- validation messages
 * -------------------------------------------------------------------------- */

static void test_validation_structure(void **state)
{
    (void)state;
    plan_graph *g = new_graph();
    expect_finish(g, CLEAVE_EINVAL, "graph has no input");

    g = new_graph();
    IN(g, "x", "1x4");
    expect_finish(g, CLEAVE_EINVAL, "graph has no node");

    g = new_graph();
    IN(g, "x", "1x4");
    T(g, "y", "1x4");
    N(g, "r", "relu n=1 c=4", "x", "y");
    expect_finish(g, CLEAVE_EINVAL, "graph has no output");

    g = new_graph();
    IN(g, "x", "1x4");
    T(g, "ghost", "1x4");
    T(g, "y", "1x4");
    N(g, "r", "add n=1 c=4", "x ghost", "y");
    OUT(g, "y");
    expect_finish(g, CLEAVE_EINVAL,
                  "node 'r': input 'ghost' is neither a network input nor the output of a node");

    g = new_graph();
    IN(g, "x", "1x4");
    T(g, "y", "1x4");
    T(g, "lonely", "1x4");
    N(g, "r", "relu n=1 c=4", "x", "y");
    OUT(g, "y");
    OUT(g, "lonely");
    expect_finish(g, CLEAVE_EINVAL, "output 'lonely' is not produced by any node");

    /* pre -> a -> b -> c -> a is a cycle; post hangs off it and has the smallest unplaced id,
    ** but the message must name a node on the cycle. */
    g = new_graph();
    IN(g, "x", "1x4");
    T(g, "px", "1x4");
    T(g, "ya", "1x4");
    T(g, "yb", "1x4");
    T(g, "yc", "1x4");
    T(g, "out", "1x4");
    N(g, "pre", "relu n=1 c=4", "x", "px");
    N(g, "post", "relu n=1 c=4", "yb", "out");
    N(g, "a", "add n=1 c=4", "px yc", "ya");
    N(g, "b", "relu n=1 c=4", "ya", "yb");
    N(g, "c", "relu n=1 c=4", "yb", "yc");
    OUT(g, "out");
    expect_finish(g, CLEAVE_EINVAL, "graph has a cycle through node 'b'");

    g = new_graph(); /* a self-loop */
    IN(g, "x", "1x4");
    T(g, "y", "1x4");
    N(g, "s", "add n=1 c=4", "x y", "y");
    OUT(g, "y");
    expect_finish(g, CLEAVE_EINVAL, "graph has a cycle through node 's'");
}

static void test_validation_tensors(void **state)
{
    (void)state;
    plan_graph *g = new_graph();
    IN(g, "x", "1x0x4x4");
    T(g, "y", "1x4");
    N(g, "r", "relu n=1 c=4", "x", "y");
    OUT(g, "y");
    expect_finish(g, CLEAVE_EINVAL, "tensor 'x' has zero size (1x0x4x4)");

    g = new_graph();
    IN(g, "x", "1x-3x4x4");
    T(g, "y", "1x4");
    N(g, "r", "relu n=1 c=4", "x", "y");
    OUT(g, "y");
    expect_finish(g, CLEAVE_EINVAL, "tensor 'x' has a negative dimension (1x-3x4x4)");

    g = new_graph();
    IN(g, "x", "1x2199023255552");
    T(g, "y", "1x4");
    N(g, "r", "relu n=1 c=4", "x", "y");
    OUT(g, "y");
    expect_finish(g, CLEAVE_EINVAL, "tensor 'x' is too large (1x2199023255552)");

    g = new_graph(); /* each dimension fine, the product too large */
    IN(g, "x", "1048576x1048576x1048576x1");
    T(g, "y", "1x4");
    N(g, "r", "relu n=1 c=4", "x", "y");
    OUT(g, "y");
    expect_finish(g, CLEAVE_EINVAL, "tensor 'x' is too large (1048576x1048576x1048576x1)");
}

static void test_validation_nodes(void **state)
{
    (void)state;
    char err[256];
    plan_graph *g = new_graph();
    int x = IN(g, "x", "1x4x8x8");
    int y = T(g, "y", "1x8x8x8");
    cleave_layer l;
    cleave_layer_init(&l, CLEAVE_LAYER_CONV);
    l.c = 4;
    l.h = l.w = 8;
    l.k = 8;
    l.groups = 3;
    assert_int_equal(plan_graph_add_node(g, "c", NULL, &l, &x, 1, y, 0, NULL, err, sizeof err),
                     CLEAVE_OK);
    OUT(g, "y");
    expect_finish(g, CLEAVE_EINVAL, "node 'c': groups=3 must divide c=4 and k=8");

    g = new_graph();
    IN(g, "x", "1x4");
    T(g, "y", "1x4");
    N(g, "r", "relu n=1 c=4", "x x", "y");
    OUT(g, "y");
    expect_finish(g, CLEAVE_EINVAL, "node 'r': 'act' takes 1 input, got 2");

    g = new_graph();
    IN(g, "x", "1x4");
    T(g, "y", "1x4");
    N(g, "a", "add n=1 c=4", "x x x", "y");
    OUT(g, "y");
    expect_finish(g, CLEAVE_EINVAL, "node 'a': 'add' takes 1 or 2 inputs, got 3");

    g = new_graph();
    IN(g, "x", "1x4");
    T(g, "y", "1x12");
    N(g, "cat", "concat n=1 c=4,4,4", "x x", "y");
    OUT(g, "y");
    expect_finish(g, CLEAVE_EINVAL, "node 'cat': 'concat' takes 3 inputs, got 2");

    g = new_graph();
    IN(g, "c1", "1x64x56x56");
    T(g, "c2", "1x64x56x56");
    N(g, "c2", "conv n=1 c=32 h=56 w=56 k=64 kernel=3 pad=1", "c1", "c2");
    OUT(g, "c2");
    expect_finish(g, CLEAVE_EINVAL,
                  "node 'c2': input 'c1' has shape 1x64x56x56, the layer expects 1x32x56x56");

    g = new_graph();
    IN(g, "c1", "1x64x56x56");
    T(g, "y", "1x64x56x56");
    N(g, "c2", "conv n=1 c=64 h=56 w=56 k=64 kernel=3 pad=1 stride=2", "c1", "y");
    OUT(g, "y");
    expect_finish(g, CLEAVE_EINVAL,
                  "node 'c2': output 'y' has shape 1x64x56x56, the layer gives 1x64x28x28");

    g = new_graph(); /* rank-2 tensor against a 4-D expectation prints the needed rank */
    IN(g, "x", "1x16");
    T(g, "y", "1x16x1x1");
    N(g, "p", "relu n=1 c=16 h=1 w=2", "x", "y");
    OUT(g, "y");
    expect_finish(g, CLEAVE_EINVAL,
                  "node 'p': input 'x' has shape 1x16x1x1, the layer expects "
                  "1x16x1x2");

    g = new_graph();
    IN(g, "x", "1x4x8x8");
    IN(g, "v", "1x3x1x1");
    T(g, "y", "1x4x8x8");
    N(g, "m", "mul n=1 c=4 h=8 w=8", "x v", "y");
    OUT(g, "y");
    expect_finish(g, CLEAVE_EINVAL,
                  "node 'm': input 'v' has shape 1x3x1x1, which does not broadcast to 1x4x8x8");

    /* Flexible checks: reshape and fc compare element counts, broadcasting is fine. */
    g = new_graph();
    IN(g, "x", "1x4x8x8");
    IN(g, "v", "1x4x1x1");
    T(g, "m", "1x4x8x8");
    T(g, "f", "1x256");
    T(g, "y", "1x10");
    N(g, "m", "mul n=1 c=4 h=8 w=8", "x v", "m");
    N(g, "f", "flatten n=1 c=4 h=8 w=8", "m", "f");
    N(g, "fc", "fc n=1 c=256 k=10", "f", "y");
    OUT(g, "y");
    assert_int_equal(plan_graph_finish(g, err, sizeof err), CLEAVE_OK);
    assert_true(g->nodes[1].flags & PLAN_NODE_ZERO_COST);
    plan_graph_destroy(g);
}

/* ---- helpers -----------------------------------------------------------------------------------
 */

static void test_helpers(void **state)
{
    (void)state;
    char err[256];
    plan_graph *g = new_graph();
    IN(g, "x", "1x3x8x8");
    T(g, "c", "1x4x8x8");
    T(g, "r", "1x4x8x8");
    T(g, "r2", "1x4x8x8");
    N(g, "conv", "conv n=1 c=3 h=8 w=8 k=4 kernel=3 pad=1", "x", "c");
    N(g, "relu", "relu n=1 c=4 h=8 w=8", "c", "r");
    N(g, "relu2", "relu n=1 c=4 h=8 w=8", "r", "r2");
    OUT(g, "r2");
    assert_int_equal(plan_graph_finish(g, err, sizeof err), CLEAVE_OK);
    /* conv: 256 outputs x 27 MACs each; relu: one operation per element (256 each). */
    assert_true(plan_graph_macs(g) == 256.0 * 27 + 256 + 256);
    plan_op_count h[4];
    assert_int_equal(plan_graph_op_histogram(g, h, 4), 2);
    assert_string_equal(h[0].op, "act"); /* built without an op name: the type name */
    assert_int_equal(h[0].count, 2);
    assert_string_equal(h[1].op, "conv");
    assert_int_equal(h[1].count, 1);
    assert_int_equal(plan_graph_op_histogram(g, h, 1), 2); /* truncated, still counted */
    assert_int_equal(plan_graph_count_flag(g, PLAN_NODE_CONST), 0);
    plan_graph_destroy(g);

    /* rtt/2 + bits / bandwidth: 1 MB at 8 Mbps is one second, plus 10 ms. */
    assert_true(fabs(plan_transfer_us(1000000, 8.0, 20.0) - 1010000.0) < 1e-6);
    assert_true(plan_transfer_us(0, 1.0, 0.0) == 0.0);
    assert_true(fabs(plan_transfer_us(1000, 4.6, 0.0) - 8000.0 / 4.6) < 1e-9);
    assert_true(isinf(plan_transfer_us(1, 0.0, 1.0)));
    assert_true(isinf(plan_transfer_us(1, NAN, 1.0)));
}

static void test_problem(void **state)
{
    (void)state;
    char err[256];
    plan_graph *g = diamond();
    /* graph node ids: d 0, c 1, b 2, a 3; order a c b d */
    double end_us[4] = {40, 30, 20, 10}, edge_us[4] = {4, 3, 2, 1};
    plan_problem_buf pb;
    assert_int_equal(plan_problem_build(&pb, g, end_us, edge_us, 8.0, 16.0, 10.0, err, sizeof err),
                     CLEAVE_OK);
    const plan_problem *p = &pb.p;
    assert_int_equal(p->n, 4);
    int want_node[4] = {3, 1, 2, 0};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pb.node_of[i], want_node[i]);
        assert_true(p->t_end[i] == end_us[want_node[i]]);
        assert_true(p->t_edge[i] == edge_us[want_node[i]]);
        assert_int_equal(pb.is_constant[i], 0);
    }
    int x = plan_graph_find_tensor(g, "x"), ya = plan_graph_find_tensor(g, "ya"),
        yd = plan_graph_find_tensor(g, "yd");
    assert_int_equal(p->ntensors, 5);
    assert_int_equal(p->producer[x], -1);
    assert_int_equal(p->producer[ya], 0); /* a is problem node 0 */
    assert_int_equal(p->cons_off[ya + 1] - p->cons_off[ya], 2);
    assert_int_equal(p->cons[p->cons_off[ya]], 1);     /* c */
    assert_int_equal(p->cons[p->cons_off[ya] + 1], 2); /* b */
    assert_int_equal(p->is_output[yd], 1);
    assert_int_equal(p->is_output[ya], 0);
    /* 1024 bytes up at 8 Mbps: 5000 + 1024 us; down at 16 Mbps: 5000 + 512 us. */
    assert_true(fabs(p->up_us[ya] - 6024.0) < 1e-9);
    assert_true(fabs(p->down_us[ya] - 5512.0) < 1e-9);

    /* The cost model on it (planner/problem.c): all local, and all on the edge. */
    unsigned char on_edge[4] = {0, 0, 0, 0};
    plan_result r;
    memset(&r, 0, sizeof r);
    r.on_edge = on_edge;
    plan_evaluate(p, on_edge, &r);
    assert_true(fabs(r.total_us - 100.0) < 1e-9);
    memset(on_edge, 1, 4);
    plan_evaluate(p, on_edge, &r);
    assert_true(fabs(r.total_us - (10.0 + 6024.0 + 5512.0)) < 1e-9);
    plan_problem_buf_release(&pb);

    assert_int_equal(plan_problem_build(&pb, g, end_us, edge_us, -1.0, 4.6, 0.0, err, sizeof err),
                     CLEAVE_EINVAL);
    assert_string_equal(err, "bandwidth must be a positive number of Mbps, got up -1 down 4.6");
    assert_int_equal(plan_problem_build(&pb, g, end_us, edge_us, 1.0, 1.0, -2.0, err, sizeof err),
                     CLEAVE_EINVAL);
    assert_string_equal(err, "round-trip time must be >= 0 ms, got -2");
    end_us[3] = NAN;
    assert_int_equal(plan_problem_build(&pb, g, end_us, edge_us, 1.0, 1.0, 0.0, err, sizeof err),
                     CLEAVE_EINVAL);
    assert_string_equal(err, "node 'a': time must be finite and >= 0, got end nan edge 1");
    plan_graph_destroy(g);

    g = new_graph();
    IN(g, "x", "1x4");
    end_us[0] = 1;
    assert_int_equal(plan_problem_build(&pb, g, end_us, edge_us, 1.0, 1.0, 0.0, err, sizeof err),
                     CLEAVE_EINVAL);
    assert_string_equal(err, "graph is not finished");
    plan_graph_destroy(g);
}

/* ---- the text format
 * ----------------------------------------------------------------------------- */

static plan_graph *read_text(const char *text)
{
    char err[512];
    plan_graph *g = NULL;
    if (plan_text_read(&g, text, strlen(text), err, sizeof err) != CLEAVE_OK)
        fail_msg("text: %s", err);
    return g;
}

static void text_fails(const char *text, cleave_status rc, const char *msg)
{
    char err[512] = "";
    plan_graph *g = (plan_graph *)1;
    cleave_status got = plan_text_read(&g, text, strlen(text), err, sizeof err);
    assert_null(g);
    assert_string_equal(err, msg);
    assert_int_equal(got, rc);
}

static const plan_tensor *tensor(const plan_graph *g, const char *name)
{
    int t = plan_graph_find_tensor(g, name);
    if (t < 0)
        fail_msg("no tensor '%s'", name);
    return &g->tensors[t];
}

static const plan_node *node(const plan_graph *g, const char *name)
{
    int v = plan_graph_find_node(g, name);
    if (v < 0)
        fail_msg("no node '%s'", name);
    return &g->nodes[v];
}

static void assert_dims(const plan_tensor *t, int rank, int64_t a, int64_t b, int64_t c, int64_t d)
{
    assert_int_equal(t->rank, rank);
    assert_int_equal(t->shape.d[0], a);
    assert_int_equal(t->shape.d[1], b);
    assert_int_equal(t->shape.d[2], c);
    assert_int_equal(t->shape.d[3], d);
}

static const char chain_text[] = "# a small chain\n"
                                 "graph tiny\n"
                                 "input x 1x3x32x32\n"
                                 "node c1 conv k=16 kernel=3 pad=1 <- x\n"
                                 "node r1 relu <- c1\n"
                                 "node p gpool <- r1\n"
                                 "node f flatten <- p\n"
                                 "node fc fc k=10 <- f   # logits\n"
                                 "node sm softmax <- fc\n"
                                 "output sm\n";

static const char branch_text[] =
    "input x 1x8x16x16\n"
    "input s 5x1x8\n"
    "node a conv k=8 kernel=1 <- x\n"
    "node b conv k=4 kernel=3 pad=1 <- x\n"
    "node c maxpool kernel=3 stride=1 pad=1 <- x\n"
    "node cat concat <- a b c\n"
    "node sum add <- cat cat\n"
    "node g gpool <- sum\n"
    "node gate sigmoid <- g\n"
    "node se mul <- sum gate\n"
    "node scale reshape n=1 c=20 h=1 w=1 op=Constant\n"
    "node sc mul <- se scale\n"
    "node warp dropout n=1 c=20 h=16 w=16 unknown=1 op=GridSample <- sc x\n"
    "node t transpose perm=0,2,3,1 <- warp\n"
    "node sl slice axis=1 start=2 end=10 <- t\n"
    "node r reshape to=1x2560 <- sl\n"
    "node l lstm k=16 dirs=2 <- s\n"
    "output r l\n";

static void test_text_read(void **state)
{
    (void)state;
    plan_graph *g = read_text(chain_text);
    assert_string_equal(g->name, "tiny");
    assert_int_equal(g->nnodes, 6);
    assert_dims(tensor(g, "c1"), 4, 1, 16, 32, 32);
    assert_dims(tensor(g, "p"), 4, 1, 16, 1, 1);
    assert_dims(tensor(g, "f"), 2, 1, 16, 1, 1);
    assert_dims(tensor(g, "fc"), 2, 1, 10, 1, 1);
    assert_string_equal(node(g, "r1")->op, "relu");
    assert_int_equal(node(g, "r1")->layer.type, CLEAVE_LAYER_ACT);
    assert_true(node(g, "f")->flags & PLAN_NODE_ZERO_COST);
    assert_int_equal(node(g, "fc")->layer.c, 16);
    assert_int_equal(node(g, "c1")->layer.c, 3);
    assert_true(tensor(g, "sm")->is_output);
    plan_graph_destroy(g);

    g = read_text(branch_text);
    const plan_node *cat = node(g, "cat");
    assert_int_equal(cat->layer.ninputs, 3);
    assert_true(cat->layer.cin[0] == 8 && cat->layer.cin[1] == 4 && cat->layer.cin[2] == 8);
    assert_dims(tensor(g, "cat"), 4, 1, 20, 16, 16);
    assert_int_equal(tensor(g, "cat")->nconsumers, 1);
    assert_int_equal(node(g, "se")->ninputs, 2);
    assert_true(node(g, "scale")->flags & PLAN_NODE_CONST);
    assert_int_equal(node(g, "scale")->ninputs, 0);
    const plan_node *warp = node(g, "warp");
    assert_true(warp->flags & PLAN_NODE_UNKNOWN);
    assert_string_equal(warp->op, "GridSample");
    assert_int_equal(warp->ninputs, 2);
    assert_dims(tensor(g, "t"), 4, 1, 16, 16, 20);
    assert_dims(tensor(g, "sl"), 4, 1, 8, 16, 20);
    assert_dims(tensor(g, "r"), 2, 1, 2560, 1, 1);
    const plan_node *l = node(g, "l");
    assert_true(l->layer.t == 5 && l->layer.n == 1 && l->layer.c == 8 && l->layer.k == 16);
    assert_dims(tensor(g, "l"), 3, 5, 1, 32, 1);
    assert_int_equal(plan_graph_count_flag(g, PLAN_NODE_UNKNOWN), 1);
    assert_int_equal(g->noutputs, 2);
    plan_graph_destroy(g);
}

static void test_text_errors(void **state)
{
    (void)state;
    text_fails("nod x\n", CLEAVE_EPARSE,
               "line 1: unknown directive 'nod' (graph, input, node, output, exit)");
    text_fails("input x 1x3x8x8\nnode c1 convv k=4 <- x\n", CLEAVE_EPARSE,
               "line 2: node 'c1': unknown layer type 'convv'");
    text_fails("input x 1x3x8x8\nnode c1 conv k=4 <- y\n", CLEAVE_EINVAL,
               "line 2: node 'c1': input 'y' is not defined");
    text_fails("input x 1x3x8x8\nnode c1 conv k=4 <- x\nnode x relu <- c1\n", CLEAVE_EINVAL,
               "line 3: 'x' is already defined");
    text_fails("input x 1x0x3\n", CLEAVE_EPARSE,
               "line 1: bad shape '1x0x3' (1 to 4 dimensions like 1x3x224x224, each 1 to 2^40)");
    text_fails("input x 1x3x3x3x3\n", CLEAVE_EPARSE,
               "line 1: bad shape '1x3x3x3x3' (1 to 4 dimensions like 1x3x224x224, each 1 to "
               "2^40)");
    text_fails("input x\n", CLEAVE_EPARSE,
               "line 1: expected 'input NAME SHAPE', e.g. 'input x 1x3x224x224'");
    text_fails("input x 1x3x8x8\nnode c conv k=4 foo=1 <- x\n", CLEAVE_EPARSE,
               "line 2: node 'c': unknown key 'foo' for layer type 'conv'");
    text_fails("input x 1x3x4x4\n\n# comment\nnode c conv k=4 kernel=5 <- x\n", CLEAVE_EINVAL,
               "line 4: node 'c': kernel 5x5 is larger than the padded input 4x4");
    text_fails("input x 1x3x4x4\nnode r relu to=1x48 <- x\n", CLEAVE_EPARSE,
               "line 2: node 'r': 'to' is only for reshape, flatten, fc, argmax and recurrent "
               "layers");
    text_fails("input x 1x3x4x4\nnode r relu <- x\noutput zz\n", CLEAVE_EINVAL,
               "line 3: output 'zz' is not defined");
    text_fails("input x 1x3x4x4\nnode r relu <-\n", CLEAVE_EPARSE,
               "line 2: node 'r': no input after '<-'");
    text_fails("input x 1x3x4x4\nnode r <- x\n", CLEAVE_EPARSE,
               "line 2: node 'r': the layer type is missing");
    text_fails("input x 1x3x4x4\nnode r relu kind <- x\n", CLEAVE_EPARSE,
               "line 2: node 'r': expected key=value, got 'kind'");
    text_fails("graph a\ngraph b\n", CLEAVE_EPARSE, "line 2: expected one 'graph NAME' line");
    text_fails("input x 1x8x16x16\nnode c maxpool kernel=3 stride=11111111111 <- x\n",
               CLEAVE_EINVAL, "line 2: node 'c': value of 'stride' is larger than 2147483648");
    text_fails("input x 1x3x4x4\nnode r relu <- x\n", CLEAVE_EINVAL, "graph has no output");
    text_fails("", CLEAVE_EINVAL, "graph has no input");
    text_fails("input x 1x3x4x4\nnode r reshape to=1x47 <- x\noutput r\n", CLEAVE_EINVAL,
               "node 'r': output 'r' has 47 elements, the layer gives 48");
    /* An explicit shape key overrides inference, and validation catches the mismatch. */
    text_fails("input x 1x3x8x8\nnode c conv k=4 c=5 <- x\noutput c\n", CLEAVE_EINVAL,
               "node 'c': input 'x' has shape 1x3x8x8, the layer expects 1x5x8x8");
    text_fails("input x 1x3x8x8\nnode c relu const=2 <- x\n", CLEAVE_EPARSE,
               "line 2: node 'c': 'const' must be 0 or 1");
    const char nul[] = "input x 1x3\0x\n";
    char err[256];
    plan_graph *g = NULL;
    assert_int_equal(plan_text_read(&g, nul, sizeof nul - 1, err, sizeof err), CLEAVE_EPARSE);
    assert_string_equal(err, "line 1: NUL byte");
    /* Long lines are fine (names have no length limit); too many words are not. */
    char *lng = malloc(30000);
    strcpy(lng, "input x 1x3\nnode ");
    size_t at = strlen(lng);
    memset(lng + at, 'a', 10000);
    strcpy(lng + at + 10000, " relu <- x\noutput ");
    at = strlen(lng);
    memset(lng + at, 'a', 10000);
    strcpy(lng + at + 10000, "\n");
    plan_graph *lg = read_text(lng);
    assert_int_equal(strlen(lg->nodes[0].name), 10000);
    plan_graph_destroy(lg);
    strcpy(lng, "input x 1x3\noutput");
    for (int i = 0; i < 64; i++)
        strcat(lng, " x");
    text_fails(lng, CLEAVE_EPARSE, "line 2: more than 64 words");
    free(lng);
}

static char *text_of(const plan_graph *g)
{
    char *buf = NULL, err[256];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    cleave_status rc = plan_text_write(g, f, err, sizeof err);
    fclose(f);
    if (rc != CLEAVE_OK)
        fail_msg("write: %s", err);
    return buf;
}

/* Same structure: names (tensors by name), ops, layers (canonical text), inputs, output shapes,
** flags, network inputs and outputs. */
static void assert_same_graph(const plan_graph *a, const plan_graph *b)
{
    char la[1024], lb[1024];
    assert_int_equal(a->nnodes, b->nnodes);
    assert_int_equal(a->ninputs, b->ninputs);
    assert_int_equal(a->noutputs, b->noutputs);
    assert_string_equal(a->name, b->name);
    for (int k = 0; k < a->nnodes; k++) {
        const plan_node *x = &a->nodes[a->order[k]], *y = &b->nodes[b->order[k]];
        assert_string_equal(a->tensors[x->output].name, b->tensors[y->output].name);
        assert_string_equal(x->op, y->op);
        cleave_layer_format(&x->layer, la, sizeof la);
        cleave_layer_format(&y->layer, lb, sizeof lb);
        assert_string_equal(la, lb);
        assert_int_equal(x->flags, y->flags);
        assert_int_equal(x->ninputs, y->ninputs);
        for (int i = 0; i < x->ninputs; i++)
            assert_string_equal(a->tensors[x->inputs[i]].name, b->tensors[y->inputs[i]].name);
        for (int d = 0; d < 4; d++)
            assert_int_equal(a->tensors[x->output].shape.d[d], b->tensors[y->output].shape.d[d]);
    }
    for (int i = 0; i < a->ninputs; i++) {
        const plan_tensor *x = &a->tensors[a->inputs[i]], *y = &b->tensors[b->inputs[i]];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->rank, y->rank);
        for (int d = 0; d < 4; d++)
            assert_int_equal(x->shape.d[d], y->shape.d[d]);
    }
    for (int i = 0; i < a->noutputs; i++)
        assert_string_equal(a->tensors[a->outputs[i]].name, b->tensors[b->outputs[i]].name);
}

static void round_trip(const plan_graph *g)
{
    char *t1 = text_of(g);
    plan_graph *g2 = read_text(t1);
    assert_same_graph(g, g2);
    char *t2 = text_of(g2);
    assert_string_equal(t1, t2);
    free(t1);
    free(t2);
    plan_graph_destroy(g2);
}

static void test_text_round_trip(void **state)
{
    (void)state;
    plan_graph *g = read_text(chain_text);
    char *t = text_of(g);
    assert_string_equal(t, "# cleave graph, text format (docs/graph-format.md)\n"
                           "graph tiny\n"
                           "input x 1x3x32x32\n"
                           "node c1 conv k=16 kernel=3 stride=1 pad=1 dilation=1 groups=1 bias=1 "
                           "act=none <- x\n"
                           "node r1 act kind=relu op=relu <- c1\n"
                           "node p pool kind=avg global=1 op=gpool <- r1\n"
                           "node f reshape to=1x16 op=flatten <- p\n"
                           "node fc fc k=10 bias=1 act=none <- f\n"
                           "node sm softmax axis=1 <- fc\n"
                           "output sm\n");
    free(t);
    round_trip(g);
    plan_graph_destroy(g);

    g = read_text(branch_text);
    round_trip(g);
    plan_graph_destroy(g);

    g = diamond(); /* built through the API, nodes out of order */
    round_trip(g);
    plan_graph_destroy(g);

    /* The zoo, through ONNX. */
    static const char *const zoo[] = {"alexnet",  "googlenet",     "mobilenet_v2", "resnet18",
                                      "resnet50", "squeezenet1_0", "vgg16"};
    for (size_t i = 0; i < sizeof zoo / sizeof zoo[0]; i++) {
        char path[512], err[512];
        snprintf(path, sizeof path, "%s/data/models/%s.onnx", CLEAVE_SRC_DIR, zoo[i]);
        if (plan_onnx_load(&g, path, 0, err, sizeof err) != CLEAVE_OK)
            fail_msg("%s", err);
        round_trip(g);
        plan_graph_destroy(g);
    }
}

static void test_load(void **state)
{
    (void)state;
    char path[512], err[512];
    plan_graph *g = NULL;
    snprintf(path, sizeof path, "%s/data/models/resnet18.onnx", CLEAVE_SRC_DIR);
    assert_int_equal(plan_graph_load(&g, path, 0, err, sizeof err), CLEAVE_OK);
    assert_int_equal(g->nnodes, 49);
    plan_graph_destroy(g);

    char tmp[] = "/tmp/cleave-graph-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(chain_text, f);
    fclose(f);
    assert_int_equal(plan_graph_load(&g, tmp, 0, err, sizeof err), CLEAVE_OK);
    assert_int_equal(g->nnodes, 6);
    plan_graph_destroy(g);

    f = fopen(tmp, "w");
    fputs("input x 1x3\nbogus\n", f);
    fclose(f);
    assert_int_equal(plan_graph_load(&g, tmp, 0, err, sizeof err), CLEAVE_EPARSE);
    char want[600];
    snprintf(want, sizeof want,
             "'%s': line 2: unknown directive 'bogus' (graph, input, node, output, exit)", tmp);
    assert_string_equal(err, want);
    assert_null(g);
    unlink(tmp);

    assert_int_equal(plan_text_load(&g, "/nonexistent/g.txt", err, sizeof err), CLEAVE_EIO);
    assert_string_equal(err, "cannot open '/nonexistent/g.txt': No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_validation_structure),
        cmocka_unit_test(test_validation_tensors),
        cmocka_unit_test(test_validation_nodes),
        cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_problem),
        cmocka_unit_test(test_text_read),
        cmocka_unit_test(test_text_errors),
        cmocka_unit_test(test_text_round_trip),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
