/*
** fit/krr.c - kernel ridge regression with an RBF kernel on standardised features, exact up
** to 3000 rows and Nystrom-approximated beyond; gamma and lambda by inner K-fold CV.
**
** The model (Saunders, Gammerman, Vovk 1998; Hastie, Tibshirani, Friedman, ESL 2nd ed. 5.8 and
** 12.3.7): f(x) = mean(t) + sum_i alpha_i k(x, c_i) with k(a, b) = exp(-gamma |a - b|^2) on
** standardised features.  The exact fit solves (K + lambda I) alpha = t - mean(t) over all
** training rows by Cholesky, O(n^3) time and O(n^2) memory.  Beyond exact_max_rows the
** Nystrom / subset-of-regressors approximation (Williams & Seeger, "Using the Nystrom method to
** speed up kernel machines", NIPS 2001; Rasmussen & Williams, GPML 8.3.1) restricts f to m
** landmark rows drawn by the seed and solves (K_mn K_nm + lambda K_mm) beta = K_mn t, O(n m^2).
**
** Hyper-parameters: gamma = c / p for c in {0.03, 0.1, 0.3, 1, 3} and a per-row ridge lambda'
** in {1e-8, ..., 1e-3} (decades), with lambda = n lambda' for a fit on n rows: the KRR
** objective (1/n) sum (t - f)^2 + lambda' |f|_H^2 gives exactly (K + n lambda' I) alpha = t, so
** lambda' is what carries over between the CV folds and the final fit.  The inner K-fold CV
** (opts->inner_folds, fit_folds with opts->seed) runs on at most cv_max_rows = 600 rows drawn
** by the seed, because its 5 x 6 x K Cholesky factorisations would otherwise dominate the fit
** time (on 4000 x 25 synthetic rows 600 picked the same pair as 800 and 1200; 400 did not).
**
** Prediction costs O(ncentres * p) (ncentres <= 3000 exact, m = 1000 Nystrom), no allocation.
*/
#include "fit/krr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>

#include "common/rng.h"
#include "fit/family.h"

#define KRR_MIN_ROWS 10
#define KRR_STACK_P 64     /* features standardised into a stack buffer when predicting */
#define KRR_BLOCK_ROWS 256 /* rows of K_nm formed at a time in the Nystrom fit */
#define KRR_MAX_CENTRES ((size_t)1 << 24)

static const double gamma_grid[] = {0.03, 0.1, 0.3, 1.0, 3.0};            /* times 1/p */
static const double lambda_grid[] = {1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3}; /* per row */
#define NGAMMA (sizeof gamma_grid / sizeof gamma_grid[0])
#define NLAMBDA (sizeof lambda_grid / sizeof lambda_grid[0])

struct krr {
    size_t nc; /* centres */
    int nystrom;
    double gamma, lambda, t_mean;
    double *mu, *sd; /* P each */
    double *centre;  /* NC x P, standardised */
    double *alpha;   /* NC */
};

void fit_krr_settings_default(fit_krr_settings *s)
{
    s->gamma = 0.0;
    s->lambda = 0.0;
    s->exact_max_rows = 3000;
    s->landmarks = 1000;
    s->cv_max_rows = 600;
}

static void krr_release(struct krr *k)
{
    if (!k)
        return;
    free(k->mu);
    free(k->sd);
    free(k->centre);
    free(k->alpha);
    free(k);
}

/* |a - b|^2 in four running sums, which breaks the add chain for speed (the order is fixed,
** so training and prediction agree to the bit). */
static double sqdist(const double *a, const double *b, size_t p)
{
    double d0 = 0.0, d1 = 0.0, d2 = 0.0, d3 = 0.0;
    size_t j = 0;
    for (; j + 4 <= p; j += 4) {
        double e0 = a[j] - b[j], e1 = a[j + 1] - b[j + 1];
        double e2 = a[j + 2] - b[j + 2], e3 = a[j + 3] - b[j + 3];
        d0 += e0 * e0;
        d1 += e1 * e1;
        d2 += e2 * e2;
        d3 += e3 * e3;
    }
    for (; j < p; j++)
        d0 += (a[j] - b[j]) * (a[j] - b[j]);
    return (d0 + d1) + (d2 + d3);
}

