/*
** cli/cmd-report.c - `cleave report`: the R^2 tables of a device's fitted models in seed 002's
** layouts, the selected models' percentage errors, and gnuplot plots.
*/
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/store.h"
#include "fit/report.h"

static const char usage[] =
    "usage: cleave report --device NAME [--db PATH] [--format table|markdown|csv|json]\n"
    "                     [--metric cv|lolo] [--plot DIR]\n"
    "\n"
    "Report how well the device's fitted latency models predict held-out samples, from what\n"
    "'cleave fit' stored:\n"
    "  (a) R^2 per layer type and regression family, one table per feature set (static;\n"
    "      static + dynamic load features), the selected family marked '*', skipped\n"
    "      families '-' with their reasons;\n"
    "  (b) the dynamic-feature gain (static -> static + dynamic R^2, increase ratio) for the\n"
    "      linear, logarithmic and selected families, next to seed 002's published figures,\n"
    "      and the selected models on the samples taken under load;\n"
    "  (c) the selected models' share of predictions within +-10 %, MAPE and RMSE, for\n"
    "      k-fold cross-validation and leave-one-load-level-out;\n"
    "  (d) with --plot: gnuplot plots of predicted vs measured latency and latency vs load\n"
    "      level per layer type, and R^2 bars static vs static + dynamic.\n"
    "\n"
    "    --device NAME     the device whose models to report\n"
    "    --db PATH         the store (default $CLEAVE_DB, else cleave.db)\n"
    "    --format FORMAT   table (default; aligned text), markdown, csv (one row per type,\n"
    "                      feature set and family, every metric) or json (everything)\n"
    "    --metric METRIC   the held-out R^2 of tables (a) and (b): cv (k-fold, default) or\n"
    "                      lolo (leave-one-load-level-out)\n"
    "    --plot DIR        write the plots' .gp scripts and .dat files to DIR (created if\n"
    "                      missing) and render them to .png with gnuplot if it is in PATH\n";

int cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {{"device", required_argument, NULL, 'D'},
                                             {"db", required_argument, NULL, 'd'},
                                             {"format", required_argument, NULL, 'f'},
                                             {"metric", required_argument, NULL, 'm'},
                                             {"plot", required_argument, NULL, 'p'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *device = NULL, *db = NULL, *plot_dir = NULL;
    int opt, code = CLI_OK, fmt = FIT_REPORT_TABLE, metric = FIT_REPORT_CV;
    char err[1024];
    cl_store *st = NULL;
    fit_report rep;
    fit_report_plots plots;

    memset(&rep, 0, sizeof rep);
    memset(&plots, 0, sizeof plots);
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h': fputs(usage, stdout); return cli_finish(CLI_OK);
        case ':': return cli_usage_error("report", "option '%s' needs a value", argv[optind - 1]);
        case '?': return cli_usage_error("report", "unknown option '%s'", argv[optind - 1]);
        case 'D': device = optarg; break;
        case 'd': db = optarg; break;
        case 'f':
            if ((fmt = fit_report_format_from_name(optarg)) < 0)
                return cli_usage_error(
                    "report", "unknown format '%s' (formats: table, markdown, csv, json)", optarg);
            break;
        case 'm':
            if ((metric = fit_report_metric_from_name(optarg)) < 0)
                return cli_usage_error("report", "unknown metric '%s' (metrics: cv, lolo)", optarg);
            break;
        case 'p':
            if (!*optarg)
                return cli_usage_error("report", "option '--plot' needs a directory");
            plot_dir = optarg;
            break;
        }
    }
    if (optind < argc)
        return cli_usage_error("report", "unexpected argument '%s'", argv[optind]);
    if (!device || !*device)
        return cli_usage_error("report", "a device name is required (--device NAME)");

    const char *path = cli_db_path(db);
    if (cl_store_open(&st, path, CL_STORE_READONLY, err, sizeof err) != CLEAVE_OK)
        return cli_error("%s", err);
    if (fit_report_load(st, device, &rep, err, sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }
    /* Plots first: a failure there leaves no half-written report on stdout. */
    if (plot_dir && fit_report_plot(st, &rep, (fit_report_metric)metric, plot_dir, "gnuplot",
                                    &plots, err, sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }
    if (fit_report_write(stdout, &rep, (fit_report_format)fmt, (fit_report_metric)metric,
                         plot_dir ? &plots : NULL, err, sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }
    /* csv has no place for the plot files: say where they went on stderr. */
    if (plot_dir && fmt == FIT_REPORT_CSV) {
        fit_report_plots_message(&plots, err, sizeof err);
        fprintf(stderr, "cleave report: %s\n", err);
    }
    code = cli_finish(CLI_OK);
done:
    fit_report_plots_release(&plots);
    fit_report_release(&rep);
    cl_store_close(st);
    return code;
}
