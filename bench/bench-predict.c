/*
** bench/bench-predict.c - how fast the public predict API answers: predictions per second on one
** core for every regression family (static and dynamic feature sets) and for the fallback, next
** to the bare fit_predict() on prebuilt rows, and heap allocations per call.  Prints figures;
** not a test.
**
**   bench-predict [--seconds S] [--rows N] [--seed S] [--keep PATH]
**
** Models are trained on N synthetic conv samples (latency a known function of MACs and bytes
** times (1 + other_cpu), log-normal noise), stored in a temporary store (or PATH) as the
** selected model of device "bench-<family>", and queried through cleave_predict() over 1024
** distinct conv layers (and loads) in turn, for S seconds per row of the table.
**
** Allocations are counted by replacing malloc, calloc, realloc, posix_memalign, aligned_alloc
** and memalign in this executable (they forward to glibc's __libc_* entry points), so every
** allocation in the process is seen, the library's and its dependencies' included.  The count
** over the timed calls is printed; it should be 0.  Under ASan or TSan, which own malloc, the
** counting is off.
*/
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cleave/cleave.h>

#include "common/rng.h"
#include "common/store.h"
#include "fit/design.h"
#include "fit/model.h"

/* ---- allocation counting ------------------------------------------------------------------ */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNT_ALLOCS 0
static unsigned long long alloc_count(void)
{
    return 0;
}
#else
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

static atomic_ullong nallocs;

static unsigned long long alloc_count(void)
{
    return atomic_load_explicit(&nallocs, memory_order_relaxed);
}

static void counted(void)
{
    atomic_fetch_add_explicit(&nallocs, 1, memory_order_relaxed);
}

void *malloc(size_t n)
{
    counted();
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    counted();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    counted();
    return __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}

void *memalign(size_t align, size_t n)
{
    counted();
    return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    counted();
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    counted();
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}
#endif

/* ---- data ----------------------------------------------------------------------------------- */

#define POOL 1024

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double gauss(uint64_t *s)
{
    double u = cl_rng_uniform(s), v = cl_rng_uniform(s);
    return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2.0 * M_PI * v);
}

/* A random valid conv layer, VGG/ResNet-like shapes. */
static void random_conv(cleave_layer *l, uint64_t *rng)
{
    static const int kernels[] = {1, 3, 3, 5, 7};
    char err[256];
    do {
        cleave_layer_init(l, CLEAVE_LAYER_CONV);
        l->c = 8 + (int64_t)(cl_rng_next(rng) % 505);
        l->k = 8 + (int64_t)(cl_rng_next(rng) % 505);
        l->h = l->w = 7 + (int64_t)(cl_rng_next(rng) % 106);
        l->kh = l->kw = kernels[cl_rng_next(rng) % 5];
        l->sh = l->sw = 1 + (int64_t)(cl_rng_next(rng) % 2);
        l->pt = l->pl = l->pb = l->pr = l->kh / 2;
    } while (cleave_layer_validate(l, err, sizeof err) != CLEAVE_OK);
}

static void random_load(cleave_load *load, uint64_t *rng)
{
    cleave_load_init(load);
    double u = cl_rng_uniform(rng);
    load->v[CLEAVE_LOAD_CPU_UTIL] = u;
    load->v[CLEAVE_LOAD_OTHER_CPU] = 0.9 * u;
    load->v[CLEAVE_LOAD_SYS_CPU] = 0.05 * cl_rng_uniform(rng);
    load->v[CLEAVE_LOAD_PSI_CPU] = 0.5 * u;
}

static double true_latency_us(const cleave_layer *l, const cleave_load *load)
{
    double f[CLEAVE_FEAT_COUNT];
    cleave_layer_features(l, f);
    double idle =
        5.0 + f[CLEAVE_FEAT_MACS] / 2e4 +
        (f[CLEAVE_FEAT_IN_BYTES] + f[CLEAVE_FEAT_OUT_BYTES] + f[CLEAVE_FEAT_W_BYTES]) / 5e3;
    return idle * (1.0 + load->v[CLEAVE_LOAD_OTHER_CPU]);
}

/* The features a model of SET uses: conv's static features, plus four load features. */
static void features_of(fit_features *f, fit_feature_set set)
{
    memset(f, 0, sizeof *f);
    f->nstatic = cleave_layer_type_features(CLEAVE_LAYER_CONV, f->statics, CLEAVE_FEAT_COUNT);
    if (set == FIT_SET_DYNAMIC) {
        f->dynamics[f->ndynamic++] = CLEAVE_LOAD_SYS_CPU;
        f->dynamics[f->ndynamic++] = CLEAVE_LOAD_CPU_UTIL;
        f->dynamics[f->ndynamic++] = CLEAVE_LOAD_OTHER_CPU;
        f->dynamics[f->ndynamic++] = CLEAVE_LOAD_PSI_CPU;
    }
}

