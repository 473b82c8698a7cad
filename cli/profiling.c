/*
** cli/profiling.c - the profiling options, checks, signals, progress and summary shared by
** `cleave profile` and `cleave calibrate`.
*/
#include "cli/profiling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/loadsnap.h"
#include "profiler/loadgen.h"

const char cli_profile_options_help[] =
    "    --device NAME     the device being calibrated (its threads and binding are part of\n"
    "                      its identity: another thread count needs another name)\n"
    "    --db PATH         the store (default $CLEAVE_DB, else cleave.db)\n"
    "    --sweep FILE      shapes to time (default: the built-in data/sweeps/default.sweep)\n"
    "    --types LIST      only these layer types, e.g. conv,fc,pool\n"
    "    --load SPEC       load levels, combined as a cross product, e.g. --load cpu=0,50,100\n"
    "                      --load membw=0,1 --load memcap=0,0.3; 'none' profiles the machine\n"
    "                      as it is.  Default: cpu=0,50,100 x membw=0,1 - synthetic levels,\n"
    "                      because a model can only learn the effect of load it has seen;\n"
    "                      use 'none' to record the device's real background work instead\n"
    "    --budget TIME     stop profiling after TIME (90s, 10m, 1h); the run stays resumable\n"
    "    --threads N       threads the layers run with (default: online CPUs)\n"
    "    --seed S          seed of the random shapes and the sample order (default 1)\n"
    "    --window-ms MS    dynamic-feature window before each sample (default 40)\n"
    "    --sample-ms MS    time each sample's timed repetitions for at least MS (default 150;\n"
    "                      up to 3x longer to reach 1 % precision of the median)\n"
    "    --probes LIST     micro-probes after the window: cpu, mem, both, or none (default cpu)\n"
    "    --resume          continue the device's unfinished run with its stored settings\n"
    "    --quiet           no progress output\n";

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    if (stop_flag) {
        /* Second signal: do not wait for the sample in flight. */
        prof_loadgen_kill_all();
        _exit(128 + sig);
    }
    stop_flag = sig;
}

/* Parse a duration: a number with an optional unit s, m or h (seconds by default). */
static int parse_duration(const char *val, double *out)
{
    char *end;
    double v = strtod(val, &end);
    double mult = 1.0;
    if (end == val || !isfinite(v) || v <= 0)
        return -1;
    if (*end == 's')
        end++;
    else if (*end == 'm')
        mult = 60.0, end++;
    else if (*end == 'h')
        mult = 3600.0, end++;
    if (*end)
        return -1;
    *out = v * mult;
    return 0;
}

struct progress_state {
    int tty, quiet;
    int64_t last_line;
};

static void fmt_eta(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, n, "--:--");
    else if (s >= 3600)
        snprintf(buf, n, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(buf, n, "%02d:%02d", (int)s / 60, (int)s % 60);
}

static void on_progress(const prof_progress *p, void *arg)
{
    struct progress_state *ps = arg;
    if (ps->quiet)
        return;
    double rate = p->elapsed_s > 0 ? (double)p->this_session / p->elapsed_s : 0.0;
    char eta[32];
    fmt_eta(rate > 0 ? (double)(p->total - p->done) / rate : NAN, eta, sizeof eta);
    if (ps->tty) {
        int width = 24, fill = p->total ? (int)(width * p->done / p->total) : 0;
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r[%s] %lld/%lld %.1f/s ETA %s  %-22.22s %-36.36s\033[K", bar,
                (long long)p->done, (long long)p->total, rate, eta, p->load, p->layer);
    } else if (p->this_session - ps->last_line >= 200) {
        ps->last_line = p->this_session;
        fprintf(stderr, "profile: %lld/%lld samples, %.1f/s, ETA %s, now %s under %s\n",
                (long long)p->done, (long long)p->total, rate, eta, p->layer, p->load);
    }
}

static void print_summary(const prof_run_summary *s, const char *device)
{
    double outside = s->wall_s > 0 ? 1.0 - s->kernel_s / s->wall_s : 0.0;
    printf("run %lld of device '%s': %lld of %lld planned samples stored (%lld measured now",
           (long long)s->run_id, device, (long long)s->stored, (long long)s->planned,
           (long long)s->measured);
    if (s->skipped_resume)
        printf(", %lld from before", (long long)s->skipped_resume);
    printf(")\n");
    printf("time: %.1f s wall, %.1f samples/min; %.1f %% outside the timed kernels\n", s->wall_s,
           s->wall_s > 0 ? 60.0 * (double)s->measured / s->wall_s : 0.0, 100.0 * outside);
    printf("  timed kernels %.1f s, warm-up %.1f s, load-feature windows %.1f s, "
           "preparation %.1f s, store %.2f s, load generator %.1f s\n",
           s->kernel_s, s->warmup_s, s->window_s, s->prepare_s, s->store_s, s->loadgen_s);
    if (s->rejected_shapes)
        printf("shapes over the memory or MAC caps, skipped: %lld\n",
               (long long)s->rejected_shapes);
    if (s->failed_samples)
        printf("samples the backend could not run, skipped: %lld (first: %s)\n",
               (long long)s->failed_samples, s->first_failure);
    if (s->finished)
        printf("status: done\n");
    else
        printf("status: interrupted (%s); continue with: cleave profile --device %s --resume\n",
               s->budget_hit    ? "budget reached"
               : s->interrupted ? "signal"
                                : "stopped",
               device);
}

