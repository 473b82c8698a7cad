/*
** tests/unit/test-dnnl-cnn.c - the oneDNN CNN backend (profiler/dnnl_cnn.c) beyond the shared
** reference comparison: kernel head and implementation choice, 1 vs 2 threads, the documented
** fill order of every tensor role, repeatable runs, more reference cases, and every error path.
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
#include "profiler/backend.h"
#include "profiler/dnnl_util.h"
#include "ref/ref.h"

#define TEST_SEED 424242u

/* Parse SPEC or fail the test. */
static cleave_layer parse_ok(const char *spec)
{
    cleave_layer l;
    char err[256] = "";
    cleave_status st = cleave_layer_parse(&l, spec, err, sizeof err);
    if (st != CLEAVE_OK)
        fail_msg("[%s] parse failed: %s: %s", spec, cleave_status_name(st), err);
    return l;
}

/* Prepare L through the oneDNN CNN backend with THREADS threads and SEED, or fail the test. */
static prof_kernel *prepare_ok(const cleave_layer *l, const char *spec, int threads, uint64_t seed)
{
    char err[256] = "";
    prof_kernel *k = NULL;
    cleave_status st = prof_dnnl_cnn_prepare(&k, l, threads, seed, err, sizeof err);
    if (st != CLEAVE_OK || !k)
        fail_msg("[%s] prepare failed: %s: %s", spec, cleave_status_name(st), err);
    return k;
}

/* Read tensor ROLE/IDX of K (N floats) into a new buffer, or fail the test. */
static float *read_ok(prof_kernel *k, prof_role role, int idx, size_t n, const char *spec)
{
    float *buf = malloc((n ? n : 1) * sizeof *buf);
    assert_non_null(buf);
    cleave_status st = prof_kernel_read(k, role, idx, buf, n);
    if (st != CLEAVE_OK) {
        free(buf);
        fail_msg("[%s] reading role %d index %d (%zu floats): %s", spec, (int)role, idx, n,
                 cleave_status_name(st));
    }
    return buf;
}

/* One layer of every type and variant the backend handles, at sizes where oneDNN's optimised
** kernels apply (channels >= 8). */
static const char *const specs_all[] = {
    "conv n=1 c=16 h=14 w=14 k=32 kh=3 kw=3 pad=1",
    "conv n=2 c=16 h=14 w=14 k=16 kh=3 kw=3 pad=1 groups=16 act=relu6",
    "conv n=1 c=16 h=14 w=14 k=32 kh=3 kw=3 pad=1 groups=4 act=hardsigmoid",
    "conv n=1 c=16 h=15 w=13 k=16 kh=3 kw=3 stride=2 pad=2 dilation=2 bias=0 act=leaky",
    "conv n=1 c=32 h=7 w=7 k=64 kh=1 kw=1 act=hardswish",
    "deconv n=1 c=16 h=7 w=7 k=8 kh=4 kw=4 stride=2 pad=1",
    "deconv n=1 c=16 h=7 w=7 k=16 kh=3 kw=3 stride=2 groups=2 bias=0 act=tanh",
    "pool kind=max n=1 c=16 h=14 w=14 kh=3 kw=3 stride=2 pad=1",
    "pool kind=avg n=1 c=16 h=14 w=14 kh=3 kw=3 stride=2 pad=1",
    "pool kind=avgpad n=1 c=16 h=14 w=14 kh=2 kw=2 stride=2",
    "pool kind=avg global=1 n=2 c=32 h=7 w=7",
    "fc n=2 c=256 k=100",
    "fc n=2 c=16 h=3 w=3 k=40 bias=0 act=sigmoid",
    "bn n=2 c=16 h=7 w=7",
    "act kind=relu n=1 c=16 h=9 w=9",
    "act kind=relu6 n=1 c=16 h=9 w=9",
    "act kind=clip alpha=-0.5 beta=0.5 n=1 c=16 h=9 w=9",
    "act kind=sigmoid n=1 c=16 h=9 w=9",
    "act kind=tanh n=1 c=16 h=9 w=9",
    "act kind=hardswish n=1 c=16 h=9 w=9",
    "act kind=hardsigmoid n=1 c=16 h=9 w=9",
    "act kind=leaky alpha=0.1 n=1 c=16 h=9 w=9",
    "lrn n=1 c=16 h=9 w=9 size=5",
    "softmax n=2 c=16 h=3 w=4 axis=0",
    "softmax n=2 c=16 h=3 w=4 axis=1",
    "softmax n=2 c=16 h=3 w=4 axis=2",
    "softmax n=2 c=16 h=3 w=4 axis=3",
    "add n=1 c=16 h=9 w=9",
    "mul n=1 c=16 h=9 w=9",
    "concat n=1 h=9 w=9 c=16,32,8",
};
#define NSPECS (sizeof specs_all / sizeof specs_all[0])

