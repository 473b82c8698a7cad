/*
** planner/dp.c - the seed-002 dynamic program: the chain recurrence, and its generalisation to
** branchy graphs by reducing series and parallel structure to virtual nodes with one cost per
** placement of their two terminals.
**
** Chain (seed 002, "DNN partition algorithms (3/7)", equations 3.4 and 3.5; nodes 0..n-1 in
** topological order, T_u(i) / T_d(i) the time to send node i's output up / down):
**   OPT_end(i)  = T_end(i)  + min(OPT_end(i-1),  OPT_edge(i-1) + T_d(i-1))
**   OPT_edge(i) = T_edge(i) + min(OPT_edge(i-1), OPT_end(i-1)  + T_u(i-1))
** with OPT_end(0) = T_end(0), OPT_edge(0) = T_edge(0) + (upload of the network input), and the
** answer min(OPT_end(n-1), OPT_edge(n-1) + download of the result).  The optimal substructure
** is the seed's cut-and-paste argument: given node i's side, the best placement of 0..i-1 does
** not depend on anything after i.
**
** Branches (seed 002, "(4/7)" to "(7/7)"): a branch structure between a source S' and a sink T'
** is replaced by a virtual node with four costs T_mm, T_me, T_em, T_ee, the best latency of the
** structure for each placement (end "m" / edge "e") of S' and T'; the chain recurrence then runs
** over virtual nodes.  Done recursively this is the classical series-parallel reduction (Duffin,
** "Topology of series-parallel networks", 1965): a node with two neighbours is removed and its
** two cost tables combined into one between the neighbours ("series", the recurrence above in
** matrix form: C(a, b) = min_v [ E1(a, v) + w(v) + E2(v, b) ]), and two tables between the same
** two nodes are added ("parallel": the branches of an inception block, a residual shortcut).
** We also remove nodes with one neighbour (a dangling constant or side output: its best cost
** given the neighbour's side becomes part of the neighbour's own cost) and nodes with none.
** Each removal is exact, and recording the minimising state makes the placement recoverable
** backwards (Bertele & Brioschi, "Nonserial dynamic programming", 1972).  A graph is reduced
** completely exactly when it has treewidth <= 2, which contains every two-terminal
** series-parallel DAG (CNN inception and residual blocks, nested), so dp is exact there.
**
** What the seed's four costs miss: a tensor consumed by several nodes (the fork of a branch
** structure) is sent once, however many branches run on the other side.  That cost is not a
** sum over producer-consumer pairs, so a node whose tensor has several distinct consumers
** carries one "sent" flag per such tensor in its state: state = side | flags << 1, the unary
** cost of a set flag is the tensor's transfer time in the direction away from the node's side,
** and each pair (producer, consumer) only forbids (infinite cost) a consumer on the other side
** while the flag is clear.  Minimising over the flags gives exactly problem.h's cost, and the
** graph stays the original one, so series-parallel structure is preserved.  A tensor with one
** consumer needs no flag: its time is a plain pair cost.  Network inputs belong to a source
** vertex pinned to the end device; a network output produced on the edge must have its flag
** set (or, with at most one consumer, pays its download as a unary cost).  For the common case
** of one output tensor per node, states are (side, sent) and the tables are 4 x 4, whose
** flag-free corner is the seed's T_mm, T_me, T_em, T_ee.
**
** When the graph does not reduce (e.g. DenseNet's dense blocks), the remaining node of least
** degree loses all but its two most costly tables and the reduction continues: the result is a
** placement for a relaxed problem, evaluated under the true model and compared with the best
** single split; exact = 0 and the note says the graph is not series-parallel.
*/
#include "planner/partition.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DP_MAX_FLAGS 6 /* sent flags per vertex: at most 2 << 6 = 128 states */

/* ---- the chain recurrence ----------------------------------------------------------------- */

