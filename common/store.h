/*
** common/store.h - the SQLite store: devices, profiling runs, samples, counters and models in one
** file, the place where every stage of cleave meets (DESIGN.md "The store").
**
** Internal API (prefix cl_).  Every function that can fail returns a cleave_status and leaves a
** message on the handle, retrievable with cl_store_errmsg() until the next call on that handle.
** A handle is used by one thread at a time.
*/
#ifndef CLEAVE_COMMON_STORE_H
#define CLEAVE_COMMON_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cleave/load.h>
#include <cleave/status.h>

typedef struct cl_store cl_store;

/* The schema version this code writes; a store with a newer PRAGMA user_version is refused. */
#define CL_STORE_SCHEMA_VERSION 3
/* How long a write waits for another writer before it fails (ms). */
#define CL_STORE_BUSY_MS_DEFAULT 5000

/* Flags of cl_store_open(). */
enum {
    CL_STORE_READONLY = 1, /* never write; the file must exist */
    CL_STORE_CREATE = 2    /* create the file if it does not exist */
};

/* Open the store at PATH.  FLAGS is 0 (read-write, the file must exist), CL_STORE_CREATE, or
** CL_STORE_READONLY.  A writable open switches the file to WAL mode and applies every pending
** migration, each in its own transaction.  On success *OUT owns a new handle (close it with
** cl_store_close()); on failure *OUT is NULL and ERR (ERRLEN bytes, may be NULL) says why:
**   no store at 'PATH'                                   (CLEAVE_EIO; without CL_STORE_CREATE)
**   cannot open 'PATH': <os reason>                      (CLEAVE_EIO)
**   'PATH' is not a cleave store                         (CLEAVE_EDB)
**   'PATH' has schema version N, newer than this cleave (M)   (CLEAVE_EDB; nothing written)
**   'PATH' is locked by another writer (...)             (CLEAVE_EDB; the busy timeout expired) */
cleave_status cl_store_open(cl_store **out, const char *path, int flags, char *err, size_t errlen);

/* Close ST, rolling back an open batch.  NULL is a harmless no-op. */
void cl_store_close(cl_store *st);

/* The message of the last failed call on ST ("" after a success); owned by ST, valid until the
** next call.  NULL ST gives "". */
const char *cl_store_errmsg(const cl_store *st);

/* The path ST was opened with; owned by ST. */
const char *cl_store_path(const cl_store *st);

/* Set how long writes wait for another writer before failing with a "locked" error. */
cleave_status cl_store_set_busy_timeout(cl_store *st, int ms);

/* The store's PRAGMA user_version into *VERSION. */
cleave_status cl_store_schema_version(cl_store *st, int *version);

/* Run PRAGMA integrity_check and foreign_key_check: CLEAVE_OK, or CLEAVE_EDB with the first
** problem reported in the message. */
cleave_status cl_store_check(cl_store *st);

/* Test hook: create a new store at PATH (which must not exist or be empty) holding only the
** first VERSION migrations (1 <= VERSION <= CL_STORE_SCHEMA_VERSION), as an older cleave would
** have written it, and close it.  Opening it later with cl_store_open() migrates it. */
cleave_status cl_store_create_at_version(const char *path, int version, char *err, size_t errlen);

/* Fault injection for tests: limit the file to MAX_PAGES pages on this connection, so that a
** write past it fails as if the disk were full (PRAGMA max_page_count). */
cleave_status cl_store_set_max_pages(cl_store *st, int64_t max_pages);

/* ---- devices ------------------------------------------------------------------------------ */

/* A device's identity.  Threads, binding and CPU model decide whether two calibrations under
** one name describe the same device. */
typedef struct cl_device {
    char name[64];            /* the user's --device name, unique in a store */
    char host[128];           /* hostname at calibration */
    char cpu_model[128];      /* /proc/cpuinfo "model name" */
    int cores;                /* online logical CPUs */
    char backend[32];         /* execution backend, e.g. "onednn" */
    char backend_version[32]; /* e.g. "2.6.3" */
    int threads;              /* threads the backend runs layers with */
    char binding[64];         /* thread binding, e.g. "OMP_PROC_BIND=true"; "" = none */
    char isa[64];             /* instruction set the backend dispatches to, e.g. "avx2" */
    char created[32];         /* ISO 8601 UTC; set by the store, ignored on insert */
} cl_device;

