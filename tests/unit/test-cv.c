/*
** tests/unit/test-cv.c - held-out evaluation (fit/cv.c): the metrics against hand computations
** and an independent formula, k-fold balance and determinism, held-out predictions equal to
** those of models trained without their fold or load level, and the refusals.
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

#include "common/rng.h"
#include "fit/cv.h"
#include "fit/family.h"
#include "fit/model.h"

static void assert_close(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol * fmax(1.0, fabs(want))))
        fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

/* ---- metrics ------------------------------------------------------------------------------ */

/* Four rows worked out by hand (no row sits on the 10 % boundary):
**   y    = 1,     2,    3,    4;   yhat = 1.05, 1.7, 3.2, 4.0
**   e    = -0.05, 0.3,  -0.2, 0    SS_res = 0.0025 + 0.09 + 0.04 = 0.1325
**   mean = 2.5                     SS_tot = 2.25 + 0.25 + 0.25 + 2.25 = 5
**   R2 = 1 - 0.1325 / 5 = 0.9735;  RMSE = sqrt(0.1325 / 4)
**   MAPE = 100 / 4 (0.05 + 0.15 + 0.0666... + 0) = 6.666... %
**   within 10 %: rows 0 (0.05 <= 0.1), 2 (0.2 <= 0.3), 3 -> 3 / 4 */
static void test_metrics_by_hand(void **state)
{
    (void)state;
    const double y[4] = {1, 2, 3, 4}, yhat[4] = {1.05, 1.7, 3.2, 4.0};
    fit_metrics m;
    fit_metrics_compute(&m, y, yhat, 4);
    assert_int_equal(m.n, 4);
    assert_close(m.r2, 0.9735, 1e-12, "r2");
    assert_close(m.rmse, sqrt(0.1325 / 4), 1e-12, "rmse");
    assert_close(m.mape, 25.0 * (0.05 + 0.15 + 0.2 / 3.0), 1e-12, "mape");
    assert_true(m.within10 == 0.75);

    /* Perfect predictions; the mean as prediction (R2 = 0); worse than the mean (R2 < 0). */
    fit_metrics_compute(&m, y, y, 4);
    assert_true(m.r2 == 1.0 && m.rmse == 0.0 && m.mape == 0.0 && m.within10 == 1.0);
    const double mean[4] = {2.5, 2.5, 2.5, 2.5}, rev[4] = {4, 3, 2, 1};
    fit_metrics_compute(&m, y, mean, 4);
    assert_close(m.r2, 0.0, 1e-15, "r2 of the mean");
    fit_metrics_compute(&m, y, rev, 4);
    assert_close(m.r2, 1.0 - 20.0 / 5.0, 1e-15, "r2 reversed"); /* SS_res = 9+1+1+9 */
}

/* Undefined cases: constant latencies (SS_tot = 0) give NaN R2 but the other metrics; a
** non-finite prediction is left out and counted; nothing usable gives all NaN. */
static void test_metrics_undefined(void **state)
{
    (void)state;
    const double c[3] = {5, 5, 5}, chat[3] = {5, 5.5, 4};
    fit_metrics m;
    fit_metrics_compute(&m, c, chat, 3);
    assert_true(isnan(m.r2));
    assert_close(m.rmse, sqrt((0.25 + 1.0) / 3.0), 1e-12, "rmse");
    assert_close(m.within10, 2.0 / 3.0, 1e-15, "within10");

    const double y[4] = {1, 2, 3, 4}, yhat[4] = {1, NAN, 3, INFINITY};
    fit_metrics_compute(&m, y, yhat, 4);
    assert_int_equal(m.n, 2);
    assert_true(m.rmse == 0.0);
    assert_close(m.r2, 1.0, 0, "r2 of the usable rows");

    const double none[2] = {NAN, NAN};
    fit_metrics_compute(&m, y, none, 2);
    assert_int_equal(m.n, 0);
    assert_true(isnan(m.r2) && isnan(m.rmse) && isnan(m.mape) && isnan(m.within10));
    fit_metrics_compute(&m, y, y, 1);
    assert_true(isnan(m.r2) && m.rmse == 0.0); /* one row: no variance to explain */
    m = fit_metrics_none();
    assert_true(isnan(m.r2) && m.n == 0);
}

