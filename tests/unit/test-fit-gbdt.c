/*
** tests/unit/test-fit-gbdt.c - gradient-boosted trees: the split finder against an exhaustive
** search on random small data, a one-round stump against the best stump, determinism given
** the seed, a step function, save/load round trips and refused blobs.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cleave/cleave.h>

#include "common/rng.h"
#include "fit/gbdt.h"
#include "fit/model.h"

/* ---- the oracle --------------------------------------------------------------------------- */

/* Sum of squared deviations from their mean of the R values of the rows with SIDE[i] == WANT. */
static double sse_of(const double *r, const int *side, size_t n, int want)
{
    double mean = 0.0, sse = 0.0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (side[i] == want) {
            mean += r[i];
            k++;
        }
    if (k == 0)
        return 0.0;
    mean /= (double)k;
    for (size_t i = 0; i < n; i++)
        if (side[i] == want)
            sse += (r[i] - mean) * (r[i] - mean);
    return sse;
}

/* SSE reduction of sending rows with x[f] <= THR left, and the rows going left. */
static double split_gain(const double *x, size_t n, size_t p, const double *r, size_t f, double thr,
                         size_t *nleft)
{
    int side[64];
    *nleft = 0;
    for (size_t i = 0; i < n; i++) {
        side[i] = x[i * p + f] <= thr ? 0 : 1;
        *nleft += side[i] == 0;
    }
    int all[64] = {0};
    return sse_of(r, all, n, 0) - sse_of(r, side, n, 0) - sse_of(r, side, n, 1);
}

/* Every feature, every midpoint between two distinct sorted values, both sides at least
** MIN_LEAF rows: the largest SSE reduction (0 when no candidate), its feature and threshold. */
static double exhaustive_best(const double *x, size_t n, size_t p, const double *r, size_t min_leaf,
                              size_t *feature, double *thr)
{
    double best = 0.0;
    for (size_t f = 0; f < p; f++) {
        double v[64];
        for (size_t i = 0; i < n; i++)
            v[i] = x[i * p + f];
        for (size_t i = 1; i < n; i++) /* insertion sort */
            for (size_t k = i; k > 0 && v[k - 1] > v[k]; k--) {
                double tmp = v[k];
                v[k] = v[k - 1];
                v[k - 1] = tmp;
            }
        for (size_t i = 0; i + 1 < n; i++) {
            if (v[i] == v[i + 1])
                continue;
            double mid = (v[i] + v[i + 1]) / 2;
            size_t nl;
            double g = split_gain(x, n, p, r, f, mid, &nl);
            if (nl >= min_leaf && n - nl >= min_leaf && g > best) {
                best = g;
                *feature = f;
                *thr = mid;
            }
        }
    }
    return best;
}

/* ---- tests -------------------------------------------------------------------------------- */

/* 500 random problems (n <= 12, p <= 3, min_leaf 1..3, half of them with many tied values):
** the splitter's best gain is the exhaustive search's, and the split it returns achieves it. */
static void test_split_oracle(void **state)
{
    (void)state;
    uint64_t s = 2024;
    int found_some = 0, none_some = 0;
    for (int c = 0; c < 500; c++) {
        size_t n = 1 + (size_t)(cl_rng_next(&s) % 12);
        size_t p = 1 + (size_t)(cl_rng_next(&s) % 3);
        size_t min_leaf = 1 + (size_t)(cl_rng_next(&s) % 3);
        int ties = c % 2;
        double x[36], r[12];
        for (size_t i = 0; i < n * p; i++)
            x[i] = ties ? (double)(cl_rng_next(&s) % 3) : 10.0 * cl_rng_uniform(&s) - 5.0;
        for (size_t i = 0; i < n; i++)
            r[i] = 4.0 * cl_rng_uniform(&s) - 2.0;

        size_t of = 0;
        double othr = 0.0;
        double want = exhaustive_best(x, n, p, r, min_leaf, &of, &othr);
        fit_gbdt_split sp;
        memset(&sp, 0, sizeof sp);
        int got = fit_gbdt_best_split(x, n, p, r, min_leaf, &sp);
        assert_true(got >= 0);
        int all[12] = {0};
        double tol = 1e-10 * (1.0 + sse_of(r, all, n, 0));
        if (want <= tol) {
            if (got && sp.gain > tol)
                fail_msg("case %d: no split gains, splitter found %.17g", c, sp.gain);
            none_some = 1;
            continue;
        }
        found_some = 1;
        if (!got)
            fail_msg("case %d (n=%zu p=%zu leaf=%zu): best gain %.17g missed", c, n, p, min_leaf,
                     want);
        if (fabs(sp.gain - want) > tol)
            fail_msg("case %d: gain %.17g, exhaustive %.17g (feature %zu at %g)", c, sp.gain, want,
                     of, othr);
        size_t nl;
        assert_true(sp.feature < p);
        double g = split_gain(x, n, p, r, sp.feature, sp.threshold, &nl);
        if (fabs(g - want) > tol || nl != sp.nleft || nl < min_leaf || n - nl < min_leaf)
            fail_msg("case %d: the returned split gains %.17g with %zu left, want %.17g", c, g, nl,
                     want);
    }
    assert_true(found_some && none_some);
}

