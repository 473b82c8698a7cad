/*
** tests/unit/test-predict.c - the public predict API (predict/): predictions equal the fitter's
** in-memory final models bit for bit for every family and both feature sets; the fallback
** recovers known coefficients and load slopes (NNLS checked against a coordinate-descent
** oracle); 8 threads predict exactly what one thread does and keep their own error messages;
** every bad input gives its status and exact message, and nothing is printed.
**
** Run with "--fixture PATH" it instead writes a small fitted store (device 'dev': fc and act
** with linear and polynomial models, 3 pool samples without a model) for the CLI and install
** tests.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include <cleave/cleave.h>

#include "common/rng.h"
#include "common/store.h"
#include "fit/design.h"
#include "fit/fitrun.h"
#include "fit/model.h"
#include "predict/fallback.h"

static char tmpdir[64];

#define SHAPES 30
#define LEVELS 4

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cleave-predict-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void tmp_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
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

/* ---- fixture stores ---------------------------------------------------------------------- */

/* Fill S with layer L under load level LEVEL: cpu_util and other_cpu observed near 0.3 LEVEL,
** latency = BASE_US x (1 + other_cpu) x (1 + 1 % noise). */
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
    double util = 0.3 * level + 0.01 * fabs(gauss(rng));
    s->dyn[CLEAVE_LOAD_CPU_UTIL] = util;
    s->dyn[CLEAVE_LOAD_OTHER_CPU] = util * (0.7 + 0.3 * cl_rng_uniform(rng)); /* not collinear */
    s->dyn[CLEAVE_LOAD_SYS_CPU] = 0.02 + 0.005 * gauss(rng);
    s->median_us = base_us * (1.0 + util) * (1.0 + 0.01 * gauss(rng));
    s->min_us = s->p90_us = s->max_us = s->mean_us = s->median_us;
    s->reps = 10;
    s->threads = 1;
}

static cl_store *open_rw(const char *path)
{
    char err[512];
    cl_store *st = NULL;
    if (cl_store_open(&st, path, CL_STORE_CREATE, err, sizeof err) != CLEAVE_OK)
        fail_msg("%s", err);
    return st;
}

static int64_t add_device(cl_store *st, const char *name)
{
    cl_device d;
    int64_t id = 0;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "%s", name);
    d.threads = 1;
    OK(st, cl_store_device_ensure(st, &d, &id));
    return id;
}

/* Device NAME in ST with fc and act samples (SHAPES shapes x LEVELS load levels; fc latency ~
** MACs, act ~ elements) and, if POOL, 3 pool samples (too few to fit). */
static void add_samples(cl_store *st, const char *name, int pool)
{
    cl_sample *s = calloc(1, sizeof *s);
    int64_t dev = add_device(st, name), run = 0, seq = 0;
    uint64_t rng = 12345;

    assert_non_null(s);
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
    for (int i = 0; pool && i < 3; i++) {
        cleave_layer p;
        cleave_layer_init(&p, CLEAVE_LAYER_POOL);
        p.c = 16 * (i + 1);
        p.h = p.w = 8;
        make_sample(s, seq++, &p, i, 5.0 * (i + 1), &rng);
        OK(st, cl_store_sample_add(st, run, s));
    }
    OK(st, cl_store_batch_commit(st));
    OK(st, cl_store_run_end(st, run, CL_RUN_DONE));
    free(s);
}

/* ---- what fitrun computed, captured by its on_model hook ---------------------------------- */

struct captured {
    cleave_layer_type type;
    fit_feature_set set;
    fit_family family;
    size_t n;
    int64_t *sample_id;
    double *final_us;
};

struct capture {
    size_t n;
    struct captured m[64];
};

static void capture_fn(const fit_run_model_view *v, void *arg)
{
    struct capture *c = arg;
    assert_true(c->n < 64);
    struct captured *m = &c->m[c->n++];
    m->type = v->type;
    m->set = v->set;
    m->family = v->family;
    m->n = v->n;
    m->sample_id = malloc(sizeof *m->sample_id * v->n);
    m->final_us = malloc(sizeof *m->final_us * v->n);
    assert_true(m->sample_id && m->final_us);
    memcpy(m->sample_id, v->sample_id, sizeof *m->sample_id * v->n);
    memcpy(m->final_us, v->final_us, sizeof *m->final_us * v->n);
}

static void capture_free(struct capture *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->m[i].sample_id);
        free(c->m[i].final_us);
    }
    c->n = 0;
}

/* Fit device NAME in ST with the families in MASK, capturing the final models' predictions. */
static void fit_device(cl_store *st, const char *name, unsigned mask, struct capture *cap)
{
    fit_run_opts o;
    fit_run_result r;
    char err[512];
    fit_run_opts_default(&o);
    o.device = name;
    o.families = mask;
    o.folds = 3;
    o.threads = 2;
    o.on_model = cap ? capture_fn : NULL;
    o.on_model_arg = cap;
    cleave_status rc = fit_run(st, &o, &r, err, sizeof err);
    fit_run_result_release(&r);
    if (rc != CLEAVE_OK)
        fail_msg("fit_run %s: %s", name, err);
}

/* Samples of a store by id, as layers and loads. */
struct sample_rows {
    size_t cap;
    cleave_layer *layer; /* indexed by sample id */
    cleave_load *load;
    int *have;
};

static int sample_row_fn(const cl_sample *s, void *arg)
{
    struct sample_rows *r = arg;
    char err[256];
    if (s->id < 0 || (size_t)s->id >= r->cap)
        fail_msg("sample id %lld out of range", (long long)s->id);
    if (cleave_layer_parse(&r->layer[s->id], s->spec, err, sizeof err) != CLEAVE_OK)
        return 0;
    memcpy(r->load[s->id].v, s->dyn, sizeof s->dyn);
    r->have[s->id] = 1;
    return 0;
}

static void read_rows(cl_store *st, struct sample_rows *r)
{
    r->cap = 8192;
    r->layer = calloc(r->cap, sizeof *r->layer);
    r->load = calloc(r->cap, sizeof *r->load);
    r->have = calloc(r->cap, sizeof *r->have);
    assert_true(r->layer && r->load && r->have);
    OK(st, cl_store_samples_foreach(st, NULL, NULL, sample_row_fn, r));
}

static void free_rows(struct sample_rows *r)
{
    free(r->layer);
    free(r->load);
    free(r->have);
}

