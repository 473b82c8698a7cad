/*
** planner/throughput.c - the throughput objective (see throughput.h for the pipeline and drop
** models): exact search over single-split candidate sets, DADS's heavy-load approximation by
** weighted minimum cuts, and brute force.
**
** DSH, the heavy-load method, and why it is within 3x.  Write f(x) = (end, xfer, edge) for the
** stages of placement x, OPT = min_x max f(x), and y for a placement reaching it.
**  1. Round 0 is DADS's light-load cut: the minimum cut of plan_mincut() with the costs as they
**     are, i.e. x0 = argmin_x end + xfer + edge (exact, see mincut.c).  Then
**        max f(x0) <= sum f(x0) <= sum f(y) <= 3 max f(y) = 3 OPT.
**     Every later step replaces the plan only by one with a smaller bottleneck, so the result
**     stays within 3 OPT.  (Hu et al. state the same ratio, 3, for their DSH.)
**  2. Lower bound: for weights w >= 0 with w1 + w2 + w3 = 1, the minimum cut of the problem
**     with compute times scaled by w1 (end) and w3 (edge) and transfer times by w2 gives
**        L(w) = min_x w . f(x) <= w . f(y) <= max f(y) = OPT,
**     so every round yields a certified lower bound; the plan is proven optimal when its
**     bottleneck meets the best one.  (This is the Lagrangian dual of min max; its maximum can
**     still be below OPT, the problem being NP-hard.)
**  3. The weights after round 0 come from Kelley's cutting-plane method ("The cutting-plane
**     method for solving convex programs", J. SIAM 1960) on that dual: every cut x_j found so
**     far gives a plane w . f(x_j) >= L(w), so the model M(w) = min_j w . f(x_j) bounds L from
**     above; the next weights are argmax_w M(w) (a 2-D linear programme, solved by trying its
**     candidate vertices: the simplex's corners, the points of its edges where two planes meet,
**     the interior points where three do), and the method stops when the cut there reaches
**     the model's value: then max L is known exactly.  Each cut is also a candidate plan, and
**     the weights it was cut with favour the stages that were heavy in the earlier cuts.
**     The best single split (often the optimum on chains) and greedy single-node moves that
**     lower the bottleneck (or keep it and lower the latency) finish the plan.
*/
#include "planner/throughput.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "planner/partition.h"

static const char *const tput_names[PLAN_TPUT_COUNT] = {"split", "couper", "dsh", "bnb", "brute"};

const char *plan_tput_algo_name(plan_tput_algo a)
{
    return (unsigned)a < PLAN_TPUT_COUNT ? tput_names[a] : "?";
}

static double max3(double a, double b, double c)
{
    double m = a > b ? a : b;
    return m > c ? m : c;
}

void plan_stages_of(const plan_result *r, plan_stages *out)
{
    out->end_us = r->end_us;
    out->xfer_us = r->up_us + r->down_us;
    out->edge_us = r->edge_us;
    out->bottleneck_us = max3(out->end_us, out->xfer_us, out->edge_us);
}

const char *plan_stages_bottleneck(const plan_stages *s)
{
    if (s->end_us >= s->xfer_us && s->end_us >= s->edge_us)
        return "end";
    return s->xfer_us >= s->edge_us ? "network" : "edge";
}

double plan_tput_fps(double bottleneck_us)
{
    return bottleneck_us > 0.0 ? 1e6 / bottleneck_us : INFINITY;
}

double plan_tput_drop_rate(double bottleneck_us, double fps)
{
    double keep = plan_tput_fps(bottleneck_us) / fps;
    return keep >= 1.0 ? 0.0 : 1.0 - keep;
}

int plan_tput_better(const plan_stages *a, double a_total_us, const plan_stages *b,
                     double b_total_us)
{
    if (a->bottleneck_us != b->bottleneck_us)
        return a->bottleneck_us < b->bottleneck_us;
    return a_total_us < b_total_us;
}

/* Common bookkeeping once OUT->r.on_edge holds the chosen placement. */
static void finish(const plan_problem *p, plan_tput_result *out, plan_tput_scope scope,
                   double ratio, int candidates)
{
    plan_evaluate(p, out->r.on_edge, &out->r);
    plan_stages_of(&out->r, &out->st);
    out->scope = scope;
    out->ratio = ratio;
    out->candidates = candidates;
}

