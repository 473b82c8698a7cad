/*
** profiler/portable.c - small portable C kernels for the layers oneDNN 2.6 has no primitive
** for (argmax, inference dropout, pad, transpose, slice) and the free reshape.
**
** The kernels are written to be clear first and reasonably fast second: they stream through
** memory in the order that keeps the writes contiguous, and split the work over THREADS OpenMP
** threads (num_threads(threads) on every parallel region, so the count a kernel was prepared
** for is the count it runs with, whatever other code set globally).  They are what a framework
** without a tuned kernel for these data-movement layers would run, which is the cost a planner
** needs to predict.
**
** Every buffer is allocated (64-byte aligned, the cache line and the widest vector) and the
** input filled uniform in [-1, 1) from the seed in prepare, so run() only computes.  Tensors
** are NCHW, fp32; argmax produces int64 indices internally (ONNX ArgMax's output type) and
** reads them back as floats.  Reshape (and flatten) moves no data: its backend is "none", run()
** does nothing, and both its source and its destination read back the input.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "profiler/backend.h"

/* Alignment of every buffer: a cache line, and the widest (AVX-512) vector. */
#define PORT_ALIGN 64

/* Contiguous copies are split into pieces of this many floats (64 KiB), so that even a single
** large row is shared among the threads. */
#define PORT_COPY_CHUNK 16384

/* Blocked transpose tiles are PORT_TILE x PORT_TILE floats (PORT_TILE = one 64-byte line). */
#define PORT_TILE 16

/* Argmax works on columns in blocks of this many, so the running maxima stay in L1. */
#define PORT_ARGMAX_BLOCK 256

typedef struct port_kernel {
    prof_kernel base; /* first: prof_kernel * and port_kernel * convert both ways */
    int64_t in[4];    /* input shape, NCHW */
    int64_t out[4];   /* output shape */
    size_t src_elems, dst_elems;
    float *src;       /* owned */
    float *dst;       /* owned; NULL for argmax (indices) and reshape (no output) */
    int64_t *idx;     /* owned; argmax indices */
    float *best;      /* owned; argmax running maxima, dst_elems of them */
    char errmsg[160]; /* why the last read() failed: read() has no err buffer */
} port_kernel;

/* Allocate N elements of SIZE bytes aligned to PORT_ALIGN (C11 aligned_alloc wants the size
** to be a multiple of the alignment, so it is rounded up).  NULL on failure or overflow. */
static void *port_alloc(size_t n, size_t size)
{
    if (n == 0 || size > (SIZE_MAX - PORT_ALIGN) / n)
        return NULL;
    size_t bytes = (n * size + PORT_ALIGN - 1) / PORT_ALIGN * PORT_ALIGN;
    return aligned_alloc(PORT_ALIGN, bytes);
}

/* Copy ROWS rows of LEN floats from SRC (rows SRC_STRIDE floats apart) to DST (rows DST_STRIDE
** apart), in PORT_COPY_CHUNK pieces shared among THREADS threads.  Dropout is one row, a slice
** one row per index before the sliced axis. */
static void copy_rows(float *dst, int64_t dst_stride, const float *src, int64_t src_stride,
                      int64_t rows, int64_t len, int threads)
{
    const int64_t pieces = (len + PORT_COPY_CHUNK - 1) / PORT_COPY_CHUNK;
    const int64_t total = rows * pieces;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < total; p++) {
        const int64_t r = p / pieces, off = p % pieces * PORT_COPY_CHUNK;
        const int64_t m = len - off < PORT_COPY_CHUNK ? len - off : PORT_COPY_CHUNK;
        memcpy(dst + r * dst_stride + off, src + r * src_stride + off, (size_t)m * sizeof *dst);
    }
}

