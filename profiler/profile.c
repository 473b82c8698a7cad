/*
** profiler/profile.c - the profiling loop: plan, load levels, per-sample measurement, batched
** storage, budget, interruption and resume.
*/
#include "profiler/profile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/loadsnap.h"
#include "common/rng.h"
#include "common/store.h"
#include "common/sysinfo.h"
#include "profiler/backend.h"
#include "profiler/counters.h"
#include "profiler/dnnl_util.h"
#include "profiler/sweep.h"
#include "profiler/timing.h"

#define SETTLE_MS 150       /* after a load level starts, before the first sample */
#define COMMIT_EVERY_NS 2e9 /* commit a batch at least this often */

void prof_run_config_default(prof_run_config *c)
{
    memset(c, 0, sizeof *c);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = n > 0 ? (int)n : 1;
    c->seed = 1;
    c->window_ms = 40;
    c->probes = CL_LOADSNAP_PROBE_CPU;
    c->warmup = 5;
    c->min_reps = 5;
    c->max_reps = 100000;
    c->target_rel = 0.01;
    c->sample_ms = 150;
    c->batch = 32;
    c->max_macs = 2e9;
    c->max_bytes = cl_mem_available_bytes() / 4;
}

/* FNV-1a, 64 bits (Fowler, Noll, Vo): identifies a sweep text so a resume can tell whether the
** sweep changed under it. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static double now_s(void)
{
    return (double)prof_now_ns() * 1e-9;
}

static void shuffle(uint32_t *v, size_t n, uint64_t *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(cl_rng_next(rng) % i);
        uint32_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

struct plan_item {
    uint32_t entry, load;
};

/* The order samples are taken in.  Changing the load level means restarting the generator, so
** samples are grouped by load; to keep slow drift (thermal, other tenants) from masquerading as
** a load effect, the shapes are split into rounds and every round visits every load level in
** its own random order, with the shapes shuffled again within each visit.  A run cut short by
** its budget has therefore seen every load level.  Deterministic from SEED, so --resume rebuilds
** the same plan. */
static struct plan_item *build_plan(size_t nentries, size_t nloads, uint64_t seed)
{
    uint64_t rng = seed ^ 0x5ee9d1a6c0ffee11ULL;
    size_t total = nentries * nloads, k = 0;
    size_t rounds = nentries / 50;
    rounds = rounds < 1 ? 1 : rounds > 8 ? 8 : rounds;
    struct plan_item *plan = malloc(sizeof *plan * (total ? total : 1));
    uint32_t *ent = malloc(sizeof *ent * (nentries ? nentries : 1));
    uint32_t *lds = malloc(sizeof *lds * (nloads ? nloads : 1));
    if (!plan || !ent || !lds) {
        free(plan);
        plan = NULL;
        goto done;
    }
    for (size_t i = 0; i < nentries; i++)
        ent[i] = (uint32_t)i;
    shuffle(ent, nentries, &rng);
    for (size_t r = 0; r < rounds; r++) {
        size_t lo = r * nentries / rounds, hi = (r + 1) * nentries / rounds;
        for (size_t i = 0; i < nloads; i++)
            lds[i] = (uint32_t)i;
        shuffle(lds, nloads, &rng);
        for (size_t li = 0; li < nloads; li++) {
            shuffle(ent + lo, hi - lo, &rng);
            for (size_t e = lo; e < hi; e++)
                plan[k++] = (struct plan_item){ent[e], lds[li]};
        }
    }
done:
    free(ent);
    free(lds);
    return plan;
}

