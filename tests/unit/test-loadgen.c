/*
** tests/unit/test-loadgen.c - the load generator: parsing levels, CPU duty accuracy, memory
** capacity and bandwidth, and that no generator ever outlives its parent.
*/
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/loadsnap.h"
#include "common/sysinfo.h"
#include "profiler/loadgen.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Parse SPECS and expect success with N settings. */
static prof_load_setting *parse_ok(const char *const *specs, size_t nspecs, size_t n)
{
    prof_load_setting *v = NULL;
    size_t got = 0;
    char err[256] = "";
    cleave_status st = prof_load_parse(&v, &got, specs, nspecs, err, sizeof err);
    if (st != CLEAVE_OK)
        print_error("unexpected error: %s\n", err);
    assert_int_equal(st, CLEAVE_OK);
    assert_int_equal(got, n);
    return v;
}

/* --- parsing --------------------------------------------------------------------------- */

static void test_parse_cross_product(void **state)
{
    (void)state;
    const char *specs[] = {"cpu=0,50,100", "membw=0,1", "memcap=0,0.3"};
    prof_load_setting *v = parse_ok(specs, 3, 12);
    /* cpu slowest, memcap fastest. */
    static const char *const texts[12] = {
        "cpu=0,membw=0,memcap=0",     "cpu=0,membw=0,memcap=0.3",  "cpu=0,membw=1,memcap=0",
        "cpu=0,membw=1,memcap=0.3",   "cpu=50,membw=0,memcap=0",   "cpu=50,membw=0,memcap=0.3",
        "cpu=50,membw=1,memcap=0",    "cpu=50,membw=1,memcap=0.3", "cpu=100,membw=0,memcap=0",
        "cpu=100,membw=0,memcap=0.3", "cpu=100,membw=1,memcap=0",  "cpu=100,membw=1,memcap=0.3",
    };
    for (int i = 0; i < 12; i++) {
        assert_string_equal(v[i].text, texts[i]);
        assert_int_equal(v[i].none, 0);
        assert_true(v[i].cpu_pct == (double)(i / 4 * 50));
        assert_int_equal(v[i].membw_threads, i / 2 % 2);
        assert_true(v[i].memcap_frac == (i % 2 ? 0.3 : 0.0));
        assert_int_equal(v[i].cpu_threads, 0);
    }
    free(v);
}

static void test_parse_forms(void **state)
{
    (void)state;
    /* Several keys in one string, blanks around it, and a key left out (level 0). */
    const char *one[] = {" cpu=25,75,membw=2 "};
    prof_load_setting *v = parse_ok(one, 1, 2);
    assert_string_equal(v[0].text, "cpu=25,membw=2,memcap=0");
    assert_string_equal(v[1].text, "cpu=75,membw=2,memcap=0");
    free(v);

    const char *threads[] = {"cpu=100", "cpu_threads=1,2"};
    v = parse_ok(threads, 2, 2);
    assert_string_equal(v[0].text, "cpu=100,membw=0,memcap=0,cpu_threads=1");
    assert_string_equal(v[1].text, "cpu=100,membw=0,memcap=0,cpu_threads=2");
    assert_int_equal(v[1].cpu_threads, 2);
    free(v);

    const char *none[] = {"none"};
    v = parse_ok(none, 1, 1);
    assert_int_equal(v[0].none, 1);
    assert_string_equal(v[0].text, "none");
    free(v);

    const char *frac[] = {"cpu=12.5", "memcap=0.05"};
    v = parse_ok(frac, 2, 1);
    assert_string_equal(v[0].text, "cpu=12.5,membw=0,memcap=0.05");
    free(v);
}

