/*
** bench/bench-partition.c - how long the partition algorithms take on generated graphs of
** 100, 1,000 and 10,000 nodes: dp on series-parallel CNN-like graphs (chains of residual and
** inception blocks, forks read by several branches), mincut on those and on random local DAGs
** (each node reads one to three tensors of the previous ten nodes).  Costs: end-device layers
** of 0.05-5 ms, the edge from 20x faster to 2x slower (a loaded edge loses on some layers, so
** plans switch sides), tensors of 100 B - 200 kB over seed 002's WiFi figures.
** Prints figures; not a test.
**
** Then the throughput methods (split, dsh; bnb on the 100-node graphs) on the same graphs.
**
**   bench-partition [--runs R] [--seed S]       (defaults: 5 runs, seed 1)
**
** Each figure is the median wall time of R runs of one algorithm on one graph, problem already
** built (the algorithm's own allocations included).
*/
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/rng.h"
#include "planner/partition.h"
#include "planner/throughput.h"

/* A growable problem. */
struct gen {
    int n, nt, ncap, tcap, ccap, nc;
    double *t_end, *t_edge, *up, *down;
    int *producer, *cons_off, *cons;
    unsigned char *out;
    int *cons_t; /* consumer entries as (tensor, node) pairs before sorting into CSR */
    int *cons_v;
    uint64_t rng;
    plan_problem p;
};

static void *xrealloc(void *p, size_t bytes)
{
    void *q = realloc(p, bytes);
    if (!q) {
        fprintf(stderr, "bench-partition: out of memory\n");
        exit(1);
    }
    return q;
}

static double unif(struct gen *g, double lo, double hi)
{
    return lo + (hi - lo) * cl_rng_uniform(&g->rng);
}

static int irand(struct gen *g, int n)
{
    return (int)(cl_rng_next(&g->rng) % (uint64_t)n);
}

static int node(struct gen *g)
{
    if (g->n == g->ncap) {
        g->ncap = g->ncap ? 2 * g->ncap : 256;
        g->t_end = xrealloc(g->t_end, sizeof(double) * (size_t)g->ncap);
        g->t_edge = xrealloc(g->t_edge, sizeof(double) * (size_t)g->ncap);
    }
    int v = g->n++;
    g->t_end[v] = unif(g, 50.0, 5000.0); /* a phone-class end device, microseconds */
    g->t_edge[v] = g->t_end[v] * exp(unif(g, log(0.05), log(2.0))); /* a loaded edge can lose */
    return v;
}

static int tensor(struct gen *g, int producer)
{
    if (g->nt == g->tcap) {
        g->tcap = g->tcap ? 2 * g->tcap : 256;
        g->producer = xrealloc(g->producer, sizeof(int) * (size_t)g->tcap);
        g->up = xrealloc(g->up, sizeof(double) * (size_t)g->tcap);
        g->down = xrealloc(g->down, sizeof(double) * (size_t)g->tcap);
        g->out = xrealloc(g->out, (size_t)g->tcap);
    }
    int t = g->nt++;
    double bytes = exp(unif(g, log(1e2), log(2e5)));
    g->producer[t] = producer;
    g->up[t] = 1000.0 + bytes * 8.0 / 18.88;   /* WiFi (seed 002): 18.88 Mbps up, rtt 2 ms */
    g->down[t] = 1000.0 + bytes * 8.0 / 54.97; /* 54.97 Mbps down */
    g->out[t] = 0;
    return t;
}

static void consume(struct gen *g, int t, int v)
{
    if (g->nc == g->ccap) {
        g->ccap = g->ccap ? 2 * g->ccap : 1024;
        g->cons_t = xrealloc(g->cons_t, sizeof(int) * (size_t)g->ccap);
        g->cons_v = xrealloc(g->cons_v, sizeof(int) * (size_t)g->ccap);
    }
    g->cons_t[g->nc] = t;
    g->cons_v[g->nc++] = v;
}

