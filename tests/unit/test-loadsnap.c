/*
** tests/unit/test-loadsnap.c - dynamic load features: the /proc parsers on fixed texts, the
** feature arithmetic against hand-computed values, a fake /proc tree (with and without PSI),
** the real sampler's ranges, and that the features rise with a synthetic load.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/loadsnap.h"
#include "profiler/loadgen.h"

#define EPS 1e-12

/* cmocka 1.1.5 has no double comparison; print both values on failure. */
#define assert_near(a, b, eps)                                                                     \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (eps)))                                                             \
            print_error("%s = %.17g, expected %.17g\n", #a, a_, b_);                               \
        assert_true(fabs(a_ - b_) <= (eps));                                                       \
    } while (0)

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* --- names ------------------------------------------------------------------------------- */

static void test_feature_names(void **state)
{
    (void)state;
    static const char *const names[CLEAVE_LOAD_COUNT] = {
        "sys_cpu", "cpu_util", "mem_free_mib", "mem_used",     "other_cpu",    "runnable_other",
        "psi_cpu", "psi_mem",  "mem_avail",    "probe_cpu_ns", "probe_mem_ns",
    };
    for (int f = 0; f < CLEAVE_LOAD_COUNT; f++) {
        assert_string_equal(cleave_load_feature_name((cleave_load_feature)f), names[f]);
        assert_non_null(cleave_load_feature_unit((cleave_load_feature)f));
        assert_non_null(cleave_load_feature_source((cleave_load_feature)f));
    }
    assert_string_equal(cleave_load_feature_unit(CLEAVE_LOAD_MEM_FREE), "MiB");
    assert_string_equal(cleave_load_feature_unit(CLEAVE_LOAD_RUNNABLE), "tasks");
    assert_null(cleave_load_feature_name(CLEAVE_LOAD_COUNT));
    assert_null(cleave_load_feature_unit((cleave_load_feature)-1));
    assert_null(cleave_load_feature_source((cleave_load_feature)99));
}

/* --- parsers ------------------------------------------------------------------------------ */

static const char STAT_BEGIN[] = "cpu  1000 0 500 8000 100 10 20 5 0 0\n"
                                 "cpu0 500 0 250 4000 50 5 10 3 0 0\n"
                                 "cpu1 500 0 250 4000 50 5 10 2 0 0\n"
                                 "intr 123456 0 0 0 0 0 0 0 0 0 0\n"
                                 "ctxt 987654\n"
                                 "btime 1700000000\n"
                                 "processes 4321\n"
                                 "procs_running 5\n"
                                 "procs_blocked 0\n"
                                 "softirq 1000 0 0 0 0 0 0 0 0 0 0\n";

static const char STAT_END[] = "cpu  1100 10 530 8050 110 12 23 5 7 0\n"
                               "cpu0 550 5 265 4025 55 6 12 3 0 0\n"
                               "cpu1 550 5 265 4025 55 6 11 2 7 0\n"
                               "intr 123999 0 0 0 0 0 0 0 0 0 0\n"
                               "ctxt 987999\n"
                               "btime 1700000000\n"
                               "processes 4330\n"
                               "procs_running 6\n"
                               "procs_blocked 1\n";

/* proc(5) layout; the command name holds a space and a ')' to test field counting. */
static const char SELF_BEGIN[] =
    "4242 (cle ave)) S 1 4242 4242 0 -1 4194304 100 0 0 0 300 50 0 0 20 0 3 0 1000 "
    "123456789 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
static const char SELF_END[] =
    "4242 (cle ave)) R 1 4242 4242 0 -1 4194304 100 0 0 0 340 55 0 0 20 0 3 0 1000 "
    "123456789 2600 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

static const char PSI_CPU_BEGIN[] = "some avg10=1.00 avg60=0.50 avg300=0.10 total=1000000\n"
                                    "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
static const char PSI_CPU_END[] = "some avg10=1.00 avg60=0.50 avg300=0.10 total=1025000\n"
                                  "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
/* Kernels before 5.13 have no "full" line for cpu. */
static const char PSI_MEM_BEGIN[] = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
static const char PSI_MEM_END[] = "some avg10=0.00 avg60=0.00 avg300=0.00 total=5000\n";

static const char MEMINFO[] = "MemTotal:       16000000 kB\n"
                              "MemFree:         4000000 kB\n"
                              "MemAvailable:    8000000 kB\n"
                              "Buffers:          100000 kB\n";

