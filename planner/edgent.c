/*
** planner/edgent.c - Edgent's joint choice of early exit and partition under a latency
** requirement (see planner/edgent.h for the rule and the loading-cost argument).
*/
#include "planner/edgent.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void plan_edgent_opts_init(plan_edgent_opts *o)
{
    memset(o, 0, sizeof *o);
    o->algo = PLAN_ALGO_MINCUT;
}

double plan_node_weight_bytes(const plan_graph *g, int v)
{
    const plan_node *n = &g->nodes[v];
    double f[CLEAVE_FEAT_COUNT];
    if (n->flags & (PLAN_NODE_UNKNOWN | PLAN_NODE_ZERO_COST))
        return 0.0;
    cleave_layer_features(&n->layer, f);
    return f[CLEAVE_FEAT_W_BYTES];
}

void plan_edgent_destroy(plan_edgent *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->nexits; i++) {
        free(e->exits[i].nodes);
        free(e->exits[i].on_edge);
    }
    free(e->exits);
    free(e);
}

/* The nodes the results of exit X need (the ancestors of their producers, inclusive) into
** KEEP (nnodes bytes, zeroed by the caller); STACK is scratch of nnodes ints.  X == -1 means
** the whole graph.  Returns how many nodes were marked. */
static int mark_exit(const plan_graph *g, int x, const unsigned char *branch, unsigned char *keep,
                     int *stack)
{
    int top = 0, count = 0;
    if (x < 0 || g->exits[x].from < 0) {
        /* The main exit: the network outputs written by main-path nodes (all of them when the
        ** graph declares no exits). */
        for (int i = 0; i < g->noutputs; i++) {
            int p = g->tensors[g->outputs[i]].producer;
            if (p >= 0 && !branch[p] && !keep[p]) {
                keep[p] = 1;
                stack[top++] = p;
            }
        }
    } else {
        int p = g->tensors[g->exits[x].output].producer;
        keep[p] = 1;
        stack[top++] = p;
    }
    while (top > 0) {
        const plan_node *n = &g->nodes[stack[--top]];
        count++;
        for (int i = 0; i < n->ninputs; i++) {
            int p = g->tensors[n->inputs[i]].producer;
            if (p >= 0 && !keep[p]) {
                keep[p] = 1;
                stack[top++] = p;
            }
        }
    }
    return count;
}

cleave_status plan_edgent_create(plan_edgent **out, const plan_graph *g, char *err, size_t errlen)
{
    plan_edgent *e = NULL;
    unsigned char *branch = NULL, *keep = NULL;
    int *stack = NULL;
    cleave_status rc = CLEAVE_ENOMEM;

    *out = NULL;
    if (!g || !g->finished) {
        plan_errf(err, errlen, "graph is not finished");
        return CLEAVE_EINVAL;
    }
    int nx = g->nexits > 0 ? g->nexits : 1;
    size_t nn = (size_t)g->nnodes;
    if (!(e = calloc(1, sizeof *e)) || !(e->exits = calloc((size_t)nx, sizeof *e->exits)) ||
        !(branch = calloc(nn, 1)) || !(keep = malloc(nn)) || !(stack = malloc(sizeof *stack * nn)))
        goto done;
    e->nexits = nx;
    e->chosen = -1;
    for (int x = 0; x < g->nexits; x++)
        for (int i = 0; i < g->exits[x].nlayers; i++)
            branch[g->exits[x].layers[i]] = 1;
    for (int x = 0; x < nx; x++) {
        plan_edgent_exit *ex = &e->exits[x];
        memset(keep, 0, nn);
        ex->n = mark_exit(g, g->nexits > 0 ? x : -1, branch, keep, stack);
        ex->name = g->nexits > 0 ? g->exits[x].name : "main";
        ex->accuracy = g->nexits > 0 ? g->exits[x].accuracy : NAN;
        if (!(ex->nodes = malloc(sizeof *ex->nodes * (size_t)ex->n)) ||
            !(ex->on_edge = calloc((size_t)ex->n, 1)))
            goto done;
        for (int k = 0, j = 0; k < g->nnodes; k++)
            if (keep[g->order[k]])
                ex->nodes[j++] = g->order[k];
        ex->r.on_edge = ex->on_edge;
    }
    rc = CLEAVE_OK;
done:
    if (rc == CLEAVE_ENOMEM)
        plan_errf(err, errlen, "out of memory");
    free(branch);
    free(keep);
    free(stack);
    if (rc != CLEAVE_OK)
        plan_edgent_destroy(e);
    else
        *out = e;
    return rc;
}

