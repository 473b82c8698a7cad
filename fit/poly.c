/*
** fit/poly.c - polynomial regression: every monomial of the standardised features up to degree
** 2 or 3, interactions included, fitted by ridge with lambda by GCV, the degree by inner K-fold
** cross-validation.
**
** Terms.  With z = (x - mu) / sd, the model is t = b0 + sum over all monomials z_j, z_j z_k
** (j <= k), z_j z_k z_l (j <= k <= l) up to the degree: C(p + d, d) terms with the constant
** (231 for p = 20, d = 2).  Degree 3 is a candidate only while it stays affordable: at most
** POLY_MAX_TERMS terms, at most n / 2 of them, and an estimated cost (Gram matrix + one
** eigendecomposition per CV fit) within POLY_MAX_WORK multiply-adds, about a second on the
** build machine (n = 20000, p = 11 gives 364 terms in 0.7 s); otherwise degree 2 alone.
**
** Fit.  The term columns are centred and scaled to unit variance (the intercept is not
** penalised, the penalty treats z_1^3 and z_1 z_2 alike) and the ridge problem is solved in the
** eigenbasis of their Gram matrix M^T M = V E V^T: c(lambda) = V (E + lambda^2)^-1 V^T M^T y,
** which for every lambda costs O(T^2) once the O(n T^2) Gram matrix and one O(T^3)
** eigendecomposition are done.  The squared singular values of M are E and u_i^T y =
** (V^T M^T y)_i / sqrt(e_i), so the GCV machinery of the ridge family (fit_gcv_choose: the
** widened GSL grid, lambda = 0 compared by the same criterion) applies unchanged.
** Eigenvalues below POLY_EIG_RTOL e_max (singular values below 1e-6 s_max: the Gram matrix
** squares the condition number) are dropped.  The small penalty this chooses is what keeps a
** 231-term fit on a few hundred rows, or on fewer rows than terms, stable.
**
** Degree by CV.  Rows are split by fit_folds (opts->inner_folds, opts->seed) and one Gram
** matrix per fold is accumulated in a single pass, in graded term order, so the degree-2
** problem is the leading block of the degree-3 one and a training part's Gram matrix is the
** total minus its fold's.  Each degree is scored by the held-out MSE (lambda chosen by GCV on
** each training part); degree 3 must be better beyond numerical noise (POLY_NOISE of the target
** variance) to be chosen.  Then the chosen degree is fitted on all rows.
**
** Prediction.  The coefficients are stored in depth-first order of the monomial tree and
** evaluated Horner-style, sum_j z_j (a_j + sum_{k>=j} z_k (b_jk + sum_{l>=k} c_jkl z_l)): one
** multiply-add per term, no term list, no allocation (z lives in a stack array of
** POLY_MAX_FEATURES doubles).
*/
#include "fit/linear.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit/eigen.h"

#define POLY_MAX_TERMS 2000
#define POLY_MAX_FEATURES 61 /* C(63, 2) = 1953 <= POLY_MAX_TERMS < C(64, 2) */
#define POLY_EIG_RTOL 1e-12
#define POLY_MAX_WORK 3e9
/* Eigendecomposition time per T^3, in Gram multiply-adds: measured for gsl_eigen_symmv; LAPACK
** dsyevd (fit/eigen.h) is about 2.8x faster at T = 231, so the estimate is now conservative and
** admits degree 3 no more often than before. */
#define POLY_EIG_COST 2.5
#define POLY_NOISE 1e-14
/* A term whose variance is below this share of its mean square is constant on these rows. */
#define POLY_CONST_RTOL 1e-12
#define POLY_ROWS_PER_FOLD 4

struct poly {
    int degree;
    size_t nterms; /* C(p + degree, degree), the constant included */
    double lambda, intercept;
    double *mu, *inv_sd; /* P each: z = (x - mu) * inv_sd */
    double *coef;        /* nterms - 1, depth-first order */
};

