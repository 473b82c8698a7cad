/*
** cli/cmd-plan.c - `cleave plan`: partition a model between the end device and the edge with
** the seeds' algorithms, from predicted per-layer latencies.
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
#include "planner/partition.h"
#include "planner/throughput.h"
#include "cli/plan-edgent.h"

static const char usage[] =
    "usage: cleave plan --model FILE --end DEVICE --edge DEVICE [--db PATH] [--edge-db PATH]\n"
    "                   [--net 3g|4g|wifi] [--up MBPS] [--down MBPS] [--rtt MS]\n"
    "                   [--algo NAME|all] [--couper METHOD] [--end-load none|now|K=V,...]\n"
    "                   [--edge-load none|now|K=V,...] [--unknown-op error|fallback]\n"
    "                   [--objective latency|throughput|both|auto] [--fps F]\n"
    "                   [--sweep-fps A:B:N] [--end-scale X] [--edge-scale X]\n"
    "                   [--json] [--plot DIR]\n"
    "       cleave plan --algo edgent --deadline MS [--include-loading]\n"
    "                   [--sweep-bandwidth A:B:N] [--sweep-deadline A:B:N] ...\n"
    "\n"
    "Import MODEL (ONNX, or the text graph format of docs/graph-format.md), predict every\n"
    "layer's latency on the end device and on the edge with their fitted models, and place\n"
    "each layer so that end compute + transfers + edge compute is smallest.  The input starts\n"
    "on the end device and the result returns to it; a tensor is sent once per direction.\n"
    "\n"
    "    --end DEVICE, --edge DEVICE  calibrated devices (in --db; the edge may be in --edge-db)\n"
    "    --net NAME       seed 002's links: 3g (up 1.1, down 4.6 Mbit/s), 4g (8.8 / 29.1),\n"
    "                     wifi (18.88 / 54.97); default 4g.  --up/--down override either\n"
    "    --rtt MS         round-trip time; each crossing pays half of it (default 0)\n"
    "    --algo NAME      local, edge, neurosurgeon, couper, dp, mincut, brute, or all\n"
    "                     (default all; brute only for graphs of at most 24 nodes)\n"
    "    --couper METHOD  Couper's evaluation: strongman, comm-slim, early-stop, hybrid\n"
    "                     (default hybrid); the table shows how many candidates it costed\n"
    "    --end-load L     'now' predicts under the load measured now, KEY=VALUE,... under a\n"
    "                     given load (load features of `cleave predict --help`), both with the\n"
    "                     dynamic models; 'none' (default) uses the static models.  Same for\n"
    "                     --edge-load\n"
    "    --plot DIR       write gnuplot plots to DIR: latency vs bandwidth (0.1-100 Mbit/s,\n"
    "                     both directions scaled together) per algorithm, and the breakdown\n"
    "                     of each plan into end, upload, edge and download time\n"
    "    --unknown-op M   'fallback' imports ops the catalogue lacks as a copy of their output\n"
    "                     (a dropout stand-in, priced by the device's dropout model)\n"
    "                     and lists them; 'error' (default) refuses the model\n"
    "    --json           every node's costs and placement, every tensor, the plans\n"
    "\n"
    "Video analytics (frames pipelined through end compute, network, edge compute):\n"
    "    --objective O    latency (default): smallest end + transfers + edge per frame;\n"
    "                     throughput: smallest slowest stage (split and couper: exact over\n"
    "                     their single-split candidates; dsh: DADS heavy load, within 3x of\n"
    "                     the optimum; bnb: branch and bound from dsh's plan, exact unless\n"
    "                     its budget runs out; brute: exact, at most 20 nodes); both: the\n"
    "                     two optimal plans side by side; auto (needs --fps): the latency\n"
    "                     plan while its slowest stage keeps up with F, else throughput\n"
    "                     (--algo picks latency algorithms; the throughput methods all run)\n"
    "    --fps F          frame rate of the stream: reports each plan's frame-drop rate,\n"
    "                     max(0, 1 - sustainable fps / F) (periodic arrivals, one frame at a\n"
    "                     time per stage, a bounded buffer before each stage)\n"
    "    --sweep-fps A:B:N  frame-drop rate at N frame rates from A to B of the latency-\n"
    "                     and the throughput-optimal plans; with --plot DIR also plotted\n"
    "                     (drop-vs-fps.{gp,dat,png}).  --plot DIR also draws every\n"
    "                     throughput plan's stages (pipeline-stages.{gp,dat,png})\n"
    "    --end-scale X    multiply every end-device prediction by X (a device X times\n"
    "                     slower); --edge-scale X likewise for the edge (default 1)\n"
    "\n"
    "DEVICE is a calibrated device, or a formula device file when it ends in .device or\n"
    "holds a '/' (docs/devices.md; data/devices/ has seed 001's Raspberry Pi 3 and desktop).\n"
    "\n"
    "Edgent (seed 001) right-sizing, for graphs with early exits (docs/graph-format.md):\n"
    "    --algo edgent    for each exit, the best partition of the network up to it (exact\n"
    "                     minimum cut); the most accurate exit meeting the deadline is chosen\n"
    "                     (ties: the faster); if none meets it, the fastest is reported\n"
    "    --deadline MS    the latency requirement\n"
    "    --include-loading  add each side's one-off model loading time (its device's loading\n"
    "                     formula over the weight bytes of the layers it runs): the latency\n"
    "                     of a first, cold inference\n"
    "    --sweep-bandwidth A:B:N  the choice at N bandwidths from A to B Mbit/s (both\n"
    "                     directions); --sweep-deadline A:B:N at N deadlines from A to B ms.\n"
    "                     With --plot DIR, gnuplot plots of them\n"
    "    --partition ALGO the partition algorithm run on each exit: mincut (default, exact),\n"
    "                     neurosurgeon (one split point, Edgent's own search), dp, brute, ...\n";

static const struct net_preset {
    const char *name;
    double up, down;
} presets[] = {{"3g", 1.1, 4.6}, {"4g", 8.8, 29.1}, {"wifi", 18.88, 54.97}};

static int parse_mbps(const char *opt, const char *val, double *out)
{
    char *end;
    double v = strtod(val, &end);
    if (end == val || *end || !isfinite(v) || v <= 0)
        return cli_usage_error("plan", "option '%s' needs a positive number, got '%s'", opt, val);
    *out = v;
    return CLI_OK;
}

/* Predict every node's latency on one device into US (indexed by graph node id). */
static int predict_nodes(const plan_graph *g, const cleave_predictor *p, const cleave_load *load,
                         const char *role, double *us)
{
    for (int i = 0; i < g->nnodes; i++) {
        const plan_node *n = &g->nodes[i];
        cleave_prediction r;
        if (n->flags & PLAN_NODE_ZERO_COST) {
            us[i] = 0.0;
            continue;
        }
        if (cleave_predict(p, &n->layer, load, &r) != CLEAVE_OK)
            return cli_error("node '%s' on the %s device '%s': %s", n->name, role,
                             cleave_predictor_device(p), cleave_predictor_errmsg(p));
        us[i] = r.latency_us;
    }
    return CLI_OK;
}