static void reset(plan_tput_result *out)
{
    plan_result_reset(&out->r);
    out->lower_us = 0.0;
    out->candidates = 0;
}

/* ---- single splits ------------------------------------------------------------------------ */

/* The stages of every split, from the sweep of partition.c: end = prefix_end(k), edge = the
** edge time of [k, n) (total minus done, as the sweep computes it, so that the difference below
** cancels), xfer = total(k) - end - edge. */
typedef struct split_stages {
    plan_split s;
    double *edge_us; /* n + 1 */
} split_stages;

static cleave_status split_stages_make(const plan_problem *p, split_stages *ss, char *err,
                                       size_t errlen)
{
    cleave_status st = plan_split_sweep(p, &ss->s, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    ss->edge_us = malloc(sizeof(double) * ((size_t)p->n + 1));
    if (!ss->edge_us) {
        plan_split_release(&ss->s);
        plan_errf(err, errlen, "cannot cost %d split points: out of memory", p->n + 1);
        return CLEAVE_ENOMEM;
    }
    double total = 0.0, done = 0.0;
    for (int i = 0; i < p->n; i++)
        total += p->t_edge[i];
    for (int k = 0; k <= p->n; k++) {
        double suffix = total - done;
        ss->edge_us[k] = k == p->n || suffix < 0.0 ? 0.0 : suffix;
        if (k < p->n)
            done += p->t_edge[k];
    }
    return CLEAVE_OK;
}

static void split_stages_release(split_stages *ss)
{
    plan_split_release(&ss->s);
    free(ss->edge_us);
    ss->edge_us = NULL;
}

static void split_at(const split_stages *ss, int k, plan_stages *st)
{
    st->end_us = ss->s.prefix_end_us[k];
    st->edge_us = ss->edge_us[k];
    double x = ss->s.total_us[k] - st->end_us - st->edge_us;
    st->xfer_us = x > 0.0 ? x : 0.0;
    st->bottleneck_us = max3(st->end_us, st->xfer_us, st->edge_us);
}

/* The best of the split positions K[0..COUNT) (first wins ties) into OUT. */
static void best_split(const plan_problem *p, const split_stages *ss, const int *k, int count,
                       plan_tput_result *out)
{
    int best = k[0];
    plan_stages b, c;
    split_at(ss, best, &b);
    for (int i = 1; i < count; i++) {
        split_at(ss, k[i], &c);
        if (plan_tput_better(&c, ss->s.total_us[k[i]], &b, ss->s.total_us[best])) {
            best = k[i];
            b = c;
        }
    }
    plan_apply_split(p, best, &out->r);
}

cleave_status plan_tput_split(const plan_problem *p, plan_tput_result *out, char *err,
                              size_t errlen)
{
    split_stages ss;
    cleave_status st = plan_check_call(p, out ? &out->r : NULL, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    int *k = malloc(sizeof(int) * ((size_t)p->n + 1));
    if (!k) {
        plan_errf(err, errlen, "cannot list %d split points: out of memory", p->n + 1);
        return CLEAVE_ENOMEM;
    }
    if ((st = split_stages_make(p, &ss, err, errlen)) != CLEAVE_OK) {
        free(k);
        return st;
    }
    for (int i = 0; i <= p->n; i++)
        k[i] = i;
    reset(out);
    best_split(p, &ss, k, p->n + 1, out);
    split_stages_release(&ss);
    free(k);
    finish(p, out, PLAN_TPUT_SCOPE_SPLITS, 1.0, p->n + 1);
    out->r.evaluated = (int64_t)p->n + 1;
    int on_edge = 0;
    for (int i = 0; i < p->n; i++)
        on_edge += out->r.on_edge[i] != 0;
    plan_errf(out->r.note, sizeof out->r.note,
              "best of %d single splits: %d of %d nodes on the edge", p->n + 1, on_edge, p->n);
    return CLEAVE_OK;
}

cleave_status plan_tput_couper(const plan_problem *p, const unsigned char *is_constant,
                               plan_tput_result *out, char *err, size_t errlen)
{
    split_stages ss;
    int count = 0;
    cleave_status st = plan_check_call(p, out ? &out->r : NULL, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    int *k = malloc(sizeof(int) * ((size_t)p->n + 1));
    if (!k) {
        plan_errf(err, errlen, "cannot list slicing candidates: out of memory");
        return CLEAVE_ENOMEM;
    }
    k[0] = 0; /* the baseline: the unsliced model on the edge */
    if ((st = plan_couper_candidates(p, is_constant, k + 1, &count, err, errlen)) != CLEAVE_OK ||
        (st = split_stages_make(p, &ss, err, errlen)) != CLEAVE_OK) {
        free(k);
        return st;
    }
    reset(out);
    best_split(p, &ss, k, count + 1, out);
    split_stages_release(&ss);
    free(k);
    finish(p, out, PLAN_TPUT_SCOPE_COUPER, 1.0, count + 1);
    out->r.evaluated = count + 1;
    int on_edge = 0;
    for (int i = 0; i < p->n; i++)
        on_edge += out->r.on_edge[i] != 0;
    plan_errf(out->r.note, sizeof out->r.note,
              "best of %d slicing positions (baseline included): %d of %d nodes on the edge",
              count + 1, on_edge, p->n);
    return CLEAVE_OK;
}

/* ---- DSH ---------------------------------------------------------------------------------- */

#define DSH_ROUNDS 32
/* Local search costs each single-node move afresh (O(n + tensors)); all of it together may
** visit about this many nodes and tensors. */
#define DSH_LOCAL_BUDGET 100000000.0
#define DSH_LOCAL_PASSES 64

/* The stages and latency of placement X under P. */
static void cost(const plan_problem *p, const unsigned char *x, plan_stages *st, double *total)
{
    plan_result r;
    plan_evaluate(p, x, &r);
    plan_stages_of(&r, st);
    *total = r.total_us;
}

/* The maximiser W over the weight simplex of min_j W . F[j] (j < M), and that maximum: the
** candidates are the corners, the points on an edge where two planes cross, and the interior
** points where three planes are equal (a 3x3 system by Cramer's rule). */
static double dual_model(const double (*f)[3], int m, double *w)
{
    double best = -INFINITY, c[3];
#define TRY()                                                                                      \
    do {                                                                                           \
        double v_ = INFINITY;                                                                      \
        for (int j_ = 0; j_ < m; j_++)                                                             \
            v_ = fmin(v_, c[0] * f[j_][0] + c[1] * f[j_][1] + c[2] * f[j_][2]);                    \
        if (v_ > best) {                                                                           \
            best = v_;                                                                             \
            memcpy(w, c, sizeof c);                                                                \
        }                                                                                          \
    } while (0)
    for (int i = 0; i < 3; i++) {
        c[0] = c[1] = c[2] = 0.0;
        c[i] = 1.0;
        TRY();
    }
    for (int a = 0; a < m; a++)
        for (int b = a + 1; b < m; b++) {
            double d[3] = {f[a][0] - f[b][0], f[a][1] - f[b][1], f[a][2] - f[b][2]};
            for (int z = 0; z < 3; z++) { /* the edge where coordinate z is 0 */
                int i = (z + 1) % 3, k = (z + 2) % 3;
                double den = d[i] - d[k]; /* t d_i + (1 - t) d_k = 0 */
                if (den == 0.0)
                    continue;
                double t = -d[k] / den;
                if (!(t > 0.0 && t < 1.0))
                    continue;
                c[z] = 0.0;
                c[i] = t;
                c[k] = 1.0 - t;
                TRY();
            }
            for (int e = b + 1; e < m; e++) {
                double g[3] = {f[a][0] - f[e][0], f[a][1] - f[e][1], f[a][2] - f[e][2]};
                /* rows d . w = 0, g . w = 0, (1,1,1) . w = 1: w is the cross product d x g
                ** scaled to sum 1 */
                double x[3] = {d[1] * g[2] - d[2] * g[1], d[2] * g[0] - d[0] * g[2],
                               d[0] * g[1] - d[1] * g[0]};
                double sum = x[0] + x[1] + x[2];
                if (sum == 0.0)
                    continue;
                for (int i = 0; i < 3; i++)
                    c[i] = x[i] / sum;
                if (c[0] < 0.0 || c[1] < 0.0 || c[2] < 0.0)
                    continue;
                TRY();
            }
        }
#undef TRY
    return best;
}

/* Greedy descent from placement X with stages *ST and latency *TOTAL: flip single nodes while a
** flip gives a better plan (plan_tput_better), in passes over the nodes, costing at most
** BUDGET placements; X, *ST and *TOTAL receive the result.  Returns the placements costed. */
static int64_t descend(const plan_problem *p, unsigned char *x, plan_stages *st, double *total,
                       int64_t budget)
{
    int64_t used = 0;
    for (int pass = 0, improved = 1; improved && pass < DSH_LOCAL_PASSES; pass++) {
        improved = 0;
        for (int v = 0; v < p->n && used < budget; v++) {
            plan_stages cs;
            double t;
            x[v] ^= 1;
            cost(p, x, &cs, &t);
            used++;
            if (plan_tput_better(&cs, t, st, *total)) {
                *st = cs;
                *total = t;
                improved = 1;
            } else {
                x[v] ^= 1;
            }
        }
    }
    return used;
}

/* Optimal when the bottleneck meets the lower bound (up to rounding in the sums). */
static int meets(double bottleneck_us, double lower_us)
{
    return bottleneck_us - lower_us <= 1e-9 * bottleneck_us;
}

cleave_status plan_tput_dsh(const plan_problem *p, plan_tput_result *out, char *err, size_t errlen)
{
    cleave_status st = plan_check_call(p, out ? &out->r : NULL, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    int n = p->n, nt = p->ntensors;
    size_t nd = (size_t)n + 1, td = (size_t)nt + 1;
    double *te = malloc(sizeof(double) * nd), *tx = malloc(sizeof(double) * nd);
    double *up = malloc(sizeof(double) * td), *dn = malloc(sizeof(double) * td);
    unsigned char *x = malloc(nd), *best = out->r.on_edge;
    unsigned char *seeds = malloc(nd * (DSH_ROUNDS + 1));
    plan_stages seed_st[DSH_ROUNDS + 1];
    double seed_total[DSH_ROUNDS + 1];
    plan_tput_result split;
    split.r.on_edge = malloc(nd);
    if (!te || !tx || !up || !dn || !x || !seeds || !split.r.on_edge) {
        st = CLEAVE_ENOMEM;
        plan_errf(err, errlen, "cannot plan for throughput: out of memory");
        goto done;
    }
    plan_problem sp = *p;
    sp.t_end = te;
    sp.t_edge = tx;
    sp.up_us = up;
    sp.down_us = dn;
    plan_result cut = {.on_edge = x};
    double w[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3}, lower = 0.0, best_total = 0.0;
    double planes[DSH_ROUNDS][3], model = INFINITY;
    plan_stages bs = {0}, cs;
    int64_t evaluated = 0;
    int rounds = 0, moves = 0, local_done = 0, dual_solved = 0;
    for (; rounds < DSH_ROUNDS; rounds++) {
        for (int i = 0; i < n; i++) {
            te[i] = w[0] * p->t_end[i];
            tx[i] = w[2] * p->t_edge[i];
        }
        for (int t = 0; t < nt; t++) {
            up[t] = w[1] * p->up_us[t];
            dn[t] = w[1] * p->down_us[t];
        }
        if ((st = plan_mincut(&sp, &cut, err, errlen)) != CLEAVE_OK)
            goto done;
        double total;
        cost(p, x, &cs, &total);
        evaluated++;
        memcpy(seeds + (size_t)rounds * n, x, (size_t)n);
        seed_st[rounds] = cs;
        seed_total[rounds] = total;
        double l = w[0] * cs.end_us + w[1] * cs.xfer_us + w[2] * cs.edge_us;
        if (l > lower)
            lower = l;
        if (rounds == 0 || plan_tput_better(&cs, total, &bs, best_total)) {
            memcpy(best, x, (size_t)n);
            bs = cs;
            best_total = total;
        }
        /* the model's value at the weights just cut bounds max L from above */
        if (rounds > 0 && model - l <= 1e-9 * model)
            dual_solved = 1;
        if (dual_solved || meets(bs.bottleneck_us, lower)) {
            rounds++;
            break;
        }
        planes[rounds][0] = cs.end_us;
        planes[rounds][1] = cs.xfer_us;
        planes[rounds][2] = cs.edge_us;
        model = dual_model(planes, rounds + 1, w);
    }

    if ((st = plan_tput_split(p, &split, err, errlen)) != CLEAVE_OK)
        goto done;
    evaluated += split.r.evaluated;
    if (plan_tput_better(&split.st, split.r.total_us, &bs, best_total)) {
        memcpy(best, split.r.on_edge, (size_t)n);
        bs = split.st;
        best_total = split.r.total_us;
    }

    /* Local search from every cut and from the split, the best first, while the budget lasts. */
    double visit = (double)n + nt + p->cons_off[nt] + 1.0;
    int64_t budget = (int64_t)(DSH_LOCAL_BUDGET / visit), nseeds = 0;
    int order[DSH_ROUNDS + 1];
    memcpy(seeds + (size_t)rounds * n, split.r.on_edge, (size_t)n);
    seed_st[rounds] = split.st;
    seed_total[rounds] = split.r.total_us;
    for (int i = 0; i <= rounds; i++) { /* insertion sort, best first */
        int j = i;
        for (; j > 0 && plan_tput_better(&seed_st[i], seed_total[i], &seed_st[order[j - 1]],
                                         seed_total[order[j - 1]]);
             j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    for (int i = 0; i <= rounds && budget > 0 && !meets(bs.bottleneck_us, lower); i++) {
        plan_stages ls = seed_st[order[i]];
        double lt = seed_total[order[i]];
        memcpy(x, seeds + (size_t)order[i] * n, (size_t)n);
        int64_t used = descend(p, x, &ls, &lt, budget);
        budget -= used;
        evaluated += used;
        nseeds++;
        if (plan_tput_better(&ls, lt, &bs, best_total)) {
            memcpy(best, x, (size_t)n);
            bs = ls;
            best_total = lt;
            moves++;
        }
    }
    local_done = nseeds > 0;

    reset(out);
    out->lower_us = lower;
    finish(p, out, PLAN_TPUT_SCOPE_ALL, 3.0, 0);
    out->r.evaluated = evaluated;
    out->r.exact = meets(out->st.bottleneck_us, lower);
    plan_errf(out->r.note, sizeof out->r.note,
              "%d weighted minimum cuts (%s), best single split, %s; lower bound %.6g us", rounds,
              dual_solved            ? "Lagrangian dual solved"
              : rounds == DSH_ROUNDS ? "round limit"
                                     : "the plan meets the bound",
              local_done ? (moves ? "single-node moves helped" : "no single-node move helped")
                         : "no local search",
              lower);
    st = CLEAVE_OK;
done:
    free(te);
    free(tx);
    free(up);
    free(dn);
    free(x);
    free(seeds);
    free(split.r.on_edge);
    return st;
}

/* ---- branch and bound --------------------------------------------------------------------- */

struct bnb {
    const plan_problem *p;
    int *in_off, *in;    /* tensors consumed by node v: in[in_off[v] .. in_off[v + 1]) */
    int *out_off, *outs; /* network outputs produced by node v */
    double *rest;        /* n + 1: sum over nodes i >= k of min(t_end, t_edge) */
    double *rest_edge;   /* n + 1: sum over nodes i >= k of t_edge */
    struct ratio *order; /* the nodes of nonzero cost by t_end / t_edge, smallest first */
    int norder;
    unsigned char *side;  /* the partial placement */
    unsigned char *paid;  /* per tensor: bit 0 uploaded, bit 1 downloaded */
    int *undo, nundo;     /* payments made, as tensor * 2 + direction, to take back */
    unsigned char *best;  /* the incumbent */
    double ub;            /* its bottleneck */
    int64_t visits;       /* partial placements visited */
    int64_t work, budget; /* visits plus steps of balance_bound(), and their limit */
    int stopped;
};

struct ratio {
    double te, tx;
    int node;
};

static int ratio_cmp(const void *a, const void *b)
{
    const struct ratio *x = a, *y = b;
    double d = x->te * y->tx - y->te * x->tx; /* t_end / t_edge, cross-multiplied */
    return d < 0 ? -1 : d > 0 ? 1 : (x->node > y->node) - (x->node < y->node);
}

/* The least max(end, edge) any placement of nodes [K, n) can reach from end E and edge X, even
** with nodes split fractionally between the sides: start with them all on the edge and move
** them to the end device in increasing order of t_end / t_edge (each buys the most edge time
** per end time of those left, as in the fractional knapsack) until the two sides meet. */
static double balance_bound(struct bnb *b, int k, double e, double x)
{
    x += b->rest_edge[k];
    for (int j = 0; j < b->norder && e < x; j++) {
        const struct ratio *r = &b->order[j];
        b->work++;
        if (r->node < k)
            continue;
        if (e + r->te >= x - r->tx) /* they meet inside this node */
            return e + (x - e) / (r->te + r->tx) * r->te;
        e += r->te;
        x -= r->tx;
    }
    return e > x ? e : x;
}

/* Pay for tensor T in direction DIR (0 up, 1 down) unless already paid; returns the cost. */
static double pay(struct bnb *b, int t, int dir)
{
    if (b->paid[t] & (1u << dir))
        return 0.0;
    b->paid[t] |= (unsigned char)(1u << dir);
    b->undo[b->nundo++] = 2 * t + dir;
    return dir ? b->p->down_us[t] : b->p->up_us[t];
}

/* Place node K and the ones after it, nodes [0, K) being placed with stages E, X, T. */
static void bnb_search(struct bnb *b, int k, double e, double x, double t)
{
    const plan_problem *p = b->p;
    b->visits++;
    if (b->stopped || ++b->work > b->budget) {
        b->stopped = 1;
        return;
    }
    if (k == p->n) {
        double m = max3(e, x, t);
        if (m < b->ub) {
            b->ub = m;
            memcpy(b->best, b->side, (size_t)p->n);
        }
        return;
    }
    int first = b->best[k]; /* the incumbent's side first: it finds good plans early */
    for (int o = 0; o < 2; o++) {
        int s = o ? !first : first, mark = b->nundo;
        double ne = e + (s ? 0.0 : p->t_end[k]), nx = x + (s ? p->t_edge[k] : 0.0), nt = t;
        b->side[k] = (unsigned char)s;
        for (int j = b->in_off[k]; j < b->in_off[k + 1]; j++) {
            int tt = b->in[j], prod = p->producer[tt];
            int ps = prod < 0 ? 0 : b->side[prod];
            if (ps != s)
                nt += pay(b, tt, ps); /* from the end: an upload; from the edge: a download */
        }
        for (int j = b->out_off[k]; s && j < b->out_off[k + 1]; j++)
            nt += pay(b, b->outs[j], 1);
        double lb = max3(ne, nx, nt), bal = 0.5 * (ne + nx + b->rest[k + 1]);
        if ((bal > lb ? bal : lb) < b->ub && balance_bound(b, k + 1, ne, nx) < b->ub)
            bnb_search(b, k + 1, ne, nx, nt);
        while (b->nundo > mark) {
            int u = b->undo[--b->nundo];
            b->paid[u / 2] &= (unsigned char)~(1u << (u % 2));
        }
        if (b->stopped)
            return;
    }
}

cleave_status plan_tput_bnb(const plan_problem *p, int64_t budget, const plan_tput_result *dsh,
                            plan_tput_result *out, char *err, size_t errlen)
{
    cleave_status st;
    if (dsh) { /* dsh's result for P, given: start from a copy */
        if ((st = plan_check_call(p, out ? &out->r : NULL, err, errlen)) != CLEAVE_OK)
            return st;
        unsigned char *keep = out->r.on_edge;
        *out = *dsh;
        out->r.on_edge = keep;
        memcpy(keep, dsh->r.on_edge, (size_t)p->n);
    } else if ((st = plan_tput_dsh(p, out, err, errlen)) != CLEAVE_OK) {
        return st;
    }
    if (out->r.exact) {
        out->ratio = 1.0;
        plan_errf(out->r.note, sizeof out->r.note,
                  "dsh's plan meets its lower bound: no search needed");
        return CLEAVE_OK;
    }
    int n = p->n, nt = p->ntensors, nin = p->cons_off[nt];
    struct bnb b = {.p = p, .best = out->r.on_edge, .ub = out->st.bottleneck_us, .budget = budget};
    b.in_off = calloc((size_t)n + 2, sizeof(int));
    b.in = malloc(sizeof(int) * ((size_t)nin + 1));
    b.out_off = calloc((size_t)n + 2, sizeof(int));
    b.outs = malloc(sizeof(int) * ((size_t)nt + 1));
    b.rest = malloc(sizeof(double) * ((size_t)n + 1));
    b.rest_edge = malloc(sizeof(double) * ((size_t)n + 1));
    b.order = malloc(sizeof(struct ratio) * ((size_t)n + 1));
    b.side = calloc((size_t)n + 1, 1);
    b.paid = calloc((size_t)nt + 1, 1);
    b.undo = malloc(sizeof(int) * (2 * (size_t)nt + 1));
    if (!b.in_off || !b.in || !b.out_off || !b.outs || !b.rest || !b.rest_edge || !b.order ||
        !b.side || !b.paid || !b.undo) {
        st = CLEAVE_ENOMEM;
        plan_errf(err, errlen, "cannot search placements: out of memory");
        goto done;
    }
    /* CSR by counting into slot v + 2, prefix sums, then placing through slot v + 1 */
    for (int t = 0; t < nt; t++) {
        for (int j = p->cons_off[t]; j < p->cons_off[t + 1]; j++)
            b.in_off[p->cons[j] + 2]++;
        if (p->producer[t] >= 0 && p->is_output && p->is_output[t])
            b.out_off[p->producer[t] + 2]++;
    }
    for (int v = 2; v <= n + 1; v++) {
        b.in_off[v] += b.in_off[v - 1];
        b.out_off[v] += b.out_off[v - 1];
    }
    for (int t = 0; t < nt; t++) {
        for (int j = p->cons_off[t]; j < p->cons_off[t + 1]; j++)
            b.in[b.in_off[p->cons[j] + 1]++] = t;
        if (p->producer[t] >= 0 && p->is_output && p->is_output[t])
            b.outs[b.out_off[p->producer[t] + 1]++] = t;
    }
    b.rest[n] = b.rest_edge[n] = 0.0;
    for (int v = n - 1; v >= 0; v--) {
        b.rest[v] = b.rest[v + 1] + (p->t_end[v] < p->t_edge[v] ? p->t_end[v] : p->t_edge[v]);
        b.rest_edge[v] = b.rest_edge[v + 1] + p->t_edge[v];
    }
    for (int v = 0; v < n; v++)
        if (p->t_end[v] + p->t_edge[v] > 0.0)
            b.order[b.norder++] = (struct ratio){p->t_end[v], p->t_edge[v], v};
    qsort(b.order, (size_t)b.norder, sizeof *b.order, ratio_cmp);
    double dsh_bottleneck = b.ub;
    int64_t dsh_evaluated = out->r.evaluated;
    bnb_search(&b, 0, 0.0, 0.0, 0.0);
    finish(p, out, PLAN_TPUT_SCOPE_ALL, b.stopped ? 3.0 : 1.0, 0);
    out->r.evaluated = dsh_evaluated + b.visits;
    if (!b.stopped) {
        out->r.exact = 1;
        out->lower_us = out->st.bottleneck_us;
        plan_errf(out->r.note, sizeof out->r.note,
                  "searched %lld partial placements: optimal (dsh's plan %s)", (long long)b.visits,
                  b.ub < dsh_bottleneck ? "improved" : "was optimal");
    } else {
        out->r.exact = meets(out->st.bottleneck_us, out->lower_us);
        plan_errf(out->r.note, sizeof out->r.note,
                  "search stopped after its budget (%lld partial placements): not proven "
                  "optimal (dsh's plan %s)",
                  (long long)b.visits, b.ub < dsh_bottleneck ? "improved" : "kept");
    }
    st = CLEAVE_OK;
done:
    free(b.in_off);
    free(b.in);
    free(b.out_off);
    free(b.outs);
    free(b.rest);
    free(b.rest_edge);
    free(b.order);
    free(b.side);
    free(b.paid);
    free(b.undo);
    return st;
}

/* ---- brute force -------------------------------------------------------------------------- */

cleave_status plan_tput_brute(const plan_problem *p, plan_tput_result *out, char *err,
                              size_t errlen)
{
    cleave_status st = plan_check_call(p, out ? &out->r : NULL, err, errlen);
    if (st != CLEAVE_OK)
        return st;
    if (p->n > PLAN_TPUT_BRUTE_MAX_NODES) {
        plan_errf(err, errlen, "brute force is limited to %d nodes, got %d",
                  PLAN_TPUT_BRUTE_MAX_NODES, p->n);
        return CLEAVE_EINVAL;
    }
    int n = p->n;
    unsigned char *x = calloc((size_t)n, 1);
    if (!x) {
        plan_errf(err, errlen, "cannot enumerate placements: out of memory");
        return CLEAVE_ENOMEM;
    }
    plan_stages bs, cs;
    double best_total, total;
    uint32_t steps = (uint32_t)1 << n, best_mask = 0, mask = 0;
    cost(p, x, &bs, &best_total);
    for (uint32_t g = 1; g < steps; g++) { /* reflected Gray code: one node flips per step */
        int v = __builtin_ctz(g);
        x[v] ^= 1;
        mask ^= (uint32_t)1 << v;
        cost(p, x, &cs, &total);
        if (plan_tput_better(&cs, total, &bs, best_total)) {
            bs = cs;
            best_total = total;
            best_mask = mask;
        }
    }
    free(x);
    reset(out);
    for (int i = 0; i < n; i++)
        out->r.on_edge[i] = (best_mask >> i) & 1u;
    finish(p, out, PLAN_TPUT_SCOPE_ALL, 1.0, 0);
    out->r.evaluated = (int64_t)steps;
    out->r.exact = 1;
    out->lower_us = out->st.bottleneck_us;
    plan_errf(out->r.note, sizeof out->r.note, "all %lu placements", (unsigned long)steps);
    return CLEAVE_OK;
}

/* ---- the table and the guarantee ---------------------------------------------------------- */

cleave_status plan_tput_run(plan_tput_algo a, const plan_problem *p,
                            const unsigned char *is_constant, plan_tput_result *out, char *err,
                            size_t errlen)
{
    switch (a) {
    case PLAN_TPUT_SPLIT: return plan_tput_split(p, out, err, errlen);
    case PLAN_TPUT_COUPER: return plan_tput_couper(p, is_constant, out, err, errlen);
    case PLAN_TPUT_DSH: return plan_tput_dsh(p, out, err, errlen);
    case PLAN_TPUT_BNB: return plan_tput_bnb(p, PLAN_TPUT_BNB_BUDGET, NULL, out, err, errlen);
    case PLAN_TPUT_BRUTE: return plan_tput_brute(p, out, err, errlen);
    default: break;
    }
    plan_errf(err, errlen, "unknown throughput method %d", (int)a);
    return CLEAVE_EINVAL;
}

void plan_tput_guarantee(const plan_tput_result *r, char *buf, size_t len)
{
    if (r->scope == PLAN_TPUT_SCOPE_SPLITS)
        plan_errf(buf, len, "optimal over the %d single splits", r->candidates);
    else if (r->scope == PLAN_TPUT_SCOPE_COUPER)
        plan_errf(buf, len, "optimal over Couper's %d slicing positions", r->candidates);
    else if (r->r.exact)
        plan_errf(buf, len, "optimal over all placements");
    else if (r->lower_us > 0.0)
        plan_errf(buf, len, "within %gx of the optimum (certified within %.4fx)", r->ratio,
                  r->st.bottleneck_us / r->lower_us);
    else
        plan_errf(buf, len, "within %gx of the optimum", r->ratio);
}
