/* tests/unit/test-dnnl-rnn.c - the oneDNN recurrent backend: kernel head, tensor shapes and
** read-back, zero bias, threads and error paths (numerics are in test-backend.c). */
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

/* White-box: the kernel's error message lives in its private struct (read() has no error
** buffer), so the source is included to check the exact text; the library's dnnl_rnn.c object
** is then not linked in (every symbol it defines is already defined here). */
#include "profiler/dnnl_rnn.c"

#include "ref/ref.h"

#define TEST_SEED 99u

/* Parse SPEC and prepare it through the dispatcher with THREADS threads. */
static prof_kernel *prepare(const char *spec, int threads)
{
    cleave_layer l;
    char err[256] = "";
    prof_kernel *k = NULL;
    cleave_status st = cleave_layer_parse(&l, spec, err, sizeof err);
    if (st != CLEAVE_OK)
        fail_msg("[%s] parse failed: %s: %s", spec, cleave_status_name(st), err);
    st = prof_kernel_prepare(&k, &l, threads, TEST_SEED, err, sizeof err);
    if (st != CLEAVE_OK || !k)
        fail_msg("[%s] prepare failed: %s: %s", spec, cleave_status_name(st), err);
    return k;
}

/* Read tensor ROLE of K (N floats) into a new buffer; fails the test otherwise. */
static float *read_new(prof_kernel *k, prof_role role, size_t n)
{
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    cleave_status st = prof_kernel_read(k, role, 0, p, n);
    if (st != CLEAVE_OK)
        fail_msg("reading role %d (%zu floats) failed: %s: %s", (int)role, n,
                 cleave_status_name(st), ((rnn_kernel *)k)->errmsg);
    return p;
}

/* Each recurrent type runs on oneDNN, records the thread count and oneDNN's implementation
** name (printed, so the log shows what this machine dispatches to), and runs. */
static void test_impl_names(void **state)
{
    static const char *const specs[] = {"lstm t=3 n=2 c=4 k=5", "gru t=3 n=2 c=4 k=5",
                                        "rnn t=3 n=2 c=4 k=5"};
    (void)state;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        prof_kernel *k = prepare(specs[i], 2);
        assert_string_equal(k->backend, "onednn");
        assert_int_equal(k->threads, 2);
        assert_true(k->impl[0] != '\0');
        assert_non_null(memchr(k->impl, '\0', sizeof k->impl));
        assert_string_not_equal(k->impl, "unknown");
        print_message("%-22s impl %s\n", specs[i], k->impl);
        assert_int_equal(prof_kernel_run(k), CLEAVE_OK);
        prof_kernel_release(k);
    }
}

/* Every tensor reads back with the element count of its plain layout (backend.h): src (t,n,c),
** weights (l,d,c,g,k), weights_iter (l,d,k,g,k), bias (l,d,g,k), dst (t,n,dirs*k); one more or
** one fewer is CLEAVE_EINVAL.  Covers one and two directions, stacked layers, every type. */
static void test_tensor_sizes(void **state)
{
    static const struct {
        const char *spec;
        size_t src, w, wi, b, dst;
    } cases[] = {
        {"lstm t=3 n=2 c=4 k=5", 24, 1 * 1 * 4 * 4 * 5, 1 * 1 * 5 * 4 * 5, 1 * 1 * 4 * 5, 30},
        {"lstm t=3 n=2 c=4 k=5 dirs=2", 24, 2 * 4 * 4 * 5, 2 * 5 * 4 * 5, 2 * 4 * 5, 60},
        {"gru t=2 n=3 c=4 k=6 dirs=2", 24, 2 * 4 * 3 * 6, 2 * 6 * 3 * 6, 2 * 3 * 6, 2 * 3 * 12},
        {"rnn t=4 n=1 c=3 k=2", 12, 3 * 2, 2 * 2, 2, 8},
        {"lstm t=3 n=2 c=6 k=6 layers=3", 36, 3 * 6 * 4 * 6, 3 * 6 * 4 * 6, 3 * 4 * 6, 36},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const size_t want[5] = {cases[i].src, cases[i].w, cases[i].wi, cases[i].b, cases[i].dst};
        static const prof_role roles[5] = {PROF_SRC, PROF_WEIGHTS, PROF_WEIGHTS_ITER, PROF_BIAS,
                                           PROF_DST};
        prof_kernel *k = prepare(cases[i].spec, 1);
        assert_int_equal(prof_kernel_run(k), CLEAVE_OK);
        for (int r = 0; r < 5; r++) {
            float *p = malloc((want[r] + 1) * sizeof *p);
            assert_non_null(p);
            if (prof_kernel_read(k, roles[r], 0, p, want[r]) != CLEAVE_OK)
                fail_msg("[%s] role %d with %zu floats: %s", cases[i].spec, (int)roles[r], want[r],
                         ((rnn_kernel *)k)->errmsg);
            assert_int_equal(prof_kernel_read(k, roles[r], 0, p, want[r] + 1), CLEAVE_EINVAL);
            assert_int_equal(prof_kernel_read(k, roles[r], 0, p, want[r] - 1), CLEAVE_EINVAL);
            /* Inputs and parameters hold the seed's values, all in [-1, 1). */
            if (roles[r] != PROF_DST)
                for (size_t j = 0; j < want[r]; j++)
                    assert_true(p[j] >= -1.0f && p[j] < 1.0f);
            free(p);
        }
        prof_kernel_release(k);
    }
}

