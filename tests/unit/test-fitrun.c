/*
** tests/unit/test-fitrun.c - `cleave fit` as a library call (fit/fitrun.c) on synthetic stores
** whose latency is a known function of the static features times (1 + load.cpu_util): the
** dynamic set wins and reaches R^2 > 0.95; bad rows are excluded and counted; a type with 3
** samples is skipped with reasons; the stored model, loaded from its blob and fed rows rebuilt
** from the stored samples, predicts bit for bit what fitrun computed; stored predictions give the
** stored metrics; a refit replaces the models; a failed fit keeps them; the thread count does not
** change a result; and the errors name the device and store.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/rng.h"
#include "common/store.h"
#include "fit/fitrun.h"

static char tmpdir[64];

#define SHAPES 40
#define LEVELS 4

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cleave-fitrun-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

#define OK(st, call)                                                                               \
    do {                                                                                           \
        cleave_status rc_ = (call);                                                                \
        if (rc_ != CLEAVE_OK)                                                                      \
            fail_msg("%s: %s: %s", #call, cleave_status_name(rc_), cl_store_errmsg(st));           \
    } while (0)

static double gauss(uint64_t *s)
{
    double u = cl_rng_uniform(s), v = cl_rng_uniform(s);
    return sqrt(-2.0 * log(u > 0.0 ? u : 1e-300)) * cos(6.283185307179586 * v);
}

static double uniform_log(uint64_t *s, double lo, double hi)
{
    return exp(log(lo) + (log(hi) - log(lo)) * cl_rng_uniform(s));
}

/* Fill sample S with layer L under load level LEVEL: cpu_util observed near 0.3 * LEVEL,
** latency = BASE_US x (1 + cpu_util) x (1 + 1 % noise). */
static void make_sample(cl_sample *s, int64_t seq, const cleave_layer *l, int level, double base_us,
                        uint64_t *rng)
{
    memset(s, 0, sizeof *s);
    s->seq = seq;
    snprintf(s->type, sizeof s->type, "%s", cleave_layer_type_name(l->type));
    assert_true(cleave_layer_format(l, s->spec, sizeof s->spec) > 0);
    snprintf(s->load, sizeof s->load, "cpu=%d,membw=0,memcap=0", 30 * level);
    s->load_cpu = 30 * level;
    for (int f = 0; f < CLEAVE_LOAD_COUNT; f++)
        s->dyn[f] = NAN;
    double util = 0.3 * level + 0.01 * gauss(rng);
    s->dyn[CLEAVE_LOAD_CPU_UTIL] = util;
    s->dyn[CLEAVE_LOAD_SYS_CPU] = 0.02 + 0.005 * gauss(rng);
    s->median_us = base_us * (1.0 + util) * (1.0 + 0.01 * gauss(rng));
    s->min_us = s->max_us = s->mean_us = s->median_us;
    s->p90_us = 1.5 * s->median_us; /* for test_target */
    s->reps = 10;
    s->threads = 1;
}

/* What build_store() wrote besides the good rows. */
enum { BAD_LATENCY = 2, BAD_SPEC = 1, BAD_LOAD = 1 };