/* The kernel head: backend "onednn", the thread count and layer as given, a non-empty
** implementation name.  On a machine with AVX2 or better no layer may land in one of oneDNN's
** reference kernels (names containing "ref"): the layouts are chosen so that optimised kernels
** apply, and a reference kernel would time a code path no deployed runtime uses. */
static void test_head_and_impl(void **state)
{
    const char *isa = prof_dnnl_isa();
    const int fast_isa = strncmp(isa, "avx2", 4) == 0 || strncmp(isa, "avx512", 6) == 0;
    (void)state;
    for (size_t i = 0; i < NSPECS; i++) {
        cleave_layer l = parse_ok(specs_all[i]);
        prof_kernel *k = prepare_ok(&l, specs_all[i], 2, TEST_SEED);
        assert_string_equal(k->backend, "onednn");
        assert_int_equal(k->threads, 2);
        assert_int_equal(k->layer.type, l.type);
        assert_memory_equal(&k->layer, &l, sizeof l);
        assert_non_null(memchr(k->impl, '\0', sizeof k->impl));
        if (k->impl[0] == '\0' || strcmp(k->impl, "unknown") == 0)
            fail_msg("[%s] no implementation name", specs_all[i]);
        if (fast_isa && strstr(k->impl, "ref"))
            fail_msg("[%s] runs oneDNN's reference kernel '%s' on %s", specs_all[i], k->impl, isa);
        prof_kernel_release(k);
    }
}

/* One thread and two threads compute bit-identical outputs from the same seed (and so do two
** runs of the same kernel: the scratchpad and workspace carry nothing between runs). */
static void test_threads_identical(void **state)
{
    (void)state;
    for (size_t i = 0; i < NSPECS; i++) {
        const char *spec = specs_all[i];
        cleave_layer l = parse_ok(spec);
        cleave_shape os = cleave_layer_output_shape(&l);
        size_t n = (size_t)(os.d[0] * os.d[1] * os.d[2] * os.d[3]);
        prof_kernel *k1 = prepare_ok(&l, spec, 1, TEST_SEED);
        prof_kernel *k2 = prepare_ok(&l, spec, 2, TEST_SEED);
        assert_int_equal(prof_kernel_run(k1), CLEAVE_OK);
        assert_int_equal(prof_kernel_run(k2), CLEAVE_OK);
        float *a = read_ok(k1, PROF_DST, 0, n, spec);
        float *b = read_ok(k2, PROF_DST, 0, n, spec);
        if (memcmp(a, b, n * sizeof *a) != 0)
            fail_msg("[%s] 1 and 2 threads give different outputs", spec);
        assert_int_equal(prof_kernel_run(k2), CLEAVE_OK);
        float *c = read_ok(k2, PROF_DST, 0, n, spec);
        if (memcmp(b, c, n * sizeof *b) != 0)
            fail_msg("[%s] a second run changed the output", spec);
        free(a);
        free(b);
        free(c);
        prof_kernel_release(k1);
        prof_kernel_release(k2);
    }
}