static cleave_predictor *open_ok(const char *path, const char *device)
{
    cleave_predictor *p = NULL;
    char err[512] = "";
    cleave_status rc = cleave_predictor_open(&p, path, device, err, sizeof err);
    if (rc != CLEAVE_OK)
        fail_msg("open %s %s: %s: %s", path, device, cleave_status_name(rc), err);
    assert_non_null(p);
    return p;
}

static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* ---- the fallback's arithmetic ---------------------------------------------------------- */

/* Coordinate descent for min ||W (X b - y)||^2 over b >= 0 (the oracle: slow but simple; each
** step minimises exactly along one coordinate and projects onto b_j >= 0). */
static void nnls_oracle(const double *x, const double *y, const double *w, size_t n, double *b)
{
    b[0] = b[1] = b[2] = 0.0;
    for (int it = 0; it < 200000; it++) {
        int j = it % 3;
        double num = 0.0, den = 0.0;
        for (size_t i = 0; i < n; i++) {
            double r = y[i];
            for (int k = 0; k < 3; k++)
                if (k != j)
                    r -= x[i * 3 + k] * b[k];
            num += w[i] * w[i] * x[i * 3 + j] * r;
            den += w[i] * w[i] * x[i * 3 + j] * x[i * 3 + j];
        }
        b[j] = den > 0 && num > 0 ? num / den : 0.0;
    }
}

static double wsse(const double *x, const double *y, const double *w, size_t n, const double *b)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = w[i] * (x[i * 3] * b[0] + x[i * 3 + 1] * b[1] + x[i * 3 + 2] * b[2] - y[i]);
        s += e * e;
    }
    return s;
}

/* Exact data: the unconstrained solution is feasible and recovered to rounding. */
static void test_nnls_exact(void **state)
{
    (void)state;
    enum { N = 50 };
    double x[N * 3], y[N], w[N], b[3];
    uint64_t rng = 7;
    for (int i = 0; i < N; i++) {
        x[i * 3] = 1.0;
        x[i * 3 + 1] = uniform_log(&rng, 1e3, 1e9);
        x[i * 3 + 2] = uniform_log(&rng, 1e3, 1e8);
        y[i] = 3.0 + 2e-3 * x[i * 3 + 1] + 1e-4 * x[i * 3 + 2];
        w[i] = 1.0 / y[i];
    }
    assert_int_equal(pred_nnls3(x, y, w, N, b), 0);
    assert_true(fabs(b[0] - 3.0) < 1e-6 * 3.0);
    assert_true(fabs(b[1] - 2e-3) < 1e-9 * 2e-3 * 1e3);
    assert_true(fabs(b[2] - 1e-4) < 1e-9 * 1e-4 * 1e3);
    assert_int_equal(pred_nnls3(x, y, w, 0, b), -1);
}

/* Data whose unconstrained fit has a negative coefficient: the constrained optimum matches
** the coordinate-descent oracle's objective, and the negative coefficient is 0. */
static void test_nnls_constrained(void **state)
{
    (void)state;
    enum { N = 40 };
    double x[N * 3], y[N], w[N], b[3], ob[3];
    uint64_t rng = 99;
    for (int trial = 0; trial < 5; trial++) {
        for (int i = 0; i < N; i++) {
            x[i * 3] = 1.0;
            x[i * 3 + 1] = 1.0 + 9.0 * cl_rng_uniform(&rng);
            x[i * 3 + 2] = 1.0 + 9.0 * cl_rng_uniform(&rng);
            /* latency falls with column 2: its free coefficient would be negative */
            y[i] = 20.0 + 1.5 * x[i * 3 + 1] - (0.5 + trial) * x[i * 3 + 2] + 0.3 * gauss(&rng);
            if (y[i] < 1.0)
                y[i] = 1.0;
            w[i] = trial % 2 ? 1.0 / y[i] : 1.0;
        }
        assert_int_equal(pred_nnls3(x, y, w, N, b), 0);
        nnls_oracle(x, y, w, N, ob);
        for (int j = 0; j < 3; j++)
            assert_true(b[j] >= 0.0);
        assert_true(b[2] == 0.0);
        double s = wsse(x, y, w, N, b), os = wsse(x, y, w, N, ob);
        if (!(s <= os * (1 + 1e-9) + 1e-12))
            fail_msg("trial %d: nnls sse %.12g > oracle %.12g", trial, s, os);
        for (int j = 0; j < 3; j++)
            assert_true(fabs(b[j] - ob[j]) < 1e-5 * (1.0 + fabs(ob[j])));
    }
}

/* Observations following the documented model exactly: per-type costs, a device-wide cost
** for types with few samples, and the load slope s = 2 with u0 = 0.1. */
static void test_fallback_fit(void **state)
{
    (void)state;
    enum { N = 200 };
    pred_obs obs[N];
    pred_fallback fb;
    uint64_t rng = 3;
    for (int i = 0; i < N; i++) {
        pred_obs *o = &obs[i];
        int level = i % 4;
        /* 10 pool samples, 5 of them idle (too few for a per-type fit) */
        o->type = i % 40 == 8 || i % 40 == 13 ? CLEAVE_LAYER_POOL : CLEAVE_LAYER_CONV;
        o->macs = uniform_log(&rng, 1e4, 1e9);
        o->bytes = uniform_log(&rng, 1e4, 1e8);
        o->level[0] = 25.0 * level;
        o->level[1] = NAN; /* read as 0 */
        o->level[2] = 0.0;
        o->other_cpu = level == 0 ? 0.1 : 0.1 + 0.2 * level;
        double idle = 5.0 + 1e-3 * o->macs + 2e-4 * o->bytes;
        o->y_us = idle * (1.0 + 2.0 * (o->other_cpu - 0.1));
    }
    assert_int_equal(pred_fallback_fit(&fb, obs, N), CLEAVE_OK);
    assert_int_equal(fb.type[CLEAVE_LAYER_CONV].rows, 45);
    assert_int_equal(fb.type[CLEAVE_LAYER_POOL].rows, 0); /* 5 idle rows: too few */
    assert_int_equal(fb.device.rows, 50);
    const pred_cost *c = pred_fallback_cost(&fb, CLEAVE_LAYER_CONV);
    assert_ptr_equal(c, &fb.type[CLEAVE_LAYER_CONV]);
    assert_true(fabs(c->a_us - 5.0) < 1e-6);
    assert_true(fabs(c->us_per_mac - 1e-3) < 1e-12);
    assert_true(fabs(c->us_per_byte - 2e-4) < 1e-12);
    assert_ptr_equal(pred_fallback_cost(&fb, CLEAVE_LAYER_POOL), &fb.device);
    assert_ptr_equal(pred_fallback_cost(&fb, CLEAVE_LAYER_LSTM), &fb.device);
    assert_true(fabs(fb.u0 - 0.1) < 1e-12);
    assert_true(fabs(fb.slope - 2.0) < 1e-6);
    assert_int_equal(fb.slope_rows, 150);
    assert_true(fabs(pred_fallback_factor(&fb, 0.6) - 2.0) < 1e-6);
    assert_true(pred_fallback_factor(&fb, 0.0) == 1.0); /* below u0: never faster than idle */

    /* Without other_cpu there is no slope; without samples nothing at all. */
    for (int i = 0; i < N; i++)
        obs[i].other_cpu = NAN;
    assert_int_equal(pred_fallback_fit(&fb, obs, N), CLEAVE_OK);
    assert_true(isnan(fb.slope));
    assert_true(pred_fallback_factor(&fb, 0.9) == 1.0);
    assert_int_equal(pred_fallback_fit(&fb, obs, 0), CLEAVE_OK);
    assert_null(pred_fallback_cost(&fb, CLEAVE_LAYER_CONV));
}