/* The run's normalised configuration, stored with the run and read back by --resume. */
static char *config_json(const prof_run_config *c, const char *sweep_name, uint64_t sweep_hash,
                         const prof_load_setting *loads, size_t nloads)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "{\"sweep\": ");
    cl_json_string(f, sweep_name);
    fprintf(f, ", \"sweep_hash\": \"%016llx\", \"types\": ", (unsigned long long)sweep_hash);
    cl_json_string(f, c->types ? c->types : "");
    fprintf(f, ", \"loads\": [");
    for (size_t i = 0; i < nloads; i++) {
        fprintf(f, "%s", i ? ", " : "");
        cl_json_string(f, loads[i].text);
    }
    fprintf(f,
            "], \"seed\": %llu, \"threads\": %d, \"window_ms\": %d, \"probes\": %u, "
            "\"warmup\": %d, \"min_reps\": %d, \"max_reps\": %d, \"target_rel\": %.17g, "
            "\"sample_ms\": %.17g, \"max_bytes\": %llu, \"max_macs\": %.17g}",
            (unsigned long long)c->seed, c->threads, c->window_ms, c->probes, c->warmup,
            c->min_reps, c->max_reps, c->target_rel, c->sample_ms, (unsigned long long)c->max_bytes,
            c->max_macs);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Everything a run holds, released in one place. */
struct run_state {
    cl_store *st;
    prof_counters *ctr;
    prof_loadgen *gen;
    cl_loadsnap_probe *probe;
    prof_sweep sweep;
    prof_load_setting *loads;
    size_t nloads;
    struct plan_item *plan;
    unsigned char *done;
    double *scratch;
    char *config;
    char *sweep_text;
    char types_buf[512];
    char sweep_name[256];
    char resumed_sweep[256];
    char loads_buf[PROF_LOAD_MAX_SETTINGS > 64 ? 64 : PROF_LOAD_MAX_SETTINGS][96];
    const char *load_specs[64];
    size_t nload_specs;
};

static void collect_load(void *arg, int index, const char *value)
{
    struct run_state *rs = arg;
    if (index < 64) {
        snprintf(rs->loads_buf[index], sizeof rs->loads_buf[index], "%s", value);
        rs->load_specs[index] = rs->loads_buf[index];
        rs->nload_specs = (size_t)index + 1;
    }
}

/* Read the sweep text named by CFG (a file or the compiled-in default) into RS. */
static cleave_status read_sweep_text(struct run_state *rs, const char *path, char *err,
                                     size_t errlen)
{
    if (!path || strcmp(path, "default") == 0) {
        snprintf(rs->sweep_name, sizeof rs->sweep_name, "default");
        rs->sweep_text = strdup(prof_default_sweep);
        return rs->sweep_text ? CLEAVE_OK : CLEAVE_ENOMEM;
    }
    snprintf(rs->sweep_name, sizeof rs->sweep_name, "%s", path);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open sweep '%s': %m", path);
        return CLEAVE_EIO;
    }
    size_t len = 0;
    FILE *m = open_memstream(&rs->sweep_text, &len);
    char chunk[4096];
    size_t got;
    while (m && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, got, m);
    int bad = ferror(f);
    fclose(f);
    if (!m || fclose(m) != 0 || bad) {
        snprintf(err, errlen, "cannot read sweep '%s'", path);
        return CLEAVE_EIO;
    }
    return CLEAVE_OK;
}

/* Recover the configuration of an unfinished run from its stored JSON into C and RS. */
static cleave_status config_from_json(prof_run_config *c, struct run_state *rs, const char *json,
                                      char *sweep_hash, size_t hashlen, char *err, size_t errlen)
{
    double v;
    char sweep[256];
    if (cl_json_get_string(json, "sweep", sweep, sizeof sweep) ||
        cl_json_get_string(json, "sweep_hash", sweep_hash, hashlen) ||
        cl_json_get_string(json, "types", rs->types_buf, sizeof rs->types_buf) ||
        cl_json_get_strings(json, "loads", collect_load, rs) < 1) {
        snprintf(err, errlen, "the stored configuration of the run cannot be read");
        return CLEAVE_EDB;
    }
    c->sweep_path = NULL;
    snprintf(rs->sweep_name, sizeof rs->sweep_name, "%s", sweep);
    c->types = rs->types_buf[0] ? rs->types_buf : NULL;
    c->loads = rs->load_specs;
    c->nloads = rs->nload_specs;
#define NUM_(key, field, type)                                                                     \
    if (cl_json_get_number(json, key, &v) == 0)                                                    \
        c->field = (type)v;
    NUM_("seed", seed, uint64_t);
    NUM_("threads", threads, int);
    NUM_("window_ms", window_ms, int);
    NUM_("probes", probes, unsigned);
    NUM_("warmup", warmup, int);
    NUM_("min_reps", min_reps, int);
    NUM_("max_reps", max_reps, int);
    NUM_("target_rel", target_rel, double);
    NUM_("sample_ms", sample_ms, double);
    NUM_("max_bytes", max_bytes, uint64_t);
    NUM_("max_macs", max_macs, double);
#undef NUM_
    return CLEAVE_OK;
}

