/*
** cli/cmd-bench.c - `cleave bench`: time layers given in the text syntax on this machine.
*/
#include "cli/cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/sysinfo.h"
#include "profiler/backend.h"
#include "profiler/dnnl_util.h"
#include "profiler/timing.h"

static const char usage[] =
    "usage: cleave bench [--threads N] [--reps R] [--warmup W] [--max-mem SIZE] [--seed S]\n"
    "                    [--json] SPEC...\n"
    "\n"
    "Time each layer SPEC on this machine's backend and print median, min, p90 and max\n"
    "latency in microseconds, the throughput, and the implementation oneDNN chose.\n"
    "A SPEC is one quoted argument in the layer syntax, e.g.\n"
    "    'conv n=1 c=64 h=56 w=56 k=64 kh=3 kw=3 stride=1 pad=1'\n"
    "\n"
    "    --threads N      threads the kernels use (default: online CPUs)\n"
    "    --reps R         timed repetitions (default 50)\n"
    "    --warmup W       untimed repetitions first (default 5)\n"
    "    --max-mem SIZE   refuse layers whose buffers exceed SIZE (default: a quarter of\n"
    "                     MemAvailable), e.g. 512M, 2G\n"
    "    --seed S         seed of the random inputs and weights (default 1)\n"
    "    --json           machine-readable output\n";

/* Layer types whose MACs are multiply-adds, so that GFLOP/s = 2 * MACs / time means something;
** the rest are memory-bound and get GB/s over the bytes they read and write. */
static int counts_flops(cleave_layer_type t)
{
    return t == CLEAVE_LAYER_CONV || t == CLEAVE_LAYER_DECONV || t == CLEAVE_LAYER_FC ||
           t == CLEAVE_LAYER_LSTM || t == CLEAVE_LAYER_GRU || t == CLEAVE_LAYER_RNN;
}

struct result {
    char spec[512];
    const char *backend;
    char impl[96];
    prof_timing t;
    double gflops, gbps;
};

static void print_table(const struct result *r, int n)
{
    printf("%-58s %-22s %6s %10s %10s %10s %10s %9s\n", "layer", "impl", "reps", "median_us",
           "min_us", "p90_us", "max_us", "rate");
    for (int i = 0; i < n; i++) {
        char rate[32];
        if (!isnan(r[i].gflops))
            snprintf(rate, sizeof rate, "%.1f GF/s", r[i].gflops);
        else if (!isnan(r[i].gbps))
            snprintf(rate, sizeof rate, "%.1f GB/s", r[i].gbps);
        else
            snprintf(rate, sizeof rate, "-");
        const char *spec = r[i].spec;
        char shortened[59];
        if (strlen(spec) > 58) {
            snprintf(shortened, sizeof shortened, "%.55s...", spec);
            spec = shortened;
        }
        printf("%-58s %-22s %6d %10.2f %10.2f %10.2f %10.2f %9s\n", spec, r[i].impl, r[i].t.reps,
               r[i].t.median_us, r[i].t.min_us, r[i].t.p90_us, r[i].t.max_us, rate);
    }
}

static void print_json(const struct result *r, int n, int threads, const char *cmdline)
{
    printf("{\"cleave_version\": ");
    cl_json_string(stdout, cleave_version());
    printf(", \"backend\": \"onednn\", \"backend_version\": ");
    cl_json_string(stdout, prof_dnnl_version());
    printf(", \"isa\": ");
    cl_json_string(stdout, prof_dnnl_isa());
    printf(", \"threads\": %d, \"binding\": ", threads);
    cl_json_string(stdout, cl_omp_binding());
    printf(", \"command\": ");
    cl_json_string(stdout, cmdline);
    printf(", \"results\": [");
    for (int i = 0; i < n; i++) {
        printf("%s\n  {\"spec\": ", i ? "," : "");
        cl_json_string(stdout, r[i].spec);
        printf(", \"backend\": ");
        cl_json_string(stdout, r[i].backend);
        printf(", \"impl\": ");
        cl_json_string(stdout, r[i].impl);
        printf(", \"reps\": %d, \"median_us\": ", r[i].t.reps);
        cl_json_number(stdout, r[i].t.median_us);
        printf(", \"min_us\": ");
        cl_json_number(stdout, r[i].t.min_us);
        printf(", \"p90_us\": ");
        cl_json_number(stdout, r[i].t.p90_us);
        printf(", \"max_us\": ");
        cl_json_number(stdout, r[i].t.max_us);
        printf(", \"mean_us\": ");
        cl_json_number(stdout, r[i].t.mean_us);
        printf(", \"gflops\": ");
        cl_json_number(stdout, r[i].gflops);
        printf(", \"gbps\": ");
        cl_json_number(stdout, r[i].gbps);
        printf("}");
    }
    printf("\n]}\n");
}

/* Shell-quote ARG into OUT (single quotes, ' as '\''), appending. */
static void append_quoted(char *out, size_t cap, const char *arg)
{
    size_t len = strlen(out);
    if (len + 1 < cap)
        out[len++] = '\'';
    for (const char *p = arg; *p && len + 5 < cap; p++) {
        if (*p == '\'') {
            memcpy(out + len, "'\\''", 4);
            len += 4;
        } else {
            out[len++] = *p;
        }
    }
    if (len + 1 < cap)
        out[len++] = '\'';
    out[len < cap ? len : cap - 1] = '\0';
}