/* Every canonical text parses back to exactly its own setting. */
static void test_parse_canonical_round_trip(void **state)
{
    (void)state;
    const char *specs[] = {"cpu=0,33.3,100", "membw=0,3", "memcap=0,0.15,0.9", "cpu_threads=4"};
    prof_load_setting *v = parse_ok(specs, 4, 18);
    for (int i = 0; i < 18; i++) {
        const char *again[] = {v[i].text};
        prof_load_setting *w = parse_ok(again, 1, 1);
        assert_string_equal(w[0].text, v[i].text);
        assert_true(w[0].cpu_pct == v[i].cpu_pct);
        assert_true(w[0].memcap_frac == v[i].memcap_frac);
        assert_int_equal(w[0].membw_threads, v[i].membw_threads);
        assert_int_equal(w[0].cpu_threads, v[i].cpu_threads);
        free(w);
    }
    free(v);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *specs[3];
        size_t n;
        cleave_status st;
        const char *msg;
    } cases[] = {
        {{""}, 1, CLEAVE_EPARSE, "empty load specification"},
        {{"  "}, 1, CLEAVE_EPARSE, "empty load specification"},
        {{NULL}, 0, CLEAVE_EPARSE, "empty load specification"},
        {{"gpu=50"}, 1, CLEAVE_EPARSE, "unknown load key 'gpu'"},
        {{"cpu=0", "foo=1,2"}, 2, CLEAVE_EPARSE, "unknown load key 'foo'"},
        {{"50"}, 1, CLEAVE_EPARSE, "expected KEY=VALUE in load '50'"},
        {{"cpu="}, 1, CLEAVE_EPARSE, "missing value for load key 'cpu'"},
        {{"cpu=0,,50"}, 1, CLEAVE_EPARSE, "missing value for load key 'cpu'"},
        {{"membw=1,"}, 1, CLEAVE_EPARSE, "missing value for load key 'membw'"},
        {{"cpu=0", "cpu=50"}, 2, CLEAVE_EPARSE, "duplicate load key 'cpu'"},
        {{"cpu=abc"}, 1, CLEAVE_EPARSE, "invalid load value 'abc' for 'cpu': not a number"},
        {{"cpu=50%"}, 1, CLEAVE_EPARSE, "invalid load value '50%' for 'cpu': not a number"},
        {{"cpu=0x10"}, 1, CLEAVE_EPARSE, "invalid load value '0x10' for 'cpu': not a number"},
        {{"cpu=nan"}, 1, CLEAVE_EPARSE, "invalid load value 'nan' for 'cpu': not a number"},
        {{"cpu=1e999"}, 1, CLEAVE_EPARSE, "invalid load value '1e999' for 'cpu': not a number"},
        {{"cpu=-5"},
         1,
         CLEAVE_ERANGE,
         "invalid load value '-5' for 'cpu': must be between 0 and 100"},
        {{"cpu=0,100.5"},
         1,
         CLEAVE_ERANGE,
         "invalid load value '100.5' for 'cpu': must be between 0 and 100"},
        {{"memcap=0.95"},
         1,
         CLEAVE_ERANGE,
         "invalid load value '0.95' for 'memcap': must be between 0 and 0.9"},
        {{"memcap=-0.1"},
         1,
         CLEAVE_ERANGE,
         "invalid load value '-0.1' for 'memcap': must be between 0 and 0.9"},
        {{"memcap=lots"}, 1, CLEAVE_EPARSE, "invalid load value 'lots' for 'memcap': not a number"},
        {{"membw=1.5"},
         1,
         CLEAVE_EPARSE,
         "invalid load value '1.5' for 'membw': not a whole number"},
        {{"membw=-1"},
         1,
         CLEAVE_ERANGE,
         "invalid load value '-1' for 'membw': must be between 0 and 1024"},
        {{"membw=2000"},
         1,
         CLEAVE_ERANGE,
         "invalid load value '2000' for 'membw': must be between 0 and 1024"},
        {{"cpu_threads=0"},
         1,
         CLEAVE_ERANGE,
         "invalid load value '0' for 'cpu_threads': must be between 1 and 1024"},
        {{"none", "cpu=50"},
         2,
         CLEAVE_EPARSE,
         "load 'none' cannot be combined with other load levels"},
        {{"cpu=50,none"},
         1,
         CLEAVE_EPARSE,
         "load 'none' cannot be combined with other load levels"},
        {{"none", "none"},
         2,
         CLEAVE_EPARSE,
         "load 'none' cannot be combined with other load levels"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        prof_load_setting dummy, *v = &dummy; /* must be reset to NULL */
        size_t n = 99;
        char err[256] = "";
        cleave_status st = prof_load_parse(&v, &n, cases[i].specs, cases[i].n, err, sizeof err);
        if (st != cases[i].st || strcmp(err, cases[i].msg) != 0)
            print_error("case %zu: status %d, message '%s'\n", i, (int)st, err);
        assert_int_equal(st, cases[i].st);
        assert_string_equal(err, cases[i].msg);
        assert_null(v);
        assert_int_equal(n, 0);
    }

    /* 16 x 14 x 10 = 2240 settings fit; doubling them by a fourth key does not. */
    const char *big[] = {"cpu=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
                         "membw=0,1,2,3,4,5,6,7,8,9,10,11,12,13",
                         "memcap=0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", "cpu_threads=1,2"};
    prof_load_setting *v = parse_ok(big, 3, 2240);
    free(v);
    size_t n = 0;
    char err[256] = "";
    assert_int_equal(prof_load_parse(&v, &n, big, 4, err, sizeof err), CLEAVE_ERANGE);
    assert_string_equal(err, "too many load settings (4480, at most 4096)");
    assert_null(v);
}

