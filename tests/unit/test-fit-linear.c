/*
** tests/unit/test-fit-linear.c - the linear-in-parameters families (logarithmic, linear, lasso,
** ridge, polynomial): known coefficients recovered, ridge's GCV choice and the lasso's optimality
** conditions checked by independent computations, collinear and n < p data, row-count messages,
** and save/load round trips down to every truncated blob.
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

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>

#include "common/rng.h"
#include "fit/linear.h"
#include "fit/model.h"

#define N_FRESH 100

/* ---- helpers ---------------------------------------------------------------------------- */

static double uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * cl_rng_uniform(s);
}

/* Standard normal by Box-Muller. */
static double gauss(uint64_t *s)
{
    double u = cl_rng_uniform(s), v = cl_rng_uniform(s);
    return sqrt(-2.0 * log(u > 0.0 ? u : 1e-300)) * cos(6.283185307179586 * v);
}

static fit_model *train_ok(fit_family f, const double *x, size_t n, size_t p, const double *y,
                           const fit_opts *o)
{
    fit_model *m = NULL;
    char err[256] = "";
    cleave_status rc = fit_train(&m, f, x, n, p, y, o, err, sizeof err);
    if (rc != CLEAVE_OK || !m)
        fail_msg("%s: fit_train failed: %s (%s)", fit_family_name(f), err, cleave_status_name(rc));
    return m;
}

/* R^2 = 1 - SS_res / SS_tot of M on N rows, computed here from its definition. */
static double r2_of(const fit_model *m, const double *x, size_t n, size_t p, const double *y)
{
    double mean = 0.0, ss_res = 0.0, ss_tot = 0.0;
    for (size_t i = 0; i < n; i++)
        mean += y[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = y[i] - fit_predict(m, x + i * p);
        ss_res += d * d;
        ss_tot += (y[i] - mean) * (y[i] - mean);
    }
    return 1.0 - ss_res / ss_tot;
}

/* Largest relative prediction error of M over N rows. */
static double max_rel_err(const fit_model *m, const double *x, size_t n, size_t p, const double *y)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(fit_predict(m, x + i * p) - y[i]) / fabs(y[i]));
    return worst;
}

/* Data set A: features on scales 1e6, 1e-3 and 1, y = 3 + 2 x1 - 0.5 x2 + 0 x3 + N(0, sigma). */
static void data_a(uint64_t seed, size_t n, double sigma, double *x, double *y, double *truth)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        double *r = x + i * 3;
        r[0] = uniform(&s, 0.0, 1e6);
        r[1] = uniform(&s, 0.0, 1e-3);
        r[2] = uniform(&s, -1.0, 1.0);
        truth[i] = 3.0 + 2.0 * r[0] - 0.5 * r[1];
        y[i] = truth[i] + sigma * gauss(&s);
    }
}

/* Data set B: comparable contributions, an irrelevant feature on scale 1e6:
** y = 3 + 2 x1 - 0.5 x2 + 0 x3 + N(0, sigma), x1 in [0, 1], x2 in [0, 4]. */
static void data_b(uint64_t seed, size_t n, double sigma, double *x, double *y, double *truth)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        double *r = x + i * 3;
        r[0] = uniform(&s, 0.0, 1.0);
        r[1] = uniform(&s, 0.0, 4.0);
        r[2] = uniform(&s, 0.0, 1e6);
        truth[i] = 3.0 + 2.0 * r[0] - 0.5 * r[1];
        y[i] = truth[i] + sigma * gauss(&s);
    }
}

/* ---- known coefficients ------------------------------------------------------------------ */

/* OLS recovers 3 + 2 x1 - 0.5 x2 + 0 x3 from 200 rows with noise 1e-7 on features spanning
** nine orders of magnitude.  Expected standard errors: ~3e-5 on b2, far less on the others;
** tolerances are a few times that. */
static void test_linear_recovers(void **state)
{
    (void)state;
    enum { N = 200, P = 3 };
    static double x[N * P], y[N], truth[N], xf[N_FRESH * P], yf[N_FRESH], tf[N_FRESH];
    data_a(11, N, 1e-7, x, y, truth);
    data_a(12, N_FRESH, 0.0, xf, yf, tf);
    fit_model *m = train_ok(FIT_LINEAR, x, N, P, y, NULL);
    double b0, b[P];
    assert_int_equal(fit_linear_coefs(m, &b0, b, NULL), 0);
    if (fabs(b0 - 3.0) > 1e-5 || fabs(b[0] - 2.0) > 1e-9 || fabs(b[1] + 0.5) > 2e-4 ||
        fabs(b[2]) > 1e-6)
        fail_msg("linear: got %.12g + %.12g x1 + %.12g x2 + %.3g x3", b0, b[0], b[1], b[2]);
    assert_true(max_rel_err(m, xf, N_FRESH, P, tf) < 1e-9);
    assert_true(r2_of(m, xf, N_FRESH, P, tf) > 0.99);
    char d[64];
    fit_model_describe(m, d, sizeof d);
    assert_string_equal(d, "rank=3");
    fit_model_free(m);
}

