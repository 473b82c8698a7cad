/*
** fit/lasso.c - the lasso (Tibshirani 1996) by cyclic coordinate descent along a lambda path
** with warm starts, lambda chosen by inner K-fold cross-validation.
**
** Friedman, Hastie, Tibshirani, "Regularization paths for generalized linear models via
** coordinate descent", J. Stat. Softw. 33(1), 2010: on standardised features z (sample standard
** deviation) and the centred target y, minimise
**     (1/2n) |y - Z b|^2 + lambda |b|_1.
** With g_j = (1/n) z_j^T (y - Z b) the partial-residual correlation and v_j = (1/n) |z_j|^2, the
** exact minimiser in b_j alone is the soft-threshold update (their eq. 5)
**     b_j <- S(g_j + v_j b_j, lambda) / v_j,   S(a, l) = sign(a) max(|a| - l, 0).
** "Covariance updates" (their 2.2): g = Z^T y / n - G b with G = Z^T Z / n, so one pass over the
** rows builds G and every update afterwards costs O(p), independent of n.  The path has
** LASSO_NLAMBDA values log-spaced from lambda_max = max_j |z_j^T y| / n (the smallest lambda
** with b = 0) down to LASSO_MIN_RATIO lambda_max, each started from the previous solution.
** A lambda is converged when no coefficient moved by more than LASSO_TOL times the RMS of y
** (in units of the feature's spread, sqrt(v_j) |delta b_j|) in a full sweep, or after
** LASSO_MAX_SWEEPS sweeps.  Squared, that is v_j delta b_j^2 <= 1e-8 rms^2: ten times stricter
** than glmnet's default (thresh 1e-7 of the null deviance).  A stricter 1e-9 made collinear
** profiling features (MACs, FLOPs, bytes) run to the sweep cap on every lambda: 3.6x the time
** on a 2361-sample calibration (bench-fit --families lasso), for held-out R^2 that moved by
** hundredths either way.
**
** The inner CV (opts->inner_folds folds from fit_folds with opts->seed) standardises on each
** training part, runs the whole path there, and scores every lambda by the held-out mean
** squared error on the target scale; the best lambda (the larger one on a tie) is then fitted
** on all rows by the same path, and the coefficients are folded back to raw features.
*/
#include "fit/linear.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LASSO_NLAMBDA 50
#define LASSO_MIN_RATIO 1e-4
#define LASSO_TOL 1e-4
#define LASSO_MAX_SWEEPS 2000
#define LASSO_ROWS_PER_FOLD 4 /* needs inner_folds * 4 rows: 3 per fold to train on at least */

/* One lasso problem: the standardisation and the covariance form of a set of rows. */
typedef struct lasso_prob {
    size_t p;
    double *mu, *sd; /* P: the rows' column statistics */
    double *gram;    /* P x P: Z^T Z / n */
    double *zty;     /* P: Z^T y / n */
    double *z;       /* P: scratch row */
    double tbar;     /* mean target */
    double rms;      /* sqrt(|y - tbar|^2 / n) */
} lasso_prob;

static void prob_release(lasso_prob *q)
{
    free(q->mu);
    free(q->sd);
    free(q->gram);
    free(q->zty);
    free(q->z);
}

static int prob_init(lasso_prob *q, size_t p)
{
    memset(q, 0, sizeof *q);
    q->p = p;
    q->mu = malloc(sizeof *q->mu * p);
    q->sd = malloc(sizeof *q->sd * p);
    q->gram = malloc(sizeof *q->gram * p * p);
    q->zty = malloc(sizeof *q->zty * p);
    q->z = malloc(sizeof *q->z * p);
    return q->mu && q->sd && q->gram && q->zty && q->z ? 0 : -1;
}

/* Build problem Q from the NR rows ROWS[] of X (all N rows in order when ROWS is NULL) and
** targets T.  XS is scratch for NR x P values (the rows gathered for fit_column_stats). */
static void prob_fill(lasso_prob *q, const double *x, const double *t, const size_t *rows,
                      size_t nr, double *xs)
{
    size_t p = q->p;
    const double *xr = x;
    if (rows) {
        for (size_t i = 0; i < nr; i++)
            memcpy(xs + i * p, x + rows[i] * p, sizeof *xs * p);
        xr = xs;
    }
    fit_column_stats(xr, nr, p, q->mu, q->sd);
    double tbar = 0.0;
    for (size_t i = 0; i < nr; i++)
        tbar += t[rows ? rows[i] : i];
    tbar /= (double)nr;
    memset(q->gram, 0, sizeof *q->gram * p * p);
    memset(q->zty, 0, sizeof *q->zty * p);
    double yy = 0.0;
    for (size_t i = 0; i < nr; i++) {
        const double *row = xr + i * p;
        double y = t[rows ? rows[i] : i] - tbar;
        for (size_t j = 0; j < p; j++)
            q->z[j] = (row[j] - q->mu[j]) / q->sd[j];
        for (size_t j = 0; j < p; j++) {
            double zj = q->z[j];
            double *g = q->gram + j * p;
            for (size_t k = j; k < p; k++)
                g[k] += zj * q->z[k];
            q->zty[j] += zj * y;
        }
        yy += y * y;
    }
    for (size_t j = 0; j < p; j++) {
        q->zty[j] /= (double)nr;
        for (size_t k = j; k < p; k++) {
            q->gram[j * p + k] /= (double)nr;
            q->gram[k * p + j] = q->gram[j * p + k];
        }
    }
    q->tbar = tbar;
    q->rms = sqrt(yy / (double)nr);
}

