/* common/store.c - the SQLite store: schema and migrations, devices, runs, batched samples, merge,
** CSV export and totals (DESIGN.md "The store"). */
#include "common/store.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

/* The samples table has one d_ column per dynamic feature, written out in migration 1.  A new
** feature in CLEAVE_LOAD_FEATURE_MAP needs a new migration that adds its column (migration text
** never changes once released); this assertion is the reminder, and test-store checks the names. */
_Static_assert(CLEAVE_LOAD_COUNT == 11,
               "a new dynamic feature needs a migration adding its d_ column to samples");

/* Time stamps are ISO 8601 UTC with milliseconds, computed by SQLite. */
#define NOW_SQL "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

/* ---- schema ------------------------------------------------------------------------------- */

/* Migration i takes the store from user_version i to i + 1.  Released entries never change:
** the schema is what these strings create, in this order, so every column is spelled out. */
static const char *const migrations[] = {
    /* 1: the initial schema. */
    "CREATE TABLE devices (\n"
    "  id INTEGER PRIMARY KEY,             -- local row id (a merge remaps it)\n"
    "  name TEXT NOT NULL UNIQUE,          -- the user's --device name\n"
    "  host TEXT NOT NULL DEFAULT '',      -- hostname at calibration\n"
    "  cpu_model TEXT NOT NULL DEFAULT '', -- /proc/cpuinfo model name (identity)\n"
    "  cores INTEGER NOT NULL DEFAULT 0,   -- online logical CPUs\n"
    "  backend TEXT NOT NULL DEFAULT '',   -- execution backend, e.g. onednn\n"
    "  backend_version TEXT NOT NULL DEFAULT '', -- its version, e.g. 2.6.3\n"
    "  threads INTEGER NOT NULL,           -- threads layers run with (identity)\n"
    "  binding TEXT NOT NULL DEFAULT '',   -- thread binding, e.g. OMP_PROC_BIND=true (identity)\n"
    "  isa TEXT NOT NULL DEFAULT '',       -- instruction set the backend dispatches to\n"
    "  created TEXT NOT NULL DEFAULT (" NOW_SQL ") -- ISO 8601 UTC\n"
    ");\n"
    "CREATE TABLE runs (\n"
    "  id INTEGER PRIMARY KEY,             -- local row id (a merge remaps it)\n"
    "  uid TEXT NOT NULL UNIQUE DEFAULT (lower(hex(randomblob(16)))), -- identity across merges\n"
    "  device_id INTEGER NOT NULL REFERENCES devices(id),\n"
    "  config TEXT NOT NULL DEFAULT '{}',  -- normalised profile configuration, JSON\n"
    "  seed INTEGER NOT NULL DEFAULT 0,    -- seed of the randomised plan (64 bits)\n"
    "  planned INTEGER NOT NULL DEFAULT 0, -- samples planned\n"
    "  started TEXT NOT NULL DEFAULT (" NOW_SQL "), -- ISO 8601 UTC\n"
    "  ended TEXT,                         -- ISO 8601 UTC; NULL while running\n"
    "  status TEXT NOT NULL DEFAULT 'running'\n"
    "    CHECK (status IN ('running', 'done', 'interrupted', 'failed'))\n"
    ");\n"
    "CREATE INDEX runs_device ON runs(device_id, status);\n"
    "CREATE TABLE samples (\n"
    "  id INTEGER PRIMARY KEY,             -- local row id (a merge remaps it)\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),\n"
    "  seq INTEGER NOT NULL,               -- position in the run's plan\n"
    "  type TEXT NOT NULL,                 -- layer type name, e.g. conv\n"
    "  spec TEXT NOT NULL,                 -- canonical layer text (cleave_layer_format); static\n"
    "                                      -- features are recomputed from it by the catalogue\n"
    "  static_json TEXT NOT NULL DEFAULT '{}', -- static features, JSON, for export only\n"
    "  load TEXT NOT NULL DEFAULT '',      -- load setting, e.g. cpu=50,membw=1,memcap=0\n"
    "  load_cpu REAL,                      -- generator CPU duty level (percent)\n"
    "  load_membw REAL,                    -- generator memory-bandwidth level\n"
    "  load_memcap REAL,                   -- generator memory-capacity level (share)\n"
    "  d_sys_cpu REAL,                     -- dynamic features (include/cleave/load.h), observed\n"
    "  d_cpu_util REAL,                    -- just before the timed repetitions; NULL = not\n"
    "  d_mem_free_mib REAL,                -- observed\n"
    "  d_mem_used REAL,\n"
    "  d_other_cpu REAL,\n"
    "  d_runnable_other REAL,\n"
    "  d_psi_cpu REAL,\n"
    "  d_psi_mem REAL,\n"
    "  d_mem_avail REAL,\n"
    "  d_probe_cpu_ns REAL,\n"
    "  d_probe_mem_ns REAL,\n"
    "  reps INTEGER NOT NULL,              -- timed repetitions\n"
    "  warmup INTEGER NOT NULL,            -- warm-up executions before them\n"
    "  median_us REAL,                     -- latency statistics over the repetitions\n"
    "  min_us REAL,\n"
    "  p90_us REAL,\n"
    "  max_us REAL,\n"
    "  mean_us REAL,\n"
    "  mad_us REAL,                        -- median absolute deviation\n"
    "  threads INTEGER NOT NULL,           -- threads the layer ran with\n"
    "  created TEXT NOT NULL DEFAULT (" NOW_SQL "), -- ISO 8601 UTC\n"
    "  UNIQUE (run_id, seq)                -- a resumed run can never store a seq twice\n"
    ");\n"
    "CREATE INDEX samples_type ON samples(type);\n"
    "CREATE TABLE counters (\n"
    "  sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,\n"
    "  name TEXT NOT NULL,                 -- event, e.g. task-clock, page-faults, runq_wait_ns\n"
    "  value REAL,                         -- NULL = the event could not be opened (never 0)\n"
    "  PRIMARY KEY (sample_id, name)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE models (\n"
    "  id INTEGER PRIMARY KEY,             -- local row id (a merge remaps it)\n"
    "  uid TEXT NOT NULL UNIQUE DEFAULT (lower(hex(randomblob(16)))), -- identity across merges\n"
    "  device_id INTEGER NOT NULL REFERENCES devices(id),\n"
    "  type TEXT NOT NULL,                 -- layer type name\n"
    "  family TEXT NOT NULL,               -- regression family\n"
    "  feature_set TEXT NOT NULL CHECK (feature_set IN ('static', 'dynamic')),\n"
    "  features TEXT NOT NULL DEFAULT '[]', -- feature names, JSON array\n"
    "  blob BLOB,                          -- the serialised model\n"
    "  cv_r2 REAL,                         -- held-out R^2 on the latency scale\n"
    "  cv_rmse REAL,                       -- held-out RMSE (us)\n"
    "  cv_mape REAL,                       -- held-out mean absolute percentage error\n"
    "  cv_within10 REAL,                   -- share of held-out predictions within 10 %\n"
    "  n_samples INTEGER NOT NULL DEFAULT 0, -- samples it was fitted on\n"
    "  selected INTEGER NOT NULL DEFAULT 0 CHECK (selected IN (0, 1)), -- chosen by CV\n"
    "  created TEXT NOT NULL DEFAULT (" NOW_SQL ") -- ISO 8601 UTC\n"
    ");\n"
    "CREATE INDEX models_device ON models(device_id, type);\n",
    /* 2: leave-one-load-level-out metrics and a description of each fit; the held-out
    ** predictions behind every metric; the families a fit had to skip, with the reason. */
    "ALTER TABLE models ADD COLUMN lolo_r2 REAL;       -- leave-one-load-level-out R^2\n"
    "ALTER TABLE models ADD COLUMN lolo_rmse REAL;     -- its RMSE (us)\n"
    "ALTER TABLE models ADD COLUMN lolo_mape REAL;     -- its mean absolute percentage error\n"
    "ALTER TABLE models ADD COLUMN lolo_within10 REAL; -- its share within 10 %\n"
    "ALTER TABLE models ADD COLUMN detail TEXT NOT NULL DEFAULT '{}'; -- fit description, JSON\n"
    "CREATE TABLE predictions (\n"
    "  model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,\n"
    "  sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,\n"
    "  fold INTEGER,                       -- k-fold fold the sample was held out in\n"
    "  cv_us REAL,                         -- prediction of the model trained without that fold\n"
    "  lolo_us REAL,                       -- ... trained without the sample's load level\n"
    "  PRIMARY KEY (model_id, sample_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX predictions_sample ON predictions(sample_id);\n"
    "CREATE TABLE fit_skips (\n"
    "  id INTEGER PRIMARY KEY,             -- local row id; keeps the order skips were added\n"
    "  device_id INTEGER NOT NULL REFERENCES devices(id),\n"
    "  type TEXT NOT NULL,                 -- layer type name\n"
    "  family TEXT NOT NULL,               -- regression family that could not be fitted\n"
    "  feature_set TEXT NOT NULL,          -- static or dynamic\n"
    "  reason TEXT NOT NULL,               -- why, e.g. 8 rows for 12 parameters\n"
    "  created TEXT NOT NULL DEFAULT (" NOW_SQL ") -- ISO 8601 UTC\n"
    ");\n"
    "CREATE INDEX fit_skips_device ON fit_skips(device_id);\n",
    /* 3: the latency statistic each model predicts.  Models fitted before it existed were
    ** fitted on the median, which is what the default gives them. */
    "ALTER TABLE models ADD COLUMN target TEXT NOT NULL DEFAULT 'median' "
    "CHECK (target IN ('mean', 'median', 'p90')); -- statistic of the repetitions predicted\n",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))
_Static_assert(sizeof migrations / sizeof migrations[0] == CL_STORE_SCHEMA_VERSION,
               "CL_STORE_SCHEMA_VERSION is the number of migrations");

/* The sample columns a writer supplies, in the order of cl_sample, built from the feature map
** so that a renamed feature cannot silently bind to the wrong column (the statement would fail
** to prepare instead).  Queries only; the migration above spells the columns out. */
#define D_COL_(e, name, unit, src) ", d_" name
#define D_QMARK_(e, name, unit, src) ",?"
/* clang-format off */
#define SAMPLE_DATA_COLS                                                                       \
    "type, spec, static_json, load, load_cpu, load_membw, load_memcap"                          \
    CLEAVE_LOAD_FEATURE_MAP(D_COL_)                                                            \
    ", reps, warmup, median_us, min_us, p90_us, max_us, mean_us, mad_us, threads"
#define SAMPLE_DATA_QMARKS                                                                     \
    "?,?,?,?,?,?,?" CLEAVE_LOAD_FEATURE_MAP(D_QMARK_) ",?,?,?,?,?,?,?,?,?"
/* clang-format on */
/* Columns read_sample() consumes: id, run_id, seq, the data columns, created. */
#define SAMPLE_READ_NCOLS (3 + 7 + CLEAVE_LOAD_COUNT + 9 + 1)

struct cl_store {
    sqlite3 *db;
    char *path;
    int readonly;
    int in_batch;
    int busy_ms;
    int max_version;          /* migrate up to this version; 0 = all (a test hook) */
    sqlite3_stmt *ins_sample; /* reused by every cl_store_sample_add() */
    sqlite3_stmt *ins_counter;
    sqlite3_stmt *sel_counters; /* a sample's counters, by name */
    char msg[1024];
};

