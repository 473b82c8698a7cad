/*
** profiler/backend.h - execution backends: prepare a layer for a thread count, run it, release.
**
** A prepared kernel owns every buffer it touches: inputs and weights filled with deterministic
** pseudo-random values in [-1, 1) from a seed, the output, scratch space, and (for oneDNN) the
** primitive with the layouts oneDNN chose (format_tag any).  All allocation, reorders and
** warm-up-independent setup happen in prepare, so run() is exactly what gets timed.
**
** Backends: "onednn" (profiler/dnnl_*.c) for every type oneDNN has; "portable" (small C kernels
** in profiler/portable.c) for argmax, dropout, pad, transpose and slice; "none" for reshape,
** which moves no data.  Anything else is CLEAVE_EUNSUPPORTED naming the type.
*/
#ifndef CLEAVE_PROFILER_BACKEND_H
#define CLEAVE_PROFILER_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include <cleave/cleave.h>

/* Tensors a test can read back, in plain (row-major, dense) layouts:
**   PROF_SRC      input IDX, NCHW (recurrent: t,n,c)
**   PROF_WEIGHTS  conv: g,oc/g,ic/g,kh,kw (goihw); deconv: g,oc/g,ic/g,kh,kw (oneDNN's deconv
**                 weights: o = output channel); fc: k,c,h,w; rnn: weights_layer l,d,i,g,o (ldigo)
**   PROF_WEIGHTS_ITER  rnn: weights_iter l,d,o,g,o (ldigo, input = hidden)
**   PROF_BIAS     conv/deconv/fc: k; rnn: l,d,g,o (ldgo)
**   PROF_MEAN, PROF_VAR, PROF_SCALE, PROF_SHIFT   bn: c each (variance is positive)
**   PROF_DST      output, NCHW (recurrent: t,n,dirs*k; argmax: indices as floats)
** Gate order for rnn weights is oneDNN's: lstm i,f,c~,o; gru u,r,o (vanilla GRU, ONNX's
** linear_before_reset = 0); rnn one gate with tanh. Initial states are zero. */
typedef enum prof_role {
    PROF_SRC,
    PROF_WEIGHTS,
    PROF_WEIGHTS_ITER,
    PROF_BIAS,
    PROF_MEAN,
    PROF_VAR,
    PROF_SCALE,
    PROF_SHIFT,
    PROF_DST
} prof_role;

typedef struct prof_kernel prof_kernel;

struct prof_kernel_ops {
    /* Execute once, synchronously (the stream is waited on). */
    cleave_status (*run)(prof_kernel *k);
    /* Copy tensor ROLE/IDX in plain layout into DST, which holds N floats; CLEAVE_EINVAL if the
    ** tensor does not exist or N is not its element count. Not timed; may allocate. */
    cleave_status (*read)(prof_kernel *k, prof_role role, int idx, float *dst, size_t n);
    /* Replace input IDX (PROF_SRC only) with the N floats at SRC, given in the plain layout of
    ** read(), converting to whatever layout the kernel holds it in; a later read() of the same
    ** tensor returns exactly SRC.  This is how the runtime makes data flow from node to node.
    ** CLEAVE_EINVAL ("layer 'conv' has no input tensor 1", "tensor has 48 elements, not 47")
    ** with the message in ERR.  Not timed. */
    cleave_status (*write)(prof_kernel *k, prof_role role, int idx, const float *src, size_t n,
                           char *err, size_t errlen);
    /* The kernel's own buffer for input IDX (PROF_SRC) or the output (PROF_DST) in the layout
    ** it keeps it in: *PTR, its *BYTES, and *LAYOUT, a key that two tensors share only when
    ** their dims and memory formats are the same, so that one may be copied into the other
    ** byte for byte (the runtime does this between nodes instead of converting to plain and
    ** back).  Returns 0, or -1 when there is no such buffer (use read() and write()).  NULL
    ** when the backend offers none. */
    int (*native)(prof_kernel *k, prof_role role, int idx, void **ptr, size_t *bytes,
                  uint64_t *layout);
    void (*release)(prof_kernel *k);
};

/* The common head of every backend's kernel; backends embed it as their first member. */
struct prof_kernel {
    const struct prof_kernel_ops *ops;
    cleave_layer layer;
    int threads;
    const char *backend; /* "onednn", "portable" or "none": static strings */
    char impl[96];       /* implementation name, e.g. oneDNN's "jit:avx2", or "portable" */
};

/* Prepare L (validated) for THREADS threads, filling data from SEED.  The OpenMP thread count
** is set before any primitive is created.  On success *OUT owns the kernel; on failure *OUT is
** NULL, a message naming the type or problem is in ERR, and the status is CLEAVE_EUNSUPPORTED,
** CLEAVE_ENOMEM, CLEAVE_EINVAL or CLEAVE_EBACKEND. */
cleave_status prof_kernel_prepare(prof_kernel **out, const cleave_layer *l, int threads,
                                  uint64_t seed, char *err, size_t errlen);

static inline cleave_status prof_kernel_run(prof_kernel *k)
{
    return k->ops->run(k);
}

static inline cleave_status prof_kernel_read(prof_kernel *k, prof_role role, int idx, float *dst,
                                             size_t n)
{
    return k->ops->read(k, role, idx, dst, n);
}

static inline cleave_status prof_kernel_write(prof_kernel *k, prof_role role, int idx,
                                              const float *src, size_t n, char *err, size_t errlen)
{
    return k->ops->write(k, role, idx, src, n, err, errlen);
}

static inline int prof_kernel_native(prof_kernel *k, prof_role role, int idx, void **ptr,
                                     size_t *bytes, uint64_t *layout)
{
    return k->ops->native ? k->ops->native(k, role, idx, ptr, bytes, layout) : -1;
}

/* FNV-1a over N bytes at P continuing from H (start with PROF_LAYOUT_SEED): layout keys. */
#define PROF_LAYOUT_SEED 0xcbf29ce484222325ULL
static inline uint64_t prof_layout_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* Release K and everything it owns; NULL is a harmless no-op. */
void prof_kernel_release(prof_kernel *k);

/* The backend that would run TYPE ("onednn", "portable", "none"). */
const char *prof_backend_for(cleave_layer_type type);

/* Backend entry points, called by prof_kernel_prepare() with the same contract. */
cleave_status prof_dnnl_cnn_prepare(prof_kernel **out, const cleave_layer *l, int threads,
                                    uint64_t seed, char *err, size_t errlen);
cleave_status prof_dnnl_rnn_prepare(prof_kernel **out, const cleave_layer *l, int threads,
                                    uint64_t seed, char *err, size_t errlen);
cleave_status prof_portable_prepare(prof_kernel **out, const cleave_layer *l, int threads,
                                    uint64_t seed, char *err, size_t errlen);

#endif /* CLEAVE_PROFILER_BACKEND_H */