static const plan_problem *finish(struct gen *g)
{
    g->cons_off = xrealloc(g->cons_off, sizeof(int) * ((size_t)g->nt + 1));
    g->cons = xrealloc(g->cons, sizeof(int) * ((size_t)g->nc + 1));
    memset(g->cons_off, 0, sizeof(int) * ((size_t)g->nt + 1));
    for (int j = 0; j < g->nc; j++)
        g->cons_off[g->cons_t[j] + 1]++;
    for (int t = 0; t < g->nt; t++)
        g->cons_off[t + 1] += g->cons_off[t];
    int *fill = xrealloc(NULL, sizeof(int) * ((size_t)g->nt + 1));
    memcpy(fill, g->cons_off, sizeof(int) * ((size_t)g->nt + 1));
    for (int j = 0; j < g->nc; j++)
        g->cons[fill[g->cons_t[j]]++] = g->cons_v[j];
    free(fill);
    g->p = (plan_problem){.n = g->n,
                          .t_end = g->t_end,
                          .t_edge = g->t_edge,
                          .ntensors = g->nt,
                          .producer = g->producer,
                          .up_us = g->up,
                          .down_us = g->down,
                          .cons_off = g->cons_off,
                          .cons = g->cons,
                          .is_output = g->out};
    return &g->p;
}

static void gen_free(struct gen *g)
{
    free(g->t_end);
    free(g->t_edge);
    free(g->up);
    free(g->down);
    free(g->producer);
    free(g->cons_off);
    free(g->cons);
    free(g->out);
    free(g->cons_t);
    free(g->cons_v);
}

/* A chain of LEN nodes reading IN; returns its last tensor. */
static int chain(struct gen *g, int in, int len)
{
    for (int i = 0; i < len; i++) {
        int v = node(g);
        consume(g, in, v);
        in = tensor(g, v);
    }
    return in;
}

/* A CNN-like series-parallel graph of about N nodes: a stem, then residual blocks (a chain of
** two or three beside a shortcut, joined by an add) and inception blocks (three or four chains
** of one to three from one fork tensor, joined by a concat), occasionally nested. */
static int block(struct gen *g, int in, int depth)
{
    double r = unif(g, 0, 1);
    if (r < 0.45) { /* residual */
        int body = depth > 0 && unif(g, 0, 1) < 0.3 ? block(g, in, depth - 1)
                                                    : chain(g, in, 2 + irand(g, 2));
        int add = node(g);
        consume(g, body, add);
        consume(g, in, add);
        return tensor(g, add);
    }
    if (r < 0.8) { /* inception */
        int k = 3 + irand(g, 2), outs[4];
        for (int b = 0; b < k; b++)
            outs[b] = depth > 0 && unif(g, 0, 1) < 0.2 ? block(g, in, depth - 1)
                                                       : chain(g, in, 1 + irand(g, 3));
        int cat = node(g);
        for (int b = 0; b < k; b++)
            consume(g, outs[b], cat);
        return tensor(g, cat);
    }
    return chain(g, in, 1 + irand(g, 3));
}

static const plan_problem *gen_sp(struct gen *g, int n)
{
    int x = tensor(g, -1);
    int y = chain(g, x, 3);
    while (g->n < n)
        y = block(g, y, 2);
    g->out[y] = 1;
    return finish(g);
}

/* A random local DAG of N nodes: each node reads one to three tensors of the previous ten
** nodes (the network input for the first ones); the last node's tensor is the output. */
static const plan_problem *gen_dag(struct gen *g, int n)
{
    int x = tensor(g, -1);
    int *read = xrealloc(NULL, sizeof(int) * (size_t)n);
    for (int v = 0; v < n; v++) {
        node(g);
        int k = 1 + irand(g, 3);
        for (int j = 0; j < k; j++) {
            int back = 1 + irand(g, 10);
            int t = v - back < 0 ? x : 1 + (v - back); /* tensor 1 + u is node u's output */
            consume(g, t, v);
            if (v - back >= 0)
                read[v - back] = 1;
        }
        read[v] = 0;
        tensor(g, v);
    }
    g->out[n] = 1; /* the last node's result; other unread tensors are dead ends */
    free(read);
    return finish(g);
}

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

typedef cleave_status (*algo_fn)(const plan_problem *, plan_result *, char *, size_t);

/* Median milliseconds of RUNS calls of F on P; the last result in *R. */
static double time_algo(algo_fn f, const plan_problem *p, int runs, plan_result *r)
{
    double *ms = xrealloc(NULL, sizeof(double) * (size_t)runs);
    char err[256];
    for (int i = 0; i < runs; i++) {
        double t0 = now_ms();
        cleave_status st = f(p, r, err, sizeof err);
        ms[i] = now_ms() - t0;
        if (st != CLEAVE_OK) {
            fprintf(stderr, "bench-partition: %s\n", err);
            exit(1);
        }
    }
    qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
    double med = runs % 2 ? ms[runs / 2] : 0.5 * (ms[runs / 2 - 1] + ms[runs / 2]);
    free(ms);
    return med;
}