/* --- sizes ------------------------------------------------------------------------------ */

static void test_sizes(void **state)
{
    (void)state;
    const uint64_t G = (uint64_t)1 << 30, M = (uint64_t)1 << 20;
    /* 0.25 of 24 GiB = 6 GiB, below the 12 GiB cap. */
    assert_true(prof_memcap_bytes(0.25, 24 * G, 4096) == 6 * G);
    /* 0.9 of 24 GiB is capped at half. */
    assert_true(prof_memcap_bytes(0.9, 24 * G, 4096) == 12 * G);
    /* 1.5 GiB available: half is 768 MiB, but only 512 MiB may go (1 GiB must stay). */
    assert_true(prof_memcap_bytes(0.9, 3 * G / 2, 4096) == 512 * M);
    const uint64_t tenth = (uint64_t)(0.1 * (double)(1536 * M)) / 4096 * 4096;
    assert_true(prof_memcap_bytes(0.1, 3 * G / 2, 4096) == tenth);
    assert_true(prof_memcap_bytes(0.5, G, 4096) == 0);
    assert_true(prof_memcap_bytes(0.0, 24 * G, 4096) == 0);

    assert_true(prof_parse_cache_size("32768K\n") == 32 * M);
    assert_true(prof_parse_cache_size("1M") == M);
    assert_true(prof_parse_cache_size("512") == 512);
    assert_true(prof_parse_cache_size("abc") == 0);
    assert_true(prof_parse_cache_size("12X") == 0);

    assert_true(prof_membw_bytes(32 * M) == 256 * M);
    assert_true(prof_membw_bytes(M) == 64 * M);
    assert_true(prof_membw_bytes(0) == 256 * M);
    /* This machine's sysfs names a last-level cache. */
    uint64_t llc = prof_llc_bytes();
    assert_true(llc >= 256 * 1024);
}

/* --- the child ------------------------------------------------------------------------- */

static prof_loadgen *start_ok(const char *spec)
{
    const char *specs[] = {spec};
    prof_load_setting *v = parse_ok(specs, 1, 1);
    prof_loadgen *g = NULL;
    char err[256] = "";
    cleave_status st = prof_loadgen_start(&g, &v[0], err, sizeof err);
    if (st != CLEAVE_OK)
        print_error("start '%s': %s\n", spec, err);
    assert_int_equal(st, CLEAVE_OK);
    assert_non_null(g);
    free(v);
    return g;
}

static void stop_ok(prof_loadgen *g)
{
    char err[256] = "";
    pid_t pid = prof_loadgen_pid(g);
    cleave_status st = prof_loadgen_stop(g, err, sizeof err);
    if (st != CLEAVE_OK)
        print_error("stop: %s\n", err);
    assert_int_equal(st, CLEAVE_OK);
    if (pid > 0)
        assert_true(kill(pid, 0) == -1 && errno == ESRCH);
}

/* CPU time (utime + stime, seconds) of process PID, and the sum over its threads of run time
** and run-queue wait (seconds, from /proc/PID/task/TID/schedstat). */
static void child_times(pid_t pid, double *cpu_s, double *run_wait_s)
{
    cl_pid_stat ps;
    char err[256];
    assert_int_equal(cl_read_pid_stat(NULL, pid, &ps, err, sizeof err), CLEAVE_OK);
    *cpu_s = (double)(ps.utime + ps.stime) / (double)sysconf(_SC_CLK_TCK);
    *run_wait_s = 0.0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char p2[128];
        snprintf(p2, sizeof p2, "/proc/%d/task/%.32s/schedstat", (int)pid, de->d_name);
        FILE *f = fopen(p2, "r");
        unsigned long long run = 0, wait = 0;
        if (f && fscanf(f, "%llu %llu", &run, &wait) == 2)
            *run_wait_s += (double)(run + wait) * 1e-9;
        if (f)
            fclose(f);
    }
    closedir(d);
}