/* Argmax along axis A of the input: with OUTER = product of the dims before A, LEN = dim A and
** INNER = product of the dims after it, idx[o][i] = the first j maximising src[o][j][i].  A strict
** ">" keeps the first of equal maxima, as ONNX ArgMax (select_last_index = 0) and numpy do.
** When A is the last axis (INNER = 1) each output is one contiguous scan with the running
** maximum in a register.  Otherwise work is split into (o, block of up to PORT_ARGMAX_BLOCK
** columns i) pieces; each piece walks j outward and i inward, so every read is contiguous, and
** keeps its running maxima in K->best (a block of them stays in L1). */
static void run_argmax(port_kernel *k)
{
    const int a = k->base.layer.axis;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < a; d++)
        outer *= k->in[d];
    for (int d = a + 1; d < 4; d++)
        inner *= k->in[d];
    const int64_t len = k->in[a];
    const int64_t blocks = (inner + PORT_ARGMAX_BLOCK - 1) / PORT_ARGMAX_BLOCK;
    const int64_t total = outer * blocks;
    const float *restrict src = k->src;
    float *restrict best = k->best;
    int64_t *restrict idx = k->idx;

    if (inner == 1) {
#pragma omp parallel for num_threads(k->base.threads) schedule(static)
        for (int64_t o = 0; o < outer; o++) {
            const float *row = src + o * len;
            float bv = row[0];
            int64_t bi = 0;
            for (int64_t j = 1; j < len; j++)
                if (row[j] > bv) {
                    bv = row[j];
                    bi = j;
                }
            idx[o] = bi;
        }
        return;
    }
#pragma omp parallel for num_threads(k->base.threads) schedule(static)
    for (int64_t p = 0; p < total; p++) {
        const int64_t o = p / blocks, i0 = p % blocks * PORT_ARGMAX_BLOCK;
        const int64_t i1 = i0 + PORT_ARGMAX_BLOCK < inner ? i0 + PORT_ARGMAX_BLOCK : inner;
        const float *plane = src + o * len * inner;
        float *bv = best + o * inner;
        int64_t *bi = idx + o * inner;
        for (int64_t i = i0; i < i1; i++) {
            bv[i] = plane[i];
            bi[i] = 0;
        }
        for (int64_t j = 1; j < len; j++) {
            const float *row = plane + j * inner;
            for (int64_t i = i0; i < i1; i++)
                if (row[i] > bv[i]) {
                    bv[i] = row[i];
                    bi[i] = j;
                }
        }
    }
}

/* Zero padding of the H and W planes: each output plane (n, c) is written row by row - pt rows
** of zeros, then for each input row pl zeros, the row, pr zeros, then pb rows of zeros - so all
** writes are contiguous.  Planes are shared among the threads. */
static void run_pad(port_kernel *k)
{
    const cleave_layer *l = &k->base.layer;
    const int64_t planes = k->in[0] * k->in[1], h = k->in[2], w = k->in[3];
    const int64_t ow = k->out[3], oplane = k->out[2] * ow;
    const float *src = k->src;
    float *dst = k->dst;

#pragma omp parallel for num_threads(k->base.threads) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const float *s = src + p * h * w;
        float *d = dst + p * oplane;
        memset(d, 0, (size_t)(l->pt * ow) * sizeof *d);
        d += l->pt * ow;
        for (int64_t y = 0; y < h; y++) {
            memset(d, 0, (size_t)l->pl * sizeof *d);
            memcpy(d + l->pl, s + y * w, (size_t)w * sizeof *d);
            memset(d + l->pl + w, 0, (size_t)l->pr * sizeof *d);
            d += ow;
        }
        memset(d, 0, (size_t)(l->pb * ow) * sizeof *d);
    }
}