/* ---- predictions equal the fitter's ------------------------------------------------------ */

/* For every family: fit a device with that family alone (both feature sets), then predict each
** training row through the API (the layer parsed from the stored spec, the load from the stored
** dynamic features) and compare with the final model's in-memory prediction, bit for bit. */
static void test_matches_fit_predict(void **state)
{
    (void)state;
    char path[128];
    struct capture cap = {0};
    struct sample_rows rows;
    tmp_path(path, sizeof path, "families.db");
    cl_store *st = open_rw(path);
    char names[FIT_NFAMILIES][32];
    for (int f = 0; f < FIT_NFAMILIES; f++) {
        snprintf(names[f], sizeof names[f], "d-%s", fit_family_name((fit_family)f));
        add_samples(st, names[f], 0);
    }
    read_rows(st, &rows);
    size_t checked[FIT_NFAMILIES] = {0};
    for (int f = 0; f < FIT_NFAMILIES; f++) {
        fit_device(st, names[f], 1u << f, &cap);
        cleave_predictor *p = open_ok(path, names[f]);
        for (size_t m = 0; m < cap.n; m++) {
            const struct captured *c = &cap.m[m];
            assert_int_equal(c->family, f);
            for (size_t i = 0; i < c->n; i++) {
                int64_t id = c->sample_id[i];
                assert_true(rows.have[id]);
                cleave_prediction r;
                const cleave_load *load = c->set == FIT_SET_DYNAMIC ? &rows.load[id] : NULL;
                cleave_status rc = cleave_predict(p, &rows.layer[id], load, &r);
                if (rc != CLEAVE_OK)
                    fail_msg("%s: %s", names[f], cleave_predictor_errmsg(p));
                double want = c->final_us[i] > 0 ? c->final_us[i] : 0.0;
                if (!same_bits(r.latency_us, want))
                    fail_msg("%s %s %s sample %lld: api %.17g, fit %.17g", names[f],
                             cleave_layer_type_name(c->type), fit_feature_set_name(c->set),
                             (long long)id, r.latency_us, c->final_us[i]);
                assert_int_equal(r.fallback, 0);
                assert_string_equal(r.family, fit_family_name((fit_family)f));
                assert_int_equal(r.dynamic, c->set == FIT_SET_DYNAMIC);
                assert_string_equal(r.feature_set, fit_feature_set_name(c->set));
                checked[f]++;
            }
            cleave_model_info info;
            assert_int_equal(cleave_predictor_model(p, c->type, c->set == FIT_SET_DYNAMIC, &info),
                             CLEAVE_OK);
            assert_string_equal(info.family, fit_family_name((fit_family)f));
            assert_int_equal(info.fallback, 0);
            assert_int_equal(info.n_samples, (long)c->n);
            if (c->set == FIT_SET_DYNAMIC)
                assert_true(info.load_features ==
                            ((1UL << CLEAVE_LOAD_SYS_CPU) | (1UL << CLEAVE_LOAD_CPU_UTIL) |
                             (1UL << CLEAVE_LOAD_OTHER_CPU)));
            else
                assert_true(info.load_features == 0);
        }
        cleave_predictor_close(p);
        capture_free(&cap);
    }
    /* Every family fitted both types and both sets (2 x 2 x SHAPES x LEVELS rows). */
    for (int f = 0; f < FIT_NFAMILIES; f++)
        if (checked[f] != 4 * SHAPES * LEVELS)
            fail_msg("%s: %zu rows checked", names[f], checked[f]);
    free_rows(&rows);
    cl_store_close(st);
}

/* The shared fixture of the remaining tests: device 'dev' (fc, act fitted with linear and
** polynomial; 3 pool samples, no model), device 'samples-only' (never fitted), device 'bare'
** (nothing), device 'models-only' (a model but no samples). */
static char fixture[128];

/* A linear static model of fc on macs alone, trained so that it extrapolates below zero for
** large layers (latency falls with MACs in its data); returns the blob. */
static void falling_model(void **blob, size_t *bytes, char **features)
{
    double x[20], y[20];
    fit_model *m = NULL;
    char err[256];
    fit_opts o;
    fit_features f;
    for (int i = 0; i < 20; i++) {
        x[i] = 1000.0 * (i + 1);
        y[i] = 100.0 - 0.004 * x[i];
    }
    fit_opts_default(&o, FIT_LINEAR);
    if (fit_train(&m, FIT_LINEAR, x, 20, 1, y, &o, err, sizeof err) != CLEAVE_OK)
        fail_msg("%s", err);
    assert_int_equal(fit_model_save(m, blob, bytes), CLEAVE_OK);
    fit_model_free(m);
    memset(&f, 0, sizeof f);
    f.nstatic = 1;
    f.statics[0] = CLEAVE_FEAT_MACS;
    *features = fit_features_json(&f);
    assert_non_null(*features);
}

static void add_model(cl_store *st, int64_t dev, const char *type, const char *set,
                      const char *family, const char *features, const void *blob, size_t bytes,
                      int selected)
{
    cl_model m;
    memset(&m, 0, sizeof m);
    m.device_id = dev;
    snprintf(m.type, sizeof m.type, "%s", type);
    snprintf(m.family, sizeof m.family, "%s", family);
    snprintf(m.feature_set, sizeof m.feature_set, "%s", set);
    m.features = features;
    m.blob = blob;
    m.blob_bytes = bytes;
    m.cv_r2 = m.cv_rmse = m.cv_mape = m.cv_within10 = NAN;
    m.lolo_r2 = m.lolo_rmse = m.lolo_mape = m.lolo_within10 = NAN;
    m.n_samples = 20;
    m.selected = selected;
    OK(st, cl_store_model_add(st, &m, NULL));
}

