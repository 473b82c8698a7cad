/*
** predict/fallback.h - the fallback latency estimate for layer types without a fitted model:
** a + macs * t_mac + bytes * t_byte fitted by non-negative least squares on relative error to a
** device's least-loaded samples, scaled under load by a robust slope in other_cpu.  The
** definition users read is at the top of include/cleave/predict.h; this is its implementation.
**
** Internal API (prefix pred_).  Pure arithmetic on arrays, so tests can check it on data with
** known coefficients.
*/
#ifndef CLEAVE_PREDICT_FALLBACK_H
#define CLEAVE_PREDICT_FALLBACK_H

#include <stddef.h>

#include <cleave/cleave.h>

/* A type needs this many least-loaded samples for its own fit; so many loaded samples are
** needed for a load slope. */
#define PRED_FALLBACK_MIN_ROWS 8
/* A sample counts for the load slope when its other_cpu exceeds u0 by this much. */
#define PRED_FALLBACK_MIN_DU 0.05
/* The load slope is clamped to [0, PRED_FALLBACK_MAX_SLOPE]. */
#define PRED_FALLBACK_MAX_SLOPE 100.0

/* One sample as the fallback sees it. */
typedef struct pred_obs {
    cleave_layer_type type;
    double macs;      /* cleave_layer_features()[CLEAVE_FEAT_MACS] */
    double bytes;     /* input + output + weight bytes */
    double y_us;      /* measured median latency */
    double level[3];  /* generator levels cpu, membw, memcap; NaN is read as 0 */
    double other_cpu; /* load feature other_cpu, NaN if not observed */
} pred_obs;

/* latency_us = a_us + macs * us_per_mac + bytes * us_per_byte, all coefficients >= 0. */
typedef struct pred_cost {
    double a_us, us_per_mac, us_per_byte;
    long rows; /* samples it was fitted on; 0 = not fitted */
} pred_cost;

typedef struct pred_fallback {
    pred_cost device;                   /* every type's least-loaded samples */
    pred_cost type[CLEAVE_LAYER_COUNT]; /* per type; rows == 0 when the type has too few */
    double u0;                          /* median other_cpu at the least-loaded setting */
    double slope;                       /* s of 1 + s * max(0, other_cpu - u0); NaN = unknown */
    long slope_rows;                    /* samples behind the slope */
} pred_fallback;

/* Non-negative least squares with three columns: minimise sum_i w_i^2 (x_i . beta - y_i)^2
** over beta >= 0, X row-major N x 3, W may be NULL (all 1).  Exact: the unconstrained problem
** is solved on every subset of the columns (normal equations on column-scaled data, Gaussian
** elimination with partial pivoting; a singular subset is skipped) and the feasible solution
** with the smallest residual is kept (the optimum of this convex problem is the unconstrained
** optimum on its own support).  Writes BETA and returns 0; -1 when N == 0. */
int pred_nnls3(const double *x, const double *y, const double *w, size_t n, double beta[3]);

/* Fit FB from the N samples OBS as include/cleave/predict.h describes.  FB->device.rows == 0
** when no sample is usable (no finite positive latency).  Returns CLEAVE_OK or CLEAVE_ENOMEM. */
cleave_status pred_fallback_fit(pred_fallback *fb, const pred_obs *obs, size_t n);

/* The cost model used for TYPE: its own if fitted, else the device's (NULL if neither). */
const pred_cost *pred_fallback_cost(const pred_fallback *fb, cleave_layer_type type);

/* The idle estimate of C for MACS and BYTES. */
double pred_cost_eval(const pred_cost *c, double macs, double bytes);

/* The load factor 1 + s * max(0, other_cpu - u0) (1 when the slope is unknown). */
double pred_fallback_factor(const pred_fallback *fb, double other_cpu);

#endif /* CLEAVE_PREDICT_FALLBACK_H */