/* Depth 1, one round, nu = 1, no subsampling: the model is the best stump, predicting the mean
** target of each side. */
static void test_stump(void **state)
{
    (void)state;
    enum { N = 40, P = 3 };
    double x[N * P], t[N], r[N];
    uint64_t s = 77;
    for (size_t i = 0; i < N * P; i++)
        x[i] = cl_rng_uniform(&s);
    double mean = 0.0;
    for (size_t i = 0; i < N; i++) {
        t[i] = (x[i * P + 1] > 0.6 ? 2.0 : 0.0) + cl_rng_uniform(&s);
        mean += t[i] / N;
    }
    for (size_t i = 0; i < N; i++)
        r[i] = t[i] - mean;
    fit_gbdt_settings set = {1, 3, 1.0, 1, 1.0, 0};
    fit_model *m = NULL;
    char err[256] = "";
    assert_int_equal(fit_gbdt_train_with(&m, x, N, P, t, NULL, &set, err, sizeof err), CLEAVE_OK);
    assert_int_equal(fit_gbdt_rounds(m), 1);

    size_t f = 0;
    double thr = 0.0, side_mean[2] = {0, 0};
    size_t side_n[2] = {0, 0};
    assert_true(exhaustive_best(x, N, P, r, 3, &f, &thr) > 0);
    for (size_t i = 0; i < N; i++) {
        int side = x[i * P + f] <= thr ? 0 : 1;
        side_mean[side] += t[i];
        side_n[side]++;
    }
    for (int k = 0; k < 2; k++)
        side_mean[k] /= (double)side_n[k];
    for (size_t i = 0; i < N; i++) {
        double want = side_mean[x[i * P + f] <= thr ? 0 : 1];
        if (fabs(fit_predict(m, x + i * P) - want) > 1e-12)
            fail_msg("row %zu: stump predicts %.17g, want %.17g", i, fit_predict(m, x + i * P),
                     want);
    }
    fit_model_free(m);
}

static void make_data(double *x, double *y, size_t n, size_t p, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < p; j++)
            x[i * p + j] = cl_rng_uniform(&s);
        y[i] =
            exp(1.0 + x[i * p] + 0.5 * sin(6.0 * x[i * p + 1])) * (1 + 0.05 * cl_rng_uniform(&s));
    }
}

/* The same seed gives bit-identical predictions; another seed (other subsamples and fold)
** gives different ones. */
static void test_determinism(void **state)
{
    (void)state;
    enum { N = 200, P = 4, NQ = 100 };
    double *x = malloc(sizeof *x * (N + NQ) * P), *y = malloc(sizeof *y * (N + NQ));
    assert_non_null(x);
    assert_non_null(y);
    make_data(x, y, N + NQ, P, 5);
    fit_opts o;
    fit_opts_default(&o, FIT_GBDT);
    o.seed = 7;
    fit_model *a = NULL, *b = NULL, *c = NULL;
    char err[256] = "";
    assert_int_equal(fit_train(&a, FIT_GBDT, x, N, P, y, &o, err, sizeof err), CLEAVE_OK);
    assert_int_equal(fit_train(&b, FIT_GBDT, x, N, P, y, &o, err, sizeof err), CLEAVE_OK);
    o.seed = 8;
    assert_int_equal(fit_train(&c, FIT_GBDT, x, N, P, y, &o, err, sizeof err), CLEAVE_OK);
    int differ = 0;
    for (size_t i = N; i < N + NQ; i++) {
        double pa = fit_predict(a, x + i * P), pb = fit_predict(b, x + i * P);
        assert_memory_equal(&pa, &pb, sizeof pa);
        differ |= pa != fit_predict(c, x + i * P);
    }
    assert_true(differ);
    fit_model_free(a);
    fit_model_free(b);
    fit_model_free(c);
    free(x);
    free(y);
}

