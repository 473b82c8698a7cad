/*
** runtime/exec.c - the executor: prepared kernels per node, plain tensor buffers between them.
*/
#include "runtime/exec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "profiler/backend.h"
#include "profiler/timing.h"

struct rt_exec {
    const plan_graph *g;
    uint64_t seed;
    int threads;
    unsigned char *local;  /* nnodes */
    prof_kernel **kernels; /* nnodes, NULL for zero-cost and remote nodes */
    float **data;          /* ntensors plain buffers */
    size_t *elems;         /* ntensors */
    int *native;           /* ntensors: node whose kernel output holds the value, or -1 */
    unsigned char *plain;  /* ntensors: data[t] holds the value */
    float *scratch;        /* broadcast expansion, scratch_elems floats */
    size_t scratch_elems;
};

/* The seed of node NODE's (or, with SALT, tensor T's) data: one splitmix64 step away from the
** run's seed, so neighbouring ids get unrelated streams. */
static uint64_t derived_seed(uint64_t seed, uint64_t salt, int id)
{
    uint64_t s = seed ^ (salt + (uint64_t)id * 0x9e3779b97f4a7c15ULL);
    return cl_rng_next(&s);
}

static size_t shape_elems(const cleave_shape *s)
{
    return (size_t)s->d[0] * (size_t)s->d[1] * (size_t)s->d[2] * (size_t)s->d[3];
}

/* Elements of kernel input IDX of layer L in its plain layout. */
static size_t kernel_in_elems(const cleave_layer *l, int idx)
{
    switch (l->type) {
    case CLEAVE_LAYER_LSTM:
    case CLEAVE_LAYER_GRU:
    case CLEAVE_LAYER_RNN: return (size_t)(l->t * l->n * l->c);
    case CLEAVE_LAYER_CONCAT: return (size_t)(l->n * l->cin[idx] * l->h * l->w);
    default: return (size_t)(l->n * l->c * l->h * l->w);
    }
}

/* Inputs the kernel of layer L has. */
static int kernel_inputs(const cleave_layer *l)
{
    switch (l->type) {
    case CLEAVE_LAYER_ADD:
    case CLEAVE_LAYER_MUL: return 2;
    case CLEAVE_LAYER_CONCAT: return l->ninputs;
    default: return 1;
    }
}

static int is_recurrent(cleave_layer_type t)
{
    return t == CLEAVE_LAYER_LSTM || t == CLEAVE_LAYER_GRU || t == CLEAVE_LAYER_RNN;
}

cleave_status rt_exec_create(rt_exec **out, const plan_graph *g, const unsigned char *local,
                             int threads, uint64_t seed, char *err, size_t errlen)
{
    rt_exec *x = NULL;
    cleave_status rc = CLEAVE_ENOMEM;
    *out = NULL;
    if (!g || !g->finished) {
        snprintf(err, errlen, "graph is not finished");
        return CLEAVE_EINVAL;
    }
    if (threads < 1) {
        snprintf(err, errlen, "thread count must be positive, got %d", threads);
        return CLEAVE_EINVAL;
    }
    x = calloc(1, sizeof *x);
    if (!x)
        goto nomem;
    x->g = g;
    x->seed = seed;
    x->threads = threads;
    x->local = calloc((size_t)g->nnodes, 1);
    x->kernels = calloc((size_t)g->nnodes, sizeof *x->kernels);
    x->data = calloc((size_t)g->ntensors, sizeof *x->data);
    x->elems = calloc((size_t)g->ntensors, sizeof *x->elems);
    x->native = malloc((size_t)g->ntensors * sizeof *x->native);
    x->plain = malloc((size_t)g->ntensors);
    if (!x->local || !x->kernels || !x->data || !x->elems || !x->native || !x->plain)
        goto nomem;
    memset(x->plain, 1, (size_t)g->ntensors);
    for (int t = 0; t < g->ntensors; t++) {
        x->native[t] = -1;
        x->elems[t] = shape_elems(&g->tensors[t].shape);
        x->data[t] = calloc(x->elems[t] ? x->elems[t] : 1, sizeof(float));
        if (!x->data[t])
            goto nomem;
    }
    for (int i = 0; i < g->nnodes; i++) {
        const plan_node *n = &g->nodes[g->order[i]];
        int id = g->order[i];
        x->local[id] = !local || local[id];
        if (!x->local[id] || (n->flags & PLAN_NODE_ZERO_COST))
            continue;
        char why[384];
        rc = prof_kernel_prepare(&x->kernels[id], &n->layer, threads,
                                 derived_seed(seed, 0x6e6f6465ULL, id), why, sizeof why);
        if (rc != CLEAVE_OK) {
            snprintf(err, errlen, "node '%s': %s", n->name, why);
            goto fail;
        }
        /* Broadcast inputs are expanded into scratch: size it for the largest add/mul. */
        if (n->layer.type == CLEAVE_LAYER_ADD || n->layer.type == CLEAVE_LAYER_MUL) {
            size_t e = kernel_in_elems(&n->layer, 0);
            if (e > x->scratch_elems)
                x->scratch_elems = e;
        }
    }
    if (x->scratch_elems) {
        x->scratch = malloc(x->scratch_elems * sizeof(float));
        if (!x->scratch)
            goto nomem;
    }
    *out = x;
    return CLEAVE_OK;
nomem:
    rc = CLEAVE_ENOMEM;
    snprintf(err, errlen, "cannot allocate the executor's tensors: out of memory");
fail:
    rt_exec_destroy(x);
    return rc;
}