/* The generator's CPU share per thread is its duty within +-10 points.  Measured from the
** child's own CPU time (so other processes' load is not counted).  When other processes keep
** the child's threads waiting for a CPU, its CPU time falls short of the duty through no fault
** of its own: a shortfall is accepted when the threads' run-queue wait (schedstat) accounts for
** it.  A generator that simply spins too little waits for nothing and still fails, and one
** that spins too much fails whatever else runs. */
static void test_cpu_duty(void **state)
{
    (void)state;
    static const int duty[3] = {25, 50, 100};
    for (int i = 0; i < 3; i++) {
        char spec[32];
        snprintf(spec, sizeof spec, "cpu=%d", duty[i]);
        prof_loadgen *g = start_ok(spec);
        prof_loadgen_info info;
        prof_loadgen_get_info(g, &info);
        assert_int_equal(info.cpu_threads, (int)sysconf(_SC_NPROCESSORS_ONLN));
        sleep_ms(100);
        double c0, rw0, c1, rw1;
        double t0 = now_s();
        child_times(info.pid, &c0, &rw0);
        sleep_ms(1000);
        child_times(info.pid, &c1, &rw1);
        double wall = now_s() - t0;
        double share = (c1 - c0) / (wall * info.cpu_threads);
        double waited = (rw1 - rw0) / (wall * info.cpu_threads) - share;
        double target = duty[i] / 100.0;
        print_message("cpu=%d: child CPU share per thread %.3f, run-queue wait %.3f\n", duty[i],
                      share, waited);
        assert_true(share <= target + 0.10);
        if (share < target - 0.10) {
            print_message("cpu=%d: short by %.3f; waiting for a CPU explains %.3f\n", duty[i],
                          target - 0.10 - share, waited);
            assert_true(waited >= target - 0.10 - share);
        }
        stop_ok(g);
    }
}

static void test_none_and_idle(void **state)
{
    (void)state;
    prof_loadgen *g = start_ok("none");
    assert_int_equal(prof_loadgen_pid(g), 0);
    char err[256] = "";
    assert_int_equal(prof_loadgen_check(g, err, sizeof err), CLEAVE_OK);
    stop_ok(g);

    /* All-zero levels run an idle child: it exists, and costs no CPU. */
    g = start_ok("cpu=0");
    pid_t pid = prof_loadgen_pid(g);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, 0), 0);
    assert_int_equal(prof_loadgen_check(g, err, sizeof err), CLEAVE_OK);
    stop_ok(g);
    assert_int_equal(prof_loadgen_stop(NULL, err, sizeof err), CLEAVE_OK);
}

