/*
** cli/cmd-run.c - `cleave run`: run a model on this machine, node by node, and time it; or, with
** --plan and --edge, run it split with an edge server (the end role of co-inference).
*/
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/sysinfo.h"
#include "planner/graph.h"
#include "runtime/coinfer.h"
#include "runtime/exec.h"
#include "runtime/wire.h"

static const char usage[] =
    "usage: cleave run --model FILE [--threads N] [--reps R] [--warmup W] [--seed S]\n"
    "                  [--unknown-op error|fallback] [--json]\n"
    "       cleave run --model FILE --plan PLAN.json --edge HOST:PORT [--algo NAME]\n"
    "                  [--rtt MS] [--up MBPS] [--down MBPS] [--timeout S] [...as above]\n"
    "\n"
    "Run MODEL (ONNX, or the text graph format of docs/graph-format.md) with random weights\n"
    "drawn from SEED, node by node on the profiler's backends, data flowing between nodes, and\n"
    "print every node's latency (the median over R timed passes after W untimed ones), the\n"
    "total, and a CRC-32 of every output (equal seeds and threads give equal outputs).\n"
    "\n"
    "With --plan and --edge, run it split: this process is the end device, the `cleave serve`\n"
    "at HOST:PORT the edge; PLAN.json is `cleave plan --json` output (docs/plan-json.md) and\n"
    "--algo picks its plan (default mincut).  Every cut tensor crosses once per direction over\n"
    "TCP (docs/coinference.md); the measured end-to-end latency (median over the passes) is\n"
    "printed next to the plan's prediction, recomputed from the document's own costs.\n"
    "\n"
    "    --threads N      threads every layer runs with (default: online CPUs)\n"
    "    --reps R         timed passes (default 10); --warmup W untimed passes (default 2)\n"
    "    --seed S         weights and inputs (default 1)\n"
    "    --rtt MS         add MS of round-trip delay in-process: each side waits MS/2 before\n"
    "                     each burst it sends (for links that cannot delay: no tc netem)\n"
    "    --up/--down MBPS pace what this process sends (up) / what the edge sends (down) with\n"
    "                     an in-process token bucket (default: unpaced)\n"
    "    --timeout S      give up when the edge is silent for S seconds (default 120)\n"
    "    --json           the same numbers as one JSON object\n";

/* The outputs' CRC-32 lines. */
static void print_outputs(const plan_graph *g, rt_exec *x, int json)
{
    for (int k = 0; k < g->noutputs; k++) {
        int t = g->outputs[k];
        size_t n;
        const float *d = rt_exec_tensor(x, t, &n);
        char shape[128];
        if (!d) { /* the backend could not convert it back to plain */
            fprintf(stderr, "cleave: error: output '%s' cannot be read back\n", g->tensors[t].name);
            continue;
        }
        plan_shape_format(&g->tensors[t].shape, g->tensors[t].rank, shape, sizeof shape);
        uint32_t crc = rt_checksum(d, n * sizeof *d);
        if (json) {
            printf("%s\n    {\"name\": ", k ? "," : "");
            cl_json_string(stdout, g->tensors[t].name);
            printf(", \"shape\": \"%s\", \"crc32\": \"%08x\"}", shape, (unsigned)crc);
        } else {
            printf("output '%s' %s crc32 %08x\n", g->tensors[t].name, shape, (unsigned)crc);
        }
    }
}

/* Nodes PLAN places on the edge. */
static int plan_count(const rt_plan *plan, const plan_graph *g)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++)
        n += plan->on_edge[i] != 0;
    return n;
}

