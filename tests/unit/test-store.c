/*
** tests/unit/test-store.c - the SQLite store: round trips, NULL for unobserved values, resume
** bookkeeping, device identity, refusals (newer schema, foreign file, unwritable path, busy
** store, full disk), kill -9 safety, merge and CSV export; the migration from schema version 1,
** and the fit results of version 2 (models' LOLO metrics and detail, predictions, fit skips,
** transactions, merge).
**
** Run with "--fixture DIR" it instead writes small stores into DIR for tests/cli/t-db.sh.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include <cleave/cleave.h>

#include "common/store.h"

static char tmpdir[64];

/* A path inside the test's temporary directory. */
static const char *tpath(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
    return buf;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cleave-store-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- builders ----------------------------------------------------------------------------- */

static cl_device make_device(const char *name, int threads, const char *binding)
{
    cl_device d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "%s", name);
    snprintf(d.host, sizeof d.host, "host-%s", name);
    snprintf(d.cpu_model, sizeof d.cpu_model, "Test CPU @ 2.00GHz");
    d.cores = 2;
    snprintf(d.backend, sizeof d.backend, "onednn");
    snprintf(d.backend_version, sizeof d.backend_version, "2.6.3");
    d.threads = threads;
    snprintf(d.binding, sizeof d.binding, "%s", binding);
    snprintf(d.isa, sizeof d.isa, "avx2");
    return d;
}

/* A sample whose every value is a known function of SEQ (and SALT, to tell stores apart).
** PSI and the memory probe are "not observed" (NaN); "cycles" could not be opened; page faults
** were measured and really were 0. */
static void make_sample(cl_sample *s, int64_t seq, const char *type, int salt)
{
    memset(s, 0, sizeof *s);
    s->seq = seq;
    snprintf(s->type, sizeof s->type, "%s", type);
    snprintf(s->spec, sizeof s->spec, "%s n=1 c=%d h=8 w=8", type, (int)seq + 1 + salt);
    snprintf(s->static_json, sizeof s->static_json, "{\"macs\":%d,\"in_bytes\":%d}",
             (int)(64 * (seq + 1)), (int)(256 * (seq + 1)));
    int cpu = (int)(seq % 3) * 50;
    snprintf(s->load, sizeof s->load, "cpu=%d,membw=1,memcap=0", cpu);
    s->load_cpu = cpu;
    s->load_membw = 1;
    s->load_memcap = 0;
    for (int f = 0; f < CLEAVE_LOAD_COUNT; f++)
        s->dyn[f] = 0.1 * f + (double)seq + salt;
    s->dyn[CLEAVE_LOAD_PSI_CPU] = NAN;
    s->dyn[CLEAVE_LOAD_PROBE_MEM] = NAN;
    s->reps = 30 + seq;
    s->warmup = 5;
    s->median_us = 10.0 + 0.25 * (double)seq + salt;
    s->min_us = s->median_us - 0.5;
    s->p90_us = s->median_us + 1.0 / 3.0;
    s->max_us = s->median_us + 2;
    s->mean_us = s->median_us + 0.1;
    s->mad_us = 0.125;
    s->threads = 1;
    s->ncounters = 3;
    snprintf(s->counters[0].name, sizeof s->counters[0].name, "task-clock");
    s->counters[0].value = 1000.0 + (double)seq;
    s->counters[0].available = 1;
    snprintf(s->counters[1].name, sizeof s->counters[1].name, "cycles");
    s->counters[1].value = 0;
    s->counters[1].available = 0;
    snprintf(s->counters[2].name, sizeof s->counters[2].name, "page-faults");
    s->counters[2].value = 0;
    s->counters[2].available = 1;
}

