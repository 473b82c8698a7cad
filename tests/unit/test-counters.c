/*
** tests/unit/test-counters.c - the counter set: software perf events against the kernel's own
** CPU clocks, page faults against pages touched, worker threads counted, hardware events
** reported unavailable (never 0) without a PMU, and no descriptor leaks.
*/
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "profiler/counters.h"

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Spin until the calling thread has used CPU_NS of CPU time. */
static void busy_cpu(uint64_t cpu_ns)
{
    volatile double x = 1.0;
    uint64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    while (clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0 < cpu_ns)
        for (int i = 0; i < 10000; i++)
            x = x * 1.0000001 + 1e-9;
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void check_value(const prof_counter_values *v, prof_counter_id id, int available)
{
    const prof_counter_value *x = &v->v[id];
    assert_string_equal(x->name, prof_counter_name(id));
    if (available) {
        assert_int_equal(x->available, 1);
        assert_null(x->why);
    } else {
        assert_int_equal(x->available, 0);
        assert_int_equal(x->value, 0);
        assert_non_null(x->why);
    }
}

/* --- busy threads ------------------------------------------------------------------------- */

struct spinner {
    pthread_t th;
    atomic_int *stop;
};

static void *spin_main(void *arg)
{
    struct spinner *s = arg;
    volatile double x = 1.0;
    while (!atomic_load_explicit(s->stop, memory_order_relaxed))
        for (int i = 0; i < 10000; i++)
            x = x * 1.0000001 + 1e-9;
    return NULL;
}

static uint64_t thread_cpu_ns(pthread_t th)
{
    clockid_t id;
    assert_int_equal(pthread_getcpuclockid(th, &id), 0);
    return clock_ns(id);
}

static int online_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 2;
    int n = CPU_COUNT(&set);
    return n > 0 ? n : 2;
}

/* --- tests -------------------------------------------------------------------------------- */

static void test_open_and_describe(void **state)
{
    (void)state;
    prof_counters *c = NULL;
    char err[128] = "";
    assert_int_equal(prof_counters_open(&c, 0, err, sizeof err), CLEAVE_OK);
    assert_non_null(c);

    char buf[4096];
    size_t len = prof_counters_describe(c, buf, sizeof buf);
    assert_int_equal(len, strlen(buf));
    int lines = 0;
    for (const char *p = buf; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, PROF_CTR_COUNT);
    for (int i = 0; i < PROF_CTR_COUNT; i++) {
        char head[64];
        snprintf(head, sizeof head, "%s: ", prof_counter_name((prof_counter_id)i));
        assert_non_null(strstr(buf, head));
    }
    /* this machine has software perf events and schedstat */
    assert_non_null(strstr(buf, "task_clock_ns: available (perf::PERF_COUNT_SW_TASK_CLOCK, "));
    assert_non_null(strstr(buf, "runq_wait_ns: available ("));
    assert_non_null(strstr(buf, "nivcsw: available (getrusage"));

    /* truncation: snprintf's contract */
    char small[16];
    assert_int_equal(prof_counters_describe(c, small, sizeof small), len);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(prof_counters_describe(c, NULL, 0), len);

    assert_string_equal(prof_counter_name(PROF_CTR_COUNT), "unknown");
    assert_string_equal(prof_counter_name(PROF_CTR_RUNQ_WAIT_NS), "runq_wait_ns");
    prof_counters_close(c);
    prof_counters_close(NULL);
}

static void test_bad_flags_and_state(void **state)
{
    (void)state;
    prof_counters *c = (prof_counters *)&c;
    char err[128] = "";
    assert_int_equal(prof_counters_open(&c, 0x80, err, sizeof err), CLEAVE_EINVAL);
    assert_null(c);
    assert_string_equal(err, "unknown counter flags '0x80'");

    prof_counter_values v;
    assert_int_equal(prof_counters_open(&c, 0, err, sizeof err), CLEAVE_OK);
    assert_int_equal(prof_counters_stop(c, &v), CLEAVE_EINVAL); /* not started */
    assert_int_equal(prof_counters_start(c), CLEAVE_OK);
    assert_int_equal(prof_counters_start(c), CLEAVE_EINVAL); /* already started */
    assert_int_equal(prof_counters_stop(c, &v), CLEAVE_OK);
    assert_int_equal(prof_counters_stop(c, &v), CLEAVE_EINVAL);
    prof_counters_close(c);
}

