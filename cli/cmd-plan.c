/*
** cli/cmd-plan.c - `cleave plan`: partition a model between the end device and the edge with
** the seeds' algorithms, from predicted per-layer latencies.
*/
#include "cli/cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "planner/graph.h"
#include "planner/partition.h"

static const char usage[] =
    "usage: cleave plan --model FILE --end DEVICE --edge DEVICE [--db PATH] [--edge-db PATH]\n"
    "                   [--net 3g|4g|wifi] [--up MBPS] [--down MBPS] [--rtt MS]\n"
    "                   [--algo NAME|all] [--end-load none|now] [--edge-load none|now]\n"
    "                   [--unknown-op error|fallback] [--json]\n"
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
    "    --end-load L     'now' predicts under the load measured now (dynamic models);\n"
    "                     'none' (default) uses the static models.  Same for --edge-load\n"
    "    --unknown-op M   'fallback' costs ops the catalogue lacks with the fallback estimate\n"
    "                     and lists them; 'error' (default) refuses the model\n"
    "    --json           every node's costs and placement, every tensor, the plans\n";

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

static int open_side(cleave_predictor **p, const char *db, const char *dev, const char *how,
                     cleave_load *load, int *use_load)
{
    char err[512];
    if (cleave_predictor_open(p, db, dev, err, sizeof err) != CLEAVE_OK)
        return cli_error("%s", err);
    *use_load = strcmp(how, "now") == 0;
    if (*use_load && cleave_load_now(load, 0, err, sizeof err) != CLEAVE_OK)
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

static void json_plan(const plan_problem_buf *b, const plan_graph *g, plan_algo a,
                      const plan_result *r, int first)
{
    printf("%s\n    {\"algo\": \"%s\", \"total_us\": ", first ? "" : ",", plan_algo_name(a));
    cl_json_number(stdout, r->total_us);
    printf(", \"end_us\": ");
    cl_json_number(stdout, r->end_us);
    printf(", \"edge_us\": ");
    cl_json_number(stdout, r->edge_us);
    printf(", \"up_us\": ");
    cl_json_number(stdout, r->up_us);
    printf(", \"down_us\": ");
    cl_json_number(stdout, r->down_us);
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
        O_JSON
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
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *model = NULL, *end_dev = NULL, *edge_dev = NULL, *db = NULL, *edge_db = NULL;
    const char *end_how = "none", *edge_how = "none";
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

    memset(&b, 0, sizeof b);
    memset(res, 0, sizeof res);
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
            if (strcmp(optarg, "all") == 0)
                algo = -1;
            else if (plan_algo_parse(optarg, &a) == 0)
                algo = (int)a;
            else
                return cli_usage_error("plan",
                                       "unknown algorithm '%s' (local, edge, neurosurgeon, "
                                       "couper, dp, mincut, brute, all)",
                                       optarg);
            break;
        }
        case O_END_LOAD:
        case O_EDGE_LOAD:
            if (strcmp(optarg, "none") && strcmp(optarg, "now"))
                return cli_usage_error("plan", "option '%s' takes none or now, got '%s'",
                                       opt == O_END_LOAD ? "--end-load" : "--edge-load", optarg);
            *(opt == O_END_LOAD ? &end_how : &edge_how) = optarg;
            break;
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
    if (plan_problem_build(&b, g, t_end, t_edge, up, down, rtt, err, sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }

    int ran[PLAN_ALGO_COUNT] = {0};
    for (int a = 0; a < PLAN_ALGO_COUNT; a++) {
        if (algo >= 0 && a != algo)
            continue;
        if (algo < 0 && a == PLAN_ALGO_BRUTE && b.p.n > PLAN_BRUTE_MAX_NODES)
            continue;
        res[a].on_edge = placements + (size_t)a * ((size_t)g->nnodes + 1);
        cleave_status rc = a == PLAN_ALGO_COUPER
                               ? plan_couper(&b.p,
                                             &(plan_couper_opts){.method = PLAN_COUPER_HYBRID,
                                                                 .is_constant = b.is_constant},
                                             &res[a], err, sizeof err)
                               : plan_run((plan_algo)a, &b.p, &res[a], err, sizeof err);
        if (rc != CLEAVE_OK) {
            code = cli_error("%s: %s", plan_algo_name((plan_algo)a), err);
            goto done;
        }
        ran[a] = 1;
    }

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

    if (json) {
        printf("{\"model\": ");
        cl_json_string(stdout, model);
        printf(", \"end\": ");
        cl_json_string(stdout, end_dev);
        printf(", \"edge\": ");
        cl_json_string(stdout, edge_dev);
        printf(", \"network\": {\"up_mbps\": %.17g, \"down_mbps\": %.17g, \"rtt_ms\": %.17g}", up,
               down, rtt);
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
            printf(", \"end_us\": ");
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
                json_plan(&b, g, (plan_algo)a, &res[a], first);
                first = 0;
            }
        printf("]}\n");
        code = cli_finish(CLI_OK);
        goto done;
    }

    printf("model '%s': %d nodes, %.3g MACs; end '%s', edge '%s'; up %.4g / down %.4g Mbit/s, "
           "rtt %.4g ms\n\n",
           model, g->nnodes, plan_graph_macs(g), end_dev, edge_dev, up, down, rtt);
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
    code = cli_finish(CLI_OK);
done:
    free(t_end);
    free(t_edge);
    free(placements);
    plan_problem_buf_release(&b);
    cleave_predictor_close(pe);
    cleave_predictor_close(px);
    plan_graph_destroy(g);
    return code;
}
