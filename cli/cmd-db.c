/*
** cli/cmd-db.c - `cleave db`: look into a store, export its samples as CSV, merge another
** machine's calibration into it, check its integrity.
*/
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/store.h"

static const char usage[] =
    "usage: cleave db info [--db PATH]\n"
    "   or: cleave db export --csv [--device NAME] [-o FILE] [--db PATH]\n"
    "   or: cleave db merge OTHER.db [--db PATH]\n"
    "   or: cleave db check [--db PATH]\n"
    "\n"
    "Work with a cleave store (an SQLite file of devices, profiling runs, samples and models).\n"
    "\n"
    "    info      devices, runs by status, samples per layer type, models, schema and size\n"
    "    export    every sample as CSV: one header line, one row per sample, a column per\n"
    "              dynamic feature (d_*) and per counter (ctr_*); empty = not observed\n"
    "    merge     copy the devices, runs, samples and models of OTHER.db into the store\n"
    "              (created if missing); merging a file again copies only what is new; a\n"
    "              device name whose threads, binding or CPU differ is refused\n"
    "    check     SQLite integrity and foreign-key checks\n"
    "\n"
    "    --db PATH        the store (default: $CLEAVE_DB, else cleave.db)\n"
    "    --csv            export as CSV (the only format)\n"
    "    --device NAME    export only the samples of device NAME\n"
    "    -o, --output FILE  write the export to FILE instead of standard output\n";

/* Options of every subcommand; each accepts the ones its synopsis lists. */
struct db_opts {
    const char *db;
    const char *device;
    const char *output;
    int csv;
    int optind; /* first operand */
};

/* Parse ARGV (ARGV[0] = the subcommand) with the options ALLOWED ("dcDo").  Returns -1 after
** printing --help (exit 0), a usage error code (2), or 0. */
static int parse(const char *cmd, int argc, char **argv, const char *allowed, struct db_opts *o,
                 int *code)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},     {"csv", no_argument, NULL, 'c'},
        {"device", required_argument, NULL, 'D'}, {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    int opt;
    memset(o, 0, sizeof *o);
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            *code = cli_finish(CLI_OK);
            return -1;
        }
        if (opt == ':') {
            *code = cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
            return -1;
        }
        if (opt == '?' || !strchr(allowed, opt)) {
            *code = cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
            return -1;
        }
        switch (opt) {
        case 'd': o->db = optarg; break;
        case 'c': o->csv = 1; break;
        case 'D': o->device = optarg; break;
        case 'o': o->output = optarg; break;
        }
    }
    o->optind = optind;
    return 0;
}

