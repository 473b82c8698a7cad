/*
** planner/mincut.c - DADS's minimum s-t cut partition (Hu, Bao, Wang et al., "Dynamic adaptive
** DNN surgery for inference acceleration on the edge", INFOCOM 2019) on a small Dinic max-flow.
**
** Construction.  Source s stands for the end device, sink t for the edge; after the cut, the
** vertices on s's side run on the end device.  An arc u -> v of capacity c is paid exactly when
** u is on s's side and v on t's side, so:
**   - node i: s -> i with t_edge(i) (paid when i is on the edge) and i -> t with t_end(i) (paid
**     when i stays on the end device): exactly one of the two is cut.
**   - a tensor of producer u with one distinct consumer v: u -> v with its upload time (paid
**     when u is on the end and v on the edge) and v -> u with its download time (the reverse).
**   - a tensor with consumers v1..vk, k >= 2 (Hu et al. add a virtual vertex for a layer with
**     several successors for the same reason): an upload vertex a with u -> a of the upload
**     time and a -> vj of infinite capacity.  If u is on the end and some vj on the edge, a
**     must be on t's side (else a -> vj is an infinite cut arc), so u -> a is cut: the upload
**     is paid once, however many vj are on the edge; otherwise a can join s's side for free.
**     A download vertex b with b -> u of the download time and vj -> b infinite is the mirror:
**     some vj on the end forces b onto s's side, and b -> u is cut when u is on the edge.
**   - a network input is produced by s itself (pinned to the end device): s -> v or s -> a of
**     its upload time.
**   - a network output must return to the end device: s -> u of its download time (paid when u
**     is on the edge); the tensor then is on both sides, so its consumers on the end are free
**     and the download vertex / arc v -> u is left out.
** Correctness: every placement x extends to a cut whose capacity is its latency under
** problem.h's model (put each auxiliary vertex on its cheaper side, as argued above), and every
** finite cut is such an extension of the placement it induces on the nodes, costing at least
** that placement's latency; so the minimum cut is an optimal placement.  The cost is a sum of
** submodular terms (Kolmogorov & Zabih, "What energy functions can be minimized via graph
** cuts?", PAMI 2004), the multi-consumer one through the auxiliary vertex as in Kohli, Ladicky,
** Torr, "Robust higher order potentials", IJCV 2009.
**
** Max-flow: Dinic's algorithm (Dinic, "Algorithm for solution of a problem of maximum flow in
** networks with power estimation", 1970): BFS levels from s, then blocking flows along level-
** increasing arcs with a current-arc pointer per vertex, the search iterative so that a
** 10,000-node chain cannot exhaust the stack.  Capacities are doubles; each augmentation
** subtracts the bottleneck from itself, so the bottleneck arc's residual becomes exactly 0 and
** the usual termination argument holds without an epsilon.
*/
#include "planner/partition.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct plan_flow {
    int nv, ne, ecap;
    int *head;   /* first arc out of each vertex, -1 when none */
    int *next;   /* next arc out of the same vertex */
    int *to;     /* arc e's head; arc e ^ 1 is its reverse */
    double *res; /* residual capacity */
    int *level, *cur, *queue, *path;
    unsigned char *seen;
};

plan_flow *plan_flow_create(int nv, int edge_hint)
{
    plan_flow *f = calloc(1, sizeof *f);
    if (!f || nv <= 0)
        goto fail;
    f->nv = nv;
    f->ecap = edge_hint > 8 ? 2 * edge_hint : 16;
    f->head = malloc(sizeof(int) * (size_t)nv);
    f->level = malloc(sizeof(int) * (size_t)nv);
    f->cur = malloc(sizeof(int) * (size_t)nv);
    f->queue = malloc(sizeof(int) * (size_t)nv);
    f->path = malloc(sizeof(int) * (size_t)nv);
    f->seen = calloc((size_t)nv, 1);
    f->next = malloc(sizeof(int) * (size_t)f->ecap);
    f->to = malloc(sizeof(int) * (size_t)f->ecap);
    f->res = malloc(sizeof(double) * (size_t)f->ecap);
    if (!f->head || !f->level || !f->cur || !f->queue || !f->path || !f->seen || !f->next ||
        !f->to || !f->res)
        goto fail;
    for (int v = 0; v < nv; v++)
        f->head[v] = -1;
    return f;
fail:
    plan_flow_destroy(f);
    return NULL;
}