/* A bidirectional layer's output has 2k channels per (t, n): the catalogue says so, the read
** accepts exactly t*n*2k floats, and both halves were computed (no channel of the backward half
** is still the zero the output was initialised with at every step). */
static void test_bidirectional_channels(void **state)
{
    cleave_layer l;
    char err[128];
    const size_t t = 3, n = 2, k = 5;
    (void)state;
    assert_int_equal(cleave_layer_parse(&l, "lstm t=3 n=2 c=4 k=5 dirs=2", err, sizeof err),
                     CLEAVE_OK);
    const cleave_shape s = cleave_layer_output_shape(&l);
    assert_int_equal(s.d[0], 3);
    assert_int_equal(s.d[1], 2);
    assert_int_equal(s.d[2], 10);

    prof_kernel *pk = prepare("lstm t=3 n=2 c=4 k=5 dirs=2", 2);
    float half[30];
    assert_int_equal(prof_kernel_run(pk), CLEAVE_OK);
    assert_int_equal(prof_kernel_read(pk, PROF_DST, 0, half, t * n * k), CLEAVE_EINVAL);
    float *out = read_new(pk, PROF_DST, t * n * 2 * k);
    for (size_t c = 0; c < 2 * k; c++) {
        int nonzero = 0;
        for (size_t i = 0; i < t * n; i++)
            nonzero |= out[i * 2 * k + c] != 0.0f;
        if (!nonzero)
            fail_msg("output channel %zu is zero at every step", c);
    }
    free(out);
    prof_kernel_release(pk);
}

/* bias=0: oneDNN still takes a bias argument, which holds zeros and reads back as zeros. */
static void test_bias_off_reads_zero(void **state)
{
    static const struct {
        const char *spec;
        size_t bias;
    } cases[] = {{"lstm t=2 n=1 c=3 k=4 bias=0", 16},
                 {"gru t=2 n=1 c=3 k=4 bias=0 dirs=2", 24},
                 {"rnn t=2 n=1 c=3 k=4 bias=0", 4}};
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        prof_kernel *k = prepare(cases[i].spec, 1);
        assert_int_equal(prof_kernel_run(k), CLEAVE_OK);
        float *b = read_new(k, PROF_BIAS, cases[i].bias);
        for (size_t j = 0; j < cases[i].bias; j++)
            assert_true(b[j] == 0.0f);
        free(b);
        prof_kernel_release(k);
    }
}

/* Zero initial state, checked by hand on a one-step vanilla RNN: h = tanh(W x + b) for every
** batch row, computed from the tensors read back (U h_0 vanishes because h_0 = 0). */
static void test_rnn_one_step(void **state)
{
    const size_t n = 2, c = 3, k = 4;
    (void)state;
    prof_kernel *pk = prepare("rnn t=1 n=2 c=3 k=4", 1);
    assert_int_equal(prof_kernel_run(pk), CLEAVE_OK);
    float *x = read_new(pk, PROF_SRC, n * c);
    float *w = read_new(pk, PROF_WEIGHTS, c * k); /* (1, 1, c, 1, k) */
    float *b = read_new(pk, PROF_BIAS, k);
    float *h = read_new(pk, PROF_DST, n * k);
    for (size_t b_i = 0; b_i < n; b_i++)
        for (size_t o = 0; o < k; o++) {
            double acc = b[o];
            for (size_t i = 0; i < c; i++)
                acc += (double)x[b_i * c + i] * w[i * k + o];
            assert_float_equal(h[b_i * k + o], tanh(acc), 1e-5);
        }
    free(x);
    free(w);
    free(b);
    free(h);
    prof_kernel_release(pk);
}