/* Time one layer.  Returns a CLI exit code (0 ok). */
static int bench_one(const cleave_layer *l, const char *spec, int threads, uint64_t seed,
                     const prof_timing_opts *opts, struct result *r)
{
    char err[256];
    prof_kernel *k = NULL;
    double *scratch = NULL;
    double f[CLEAVE_FEAT_COUNT];
    int code = CLI_OK;

    cleave_layer_format(l, r->spec, sizeof r->spec);
    cleave_status rc = prof_kernel_prepare(&k, l, threads, seed, err, sizeof err);
    if (rc != CLEAVE_OK) {
        code = cli_error("layer '%s': %s", spec, err);
        goto done;
    }
    scratch = malloc(sizeof *scratch * (size_t)opts->max_reps);
    if (!scratch) {
        code = cli_error("out of memory");
        goto done;
    }
    rc = prof_time_kernel(k, opts, scratch, &r->t);
    if (rc != CLEAVE_OK) {
        code = cli_error("layer '%s': running failed: %s", spec, cleave_strerror(rc));
        goto done;
    }
    r->backend = k->backend;
    snprintf(r->impl, sizeof r->impl, "%s", k->impl);
    cleave_layer_features(l, f);
    r->gflops = r->gbps = NAN;
    if (counts_flops(l->type))
        r->gflops = 2.0 * f[CLEAVE_FEAT_MACS] / (r->t.median_us * 1e3);
    else if (l->type != CLEAVE_LAYER_RESHAPE)
        r->gbps = (f[CLEAVE_FEAT_IN_BYTES] + f[CLEAVE_FEAT_OUT_BYTES]) / (r->t.median_us * 1e3);
done:
    free(scratch);
    prof_kernel_release(k);
    return code;
}

int cmd_bench(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"threads", required_argument, NULL, 't'}, {"reps", required_argument, NULL, 'r'},
        {"warmup", required_argument, NULL, 'w'},  {"max-mem", required_argument, NULL, 'm'},
        {"seed", required_argument, NULL, 's'},    {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    long threads = sysconf(_SC_NPROCESSORS_ONLN), reps = 50, warmup = 5, seed = 1;
    unsigned long long max_mem = cl_mem_available_bytes() / 4;
    int json = 0, opt, code = CLI_OK;
    struct result *results = NULL;
    cleave_layer *layers = NULL;
    char err[256], cmdline[4096];

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (opt) {
        case 't':
            if (cli_parse_int("bench", "--threads", optarg, 1, 1024, &threads))
                return CLI_USAGE;
            break;
        case 'r':
            if (cli_parse_int("bench", "--reps", optarg, 1, 1000000, &reps))
                return CLI_USAGE;
            break;
        case 'w':
            if (cli_parse_int("bench", "--warmup", optarg, 0, 1000000, &warmup))
                return CLI_USAGE;
            break;
        case 's':
            if (cli_parse_int("bench", "--seed", optarg, 0, 2147483647L, &seed))
                return CLI_USAGE;
            break;
        case 'm':
            if (cli_parse_bytes("bench", "--max-mem", optarg, &max_mem))
                return CLI_USAGE;
            break;
        case 'j': json = 1; break;
        case 'h': fputs(usage, stdout); return cli_finish(CLI_OK);
        default: return cli_usage_error("bench", "unknown option '%s'", argv[optind - 1]);
        }
    }
    int nspecs = argc - optind;
    if (nspecs < 1)
        return cli_usage_error("bench", "no layer given");

    /* Parse and check every spec before running any, so a typo in the last one does not waste
    ** the time spent on the first ones. */
    layers = calloc((size_t)nspecs, sizeof *layers);
    results = calloc((size_t)nspecs, sizeof *results);
    if (!layers || !results) {
        code = cli_error("out of memory");
        goto done;
    }
    snprintf(cmdline, sizeof cmdline,
             "cleave bench --threads %ld --reps %ld --warmup %ld --seed %ld", threads, reps, warmup,
             seed);
    for (int i = 0; i < nspecs; i++) {
        const char *spec = argv[optind + i];
        uint64_t bytes = 0;
        if (cleave_layer_parse(&layers[i], spec, err, sizeof err) != CLEAVE_OK) {
            code = cli_usage_error("bench", "layer '%s': %s", spec, err);
            goto done;
        }
        if (cleave_layer_buffer_bytes(&layers[i], &bytes) != 0 || bytes > max_mem) {
            code = cli_usage_error("bench",
                                   "layer '%s': its buffers need %.1f MiB, more than the "
                                   "memory cap of %.1f MiB (--max-mem)",
                                   spec, (double)bytes / 1048576.0, (double)max_mem / 1048576.0);
            goto done;
        }
        strncat(cmdline, " ", sizeof cmdline - strlen(cmdline) - 1);
        append_quoted(cmdline, sizeof cmdline, spec);
    }
    prof_timing_opts opts = {.warmup = (int)warmup, .min_reps = (int)reps, .max_reps = (int)reps};
    for (int i = 0; i < nspecs; i++) {
        code = bench_one(&layers[i], argv[optind + i], (int)threads, (uint64_t)seed, &opts,
                         &results[i]);
        if (code != CLI_OK)
            goto done;
    }
    if (json) {
        print_json(results, nspecs, (int)threads, cmdline);
    } else {
        print_table(results, nspecs);
        printf("\nthreads %ld, %s, oneDNN %s (%s)\nreproduce: %s\n", threads, cl_omp_binding(),
               prof_dnnl_version(), prof_dnnl_isa(), cmdline);
    }
    code = cli_finish(CLI_OK);
done:
    free(layers);
    free(results);
    return code;
}
