/*
** bench/bench-fit.c - how long `cleave fit` takes: every family on every layer type of a
** synthetic store (or a copy of a real one).  Prints figures; not a test.
**
**   bench-fit [--samples N]... [--threads T] [--families LIST] [--seed S] [--per-family]
**             [--db PATH --device NAME] [--keep PATH]
**
** Without --db, a store is synthesised per --samples value (default: 3000, the size a 10-minute
** calibration writes, and 20000, the figure): the default sweep's layers (all 20 types)
** cycled under six load levels (cpu 0/50/100 x membw 0/1) with dynamic features that follow the
** load, and latency = a known function of the static features x (1 + cpu_util) x log-normal
** noise.  With --db, the device's samples are fitted in a temporary copy of the store (the
** original is never written).  For each store it times fit_run() as `cleave fit` runs it
** (default options: all families, 5 folds, one thread per CPU) and reports the wall time and
** each family's CPU seconds; --per-family also times each family alone.  --keep PATH writes the
** (last) synthetic store, fitted, to PATH instead of a temporary file (device "bench"), for
** `cleave fit --device bench --db PATH --json` or `cleave report`.
*/
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/rng.h"
#include "common/store.h"
#include "fit/fitrun.h"
#include "profiler/sweep.h"

#define MAX_SIZES 8

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A standard normal deviate (Box-Muller). */
static double gauss(uint64_t *s)
{
    double u = cl_rng_uniform(s), v = cl_rng_uniform(s);
    return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2.0 * M_PI * v);
}

/* Write N synthetic samples of device "bench" into a new store at PATH. */
static int synthesise(const char *path, size_t n, uint64_t seed)
{
    static const double cpu_levels[3] = {0, 50, 100};
    prof_sweep sw = {NULL, 0, 0};
    prof_sweep_opts so = {.seed = seed, .name = "default.sweep"};
    cl_store *st = NULL;
    cl_device dev;
    cl_sample *s = calloc(1, sizeof *s);
    int64_t dev_id = 0, run_id = 0;
    char err[1024];
    int ok = 0;
    uint64_t rng = seed;

    if (!s)
        return -1;
    if (prof_sweep_parse(&sw, prof_default_sweep, &so, err, sizeof err) != CLEAVE_OK) {
        fprintf(stderr, "bench-fit: %s\n", err);
        goto done;
    }
    if (cl_store_open(&st, path, CL_STORE_CREATE, err, sizeof err) != CLEAVE_OK) {
        fprintf(stderr, "bench-fit: %s\n", err);
        goto done;
    }
    memset(&dev, 0, sizeof dev);
    snprintf(dev.name, sizeof dev.name, "bench");
    dev.threads = 1;
    if (cl_store_device_ensure(st, &dev, &dev_id) != CLEAVE_OK ||
        cl_store_run_begin(st, dev_id, "{}", seed, (int64_t)n, &run_id) != CLEAVE_OK ||
        cl_store_batch_begin(st) != CLEAVE_OK)
        goto store_failed;
    for (size_t i = 0; i < n; i++) {
        const cleave_layer *l = &sw.entries[i % sw.n].layer;
        size_t level = (i / sw.n + i) % 6;
        double cpu = cpu_levels[level % 3], membw = (double)(level / 3);
        double f[CLEAVE_FEAT_COUNT];
        cleave_layer_features(l, f);
        memset(s, 0, sizeof *s);
        s->seq = (int64_t)i;
        snprintf(s->type, sizeof s->type, "%s", cleave_layer_type_name(l->type));
        cleave_layer_format(l, s->spec, sizeof s->spec);
        snprintf(s->load, sizeof s->load, "cpu=%g,membw=%g,memcap=0", cpu, membw);
        s->load_cpu = cpu;
        s->load_membw = membw;
        s->load_memcap = 0;
        /* Dynamic features that follow the load, with observation noise. */
        double util = 0.05 + 0.45 * cpu / 100.0 + 0.1 * membw + 0.02 * gauss(&rng);
        s->dyn[CLEAVE_LOAD_SYS_CPU] = 0.02 + 0.005 * gauss(&rng);
        s->dyn[CLEAVE_LOAD_CPU_UTIL] = util;
        s->dyn[CLEAVE_LOAD_MEM_FREE] = 3000 + 20 * gauss(&rng) - 400 * membw;
        s->dyn[CLEAVE_LOAD_MEM_USED] = 0.6 + 0.01 * gauss(&rng);
        s->dyn[CLEAVE_LOAD_OTHER_CPU] = util - 0.03 + 0.01 * gauss(&rng);
        s->dyn[CLEAVE_LOAD_RUNNABLE] = cpu / 50.0 + membw + fabs(gauss(&rng));
        s->dyn[CLEAVE_LOAD_PSI_CPU] = cpu / 400.0 + 0.01 * fabs(gauss(&rng));
        s->dyn[CLEAVE_LOAD_PSI_MEM] = 0.05 * membw + 0.005 * fabs(gauss(&rng));
        s->dyn[CLEAVE_LOAD_MEM_AVAIL] = 0.4 + 0.01 * gauss(&rng);
        s->dyn[CLEAVE_LOAD_PROBE_CPU] = 1e5 * (1 + cpu / 100.0) * (1 + 0.05 * gauss(&rng));
        s->dyn[CLEAVE_LOAD_PROBE_MEM] = NAN; /* the default probes: cpu only */
        double base = 5.0 + 2e-3 * f[CLEAVE_FEAT_MACS] + 1e-3 * f[CLEAVE_FEAT_IN_BYTES] +
                      1e-3 * f[CLEAVE_FEAT_OUT_BYTES] + 5e-4 * f[CLEAVE_FEAT_W_BYTES];
        double lat = base * (1.0 + util) * (1.0 + 0.3 * membw) * exp(0.03 * gauss(&rng));
        s->median_us = s->min_us = s->p90_us = s->max_us = s->mean_us = lat;
        s->mad_us = 0.01 * lat;
        s->reps = 10;
        s->threads = 1;
        if (cl_store_sample_add(st, run_id, s) != CLEAVE_OK)
            goto store_failed;
    }
    if (cl_store_batch_commit(st) != CLEAVE_OK || cl_store_run_end(st, run_id, CL_RUN_DONE))
        goto store_failed;
    ok = 1;
    goto done;
store_failed:
    fprintf(stderr, "bench-fit: %s\n", cl_store_errmsg(st));
done:
    cl_store_close(st);
    prof_sweep_release(&sw);
    free(s);
    return ok ? 0 : -1;
}