/* Weights oneDNN stores in a layout that cannot be reordered back (rnn_packed: this GRU's
** weights_iter on the avx512 build machine, where the gemm-based implementation packs them) are
** read from the plain copy kept in prepare.  The output must still match the naive reference
** computed from the tensors read back, which proves the copy holds the weights oneDNN uses. */
static void test_packed_weights_read_back(void **state)
{
    const char *spec = "gru t=2 n=16 c=16 k=512";
    cleave_layer l;
    ref_sizes sz;
    char err[128];
    (void)state;
    assert_int_equal(cleave_layer_parse(&l, spec, err, sizeof err), CLEAVE_OK);
    assert_int_equal(ref_sizes_init(&sz, &l), 0);
    prof_kernel *pk = prepare(spec, 2);
    rnn_kernel *r = (rnn_kernel *)pk;
    print_message("%s: weights %s, weights_iter %s\n", spec,
                  r->t[R_WEIGHTS].plain_copy ? "packed (plain copy kept)" : "readable",
                  r->t[R_WEIGHTS_ITER].plain_copy ? "packed (plain copy kept)" : "readable");
    assert_int_equal(prof_kernel_run(pk), CLEAVE_OK);
    float *x = read_new(pk, PROF_SRC, (size_t)sz.src[0]);
    float *w = read_new(pk, PROF_WEIGHTS, (size_t)sz.weights);
    float *wi = read_new(pk, PROF_WEIGHTS_ITER, (size_t)sz.weights_iter);
    float *b = read_new(pk, PROF_BIAS, (size_t)sz.bias);
    float *out = read_new(pk, PROF_DST, (size_t)sz.dst);
    float *ref = malloc((size_t)sz.dst * sizeof *ref);
    assert_non_null(ref);
    const float *srcs[1] = {x};
    ref_params p = {w, wi, b, NULL, NULL, NULL, NULL};
    assert_int_equal(ref_forward(&l, srcs, &p, ref), 0);
    double max_ref = 0;
    for (int64_t i = 0; i < sz.dst; i++)
        max_ref = fmax(max_ref, fabs((double)ref[i]));
    for (int64_t i = 0; i < sz.dst; i++)
        if (!(fabs((double)out[i] - ref[i]) <= 1e-4 * fmax(1.0, max_ref)))
            fail_msg("[%s] output[%lld] = %g, reference %g", spec, (long long)i, (double)out[i],
                     (double)ref[i]);
    free(x);
    free(w);
    free(wi);
    free(b);
    free(out);
    free(ref);
    prof_kernel_release(pk);
}

/* One and two threads give the same output.  oneDNN may split its gemms differently by thread
** count, so equality is up to float rounding (1e-5 on values in (-1, 1)). */
static void test_threads(void **state)
{
    static const char *const specs[] = {"lstm t=5 n=4 c=16 k=32", "gru t=5 n=4 c=16 k=32 dirs=2",
                                        "rnn t=5 n=4 c=32 k=32 layers=2"};
    (void)state;
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        prof_kernel *k1 = prepare(specs[s], 1), *k2 = prepare(specs[s], 2);
        cleave_shape os = cleave_layer_output_shape(&k1->layer);
        const size_t n = (size_t)(os.d[0] * os.d[1] * os.d[2]);
        assert_int_equal(k1->threads, 1);
        assert_int_equal(k2->threads, 2);
        assert_int_equal(prof_kernel_run(k1), CLEAVE_OK);
        assert_int_equal(prof_kernel_run(k2), CLEAVE_OK);
        assert_int_equal(prof_kernel_run(k2), CLEAVE_OK);
        float *o1 = read_new(k1, PROF_DST, n), *o2 = read_new(k2, PROF_DST, n);
        for (size_t i = 0; i < n; i++)
            if (!(fabsf(o1[i] - o2[i]) <= 1e-5f))
                fail_msg("[%s] output[%zu]: %g with 1 thread, %g with 2", specs[s], i,
                         (double)o1[i], (double)o2[i]);
        free(o1);
        free(o2);
        prof_kernel_release(k1);
        prof_kernel_release(k2);
    }
}