void rt_exec_destroy(rt_exec *x)
{
    if (!x)
        return;
    if (x->kernels)
        for (int i = 0; i < x->g->nnodes; i++)
            prof_kernel_release(x->kernels[i]);
    if (x->data)
        for (int t = 0; t < x->g->ntensors; t++)
            free(x->data[t]);
    free(x->kernels);
    free(x->data);
    free(x->elems);
    free(x->native);
    free(x->plain);
    free(x->local);
    free(x->scratch);
    free(x);
}

/* Make data[T] hold T's value: read it out of the producing kernel if it is only there. */
static cleave_status materialize(rt_exec *x, int t)
{
    if (x->plain[t])
        return CLEAVE_OK;
    cleave_status rc =
        prof_kernel_read(x->kernels[x->native[t]], PROF_DST, 0, x->data[t], x->elems[t]);
    x->plain[t] = rc == CLEAVE_OK;
    return rc;
}

float *rt_exec_tensor(rt_exec *x, int t, size_t *elems)
{
    if (!x || t < 0 || t >= x->g->ntensors || materialize(x, t) != CLEAVE_OK)
        return NULL;
    if (elems)
        *elems = x->elems[t];
    /* The caller may write: from now on the plain buffer is the only copy. */
    x->native[t] = -1;
    return x->data[t];
}

void rt_exec_fill_inputs(rt_exec *x)
{
    for (int i = 0; i < x->g->ninputs; i++) {
        int t = x->g->inputs[i];
        uint64_t s = derived_seed(x->seed, 0x696e707574ULL, t);
        cl_rng_fill(x->data[t], x->elems[t], &s, -1.0f, 1.0f);
        x->plain[t] = 1;
        x->native[t] = -1;
    }
}

prof_kernel *rt_exec_kernel(const rt_exec *x, int node)
{
    if (!x || node < 0 || node >= x->g->nnodes)
        return NULL;
    return x->kernels[node];
}

const char *rt_exec_impl(const rt_exec *x, int node)
{
    if (!x || node < 0 || node >= x->g->nnodes || !x->local[node])
        return "";
    return x->kernels[node] ? x->kernels[node]->impl : "copy";
}

/* Expand SRC of shape S (every dimension equal to D's or 1) to the full shape D into DST. */
static void broadcast(float *dst, const int64_t d[4], const float *src, const int64_t s[4])
{
    size_t i = 0;
    for (int64_t a = 0; a < d[0]; a++)
        for (int64_t b = 0; b < d[1]; b++)
            for (int64_t c = 0; c < d[2]; c++)
                for (int64_t e = 0; e < d[3]; e++) {
                    int64_t ia = s[0] == 1 ? 0 : a, ib = s[1] == 1 ? 0 : b;
                    int64_t ic = s[2] == 1 ? 0 : c, ie = s[3] == 1 ? 0 : e;
                    dst[i++] = src[((ia * s[1] + ib) * s[2] + ic) * s[3] + ie];
                }
}

