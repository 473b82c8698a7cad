/*
** cli/cmd-validate.c - `cleave validate`: run models under synthetic load and compare the
** measured latency of every node and of the whole model with the prediction.
*/
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/sysinfo.h"
#include "planner/graph.h"
#include "profiler/loadgen.h"
#include "runtime/exec.h"

static const char usage[] =
    "usage: cleave validate --model FILE [--model FILE ...] --device NAME [--db PATH]\n"
    "                       [--load LEVELS ...] [--threads N] [--reps R] [--warmup W]\n"
    "                       [--seed S] [--unknown-op error|fallback] [--json] [--plot DIR]\n"
    "\n"
    "Run each MODEL (as `cleave run` does) under each load setting and compare, per node and\n"
    "in total, the measured latency with DEVICE's prediction.  Measured is the statistic over\n"
    "R passes of each node's kernel time that DEVICE's models predict (`cleave fit --target`:\n"
    "the mean by default, or the median or p90), computed as the profiler computes it.\n"
    "The prediction is made as a planner would make it just before the run: from a load\n"
    "snapshot taken while the generator runs and our process is idle\n"
    "(cleave_load_now, the dynamic models); the static prediction (no load) is shown beside\n"
    "it.  A table per load and operator gives the median node error over all the models.  The\n"
    "last line is the headline: the share of (model, load) cases whose predicted total\n"
    "is within +-10 % of the measured one.\n"
    "\n"
    "    --load LEVELS    synthetic load levels, as for `cleave profile` (cpu=0,50,100\n"
    "                     membw=0,1 memcap=0.3 cpu_threads=2), or none for the machine as it\n"
    "                     is (default none); each --load option adds its own settings, so\n"
    "                     --load none --load cpu=50,100 is three\n"
    "    --threads N      threads (default: online CPUs; use the device's calibration count)\n"
    "    --reps R         timed passes per load (default 10), --warmup W untimed (default 2)\n"
    "    --plot DIR       gnuplot plots: predicted vs measured per node, totals per case\n"
    "    --json           every node and total as one JSON object\n";

#define MAX_MODELS 32
#define MAX_LOADS 64

/* One (model, load) case. */
typedef struct vcase {
    const char *model;
    const char *load;
    double pred_us, pred_static_us, meas_us, wall_us;
    int nnodes;
    char **names, **ops;
    double *node_pred, *node_meas;
} vcase;

static double err_pct(double pred, double meas)
{
    return meas > 0 ? 100.0 * (pred - meas) / meas : NAN;
}

static void vcase_release(vcase *c)
{
    for (int i = 0; c->names && i < c->nnodes; i++)
        free(c->names[i]);
    for (int i = 0; c->ops && i < c->nnodes; i++)
        free(c->ops[i]);
    free(c->node_pred);
    free(c->node_meas);
    free(c->names);
    free(c->ops);
}

/* Predict every node of G under LOAD (NULL: static) into US (graph node ids); the sum. */
static int predict_all(const plan_graph *g, const cleave_predictor *p, const cleave_load *load,
                       double *us, double *total)
{
    *total = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const plan_node *n = &g->nodes[i];
        cleave_prediction r;
        us[i] = 0;
        if (n->flags & PLAN_NODE_ZERO_COST)
            continue;
        if (cleave_predict(p, &n->layer, load, &r) != CLEAVE_OK)
            return cli_error("node '%s' on device '%s': %s", n->name, cleave_predictor_device(p),
                             cleave_predictor_errmsg(p));
        us[i] = r.latency_us;
        *total += r.latency_us;
    }
    return CLI_OK;
}