/* Copy the file at SRC to DST (a store without its WAL: the caller checkpoints first). */
static int copy_file(const char *src, const char *dst)
{
    char buf[1 << 16];
    size_t n;
    int ok = 1;
    FILE *in = fopen(src, "rb"), *out = in ? fopen(dst, "wb") : NULL;
    if (!in || !out) {
        ok = 0;
    } else {
        while ((n = fread(buf, 1, sizeof buf, in)) > 0)
            if (fwrite(buf, 1, n, out) != n)
                ok = 0;
        if (ferror(in))
            ok = 0;
    }
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

/* One timed fit_run(); prints a line and each family's CPU seconds.  Returns the wall time. */
static double time_fit(const char *path, const char *device, const fit_run_opts *base,
                       unsigned families, int threads, int verbose)
{
    cl_store *st = NULL;
    fit_run_opts o = *base;
    fit_run_result r;
    char err[1024];
    double fam_s[FIT_NFAMILIES] = {0}, wall = -1;
    size_t rows = 0;

    memset(&r, 0, sizeof r);
    o.device = device;
    o.families = families;
    o.threads = threads;
    if (cl_store_open(&st, path, 0, err, sizeof err) != CLEAVE_OK) {
        fprintf(stderr, "bench-fit: %s\n", err);
        return -1;
    }
    double t0 = now_s();
    if (fit_run(st, &o, &r, err, sizeof err) != CLEAVE_OK) {
        fprintf(stderr, "bench-fit: %s\n", err);
        goto done;
    }
    wall = now_s() - t0;
    for (size_t i = 0; i < r.ntypes; i++) {
        rows += r.types[i].set[FIT_SET_STATIC].rows;
        for (int s = 0; s < FIT_NSETS; s++)
            for (int f = 0; f < FIT_NFAMILIES; f++)
                fam_s[f] += r.types[i].set[s].fam[f].seconds;
    }
    printf("  %-28s %6zu rows %2zu types %3zu models %3zu skipped  %2d threads  %7.2f s wall "
           "(read %.2f, fit %.2f, write %.2f)\n",
           verbose ? "all families" : fit_family_name((fit_family)__builtin_ctz(families)), rows,
           r.ntypes, r.models, r.skips, r.threads, wall, r.read_seconds, r.fit_seconds,
           r.write_seconds);
    if (verbose) {
        printf("    CPU seconds per family (all its fits, summed over threads):");
        for (int f = 0; f < FIT_NFAMILIES; f++)
            if ((families >> f) & 1u)
                printf(" %s %.2f", fit_family_name((fit_family)f), fam_s[f]);
        printf("\n");
    }
done:
    fit_run_result_release(&r);
    cl_store_close(st);
    return wall;
}

static void bench_store(const char *path, const char *device, const fit_run_opts *o, int threads,
                        int per_family)
{
    time_fit(path, device, o, o->families, threads, 1);
    if (per_family)
        for (int f = 0; f < FIT_NFAMILIES; f++)
            if ((o->families >> f) & 1u)
                time_fit(path, device, o, 1u << f, 1, 0);
}

/* " --families a,b" for the reproduce line, nothing for all of them. */
static void print_families(unsigned families)
{
    if ((families & FIT_ALL_FAMILIES) == FIT_ALL_FAMILIES)
        return;
    printf(" --families ");
    for (int f = 0, first = 1; f < FIT_NFAMILIES; f++)
        if ((families >> f) & 1u) {
            printf("%s%s", first ? "" : ",", fit_family_name((fit_family)f));
            first = 0;
        }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"samples", required_argument, NULL, 'n'},
                                             {"threads", required_argument, NULL, 't'},
                                             {"families", required_argument, NULL, 'f'},
                                             {"seed", required_argument, NULL, 's'},
                                             {"per-family", no_argument, NULL, 'p'},
                                             {"db", required_argument, NULL, 'd'},
                                             {"device", required_argument, NULL, 'D'},
                                             {"keep", required_argument, NULL, 'k'},
                                             {NULL, 0, NULL, 0}};
    size_t sizes[MAX_SIZES];
    int nsizes = 0, threads = 0, per_family = 0, opt;
    const char *db = NULL, *device = NULL, *keep = NULL;
    fit_run_opts o;
    char err[512], tmpl[] = "/tmp/bench-fit.XXXXXX", path[64];

    fit_run_opts_default(&o);
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (nsizes < MAX_SIZES)
                sizes[nsizes++] = (size_t)strtoul(optarg, NULL, 10);
            break;
        case 't': threads = atoi(optarg); break;
        case 'f':
            if (fit_families_parse(optarg, &o.families, err, sizeof err) != CLEAVE_OK) {
                fprintf(stderr, "bench-fit: %s\n", err);
                return 2;
            }
            break;
        case 's': o.seed = strtoull(optarg, NULL, 10); break;
        case 'p': per_family = 1; break;
        case 'd': db = optarg; break;
        case 'D': device = optarg; break;
        case 'k': keep = optarg; break;
        default:
            fprintf(stderr, "usage: bench-fit [--samples N]... [--threads T] [--families LIST] "
                            "[--seed S] [--per-family] [--db PATH --device NAME] "
                            "[--keep PATH]\n");
            return 2;
        }
    }
    if (db && !device) {
        fprintf(stderr, "bench-fit: --db needs --device\n");
        return 2;
    }
    if (!db && nsizes == 0) {
        sizes[nsizes++] = 3000;
        sizes[nsizes++] = 20000;
    }
    if (!mkdtemp(tmpl)) {
        perror("bench-fit: mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/bench.db", tmpl);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("bench-fit: fit_run() as `cleave fit` runs it; %ld online CPUs\n", ncpu);

    if (db) {
        /* Fit a copy (the main file and its WAL, if any): the source is never written. */
        char wal_src[4096], wal_dst[96];
        snprintf(wal_src, sizeof wal_src, "%s-wal", db);
        snprintf(wal_dst, sizeof wal_dst, "%s-wal", path);
        if (copy_file(db, path) != 0 ||
            (access(wal_src, F_OK) == 0 && copy_file(wal_src, wal_dst))) {
            fprintf(stderr, "bench-fit: cannot copy '%s'\n", db);
            return 1;
        }
        printf("store '%s', device '%s' (fitted in a copy)\n", db, device);
        bench_store(path, device, &o, threads, per_family);
        printf("reproduce: bench-fit --db %s --device %s", db, device);
        print_families(o.families);
        print_families(o.families);
        if (threads)
            printf(" --threads %d", threads);
        if (per_family)
            printf(" --per-family");
        printf(" --seed %llu\n", (unsigned long long)o.seed);
    } else {
        for (int i = 0; i < nsizes; i++) {
            const char *at = keep && i == nsizes - 1 ? keep : path;
            unlink(at);
            double t0 = now_s();
            if (synthesise(at, sizes[i], o.seed) != 0)
                return 1;
            printf("synthetic store: %zu samples over the default sweep's types x 6 load levels "
                   "(written in %.2f s)\n",
                   sizes[i], now_s() - t0);
            bench_store(at, "bench", &o, threads, per_family);
        }
        printf("reproduce: bench-fit");
        for (int i = 0; i < nsizes; i++)
            printf(" --samples %zu", sizes[i]);
        print_families(o.families);
        if (threads)
            printf(" --threads %d", threads);
        if (per_family)
            printf(" --per-family");
        printf(" --seed %llu\n", (unsigned long long)o.seed);
    }
    unlink(path);
    char side[96];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    rmdir(tmpl);
    return 0;
}
