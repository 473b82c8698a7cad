/*
** profiler/loadgen.c - the synthetic load generator: parsing load levels, and the child process
** that applies one level (CPU duty threads, memory bandwidth threads, touched memory).
*/
#include "profiler/loadgen.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/loadsnap.h"
#include "common/sysinfo.h"

#define PERIOD_NS 10000000LL /* the CPU duty-cycle period: 10 ms */
#define GIB ((uint64_t)1 << 30)
#define MIB ((uint64_t)1 << 20)
#define STOP_WAIT_MS 2000 /* after SIGTERM, and again after SIGKILL */
#define MAX_LIVE 16       /* generators one process may run at once */

static cleave_status fail(cleave_status s, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static cleave_status fail(cleave_status s, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* ===================================================================== parsing ========== */

enum { KEY_CPU, KEY_THREADS, KEY_MEMBW, KEY_MEMCAP, KEY_COUNT };

static const struct keydef {
    const char *name;
    int whole; /* integer values only */
    double lo, hi;
    const char *range; /* as printed in the message */
} keys_g[KEY_COUNT] = {
    [KEY_CPU] = {"cpu", 0, 0.0, 100.0, "between 0 and 100"},
    [KEY_THREADS] = {"cpu_threads", 1, 1.0, PROF_LOAD_MAX_THREADS, "between 1 and 1024"},
    [KEY_MEMBW] = {"membw", 1, 0.0, PROF_LOAD_MAX_THREADS, "between 0 and 1024"},
    [KEY_MEMCAP] = {"memcap", 0, 0.0, 0.9, "between 0 and 0.9"},
};

/* The levels given so far for each key. */
struct levels {
    double *v[KEY_COUNT];
    size_t n[KEY_COUNT];
    int given[KEY_COUNT];
    int none;  /* "none" seen */
    int other; /* any key seen */
};

/* Convert VAL (a value of key K) into *OUT, with the exact messages of loadgen.h.  Only
** decimal notation is accepted: strtod would also take "0x10", "inf" and "nan". */
static cleave_status parse_value(int k, const char *val, double *out, char *err, size_t errlen)
{
    const struct keydef *kd = &keys_g[k];
    char *end = NULL;
    int digits = 0, other = 0;
    for (const char *p = val; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits = 1;
        else if (!strchr("+-.eE", *p))
            other = 1;
    }
    int ok = digits && !other;
    errno = 0;
    double v = ok ? strtod(val, &end) : 0.0;
    if (!ok || *end || errno == ERANGE || !isfinite(v))
        return fail(CLEAVE_EPARSE, err, errlen, "invalid load value '%s' for '%s': not a number",
                    val, kd->name);
    if (kd->whole && v != floor(v))
        return fail(CLEAVE_EPARSE, err, errlen,
                    "invalid load value '%s' for '%s': not a whole number", val, kd->name);
    if (v < kd->lo || v > kd->hi)
        return fail(CLEAVE_ERANGE, err, errlen, "invalid load value '%s' for '%s': must be %s", val,
                    kd->name, kd->range);
    *out = v;
    return CLEAVE_OK;
}

static cleave_status add_level(struct levels *L, int k, double v, char *err, size_t errlen)
{
    double *nv = realloc(L->v[k], (L->n[k] + 1) * sizeof *nv);
    if (!nv)
        return fail(CLEAVE_ENOMEM, err, errlen, "cannot parse load levels: out of memory");
    nv[L->n[k]++] = v;
    L->v[k] = nv;
    return CLEAVE_OK;
}

/* Parse one load string SPEC into L: comma-separated tokens, where KEY=VALUE starts a key and a
** bare VALUE adds a level to the current key. */
static cleave_status parse_spec(struct levels *L, const char *spec, char *err, size_t errlen)
{
    cleave_status st = CLEAVE_OK;
    char *copy = NULL;
    int cur = -1;
    const char *s = spec;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return fail(CLEAVE_EPARSE, err, errlen, "empty load specification");
    copy = strdup(s);
    if (!copy)
        return fail(CLEAVE_ENOMEM, err, errlen, "cannot parse load levels: out of memory");
    /* Trailing blanks are as harmless as leading ones ("--load 'cpu=50 '"). */
    for (size_t n = strlen(copy); n > 0 && (copy[n - 1] == ' ' || copy[n - 1] == '\t'); n--)
        copy[n - 1] = '\0';

    char *tok = copy;
    for (char *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next)
            *next++ = '\0';
        if (strcmp(tok, "none") == 0) {
            L->none = 1;
            continue;
        }
        char *eq = strchr(tok, '=');
        const char *val = tok;
        if (eq) {
            *eq = '\0';
            cur = -1;
            for (int k = 0; k < KEY_COUNT; k++)
                if (strcmp(tok, keys_g[k].name) == 0)
                    cur = k;
            if (cur < 0) {
                st = fail(CLEAVE_EPARSE, err, errlen, "unknown load key '%s'", tok);
                goto done;
            }
            if (L->given[cur]) {
                st = fail(CLEAVE_EPARSE, err, errlen, "duplicate load key '%s'", tok);
                goto done;
            }
            L->given[cur] = 1;
            L->other = 1;
            val = eq + 1;
        } else if (cur < 0) {
            st = fail(CLEAVE_EPARSE, err, errlen, "expected KEY=VALUE in load '%s'", spec);
            goto done;
        }
        if (!*val) {
            st = fail(CLEAVE_EPARSE, err, errlen, "missing value for load key '%s'",
                      keys_g[cur].name);
            goto done;
        }
        double v = 0.0;
        st = parse_value(cur, val, &v, err, errlen);
        if (st == CLEAVE_OK)
            st = add_level(L, cur, v, err, errlen);
        if (st != CLEAVE_OK)
            goto done;
    }
done:
    free(copy);
    return st;
}

void prof_load_setting_format(prof_load_setting *s)
{
    /* %.15g: short for the usual values ("0.3", "12.5") and exact enough to parse back. */
    if (s->none) {
        snprintf(s->text, sizeof s->text, "none");
        return;
    }
    int n = snprintf(s->text, sizeof s->text, "cpu=%.15g,membw=%d,memcap=%.15g", s->cpu_pct,
                     s->membw_threads, s->memcap_frac);
    if (s->cpu_threads > 0 && n > 0 && (size_t)n < sizeof s->text)
        snprintf(s->text + n, sizeof s->text - (size_t)n, ",cpu_threads=%d", s->cpu_threads);
}

cleave_status prof_load_parse(prof_load_setting **out, size_t *n, const char *const *specs,
                              size_t nspecs, char *err, size_t errlen)
{
    cleave_status st = CLEAVE_OK;
    struct levels L;
    prof_load_setting *v = NULL;
    memset(&L, 0, sizeof L);
    *out = NULL;
    *n = 0;
    if (nspecs == 0) {
        st = fail(CLEAVE_EPARSE, err, errlen, "empty load specification");
        goto done;
    }
    for (size_t i = 0; i < nspecs; i++) {
        st = parse_spec(&L, specs[i] ? specs[i] : "", err, errlen);
        if (st != CLEAVE_OK)
            goto done;
    }
    if (L.none && (L.other || nspecs > 1)) {
        st = fail(CLEAVE_EPARSE, err, errlen,
                  "load 'none' cannot be combined with other load levels");
        goto done;
    }
    if (L.none) {
        v = calloc(1, sizeof *v);
        if (!v) {
            st = fail(CLEAVE_ENOMEM, err, errlen, "cannot parse load levels: out of memory");
            goto done;
        }
        v->none = 1;
        prof_load_setting_format(v);
        *out = v;
        *n = 1;
        v = NULL;
        goto done;
    }
    /* Keys not given have one level: 0 (cpu_threads 0 = the default thread count). */
    double product = 1.0; /* a double cannot overflow on any number of levels we can hold */
    for (int k = 0; k < KEY_COUNT; k++) {
        if (L.n[k] == 0) {
            st = add_level(&L, k, 0.0, err, errlen);
            if (st != CLEAVE_OK)
                goto done;
        }
        product *= (double)L.n[k];
    }
    if (product > PROF_LOAD_MAX_SETTINGS) {
        st = fail(CLEAVE_ERANGE, err, errlen, "too many load settings (%.0f, at most %d)", product,
                  PROF_LOAD_MAX_SETTINGS);
        goto done;
    }
    size_t total = (size_t)product;
    v = calloc(total, sizeof *v);
    if (!v) {
        st = fail(CLEAVE_ENOMEM, err, errlen, "cannot parse load levels: out of memory");
        goto done;
    }
    /* Mixed-radix counting with memcap as the fastest digit, cpu the slowest. */
    for (size_t i = 0; i < total; i++) {
        size_t r = i, idx[KEY_COUNT];
        for (int k = KEY_COUNT - 1; k >= 0; k--) {
            idx[k] = r % L.n[k];
            r /= L.n[k];
        }
        v[i].cpu_pct = L.v[KEY_CPU][idx[KEY_CPU]];
        v[i].cpu_threads = (int)L.v[KEY_THREADS][idx[KEY_THREADS]];
        v[i].membw_threads = (int)L.v[KEY_MEMBW][idx[KEY_MEMBW]];
        v[i].memcap_frac = L.v[KEY_MEMCAP][idx[KEY_MEMCAP]];
        prof_load_setting_format(&v[i]);
    }
    *out = v;
    *n = total;
    v = NULL;
done:
    free(v);
    for (int k = 0; k < KEY_COUNT; k++)
        free(L.v[k]);
    return st;
}

/* ============================================================ sizes of the load ========== */

uint64_t prof_memcap_bytes(double frac, uint64_t avail_bytes, uint64_t page_bytes)
{
    if (!(frac > 0.0) || avail_bytes <= GIB)
        return 0;
    double want = frac * (double)avail_bytes;
    double cap = (double)(avail_bytes / 2);
    if ((double)(avail_bytes - GIB) < cap)
        cap = (double)(avail_bytes - GIB);
    uint64_t b = (uint64_t)(want < cap ? want : cap);
    if (page_bytes > 0)
        b -= b % page_bytes;
    return b;
}

uint64_t prof_parse_cache_size(const char *text)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || errno)
        return 0;
    uint64_t mult = 1;
    if (*end == 'K' || *end == 'k')
        mult = 1024, end++;
    else if (*end == 'M' || *end == 'm')
        mult = MIB, end++;
    else if (*end == 'G' || *end == 'g')
        mult = GIB, end++;
    while (*end == '\n' || *end == ' ')
        end++;
    if (*end)
        return 0;
    return (uint64_t)v * mult;
}

