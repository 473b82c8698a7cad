/*
** cli/cmd-predict.c - `cleave predict`: the latency of each given layer on a device, idle or
** under a load, through the public predict API (include/cleave/predict.h), and the total.
*/
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

static const char usage[] =
    "usage: cleave predict --device NAME [--db PATH] [--load now|KEY=VALUE,...]\n"
    "                      [--window-ms MS] [--json] SPEC...\n"
    "\n"
    "Predict how long each layer SPEC takes on device NAME, with the models `cleave fit`\n"
    "selected, and the total.  Without --load the static models are used (layer features\n"
    "only).  With --load the dynamic models are used (layer + load features); a type\n"
    "without a dynamic model uses its static model.  A layer type without any fitted model\n"
    "gets the fallback estimate a + MACs/throughput + bytes/bandwidth fitted to the device's\n"
    "least-loaded samples (scaled by other_cpu under load), marked as a fallback.\n"
    "\n"
    "    --device NAME     the device whose models to use; a NAME ending in .device or\n"
    "                      holding a '/' is a formula device file (docs/devices.md, e.g.\n"
    "                      data/devices/edgent-rpi3.device: seed 001's Table 2)\n"
    "    --db PATH         the store (default $CLEAVE_DB, else cleave.db)\n"
    "    --load now        sample the current load over --window-ms, as the profiler does\n"
    "    --load K=V,...    set load features by name: sys_cpu, cpu_util, mem_free_mib,\n"
    "                      mem_used, other_cpu, runnable_other, psi_cpu, psi_mem, mem_avail,\n"
    "                      probe_cpu_ns, probe_mem_ns (shares in 0..1, e.g.\n"
    "                      cpu_util=0.5,other_cpu=0.4).  A feature not given is unknown:\n"
    "                      there is no default, and a model that needs it fails with an\n"
    "                      error naming every missing feature it needs\n"
    "    --window-ms MS    the window of --load now, 1..60000 (default 40, the profiler's)\n"
    "    --json            machine-readable output (the same numbers)\n"
    "\n"
    "SPEC is a layer in cleave's text form, e.g. 'conv n=1 c=64 h=56 w=56 k=64 kernel=3\n"
    "pad=1' (quote each one); '-' reads one SPEC per line from standard input (blank lines\n"
    "and lines starting with '#' are skipped).\n";

/* What --load asked for. */
struct load_arg {
    int given; /* 0: no load (static models) */
    int now;   /* sample the current load */
    int window_ms;
    cleave_load load;
};

/* The layers to predict, parsed from the arguments (and standard input for '-'). */
struct layers {
    size_t n, cap;
    cleave_layer *l;
};

static int add_layer(struct layers *ls, const char *spec)
{
    char err[512];
    cleave_layer l;
    if (cleave_layer_parse(&l, spec, err, sizeof err) != CLEAVE_OK) {
        cli_usage_error("predict", "cannot parse layer '%s': %s", spec, err);
        return -1;
    }
    if (ls->n == ls->cap) {
        size_t cap = ls->cap ? 2 * ls->cap : 16;
        cleave_layer *nl = realloc(ls->l, cap * sizeof *nl);
        if (!nl) {
            cli_error("out of memory");
            return -1;
        }
        ls->l = nl;
        ls->cap = cap;
    }
    ls->l[ls->n++] = l;
    return 0;
}

static int read_stdin_layers(struct layers *ls)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int ret = 0;
    while (ret == 0 && (len = getline(&line, &cap, stdin)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        const char *s = line + strspn(line, " \t");
        if (*s && *s != '#')
            ret = add_layer(ls, s);
    }
    free(line);
    return ret;
}

static void print_load_features(FILE *out, const cleave_load *l)
{
    int any = 0;
    for (int i = 0; i < CLEAVE_LOAD_COUNT; i++)
        if (!isnan(l->v[i])) {
            fprintf(out, "%s%s=%.4g", any ? " " : "",
                    cleave_load_feature_name((cleave_load_feature)i), l->v[i]);
            any = 1;
        }
    if (!any)
        fputs("(no feature known)", out);
}

static void print_table(const char *device, const char *path, const char *target,
                        const struct load_arg *la, const struct layers *ls,
                        const cleave_prediction *r, double total_us, size_t fallbacks)
{
    char spec[CLEAVE_MAX_INPUTS * 24 + 512];
    printf("device '%s' in '%s', ", device, path);
    if (!la->given) {
        printf("no load given: static models\n");
    } else {
        if (la->now)
            printf("load now (%d ms window): ", la->window_ms);
        else
            printf("load given: ");
        print_load_features(stdout, &la->load);
        putchar('\n');
    }
    printf("\n%4s %14s  %-13s %-8s %-8s  %s\n", "#", "latency_us", "family", "set", "fallback",
           "layer");
    for (size_t i = 0; i < ls->n; i++) {
        cleave_layer_format(&ls->l[i], spec, sizeof spec);
        printf("%4zu %14.3f  %-13s %-8s %-8s  %s\n", i + 1, r[i].latency_us, r[i].family,
               r[i].feature_set, r[i].fallback ? "yes" : "no", spec);
    }
    printf("\ntotal %.3f us over %zu %s (%zu fallback); latencies are the %s of a layer's "
           "repetitions\n",
           total_us, ls->n, ls->n == 1 ? "layer" : "layers", fallbacks, target);
}

