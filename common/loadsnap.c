/*
** common/loadsnap.c - dynamic load features (include/cleave/load.h) sampled from /proc, PSI and
** two optional micro-probes; shared by the profiler and the predictor.
*/
#include "common/loadsnap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PROBE_MEM_BYTES ((size_t)32 << 20)
/* Dependent steps of the CPU probe: one 64-bit multiply-add chain (about 4 cycles a step, so
** 2^17 steps take ~0.2 ms on an idle 2.5-3 GHz core). */
#define PROBE_CPU_STEPS 131072

struct cl_loadsnap_probe {
    uint64_t *buf;
    size_t bytes;
};

/* --- public names of the features ------------------------------------------------------ */

static const char *const feature_name_g[] = {
#define LOADF_NAME_(e, name, unit, src) name,
    CLEAVE_LOAD_FEATURE_MAP(LOADF_NAME_)
#undef LOADF_NAME_
};
static const char *const feature_unit_g[] = {
#define LOADF_UNIT_(e, name, unit, src) unit,
    CLEAVE_LOAD_FEATURE_MAP(LOADF_UNIT_)
#undef LOADF_UNIT_
};
static const char *const feature_source_g[] = {
#define LOADF_SRC_(e, name, unit, src) src,
    CLEAVE_LOAD_FEATURE_MAP(LOADF_SRC_)
#undef LOADF_SRC_
};

CLEAVE_API const char *cleave_load_feature_name(cleave_load_feature f)
{
    return (unsigned)f < CLEAVE_LOAD_COUNT ? feature_name_g[f] : NULL;
}

CLEAVE_API const char *cleave_load_feature_unit(cleave_load_feature f)
{
    return (unsigned)f < CLEAVE_LOAD_COUNT ? feature_unit_g[f] : NULL;
}

CLEAVE_API const char *cleave_load_feature_source(cleave_load_feature f)
{
    return (unsigned)f < CLEAVE_LOAD_COUNT ? feature_source_g[f] : NULL;
}

/* --- helpers ----------------------------------------------------------------------------- */

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

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Skip blanks (not newlines). */
static const char *skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Parse an unsigned decimal at *P, advancing *P; 0 on success, -1 if no digits. */
static int parse_ull(const char **p, unsigned long long *out)
{
    const char *s = skip_blanks(*p);
    if (*s < '0' || *s > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    *out = v;
    *p = end;
    return 0;
}

/* The line of TEXT that starts with KEY followed by a blank, or NULL. */
static const char *find_line(const char *text, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, key, n) == 0 && (p[n] == ' ' || p[n] == '\t' || p[n] == ':'))
            return p + n;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

/* --- parsers ------------------------------------------------------------------------------- */

cleave_status cl_parse_proc_stat(const char *text, cl_proc_stat *out, char *err, size_t errlen)
{
    /* proc(5): "cpu  user nice system idle iowait irq softirq steal guest guest_nice"; kernels
    ** before 2.6.11 lack steal and before 2.6.0 lack iowait..softirq, so missing trailing
    ** fields count as 0.  At least user..idle must be there. */
    const char *p = find_line(text, "cpu");
    if (!p)
        return fail(CLEAVE_EPARSE, err, errlen, "malformed '/proc/stat': no 'cpu' line");
    unsigned long long f[8] = {0};
    for (int i = 0; i < 8; i++) {
        if (parse_ull(&p, &f[i]) != 0) {
            if (i < 4)
                return fail(CLEAVE_EPARSE, err, errlen,
                            "malformed '/proc/stat': 'cpu' line has %d fields", i);
            break;
        }
    }
    out->cpu = (cl_cpu_jiffies){f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]};

    p = find_line(text, "procs_running");
    unsigned long long running = 0;
    if (!p || parse_ull(&p, &running) != 0)
        return fail(CLEAVE_EPARSE, err, errlen, "malformed '/proc/stat': no 'procs_running' line");
    out->procs_running = (long)running;
    return CLEAVE_OK;
}