static void test_parse_proc_stat(void **state)
{
    (void)state;
    cl_proc_stat s;
    char err[256] = "";
    assert_int_equal(cl_parse_proc_stat(STAT_BEGIN, &s, err, sizeof err), CLEAVE_OK);
    assert_true(s.cpu.user == 1000 && s.cpu.nice == 0 && s.cpu.system == 500);
    assert_true(s.cpu.idle == 8000 && s.cpu.iowait == 100 && s.cpu.irq == 10);
    assert_true(s.cpu.softirq == 20 && s.cpu.steal == 5);
    assert_int_equal(s.procs_running, 5);

    /* A 2.4-era line with four fields: the rest count as 0. */
    assert_int_equal(cl_parse_proc_stat("cpu 1 2 3 4\nprocs_running 1\n", &s, err, sizeof err),
                     CLEAVE_OK);
    assert_true(s.cpu.idle == 4 && s.cpu.iowait == 0 && s.cpu.steal == 0);

    assert_int_equal(cl_parse_proc_stat("cpu0 1 2 3 4\nprocs_running 1\n", &s, err, sizeof err),
                     CLEAVE_EPARSE);
    assert_string_equal(err, "malformed '/proc/stat': no 'cpu' line");
    assert_int_equal(cl_parse_proc_stat("cpu 1 2 x\nprocs_running 1\n", &s, err, sizeof err),
                     CLEAVE_EPARSE);
    assert_string_equal(err, "malformed '/proc/stat': 'cpu' line has 2 fields");
    assert_int_equal(cl_parse_proc_stat("cpu 1 2 3 4 5 6 7 8\n", &s, err, sizeof err),
                     CLEAVE_EPARSE);
    assert_string_equal(err, "malformed '/proc/stat': no 'procs_running' line");
}

static void test_parse_pid_stat(void **state)
{
    (void)state;
    cl_pid_stat p;
    char err[256] = "";
    assert_int_equal(cl_parse_pid_stat(SELF_BEGIN, &p, err, sizeof err), CLEAVE_OK);
    assert_int_equal(p.state, 'S');
    assert_true(p.utime == 300 && p.stime == 50);
    assert_int_equal(p.num_threads, 3);
    assert_int_equal(p.rss_pages, 2560);
    assert_int_equal(cl_parse_pid_stat("12 (x) R 1 2 3", &p, err, sizeof err), CLEAVE_EPARSE);
    assert_string_equal(err, "malformed process stat: field 7");
    assert_int_equal(cl_parse_pid_stat("12 x R 1", &p, err, sizeof err), CLEAVE_EPARSE);
    assert_string_equal(err, "malformed process stat: no ') ' after the name");
}

static void test_parse_psi_meminfo(void **state)
{
    (void)state;
    double t = 0;
    char err[256] = "";
    assert_int_equal(cl_parse_psi(PSI_CPU_END, &t, err, sizeof err), CLEAVE_OK);
    assert_true(t == 1025000.0);
    assert_int_equal(cl_parse_psi(PSI_MEM_END, &t, err, sizeof err), CLEAVE_OK);
    assert_true(t == 5000.0);
    /* "full" alone is not enough, and total= must be on the "some" line. */
    assert_int_equal(cl_parse_psi("full avg10=0.00 total=7\n", &t, err, sizeof err), CLEAVE_EPARSE);
    assert_string_equal(err, "malformed pressure file: no 'some ... total='");
    assert_int_equal(cl_parse_psi("some avg10=0.00\nfull total=7\n", &t, err, sizeof err),
                     CLEAVE_EPARSE);
    assert_int_equal(cl_parse_psi("some total=x\n", &t, err, sizeof err), CLEAVE_EPARSE);
    assert_string_equal(err, "malformed pressure file: bad 'total=' value");

    cl_meminfo m;
    assert_int_equal(cl_parse_meminfo(MEMINFO, &m, err, sizeof err), CLEAVE_OK);
    assert_true(m.total_kib == 16000000 && m.free_kib == 4000000 && m.avail_kib == 8000000);
    /* Before Linux 3.14: no MemAvailable. */
    assert_int_equal(cl_parse_meminfo("MemTotal: 100 kB\nMemFree: 50 kB\n", &m, err, sizeof err),
                     CLEAVE_OK);
    assert_true(m.avail_kib == 0);
    assert_int_equal(cl_parse_meminfo("MemFree: 50 kB\n", &m, err, sizeof err), CLEAVE_EPARSE);
    assert_string_equal(err, "malformed '/proc/meminfo': no 'MemTotal' line");
    assert_int_equal(cl_parse_meminfo("MemTotal: lots\nMemFree: 1 kB\n", &m, err, sizeof err),
                     CLEAVE_EPARSE);
    assert_string_equal(err, "malformed '/proc/meminfo': bad 'MemTotal' value");
}

