/* tests/unit/test-portable.c - the portable C kernels on tiny hand-computed examples. */
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

/* White-box test: the kernels fill their input from a seed and offer no way to write it, but
** hand-computed examples (ties in argmax, known transposes) need chosen inputs.  Including the
** source gives this file the kernel struct so it can overwrite the input; the library's own
** portable.c object is then not linked in (every symbol it defines is already defined here). */
#include "profiler/portable.c"

#define TEST_SEED 7u

/* Parse SPEC and prepare it on the portable backend with THREADS threads. */
static prof_kernel *prepare(const char *spec, int threads)
{
    cleave_layer l;
    char err[256] = "";
    prof_kernel *k = NULL;
    cleave_status st = cleave_layer_parse(&l, spec, err, sizeof err);
    if (st != CLEAVE_OK)
        fail_msg("[%s] parse failed: %s: %s", spec, cleave_status_name(st), err);
    st = prof_portable_prepare(&k, &l, threads, TEST_SEED, err, sizeof err);
    if (st != CLEAVE_OK || !k)
        fail_msg("[%s] prepare failed: %s: %s", spec, cleave_status_name(st), err);
    return k;
}

/* Replace the input of K by IN (as many floats as K's input has). */
static void set_input(prof_kernel *k, const float *in)
{
    port_kernel *p = (port_kernel *)k;
    memcpy(p->src, in, p->src_elems * sizeof *in);
}

/* Run SPEC on input IN and require the output to equal WANT[0..N) exactly (every kernel here
** moves or compares values, it never computes new ones). */
static void check_exact(const char *spec, const float *in, const float *want, size_t n)
{
    prof_kernel *k = prepare(spec, 2);
    float *out = calloc(n, sizeof *out);
    assert_non_null(out);
    set_input(k, in);
    assert_int_equal(prof_kernel_run(k), CLEAVE_OK);
    assert_int_equal(prof_kernel_read(k, PROF_DST, 0, out, n), CLEAVE_OK);
    for (size_t i = 0; i < n; i++)
        if (out[i] != want[i]) {
            float got = out[i];
            free(out);
            prof_kernel_release(k);
            fail_msg("[%s] output[%zu] = %g, want %g", spec, i, (double)got, (double)want[i]);
        }
    free(out);
    prof_kernel_release(k);
}

/* 1x2x2x3 input with ties along every axis:
**   c0: [1 3 3; 2 2 0]    c1: [3 1 3; 2 5 2]
** The first of equal maxima wins. */
static void test_argmax_ties(void **state)
{
    static const float in[12] = {1, 3, 3, 2, 2, 0, 3, 1, 3, 2, 5, 2};
    static const float axis0[12] = {0};
    static const float axis1[6] = {1, 0, 0, 0, 1, 1};
    static const float axis2[6] = {1, 0, 0, 0, 1, 0};
    static const float axis3[4] = {1, 0, 0, 1};
    (void)state;
    check_exact("argmax n=1 c=2 h=2 w=3 axis=0", in, axis0, 12);
    check_exact("argmax n=1 c=2 h=2 w=3 axis=1", in, axis1, 6);
    check_exact("argmax n=1 c=2 h=2 w=3 axis=2", in, axis2, 6);
    check_exact("argmax n=1 c=2 h=2 w=3 axis=3", in, axis3, 4);
}

/* Along the batch: [[0 5]; [4 5]; [4 1]] gives [1 0]; all-negative rows keep the first
** maximum; a row of identical values gives 0. */
static void test_argmax_batch_and_negative(void **state)
{
    static const float batch[6] = {0, 5, 4, 5, 4, 1};
    static const float batch_want[2] = {1, 0};
    static const float neg[8] = {-3, -1, -1, -2, -7, -7, -7, -7};
    static const float neg_want[2] = {1, 0};
    (void)state;
    check_exact("argmax n=3 c=1 h=1 w=2 axis=0", batch, batch_want, 2);
    check_exact("argmax n=1 c=1 h=2 w=4 axis=3", neg, neg_want, 2);
}