static int same_real(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

/* Compare what was written (W) with what was read (R); counters are read back by name. */
static void assert_sample_equal(const cl_sample *w, const cl_sample *r)
{
    assert_int_equal(w->seq, r->seq);
    assert_string_equal(w->type, r->type);
    assert_string_equal(w->spec, r->spec);
    assert_string_equal(w->static_json, r->static_json);
    assert_string_equal(w->load, r->load);
    assert_true(same_real(w->load_cpu, r->load_cpu));
    assert_true(same_real(w->load_membw, r->load_membw));
    assert_true(same_real(w->load_memcap, r->load_memcap));
    for (int f = 0; f < CLEAVE_LOAD_COUNT; f++)
        if (!same_real(w->dyn[f], r->dyn[f]))
            fail_msg("dyn[%d]: wrote %g, read %g", f, w->dyn[f], r->dyn[f]);
    assert_int_equal(w->reps, r->reps);
    assert_int_equal(w->warmup, r->warmup);
    assert_true(w->median_us == r->median_us && w->min_us == r->min_us);
    assert_true(w->p90_us == r->p90_us && w->max_us == r->max_us);
    assert_true(w->mean_us == r->mean_us && w->mad_us == r->mad_us);
    assert_int_equal(w->threads, r->threads);
    assert_int_equal(strlen(r->created), 24); /* 2024-01-02T03:04:05.678Z */
    assert_int_equal(w->ncounters, r->ncounters);
    for (int i = 0; i < w->ncounters; i++) {
        const cl_counter *wc = &w->counters[i], *rc = NULL;
        for (int j = 0; j < r->ncounters; j++)
            if (strcmp(r->counters[j].name, wc->name) == 0)
                rc = &r->counters[j];
        if (!rc)
            fail_msg("counter '%s' not read back", wc->name);
        assert_int_equal(wc->available, rc->available);
        if (wc->available)
            assert_true(wc->value == rc->value);
        else
            assert_true(isnan(rc->value));
    }
}

static cl_store *open_ok(const char *path, int flags)
{
    cl_store *st = NULL;
    char err[512] = "";
    cleave_status rc = cl_store_open(&st, path, flags, err, sizeof err);
    if (rc != CLEAVE_OK)
        fail_msg("open '%s': %s", path, err);
    return st;
}

#define OK(st, call)                                                                               \
    do {                                                                                           \
        cleave_status rc_ = (call);                                                                \
        if (rc_ != CLEAVE_OK)                                                                      \
            fail_msg("%s: %s: %s", #call, cleave_status_name(rc_), cl_store_errmsg(st));           \
    } while (0)

/* Expect CALL to fail with WANT and the handle's message to be MSG exactly. */
#define FAILS(st, call, want, msg)                                                                 \
    do {                                                                                           \
        cleave_status rc_ = (call);                                                                \
        if (rc_ != (want) || strcmp(cl_store_errmsg(st), (msg)) != 0)                              \
            fail_msg("%s: got %s '%s', want %s '%s'", #call, cleave_status_name(rc_),              \
                     cl_store_errmsg(st), cleave_status_name(want), (msg));                        \
    } while (0)

/* Expect cl_store_open(PATH, FLAGS) to fail with WANT and message MSG. */
static void open_fails(const char *path, int flags, cleave_status want, const char *msg)
{
    cl_store *st = (cl_store *)0x1;
    char err[512] = "";
    cleave_status rc = cl_store_open(&st, path, flags, err, sizeof err);
    if (rc != want || strcmp(err, msg) != 0)
        fail_msg("open '%s': got %s '%s', want %s '%s'", path, cleave_status_name(rc), err,
                 cleave_status_name(want), msg);
    assert_null(st);
}

/* Write NSAMPLES samples of a new run of device NAME into the store at PATH (created), in
** batches of 4; types alternate conv / fc.  The run ends 'done'.  Returns the run id. */
static int64_t build_store(const char *path, const char *name, int threads, int nsamples, int salt)
{
    cl_store *st = open_ok(path, CL_STORE_CREATE);
    cl_device d = make_device(name, threads, "OMP_PROC_BIND=true");
    int64_t dev = 0, run = 0;
    cl_sample s;
    OK(st, cl_store_device_ensure(st, &d, &dev));
    OK(st, cl_store_run_begin(st, dev, "{\"types\":[\"conv\",\"fc\"]}", 42 + (uint64_t)salt,
                              nsamples, &run));
    for (int i = 0; i < nsamples; i++) {
        if (i % 4 == 0)
            OK(st, cl_store_batch_begin(st));
        make_sample(&s, i, i % 2 ? "fc" : "conv", salt);
        OK(st, cl_store_sample_add(st, run, &s));
        if (i % 4 == 3 || i == nsamples - 1)
            OK(st, cl_store_batch_commit(st));
    }
    OK(st, cl_store_run_end(st, run, CL_RUN_DONE));
    cl_store_close(st);
    return run;
}

/* Collects samples read back. */
struct collect {
    int n;
    cl_sample s[64];
};

static int collect_fn(const cl_sample *s, void *arg)
{
    struct collect *c = arg;
    if (c->n < 64)
        c->s[c->n] = *s;
    c->n++;
    return 0;
}

static int count_samples(cl_store *st, const char *device)
{
    struct collect *c = calloc(1, sizeof *c);
    assert_non_null(c);
    OK(st, cl_store_samples_foreach(st, device, NULL, collect_fn, c));
    int n = c->n;
    free(c);
    return n;
}

/* One integer from SQL run on a separate, raw connection to PATH (the oracle). */
static int64_t raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* The whole content of a file (malloc'ed) and its size. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* ---- tests -------------------------------------------------------------------------------- */

/* Device, run, samples and counters come back exactly as written; NaN dynamic features and
** unavailable counters are NULL in the file (never 0), while a counter measured as 0 stays 0. */
static void test_round_trip(void **state)
{
    (void)state;
    char path[128];
    tpath(path, sizeof path, "rt.db");
    cl_store *st = open_ok(path, CL_STORE_CREATE);
    int version = 0;
    OK(st, cl_store_schema_version(st, &version));
    assert_int_equal(version, CL_STORE_SCHEMA_VERSION);

    cl_device d = make_device("alpha", 1, "OMP_PROC_BIND=true"), got;
    int64_t dev = 0, dev2 = 0, run = 0;
    OK(st, cl_store_device_ensure(st, &d, &dev));
    OK(st, cl_store_device_ensure(st, &d, &dev2));
    assert_int_equal(dev, dev2);
    OK(st, cl_store_device_get(st, "alpha", &got, &dev2));
    assert_int_equal(dev, dev2);
    assert_string_equal(got.host, "host-alpha");
    assert_string_equal(got.cpu_model, d.cpu_model);
    assert_string_equal(got.binding, "OMP_PROC_BIND=true");
    assert_string_equal(got.isa, "avx2");
    assert_int_equal(got.cores, 2);
    assert_int_equal(got.threads, 1);
    assert_int_equal(strlen(got.created), 24);

    const uint64_t seed = 0xfedcba9876543210ULL; /* above INT64_MAX: all 64 bits survive */
    OK(st, cl_store_run_begin(st, dev, "{\"budget_s\":600}", seed, 6, &run));
    cl_sample w[6];
    OK(st, cl_store_batch_begin(st));
    for (int i = 0; i < 6; i++) {
        make_sample(&w[i], i, i < 4 ? "conv" : "pool", 0);
        OK(st, cl_store_sample_add(st, run, &w[i]));
    }
    OK(st, cl_store_batch_commit(st));

    struct collect *c = calloc(1, sizeof *c);
    assert_non_null(c);
    OK(st, cl_store_samples_foreach(st, "alpha", NULL, collect_fn, c));
    assert_int_equal(c->n, 6);
    for (int i = 0; i < 6; i++) {
        assert_sample_equal(&w[i], &c->s[i]);
        assert_int_equal(c->s[i].run_id, run);
    }
    c->n = 0;
    OK(st, cl_store_samples_foreach(st, NULL, "pool", collect_fn, c));
    assert_int_equal(c->n, 2);
    assert_int_equal(c->s[0].seq, 4);
    free(c);

    cl_run r;
    OK(st, cl_store_run_get(st, run, &r));
    assert_true(r.seed == seed);
    assert_string_equal(r.config, "{\"budget_s\":600}");
    assert_int_equal(r.planned, 6);
    assert_int_equal(r.nsamples, 6);
    assert_int_equal(r.max_seq, 5);
    assert_int_equal(r.status, CL_RUN_RUNNING);
    assert_string_equal(r.ended, "");
    assert_int_equal(strlen(r.uid), 32);
    cl_run_release(&r);
    OK(st, cl_store_run_end(st, run, CL_RUN_DONE));
    OK(st, cl_store_run_get(st, run, &r));
    assert_int_equal(r.status, CL_RUN_DONE);
    assert_int_equal(strlen(r.ended), 24);
    cl_run_release(&r);
    OK(st, cl_store_check(st));
    cl_store_close(st);

    /* The file itself, read by an independent connection. */
    assert_int_equal(raw_int(path, "SELECT count(*) FROM samples WHERE d_psi_cpu IS NULL AND "
                                   "d_probe_mem_ns IS NULL AND d_psi_mem IS NOT NULL"),
                     6);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM counters WHERE name = 'cycles' AND "
                                   "value IS NULL"),
                     6);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM counters WHERE name = 'page-faults' "
                                   "AND value = 0"),
                     6);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM counters WHERE value IS NULL"), 6);
    assert_int_equal(raw_int(path, "PRAGMA foreign_keys"), 0); /* per connection, not stored */
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    sqlite3_close(db);

    /* Read-only: reads work, writes are refused with a message, and closing leaves no -wal or
    ** -shm file behind. */
    st = open_ok(path, CL_STORE_READONLY);
    assert_int_equal(count_samples(st, NULL), 6);
    char msg[256];
    snprintf(msg, sizeof msg, "cannot write '%s': opened read-only", path);
    FAILS(st, cl_store_batch_begin(st), CLEAVE_EDB, msg);
    cl_device d2 = make_device("beta", 1, "");
    FAILS(st, cl_store_device_ensure(st, &d2, &dev2), CLEAVE_EDB, msg);
    cl_store_close(st);
    cl_store_close(NULL);
    char side[160];
    snprintf(side, sizeof side, "%s-wal", path);
    assert_false(exists(side));
    snprintf(side, sizeof side, "%s-shm", path);
    assert_false(exists(side));
}

/* The d_ columns of the migration are the dynamic features of include/cleave/load.h, in order. */
static void test_dynamic_columns(void **state)
{
    (void)state;
    static const char *const names[] = {
#define NAME_(e, name, unit, src) name,
        CLEAVE_LOAD_FEATURE_MAP(NAME_)
#undef NAME_
    };
    char path[128];
    tpath(path, sizeof path, "cols.db");
    cl_store_close(open_ok(path, CL_STORE_CREATE));
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT name, type FROM pragma_table_info('samples')"
                                        " WHERE name LIKE 'd\\_%' ESCAPE '\\' ORDER BY cid",
                                        -1, &q, NULL),
                     SQLITE_OK);
    int n = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        char want[64];
        assert_true(n < CLEAVE_LOAD_COUNT);
        snprintf(want, sizeof want, "d_%s", names[n]);
        assert_string_equal((const char *)sqlite3_column_text(q, 0), want);
        assert_string_equal((const char *)sqlite3_column_text(q, 1), "REAL");
        n++;
    }
    assert_int_equal(n, CLEAVE_LOAD_COUNT);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* A seq already stored in a run is refused, within a batch and across batches, and the batch
** it was offered in stays usable: a resume can never duplicate a sample. */
static void test_duplicate_seq(void **state)
{
    (void)state;
    char path[128], msg[256];
    tpath(path, sizeof path, "dup.db");
    cl_store *st = open_ok(path, CL_STORE_CREATE);
    cl_device d = make_device("alpha", 1, "");
    int64_t dev = 0, run = 0;
    cl_sample s;
    OK(st, cl_store_device_ensure(st, &d, &dev));
    OK(st, cl_store_run_begin(st, dev, NULL, 1, 3, &run));
    OK(st, cl_store_batch_begin(st));
    make_sample(&s, 0, "conv", 0);
    OK(st, cl_store_sample_add(st, run, &s));
    snprintf(msg, sizeof msg, "run %" PRId64 " already has a sample at seq 0", run);
    FAILS(st, cl_store_sample_add(st, run, &s), CLEAVE_EINVAL, msg);
    make_sample(&s, 1, "conv", 0);
    OK(st, cl_store_sample_add(st, run, &s));
    OK(st, cl_store_batch_commit(st));
    OK(st, cl_store_batch_begin(st));
    make_sample(&s, 1, "conv", 0);
    snprintf(msg, sizeof msg, "run %" PRId64 " already has a sample at seq 1", run);
    FAILS(st, cl_store_sample_add(st, run, &s), CLEAVE_EINVAL, msg);
    OK(st, cl_store_batch_commit(st));
    assert_int_equal(count_samples(st, NULL), 2);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM counters"), 6);

    /* Malformed samples are refused before anything is written. */
    snprintf(msg, sizeof msg, "no open batch on '%s': samples are written in batches", path);
    make_sample(&s, 2, "conv", 0);
    FAILS(st, cl_store_sample_add(st, run, &s), CLEAVE_EINVAL, msg);
    OK(st, cl_store_batch_begin(st));
    snprintf(s.counters[2].name, sizeof s.counters[2].name, "cycles");
    FAILS(st, cl_store_sample_add(st, run, &s), CLEAVE_EINVAL,
          "sample 2: counter 'cycles' given twice");
    make_sample(&s, 2, "conv", 0);
    snprintf(msg, sizeof msg, "no run 99 in '%s'", path);
    FAILS(st, cl_store_sample_add(st, 99, &s), CLEAVE_EINVAL, msg);
    OK(st, cl_store_batch_rollback(st));
    assert_int_equal(count_samples(st, NULL), 2);
    OK(st, cl_store_check(st));
    cl_store_close(st);
}