/* Require tensor ROLE/IDX of K to hold the next N values the generator STATE draws in [LO, HI):
** the documented fill order, reproduced independently with common/rng.h. */
static void expect_fill(prof_kernel *k, prof_role role, int idx, size_t n, uint64_t *state,
                        float lo, float hi, const char *spec)
{
    float *want = malloc(n * sizeof *want);
    assert_non_null(want);
    cl_rng_fill(want, n, state, lo, hi);
    float *got = read_ok(k, role, idx, n, spec);
    if (memcmp(got, want, n * sizeof *got) != 0)
        fail_msg("[%s] role %d index %d does not hold the documented fill", spec, (int)role, idx);
    free(want);
    free(got);
}

/* Every tensor role reads back in plain layout with the values the documented fill order
** gives: sources, weights, bias, then bn mean, variance in [0.5, 1.5), scale, shift. */
static void test_fill_order(void **state)
{
    (void)state;
    {
        /* Grouped conv: weights (g, k/g, c/g, kh, kw) = (2, 3, 2, 3, 2). */
        const char *spec = "conv n=2 c=4 h=6 w=5 k=6 kh=3 kw=2 pad=1 groups=2";
        cleave_layer l = parse_ok(spec);
        prof_kernel *k = prepare_ok(&l, spec, 1, TEST_SEED);
        uint64_t s = TEST_SEED;
        expect_fill(k, PROF_SRC, 0, 2 * 4 * 6 * 5, &s, -1, 1, spec);
        expect_fill(k, PROF_WEIGHTS, 0, 2 * 3 * 2 * 3 * 2, &s, -1, 1, spec);
        expect_fill(k, PROF_BIAS, 0, 6, &s, -1, 1, spec);
        prof_kernel_release(k);
    }
    {
        const char *spec = "deconv n=1 c=4 h=3 w=3 k=2 kh=2 kw=2 stride=2";
        cleave_layer l = parse_ok(spec);
        prof_kernel *k = prepare_ok(&l, spec, 1, TEST_SEED);
        uint64_t s = TEST_SEED;
        expect_fill(k, PROF_SRC, 0, 4 * 3 * 3, &s, -1, 1, spec);
        expect_fill(k, PROF_WEIGHTS, 0, 2 * 4 * 2 * 2, &s, -1, 1, spec);
        expect_fill(k, PROF_BIAS, 0, 2, &s, -1, 1, spec);
        prof_kernel_release(k);
    }
    {
        const char *spec = "fc n=3 c=5 h=2 w=2 k=7";
        cleave_layer l = parse_ok(spec);
        prof_kernel *k = prepare_ok(&l, spec, 1, TEST_SEED);
        uint64_t s = TEST_SEED;
        expect_fill(k, PROF_SRC, 0, 3 * 5 * 2 * 2, &s, -1, 1, spec);
        expect_fill(k, PROF_WEIGHTS, 0, 7 * 5 * 2 * 2, &s, -1, 1, spec);
        expect_fill(k, PROF_BIAS, 0, 7, &s, -1, 1, spec);
        prof_kernel_release(k);
    }
    {
        const char *spec = "bn n=2 c=5 h=3 w=4";
        cleave_layer l = parse_ok(spec);
        prof_kernel *k = prepare_ok(&l, spec, 1, TEST_SEED);
        uint64_t s = TEST_SEED;
        expect_fill(k, PROF_SRC, 0, 2 * 5 * 3 * 4, &s, -1, 1, spec);
        expect_fill(k, PROF_MEAN, 0, 5, &s, -1, 1, spec);
        expect_fill(k, PROF_VAR, 0, 5, &s, 0.5f, 1.5f, spec);
        expect_fill(k, PROF_SCALE, 0, 5, &s, -1, 1, spec);
        expect_fill(k, PROF_SHIFT, 0, 5, &s, -1, 1, spec);
        prof_kernel_release(k);
    }
    {
        const char *spec = "concat n=2 h=3 w=2 c=3,1,4";
        cleave_layer l = parse_ok(spec);
        prof_kernel *k = prepare_ok(&l, spec, 1, TEST_SEED);
        uint64_t s = TEST_SEED;
        expect_fill(k, PROF_SRC, 0, 2 * 3 * 3 * 2, &s, -1, 1, spec);
        expect_fill(k, PROF_SRC, 1, 2 * 1 * 3 * 2, &s, -1, 1, spec);
        expect_fill(k, PROF_SRC, 2, 2 * 4 * 3 * 2, &s, -1, 1, spec);
        prof_kernel_release(k);
    }
    {
        const char *spec = "mul n=1 c=3 h=4 w=5";
        cleave_layer l = parse_ok(spec);
        prof_kernel *k = prepare_ok(&l, spec, 1, TEST_SEED);
        uint64_t s = TEST_SEED;
        expect_fill(k, PROF_SRC, 0, 60, &s, -1, 1, spec);
        expect_fill(k, PROF_SRC, 1, 60, &s, -1, 1, spec);
        prof_kernel_release(k);
    }
}

