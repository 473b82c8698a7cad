/*
** cli/plan-edgent.c - `cleave plan --algo edgent`: Edgent's right-sizing (seed 001), the most
** accurate early exit whose best partition meets a latency requirement, its breakdown, and
** seed-001-style sweeps over bandwidth and deadline with gnuplot plots.  The algorithm is
** planner/edgent.c; this file only drives and prints it.
*/
#include "cli/plan-edgent.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/json.h"
#include "common/sysinfo.h"
#include "planner/edgent.h"

int cli_parse_sweep(const char *opt, const char *val, cli_sweep *out)
{
    char *e1, *e2, *e3;
    double a = strtod(val, &e1);
    double b = *e1 == ':' ? strtod(e1 + 1, &e2) : NAN;
    long n = *e1 == ':' && *e2 == ':' ? strtol(e2 + 1, &e3, 10) : -1;
    if (*e1 != ':' || e2 == e1 + 1 || *e2 != ':' || e3 == e2 + 1 || *e3 || !isfinite(a) ||
        !isfinite(b) || a <= 0 || b < a || n < 1 || n > 10000 || (n == 1 && a != b) ||
        (n > 1 && a == b)) {
        cli_usage_error("plan",
                        "option '%s' takes A:B:N with 0 < A < B and 2 <= N <= 10000 (or A:A:1), "
                        "got '%s'",
                        opt, val);
        return -1;
    }
    out->a = a;
    out->b = b;
    out->n = (int)n;
    return 0;
}

static double sweep_at(const cli_sweep *s, int i)
{
    return s->n == 1 ? s->a : s->a + (s->b - s->a) * i / (s->n - 1);
}

/* The loading cost of one side as a + b * bytes from its device's loading formula, checked to
** be of that form (evaluated at 0, W and 2W bytes, W = the whole graph's weights). */
static int loading_of(const cleave_predictor *p, const char *role, double wbytes, plan_loading *l)
{
    double y0, y1, y2, w = wbytes > 0 ? wbytes : 1e6;
    if (cleave_predict_loading(p, 0.0, &y0) != CLEAVE_OK ||
        cleave_predict_loading(p, w, &y1) != CLEAVE_OK ||
        cleave_predict_loading(p, 2 * w, &y2) != CLEAVE_OK)
        return cli_error("--include-loading: %s device: %s", role, cleave_predictor_errmsg(p));
    l->a_us = y0;
    l->us_per_byte = (y1 - y0) / w;
    if (fabs(y2 - (y0 + 2 * (y1 - y0))) > 1e-9 * (fabs(y2) + 1.0))
        return cli_error("--include-loading: the loading formula of %s device '%s' is not of "
                         "the form a + b * model_bytes",
                         role, cleave_predictor_device(p));
    return CLI_OK;
}

/* The exit's placement in a few words: "all end", "all edge", "end ..X | edge" for one split
** (Edgent's partition point: the end device runs up to X), else the runs of the order. */
static void describe(const plan_graph *g, const plan_edgent_exit *ex, char *buf, size_t len)
{
    int edges = 0, switches = 0;
    for (int j = 0; j < ex->n; j++) {
        edges += ex->on_edge[j];
        switches += j > 0 && ex->on_edge[j] != ex->on_edge[j - 1];
    }
    if (edges == 0) {
        snprintf(buf, len, "all on end");
    } else if (edges == ex->n) {
        snprintf(buf, len, "all on edge");
    } else if (switches == 1 && !ex->on_edge[0]) {
        int k = 0;
        while (!ex->on_edge[k])
            k++;
        snprintf(buf, len, "end to %s, edge from %s", g->nodes[ex->nodes[k - 1]].name,
                 g->nodes[ex->nodes[k]].name);
    } else {
        size_t off = 0;
        buf[0] = '\0';
        for (int j = 0, start = 0; j <= ex->n && off < len; j++) {
            if (j < ex->n && (j == 0 || ex->on_edge[j] == ex->on_edge[start]))
                continue;
            int w = snprintf(buf + off, len - off, "%s%s %s..%s", off ? ", " : "",
                             ex->on_edge[start] ? "edge" : "end", g->nodes[ex->nodes[start]].name,
                             g->nodes[ex->nodes[j - 1]].name);
            off += w > 0 ? (size_t)w : 0;
            start = j;
        }
    }
}