/* Open the predictor of one side; HOW is "none", "now", or a load already parsed into LOAD
** ("given"). */
static int open_side(cleave_predictor **p, const char *db, const char *dev, const char *how,
                     cleave_load *load, int *use_load)
{
    char err[512];
    if (cli_open_predictor(p, db, dev, err, sizeof err) != CLEAVE_OK)
        return cli_error("%s", err);
    *use_load = strcmp(how, "none") != 0;
    if (*use_load && cli_is_formula_device(dev))
        fprintf(stderr, "plan: note: formula device '%s' does not read the load; it is ignored\n",
                cleave_predictor_device(*p));
    if (strcmp(how, "now") == 0 && cleave_load_now(load, 0, err, sizeof err) != CLEAVE_OK)
        return cli_error("%s", err);
    return CLI_OK;
}

/* Placement of the problem's nodes as ranges of the topological order: "0-12 end, 13-49 edge". */
static void print_ranges(const plan_problem_buf *b, const plan_graph *g, const plan_result *r)
{
    int n = b->p.n, start = 0;
    for (int i = 1; i <= n; i++) {
        if (i < n && r->on_edge[i] == r->on_edge[start])
            continue;
        printf("    %-4s %s .. %s (%d node%s)\n", r->on_edge[start] ? "edge" : "end",
               g->nodes[b->node_of[start]].name, g->nodes[b->node_of[i - 1]].name, i - start,
               i - start == 1 ? "" : "s");
        start = i;
    }
    for (int t = 0; t < b->p.ntensors; t++) {
        int prod = b->p.producer[t];
        int side = prod < 0 ? 0 : r->on_edge[prod];
        int up = 0, down = 0;
        for (int k = b->p.cons_off[t]; k < b->p.cons_off[t + 1]; k++) {
            up |= !side && r->on_edge[b->p.cons[k]];
            down |= side && !r->on_edge[b->p.cons[k]];
        }
        down |= side && b->p.is_output[t];
        if (up || down)
            printf("    %s tensor '%s' (%lld bytes)\n", up ? "upload  " : "download",
                   g->tensors[t].name, (long long)g->tensors[t].bytes);
    }
}

static void json_latency_pipeline(const plan_result *r, double fps); /* issue 9, below */

static void json_plan(const plan_problem_buf *b, const plan_graph *g, plan_algo a,
                      const plan_result *r, double fps, int first)
{
    printf("%s\n    {\"algo\": \"%s\", ", first ? "" : ",", plan_algo_name(a));
    cli_json_breakdown(r);
    json_latency_pipeline(r, fps); /* issue 9 */
    printf(", \"evaluated\": %lld, \"exact\": %s, \"note\": ", (long long)r->evaluated,
           r->exact ? "true" : "false");
    cl_json_string(stdout, r->note);
    printf(", \"edge_nodes\": [");
    for (int i = 0, k = 0; i < b->p.n; i++)
        if (r->on_edge[i]) {
            printf("%s", k++ ? ", " : "");
            cl_json_string(stdout, g->nodes[b->node_of[i]].name);
        }
    printf("]}");
}

/* Write DIR/NAME with the text TEXT; returns CLI_OK or prints the error. */
static int write_file(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        if (f)
            fclose(f);
        return cli_error("cannot write '%s': %s", path, strerror(errno));
    }
    return CLI_OK;
}

/* The plots of --plot: every algorithm's predicted latency as the link's bandwidth goes from
** 0.1 to 100 Mbit/s upstream (downstream scaled by the same factor, keeping the link's ratio),
** and the breakdown of each plan at the requested link.  Each plot is NAME.gp + NAME.dat;
** gnuplot renders NAME.png when it is installed. */
static int write_plots(const char *dir, const char *model, const plan_graph *g, const double *t_end,
                       const double *t_edge, double up, double down, double rtt, const int *ran,
                       const plan_result *res, plan_couper_method couper)
{
    enum { NPOINTS = 31 };
    char *dat = NULL, *gp = NULL, err[512], line[1024];
    size_t len = 0;
    int code = CLI_OK;
    plan_problem_buf b;
    plan_result r;
    unsigned char *tmp = calloc((size_t)g->nnodes + 1, 1);

    memset(&b, 0, sizeof b);
    if (!tmp)
        return cli_error("out of memory");
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        code = cli_error("cannot create directory '%s': %s", dir, strerror(errno));
        goto done;
    }
    FILE *m = open_memstream(&dat, &len);
    if (!m) {
        code = cli_error("out of memory");
        goto done;
    }
    fprintf(m, "# up_mbps down_mbps");
    for (int a = 0; a < PLAN_ALGO_COUNT; a++)
        if (ran[a] && a != PLAN_ALGO_BRUTE)
            fprintf(m, " %s_ms", plan_algo_name((plan_algo)a));
    fputc('\n', m);
    for (int i = 0; i < NPOINTS && code == CLI_OK; i++) {
        double bw = 0.1 * pow(1000.0, (double)i / (NPOINTS - 1));
        double dn = bw * down / up;
        plan_problem_buf_release(&b);
        if (plan_problem_build(&b, g, t_end, t_edge, bw, dn, rtt, err, sizeof err) != CLEAVE_OK) {
            code = cli_error("%s", err);
            break;
        }
        fprintf(m, "%.6g %.6g", bw, dn);
        for (int a = 0; a < PLAN_ALGO_COUNT; a++) {
            if (!ran[a] || a == PLAN_ALGO_BRUTE)
                continue;
            memset(&r, 0, sizeof r);
            r.on_edge = tmp;
            cleave_status rc =
                a == PLAN_ALGO_COUPER
                    ? plan_couper(
                          &b.p, &(plan_couper_opts){.method = couper, .is_constant = b.is_constant},
                          &r, err, sizeof err)
                    : plan_run((plan_algo)a, &b.p, &r, err, sizeof err);
            if (rc != CLEAVE_OK) {
                code = cli_error("%s: %s", plan_algo_name((plan_algo)a), err);
                break;
            }
            fprintf(m, " %.6g", r.total_us / 1e3);
        }
        fputc('\n', m);
    }
    if (fclose(m) != 0 || code != CLI_OK) {
        code = code != CLI_OK ? code : cli_error("out of memory");
        goto done;
    }
    if ((code = write_file(dir, "latency-vs-bandwidth.dat", dat)) != CLI_OK)
        goto done;

    m = open_memstream(&gp, &len);
    if (!m) {
        code = cli_error("out of memory");
        goto done;
    }
    fprintf(m,
            "set terminal pngcairo size 900,600 noenhanced\nset output "
            "'latency-vs-bandwidth.png'\nset logscale xy\nset grid\n"
            "set xlabel 'upstream bandwidth (Mbit/s; downstream scaled alike)'\n"
            "set ylabel 'predicted latency (ms)'\nset key outside right\n"
            "set title '%s: predicted latency vs bandwidth, rtt %.4g ms'\nplot ",
            strrchr(model, '/') ? strrchr(model, '/') + 1 : model, rtt);
    int col = 3, first = 1;
    for (int a = 0; a < PLAN_ALGO_COUNT; a++) {
        if (!ran[a] || a == PLAN_ALGO_BRUTE)
            continue;
        fprintf(m, "%s'latency-vs-bandwidth.dat' using 1:%d with linespoints title '%s'",
                first ? "" : ", \\\n     ", col++, plan_algo_name((plan_algo)a));
        first = 0;
    }
    fputc('\n', m);
    if (fclose(m) != 0 || (code = write_file(dir, "latency-vs-bandwidth.gp", gp)) != CLI_OK)
        goto done;

    free(dat);
    dat = NULL;
    m = open_memstream(&dat, &len);
    if (!m) {
        code = cli_error("out of memory");
        goto done;
    }
    fprintf(m,
            "# algorithm end_ms up_ms edge_ms down_ms (up %.4g, down %.4g Mbit/s, rtt %.4g ms)\n",
            up, down, rtt);
    for (int a = 0; a < PLAN_ALGO_COUNT; a++)
        if (ran[a])
            fprintf(m, "%s %.6g %.6g %.6g %.6g\n", plan_algo_name((plan_algo)a),
                    res[a].end_us / 1e3, res[a].up_us / 1e3, res[a].edge_us / 1e3,
                    res[a].down_us / 1e3);
    if (fclose(m) != 0 || (code = write_file(dir, "plan-breakdown.dat", dat)) != CLI_OK)
        goto done;
    snprintf(line, sizeof line,
             "set terminal pngcairo size 900,600 noenhanced\nset output 'plan-breakdown.png'\n"
             "set style data histograms\nset style histogram rowstacked\n"
             "set style fill solid 0.8 border -1\nset boxwidth 0.6\nset grid y\n"
             "set ylabel 'predicted latency (ms)'\nset key outside right\n"
             "set title 'plan breakdown at up %.4g / down %.4g Mbit/s, rtt %.4g ms'\n"
             "plot 'plan-breakdown.dat' using 2:xtic(1) title 'end compute', '' using 3 title "
             "'upload', '' using 4 title 'edge compute', '' using 5 title 'download'\n",
             up, down, rtt);
    if ((code = write_file(dir, "plan-breakdown.gp", line)) != CLI_OK)
        goto done;

    if (!cl_in_path("gnuplot")) {
        fprintf(stderr, "plan: gnuplot not found: wrote 2 .gp and 2 .dat files to %s\n", dir);
        goto done;
    }
    static const char *const names[] = {"latency-vs-bandwidth", "plan-breakdown"};
    for (int i = 0; i < 2; i++) {
        char cmd[4400], png[4200];
        snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot %s.gp 2>/dev/null", dir, names[i]);
        snprintf(png, sizeof png, "%s/%s.png", dir, names[i]);
        if (system(cmd) != 0 || access(png, R_OK) != 0) {
            code = cli_error("gnuplot failed on '%s/%s.gp'", dir, names[i]);
            goto done;
        }
    }
    fprintf(stderr, "plan: wrote 6 files to %s\n", dir);
