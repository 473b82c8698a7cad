/*
** tests/unit/test-fit-krr.c - kernel ridge regression: dual weights against a naive Gaussian
** elimination of (K + lambda I) alpha = t and of the Nystrom system, accuracy on a smooth
** function (exact and Nystrom), determinism, save/load round trips and refused blobs.
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
#include "fit/krr.h"
#include "fit/model.h"

/* ---- oracles ------------------------------------------------------------------------------ */

/* Solve the N x N system A x = B (A row-major, destroyed; B overwritten by x) by Gaussian
** elimination with partial pivoting, written plainly. */
static void gauss_solve(double *a, double *b, size_t n)
{
    for (size_t c = 0; c < n; c++) {
        size_t piv = c;
        for (size_t r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[piv * n + c]))
                piv = r;
        for (size_t k = 0; k < n; k++) {
            double tmp = a[c * n + k];
            a[c * n + k] = a[piv * n + k];
            a[piv * n + k] = tmp;
        }
        double tmp = b[c];
        b[c] = b[piv];
        b[piv] = tmp;
        for (size_t r = c + 1; r < n; r++) {
            double f = a[r * n + c] / a[c * n + c];
            for (size_t k = c; k < n; k++)
                a[r * n + k] -= f * a[c * n + k];
            b[r] -= f * b[c];
        }
    }
    for (size_t c = n; c-- > 0;) {
        double s = b[c];
        for (size_t k = c + 1; k < n; k++)
            s -= a[c * n + k] * b[k];
        b[c] = s / a[c * n + c];
    }
}

/* Standardise X (N x P) into Z with two-pass means and sample standard deviations. */
static void standardise(const double *x, size_t n, size_t p, double *z)
{
    for (size_t j = 0; j < p; j++) {
        double mu = 0.0, var = 0.0;
        for (size_t i = 0; i < n; i++)
            mu += x[i * p + j];
        mu /= (double)n;
        for (size_t i = 0; i < n; i++)
            var += (x[i * p + j] - mu) * (x[i * p + j] - mu);
        double sd = sqrt(var / (double)(n - 1));
        for (size_t i = 0; i < n; i++)
            z[i * p + j] = (x[i * p + j] - mu) / sd;
    }
}

static double rbf(const double *a, const double *b, size_t p, double gamma)
{
    double d = 0.0;
    for (size_t j = 0; j < p; j++)
        d += (a[j] - b[j]) * (a[j] - b[j]);
    return exp(-gamma * d);
}

static void assert_close(double got, double want, double rel, const char *what, size_t i)
{
    if (!(fabs(got - want) <= rel * (1.0 + fabs(want))))
        fail_msg("%s[%zu]: got %.17g, want %.17g", what, i, got, want);
}

/* ---- data --------------------------------------------------------------------------------- */

/* The smooth target: 3 + sin(x0) + 0.5 x1, with x0 in [0, 6] and x1 in [0, 1]. */
static double smooth(const double *x)
{
    return 3.0 + sin(x[0]) + 0.5 * x[1];
}

static void smooth_data(double *x, double *y, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        x[i * 2] = 6.0 * cl_rng_uniform(&s);
        x[i * 2 + 1] = cl_rng_uniform(&s);
        y[i] = smooth(x + i * 2);
    }
}

/* R^2 of model M on N rows of the smooth function. */
static double r2_on(const fit_model *m, const double *x, const double *y, size_t n)
{
    double mean = 0.0, ss_res = 0.0, ss_tot = 0.0;
    for (size_t i = 0; i < n; i++)
        mean += y[i] / (double)n;
    for (size_t i = 0; i < n; i++) {
        double e = y[i] - fit_predict(m, x + i * 2);
        ss_res += e * e;
        ss_tot += (y[i] - mean) * (y[i] - mean);
    }
    return 1.0 - ss_res / ss_tot;
}

#define NTRAIN 300
#define NTEST 200

/* ---- tests -------------------------------------------------------------------------------- */

