/* tests/unit/test-backend.c - every execution backend against the naive reference kernels. */
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

#include "profiler/backend.h"
#include "ref/ref.h"

#define TEST_SEED 20240611u
#define TEST_THREADS 2
#define REL_TOL 1e-4 /* max |out - ref| <= REL_TOL * max(1, max |ref|) */

/* Every tensor of one prepared kernel, read back in plain layout, plus the reference output. */
typedef struct case_bufs {
    float *src[CLEAVE_MAX_INPUTS];
    float *weights, *weights_iter, *bias;
    float *bn[4]; /* mean, var, scale, shift */
    float *out, *ref;
} case_bufs;

static void case_bufs_free(case_bufs *b)
{
    for (int i = 0; i < CLEAVE_MAX_INPUTS; i++)
        free(b->src[i]);
    for (int i = 0; i < 4; i++)
        free(b->bn[i]);
    free(b->weights);
    free(b->weights_iter);
    free(b->bias);
    free(b->out);
    free(b->ref);
}

/* Allocate *BUF for N floats and read tensor ROLE/IDX of K into it.  On failure writes a
** message naming SPEC and the tensor into MSG and returns -1. */
static int read_tensor(prof_kernel *k, prof_role role, int idx, int64_t n, float **buf,
                       const char *spec, char *msg, size_t msglen)
{
    cleave_status st;
    *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof **buf);
    if (!*buf) {
        snprintf(msg, msglen, "[%s] out of memory", spec);
        return -1;
    }
    st = prof_kernel_read(k, role, idx, *buf, (size_t)n);
    if (st != CLEAVE_OK) {
        snprintf(msg, msglen, "[%s] reading tensor role %d index %d (%lld floats) failed: %s", spec,
                 (int)role, idx, (long long)n, cleave_status_name(st));
        return -1;
    }
    return 0;
}

/* Require that reading tensor ROLE/IDX (which the layer does not have) is CLEAVE_EINVAL. */
static int expect_missing(prof_kernel *k, prof_role role, int idx, const char *spec, char *msg,
                          size_t msglen)
{
    float one[1];
    cleave_status st = prof_kernel_read(k, role, idx, one, 1);
    if (st != CLEAVE_EINVAL) {
        snprintf(msg, msglen, "[%s] reading missing tensor role %d index %d gave %s, not EINVAL",
                 spec, (int)role, idx, cleave_status_name(st));
        return -1;
    }
    return 0;
}

/* Require (if UNIT) every value of P[0..N) to lie in [-1, 1), the range backend.h promises
** for inputs and weights, and (for N > 1) not all values to be equal: a tensor left at zero
** would make every comparison trivial. */
static int check_filled(const float *p, int64_t n, int unit, const char *what, const char *spec,
                        char *msg, size_t msglen)
{
    int64_t distinct_at = -1;
    for (int64_t i = 0; i < n; i++) {
        if (unit && !(p[i] >= -1.0f && p[i] < 1.0f)) {
            snprintf(msg, msglen, "[%s] %s[%lld] = %g is outside [-1, 1)", spec, what, (long long)i,
                     (double)p[i]);
            return -1;
        }
        if (p[i] != p[0])
            distinct_at = i;
    }
    if (n > 1 && distinct_at < 0) {
        snprintf(msg, msglen, "[%s] %s holds %lld copies of %g, not pseudo-random data", spec, what,
                 (long long)n, (double)p[0]);
        return -1;
    }
    return 0;
}