uint64_t prof_llc_bytes(void)
{
    /* sysfs lists cpu0's caches as index0..indexN with level, type and size; the last-level
    ** cache is the highest level that holds data (type Data or Unified, not Instruction). */
    uint64_t best = 0;
    int best_level = 0;
    for (int i = 0; i < 16; i++) {
        char path[128], *level = NULL, *type = NULL, *size = NULL;
        const char *base = "/sys/devices/system/cpu/cpu0/cache/index";
        snprintf(path, sizeof path, "%s%d/level", base, i);
        if (cl_read_text(path, &level, NULL, 0) != CLEAVE_OK)
            break;
        snprintf(path, sizeof path, "%s%d/type", base, i);
        if (cl_read_text(path, &type, NULL, 0) == CLEAVE_OK) {
            snprintf(path, sizeof path, "%s%d/size", base, i);
            if (strncmp(type, "Instruction", 11) != 0 &&
                cl_read_text(path, &size, NULL, 0) == CLEAVE_OK) {
                int lv = atoi(level);
                uint64_t b = prof_parse_cache_size(size);
                if (b > 0 && lv >= best_level) {
                    best_level = lv;
                    best = b;
                }
            }
        }
        free(level);
        free(type);
        free(size);
    }
    return best;
}

uint64_t prof_membw_bytes(uint64_t llc_bytes)
{
    /* 8x the LLC so that nearly every access of the stream misses it (a buffer only a little
    ** larger than the cache would partly hit under LRU-like replacement with other tenants);
    ** at least 64 MiB in case sysfs under-reports (VMs often show a per-core share). */
    if (llc_bytes == 0)
        llc_bytes = 32 * MIB;
    uint64_t b = 8 * llc_bytes;
    return b < 64 * MIB ? 64 * MIB : b;
}