/* Ridge on the same data: GCV picks a penalty too small to bias the coefficients beyond the
** noise (or 0), so the same tolerances hold. */
static void test_ridge_recovers(void **state)
{
    (void)state;
    enum { N = 200, P = 3 };
    static double x[N * P], y[N], truth[N], xf[N_FRESH * P], yf[N_FRESH], tf[N_FRESH];
    data_a(11, N, 1e-7, x, y, truth);
    data_a(12, N_FRESH, 0.0, xf, yf, tf);
    fit_model *m = train_ok(FIT_RIDGE, x, N, P, y, NULL);
    double b0, b[P], lambda;
    assert_int_equal(fit_linear_coefs(m, &b0, b, &lambda), 0);
    if (fabs(b0 - 3.0) > 1e-5 || fabs(b[0] - 2.0) > 1e-9 || fabs(b[1] + 0.5) > 2e-4 ||
        fabs(b[2]) > 1e-6)
        fail_msg("ridge (lambda %g): got %.12g + %.12g x1 + %.12g x2 + %.3g x3", lambda, b0, b[0],
                 b[1], b[2]);
    assert_true(max_rel_err(m, xf, N_FRESH, P, tf) < 1e-9);
    assert_true(r2_of(m, xf, N_FRESH, P, tf) > 0.99);
    char d[64];
    fit_model_describe(m, d, sizeof d);
    assert_true(strncmp(d, "lambda=", 7) == 0);
    fit_model_free(m);
}

/* The lasso on data set B (contributions of comparable size, so the L1 penalty at the smallest
** lambda of the path, 1e-4 lambda_max, biases b1 and b2 by about 1e-4 relative): coefficients
** within 1e-3 relative, the irrelevant 1e6-scale feature exactly 0.  On data set A it still
** fits: there the x2 term (5e-4 out of 2e6) is below any lambda of the path and is dropped,
** and the smallest lambda shrinks the x1 term by about 1e-4, so b1 is within 1e-3 relative and
** the prediction errors within 1e-3 of the target's standard deviation (not of each value:
** near x1 = 0 the target is 3, the shrinkage bias about 100). */
static void test_lasso_recovers(void **state)
{
    (void)state;
    enum { N = 200, P = 3 };
    static double x[N * P], y[N], truth[N], xf[N_FRESH * P], yf[N_FRESH], tf[N_FRESH];
    data_b(21, N, 1e-6, x, y, truth);
    data_b(22, N_FRESH, 0.0, xf, yf, tf);
    fit_model *m = train_ok(FIT_LASSO, x, N, P, y, NULL);
    double b0, b[P], lambda;
    assert_int_equal(fit_linear_coefs(m, &b0, b, &lambda), 0);
    if (fabs(b0 - 3.0) > 3e-3 || fabs(b[0] - 2.0) > 2e-3 || fabs(b[1] + 0.5) > 5e-4 || b[2] != 0.0)
        fail_msg("lasso (lambda %g): got %.9g + %.9g x1 + %.9g x2 + %.3g x3", lambda, b0, b[0],
                 b[1], b[2]);
    assert_true(lambda > 0.0);
    assert_true(max_rel_err(m, xf, N_FRESH, P, tf) < 1e-3);
    assert_true(r2_of(m, xf, N_FRESH, P, tf) > 0.99);
    fit_model_free(m);

    data_a(11, N, 1e-7, x, y, truth);
    data_a(12, N_FRESH, 0.0, xf, yf, tf);
    m = train_ok(FIT_LASSO, x, N, P, y, NULL);
    assert_int_equal(fit_linear_coefs(m, &b0, b, &lambda), 0);
    assert_true(fabs(b[0] - 2.0) < 2e-3);
    double mean = 0.0, var = 0.0, worst = 0.0;
    for (size_t i = 0; i < N_FRESH; i++)
        mean += tf[i] / N_FRESH;
    for (size_t i = 0; i < N_FRESH; i++) {
        var += (tf[i] - mean) * (tf[i] - mean) / (N_FRESH - 1);
        worst = fmax(worst, fabs(fit_predict(m, xf + i * P) - tf[i]));
    }
    assert_true(worst < 1e-3 * sqrt(var));
    assert_true(r2_of(m, xf, N_FRESH, P, tf) > 0.99);
    fit_model_free(m);
}

