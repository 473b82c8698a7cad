/*
** cleave/predict.h - predicted layer latency for planners: open the fitted models of one device
** in a store, then ask how long a layer takes, idle or under a snapshot of the current load.
**
** A typical planner:
**
**     cleave_predictor *p;
**     char err[256];
**     if (cleave_predictor_open(&p, "cleave.db", "jetson", err, sizeof err) != CLEAVE_OK)
**         return report(err);
**     cleave_load load;
**     cleave_load_now(&load, 0, NULL, 0);           -- optional: the load right now
**     cleave_prediction r;
**     if (cleave_predict(p, &layer, &load, &r) != CLEAVE_OK)
**         report(cleave_predictor_errmsg(p));
**     cleave_predictor_close(p);
**
** Models.  `cleave fit` stores, per layer type, one selected model on static layer features and
** one on static + dynamic (load) features.  cleave_predict() uses the dynamic one when it is
** given a load and the static one when it is not; see cleave_predict() for the exact rules.  A
** layer type without any fitted model gets the fallback estimate described below, and the
** result says so.
**
** Fallback estimate.  At open, the device's own samples taken at its least-loaded generator
** setting (the lexicographically smallest (cpu, membw, memcap) level in the store) are fitted
** with the roofline-like sum
**
**     latency_us = a + macs * t_mac + bytes * t_byte,    a, t_mac, t_byte >= 0,
**
** where bytes = input + output + weight bytes, i.e. a fixed overhead plus MACs over a measured
** throughput (1 / t_mac) plus bytes over a measured bandwidth (1 / t_byte).  The fit minimises
** the squared relative error (each row weighted by 1 / latency, so a 2 us layer counts as much
** as a 20 ms one) under the non-negativity constraints; with three coefficients this
** non-negative least-squares problem is solved exactly by solving the unconstrained problem on
** every subset of the coefficients and keeping the best feasible solution (Lawson and Hanson,
** "Solving Least Squares Problems", 1974, ch. 23).  The fit is per layer type when the type has
** at least 8 such samples and over every type of the device otherwise.  With a load given, the
** estimate is multiplied by 1 + s * max(0, other_cpu - u0), where u0 is the median other_cpu
** observed at the least-loaded setting and s is a robust slope from all of the device's
** samples: the median over samples with other_cpu >= u0 + 0.05 of (r / r0 - 1) / (other_cpu -
** u0), r being a sample's measured latency over its idle estimate and r0 the median r at the
** least-loaded setting (a one-sided Theil-Sen estimator).  When fewer than 8 samples observe a
** load that high, s is unknown and the fallback ignores the load (its feature set is then
** "static").  The fallback is a coarse estimate meant to keep a planner going, not a model.
**
** Threads.  A predictor is immutable after cleave_predictor_open() returns: any number of
** threads may call cleave_predict(), cleave_predict_many(), cleave_predictor_model() and
** cleave_predictor_device() on it concurrently without locking.  Error messages are kept per
** thread (see cleave_predictor_errmsg()).  Closing must not race with other calls on the same
** predictor.
**
** Nothing here prints, exits or aborts: every failure is a status and a message.  Predictions
** allocate no memory; only cleave_predictor_open() does.
**
** This header is valid C89 (with -pedantic), C99, C11 and C++.
*/
#ifndef CLEAVE_PREDICT_H
#define CLEAVE_PREDICT_H

#include <stddef.h>

#include "layer.h"
#include "load.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A device's fitted models, ready to predict with.  Opaque. */
typedef struct cleave_predictor cleave_predictor;

/* The load window of cleave_load_now() when it is given 0: the profiler's default, so that a
** snapshot is taken exactly as the training samples were. */
#define CLEAVE_LOAD_WINDOW_MS_DEFAULT 40