done:
    free(dat);
    free(gp);
    free(tmp);
    plan_problem_buf_release(&b);
    return code;
}

/* ---- the throughput objective (issue 9): pipelined frames, frame drops, DADS heavy load --- */

typedef enum objective { OBJ_LATENCY, OBJ_THROUGHPUT, OBJ_BOTH, OBJ_AUTO } objective;
static const char *const objective_names[] = {"latency", "throughput", "both", "auto"};

static const char drop_model[] =
    "periodic arrivals, one frame at a time per stage, a bounded buffer before each stage: "
    "drop = max(0, 1 - sustainable fps / F)";

/* What the throughput part of `cleave plan` was asked and found. */
typedef struct tput_run {
    objective obj;
    double fps;                /* 0: not given */
    double sweep_lo, sweep_hi; /* --sweep-fps A:B:N; sweep_n = 0 when not given */
    int sweep_n;
    plan_tput_result res[PLAN_TPUT_COUNT];
    int ran[PLAN_TPUT_COUNT];
    int best;        /* index into res of the throughput-optimal plan, -1 when none ran */
    int lat_best;    /* index into the latency results of the latency-optimal plan, -1 */
    int use_tput;    /* the plan to act on is the throughput one (objective throughput, or auto
                     ** under heavy load) */
    double lower_us; /* the best proven lower bound on any placement's bottleneck, 0 if none */
} tput_run;

static int parse_objective(const char *val, objective *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(val, objective_names[i]) == 0) {
            *out = (objective)i;
            return CLI_OK;
        }
    return cli_usage_error("plan", "unknown objective '%s' (latency, throughput, both, auto)", val);
}

/* --sweep-fps A:B:N with 0 < A < B and 2 <= N <= 1000. */
static int parse_sweep(const char *val, tput_run *t)
{
    char *e1, *e2, *e3;
    double a = strtod(val, &e1), b = *e1 == ':' ? strtod(e1 + 1, &e2) : NAN;
    long n = !isnan(b) && *e2 == ':' ? strtol(e2 + 1, &e3, 10) : 0;
    if (isnan(b) || *e2 != ':' || e3 == e2 + 1 || *e3 || !isfinite(a) || !isfinite(b) || !(a > 0) ||
        !(b > a) || n < 2 || n > 1000)
        return cli_usage_error("plan",
                               "option '--sweep-fps' needs A:B:N with 0 < A < B and 2 <= N <= "
                               "1000, got '%s'",
                               val);
    t->sweep_lo = a;
    t->sweep_hi = b;
    t->sweep_n = (int)n;
    return CLI_OK;
}

/* Run every throughput method (brute force only on graphs of at most 20 nodes) into T, the
** placements in PLACE (PLAN_TPUT_COUNT blocks of n + 1 bytes), and pick the best. */
static int run_throughput(const plan_problem_buf *b, tput_run *t, unsigned char *place)
{
    char err[512];
    t->best = -1;
    for (int a = 0; a < PLAN_TPUT_COUNT; a++) {
        if (a == PLAN_TPUT_BRUTE && b->p.n > PLAN_TPUT_BRUTE_MAX_NODES)
            continue;
        t->res[a].r.on_edge = place + (size_t)a * ((size_t)b->p.n + 1);
        cleave_status rc = a == PLAN_TPUT_BNB /* from dsh's plan, already made */
                               ? plan_tput_bnb(&b->p, PLAN_TPUT_BNB_BUDGET, &t->res[PLAN_TPUT_DSH],
                                               &t->res[a], err, sizeof err)
                               : plan_tput_run((plan_tput_algo)a, &b->p, b->is_constant, &t->res[a],
                                               err, sizeof err);
        if (rc != CLEAVE_OK)
            return cli_error("%s: %s", plan_tput_algo_name((plan_tput_algo)a), err);
        t->ran[a] = 1;
        if (t->res[a].lower_us > t->lower_us)
            t->lower_us = t->res[a].lower_us;
        const plan_tput_result *r = &t->res[a], *o = t->best >= 0 ? &t->res[t->best] : NULL;
        /* the better plan; on a tie the one with the stronger guarantee (brute comes last) */
        if (!o || plan_tput_better(&r->st, r->r.total_us, &o->st, o->r.total_us) ||
            (!plan_tput_better(&o->st, o->r.total_us, &r->st, r->r.total_us) && r->r.exact &&
             !o->r.exact))
            t->best = a;
    }
    return CLI_OK;
}

/* The light/heavy-load rule of DADS for --objective auto: the latency plan while its slowest
** stage keeps up with the frame rate. */
static void decide(tput_run *t, const plan_result *lat)
{
    plan_stages s;
    if (t->obj == OBJ_THROUGHPUT) {
        t->use_tput = 1;
        return;
    }
    if (t->obj != OBJ_AUTO || !lat)
        return;
    plan_stages_of(lat, &s);
    t->use_tput = plan_tput_fps(s.bottleneck_us) < t->fps;
}

static void json_stage_fields(const plan_stages *s, double fps)
{
    printf(", \"xfer_us\": ");
    cl_json_number(stdout, s->xfer_us);
    printf(", \"bottleneck_us\": ");
    cl_json_number(stdout, s->bottleneck_us);
    printf(", \"bottleneck\": \"%s\", \"fps\": ", plan_stages_bottleneck(s));
    cl_json_number(stdout, plan_tput_fps(s->bottleneck_us));
    printf(", \"drop_rate\": ");
    if (fps > 0)
        cl_json_number(stdout, plan_tput_drop_rate(s->bottleneck_us, fps));
    else
        printf("null");
}