/* ---- messages ----------------------------------------------------------------------------- */

/* Format a message onto ST and return CODE. */
static cleave_status fail(cl_store *st, cleave_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cleave_status fail(cl_store *st, cleave_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->msg, sizeof st->msg, fmt, ap);
    va_end(ap);
    return code;
}

/* strerror(ERRNUM) with a lowercase first letter, as git-style messages want. */
static void os_reason(int errnum, char *buf, size_t len)
{
    snprintf(buf, len, "%s", strerror(errnum));
    if (buf[0])
        buf[0] = (char)tolower((unsigned char)buf[0]);
}

/* Turn SQLite result RC into a status and a message naming the store.  Failures a user can do
** something about (full disk, another writer, a file that is not a store) get their own words;
** anything else says what SQLite said. */
static cleave_status db_error(cl_store *st, int rc)
{
    char why[128];
    int sys = st->db ? sqlite3_system_errno(st->db) : 0;
    switch (rc & 0xff) {
    case SQLITE_FULL: return fail(st, CLEAVE_EIO, "disk full while writing '%s'", st->path);
    case SQLITE_IOERR:
        if (sys == ENOSPC)
            return fail(st, CLEAVE_EIO, "disk full while writing '%s'", st->path);
        if (sys) {
            os_reason(sys, why, sizeof why);
            return fail(st, CLEAVE_EIO, "I/O error on '%s': %s", st->path, why);
        }
        return fail(st, CLEAVE_EIO, "I/O error on '%s': %s", st->path, sqlite3_errmsg(st->db));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return fail(st, CLEAVE_EDB, "'%s' is locked by another writer (gave up after %d ms)",
                    st->path, st->busy_ms);
    case SQLITE_NOTADB: return fail(st, CLEAVE_EDB, "'%s' is not a cleave store", st->path);
    case SQLITE_CORRUPT:
        return fail(st, CLEAVE_EDB, "'%s' is damaged: %s", st->path, sqlite3_errmsg(st->db));
    case SQLITE_NOMEM: return fail(st, CLEAVE_ENOMEM, "out of memory while using '%s'", st->path);
    case SQLITE_READONLY:
        return fail(st, CLEAVE_EDB, "cannot write '%s': %s", st->path,
                    st->readonly ? "opened read-only" : sqlite3_errmsg(st->db));
    case SQLITE_CANTOPEN:
        if (sys) {
            os_reason(sys, why, sizeof why);
            return fail(st, CLEAVE_EIO, "cannot open '%s': %s", st->path, why);
        }
        return fail(st, CLEAVE_EIO, "cannot open '%s': %s", st->path, sqlite3_errmsg(st->db));
    default: return fail(st, CLEAVE_EDB, "store '%s': %s", st->path, sqlite3_errmsg(st->db));
    }
}

static int is_batch_killer(int rc)
{
    int p = rc & 0xff;
    return p == SQLITE_FULL || p == SQLITE_IOERR || p == SQLITE_NOMEM || p == SQLITE_CORRUPT;
}

/* After a failed write inside a batch: report RC and, if SQLite has already rolled the
** transaction back or the failure leaves it unusable (full disk, I/O error), roll back the
** open batch and only it.  Committed batches are untouched: SQLite's WAL never rewrites them. */
static cleave_status batch_error(cl_store *st, int rc)
{
    cleave_status ret = db_error(st, rc);
    if (st->in_batch && (is_batch_killer(rc) || sqlite3_get_autocommit(st->db))) {
        if (!sqlite3_get_autocommit(st->db))
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        st->in_batch = 0;
    }
    return ret;
}

const char *cl_store_errmsg(const cl_store *st)
{
    return st ? st->msg : "";
}

const char *cl_store_path(const cl_store *st)
{
    return st ? st->path : "";
}

/* ---- small SQL helpers -------------------------------------------------------------------- */

static cleave_status exec_sql(cl_store *st, const char *sql)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? CLEAVE_OK : db_error(st, rc);
}

static cleave_status prepare(cl_store *st, sqlite3_stmt **stmt, const char *sql)
{
    int rc = sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL);
    if (rc != SQLITE_OK) {
        *stmt = NULL;
        return db_error(st, rc);
    }
    return CLEAVE_OK;
}

/* Run a statement that returns one integer (or none: *V = DFLT). */
static cleave_status query_int(cl_store *st, const char *sql, int64_t dflt, int64_t *v)
{
    sqlite3_stmt *s = NULL;
    cleave_status ret = prepare(st, &s, sql);
    if (ret != CLEAVE_OK)
        return ret;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_type(s, 0) == SQLITE_NULL ? dflt : sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_DONE)
        *v = dflt;
    else
        ret = db_error(st, rc);
    sqlite3_finalize(s);
    return ret;
}

/* Bind text, or NULL-free empty text for a NULL pointer. */
static void bind_text(sqlite3_stmt *s, int i, const char *t)
{
    sqlite3_bind_text(s, i, t ? t : "", -1, SQLITE_STATIC);
}

/* NaN is stored as NULL ("not observed"), never as a number. */
static void bind_real(sqlite3_stmt *s, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_double(s, i, v);
}

static double col_real(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

/* Copy text column I into DST (LEN bytes); -1 if it does not fit (never truncated silently). */
static int col_text(sqlite3_stmt *s, int i, char *dst, size_t len)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    size_t n = t ? (size_t)sqlite3_column_bytes(s, i) : 0;
    if (n >= len) {
        dst[0] = '\0';
        return -1;
    }
    if (n)
        memcpy(dst, t, n);
    dst[n] = '\0';
    return 0;
}

/* True if the string in array A of LEN bytes is NUL-terminated within it. */
static int fits(const char *a, size_t len)
{
    return memchr(a, '\0', len) != NULL;
}

/* ---- open, migrate, close ----------------------------------------------------------------- */

static cleave_status read_version(cl_store *st, int *version)
{
    int64_t v = 0;
    cleave_status ret = query_int(st, "PRAGMA user_version", 0, &v);
    *version = (int)v;
    return ret;
}

/* Apply every migration the store lacks, each in its own IMMEDIATE transaction that also sets
** user_version, so a crash leaves the store at some whole version.  The version is read again
** inside the transaction: two processes opening a new store at once migrate it once. */
static cleave_status migrate(cl_store *st)
{
    cleave_status ret = CLEAVE_OK;
    int target = st->max_version > 0 ? st->max_version : NMIGRATIONS;
    for (;;) {
        int version = 0;
        char sql[64];
        if ((ret = exec_sql(st, "BEGIN IMMEDIATE")) != CLEAVE_OK)
            return ret;
        if ((ret = read_version(st, &version)) != CLEAVE_OK)
            goto rollback;
        if (version > NMIGRATIONS) {
            ret = fail(st, CLEAVE_EDB, "'%s' has schema version %d, newer than this cleave (%d)",
                       st->path, version, CL_STORE_SCHEMA_VERSION);
            goto rollback;
        }
        if (version >= target)
            return exec_sql(st, "COMMIT");
        if ((ret = exec_sql(st, migrations[version])) != CLEAVE_OK)
            goto rollback;
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version + 1);
        if ((ret = exec_sql(st, sql)) != CLEAVE_OK)
            goto rollback;
        if ((ret = exec_sql(st, "COMMIT")) != CLEAVE_OK)
            goto rollback;
    }
rollback:
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return ret;
}

/* Look at the file's first 100 bytes before SQLite touches it: a file that is not an SQLite
** database, or one whose header says a newer schema (user_version is the big-endian 32-bit
** integer at offset 60), is refused without SQLite creating -wal or -shm files beside it.  An
** empty file is a new database.  SQLite checks again after opening, since a newer version
** could still sit in a WAL file that has not been checkpointed. */
static cleave_status peek_header(cl_store *st)
{
    unsigned char hdr[100];
    char why[128];
    FILE *f = fopen(st->path, "rb");
    if (!f) {
        os_reason(errno, why, sizeof why);
        return fail(st, CLEAVE_EIO, "cannot open '%s': %s", st->path, why);
    }
    size_t n = fread(hdr, 1, sizeof hdr, f);
    fclose(f);
    if (n == 0)
        return CLEAVE_OK;
    if (n < sizeof hdr || memcmp(hdr, "SQLite format 3", 16) != 0)
        return fail(st, CLEAVE_EDB, "'%s' is not a cleave store", st->path);
    uint32_t version = (uint32_t)hdr[60] << 24 | (uint32_t)hdr[61] << 16 | (uint32_t)hdr[62] << 8 |
                       (uint32_t)hdr[63];
    if (version > CL_STORE_SCHEMA_VERSION)
        return fail(st, CLEAVE_EDB, "'%s' has schema version %d, newer than this cleave (%d)",
                    st->path, (int)version, CL_STORE_SCHEMA_VERSION);
    return CLEAVE_OK;
}