/* A step in one feature among noise features is fitted to within 1% away from the step. */
static void test_step(void **state)
{
    (void)state;
    enum { N = 300, P = 3 };
    double x[N * P], y[N];
    uint64_t s = 31;
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < P; j++)
            x[i * P + j] = cl_rng_uniform(&s);
        y[i] = x[i * P + 2] < 0.5 ? 10.0 : 30.0;
    }
    fit_model *m = NULL;
    char err[256] = "";
    assert_int_equal(fit_train(&m, FIT_GBDT, x, N, P, y, NULL, err, sizeof err), CLEAVE_OK);
    for (int k = 0; k < 100; k++) {
        double q[P] = {cl_rng_uniform(&s), cl_rng_uniform(&s), cl_rng_uniform(&s)};
        if (fabs(q[2] - 0.5) < 0.02)
            continue;
        double want = q[2] < 0.5 ? 10.0 : 30.0, got = fit_predict(m, q);
        if (fabs(got - want) > 0.01 * want)
            fail_msg("step at x2=%.3f: predicted %.5g, want %.5g", q[2], got, want);
    }
    char desc[128];
    fit_model_describe(m, desc, sizeof desc);
    assert_non_null(strstr(desc, "depth=4 nu=0.1"));
    fit_model_free(m);
}

/* Save, load, predict bit-identically, save again to the same bytes; every truncation, a
** trailing byte, a child before its parent and a feature out of range are refused. */
static void test_save_load(void **state)
{
    (void)state;
    enum { N = 150, P = 3, NQ = 50 };
    double x[(N + NQ) * P], y[N + NQ];
    make_data(x, y, N + NQ, P, 12);
    fit_model *m = NULL, *back = NULL;
    char err[256] = "";
    assert_int_equal(fit_train(&m, FIT_GBDT, x, N, P, y, NULL, err, sizeof err), CLEAVE_OK);
    void *blob = NULL, *blob2 = NULL;
    size_t bytes = 0, bytes2 = 0;
    assert_int_equal(fit_model_save(m, &blob, &bytes), CLEAVE_OK);
    if (fit_model_load(&back, blob, bytes, err, sizeof err) != CLEAVE_OK)
        fail_msg("load: %s", err);
    for (size_t i = N; i < N + NQ; i++) {
        double a = fit_predict(m, x + i * P), b = fit_predict(back, x + i * P);
        assert_memory_equal(&a, &b, sizeof a);
    }
    assert_int_equal(fit_model_save(back, &blob2, &bytes2), CLEAVE_OK);
    assert_int_equal(bytes2, bytes);
    assert_memory_equal(blob2, blob, bytes);
    fit_model_free(back);
    free(blob2);

    unsigned char *copy = malloc(bytes + 1);
    assert_non_null(copy);
    memcpy(copy, blob, bytes);
    for (size_t len = 0; len < bytes; len++) {
        back = (fit_model *)1;
        if (fit_model_load(&back, copy, len, err, sizeof err) != CLEAVE_EPARSE)
            fail_msg("a blob cut to %zu of %zu bytes was accepted", len, bytes);
        assert_null(back);
    }
    copy[bytes] = 0;
    assert_int_equal(fit_model_load(&back, copy, bytes + 1, err, sizeof err), CLEAVE_EPARSE);
    assert_string_equal(err, "stored model is truncated or malformed");

    /* Header 64 bytes (no clamp), then f0, nu, depth, ntrees, nnodes, roots, nodes of 40
    ** bytes. */
    uint64_t ntrees;
    memcpy(&ntrees, copy + 64 + 24, 8);
    size_t node0 = 64 + 40 + 8 * (size_t)ntrees;
    uint64_t feature, zero = 0, big = 1000;
    memcpy(&feature, copy + node0, 8);
    assert_true(feature > 0);            /* the first tree's root splits */
    memcpy(copy + node0 + 16, &zero, 8); /* left child = the node itself */
    assert_int_equal(fit_model_load(&back, copy, bytes, err, sizeof err), CLEAVE_EPARSE);
    memcpy(copy, blob, bytes);
    memcpy(copy + node0, &big, 8); /* feature 999 of 3 */
    assert_int_equal(fit_model_load(&back, copy, bytes, err, sizeof err), CLEAVE_EPARSE);
    memcpy(copy, blob, bytes);
    assert_int_equal(fit_model_load(&back, copy, bytes, err, sizeof err), CLEAVE_OK);
    fit_model_free(back);
    free(copy);
    free(blob);
    fit_model_free(m);
}

static void test_too_few_rows(void **state)
{
    (void)state;
    double x[5] = {1, 2, 3, 4, 5}, y[5] = {1, 2, 3, 4, 5};
    fit_model *m = (fit_model *)1;
    char err[256] = "";
    assert_int_equal(fit_train(&m, FIT_GBDT, x, 5, 1, y, NULL, err, sizeof err), CLEAVE_EINVAL);
    assert_null(m);
    assert_string_equal(err, "gbdt needs at least 10 rows, got 5");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_oracle), cmocka_unit_test(test_stump),
        cmocka_unit_test(test_determinism),  cmocka_unit_test(test_step),
        cmocka_unit_test(test_save_load),    cmocka_unit_test(test_too_few_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