/* Run the layer SPEC on its backend and compare with the reference.  Steps: parse, check the
** catalogue's output shape against the reference's, prepare with TEST_THREADS threads and
** TEST_SEED, run once, read every input and parameter tensor, compute the reference from them,
** read the output and require max |out - ref| <= REL_TOL * max(1, max |ref|).  Tensors the
** layer does not have must read as CLEAVE_EINVAL.  Failures name the spec and the numbers. */
static void run_case(void **state)
{
    const char *spec = *state;
    char msg[1024] = "";
    char err[256] = "";
    cleave_layer l;
    ref_sizes sz;
    case_bufs b;
    prof_kernel *k = NULL;
    cleave_status st;
    int has_rnn = 0;

    memset(&b, 0, sizeof b);
    st = cleave_layer_parse(&l, spec, err, sizeof err);
    if (st != CLEAVE_OK) {
        snprintf(msg, sizeof msg, "[%s] parse failed: %s: %s", spec, cleave_status_name(st), err);
        goto done;
    }
    if (ref_sizes_init(&sz, &l) != 0) {
        snprintf(msg, sizeof msg, "[%s] the reference has no kernel for this layer", spec);
        goto done;
    }
    has_rnn = ref_rnn_gates(l.type) > 0;

    /* The catalogue and the reference must agree on the output shape (reshape: on its size). */
    {
        const cleave_shape cs = cleave_layer_output_shape(&l);
        const int64_t celems = cs.d[0] * cs.d[1] * cs.d[2] * cs.d[3];
        const int same = l.type == CLEAVE_LAYER_RESHAPE
                             ? celems == sz.dst
                             : memcmp(cs.d, sz.dst_shape.d, sizeof cs.d) == 0;
        if (!same) {
            snprintf(msg, sizeof msg,
                     "[%s] output shape: catalogue %lldx%lldx%lldx%lld, reference "
                     "%lldx%lldx%lldx%lld",
                     spec, (long long)cs.d[0], (long long)cs.d[1], (long long)cs.d[2],
                     (long long)cs.d[3], (long long)sz.dst_shape.d[0], (long long)sz.dst_shape.d[1],
                     (long long)sz.dst_shape.d[2], (long long)sz.dst_shape.d[3]);
            goto done;
        }
    }

    st = prof_kernel_prepare(&k, &l, TEST_THREADS, TEST_SEED, err, sizeof err);
    if (st != CLEAVE_OK) {
        snprintf(msg, sizeof msg, "[%s] prepare failed: %s: %s", spec, cleave_status_name(st), err);
        k = NULL;
        goto done;
    }
    if (!k->backend || strcmp(k->backend, prof_backend_for(l.type)) != 0 ||
        k->threads != TEST_THREADS || k->layer.type != l.type) {
        snprintf(msg, sizeof msg, "[%s] kernel head: backend '%s' (expected '%s'), threads %d",
                 spec, k->backend ? k->backend : "(null)", prof_backend_for(l.type), k->threads);
        goto done;
    }
    st = prof_kernel_run(k);
    if (st != CLEAVE_OK) {
        snprintf(msg, sizeof msg, "[%s] run failed: %s", spec, cleave_status_name(st));
        goto done;
    }

    /* Inputs and parameters, exactly as the backend used them. */
    for (int i = 0; i < sz.ninputs; i++) {
        char what[32];
        if (read_tensor(k, PROF_SRC, i, sz.src[i], &b.src[i], spec, msg, sizeof msg))
            goto done;
        snprintf(what, sizeof what, "src %d", i);
        if (check_filled(b.src[i], sz.src[i], 1, what, spec, msg, sizeof msg))
            goto done;
    }
    if (expect_missing(k, PROF_SRC, sz.ninputs, spec, msg, sizeof msg))
        goto done;
    if (sz.weights) {
        if (read_tensor(k, PROF_WEIGHTS, 0, sz.weights, &b.weights, spec, msg, sizeof msg) ||
            check_filled(b.weights, sz.weights, 1, "weights", spec, msg, sizeof msg))
            goto done;
    } else if (expect_missing(k, PROF_WEIGHTS, 0, spec, msg, sizeof msg)) {
        goto done;
    }
    if (sz.weights_iter) {
        if (read_tensor(k, PROF_WEIGHTS_ITER, 0, sz.weights_iter, &b.weights_iter, spec, msg,
                        sizeof msg) ||
            check_filled(b.weights_iter, sz.weights_iter, 1, "weights_iter", spec, msg, sizeof msg))
            goto done;
    } else if (expect_missing(k, PROF_WEIGHTS_ITER, 0, spec, msg, sizeof msg)) {
        goto done;
    }
    if (sz.bias) {
        if (read_tensor(k, PROF_BIAS, 0, sz.bias, &b.bias, spec, msg, sizeof msg) ||
            check_filled(b.bias, sz.bias, 1, "bias", spec, msg, sizeof msg))
            goto done;
    } else if (!has_rnn && expect_missing(k, PROF_BIAS, 0, spec, msg, sizeof msg)) {
        /* A recurrent layer without bias may still expose oneDNN's (zero) bias tensor. */
        goto done;
    }
    for (int r = 0; r < 4; r++) {
        const prof_role role = (prof_role)(PROF_MEAN + r);
        static const char *const names[4] = {"mean", "variance", "scale", "shift"};
        if (sz.bn) {
            if (read_tensor(k, role, 0, sz.bn, &b.bn[r], spec, msg, sizeof msg) ||
                check_filled(b.bn[r], sz.bn, 0, names[r], spec, msg, sizeof msg))
                goto done;
        } else if (expect_missing(k, role, 0, spec, msg, sizeof msg)) {
            goto done;
        }
    }
    if (sz.bn)
        for (int64_t c = 0; c < sz.bn; c++)
            if (!(b.bn[1][c] > 0)) {
                snprintf(msg, sizeof msg, "[%s] bn variance[%lld] = %g is not positive", spec,
                         (long long)c, (double)b.bn[1][c]);
                goto done;
            }

    /* The reference, from the tensors read back. */
    {
        const float *srcs[CLEAVE_MAX_INPUTS];
        ref_params p = {b.weights, b.weights_iter, b.bias, b.bn[0], b.bn[1], b.bn[2], b.bn[3]};
        for (int i = 0; i < sz.ninputs; i++)
            srcs[i] = b.src[i];
        b.ref = malloc((size_t)sz.dst * sizeof *b.ref);
        if (!b.ref) {
            snprintf(msg, sizeof msg, "[%s] out of memory", spec);
            goto done;
        }
        if (ref_forward(&l, srcs, &p, b.ref) != 0) {
            snprintf(msg, sizeof msg, "[%s] the reference kernel failed", spec);
            goto done;
        }
    }

    /* The output: a wrong element count or a second output is refused, the right one read. */
    if (expect_missing(k, PROF_DST, 1, spec, msg, sizeof msg))
        goto done;
    b.out = malloc((size_t)(sz.dst + 1) * sizeof *b.out);
    if (!b.out) {
        snprintf(msg, sizeof msg, "[%s] out of memory", spec);
        goto done;
    }
    st = prof_kernel_read(k, PROF_DST, 0, b.out, (size_t)(sz.dst + 1));
    if (st != CLEAVE_EINVAL) {
        snprintf(msg, sizeof msg,
                 "[%s] reading the output with %lld floats (one too many) gave "
                 "%s, not EINVAL",
                 spec, (long long)(sz.dst + 1), cleave_status_name(st));
        goto done;
    }
    st = prof_kernel_read(k, PROF_DST, 0, b.out, (size_t)sz.dst);
    if (st != CLEAVE_OK) {
        snprintf(msg, sizeof msg, "[%s] reading the output (%lld floats) failed: %s", spec,
                 (long long)sz.dst, cleave_status_name(st));
        goto done;
    }

    /* Compare: the worst element and the tolerance scaled by the reference's magnitude. */
    {
        double max_ref = 0, worst = -1;
        int64_t worst_at = 0;
        for (int64_t i = 0; i < sz.dst; i++)
            max_ref = fmax(max_ref, fabs((double)b.ref[i]));
        const double tol = REL_TOL * fmax(1.0, max_ref);
        for (int64_t i = 0; i < sz.dst; i++) {
            const double d = fabs((double)b.out[i] - (double)b.ref[i]);
            if (!(d <= worst) || isnan(d)) {
                worst = isnan(d) ? INFINITY : d;
                worst_at = i;
            }
        }
        if (!(worst <= tol)) {
            int64_t mismatches = 0;
            for (int64_t i = 0; i < sz.dst; i++)
                if (!(fabs((double)b.out[i] - (double)b.ref[i]) <= tol))
                    mismatches++;
            snprintf(msg, sizeof msg,
                     "[%s] backend %s (%s) disagrees with the reference: %lld of %lld elements "
                     "off; worst at %lld: got %.9g, reference %.9g, |diff| %.3g > tol %.3g",
                     spec, k->backend, k->impl, (long long)mismatches, (long long)sz.dst,
                     (long long)worst_at, (double)b.out[worst_at], (double)b.ref[worst_at], worst,
                     tol);
            goto done;
        }
    }

done:
    prof_kernel_release(k);
    case_bufs_free(&b);
    if (msg[0])
        fail_msg("%s", msg);
}

