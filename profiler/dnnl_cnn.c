/*
** profiler/dnnl_cnn.c - the oneDNN backend for the CNN-style layers: conv, deconv, pool, fc, bn,
** act, lrn, softmax, add, mul and concat, each one oneDNN primitive prepared for timing.
**
** Layouts.  Convolution, deconvolution and inner product are created with format_tag any for
** source, weights and destination, so oneDNN picks the layouts its fastest kernel wants, exactly
** as a deployed runtime would after one-time weight and input reorders; those reorders happen
** here, in prepare, never in run().
**
** The other primitives (pool, bn, eltwise, lrn, softmax, binary, concat) cannot choose their
** source layout: it is whatever the producer hands them.  We give them channels-last (nhwc):
**  - it is what oneDNN's own convolutions hand them in a network on this class of machine
**    (2.6's brgemm convolutions choose nhwc for format any on AVX-512; the AVX2 jit kernels
**    choose nChw8c, and every primitive here has a jit nhwc kernel there too);
**  - plain nchw sends several of them to slow generic code (measured on AVX-512, 2 threads,
**    1x64x56x56: bn ncsp_bnorm 112 us vs bnorm_jit 22 us; max pool 118 us vs 41 us (on AVX2
**    nchw max pool is simple_nchw, 4 ms vs 126 us); softmax over channels of 1x21x64x64 ref
**    8 ms vs jit 67 us; concat of nchw inputs 220 us vs 22 us), while eltwise and binary run
**    at the same speed in either layout.
** Softmax is the one exception: 2.6's jit softmax needs the softmax axis innermost (else it
** falls back to the reference kernel), so its tensors are plain with the axis moved last -
** nhwc for the usual axis 1, plain nchw for axis 3.  Whatever the layout, read() returns the
** plain NCHW tensors of backend.h.
**
** Everything is allocated in prepare: memories for every argument, the scratchpad (user mode,
** allocated once) and any workspace, and the argument array run() passes to oneDNN.  run() is
** one dnnl_primitive_execute() and one dnnl_stream_wait(), nothing else.
**
** Inputs are filled uniform in [-1, 1) from the seed in a fixed order: source(s), weights, bias,
** then bn mean, variance (uniform in [0.5, 1.5), so it is positive), scale and shift.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "profiler/backend.h"
#include "profiler/dnnl_util.h"

/* Batch normalisation epsilon (include/cleave/layer.h: fixed at 1e-5). */
#define CNN_BN_EPS 1e-5f

/* Most arguments one primitive takes: the concat inputs plus dst, scratchpad and workspace
** (bn has eight, binary five). */
#define CNN_MAX_ARGS (CLEAVE_MAX_INPUTS + 4)

/* The layout a tensor is handed to the operation descriptor in (see the top of the file). */
typedef enum cnn_layout {
    LAY_PLAIN, /* row-major over the logical dims: 1-D tensors, softmax (axis moved last) */
    LAY_ANY,   /* oneDNN chooses: conv, deconv and fc src/weights/dst, concat dst */
    LAY_NHWC   /* channels-last: activations of the other primitives */
} cnn_layout;

/* One tensor a test can read back.  MD is the descriptor the operation is created with (it may
** say "any"), PLAIN the row-major layout filled from the seed and read back, MEM the memory in
** the layout the primitive descriptor settled on.  ARG is its oneDNN execution argument. */
typedef struct cnn_tensor {
    int present;
    int arg;
    dnnl_memory_desc_t md;
    dnnl_memory_desc_t plain;
    dnnl_memory_t mem; /* owned */
} cnn_tensor;

/* Parameter and output tensors, in fill order (backend.h's prof_role minus the recurrent and
** source ones). */
enum { T_WEIGHTS, T_BIAS, T_MEAN, T_VAR, T_SCALE, T_SHIFT, T_DST, T_COUNT };

typedef struct cnn_kernel {
    prof_kernel base; /* first: prof_kernel * and cnn_kernel * convert both ways */
    dnnl_stream_t stream;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_memory_t scratchpad, workspace; /* owned, NULL when not needed */
    dnnl_memory_t aux;                   /* owned: hardsigmoid's one-element alpha, else NULL */
    int aux_arg;                         /* its execution argument, 0 when there is none */
    float aux_value;
    int ninputs;
    cnn_tensor src[CLEAVE_MAX_INPUTS];
    cnn_tensor t[T_COUNT];
    int nargs;
    dnnl_exec_arg_t args[CNN_MAX_ARGS];
    char errmsg[160]; /* why the last run() or read() failed: they have no err buffer */
    prof_dnnl_xfer wr[CLEAVE_MAX_INPUTS], rd; /* cached write() of each input, read() of dst */
} cnn_kernel;

/* One oneDNN eltwise step of an activation: y = alg(alpha, beta)(x). */
typedef struct elt_step {
    dnnl_alg_kind_t alg;
    float alpha, beta;
} elt_step;

