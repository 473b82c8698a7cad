/*
** profiler/counters.c - perf events (encoded by libpfm4) and /proc counters of every thread of
** the process, started and stopped around each sample's timed repetitions.
**
** Why one event per existing thread, and not inherit=1.  oneDNN runs on libgomp's worker threads.
** libgomp creates its pool at the first parallel region and keeps it; by the time the profiler
** counts anything, the engine, primitive creation and warm-up have run parallel regions, so the
** workers already exist.  A perf event opened with inherit=1 on the calling thread counts only
** threads cloned *after* the open (each inherits a child event at clone time) - every existing
** worker would be missed, silently.  inherit=1 works only if the set is opened before any thread
** exists, which a library cannot promise (the caller, the load generator or oneDNN may already
** have started threads).  So we open, for every task in /proc/self/task, its own events with
** inherit=0 (pid = tid, cpu = -1) and sum them; each start re-scans /proc/self/task, opening
** events for new threads (a grown pool) and closing those of threads that are gone.  What this
** misses: threads created inside a timed window (the profiler warms up first, so the pool
** exists), and runq_wait_ns of a thread that exits inside a window (its schedstat disappears;
** its perf counts survive, a perf fd of an exited task still reads its final count), and a
** thread whose tid is reused between two starts (tids are allocated cyclically up to pid_max).
** A child forked without exec (the load generator) inherits the descriptors; they still count
** our threads, not the child's, so that is harmless.
**
** Each thread's events form two groups: hardware (cycles, instructions, LLC misses) and software
** (task-clock, page-faults, cpu-migrations, context-switches), so one ioctl with
** PERF_IOC_FLAG_GROUP enables or disables a group and one read() gets all its counts
** (PERF_FORMAT_GROUP).  Two groups, not one, because a group is scheduled on the PMU as a unit: a
** hardware group that is multiplexed out must not starve the software events with it.  A
** hardware event that does not fit into its group (EINVAL/ENOSPC) gets a group of its own.
**
** Multiplexing: with PERF_FORMAT_TOTAL_TIME_ENABLED/RUNNING a count is scaled to
** count * enabled / running, the standard estimate (perf stat does the same).  RESET would zero
** the counts but not the two times, so instead the group is read at start (while disabled, so the
** values are still) and the window's count is the difference of two reads; that costs one read()
** where RESET would cost one ioctl.
**
** Privilege: with kernel.perf_event_paranoid = 2 an unprivileged process may not count kernel
** mode (EACCES).  Events that mean something in user mode alone (cycles, instructions, LLC
** misses, task-clock, page-faults taken in user mode) are then reopened user-only and say so;
** cpu-migrations and context-switches happen in the scheduler, i.e. in kernel mode, and would
** read 0 user-only, so they are recorded as unavailable instead.
**
** Cost of one start+stop pair: per thread and group 2 ioctl + 2 read, plus a rewinddir/readdir
** of /proc/self/task, 2 preads of each thread's schedstat and 2 getrusage calls.  Measured on
** the 2-core build VM (1000 pairs in a loop): ~12 us with the calling thread and two sleeping
** threads, 30-230 us with one thread spinning on the other CPU, depending on the neighbours'
** load - an ioctl or read for an event whose task is on a CPU right now is an IPI to that CPU,
** which is slow in a VM.  libgomp workers spin for a while after a parallel region, so expect
** the upper figures right after warm-up; against samples of milliseconds it is noise.
*/
#include "profiler/counters.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* The kernel's header first: libpfm4's perfmon/perf_event.h then skips its own copy of the
** perf_event ABI and uses the kernel's (newer) struct perf_event_attr. */
#include <linux/perf_event.h>
#include <perfmon/pfmlib_perf_event.h>

#define NPERF PROF_CTR_PERF_COUNT
#define WHY_LEN 160
#define HOW_LEN 128

/* One perf counter: libpfm4 names tried in order (the first PMU-specific, then perf's generic
** one), whether it needs a PMU, and whether counting user mode alone still measures it. */
struct ev_def {
    const char *pfm_names[3];
    int hw;
    int user_ok;
};

