/*
** fit/report.h - `cleave report` as a library: R^2 tables per layer type and family, the
** dynamic-feature gain table, the selected models' percentage errors, and gnuplot plots, all
** from the models, held-out predictions and fit skips that `cleave fit` stored.
**
** The tables follow seed 002's slides: "Model Selection" (rows = layer types, columns = the
** seven regression families, one table per feature set) and "Dynamic Characteristic Gain"
** (static R^2, static + dynamic R^2 and the increase ratio, for the linear and the logarithmic
** family), next to the seed's published figures.  Every number is a held-out one (k-fold CV or
** leave-one-load-level-out); nothing here refits a model.
**
** Library code: it writes only to the FILE * and directory it is given, and returns statuses
** with a message in the caller's ERR buffer.
*/
#ifndef CLEAVE_FIT_REPORT_H
#define CLEAVE_FIT_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cleave/cleave.h>

#include "common/store.h"
#include "fit/cv.h"
#include "fit/design.h"
#include "fit/model.h"

/* Output formats of fit_report_write(). */
typedef enum fit_report_format {
    FIT_REPORT_TABLE = 0, /* aligned text for a terminal */
    FIT_REPORT_MARKDOWN,  /* GitHub-flavoured markdown tables */
    FIT_REPORT_CSV,       /* one row per type x feature set x family, every metric */
    FIT_REPORT_JSON,      /* everything */
    FIT_REPORT_NFORMATS
} fit_report_format;

/* "table", "markdown", "csv", "json"; the inverse returns -1 for an unknown name. */
const char *fit_report_format_name(fit_report_format f);
int fit_report_format_from_name(const char *name);

/* Which held-out R^2 the family and gain tables show (the percentage-error table shows both). */
typedef enum fit_report_metric {
    FIT_REPORT_CV = 0, /* k-fold cross-validation */
    FIT_REPORT_LOLO,   /* leave-one-load-level-out */
    FIT_REPORT_NMETRICS
} fit_report_metric;

/* "cv", "lolo"; the inverse returns -1 for an unknown name. */
const char *fit_report_metric_name(fit_report_metric m);
int fit_report_metric_from_name(const char *name);

/* What the store holds for one (type, feature set, family). */
typedef enum fit_report_state {
    FIT_CELL_ABSENT = 0, /* neither a model nor a skip: the family was not requested */
    FIT_CELL_FITTED,     /* a model with held-out metrics */
    FIT_CELL_SKIPPED     /* the fitter could not fit it; REASON says why */
} fit_report_state;

typedef struct fit_report_cell {
    fit_report_state state;
    int selected;      /* the family chosen for this type and feature set */
    int64_t model_id;  /* FITTED: the model's id in the store */
    int64_t n_samples; /* FITTED: rows it was trained and evaluated on */
    fit_metrics cv;    /* k-fold held-out metrics (n = n_samples); NaN = not computed */
    fit_metrics lolo;  /* leave-one-load-level-out metrics; NaN = not computed */
    /* Selected models only: the held-out metrics over the samples taken under load (a load
    ** level other than cpu=0,membw=0,memcap=0), from the stored predictions; n = 0 if none. */
    fit_metrics loaded_cv, loaded_lolo;
    char reason[320];    /* SKIPPED: the fitter's reason */
    char lolo_note[320]; /* FITTED: why LOLO metrics are missing ("" when computed) */
} fit_report_cell;

typedef struct fit_report_type {
    cleave_layer_type type;
    int selected[FIT_NSETS]; /* the selected fit_family per feature set, -1 if none */
    fit_report_cell cell[FIT_NSETS][FIT_NFAMILIES];
} fit_report_type;

typedef struct fit_report {
    char device[64];
    char *db;          /* the store's path (malloc'ed) */
    int folds;         /* k of the k-fold CV, from the models' detail (0 = unknown) */
    uint64_t seed;     /* the fit's seed, from the models' detail */
    fit_target target; /* the latency statistic the models predict (the first model's) */
    int mixed_targets; /* 1: models of this device predict different statistics */
    size_t ntypes;
    fit_report_type *types; /* types with a model or a skip, in catalogue order */
    size_t nmodels, nskips;
    size_t nignored; /* models or skips with a type, family or feature set this cleave does
                     ** not know (a store written by another version): left out */
} fit_report;

/* Read everything the report needs about device DEVICE from ST into *OUT (release it with
** fit_report_release(), also after a failure).  Errors, with the message in ERR:
**   no device 'NAME' in 'PATH'                                              (CLEAVE_EINVAL)
**   device 'NAME' has no fitted models in 'PATH'; run 'cleave fit --device NAME' first
**                                                                           (CLEAVE_ENOMODEL)
**   the store's message for a read failure (CLEAVE_EDB, CLEAVE_EIO), CLEAVE_ENOMEM. */
cleave_status fit_report_load(cl_store *st, const char *device, fit_report *out, char *err,
                              size_t errlen);