/* When P is a chain (every tensor that is consumed goes from node i to node i + 1 only, network
** inputs to node 0 only; outputs come from node n - 1 or are network inputs), fill the transfer
** times between consecutive nodes and return 1; else 0.  TU and TD have n entries. */
static int chain_costs(const plan_problem *p, double *tu, double *td, double *u_in, double *d_out)
{
    int n = p->n;
    for (int i = 0; i < n; i++)
        tu[i] = td[i] = 0.0;
    *u_in = *d_out = 0.0;
    for (int t = 0; t < p->ntensors; t++) {
        int prod = p->producer[t], lo = p->cons_off[t], hi = p->cons_off[t + 1];
        int out = p->is_output && p->is_output[t] && prod >= 0;
        if (lo == hi) {
            if (out && prod != n - 1)
                return 0;
            if (out)
                *d_out += p->down_us[t];
            continue;
        }
        for (int j = lo; j < hi; j++)
            if (p->cons[j] != prod + 1)
                return 0;
        if (out)
            return 0;
        if (prod < 0) {
            *u_in += p->up_us[t];
        } else {
            tu[prod] += p->up_us[t];
            td[prod] += p->down_us[t];
        }
    }
    return 1;
}

/* Seed 002's recurrence (3.4, 3.5) over the chain, then backwards through the recorded choices.
** FROM[2 i + x] is the side of node i - 1 on the best path that puts node i on side x. */
static cleave_status dp_chain(const plan_problem *p, const double *tu, const double *td,
                              double u_in, double d_out, plan_result *out, char *err, size_t errlen)
{
    int n = p->n;
    unsigned char *from = malloc((size_t)2 * (size_t)n);
    if (!from) {
        plan_errf(err, errlen, "cannot run the chain dp over %d nodes: out of memory", n);
        return CLEAVE_ENOMEM;
    }
    double opt_end = p->t_end[0], opt_edge = p->t_edge[0] + u_in;
    for (int i = 1; i < n; i++) {
        double stay_end = opt_end, come_down = opt_edge + td[i - 1];
        double stay_edge = opt_edge, come_up = opt_end + tu[i - 1];
        from[2 * i] = come_down < stay_end;
        from[2 * i + 1] = !(come_up < stay_edge);
        double e = p->t_end[i] + (come_down < stay_end ? come_down : stay_end);
        double g = p->t_edge[i] + (come_up < stay_edge ? come_up : stay_edge);
        opt_end = e;
        opt_edge = g;
    }
    int x = opt_edge + d_out < opt_end;
    for (int i = n - 1; i >= 0; i--) {
        out->on_edge[i] = (unsigned char)x;
        if (i > 0)
            x = from[2 * i + x];
    }
    free(from);
    plan_evaluate(p, out->on_edge, out);
    out->evaluated = 2 * (int64_t)n;
    out->exact = 1;
    plan_errf(out->note, sizeof out->note, "chain of %d nodes: seed-002 recurrence", n);
    return CLEAVE_OK;
}

/* ---- reduction of branchy graphs ----------------------------------------------------------- */

struct dp_edge {
    int a, b;    /* endpoints; the table's rows are a's states */
    double *tab; /* dom[a] x dom[b], NULL once removed */
};

struct dp_rec {
    int v, a, b; /* eliminated vertex and its neighbours then (-1 when absent) */
    int *arg;    /* best state of v per state of a (x state of b) */
};

struct dp {
    const plan_problem *p;
    int nv; /* nodes 0..n-1 and the source vertex n holding the network inputs */
    int *dom;
    double **unary;
    int **adj, *nadj, *cap; /* live edge ids per vertex */
    struct dp_edge *e;
    int ne, ecap;
    unsigned char *gone;
    struct dp_rec *rec;
    int nrec;
    int *work, nwork, wcap;
    double *s1, *s2; /* scratch tables, maxdom^2 each */
    int maxdom;
    double constant;
    int64_t compared;
    int dropped; /* edges dropped by the relaxation */
    int cursor;  /* no vertex before it remains (relax() starts its search there) */
};

/* The entry of edge E for states SU of U and SW of W (E joins U and W in either order). */
static double edge_at(const struct dp *d, const struct dp_edge *e, int u, int su, int sw)
{
    if (e->a == u)
        return e->tab[su * d->dom[e->b] + sw];
    return e->tab[sw * d->dom[e->b] + su];
}