/* More columns than one argmax block (PORT_ARGMAX_BLOCK): src[c][i] = 1 where c == i mod 3,
** else 0, so the answer is i mod 3 for every column, with 1 and 2 threads. */
static void test_argmax_blocks(void **state)
{
    enum { C = 3, W = 2 * PORT_ARGMAX_BLOCK + 17 };
    static float in[C * W], want[W];
    (void)state;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < W; i++)
            in[c * W + i] = c == i % 3 ? 1.0f : 0.0f;
    for (int i = 0; i < W; i++)
        want[i] = (float)(i % 3);
    char spec[96];
    snprintf(spec, sizeof spec, "argmax n=1 c=%d h=1 w=%d axis=1", C, W);
    check_exact(spec, in, want, W);
}

/* perm=0,2,3,1 (NCHW -> NHWC) of a 1x2x2x3 input, written out by hand:
** in[c][h][w] = 100c + 10h + w, out[h][w][c]. */
static void test_transpose_nhwc(void **state)
{
    static const float in[12] = {0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112};
    static const float want[12] = {0, 100, 1, 101, 2, 102, 10, 110, 11, 111, 12, 112};
    (void)state;
    check_exact("transpose n=1 c=2 h=2 w=3 perm=0,2,3,1", in, want, 12);
}

/* Every permutation of a 2x3x4x5 tensor whose values encode their own coordinates
** (1000n + 100c + 10h + w): output element (o0, o1, o2, o3) must hold the input element whose
** coordinate perm[i] is o_i, checked element by element. */
static void test_transpose_all_perms(void **state)
{
    static const int64_t dims[4] = {2, 3, 4, 5};
    float in[120], out[120];
    int perms = 0;
    (void)state;
    for (int i = 0; i < 120; i++)
        in[i] = (float)(1000 * (i / 60) + 100 * (i / 20 % 3) + 10 * (i / 5 % 4) + i % 5);
    for (int p = 0; p < 256; p++) {
        int perm[4] = {p & 3, p >> 2 & 3, p >> 4 & 3, p >> 6 & 3};
        if (perm[0] == perm[1] || perm[0] == perm[2] || perm[0] == perm[3] || perm[1] == perm[2] ||
            perm[1] == perm[3] || perm[2] == perm[3])
            continue;
        char spec[96];
        snprintf(spec, sizeof spec, "transpose n=2 c=3 h=4 w=5 perm=%d,%d,%d,%d", perm[0], perm[1],
                 perm[2], perm[3]);
        prof_kernel *k = prepare(spec, 2);
        set_input(k, in);
        assert_int_equal(prof_kernel_run(k), CLEAVE_OK);
        assert_int_equal(prof_kernel_read(k, PROF_DST, 0, out, 120), CLEAVE_OK);
        prof_kernel_release(k);
        int64_t od[4], o[4];
        for (int i = 0; i < 4; i++)
            od[i] = dims[perm[i]];
        int idx = 0;
        for (o[0] = 0; o[0] < od[0]; o[0]++)
            for (o[1] = 0; o[1] < od[1]; o[1]++)
                for (o[2] = 0; o[2] < od[2]; o[2]++)
                    for (o[3] = 0; o[3] < od[3]; o[3]++, idx++) {
                        int64_t c[4];
                        for (int i = 0; i < 4; i++)
                            c[perm[i]] = o[i];
                        float want = (float)(1000 * c[0] + 100 * c[1] + 10 * c[2] + c[3]);
                        if (out[idx] != want)
                            fail_msg("[%s] output[%d] = %g, want %g", spec, idx, (double)out[idx],
                                     (double)want);
                    }
        perms++;
    }
    assert_int_equal(perms, 24);
}