/* The chosen exit's placement: runs of its nodes and the tensors that cross. */
static void print_placement(const plan_graph *g, const plan_edgent_exit *ex)
{
    int *side = malloc(sizeof *side * (size_t)(g->nnodes ? g->nnodes : 1));
    if (!side)
        return;
    for (int v = 0; v < g->nnodes; v++)
        side[v] = -1; /* not in this exit's network */
    for (int j = 0; j < ex->n; j++)
        side[ex->nodes[j]] = ex->on_edge[j];
    int branch_out = -1, x = g->nexits ? plan_graph_find_exit(g, ex->name) : -1;
    if (x >= 0 && g->exits[x].from >= 0)
        branch_out = g->exits[x].output;
    for (int j = 0, start = 0; j <= ex->n; j++) {
        if (j < ex->n && ex->on_edge[j] == ex->on_edge[start])
            continue;
        printf("    %-4s %s .. %s (%d node%s)\n", ex->on_edge[start] ? "edge" : "end",
               g->nodes[ex->nodes[start]].name, g->nodes[ex->nodes[j - 1]].name, j - start,
               j - start == 1 ? "" : "s");
        start = j;
    }
    for (int t = 0; t < g->ntensors; t++) {
        const plan_tensor *ts = &g->tensors[t];
        int s = ts->producer < 0 ? 0 : side[ts->producer], up = 0, down = 0;
        if (s < 0)
            continue;
        for (int c = 0; c < ts->nconsumers; c++) {
            int cs = side[ts->consumers[c]];
            up |= s == 0 && cs == 1;
            down |= s == 1 && cs == 0;
        }
        /* the exit's result returns to the end device */
        down |= s == 1 && ts->is_output && (branch_out >= 0 ? t == branch_out : 1);
        if (up || down)
            printf("    %s tensor '%s' (%lld bytes)\n", up ? "upload  " : "download", ts->name,
                   (long long)ts->bytes);
    }
    free(side);
}

/* An accuracy for tables: "-" when the graph declares none. */
static const char *acc_text(double a, char *buf, size_t len)
{
    if (isnan(a))
        return "-";
    snprintf(buf, len, "%.4g", a);
    return buf;
}

static void print_exit_row(const plan_graph *g, const plan_edgent_exit *ex, int chosen)
{
    char where[512];
    describe(g, ex, where, sizeof where);
    char ab[32];
    printf("%-10s %8s %10.3f %10.3f %9.3f %10.3f %9.3f %9.3f %5d %-5s %s%s\n", ex->name,
           acc_text(ex->accuracy, ab, sizeof ab), ex->r.total_us / 1e3, ex->r.end_us / 1e3,
           ex->r.up_us / 1e3, ex->r.edge_us / 1e3, ex->r.down_us / 1e3,
           (ex->load_end_us + ex->load_edge_us) / 1e3, ex->n, ex->meets ? "yes" : "no", where,
           chosen ? "  <- chosen" : "");
}

static void json_exit(const plan_graph *g, const plan_edgent_exit *ex)
{
    printf("{\"name\": ");
    cl_json_string(stdout, ex->name);
    printf(", \"accuracy\": ");
    cl_json_number(stdout, ex->accuracy);
    printf(", ");
    cli_json_breakdown(&ex->r);
    printf(", \"load_end_us\": ");
    cl_json_number(stdout, ex->load_end_us);
    printf(", \"load_edge_us\": ");
    cl_json_number(stdout, ex->load_edge_us);
    printf(", \"meets\": %s, \"nodes\": %d, \"edge_nodes\": [", ex->meets ? "true" : "false",
           ex->n);
    for (int j = 0, k = 0; j < ex->n; j++)
        if (ex->on_edge[j]) {
            printf("%s", k++ ? ", " : "");
            cl_json_string(stdout, g->nodes[ex->nodes[j]].name);
        }
    printf("]}");
}

/* Write DIR/NAME.dat and DIR/NAME.gp and run gnuplot on it when installed. */
static int write_plot(const char *dir, const char *name, const char *dat, const char *gp)
{
    char path[4096];
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cli_error("cannot create directory '%s': %s", dir, strerror(errno));
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s.%s", dir, name, i ? "gp" : "dat");
        FILE *f = fopen(path, "w");
        if (!f || fputs(i ? gp : dat, f) < 0 || fclose(f) != 0) {
            if (f)
                fclose(f);
            return cli_error("cannot write '%s': %s", path, strerror(errno));
        }
    }
    if (!cl_in_path("gnuplot")) {
        fprintf(stderr, "plan: gnuplot not found: wrote %s/%s.gp and %s.dat\n", dir, name, name);
        return CLI_OK;
    }
    char cmd[4400], png[4200];
    snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot %s.gp 2>/dev/null", dir, name);
    snprintf(png, sizeof png, "%s/%s.png", dir, name);
    if (system(cmd) != 0 || access(png, R_OK) != 0)
        return cli_error("gnuplot failed on '%s/%s.gp'", dir, name);
    fprintf(stderr, "plan: wrote %s/%s.png (and .gp, .dat)\n", dir, name);
    return CLI_OK;
}

