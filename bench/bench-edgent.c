/*
** bench/bench-edgent.c - how long Edgent's joint exit + partition choice (planner/edgent.c)
** takes: on the bundled BranchyNet AlexNet with seed 001's formula devices (5 exits, 41 nodes),
** and on generated branchy chains of 100 and 1,000 main-path nodes with 5 and 20 exits (fc
** layers of random widths, end-device layers of 0.05-5 ms, the edge 2-20x faster), at 1 Mbit/s.
** Prints figures; not a test.
**
**   bench-edgent [--runs R] [--seed S] [--src DIR]   (defaults: 21 runs, seed 1, DIR = the
**                                                     source tree, default the current directory)
**
** Each figure is the median wall time of R calls of plan_edgent_solve() (every exit's problem
** built and its minimum cut found), graph and predictions ready.
*/
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cleave/cleave.h>

#include "common/rng.h"
#include "planner/edgent.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median time of RUNS solves of G with times TE / TX. */
static double time_solve(const plan_graph *g, const double *te, const double *tx, int runs)
{
    char err[512];
    plan_edgent *e = NULL;
    plan_edgent_opts o;
    double *t = malloc(sizeof *t * (size_t)runs);
    if (!t || plan_edgent_create(&e, g, err, sizeof err) != CLEAVE_OK) {
        fprintf(stderr, "bench-edgent: %s\n", t ? err : "out of memory");
        exit(1);
    }
    plan_edgent_opts_init(&o);
    o.up_mbps = o.down_mbps = 1.0;
    o.deadline_us = 100e3;
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        if (plan_edgent_solve(e, g, te, tx, &o, err, sizeof err) != CLEAVE_OK) {
            fprintf(stderr, "bench-edgent: %s\n", err);
            exit(1);
        }
        t[r] = now_ms() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    double med = t[runs / 2];
    free(t);
    plan_edgent_destroy(e);
    return med;
}

/* A branchy chain of NMAIN fc layers with NEXITS - 1 two-layer branches, as text. */
static plan_graph *branchy(int nmain, int nexits, uint64_t *s)
{
    size_t cap = (size_t)(nmain + 4 * nexits) * 96 + 4096, len = 0;
    char *text = malloc(cap), err[512];
    if (!text)
        exit(1);
    len += (size_t)snprintf(text + len, cap - len, "input x 1x%d\n",
                            64 + (int)(cl_rng_next(s) % 2048));
    for (int i = 0; i < nmain; i++) {
        char in[16] = "x";
        if (i)
            snprintf(in, sizeof in, "m%d", i - 1);
        len += (size_t)snprintf(text + len, cap - len, "node m%d fc k=%d <- %s\n", i,
                                16 + (int)(cl_rng_next(s) % 2048), in);
    }
    for (int b = 0; b + 1 < nexits; b++) {
        int at = (b + 1) * nmain / nexits - 1;
        len += (size_t)snprintf(text + len, cap - len,
                                "node b%d_0 fc k=64 <- m%d\nnode b%d_1 fc k=10 <- b%d_0\n", b, at,
                                b, b);
    }
    len += (size_t)snprintf(text + len, cap - len, "output m%d", nmain - 1);
    for (int b = 0; b + 1 < nexits; b++)
        len += (size_t)snprintf(text + len, cap - len, " b%d_1", b);
    len += (size_t)snprintf(text + len, cap - len, "\n");
    for (int b = 0; b + 1 < nexits; b++)
        len += (size_t)snprintf(text + len, cap - len,
                                "exit e%d accuracy=%g from=m%d layers=b%d_0,b%d_1\n", b,
                                0.5 + 0.01 * b, (b + 1) * nmain / nexits - 1, b, b);
    len += (size_t)snprintf(text + len, cap - len, "exit main accuracy=0.9\n");
    plan_graph *g = NULL;
    if (plan_text_read(&g, text, len, err, sizeof err) != CLEAVE_OK) {
        fprintf(stderr, "bench-edgent: %s\n", err);
        exit(1);
    }
    free(text);
    return g;
}