/* The open sequence.  Nothing is written before the schema version has been read and found
** acceptable: switching to WAL rewrites the file header, so it comes after that check. */
static cleave_status open_db(cl_store *st, int flags)
{
    struct stat sb;
    char why[128];
    int version = 0;
    int64_t nobjects = 0;
    cleave_status ret;

    if (stat(st->path, &sb) != 0) {
        if (errno == ENOENT && !(flags & CL_STORE_CREATE))
            return fail(st, CLEAVE_EIO, "no store at '%s'", st->path);
        if (errno != ENOENT) {
            os_reason(errno, why, sizeof why);
            return fail(st, CLEAVE_EIO, "cannot open '%s': %s", st->path, why);
        }
    } else if (S_ISDIR(sb.st_mode)) {
        return fail(st, CLEAVE_EIO, "cannot open '%s': is a directory", st->path);
    } else if ((ret = peek_header(st)) != CLEAVE_OK) {
        return ret;
    }

    /* Read-only handles are read-write connections with query_only set: SQLite refuses every
    ** write on them, and unlike SQLITE_OPEN_READONLY the last one to close still removes the
    ** -wal and -shm files, so `cleave db info` leaves nothing behind.  (A file the user may not
    ** write is opened read-only by SQLite itself.) */
    int oflags = SQLITE_OPEN_URI | SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_READWRITE;
    if (!st->readonly && (flags & CL_STORE_CREATE))
        oflags |= SQLITE_OPEN_CREATE;
    /* URIs are on for ATTACH in merges; a relative path that looks like one is made plain. */
    char *name = NULL;
    if (strncmp(st->path, "file:", 5) == 0) {
        size_t n = strlen(st->path) + 3;
        if (!(name = malloc(n)))
            return fail(st, CLEAVE_ENOMEM, "out of memory");
        snprintf(name, n, "./%s", st->path);
    }
    int rc = sqlite3_open_v2(name ? name : st->path, &st->db, oflags, NULL);
    free(name);
    if (rc != SQLITE_OK)
        return db_error(st, rc);
    sqlite3_busy_timeout(st->db, st->busy_ms);
    if (st->readonly) {
        if ((ret = exec_sql(st, "PRAGMA query_only = ON")) != CLEAVE_OK)
            return ret;
    } else if (sqlite3_db_readonly(st->db, "main") == 1) {
        return fail(st, CLEAVE_EIO, "cannot open '%s' for writing: permission denied", st->path);
    }

    if ((ret = read_version(st, &version)) != CLEAVE_OK)
        return ret;
    if (version > CL_STORE_SCHEMA_VERSION)
        return fail(st, CLEAVE_EDB, "'%s' has schema version %d, newer than this cleave (%d)",
                    st->path, version, CL_STORE_SCHEMA_VERSION);
    if (version == 0) {
        /* Version 0 is a new (empty) file; one with tables is somebody else's database. */
        if ((ret = query_int(st, "SELECT count(*) FROM sqlite_master", 0, &nobjects)) != CLEAVE_OK)
            return ret;
        if (nobjects > 0 || st->readonly)
            return fail(st, CLEAVE_EDB, "'%s' is not a cleave store", st->path);
    }
    if (st->readonly) {
        if (version < CL_STORE_SCHEMA_VERSION)
            return fail(st, CLEAVE_EDB,
                        "'%s' has schema version %d, older than this cleave (%d); open it for "
                        "writing once to upgrade it",
                        st->path, version, CL_STORE_SCHEMA_VERSION);
        return exec_sql(st, "PRAGMA foreign_keys = ON");
    }

    /* WAL: readers never block the writer, and a commit is one append, so a kill -9 loses at
    ** most the open transaction.  synchronous=NORMAL keeps that guarantee for process crashes
    ** (only a power cut can lose the last commits, never damage the file). */
    sqlite3_stmt *s = NULL;
    if ((ret = prepare(st, &s, "PRAGMA journal_mode = WAL")) != CLEAVE_OK)
        return ret;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        ret = db_error(st, rc);
    } else if (strcmp((const char *)sqlite3_column_text(s, 0), "wal") != 0) {
        ret = fail(st, CLEAVE_EDB, "cannot switch '%s' to WAL mode (journal mode is %s)", st->path,
                   (const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    if (ret != CLEAVE_OK)
        return ret;
    if ((ret = exec_sql(st, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")) != CLEAVE_OK)
        return ret;
    /* Only a store that lacks migrations takes the write lock here; opening a current store
    ** never waits for a running profiler. */
    return version < CL_STORE_SCHEMA_VERSION ? migrate(st) : CLEAVE_OK;
}

/* See store.h.  The handle is built first so that every message can name the path. */
cleave_status cl_store_open(cl_store **out, const char *path, int flags, char *err, size_t errlen)
{
    cl_store *st = NULL;
    cleave_status ret = CLEAVE_OK;

    *out = NULL;
    if (!path || !*path) {
        if (err && errlen)
            snprintf(err, errlen, "empty store path");
        return CLEAVE_EINVAL;
    }
    if ((flags & CL_STORE_READONLY) && (flags & CL_STORE_CREATE)) {
        if (err && errlen)
            snprintf(err, errlen, "cannot create '%s' read-only", path);
        return CLEAVE_EINVAL;
    }
    if (!(st = calloc(1, sizeof *st)) || !(st->path = strdup(path))) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        ret = CLEAVE_ENOMEM;
        goto fail;
    }
    st->readonly = (flags & CL_STORE_READONLY) != 0;
    st->busy_ms = CL_STORE_BUSY_MS_DEFAULT;
    if ((ret = open_db(st, flags)) != CLEAVE_OK) {
        if (err && errlen)
            snprintf(err, errlen, "%s", st->msg);
        goto fail;
    }
    st->msg[0] = '\0';
    *out = st;
    return CLEAVE_OK;
fail:
    cl_store_close(st);
    return ret;
}

/* See store.h.  The same open sequence with the migrations capped at VERSION. */
cleave_status cl_store_create_at_version(const char *path, int version, char *err, size_t errlen)
{
    cl_store *st = NULL;
    struct stat sb;
    cleave_status ret = CLEAVE_OK;

    if (version < 1 || version > CL_STORE_SCHEMA_VERSION) {
        if (err && errlen)
            snprintf(err, errlen, "no schema version %d (1 to %d)", version,
                     CL_STORE_SCHEMA_VERSION);
        return CLEAVE_EINVAL;
    }
    if (path && stat(path, &sb) == 0 && sb.st_size > 0) {
        if (err && errlen)
            snprintf(err, errlen, "'%s' already exists", path);
        return CLEAVE_EINVAL;
    }
    if (!path || !(st = calloc(1, sizeof *st)) || !(st->path = strdup(path))) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        ret = CLEAVE_ENOMEM;
        goto done;
    }
    st->busy_ms = CL_STORE_BUSY_MS_DEFAULT;
    st->max_version = version;
    if ((ret = open_db(st, CL_STORE_CREATE)) != CLEAVE_OK && err && errlen)
        snprintf(err, errlen, "%s", st->msg);
done:
    cl_store_close(st);
    return ret;
}

void cl_store_close(cl_store *st)
{
    if (!st)
        return;
    if (st->db) {
        if (!sqlite3_get_autocommit(st->db))
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_finalize(st->ins_sample);
        sqlite3_finalize(st->ins_counter);
        sqlite3_finalize(st->sel_counters);
        sqlite3_close_v2(st->db);
    }
    free(st->path);
    free(st);
}

cleave_status cl_store_set_busy_timeout(cl_store *st, int ms)
{
    st->msg[0] = '\0';
    if (ms < 0)
        return fail(st, CLEAVE_EINVAL, "negative busy timeout %d ms", ms);
    st->busy_ms = ms;
    sqlite3_busy_timeout(st->db, ms);
    return CLEAVE_OK;
}

cleave_status cl_store_schema_version(cl_store *st, int *version)
{
    st->msg[0] = '\0';
    return read_version(st, version);
}

/* integrity_check reports "ok" as its only row when the file is sound; foreign_key_check
** reports no rows when every reference resolves. */
cleave_status cl_store_check(cl_store *st)
{
    sqlite3_stmt *s = NULL;
    cleave_status ret;
    int rc;

    st->msg[0] = '\0';
    if ((ret = prepare(st, &s, "PRAGMA integrity_check")) != CLEAVE_OK)
        return ret;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW)
        ret = db_error(st, rc);
    else if (strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0)
        ret = fail(st, CLEAVE_EDB, "'%s' fails integrity_check: %s", st->path,
                   (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    if (ret != CLEAVE_OK)
        return ret;
    if ((ret = prepare(st, &s, "PRAGMA foreign_key_check")) != CLEAVE_OK)
        return ret;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        ret =
            fail(st, CLEAVE_EDB, "'%s' fails foreign_key_check: %s row %lld refers to a missing %s",
                 st->path, (const char *)sqlite3_column_text(s, 0),
                 (long long)sqlite3_column_int64(s, 1), (const char *)sqlite3_column_text(s, 2));
    else if (rc != SQLITE_DONE)
        ret = db_error(st, rc);
    sqlite3_finalize(s);
    return ret;
}

cleave_status cl_store_set_max_pages(cl_store *st, int64_t max_pages)
{
    char sql[64];
    st->msg[0] = '\0';
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %" PRId64, max_pages);
    return exec_sql(st, sql);
}

/* ---- devices ------------------------------------------------------------------------------ */

static const char *binding_text(const char *b)
{
    return b[0] ? b : "none";
}

#define DEVICE_COLS                                                                                \
    "id, name, host, cpu_model, cores, backend, backend_version, threads, binding, isa, created"

/* Fill *D from a row of DEVICE_COLS. */
static int read_device(sqlite3_stmt *s, cl_device *d, int64_t *id)
{
    int bad = 0;
    memset(d, 0, sizeof *d);
    if (id)
        *id = sqlite3_column_int64(s, 0);
    bad |= col_text(s, 1, d->name, sizeof d->name);
    bad |= col_text(s, 2, d->host, sizeof d->host);
    bad |= col_text(s, 3, d->cpu_model, sizeof d->cpu_model);
    d->cores = sqlite3_column_int(s, 4);
    bad |= col_text(s, 5, d->backend, sizeof d->backend);
    bad |= col_text(s, 6, d->backend_version, sizeof d->backend_version);
    d->threads = sqlite3_column_int(s, 7);
    bad |= col_text(s, 8, d->binding, sizeof d->binding);
    bad |= col_text(s, 9, d->isa, sizeof d->isa);
    bad |= col_text(s, 10, d->created, sizeof d->created);
    return bad;
}

/* Look NAME up; *FOUND says whether it exists. */
static cleave_status device_lookup(cl_store *st, const char *name, cl_device *d, int64_t *id,
                                   int *found)
{
    sqlite3_stmt *s = NULL;
    cleave_status ret = prepare(st, &s, "SELECT " DEVICE_COLS " FROM devices WHERE name = ?");
    if (ret != CLEAVE_OK)
        return ret;
    bind_text(s, 1, name);
    int rc = sqlite3_step(s);
    *found = 0;
    if (rc == SQLITE_ROW) {
        *found = 1;
        if (read_device(s, d, id))
            ret =
                fail(st, CLEAVE_EDB, "device '%s' in '%s' has an over-long field", name, st->path);
    } else if (rc != SQLITE_DONE) {
        ret = db_error(st, rc);
    }
    sqlite3_finalize(s);
    return ret;
}

/* See store.h.  INSERT OR IGNORE then look up again: if another process inserted the same name
** in between, its identity is compared like any existing one. */
cleave_status cl_store_device_ensure(cl_store *st, const cl_device *d, int64_t *id)
{
    cl_device have;
    int found = 0;
    sqlite3_stmt *s = NULL;
    cleave_status ret;

    st->msg[0] = '\0';
    if (!fits(d->name, sizeof d->name) || !fits(d->host, sizeof d->host) ||
        !fits(d->cpu_model, sizeof d->cpu_model) || !fits(d->backend, sizeof d->backend) ||
        !fits(d->backend_version, sizeof d->backend_version) ||
        !fits(d->binding, sizeof d->binding) || !fits(d->isa, sizeof d->isa))
        return fail(st, CLEAVE_EINVAL, "device field not terminated");
    if (!d->name[0])
        return fail(st, CLEAVE_EINVAL, "empty device name");
    if (d->threads < 1)
        return fail(st, CLEAVE_EINVAL, "device '%s': threads must be at least 1, not %d", d->name,
                    d->threads);
    if ((ret = device_lookup(st, d->name, &have, id, &found)) != CLEAVE_OK)
        return ret;
    if (!found) {
        if ((ret = prepare(st, &s,
                           "INSERT OR IGNORE INTO devices(name, host, cpu_model, cores, backend, "
                           "backend_version, threads, binding, isa) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")) != CLEAVE_OK)
            return ret;
        bind_text(s, 1, d->name);
        bind_text(s, 2, d->host);
        bind_text(s, 3, d->cpu_model);
        sqlite3_bind_int(s, 4, d->cores);
        bind_text(s, 5, d->backend);
        bind_text(s, 6, d->backend_version);
        sqlite3_bind_int(s, 7, d->threads);
        bind_text(s, 8, d->binding);
        bind_text(s, 9, d->isa);
        int rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE)
            return db_error(st, rc);
        if ((ret = device_lookup(st, d->name, &have, id, &found)) != CLEAVE_OK)
            return ret;
        if (!found)
            return fail(st, CLEAVE_EDB, "device '%s' vanished from '%s'", d->name, st->path);
    }
    if (have.threads != d->threads || strcmp(have.binding, d->binding) != 0)
        return fail(st, CLEAVE_EINVAL,
                    "device '%s' was calibrated with threads=%d binding=%s, not threads=%d "
                    "binding=%s; use another --device name",
                    d->name, have.threads, binding_text(have.binding), d->threads,
                    binding_text(d->binding));
    if (strcmp(have.cpu_model, d->cpu_model) != 0)
        return fail(st, CLEAVE_EINVAL,
                    "device '%s' was calibrated on '%s', not '%s'; use another --device name",
                    d->name, have.cpu_model, d->cpu_model);
    return CLEAVE_OK;
}

cleave_status cl_store_device_get(cl_store *st, const char *name, cl_device *out, int64_t *id)
{
    cl_device d;
    int found = 0;
    cleave_status ret;

    st->msg[0] = '\0';
    if ((ret = device_lookup(st, name, &d, id, &found)) != CLEAVE_OK)
        return ret;
    if (!found)
        return fail(st, CLEAVE_EINVAL, "no device '%s' in '%s'", name, st->path);
    if (out)
        *out = d;
    return CLEAVE_OK;
}

cleave_status cl_store_device_list(cl_store *st, cl_device **out, int64_t **ids, size_t *n)
{
    sqlite3_stmt *s = NULL;
    cl_device *devs = NULL;
    int64_t *idv = NULL;
    size_t count = 0, cap = 0;
    cleave_status ret;
    int rc;

    st->msg[0] = '\0';
    *out = NULL;
    if (ids)
        *ids = NULL;
    *n = 0;
    if ((ret = prepare(st, &s, "SELECT " DEVICE_COLS " FROM devices ORDER BY name")) != CLEAVE_OK)
        return ret;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            cl_device *nd = realloc(devs, ncap * sizeof *nd);
            if (!nd) {
                ret = fail(st, CLEAVE_ENOMEM, "out of memory");
                goto done;
            }
            devs = nd;
            int64_t *ni = realloc(idv, ncap * sizeof *ni);
            if (!ni) {
                ret = fail(st, CLEAVE_ENOMEM, "out of memory");
                goto done;
            }
            idv = ni;
            cap = ncap;
        }
        if (read_device(s, &devs[count], &idv[count])) {
            ret = fail(st, CLEAVE_EDB, "a device in '%s' has an over-long field", st->path);
            goto done;
        }
        count++;
    }
    if (rc != SQLITE_DONE)
        ret = db_error(st, rc);
done:
    sqlite3_finalize(s);
    if (ret != CLEAVE_OK) {
        free(devs);
        free(idv);
        return ret;
    }
    *out = devs;
    if (ids)
        *ids = idv;
    else
        free(idv);
    *n = count;
    return CLEAVE_OK;
}

/* ---- runs --------------------------------------------------------------------------------- */

static const char *const run_status_names[CL_RUN_NSTATUS] = {"running", "done", "interrupted",
                                                             "failed"};

const char *cl_run_status_name(cl_run_status s)
{
    return (int)s >= 0 && s < CL_RUN_NSTATUS ? run_status_names[s] : NULL;
}

int cl_run_status_from_name(const char *name)
{
    for (int i = 0; i < CL_RUN_NSTATUS; i++)
        if (name && strcmp(name, run_status_names[i]) == 0)
            return i;
    return -1;
}

void cl_run_release(cl_run *r)
{
    if (!r)
        return;
    free(r->config);
    r->config = NULL;
}

cleave_status cl_store_run_begin(cl_store *st, int64_t device_id, const char *config_json,
                                 uint64_t seed, int64_t planned, int64_t *run_id)
{
    sqlite3_stmt *s = NULL;
    cleave_status ret;

    st->msg[0] = '\0';
    if (planned < 0)
        return fail(st, CLEAVE_EINVAL, "negative number of planned samples %" PRId64, planned);
    if ((ret = prepare(st, &s,
                       "INSERT INTO runs(device_id, config, seed, planned) "
                       "VALUES (?, ?, ?, ?)")) != CLEAVE_OK)
        return ret;
    sqlite3_bind_int64(s, 1, device_id);
    bind_text(s, 2, config_json && *config_json ? config_json : "{}");
    sqlite3_bind_int64(s, 3, (sqlite3_int64)seed); /* two's complement keeps all 64 bits */
    sqlite3_bind_int64(s, 4, planned);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return fail(st, CLEAVE_EINVAL, "no device with id %" PRId64 " in '%s'", device_id,
                    st->path);
    if (rc != SQLITE_DONE)
        return db_error(st, rc);
    *run_id = sqlite3_last_insert_rowid(st->db);
    return CLEAVE_OK;
}

/* Set the status (and end time, NULL for 'running') of run RUN_ID. */
static cleave_status run_set_status(cl_store *st, int64_t run_id, cl_run_status status)
{
    sqlite3_stmt *s = NULL;
    cleave_status ret;
    if ((ret = prepare(st, &s,
                       "UPDATE runs SET status = ?1, ended = CASE WHEN ?1 = 'running' "
                       "THEN NULL ELSE " NOW_SQL " END WHERE id = ?2")) != CLEAVE_OK)
        return ret;
    bind_text(s, 1, cl_run_status_name(status));
    sqlite3_bind_int64(s, 2, run_id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return db_error(st, rc);
    if (sqlite3_changes(st->db) == 0)
        return fail(st, CLEAVE_EINVAL, "no run %" PRId64 " in '%s'", run_id, st->path);
    return CLEAVE_OK;
}

cleave_status cl_store_run_end(cl_store *st, int64_t run_id, cl_run_status status)
{
    st->msg[0] = '\0';
    if (status != CL_RUN_DONE && status != CL_RUN_INTERRUPTED && status != CL_RUN_FAILED)
        return fail(st, CLEAVE_EINVAL, "a run ends done, interrupted or failed, not status %d",
                    (int)status);
    return run_set_status(st, run_id, status);
}

cleave_status cl_store_run_resume(cl_store *st, int64_t run_id)
{
    st->msg[0] = '\0';
    return run_set_status(st, run_id, CL_RUN_RUNNING);
}

#define RUN_SELECT                                                                                 \
    "SELECT r.id, r.device_id, r.uid, r.config, r.seed, r.planned, r.started, r.ended, "           \
    "r.status, (SELECT count(*) FROM samples WHERE run_id = r.id), "                               \
    "(SELECT max(seq) FROM samples WHERE run_id = r.id) FROM runs r "

/* Run one RUN_SELECT statement S (bound) into *OUT; *FOUND says whether a row came back. */
static cleave_status read_run(cl_store *st, sqlite3_stmt *s, cl_run *out, int *found)
{
    const char *config;
    int rc = sqlite3_step(s);

    memset(out, 0, sizeof *out);
    out->max_seq = -1;
    *found = 0;
    if (rc == SQLITE_DONE)
        return CLEAVE_OK;
    if (rc != SQLITE_ROW)
        return db_error(st, rc);
    *found = 1;
    out->id = sqlite3_column_int64(s, 0);
    out->device_id = sqlite3_column_int64(s, 1);
    if (col_text(s, 2, out->uid, sizeof out->uid) ||
        col_text(s, 6, out->started, sizeof out->started) ||
        col_text(s, 7, out->ended, sizeof out->ended))
        return fail(st, CLEAVE_EDB, "run %" PRId64 " in '%s' has an over-long field", out->id,
                    st->path);
    config = (const char *)sqlite3_column_text(s, 3);
    if (!(out->config = strdup(config ? config : "{}")))
        return fail(st, CLEAVE_ENOMEM, "out of memory");
    out->seed = (uint64_t)sqlite3_column_int64(s, 4);
    out->planned = sqlite3_column_int64(s, 5);
    int status = cl_run_status_from_name((const char *)sqlite3_column_text(s, 8));
    out->status = status < 0 ? CL_RUN_FAILED : (cl_run_status)status;
    out->nsamples = sqlite3_column_int64(s, 9);
    if (sqlite3_column_type(s, 10) != SQLITE_NULL)
        out->max_seq = sqlite3_column_int64(s, 10);
    return CLEAVE_OK;
}

cleave_status cl_store_run_get(cl_store *st, int64_t run_id, cl_run *out)
{
    sqlite3_stmt *s = NULL;
    int found = 0;
    cleave_status ret;

    st->msg[0] = '\0';
    memset(out, 0, sizeof *out);
    if ((ret = prepare(st, &s, RUN_SELECT "WHERE r.id = ?")) != CLEAVE_OK)
        return ret;
    sqlite3_bind_int64(s, 1, run_id);
    ret = read_run(st, s, out, &found);
    sqlite3_finalize(s);
    if (ret == CLEAVE_OK && !found)
        ret = fail(st, CLEAVE_EINVAL, "no run %" PRId64 " in '%s'", run_id, st->path);
    if (ret != CLEAVE_OK)
        cl_run_release(out);
    return ret;
}

cleave_status cl_store_run_find_unfinished(cl_store *st, int64_t device_id, cl_run *out, int *found)
{
    sqlite3_stmt *s = NULL;
    cleave_status ret;

    st->msg[0] = '\0';
    *found = 0;
    memset(out, 0, sizeof *out);
    if ((ret = prepare(st, &s,
                       RUN_SELECT "WHERE r.device_id = ? AND r.status IN ('running', "
                                  "'interrupted') ORDER BY r.id DESC LIMIT 1")) != CLEAVE_OK)
        return ret;
    sqlite3_bind_int64(s, 1, device_id);
    ret = read_run(st, s, out, found);
    sqlite3_finalize(s);
    if (ret != CLEAVE_OK) {
        cl_run_release(out);
        *found = 0;
    }
    return ret;
}

cleave_status cl_store_run_done_seqs(cl_store *st, int64_t run_id, unsigned char *done,
                                     int64_t planned, int64_t *ndone)
{
    sqlite3_stmt *s = NULL;
    int64_t count = 0;
    cleave_status ret;
    int rc;

    st->msg[0] = '\0';
    if (planned > 0)
        memset(done, 0, (size_t)planned);
    if ((ret = prepare(st, &s, "SELECT seq FROM samples WHERE run_id = ?")) != CLEAVE_OK)
        return ret;
    sqlite3_bind_int64(s, 1, run_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(s, 0);
        if (seq >= 0 && seq < planned)
            done[seq] = 1;
        count++;
    }
    if (rc != SQLITE_DONE)
        ret = db_error(st, rc);
    sqlite3_finalize(s);
    if (ndone)
        *ndone = count;
    return ret;
}

/* ---- samples ------------------------------------------------------------------------------ */

cleave_status cl_store_batch_begin(cl_store *st)
{
    cleave_status ret;
    st->msg[0] = '\0';
    if (st->readonly)
        return fail(st, CLEAVE_EDB, "cannot write '%s': opened read-only", st->path);
    if (st->in_batch)
        return fail(st, CLEAVE_EINVAL, "a batch is already open on '%s'", st->path);
    /* IMMEDIATE takes the write lock now (waiting up to the busy timeout), so a locked store
    ** fails before anything is measured rather than at the first insert. */
    if ((ret = exec_sql(st, "BEGIN IMMEDIATE")) != CLEAVE_OK)
        return ret;
    st->in_batch = 1;
    return CLEAVE_OK;
}

cleave_status cl_store_batch_commit(cl_store *st)
{
    st->msg[0] = '\0';
    if (!st->in_batch)
        return fail(st, CLEAVE_EINVAL, "no open batch on '%s'", st->path);
    int rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        cleave_status ret = db_error(st, rc);
        if (!sqlite3_get_autocommit(st->db))
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        st->in_batch = 0;
        return ret;
    }
    st->in_batch = 0;
    return CLEAVE_OK;
}

cleave_status cl_store_batch_rollback(cl_store *st)
{
    st->msg[0] = '\0';
    if (st->in_batch && !sqlite3_get_autocommit(st->db)) {
        int rc = sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        st->in_batch = 0;
        if (rc != SQLITE_OK)
            return db_error(st, rc);
    }
    st->in_batch = 0;
    return CLEAVE_OK;
}

/* Reject a sample whose strings are unterminated or empty, or whose counters are malformed,
** before anything is written: a half-written sample would need a savepoint to undo. */
static cleave_status check_sample(cl_store *st, const cl_sample *s)
{
    if (!fits(s->type, sizeof s->type) || !fits(s->spec, sizeof s->spec) ||
        !fits(s->static_json, sizeof s->static_json) || !fits(s->load, sizeof s->load))
        return fail(st, CLEAVE_EINVAL, "sample %" PRId64 ": a text field is not terminated",
                    s->seq);
    if (!s->type[0] || !s->spec[0])
        return fail(st, CLEAVE_EINVAL, "sample %" PRId64 ": empty layer type or spec", s->seq);
    if (s->ncounters < 0 || s->ncounters > CL_SAMPLE_MAX_COUNTERS)
        return fail(st, CLEAVE_EINVAL, "sample %" PRId64 ": %d counters (at most %d)", s->seq,
                    s->ncounters, CL_SAMPLE_MAX_COUNTERS);
    for (int i = 0; i < s->ncounters; i++) {
        const char *name = s->counters[i].name;
        if (!fits(name, sizeof s->counters[i].name) || !name[0])
            return fail(st, CLEAVE_EINVAL, "sample %" PRId64 ": counter %d has no name", s->seq, i);
        for (int j = 0; j < i; j++)
            if (strcmp(name, s->counters[j].name) == 0)
                return fail(st, CLEAVE_EINVAL, "sample %" PRId64 ": counter '%s' given twice",
                            s->seq, name);
    }
    return CLEAVE_OK;
}

/* See store.h.  Statements are prepared once per handle and reset after each use; the batch's
** transaction makes a row cost microseconds (DESIGN.md: 10 k rows in one transaction ~ 10 ms). */
cleave_status cl_store_sample_add(cl_store *st, int64_t run_id, const cl_sample *s)
{
    cleave_status ret;
    int rc, i = 1;

    st->msg[0] = '\0';
    if (!st->in_batch)
        return fail(st, CLEAVE_EINVAL, "no open batch on '%s': samples are written in batches",
                    st->path);
    if ((ret = check_sample(st, s)) != CLEAVE_OK)
        return ret;
    if (!st->ins_sample && (ret = prepare(st, &st->ins_sample,
                                          "INSERT INTO samples(run_id, seq, " SAMPLE_DATA_COLS
                                          ") VALUES (?,?," SAMPLE_DATA_QMARKS ")")) != CLEAVE_OK)
        return ret;
    if (!st->ins_counter &&
        (ret = prepare(st, &st->ins_counter,
                       "INSERT INTO counters(sample_id, name, value) VALUES (?, ?, ?)")) !=
            CLEAVE_OK)
        return ret;

    sqlite3_stmt *q = st->ins_sample;
    sqlite3_bind_int64(q, i++, run_id);
    sqlite3_bind_int64(q, i++, s->seq);
    bind_text(q, i++, s->type);
    bind_text(q, i++, s->spec);
    bind_text(q, i++, s->static_json[0] ? s->static_json : "{}");
    bind_text(q, i++, s->load);
    bind_real(q, i++, s->load_cpu);
    bind_real(q, i++, s->load_membw);
    bind_real(q, i++, s->load_memcap);
    for (int f = 0; f < CLEAVE_LOAD_COUNT; f++)
        bind_real(q, i++, s->dyn[f]);
    sqlite3_bind_int64(q, i++, s->reps);
    sqlite3_bind_int64(q, i++, s->warmup);
    bind_real(q, i++, s->median_us);
    bind_real(q, i++, s->min_us);
    bind_real(q, i++, s->p90_us);
    bind_real(q, i++, s->max_us);
    bind_real(q, i++, s->mean_us);
    bind_real(q, i++, s->mad_us);
    sqlite3_bind_int(q, i++, s->threads);
    rc = sqlite3_step(q);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return fail(st, CLEAVE_EINVAL, "run %" PRId64 " already has a sample at seq %" PRId64,
                    run_id, s->seq);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return fail(st, CLEAVE_EINVAL, "no run %" PRId64 " in '%s'", run_id, st->path);
    if (rc != SQLITE_DONE)
        return batch_error(st, rc);

    int64_t sample_id = sqlite3_last_insert_rowid(st->db);
    q = st->ins_counter;
    for (int c = 0; c < s->ncounters; c++) {
        const cl_counter *ctr = &s->counters[c];
        sqlite3_bind_int64(q, 1, sample_id);
        bind_text(q, 2, ctr->name);
        /* Unavailable is NULL, never 0: a 0 would read as "no page faults happened". */
        bind_real(q, 3, ctr->available ? ctr->value : NAN);
        rc = sqlite3_step(q);
        sqlite3_reset(q);
        sqlite3_clear_bindings(q);
        if (rc != SQLITE_DONE)
            return batch_error(st, rc);
    }
    return CLEAVE_OK;
}

/* Fill *S from a row of "id, run_id, seq, " SAMPLE_DATA_COLS ", created"; -1 if a text does not
** fit its array. */
static int read_sample(sqlite3_stmt *q, cl_sample *s)
{
    int bad = 0, i = 0;
    s->id = sqlite3_column_int64(q, i++);
    s->run_id = sqlite3_column_int64(q, i++);
    s->seq = sqlite3_column_int64(q, i++);
    bad |= col_text(q, i++, s->type, sizeof s->type);
    bad |= col_text(q, i++, s->spec, sizeof s->spec);
    bad |= col_text(q, i++, s->static_json, sizeof s->static_json);
    bad |= col_text(q, i++, s->load, sizeof s->load);
    s->load_cpu = col_real(q, i++);
    s->load_membw = col_real(q, i++);
    s->load_memcap = col_real(q, i++);
    for (int f = 0; f < CLEAVE_LOAD_COUNT; f++)
        s->dyn[f] = col_real(q, i++);
    s->reps = sqlite3_column_int64(q, i++);
    s->warmup = sqlite3_column_int64(q, i++);
    s->median_us = col_real(q, i++);
    s->min_us = col_real(q, i++);
    s->p90_us = col_real(q, i++);
    s->max_us = col_real(q, i++);
    s->mean_us = col_real(q, i++);
    s->mad_us = col_real(q, i++);
    s->threads = sqlite3_column_int(q, i++);
    bad |= col_text(q, i++, s->created, sizeof s->created);
    return bad | (i != SAMPLE_READ_NCOLS);
}

/* The counters of sample S->id into S->counters. */
static cleave_status read_counters(cl_store *st, cl_sample *s)
{
    cleave_status ret = CLEAVE_OK;
    int rc;
    if (!st->sel_counters &&
        (ret = prepare(st, &st->sel_counters,
                       "SELECT name, value FROM counters WHERE sample_id = ? ORDER BY name")) !=
            CLEAVE_OK)
        return ret;
    sqlite3_stmt *q = st->sel_counters;
    sqlite3_bind_int64(q, 1, s->id);
    s->ncounters = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (s->ncounters == CL_SAMPLE_MAX_COUNTERS) {
            ret = fail(st, CLEAVE_EDB, "sample %" PRId64 " in '%s' has more than %d counters",
                       s->id, st->path, CL_SAMPLE_MAX_COUNTERS);
            break;
        }
        cl_counter *c = &s->counters[s->ncounters++];
        if (col_text(q, 0, c->name, sizeof c->name)) {
            ret = fail(st, CLEAVE_EDB, "sample %" PRId64 " in '%s': over-long counter name", s->id,
                       st->path);
            break;
        }
        c->available = sqlite3_column_type(q, 1) != SQLITE_NULL;
        c->value = c->available ? sqlite3_column_double(q, 1) : NAN;
    }
    if (ret == CLEAVE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = db_error(st, rc);
    sqlite3_reset(q);
    return ret;
}

/* Samples of the device called ?1 (all if NULL) and type ?2 (all if NULL). */
#define SAMPLE_SELECT                                                                              \
    "SELECT id, run_id, seq, " SAMPLE_DATA_COLS ", created FROM samples "                          \
    "WHERE (?1 IS NULL OR run_id IN (SELECT r.id FROM runs r JOIN devices d "                      \
    "ON d.id = r.device_id WHERE d.name = ?1)) AND (?2 IS NULL OR type = ?2) "                     \
    "ORDER BY run_id, seq"

cleave_status cl_store_samples_foreach(cl_store *st, const char *device, const char *type,
                                       cl_sample_fn fn, void *arg)
{
    sqlite3_stmt *q = NULL;
    cl_sample *s = NULL;
    cleave_status ret = CLEAVE_OK;
    int rc;

    st->msg[0] = '\0';
    if (device && (ret = cl_store_device_get(st, device, NULL, NULL)) != CLEAVE_OK)
        return ret;
    if (!(s = calloc(1, sizeof *s)))
        return fail(st, CLEAVE_ENOMEM, "out of memory");
    if ((ret = prepare(st, &q, SAMPLE_SELECT)) != CLEAVE_OK)
        goto done;
    if (device)
        bind_text(q, 1, device);
    if (type)
        bind_text(q, 2, type);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        memset(s, 0, sizeof *s);
        if (read_sample(q, s)) {
            ret = fail(st, CLEAVE_EDB, "sample %" PRId64 " in '%s' has an over-long field", s->id,
                       st->path);
            goto done;
        }
        if ((ret = read_counters(st, s)) != CLEAVE_OK)
            goto done;
        if (fn(s, arg))
            goto done;
    }
    if (rc != SQLITE_DONE)
        ret = db_error(st, rc);
done:
    sqlite3_finalize(q);
    free(s);
    return ret;
}

