/*
** cli/util.c - helpers shared by the subcommands: error messages, option values, exit.
*/
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/sysinfo.h"
#include "planner/graph.h"

int cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("cleave: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_ERR;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cleave %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nsee 'cleave %s --help'\n", cmd);
    return CLI_USAGE;
}

int cli_parse_int(const char *cmd, const char *opt, const char *val, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (end == val || *end || errno == ERANGE) {
        cli_usage_error(cmd, "option '%s' needs an integer, got '%s'", opt, val);
        return -1;
    }
    if (v < lo || v > hi) {
        cli_usage_error(cmd, "option '%s' must be in %ld..%ld, got %ld", opt, lo, hi, v);
        return -1;
    }
    *out = v;
    return 0;
}

void cli_json_breakdown(const plan_result *r)
{
    printf("\"total_us\": ");
    cl_json_number(stdout, r->total_us);
    printf(", \"end_us\": ");
    cl_json_number(stdout, r->end_us);
    printf(", \"edge_us\": ");
    cl_json_number(stdout, r->edge_us);
    printf(", \"up_us\": ");
    cl_json_number(stdout, r->up_us);
    printf(", \"down_us\": ");
    cl_json_number(stdout, r->down_us);
}

void cli_exec_args_init(cli_exec_args *a)
{
    *a = (cli_exec_args){0, 10, 2, 1, 0};
}

int cli_exec_option(const char *cmd, int opt, const char *arg, cli_exec_args *a)
{
    long v;
    switch (opt) {
    case CLI_X_THREADS:
        if (cli_parse_int(cmd, "--threads", arg, 1, 1024, &v))
            return -1;
        a->threads = (int)v;
        return 1;
    case CLI_X_REPS:
        if (cli_parse_int(cmd, "--reps", arg, 1, 100000, &v))
            return -1;
        a->reps = (int)v;
        return 1;
    case CLI_X_WARMUP:
        if (cli_parse_int(cmd, "--warmup", arg, 0, 100000, &v))
            return -1;
        a->warmup = (int)v;
        return 1;
    case CLI_X_SEED:
        if (cli_parse_int(cmd, "--seed", arg, 0, 2147483647L, &v))
            return -1;
        a->seed = (uint64_t)v;
        return 1;
    case CLI_X_UNKNOWN:
        if (strcmp(arg, "fallback") == 0) {
            a->flags = PLAN_ONNX_FALLBACK;
        } else if (strcmp(arg, "error") == 0) {
            a->flags = 0;
        } else {
            cli_usage_error(cmd, "unknown --unknown-op '%s' (error, fallback)", arg);
            return -1;
        }
        return 1;
    default: return 0;
    }
}

void cli_exec_args_finish(cli_exec_args *a)
{
    if (a->threads == 0) {
        cl_sysinfo si;
        cl_sysinfo_read(&si);
        a->threads = si.cores > 0 ? si.cores : 1;
    }
}

int cli_parse_target(const char *cmd, const char *val, fit_target *out)
{
    int t = fit_target_from_name(val);
    if (t < 0) {
        cli_usage_error(cmd, "option '--target' must be mean, median or p90, got '%s'", val);
        return -1;
    }
    *out = (fit_target)t;
    return 0;
}

int cli_parse_bytes(const char *cmd, const char *opt, const char *val, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (val[0] == '-') {
        cli_usage_error(cmd, "option '%s' must not be negative, got '%s'", opt, val);
        return -1;
    }
    double v = strtod(val, &end);
    unsigned long long mult = 1;
    if (end != val && *end) {
        switch (*end) {
        case 'k':
        case 'K': mult = 1ULL << 10; break;
        case 'm':
        case 'M': mult = 1ULL << 20; break;
        case 'g':
        case 'G': mult = 1ULL << 30; break;
        case 't':
        case 'T': mult = 1ULL << 40; break;
        default: mult = 0; break;
        }
        end++;
        if (*end == 'i')
            end++;
        if (*end == 'B' || *end == 'b')
            end++;
    }
    if (end == val || *end || mult == 0 || errno == ERANGE || !(v > 0) ||
        v * (double)mult > 1.8e19) {
        cli_usage_error(cmd, "option '%s' needs a positive size like 512M or 2G, got '%s'", opt,
                        val);
        return -1;
    }
    *out = (unsigned long long)(v * (double)mult);
    return 0;
}

int cli_finish(int code)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "cleave: error: cannot write output: %s\n", strerror(errno));
        return CLI_ERR;
    }
    return code;
}

int cli_is_formula_device(const char *device)
{
    size_t len = strlen(device);
    return strchr(device, '/') || (len > 7 && strcmp(device + len - 7, ".device") == 0);
}

cleave_status cli_open_predictor(cleave_predictor **p, const char *db, const char *device,
                                 char *err, size_t errlen)
{
    if (cli_is_formula_device(device))
        return cleave_predictor_open_formulas(p, device, err, errlen);
    return cleave_predictor_open(p, db, device, err, errlen);
}

const char *cli_db_path(const char *opt)
{
    const char *env = getenv("CLEAVE_DB");
    if (opt && *opt)
        return opt;
    if (env && *env)
        return env;
    return "cleave.db";
}

int cli_parse_load(const char *cmd, const char *opt, const char *text, cleave_load *out)
{
    char buf[1024];
    int seen[CLEAVE_LOAD_COUNT] = {0};
    cleave_load_init(out);
    if (strlen(text) >= sizeof buf) {
        cli_usage_error(cmd, "option '%s' is too long", opt);
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", text);
    if (!*buf) {
        cli_usage_error(cmd, "option '%s' needs 'now' or KEY=VALUE,...", opt);
        return -1;
    }
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            cli_usage_error(cmd, "load item '%s' is not KEY=VALUE", tok);
            return -1;
        }
        *eq = '\0';
        int f = -1;
        for (int i = 0; i < CLEAVE_LOAD_COUNT; i++)
            if (strcmp(tok, cleave_load_feature_name((cleave_load_feature)i)) == 0)
                f = i;
        if (f < 0) {
            char names[512] = "";
            size_t len = 0;
            for (int i = 0; i < CLEAVE_LOAD_COUNT && len < sizeof names; i++)
                len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "",
                                        cleave_load_feature_name((cleave_load_feature)i));
            cli_usage_error(cmd, "unknown load feature '%s' (features: %s)", tok, names);
            return -1;
        }
        if (seen[f]++) {
            cli_usage_error(cmd, "load feature '%s' given twice", tok);
            return -1;
        }
        char *end;
        errno = 0;
        double v = strtod(eq + 1, &end);
        if (end == eq + 1 || *end || errno == ERANGE || !isfinite(v)) {
            cli_usage_error(cmd, "invalid value '%s' for load feature '%s'", eq + 1, tok);
            return -1;
        }
        out->v[f] = v;
    }
    for (int i = 0; i < CLEAVE_LOAD_COUNT; i++)
        if (seen[i])
            return 0;
    cli_usage_error(cmd, "option '%s' needs 'now' or KEY=VALUE,...", opt);
    return -1;
}
