/*
** common/sysinfo.h - facts about this machine: CPU model, cores, memory, host name.
*/
#ifndef CLEAVE_COMMON_SYSINFO_H
#define CLEAVE_COMMON_SYSINFO_H

#include <stdint.h>

typedef struct cl_sysinfo {
    char host[128];
    char cpu_model[128];
    int cores; /* online logical CPUs */
    uint64_t mem_total_bytes;
    uint64_t mem_avail_bytes; /* MemAvailable at the time of the call */
} cl_sysinfo;

/* Fill *SI from /proc and uname.  Fields that cannot be read are "unknown" or 0. */
void cl_sysinfo_read(cl_sysinfo *si);

/* MemAvailable in bytes, or 0 if /proc/meminfo cannot be read. */
uint64_t cl_mem_available_bytes(void);

/* The OpenMP binding in force, e.g. "OMP_PROC_BIND=true", or "unbound". */
const char *cl_omp_binding(void);

/* Whether PROGRAM is an executable file in some directory of $PATH. */
int cl_in_path(const char *program);

/* Let the calling thread (sched_setaffinity(0) is per thread) run on every configured CPU; the
** kernel intersects that with any cpuset the process is confined to.  With OMP_PROC_BIND,
** OpenMP binds the initial thread to one CPU, and every thread or process it creates inherits
** that mask: worker pools and forked children that are meant for the whole machine call this
** first.  Returns 0, or -1 (errno set) when the mask cannot be changed. */
int cl_affinity_widen(void);

#endif /* CLEAVE_COMMON_SYSINFO_H */
