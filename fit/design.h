/*
** fit/design.h - design matrices: which features a model of a layer type uses, and building a
** row of them from a layer and a load snapshot.  The fitter and the predictor both build rows
** here, from the feature names stored with each model, so a model is always evaluated with
** features built exactly as in training.
*/
#ifndef CLEAVE_FIT_DESIGN_H
#define CLEAVE_FIT_DESIGN_H

#include <stddef.h>
#include <stdint.h>

#include <cleave/cleave.h>

#include "common/store.h"

/* Feature sets of seed 002: static layer features only, or static + dynamic load features. */
typedef enum fit_feature_set { FIT_SET_STATIC = 0, FIT_SET_DYNAMIC = 1, FIT_NSETS } fit_feature_set;

const char *fit_feature_set_name(fit_feature_set s); /* "static", "dynamic" */
int fit_feature_set_from_name(const char *name);     /* -1 if unknown */

#define FIT_MAX_FEATURES (CLEAVE_FEAT_COUNT + CLEAVE_LOAD_COUNT)

/* What a model predicts: a statistic of a sample's timed repetitions.
**   mean    the expected latency: what an inference under that load takes on average, and
**           what adds up along a network; under CPU load it includes the time slices a thread
**           waits for (up to 36x the median on this 2-core VM at cpu=100,membw=1), so it is
**           the planners' quantity and the default
**   median  the typical repetition: robust to those stalls, so it hides most of the load
**   p90     a tail: for deadlines that must hold nine times in ten */
#define FIT_TARGET_MAP(X) X(MEAN, "mean") X(MEDIAN, "median") X(P90, "p90")
typedef enum fit_target {
#define X_(e, name) FIT_TARGET_##e,
    FIT_TARGET_MAP(X_)
#undef X_
        FIT_NTARGETS
} fit_target;

const char *fit_target_name(fit_target t);  /* "mean", "median", "p90" */
int fit_target_from_name(const char *name); /* -1 if unknown */
/* Sample S's value of statistic T, in microseconds (NaN when not stored). */
double fit_target_of(const cl_sample *s, fit_target t);

/* The features of a model: static feature ids, then dynamic (load) feature ids.  Names are
** "macs", "in_bytes", ... for static features and "load.cpu_util", ... for dynamic ones. */
typedef struct fit_features {
    int nstatic, ndynamic;
    cleave_feature statics[CLEAVE_FEAT_COUNT];
    cleave_load_feature dynamics[CLEAVE_LOAD_COUNT];
} fit_features;

static inline int fit_features_count(const fit_features *f)
{
    return f->nstatic + f->ndynamic;
}

/* Name of feature I of F into BUF. */
void fit_feature_label(const fit_features *f, int i, char *buf, size_t buflen);

/* F as a JSON array of names, e.g. ["macs","in_bytes","load.cpu_util"], in a malloc'ed string
** (NULL when out of memory); fit_features_parse() reads it back, CLEAVE_EPARSE naming an unknown
** feature. */
char *fit_features_json(const fit_features *f);
cleave_status fit_features_parse(fit_features *f, const char *json, char *err, size_t errlen);

/* Build the row of features F for layer L under load LOAD (LOAD may be NULL when F has no
** dynamic features) into ROW.  Allocation-free: the predictor calls it per query.  Returns 0,
** or -1 if a feature is not finite (a NaN load feature, for instance). */
int fit_row(const fit_features *f, const cleave_layer *l, const cleave_load *load, double *row);

/* fit_row() from the layer's static features STATICS[CLEAVE_FEAT_COUNT] already computed by
** cleave_layer_features(). */
int fit_row_from(const fit_features *f, const double *statics, const cleave_load *load,
                 double *row);

/* A data set for one layer type and feature set, read from a store. */
typedef struct fit_dataset {
    cleave_layer_type type;
    fit_feature_set set;
    fit_features features;
    size_t n;  /* rows kept */
    size_t p;  /* features per row */
    double *x; /* n x p, row-major */
    fit_target target;
    double *y; /* latency statistic TARGET, microseconds */
    int64_t *sample_id;
    int *level;         /* index into levels[] of the row's load setting */
    char (*levels)[96]; /* distinct load settings, in order of first appearance */
    size_t nlevels;
    size_t excluded; /* rows dropped: unparsable spec, non-finite feature or latency */
} fit_dataset;

/* Read every sample of DEVICE and TYPE from ST into *OUT with the features of SET and their
** statistic TARGET as the response: the type's
** static features (cleave_layer_type_features) plus, for FIT_SET_DYNAMIC, every load feature
** observed (not NaN) in at least 90 % of the rows; rows missing a chosen feature are excluded
** and counted.  Constant columns are kept (families cope).  An empty result is not an error:
** OUT->n == 0.  Errors: the store's (CLEAVE_EDB, CLEAVE_EINVAL for an unknown device),
** CLEAVE_ENOMEM. */
cleave_status fit_dataset_read(fit_dataset *out, cl_store *st, const char *device,
                               cleave_layer_type type, fit_feature_set set, fit_target target,
                               char *err, size_t errlen);

void fit_dataset_release(fit_dataset *d);

#endif /* CLEAVE_FIT_DESIGN_H */
