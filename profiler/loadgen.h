/*
** profiler/loadgen.h - synthetic background load (CPU duty threads, memory bandwidth, memory
** capacity) run in a child process that can never outlive the profiler.
**
** Load levels are given as text, one or more strings ("--load" values):
**
**   cpu=0,50,100     percent of every 10 ms period each CPU thread is busy
**   cpu_threads=2    CPU threads (default: the online CPUs at start)
**   membw=0,1        threads streaming read+write over a private buffer of
**                    max(8 x last-level cache, 64 MiB)
**   memcap=0,0.3     fraction of MemAvailable to allocate and touch, capped at 50 % of
**                    MemAvailable and so that at least 1 GiB stays available
**   none             no generator at all: the machine as it is (the user's own background work)
**
** A key may be followed by further values after commas, and several keys may share one string
** ("cpu=0,50,membw=0,1").  The settings are the cross product of the levels, cpu varying
** slowest, then cpu_threads, membw, memcap; a key that is not given has the single level 0
** (cpu_threads: the default).
**
** The generator is a fork()ed child.  It sets PR_SET_PDEATHSIG(SIGKILL) and then checks that
** its parent is still the process that forked it, so it dies with the profiler even on kill -9.
** Note that the "parent" of PR_SET_PDEATHSIG is the forking *thread*: start generators from a
** thread that outlives them (the main thread).  The child only uses raw threads, mmap and
** clock_nanosleep - never oneDNN or OpenMP, whose state after fork() is undefined.
*/
#ifndef CLEAVE_PROFILER_LOADGEN_H
#define CLEAVE_PROFILER_LOADGEN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cleave/cleave.h>

/* The default of `cleave profile` when no --load is given, as --load strings: a synthetic grid,
** because a model can only learn how latency depends on load from samples taken across loads;
** `none` samples whatever load there happens to be (typically none on a calibration machine). */
#define PROF_LOAD_DEFAULT_SPECS                                                                    \
    {                                                                                              \
        "cpu=0,50,100", "membw=0,1"                                                                \
    }
#define PROF_LOAD_DEFAULT_NSPECS 2

/* Upper bounds accepted by the parser. */
#define PROF_LOAD_MAX_THREADS 1024
#define PROF_LOAD_MAX_SETTINGS 4096

/* One load setting. */
typedef struct prof_load_setting {
    int none;           /* 1: no generator; the fields below are 0 */
    double cpu_pct;     /* duty per CPU thread, [0, 100] */
    int cpu_threads;    /* 0: the number of online CPUs when the generator starts */
    int membw_threads;  /* [0, PROF_LOAD_MAX_THREADS] */
    double memcap_frac; /* [0, 0.9] of MemAvailable, before the cap */
    char text[96];      /* canonical: "cpu=50,membw=1,memcap=0" (+ ",cpu_threads=N" if given),
                           or "none"; it parses back to this one setting */
} prof_load_setting;

/* Parse NSPECS load strings into the cross product of their levels.  On success *OUT is an
** array of *N settings the caller frees with free().  Errors (CLEAVE_EPARSE, or CLEAVE_ERANGE
** for a number out of range), with these messages:
**   empty load specification
**   unknown load key 'KEY'
**   expected KEY=VALUE in load 'SPEC'
**   missing value for load key 'KEY'
**   duplicate load key 'KEY'
**   invalid load value 'V' for 'KEY': not a number          (cpu, memcap)
**   invalid load value 'V' for 'KEY': not a whole number    (cpu_threads, membw)
**   invalid load value 'V' for 'cpu': must be between 0 and 100
**   invalid load value 'V' for 'memcap': must be between 0 and 0.9
**   invalid load value 'V' for 'membw': must be between 0 and 1024
**   invalid load value 'V' for 'cpu_threads': must be between 1 and 1024
**   load 'none' cannot be combined with other load levels
**   too many load settings (N, at most 4096)
** CLEAVE_ENOMEM if memory runs out. */
cleave_status prof_load_parse(prof_load_setting **out, size_t *n, const char *const *specs,
                              size_t nspecs, char *err, size_t errlen);