/* With gamma and lambda fixed, alpha solves (K + lambda I) alpha = t - mean(t) on the
** standardised rows, as an independent Gaussian elimination finds it. */
static void test_alpha_exact(void **state)
{
    (void)state;
    enum { N = 6, P = 2 };
    double x[N * P], t[N], z[N * P], a[N * N], b[N];
    const double gamma = 0.7, lambda = 0.05;
    uint64_t s = 11;
    for (size_t i = 0; i < N * P; i++)
        x[i] = 10.0 * cl_rng_uniform(&s) - 3.0;
    for (size_t i = 0; i < N; i++)
        t[i] = 2.0 * cl_rng_uniform(&s) - 1.0;

    fit_krr_settings set;
    fit_krr_settings_default(&set);
    set.gamma = gamma;
    set.lambda = lambda;
    fit_model *m = NULL;
    char err[256] = "";
    assert_int_equal(fit_krr_train_with(&m, x, N, P, t, NULL, &set, err, sizeof err), CLEAVE_OK);

    double mean = 0.0;
    for (size_t i = 0; i < N; i++)
        mean += t[i] / N;
    standardise(x, N, P, z);
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < N; j++)
            a[i * N + j] = rbf(z + i * P, z + j * P, P, gamma) + (i == j ? lambda : 0.0);
        b[i] = t[i] - mean;
    }
    gauss_solve(a, b, N);

    fit_krr_info info;
    fit_krr_inspect(m, &info);
    assert_int_equal(info.ncentres, N);
    assert_int_equal(info.nystrom, 0);
    assert_true(info.gamma == gamma && info.lambda == lambda);
    assert_close(info.t_mean, mean, 1e-14, "t_mean", 0);
    for (size_t i = 0; i < N * P; i++)
        assert_close(info.centres[i], z[i], 1e-12, "centre", i);
    for (size_t i = 0; i < N; i++)
        assert_close(info.alpha[i], b[i], 1e-10, "alpha", i);

    /* The prediction at a new row is mean + sum alpha_i k(z(x), z_i). */
    const double xq[P] = {1.5, -0.25};
    double zq[P], want = mean;
    for (size_t j = 0; j < P; j++)
        zq[j] = (xq[j] - info.mu[j]) / info.sd[j];
    for (size_t i = 0; i < N; i++)
        want += b[i] * rbf(zq, z + i * P, P, gamma);
    assert_close(fit_predict(m, xq), want, 1e-10, "prediction", 0);
    fit_model_free(m);
}

/* The Nystrom path solves (K_mn K_nm + lambda K_mm) beta = K_mn (t - mean) over its landmark
** rows; the landmarks are found among the standardised rows and the system solved plainly. */
static void test_alpha_nystrom(void **state)
{
    (void)state;
    enum { N = 9, P = 2, M = 4 };
    double x[N * P], t[N], z[N * P], a[M * M], b[M];
    size_t land[M];
    const double gamma = 0.4, lambda = 0.1;
    uint64_t s = 5;
    for (size_t i = 0; i < N * P; i++)
        x[i] = 4.0 * cl_rng_uniform(&s);
    for (size_t i = 0; i < N; i++)
        t[i] = sin(x[i * P]) + x[i * P + 1];

    fit_krr_settings set;
    fit_krr_settings_default(&set);
    set.gamma = gamma;
    set.lambda = lambda;
    set.exact_max_rows = 5;
    set.landmarks = M;
    fit_model *m = NULL;
    char err[256] = "";
    assert_int_equal(fit_krr_train_with(&m, x, N, P, t, NULL, &set, err, sizeof err), CLEAVE_OK);
    fit_krr_info info;
    fit_krr_inspect(m, &info);
    assert_int_equal(info.nystrom, 1);
    assert_int_equal(info.ncentres, M);

    standardise(x, N, P, z);
    for (size_t c = 0; c < M; c++) { /* which row is landmark c: the nearest standardised row */
        size_t best = 0;
        double bestd = INFINITY;
        for (size_t i = 0; i < N; i++) {
            double d = 0.0;
            for (size_t j = 0; j < P; j++)
                d += (info.centres[c * P + j] - z[i * P + j]) *
                     (info.centres[c * P + j] - z[i * P + j]);
            if (d < bestd) {
                bestd = d;
                best = i;
            }
        }
        assert_true(bestd < 1e-20);
        land[c] = best;
        for (size_t k = 0; k < c; k++)
            assert_true(land[k] != best);
    }
    double mean = 0.0;
    for (size_t i = 0; i < N; i++)
        mean += t[i] / N;
    for (size_t c = 0; c < M; c++) {
        b[c] = 0.0;
        for (size_t i = 0; i < N; i++)
            b[c] += rbf(z + land[c] * P, z + i * P, P, gamma) * (t[i] - mean);
        for (size_t d = 0; d < M; d++) {
            double g = 0.0;
            for (size_t i = 0; i < N; i++)
                g += rbf(z + land[c] * P, z + i * P, P, gamma) *
                     rbf(z + land[d] * P, z + i * P, P, gamma);
            a[c * M + d] = g + lambda * rbf(z + land[c] * P, z + land[d] * P, P, gamma);
        }
    }
    gauss_solve(a, b, M);
    for (size_t c = 0; c < M; c++)
        assert_close(info.alpha[c], b[c], 1e-8, "beta", c);
    fit_model_free(m);
}