/* Write the node's input tensors into its kernel (see the top of exec.h). */
static cleave_status write_inputs(rt_exec *x, const plan_node *n, prof_kernel *k, char *err,
                                  size_t errlen)
{
    const cleave_layer *l = &n->layer;
    int nk = kernel_inputs(l);
    for (int i = 0; i < n->ninputs && i < nk; i++) {
        const plan_tensor *t = &x->g->tensors[n->inputs[i]];
        size_t want = kernel_in_elems(l, i), have = x->elems[n->inputs[i]];
        int tid = n->inputs[i];
        /* The producer's output is in the layout this kernel wants: copy it over as it is. */
        void *from, *to;
        size_t fb, tb;
        uint64_t fl, tl;
        if (x->native[tid] >= 0 && have == want &&
            prof_kernel_native(x->kernels[x->native[tid]], PROF_DST, 0, &from, &fb, &fl) == 0 &&
            prof_kernel_native(k, PROF_SRC, i, &to, &tb, &tl) == 0 && fl == tl && fb == tb) {
            memcpy(to, from, fb);
            continue;
        }
        cleave_status mrc = materialize(x, tid);
        if (mrc != CLEAVE_OK) {
            snprintf(err, errlen, "node '%s': cannot read input '%s' back", n->name, t->name);
            return mrc;
        }
        const float *src = x->data[tid];
        if (have != want) {
            if (n->flags & PLAN_NODE_UNKNOWN)
                return CLEAVE_OK; /* the stand-in keeps its seeded data */
            if (l->type != CLEAVE_LAYER_ADD && l->type != CLEAVE_LAYER_MUL) {
                snprintf(err, errlen,
                         "node '%s': input '%s' has %zu elements, the kernel takes %zu", n->name,
                         t->name, have, want);
                return CLEAVE_EINVAL;
            }
            const int64_t full[4] = {l->n, l->c, l->h, l->w};
            broadcast(x->scratch, full, src, t->shape.d);
            src = x->scratch;
        }
        char why[256];
        cleave_status rc = prof_kernel_write(k, PROF_SRC, i, src, want, why, sizeof why);
        if (rc != CLEAVE_OK) {
            snprintf(err, errlen, "node '%s': input '%s': %s", n->name, t->name, why);
            return rc;
        }
    }
    return CLEAVE_OK;
}

/* Read the kernel's output into the node's output tensor. */
static cleave_status read_output(rt_exec *x, const plan_node *n, prof_kernel *k, char *err,
                                 size_t errlen)
{
    const cleave_layer *l = &n->layer;
    cleave_shape os = cleave_layer_output_shape(l);
    size_t have = shape_elems(&os), want = x->elems[n->output];
    float *dst = x->data[n->output];
    cleave_status rc;

    void *ptr;
    size_t bytes;
    uint64_t layout;
    if (have == want && prof_kernel_native(k, PROF_DST, 0, &ptr, &bytes, &layout) == 0) {
        /* Leave it in the kernel; materialize() reads it when someone needs it plain. */
        x->native[n->output] = (int)(n - x->g->nodes);
        x->plain[n->output] = 0;
        return CLEAVE_OK;
    }
    x->native[n->output] = -1;
    x->plain[n->output] = 1;
    if (have == want) {
        rc = prof_kernel_read(k, PROF_DST, 0, dst, want);
    } else if (is_recurrent(l->type) && want == (size_t)(l->dirs * l->n * l->k)) {
        /* The last hidden state: (t, n, dirs*k) -> (dirs, n, k). */
        float *all = malloc(have * sizeof *all);
        if (!all) {
            snprintf(err, errlen, "node '%s': out of memory", n->name);
            return CLEAVE_ENOMEM;
        }
        rc = prof_kernel_read(k, PROF_DST, 0, all, have);
        for (int64_t d = 0; rc == CLEAVE_OK && d < l->dirs; d++) {
            int64_t step = d == 0 ? l->t - 1 : 0;
            for (int64_t b = 0; b < l->n; b++)
                memcpy(dst + (d * l->n + b) * l->k,
                       all + (step * l->n + b) * l->dirs * l->k + d * l->k,
                       (size_t)l->k * sizeof *dst);
        }
        free(all);
    } else {
        snprintf(err, errlen, "node '%s': output '%s' has %zu elements, the kernel gives %zu",
                 n->name, x->g->tensors[n->output].name, want, have);
        return CLEAVE_EINVAL;
    }
    if (rc != CLEAVE_OK)
        snprintf(err, errlen, "node '%s': cannot read its output back", n->name);
    return rc;
}

cleave_status rt_exec_run_node(rt_exec *x, int node, double *run_us, char *err, size_t errlen)
{
    if (run_us)
        *run_us = 0.0;
    if (node < 0 || node >= x->g->nnodes || !x->local[node]) {
        snprintf(err, errlen, "node %d is not run by this process", node);
        return CLEAVE_EINVAL;
    }
    const plan_node *n = &x->g->nodes[node];
    prof_kernel *k = x->kernels[node];
    if (!k) {
        /* Zero-cost: the output is the input, same elements in the same order. */
        if (n->ninputs < 1 || x->elems[n->inputs[0]] != x->elems[n->output]) {
            snprintf(err, errlen,
                     "node '%s': a zero-cost node needs one input of its output's size", n->name);
            return CLEAVE_EINVAL;
        }
        /* The value stays where it is: in the producer's kernel (reshape keeps the element
        ** order, and layout keys include the dims, so no consumer mistakes it for its own
        ** layout) or in the plain buffer. */
        int in = n->inputs[0];
        x->native[n->output] = x->native[in];
        x->plain[n->output] = x->plain[in];
        if (x->plain[in])
            memcpy(x->data[n->output], x->data[in], x->elems[n->output] * sizeof(float));
        return CLEAVE_OK;
    }
    cleave_status rc = write_inputs(x, n, k, err, errlen);
    if (rc != CLEAVE_OK)
        return rc;
    uint64_t t0 = prof_now_ns();
    rc = prof_kernel_run(k);
    uint64_t t1 = prof_now_ns();
    if (rc != CLEAVE_OK) {
        snprintf(err, errlen, "node '%s': %s run failed (%s)", n->name, k->impl,
                 cleave_status_name(rc));
        return rc;
    }
    if (run_us)
        *run_us = (double)(t1 - t0) / 1e3;
    return read_output(x, n, k, err, errlen);
}

