/*
** fit/model.c - the family-independent half of a model: dispatch, the log-target transform,
** serialisation framing, and helpers every family uses.
*/
#include "fit/family.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <pthread.h>

#include "common/rng.h"

#define BLOB_MAGIC 0x4c444f4d564c4543ULL /* "CLEVMODL" little-endian */
#define BLOB_VERSION 3                   /* 3: the load-feature clamp after the target range */

static const char *const family_names[] = {
#define X_(e, name, desc) name,
    FIT_FAMILY_MAP(X_)
#undef X_
};

/* OpenBLAS (linked for GSL's CBLAS calls) would start its own thread pool inside every model
** fit; the fitter already runs one model per core, so it is pinned to one thread. */
void openblas_set_num_threads(int num_threads);
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single_thread(void)
{
    openblas_set_num_threads(1);
    /* GSL's default handler aborts the process (DESIGN.md); library code must return. */
    gsl_set_error_handler_off();
}

static const struct fit_family_ops *family_ops(fit_family f)
{
    switch (f) {
    case FIT_LOG: return &fit_log_ops;
    case FIT_LINEAR: return &fit_linear_ops;
    case FIT_LASSO: return &fit_lasso_ops;
    case FIT_RIDGE: return &fit_ridge_ops;
    case FIT_KRR: return &fit_krr_ops;
    case FIT_POLY: return &fit_poly_ops;
    case FIT_GBDT: return &fit_gbdt_ops;
    default: return NULL;
    }
}

const char *fit_family_name(fit_family f)
{
    return (int)f >= 0 && f < FIT_NFAMILIES ? family_names[f] : NULL;
}

int fit_family_from_name(const char *name)
{
    for (int i = 0; name && i < FIT_NFAMILIES; i++)
        if (strcmp(name, family_names[i]) == 0)
            return i;
    return -1;
}

void fit_opts_default(fit_opts *o, fit_family f)
{
    o->seed = 42;
    o->inner_folds = 3;
    o->log_target = f == FIT_LOG || f == FIT_POLY || f == FIT_KRR || f == FIT_GBDT;
    o->clamp_from = FIT_CLAMP_NONE;
}

/* Set M's clamp of features CLAMP_FROM.. to their range over the N rows of X.  -1 when out of
** memory. */
static int clamp_init(fit_model *m, const double *x, size_t n, size_t clamp_from)
{
    size_t p = m->p;
    m->clamp_from = clamp_from < p ? clamp_from : p;
    if (m->clamp_from == p)
        return 0;
    size_t k = p - m->clamp_from;
    if (!(m->xlo = malloc(sizeof *m->xlo * k)) || !(m->xhi = malloc(sizeof *m->xhi * k)))
        return -1;
    for (size_t j = 0; j < k; j++) {
        m->xlo[j] = INFINITY;
        m->xhi[j] = -INFINITY;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < k; j++) {
            double v = x[i * p + m->clamp_from + j];
            m->xlo[j] = v < m->xlo[j] ? v : m->xlo[j];
            m->xhi[j] = v > m->xhi[j] ? v : m->xhi[j];
        }
    return 0;
}

cleave_status fit_train(fit_model **out, fit_family f, const double *x, size_t n, size_t p,
                        const double *y, const fit_opts *opts, char *err, size_t errlen)
{
    fit_opts defaults;
    fit_model *m = NULL;
    double *t = NULL;
    cleave_status rc;

    *out = NULL;
    pthread_once(&blas_once, blas_single_thread);
    const struct fit_family_ops *ops = family_ops(f);
    if (!ops) {
        snprintf(err, errlen, "unknown regression family %d", (int)f);
        return CLEAVE_EINVAL;
    }
    if (!opts) {
        fit_opts_default(&defaults, f);
        opts = &defaults;
    }
    if (p == 0 || n == 0) {
        snprintf(err, errlen, "%s needs rows and features, got %zu x %zu", family_names[f], n, p);
        return CLEAVE_EINVAL;
    }
    if (opts->clamp_from < p && p > FIT_CLAMP_MAX_P) {
        snprintf(err, errlen, "cannot clamp the features of a model with %zu of them (at most %d)",
                 p, FIT_CLAMP_MAX_P);
        return CLEAVE_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(y[i] > 0) || !isfinite(y[i])) {
            snprintf(err, errlen, "latency of row %zu is not a positive number", i);
            return CLEAVE_EINVAL;
        }
        for (size_t j = 0; j < p; j++)
            if (!isfinite(x[i * p + j])) {
                snprintf(err, errlen, "feature %zu of row %zu is not finite", j, i);
                return CLEAVE_EINVAL;
            }
    }
    m = calloc(1, sizeof *m);
    t = malloc(sizeof *t * n);
    if (!m || !t) {
        rc = CLEAVE_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    m->family = f;
    m->ops = ops;
    m->p = p;
    m->log_target = f == FIT_LOG ? 1 : opts->log_target;
    m->tmin = INFINITY;
    m->tmax = -INFINITY;
    if (clamp_init(m, x, n, opts->clamp_from) != 0) {
        rc = CLEAVE_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        t[i] = m->log_target ? log(y[i]) : y[i];
        m->tmin = t[i] < m->tmin ? t[i] : m->tmin;
        m->tmax = t[i] > m->tmax ? t[i] : m->tmax;
    }
    rc = ops->train(m, x, n, p, t, opts, err, errlen);
    if (rc != CLEAVE_OK)
        goto fail;
    free(t);
    *out = m;
    return CLEAVE_OK;
fail:
    free(t);
    fit_model_free(m);
    return rc;
}