/* ---- models ------------------------------------------------------------------------------- */

cleave_status cl_store_model_add(cl_store *st, const cl_model *m, int64_t *id)
{
    sqlite3_stmt *s = NULL;
    cleave_status ret;

    st->msg[0] = '\0';
    if (!fits(m->type, sizeof m->type) || !fits(m->family, sizeof m->family) ||
        !fits(m->feature_set, sizeof m->feature_set))
        return fail(st, CLEAVE_EINVAL, "model field not terminated");
    if (strcmp(m->feature_set, "static") != 0 && strcmp(m->feature_set, "dynamic") != 0)
        return fail(st, CLEAVE_EINVAL, "feature set '%s' is neither 'static' nor 'dynamic'",
                    m->feature_set);
    if ((ret = prepare(st, &s,
                       "INSERT INTO models(device_id, type, family, feature_set, "
                       "features, blob, cv_r2, cv_rmse, cv_mape, cv_within10, n_samples, "
                       "selected, lolo_r2, lolo_rmse, lolo_mape, lolo_within10, detail, target) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) !=
        CLEAVE_OK)
        return ret;
    sqlite3_bind_int64(s, 1, m->device_id);
    bind_text(s, 2, m->type);
    bind_text(s, 3, m->family);
    bind_text(s, 4, m->feature_set);
    bind_text(s, 5, m->features ? m->features : "[]");
    if (m->blob)
        sqlite3_bind_blob64(s, 6, m->blob, m->blob_bytes, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 6);
    bind_real(s, 7, m->cv_r2);
    bind_real(s, 8, m->cv_rmse);
    bind_real(s, 9, m->cv_mape);
    bind_real(s, 10, m->cv_within10);
    sqlite3_bind_int64(s, 11, m->n_samples);
    sqlite3_bind_int(s, 12, m->selected ? 1 : 0);
    bind_real(s, 13, m->lolo_r2);
    bind_real(s, 14, m->lolo_rmse);
    bind_real(s, 15, m->lolo_mape);
    bind_real(s, 16, m->lolo_within10);
    bind_text(s, 17, m->detail && *m->detail ? m->detail : "{}");
    bind_text(s, 18, m->target[0] ? m->target : "median");
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_CONSTRAINT_CHECK)
        return fail(st, CLEAVE_EINVAL, "model target '%s' is not mean, median or p90", m->target);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return fail(st, CLEAVE_EINVAL, "no device with id %" PRId64 " in '%s'", m->device_id,
                    st->path);
    if (rc != SQLITE_DONE)
        return batch_error(st, rc);
    if (id)
        *id = sqlite3_last_insert_rowid(st->db);
    return CLEAVE_OK;
}

cleave_status cl_store_models_foreach(cl_store *st, int64_t device_id, const char *type,
                                      cl_model_fn fn, void *arg)
{
    sqlite3_stmt *q = NULL;
    cl_model m;
    cleave_status ret;
    int rc;

    st->msg[0] = '\0';
    if ((ret = prepare(st, &q,
                       "SELECT id, device_id, type, family, feature_set, features, blob, "
                       "cv_r2, cv_rmse, cv_mape, cv_within10, n_samples, selected, "
                       "created, lolo_r2, lolo_rmse, lolo_mape, lolo_within10, detail, target "
                       "FROM models WHERE device_id = ?1 AND (?2 IS NULL OR "
                       "type = ?2) ORDER BY id")) != CLEAVE_OK)
        return ret;
    sqlite3_bind_int64(q, 1, device_id);
    if (type)
        bind_text(q, 2, type);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        memset(&m, 0, sizeof m);
        m.id = sqlite3_column_int64(q, 0);
        m.device_id = sqlite3_column_int64(q, 1);
        if (col_text(q, 2, m.type, sizeof m.type) || col_text(q, 3, m.family, sizeof m.family) ||
            col_text(q, 4, m.feature_set, sizeof m.feature_set) ||
            col_text(q, 13, m.created, sizeof m.created) ||
            col_text(q, 19, m.target, sizeof m.target)) {
            ret = fail(st, CLEAVE_EDB, "model %" PRId64 " in '%s' has an over-long field", m.id,
                       st->path);
            break;
        }
        m.features = (const char *)sqlite3_column_text(q, 5);
        m.blob = sqlite3_column_blob(q, 6);
        m.blob_bytes = (size_t)sqlite3_column_bytes(q, 6);
        m.cv_r2 = col_real(q, 7);
        m.cv_rmse = col_real(q, 8);
        m.cv_mape = col_real(q, 9);
        m.cv_within10 = col_real(q, 10);
        m.n_samples = sqlite3_column_int64(q, 11);
        m.selected = sqlite3_column_int(q, 12);
        m.lolo_r2 = col_real(q, 14);
        m.lolo_rmse = col_real(q, 15);
        m.lolo_mape = col_real(q, 16);
        m.lolo_within10 = col_real(q, 17);
        m.detail = (const char *)sqlite3_column_text(q, 18);
        if (!m.detail)
            m.detail = "{}";
        if (fn(&m, arg))
            break;
    }
    if (ret == CLEAVE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = db_error(st, rc);
    sqlite3_finalize(q);
    return ret;
}

/* See store.h.  Predictions are deleted explicitly rather than left to ON DELETE CASCADE, so
** the result does not depend on the connection's foreign_keys setting. */
cleave_status cl_store_models_clear(cl_store *st, int64_t device_id)
{
    static const char *const sql[] = {
        "DELETE FROM predictions WHERE model_id IN (SELECT id FROM models WHERE device_id = ?)",
        "DELETE FROM models WHERE device_id = ?",
        "DELETE FROM fit_skips WHERE device_id = ?",
    };
    cleave_status ret = CLEAVE_OK;

    st->msg[0] = '\0';
    for (size_t k = 0; k < sizeof sql / sizeof sql[0]; k++) {
        sqlite3_stmt *q = NULL;
        if ((ret = prepare(st, &q, sql[k])) != CLEAVE_OK)
            return ret;
        sqlite3_bind_int64(q, 1, device_id);
        int rc = sqlite3_step(q);
        sqlite3_finalize(q);
        if (rc != SQLITE_DONE)
            return batch_error(st, rc);
    }
    return ret;
}

/* See store.h.  One statement, reset per row; a constraint failure names the row. */
cleave_status cl_store_predictions_add(cl_store *st, int64_t model_id, const cl_prediction *p,
                                       size_t n)
{
    sqlite3_stmt *q = NULL;
    cleave_status ret;

    st->msg[0] = '\0';
    if ((ret = prepare(st, &q,
                       "INSERT INTO predictions(model_id, sample_id, fold, cv_us, lolo_us) "
                       "VALUES (?, ?, ?, ?, ?)")) != CLEAVE_OK)
        return ret;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(q, 1, model_id);
        sqlite3_bind_int64(q, 2, p[i].sample_id);
        if (p[i].fold < 0)
            sqlite3_bind_null(q, 3);
        else
            sqlite3_bind_int(q, 3, p[i].fold);
        bind_real(q, 4, p[i].cv_us);
        bind_real(q, 5, p[i].lolo_us);
        int rc = sqlite3_step(q);
        sqlite3_reset(q);
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
            ret = fail(st, CLEAVE_EINVAL,
                       "model %" PRId64 " already has a prediction for sample %" PRId64, model_id,
                       p[i].sample_id);
            break;
        }
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
            ret = fail(st, CLEAVE_EINVAL, "no model %" PRId64 " or sample %" PRId64 " in '%s'",
                       model_id, p[i].sample_id, st->path);
            break;
        }
        if (rc != SQLITE_DONE) {
            ret = batch_error(st, rc);
            break;
        }
    }
    sqlite3_finalize(q);
    return ret;
}