int plan_edgent_choose(const double *accuracy, const double *total_us, int n, double deadline_us,
                       int *feasible)
{
    int best = -1, meets = 0;
    /* a beats b: -1 for NaN accuracies keeps a declared accuracy above an undeclared one */
    for (int i = 0; i < n; i++) {
        double ai = isnan(accuracy[i]) ? -1.0 : accuracy[i];
        int m = total_us[i] <= deadline_us;
        if (best < 0 || m > meets) {
            best = i;
            meets = m;
            continue;
        }
        if (m < meets)
            continue;
        double ab = isnan(accuracy[best]) ? -1.0 : accuracy[best];
        if (m ? (ai > ab || (ai == ab && total_us[i] < total_us[best]))
              : (total_us[i] < total_us[best] || (total_us[i] == total_us[best] && ai > ab)))
            best = i;
    }
    if (feasible)
        *feasible = best >= 0 && meets;
    return best;
}

/* The problem of exit EX carved out of the whole graph's problem FULL: its nodes renumbered in
** order, every tensor kept (those it does not touch have no kept producer and no kept consumer,
** so they cost nothing), consumers outside the exit dropped, and the exit's results as the only
** outputs.  Node times come from T_END / T_EDGE (problem numbering of FULL). */
typedef struct sub_problem {
    plan_problem p;
    double *t_end, *t_edge;
    int *producer, *cons_off, *cons;
    unsigned char *is_output;
} sub_problem;

static void sub_release(sub_problem *s)
{
    free(s->t_end);
    free(s->t_edge);
    free(s->producer);
    free(s->cons_off);
    free(s->cons);
    free(s->is_output);
    memset(s, 0, sizeof *s);
}

static cleave_status sub_build(sub_problem *s, const plan_problem_buf *full, const plan_graph *g,
                               const plan_exit *x, const plan_edgent_exit *ex, const double *t_end,
                               const double *t_edge, int *map)
{
    const plan_problem *fp = &full->p;
    int n = ex->n, nt = fp->ntensors;
    size_t ntz = (size_t)(nt ? nt : 1);
    memset(s, 0, sizeof *s);
    s->t_end = malloc(sizeof *s->t_end * (size_t)n);
    s->t_edge = malloc(sizeof *s->t_edge * (size_t)n);
    s->producer = malloc(sizeof *s->producer * ntz);
    s->cons_off = malloc(sizeof *s->cons_off * (ntz + 1));
    s->cons = malloc(sizeof *s->cons * (size_t)(fp->cons_off[nt] ? fp->cons_off[nt] : 1));
    s->is_output = calloc(ntz, 1);
    if (!s->t_end || !s->t_edge || !s->producer || !s->cons_off || !s->cons || !s->is_output) {
        sub_release(s);
        return CLEAVE_ENOMEM;
    }
    for (int i = 0; i < fp->n; i++)
        map[i] = -1;
    for (int j = 0; j < n; j++) {
        int i = g->rank_of[ex->nodes[j]];
        map[i] = j;
        s->t_end[j] = t_end[i];
        s->t_edge[j] = t_edge[i];
    }
    int off = 0;
    for (int t = 0; t < nt; t++) {
        s->producer[t] = fp->producer[t] < 0 ? -1 : map[fp->producer[t]];
        s->cons_off[t] = off;
        for (int k = fp->cons_off[t]; k < fp->cons_off[t + 1]; k++)
            if (map[fp->cons[k]] >= 0)
                s->cons[off++] = map[fp->cons[k]]; /* map keeps the order increasing */
        if (s->producer[t] >= 0 && fp->is_output[t])
            s->is_output[t] = x ? t == x->output : 1;
    }
    s->cons_off[nt] = off;
    /* The main exit's results are the network outputs its nodes write; those of a branch's
    ** main-path part are not results of the branch exit (x->output is). */
    s->p.n = n;
    s->p.t_end = s->t_end;
    s->p.t_edge = s->t_edge;
    s->p.ntensors = nt;
    s->p.producer = s->producer;
    s->p.up_us = fp->up_us;
    s->p.down_us = fp->down_us;
    s->p.cons_off = s->cons_off;
    s->p.cons = s->cons;
    s->p.is_output = s->is_output;
    return CLEAVE_OK;
}

