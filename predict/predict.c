/*
** predict/predict.c - the public predict API (include/cleave/predict.h): a device's selected
** models and fallback read once from the store, then evaluated without locks or allocations.
*/
#include <cleave/predict.h>

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/loadsnap.h"
#include "common/store.h"
#include "common/layer.h"
#include "fit/design.h"
#include "fit/model.h"
#include "predict/fallback.h"
#include "predict/formula.h"
#include "common/errmsg.h"

#define FALLBACK_FAMILY "fallback"
#define FORMULA_FAMILY "formula"
#define ERR_MAX 384 /* bytes of one message, with the NUL */

/* One selected model of a (type, feature set). */
struct pred_model {
    fit_model *model; /* NULL: none */
    fit_features features;
    const char *family; /* static: fit_family_name() */
    double cv_r2, cv_mape;
    long n_samples;
};

struct cleave_predictor {
    uint64_t serial; /* unique per open, so a thread's stale message never matches a new handle */
    char *device;
    struct pred_model m[CLEAVE_LAYER_COUNT][FIT_NSETS];
    pred_fallback fb;
    size_t nmodels;
    fit_target target;       /* what every model (and the fallback) predicts */
    pred_formulas *formulas; /* a formula device (cleave_predictor_open_formulas); NULL else */
};

/* ---- messages --------------------------------------------------------------------------- */

/* Each thread keeps the last message of the last few predictors it saw fail, keyed by handle
** and serial number.  Thread-local storage means concurrent callers of one predictor never
** write the same bytes (the predictor itself stays immutable), and a success costs nothing.
** Eight slots: a thread juggling more predictors loses the oldest message first. */
#define ERR_SLOTS 8
struct err_slot {
    const cleave_predictor *p;
    uint64_t serial;
    char msg[ERR_MAX];
};
static _Thread_local struct err_slot err_slots[ERR_SLOTS];
static _Thread_local unsigned err_next;
static _Atomic uint64_t next_serial = 1;

static struct err_slot *find_slot(const cleave_predictor *p)
{
    uint64_t serial = p ? p->serial : 0;
    for (int i = 0; i < ERR_SLOTS; i++)
        if (err_slots[i].p == p && err_slots[i].serial == serial)
            return &err_slots[i];
    return NULL;
}

/* Record MSG as the calling thread's last failure on P (which may be NULL). */
static void set_error(const cleave_predictor *p, const char *msg)
{
    struct err_slot *s = find_slot(p);
    if (!s) {
        s = &err_slots[err_next++ % ERR_SLOTS];
        s->p = p;
        s->serial = p ? p->serial : 0;
    }
    snprintf(s->msg, sizeof s->msg, "%s", msg);
}

CLEAVE_API const char *cleave_predictor_errmsg(const cleave_predictor *p)
{
    const struct err_slot *s = find_slot(p);
    return s ? s->msg : "";
}

/* ---- open and close ------------------------------------------------------------------------ */

struct open_ctx {
    cleave_predictor *p;
    const char *device;
    cleave_status rc; /* a failure inside a callback */
    char msg[ERR_MAX];
    pred_obs *obs;
    size_t nobs, cap;
    size_t nsamples; /* samples seen, usable or not */
};

