/*
** fit/krr.h - kernel ridge regression internals: the settings fit_krr_ops uses, and an entry
** point with fixed hyper-parameters and thresholds, for tests and benchmarks.  Internal to fit/.
*/
#ifndef CLEAVE_FIT_KRR_H
#define CLEAVE_FIT_KRR_H

#include <stddef.h>

#include "fit/model.h"

/* What fit_krr_ops trains with; fit_krr_settings_default() gives the documented defaults. */
typedef struct fit_krr_settings {
    double gamma;          /* with LAMBDA both > 0: fixed hyper-parameters, no inner CV */
    double lambda;         /* the ridge of (K + lambda I) as solved, not per row */
    size_t exact_max_rows; /* exact solve up to this many rows (3000), Nystrom beyond */
    size_t landmarks;      /* Nystrom landmark rows m (1000) */
    size_t cv_max_rows;    /* the inner CV runs on at most this many rows (600) */
} fit_krr_settings;

void fit_krr_settings_default(fit_krr_settings *s);

/* Train kernel ridge on N rows of P features X and targets T taken as they are (no log
** transform: the model's log_target is 0) with settings S.  Statuses as fit_train(). */
cleave_status fit_krr_train_with(fit_model **out, const double *x, size_t n, size_t p,
                                 const double *t, const fit_opts *o, const fit_krr_settings *s,
                                 char *err, size_t errlen);

/* The fitted state of a kernel ridge model; the pointers are owned by the model. */
typedef struct fit_krr_info {
    size_t ncentres;       /* rows of CENTRES: all training rows, or the Nystrom landmarks */
    int nystrom;           /* 1 when the Nystrom approximation was used */
    double gamma, lambda;  /* kernel width and the ridge as solved */
    double t_mean;         /* the centred target's mean */
    const double *mu, *sd; /* standardisation of the P raw features */
    const double *centres; /* NCENTRES x P standardised rows */
    const double *alpha;   /* NCENTRES dual coefficients */
} fit_krr_info;

void fit_krr_inspect(const fit_model *m, fit_krr_info *info);

#endif /* CLEAVE_FIT_KRR_H */