/* C(p + d, d): the monomials of degree <= d in p variables, constant included. */
static size_t poly_count(size_t p, int d)
{
    if (d <= 1)
        return p + 1;
    if (d == 2)
        return (p + 1) * (p + 2) / 2;
    return (p + 1) * (p + 2) * (p + 3) / 6;
}

/* The terms in graded order: constant, degree 1, degree 2, degree 3, each block in
** lexicographic order of its feature indices.  Term t is term PARENT[t] times z[FEAT[t]];
** END[d] is the number of terms of degree <= d. */
typedef struct poly_terms {
    size_t end[4];
    uint32_t *parent, *feat;
} poly_terms;

static int terms_build(poly_terms *pt, size_t p, int dmax)
{
    size_t total = poly_count(p, dmax);
    uint32_t *last = malloc(sizeof *last * total);
    pt->parent = malloc(sizeof *pt->parent * total);
    pt->feat = malloc(sizeof *pt->feat * total);
    if (!last || !pt->parent || !pt->feat) {
        free(last);
        return -1;
    }
    size_t t = 0;
    pt->parent[t] = pt->feat[t] = last[t] = 0;
    pt->end[0] = ++t;
    for (size_t j = 0; j < p; j++, t++) {
        pt->parent[t] = 0;
        pt->feat[t] = last[t] = (uint32_t)j;
    }
    pt->end[1] = t;
    for (int d = 2; d <= dmax; d++) {
        for (size_t a = pt->end[d - 2]; a < pt->end[d - 1]; a++)
            for (size_t k = last[a]; k < p; k++, t++) {
                pt->parent[t] = (uint32_t)a;
                pt->feat[t] = last[t] = (uint32_t)k;
            }
        pt->end[d] = t;
    }
    free(last);
    return 0;
}

/* The first NT term values of standardised row Z, graded order. */
static void terms_eval(const poly_terms *pt, size_t nt, const double *z, double *mv)
{
    mv[0] = 1.0;
    for (size_t t = 1; t < nt; t++)
        mv[t] = mv[pt->parent[t]] * z[pt->feat[t]];
}