static const struct ev_def ev_defs[NPERF] = {
    [PROF_CTR_CYCLES] = {{"cycles", NULL}, 1, 1},
    [PROF_CTR_INSTRUCTIONS] = {{"instructions", NULL}, 1, 1},
    /* LLC_MISSES is Intel's architectural event (libpfm4 4.13 knows it on Intel PMUs only);
    ** PERF_COUNT_HW_CACHE_MISSES is the kernel's generic mapping, usually the same event. */
    [PROF_CTR_LLC_MISSES] = {{"LLC_MISSES", "perf::PERF_COUNT_HW_CACHE_MISSES", NULL}, 1, 1},
    [PROF_CTR_TASK_CLOCK_NS] = {{"perf::TASK-CLOCK", NULL}, 0, 1},
    [PROF_CTR_PAGE_FAULTS] = {{"perf::PAGE-FAULTS", NULL}, 0, 1},
    [PROF_CTR_CPU_MIGRATIONS] = {{"perf::CPU-MIGRATIONS", NULL}, 0, 0},
    [PROF_CTR_CONTEXT_SWITCHES] = {{"perf::CONTEXT-SWITCHES", NULL}, 0, 0},
};

static const char *const ctr_names[PROF_CTR_COUNT] = {
    [PROF_CTR_CYCLES] = "cycles",
    [PROF_CTR_INSTRUCTIONS] = "instructions",
    [PROF_CTR_LLC_MISSES] = "llc_misses",
    [PROF_CTR_TASK_CLOCK_NS] = "task_clock_ns",
    [PROF_CTR_PAGE_FAULTS] = "page_faults",
    [PROF_CTR_CPU_MIGRATIONS] = "cpu_migrations",
    [PROF_CTR_CONTEXT_SWITCHES] = "context_switches",
    [PROF_CTR_RUNQ_WAIT_NS] = "runq_wait_ns",
    [PROF_CTR_NVCSW] = "nvcsw",
    [PROF_CTR_NIVCSW] = "nivcsw",
};

/* Reasons that arise per window rather than per set; static, so a value can point at them. */
static const char why_starved[] = "never scheduled on the PMU (multiplexed out)";
static const char why_unread[] = "cannot read the perf event";
static const char why_runq_lost[] = "cannot read schedstat";

/* A perf group of one thread: member 0 is the leader.  BASE holds the read at start. */
struct ctr_group {
    int n;
    int hw;
    int ev[NPERF];
    int fd[NPERF];
    int base_ok;
    uint64_t base_en, base_run, base_val[NPERF];
};

struct ctr_thread {
    pid_t tid;
    unsigned gen; /* scan generation in which the thread was last seen */
    int ngroups;
    struct ctr_group g[NPERF];
    int sched_fd; /* /proc/self/task/TID/schedstat, or -1 */
    int runq_base_ok;
    uint64_t runq_base_ns;
};

struct prof_counters {
    unsigned flags;
    int started;
    unsigned gen;
    DIR *taskdir; /* /proc/self/task, kept open and rewound at each scan; NULL if unreadable */
    int ev_ok[NPERF];
    struct perf_event_attr attr[NPERF]; /* as encoded by libpfm4, read_format set */
    int ev_flags[NPERF];                /* perf_event_open flags libpfm4 asked for */
    int runq_ok;
    char why[PROF_CTR_COUNT][WHY_LEN]; /* reason when unavailable */
    char how[PROF_CTR_COUNT][HOW_LEN]; /* what is measured when available */
    struct ctr_thread *th;
    size_t nth, cap;
    struct rusage ru_base;
};

static pthread_once_t pfm_once = PTHREAD_ONCE_INIT;
static int pfm_status_g = PFM_ERR_NOINIT;

static void pfm_init_once(void)
{
    pfm_status_g = pfm_initialize();
}

/* libpfm4's pfm_initialize() is process-wide and not meant to be repeated: call it once. */
static int pfm_ready(void)
{
    pthread_once(&pfm_once, pfm_init_once);
    return pfm_status_g;
}

static int perf_open(struct perf_event_attr *attr, pid_t tid, int group_fd, int flags)
{
    return (int)syscall(SYS_perf_event_open, attr, tid, -1, group_fd,
                        (unsigned long)flags | PERF_FLAG_FD_CLOEXEC);
}

static const char *errno_name(int e)
{
    const char *s = strerrorname_np(e);
    return s ? s : "unknown errno";
}

