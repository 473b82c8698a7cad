/*
** profiler/dnnl_rnn.c - the oneDNN backend for recurrent layers: lstm, gru and rnn, each one
** oneDNN RNN primitive (forward inference) prepared for timing.
**
** Cells, in oneDNN's definitions (gate order as in profiler/backend.h):
**   lstm  gates i, f, c~, o; c_t = f * c_{t-1} + i * c~, h_t = o * tanh(c_t)  (no peephole)
**   gru   gates u, r, o; o = tanh(W_o x + U_o (r * h_{t-1}) + b_o),
**         h_t = u * h_{t-1} + (1 - u) * o  (vanilla GRU: ONNX linear_before_reset = 0)
**   rnn   one gate, h_t = tanh(W x + U h_{t-1} + b)
** Initial hidden and cell states are zero (src_iter / src_iter_c absent) and the final states
** are not requested (dst_iter absent): what a framework running one sequence does.
**
** Directions.  dirs = 1 is left-to-right; dirs = 2 is bidirectional_concat, whose output has
** 2k channels (forward then backward).  Stacked layers (layers > 1) need c == k: oneDNN has one
** weights_layer tensor (layers, dirs, c, gates, k) for all layers, so every layer's input must
** have the size of the first.  oneDNN would also accept layers > 1 with dirs = 2 when c == k,
** but it then runs the two directions as independent stacks (its developer guide, "RNN":
** bidirectional_concat "will process all the stacked layers from left2right and from
** right2left independently"), so layer l + 1 of one direction reads only the k channels of its
** own direction.  PyTorch and ONNX feed layer l + 1 with both directions (2k channels), so the
** catalogue rejects that combination rather than time a different network.
**
** Layouts.  src_layer and dst_layer are plain (t, n, c) as a framework hands them over; bias is
** plain (layers, dirs, gates, k).  weights_layer and weights_iter are created with format_tag
** any, so oneDNN picks the layout its fastest kernel wants; the plain ldigo tensors are
** reordered into it here, in prepare, as a deployed runtime does once at load time.  Should
** oneDNN pick a layout that cannot be reordered back to plain (rnn_packed, which the gemm-based
** "ref" implementation chooses for larger shapes, e.g. a GRU's weights_iter with n = 16,
** k = 512 on the avx512 build machine), a plain copy is kept so that read() still works.
**
** oneDNN's RNN always adds a bias (2.6 refuses to create a primitive without one), so a layer
** with bias = 0 gets a zero bias tensor, which reads back as zeros.
**
** Inputs are filled uniform in [-1, 1) from the seed in the order src_layer, weights_layer,
** weights_iter, bias (only when the layer has a bias).  The scratchpad is in user mode and
** allocated once; inference needs no workspace, but one is allocated if oneDNN asks for it.
** run() is one dnnl_primitive_execute() and one dnnl_stream_wait(), nothing else.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "profiler/backend.h"
#include "profiler/dnnl_util.h"

/* Execution arguments: src_layer, weights_layer, weights_iter, bias, dst_layer, scratchpad,
** workspace. */
#define RNN_MAX_ARGS 7

/* Tensors in fill order; the index doubles as the slot in rnn_kernel.t. */
enum { R_SRC, R_WEIGHTS, R_WEIGHTS_ITER, R_BIAS, R_DST, R_COUNT };

/* One tensor: its memory in the layout the primitive uses, the plain layout read() converts it
** to, and (only when that layout cannot be reordered back to plain) a plain copy of the data.
** ARG is its oneDNN execution argument. */
typedef struct rnn_tensor {
    int arg;
    dnnl_memory_desc_t plain;
    dnnl_memory_t mem;        /* owned */
    dnnl_memory_t plain_copy; /* owned, NULL unless needed */
} rnn_tensor;

