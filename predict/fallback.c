/*
** predict/fallback.c - the fallback latency estimate (see predict/fallback.h and the top of
** include/cleave/predict.h): exact three-column NNLS on relative error, and a robust load slope.
*/
#include "predict/fallback.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Solve the K x K system A z = b (A row-major, K <= 3) by Gaussian elimination with partial
** pivoting.  A and B are overwritten.  Returns -1 when a pivot falls below TINY (the subset's
** columns are collinear on these rows). */
static int solve_small(double *a, double *b, int k, double *z)
{
    const double tiny = 1e-12;
    for (int c = 0; c < k; c++) {
        int piv = c;
        for (int r = c + 1; r < k; r++)
            if (fabs(a[r * k + c]) > fabs(a[piv * k + c]))
                piv = r;
        if (!(fabs(a[piv * k + c]) > tiny))
            return -1;
        if (piv != c) {
            for (int j = 0; j < k; j++) {
                double t = a[c * k + j];
                a[c * k + j] = a[piv * k + j];
                a[piv * k + j] = t;
            }
            double t = b[c];
            b[c] = b[piv];
            b[piv] = t;
        }
        for (int r = c + 1; r < k; r++) {
            double f = a[r * k + c] / a[c * k + c];
            for (int j = c; j < k; j++)
                a[r * k + j] -= f * a[c * k + j];
            b[r] -= f * b[c];
        }
    }
    for (int c = k - 1; c >= 0; c--) {
        double s = b[c];
        for (int j = c + 1; j < k; j++)
            s -= a[c * k + j] * z[j];
        z[c] = s / a[c * k + c];
    }
    return 0;
}

/* See fallback.h.  Columns are scaled to unit weighted norm first, so that the Gram matrix has
** a unit diagonal whatever the units (MACs reach 1e9 where the intercept column is 1). */
int pred_nnls3(const double *x, const double *y, const double *w, size_t n, double beta[3])
{
    double norm[3] = {0, 0, 0}, g[3][3] = {{0}}, b[3] = {0, 0, 0};
    double best_sse = 0.0;

    beta[0] = beta[1] = beta[2] = 0.0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        for (int j = 0; j < 3; j++)
            norm[j] += (wi * x[i * 3 + j]) * (wi * x[i * 3 + j]);
        best_sse += (wi * y[i]) * (wi * y[i]); /* the all-zero solution */
    }
    for (int j = 0; j < 3; j++)
        norm[j] = sqrt(norm[j]);
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0, xs[3];
        for (int j = 0; j < 3; j++)
            xs[j] = norm[j] > 0 ? wi * x[i * 3 + j] / norm[j] : 0.0;
        for (int j = 0; j < 3; j++) {
            b[j] += xs[j] * wi * y[i];
            for (int k = 0; k < 3; k++)
                g[j][k] += xs[j] * xs[k];
        }
    }

    for (int mask = 1; mask < 8; mask++) {
        int cols[3], k = 0, usable = 1;
        for (int j = 0; j < 3; j++)
            if (mask & (1 << j)) {
                usable &= norm[j] > 0;
                cols[k++] = j;
            }
        if (!usable)
            continue;
        double a[9], rhs[3], z[3], cand[3] = {0, 0, 0};
        for (int r = 0; r < k; r++) {
            rhs[r] = b[cols[r]];
            for (int c = 0; c < k; c++)
                a[r * k + c] = g[cols[r]][cols[c]];
        }
        if (solve_small(a, rhs, k, z) != 0)
            continue;
        int feasible = 1;
        for (int r = 0; r < k; r++) {
            feasible &= z[r] >= 0.0 && isfinite(z[r]);
            cand[cols[r]] = z[r] / norm[cols[r]];
        }
        if (!feasible)
            continue;
        double sse = 0.0;
        for (size_t i = 0; i < n; i++) {
            double wi = w ? w[i] : 1.0;
            double e =
                wi * (x[i * 3] * cand[0] + x[i * 3 + 1] * cand[1] + x[i * 3 + 2] * cand[2] - y[i]);
            sse += e * e;
        }
        if (sse < best_sse) {
            best_sse = sse;
            memcpy(beta, cand, sizeof cand);
        }
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of the N values V (sorted in place); NaN for N == 0. */
static double median(double *v, size_t n)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double level_of(const pred_obs *o, int j)
{
    return isnan(o->level[j]) ? 0.0 : o->level[j];
}

static int usable(const pred_obs *o)
{
    return isfinite(o->y_us) && o->y_us > 0 && isfinite(o->macs) && o->macs >= 0 &&
           isfinite(o->bytes) && o->bytes >= 0 && (int)o->type >= 0 && o->type < CLEAVE_LAYER_COUNT;
}

/* Is O at the least-loaded setting MIN? */
static int idle(const pred_obs *o, const double *min)
{
    return level_of(o, 0) == min[0] && level_of(o, 1) == min[1] && level_of(o, 2) == min[2];
}

/* Fit C on the idle, usable rows of OBS of TYPE (-1: every type), using the scratch arrays X
** (3 N), Y and W (N each). */
static void fit_cost(pred_cost *c, const pred_obs *obs, size_t n, const double *min, int type,
                     double *x, double *y, double *w)
{
    size_t m = 0;
    double beta[3];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < n; i++) {
        const pred_obs *o = &obs[i];
        if (!usable(o) || !idle(o, min) || (type >= 0 && (int)o->type != type))
            continue;
        x[m * 3] = 1.0;
        x[m * 3 + 1] = o->macs;
        x[m * 3 + 2] = o->bytes;
        y[m] = o->y_us;
        w[m] = 1.0 / o->y_us; /* relative error */
        m++;
    }
    if (m == 0 || pred_nnls3(x, y, w, m, beta) != 0)
        return;
    c->a_us = beta[0];
    c->us_per_mac = beta[1];
    c->us_per_byte = beta[2];
    c->rows = (long)m;
}