/* The pipeline fields of a latency plan, appended to its JSON object. */
static void json_latency_pipeline(const plan_result *r, double fps)
{
    plan_stages s;
    plan_stages_of(r, &s);
    json_stage_fields(&s, fps);
}

/* The throughput part of the JSON document (after "plans"). */
static void json_throughput(const plan_problem_buf *b, const plan_graph *g, const tput_run *t,
                            const char *lat_name, const plan_result *lat)
{
    char guar[160];
    printf(",\n  \"objective\": \"%s\", \"fps\": ", objective_names[t->obj]);
    if (t->fps > 0)
        cl_json_number(stdout, t->fps);
    else
        printf("null");
    printf(", \"drop_model\": ");
    cl_json_string(stdout, drop_model);
    printf(", \"lower_bound_us\": ");
    cl_json_number(stdout, t->lower_us);
    printf(",\n  \"throughput_plans\": [");
    for (int a = 0, first = 1; a < PLAN_TPUT_COUNT; a++) {
        if (!t->ran[a])
            continue;
        const plan_tput_result *r = &t->res[a];
        printf("%s\n    {\"algo\": \"%s\", ", first ? "" : ",",
               plan_tput_algo_name((plan_tput_algo)a));
        first = 0;
        cli_json_breakdown(&r->r);
        json_stage_fields(&r->st, t->fps);
        plan_tput_guarantee(r, guar, sizeof guar);
        printf(", \"evaluated\": %lld, \"exact\": %s, \"scope\": \"%s\", \"ratio\": ",
               (long long)r->r.evaluated, r->r.exact ? "true" : "false",
               r->scope == PLAN_TPUT_SCOPE_ALL      ? "all"
               : r->scope == PLAN_TPUT_SCOPE_SPLITS ? "splits"
                                                    : "couper");
        cl_json_number(stdout, r->ratio);
        printf(", \"lower_bound_us\": ");
        cl_json_number(stdout, r->lower_us);
        printf(", \"guarantee\": ");
        cl_json_string(stdout, guar);
        printf(", \"note\": ");
        cl_json_string(stdout, r->r.note);
        printf(", \"edge_nodes\": [");
        for (int i = 0, k = 0; i < b->p.n; i++)
            if (r->r.on_edge[i]) {
                printf("%s", k++ ? ", " : "");
                cl_json_string(stdout, g->nodes[b->node_of[i]].name);
            }
        printf("]}");
    }
    printf("],\n  \"choice\": {\"latency_plan\": ");
    if (lat)
        cl_json_string(stdout, lat_name);
    else
        printf("null");
    printf(", \"throughput_plan\": ");
    if (t->best >= 0)
        cl_json_string(stdout, plan_tput_algo_name((plan_tput_algo)t->best));
    else
        printf("null");
    printf(", \"objective_used\": \"%s\"}", t->use_tput ? "throughput" : "latency");
    if (t->sweep_n > 0 && lat && t->best >= 0) {
        plan_stages ls;
        plan_stages_of(lat, &ls);
        printf(",\n  \"sweep\": [");
        for (int i = 0; i < t->sweep_n; i++) {
            double f = t->sweep_lo + (t->sweep_hi - t->sweep_lo) * i / (t->sweep_n - 1);
            printf("%s\n    {\"fps\": ", i ? "," : "");
            cl_json_number(stdout, f);
            printf(", \"drop_latency_plan\": ");
            cl_json_number(stdout, plan_tput_drop_rate(ls.bottleneck_us, f));
            printf(", \"drop_throughput_plan\": ");
            cl_json_number(stdout, plan_tput_drop_rate(t->res[t->best].st.bottleneck_us, f));
            printf("}");
        }
        printf("]");
    }
}

/* One row of the side-by-side table. */
static void print_side(const char *label, const plan_result *r, double fps)
{
    plan_stages s;
    plan_stages_of(r, &s);
    printf("%-32s %11.3f %9.3f %9.3f %9.3f %10.3f %-8s %9.2f", label, r->total_us / 1e3,
           s.end_us / 1e3, s.xfer_us / 1e3, s.edge_us / 1e3, s.bottleneck_us / 1e3,
           plan_stages_bottleneck(&s), plan_tput_fps(s.bottleneck_us));
    if (fps > 0)
        printf(" %8.1f%%", 100.0 * plan_tput_drop_rate(s.bottleneck_us, fps));
    putchar('\n');
}

/* Run gnuplot on DIR/NAME.gp (written with NAME.dat) when it is installed, else say so. */
static int render(const char *dir, const char *name)
{
    char cmd[4400], png[4200];
    fflush(stdout);
    if (!cl_in_path("gnuplot")) {
        fprintf(stderr, "plan: gnuplot not found: wrote %s.gp and %s.dat to %s\n", name, name, dir);
        return CLI_OK;
    }
    snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot %s.gp 2>/dev/null", dir, name);
    snprintf(png, sizeof png, "%s/%s.png", dir, name);
    if (system(cmd) != 0 || access(png, R_OK) != 0)
        return cli_error("gnuplot failed on '%s/%s.gp'", dir, name);
    fprintf(stderr, "plan: wrote %s.{gp,dat,png} to %s\n", name, dir);
    return CLI_OK;
}

/* Close the gnuplot script being written to M (its text lands in *GP), write it to
** DIR/NAME.gp and render it. */
static int finish_plot(const char *dir, const char *name, FILE *m, char **gp)
{
    char file[256];
    if (fclose(m) != 0 || !*gp)
        return cli_error("out of memory");
    snprintf(file, sizeof file, "%s.gp", name);
    int code = write_file(dir, file, *gp);
    return code != CLI_OK ? code : render(dir, name);
}

/* With --plot DIR and the throughput objective: pipeline-stages.{dat,gp}, each plan's end,
** network and edge time per frame side by side (the bottleneck is the tallest bar), with the
** frame interval of --fps as a line. */
static int stage_plot(const tput_run *t, const char *lat_name, const plan_result *lat,
                      const char *model, const char *dir)
{
    char *dat = NULL, *gp = NULL;
    size_t len = 0;
    int code = CLI_OK;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cli_error("cannot create directory '%s': %s", dir, strerror(errno));
    FILE *m = open_memstream(&dat, &len);
    if (!m)
        return cli_error("out of memory");
    fprintf(m, "# plan end_ms network_ms edge_ms\n");
    if (lat) {
        plan_stages s;
        plan_stages_of(lat, &s);
        fprintf(m, "latency:%s %.6g %.6g %.6g\n", lat_name, s.end_us / 1e3, s.xfer_us / 1e3,
                s.edge_us / 1e3);
    }
    for (int a = 0; a < PLAN_TPUT_COUNT; a++)
        if (t->ran[a])
            fprintf(m, "%s %.6g %.6g %.6g\n", plan_tput_algo_name((plan_tput_algo)a),
                    t->res[a].st.end_us / 1e3, t->res[a].st.xfer_us / 1e3,
                    t->res[a].st.edge_us / 1e3);
    if (fclose(m) != 0) {
        code = cli_error("out of memory");
        goto done;
    }
    if ((code = write_file(dir, "pipeline-stages.dat", dat)) != CLI_OK)
        goto done;
    m = open_memstream(&gp, &len);
    if (!m) {
        code = cli_error("out of memory");
        goto done;
    }
    fprintf(m,
            "set terminal pngcairo size 900,600 noenhanced\nset output 'pipeline-stages.png'\n"
            "set style data histograms\nset style histogram clustered gap 1\n"
            "set style fill solid 0.8 border -1\nset grid y\nset yrange [0:*]\n"
            "set xtics rotate by -20\n"
            "set ylabel 'time per frame (ms)'\nset key outside right\n"
            "set title '%s: pipeline stages per plan (the tallest bar limits the frame rate)'\n",
            strrchr(model, '/') ? strrchr(model, '/') + 1 : model);
    if (t->fps > 0)
        fprintf(m,
                "plot 'pipeline-stages.dat' using 2:xtic(1) title 'end compute', '' using 3 "
                "title 'network', '' using 4 title 'edge compute', %.6g with lines lw 2 "
                "dt 2 title 'frame interval at %.6g fps'\n",
                1e3 / t->fps, t->fps);
    else
        fprintf(m, "plot 'pipeline-stages.dat' using 2:xtic(1) title 'end compute', '' using 3 "
                   "title 'network', '' using 4 title 'edge compute'\n");
    code = finish_plot(dir, "pipeline-stages", m, &gp);
done:
    free(dat);
    free(gp);
    return code;
}

