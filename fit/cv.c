/*
** fit/cv.c - held-out predictions (k-fold, leave-one-load-level-out) and accuracy metrics.
*/
#include "fit/cv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit/family.h"

fit_metrics fit_metrics_none(void)
{
    fit_metrics m = {NAN, NAN, NAN, NAN, 0};
    return m;
}

/* See cv.h.  Two passes: the mean of the used Y first, then the sums, so SS_tot is the centred
** sum of squares (numerically better than sum y^2 - n mean^2).  Long double accumulators keep
** the sums of a few thousand rows exact to a double's precision. */
void fit_metrics_compute(fit_metrics *out, const double *y, const double *yhat, size_t n)
{
    long double sy = 0.0L, ss_res = 0.0L, ss_tot = 0.0L, ape = 0.0L;
    size_t used = 0, within = 0;

    *out = fit_metrics_none();
    for (size_t i = 0; i < n; i++)
        if (isfinite(yhat[i]) && isfinite(y[i])) {
            sy += y[i];
            used++;
        }
    if (used == 0)
        return;
    long double mean = sy / (long double)used;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(yhat[i]) || !isfinite(y[i]))
            continue;
        long double e = (long double)y[i] - (long double)yhat[i];
        long double d = (long double)y[i] - mean;
        ss_res += e * e;
        ss_tot += d * d;
        ape += fabsl(e) / fabsl((long double)y[i]);
        within += fabsl(e) <= 0.1L * fabsl((long double)y[i]);
    }
    out->n = used;
    out->rmse = (double)sqrtl(ss_res / (long double)used);
    out->mape = (double)(100.0L * ape / (long double)used);
    out->within10 = (double)within / (double)used;
    out->r2 = used >= 2 && ss_tot > 0.0L ? (double)(1.0L - ss_res / ss_tot) : NAN;
}

size_t fit_cv_train_rows(const double *x, size_t n, size_t p, const double *y, const int *group,
                         int g, double *xt, double *yt)
{
    size_t nt = 0;
    for (size_t i = 0; i < n; i++) {
        if (group[i] == g)
            continue;
        memcpy(xt + nt * p, x + i * p, sizeof *xt * p);
        yt[nt++] = y[i];
    }
    return nt;
}

/* See cv.h.  One training copy is reused for every group. */
cleave_status fit_cv_groups(fit_family f, const double *x, size_t n, size_t p, const double *y,
                            const int *group, int ngroups, const fit_opts *o, double *pred,
                            char *err, size_t errlen)
{
    double *xt = NULL, *yt = NULL;
    fit_model *m = NULL;
    char why[256];
    cleave_status rc = CLEAVE_OK;

    if (n == 0 || p == 0) {
        snprintf(err, errlen, "nothing to hold out: %zu rows of %zu features", n, p);
        return CLEAVE_EINVAL;
    }
    xt = malloc(sizeof *xt * n * p);
    yt = malloc(sizeof *yt * n);
    if (!xt || !yt) {
        rc = CLEAVE_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        pred[i] = NAN;
    for (int g = 0; g < ngroups; g++) {
        size_t held = 0;
        for (size_t i = 0; i < n; i++)
            held += group[i] == g;
        if (held == 0)
            continue;
        size_t nt = fit_cv_train_rows(x, n, p, y, group, g, xt, yt);
        if (nt == 0) {
            rc = CLEAVE_EINVAL;
            snprintf(err, errlen, "held-out group %d: no training rows left", g);
            goto done;
        }
        if ((rc = fit_train(&m, f, xt, nt, p, yt, o, why, sizeof why)) != CLEAVE_OK) {
            snprintf(err, errlen, "held-out group %d: %s", g, why);
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            if (group[i] == g)
                pred[i] = fit_predict(m, x + i * p);
        fit_model_free(m);
        m = NULL;
    }
done:
    fit_model_free(m);
    free(xt);
    free(yt);
    return rc;
}

int fit_cv_effective_folds(size_t n, int k)
{
    if (n < 2 || k < 2)
        return 0;
    return (size_t)k > n ? (int)n : k;
}

cleave_status fit_cv_kfold(fit_family f, const double *x, size_t n, size_t p, const double *y,
                           int k, uint64_t seed, const fit_opts *o, int *fold, double *pred,
                           char *err, size_t errlen)
{
    int keff = fit_cv_effective_folds(n, k);
    if (keff == 0) {
        snprintf(err, errlen, "cross-validation needs at least 2 rows and 2 folds, got %zu and %d",
                 n, k);
        return CLEAVE_EINVAL;
    }
    fit_folds(n, keff, seed, fold);
    return fit_cv_groups(f, x, n, p, y, fold, keff, o, pred, err, errlen);
}

cleave_status fit_cv_lolo(fit_family f, const double *x, size_t n, size_t p, const double *y,
                          const int *level, int nlevels, const fit_opts *o, double *pred,
                          char *note, size_t notelen, char *err, size_t errlen)
{
    if (notelen)
        note[0] = '\0';
    if (nlevels < 2) {
        for (size_t i = 0; i < n; i++)
            pred[i] = NAN;
        snprintf(note, notelen, "%s load level: nothing to hold out", nlevels ? "one" : "no");
        return CLEAVE_OK;
    }
    return fit_cv_groups(f, x, n, p, y, level, nlevels, o, pred, err, errlen);
}