const pred_cost *pred_fallback_cost(const pred_fallback *fb, cleave_layer_type type)
{
    if ((int)type >= 0 && type < CLEAVE_LAYER_COUNT && fb->type[type].rows > 0)
        return &fb->type[type];
    return fb->device.rows > 0 ? &fb->device : NULL;
}

double pred_cost_eval(const pred_cost *c, double macs, double bytes)
{
    return c->a_us + macs * c->us_per_mac + bytes * c->us_per_byte;
}

double pred_fallback_factor(const pred_fallback *fb, double other_cpu)
{
    if (isnan(fb->slope))
        return 1.0;
    double du = other_cpu - fb->u0;
    return 1.0 + fb->slope * (du > 0 ? du : 0.0);
}

/* See fallback.h: the cost models first, then the load slope from the ratios of measured to
** idle-estimated latency (a one-sided Theil-Sen slope through the idle point (u0, r0)). */
cleave_status pred_fallback_fit(pred_fallback *fb, const pred_obs *obs, size_t n)
{
    double *x = NULL, *y = NULL, *w = NULL, *u = NULL, *r = NULL, *s = NULL;
    double min[3] = {INFINITY, INFINITY, INFINITY};
    size_t nu = 0, nr = 0, ns = 0, nusable = 0;
    cleave_status ret = CLEAVE_OK;

    memset(fb, 0, sizeof *fb);
    fb->u0 = NAN;
    fb->slope = NAN;
    if (n == 0)
        return CLEAVE_OK;
    x = malloc(3 * n * sizeof *x);
    y = malloc(n * sizeof *y);
    w = malloc(n * sizeof *w);
    u = malloc(n * sizeof *u);
    r = malloc(n * sizeof *r);
    s = malloc(n * sizeof *s);
    if (!x || !y || !w || !u || !r || !s) {
        ret = CLEAVE_ENOMEM;
        goto done;
    }

    /* The least-loaded setting: lexicographic minimum of the generator levels. */
    for (size_t i = 0; i < n; i++) {
        if (!usable(&obs[i]))
            continue;
        nusable++;
        double l[3] = {level_of(&obs[i], 0), level_of(&obs[i], 1), level_of(&obs[i], 2)};
        if (l[0] < min[0] ||
            (l[0] == min[0] && (l[1] < min[1] || (l[1] == min[1] && l[2] < min[2]))))
            memcpy(min, l, sizeof min);
    }
    if (nusable == 0)
        goto done;

    fit_cost(&fb->device, obs, n, min, -1, x, y, w);
    for (int t = 0; t < CLEAVE_LAYER_COUNT; t++) {
        fit_cost(&fb->type[t], obs, n, min, t, x, y, w);
        if (fb->type[t].rows < PRED_FALLBACK_MIN_ROWS)
            memset(&fb->type[t], 0, sizeof fb->type[t]);
    }

    /* u0 and r0 at the least-loaded setting. */
    for (size_t i = 0; i < n; i++) {
        const pred_obs *o = &obs[i];
        if (!usable(o) || !isfinite(o->other_cpu) || !idle(o, min))
            continue;
        u[nu++] = o->other_cpu;
        const pred_cost *c = pred_fallback_cost(fb, o->type);
        double est = c ? pred_cost_eval(c, o->macs, o->bytes) : 0.0;
        if (est > 0)
            r[nr++] = o->y_us / est;
    }
    double u0 = median(u, nu), r0 = median(r, nr);
    if (!isfinite(u0) || !(r0 > 0))
        goto done;
    for (size_t i = 0; i < n; i++) {
        const pred_obs *o = &obs[i];
        if (!usable(o) || !isfinite(o->other_cpu) || o->other_cpu - u0 < PRED_FALLBACK_MIN_DU)
            continue;
        const pred_cost *c = pred_fallback_cost(fb, o->type);
        double est = c ? pred_cost_eval(c, o->macs, o->bytes) : 0.0;
        if (est > 0)
            s[ns++] = (o->y_us / est / r0 - 1.0) / (o->other_cpu - u0);
    }
    if (ns >= PRED_FALLBACK_MIN_ROWS) {
        double slope = median(s, ns);
        fb->u0 = u0;
        fb->slope = slope < 0                         ? 0.0
                    : slope > PRED_FALLBACK_MAX_SLOPE ? PRED_FALLBACK_MAX_SLOPE
                                                      : slope;
        fb->slope_rows = (long)ns;
    }
done:
    free(x);
    free(y);
    free(w);
    free(u);
    free(r);
    free(s);
    return ret;
}
