/*
** cli/cmd-fit.c - `cleave fit`: fit and cross-validate every regression family on every layer
** type of a device, select the best per type and feature set, and store the models.
*/
#include "cli/cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/store.h"
#include "fit/fitrun.h"

static const char usage[] =
    "usage: cleave fit --device NAME [--db PATH] [--families LIST] [--folds K] [--seed S]\n"
    "                  [--target mean|median|p90] [--threads N] [--json]\n"
    "\n"
    "Fit latency models for every layer type the device has samples of, on static features\n"
    "and on static + dynamic (load) features, with every requested regression family.  Each\n"
    "family is judged only on held-out data: K-fold cross-validation and leave-one-load-\n"
    "level-out.  Per type and feature set the family with the best cross-validated R^2 is\n"
    "selected.  The device's previous models are replaced in one transaction; a failed fit\n"
    "leaves them in place.  Families that cannot be fitted (too few rows, a numerical\n"
    "failure) are skipped with the reason; rows with NaN or infinite values are excluded and\n"
    "counted.\n"
    "\n"
    "    --device NAME     the device whose samples to fit\n"
    "    --db PATH         the store (default $CLEAVE_DB, else cleave.db)\n"
    "    --families LIST   comma-separated, default all: logarithmic (log), linear, lasso,\n"
    "                      ridge, kernel_ridge (krr), polynomial (poly), gbdt\n"
    "    --folds K         cross-validation folds, 2..20 (default 5)\n"
    "    --seed S          seed of the folds and of the families' randomness (default 42)\n"
    "    --target STAT     the latency statistic of each sample's repetitions to model:\n"
    "                      mean (default: the expected latency, which under load includes\n"
    "                      the time slices a thread waits for), median (the typical run,\n"
    "                      blind to most of that) or p90 (a tail, for deadlines)\n"
    "    --threads N       worker threads (default: online CPUs)\n"
    "    --json            machine-readable output (the same numbers)\n";