/* The local run: measure and print. */
static int run_local(const plan_graph *g, const char *model, int threads, int reps, int warmup,
                     uint64_t seed, int json)
{
    char err[1024];
    rt_exec *x = NULL;
    rt_measure m;
    int code = CLI_OK;
    memset(&m, 0, sizeof m);
    if (rt_exec_create(&x, g, NULL, threads, seed, err, sizeof err) != CLEAVE_OK)
        return cli_error("%s", err);
    if (rt_exec_measure(x, warmup, reps, &m, err, sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }
    if (json) {
        printf("{\"model\": ");
        cl_json_string(stdout, model);
        printf(", \"threads\": %d, \"seed\": %llu, \"reps\": %d, \"warmup\": %d,\n \"nodes\": [",
               threads, (unsigned long long)seed, reps, warmup);
        for (int i = 0; i < g->nnodes; i++) {
            int id = g->order[i];
            printf("%s\n    {\"name\": ", i ? "," : "");
            cl_json_string(stdout, g->nodes[id].name);
            printf(", \"op\": ");
            cl_json_string(stdout, g->nodes[id].op);
            printf(", \"impl\": ");
            cl_json_string(stdout, rt_exec_impl(x, id));
            printf(", \"us\": ");
            cl_json_number(stdout, m.node_us[id]);
            printf("}");
        }
        printf("],\n \"compute_us\": ");
        cl_json_number(stdout, m.compute_us);
        printf(", \"wall_us\": ");
        cl_json_number(stdout, m.wall_us);
        printf(",\n \"outputs\": [");
        print_outputs(g, x, 1);
        printf("]}\n");
    } else {
        printf("model '%s': %d nodes, %d threads, seed %llu, median of %d passes (%d warm-up)\n",
               model, g->nnodes, threads, (unsigned long long)seed, reps, warmup);
        printf("%4s  %-40s %-12s %-20s %12s %7s\n", "#", "node", "op", "impl", "median_us",
               "share");
        for (int i = 0; i < g->nnodes; i++) {
            int id = g->order[i];
            printf("%4d  %-40s %-12s %-20s %12.1f %6.1f%%\n", i, g->nodes[id].name, g->nodes[id].op,
                   rt_exec_impl(x, id), m.node_us[id],
                   m.compute_us > 0 ? 100.0 * m.node_us[id] / m.compute_us : 0.0);
        }
        printf("total: %.1f us compute (median over passes of the sum of node times), "
               "%.1f us wall (data movement between nodes included)\n",
               m.compute_us, m.wall_us);
        print_outputs(g, x, 0);
    }
done:
    rt_measure_release(&m);
    rt_exec_destroy(x);
    return code;
}

static int parse_nonneg(const char *opt, const char *val, double *out)
{
    char *end;
    double v = strtod(val, &end);
    if (end == val || *end || !isfinite(v) || v < 0)
        return cli_usage_error("run", "option '%s' needs a number >= 0, got '%s'", opt, val);
    *out = v;
    return CLI_OK;
}

/* Read the whole file PATH into *DATA (caller frees). */
static int read_file(const char *path, unsigned char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *data = NULL;
    if (!f)
        return cli_error("cannot read '%s': %s", path, strerror(errno));
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            unsigned char *nd = realloc(*data, cap ? 2 * cap : 65536);
            if (!nd) {
                fclose(f);
                free(*data);
                *data = NULL;
                return cli_error("out of memory reading '%s'", path);
            }
            *data = nd;
            cap = cap ? 2 * cap : 65536;
        }
        size_t r = fread(*data + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(*data);
        *data = NULL;
        return cli_error("cannot read '%s': %s", path, strerror(errno));
    }
    *len = n;
    return CLI_OK;
}