static void fill_device(cl_device *d, const prof_run_config *c)
{
    cl_sysinfo si;
    cl_sysinfo_read(&si);
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", c->device);
    snprintf(d->host, sizeof d->host, "%s", si.host);
    snprintf(d->cpu_model, sizeof d->cpu_model, "%s", si.cpu_model);
    d->cores = si.cores;
    snprintf(d->backend, sizeof d->backend, "onednn");
    snprintf(d->backend_version, sizeof d->backend_version, "%s", prof_dnnl_version());
    d->threads = c->threads;
    snprintf(d->binding, sizeof d->binding, "%s", cl_omp_binding());
    snprintf(d->isa, sizeof d->isa, "%s", prof_dnnl_isa());
}

/* The static features of L as a JSON object. */
static void static_json(const cleave_layer *l, char *buf, size_t buflen)
{
    double f[CLEAVE_FEAT_COUNT];
    size_t len = 0;
    cleave_layer_features(l, f);
    len += (size_t)snprintf(buf, buflen, "{");
    for (int i = 0; i < CLEAVE_FEAT_COUNT && len < buflen; i++)
        len += (size_t)snprintf(buf + len, buflen - len, "%s\"%s\": %.17g", i ? ", " : "",
                                cleave_feature_name((cleave_feature)i), f[i]);
    if (len < buflen)
        snprintf(buf + len, buflen - len, "}");
}

/* Measure one sample of layer L under the load in force.  Returns CLEAVE_OK with *S filled, or
** the backend's status with its message in ERR (the sample is then skipped, not stored). */
static cleave_status measure(struct run_state *rs, const prof_run_config *c, const cleave_layer *l,
                             int64_t seq, cl_sample *s, prof_run_summary *sum, char *err,
                             size_t errlen)
{
    prof_kernel *k = NULL;
    prof_timing t;
    prof_counter_values cv;
    cleave_load load;
    cl_loadsnap_opts lo = {.probes = c->probes, .probe = rs->probe};
    prof_timing_opts to = {.warmup = 0,
                           .min_reps = c->min_reps,
                           .max_reps = c->max_reps,
                           .target_rel = c->target_rel,
                           .min_time_ns = (uint64_t)(c->sample_ms * 1e6),
                           .time_cap_ns = (uint64_t)(3 * c->sample_ms * 1e6)};

    double t0 = now_s();
    cleave_status rc = prof_kernel_prepare(&k, l, c->threads, c->seed + (uint64_t)seq, err, errlen);
    double t1 = now_s();
    sum->prepare_s += t1 - t0;
    if (rc != CLEAVE_OK)
        return rc;
    /* The load features are observed before our own warm-up runs, as a planner observes them
    ** before it runs a layer. */
    rc = cl_loadsnap_sample(c->window_ms, &lo, &load, err, errlen);
    double t2 = now_s();
    sum->window_s += t2 - t1;
    if (rc != CLEAVE_OK)
        goto done;
    for (int i = 0; i < c->warmup && rc == CLEAVE_OK; i++)
        rc = prof_kernel_run(k);
    double t3 = now_s();
    sum->warmup_s += t3 - t2;
    if (rc != CLEAVE_OK) {
        snprintf(err, errlen, "running failed: %s", cleave_strerror(rc));
        goto done;
    }
    int counting = rs->ctr && prof_counters_start(rs->ctr) == CLEAVE_OK;
    rc = prof_time_kernel(k, &to, rs->scratch, &t);
    if (counting && prof_counters_stop(rs->ctr, &cv) != CLEAVE_OK)
        counting = 0;
    sum->kernel_s += (double)t.total_ns * 1e-9;
    if (rc != CLEAVE_OK) {
        snprintf(err, errlen, "running failed: %s", cleave_strerror(rc));
        goto done;
    }

    memset(s, 0, sizeof *s);
    s->seq = seq;
    snprintf(s->type, sizeof s->type, "%s", cleave_layer_type_name(l->type));
    cleave_layer_format(l, s->spec, sizeof s->spec);
    static_json(l, s->static_json, sizeof s->static_json);
    for (int i = 0; i < CLEAVE_LOAD_COUNT; i++)
        s->dyn[i] = load.v[i];
    s->reps = t.reps;
    s->warmup = c->warmup;
    s->median_us = t.median_us;
    s->min_us = t.min_us;
    s->p90_us = t.p90_us;
    s->max_us = t.max_us;
    s->mean_us = t.mean_us;
    s->mad_us = t.mad_us;
    s->threads = c->threads;
    s->ncounters = 0;
    for (int i = 0; i < PROF_CTR_COUNT && i < CL_SAMPLE_MAX_COUNTERS; i++) {
        cl_counter *ct = &s->counters[s->ncounters++];
        snprintf(ct->name, sizeof ct->name, "%s", prof_counter_name((prof_counter_id)i));
        ct->available = counting && cv.v[i].available;
        ct->value = ct->available ? (double)cv.v[i].value : NAN;
    }
done:
    prof_kernel_release(k);
    return rc;
}