/* Translate activation KIND into at most two oneDNN eltwise steps applied in order; returns the
** number of steps (0 for CLEAVE_ACT_NONE), or -1 for an unknown kind.
**   relu     eltwise_relu, slope 0          relu6  clip_v2 [0, 6]
**   clip     clip_v2 [alpha, beta]          leaky  eltwise_relu with slope alpha
**   sigmoid  logistic                       tanh   tanh
**   hardswish  eltwise_hardswish: oneDNN 2.6's is x * relu6(x + 3) / 6, ONNX's HardSwish
**   hardsigmoid  max(0, min(1, alpha x + beta)): oneDNN 2.6 has no such algorithm (it came in
**              3.0), so linear(alpha, beta) followed by clip_v2 [0, 1].
** clip_v2 rather than clip: the same forward values, and the variant 2.6 recommends. */
static int act_steps(int kind, double alpha, double beta, elt_step steps[2])
{
    switch (kind) {
    case CLEAVE_ACT_NONE: return 0;
    case CLEAVE_ACT_RELU: steps[0] = (elt_step){dnnl_eltwise_relu, 0.0f, 0.0f}; return 1;
    case CLEAVE_ACT_RELU6: steps[0] = (elt_step){dnnl_eltwise_clip_v2, 0.0f, 6.0f}; return 1;
    case CLEAVE_ACT_CLIP:
        steps[0] = (elt_step){dnnl_eltwise_clip_v2, (float)alpha, (float)beta};
        return 1;
    case CLEAVE_ACT_SIGMOID: steps[0] = (elt_step){dnnl_eltwise_logistic, 0.0f, 0.0f}; return 1;
    case CLEAVE_ACT_TANH: steps[0] = (elt_step){dnnl_eltwise_tanh, 0.0f, 0.0f}; return 1;
    case CLEAVE_ACT_HARDSWISH: steps[0] = (elt_step){dnnl_eltwise_hardswish, 0.0f, 0.0f}; return 1;
    case CLEAVE_ACT_HARDSIGMOID:
        steps[0] = (elt_step){dnnl_eltwise_linear, (float)alpha, (float)beta};
        steps[1] = (elt_step){dnnl_eltwise_clip_v2, 0.0f, 1.0f};
        return 2;
    case CLEAVE_ACT_LEAKY: steps[0] = (elt_step){dnnl_eltwise_relu, (float)alpha, 0.0f}; return 1;
    default: return -1;
    }
}

/* Create *ATTR with the user scratchpad mode (so the scratchpad is allocated once, in prepare,
** instead of by the library on every execution) and eltwise post-ops STEPS[0..NSTEPS). */
static cleave_status make_attr(dnnl_primitive_attr_t *attr, const elt_step *steps, int nsteps,
                               char *err, size_t errlen)
{
    dnnl_post_ops_t ops = NULL;
    const char *what = "primitive attributes";
    dnnl_status_t s = dnnl_primitive_attr_create(attr);
    if (s != dnnl_success) {
        *attr = NULL;
        return prof_dnnl_fail(s, what, err, errlen);
    }
    s = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success && nsteps > 0) {
        what = "post-ops";
        s = dnnl_post_ops_create(&ops);
        if (s != dnnl_success)
            ops = NULL;
        for (int i = 0; i < nsteps && s == dnnl_success; i++)
            s = dnnl_post_ops_append_eltwise(ops, 1.0f, steps[i].alg, steps[i].alpha,
                                             steps[i].beta);
        if (s == dnnl_success)
            s = dnnl_primitive_attr_set_post_ops(*attr, ops);
    }
    if (ops)
        dnnl_post_ops_destroy(ops);
    if (s != dnnl_success) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
        return prof_dnnl_fail(s, what, err, errlen);
    }
    return CLEAVE_OK;
}

/* Mark tensor T present as execution argument ARG with logical dims DIMS[0..NDIMS), handed to
** the operation descriptor in layout LAY (LAY_NHWC needs four dims). */
static cleave_status tensor_init(cnn_tensor *t, int arg, int ndims, const int64_t *dims,
                                 cnn_layout lay, char *err, size_t errlen)
{
    dnnl_dims_t d;
    t->present = 1;
    t->arg = arg;
    cleave_status rc = prof_dnnl_plain_md(&t->plain, ndims, dims, err, errlen);
    if (rc != CLEAVE_OK || lay == LAY_PLAIN) {
        t->md = t->plain;
        return rc;
    }
    for (int i = 0; i < ndims; i++)
        d[i] = dims[i];
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(
        &t->md, ndims, d, dnnl_f32, lay == LAY_NHWC ? dnnl_nhwc : dnnl_format_tag_any);
    if (s != dnnl_success)
        return prof_dnnl_fail(s, "memory descriptor", err, errlen);
    return CLEAVE_OK;
}

/* Report a failed descriptor for primitive WHAT: "oneDNN WHAT descriptor failed: <status>". */
static cleave_status desc_fail(dnnl_status_t s, const char *what, char *err, size_t errlen)
{
    char name[64];
    snprintf(name, sizeof name, "%s descriptor", what);
    return prof_dnnl_fail(s, name, err, errlen);
}

/* Create the primitive descriptor K->pd from operation descriptor OP, naming WHAT on failure. */
static cleave_status make_pd(cnn_kernel *k, const void *op, const_dnnl_primitive_attr_t attr,
                             dnnl_engine_t eng, const char *what, char *err, size_t errlen)
{
    dnnl_status_t s = dnnl_primitive_desc_create(&k->pd, op, attr, eng, NULL);
    if (s != dnnl_success) {
        k->pd = NULL;
        return desc_fail(s, what, err, errlen);
    }
    return CLEAVE_OK;
}