/* The progress line on a terminal: a bar, fits done, and an ETA from the rate so far (the
** longest fits run first, so the ETA errs on the long side early on). */
struct progress {
    double t0;
    double last;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void on_progress(size_t done, size_t total, void *arg)
{
    struct progress *pr = arg;
    double t = now_s();
    if (done < total && t - pr->last < 0.1)
        return;
    pr->last = t;
    double el = t - pr->t0, eta = done ? el * (double)(total - done) / (double)done : NAN;
    int width = 24, fill = total ? (int)((size_t)width * done / total) : 0;
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    if (isfinite(eta))
        fprintf(stderr, "\rfit [%s] %zu/%zu fits, ETA %02d:%02d\033[K", bar, done, total,
                (int)eta / 60, (int)eta % 60);
    else
        fprintf(stderr, "\rfit [%s] %zu/%zu fits\033[K", bar, done, total);
}

/* A metric for the table: "0.9731", or "-" when not computed. */
static void fmt_r2(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.4f", v);
}

/* "288" when both sets kept the same rows, else "288/280" (static/dynamic). */
static void fmt_pair(char *buf, size_t len, size_t a, size_t b)
{
    if (a == b)
        snprintf(buf, len, "%zu", a);
    else
        snprintf(buf, len, "%zu/%zu", a, b);
}

static void print_table(const fit_run_result *r, const char *device, const char *path,
                        const fit_run_opts *o)
{
    int nfam = 0;
    for (int f = 0; f < FIT_NFAMILIES; f++)
        nfam += (o->families >> f) & 1u;
    printf("device '%s' in '%s': %zu layer types, %d %s, %d-fold CV and leave-one-load-level-"
           "out (seed %llu), %d %s; target: %s latency\n\n",
           device, path, r->ntypes, nfam, nfam == 1 ? "family" : "families", o->folds,
           (unsigned long long)o->seed, r->threads, r->threads == 1 ? "thread" : "threads",
           fit_target_name(o->target));
    printf("%-10s %9s %9s %6s  %-14s %8s  %-14s %8s\n", "type", "rows", "excluded", "levels",
           "static", "CV R2", "dynamic", "CV R2");
    for (size_t i = 0; i < r->ntypes; i++) {
        const fit_run_type *t = &r->types[i];
        const fit_run_set *s = &t->set[FIT_SET_STATIC], *d = &t->set[FIT_SET_DYNAMIC];
        char rows[32], excl[32], r2s[16] = "-", r2d[16] = "-";
        fmt_pair(rows, sizeof rows, s->rows, d->rows);
        fmt_pair(excl, sizeof excl, s->excluded, d->excluded);
        if (s->selected >= 0)
            fmt_r2(r2s, sizeof r2s, s->fam[s->selected].cv.r2);
        if (d->selected >= 0)
            fmt_r2(r2d, sizeof r2d, d->fam[d->selected].cv.r2);
        printf("%-10s %9s %9s %6zu  %-14s %8s  %-14s %8s\n", cleave_layer_type_name(t->type), rows,
               excl, s->levels,
               s->selected >= 0 ? fit_family_name((fit_family)s->selected) : "(none)", r2s,
               d->selected >= 0 ? fit_family_name((fit_family)d->selected) : "(none)", r2d);
    }
    if (r->skips) {
        printf("\nskipped:\n");
        for (size_t i = 0; i < r->ntypes; i++)
            for (int s = 0; s < FIT_NSETS; s++)
                for (int f = 0; f < FIT_NFAMILIES; f++) {
                    const fit_run_family *fr = &r->types[i].set[s].fam[f];
                    if (fr->tried && !fr->fitted)
                        printf("  %s %s %s: %s\n", cleave_layer_type_name(r->types[i].type),
                               fit_feature_set_name((fit_feature_set)s),
                               fit_family_name((fit_family)f), fr->reason);
                }
    }
    printf("\n%zu models stored, %zu skipped, in %.2f s (read %.2f s, fit %.2f s, write %.2f s)\n",
           r->models, r->skips, r->total_seconds, r->read_seconds, r->fit_seconds,
           r->write_seconds);
}

static void json_metrics(FILE *out, const char *key, const fit_metrics *m)
{
    fprintf(out, "\"%s\":{\"r2\":", key);
    cl_json_number(out, m->r2);
    fputs(",\"rmse_us\":", out);
    cl_json_number(out, m->rmse);
    fputs(",\"mape_pct\":", out);
    cl_json_number(out, m->mape);
    fputs(",\"within10\":", out);
    cl_json_number(out, m->within10);
    fprintf(out, ",\"n\":%zu}", m->n);
}

static void print_json(const fit_run_result *r, const char *device, const char *path,
                       const fit_run_opts *o)
{
    FILE *out = stdout;
    fputs("{\"device\":", out);
    cl_json_string(out, device);
    fputs(",\"db\":", out);
    cl_json_string(out, path);
    fprintf(out, ",\"folds\":%d,\"seed\":%llu,\"target\":\"%s\",\"threads\":%d,\"families\":[",
            o->folds, (unsigned long long)o->seed, fit_target_name(o->target), r->threads);
    for (int f = 0, first = 1; f < FIT_NFAMILIES; f++)
        if ((o->families >> f) & 1u) {
            fputs(first ? "" : ",", out);
            cl_json_string(out, fit_family_name((fit_family)f));
            first = 0;
        }
    fprintf(out,
            "],\"models\":%zu,\"skips\":%zu,\"seconds\":{\"total\":%.3f,\"read\":%.3f,"
            "\"fit\":%.3f,\"write\":%.3f},\"types\":[",
            r->models, r->skips, r->total_seconds, r->read_seconds, r->fit_seconds,
            r->write_seconds);
    for (size_t i = 0; i < r->ntypes; i++) {
        const fit_run_type *t = &r->types[i];
        fprintf(out, "%s{\"type\":", i ? "," : "");
        cl_json_string(out, cleave_layer_type_name(t->type));
        fputs(",\"sets\":{", out);
        for (int s = 0; s < FIT_NSETS; s++) {
            const fit_run_set *rs = &t->set[s];
            fprintf(out,
                    "%s\"%s\":{\"rows\":%zu,\"excluded\":%zu,\"features\":%zu,"
                    "\"constant_dropped\":%zu,\"collinear_dropped\":%zu,\"load_levels\":%zu,"
                    "\"folds\":%d,\"selected\":",
                    s ? "," : "", fit_feature_set_name((fit_feature_set)s), rs->rows, rs->excluded,
                    rs->features, rs->constant, rs->collinear, rs->levels, rs->folds);
            if (rs->selected >= 0)
                cl_json_string(out, fit_family_name((fit_family)rs->selected));
            else
                fputs("null", out);
            fputs(",\"families\":[", out);
            for (int f = 0, first = 1; f < FIT_NFAMILIES; f++) {
                const fit_run_family *fr = &rs->fam[f];
                if (!fr->tried)
                    continue;
                fprintf(out, "%s{\"family\":", first ? "" : ",");
                first = 0;
                cl_json_string(out, fit_family_name((fit_family)f));
                fprintf(out, ",\"fitted\":%s,\"selected\":%s", fr->fitted ? "true" : "false",
                        fr->selected ? "true" : "false");
                if (!fr->fitted) {
                    fputs(",\"reason\":", out);
                    cl_json_string(out, fr->reason);
                } else {
                    fputc(',', out);
                    json_metrics(out, "cv", &fr->cv);
                    fputc(',', out);
                    json_metrics(out, "lolo", &fr->lolo);
                    fputs(",\"lolo_note\":", out);
                    cl_json_string(out, fr->lolo_note);
                    fputs(",\"hyper\":", out);
                    cl_json_string(out, fr->hyper);
                }
                fprintf(out, ",\"seconds\":%.3f}", fr->seconds);
            }
            fputs("]}", out);
        }
        fputs("}}", out);
    }
    fputs("]}\n", out);
}

int cmd_fit(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"device", required_argument, NULL, 'D'},   {"db", required_argument, NULL, 'd'},
        {"families", required_argument, NULL, 'f'}, {"folds", required_argument, NULL, 'k'},
        {"seed", required_argument, NULL, 's'},     {"target", required_argument, NULL, 'T'},
        {"threads", required_argument, NULL, 't'},  {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    fit_run_opts o;
    fit_run_result res;
    const char *db = NULL;
    int json = 0, opt, code = CLI_OK;
    long v;
    char err[1024];
    cl_store *st = NULL;

    fit_run_opts_default(&o);
    memset(&res, 0, sizeof res);
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h': fputs(usage, stdout); return cli_finish(CLI_OK);
        case ':': return cli_usage_error("fit", "option '%s' needs a value", argv[optind - 1]);
        case '?': return cli_usage_error("fit", "unknown option '%s'", argv[optind - 1]);
        case 'D': o.device = optarg; break;
        case 'd': db = optarg; break;
        case 'f':
            if (fit_families_parse(optarg, &o.families, err, sizeof err) != CLEAVE_OK)
                return cli_usage_error("fit", "%s", err);
            break;
        case 'k':
            if (cli_parse_int("fit", "--folds", optarg, FIT_FOLDS_MIN, FIT_FOLDS_MAX, &v))
                return CLI_USAGE;
            o.folds = (int)v;
            break;
        case 's':
            if (cli_parse_int("fit", "--seed", optarg, 0, 2147483647L, &v))
                return CLI_USAGE;
            o.seed = (uint64_t)v;
            break;
        case 'T':
            if (cli_parse_target("fit", optarg, &o.target))
                return CLI_USAGE;
            break;
        case 't':
            if (cli_parse_int("fit", "--threads", optarg, 1, 64, &v))
                return CLI_USAGE;
            o.threads = (int)v;
            break;
        case 'j': json = 1; break;
        }
    }
    if (optind < argc)
        return cli_usage_error("fit", "unexpected argument '%s'", argv[optind]);
    if (!o.device || !*o.device)
        return cli_usage_error("fit", "a device name is required (--device NAME)");

    const char *path = cli_db_path(db);
    if (cl_store_open(&st, path, 0, err, sizeof err) != CLEAVE_OK)
        return cli_error("%s", err);
    struct progress pr = {now_s(), 0.0};
    if (isatty(STDERR_FILENO)) {
        o.progress = on_progress;
        o.progress_arg = &pr;
    }
    cleave_status rc = fit_run(st, &o, &res, err, sizeof err);
    if (o.progress)
        fputs("\r\033[K", stderr);
    if (rc != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }
    if (json)
        print_json(&res, o.device, path, &o);
    else
        print_table(&res, o.device, path, &o);
    code = cli_finish(CLI_OK);
done:
    fit_run_result_release(&res);
    cl_store_close(st);
    return code;
}
