/*
** fit/linear.c - ordinary least squares (the linear family), Neurosurgeon's logarithmic model
** and ridge regression with lambda by GCV; the raw-coefficient model state they share with the
** lasso, its serialisation, and the GCV choice of a ridge penalty the polynomial family reuses.
**
** Every fit here works on standardised features z_j = (x_j - mu_j) / sd_j and a centred
** target: the intercept is then the target mean and is never penalised, singular-value
** cut-offs and penalties do not depend on the features' units (MACs near 1e9 next to a CPU
** share near 0.5), and the conditioning of the least-squares matrix is as good as the data
** allow.  The coefficients are folded back into raw-feature ones (fit_lin_unscale), so a
** prediction is one dot product on the raw row.
*/
#include "fit/linear.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_min.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_vector.h>

#define GCV_GRID 150       /* points of the lambda grid */
#define GCV_BELOW 1e-3     /* the grid starts this factor below the smallest singular value */
#define GCV_ABOVE 1e2      /* and ends this factor above the largest */
#define GCV_BRENT_ITER 100 /* Brent iterations refining the best grid point */
#define RIDGE_MIN_ROWS 3   /* the intercept takes one degree of freedom, GCV needs another */

/* ---- the raw-coefficient model ---------------------------------------------------------- */

fit_lin *fit_lin_new(size_t p)
{
    fit_lin *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->beta = calloc(p ? p : 1, sizeof *l->beta);
    if (!l->beta) {
        free(l);
        return NULL;
    }
    return l;
}

void fit_lin_destroy(fit_lin *l)
{
    if (l) {
        free(l->beta);
        free(l);
    }
}

void fit_lin_free(fit_model *m)
{
    fit_lin_destroy(m->impl);
    m->impl = NULL;
}

double fit_lin_predict(const fit_model *m, const double *x)
{
    const fit_lin *l = m->impl;
    double s = l->intercept;
    for (size_t j = 0; j < m->p; j++)
        s += l->beta[j] * x[j];
    return s;
}

/* Neurosurgeon's log model: the same dot product on log1p(max(x, 0)).  Latency features are
** counts and sizes (>= 0); clamping at 0 keeps a stray negative value (a dynamic feature that
** came out slightly below zero) from producing NaN, and log1p keeps x = 0 finite. */
static double log_predict(const fit_model *m, const double *x)
{
    const fit_lin *l = m->impl;
    double s = l->intercept;
    for (size_t j = 0; j < m->p; j++)
        s += l->beta[j] * log1p(fmax(x[j], 0.0));
    return s;
}

/* Payload: intercept, lambda, rank, then P coefficients. */
void fit_lin_save(const fit_model *m, fit_buf *b)
{
    const fit_lin *l = m->impl;
    fit_buf_f64(b, l->intercept);
    fit_buf_f64(b, l->lambda);
    fit_buf_u64(b, l->rank);
    fit_buf_f64s(b, l->beta, m->p);
}

/* Read what fit_lin_save() wrote.  The coefficient count is M->p, checked against the bytes
** left before anything is allocated (fit_read_f64s); non-finite values are refused. */
void fit_lin_load(fit_model *m, fit_reader *r)
{
    fit_lin *l = calloc(1, sizeof *l);
    if (!l) {
        r->failed = 1;
        return;
    }
    m->impl = l;
    l->intercept = fit_read_f64(r);
    l->lambda = fit_read_f64(r);
    l->rank = fit_read_u64(r);
    l->beta = fit_read_f64s(r, m->p);
    if (r->failed)
        return;
    int ok = isfinite(l->intercept) && isfinite(l->lambda) && l->lambda >= 0.0 && l->rank <= m->p;
    for (size_t j = 0; ok && j < m->p; j++)
        ok = isfinite(l->beta[j]);
    if (!ok)
        r->failed = 1;
}

void fit_standardise(const double *x, size_t n, size_t p, const double *mu, const double *sd,
                     double *z)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++)
            z[i * p + j] = (x[i * p + j] - mu[j]) / sd[j];
}

void fit_lin_unscale(fit_lin *l, const double *c, const double *mu, const double *sd, double tbar,
                     size_t p)
{
    double icpt = tbar;
    for (size_t j = 0; j < p; j++) {
        l->beta[j] = c[j] / sd[j];
        icpt -= l->beta[j] * mu[j];
    }
    l->intercept = icpt;
}