static double *edge_ref(const struct dp *d, struct dp_edge *e, int u, int su, int sw)
{
    if (e->a == u)
        return &e->tab[su * d->dom[e->b] + sw];
    return &e->tab[sw * d->dom[e->b] + su];
}

static int other_end(const struct dp_edge *e, int u)
{
    return e->a == u ? e->b : e->a;
}

static int adj_push(struct dp *d, int u, int eid)
{
    if (d->nadj[u] == d->cap[u]) {
        int nc = d->cap[u] ? 2 * d->cap[u] : 4;
        int *na = realloc(d->adj[u], sizeof(int) * (size_t)nc);
        if (!na)
            return -1;
        d->adj[u] = na;
        d->cap[u] = nc;
    }
    d->adj[u][d->nadj[u]++] = eid;
    return 0;
}

static void adj_remove(struct dp *d, int u, int eid)
{
    for (int j = 0; j < d->nadj[u]; j++) {
        if (d->adj[u][j] == eid) {
            d->adj[u][j] = d->adj[u][--d->nadj[u]];
            return;
        }
    }
}

/* The edge between A and B, created with an all-zero table when there is none; -1 when out of
** memory.  Finding it scans A's list: degrees are small in DNN graphs. */
static int edge_get(struct dp *d, int a, int b)
{
    for (int j = 0; j < d->nadj[a]; j++)
        if (other_end(&d->e[d->adj[a][j]], a) == b)
            return d->adj[a][j];
    if (d->ne == d->ecap) {
        int nc = d->ecap ? 2 * d->ecap : 64;
        struct dp_edge *ne = realloc(d->e, sizeof *ne * (size_t)nc);
        if (!ne)
            return -1;
        d->e = ne;
        d->ecap = nc;
    }
    double *tab = calloc((size_t)d->dom[a] * (size_t)d->dom[b], sizeof(double));
    if (!tab)
        return -1;
    int id = d->ne;
    d->e[id] = (struct dp_edge){a, b, tab};
    if (adj_push(d, a, id) || adj_push(d, b, id)) {
        adj_remove(d, a, id);
        free(tab);
        d->e[id].tab = NULL;
        return -1;
    }
    d->ne++;
    return id;
}

static void edge_drop(struct dp *d, int id)
{
    struct dp_edge *e = &d->e[id];
    adj_remove(d, e->a, id);
    adj_remove(d, e->b, id);
    free(e->tab);
    e->tab = NULL;
}

static int work_push(struct dp *d, int v)
{
    if (d->nwork == d->wcap) {
        int nc = d->wcap ? 2 * d->wcap : 64;
        int *nw = realloc(d->work, sizeof(int) * (size_t)nc);
        if (!nw)
            return -1;
        d->work = nw;
        d->wcap = nc;
    }
    d->work[d->nwork++] = v;
    return 0;
}

static void dp_release(struct dp *d)
{
    for (int v = 0; d->unary && v < d->nv; v++)
        free(d->unary[v]);
    for (int v = 0; d->adj && v < d->nv; v++)
        free(d->adj[v]);
    for (int i = 0; d->e && i < d->ne; i++)
        free(d->e[i].tab);
    for (int i = 0; d->rec && i < d->nrec; i++)
        free(d->rec[i].arg);
    free(d->dom);
    free(d->unary);
    free(d->adj);
    free(d->nadj);
    free(d->cap);
    free(d->e);
    free(d->gone);
    free(d->rec);
    free(d->work);
    free(d->s1);
    free(d->s2);
}

