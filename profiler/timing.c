/*
** profiler/timing.c - the timing loop and its statistics.
*/
#include "profiler/timing.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

uint64_t prof_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile Q of sorted V[0..N) by linear interpolation between closest ranks (Hyndman & Fan
** type 7, the default of R and NumPy). */
static double quantile(const double *v, int n, double q)
{
    double pos = q * (double)(n - 1);
    int lo = (int)floor(pos);
    int hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (v[hi] - v[lo]) * (pos - (double)lo);
}

void prof_timing_stats(double *us, int n, prof_timing *out)
{
    double sum = 0.0;
    out->reps = n;
    if (n <= 0) {
        out->median_us = out->min_us = out->p90_us = out->max_us = out->mean_us = NAN;
        out->mad_us = out->rel_se = NAN;
        return;
    }
    qsort(us, (size_t)n, sizeof *us, cmp_double);
    for (int i = 0; i < n; i++)
        sum += us[i];
    out->min_us = us[0];
    out->max_us = us[n - 1];
    out->median_us = quantile(us, n, 0.5);
    out->p90_us = quantile(us, n, 0.9);
    out->mean_us = sum / n;
    /* MAD: median of absolute deviations from the median; sorted copy is not needed if we
    ** reuse the array, since the order statistics above are already taken. */
    for (int i = 0; i < n; i++)
        us[i] = fabs(us[i] - out->median_us);
    qsort(us, (size_t)n, sizeof *us, cmp_double);
    out->mad_us = quantile(us, n, 0.5);
    /* 1.4826 * MAD estimates the standard deviation of normal data; the median's standard
    ** error is about 1.2533 * sigma / sqrt(n), but the cruder sigma/sqrt(n) is what we report. */
    out->rel_se =
        out->median_us > 0 ? 1.4826 * out->mad_us / sqrt((double)n) / out->median_us : 0.0;
}

/* Relative standard error of the median of the first N samples (copied, then sorted). */
static double running_rel_se(const double *us, int n, double *tmp)
{
    prof_timing t;
    for (int i = 0; i < n; i++)
        tmp[i] = us[i];
    prof_timing_stats(tmp, n, &t);
    return t.rel_se;
}

cleave_status prof_time_kernel(prof_kernel *k, const prof_timing_opts *opts, double *scratch,
                               prof_timing *out)
{
    cleave_status rc;
    int n = 0;
    uint64_t total = 0;
    int max_reps = opts->max_reps > 0 ? opts->max_reps : 1;
    int min_reps = opts->min_reps > 0 ? opts->min_reps : 1;
    if (min_reps > max_reps)
        min_reps = max_reps;

    for (int i = 0; i < opts->warmup; i++)
        if ((rc = prof_kernel_run(k)) != CLEAVE_OK)
            return rc;
    double *tmp = opts->target_rel > 0 ? scratch + max_reps : NULL;
    int next_check = 0;
    while (n < max_reps) {
        uint64_t t0 = prof_now_ns();
        rc = prof_kernel_run(k);
        uint64_t t1 = prof_now_ns();
        if (rc != CLEAVE_OK)
            return rc;
        scratch[n++] = (double)(t1 - t0) / 1000.0;
        total += t1 - t0;
        if (opts->time_cap_ns && total >= opts->time_cap_ns && n >= 3)
            break;
        if (n < min_reps || total < opts->min_time_ns)
            continue;
        if (!tmp)
            break;
        /* Precision is checked at doubling counts, so sorting costs O(n log n) in all. */
        if (n >= next_check) {
            if (running_rel_se(scratch, n, tmp) <= opts->target_rel)
                break;
            next_check = n * 2;
        }
    }
    prof_timing_stats(scratch, n, out);
    out->total_ns = total;
    return CLEAVE_OK;
}
