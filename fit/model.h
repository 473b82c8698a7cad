/*
** fit/model.h - the regression families behind cleave's latency models: one interface to
** train, evaluate, serialise and free a model, whatever its family.
**
** A model maps one row of P raw features (static layer features, then dynamic load features;
** the caller builds the rows, see fit/design.h) to a predicted latency in microseconds.  Each
** family does its own scaling and transforms inside, stores them in the model, and so
** predicts from raw features: there is exactly one way to evaluate a stored model.
**
** Families (seed 002's table): logarithmic, linear, lasso, ridge, kernel ridge, polynomial,
** GBDT.  Hyper-parameters (lasso and ridge lambda, polynomial degree, kernel width, trees) are
** chosen inside fit_train() from the training rows only (inner CV or GCV), so an outer CV that
** calls fit_train() on each training fold stays honest.
*/
#ifndef CLEAVE_FIT_MODEL_H
#define CLEAVE_FIT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <cleave/cleave.h>

/* X(enum suffix, name, description).  Values are stored: never renumber. */
#define FIT_FAMILY_MAP(X)                                                                          \
    X(LOG, "logarithmic", "OLS of log latency on log(1+x) features (Neurosurgeon's log model)")    \
    X(LINEAR, "linear", "ordinary least squares with intercept")                                   \
    X(LASSO, "lasso", "L1-penalised least squares, coordinate descent, lambda by inner CV")        \
    X(RIDGE, "ridge", "L2-penalised least squares, lambda by GCV (lambda = 0 included)")           \
    X(KRR, "kernel_ridge", "RBF kernel ridge regression (Nystrom beyond 3000 rows)")               \
    X(POLY, "polynomial",                                                                          \
      "degree 2-3 with interactions on standardised features, ridge-"                              \
      "stabilised, degree by inner CV")                                                            \
    X(GBDT, "gbdt", "gradient-boosted regression trees (least squares), deterministic")

typedef enum fit_family {
#define FIT_FAM_ENUM_(e, name, desc) FIT_##e,
    FIT_FAMILY_MAP(FIT_FAM_ENUM_)
#undef FIT_FAM_ENUM_
        FIT_NFAMILIES
} fit_family;

/* Family name ("polynomial") or NULL; the inverse returns -1 for an unknown name. */
const char *fit_family_name(fit_family f);
int fit_family_from_name(const char *name);

/* Options shared by the families; fit_opts_default() fills sensible values. */
typedef struct fit_opts {
    uint64_t seed;     /* inner CV folds, GBDT subsampling, Nystrom landmarks */
    int inner_folds;   /* folds of the inner CV that picks hyper-parameters (default 3) */
    int log_target;    /* 1: fit log(latency) and predict exp() (better relative error);
                       ** the logarithmic family always does; default 1 for poly/krr/gbdt,
                       ** 0 for linear/lasso/ridge, which model latency as the seed did */
    size_t clamp_from; /* features CLAMP_FROM.. (the load features of a static + dynamic
                       ** model) are clamped to their training range before a prediction:
                       ** a model knows nothing of load beyond what it saw, and extrapolating
                       ** a load feature (log models especially) multiplied predictions by 50x
                       ** when the machine had slightly more free memory than during
                       ** calibration.  Default FIT_CLAMP_NONE; at most FIT_CLAMP_MAX_P
                       ** features in a model that clamps.  Layer features are never clamped:
                       ** a planner asks about layers larger than any profiled. */
} fit_opts;

#define FIT_CLAMP_NONE ((size_t)-1)
#define FIT_CLAMP_MAX_P 64

void fit_opts_default(fit_opts *o, fit_family f);

typedef struct fit_model fit_model;

/* Train family F on N rows of P features: X is row-major N x P, Y has N latencies (> 0, in
** microseconds).  NAMES (P strings, may be NULL) are stored for reports.  On success *OUT
** owns the model; on failure *OUT is NULL and the status is CLEAVE_EINVAL (n too small for
** the family: the message says so, e.g. "lasso needs at least 10 rows, got 4"),
** CLEAVE_ENUMERIC (singular system, a GSL failure: named), or CLEAVE_ENOMEM.  Never aborts:
** GSL's error handler is off and every GSL status is checked. */
cleave_status fit_train(fit_model **out, fit_family f, const double *x, size_t n, size_t p,
                        const double *y, const fit_opts *opts, char *err, size_t errlen);

/* Predicted latency (microseconds) of one row of P raw features.  Thread-safe (the model is
** read only), allocation-free, and fast: this is what the predict API calls. */
double fit_predict(const fit_model *m, const double *x);

fit_family fit_model_family(const fit_model *m);
size_t fit_model_nfeatures(const fit_model *m);

/* A one-line description of the fitted hyper-parameters, e.g. "degree=2 lambda=1.2e-3 terms=231".
 */
void fit_model_describe(const fit_model *m, char *buf, size_t buflen);

/* Serialise M into a malloc'ed buffer (*BLOB, *BYTES; the caller frees it).  The format is
** versioned, little-endian, and fit_model_load() of it predicts bit-identically. */
cleave_status fit_model_save(const fit_model *m, void **blob, size_t *bytes);
cleave_status fit_model_load(fit_model **out, const void *blob, size_t bytes, char *err,
                             size_t errlen);

void fit_model_free(fit_model *m); /* NULL is a harmless no-op */

#endif /* CLEAVE_FIT_MODEL_H */
