/*
** common/loadsnap.h - the dynamic load features of include/cleave/load.h, sampled from /proc
** over a short window; one implementation for the profiler and the predictor alike.
**
** A window is two readings of the same sources (begin, end), optionally with readings in
** between ("ticks") so that the runnable-task count is averaged over the window:
**
**   /proc/stat              aggregate "cpu" jiffies and procs_running
**   /proc/self/stat         utime + stime of our whole process (every thread, live or dead)
**   /proc/self/task/N/stat  how many of our threads are running (state R)
**   /proc/pressure/{cpu,memory}  "some ... total=" stall time in microseconds (absent: NaN)
**   CLOCK_MONOTONIC         the window length
**   /proc/meminfo           MemTotal, MemFree, MemAvailable, read once at the end
**
** Every parser takes the file's text as a string, so tests can feed fixed /proc contents; the
** readers open the files (under a configurable root, "/proc" by default) and call the parsers.
** Nothing here prints; errors are statuses with a message in ERR.
*/
#ifndef CLEAVE_COMMON_LOADSNAP_H
#define CLEAVE_COMMON_LOADSNAP_H

#include <stddef.h>
#include <stdint.h>

#include <cleave/cleave.h>

/* The aggregate "cpu" line of /proc/stat in USER_HZ jiffies.  guest and guest_nice are already
** counted inside user and nice, so they are not kept (adding them would count them twice). */
typedef struct cl_cpu_jiffies {
    unsigned long long user, nice, system, idle, iowait, irq, softirq, steal;
} cl_cpu_jiffies;

/* What we take from /proc/stat. */
typedef struct cl_proc_stat {
    cl_cpu_jiffies cpu;
    long procs_running; /* tasks running or runnable now, ours included */
} cl_proc_stat;

/* What we take from /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat (proc(5) fields 3, 14, 15,
** 20 and 24). */
typedef struct cl_pid_stat {
    char state;                      /* R, S, D, Z, ... */
    unsigned long long utime, stime; /* USER_HZ jiffies */
    long num_threads;
    long rss_pages;
} cl_pid_stat;

/* What we take from /proc/meminfo, in KiB; avail_kib is 0 when the kernel lacks MemAvailable. */
typedef struct cl_meminfo {
    unsigned long long total_kib, free_kib, avail_kib;
} cl_meminfo;

/* One reading of every source except /proc/meminfo. */
typedef struct cl_loadsnap_reading {
    cl_proc_stat stat;
    unsigned long long self_jiffies; /* utime + stime of our process */
    long self_running;               /* our threads in state R */
    double psi_cpu_us;               /* "some" total=, microseconds; NaN without PSI */
    double psi_mem_us;
    int64_t mono_ns; /* CLOCK_MONOTONIC */
} cl_loadsnap_reading;

/* The micro-probe state: a 32 MiB buffer allocated once by cl_loadsnap_probe_create(). */
typedef struct cl_loadsnap_probe cl_loadsnap_probe;

enum {
    CL_LOADSNAP_PROBE_CPU = 1, /* time a fixed dependent arithmetic loop (~0.2 ms idle) */
    CL_LOADSNAP_PROBE_MEM = 2  /* time a read stream over the probe's 32 MiB buffer */
};

/* Options of a window; a NULL pointer means all defaults. */
typedef struct cl_loadsnap_opts {
    const char *proc_root;    /* NULL: "/proc"; tests point it at a fake tree */
    unsigned probes;          /* CL_LOADSNAP_PROBE_* bits; 0: both probe features NaN */
    cl_loadsnap_probe *probe; /* required for CL_LOADSNAP_PROBE_MEM */
    int tick_ms;              /* cl_loadsnap_sample(): reading interval, 0: 10 ms */
} cl_loadsnap_opts;

/* A window between cl_loadsnap_begin() and cl_loadsnap_end(); plain data, nothing to free. */
typedef struct cl_loadsnap_window {
    cl_loadsnap_reading begin;
    char proc_root[128];
    double runnable_sum; /* sum over readings of max(0, procs_running - self_running) */
    int readings;
} cl_loadsnap_window;

/* --- parsers (text in, numbers out) ------------------------------------------------------ */

/* Parse /proc/stat TEXT: the aggregate "cpu" line and "procs_running".  CLEAVE_EPARSE naming
** the missing or malformed line. */
cleave_status cl_parse_proc_stat(const char *text, cl_proc_stat *out, char *err, size_t errlen);

/* Parse the one-line TEXT of /proc/<pid>/stat (or .../task/<tid>/stat).  The command name (field
** 2) may hold spaces and parentheses, so fields are counted from the last ')'. */
cleave_status cl_parse_pid_stat(const char *text, cl_pid_stat *out, char *err, size_t errlen);