/* Insert device D, or find the existing one of that name; its id into *ID.  An existing device
** with other threads, binding or CPU model is refused with CLEAVE_EINVAL:
**   device 'NAME' was calibrated with threads=2 binding=X, not threads=1 binding=Y; use another
**   --device name
** (or "... was calibrated on 'CPU A', not 'CPU B'; ..." for the CPU model). */
cleave_status cl_store_device_ensure(cl_store *st, const cl_device *d, int64_t *id);

/* The device called NAME into *OUT and its id into *ID (either may be NULL); CLEAVE_EINVAL with
** "no device 'NAME' in 'PATH'" if there is none. */
cleave_status cl_store_device_get(cl_store *st, const char *name, cl_device *out, int64_t *id);

/* Every device, ordered by name: *OUT is a malloc'ed array of *N entries (NULL if none) that the
** caller frees with free(); IDS likewise if not NULL. */
cleave_status cl_store_device_list(cl_store *st, cl_device **out, int64_t **ids, size_t *n);

/* ---- runs --------------------------------------------------------------------------------- */

typedef enum cl_run_status {
    CL_RUN_RUNNING = 0,
    CL_RUN_DONE = 1,
    CL_RUN_INTERRUPTED = 2,
    CL_RUN_FAILED = 3,
    CL_RUN_NSTATUS = 4
} cl_run_status;

/* "running", "done", "interrupted", "failed"; NULL for another value.  The inverse returns -1
** for an unknown name. */
const char *cl_run_status_name(cl_run_status s);
int cl_run_status_from_name(const char *name);

/* A profiling run as stored.  CONFIG is malloc'ed and owned by the struct: cl_run_release(). */
typedef struct cl_run {
    int64_t id, device_id;
    char uid[40];     /* random identity, kept across merges */
    char *config;     /* the profile command's normalised configuration (JSON) */
    uint64_t seed;    /* seed of the run's randomised plan */
    int64_t planned;  /* samples planned */
    char started[32]; /* ISO 8601 UTC */
    char ended[32];   /* "" while running */
    cl_run_status status;
    int64_t nsamples; /* samples stored */
    int64_t max_seq;  /* largest seq stored, -1 if none */
} cl_run;

void cl_run_release(cl_run *r);

/* Start a run of device DEVICE_ID with status 'running'; its id into *RUN_ID. */
cleave_status cl_store_run_begin(cl_store *st, int64_t device_id, const char *config_json,
                                 uint64_t seed, int64_t planned, int64_t *run_id);

/* Set the final status of run RUN_ID (done, interrupted or failed) and its end time. */
cleave_status cl_store_run_end(cl_store *st, int64_t run_id, cl_run_status status);

/* Mark run RUN_ID running again (for --resume): status 'running', no end time. */
cleave_status cl_store_run_resume(cl_store *st, int64_t run_id);

/* Run RUN_ID into *OUT (release it with cl_run_release()); CLEAVE_EINVAL if there is none. */
cleave_status cl_store_run_get(cl_store *st, int64_t run_id, cl_run *out);

/* The latest run of DEVICE_ID that did not finish ('running' after a crash, or 'interrupted')
** into *OUT, and *FOUND = 1; *FOUND = 0 (and *OUT zeroed) if there is none. */
cleave_status cl_store_run_find_unfinished(cl_store *st, int64_t device_id, cl_run *out,
                                           int *found);

/* Mark DONE[seq] = 1 for every sample of run RUN_ID with 0 <= seq < PLANNED (DONE has PLANNED
** bytes, cleared here); the number of stored samples into *NDONE (may be NULL). */
cleave_status cl_store_run_done_seqs(cl_store *st, int64_t run_id, unsigned char *done,
                                     int64_t planned, int64_t *ndone);

/* ---- samples ------------------------------------------------------------------------------ */

#define CL_SAMPLE_MAX_COUNTERS 16
#define CL_SPEC_MAX 512         /* bytes of a canonical layer text, with the NUL */
#define CL_STATIC_JSON_MAX 2048 /* bytes of the static features object, with the NUL */

/* A counter measured during the timed repetitions.  AVAILABLE = 0 means the event could not be
** opened: it is stored as NULL, never as 0 (a NaN VALUE is treated the same way). */
typedef struct cl_counter {
    char name[48];
    double value;
    int available;
} cl_counter;