void fit_report_release(fit_report *r);

/* The increase ratio of seed 002's gain table, in percent: 100 (DYNAMIC - STATIC) / STATIC.
** NaN when either R^2 is not finite or STATIC <= 0 (a ratio to a non-positive R^2 means
** nothing: the sign would flip). */
double fit_report_gain_pct(double static_r2, double dynamic_r2);

/* Seed 002's published R^2 for one layer type. */
typedef struct fit_seed002_row {
    cleave_layer_type type;
    const char *name;                     /* the seed's name for it: "pooling", "activation" */
    double linear_static, linear_dynamic; /* "Dynamic Characteristic Gain", linear model */
    double log_static, log_dynamic;       /* same table, logarithmic ("Logistic") model */
    double baseline_static; /* Experiment 1: Neurosurgeon (static, logarithmic | linear) */
    double best_dynamic;    /* Experiment 1: the seed's model (static + dynamic, polynomial |
                            ** linear; the "Model Selection" polynomial column but softmax,
                            ** whose 0.9836 is the linear one) */
} fit_seed002_row;

/* The seed's figures for TYPE, or NULL when its tables have no row for it (only conv, pool,
** fc, bn, act, softmax and argmax are there). */
const fit_seed002_row *fit_report_seed002(cleave_layer_type type);

/* Plots written by fit_report_plot(). */
typedef struct fit_report_plots {
    char *dir;     /* the directory (malloc'ed) */
    size_t nfiles; /* files written, names relative to DIR, in order */
    char **files;
    size_t ngp, ndat, npng;
    int gnuplot_missing; /* gnuplot was wanted but is not in PATH: only .gp and .dat written */
    size_t nnotes;       /* plots that could not be drawn and why, e.g. */
    char **notes;        /* "conv: no selected static + dynamic model" */
} fit_report_plots;

/* Write the plots of report R to directory DIR (created, with its parents, if missing): for
** each layer type with a selected static + dynamic model, predicted vs measured latency
** (log-log, y = x and a +-10 % band; the model's held-out predictions of METRIC, one point
** series per load level) and latency vs load level (measured quartiles per level, the measured
** mean and the selected models' mean held-out predictions); and one bar chart of the selected
** models' R^2, static vs static + dynamic, per type.  Each plot is a gnuplot script NAME.gp
** and its data NAME.dat, always written; the script renders NAME.png (pngcairo) when run from
** DIR.  If GNUPLOT (a program name looked up in PATH; NULL = do not render) is found, it is run
** on each script in DIR, and each PNG must then exist and be non-empty.
**
** Files: predicted-vs-measured-<type>, latency-vs-load-<type>, r2-static-vs-dynamic.
** *OUT receives the file list (release it with fit_report_plots_release(), also after a
** failure).  ST must be the store R was loaded from (the predictions are read from it).
** Errors, with the message in ERR:
**   cannot create directory 'DIR': <reason>                                 (CLEAVE_EIO)
**   cannot write 'DIR/NAME': <reason>                                       (CLEAVE_EIO)
**   gnuplot failed on 'DIR/NAME.gp': <its first error line or exit status> (CLEAVE_EIO)
**   gnuplot wrote no 'DIR/NAME.png'                                         (CLEAVE_EIO)
**   the store's message for a read failure, CLEAVE_ENOMEM. */
cleave_status fit_report_plot(cl_store *st, const fit_report *r, fit_report_metric metric,
                              const char *dir, const char *gnuplot, fit_report_plots *out,
                              char *err, size_t errlen);

void fit_report_plots_release(fit_report_plots *p);

/* One line about the plots into BUF, without newline: "gnuplot not found: wrote N .gp and .dat
** files to DIR" or "wrote N files to DIR". */
void fit_report_plots_message(const fit_report_plots *p, char *buf, size_t buflen);

/* Write report R to OUT in format FMT, the family and gain tables showing METRIC's R^2:
**   (a) R^2 per layer type x family, one table per feature set, the selected family marked
**       with '*', skipped families '-' with their reasons listed under the table;
**   (b) the dynamic-feature gain: per type, for the linear, the logarithmic and the selected
**       (static + dynamic) family, static R^2, static + dynamic R^2 and the increase ratio,
**       with a row of seed 002's figures under each type the seed has; then the selected
**       models on the loaded samples only;
**   (c) per type and feature set, the selected model's R^2, +-10 % share, MAPE and RMSE, for
**       k-fold CV and leave-one-load-level-out.
** PLOTS (may be NULL) adds the list of plot files (table, markdown, json; csv has no place for
** it).  Metrics that were not computed show as "n/a" (null in json).  CLEAVE_EIO with
** "cannot write the report: <reason>" if OUT reports a write error. */
cleave_status fit_report_write(FILE *out, const fit_report *r, fit_report_format fmt,
                               fit_report_metric metric, const fit_report_plots *plots, char *err,
                               size_t errlen);

#endif /* CLEAVE_FIT_REPORT_H */