/* Run one model under every setting, appending a case per setting to CASES. */
static int validate_model(const char *model, unsigned flags, const cleave_predictor *p,
                          const prof_load_setting *settings, size_t nsettings, int threads,
                          int reps, int warmup, uint64_t seed, vcase *cases, int *ncases)
{
    char err[1024];
    plan_graph *g = NULL;
    rt_exec *x = NULL;
    double *stat = NULL;
    int code = CLI_OK;
    if (plan_graph_load(&g, model, flags, err, sizeof err) != CLEAVE_OK)
        return cli_error("%s", err);
    stat = calloc((size_t)g->nnodes, sizeof *stat);
    if (!stat) {
        code = cli_error("out of memory");
        goto done;
    }
    double stat_total;
    if ((code = predict_all(g, p, NULL, stat, &stat_total)) != CLI_OK)
        goto done;
    if (rt_exec_create(&x, g, NULL, threads, seed, err, sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }
    for (size_t s = 0; s < nsettings && code == CLI_OK; s++) {
        vcase *c = &cases[(*ncases)];
        prof_loadgen *gen = NULL;
        rt_measure m;
        cleave_load load;
        memset(c, 0, sizeof *c);
        memset(&m, 0, sizeof m);
        c->model = model;
        c->load = settings[s].text;
        c->nnodes = g->nnodes;
        c->pred_static_us = stat_total;
        c->node_pred = calloc((size_t)g->nnodes, sizeof *c->node_pred);
        c->node_meas = calloc((size_t)g->nnodes, sizeof *c->node_meas);
        c->names = calloc((size_t)g->nnodes, sizeof *c->names);
        c->ops = calloc((size_t)g->nnodes, sizeof *c->ops);
        (*ncases)++;
        if (!c->node_pred || !c->node_meas || !c->names || !c->ops) {
            code = cli_error("out of memory");
            break;
        }
        if (prof_loadgen_start(&gen, &settings[s], err, sizeof err) != CLEAVE_OK) {
            code = cli_error("%s", err);
            break;
        }
        /* The planner's view just before the run: the snapshot, then the prediction. */
        if (cleave_load_now(&load, 0, err, sizeof err) != CLEAVE_OK)
            code = cli_error("%s", err);
        else
            code = predict_all(g, p, &load, c->node_pred, &c->pred_us);
        if (code == CLI_OK && rt_exec_measure(x, warmup, reps, &m, err, sizeof err) != CLEAVE_OK)
            code = cli_error("%s", err);
        if (code == CLI_OK && prof_loadgen_check(gen, err, sizeof err) != CLEAVE_OK)
            code = cli_error("%s", err);
        prof_loadgen_stop(gen, err, sizeof err);
        if (code != CLI_OK) {
            rt_measure_release(&m);
            break;
        }
        for (int i = 0; i < g->nnodes; i++) {
            int id = g->order[i];
            c->names[i] = strdup(g->nodes[id].name);
            c->ops[i] = strdup(g->nodes[id].op);
            if (!c->names[i] || !c->ops[i])
                code = cli_error("out of memory");
            c->node_meas[i] = rt_measure_stat(&m, id, cleave_predictor_target(p));
        }
        /* node_pred was filled by graph id: put it in the same (topological) order. */
        for (int i = 0; i < g->nnodes; i++)
            stat[i] = c->node_pred[i];
        for (int i = 0; i < g->nnodes; i++)
            c->node_pred[i] = stat[g->order[i]];
        c->meas_us = rt_measure_stat(&m, -1, cleave_predictor_target(p));
        c->wall_us = m.wall_us;
        rt_measure_release(&m);
        fprintf(stderr, "validate: %s under %s: predicted %.1f us, measured %.1f us\n", model,
                c->load, c->pred_us, c->meas_us);
    }
done:
    rt_exec_destroy(x);
    free(stat);
    plan_graph_destroy(g);
    return code;
}

static void print_table(const vcase *cases, int ncases)
{
    for (int k = 0; k < ncases; k++) {
        const vcase *c = &cases[k];
        printf("model '%s' under load %s\n", c->model, c->load);
        printf("%4s  %-40s %-12s %12s %12s %8s\n", "#", "node", "op", "predicted_us", "measured_us",
               "error");
        for (int i = 0; i < c->nnodes; i++) {
            double e = err_pct(c->node_pred[i], c->node_meas[i]);
            printf("%4d  %-40s %-12s %12.1f %12.1f ", i, c->names[i], c->ops[i], c->node_pred[i],
                   c->node_meas[i]);
            if (isfinite(e))
                printf("%+7.1f%%\n", e);
            else
                printf("%8s\n", "-");
        }
        printf("total: predicted %.1f us (static %.1f), measured %.1f us (wall %.1f), error "
               "%+.1f%% (static %+.1f%%)\n\n",
               c->pred_us, c->pred_static_us, c->meas_us, c->wall_us,
               err_pct(c->pred_us, c->meas_us), err_pct(c->pred_static_us, c->meas_us));
    }
}

/* The summary over every case, and the headline share within +-10 %. */
static void print_summary(const vcase *cases, int ncases)
{
    int within = 0, within_static = 0;
    printf("%-24s %-28s %12s %12s %8s %12s %8s\n", "model", "load", "predicted_ms", "measured_ms",
           "error", "static_ms", "error");
    for (int k = 0; k < ncases; k++) {
        const vcase *c = &cases[k];
        const char *base = strrchr(c->model, '/') ? strrchr(c->model, '/') + 1 : c->model;
        double e = err_pct(c->pred_us, c->meas_us), es = err_pct(c->pred_static_us, c->meas_us);
        within += fabs(e) <= 10.0;
        within_static += fabs(es) <= 10.0;
        printf("%-24s %-28s %12.2f %12.2f %+7.1f%% %12.2f %+7.1f%%\n", base, c->load,
               c->pred_us / 1e3, c->meas_us / 1e3, e, c->pred_static_us / 1e3, es);
    }
    printf("within +-10%%: %d of %d cases (%.0f%%) with the load-aware prediction, %d of %d "
           "(%.0f%%) with the static one\n",
           within, ncases, ncases ? 100.0 * within / ncases : 0.0, within_static, ncases,
           ncases ? 100.0 * within_static / ncases : 0.0);
}

/* Per load setting and operator, over every model: nodes, share of the measured time, median
** node error.  Calls FN once per (load, op) with the figures. */
typedef void (*op_fn)(void *arg, const char *load, const char *op, int n, double share,
                      double median_err);

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int op_errors(const vcase *cases, int ncases, op_fn fn, void *arg)
{
    size_t cap = 0;
    for (int k = 0; k < ncases; k++)
        cap += (size_t)cases[k].nnodes;
    const char **ops = calloc(cap + 1, sizeof *ops);
    double *errs = calloc(cap + 1, sizeof *errs);
    if (!ops || !errs) {
        free(ops);
        free(errs);
        return cli_error("out of memory");
    }
    for (int k = 0; k < ncases; k++) {
        int seen = 0;
        for (int j = 0; j < k; j++)
            seen |= strcmp(cases[j].load, cases[k].load) == 0;
        if (seen)
            continue; /* this load was done with the first case that had it */
        size_t nops = 0;
        double total = 0;
        for (int c = k; c < ncases; c++)
            if (strcmp(cases[c].load, cases[k].load) == 0)
                for (int i = 0; i < cases[c].nnodes; i++) {
                    total += cases[c].node_meas[i];
                    int dup = 0;
                    for (size_t o = 0; o < nops && !dup; o++)
                        dup = strcmp(ops[o], cases[c].ops[i]) == 0;
                    if (!dup && cases[c].node_meas[i] > 0)
                        ops[nops++] = cases[c].ops[i];
                }
        qsort(ops, nops, sizeof *ops, cmp_str);
        for (size_t o = 0; o < nops; o++) {
            int n = 0;
            double t = 0;
            for (int c = k; c < ncases; c++)
                if (strcmp(cases[c].load, cases[k].load) == 0)
                    for (int i = 0; i < cases[c].nnodes; i++)
                        if (cases[c].node_meas[i] > 0 && strcmp(cases[c].ops[i], ops[o]) == 0) {
                            errs[n++] = err_pct(cases[c].node_pred[i], cases[c].node_meas[i]);
                            t += cases[c].node_meas[i];
                        }
            fn(arg, cases[k].load, ops[o], n, total > 0 ? t / total : 0, rt_median(errs, n));
        }
    }
    free(ops);
    free(errs);
    return CLI_OK;
}

static void print_op_row(void *arg, const char *load, const char *op, int n, double share,
                         double median_err)
{
    (void)arg;
    printf("%-28s %-20s %6d %7.1f%% %+9.1f%%\n", load, op, n, 100 * share, median_err);
}

static void json_op_row(void *arg, const char *load, const char *op, int n, double share,
                        double median_err)
{
    int *first = arg;
    printf("%s\n  {\"load\": ", *first ? "" : ",");
    *first = 0;
    cl_json_string(stdout, load);
    printf(", \"op\": ");
    cl_json_string(stdout, op);
    printf(", \"nodes\": %d, \"time_share\": ", n);
    cl_json_number(stdout, share);
    printf(", \"median_error_pct\": ");
    cl_json_number(stdout, median_err);
    printf("}");
}

static int print_json(const vcase *cases, int ncases, const char *device, const char *target)
{
    int within = 0;
    printf("{\"device\": ");
    cl_json_string(stdout, device);
    printf(", \"statistic\": \"%s\"", target);
    printf(",\n \"cases\": [");
    for (int k = 0; k < ncases; k++) {
        const vcase *c = &cases[k];
        double e = err_pct(c->pred_us, c->meas_us);
        within += fabs(e) <= 10.0;
        printf("%s\n  {\"model\": ", k ? "," : "");
        cl_json_string(stdout, c->model);
        printf(", \"load\": ");
        cl_json_string(stdout, c->load);
        printf(", \"predicted_us\": ");
        cl_json_number(stdout, c->pred_us);
        printf(", \"predicted_static_us\": ");
        cl_json_number(stdout, c->pred_static_us);
        printf(", \"measured_us\": ");
        cl_json_number(stdout, c->meas_us);
        printf(", \"wall_us\": ");
        cl_json_number(stdout, c->wall_us);
        printf(", \"error_pct\": ");
        cl_json_number(stdout, e);
        printf(",\n   \"nodes\": [");
        for (int i = 0; i < c->nnodes; i++) {
            printf("%s\n    {\"name\": ", i ? "," : "");
            cl_json_string(stdout, c->names[i]);
            printf(", \"op\": ");
            cl_json_string(stdout, c->ops[i]);
            printf(", \"predicted_us\": ");
            cl_json_number(stdout, c->node_pred[i]);
            printf(", \"measured_us\": ");
            cl_json_number(stdout, c->node_meas[i]);
            printf("}");
        }
        printf("]}");
    }
    printf("],\n \"ops\": [");
    int first = 1;
    int code = op_errors(cases, ncases, json_op_row, &first);
    printf("],\n \"within_10pct\": %d, \"cases_total\": %d}\n", within, ncases);
    return code;
}

/* --plot DIR: nodes.dat (one block per case: predicted, measured) with nodes.gp, a log-log
** scatter against the line y = x; totals.dat with totals.gp, predicted and measured per case. */
static int write_plots(const char *dir, const vcase *cases, int ncases)
{
    char path[4096];
    FILE *f;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cli_error("cannot create directory '%s': %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/nodes.dat", dir);
    if (!(f = fopen(path, "w")))
        return cli_error("cannot write '%s': %s", path, strerror(errno));
    for (int k = 0; k < ncases; k++) {
        fprintf(f, "# %s under %s: predicted_us measured_us\n", cases[k].model, cases[k].load);
        for (int i = 0; i < cases[k].nnodes; i++)
            if (cases[k].node_meas[i] > 0 && cases[k].node_pred[i] > 0)
                fprintf(f, "%.6g %.6g\n", cases[k].node_pred[i], cases[k].node_meas[i]);
        fprintf(f, "\n\n");
    }
    if (fclose(f) != 0)
        return cli_error("cannot write '%s': %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/nodes.gp", dir);
    if (!(f = fopen(path, "w")))
        return cli_error("cannot write '%s': %s", path, strerror(errno));
    fprintf(f, "set terminal pngcairo size 900,700 noenhanced\nset output 'nodes.png'\n"
               "set logscale xy\nset grid\nset key outside right\nset xlabel 'measured (us)'\n"
               "set ylabel 'predicted (us)'\nset title 'per-node latency: predicted vs measured'\n"
               "plot x title 'y = x' lc rgb 'black', 1.1*x title '+10%%' dt 2 lc rgb 'gray', "
               "0.9*x title '-10%%' dt 2 lc rgb 'gray'");
    for (int k = 0; k < ncases; k++) {
        const char *base = strrchr(cases[k].model, '/');
        fprintf(f, ", \\\n  'nodes.dat' index %d using 2:1 with points title '%s %s'", k,
                base ? base + 1 : cases[k].model, cases[k].load);
    }
    fprintf(f, "\n");
    if (fclose(f) != 0)
        return cli_error("cannot write '%s': %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/totals.dat", dir);
    if (!(f = fopen(path, "w")))
        return cli_error("cannot write '%s': %s", path, strerror(errno));
    fprintf(f, "# case predicted_ms measured_ms static_ms\n");
    for (int k = 0; k < ncases; k++) {
        const char *base = strrchr(cases[k].model, '/');
        fprintf(f, "\"%s %s\" %.6g %.6g %.6g\n", base ? base + 1 : cases[k].model, cases[k].load,
                cases[k].pred_us / 1e3, cases[k].meas_us / 1e3, cases[k].pred_static_us / 1e3);
    }
    if (fclose(f) != 0)
        return cli_error("cannot write '%s': %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/totals.gp", dir);
    if (!(f = fopen(path, "w")))
        return cli_error("cannot write '%s': %s", path, strerror(errno));
    fprintf(f, "set terminal pngcairo size 1100,600 noenhanced\nset output 'totals.png'\n"
               "set style data histograms\nset style histogram clustered\n"
               "set style fill solid 0.8 border -1\nset grid y\nset logscale y\n"
               "set ylabel 'latency (ms)'\nset xtics rotate by -40\nset key outside right\n"
               "set title 'model latency: predicted (load-aware, static) vs measured'\n"
               "plot 'totals.dat' using 3:xtic(1) title 'measured', '' using 2 title "
               "'predicted', '' using 4 title 'predicted (static)'\n");
    if (fclose(f) != 0)
        return cli_error("cannot write '%s': %s", path, strerror(errno));
    if (!cl_in_path("gnuplot")) {
        fprintf(stderr, "validate: gnuplot not found: wrote 2 .gp and 2 .dat files to %s\n", dir);
        return CLI_OK;
    }
    static const char *const names[] = {"nodes", "totals"};
    for (int i = 0; i < 2; i++) {
        char cmd[4400];
        snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot %s.gp 2>/dev/null", dir, names[i]);
        snprintf(path, sizeof path, "%s/%s.png", dir, names[i]);
        if (system(cmd) != 0 || access(path, R_OK) != 0)
            return cli_error("gnuplot failed on '%s/%s.gp'", dir, names[i]);
    }
    fprintf(stderr, "validate: wrote 6 files to %s\n", dir);
    return CLI_OK;
}

int cmd_validate(int argc, char **argv)
{
    enum { O_MODEL = CLI_X_NEXT, O_DEVICE, O_DB, O_LOAD, O_JSON, O_PLOT };
    static const struct option longopts[] = {{"model", required_argument, NULL, O_MODEL},
                                             {"device", required_argument, NULL, O_DEVICE},
                                             {"db", required_argument, NULL, O_DB},
                                             {"load", required_argument, NULL, O_LOAD},
                                             CLI_EXEC_LONGOPTS,
                                             {"json", no_argument, NULL, O_JSON},
                                             {"plot", required_argument, NULL, O_PLOT},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *models[MAX_MODELS], *loads[MAX_LOADS], *device = NULL, *db = NULL, *plot = NULL;
    int nmodels = 0, nloads = 0, json = 0, c;
    cli_exec_args x;
    int taken;

    cli_exec_args_init(&x);
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if ((taken = cli_exec_option("validate", c, optarg, &x)) != 0) {
            if (taken < 0)
                return CLI_USAGE;
            continue;
        }
        switch (c) {
        case O_MODEL:
            if (nmodels == MAX_MODELS)
                return cli_usage_error("validate", "at most %d models", MAX_MODELS);
            models[nmodels++] = optarg;
            break;
        case O_DEVICE: device = optarg; break;
        case O_DB: db = optarg; break;
        case O_LOAD:
            if (nloads == MAX_LOADS)
                return cli_usage_error("validate", "at most %d --load options", MAX_LOADS);
            loads[nloads++] = optarg;
            break;
        case O_JSON: json = 1; break;
        case O_PLOT: plot = optarg; break;
        case 'h': fputs(usage, stdout); return cli_finish(CLI_OK);
        default: return cli_usage_error("validate", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("validate", "unexpected argument '%s'", argv[optind]);
    if (!nmodels || !device)
        return cli_usage_error("validate", "--model and --device are required");
    if (!nloads)
        loads[nloads++] = "none";

    char err[1024];
    /* Each --load option is its own set of settings (the cross product of its levels); the
    ** options are concatenated, so "--load none --load cpu=50" is two settings. */
    prof_load_setting *settings = NULL;
    size_t nsettings = 0;
    for (int i = 0; i < nloads; i++) {
        prof_load_setting *one = NULL;
        size_t n1 = 0;
        cleave_status st = prof_load_parse(&one, &n1, &loads[i], 1, err, sizeof err);
        prof_load_setting *grown =
            st == CLEAVE_OK ? realloc(settings, (nsettings + n1) * sizeof *settings) : NULL;
        if (!grown) {
            free(one);
            free(settings);
            if (st == CLEAVE_OK || st == CLEAVE_ENOMEM)
                return cli_error("out of memory");
            return cli_usage_error("validate", "%s", err);
        }
        settings = grown;
        memcpy(settings + nsettings, one, n1 * sizeof *one);
        nsettings += n1;
        free(one);
    }
    cli_exec_args_finish(&x);
    cleave_predictor *p = NULL;
    vcase *cases = calloc((size_t)nmodels * nsettings, sizeof *cases);
    int ncases = 0, code = CLI_OK;
    if (!cases) {
        free(settings);
        return cli_error("out of memory");
    }
    if (cleave_predictor_open(&p, cli_db_path(db), device, err, sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }
    for (int m = 0; m < nmodels && code == CLI_OK; m++)
        code = validate_model(models[m], x.flags, p, settings, nsettings, x.threads, x.reps,
                              x.warmup, x.seed, cases, &ncases);
    if (code != CLI_OK)
        goto done;
    if (json) {
        code = print_json(cases, ncases, device, cleave_predictor_target(p));
    } else {
        printf("device '%s': measured and predicted latencies are the %s over the passes\n\n",
               device, cleave_predictor_target(p));
        print_table(cases, ncases);
        printf("%-28s %-20s %6s %8s %10s\n", "load", "op (over all models)", "nodes", "time",
               "median_err");
        code = op_errors(cases, ncases, print_op_row, NULL);
        printf("\n");
        if (code == CLI_OK)
            print_summary(cases, ncases);
    }
    if (plot)
        code = write_plots(plot, cases, ncases);
done:
    for (int k = 0; k < ncases; k++)
        vcase_release(&cases[k]);
    free(cases);
    free(settings);
    cleave_predictor_close(p);
    return cli_finish(code);
}