/* A store at PATH with device NAME: fc and act, SHAPES shapes x LEVELS load levels each (fc
** latency ~ MACs, act ~ elements); if BAD, fc also gets a NaN and an infinite latency, an
** unparsable spec and a NaN cpu_util; if TINY, 3 pool samples.  Returns the device id. */
static int64_t build_store(const char *path, const char *name, int bad, int tiny)
{
    char err[512];
    cl_store *st = NULL;
    cl_device d;
    cl_sample *s = calloc(1, sizeof *s);
    int64_t dev = 0, run = 0, seq = 0;
    uint64_t rng = 12345;

    assert_non_null(s);
    if (cl_store_open(&st, path, CL_STORE_CREATE, err, sizeof err) != CLEAVE_OK)
        fail_msg("%s", err);
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "%s", name);
    d.threads = 1;
    OK(st, cl_store_device_ensure(st, &d, &dev));
    OK(st, cl_store_run_begin(st, dev, "{}", 1, 0, &run));
    OK(st, cl_store_batch_begin(st));
    for (int i = 0; i < SHAPES; i++) {
        cleave_layer fc, act;
        cleave_layer_init(&fc, CLEAVE_LAYER_FC);
        fc.c = (int64_t)uniform_log(&rng, 16, 2048);
        fc.k = (int64_t)uniform_log(&rng, 16, 2048);
        cleave_layer_init(&act, CLEAVE_LAYER_ACT);
        act.c = (int64_t)uniform_log(&rng, 8, 512);
        act.h = act.w = (int64_t)uniform_log(&rng, 4, 64);
        for (int level = 0; level < LEVELS; level++) {
            make_sample(s, seq++, &fc, level, 2.0 + 0.002 * (double)(fc.c * fc.k), &rng);
            OK(st, cl_store_sample_add(st, run, s));
            make_sample(s, seq++, &act, level, 1.0 + 0.001 * (double)(act.c * act.h * act.w), &rng);
            OK(st, cl_store_sample_add(st, run, s));
        }
    }
    if (bad) {
        cleave_layer fc;
        cleave_layer_init(&fc, CLEAVE_LAYER_FC);
        fc.c = fc.k = 64;
        make_sample(s, seq++, &fc, 1, 10.0, &rng);
        s->median_us = s->mean_us = NAN; /* stored as NULL */
        OK(st, cl_store_sample_add(st, run, s));
        make_sample(s, seq++, &fc, 1, 10.0, &rng);
        s->median_us = s->mean_us = INFINITY;
        OK(st, cl_store_sample_add(st, run, s));
        make_sample(s, seq++, &fc, 1, 10.0, &rng);
        snprintf(s->spec, sizeof s->spec, "fc n=1 c=banana");
        OK(st, cl_store_sample_add(st, run, s));
        make_sample(s, seq++, &fc, 1, 10.0, &rng);
        s->dyn[CLEAVE_LOAD_CPU_UTIL] = NAN; /* only the dynamic set loses this row */
        OK(st, cl_store_sample_add(st, run, s));
    }
    for (int i = 0; tiny && i < 3; i++) {
        cleave_layer pool;
        cleave_layer_init(&pool, CLEAVE_LAYER_POOL);
        pool.c = 16 * (i + 1);
        pool.h = pool.w = 8;
        make_sample(s, seq++, &pool, i, 5.0 * (i + 1), &rng);
        OK(st, cl_store_sample_add(st, run, s));
    }
    OK(st, cl_store_batch_commit(st));
    OK(st, cl_store_run_end(st, run, CL_RUN_DONE));
    cl_store_close(st);
    free(s);
    return dev;
}

static cl_store *open_rw(const char *path)
{
    char err[512];
    cl_store *st = NULL;
    if (cl_store_open(&st, path, 0, err, sizeof err) != CLEAVE_OK)
        fail_msg("%s", err);
    return st;
}

static void copy_store(const char *from, const char *to)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

static const fit_run_type *find_type(const fit_run_result *r, cleave_layer_type t)
{
    for (size_t i = 0; i < r->ntypes; i++)
        if (r->types[i].type == t)
            return &r->types[i];
    fail_msg("type %s not in the result", cleave_layer_type_name(t));
    return NULL;
}

/* ---- what fitrun computed, captured by the on_model hook ---------------------------------- */

struct captured {
    int64_t model_id;
    size_t n;
    int64_t *sample_id;
    double *final_us, *cv_us;
};

struct capture {
    size_t n;
    struct captured m[128];
};

static void capture_fn(const fit_run_model_view *v, void *arg)
{
    struct capture *c = arg;
    assert_true(c->n < 128);
    struct captured *m = &c->m[c->n++];
    m->model_id = v->model_id;
    m->n = v->n;
    m->sample_id = malloc(sizeof *m->sample_id * v->n);
    m->final_us = malloc(sizeof *m->final_us * v->n);
    m->cv_us = malloc(sizeof *m->cv_us * v->n);
    assert_true(m->sample_id && m->final_us && m->cv_us);
    memcpy(m->sample_id, v->sample_id, sizeof *m->sample_id * v->n);
    memcpy(m->final_us, v->final_us, sizeof *m->final_us * v->n);
    memcpy(m->cv_us, v->cv_us, sizeof *m->cv_us * v->n);
}