typedef struct rnn_kernel {
    prof_kernel base; /* first: prof_kernel * and rnn_kernel * convert both ways */
    dnnl_stream_t stream;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_memory_t scratchpad, workspace; /* owned, NULL when not needed */
    rnn_tensor t[R_COUNT];
    int nargs;
    dnnl_exec_arg_t args[RNN_MAX_ARGS];
    char errmsg[160]; /* why the last run() or read() failed: read() has no err buffer */
} rnn_kernel;

/* Number of gates of recurrent layer TYPE in oneDNN's cells: lstm 4, gru 3, rnn 1. */
static int rnn_gates(cleave_layer_type type)
{
    return type == CLEAVE_LAYER_LSTM ? 4 : type == CLEAVE_LAYER_GRU ? 3 : 1;
}

/* Append argument ARG = MEM to K's execution arguments. */
static void add_arg(rnn_kernel *k, int arg, dnnl_memory_t mem)
{
    k->args[k->nargs].arg = arg;
    k->args[k->nargs].memory = mem;
    k->nargs++;
}

/* Initialise *MD as an f32 tensor of NDIMS dims whose layout oneDNN chooses (format_tag any). */
static cleave_status any_md(dnnl_memory_desc_t *md, int ndims, const int64_t *dims, char *err,
                            size_t errlen)
{
    dnnl_dims_t d;
    for (int i = 0; i < ndims; i++)
        d[i] = dims[i];
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(md, ndims, d, dnnl_f32, dnnl_format_tag_any);
    if (s != dnnl_success)
        return prof_dnnl_fail(s, "memory descriptor", err, errlen);
    return CLEAVE_OK;
}

/* Create the operation and primitive descriptors of K's layer into K->pd, from the plain
** descriptors already in K->t and weights descriptors with format any.  Returns CLEAVE_OK or
** the translated oneDNN failure (CLEAVE_EUNSUPPORTED when oneDNN has no implementation). */
static cleave_status build_pd(rnn_kernel *k, dnnl_engine_t eng, char *err, size_t errlen)
{
    const cleave_layer *l = &k->base.layer;
    const int64_t g = rnn_gates(l->type);
    const int64_t wl_dims[5] = {l->layers, l->dirs, l->c, g, l->k};
    const int64_t wi_dims[5] = {l->layers, l->dirs, l->k, g, l->k};
    const dnnl_rnn_direction_t dir =
        l->dirs == 2 ? dnnl_bidirectional_concat : dnnl_unidirectional_left2right;
    const dnnl_memory_desc_t *src = &k->t[R_SRC].plain, *bias = &k->t[R_BIAS].plain;
    const dnnl_memory_desc_t *dst = &k->t[R_DST].plain;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t wl, wi;
    dnnl_rnn_desc_t d;
    dnnl_status_t s;
    const char *what = "rnn descriptor";
    cleave_status rc;

    if ((rc = any_md(&wl, 5, wl_dims, err, errlen)) || (rc = any_md(&wi, 5, wi_dims, err, errlen)))
        return rc;
    /* NULL src_iter / src_iter_c: zero initial state; NULL dst_iter: not computed. */
    switch (l->type) {
    case CLEAVE_LAYER_LSTM:
        what = "lstm descriptor";
        s = dnnl_lstm_forward_desc_init(&d, dnnl_forward_inference, dir, src, NULL, NULL, &wl, &wi,
                                        bias, dst, NULL, NULL, 0);
        break;
    case CLEAVE_LAYER_GRU:
        what = "gru descriptor";
        s = dnnl_gru_forward_desc_init(&d, dnnl_forward_inference, dir, src, NULL, &wl, &wi, bias,
                                       dst, NULL, 0);
        break;
    case CLEAVE_LAYER_RNN:
        what = "vanilla rnn descriptor";
        s = dnnl_vanilla_rnn_forward_desc_init(&d, dnnl_forward_inference, dnnl_eltwise_tanh, dir,
                                               src, NULL, &wl, &wi, bias, dst, NULL, 0, 0.0f, 0.0f);
        break;
    default: {
        const char *name = cleave_layer_type_name(l->type);
        snprintf(err, errlen, "layer type '%s' is not handled by the oneDNN recurrent backend",
                 name ? name : "?");
        return CLEAVE_EUNSUPPORTED;
    }
    }
    if (s != dnnl_success)
        return prof_dnnl_fail(s, what, err, errlen);

    /* User scratchpad: allocated once in prepare instead of by the library on every run. */
    s = dnnl_primitive_attr_create(&attr);
    if (s != dnnl_success)
        return prof_dnnl_fail(s, "primitive attributes", err, errlen);
    s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success) {
        s = dnnl_primitive_desc_create(&k->pd, &d, attr, eng, NULL);
        if (s != dnnl_success) {
            k->pd = NULL;
            rc = prof_dnnl_fail(s, "rnn primitive descriptor", err, errlen);
        }
    } else {
        rc = prof_dnnl_fail(s, "primitive attributes", err, errlen);
    }
    dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Whether memory in layout MD can be reordered into the plain layout PLAIN (read-back). */