/* Ridge with GCV on the first NT terms, from sums alone: A (row-major, leading dimension LDA,
** upper triangle read) = M^T M of the term matrix M whose column 0 is the constant, so A[0]
** is the row count and A[0][j] the column sums; G = M^T t; TT = t^T t.  Writes the
** coefficients of the raw terms to COEF[0..NT) (COEF[0] the intercept) and the chosen lambda
** to *LAMBDA.  See the file comment for the method. */
static cleave_status poly_solve(const double *a, size_t lda, const double *g, double tt, size_t nt,
                                double *coef, double *lambda, char *err, size_t errlen)
{
    size_t q = nt - 1;
    double *c = NULL, *eval = NULL; /* the Gram matrix, then its eigenvectors by row */
    double *mean = NULL, *scale = NULL, *b = NULL, *e = NULL, *uty = NULL, *w = NULL, *cs = NULL;
    size_t *keep = NULL;
    cleave_status rc = CLEAVE_OK;
    double n = a[0], tbar = g[0] / n;

    *lambda = 0.0;
    coef[0] = tbar;
    if (q == 0)
        return CLEAVE_OK;
    c = malloc(sizeof *c * q * q);
    eval = malloc(sizeof *eval * q);
    mean = malloc(sizeof *mean * q);
    scale = malloc(sizeof *scale * q);
    b = malloc(sizeof *b * q);
    e = malloc(sizeof *e * q);
    uty = malloc(sizeof *uty * q);
    w = malloc(sizeof *w * q);
    cs = malloc(sizeof *cs * q);
    keep = malloc(sizeof *keep * q);
    if (!c || !eval || !mean || !scale || !b || !e || !uty || !w || !cs || !keep) {
        rc = CLEAVE_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    /* Centre (the intercept) and scale each term column to unit variance, from the sums. */
    for (size_t i = 0; i < q; i++) {
        double sq = a[(i + 1) * lda + (i + 1)];
        mean[i] = a[i + 1] / n;
        double ss = sq - a[i + 1] * mean[i];
        scale[i] = ss > POLY_CONST_RTOL * sq ? sqrt(ss / (n - 1.0)) : 0.0;
    }
    for (size_t i = 0; i < q; i++) {
        for (size_t j = i; j < q; j++) {
            double v = 0.0;
            if (scale[i] > 0.0 && scale[j] > 0.0)
                v = (a[(i + 1) * lda + (j + 1)] - a[i + 1] * mean[j]) / (scale[i] * scale[j]);
            c[i * q + j] = c[j * q + i] = v;
        }
        b[i] = scale[i] > 0.0 ? (g[i + 1] - a[i + 1] * tbar) / scale[i] : 0.0;
    }
    double yy = tt - g[0] * tbar;
    char why[120];
    if ((rc = fit_eigen_sym(c, q, eval, why, sizeof why)) != CLEAVE_OK) {
        snprintf(err, errlen, "polynomial: %s", why);
        goto done;
    }
    double emax = 0.0;
    for (size_t i = 0; i < q; i++)
        emax = fmax(emax, eval[i]);
    size_t r = 0;
    double proj = 0.0;
    for (size_t i = 0; i < q; i++) {
        double ei = eval[i];
        if (!(emax > 0.0 && ei > POLY_EIG_RTOL * emax))
            continue;
        double wi = 0.0;
        for (size_t j = 0; j < q; j++)
            wi += c[i * q + j] * b[j];
        keep[r] = i;
        e[r] = ei;
        w[r] = wi;
        uty[r] = wi / sqrt(ei);
        proj += uty[r] * uty[r];
        r++;
    }
    /* The residual outside the kept span; a difference of sums, so clamped at 0. */
    fit_spectrum spec = {r, e, uty, fmax(yy - proj, 0.0), n - 1.0};
    rc = fit_gcv_choose(&spec, FIT_POLY, lambda, err, errlen);
    if (rc != CLEAVE_OK)
        goto done;
    double mu2 = *lambda * *lambda;
    memset(cs, 0, sizeof *cs * q);
    for (size_t k = 0; k < r; k++) {
        double f = w[k] / (e[k] + mu2);
        for (size_t j = 0; j < q; j++)
            cs[j] += f * c[keep[k] * q + j];
    }
    double icpt = tbar;
    for (size_t i = 0; i < q; i++) {
        coef[i + 1] = scale[i] > 0.0 ? cs[i] / scale[i] : 0.0;
        icpt -= coef[i + 1] * mean[i];
    }
    coef[0] = icpt;
done:
    free(keep);
    free(cs);
    free(w);
    free(uty);
    free(e);
    free(b);
    free(scale);
    free(mean);
    free(eval);
    free(c);
    return rc;
}

/* Graded coefficients CG to the depth-first layout poly_predict() walks: for each j the term
** z_j, then for each k >= j the term z_j z_k followed (degree 3) by z_j z_k z_l for l >= k.
** Both orders list each degree's terms lexicographically, so three counters suffice. */
static void to_depth_first(size_t p, int d, const size_t *end, const double *cg, double *out)
{
    size_t c1 = end[0], c2 = end[1], c3 = d == 3 ? end[2] : 0, pos = 0;
    for (size_t j = 0; j < p; j++) {
        out[pos++] = cg[c1++];
        for (size_t k = j; k < p; k++) {
            out[pos++] = cg[c2++];
            if (d == 3)
                for (size_t l = k; l < p; l++)
                    out[pos++] = cg[c3++];
        }
    }
}

static void poly_destroy(struct poly *q)
{
    if (q) {
        free(q->mu);
        free(q->inv_sd);
        free(q->coef);
        free(q);
    }
}

static cleave_status poly_train(fit_model *m, const double *x, size_t n, size_t p, const double *t,
                                const fit_opts *o, char *err, size_t errlen)
{
    poly_terms pt = {{0, 0, 0, 0}, NULL, NULL};
    struct poly *q = NULL;
    double *sd = NULL, *z = NULL, *mv = NULL, *gram = NULL, *gv = NULL, *tt = NULL, *full = NULL,
           *fullg = NULL, *a = NULL, *ga = NULL, *cg = NULL;
    int *fold = NULL;
    cleave_status rc = CLEAVE_OK;
    int k = o->inner_folds;

    if (k < 2) {
        rc = CLEAVE_EINVAL;
        snprintf(err, errlen, "polynomial needs at least 2 inner folds, got %d", k);
        goto done;
    }
    rc = fit_need_rows(m->family, n, (size_t)k * POLY_ROWS_PER_FOLD, err, errlen);
    if (rc != CLEAVE_OK)
        goto done;
    if (p > POLY_MAX_FEATURES) {
        rc = CLEAVE_EINVAL;
        snprintf(err, errlen, "polynomial supports at most %d features, got %zu", POLY_MAX_FEATURES,
                 p);
        goto done;
    }
    int dmax = 2;
    double t3 = (double)poly_count(p, 3);
    double work3 = (double)n * t3 * t3 / 2.0 + (k + 1) * POLY_EIG_COST * t3 * t3 * t3;
    if (t3 <= POLY_MAX_TERMS && t3 <= (double)(n / 2) && work3 <= POLY_MAX_WORK)
        dmax = 3;
    size_t nt = poly_count(p, dmax);

    q = calloc(1, sizeof *q);
    sd = malloc(sizeof *sd * p);
    z = malloc(sizeof *z * n * p);
    mv = malloc(sizeof *mv * nt);
    gram = calloc((size_t)k * nt * nt, sizeof *gram);
    gv = calloc((size_t)k * nt, sizeof *gv);
    tt = calloc((size_t)k, sizeof *tt);
    full = malloc(sizeof *full * nt * nt);
    fullg = malloc(sizeof *fullg * nt);
    a = malloc(sizeof *a * nt * nt);
    ga = malloc(sizeof *ga * nt);
    cg = malloc(sizeof *cg * nt);
    fold = malloc(sizeof *fold * n);
    if (!q || !sd || !z || !mv || !gram || !gv || !tt || !full || !fullg || !a || !ga || !cg ||
        !fold || terms_build(&pt, p, dmax))
        goto nomem;
    q->mu = malloc(sizeof *q->mu * p);
    q->inv_sd = malloc(sizeof *q->inv_sd * p);
    if (!q->mu || !q->inv_sd)
        goto nomem;

    /* The same z = (x - mu) * inv_sd as poly_predict() computes. */
    fit_column_stats(x, n, p, q->mu, sd);
    for (size_t j = 0; j < p; j++)
        q->inv_sd[j] = 1.0 / sd[j];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++)
            z[i * p + j] = (x[i * p + j] - q->mu[j]) * q->inv_sd[j];

    /* One pass: the upper triangle of each fold's M^T M, M^T t and t^T t. */
    fit_folds(n, k, o->seed, fold);
    for (size_t i = 0; i < n; i++) {
        terms_eval(&pt, nt, z + i * p, mv);
        double *gr = gram + (size_t)fold[i] * nt * nt, *gg = gv + (size_t)fold[i] * nt;
        for (size_t r = 0; r < nt; r++) {
            double mr = mv[r];
            double *row = gr + r * nt;
            for (size_t c = r; c < nt; c++)
                row[c] += mr * mv[c];
            gg[r] += mr * t[i];
        }
        tt[fold[i]] += t[i] * t[i];
    }
    double ttf = 0.0;
    memset(full, 0, sizeof *full * nt * nt);
    memset(fullg, 0, sizeof *fullg * nt);
    for (int f = 0; f < k; f++) {
        const double *gr = gram + (size_t)f * nt * nt, *gg = gv + (size_t)f * nt;
        for (size_t r = 0; r < nt; r++) {
            for (size_t c = r; c < nt; c++)
                full[r * nt + c] += gr[r * nt + c];
            fullg[r] += gg[r];
        }
        ttf += tt[f];
    }

    /* Inner CV over the candidate degrees; with degree 2 the only candidate there is nothing
    ** to choose, and the CV would be thrown away. */
    double mse[4] = {HUGE_VAL, HUGE_VAL, HUGE_VAL, HUGE_VAL}, lambda = 0.0;
    for (int d = 2; dmax > 2 && d <= dmax; d++) {
        size_t nd = pt.end[d];
        double sse = 0.0;
        for (int f = 0; f < k; f++) {
            const double *gr = gram + (size_t)f * nt * nt, *gg = gv + (size_t)f * nt;
            for (size_t r = 0; r < nd; r++) {
                for (size_t c = r; c < nd; c++)
                    a[r * nt + c] = full[r * nt + c] - gr[r * nt + c];
                ga[r] = fullg[r] - gg[r];
            }
            rc = poly_solve(a, nt, ga, ttf - tt[f], nd, cg, &lambda, err, errlen);
            if (rc != CLEAVE_OK)
                goto done;
            for (size_t i = 0; i < n; i++) {
                if (fold[i] != f)
                    continue;
                terms_eval(&pt, nd, z + i * p, mv);
                double pred = 0.0;
                for (size_t r = 0; r < nd; r++)
                    pred += cg[r] * mv[r];
                sse += (t[i] - pred) * (t[i] - pred);
            }
        }
        mse[d] = sse / (double)n;
    }
    double nf = full[0], var_t = fmax((ttf - fullg[0] * fullg[0] / nf) / nf, 0.0);
    double noise = POLY_NOISE * var_t;
    int degree = dmax == 3 && fmax(mse[3], noise) < fmax(mse[2], noise) ? 3 : 2;

    /* The chosen degree on all rows. */
    size_t nd = pt.end[degree];
    rc = poly_solve(full, nt, fullg, ttf, nd, cg, &lambda, err, errlen);
    if (rc != CLEAVE_OK)
        goto done;
    q->coef = malloc(sizeof *q->coef * (nd - 1));
    if (!q->coef)
        goto nomem;
    q->degree = degree;
    q->nterms = nd;
    q->lambda = lambda;
    q->intercept = cg[0];
    to_depth_first(p, degree, pt.end, cg, q->coef);
    int ok = isfinite(q->intercept);
    for (size_t i = 0; ok && i + 1 < nd; i++)
        ok = isfinite(q->coef[i]);
    if (!ok) {
        rc = CLEAVE_ENUMERIC;
        snprintf(err, errlen, "polynomial: fit produced non-finite coefficients");
        goto done;
    }
    m->impl = q;
    q = NULL;
    goto done;
nomem:
    rc = CLEAVE_ENOMEM;
    snprintf(err, errlen, "out of memory");
done:
    poly_destroy(q);
    free(pt.parent);
    free(pt.feat);
    free(fold);
    free(cg);
    free(ga);
    free(a);
    free(fullg);
    free(full);
    free(tt);
    free(gv);
    free(gram);
    free(mv);
    free(z);
    free(sd);
    return rc;
}