/* Train FAMILY on the rows of SET and store it as the selected conv model of device DEV. */
static int store_model(cl_store *st, int64_t dev, fit_family family, fit_feature_set set,
                       const cleave_layer *layers, const cleave_load *loads, const double *y,
                       size_t n, uint64_t seed)
{
    fit_features f;
    fit_opts o;
    fit_model *m = NULL;
    double *x = NULL;
    void *blob = NULL;
    size_t bytes = 0;
    char *names = NULL, err[512];
    cl_model row;
    int ok = 0;

    features_of(&f, set);
    size_t p = (size_t)fit_features_count(&f);
    if (!(x = malloc(n * p * sizeof *x)))
        goto done;
    for (size_t i = 0; i < n; i++)
        if (fit_row(&f, &layers[i], &loads[i], x + i * p) != 0)
            goto done;
    fit_opts_default(&o, family);
    o.seed = seed;
    if (fit_train(&m, family, x, n, p, y, &o, err, sizeof err) != CLEAVE_OK) {
        fprintf(stderr, "bench-predict: %s %s: %s\n", fit_family_name(family),
                fit_feature_set_name(set), err);
        goto done;
    }
    if (fit_model_save(m, &blob, &bytes) != CLEAVE_OK || !(names = fit_features_json(&f)))
        goto done;
    memset(&row, 0, sizeof row);
    row.device_id = dev;
    snprintf(row.type, sizeof row.type, "conv");
    snprintf(row.family, sizeof row.family, "%s", fit_family_name(family));
    snprintf(row.feature_set, sizeof row.feature_set, "%s", fit_feature_set_name(set));
    row.features = names;
    row.blob = blob;
    row.blob_bytes = bytes;
    row.cv_r2 = row.cv_rmse = row.cv_mape = row.cv_within10 = NAN;
    row.lolo_r2 = row.lolo_rmse = row.lolo_mape = row.lolo_within10 = NAN;
    row.n_samples = (int64_t)n;
    row.selected = 1;
    if (cl_store_model_add(st, &row, NULL) != CLEAVE_OK) {
        fprintf(stderr, "bench-predict: %s\n", cl_store_errmsg(st));
        goto done;
    }
    ok = 1;
done:
    fit_model_free(m);
    free(x);
    free(blob);
    free(names);
    return ok;
}

/* Samples of device "bench-fallback" (no models), at the idle level and one loaded level. */
static int store_samples(cl_store *st, int64_t dev, const cleave_layer *layers,
                         const cleave_load *loads, const double *y, size_t n)
{
    cl_sample *s = calloc(1, sizeof *s);
    int64_t run = 0;
    int ok = 0;
    if (!s || cl_store_run_begin(st, dev, "{}", 1, (int64_t)n, &run) != CLEAVE_OK ||
        cl_store_batch_begin(st) != CLEAVE_OK)
        goto done;
    for (size_t i = 0; i < n; i++) {
        memset(s, 0, sizeof *s);
        s->seq = (int64_t)i;
        snprintf(s->type, sizeof s->type, "conv");
        cleave_layer_format(&layers[i], s->spec, sizeof s->spec);
        int loaded = loads[i].v[CLEAVE_LOAD_OTHER_CPU] > 0.45;
        snprintf(s->load, sizeof s->load, "cpu=%d,membw=0,memcap=0", loaded ? 100 : 0);
        s->load_cpu = loaded ? 100 : 0;
        memcpy(s->dyn, loads[i].v, sizeof s->dyn);
        s->median_us = s->min_us = s->p90_us = s->max_us = s->mean_us = y[i];
        s->reps = 10;
        s->threads = 1;
        if (cl_store_sample_add(st, run, s) != CLEAVE_OK)
            goto done;
    }
    ok = cl_store_batch_commit(st) == CLEAVE_OK;
done:
    if (!ok)
        fprintf(stderr, "bench-predict: %s\n", cl_store_errmsg(st));
    free(s);
    return ok;
}

/* ---- timing ------------------------------------------------------------------------------- */

struct figure {
    double per_s; /* predictions per second */
    double ns;    /* per prediction */
    unsigned long long calls, allocs;
    double checksum; /* keeps the work observable */
};