/* The first M entries of a seeded Fisher-Yates shuffle of 0..N-1 into IDX (N entries). */
static void draw_rows(size_t *idx, size_t n, size_t m, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    for (size_t i = 0; i < m && i + 1 < n; i++) {
        size_t j = i + (size_t)(cl_rng_next(&s) % (n - i));
        size_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
}

/* Solve A x = B for the symmetric N x N matrix A given by its strict upper triangle (row-major
** in A, which must hold N*N doubles) and its diagonal DIAG.  The lower triangle is filled from
** the upper one and factorised in place by gsl_linalg_cholesky_decomp1, which leaves the strict
** upper triangle untouched, so a matrix that is not numerically positive definite is rebuilt
** and retried with a jitter of 1e-10, 1e-8, 1e-6 and 1e-4 times its mean diagonal (the usual
** remedy for near-singular kernel matrices, GPML 3.4.3).  Returns CLEAVE_ENUMERIC with a
** message when that fails too or GSL reports another error. */
static cleave_status chol_solve(double *a, const double *diag, size_t n, const double *b, double *x,
                                char *err, size_t errlen)
{
    gsl_matrix_view av = gsl_matrix_view_array(a, n, n);
    gsl_vector_const_view bv = gsl_vector_const_view_array(b, n);
    gsl_vector_view xv = gsl_vector_view_array(x, n);
    double mean_diag = 0.0, jitter = 0.0;
    for (size_t i = 0; i < n; i++)
        mean_diag += diag[i] / (double)n;
    for (int attempt = 0; attempt < 5; attempt++) {
        jitter = attempt ? mean_diag * 1e-12 * pow(100.0, attempt) : 0.0;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < i; j++)
                a[i * n + j] = a[j * n + i];
            a[i * n + i] = diag[i] + jitter;
        }
        int st = gsl_linalg_cholesky_decomp1(&av.matrix);
        if (st == GSL_EDOM)
            continue;
        if (st == GSL_SUCCESS)
            st = gsl_linalg_cholesky_solve(&av.matrix, &bv.vector, &xv.vector);
        if (st != GSL_SUCCESS) {
            snprintf(err, errlen, "cholesky solve of the %zu x %zu kernel system failed: %s", n, n,
                     gsl_strerror(st));
            return CLEAVE_ENUMERIC;
        }
        for (size_t i = 0; i < n; i++)
            if (!isfinite(x[i])) {
                snprintf(err, errlen, "kernel system of %zu rows gave non-finite weights", n);
                return CLEAVE_ENUMERIC;
            }
        return CLEAVE_OK;
    }
    snprintf(err, errlen,
             "kernel matrix of %zu rows is not positive definite, even with jitter %.0e", n,
             jitter);
    return CLEAVE_ENUMERIC;
}