static int paranoid_level(void)
{
    int level = -9;
    FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
    if (f) {
        if (fscanf(f, "%d", &level) != 1)
            level = -9;
        fclose(f);
    }
    return level;
}

/* Why perf_event_open failed with errno E for an event, in words a user can act on. */
static void open_failure(char *why, size_t n, int e, int hw)
{
    switch (e) {
    case ENOENT:
    case ENODEV:
    case EOPNOTSUPP:
        snprintf(why, n, "%s: %s", hw ? "no PMU" : "not supported by the kernel", errno_name(e));
        break;
    case EACCES:
    case EPERM:
        snprintf(why, n, "not permitted (perf_event_paranoid=%d): %s", paranoid_level(),
                 errno_name(e));
        break;
    case ENOSYS: snprintf(why, n, "no perf_event_open in this kernel: %s", errno_name(e)); break;
    case EMFILE:
    case ENFILE: snprintf(why, n, "too many open files: %s", errno_name(e)); break;
    default: snprintf(why, n, "perf_event_open failed: %s", errno_name(e)); break;
    }
}

/* Encode NAME at privilege levels PLM into *ATTR (with our read_format) and *FLAGS; the event's
** fully qualified libpfm4 name, without its modifiers, goes into FQ.  Returns a pfm_err_t. */
static int encode(const char *name, int plm, struct perf_event_attr *attr, int *flags, char *fq,
                  size_t fqlen)
{
    pfm_perf_encode_arg_t arg;
    char *fstr = NULL;
    memset(attr, 0, sizeof *attr);
    memset(&arg, 0, sizeof arg);
    arg.attr = attr;
    arg.fstr = &fstr;
    arg.size = sizeof arg;
    int rc = pfm_get_os_event_encoding(name, plm, PFM_OS_PERF_EVENT_EXT, &arg);
    if (rc == PFM_SUCCESS) {
        const char *s = fstr ? fstr : name;
        const char *pmu_end = strstr(s, "::");
        const char *mods = strchr(pmu_end ? pmu_end + 2 : s, ':');
        size_t len = mods ? (size_t)(mods - s) : strlen(s);
        snprintf(fq, fqlen, "%.*s", (int)len, s);
        attr->size = sizeof *attr;
        attr->read_format =
            PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
        attr->inherit = 0;
        attr->disabled = 1;
        *flags = arg.flags;
    }
    free(fstr);
    return rc;
}

/* Try each libpfm4 name of perf counter I at privilege levels PLM on the calling thread.  On
** success c->attr[I] is set and c->how[I] says what is counted (with NOTE); otherwise c->why[I]
** says why not - an open failure is more telling than an encoding failure, so it wins - and
** *OPEN_ERRNO holds the last perf_event_open errno (0 if none was tried). */
static int try_names(prof_counters *c, int i, int plm, const char *note, int *open_errno)
{
    const struct ev_def *d = &ev_defs[i];
    *open_errno = 0;
    for (int k = 0; k < 3 && d->pfm_names[k]; k++) {
        struct perf_event_attr attr;
        int flags = 0;
        char fq[96] = "";
        int rc = encode(d->pfm_names[k], plm, &attr, &flags, fq, sizeof fq);
        if (rc != PFM_SUCCESS) {
            if (!*open_errno)
                snprintf(c->why[i], WHY_LEN, "libpfm4 cannot encode '%s': %s", d->pfm_names[k],
                         pfm_strerror(rc));
            continue;
        }
        int fd = perf_open(&attr, 0, -1, flags);
        if (fd >= 0) {
            close(fd);
            c->attr[i] = attr;
            c->ev_flags[i] = flags;
            c->ev_ok[i] = 1;
            c->why[i][0] = '\0';
            snprintf(c->how[i], HOW_LEN, "%s, %s", fq, note);
            return 1;
        }
        *open_errno = errno;
        open_failure(c->why[i], WHY_LEN, *open_errno, d->hw);
    }
    return 0;
}