static void capture_free(struct capture *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->m[i].sample_id);
        free(c->m[i].final_us);
        free(c->m[i].cv_us);
    }
    c->n = 0;
}

/* Stored models, copied out of the callback. */
struct stored {
    int64_t id;
    char type[16], family[32], set[16];
    char *features;
    void *blob;
    size_t blob_bytes;
    double cv_r2, cv_rmse, cv_mape, cv_within10, lolo_r2;
    int64_t n_samples;
    int selected;
    char detail[512];
};

struct stored_list {
    size_t n;
    struct stored m[128];
};

static int stored_fn(const cl_model *m, void *arg)
{
    struct stored_list *l = arg;
    assert_true(l->n < 128);
    struct stored *s = &l->m[l->n++];
    s->id = m->id;
    snprintf(s->type, sizeof s->type, "%s", m->type);
    snprintf(s->family, sizeof s->family, "%s", m->family);
    snprintf(s->set, sizeof s->set, "%s", m->feature_set);
    s->features = strdup(m->features);
    s->blob = malloc(m->blob_bytes);
    assert_true(s->features && s->blob);
    memcpy(s->blob, m->blob, m->blob_bytes);
    s->blob_bytes = m->blob_bytes;
    s->cv_r2 = m->cv_r2;
    s->cv_rmse = m->cv_rmse;
    s->cv_mape = m->cv_mape;
    s->cv_within10 = m->cv_within10;
    s->lolo_r2 = m->lolo_r2;
    s->n_samples = m->n_samples;
    s->selected = m->selected;
    snprintf(s->detail, sizeof s->detail, "%s", m->detail);
    return 0;
}

static void stored_free(struct stored_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->m[i].features);
        free(l->m[i].blob);
    }
    l->n = 0;
}

static void read_models(cl_store *st, int64_t dev, struct stored_list *l)
{
    l->n = 0;
    OK(st, cl_store_models_foreach(st, dev, NULL, stored_fn, l));
}

static int count_skips_fn(const char *type, const char *family, const char *set, const char *reason,
                          void *arg)
{
    (void)type;
    (void)family;
    (void)set;
    (void)reason;
    (*(int *)arg)++;
    return 0;
}

/* ---- the main run ------------------------------------------------------------------------- */

/* Rebuilds each stored prediction's row from its stored sample and checks the loaded model. */
struct replay {
    const fit_model *model;
    const fit_features *features;
    const struct captured *cap;
    size_t n;
    double *y, *cv;
};

static int replay_fn(const cl_prediction *p, const cl_sample *s, void *arg)
{
    struct replay *r = arg;
    cleave_layer l;
    cleave_load load;
    double row[FIT_MAX_FEATURES];
    char err[256];
    if (cleave_layer_parse(&l, s->spec, err, sizeof err) != CLEAVE_OK)
        fail_msg("stored spec '%s': %s", s->spec, err);
    for (int f = 0; f < CLEAVE_LOAD_COUNT; f++)
        load.v[f] = s->dyn[f];
    assert_int_equal(fit_row(r->features, &l, &load, row), 0);
    size_t i = 0;
    while (i < r->cap->n && r->cap->sample_id[i] != p->sample_id)
        i++;
    assert_true(i < r->cap->n);
    double v = fit_predict(r->model, row);
    if (memcmp(&v, &r->cap->final_us[i], sizeof v) != 0)
        fail_msg("sample %lld: the stored model predicts %.17g, fitrun computed %.17g",
                 (long long)p->sample_id, v, r->cap->final_us[i]);
    assert_memory_equal(&p->cv_us, &r->cap->cv_us[i], sizeof p->cv_us);
    r->y[r->n] = s->mean_us; /* the default target */
    r->cv[r->n] = p->cv_us;
    r->n++;
    return 0;
}

