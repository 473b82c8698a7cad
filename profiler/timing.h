/*
** profiler/timing.h - the timing loop: warm-up, then repetitions until a precision target,
** a repetition count or a time cap, and robust statistics over the repetitions.
*/
#ifndef CLEAVE_PROFILER_TIMING_H
#define CLEAVE_PROFILER_TIMING_H

#include <stddef.h>
#include <stdint.h>

#include <cleave/cleave.h>

#include "profiler/backend.h"

typedef struct prof_timing_opts {
    int warmup;           /* untimed executions first (DESIGN.md: at least 5) */
    int min_reps;         /* timed executions at least */
    int max_reps;         /* and at most */
    double target_rel;    /* stop early once the median's relative standard error is below this
                          ** (0 = always run max_reps) */
    uint64_t min_time_ns; /* keep going until the timed executions took this long */
    uint64_t time_cap_ns; /* stop once the timed executions took this long (0 = no cap) */
} prof_timing_opts;

typedef struct prof_timing {
    int reps; /* timed executions done */
    double median_us, min_us, p90_us, max_us, mean_us;
    double mad_us;     /* median absolute deviation */
    double rel_se;     /* 1.4826 * MAD / sqrt(reps) / median */
    uint64_t total_ns; /* sum of the timed executions */
} prof_timing;

/* Monotonic clock in nanoseconds. */
uint64_t prof_now_ns(void);

/* Time K: OPTS->warmup untimed runs, then timed runs until at least min_reps runs and
** min_time_ns have passed and the median's relative standard error is at most target_rel, or
** until max_reps runs or time_cap_ns, whichever comes first.  SCRATCH holds at least
** OPTS->max_reps doubles (the per-repetition times; the caller allocates it once, so the loop
** itself never allocates); with a precision target it holds 2 * max_reps.  Returns the first
** failing status of a run, else CLEAVE_OK. */
cleave_status prof_time_kernel(prof_kernel *k, const prof_timing_opts *opts, double *scratch,
                               prof_timing *out);

/* Statistics of N samples in US (reordered in place). */
void prof_timing_stats(double *us, int n, prof_timing *out);

#endif /* CLEAVE_PROFILER_TIMING_H */