/* The sweep of --sweep-fps: frame-drop rate vs frame rate of both plans, as a table and, with
** --plot DIR, drop-vs-fps.{dat,gp} rendered to drop-vs-fps.png by gnuplot when installed. */
static int sweep_fps(const tput_run *t, const char *lat_name, const plan_result *lat,
                     const char *model, const char *dir, FILE *table)
{
    plan_stages ls;
    const plan_stages *ts = &t->res[t->best].st;
    const char *tname = plan_tput_algo_name((plan_tput_algo)t->best);
    char *dat = NULL, *gp = NULL;
    size_t len = 0;
    int code = CLI_OK;
    plan_stages_of(lat, &ls);
    if (table) {
        fprintf(table, "\nframe-drop rate vs frame rate (%s)\n", drop_model);
        fprintf(table, "%10s %14s %14s\n", "fps", "latency_plan", "tput_plan");
    }
    FILE *m = open_memstream(&dat, &len);
    if (!m)
        return cli_error("out of memory");
    fprintf(m, "# fps drop_latency_plan(%s) drop_throughput_plan(%s), percent\n", lat_name, tname);
    for (int i = 0; i < t->sweep_n; i++) {
        double f = t->sweep_lo + (t->sweep_hi - t->sweep_lo) * i / (t->sweep_n - 1);
        double dl = 100.0 * plan_tput_drop_rate(ls.bottleneck_us, f);
        double dt = 100.0 * plan_tput_drop_rate(ts->bottleneck_us, f);
        if (table)
            fprintf(table, "%10.4g %13.2f%% %13.2f%%\n", f, dl, dt);
        fprintf(m, "%.6g %.6g %.6g\n", f, dl, dt);
    }
    if (fclose(m) != 0)
        code = cli_error("out of memory");
    if (code != CLI_OK || !dir) {
        if (!dir && table)
            fprintf(table, "  (--plot DIR also plots it)\n");
        goto done;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        code = cli_error("cannot create directory '%s': %s", dir, strerror(errno));
        goto done;
    }
    if ((code = write_file(dir, "drop-vs-fps.dat", dat)) != CLI_OK)
        goto done;
    m = open_memstream(&gp, &len);
    if (!m) {
        code = cli_error("out of memory");
        goto done;
    }
    fprintf(m,
            "set terminal pngcairo size 900,600 noenhanced\nset output 'drop-vs-fps.png'\n"
            "set grid\nset xlabel 'frame rate (frames/s)'\nset ylabel 'frames dropped (%%)'\n"
            "set yrange [0:100]\nset key top left\n"
            "set title '%s: frame-drop rate vs frame rate'\n"
            "plot 'drop-vs-fps.dat' using 1:2 with lines lw 2 title 'latency-optimal (%s, "
            "%.4g fps max)', \\\n     '' using 1:3 with lines lw 2 title 'throughput-optimal "
            "(%s, %.4g fps max)'\n",
            strrchr(model, '/') ? strrchr(model, '/') + 1 : model, lat_name,
            plan_tput_fps(ls.bottleneck_us), tname, plan_tput_fps(ts->bottleneck_us));
    code = finish_plot(dir, "drop-vs-fps", m, &gp);
done:
    free(dat);
    free(gp);
    return code;
}

/* The text report of the throughput objective, after the latency table (if any). */
static int print_throughput(const plan_problem_buf *b, const plan_graph *g, const tput_run *t,
                            const char *lat_name, const plan_result *lat, const char *model,
                            const char *plot_dir)
{
    char guar[160];
    if (t->best >= 0) {
        printf("\nthroughput objective: the slowest pipeline stage (end compute, network up + "
               "down, edge compute)\n");
        printf("%-8s %13s %-8s %9s %9s %9s %9s %11s %9s  %s\n", "method", "bottleneck_ms", "stage",
               "fps_max", "end_ms", "net_ms", "edge_ms", "latency_ms", "evals", "guarantee");
        for (int a = 0; a < PLAN_TPUT_COUNT; a++) {
            if (!t->ran[a])
                continue;
            const plan_tput_result *r = &t->res[a];
            plan_tput_guarantee(r, guar, sizeof guar);
            printf("%-8s %13.3f %-8s %9.2f %9.3f %9.3f %9.3f %11.3f %9lld  %s\n",
                   plan_tput_algo_name((plan_tput_algo)a), r->st.bottleneck_us / 1e3,
                   plan_stages_bottleneck(&r->st), plan_tput_fps(r->st.bottleneck_us),
                   r->st.end_us / 1e3, r->st.xfer_us / 1e3, r->st.edge_us / 1e3,
                   r->r.total_us / 1e3, (long long)r->r.evaluated, guar);
        }
        for (int a = 0; a < PLAN_TPUT_COUNT; a++)
            if (t->ran[a] && t->res[a].r.note[0])
                printf("  %s: %s\n", plan_tput_algo_name((plan_tput_algo)a), t->res[a].r.note);
        double bn = t->res[t->best].st.bottleneck_us;
        if (t->lower_us > 0 && bn - t->lower_us <= 1e-9 * bn) /* proven by some method */
            printf("  no placement has a bottleneck below %.3f ms (at most %.2f fps): the best "
                   "plan is optimal\n",
                   t->lower_us / 1e3, plan_tput_fps(t->lower_us));
        else if (t->lower_us > 0)
            printf("  no placement has a bottleneck below %.3f ms (at most %.2f fps): the best "
                   "plan is within %.4fx of the optimum\n",
                   t->lower_us / 1e3, plan_tput_fps(t->lower_us),
                   t->res[t->best].st.bottleneck_us / t->lower_us);
    }
    if (lat && t->best >= 0 && (t->obj == OBJ_BOTH || t->obj == OBJ_AUTO || t->sweep_n > 0)) {
        char l1[64], l2[64];
        printf("\nlatency-optimal vs throughput-optimal plan");
        if (t->fps > 0)
            printf(" at %.6g fps", t->fps);
        printf(":\n%-32s %11s %9s %9s %9s %10s %-8s %9s%s\n", "plan", "latency_ms", "end_ms",
               "net_ms", "edge_ms", "bottleneck", "stage", "fps_max",
               t->fps > 0 ? "      drop" : "");
        snprintf(l1, sizeof l1, "latency-optimal (%s)", lat_name);
        snprintf(l2, sizeof l2, "throughput-optimal (%s)",
                 plan_tput_algo_name((plan_tput_algo)t->best));
        print_side(l1, lat, t->fps);
        print_side(l2, &t->res[t->best].r, t->fps);
    }
    if (t->obj == OBJ_AUTO && lat) {
        plan_stages s;
        plan_stages_of(lat, &s);
        printf("\nobjective auto at %.6g fps: the latency-optimal plan (%s) sustains %.2f fps "
               "(%s-bound), %s: %s\n",
               t->fps, lat_name, plan_tput_fps(s.bottleneck_us), plan_stages_bottleneck(&s),
               t->use_tput ? "too slow" : "enough",
               t->use_tput ? "heavy load, using the throughput objective"
                           : "light load, using the latency objective");
    } else if (t->obj == OBJ_LATENCY && t->fps > 0 && lat) {
        plan_stages s;
        plan_stages_of(lat, &s);
        printf("\nat %.6g fps the fastest plan (%s) sustains %.2f fps (%s-bound) and drops "
               "%.1f%% of frames (%s)\n",
               t->fps, lat_name, plan_tput_fps(s.bottleneck_us), plan_stages_bottleneck(&s),
               100.0 * plan_tput_drop_rate(s.bottleneck_us, t->fps), drop_model);
    }
    if ((t->use_tput || t->obj == OBJ_BOTH) && t->best >= 0) {
        const plan_tput_result *r = &t->res[t->best];
        printf("\nplacement of the throughput-optimal plan (%s): %.2f fps, latency %.3f ms",
               plan_tput_algo_name((plan_tput_algo)t->best), plan_tput_fps(r->st.bottleneck_us),
               r->r.total_us / 1e3);
        if (t->fps > 0)
            printf(", drops %.1f%% at %.6g fps",
                   100.0 * plan_tput_drop_rate(r->st.bottleneck_us, t->fps), t->fps);
        printf("\n");
        print_ranges(b, g, &r->r);
    }
    if (t->sweep_n > 0 && lat && t->best >= 0)
        return sweep_fps(t, lat_name, lat, model, plot_dir, stdout);
    return CLI_OK;
}