/* Choose gamma and the per-row ridge by K-fold CV on at most S->cv_max_rows of the N
** standardised rows Z (targets T): the pair with the least held-out squared error on the
** target scale, the first one on a tie.  A pair whose system fails even with jitter counts as
** infinitely bad; CLEAVE_ENUMERIC only when every pair fails. */
static cleave_status choose_hyper(const double *z, size_t n, size_t p, const double *t,
                                  const fit_opts *o, const fit_krr_settings *s, double *gamma,
                                  double *lambda_row, char *err, size_t errlen)
{
    int nfold = o->inner_folds < 2 ? 2 : o->inner_folds;
    size_t ncv = n < s->cv_max_rows ? n : s->cv_max_rows;
    size_t *idx = malloc(sizeof *idx * n);
    int *fold = malloc(sizeof *fold * ncv);
    double *dist = malloc(sizeof *dist * ncv * ncv);
    double *kern = malloc(sizeof *kern * ncv * ncv);
    double *a = malloc(sizeof *a * ncv * ncv);
    double *vec = malloc(sizeof *vec * ncv * 3);
    size_t *tr = malloc(sizeof *tr * ncv);
    double sse[NGAMMA][NLAMBDA];
    cleave_status rc = CLEAVE_OK;

    if (!idx || !fold || !dist || !kern || !a || !vec || !tr) {
        snprintf(err, errlen, "out of memory");
        rc = CLEAVE_ENOMEM;
        goto done;
    }
    double *diag = vec, *rhs = vec + ncv, *alpha = vec + 2 * ncv;
    draw_rows(idx, n, ncv, o->seed ^ 0x6b72722d6376ULL); /* "krr-cv" */
    fit_folds(ncv, nfold, o->seed, fold);
    for (size_t i = 0; i < ncv; i++)
        for (size_t j = 0; j < ncv; j++)
            dist[i * ncv + j] = sqdist(z + idx[i] * p, z + idx[j] * p, p);

    for (size_t g = 0; g < NGAMMA; g++) {
        double gam = gamma_grid[g] / (double)p;
        for (size_t i = 0; i < ncv * ncv; i++)
            kern[i] = exp(-gam * dist[i]);
        for (size_t l = 0; l < NLAMBDA; l++)
            sse[g][l] = 0.0;
        for (int f = 0; f < nfold; f++) {
            size_t ntr = 0;
            double mean = 0.0;
            for (size_t i = 0; i < ncv; i++)
                if (fold[i] != f) {
                    tr[ntr++] = i;
                    mean += t[idx[i]];
                }
            if (ntr == 0 || ntr == ncv)
                continue;
            mean /= (double)ntr;
            for (size_t l = 0; l < NLAMBDA; l++) {
                if (isinf(sse[g][l]))
                    continue;
                for (size_t i = 0; i < ntr; i++) {
                    for (size_t j = i + 1; j < ntr; j++)
                        a[i * ntr + j] = kern[tr[i] * ncv + tr[j]];
                    diag[i] = 1.0 + lambda_grid[l] * (double)ntr;
                    rhs[i] = t[idx[tr[i]]] - mean;
                }
                char ignored[160];
                if (chol_solve(a, diag, ntr, rhs, alpha, ignored, sizeof ignored) != CLEAVE_OK) {
                    sse[g][l] = INFINITY;
                    continue;
                }
                for (size_t v = 0; v < ncv; v++) {
                    if (fold[v] != f)
                        continue;
                    double pred = mean;
                    for (size_t i = 0; i < ntr; i++)
                        pred += kern[v * ncv + tr[i]] * alpha[i];
                    sse[g][l] += (t[idx[v]] - pred) * (t[idx[v]] - pred);
                }
            }
        }
    }
    double best = INFINITY;
    for (size_t g = 0; g < NGAMMA; g++)
        for (size_t l = 0; l < NLAMBDA; l++)
            if (sse[g][l] < best) {
                best = sse[g][l];
                *gamma = gamma_grid[g] / (double)p;
                *lambda_row = lambda_grid[l];
            }
    if (!(best < INFINITY)) {
        snprintf(err, errlen, "kernel_ridge: no kernel width and ridge gave a solvable system");
        rc = CLEAVE_ENUMERIC;
    }
done:
    free(idx);
    free(fold);
    free(dist);
    free(kern);
    free(a);
    free(vec);
    free(tr);
    return rc;
}

