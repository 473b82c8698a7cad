/*
** fit/fitrun.c - fit every layer type of a device: held-out evaluation of each family on both
** feature sets, selection by k-fold R^2, and an atomic replacement of the stored models.
**
** The work is split into independent fits ("tasks"): for each (type, set, family) job, one per
** k-fold fold, one per held-out load level, and the final fit on all rows.  Tasks run on a
** small pthread pool, longest first (LPT scheduling, Graham 1969), and write disjoint rows of
** their job's prediction arrays, so the result does not depend on the thread count or order.
** The store is read before the pool starts and written after it ends, from this thread only.
*/
#include "fit/fitrun.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/sysinfo.h"
#include "fit/family.h"

#define MAX_THREADS 64

_Static_assert(FIT_MAX_FEATURES <= FIT_CLAMP_MAX_P, "a static + dynamic model must be clampable");

void fit_run_opts_default(fit_run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->families = FIT_ALL_FAMILIES;
    o->folds = FIT_FOLDS_DEFAULT;
    o->seed = FIT_SEED_DEFAULT;
    o->target = FIT_TARGET_MEAN;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- family lists ------------------------------------------------------------------------- */

/* Short names a user may type besides the stored ones. */
static int family_alias(const char *name)
{
    static const struct {
        const char *alias;
        fit_family f;
    } aliases[] = {{"log", FIT_LOG}, {"krr", FIT_KRR}, {"poly", FIT_POLY}};
    int f = fit_family_from_name(name);
    for (size_t i = 0; f < 0 && i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(name, aliases[i].alias) == 0)
            f = (int)aliases[i].f;
    return f;
}

cleave_status fit_families_parse(const char *list, unsigned *mask, char *err, size_t errlen)
{
    char all[256] = "";
    size_t used = 0;
    unsigned m = 0;

    for (int f = 0; f < FIT_NFAMILIES; f++)
        used += (size_t)snprintf(all + used, used < sizeof all ? sizeof all - used : 0, "%s%s",
                                 f ? ", " : "", fit_family_name((fit_family)f));
    *mask = 0;
    if (!list || !*list) {
        snprintf(err, errlen, "empty family list (families: %s)", all);
        return CLEAVE_EINVAL;
    }
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char name[64];
        if (len == 0 || len >= sizeof name) {
            snprintf(err, errlen, "%s family name in '%s' (families: %s)",
                     len ? "over-long" : "empty", list, all);
            return CLEAVE_EINVAL;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        if (strcmp(name, "all") == 0) {
            m |= FIT_ALL_FAMILIES;
        } else {
            int f = family_alias(name);
            if (f < 0) {
                snprintf(err, errlen, "unknown family '%s' (families: %s)", name, all);
                return CLEAVE_EINVAL;
            }
            m |= 1u << f;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    *mask = m;
    return CLEAVE_OK;
}

/* ---- jobs and tasks ----------------------------------------------------------------------- */

/* One (type, set, family) to evaluate and fit. */
struct job {
    const fit_dataset *d;
    fit_run_family *res; /* where its summary goes */
    fit_family fam;
    fit_opts fo;
    int keff;         /* k-fold folds */
    size_t constant;  /* constant feature columns left out */
    size_t collinear; /* collinear feature columns left out */
    int *fold;        /* N: each row's fold */
    double *cv;       /* N: k-fold held-out predictions */
    double *lolo;     /* N: leave-one-level-out predictions */
    double *final;    /* N: the final model's predictions of its own rows */
    void *blob;       /* the final model, serialised */
    size_t blob_bytes;
    int64_t model_id;
};

enum task_kind { TASK_FOLD, TASK_LEVEL, TASK_FINAL };

/* One fit: a held-out group of a job, or its final model. */
struct task {
    struct job *job;
    enum task_kind kind;
    int group;
    double cost; /* rough relative time, for the schedule */
    cleave_status rc;
    char err[200];
    char hyper[256]; /* TASK_FINAL: fit_model_describe() */
    double seconds;
};

/* Relative cost of training a family on one row, from bench-fit: enough to order the tasks so
** that the slow ones (kernel ridge, GBDT) start first and the quick ones fill the gaps. */
static double family_weight(fit_family f)
{
    switch (f) {
    case FIT_KRR: return 40.0;
    case FIT_GBDT: return 40.0;
    case FIT_POLY: return 10.0;
    case FIT_LASSO: return 4.0;
    default: return 1.0;
    }
}

/* Train the final model on every row, predict those rows, and check that the serialised model
** predicts the same doubles bit for bit (what `cleave predict` will evaluate is what was
** measured here).  The blob is kept on the job. */
static void run_final(struct task *t)
{
    struct job *j = t->job;
    const fit_dataset *d = j->d;
    fit_model *m = NULL, *back = NULL;
    char why[160];

    if ((t->rc = fit_train(&m, j->fam, d->x, d->n, d->p, d->y, &j->fo, why, sizeof why)) !=
        CLEAVE_OK) {
        snprintf(t->err, sizeof t->err, "%s", why);
        goto done;
    }
    for (size_t i = 0; i < d->n; i++)
        j->final[i] = fit_predict(m, d->x + i * d->p);
    fit_model_describe(m, t->hyper, sizeof t->hyper);
    if ((t->rc = fit_model_save(m, &j->blob, &j->blob_bytes)) != CLEAVE_OK) {
        snprintf(t->err, sizeof t->err, "cannot serialise the model: out of memory");
        goto done;
    }
    if ((t->rc = fit_model_load(&back, j->blob, j->blob_bytes, why, sizeof why)) != CLEAVE_OK) {
        snprintf(t->err, sizeof t->err, "cannot read the serialised model back: %s", why);
        goto done;
    }
    for (size_t i = 0; i < d->n; i++) {
        double v = fit_predict(back, d->x + i * d->p);
        if (memcmp(&v, &j->final[i], sizeof v) != 0) {
            t->rc = CLEAVE_ENUMERIC;
            snprintf(t->err, sizeof t->err,
                     "the serialised model predicts row %zu differently (%.17g, not %.17g)", i, v,
                     j->final[i]);
            goto done;
        }
    }
done:
    fit_model_free(m);
    fit_model_free(back);
}

/* Train without the rows of group T->group (fold or load level) and predict those rows. */
static void run_heldout(struct task *t)
{
    struct job *j = t->job;
    const fit_dataset *d = j->d;
    const int *group = t->kind == TASK_FOLD ? j->fold : d->level;
    double *pred = t->kind == TASK_FOLD ? j->cv : j->lolo;
    double *xt = malloc(sizeof *xt * d->n * d->p);
    double *yt = malloc(sizeof *yt * d->n);
    fit_model *m = NULL;
    char why[160];

    if (!xt || !yt) {
        t->rc = CLEAVE_ENOMEM;
        snprintf(t->err, sizeof t->err, "out of memory");
        goto done;
    }
    size_t nt = fit_cv_train_rows(d->x, d->n, d->p, d->y, group, t->group, xt, yt);
    if (nt == 0) {
        t->rc = CLEAVE_EINVAL;
        snprintf(t->err, sizeof t->err, "no training rows left");
        goto done;
    }
    if ((t->rc = fit_train(&m, j->fam, xt, nt, d->p, yt, &j->fo, why, sizeof why)) != CLEAVE_OK) {
        snprintf(t->err, sizeof t->err, "%s", why);
        goto done;
    }
    for (size_t i = 0; i < d->n; i++)
        if (group[i] == t->group)
            pred[i] = fit_predict(m, d->x + i * d->p);
done:
    fit_model_free(m);
    free(xt);
    free(yt);
}

/* A task's place in the schedule. */
struct slot {
    double cost;
    size_t task;
};

struct pool {
    struct task *tasks;
    struct slot *order; /* most expensive first */
    size_t ntasks;
    atomic_size_t next;
    const fit_run_opts *o;
    pthread_mutex_t lock; /* serialises the progress calls */
    size_t done;
};

static void *worker(void *arg)
{
    struct pool *pl = arg;
    for (;;) {
        size_t k = atomic_fetch_add(&pl->next, 1);
        if (k >= pl->ntasks)
            break;
        struct task *t = &pl->tasks[pl->order[k].task];
        double t0 = now_s();
        if (t->kind == TASK_FINAL)
            run_final(t);
        else
            run_heldout(t);
        t->seconds = now_s() - t0;
        if (pl->o->progress) {
            pthread_mutex_lock(&pl->lock);
            pl->o->progress(++pl->done, pl->ntasks, pl->o->progress_arg);
            pthread_mutex_unlock(&pl->lock);
        }
    }
    return NULL;
}

/* Longest first; equal costs in task order, so the schedule is deterministic. */
static int cmp_cost(const void *a, const void *b)
{
    const struct slot *x = a, *y = b;
    if (x->cost != y->cost)
        return x->cost > y->cost ? -1 : 1;
    return x->task < y->task ? -1 : x->task > y->task;
}

/* A worker started by run_pool(): free of the caller's OpenMP binding (cl_affinity_widen), or
** every worker would share the one CPU `cleave` binds its main thread to. */
static void *spawned_worker(void *arg)
{
    cl_affinity_widen();
    return worker(arg);
}

/* Run every task on THREADS threads, this one included.  If a thread cannot be started the
** others (at least this one) do its share. */
static void run_pool(struct task *tasks, size_t ntasks, int threads, const fit_run_opts *o)
{
    struct pool pl = {tasks, NULL, ntasks, 0, o, PTHREAD_MUTEX_INITIALIZER, 0};
    pthread_t tid[MAX_THREADS];
    int started = 0;

    if (!(pl.order = malloc(sizeof *pl.order * (ntasks ? ntasks : 1)))) {
        /* No room for a schedule: run them in order, here. */
        for (size_t k = 0; k < ntasks; k++) {
            if (tasks[k].kind == TASK_FINAL)
                run_final(&tasks[k]);
            else
                run_heldout(&tasks[k]);
        }
        return;
    }
    for (size_t k = 0; k < ntasks; k++)
        pl.order[k] = (struct slot){tasks[k].cost, k};
    qsort(pl.order, ntasks, sizeof *pl.order, cmp_cost);
    atomic_init(&pl.next, 0);
    for (int i = 1; i < threads && i < MAX_THREADS; i++) {
        if (pthread_create(&tid[started], NULL, spawned_worker, &pl) != 0)
            break;
        started++;
    }
    worker(&pl);
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    pthread_mutex_destroy(&pl.lock);
    free(pl.order);
}

/* ---- evaluation ---------------------------------------------------------------------------- */

/* Turn a job's finished tasks (FIRST..FIRST+COUNT) into its summary: skipped with the first
** failing fold's reason, or metrics from its held-out predictions. */
static void summarise_job(struct job *j, const struct task *t, size_t count)
{
    fit_run_family *r = j->res;
    const fit_dataset *d = j->d;
    const struct task *bad_fold = NULL, *bad_level = NULL, *final = NULL;

    for (size_t k = 0; k < count; k++) {
        r->seconds += t[k].seconds;
        if (t[k].kind == TASK_FINAL)
            final = &t[k];
        else if (t[k].rc != CLEAVE_OK && t[k].kind == TASK_FOLD && !bad_fold)
            bad_fold = &t[k];
        else if (t[k].rc != CLEAVE_OK && t[k].kind == TASK_LEVEL && !bad_level)
            bad_level = &t[k];
    }
    if (bad_fold) {
        snprintf(r->reason, sizeof r->reason, "fold %d of %d: %s", bad_fold->group + 1, j->keff,
                 bad_fold->err);
        return;
    }
    if (final && final->rc != CLEAVE_OK) {
        snprintf(r->reason, sizeof r->reason, "%s", final->err);
        return;
    }
    size_t nonfinite = 0;
    for (size_t i = 0; i < d->n; i++)
        nonfinite += !isfinite(j->cv[i]);
    if (nonfinite) {
        snprintf(r->reason, sizeof r->reason,
                 "%zu held-out predictions of %zu are not finite (numerical overflow)", nonfinite,
                 d->n);
        return;
    }
    fit_metrics_compute(&r->cv, d->y, j->cv, d->n);
    if (d->nlevels < 2) {
        snprintf(r->lolo_note, sizeof r->lolo_note, "%s load level: nothing to hold out",
                 d->nlevels ? "one" : "no");
    } else if (bad_level) {
        snprintf(r->lolo_note, sizeof r->lolo_note, "load level '%s' held out: %s",
                 d->levels[bad_level->group], bad_level->err);
    } else {
        size_t nf = 0;
        for (size_t i = 0; i < d->n; i++)
            nf += !isfinite(j->lolo[i]);
        if (nf)
            snprintf(r->lolo_note, sizeof r->lolo_note,
                     "%zu held-out predictions of %zu are not finite", nf, d->n);
        else
            fit_metrics_compute(&r->lolo, d->y, j->lolo, d->n);
    }
    if (r->lolo_note[0]) {
        r->lolo = fit_metrics_none();
        for (size_t i = 0; i < d->n; i++)
            j->lolo[i] = NAN; /* stored predictions and metrics agree: none */
    }
    snprintf(r->hyper, sizeof r->hyper, "%s", final ? final->hyper : "");
    r->fitted = 1;
}

/* Select per set the fitted family with the best k-fold R^2; ties and NaN go to the earlier
** family.  When no family has a finite R^2 (constant latencies), the lowest RMSE decides. */
static void select_family(fit_run_set *s)
{
    int best = -1;
    s->selected = -1;
    for (int f = 0; f < FIT_NFAMILIES; f++) {
        const fit_run_family *r = &s->fam[f];
        if (!r->fitted || !isfinite(r->cv.r2))
            continue;
        if (best < 0 || r->cv.r2 > s->fam[best].cv.r2)
            best = f;
    }
    if (best < 0)
        for (int f = 0; f < FIT_NFAMILIES; f++) {
            const fit_run_family *r = &s->fam[f];
            if (r->fitted && (best < 0 || r->cv.rmse < s->fam[best].cv.rmse))
                best = f;
        }
    if (best >= 0) {
        s->fam[best].selected = 1;
        s->selected = best;
    }
}

/* ---- storing -------------------------------------------------------------------------------- */

/* The model's detail object: how it was fitted and on what. */
static char *detail_json(const struct job *j, const fit_run_opts *o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    fputs("{\"hyper\":", m);
    cl_json_string(m, j->res->hyper);
    fprintf(m, ",\"folds\":%d,\"seed\":%llu,\"inner_folds\":%d,\"log_target\":%d", j->keff,
            (unsigned long long)o->seed, j->fo.inner_folds, j->fam == FIT_LOG || j->fo.log_target);
    fprintf(m, ",\"rows\":%zu,\"excluded\":%zu,\"load_levels\":%zu,\"constant_dropped\":%zu",
            j->d->n, j->d->excluded, j->d->nlevels, j->constant);
    fprintf(m, ",\"collinear_dropped\":%zu", j->collinear);
    fputs(",\"lolo_note\":", m);
    cl_json_string(m, j->res->lolo_note);
    fputc('}', m);
    if (fclose(m) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Replace the device's models, predictions and skips in one transaction. */
static cleave_status store_all(cl_store *st, const fit_run_opts *o, int64_t device_id,
                               struct job *jobs, size_t njobs, fit_run_result *res, char *err,
                               size_t errlen)
{
    cl_prediction *pred = NULL;
    char *features = NULL, *detail = NULL;
    size_t written = 0;
    cleave_status rc;

    if ((rc = cl_store_tx_begin(st)) != CLEAVE_OK) {
        snprintf(err, errlen, "%s", cl_store_errmsg(st));
        return rc;
    }
    if ((rc = cl_store_models_clear(st, device_id)) != CLEAVE_OK)
        goto store_failed;
    for (size_t k = 0; k < njobs; k++) {
        struct job *j = &jobs[k];
        const fit_dataset *d = j->d;
        const char *type = cleave_layer_type_name(d->type);
        const char *set = fit_feature_set_name(d->set);
        if (!j->res->fitted) {
            if ((rc = cl_store_fit_skip_add(st, device_id, type, fit_family_name(j->fam), set,
                                            j->res->reason)) != CLEAVE_OK)
                goto store_failed;
            continue;
        }
        if (o->fail_after_models > 0 && written == (size_t)o->fail_after_models) {
            rc = CLEAVE_EIO;
            snprintf(err, errlen, "injected store failure after %zu models", written);
            goto failed;
        }
        free(features);
        free(detail);
        features = fit_features_json(&d->features);
        detail = detail_json(j, o);
        cl_prediction *np = realloc(pred, sizeof *pred * (d->n ? d->n : 1));
        if (!features || !detail || !np) {
            if (np)
                pred = np;
            rc = CLEAVE_ENOMEM;
            snprintf(err, errlen, "out of memory");
            goto failed;
        }
        pred = np;
        cl_model m;
        memset(&m, 0, sizeof m);
        m.device_id = device_id;
        snprintf(m.type, sizeof m.type, "%s", type);
        snprintf(m.family, sizeof m.family, "%s", fit_family_name(j->fam));
        snprintf(m.feature_set, sizeof m.feature_set, "%s", set);
        m.features = features;
        m.blob = j->blob;
        m.blob_bytes = j->blob_bytes;
        m.cv_r2 = j->res->cv.r2;
        m.cv_rmse = j->res->cv.rmse;
        m.cv_mape = j->res->cv.mape;
        m.cv_within10 = j->res->cv.within10;
        m.lolo_r2 = j->res->lolo.r2;
        m.lolo_rmse = j->res->lolo.rmse;
        m.lolo_mape = j->res->lolo.mape;
        m.lolo_within10 = j->res->lolo.within10;
        m.detail = detail;
        m.n_samples = (int64_t)d->n;
        m.selected = j->res->selected;
        snprintf(m.target, sizeof m.target, "%s", fit_target_name(o->target));
        if ((rc = cl_store_model_add(st, &m, &j->model_id)) != CLEAVE_OK)
            goto store_failed;
        for (size_t i = 0; i < d->n; i++) {
            pred[i].sample_id = d->sample_id[i];
            pred[i].fold = j->fold[i];
            pred[i].cv_us = j->cv[i];
            pred[i].lolo_us = j->lolo[i];
        }
        if ((rc = cl_store_predictions_add(st, j->model_id, pred, d->n)) != CLEAVE_OK)
            goto store_failed;
        written++;
    }
    if ((rc = cl_store_tx_commit(st)) != CLEAVE_OK)
        goto store_failed;
    res->models = written;
    free(pred);
    free(features);
    free(detail);
    return CLEAVE_OK;
store_failed:
    snprintf(err, errlen, "%s", cl_store_errmsg(st));
failed:
    cl_store_tx_rollback(st);
    free(pred);
    free(features);
    free(detail);
    return rc;
}

/* ---- the run ---------------------------------------------------------------------------- */

/* A column is redundant when the columns kept before it explain all but this share of its
** variance (1 - R^2 of regressing it on them): a variance inflation factor of 1000, the usual
** mark of severe collinearity. */
#define COLLINEAR_RTOL 1e-3

/* Remove from D the feature columns that carry nothing the earlier ones do not, keeping at least
** one column, and return how many were removed; *COLLINEAR (of them) were not constant.
**  - Constant columns (the batch size of a sweep that only times n = 1, a bias every layer has).
**    They carry no information to fit, yet they cost: polynomial terms grow with p^2 and its
**    eigendecomposition with p^6, kernel distances with p; and a model fitted with a column
**    that never varied extrapolates blindly when it does vary at prediction time.
**  - Collinear columns: a column that the columns kept before it explain to COLLINEAR_RTOL
**    (byte counts are 4 x element counts, a concat's MACs are its elements, the memory
**    features are three views of /proc/meminfo).  Unpenalised least squares gives such pairs
**    huge coefficients of opposite sign that cancel on the training rows only: a concat's
**    logarithmic model once predicted 6 s instead of 0.2 ms for a layer inside the training
**    ranges, because free memory and MemAvailable moved slightly apart.
** Columns are taken in feature order (layer features first, MACs first of all), each
** orthogonalised against the kept ones (modified Gram-Schmidt, twice, on centred columns).
** The stored feature list is the reduced one, so the predictor builds exactly these rows. */
static size_t drop_redundant_columns(fit_dataset *d, size_t *collinear)
{
    fit_features kept;
    size_t keep[FIT_MAX_FEATURES], nkeep = 0, n = d->n;
    int nf = fit_features_count(&d->features);
    double *basis = malloc(sizeof *basis * (n ? n : 1) * (size_t)(nf ? nf : 1));
    double *r = malloc(sizeof *r * (n ? n : 1));

    *collinear = 0;
    memset(&kept, 0, sizeof kept);
    for (int j = 0; j < nf; j++) {
        double mean = 0.0, ss = 0.0, rr = 0.0;
        for (size_t i = 0; i < n; i++)
            mean += d->x[i * d->p + (size_t)j] / (double)n;
        for (size_t i = 0; i < n; i++) {
            double v = d->x[i * d->p + (size_t)j] - mean;
            ss += v * v;
            if (r)
                r[i] = v;
        }
        int varies = 0;
        for (size_t i = 1; i < n && !varies; i++)
            varies = d->x[i * d->p + (size_t)j] != d->x[(size_t)j];
        int last_chance = nkeep == 0 && j == nf - 1;
        if (!varies && !last_chance)
            continue;
        if (varies && basis && r && nkeep > 0) { /* (out of memory: every varying one is kept) */
            for (int pass = 0; pass < 2; pass++)
                for (size_t k = 0; k < nkeep; k++) {
                    const double *q = basis + k * n;
                    double dot = 0.0;
                    for (size_t i = 0; i < n; i++)
                        dot += q[i] * r[i];
                    for (size_t i = 0; i < n; i++)
                        r[i] -= dot * q[i];
                }
            for (size_t i = 0; i < n; i++)
                rr += r[i] * r[i];
            if (rr <= COLLINEAR_RTOL * ss && !last_chance) {
                (*collinear)++;
                continue;
            }
        } else {
            rr = ss;
        }
        if (basis && r && rr > 0.0) {
            double norm = sqrt(rr);
            for (size_t i = 0; i < n; i++)
                basis[nkeep * n + i] = r[i] / norm;
        }
        keep[nkeep++] = (size_t)j;
        if (j < d->features.nstatic)
            kept.statics[kept.nstatic++] = d->features.statics[j];
        else
            kept.dynamics[kept.ndynamic++] = d->features.dynamics[j - d->features.nstatic];
    }
    free(basis);
    free(r);
    if (nkeep == d->p || d->n == 0)
        return 0;
    for (size_t i = 0; i < d->n; i++)
        for (size_t k = 0; k < nkeep; k++)
            d->x[i * nkeep + k] = d->x[i * d->p + keep[k]]; /* in place: i*nkeep+k <= i*p+keep[k] */
    size_t dropped = d->p - nkeep;
    d->features = kept;
    d->p = nkeep;
    return dropped;
}

static void free_jobs(struct job *jobs, size_t njobs)
{
    if (!jobs)
        return;
    for (size_t k = 0; k < njobs; k++) {
        free(jobs[k].fold);
        free(jobs[k].cv);
        free(jobs[k].lolo);
        free(jobs[k].final);
        free(jobs[k].blob);
    }
    free(jobs);
}

/* Data sets at least this large use FIT_FAST_INNER_FOLDS inner folds in the families whose
** fit time is dominated by their inner CV (see family_opts()). */
#define FIT_FAST_INNER_ROWS 100
#define FIT_FAST_INNER_FOLDS 2

/* The options family F trains with on a data set of N rows: the defaults with the run's seed,
** except that kernel ridge, polynomial and lasso pick their hyper-parameters by 2-fold instead of
** 3-fold inner CV once N >= FIT_FAST_INNER_ROWS.  Their fit time is the inner CV: kernel ridge
** solves 30 Cholesky systems of the inner training size per fold (cubic, so 2 folds of n/2 cost
** 2 (1/2)^3 = 0.25 against 3 (2/3)^3 = 0.89 for 3 folds of 2n/3), polynomial one T x T
** eigendecomposition per fold, lasso one path per fold.  bench-fit on 3000 samples over 20
** types: 24 s -> 15 s wall on 2 CPUs; on the dev store the held-out R^2 moved by at most a few
** hundredths either way at these sizes, while below 100 rows 2 folds cost accuracy (and little
** time is saved), so small types keep 3. */
static void family_opts(fit_opts *fo, fit_family f, const fit_run_opts *o, size_t n)
{
    fit_opts_default(fo, f);
    fo->seed = o->seed;
    if (n >= FIT_FAST_INNER_ROWS && (f == FIT_KRR || f == FIT_POLY || f == FIT_LASSO))
        fo->inner_folds = FIT_FAST_INNER_FOLDS;
}

cleave_status fit_run(cl_store *st, const fit_run_opts *o, fit_run_result *out, char *err,
                      size_t errlen)
{
    fit_dataset *ds = NULL; /* CLEAVE_LAYER_COUNT x FIT_NSETS */
    struct job *jobs = NULL;
    struct task *tasks = NULL;
    size_t njobs = 0, ntasks = 0, nds = (size_t)CLEAVE_LAYER_COUNT * FIT_NSETS;
    unsigned families = o->families ? o->families : FIT_ALL_FAMILIES;
    int64_t device_id = 0;
    size_t total_rows = 0;
    cleave_status rc = CLEAVE_OK;
    double t0 = now_s(), t1;

    memset(out, 0, sizeof *out);
    if (!o->device || !*o->device) {
        snprintf(err, errlen, "no device given");
        return CLEAVE_EINVAL;
    }
    if (o->folds < FIT_FOLDS_MIN || o->folds > FIT_FOLDS_MAX) {
        snprintf(err, errlen, "folds must be %d to %d, not %d", FIT_FOLDS_MIN, FIT_FOLDS_MAX,
                 o->folds);
        return CLEAVE_EINVAL;
    }
    if ((unsigned)o->target >= FIT_NTARGETS) {
        snprintf(err, errlen, "unknown latency target %d", (int)o->target);
        return CLEAVE_EINVAL;
    }
    if ((families & FIT_ALL_FAMILIES) == 0) {
        snprintf(err, errlen, "no regression family selected");
        return CLEAVE_EINVAL;
    }
    if ((rc = cl_store_device_get(st, o->device, NULL, &device_id)) != CLEAVE_OK) {
        snprintf(err, errlen, "%s", cl_store_errmsg(st));
        return rc;
    }
    out->device_id = device_id;

    /* Read every (type, set) data set. */
    if (!(ds = calloc(nds, sizeof *ds)) ||
        !(out->types = calloc(CLEAVE_LAYER_COUNT, sizeof *out->types))) {
        rc = CLEAVE_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (int t = 0; t < CLEAVE_LAYER_COUNT; t++) {
        size_t seen = 0, constant[FIT_NSETS] = {0}, collinear[FIT_NSETS] = {0};
        for (int s = 0; s < FIT_NSETS; s++) {
            fit_dataset *d = &ds[(size_t)t * FIT_NSETS + (size_t)s];
            if ((rc = fit_dataset_read(d, st, o->device, (cleave_layer_type)t, (fit_feature_set)s,
                                       o->target, err, errlen)) != CLEAVE_OK)
                goto done;
            constant[s] = drop_redundant_columns(d, &collinear[s]);
            constant[s] -= collinear[s];
            seen += d->n + d->excluded;
        }
        if (seen == 0)
            continue;
        fit_run_type *rt = &out->types[out->ntypes++];
        rt->type = (cleave_layer_type)t;
        for (int s = 0; s < FIT_NSETS; s++) {
            const fit_dataset *d = &ds[(size_t)t * FIT_NSETS + (size_t)s];
            fit_run_set *rs = &rt->set[s];
            rs->rows = d->n;
            rs->excluded = d->excluded;
            rs->features = d->p;
            rs->constant = constant[s];
            rs->collinear = collinear[s];
            rs->levels = d->nlevels;
            rs->folds = fit_cv_effective_folds(d->n, o->folds);
            rs->selected = -1;
            total_rows += d->n + d->excluded;
            for (int f = 0; f < FIT_NFAMILIES; f++) {
                rs->fam[f].cv = rs->fam[f].lolo = fit_metrics_none();
                if (families & (1u << f)) {
                    rs->fam[f].tried = 1;
                    njobs++;
                }
            }
        }
    }
    t1 = now_s();
    out->read_seconds = t1 - t0;
    if (total_rows == 0) {
        rc = CLEAVE_EINVAL;
        snprintf(err, errlen, "no samples of device '%s' in '%s'", o->device, cl_store_path(st));
        goto done;
    }

    /* Jobs and their tasks. */
    if (!(jobs = calloc(njobs ? njobs : 1, sizeof *jobs))) {
        rc = CLEAVE_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    size_t nj = 0;
    for (size_t ti = 0; ti < out->ntypes; ti++) {
        fit_run_type *rt = &out->types[ti];
        for (int s = 0; s < FIT_NSETS; s++) {
            const fit_dataset *d = &ds[(size_t)rt->type * FIT_NSETS + (size_t)s];
            fit_run_set *rs = &rt->set[s];
            for (int f = 0; f < FIT_NFAMILIES; f++) {
                if (!rs->fam[f].tried)
                    continue;
                struct job *j = &jobs[nj++];
                size_t n1 = d->n ? d->n : 1;
                j->d = d;
                j->res = &rs->fam[f];
                j->fam = (fit_family)f;
                family_opts(&j->fo, j->fam, o, d->n);
                if (d->set == FIT_SET_DYNAMIC) /* clamp the load features, not the layer's */
                    j->fo.clamp_from = (size_t)d->features.nstatic;
                j->keff = rs->folds;
                j->constant = rs->constant;
                j->collinear = rs->collinear;
                j->fold = malloc(sizeof *j->fold * n1);
                j->cv = malloc(sizeof *j->cv * n1);
                j->lolo = malloc(sizeof *j->lolo * n1);
                j->final = malloc(sizeof *j->final * n1);
                if (!j->fold || !j->cv || !j->lolo || !j->final) {
                    njobs = nj;
                    rc = CLEAVE_ENOMEM;
                    snprintf(err, errlen, "out of memory");
                    goto done;
                }
                for (size_t i = 0; i < d->n; i++) {
                    j->cv[i] = j->lolo[i] = j->final[i] = NAN;
                    j->fold[i] = -1;
                }
                if (j->keff == 0) {
                    snprintf(j->res->reason, sizeof j->res->reason,
                             "%zu usable rows (%zu excluded): cross-validation needs at least 2",
                             d->n, d->excluded);
                    continue;
                }
                fit_folds(d->n, j->keff, o->seed, j->fold);
                ntasks += (size_t)j->keff + 1 + (d->nlevels >= 2 ? d->nlevels : 0);
            }
        }
    }
    if (!(tasks = calloc(ntasks ? ntasks : 1, sizeof *tasks))) {
        rc = CLEAVE_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    size_t nt = 0;
    for (size_t k = 0; k < njobs; k++) {
        struct job *j = &jobs[k];
        const fit_dataset *d = j->d;
        if (j->keff == 0)
            continue;
        double w = family_weight(j->fam);
        for (int g = 0; g < j->keff; g++)
            tasks[nt++] = (struct task){.job = j,
                                        .kind = TASK_FOLD,
                                        .group = g,
                                        .cost = w * (double)d->n * (j->keff - 1) / j->keff};
        for (size_t g = 0; d->nlevels >= 2 && g < d->nlevels; g++)
            tasks[nt++] = (struct task){.job = j,
                                        .kind = TASK_LEVEL,
                                        .group = (int)g,
                                        .cost = w * (double)d->n * (d->nlevels - 1) / d->nlevels};
        tasks[nt++] = (struct task){.job = j, .kind = TASK_FINAL, .cost = w * (double)d->n};
    }

    /* Fit. */
    int threads = o->threads;
    if (threads <= 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        threads = ncpu > 0 ? (int)ncpu : 1;
    }
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    out->threads = threads;
    run_pool(tasks, ntasks, threads, o);
    out->fit_seconds = now_s() - t1;

    /* Summaries (tasks of a job are consecutive), selection. */
    for (size_t k = 0, first = 0; k < njobs; k++) {
        size_t count = 0;
        while (first + count < ntasks && tasks[first + count].job == &jobs[k])
            count++;
        if (jobs[k].keff > 0)
            summarise_job(&jobs[k], tasks + first, count);
        first += count;
    }
    size_t fitted = 0;
    for (size_t ti = 0; ti < out->ntypes; ti++)
        for (int s = 0; s < FIT_NSETS; s++)
            select_family(&out->types[ti].set[s]);
    for (size_t k = 0; k < njobs; k++) {
        if (jobs[k].res->fitted)
            fitted++;
        else
            out->skips++;
    }
    if (fitted == 0) {
        rc = CLEAVE_EINVAL;
        if (njobs)
            snprintf(err, errlen, "nothing could be fitted for device '%s' (%s, %s, %s: %s)",
                     o->device, cleave_layer_type_name(jobs[0].d->type),
                     fit_feature_set_name(jobs[0].d->set), fit_family_name(jobs[0].fam),
                     jobs[0].res->reason);
        else
            snprintf(err, errlen, "nothing could be fitted for device '%s'", o->device);
        goto done;
    }

    /* Store, atomically. */
    double t2 = now_s();
    if ((rc = store_all(st, o, device_id, jobs, njobs, out, err, errlen)) != CLEAVE_OK)
        goto done;
    out->write_seconds = now_s() - t2;
    if (o->on_model) {
        for (size_t k = 0; k < njobs; k++) {
            const struct job *j = &jobs[k];
            if (!j->res->fitted)
                continue;
            fit_run_model_view v = {j->d->type, j->d->set, j->fam,  j->model_id,
                                    j->d->n,    j->d->p,   j->d->x, j->d->sample_id,
                                    j->final,   j->cv,     j->lolo, j->fold};
            o->on_model(&v, o->on_model_arg);
        }
    }
done:
    out->total_seconds = now_s() - t0;
    free(tasks);
    free_jobs(jobs, njobs);
    for (size_t k = 0; ds && k < nds; k++)
        fit_dataset_release(&ds[k]);
    free(ds);
    return rc;
}

void fit_run_result_release(fit_run_result *r)
{
    if (!r)
        return;
    free(r->types);
    r->types = NULL;
    r->ntypes = 0;
}