void cli_profile_args_init(struct cli_profile_args *a)
{
    memset(a, 0, sizeof *a);
    prof_run_config_default(&a->cfg);
}

int cli_profile_option(const char *cmd, int opt, const char *arg, struct cli_profile_args *a)
{
    prof_run_config *cfg = &a->cfg;
    long v;
    switch (opt) {
    case CLI_O_DEVICE: cfg->device = arg; return 1;
    case CLI_O_DB: a->db = arg; return 1;
    case CLI_O_SWEEP: cfg->sweep_path = arg; return 1;
    case CLI_O_TYPES: cfg->types = arg; return 1;
    case CLI_O_LOAD:
        if (a->nloads == sizeof a->loads / sizeof a->loads[0]) {
            cli_usage_error(cmd, "too many --load options");
            return -1;
        }
        a->loads[a->nloads++] = arg;
        return 1;
    case CLI_O_BUDGET:
        if (parse_duration(arg, &cfg->budget_s)) {
            cli_usage_error(cmd,
                            "option '--budget' needs a positive duration like 90s, 10m or 1h, "
                            "got '%s'",
                            arg);
            return -1;
        }
        return 1;
    case CLI_O_THREADS:
        if (cli_parse_int(cmd, "--threads", arg, 1, 1024, &v))
            return -1;
        cfg->threads = (int)v;
        return 1;
    case CLI_O_SEED:
        if (cli_parse_int(cmd, "--seed", arg, 0, 2147483647L, &v))
            return -1;
        cfg->seed = (uint64_t)v;
        return 1;
    case CLI_O_WINDOW:
        if (cli_parse_int(cmd, "--window-ms", arg, 1, 10000, &v))
            return -1;
        cfg->window_ms = (int)v;
        return 1;
    case CLI_O_SAMPLE:
        if (cli_parse_int(cmd, "--sample-ms", arg, 1, 600000, &v))
            return -1;
        cfg->sample_ms = (double)v;
        return 1;
    case CLI_O_PROBES:
        if (strcmp(arg, "none") == 0)
            cfg->probes = 0;
        else if (strcmp(arg, "cpu") == 0)
            cfg->probes = CL_LOADSNAP_PROBE_CPU;
        else if (strcmp(arg, "mem") == 0)
            cfg->probes = CL_LOADSNAP_PROBE_MEM;
        else if (strcmp(arg, "both") == 0 || strcmp(arg, "cpu,mem") == 0)
            cfg->probes = CL_LOADSNAP_PROBE_CPU | CL_LOADSNAP_PROBE_MEM;
        else {
            cli_usage_error(cmd, "option '--probes' takes cpu, mem, both or none, got '%s'", arg);
            return -1;
        }
        return 1;
    case CLI_O_RESUME: cfg->resume = 1; return 1;
    case CLI_O_QUIET: a->quiet = 1; return 1;
    default: return 0;
    }
}

int cli_profile_check(const char *cmd, struct cli_profile_args *a)
{
    char err[2048];
    if (!a->cfg.device)
        return cli_usage_error(cmd, "a device name is required (--device NAME)");
    a->cfg.db_path = cli_db_path(a->db);
    a->cfg.loads = a->loads;
    a->cfg.nloads = a->nloads;
    /* Input the user can get wrong is checked before any store is opened or created. */
    if (!a->cfg.resume) {
        cleave_status rc = prof_run_check(&a->cfg, err, sizeof err);
        if (rc == CLEAVE_EPARSE || rc == CLEAVE_EINVAL || rc == CLEAVE_ERANGE)
            return cli_usage_error(cmd, "%s", err);
        if (rc != CLEAVE_OK)
            return cli_error("%s", err);
    }
    return CLI_OK;
}

int cli_profile_run(struct cli_profile_args *a, prof_run_summary *sum)
{
    char err[2048];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct progress_state ps = {isatty(STDERR_FILENO), a->quiet, 0};
    cleave_status rc = prof_run(&a->cfg, on_progress, &ps, &stop_flag, sum, err, sizeof err);
    if (ps.tty && !a->quiet)
        fputc('\n', stderr);
    if (rc != CLEAVE_OK)
        return cli_error("%s", err);
    print_summary(sum, a->cfg.device);
    return stop_flag ? CLI_INTERRUPTED : CLI_OK;
}