/* ============================================================ the child ================== */

/* What the child tells the parent through the pipe, once. */
enum { STAGE_OK, STAGE_MEMBW, STAGE_MEMCAP, STAGE_THREAD };
struct handshake {
    int32_t stage;
    int32_t err_no;
};

struct cpu_arg {
    int64_t busy_ns;  /* of every PERIOD_NS */
    int64_t phase_ns; /* offset of this thread's periods */
};

struct bw_arg {
    uint64_t *buf;
    size_t words;
};

/* The child's whole plan, prepared (and allocated) by the parent before fork() so that the
** child does not need to allocate anything but its big buffers. */
struct plan {
    int ncpu, nbw;
    struct cpu_arg *cpu;
    struct bw_arg *bw;
    pthread_t *tid;
    uint64_t bw_bytes, memcap_bytes, page_bytes;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000000), (long)(t % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* A CPU load thread: busy for busy_ns of every 10 ms period, asleep for the rest, on an
** absolute schedule (clock_nanosleep TIMER_ABSTIME) so the duty does not drift with the cost
** of waking up.  If the thread was kept off the CPU past its period, it starts a new period
** now rather than trying to catch up with a burst. */
static void *cpu_thread(void *argp)
{
    const struct cpu_arg *a = argp;
    uint64_t x = 1;
    int64_t start = now_ns() + a->phase_ns;
    sleep_until(start);
    for (;;) {
        int64_t stop = start + a->busy_ns;
        while (now_ns() < stop) {
            for (int i = 0; i < 64; i++)
                x = x * 6364136223846793005ULL + 1;
            __asm__ volatile("" : "+r"(x));
        }
        int64_t next = start + PERIOD_NS, t = now_ns();
        if (t < next) {
            sleep_until(next);
            start = next;
        } else {
            start = t;
        }
    }
    return NULL;
}

/* A bandwidth thread: read-modify-write every word of its buffer, forever.  The buffer is
** several times the LLC, so each pass streams through DRAM both ways. */
static void *bw_thread(void *argp)
{
    const struct bw_arg *a = argp;
    uint64_t *b = a->buf;
    for (;;) {
        for (size_t i = 0; i < a->words; i++)
            b[i] += 1;
        __asm__ volatile("" : : "r"(b) : "memory");
    }
    return NULL;
}

static void child_report(int fd, int stage, int err_no)
{
    struct handshake h = {stage, err_no};
    ssize_t r;
    do
        r = write(fd, &h, sizeof h);
    while (r < 0 && errno == EINTR);
}

/* The generator process.  Never returns. */
static void child_main(int wfd, pid_t parent, struct plan *p)
{
    /* Die with the parent, then close the race: if it already died before prctl(), we have
    ** been reparented and must go now (prctl(2)). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);

    /* The profiler runs with OMP_PROC_BIND, and OpenMP binds its initial thread to the first
    ** place; a fork inherits that one-CPU mask, which would squeeze every load thread onto one
    ** core.  The load is meant for the whole machine: widen the mask to every online CPU (the
    ** kernel intersects it with any cpuset the process is confined to). */
    cl_affinity_widen();

    /* The parent's signal handlers mean nothing here: reset them.  TERM, INT and HUP stay
    ** blocked (the parent blocked everything around fork) and are taken with sigwait(); every
    ** thread inherits that mask, so only the main thread ever sees them. */
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL &&
            (sa.sa_handler != SIG_IGN || sig == SIGTERM || sig == SIGINT || sig == SIGHUP)) {
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = SIG_DFL;
            sigaction(sig, &sa, NULL);
        }
    }
    sigset_t waitset;
    sigemptyset(&waitset);
    sigaddset(&waitset, SIGTERM);
    sigaddset(&waitset, SIGINT);
    sigaddset(&waitset, SIGHUP);
    pthread_sigmask(SIG_SETMASK, &waitset, NULL);

    /* Keep only the handshake pipe (as fd 3): the child must not hold the profiler's files
    ** (the store, its pipes) open. */
    if (wfd != 3 && dup2(wfd, 3) == 3)
        wfd = 3;
    if (wfd == 3)
        close_range(4, ~0U, 0);

    /* Bandwidth buffers: prefaulted, so the stream starts at full speed. */
    for (int i = 0; i < p->nbw; i++) {
        void *m = mmap(NULL, p->bw_bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (m == MAP_FAILED) {
            child_report(wfd, STAGE_MEMBW, errno);
            _exit(1);
        }
        p->bw[i].buf = m;
        p->bw[i].words = p->bw_bytes / sizeof(uint64_t);
    }
    /* Memory capacity: touch one byte of every page so each is really backed by RAM. */
    if (p->memcap_bytes > 0) {
        unsigned char *m =
            mmap(NULL, p->memcap_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            child_report(wfd, STAGE_MEMCAP, errno);
            _exit(1);
        }
        for (uint64_t off = 0; off < p->memcap_bytes; off += p->page_bytes)
            m[off] = 1;
    }
    for (int i = 0; i < p->ncpu + p->nbw; i++) {
        int e = i < p->ncpu ? pthread_create(&p->tid[i], NULL, cpu_thread, &p->cpu[i])
                            : pthread_create(&p->tid[i], NULL, bw_thread, &p->bw[i - p->ncpu]);
        if (e != 0) {
            child_report(wfd, STAGE_THREAD, e);
            _exit(1);
        }
    }
    child_report(wfd, STAGE_OK, 0);
    close(wfd);
    int sig = 0;
    while (sigwait(&waitset, &sig) != 0)
        ;
    _exit(0);
}