/* Readings from the fixed texts: window 50 ms. */
static void fixed_readings(cl_loadsnap_reading *b, cl_loadsnap_reading *e, int psi)
{
    cl_pid_stat ps;
    char err[256];
    memset(b, 0, sizeof *b);
    memset(e, 0, sizeof *e);
    assert_int_equal(cl_parse_proc_stat(STAT_BEGIN, &b->stat, err, sizeof err), CLEAVE_OK);
    assert_int_equal(cl_parse_proc_stat(STAT_END, &e->stat, err, sizeof err), CLEAVE_OK);
    assert_int_equal(cl_parse_pid_stat(SELF_BEGIN, &ps, err, sizeof err), CLEAVE_OK);
    b->self_jiffies = ps.utime + ps.stime;
    assert_int_equal(cl_parse_pid_stat(SELF_END, &ps, err, sizeof err), CLEAVE_OK);
    e->self_jiffies = ps.utime + ps.stime;
    b->mono_ns = 1000000000;
    e->mono_ns = 1050000000;
    b->psi_cpu_us = b->psi_mem_us = e->psi_cpu_us = e->psi_mem_us = NAN;
    if (psi) {
        assert_int_equal(cl_parse_psi(PSI_CPU_BEGIN, &b->psi_cpu_us, err, sizeof err), 0);
        assert_int_equal(cl_parse_psi(PSI_CPU_END, &e->psi_cpu_us, err, sizeof err), 0);
        assert_int_equal(cl_parse_psi(PSI_MEM_BEGIN, &b->psi_mem_us, err, sizeof err), 0);
        assert_int_equal(cl_parse_psi(PSI_MEM_END, &e->psi_mem_us, err, sizeof err), 0);
    }
}