int main(int argc, char **argv)
{
    int runs = 21, opt;
    uint64_t seed = 1;
    const char *src = ".";
    static const struct option longopts[] = {{"runs", required_argument, NULL, 'r'},
                                             {"seed", required_argument, NULL, 's'},
                                             {"src", required_argument, NULL, 'd'},
                                             {NULL, 0, NULL, 0}};
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == 'r')
            runs = atoi(optarg);
        else if (opt == 's')
            seed = strtoull(optarg, NULL, 10);
        else if (opt == 'd')
            src = optarg;
        else
            return 2;
    }
    if (runs < 1)
        return 2;
    printf("# bench-edgent --runs %d --seed %llu --src %s\n", runs, (unsigned long long)seed, src);
    printf("%-34s %6s %6s %12s\n", "graph", "nodes", "exits", "median_ms");

    /* the bundled network with seed 001's devices */
    char path[4096], err[512];
    plan_graph *g = NULL;
    cleave_predictor *pe = NULL, *px = NULL;
    snprintf(path, sizeof path, "%s/data/models/branchy_alexnet.txt", src);
    if (plan_text_load(&g, path, err, sizeof err) != CLEAVE_OK) {
        fprintf(stderr, "bench-edgent: %s\n", err);
        return 1;
    }
    snprintf(path, sizeof path, "%s/data/devices/edgent-rpi3.device", src);
    if (cleave_predictor_open_formulas(&pe, path, err, sizeof err) != CLEAVE_OK) {
        fprintf(stderr, "bench-edgent: %s\n", err);
        return 1;
    }
    snprintf(path, sizeof path, "%s/data/devices/edgent-desktop.device", src);
    if (cleave_predictor_open_formulas(&px, path, err, sizeof err) != CLEAVE_OK) {
        fprintf(stderr, "bench-edgent: %s\n", err);
        return 1;
    }
    double *te = calloc((size_t)g->nnodes, sizeof *te), *tx = calloc((size_t)g->nnodes, sizeof *tx);
    for (int v = 0; v < g->nnodes; v++) {
        cleave_prediction r;
        if (g->nodes[v].flags & PLAN_NODE_ZERO_COST)
            continue;
        if (cleave_predict(pe, &g->nodes[v].layer, NULL, &r) == CLEAVE_OK)
            te[v] = r.latency_us;
        if (cleave_predict(px, &g->nodes[v].layer, NULL, &r) == CLEAVE_OK)
            tx[v] = r.latency_us;
    }
    printf("%-34s %6d %6d %12.4f\n", "branchy_alexnet (seed 001 devices)", g->nnodes, g->nexits,
           time_solve(g, te, tx, runs));
    free(te);
    free(tx);
    plan_graph_destroy(g);
    cleave_predictor_close(pe);
    cleave_predictor_close(px);

    static const int sizes[][2] = {{100, 5}, {100, 20}, {1000, 5}, {1000, 20}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t s = seed + i;
        g = branchy(sizes[i][0], sizes[i][1], &s);
        te = malloc(sizeof *te * (size_t)g->nnodes);
        tx = malloc(sizeof *tx * (size_t)g->nnodes);
        for (int v = 0; v < g->nnodes; v++) {
            te[v] = 50 + 4950 * cl_rng_uniform(&s);
            tx[v] = te[v] / (2 + 18 * cl_rng_uniform(&s));
        }
        char name[64];
        snprintf(name, sizeof name, "branchy chain %d + %d exits", sizes[i][0], sizes[i][1]);
        printf("%-34s %6d %6d %12.4f\n", name, g->nnodes, g->nexits, time_solve(g, te, tx, runs));
        free(te);
        free(tx);
        plan_graph_destroy(g);
    }
    return 0;
}