/* Find an encoding of perf counter I that opens on the calling thread: user and kernel mode
** (PFM_PLM0 | PFM_PLM3), or, when kernel mode is not permitted (EACCES/EPERM under
** perf_event_paranoid) and user mode alone is meaningful, user mode only (PFM_PLM3). */
static void probe_event(prof_counters *c, int i)
{
    int e = 0;
    if (c->flags & PROF_COUNTERS_USER_ONLY) {
        if (!ev_defs[i].user_ok)
            snprintf(c->why[i], WHY_LEN, "counted in kernel mode only, user-only requested");
        else
            try_names(c, i, PFM_PLM3, "user only, as requested", &e);
        return;
    }
    if (try_names(c, i, PFM_PLM0 | PFM_PLM3, "user+kernel", &e) || (e != EACCES && e != EPERM))
        return;
    if (!ev_defs[i].user_ok) {
        snprintf(c->why[i], WHY_LEN,
                 "needs kernel-mode counting, not permitted (perf_event_paranoid=%d): %s",
                 paranoid_level(), errno_name(e));
        return;
    }
    try_names(c, i, PFM_PLM3, "user only: kernel mode not permitted", &e);
}

static void group_close(struct ctr_group *g)
{
    for (int m = g->n - 1; m >= 0; m--)
        if (g->fd[m] >= 0)
            close(g->fd[m]);
    g->n = 0;
}

static void thread_close(struct ctr_thread *t)
{
    for (int k = 0; k < t->ngroups; k++)
        group_close(&t->g[k]);
    t->ngroups = 0;
    if (t->sched_fd >= 0)
        close(t->sched_fd);
    t->sched_fd = -1;
}

/* Open perf counter I for thread T: join the last group of its kind, or lead a new group when
** there is none or the kernel refuses to grow it (a PMU with too few counters: EINVAL/ENOSPC).
** Returns 0 on success, else the errno of the failed perf_event_open. */
static int thread_add_event(prof_counters *c, struct ctr_thread *t, int i)
{
    int hw = ev_defs[i].hw;
    struct ctr_group *g = NULL;
    for (int k = t->ngroups - 1; k >= 0; k--)
        if (t->g[k].hw == hw) {
            g = &t->g[k];
            break;
        }
    if (g) {
        struct perf_event_attr a = c->attr[i];
        a.disabled = 0; /* a member follows its leader's enable state */
        int fd = perf_open(&a, t->tid, g->fd[0], c->ev_flags[i]);
        if (fd >= 0) {
            g->ev[g->n] = i;
            g->fd[g->n++] = fd;
            return 0;
        }
        if (errno != EINVAL && errno != ENOSPC)
            return errno;
    }
    int fd = perf_open(&c->attr[i], t->tid, -1, c->ev_flags[i]);
    if (fd < 0)
        return errno;
    g = &t->g[t->ngroups++];
    memset(g, 0, sizeof *g);
    g->hw = hw;
    g->n = 1;
    g->ev[0] = i;
    g->fd[0] = fd;
    return 0;
}

/* Track thread TID: open its schedstat and every available perf event.  A thread that exits
** meanwhile (ESRCH) is dropped: returns 1, nothing kept.  An event that opened on the calling
** thread but not on this one is marked unavailable for the whole set, since a sum that misses
** a thread is not a count.  Returns 0 when tracked. */
static int thread_init(prof_counters *c, struct ctr_thread *t, pid_t tid)
{
    char path[64];
    memset(t, 0, sizeof *t);
    t->tid = tid;
    t->gen = c->gen;
    t->sched_fd = -1;
    if (c->runq_ok) {
        snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)tid);
        t->sched_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (t->sched_fd < 0 && errno == ENOENT)
            return 1; /* the thread is gone (schedstat itself exists: checked at open) */
        if (t->sched_fd < 0) {
            /* a sum that misses a thread is not a run-queue wait */
            snprintf(c->why[PROF_CTR_RUNQ_WAIT_NS], WHY_LEN, "cannot open '%s': %s", path,
                     errno_name(errno));
            c->runq_ok = 0;
        }
    }
    for (int i = 0; i < NPERF; i++) {
        if (!c->ev_ok[i])
            continue;
        int e = thread_add_event(c, t, i);
        if (e == ESRCH) {
            thread_close(t);
            return 1;
        }
        if (e) {
            char why[WHY_LEN - 32]; /* leaves room for the prefix below */
            open_failure(why, sizeof why, e, ev_defs[i].hw);
            snprintf(c->why[i], WHY_LEN, "cannot open for thread %d: %s", (int)tid, why);
            c->ev_ok[i] = 0;
        }
    }
    return 0;
}

