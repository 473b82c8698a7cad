/*
** cleave/load.h - dynamic load features: what a planner can observe of a device's load before
** a layer runs.  The profiler records them beside every sample; the predictor takes them as
** input.  Both compute them with the same code (common/loadsnap.c).
*/
#ifndef CLEAVE_LOAD_H
#define CLEAVE_LOAD_H

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(enum suffix, name, unit, source).  Values are stable; a feature that could not be observed
** (no PSI in this kernel, probe disabled) is NaN. */
#define CLEAVE_LOAD_FEATURE_MAP(X)                                                                 \
    X(SYS_CPU, "sys_cpu", "share", "/proc/stat: (system+irq+softirq) / all jiffies")               \
    X(CPU_UTIL, "cpu_util", "share", "/proc/stat: non-idle (not idle, not iowait) / all")          \
    X(MEM_FREE, "mem_free_mib", "MiB", "/proc/meminfo: MemFree")                                   \
    X(MEM_USED, "mem_used", "share", "/proc/meminfo: 1 - MemFree / MemTotal")                      \
    X(OTHER_CPU, "other_cpu", "share", "/proc/stat busy minus /proc/self/stat utime+stime")        \
    X(RUNNABLE, "runnable_other", "tasks", "/proc/stat procs_running minus our running threads")   \
    X(PSI_CPU, "psi_cpu", "share", "/proc/pressure/cpu some total= delta / window")                \
    X(PSI_MEM, "psi_mem", "share", "/proc/pressure/memory some total= delta / window")             \
    X(MEM_AVAIL, "mem_avail", "share", "/proc/meminfo: MemAvailable / MemTotal")                   \
    X(PROBE_CPU, "probe_cpu_ns", "ns", "micro-probe: a fixed dependent arithmetic loop")           \
    X(PROBE_MEM, "probe_mem_ns", "ns", "micro-probe: a fixed stream over a 32 MiB buffer")

typedef enum cleave_load_feature {
#define CLEAVE_LOADF_ENUM_(e, name, unit, src) CLEAVE_LOAD_##e,
    CLEAVE_LOAD_FEATURE_MAP(CLEAVE_LOADF_ENUM_)
#undef CLEAVE_LOADF_ENUM_
        CLEAVE_LOAD_COUNT
} cleave_load_feature;

/* A snapshot of the dynamic features, indexed by cleave_load_feature. */
typedef struct cleave_load {
    double v[CLEAVE_LOAD_COUNT];
} cleave_load;

/* The name ("cpu_util"), unit and source of feature F; NULL for an invalid F. */
CLEAVE_API const char *cleave_load_feature_name(cleave_load_feature f);
CLEAVE_API const char *cleave_load_feature_unit(cleave_load_feature f);
CLEAVE_API const char *cleave_load_feature_source(cleave_load_feature f);

#ifdef __cplusplus
}
#endif
#endif /* CLEAVE_LOAD_H */