static void build_fixture(const char *path, int extra)
{
    cl_store *st = open_rw(path);
    add_samples(st, "dev", 1);
    fit_device(st, "dev", (1u << FIT_LINEAR) | (1u << FIT_POLY), NULL);
    if (extra) {
        add_samples(st, "samples-only", 1);
        add_device(st, "bare");
        int64_t dev = add_device(st, "models-only");
        void *blob = NULL;
        size_t bytes = 0;
        char *features = NULL;
        falling_model(&blob, &bytes, &features);
        add_model(st, dev, "fc", "static", "linear", features, blob, bytes, 1);
        free(blob);
        free(features);
    }
    cl_store_close(st);
}

static int fixture_setup(void **state)
{
    (void)state;
    if (!fixture[0]) {
        tmp_path(fixture, sizeof fixture, "fixture.db");
        build_fixture(fixture, 1);
    }
    return 0;
}

static cleave_layer fc_layer(int64_t c, int64_t k)
{
    cleave_layer l;
    cleave_layer_init(&l, CLEAVE_LAYER_FC);
    l.c = c;
    l.k = k;
    return l;
}

static cleave_load idle_load(void)
{
    cleave_load l;
    cleave_load_init(&l);
    l.v[CLEAVE_LOAD_CPU_UTIL] = 0.3;
    l.v[CLEAVE_LOAD_OTHER_CPU] = 0.3;
    l.v[CLEAVE_LOAD_SYS_CPU] = 0.02;
    return l;
}

/* Which model serves which request, and the fallback for types without one. */
static void test_model_choice(void **state)
{
    (void)state;
    cleave_predictor *p = open_ok(fixture, "dev");
    cleave_model_info info;
    cleave_prediction r;
    cleave_layer fc = fc_layer(256, 128);
    cleave_load load = idle_load();

    assert_string_equal(cleave_predictor_device(p), "dev");
    assert_null(cleave_predictor_device(NULL));
    assert_string_equal(cleave_predictor_errmsg(p), "");

    assert_int_equal(cleave_predict(p, &fc, NULL, &r), CLEAVE_OK);
    assert_int_equal(r.fallback, 0);
    assert_string_equal(r.feature_set, "static");
    assert_true(r.latency_us > 0);
    assert_int_equal(cleave_predict(p, &fc, &load, &r), CLEAVE_OK);
    assert_string_equal(r.feature_set, "dynamic");
    assert_int_equal(r.dynamic, 1);

    /* pool: 3 samples, no model: the device-wide fallback, scaled by other_cpu. */
    cleave_layer pool;
    cleave_layer_init(&pool, CLEAVE_LAYER_POOL);
    pool.c = 32;
    pool.h = pool.w = 8;
    cleave_prediction idle, busy;
    assert_int_equal(cleave_predict(p, &pool, NULL, &idle), CLEAVE_OK);
    assert_int_equal(idle.fallback, 1);
    assert_string_equal(idle.family, "fallback");
    assert_string_equal(idle.feature_set, "static");
    assert_true(idle.latency_us > 0);
    load.v[CLEAVE_LOAD_OTHER_CPU] = 0.9;
    assert_int_equal(cleave_predict(p, &pool, &load, &busy), CLEAVE_OK);
    assert_int_equal(busy.fallback, 1);
    assert_string_equal(busy.feature_set, "dynamic");
    /* latency ~ idle x (1 + other_cpu) in the fixture: slope ~1, u0 ~0.01 */
    double ratio = busy.latency_us / idle.latency_us;
    if (!(ratio > 1.7 && ratio < 2.1))
        fail_msg("fallback load factor %.4f, want ~1.9", ratio);

    assert_int_equal(cleave_predictor_model(p, CLEAVE_LAYER_POOL, 1, &info), CLEAVE_OK);
    assert_int_equal(info.fallback, 1);
    assert_string_equal(info.family, "fallback");
    assert_int_equal(info.dynamic, 1);
    assert_int_equal(info.nfeatures, 3);
    assert_true(info.load_features == 1UL << CLEAVE_LOAD_OTHER_CPU);
    assert_true(isnan(info.cv_r2));
    assert_int_equal(cleave_predictor_model(p, CLEAVE_LAYER_LSTM, 0, &info), CLEAVE_OK);
    assert_int_equal(info.fallback, 1);
    assert_int_equal(info.nfeatures, 2);
    assert_int_equal(info.n_samples, SHAPES * 2 + 1); /* every type's idle samples */

    /* Listing: fc and act have fitted models, every other type the fallback. */
    int fitted = 0;
    for (int t = 0; t < CLEAVE_LAYER_COUNT; t++) {
        assert_int_equal(cleave_predictor_model(p, (cleave_layer_type)t, 0, &info), CLEAVE_OK);
        if (!info.fallback) {
            fitted++;
            assert_true(t == CLEAVE_LAYER_FC || t == CLEAVE_LAYER_ACT);
            assert_true(strcmp(info.family, "linear") == 0 ||
                        strcmp(info.family, "polynomial") == 0);
            assert_true(info.cv_r2 > 0.0 && info.cv_r2 <= 1.0); /* as the fitter stored it */
        }
    }
    assert_int_equal(fitted, 2);
    cleave_predictor_close(p);
    cleave_predictor_close(NULL);
}