/* Hand-computed values, so the oracle itself is checked before anything is compared with it. */
static void test_ref_known_values(void **state)
{
    cleave_layer l;
    char err[256];
    (void)state;

    /* conv: 1x1x3x3 input 1..9, 2x2 kernel of ones, bias 0.5, stride 1, no padding. */
    {
        const float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        const float w[4] = {1, 1, 1, 1}, bias[1] = {0.5f};
        const float *src[1] = {in};
        ref_params p = {w, NULL, bias, NULL, NULL, NULL, NULL};
        float out[4];
        assert_int_equal(
            cleave_layer_parse(&l, "conv n=1 c=1 h=3 w=3 k=1 kh=2 kw=2", err, sizeof err),
            CLEAVE_OK);
        assert_int_equal(ref_forward(&l, src, &p, out), 0);
        assert_float_equal(out[0], 12.5f, 1e-6);
        assert_float_equal(out[1], 16.5f, 1e-6);
        assert_float_equal(out[2], 24.5f, 1e-6);
        assert_float_equal(out[3], 28.5f, 1e-6);
    }
    /* deconv stride 2, 2x2 kernel [1 2; 3 4], 1x1x2x1 input [1; 10], no bias:
    ** output 4x2 = [1 2; 3 4; 10 20; 30 40]. */
    {
        const float in[2] = {1, 10};
        const float w[4] = {1, 2, 3, 4};
        const float *src[1] = {in};
        const float want[8] = {1, 2, 3, 4, 10, 20, 30, 40};
        ref_params p = {w, NULL, NULL, NULL, NULL, NULL, NULL};
        float out[8];
        assert_int_equal(cleave_layer_parse(&l,
                                            "deconv n=1 c=1 h=2 w=1 k=1 kh=2 kw=2 stride=2 bias=0",
                                            err, sizeof err),
                         CLEAVE_OK);
        assert_int_equal(ref_forward(&l, src, &p, out), 0);
        for (int i = 0; i < 8; i++)
            assert_float_equal(out[i], want[i], 1e-6);
    }
    /* 2x2 avg pool with padding 1 over a 2x2 plane of ones: every window holds one element,
    ** so avg (excluding padding) gives 1 and avgpad gives 1/4; max gives 1. */
    {
        const float in[4] = {1, 1, 1, 1};
        const float *src[1] = {in};
        float out[9];
        assert_int_equal(cleave_layer_parse(&l,
                                            "pool kind=avg n=1 c=1 h=2 w=2 kh=2 kw=2 "
                                            "stride=2 pad=1",
                                            err, sizeof err),
                         CLEAVE_OK);
        assert_int_equal(ref_forward(&l, src, NULL, out), 0);
        assert_float_equal(out[0], 1.0f, 1e-6);
        l.kind = CLEAVE_POOL_AVG_PAD;
        assert_int_equal(ref_forward(&l, src, NULL, out), 0);
        assert_float_equal(out[0], 0.25f, 1e-6);
    }
    /* lrn size 3, alpha 3, beta 1, k 1 on channels [1 2 3]: sq = 5, 14, 13;
    ** y = x / (1 + sq) = 1/6, 2/15, 3/14. */
    {
        const float in[3] = {1, 2, 3};
        const float *src[1] = {in};
        float out[3];
        assert_int_equal(cleave_layer_parse(&l, "lrn n=1 c=3 h=1 w=1 size=3 alpha=3 beta=1 lrn_k=1",
                                            err, sizeof err),
                         CLEAVE_OK);
        assert_int_equal(ref_forward(&l, src, NULL, out), 0);
        assert_float_equal(out[0], 1.0 / 6, 1e-6);
        assert_float_equal(out[1], 2.0 / 15, 1e-6);
        assert_float_equal(out[2], 3.0 / 14, 1e-6);
    }
    /* argmax takes the first of equal maxima. */
    {
        const float in[4] = {0.5f, 2, 2, 1};
        const float *src[1] = {in};
        float out[1];
        assert_int_equal(cleave_layer_parse(&l, "argmax n=1 c=4 h=1 w=1 axis=1", err, sizeof err),
                         CLEAVE_OK);
        assert_int_equal(ref_forward(&l, src, NULL, out), 0);
        assert_float_equal(out[0], 1.0f, 0);
    }
    /* transpose perm=0,2,3,1 of a 1x2x1x3 tensor: out[0][0][w][c] = in[0][c][0][w]. */
    {
        const float in[6] = {0, 1, 2, 10, 11, 12};
        const float want[6] = {0, 10, 1, 11, 2, 12};
        const float *src[1] = {in};
        float out[6];
        assert_int_equal(
            cleave_layer_parse(&l, "transpose n=1 c=2 h=1 w=3 perm=0,2,3,1", err, sizeof err),
            CLEAVE_OK);
        assert_int_equal(ref_forward(&l, src, NULL, out), 0);
        for (int i = 0; i < 6; i++)
            assert_float_equal(out[i], want[i], 0);
    }
    /* One LSTM step, c = k = 1, all weights 1, bias 0, x = 1: every gate pre-activation is 1,
    ** c_1 = sigmoid(1) * tanh(1), h_1 = sigmoid(1) * tanh(c_1).  GRU the same: u = r = s(1),
    ** o = tanh(1) (h_0 = 0), h_1 = (1 - s(1)) * tanh(1).  RNN: h_1 = tanh(1). */
    {
        const float x[1] = {1};
        const float ones[4] = {1, 1, 1, 1};
        const float *src[1] = {x};
        const double s1 = 1 / (1 + exp(-1.0));
        ref_params p = {ones, ones, NULL, NULL, NULL, NULL, NULL};
        float out[1];
        assert_int_equal(cleave_layer_parse(&l, "lstm t=1 n=1 c=1 k=1 bias=0", err, sizeof err),
                         CLEAVE_OK);
        assert_int_equal(ref_forward(&l, src, &p, out), 0);
        assert_float_equal(out[0], s1 * tanh(s1 * tanh(1.0)), 1e-6);
        assert_int_equal(cleave_layer_parse(&l, "gru t=1 n=1 c=1 k=1 bias=0", err, sizeof err),
                         CLEAVE_OK);
        assert_int_equal(ref_forward(&l, src, &p, out), 0);
        assert_float_equal(out[0], (1 - s1) * tanh(1.0), 1e-6);
        assert_int_equal(cleave_layer_parse(&l, "rnn t=1 n=1 c=1 k=1 bias=0", err, sizeof err),
                         CLEAVE_OK);
        assert_int_equal(ref_forward(&l, src, &p, out), 0);
        assert_float_equal(out[0], tanh(1.0), 1e-6);
    }
}