/* One sweep (BW: over bandwidth, else over deadline): a table, JSON rows, or a plot. */
static int run_sweep(const cli_edgent_args *a, plan_edgent *e, plan_edgent_opts *o, int bw)
{
    const cli_sweep *s = bw ? &a->bw : &a->dl;
    char err[512], where[512], *dat = NULL;
    size_t len = 0;
    FILE *m = a->plot_dir ? open_memstream(&dat, &len) : NULL;
    if (a->plot_dir && !m)
        return cli_error("out of memory");
    if (m)
        fprintf(m, "# %s exit accuracy latency_ms meets end_nodes\n",
                bw ? "bandwidth_mbps" : "deadline_ms");
    if (a->json) {
        printf("{\"model\": ");
        cl_json_string(stdout, a->model);
        printf(", \"sweep\": \"%s\", \"rows\": [", bw ? "bandwidth" : "deadline");
    } else {
        printf("%-10s %-10s %8s %10s %-5s %s\n", bw ? "bw_mbps" : "deadline_ms", "exit", "accuracy",
               "latency_ms", "meets", "partition");
    }
    for (int i = 0; i < s->n; i++) {
        double v = sweep_at(s, i);
        if (bw)
            o->up_mbps = o->down_mbps = v;
        else
            o->deadline_us = v * 1e3;
        if (plan_edgent_solve(e, a->g, a->t_end, a->t_edge, o, err, sizeof err) != CLEAVE_OK) {
            if (m)
                fclose(m);
            free(dat);
            return cli_error("edgent: %s", err);
        }
        const plan_edgent_exit *ex = &e->exits[e->chosen];
        int ends = 0;
        for (int j = 0; j < ex->n; j++)
            ends += !ex->on_edge[j];
        describe(a->g, ex, where, sizeof where);
        if (a->json) {
            printf("%s\n  {\"%s\": ", i ? "," : "", bw ? "bandwidth_mbps" : "deadline_ms");
            cl_json_number(stdout, v);
            printf(", \"meets_deadline\": %s, \"chosen\": ", e->feasible ? "true" : "false");
            json_exit(a->g, ex);
            printf("}");
        } else {
            char ab[32];
            printf("%-10.4g %-10s %8s %10.3f %-5s %s\n", v, ex->name,
                   acc_text(ex->accuracy, ab, sizeof ab), ex->r.total_us / 1e3,
                   e->feasible ? "yes" : "no", where);
        }
        if (m)
            fprintf(m, "%.6g %d %.6g %.6g %d %d\n", v, e->chosen + 1, ex->accuracy,
                    ex->r.total_us / 1e3, e->feasible, ends);
    }
    if (a->json)
        printf("]}\n");
    if (!m)
        return CLI_OK;
    if (fclose(m) != 0) {
        free(dat);
        return cli_error("out of memory");
    }
    const char *name = bw ? "edgent-bandwidth" : "edgent-deadline";
    const char *model = strrchr(a->model, '/') ? strrchr(a->model, '/') + 1 : a->model;
    char gp[2048];
    if (bw)
        snprintf(gp, sizeof gp,
                 "set terminal pngcairo size 900,600 noenhanced\nset output '%s.png'\nset grid\n"
                 "set xlabel 'bandwidth (Mbit/s, both directions)'\n"
                 "set ylabel 'exit point / partition point'\nset y2label 'predicted latency "
                 "(ms)'\nset yrange [0:*]\nset y2range [0:*]\nset y2tics\n"
                 "set key below\n"
                 "set title '%s: Edgent selection vs bandwidth, deadline %.4g ms (%s / %s)'\n"
                 "plot '%s.dat' using 1:2 with linespoints title 'exit point (1 = first exit)', "
                 "'' using 1:6 with linespoints title 'partition point (layers on the end "
                 "device)', '' using 1:4 axes x1y2 with lines title 'latency'\n",
                 name, model, a->deadline_ms, a->end_dev, a->edge_dev, name);
    else
        snprintf(gp, sizeof gp,
                 "set terminal pngcairo size 900,600 noenhanced\nset output '%s.png'\nset grid\n"
                 "set xlabel 'latency requirement (ms)'\nset ylabel 'accuracy'\n"
                 "set y2label 'predicted latency (ms)'\nset y2tics\nset key below\n"
                 "set yrange [0:1]\nset y2range [0:*]\nset title '%s: Edgent accuracy vs deadline, "
                 "up %.4g / down %.4g "
                 "Mbit/s (%s / %s)'\n"
                 "plot '%s.dat' using 1:($5 > 0 ? $3 : 1/0) with linespoints title 'accuracy "
                 "(deadline met)', '' using 1:4 axes x1y2 with lines title 'latency'\n",
                 name, model, a->up, a->down, a->end_dev, a->edge_dev, name);
    int code = write_plot(a->plot_dir, name, dat, gp);
    free(dat);
    return code;
}