/* What --resume needs: the latest unfinished run, its plan size and the seqs already stored. */
static void test_resume_bookkeeping(void **state)
{
    (void)state;
    char path[128];
    tpath(path, sizeof path, "resume.db");
    cl_store *st = open_ok(path, CL_STORE_CREATE);
    cl_device d = make_device("alpha", 1, "");
    int64_t dev = 0, old = 0, run = 0, ndone = 0;
    int found = -1;
    cl_run r;
    cl_sample s;
    OK(st, cl_store_device_ensure(st, &d, &dev));
    OK(st, cl_store_run_find_unfinished(st, dev, &r, &found));
    assert_int_equal(found, 0);
    OK(st, cl_store_run_begin(st, dev, "{\"n\":1}", 7, 4, &old));
    OK(st, cl_store_run_end(st, old, CL_RUN_INTERRUPTED));
    OK(st, cl_store_run_begin(st, dev, "{\"n\":2}", 9, 10, &run));
    OK(st, cl_store_batch_begin(st));
    const int seqs[] = {0, 1, 2, 3, 7};
    for (int i = 0; i < 5; i++) {
        make_sample(&s, seqs[i], "conv", 0);
        OK(st, cl_store_sample_add(st, run, &s));
    }
    OK(st, cl_store_batch_commit(st));
    /* A crash leaves the run 'running': that is unfinished too, and newer than 'old'. */
    OK(st, cl_store_run_find_unfinished(st, dev, &r, &found));
    assert_int_equal(found, 1);
    assert_int_equal(r.id, run);
    assert_string_equal(r.config, "{\"n\":2}");
    assert_int_equal(r.seed, 9);
    assert_int_equal(r.planned, 10);
    assert_int_equal(r.nsamples, 5);
    assert_int_equal(r.max_seq, 7);
    cl_run_release(&r);
    unsigned char done[10];
    memset(done, 0xff, sizeof done);
    OK(st, cl_store_run_done_seqs(st, run, done, 10, &ndone));
    assert_int_equal(ndone, 5);
    const unsigned char want[10] = {1, 1, 1, 1, 0, 0, 0, 1, 0, 0};
    assert_memory_equal(done, want, 10);

    OK(st, cl_store_run_end(st, run, CL_RUN_INTERRUPTED));
    OK(st, cl_store_run_resume(st, run));
    OK(st, cl_store_run_get(st, run, &r));
    assert_int_equal(r.status, CL_RUN_RUNNING);
    assert_string_equal(r.ended, "");
    cl_run_release(&r);
    OK(st, cl_store_run_end(st, run, CL_RUN_DONE));
    OK(st, cl_store_run_find_unfinished(st, dev, &r, &found));
    assert_int_equal(found, 1);
    assert_int_equal(r.id, old);
    assert_int_equal(r.max_seq, -1);
    cl_run_release(&r);
    OK(st, cl_store_run_end(st, old, CL_RUN_FAILED));
    OK(st, cl_store_run_find_unfinished(st, dev, &r, &found));
    assert_int_equal(found, 0);

    char msg[256];
    snprintf(msg, sizeof msg, "no run 77 in '%s'", path);
    FAILS(st, cl_store_run_end(st, 77, CL_RUN_DONE), CLEAVE_EINVAL, msg);
    FAILS(st, cl_store_run_get(st, 77, &r), CLEAVE_EINVAL, msg);
    FAILS(st, cl_store_run_end(st, run, CL_RUN_RUNNING), CLEAVE_EINVAL,
          "a run ends done, interrupted or failed, not status 0");
    snprintf(msg, sizeof msg, "no device with id 5 in '%s'", path);
    FAILS(st, cl_store_run_begin(st, 5, NULL, 0, 1, &run), CLEAVE_EINVAL, msg);
    assert_string_equal(cl_run_status_name(CL_RUN_INTERRUPTED), "interrupted");
    assert_int_equal(cl_run_status_from_name("failed"), CL_RUN_FAILED);
    assert_int_equal(cl_run_status_from_name("bogus"), -1);
    assert_null(cl_run_status_name(CL_RUN_NSTATUS));
    cl_store_close(st);
}

/* A device name is bound to its threads, binding and CPU model. */
static void test_device_identity(void **state)
{
    (void)state;
    char path[128], msg[256];
    tpath(path, sizeof path, "ident.db");
    cl_store *st = open_ok(path, CL_STORE_CREATE);
    cl_device d = make_device("pi4", 2, "OMP_PROC_BIND=true");
    int64_t id = 0;
    OK(st, cl_store_device_ensure(st, &d, &id));
    d.threads = 1;
    FAILS(st, cl_store_device_ensure(st, &d, &id), CLEAVE_EINVAL,
          "device 'pi4' was calibrated with threads=2 binding=OMP_PROC_BIND=true, not "
          "threads=1 binding=OMP_PROC_BIND=true; use another --device name");
    d.threads = 2;
    d.binding[0] = '\0';
    FAILS(st, cl_store_device_ensure(st, &d, &id), CLEAVE_EINVAL,
          "device 'pi4' was calibrated with threads=2 binding=OMP_PROC_BIND=true, not "
          "threads=2 binding=none; use another --device name");
    d = make_device("pi4", 2, "OMP_PROC_BIND=true");
    snprintf(d.cpu_model, sizeof d.cpu_model, "Cortex-A72");
    FAILS(st, cl_store_device_ensure(st, &d, &id), CLEAVE_EINVAL,
          "device 'pi4' was calibrated on 'Test CPU @ 2.00GHz', not 'Cortex-A72'; use another "
          "--device name");
    /* Host and backend version may change (a reinstalled OS); the identity holds. */
    d = make_device("pi4", 2, "OMP_PROC_BIND=true");
    snprintf(d.host, sizeof d.host, "renamed");
    int64_t id2 = 0;
    OK(st, cl_store_device_ensure(st, &d, &id2));
    assert_int_equal(id, id2);
    d = make_device("", 1, "");
    FAILS(st, cl_store_device_ensure(st, &d, &id), CLEAVE_EINVAL, "empty device name");
    d = make_device("x", 0, "");
    FAILS(st, cl_store_device_ensure(st, &d, &id), CLEAVE_EINVAL,
          "device 'x': threads must be at least 1, not 0");
    snprintf(msg, sizeof msg, "no device 'nope' in '%s'", path);
    FAILS(st, cl_store_device_get(st, "nope", NULL, NULL), CLEAVE_EINVAL, msg);
    FAILS(st, cl_store_samples_foreach(st, "nope", NULL, collect_fn, NULL), CLEAVE_EINVAL, msg);

    d = make_device("edge", 4, "");
    OK(st, cl_store_device_ensure(st, &d, &id));
    cl_device *list = NULL;
    int64_t *ids = NULL;
    size_t n = 0;
    OK(st, cl_store_device_list(st, &list, &ids, &n));
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "edge");
    assert_string_equal(list[1].name, "pi4");
    assert_int_equal(ids[0], id);
    free(list);
    free(ids);
    cl_store_close(st);
}