cleave_status cl_parse_pid_stat(const char *text, cl_pid_stat *out, char *err, size_t errlen)
{
    /* Fields after "pid (comm)": 3 state, 4 ppid, ..., 14 utime, 15 stime, ..., 20 num_threads,
    ** 21 itrealvalue, 22 starttime, 23 vsize, 24 rss. */
    const char *p = strrchr(text, ')');
    if (!p || p[1] != ' ' || !p[2])
        return fail(CLEAVE_EPARSE, err, errlen, "malformed process stat: no ') ' after the name");
    p += 2;
    cl_pid_stat s = {0};
    s.state = *p++;
    for (int field = 4; field <= 24; field++) {
        p = skip_blanks(p);
        /* ppid and friends may be negative (tty_pgrp -1): parse as signed, keep as needed. */
        char *end = NULL;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno)
            return fail(CLEAVE_EPARSE, err, errlen, "malformed process stat: field %d", field);
        p = end;
        switch (field) {
        case 14: s.utime = (unsigned long long)v; break;
        case 15: s.stime = (unsigned long long)v; break;
        case 20: s.num_threads = (long)v; break;
        case 24: s.rss_pages = (long)v; break;
        default: break;
        }
    }
    *out = s;
    return CLEAVE_OK;
}

cleave_status cl_parse_psi(const char *text, double *some_total_us, char *err, size_t errlen)
{
    /* "some avg10=0.45 avg60=0.33 avg300=0.19 total=4104682" (Documentation/accounting/psi). */
    const char *p = find_line(text, "some");
    const char *eol = p ? strchr(p, '\n') : NULL;
    const char *t = p ? strstr(p, "total=") : NULL;
    unsigned long long v = 0;
    if (!t || (eol && t > eol))
        return fail(CLEAVE_EPARSE, err, errlen, "malformed pressure file: no 'some ... total='");
    t += 6;
    if (parse_ull(&t, &v) != 0)
        return fail(CLEAVE_EPARSE, err, errlen, "malformed pressure file: bad 'total=' value");
    *some_total_us = (double)v;
    return CLEAVE_OK;
}

cleave_status cl_parse_meminfo(const char *text, cl_meminfo *out, char *err, size_t errlen)
{
    static const char *const keys[3] = {"MemTotal:", "MemFree:", "MemAvailable:"};
    unsigned long long v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(keys[i]);
        const char *p = NULL;
        for (const char *l = text; l && *l;) {
            if (strncmp(l, keys[i], n) == 0) {
                p = l + n;
                break;
            }
            l = strchr(l, '\n');
            if (l)
                l++;
        }
        if (!p) {
            if (i == 2)
                continue; /* MemAvailable appeared in Linux 3.14 */
            return fail(CLEAVE_EPARSE, err, errlen, "malformed '/proc/meminfo': no '%.*s' line",
                        (int)(n - 1), keys[i]);
        }
        if (parse_ull(&p, &v[i]) != 0)
            return fail(CLEAVE_EPARSE, err, errlen, "malformed '/proc/meminfo': bad '%.*s' value",
                        (int)(n - 1), keys[i]);
    }
    if (v[0] == 0)
        return fail(CLEAVE_EPARSE, err, errlen, "malformed '/proc/meminfo': MemTotal is 0");
    out->total_kib = v[0];
    out->free_kib = v[1];
    out->avail_kib = v[2];
    return CLEAVE_OK;
}

/* --- readers ------------------------------------------------------------------------------- */