/* Take one selected model row: check its feature list against its blob and keep it as the
** (type, set) model, replacing an earlier selected row (merged stores may hold two). */
static int take_model(const cl_model *m, void *arg)
{
    struct open_ctx *c = arg;
    fit_features f;
    fit_model *fm = NULL;
    char why[256];
    cleave_status rc;

    if (!m->selected)
        return 0;
    int type = cleave_layer_type_from_name(m->type);
    int set = fit_feature_set_from_name(m->feature_set);
    if (type < 0 || set < 0)
        return 0; /* a layer type or set from a newer cleave: nothing we could predict */
    int target = fit_target_from_name(m->target[0] ? m->target : "median");
    if (target < 0 || (c->p->nmodels > 0 && target != (int)c->p->target)) {
        c->rc = CLEAVE_EDB;
        snprintf(c->msg, sizeof c->msg,
                 "model %lld of device '%s' (%s, %s, %s) predicts the %s latency, the others the "
                 "%s; refit the device so that they agree",
                 (long long)m->id, c->device, m->type, m->feature_set, m->family, m->target,
                 fit_target_name(c->p->target));
        return 1;
    }
    c->p->target = (fit_target)target;
    rc = fit_features_parse(&f, m->features ? m->features : "", why, sizeof why);
    if (rc == CLEAVE_OK) {
        if (!m->blob || m->blob_bytes == 0) {
            snprintf(why, sizeof why, "the model has no serialised data");
            rc = CLEAVE_EDB;
        } else {
            rc = fit_model_load(&fm, m->blob, m->blob_bytes, why, sizeof why);
        }
    }
    if (rc == CLEAVE_OK && fit_model_nfeatures(fm) != (size_t)fit_features_count(&f)) {
        snprintf(why, sizeof why, "the model reads %zu features but lists %d",
                 fit_model_nfeatures(fm), fit_features_count(&f));
        rc = CLEAVE_EDB;
    }
    if (rc == CLEAVE_OK && set == FIT_SET_STATIC && f.ndynamic > 0) {
        snprintf(why, sizeof why, "a static model lists load features");
        rc = CLEAVE_EDB;
    }
    if (rc != CLEAVE_OK) {
        fit_model_free(fm);
        c->rc = rc == CLEAVE_ENOMEM ? CLEAVE_ENOMEM : CLEAVE_EDB;
        snprintf(c->msg, sizeof c->msg, "model %lld of device '%s' (%s, %s, %s): %s",
                 (long long)m->id, c->device, m->type, m->feature_set, m->family, why);
        return 1;
    }
    struct pred_model *pm = &c->p->m[type][set];
    if (pm->model)
        fit_model_free(pm->model);
    else
        c->p->nmodels++;
    pm->model = fm;
    pm->features = f;
    pm->family = fit_family_name(fit_model_family(fm));
    pm->cv_r2 = m->cv_r2;
    pm->cv_mape = m->cv_mape;
    pm->n_samples = (long)m->n_samples;
    return 0;
}

/* Keep what the fallback needs of one sample.  A spec that does not parse is skipped (the
** fitter skips it too). */
static int take_sample(const cl_sample *s, void *arg)
{
    struct open_ctx *c = arg;
    cleave_layer l;
    double feats[CLEAVE_FEAT_COUNT];
    char why[160];

    c->nsamples++;
    if (cleave_layer_parse(&l, s->spec, why, sizeof why) != CLEAVE_OK)
        return 0;
    if (c->nobs == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 256;
        pred_obs *o = realloc(c->obs, cap * sizeof *o);
        if (!o) {
            c->rc = CLEAVE_ENOMEM;
            snprintf(c->msg, sizeof c->msg, "out of memory");
            return 1;
        }
        c->obs = o;
        c->cap = cap;
    }
    cleave_layer_features(&l, feats);
    pred_obs *o = &c->obs[c->nobs++];
    o->type = l.type;
    o->macs = feats[CLEAVE_FEAT_MACS];
    o->bytes =
        feats[CLEAVE_FEAT_IN_BYTES] + feats[CLEAVE_FEAT_OUT_BYTES] + feats[CLEAVE_FEAT_W_BYTES];
    o->y_us = fit_target_of(s, c->p->target);
    o->level[0] = s->load_cpu;
    o->level[1] = s->load_membw;
    o->level[2] = s->load_memcap;
    o->other_cpu = s->dyn[CLEAVE_LOAD_OTHER_CPU];
    return 0;
}