/* An even LRN size: ONNX's window is [c - (size-1)/2, c + size/2] but oneDNN's is symmetric,
** (size-1)/2 channels either side, so oneDNN computes something else.  A backend must either
** refuse the layer (CLEAVE_EUNSUPPORTED, naming lrn) or compute the ONNX result. */
static void test_lrn_even_size(void **state)
{
    const char *spec = *state;
    cleave_layer l;
    char err[256] = "";
    prof_kernel *k = NULL;
    cleave_status st = cleave_layer_parse(&l, spec, err, sizeof err);
    if (st != CLEAVE_OK)
        fail_msg("[%s] parse failed: %s: %s", spec, cleave_status_name(st), err);
    st = prof_kernel_prepare(&k, &l, TEST_THREADS, TEST_SEED, err, sizeof err);
    if (st == CLEAVE_EUNSUPPORTED) {
        assert_null(k);
        if (!strstr(err, "lrn"))
            fail_msg("[%s] refused without naming lrn: '%s'", spec, err);
        return;
    }
    prof_kernel_release(k);
    run_case(state);
}

/* Parse SPEC and prepare it with the test thread count and SEED; fails the test otherwise. */
static prof_kernel *prepare_spec(const char *spec, uint64_t seed)
{
    cleave_layer l;
    char err[256] = "";
    prof_kernel *k = NULL;
    cleave_status st = cleave_layer_parse(&l, spec, err, sizeof err);
    if (st != CLEAVE_OK)
        fail_msg("[%s] parse failed: %s: %s", spec, cleave_status_name(st), err);
    st = prof_kernel_prepare(&k, &l, TEST_THREADS, seed, err, sizeof err);
    if (st != CLEAVE_OK)
        fail_msg("[%s] prepare failed: %s: %s", spec, cleave_status_name(st), err);
    return k;
}

