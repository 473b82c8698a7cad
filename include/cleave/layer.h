/*
** cleave/layer.h - the layer catalogue: descriptors, the text syntax, shapes and static features.
**
** A cleave_layer describes one DNN layer by its type and shape parameters, independent of
** weights.  Static features (MACs, bytes, Edgent's x1/x2, ...) are computed here and only here,
** so that the profiler, the fitter and the predictor can never disagree about them.
**
** Tensors are 4-D, NCHW, fp32.  A 2-D tensor (fully-connected input or output) has h = w = 1.
** Recurrent layers use t (sequence length), n (batch), c (input size), k (hidden size).
*/
#ifndef CLEAVE_LAYER_H
#define CLEAVE_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(enum suffix, text name, description).  Order is the catalogue order; values are stable. */
#define CLEAVE_LAYER_TYPE_MAP(X)                                                                   \
    X(CONV, "conv", "convolution (grouped, depthwise, dilated)")                                   \
    X(DECONV, "deconv", "transposed convolution")                                                  \
    X(POOL, "pool", "max / average / global pooling")                                              \
    X(FC, "fc", "fully connected (inner product, Gemm)")                                           \
    X(BN, "bn", "batch normalisation (inference)")                                                 \
    X(ACT, "act", "activation (relu, relu6, clip, sigmoid, tanh, hardswish, ...)")                 \
    X(LRN, "lrn", "local response normalisation (across channels)")                                \
    X(DROPOUT, "dropout", "dropout at inference (a copy)")                                         \
    X(SOFTMAX, "softmax", "softmax along an axis")                                                 \
    X(ARGMAX, "argmax", "index of the maximum along an axis")                                      \
    X(LSTM, "lstm", "long short-term memory")                                                      \
    X(GRU, "gru", "gated recurrent unit")                                                          \
    X(RNN, "rnn", "vanilla recurrent layer (tanh)")                                                \
    X(ADD, "add", "elementwise sum of two tensors")                                                \
    X(MUL, "mul", "elementwise product of two tensors")                                            \
    X(CONCAT, "concat", "concatenation along channels")                                            \
    X(PAD, "pad", "constant spatial padding")                                                      \
    X(TRANSPOSE, "transpose", "permutation of the four axes")                                      \
    X(SLICE, "slice", "contiguous slice along one axis")                                           \
    X(RESHAPE, "reshape", "reshape / flatten (costs nothing)")

typedef enum cleave_layer_type {
#define CLEAVE_LT_ENUM_(e, name, desc) CLEAVE_LAYER_##e,
    CLEAVE_LAYER_TYPE_MAP(CLEAVE_LT_ENUM_)
#undef CLEAVE_LT_ENUM_
        CLEAVE_LAYER_COUNT
} cleave_layer_type;

/* Pooling kinds (cleave_layer.kind for CLEAVE_LAYER_POOL). */
typedef enum cleave_pool_kind {
    CLEAVE_POOL_MAX = 0,
    CLEAVE_POOL_AVG = 1,    /* average excluding padding (ONNX default) */
    CLEAVE_POOL_AVG_PAD = 2 /* average including padding (PyTorch default) */
} cleave_pool_kind;

/* Activation kinds (cleave_layer.kind for CLEAVE_LAYER_ACT, cleave_layer.act for fused).
** Parameters: CLIP uses alpha = lower, beta = upper bound; LEAKY uses alpha = slope;
** HARDSIGMOID computes max(0, min(1, alpha*x + beta)) (ONNX: alpha 0.2, beta 0.5).
** X(enum suffix, text name). */
#define CLEAVE_ACT_KIND_MAP(X)                                                                     \
    X(NONE, "none")                                                                                \
    X(RELU, "relu")                                                                                \
    X(RELU6, "relu6")                                                                              \
    X(CLIP, "clip")                                                                                \
    X(SIGMOID, "sigmoid")                                                                          \
    X(TANH, "tanh")                                                                                \
    X(HARDSWISH, "hardswish")                                                                      \
    X(HARDSIGMOID, "hardsigmoid")                                                                  \
    X(LEAKY, "leaky")

typedef enum cleave_act_kind {
#define CLEAVE_ACT_ENUM_(e, name) CLEAVE_ACT_##e,
    CLEAVE_ACT_KIND_MAP(CLEAVE_ACT_ENUM_)
#undef CLEAVE_ACT_ENUM_
        CLEAVE_ACT_COUNT
} cleave_act_kind;

#define CLEAVE_MAX_INPUTS 16 /* most inputs a concat may have */