/* See store.h.  The sample columns come first, in read_sample()'s layout, then the prediction. */
cleave_status cl_store_predictions_foreach(cl_store *st, int64_t model_id, cl_prediction_fn fn,
                                           void *arg)
{
    sqlite3_stmt *q = NULL;
    cl_sample *s = NULL;
    cl_prediction p;
    cleave_status ret = CLEAVE_OK;
    int rc;

    st->msg[0] = '\0';
    if (!(s = calloc(1, sizeof *s)))
        return fail(st, CLEAVE_ENOMEM, "out of memory");
    if ((ret = prepare(st, &q,
                       "SELECT s.id, s.run_id, s.seq, " SAMPLE_DATA_COLS ", s.created, "
                       "p.fold, p.cv_us, p.lolo_us FROM predictions p JOIN samples s "
                       "ON s.id = p.sample_id WHERE p.model_id = ? "
                       "ORDER BY s.run_id, s.seq")) != CLEAVE_OK)
        goto done;
    sqlite3_bind_int64(q, 1, model_id);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        memset(s, 0, sizeof *s);
        if (read_sample(q, s)) {
            ret = fail(st, CLEAVE_EDB, "sample %" PRId64 " in '%s' has an over-long field", s->id,
                       st->path);
            goto done;
        }
        p.sample_id = s->id;
        p.fold = sqlite3_column_type(q, SAMPLE_READ_NCOLS) == SQLITE_NULL
                     ? -1
                     : sqlite3_column_int(q, SAMPLE_READ_NCOLS);
        p.cv_us = col_real(q, SAMPLE_READ_NCOLS + 1);
        p.lolo_us = col_real(q, SAMPLE_READ_NCOLS + 2);
        if (fn(&p, s, arg))
            goto done;
    }
    if (rc != SQLITE_DONE)
        ret = db_error(st, rc);