/* One timed layer under one load.  Strings are NUL-terminated within their arrays.  ID, RUN_ID
** and CREATED are set when a sample is read back and ignored when it is written. */
typedef struct cl_sample {
    int64_t id, run_id;
    int64_t seq;                              /* position in the run's plan, unique in the run */
    char type[16];                            /* layer type name, e.g. "conv" */
    char spec[CL_SPEC_MAX];                   /* canonical layer text (cleave_layer_format) */
    char static_json[CL_STATIC_JSON_MAX];     /* static features as a JSON object (for export) */
    char load[96];                            /* load setting, e.g. "cpu=50,membw=1,memcap=0" */
    double load_cpu, load_membw, load_memcap; /* generator levels */
    double dyn[CLEAVE_LOAD_COUNT];            /* dynamic features; NaN = not observed (NULL) */
    int64_t reps, warmup;                     /* timed repetitions, warm-up executions */
    double median_us, min_us, p90_us, max_us, mean_us;
    double mad_us;    /* median absolute deviation */
    int threads;      /* threads the layer ran with */
    char created[32]; /* ISO 8601 UTC */
    int ncounters;
    cl_counter counters[CL_SAMPLE_MAX_COUNTERS];
} cl_sample;

/* Open a batch: one write transaction that the following cl_store_sample_add() calls fill.
** Taking the write lock here means a busy store fails now, before anything is measured. */
cleave_status cl_store_batch_begin(cl_store *st);

/* Add sample S of run RUN_ID to the open batch (CLEAVE_EINVAL outside a batch).  A seq already
** stored for the run is refused with CLEAVE_EINVAL ("run N already has a sample at seq S") and
** the batch stays open and intact.  A full disk (CLEAVE_EIO, "disk full while writing 'PATH'")
** or another I/O error rolls back the open batch and only it. */
cleave_status cl_store_sample_add(cl_store *st, int64_t run_id, const cl_sample *s);

/* Commit the open batch.  On failure the batch is rolled back (committed batches stay). */
cleave_status cl_store_batch_commit(cl_store *st);

/* Roll back the open batch, if any. */
cleave_status cl_store_batch_rollback(cl_store *st);

/* Called for each sample read; return non-zero to stop early (not an error). */
typedef int (*cl_sample_fn)(const cl_sample *s, void *arg);

/* Call FN on every sample of device DEVICE (NULL = all devices), of layer type TYPE (NULL = all
** types), in (run, seq) order, with its counters.  An unknown device is CLEAVE_EINVAL. */
cleave_status cl_store_samples_foreach(cl_store *st, const char *device, const char *type,
                                       cl_sample_fn fn, void *arg);

/* ---- models ------------------------------------------------------------------------------- */

/* A fitted model (written by the fitter).  BLOB, FEATURES and DETAIL are borrowed on insert; on
** read they point into the store's memory, valid during the callback only. */
typedef struct cl_model {
    int64_t id, device_id;
    char type[16];        /* layer type */
    char family[32];      /* regression family, e.g. "poly2" */
    char feature_set[16]; /* "static" or "dynamic" (static + dynamic) */
    const char *features; /* feature names, a JSON array */
    const void *blob;     /* the serialised model */
    size_t blob_bytes;
    double cv_r2, cv_rmse, cv_mape, cv_within10; /* k-fold held-out metrics; NaN = not computed */
    double lolo_r2, lolo_rmse, lolo_mape, lolo_within10; /* leave-one-load-level-out; NaN = none */
    const char *detail; /* JSON: hyper-parameters, folds, seed, rows used/excluded; NULL = "{}" */
    int64_t n_samples;
    int selected; /* the family chosen for this type and feature set */
    char created[32];
    char target[8]; /* statistic predicted: "mean", "median" or "p90"; "" = "median" */
} cl_model;

/* Insert model M; its id into *ID (may be NULL). */
cleave_status cl_store_model_add(cl_store *st, const cl_model *m, int64_t *id);

typedef int (*cl_model_fn)(const cl_model *m, void *arg);

/* Call FN on every model of device DEVICE_ID (of TYPE, if not NULL), ordered by id. */
cleave_status cl_store_models_foreach(cl_store *st, int64_t device_id, const char *type,
                                      cl_model_fn fn, void *arg);

/* Delete every model of device DEVICE_ID with its predictions, and the device's fit skips.
** Meant inside cl_store_tx_begin()/commit(), so that a refit replaces the models atomically. */
cleave_status cl_store_models_clear(cl_store *st, int64_t device_id);

/* A held-out prediction of a model for one sample: FOLD is the k-fold fold the sample was held
** out in (-1 = none), CV_US the prediction of the model trained without that fold, LOLO_US the
** prediction of the model trained without the sample's load level (NaN = not computed). */
typedef struct cl_prediction {
    int64_t sample_id;
    int fold;
    double cv_us, lolo_us;
} cl_prediction;