/* One prediction.  The strings are static: never freed, valid for the life of the program. */
typedef struct cleave_prediction {
    double latency_us;       /* predicted latency in microseconds, >= 0 (a model's negative
                             ** extrapolation is reported as 0) */
    int fallback;            /* 1: no fitted model for this layer type: the fallback estimate */
    int dynamic;             /* 1: the prediction used the load (feature set "dynamic") */
    const char *family;      /* regression family, e.g. "polynomial"; "fallback" for the
                             ** fallback estimate */
    const char *feature_set; /* "static" or "dynamic" */
} cleave_prediction;

/* What cleave_predict() uses for one layer type, as cleave_predictor_model() reports it. */
typedef struct cleave_model_info {
    int fallback;                /* 1: no fitted model: the fallback estimate is used */
    int dynamic;                 /* 1: reads the load (feature set "dynamic") */
    const char *family;          /* static string: "polynomial", ..., or "fallback" */
    const char *feature_set;     /* static string: "static" or "dynamic" */
    int nfeatures;               /* inputs of the model (static + load features); the
                                 ** fallback: 2 (MACs, bytes), 3 when it reads other_cpu */
    unsigned long load_features; /* bit (1UL << f) for each cleave_load_feature f it reads */
    double cv_r2;                /* held-out (k-fold) R^2 recorded by the fitter; NaN if not
                                 ** recorded, and for the fallback */
    double cv_mape;              /* held-out mean absolute percentage error; NaN likewise */
    long n_samples;              /* samples the model (or the fallback fit) was fitted on */
} cleave_model_info;

/* Open the fitted models of DEVICE in the store at PATH.  The store is opened read-only,
** read once and closed again: the predictor keeps no file open and never writes.
**
** The predictor holds, per layer type, the selected static model, the selected dynamic model
** (either may be missing) and the fallback estimate fitted from the device's samples.  A
** device with samples but no models opens successfully and predicts everything with the
** fallback; a device with models but no samples has no fallback for the other layer types.
** When a store holds two selected models for the same type and feature set (after merging
** stores), the one stored last wins.
**
** On success *OUT owns a new predictor; free it with cleave_predictor_close().  On failure *OUT
** is NULL (when OUT is not NULL) and ERR (ERRLEN bytes; ERR may be NULL) receives the message:
**   CLEAVE_EINVAL   "out is NULL", "store path is NULL", "device name is NULL",
**                   "no device 'NAME' in 'PATH'"
**   CLEAVE_EIO      "no store at 'PATH'", "cannot open 'PATH': <reason>"
**   CLEAVE_EDB      "'PATH' is not a cleave store",
**                   "'PATH' has schema version N, newer than this cleave (M)",
**                   "'PATH' has schema version N, older than this cleave (M); open it for
**                   writing once to upgrade it" (any cleave command that writes does),
**                   "model ID of device 'NAME' (TYPE, SET, FAMILY): <why it cannot be read>",
**                   "model ID of device 'NAME' (TYPE, SET, FAMILY) predicts the STAT latency,
**                   the others the STAT; refit the device so that they agree",
**                   or another store failure
**   CLEAVE_ENOMODEL "device 'NAME' in 'PATH' has no models and no samples" (or "... no usable
**                   samples" when none has a parsable layer and a finite latency)
**   CLEAVE_ENOMEM   "out of memory" */
CLEAVE_API cleave_status cleave_predictor_open(cleave_predictor **out, const char *path,
                                               const char *device, char *err, size_t errlen);