/* Tensors a layer does not have, indices out of range and wrong element counts are EINVAL. */
static void test_read_missing(void **state)
{
    const char *spec = "conv n=1 c=2 h=4 w=4 k=3 kh=3 kw=3 bias=0";
    prof_kernel *k = prepare_spec(spec, TEST_SEED);
    float buf[64];
    (void)state;
    assert_int_equal(prof_kernel_read(k, PROF_BIAS, 0, buf, 3), CLEAVE_EINVAL);
    assert_int_equal(prof_kernel_read(k, PROF_SRC, 1, buf, 32), CLEAVE_EINVAL);
    assert_int_equal(prof_kernel_read(k, PROF_SRC, -1, buf, 32), CLEAVE_EINVAL);
    assert_int_equal(prof_kernel_read(k, PROF_WEIGHTS, 1, buf, 54), CLEAVE_EINVAL);
    assert_int_equal(prof_kernel_read(k, PROF_WEIGHTS_ITER, 0, buf, 54), CLEAVE_EINVAL);
    assert_int_equal(prof_kernel_read(k, PROF_MEAN, 0, buf, 2), CLEAVE_EINVAL);
    assert_int_equal(prof_kernel_read(k, PROF_DST, 0, buf, 11), CLEAVE_EINVAL);
    assert_int_equal(prof_kernel_read(k, PROF_DST, 0, buf, 13), CLEAVE_EINVAL);
    assert_int_equal(prof_kernel_read(k, PROF_SRC, 0, buf, 31), CLEAVE_EINVAL);
    /* The right counts work: src 1*2*4*4, weights 3*2*3*3, dst 1*3*2*2. */
    assert_int_equal(prof_kernel_read(k, PROF_SRC, 0, buf, 32), CLEAVE_OK);
    assert_int_equal(prof_kernel_read(k, PROF_WEIGHTS, 0, buf, 54), CLEAVE_OK);
    assert_int_equal(prof_kernel_read(k, PROF_DST, 0, buf, 12), CLEAVE_OK);
    prof_kernel_release(k);

    k = prepare_spec("argmax n=1 c=3 h=2 w=2 axis=1", TEST_SEED);
    assert_int_equal(prof_kernel_read(k, PROF_WEIGHTS, 0, buf, 1), CLEAVE_EINVAL);
    assert_int_equal(prof_kernel_read(k, PROF_DST, 0, buf, 12), CLEAVE_EINVAL);
    assert_int_equal(prof_kernel_read(k, PROF_DST, 0, buf, 4), CLEAVE_OK);
    prof_kernel_release(k);

    k = prepare_spec("reshape n=1 c=3 h=2 w=2", TEST_SEED);
    assert_int_equal(prof_kernel_read(k, PROF_WEIGHTS, 0, buf, 1), CLEAVE_EINVAL);
    assert_int_equal(prof_kernel_read(k, PROF_SRC, 1, buf, 12), CLEAVE_EINVAL);
    assert_int_equal(prof_kernel_read(k, PROF_SRC, 0, buf, 12), CLEAVE_OK);
    prof_kernel_release(k);
}

