/*
** cli/cmd-info.c - `cleave info`: this machine, the backend, and what is usable here.
*/
#include "cli/cli.h"

#include <getopt.h>
#include <omp.h>
#include <string.h>

#include "common/json.h"
#include "common/sysinfo.h"
#include "profiler/counters.h"
#include "profiler/dnnl_util.h"

static const char usage[] = "usage: cleave info [--json]\n"
                            "\n"
                            "Describe this machine (CPU, cores, memory), the execution backend\n"
                            "(oneDNN version and the ISA it dispatches to, OpenMP threads and\n"
                            "binding), which performance counters can be read, and whether\n"
                            "gnuplot is installed.\n"
                            "\n"
                            "    --json    machine-readable output\n";

int cmd_info(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int json = 0, opt;
    cl_sysinfo si;
    prof_counters *ctr = NULL;
    char err[256], counters[2048] = "";

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'j': json = 1; break;
        case 'h': fputs(usage, stdout); return cli_finish(CLI_OK);
        default: return cli_usage_error("info", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("info", "unexpected argument '%s'", argv[optind]);

    cl_sysinfo_read(&si);
    int pmu = prof_pmu_usable();
    if (prof_counters_open(&ctr, 0, err, sizeof err) == CLEAVE_OK)
        prof_counters_describe(ctr, counters, sizeof counters);
    else
        snprintf(counters, sizeof counters, "counters: %s\n", err);
    prof_counters_close(ctr);
    int gnuplot = cl_in_path("gnuplot");
    int threads = omp_get_max_threads();

    if (json) {
        printf("{\"cleave_version\": ");
        cl_json_string(stdout, cleave_version());
        printf(", \"host\": ");
        cl_json_string(stdout, si.host);
        printf(", \"cpu_model\": ");
        cl_json_string(stdout, si.cpu_model);
        printf(", \"cores\": %d, \"mem_total_bytes\": %llu, \"mem_available_bytes\": %llu",
               si.cores, (unsigned long long)si.mem_total_bytes,
               (unsigned long long)si.mem_avail_bytes);
        printf(", \"backend\": \"onednn\", \"backend_version\": ");
        cl_json_string(stdout, prof_dnnl_version());
        printf(", \"isa\": ");
        cl_json_string(stdout, prof_dnnl_isa());
        printf(", \"omp_threads\": %d, \"binding\": ", threads);
        cl_json_string(stdout, cl_omp_binding());
        printf(", \"pmu\": %s, \"gnuplot\": %s, \"counters\": ", pmu ? "true" : "false",
               gnuplot ? "true" : "false");
        cl_json_string(stdout, counters);
        printf("}\n");
        return cli_finish(CLI_OK);
    }
    printf("cleave      %s\n", cleave_version());
    printf("host        %s\n", si.host);
    printf("cpu         %s\n", si.cpu_model);
    printf("cores       %d online\n", si.cores);
    printf("memory      %.1f GiB total, %.1f GiB available\n",
           (double)si.mem_total_bytes / 1073741824.0, (double)si.mem_avail_bytes / 1073741824.0);
    printf("backend     oneDNN %s, ISA %s\n", prof_dnnl_version(), prof_dnnl_isa());
    printf("openmp      %d threads, %s\n", threads, cl_omp_binding());
    printf("pmu         %s\n",
           pmu ? "usable (hardware counters)" : "not usable (software counters only)");
    printf("gnuplot     %s\n", gnuplot ? "found" : "not found (plots are written as .gp/.dat)");
    printf("\ncounters:\n");
    for (char *line = strtok(counters, "\n"); line; line = strtok(NULL, "\n"))
        printf("  %s\n", line);
    return cli_finish(CLI_OK);
}