/* A store written by a newer cleave is refused, with the versions named, and not touched. */
static void test_newer_schema(void **state)
{
    (void)state;
    char path[128], wal[160], msg[256];
    tpath(path, sizeof path, "newer.db");
    build_store(path, "alpha", 1, 3, 0);
    raw_exec(path, "PRAGMA user_version = 7");
    snprintf(wal, sizeof wal, "%s-wal", path);
    assert_false(exists(wal)); /* the last close checkpointed everything into the file */
    size_t n0 = 0, n1 = 0;
    char *before = slurp(path, &n0);
    snprintf(msg, sizeof msg, "'%s' has schema version 7, newer than this cleave (%d)", path,
             CL_STORE_SCHEMA_VERSION);
    open_fails(path, 0, CLEAVE_EDB, msg);
    open_fails(path, CL_STORE_CREATE, CLEAVE_EDB, msg);
    open_fails(path, CL_STORE_READONLY, CLEAVE_EDB, msg);
    char *after = slurp(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    assert_false(exists(wal));
    snprintf(wal, sizeof wal, "%s-shm", path);
    assert_false(exists(wal));
    assert_int_equal(raw_int(path, "PRAGMA user_version"), 7);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM samples"), 3);
    free(before);
    free(after);
}

/* Files that are not cleave stores: text, another program's SQLite database, an empty file
** opened read-only.  None is modified. */
static void test_not_a_store(void **state)
{
    (void)state;
    char path[128], msg[256];
    tpath(path, sizeof path, "notes.txt");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 100; i++)
        fprintf(f, "line %d: this is a text file, not a database\n", i);
    fclose(f);
    size_t n0 = 0, n1 = 0;
    char *before = slurp(path, &n0);
    snprintf(msg, sizeof msg, "'%s' is not a cleave store", path);
    open_fails(path, 0, CLEAVE_EDB, msg);
    open_fails(path, CL_STORE_READONLY, CLEAVE_EDB, msg);
    char *after = slurp(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);

    tpath(path, sizeof path, "other.sqlite");
    raw_exec(path, "CREATE TABLE contacts(name TEXT)");
    snprintf(msg, sizeof msg, "'%s' is not a cleave store", path);
    open_fails(path, CL_STORE_CREATE, CLEAVE_EDB, msg);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master"), 1);

    tpath(path, sizeof path, "empty.db");
    close(open(path, O_CREAT | O_WRONLY, 0644));
    snprintf(msg, sizeof msg, "'%s' is not a cleave store", path);
    open_fails(path, CL_STORE_READONLY, CLEAVE_EDB, msg);
    /* Opened for writing, an empty file becomes a store (SQLite treats it as a new database). */
    cl_store_close(open_ok(path, 0));
    assert_int_equal(raw_int(path, "PRAGMA user_version"), CL_STORE_SCHEMA_VERSION);

    tpath(path, sizeof path, "");
    snprintf(msg, sizeof msg, "cannot open '%s': is a directory", path);
    open_fails(path, CL_STORE_CREATE, CLEAVE_EIO, msg);
    open_fails("", CL_STORE_CREATE, CLEAVE_EINVAL, "empty store path");
}

/* Paths that cannot be opened say why, with the OS reason, and create nothing. */
static void test_unwritable_path(void **state)
{
    (void)state;
    char path[128], msg[256], file[128];
    tpath(path, sizeof path, "missing-dir/x.db");
    snprintf(msg, sizeof msg, "cannot open '%s': no such file or directory", path);
    open_fails(path, CL_STORE_CREATE, CLEAVE_EIO, msg);
    /* Tests run as root, for whom chmod blocks nothing: a regular file as a directory does. */
    tpath(file, sizeof file, "plainfile");
    close(open(file, O_CREAT | O_WRONLY, 0644));
    tpath(path, sizeof path, "plainfile/x.db");
    snprintf(msg, sizeof msg, "cannot open '%s': not a directory", path);
    open_fails(path, CL_STORE_CREATE, CLEAVE_EIO, msg);
    tpath(path, sizeof path, "absent.db");
    snprintf(msg, sizeof msg, "no store at '%s'", path);
    open_fails(path, 0, CLEAVE_EIO, msg);
    open_fails(path, CL_STORE_READONLY, CLEAVE_EIO, msg);
    assert_false(exists(path));
    snprintf(msg, sizeof msg, "cannot create '%s' read-only", path);
    open_fails(path, CL_STORE_READONLY | CL_STORE_CREATE, CLEAVE_EINVAL, msg);
    assert_false(exists(path));
}

/* A full disk (a page limit on the connection) fails the open batch with a clear message and
** rolls back that batch only: every committed sample survives and the file is sound. */
static void test_disk_full(void **state)
{
    (void)state;
    char path[128], msg[256];
    tpath(path, sizeof path, "full.db");
    int64_t run = build_store(path, "alpha", 1, 20, 0);
    int64_t pages = raw_int(path, "PRAGMA page_count");
    assert_true(pages > 0);

    cl_store *st = open_ok(path, 0);
    OK(st, cl_store_set_max_pages(st, pages + 2));
    OK(st, cl_store_batch_begin(st));
    snprintf(msg, sizeof msg, "disk full while writing '%s'", path);
    cleave_status rc = CLEAVE_OK;
    cl_sample s;
    int i;
    for (i = 0; i < 2000 && rc == CLEAVE_OK; i++) {
        make_sample(&s, 100 + i, "conv", 0);
        memset(s.static_json, 'x', sizeof s.static_json - 1); /* 2 KiB a row */
        s.static_json[sizeof s.static_json - 1] = '\0';
        rc = cl_store_sample_add(st, run, &s);
    }
    if (rc == CLEAVE_OK)
        rc = cl_store_batch_commit(st);
    if (rc != CLEAVE_EIO || strcmp(cl_store_errmsg(st), msg) != 0)
        fail_msg("after %d samples: got %s '%s'", i, cleave_status_name(rc), cl_store_errmsg(st));
    assert_true(i > 1); /* the first rows fitted: the failure was mid-batch */
    char nb[256];
    snprintf(nb, sizeof nb, "no open batch on '%s'", path);
    FAILS(st, cl_store_batch_commit(st), CLEAVE_EINVAL, nb);
    assert_int_equal(count_samples(st, NULL), 20);
    /* The handle goes on working once there is room again. */
    OK(st, cl_store_set_max_pages(st, 1 << 30));
    OK(st, cl_store_batch_begin(st));
    make_sample(&s, 20, "conv", 0);
    OK(st, cl_store_sample_add(st, run, &s));
    OK(st, cl_store_batch_commit(st));
    cl_store_close(st);

    st = open_ok(path, CL_STORE_READONLY);
    assert_int_equal(count_samples(st, NULL), 21);
    OK(st, cl_store_check(st));
    cl_store_close(st);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM samples WHERE seq >= 100"), 0);
}

/* kill -9 in the middle of a batch loses that batch and nothing else. */
static void test_kill9(void **state)
{
    (void)state;
    char path[128];
    tpath(path, sizeof path, "kill.db");
    cl_store *st = open_ok(path, CL_STORE_CREATE);
    cl_device d = make_device("alpha", 1, "");
    int64_t dev = 0, run = 0;
    OK(st, cl_store_device_ensure(st, &d, &dev));
    OK(st, cl_store_run_begin(st, dev, NULL, 3, 100, &run));
    cl_store_close(st); /* an SQLite connection must not cross fork() */

    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child: three committed batches of 10, then a fourth left open. */
        char err[256], c = 'e';
        cl_store *cs = NULL;
        cl_sample s;
        close(pipefd[0]);
        if (cl_store_open(&cs, path, 0, err, sizeof err) != CLEAVE_OK)
            goto child_fail;
        for (int b = 0; b < 4; b++) {
            if (cl_store_batch_begin(cs) != CLEAVE_OK)
                goto child_fail;
            for (int i = 0; i < 10; i++) {
                make_sample(&s, b * 10 + i, "conv", 0);
                if (cl_store_sample_add(cs, run, &s) != CLEAVE_OK)
                    goto child_fail;
            }
            if (b < 3 && cl_store_batch_commit(cs) != CLEAVE_OK)
                goto child_fail;
        }
        c = 'k';
    child_fail:
        if (write(pipefd[1], &c, 1) != 1)
            _exit(3);
        for (;;)
            pause();
    }
    close(pipefd[1]);
    char c = 0;
    assert_int_equal(read(pipefd[0], &c, 1), 1);
    close(pipefd[0]);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int wstatus = 0;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    assert_true(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);
    assert_int_equal(c, 'k');

    st = open_ok(path, 0);
    OK(st, cl_store_check(st));
    cl_run r;
    OK(st, cl_store_run_get(st, run, &r));
    assert_int_equal(r.nsamples, 30);
    assert_int_equal(r.max_seq, 29);
    assert_int_equal(r.status, CL_RUN_RUNNING); /* what --resume looks for */
    cl_run_release(&r);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM counters"), 90);
    cl_store_close(st);
}