/* All seven families on the synthetic store: selection, accuracy, exclusions, skips, and every
** stored model replayed from the store alone. */
static void test_fit_store(void **state)
{
    (void)state;
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/main.db", tmpdir);
    int64_t dev = build_store(path, "synth", 1, 1);
    cl_store *st = open_rw(path);
    fit_run_opts o;
    fit_run_result r;
    struct capture *cap = calloc(1, sizeof *cap);
    struct stored_list *ms = calloc(1, sizeof *ms);
    assert_true(cap && ms);
    fit_run_opts_default(&o);
    o.device = "synth";
    o.on_model = capture_fn;
    o.on_model_arg = cap;
    if (fit_run(st, &o, &r, err, sizeof err) != CLEAVE_OK)
        fail_msg("fit_run: %s", err);

    /* Types in catalogue order: pool, fc, act. */
    assert_int_equal(r.ntypes, 3);
    assert_int_equal(r.types[0].type, CLEAVE_LAYER_POOL);
    assert_int_equal(r.types[1].type, CLEAVE_LAYER_FC);
    assert_int_equal(r.types[2].type, CLEAVE_LAYER_ACT);

    /* Exclusions: NaN and inf latency, the unparsable spec; the dynamic set also the row
    ** without cpu_util. */
    const fit_run_type *fc = find_type(&r, CLEAVE_LAYER_FC);
    assert_int_equal(fc->set[FIT_SET_STATIC].rows, SHAPES * LEVELS + 1);
    assert_int_equal(fc->set[FIT_SET_STATIC].excluded, BAD_LATENCY + BAD_SPEC);
    assert_int_equal(fc->set[FIT_SET_DYNAMIC].rows, SHAPES * LEVELS);
    assert_int_equal(fc->set[FIT_SET_DYNAMIC].excluded, BAD_LATENCY + BAD_SPEC + BAD_LOAD);
    assert_int_equal(fc->set[FIT_SET_STATIC].levels, LEVELS);
    /* n, bias and act never vary here: left out of the design matrix.  Of the rest, macs (c k)
    ** and the byte counts (4 c, 4 k) stay; weight bytes (4 c k + 4 k) and the element counts
    ** (c, k, and the input's c) are exact linear combinations of them: left out as collinear. */
    assert_int_equal(fc->set[FIT_SET_STATIC].constant, 3);
    assert_int_equal(fc->set[FIT_SET_STATIC].collinear, 4);
    assert_int_equal(fc->set[FIT_SET_STATIC].features, 10 - 3 - 4);
    assert_int_equal(fc->set[FIT_SET_DYNAMIC].features, 10 - 3 - 4 + 2);
    assert_int_equal(fc->set[FIT_SET_STATIC].folds, 5);

    /* The dynamic set explains the load: its selected model has CV R2 > 0.95 and beats the
    ** static one, for both types.  Selection = the best CV R2, the earlier family on a tie. */
    for (int t = 0; t < 2; t++) {
        const fit_run_type *ty = find_type(&r, t ? CLEAVE_LAYER_ACT : CLEAVE_LAYER_FC);
        for (int s = 0; s < FIT_NSETS; s++) {
            const fit_run_set *rs = &ty->set[s];
            assert_true(rs->selected >= 0);
            for (int f = 0; f < FIT_NFAMILIES; f++) {
                const fit_run_family *fr = &rs->fam[f];
                assert_true(fr->tried);
                assert_int_equal(fr->selected, f == rs->selected);
                if (!fr->fitted)
                    continue;
                assert_true(fr->cv.n == rs->rows);
                if (f < rs->selected)
                    assert_true(fr->cv.r2 < rs->fam[rs->selected].cv.r2);
                else
                    assert_true(fr->cv.r2 <= rs->fam[rs->selected].cv.r2);
                assert_string_equal(fr->lolo_note, "");
                assert_true(isfinite(fr->lolo.r2));
            }
        }
        double r2s = ty->set[FIT_SET_STATIC].fam[ty->set[FIT_SET_STATIC].selected].cv.r2;
        double r2d = ty->set[FIT_SET_DYNAMIC].fam[ty->set[FIT_SET_DYNAMIC].selected].cv.r2;
        print_message("%s: static %s R2 %.4f, dynamic %s R2 %.4f\n",
                      cleave_layer_type_name(ty->type),
                      fit_family_name((fit_family)ty->set[FIT_SET_STATIC].selected), r2s,
                      fit_family_name((fit_family)ty->set[FIT_SET_DYNAMIC].selected), r2d);
        assert_true(r2d > 0.95);
        assert_true(r2d > r2s);
    }

    /* Three pool samples: every family skipped with its reason, nothing aborted. */
    const fit_run_type *pool = find_type(&r, CLEAVE_LAYER_POOL);
    size_t pool_skips = 0;
    for (int s = 0; s < FIT_NSETS; s++) {
        assert_int_equal(pool->set[s].rows, 3);
        assert_int_equal(pool->set[s].folds, 3); /* leave-one-out: fewer rows than folds */
        for (int f = 0; f < FIT_NFAMILIES; f++)
            if (!pool->set[s].fam[f].fitted) {
                pool_skips++;
                assert_true(strlen(pool->set[s].fam[f].reason) > 0);
            }
    }
    assert_true(pool_skips >= 12);
    /* Three rows leave at most two independent centred columns: the others are collinear. */
    assert_true(pool->set[FIT_SET_STATIC].features >= 1 && pool->set[FIT_SET_STATIC].features <= 2);
    assert_string_equal(pool->set[FIT_SET_STATIC].fam[FIT_LINEAR].reason,
                        "fold 1 of 3: linear needs at least 3 rows, got 2");

    /* The store: models, skips with reasons. */
    read_models(st, dev, ms);
    assert_int_equal(ms->n, r.models);
    assert_int_equal(cap->n, r.models);
    int nskips = 0;
    OK(st, cl_store_fit_skips_foreach(st, dev, count_skips_fn, &nskips));
    assert_int_equal((size_t)nskips, r.skips);
    assert_int_equal(r.models + r.skips, 3 * FIT_NSETS * FIT_NFAMILIES);

    /* Every stored model, loaded from its blob and fed rows rebuilt from the stored samples,
    ** predicts exactly what fitrun's in-memory model did; the stored held-out predictions
    ** give the stored metrics. */
    double *y = malloc(sizeof *y * 1024), *cv = malloc(sizeof *cv * 1024);
    assert_true(y && cv);
    int selected = 0;
    for (size_t i = 0; i < ms->n; i++) {
        const struct stored *m = &ms->m[i];
        const struct captured *c = NULL;
        for (size_t k = 0; k < cap->n; k++)
            if (cap->m[k].model_id == m->id)
                c = &cap->m[k];
        assert_non_null(c);
        fit_model *model = NULL;
        fit_features feats;
        if (fit_model_load(&model, m->blob, m->blob_bytes, err, sizeof err) != CLEAVE_OK)
            fail_msg("model %lld: %s", (long long)m->id, err);
        if (fit_features_parse(&feats, m->features, err, sizeof err) != CLEAVE_OK)
            fail_msg("model %lld: %s", (long long)m->id, err);
        assert_int_equal(fit_features_count(&feats), fit_model_nfeatures(model));
        assert_int_equal(feats.ndynamic, strcmp(m->set, "dynamic") == 0 ? 2 : 0);
        for (int f = 0; f < feats.nstatic; f++) /* the constant columns are not stored */
            assert_true(feats.statics[f] != CLEAVE_FEAT_N && feats.statics[f] != CLEAVE_FEAT_BIAS);
        struct replay rp = {model, &feats, c, 0, y, cv};
        OK(st, cl_store_predictions_foreach(st, m->id, replay_fn, &rp));
        assert_int_equal(rp.n, m->n_samples);
        assert_int_equal(rp.n, c->n);
        fit_metrics mt;
        fit_metrics_compute(&mt, y, cv, rp.n);
        assert_true(mt.r2 == m->cv_r2 && mt.rmse == m->cv_rmse && mt.mape == m->cv_mape &&
                    mt.within10 == m->cv_within10);
        assert_non_null(strstr(m->detail, "\"folds\":5,\"seed\":42"));
        assert_non_null(
            strstr(m->detail, strcmp(m->type, "pool") == 0 ? "" : "\"constant_dropped\":"));
        selected += m->selected;
        fit_model_free(model);
    }
    assert_int_equal(selected, 4); /* fc and act, two sets each; pool has none */
    free(y);
    free(cv);
    fit_run_result_release(&r);
    capture_free(cap);
    stored_free(ms);
    free(cap);
    free(ms);
    cl_store_close(st);
}