/* Tensors a recurrent layer does not have and indices other than 0 are CLEAVE_EINVAL with a
** message naming them; so is a wrong element count. */
static void test_read_errors(void **state)
{
    float buf[64];
    (void)state;
    prof_kernel *k = prepare("gru t=2 n=1 c=2 k=2", 1);
    rnn_kernel *r = (rnn_kernel *)k;
    assert_int_equal(prof_kernel_read(k, PROF_MEAN, 0, buf, 2), CLEAVE_EINVAL);
    assert_string_equal(r->errmsg, "layer 'gru' has no such tensor 0");
    assert_int_equal(prof_kernel_read(k, PROF_SRC, 1, buf, 4), CLEAVE_EINVAL);
    assert_string_equal(r->errmsg, "layer 'gru' has no source tensor 1");
    assert_int_equal(prof_kernel_read(k, PROF_WEIGHTS_ITER, -1, buf, 12), CLEAVE_EINVAL);
    assert_string_equal(r->errmsg, "layer 'gru' has no recurrent weights tensor -1");
    assert_int_equal(prof_kernel_read(k, PROF_DST, 0, buf, 5), CLEAVE_EINVAL);
    assert_string_equal(r->errmsg, "tensor has 4 elements, not 5");
    assert_int_equal(prof_kernel_read(k, PROF_WEIGHTS_ITER, 0, buf, 12), CLEAVE_OK);
    prof_kernel_release(k);
}

/* The recurrent entry point refuses other layer types and stacked bidirectional layers
** (which oneDNN would run as two independent stacks, not as PyTorch/ONNX do), leaving *OUT
** NULL with a message. */
static void test_prepare_errors(void **state)
{
    cleave_layer l;
    char err[160];
    prof_kernel *k = NULL;
    (void)state;
    cleave_layer_init(&l, CLEAVE_LAYER_CONV);
    assert_int_equal(prof_dnnl_rnn_prepare(&k, &l, 1, TEST_SEED, err, sizeof err),
                     CLEAVE_EUNSUPPORTED);
    assert_null(k);
    assert_string_equal(err, "layer type 'conv' is not handled by the oneDNN recurrent backend");
    cleave_layer_init(&l, CLEAVE_LAYER_LSTM);
    l.c = l.k = 4;
    l.layers = 2;
    l.dirs = 2;
    assert_int_equal(prof_dnnl_rnn_prepare(&k, &l, 1, TEST_SEED, err, sizeof err), CLEAVE_EINVAL);
    assert_null(k);
    assert_string_equal(err, "stacked recurrent layers need c == k and dirs=1 (got c=4 k=4 "
                             "dirs=2)");
    assert_int_equal(prof_dnnl_rnn_prepare(&k, &l, 1, TEST_SEED, NULL, 0), CLEAVE_EINVAL);
    assert_null(k);
}

/* The same seed fills the same weights (read back from oneDNN's chosen layout), another seed
** different ones. */
static void test_seed(void **state)
{
    const size_t n = 2 * 8 * 4 * 8; /* weights_iter of lstm k=8 dirs=2 */
    (void)state;
    prof_kernel *a = prepare("lstm t=2 n=2 c=3 k=8 dirs=2", 1);
    prof_kernel *b = prepare("lstm t=2 n=2 c=3 k=8 dirs=2", 2);
    float *wa = read_new(a, PROF_WEIGHTS_ITER, n), *wb = read_new(b, PROF_WEIGHTS_ITER, n);
    assert_memory_equal(wa, wb, n * sizeof *wa);
    free(wb);
    prof_kernel_release(b);
    cleave_layer l = a->layer;
    char err[128];
    assert_int_equal(prof_kernel_prepare(&b, &l, 1, TEST_SEED + 1, err, sizeof err), CLEAVE_OK);
    wb = read_new(b, PROF_WEIGHTS_ITER, n);
    assert_memory_not_equal(wa, wb, n * sizeof *wa);
    free(wa);
    free(wb);
    prof_kernel_release(a);
    prof_kernel_release(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_impl_names),
        cmocka_unit_test(test_tensor_sizes),
        cmocka_unit_test(test_bidirectional_channels),
        cmocka_unit_test(test_bias_off_reads_zero),
        cmocka_unit_test(test_rnn_one_step),
        cmocka_unit_test(test_packed_weights_read_back),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_prepare_errors),
        cmocka_unit_test(test_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