/* Another writer holding the store: a write waits the busy timeout, then fails naming the store
** and saying it is locked; readers are never blocked (WAL). */
static void test_busy(void **state)
{
    (void)state;
    char path[128], msg[256];
    tpath(path, sizeof path, "busy.db");
    build_store(path, "alpha", 1, 2, 0);
    cl_store *a = open_ok(path, 0), *b = open_ok(path, 0);
    OK(b, cl_store_set_busy_timeout(b, 200));
    OK(a, cl_store_batch_begin(a));
    snprintf(msg, sizeof msg, "'%s' is locked by another writer (gave up after 200 ms)", path);
    FAILS(b, cl_store_batch_begin(b), CLEAVE_EDB, msg);
    cl_device d = make_device("beta", 1, "");
    int64_t id = 0;
    FAILS(b, cl_store_device_ensure(b, &d, &id), CLEAVE_EDB, msg);
    assert_int_equal(count_samples(b, NULL), 2);
    OK(a, cl_store_batch_commit(a));
    OK(b, cl_store_batch_begin(b));
    OK(b, cl_store_batch_commit(b));
    FAILS(b, cl_store_set_busy_timeout(b, -1), CLEAVE_EINVAL, "negative busy timeout -1 ms");
    cl_store_close(a);
    cl_store_close(b);
}

static int model_count_fn(const cl_model *m, void *arg)
{
    int *n = arg;
    assert_string_equal(m->family, "poly2");
    assert_int_equal(m->blob_bytes, 4);
    assert_memory_equal(m->blob, "\x01\x02\x03\x04", 4);
    assert_string_equal(m->features, "[\"macs\",\"cpu_util\"]");
    assert_true(m->cv_r2 == 0.97 && isnan(m->cv_mape));
    (*n)++;
    return 0;
}

static void add_model(cl_store *st, int64_t dev)
{
    cl_model m;
    memset(&m, 0, sizeof m);
    m.device_id = dev;
    snprintf(m.type, sizeof m.type, "conv");
    snprintf(m.family, sizeof m.family, "poly2");
    snprintf(m.feature_set, sizeof m.feature_set, "dynamic");
    m.features = "[\"macs\",\"cpu_util\"]";
    m.blob = "\x01\x02\x03\x04";
    m.blob_bytes = 4;
    m.cv_r2 = 0.97;
    m.cv_rmse = 1.5;
    m.cv_mape = NAN;
    m.cv_within10 = 0.9;
    m.n_samples = 100;
    m.selected = 1;
    OK(st, cl_store_model_add(st, &m, NULL));
}

/* Merging two devices' stores: counts, remapped ids, the same content, idempotence, growth,
** refusal of a conflicting device (nothing merged), and of bad sources. */
static void test_merge(void **state)
{
    (void)state;
    char pa[128], pb[128], pc[128], pm[128], msg[512], err[512];
    tpath(pa, sizeof pa, "merge-a.db");
    tpath(pb, sizeof pb, "merge-b.db");
    tpath(pc, sizeof pc, "merge-c.db");
    tpath(pm, sizeof pm, "merge-m.db");
    build_store(pa, "alpha", 1, 5, 0);
    build_store(pb, "beta", 2, 3, 1000);
    build_store(pc, "alpha", 2, 2, 0);
    cl_store *st = open_ok(pa, 0);
    int64_t dev = 0;
    OK(st, cl_store_device_get(st, "alpha", NULL, &dev));
    add_model(st, dev);
    cl_store_close(st);

    st = open_ok(pm, CL_STORE_CREATE);
    cl_merge_counts c;
    OK(st, cl_store_merge(st, pa, &c, err, sizeof err));
    assert_int_equal(c.devices, 1);
    assert_int_equal(c.runs, 1);
    assert_int_equal(c.samples, 5);
    assert_int_equal(c.counters, 15);
    assert_int_equal(c.models, 1);
    OK(st, cl_store_merge(st, pb, &c, err, sizeof err));
    assert_int_equal(c.devices, 1);
    assert_int_equal(c.runs, 1);
    assert_int_equal(c.samples, 3);
    assert_int_equal(c.models, 0);
    /* Again: nothing new. */
    OK(st, cl_store_merge(st, pa, &c, err, sizeof err));
    OK(st, cl_store_merge(st, pb, NULL, err, sizeof err));
    snprintf(msg, sizeof msg, "%s-wal", pb);
    assert_false(exists(msg)); /* the source is left as it was found */
    assert_int_equal(c.devices + c.runs + c.samples + c.counters + c.models, 0);

    /* beta's run was run 1 in its own file; here it is run 2 and device 2. */
    struct collect *got = calloc(1, sizeof *got);
    assert_non_null(got);
    OK(st, cl_store_samples_foreach(st, "beta", NULL, collect_fn, got));
    assert_int_equal(got->n, 3);
    int64_t beta = 0;
    OK(st, cl_store_device_get(st, "beta", NULL, &beta));
    assert_int_equal(beta, 2);
    for (int i = 0; i < 3; i++) {
        cl_sample w;
        make_sample(&w, i, i % 2 ? "fc" : "conv", 1000);
        assert_sample_equal(&w, &got->s[i]);
        assert_int_equal(got->s[i].run_id, 2);
        assert_int_equal(got->s[i].id, 6 + i);
    }
    free(got);
    cl_run r;
    OK(st, cl_store_run_get(st, 2, &r));
    assert_int_equal(r.device_id, 2);
    assert_int_equal(r.seed, 1042);
    assert_int_equal(r.status, CL_RUN_DONE);
    cl_run_release(&r);
    int nmodels = 0;
    OK(st, cl_store_models_foreach(st, 1, NULL, model_count_fn, &nmodels));
    assert_int_equal(nmodels, 1);

    /* The source grew (a resumed run went on): only the new sample is copied. */
    cl_store *sa = open_ok(pa, 0);
    cl_sample s;
    OK(sa, cl_store_batch_begin(sa));
    make_sample(&s, 5, "conv", 0);
    OK(sa, cl_store_sample_add(sa, 1, &s));
    OK(sa, cl_store_batch_commit(sa));
    cl_store_close(sa);
    OK(st, cl_store_merge(st, pa, &c, err, sizeof err));
    assert_int_equal(c.samples, 1);
    assert_int_equal(c.counters, 3);
    assert_int_equal(c.runs + c.devices + c.models, 0);

    /* alpha with 2 threads is another device: refused, and nothing of it copied. */
    snprintf(msg, sizeof msg,
             "device 'alpha' differs: threads=2 binding=OMP_PROC_BIND=true cpu 'Test CPU @ "
             "2.00GHz' in '%s', but threads=1 binding=OMP_PROC_BIND=true cpu 'Test CPU @ "
             "2.00GHz' in '%s'; nothing merged",
             pc, pm);
    err[0] = '\0';
    FAILS(st, cl_store_merge(st, pc, &c, err, sizeof err), CLEAVE_EINVAL, msg);
    assert_string_equal(err, msg);
    assert_int_equal(count_samples(st, NULL), 9);

    snprintf(msg, sizeof msg, "cannot merge '%s' into itself", pm);
    FAILS(st, cl_store_merge(st, pm, &c, err, sizeof err), CLEAVE_EINVAL, msg);
    char missing[128];
    tpath(missing, sizeof missing, "merge-missing.db");
    snprintf(msg, sizeof msg, "no store at '%s'", missing);
    FAILS(st, cl_store_merge(st, missing, &c, err, sizeof err), CLEAVE_EIO, msg);
    assert_false(exists(missing));

    /* A name with URI syntax in it is still just a file name. */
    char odd[128];
    tpath(odd, sizeof odd, "odd?name#1%.db");
    build_store(odd, "gamma", 1, 1, 0);
    OK(st, cl_store_merge(st, odd, &c, err, sizeof err));
    assert_int_equal(c.devices, 1);
    assert_int_equal(c.samples, 1);

    /* A run copied while interrupted takes its later status when merged again. */
    char pd[128];
    tpath(pd, sizeof pd, "merge-d.db");
    int64_t drun = build_store(pd, "delta", 1, 2, 0);
    cl_store *sd = open_ok(pd, 0);
    OK(sd, cl_store_run_end(sd, drun, CL_RUN_INTERRUPTED));
    cl_store_close(sd);
    OK(st, cl_store_merge(st, pd, &c, err, sizeof err));
    int64_t mdev = 0;
    int found = 0;
    OK(st, cl_store_device_get(st, "delta", NULL, &mdev));
    OK(st, cl_store_run_find_unfinished(st, mdev, &r, &found));
    assert_int_equal(found, 1);
    int64_t mrun = r.id;
    cl_run_release(&r);
    sd = open_ok(pd, 0);
    OK(sd, cl_store_run_resume(sd, drun));
    OK(sd, cl_store_run_end(sd, drun, CL_RUN_DONE));
    cl_store_close(sd);
    OK(st, cl_store_merge(st, pd, &c, err, sizeof err));
    assert_int_equal(c.runs + c.samples, 0);
    OK(st, cl_store_run_get(st, mrun, &r));
    assert_int_equal(r.status, CL_RUN_DONE);
    assert_int_equal(strlen(r.ended), 24);
    cl_run_release(&r);

    cl_info info;
    OK(st, cl_store_info(st, &info));
    assert_int_equal(info.schema_version, CL_STORE_SCHEMA_VERSION);
    assert_int_equal(info.ndevices, 4);
    assert_string_equal(info.devices[0].dev.name, "alpha");
    assert_int_equal(info.devices[0].samples, 6);
    assert_int_equal(info.devices[0].runs[CL_RUN_DONE], 1);
    assert_int_equal(info.devices[0].models, 1);
    assert_int_equal(info.devices[0].models_selected, 1);
    assert_int_equal(info.devices[0].ntypes, 2);
    assert_string_equal(info.devices[0].types[0].type, "conv");
    assert_int_equal(info.devices[0].types[0].samples, 4);
    assert_int_equal(info.devices[0].types[0].models, 1);
    assert_string_equal(info.devices[0].types[1].type, "fc");
    assert_int_equal(info.devices[0].types[1].samples, 2);
    assert_string_equal(info.devices[1].dev.name, "beta");
    assert_int_equal(info.devices[1].samples, 3);
    assert_true(info.file_bytes > 0);
    cl_info_release(&info);
    OK(st, cl_store_check(st));
    cl_store_close(st);
}