/* Write the canonical text of S into S->text (the parser does this already). */
void prof_load_setting_format(prof_load_setting *s);

/* Bytes the memcap level FRAC allocates when AVAIL_BYTES are available: FRAC x AVAIL, at most
** AVAIL / 2 and at most AVAIL - 1 GiB (0 when less than 1 GiB is available), rounded down to
** PAGE_BYTES. */
uint64_t prof_memcap_bytes(double frac, uint64_t avail_bytes, uint64_t page_bytes);

/* Parse a sysfs cache size ("32768K", "1M", "512") into bytes; 0 if malformed. */
uint64_t prof_parse_cache_size(const char *text);

/* The largest cache of cpu0 (/sys/devices/system/cpu/cpu0/cache/index* /size, Data or Unified),
** or 0 if sysfs does not say. */
uint64_t prof_llc_bytes(void);

/* Bytes of each membw thread's buffer for a last-level cache of LLC_BYTES (0: unknown, assume
** 32 MiB): max(8 x LLC, 64 MiB). */
uint64_t prof_membw_bytes(uint64_t llc_bytes);

typedef struct prof_loadgen prof_loadgen;

/* What a running generator applied (for the run's record). */
typedef struct prof_loadgen_info {
    pid_t pid;       /* 0 for "none" */
    int cpu_threads; /* threads actually started (0 when cpu=0) */
    int membw_threads;
    uint64_t membw_bytes;  /* per membw thread */
    uint64_t memcap_bytes; /* allocated and touched */
} prof_loadgen_info;

/* Start the generator for setting S.  Returns once the child runs every thread and has touched
** its memory (a pipe handshake), so the load is in place.  For "none" no child is started and
** *OUT is still a valid handle.  On failure *OUT is NULL, the child (if any) is gone, and ERR
** says why: "cannot start load generator: <reason>", CLEAVE_EIO (fork, pipe, the child failed
** or died during start-up), CLEAVE_ENOMEM, CLEAVE_ERANGE (the buffers would leave less than
** 1 GiB of MemAvailable: "... 'membw=64,...' needs N MiB of memory, only M MiB available"),
** CLEAVE_EINVAL (a hand-made setting out of the parser's ranges: "invalid load setting 'TEXT'"). */
cleave_status prof_loadgen_start(prof_loadgen **out, const prof_load_setting *s, char *err,
                                 size_t errlen);

/* CLEAVE_OK if G's child is still running (always for "none"); CLEAVE_EIO with "load generator
** 'TEXT' (pid N) died: killed by signal 9 (SIGKILL)" if it is gone (it is reaped then). */
cleave_status prof_loadgen_check(prof_loadgen *g, char *err, size_t errlen);

/* Stop G: SIGTERM, wait up to 2 s, then SIGKILL and wait again; frees G (NULL is a no-op).
** Returns CLEAVE_OK when the child was running and is now reaped; CLEAVE_EIO if it had died on
** its own before (message as prof_loadgen_check) or could not be reaped. */
cleave_status prof_loadgen_stop(prof_loadgen *g, char *err, size_t errlen);

/* The child's pid (0 for "none" or once reaped), and what it applied. */
pid_t prof_loadgen_pid(const prof_loadgen *g);
void prof_loadgen_get_info(const prof_loadgen *g, prof_loadgen_info *info);

/* SIGKILL every generator child this process started and has not reaped yet.  Async-signal-safe
** (it only reads atomics and calls kill()), for the CLI's SIGINT/SIGTERM handler path; the
** handles must still be stopped (reaped and freed) with prof_loadgen_stop(). */
void prof_loadgen_kill_all(void);

#endif /* CLEAVE_PROFILER_LOADGEN_H */