/* Open a formula device: a device described by one formula per layer type over the named
** static features of layer.h (CLEAVE_FEATURE_MAP), like the regression models published in
** seed 001's Table 2, read from the text file PATH (format: docs/devices.md; data/devices/
** bundles seed 001's Raspberry Pi 3 and desktop edge server).  The predictor works with every
** call below: cleave_predict() evaluates the layer type's formula (the load is never read:
** family "formula", feature set "static", dynamic 0; a negative value is reported as 0); a
** layer type without a formula is CLEAVE_ENOMODEL "no formula for layer type 'TYPE' in device
** 'NAME'" (there is no fallback estimate); cleave_predictor_model() reports family "formula",
** nfeatures = the distinct features the formula reads, cv_r2 and cv_mape NaN, n_samples 0.
** cleave_predictor_device() is the file's 'device' name.
**
** On success *OUT owns a new predictor (free it with cleave_predictor_close()); on failure *OUT
** is NULL and ERR receives the message:
**   CLEAVE_EINVAL "out is NULL", "formula file path is NULL"
**   CLEAVE_EIO    "cannot open 'PATH': <reason>"
**   CLEAVE_EPARSE "'PATH': line 7: formula for 'conv' names unknown feature 'x3'", and the other
**                 syntax errors of docs/devices.md
**   CLEAVE_ENOMEM "out of memory" */
CLEAVE_API cleave_status cleave_predictor_open_formulas(cleave_predictor **out, const char *path,
                                                        char *err, size_t errlen);

/* The one-off time to load a model of MODEL_BYTES bytes of weights on P's device, into
** *LATENCY_US: the formula device's 'loading' formula (seed 001's "model loading" regression).
** Returns CLEAVE_OK; CLEAVE_ENOMODEL "device 'NAME' has no model-loading formula" (calibrated
** devices never have one); CLEAVE_EINVAL for a NULL argument or MODEL_BYTES negative or not
** finite; CLEAVE_ENUMERIC for a non-finite result.  The message is on P; *LATENCY_US is NaN on
** failure.  Allocation-free and thread-safe. */
CLEAVE_API cleave_status cleave_predict_loading(const cleave_predictor *p, double model_bytes,
                                                double *latency_us);

/* Free P and everything it owns.  NULL is a harmless no-op.  P must not be in use by another
** thread. */
CLEAVE_API void cleave_predictor_close(cleave_predictor *p);

/* The message of the calling thread's last failed call on P, e.g. "load feature 'cpu_util' is
** NaN; the dynamic polynomial model of 'conv' needs it"; "" if this thread has had no failure
** on P.  A successful call does not clear it: look at the status first.  Messages are kept per
** thread, so concurrent callers never see each other's.  For P == NULL, the last failure of a
** call that was given a NULL predictor ("predictor is NULL").  The string is owned by the
** library and stays valid until the calling thread's next failing call into this API or until
** P is closed; cleave_predictor_open() failures are reported through its ERR argument. */
CLEAVE_API const char *cleave_predictor_errmsg(const cleave_predictor *p);

/* The device name P was opened for; owned by P.  NULL for a NULL P. */
CLEAVE_API const char *cleave_predictor_device(const cleave_predictor *p);

/* The statistic of a layer's timed repetitions that P's latencies estimate: "mean" (the
** expected latency; under load it includes the time slices a thread waits for), "median" or
** "p90", as chosen by `cleave fit --target` (mean by default; models fitted before the choice
** existed are "median").  Every model of a device predicts the same one, and so does the
** fallback; a store mixing them does not open.  A static string; NULL for a NULL P. */
CLEAVE_API const char *cleave_predictor_target(const cleave_predictor *p);

/* Describe what cleave_predict() uses for layers of TYPE when it is given a load (DYNAMIC
** non-zero) or not (DYNAMIC zero): fills *OUT.  Iterate TYPE over 0 .. CLEAVE_LAYER_COUNT - 1 to
** list which types have fitted models and of which family.
** Returns CLEAVE_OK; CLEAVE_ENOMODEL when there is neither a model nor a fallback for TYPE
** (*OUT is then zeroed with family "none"); CLEAVE_EINVAL for a NULL argument or an unknown
** TYPE.  The message is on P (cleave_predictor_errmsg()). */
CLEAVE_API cleave_status cleave_predictor_model(const cleave_predictor *p, cleave_layer_type type,
                                                int dynamic, cleave_model_info *out);

