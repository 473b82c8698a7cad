/*
** fit/family.h - what a regression family implements behind fit/model.h, and the byte
** buffers models are serialised with.  Internal to fit/.
*/
#ifndef CLEAVE_FIT_FAMILY_H
#define CLEAVE_FIT_FAMILY_H

#include <stddef.h>
#include <stdint.h>

#include "fit/model.h"

/* A growable output buffer and a bounds-checked reader, little-endian, for model blobs. */
typedef struct fit_buf {
    unsigned char *p;
    size_t len, cap;
    int failed; /* an allocation failed: the buffer is unusable */
} fit_buf;

void fit_buf_u64(fit_buf *b, uint64_t v);
void fit_buf_f64(fit_buf *b, double v);
void fit_buf_f64s(fit_buf *b, const double *v, size_t n);

typedef struct fit_reader {
    const unsigned char *p;
    size_t len, pos;
    int failed; /* read past the end, or a value out of range */
} fit_reader;

uint64_t fit_read_u64(fit_reader *r);
double fit_read_f64(fit_reader *r);
/* Read N doubles into a new malloc'ed array (NULL and FAILED set on a short blob). */
double *fit_read_f64s(fit_reader *r, size_t n);
/* Read a count and check it is at most MAX (else FAILED and 0). */
size_t fit_read_count(fit_reader *r, size_t max);

struct fit_family_ops {
    /* Fit M->impl on N rows of P features X (row-major) and targets T, which are latencies or,
    ** when M->log_target, their logarithms (model.c transforms them).  Errors as fit_train(). */
    cleave_status (*train)(fit_model *m, const double *x, size_t n, size_t p, const double *t,
                           const fit_opts *o, char *err, size_t errlen);
    /* The prediction on the target scale (log latency when M->log_target). */
    double (*predict)(const fit_model *m, const double *x);
    void (*save)(const fit_model *m, fit_buf *b);
    /* Read what save() wrote into M->impl; set R->failed on malformed data. */
    void (*load)(fit_model *m, fit_reader *r);
    void (*free_impl)(fit_model *m);
    void (*describe)(const fit_model *m, char *buf, size_t buflen);
};

struct fit_model {
    fit_family family;
    const struct fit_family_ops *ops;
    size_t p;          /* raw features per row */
    int log_target;    /* the family fitted log latency */
    double tmin, tmax; /* range of the training targets (on the target scale) */
    size_t clamp_from; /* features clamp_from..p-1 are clamped to [xlo, xhi] (p: none) */
    double *xlo, *xhi; /* p - clamp_from each: the training range of those features */
    void *impl;        /* the family's own state */
};

/* The families (fit/linear.c: LOG, LINEAR, LASSO, RIDGE, POLY; fit/krr.c; fit/gbdt.c). */
extern const struct fit_family_ops fit_log_ops, fit_linear_ops, fit_lasso_ops, fit_ridge_ops,
    fit_poly_ops, fit_krr_ops, fit_gbdt_ops;

/* For a family's test hooks that train with explicit settings: allocate a model of family F
** for P features (target as given, log_target 0), default the options, and call
** FN(model, ..., SETTINGS); on success *OUT owns the model.  Errors as fit_train(). */
typedef cleave_status (*fit_with_fn)(fit_model *m, const double *x, size_t n, size_t p,
                                     const double *t, const fit_opts *o, const void *settings,
                                     char *err, size_t errlen);
cleave_status fit_train_with(fit_model **out, fit_family f, const double *x, size_t n, size_t p,
                             const double *t, const fit_opts *o, fit_with_fn fn,
                             const void *settings, char *err, size_t errlen);

/* Column means and standard deviations of X (N x P) into MU and SD (SD of a constant column is
** set to 1 so that scaling leaves it at 0). */
void fit_column_stats(const double *x, size_t n, size_t p, double *mu, double *sd);

/* Deterministic K-fold assignment of N rows: FOLD[i] in [0, K), balanced, shuffled by SEED. */
void fit_folds(size_t n, int k, uint64_t seed, int *fold);

#endif /* CLEAVE_FIT_FAMILY_H */
