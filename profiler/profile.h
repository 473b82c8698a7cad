/*
** profiler/profile.h - a profiling run: every sweep shape under every load setting, timed,
** with dynamic features and counters, stored in batches so that a crash loses at most one
** batch and --resume continues where the run stopped.
*/
#ifndef CLEAVE_PROFILER_PROFILE_H
#define CLEAVE_PROFILER_PROFILE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <cleave/cleave.h>

#include "profiler/loadgen.h"

typedef struct prof_run_config {
    const char *device;       /* --device NAME (required) */
    const char *db_path;      /* the store */
    const char *sweep_path;   /* NULL: the compiled-in default sweep */
    const char *types;        /* comma-separated type filter, NULL = all */
    const char *const *loads; /* --load specs (NULL/0: PROF_LOAD_DEFAULT_SPECS) */
    size_t nloads;
    int threads;     /* backend threads */
    uint64_t seed;   /* random sweep lines and the plan order */
    double budget_s; /* stop after this much wall time (0: no limit) */
    int window_ms;   /* dynamic-feature window before each sample */
    unsigned probes; /* CL_LOADSNAP_PROBE_* bits */
    int warmup, min_reps, max_reps;
    double target_rel;  /* precision target of the median */
    double sample_ms;   /* timed repetitions of one sample last at least this long (and at
                        ** most 3x, to reach the precision target) */
    int batch;          /* samples per committed batch */
    uint64_t max_bytes; /* sweep cap on a layer's buffers */
    double max_macs;    /* sweep cap on a layer's MACs */
    int resume;         /* continue the device's unfinished run */
} prof_run_config;

/* Defaults: threads = online CPUs, seed 1, window 40 ms, CPU probe on, warm-up 5,
** 5..100000 reps, 1 % precision, 150 ms per sample, batches of 32, 2 GMACs, a quarter of
** MemAvailable. */
void prof_run_config_default(prof_run_config *c);

/* What the loop reports to its caller (the CLI draws the progress bar from it). */
typedef struct prof_progress {
    int64_t done;         /* samples stored in this run, including resumed ones */
    int64_t total;        /* samples planned */
    int64_t this_session; /* samples measured by this invocation */
    double elapsed_s;     /* wall time of this invocation */
    const char *layer;    /* canonical text of the layer being measured */
    const char *load;     /* its load setting */
    int64_t run_id;
} prof_progress;

typedef void (*prof_progress_fn)(const prof_progress *p, void *arg);

/* Where the time of a run went. */
typedef struct prof_run_summary {
    int64_t run_id;
    int64_t planned, stored, measured, skipped_resume, rejected_shapes;
    int64_t failed_samples;   /* layers the backend refused or that failed to run */
    char first_failure[1536]; /* the first such failure's message */
    double wall_s;            /* of this invocation */
    double kernel_s;          /* inside the timed repetitions */
    double warmup_s, window_s, prepare_s, store_s, loadgen_s;
    int finished;    /* every planned sample is stored */
    int interrupted; /* STOP was raised */
    int budget_hit;  /* the budget ran out */
} prof_run_summary;

/* Run (or, with CFG->resume, continue) a profiling run.  STOP is polled between samples (a
** signal handler sets it); PROGRESS (may be NULL) is called after every sample.  On return the
** load generator is stopped, the batch in flight committed and the run's status set:
** 'done' when every planned sample is stored, 'interrupted' on STOP or the budget, 'failed' on
** an error.  Errors: CLEAVE_EINVAL (bad configuration, device identity conflict, nothing to
** resume), CLEAVE_EPARSE (sweep or load spec), CLEAVE_EDB / CLEAVE_EIO (store), others from the
** load generator; the message names the thing. */
/* Check CFG's sweep, type filter and load levels without touching any store: the same parsing
** prof_run() does first.  Errors as prof_run(). */
cleave_status prof_run_check(const prof_run_config *cfg, char *err, size_t errlen);

cleave_status prof_run(const prof_run_config *cfg, prof_progress_fn progress, void *arg,
                       volatile sig_atomic_t *stop, prof_run_summary *out, char *err,
                       size_t errlen);

#endif /* CLEAVE_PROFILER_PROFILE_H */