/* Random data: the metrics equal an independent computation in plain doubles with the other
** form of the sums (SS_tot = sum y^2 - n mean^2, MAPE from the mean of ratios). */
static void test_metrics_random(void **state)
{
    (void)state;
    uint64_t s = 7;
    enum { N = 1000 };
    static double y[N], yhat[N];
    for (size_t i = 0; i < N; i++) {
        y[i] = 10.0 + 1000.0 * cl_rng_uniform(&s);
        yhat[i] = y[i] * (0.8 + 0.4 * cl_rng_uniform(&s));
    }
    double sy = 0, syy = 0, ssr = 0, ape = 0;
    int within = 0;
    for (size_t i = 0; i < N; i++) {
        sy += y[i];
        syy += y[i] * y[i];
        ssr += (y[i] - yhat[i]) * (y[i] - yhat[i]);
        ape += fabs(yhat[i] / y[i] - 1.0);
        within += fabs(yhat[i] / y[i] - 1.0) <= 0.1;
    }
    double sst = syy - sy * sy / N;
    fit_metrics m;
    fit_metrics_compute(&m, y, yhat, N);
    assert_close(m.r2, 1.0 - ssr / sst, 1e-9, "r2");
    assert_close(m.rmse, sqrt(ssr / N), 1e-12, "rmse");
    assert_close(m.mape, 100.0 * ape / N, 1e-9, "mape");
    assert_close(m.within10 * N, within, 1.0, "within10"); /* a row may sit on the boundary */
}

/* ---- folds -------------------------------------------------------------------------------- */

/* Folds are balanced (sizes differ by at most one), cover every row, and depend only on the
** seed; the effective fold count drops to N for small N and to 0 below 2 rows. */
static void test_folds(void **state)
{
    (void)state;
    for (size_t n = 2; n < 60; n += 7)
        for (int k = 2; k <= 10; k++) {
            int *a = malloc(sizeof *a * n), *b = malloc(sizeof *b * n);
            assert_non_null(a);
            assert_non_null(b);
            int keff = fit_cv_effective_folds(n, k);
            assert_int_equal(keff, (size_t)k > n ? (int)n : k);
            fit_folds(n, keff, 42, a);
            fit_folds(n, keff, 42, b);
            assert_memory_equal(a, b, sizeof *a * n);
            size_t count[20] = {0};
            for (size_t i = 0; i < n; i++) {
                assert_true(a[i] >= 0 && a[i] < keff);
                count[a[i]]++;
            }
            for (int f = 0; f < keff; f++)
                assert_true(count[f] == n / (size_t)keff || count[f] == n / (size_t)keff + 1);
            free(a);
            free(b);
        }
    assert_int_equal(fit_cv_effective_folds(1, 5), 0);
    assert_int_equal(fit_cv_effective_folds(0, 5), 0);
    assert_int_equal(fit_cv_effective_folds(100, 1), 0);

    /* Another seed, another assignment. */
    int a[50], b[50];
    fit_folds(50, 5, 1, a);
    fit_folds(50, 5, 2, b);
    assert_true(memcmp(a, b, sizeof a) != 0);
}

/* ---- held-out predictions ----------------------------------------------------------------- */

#define N_ROWS 60
#define P_FEAT 2

/* Rows with latency = 3 + 2 x0 + 0.5 x1 (+ NOISE * gauss), LEVEL[i] = i % 3. */
static void make_data(double *x, double *y, int *level, double noise, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < N_ROWS; i++) {
        x[i * P_FEAT] = 1.0 + 9.0 * cl_rng_uniform(&s);
        x[i * P_FEAT + 1] = 100.0 * cl_rng_uniform(&s);
        double g =
            sqrt(-2.0 * log(1.0 - cl_rng_uniform(&s))) * cos(6.283185307 * cl_rng_uniform(&s));
        y[i] = 3.0 + 2.0 * x[i * P_FEAT] + 0.5 * x[i * P_FEAT + 1] + noise * g;
        level[i] = (int)(i % 3);
    }
}

/* The oracle: for each group g, a model trained here on the other rows predicts the rows of g. */
static void oracle(fit_family f, const double *x, const double *y, const int *group, int ngroups,
                   double *pred)
{
    double xt[N_ROWS * P_FEAT], yt[N_ROWS];
    char err[256];
    for (int g = 0; g < ngroups; g++) {
        size_t nt = 0;
        for (size_t i = 0; i < N_ROWS; i++)
            if (group[i] != g) {
                memcpy(xt + nt * P_FEAT, x + i * P_FEAT, sizeof(double) * P_FEAT);
                yt[nt++] = y[i];
            }
        fit_model *m = NULL;
        if (fit_train(&m, f, xt, nt, P_FEAT, yt, NULL, err, sizeof err) != CLEAVE_OK)
            fail_msg("oracle fit: %s", err);
        for (size_t i = 0; i < N_ROWS; i++)
            if (group[i] == g)
                pred[i] = fit_predict(m, x + i * P_FEAT);
        fit_model_free(m);
    }
}