static int can_read_back(const dnnl_memory_desc_t *md, const dnnl_memory_desc_t *plain,
                         dnnl_engine_t eng)
{
    dnnl_primitive_desc_t rpd = NULL;
    if (dnnl_memory_desc_equal(md, plain))
        return 1;
    if (dnnl_reorder_primitive_desc_create(&rpd, md, eng, plain, eng, NULL) != dnnl_success)
        return 0;
    dnnl_primitive_desc_destroy(rpd);
    return 1;
}

/* Create the memory of tensor T in the layout the primitive descriptor wants for its argument.
** Inputs (FILL) are filled uniform in [-1, 1) from *SEED as if in plain order; outputs and an
** absent bias are zeroed.  When the chosen layout cannot be read back, the same values are
** also kept in a plain copy (drawn again from the seed state saved before the fill). */
static cleave_status tensor_alloc(rnn_kernel *k, rnn_tensor *t, int fill, uint64_t *seed,
                                  dnnl_engine_t eng, char *err, size_t errlen)
{
    const dnnl_memory_desc_t *md =
        dnnl_primitive_desc_query_md(k->pd, dnnl_query_exec_arg_md, t->arg);
    uint64_t saved = *seed;
    cleave_status rc;

    if (!md || md->ndims == 0) {
        snprintf(err, errlen, "oneDNN primitive descriptor has no memory for argument %d", t->arg);
        return CLEAVE_EBACKEND;
    }
    if (fill)
        rc = prof_dnnl_mem_filled(&t->mem, md, &t->plain, seed, -1.0f, 1.0f, err, errlen);
    else
        rc = prof_dnnl_mem_zero(&t->mem, md, err, errlen);
    if (rc != CLEAVE_OK)
        return rc;
    add_arg(k, t->arg, t->mem);
    if (!can_read_back(md, &t->plain, eng)) {
        if (fill)
            rc = prof_dnnl_mem_filled(&t->plain_copy, &t->plain, NULL, &saved, -1.0f, 1.0f, err,
                                      errlen);
        else
            rc = prof_dnnl_mem_zero(&t->plain_copy, &t->plain, err, errlen);
    }
    return rc;
}

/* Create the memory for an optional buffer the primitive asks for (QUERY: the scratchpad or a
** workspace), zero-filled, once; *MEM stays NULL when it is not needed. */
static cleave_status extra_alloc(rnn_kernel *k, dnnl_query_t query, int arg, dnnl_memory_t *mem,
                                 char *err, size_t errlen)
{
    cleave_status rc = prof_dnnl_extra_alloc(k->pd, query, mem, err, errlen);
    if (rc == CLEAVE_OK && *mem)
        add_arg(k, arg, *mem);
    return rc;
}

static cleave_status rnn_run(prof_kernel *pk)
{
    rnn_kernel *k = (rnn_kernel *)pk;
    return prof_dnnl_execute(k->prim, k->stream, k->nargs, k->args, k->errmsg, sizeof k->errmsg);
}