/* 4-D transpose: output axis i is input axis perm[i], so out[o0][o1][o2][o3] = in at offset
** sum_i o_i * stride_in[perm[i]].  Writes always run along the last output axis (contiguous).
** When that axis is also the input's last (perm[3] = 3), reads are contiguous too and two plain
** loops over the rows suffice.  Otherwise the input's last axis is some output axis Q, and a
** naive row would read one element per cache line; so the (Q, last) output plane is walked in
** PORT_TILE x PORT_TILE tiles (the classic blocked transpose): inside a tile the reads touch
** PORT_TILE input lines and the writes PORT_TILE output lines, all resident in L1.  Rows, or
** (two other axes, block of Q) pieces, are shared among the threads.  A short last output axis
** (e.g. reversing all four axes with a batch of 2) still gives short write runs and is several
** times slower per byte; such permutations are rare in real graphs. */
static void run_transpose(port_kernel *k)
{
    const int *perm = k->base.layer.perm;
    const int64_t in_stride[4] = {k->in[1] * k->in[2] * k->in[3], k->in[2] * k->in[3], k->in[3], 1};
    int64_t od[4], rs[4], ws[4]; /* output dims; read and write stride of each output axis */
    const float *src = k->src;
    float *dst = k->dst;
    int q = 0;

    for (int i = 0; i < 4; i++) {
        od[i] = k->out[i];
        rs[i] = in_stride[perm[i]];
    }
    ws[3] = 1;
    for (int i = 2; i >= 0; i--)
        ws[i] = ws[i + 1] * od[i + 1];
    while (perm[q] != 3)
        q++;

    if (q == 3) {
        const int64_t rows = od[0] * od[1] * od[2];
#pragma omp parallel for num_threads(k->base.threads) schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const int64_t a = r / (od[1] * od[2]), b = r / od[2] % od[1], c = r % od[2];
            const float *s = src + a * rs[0] + b * rs[1] + c * rs[2];
            float *d = dst + r * od[3];
            for (int64_t e = 0; e < od[3]; e++)
                d[e] = s[e];
        }
        return;
    }

    int u = -1, v = -1; /* the two output axes other than Q and the last, u < v */
    for (int i = 0; i < 3; i++)
        if (i != q) {
            if (u < 0)
                u = i;
            else
                v = i;
        }
    const int64_t qblocks = (od[q] + PORT_TILE - 1) / PORT_TILE;
    const int64_t total = od[u] * od[v] * qblocks;
#pragma omp parallel for num_threads(k->base.threads) schedule(static)
    for (int64_t p = 0; p < total; p++) {
        const int64_t iu = p / (od[v] * qblocks), iv = p / qblocks % od[v];
        const int64_t q0 = p % qblocks * PORT_TILE;
        const int64_t q1 = q0 + PORT_TILE < od[q] ? q0 + PORT_TILE : od[q];
        const float *s = src + iu * rs[u] + iv * rs[v]; /* rs[q] == 1 */
        float *d = dst + iu * ws[u] + iv * ws[v];
        for (int64_t e0 = 0; e0 < od[3]; e0 += PORT_TILE) {
            const int64_t e1 = e0 + PORT_TILE < od[3] ? e0 + PORT_TILE : od[3];
            for (int64_t iq = q0; iq < q1; iq++) {
                const float *sr = s + iq;
                float *dr = d + iq * ws[q];
                for (int64_t e = e0; e < e1; e++)
                    dr[e] = sr[e * rs[3]];
            }
        }
    }
}

/* Slice [start, end) along the layer's axis: one contiguous row of (end - start) * INNER floats
** per index before the axis (INNER = product of the dims after it). */
static void run_slice(port_kernel *k)
{
    const cleave_layer *l = &k->base.layer;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < l->axis; d++)
        outer *= k->in[d];
    for (int d = l->axis + 1; d < 4; d++)
        inner *= k->in[d];
    const int64_t len = (l->end - l->start) * inner;
    copy_rows(k->dst, len, k->src + l->start * inner, k->in[l->axis] * inner, outer, len,
              k->base.threads);
}

