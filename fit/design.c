/*
** fit/design.c - feature lists, rows and data sets for the latency models.
*/
#include "fit/design.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

#define DYN_PREFIX "load."
#define MIN_OBSERVED 0.9 /* share of rows in which a load feature must be observed to be used */

const char *fit_feature_set_name(fit_feature_set s)
{
    return s == FIT_SET_STATIC ? "static" : s == FIT_SET_DYNAMIC ? "dynamic" : NULL;
}

int fit_feature_set_from_name(const char *name)
{
    if (name && strcmp(name, "static") == 0)
        return FIT_SET_STATIC;
    if (name && strcmp(name, "dynamic") == 0)
        return FIT_SET_DYNAMIC;
    return -1;
}

void fit_feature_label(const fit_features *f, int i, char *buf, size_t buflen)
{
    if (i < f->nstatic)
        snprintf(buf, buflen, "%s", cleave_feature_name(f->statics[i]));
    else
        snprintf(buf, buflen, DYN_PREFIX "%s",
                 cleave_load_feature_name(f->dynamics[i - f->nstatic]));
}

char *fit_features_json(const fit_features *f)
{
    char *buf = NULL, name[64];
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    fputc('[', m);
    for (int i = 0; i < fit_features_count(f); i++) {
        fit_feature_label(f, i, name, sizeof name);
        if (i)
            fputc(',', m);
        cl_json_string(m, name);
    }
    fputc(']', m);
    if (fclose(m) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

struct parse_ctx {
    fit_features *f;
    int bad;
    char badname[64];
};

static void add_name(void *arg, int index, const char *name)
{
    struct parse_ctx *ctx = arg;
    (void)index;
    if (ctx->bad)
        return;
    if (strncmp(name, DYN_PREFIX, strlen(DYN_PREFIX)) == 0) {
        for (int j = 0; j < CLEAVE_LOAD_COUNT; j++)
            if (strcmp(name + strlen(DYN_PREFIX),
                       cleave_load_feature_name((cleave_load_feature)j)) == 0 &&
                ctx->f->ndynamic < CLEAVE_LOAD_COUNT) {
                ctx->f->dynamics[ctx->f->ndynamic++] = (cleave_load_feature)j;
                return;
            }
    } else if (ctx->f->ndynamic == 0) {
        for (int j = 0; j < CLEAVE_FEAT_COUNT; j++)
            if (strcmp(name, cleave_feature_name((cleave_feature)j)) == 0 &&
                ctx->f->nstatic < CLEAVE_FEAT_COUNT) {
                ctx->f->statics[ctx->f->nstatic++] = (cleave_feature)j;
                return;
            }
    }
    ctx->bad = 1;
    snprintf(ctx->badname, sizeof ctx->badname, "%s", name);
}

cleave_status fit_features_parse(fit_features *f, const char *json, char *err, size_t errlen)
{
    /* The reader takes an object; wrap the array. */
    size_t len = strlen(json);
    char *obj = malloc(len + 8);
    struct parse_ctx ctx = {f, 0, ""};
    memset(f, 0, sizeof *f);
    if (!obj) {
        snprintf(err, errlen, "out of memory");
        return CLEAVE_ENOMEM;
    }
    snprintf(obj, len + 8, "{\"f\":%s}", json);
    int n = cl_json_get_strings(obj, "f", add_name, &ctx);
    free(obj);
    if (n < 1 || ctx.bad) {
        if (ctx.bad)
            snprintf(err, errlen, "model uses unknown feature '%s'", ctx.badname);
        else
            snprintf(err, errlen, "model has no readable feature list");
        return CLEAVE_EPARSE;
    }
    return CLEAVE_OK;
}

int fit_row_from(const fit_features *f, const double *statics, const cleave_load *load, double *row)
{
    int k = 0, bad = 0;
    for (int i = 0; i < f->nstatic; i++) {
        row[k] = statics[f->statics[i]];
        bad |= !isfinite(row[k++]);
    }
    for (int i = 0; i < f->ndynamic; i++) {
        row[k] = load ? load->v[f->dynamics[i]] : NAN;
        bad |= !isfinite(row[k++]);
    }
    return bad ? -1 : 0;
}

int fit_row(const fit_features *f, const cleave_layer *l, const cleave_load *load, double *row)
{
    double st[CLEAVE_FEAT_COUNT];
    cleave_layer_features(l, st);
    return fit_row_from(f, st, load, row);
}

/* ---- data sets ---------------------------------------------------------------------------- */

struct collect {
    cleave_layer_type type;
    fit_target target;
    size_t n, cap;
    cleave_layer *layers;
    cleave_load *loads;
    double *y;
    int64_t *ids;
    char (*load_text)[96];
    size_t unparsable;
    int oom;
};

static int collect_sample(const cl_sample *s, void *arg)
{
    struct collect *c = arg;
    cleave_layer l;
    char err[128];
    if (cleave_layer_parse(&l, s->spec, err, sizeof err) != CLEAVE_OK || l.type != c->type) {
        c->unparsable++;
        return 0;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        cleave_layer *nl = realloc(c->layers, cap * sizeof *nl);
        if (nl)
            c->layers = nl;
        cleave_load *nd = realloc(c->loads, cap * sizeof *nd);
        if (nd)
            c->loads = nd;
        double *ny = realloc(c->y, cap * sizeof *ny);
        if (ny)
            c->y = ny;
        int64_t *ni = realloc(c->ids, cap * sizeof *ni);
        if (ni)
            c->ids = ni;
        char(*nt)[96] = realloc(c->load_text, cap * sizeof *nt);
        if (nt)
            c->load_text = nt;
        if (!nl || !nd || !ny || !ni || !nt) {
            c->oom = 1;
            return 1;
        }
        c->cap = cap;
    }
    c->layers[c->n] = l;
    for (int i = 0; i < CLEAVE_LOAD_COUNT; i++)
        c->loads[c->n].v[i] = s->dyn[i];
    c->y[c->n] = fit_target_of(s, c->target);
    c->ids[c->n] = s->id;
    snprintf(c->load_text[c->n], sizeof c->load_text[c->n], "%s", s->load);
    c->n++;
    return 0;
}

static const char *const target_names[] = {
#define X_(e, name) name,
    FIT_TARGET_MAP(X_)
#undef X_
};

const char *fit_target_name(fit_target t)
{
    return (unsigned)t < FIT_NTARGETS ? target_names[t] : "?";
}

int fit_target_from_name(const char *name)
{
    for (int t = 0; t < FIT_NTARGETS; t++)
        if (strcmp(name, target_names[t]) == 0)
            return t;
    return -1;
}

double fit_target_of(const cl_sample *s, fit_target t)
{
    switch (t) {
    case FIT_TARGET_MEAN: return s->mean_us;
    case FIT_TARGET_MEDIAN: return s->median_us;
    case FIT_TARGET_P90: return s->p90_us;
    default: return NAN;
    }
}

cleave_status fit_dataset_read(fit_dataset *out, cl_store *st, const char *device,
                               cleave_layer_type type, fit_feature_set set, fit_target target,
                               char *err, size_t errlen)
{
    struct collect c = {.type = type, .target = target};
    cleave_status rc;
    memset(out, 0, sizeof *out);
    out->type = type;
    out->set = set;
    out->target = target;

    rc = cl_store_samples_foreach(st, device, cleave_layer_type_name(type), collect_sample, &c);
    if (rc != CLEAVE_OK) {
        snprintf(err, errlen, "%s", cl_store_errmsg(st));
        goto done;
    }
    if (c.oom) {
        rc = CLEAVE_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    /* Features: the type's static list; for the dynamic set, each load feature observed in
    ** enough rows (a kernel without PSI, a disabled probe: those columns are dropped). */
    fit_features *f = &out->features;
    f->nstatic = cleave_layer_type_features(type, f->statics, CLEAVE_FEAT_COUNT);
    if (set == FIT_SET_DYNAMIC) {
        for (int j = 0; j < CLEAVE_LOAD_COUNT; j++) {
            size_t seen = 0;
            for (size_t i = 0; i < c.n; i++)
                seen += isfinite(c.loads[i].v[j]) != 0;
            if (c.n && (double)seen >= MIN_OBSERVED * (double)c.n)
                f->dynamics[f->ndynamic++] = (cleave_load_feature)j;
        }
    }
    out->p = (size_t)fit_features_count(f);
    out->x = malloc(sizeof(double) * (c.n ? c.n : 1) * out->p);
    out->y = malloc(sizeof(double) * (c.n ? c.n : 1));
    out->sample_id = malloc(sizeof(int64_t) * (c.n ? c.n : 1));
    out->level = malloc(sizeof(int) * (c.n ? c.n : 1));
    out->levels = malloc(sizeof *out->levels * (c.n ? c.n : 1));
    if (!out->x || !out->y || !out->sample_id || !out->level || !out->levels) {
        rc = CLEAVE_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    out->excluded = c.unparsable;
    for (size_t i = 0; i < c.n; i++) {
        double *row = out->x + out->n * out->p;
        if (fit_row(f, &c.layers[i], &c.loads[i], row) != 0 || !(c.y[i] > 0) || !isfinite(c.y[i])) {
            out->excluded++;
            continue;
        }
        size_t lv = 0;
        while (lv < out->nlevels && strcmp(out->levels[lv], c.load_text[i]) != 0)
            lv++;
        if (lv == out->nlevels)
            snprintf(out->levels[out->nlevels++], sizeof out->levels[0], "%s", c.load_text[i]);
        out->level[out->n] = (int)lv;
        out->y[out->n] = c.y[i];
        out->sample_id[out->n] = c.ids[i];
        out->n++;
    }
    rc = CLEAVE_OK;
done:
    free(c.layers);
    free(c.loads);
    free(c.y);
    free(c.ids);
    free(c.load_text);
    if (rc != CLEAVE_OK)
        fit_dataset_release(out);
    return rc;
}

void fit_dataset_release(fit_dataset *d)
{
    free(d->x);
    free(d->y);
    free(d->sample_id);
    free(d->level);
    free(d->levels);
    d->x = d->y = NULL;
    d->sample_id = NULL;
    d->level = NULL;
    d->levels = NULL;
    d->n = 0;
}