static struct ctr_thread *thread_find(prof_counters *c, pid_t tid)
{
    for (size_t k = 0; k < c->nth; k++)
        if (c->th[k].tid == tid)
            return &c->th[k];
    return NULL;
}

/* Start tracking TID unless it is tracked; marks it seen in this scan.  CLEAVE_ENOMEM if the
** thread table cannot grow. */
static cleave_status thread_see(prof_counters *c, pid_t tid)
{
    struct ctr_thread *t = thread_find(c, tid);
    if (t) {
        t->gen = c->gen;
        return CLEAVE_OK;
    }
    if (c->nth == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        struct ctr_thread *th = realloc(c->th, cap * sizeof *th);
        if (!th)
            return CLEAVE_ENOMEM;
        c->th = th;
        c->cap = cap;
    }
    if (thread_init(c, &c->th[c->nth], tid) == 0)
        c->nth++;
    return CLEAVE_OK;
}

/* Bring the tracked threads in line with /proc/self/task: open events for new threads, close
** those of threads that are gone.  Without /proc only the calling thread is tracked. */
static cleave_status scan_threads(prof_counters *c)
{
    cleave_status st = CLEAVE_OK;
    c->gen++;
    if (!c->taskdir) {
        st = thread_see(c, gettid());
    } else {
        struct dirent *de;
        rewinddir(c->taskdir);
        while ((de = readdir(c->taskdir)) != NULL) {
            char *end;
            long tid = strtol(de->d_name, &end, 10);
            if (de->d_name[0] < '0' || de->d_name[0] > '9' || *end != '\0' || tid <= 0)
                continue;
            st = thread_see(c, (pid_t)tid);
            if (st != CLEAVE_OK)
                break;
        }
    }
    for (size_t k = 0; k < c->nth;) {
        if (c->th[k].gen != c->gen && st == CLEAVE_OK) {
            thread_close(&c->th[k]);
            c->th[k] = c->th[--c->nth];
        } else {
            k++;
        }
    }
    return st;
}

/* The run_delay field (ns spent runnable, waiting for a CPU) of a schedstat file that is kept
** open: "sum_exec_runtime run_delay pcount".  Returns 0 on success. */
static int read_runq(int fd, uint64_t *ns)
{
    char buf[128];
    if (fd < 0)
        return -1;
    ssize_t len = pread(fd, buf, sizeof buf - 1, 0);
    if (len <= 0)
        return -1;
    buf[len] = '\0';
    char *p = buf, *end;
    (void)strtoull(p, &end, 10);
    if (end == p)
        return -1;
    p = end;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p)
        return -1;
    *ns = v;
    return 0;
}

/* Read group G into EN, RUN and VAL[]; returns 0 on success. */
static int group_read(const struct ctr_group *g, uint64_t *en, uint64_t *run, uint64_t *val)
{
    uint64_t buf[3 + NPERF];
    size_t want = (size_t)(3 + g->n) * sizeof(uint64_t);
    ssize_t len = read(g->fd[0], buf, want);
    if (len != (ssize_t)want || buf[0] != (uint64_t)g->n)
        return -1;
    *en = buf[1];
    *run = buf[2];
    for (int m = 0; m < g->n; m++)
        val[m] = buf[3 + m];
    return 0;
}

/* Decide whether runq_wait_ns can be measured: schedstat exists only with CONFIG_SCHED_INFO. */
static void probe_runq(prof_counters *c)
{
    char path[64];
    uint64_t ns;
    snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)gettid());
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(c->why[PROF_CTR_RUNQ_WAIT_NS], WHY_LEN, "cannot open '%s': %s", path,
                 errno_name(errno));
        return;
    }
    if (read_runq(fd, &ns) != 0) {
        snprintf(c->why[PROF_CTR_RUNQ_WAIT_NS], WHY_LEN, "cannot parse '%s'", path);
    } else {
        c->runq_ok = 1;
        snprintf(c->how[PROF_CTR_RUNQ_WAIT_NS], HOW_LEN,
                 "/proc/self/task/*/schedstat run_delay, summed over threads");
    }
    close(fd);
}

