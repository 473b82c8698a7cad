/*
** predict/formula.h - formula device models: a device described by one formula per layer type
** over named static features (seed 001's Table 2), read from a small text file
** (docs/devices.md), plus an optional model-loading formula over model_bytes.
**
** Internal API (prefix pred_).  A formula compiles to a postfix program evaluated without
** allocation, so predictions stay allocation-free and thread-safe.
*/
#ifndef CLEAVE_PREDICT_FORMULA_H
#define CLEAVE_PREDICT_FORMULA_H

#include <stddef.h>

#include <cleave/cleave.h>

/* Deepest evaluation stack a formula may need (its nesting, roughly). */
#define PRED_EXPR_MAX_DEPTH 32

/* The variable index of model_bytes in a loading formula (after the static features). */
#define PRED_VAR_MODEL_BYTES CLEAVE_FEAT_COUNT

typedef struct pred_op {
    int code;     /* see formula.c */
    int var;      /* PUSH_VAR: a cleave_feature, or PRED_VAR_MODEL_BYTES */
    double value; /* PUSH_CONST */
} pred_op;

typedef struct pred_expr {
    pred_op *ops; /* NULL: no formula */
    int nops;
    int nvars; /* distinct variables it reads */
} pred_expr;

typedef struct pred_formulas {
    char *device;                       /* from the 'device' line */
    double us_per_unit;                 /* 1000 for 'unit ms', 1 for 'unit us' */
    pred_expr type[CLEAVE_LAYER_COUNT]; /* per layer type; ops NULL when not given */
    pred_expr loading;                  /* the 'loading' formula; ops NULL when not given */
} pred_formulas;

/* Parse the formula file TEXT[0..LEN) (docs/devices.md) into *F.  Errors name the line:
** "line 7: formula for 'conv' names unknown feature 'x3'", "line 2: unknown layer type 'convv'",
** "line 9: the loading formula reads only model_bytes, not 'x1'", "line 4: 'conv' is given
** twice", "line 3: expected a number, a feature or '(' at ')'", "no 'device NAME' line",
** "no 'unit ms' or 'unit us' line", "no formula".  CLEAVE_EPARSE or CLEAVE_ENOMEM; *F holds
** nothing to release on failure. */
cleave_status pred_formulas_parse(pred_formulas *f, const char *text, size_t len, char *err,
                                  size_t errlen);

/* pred_formulas_parse() on the file PATH; messages start with "'PATH': ".  CLEAVE_EIO when it
** cannot be read. */
cleave_status pred_formulas_load(pred_formulas *f, const char *path, char *err, size_t errlen);

void pred_formulas_release(pred_formulas *f);

/* The value of E (which must have ops) for the variables VARS[0..CLEAVE_FEAT_COUNT] (the static
** features, then model_bytes), in the file's unit.  Division by zero gives an infinity or NaN,
** which callers report. */
double pred_expr_eval(const pred_expr *e, const double *vars);

#endif /* CLEAVE_PREDICT_FORMULA_H */
