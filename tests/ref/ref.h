/*
** tests/ref/ref.h - naive reference kernels (plain layouts, double accumulation) used as the
** oracle that every execution backend is checked against.
**
** Each kernel is written from the layer's mathematical definition (include/cleave/layer.h and
** profiler/backend.h), never from a backend's code: straightforward loops that are obviously
** right rather than fast.  Tensors are dense row-major: NCHW for 4-D tensors, (t, n, c) for
** recurrent inputs and (t, n, dirs*k) for recurrent outputs; weights in the layouts that
** profiler/backend.h documents for prof_kernel_read().
*/
#ifndef CLEAVE_TESTS_REF_H
#define CLEAVE_TESTS_REF_H

#include <stddef.h>
#include <stdint.h>

#include <cleave/cleave.h>

/* The parameter tensors of a layer; a pointer is NULL when the layer has no such tensor.
**   weights       conv/deconv: (groups, k/groups, c/groups, kh, kw); fc: (k, c, h, w);
**                 lstm/gru/rnn: weights_layer (layers, dirs, c, gates, k)
**   weights_iter  lstm/gru/rnn: (layers, dirs, k, gates, k)
**   bias          conv/deconv/fc: (k); lstm/gru/rnn: (layers, dirs, gates, k).  NULL = zero.
**   mean var scale shift   bn: (c) each */
typedef struct ref_params {
    const float *weights;
    const float *weights_iter;
    const float *bias;
    const float *mean, *var, *scale, *shift;
} ref_params;

/* Element counts of every tensor of a layer, as the reference computes them (independently
** of the catalogue, so a test can check cleave_layer_output_shape() against them).
** A count of 0 means the layer has no such tensor. */
typedef struct ref_sizes {
    int ninputs;                    /* 1, 2 for add/mul, ninputs for concat */
    int64_t src[CLEAVE_MAX_INPUTS]; /* elements of each input */
    int64_t weights, weights_iter;  /* elements, or 0 */
    int64_t bias;                   /* elements, 0 when the layer has none */
    int64_t bn;                     /* bn: elements of each of mean/var/scale/shift (c) */
    cleave_shape dst_shape;         /* output shape; recurrent: (t, n, dirs*k, 1) */
    int64_t dst;                    /* elements of the output */
} ref_sizes;

/* Number of gates of a recurrent layer type: lstm 4, gru 3, rnn 1; 0 for any other type. */
int ref_rnn_gates(cleave_layer_type type);

/* Fill *S with the tensor sizes of L (a layer cleave_layer_validate() accepts).  For reshape
** the output shape is reported as the input shape: only its element count is meaningful.
** Returns 0, or -1 if the reference has no kernel for L (unknown type, or stacked recurrent
** layers whose input size c differs from dirs*k). */
int ref_sizes_init(ref_sizes *s, const cleave_layer *l);

/* Apply activation KIND (cleave_act_kind) with parameters ALPHA, BETA to X:
** relu max(0,x); relu6 min(max(x,0),6); clip min(max(x,alpha),beta); sigmoid 1/(1+e^-x);
** tanh; hardswish x*min(max(x+3,0),6)/6; hardsigmoid max(0,min(1,alpha*x+beta));
** leaky x>0 ? x : alpha*x; none x. */
double ref_act(int kind, double alpha, double beta, double x);

/* Compute the output of L into DST (ref_sizes.dst floats) from the inputs SRC[0..ninputs)
** (each ref_sizes.src[i] floats) and the parameters P (may be NULL for layers without any).
** Returns 0, or -1 if L is not something the reference handles, a parameter tensor the layer
** needs is missing, or memory for scratch space cannot be allocated. */
int ref_forward(const cleave_layer *l, const float *const *src, const ref_params *p, float *dst);

#endif /* CLEAVE_TESTS_REF_H */