/* A device with samples but no models predicts everything with the fallback; one with a model
** but no samples has no fallback; a negative extrapolation is reported as 0. */
static void test_fallback_only_and_models_only(void **state)
{
    (void)state;
    cleave_prediction r;
    cleave_model_info info;
    cleave_layer fc = fc_layer(256, 128);

    cleave_predictor *p = open_ok(fixture, "samples-only");
    for (int t = 0; t < CLEAVE_LAYER_COUNT; t++) {
        assert_int_equal(cleave_predictor_model(p, (cleave_layer_type)t, 0, &info), CLEAVE_OK);
        assert_int_equal(info.fallback, 1);
    }
    assert_int_equal(cleave_predict(p, &fc, NULL, &r), CLEAVE_OK);
    assert_int_equal(r.fallback, 1);
    /* fc idle latency is 2 + 0.002 MACs here: the per-type fit finds it within the noise */
    double want = 2.0 + 0.002 * 256 * 128;
    if (fabs(r.latency_us / want - 1.0) > 0.05)
        fail_msg("fallback fc %.3f us, want ~%.3f", r.latency_us, want);
    cleave_predictor_close(p);

    p = open_ok(fixture, "models-only");
    fc = fc_layer(10, 100); /* 1000 MACs: 96 us */
    assert_int_equal(cleave_predict(p, &fc, NULL, &r), CLEAVE_OK);
    assert_true(fabs(r.latency_us - 96.0) < 1e-6);
    /* Given a load, a type without a dynamic model uses its static model: the load is unused. */
    cleave_load load = idle_load();
    assert_int_equal(cleave_predict(p, &fc, &load, &r), CLEAVE_OK);
    assert_true(fabs(r.latency_us - 96.0) < 1e-6);
    assert_int_equal(r.dynamic, 0);
    assert_string_equal(r.feature_set, "static");
    assert_int_equal(cleave_predictor_model(p, CLEAVE_LAYER_FC, 1, &info), CLEAVE_OK);
    assert_int_equal(info.dynamic, 0);
    assert_string_equal(info.family, "linear");
    fc = fc_layer(100, 1000); /* 1e5 MACs: the model says -300 us */
    assert_int_equal(cleave_predict(p, &fc, NULL, &r), CLEAVE_OK);
    assert_true(r.latency_us == 0.0);
    assert_int_equal(r.fallback, 0);
    cleave_layer act;
    cleave_layer_init(&act, CLEAVE_LAYER_ACT);
    assert_int_equal(cleave_predict(p, &act, NULL, &r), CLEAVE_ENOMODEL);
    assert_string_equal(cleave_predictor_errmsg(p), "no model for layer type 'act' of device "
                                                    "'models-only', and no samples to estimate "
                                                    "one from");
    assert_true(isnan(r.latency_us));
    assert_string_equal(r.family, "");
    assert_int_equal(cleave_predictor_model(p, CLEAVE_LAYER_ACT, 0, &info), CLEAVE_ENOMODEL);
    assert_string_equal(info.family, "none");
    cleave_predictor_close(p);
}

/* ---- bad input --------------------------------------------------------------------------- */

static void expect_open(const char *path, const char *device, cleave_status want, const char *msg)
{
    cleave_predictor *p = (cleave_predictor *)&p; /* not NULL: open must clear it */
    char err[512] = "untouched";
    cleave_status rc = cleave_predictor_open(&p, path, device, err, sizeof err);
    if (rc != want || strcmp(err, msg) != 0)
        fail_msg("open(%s, %s): %s '%s', want %s '%s'", path ? path : "NULL",
                 device ? device : "NULL", cleave_status_name(rc), err, cleave_status_name(want),
                 msg);
    assert_null(p);
    /* ERR may be NULL or empty */
    p = (cleave_predictor *)&p;
    assert_int_equal(cleave_predictor_open(&p, path, device, NULL, 0), want);
    assert_null(p);
    err[0] = 'x';
    assert_int_equal(cleave_predictor_open(&p, path, device, err, 0), want);
    assert_int_equal(err[0], 'x');
}

static void test_open_errors(void **state)
{
    (void)state;
    char path[128], msg[512];
    cleave_predictor *p = NULL;
    char err[256] = "";

    assert_int_equal(cleave_predictor_open(NULL, fixture, "dev", err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "out is NULL");
    expect_open(NULL, "dev", CLEAVE_EINVAL, "store path is NULL");
    expect_open(fixture, NULL, CLEAVE_EINVAL, "device name is NULL");

    tmp_path(path, sizeof path, "missing.db");
    snprintf(msg, sizeof msg, "no store at '%s'", path);
    expect_open(path, "dev", CLEAVE_EIO, msg);
    assert_int_equal(access(path, F_OK), -1); /* nothing created */

    snprintf(msg, sizeof msg, "cannot open '%s': is a directory", tmpdir);
    expect_open(tmpdir, "dev", CLEAVE_EIO, msg);

    tmp_path(path, sizeof path, "text.db");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not a database, but it is long enough to have an SQLite header's size; "
          "it goes on for a while so that the first hundred bytes can be read in full.\n",
          f);
    fclose(f);
    snprintf(msg, sizeof msg, "'%s' is not a cleave store", path);
    expect_open(path, "dev", CLEAVE_EDB, msg);

    /* A newer schema is refused and the file left as it was. */
    tmp_path(path, sizeof path, "newer.db");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", fixture, path);
    assert_int_equal(system(cmd), 0);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    snprintf(msg, sizeof msg, "'%s' has schema version 99, newer than this cleave (%d)", path,
             CL_STORE_SCHEMA_VERSION);
    expect_open(path, "dev", CLEAVE_EDB, msg);
    assert_int_equal(stat(path, &after), 0);
    assert_true(before.st_size == after.st_size && before.st_mtime == after.st_mtime);

    /* An older schema: the predictor never writes, so it asks for an upgrade. */
    tmp_path(path, sizeof path, "older.db");
    assert_int_equal(cl_store_create_at_version(path, 1, err, sizeof err), CLEAVE_OK);
    snprintf(msg, sizeof msg,
             "'%s' has schema version 1, older than this cleave (%d); open it for writing once "
             "to upgrade it",
             path, CL_STORE_SCHEMA_VERSION);
    expect_open(path, "dev", CLEAVE_EDB, msg);

    snprintf(msg, sizeof msg, "no device 'ghost' in '%s'", fixture);
    expect_open(fixture, "ghost", CLEAVE_EINVAL, msg);
    snprintf(msg, sizeof msg, "device 'bare' in '%s' has no models and no samples", fixture);
    expect_open(fixture, "bare", CLEAVE_ENOMODEL, msg);

    /* A selected model whose blob is garbage, or whose features do not match its blob. */
    tmp_path(path, sizeof path, "broken.db");
    cl_store *st = open_rw(path);
    int64_t dev = add_device(st, "broken");
    add_model(st, dev, "conv", "static", "linear", "[\"macs\"]", "garbage!", 8, 1);
    int64_t dev2 = add_device(st, "mismatch");
    void *blob = NULL;
    size_t bytes = 0;
    char *features = NULL;
    falling_model(&blob, &bytes, &features);
    add_model(st, dev2, "fc", "static", "linear", "[\"macs\",\"in_bytes\"]", blob, bytes, 1);
    int64_t dev3 = add_device(st, "unknown-feature");
    add_model(st, dev3, "fc", "static", "linear", "[\"bananas\"]", blob, bytes, 1);
    /* not selected: ignored, whatever it holds */
    int64_t dev4 = add_device(st, "unselected");
    add_model(st, dev4, "fc", "static", "linear", "[\"bananas\"]", "x", 1, 0);
    add_model(st, dev4, "fc", "static", "linear", features, blob, bytes, 1);
    free(blob);
    free(features);
    cl_store_close(st);
    expect_open(path, "broken", CLEAVE_EDB,
                "model 1 of device 'broken' (conv, static, linear): stored model is not a cleave "
                "model");
    expect_open(path, "mismatch", CLEAVE_EDB,
                "model 2 of device 'mismatch' (fc, static, linear): the model reads 1 features "
                "but lists 2");
    expect_open(path, "unknown-feature", CLEAVE_EDB,
                "model 3 of device 'unknown-feature' (fc, static, linear): model uses unknown "
                "feature 'bananas'");
    p = open_ok(path, "unselected");
    cleave_predictor_close(p);
}