void plan_flow_destroy(plan_flow *f)
{
    if (!f)
        return;
    free(f->head);
    free(f->level);
    free(f->cur);
    free(f->queue);
    free(f->path);
    free(f->seen);
    free(f->next);
    free(f->to);
    free(f->res);
    free(f);
}

static int grow(void **p, size_t elem, int n)
{
    void *q = realloc(*p, elem * (size_t)n);
    if (!q)
        return -1;
    *p = q;
    return 0;
}

cleave_status plan_flow_add(plan_flow *f, int from, int to, double cap_us)
{
    if (from < 0 || from >= f->nv || to < 0 || to >= f->nv || !(cap_us >= 0.0))
        return CLEAVE_EINVAL;
    if (cap_us == 0.0 || from == to)
        return CLEAVE_OK; /* never carries flow, never cut */
    if (f->ne + 2 > f->ecap) {
        int nc = 2 * f->ecap;
        if (grow((void **)&f->next, sizeof(int), nc) || grow((void **)&f->to, sizeof(int), nc) ||
            grow((void **)&f->res, sizeof(double), nc))
            return CLEAVE_ENOMEM;
        f->ecap = nc;
    }
    int e = f->ne;
    f->to[e] = to;
    f->res[e] = cap_us;
    f->next[e] = f->head[from];
    f->head[from] = e;
    f->to[e + 1] = from;
    f->res[e + 1] = 0.0;
    f->next[e + 1] = f->head[to];
    f->head[to] = e + 1;
    f->ne += 2;
    return CLEAVE_OK;
}

/* Levels by BFS from S over arcs with residual capacity; 1 when T is reached. */
static int bfs(plan_flow *f, int s, int t)
{
    for (int v = 0; v < f->nv; v++)
        f->level[v] = -1;
    int qh = 0, qt = 0;
    f->level[s] = 0;
    f->queue[qt++] = s;
    while (qh < qt) {
        int u = f->queue[qh++];
        for (int e = f->head[u]; e >= 0; e = f->next[e]) {
            int v = f->to[e];
            if (f->res[e] > 0.0 && f->level[v] < 0) {
                f->level[v] = f->level[u] + 1;
                f->queue[qt++] = v;
            }
        }
    }
    return f->level[t] >= 0;
}

/* One blocking flow on the level graph: advance along admissible arcs (residual > 0, level + 1)
** from the current-arc pointers, augment by the path's bottleneck on reaching T and retreat to
** the tail of the first saturated arc, retreat one arc (and skip it) at a dead end.  PATH holds
** the arcs from S; its length is at most level[T]. */
static double blocking_flow(plan_flow *f, int s, int t, int64_t *augments)
{
    double total = 0.0;
    int depth = 0, u = s;
    for (int v = 0; v < f->nv; v++)
        f->cur[v] = f->head[v];
    for (;;) {
        if (u == t) {
            double b = INFINITY;
            for (int i = 0; i < depth; i++)
                if (f->res[f->path[i]] < b)
                    b = f->res[f->path[i]];
            if (b == INFINITY)
                return INFINITY; /* a path of infinite arcs: the flow is unbounded */
            int first = -1;
            for (int i = 0; i < depth; i++) {
                int e = f->path[i];
                f->res[e] -= b;
                f->res[e ^ 1] += b;
                if (first < 0 && !(f->res[e] > 0.0))
                    first = i;
            }
            total += b;
            (*augments)++;
            depth = first;
            u = depth == 0 ? s : f->to[f->path[depth - 1]];
            continue;
        }
        int e = f->cur[u];
        while (e >= 0 && !(f->res[e] > 0.0 && f->level[f->to[e]] == f->level[u] + 1))
            e = f->next[e];
        f->cur[u] = e;
        if (e >= 0) {
            f->path[depth++] = e;
            u = f->to[e];
            continue;
        }
        if (depth == 0)
            break;
        f->level[u] = -1; /* dead end for the rest of this phase */
        int back = f->path[--depth];
        u = depth == 0 ? s : f->to[f->path[depth - 1]];
        f->cur[u] = f->next[back];
    }
    return total;
}