/* More features than the stack buffer holds: the per-centre standardisation gives the same
** prediction as the formula. */
static void test_many_features(void **state)
{
    (void)state;
    enum { N = 8, P = 70 };
    double x[N * P], t[N], xq[P];
    uint64_t s = 99;
    for (size_t i = 0; i < N * P; i++)
        x[i] = cl_rng_uniform(&s);
    for (size_t i = 0; i < N; i++)
        t[i] = cl_rng_uniform(&s);
    for (size_t j = 0; j < P; j++)
        xq[j] = cl_rng_uniform(&s);
    fit_krr_settings set;
    fit_krr_settings_default(&set);
    set.gamma = 0.02;
    set.lambda = 0.1;
    fit_model *m = NULL;
    char err[256] = "";
    assert_int_equal(fit_krr_train_with(&m, x, N, P, t, NULL, &set, err, sizeof err), CLEAVE_OK);
    fit_krr_info info;
    fit_krr_inspect(m, &info);
    double zq[P], want = info.t_mean;
    for (size_t j = 0; j < P; j++)
        zq[j] = (xq[j] - info.mu[j]) / info.sd[j];
    for (size_t i = 0; i < N; i++)
        want += info.alpha[i] * rbf(zq, info.centres + i * P, P, set.gamma);
    assert_close(fit_predict(m, xq), want, 1e-12, "prediction", 0);
    assert_close(fit_predict(m, x + P), t[1], 0.2, "training row", 1);
    fit_model_free(m);
}

/* Through fit_train() with the defaults (log target, inner CV), a smooth function is
** reproduced on held-out rows with R^2 > 0.99. */
static void test_smooth_exact(void **state)
{
    (void)state;
    double *x = malloc(sizeof *x * 2 * (NTRAIN + NTEST)), *y = malloc(sizeof *y * (NTRAIN + NTEST));
    assert_non_null(x);
    assert_non_null(y);
    smooth_data(x, y, NTRAIN + NTEST, 3);
    fit_model *m = NULL;
    char err[256] = "";
    cleave_status rc = fit_train(&m, FIT_KRR, x, NTRAIN, 2, y, NULL, err, sizeof err);
    if (rc != CLEAVE_OK)
        fail_msg("fit_train: %s", err);
    fit_krr_info info;
    fit_krr_inspect(m, &info);
    assert_int_equal(info.nystrom, 0);
    assert_int_equal(info.ncentres, NTRAIN);
    double r2 = r2_on(m, x + 2 * NTRAIN, y + NTRAIN, NTEST);
    if (!(r2 > 0.99))
        fail_msg("held-out R^2 %.5f <= 0.99", r2);
    char desc[128];
    fit_model_describe(m, desc, sizeof desc);
    assert_non_null(strstr(desc, " exact"));
    assert_int_equal(fit_model_family(m), FIT_KRR);
    fit_model_free(m);
    free(x);
    free(y);
}

