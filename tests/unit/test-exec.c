/* tests/unit/test-exec.c - the backends' write op and the executor: a whole graph recomputed
** with the naive reference kernels, run-to-run determinism, the node kinds, the errors. */
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
#include "planner/graph.h"
#include "profiler/backend.h"
#include "ref/ref.h"
#include "runtime/exec.h"

static plan_graph *load_text(const char *text)
{
    plan_graph *g = NULL;
    char err[512] = "";
    cleave_status rc = plan_text_read(&g, text, strlen(text), err, sizeof err);
    if (rc != CLEAVE_OK)
        fail_msg("graph: %s", err);
    return g;
}

/* write() then read() of the same input returns exactly what was written, whatever layout the
** kernel keeps it in (nhwc, blocked "any", plain, recurrent), and the kernel then computes on
** it: its output equals the reference on the written input. */
static void test_write_round_trip(void **state)
{
    (void)state;
    static const char *const specs[] = {"conv n=1 c=8 h=9 w=9 k=16 kernel=3 pad=1",
                                        "concat n=1 h=5 w=4 c=3,5,8",
                                        "softmax n=2 c=7 h=3 w=2 axis=1",
                                        "lstm t=3 n=2 c=5 k=4",
                                        "transpose n=2 c=3 h=4 w=5 perm=0,2,3,1",
                                        "add n=1 c=16 h=4 w=4",
                                        "relu n=1 c=16 h=5 w=5"};
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        cleave_layer l;
        ref_sizes sz;
        char err[256];
        prof_kernel *k = NULL;
        assert_int_equal(cleave_layer_parse(&l, specs[s], err, sizeof err), CLEAVE_OK);
        assert_int_equal(prof_kernel_prepare(&k, &l, 2, 11, err, sizeof err), CLEAVE_OK);
        assert_int_equal(ref_sizes_init(&sz, &l), 0);
        float *in[CLEAVE_MAX_INPUTS] = {0};
        uint64_t st = 99 + s;
        for (int i = 0; i < sz.ninputs; i++) {
            in[i] = malloc((size_t)sz.src[i] * sizeof(float));
            float *back = malloc((size_t)sz.src[i] * sizeof(float));
            assert_non_null(in[i]);
            assert_non_null(back);
            cl_rng_fill(in[i], (size_t)sz.src[i], &st, -3.0f, 3.0f);
            assert_int_equal(
                prof_kernel_write(k, PROF_SRC, i, in[i], (size_t)sz.src[i], err, sizeof err),
                CLEAVE_OK);
            assert_int_equal(prof_kernel_read(k, PROF_SRC, i, back, (size_t)sz.src[i]), CLEAVE_OK);
            if (memcmp(back, in[i], (size_t)sz.src[i] * sizeof(float)) != 0)
                fail_msg("[%s] input %d does not read back as written", specs[s], i);
            free(back);
        }
        /* Reference output from the written inputs and the kernel's own weights. */
        float *w = NULL, *wi = NULL, *b = NULL;
        ref_params p = {0};
        if (sz.weights) {
            w = malloc((size_t)sz.weights * sizeof *w);
            assert_int_equal(prof_kernel_read(k, PROF_WEIGHTS, 0, w, (size_t)sz.weights),
                             CLEAVE_OK);
            p.weights = w;
        }
        if (sz.weights_iter) {
            wi = malloc((size_t)sz.weights_iter * sizeof *wi);
            assert_int_equal(prof_kernel_read(k, PROF_WEIGHTS_ITER, 0, wi, (size_t)sz.weights_iter),
                             CLEAVE_OK);
            p.weights_iter = wi;
        }
        if (sz.bias) {
            b = malloc((size_t)sz.bias * sizeof *b);
            assert_int_equal(prof_kernel_read(k, PROF_BIAS, 0, b, (size_t)sz.bias), CLEAVE_OK);
            p.bias = b;
        }
        float *want = malloc((size_t)sz.dst * sizeof *want), *got = malloc((size_t)sz.dst * 4);
        assert_int_equal(ref_forward(&l, (const float *const *)in, &p, want), 0);
        assert_int_equal(prof_kernel_run(k), CLEAVE_OK);
        assert_int_equal(prof_kernel_read(k, PROF_DST, 0, got, (size_t)sz.dst), CLEAVE_OK);
        for (int64_t i = 0; i < sz.dst; i++)
            if (fabsf(got[i] - want[i]) > 1e-4f * (1.0f + fabsf(want[i])))
                fail_msg("[%s] output[%lld] = %g, reference %g", specs[s], (long long)i,
                         (double)got[i], (double)want[i]);
        for (int i = 0; i < sz.ninputs; i++)
            free(in[i]);
        free(w);
        free(wi);
        free(b);
        free(want);
        free(got);
        prof_kernel_release(k);
    }
}