static cleave_status port_run(prof_kernel *pk)
{
    port_kernel *k = (port_kernel *)pk;
    switch (pk->layer.type) {
    case CLEAVE_LAYER_ARGMAX: run_argmax(k); break;
    case CLEAVE_LAYER_DROPOUT:
        /* Inference dropout is the identity.  We time a copy rather than nothing because a
        ** framework that executes graphs node by node without in-place or aliasing passes
        ** (ONNX Runtime's CPU Dropout kernel, a plain interpreter) gives the node its own
        ** output tensor and materialises it; a runtime that elides the node is modelled by
        ** leaving the layer out of the graph. */
        copy_rows(k->dst, 0, k->src, 0, 1, (int64_t)k->src_elems, pk->threads);
        break;
    case CLEAVE_LAYER_PAD: run_pad(k); break;
    case CLEAVE_LAYER_TRANSPOSE: run_transpose(k); break;
    case CLEAVE_LAYER_SLICE: run_slice(k); break;
    /* Reshape is a view of its input: nothing to do. */
    default: break;
    }
    return CLEAVE_OK;
}

/* Copy tensor ROLE/IDX into DST (N floats): PROF_SRC 0 is the input, PROF_DST the output
** (argmax indices converted to float; reshape's output is its input).  Anything else, or a
** count other than the tensor's, is CLEAVE_EINVAL with the reason kept in K->errmsg. */
static cleave_status port_read(prof_kernel *pk, prof_role role, int idx, float *dst, size_t n)
{
    port_kernel *k = (port_kernel *)pk;
    const char *type = cleave_layer_type_name(pk->layer.type);
    size_t have;

    if ((role != PROF_SRC && role != PROF_DST) || idx != 0) {
        static const char *const names[] = {"source", "weights", "recurrent weights",
                                            "bias",   "mean",    "variance",
                                            "scale",  "shift",   "destination"};
        const char *name =
            (int)role >= 0 && (size_t)role < sizeof names / sizeof names[0] ? names[role] : "such";
        snprintf(k->errmsg, sizeof k->errmsg, "layer '%s' has no %s tensor %d", type ? type : "?",
                 name, idx);
        return CLEAVE_EINVAL;
    }
    have = role == PROF_SRC || pk->layer.type == CLEAVE_LAYER_RESHAPE ? k->src_elems : k->dst_elems;
    if (!dst || n != have) {
        snprintf(k->errmsg, sizeof k->errmsg, "tensor has %zu elements, not %zu", have, n);
        return CLEAVE_EINVAL;
    }
    if (role == PROF_DST && k->idx) {
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)k->idx[i];
    } else {
        const float *from = role == PROF_SRC || !k->dst ? k->src : k->dst;
        memcpy(dst, from, n * sizeof *dst);
    }
    return CLEAVE_OK;
}

/* Replace the input with SRC (plain); see backend.h.  Reshape's output is its input, so
** writing it sets both. */
static cleave_status port_write(prof_kernel *pk, prof_role role, int idx, const float *src,
                                size_t n, char *err, size_t errlen)
{
    port_kernel *k = (port_kernel *)pk;
    const char *type = cleave_layer_type_name(pk->layer.type);
    if (role != PROF_SRC || idx != 0) {
        snprintf(err, errlen, "layer '%s' has no input tensor %d", type ? type : "?", idx);
        return CLEAVE_EINVAL;
    }
    if (!src || n != k->src_elems) {
        snprintf(err, errlen, "tensor has %zu elements, not %zu", k->src_elems, n);
        return CLEAVE_EINVAL;
    }
    memcpy(k->src, src, n * sizeof *src);
    return CLEAVE_OK;
}

/* The plain buffers, keyed by "plain" and their dims; argmax's output (integers) and reshape
** have none.  See backend.h. */
static int port_native(prof_kernel *pk, prof_role role, int idx, void **ptr, size_t *bytes,
                       uint64_t *layout)
{
    port_kernel *k = (port_kernel *)pk;
    const int64_t *dims = role == PROF_SRC ? k->in : k->out;
    float *buf = role == PROF_SRC ? k->src : k->dst;
    if ((role != PROF_SRC && role != PROF_DST) || idx != 0 || !buf ||
        pk->layer.type == CLEAVE_LAYER_RESHAPE || (role == PROF_DST && k->idx))
        return -1;
    *ptr = buf;
    *bytes = (role == PROF_SRC ? k->src_elems : k->dst_elems) * sizeof *buf;
    *layout =
        prof_layout_hash(prof_layout_hash(PROF_LAYOUT_SEED, "plain", 5), dims, 4 * sizeof *dims);
    return 0;
}