cleave_status fit_need_rows(fit_family f, size_t n, size_t need, char *err, size_t errlen)
{
    if (n >= need)
        return CLEAVE_OK;
    snprintf(err, errlen, "%s needs at least %zu rows, got %zu", fit_family_name(f), need, n);
    return CLEAVE_EINVAL;
}

static int lin_finite(const fit_lin *l, size_t p)
{
    if (!isfinite(l->intercept))
        return 0;
    for (size_t j = 0; j < p; j++)
        if (!isfinite(l->beta[j]))
            return 0;
    return 1;
}

/* ---- generalised cross-validation --------------------------------------------------------- */

/* The residual and the trace term come straight from the filter factors
** f_i = lambda^2 / (s_i^2 + lambda^2), as in GSL's gcv.c: RSS = delta0 + sum (f_i u_i^T y)^2 and
** n - 1 - df = (dof - r) + sum f_i.  Writing the denominator as a sum of f_i (not dof minus a
** sum of 1 - f_i) keeps it accurate for tiny lambda, where it is what decides whether an almost
** interpolating fit wins.  Two differences from GSL's gsl_multifit_linear_gcv_calc, both
** needed here: the intercept's degree of freedom is counted (GSL fits no intercept), and only
** the kept singular values enter, so that lambda = 0 is defined for rank-deficient and n <= p
** problems (GSL evaluates 0/0 there and computes n - p in size_t). */
double fit_gcv(const fit_spectrum *s, double lambda)
{
    double mu = lambda * lambda, rss = s->delta0, trace = s->dof - (double)s->r;
    for (size_t i = 0; i < s->r; i++) {
        double f = mu > 0.0 ? mu / (s->e[i] + mu) : 0.0;
        double res = f * s->uty[i];
        rss += res * res;
        trace += f;
    }
    if (!(trace > 0.0))
        return HUGE_VAL;
    return rss / (trace * trace);
}

static double gcv_fn(double lambda, void *params)
{
    return fit_gcv(params, lambda);
}