/* Split one CSV line into fields (RFC 4180 quoting); returns the count. */
static int csv_split(const char *line, char fields[][256], int cap)
{
    int n = 0;
    const char *p = line;
    for (;;) {
        char *f = fields[n];
        size_t len = 0;
        if (*p == '"') {
            p++;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"')
                    p++;
                f[len++] = *p++;
            }
            p++;
        } else {
            while (*p && *p != ',' && *p != '\n')
                f[len++] = *p++;
        }
        f[len] = '\0';
        n++;
        if (*p != ',' || n == cap)
            return n;
        p++;
    }
}

/* The CSV export: the exact header, and one row checked field by field against known values. */
static void test_export_csv(void **state)
{
    (void)state;
    char path[128], msg[256];
    tpath(path, sizeof path, "export.db");
    build_store(path, "alpha", 1, 3, 0);
    cl_store *st = open_ok(path, CL_STORE_READONLY);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    OK(st, cl_store_export_csv(st, out, "alpha"));
    fclose(out);

    const char *header =
        "sample_id,device,run_id,seq,type,spec,static_json,load,load_cpu,load_membw,"
        "load_memcap,d_sys_cpu,d_cpu_util,d_mem_free_mib,d_mem_used,d_other_cpu,"
        "d_runnable_other,d_psi_cpu,d_psi_mem,d_mem_avail,d_probe_cpu_ns,d_probe_mem_ns,reps,"
        "warmup,median_us,min_us,p90_us,max_us,mean_us,mad_us,threads,created,ctr_cycles,"
        "ctr_page-faults,ctr_task-clock\n";
    assert_true(strncmp(buf, header, strlen(header)) == 0);
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    assert_int_equal(lines, 4);

    /* The row of seq 1: make_sample(1, "fc", 0). */
    const char *row = strchr(strchr(buf, '\n') + 1, '\n') + 1;
    static char f[64][256];
    int n = csv_split(row, f, 64);
    assert_int_equal(n, 35);
    const char *want_text[] = {"2",
                               "alpha",
                               "1",
                               "1",
                               "fc",
                               "fc n=1 c=2 h=8 w=8",
                               "{\"macs\":128,\"in_bytes\":512}",
                               "cpu=50,membw=1,memcap=0"};
    for (int i = 0; i < 8; i++)
        if (strcmp(f[i], want_text[i]) != 0)
            fail_msg("field %d: got '%s', want '%s'", i, f[i], want_text[i]);
    /* Numbers read back exactly (shortest round-trip form); NULL is an empty field. */
    cl_sample w;
    make_sample(&w, 1, "fc", 0);
    double want[35];
    int k = 8;
    want[k++] = w.load_cpu;
    want[k++] = w.load_membw;
    want[k++] = w.load_memcap;
    for (int i = 0; i < CLEAVE_LOAD_COUNT; i++)
        want[k++] = w.dyn[i];
    want[k++] = (double)w.reps;
    want[k++] = (double)w.warmup;
    want[k++] = w.median_us;
    want[k++] = w.min_us;
    want[k++] = w.p90_us;
    want[k++] = w.max_us;
    want[k++] = w.mean_us;
    want[k++] = w.mad_us;
    want[k++] = w.threads;
    assert_int_equal(k, 31);
    k = 32;
    want[k++] = NAN; /* cycles: unavailable */
    want[k++] = 0;   /* page faults: measured, none */
    want[k++] = 1001;
    for (int i = 8; i < 35; i++) {
        if (i == 31)
            continue;
        if (isnan(want[i]) ? f[i][0] != '\0' : strtod(f[i], NULL) != want[i])
            fail_msg("field %d: got '%s', want %.17g", i, f[i], want[i]);
    }
    assert_string_equal(f[8], "50");
    assert_string_equal(f[17], ""); /* d_psi_cpu */
    assert_string_equal(f[24], "10.25");
    assert_string_equal(f[29], "0.125");
    assert_string_equal(f[33], "0");
    assert_int_equal(strlen(f[31]), 24);
    /* The quoted fields really are quoted on the line. */
    assert_non_null(strstr(row, ",\"{\"\"macs\"\":128,\"\"in_bytes\"\":512}\","));
    assert_non_null(strstr(row, ",\"cpu=50,membw=1,memcap=0\","));
    free(buf);

    snprintf(msg, sizeof msg, "no device 'zeta' in '%s'", path);
    FAILS(st, cl_store_export_csv(st, stdout, "zeta"), CLEAVE_EINVAL, msg);
    cl_store_close(st);
}

/* ---- schema version 2: fit results -------------------------------------------------------- */

/* A version-1 store, as the first cleave wrote it (migration 1 only, rows inserted with the
** version-1 columns), is upgraded by a writable open to the current version with every row
** kept; the new model columns read back as "not computed"; a read-only open of the old file is
** refused with a hint and changes nothing. */
static void test_migration_from_v1(void **state)
{
    (void)state;
    char path[128], msg[512], err[512];
    tpath(path, sizeof path, "v1.db");
    assert_int_equal(cl_store_create_at_version(path, 1, err, sizeof err), CLEAVE_OK);
    assert_int_equal(raw_int(path, "PRAGMA user_version"), 1);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name IN "
                                   "('predictions', 'fit_skips')"),
                     0);
    assert_int_equal(
        raw_int(path, "SELECT count(*) FROM pragma_table_info('models') WHERE name = 'detail'"), 0);
    raw_exec(path,
             "INSERT INTO devices(name, cpu_model, threads) VALUES ('old', 'Test CPU', 1);"
             "INSERT INTO runs(device_id, seed, planned, status) VALUES (1, 7, 1, 'done');"
             "INSERT INTO samples(run_id, seq, type, spec, load, d_cpu_util, reps, warmup, "
             "median_us, threads) VALUES (1, 0, 'fc', 'fc n=1 c=64 k=10', 'cpu=0', 0.25, 10, 2, "
             "12.5, 1);"
             "INSERT INTO models(device_id, type, family, feature_set, features, blob, cv_r2, "
             "n_samples, selected) VALUES (1, 'fc', 'linear', 'static', '[\"macs\"]', x'0102', "
             "0.5, 1, 1);");
    /* A second try to create it refuses to touch it. */
    snprintf(msg, sizeof msg, "'%s' already exists", path);
    assert_int_equal(cl_store_create_at_version(path, 1, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, msg);
    snprintf(msg, sizeof msg,
             "'%s' has schema version 1, older than this cleave (%d); open it for writing once "
             "to upgrade it",
             path, CL_STORE_SCHEMA_VERSION);
    open_fails(path, CL_STORE_READONLY, CLEAVE_EDB, msg);
    assert_int_equal(raw_int(path, "PRAGMA user_version"), 1);

    cl_store *st = open_ok(path, 0);
    int version = 0;
    OK(st, cl_store_schema_version(st, &version));
    assert_int_equal(version, CL_STORE_SCHEMA_VERSION);
    assert_int_equal(CL_STORE_SCHEMA_VERSION, 3);
    struct collect *c = calloc(1, sizeof *c);
    assert_non_null(c);
    OK(st, cl_store_samples_foreach(st, "old", NULL, collect_fn, c));
    assert_int_equal(c->n, 1);
    assert_string_equal(c->s[0].spec, "fc n=1 c=64 k=10");
    assert_true(c->s[0].median_us == 12.5 && c->s[0].dyn[CLEAVE_LOAD_CPU_UTIL] == 0.25);
    free(c);
    OK(st, cl_store_check(st));
    cl_store_close(st);
    /* A model fitted before targets existed was fitted on the median. */
    assert_int_equal(raw_int(path, "SELECT count(*) FROM models WHERE lolo_r2 IS NULL AND "
                                   "detail = '{}' AND cv_r2 = 0.5 AND hex(blob) = '0102' AND "
                                   "target = 'median'"),
                     1);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM predictions"), 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM fit_skips"), 0);

    /* Versions outside 1..current are refused. */
    tpath(path, sizeof path, "v0.db");
    assert_int_equal(cl_store_create_at_version(path, 0, err, sizeof err), CLEAVE_EINVAL);
    snprintf(msg, sizeof msg, "no schema version 0 (1 to %d)", CL_STORE_SCHEMA_VERSION);
    assert_string_equal(err, msg);
    assert_false(exists(path));
}