/* cleave_predict() over the pool for about SECONDS. */
static int time_api(const cleave_predictor *p, const cleave_layer *layers, const cleave_load *loads,
                    double seconds, struct figure *out)
{
    cleave_prediction r;
    unsigned long long calls = 0, a0 = alloc_count();
    double sum = 0.0, t0 = now_s(), t = t0;
    do {
        for (int i = 0; i < POOL; i++) {
            if (cleave_predict(p, &layers[i], loads ? &loads[i] : NULL, &r) != CLEAVE_OK) {
                fprintf(stderr, "bench-predict: %s\n", cleave_predictor_errmsg(p));
                return -1;
            }
            sum += r.latency_us;
        }
        calls += POOL;
        t = now_s();
    } while (t - t0 < seconds);
    out->allocs = alloc_count() - a0;
    out->calls = calls;
    out->per_s = (double)calls / (t - t0);
    out->ns = 1e9 * (t - t0) / (double)calls;
    out->checksum = sum;
    return 0;
}

/* fit_predict() alone on prebuilt rows: what the API adds is the difference. */
static void time_bare(const fit_model *m, const double *rows, size_t p, double seconds,
                      struct figure *out)
{
    unsigned long long calls = 0, a0 = alloc_count();
    double sum = 0.0, t0 = now_s(), t = t0;
    do {
        for (int i = 0; i < POOL; i++)
            sum += fit_predict(m, rows + (size_t)i * p);
        calls += POOL;
        t = now_s();
    } while (t - t0 < seconds);
    out->allocs = alloc_count() - a0;
    out->calls = calls;
    out->per_s = (double)calls / (t - t0);
    out->ns = 1e9 * (t - t0) / (double)calls;
    out->checksum = sum;
}

/* Load the selected model of DEVICE/SET back from the store for the bare timing. */
struct loaded {
    fit_feature_set set;
    fit_model *m;
    fit_features f;
};