/* Settings the generator refuses before forking: out of range, and more memory than there is. */
static void test_start_refused(void **state)
{
    (void)state;
    prof_load_setting s;
    prof_loadgen *g = (prof_loadgen *)&s; /* must be reset to NULL */
    char err[256] = "", want[256];
    memset(&s, 0, sizeof s);
    s.cpu_pct = 150.0;
    assert_int_equal(prof_loadgen_start(&g, &s, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "invalid load setting 'cpu=150,membw=0,memcap=0'");
    assert_null(g);

    cl_meminfo mi;
    assert_int_equal(cl_read_meminfo(NULL, &mi, err, sizeof err), CLEAVE_OK);
    uint64_t avail = mi.avail_kib * 1024, bw = prof_membw_bytes(prof_llc_bytes());
    uint64_t n = avail / bw + 1;
    if (n > PROF_LOAD_MAX_THREADS) {
        print_message("skipping: too much memory to exhaust with membw threads\n");
        return;
    }
    memset(&s, 0, sizeof s);
    s.membw_threads = (int)n;
    assert_int_equal(prof_loadgen_start(&g, &s, err, sizeof err), CLEAVE_ERANGE);
    /* MemAvailable moves between our read and the generator's: compare the fixed parts. */
    snprintf(want, sizeof want,
             "cannot start load generator: 'cpu=0,membw=%d,memcap=0' needs %llu MiB of memory, "
             "only ",
             (int)n, (unsigned long long)(n * bw >> 20));
    assert_memory_equal(err, want, strlen(want));
    assert_non_null(strstr(err, " MiB available"));
    assert_null(g);
}

/* A child that dies on its own is reported, by check() or else by stop(). */
static void test_child_death_reported(void **state)
{
    (void)state;
    char err[256] = "", want[256];
    for (int via_check = 0; via_check < 2; via_check++) {
        prof_loadgen *g = start_ok("cpu=10");
        pid_t pid = prof_loadgen_pid(g);
        assert_int_equal(kill(pid, SIGKILL), 0);
        sleep_ms(50);
        snprintf(want, sizeof want,
                 "load generator 'cpu=10,membw=0,memcap=0' (pid %d) died: "
                 "killed by signal 9 (SIGKILL)",
                 (int)pid);
        if (via_check) {
            assert_int_equal(prof_loadgen_check(g, err, sizeof err), CLEAVE_EIO);
            assert_string_equal(err, want);
            assert_int_equal(prof_loadgen_pid(g), 0);
            stop_ok(g); /* already told: stop is clean */
        } else {
            assert_int_equal(prof_loadgen_stop(g, err, sizeof err), CLEAVE_EIO);
            assert_string_equal(err, want);
        }
        assert_true(kill(pid, 0) == -1 && errno == ESRCH);
    }
}

/* kill_all (the CLI's signal path) shoots every running child; stop then reaps them quietly. */
static void test_kill_all(void **state)
{
    (void)state;
    prof_loadgen *a = start_ok("cpu=10");
    prof_loadgen *b = start_ok("membw=0");
    pid_t pa = prof_loadgen_pid(a), pb = prof_loadgen_pid(b);
    prof_loadgen_kill_all();
    sleep_ms(20);
    stop_ok(a);
    stop_ok(b);
    assert_true(kill(pa, 0) == -1 && errno == ESRCH);
    assert_true(kill(pb, 0) == -1 && errno == ESRCH);
    /* The slots are reusable and a later death is reported again. */
    prof_loadgen *c = start_ok("cpu=10");
    pid_t pc = prof_loadgen_pid(c);
    kill(pc, SIGKILL);
    sleep_ms(20);
    char err[256];
    assert_int_equal(prof_loadgen_stop(c, err, sizeof err), CLEAVE_EIO);
}

/* How an intermediate parent process ends. */
enum { END_SIGTERM_HANDLER, END_SIGTERM_DEFAULT, END_SIGKILL };

static void on_term(int sig)
{
    (void)sig;
    prof_loadgen_kill_all();
    _exit(143);
}

/* Fork a parent P that starts a generator G and waits; end P as HOW says; G must be gone
** within 2 s.  This test process is a child subreaper, so the orphaned G is reparented to us
** and we can reap it and see how it ended. */
static void run_orphan_case(int how)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        close(fds[0]);
        if (how == END_SIGTERM_HANDLER) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_term;
            sigaction(SIGTERM, &sa, NULL);
        }
        const char *specs[] = {"cpu=20"};
        prof_load_setting *v = NULL;
        size_t n = 0;
        prof_loadgen *g = NULL;
        char err[256];
        int gpid = -1;
        if (prof_load_parse(&v, &n, specs, 1, err, sizeof err) == CLEAVE_OK &&
            prof_loadgen_start(&g, &v[0], err, sizeof err) == CLEAVE_OK)
            gpid = (int)prof_loadgen_pid(g);
        if (write(fds[1], &gpid, sizeof gpid) != sizeof gpid)
            _exit(1);
        for (;;)
            pause();
    }
    close(fds[1]);
    int gpid = -1;
    assert_int_equal(read(fds[0], &gpid, sizeof gpid), (ssize_t)sizeof gpid);
    close(fds[0]);
    assert_true(gpid > 0);
    assert_int_equal(kill(gpid, 0), 0);

    kill(p, how == END_SIGKILL ? SIGKILL : SIGTERM);
    int status = 0;
    assert_int_equal(waitpid(p, &status, 0), p);
    if (how == END_SIGTERM_HANDLER)
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 143);
    else
        assert_true(WIFSIGNALED(status));

    /* G is killed by kill_all or by PR_SET_PDEATHSIG; either way SIGKILL, within 2 s. */
    double t0 = now_s();
    pid_t r = 0;
    while ((r = waitpid(gpid, &status, WNOHANG)) == 0 && now_s() - t0 < 2.0)
        sleep_ms(5);
    if (r != gpid)
        kill(gpid, SIGKILL); /* do not leave it behind even when failing */
    assert_int_equal(r, gpid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_true(kill(gpid, 0) == -1 && errno == ESRCH);
}