/* Build the vertices, their state costs and the pair tables from P (see the file comment).
** Returns CLEAVE_OK, CLEAVE_ENOMEM, or CLEAVE_EUNSUPPORTED with *BIG_V set when a vertex would
** need more than DP_MAX_FLAGS sent flags. */
static cleave_status dp_build(struct dp *d, const plan_problem *p, int *big_v, int *big_flags)
{
    int n = p->n, nt = p->ntensors, src = n;
    cleave_status st = CLEAVE_ENOMEM;
    int *flags = NULL, *bit = NULL, *stamp = NULL, *uniq = NULL, *nuniq = NULL;
    d->p = p;
    d->nv = n + 1;
    d->dom = calloc((size_t)d->nv, sizeof(int));
    d->unary = calloc((size_t)d->nv, sizeof(double *));
    d->adj = calloc((size_t)d->nv, sizeof(int *));
    d->nadj = calloc((size_t)d->nv, sizeof(int));
    d->cap = calloc((size_t)d->nv, sizeof(int));
    d->gone = calloc((size_t)d->nv, 1);
    d->rec = calloc((size_t)d->nv, sizeof *d->rec);
    flags = calloc((size_t)d->nv, sizeof(int));
    bit = malloc(sizeof(int) * ((size_t)nt + 1));
    stamp = malloc(sizeof(int) * (size_t)n);
    uniq = malloc(sizeof(int) * ((size_t)p->cons_off[nt] + 1));
    nuniq = malloc(sizeof(int) * ((size_t)nt + 1));
    if (!d->dom || !d->unary || !d->adj || !d->nadj || !d->cap || !d->gone || !d->rec || !flags ||
        !bit || !stamp || !uniq || !nuniq)
        goto done;
    for (int i = 0; i < n; i++)
        stamp[i] = -1;
    /* distinct consumers per tensor (a node may read the same tensor twice), NUNIQ[t] of them
    ** kept in UNIQ from the tensor's own offset (a stamp per node, never reset because tensors
    ** come in increasing order); BIT[t] = its flag index at the producer, -1 without a flag */
    for (int t = 0; t < nt; t++) {
        int m = 0;
        for (int j = p->cons_off[t]; j < p->cons_off[t + 1]; j++) {
            int c = p->cons[j];
            if (stamp[c] != t) {
                stamp[c] = t;
                uniq[p->cons_off[t] + m++] = c;
            }
        }
        bit[t] = -1;
        if (m >= 2) {
            int pv = p->producer[t] < 0 ? src : p->producer[t];
            bit[t] = flags[pv]++;
            if (flags[pv] > DP_MAX_FLAGS) {
                *big_v = pv;
                *big_flags = flags[pv];
                st = CLEAVE_EUNSUPPORTED;
                goto done;
            }
        }
        nuniq[t] = m;
    }
    d->maxdom = 2;
    for (int v = 0; v < d->nv; v++) {
        d->dom[v] = 2 << flags[v];
        if (d->dom[v] > d->maxdom)
            d->maxdom = d->dom[v];
        d->unary[v] = malloc(sizeof(double) * (size_t)d->dom[v]);
        if (!d->unary[v])
            goto done;
        for (int s = 0; s < d->dom[v]; s++) {
            int x = s & 1;
            if (v == src)
                d->unary[v][s] = x ? INFINITY : 0.0;
            else
                d->unary[v][s] = x ? p->t_edge[v] : p->t_end[v];
        }
    }
    d->s1 = malloc(sizeof(double) * (size_t)d->maxdom * (size_t)d->maxdom);
    d->s2 = malloc(sizeof(double) * (size_t)d->maxdom * (size_t)d->maxdom);
    if (!d->s1 || !d->s2)
        goto done;
    for (int t = 0; t < nt; t++) {
        int prod = p->producer[t], pv = prod < 0 ? src : prod;
        int out = prod >= 0 && p->is_output && p->is_output[t];
        int lo = p->cons_off[t], m = nuniq[t];
        double *u = d->unary[pv];
        if (bit[t] >= 0) {
            /* flag cost, the output rule, and a constraint per consumer */
            for (int s = 0; s < d->dom[pv]; s++) {
                int x = s & 1, f = (s >> (1 + bit[t])) & 1;
                if (f)
                    u[s] += x ? p->down_us[t] : p->up_us[t];
                else if (x && out)
                    u[s] = INFINITY;
            }
            for (int j = 0; j < m; j++) {
                int c = uniq[lo + j];
                int id = edge_get(d, pv, c);
                if (id < 0)
                    goto done;
                for (int sp = 0; sp < d->dom[pv]; sp++) {
                    int f = (sp >> (1 + bit[t])) & 1;
                    for (int sc = 0; sc < d->dom[c]; sc++)
                        if (!f && (sc & 1) != (sp & 1))
                            *edge_ref(d, &d->e[id], pv, sp, sc) = INFINITY;
                }
            }
            continue;
        }
        if (out)
            for (int s = 1; s < d->dom[pv]; s += 2)
                u[s] += p->down_us[t];
        if (m == 0)
            continue;
        int c = uniq[lo];
        if (prod < 0) { /* a network input read by one node: a unary cost on that node */
            for (int s = 1; s < d->dom[c]; s += 2)
                d->unary[c][s] += p->up_us[t];
            continue;
        }
        int id = edge_get(d, pv, c);
        if (id < 0)
            goto done;
        for (int sp = 0; sp < d->dom[pv]; sp++) {
            for (int sc = 0; sc < d->dom[c]; sc++) {
                int xp = sp & 1, xc = sc & 1;
                if (!xp && xc)
                    *edge_ref(d, &d->e[id], pv, sp, sc) += p->up_us[t];
                else if (xp && !xc && !out)
                    *edge_ref(d, &d->e[id], pv, sp, sc) += p->down_us[t];
            }
        }
    }
    st = CLEAVE_OK;
done:
    free(flags);
    free(bit);
    free(stamp);
    free(uniq);
    free(nuniq);
    return st;
}