/* The features from fixed texts, computed by hand:
**   deltas: user 100, nice 10, system 30, idle 50, iowait 10, irq 2, softirq 3, steal 0
**   (guest 7 is inside user already and not added) -> all = 205, busy = 145, sys = 35
**   our utime+stime: (340+55) - (300+50) = 45 -> other = (145 - 45) / 205 = 100/205
**   PSI: cpu 25000 us / 50000 us = 0.5, memory 5000 / 50000 = 0.1
**   memory: 4000000 kB = 3906.25 MiB free, used 1 - 4/16 = 0.75, available 8/16 = 0.5 */
static void test_compute_by_hand(void **state)
{
    (void)state;
    cl_loadsnap_reading b, e;
    cl_meminfo m;
    cleave_load L;
    char err[256];
    assert_int_equal(cl_parse_meminfo(MEMINFO, &m, err, sizeof err), CLEAVE_OK);

    fixed_readings(&b, &e, 1);
    cl_loadsnap_compute(&b, &e, 2.5, &m, &L);
    assert_near(L.v[CLEAVE_LOAD_CPU_UTIL], 145.0 / 205.0, EPS);
    assert_near(L.v[CLEAVE_LOAD_SYS_CPU], 35.0 / 205.0, EPS);
    assert_near(L.v[CLEAVE_LOAD_OTHER_CPU], 100.0 / 205.0, EPS);
    assert_near(L.v[CLEAVE_LOAD_RUNNABLE], 2.5, EPS);
    assert_near(L.v[CLEAVE_LOAD_PSI_CPU], 0.5, EPS);
    assert_near(L.v[CLEAVE_LOAD_PSI_MEM], 0.1, EPS);
    assert_near(L.v[CLEAVE_LOAD_MEM_FREE], 3906.25, EPS);
    assert_near(L.v[CLEAVE_LOAD_MEM_USED], 0.75, EPS);
    assert_near(L.v[CLEAVE_LOAD_MEM_AVAIL], 0.5, EPS);
    assert_true(isnan(L.v[CLEAVE_LOAD_PROBE_CPU]) && isnan(L.v[CLEAVE_LOAD_PROBE_MEM]));

    /* A kernel without PSI: both PSI features NaN, the rest unchanged. */
    fixed_readings(&b, &e, 0);
    cl_loadsnap_compute(&b, &e, 2.5, &m, &L);
    assert_true(isnan(L.v[CLEAVE_LOAD_PSI_CPU]) && isnan(L.v[CLEAVE_LOAD_PSI_MEM]));
    assert_near(L.v[CLEAVE_LOAD_OTHER_CPU], 100.0 / 205.0, EPS);

    /* Our own usage larger than the machine's busy time (tick sampling vs precise accounting)
    ** clamps at 0; a negative runnable average clamps at 0 too. */
    fixed_readings(&b, &e, 1);
    e.self_jiffies = b.self_jiffies + 150;
    cl_loadsnap_compute(&b, &e, -1.0, &m, &L);
    assert_near(L.v[CLEAVE_LOAD_OTHER_CPU], 0.0, EPS);
    assert_near(L.v[CLEAVE_LOAD_RUNNABLE], 0.0, EPS);
    /* Our own process used none of it: other_cpu = cpu_util. */
    e.self_jiffies = b.self_jiffies;
    cl_loadsnap_compute(&b, &e, 0.0, &m, &L);
    assert_near(L.v[CLEAVE_LOAD_OTHER_CPU], 145.0 / 205.0, EPS);

    /* No jiffy elapsed: the CPU shares are unknown, not 0. */
    cl_loadsnap_compute(&b, &b, 0.0, &m, &L);
    assert_true(isnan(L.v[CLEAVE_LOAD_CPU_UTIL]) && isnan(L.v[CLEAVE_LOAD_OTHER_CPU]));
    assert_true(isnan(L.v[CLEAVE_LOAD_SYS_CPU]) && isnan(L.v[CLEAVE_LOAD_PSI_CPU]));

    /* No MemAvailable: mem_avail NaN. */
    m.avail_kib = 0;
    cl_loadsnap_compute(&b, &e, 0.0, &m, &L);
    assert_true(isnan(L.v[CLEAVE_LOAD_MEM_AVAIL]));
}

/* --- a fake /proc ------------------------------------------------------------------------- */