static void test_release_null(void **state)
{
    (void)state;
    prof_kernel_release(NULL);
}

/* Each layer type goes to the backend backend.h names, and the kernel head says so. */
static void test_backend_names(void **state)
{
    static const struct {
        const char *spec, *backend;
    } cases[] = {
        {"conv n=1 c=2 h=4 w=4 k=2 kh=3 kw=3", "onednn"},
        {"argmax n=1 c=3 h=2 w=2 axis=1", "portable"},
        {"reshape n=1 c=3 h=2 w=2", "none"},
    };
    (void)state;
    assert_string_equal(prof_backend_for(CLEAVE_LAYER_CONV), "onednn");
    assert_string_equal(prof_backend_for(CLEAVE_LAYER_LSTM), "onednn");
    assert_string_equal(prof_backend_for(CLEAVE_LAYER_ARGMAX), "portable");
    assert_string_equal(prof_backend_for(CLEAVE_LAYER_TRANSPOSE), "portable");
    assert_string_equal(prof_backend_for(CLEAVE_LAYER_RESHAPE), "none");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        prof_kernel *k = prepare_spec(cases[i].spec, TEST_SEED);
        if (!k->backend || strcmp(k->backend, cases[i].backend) != 0) {
            const char *got = k->backend ? k->backend : "(null)";
            prof_kernel_release(k);
            fail_msg("[%s] backend '%s', expected '%s'", cases[i].spec, got, cases[i].backend);
        }
        assert_int_equal(k->threads, TEST_THREADS);
        assert_true(k->impl[0] != '\0');
        assert_non_null(memchr(k->impl, '\0', sizeof k->impl));
        prof_kernel_release(k);
    }
}

/* The same seed fills the same data; another seed fills different data. */
static void test_seed_determinism(void **state)
{
    const char *spec = "conv n=1 c=2 h=4 w=4 k=3 kh=3 kw=3";
    float a[54], b[54];
    prof_kernel *k1 = prepare_spec(spec, TEST_SEED);
    prof_kernel *k2 = prepare_spec(spec, TEST_SEED);
    prof_kernel *k3 = prepare_spec(spec, TEST_SEED + 1);
    (void)state;
    assert_int_equal(prof_kernel_read(k1, PROF_SRC, 0, a, 32), CLEAVE_OK);
    assert_int_equal(prof_kernel_read(k2, PROF_SRC, 0, b, 32), CLEAVE_OK);
    assert_memory_equal(a, b, 32 * sizeof a[0]);
    assert_int_equal(prof_kernel_read(k1, PROF_WEIGHTS, 0, a, 54), CLEAVE_OK);
    assert_int_equal(prof_kernel_read(k2, PROF_WEIGHTS, 0, b, 54), CLEAVE_OK);
    assert_memory_equal(a, b, 54 * sizeof a[0]);
    assert_int_equal(prof_kernel_read(k3, PROF_WEIGHTS, 0, b, 54), CLEAVE_OK);
    assert_memory_not_equal(a, b, 54 * sizeof a[0]);
    prof_kernel_release(k1);
    prof_kernel_release(k2);
    prof_kernel_release(k3);
}