cleave_status prof_counters_open(prof_counters **out, unsigned flags, char *err, size_t errlen)
{
    const unsigned known = PROF_COUNTERS_NO_PERF | PROF_COUNTERS_USER_ONLY;
    cleave_status st = CLEAVE_OK;
    prof_counters *c = NULL;
    int prc = PFM_SUCCESS;

    *out = NULL;
    if (flags & ~known) {
        if (err && errlen)
            snprintf(err, errlen, "unknown counter flags '0x%x'", flags & ~known);
        st = CLEAVE_EINVAL;
        goto done;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        st = CLEAVE_ENOMEM;
        goto done;
    }
    c->flags = flags;

    /* perf events: which ones open is decided once, on the calling thread */
    if (!(flags & PROF_COUNTERS_NO_PERF))
        prc = pfm_ready();
    for (int i = 0; i < NPERF; i++) {
        if (flags & PROF_COUNTERS_NO_PERF)
            snprintf(c->why[i], WHY_LEN, "perf events disabled by the caller");
        else if (prc != PFM_SUCCESS)
            snprintf(c->why[i], WHY_LEN, "libpfm4 initialisation failed: %s", pfm_strerror(prc));
        else
            probe_event(c, i);
    }
    probe_runq(c);
    snprintf(c->how[PROF_CTR_NVCSW], HOW_LEN, "getrusage(RUSAGE_SELF) ru_nvcsw");
    snprintf(c->how[PROF_CTR_NIVCSW], HOW_LEN, "getrusage(RUSAGE_SELF) ru_nivcsw");

    c->taskdir = opendir("/proc/self/task");
    st = scan_threads(c);
    if (st != CLEAVE_OK)
        goto done;
    *out = c;
    c = NULL;
done:
    if (st == CLEAVE_ENOMEM && err && errlen)
        snprintf(err, errlen, "cannot allocate the counter set: out of memory");
    prof_counters_close(c);
    return st;
}

void prof_counters_close(prof_counters *c)
{
    if (!c)
        return;
    for (size_t k = 0; k < c->nth; k++)
        thread_close(&c->th[k]);
    free(c->th);
    if (c->taskdir)
        closedir(c->taskdir);
    free(c);
}

cleave_status prof_counters_start(prof_counters *c)
{
    if (!c || c->started)
        return CLEAVE_EINVAL;
    cleave_status st = scan_threads(c);
    if (st != CLEAVE_OK)
        return st;
    for (size_t k = 0; k < c->nth; k++) {
        struct ctr_thread *t = &c->th[k];
        t->runq_base_ok = read_runq(t->sched_fd, &t->runq_base_ns) == 0;
        for (int j = 0; j < t->ngroups; j++) {
            struct ctr_group *g = &t->g[j];
            g->base_ok = group_read(g, &g->base_en, &g->base_run, g->base_val) == 0;
        }
    }
    getrusage(RUSAGE_SELF, &c->ru_base);
    /* enabling last keeps our own bookkeeping out of the perf counts */
    for (size_t k = 0; k < c->nth; k++)
        for (int j = 0; j < c->th[k].ngroups; j++)
            ioctl(c->th[k].g[j].fd[0], PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP);
    c->started = 1;
    return CLEAVE_OK;
}

/* Per perf counter, the sum over threads of the scaled window counts. */
struct perf_sum {
    double value;
    uint64_t en, run;
    const char *why; /* set when some thread's share could not be measured */
};

static void add_group(struct perf_sum *sum, const struct ctr_group *g)
{
    uint64_t en, run, val[NPERF];
    if (!g->base_ok || group_read(g, &en, &run, val) != 0) {
        for (int m = 0; m < g->n; m++)
            sum[g->ev[m]].why = why_unread;
        return;
    }
    uint64_t d_en = en - g->base_en, d_run = run - g->base_run;
    for (int m = 0; m < g->n; m++) {
        struct perf_sum *s = &sum[g->ev[m]];
        double d = (double)(val[m] - g->base_val[m]);
        if (d_run == 0 && d_en > 0)
            s->why = why_starved;
        else if (d_run < d_en)
            d *= (double)d_en / (double)d_run;
        s->value += d;
        s->en += d_en;
        s->run += d_run;
    }
}