static void row(const char *graph, const plan_problem *p, const char *algo, algo_fn f, int runs)
{
    plan_result r;
    memset(&r, 0, sizeof r);
    r.on_edge = xrealloc(NULL, (size_t)p->n);
    double ms = time_algo(f, p, runs, &r);
    int on_edge = 0;
    for (int i = 0; i < p->n; i++)
        on_edge += r.on_edge[i];
    printf("%-5s %6d %6d  %-12s %9.3f  %15.1f  %5s  %7d\n", graph, p->n, p->cons_off[p->ntensors],
           algo, ms, r.total_us / 1e3, r.exact ? "yes" : "no", on_edge);
    free(r.on_edge);
}

/* The throughput methods (issue 9): median time, bottleneck, and the guarantee. */
static void trow(const char *graph, const plan_problem *p, plan_tput_algo a, int runs)
{
    plan_tput_result r;
    char err[256], guar[160];
    double *ms = xrealloc(NULL, sizeof(double) * (size_t)runs);
    memset(&r, 0, sizeof r);
    r.r.on_edge = xrealloc(NULL, (size_t)p->n);
    for (int i = 0; i < runs; i++) {
        double t0 = now_ms();
        if (plan_tput_run(a, p, NULL, &r, err, sizeof err) != CLEAVE_OK) {
            fprintf(stderr, "bench-partition: %s\n", err);
            exit(1);
        }
        ms[i] = now_ms() - t0;
    }
    qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
    double med = runs % 2 ? ms[runs / 2] : 0.5 * (ms[runs / 2 - 1] + ms[runs / 2]);
    plan_tput_guarantee(&r, guar, sizeof guar);
    printf("%-5s %6d %6d  %-7s %9.3f  %13.3f  %s\n", graph, p->n, p->cons_off[p->ntensors],
           plan_tput_algo_name(a), med, r.st.bottleneck_us / 1e3, guar);
    free(ms);
    free(r.r.on_edge);
}

int main(int argc, char **argv)
{
    int runs = 5;
    uint64_t seed = 1;
    static const struct option longopts[] = {
        {"runs", required_argument, NULL, 'r'}, {"seed", required_argument, NULL, 's'}, {0}};
    for (int c; (c = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
        if (c == 'r')
            runs = atoi(optarg);
        else if (c == 's')
            seed = strtoull(optarg, NULL, 10);
        else {
            fprintf(stderr, "usage: bench-partition [--runs R] [--seed S]\n");
            return 2;
        }
    }
    if (runs < 1) {
        fprintf(stderr, "bench-partition: --runs must be at least 1\n");
        return 2;
    }
    static const int sizes[] = {100, 1000, 10000};
    printf("graph  nodes  reads  algo         median ms  plan latency ms  exact  on edge\n");
    for (int i = 0; i < 3; i++) {
        struct gen g = {.rng = seed * 1000003u + (uint64_t)i};
        const plan_problem *p = gen_sp(&g, sizes[i]);
        row("sp", p, "dp", plan_dp, runs);
        row("sp", p, "mincut", plan_mincut, runs);
        row("sp", p, "neurosurgeon", plan_neurosurgeon, runs);
        gen_free(&g);
    }
    for (int i = 0; i < 3; i++) {
        struct gen g = {.rng = seed * 1000003u + 100u + (uint64_t)i};
        const plan_problem *p = gen_dag(&g, sizes[i]);
        row("dag", p, "mincut", plan_mincut, runs);
        row("dag", p, "dp", plan_dp, runs);
        gen_free(&g);
    }
    printf("\nthroughput objective\ngraph  nodes  reads  method  median ms  bottleneck ms  "
           "guarantee\n");
    for (int i = 0; i < 6; i++) {
        struct gen g = {.rng = seed * 1000003u + (i < 3 ? 0u : 100u) + (uint64_t)(i % 3)};
        const plan_problem *p = i < 3 ? gen_sp(&g, sizes[i]) : gen_dag(&g, sizes[i % 3]);
        trow(i < 3 ? "sp" : "dag", p, PLAN_TPUT_SPLIT, runs);
        trow(i < 3 ? "sp" : "dag", p, PLAN_TPUT_DSH, runs);
        if (sizes[i % 3] <= 100) /* larger graphs run out of its budget */
            trow(i < 3 ? "sp" : "dag", p, PLAN_TPUT_BNB, runs);
        gen_free(&g);
    }
    printf("reproduce: bench-partition --runs %d --seed %llu\n", runs, (unsigned long long)seed);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