/* The Nystrom path, forced by a low threshold: 60 landmarks for 300 rows, R^2 > 0.95. */
static void test_smooth_nystrom(void **state)
{
    (void)state;
    double *x = malloc(sizeof *x * 2 * (NTRAIN + NTEST)), *y = malloc(sizeof *y * (NTRAIN + NTEST));
    assert_non_null(x);
    assert_non_null(y);
    smooth_data(x, y, NTRAIN + NTEST, 3);
    fit_krr_settings set;
    fit_krr_settings_default(&set);
    set.exact_max_rows = 100;
    set.landmarks = 60;
    fit_model *m = NULL, *m2 = NULL, *m3 = NULL;
    char err[256] = "";
    fit_opts o;
    fit_opts_default(&o, FIT_KRR);
    cleave_status rc = fit_krr_train_with(&m, x, NTRAIN, 2, y, &o, &set, err, sizeof err);
    if (rc != CLEAVE_OK)
        fail_msg("fit_krr_train_with: %s", err);
    fit_krr_info info;
    fit_krr_inspect(m, &info);
    assert_int_equal(info.nystrom, 1);
    assert_int_equal(info.ncentres, 60);
    double r2 = r2_on(m, x + 2 * NTRAIN, y + NTRAIN, NTEST);
    if (!(r2 > 0.95))
        fail_msg("held-out R^2 %.5f <= 0.95", r2);

    /* Same seed, same model; another seed draws other landmarks. */
    assert_int_equal(fit_krr_train_with(&m2, x, NTRAIN, 2, y, &o, &set, err, sizeof err),
                     CLEAVE_OK);
    o.seed++;
    assert_int_equal(fit_krr_train_with(&m3, x, NTRAIN, 2, y, &o, &set, err, sizeof err),
                     CLEAVE_OK);
    int differ = 0;
    for (size_t i = NTRAIN; i < NTRAIN + NTEST; i++) {
        double a = fit_predict(m, x + 2 * i), b = fit_predict(m2, x + 2 * i);
        assert_memory_equal(&a, &b, sizeof a);
        differ |= a != fit_predict(m3, x + 2 * i);
    }
    assert_true(differ);
    fit_model_free(m);
    fit_model_free(m2);
    fit_model_free(m3);
    free(x);
    free(y);
}

/* Save, load, predict bit-identically, save again to the same bytes. */
static void roundtrip(const fit_model *m, const double *xq, size_t nq)
{
    void *blob = NULL, *blob2 = NULL;
    size_t bytes = 0, bytes2 = 0;
    fit_model *back = NULL;
    char err[256] = "";
    assert_int_equal(fit_model_save(m, &blob, &bytes), CLEAVE_OK);
    if (fit_model_load(&back, blob, bytes, err, sizeof err) != CLEAVE_OK)
        fail_msg("load: %s", err);
    assert_int_equal(fit_model_nfeatures(back), fit_model_nfeatures(m));
    for (size_t i = 0; i < nq; i++) {
        double a = fit_predict(m, xq + 2 * i), b = fit_predict(back, xq + 2 * i);
        assert_memory_equal(&a, &b, sizeof a);
    }
    assert_int_equal(fit_model_save(back, &blob2, &bytes2), CLEAVE_OK);
    assert_int_equal(bytes2, bytes);
    assert_memory_equal(blob2, blob, bytes);
    fit_model_free(back);
    free(blob);
    free(blob2);
}

static void test_save_load(void **state)
{
    (void)state;
    double *x = malloc(sizeof *x * 2 * (NTRAIN + NTEST)), *y = malloc(sizeof *y * (NTRAIN + NTEST));
    assert_non_null(x);
    assert_non_null(y);
    smooth_data(x, y, NTRAIN + NTEST, 9);
    fit_model *m = NULL;
    char err[256] = "";
    assert_int_equal(fit_train(&m, FIT_KRR, x, NTRAIN, 2, y, NULL, err, sizeof err), CLEAVE_OK);
    roundtrip(m, x + 2 * NTRAIN, NTEST);
    fit_model_free(m);

    fit_krr_settings set;
    fit_krr_settings_default(&set);
    set.exact_max_rows = 50;
    set.landmarks = 40;
    assert_int_equal(fit_krr_train_with(&m, x, NTRAIN, 2, y, NULL, &set, err, sizeof err),
                     CLEAVE_OK);
    roundtrip(m, x + 2 * NTRAIN, NTEST);
    fit_model_free(m);
    free(x);
    free(y);
}