/* pad pt=1 pl=0 pb=0 pr=2 of [1 2; 3 4], twice per channel; the output is rewritten in full
** on every run (it is poisoned with 7s before running). */
static void test_pad(void **state)
{
    static const float in[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const float want[24] = {0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0,
                                   0, 0, 0, 0, 5, 6, 0, 0, 7, 8, 0, 0};
    static const float want_all[16] = {0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0};
    float out[24];
    (void)state;
    prof_kernel *k = prepare("pad n=1 c=2 h=2 w=2 pt=1 pl=0 pb=0 pr=2", 2);
    port_kernel *p = (port_kernel *)k;
    set_input(k, in);
    for (size_t i = 0; i < p->dst_elems; i++)
        p->dst[i] = 7;
    assert_int_equal(prof_kernel_run(k), CLEAVE_OK);
    assert_int_equal(prof_kernel_read(k, PROF_DST, 0, out, 24), CLEAVE_OK);
    assert_memory_equal(out, want, sizeof want);
    prof_kernel_release(k);
    check_exact("pad n=1 c=1 h=2 w=2 pad=1", in, want_all, 16);
}

/* Slices along each axis of known inputs (values 0, 1, 2, ... in NCHW order). */
static void test_slice(void **state)
{
    float in[24];
    static const float c_want[8] = {4, 5, 6, 7, 8, 9, 10, 11};
    static const float w_want[6] = {1, 3, 5, 7, 9, 11};
    static const float h_want[6] = {2, 3, 6, 7, 10, 11};
    static const float n_want[2] = {4, 5};
    static const float n2_want[12] = {12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23};
    (void)state;
    for (int i = 0; i < 24; i++)
        in[i] = (float)i;
    check_exact("slice n=1 c=3 h=2 w=2 axis=1 start=1 end=3", in, c_want, 8);
    check_exact("slice n=1 c=3 h=2 w=2 axis=3 start=1 end=2", in, w_want, 6);
    check_exact("slice n=1 c=3 h=2 w=2 axis=2 start=1 end=2", in, h_want, 6);
    check_exact("slice n=3 c=1 h=1 w=2 axis=0 start=2 end=3", in, n_want, 2);
    check_exact("slice n=2 c=3 h=2 w=2 axis=0 start=1 end=2", in, n2_want, 12);
}

/* Dropout at inference is a copy: the output equals the input bit for bit, also when the copy
** is split into several pieces (more than PORT_COPY_CHUNK floats). */
static void test_dropout_copy(void **state)
{
    const size_t n = 3 * 5 * 41 * 67; /* 41205 > 2 * PORT_COPY_CHUNK */
    float *src = malloc(n * sizeof *src), *dst = malloc(n * sizeof *dst);
    (void)state;
    assert_non_null(src);
    assert_non_null(dst);
    prof_kernel *k = prepare("dropout n=3 c=5 h=41 w=67", 2);
    assert_string_equal(k->backend, "portable");
    assert_string_equal(k->impl, "portable");
    assert_int_equal(prof_kernel_run(k), CLEAVE_OK);
    assert_int_equal(prof_kernel_read(k, PROF_SRC, 0, src, n), CLEAVE_OK);
    assert_int_equal(prof_kernel_read(k, PROF_DST, 0, dst, n), CLEAVE_OK);
    assert_memory_equal(src, dst, n * sizeof *src);
    for (size_t i = 0; i < n; i++)
        assert_true(src[i] >= -1.0f && src[i] < 1.0f);
    prof_kernel_release(k);
    free(src);
    free(dst);
}

/* Reshape moves nothing: backend and impl "none", run() succeeds, and source and destination
** both read back the input. */
static void test_reshape_none(void **state)
{
    float a[60], b[60];
    (void)state;
    prof_kernel *k = prepare("reshape n=1 c=3 h=4 w=5", 1);
    assert_string_equal(k->backend, "none");
    assert_string_equal(k->impl, "none");
    assert_int_equal(prof_kernel_run(k), CLEAVE_OK);
    assert_int_equal(prof_kernel_read(k, PROF_SRC, 0, a, 60), CLEAVE_OK);
    assert_int_equal(prof_kernel_read(k, PROF_DST, 0, b, 60), CLEAVE_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_int_equal(prof_kernel_read(k, PROF_DST, 0, b, 59), CLEAVE_EINVAL);
    prof_kernel_release(k);
}

/* One and two threads compute identical outputs, on shapes large enough that the work is
** really split (several planes, rows, blocks and copy pieces). */
static void test_threads_identical(void **state)
{
    static const char *const specs[] = {
        "argmax n=2 c=7 h=33 w=40 axis=0",
        "argmax n=2 c=7 h=33 w=40 axis=1",
        "argmax n=2 c=7 h=33 w=40 axis=2",
        "argmax n=2 c=7 h=33 w=40 axis=3",
        "dropout n=2 c=8 h=40 w=70",
        "pad n=2 c=5 h=17 w=9 pt=2 pl=1 pb=0 pr=3",
        "transpose n=2 c=6 h=11 w=13 perm=0,2,3,1",
        "transpose n=2 c=6 h=11 w=13 perm=3,1,0,2",
        "slice n=3 c=6 h=11 w=13 axis=1 start=2 end=5",
        "slice n=3 c=6 h=11 w=13 axis=0 start=1 end=3",
    };
    (void)state;
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        prof_kernel *k1 = prepare(specs[s], 1), *k2 = prepare(specs[s], 2);
        const size_t n = ((port_kernel *)k1)->dst_elems;
        float *o1 = malloc(n * sizeof *o1), *o2 = malloc(n * sizeof *o2);
        assert_non_null(o1);
        assert_non_null(o2);
        assert_int_equal(k1->threads, 1);
        assert_int_equal(k2->threads, 2);
        assert_int_equal(prof_kernel_run(k1), CLEAVE_OK);
        assert_int_equal(prof_kernel_run(k2), CLEAVE_OK);
        assert_int_equal(prof_kernel_run(k2), CLEAVE_OK); /* a second run changes nothing */
        assert_int_equal(prof_kernel_read(k1, PROF_DST, 0, o1, n), CLEAVE_OK);
        assert_int_equal(prof_kernel_read(k2, PROF_DST, 0, o2, n), CLEAVE_OK);
        if (memcmp(o1, o2, n * sizeof *o1) != 0)
            fail_msg("[%s] 1 and 2 threads differ", specs[s]);
        free(o1);
        free(o2);
        prof_kernel_release(k1);
        prof_kernel_release(k2);
    }
}

/* Reading a tensor the layer does not have, a second source, or the wrong element count is
** CLEAVE_EINVAL, with the reason in the kernel's message. */
static void test_read_errors(void **state)
{
    float buf[16];
    (void)state;
    prof_kernel *k = prepare("argmax n=1 c=3 h=2 w=2 axis=1", 1);
    port_kernel *p = (port_kernel *)k;
    assert_int_equal(prof_kernel_read(k, PROF_WEIGHTS, 0, buf, 1), CLEAVE_EINVAL);
    assert_string_equal(p->errmsg, "layer 'argmax' has no weights tensor 0");
    assert_int_equal(prof_kernel_read(k, PROF_BIAS, 0, buf, 1), CLEAVE_EINVAL);
    assert_string_equal(p->errmsg, "layer 'argmax' has no bias tensor 0");
    assert_int_equal(prof_kernel_read(k, PROF_SRC, 1, buf, 12), CLEAVE_EINVAL);
    assert_string_equal(p->errmsg, "layer 'argmax' has no source tensor 1");
    assert_int_equal(prof_kernel_read(k, PROF_DST, -1, buf, 4), CLEAVE_EINVAL);
    assert_string_equal(p->errmsg, "layer 'argmax' has no destination tensor -1");
    assert_int_equal(prof_kernel_read(k, (prof_role)42, 0, buf, 4), CLEAVE_EINVAL);
    assert_string_equal(p->errmsg, "layer 'argmax' has no such tensor 0");
    assert_int_equal(prof_kernel_read(k, PROF_DST, 0, buf, 12), CLEAVE_EINVAL);
    assert_string_equal(p->errmsg, "tensor has 4 elements, not 12");
    assert_int_equal(prof_kernel_read(k, PROF_SRC, 0, buf, 4), CLEAVE_EINVAL);
    assert_string_equal(p->errmsg, "tensor has 12 elements, not 4");
    assert_int_equal(prof_kernel_read(k, PROF_DST, 0, NULL, 4), CLEAVE_EINVAL);
    assert_int_equal(prof_kernel_read(k, PROF_DST, 0, buf, 4), CLEAVE_OK);
    prof_kernel_release(k);
}

/* The portable backend refuses types it has no kernel for and a non-positive thread count,
** leaving *OUT NULL and naming the problem. */
static void test_prepare_errors(void **state)
{
    cleave_layer l;
    char err[128];
    prof_kernel *k = (prof_kernel *)&l; /* not NULL, to see it reset */
    (void)state;
    cleave_layer_init(&l, CLEAVE_LAYER_CONV);
    assert_int_equal(prof_portable_prepare(&k, &l, 1, TEST_SEED, err, sizeof err),
                     CLEAVE_EUNSUPPORTED);
    assert_null(k);
    assert_string_equal(err, "layer type 'conv' has no portable kernel");
    cleave_layer_init(&l, CLEAVE_LAYER_SLICE);
    assert_int_equal(prof_portable_prepare(&k, &l, 0, TEST_SEED, err, sizeof err), CLEAVE_EINVAL);
    assert_null(k);
    assert_string_equal(err, "thread count must be positive, got 0");
    /* No error buffer at all is allowed. */
    assert_int_equal(prof_portable_prepare(&k, &l, -1, TEST_SEED, NULL, 0), CLEAVE_EINVAL);
    assert_null(k);
}

/* The same seed fills the same input, another seed a different one. */
static void test_seed(void **state)
{
    cleave_layer l;
    char err[128];
    float a[60], b[60];
    prof_kernel *k1 = NULL, *k2 = NULL;
    (void)state;
    assert_int_equal(cleave_layer_parse(&l, "dropout n=1 c=3 h=4 w=5", err, sizeof err), CLEAVE_OK);
    assert_int_equal(prof_portable_prepare(&k1, &l, 1, 1, err, sizeof err), CLEAVE_OK);
    assert_int_equal(prof_portable_prepare(&k2, &l, 2, 1, err, sizeof err), CLEAVE_OK);
    assert_int_equal(prof_kernel_read(k1, PROF_SRC, 0, a, 60), CLEAVE_OK);
    assert_int_equal(prof_kernel_read(k2, PROF_SRC, 0, b, 60), CLEAVE_OK);
    assert_memory_equal(a, b, sizeof a);
    prof_kernel_release(k2);
    assert_int_equal(prof_portable_prepare(&k2, &l, 1, 2, err, sizeof err), CLEAVE_OK);
    assert_int_equal(prof_kernel_read(k2, PROF_SRC, 0, b, 60), CLEAVE_OK);
    assert_memory_not_equal(a, b, sizeof a);
    prof_kernel_release(k1);
    prof_kernel_release(k2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argmax_ties),
        cmocka_unit_test(test_argmax_batch_and_negative),
        cmocka_unit_test(test_argmax_blocks),
        cmocka_unit_test(test_transpose_nhwc),
        cmocka_unit_test(test_transpose_all_perms),
        cmocka_unit_test(test_pad),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_dropout_copy),
        cmocka_unit_test(test_reshape_none),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_prepare_errors),
        cmocka_unit_test(test_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