static void test_no_orphan_after_sigterm_handler(void **state)
{
    (void)state;
    run_orphan_case(END_SIGTERM_HANDLER);
}

static void test_no_orphan_after_sigterm_default(void **state)
{
    (void)state;
    run_orphan_case(END_SIGTERM_DEFAULT);
}

static void test_no_orphan_after_sigkill(void **state)
{
    (void)state;
    run_orphan_case(END_SIGKILL);
}

/* A child that cannot set up its load makes start() fail with the reason, and leaves nothing
** behind.  An intermediate process limits its address space (RLIMIT_AS) to its current size
** plus 128 MiB, so the generator's 256 MiB bandwidth buffer cannot be mapped. */
static void test_start_failure_reported(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        close(fds[0]);
        char msg[256] = "", *status = NULL;
        int st = 1;
        unsigned long long vm_kib = 0;
        if (cl_read_text("/proc/self/status", &status, msg, sizeof msg) == CLEAVE_OK) {
            const char *v = strstr(status, "VmSize:");
            if (v)
                vm_kib = strtoull(v + 7, NULL, 10);
            free(status);
        }
        struct rlimit rl = {vm_kib * 1024 + (128ULL << 20), vm_kib * 1024 + (128ULL << 20)};
        if (vm_kib == 0 || setrlimit(RLIMIT_AS, &rl) != 0) {
            snprintf(msg, sizeof msg, "cannot limit the address space");
        } else {
            const char *specs[] = {"membw=1"};
            prof_load_setting *v = NULL;
            size_t n = 0;
            prof_loadgen *g = NULL;
            if (prof_load_parse(&v, &n, specs, 1, msg, sizeof msg) == CLEAVE_OK) {
                st = prof_loadgen_start(&g, &v[0], msg, sizeof msg);
                if (st == CLEAVE_OK)
                    prof_loadgen_stop(g, NULL, 0);
            }
            free(v);
        }
        if (write(fds[1], &st, sizeof st) != sizeof st || write(fds[1], msg, sizeof msg) < 0)
            _exit(2);
        _exit(0);
    }
    close(fds[1]);
    int st = 0;
    char msg[256] = "";
    assert_int_equal(read(fds[0], &st, sizeof st), (ssize_t)sizeof st);
    assert_true(read(fds[0], msg, sizeof msg) > 0);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(p, &status, 0), p);
    print_message("start under RLIMIT_AS: %d '%s'\n", st, msg);
    assert_int_equal(st, CLEAVE_ENOMEM);
    assert_string_equal(msg, "cannot start load generator: cannot allocate the bandwidth buffers: "
                             "Cannot allocate memory");
    /* We are a subreaper: an orphaned generator would be our child now.  There is none. */
    assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* memcap raises the child's resident set by about the bytes it reports (+-10 %). */
/* The profiler's main thread is pinned to one CPU by OpenMP's binding; the generator must still
** load every CPU, so its mask is widened to all online CPUs whatever the parent's. */
static void test_affinity_widened(void **state)
{
    (void)state;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 2)
        skip();
    cpu_set_t saved, one;
    assert_int_equal(sched_getaffinity(0, sizeof saved, &saved), 0);
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    prof_loadgen *g = start_ok("cpu=100");
    assert_int_equal(sched_setaffinity(0, sizeof saved, &saved), 0);
    cpu_set_t child;
    assert_int_equal(sched_getaffinity(prof_loadgen_pid(g), sizeof child, &child), 0);
    stop_ok(g);
    /* Our own mask may already be one CPU (OpenMP binds the initial thread when OMP_PROC_BIND
    ** is set, as it is for the tests): compare with the CPUs online, not with our mask. */
    assert_int_equal(CPU_COUNT(&child), ncpu);
}

/* cl_affinity_widen(), which the generator's child and the fitter's worker threads call, gives
** the calling thread every online CPU back after a one-CPU mask. */
static void test_affinity_widen_thread(void **state)
{
    (void)state;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 2)
        skip();
    cpu_set_t saved, one, now;
    assert_int_equal(sched_getaffinity(0, sizeof saved, &saved), 0);
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    assert_int_equal(cl_affinity_widen(), 0);
    assert_int_equal(sched_getaffinity(0, sizeof now, &now), 0);
    assert_int_equal(sched_setaffinity(0, sizeof saved, &saved), 0);
    assert_int_equal(CPU_COUNT(&now), ncpu);
}

