/*
** fit/fitrun.h - `cleave fit` as a library call: every layer type of a device, both feature
** sets, every requested family; held-out evaluation, selection, and the models stored.
**
** For each (type, feature set, family): k-fold CV and leave-one-load-level-out give held-out
** predictions and their metrics (fit/cv.h); then the final model is trained on every usable
** row and stored with its features, blob, metrics, description and predictions.  A family
** that cannot be fitted is recorded in fit_skips with its reason.  Per (type, set) the family
** with the best k-fold R^2 is selected (ties: the earlier family of FIT_FAMILY_MAP, the
** simpler one).  The models of the device are replaced in one transaction: a fit that fails
** leaves the previous models in place.
**
** Feature columns that are constant over a data set's rows, or that the earlier columns explain
** to 99.9 % of their variance, are left out of its models (the stored feature list says which
** remain).  Kernel ridge, polynomial and lasso choose their
** hyper-parameters by 2-fold inner CV on data sets of 100 rows or more (3-fold below): see
** family_opts() in fitrun.c for why and what it saves.
*/
#ifndef CLEAVE_FIT_FITRUN_H
#define CLEAVE_FIT_FITRUN_H

#include <stddef.h>
#include <stdint.h>

#include <cleave/cleave.h>

#include "common/store.h"
#include "fit/cv.h"
#include "fit/design.h"
#include "fit/model.h"

#define FIT_ALL_FAMILIES ((1u << FIT_NFAMILIES) - 1u)

/* What fitrun computed for one stored model, handed to the on_model hook after the commit.
** Arrays have N entries in data-set row order; they are valid during the call only. */
typedef struct fit_run_model_view {
    cleave_layer_type type;
    fit_feature_set set;
    fit_family family;
    int64_t model_id;
    size_t n, p;
    const double *x;          /* the rows the final model was trained on (N x P) */
    const int64_t *sample_id; /* each row's sample */
    const double *final_us;   /* the in-memory final model's predictions of its rows */
    const double *cv_us;      /* k-fold held-out predictions */
    const double *lolo_us;    /* leave-one-load-level-out held-out predictions (NaN: none) */
    const int *fold;          /* each row's k-fold fold */
} fit_run_model_view;

typedef void (*fit_run_model_fn)(const fit_run_model_view *v, void *arg);

typedef struct fit_run_opts {
    const char *device; /* the device to fit (required) */
    unsigned families;  /* bit 1u << f per fit_family; 0 = FIT_ALL_FAMILIES */
    int folds;          /* outer k-fold folds, FIT_FOLDS_MIN..FIT_FOLDS_MAX */
    uint64_t seed;      /* fold assignment and the families' own randomness */
    fit_target target;  /* the latency statistic to model (default FIT_TARGET_MEAN) */
    int threads;        /* worker threads; 0 = one per online CPU */
    /* Called after each of the TOTAL fits with the number DONE so far, from the worker thread
    ** that finished it, one call at a time (may be NULL).  For a progress display. */
    void (*progress)(size_t done, size_t total, void *arg);
    void *progress_arg;
    /* Tests only. */
    fit_run_model_fn on_model; /* called per stored model after the commit (may be NULL) */
    void *on_model_arg;
    int fail_after_models; /* > 0: the store write fails (CLEAVE_EIO) after that many models */
} fit_run_opts;

/* Defaults: all families, FIT_FOLDS_DEFAULT folds, FIT_SEED_DEFAULT, the mean, threads 0. */
void fit_run_opts_default(fit_run_opts *o);

/* One family on one (type, set). */
typedef struct fit_run_family {
    int tried;           /* the family was requested */
    int fitted;          /* a model was stored */
    int selected;        /* ... and chosen for its (type, set) */
    char reason[320];    /* why it was skipped ("" when fitted) */
    fit_metrics cv;      /* k-fold held-out metrics */
    fit_metrics lolo;    /* leave-one-load-level-out metrics (NaN when not computed) */
    char lolo_note[320]; /* why LOLO metrics are missing ("" when computed) */
    char hyper[256];     /* the final model's hyper-parameters (fit_model_describe) */
    double seconds;      /* CPU-side wall time of all its fits, summed over threads */
} fit_run_family;

/* One feature set of one layer type. */
typedef struct fit_run_set {
    size_t rows;      /* usable rows */
    size_t excluded;  /* rows excluded: unparsable spec, NaN/inf feature or latency */
    size_t features;  /* columns of the design matrix (constant ones left out) */
    size_t constant;  /* feature columns left out because they were constant over the rows */
    size_t collinear; /* ... because the earlier columns explained 99.9 % of their variance */
    size_t levels;    /* distinct load settings among the usable rows */
    int folds;        /* k-fold folds used (fewer than asked when rows < folds; 0 = none) */
    int selected;     /* the selected fit_family, -1 if none could be fitted */
    fit_run_family fam[FIT_NFAMILIES];
} fit_run_set;

typedef struct fit_run_type {
    cleave_layer_type type;
    fit_run_set set[FIT_NSETS];
} fit_run_type;

typedef struct fit_run_result {
    int64_t device_id;
    size_t ntypes;
    fit_run_type *types; /* the layer types with samples, in catalogue order */
    size_t models;       /* models stored */
    size_t skips;        /* (type, set, family) combinations skipped */
    int threads;         /* worker threads used */
    double read_seconds, fit_seconds, write_seconds, total_seconds;
} fit_run_result;

/* Fit every layer type of device O->device in ST (opened read-write) as described above, and
** fill *OUT (release it with fit_run_result_release(), also after a failure).  Errors, with the
** message in ERR:
**   the store's message for an unknown device                       (CLEAVE_EINVAL)
**   no samples of device 'NAME' in 'PATH'                           (CLEAVE_EINVAL)
**   nothing could be fitted for device 'NAME': ...                  (CLEAVE_EINVAL; store kept)
**   invalid options (folds out of range, no family)                 (CLEAVE_EINVAL)
**   a store failure while writing (CLEAVE_EIO, CLEAVE_EDB): rolled back, old models kept
**   CLEAVE_ENOMEM.
** A family that cannot be fitted is not an error: it is skipped with its reason. */
cleave_status fit_run(cl_store *st, const fit_run_opts *o, fit_run_result *out, char *err,
                      size_t errlen);

void fit_run_result_release(fit_run_result *r);

/* Parse a comma-separated family list ("linear,gbdt", or "all") into *MASK; CLEAVE_EINVAL with
** "unknown family 'NAME' (families: logarithmic, linear, ...)" otherwise. */
cleave_status fit_families_parse(const char *list, unsigned *mask, char *err, size_t errlen);

#endif /* CLEAVE_FIT_FITRUN_H */
