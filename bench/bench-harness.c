/*
** bench/bench-harness.c - what the timing harness costs, and whether `cleave bench` measures a
** oneDNN convolution as fast as a minimal stand-alone loop does.  Prints figures; not a test.
**
**   bench-harness [PATH-TO-cleave]     (default: ./cleave beside this program's directory)
**
** 1. Harness overhead: prof_time_kernel() around a kernel whose run() does nothing, 200,000
**    repetitions; the cost per repetition is the loop's wall time divided by the repetitions.
** 2. conv n=1 c=64 h=56 w=56 k=64 3x3 pad 1: `cleave bench --json` (a subprocess, so the whole
**    command path) against a stand-alone oneDNN loop written here directly against the C API,
**    alternated ROUNDS times so that drift hits both alike; medians of the per-round medians.
*/
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <oneapi/dnnl/dnnl.h>

#include "common/sysinfo.h"
#include "profiler/backend.h"
#include "profiler/timing.h"

#define ROUNDS 7
#define REPS 200
#define WARMUP 20

static cleave_status empty_run(prof_kernel *k)
{
    (void)k;
    return CLEAVE_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void harness_overhead(void)
{
    static const struct prof_kernel_ops ops = {empty_run, NULL, NULL, NULL, NULL};
    prof_kernel k = {.ops = &ops, .backend = "none", .threads = 1};
    enum { N = 200000 };
    double *scratch = malloc(sizeof(double) * N);
    double per_rep[5];
    prof_timing t;
    prof_timing_opts o = {.warmup = 10, .min_reps = N, .max_reps = N};
    for (int i = 0; i < 5; i++) {
        uint64_t t0 = prof_now_ns();
        prof_time_kernel(&k, &o, scratch, &t);
        per_rep[i] = (double)(prof_now_ns() - t0) / N;
    }
    printf("harness overhead: %.1f ns per repetition (median of 5 loops of %d; empty kernel; "
           "includes the statistics)\n",
           median(per_rep, 5), N);
    free(scratch);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        dnnl_status_t s_ = (call);                                                                 \
        if (s_ != dnnl_success) {                                                                  \
            fprintf(stderr, "bench-harness: %s failed (%d)\n", #call, (int)s_);                    \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* The minimal loop: one convolution primitive with oneDNN-chosen layouts, timed per execution. */
static double standalone_conv_us(int threads)
{
    dnnl_engine_t eng;
    dnnl_stream_t st;
    dnnl_memory_desc_t src_md, w_md, b_md, dst_md;
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t conv;
    dnnl_dims_t src = {1, 64, 56, 56}, w = {64, 64, 3, 3}, b = {64}, dst = {1, 64, 56, 56};
    dnnl_dims_t strides = {1, 1}, pad = {1, 1};
    omp_set_num_threads(threads);
    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
    CHECK(dnnl_memory_desc_init_by_tag(&src_md, 4, src, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&w_md, 4, w, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&b_md, 1, b, dnnl_f32, dnnl_x));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 4, dst, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                             &src_md, &w_md, &b_md, &dst_md, strides, pad, pad));
    CHECK(dnnl_primitive_desc_create(&pd, &cd, NULL, eng, NULL));
    CHECK(dnnl_primitive_create(&conv, pd));
    dnnl_memory_t m[4];
    const dnnl_query_t q[4] = {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_weights_md,
                               dnnl_query_dst_md};
    for (int i = 0; i < 4; i++) {
        const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, q[i], i == 2);
        CHECK(dnnl_memory_create(&m[i], md, eng, DNNL_MEMORY_ALLOCATE));
        void *p;
        CHECK(dnnl_memory_get_data_handle(m[i], &p));
        memset(p, 0, dnnl_memory_desc_get_size(md)); /* zeros time like any other data */
    }
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, m[0]},
                               {DNNL_ARG_WEIGHTS, m[1]},
                               {DNNL_ARG_BIAS, m[2]},
                               {DNNL_ARG_DST, m[3]}};
    double us[REPS];
    for (int i = 0; i < WARMUP; i++) {
        CHECK(dnnl_primitive_execute(conv, st, 4, args));
        CHECK(dnnl_stream_wait(st));
    }
    for (int i = 0; i < REPS; i++) {
        uint64_t t0 = prof_now_ns();
        CHECK(dnnl_primitive_execute(conv, st, 4, args));
        CHECK(dnnl_stream_wait(st));
        us[i] = (double)(prof_now_ns() - t0) / 1000.0;
    }
    for (int i = 0; i < 4; i++)
        dnnl_memory_destroy(m[i]);
    dnnl_primitive_destroy(conv);
    dnnl_primitive_desc_destroy(pd);
    dnnl_stream_destroy(st);
    dnnl_engine_destroy(eng);
    return median(us, REPS);
}