/* ============================================================ the parent ================= */

struct prof_loadgen {
    prof_load_setting s;
    prof_loadgen_info info;
    pid_t pid;       /* 0 for none or once reaped */
    int slot;        /* index in live_g, -1 if none */
    int death_told;  /* check() already reported the death */
    char death[160]; /* "died: ..." once reaped after an unexpected end */
};

/* Children not yet reaped, for prof_loadgen_kill_all() (a signal handler may read them).
** A slot is cleared before the child is reaped, never after: until then the pid is a zombie
** at worst and cannot have been reused, so kill_all never hits a stranger.
** killed_g marks the children kill_all has shot, whose SIGKILL is then no surprise. */
static atomic_int live_g[MAX_LIVE];
static atomic_int killed_g[MAX_LIVE];

void prof_loadgen_kill_all(void)
{
    int saved = errno;
    for (int i = 0; i < MAX_LIVE; i++) {
        int pid = atomic_load(&live_g[i]);
        if (pid > 0) {
            atomic_store(&killed_g[i], 1);
            kill(pid, SIGKILL);
        }
    }
    errno = saved;
}

static int live_add(pid_t pid)
{
    for (int i = 0; i < MAX_LIVE; i++) {
        int zero = 0;
        if (atomic_compare_exchange_strong(&live_g[i], &zero, (int)pid))
            return i;
    }
    return -1;
}