static void test_predict_errors(void **state)
{
    (void)state;
    cleave_predictor *p = open_ok(fixture, "dev");
    cleave_prediction r;
    cleave_layer fc = fc_layer(256, 128);
    cleave_load load = idle_load();

    assert_int_equal(cleave_predict(NULL, &fc, NULL, &r), CLEAVE_EINVAL);
    assert_string_equal(cleave_predictor_errmsg(NULL), "predictor is NULL");
    assert_true(isnan(r.latency_us));
    assert_int_equal(cleave_predict(p, NULL, NULL, &r), CLEAVE_EINVAL);
    assert_string_equal(cleave_predictor_errmsg(p), "layer is NULL");
    assert_int_equal(cleave_predict(p, &fc, NULL, NULL), CLEAVE_EINVAL);
    assert_string_equal(cleave_predictor_errmsg(p), "output is NULL");

    cleave_layer bad = fc;
    bad.type = (cleave_layer_type)99;
    assert_int_equal(cleave_predict(p, &bad, NULL, &r), CLEAVE_EINVAL);
    assert_string_equal(cleave_predictor_errmsg(p), "unknown layer type 99");
    bad.type = (cleave_layer_type)-1;
    assert_int_equal(cleave_predict(p, &bad, NULL, &r), CLEAVE_EINVAL);
    assert_string_equal(cleave_predictor_errmsg(p), "unknown layer type -1");
    bad = fc;
    bad.c = 0;
    char want[256];
    assert_int_equal(cleave_layer_validate(&bad, want, sizeof want), CLEAVE_EINVAL);
    assert_int_equal(cleave_predict(p, &bad, NULL, &r), CLEAVE_EINVAL);
    assert_string_equal(cleave_predictor_errmsg(p), want);

    /* NaN load features that the dynamic model needs; others may be NaN. */
    const char *fam = NULL;
    cleave_model_info info;
    assert_int_equal(cleave_predictor_model(p, CLEAVE_LAYER_FC, 1, &info), CLEAVE_OK);
    fam = info.family;
    load.v[CLEAVE_LOAD_PSI_CPU] = NAN;
    assert_int_equal(cleave_predict(p, &fc, &load, &r), CLEAVE_OK);
    load.v[CLEAVE_LOAD_CPU_UTIL] = NAN;
    assert_int_equal(cleave_predict(p, &fc, &load, &r), CLEAVE_EINVAL);
    snprintf(want, sizeof want,
             "load feature 'cpu_util' is NaN; the dynamic %s model of 'fc' needs it", fam);
    assert_string_equal(cleave_predictor_errmsg(p), want);
    load.v[CLEAVE_LOAD_SYS_CPU] = NAN;
    assert_int_equal(cleave_predict(p, &fc, &load, &r), CLEAVE_EINVAL);
    snprintf(want, sizeof want,
             "load features 'sys_cpu', 'cpu_util' are NaN; the dynamic %s model of 'fc' needs "
             "them",
             fam);
    assert_string_equal(cleave_predictor_errmsg(p), want);
    load = idle_load();
    load.v[CLEAVE_LOAD_OTHER_CPU] = INFINITY;
    assert_int_equal(cleave_predict(p, &fc, &load, &r), CLEAVE_EINVAL);
    snprintf(want, sizeof want,
             "load feature 'other_cpu' is not finite; the dynamic %s model of 'fc' needs it", fam);
    assert_string_equal(cleave_predictor_errmsg(p), want);
    /* all NaN: the fallback needs other_cpu too */
    cleave_load_init(&load);
    cleave_layer pool;
    cleave_layer_init(&pool, CLEAVE_LAYER_POOL);
    assert_int_equal(cleave_predict(p, &pool, &load, &r), CLEAVE_EINVAL);
    assert_string_equal(cleave_predictor_errmsg(p),
                        "load feature 'other_cpu' is NaN; the fallback estimate for 'pool' needs "
                        "it");
    /* ... and a static request ignores the load entirely */
    assert_int_equal(cleave_predict(p, &pool, NULL, &r), CLEAVE_OK);
    /* a success leaves the last message in place */
    assert_string_equal(cleave_predictor_errmsg(p),
                        "load feature 'other_cpu' is NaN; the fallback estimate for 'pool' needs "
                        "it");

    /* cleave_predictor_model() argument checks */
    assert_int_equal(cleave_predictor_model(NULL, CLEAVE_LAYER_FC, 0, &info), CLEAVE_EINVAL);
    assert_string_equal(cleave_predictor_errmsg(NULL), "predictor is NULL");
    assert_int_equal(cleave_predictor_model(p, CLEAVE_LAYER_FC, 0, NULL), CLEAVE_EINVAL);
    assert_string_equal(cleave_predictor_errmsg(p), "output is NULL");
    assert_int_equal(cleave_predictor_model(p, CLEAVE_LAYER_COUNT, 0, &info), CLEAVE_EINVAL);
    snprintf(want, sizeof want, "unknown layer type %d", CLEAVE_LAYER_COUNT);
    assert_string_equal(cleave_predictor_errmsg(p), want);
    cleave_predictor_close(p);
}