/* A refit replaces the models (the same count, no duplicates, the same results); a fit with
** other families whose store write fails part-way, or that cannot write at all, leaves the
** previous models exactly as they were. */
static void test_refit_and_failures(void **state)
{
    (void)state;
    char path[128], err[512], msg[512];
    snprintf(path, sizeof path, "%s/refit.db", tmpdir);
    int64_t dev = build_store(path, "synth", 0, 0);
    cl_store *st = open_rw(path);
    struct stored_list *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    assert_true(a && b);
    fit_run_opts o;
    fit_run_result r;
    fit_run_opts_default(&o);
    o.device = "synth";
    o.families = (1u << FIT_LINEAR) | (1u << FIT_RIDGE) | (1u << FIT_GBDT);
    if (fit_run(st, &o, &r, err, sizeof err) != CLEAVE_OK)
        fail_msg("fit_run: %s", err);
    assert_int_equal(r.models, 2 * 2 * 3);
    fit_run_result_release(&r);
    read_models(st, dev, a);

    if (fit_run(st, &o, &r, err, sizeof err) != CLEAVE_OK)
        fail_msg("refit: %s", err);
    fit_run_result_release(&r);
    read_models(st, dev, b);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_string_equal(a->m[i].family, b->m[i].family);
        assert_true(a->m[i].cv_r2 == b->m[i].cv_r2); /* deterministic */
    }
    cl_info info;
    OK(st, cl_store_info(st, &info));
    assert_int_equal(info.devices[0].models, 12);
    assert_int_equal(info.devices[0].models_selected, 4);
    cl_info_release(&info);
    stored_free(a);
    stored_free(b);
    read_models(st, dev, a);

    /* A refit with one family whose write fails after 2 of its 4 models: rolled back, the
    ** twelve old models stay. */
    o.families = 1u << FIT_LOG;
    o.fail_after_models = 2;
    assert_int_equal(fit_run(st, &o, &r, err, sizeof err), CLEAVE_EIO);
    assert_string_equal(err, "injected store failure after 2 models");
    fit_run_result_release(&r);
    read_models(st, dev, b);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        assert_int_equal(a->m[i].id, b->m[i].id);
    stored_free(b);
    cl_store_close(st);

    /* A read-only store: the fit runs, the write is refused, nothing changes. */
    o.fail_after_models = 0;
    assert_int_equal(cl_store_open(&st, path, CL_STORE_READONLY, err, sizeof err), CLEAVE_OK);
    assert_int_equal(fit_run(st, &o, &r, err, sizeof err), CLEAVE_EDB);
    snprintf(msg, sizeof msg, "cannot write '%s': opened read-only", path);
    assert_string_equal(err, msg);
    fit_run_result_release(&r);
    read_models(st, dev, b);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        assert_int_equal(a->m[i].id, b->m[i].id);
    cl_store_close(st);
    stored_free(a);
    stored_free(b);
    free(a);
    free(b);
}