/* One equivalence case: NAME is what cmocka prints, SPEC the layer in text syntax. */
#define CASE(name, spec)                                                                           \
    {                                                                                              \
        name, run_case, NULL, NULL, (void *)(spec)                                                 \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_known_values),
        cmocka_unit_test(test_release_null),
        cmocka_unit_test(test_backend_names),
        cmocka_unit_test(test_read_missing),
        cmocka_unit_test(test_seed_determinism),

        /* convolution */
        CASE("conv_groups_stride_dilation",
             "conv n=2 c=8 h=9 w=11 k=12 kh=3 kw=3 stride=2 pad=1 dilation=2 groups=4 act=relu"),
        CASE("conv_plain", "conv n=2 c=3 h=8 w=7 k=5 kh=3 kw=3 pad=1"),
        CASE("conv_asym_pad", "conv n=1 c=3 h=7 w=8 k=5 kh=3 kw=2 sh=1 sw=2 pt=0 pl=1 pb=2 pr=0"),
        CASE("conv_asym_stride_pad", "conv n=1 c=4 h=10 w=9 k=4 kh=3 kw=3 sh=3 sw=2 pt=2 pl=1 "
                                     "pb=1 pr=2"),
        CASE("conv_dilation_hw", "conv n=1 c=4 h=12 w=10 k=4 kh=3 kw=3 dh=2 dw=3 pad=2"),
        CASE("conv_bias_off", "conv n=1 c=4 h=6 w=6 k=6 kh=3 kw=3 pad=1 bias=0"),
        CASE("conv_1x1", "conv n=2 c=16 h=5 w=5 k=8 kh=1 kw=1"),
        CASE("conv_7x7_stride2", "conv n=1 c=3 h=16 w=16 k=8 kh=7 kw=7 stride=2 pad=3"),
        CASE("conv_depthwise", "conv n=1 c=8 h=10 w=10 k=8 kh=3 kw=3 pad=1 groups=8"),
        CASE("conv_depthwise_stride2",
             "conv n=2 c=6 h=9 w=9 k=6 kh=5 kw=5 stride=2 pad=2 groups=6 act=relu6"),
        CASE("conv_groups_bias_off", "conv n=1 c=6 h=6 w=6 k=9 kh=3 kw=3 groups=3 bias=0"),
        CASE("conv_act_relu", "conv n=1 c=16 h=5 w=5 k=4 kh=3 kw=3 pad=1 act=relu"),
        CASE("conv_act_relu6", "conv n=1 c=16 h=5 w=5 k=4 kh=3 kw=3 pad=1 act=relu6"),
        CASE("conv_act_clip", "conv n=1 c=16 h=5 w=5 k=4 kh=3 kw=3 pad=1 act=clip alpha=-1.5 "
                              "beta=2.5"),
        CASE("conv_act_clip_default", "conv n=1 c=16 h=5 w=5 k=4 kh=3 kw=3 pad=1 act=clip"),
        CASE("conv_act_sigmoid", "conv n=1 c=16 h=5 w=5 k=4 kh=3 kw=3 pad=1 act=sigmoid"),
        CASE("conv_act_tanh", "conv n=1 c=16 h=5 w=5 k=4 kh=3 kw=3 pad=1 act=tanh"),
        CASE("conv_act_hardswish", "conv n=1 c=16 h=5 w=5 k=4 kh=3 kw=3 pad=1 act=hardswish"),
        CASE("conv_act_hardsigmoid", "conv n=1 c=16 h=5 w=5 k=4 kh=3 kw=3 pad=1 act=hardsigmoid"),
        CASE("conv_act_leaky", "conv n=1 c=16 h=5 w=5 k=4 kh=3 kw=3 pad=1 act=leaky alpha=0.1"),

        /* transposed convolution */
        CASE("deconv_stride2_groups2", "deconv n=1 c=4 h=5 w=6 k=6 kh=3 kw=3 stride=2 pad=1 "
                                       "groups=2"),
        CASE("deconv_upsample", "deconv n=2 c=3 h=4 w=4 k=2 kh=4 kw=4 stride=2 pad=1"),
        CASE("deconv_asym", "deconv n=1 c=2 h=4 w=5 k=3 kh=3 kw=2 sh=2 sw=1 pt=1 pl=0 pb=0 pr=1"),
        CASE("deconv_dilation", "deconv n=1 c=2 h=4 w=4 k=2 kh=3 kw=3 stride=2 dilation=2"),
        CASE("deconv_bias_off_relu", "deconv n=1 c=4 h=3 w=3 k=4 kh=2 kw=2 stride=2 bias=0 "
                                     "act=relu"),

        /* pooling */
        CASE("pool_max_pad", "pool kind=max n=2 c=3 h=9 w=10 kh=3 kw=3 stride=2 pad=1"),
        CASE("pool_max_asym", "pool kind=max n=1 c=2 h=6 w=7 kh=2 kw=3 sh=2 sw=1 pt=1 pl=0 pb=0 "
                              "pr=2"),
        CASE("pool_max_2x2", "pool kind=max n=1 c=4 h=8 w=8 kh=2 kw=2 stride=2"),
        CASE("pool_avg_pad", "pool kind=avg n=1 c=4 h=7 w=7 kh=3 kw=3 stride=2 pad=1"),
        CASE("pool_avgpad_pad", "pool kind=avgpad n=1 c=4 h=7 w=7 kh=3 kw=3 stride=2 pad=1"),
        CASE("pool_avg_asym", "pool kind=avg n=2 c=3 h=6 w=5 kh=3 kw=2 sh=1 sw=2 pt=0 pl=1 pb=2 "
                              "pr=1"),
        CASE("pool_avgpad_asym", "pool kind=avgpad n=2 c=3 h=6 w=5 kh=3 kw=2 sh=1 sw=2 pt=0 "
                                 "pl=1 pb=2 pr=1"),
        CASE("pool_global_avg", "pool kind=avg global=1 n=2 c=5 h=7 w=6"),
        CASE("pool_global_max", "pool kind=max global=1 n=2 c=5 h=7 w=6"),

        /* fully connected */
        CASE("fc_4d", "fc n=2 c=3 h=4 w=5 k=7"),
        CASE("fc_4d_bias_off", "fc n=2 c=3 h=4 w=5 k=7 bias=0"),
        CASE("fc_2d_bias_off", "fc n=3 c=20 k=10 bias=0"),
        CASE("fc_act_sigmoid", "fc n=2 c=8 h=2 w=2 k=5 act=sigmoid"),
        CASE("fc_act_relu", "fc n=1 c=64 k=9 act=relu"),

        /* normalisation and elementwise */
        CASE("bn", "bn n=2 c=5 h=4 w=3"),
        CASE("act_relu", "act kind=relu n=2 c=3 h=4 w=5"),
        CASE("act_relu6", "act kind=relu6 n=2 c=3 h=4 w=5"),
        CASE("act_clip", "act kind=clip alpha=-0.3 beta=0.4 n=2 c=3 h=4 w=5"),
        CASE("act_sigmoid", "act kind=sigmoid n=2 c=3 h=4 w=5"),
        CASE("act_tanh", "act kind=tanh n=2 c=3 h=4 w=5"),
        CASE("act_hardswish", "act kind=hardswish n=2 c=3 h=4 w=5"),
        CASE("act_hardsigmoid", "act kind=hardsigmoid n=2 c=3 h=4 w=5"),
        CASE("act_hardsigmoid_params", "act kind=hardsigmoid alpha=2 beta=0.3 n=2 c=3 h=4 w=5"),
        CASE("act_leaky", "act kind=leaky alpha=0.2 n=2 c=3 h=4 w=5"),
        CASE("lrn_size5", "lrn n=2 c=7 h=3 w=4 size=5 alpha=1 beta=0.75 lrn_k=2"),
        CASE("lrn_size3", "lrn n=1 c=6 h=2 w=3 size=3 alpha=2 beta=0.5 lrn_k=1"),
        CASE("lrn_default", "lrn n=1 c=8 h=3 w=3"),
        {"lrn_size4", test_lrn_even_size, NULL, NULL,
         (void *)"lrn n=1 c=6 h=2 w=2 size=4 alpha=1.5 beta=0.75 lrn_k=1"},
        CASE("dropout", "dropout n=2 c=3 h=4 w=5"),
        CASE("softmax_axis1", "softmax n=2 c=5 h=3 w=4 axis=1"),
        CASE("softmax_axis3", "softmax n=2 c=5 h=3 w=4 axis=3"),
        CASE("softmax_axis2", "softmax n=2 c=3 h=6 w=2 axis=2"),
        CASE("argmax_axis1", "argmax n=2 c=6 h=3 w=4 axis=1"),
        CASE("argmax_axis3", "argmax n=2 c=3 h=2 w=7 axis=3"),
        CASE("add", "add n=2 c=3 h=4 w=5"),
        CASE("mul", "mul n=2 c=3 h=4 w=5"),
        CASE("concat_3", "concat n=2 h=3 w=4 c=4,6,2"),
        CASE("concat_2", "concat n=1 h=2 w=5 c=1,3"),

        /* data movement */
        CASE("pad_asym", "pad n=1 c=2 h=3 w=4 pt=1 pl=2 pb=0 pr=3"),
        CASE("pad_all", "pad n=2 c=2 h=2 w=3 pad=1"),
        CASE("transpose_nhwc", "transpose n=2 c=3 h=4 w=5 perm=0,2,3,1"),
        CASE("transpose_nchw_from_nhwc", "transpose n=2 c=3 h=4 w=5 perm=0,3,1,2"),
        CASE("transpose_reverse", "transpose n=2 c=3 h=4 w=5 perm=3,2,1,0"),
        CASE("transpose_swap_nc", "transpose n=2 c=3 h=4 w=5 perm=1,0,2,3"),
        CASE("slice_axis1", "slice n=2 c=6 h=3 w=4 axis=1 start=1 end=4"),
        CASE("slice_axis3", "slice n=2 c=3 h=4 w=7 axis=3 start=2 end=7"),
        CASE("reshape", "reshape n=2 c=3 h=4 w=5"),

        /* recurrent */
        CASE("lstm", "lstm t=4 n=2 c=5 k=6"),
        CASE("lstm_bidirectional", "lstm t=3 n=2 c=4 k=5 dirs=2"),
        CASE("lstm_two_layers", "lstm t=3 n=2 c=6 k=6 layers=2"),
        CASE("gru", "gru t=4 n=2 c=5 k=6"),
        CASE("gru_bidirectional", "gru t=3 n=1 c=3 k=4 dirs=2"),
        CASE("rnn", "rnn t=4 n=2 c=5 k=6"),
        CASE("rnn_bias_off", "rnn t=3 n=2 c=4 k=3 bias=0"),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