/* Roles a layer does not have, indices out of range and wrong counts are CLEAVE_EINVAL, for the
** layer kinds the shared test does not probe (bn, binary, concat, hardsigmoid, fc). */
static void test_read_errors(void **state)
{
    float buf[512];
    (void)state;
    {
        cleave_layer l = parse_ok("bn n=1 c=4 h=2 w=2");
        prof_kernel *k = prepare_ok(&l, "bn", 1, TEST_SEED);
        assert_int_equal(prof_kernel_read(k, PROF_WEIGHTS, 0, buf, 4), CLEAVE_EINVAL);
        assert_int_equal(prof_kernel_read(k, PROF_BIAS, 0, buf, 4), CLEAVE_EINVAL);
        assert_int_equal(prof_kernel_read(k, PROF_WEIGHTS_ITER, 0, buf, 4), CLEAVE_EINVAL);
        assert_int_equal(prof_kernel_read(k, PROF_MEAN, 1, buf, 4), CLEAVE_EINVAL);
        assert_int_equal(prof_kernel_read(k, PROF_VAR, 0, buf, 3), CLEAVE_EINVAL);
        assert_int_equal(prof_kernel_read(k, PROF_SHIFT, 0, buf, 5), CLEAVE_EINVAL);
        assert_int_equal(prof_kernel_read(k, PROF_SHIFT, 0, buf, 4), CLEAVE_OK);
        assert_int_equal(prof_kernel_read(k, (prof_role)99, 0, buf, 4), CLEAVE_EINVAL);
        prof_kernel_release(k);
    }
    {
        cleave_layer l = parse_ok("add n=1 c=2 h=2 w=2");
        prof_kernel *k = prepare_ok(&l, "add", 1, TEST_SEED);
        assert_int_equal(prof_kernel_read(k, PROF_SRC, 1, buf, 8), CLEAVE_OK);
        assert_int_equal(prof_kernel_read(k, PROF_SRC, 2, buf, 8), CLEAVE_EINVAL);
        assert_int_equal(prof_kernel_read(k, PROF_WEIGHTS, 0, buf, 8), CLEAVE_EINVAL);
        assert_int_equal(prof_kernel_read(k, PROF_MEAN, 0, buf, 2), CLEAVE_EINVAL);
        prof_kernel_release(k);
    }
    {
        cleave_layer l = parse_ok("concat n=1 h=2 w=2 c=1,2,3");
        prof_kernel *k = prepare_ok(&l, "concat", 1, TEST_SEED);
        assert_int_equal(prof_kernel_read(k, PROF_SRC, 2, buf, 12), CLEAVE_OK);
        assert_int_equal(prof_kernel_read(k, PROF_SRC, 2, buf, 8), CLEAVE_EINVAL);
        assert_int_equal(prof_kernel_read(k, PROF_SRC, 3, buf, 4), CLEAVE_EINVAL);
        assert_int_equal(prof_kernel_read(k, PROF_DST, 0, buf, 24), CLEAVE_OK);
        prof_kernel_release(k);
    }
    {
        /* Hardsigmoid's internal alpha tensor is not an input. */
        cleave_layer l = parse_ok("act kind=hardsigmoid n=1 c=2 h=2 w=2");
        prof_kernel *k = prepare_ok(&l, "hardsigmoid", 1, TEST_SEED);
        assert_int_equal(prof_kernel_read(k, PROF_SRC, 1, buf, 1), CLEAVE_EINVAL);
        assert_int_equal(prof_kernel_read(k, PROF_SRC, 0, buf, 8), CLEAVE_OK);
        prof_kernel_release(k);
    }
    {
        cleave_layer l = parse_ok("fc n=2 c=3 h=2 w=2 k=4 bias=0");
        prof_kernel *k = prepare_ok(&l, "fc", 1, TEST_SEED);
        assert_int_equal(prof_kernel_read(k, PROF_BIAS, 0, buf, 4), CLEAVE_EINVAL);
        assert_int_equal(prof_kernel_read(k, PROF_WEIGHTS, 0, buf, 48), CLEAVE_OK);
        assert_int_equal(prof_kernel_read(k, PROF_SRC, 0, buf, 24), CLEAVE_OK);
        assert_int_equal(prof_kernel_read(k, PROF_DST, 0, buf, 8), CLEAVE_OK);
        assert_int_equal(prof_kernel_read(k, PROF_DST, 0, buf, 9), CLEAVE_EINVAL);
        prof_kernel_release(k);
    }
}