/* See predict.h.  The store is read in one pass per table and closed before returning. */
CLEAVE_API cleave_status cleave_predictor_open(cleave_predictor **out, const char *path,
                                               const char *device, char *err, size_t errlen)
{
    cl_store *st = NULL;
    cleave_predictor *p = NULL;
    struct open_ctx ctx;
    int64_t device_id = 0;
    char msg[ERR_MAX] = "";
    cleave_status rc = CLEAVE_OK;

    memset(&ctx, 0, sizeof ctx);
    if (!out) {
        cl_errf(err, errlen, "out is NULL");
        return CLEAVE_EINVAL;
    }
    *out = NULL;
    if (!path || !device) {
        cl_errf(err, errlen, "%s is NULL", !path ? "store path" : "device name");
        return CLEAVE_EINVAL;
    }
    if ((rc = cl_store_open(&st, path, CL_STORE_READONLY, msg, sizeof msg)) != CLEAVE_OK)
        goto fail;
    if (!(p = calloc(1, sizeof *p)) || !(p->device = strdup(device))) {
        rc = CLEAVE_ENOMEM;
        snprintf(msg, sizeof msg, "out of memory");
        goto fail;
    }
    p->serial = atomic_fetch_add(&next_serial, 1);
    p->target = FIT_TARGET_MEAN; /* fit's default, for a device with samples only */
    ctx.p = p;
    ctx.device = device;
    if ((rc = cl_store_device_get(st, device, NULL, &device_id)) != CLEAVE_OK) {
        snprintf(msg, sizeof msg, "%s", cl_store_errmsg(st));
        goto fail;
    }
    rc = cl_store_models_foreach(st, device_id, NULL, take_model, &ctx);
    if (rc == CLEAVE_OK && ctx.rc == CLEAVE_OK)
        rc = cl_store_samples_foreach(st, device, NULL, take_sample, &ctx);
    if (ctx.rc != CLEAVE_OK) {
        rc = ctx.rc;
        snprintf(msg, sizeof msg, "%s", ctx.msg);
        goto fail;
    }
    if (rc != CLEAVE_OK) {
        snprintf(msg, sizeof msg, "%s", cl_store_errmsg(st));
        goto fail;
    }
    if ((rc = pred_fallback_fit(&p->fb, ctx.obs, ctx.nobs)) != CLEAVE_OK) {
        snprintf(msg, sizeof msg, "out of memory");
        goto fail;
    }
    if (p->nmodels == 0 && p->fb.device.rows == 0) {
        rc = CLEAVE_ENOMODEL;
        snprintf(msg, sizeof msg, "device '%s' in '%s' has no models and no %ssamples", device,
                 path, ctx.nsamples ? "usable " : "");
        goto fail;
    }
    free(ctx.obs);
    cl_store_close(st);
    *out = p;
    return CLEAVE_OK;
fail:
    cl_errf(err, errlen, "%s", msg);
    free(ctx.obs);
    cl_store_close(st);
    cleave_predictor_close(p);
    return rc;
}

/* See predict.h.  The file is read once; the predictor keeps the compiled formulas. */
CLEAVE_API cleave_status cleave_predictor_open_formulas(cleave_predictor **out, const char *path,
                                                        char *err, size_t errlen)
{
    cleave_predictor *p = NULL;
    cleave_status rc;
    if (!out) {
        cl_errf(err, errlen, "out is NULL");
        return CLEAVE_EINVAL;
    }
    *out = NULL;
    if (!path) {
        cl_errf(err, errlen, "formula file path is NULL");
        return CLEAVE_EINVAL;
    }
    if (!(p = calloc(1, sizeof *p)) || !(p->formulas = calloc(1, sizeof *p->formulas))) {
        free(p);
        cl_errf(err, errlen, "out of memory");
        return CLEAVE_ENOMEM;
    }
    p->target = FIT_TARGET_MEAN; /* published regressions are of average latencies */
    if ((rc = pred_formulas_load(p->formulas, path, err, errlen)) != CLEAVE_OK) {
        free(p->formulas);
        free(p);
        return rc;
    }
    if (!(p->device = strdup(p->formulas->device))) {
        cleave_predictor_close(p);
        cl_errf(err, errlen, "out of memory");
        return CLEAVE_ENOMEM;
    }
    p->serial = atomic_fetch_add(&next_serial, 1);
    *out = p;
    return CLEAVE_OK;
}