/* Neurosurgeon's log model: y = e (1 + x1)^0.7 (1 + x2)^0.2 is exactly
** log y = 1 + 0.7 log1p(x1) + 0.2 log1p(x2) + 0 log1p(x3), noiseless. */
static void test_log_recovers(void **state)
{
    (void)state;
    enum { N = 150, P = 3 };
    static double x[N * P], y[N], xf[N_FRESH * P], yf[N_FRESH];
    uint64_t s = 31;
    for (size_t i = 0; i < N + N_FRESH; i++) {
        double *r = i < N ? x + i * P : xf + (i - N) * P;
        r[0] = uniform(&s, 0.0, 1e6);
        r[1] = uniform(&s, 0.0, 10.0);
        r[2] = uniform(&s, 0.0, 100.0);
        double v = exp(1.0) * pow(1.0 + r[0], 0.7) * pow(1.0 + r[1], 0.2);
        if (i < N)
            y[i] = v;
        else
            yf[i - N] = v;
    }
    fit_model *m = train_ok(FIT_LOG, x, N, P, y, NULL);
    double b0, b[P];
    assert_int_equal(fit_linear_coefs(m, &b0, b, NULL), 0);
    if (fabs(b0 - 1.0) > 1e-9 || fabs(b[0] - 0.7) > 1e-10 || fabs(b[1] - 0.2) > 1e-10 ||
        fabs(b[2]) > 1e-10)
        fail_msg("log: got %.12g + %.12g l1 + %.12g l2 + %.3g l3", b0, b[0], b[1], b[2]);
    assert_true(max_rel_err(m, xf, N_FRESH, P, yf) < 1e-9);
    assert_true(r2_of(m, xf, N_FRESH, P, yf) > 0.99);
    fit_model_free(m);
}

/* y = 1 + x1 x2 + x3^2 (plus an irrelevant x4) is a degree-2 polynomial: fitted on the latency
** scale, the inner CV keeps degree 2 (degree 3 is a candidate: 35 terms <= n / 2) and held-out
** predictions are exact to 1e-6 relative. */
static void test_poly_recovers(void **state)
{
    (void)state;
    enum { N = 300, P = 4 };
    static double x[N * P], y[N], xf[N_FRESH * P], yf[N_FRESH];
    uint64_t s = 41;
    for (size_t i = 0; i < N + N_FRESH; i++) {
        double *r = i < N ? x + i * P : xf + (i - N) * P;
        for (int j = 0; j < P; j++)
            r[j] = uniform(&s, 0.0, 2.0);
        double v = 1.0 + r[0] * r[1] + r[2] * r[2];
        if (i < N)
            y[i] = v;
        else
            yf[i - N] = v;
    }
    fit_opts o;
    fit_opts_default(&o, FIT_POLY);
    o.log_target = 0;
    fit_model *m = train_ok(FIT_POLY, x, N, P, y, &o);
    char d[96];
    fit_model_describe(m, d, sizeof d);
    if (strncmp(d, "degree=2 terms=15 lambda=", 25) != 0)
        fail_msg("polynomial: described as '%s'", d);
    assert_true(max_rel_err(m, xf, N_FRESH, P, yf) < 1e-6);
    assert_true(r2_of(m, xf, N_FRESH, P, yf) > 0.99);
    assert_int_equal(fit_linear_coefs(m, NULL, NULL, NULL), -1);
    fit_model_free(m);

    /* A cubic term: degree 3 wins. */
    for (size_t i = 0; i < N + N_FRESH; i++) {
        double *r = i < N ? x + i * P : xf + (i - N) * P;
        double v = 1.0 + r[0] * r[1] * r[2] + r[3] * r[3];
        if (i < N)
            y[i] = v;
        else
            yf[i - N] = v;
    }
    m = train_ok(FIT_POLY, x, N, P, y, &o);
    fit_model_describe(m, d, sizeof d);
    if (strncmp(d, "degree=3 terms=35 lambda=", 25) != 0)
        fail_msg("polynomial: described as '%s'", d);
    assert_true(max_rel_err(m, xf, N_FRESH, P, yf) < 1e-6);
    fit_model_free(m);
}

/* ---- independent oracles ------------------------------------------------------------------ */

/* Column standardisation as the families define it: mean and sample standard deviation. */
static void standardise(const double *x, size_t n, size_t p, double *z, double *mu, double *sd)
{
    for (size_t j = 0; j < p; j++) {
        double m = 0.0, v = 0.0;
        for (size_t i = 0; i < n; i++)
            m += x[i * p + j];
        m /= (double)n;
        for (size_t i = 0; i < n; i++)
            v += (x[i * p + j] - m) * (x[i * p + j] - m);
        mu[j] = m;
        sd[j] = sqrt(v / (double)(n - 1));
        for (size_t i = 0; i < n; i++)
            z[i * p + j] = (x[i * p + j] - m) / sd[j];
    }
}