/* How much an edge's table can change the total: its spread, infinite for a constraint. */
static double edge_weight(const struct dp *d, const struct dp_edge *e)
{
    double lo = INFINITY, hi = -INFINITY;
    int m = d->dom[e->a] * d->dom[e->b];
    for (int i = 0; i < m; i++) {
        if (e->tab[i] < lo)
            lo = e->tab[i];
        if (e->tab[i] > hi)
            hi = e->tab[i];
    }
    return hi - (isfinite(lo) ? lo : 0.0);
}

/* Remove vertex V, which has at most two neighbours, folding its best cost into what remains
** (the file comment: with no neighbour into the constant, with one into the neighbour's unary
** cost, with two into a new or existing table between them), and record the minimising states
** for the way back.  Returns 0, or -1 when out of memory. */
static int eliminate(struct dp *d, int v)
{
    int deg = d->nadj[v], dv = d->dom[v];
    const double *w = d->unary[v];
    struct dp_rec *r = &d->rec[d->nrec];
    int e1 = deg > 0 ? d->adj[v][0] : -1, e2 = deg > 1 ? d->adj[v][1] : -1;
    int a = e1 >= 0 ? other_end(&d->e[e1], v) : -1, b = e2 >= 0 ? other_end(&d->e[e2], v) : -1;
    int da = a >= 0 ? d->dom[a] : 1, db = b >= 0 ? d->dom[b] : 1;
    r->v = v;
    r->a = a;
    r->b = b;
    r->arg = malloc(sizeof(int) * (size_t)da * (size_t)db);
    if (!r->arg)
        return -1;
    d->nrec++;
    /* M1[sa][sv] and M2[sv][sb] laid out for the triple loop (zero when the side is absent) */
    double *m1 = d->s1, *m2 = d->s2;
    for (int sa = 0; sa < da; sa++)
        for (int sv = 0; sv < dv; sv++)
            m1[sa * dv + sv] = e1 >= 0 ? edge_at(d, &d->e[e1], a, sa, sv) : 0.0;
    for (int sv = 0; sv < dv; sv++)
        for (int sb = 0; sb < db; sb++)
            m2[sv * db + sb] = e2 >= 0 ? edge_at(d, &d->e[e2], v, sv, sb) : 0.0;
    d->compared += (int64_t)da * dv * db;
    double *res = malloc(sizeof(double) * (size_t)da * (size_t)db);
    if (!res)
        return -1;
    for (int sa = 0; sa < da; sa++) {
        for (int sb = 0; sb < db; sb++) {
            double best = INFINITY;
            int arg = 0;
            for (int sv = 0; sv < dv; sv++) {
                double c = m1[sa * dv + sv] + w[sv] + m2[sv * db + sb];
                if (c < best) {
                    best = c;
                    arg = sv;
                }
            }
            res[sa * db + sb] = best;
            r->arg[sa * db + sb] = arg;
        }
    }
    if (e1 >= 0)
        edge_drop(d, e1);
    if (e2 >= 0)
        edge_drop(d, e2);
    d->gone[v] = 1;
    int rc = 0;
    if (deg == 0) {
        d->constant += res[0];
    } else if (deg == 1) {
        for (int sa = 0; sa < da; sa++)
            d->unary[a][sa] += res[sa];
    } else {
        int id = edge_get(d, a, b);
        if (id < 0) {
            rc = -1;
        } else {
            for (int sa = 0; sa < da; sa++)
                for (int sb = 0; sb < db; sb++)
                    *edge_ref(d, &d->e[id], a, sa, sb) += res[sa * db + sb];
        }
    }
    free(res);
    if (rc == 0 && a >= 0 && d->nadj[a] <= 2)
        rc = work_push(d, a);
    if (rc == 0 && b >= 0 && d->nadj[b] <= 2)
        rc = work_push(d, b);
    return rc;
}