/* One thread or two: the same metrics to the last bit. */
static void test_threads_deterministic(void **state)
{
    (void)state;
    char p1[128], p2[128], err[512];
    snprintf(p1, sizeof p1, "%s/t1.db", tmpdir);
    snprintf(p2, sizeof p2, "%s/t2.db", tmpdir);
    build_store(p1, "synth", 1, 0);
    copy_store(p1, p2);
    fit_run_opts o;
    fit_run_result r1, r2;
    fit_run_opts_default(&o);
    o.device = "synth";
    o.families = (1u << FIT_LOG) | (1u << FIT_LASSO) | (1u << FIT_GBDT);
    o.folds = 4;
    o.seed = 7;
    cl_store *s1 = open_rw(p1), *s2 = open_rw(p2);
    o.threads = 1;
    if (fit_run(s1, &o, &r1, err, sizeof err) != CLEAVE_OK)
        fail_msg("fit_run: %s", err);
    o.threads = 2;
    if (fit_run(s2, &o, &r2, err, sizeof err) != CLEAVE_OK)
        fail_msg("fit_run: %s", err);
    assert_int_equal(r1.threads, 1);
    assert_int_equal(r2.threads, 2);
    assert_int_equal(r1.ntypes, r2.ntypes);
    for (size_t i = 0; i < r1.ntypes; i++)
        for (int s = 0; s < FIT_NSETS; s++) {
            const fit_run_set *a = &r1.types[i].set[s], *b = &r2.types[i].set[s];
            assert_int_equal(a->selected, b->selected);
            assert_int_equal(a->folds, 4);
            for (int f = 0; f < FIT_NFAMILIES; f++) {
                assert_memory_equal(&a->fam[f].cv, &b->fam[f].cv, sizeof a->fam[f].cv);
                assert_memory_equal(&a->fam[f].lolo, &b->fam[f].lolo, sizeof a->fam[f].lolo);
                assert_string_equal(a->fam[f].hyper, b->fam[f].hyper);
            }
        }
    fit_run_result_release(&r1);
    fit_run_result_release(&r2);
    cl_store_close(s1);
    cl_store_close(s2);
}