static void test_predict_many(void **state)
{
    (void)state;
    cleave_predictor *p = open_ok(fixture, "dev");
    cleave_layer l[4];
    cleave_prediction r[4], one;
    l[0] = fc_layer(64, 64);
    cleave_layer_init(&l[1], CLEAVE_LAYER_ACT);
    l[1].c = 32;
    cleave_layer_init(&l[2], CLEAVE_LAYER_CONV);
    l[3] = fc_layer(512, 10);

    assert_int_equal(cleave_predict_many(p, l, 4, NULL, r), CLEAVE_OK);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cleave_predict(p, &l[i], NULL, &one), CLEAVE_OK);
        assert_true(same_bits(one.latency_us, r[i].latency_us));
        assert_ptr_equal(one.family, r[i].family);
    }
    assert_int_equal(r[2].fallback, 1);

    assert_int_equal(cleave_predict_many(p, NULL, 0, NULL, NULL), CLEAVE_OK);
    assert_int_equal(cleave_predict_many(p, NULL, 2, NULL, r), CLEAVE_EINVAL);
    assert_string_equal(cleave_predictor_errmsg(p), "layers is NULL");
    assert_int_equal(cleave_predict_many(p, l, 2, NULL, NULL), CLEAVE_EINVAL);
    assert_string_equal(cleave_predictor_errmsg(p), "output is NULL");
    assert_int_equal(cleave_predict_many(NULL, l, 2, NULL, r), CLEAVE_EINVAL);
    assert_string_equal(cleave_predictor_errmsg(NULL), "predictor is NULL");

    l[2].type = (cleave_layer_type)42;
    for (int i = 0; i < 4; i++)
        r[i].latency_us = -1.0;
    assert_int_equal(cleave_predict_many(p, l, 4, NULL, r), CLEAVE_EINVAL);
    assert_string_equal(cleave_predictor_errmsg(p), "layer 2: unknown layer type 42");
    assert_true(r[0].latency_us > 0 && r[1].latency_us > 0);
    assert_true(isnan(r[2].latency_us));
    assert_true(r[3].latency_us == -1.0); /* not reached */
    cleave_predictor_close(p);
}

static void test_load_now(void **state)
{
    (void)state;
    cleave_load load;
    char err[256] = "";
    assert_int_equal(cleave_load_now(NULL, 10, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "out is NULL");
    assert_int_equal(cleave_load_now(&load, -1, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "load window must be 0 (default) or 1..60000 ms, got -1");
    assert_true(isnan(load.v[CLEAVE_LOAD_CPU_UTIL]));
    assert_int_equal(cleave_load_now(&load, 60001, NULL, 0), CLEAVE_EINVAL);

    assert_int_equal(cleave_load_now(&load, 20, err, sizeof err), CLEAVE_OK);
    double u = load.v[CLEAVE_LOAD_CPU_UTIL], o = load.v[CLEAVE_LOAD_OTHER_CPU];
    assert_true(u >= 0.0 && u <= 1.0);
    assert_true(o >= 0.0 && o <= 1.0);
    assert_true(load.v[CLEAVE_LOAD_MEM_USED] > 0.0 && load.v[CLEAVE_LOAD_MEM_USED] < 1.0);
    assert_true(load.v[CLEAVE_LOAD_PROBE_CPU] > 0.0); /* the profiler's default probe */
    assert_true(isnan(load.v[CLEAVE_LOAD_PROBE_MEM]));
    assert_int_equal(cleave_load_now(&load, 0, NULL, 0), CLEAVE_OK); /* default window */

    /* A fresh snapshot is a valid input for the dynamic models. */
    cleave_predictor *p = open_ok(fixture, "dev");
    cleave_layer fc = fc_layer(128, 128);
    cleave_prediction r;
    assert_int_equal(cleave_predict(p, &fc, &load, &r), CLEAVE_OK);
    assert_string_equal(r.feature_set, "dynamic");
    cleave_predictor_close(p);
}

/* Nothing the library does on bad input prints: stdout and stderr stay empty. */
static void test_silent(void **state)
{
    (void)state;
    char path[128], err[256];
    tmp_path(path, sizeof path, "silent.out");
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0 && saved_out >= 0 && saved_err >= 0);
    dup2(fd, 1);
    dup2(fd, 2);

    cleave_predictor *p = NULL;
    cleave_prediction r;
    cleave_load load;
    cleave_layer fc = fc_layer(64, 64), bad = fc;
    bad.type = (cleave_layer_type)77;
    cleave_load_init(&load);
    cleave_status s1 = cleave_predictor_open(&p, "/nonexistent/x.db", "d", err, sizeof err);
    cleave_status s2 = cleave_predictor_open(&p, fixture, "ghost", err, sizeof err);
    cleave_status s3 = cleave_predictor_open(&p, fixture, "dev", err, sizeof err);
    cleave_status s4 = cleave_predict(p, &bad, NULL, &r);
    cleave_status s5 = cleave_predict(p, &fc, &load, &r);
    cleave_status s6 = cleave_predict(NULL, NULL, NULL, NULL);
    cleave_status s7 = cleave_load_now(&load, -5, NULL, 0);
    cleave_predictor_close(p);

    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    close(fd);
    assert_int_equal(s1, CLEAVE_EIO);
    assert_int_equal(s2, CLEAVE_EINVAL);
    assert_int_equal(s3, CLEAVE_OK);
    assert_int_equal(s4, CLEAVE_EINVAL);
    assert_int_equal(s5, CLEAVE_EINVAL);
    assert_int_equal(s6, CLEAVE_EINVAL);
    assert_int_equal(s7, CLEAVE_EINVAL);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 0);
}

/* When a merge leaves two selected models for one type and set, the last stored wins. */
static void test_selected_twice(void **state)
{
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "twice.db");
    cl_store *st = open_rw(path);
    int64_t dev = add_device(st, "twice");
    void *blob = NULL;
    size_t bytes = 0;
    char *features = NULL;
    falling_model(&blob, &bytes, &features);
    add_model(st, dev, "fc", "static", "linear", "[\"garbage\"]", "x", 1, 0);
    add_model(st, dev, "fc", "static", "linear", features, blob, bytes, 1);
    /* a second selected model: the same data with latency doubled */
    double x[20], y[20];
    fit_model *m = NULL;
    fit_opts o;
    char err[128];
    for (int i = 0; i < 20; i++) {
        x[i] = 1000.0 * (i + 1);
        y[i] = 2 * (100.0 - 0.004 * x[i]);
    }
    fit_opts_default(&o, FIT_LINEAR);
    assert_int_equal(fit_train(&m, FIT_LINEAR, x, 20, 1, y, &o, err, sizeof err), CLEAVE_OK);
    void *blob2 = NULL;
    size_t bytes2 = 0;
    assert_int_equal(fit_model_save(m, &blob2, &bytes2), CLEAVE_OK);
    fit_model_free(m);
    add_model(st, dev, "fc", "static", "linear", features, blob2, bytes2, 1);
    cl_store_close(st);
    free(blob);
    free(blob2);
    free(features);

    cleave_predictor *p = open_ok(path, "twice");
    cleave_layer fc = fc_layer(10, 100);
    cleave_prediction r;
    assert_int_equal(cleave_predict(p, &fc, NULL, &r), CLEAVE_OK);
    assert_true(fabs(r.latency_us - 192.0) < 1e-6);
    cleave_predictor_close(p);
}