int cli_plan_edgent(const cli_edgent_args *a)
{
    plan_edgent *e = NULL;
    plan_edgent_opts o;
    plan_loading le, lx;
    char err[512];
    int code = CLI_OK;

    if (plan_edgent_create(&e, a->g, err, sizeof err) != CLEAVE_OK)
        return cli_error("%s", err);
    plan_edgent_opts_init(&o);
    o.up_mbps = a->up;
    o.down_mbps = a->down;
    o.rtt_ms = a->rtt;
    o.deadline_us = a->deadline_ms * 1e3;
    if (a->partition_given)
        o.algo = a->partition;
    if (a->include_loading) {
        double w = 0.0;
        for (int v = 0; v < a->g->nnodes; v++)
            w += plan_node_weight_bytes(a->g, v);
        if ((code = loading_of(a->pe, "end", w, &le)) != CLI_OK ||
            (code = loading_of(a->px, "edge", w, &lx)) != CLI_OK)
            goto done;
        o.load_end = &le;
        o.load_edge = &lx;
    }
    if (a->bw.n > 0 || a->dl.n > 0) {
        if (a->bw.n > 0 && (code = run_sweep(a, e, &o, 1)) != CLI_OK)
            goto done;
        o.up_mbps = a->up;
        o.down_mbps = a->down;
        if (a->dl.n > 0 && a->bw.n > 0 && !a->json)
            putchar('\n');
        if (a->dl.n > 0 && (code = run_sweep(a, e, &o, 0)) != CLI_OK)
            goto done;
        code = cli_finish(CLI_OK);
        goto done;
    }
    if (plan_edgent_solve(e, a->g, a->t_end, a->t_edge, &o, err, sizeof err) != CLEAVE_OK) {
        code = cli_error("edgent: %s", err);
        goto done;
    }
    const plan_edgent_exit *c = &e->exits[e->chosen];
    if (a->json) {
        printf("{\"model\": ");
        cl_json_string(stdout, a->model);
        printf(", \"end\": ");
        cl_json_string(stdout, a->end_dev);
        printf(", \"edge\": ");
        cl_json_string(stdout, a->edge_dev);
        printf(", \"network\": {\"up_mbps\": %.17g, \"down_mbps\": %.17g, \"rtt_ms\": %.17g}",
               a->up, a->down, a->rtt);
        printf(", \"deadline_ms\": %.17g, \"loading\": %s, \"chosen\": ", a->deadline_ms,
               a->include_loading ? "true" : "false");
        cl_json_string(stdout, c->name);
        printf(", \"meets_deadline\": %s,\n  \"exits\": [", e->feasible ? "true" : "false");
        for (int x = 0; x < e->nexits; x++) {
            printf("%s\n    ", x ? "," : "");
            json_exit(a->g, &e->exits[x]);
        }
        printf("]}\n");
        code = cli_finish(CLI_OK);
        goto done;
    }
    printf("model '%s': %d nodes, %d exit%s; end '%s', edge '%s'; up %.4g / down %.4g Mbit/s, "
           "rtt %.4g ms; deadline %.4g ms; partition %s%s\n\n",
           a->model, a->g->nnodes, e->nexits, e->nexits == 1 ? "" : "s", a->end_dev, a->edge_dev,
           a->up, a->down, a->rtt, a->deadline_ms, plan_algo_name(o.algo),
           a->include_loading ? "; model loading included" : "");
    printf("%-10s %8s %10s %10s %9s %10s %9s %9s %5s %-5s %s\n", "exit", "accuracy", "total_ms",
           "end_ms", "up_ms", "edge_ms", "down_ms", "load_ms", "nodes", "meets", "partition");
    for (int x = 0; x < e->nexits; x++)
        print_exit_row(a->g, &e->exits[x], x == e->chosen);
    putchar('\n');
    char ab[32];
    if (e->feasible)
        printf("chosen: exit '%s' (accuracy %s), predicted %.3f ms <= deadline %.4g ms\n", c->name,
               acc_text(c->accuracy, ab, sizeof ab), c->r.total_us / 1e3, a->deadline_ms);
    else
        printf("no exit meets the deadline of %.4g ms; the fastest is exit '%s' (accuracy %s) "
               "at %.3f ms\n",
               a->deadline_ms, c->name, acc_text(c->accuracy, ab, sizeof ab), c->r.total_us / 1e3);
    print_placement(a->g, c);
    code = cli_finish(CLI_OK);
done:
    plan_edgent_destroy(e);
    return code;
}
