/*
** cli/cmd-calibrate.c - `cleave calibrate`: calibrate a new device once - profile under load,
** fit every family, and print the R² tables.
*/
#include "cli/profiling.h"

#include <string.h>

#include "common/store.h"
#include "common/sysinfo.h"
#include "fit/fitrun.h"
#include "fit/report.h"

static const char usage[] =
    "usage: cleave calibrate --device NAME [--budget TIME] [--families LIST] [--folds K]\n"
    "                        [--target mean|median|p90] [--format table|markdown|csv|json]\n"
    "                        [--plot DIR] [profile options]\n"
    "\n"
    "Calibrate a device once: profile every layer type over the sweep's shapes under the\n"
    "load levels (as `cleave profile`, default budget 10m), fit every regression family on\n"
    "static and on static + dynamic features with held-out evaluation (as `cleave fit`),\n"
    "and print the R² tables (as `cleave report`).  Interrupted with Ctrl-C, it keeps what\n"
    "was measured and exits 130; `--resume` continues the profiling run.\n"
    "\n"
    "    --families LIST   families to fit (default all): logarithmic, linear, lasso, ridge,\n"
    "                      kernel_ridge, polynomial, gbdt\n"
    "    --folds K         k-fold cross-validation folds (default 5)\n"
    "    --target STAT     latency statistic to model: mean (default), median or p90\n"
    "                      (see `cleave help fit`)\n"
    "    --format F        report format: table (default), markdown, csv, json\n"
    "    --plot DIR        also write the plots (gnuplot) to DIR\n"
    "\n"
    "profile options:\n";

int cmd_calibrate(int argc, char **argv)
{
    enum { O_FAMILIES = CLI_O_NEXT, O_FOLDS, O_FORMAT, O_PLOT, O_TARGET };
    static const struct option longopts[] = {CLI_PROFILE_LONGOPTS,
                                             {"families", required_argument, NULL, O_FAMILIES},
                                             {"folds", required_argument, NULL, O_FOLDS},
                                             {"target", required_argument, NULL, O_TARGET},
                                             {"format", required_argument, NULL, O_FORMAT},
                                             {"plot", required_argument, NULL, O_PLOT},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct cli_profile_args a;
    prof_run_summary sum;
    fit_run_opts fo;
    fit_run_result fr;
    fit_report rep;
    fit_report_plots plots;
    cl_store *st = NULL;
    const char *plot_dir = NULL;
    int format = FIT_REPORT_TABLE, opt, r, code;
    long v;
    char err[2048];

    cli_profile_args_init(&a);
    a.cfg.budget_s = 600;
    fit_run_opts_default(&fo);
    memset(&fr, 0, sizeof fr);
    memset(&rep, 0, sizeof rep);
    memset(&plots, 0, sizeof plots);
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(usage, stdout);
            fputs(cli_profile_options_help, stdout);
            return cli_finish(CLI_OK);
        case O_FAMILIES:
            if (fit_families_parse(optarg, &fo.families, err, sizeof err) != CLEAVE_OK)
                return cli_usage_error("calibrate", "%s", err);
            continue;
        case O_FOLDS:
            if (cli_parse_int("calibrate", "--folds", optarg, FIT_FOLDS_MIN, FIT_FOLDS_MAX, &v))
                return CLI_USAGE;
            fo.folds = (int)v;
            continue;
        case O_TARGET:
            if (cli_parse_target("calibrate", optarg, &fo.target))
                return CLI_USAGE;
            continue;
        case O_FORMAT:
            format = fit_report_format_from_name(optarg);
            if (format < 0)
                return cli_usage_error("calibrate",
                                       "unknown format '%s' (table, markdown, csv, json)", optarg);
            continue;
        case O_PLOT: plot_dir = optarg; continue;
        default: break;
        }
        r = cli_profile_option("calibrate", opt, optarg, &a);
        if (r < 0)
            return CLI_USAGE;
        if (r == 0)
            return cli_usage_error("calibrate", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind < argc)
        return cli_usage_error("calibrate", "unexpected argument '%s'", argv[optind]);
    if ((r = cli_profile_check("calibrate", &a)) != CLI_OK)
        return r;

    fprintf(stderr, "calibrate: 1/3 profiling device '%s' into '%s'\n", a.cfg.device,
            a.cfg.db_path);
    code = cli_profile_run(&a, &sum);
    if (code != CLI_OK)
        return cli_finish(code);

    fprintf(stderr, "calibrate: 2/3 fitting\n");
    if (cl_store_open(&st, a.cfg.db_path, 0, err, sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }
    fo.device = a.cfg.device;
    fo.seed = a.cfg.seed;
    if (fit_run(st, &fo, &fr, err, sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }
    printf("fit: %zu models over %zu layer types in %.1f s (%zu family/type combinations "
           "skipped)\n\n",
           fr.models, fr.ntypes, fr.total_seconds, fr.skips);

    fprintf(stderr, "calibrate: 3/3 report\n");
    if (fit_report_load(st, a.cfg.device, &rep, err, sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }
    if (plot_dir && fit_report_plot(st, &rep, FIT_REPORT_CV, plot_dir, "gnuplot", &plots, err,
                                    sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }
    if (fit_report_write(stdout, &rep, (fit_report_format)format, FIT_REPORT_CV,
                         plot_dir ? &plots : NULL, err, sizeof err) != CLEAVE_OK) {
        code = cli_error("%s", err);
        goto done;
    }
    if (plot_dir) {
        char msg[512];
        fit_report_plots_message(&plots, msg, sizeof msg);
        fprintf(stderr, "calibrate: %s\n", msg);
    }
    code = CLI_OK;
done:
    fit_report_plots_release(&plots);
    fit_report_release(&rep);
    fit_run_result_release(&fr);
    cl_store_close(st);
    return cli_finish(code);
}