/* k-fold: the folds are fit_folds(seed), every prediction is the one of a model trained
** without the row's fold (bit for bit), exact data is predicted exactly (R2 = 1), and the same
** seed gives the same predictions. */
static void test_kfold(void **state)
{
    (void)state;
    double x[N_ROWS * P_FEAT], y[N_ROWS], pred[N_ROWS], pred2[N_ROWS], want[N_ROWS];
    int level[N_ROWS], fold[N_ROWS], fold2[N_ROWS], ref[N_ROWS];
    char err[256];
    make_data(x, y, level, 0.0, 3);
    assert_int_equal(
        fit_cv_kfold(FIT_LINEAR, x, N_ROWS, P_FEAT, y, 5, 99, NULL, fold, pred, err, sizeof err),
        CLEAVE_OK);
    fit_folds(N_ROWS, 5, 99, ref);
    assert_memory_equal(fold, ref, sizeof fold);
    oracle(FIT_LINEAR, x, y, fold, 5, want);
    assert_memory_equal(pred, want, sizeof pred);
    fit_metrics m;
    fit_metrics_compute(&m, y, pred, N_ROWS);
    assert_close(m.r2, 1.0, 1e-10, "r2 of exact data");
    assert_true(m.within10 == 1.0);

    assert_int_equal(
        fit_cv_kfold(FIT_LINEAR, x, N_ROWS, P_FEAT, y, 5, 99, NULL, fold2, pred2, err, sizeof err),
        CLEAVE_OK);
    assert_memory_equal(pred, pred2, sizeof pred);

    /* Noisy data: held-out R2 below 1 and below the training fit's (never reported). */
    make_data(x, y, level, 5.0, 4);
    assert_int_equal(
        fit_cv_kfold(FIT_LINEAR, x, N_ROWS, P_FEAT, y, 5, 99, NULL, fold, pred, err, sizeof err),
        CLEAVE_OK);
    fit_model *all = NULL;
    assert_int_equal(fit_train(&all, FIT_LINEAR, x, N_ROWS, P_FEAT, y, NULL, err, sizeof err),
                     CLEAVE_OK);
    for (size_t i = 0; i < N_ROWS; i++)
        pred2[i] = fit_predict(all, x + i * P_FEAT);
    fit_model_free(all);
    fit_metrics train;
    fit_metrics_compute(&m, y, pred, N_ROWS);
    fit_metrics_compute(&train, y, pred2, N_ROWS);
    assert_true(m.r2 < train.r2 && m.r2 > 0.5);

    /* Too few rows to hold any out. */
    assert_int_equal(
        fit_cv_kfold(FIT_LINEAR, x, 1, P_FEAT, y, 5, 99, NULL, fold, pred, err, sizeof err),
        CLEAVE_EINVAL);
    assert_string_equal(err, "cross-validation needs at least 2 rows and 2 folds, got 1 and 5");
}

/* Leave-one-load-level-out: one held-out group per level, each predicted by a model trained on
** the other levels; one level gives NaN predictions and a note, not an error; a level whose
** removal leaves too few rows fails with the family's reason, naming the group. */
static void test_lolo(void **state)
{
    (void)state;
    double x[N_ROWS * P_FEAT], y[N_ROWS], pred[N_ROWS], want[N_ROWS];
    int level[N_ROWS];
    char err[256], note[128];
    make_data(x, y, level, 1.0, 5);
    assert_int_equal(fit_cv_lolo(FIT_RIDGE, x, N_ROWS, P_FEAT, y, level, 3, NULL, pred, note,
                                 sizeof note, err, sizeof err),
                     CLEAVE_OK);
    assert_string_equal(note, "");
    oracle(FIT_RIDGE, x, y, level, 3, want);
    assert_memory_equal(pred, want, sizeof pred);

    int one[N_ROWS] = {0};
    assert_int_equal(fit_cv_lolo(FIT_RIDGE, x, N_ROWS, P_FEAT, y, one, 1, NULL, pred, note,
                                 sizeof note, err, sizeof err),
                     CLEAVE_OK);
    assert_string_equal(note, "one load level: nothing to hold out");
    for (size_t i = 0; i < N_ROWS; i++)
        assert_true(isnan(pred[i]));
    fit_metrics m;
    fit_metrics_compute(&m, y, pred, N_ROWS);
    assert_true(isnan(m.r2) && m.n == 0);

    /* Level 0 holds all but 3 rows: training without it leaves 3 < p + 2 = 4. */
    int skew[N_ROWS];
    for (size_t i = 0; i < N_ROWS; i++)
        skew[i] = i < 3 ? 1 : 0;
    assert_int_equal(fit_cv_lolo(FIT_LINEAR, x, N_ROWS, P_FEAT, y, skew, 2, NULL, pred, note,
                                 sizeof note, err, sizeof err),
                     CLEAVE_EINVAL);
    assert_string_equal(err, "held-out group 0: linear needs at least 4 rows, got 3");

    /* A group holding every row leaves nothing to train on. */
    assert_int_equal(
        fit_cv_groups(FIT_LINEAR, x, N_ROWS, P_FEAT, y, one, 1, NULL, pred, err, sizeof err),
        CLEAVE_EINVAL);
    assert_string_equal(err, "held-out group 0: no training rows left");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_by_hand), cmocka_unit_test(test_metrics_undefined),
        cmocka_unit_test(test_metrics_random),  cmocka_unit_test(test_folds),
        cmocka_unit_test(test_kfold),           cmocka_unit_test(test_lolo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