/* Parse a /proc/pressure/ file: the "total=" of its "some" line, in microseconds. */
cleave_status cl_parse_psi(const char *text, double *some_total_us, char *err, size_t errlen);

/* Parse /proc/meminfo TEXT (MemTotal and MemFree required, MemAvailable optional). */
cleave_status cl_parse_meminfo(const char *text, cl_meminfo *out, char *err, size_t errlen);

/* --- readers ------------------------------------------------------------------------------ */

/* Read the whole file PATH into a NUL-terminated heap string *OUT (caller frees).  Errors:
** CLEAVE_EIO "cannot read '/proc/stat': <strerror>", CLEAVE_ENOMEM. */
cleave_status cl_read_text(const char *path, char **out, char *err, size_t errlen);

/* Read /proc/meminfo under PROC_ROOT (NULL: "/proc"). */
cleave_status cl_read_meminfo(const char *proc_root, cl_meminfo *out, char *err, size_t errlen);

/* Read /proc/<PID>/stat under PROC_ROOT (NULL: "/proc"); PID 0 means "self". */
cleave_status cl_read_pid_stat(const char *proc_root, int pid, cl_pid_stat *out, char *err,
                               size_t errlen);

/* Take one reading of every source (see cl_loadsnap_reading) under PROC_ROOT. */
cleave_status cl_loadsnap_read(const char *proc_root, cl_loadsnap_reading *out, char *err,
                               size_t errlen);

/* --- features -------------------------------------------------------------------------------- */

/* The features of load.h from the readings B (begin) and E (end), the mean RUNNABLE_AVG of the
** per-reading runnable-other counts, and the memory MEM read at the end.  Pure arithmetic:
**   all      = delta of user+nice+system+idle+iowait+irq+softirq+steal
**   cpu_util = (all - idle - iowait) / all          sys_cpu = (system+irq+softirq) / all
**   other_cpu = clamp((all - idle - iowait - our utime+stime delta) / all, 0, 1)
**   psi_x    = clamp(total delta us / window us, 0, 1), NaN when either reading lacks PSI
**   mem_free_mib = MemFree / 1024, mem_used = 1 - MemFree/MemTotal,
**   mem_avail = MemAvailable/MemTotal (NaN without MemAvailable)
** CPU shares are NaN when no jiffy elapsed (a window far below 10 ms).  Probe features are set
** to NaN here. */
void cl_loadsnap_compute(const cl_loadsnap_reading *b, const cl_loadsnap_reading *e,
                         double runnable_avg, const cl_meminfo *mem, cleave_load *out);

/* --- the sampler --------------------------------------------------------------------------- */

/* Start window W: take the begin reading. */
cleave_status cl_loadsnap_begin(cl_loadsnap_window *w, const cl_loadsnap_opts *o, char *err,
                                size_t errlen);

/* An extra reading inside the window; it only feeds the runnable_other average. */
cleave_status cl_loadsnap_tick(cl_loadsnap_window *w, char *err, size_t errlen);

/* Close window W: take the end reading and /proc/meminfo, compute the features into *OUT, then
** run the probes O asks for (after the window, so they do not count as load).  Errors as the
** readers; CLEAVE_EINVAL if a memory probe is asked for without a probe state. */
cleave_status cl_loadsnap_end(cl_loadsnap_window *w, const cl_loadsnap_opts *o, cleave_load *out,
                              char *err, size_t errlen);

/* begin, sleep WINDOW_MS (taking a reading every O->tick_ms), end.  WINDOW_MS in [1, 60000].
** Jiffies are 10 ms at USER_HZ = 100, so a 50 ms window on N CPUs sees about 5 N jiffies: the
** CPU shares are quantised to about 1/(5 N). */
cleave_status cl_loadsnap_sample(int window_ms, const cl_loadsnap_opts *o, cleave_load *out,
                                 char *err, size_t errlen);

/* --- micro-probes -------------------------------------------------------------------------- */

/* Allocate and touch the probe's 32 MiB buffer.  *OUT is NULL on failure. */
cleave_status cl_loadsnap_probe_create(cl_loadsnap_probe **out, char *err, size_t errlen);
void cl_loadsnap_probe_destroy(cl_loadsnap_probe *p); /* NULL is a harmless no-op */

/* Wall time in ns of the fixed compute loop, and of one read pass over P's buffer. */
double cl_loadsnap_probe_cpu_ns(void);
double cl_loadsnap_probe_mem_ns(cl_loadsnap_probe *p);

#endif /* CLEAVE_COMMON_LOADSNAP_H */