done:
    sqlite3_finalize(q);
    free(s);
    return ret;
}

cleave_status cl_store_fit_skip_add(cl_store *st, int64_t device_id, const char *type,
                                    const char *family, const char *feature_set, const char *reason)
{
    sqlite3_stmt *q = NULL;
    cleave_status ret;

    st->msg[0] = '\0';
    if ((ret = prepare(st, &q,
                       "INSERT INTO fit_skips(device_id, type, family, feature_set, reason) "
                       "VALUES (?, ?, ?, ?, ?)")) != CLEAVE_OK)
        return ret;
    sqlite3_bind_int64(q, 1, device_id);
    bind_text(q, 2, type);
    bind_text(q, 3, family);
    bind_text(q, 4, feature_set);
    bind_text(q, 5, reason);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return fail(st, CLEAVE_EINVAL, "no device with id %" PRId64 " in '%s'", device_id,
                    st->path);
    if (rc != SQLITE_DONE)
        return batch_error(st, rc);
    return CLEAVE_OK;
}

cleave_status cl_store_fit_skips_foreach(cl_store *st, int64_t device_id, cl_fit_skip_fn fn,
                                         void *arg)
{
    sqlite3_stmt *q = NULL;
    cleave_status ret;
    int rc;

    st->msg[0] = '\0';
    if ((ret = prepare(st, &q,
                       "SELECT type, family, feature_set, reason FROM fit_skips "
                       "WHERE device_id = ? ORDER BY id")) != CLEAVE_OK)
        return ret;
    sqlite3_bind_int64(q, 1, device_id);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (fn((const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1),
               (const char *)sqlite3_column_text(q, 2), (const char *)sqlite3_column_text(q, 3),
               arg))
            break;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = db_error(st, rc);
    sqlite3_finalize(q);
    return ret;
}

/* ---- transactions ------------------------------------------------------------------------- */

/* A transaction is a batch by another name: the same IMMEDIATE transaction and the same state,
** so the failure handling (a full disk rolls back the open transaction) is written once. */
cleave_status cl_store_tx_begin(cl_store *st)
{
    return cl_store_batch_begin(st);
}

cleave_status cl_store_tx_commit(cl_store *st)
{
    return cl_store_batch_commit(st);
}

cleave_status cl_store_tx_rollback(cl_store *st)
{
    return cl_store_batch_rollback(st);
}

/* ---- merge -------------------------------------------------------------------------------- */

/* "file:" URI for PATH opened read-only: every byte outside the unreserved set and '/' is
** percent-encoded, so '?', '#' and '%' in a file name cannot be read as URI syntax. */
static char *readonly_uri(const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(path);
    char *uri = malloc(5 + 3 * n + 10 + 1), *p;
    if (!uri)
        return NULL;
    p = uri + sprintf(uri, "file:");
    for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
        if (isalnum(*c) || strchr("-._~/", *c)) {
            *p++ = (char)*c;
        } else {
            *p++ = '%';
            *p++ = hex[*c >> 4];
            *p++ = hex[*c & 15];
        }
    }
    strcpy(p, "?mode=ro");
    return uri;
}

/* Run SQL (a merge step); add the rows it changed to *COUNT if COUNT is not NULL. */
static cleave_status merge_step(cl_store *st, const char *sql, int64_t *count)
{
    cleave_status ret = exec_sql(st, sql);
    if (ret == CLEAVE_OK && count)
        *count += sqlite3_changes(st->db);
    return ret;
}