/* How far a log-target prediction may leave the training range: a factor of 1000 either way.
** Flexible families (kernel ridge, polynomial) extrapolate wildly in log space, and exp() turns
** that into latencies of 1e40 us; a factor of 1000 still lets a model speak about layers much
** larger or smaller than any it saw. */
#define LOG_MARGIN 6.907755278982137 /* ln(1000) */

cleave_status fit_train_with(fit_model **out, fit_family f, const double *x, size_t n, size_t p,
                             const double *t, const fit_opts *o, fit_with_fn fn,
                             const void *settings, char *err, size_t errlen)
{
    fit_opts defaults;
    *out = NULL;
    pthread_once(&blas_once, blas_single_thread);
    if (!o) {
        fit_opts_default(&defaults, f);
        o = &defaults;
    }
    fit_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return CLEAVE_ENOMEM;
    }
    m->family = f;
    m->ops = family_ops(f);
    m->p = p;
    m->clamp_from = p;
    cleave_status rc = fn(m, x, n, p, t, o, settings, err, errlen);
    if (rc != CLEAVE_OK) {
        fit_model_free(m);
        return rc;
    }
    *out = m;
    return CLEAVE_OK;
}

double fit_predict(const fit_model *m, const double *x)
{
    double row[FIT_CLAMP_MAX_P];
    for (size_t j = m->clamp_from; j < m->p; j++) {
        double lo = m->xlo[j - m->clamp_from], hi = m->xhi[j - m->clamp_from];
        if (!(x[j] >= lo && x[j] <= hi)) { /* out of range (NaN stays NaN): clamp a copy */
            memcpy(row, x, sizeof *row * m->p);
            for (size_t k = j; k < m->p; k++) {
                lo = m->xlo[k - m->clamp_from];
                hi = m->xhi[k - m->clamp_from];
                row[k] = row[k] < lo ? lo : row[k] > hi ? hi : row[k];
            }
            x = row;
            break;
        }
    }
    double v = m->ops->predict(m, x);
    if (!m->log_target)
        return v;
    if (v > m->tmax + LOG_MARGIN)
        v = m->tmax + LOG_MARGIN;
    else if (v < m->tmin - LOG_MARGIN)
        v = m->tmin - LOG_MARGIN;
    return exp(v);
}

fit_family fit_model_family(const fit_model *m)
{
    return m->family;
}

size_t fit_model_nfeatures(const fit_model *m)
{
    return m->p;
}

void fit_model_describe(const fit_model *m, char *buf, size_t buflen)
{
    if (m->ops->describe) {
        m->ops->describe(m, buf, buflen);
    } else if (buflen) {
        buf[0] = '\0';
    }
}

void fit_model_free(fit_model *m)
{
    if (!m)
        return;
    if (m->impl && m->ops && m->ops->free_impl)
        m->ops->free_impl(m);
    free(m->xlo);
    free(m->xhi);
    free(m);
}

/* Blob layout: magic, version, family, p, log_target, target range, clamp_from and the clamped
** features' lows and highs (version 3), the family's payload.  Version 2 blobs (no clamp) are
** still read. */
cleave_status fit_model_save(const fit_model *m, void **blob, size_t *bytes)
{
    fit_buf b = {NULL, 0, 0, 0};
    fit_buf_u64(&b, BLOB_MAGIC);
    fit_buf_u64(&b, BLOB_VERSION);
    fit_buf_u64(&b, (uint64_t)m->family);
    fit_buf_u64(&b, (uint64_t)m->p);
    fit_buf_u64(&b, (uint64_t)m->log_target);
    fit_buf_f64(&b, m->tmin);
    fit_buf_f64(&b, m->tmax);
    fit_buf_u64(&b, (uint64_t)m->clamp_from);
    fit_buf_f64s(&b, m->xlo, m->p - m->clamp_from);
    fit_buf_f64s(&b, m->xhi, m->p - m->clamp_from);
    m->ops->save(m, &b);
    if (b.failed) {
        free(b.p);
        *blob = NULL;
        *bytes = 0;
        return CLEAVE_ENOMEM;
    }
    *blob = b.p;
    *bytes = b.len;
    return CLEAVE_OK;
}