CLEAVE_API void cleave_predictor_close(cleave_predictor *p)
{
    if (!p)
        return;
    pred_formulas_release(p->formulas);
    free(p->formulas);
    for (int t = 0; t < CLEAVE_LAYER_COUNT; t++)
        for (int s = 0; s < FIT_NSETS; s++)
            fit_model_free(p->m[t][s].model);
    free(p->device);
    free(p);
}

CLEAVE_API const char *cleave_predictor_device(const cleave_predictor *p)
{
    return p ? p->device : NULL;
}

CLEAVE_API const char *cleave_predictor_target(const cleave_predictor *p)
{
    return p ? fit_target_name(p->target) : NULL;
}

/* ---- predictions -------------------------------------------------------------------------- */

/* The model cleave_predict() uses for TYPE with (DYNAMIC) or without a load; NULL: fallback. */
static const struct pred_model *choose(const cleave_predictor *p, cleave_layer_type type,
                                       int dynamic)
{
    if (dynamic && p->m[type][FIT_SET_DYNAMIC].model)
        return &p->m[type][FIT_SET_DYNAMIC];
    if (p->m[type][FIT_SET_STATIC].model)
        return &p->m[type][FIT_SET_STATIC];
    return NULL;
}

/* Does the fallback read the load? Only when a load slope could be estimated. */
static int fallback_dynamic(const cleave_predictor *p, int dynamic)
{
    return dynamic && !isnan(p->fb.slope);
}

static void no_model_msg(const cleave_predictor *p, cleave_layer_type type, char *err,
                         size_t errlen)
{
    cl_errf(err, errlen,
            "no model for layer type '%s' of device '%s', and no samples to estimate one from",
            cleave_layer_type_name(type), p->device);
}

/* Name the load features of M that LOAD lacks (NaN or infinite) in ERR. */
static void missing_load_msg(const struct pred_model *m, cleave_layer_type type,
                             const cleave_load *load, char *err, size_t errlen)
{
    char names[256] = "";
    size_t len = 0;
    int bad = 0, inf = 0;
    for (int i = 0; i < m->features.ndynamic; i++) {
        double v = load->v[m->features.dynamics[i]];
        if (isfinite(v))
            continue;
        inf |= !isnan(v);
        int k = snprintf(names + len, sizeof names - len, "%s'%s'", bad ? ", " : "",
                         cleave_load_feature_name(m->features.dynamics[i]));
        if (k > 0 && (size_t)k < sizeof names - len)
            len += (size_t)k;
        bad++;
    }
    cl_errf(err, errlen, "load feature%s %s %s %s; the dynamic %s model of '%s' needs %s",
            bad > 1 ? "s" : "", names, bad > 1 ? "are" : "is", inf ? "not finite" : "NaN",
            m->family, cleave_layer_type_name(type), bad > 1 ? "them" : "it");
}

/* A formula device's prediction for a layer of TYPE with static features FEATS (the load is
** never read). */
static cleave_status predict_formula(const cleave_predictor *p, cleave_layer_type type,
                                     const double *feats, cleave_prediction *out, char *err,
                                     size_t errlen)
{
    const pred_expr *e = &p->formulas->type[type];
    double vars[CLEAVE_FEAT_COUNT + 1];
    if (!e->ops) {
        cl_errf(err, errlen, "no formula for layer type '%s' in device '%s'",
                cleave_layer_type_name(type), p->device);
        return CLEAVE_ENOMODEL;
    }
    memcpy(vars, feats, sizeof(double) * CLEAVE_FEAT_COUNT);
    vars[PRED_VAR_MODEL_BYTES] = NAN;
    double y = pred_expr_eval(e, vars) * p->formulas->us_per_unit;
    if (!isfinite(y)) {
        cl_errf(err, errlen, "the formula of '%s' in device '%s' gave a non-finite latency",
                cleave_layer_type_name(type), p->device);
        return CLEAVE_ENUMERIC;
    }
    out->latency_us = y > 0 ? y : 0.0;
    out->fallback = 0;
    out->dynamic = 0;
    out->family = FORMULA_FAMILY;
    out->feature_set = fit_feature_set_name(FIT_SET_STATIC);
    return CLEAVE_OK;
}

