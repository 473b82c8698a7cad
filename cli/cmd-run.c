/*
** cli/cmd-run.c - `cleave run`: run a model on this machine, node by node, and time it; or, with
** --plan and --edge, run it split with an edge server (the end role of co-inference).
*/
#include "cli/cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/sysinfo.h"
#include "planner/graph.h"
#include "runtime/exec.h"
#include "runtime/wire.h"

static const char usage[] =
    "usage: cleave run --model FILE [--threads N] [--reps R] [--warmup W] [--seed S]\n"
    "                  [--unknown-op error|fallback] [--json]\n"
    "\n"
    "Run MODEL (ONNX, or the text graph format of docs/graph-format.md) with random weights\n"
    "drawn from SEED, node by node on the profiler's backends, data flowing between nodes, and\n"
    "print every node's latency (the median over R timed passes after W untimed ones), the\n"
    "total, and a CRC-32 of every output (equal seeds and threads give equal outputs).\n"
    "\n"
    "    --threads N      threads every layer runs with (default: online CPUs)\n"
    "    --reps R         timed passes (default 10); --warmup W untimed passes (default 2)\n"
    "    --seed S         weights and inputs (default 1)\n"
    "    --json           the same numbers as one JSON object\n";

/* The outputs' CRC-32 lines. */
static void print_outputs(const plan_graph *g, rt_exec *x, int json)
{
    for (int k = 0; k < g->noutputs; k++) {
        int t = g->outputs[k];
        size_t n;
        const float *d = rt_exec_tensor(x, t, &n);
        char shape[128];
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

int cmd_run(int argc, char **argv)
{
    enum { O_MODEL = 256, O_THREADS, O_REPS, O_WARMUP, O_SEED, O_UNKNOWN, O_JSON };
    static const struct option longopts[] = {{"model", required_argument, NULL, O_MODEL},
                                             {"threads", required_argument, NULL, O_THREADS},
                                             {"reps", required_argument, NULL, O_REPS},
                                             {"warmup", required_argument, NULL, O_WARMUP},
                                             {"seed", required_argument, NULL, O_SEED},
                                             {"unknown-op", required_argument, NULL, O_UNKNOWN},
                                             {"json", no_argument, NULL, O_JSON},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *model = NULL;
    long threads = 0, reps = 10, warmup = 2, seed = 1;
    unsigned flags = 0;
    int json = 0, c;
    cl_sysinfo si;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_MODEL: model = optarg; break;
        case O_THREADS:
            if (cli_parse_int("run", "--threads", optarg, 1, 1024, &threads))
                return CLI_USAGE;
            break;
        case O_REPS:
            if (cli_parse_int("run", "--reps", optarg, 1, 100000, &reps))
                return CLI_USAGE;
            break;
        case O_WARMUP:
            if (cli_parse_int("run", "--warmup", optarg, 0, 100000, &warmup))
                return CLI_USAGE;
            break;
        case O_SEED:
            if (cli_parse_int("run", "--seed", optarg, 0, 2147483647L, &seed))
                return CLI_USAGE;
            break;
        case O_UNKNOWN:
            if (strcmp(optarg, "fallback") == 0)
                flags = PLAN_ONNX_FALLBACK;
            else if (strcmp(optarg, "error") != 0)
                return cli_usage_error("run", "unknown --unknown-op '%s' (error, fallback)",
                                       optarg);
            break;
        case O_JSON: json = 1; break;
        case 'h': fputs(usage, stdout); return cli_finish(CLI_OK);
        default: return cli_usage_error("run", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
    if (!model)
        return cli_usage_error("run", "--model is required");
    if (threads == 0) {
        cl_sysinfo_read(&si);
        threads = si.cores > 0 ? si.cores : 1;
    }

    char err[1024];
    plan_graph *g = NULL;
    if (plan_graph_load(&g, model, flags, err, sizeof err) != CLEAVE_OK)
        return cli_error("%s", err);
    int code = run_local(g, model, (int)threads, (int)reps, (int)warmup, (uint64_t)seed, json);
    plan_graph_destroy(g);
    return cli_finish(code);
}
