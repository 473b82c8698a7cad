/*
** fit/gbdt.h - gradient-boosted regression tree internals: the settings fit_gbdt_ops uses, an
** entry point with chosen settings, and the split finder, for tests and benchmarks.  Internal
** to fit/.
*/
#ifndef CLEAVE_FIT_GBDT_H
#define CLEAVE_FIT_GBDT_H

#include <stddef.h>

#include "fit/model.h"

/* What fit_gbdt_ops trains with; fit_gbdt_settings_default() gives the documented defaults. */
typedef struct fit_gbdt_settings {
    int max_depth;    /* of each tree (4); depth 1 is a stump */
    size_t min_leaf;  /* rows a leaf keeps at least (3) */
    double shrinkage; /* nu, the learning rate (0.1) */
    int max_rounds;   /* trees at most (300) */
    double subsample; /* share of the rows each tree is grown on, drawn by the seed (0.8) */
    int early_stop;   /* 1: rounds chosen on a held-out fold, then a refit on every row;
                      ** 0: exactly max_rounds on every row */
} fit_gbdt_settings;

void fit_gbdt_settings_default(fit_gbdt_settings *s);

/* Train GBDT on N rows of P features X and targets T taken as they are (no log transform: the
** model's log_target is 0) with settings S.  Statuses as fit_train(). */
cleave_status fit_gbdt_train_with(fit_model **out, const double *x, size_t n, size_t p,
                                  const double *t, const fit_opts *o, const fit_gbdt_settings *s,
                                  char *err, size_t errlen);

/* Trees in a fitted GBDT model. */
size_t fit_gbdt_rounds(const fit_model *m);

/* A split: rows with x[feature] <= threshold go left. */
typedef struct fit_gbdt_split {
    size_t feature;
    double threshold;
    double gain;  /* SSE(node) - SSE(left) - SSE(right) of the responses */
    size_t nleft; /* rows going left */
} fit_gbdt_split;

/* The split of all N rows of X (row-major, P columns) with responses R that reduces the sum of
** squared errors most, each side keeping at least MIN_LEAF rows, thresholds at midpoints
** between distinct values; the same code the trees are grown with.  Returns 1 and fills *BEST,
** 0 when no split has a positive gain, -1 when out of memory. */
int fit_gbdt_best_split(const double *x, size_t n, size_t p, const double *r, size_t min_leaf,
                        fit_gbdt_split *best);

#endif /* CLEAVE_FIT_GBDT_H */