/* No vertex of degree <= 2 is left: the graph is not series-parallel (treewidth > 2).  Keep
** the two most costly tables of a remaining vertex of least degree, drop the others (their
** costs are ignored by the relaxed problem), and let the reduction go on.  The vertex is the
** least-degree one among the first RELAX_WINDOW remaining in topological order, so that a
** graph needing many relaxations is not scanned whole each time. */
#define RELAX_WINDOW 64
static int relax(struct dp *d)
{
    int v = -1;
    while (d->cursor < d->nv && d->gone[d->cursor])
        d->cursor++;
    for (int u = d->cursor, seen = 0; u < d->nv && seen < RELAX_WINDOW; u++) {
        if (d->gone[u])
            continue;
        seen++;
        if (v < 0 || d->nadj[u] < d->nadj[v])
            v = u;
    }
    if (v < 0)
        return 0;
    int k1 = -1, k2 = -1;
    double w1 = -1.0, w2 = -1.0;
    for (int j = 0; j < d->nadj[v]; j++) {
        int id = d->adj[v][j];
        double w = edge_weight(d, &d->e[id]);
        if (w > w1) {
            k2 = k1;
            w2 = w1;
            k1 = id;
            w1 = w;
        } else if (w > w2) {
            k2 = id;
            w2 = w;
        }
    }
    for (int j = d->nadj[v] - 1; j >= 0; j--) {
        int id = d->adj[v][j];
        if (id == k1 || id == k2)
            continue;
        int o = other_end(&d->e[id], v);
        edge_drop(d, id);
        d->dropped++;
        if (d->nadj[o] <= 2 && work_push(d, o))
            return -1;
    }
    return work_push(d, v);
}

/* Run the reduction to the end; fill ON_EDGE from the recorded states. */
static int reduce(struct dp *d, unsigned char *on_edge)
{
    for (int v = d->nv - 1; v >= 0; v--)
        if (d->nadj[v] <= 2 && work_push(d, v))
            return -1;
    for (int left = d->nv; left > 0;) {
        if (d->nwork == 0) {
            if (relax(d))
                return -1;
            continue;
        }
        int v = d->work[--d->nwork];
        if (d->gone[v] || d->nadj[v] > 2)
            continue;
        if (eliminate(d, v))
            return -1;
        left--;
    }
    int *state = calloc((size_t)d->nv, sizeof(int));
    if (!state)
        return -1;
    for (int i = d->nrec - 1; i >= 0; i--) {
        const struct dp_rec *r = &d->rec[i];
        int sa = r->a >= 0 ? state[r->a] : 0, sb = r->b >= 0 ? state[r->b] : 0;
        int db = r->b >= 0 ? d->dom[r->b] : 1;
        state[r->v] = r->arg[sa * db + sb];
    }
    for (int i = 0; i < d->p->n; i++)
        on_edge[i] = (unsigned char)(state[i] & 1);
    free(state);
    return 0;
}