/* Solve one exit: the best placement under the algorithm, then the loading costs (exact, see
** edgent.h).  W holds the exit's nodes' weight bytes (problem numbering of S). */
static cleave_status solve_exit(plan_edgent_exit *ex, sub_problem *s, const double *w,
                                const plan_edgent_opts *o, char *err, size_t errlen)
{
    cleave_status rc;
    int n = ex->n;
    ex->load_end_us = ex->load_edge_us = 0.0;
    if (!o->load_end)
        return plan_run(o->algo, &s->p, &ex->r, err, errlen);
    /* Per-byte parts go into the node times; the intercepts are decided afterwards. */
    double *orig_end = s->t_end, *orig_edge = s->t_edge;
    double *te = malloc(sizeof *te * (size_t)n), *tx = malloc(sizeof *tx * (size_t)n);
    unsigned char *all = malloc((size_t)n);
    if (!te || !tx || !all) {
        free(te);
        free(tx);
        free(all);
        plan_errf(err, errlen, "out of memory");
        return CLEAVE_ENOMEM;
    }
    for (int j = 0; j < n; j++) {
        te[j] = orig_end[j] + o->load_end->us_per_byte * w[j];
        tx[j] = orig_edge[j] + o->load_edge->us_per_byte * w[j];
    }
    s->p.t_end = te;
    s->p.t_edge = tx;
    rc = plan_run(o->algo, &s->p, &ex->r, err, errlen);
    if (rc == CLEAVE_OK) {
        int ends = 0, edges = 0;
        for (int j = 0; j < n; j++) {
            ends += !ex->on_edge[j];
            edges += ex->on_edge[j];
        }
        plan_result tmp;
        double best =
            ex->r.total_us + (ends ? o->load_end->a_us : 0.0) + (edges ? o->load_edge->a_us : 0.0);
        int pick = -1; /* -1: the algorithm's placement, 0: all on end, 1: all on edge */
        for (int side = 0; side < 2; side++) {
            memset(all, side, (size_t)n);
            tmp.on_edge = all;
            plan_evaluate(&s->p, all, &tmp);
            double c = tmp.total_us + (side ? o->load_edge->a_us : o->load_end->a_us);
            if (c < best) {
                best = c;
                pick = side;
            }
        }
        if (pick >= 0)
            memset(ex->on_edge, pick, (size_t)n);
    }
    s->p.t_end = orig_end;
    s->p.t_edge = orig_edge;
    free(te);
    free(tx);
    free(all);
    return rc;
}