/* sum_i c[i] z[i] with two accumulators: the Horner chains of poly_predict() are otherwise one
** long dependency chain of additions. */
static inline double dot2(const double *c, const double *z, size_t len)
{
    double s0 = 0.0, s1 = 0.0;
    size_t i = 0;
    for (; i + 2 <= len; i += 2) {
        s0 += c[i] * z[i];
        s1 += c[i + 1] * z[i + 1];
    }
    if (i < len)
        s0 += c[i] * z[i];
    return s0 + s1;
}

static double poly_predict(const fit_model *m, const double *x)
{
    const struct poly *q = m->impl;
    size_t p = m->p;
    double z[POLY_MAX_FEATURES];
    for (size_t j = 0; j < p; j++)
        z[j] = (x[j] - q->mu[j]) * q->inv_sd[j];
    const double *c = q->coef;
    double s = 0.0;
    if (q->degree == 2) {
        for (size_t j = 0; j < p; j++) {
            s += z[j] * (c[0] + dot2(c + 1, z + j, p - j));
            c += 1 + p - j;
        }
    } else {
        for (size_t j = 0; j < p; j++) {
            double in = *c++;
            for (size_t k = j; k < p; k++) {
                in += z[k] * (c[0] + dot2(c + 1, z + k, p - k));
                c += 1 + p - k;
            }
            s += z[j] * in;
        }
    }
    return q->intercept + s;
}