cleave_status rt_exec_run_all(rt_exec *x, double *node_us, char *err, size_t errlen)
{
    for (int i = 0; i < x->g->nnodes; i++) {
        int id = x->g->order[i];
        if (!x->local[id])
            continue;
        cleave_status rc = rt_exec_run_node(x, id, node_us ? &node_us[id] : NULL, err, errlen);
        if (rc != CLEAVE_OK)
            return rc;
    }
    return CLEAVE_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double rt_median(double *v, int n)
{
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void rt_measure_release(rt_measure *m)
{
    if (!m)
        return;
    free(m->node_us);
    free(m->rep_compute_us);
    free(m->node_mean_us);
    free(m->node_p90_us);
    memset(m, 0, sizeof *m);
}

double rt_measure_stat(const rt_measure *m, int node, const char *stat)
{
    if (strcmp(stat, "median") == 0)
        return node < 0 ? m->compute_us : m->node_us[node];
    if (strcmp(stat, "mean") == 0)
        return node < 0 ? m->compute_mean_us : m->node_mean_us[node];
    if (strcmp(stat, "p90") == 0)
        return node < 0 ? m->compute_p90_us : m->node_p90_us[node];
    return NAN;
}

cleave_status rt_exec_measure(rt_exec *x, int warmup, int reps, rt_measure *m, char *err,
                              size_t errlen)
{
    const int nn = x->g->nnodes;
    cleave_status rc = CLEAVE_OK;
    double *per = NULL, *wall = NULL, *tmp = NULL;
    memset(m, 0, sizeof *m);
    if (reps < 1 || warmup < 0) {
        snprintf(err, errlen, "repetitions must be positive, got %d", reps);
        return CLEAVE_EINVAL;
    }
    m->reps = reps;
    m->node_us = calloc((size_t)nn, sizeof *m->node_us);
    m->node_mean_us = calloc((size_t)nn, sizeof *m->node_mean_us);
    m->node_p90_us = calloc((size_t)nn, sizeof *m->node_p90_us);
    m->rep_compute_us = calloc((size_t)reps, sizeof *m->rep_compute_us);
    per = calloc((size_t)nn * (size_t)reps, sizeof *per); /* per[node * reps + rep] */
    wall = calloc((size_t)reps, sizeof *wall);
    tmp = calloc((size_t)(nn > reps ? nn : reps), sizeof *tmp);
    if (!m->node_us || !m->node_mean_us || !m->node_p90_us || !m->rep_compute_us || !per || !wall ||
        !tmp) {
        snprintf(err, errlen, "out of memory");
        rc = CLEAVE_ENOMEM;
        goto done;
    }
    rt_exec_fill_inputs(x);
    for (int r = 0; r < warmup && rc == CLEAVE_OK; r++)
        rc = rt_exec_run_all(x, tmp, err, errlen);
    for (int r = 0; r < reps && rc == CLEAVE_OK; r++) {
        uint64_t t0 = prof_now_ns();
        rc = rt_exec_run_all(x, tmp, err, errlen);
        wall[r] = (double)(prof_now_ns() - t0) / 1e3;
        double sum = 0;
        for (int i = 0; i < nn; i++) {
            per[(size_t)i * (size_t)reps + (size_t)r] = tmp[i];
            sum += tmp[i];
        }
        m->rep_compute_us[r] = sum;
    }
    if (rc != CLEAVE_OK)
        goto done;
    prof_timing st;
    for (int i = 0; i < nn; i++) {
        prof_timing_stats(per + (size_t)i * (size_t)reps, reps, &st); /* sorts that row */
        m->node_us[i] = st.median_us;
        m->node_mean_us[i] = st.mean_us;
        m->node_p90_us[i] = st.p90_us;
    }
    memcpy(tmp, m->rep_compute_us, (size_t)reps * sizeof *tmp);
    prof_timing_stats(tmp, reps, &st);
    m->compute_us = st.median_us;
    m->compute_mean_us = st.mean_us;
    m->compute_p90_us = st.p90_us;
    m->wall_us = rt_median(wall, reps);
done:
    free(per);
    free(wall);
    free(tmp);
    if (rc != CLEAVE_OK)
        rt_measure_release(m);
    return rc;
}