/* Compare the backend with the reference on SPEC (relative error 1e-4), reading every tensor. */
static void check_against_ref(const char *spec)
{
    cleave_layer l = parse_ok(spec);
    ref_sizes sz;
    float *src[CLEAVE_MAX_INPUTS] = {NULL};
    float *w = NULL, *b = NULL, *bn[4] = {NULL};
    assert_int_equal(ref_sizes_init(&sz, &l), 0);
    prof_kernel *k = prepare_ok(&l, spec, 2, TEST_SEED);
    assert_int_equal(prof_kernel_run(k), CLEAVE_OK);
    for (int i = 0; i < sz.ninputs; i++)
        src[i] = read_ok(k, PROF_SRC, i, (size_t)sz.src[i], spec);
    if (sz.weights)
        w = read_ok(k, PROF_WEIGHTS, 0, (size_t)sz.weights, spec);
    if (sz.bias)
        b = read_ok(k, PROF_BIAS, 0, (size_t)sz.bias, spec);
    for (int r = 0; r < 4 && sz.bn; r++)
        bn[r] = read_ok(k, (prof_role)(PROF_MEAN + r), 0, (size_t)sz.bn, spec);
    float *out = read_ok(k, PROF_DST, 0, (size_t)sz.dst, spec);
    float *ref = malloc((size_t)sz.dst * sizeof *ref);
    assert_non_null(ref);
    ref_params p = {w, NULL, b, bn[0], bn[1], bn[2], bn[3]};
    assert_int_equal(ref_forward(&l, (const float *const *)src, &p, ref), 0);
    double max_ref = 0, worst = 0;
    for (int64_t i = 0; i < sz.dst; i++)
        max_ref = fmax(max_ref, fabs(ref[i]));
    for (int64_t i = 0; i < sz.dst; i++)
        worst = fmax(worst, isnan(out[i]) ? INFINITY : fabs((double)out[i] - ref[i]));
    if (!(worst <= 1e-4 * fmax(1.0, max_ref)))
        fail_msg("[%s] %s: max |out - ref| = %g (max |ref| %g)", spec, k->impl, worst, max_ref);
    for (int i = 0; i < sz.ninputs; i++)
        free(src[i]);
    for (int r = 0; r < 4; r++)
        free(bn[r]);
    free(w);
    free(b);
    free(out);
    free(ref);
    prof_kernel_release(k);
}