/* Read and parse the sweep, the type filter and the load levels of C into RS, touching no
** store; the sweep text's hash into *HASH.  Errors name the thing (CLEAVE_EPARSE for syntax,
** CLEAVE_EINVAL for values, CLEAVE_EIO for a sweep that cannot be read). */
static cleave_status parse_parts(struct run_state *rs, const prof_run_config *c, uint64_t *hash,
                                 char *err, size_t errlen)
{
    static const char *const default_loads[] = PROF_LOAD_DEFAULT_SPECS;
    cleave_status rc = read_sweep_text(rs, c->sweep_path, err, errlen);
    if (rc != CLEAVE_OK)
        return rc;
    *hash = fnv1a(rs->sweep_text);
    const char *slash = strrchr(rs->sweep_name, '/');
    prof_sweep_opts so = {.seed = c->seed,
                          .max_bytes = c->max_bytes,
                          .max_macs = c->max_macs,
                          .name = slash ? slash + 1 : rs->sweep_name};
    if (strcmp(rs->sweep_name, "default") == 0)
        so.name = "default.sweep";
    if (c->types && (rc = prof_types_parse(c->types, &so.types, err, errlen)) != CLEAVE_OK)
        return rc;
    if (rs->nload_specs) {
        /* A resumed run stored its settings one by one in canonical form: parse each alone
        ** (together they would form a cross product). */
        rs->loads = calloc(rs->nload_specs, sizeof *rs->loads);
        if (!rs->loads)
            return CLEAVE_ENOMEM;
        for (size_t i = 0; i < rs->nload_specs; i++) {
            prof_load_setting *one = NULL;
            size_t n1 = 0;
            rc = prof_load_parse(&one, &n1, &rs->load_specs[i], 1, err, errlen);
            if (rc == CLEAVE_OK && n1 != 1)
                rc = CLEAVE_EDB;
            if (rc == CLEAVE_OK)
                rs->loads[rs->nloads++] = one[0];
            free(one);
            if (rc != CLEAVE_OK)
                return rc;
        }
    } else {
        rc = prof_load_parse(&rs->loads, &rs->nloads, c->nloads ? c->loads : default_loads,
                             c->nloads ? c->nloads : PROF_LOAD_DEFAULT_NSPECS, err, errlen);
        if (rc != CLEAVE_OK)
            return rc;
    }
    rc = prof_sweep_parse(&rs->sweep, rs->sweep_text, &so, err, errlen);
    if (rc != CLEAVE_OK)
        return rc;
    if (rs->sweep.n == 0) {
        snprintf(err, errlen, "the sweep has no layer to profile%s",
                 c->types ? " of those types" : "");
        return CLEAVE_EINVAL;
    }
    return CLEAVE_OK;
}

