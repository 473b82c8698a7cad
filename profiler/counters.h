/*
** profiler/counters.h - performance counters around the timed repetitions (libpfm4 perf events,
** /proc/self/task/N/schedstat and getrusage), degrading to "unavailable" where they cannot be had.
**
** The counters are for analysis, never predictors (DESIGN.md): they say *why* a sample was slow
** (it waited on a run queue, it was migrated, it missed the cache).  One set is opened per
** profiler process and started and stopped around every sample's timed repetitions.  A counter
** that cannot be measured here - no PMU in a VM, perf_event_paranoid, no schedstat - is reported
** with available = 0 and a reason, never as a count of 0.
*/
#ifndef CLEAVE_PROFILER_COUNTERS_H
#define CLEAVE_PROFILER_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include <cleave/cleave.h>

/* The counters, in the order of prof_counter_values.v[].  The names (prof_counter_values.v[i]
** .name) are lowercase with units, suitable as store column names:
**   cycles, instructions, llc_misses    hardware perf events (need a PMU)
**   task_clock_ns                       CPU time of our threads (perf software event)
**   page_faults, cpu_migrations, context_switches   perf software events
**   runq_wait_ns     time our threads spent runnable but waiting for a CPU
**                    (second field of /proc/self/task/N/schedstat, summed over threads)
**   nvcsw, nivcsw    voluntary / involuntary context switches of the whole process
**                    (getrusage(RUSAGE_SELF), which covers every thread) */
typedef enum prof_counter_id {
    PROF_CTR_CYCLES,
    PROF_CTR_INSTRUCTIONS,
    PROF_CTR_LLC_MISSES,
    PROF_CTR_TASK_CLOCK_NS,
    PROF_CTR_PAGE_FAULTS,
    PROF_CTR_CPU_MIGRATIONS,
    PROF_CTR_CONTEXT_SWITCHES,
    PROF_CTR_RUNQ_WAIT_NS,
    PROF_CTR_NVCSW,
    PROF_CTR_NIVCSW,
    PROF_CTR_COUNT
} prof_counter_id;

/* Number of counters that are perf events (the first ones, cycles .. context_switches). */
#define PROF_CTR_PERF_COUNT 7

/* prof_counters_open() flags. */
#define PROF_COUNTERS_NO_PERF 0x1u   /* open no perf event: only /proc and getrusage counters */
#define PROF_COUNTERS_USER_ONLY 0x2u /* count user level only (libpfm4 PFM_PLM3) */

typedef struct prof_counter_value {
    const char *name;     /* static string, e.g. "task_clock_ns" */
    int available;        /* 1: VALUE was measured; 0: it could not be, see WHY */
    uint64_t value;       /* the count over the window; multiplexed perf events are scaled by
                          ** time_enabled / time_running; 0 whenever AVAILABLE is 0 */
    double running_share; /* time_running / time_enabled summed over threads (1 when a perf
                          ** event was never multiplexed, and for /proc counters); 0 if
                          ** unavailable */
    const char *why;      /* NULL when available; otherwise a reason owned by the counter set
                          ** (valid until prof_counters_close), e.g. "no PMU: ENOENT" */
} prof_counter_value;

typedef struct prof_counter_values {
    prof_counter_value v[PROF_CTR_COUNT];
} prof_counter_values;

typedef struct prof_counters prof_counters;

/* Open the counter set of this process.  Calls pfm_initialize() (once per process), encodes each
** perf event with libpfm4 and opens it for every thread currently in /proc/self/task (per-thread
** events, summed: see counters.c for why not inherit).  Events that cannot be encoded or opened
** are recorded as unavailable with the reason; that is not an error, nor is a failing
** pfm_initialize().  FLAGS is 0 or a combination of PROF_COUNTERS_*.
** On success *OUT owns the set (close with prof_counters_close); on failure *OUT is NULL, ERR
** holds a message and the status is CLEAVE_EINVAL (unknown flags) or CLEAVE_ENOMEM. */
cleave_status prof_counters_open(prof_counters **out, unsigned flags, char *err, size_t errlen);

/* Close every descriptor and free C; NULL is a harmless no-op. */
void prof_counters_close(prof_counters *c);

/* Start counting.  Re-scans /proc/self/task first: threads that appeared since the last start
** (an OpenMP pool that grew) get their events opened, threads that are gone have theirs closed;
** events are not reopened otherwise.  Threads created after this call are not counted, so warm
** up (let the OpenMP pool exist) before starting.  Returns CLEAVE_OK, or CLEAVE_EINVAL if C is
** already started, or CLEAVE_ENOMEM (the set stays usable, not started). */
cleave_status prof_counters_start(prof_counters *c);

/* Stop counting and store the counts since prof_counters_start() in *OUT.  Returns CLEAVE_OK or
** CLEAVE_EINVAL if C was not started.  Counts of a thread that exited inside the window are kept
** for perf events and getrusage, lost for runq_wait_ns. */
cleave_status prof_counters_stop(prof_counters *c, prof_counter_values *out);

/* Describe, one line per counter, what is measured and why not, e.g.
**   "cycles: unavailable (no PMU: ENOENT)\n"
**   "task_clock_ns: available (perf::PERF_COUNT_SW_TASK_CLOCK, user+kernel)\n"
** into BUF of N bytes (always NUL-terminated when N > 0).  Returns the length the whole text
** needs, excluding the NUL (as snprintf does), so a result >= N means it was truncated. */
size_t prof_counters_describe(const prof_counters *c, char *buf, size_t n);

/* The static name of counter ID ("cycles"), or "unknown". */
const char *prof_counter_name(prof_counter_id id);

/* Whether a hardware cycles event can be opened on the calling thread (user level), i.e.
** whether this machine has a usable PMU.  For `cleave info`; cheap after the first call. */
int prof_pmu_usable(void);

#endif /* CLEAVE_PROFILER_COUNTERS_H */
