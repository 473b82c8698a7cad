/*
** tests/unit/test-report.c - `cleave report` as a library (fit/report.c) on a fixture store
** built through the store API: devices, samples under two load levels, models with known
** metrics (a NaN one, skipped families, missing LOLO metrics), held-out predictions and fit
** skips.  Checks the markdown and csv output against exact text, the gain computation against
** seed 002's own printed ratios, n/a handling, the loaded-sample metrics against a hand
** computation, the rows of the plot data files, and the error messages (unknown device, no
** models, unwritable plot directory, gnuplot missing or failing).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/store.h"
#include "common/sysinfo.h"
#include "fit/report.h"

static char tmpdir[64];
static char dbpath[128];
static int64_t fc_ids[6]; /* sample ids of the fc samples, in insertion (seq) order */

#define OK(st, call)                                                                               \
    do {                                                                                           \
        cleave_status rc_ = (call);                                                                \
        if (rc_ != CLEAVE_OK)                                                                      \
            fail_msg("%s: %s: %s", #call, cleave_status_name(rc_), cl_store_errmsg(st));           \
    } while (0)

/* ---- the fixture ---------------------------------------------------------------------------- */

static void make_sample(cl_sample *s, int64_t seq, const char *type, const char *spec, double cpu,
                        double median_us)
{
    memset(s, 0, sizeof *s);
    s->seq = seq;
    snprintf(s->type, sizeof s->type, "%s", type);
    snprintf(s->spec, sizeof s->spec, "%s", spec);
    snprintf(s->static_json, sizeof s->static_json, "{}");
    snprintf(s->load, sizeof s->load, "cpu=%g,membw=0,memcap=0", cpu);
    s->load_cpu = cpu;
    for (int f = 0; f < CLEAVE_LOAD_COUNT; f++)
        s->dyn[f] = NAN;
    s->dyn[CLEAVE_LOAD_CPU_UTIL] = cpu / 100.0;
    s->reps = 10;
    s->warmup = 5;
    s->median_us = s->min_us = s->p90_us = s->max_us = s->mean_us = median_us;
    s->threads = 1;
}

struct metrics4 {
    double r2, rmse, mape, within10;
};

static int64_t add_model(cl_store *st, int64_t dev, const char *type, const char *family,
                         const char *set, int selected, struct metrics4 cv, struct metrics4 lolo,
                         const char *detail)
{
    cl_model m;
    int64_t id = 0;
    memset(&m, 0, sizeof m);
    m.device_id = dev;
    snprintf(m.type, sizeof m.type, "%s", type);
    snprintf(m.family, sizeof m.family, "%s", family);
    snprintf(m.feature_set, sizeof m.feature_set, "%s", set);
    m.features = "[\"macs\"]";
    m.blob = "x";
    m.blob_bytes = 1;
    m.cv_r2 = cv.r2;
    m.cv_rmse = cv.rmse;
    m.cv_mape = cv.mape;
    m.cv_within10 = cv.within10;
    m.lolo_r2 = lolo.r2;
    m.lolo_rmse = lolo.rmse;
    m.lolo_mape = lolo.mape;
    m.lolo_within10 = lolo.within10;
    m.detail = detail;
    m.n_samples = strcmp(type, "fc") == 0 ? 6 : 2;
    m.selected = selected;
    snprintf(m.target, sizeof m.target, "mean");
    OK(st, cl_store_model_add(st, &m, &id));
    return id;
}

static void add_predictions(cl_store *st, int64_t model, const double *cv, const double *lolo)
{
    cl_prediction p[6];
    for (int i = 0; i < 6; i++) {
        p[i].sample_id = fc_ids[i];
        p[i].fold = i % 3;
        p[i].cv_us = cv[i];
        p[i].lolo_us = lolo[i];
    }
    OK(st, cl_store_predictions_add(st, model, p, 6));
}

static int collect_ids(const cl_sample *s, void *arg)
{
    int *n = arg;
    if (strcmp(s->type, "fc") == 0 && *n < 6)
        fc_ids[(*n)++] = s->id;
    return 0;
}

#define NA                                                                                         \
    {                                                                                              \
        NAN, NAN, NAN, NAN                                                                         \
    }

/* Device "dev": fc has 6 samples, the first three under cpu=50 and the last three idle (so that
** the first level met is not the first in order); lstm has 2 idle samples.  Device "bare" has
** samples but no models.  Metrics are made up; the predictions are chosen so that the loaded-
** sample R^2 can be computed by hand (see test_loaded). */
static void build_fixture(void)
{
    static const double median[6] = {15, 30, 60, 10, 20, 40};
    static const double cpu[6] = {50, 50, 50, 0, 0, 0};
    static const char det[] = "{\"hyper\":\"\",\"folds\":3,\"seed\":7,\"lolo_note\":\"\"}";
    static const char det_lolo[] =
        "{\"folds\":3,\"seed\":7,\"lolo_note\":\"load level 'cpu=50,membw=0,memcap=0' held out: "
        "singular matrix\"}";
    static const char det_one[] = "{\"folds\":2,\"seed\":7,\"lolo_note\":\"one load level: "
                                  "nothing to hold out\"}";
    cl_store *st = NULL;
    cl_device d;
    cl_sample s;
    int64_t dev, bare, run, run2;
    char err[512];

    snprintf(dbpath, sizeof dbpath, "%s/r.db", tmpdir);
    if (cl_store_open(&st, dbpath, CL_STORE_CREATE, err, sizeof err) != CLEAVE_OK)
        fail_msg("%s", err);
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "dev");
    d.threads = 1;
    OK(st, cl_store_device_ensure(st, &d, &dev));
    snprintf(d.name, sizeof d.name, "bare");
    OK(st, cl_store_device_ensure(st, &d, &bare));
    OK(st, cl_store_run_begin(st, dev, "{}", 1, 8, &run));
    OK(st, cl_store_run_begin(st, bare, "{}", 1, 1, &run2));
    OK(st, cl_store_batch_begin(st));
    for (int i = 0; i < 6; i++) {
        make_sample(&s, i, "fc", "fc n=1 c=16 h=1 w=1 k=16", cpu[i], median[i]);
        OK(st, cl_store_sample_add(st, run, &s));
    }
    for (int i = 6; i < 8; i++) {
        make_sample(&s, i, "lstm", "lstm t=2 n=1 c=8 k=8", 0, 100.0 * i);
        OK(st, cl_store_sample_add(st, run, &s));
    }
    make_sample(&s, 0, "fc", "fc n=1 c=16 h=1 w=1 k=16", 0, 5);
    OK(st, cl_store_sample_add(st, run2, &s));
    OK(st, cl_store_batch_commit(st));
    int n = 0;
    OK(st, cl_store_samples_foreach(st, "dev", "fc", collect_ids, &n));
    assert_int_equal(n, 6);

    OK(st, cl_store_tx_begin(st));
    add_model(st, dev, "fc", "logarithmic", "static", 0, (struct metrics4){0.8, 5.5, 12.5, 0.5},
              (struct metrics4){0.75, 6.0, 14.0, 0.4}, det);
    int64_t fc_sl =
        add_model(st, dev, "fc", "linear", "static", 1, (struct metrics4){0.9, 4.0, 10.0, 0.6},
                  (struct metrics4){0.85, 4.5, 11.0, 0.5}, det);
    OK(st, cl_store_fit_skip_add(st, dev, "fc", "lasso", "static", "6 rows for 7 parameters"));
    add_model(st, dev, "fc", "logarithmic", "dynamic", 0, (struct metrics4){0.88, 3.0, 9.0, 0.55},
              (struct metrics4)NA, det_lolo);
    int64_t fc_dl =
        add_model(st, dev, "fc", "linear", "dynamic", 1, (struct metrics4){0.95, 2.0, 6.0, 0.8},
                  (struct metrics4){0.9, 3.0, 8.0, 0.7}, det);
    add_model(st, dev, "fc", "polynomial", "dynamic", 0, (struct metrics4)NA, (struct metrics4)NA,
              det);
    add_model(st, dev, "lstm", "linear", "static", 1, (struct metrics4){-0.5, 100.0, 50.0, 0.1},
              (struct metrics4)NA, det_one);
    add_model(st, dev, "lstm", "linear", "dynamic", 1, (struct metrics4){0.6, 60.0, 25.0, 0.25},
              (struct metrics4)NA, det_one);
    OK(st, cl_store_fit_skip_add(st, dev, "lstm", "gbdt", "dynamic",
                                 "gbdt needs at least 10 rows, got 2"));
    /* A model of a family this cleave does not know (another version wrote it): left out. */
    add_model(st, dev, "fc", "splines", "static", 0, (struct metrics4){0.99, 1, 1, 1},
              (struct metrics4)NA, det);
    /* Held-out predictions in sample order: cpu=50 (15, 30, 60 us), then idle (10, 20, 40). */
    static const double sl_cv[6] = {14, 28, 50, 12, 22, 38};
    static const double sl_lolo[6] = {16, 29, 55, 11, 21, 39};
    static const double dl_cv[6] = {16, -1, 57, 11, 19, 44};
    static const double dl_lolo[6] = {15, 31, NAN, 10, 20, NAN};
    add_predictions(st, fc_sl, sl_cv, sl_lolo);
    add_predictions(st, fc_dl, dl_cv, dl_lolo);
    OK(st, cl_store_tx_commit(st));
    cl_store_close(st);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cleave-report-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    build_fixture();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Open the fixture read-only and load device DEV's report. */
static cl_store *load(fit_report *r, const char *dev)
{
    cl_store *st = NULL;
    char err[512];
    if (cl_store_open(&st, dbpath, CL_STORE_READONLY, err, sizeof err) != CLEAVE_OK)
        fail_msg("%s", err);
    if (fit_report_load(st, dev, r, err, sizeof err) != CLEAVE_OK)
        fail_msg("%s", err);
    return st;
}

/* The report of R in format FMT as a malloc'ed string. */
static char *render(const fit_report *r, fit_report_format fmt, fit_report_metric m,
                    const fit_report_plots *p)
{
    char *buf = NULL, err[256];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    cleave_status rc = fit_report_write(f, r, fmt, m, p, err, sizeof err);
    fclose(f);
    if (rc != CLEAVE_OK)
        fail_msg("%s", err);
    return buf;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open '%s'", path);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Compare line by line, so that a failure names the first differing line. */
static void assert_text(const char *got, const char *want)
{
    int line = 1;
    const char *g = got, *w = want;
    while (*g && *w) {
        size_t gl = strcspn(g, "\n"), wl = strcspn(w, "\n");
        if (gl != wl || memcmp(g, w, gl) != 0)
            fail_msg("line %d differs:\n got: %.*s\nwant: %.*s", line, (int)gl, g, (int)wl, w);
        g += gl + (g[gl] == '\n');
        w += wl + (w[wl] == '\n');
        line++;
    }
    if (*g || *w)
        fail_msg("length differs at line %d:\n got: %.200s\nwant: %.200s", line, g, w);
}

/* NEEDLE occurs in HAYSTACK; on failure the whole text is shown. */
#define assert_has(haystack, needle)                                                               \
    do {                                                                                           \
        if (!strstr((haystack), (needle)))                                                         \
            fail_msg("missing:\n%s\n--- in:\n%s", (needle), (haystack));                           \
    } while (0)

/* ---- tests ---------------------------------------------------------------------------------- */

/* What the store holds ends up in the right cells. */
static void test_load(void **state)
{
    (void)state;
    fit_report r;
    cl_store *st = load(&r, "dev");
    assert_int_equal(r.ntypes, 2);
    assert_int_equal(r.types[0].type, CLEAVE_LAYER_FC); /* catalogue order: fc before lstm */
    assert_int_equal(r.types[1].type, CLEAVE_LAYER_LSTM);
    assert_int_equal(r.nmodels, 7);
    assert_int_equal(r.nskips, 2);
    assert_int_equal(r.nignored, 1);
    assert_int_equal(r.folds, 3);
    assert_int_equal(r.seed, 7);
    const fit_report_type *fc = &r.types[0];
    assert_int_equal(fc->selected[FIT_SET_STATIC], FIT_LINEAR);
    assert_int_equal(fc->selected[FIT_SET_DYNAMIC], FIT_LINEAR);
    assert_int_equal(fc->cell[FIT_SET_STATIC][FIT_LASSO].state, FIT_CELL_SKIPPED);
    assert_string_equal(fc->cell[FIT_SET_STATIC][FIT_LASSO].reason, "6 rows for 7 parameters");
    assert_int_equal(fc->cell[FIT_SET_STATIC][FIT_GBDT].state, FIT_CELL_ABSENT);
    assert_int_equal(fc->cell[FIT_SET_DYNAMIC][FIT_POLY].state, FIT_CELL_FITTED);
    assert_true(isnan(fc->cell[FIT_SET_DYNAMIC][FIT_POLY].cv.r2));
    assert_int_equal(fc->cell[FIT_SET_DYNAMIC][FIT_POLY].cv.n, 0);
    assert_int_equal(fc->cell[FIT_SET_DYNAMIC][FIT_LINEAR].cv.n, 6);
    assert_string_equal(fc->cell[FIT_SET_DYNAMIC][FIT_LOG].lolo_note,
                        "load level 'cpu=50,membw=0,memcap=0' held out: singular matrix");
    assert_int_equal(r.types[1].cell[FIT_SET_DYNAMIC][FIT_GBDT].state, FIT_CELL_SKIPPED);
    fit_report_release(&r);
    cl_store_close(st);
}

/* The selected models' R^2 on the samples under load (cpu=50: 15, 30, 60 us), by hand:
**   static  k-fold  14, 28, 50:  SS_res = 1 + 4 + 100 = 105, SS_tot = 400 + 25 + 625 = 1050,
**                                R^2 = 0.9
**   dynamic k-fold  16, -1, 57:  SS_res = 1 + 961 + 9 = 971, R^2 = 79 / 1050
**   static  LOLO    16, 29, 55:  SS_res = 1 + 1 + 25 = 27,   R^2 = 1 - 27 / 1050
**   dynamic LOLO    15, 31, NaN: the NaN pair is skipped: n = 2, y = 15, 30 (mean 22.5),
**                                SS_res = 1, SS_tot = 112.5, R^2 = 1 - 1 / 112.5 */
static void test_loaded(void **state)
{
    (void)state;
    fit_report r;
    cl_store *st = load(&r, "dev");
    const fit_report_cell *s = &r.types[0].cell[FIT_SET_STATIC][FIT_LINEAR];
    const fit_report_cell *d = &r.types[0].cell[FIT_SET_DYNAMIC][FIT_LINEAR];
    assert_int_equal(s->loaded_cv.n, 3);
    assert_float_equal(s->loaded_cv.r2, 0.9, 1e-12);
    assert_float_equal(d->loaded_cv.r2, 79.0 / 1050.0, 1e-12);
    assert_float_equal(s->loaded_lolo.r2, 1.0 - 27.0 / 1050.0, 1e-12);
    assert_int_equal(d->loaded_lolo.n, 2);
    assert_float_equal(d->loaded_lolo.r2, 1.0 - 1.0 / 112.5, 1e-12);
    /* Not selected: not computed.  lstm's selected models have no predictions: n = 0. */
    assert_int_equal(r.types[0].cell[FIT_SET_STATIC][FIT_LOG].loaded_cv.n, 0);
    assert_int_equal(r.types[1].cell[FIT_SET_STATIC][FIT_LINEAR].loaded_cv.n, 0);
    fit_report_release(&r);
    cl_store_close(st);
}

/* Seed 002's gain table and Experiment 1 print the increase ratio rounded to 0.01 %; ours
** reproduces each from the seed's own R^2 (within 0.01: the seed's softmax linear ratio reads
** 1.27 % where 0.9712 -> 0.9836 gives 1.2768 %, which its Experiment 1 prints as 1.28 %). */
static void test_gain(void **state)
{
    (void)state;
    static const struct {
        cleave_layer_type t;
        double linear, log, total;
    } printed[] = {
        {CLEAVE_LAYER_CONV, 28.26, 6.71, 45.92}, {CLEAVE_LAYER_POOL, 1.79, 23.48, 3.73},
        {CLEAVE_LAYER_FC, 30.27, 11.84, 16.10},  {CLEAVE_LAYER_BN, 3.56, 37.58, 4.69},
        {CLEAVE_LAYER_ACT, 20.20, 23.69, 21.58}, {CLEAVE_LAYER_SOFTMAX, 1.27, 24.77, 1.28},
        {CLEAVE_LAYER_ARGMAX, 2.27, 20.93, 2.53}};
    for (size_t i = 0; i < sizeof printed / sizeof printed[0]; i++) {
        const fit_seed002_row *s = fit_report_seed002(printed[i].t);
        assert_non_null(s);
        assert_float_equal(fit_report_gain_pct(s->linear_static, s->linear_dynamic),
                           printed[i].linear, 0.01);
        assert_float_equal(fit_report_gain_pct(s->log_static, s->log_dynamic), printed[i].log,
                           0.01);
        assert_float_equal(fit_report_gain_pct(s->baseline_static, s->best_dynamic),
                           printed[i].total, 0.01);
    }
    /* The DESIGN.md figures. */
    assert_float_equal(fit_report_seed002(CLEAVE_LAYER_CONV)->best_dynamic, 0.9758, 0);
    assert_float_equal(fit_report_seed002(CLEAVE_LAYER_POOL)->baseline_static, 0.9604, 0);
    assert_float_equal(fit_report_seed002(CLEAVE_LAYER_FC)->baseline_static, 0.8321, 0);
    assert_null(fit_report_seed002(CLEAVE_LAYER_LSTM));
    assert_float_equal(fit_report_gain_pct(0.5, 0.75), 50.0, 1e-12);
    assert_float_equal(fit_report_gain_pct(0.8, 0.6), -25.0, 1e-12);
    assert_true(isnan(fit_report_gain_pct(0.0, 0.5)));
    assert_true(isnan(fit_report_gain_pct(-0.5, 0.6)));
    assert_true(isnan(fit_report_gain_pct(NAN, 0.6)));
    assert_true(isnan(fit_report_gain_pct(0.5, INFINITY)));
}

static const char want_markdown[] =
    "## cleave report: device `dev`\n"
    "\n"
    "Store `@DB@`: 2 layer types, 7 models, 2 skipped; R² on held-out data (3-fold "
    "cross-validation), seed 7; models predict the mean latency of the repetitions.\n"
    "\n"
    "1 stored models or skips of unknown type, family or feature set were left out.\n"
    "\n"
    "### (a) R² per layer type and family, static features (3-fold cross-validation)\n"
    "\n"
    "| type | logarithmic | linear | lasso | ridge | kernel ridge | polynomial | GBDT |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|\n"
    "| fc | 0.8000 | 0.9000* | - |  |  |  |  |\n"
    "| lstm |  | -0.5000* |  |  |  |  |  |\n"
    "\n"
    "`*` = selected family (best k-fold R²); `-` = skipped (reasons below); blank = not fitted; "
    "n/a = not computed.\n"
    "\n"
    "skipped:\n"
    "\n"
    "- fc, lasso: 6 rows for 7 parameters\n"
    "\n"
    "### (a) R² per layer type and family, static + dynamic features (3-fold cross-validation)\n"
    "\n"
    "| type | logarithmic | linear | lasso | ridge | kernel ridge | polynomial | GBDT |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|\n"
    "| fc | 0.8800 | 0.9500* |  |  |  | n/a |  |\n"
    "| lstm |  | 0.6000* |  |  |  |  | - |\n"
    "\n"
    "`*` = selected family (best k-fold R²); `-` = skipped (reasons below); blank = not fitted; "
    "n/a = not computed.\n"
    "\n"
    "skipped:\n"
    "\n"
    "- lstm, GBDT: gbdt needs at least 10 rows, got 2\n"
    "\n"
    "### (b) Dynamic-feature gain: R² static → static+dynamic features (3-fold "
    "cross-validation), increase = (dynamic − static) / static\n"
    "\n"
    "| type | source | linear static | linear dynamic | linear increase | logarithmic static | "
    "logarithmic dynamic | logarithmic increase | selected family | selected static | selected "
    "dynamic | selected increase |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n"
    "| fc | cleave | 0.9000 | 0.9500 | 5.56% | 0.8000 | 0.8800 | 10.00% | linear | 0.9000 | "
    "0.9500 | 5.56% |\n"
    "|  | seed 002 | 0.6461 | 0.8417 | 30.27% | 0.8321 | 0.9306 | 11.84% | NS → polynomial | "
    "0.8321 | 0.9661 | 16.10% |\n"
    "| lstm | cleave | -0.5000 | 0.6000 | n/a | n/a | n/a | n/a | linear | -0.5000 | 0.6000 | "
    "n/a |\n"
    "\n"
    "*selected* = the family selected on static+dynamic features, evaluated on both sets. Rows "
    "*seed 002* are the seed's published R² (its \"Dynamic Characteristic Gain\" table; under "
    "*selected*, its \"Experiment 1\": Neurosurgeon (NS) on static features → its own model on "
    "static+dynamic features), measured on its devices and layers, not ours; cleave rows are "
    "held-out R² on this device. An increase is n/a when the static R² is not positive.\n"
    "\n"
    "### (b) Selected models on the samples taken under load only (3-fold cross-validation)\n"
    "\n"
    "| type | loaded samples | static family | static R² | static+dynamic family | "
    "static+dynamic R² | increase |\n"
    "|---|---:|---|---:|---|---:|---:|\n"
    "| fc | 3 | linear | 0.9000 | linear | 0.0752 | -91.64% |\n"
    "\n"
    "Held-out predictions of the selected models, restricted to samples whose load level is not "
    "idle (cpu, membw and memcap not all 0).\n"
    "\n"
    "### (c) Selected models: share within ±10 %, MAPE and RMSE (3-fold cross-validation and "
    "leave-one-load-level-out)\n"
    "\n"
    "| type | features | family | n | k-fold R² | k-fold ±10 % | k-fold MAPE | k-fold RMSE µs | "
    "LOLO R² | LOLO ±10 % | LOLO MAPE | LOLO RMSE µs |\n"
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    "| fc | static | linear | 6 | 0.9000 | 60.0% | 10.0% | 4.00 | 0.8500 | 50.0% | 11.0% | 4.50 "
    "|\n"
    "|  | static+dynamic | linear | 6 | 0.9500 | 80.0% | 6.0% | 2.00 | 0.9000 | 70.0% | 8.0% | "
    "3.00 |\n"
    "| lstm | static | linear | 2 | -0.5000 | 10.0% | 50.0% | 100.00 | n/a | n/a | n/a | n/a |\n"
    "|  | static+dynamic | linear | 2 | 0.6000 | 25.0% | 25.0% | 60.00 | n/a | n/a | n/a | n/a "
    "|\n"
    "\n"
    "LOLO n/a:\n"
    "\n"
    "- one load level: nothing to hold out (lstm static, lstm static+dynamic)\n";

/* Replace the first "@DB@" of TEMPLATE by the fixture's path. */
static char *with_db(const char *tmpl)
{
    const char *at = strstr(tmpl, "@DB@");
    assert_non_null(at);
    char *out = malloc(strlen(tmpl) + strlen(dbpath) + 1);
    assert_non_null(out);
    sprintf(out, "%.*s%s%s", (int)(at - tmpl), tmpl, dbpath, at + 4);
    return out;
}

static void test_markdown(void **state)
{
    (void)state;
    fit_report r;
    cl_store *st = load(&r, "dev");
    char *got = render(&r, FIT_REPORT_MARKDOWN, FIT_REPORT_CV, NULL);
    char *want = with_db(want_markdown);
    assert_text(got, want);
    free(got);
    free(want);
    fit_report_release(&r);
    cl_store_close(st);
}

static const char want_csv[] =
    "device,type,feature_set,family,status,selected,n_samples,cv_r2,cv_rmse_us,cv_mape_pct,"
    "cv_within10_pct,lolo_r2,lolo_rmse_us,lolo_mape_pct,lolo_within10_pct,loaded_n,loaded_cv_r2,"
    "loaded_lolo_r2,note\n"
    "dev,fc,static,logarithmic,fitted,0,6,0.8,5.5,12.5,50,0.75,6,14,40,n/a,n/a,n/a,\n"
    "dev,fc,static,linear,fitted,1,6,0.9,4,10,60,0.85,4.5,11,50,3,0.9,0.9742857142857143,\n"
    "dev,fc,static,lasso,skipped,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,6 rows for 7 "
    "parameters\n"
    "dev,fc,static,ridge,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,fc,static,kernel_ridge,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,fc,static,polynomial,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,fc,static,gbdt,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,fc,dynamic,logarithmic,fitted,0,6,0.88,3,9,55.00000000000001,n/a,n/a,n/a,n/a,n/a,n/a,n/"
    "a,\"load level 'cpu=50,membw=0,memcap=0' held out: singular matrix\"\n"
    "dev,fc,dynamic,linear,fitted,1,6,0.95,2,6,80,0.9,3,8,70,3,0.07523809523809524,"
    "0.9911111111111112,\n"
    "dev,fc,dynamic,lasso,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,fc,dynamic,ridge,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,fc,dynamic,kernel_ridge,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,fc,dynamic,polynomial,fitted,0,6,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,fc,dynamic,gbdt,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,lstm,static,logarithmic,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,lstm,static,linear,fitted,1,2,-0.5,100,50,10,n/a,n/a,n/a,n/a,n/a,n/a,n/a,one load "
    "level: nothing to hold out\n"
    "dev,lstm,static,lasso,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,lstm,static,ridge,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,lstm,static,kernel_ridge,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,lstm,static,polynomial,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,lstm,static,gbdt,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,lstm,dynamic,logarithmic,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,lstm,dynamic,linear,fitted,1,2,0.6,60,25,25,n/a,n/a,n/a,n/a,n/a,n/a,n/a,one load "
    "level: nothing to hold out\n"
    "dev,lstm,dynamic,lasso,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,lstm,dynamic,ridge,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,lstm,dynamic,kernel_ridge,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,lstm,dynamic,polynomial,absent,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\n"
    "dev,lstm,dynamic,gbdt,skipped,0,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,n/a,\"gbdt needs "
    "at least 10 rows, got 2\"\n";

static void test_csv(void **state)
{
    (void)state;
    fit_report r;
    cl_store *st = load(&r, "dev");
    char *got = render(&r, FIT_REPORT_CSV, FIT_REPORT_CV, NULL);
    assert_text(got, want_csv);
    free(got);
    /* The metric only changes the tables' R^2, never the csv. */
    got = render(&r, FIT_REPORT_CSV, FIT_REPORT_LOLO, NULL);
    assert_text(got, want_csv);
    free(got);
    fit_report_release(&r);
    cl_store_close(st);
}

/* The text table: aligned columns, the '*' hanging right of the digits, n/a and '-'; the
** LOLO metric switches the R^2 of tables (a) and (b). */
static void test_table_and_lolo(void **state)
{
    (void)state;
    fit_report r;
    cl_store *st = load(&r, "dev");
    char *got = render(&r, FIT_REPORT_TABLE, FIT_REPORT_CV, NULL);
    assert_has(got, "type  logarithmic    linear  lasso  ridge  kernel ridge  "
                    "polynomial  GBDT\n"
                    "fc         0.8000   0.9000*      -\n"
                    "lstm               -0.5000*\n");
    assert_has(got, "fc         0.8800  0.9500*                                     n/a\n");
    assert_has(got, "skipped:\n  fc, lasso: 6 rows for 7 parameters\n");
    free(got);
    got = render(&r, FIT_REPORT_MARKDOWN, FIT_REPORT_LOLO, NULL);
    assert_has(got, "static features (leave-one-load-level-out)");
    assert_has(got, "| fc | 0.7500 | 0.8500* | - |  |  |  |  |\n");
    assert_has(got, "| fc | n/a | 0.9000* |  |  |  | n/a |  |\n");
    /* Loaded samples under LOLO: 1 - 27/1050 = 0.9743 and 1 - 1/112.5 = 0.9911 (n = 3 / 2). */
    assert_has(got, "| fc | 3/2 | linear | 0.9743 | linear | 0.9911 | 1.73% |\n");
    free(got);
    fit_report_release(&r);
    cl_store_close(st);
}

static void test_json(void **state)
{
    (void)state;
    fit_report r;
    cl_store *st = load(&r, "dev");
    char *got = render(&r, FIT_REPORT_JSON, FIT_REPORT_CV, NULL);
    assert_has(got, "{\"device\":\"dev\",");
    assert_has(got, "\"metric\":\"cv\",\"folds\":3,\"seed\":7,\"target\":\"mean\","
                    "\"mixed_targets\":false,\"models\":7,"
                    "\"skips\":2,\"ignored\":1,");
    assert_has(got, "{\"family\":\"lasso\",\"status\":\"skipped\",\"selected\":false,"
                    "\"reason\":\"6 rows for 7 parameters\"}");
    assert_has(got, "\"cv\":{\"r2\":null,\"rmse_us\":null,\"mape_pct\":null,"
                    "\"within10_pct\":null,\"n\":0}");
    assert_has(got, "\"gain\":{\"linear\":{\"static_r2\":0.9,\"dynamic_r2\":0.95,"
                    "\"increase_pct\":5.55555555555554");
    assert_has(got, "\"seed002\":{\"name\":\"fc\",\"linear\":{\"static_r2\":0.6461,");
    assert_has(got, "\"seed002\":null");
    assert_has(got, "\"plots\":null}\n");
    free(got);
    fit_report_release(&r);
    cl_store_close(st);
}

static void test_errors(void **state)
{
    (void)state;
    fit_report r;
    cl_store *st = NULL;
    char err[512], want[512];
    if (cl_store_open(&st, dbpath, CL_STORE_READONLY, err, sizeof err) != CLEAVE_OK)
        fail_msg("%s", err);
    assert_int_equal(fit_report_load(st, "nope", &r, err, sizeof err), CLEAVE_EINVAL);
    snprintf(want, sizeof want, "no device 'nope' in '%s'", dbpath);
    assert_string_equal(err, want);
    fit_report_release(&r);
    assert_int_equal(fit_report_load(st, "bare", &r, err, sizeof err), CLEAVE_ENOMODEL);
    snprintf(want, sizeof want,
             "device 'bare' has no fitted models in '%s'; run 'cleave fit --device bare' first",
             dbpath);
    assert_string_equal(err, want);
    fit_report_release(&r);
    assert_int_equal(fit_report_format_from_name("markdown"), FIT_REPORT_MARKDOWN);
    assert_int_equal(fit_report_format_from_name("xml"), -1);
    assert_int_equal(fit_report_metric_from_name("lolo"), FIT_REPORT_LOLO);
    assert_int_equal(fit_report_metric_from_name("r2"), -1);
    cl_store_close(st);
}

static const char want_latency_dat[] =
    "# fc: measured latency per load level (the samples of the selected static+dynamic model) "
    "and the selected models' mean held-out (3-fold cross-validation) predictions\n"
    "# quartiles by linear interpolation (Hyndman & Fan type 7); NaN = none, or a non-positive "
    "mean (log scale)\n"
    "# columns: x load n min_us q1_us median_us q3_us max_us mean_us dynamic_pred_mean_us "
    "static_pred_mean_us\n"
    "0 \"cpu=0,membw=0,memcap=0\" 3 10 15 20 30 40 23.3333333 24.6666667 24\n"
    "1 \"cpu=50,membw=0,memcap=0\" 3 15 22.5 30 45 60 35 24 30.6666667\n";

static const char want_r2_dat[] =
    "# R² (3-fold cross-validation) of the selected model per layer type: static vs "
    "static+dynamic features\n"
    "# columns: x type static_r2 dynamic_r2 static_family dynamic_family\n"
    "0 fc 0.9 0.95 linear linear\n"
    "1 lstm -0.5 0.6 linear linear\n";

/* Plot files without rendering: the data rows, the list of files, the notes. */
static void test_plot_data(void **state)
{
    (void)state;
    fit_report r;
    fit_report_plots p;
    char dir[128], path[256], err[512], want[1024];
    cl_store *st = load(&r, "dev");
    snprintf(dir, sizeof dir, "%s/plots/sub", tmpdir); /* parents are created */
    if (fit_report_plot(st, &r, FIT_REPORT_CV, dir, NULL, &p, err, sizeof err) != CLEAVE_OK)
        fail_msg("%s", err);
    static const char *files[] = {"r2-static-vs-dynamic.dat",     "r2-static-vs-dynamic.gp",
                                  "predicted-vs-measured-fc.dat", "predicted-vs-measured-fc.gp",
                                  "latency-vs-load-fc.dat",       "latency-vs-load-fc.gp"};
    assert_int_equal(p.nfiles, 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(p.files[i], files[i]);
    assert_int_equal(p.ngp, 3);
    assert_int_equal(p.ndat, 3);
    assert_int_equal(p.npng, 0);
    assert_int_equal(p.nnotes, 1);
    assert_string_equal(p.notes[0], "lstm: the selected static+dynamic model has no stored "
                                    "predictions");

    /* Predicted vs measured: idle level first although met second; the -1 prediction is left
    ** out (log scale) and counted. */
    snprintf(path, sizeof path, "%s/predicted-vs-measured-fc.dat", dir);
    char *got = slurp(path);
    snprintf(want, sizeof want,
             "# fc: measured latency vs held-out (3-fold cross-validation) prediction of the "
             "selected static+dynamic model (linear)\n"
             "# columns: measured_us predicted_us sample_id; one block per load level\n"
             "# 5 of 6 predictions are shown; 1 are not positive or not finite and are left out "
             "(log scale)\n"
             "# block 0: load cpu=0,membw=0,memcap=0 (3 samples)\n"
             "10 11 %lld\n20 19 %lld\n40 44 %lld\n"
             "\n\n"
             "# block 1: load cpu=50,membw=0,memcap=0 (2 samples)\n"
             "15 16 %lld\n60 57 %lld\n",
             (long long)fc_ids[3], (long long)fc_ids[4], (long long)fc_ids[5], (long long)fc_ids[0],
             (long long)fc_ids[2]);
    assert_text(got, want);
    free(got);
    snprintf(path, sizeof path, "%s/predicted-vs-measured-fc.gp", dir);
    got = slurp(path);
    assert_has(got, "set logscale xy\n");
    assert_has(got, "set output \"predicted-vs-measured-fc.png\"\n");
    assert_has(got, "\"predicted-vs-measured-fc.dat\" index 1 using 1:2 with points "
                    "pt 5 ps 0.8 title \"cpu=50,membw=0,memcap=0 (2)\"\n");
    free(got);

    /* Latency vs load: quartiles of (10, 20, 40) and (15, 30, 60), type 7; the means of the
    ** predictions include the -1 (it is a finite prediction). */
    snprintf(path, sizeof path, "%s/latency-vs-load-fc.dat", dir);
    got = slurp(path);
    assert_text(got, want_latency_dat);
    free(got);
    snprintf(path, sizeof path, "%s/r2-static-vs-dynamic.dat", dir);
    got = slurp(path);
    assert_text(got, want_r2_dat);
    free(got);

    /* The plot section of the report lists them. */
    got = render(&r, FIT_REPORT_TABLE, FIT_REPORT_CV, &p);
    snprintf(want, sizeof want, "\n(d) Plots\n\nwrote 6 files to %s:\n  r2-static-vs-dynamic.dat\n",
             dir);
    assert_has(got, want);
    assert_has(got, "not drawn:\n  lstm: the selected static+dynamic model has no "
                    "stored predictions\n");
    free(got);
    fit_report_plots_release(&p);

    /* LOLO predictions: the dynamic model has NaN for two samples: left out. */
    if (fit_report_plot(st, &r, FIT_REPORT_LOLO, dir, NULL, &p, err, sizeof err) != CLEAVE_OK)
        fail_msg("%s", err);
    snprintf(path, sizeof path, "%s/predicted-vs-measured-fc.dat", dir);
    got = slurp(path);
    assert_has(got, "# 4 of 6 predictions are shown; 2 are not positive");
    assert_has(got, "# block 1: load cpu=50,membw=0,memcap=0 (2 samples)\n15 15 ");
    free(got);
    fit_report_plots_release(&p);
    fit_report_release(&r);
    cl_store_close(st);
}

/* gnuplot missing, gnuplot failing, an unwritable directory; and, where gnuplot exists, real
** PNGs. */
static void test_plot_gnuplot(void **state)
{
    (void)state;
    fit_report r;
    fit_report_plots p;
    char dir[128], path[256], err[512], want[1024];
    cl_store *st = load(&r, "dev");

    snprintf(dir, sizeof dir, "%s/nognuplot", tmpdir);
    if (fit_report_plot(st, &r, FIT_REPORT_CV, dir, "cleave-no-such-gnuplot", &p, err,
                        sizeof err) != CLEAVE_OK)
        fail_msg("%s", err);
    assert_true(p.gnuplot_missing);
    assert_int_equal(p.nfiles, 6);
    fit_report_plots_message(&p, err, sizeof err);
    snprintf(want, sizeof want, "gnuplot not found: wrote 6 .gp and .dat files to %s", dir);
    assert_string_equal(err, want);
    char *got = render(&r, FIT_REPORT_MARKDOWN, FIT_REPORT_CV, &p);
    snprintf(want, sizeof want,
             "### (d) Plots\n\ngnuplot not found: wrote 6 .gp and .dat files "
             "to %s:\n\n- `r2-static-vs-dynamic.dat`\n",
             dir);
    assert_has(got, want);
    free(got);
    fit_report_plots_release(&p);

    /* A gnuplot that fails: the error names the script. */
    snprintf(dir, sizeof dir, "%s/failing", tmpdir);
    assert_int_equal(fit_report_plot(st, &r, FIT_REPORT_CV, dir, "false", &p, err, sizeof err),
                     CLEAVE_EIO);
    snprintf(want, sizeof want, "gnuplot failed on '%s/r2-static-vs-dynamic.gp': exit status 1",
             dir);
    assert_string_equal(err, want);
    fit_report_plots_release(&p);

    /* A directory that cannot be created (a regular file is in the way: root-proof). */
    snprintf(path, sizeof path, "%s/afile", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(dir, sizeof dir, "%s/afile/plots", tmpdir);
    assert_int_equal(fit_report_plot(st, &r, FIT_REPORT_CV, dir, NULL, &p, err, sizeof err),
                     CLEAVE_EIO);
    snprintf(want, sizeof want, "cannot create directory '%s': not a directory", dir);
    assert_string_equal(err, want);
    fit_report_plots_release(&p);
    assert_int_equal(fit_report_plot(st, &r, FIT_REPORT_CV, path, NULL, &p, err, sizeof err),
                     CLEAVE_EIO);
    snprintf(want, sizeof want, "cannot create directory '%s': not a directory", path);
    assert_string_equal(err, want);
    fit_report_plots_release(&p);

    if (cl_in_path("gnuplot")) {
        snprintf(dir, sizeof dir, "%s/png", tmpdir);
        if (fit_report_plot(st, &r, FIT_REPORT_CV, dir, "gnuplot", &p, err, sizeof err) !=
            CLEAVE_OK)
            fail_msg("%s", err);
        assert_false(p.gnuplot_missing);
        assert_int_equal(p.npng, 3);
        assert_int_equal(p.nfiles, 9);
        assert_string_equal(p.files[2], "r2-static-vs-dynamic.png");
        for (size_t i = 0; i < p.nfiles; i++) {
            struct stat sb;
            snprintf(path, sizeof path, "%s/%s", dir, p.files[i]);
            assert_int_equal(stat(path, &sb), 0);
            assert_true(sb.st_size > 0);
        }
        fit_report_plots_release(&p);
    } else
        print_message("gnuplot not in PATH: rendering not tested\n");
    fit_report_release(&r);
    cl_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load),      cmocka_unit_test(test_loaded),
        cmocka_unit_test(test_gain),      cmocka_unit_test(test_markdown),
        cmocka_unit_test(test_csv),       cmocka_unit_test(test_table_and_lolo),
        cmocka_unit_test(test_json),      cmocka_unit_test(test_errors),
        cmocka_unit_test(test_plot_data), cmocka_unit_test(test_plot_gnuplot),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