/* The exact fit: centres are all N standardised rows Z, alpha solves (K + lambda I) alpha =
** TC (the centred targets). */
static cleave_status fit_exact(struct krr *k, const double *z, size_t n, size_t p, const double *tc,
                               char *err, size_t errlen)
{
    double *a = malloc(sizeof *a * n * n);
    double *diag = malloc(sizeof *diag * n);
    cleave_status rc = CLEAVE_ENOMEM;

    k->nc = n;
    k->centre = malloc(sizeof *k->centre * n * p);
    k->alpha = malloc(sizeof *k->alpha * n);
    if (!a || !diag || !k->centre || !k->alpha) {
        snprintf(err, errlen, "out of memory for a %zu-row kernel matrix", n);
        goto done;
    }
    memcpy(k->centre, z, sizeof *z * n * p);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++)
            a[i * n + j] = exp(-k->gamma * sqdist(z + i * p, z + j * p, p));
        diag[i] = 1.0 + k->lambda;
    }
    rc = chol_solve(a, diag, n, tc, k->alpha, err, errlen);
done:
    free(a);
    free(diag);
    return rc;
}

/* The Nystrom fit: M landmark rows drawn by SEED become the centres, and beta solves
** (K_mn K_nm + lambda K_mm) beta = K_mn TC.  K_nm is formed KRR_BLOCK_ROWS rows at a time and
** accumulated with dsyrk/dgemv, so memory stays O(m^2) whatever N is. */
static cleave_status fit_nystrom(struct krr *k, const double *z, size_t n, size_t p,
                                 const double *tc, size_t m, uint64_t seed, char *err,
                                 size_t errlen)
{
    size_t *idx = malloc(sizeof *idx * n);
    double *g = calloc(m * m, sizeof *g);
    double *a = malloc(sizeof *a * m * m);
    double *vec = calloc(m * 2, sizeof *vec);
    double *blk = malloc(sizeof *blk * KRR_BLOCK_ROWS * m);
    cleave_status rc = CLEAVE_ENOMEM;

    k->nc = m;
    k->nystrom = 1;
    k->centre = malloc(sizeof *k->centre * m * p);
    k->alpha = malloc(sizeof *k->alpha * m);
    if (!idx || !g || !a || !vec || !blk || !k->centre || !k->alpha) {
        snprintf(err, errlen, "out of memory for %zu Nystrom landmarks", m);
        goto done;
    }
    double *diag = vec, *rhs = vec + m;
    draw_rows(idx, n, m, seed ^ 0x6b72722d6e7973ULL); /* "krr-nys" */
    for (size_t c = 0; c < m; c++)
        memcpy(k->centre + c * p, z + idx[c] * p, sizeof *z * p);

    gsl_matrix_view gv = gsl_matrix_view_array(g, m, m);
    gsl_vector_view rv = gsl_vector_view_array(rhs, m);
    for (size_t i0 = 0; i0 < n; i0 += KRR_BLOCK_ROWS) {
        size_t rows = n - i0 < KRR_BLOCK_ROWS ? n - i0 : KRR_BLOCK_ROWS;
        for (size_t i = 0; i < rows; i++)
            for (size_t c = 0; c < m; c++)
                blk[i * m + c] = exp(-k->gamma * sqdist(z + (i0 + i) * p, k->centre + c * p, p));
        gsl_matrix_const_view bv = gsl_matrix_const_view_array(blk, rows, m);
        gsl_vector_const_view tv = gsl_vector_const_view_array(tc + i0, rows);
        int st = gsl_blas_dsyrk(CblasUpper, CblasTrans, 1.0, &bv.matrix, 1.0, &gv.matrix);
        if (st == GSL_SUCCESS)
            st = gsl_blas_dgemv(CblasTrans, 1.0, &bv.matrix, &tv.vector, 1.0, &rv.vector);
        if (st != GSL_SUCCESS) {
            snprintf(err, errlen, "forming the Nystrom system failed: %s", gsl_strerror(st));
            rc = CLEAVE_ENUMERIC;
            goto done;
        }
    }
    for (size_t i = 0; i < m; i++) {
        for (size_t j = i + 1; j < m; j++)
            a[i * m + j] = g[i * m + j] + k->lambda * exp(-k->gamma * sqdist(k->centre + i * p,
                                                                             k->centre + j * p, p));
        diag[i] = g[i * m + i] + k->lambda;
    }
    rc = chol_solve(a, diag, m, rhs, k->alpha, err, errlen);
done:
    free(idx);
    free(g);
    free(a);
    free(vec);
    free(blk);
    return rc;
}