/* Convolution or (DECONV) transposed convolution.  Weights are (g, k/g, c/g, kh, kw) when
** grouped and (k, c, kh, kw) otherwise (the same element order as g = 1); for the transposed
** case oneDNN's weights are likewise (output channel, input channel) per group (backend.h).
** oneDNN's dilation counts the gaps between taps, so dense is 0: pass dh - 1.  The direct
** algorithm is what deployed frameworks ask for (Winograd changes the numerics and covers only
** a few shapes). */
static cleave_status build_conv(cnn_kernel *k, int deconv, dnnl_engine_t eng, char *err,
                                size_t errlen)
{
    const cleave_layer *l = &k->base.layer;
    const char *what = deconv ? "deconvolution" : "convolution";
    dnnl_primitive_attr_t attr = NULL;
    elt_step steps[2];
    cleave_status rc = CLEAVE_OK;
    cleave_shape os = cleave_layer_output_shape(l);
    int64_t g = l->groups;
    int64_t src_dims[4] = {l->n, l->c, l->h, l->w};
    int64_t dst_dims[4] = {l->n, l->k, os.d[2], os.d[3]};
    int64_t w_dims[5] = {g, l->k / g, l->c / g, l->kh, l->kw};
    dnnl_dims_t strides = {l->sh, l->sw}, dil = {l->dh - 1, l->dw - 1};
    dnnl_dims_t pad_l = {l->pt, l->pl}, pad_r = {l->pb, l->pr};
    int nsteps = act_steps(l->act, l->alpha, l->beta, steps);
    cnn_tensor *w = &k->t[T_WEIGHTS], *b = &k->t[T_BIAS], *dst = &k->t[T_DST];

    if (nsteps < 0) {
        snprintf(err, errlen, "%s: unknown fused activation %d", what, l->act);
        return CLEAVE_EINVAL;
    }
    k->ninputs = 1;
    if ((rc = tensor_init(&k->src[0], DNNL_ARG_SRC, 4, src_dims, LAY_ANY, err, errlen)) ||
        (rc = tensor_init(w, DNNL_ARG_WEIGHTS, g > 1 ? 5 : 4, g > 1 ? w_dims : w_dims + 1, LAY_ANY,
                          err, errlen)) ||
        (rc = tensor_init(dst, DNNL_ARG_DST, 4, dst_dims, LAY_ANY, err, errlen)) ||
        (l->bias && (rc = tensor_init(b, DNNL_ARG_BIAS, 1, &l->k, LAY_PLAIN, err, errlen))) ||
        (rc = make_attr(&attr, steps, nsteps, err, errlen)))
        goto done;

    dnnl_status_t s;
    if (deconv) {
        dnnl_deconvolution_desc_t d;
        s = dnnl_dilated_deconvolution_forward_desc_init(
            &d, dnnl_forward_inference, dnnl_deconvolution_direct, &k->src[0].md, &w->md,
            l->bias ? &b->md : NULL, &dst->md, strides, dil, pad_l, pad_r);
        if (s == dnnl_success)
            rc = make_pd(k, &d, attr, eng, what, err, errlen);
    } else {
        dnnl_convolution_desc_t d;
        s = dnnl_dilated_convolution_forward_desc_init(
            &d, dnnl_forward_inference, dnnl_convolution_direct, &k->src[0].md, &w->md,
            l->bias ? &b->md : NULL, &dst->md, strides, dil, pad_l, pad_r);
        if (s == dnnl_success)
            rc = make_pd(k, &d, attr, eng, what, err, errlen);
    }
    if (s != dnnl_success)
        rc = desc_fail(s, what, err, errlen);
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Inner product over the input flattened to c*h*w features: oneDNN takes the 4-D source and
** (k, c, h, w) weights directly.  With h = w = 1 the natural 2-D (n, c) form is used, as a Gemm
** layer would be; the element order is the same either way. */
static cleave_status build_fc(cnn_kernel *k, dnnl_engine_t eng, char *err, size_t errlen)
{
    const cleave_layer *l = &k->base.layer;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_inner_product_desc_t d;
    elt_step steps[2];
    cleave_status rc = CLEAVE_OK;
    int64_t src_dims[4] = {l->n, l->c, l->h, l->w};
    int64_t w_dims[4] = {l->k, l->c, l->h, l->w};
    int64_t dst_dims[2] = {l->n, l->k};
    int nd = (l->h == 1 && l->w == 1) ? 2 : 4;
    int nsteps = act_steps(l->act, l->alpha, l->beta, steps);
    cnn_tensor *w = &k->t[T_WEIGHTS], *b = &k->t[T_BIAS], *dst = &k->t[T_DST];

    if (nsteps < 0) {
        snprintf(err, errlen, "inner product: unknown fused activation %d", l->act);
        return CLEAVE_EINVAL;
    }
    k->ninputs = 1;
    if ((rc = tensor_init(&k->src[0], DNNL_ARG_SRC, nd, src_dims, LAY_ANY, err, errlen)) ||
        (rc = tensor_init(w, DNNL_ARG_WEIGHTS, nd, w_dims, LAY_ANY, err, errlen)) ||
        (rc = tensor_init(dst, DNNL_ARG_DST, 2, dst_dims, LAY_ANY, err, errlen)) ||
        (l->bias && (rc = tensor_init(b, DNNL_ARG_BIAS, 1, &l->k, LAY_PLAIN, err, errlen))) ||
        (rc = make_attr(&attr, steps, nsteps, err, errlen)))
        goto done;
    dnnl_status_t s = dnnl_inner_product_forward_desc_init(
        &d, dnnl_forward_inference, &k->src[0].md, &w->md, l->bias ? &b->md : NULL, &dst->md);
    if (s != dnnl_success)
        rc = desc_fail(s, "inner product", err, errlen);
    else
        rc = make_pd(k, &d, attr, eng, "inner product", err, errlen);
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Max or average pooling (pooling_v2, no dilation).  Global pooling is a window covering the
** whole plane with stride 1 and no padding.  Max pooling treats padding as -infinity; the two
** averages divide by the taps inside the input (ONNX) or by the whole window (PyTorch). */
static cleave_status build_pool(cnn_kernel *k, dnnl_engine_t eng, char *err, size_t errlen)
{
    const cleave_layer *l = &k->base.layer;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_pooling_v2_desc_t d;
    cleave_status rc = CLEAVE_OK;
    cleave_shape os = cleave_layer_output_shape(l);
    int64_t src_dims[4] = {l->n, l->c, l->h, l->w};
    int64_t dst_dims[4] = {l->n, l->c, os.d[2], os.d[3]};
    dnnl_dims_t strides = {l->sh, l->sw}, kernel = {l->kh, l->kw}, dil = {0, 0};
    dnnl_dims_t pad_l = {l->pt, l->pl}, pad_r = {l->pb, l->pr};
    dnnl_alg_kind_t alg;

    switch (l->kind) {
    case CLEAVE_POOL_MAX: alg = dnnl_pooling_max; break;
    case CLEAVE_POOL_AVG: alg = dnnl_pooling_avg_exclude_padding; break;
    case CLEAVE_POOL_AVG_PAD: alg = dnnl_pooling_avg_include_padding; break;
    default: snprintf(err, errlen, "pooling: unknown kind %d", l->kind); return CLEAVE_EINVAL;
    }
    if (l->global) {
        strides[0] = strides[1] = 1;
        kernel[0] = l->h;
        kernel[1] = l->w;
        pad_l[0] = pad_l[1] = pad_r[0] = pad_r[1] = 0;
        dst_dims[2] = dst_dims[3] = 1;
    }
    k->ninputs = 1;
    if ((rc = tensor_init(&k->src[0], DNNL_ARG_SRC, 4, src_dims, LAY_NHWC, err, errlen)) ||
        (rc = tensor_init(&k->t[T_DST], DNNL_ARG_DST, 4, dst_dims, LAY_NHWC, err, errlen)) ||
        (rc = make_attr(&attr, NULL, 0, err, errlen)))
        goto done;
    dnnl_status_t s =
        dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_inference, alg, &k->src[0].md,
                                          &k->t[T_DST].md, strides, kernel, dil, pad_l, pad_r);
    if (s != dnnl_success)
        rc = desc_fail(s, "pooling", err, errlen);
    else
        rc = make_pd(k, &d, attr, eng, "pooling", err, errlen);
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Batch normalisation for inference: y = scale (x - mean) / sqrt(var + eps) + shift with the
** stored statistics (use_global_stats) and separate per-channel scale and shift tensors
** (use_scale | use_shift, which 2.6 offers beside the older packed use_scaleshift). */
static cleave_status build_bn(cnn_kernel *k, dnnl_engine_t eng, char *err, size_t errlen)
{
    static const int stat_args[4] = {DNNL_ARG_MEAN, DNNL_ARG_VARIANCE, DNNL_ARG_SCALE,
                                     DNNL_ARG_SHIFT};
    const cleave_layer *l = &k->base.layer;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_batch_normalization_desc_t d;
    cleave_status rc = CLEAVE_OK;
    int64_t dims[4] = {l->n, l->c, l->h, l->w};

    k->ninputs = 1;
    if ((rc = tensor_init(&k->src[0], DNNL_ARG_SRC, 4, dims, LAY_NHWC, err, errlen)) ||
        (rc = tensor_init(&k->t[T_DST], DNNL_ARG_DST, 4, dims, LAY_NHWC, err, errlen)))
        goto done;
    for (int i = 0; i < 4; i++)
        if ((rc = tensor_init(&k->t[T_MEAN + i], stat_args[i], 1, &l->c, LAY_PLAIN, err, errlen)))
            goto done;
    if ((rc = make_attr(&attr, NULL, 0, err, errlen)))
        goto done;
    dnnl_status_t s = dnnl_batch_normalization_forward_desc_init(
        &d, dnnl_forward_inference, &k->src[0].md, CNN_BN_EPS,
        dnnl_use_global_stats | dnnl_use_scale | dnnl_use_shift);
    if (s != dnnl_success)
        rc = desc_fail(s, "batch normalization", err, errlen);
    else
        rc = make_pd(k, &d, attr, eng, "batch normalization", err, errlen);
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* An activation layer: one eltwise primitive, out of place so the source stays readable; kind
** none is a copy (linear 1, 0).
**
** Hardsigmoid has no eltwise algorithm in 2.6, and the jit eltwise kernels take no post-ops: an
** eltwise linear with a clip post-op runs in the reference kernel, 250 times slower than any
** other activation (1.8 ms vs 7 us on 1x64x56x56).  The cheapest one-pass formulation 2.6 runs
** in jit code is the binary primitive: y = x * alpha, alpha a broadcast one-element tensor, with
** the post-ops linear(1, beta) and clip_v2 [0, 1].  It reads x once and writes y once, as an
** eltwise kernel would. */
static cleave_status build_act(cnn_kernel *k, dnnl_engine_t eng, char *err, size_t errlen)
{
    const cleave_layer *l = &k->base.layer;
    dnnl_primitive_attr_t attr = NULL;
    elt_step steps[2];
    cleave_status rc = CLEAVE_OK;
    int64_t dims[4] = {l->n, l->c, l->h, l->w};
    int nsteps = act_steps(l->kind, l->alpha, l->beta, steps);
    dnnl_status_t s;

    if (nsteps < 0) {
        snprintf(err, errlen, "eltwise: unknown activation kind %d", l->kind);
        return CLEAVE_EINVAL;
    }
    if (nsteps == 0) {
        steps[0] = (elt_step){dnnl_eltwise_linear, 1.0f, 0.0f};
        nsteps = 1;
    }
    k->ninputs = 1;
    if ((rc = tensor_init(&k->src[0], DNNL_ARG_SRC, 4, dims, LAY_NHWC, err, errlen)) ||
        (rc = tensor_init(&k->t[T_DST], DNNL_ARG_DST, 4, dims, LAY_NHWC, err, errlen)))
        goto done;
    if (l->kind == CLEAVE_ACT_HARDSIGMOID) {
        const elt_step post[2] = {{dnnl_eltwise_linear, 1.0f, (float)l->beta},
                                  {dnnl_eltwise_clip_v2, 0.0f, 1.0f}};
        const int64_t one[4] = {1, 1, 1, 1};
        dnnl_memory_desc_t scalar_md;
        dnnl_binary_desc_t d;
        if ((rc = make_attr(&attr, post, 2, err, errlen)) ||
            (rc = prof_dnnl_plain_md(&scalar_md, 4, one, err, errlen)))
            goto done;
        k->aux_arg = DNNL_ARG_SRC_1;
        k->aux_value = (float)l->alpha;
        s = dnnl_binary_desc_init(&d, dnnl_binary_mul, &k->src[0].md, &scalar_md, &k->t[T_DST].md);
        if (s != dnnl_success)
            rc = desc_fail(s, "binary", err, errlen);
        else
            rc = make_pd(k, &d, attr, eng, "binary", err, errlen);
    } else {
        dnnl_eltwise_desc_t d;
        if ((rc = make_attr(&attr, steps + 1, nsteps - 1, err, errlen)))
            goto done;
        s = dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference, steps[0].alg, &k->src[0].md,
                                           steps[0].alpha, steps[0].beta);
        if (s != dnnl_success)
            rc = desc_fail(s, "eltwise", err, errlen);
        else
            rc = make_pd(k, &d, attr, eng, "eltwise", err, errlen);
    }
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Local response normalisation across channels.  oneDNN computes
** x / (k + alpha / size * sum of squares over the window)^beta, dividing alpha by the local
** size exactly as ONNX's LRN does, so the layer's alpha is passed unchanged.  For an odd size
** both windows are the (size - 1) / 2 channels either side.  For an even size they differ:
** ONNX sums channels c - (size-1)/2 .. c + size/2, oneDNN only c - (size-1)/2 .. c + (size-1)/2
** (and runs its reference kernel), so the layer cannot be computed as defined: unsupported. */
static cleave_status build_lrn(cnn_kernel *k, dnnl_engine_t eng, char *err, size_t errlen)
{
    const cleave_layer *l = &k->base.layer;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_lrn_desc_t d;
    cleave_status rc = CLEAVE_OK;
    int64_t dims[4] = {l->n, l->c, l->h, l->w};

    if (l->size < 1) {
        snprintf(err, errlen, "lrn: size %lld is not positive", (long long)l->size);
        return CLEAVE_EINVAL;
    }
    if (l->size % 2 == 0) {
        snprintf(err, errlen,
                 "lrn: even size %lld is not supported: oneDNN's window differs from ONNX's",
                 (long long)l->size);
        return CLEAVE_EUNSUPPORTED;
    }
    k->ninputs = 1;
    if ((rc = tensor_init(&k->src[0], DNNL_ARG_SRC, 4, dims, LAY_NHWC, err, errlen)) ||
        (rc = tensor_init(&k->t[T_DST], DNNL_ARG_DST, 4, dims, LAY_NHWC, err, errlen)) ||
        (rc = make_attr(&attr, NULL, 0, err, errlen)))
        goto done;
    dnnl_status_t s = dnnl_lrn_forward_desc_init(&d, dnnl_forward_inference,
                                                 dnnl_lrn_across_channels, &k->src[0].md, l->size,
                                                 (float)l->alpha, (float)l->beta, (float)l->lrn_k);
    if (s != dnnl_success)
        rc = desc_fail(s, "lrn", err, errlen);
    else
        rc = make_pd(k, &d, attr, eng, "lrn", err, errlen);
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Initialise *MD as the dense f32 layout of DIMS[0..4) whose innermost dimension is AXIS and
** whose other dimensions keep their order (axis 1: nhwc; axis 3: nchw). */
static cleave_status axis_last_md(dnnl_memory_desc_t *md, const int64_t *dims, int axis, char *err,
                                  size_t errlen)
{
    dnnl_dims_t d, strides;
    int64_t stride = dims[axis];
    strides[axis] = 1;
    for (int i = 3; i >= 0; i--) {
        d[i] = dims[i];
        if (i != axis) {
            strides[i] = stride;
            stride *= dims[i];
        }
    }
    dnnl_status_t s = dnnl_memory_desc_init_by_strides(md, 4, d, dnnl_f32, strides);
    if (s != dnnl_success)
        return prof_dnnl_fail(s, "memory descriptor", err, errlen);
    return CLEAVE_OK;
}

/* Softmax along the layer's axis (softmax_v2, the accurate algorithm: max-subtracted), on
** tensors whose innermost dimension is that axis (see the top of the file). */
static cleave_status build_softmax(cnn_kernel *k, dnnl_engine_t eng, char *err, size_t errlen)
{
    const cleave_layer *l = &k->base.layer;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_softmax_v2_desc_t d;
    cleave_status rc = CLEAVE_OK;
    int64_t dims[4] = {l->n, l->c, l->h, l->w};

    if (l->axis < 0 || l->axis > 3) {
        snprintf(err, errlen, "softmax: axis %d is not 0..3", l->axis);
        return CLEAVE_EINVAL;
    }
    k->ninputs = 1;
    if ((rc = tensor_init(&k->src[0], DNNL_ARG_SRC, 4, dims, LAY_PLAIN, err, errlen)) ||
        (rc = tensor_init(&k->t[T_DST], DNNL_ARG_DST, 4, dims, LAY_PLAIN, err, errlen)) ||
        (rc = axis_last_md(&k->src[0].md, dims, l->axis, err, errlen)) ||
        (rc = axis_last_md(&k->t[T_DST].md, dims, l->axis, err, errlen)) ||
        (rc = make_attr(&attr, NULL, 0, err, errlen)))
        goto done;
    dnnl_status_t s = dnnl_softmax_v2_forward_desc_init(
        &d, dnnl_forward_inference, dnnl_softmax_accurate, &k->src[0].md, &k->t[T_DST].md, l->axis);
    if (s != dnnl_success)
        rc = desc_fail(s, "softmax", err, errlen);
    else
        rc = make_pd(k, &d, attr, eng, "softmax", err, errlen);
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Elementwise sum or product of two tensors of the same shape (binary primitive). */
static cleave_status build_binary(cnn_kernel *k, dnnl_alg_kind_t alg, dnnl_engine_t eng, char *err,
                                  size_t errlen)
{
    const cleave_layer *l = &k->base.layer;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_binary_desc_t d;
    cleave_status rc = CLEAVE_OK;
    int64_t dims[4] = {l->n, l->c, l->h, l->w};

    k->ninputs = 2;
    if ((rc = tensor_init(&k->src[0], DNNL_ARG_SRC_0, 4, dims, LAY_NHWC, err, errlen)) ||
        (rc = tensor_init(&k->src[1], DNNL_ARG_SRC_1, 4, dims, LAY_NHWC, err, errlen)) ||
        (rc = tensor_init(&k->t[T_DST], DNNL_ARG_DST, 4, dims, LAY_NHWC, err, errlen)) ||
        (rc = make_attr(&attr, NULL, 0, err, errlen)))
        goto done;
    dnnl_status_t s = dnnl_binary_desc_init(&d, alg, &k->src[0].md, &k->src[1].md, &k->t[T_DST].md);
    if (s != dnnl_success)
        rc = desc_fail(s, "binary", err, errlen);
    else
        rc = make_pd(k, &d, attr, eng, "binary", err, errlen);
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Concatenation of NINPUTS tensors (n, cin[i], h, w) along channels; oneDNN picks the
** destination layout. */
static cleave_status build_concat(cnn_kernel *k, dnnl_engine_t eng, char *err, size_t errlen)
{
    const cleave_layer *l = &k->base.layer;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t srcs[CLEAVE_MAX_INPUTS];
    cleave_status rc = CLEAVE_OK;
    int64_t c = 0;

    if (l->ninputs < 1 || l->ninputs > CLEAVE_MAX_INPUTS) {
        snprintf(err, errlen, "concat: %d inputs, not 1..%d", l->ninputs, CLEAVE_MAX_INPUTS);
        return CLEAVE_EINVAL;
    }
    k->ninputs = l->ninputs;
    for (int i = 0; i < l->ninputs; i++) {
        int64_t dims[4] = {l->n, l->cin[i], l->h, l->w};
        if ((rc = tensor_init(&k->src[i], DNNL_ARG_MULTIPLE_SRC + i, 4, dims, LAY_NHWC, err,
                              errlen)))
            goto done;
        srcs[i] = k->src[i].md;
        c += l->cin[i];
    }
    int64_t dst_dims[4] = {l->n, c, l->h, l->w};
    if ((rc = tensor_init(&k->t[T_DST], DNNL_ARG_DST, 4, dst_dims, LAY_ANY, err, errlen)) ||
        (rc = make_attr(&attr, NULL, 0, err, errlen)))
        goto done;
    dnnl_status_t s =
        dnnl_concat_primitive_desc_create(&k->pd, &k->t[T_DST].md, l->ninputs, 1, srcs, attr, eng);
    if (s != dnnl_success) {
        k->pd = NULL;
        rc = desc_fail(s, "concat", err, errlen);
    }
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Append argument ARG = MEM to K's execution arguments. */
static void add_arg(cnn_kernel *k, int arg, dnnl_memory_t mem)
{
    k->args[k->nargs].arg = arg;
    k->args[k->nargs].memory = mem;
    k->nargs++;
}

/* The memory descriptor K's primitive descriptor settled on for argument ARG, or NULL (with a
** message) if it has none. */
static const dnnl_memory_desc_t *arg_md(cnn_kernel *k, int arg, char *err, size_t errlen)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(k->pd, dnnl_query_exec_arg_md, arg);
    if (!md || md->ndims == 0) {
        snprintf(err, errlen, "oneDNN primitive descriptor has no memory for argument %d", arg);
        return NULL;
    }
    return md;
}

/* Create the memory of tensor T in the layout the primitive descriptor chose; inputs (FILL)
** are filled uniform in [LO, HI) from *SEED as if in plain order, outputs are zeroed. */
static cleave_status tensor_alloc(cnn_kernel *k, cnn_tensor *t, int fill, uint64_t *seed, float lo,
                                  float hi, char *err, size_t errlen)
{
    const dnnl_memory_desc_t *md = arg_md(k, t->arg, err, errlen);
    cleave_status rc;
    if (!md)
        return CLEAVE_EBACKEND;
    if (fill)
        rc = prof_dnnl_mem_filled(&t->mem, md, &t->plain, seed, lo, hi, err, errlen);
    else
        rc = prof_dnnl_mem_zero(&t->mem, md, err, errlen);
    if (rc == CLEAVE_OK)
        add_arg(k, t->arg, t->mem);
    return rc;
}

/* Create hardsigmoid's one-element alpha tensor (K->aux_arg), holding K->aux_value. */
static cleave_status aux_alloc(cnn_kernel *k, char *err, size_t errlen)
{
    const dnnl_memory_desc_t *md = arg_md(k, k->aux_arg, err, errlen);
    void *p = NULL;
    if (!md)
        return CLEAVE_EBACKEND;
    cleave_status rc = prof_dnnl_mem_zero(&k->aux, md, err, errlen);
    if (rc != CLEAVE_OK)
        return rc;
    dnnl_status_t s = dnnl_memory_get_data_handle(k->aux, &p);
    if (s != dnnl_success || !p)
        return prof_dnnl_fail(s, "memory access", err, errlen);
    *(float *)p = k->aux_value;
    add_arg(k, k->aux_arg, k->aux);
    return CLEAVE_OK;
}

/* Create the memory for an optional buffer the primitive asks for (QUERY: the scratchpad or a
** workspace), zero-filled, once; *MEM stays NULL when it is not needed. */
static cleave_status extra_alloc(cnn_kernel *k, dnnl_query_t query, int arg, dnnl_memory_t *mem,
                                 char *err, size_t errlen)
{
    cleave_status rc = prof_dnnl_extra_alloc(k->pd, query, mem, err, errlen);
    if (rc == CLEAVE_OK && *mem)
        add_arg(k, arg, *mem);
    return rc;
}

/* The timed part: one execution with the prebuilt arguments, waited for. */
static cleave_status cnn_run(prof_kernel *pk)
{
    cnn_kernel *k = (cnn_kernel *)pk;
    return prof_dnnl_execute(k->prim, k->stream, k->nargs, k->args, k->errmsg, sizeof k->errmsg);
}

/* Copy tensor ROLE/IDX in its plain layout (backend.h) into DST (N floats).  A role the layer
** does not have, a bad index or a wrong count is CLEAVE_EINVAL; the message is kept on the
** kernel (errmsg) because read() has no error buffer. */
static cleave_status cnn_read(prof_kernel *pk, prof_role role, int idx, float *dst, size_t n)
{
    static const struct {
        prof_role role;
        int t;
        const char *name;
    } map[] = {{PROF_WEIGHTS, T_WEIGHTS, "weights"}, {PROF_BIAS, T_BIAS, "bias"},
               {PROF_MEAN, T_MEAN, "mean"},          {PROF_VAR, T_VAR, "variance"},
               {PROF_SCALE, T_SCALE, "scale"},       {PROF_SHIFT, T_SHIFT, "shift"},
               {PROF_DST, T_DST, "output"}};
    cnn_kernel *k = (cnn_kernel *)pk;
    const char *type = cleave_layer_type_name(pk->layer.type);
    const cnn_tensor *t = NULL;
    const char *name = "such";

    if (role == PROF_SRC) {
        name = "input";
        if (idx >= 0 && idx < k->ninputs)
            t = &k->src[idx];
    } else {
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (map[i].role == role) {
                name = map[i].name;
                if (idx == 0)
                    t = &k->t[map[i].t];
            }
    }
    if (!t || !t->present || !t->mem) {
        snprintf(k->errmsg, sizeof k->errmsg, "layer '%s' has no %s tensor %d", type ? type : "?",
                 name, idx);
        return CLEAVE_EINVAL;
    }
    if (t == &k->t[T_DST]) /* the runtime reads every output on every pass: keep the reorder */
        return prof_dnnl_xfer_run(&k->rd, 0, t->mem, &t->plain, dst, n, k->errmsg,
                                  sizeof k->errmsg);
    return prof_dnnl_read(t->mem, &t->plain, dst, n, k->errmsg, sizeof k->errmsg);
}

/* Replace input IDX with SRC (plain NCHW); see backend.h. */
static cleave_status cnn_write(prof_kernel *pk, prof_role role, int idx, const float *src, size_t n,
                               char *err, size_t errlen)
{
    cnn_kernel *k = (cnn_kernel *)pk;
    const char *type = cleave_layer_type_name(pk->layer.type);
    if (role != PROF_SRC || idx < 0 || idx >= k->ninputs || !k->src[idx].mem) {
        snprintf(err, errlen, "layer '%s' has no input tensor %d", type ? type : "?", idx);
        return CLEAVE_EINVAL;
    }
    return prof_dnnl_xfer_run(&k->wr[idx], 1, k->src[idx].mem, &k->src[idx].plain, (float *)src, n,
                              err, errlen);
}

/* The memory of input IDX or of the output, keyed by its memory descriptor (dims, format,
** strides, blocking: the whole descriptor, so equal keys mean equal byte layouts); see
** backend.h. */
static int cnn_native(prof_kernel *pk, prof_role role, int idx, void **ptr, size_t *bytes,
                      uint64_t *layout)
{
    cnn_kernel *k = (cnn_kernel *)pk;
    const dnnl_memory_desc_t *md = NULL;
    dnnl_memory_t mem = role == PROF_DST                                   ? k->t[T_DST].mem
                        : role == PROF_SRC && idx >= 0 && idx < k->ninputs ? k->src[idx].mem
                                                                           : NULL;
    if (!mem || dnnl_memory_get_memory_desc(mem, &md) != dnnl_success ||
        dnnl_memory_get_data_handle(mem, ptr) != dnnl_success || !*ptr)
        return -1;
    *bytes = dnnl_memory_desc_get_size(md);
    *layout = prof_layout_hash(PROF_LAYOUT_SEED, md, sizeof *md);
    return 0;
}

/* Free K and everything it owns; tolerates a kernel that prepare left half built. */
static void cnn_release(prof_kernel *pk)
{
    cnn_kernel *k = (cnn_kernel *)pk;
    if (!k)
        return;
    if (k->prim)
        dnnl_primitive_destroy(k->prim);
    if (k->pd)
        dnnl_primitive_desc_destroy(k->pd);
    for (int i = 0; i < CLEAVE_MAX_INPUTS; i++)
        if (k->src[i].mem)
            dnnl_memory_destroy(k->src[i].mem);
    for (int i = 0; i < T_COUNT; i++)
        if (k->t[i].mem)
            dnnl_memory_destroy(k->t[i].mem);
    if (k->aux)
        dnnl_memory_destroy(k->aux);
    if (k->scratchpad)
        dnnl_memory_destroy(k->scratchpad);
    if (k->workspace)
        dnnl_memory_destroy(k->workspace);
    for (int i = 0; i < CLEAVE_MAX_INPUTS; i++)
        prof_dnnl_xfer_release(&k->wr[i]);
    prof_dnnl_xfer_release(&k->rd);
    free(k);
}

static const struct prof_kernel_ops cnn_ops = {cnn_run, cnn_read, cnn_write, cnn_native,
                                               cnn_release};

/* Prepare L (validated) on oneDNN for THREADS threads; see backend.h for the contract.  Order
** matters: the thread count is set before any primitive descriptor exists, the descriptor is
** built from the layer (oneDNN choosing layouts), then every memory is created in the chosen
** layout and filled, then the scratchpad and workspace, and last the primitive itself. */
cleave_status prof_dnnl_cnn_prepare(prof_kernel **out, const cleave_layer *l, int threads,
                                    uint64_t seed, char *err, size_t errlen)
{
    char dummy[8];
    cnn_kernel *k = NULL;
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
        snprintf(err, errlen, "cannot allocate a oneDNN kernel: out of memory");
        return CLEAVE_ENOMEM;
    }
    k->base.ops = &cnn_ops;
    k->base.layer = *l;
    k->base.threads = threads;
    k->base.backend = "onednn";
    if ((rc = prof_dnnl_engine(&eng, &k->stream, err, errlen)))
        goto done;
    prof_dnnl_set_threads(threads);

    switch (l->type) {
    case CLEAVE_LAYER_CONV:
    case CLEAVE_LAYER_DECONV:
        if (l->groups < 1 || l->c % l->groups || l->k % l->groups) {
            snprintf(err, errlen, "groups %lld do not divide channels %lld and %lld",
                     (long long)l->groups, (long long)l->c, (long long)l->k);
            rc = CLEAVE_EINVAL;
            goto done;
        }
        rc = build_conv(k, l->type == CLEAVE_LAYER_DECONV, eng, err, errlen);
        break;
    case CLEAVE_LAYER_POOL: rc = build_pool(k, eng, err, errlen); break;
    case CLEAVE_LAYER_FC: rc = build_fc(k, eng, err, errlen); break;
    case CLEAVE_LAYER_BN: rc = build_bn(k, eng, err, errlen); break;
    case CLEAVE_LAYER_ACT: rc = build_act(k, eng, err, errlen); break;
    case CLEAVE_LAYER_LRN: rc = build_lrn(k, eng, err, errlen); break;
    case CLEAVE_LAYER_SOFTMAX: rc = build_softmax(k, eng, err, errlen); break;
    case CLEAVE_LAYER_ADD: rc = build_binary(k, dnnl_binary_add, eng, err, errlen); break;
    case CLEAVE_LAYER_MUL: rc = build_binary(k, dnnl_binary_mul, eng, err, errlen); break;
    case CLEAVE_LAYER_CONCAT: rc = build_concat(k, eng, err, errlen); break;
    default: {
        const char *name = cleave_layer_type_name(l->type);
        snprintf(err, errlen, "layer type '%s' is not handled by the oneDNN CNN backend",
                 name ? name : "?");
        rc = CLEAVE_EUNSUPPORTED;
        goto done;
    }
    }
    if (rc)
        goto done;

    /* Inputs in the documented fill order, then the output, then oneDNN's own buffers. */
    for (int i = 0; i < k->ninputs; i++)
        if ((rc = tensor_alloc(k, &k->src[i], 1, &state, -1.0f, 1.0f, err, errlen)))
            goto done;
    for (int i = 0; i < T_COUNT; i++) {
        if (!k->t[i].present)
            continue;
        float lo = i == T_VAR ? 0.5f : -1.0f, hi = i == T_VAR ? 1.5f : 1.0f;
        if ((rc = tensor_alloc(k, &k->t[i], i != T_DST, &state, lo, hi, err, errlen)))
            goto done;
    }
    if ((k->aux_arg && (rc = aux_alloc(k, err, errlen))) ||
        (rc = extra_alloc(k, dnnl_query_scratchpad_md, DNNL_ARG_SCRATCHPAD, &k->scratchpad, err,
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
        cnn_release(&k->base);
        return rc;
    }
    *out = &k->base;
    return CLEAVE_OK;
}
