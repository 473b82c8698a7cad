/*
** planner/partition.c - the simple partition algorithms (local, edge, Neurosurgeon's single
** split, brute force), the single-split sweep Couper shares, and the algorithm table.
*/
#include "planner/partition.h"

#include <stdlib.h>
#include <string.h>

static const char *const algo_names[PLAN_ALGO_COUNT] = {
    "local", "edge", "neurosurgeon", "couper", "dp", "mincut", "brute",
};

const char *plan_algo_name(plan_algo a)
{
    return (unsigned)a < PLAN_ALGO_COUNT ? algo_names[a] : "?";
}

int plan_algo_parse(const char *name, plan_algo *out)
{
    for (int a = 0; name && a < PLAN_ALGO_COUNT; a++) {
        if (strcmp(name, algo_names[a]) == 0) {
            *out = (plan_algo)a;
            return 0;
        }
    }
    return -1;
}

cleave_status plan_check_call(const plan_problem *p, const plan_result *out, char *err,
                              size_t errlen)
{
    cleave_status st = plan_problem_check(p, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    if (!out || !out->on_edge) {
        plan_errf(err, errlen, "no placement array given for the result");
        return CLEAVE_EINVAL;
    }
    return CLEAVE_OK;
}

void plan_apply_split(const plan_problem *p, int k, plan_result *out)
{
    for (int i = 0; i < p->n; i++)
        out->on_edge[i] = i >= k;
    plan_evaluate(p, out->on_edge, out);
}

cleave_status plan_local(const plan_problem *p, plan_result *out, char *err, size_t errlen)
{
    cleave_status st = plan_check_call(p, out, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    plan_result_reset(out);
    plan_apply_split(p, p->n, out);
    out->evaluated = 1;
    return CLEAVE_OK;
}

cleave_status plan_edge(const plan_problem *p, plan_result *out, char *err, size_t errlen)
{
    cleave_status st = plan_check_call(p, out, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    plan_result_reset(out);
    plan_apply_split(p, 0, out);
    out->evaluated = 1;
    return CLEAVE_OK;
}

void plan_split_release(plan_split *s)
{
    free(s->total_us);
    free(s->prefix_end_us);
    free(s->ncross);
    free(s->cross_tensor);
    memset(s, 0, sizeof *s);
}

/* Every single split at once.  For split k (nodes [0, k) on the end device):
**   total(k) = sum_{i<k} t_end(i) + sum_{i>=k} t_edge(i) + up(k) + down(k).
** A tensor with producer p (-1 for a network input) and last consumer c is uploaded exactly for
** p < k <= c, i.e. k in [p + 1, c]; a network output produced by p >= 0 is downloaded exactly
** for k <= p; no other crossing exists, since a consumer never precedes its producer.  Each
** tensor therefore adds its time on an interval of k, which difference arrays turn into one
** prefix sum.  The identity of the crossing tensor when only one crosses comes from the same
** trick on integer sums of (t + 1), which are exact. */
cleave_status plan_split_sweep(const plan_problem *p, plan_split *s, char *err, size_t errlen)
{
    int n = p->n;
    cleave_status st = CLEAVE_ENOMEM;
    double *dup = NULL, *ddown = NULL;
    int64_t *did = NULL;
    memset(s, 0, sizeof *s);
    s->total_us = malloc(sizeof(double) * (size_t)(n + 1));
    s->prefix_end_us = malloc(sizeof(double) * (size_t)(n + 1));
    s->ncross = calloc((size_t)n + 2, sizeof(int));
    s->cross_tensor = malloc(sizeof(int) * (size_t)(n + 1));
    dup = calloc((size_t)n + 2, sizeof(double));
    ddown = calloc((size_t)n + 2, sizeof(double));
    did = calloc((size_t)n + 2, sizeof(int64_t));
    if (!s->total_us || !s->prefix_end_us || !s->ncross || !s->cross_tensor || !dup || !ddown ||
        !did) {
        plan_errf(err, errlen, "cannot sweep %d split points: out of memory", n + 1);
        goto done;
    }
    for (int t = 0; t < p->ntensors; t++) {
        int prod = p->producer[t], last = -1;
        for (int j = p->cons_off[t]; j < p->cons_off[t + 1]; j++)
            if (p->cons[j] > last)
                last = p->cons[j];
        if (last >= 0) { /* uploaded for k in [prod + 1, last] */
            dup[prod + 1] += p->up_us[t];
            dup[last + 1] -= p->up_us[t];
            s->ncross[prod + 1]++;
            s->ncross[last + 1]--;
            did[prod + 1] += t + 1;
            did[last + 1] -= t + 1;
        }
        if (prod >= 0 && p->is_output && p->is_output[t]) { /* downloaded for k in [0, prod] */
            ddown[0] += p->down_us[t];
            ddown[prod + 1] -= p->down_us[t];
        }
    }
    double edge_total = 0.0;
    for (int i = 0; i < n; i++)
        edge_total += p->t_edge[i];
    double pre = 0.0, edge_done = 0.0, up = 0.0, down = 0.0;
    int cross = 0;
    int64_t id = 0;
    for (int k = 0; k <= n; k++) {
        up += dup[k];
        down += ddown[k];
        cross += s->ncross[k];
        id += did[k];
        s->ncross[k] = cross;
        s->cross_tensor[k] = cross == 1 ? (int)(id - 1) : -1;
        s->prefix_end_us[k] = pre;
        /* suffix edge time as total minus done, clamped: rounding must not make it negative */
        double suffix = edge_total - edge_done;
        if (k == n || suffix < 0.0)
            suffix = 0.0;
        s->total_us[k] = pre + suffix + (up > 0.0 ? up : 0.0) + (down > 0.0 ? down : 0.0);
        if (k < n) {
            pre += p->t_end[k];
            edge_done += p->t_edge[k];
        }
    }
    st = CLEAVE_OK;
done:
    free(dup);
    free(ddown);
    free(did);
    if (st != CLEAVE_OK)
        plan_split_release(s);
    return st;
}

/* See partition.h.  The sweep ranks the splits; the winner's breakdown is then recomputed by
** plan_evaluate() so that every algorithm reports figures from the same arithmetic. */
cleave_status plan_neurosurgeon(const plan_problem *p, plan_result *out, char *err, size_t errlen)
{
    plan_split s;
    cleave_status st = plan_check_call(p, out, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    st = plan_split_sweep(p, &s, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    int best = 0;
    for (int k = 1; k <= p->n; k++)
        if (s.total_us[k] < s.total_us[best])
            best = k;
    plan_split_release(&s);
    plan_result_reset(out);
    plan_apply_split(p, best, out);
    out->evaluated = (int64_t)p->n + 1;
    plan_errf(out->note, sizeof out->note, "best of %d single splits: %d of %d nodes on the edge",
              p->n + 1, p->n - best, p->n);
    return CLEAVE_OK;
}

/* ---- brute force -------------------------------------------------------------------------- */

/* Per-tensor state of the Gray-code walk: how many consumer entries run on the edge. */
struct brute {
    const plan_problem *p;
    unsigned char *x;
    int *cnt_edge;        /* per tensor */
    int *ncons;           /* per tensor: consumer entries */
    int *prod_off, *prod; /* tensors produced by node i: prod[prod_off[i] .. prod_off[i+1]) */
    int *in_off, *in;     /* tensors consumed by node i, one entry per consumer entry */
};

/* The transfer time tensor T costs in the current state (problem.h's model, as plan_evaluate). */
static double tensor_cost(const struct brute *b, int t)
{
    const plan_problem *p = b->p;
    int side = p->producer[t] < 0 ? 0 : b->x[p->producer[t]];
    if (!side)
        return b->cnt_edge[t] > 0 ? p->up_us[t] : 0.0;
    int needed = b->ncons[t] - b->cnt_edge[t] > 0 || (p->is_output && p->is_output[t]);
    return needed ? p->down_us[t] : 0.0;
}

/* The latency of the current state from scratch: the walk resynchronises its running sum with
** this every BRUTE_RESYNC steps so that rounding cannot build up over 2^24 updates. */
static double brute_total(const struct brute *b)
{
    const plan_problem *p = b->p;
    double tot = 0.0;
    for (int i = 0; i < p->n; i++)
        tot += b->x[i] ? p->t_edge[i] : p->t_end[i];
    for (int t = 0; t < p->ntensors; t++)
        tot += tensor_cost(b, t);
    return tot;
}

#define BRUTE_RESYNC 1024

/* See partition.h.  The walk visits the placements in reflected Gray-code order, so step g flips
** exactly one node, v = ctz(g); only v's compute time and the tensors v produces or consumes
** change cost, which makes a step O(degree of v) instead of O(n + tensors). */
cleave_status plan_brute(const plan_problem *p, plan_result *out, char *err, size_t errlen)
{
    cleave_status st = plan_check_call(p, out, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    if (p->n > PLAN_BRUTE_MAX_NODES) {
        plan_errf(err, errlen, "brute force is limited to %d nodes, got %d", PLAN_BRUTE_MAX_NODES,
                  p->n);
        return CLEAVE_EINVAL;
    }
    int n = p->n, nt = p->ntensors;
    int ncons_total = p->cons_off[nt];
    struct brute b = {.p = p};
    uint32_t best_mask = 0;
    st = CLEAVE_ENOMEM;
    b.x = calloc((size_t)n, 1);
    b.cnt_edge = calloc((size_t)nt + 1, sizeof(int));
    b.ncons = calloc((size_t)nt + 1, sizeof(int));
    b.prod_off = calloc((size_t)n + 1, sizeof(int));
    b.prod = malloc(sizeof(int) * ((size_t)nt + 1));
    b.in_off = calloc((size_t)n + 1, sizeof(int));
    b.in = malloc(sizeof(int) * ((size_t)ncons_total + 1));
    if (!b.x || !b.cnt_edge || !b.ncons || !b.prod_off || !b.prod || !b.in_off || !b.in) {
        plan_errf(err, errlen, "cannot enumerate placements: out of memory");
        goto done;
    }
    /* CSR lists by counting then placing (the offsets end up shifted by one slot, then fixed) */
    for (int t = 0; t < nt; t++) {
        b.ncons[t] = p->cons_off[t + 1] - p->cons_off[t];
        if (p->producer[t] >= 0)
            b.prod_off[p->producer[t]]++;
        for (int j = p->cons_off[t]; j < p->cons_off[t + 1]; j++)
            b.in_off[p->cons[j]]++;
    }
    for (int i = 0, a = 0, c = 0; i <= n; i++) {
        int na = i < n ? b.prod_off[i] : 0, nc = i < n ? b.in_off[i] : 0;
        b.prod_off[i] = a;
        b.in_off[i] = c;
        a += na;
        c += nc;
    }
    for (int t = 0; t < nt; t++) {
        if (p->producer[t] >= 0)
            b.prod[b.prod_off[p->producer[t]]++] = t;
        for (int j = p->cons_off[t]; j < p->cons_off[t + 1]; j++)
            b.in[b.in_off[p->cons[j]]++] = t;
    }
    for (int i = n; i > 0; i--) { /* each offset was advanced to the next one's start */
        b.prod_off[i] = b.prod_off[i - 1];
        b.in_off[i] = b.in_off[i - 1];
    }
    b.prod_off[0] = b.in_off[0] = 0;

    double cur = brute_total(&b), best = cur;
    uint32_t mask = 0, steps = (uint32_t)1 << n;
    for (uint32_t g = 1; g < steps; g++) {
        int v = __builtin_ctz(g);
        for (int j = b.prod_off[v]; j < b.prod_off[v + 1]; j++)
            cur -= tensor_cost(&b, b.prod[j]);
        cur -= b.x[v] ? p->t_edge[v] : p->t_end[v];
        b.x[v] ^= 1;
        mask ^= (uint32_t)1 << v;
        cur += b.x[v] ? p->t_edge[v] : p->t_end[v];
        for (int j = b.prod_off[v]; j < b.prod_off[v + 1]; j++)
            cur += tensor_cost(&b, b.prod[j]);
        for (int j = b.in_off[v]; j < b.in_off[v + 1]; j++) {
            int t = b.in[j];
            double old = tensor_cost(&b, t);
            b.cnt_edge[t] += b.x[v] ? 1 : -1;
            cur += tensor_cost(&b, t) - old;
        }
        if (g % BRUTE_RESYNC == 0)
            cur = brute_total(&b);
        if (cur < best) {
            best = cur;
            best_mask = mask;
        }
    }
    plan_result_reset(out);
    for (int i = 0; i < n; i++)
        out->on_edge[i] = (best_mask >> i) & 1u;
    plan_evaluate(p, out->on_edge, out);
    out->evaluated = (int64_t)steps;
    out->exact = 1;
    st = CLEAVE_OK;
done:
    free(b.x);
    free(b.cnt_edge);
    free(b.ncons);
    free(b.prod_off);
    free(b.prod);
    free(b.in_off);
    free(b.in);
    return st;
}

/* ---- the table ---------------------------------------------------------------------------- */

cleave_status plan_run(plan_algo a, const plan_problem *p, plan_result *out, char *err,
                       size_t errlen)
{
    switch (a) {
    case PLAN_ALGO_LOCAL: return plan_local(p, out, err, errlen);
    case PLAN_ALGO_EDGE: return plan_edge(p, out, err, errlen);
    case PLAN_ALGO_NEUROSURGEON: return plan_neurosurgeon(p, out, err, errlen);
    case PLAN_ALGO_COUPER: return plan_couper(p, NULL, out, err, errlen);
    case PLAN_ALGO_DP: return plan_dp(p, out, err, errlen);
    case PLAN_ALGO_MINCUT: return plan_mincut(p, out, err, errlen);
    case PLAN_ALGO_BRUTE: return plan_brute(p, out, err, errlen);
    default: break;
    }
    plan_errf(err, errlen, "unknown partition algorithm %d", (int)a);
    return CLEAVE_EINVAL;
}