/* Fit M (its P and family set) with settings S; on success M->impl owns the new state. */
static cleave_status krr_fit(fit_model *m, const double *x, size_t n, size_t p, const double *t,
                             const fit_opts *o, const fit_krr_settings *s, char *err, size_t errlen)
{
    struct krr *k = calloc(1, sizeof *k);
    double *z = malloc(sizeof *z * n * p);
    double *tc = malloc(sizeof *tc * n);
    double lambda_row = 0.0;
    cleave_status rc = CLEAVE_ENOMEM;
    int fixed = s->gamma > 0 && s->lambda > 0;

    if (!k || !z || !tc) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    k->mu = malloc(sizeof *k->mu * p);
    k->sd = malloc(sizeof *k->sd * p);
    if (!k->mu || !k->sd) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (!fixed && n < KRR_MIN_ROWS) {
        snprintf(err, errlen, "%s needs at least %d rows, got %zu", fit_family_name(FIT_KRR),
                 KRR_MIN_ROWS, n);
        rc = CLEAVE_EINVAL;
        goto done;
    }
    fit_column_stats(x, n, p, k->mu, k->sd);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++)
            z[i * p + j] = (x[i * p + j] - k->mu[j]) / k->sd[j];
    for (size_t i = 0; i < n; i++)
        k->t_mean += t[i] / (double)n;
    for (size_t i = 0; i < n; i++)
        tc[i] = t[i] - k->t_mean;

    if (fixed) {
        k->gamma = s->gamma;
        k->lambda = s->lambda;
    } else {
        rc = choose_hyper(z, n, p, t, o, s, &k->gamma, &lambda_row, err, errlen);
        if (rc != CLEAVE_OK)
            goto done;
        k->lambda = lambda_row * (double)n;
    }
    size_t nland = s->landmarks ? s->landmarks : 1;
    if (n <= s->exact_max_rows || nland >= n)
        rc = fit_exact(k, z, n, p, tc, err, errlen);
    else
        rc = fit_nystrom(k, z, n, p, tc, nland, o->seed, err, errlen);
    if (rc == CLEAVE_OK) {
        m->impl = k;
        k = NULL;
    }
done:
    krr_release(k);
    free(z);
    free(tc);
    return rc;
}

static cleave_status krr_train(fit_model *m, const double *x, size_t n, size_t p, const double *t,
                               const fit_opts *o, char *err, size_t errlen)
{
    fit_krr_settings s;
    fit_krr_settings_default(&s);
    return krr_fit(m, x, n, p, t, o, &s, err, errlen);
}

/* fit_train_with()'s view of krr_fit. */
static cleave_status krr_fit_with(fit_model *m, const double *x, size_t n, size_t p,
                                  const double *t, const fit_opts *o, const void *settings,
                                  char *err, size_t errlen)
{
    return krr_fit(m, x, n, p, t, o, (const fit_krr_settings *)settings, err, errlen);
}

cleave_status fit_krr_train_with(fit_model **out, const double *x, size_t n, size_t p,
                                 const double *t, const fit_opts *o, const fit_krr_settings *s,
                                 char *err, size_t errlen)
{
    return fit_train_with(out, FIT_KRR, x, n, p, t, o, krr_fit_with, s, err, errlen);
}

void fit_krr_inspect(const fit_model *m, fit_krr_info *info)
{
    const struct krr *k = m->impl;
    info->ncentres = k->nc;
    info->nystrom = k->nystrom;
    info->gamma = k->gamma;
    info->lambda = k->lambda;
    info->t_mean = k->t_mean;
    info->mu = k->mu;
    info->sd = k->sd;
    info->centres = k->centre;
    info->alpha = k->alpha;
}