/* The GCV score of ridge at LAMBDA by brute force: c = (Z^T Z + lambda^2 I)^-1 Z^T y by
** Cholesky, df = trace((Z^T Z + lambda^2 I)^-1 Z^T Z), G = RSS / (n - 1 - df)^2.  Writes c to
** C when not NULL. */
static double brute_gcv(const double *z, const double *yc, size_t n, size_t p, double lambda,
                        double *c)
{
    gsl_matrix *a = gsl_matrix_alloc(p, p), *ztz = gsl_matrix_alloc(p, p);
    gsl_vector *rhs = gsl_vector_alloc(p), *sol = gsl_vector_alloc(p);
    assert_non_null(a);
    assert_non_null(ztz);
    assert_non_null(rhs);
    assert_non_null(sol);
    for (size_t j = 0; j < p; j++) {
        double r = 0.0;
        for (size_t i = 0; i < n; i++)
            r += z[i * p + j] * yc[i];
        gsl_vector_set(rhs, j, r);
        for (size_t k = 0; k < p; k++) {
            double v = 0.0;
            for (size_t i = 0; i < n; i++)
                v += z[i * p + j] * z[i * p + k];
            gsl_matrix_set(ztz, j, k, v);
            gsl_matrix_set(a, j, k, v + (j == k ? lambda * lambda : 0.0));
        }
    }
    assert_int_equal(gsl_linalg_cholesky_decomp1(a), 0);
    assert_int_equal(gsl_linalg_cholesky_solve(a, rhs, sol), 0);
    double df = 0.0;
    for (size_t k = 0; k < p; k++) {
        gsl_vector_const_view col = gsl_matrix_const_column(ztz, k);
        gsl_vector *t = gsl_vector_alloc(p);
        assert_int_equal(gsl_linalg_cholesky_solve(a, &col.vector, t), 0);
        df += gsl_vector_get(t, k);
        gsl_vector_free(t);
    }
    double rss = 0.0;
    for (size_t i = 0; i < n; i++) {
        double f = 0.0;
        for (size_t j = 0; j < p; j++)
            f += z[i * p + j] * gsl_vector_get(sol, j);
        rss += (yc[i] - f) * (yc[i] - f);
    }
    if (c)
        for (size_t j = 0; j < p; j++)
            c[j] = gsl_vector_get(sol, j);
    gsl_vector_free(sol);
    gsl_vector_free(rhs);
    gsl_matrix_free(ztz);
    gsl_matrix_free(a);
    double den = (double)n - 1.0 - df;
    return rss / (den * den);
}

/* Ridge's lambda is the GCV minimiser: on noisy data with irrelevant, correlated features the
** brute-force GCV at the chosen lambda is no worse than at 0 and at every lambda of a fine
** grid, and the chosen lambda is > 0; the coefficients equal the Cholesky solution of the
** normal equations at that lambda. */
static void test_ridge_gcv_oracle(void **state)
{
    (void)state;
    enum { N = 40, P = 8 };
    static double x[N * P], y[N], z[N * P], yc[N];
    double mu[P], sd[P], c[P];
    const double coef[P] = {1.0, -0.5, 0.25, 0.0, 0.0, 0.0, 0.1, 0.0};
    uint64_t s = 51;
    for (size_t i = 0; i < N; i++) {
        double common = uniform(&s, 0.0, 1.0);
        y[i] = 5.0;
        for (size_t j = 0; j < P; j++) {
            x[i * P + j] = 0.6 * common + 0.4 * uniform(&s, 0.0, 1.0);
            y[i] += coef[j] * x[i * P + j];
        }
        y[i] += 0.3 * gauss(&s);
    }
    fit_model *m = train_ok(FIT_RIDGE, x, N, P, y, NULL);
    double b0, b[P], lambda;
    assert_int_equal(fit_linear_coefs(m, &b0, b, &lambda), 0);
    assert_true(lambda > 0.0);

    standardise(x, N, P, z, mu, sd);
    double ybar = 0.0;
    for (size_t i = 0; i < N; i++)
        ybar += y[i];
    ybar /= N;
    for (size_t i = 0; i < N; i++)
        yc[i] = y[i] - ybar;
    double g_model = brute_gcv(z, yc, N, P, lambda, c);
    double g_min = brute_gcv(z, yc, N, P, 0.0, NULL);
    for (double e = -4.0; e <= 3.0; e += 0.01)
        g_min = fmin(g_min, brute_gcv(z, yc, N, P, pow(10.0, e), NULL));
    if (g_model > g_min * (1.0 + 1e-6))
        fail_msg("ridge lambda %g has GCV %.10g, the grid reaches %.10g", lambda, g_model, g_min);
    double icpt = ybar;
    for (size_t j = 0; j < P; j++) {
        double raw = c[j] / sd[j];
        icpt -= raw * mu[j];
        if (fabs(b[j] - raw) > 1e-8 * (1.0 + fabs(raw)))
            fail_msg("ridge coefficient %zu: %.12g, normal equations give %.12g", j, b[j], raw);
    }
    assert_true(fabs(b0 - icpt) < 1e-8 * (1.0 + fabs(icpt)));
    fit_model_free(m);
}