cleave_status plan_edgent_solve(plan_edgent *e, const plan_graph *g, const double *end_us,
                                const double *edge_us, const plan_edgent_opts *o, char *err,
                                size_t errlen)
{
    plan_problem_buf full;
    sub_problem s;
    int *map = NULL;
    double *w = NULL, *acc = NULL, *tot = NULL;
    cleave_status rc;

    memset(&full, 0, sizeof full);
    memset(&s, 0, sizeof s);
    e->chosen = -1;
    e->feasible = 0;
    if (!(o->deadline_us > 0.0) || !isfinite(o->deadline_us)) {
        plan_errf(err, errlen, "deadline must be a positive number of ms, got %g",
                  o->deadline_us / 1e3);
        return CLEAVE_EINVAL;
    }
    if (!o->load_end != !o->load_edge) {
        plan_errf(err, errlen, "loading costs must be given for both sides");
        return CLEAVE_EINVAL;
    }
    for (int side = 0; o->load_end && side < 2; side++) {
        const plan_loading *l = side ? o->load_edge : o->load_end;
        if (!(l->a_us >= 0.0) || !(l->us_per_byte >= 0.0) || !isfinite(l->a_us) ||
            !isfinite(l->us_per_byte)) {
            plan_errf(err, errlen,
                      "loading cost must be >= 0 and finite on the %s device, got %g us + %g "
                      "us/byte",
                      side ? "edge" : "end", l->a_us, l->us_per_byte);
            return CLEAVE_EINVAL;
        }
    }
    if ((rc = plan_problem_build(&full, g, end_us, edge_us, o->up_mbps, o->down_mbps, o->rtt_ms,
                                 err, errlen)) != CLEAVE_OK)
        return rc;
    size_t nn = (size_t)(g->nnodes ? g->nnodes : 1), nx = (size_t)e->nexits;
    map = malloc(sizeof *map * nn);
    w = malloc(sizeof *w * nn);
    acc = malloc(sizeof *acc * nx);
    tot = malloc(sizeof *tot * nx);
    if (!map || !w || !acc || !tot) {
        rc = CLEAVE_ENOMEM;
        plan_errf(err, errlen, "out of memory");
        goto done;
    }
    for (int x = 0; x < e->nexits; x++) {
        plan_edgent_exit *ex = &e->exits[x];
        const plan_exit *gx = g->nexits > 0 ? &g->exits[x] : NULL;
        if ((rc = sub_build(&s, &full, g, gx && gx->from >= 0 ? gx : NULL, ex, full.t_end,
                            full.t_edge, map)) != CLEAVE_OK) {
            plan_errf(err, errlen, "out of memory");
            goto done;
        }
        for (int j = 0; j < ex->n; j++)
            w[j] = plan_node_weight_bytes(g, ex->nodes[j]);
        rc = solve_exit(ex, &s, w, o, err, errlen);
        if (rc == CLEAVE_OK) {
            /* The breakdown without the loading parts, then the loading charged. */
            plan_evaluate(&s.p, ex->on_edge, &ex->r);
            if (o->load_end) {
                double wend = 0.0, wedge = 0.0;
                int ends = 0, edges = 0;
                for (int j = 0; j < ex->n; j++) {
                    if (ex->on_edge[j]) {
                        wedge += w[j];
                        edges++;
                    } else {
                        wend += w[j];
                        ends++;
                    }
                }
                ex->load_end_us = ends ? o->load_end->a_us + o->load_end->us_per_byte * wend : 0;
                ex->load_edge_us =
                    edges ? o->load_edge->a_us + o->load_edge->us_per_byte * wedge : 0;
                ex->r.total_us += ex->load_end_us + ex->load_edge_us;
            }
        }
        sub_release(&s);
        if (rc != CLEAVE_OK)
            goto done;
        ex->meets = ex->r.total_us <= o->deadline_us;
        acc[x] = ex->accuracy;
        tot[x] = ex->r.total_us;
    }
    e->chosen = plan_edgent_choose(acc, tot, e->nexits, o->deadline_us, &e->feasible);
done:
    plan_problem_buf_release(&full);
    free(map);
    free(w);
    free(acc);
    free(tot);
    return rc;
}