/* One layer.  Fill it with cleave_layer_init() and then set fields, or parse it from text with
** cleave_layer_parse().  Fields a type does not use are ignored (and left at their defaults).
**
**   conv, deconv  n c h w, k (output channels), kh kw, sh sw, pt pl pb pr, dh dw (1 = dense),
**                 groups, bias, act (fused activation), alpha beta (its parameters)
**   pool          n c h w, kind, kh kw, sh sw, pt pl pb pr, global (window = whole plane)
**   fc            n c h w (flattened to c*h*w inputs), k (outputs), bias, act, alpha beta
**   bn            n c h w (eps fixed at 1e-5)
**   act           n c h w, kind, alpha beta
**   lrn           n c h w, size, alpha beta lrn_k (ONNX LRN definition)
**   dropout       n c h w
**   softmax       n c h w, axis;  argmax: n c h w, axis (output has size 1 on the axis)
**   lstm gru rnn  t n c (input size) k (hidden size), layers, dirs (1 or 2), bias
**   add mul       n c h w (both inputs have this shape)
**   concat        n h w, ninputs, cin[0..ninputs) (channels of each input; c = their sum)
**   pad           n c h w, pt pl pb pr (zeros)
**   transpose     n c h w, perm[4] (output axis i is input axis perm[i])
**   slice         n c h w, axis, start, end (end exclusive)
**   reshape       n c h w
*/
typedef struct cleave_layer {
    cleave_layer_type type;
    int kind;                       /* pool: cleave_pool_kind; act: cleave_act_kind */
    int64_t n, c, h, w;             /* input shape */
    int64_t k;                      /* output channels / features / hidden size */
    int64_t kh, kw;                 /* kernel or window */
    int64_t sh, sw;                 /* strides */
    int64_t pt, pl, pb, pr;         /* padding: top, left, bottom, right */
    int64_t dh, dw;                 /* dilation, 1 = dense */
    int64_t groups;                 /* conv/deconv groups; groups == c == k is depthwise */
    int bias;                       /* conv/deconv/fc/rnn: has a bias */
    int act;                        /* conv/fc: fused activation (cleave_act_kind) */
    int global;                     /* pool: window covers the whole plane */
    double alpha, beta;             /* activation parameters; lrn alpha and beta */
    double lrn_k;                   /* lrn bias term */
    int64_t size;                   /* lrn local size (channels) */
    int64_t t;                      /* rnn sequence length */
    int64_t layers, dirs;           /* rnn stacked layers, directions */
    int axis;                       /* softmax, argmax, slice: 0..3 */
    int64_t start, end;             /* slice bounds along axis */
    int perm[4];                    /* transpose */
    int ninputs;                    /* add, mul: 2; concat: 2..CLEAVE_MAX_INPUTS */
    int64_t cin[CLEAVE_MAX_INPUTS]; /* concat input channels */
} cleave_layer;

/* A tensor shape: 4-D NCHW, or for recurrent layers (t, n, c) with d[3] = 1. */
typedef struct cleave_shape {
    int64_t d[4];
} cleave_shape;

/* Static feature identifiers.  X(enum suffix, name, description).  Values are stable. */
#define CLEAVE_FEATURE_MAP(X)                                                                      \
    X(MACS, "macs", "multiply-accumulates (or elementwise operations)")                            \
    X(IN_BYTES, "in_bytes", "bytes of all inputs")                                                 \
    X(OUT_BYTES, "out_bytes", "bytes of the output")                                               \
    X(W_BYTES, "weight_bytes", "bytes of weights and biases")                                      \
    X(IN_ELEMS, "in_elems", "elements of all inputs (Neurosurgeon: input neurons)")                \
    X(OUT_ELEMS, "out_elems", "elements of the output (output neurons)")                           \
    X(X1, "x1", "Edgent x1: input feature-map size (c*h*w)")                                       \
    X(X2, "x2", "Edgent x2: (filter size / stride)^2 * filters")                                   \
    X(N, "n", "batch")                                                                             \
    X(C, "c", "input channels / features")                                                         \
    X(H, "h", "input height")                                                                      \
    X(W, "w", "input width")                                                                       \
    X(K, "k", "output channels / features / hidden size")                                          \
    X(KSIZE, "ksize", "kernel or window area kh*kw")                                               \
    X(STRIDE, "stride", "stride (sh*sw)")                                                          \
    X(PAD, "pad", "padding, summed over four sides")                                               \
    X(GROUPS, "groups", "groups")                                                                  \
    X(DIL, "dilation", "dilation (dh*dw)")                                                         \
    X(BIAS, "bias", "has a bias (0/1)")                                                            \
    X(ACT, "act", "activation kind (fused or the layer's own)")                                    \
    X(KIND, "kind", "pooling kind")                                                                \
    X(OH, "oh", "output height")                                                                   \
    X(OW, "ow", "output width")                                                                    \
    X(T, "t", "sequence length")                                                                   \
    X(LAYERS, "layers", "stacked recurrent layers times directions")                               \
    X(NINPUTS, "ninputs", "number of inputs")