/* The best single split, into OUT, when it beats the placement OUT holds. */
static cleave_status better_split(const plan_problem *p, plan_result *out, int *took, char *err,
                                  size_t errlen)
{
    plan_split s;
    cleave_status st = plan_split_sweep(p, &s, err, errlen);
    *took = 0;
    if (st != CLEAVE_OK)
        return st;
    int best = 0;
    for (int k = 1; k <= p->n; k++)
        if (s.total_us[k] < s.total_us[best])
            best = k;
    plan_split_release(&s);
    plan_result cand = *out;
    unsigned char *keep = malloc((size_t)p->n);
    if (!keep) {
        plan_errf(err, errlen, "cannot compare with the best split: out of memory");
        return CLEAVE_ENOMEM;
    }
    memcpy(keep, out->on_edge, (size_t)p->n);
    plan_apply_split(p, best, &cand);
    if (cand.total_us < out->total_us) {
        *out = cand;
        *took = 1;
    } else {
        memcpy(out->on_edge, keep, (size_t)p->n);
        plan_evaluate(p, out->on_edge, out);
    }
    free(keep);
    return CLEAVE_OK;
}

cleave_status plan_dp_general(const plan_problem *p, plan_result *out, char *err, size_t errlen)
{
    struct dp d;
    int big_v = -1, big_flags = 0, took = 0;
    cleave_status st = plan_check_call(p, out, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    plan_result_reset(out);
    memset(&d, 0, sizeof d);
    st = dp_build(&d, p, &big_v, &big_flags);
    if (st == CLEAVE_EUNSUPPORTED) {
        /* too many sent flags on one vertex for a table: the best single split instead */
        dp_release(&d);
        for (int i = 0; i < p->n; i++)
            out->on_edge[i] = 0;
        plan_evaluate(p, out->on_edge, out);
        st = better_split(p, out, &took, err, errlen);
        if (st == CLEAVE_OK) {
            out->evaluated = (int64_t)p->n + 1;
            if (big_v == p->n)
                plan_errf(out->note, sizeof out->note,
                          "%d network inputs are read by several nodes (dp handles %d): dp fell "
                          "back to the best single split",
                          big_flags, DP_MAX_FLAGS);
            else
                plan_errf(out->note, sizeof out->note,
                          "node %d has %d tensors read by several nodes (dp handles %d): dp fell "
                          "back to the best single split",
                          big_v, big_flags, DP_MAX_FLAGS);
        }
        return st;
    }
    if (st != CLEAVE_OK || reduce(&d, out->on_edge)) {
        dp_release(&d);
        plan_errf(err, errlen, "cannot run the dp over %d nodes: out of memory", p->n);
        return CLEAVE_ENOMEM;
    }
    plan_evaluate(p, out->on_edge, out);
    out->evaluated = d.compared;
    if (d.dropped == 0) {
        out->exact = 1;
        plan_errf(out->note, sizeof out->note,
                  "series-parallel: reduced exactly by %d eliminations", d.nrec);
    } else {
        st = better_split(p, out, &took, err, errlen);
        plan_errf(out->note, sizeof out->note,
                  "graph is not series-parallel (%d dependences relaxed): dp is a heuristic "
                  "here; %s",
                  d.dropped, took ? "the best single split was better" : "relaxed dp kept");
    }
    dp_release(&d);
    return st;
}

/* See partition.h: the chain recurrence when P is a chain, the general reduction otherwise. */
cleave_status plan_dp(const plan_problem *p, plan_result *out, char *err, size_t errlen)
{
    cleave_status st = plan_check_call(p, out, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    double *tu = malloc(sizeof(double) * (size_t)p->n);
    double *td = malloc(sizeof(double) * (size_t)p->n);
    double u_in = 0.0, d_out = 0.0;
    if (!tu || !td) {
        plan_errf(err, errlen, "cannot run the dp over %d nodes: out of memory", p->n);
        st = CLEAVE_ENOMEM;
    } else if (chain_costs(p, tu, td, &u_in, &d_out)) {
        plan_result_reset(out);
        st = dp_chain(p, tu, td, u_in, d_out, out, err, errlen);
    } else {
        st = plan_dp_general(p, out, err, errlen);
    }
    free(tu);
    free(td);
    return st;
}