static void port_release(prof_kernel *pk)
{
    port_kernel *k = (port_kernel *)pk;
    if (!k)
        return;
    free(k->src);
    free(k->dst);
    free(k->idx);
    free(k->best);
    free(k);
}

static const struct prof_kernel_ops port_ops = {port_run, port_read, port_write, port_native,
                                                port_release};

/* Prepare L (validated; one of argmax, dropout, pad, transpose, slice, reshape) for THREADS
** threads; see backend.h for the contract.  The output shape is the catalogue's
** (cleave_layer_output_shape()), the input is filled from SEED, the output zeroed, so that a
** read before the first run() is deterministic. */
cleave_status prof_portable_prepare(prof_kernel **out, const cleave_layer *l, int threads,
                                    uint64_t seed, char *err, size_t errlen)
{
    static char dummy[1];
    port_kernel *k = NULL;
    uint64_t state = seed;

    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    *out = NULL;
    switch (l->type) {
    case CLEAVE_LAYER_ARGMAX:
    case CLEAVE_LAYER_DROPOUT:
    case CLEAVE_LAYER_PAD:
    case CLEAVE_LAYER_TRANSPOSE:
    case CLEAVE_LAYER_SLICE:
    case CLEAVE_LAYER_RESHAPE: break;
    default: {
        const char *name = cleave_layer_type_name(l->type);
        snprintf(err, errlen, "layer type '%s' has no portable kernel", name ? name : "?");
        return CLEAVE_EUNSUPPORTED;
    }
    }
    if (threads < 1) {
        snprintf(err, errlen, "thread count must be positive, got %d", threads);
        return CLEAVE_EINVAL;
    }
    k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errlen, "cannot allocate a portable kernel: out of memory");
        return CLEAVE_ENOMEM;
    }
    k->base.ops = &port_ops;
    k->base.layer = *l;
    k->base.threads = threads;
    k->base.backend = l->type == CLEAVE_LAYER_RESHAPE ? "none" : "portable";
    snprintf(k->base.impl, sizeof k->base.impl, "%s", k->base.backend);

    const cleave_shape os = cleave_layer_output_shape(l);
    k->in[0] = l->n;
    k->in[1] = l->c;
    k->in[2] = l->h;
    k->in[3] = l->w;
    k->src_elems = k->dst_elems = 1;
    for (int i = 0; i < 4; i++) {
        k->out[i] = os.d[i];
        k->src_elems *= (size_t)k->in[i];
        k->dst_elems *= (size_t)k->out[i];
    }

    k->src = port_alloc(k->src_elems, sizeof *k->src);
    if (!k->src)
        goto nomem;
    cl_rng_fill(k->src, k->src_elems, &state, -1.0f, 1.0f);
    if (l->type == CLEAVE_LAYER_ARGMAX) {
        k->idx = port_alloc(k->dst_elems, sizeof *k->idx);
        k->best = port_alloc(k->dst_elems, sizeof *k->best);
        if (!k->idx || !k->best)
            goto nomem;
        memset(k->idx, 0, k->dst_elems * sizeof *k->idx);
        memset(k->best, 0, k->dst_elems * sizeof *k->best);
    } else if (l->type != CLEAVE_LAYER_RESHAPE) {
        k->dst = port_alloc(k->dst_elems, sizeof *k->dst);
        if (!k->dst)
            goto nomem;
        memset(k->dst, 0, k->dst_elems * sizeof *k->dst);
    }
    *out = &k->base;
    return CLEAVE_OK;
nomem:
    snprintf(err, errlen, "cannot allocate %zu + %zu elements for layer '%s': out of memory",
             k->src_elems, k->dst_elems, cleave_layer_type_name(l->type));
    port_release(&k->base);
    return CLEAVE_ENOMEM;
}