/* Store the N predictions P of model MODEL_ID (one per sample; a sample given twice, an unknown
** model or sample is CLEAVE_EINVAL).  Use it inside a transaction for speed. */
cleave_status cl_store_predictions_add(cl_store *st, int64_t model_id, const cl_prediction *p,
                                       size_t n);

/* Called with each prediction and its sample (without counters: S->ncounters = 0); both are
** valid during the call only.  Return non-zero to stop early (not an error). */
typedef int (*cl_prediction_fn)(const cl_prediction *p, const cl_sample *s, void *arg);

/* Call FN on each prediction of model MODEL_ID with its sample (median_us, load, spec, type...),
** in sample order (run, seq).  A model without predictions calls FN never. */
cleave_status cl_store_predictions_foreach(cl_store *st, int64_t model_id, cl_prediction_fn fn,
                                           void *arg);

/* Record that FAMILY could not be fitted on layer type TYPE with FEATURE_SET for device
** DEVICE_ID, and why (REASON, e.g. "8 rows for 12 parameters"). */
cleave_status cl_store_fit_skip_add(cl_store *st, int64_t device_id, const char *type,
                                    const char *family, const char *feature_set,
                                    const char *reason);

typedef int (*cl_fit_skip_fn)(const char *type, const char *family, const char *feature_set,
                              const char *reason, void *arg);

/* Call FN on every fit skip of device DEVICE_ID, in the order they were added; the strings are
** valid during the call only.  Return non-zero to stop early. */
cleave_status cl_store_fit_skips_foreach(cl_store *st, int64_t device_id, cl_fit_skip_fn fn,
                                         void *arg);

/* ---- transactions ------------------------------------------------------------------------- */

/* A write transaction around several calls (a whole fit: clear, models, predictions, skips), so
** that readers see all of it or none of it.  Begin takes the write lock at once (a busy store
** fails here, after the busy timeout).  It shares its state with the sample batch: while one is
** open the other cannot begin, and cl_store_sample_add() may be used inside either.  Commit
** failing rolls the transaction back; rollback is harmless without an open transaction.  A full
** disk during a write inside the transaction rolls it back too (the caller still calls
** rollback, a no-op then). */
cleave_status cl_store_tx_begin(cl_store *st);
cleave_status cl_store_tx_commit(cl_store *st);
cleave_status cl_store_tx_rollback(cl_store *st);

/* ---- whole-store operations --------------------------------------------------------------- */

/* What a merge added. */
typedef struct cl_merge_counts {
    int64_t devices, runs, samples, counters, models, predictions, fit_skips;
} cl_merge_counts;

/* Copy the devices, runs, samples, counters, models, their predictions and the fit skips of the
** store at OTHER_PATH into ST, in one transaction, remapping ids.  A device present in both with
** different threads, binding or CPU model is refused (CLEAVE_EINVAL, naming it) and nothing is
** copied.  Runs and models are identified by their uid, samples by (run, seq), predictions by
** (model, sample) and fit skips by all their fields, so merging a file twice copies nothing the
** second time (and copies only what is new if the other store has grown).  COUNTS (may be NULL)
** receives what was added; ERR (may be NULL) receives the message as well as the handle. */
cleave_status cl_store_merge(cl_store *st, const char *other_path, cl_merge_counts *counts,
                             char *err, size_t errlen);

/* Write every sample of device DEVICE (NULL = all) as CSV to OUT: a header line, then one row per
** sample with all its columns, the d_ columns and one column per counter name ("ctr_NAME");
** NULL is an empty field. */
cleave_status cl_store_export_csv(cl_store *st, FILE *out, const char *device);

/* One layer type's totals for a device. */
typedef struct cl_type_count {
    char type[16];
    int64_t samples;
    int64_t models;
} cl_type_count;

/* One device's totals. */
typedef struct cl_device_info {
    int64_t id;
    cl_device dev;
    int64_t runs[CL_RUN_NSTATUS]; /* indexed by cl_run_status */
    int64_t samples;
    int64_t models, models_selected;
    size_t ntypes;
    cl_type_count *types; /* ordered by type name */
} cl_device_info;

typedef struct cl_info {
    int schema_version;
    int64_t file_bytes, wal_bytes;
    size_t ndevices;
    cl_device_info *devices; /* ordered by name */
} cl_info;

/* Fill *OUT with the store's totals per device; release it with cl_info_release(). */
cleave_status cl_store_info(cl_store *st, cl_info *out);
void cl_info_release(cl_info *info);

#endif /* CLEAVE_COMMON_STORE_H */
