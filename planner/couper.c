/*
** planner/couper.c - Couper's slicing candidates and its four evaluation methods (Hsu,
** Bhardwaj, Gavrilovska, "Couper: DNN model slicing for video analytics containers at the
** edge", SEC 2019; seed 000).
*/
#include "planner/partition.h"

#include <stdlib.h>
#include <string.h>

static const char *const method_names[PLAN_COUPER_METHOD_COUNT] = {
    "strongman",
    "comm-slim",
    "early-stop",
    "hybrid",
};

const char *plan_couper_method_name(plan_couper_method m)
{
    return (unsigned)m < PLAN_COUPER_METHOD_COUNT ? method_names[m] : "?";
}

int plan_couper_method_parse(const char *name, plan_couper_method *out)
{
    for (int m = 0; name && m < PLAN_COUPER_METHOD_COUNT; m++) {
        if (strcmp(name, method_names[m]) == 0) {
            *out = (plan_couper_method)m;
            return 0;
        }
    }
    return -1;
}

/* CONST[i] = 1 when node i is a constant/read op (partition.h's rule): marked by the caller,
** or every tensor it consumes comes from such an op.  One pass in topological order, since a
** node's producers come first.  A network input (producer -1) makes a node data-dependent. */
static cleave_status constant_ops(const plan_problem *p, const unsigned char *marks,
                                  unsigned char *cst)
{
    int nin = p->cons_off[p->ntensors];
    int *off = calloc((size_t)p->n + 1, sizeof(int));
    int *lst = malloc(sizeof(int) * ((size_t)nin + 1));
    if (!off || !lst) {
        free(off);
        free(lst);
        return CLEAVE_ENOMEM;
    }
    for (int j = 0; j < nin; j++)
        off[p->cons[j] + 1]++;
    for (int i = 0; i < p->n; i++)
        off[i + 1] += off[i];
    for (int t = 0; t < p->ntensors; t++)
        for (int j = p->cons_off[t]; j < p->cons_off[t + 1]; j++)
            lst[off[p->cons[j]]++] = t;
    for (int i = p->n; i > 0; i--)
        off[i] = off[i - 1];
    off[0] = 0;
    for (int i = 0; i < p->n; i++) {
        int c = marks && marks[i];
        if (!c) {
            c = 1;
            for (int j = off[i]; j < off[i + 1] && c; j++) {
                int prod = p->producer[lst[j]];
                c = prod >= 0 && cst[prod];
            }
        }
        cst[i] = (unsigned char)c;
    }
    free(off);
    free(lst);
    return CLEAVE_OK;
}

/* The candidate filter of partition.h, given the single-split sweep S. */
static cleave_status candidates(const plan_problem *p, const unsigned char *marks,
                                const plan_split *s, int *k, int *count)
{
    unsigned char *cst = malloc((size_t)p->n);
    if (!cst)
        return CLEAVE_ENOMEM;
    cleave_status st = constant_ops(p, marks, cst);
    if (st == CLEAVE_OK) {
        int m = 0;
        for (int pos = 1; pos < p->n; pos++)
            if (s->ncross[pos] == 1 && !cst[pos - 1])
                k[m++] = pos;
        *count = m;
    }
    free(cst);
    return st;
}

cleave_status plan_couper_candidates(const plan_problem *p, const unsigned char *is_constant,
                                     int *k, int *count, char *err, size_t errlen)
{
    plan_split s;
    cleave_status st = plan_problem_check(p, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    if (!k || !count) {
        plan_errf(err, errlen, "no room given for the candidates");
        return CLEAVE_EINVAL;
    }
    st = plan_split_sweep(p, &s, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    st = candidates(p, is_constant, &s, k, count);
    if (st != CLEAVE_OK)
        plan_errf(err, errlen, "cannot list slicing candidates: out of memory");
    plan_split_release(&s);
    return st;
}

/* See partition.h.  Why early-stop is safe: a split's latency is at least its end-device prefix
** (every term is >= 0) and prefixes grow with k, so once prefix(k) exceeds the best total no
** later candidate can beat it.  Why comm-slim is a heuristic: against the baseline (everything
** on the edge, which uploads the inputs), a split k with upload u_k costs
**   prefix_end(k) - edge time of [0, k) + u_k - u_input + (downloads of outputs before k)
** more; with a faster edge on every node and all outputs at the last node each term but the
** upload difference is >= 0, so u_k > u_input means no gain; otherwise it can win and be
** skipped. */
cleave_status plan_couper(const plan_problem *p, const plan_couper_opts *opts, plan_result *out,
                          char *err, size_t errlen)
{
    plan_split s;
    int *cand = NULL;
    plan_couper_method method = opts ? opts->method : PLAN_COUPER_HYBRID;
    const unsigned char *marks = opts ? opts->is_constant : NULL;
    cleave_status st = plan_check_call(p, out, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    if ((unsigned)method >= PLAN_COUPER_METHOD_COUNT) {
        plan_errf(err, errlen, "unknown couper method %d", (int)method);
        return CLEAVE_EINVAL;
    }
    st = plan_split_sweep(p, &s, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    cand = malloc(sizeof(int) * (size_t)p->n);
    int ncand = 0;
    if (!cand || candidates(p, marks, &s, cand, &ncand) != CLEAVE_OK) {
        st = CLEAVE_ENOMEM;
        plan_errf(err, errlen, "cannot list slicing candidates: out of memory");
        goto done;
    }
    int slim = method == PLAN_COUPER_COMM_SLIM || method == PLAN_COUPER_HYBRID;
    int early = method == PLAN_COUPER_EARLY_STOP || method == PLAN_COUPER_HYBRID;
    double input_up_us = 0.0; /* what the baseline uploads: every consumed network input */
    for (int t = 0; t < p->ntensors; t++)
        if (p->producer[t] < 0 && p->cons_off[t + 1] > p->cons_off[t])
            input_up_us += p->up_us[t];
    int best = 0, skipped = 0, stopped = 0;
    int64_t evaluated = 1;
    for (int c = 0; c < ncand; c++) {
        int k = cand[c];
        if (early && s.prefix_end_us[k] > s.total_us[best]) {
            stopped = ncand - c;
            break;
        }
        if (slim && p->up_us[s.cross_tensor[k]] > input_up_us) {
            skipped++;
            continue;
        }
        evaluated++;
        if (s.total_us[k] < s.total_us[best])
            best = k;
    }
    plan_result_reset(out);
    plan_apply_split(p, best, out);
    out->evaluated = evaluated;
    plan_errf(out->note, sizeof out->note,
              "%s: %lld of %d positions evaluated (baseline included), %d skipped, %d not "
              "reached; %d of %d nodes on the edge",
              method_names[method], (long long)evaluated, ncand + 1, skipped, stopped, p->n - best,
              p->n);
    st = CLEAVE_OK;
done:
    free(cand);
    plan_split_release(&s);
    return st;
}