/* Like cl_read_text(), but also hands back errno so that a caller can tell "absent" from
** "broken" (PSI). */
static cleave_status read_text_errno(const char *path, char **out, int *err_no, char *err,
                                     size_t errlen)
{
    /* /proc files report size 0, so read until EOF into a doubling buffer.  One read() of a
    ** seq_file returns whole records; the loop handles files larger than the buffer. */
    cleave_status st = CLEAVE_OK;
    char *buf = NULL;
    size_t cap = 4096, len = 0;
    int fd = -1;
    *out = NULL;
    *err_no = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err_no = errno;
        st = fail(CLEAVE_EIO, err, errlen, "cannot read '%s': %s", path, strerror(errno));
        goto done;
    }
    buf = malloc(cap);
    if (!buf) {
        st = fail(CLEAVE_ENOMEM, err, errlen, "cannot read '%s': out of memory", path);
        goto done;
    }
    for (;;) {
        if (cap - len < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                st = fail(CLEAVE_ENOMEM, err, errlen, "cannot read '%s': out of memory", path);
                goto done;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *err_no = errno;
            st = fail(CLEAVE_EIO, err, errlen, "cannot read '%s': %s", path, strerror(errno));
            goto done;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
done:
    free(buf);
    if (fd >= 0)
        close(fd);
    return st;
}

cleave_status cl_read_text(const char *path, char **out, char *err, size_t errlen)
{
    int e = 0;
    return read_text_errno(path, out, &e, err, errlen);
}

static const char *root_or_proc(const char *proc_root)
{
    return proc_root && *proc_root ? proc_root : "/proc";
}

/* Read ROOT/REL and hand it to PARSE-like callers: a tiny wrapper that builds the path. */
static cleave_status read_rel(const char *root, const char *rel, char **out, int *err_no, char *err,
                              size_t errlen)
{
    char path[512];
    int n = snprintf(path, sizeof path, "%s/%s", root, rel);
    if (n < 0 || (size_t)n >= sizeof path)
        return fail(CLEAVE_EINVAL, err, errlen, "path too long: '%s/%s'", root, rel);
    return read_text_errno(path, out, err_no, err, errlen);
}

cleave_status cl_read_meminfo(const char *proc_root, cl_meminfo *out, char *err, size_t errlen)
{
    char *text = NULL;
    int e = 0;
    cleave_status st = read_rel(root_or_proc(proc_root), "meminfo", &text, &e, err, errlen);
    if (st == CLEAVE_OK)
        st = cl_parse_meminfo(text, out, err, errlen);
    free(text);
    return st;
}

cleave_status cl_read_pid_stat(const char *proc_root, int pid, cl_pid_stat *out, char *err,
                               size_t errlen)
{
    char rel[64], *text = NULL;
    int e = 0;
    if (pid > 0)
        snprintf(rel, sizeof rel, "%d/stat", pid);
    else
        snprintf(rel, sizeof rel, "self/stat");
    cleave_status st = read_rel(root_or_proc(proc_root), rel, &text, &e, err, errlen);
    if (st == CLEAVE_OK)
        st = cl_parse_pid_stat(text, out, err, errlen);
    free(text);
    return st;
}

/* Count our threads in state R by reading ROOT/self/task/<tid>/stat for every thread.  A thread
** that exits while we walk the directory (ENOENT/ESRCH) is simply not counted. */
static cleave_status count_self_running(const char *root, long *out, char *err, size_t errlen)
{
    cleave_status st = CLEAVE_OK;
    char path[512];
    char *text = NULL;
    DIR *d = NULL;
    long running = 0;
    snprintf(path, sizeof path, "%s/self/task", root);
    d = opendir(path);
    if (!d) {
        st = fail(CLEAVE_EIO, err, errlen, "cannot read '%s': %s", path, strerror(errno));
        goto done;
    }
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char rel[128];
        int e = 0;
        snprintf(rel, sizeof rel, "self/task/%.64s/stat", de->d_name);
        st = read_rel(root, rel, &text, &e, err, errlen);
        if (st != CLEAVE_OK) {
            if (e == ENOENT || e == ESRCH) {
                st = CLEAVE_OK;
                continue;
            }
            goto done;
        }
        cl_pid_stat ps;
        st = cl_parse_pid_stat(text, &ps, err, errlen);
        free(text);
        text = NULL;
        if (st != CLEAVE_OK)
            goto done;
        running += ps.state == 'R';
    }
    *out = running;
done:
    free(text);
    if (d)
        closedir(d);
    return st;
}