/* task-clock over a busy loop equals the process CPU time of the window (CLOCK_PROCESS_CPUTIME_ID
** reads the same scheduler accounting), within 20 %. */
static void test_task_clock_busy_loop(void **state)
{
    (void)state;
    prof_counters *c = NULL;
    char err[128];
    prof_counter_values v;
    assert_int_equal(prof_counters_open(&c, 0, err, sizeof err), CLEAVE_OK);

    uint64_t t0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    assert_int_equal(prof_counters_start(c), CLEAVE_OK);
    busy_cpu(150000000u);
    assert_int_equal(prof_counters_stop(c, &v), CLEAVE_OK);
    uint64_t cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - t0;

    check_value(&v, PROF_CTR_TASK_CLOCK_NS, 1);
    double got = (double)v.v[PROF_CTR_TASK_CLOCK_NS].value;
    assert_true(got >= 0.8 * (double)cpu_ns && got <= 1.2 * (double)cpu_ns);
    assert_true(v.v[PROF_CTR_TASK_CLOCK_NS].running_share > 0.99);
    prof_counters_close(c);
}

/* Touching N fresh anonymous pages faults at least N/2 times (all N without fault-around or
** huge pages; anonymous memory has no fault-around and huge pages are turned off here). */
static void test_page_faults(void **state)
{
    (void)state;
    const size_t npages = 512;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    prof_counters *c = NULL;
    char err[128];
    prof_counter_values v;
    assert_int_equal(prof_counters_open(&c, 0, err, sizeof err), CLEAVE_OK);

    unsigned char *p =
        mmap(NULL, npages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    madvise(p, npages * page, MADV_NOHUGEPAGE);
    assert_int_equal(prof_counters_start(c), CLEAVE_OK);
    for (size_t i = 0; i < npages; i++)
        ((volatile unsigned char *)p)[i * page] = (unsigned char)i;
    assert_int_equal(prof_counters_stop(c, &v), CLEAVE_OK);
    munmap(p, npages * page);

    check_value(&v, PROF_CTR_PAGE_FAULTS, 1);
    assert_true(v.v[PROF_CTR_PAGE_FAULTS].value >= npages / 2);
    prof_counters_close(c);
}

/* Without a PMU the hardware counters are unavailable with a reason, never 0; with one they
** count a busy loop. */
static void test_hardware_events(void **state)
{
    (void)state;
    prof_counters *c = NULL;
    char err[128], buf[4096];
    prof_counter_values v;
    assert_int_equal(prof_counters_open(&c, 0, err, sizeof err), CLEAVE_OK);
    assert_int_equal(prof_counters_start(c), CLEAVE_OK);
    busy_cpu(20000000u);
    assert_int_equal(prof_counters_stop(c, &v), CLEAVE_OK);
    prof_counters_describe(c, buf, sizeof buf);

    if (!prof_pmu_usable()) {
        check_value(&v, PROF_CTR_CYCLES, 0);
        check_value(&v, PROF_CTR_INSTRUCTIONS, 0);
        check_value(&v, PROF_CTR_LLC_MISSES, 0);
        assert_non_null(strstr(buf, "cycles: unavailable (no PMU: ENOENT)\n"));
        assert_non_null(strstr(buf, "instructions: unavailable ("));
        assert_non_null(strstr(buf, "llc_misses: unavailable ("));
    } else {
        check_value(&v, PROF_CTR_CYCLES, 1);
        check_value(&v, PROF_CTR_INSTRUCTIONS, 1);
        assert_true(v.v[PROF_CTR_CYCLES].value > 0);
        assert_true(v.v[PROF_CTR_INSTRUCTIONS].value > 0);
    }
    prof_counters_close(c);
}

/* Work on threads that already exist when counting starts is counted: one spinner created before
** the set is opened, one after (picked up by the re-scan in start).  task-clock must equal the
** CPU time of the spinners plus the (sleeping) main thread within 20 %.  Once the spinners are
** joined, the next start drops their descriptors. */
static void test_worker_threads_counted(void **state)
{
    (void)state;
    atomic_int stop = 0;
    struct spinner s[2] = {{.stop = &stop}, {.stop = &stop}};
    prof_counters *c = NULL;
    char err[128];
    prof_counter_values v;

    int fds0 = count_fds();
    assert_int_equal(pthread_create(&s[0].th, NULL, spin_main, &s[0]), 0);
    assert_int_equal(prof_counters_open(&c, 0, err, sizeof err), CLEAVE_OK);
    int fds_open = count_fds();
    assert_int_equal(pthread_create(&s[1].th, NULL, spin_main, &s[1]), 0);

    uint64_t a0 = thread_cpu_ns(s[0].th), b0 = thread_cpu_ns(s[1].th);
    uint64_t m0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    assert_int_equal(prof_counters_start(c), CLEAVE_OK);
    /* sleep until the spinners have had 200 ms of CPU between them (at most 5 s: the machine
    ** is shared) */
    for (int k = 0; k < 100; k++) {
        struct timespec nap = {0, 50000000};
        nanosleep(&nap, NULL);
        if (thread_cpu_ns(s[0].th) - a0 + thread_cpu_ns(s[1].th) - b0 >= 200000000u)
            break;
    }
    assert_int_equal(prof_counters_stop(c, &v), CLEAVE_OK);
    uint64_t want = (thread_cpu_ns(s[0].th) - a0) + (thread_cpu_ns(s[1].th) - b0) +
                    (clock_ns(CLOCK_THREAD_CPUTIME_ID) - m0);

    atomic_store(&stop, 1);
    pthread_join(s[0].th, NULL);
    pthread_join(s[1].th, NULL);

    check_value(&v, PROF_CTR_TASK_CLOCK_NS, 1);
    double got = (double)v.v[PROF_CTR_TASK_CLOCK_NS].value;
    print_message("task_clock_ns %.0f, threads' CPU time %llu\n", got, (unsigned long long)want);
    assert_true(want >= 200000000u); /* the spinners really ran */
    assert_true(got >= 0.8 * (double)want && got <= 1.2 * (double)want);

    /* the spinners are gone: their events are closed at the next start */
    assert_int_equal(prof_counters_start(c), CLEAVE_OK);
    assert_int_equal(prof_counters_stop(c, &v), CLEAVE_OK);
    assert_true(count_fds() < fds_open); /* s[0] was tracked since the open */
    prof_counters_close(c);
    assert_int_equal(count_fds(), fds0);
}

/* A thread that exits inside the window keeps its perf counts (an exited task's event still
** reads its final count): task-clock covers the CPU time it burnt before exiting. */
struct burner {
    sem_t go;
    uint64_t cpu_ns;
};

static void *burn_main(void *arg)
{
    struct burner *b = arg;
    sem_wait(&b->go);
    uint64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    busy_cpu(100000000u);
    b->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
    return NULL;
}

static void test_thread_exiting_in_window(void **state)
{
    (void)state;
    struct burner b;
    pthread_t th;
    prof_counters *c = NULL;
    char err[128];
    prof_counter_values v;

    assert_int_equal(sem_init(&b.go, 0, 0), 0);
    assert_int_equal(pthread_create(&th, NULL, burn_main, &b), 0);
    assert_int_equal(prof_counters_open(&c, 0, err, sizeof err), CLEAVE_OK);
    uint64_t m0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    assert_int_equal(prof_counters_start(c), CLEAVE_OK);
    sem_post(&b.go);
    pthread_join(th, NULL);
    assert_int_equal(prof_counters_stop(c, &v), CLEAVE_OK);
    uint64_t want = b.cpu_ns + (clock_ns(CLOCK_THREAD_CPUTIME_ID) - m0);

    check_value(&v, PROF_CTR_TASK_CLOCK_NS, 1);
    check_value(&v, PROF_CTR_RUNQ_WAIT_NS, 1);
    double got = (double)v.v[PROF_CTR_TASK_CLOCK_NS].value;
    assert_true(got >= 0.8 * (double)want && got <= 1.2 * (double)want);
    prof_counters_close(c);
    sem_destroy(&b.go);
}

/* More spinning threads than CPUs must wait on a run queue and be preempted: runq_wait_ns and
** nivcsw are available and positive. */
static void test_runq_and_nivcsw(void **state)
{
    (void)state;
    int n = online_cpus() + 1;
    if (n > 9)
        n = 9;
    atomic_int stop = 0;
    struct spinner s[9];
    prof_counters *c = NULL;
    char err[128];
    prof_counter_values v;

    for (int i = 0; i < n; i++) {
        s[i].stop = &stop;
        assert_int_equal(pthread_create(&s[i].th, NULL, spin_main, &s[i]), 0);
    }
    assert_int_equal(prof_counters_open(&c, 0, err, sizeof err), CLEAVE_OK);
    assert_int_equal(prof_counters_start(c), CLEAVE_OK);
    struct timespec nap = {0, 200000000};
    nanosleep(&nap, NULL);
    assert_int_equal(prof_counters_stop(c, &v), CLEAVE_OK);
    atomic_store(&stop, 1);
    for (int i = 0; i < n; i++)
        pthread_join(s[i].th, NULL);

    check_value(&v, PROF_CTR_RUNQ_WAIT_NS, 1);
    check_value(&v, PROF_CTR_NIVCSW, 1);
    check_value(&v, PROF_CTR_NVCSW, 1);
    assert_true(v.v[PROF_CTR_RUNQ_WAIT_NS].value > 0);
    assert_true(v.v[PROF_CTR_NIVCSW].value > 0);
    assert_true(v.v[PROF_CTR_NVCSW].value >= 1); /* the main thread slept */
    /* the waiting cannot exceed the window times the number of threads */
    assert_true(v.v[PROF_CTR_RUNQ_WAIT_NS].value < (uint64_t)(n + 1) * 2000000000u);
    prof_counters_close(c);
}

/* PROF_COUNTERS_NO_PERF: every perf counter unavailable with the reason, /proc ones still work.
** PROF_COUNTERS_USER_ONLY: scheduler events (kernel-mode only) unavailable, task-clock counts. */
static void test_flags(void **state)
{
    (void)state;
    prof_counters *c = NULL;
    char err[128], buf[4096];
    prof_counter_values v;

    assert_int_equal(prof_counters_open(&c, PROF_COUNTERS_NO_PERF, err, sizeof err), CLEAVE_OK);
    assert_int_equal(prof_counters_start(c), CLEAVE_OK);
    assert_int_equal(prof_counters_stop(c, &v), CLEAVE_OK);
    for (int i = 0; i < PROF_CTR_PERF_COUNT; i++) {
        check_value(&v, (prof_counter_id)i, 0);
        assert_string_equal(v.v[i].why, "perf events disabled by the caller");
    }
    check_value(&v, PROF_CTR_RUNQ_WAIT_NS, 1);
    check_value(&v, PROF_CTR_NIVCSW, 1);
    prof_counters_describe(c, buf, sizeof buf);
    assert_non_null(
        strstr(buf, "task_clock_ns: unavailable (perf events disabled by the caller)\n"));
    prof_counters_close(c);

    assert_int_equal(prof_counters_open(&c, PROF_COUNTERS_USER_ONLY, err, sizeof err), CLEAVE_OK);
    assert_int_equal(prof_counters_start(c), CLEAVE_OK);
    busy_cpu(20000000u);
    assert_int_equal(prof_counters_stop(c, &v), CLEAVE_OK);
    check_value(&v, PROF_CTR_CONTEXT_SWITCHES, 0);
    check_value(&v, PROF_CTR_CPU_MIGRATIONS, 0);
    check_value(&v, PROF_CTR_TASK_CLOCK_NS, 1);
    assert_true(v.v[PROF_CTR_TASK_CLOCK_NS].value >= 16000000u);
    prof_counters_describe(c, buf, sizeof buf);
    assert_non_null(strstr(buf, "task_clock_ns: available (perf::PERF_COUNT_SW_TASK_CLOCK, "
                                "user only, as requested)\n"));
    assert_non_null(strstr(buf, "context_switches: unavailable (counted in kernel mode only, "
                                "user-only requested)\n"));
    prof_counters_close(c);
}

/* A thousand start/stop pairs and twenty open/close cycles leave the descriptor count as it was
** (a busy thread keeps one extra thread in the set).  The cost of a pair is printed, not
** asserted. */
static void test_no_fd_leak(void **state)
{
    (void)state;
    atomic_int stop = 0;
    struct spinner s = {.stop = &stop};
    prof_counters *c = NULL;
    char err[128];
    prof_counter_values v;

    int fds0 = count_fds();
    assert_int_equal(pthread_create(&s.th, NULL, spin_main, &s), 0);
    for (int k = 0; k < 20; k++) {
        assert_int_equal(prof_counters_open(&c, 0, err, sizeof err), CLEAVE_OK);
        prof_counters_close(c);
    }
    assert_int_equal(count_fds(), fds0);

    assert_int_equal(prof_counters_open(&c, 0, err, sizeof err), CLEAVE_OK);
    int fds1 = count_fds();
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
    for (int k = 0; k < 1000; k++) {
        assert_int_equal(prof_counters_start(c), CLEAVE_OK);
        assert_int_equal(prof_counters_stop(c, &v), CLEAVE_OK);
    }
    uint64_t dt = clock_ns(CLOCK_MONOTONIC) - t0;
    print_message("one start+stop pair: %.1f us (2 threads)\n", (double)dt / 1000.0 / 1000.0);
    assert_int_equal(count_fds(), fds1);
    check_value(&v, PROF_CTR_TASK_CLOCK_NS, 1);
    prof_counters_close(c);
    atomic_store(&stop, 1);
    pthread_join(s.th, NULL);
    assert_int_equal(count_fds(), fds0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_and_describe),
        cmocka_unit_test(test_bad_flags_and_state),
        cmocka_unit_test(test_task_clock_busy_loop),
        cmocka_unit_test(test_page_faults),
        cmocka_unit_test(test_hardware_events),
        cmocka_unit_test(test_worker_threads_counted),
        cmocka_unit_test(test_thread_exiting_in_window),
        cmocka_unit_test(test_runq_and_nivcsw),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_no_fd_leak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