CLEAVE_API cleave_status cleave_predict_loading(const cleave_predictor *p, double model_bytes,
                                                double *latency_us)
{
    char err[ERR_MAX];
    if (latency_us)
        *latency_us = NAN;
    if (!p || !latency_us) {
        set_error(p, !p ? "predictor is NULL" : "output is NULL");
        return CLEAVE_EINVAL;
    }
    if (!(model_bytes >= 0.0) || !isfinite(model_bytes)) {
        snprintf(err, sizeof err, "model size must be a finite number of bytes >= 0, got %g",
                 model_bytes);
        set_error(p, err);
        return CLEAVE_EINVAL;
    }
    if (!p->formulas || !p->formulas->loading.ops) {
        snprintf(err, sizeof err, "device '%s' has no model-loading formula", p->device);
        set_error(p, err);
        return CLEAVE_ENOMODEL;
    }
    double vars[CLEAVE_FEAT_COUNT + 1] = {0};
    vars[PRED_VAR_MODEL_BYTES] = model_bytes;
    double y = pred_expr_eval(&p->formulas->loading, vars) * p->formulas->us_per_unit;
    if (!isfinite(y)) {
        snprintf(err, sizeof err, "the loading formula of device '%s' gave a non-finite latency",
                 p->device);
        set_error(p, err);
        return CLEAVE_ENUMERIC;
    }
    *latency_us = y > 0 ? y : 0.0;
    return CLEAVE_OK;
}

/* One prediction; on failure the message goes to ERR and the caller records it. */
static cleave_status predict_one(const cleave_predictor *p, const cleave_layer *l,
                                 const cleave_load *load, cleave_prediction *out, char *err,
                                 size_t errlen)
{
    double row[FIT_MAX_FEATURES], feats[CLEAVE_FEAT_COUNT];
    cleave_status rc;

    /* Validation computes the static features; they are reused for the row. */
    if ((rc = cl_layer_check(l, feats, err, errlen)) != CLEAVE_OK)
        return rc;
    if (p->formulas)
        return predict_formula(p, l->type, feats, out, err, errlen);
    const struct pred_model *m = choose(p, l->type, load != NULL);
    if (m) {
        if (fit_row_from(&m->features, feats, load, row) != 0) {
            if (load && m->features.ndynamic > 0) {
                for (int i = 0; i < m->features.ndynamic; i++)
                    if (!isfinite(load->v[m->features.dynamics[i]])) {
                        missing_load_msg(m, l->type, load, err, errlen);
                        return CLEAVE_EINVAL;
                    }
            }
            cl_errf(err, errlen, "a static feature of this '%s' layer is not finite",
                    cleave_layer_type_name(l->type));
            return CLEAVE_EINVAL;
        }
        double y = fit_predict(m->model, row);
        if (!isfinite(y)) {
            cl_errf(err, errlen, "the %s model of '%s' predicted a non-finite latency", m->family,
                    cleave_layer_type_name(l->type));
            return CLEAVE_ENUMERIC;
        }
        out->latency_us = y > 0 ? y : 0.0;
        out->fallback = 0;
        out->dynamic = m == &p->m[l->type][FIT_SET_DYNAMIC];
        out->family = m->family;
        out->feature_set = fit_feature_set_name(out->dynamic ? FIT_SET_DYNAMIC : FIT_SET_STATIC);
        return CLEAVE_OK;
    }

    const pred_cost *c = pred_fallback_cost(&p->fb, l->type);
    if (!c) {
        no_model_msg(p, l->type, err, errlen);
        return CLEAVE_ENOMODEL;
    }
    double y = pred_cost_eval(c, feats[CLEAVE_FEAT_MACS],
                              feats[CLEAVE_FEAT_IN_BYTES] + feats[CLEAVE_FEAT_OUT_BYTES] +
                                  feats[CLEAVE_FEAT_W_BYTES]);
    int dyn = fallback_dynamic(p, load != NULL);
    if (dyn) {
        double u = load->v[CLEAVE_LOAD_OTHER_CPU];
        if (!isfinite(u)) {
            cl_errf(err, errlen, "load feature '%s' is %s; the fallback estimate for '%s' needs it",
                    cleave_load_feature_name(CLEAVE_LOAD_OTHER_CPU),
                    isnan(u) ? "NaN" : "not finite", cleave_layer_type_name(l->type));
            return CLEAVE_EINVAL;
        }
        y *= pred_fallback_factor(&p->fb, u);
    }
    if (!isfinite(y)) {
        cl_errf(err, errlen, "the fallback estimate for '%s' is not finite",
                cleave_layer_type_name(l->type));
        return CLEAVE_ENUMERIC;
    }
    out->latency_us = y > 0 ? y : 0.0;
    out->fallback = 1;
    out->dynamic = dyn;
    out->family = FALLBACK_FAMILY;
    out->feature_set = fit_feature_set_name(dyn ? FIT_SET_DYNAMIC : FIT_SET_STATIC);
    return CLEAVE_OK;
}