static const char *plural(int64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* `cleave db info`: per device its identity, runs by status, samples per type and models. */
static int db_info(int argc, char **argv)
{
    struct db_opts o;
    int code = CLI_OK;
    cl_store *st = NULL;
    cl_info info;
    char err[1024];

    if (parse("db info", argc, argv, "d", &o, &code) < 0)
        return code;
    if (o.optind < argc)
        return cli_usage_error("db info", "unexpected argument '%s'", argv[o.optind]);
    const char *path = cli_db_path(o.db);
    if (cl_store_open(&st, path, CL_STORE_READONLY, err, sizeof err) != CLEAVE_OK)
        return cli_error("%s", err);
    if (cl_store_info(st, &info) != CLEAVE_OK) {
        code = cli_error("%s", cl_store_errmsg(st));
        cl_store_close(st);
        return code;
    }
    cl_store_close(st);

    printf("store      %s\n", path);
    printf("schema     version %d\n", info.schema_version);
    printf("size       %" PRId64 " bytes (+ %" PRId64 " bytes of WAL)\n", info.file_bytes,
           info.wal_bytes);
    printf("devices    %zu\n", info.ndevices);
    for (size_t i = 0; i < info.ndevices; i++) {
        const cl_device_info *di = &info.devices[i];
        const cl_device *d = &di->dev;
        int64_t nruns = 0;
        for (int s = 0; s < CL_RUN_NSTATUS; s++)
            nruns += di->runs[s];
        printf("\ndevice     %s\n", d->name);
        printf("  host     %s\n", d->host);
        printf("  cpu      %s (%d %s, %s)\n", d->cpu_model, d->cores,
               plural(d->cores, "core", "cores"), d->isa[0] ? d->isa : "isa unknown");
        printf("  backend  %s %s, threads=%d binding=%s\n", d->backend, d->backend_version,
               d->threads, d->binding[0] ? d->binding : "none");
        printf("  created  %s\n", d->created);
        printf("  runs     %" PRId64 ":", nruns);
        for (int s = 0; s < CL_RUN_NSTATUS; s++)
            printf("%s %" PRId64 " %s", s ? "," : "", di->runs[s],
                   cl_run_status_name((cl_run_status)s));
        printf("\n  samples  %" PRId64, di->samples);
        const char *sep = ": ";
        for (size_t t = 0; t < di->ntypes; t++) {
            if (!di->types[t].samples)
                continue;
            printf("%s%s %" PRId64, sep, di->types[t].type, di->types[t].samples);
            sep = ", ";
        }
        printf("\n  models   %" PRId64 " (%" PRId64 " selected)", di->models, di->models_selected);
        sep = ": ";
        for (size_t t = 0; t < di->ntypes; t++) {
            if (!di->types[t].models)
                continue;
            printf("%s%s %" PRId64, sep, di->types[t].type, di->types[t].models);
            sep = ", ";
        }
        printf("\n");
    }
    cl_info_release(&info);
    return cli_finish(CLI_OK);
}

/* `cleave db export --csv`: the samples, to standard output or to -o FILE.  A failed export
** removes the partial FILE rather than leave something that looks complete. */
static int db_export(int argc, char **argv)
{
    struct db_opts o;
    int code = CLI_OK;
    cl_store *st = NULL;
    FILE *out = stdout;
    char err[1024];

    if (parse("db export", argc, argv, "dcDo", &o, &code) < 0)
        return code;
    if (o.optind < argc)
        return cli_usage_error("db export", "unexpected argument '%s'", argv[o.optind]);
    if (!o.csv)
        return cli_usage_error("db export", "choose a format: --csv");
    if (o.device && !*o.device)
        return cli_usage_error("db export", "option '--device' needs a name");
    if (o.output && !*o.output)
        return cli_usage_error("db export", "option '--output' needs a file name");
    const char *path = cli_db_path(o.db);
    if (cl_store_open(&st, path, CL_STORE_READONLY, err, sizeof err) != CLEAVE_OK)
        return cli_error("%s", err);
    /* An unknown device is an error before any output file is created. */
    if (o.device && cl_store_device_get(st, o.device, NULL, NULL) != CLEAVE_OK) {
        code = cli_error("%s", cl_store_errmsg(st));
        goto done;
    }
    if (o.output && !(out = fopen(o.output, "w"))) {
        code = cli_error("cannot open '%s': %s", o.output, strerror(errno));
        out = stdout;
        goto done;
    }
    if (cl_store_export_csv(st, out, o.device) != CLEAVE_OK)
        code = cli_error("%s", cl_store_errmsg(st));
    if (out != stdout) {
        if (fclose(out) != 0 && code == CLI_OK)
            code = cli_error("cannot write '%s': %s", o.output, strerror(errno));
        out = stdout;
        if (code != CLI_OK)
            remove(o.output);
    }
done:
    cl_store_close(st);
    return code == CLI_OK ? cli_finish(CLI_OK) : code;
}

/* `cleave db merge OTHER.db`: OTHER is checked before the target is opened, so a bad OTHER never
** leaves a new, empty store behind. */
static int db_merge(int argc, char **argv)
{
    struct db_opts o;
    int code = CLI_OK;
    cl_store *st = NULL, *other = NULL;
    cl_merge_counts c;
    char err[1024];

    if (parse("db merge", argc, argv, "d", &o, &code) < 0)
        return code;
    if (o.optind >= argc)
        return cli_usage_error("db merge", "missing the store to merge from");
    if (o.optind + 1 < argc)
        return cli_usage_error("db merge", "unexpected argument '%s'", argv[o.optind + 1]);
    const char *src = argv[o.optind];
    const char *path = cli_db_path(o.db);
    if (cl_store_open(&other, src, CL_STORE_READONLY, err, sizeof err) != CLEAVE_OK)
        return cli_error("%s", err);
    cl_store_close(other);
    if (cl_store_open(&st, path, CL_STORE_CREATE, err, sizeof err) != CLEAVE_OK)
        return cli_error("%s", err);
    if (cl_store_merge(st, src, &c, err, sizeof err) != CLEAVE_OK) {
        cl_store_close(st);
        return cli_error("%s", err);
    }
    cl_store_close(st);
    printf("merged '%s' into '%s': %" PRId64 " %s, %" PRId64 " %s, %" PRId64 " %s, %" PRId64
           " %s, %" PRId64 " %s added\n",
           src, path, c.devices, plural(c.devices, "device", "devices"), c.runs,
           plural(c.runs, "run", "runs"), c.samples, plural(c.samples, "sample", "samples"),
           c.counters, plural(c.counters, "counter", "counters"), c.models,
           plural(c.models, "model", "models"));
    return cli_finish(CLI_OK);
}

/* `cleave db check`: SQLite's integrity_check and foreign_key_check. */
static int db_check(int argc, char **argv)
{
    struct db_opts o;
    int code = CLI_OK;
    cl_store *st = NULL;
    char err[1024];

    if (parse("db check", argc, argv, "d", &o, &code) < 0)
        return code;
    if (o.optind < argc)
        return cli_usage_error("db check", "unexpected argument '%s'", argv[o.optind]);
    const char *path = cli_db_path(o.db);
    if (cl_store_open(&st, path, CL_STORE_READONLY, err, sizeof err) != CLEAVE_OK)
        return cli_error("%s", err);
    if (cl_store_check(st) != CLEAVE_OK)
        code = cli_error("%s", cl_store_errmsg(st));
    else
        printf("'%s': ok\n", path);
    cl_store_close(st);
    return code == CLI_OK ? cli_finish(CLI_OK) : code;
}

int cmd_db(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } subs[] = {{"info", db_info}, {"export", db_export}, {"merge", db_merge}, {"check", db_check}};

    if (argc < 2)
        return cli_usage_error("db", "missing subcommand: info, export, merge or check");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, stdout);
        return cli_finish(CLI_OK);
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            return subs[i].fn(argc - 1, argv + 1);
    return cli_usage_error("db", "unknown subcommand '%s' (info, export, merge or check)", argv[1]);
}
