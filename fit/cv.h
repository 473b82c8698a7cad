/*
** fit/cv.h - honest accuracy of a regression family: held-out predictions by k-fold cross-
** validation and by leave-one-load-level-out, and the metrics computed from them.
**
** Every metric here is computed from predictions of a model that did not see the row it
** predicts; a model's fit to its own training rows is never reported as accuracy (issue 4).
*/
#ifndef CLEAVE_FIT_CV_H
#define CLEAVE_FIT_CV_H

#include <stddef.h>
#include <stdint.h>

#include "fit/model.h"

#define FIT_FOLDS_DEFAULT 5
#define FIT_FOLDS_MIN 2
#define FIT_FOLDS_MAX 20
#define FIT_SEED_DEFAULT 42

/* Accuracy on the latency scale (microseconds), from N pairs of measured Y and predicted YHAT:
**   R2       = 1 - SS_res / SS_tot, SS_res = sum (y - yhat)^2, SS_tot = sum (y - mean y)^2;
**              NaN when SS_tot = 0 (constant latencies: R2 is undefined) or N < 2
**   RMSE     = sqrt(SS_res / N), microseconds
**   MAPE     = 100 / N * sum |y - yhat| / y, in percent (7.5 means 7.5 %)
**   WITHIN10 = share (0..1) of rows with |y - yhat| <= 0.1 y, nn-Meter's accuracy measure
** N counts the pairs used: a pair with a non-finite prediction is skipped (N then says so). */
typedef struct fit_metrics {
    double r2, rmse, mape, within10;
    size_t n;
} fit_metrics;

/* The metrics of the N pairs (Y[i], YHAT[i]) into *OUT (all NaN and n = 0 for no usable pair).
** Sums are accumulated in long double and in row order: the result is deterministic. */
void fit_metrics_compute(fit_metrics *out, const double *y, const double *yhat, size_t n);

/* Metrics with every field NaN and n = 0: "not computed". */
fit_metrics fit_metrics_none(void);

/* Leave-one-group-out held-out predictions: for each group g in [0, NGROUPS) that holds rows,
** train family F on the rows of the other groups (X row-major N x P, Y latencies) and predict
** the rows of g into PRED[i].  k-fold CV is GROUP = fit_folds(); leave-one-load-level-out is
** GROUP = the load level of each row.  On failure of any group's fit the status and message
** (prefixed "held-out group G: ") are returned and PRED is incomplete.  A group that leaves no
** training row is CLEAVE_EINVAL. */
cleave_status fit_cv_groups(fit_family f, const double *x, size_t n, size_t p, const double *y,
                            const int *group, int ngroups, const fit_opts *o, double *pred,
                            char *err, size_t errlen);

/* The training rows for held-out group G: copies the rows of X, Y whose GROUP is not G into XT
** (room for N x P) and YT (N), and returns how many.  Shared by fit_cv_groups() and callers
** that run the groups in parallel (fit/fitrun.c). */
size_t fit_cv_train_rows(const double *x, size_t n, size_t p, const double *y, const int *group,
                         int g, double *xt, double *yt);

/* The number of k-fold folds used for N rows when K were asked for: K, or N when N < K
** (leave-one-out), or 0 when N < 2 (nothing can be held out). */
int fit_cv_effective_folds(size_t n, int k);

/* k-fold CV of family F: FOLD[i] = fit_folds(N, K', SEED) with K' = fit_cv_effective_folds(),
** then fit_cv_groups().  Deterministic for a given SEED.  CLEAVE_EINVAL when N < 2. */
cleave_status fit_cv_kfold(fit_family f, const double *x, size_t n, size_t p, const double *y,
                           int k, uint64_t seed, const fit_opts *o, int *fold, double *pred,
                           char *err, size_t errlen);

/* Leave-one-load-level-out of family F: LEVEL[i] in [0, NLEVELS) is row i's load setting; each
** level is held out in turn.  With fewer than 2 levels nothing can be held out: PRED is all
** NaN, *NOTE says why ("one load level: nothing to hold out") and the status is CLEAVE_OK, so
** that the metrics come out NaN.  NOTE (NOTELEN bytes) is "" otherwise. */
cleave_status fit_cv_lolo(fit_family f, const double *x, size_t n, size_t p, const double *y,
                          const int *level, int nlevels, const fit_opts *o, double *pred,
                          char *note, size_t notelen, char *err, size_t errlen);

#endif /* CLEAVE_FIT_CV_H */