/* Predict the latency of layer L on P's device.
**
** LOAD == NULL: the type's selected static model; without one, the fallback (unscaled).
** LOAD != NULL: the type's selected dynamic model, fed the load features it was trained on;
**   without a dynamic model, the static model (the load is then not used: OUT->dynamic = 0);
**   without either, the fallback scaled by the load as described at the top of this file.
**   A load feature that the chosen model needs but that is NaN or infinite is an error: the
**   predictor never silently switches to another model.  Features the model does not read may
**   be NaN (cleave_load_init() sets them all to NaN).
** The layer is checked with cleave_layer_validate() first.
**
** On success fills *OUT and returns CLEAVE_OK.  On failure returns, with the message on P:
**   CLEAVE_EINVAL   "predictor is NULL" (on cleave_predictor_errmsg(NULL)), "layer is NULL",
**                   "output is NULL", "unknown layer type N", a validation message naming the
**                   field, "load feature 'NAME' is NaN; the dynamic FAMILY model of 'TYPE' needs
**                   it" ("load features 'A', 'B' are NaN; ... needs them"; "is not finite" for
**                   an infinity), "load feature 'other_cpu' is NaN; the fallback estimate for
**                   'TYPE' needs it"
**   CLEAVE_ENOMODEL "no model for layer type 'TYPE' of device 'NAME', and no samples to
**                   estimate one from"
**   CLEAVE_ENUMERIC "the FAMILY model of 'TYPE' predicted a non-finite latency"
** and sets OUT (when not NULL) to latency NaN, fallback 0, family and feature_set "".
** Allocation-free and thread-safe. */
CLEAVE_API cleave_status cleave_predict(const cleave_predictor *p, const cleave_layer *l,
                                        const cleave_load *load, cleave_prediction *out);

/* cleave_predict() on each of the N layers LAYERS[0..N) under the same LOAD (may be NULL), into
** OUT[0..N).  Stops at the first failure and returns its status; the message is prefixed with
** the layer's index ("layer 3: unknown layer type 99"), OUT entries before it are filled and
** that entry is set as cleave_predict() sets it.  P NULL is CLEAVE_EINVAL ("predictor is
** NULL"); otherwise N == 0 is CLEAVE_OK and touches nothing, and LAYERS or OUT NULL with N > 0
** is CLEAVE_EINVAL ("layers is NULL", "output is NULL").
** Allocation-free and thread-safe. */
CLEAVE_API cleave_status cleave_predict_many(const cleave_predictor *p, const cleave_layer *layers,
                                             size_t n, const cleave_load *load,
                                             cleave_prediction *out);

/* Set every feature of *OUT to NaN ("not observed").  A planner that knows only some load
** features starts here and sets those it knows. */
CLEAVE_API void cleave_load_init(cleave_load *out);

/* Take a snapshot of the current load into *OUT, with the code and settings the profiler used
** for the training samples: /proc readings over WINDOW_MS milliseconds (0 selects
** CLEAVE_LOAD_WINDOW_MS_DEFAULT, the profiler's default), then the CPU micro-probe (the
** profiler's default probe; probe_mem_ns is NaN, as in samples profiled with default probes).
** "Other" CPU and runnable counts exclude the calling process, as they excluded the profiler.
** Blocks for about WINDOW_MS.  Features the kernel does not provide (PSI) are NaN.  Models of
** a device profiled with the memory probe (`cleave profile --probes mem`) may need
** probe_mem_ns, which this function leaves NaN: predictions with them then fail naming it.
** Returns CLEAVE_OK; CLEAVE_EINVAL for a NULL OUT ("out is NULL") or a window outside 0..60000
** ("load window must be 0 (default) or 1..60000 ms, got N"); CLEAVE_EIO or CLEAVE_EPARSE when
** /proc cannot be read ("cannot read '/proc/stat': <reason>").  ERR (ERRLEN bytes; may be
** NULL) receives the message.  Thread-safe. */
CLEAVE_API cleave_status cleave_load_now(cleave_load *out, int window_ms, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* CLEAVE_PREDICT_H */