/* Shapes and parameters the shared reference test does not cover: softmax over the batch axis,
** sixteen concat inputs, two fused post-ops (hardsigmoid) on fc, a depthwise transposed conv,
** global average including padding, a 1x1 bn, the larger shapes of the impl test (so the
** optimised kernels, not just the small-shape ones, are checked). */
static void test_more_reference_cases(void **state)
{
    static const char *const extra[] = {
        "softmax n=3 c=4 h=5 w=6 axis=0",
        "concat n=2 h=3 w=2 c=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16",
        "fc n=2 c=3 h=2 w=2 k=5 act=hardsigmoid alpha=0.3 beta=0.4",
        "fc n=2 c=30 k=5 act=leaky alpha=0.2",
        "deconv n=1 c=6 h=5 w=5 k=6 kh=3 kw=3 groups=6 stride=2",
        "pool kind=avgpad global=1 n=1 c=3 h=4 w=5",
        "bn n=1 c=1 h=1 w=1",
        "act kind=clip alpha=-2 beta=-1 n=1 c=2 h=3 w=4",
        "lrn n=1 c=3 h=2 w=2 size=7",
    };
    (void)state;
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        check_against_ref(extra[i]);
    for (size_t i = 0; i < NSPECS; i++)
        check_against_ref(specs_all[i]);
}

/* Call prof_dnnl_cnn_prepare() on SPEC changed by MUTATE (bypassing validation, as a caller that
** skipped it would) and require status WANT with message MSG and no kernel. */
static void expect_prepare_error(const char *spec, void (*mutate)(cleave_layer *),
                                 cleave_status want, const char *msg)
{
    cleave_layer l = parse_ok(spec);
    char err[256] = "";
    prof_kernel *k = (prof_kernel *)&l; /* must be overwritten with NULL */
    if (mutate)
        mutate(&l);
    cleave_status st = prof_dnnl_cnn_prepare(&k, &l, 1, TEST_SEED, err, sizeof err);
    if (st != want || strcmp(err, msg) != 0 || k != NULL)
        fail_msg("[%s] got %s '%s' (kernel %p), want %s '%s'", spec, cleave_status_name(st), err,
                 (void *)k, cleave_status_name(want), msg);
}

static void mut_lrn_even(cleave_layer *l)
{
    l->size = 4;
}
static void mut_lrn_zero(cleave_layer *l)
{
    l->size = 0;
}
static void mut_groups(cleave_layer *l)
{
    l->groups = 3;
}
static void mut_kind(cleave_layer *l)
{
    l->kind = 99;
}
static void mut_act(cleave_layer *l)
{
    l->act = 99;
}
static void mut_axis(cleave_layer *l)
{
    l->axis = 4;
}
static void mut_ninputs(cleave_layer *l)
{
    l->ninputs = 0;
}
static void mut_ninputs_big(cleave_layer *l)
{
    l->ninputs = CLEAVE_MAX_INPUTS + 1;
}
static void mut_dilation(cleave_layer *l)
{
    l->dh = 0;
}
static void mut_stride(cleave_layer *l)
{
    l->sh = -1;
}
static void mut_pool_pad(cleave_layer *l)
{
    l->pt = l->pl = l->pb = l->pr = 3;
}