/* Copy tensor ROLE/IDX in its plain layout (backend.h: src and dst (t, n, c), weights ldigo,
** bias ldgo) into DST (N floats).  Roles a recurrent layer does not have, an index other than
** 0 or a wrong count are CLEAVE_EINVAL; the message is kept on the kernel (errmsg). */
static cleave_status rnn_read(prof_kernel *pk, prof_role role, int idx, float *dst, size_t n)
{
    static const struct {
        prof_role role;
        int t;
        const char *name;
    } map[] = {{PROF_SRC, R_SRC, "source"},
               {PROF_WEIGHTS, R_WEIGHTS, "weights"},
               {PROF_WEIGHTS_ITER, R_WEIGHTS_ITER, "recurrent weights"},
               {PROF_BIAS, R_BIAS, "bias"},
               {PROF_DST, R_DST, "destination"}};
    rnn_kernel *k = (rnn_kernel *)pk;
    const char *type = cleave_layer_type_name(pk->layer.type);
    const rnn_tensor *t = NULL;
    const char *name = "such";

    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].role == role) {
            name = map[i].name;
            if (idx == 0)
                t = &k->t[map[i].t];
        }
    if (!t || !t->mem) {
        snprintf(k->errmsg, sizeof k->errmsg, "layer '%s' has no %s tensor %d", type ? type : "?",
                 name, idx);
        return CLEAVE_EINVAL;
    }
    return prof_dnnl_read(t->plain_copy ? t->plain_copy : t->mem, &t->plain, dst, n, k->errmsg,
                          sizeof k->errmsg);
}

/* Replace the source (t, n, c) with SRC; see backend.h. */
static cleave_status rnn_write(prof_kernel *pk, prof_role role, int idx, const float *src, size_t n,
                               char *err, size_t errlen)
{
    rnn_kernel *k = (rnn_kernel *)pk;
    rnn_tensor *t = &k->t[R_SRC];
    const char *type = cleave_layer_type_name(pk->layer.type);
    if (role != PROF_SRC || idx != 0 || !t->mem) {
        snprintf(err, errlen, "layer '%s' has no input tensor %d", type ? type : "?", idx);
        return CLEAVE_EINVAL;
    }
    cleave_status rc = prof_dnnl_write(t->mem, &t->plain, src, n, err, errlen);
    if (rc == CLEAVE_OK && t->plain_copy)
        rc = prof_dnnl_write(t->plain_copy, &t->plain, src, n, err, errlen);
    return rc;
}

static void rnn_release(prof_kernel *pk)
{
    rnn_kernel *k = (rnn_kernel *)pk;
    if (!k)
        return;
    if (k->prim)
        dnnl_primitive_destroy(k->prim);
    if (k->pd)
        dnnl_primitive_desc_destroy(k->pd);
    for (int i = 0; i < R_COUNT; i++) {
        if (k->t[i].mem)
            dnnl_memory_destroy(k->t[i].mem);
        if (k->t[i].plain_copy)
            dnnl_memory_destroy(k->t[i].plain_copy);
    }
    if (k->scratchpad)
        dnnl_memory_destroy(k->scratchpad);
    if (k->workspace)
        dnnl_memory_destroy(k->workspace);
    free(k);
}

/* No native() here: recurrent layers convert through read() and write(). */
static const struct prof_kernel_ops rnn_ops = {rnn_run, rnn_read, rnn_write, NULL, rnn_release};