static void test_memcap_rss(void **state)
{
    (void)state;
    cl_meminfo mi;
    char err[256];
    assert_int_equal(cl_read_meminfo(NULL, &mi, err, sizeof err), CLEAVE_OK);
    const double want_bytes = 256.0 * 1024 * 1024;
    double avail = (double)mi.avail_kib * 1024.0;
    if (avail < 4.0 * want_bytes) {
        print_message("skipping memcap: only %.0f MiB available\n", avail / 1048576.0);
        return;
    }
    long page = sysconf(_SC_PAGESIZE);
    cl_pid_stat ps;

    prof_loadgen *g = start_ok("cpu=0");
    assert_int_equal(cl_read_pid_stat(NULL, prof_loadgen_pid(g), &ps, err, sizeof err), CLEAVE_OK);
    double base = (double)ps.rss_pages * (double)page;
    stop_ok(g);

    char spec[64];
    snprintf(spec, sizeof spec, "memcap=%.6f", want_bytes / avail);
    g = start_ok(spec);
    prof_loadgen_info info;
    prof_loadgen_get_info(g, &info);
    assert_true(fabs((double)info.memcap_bytes - want_bytes) <= 0.05 * want_bytes);
    assert_int_equal(cl_read_pid_stat(NULL, info.pid, &ps, err, sizeof err), CLEAVE_OK);
    double rise = (double)ps.rss_pages * (double)page - base;
    print_message("memcap %.1f MiB: child RSS rose by %.1f MiB\n",
                  (double)info.memcap_bytes / 1048576.0, rise / 1048576.0);
    assert_true(fabs(rise - (double)info.memcap_bytes) <= 0.10 * (double)info.memcap_bytes);
    stop_ok(g);
}

/* A membw thread streams: its buffer is large and resident, and it uses a CPU continuously. */
static void test_membw_runs(void **state)
{
    (void)state;
    prof_loadgen *g = start_ok("membw=1");
    prof_loadgen_info info;
    prof_loadgen_get_info(g, &info);
    assert_int_equal(info.membw_threads, 1);
    assert_int_equal(info.cpu_threads, 0);
    assert_true(info.membw_bytes >= ((uint64_t)64 << 20));
    assert_true(info.membw_bytes >= 8 * prof_llc_bytes());
    double c0, rw0, c1, rw1, t0 = now_s();
    child_times(info.pid, &c0, &rw0);
    sleep_ms(500);
    child_times(info.pid, &c1, &rw1);
    double wall = now_s() - t0;
    print_message("membw=1: child CPU %.2f s, run+wait %.2f s over %.2f s\n", c1 - c0, rw1 - rw0,
                  wall);
    /* One thread that never sleeps wants the whole wall time; under contention it waits. */
    assert_true(c1 - c0 >= 0.3 * wall || rw1 - rw0 >= 0.8 * wall);
    cl_pid_stat ps;
    char err[256];
    assert_int_equal(cl_read_pid_stat(NULL, info.pid, &ps, err, sizeof err), CLEAVE_OK);
    assert_true((double)ps.rss_pages * (double)sysconf(_SC_PAGESIZE) >=
                0.9 * (double)info.membw_bytes);
    stop_ok(g);
}

int main(void)
{
    /* Orphaned generators of the parent-death tests are reparented to us, so we can reap
    ** them (and no zombie is left to init). */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        fprintf(stderr, "cannot become a child subreaper\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_cross_product),
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_canonical_round_trip),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_none_and_idle),
        cmocka_unit_test(test_cpu_duty),
        cmocka_unit_test(test_start_refused),
        cmocka_unit_test(test_child_death_reported),
        cmocka_unit_test(test_kill_all),
        cmocka_unit_test(test_no_orphan_after_sigterm_handler),
        cmocka_unit_test(test_no_orphan_after_sigterm_default),
        cmocka_unit_test(test_no_orphan_after_sigkill),
        cmocka_unit_test(test_start_failure_reported),
        cmocka_unit_test(test_affinity_widened),
        cmocka_unit_test(test_affinity_widen_thread),
        cmocka_unit_test(test_memcap_rss),
        cmocka_unit_test(test_membw_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