/* Payload: degree, terms, lambda, intercept, mu[P], inv_sd[P], coef[terms - 1]. */
static void poly_save(const fit_model *m, fit_buf *b)
{
    const struct poly *q = m->impl;
    fit_buf_u64(b, (uint64_t)q->degree);
    fit_buf_u64(b, (uint64_t)q->nterms);
    fit_buf_f64(b, q->lambda);
    fit_buf_f64(b, q->intercept);
    fit_buf_f64s(b, q->mu, m->p);
    fit_buf_f64s(b, q->inv_sd, m->p);
    fit_buf_f64s(b, q->coef, q->nterms - 1);
}

/* The term count must be exactly C(p + degree, degree): the layout is implied by (p, degree),
** so a blob whose count disagrees is malformed, whatever its length. */
static void poly_load(fit_model *m, fit_reader *r)
{
    struct poly *q = calloc(1, sizeof *q);
    if (!q) {
        r->failed = 1;
        return;
    }
    m->impl = q;
    uint64_t degree = fit_read_u64(r);
    size_t nt = fit_read_count(r, POLY_MAX_TERMS);
    q->lambda = fit_read_f64(r);
    q->intercept = fit_read_f64(r);
    if (r->failed)
        return;
    if ((degree != 2 && degree != 3) || m->p > POLY_MAX_FEATURES ||
        nt != poly_count(m->p, (int)degree)) {
        r->failed = 1;
        return;
    }
    q->degree = (int)degree;
    q->nterms = nt;
    q->mu = fit_read_f64s(r, m->p);
    q->inv_sd = fit_read_f64s(r, m->p);
    q->coef = fit_read_f64s(r, nt - 1);
    if (r->failed)
        return;
    int ok = isfinite(q->lambda) && q->lambda >= 0.0 && isfinite(q->intercept);
    for (size_t j = 0; ok && j < m->p; j++)
        ok = isfinite(q->mu[j]) && isfinite(q->inv_sd[j]);
    for (size_t i = 0; ok && i + 1 < nt; i++)
        ok = isfinite(q->coef[i]);
    if (!ok)
        r->failed = 1;
}

static void poly_free(fit_model *m)
{
    poly_destroy(m->impl);
    m->impl = NULL;
}

static void poly_describe(const fit_model *m, char *buf, size_t buflen)
{
    const struct poly *q = m->impl;
    if (q->lambda == 0.0)
        snprintf(buf, buflen, "degree=%d terms=%zu lambda=0", q->degree, q->nterms);
    else
        snprintf(buf, buflen, "degree=%d terms=%zu lambda=%.1e", q->degree, q->nterms, q->lambda);
}

const struct fit_family_ops fit_poly_ops = {
    .train = poly_train,
    .predict = poly_predict,
    .save = poly_save,
    .load = poly_load,
    .free_impl = poly_free,
    .describe = poly_describe,
};