/* Prepare recurrent layer L (validated) on oneDNN for THREADS threads; see backend.h for the
** contract.  Order matters: the thread count is set before any primitive descriptor exists,
** the descriptor is built (choosing the weights layouts), then every memory is created in the
** chosen layout and filled, then the scratchpad and workspace, and finally the primitive. */
cleave_status prof_dnnl_rnn_prepare(prof_kernel **out, const cleave_layer *l, int threads,
                                    uint64_t seed, char *err, size_t errlen)
{
    static char dummy[1];
    rnn_kernel *k = NULL;
    dnnl_engine_t eng = NULL;
    uint64_t state = seed;
    cleave_status rc = CLEAVE_OK;

    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    *out = NULL;
    k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errlen, "cannot allocate a oneDNN recurrent kernel: out of memory");
        return CLEAVE_ENOMEM;
    }
    k->base.ops = &rnn_ops;
    k->base.layer = *l;
    k->base.threads = threads;
    k->base.backend = "onednn";
    if ((rc = prof_dnnl_engine(&eng, &k->stream, err, errlen)))
        goto done;
    prof_dnnl_set_threads(threads);

    if (l->dirs != 1 && l->dirs != 2) {
        snprintf(err, errlen, "recurrent layer: dirs must be 1 or 2, got %lld", (long long)l->dirs);
        rc = CLEAVE_EINVAL;
        goto done;
    }
    if (l->layers > 1 && (l->c != l->k || l->dirs != 1)) {
        snprintf(err, errlen,
                 "stacked recurrent layers need c == k and dirs=1 (got c=%lld k=%lld "
                 "dirs=%lld)",
                 (long long)l->c, (long long)l->k, (long long)l->dirs);
        rc = CLEAVE_EINVAL;
        goto done;
    }

    {
        const int64_t g = rnn_gates(l->type);
        const int64_t src_dims[3] = {l->t, l->n, l->c};
        const int64_t wl_dims[5] = {l->layers, l->dirs, l->c, g, l->k};
        const int64_t wi_dims[5] = {l->layers, l->dirs, l->k, g, l->k};
        const int64_t b_dims[4] = {l->layers, l->dirs, g, l->k};
        const int64_t dst_dims[3] = {l->t, l->n, l->dirs * l->k};
        k->t[R_SRC].arg = DNNL_ARG_SRC_LAYER;
        k->t[R_WEIGHTS].arg = DNNL_ARG_WEIGHTS_LAYER;
        k->t[R_WEIGHTS_ITER].arg = DNNL_ARG_WEIGHTS_ITER;
        k->t[R_BIAS].arg = DNNL_ARG_BIAS;
        k->t[R_DST].arg = DNNL_ARG_DST_LAYER;
        if ((rc = prof_dnnl_plain_md(&k->t[R_SRC].plain, 3, src_dims, err, errlen)) ||
            (rc = prof_dnnl_plain_md(&k->t[R_WEIGHTS].plain, 5, wl_dims, err, errlen)) ||
            (rc = prof_dnnl_plain_md(&k->t[R_WEIGHTS_ITER].plain, 5, wi_dims, err, errlen)) ||
            (rc = prof_dnnl_plain_md(&k->t[R_BIAS].plain, 4, b_dims, err, errlen)) ||
            (rc = prof_dnnl_plain_md(&k->t[R_DST].plain, 3, dst_dims, err, errlen)))
            goto done;
    }
    if ((rc = build_pd(k, eng, err, errlen)))
        goto done;

    /* Inputs in the documented fill order (a bias only if the layer has one), then the output,
    ** then oneDNN's own buffers. */
    for (int i = 0; i < R_COUNT; i++) {
        int fill = i != R_DST && (i != R_BIAS || l->bias);
        if ((rc = tensor_alloc(k, &k->t[i], fill, &state, eng, err, errlen)))
            goto done;
    }
    if ((rc = extra_alloc(k, dnnl_query_scratchpad_md, DNNL_ARG_SCRATCHPAD, &k->scratchpad, err,
                          errlen)) ||
        (rc = extra_alloc(k, dnnl_query_workspace_md, DNNL_ARG_WORKSPACE, &k->workspace, err,
                          errlen)))
        goto done;

    dnnl_status_t s = dnnl_primitive_create(&k->prim, k->pd);
    if (s != dnnl_success) {
        k->prim = NULL;
        rc = prof_dnnl_fail(s, "primitive creation", err, errlen);
        goto done;
    }
    prof_dnnl_impl_name(k->pd, k->base.impl, sizeof k->base.impl);
done:
    if (rc) {
        rnn_release(&k->base);
        return rc;
    }
    *out = &k->base;
    return CLEAVE_OK;
}