/* Reads a model's lolo metrics and detail. */
struct model_seen {
    int n;
    int64_t id[8];
    double lolo_r2[8];
    char detail[8][64];
    char family[8][32];
    char target[8][8];
};

static int model_seen_fn(const cl_model *m, void *arg)
{
    struct model_seen *ms = arg;
    if (ms->n < 8) {
        ms->id[ms->n] = m->id;
        ms->lolo_r2[ms->n] = m->lolo_r2;
        snprintf(ms->detail[ms->n], sizeof ms->detail[0], "%s", m->detail);
        snprintf(ms->family[ms->n], sizeof ms->family[0], "%s", m->family);
        snprintf(ms->target[ms->n], sizeof ms->target[0], "%s", m->target);
    }
    ms->n++;
    return 0;
}

/* Predictions read back, each with its sample. */
struct pred_seen {
    int n;
    cl_prediction p[16];
    int64_t seq[16];
    double median_us[16];
    char load[16][96];
};

static int pred_seen_fn(const cl_prediction *p, const cl_sample *s, void *arg)
{
    struct pred_seen *ps = arg;
    assert_int_equal(p->sample_id, s->id);
    assert_int_equal(s->ncounters, 0);
    if (ps->n < 16) {
        ps->p[ps->n] = *p;
        ps->seq[ps->n] = s->seq;
        ps->median_us[ps->n] = s->median_us;
        snprintf(ps->load[ps->n], sizeof ps->load[0], "%s", s->load);
    }
    ps->n++;
    return 0;
}

struct skip_seen {
    int n;
    char line[8][160];
};

static int skip_seen_fn(const char *type, const char *family, const char *set, const char *reason,
                        void *arg)
{
    struct skip_seen *ss = arg;
    if (ss->n < 8)
        snprintf(ss->line[ss->n], sizeof ss->line[0], "%s %s %s: %s", type, family, set, reason);
    ss->n++;
    return 0;
}

/* Add a "linear" model of DEV with LOLO metrics and a detail; its id into *ID. */
static void add_fit_model(cl_store *st, int64_t dev, const char *family, int64_t *id)
{
    cl_model m;
    memset(&m, 0, sizeof m);
    m.device_id = dev;
    snprintf(m.type, sizeof m.type, "conv");
    snprintf(m.family, sizeof m.family, "%s", family);
    snprintf(m.feature_set, sizeof m.feature_set, "static");
    m.features = "[\"macs\"]";
    m.blob = "\x05\x06";
    m.blob_bytes = 2;
    m.cv_r2 = 0.9;
    m.cv_rmse = m.cv_mape = m.cv_within10 = 0.5;
    m.lolo_r2 = 0.875;
    m.lolo_rmse = 1.25;
    m.lolo_mape = NAN;
    m.lolo_within10 = 0.5;
    m.detail = "{\"folds\":5}";
    m.n_samples = 3;
    if (strcmp(family, "gbdt") == 0)
        snprintf(m.target, sizeof m.target, "p90"); /* others: "" stores the median */
    OK(st, cl_store_model_add(st, &m, id));
}

/* Models with their LOLO metrics and detail, predictions with their samples in sample order,
** fit skips in order; a duplicate prediction and an unknown sample are refused; clearing a
** device's models removes its predictions and skips and nothing of another device; a
** transaction rolled back leaves nothing, a committed one everything; a read-only store
** refuses every write. */
static void test_fit_results(void **state)
{
    (void)state;
    char path[128], msg[512];
    tpath(path, sizeof path, "fit.db");
    build_store(path, "alpha", 1, 6, 0);
    cl_store *st = open_ok(path, 0);
    cl_device d = make_device("beta", 1, "");
    int64_t alpha = 0, beta = 0, m1 = 0, m2 = 0, mb = 0;
    OK(st, cl_store_device_get(st, "alpha", NULL, &alpha));
    OK(st, cl_store_device_ensure(st, &d, &beta));

    OK(st, cl_store_tx_begin(st));
    add_fit_model(st, alpha, "linear", &m1);
    add_fit_model(st, alpha, "gbdt", &m2);
    add_fit_model(st, beta, "ridge", &mb);
    /* Samples 1, 3, 5 are conv (seq 0, 2, 4); given out of order, read back in sample order. */
    cl_prediction p[3] = {{5, 2, 11.5, NAN}, {1, 0, 9.75, 10.0}, {3, -1, 10.5, 10.25}};
    OK(st, cl_store_predictions_add(st, m1, p, 3));
    OK(st, cl_store_predictions_add(st, m2, p, 1));
    OK(st, cl_store_predictions_add(st, mb, p + 1, 1));
    snprintf(msg, sizeof msg, "model %" PRId64 " already has a prediction for sample 1", m1);
    FAILS(st, cl_store_predictions_add(st, m1, p + 1, 1), CLEAVE_EINVAL, msg);
    cl_prediction bad = {999, 0, 1.0, 1.0};
    snprintf(msg, sizeof msg, "no model %" PRId64 " or sample 999 in '%s'", m1, path);
    FAILS(st, cl_store_predictions_add(st, m1, &bad, 1), CLEAVE_EINVAL, msg);
    OK(st, cl_store_fit_skip_add(st, alpha, "fc", "lasso", "static", "4 rows for 10"));
    OK(st, cl_store_fit_skip_add(st, alpha, "fc", "gbdt", "dynamic", "numerical failure"));
    OK(st, cl_store_fit_skip_add(st, beta, "conv", "krr", "static", "beta's"));
    OK(st, cl_store_tx_commit(st));

    struct model_seen ms = {0};
    OK(st, cl_store_models_foreach(st, alpha, NULL, model_seen_fn, &ms));
    assert_int_equal(ms.n, 2);
    assert_true(ms.lolo_r2[0] == 0.875);
    assert_string_equal(ms.detail[0], "{\"folds\":5}");
    assert_string_equal(ms.family[1], "gbdt");
    assert_string_equal(ms.target[0], "median");
    assert_string_equal(ms.target[1], "p90");
    cl_model bad_target;
    memset(&bad_target, 0, sizeof bad_target);
    bad_target.device_id = alpha;
    snprintf(bad_target.type, sizeof bad_target.type, "conv");
    snprintf(bad_target.family, sizeof bad_target.family, "linear");
    snprintf(bad_target.feature_set, sizeof bad_target.feature_set, "static");
    snprintf(bad_target.target, sizeof bad_target.target, "avg");
    FAILS(st, cl_store_model_add(st, &bad_target, NULL), CLEAVE_EINVAL,
          "model target 'avg' is not mean, median or p90");

    struct pred_seen ps = {0};
    OK(st, cl_store_predictions_foreach(st, m1, pred_seen_fn, &ps));
    assert_int_equal(ps.n, 3);
    for (int i = 0; i < 3; i++) {
        cl_sample w;
        make_sample(&w, 2 * i, "conv", 0);
        assert_int_equal(ps.seq[i], 2 * i);
        assert_int_equal(ps.p[i].sample_id, 2 * i + 1);
        assert_true(ps.median_us[i] == w.median_us);
        assert_string_equal(ps.load[i], w.load);
    }
    assert_int_equal(ps.p[0].fold, 0);
    assert_true(ps.p[0].cv_us == 9.75 && ps.p[0].lolo_us == 10.0);
    assert_int_equal(ps.p[1].fold, -1); /* no fold: NULL */
    assert_int_equal(ps.p[2].fold, 2);
    assert_true(isnan(ps.p[2].lolo_us));

    struct skip_seen ss = {0};
    OK(st, cl_store_fit_skips_foreach(st, alpha, skip_seen_fn, &ss));
    assert_int_equal(ss.n, 2);
    assert_string_equal(ss.line[0], "fc lasso static: 4 rows for 10");
    assert_string_equal(ss.line[1], "fc gbdt dynamic: numerical failure");

    /* Rolled back: the clear is undone. */
    OK(st, cl_store_tx_begin(st));
    OK(st, cl_store_models_clear(st, alpha));
    OK(st, cl_store_tx_rollback(st));
    ms.n = 0;
    OK(st, cl_store_models_foreach(st, alpha, NULL, model_seen_fn, &ms));
    assert_int_equal(ms.n, 2);
    /* A transaction cannot nest, nor open inside a batch. */
    OK(st, cl_store_tx_begin(st));
    snprintf(msg, sizeof msg, "a batch is already open on '%s'", path);
    FAILS(st, cl_store_tx_begin(st), CLEAVE_EINVAL, msg);
    OK(st, cl_store_models_clear(st, alpha));
    OK(st, cl_store_tx_commit(st));
    ms.n = 0;
    OK(st, cl_store_models_foreach(st, alpha, NULL, model_seen_fn, &ms));
    assert_int_equal(ms.n, 0);
    ss.n = 0;
    OK(st, cl_store_fit_skips_foreach(st, alpha, skip_seen_fn, &ss));
    assert_int_equal(ss.n, 0);
    ps.n = 0;
    OK(st, cl_store_predictions_foreach(st, m1, pred_seen_fn, &ps));
    assert_int_equal(ps.n, 0);
    /* beta is untouched. */
    ms.n = 0;
    OK(st, cl_store_models_foreach(st, beta, NULL, model_seen_fn, &ms));
    assert_int_equal(ms.n, 1);
    ss.n = 0;
    OK(st, cl_store_fit_skips_foreach(st, beta, skip_seen_fn, &ss));
    assert_int_equal(ss.n, 1);
    OK(st, cl_store_check(st));
    cl_store_close(st);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM predictions"), 1);

    st = open_ok(path, CL_STORE_READONLY);
    snprintf(msg, sizeof msg, "cannot write '%s': opened read-only", path);
    FAILS(st, cl_store_tx_begin(st), CLEAVE_EDB, msg);
    FAILS(st, cl_store_models_clear(st, beta), CLEAVE_EDB, msg);
    FAILS(st, cl_store_fit_skip_add(st, beta, "a", "b", "static", "c"), CLEAVE_EDB, msg);
    FAILS(st, cl_store_predictions_add(st, mb, p + 2, 1), CLEAVE_EDB, msg);
    cl_store_close(st);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM models"), 1);
}