/* f(x) = t_mean + sum_c alpha_c exp(-gamma |z(x) - c|^2), z(x) the standardised row: into a
** stack buffer when P is small, else recomputed per centre (a plain sum, so the last bits may
** differ from sqdist's), so nothing is allocated.  O(ncentres * p) per call. */
static double krr_predict(const fit_model *m, const double *x)
{
    const struct krr *k = m->impl;
    size_t p = m->p;
    double zbuf[KRR_STACK_P];
    double f = 0.0;

    if (p <= KRR_STACK_P) {
        for (size_t j = 0; j < p; j++)
            zbuf[j] = (x[j] - k->mu[j]) / k->sd[j];
        for (size_t c = 0; c < k->nc; c++)
            f += k->alpha[c] * exp(-k->gamma * sqdist(zbuf, k->centre + c * p, p));
    } else {
        for (size_t c = 0; c < k->nc; c++) {
            double d = 0.0;
            for (size_t j = 0; j < p; j++) {
                double e = (x[j] - k->mu[j]) / k->sd[j] - k->centre[c * p + j];
                d += e * e;
            }
            f += k->alpha[c] * exp(-k->gamma * d);
        }
    }
    return k->t_mean + f;
}

/* Payload: ncentres, nystrom, gamma, lambda, t_mean, mu[p], sd[p], centres[nc*p], alpha[nc]. */
static void krr_save(const fit_model *m, fit_buf *b)
{
    const struct krr *k = m->impl;
    fit_buf_u64(b, (uint64_t)k->nc);
    fit_buf_u64(b, (uint64_t)k->nystrom);
    fit_buf_f64(b, k->gamma);
    fit_buf_f64(b, k->lambda);
    fit_buf_f64(b, k->t_mean);
    fit_buf_f64s(b, k->mu, m->p);
    fit_buf_f64s(b, k->sd, m->p);
    fit_buf_f64s(b, k->centre, k->nc * m->p);
    fit_buf_f64s(b, k->alpha, k->nc);
}

static int all_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

static void krr_load(fit_model *m, fit_reader *r)
{
    struct krr *k = calloc(1, sizeof *k);
    if (!k) {
        r->failed = 1;
        return;
    }
    m->impl = k;
    k->nc = fit_read_count(r, KRR_MAX_CENTRES);
    k->nystrom = (int)fit_read_count(r, 1);
    k->gamma = fit_read_f64(r);
    k->lambda = fit_read_f64(r);
    k->t_mean = fit_read_f64(r);
    k->mu = fit_read_f64s(r, m->p);
    k->sd = fit_read_f64s(r, m->p);
    k->centre = fit_read_f64s(r, k->nc * m->p);
    k->alpha = fit_read_f64s(r, k->nc);
    if (r->failed)
        return;
    int ok = k->nc > 0 && k->gamma > 0 && isfinite(k->gamma) && isfinite(k->lambda) &&
             isfinite(k->t_mean) && all_finite(k->mu, m->p) && all_finite(k->sd, m->p) &&
             all_finite(k->centre, k->nc * m->p) && all_finite(k->alpha, k->nc);
    for (size_t j = 0; ok && j < m->p; j++)
        ok = k->sd[j] > 0;
    if (!ok)
        r->failed = 1;
}

static void krr_free(fit_model *m)
{
    krr_release(m->impl);
    m->impl = NULL;
}

static void krr_describe(const fit_model *m, char *buf, size_t buflen)
{
    const struct krr *k = m->impl;
    snprintf(buf, buflen, "gamma=%.3g lambda=%.3g centres=%zu%s", k->gamma, k->lambda, k->nc,
             k->nystrom ? " nystrom" : " exact");
}

const struct fit_family_ops fit_krr_ops = {
    .train = krr_train,
    .predict = krr_predict,
    .save = krr_save,
    .load = krr_load,
    .free_impl = krr_free,
    .describe = krr_describe,
};