static void print_json(const char *device, const char *path, const char *target,
                       const struct load_arg *la, const struct layers *ls,
                       const cleave_prediction *r, double total_us, size_t fallbacks)
{
    char spec[CLEAVE_MAX_INPUTS * 24 + 512];
    FILE *out = stdout;
    fputs("{\"device\":", out);
    cl_json_string(out, device);
    fputs(",\"db\":", out);
    cl_json_string(out, path);
    fprintf(out, ",\"target\":\"%s\"", target);
    fputs(",\"load\":", out);
    if (!la->given) {
        fputs("null", out);
    } else {
        fprintf(out, "{\"source\":\"%s\"", la->now ? "now" : "given");
        if (la->now)
            fprintf(out, ",\"window_ms\":%d", la->window_ms);
        fputs(",\"features\":{", out);
        for (int i = 0; i < CLEAVE_LOAD_COUNT; i++) {
            fprintf(out, "%s", i ? "," : "");
            cl_json_string(out, cleave_load_feature_name((cleave_load_feature)i));
            fputc(':', out);
            cl_json_number(out, la->load.v[i]);
        }
        fputs("}}", out);
    }
    fputs(",\"layers\":[", out);
    for (size_t i = 0; i < ls->n; i++) {
        cleave_layer_format(&ls->l[i], spec, sizeof spec);
        fputs(i ? ",{\"spec\":" : "{\"spec\":", out);
        cl_json_string(out, spec);
        fputs(",\"type\":", out);
        cl_json_string(out, cleave_layer_type_name(ls->l[i].type));
        fputs(",\"latency_us\":", out);
        cl_json_number(out, r[i].latency_us);
        fputs(",\"family\":", out);
        cl_json_string(out, r[i].family);
        fputs(",\"feature_set\":", out);
        cl_json_string(out, r[i].feature_set);
        fprintf(out, ",\"fallback\":%s}", r[i].fallback ? "true" : "false");
    }
    fputs("],\"total_us\":", out);
    cl_json_number(out, total_us);
    fprintf(out, ",\"fallbacks\":%zu}\n", fallbacks);
}

int cmd_predict(int argc, char **argv)
{
    static const struct option longopts[] = {{"device", required_argument, NULL, 'D'},
                                             {"db", required_argument, NULL, 'd'},
                                             {"load", required_argument, NULL, 'l'},
                                             {"window-ms", required_argument, NULL, 'w'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *db = NULL, *device = NULL;
    struct load_arg la;
    struct layers ls = {0, 0, NULL};
    cleave_predictor *p = NULL;
    cleave_prediction *r = NULL;
    int json = 0, opt, code = CLI_OK, stdin_used = 0;
    long v;
    char err[1024];

    memset(&la, 0, sizeof la);
    la.window_ms = CLEAVE_LOAD_WINDOW_MS_DEFAULT;
    cleave_load_init(&la.load);
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h': fputs(usage, stdout); return cli_finish(CLI_OK);
        case ':': return cli_usage_error("predict", "option '%s' needs a value", argv[optind - 1]);
        case '?': return cli_usage_error("predict", "unknown option '%s'", argv[optind - 1]);
        case 'D': device = optarg; break;
        case 'd': db = optarg; break;
        case 'l':
            la.given = 1;
            la.now = strcmp(optarg, "now") == 0;
            if (!la.now && cli_parse_load("predict", "--load", optarg, &la.load) != 0)
                return CLI_USAGE;
            break;
        case 'w':
            if (cli_parse_int("predict", "--window-ms", optarg, 1, 60000, &v))
                return CLI_USAGE;
            la.window_ms = (int)v;
            break;
        case 'j': json = 1; break;
        }
    }
    if (!device || !*device)
        return cli_usage_error("predict", "a device name is required (--device NAME)");
    if (optind >= argc)
        return cli_usage_error("predict", "no layer given (SPEC...)");
    for (int i = optind; i < argc; i++) {
        int rc;
        if (strcmp(argv[i], "-") == 0) {
            if (stdin_used++) {
                code = cli_usage_error("predict", "'-' given twice");
                goto done;
            }
            rc = read_stdin_layers(&ls);
        } else {
            rc = add_layer(&ls, argv[i]);
        }
        if (rc != 0) {
            code = CLI_USAGE;
            goto done;
        }
    }
    if (ls.n == 0) {
        code = cli_usage_error("predict", "no layer given (SPEC...)");
        goto done;
    }

    const char *path = cli_db_path(db);
    if (cli_open_predictor(&p, path, device, err, sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }
    if (la.now && cleave_load_now(&la.load, la.window_ms, err, sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }
    if (!(r = calloc(ls.n, sizeof *r))) {
        code = cli_error("out of memory");
        goto done;
    }
    for (size_t i = 0; i < ls.n; i++)
        if (cleave_predict(p, &ls.l[i], la.given ? &la.load : NULL, &r[i]) != CLEAVE_OK) {
            char spec[CLEAVE_MAX_INPUTS * 24 + 512];
            cleave_layer_format(&ls.l[i], spec, sizeof spec);
            code = cli_error("layer %zu '%s': %s", i + 1, spec, cleave_predictor_errmsg(p));
            goto done;
        }
    double total_us = 0.0;
    size_t fallbacks = 0;
    for (size_t i = 0; i < ls.n; i++) {
        total_us += r[i].latency_us;
        fallbacks += (size_t)r[i].fallback;
    }
    /* A formula device is named by its file's 'device' line and comes from that file. */
    if (cli_is_formula_device(device)) {
        path = device;
        device = cleave_predictor_device(p);
    }
    if (json)
        print_json(device, path, cleave_predictor_target(p), &la, &ls, r, total_us, fallbacks);
    else
        print_table(device, path, cleave_predictor_target(p), &la, &ls, r, total_us, fallbacks);
    code = cli_finish(CLI_OK);
done:
    cleave_predictor_close(p);
    free(r);
    free(ls.l);
    return code;
}