static void failed_prediction(cleave_prediction *out)
{
    if (!out)
        return;
    out->latency_us = NAN;
    out->fallback = 0;
    out->dynamic = 0;
    out->family = "";
    out->feature_set = "";
}

/* The checks shared by cleave_predict() and cleave_predictor_model(). */
static const char *null_arg(const cleave_predictor *p, const void *what, const char *name,
                            const void *out)
{
    if (!p)
        return "predictor is NULL";
    if (!what)
        return name;
    if (!out)
        return "output is NULL";
    return NULL;
}

CLEAVE_API cleave_status cleave_predict(const cleave_predictor *p, const cleave_layer *l,
                                        const cleave_load *load, cleave_prediction *out)
{
    char err[ERR_MAX];
    const char *bad = null_arg(p, l, "layer is NULL", out);
    if (bad) {
        failed_prediction(out);
        set_error(p, bad);
        return CLEAVE_EINVAL;
    }
    cleave_status rc = predict_one(p, l, load, out, err, sizeof err);
    if (rc != CLEAVE_OK) {
        failed_prediction(out);
        set_error(p, err);
    }
    return rc;
}

CLEAVE_API cleave_status cleave_predict_many(const cleave_predictor *p, const cleave_layer *layers,
                                             size_t n, const cleave_load *load,
                                             cleave_prediction *out)
{
    char err[ERR_MAX], msg[ERR_MAX + 32];
    if (!p) {
        set_error(NULL, "predictor is NULL");
        return CLEAVE_EINVAL;
    }
    if (n == 0)
        return CLEAVE_OK;
    const char *bad = null_arg(p, layers, "layers is NULL", out);
    if (bad) {
        set_error(p, bad);
        return CLEAVE_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        cleave_status rc = predict_one(p, &layers[i], load, &out[i], err, sizeof err);
        if (rc != CLEAVE_OK) {
            failed_prediction(&out[i]);
            snprintf(msg, sizeof msg, "layer %zu: %s", i, err);
            set_error(p, msg);
            return rc;
        }
    }
    return CLEAVE_OK;
}