/* Merging copies models with their LOLO metrics and detail, their predictions (pointing at the
** merged copies of their samples) and the fit skips; a second merge copies nothing. */
static void test_merge_fit_results(void **state)
{
    (void)state;
    char pa[128], pb[128], pm[128], err[512];
    tpath(pa, sizeof pa, "mfit-a.db");
    tpath(pb, sizeof pb, "mfit-b.db");
    tpath(pm, sizeof pm, "mfit-m.db");
    build_store(pb, "beta", 1, 2, 1000);
    build_store(pa, "alpha", 1, 6, 0);
    cl_store *st = open_ok(pa, 0);
    int64_t alpha = 0, m1 = 0;
    OK(st, cl_store_device_get(st, "alpha", NULL, &alpha));
    add_fit_model(st, alpha, "linear", &m1);
    cl_prediction p[2] = {{1, 0, 9.75, 10.0}, {3, 1, 10.5, NAN}};
    OK(st, cl_store_predictions_add(st, m1, p, 2));
    OK(st, cl_store_fit_skip_add(st, alpha, "fc", "lasso", "static", "4 rows for 10"));
    cl_store_close(st);

    st = open_ok(pm, CL_STORE_CREATE);
    cl_merge_counts c;
    OK(st, cl_store_merge(st, pb, &c, err, sizeof err)); /* beta first: alpha's ids shift */
    OK(st, cl_store_merge(st, pa, &c, err, sizeof err));
    assert_int_equal(c.models, 1);
    assert_int_equal(c.predictions, 2);
    assert_int_equal(c.fit_skips, 1);
    OK(st, cl_store_merge(st, pa, &c, err, sizeof err));
    assert_int_equal(c.models + c.predictions + c.fit_skips + c.samples, 0);

    int64_t malpha = 0;
    OK(st, cl_store_device_get(st, "alpha", NULL, &malpha));
    struct model_seen ms = {0};
    OK(st, cl_store_models_foreach(st, malpha, NULL, model_seen_fn, &ms));
    assert_int_equal(ms.n, 1);
    assert_true(ms.lolo_r2[0] == 0.875);
    assert_string_equal(ms.detail[0], "{\"folds\":5}");
    struct pred_seen ps = {0};
    OK(st, cl_store_predictions_foreach(st, ms.id[0], pred_seen_fn, &ps));
    assert_int_equal(ps.n, 2);
    for (int i = 0; i < 2; i++) {
        cl_sample w;
        make_sample(&w, 2 * i, "conv", 0);
        assert_int_equal(ps.seq[i], 2 * i);
        assert_int_equal(ps.p[i].sample_id, 2 + 1 + 2 * i); /* after beta's 2 samples */
        assert_true(ps.median_us[i] == w.median_us);
    }
    assert_true(ps.p[0].cv_us == 9.75 && ps.p[0].lolo_us == 10.0 && isnan(ps.p[1].lolo_us));
    struct skip_seen ss = {0};
    OK(st, cl_store_fit_skips_foreach(st, malpha, skip_seen_fn, &ss));
    assert_int_equal(ss.n, 1);
    assert_string_equal(ss.line[0], "fc lasso static: 4 rows for 10");
    OK(st, cl_store_check(st));
    cl_store_close(st);
}

/* ---- fixtures for tests/cli/t-db.sh ------------------------------------------------------- */

/* Write DIR/a.db (alpha: 5 samples and a model), DIR/b.db (beta: 3 samples), DIR/conflict.db
** (alpha with 2 threads), DIR/empty.db (a store with nothing in it) and DIR/newer.db (schema
** version 99). */
static int make_fixtures(const char *dir)
{
    char p[512], err[512];
    cl_store *st = NULL;
    int64_t dev = 0;
    snprintf(p, sizeof p, "%s/a.db", dir);
    build_store(p, "alpha", 1, 5, 0);
    if (cl_store_open(&st, p, 0, err, sizeof err) != CLEAVE_OK ||
        cl_store_device_get(st, "alpha", NULL, &dev) != CLEAVE_OK) {
        fprintf(stderr, "fixture: %s%s\n", err, cl_store_errmsg(st));
        return 1;
    }
    add_model(st, dev);
    cl_store_close(st);
    snprintf(p, sizeof p, "%s/b.db", dir);
    build_store(p, "beta", 2, 3, 1000);
    snprintf(p, sizeof p, "%s/conflict.db", dir);
    build_store(p, "alpha", 2, 2, 0);
    snprintf(p, sizeof p, "%s/empty.db", dir);
    if (cl_store_open(&st, p, CL_STORE_CREATE, err, sizeof err) != CLEAVE_OK) {
        fprintf(stderr, "fixture: %s\n", err);
        return 1;
    }
    cl_store_close(st);
    snprintf(p, sizeof p, "%s/newer.db", dir);
    build_store(p, "alpha", 1, 1, 0);
    raw_exec(p, "PRAGMA user_version = 99");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--fixture") == 0)
        return make_fixtures(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_dynamic_columns),
        cmocka_unit_test(test_duplicate_seq),
        cmocka_unit_test(test_resume_bookkeeping),
        cmocka_unit_test(test_device_identity),
        cmocka_unit_test(test_newer_schema),
        cmocka_unit_test(test_not_a_store),
        cmocka_unit_test(test_unwritable_path),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_kill9),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_export_csv),
        cmocka_unit_test(test_migration_from_v1),
        cmocka_unit_test(test_fit_results),
        cmocka_unit_test(test_merge_fit_results),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