static void put(const char *root, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static void mkdir_rel(const char *root, const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    assert_int_equal(mkdir(path, 0700), 0);
}

/* A task stat line in state S. */
static void put_task(const char *root, int tid, char state)
{
    char rel[64], text[256];
    snprintf(rel, sizeof rel, "self/task/%d/stat", tid);
    snprintf(text, sizeof text, "%d (cleave) %c 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 3 0 1 1 1\n", tid,
             state);
    put(root, rel, text);
}

/* The whole reader path on a fake tree: begin, rewrite the files, end.  Runnable-other:
** begin 5 running - our 2 in R = 3; end 6 - 1 = 5; mean 4. */
static void test_fake_proc_tree(void **state)
{
    (void)state;
    char root[] = "/tmp/cleave-loadsnap-XXXXXX";
    assert_non_null(mkdtemp(root));
    mkdir_rel(root, "self");
    mkdir_rel(root, "self/task");
    mkdir_rel(root, "self/task/11");
    mkdir_rel(root, "self/task/12");
    mkdir_rel(root, "self/task/13");
    put(root, "meminfo", MEMINFO);

    for (int psi = 0; psi < 2; psi++) {
        if (psi) {
            mkdir_rel(root, "pressure");
            put(root, "pressure/cpu", PSI_CPU_BEGIN);
            put(root, "pressure/memory", PSI_MEM_BEGIN);
        }
        put(root, "stat", STAT_BEGIN);
        put(root, "self/stat", SELF_BEGIN);
        put_task(root, 11, 'R');
        put_task(root, 12, 'S');
        put_task(root, 13, 'R');
        cl_loadsnap_opts o = {.proc_root = root};
        cl_loadsnap_window w;
        cleave_load L;
        char err[256] = "";
        assert_int_equal(cl_loadsnap_begin(&w, &o, err, sizeof err), CLEAVE_OK);
        put(root, "stat", STAT_END);
        put(root, "self/stat", SELF_END);
        put_task(root, 13, 'S');
        if (psi) {
            put(root, "pressure/cpu", PSI_CPU_END);
            put(root, "pressure/memory", PSI_MEM_END);
        }
        sleep_ms(2);
        cleave_status st = cl_loadsnap_end(&w, &o, &L, err, sizeof err);
        if (st != CLEAVE_OK)
            print_error("%s\n", err);
        assert_int_equal(st, CLEAVE_OK);
        assert_near(L.v[CLEAVE_LOAD_CPU_UTIL], 145.0 / 205.0, EPS);
        assert_near(L.v[CLEAVE_LOAD_OTHER_CPU], 100.0 / 205.0, EPS);
        assert_near(L.v[CLEAVE_LOAD_RUNNABLE], 4.0, EPS);
        assert_near(L.v[CLEAVE_LOAD_MEM_AVAIL], 0.5, EPS);
        if (psi) {
            /* 25 ms of stall within a window of a few ms of real time: clamped to 1. */
            assert_near(L.v[CLEAVE_LOAD_PSI_CPU], 1.0, EPS);
            assert_true(L.v[CLEAVE_LOAD_PSI_MEM] > 0.0 && L.v[CLEAVE_LOAD_PSI_MEM] <= 1.0);
        } else {
            assert_true(isnan(L.v[CLEAVE_LOAD_PSI_CPU]) && isnan(L.v[CLEAVE_LOAD_PSI_MEM]));
        }
    }

    /* Errors name the file. */
    char want[600], err[256] = "";
    cl_loadsnap_opts o = {.proc_root = root};
    cl_loadsnap_window w;
    put(root, "stat", "cpu 1 2 3 4 5 6 7 8\n");
    assert_int_equal(cl_loadsnap_begin(&w, &o, err, sizeof err), CLEAVE_EPARSE);
    assert_string_equal(err, "malformed '/proc/stat': no 'procs_running' line");
    char path[512];
    snprintf(path, sizeof path, "%s/stat", root);
    unlink(path);
    assert_int_equal(cl_loadsnap_begin(&w, &o, err, sizeof err), CLEAVE_EIO);
    snprintf(want, sizeof want, "cannot read '%s/stat': No such file or directory", root);
    assert_string_equal(err, want);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);

    /* A memory probe needs its buffer. */
    cleave_load L;
    cl_loadsnap_opts bad = {.probes = CL_LOADSNAP_PROBE_MEM};
    assert_int_equal(cl_loadsnap_begin(&w, NULL, err, sizeof err), CLEAVE_OK);
    assert_int_equal(cl_loadsnap_end(&w, &bad, &L, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "memory probe asked for without a probe state");
    assert_int_equal(cl_loadsnap_sample(0, NULL, &L, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "invalid sampling window 0 ms: must be between 1 and 60000");
}

/* --- the real machine --------------------------------------------------------------------- */

static int in01(double x)
{
    return x >= 0.0 && x <= 1.0;
}

static void test_real_sampler(void **state)
{
    (void)state;
    cl_loadsnap_probe *probe = NULL;
    char err[256] = "";
    assert_int_equal(cl_loadsnap_probe_create(&probe, err, sizeof err), CLEAVE_OK);
    cl_loadsnap_opts o = {.probes = CL_LOADSNAP_PROBE_CPU | CL_LOADSNAP_PROBE_MEM, .probe = probe};
    cleave_load L;
    cleave_status st = cl_loadsnap_sample(50, &o, &L, err, sizeof err);
    if (st != CLEAVE_OK)
        print_error("%s\n", err);
    assert_int_equal(st, CLEAVE_OK);
    for (int f = 0; f < CLEAVE_LOAD_COUNT; f++)
        print_message("%-15s %14.4f %s\n", cleave_load_feature_name((cleave_load_feature)f), L.v[f],
                      cleave_load_feature_unit((cleave_load_feature)f));
    assert_true(in01(L.v[CLEAVE_LOAD_CPU_UTIL]));
    assert_true(in01(L.v[CLEAVE_LOAD_SYS_CPU]));
    assert_true(in01(L.v[CLEAVE_LOAD_OTHER_CPU]));
    assert_true(L.v[CLEAVE_LOAD_OTHER_CPU] <= L.v[CLEAVE_LOAD_CPU_UTIL] + EPS);
    assert_true(L.v[CLEAVE_LOAD_SYS_CPU] <= L.v[CLEAVE_LOAD_CPU_UTIL] + EPS);
    assert_true(L.v[CLEAVE_LOAD_RUNNABLE] >= 0.0 && L.v[CLEAVE_LOAD_RUNNABLE] < 1000.0);
    assert_true(in01(L.v[CLEAVE_LOAD_MEM_USED]) && in01(L.v[CLEAVE_LOAD_MEM_AVAIL]));
    assert_true(L.v[CLEAVE_LOAD_MEM_FREE] > 0.0);
    if (access("/proc/pressure/cpu", R_OK) == 0) {
        assert_true(in01(L.v[CLEAVE_LOAD_PSI_CPU]));
        assert_true(in01(L.v[CLEAVE_LOAD_PSI_MEM]));
    } else {
        assert_true(isnan(L.v[CLEAVE_LOAD_PSI_CPU]));
    }
    /* The probes ran: positive and below a second. */
    assert_true(L.v[CLEAVE_LOAD_PROBE_CPU] > 1e3 && L.v[CLEAVE_LOAD_PROBE_CPU] < 1e9);
    assert_true(L.v[CLEAVE_LOAD_PROBE_MEM] > 1e3 && L.v[CLEAVE_LOAD_PROBE_MEM] < 1e9);
    /* Without probes they are NaN. */
    assert_int_equal(cl_loadsnap_sample(20, NULL, &L, err, sizeof err), CLEAVE_OK);
    assert_true(isnan(L.v[CLEAVE_LOAD_PROBE_CPU]) && isnan(L.v[CLEAVE_LOAD_PROBE_MEM]));
    cl_loadsnap_probe_destroy(probe);
    cl_loadsnap_probe_destroy(NULL);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One 200 ms window of every feature under the load SPEC ("none" or a level). */
static void window_under(const char *spec, cleave_load *out)
{
    const char *specs[] = {spec};
    prof_load_setting *v = NULL;
    size_t n = 0;
    prof_loadgen *g = NULL;
    char err[256] = "";
    assert_int_equal(prof_load_parse(&v, &n, specs, 1, err, sizeof err), CLEAVE_OK);
    cleave_status st = prof_loadgen_start(&g, &v[0], err, sizeof err);
    if (st != CLEAVE_OK)
        print_error("%s\n", err);
    assert_int_equal(st, CLEAVE_OK);
    free(v);
    sleep_ms(50); /* let the threads reach their duty cycle */
    assert_int_equal(cl_loadsnap_sample(200, NULL, out, err, sizeof err), CLEAVE_OK);
    assert_int_equal(prof_loadgen_stop(g, err, sizeof err), CLEAVE_OK);
}

/* The median over 3 rounds of every feature at each of NLEVELS load levels.  The levels are
** interleaved within each round, so a change in other processes' load during the test hits
** every level alike instead of looking like an effect of one level. */
static void median_features(const char *const *levels, int nlevels, cleave_load *med)
{
    enum { ROUNDS = 3 };
    cleave_load w[8][ROUNDS];
    assert_true(nlevels <= 8);
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < nlevels; i++)
            window_under(levels[i], &w[i][r]);
    for (int i = 0; i < nlevels; i++) {
        for (int f = 0; f < CLEAVE_LOAD_COUNT; f++) {
            double x[ROUNDS];
            for (int r = 0; r < ROUNDS; r++)
                x[r] = w[i][r].v[f];
            qsort(x, ROUNDS, sizeof x[0], cmp_double);
            med[i].v[f] = x[ROUNDS / 2];
        }
    }
}

/* cpu_util, other_cpu and psi_cpu rise with 0, ncpu/2, ncpu and 2 ncpu busy threads (PSI
** counts *waiting* for a CPU, so it needs more runnable threads than CPUs to rise clearly);
** mem_used rises and mem_avail falls with memcap.  Tolerances absorb other processes on this
** shared machine: no step may fall by more than 0.05 (PSI: 0.1), and the rise must be at
** least half of what the idle CPU left by others allows. */
static void test_rise_with_load(void **state)
{
    (void)state;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int half = ncpu >= 2 ? (int)ncpu / 2 : 1;
    char lv[4][64];
    snprintf(lv[0], sizeof lv[0], "none");
    snprintf(lv[1], sizeof lv[1], "cpu=100,cpu_threads=%d", half);
    snprintf(lv[2], sizeof lv[2], "cpu=100,cpu_threads=%ld", ncpu);
    snprintf(lv[3], sizeof lv[3], "cpu=100,cpu_threads=%ld", 2 * ncpu);
    const char *const levels[4] = {lv[0], lv[1], lv[2], lv[3]};
    static const cleave_load_feature feats[3] = {CLEAVE_LOAD_CPU_UTIL, CLEAVE_LOAD_OTHER_CPU,
                                                 CLEAVE_LOAD_PSI_CPU};
    cleave_load med[4];
    median_features(levels, 4, med);
    for (int k = 0; k < 3; k++) {
        cleave_load_feature f = feats[k];
        print_message("%-10s %.3f %.3f %.3f %.3f\n", cleave_load_feature_name(f), med[0].v[f],
                      med[1].v[f], med[2].v[f], med[3].v[f]);
        if (isnan(med[0].v[f])) {
            assert_true(f == CLEAVE_LOAD_PSI_CPU); /* only PSI may be absent */
            continue;
        }
        double tol = f == CLEAVE_LOAD_PSI_CPU ? 0.1 : 0.05;
        for (int i = 1; i < 4; i++)
            assert_true(med[i].v[f] >= med[i - 1].v[f] - tol);
    }
    /* At level 2 every CPU is busy whatever else runs: the rise must be at least half of the
    ** idle CPU that other processes left at level 0.  (Intermediate levels are only checked
    ** for monotonicity: bursts of other processes' work make their exact value noisy.) */
    double base = med[0].v[CLEAVE_LOAD_CPU_UTIL], headroom = 1.0 - base;
    if (headroom >= 0.1) {
        assert_true(med[2].v[CLEAVE_LOAD_CPU_UTIL] >= base + 0.5 * headroom);
        assert_true(med[2].v[CLEAVE_LOAD_OTHER_CPU] >=
                    med[0].v[CLEAVE_LOAD_OTHER_CPU] + 0.5 * headroom);
    } else {
        print_message("machine already busy (cpu_util %.2f): only monotonicity checked\n", base);
    }
    /* Twice as many busy threads as CPUs: some thread waits most of the time. */
    if (!isnan(med[0].v[CLEAVE_LOAD_PSI_CPU]))
        assert_true(med[3].v[CLEAVE_LOAD_PSI_CPU] >= med[0].v[CLEAVE_LOAD_PSI_CPU] + 0.2);

    /* 2 GiB of touched memory moves mem_used up and mem_avail down by 2 GiB / MemTotal (half
    ** of it is required: the rest of the machine moves too).  512 MiB was too small a step on
    ** a 24 GiB machine where compilers come and go: 0.009 of a required 0.011 was seen. */
    cl_meminfo mi;
    char err[256], spec[64];
    assert_int_equal(cl_read_meminfo(NULL, &mi, err, sizeof err), CLEAVE_OK);
    double bytes = 2048.0 * 1048576.0, avail = (double)mi.avail_kib * 1024.0;
    if (avail < 4.0 * bytes)
        return;
    snprintf(spec, sizeof spec, "memcap=%.6f", bytes / avail);
    const char *const mlevels[2] = {"none", spec};
    cleave_load mem[2];
    median_features(mlevels, 2, mem);
    double share = bytes / ((double)mi.total_kib * 1024.0);
    print_message("mem_used %.4f -> %.4f, mem_avail %.4f -> %.4f (expected step %.4f)\n",
                  mem[0].v[CLEAVE_LOAD_MEM_USED], mem[1].v[CLEAVE_LOAD_MEM_USED],
                  mem[0].v[CLEAVE_LOAD_MEM_AVAIL], mem[1].v[CLEAVE_LOAD_MEM_AVAIL], share);
    assert_true(mem[1].v[CLEAVE_LOAD_MEM_USED] >= mem[0].v[CLEAVE_LOAD_MEM_USED] + 0.5 * share);
    assert_true(mem[1].v[CLEAVE_LOAD_MEM_AVAIL] <= mem[0].v[CLEAVE_LOAD_MEM_AVAIL] - 0.5 * share);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feature_names),   cmocka_unit_test(test_parse_proc_stat),
        cmocka_unit_test(test_parse_pid_stat),  cmocka_unit_test(test_parse_psi_meminfo),
        cmocka_unit_test(test_compute_by_hand), cmocka_unit_test(test_fake_proc_tree),
        cmocka_unit_test(test_real_sampler),    cmocka_unit_test(test_rise_with_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