/* ---- threads ------------------------------------------------------------------------------ */

#define POOL 64
#define NTHREADS 8
#define ROUNDS 100

struct job {
    cleave_predictor *p;
    const cleave_layer *layers;
    const cleave_load *loads; /* POOL entries; a NULL-load request every third */
    const double *want;       /* single-threaded results */
    int id;
    int mismatches, msg_errors, calls;
};

static const cleave_load *load_for(const struct job *j, int i)
{
    return i % 3 == 0 ? NULL : &j->loads[i];
}

static void *worker(void *arg)
{
    struct job *j = arg;
    cleave_prediction r;
    /* Each thread breaks a different needed feature, so a shared message would be caught. */
    static const cleave_load_feature broken[] = {CLEAVE_LOAD_SYS_CPU, CLEAVE_LOAD_CPU_UTIL,
                                                 CLEAVE_LOAD_OTHER_CPU};
    cleave_load_feature f = broken[j->id % 3];
    cleave_load nan_load = j->loads[1];
    nan_load.v[f] = NAN;
    char want_msg[256];
    cleave_layer fc = fc_layer(100, 100);
    cleave_model_info info;
    cleave_predictor_model(j->p, CLEAVE_LAYER_FC, 1, &info);
    snprintf(want_msg, sizeof want_msg,
             "load feature '%s' is NaN; the dynamic %s model of 'fc' needs it",
             cleave_load_feature_name(f), info.family);
    for (int round = 0; round < ROUNDS; round++) {
        for (int k = 0; k < POOL; k++) {
            int i = (k * 7 + round + j->id) % POOL;
            if (cleave_predict(j->p, &j->layers[i], load_for(j, i), &r) != CLEAVE_OK ||
                !same_bits(r.latency_us, j->want[i]))
                j->mismatches++;
            j->calls++;
        }
        if (cleave_predict(j->p, &fc, &nan_load, &r) != CLEAVE_EINVAL ||
            strcmp(cleave_predictor_errmsg(j->p), want_msg) != 0)
            j->msg_errors++;
    }
    return NULL;
}

/* 8 threads predict a mixed pool of layers (fitted static and dynamic models, per-type and
** device-wide fallbacks) on the predictor of DEVICE in PATH and must get, bit for bit, what one
** thread got; each also fails on purpose once per round and must read its own message. */
static void run_threads(const char *path, const char *device)
{
    cleave_predictor *p = open_ok(path, device);
    cleave_layer layers[POOL];
    cleave_load loads[POOL];
    double want[POOL];
    uint64_t rng = 2024;
    for (int i = 0; i < POOL; i++) {
        cleave_layer *l = &layers[i];
        switch (i % 4) {
        case 0: *l = fc_layer((int64_t)uniform_log(&rng, 16, 2048), 64 + i); break;
        case 1:
            cleave_layer_init(l, CLEAVE_LAYER_ACT);
            l->c = 8 + i;
            l->h = l->w = 16;
            break;
        case 2:
            cleave_layer_init(l, CLEAVE_LAYER_POOL); /* fallback */
            l->c = 16 + i;
            l->h = l->w = 8;
            break;
        default:
            cleave_layer_init(l, CLEAVE_LAYER_LSTM); /* device-wide fallback */
            l->c = l->k = 32 + i;
            l->t = 4;
            break;
        }
        loads[i] = idle_load();
        loads[i].v[CLEAVE_LOAD_CPU_UTIL] = loads[i].v[CLEAVE_LOAD_OTHER_CPU] = 0.01 * i;
    }
    struct job jobs[NTHREADS];
    jobs[0].loads = loads;
    for (int i = 0; i < POOL; i++) {
        cleave_prediction r;
        assert_int_equal(cleave_predict(p, &layers[i], load_for(&jobs[0], i), &r), CLEAVE_OK);
        want[i] = r.latency_us;
    }
    pthread_t th[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        jobs[t] = (struct job){p, layers, loads, want, t, 0, 0, 0};
        assert_int_equal(pthread_create(&th[t], NULL, worker, &jobs[t]), 0);
    }
    for (int t = 0; t < NTHREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        if (jobs[t].mismatches || jobs[t].msg_errors)
            fail_msg("%s thread %d: %d mismatches, %d wrong messages", device, t,
                     jobs[t].mismatches, jobs[t].msg_errors);
        assert_int_equal(jobs[t].calls, ROUNDS * POOL);
    }
    /* The main thread had no failure on P: its message is still empty. */
    assert_string_equal(cleave_predictor_errmsg(p), "");
    cleave_predictor_close(p);
}

/* The fixture's device, then (when test_matches_fit_predict has written them) one device per
** regression family, so that every family's evaluation is exercised concurrently. */
static void test_threads(void **state)
{
    (void)state;
    char path[128];
    run_threads(fixture, "dev");
    tmp_path(path, sizeof path, "families.db");
    if (access(path, F_OK) != 0)
        return;
    for (int f = 0; f < FIT_NFAMILIES; f++) {
        char name[32];
        snprintf(name, sizeof name, "d-%s", fit_family_name((fit_family)f));
        run_threads(path, name);
    }
}

/* --fixture PATH: the fixture store of the CLI and install tests. */
static char fixture_arg[1024];

static void test_write_fixture(void **state)
{
    (void)state;
    build_fixture(fixture_arg, 1);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--fixture") == 0) {
        /* cmocka's assertions need a test context: the builder runs as a one-test group. */
        snprintf(fixture_arg, sizeof fixture_arg, "%s", argv[2]);
        unlink(fixture_arg);
        const struct CMUnitTest build[] = {cmocka_unit_test(test_write_fixture)};
        return cmocka_run_group_tests_name("fixture", build, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nnls_exact),
        cmocka_unit_test(test_nnls_constrained),
        cmocka_unit_test(test_fallback_fit),
        cmocka_unit_test(test_matches_fit_predict),
        cmocka_unit_test_setup(test_model_choice, fixture_setup),
        cmocka_unit_test_setup(test_fallback_only_and_models_only, fixture_setup),
        cmocka_unit_test_setup(test_open_errors, fixture_setup),
        cmocka_unit_test_setup(test_predict_errors, fixture_setup),
        cmocka_unit_test_setup(test_predict_many, fixture_setup),
        cmocka_unit_test_setup(test_load_now, fixture_setup),
        cmocka_unit_test_setup(test_silent, fixture_setup),
        cmocka_unit_test(test_selected_twice),
        cmocka_unit_test_setup(test_threads, fixture_setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