/* Run the shell command CMD with every online CPU allowed and its stdout in BUF.  This process
** runs with OMP_PROC_BIND, so OpenMP pinned our main thread to one CPU; a child inheriting that
** mask would squeeze both of its threads onto that CPU.  Returns the exit status or -1. */
static int run_capture(const char *cmd, char *buf, size_t buflen)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        cl_affinity_widen();
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t got;
    while (n + 1 < buflen && (got = read(fds[0], buf + n, buflen - 1 - n)) > 0)
        n += (size_t)got;
    buf[n] = '\0';
    close(fds[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Median latency reported by `cleave bench --json` for the same layer, or NAN. */
static double cleave_bench_conv_us(const char *cleave, int threads)
{
    char cmd[8192], buf[8192];
    snprintf(cmd, sizeof cmd,
             "%s bench --json --threads %d --reps %d --warmup %d "
             "'conv n=1 c=64 h=56 w=56 k=64 kh=3 kw=3 stride=1 pad=1'",
             cleave, threads, REPS, WARMUP);
    if (run_capture(cmd, buf, sizeof buf) != 0)
        return NAN;
    const char *m = strstr(buf, "\"median_us\": ");
    return m ? strtod(m + 13, NULL) : NAN;
}

int main(int argc, char **argv)
{
    char self_dir[4096], cleave[4200];
    int threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    /* Same binding as the cleave command (it re-executes itself with it). */
    if (!getenv("OMP_PROC_BIND")) {
        setenv("OMP_PROC_BIND", "true", 1);
        execv("/proc/self/exe", argv);
    }
    if (argc > 1) {
        snprintf(cleave, sizeof cleave, "%s", argv[1]);
    } else {
        ssize_t len = readlink("/proc/self/exe", self_dir, sizeof self_dir - 1);
        self_dir[len > 0 ? len : 0] = '\0';
        char *slash = strrchr(self_dir, '/');
        if (slash)
            *slash = '\0';
        snprintf(cleave, sizeof cleave, "%s/cleave", self_dir);
    }
    harness_overhead();

    double a[ROUNDS], b[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        a[r] = cleave_bench_conv_us(cleave, threads);
        b[r] = standalone_conv_us(threads);
        if (isnan(a[r])) {
            fprintf(stderr, "bench-harness: cannot run '%s bench'\n", cleave);
            return 1;
        }
    }
    double ma = median(a, ROUNDS), mb = median(b, ROUNDS);
    printf("conv 1x64x56x56, 64 filters 3x3 pad 1, %d threads, OMP_PROC_BIND=%s:\n", threads,
           getenv("OMP_PROC_BIND"));
    printf("  cleave bench      median of %d round medians: %9.1f us\n", ROUNDS, ma);
    printf("  stand-alone loop  median of %d round medians: %9.1f us\n", ROUNDS, mb);
    printf("  ratio cleave / stand-alone: %.3f (%+.1f %%)\n", ma / mb, 100.0 * (ma / mb - 1.0));
    printf("reproduce: %s\n", argv[0]);
    return 0;
}