/* Every truncation of a blob, a trailing byte, and nonsense values are refused with
** CLEAVE_EPARSE and no model (ASan checks nothing leaks). */
static void test_bad_blobs(void **state)
{
    (void)state;
    enum { N = 12 };
    double x[N * 2], y[N];
    smooth_data(x, y, N, 4);
    fit_model *m = NULL, *back = NULL;
    char err[256] = "";
    assert_int_equal(fit_train(&m, FIT_KRR, x, N, 2, y, NULL, err, sizeof err), CLEAVE_OK);
    void *blob = NULL;
    size_t bytes = 0;
    assert_int_equal(fit_model_save(m, &blob, &bytes), CLEAVE_OK);
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

    /* Payload after the 56-byte header: nc, nystrom, gamma, ... */
    const size_t gamma_at = 56 + 16;
    double bad = -1.0;
    memcpy(copy + gamma_at, &bad, 8);
    assert_int_equal(fit_model_load(&back, copy, bytes, err, sizeof err), CLEAVE_EPARSE);
    memcpy(copy, blob, bytes);
    uint64_t huge = UINT64_C(1) << 40;
    memcpy(copy + 56, &huge, 8);
    assert_int_equal(fit_model_load(&back, copy, bytes, err, sizeof err), CLEAVE_EPARSE);
    memcpy(copy, blob, bytes);
    assert_int_equal(fit_model_load(&back, copy, bytes, err, sizeof err), CLEAVE_OK);
    fit_model_free(back);
    free(copy);
    free(blob);
    fit_model_free(m);
}

/* Repeated rows make the Nystrom system singular (two landmarks on one row): the jitter retry
** still fits, and predicts each distinct row's mean target.  NaN in the system (only the
** internal entry point lets one in) gives CLEAVE_ENUMERIC with the reason, never an abort. */
static void test_jitter_and_failure(void **state)
{
    (void)state;
    enum { N = 24, P = 2 };
    const double rows[4][P] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
    double x[N * P], t[N];
    for (size_t i = 0; i < N; i++) {
        x[i * P] = rows[i % 4][0];
        x[i * P + 1] = rows[i % 4][1];
        t[i] = (double)(i % 4) + (i % 8 < 4 ? 0.1 : -0.1);
    }
    fit_krr_settings set;
    fit_krr_settings_default(&set);
    set.gamma = 1.0;
    set.lambda = 1e-9;
    set.exact_max_rows = 5;
    set.landmarks = 10;
    fit_model *m = NULL;
    char err[256] = "";
    if (fit_krr_train_with(&m, x, N, P, t, NULL, &set, err, sizeof err) != CLEAVE_OK)
        fail_msg("repeated rows: %s", err);
    for (size_t r = 0; r < 4; r++)
        assert_close(fit_predict(m, rows[r]), (double)r, 1e-4, "mean of row", r);
    fit_model_free(m);

    x[3] = NAN;
    m = (fit_model *)1;
    assert_int_equal(fit_krr_train_with(&m, x, N, P, t, NULL, &set, err, sizeof err),
                     CLEAVE_ENUMERIC);
    assert_null(m);
    assert_string_equal(err, "kernel system of 10 rows gave non-finite weights");
}

static void test_too_few_rows(void **state)
{
    (void)state;
    double x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[4] = {1, 2, 3, 4};
    fit_model *m = (fit_model *)1;
    char err[256] = "";
    assert_int_equal(fit_train(&m, FIT_KRR, x, 4, 2, y, NULL, err, sizeof err), CLEAVE_EINVAL);
    assert_null(m);
    assert_string_equal(err, "kernel_ridge needs at least 10 rows, got 4");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alpha_exact),    cmocka_unit_test(test_alpha_nystrom),
        cmocka_unit_test(test_many_features),  cmocka_unit_test(test_smooth_exact),
        cmocka_unit_test(test_smooth_nystrom), cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_bad_blobs),      cmocka_unit_test(test_jitter_and_failure),
        cmocka_unit_test(test_too_few_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