/* Every error prepare can report, each with its exact message, no kernel and (under ASan) no
** leak of what was built before the failure. */
static void test_prepare_errors(void **state)
{
    (void)state;
    expect_prepare_error("argmax n=1 c=3 h=2 w=2 axis=1", NULL, CLEAVE_EUNSUPPORTED,
                         "layer type 'argmax' is not handled by the oneDNN CNN backend");
    expect_prepare_error("lstm t=2 n=1 c=3 k=4", NULL, CLEAVE_EUNSUPPORTED,
                         "layer type 'lstm' is not handled by the oneDNN CNN backend");
    expect_prepare_error("lrn n=1 c=8 h=2 w=2", mut_lrn_even, CLEAVE_EUNSUPPORTED,
                         "lrn: even size 4 is not supported: oneDNN's window differs from "
                         "ONNX's");
    expect_prepare_error("lrn n=1 c=8 h=2 w=2", mut_lrn_zero, CLEAVE_EINVAL,
                         "lrn: size 0 is not positive");
    expect_prepare_error("conv n=1 c=4 h=5 w=5 k=6 kh=3 kw=3", mut_groups, CLEAVE_EINVAL,
                         "groups 3 do not divide channels 4 and 6");
    expect_prepare_error("deconv n=1 c=4 h=5 w=5 k=6 kh=3 kw=3", mut_groups, CLEAVE_EINVAL,
                         "groups 3 do not divide channels 4 and 6");
    expect_prepare_error("act kind=relu n=1 c=2 h=2 w=2", mut_kind, CLEAVE_EINVAL,
                         "eltwise: unknown activation kind 99");
    expect_prepare_error("pool kind=max n=1 c=2 h=4 w=4 kh=2 kw=2", mut_kind, CLEAVE_EINVAL,
                         "pooling: unknown kind 99");
    expect_prepare_error("conv n=1 c=2 h=4 w=4 k=2 kh=3 kw=3", mut_act, CLEAVE_EINVAL,
                         "convolution: unknown fused activation 99");
    expect_prepare_error("deconv n=1 c=2 h=4 w=4 k=2 kh=3 kw=3", mut_act, CLEAVE_EINVAL,
                         "deconvolution: unknown fused activation 99");
    expect_prepare_error("fc n=1 c=8 k=2", mut_act, CLEAVE_EINVAL,
                         "inner product: unknown fused activation 99");
    expect_prepare_error("softmax n=1 c=8 h=1 w=1 axis=1", mut_axis, CLEAVE_EINVAL,
                         "softmax: axis 4 is not 0..3");
    expect_prepare_error("concat n=1 h=2 w=2 c=1,2", mut_ninputs, CLEAVE_EINVAL,
                         "concat: 0 inputs, not 1..16");
    expect_prepare_error("concat n=1 h=2 w=2 c=1,2", mut_ninputs_big, CLEAVE_EINVAL,
                         "concat: 17 inputs, not 1..16");
    /* Failures inside oneDNN: descriptor, memory descriptor. */
    expect_prepare_error("conv n=1 c=4 h=8 w=8 k=4 kh=3 kw=3", mut_dilation, CLEAVE_EBACKEND,
                         "oneDNN convolution descriptor failed: invalid_arguments");
    expect_prepare_error("deconv n=1 c=4 h=8 w=8 k=4 kh=3 kw=3", mut_dilation, CLEAVE_EBACKEND,
                         "oneDNN deconvolution descriptor failed: invalid_arguments");
    expect_prepare_error("pool kind=avg n=1 c=4 h=8 w=8 kh=2 kw=2 stride=2", mut_pool_pad,
                         CLEAVE_EBACKEND, "oneDNN pooling descriptor failed: invalid_arguments");
    expect_prepare_error("conv n=1 c=4 h=8 w=8 k=4 kh=3 kw=3", mut_stride, CLEAVE_EBACKEND,
                         "oneDNN memory descriptor failed: invalid_arguments");

    /* No error buffer at all is tolerated. */
    {
        cleave_layer l = parse_ok("argmax n=1 c=3 h=2 w=2 axis=1");
        prof_kernel *k = NULL;
        assert_int_equal(prof_dnnl_cnn_prepare(&k, &l, 1, TEST_SEED, NULL, 0), CLEAVE_EUNSUPPORTED);
        assert_null(k);
    }
}

/* The dispatcher routes every CNN type here: the same implementation as a direct call. */
static void test_dispatch(void **state)
{
    (void)state;
    for (size_t i = 0; i < NSPECS; i++) {
        cleave_layer l = parse_ok(specs_all[i]);
        char err[256] = "";
        prof_kernel *a = NULL, *b = prepare_ok(&l, specs_all[i], 1, TEST_SEED);
        assert_string_equal(prof_backend_for(l.type), "onednn");
        if (prof_kernel_prepare(&a, &l, 1, TEST_SEED, err, sizeof err) != CLEAVE_OK)
            fail_msg("[%s] prof_kernel_prepare: %s", specs_all[i], err);
        assert_string_equal(a->impl, b->impl);
        prof_kernel_release(a);
        prof_kernel_release(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_and_impl),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_fill_order),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_more_reference_cases),
        cmocka_unit_test(test_prepare_errors),
        cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