/* The lasso at a moderate lambda (5% of lambda_max, computed here) zeroes the irrelevant
** feature, keeps the relevant ones, and satisfies the lasso's optimality (KKT) conditions:
** (1/n) z_j^T r = lambda sign(b_j) where b_j != 0, |(1/n) z_j^T r| <= lambda where b_j = 0. */
static void test_lasso_kkt(void **state)
{
    (void)state;
    enum { N = 200, P = 3 };
    static double x[N * P], y[N], z[N * P], yc[N], r[N];
    double mu[P], sd[P], beta[P], b0;
    char err[256] = "";
    uint64_t s = 61;
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < P; j++)
            x[i * P + j] = uniform(&s, 0.0, 1.0);
        y[i] = 5.0 + 2.0 * x[i * P] - 1.0 * x[i * P + 1] + 0.1 * gauss(&s);
    }
    standardise(x, N, P, z, mu, sd);
    double ybar = 0.0, lmax = 0.0;
    for (size_t i = 0; i < N; i++)
        ybar += y[i];
    ybar /= N;
    for (size_t i = 0; i < N; i++)
        yc[i] = y[i] - ybar;
    for (size_t j = 0; j < P; j++) {
        double g = 0.0;
        for (size_t i = 0; i < N; i++)
            g += z[i * P + j] * yc[i];
        lmax = fmax(lmax, fabs(g) / N);
    }
    double lambda = 0.05 * lmax;
    assert_int_equal(fit_lasso_at(&b0, beta, x, N, P, y, lambda, err, sizeof err), CLEAVE_OK);
    assert_true(beta[0] > 1.0 && beta[1] < -0.5);
    assert_true(beta[2] == 0.0);
    for (size_t i = 0; i < N; i++) {
        r[i] = yc[i];
        for (size_t j = 0; j < P; j++)
            r[i] -= z[i * P + j] * beta[j] * sd[j];
    }
    for (size_t j = 0; j < P; j++) {
        double g = 0.0;
        for (size_t i = 0; i < N; i++)
            g += z[i * P + j] * r[i];
        g /= N;
        if (beta[j] != 0.0) {
            double want = beta[j] > 0 ? lambda : -lambda;
            if (fabs(g - want) > 1e-6 * lmax)
                fail_msg("KKT: feature %zu has gradient %.9g, want %.9g", j, g, want);
        } else if (fabs(g) > lambda * (1.0 + 1e-9)) {
            fail_msg("KKT: zero feature %zu has |gradient| %.9g > lambda %.9g", j, fabs(g), lambda);
        }
    }
    /* And the intercept puts the fit through the means. */
    double icpt = ybar;
    for (size_t j = 0; j < P; j++)
        icpt -= beta[j] * mu[j];
    assert_true(fabs(b0 - icpt) < 1e-9);
    /* lambda >= lambda_max: all zero, the intercept is the mean. */
    assert_int_equal(fit_lasso_at(&b0, beta, x, N, P, y, 1.01 * lmax, err, sizeof err), CLEAVE_OK);
    assert_true(beta[0] == 0.0 && beta[1] == 0.0 && beta[2] == 0.0);
    assert_true(fabs(b0 - ybar) < 1e-12);
}

/* ---- awkward data ------------------------------------------------------------------------- */