static void release_state(struct run_state *rs)
{
    if (rs->gen) {
        char ignored[128];
        prof_loadgen_stop(rs->gen, ignored, sizeof ignored);
    }
    prof_counters_close(rs->ctr);
    cl_loadsnap_probe_destroy(rs->probe);
    prof_sweep_release(&rs->sweep);
    free(rs->loads);
    free(rs->plan);
    free(rs->done);
    free(rs->scratch);
    free(rs->config);
    free(rs->sweep_text);
    cl_store_close(rs->st);
}

cleave_status prof_run_check(const prof_run_config *cfg, char *err, size_t errlen)
{
    struct run_state rs;
    uint64_t hash;
    memset(&rs, 0, sizeof rs);
    cleave_status rc = parse_parts(&rs, cfg, &hash, err, errlen);
    release_state(&rs);
    return rc;
}

cleave_status prof_run(const prof_run_config *cfg, prof_progress_fn progress, void *arg,
                       volatile sig_atomic_t *stop, prof_run_summary *out, char *err, size_t errlen)
{
    struct run_state rs;
    prof_run_config c = *cfg;
    cl_device dev;
    cl_run run;
    cl_sample *sample = NULL;
    int64_t device_id = 0, run_id = 0, ndone = 0;
    int run_started = 0, in_batch = 0;
    char stored_hash[32] = "", msg[512];
    cleave_status rc;

    memset(&rs, 0, sizeof rs);
    memset(out, 0, sizeof *out);
    memset(&run, 0, sizeof run);
    double t_start = now_s();

    if (!c.device || !*c.device) {
        snprintf(err, errlen, "a device name is required (--device NAME)");
        return CLEAVE_EINVAL;
    }
    uint64_t hash = 0;
    if (!c.resume && (rc = parse_parts(&rs, &c, &hash, err, errlen)) != CLEAVE_OK)
        goto fail;
    rc = cl_store_open(&rs.st, c.db_path, c.resume ? 0 : CL_STORE_CREATE, err, errlen);
    if (rc != CLEAVE_OK)
        goto fail;

    if (c.resume) {
        int found = 0;
        rc = cl_store_device_get(rs.st, c.device, &dev, &device_id);
        if (rc != CLEAVE_OK) {
            snprintf(err, errlen, "no run of device '%s' to resume in '%s'", c.device, c.db_path);
            rc = CLEAVE_EINVAL;
            goto fail;
        }
        rc = cl_store_run_find_unfinished(rs.st, device_id, &run, &found);
        if (rc != CLEAVE_OK) {
            snprintf(err, errlen, "%s", cl_store_errmsg(rs.st));
            goto fail;
        }
        if (!found) {
            snprintf(err, errlen, "device '%s' has no unfinished run to resume in '%s'", c.device,
                     c.db_path);
            rc = CLEAVE_EINVAL;
            goto fail;
        }
        rc = config_from_json(&c, &rs, run.config, stored_hash, sizeof stored_hash, err, errlen);
        if (rc != CLEAVE_OK)
            goto fail;
        run_id = run.id;
        if (strcmp(rs.sweep_name, "default") != 0) {
            snprintf(rs.resumed_sweep, sizeof rs.resumed_sweep, "%s", rs.sweep_name);
            c.sweep_path = rs.resumed_sweep;
        }
    }
    if (c.resume) {
        char hash_hex[32];
        if ((rc = parse_parts(&rs, &c, &hash, err, errlen)) != CLEAVE_OK)
            goto fail;
        snprintf(hash_hex, sizeof hash_hex, "%016llx", (unsigned long long)hash);
        if (strcmp(hash_hex, stored_hash) != 0) {
            snprintf(err, errlen, "sweep '%s' changed since run %lld started; cannot resume it",
                     rs.sweep_name, (long long)run_id);
            rc = CLEAVE_EINVAL;
            goto fail;
        }
    }
    out->rejected_shapes = (int64_t)rs.sweep.rejected;
    /* The device's identity: a different thread count or binding under the same name is a
    ** different device, and is refused. */
    fill_device(&dev, &c);
    rc = cl_store_device_ensure(rs.st, &dev, &device_id);
    if (rc != CLEAVE_OK) {
        snprintf(err, errlen, "%s", cl_store_errmsg(rs.st));
        goto fail;
    }

    int64_t planned = (int64_t)(rs.sweep.n * rs.nloads);
    rs.plan = build_plan(rs.sweep.n, rs.nloads, c.seed);
    rs.done = calloc((size_t)planned, 1);
    rs.scratch = malloc(sizeof(double) * 2 * (size_t)(c.max_reps > 0 ? c.max_reps : 1));
    sample = malloc(sizeof *sample);
    rs.config = config_json(&c, rs.sweep_name, hash, rs.loads, rs.nloads);
    if (!rs.plan || !rs.done || !rs.scratch || !sample || !rs.config) {
        snprintf(err, errlen, "out of memory");
        rc = CLEAVE_ENOMEM;
        goto fail;
    }
    if (c.resume) {
        if (run.planned != planned) {
            snprintf(err, errlen,
                     "run %lld planned %lld samples, its sweep now gives %lld; "
                     "cannot resume it",
                     (long long)run_id, (long long)run.planned, (long long)planned);
            rc = CLEAVE_EINVAL;
            goto fail;
        }
        rc = cl_store_run_done_seqs(rs.st, run_id, rs.done, planned, &ndone);
        if (rc == CLEAVE_OK)
            rc = cl_store_run_resume(rs.st, run_id);
    } else {
        rc = cl_store_run_begin(rs.st, device_id, rs.config, c.seed, planned, &run_id);
    }
    if (rc != CLEAVE_OK) {
        snprintf(err, errlen, "%s", cl_store_errmsg(rs.st));
        goto fail;
    }
    run_started = 1;
    out->run_id = run_id;
    out->planned = planned;
    out->skipped_resume = ndone;

    /* Counters and probes are optional: a failure to open them is not a failure of the run. */
    if (prof_counters_open(&rs.ctr, 0, msg, sizeof msg) != CLEAVE_OK)
        rs.ctr = NULL;
    if ((c.probes & CL_LOADSNAP_PROBE_MEM) &&
        cl_loadsnap_probe_create(&rs.probe, msg, sizeof msg) != CLEAVE_OK)
        c.probes &= ~(unsigned)CL_LOADSNAP_PROBE_MEM;

    int64_t stored = ndone, in_this_batch = 0;
    uint32_t cur_load = UINT32_MAX;
    double last_commit = now_s();
    prof_progress pg = {.total = planned, .run_id = run_id};
    char spec[CL_SPEC_MAX];

    for (int64_t seq = 0; seq < planned; seq++) {
        if (rs.done[seq])
            continue;
        if (stop && *stop) {
            out->interrupted = 1;
            break;
        }
        if (c.budget_s > 0 && now_s() - t_start >= c.budget_s) {
            out->budget_hit = 1;
            break;
        }
        const struct plan_item *it = &rs.plan[seq];
        const prof_load_setting *ls = &rs.loads[it->load];
        double tl = now_s();
        if (it->load != cur_load) {
            if (rs.gen) {
                rc = prof_loadgen_stop(rs.gen, err, errlen);
                rs.gen = NULL;
                /* Ctrl-C on a terminal signals the generator too: its death is then expected. */
                if (rc != CLEAVE_OK && stop && *stop) {
                    out->interrupted = 1;
                    break;
                }
                if (rc != CLEAVE_OK)
                    goto fail;
            }
            if (stop && *stop) {
                out->interrupted = 1;
                break;
            }
            if (!ls->none) {
                rc = prof_loadgen_start(&rs.gen, ls, err, errlen);
                if (rc != CLEAVE_OK)
                    goto fail;
                struct timespec ts = {0, SETTLE_MS * 1000000L};
                nanosleep(&ts, NULL);
            }
            cur_load = it->load;
        } else if (rs.gen && (rc = prof_loadgen_check(rs.gen, err, errlen)) != CLEAVE_OK) {
            if (stop && *stop) {
                out->interrupted = 1;
                break;
            }
            goto fail;
        }
        out->loadgen_s += now_s() - tl;

        const cleave_layer *l = &rs.sweep.entries[it->entry].layer;
        cleave_layer_format(l, spec, sizeof spec);
        rc = measure(&rs, &c, l, seq, sample, out, msg, sizeof msg);
        if (rc != CLEAVE_OK) {
            /* A layer the backend refuses is skipped, counted and reported, not fatal. */
            if (out->failed_samples++ == 0)
                snprintf(out->first_failure, sizeof out->first_failure, "layer '%s': %s", spec,
                         msg);
            continue;
        }
        snprintf(sample->load, sizeof sample->load, "%s", ls->text);
        sample->load_cpu = ls->cpu_pct;
        sample->load_membw = ls->membw_threads;
        sample->load_memcap = ls->memcap_frac;

        double ts0 = now_s();
        if (!in_batch) {
            rc = cl_store_batch_begin(rs.st);
            if (rc != CLEAVE_OK) {
                snprintf(err, errlen, "%s", cl_store_errmsg(rs.st));
                goto fail;
            }
            in_batch = 1;
        }
        rc = cl_store_sample_add(rs.st, run_id, sample);
        if (rc != CLEAVE_OK) {
            snprintf(err, errlen, "%s", cl_store_errmsg(rs.st));
            in_batch = 0; /* a failed add rolled the batch back or left it open: roll back */
            cl_store_batch_rollback(rs.st);
            goto fail;
        }
        in_this_batch++;
        out->measured++;
        if (in_this_batch >= c.batch || (now_s() - last_commit) * 1e9 >= COMMIT_EVERY_NS) {
            in_batch = 0;
            rc = cl_store_batch_commit(rs.st);
            if (rc != CLEAVE_OK) {
                snprintf(err, errlen, "%s", cl_store_errmsg(rs.st));
                goto fail;
            }
            stored += in_this_batch;
            in_this_batch = 0;
            last_commit = now_s();
        }
        out->store_s += now_s() - ts0;

        if (progress) {
            pg.done = stored + in_this_batch;
            pg.this_session = out->measured;
            pg.elapsed_s = now_s() - t_start;
            pg.layer = spec;
            pg.load = ls->text;
            progress(&pg, arg);
        }
    }
    if (in_batch) {
        double ts0 = now_s();
        in_batch = 0;
        rc = cl_store_batch_commit(rs.st);
        if (rc != CLEAVE_OK) {
            snprintf(err, errlen, "%s", cl_store_errmsg(rs.st));
            goto fail;
        }
        stored += in_this_batch;
        out->store_s += now_s() - ts0;
    }
    if (rs.gen) {
        double tl = now_s();
        rc = prof_loadgen_stop(rs.gen, err, errlen);
        rs.gen = NULL;
        out->loadgen_s += now_s() - tl;
        if (rc != CLEAVE_OK && !(stop && *stop))
            goto fail;
    }
    out->stored = stored;
    out->finished = stored == planned;
    rc = cl_store_run_end(rs.st, run_id, out->finished ? CL_RUN_DONE : CL_RUN_INTERRUPTED);
    if (rc != CLEAVE_OK) {
        snprintf(err, errlen, "%s", cl_store_errmsg(rs.st));
        goto fail;
    }
    out->wall_s = now_s() - t_start;
    free(sample);
    cl_run_release(&run);
    release_state(&rs);
    return CLEAVE_OK;

fail:
    if (in_batch)
        cl_store_batch_rollback(rs.st);
    if (rs.gen) {
        prof_loadgen_stop(rs.gen, msg, sizeof msg);
        rs.gen = NULL;
    }
    if (run_started && rs.st)
        cl_store_run_end(rs.st, run_id, CL_RUN_FAILED);
    out->wall_s = now_s() - t_start;
    free(sample);
    cl_run_release(&run);
    release_state(&rs);
    return rc;
}