cleave_status fit_gcv_choose(const fit_spectrum *s, fit_family f, double *lambda, char *err,
                             size_t errlen)
{
    gsl_vector *grid = NULL;
    gsl_min_fminimizer *fm = NULL;
    cleave_status rc = CLEAVE_OK;
    double emin = HUGE_VAL, emax = 0.0;

    *lambda = 0.0;
    if (s->r == 0)
        return CLEAVE_OK;
    for (size_t i = 0; i < s->r; i++) {
        emin = fmin(emin, s->e[i]);
        emax = fmax(emax, s->e[i]);
    }
    grid = gsl_vector_alloc(GCV_GRID);
    if (!grid) {
        rc = CLEAVE_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    /* GSL's grid spans [s_min, s_max], where the filter factors change most, but the GCV
    ** minimum can lie outside it (below s_min with a few correlated features and moderate
    ** noise, for one), so the same log-spaced grid is widened on both sides. */
    int st = gsl_multifit_linear_lreg(GCV_BELOW * sqrt(emin), GCV_ABOVE * sqrt(emax), grid);
    if (st) {
        rc = CLEAVE_ENUMERIC;
        snprintf(err, errlen, "%s: cannot build the lambda grid: %s", fit_family_name(f),
                 gsl_strerror(st));
        goto done;
    }
    size_t best = 0;
    double gbest = HUGE_VAL;
    for (size_t i = 0; i < GCV_GRID; i++) {
        double g = fit_gcv(s, gsl_vector_get(grid, i));
        if (g < gbest) {
            gbest = g;
            best = i;
        }
    }
    double lam = gsl_vector_get(grid, best);
    /* Brent's method between the neighbours of the best grid point, as GSL's gcv_min does.
    ** A bracket that does not enclose a minimum (flat curve) just keeps the grid point. */
    if (isfinite(gbest) && best > 0 && best + 1 < GCV_GRID) {
        double a = gsl_vector_get(grid, best - 1), b = gsl_vector_get(grid, best + 1);
        if (a > b) {
            double tmp = a;
            a = b;
            b = tmp;
        }
        double ga = fit_gcv(s, a), gb = fit_gcv(s, b);
        fm = gsl_min_fminimizer_alloc(gsl_min_fminimizer_brent);
        if (!fm) {
            rc = CLEAVE_ENOMEM;
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        gsl_function fn = {gcv_fn, (void *)s};
        if (gbest < ga && gbest < gb &&
            gsl_min_fminimizer_set_with_values(fm, &fn, lam, gbest, a, ga, b, gb) == GSL_SUCCESS) {
            for (int it = 0; it < GCV_BRENT_ITER; it++) {
                if (gsl_min_fminimizer_iterate(fm) != GSL_SUCCESS)
                    break;
                if (gsl_min_test_interval(gsl_min_fminimizer_x_lower(fm),
                                          gsl_min_fminimizer_x_upper(fm), 0.0,
                                          1e-4) != GSL_CONTINUE)
                    break;
            }
            double gm = gsl_min_fminimizer_f_minimum(fm);
            if (gm < gbest) {
                gbest = gm;
                lam = gsl_min_fminimizer_x_minimum(fm);
            }
        }
    }
    /* lambda = 0, the (truncated-SVD) least-squares fit, by the same criterion. */
    if (fit_gcv(s, 0.0) <= gbest)
        lam = 0.0;
    *lambda = lam;
done:
    gsl_min_fminimizer_free(fm);
    gsl_vector_free(grid);
    return rc;
}

/* ---- linear and logarithmic: least squares by truncated SVD ------------------------------ */

/* Fit t = b0 + sum_j b_j g(x_j) by least squares, g = log1p(max(x, 0)) when LOGX, else the
** identity.  gsl_multifit_linear_tsvd on the standardised columns drops singular values below
** FIT_SVD_RTOL * s_max, so collinear features (MACs and bytes that are exact multiples, a
** constant column) give the minimum-norm least-squares solution instead of an error or huge
** cancelling coefficients.  Needs n >= p + 2: p coefficients, the intercept, and one residual
** degree of freedom. */
static cleave_status ols_train(fit_model *m, const double *x, size_t n, size_t p, const double *t,
                               int logx, char *err, size_t errlen)
{
    double *g = NULL, *mu = NULL, *sd = NULL, *c = NULL;
    gsl_matrix *z = NULL, *cov = NULL;
    gsl_vector *yc = NULL, *cv = NULL;
    gsl_multifit_linear_workspace *w = NULL;
    fit_lin *l = NULL;
    cleave_status rc = fit_need_rows(m->family, n, p + 2, err, errlen);
    if (rc != CLEAVE_OK)
        goto done;
    const double *xs = x;
    if (logx) {
        g = malloc(sizeof *g * n * p);
        if (!g)
            goto nomem;
        for (size_t i = 0; i < n * p; i++)
            g[i] = log1p(fmax(x[i], 0.0));
        xs = g;
    }
    mu = malloc(sizeof *mu * p);
    sd = malloc(sizeof *sd * p);
    c = malloc(sizeof *c * p);
    z = gsl_matrix_alloc(n, p);
    cov = gsl_matrix_alloc(p, p);
    yc = gsl_vector_alloc(n);
    cv = gsl_vector_alloc(p);
    w = gsl_multifit_linear_alloc(n, p);
    l = fit_lin_new(p);
    if (!mu || !sd || !c || !z || !cov || !yc || !cv || !w || !l)
        goto nomem;
    fit_column_stats(xs, n, p, mu, sd);
    double tbar = 0.0;
    for (size_t i = 0; i < n; i++)
        tbar += t[i];
    tbar /= (double)n;
    for (size_t i = 0; i < n; i++) {
        gsl_vector_set(yc, i, t[i] - tbar);
        for (size_t j = 0; j < p; j++)
            gsl_matrix_set(z, i, j, (xs[i * p + j] - mu[j]) / sd[j]);
    }
    size_t rank = 0;
    double chisq = 0.0;
    int st = gsl_multifit_linear_tsvd(z, yc, FIT_SVD_RTOL, cv, cov, &chisq, &rank, w);
    if (st) {
        rc = CLEAVE_ENUMERIC;
        snprintf(err, errlen, "%s: least-squares fit failed: %s", fit_family_name(m->family),
                 gsl_strerror(st));
        goto done;
    }
    for (size_t j = 0; j < p; j++)
        c[j] = gsl_vector_get(cv, j);
    fit_lin_unscale(l, c, mu, sd, tbar, p);
    l->rank = rank;
    if (!lin_finite(l, p)) {
        rc = CLEAVE_ENUMERIC;
        snprintf(err, errlen, "%s: fit produced non-finite coefficients",
                 fit_family_name(m->family));
        goto done;
    }
    m->impl = l;
    l = NULL;
    goto done;
nomem:
    rc = CLEAVE_ENOMEM;
    snprintf(err, errlen, "out of memory");
done:
    gsl_multifit_linear_free(w);
    gsl_vector_free(cv);
    gsl_vector_free(yc);
    gsl_matrix_free(cov);
    gsl_matrix_free(z);
    fit_lin_destroy(l);
    free(c);
    free(sd);
    free(mu);
    free(g);
    return rc;
}

static cleave_status linear_train(fit_model *m, const double *x, size_t n, size_t p,
                                  const double *t, const fit_opts *o, char *err, size_t errlen)
{
    (void)o;
    return ols_train(m, x, n, p, t, 0, err, errlen);
}

static cleave_status log_train(fit_model *m, const double *x, size_t n, size_t p, const double *t,
                               const fit_opts *o, char *err, size_t errlen)
{
    (void)o;
    return ols_train(m, x, n, p, t, 1, err, errlen);
}

/* ---- ridge ------------------------------------------------------------------------------ */

/* Ridge regression min |y_c - Z c|^2 + lambda^2 |c|^2 on standardised Z (GSL's Tikhonov form:
** the penalty is lambda squared, on coefficients of unit-variance features, against an
** unnormalised sum of squares).  One SVD Z = U S V^T serves every lambda:
** c(lambda) = sum_i s_i / (s_i^2 + lambda^2) (u_i^T y) v_i (Hoerl & Kennard 1970; Hansen 2010,
** 4.4).  gsl_linalg_SV_decomp needs at least as many rows as columns, so for n < p the SVD is
** taken of Z^T and its factors swapped: ridge stays usable with fewer rows than features,
** where it is the only linear fit that is.  Singular values below FIT_SVD_RTOL s_max are
** dropped (strongly collinear features), lambda is chosen by fit_gcv_choose(), lambda = 0
** included.  Needs 3 rows. */
static cleave_status ridge_train(fit_model *m, const double *x, size_t n, size_t p, const double *t,
                                 const fit_opts *o, char *err, size_t errlen)
{
    double *mu = NULL, *sd = NULL, *z = NULL, *yc = NULL, *res = NULL, *e = NULL, *uty = NULL,
           *c = NULL;
    size_t *keep = NULL;
    gsl_matrix *a = NULL, *v = NULL;
    gsl_vector *s = NULL, *work = NULL;
    fit_lin *l = NULL;
    (void)o;
    cleave_status rc = fit_need_rows(m->family, n, RIDGE_MIN_ROWS, err, errlen);
    if (rc != CLEAVE_OK)
        goto done;
    int wide = n < p;
    size_t rows = wide ? p : n, cols = wide ? n : p;
    mu = malloc(sizeof *mu * p);
    sd = malloc(sizeof *sd * p);
    z = malloc(sizeof *z * n * p);
    yc = malloc(sizeof *yc * n);
    res = malloc(sizeof *res * n);
    e = malloc(sizeof *e * cols);
    uty = malloc(sizeof *uty * cols);
    c = calloc(p, sizeof *c);
    keep = malloc(sizeof *keep * cols);
    a = gsl_matrix_alloc(rows, cols);
    v = gsl_matrix_alloc(cols, cols);
    s = gsl_vector_alloc(cols);
    work = gsl_vector_alloc(cols);
    l = fit_lin_new(p);
    if (!mu || !sd || !z || !yc || !res || !e || !uty || !c || !keep || !a || !v || !s || !work ||
        !l)
        goto nomem;
    fit_column_stats(x, n, p, mu, sd);
    fit_standardise(x, n, p, mu, sd, z);
    double tbar = 0.0;
    for (size_t i = 0; i < n; i++)
        tbar += t[i];
    tbar /= (double)n;
    for (size_t i = 0; i < n; i++)
        yc[i] = t[i] - tbar;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++) {
            if (wide)
                gsl_matrix_set(a, j, i, z[i * p + j]);
            else
                gsl_matrix_set(a, i, j, z[i * p + j]);
        }
    int st = gsl_linalg_SV_decomp(a, v, s, work);
    if (st) {
        rc = CLEAVE_ENUMERIC;
        snprintf(err, errlen, "ridge: singular value decomposition failed: %s", gsl_strerror(st));
        goto done;
    }
    /* Z = U S R^T with U (n x cols) and R (p x cols). */
    const gsl_matrix *u = wide ? v : a, *rt = wide ? a : v;
    double smax = 0.0;
    for (size_t i = 0; i < cols; i++)
        smax = fmax(smax, gsl_vector_get(s, i));
    size_t r = 0;
    for (size_t i = 0; i < cols; i++) {
        double si = gsl_vector_get(s, i);
        if (smax > 0.0 && si > FIT_SVD_RTOL * smax) {
            keep[r] = i;
            e[r] = si * si;
            r++;
        }
    }
    /* u_i^T y, and the residual outside the kept span computed directly (not as |y|^2 minus
    ** the projections, which would cancel for a near-exact fit). */
    memcpy(res, yc, sizeof *res * n);
    for (size_t k = 0; k < r; k++) {
        double d = 0.0;
        for (size_t i = 0; i < n; i++)
            d += gsl_matrix_get(u, i, keep[k]) * yc[i];
        uty[k] = d;
        for (size_t i = 0; i < n; i++)
            res[i] -= d * gsl_matrix_get(u, i, keep[k]);
    }
    double delta0 = 0.0;
    for (size_t i = 0; i < n; i++)
        delta0 += res[i] * res[i];
    fit_spectrum spec = {r, e, uty, delta0, (double)n - 1.0};
    double lambda = 0.0;
    rc = fit_gcv_choose(&spec, m->family, &lambda, err, errlen);
    if (rc != CLEAVE_OK)
        goto done;
    double mu2 = lambda * lambda;
    for (size_t k = 0; k < r; k++) {
        double coef = sqrt(e[k]) * uty[k] / (e[k] + mu2);
        for (size_t j = 0; j < p; j++)
            c[j] += coef * gsl_matrix_get(rt, j, keep[k]);
    }
    fit_lin_unscale(l, c, mu, sd, tbar, p);
    l->lambda = lambda;
    l->rank = r;
    if (!lin_finite(l, p)) {
        rc = CLEAVE_ENUMERIC;
        snprintf(err, errlen, "ridge: fit produced non-finite coefficients");
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
    gsl_vector_free(work);
    gsl_vector_free(s);
    gsl_matrix_free(v);
    gsl_matrix_free(a);
    free(keep);
    free(c);
    free(uty);
    free(e);
    free(res);
    free(yc);
    free(z);
    free(sd);
    free(mu);
    return rc;
}

/* ---- descriptions and tables ------------------------------------------------------------ */

static void rank_describe(const fit_model *m, char *buf, size_t buflen)
{
    const fit_lin *l = m->impl;
    snprintf(buf, buflen, "rank=%llu", (unsigned long long)l->rank);
}

static void ridge_describe(const fit_model *m, char *buf, size_t buflen)
{
    const fit_lin *l = m->impl;
    if (l->lambda == 0.0)
        snprintf(buf, buflen, "lambda=0 rank=%llu", (unsigned long long)l->rank);
    else
        snprintf(buf, buflen, "lambda=%.1e rank=%llu", l->lambda, (unsigned long long)l->rank);
}

int fit_linear_coefs(const fit_model *m, double *intercept, double *beta, double *lambda)
{
    if (!m || !m->impl ||
        (m->family != FIT_LOG && m->family != FIT_LINEAR && m->family != FIT_LASSO &&
         m->family != FIT_RIDGE))
        return -1;
    const fit_lin *l = m->impl;
    if (intercept)
        *intercept = l->intercept;
    if (beta)
        memcpy(beta, l->beta, sizeof *beta * m->p);
    if (lambda)
        *lambda = l->lambda;
    return 0;
}

const struct fit_family_ops fit_linear_ops = {
    .train = linear_train,
    .predict = fit_lin_predict,
    .save = fit_lin_save,
    .load = fit_lin_load,
    .free_impl = fit_lin_free,
    .describe = rank_describe,
};

const struct fit_family_ops fit_log_ops = {
    .train = log_train,
    .predict = log_predict,
    .save = fit_lin_save,
    .load = fit_lin_load,
    .free_impl = fit_lin_free,
    .describe = rank_describe,
};

const struct fit_family_ops fit_ridge_ops = {
    .train = ridge_train,
    .predict = fit_lin_predict,
    .save = fit_lin_save,
    .load = fit_lin_load,
    .free_impl = fit_lin_free,
    .describe = ridge_describe,
};