/* A device in both stores whose identity differs: refuse, naming it and both identities. */
static cleave_status merge_conflicts(cl_store *st, const char *other)
{
    sqlite3_stmt *s = NULL;
    cleave_status ret = prepare(
        st, &s,
        "SELECT s.name, s.threads, s.binding, s.cpu_model, m.threads, m.binding, m.cpu_model "
        "FROM cl_src.devices s JOIN main.devices m ON m.name = s.name "
        "WHERE s.threads <> m.threads OR s.binding <> m.binding OR s.cpu_model <> m.cpu_model "
        "ORDER BY s.name LIMIT 1");
    if (ret != CLEAVE_OK)
        return ret;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *sb = (const char *)sqlite3_column_text(s, 2);
        const char *mb = (const char *)sqlite3_column_text(s, 5);
        ret = fail(st, CLEAVE_EINVAL,
                   "device '%s' differs: threads=%d binding=%s cpu '%s' in '%s', but threads=%d "
                   "binding=%s cpu '%s' in '%s'; nothing merged",
                   (const char *)sqlite3_column_text(s, 0), sqlite3_column_int(s, 1),
                   binding_text(sb ? sb : ""), (const char *)sqlite3_column_text(s, 3), other,
                   sqlite3_column_int(s, 4), binding_text(mb ? mb : ""),
                   (const char *)sqlite3_column_text(s, 6), st->path);
    } else if (rc != SQLITE_DONE) {
        ret = db_error(st, rc);
    }
    sqlite3_finalize(s);
    return ret;
}

/* The copy itself, inside the merge transaction.  Devices are matched by name, runs and models
** by uid, samples by (run, seq) and counters by (sample, name); each INSERT skips what is there,
** which makes a repeated merge a no-op.  Temporary tables carry the id remapping. */
static cleave_status merge_copy(cl_store *st, cl_merge_counts *c)
{
    cleave_status ret;
    if ((ret = merge_step(st,
                          "INSERT INTO main.devices(name, host, cpu_model, cores, backend, "
                          "backend_version, threads, binding, isa, created) "
                          "SELECT name, host, cpu_model, cores, backend, backend_version, "
                          "threads, binding, isa, created FROM cl_src.devices s "
                          "WHERE NOT EXISTS (SELECT 1 FROM main.devices m WHERE m.name = s.name) "
                          "ORDER BY s.id",
                          &c->devices)) != CLEAVE_OK)
        return ret;
    if ((ret = merge_step(st,
                          "INSERT INTO main.runs(uid, device_id, config, seed, planned, started, "
                          "ended, status) "
                          "SELECT r.uid, m.id, r.config, r.seed, r.planned, r.started, r.ended, "
                          "r.status FROM cl_src.runs r JOIN cl_src.devices d ON d.id = "
                          "r.device_id JOIN main.devices m ON m.name = d.name "
                          "WHERE NOT EXISTS (SELECT 1 FROM main.runs x WHERE x.uid = r.uid) "
                          "ORDER BY r.id",
                          &c->runs)) != CLEAVE_OK)
        return ret;
    /* A run copied while it was unfinished takes the other store's later status. */
    if ((ret = merge_step(st,
                          "UPDATE main.runs SET (status, ended, planned) = "
                          "(SELECT r.status, r.ended, r.planned FROM cl_src.runs r "
                          "WHERE r.uid = runs.uid) "
                          "WHERE status IN ('running', 'interrupted') AND EXISTS (SELECT 1 FROM "
                          "cl_src.runs r WHERE r.uid = runs.uid AND r.status <> runs.status)",
                          NULL)) != CLEAVE_OK)
        return ret;
    if ((ret = merge_step(st,
                          "CREATE TEMP TABLE cl_merge_run(src_id INTEGER PRIMARY KEY, "
                          "dst_id INTEGER NOT NULL);"
                          "INSERT INTO temp.cl_merge_run(src_id, dst_id) SELECT r.id, x.id "
                          "FROM cl_src.runs r JOIN main.runs x ON x.uid = r.uid;"
                          "CREATE TEMP TABLE cl_merge_sample(src_id INTEGER PRIMARY KEY, "
                          "dst_id INTEGER NOT NULL)",
                          NULL)) != CLEAVE_OK)
        return ret;
    if ((ret = merge_step(st,
                          "INSERT INTO main.samples(run_id, seq, " SAMPLE_DATA_COLS ", created) "
                          "SELECT mr.dst_id, seq, " SAMPLE_DATA_COLS ", created "
                          "FROM cl_src.samples s JOIN temp.cl_merge_run mr ON mr.src_id = "
                          "s.run_id WHERE NOT EXISTS (SELECT 1 FROM main.samples x WHERE "
                          "x.run_id = mr.dst_id AND x.seq = s.seq) ORDER BY s.id",
                          &c->samples)) != CLEAVE_OK)
        return ret;
    if ((ret = merge_step(st,
                          "INSERT INTO temp.cl_merge_sample(src_id, dst_id) SELECT s.id, x.id "
                          "FROM cl_src.samples s JOIN temp.cl_merge_run mr ON mr.src_id = "
                          "s.run_id JOIN main.samples x ON x.run_id = mr.dst_id AND x.seq = "
                          "s.seq",
                          NULL)) != CLEAVE_OK)
        return ret;
    if ((ret = merge_step(st,
                          "INSERT INTO main.counters(sample_id, name, value) "
                          "SELECT ms.dst_id, c.name, c.value FROM cl_src.counters c "
                          "JOIN temp.cl_merge_sample ms ON ms.src_id = c.sample_id "
                          "WHERE NOT EXISTS (SELECT 1 FROM main.counters y WHERE "
                          "y.sample_id = ms.dst_id AND y.name = c.name)",
                          &c->counters)) != CLEAVE_OK)
        return ret;
    if ((ret = merge_step(st,
                          "INSERT INTO main.models(uid, device_id, type, family, feature_set, "
                          "features, blob, cv_r2, cv_rmse, cv_mape, cv_within10, n_samples, "
                          "selected, created, lolo_r2, lolo_rmse, lolo_mape, lolo_within10, "
                          "detail, target) "
                          "SELECT mo.uid, m.id, mo.type, mo.family, mo.feature_set, mo.features, "
                          "mo.blob, mo.cv_r2, mo.cv_rmse, mo.cv_mape, mo.cv_within10, "
                          "mo.n_samples, mo.selected, mo.created, mo.lolo_r2, mo.lolo_rmse, "
                          "mo.lolo_mape, mo.lolo_within10, mo.detail, mo.target "
                          "FROM cl_src.models mo "
                          "JOIN cl_src.devices d ON d.id = mo.device_id "
                          "JOIN main.devices m ON m.name = d.name "
                          "WHERE NOT EXISTS (SELECT 1 FROM main.models y WHERE y.uid = mo.uid) "
                          "ORDER BY mo.id",
                          &c->models)) != CLEAVE_OK)
        return ret;
    /* Predictions follow their model (by uid) and their sample (by the sample map). */
    if ((ret = merge_step(st,
                          "INSERT INTO main.predictions(model_id, sample_id, fold, cv_us, "
                          "lolo_us) SELECT y.id, ms.dst_id, p.fold, p.cv_us, p.lolo_us "
                          "FROM cl_src.predictions p JOIN cl_src.models mo ON mo.id = "
                          "p.model_id JOIN main.models y ON y.uid = mo.uid "
                          "JOIN temp.cl_merge_sample ms ON ms.src_id = p.sample_id "
                          "WHERE NOT EXISTS (SELECT 1 FROM main.predictions z WHERE "
                          "z.model_id = y.id AND z.sample_id = ms.dst_id)",
                          &c->predictions)) != CLEAVE_OK)
        return ret;
    /* Skips have no identity of their own: one that matches in every field is the same. */
    return merge_step(st,
                      "INSERT INTO main.fit_skips(device_id, type, family, feature_set, reason, "
                      "created) SELECT m.id, f.type, f.family, f.feature_set, f.reason, "
                      "f.created FROM cl_src.fit_skips f JOIN cl_src.devices d ON d.id = "
                      "f.device_id JOIN main.devices m ON m.name = d.name "
                      "WHERE NOT EXISTS (SELECT 1 FROM main.fit_skips z WHERE z.device_id = "
                      "m.id AND z.type = f.type AND z.family = f.family AND z.feature_set = "
                      "f.feature_set AND z.reason = f.reason AND z.created = f.created) "
                      "ORDER BY f.id",
                      &c->fit_skips);
}

/* See store.h.  The other store is opened through cl_store_open() first, read-only, so that a
** missing file, a foreign database or a newer schema gets the same message as anywhere else;
** then it is attached read-only and copied in one IMMEDIATE transaction. */
cleave_status cl_store_merge(cl_store *st, const char *other_path, cl_merge_counts *counts,
                             char *err, size_t errlen)
{
    cl_store *other = NULL;
    char *uri = NULL;
    sqlite3_stmt *s = NULL;
    cl_merge_counts c = {0, 0, 0, 0, 0, 0, 0};
    struct stat a, b;
    int attached = 0, in_txn = 0;
    cleave_status ret;

    st->msg[0] = '\0';
    if (counts)
        *counts = c;
    if (st->readonly) {
        ret = fail(st, CLEAVE_EDB, "cannot write '%s': opened read-only", st->path);
        goto done;
    }
    if (st->in_batch) {
        ret = fail(st, CLEAVE_EINVAL, "cannot merge into '%s' while a batch is open", st->path);
        goto done;
    }
    /* OTHER stays open until after DETACH: being the last connection to close, and not opened
    ** with SQLITE_OPEN_READONLY as the attachment is, it removes OTHER's -wal and -shm. */
    if ((ret = cl_store_open(&other, other_path, CL_STORE_READONLY, st->msg, sizeof st->msg)) !=
        CLEAVE_OK)
        goto done;
    if (stat(st->path, &a) == 0 && stat(other_path, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino) {
        ret = fail(st, CLEAVE_EINVAL, "cannot merge '%s' into itself", other_path);
        goto done;
    }
    if (!(uri = readonly_uri(other_path))) {
        ret = fail(st, CLEAVE_ENOMEM, "out of memory");
        goto done;
    }
    if ((ret = prepare(st, &s, "ATTACH DATABASE ? AS cl_src")) != CLEAVE_OK)
        goto done;
    bind_text(s, 1, uri);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        ret = fail(st, CLEAVE_EDB, "cannot attach '%s': %s", other_path, sqlite3_errmsg(st->db));
        goto done;
    }
    attached = 1;
    if ((ret = exec_sql(st, "BEGIN IMMEDIATE")) != CLEAVE_OK)
        goto done;
    in_txn = 1;
    if ((ret = merge_conflicts(st, other_path)) != CLEAVE_OK)
        goto done;
    if ((ret = merge_copy(st, &c)) != CLEAVE_OK)
        goto done;
    if ((ret = exec_sql(st, "DROP TABLE temp.cl_merge_run; DROP TABLE temp.cl_merge_sample")) !=
        CLEAVE_OK)
        goto done;
    if ((ret = exec_sql(st, "COMMIT")) != CLEAVE_OK)
        goto done;
    in_txn = 0;
    if (counts)
        *counts = c;
done:
    if (in_txn && !sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    if (attached) {
        /* The temporary tables of a failed merge would make the next one fail. */
        sqlite3_exec(st->db,
                     "DROP TABLE IF EXISTS temp.cl_merge_run; "
                     "DROP TABLE IF EXISTS temp.cl_merge_sample; DETACH DATABASE cl_src",
                     NULL, NULL, NULL);
    }
    free(uri);
    cl_store_close(other);
    if (ret != CLEAVE_OK && err && errlen)
        snprintf(err, errlen, "%s", st->msg);
    return ret;
}

/* ---- CSV export --------------------------------------------------------------------------- */

/* A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. */
static void csv_text(FILE *out, const char *t)
{
    if (!t)
        return;
    if (!strpbrk(t, ",\"\r\n")) {
        fputs(t, out);
        return;
    }
    fputc('"', out);
    for (; *t; t++) {
        if (*t == '"')
            fputc('"', out);
        fputc(*t, out);
    }
    fputc('"', out);
}

/* The shortest of %.15g, %.16g, %.17g that reads back as V; NaN (NULL) is an empty field. */
static void csv_real(FILE *out, double v)
{
    char buf[40];
    if (isnan(v))
        return;
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, out);
}