/* The end role: read the plan, connect, run the passes, print measured next to predicted. */
static int run_end(const plan_graph *g, const char *model, unsigned flags, const char *plan_path,
                   const char *algo, const char *edge, const rt_link *link, int timeout,
                   int threads, int reps, int warmup, uint64_t seed, int json)
{
    char err[1024];
    rt_plan plan;
    rt_end *e = NULL;
    unsigned char *bytes = NULL;
    size_t len = 0;
    double *wall = NULL, *endc = NULL, *edgec = NULL, *comm = NULL;
    rt_end_stats st = {0};
    int code;
    if (rt_plan_read(&plan, plan_path, algo, g, err, sizeof err) != CLEAVE_OK)
        return cli_error("%s", err);
    if ((code = read_file(model, &bytes, &len)) != CLI_OK)
        goto done;
    wall = calloc((size_t)reps, sizeof *wall);
    endc = calloc((size_t)reps, sizeof *endc);
    edgec = calloc((size_t)reps, sizeof *edgec);
    comm = calloc((size_t)reps, sizeof *comm);
    if (!wall || !endc || !edgec || !comm) {
        code = cli_error("out of memory");
        goto done;
    }
    if (rt_end_open(&e, edge, g, bytes, len, flags, plan.on_edge, threads, seed, link, timeout, err,
                    sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }
    for (int r = -warmup; r < reps; r++) {
        if (rt_end_infer(e, &st, err, sizeof err) != CLEAVE_OK) {
            code = cli_error("%s", err);
            goto done;
        }
        if (r >= 0) {
            wall[r] = st.wall_us;
            endc[r] = st.end_us;
            edgec[r] = st.edge_us;
            comm[r] = st.comm_us;
        }
    }
    double mw = rt_median(wall, reps), me = rt_median(endc, reps);
    double mg = rt_median(edgec, reps), mc = rt_median(comm, reps);
    double err_pct =
        plan.has_costs && plan.total_us > 0 ? 100.0 * (mw - plan.total_us) / plan.total_us : NAN;
    if (json) {
        printf("{\"model\": ");
        cl_json_string(stdout, model);
        printf(", \"plan\": ");
        cl_json_string(stdout, plan_path);
        printf(", \"algo\": ");
        cl_json_string(stdout, algo);
        printf(", \"edge\": ");
        cl_json_string(stdout, edge);
        printf(", \"threads\": %d, \"seed\": %llu, \"reps\": %d, \"warmup\": %d,\n", threads,
               (unsigned long long)seed, reps, warmup);
        printf(" \"link\": {\"up_mbps\": %g, \"down_mbps\": %g, \"rtt_ms\": %g},\n", link->up_mbps,
               link->down_mbps, link->rtt_ms);
        printf(" \"edge_nodes\": %d, \"segments\": %d, \"rounds\": %d, \"up_bytes\": %llu, "
               "\"down_bytes\": %llu,\n",
               plan_count(&plan, g), plan.segments, st.rounds, (unsigned long long)st.up_bytes,
               (unsigned long long)st.down_bytes);
        printf(" \"measured\": {\"total_us\": ");
        cl_json_number(stdout, mw);
        printf(", \"end_us\": ");
        cl_json_number(stdout, me);
        printf(", \"edge_us\": ");
        cl_json_number(stdout, mg);
        printf(", \"comm_us\": ");
        cl_json_number(stdout, mc);
        printf("},\n \"predicted\": {\"total_us\": ");
        cl_json_number(stdout, plan.has_costs ? plan.total_us : NAN);
        printf(", \"end_us\": ");
        cl_json_number(stdout, plan.has_costs ? plan.end_us : NAN);
        printf(", \"edge_us\": ");
        cl_json_number(stdout, plan.has_costs ? plan.edge_us : NAN);
        printf(", \"up_us\": ");
        cl_json_number(stdout, plan.has_costs ? plan.up_us : NAN);
        printf(", \"down_us\": ");
        cl_json_number(stdout, plan.has_costs ? plan.down_us : NAN);
        printf(", \"document_total_us\": ");
        cl_json_number(stdout, plan.doc_total_us);
        printf("},\n \"error_pct\": ");
        cl_json_number(stdout, err_pct);
        printf(",\n \"outputs\": [");
        print_outputs(g, rt_end_exec(e), 1);
        printf("]}\n");
    } else {
        printf("model '%s' split by plan '%s' of '%s' with the edge at %s: %d of %d nodes on the "
               "edge in %d segment%s, %d threads, seed %llu, median of %d passes (%d warm-up)\n",
               model, algo, plan_path, edge, plan_count(&plan, g), g->nnodes, plan.segments,
               plan.segments == 1 ? "" : "s", threads, (unsigned long long)seed, reps, warmup);
        printf("%-10s %12s %12s %12s %12s\n", "", "total_ms", "end_ms", "edge_ms", "transfer_ms");
        printf("%-10s %12.2f %12.2f %12.2f %12.2f\n", "measured", mw / 1e3, me / 1e3, mg / 1e3,
               mc / 1e3);
        if (plan.has_costs)
            printf("%-10s %12.2f %12.2f %12.2f %12.2f   (up %.2f + down %.2f)\n", "predicted",
                   plan.total_us / 1e3, plan.end_us / 1e3, plan.edge_us / 1e3,
                   (plan.up_us + plan.down_us) / 1e3, plan.up_us / 1e3, plan.down_us / 1e3);
        else
            printf("predicted: the plan document has no node and tensor costs\n");
        printf("per pass: %llu bytes up, %llu bytes down, %d round trip%s",
               (unsigned long long)st.up_bytes, (unsigned long long)st.down_bytes, st.rounds,
               st.rounds == 1 ? "" : "s");
        if (isfinite(err_pct))
            printf("; measured vs predicted total: %+.1f%%", err_pct);
        printf("\n");
        print_outputs(g, rt_end_exec(e), 0);
    }
done:
    rt_end_close(e);
    rt_plan_release(&plan);
    free(bytes);
    free(wall);
    free(endc);
    free(edgec);
    free(comm);
    return code;
}

int cmd_run(int argc, char **argv)
{
    enum { O_MODEL = CLI_X_NEXT, O_JSON, O_PLAN, O_EDGE, O_ALGO, O_RTT, O_UP, O_DOWN, O_TIMEOUT };
    static const struct option longopts[] = {{"model", required_argument, NULL, O_MODEL},
                                             CLI_EXEC_LONGOPTS,
                                             {"json", no_argument, NULL, O_JSON},
                                             {"plan", required_argument, NULL, O_PLAN},
                                             {"edge", required_argument, NULL, O_EDGE},
                                             {"algo", required_argument, NULL, O_ALGO},
                                             {"rtt", required_argument, NULL, O_RTT},
                                             {"up", required_argument, NULL, O_UP},
                                             {"down", required_argument, NULL, O_DOWN},
                                             {"timeout", required_argument, NULL, O_TIMEOUT},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *model = NULL, *plan = NULL, *edge = NULL, *algo = "mincut";
    long timeout = 120;
    rt_link link = {0, 0, 0};
    cli_exec_args x;
    int json = 0, c, taken;

    cli_exec_args_init(&x);
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if ((taken = cli_exec_option("run", c, optarg, &x)) != 0) {
            if (taken < 0)
                return CLI_USAGE;
            continue;
        }
        switch (c) {
        case O_MODEL: model = optarg; break;
        case O_JSON: json = 1; break;
        case O_PLAN: plan = optarg; break;
        case O_EDGE: edge = optarg; break;
        case O_ALGO: algo = optarg; break;
        case O_RTT:
            if (parse_nonneg("--rtt", optarg, &link.rtt_ms))
                return CLI_USAGE;
            break;
        case O_UP:
            if (parse_nonneg("--up", optarg, &link.up_mbps))
                return CLI_USAGE;
            break;
        case O_DOWN:
            if (parse_nonneg("--down", optarg, &link.down_mbps))
                return CLI_USAGE;
            break;
        case O_TIMEOUT:
            if (cli_parse_int("run", "--timeout", optarg, 1, 86400, &timeout))
                return CLI_USAGE;
            break;
        case 'h': fputs(usage, stdout); return cli_finish(CLI_OK);
        default: return cli_usage_error("run", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
    if (!model)
        return cli_usage_error("run", "--model is required");
    if ((plan != NULL) != (edge != NULL))
        return cli_usage_error("run", "--plan and --edge go together");
    if (!plan && (link.rtt_ms > 0 || link.up_mbps > 0 || link.down_mbps > 0))
        return cli_usage_error("run", "--rtt, --up and --down need --plan and --edge");
    cli_exec_args_finish(&x);

    char err[1024];
    plan_graph *g = NULL;
    if (plan_graph_load(&g, model, x.flags, err, sizeof err) != CLEAVE_OK)
        return cli_error("%s", err);
    int code = plan ? run_end(g, model, x.flags, plan, algo, edge, &link, (int)timeout, x.threads,
                              x.reps, x.warmup, x.seed, json)
                    : run_local(g, model, x.threads, x.reps, x.warmup, x.seed, json);
    plan_graph_destroy(g);
    return cli_finish(code);
}
