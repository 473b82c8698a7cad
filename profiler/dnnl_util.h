/*
** profiler/dnnl_util.h - what the oneDNN backends share: the engine and stream, error
** translation, memory objects filled with deterministic data, and read-back in plain layout.
*/
#ifndef CLEAVE_PROFILER_DNNL_UTIL_H
#define CLEAVE_PROFILER_DNNL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <oneapi/dnnl/dnnl.h>

#include <cleave/cleave.h>

/* The process-wide CPU engine and stream, created on first use (thread-safe).  Returns
** CLEAVE_OK or CLEAVE_EBACKEND with a message in ERR. */
cleave_status prof_dnnl_engine(dnnl_engine_t *engine, dnnl_stream_t *stream, char *err,
                               size_t errlen);

/* Set the OpenMP thread count that oneDNN primitives created from now on will use.  oneDNN fixes
** the count when a primitive is created (DESIGN.md), so call this before creating primitives. */
void prof_dnnl_set_threads(int threads);

/* Translate a failed oneDNN call: writes "oneDNN WHAT failed: <status>" and returns
** CLEAVE_ENOMEM for dnnl_out_of_memory, CLEAVE_EUNSUPPORTED for dnnl_unimplemented,
** CLEAVE_EBACKEND otherwise. */
cleave_status prof_dnnl_fail(dnnl_status_t s, const char *what, char *err, size_t errlen);

/* Initialise *MD as a dense f32 tensor of NDIMS dims in the plain row-major layout (abcd...). */
cleave_status prof_dnnl_plain_md(dnnl_memory_desc_t *md, int ndims, const int64_t *dims, char *err,
                                 size_t errlen);

/* Create *MEM for MD (any layout) on the engine and fill it with values uniform in [LO, HI)
** drawn from *SEED, as if the plain tensor PLAIN (same dims, plain layout) had been filled in
** row-major order and reordered into MD.  PLAIN may be NULL when MD is itself plain.  Reading
** back with prof_dnnl_read() gives the plain values.  Memory is zero-filled first, so padded
** blocked layouts hold zeros in their padding. */
cleave_status prof_dnnl_mem_filled(dnnl_memory_t *mem, const dnnl_memory_desc_t *md,
                                   const dnnl_memory_desc_t *plain, uint64_t *seed, float lo,
                                   float hi, char *err, size_t errlen);

/* Create *MEM for MD, zero-filled (outputs, scratchpads, workspaces). */
cleave_status prof_dnnl_mem_zero(dnnl_memory_t *mem, const dnnl_memory_desc_t *md, char *err,
                                 size_t errlen);

/* Copy MEM (layout MD) into DST (N floats) in the plain layout PLAIN.  Returns CLEAVE_EINVAL
** when N does not equal PLAIN's element count. */
cleave_status prof_dnnl_read(dnnl_memory_t mem, const dnnl_memory_desc_t *plain, float *dst,
                             size_t n, char *err, size_t errlen);

/* Copy SRC (N floats in the plain layout PLAIN) into MEM (whatever its layout).  Returns
** CLEAVE_EINVAL when N does not equal PLAIN's element count. */
cleave_status prof_dnnl_write(dnnl_memory_t mem, const dnnl_memory_desc_t *plain, const float *src,
                              size_t n, char *err, size_t errlen);

/* A conversion between a tensor's memory and a caller's plain buffer that is made once and
** reused: the runtime moves every node's inputs and output on every pass, and creating a reorder
** primitive each time (~0.5 ms) would cost more than many of the layers.  Zero-initialise it;
** each direction of each tensor needs its own. */
typedef struct prof_dnnl_xfer {
    int ready, same;       /* made; the layouts are equal (a memcpy does) */
    dnnl_primitive_t prim; /* the reorder, when they differ */
    dnnl_memory_t user;    /* plain memory over the caller's buffer (handle set per call) */
} prof_dnnl_xfer;

/* Copy BUF (N floats, plain layout PLAIN) into MEM (TO_MEM non-zero) or MEM into BUF, through
** the cached conversion X.  CLEAVE_EINVAL when N is not PLAIN's element count. */
cleave_status prof_dnnl_xfer_run(prof_dnnl_xfer *x, int to_mem, dnnl_memory_t mem,
                                 const dnnl_memory_desc_t *plain, float *buf, size_t n, char *err,
                                 size_t errlen);
void prof_dnnl_xfer_release(prof_dnnl_xfer *x);

/* Create zero-filled memory for the optional buffer QUERY of PD (dnnl_query_scratchpad_md or
** dnnl_query_workspace_md); *MEM stays NULL when the primitive needs none. */
cleave_status prof_dnnl_extra_alloc(const_dnnl_primitive_desc_t pd, dnnl_query_t query,
                                    dnnl_memory_t *mem, char *err, size_t errlen);

/* The timed part of every oneDNN kernel: execute PRIM with its NARGS prebuilt ARGS on STREAM
** and wait for it. */
cleave_status prof_dnnl_execute(dnnl_primitive_t prim, dnnl_stream_t stream, int nargs,
                                const dnnl_exec_arg_t *args, char *err, size_t errlen);

/* Copy the implementation name of PD ("jit:avx2", "gemm:jit", ...) into BUF. */
void prof_dnnl_impl_name(const_dnnl_primitive_desc_t pd, char *buf, size_t buflen);

/* Element count of a memory descriptor's logical dims. */
size_t prof_dnnl_md_elems(const dnnl_memory_desc_t *md);

/* oneDNN's version as "2.6.3" and the ISA it dispatches to ("avx2", "avx512_core", ...). */
const char *prof_dnnl_version(void);
const char *prof_dnnl_isa(void);

#endif /* CLEAVE_PROFILER_DNNL_UTIL_H */