/* x2 = x1 + 1e-12 noise: every family still fits (no error) and predicts fresh rows of the same
** structure to within the noise; all on the latency scale, where the truth is linear (the
** logarithmic model, whose form is fixed, only approximately). */
static void test_collinear(void **state)
{
    (void)state;
    enum { N = 120, P = 3 };
    static double x[N * P], y[N], xf[N_FRESH * P], yf[N_FRESH];
    uint64_t s = 71;
    for (size_t i = 0; i < N + N_FRESH; i++) {
        double *r = i < N ? x + i * P : xf + (i - N) * P;
        r[0] = uniform(&s, 1.0, 2.0);
        r[1] = r[0] + 1e-12 * gauss(&s);
        r[2] = uniform(&s, 1.0, 2.0);
        double v = 1.0 + r[0] + 2.0 * r[2];
        if (i < N)
            y[i] = v + 1e-6 * gauss(&s);
        else
            yf[i - N] = v;
    }
    fit_opts o;
    fit_opts_default(&o, FIT_LINEAR);
    o.log_target = 0;
    const fit_family fams[] = {FIT_LOG, FIT_LINEAR, FIT_LASSO, FIT_RIDGE, FIT_POLY};
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        fit_model *m = train_ok(fams[f], x, N, P, y, &o);
        double err = max_rel_err(m, xf, N_FRESH, P, yf);
        double tol = fams[f] == FIT_LOG ? 2e-2 : 1e-4;
        if (!(err < tol))
            fail_msg("%s on collinear features: relative error %g", fit_family_name(fams[f]), err);
        fit_model_free(m);
    }
    /* A constant column, too. */
    for (size_t i = 0; i < N; i++)
        x[i * P + 1] = 7.0;
    const fit_family fams2[] = {FIT_LINEAR, FIT_LASSO, FIT_RIDGE, FIT_POLY};
    for (size_t f = 0; f < sizeof fams2 / sizeof fams2[0]; f++) {
        fit_model *m = train_ok(fams2[f], x, N, P, y, &o);
        assert_true(r2_of(m, x, N, P, y) > 0.99);
        fit_model_free(m);
    }
}

/* Fewer rows than features: ridge, lasso and polynomial (231 terms on 14 rows) are regularised
** and give a finite model; too few rows for any family is a clean CLEAVE_EINVAL. */
static void test_few_rows(void **state)
{
    (void)state;
    enum { N = 14, P = 30 };
    static double x[N * P], y[N];
    uint64_t s = 81;
    for (size_t i = 0; i < N; i++) {
        y[i] = 10.0;
        for (size_t j = 0; j < P; j++) {
            x[i * P + j] = uniform(&s, 0.0, 1.0);
            y[i] += (j < 3 ? 1.0 : 0.0) * x[i * P + j];
        }
    }
    const fit_family fams[] = {FIT_LASSO, FIT_RIDGE};
    for (size_t f = 0; f < 2; f++) {
        fit_model *m = train_ok(fams[f], x, N, P, y, NULL);
        for (size_t i = 0; i < N; i++)
            assert_true(isfinite(fit_predict(m, x + i * P)));
        fit_model_free(m);
    }
    /* polynomial with 20 of the features: 231 terms > 14 rows */
    static double x20[N * 20];
    for (size_t i = 0; i < N; i++)
        memcpy(x20 + i * 20, x + i * P, sizeof(double) * 20);
    fit_model *m = train_ok(FIT_POLY, x20, N, 20, y, NULL);
    char d[96];
    fit_model_describe(m, d, sizeof d);
    assert_true(strncmp(d, "degree=2 terms=231 ", 19) == 0);
    for (size_t i = 0; i < N; i++)
        assert_true(isfinite(fit_predict(m, x20 + i * 20)));
    fit_model_free(m);

    struct {
        fit_family f;
        size_t n, p;
        const char *msg;
    } bad[] = {
        {FIT_LINEAR, 4, 3, "linear needs at least 5 rows, got 4"},
        {FIT_LOG, 4, 3, "logarithmic needs at least 5 rows, got 4"},
        {FIT_RIDGE, 2, 30, "ridge needs at least 3 rows, got 2"},
        {FIT_LASSO, 4, 3, "lasso needs at least 12 rows, got 4"},
        {FIT_POLY, 4, 3, "polynomial needs at least 12 rows, got 4"},
        {FIT_POLY, 14, 62, "polynomial supports at most 61 features, got 62"},
    };
    static double xb[14 * 62], yb[14];
    for (size_t i = 0; i < 14 * 62; i++)
        xb[i] = uniform(&s, 0.0, 1.0);
    for (size_t i = 0; i < 14; i++)
        yb[i] = 1.0 + xb[i];
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        fit_model *bm = (fit_model *)&bad; /* anything not NULL */
        char err[256] = "";
        cleave_status rc =
            fit_train(&bm, bad[k].f, xb, bad[k].n, bad[k].p, yb, NULL, err, sizeof err);
        if (rc != CLEAVE_EINVAL || bm != NULL || strcmp(err, bad[k].msg) != 0)
            fail_msg("%s with %zu x %zu: got %s '%s', want EINVAL '%s'", fit_family_name(bad[k].f),
                     bad[k].n, bad[k].p, cleave_status_name(rc), err, bad[k].msg);
    }
    /* inner_folds < 2 */
    fit_opts o;
    fit_opts_default(&o, FIT_LASSO);
    o.inner_folds = 1;
    char err[256] = "";
    fit_model *bm = NULL;
    assert_int_equal(fit_train(&bm, FIT_LASSO, xb, 14, 3, yb, &o, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "lasso needs at least 2 inner folds, got 1");
}