/* Read a PSI file; NaN when the kernel has no PSI (no /proc/pressure, or PSI disabled at boot:
** ENOENT, EOPNOTSUPP).  Any other failure is an error. */
static cleave_status read_psi(const char *root, const char *rel, double *out, char *err,
                              size_t errlen)
{
    char *text = NULL;
    int e = 0;
    cleave_status st = read_rel(root, rel, &text, &e, err, errlen);
    if (st != CLEAVE_OK) {
        if (e == ENOENT || e == EOPNOTSUPP || e == ENOTDIR) {
            *out = NAN;
            st = CLEAVE_OK;
        }
        goto done;
    }
    st = cl_parse_psi(text, out, err, errlen);
done:
    free(text);
    return st;
}

cleave_status cl_loadsnap_read(const char *proc_root, cl_loadsnap_reading *out, char *err,
                               size_t errlen)
{
    const char *root = root_or_proc(proc_root);
    char *text = NULL;
    int e = 0;
    cl_loadsnap_reading r;
    cl_pid_stat self;
    memset(&r, 0, sizeof r);
    /* The clock first and /proc/stat right after: the CPU counters and the window length should
    ** describe the same interval as closely as we can make them. */
    r.mono_ns = mono_ns();
    cleave_status st = read_rel(root, "stat", &text, &e, err, errlen);
    if (st == CLEAVE_OK)
        st = cl_parse_proc_stat(text, &r.stat, err, errlen);
    if (st == CLEAVE_OK)
        st = cl_read_pid_stat(root, 0, &self, err, errlen);
    if (st == CLEAVE_OK) {
        r.self_jiffies = self.utime + self.stime;
        st = count_self_running(root, &r.self_running, err, errlen);
    }
    if (st == CLEAVE_OK)
        st = read_psi(root, "pressure/cpu", &r.psi_cpu_us, err, errlen);
    if (st == CLEAVE_OK)
        st = read_psi(root, "pressure/memory", &r.psi_mem_us, err, errlen);
    free(text);
    if (st == CLEAVE_OK)
        *out = r;
    return st;
}

/* --- features -------------------------------------------------------------------------------- */

/* E - B for a counter that should never go backwards; 0 if it did (CPU hot-unplug folds a CPU's
** counters away from the aggregate line). */
static double delta(unsigned long long b, unsigned long long e)
{
    return e > b ? (double)(e - b) : 0.0;
}

static double clamp01(double x)
{
    return x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x;
}

void cl_loadsnap_compute(const cl_loadsnap_reading *b, const cl_loadsnap_reading *e,
                         double runnable_avg, const cl_meminfo *mem, cleave_load *out)
{
    const cl_cpu_jiffies *cb = &b->stat.cpu, *ce = &e->stat.cpu;
    double idle = delta(cb->idle, ce->idle) + delta(cb->iowait, ce->iowait);
    double sys =
        delta(cb->system, ce->system) + delta(cb->irq, ce->irq) + delta(cb->softirq, ce->softirq);
    double all = idle + sys + delta(cb->user, ce->user) + delta(cb->nice, ce->nice) +
                 delta(cb->steal, ce->steal);
    double busy = all - idle;
    double self = delta(b->self_jiffies, e->self_jiffies);

    for (int i = 0; i < CLEAVE_LOAD_COUNT; i++)
        out->v[i] = NAN;
    if (all > 0.0) {
        out->v[CLEAVE_LOAD_SYS_CPU] = sys / all;
        out->v[CLEAVE_LOAD_CPU_UTIL] = busy / all;
        /* Our own utime+stime comes from precise per-task accounting scaled to ticks while
        ** /proc/stat is tick-sampled, so the difference can dip a tick below 0: clamp. */
        out->v[CLEAVE_LOAD_OTHER_CPU] = clamp01((busy - self) / all);
    }
    out->v[CLEAVE_LOAD_RUNNABLE] = runnable_avg < 0.0 ? 0.0 : runnable_avg;

    double window_us = (double)(e->mono_ns - b->mono_ns) / 1000.0;
    if (window_us > 0.0) {
        if (!isnan(b->psi_cpu_us) && !isnan(e->psi_cpu_us))
            out->v[CLEAVE_LOAD_PSI_CPU] = clamp01((e->psi_cpu_us - b->psi_cpu_us) / window_us);
        if (!isnan(b->psi_mem_us) && !isnan(e->psi_mem_us))
            out->v[CLEAVE_LOAD_PSI_MEM] = clamp01((e->psi_mem_us - b->psi_mem_us) / window_us);
    }

    if (mem && mem->total_kib > 0) {
        double total = (double)mem->total_kib;
        out->v[CLEAVE_LOAD_MEM_FREE] = (double)mem->free_kib / 1024.0;
        out->v[CLEAVE_LOAD_MEM_USED] = 1.0 - (double)mem->free_kib / total;
        if (mem->avail_kib > 0)
            out->v[CLEAVE_LOAD_MEM_AVAIL] = (double)mem->avail_kib / total;
    }
}