static int was_killed_all(int slot)
{
    return slot >= 0 && atomic_load(&killed_g[slot]);
}

static void live_remove(int slot)
{
    if (slot >= 0) {
        atomic_store(&live_g[slot], 0);
        atomic_store(&killed_g[slot], 0);
    }
}

/* "exited with status 3" / "killed by signal 9 (SIGKILL)" */
static void describe_status(int status, char *buf, size_t n)
{
    if (WIFEXITED(status)) {
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        const char *abbrev = sigabbrev_np(WTERMSIG(status));
        snprintf(buf, n, "killed by signal %d (SIG%s)", WTERMSIG(status), abbrev ? abbrev : "?");
    } else {
        snprintf(buf, n, "ended with wait status %d", status);
    }
}

/* Has PID ended?  1 yes (not yet reaped: WNOWAIT), 0 no, -1 it is no child of ours (ECHILD:
** already reaped, or SIGCHLD is ignored so the kernel reaped it). */
static int has_ended(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return errno == EINTR ? 0 : -1;
    return si.si_pid == pid;
}

/* Wait up to MS milliseconds for PID to end; 1 ended, 0 still running, -1 no child. */
static int wait_ended(pid_t pid, int ms)
{
    int64_t deadline = now_ns() + (int64_t)ms * 1000000;
    for (;;) {
        int e = has_ended(pid);
        if (e != 0 || now_ns() >= deadline)
            return e;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Reap G's ended child: clear its slot first, then waitpid.  *STATUS is -1 if unknown. */
static void reap(prof_loadgen *g, int *status)
{
    *status = -1;
    live_remove(g->slot);
    g->slot = -1;
    int st = 0;
    pid_t r;
    do
        r = waitpid(g->pid, &st, 0);
    while (r < 0 && errno == EINTR);
    if (r == g->pid)
        *status = st;
    g->pid = 0;
}

cleave_status prof_loadgen_start(prof_loadgen **out, const prof_load_setting *s, char *err,
                                 size_t errlen)
{
    cleave_status st = CLEAVE_OK;
    prof_loadgen *g = NULL;
    struct plan p;
    int fds[2] = {-1, -1};
    memset(&p, 0, sizeof p);
    *out = NULL;

    g = calloc(1, sizeof *g);
    if (!g) {
        st = fail(CLEAVE_ENOMEM, err, errlen, "cannot start load generator: out of memory");
        goto done;
    }
    g->s = *s;
    g->slot = -1;
    prof_load_setting_format(&g->s);
    if (s->none)
        goto done;
    if (!(s->cpu_pct >= 0.0 && s->cpu_pct <= 100.0) || s->cpu_threads < 0 ||
        s->cpu_threads > PROF_LOAD_MAX_THREADS || s->membw_threads < 0 ||
        s->membw_threads > PROF_LOAD_MAX_THREADS ||
        !(s->memcap_frac >= 0.0 && s->memcap_frac <= 0.9)) {
        st = fail(CLEAVE_EINVAL, err, errlen, "invalid load setting '%s'", g->s.text);
        goto done;
    }

    /* Plan everything in the parent, where reading /proc and /sys and allocating are safe. */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    long page = sysconf(_SC_PAGESIZE);
    p.page_bytes = page > 0 ? (uint64_t)page : 4096;
    int threads = s->cpu_threads > 0 ? s->cpu_threads : (int)(online > 0 ? online : 1);
    p.ncpu = s->cpu_pct > 0.0 ? threads : 0;
    p.nbw = s->membw_threads;
    p.bw_bytes = p.nbw > 0 ? prof_membw_bytes(prof_llc_bytes()) : 0;
    if (s->memcap_frac > 0.0 || p.nbw > 0) {
        cl_meminfo mi;
        char why[200];
        if (cl_read_meminfo(NULL, &mi, why, sizeof why) != CLEAVE_OK) {
            st = fail(CLEAVE_EIO, err, errlen, "cannot start load generator: %s", why);
            goto done;
        }
        uint64_t avail = mi.avail_kib * 1024;
        p.memcap_bytes = prof_memcap_bytes(s->memcap_frac, avail, p.page_bytes);
        /* memcap alone leaves 1 GiB; many bandwidth buffers on top could still exhaust
        ** memory and wake the OOM killer on a machine others use: refuse instead. */
        uint64_t need = p.memcap_bytes + (uint64_t)p.nbw * p.bw_bytes;
        if (need + GIB > avail) {
            st = fail(CLEAVE_ERANGE, err, errlen,
                      "cannot start load generator: '%s' needs %llu MiB of memory, "
                      "only %llu MiB available",
                      g->s.text, (unsigned long long)(need / MIB),
                      (unsigned long long)(avail / MIB));
            goto done;
        }
    }
    p.cpu = calloc((size_t)p.ncpu + 1, sizeof *p.cpu);
    p.bw = calloc((size_t)p.nbw + 1, sizeof *p.bw);
    p.tid = calloc((size_t)(p.ncpu + p.nbw) + 1, sizeof *p.tid);
    if (!p.cpu || !p.bw || !p.tid) {
        st = fail(CLEAVE_ENOMEM, err, errlen, "cannot start load generator: out of memory");
        goto done;
    }
    /* Phases spread evenly over the period, so that N threads at 50 % keep about N/2 CPUs
    ** busy at every instant rather than all N for 5 ms and none for the next 5. */
    for (int i = 0; i < p.ncpu; i++) {
        p.cpu[i].busy_ns = (int64_t)llround(s->cpu_pct / 100.0 * (double)PERIOD_NS);
        p.cpu[i].phase_ns = PERIOD_NS * i / p.ncpu;
    }
    g->info.cpu_threads = p.ncpu;
    g->info.membw_threads = p.nbw;
    g->info.membw_bytes = p.bw_bytes;
    g->info.memcap_bytes = p.memcap_bytes;

    if (pipe2(fds, O_CLOEXEC) != 0) {
        st =
            fail(CLEAVE_EIO, err, errlen, "cannot start load generator: pipe: %s", strerror(errno));
        goto done;
    }
    /* Block every signal across fork(): the child must not run the parent's handlers before it
    ** resets them, and the parent must record the pid before kill_all can be needed. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child_main(fds[1], parent, &p);
    }
    int fork_errno = errno;
    if (pid > 0) {
        g->pid = pid;
        g->info.pid = pid;
        g->slot = live_add(pid);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(fds[1]);
    fds[1] = -1;
    if (pid < 0) {
        st = fail(CLEAVE_EIO, err, errlen, "cannot start load generator: fork: %s",
                  strerror(fork_errno));
        goto done;
    }
    if (g->slot < 0) {
        st = fail(CLEAVE_EIO, err, errlen,
                  "cannot start load generator: more than %d generators running", MAX_LIVE);
        goto done;
    }

    /* The handshake: generous time for touching many GiB (~1 s per GiB is slow). */
    {
        struct handshake h = {-1, 0};
        uint64_t gib = (p.memcap_bytes + (uint64_t)p.nbw * p.bw_bytes) / GIB;
        int64_t deadline = now_ns() + (int64_t)(10 + 2 * gib) * 1000000000;
        size_t got = 0;
        while (got < sizeof h) {
            int64_t left_ms = (deadline - now_ns()) / 1000000;
            if (left_ms <= 0) {
                st = fail(CLEAVE_EIO, err, errlen,
                          "cannot start load generator: no answer from the child (pid %d)",
                          (int)pid);
                goto done;
            }
            struct pollfd pf = {fds[0], POLLIN, 0};
            int r = poll(&pf, 1, (int)(left_ms > 60000 ? 60000 : left_ms));
            if (r < 0 && errno != EINTR) {
                st = fail(CLEAVE_EIO, err, errlen, "cannot start load generator: poll: %s",
                          strerror(errno));
                goto done;
            }
            if (r <= 0)
                continue;
            ssize_t n = read(fds[0], (char *)&h + got, sizeof h - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break; /* EOF: the child is gone */
            got += (size_t)n;
        }
        if (got < sizeof h) {
            int status = -1;
            char why[96] = "ended (status unknown)";
            if (wait_ended(pid, STOP_WAIT_MS) != 0)
                reap(g, &status);
            if (status != -1)
                describe_status(status, why, sizeof why);
            st = fail(CLEAVE_EIO, err, errlen,
                      "cannot start load generator: the child (pid %d) %s during start-up",
                      (int)pid, why);
            goto done;
        }
        if (h.stage != STAGE_OK) {
            static const char *const what[] = {"", "allocate the bandwidth buffers",
                                               "allocate the memory-capacity buffer",
                                               "create a load thread"};
            int stage = h.stage > 0 && h.stage <= STAGE_THREAD ? h.stage : STAGE_THREAD;
            st =
                fail(h.err_no == ENOMEM ? CLEAVE_ENOMEM : CLEAVE_EIO, err, errlen,
                     "cannot start load generator: cannot %s: %s", what[stage], strerror(h.err_no));
            goto done;
        }
    }
done:
    if (st != CLEAVE_OK && g && g->pid > 0) {
        /* Make sure a child that failed or hangs is gone before reporting.  One that will not
        ** even die of SIGKILL stays registered for prof_loadgen_kill_all(). */
        int status = 0;
        kill(g->pid, SIGKILL);
        if (wait_ended(g->pid, STOP_WAIT_MS) != 0)
            reap(g, &status);
    }
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    free(p.cpu);
    free(p.bw);
    free(p.tid);
    if (st != CLEAVE_OK) {
        free(g);
        g = NULL;
    }
    *out = g;
    return st;
}

/* Reap G's child after it ended on its own and describe it in G->death. */
static void record_death(prof_loadgen *g)
{
    int status = -1;
    pid_t pid = g->pid;
    char why[96] = "ended (status unknown)";
    reap(g, &status);
    if (status != -1)
        describe_status(status, why, sizeof why);
    snprintf(g->death, sizeof g->death, "load generator '%s' (pid %d) died: %s", g->s.text,
             (int)pid, why);
}

cleave_status prof_loadgen_check(prof_loadgen *g, char *err, size_t errlen)
{
    if (g->pid > 0 && has_ended(g->pid) != 0)
        record_death(g);
    if (g->death[0]) {
        g->death_told = 1;
        return fail(CLEAVE_EIO, err, errlen, "%s", g->death);
    }
    return CLEAVE_OK;
}

cleave_status prof_loadgen_stop(prof_loadgen *g, char *err, size_t errlen)
{
    cleave_status st = CLEAVE_OK;
    if (!g)
        return CLEAVE_OK;
    if (g->pid > 0 && has_ended(g->pid) != 0 && !was_killed_all(g->slot))
        record_death(g); /* it died before we asked: that is worth reporting */
    if (g->pid > 0) {
        pid_t pid = g->pid;
        int status = -1;
        kill(pid, SIGTERM);
        int e = wait_ended(pid, STOP_WAIT_MS);
        if (e == 0) {
            kill(pid, SIGKILL);
            e = wait_ended(pid, STOP_WAIT_MS);
        }
        if (e == 0) {
            /* Still there (stuck in the kernel?): keep it in live_g for kill_all. */
            st = fail(CLEAVE_EIO, err, errlen, "load generator '%s' (pid %d) did not stop",
                      g->s.text, (int)pid);
            g->slot = -1;
            goto done;
        }
        reap(g, &status);
    }
    if (g->death[0] && !g->death_told)
        st = fail(CLEAVE_EIO, err, errlen, "%s", g->death);
done:
    free(g);
    return st;
}

pid_t prof_loadgen_pid(const prof_loadgen *g)
{
    return g ? g->pid : 0;
}

void prof_loadgen_get_info(const prof_loadgen *g, prof_loadgen_info *info)
{
    *info = g->info;
    info->pid = g->pid;
}