/* ---- serialisation ------------------------------------------------------------------------ */

/* Save, load, predict 100 random rows bit-identically; every proper prefix of the blob and a
** blob with a wrong term count are refused with CLEAVE_EPARSE (ASan checks nothing leaks). */
static void roundtrip(const fit_model *m, size_t p, uint64_t seed)
{
    void *blob = NULL;
    size_t bytes = 0;
    char err[256];
    assert_int_equal(fit_model_save(m, &blob, &bytes), CLEAVE_OK);
    fit_model *back = NULL;
    cleave_status rc = fit_model_load(&back, blob, bytes, err, sizeof err);
    if (rc != CLEAVE_OK)
        fail_msg("%s: load failed: %s", fit_family_name(fit_model_family(m)), err);
    assert_int_equal(fit_model_family(back), fit_model_family(m));
    assert_int_equal(fit_model_nfeatures(back), p);
    char d1[128], d2[128];
    fit_model_describe(m, d1, sizeof d1);
    fit_model_describe(back, d2, sizeof d2);
    assert_string_equal(d1, d2);
    uint64_t s = seed;
    double *row = malloc(sizeof *row * p);
    assert_non_null(row);
    for (int i = 0; i < 100; i++) {
        for (size_t j = 0; j < p; j++)
            row[j] = uniform(&s, -1.0, 3.0) * (j % 2 ? 1e3 : 1.0);
        double a = fit_predict(m, row), b = fit_predict(back, row);
        if (memcmp(&a, &b, sizeof a) != 0)
            fail_msg("%s: prediction %.17g after load is %.17g",
                     fit_family_name(fit_model_family(m)), a, b);
    }
    free(row);
    fit_model_free(back);
    for (size_t len = 0; len < bytes; len++) {
        fit_model *t = NULL;
        rc = fit_model_load(&t, blob, len, err, sizeof err);
        if (rc != CLEAVE_EPARSE || t != NULL)
            fail_msg("%s: a blob cut to %zu of %zu bytes gave %s",
                     fit_family_name(fit_model_family(m)), len, bytes, cleave_status_name(rc));
    }
    free(blob);
}

static void test_save_load(void **state)
{
    (void)state;
    enum { N = 150, P = 5 };
    static double x[N * P], y[N];
    uint64_t s = 91;
    for (size_t i = 0; i < N; i++) {
        double v = 2.0;
        for (size_t j = 0; j < P; j++) {
            x[i * P + j] = uniform(&s, 0.0, 4.0);
            v += (double)(j + 1) * x[i * P + j] + 0.3 * x[i * P] * x[i * P + j];
        }
        y[i] = v * exp(0.05 * gauss(&s));
    }
    const fit_family fams[] = {FIT_LOG, FIT_LINEAR, FIT_LASSO, FIT_RIDGE, FIT_POLY};
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        fit_model *m = train_ok(fams[f], x, N, P, y, NULL);
        roundtrip(m, P, 100 + f);
        fit_model_free(m);
    }
    /* A degree-3 polynomial. */
    for (size_t i = 0; i < N; i++)
        y[i] = 1.0 + x[i * P] * x[i * P + 1] * x[i * P + 2] + x[i * P + 3];
    fit_opts o;
    fit_opts_default(&o, FIT_POLY);
    o.log_target = 0;
    fit_model *m = train_ok(FIT_POLY, x, N, P, y, &o);
    char d[96];
    fit_model_describe(m, d, sizeof d);
    assert_true(strncmp(d, "degree=3 terms=56 ", 18) == 0);
    roundtrip(m, P, 200);

    /* A polynomial blob whose term count disagrees with (p, degree) is malformed. */
    void *blob = NULL;
    size_t bytes = 0;
    char err[256];
    assert_int_equal(fit_model_save(m, &blob, &bytes), CLEAVE_OK);
    unsigned char *u = blob;
    /* header: magic, version, family, p, log_target, tmin, tmax, clamp_from (= p: no clamp);
    ** then degree, terms */
    assert_true(u[56] == P);
    assert_true(u[64] == 3);
    assert_true(u[72] == 56);
    u[72] = 55;
    fit_model *bad = NULL;
    assert_int_equal(fit_model_load(&bad, blob, bytes, err, sizeof err), CLEAVE_EPARSE);
    assert_null(bad);
    u[72] = 56;
    u[56] = 4; /* degree 4 */
    assert_int_equal(fit_model_load(&bad, blob, bytes, err, sizeof err), CLEAVE_EPARSE);
    assert_null(bad);
    free(blob);
    fit_model_free(m);
}