/* Names of the counters of the selected samples, sorted: *NAMES (malloc'ed array of malloc'ed
** strings) and *N. */
static cleave_status counter_names(cl_store *st, const char *device, char ***names, size_t *n)
{
    sqlite3_stmt *q = NULL;
    char **v = NULL;
    size_t count = 0, cap = 0;
    cleave_status ret;
    int rc;

    *names = NULL;
    *n = 0;
    if ((ret = prepare(st, &q,
                       "SELECT DISTINCT c.name FROM counters c JOIN samples s ON s.id = "
                       "c.sample_id JOIN runs r ON r.id = s.run_id JOIN devices d ON "
                       "d.id = r.device_id WHERE ?1 IS NULL OR d.name = ?1 "
                       "ORDER BY c.name")) != CLEAVE_OK)
        return ret;
    if (device)
        bind_text(q, 1, device);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            char **nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                ret = fail(st, CLEAVE_ENOMEM, "out of memory");
                goto done;
            }
            v = nv;
            cap = ncap;
        }
        if (!(v[count] = strdup((const char *)sqlite3_column_text(q, 0)))) {
            ret = fail(st, CLEAVE_ENOMEM, "out of memory");
            goto done;
        }
        count++;
    }
    if (rc != SQLITE_DONE)
        ret = db_error(st, rc);
done:
    sqlite3_finalize(q);
    if (ret != CLEAVE_OK) {
        for (size_t i = 0; i < count; i++)
            free(v[i]);
        free(v);
        return ret;
    }
    *names = v;
    *n = count;
    return CLEAVE_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What the export callback needs. */
struct csv_ctx {
    FILE *out;
    char **names;
    size_t nnames;
    sqlite3_stmt *devname; /* the device name of a run */
    cl_store *st;
    cleave_status ret;
};

/* One CSV row: the sample's columns in header order, then its counters by name. */
static int csv_row(const cl_sample *s, void *arg)
{
    struct csv_ctx *cx = arg;
    FILE *out = cx->out;

    fprintf(out, "%" PRId64 ",", s->id);
    sqlite3_bind_int64(cx->devname, 1, s->run_id);
    int rc = sqlite3_step(cx->devname);
    if (rc == SQLITE_ROW) {
        csv_text(out, (const char *)sqlite3_column_text(cx->devname, 0));
    } else {
        cx->ret = db_error(cx->st, rc);
        sqlite3_reset(cx->devname);
        return 1;
    }
    sqlite3_reset(cx->devname);
    fprintf(out, ",%" PRId64 ",%" PRId64 ",", s->run_id, s->seq);
    csv_text(out, s->type);
    fputc(',', out);
    csv_text(out, s->spec);
    fputc(',', out);
    csv_text(out, s->static_json);
    fputc(',', out);
    csv_text(out, s->load);
    const double pre[] = {s->load_cpu, s->load_membw, s->load_memcap};
    for (size_t i = 0; i < 3; i++) {
        fputc(',', out);
        csv_real(out, pre[i]);
    }
    for (int f = 0; f < CLEAVE_LOAD_COUNT; f++) {
        fputc(',', out);
        csv_real(out, s->dyn[f]);
    }
    fprintf(out, ",%" PRId64 ",%" PRId64, s->reps, s->warmup);
    const double stats[] = {s->median_us, s->min_us, s->p90_us, s->max_us, s->mean_us, s->mad_us};
    for (size_t i = 0; i < 6; i++) {
        fputc(',', out);
        csv_real(out, stats[i]);
    }
    fprintf(out, ",%d,", s->threads);
    csv_text(out, s->created);
    /* Counters are sorted by name in both lists: one merge pass. */
    int c = 0;
    for (size_t i = 0; i < cx->nnames; i++) {
        fputc(',', out);
        while (c < s->ncounters && strcmp(s->counters[c].name, cx->names[i]) < 0)
            c++;
        if (c < s->ncounters && strcmp(s->counters[c].name, cx->names[i]) == 0 &&
            s->counters[c].available)
            csv_real(out, s->counters[c].value);
    }
    fputc('\n', out);
    return ferror(out) != 0;
}

cleave_status cl_store_export_csv(cl_store *st, FILE *out, const char *device)
{
    static const char *const dyn_names[] = {
#define DYN_NAME_(e, name, unit, src) "d_" name,
        CLEAVE_LOAD_FEATURE_MAP(DYN_NAME_)
#undef DYN_NAME_
    };
    struct csv_ctx cx = {out, NULL, 0, NULL, st, CLEAVE_OK};
    cleave_status ret;

    st->msg[0] = '\0';
    if (device && (ret = cl_store_device_get(st, device, NULL, NULL)) != CLEAVE_OK)
        return ret;
    if ((ret = counter_names(st, device, &cx.names, &cx.nnames)) != CLEAVE_OK)
        return ret;
    qsort(cx.names, cx.nnames, sizeof *cx.names, cmp_str); /* SQLite's order is memcmp too */
    if ((ret = prepare(st, &cx.devname,
                       "SELECT d.name FROM runs r JOIN devices d ON d.id = "
                       "r.device_id WHERE r.id = ?")) != CLEAVE_OK)
        goto done;

    fputs("sample_id,device,run_id,seq,type,spec,static_json,load,load_cpu,load_membw,"
          "load_memcap",
          out);
    for (int f = 0; f < CLEAVE_LOAD_COUNT; f++)
        fprintf(out, ",%s", dyn_names[f]);
    fputs(",reps,warmup,median_us,min_us,p90_us,max_us,mean_us,mad_us,threads,created", out);
    for (size_t i = 0; i < cx.nnames; i++) {
        fputs(",ctr_", out);
        fputs(cx.names[i], out);
    }
    fputc('\n', out);

    ret = cl_store_samples_foreach(st, device, NULL, csv_row, &cx);
    if (ret == CLEAVE_OK)
        ret = cx.ret;
    if (ret == CLEAVE_OK && (fflush(out) != 0 || ferror(out))) {
        char why[128];
        os_reason(errno, why, sizeof why);
        ret = fail(st, CLEAVE_EIO, "cannot write the CSV export: %s", why);
    }
done:
    sqlite3_finalize(cx.devname);
    for (size_t i = 0; i < cx.nnames; i++)
        free(cx.names[i]);
    free(cx.names);
    return ret;
}

/* ---- totals ------------------------------------------------------------------------------- */

/* Find or append TYPE in I's type list. */
static cl_type_count *type_slot(cl_device_info *di, const char *type)
{
    for (size_t i = 0; i < di->ntypes; i++)
        if (strcmp(di->types[i].type, type) == 0)
            return &di->types[i];
    cl_type_count *nt = realloc(di->types, (di->ntypes + 1) * sizeof *nt);
    if (!nt)
        return NULL;
    di->types = nt;
    cl_type_count *t = &di->types[di->ntypes++];
    memset(t, 0, sizeof *t);
    snprintf(t->type, sizeof t->type, "%s", type);
    return t;
}

static int cmp_type(const void *a, const void *b)
{
    return strcmp(((const cl_type_count *)a)->type, ((const cl_type_count *)b)->type);
}

/* Run, sample and model counts of one device into *DI. */
static cleave_status device_totals(cl_store *st, cl_device_info *di)
{
    static const char *const sql[3] = {
        "SELECT status, count(*) FROM runs WHERE device_id = ? GROUP BY status",
        "SELECT s.type, count(*) FROM samples s JOIN runs r ON r.id = s.run_id "
        "WHERE r.device_id = ? GROUP BY s.type",
        "SELECT type, count(*), sum(selected) FROM models WHERE device_id = ? GROUP BY type",
    };
    cleave_status ret = CLEAVE_OK;
    for (int k = 0; k < 3 && ret == CLEAVE_OK; k++) {
        sqlite3_stmt *q = NULL;
        int rc;
        if ((ret = prepare(st, &q, sql[k])) != CLEAVE_OK)
            return ret;
        sqlite3_bind_int64(q, 1, di->id);
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            const char *name = (const char *)sqlite3_column_text(q, 0);
            int64_t n = sqlite3_column_int64(q, 1);
            if (k == 0) {
                int s = cl_run_status_from_name(name);
                if (s >= 0)
                    di->runs[s] += n;
                continue;
            }
            cl_type_count *t = type_slot(di, name ? name : "");
            if (!t) {
                ret = fail(st, CLEAVE_ENOMEM, "out of memory");
                break;
            }
            if (k == 1) {
                t->samples += n;
                di->samples += n;
            } else {
                t->models += n;
                di->models += n;
                di->models_selected += sqlite3_column_int64(q, 2);
            }
        }
        if (ret == CLEAVE_OK && rc != SQLITE_DONE)
            ret = db_error(st, rc);
        sqlite3_finalize(q);
    }
    if (ret == CLEAVE_OK && di->ntypes > 1)
        qsort(di->types, di->ntypes, sizeof *di->types, cmp_type);
    return ret;
}

static int64_t file_bytes(const char *path, const char *suffix)
{
    struct stat sb;
    char name[4096];
    if ((size_t)snprintf(name, sizeof name, "%s%s", path, suffix) >= sizeof name)
        return 0;
    return stat(name, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

cleave_status cl_store_info(cl_store *st, cl_info *out)
{
    cl_device *devs = NULL;
    int64_t *ids = NULL;
    size_t n = 0;
    cleave_status ret;

    st->msg[0] = '\0';
    memset(out, 0, sizeof *out);
    if ((ret = read_version(st, &out->schema_version)) != CLEAVE_OK)
        return ret;
    out->file_bytes = file_bytes(st->path, "");
    out->wal_bytes = file_bytes(st->path, "-wal");
    if ((ret = cl_store_device_list(st, &devs, &ids, &n)) != CLEAVE_OK)
        return ret;
    if (n && !(out->devices = calloc(n, sizeof *out->devices))) {
        ret = fail(st, CLEAVE_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        cl_device_info *di = &out->devices[out->ndevices++];
        di->id = ids[i];
        di->dev = devs[i];
        if ((ret = device_totals(st, di)) != CLEAVE_OK)
            goto done;
    }
done:
    free(devs);
    free(ids);
    if (ret != CLEAVE_OK)
        cl_info_release(out);
    return ret;
}

void cl_info_release(cl_info *info)
{
    if (!info)
        return;
    for (size_t i = 0; i < info->ndevices; i++)
        free(info->devices[i].types);
    free(info->devices);
    info->devices = NULL;
    info->ndevices = 0;
}