/* lambda_max: the smallest lambda at which b = 0 solves the problem. */
static double prob_lambda_max(const lasso_prob *q)
{
    double lmax = 0.0;
    for (size_t j = 0; j < q->p; j++)
        if (q->gram[j * q->p + j] > 0.0)
            lmax = fmax(lmax, fabs(q->zty[j]));
    return lmax;
}

/* Coordinate descent at LAMBDA from the warm start B, with GRAD = zty - gram b kept in step. */
static void lasso_cd(const lasso_prob *q, double lambda, double *b, double *grad)
{
    size_t p = q->p;
    double tol = LASSO_TOL * q->rms;
    for (int sweep = 0; sweep < LASSO_MAX_SWEEPS; sweep++) {
        double maxmove = 0.0;
        for (size_t j = 0; j < p; j++) {
            double v = q->gram[j * p + j];
            if (!(v > 0.0))
                continue; /* a constant column stays at 0 */
            double a = grad[j] + v * b[j];
            double nb = a > lambda ? (a - lambda) / v : a < -lambda ? (a + lambda) / v : 0.0;
            double d = nb - b[j];
            if (d == 0.0)
                continue;
            const double *gj = q->gram + j * p;
            for (size_t k = 0; k < p; k++)
                grad[k] -= gj[k] * d;
            b[j] = nb;
            maxmove = fmax(maxmove, fabs(d) * sqrt(v));
        }
        if (maxmove <= tol)
            break;
    }
}

static void path_lambdas(double lmax, double *lam)
{
    for (int l = 0; l < LASSO_NLAMBDA; l++)
        lam[l] = lmax * pow(LASSO_MIN_RATIO, (double)l / (LASSO_NLAMBDA - 1));
}

/* Run the path of problem Q from b = 0 down to LAM[last], then LAMBDA_END (when >= 0) - the
** warm starts glmnet uses - leaving the solution in B.  GRAD is scratch. */
static void lasso_path_to(const lasso_prob *q, const double *lam, int last, double lambda_end,
                          double *b, double *grad)
{
    memset(b, 0, sizeof *b * q->p);
    memcpy(grad, q->zty, sizeof *grad * q->p);
    for (int l = 0; l <= last; l++)
        lasso_cd(q, lam[l], b, grad);
    if (lambda_end >= 0.0)
        lasso_cd(q, lambda_end, b, grad);
}