/* The load-feature clamp: y = 10 + 2 x0 + 100 x1 with x0 a layer feature in [0, 10] and x1 a
** load feature in [0, 1] (clamp_from = 1).  x0 extrapolates, x1 is held to [0, 1]; the clamp
** survives a save/load round trip; a version-2 blob (no clamp) still loads; a blob whose clamp
** is out of range or inverted is refused; too many features to clamp is an error. */
static void test_load_clamp(void **state)
{
    (void)state;
    enum { N = 40, P = 2 };
    double x[N * P], y[N];
    uint64_t s = 5;
    for (size_t i = 0; i < N; i++) {
        x[i * P] = 10.0 * (double)i / (N - 1);
        x[i * P + 1] = i % 2 ? uniform(&s, 0.0, 1.0) : (i % 4 ? 1.0 : 0.0);
        y[i] = 10.0 + 2.0 * x[i * P] + 100.0 * x[i * P + 1];
    }
    fit_opts o;
    fit_opts_default(&o, FIT_LINEAR);
    o.clamp_from = 1;
    fit_model *m = train_ok(FIT_LINEAR, x, N, P, y, &o);
    const double far[] = {20.0, 0.5}, hi[] = {5.0, 3.0}, lo[] = {5.0, -2.0},
                 nan_load[] = {5.0, NAN};
    assert_true(fabs(fit_predict(m, far) - 100.0) < 1e-9);
    assert_true(fabs(fit_predict(m, hi) - 120.0) < 1e-9);
    assert_true(fabs(fit_predict(m, lo) - 20.0) < 1e-9);
    assert_true(isnan(fit_predict(m, nan_load))); /* NaN is not silently replaced */

    void *blob = NULL;
    size_t bytes = 0;
    char err[256];
    fit_model *back = NULL;
    assert_int_equal(fit_model_save(m, &blob, &bytes), CLEAVE_OK);
    assert_int_equal(fit_model_load(&back, blob, bytes, err, sizeof err), CLEAVE_OK);
    double a = fit_predict(m, hi), b = fit_predict(back, hi);
    assert_memory_equal(&a, &b, sizeof a);
    fit_model_free(back);
    unsigned char *u = blob;
    /* Header: magic, version, family, p, log_target, tmin, tmax, clamp_from at byte 56, then
    ** the low and the high of feature 1. */
    assert_true(u[56] == 1);
    u[56] = 3; /* clamp_from beyond p */
    assert_int_equal(fit_model_load(&back, blob, bytes, err, sizeof err), CLEAVE_EPARSE);
    u[56] = 1;
    double two = 2.0;
    memcpy(u + 64, &two, 8); /* low 2 > high 1 */
    assert_int_equal(fit_model_load(&back, blob, bytes, err, sizeof err), CLEAVE_EPARSE);
    assert_string_equal(err, "stored model is truncated or malformed");
    free(blob);
    fit_model_free(m);

    /* A model without a clamp, written as version 2 (no clamp_from field), reads back the same. */
    fit_opts_default(&o, FIT_LINEAR);
    m = train_ok(FIT_LINEAR, x, N, P, y, &o);
    assert_int_equal(fit_model_save(m, &blob, &bytes), CLEAVE_OK);
    u = blob;
    u[8] = 2;
    memmove(u + 56, u + 64, bytes - 64);
    assert_int_equal(fit_model_load(&back, blob, bytes - 8, err, sizeof err), CLEAVE_OK);
    a = fit_predict(m, hi);
    b = fit_predict(back, hi);
    assert_memory_equal(&a, &b, sizeof a);
    assert_true(fabs(a - (10.0 + 10.0 + 300.0)) < 1e-9); /* no clamp: extrapolates */
    fit_model_free(back);
    free(blob);
    fit_model_free(m);

    /* 65 features cannot be clamped. */
    enum { W = 65 };
    double *xw = calloc(4 * W, sizeof *xw), yw[4] = {1, 2, 3, 4};
    assert_non_null(xw);
    fit_opts_default(&o, FIT_RIDGE);
    o.clamp_from = 0;
    assert_int_equal(fit_train(&m, FIT_RIDGE, xw, 4, W, yw, &o, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "cannot clamp the features of a model with 65 of them (at most 64)");
    assert_null(m);
    free(xw);
}

int main(void)
{
    gsl_set_error_handler_off();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_recovers), cmocka_unit_test(test_ridge_recovers),
        cmocka_unit_test(test_lasso_recovers),  cmocka_unit_test(test_log_recovers),
        cmocka_unit_test(test_poly_recovers),   cmocka_unit_test(test_ridge_gcv_oracle),
        cmocka_unit_test(test_lasso_kkt),       cmocka_unit_test(test_collinear),
        cmocka_unit_test(test_few_rows),        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_load_clamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