static void test_write_errors(void **state)
{
    (void)state;
    cleave_layer l;
    char err[256];
    prof_kernel *k = NULL;
    float buf[64] = {0};
    assert_int_equal(cleave_layer_parse(&l, "add n=1 c=2 h=2 w=2", err, sizeof err), CLEAVE_OK);
    assert_int_equal(prof_kernel_prepare(&k, &l, 1, 1, err, sizeof err), CLEAVE_OK);
    assert_int_equal(prof_kernel_write(k, PROF_SRC, 2, buf, 8, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "layer 'add' has no input tensor 2");
    assert_int_equal(prof_kernel_write(k, PROF_WEIGHTS, 0, buf, 8, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "layer 'add' has no input tensor 0");
    assert_int_equal(prof_kernel_write(k, PROF_SRC, 1, buf, 7, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "tensor has 8 elements, not 7");
    prof_kernel_release(k);
    assert_int_equal(
        cleave_layer_parse(&l, "slice n=1 c=4 h=2 w=2 axis=1 start=1 end=3", err, sizeof err),
        CLEAVE_OK);
    assert_int_equal(prof_kernel_prepare(&k, &l, 1, 1, err, sizeof err), CLEAVE_OK);
    assert_int_equal(prof_kernel_write(k, PROF_SRC, 1, buf, 16, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "layer 'slice' has no input tensor 1");
    assert_int_equal(prof_kernel_write(k, PROF_SRC, 0, buf, 15, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "tensor has 16 elements, not 15");
    prof_kernel_release(k);
    assert_int_equal(cleave_layer_parse(&l, "gru t=2 n=1 c=3 k=2", err, sizeof err), CLEAVE_OK);
    assert_int_equal(prof_kernel_prepare(&k, &l, 1, 1, err, sizeof err), CLEAVE_OK);
    assert_int_equal(prof_kernel_write(k, PROF_SRC, 1, buf, 6, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "layer 'gru' has no input tensor 1");
    prof_kernel_release(k);
}

/* Layout keys: an nhwc output and the nhwc input of the next eltwise match (same bytes); other
** dims, or a plain buffer against a oneDNN one, do not; recurrent kernels offer no buffer. */
static void test_native_keys(void **state)
{
    (void)state;
    static const char *const specs[] = {"relu n=1 c=8 h=4 w=4",    "sigmoid n=1 c=8 h=4 w=4",
                                        "relu n=1 c=8 h=5 w=4",    "dropout n=1 c=8 h=4 w=4",
                                        "dropout n=1 c=8 h=4 w=4", "gru t=2 n=1 c=3 k=2"};
    prof_kernel *k[6];
    char err[256];
    void *p[6][2];
    size_t b[6][2];
    uint64_t key[6][2];
    for (int i = 0; i < 6; i++) {
        cleave_layer l;
        assert_int_equal(cleave_layer_parse(&l, specs[i], err, sizeof err), CLEAVE_OK);
        assert_int_equal(prof_kernel_prepare(&k[i], &l, 1, 3, err, sizeof err), CLEAVE_OK);
        if (i == 5) {
            assert_int_equal(prof_kernel_native(k[i], PROF_SRC, 0, &p[i][0], &b[i][0], &key[i][0]),
                             -1);
            continue;
        }
        assert_int_equal(prof_kernel_native(k[i], PROF_SRC, 0, &p[i][0], &b[i][0], &key[i][0]), 0);
        assert_int_equal(prof_kernel_native(k[i], PROF_DST, 0, &p[i][1], &b[i][1], &key[i][1]), 0);
        assert_int_equal(prof_kernel_native(k[i], PROF_SRC, 1, &p[i][0], &b[i][0], &key[i][0]), -1);
    }
    assert_true(key[0][1] == key[1][0] && b[0][1] == b[1][0] && b[0][1] == 8 * 16 * 4);
    assert_true(key[0][1] != key[2][0]);
    assert_true(key[3][1] == key[4][0] && key[3][0] == key[3][1]);
    assert_true(key[0][1] != key[4][0]);
    /* Bytes copied from one kernel's output into the next one's input are what it computes on. */
    float in[128], out[128];
    for (int i = 0; i < 128; i++)
        in[i] = (float)(i - 64) / 16.0f;
    assert_int_equal(prof_kernel_write(k[0], PROF_SRC, 0, in, 128, err, sizeof err), CLEAVE_OK);
    assert_int_equal(prof_kernel_run(k[0]), CLEAVE_OK);
    memcpy(p[1][0], p[0][1], b[0][1]);
    assert_int_equal(prof_kernel_run(k[1]), CLEAVE_OK);
    assert_int_equal(prof_kernel_read(k[1], PROF_DST, 0, out, 128), CLEAVE_OK);
    for (int i = 0; i < 128; i++) {
        double r = in[i] > 0 ? in[i] : 0.0;
        assert_true(fabs(out[i] - 1.0 / (1.0 + exp(-r))) < 1e-6);
    }
    for (int i = 0; i < 6; i++)
        prof_kernel_release(k[i]);
}

/* A graph with every node kind the zoo has: conv with fused bias, relu, pooling, concat of
** branches, a broadcast mul (squeeze-and-excitation), add, flatten (zero-cost), fc, softmax,
** plus an lstm whose output is its last hidden state. */
static const char branchy[] = "input x 1x6x10x10\n"
                              "input s 4x1x5\n"
                              "node a conv k=8 kernel=1 <- x\n"
                              "node b conv k=4 kernel=3 pad=1 <- x\n"
                              "node c maxpool kernel=3 stride=1 pad=1 <- x\n"
                              "node cat concat <- a b c\n"
                              "node g gpool <- cat\n"
                              "node gate sigmoid <- g\n"
                              "node se mul <- cat gate\n"
                              "node r relu <- se\n"
                              "node sum add <- r cat\n"
                              "node p avgpool kernel=2 stride=2 <- sum\n"
                              "node f flatten <- p\n"
                              "node fc fc k=10 <- f\n"
                              "node sm softmax <- fc\n"
                              "node l lstm k=3 dirs=2 to=2x1x3 <- s\n"
                              "output sm l\n";

/* Recompute G with the reference kernels, from the executor's inputs and its kernels'
** parameters; return the buffer of every tensor (caller frees). */
static float **reference_run(const plan_graph *g, rt_exec *x)
{
    float **t = calloc((size_t)g->ntensors, sizeof *t);
    assert_non_null(t);
    for (int i = 0; i < g->ninputs; i++) {
        size_t n;
        const float *in = rt_exec_tensor(x, g->inputs[i], &n);
        t[g->inputs[i]] = malloc(n * sizeof(float));
        memcpy(t[g->inputs[i]], in, n * sizeof(float));
    }
    for (int o = 0; o < g->nnodes; o++) {
        const plan_node *n = &g->nodes[g->order[o]];
        const cleave_shape *os = &g->tensors[n->output].shape;
        size_t out_elems = (size_t)(os->d[0] * os->d[1] * os->d[2] * os->d[3]);
        float *out = malloc(out_elems * sizeof(float));
        assert_non_null(out);
        t[n->output] = out;
        if (n->flags & PLAN_NODE_ZERO_COST) {
            memcpy(out, t[n->inputs[0]], out_elems * sizeof(float));
            continue;
        }
        prof_kernel *k = rt_exec_kernel(x, g->order[o]);
        assert_non_null(k);
        ref_sizes sz;
        assert_int_equal(ref_sizes_init(&sz, &n->layer), 0);
        const float *src[CLEAVE_MAX_INPUTS];
        float *bcast = NULL;
        for (int i = 0; i < n->ninputs; i++) {
            const cleave_shape *is = &g->tensors[n->inputs[i]].shape;
            src[i] = t[n->inputs[i]];
            if ((int64_t)(is->d[0] * is->d[1] * is->d[2] * is->d[3]) != sz.src[i]) {
                /* The gate of the mul: 1xCx1x1 repeated over the plane. */
                int64_t plane = n->layer.h * n->layer.w;
                bcast = malloc((size_t)sz.src[i] * sizeof(float));
                for (int64_t j = 0; j < sz.src[i]; j++)
                    bcast[j] = src[i][j / plane];
                src[i] = bcast;
            }
        }
        ref_params p = {0};
        float *w = NULL, *wi = NULL, *b = NULL;
        if (sz.weights) {
            w = malloc((size_t)sz.weights * sizeof *w);
            assert_int_equal(prof_kernel_read(k, PROF_WEIGHTS, 0, w, (size_t)sz.weights),
                             CLEAVE_OK);
            p.weights = w;
        }
        if (sz.weights_iter) {
            wi = malloc((size_t)sz.weights_iter * sizeof *wi);
            assert_int_equal(prof_kernel_read(k, PROF_WEIGHTS_ITER, 0, wi, (size_t)sz.weights_iter),
                             CLEAVE_OK);
            p.weights_iter = wi;
        }
        if (sz.bias) {
            b = malloc((size_t)sz.bias * sizeof *b);
            assert_int_equal(prof_kernel_read(k, PROF_BIAS, 0, b, (size_t)sz.bias), CLEAVE_OK);
            p.bias = b;
        }
        float *full = malloc((size_t)sz.dst * sizeof(float));
        assert_int_equal(ref_forward(&n->layer, src, &p, full), 0);
        if ((size_t)sz.dst == out_elems) {
            memcpy(out, full, out_elems * sizeof(float));
        } else { /* lstm last hidden state, 2 directions, n = 1: forward t=T-1, backward t=0 */
            int64_t k3 = n->layer.k, T = n->layer.t;
            memcpy(out, full + (T - 1) * 2 * k3, (size_t)k3 * sizeof(float));
            memcpy(out + k3, full + k3, (size_t)k3 * sizeof(float));
        }
        free(full);
        free(bcast);
        free(w);
        free(wi);
        free(b);
    }
    return t;
}

/* The executor's outputs equal the reference recomputation of the whole graph. */
static void test_graph_matches_reference(void **state)
{
    (void)state;
    plan_graph *g = load_text(branchy);
    rt_exec *x = NULL;
    char err[512] = "";
    double us[32];
    assert_int_equal(rt_exec_create(&x, g, NULL, 2, 42, err, sizeof err), CLEAVE_OK);
    rt_exec_fill_inputs(x);
    assert_int_equal(rt_exec_run_all(x, us, err, sizeof err), CLEAVE_OK);
    assert_string_equal(rt_exec_impl(x, plan_graph_find_node(g, "f")), "copy");
    assert_true(us[plan_graph_find_node(g, "f")] == 0.0);
    float **ref = reference_run(g, x);
    for (int t = 0; t < g->ntensors; t++) {
        size_t n;
        const float *got = rt_exec_tensor(x, t, &n);
        for (size_t i = 0; i < n; i++)
            if (fabsf(got[i] - ref[t][i]) > 1e-4f * (1.0f + fabsf(ref[t][i])))
                fail_msg("tensor '%s'[%zu] = %g, reference %g", g->tensors[t].name, i,
                         (double)got[i], (double)ref[t][i]);
    }
    /* The softmax output is a distribution: a cheap sanity check the reference agrees on. */
    size_t n;
    const float *sm = rt_exec_tensor(x, g->outputs[0], &n);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += sm[i];
    assert_true(fabs(sum - 1.0) < 1e-5);
    for (int t = 0; t < g->ntensors; t++)
        free(ref[t]);
    free(ref);
    rt_exec_destroy(x);
    plan_graph_destroy(g);
}

/* Two executors with the same seed give bit-identical outputs; a split into two executors
** (each running half the nodes, tensors handed over by copy) gives the same bits again; another
** seed gives other outputs. */
static void test_determinism_and_split(void **state)
{
    (void)state;
    plan_graph *g = load_text(branchy);
    char err[512] = "";
    rt_exec *a = NULL, *b = NULL, *c = NULL, *e1 = NULL, *e2 = NULL;
    assert_int_equal(rt_exec_create(&a, g, NULL, 2, 7, err, sizeof err), CLEAVE_OK);
    assert_int_equal(rt_exec_create(&b, g, NULL, 2, 7, err, sizeof err), CLEAVE_OK);
    assert_int_equal(rt_exec_create(&c, g, NULL, 2, 8, err, sizeof err), CLEAVE_OK);
    unsigned char *half = calloc((size_t)g->nnodes, 1), *other = calloc((size_t)g->nnodes, 1);
    for (int i = 0; i < g->nnodes; i++) {
        half[i] = i % 2;
        other[i] = !half[i];
    }
    assert_int_equal(rt_exec_create(&e1, g, half, 2, 7, err, sizeof err), CLEAVE_OK);
    assert_int_equal(rt_exec_create(&e2, g, other, 2, 7, err, sizeof err), CLEAVE_OK);
    rt_exec *all[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        rt_exec_fill_inputs(all[i]);
        assert_int_equal(rt_exec_run_all(all[i], NULL, err, sizeof err), CLEAVE_OK);
        /* Running again over the same inputs gives the same bits (no state kept). */
        assert_int_equal(rt_exec_run_all(all[i], NULL, err, sizeof err), CLEAVE_OK);
    }
    /* The split: walk the order, each node on its own executor, and hand its output to the
    ** other one (inputs are filled identically on both). */
    rt_exec_fill_inputs(e1);
    rt_exec_fill_inputs(e2);
    for (int o = 0; o < g->nnodes; o++) {
        int id = g->order[o];
        rt_exec *mine = half[id] ? e1 : e2, *peer = half[id] ? e2 : e1;
        int out = g->nodes[id].output;
        size_t cnt;
        assert_int_equal(rt_exec_run_node(mine, id, NULL, err, sizeof err), CLEAVE_OK);
        assert_int_equal(rt_exec_run_node(peer, id, NULL, err, sizeof err), CLEAVE_EINVAL);
        float *to = rt_exec_tensor(peer, out, &cnt);
        memcpy(to, rt_exec_tensor(mine, out, NULL), cnt * sizeof(float));
    }
    for (int k = 0; k < g->noutputs; k++) {
        int t = g->outputs[k];
        size_t n;
        const float *pa = rt_exec_tensor(a, t, &n);
        assert_memory_equal(pa, rt_exec_tensor(b, t, NULL), n * sizeof(float));
        assert_memory_equal(pa, rt_exec_tensor(e1, t, NULL), n * sizeof(float));
        assert_memory_not_equal(pa, rt_exec_tensor(c, t, NULL), n * sizeof(float));
    }
    free(half);
    free(other);
    rt_exec_destroy(a);
    rt_exec_destroy(b);
    rt_exec_destroy(c);
    rt_exec_destroy(e1);
    rt_exec_destroy(e2);
    plan_graph_destroy(g);
}

/* Unknown-op stand-ins pass their input through when the sizes agree; a node of another process
** cannot be run; bad arguments are refused with their messages. */
static void test_kinds_and_errors(void **state)
{
    (void)state;
    plan_graph *g = load_text("input x 1x4x3x3\n"
                              "node u dropout op=Erf unknown=1 <- x\n"
                              "node r relu <- u\n"
                              "output r\n");
    char err[512] = "";
    rt_exec *x = NULL;
    assert_int_equal(rt_exec_create(&x, g, NULL, 0, 1, err, sizeof err), CLEAVE_EINVAL);
    assert_null(x);
    assert_string_equal(err, "thread count must be positive, got 0");
    unsigned char local[2] = {0, 1};
    assert_int_equal(rt_exec_create(&x, g, local, 1, 1, err, sizeof err), CLEAVE_OK);
    assert_null(rt_exec_kernel(x, 0));
    assert_string_equal(rt_exec_impl(x, 0), "");
    assert_int_equal(rt_exec_run_node(x, 0, NULL, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "node 0 is not run by this process");
    rt_exec_destroy(x);
    assert_int_equal(rt_exec_create(&x, g, NULL, 1, 1, err, sizeof err), CLEAVE_OK);
    rt_exec_fill_inputs(x);
    assert_int_equal(rt_exec_run_all(x, NULL, err, sizeof err), CLEAVE_OK);
    size_t n;
    const float *in = rt_exec_tensor(x, g->inputs[0], &n);
    const float *out = rt_exec_tensor(x, g->outputs[0], NULL);
    for (size_t i = 0; i < n; i++)
        assert_true(out[i] == (in[i] > 0 ? in[i] : 0.0f));
    assert_null(rt_exec_tensor(x, 99, NULL));
    rt_exec_destroy(x);
    plan_graph_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_round_trip),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_native_keys),
        cmocka_unit_test(test_graph_matches_reference),
        cmocka_unit_test(test_determinism_and_split),
        cmocka_unit_test(test_kinds_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