typedef enum cleave_feature {
#define CLEAVE_FEAT_ENUM_(e, name, desc) CLEAVE_FEAT_##e,
    CLEAVE_FEATURE_MAP(CLEAVE_FEAT_ENUM_)
#undef CLEAVE_FEAT_ENUM_
        CLEAVE_FEAT_COUNT
} cleave_feature;

/* Set *L to type TYPE with every field at its default: n = c = h = w = 1, k = 1, kernel 1x1,
** stride 1, no padding, dilation 1, groups 1, bias 1, no fused activation, t = 1,
** layers = dirs = 1, axis 1, perm identity, ninputs 2, LRN size 5 alpha 1e-4 beta 0.75 k 1,
** HARDSIGMOID alpha 0.2 beta 0.5, LEAKY alpha 0.01, CLIP [0, 6]. */
CLEAVE_API void cleave_layer_init(cleave_layer *l, cleave_layer_type type);

/* The text name of TYPE ("conv") or NULL; cleave_layer_type_from_name() is its inverse and
** returns -1 for an unknown name.  The same for activation kinds and feature names. */
CLEAVE_API const char *cleave_layer_type_name(cleave_layer_type type);
CLEAVE_API int cleave_layer_type_from_name(const char *name);
CLEAVE_API const char *cleave_act_kind_name(cleave_act_kind kind);
CLEAVE_API int cleave_act_kind_from_name(const char *name);
CLEAVE_API const char *cleave_feature_name(cleave_feature f);

/* Parse one layer from SPEC, e.g. "conv n=1 c=64 h=56 w=56 k=64 kh=3 kw=3 stride=1 pad=1".
** The first word is the type (or an alias: relu, sigmoid, ... select act kind=...; maxpool,
** avgpool, gpool select pool); the rest are key=value pairs, in any order, each key once.
** Keys: n c h w k kh kw (or size/kernel for both), sh sw (or stride), pt pl pb pr (or pad, ph,
** pw), dh dw (or dilation), groups (or g), bias, act, kind, global, alpha, beta, lrn_k, t,
** hidden (= k), layers, dirs, axis, start, end, perm=0,2,3,1, c=64,128 for concat inputs.
** On success fills *OUT (validated with cleave_layer_validate()) and returns CLEAVE_OK.
** On failure returns CLEAVE_EPARSE (syntax, unknown type or key) or CLEAVE_EINVAL (values) and
** writes a message naming the key or problem into ERR (ERRLEN bytes, may be 0). */
CLEAVE_API cleave_status cleave_layer_parse(cleave_layer *out, const char *spec, char *err,
                                            size_t errlen);

/* Write the canonical text form of L into BUF (BUFLEN bytes); it parses back to an equal layer.
** Returns the length it needed (like snprintf), or -1 if L's type is invalid. */
CLEAVE_API int cleave_layer_format(const cleave_layer *l, char *buf, size_t buflen);

/* Check that L describes a computable layer: positive dimensions, no overflow of element
** counts or MACs in 63 bits, a kernel no larger than the padded input, groups dividing the
** channels, valid kinds, axis and slice bounds, a permutation, concat inputs summing to c.
** Returns CLEAVE_OK or CLEAVE_EINVAL with a message in ERR naming the field. */
CLEAVE_API cleave_status cleave_layer_validate(const cleave_layer *l, char *err, size_t errlen);

/* The output shape of a valid layer (undefined for an invalid one: validate first). */
CLEAVE_API cleave_shape cleave_layer_output_shape(const cleave_layer *l);

/* The static features of a valid layer, indexed by cleave_feature: FEATS[CLEAVE_FEAT_COUNT].
** Every feature has a value for every type (0 where it means nothing). */
CLEAVE_API void cleave_layer_features(const cleave_layer *l, double feats[CLEAVE_FEAT_COUNT]);

/* The features that describe layers of TYPE (seed 002's static characteristics, plus MACs and
** bytes): writes up to CAP ids into IDS and returns how many there are.  Fitting uses these. */
CLEAVE_API int cleave_layer_type_features(cleave_layer_type type, cleave_feature *ids, int cap);

/* Bytes the execution of L needs for its tensors: inputs, output, weights and biases.
** Returns 0 and sets *BYTES, or -1 on overflow. */
CLEAVE_API int cleave_layer_buffer_bytes(const cleave_layer *l, uint64_t *bytes);

#ifdef __cplusplus
}
#endif
#endif /* CLEAVE_LAYER_H */