double plan_flow_run(plan_flow *f, int s, int t, int64_t *augments)
{
    int64_t aug = 0;
    double flow = 0.0;
    if (s != t) {
        while (flow < INFINITY && bfs(f, s, t))
            flow += blocking_flow(f, s, t, &aug);
    }
    /* the source side of the minimum cut: reachable from s in the residual network */
    memset(f->seen, 0, (size_t)f->nv);
    int qh = 0, qt = 0;
    f->seen[s] = 1;
    f->queue[qt++] = s;
    while (qh < qt) {
        int u = f->queue[qh++];
        for (int e = f->head[u]; e >= 0; e = f->next[e]) {
            if (f->res[e] > 0.0 && !f->seen[f->to[e]]) {
                f->seen[f->to[e]] = 1;
                f->queue[qt++] = f->to[e];
            }
        }
    }
    if (augments)
        *augments = aug;
    return flow;
}

int plan_flow_source_side(const plan_flow *f, int v)
{
    return v >= 0 && v < f->nv && f->seen[v];
}

/* See partition.h and the file comment. */
cleave_status plan_mincut(const plan_problem *p, plan_result *out, char *err, size_t errlen)
{
    cleave_status st = plan_check_call(p, out, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    int n = p->n, nt = p->ntensors, s = n, t = n + 1;
    int *stamp = NULL, *uniq = NULL;
    plan_flow *f = NULL;
    st = CLEAVE_ENOMEM;
    stamp = malloc(sizeof(int) * (size_t)n);
    uniq = malloc(sizeof(int) * (size_t)n);
    if (!stamp || !uniq)
        goto done;
    for (int i = 0; i < n; i++)
        stamp[i] = -1;
    /* vertices: nodes, s, t, then two auxiliary vertices per tensor with >= 2 consumers */
    int nv = n + 2;
    for (int tn = 0; tn < nt; tn++) {
        int m = 0;
        for (int j = p->cons_off[tn]; j < p->cons_off[tn + 1]; j++)
            if (stamp[p->cons[j]] != tn) {
                stamp[p->cons[j]] = tn;
                m++;
            }
        if (m >= 2)
            nv += 2;
    }
    f = plan_flow_create(nv, 2 * n + 2 * p->cons_off[nt] + 2 * nt);
    if (!f)
        goto done;
    for (int i = 0; i < n; i++)
        stamp[i] = -1;
    int aux = n + 2;
#define ADD(u, v, c)                                                                               \
    do {                                                                                           \
        if (plan_flow_add(f, (u), (v), (c)) != CLEAVE_OK)                                          \
            goto done;                                                                             \
    } while (0)
    for (int i = 0; i < n; i++) {
        ADD(s, i, p->t_edge[i]);
        ADD(i, t, p->t_end[i]);
    }
    for (int tn = 0; tn < nt; tn++) {
        int prod = p->producer[tn], u = prod < 0 ? s : prod, m = 0;
        int out_t = prod >= 0 && p->is_output && p->is_output[tn];
        for (int j = p->cons_off[tn]; j < p->cons_off[tn + 1]; j++)
            if (stamp[p->cons[j]] != tn) {
                stamp[p->cons[j]] = tn;
                uniq[m++] = p->cons[j];
            }
        if (out_t)
            ADD(s, u, p->down_us[tn]);
        if (m == 1) {
            ADD(u, uniq[0], p->up_us[tn]);
            if (!out_t && prod >= 0)
                ADD(uniq[0], u, p->down_us[tn]);
        } else if (m >= 2) {
            int a = aux++, b = aux++;
            ADD(u, a, p->up_us[tn]);
            for (int j = 0; j < m; j++)
                ADD(a, uniq[j], INFINITY);
            if (!out_t && prod >= 0) {
                ADD(b, u, p->down_us[tn]);
                for (int j = 0; j < m; j++)
                    ADD(uniq[j], b, INFINITY);
            }
        }
    }
#undef ADD
    int64_t aug = 0;
    double flow = plan_flow_run(f, s, t, &aug);
    plan_result_reset(out);
    for (int i = 0; i < n; i++)
        out->on_edge[i] = !plan_flow_source_side(f, i);
    plan_evaluate(p, out->on_edge, out);
    out->evaluated = aug;
    out->exact = 1;
    plan_errf(out->note, sizeof out->note, "minimum cut of %d vertices: flow %.6g us", nv, flow);
    st = CLEAVE_OK;
done:
    if (st != CLEAVE_OK)
        plan_errf(err, errlen, "cannot build the min-cut graph of %d nodes: out of memory", n);
    plan_flow_destroy(f);
    free(stamp);
    free(uniq);
    return st;
}