cleave_status prof_counters_stop(prof_counters *c, prof_counter_values *out)
{
    if (!c || !c->started || !out)
        return CLEAVE_EINVAL;
    for (size_t k = 0; k < c->nth; k++)
        for (int j = 0; j < c->th[k].ngroups; j++)
            ioctl(c->th[k].g[j].fd[0], PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP);
    c->started = 0;

    struct perf_sum sum[NPERF];
    memset(sum, 0, sizeof sum);
    uint64_t runq_ns = 0;
    for (size_t k = 0; k < c->nth; k++) {
        struct ctr_thread *t = &c->th[k];
        for (int j = 0; j < t->ngroups; j++)
            add_group(sum, &t->g[j]);
        uint64_t ns;
        /* a thread that exited in the window loses its share (see the top of this file) */
        if (t->runq_base_ok && read_runq(t->sched_fd, &ns) == 0 && ns >= t->runq_base_ns)
            runq_ns += ns - t->runq_base_ns;
    }
    struct rusage ru;
    int ru_ok = getrusage(RUSAGE_SELF, &ru) == 0;

    memset(out, 0, sizeof *out);
    for (int i = 0; i < PROF_CTR_COUNT; i++) {
        prof_counter_value *v = &out->v[i];
        v->name = ctr_names[i];
        v->available = 0;
        v->why = c->why[i][0] ? c->why[i] : NULL;
        if (i < NPERF) {
            if (!c->ev_ok[i])
                continue;
            if (sum[i].why) {
                v->why = sum[i].why;
                continue;
            }
            v->value = (uint64_t)(sum[i].value + 0.5);
            v->running_share = sum[i].en ? (double)sum[i].run / (double)sum[i].en : 1.0;
        } else if (i == PROF_CTR_RUNQ_WAIT_NS) {
            if (!c->runq_ok)
                continue;
            if (c->nth == 0) {
                v->why = why_runq_lost;
                continue;
            }
            v->value = runq_ns;
            v->running_share = 1.0;
        } else {
            if (!ru_ok)
                continue;
            long d = i == PROF_CTR_NVCSW ? ru.ru_nvcsw - c->ru_base.ru_nvcsw
                                         : ru.ru_nivcsw - c->ru_base.ru_nivcsw;
            v->value = d > 0 ? (uint64_t)d : 0;
            v->running_share = 1.0;
        }
        v->available = 1;
        v->why = NULL;
    }
    return CLEAVE_OK;
}

/* Append to BUF like snprintf, keeping the would-be length in *LEN. */
static void append(char *buf, size_t n, size_t *len, const char *fmt, const char *a, const char *b)
{
    int w = snprintf(*len < n ? buf + *len : NULL, *len < n ? n - *len : 0, fmt, a, b);
    if (w > 0)
        *len += (size_t)w;
}

size_t prof_counters_describe(const prof_counters *c, char *buf, size_t n)
{
    size_t len = 0;
    if (buf && n)
        buf[0] = '\0';
    if (!c)
        return 0;
    if (!buf)
        n = 0;
    for (int i = 0; i < PROF_CTR_COUNT; i++) {
        int ok = i < NPERF ? c->ev_ok[i] : i == PROF_CTR_RUNQ_WAIT_NS ? c->runq_ok : 1;
        if (ok)
            append(buf, n, &len, "%s: available (%s)\n", ctr_names[i], c->how[i]);
        else
            append(buf, n, &len, "%s: unavailable (%s)\n", ctr_names[i], c->why[i]);
    }
    return len;
}

const char *prof_counter_name(prof_counter_id id)
{
    if ((int)id < 0 || id >= PROF_CTR_COUNT)
        return "unknown";
    return ctr_names[id];
}

static pthread_once_t pmu_once = PTHREAD_ONCE_INIT;
static int pmu_usable_g;

/* User level only, so that perf_event_paranoid = 2 does not hide a PMU that is there. */
static void pmu_probe_once(void)
{
    struct perf_event_attr attr;
    int flags = 0;
    char fq[96];
    if (pfm_ready() != PFM_SUCCESS)
        return;
    if (encode("cycles", PFM_PLM3, &attr, &flags, fq, sizeof fq) != PFM_SUCCESS)
        return;
    attr.read_format = 0;
    int fd = perf_open(&attr, 0, -1, flags);
    if (fd >= 0) {
        pmu_usable_g = 1;
        close(fd);
    }
}

int prof_pmu_usable(void)
{
    pthread_once(&pmu_once, pmu_probe_once);
    return pmu_usable_g;
}