static cleave_status lasso_train(fit_model *m, const double *x, size_t n, size_t p, const double *t,
                                 const fit_opts *o, char *err, size_t errlen)
{
    lasso_prob q;
    int *fold = NULL;
    size_t *rows = NULL;
    double *xs = NULL, *b = NULL, *grad = NULL, *sse = NULL;
    fit_lin *l = NULL, *tmp = NULL;
    double lam[LASSO_NLAMBDA];
    cleave_status rc = CLEAVE_OK;

    memset(&q, 0, sizeof q);
    int k = o->inner_folds;
    if (k < 2) {
        rc = CLEAVE_EINVAL;
        snprintf(err, errlen, "lasso needs at least 2 inner folds, got %d", k);
        goto done;
    }
    rc = fit_need_rows(m->family, n, (size_t)k * LASSO_ROWS_PER_FOLD, err, errlen);
    if (rc != CLEAVE_OK)
        goto done;
    fold = malloc(sizeof *fold * n);
    rows = malloc(sizeof *rows * n);
    xs = malloc(sizeof *xs * n * p);
    b = malloc(sizeof *b * p);
    grad = malloc(sizeof *grad * p);
    sse = calloc(LASSO_NLAMBDA, sizeof *sse);
    l = fit_lin_new(p);
    tmp = fit_lin_new(p);
    if (prob_init(&q, p) || !fold || !rows || !xs || !b || !grad || !sse || !l || !tmp)
        goto nomem;

    /* The path is fixed by all rows' lambda_max, so the folds score the same lambdas. */
    prob_fill(&q, x, t, NULL, n, xs);
    double lmax = prob_lambda_max(&q);
    path_lambdas(lmax, lam);
    int best = 0;
    if (lmax > 0.0) {
        fit_folds(n, k, o->seed, fold);
        for (int f = 0; f < k; f++) {
            size_t nr = 0;
            for (size_t i = 0; i < n; i++)
                if (fold[i] != f)
                    rows[nr++] = i;
            prob_fill(&q, x, t, rows, nr, xs);
            memset(b, 0, sizeof *b * p);
            memcpy(grad, q.zty, sizeof *grad * p);
            for (int li = 0; li < LASSO_NLAMBDA; li++) {
                lasso_cd(&q, lam[li], b, grad);
                fit_lin_unscale(tmp, b, q.mu, q.sd, q.tbar, p);
                for (size_t i = 0; i < n; i++) {
                    if (fold[i] != f)
                        continue;
                    double pred = tmp->intercept;
                    for (size_t j = 0; j < p; j++)
                        pred += tmp->beta[j] * x[i * p + j];
                    sse[li] += (t[i] - pred) * (t[i] - pred);
                }
            }
        }
        for (int li = 1; li < LASSO_NLAMBDA; li++)
            if (sse[li] < sse[best])
                best = li;
        prob_fill(&q, x, t, NULL, n, xs);
    }
    lasso_path_to(&q, lam, best, -1.0, b, grad);
    fit_lin_unscale(l, b, q.mu, q.sd, q.tbar, p);
    l->lambda = lam[best];
    l->rank = 0;
    for (size_t j = 0; j < p; j++)
        l->rank += b[j] != 0.0;
    for (size_t j = 0; j < p; j++)
        if (!isfinite(l->beta[j]) || !isfinite(l->intercept)) {
            rc = CLEAVE_ENUMERIC;
            snprintf(err, errlen, "lasso: fit produced non-finite coefficients");
            goto done;
        }
    m->impl = l;
    l = NULL;
    goto done;
nomem:
    rc = CLEAVE_ENOMEM;
    snprintf(err, errlen, "out of memory");
done:
    fit_lin_destroy(l);
    fit_lin_destroy(tmp);
    prob_release(&q);
    free(sse);
    free(grad);
    free(b);
    free(xs);
    free(rows);
    free(fold);
    return rc;
}

cleave_status fit_lasso_at(double *intercept, double *beta, const double *x, size_t n, size_t p,
                           const double *t, double lambda, char *err, size_t errlen)
{
    lasso_prob q;
    double *b = NULL, *grad = NULL;
    fit_lin *l = NULL;
    double lam[LASSO_NLAMBDA];
    cleave_status rc = CLEAVE_OK;

    memset(&q, 0, sizeof q);
    if (n < 2 || p == 0 || !(lambda >= 0.0)) {
        rc = CLEAVE_EINVAL;
        snprintf(err, errlen, "lasso needs at least 2 rows, a feature and lambda >= 0");
        goto done;
    }
    b = malloc(sizeof *b * p);
    grad = malloc(sizeof *grad * p);
    l = fit_lin_new(p);
    if (prob_init(&q, p) || !b || !grad || !l) {
        rc = CLEAVE_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    prob_fill(&q, x, t, NULL, n, NULL);
    path_lambdas(prob_lambda_max(&q), lam);
    int last = -1;
    while (last + 1 < LASSO_NLAMBDA && lam[last + 1] > lambda)
        last++;
    lasso_path_to(&q, lam, last, lambda, b, grad);
    fit_lin_unscale(l, b, q.mu, q.sd, q.tbar, p);
    *intercept = l->intercept;
    memcpy(beta, l->beta, sizeof *beta * p);
done:
    fit_lin_destroy(l);
    prob_release(&q);
    free(grad);
    free(b);
    return rc;
}

static void lasso_describe(const fit_model *m, char *buf, size_t buflen)
{
    const fit_lin *l = m->impl;
    if (l->lambda == 0.0)
        snprintf(buf, buflen, "lambda=0 nonzero=%llu", (unsigned long long)l->rank);
    else
        snprintf(buf, buflen, "lambda=%.1e nonzero=%llu", l->lambda, (unsigned long long)l->rank);
}

const struct fit_family_ops fit_lasso_ops = {
    .train = lasso_train,
    .predict = fit_lin_predict,
    .save = fit_lin_save,
    .load = fit_lin_load,
    .free_impl = fit_lin_free,
    .describe = lasso_describe,
};