int cmd_plan(int argc, char **argv)
{
    enum {
        O_MODEL = 256,
        O_END,
        O_EDGE,
        O_DB,
        O_EDGE_DB,
        O_NET,
        O_UP,
        O_DOWN,
        O_RTT,
        O_ALGO,
        O_END_LOAD,
        O_EDGE_LOAD,
        O_UNKNOWN,
        O_JSON,
        O_COUPER,
        O_PLOT,
        O_OBJECTIVE,
        O_FPS,
        O_SWEEP_FPS,
        O_END_SCALE,
        O_EDGE_SCALE,
        O_DEADLINE,
        O_SWB,
        O_SWD,
        O_LOADING,
        O_PARTITION
    };
    static const struct option longopts[] = {{"model", required_argument, NULL, O_MODEL},
                                             {"end", required_argument, NULL, O_END},
                                             {"edge", required_argument, NULL, O_EDGE},
                                             {"db", required_argument, NULL, O_DB},
                                             {"edge-db", required_argument, NULL, O_EDGE_DB},
                                             {"net", required_argument, NULL, O_NET},
                                             {"up", required_argument, NULL, O_UP},
                                             {"down", required_argument, NULL, O_DOWN},
                                             {"rtt", required_argument, NULL, O_RTT},
                                             {"algo", required_argument, NULL, O_ALGO},
                                             {"end-load", required_argument, NULL, O_END_LOAD},
                                             {"edge-load", required_argument, NULL, O_EDGE_LOAD},
                                             {"unknown-op", required_argument, NULL, O_UNKNOWN},
                                             {"json", no_argument, NULL, O_JSON},
                                             {"couper", required_argument, NULL, O_COUPER},
                                             {"plot", required_argument, NULL, O_PLOT},
                                             {"objective", required_argument, NULL, O_OBJECTIVE},
                                             {"fps", required_argument, NULL, O_FPS},
                                             {"sweep-fps", required_argument, NULL, O_SWEEP_FPS},
                                             {"end-scale", required_argument, NULL, O_END_SCALE},
                                             {"edge-scale", required_argument, NULL, O_EDGE_SCALE},
                                             {"deadline", required_argument, NULL, O_DEADLINE},
                                             {"sweep-bandwidth", required_argument, NULL, O_SWB},
                                             {"sweep-deadline", required_argument, NULL, O_SWD},
                                             {"include-loading", no_argument, NULL, O_LOADING},
                                             {"partition", required_argument, NULL, O_PARTITION},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *model = NULL, *end_dev = NULL, *edge_dev = NULL, *db = NULL, *edge_db = NULL;
    const char *end_how = "none", *edge_how = "none", *plot_dir = NULL;
    plan_couper_method couper = PLAN_COUPER_HYBRID;
    cli_edgent_args ed; /* --algo edgent (cli/plan-edgent.c) */
    int edgent = 0, edgent_opts = 0;
    double up = presets[1].up, down = presets[1].down, rtt = 0.0;
    int algo = -1, json = 0, opt, code = CLI_OK, use_end_load = 0, use_edge_load = 0;
    unsigned flags = 0;
    plan_graph *g = NULL;
    cleave_predictor *pe = NULL, *px = NULL;
    cleave_load end_load, edge_load;
    double *t_end = NULL, *t_edge = NULL;
    plan_problem_buf b;
    plan_result res[PLAN_ALGO_COUNT];
    unsigned char *placements = NULL;
    char err[1024];
    tput_run tput;
    double end_scale = 1.0, edge_scale = 1.0;
    unsigned char *tput_place = NULL;

    memset(&tput, 0, sizeof tput);
    memset(&b, 0, sizeof b);
    memset(res, 0, sizeof res);
    memset(&ed, 0, sizeof ed);
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (opt) {
        case O_MODEL: model = optarg; break;
        case O_END: end_dev = optarg; break;
        case O_EDGE: edge_dev = optarg; break;
        case O_DB: db = optarg; break;
        case O_EDGE_DB: edge_db = optarg; break;
        case O_NET: {
            size_t i = 0;
            while (i < sizeof presets / sizeof presets[0] && strcmp(presets[i].name, optarg))
                i++;
            if (i == sizeof presets / sizeof presets[0])
                return cli_usage_error("plan", "unknown network '%s' (3g, 4g, wifi)", optarg);
            up = presets[i].up;
            down = presets[i].down;
            break;
        }
        case O_UP:
            if (parse_mbps("--up", optarg, &up))
                return CLI_USAGE;
            break;
        case O_DOWN:
            if (parse_mbps("--down", optarg, &down))
                return CLI_USAGE;
            break;
        case O_RTT: {
            char *e;
            rtt = strtod(optarg, &e);
            if (e == optarg || *e || !isfinite(rtt) || rtt < 0)
                return cli_usage_error("plan", "option '--rtt' needs a number >= 0, got '%s'",
                                       optarg);
            break;
        }
        case O_ALGO: {
            plan_algo a;
            edgent = strcmp(optarg, "edgent") == 0;
            if (strcmp(optarg, "all") == 0 || edgent)
                algo = -1;
            else if (plan_algo_parse(optarg, &a) == 0)
                algo = (int)a;
            else
                return cli_usage_error("plan",
                                       "unknown algorithm '%s' (local, edge, neurosurgeon, "
                                       "couper, dp, mincut, brute, edgent, all)",
                                       optarg);
            break;
        }
        case O_END_LOAD:
        case O_EDGE_LOAD: {
            const char *name = opt == O_END_LOAD ? "--end-load" : "--edge-load";
            const char **how = opt == O_END_LOAD ? &end_how : &edge_how;
            if (strcmp(optarg, "none") == 0 || strcmp(optarg, "now") == 0)
                *how = optarg;
            else if (cli_parse_load("plan", name, optarg,
                                    opt == O_END_LOAD ? &end_load : &edge_load) == 0)
                *how = "given";
            else
                return CLI_USAGE;
            break;
        }
        case O_COUPER:
            if (plan_couper_method_parse(optarg, &couper) != 0)
                return cli_usage_error("plan",
                                       "unknown Couper method '%s' (strongman, comm-slim, "
                                       "early-stop, hybrid)",
                                       optarg);
            break;
        case O_PLOT: plot_dir = optarg; break;
        case O_OBJECTIVE:
            if (parse_objective(optarg, &tput.obj) != CLI_OK)
                return CLI_USAGE;
            break;
        case O_FPS:
            if (parse_mbps("--fps", optarg, &tput.fps))
                return CLI_USAGE;
            break;
        case O_SWEEP_FPS:
            if (parse_sweep(optarg, &tput) != CLI_OK)
                return CLI_USAGE;
            break;
        case O_END_SCALE:
        case O_EDGE_SCALE:
            if (parse_mbps(opt == O_END_SCALE ? "--end-scale" : "--edge-scale", optarg,
                           opt == O_END_SCALE ? &end_scale : &edge_scale))
                return CLI_USAGE;
            break;
        case O_DEADLINE: {
            char *e;
            ed.deadline_ms = strtod(optarg, &e);
            if (e == optarg || *e || !isfinite(ed.deadline_ms) || ed.deadline_ms <= 0)
                return cli_usage_error("plan",
                                       "option '--deadline' needs a positive number of ms, got "
                                       "'%s'",
                                       optarg);
            edgent_opts = 1;
            break;
        }
        case O_SWB:
        case O_SWD:
            if (cli_parse_sweep(opt == O_SWB ? "--sweep-bandwidth" : "--sweep-deadline", optarg,
                                opt == O_SWB ? &ed.bw : &ed.dl) != 0)
                return CLI_USAGE;
            edgent_opts = 1;
            break;
        case O_LOADING:
            ed.include_loading = 1;
            edgent_opts = 1;
            break;
        case O_PARTITION: {
            plan_algo a;
            if (plan_algo_parse(optarg, &a) != 0)
                return cli_usage_error("plan",
                                       "unknown partition algorithm '%s' (local, edge, "
                                       "neurosurgeon, couper, dp, mincut, brute)",
                                       optarg);
            ed.partition = a;
            ed.partition_given = 1;
            edgent_opts = 1;
            break;
        }
        case O_UNKNOWN:
            if (strcmp(optarg, "fallback") == 0)
                flags |= PLAN_ONNX_FALLBACK;
            else if (strcmp(optarg, "error") != 0)
                return cli_usage_error("plan",
                                       "option '--unknown-op' takes error or fallback, "
                                       "got '%s'",
                                       optarg);
            break;
        case O_JSON: json = 1; break;
        case 'h': fputs(usage, stdout); return cli_finish(CLI_OK);
        default: return cli_usage_error("plan", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("plan", "unexpected argument '%s'", argv[optind]);
    if (!model || !end_dev || !edge_dev)
        return cli_usage_error("plan", "--model, --end and --edge are required");
    if (tput.obj == OBJ_AUTO && !(tput.fps > 0))
        return cli_usage_error("plan", "--objective auto needs --fps");
    if (edgent && (tput.obj != OBJ_LATENCY || tput.fps > 0 || tput.sweep_n > 0))
        return cli_usage_error("plan", "--objective, --fps and --sweep-fps do not combine with "
                                       "--algo edgent");
    if (edgent_opts && !edgent)
        return cli_usage_error("plan", "--deadline, --sweep-bandwidth, --sweep-deadline, "
                                       "--include-loading and --partition are for --algo edgent");
    if (edgent && ed.deadline_ms <= 0 && !(ed.dl.n > 0 && ed.bw.n == 0))
        return cli_usage_error("plan", "--algo edgent needs --deadline MS");
    if (edgent && plot_dir && ed.bw.n == 0 && ed.dl.n == 0)
        return cli_usage_error("plan", "--plot with --algo edgent plots the sweeps: give "
                                       "--sweep-bandwidth or --sweep-deadline");
    db = cli_db_path(db);

    if (plan_graph_load(&g, model, flags, err, sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }
    if ((code = open_side(&pe, db, end_dev, end_how, &end_load, &use_end_load)) != CLI_OK ||
        (code = open_side(&px, edge_db ? edge_db : db, edge_dev, edge_how, &edge_load,
                          &use_edge_load)) != CLI_OK)
        goto done;
    t_end = calloc((size_t)g->nnodes + 1, sizeof *t_end);
    t_edge = calloc((size_t)g->nnodes + 1, sizeof *t_edge);
    placements = calloc((size_t)PLAN_ALGO_COUNT * ((size_t)g->nnodes + 1), 1);
    if (!t_end || !t_edge || !placements) {
        code = cli_error("out of memory");
        goto done;
    }
    if ((code = predict_nodes(g, pe, use_end_load ? &end_load : NULL, "end", t_end)) != CLI_OK ||
        (code = predict_nodes(g, px, use_edge_load ? &edge_load : NULL, "edge", t_edge)) != CLI_OK)
        goto done;
    for (int i = 0; i < g->nnodes; i++) {
        t_end[i] *= end_scale;
        t_edge[i] *= edge_scale;
    }
    if (edgent) { /* Edgent's exit + partition choice: cli/plan-edgent.c */
        ed.model = model;
        ed.end_dev = cleave_predictor_device(pe); /* a formula file's 'device' name */
        ed.edge_dev = cleave_predictor_device(px);
        ed.g = g;
        ed.t_end = t_end;
        ed.t_edge = t_edge;
        ed.pe = pe;
        ed.px = px;
        ed.up = up;
        ed.down = down;
        ed.rtt = rtt;
        ed.plot_dir = plot_dir;
        ed.json = json;
        code = cli_plan_edgent(&ed);
        goto done;
    }
    if (plan_problem_build(&b, g, t_end, t_edge, up, down, rtt, err, sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }

    int ran[PLAN_ALGO_COUNT] = {0};
    int need_latency = tput.obj != OBJ_THROUGHPUT || tput.sweep_n > 0;
    int need_tput = tput.obj != OBJ_LATENCY || tput.sweep_n > 0;
    for (int a = 0; a < PLAN_ALGO_COUNT && need_latency; a++) {
        if (algo >= 0 && a != algo)
            continue;
        if (algo < 0 && a == PLAN_ALGO_BRUTE && b.p.n > PLAN_BRUTE_MAX_NODES)
            continue;
        res[a].on_edge = placements + (size_t)a * ((size_t)g->nnodes + 1);
        cleave_status rc =
            a == PLAN_ALGO_COUPER
                ? plan_couper(&b.p,
                              &(plan_couper_opts){.method = couper, .is_constant = b.is_constant},
                              &res[a], err, sizeof err)
                : plan_run((plan_algo)a, &b.p, &res[a], err, sizeof err);
        if (rc != CLEAVE_OK) {
            code = cli_error("%s: %s", plan_algo_name((plan_algo)a), err);
            goto done;
        }
        ran[a] = 1;
    }

    /* the throughput objective (issue 9) */
    tput.lat_best = -1;
    for (int a = 0; a < PLAN_ALGO_COUNT; a++)
        if (ran[a] && (tput.lat_best < 0 || res[a].total_us < res[tput.lat_best].total_us ||
                       (res[a].total_us == res[tput.lat_best].total_us && res[a].exact &&
                        !res[tput.lat_best].exact)))
            tput.lat_best = a; /* the fastest; an exact one on ties */
    tput.best = -1;
    if (need_tput) {
        tput_place = calloc((size_t)PLAN_TPUT_COUNT * ((size_t)b.p.n + 1), 1);
        if (!tput_place) {
            code = cli_error("out of memory");
            goto done;
        }
        if ((code = run_throughput(&b, &tput, tput_place)) != CLI_OK)
            goto done;
    }
    const plan_result *lat_plan = tput.lat_best >= 0 ? &res[tput.lat_best] : NULL;
    const char *lat_name = tput.lat_best >= 0 ? plan_algo_name((plan_algo)tput.lat_best) : "";
    decide(&tput, lat_plan);

    plan_result local, edge;
    unsigned char *zeros = calloc((size_t)b.p.n + 1, 1), *ones = malloc((size_t)b.p.n + 1);
    if (!zeros || !ones) {
        free(zeros);
        free(ones);
        code = cli_error("out of memory");
        goto done;
    }
    memset(ones, 1, (size_t)b.p.n + 1);
    plan_evaluate(&b.p, zeros, &local);
    plan_evaluate(&b.p, ones, &edge);
    free(zeros);
    free(ones);

    if (plot_dir && tput.best >= 0 &&
        (code = stage_plot(&tput, lat_name, lat_plan, model, plot_dir)) != CLI_OK)
        goto done;
    if (plot_dir && need_latency &&
        (code = write_plots(plot_dir, model, g, t_end, t_edge, up, down, rtt, ran, res, couper)) !=
            CLI_OK)
        goto done;
    if (json) {
        printf("{\"model\": ");
        cl_json_string(stdout, model);
        printf(", \"end\": ");
        cl_json_string(stdout, end_dev);
        printf(", \"edge\": ");
        cl_json_string(stdout, edge_dev);
        printf(", \"network\": {\"up_mbps\": %.17g, \"down_mbps\": %.17g, \"rtt_ms\": %.17g}", up,
               down, rtt);
        printf(", \"end_scale\": %.17g, \"edge_scale\": %.17g", end_scale, edge_scale);
        printf(",\n  \"nodes\": [");
        for (int i = 0; i < b.p.n; i++) {
            const plan_node *n = &g->nodes[b.node_of[i]];
            char spec[512];
            cleave_layer_format(&n->layer, spec, sizeof spec);
            printf("%s\n    {\"name\": ", i ? "," : "");
            cl_json_string(stdout, n->name);
            printf(", \"op\": ");
            cl_json_string(stdout, n->op);
            printf(", \"layer\": ");
            cl_json_string(stdout, spec);
            printf(", \"unknown_op\": %s, \"end_us\": ",
                   (n->flags & PLAN_NODE_UNKNOWN) ? "true" : "false");
            cl_json_number(stdout, b.p.t_end[i]);
            printf(", \"edge_us\": ");
            cl_json_number(stdout, b.p.t_edge[i]);
            printf("}");
        }
        printf("],\n  \"tensors\": [");
        for (int t = 0; t < b.p.ntensors; t++) {
            printf("%s\n    {\"name\": ", t ? "," : "");
            cl_json_string(stdout, g->tensors[t].name);
            printf(", \"bytes\": %lld, \"producer\": %d, \"output\": %s, \"up_us\": ",
                   (long long)g->tensors[t].bytes, b.p.producer[t],
                   b.p.is_output[t] ? "true" : "false");
            cl_json_number(stdout, b.p.up_us[t]);
            printf(", \"down_us\": ");
            cl_json_number(stdout, b.p.down_us[t]);
            printf(", \"consumers\": [");
            for (int k = b.p.cons_off[t]; k < b.p.cons_off[t + 1]; k++)
                printf("%s%d", k > b.p.cons_off[t] ? ", " : "", b.p.cons[k]);
            printf("]}");
        }
        printf("],\n  \"plans\": [");
        int first = 1;
        for (int a = 0; a < PLAN_ALGO_COUNT; a++)
            if (ran[a]) {
                json_plan(&b, g, (plan_algo)a, &res[a], tput.fps, first);
                first = 0;
            }
        printf("]");
        json_throughput(&b, g, &tput, lat_name, lat_plan);
        printf("}\n");
        /* the plot files only: the table went into the document */
        if (tput.sweep_n > 0 && plot_dir && lat_plan && tput.best >= 0 &&
            (code = sweep_fps(&tput, lat_name, lat_plan, model, plot_dir, NULL)) != CLI_OK)
            goto done;
        code = cli_finish(CLI_OK);
        goto done;
    }

    printf("model '%s': %d nodes, %.3g MACs; end '%s', edge '%s'; up %.4g / down %.4g Mbit/s, "
           "rtt %.4g ms\n",
           model, g->nnodes, plan_graph_macs(g), end_dev, edge_dev, up, down, rtt);
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].flags & PLAN_NODE_UNKNOWN)
            printf("  node '%s': op '%s' is not in the catalogue, costed as a copy of its output\n",
                   g->nodes[i].name, g->nodes[i].op);
    if (end_scale != 1.0 || edge_scale != 1.0)
        printf("  predictions scaled: end device x%g, edge x%g\n", end_scale, edge_scale);
    putchar('\n');
    if (!need_latency)
        goto throughput;
    printf("%-13s %11s %11s %11s %11s %11s %8s %8s %6s %s\n", "algorithm", "total_ms", "end_ms",
           "up_ms", "edge_ms", "down_ms", "vs_local", "vs_edge", "evals", "exact");
    int best = -1;
    for (int a = 0; a < PLAN_ALGO_COUNT; a++) {
        if (!ran[a])
            continue;
        const plan_result *r = &res[a];
        printf("%-13s %11.3f %11.3f %11.3f %11.3f %11.3f %7.2fx %7.2fx %6lld %s\n",
               plan_algo_name((plan_algo)a), r->total_us / 1e3, r->end_us / 1e3, r->up_us / 1e3,
               r->edge_us / 1e3, r->down_us / 1e3, local.total_us / r->total_us,
               edge.total_us / r->total_us, (long long)r->evaluated, r->exact ? "yes" : "no");
        if (best < 0 || r->total_us < res[best].total_us)
            best = a;
    }
    for (int a = 0; a < PLAN_ALGO_COUNT; a++)
        if (ran[a] && res[a].note[0])
            printf("  %s: %s\n", plan_algo_name((plan_algo)a), res[a].note);
    if (best >= 0) {
        printf("\nplacement of the fastest plan (%s):\n", plan_algo_name((plan_algo)best));
        print_ranges(&b, g, &res[best]);
    }
throughput:
    if ((code = print_throughput(&b, g, &tput, lat_name, lat_plan, model, plot_dir)) != CLI_OK)
        goto done;
    code = cli_finish(CLI_OK);
done:
    free(t_end);
    free(t_edge);
    free(placements);
    free(tput_place);
    plan_problem_buf_release(&b);
    cleave_predictor_close(pe);
    cleave_predictor_close(px);
    plan_graph_destroy(g);
    return code;
}