cleave_status fit_model_load(fit_model **out, const void *blob, size_t bytes, char *err,
                             size_t errlen)
{
    fit_reader r = {blob, bytes, 0, 0};
    *out = NULL;
    if (!blob || fit_read_u64(&r) != BLOB_MAGIC || r.failed) {
        snprintf(err, errlen, "stored model is not a cleave model");
        return CLEAVE_EPARSE;
    }
    uint64_t version = fit_read_u64(&r);
    if (version != BLOB_VERSION && version != 2) {
        snprintf(err, errlen, "stored model has format version %llu, this cleave reads 2 to %d",
                 (unsigned long long)version, BLOB_VERSION);
        return CLEAVE_EPARSE;
    }
    uint64_t fam = fit_read_u64(&r);
    const struct fit_family_ops *ops = fam < FIT_NFAMILIES ? family_ops((fit_family)fam) : NULL;
    fit_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return CLEAVE_ENOMEM;
    }
    m->family = (fit_family)fam;
    m->ops = ops;
    m->p = fit_read_count(&r, 1u << 20);
    m->log_target = fit_read_u64(&r) != 0;
    m->tmin = fit_read_f64(&r);
    m->tmax = fit_read_f64(&r);
    if (m->tmin > m->tmax)
        r.failed = 1;
    m->clamp_from = m->p;
    if (version >= 3 && !r.failed) {
        m->clamp_from = fit_read_count(&r, m->p);
        size_t k = m->p - m->clamp_from;
        if (k > 0 && (m->p > FIT_CLAMP_MAX_P || !(m->xlo = malloc(sizeof *m->xlo * k)) ||
                      !(m->xhi = malloc(sizeof *m->xhi * k))))
            r.failed = 1;
        for (size_t j = 0; j < k && !r.failed; j++)
            m->xlo[j] = fit_read_f64(&r);
        for (size_t j = 0; j < k && !r.failed; j++) {
            m->xhi[j] = fit_read_f64(&r);
            if (!(m->xlo[j] <= m->xhi[j]))
                r.failed = 1;
        }
    }
    if (ops && !r.failed && m->p > 0)
        ops->load(m, &r);
    if (!ops || r.failed || m->p == 0 || r.pos != r.len) {
        snprintf(err, errlen, "stored model is truncated or malformed");
        fit_model_free(m);
        return CLEAVE_EPARSE;
    }
    *out = m;
    return CLEAVE_OK;
}

/* ---- buffers ---------------------------------------------------------------------------- */

static void buf_put(fit_buf *b, const void *src, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

void fit_buf_u64(fit_buf *b, uint64_t v)
{
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(v >> (8 * i));
    buf_put(b, le, 8);
}

void fit_buf_f64(fit_buf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    fit_buf_u64(b, u);
}

void fit_buf_f64s(fit_buf *b, const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fit_buf_f64(b, v[i]);
}

uint64_t fit_read_u64(fit_reader *r)
{
    uint64_t v = 0;
    if (r->failed || r->len - r->pos < 8) {
        r->failed = 1;
        return 0;
    }
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)r->p[r->pos + i] << (8 * i);
    r->pos += 8;
    return v;
}

double fit_read_f64(fit_reader *r)
{
    uint64_t u = fit_read_u64(r);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

size_t fit_read_count(fit_reader *r, size_t max)
{
    uint64_t v = fit_read_u64(r);
    if (v > max) {
        r->failed = 1;
        return 0;
    }
    return (size_t)v;
}

double *fit_read_f64s(fit_reader *r, size_t n)
{
    if (r->failed || n > (r->len - r->pos) / 8) {
        r->failed = 1;
        return NULL;
    }
    double *v = malloc(sizeof *v * (n ? n : 1));
    if (!v) {
        r->failed = 1;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = fit_read_f64(r);
    return v;
}

/* ---- helpers ---------------------------------------------------------------------------- */

void fit_column_stats(const double *x, size_t n, size_t p, double *mu, double *sd)
{
    for (size_t j = 0; j < p; j++) {
        /* Welford's running mean and variance (Welford 1962; Knuth TAOCP 2, 4.2.2). */
        double mean = 0.0, m2 = 0.0;
        for (size_t i = 0; i < n; i++) {
            double d = x[i * p + j] - mean;
            mean += d / (double)(i + 1);
            m2 += d * (x[i * p + j] - mean);
        }
        double var = n > 1 ? m2 / (double)(n - 1) : 0.0;
        mu[j] = mean;
        /* Relative test: a feature of tiny magnitude is not constant (an absolute floor would
        ** discard features measured in small units). */
        sd[j] = var > 0.0 && var > 1e-24 * mean * mean ? sqrt(var) : 1.0;
    }
}

void fit_folds(size_t n, int k, uint64_t seed, int *fold)
{
    /* Balanced labels 0..k-1 repeated, then a Fisher-Yates shuffle (Knuth's Algorithm P). */
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++)
        fold[i] = (int)(i % (size_t)k);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(cl_rng_next(&s) % i);
        int tmp = fold[i - 1];
        fold[i - 1] = fold[j];
        fold[j] = tmp;
    }
}
