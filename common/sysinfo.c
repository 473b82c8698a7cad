/*
** common/sysinfo.c - facts about this machine from /proc, uname and $PATH.
*/
#include "common/sysinfo.h"

#include <sched.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The value of the first line of /proc/meminfo starting with KEY, in bytes (kB * 1024). */
static uint64_t meminfo_bytes(const char *key)
{
    char line[256];
    uint64_t v = 0;
    size_t klen = strlen(key);
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtoull(line + klen + 1, NULL, 10) * 1024u;
            break;
        }
    }
    fclose(f);
    return v;
}

uint64_t cl_mem_available_bytes(void)
{
    return meminfo_bytes("MemAvailable");
}

void cl_sysinfo_read(cl_sysinfo *si)
{
    char line[512];
    memset(si, 0, sizeof *si);
    if (gethostname(si->host, sizeof si->host - 1) != 0)
        strcpy(si->host, "unknown");
    strcpy(si->cpu_model, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *colon = strchr(line, ':');
                if (colon) {
                    colon++;
                    while (*colon == ' ' || *colon == '\t')
                        colon++;
                    colon[strcspn(colon, "\n")] = '\0';
                    snprintf(si->cpu_model, sizeof si->cpu_model, "%s", colon);
                }
                break;
            }
        }
        fclose(f);
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    si->cores = n > 0 ? (int)n : 1;
    si->mem_total_bytes = meminfo_bytes("MemTotal");
    si->mem_avail_bytes = meminfo_bytes("MemAvailable");
}

const char *cl_omp_binding(void)
{
    static char buf[96];
    const char *b = getenv("OMP_PROC_BIND");
    if (!b || !*b)
        return "unbound";
    snprintf(buf, sizeof buf, "OMP_PROC_BIND=%s", b);
    return buf;
}

int cl_in_path(const char *program)
{
    char buf[4096];
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    while (*path) {
        size_t len = strcspn(path, ":");
        if (len > 0 && len + strlen(program) + 2 < sizeof buf) {
            memcpy(buf, path, len);
            buf[len] = '/';
            strcpy(buf + len + 1, program);
            if (access(buf, X_OK) == 0)
                return 1;
        }
        path += len;
        if (*path == ':')
            path++;
    }
    return 0;
}

int cl_affinity_widen(void)
{
    cpu_set_t all;
    CPU_ZERO(&all);
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);
    for (long i = 0; i < ncpu && i < CPU_SETSIZE; i++)
        CPU_SET((int)i, &all);
    return sched_setaffinity(0, sizeof all, &all);
}