/* --- the sampler --------------------------------------------------------------------------- */

static double runnable_of(const cl_loadsnap_reading *r)
{
    long n = r->stat.procs_running - r->self_running;
    return n > 0 ? (double)n : 0.0;
}

cleave_status cl_loadsnap_begin(cl_loadsnap_window *w, const cl_loadsnap_opts *o, char *err,
                                size_t errlen)
{
    const char *root = root_or_proc(o ? o->proc_root : NULL);
    memset(w, 0, sizeof *w);
    if (strlen(root) >= sizeof w->proc_root)
        return fail(CLEAVE_EINVAL, err, errlen, "proc root too long: '%s'", root);
    strcpy(w->proc_root, root);
    cleave_status st = cl_loadsnap_read(root, &w->begin, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    w->runnable_sum = runnable_of(&w->begin);
    w->readings = 1;
    return CLEAVE_OK;
}

cleave_status cl_loadsnap_tick(cl_loadsnap_window *w, char *err, size_t errlen)
{
    /* Only procs_running and our running threads matter here, but one reader keeps the code
    ** path the same as begin/end (and /proc/stat is a few KiB). */
    cl_loadsnap_reading r;
    cleave_status st = cl_loadsnap_read(w->proc_root, &r, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    w->runnable_sum += runnable_of(&r);
    w->readings++;
    return CLEAVE_OK;
}

cleave_status cl_loadsnap_end(cl_loadsnap_window *w, const cl_loadsnap_opts *o, cleave_load *out,
                              char *err, size_t errlen)
{
    cl_loadsnap_reading e;
    cl_meminfo mem;
    unsigned probes = o ? o->probes : 0;
    if ((probes & CL_LOADSNAP_PROBE_MEM) && !(o && o->probe))
        return fail(CLEAVE_EINVAL, err, errlen, "memory probe asked for without a probe state");
    cleave_status st = cl_loadsnap_read(w->proc_root, &e, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    st = cl_read_meminfo(w->proc_root, &mem, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    double runnable_avg = (w->runnable_sum + runnable_of(&e)) / (double)(w->readings + 1);
    cl_loadsnap_compute(&w->begin, &e, runnable_avg, &mem, out);
    /* Probes run after the end reading: their own CPU time and memory traffic would otherwise
    ** be part of the window they are meant to describe. */
    if (probes & CL_LOADSNAP_PROBE_CPU)
        out->v[CLEAVE_LOAD_PROBE_CPU] = cl_loadsnap_probe_cpu_ns();
    if (probes & CL_LOADSNAP_PROBE_MEM)
        out->v[CLEAVE_LOAD_PROBE_MEM] = cl_loadsnap_probe_mem_ns(o->probe);
    return CLEAVE_OK;
}

/* Sleep until absolute CLOCK_MONOTONIC time T_NS (restarting after signals). */
static void sleep_until(int64_t t_ns)
{
    struct timespec ts = {(time_t)(t_ns / 1000000000), (long)(t_ns % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

cleave_status cl_loadsnap_sample(int window_ms, const cl_loadsnap_opts *o, cleave_load *out,
                                 char *err, size_t errlen)
{
    if (window_ms < 1 || window_ms > 60000)
        return fail(CLEAVE_EINVAL, err, errlen,
                    "invalid sampling window %d ms: must be between 1 and 60000", window_ms);
    int tick_ms = o && o->tick_ms > 0 ? o->tick_ms : 10;
    cl_loadsnap_window w;
    cleave_status st = cl_loadsnap_begin(&w, o, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    /* Ticks on an absolute schedule from the begin reading, so the window is WINDOW_MS long
    ** whatever the readings cost. */
    int64_t t0 = w.begin.mono_ns, end = t0 + (int64_t)window_ms * 1000000;
    for (int64_t t = t0 + (int64_t)tick_ms * 1000000; t < end; t += (int64_t)tick_ms * 1000000) {
        sleep_until(t);
        st = cl_loadsnap_tick(&w, err, errlen);
        if (st != CLEAVE_OK)
            return st;
    }
    sleep_until(end);
    return cl_loadsnap_end(&w, o, out, err, errlen);
}

/* --- micro-probes -------------------------------------------------------------------------- */

cleave_status cl_loadsnap_probe_create(cl_loadsnap_probe **out, char *err, size_t errlen)
{
    cl_loadsnap_probe *p = NULL;
    *out = NULL;
    p = calloc(1, sizeof *p);
    if (!p)
        return fail(CLEAVE_ENOMEM, err, errlen, "cannot allocate the load probe: out of memory");
    /* mmap rather than malloc: the buffer is page-aligned, and (under ASan) it is not poisoned
    ** shadow memory that would distort the stream being timed. */
    void *m =
        mmap(NULL, PROBE_MEM_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        free(p);
        return fail(CLEAVE_ENOMEM, err, errlen, "cannot allocate the 32 MiB load probe buffer: %s",
                    strerror(errno));
    }
    p->buf = m;
    p->bytes = PROBE_MEM_BYTES;
    /* Touch every word so the first probe does not time page faults. */
    for (size_t i = 0; i < p->bytes / sizeof(uint64_t); i++)
        p->buf[i] = i;
    *out = p;
    return CLEAVE_OK;
}

void cl_loadsnap_probe_destroy(cl_loadsnap_probe *p)
{
    if (!p)
        return;
    munmap(p->buf, p->bytes);
    free(p);
}

double cl_loadsnap_probe_cpu_ns(void)
{
    /* A linear congruential chain (Knuth's MMIX constants): every step depends on the previous
    ** one, so the time is latency-bound and measures only how much of a core we get.
    ** The empty asm makes each step opaque, so the compiler can neither fold the chain nor move
    ** it out of the timed interval. */
    uint64_t x = 88172645463325252ULL;
    int64_t t0 = mono_ns();
    for (int i = 0; i < PROBE_CPU_STEPS; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        __asm__ volatile("" : "+r"(x));
    }
    int64_t t1 = mono_ns();
    return (double)(t1 - t0);
}

double cl_loadsnap_probe_mem_ns(cl_loadsnap_probe *p)
{
    /* Four independent sums so the loop is limited by memory bandwidth, not by an add chain;
    ** the buffer is 32 MiB, larger than most last-level caches, so the stream goes to DRAM
    ** (on CPUs with a larger LLC it measures LLC bandwidth - documented). */
    const uint64_t *b = p->buf;
    size_t n = p->bytes / sizeof(uint64_t);
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    volatile uint64_t sink;
    int64_t t0 = mono_ns();
    for (size_t i = 0; i + 4 <= n; i += 4) {
        s0 += b[i];
        s1 += b[i + 1];
        s2 += b[i + 2];
        s3 += b[i + 3];
    }
    /* The buffer is reachable from the clock call, so the loads cannot move past it. */
    int64_t t1 = mono_ns();
    sink = s0 + s1 + s2 + s3;
    (void)sink;
    return (double)(t1 - t0);
}