/* The latency statistic modelled: on a store whose p90 is exactly 1.5 x the median, linear and
** logarithmic fits of the p90 predict exactly 1.5 x those of the median (OLS is linear in the
** target, the log model shifts its intercept by log 1.5) with the same held-out R^2; the models
** are stored with their target, the predictor reports it, and an unknown target is refused. */
static void test_target(void **state)
{
    (void)state;
    char p1[128], p2[128], err[512];
    snprintf(p1, sizeof p1, "%s/median.db", tmpdir);
    snprintf(p2, sizeof p2, "%s/p90.db", tmpdir);
    build_store(p1, "synth", 0, 0);
    copy_store(p1, p2);
    fit_run_opts o;
    fit_run_result r1, r2;
    fit_run_opts_default(&o);
    assert_int_equal(o.target, FIT_TARGET_MEAN);
    o.device = "synth";
    o.families = (1u << FIT_LOG) | (1u << FIT_LINEAR);
    cl_store *s1 = open_rw(p1), *s2 = open_rw(p2);
    o.target = FIT_TARGET_MEDIAN;
    if (fit_run(s1, &o, &r1, err, sizeof err) != CLEAVE_OK)
        fail_msg("fit_run: %s", err);
    o.target = FIT_TARGET_P90;
    if (fit_run(s2, &o, &r2, err, sizeof err) != CLEAVE_OK)
        fail_msg("fit_run: %s", err);
    for (size_t i = 0; i < r1.ntypes; i++)
        for (int s = 0; s < FIT_NSETS; s++)
            for (int f = FIT_LOG; f <= FIT_LINEAR; f++) {
                double a = r1.types[i].set[s].fam[f].cv.r2, b = r2.types[i].set[s].fam[f].cv.r2;
                if (!(fabs(a - b) < 1e-9))
                    fail_msg("%s: held-out R^2 %.12g on the median, %.12g on the p90",
                             fit_family_name((fit_family)f), a, b);
            }
    fit_run_result_release(&r1);
    fit_run_result_release(&r2);
    o.target = (fit_target)FIT_NTARGETS;
    assert_int_equal(fit_run(s1, &o, &r1, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "unknown latency target 3");
    fit_run_result_release(&r1);
    cl_store_close(s1);
    cl_store_close(s2);

    cleave_predictor *pm = NULL, *pp = NULL;
    assert_int_equal(cleave_predictor_open(&pm, p1, "synth", err, sizeof err), CLEAVE_OK);
    assert_int_equal(cleave_predictor_open(&pp, p2, "synth", err, sizeof err), CLEAVE_OK);
    assert_string_equal(cleave_predictor_target(pm), "median");
    assert_string_equal(cleave_predictor_target(pp), "p90");
    cleave_layer fc;
    cleave_layer_init(&fc, CLEAVE_LAYER_FC);
    fc.c = 300;
    fc.k = 70;
    cleave_load load;
    cleave_load_init(&load);
    load.v[CLEAVE_LOAD_CPU_UTIL] = 0.4;
    load.v[CLEAVE_LOAD_SYS_CPU] = 0.02;
    for (int dyn = 0; dyn < 2; dyn++) {
        cleave_prediction a, b;
        assert_int_equal(cleave_predict(pm, &fc, dyn ? &load : NULL, &a), CLEAVE_OK);
        assert_int_equal(cleave_predict(pp, &fc, dyn ? &load : NULL, &b), CLEAVE_OK);
        assert_int_equal(a.fallback, 0);
        if (!(fabs(b.latency_us / a.latency_us - 1.5) < 1e-9))
            fail_msg("p90 model predicts %.12g us, median model %.12g us: ratio not 1.5",
                     b.latency_us, a.latency_us);
    }
    cleave_predictor_close(pm);
    cleave_predictor_close(pp);
    assert_null(cleave_predictor_target(NULL));
}

/* Errors: an unknown device (the store's message), a device without samples, one whose
** samples cannot fit anything (store untouched), bad options, and the family list parser. */
static void test_errors(void **state)
{
    (void)state;
    char path[128], err[512], msg[512];
    snprintf(path, sizeof path, "%s/err.db", tmpdir);
    build_store(path, "synth", 0, 0);
    cl_store *st = open_rw(path);
    cl_device d;
    int64_t empty = 0, tiny = 0, run = 0;
    memset(&d, 0, sizeof d);
    d.threads = 1;
    snprintf(d.name, sizeof d.name, "empty");
    OK(st, cl_store_device_ensure(st, &d, &empty));
    snprintf(d.name, sizeof d.name, "tiny");
    OK(st, cl_store_device_ensure(st, &d, &tiny));
    OK(st, cl_store_run_begin(st, tiny, "{}", 1, 1, &run));
    OK(st, cl_store_batch_begin(st));
    cl_sample *s = calloc(1, sizeof *s);
    uint64_t rng = 1;
    cleave_layer fc;
    cleave_layer_init(&fc, CLEAVE_LAYER_FC);
    make_sample(s, 0, &fc, 0, 3.0, &rng);
    OK(st, cl_store_sample_add(st, run, s));
    OK(st, cl_store_batch_commit(st));
    free(s);

    fit_run_opts o;
    fit_run_result r;
    fit_run_opts_default(&o);
    o.device = "nope";
    assert_int_equal(fit_run(st, &o, &r, err, sizeof err), CLEAVE_EINVAL);
    snprintf(msg, sizeof msg, "no device 'nope' in '%s'", path);
    assert_string_equal(err, msg);
    fit_run_result_release(&r);

    o.device = "empty";
    assert_int_equal(fit_run(st, &o, &r, err, sizeof err), CLEAVE_EINVAL);
    snprintf(msg, sizeof msg, "no samples of device 'empty' in '%s'", path);
    assert_string_equal(err, msg);
    fit_run_result_release(&r);

    o.device = "tiny";
    assert_int_equal(fit_run(st, &o, &r, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "nothing could be fitted for device 'tiny' (fc, static, "
                             "logarithmic: 1 usable rows (0 excluded): cross-validation needs "
                             "at least 2)");
    fit_run_result_release(&r);
    int nskips = 0;
    OK(st, cl_store_fit_skips_foreach(st, tiny, count_skips_fn, &nskips));
    assert_int_equal(nskips, 0); /* nothing written */

    o.device = "synth";
    o.folds = 1;
    assert_int_equal(fit_run(st, &o, &r, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "folds must be 2 to 20, not 1");
    fit_run_result_release(&r);
    cl_store_close(st);

    unsigned mask = 0;
    assert_int_equal(fit_families_parse("linear,gbdt", &mask, err, sizeof err), CLEAVE_OK);
    assert_int_equal(mask, (1u << FIT_LINEAR) | (1u << FIT_GBDT));
    assert_int_equal(fit_families_parse("krr,poly,log", &mask, err, sizeof err), CLEAVE_OK);
    assert_int_equal(mask, (1u << FIT_KRR) | (1u << FIT_POLY) | (1u << FIT_LOG));
    assert_int_equal(fit_families_parse("all", &mask, err, sizeof err), CLEAVE_OK);
    assert_int_equal(mask, FIT_ALL_FAMILIES);
    assert_int_equal(fit_families_parse("linear,splines", &mask, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "unknown family 'splines' (families: logarithmic, linear, lasso, "
                             "ridge, kernel_ridge, polynomial, gbdt)");
    assert_int_equal(fit_families_parse("linear,", &mask, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "empty family name in 'linear,' (families: logarithmic, linear, "
                             "lasso, ridge, kernel_ridge, polynomial, gbdt)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_store),
        cmocka_unit_test(test_refit_and_failures),
        cmocka_unit_test(test_threads_deterministic),
        cmocka_unit_test(test_target),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