static int load_model(const cl_model *m, void *arg)
{
    struct loaded *l = arg;
    char err[256];
    if (strcmp(m->feature_set, fit_feature_set_name(l->set)) != 0 || !m->selected)
        return 0;
    if (fit_model_load(&l->m, m->blob, m->blob_bytes, err, sizeof err) != CLEAVE_OK ||
        fit_features_parse(&l->f, m->features, err, sizeof err) != CLEAVE_OK) {
        fit_model_free(l->m);
        l->m = NULL;
    }
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"seconds", required_argument, NULL, 's'}, {"rows", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 'r'},    {"keep", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    double seconds = 0.5;
    long rows = 600;
    unsigned long long seed = 1;
    const char *keep = NULL;
    char path[256], dir[64] = "", err[512];
    int opt, code = 1;
    cl_store *st = NULL;
    cleave_layer *train = NULL, *pool = NULL;
    cleave_load *train_load = NULL, *pool_load = NULL;
    double *y = NULL, *bare_rows = NULL;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 's': seconds = atof(optarg); break;
        case 'n': rows = atol(optarg); break;
        case 'r': seed = strtoull(optarg, NULL, 10); break;
        case 'k': keep = optarg; break;
        default:
            fprintf(stderr, "usage: bench-predict [--seconds S] [--rows N] [--seed S] [--keep "
                            "PATH]\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (!(seconds > 0) || rows < 50) {
        fprintf(stderr, "bench-predict: --seconds must be > 0 and --rows >= 50\n");
        return 2;
    }
    if (keep) {
        snprintf(path, sizeof path, "%s", keep);
        unlink(path);
    } else {
        snprintf(dir, sizeof dir, "/tmp/cleave-bench-predict-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("bench-predict: mkdtemp");
            return 1;
        }
        snprintf(path, sizeof path, "%s/bench.db", dir);
    }

    size_t n = (size_t)rows;
    uint64_t rng = seed;
    train = calloc(n, sizeof *train);
    train_load = calloc(n, sizeof *train_load);
    y = calloc(n, sizeof *y);
    pool = calloc(POOL, sizeof *pool);
    pool_load = calloc(POOL, sizeof *pool_load);
    bare_rows = calloc((size_t)POOL * FIT_MAX_FEATURES, sizeof *bare_rows);
    if (!train || !train_load || !y || !pool || !pool_load || !bare_rows)
        goto done;
    for (size_t i = 0; i < n; i++) {
        random_conv(&train[i], &rng);
        random_load(&train_load[i], &rng);
        y[i] = true_latency_us(&train[i], &train_load[i]) * exp(0.05 * gauss(&rng));
    }
    for (int i = 0; i < POOL; i++) {
        random_conv(&pool[i], &rng);
        random_load(&pool_load[i], &rng);
    }

    if (cl_store_open(&st, path, CL_STORE_CREATE, err, sizeof err) != CLEAVE_OK) {
        fprintf(stderr, "bench-predict: %s\n", err);
        goto done;
    }
    printf("training %zu rows per model...\n", n);
    fflush(stdout);
    for (int f = 0; f < FIT_NFAMILIES; f++) {
        cl_device d;
        int64_t dev = 0;
        memset(&d, 0, sizeof d);
        snprintf(d.name, sizeof d.name, "bench-%s", fit_family_name((fit_family)f));
        d.threads = 1;
        if (cl_store_device_ensure(st, &d, &dev) != CLEAVE_OK)
            goto done;
        for (int s = 0; s < FIT_NSETS; s++)
            if (!store_model(st, dev, (fit_family)f, (fit_feature_set)s, train, train_load, y, n,
                             seed))
                goto done;
    }
    {
        cl_device d;
        int64_t dev = 0;
        memset(&d, 0, sizeof d);
        snprintf(d.name, sizeof d.name, "bench-fallback");
        d.threads = 1;
        if (cl_store_device_ensure(st, &d, &dev) != CLEAVE_OK ||
            !store_samples(st, dev, train, train_load, y, n))
            goto done;
    }

    /* Proof that the counter sees allocations at all: training and storing made plenty. */
    if (COUNT_ALLOCS)
        printf("allocation counter check: %llu allocations so far (training, storing)\n",
               alloc_count());
    printf("\n%-13s %-8s %14s %10s %16s %10s %12s\n", "family", "set", "predictions/s", "ns/call",
           "fit_predict/s", "ns/call", "allocs/call");
    for (int f = 0; f <= FIT_NFAMILIES; f++) {
        char name[64];
        const char *fam = f < FIT_NFAMILIES ? fit_family_name((fit_family)f) : "fallback";
        snprintf(name, sizeof name, "bench-%s", fam);
        cleave_predictor *p = NULL;
        if (cleave_predictor_open(&p, path, name, err, sizeof err) != CLEAVE_OK) {
            fprintf(stderr, "bench-predict: %s\n", err);
            goto done;
        }
        for (int s = 0; s < FIT_NSETS; s++) {
            struct figure api, bare = {0, 0, 0, 0, 0};
            const cleave_load *loads = s == FIT_SET_DYNAMIC ? pool_load : NULL;
            if (time_api(p, pool, loads, seconds, &api) != 0) {
                cleave_predictor_close(p);
                goto done;
            }
            struct loaded l = {(fit_feature_set)s, NULL, {0, 0, {0}, {0}}};
            int64_t dev_id = 0;
            if (f < FIT_NFAMILIES && cl_store_device_get(st, name, NULL, &dev_id) == CLEAVE_OK &&
                cl_store_models_foreach(st, dev_id, "conv", load_model, &l) == CLEAVE_OK && l.m) {
                size_t p_feat = (size_t)fit_features_count(&l.f);
                for (int i = 0; i < POOL; i++)
                    fit_row(&l.f, &pool[i], &pool_load[i], bare_rows + (size_t)i * p_feat);
                time_bare(l.m, bare_rows, p_feat, seconds, &bare);
                fit_model_free(l.m);
            }
            char bare_s[32] = "-", bare_ns[32] = "-", allocs[32];
            if (bare.calls) {
                snprintf(bare_s, sizeof bare_s, "%.0f", bare.per_s);
                snprintf(bare_ns, sizeof bare_ns, "%.1f", bare.ns);
            }
            if (COUNT_ALLOCS)
                snprintf(allocs, sizeof allocs, "%.3g", (double)api.allocs / (double)api.calls);
            else
                snprintf(allocs, sizeof allocs, "n/a");
            printf("%-13s %-8s %14.0f %10.1f %16s %10s %12s\n", fam,
                   fit_feature_set_name((fit_feature_set)s), api.per_s, api.ns, bare_s, bare_ns,
                   allocs);
            if (COUNT_ALLOCS && api.allocs)
                printf("  !! %llu allocations in %llu calls\n", api.allocs, api.calls);
            fflush(stdout);
        }
        cleave_predictor_close(p);
    }
    printf("\none core, %d distinct conv layers (loads) in turn, %.2f s per row; allocations %s\n",
           POOL, seconds,
           COUNT_ALLOCS ? "counted by replacing malloc & co. in this executable (all callers)"
                        : "not counted (sanitizer build)");
    printf("reproduce: bench-predict --seconds %g --rows %ld --seed %llu\n", seconds, rows, seed);
    code = 0;
done:
    if (code)
        fprintf(stderr, "bench-predict: failed%s%s\n", st ? ": " : "",
                st ? cl_store_errmsg(st) : "");
    cl_store_close(st);
    if (!keep && dir[0]) {
        unlink(path);
        char wal[300];
        snprintf(wal, sizeof wal, "%s-wal", path);
        unlink(wal);
        snprintf(wal, sizeof wal, "%s-shm", path);
        unlink(wal);
        rmdir(dir);
    }
    free(train);
    free(train_load);
    free(y);
    free(pool);
    free(pool_load);
    free(bare_rows);
    return code;
}