CLEAVE_API cleave_status cleave_predictor_model(const cleave_predictor *p, cleave_layer_type type,
                                                int dynamic, cleave_model_info *out)
{
    char err[ERR_MAX];
    const char *bad = null_arg(p, "", "", out);
    if (bad) {
        set_error(p, bad);
        return CLEAVE_EINVAL;
    }
    memset(out, 0, sizeof *out);
    out->family = "none";
    out->feature_set = "";
    out->cv_r2 = out->cv_mape = NAN;
    if ((int)type < 0 || type >= CLEAVE_LAYER_COUNT) {
        snprintf(err, sizeof err, "unknown layer type %d", (int)type);
        set_error(p, err);
        return CLEAVE_EINVAL;
    }
    if (p->formulas) {
        const pred_expr *e = &p->formulas->type[type];
        if (!e->ops) {
            snprintf(err, sizeof err, "no formula for layer type '%s' in device '%s'",
                     cleave_layer_type_name(type), p->device);
            set_error(p, err);
            return CLEAVE_ENOMODEL;
        }
        out->family = FORMULA_FAMILY;
        out->nfeatures = e->nvars;
        out->feature_set = fit_feature_set_name(FIT_SET_STATIC);
        return CLEAVE_OK;
    }
    const struct pred_model *m = choose(p, type, dynamic != 0);
    if (m) {
        out->dynamic = m == &p->m[type][FIT_SET_DYNAMIC];
        out->family = m->family;
        out->nfeatures = fit_features_count(&m->features);
        for (int i = 0; i < m->features.ndynamic; i++)
            out->load_features |= 1UL << m->features.dynamics[i];
        out->cv_r2 = m->cv_r2;
        out->cv_mape = m->cv_mape;
        out->n_samples = m->n_samples;
    } else {
        const pred_cost *c = pred_fallback_cost(&p->fb, type);
        if (!c) {
            no_model_msg(p, type, err, sizeof err);
            set_error(p, err);
            return CLEAVE_ENOMODEL;
        }
        out->fallback = 1;
        out->dynamic = fallback_dynamic(p, dynamic != 0);
        out->family = FALLBACK_FAMILY;
        out->nfeatures = 2 + out->dynamic;
        out->load_features = out->dynamic ? 1UL << CLEAVE_LOAD_OTHER_CPU : 0;
        out->n_samples = c->rows;
    }
    out->feature_set = fit_feature_set_name(out->dynamic ? FIT_SET_DYNAMIC : FIT_SET_STATIC);
    return CLEAVE_OK;
}

/* ---- load snapshots ------------------------------------------------------------------------- */

CLEAVE_API void cleave_load_init(cleave_load *out)
{
    if (!out)
        return;
    for (int i = 0; i < CLEAVE_LOAD_COUNT; i++)
        out->v[i] = NAN;
}

/* See predict.h.  The options are the profiler's defaults (profiler/profile.c,
** prof_run_config_default: window 40 ms, CPU probe only, 10 ms ticks), so a snapshot is
** comparable with the dynamic features the models were trained on. */
CLEAVE_API cleave_status cleave_load_now(cleave_load *out, int window_ms, char *err, size_t errlen)
{
    char msg[ERR_MAX] = "";
    cl_loadsnap_opts o;
    cleave_status rc;

    if (!out) {
        cl_errf(err, errlen, "out is NULL");
        return CLEAVE_EINVAL;
    }
    cleave_load_init(out);
    if (window_ms < 0 || window_ms > 60000) {
        cl_errf(err, errlen, "load window must be 0 (default) or 1..60000 ms, got %d", window_ms);
        return CLEAVE_EINVAL;
    }
    memset(&o, 0, sizeof o);
    o.probes = CL_LOADSNAP_PROBE_CPU;
    rc = cl_loadsnap_sample(window_ms ? window_ms : CLEAVE_LOAD_WINDOW_MS_DEFAULT, &o, out, msg,
                            sizeof msg);
    if (rc != CLEAVE_OK) {
        cleave_load_init(out);
        cl_errf(err, errlen, "%s", msg);
    }
    return rc;
}
