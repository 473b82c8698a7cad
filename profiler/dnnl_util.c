/*
** profiler/dnnl_util.c - shared oneDNN plumbing: engine, errors, filled memories, read-back.
*/
#include "profiler/dnnl_util.h"

#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <oneapi/dnnl/dnnl_debug.h>

#include "common/rng.h"

static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine_g;
static dnnl_stream_t stream_g;
static dnnl_status_t engine_status_g = dnnl_success;

static void engine_create_once(void)
{
    engine_status_g = dnnl_engine_create(&engine_g, dnnl_cpu, 0);
    if (engine_status_g == dnnl_success)
        engine_status_g = dnnl_stream_create(&stream_g, engine_g, dnnl_stream_default_flags);
}

cleave_status prof_dnnl_engine(dnnl_engine_t *engine, dnnl_stream_t *stream, char *err,
                               size_t errlen)
{
    pthread_once(&engine_once, engine_create_once);
    if (engine_status_g != dnnl_success)
        return prof_dnnl_fail(engine_status_g, "engine creation", err, errlen);
    if (engine)
        *engine = engine_g;
    if (stream)
        *stream = stream_g;
    return CLEAVE_OK;
}

void prof_dnnl_set_threads(int threads)
{
    if (threads > 0)
        omp_set_num_threads(threads);
}

cleave_status prof_dnnl_fail(dnnl_status_t s, const char *what, char *err, size_t errlen)
{
    if (err && errlen)
        snprintf(err, errlen, "oneDNN %s failed: %s", what, dnnl_status2str(s));
    switch (s) {
    case dnnl_out_of_memory: return CLEAVE_ENOMEM;
    case dnnl_unimplemented: return CLEAVE_EUNSUPPORTED;
    default: return CLEAVE_EBACKEND;
    }
}

cleave_status prof_dnnl_plain_md(dnnl_memory_desc_t *md, int ndims, const int64_t *dims, char *err,
                                 size_t errlen)
{
    /* Row-major strides: the plain layout whatever the rank, without naming a format tag. */
    dnnl_dims_t d, strides;
    if (ndims < 1 || ndims > DNNL_MAX_NDIMS)
        return prof_dnnl_fail(dnnl_invalid_arguments, "memory descriptor", err, errlen);
    int64_t stride = 1;
    for (int i = ndims - 1; i >= 0; i--) {
        d[i] = dims[i];
        strides[i] = stride;
        stride *= dims[i];
    }
    dnnl_status_t s = dnnl_memory_desc_init_by_strides(md, ndims, d, dnnl_f32, strides);
    if (s != dnnl_success)
        return prof_dnnl_fail(s, "memory descriptor", err, errlen);
    return CLEAVE_OK;
}

size_t prof_dnnl_md_elems(const dnnl_memory_desc_t *md)
{
    size_t n = 1;
    for (int i = 0; i < md->ndims; i++)
        n *= (size_t)md->dims[i];
    return n;
}

/* Reorder SRC (layout SRC_MD) into DST (layout DST_MD) and wait.  Outside any timed region. */
static cleave_status reorder(dnnl_memory_t src, const dnnl_memory_desc_t *src_md, dnnl_memory_t dst,
                             const dnnl_memory_desc_t *dst_md, char *err, size_t errlen)
{
    dnnl_engine_t eng;
    dnnl_stream_t st;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    cleave_status rc = prof_dnnl_engine(&eng, &st, err, errlen);
    if (rc != CLEAVE_OK)
        return rc;
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&pd, src_md, eng, dst_md, eng, NULL);
    if (s == dnnl_success)
        s = dnnl_primitive_create(&prim, pd);
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
        s = dnnl_primitive_execute(prim, st, 2, args);
    }
    if (s == dnnl_success)
        s = dnnl_stream_wait(st);
    if (s != dnnl_success)
        rc = prof_dnnl_fail(s, "reorder", err, errlen);
    if (prim)
        dnnl_primitive_destroy(prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return rc;
}

cleave_status prof_dnnl_mem_zero(dnnl_memory_t *mem, const dnnl_memory_desc_t *md, char *err,
                                 size_t errlen)
{
    dnnl_engine_t eng;
    void *p = NULL;
    *mem = NULL;
    cleave_status rc = prof_dnnl_engine(&eng, NULL, err, errlen);
    if (rc != CLEAVE_OK)
        return rc;
    dnnl_status_t s = dnnl_memory_create(mem, md, eng, DNNL_MEMORY_ALLOCATE);
    if (s != dnnl_success) {
        *mem = NULL;
        return prof_dnnl_fail(s, "memory allocation", err, errlen);
    }
    size_t bytes = dnnl_memory_desc_get_size(md);
    if (bytes && dnnl_memory_get_data_handle(*mem, &p) == dnnl_success && p)
        memset(p, 0, bytes);
    return CLEAVE_OK;
}

cleave_status prof_dnnl_mem_filled(dnnl_memory_t *mem, const dnnl_memory_desc_t *md,
                                   const dnnl_memory_desc_t *plain, uint64_t *seed, float lo,
                                   float hi, char *err, size_t errlen)
{
    dnnl_memory_t tmp = NULL;
    void *p = NULL;
    cleave_status rc = prof_dnnl_mem_zero(mem, md, err, errlen);
    if (rc != CLEAVE_OK)
        return rc;
    if (!plain || dnnl_memory_desc_equal(md, plain)) {
        /* Already plain: fill in place. */
        dnnl_memory_get_data_handle(*mem, &p);
        cl_rng_fill(p, prof_dnnl_md_elems(md), seed, lo, hi);
        return CLEAVE_OK;
    }
    rc = prof_dnnl_mem_zero(&tmp, plain, err, errlen);
    if (rc != CLEAVE_OK)
        goto done;
    dnnl_memory_get_data_handle(tmp, &p);
    cl_rng_fill(p, prof_dnnl_md_elems(plain), seed, lo, hi);
    rc = reorder(tmp, plain, *mem, md, err, errlen);
done:
    if (tmp)
        dnnl_memory_destroy(tmp);
    if (rc != CLEAVE_OK) {
        dnnl_memory_destroy(*mem);
        *mem = NULL;
    }
    return rc;
}

/* Copy between MEM (its own layout) and the caller's plain buffer BUF of N floats, through a
** reorder: into BUF when TO_MEM is 0, out of it into MEM otherwise.  oneDNN only reads a
** reorder's source, so wrapping a const buffer for a write is safe. */
static cleave_status copy_plain(dnnl_memory_t mem, const dnnl_memory_desc_t *plain, float *buf,
                                size_t n, int to_mem, char *err, size_t errlen)
{
    dnnl_engine_t eng;
    dnnl_memory_t wrap = NULL;
    const dnnl_memory_desc_t *md = NULL;
    if (!mem || !buf || n != prof_dnnl_md_elems(plain)) {
        if (err && errlen)
            snprintf(err, errlen, "tensor has %zu elements, not %zu", prof_dnnl_md_elems(plain), n);
        return CLEAVE_EINVAL;
    }
    cleave_status rc = prof_dnnl_engine(&eng, NULL, err, errlen);
    if (rc != CLEAVE_OK)
        return rc;
    dnnl_status_t s = dnnl_memory_get_memory_desc(mem, &md);
    if (s == dnnl_success)
        s = dnnl_memory_create(&wrap, plain, eng, buf);
    if (s != dnnl_success)
        return prof_dnnl_fail(s, to_mem ? "write" : "read-back", err, errlen);
    rc = to_mem ? reorder(wrap, plain, mem, md, err, errlen)
                : reorder(mem, md, wrap, plain, err, errlen);
    dnnl_memory_destroy(wrap);
    return rc;
}

cleave_status prof_dnnl_read(dnnl_memory_t mem, const dnnl_memory_desc_t *plain, float *dst,
                             size_t n, char *err, size_t errlen)
{
    return copy_plain(mem, plain, dst, n, 0, err, errlen);
}

cleave_status prof_dnnl_write(dnnl_memory_t mem, const dnnl_memory_desc_t *plain, const float *src,
                              size_t n, char *err, size_t errlen)
{
    return copy_plain(mem, plain, (float *)(uintptr_t)src, n, 1, err, errlen);
}

cleave_status prof_dnnl_xfer_run(prof_dnnl_xfer *x, int to_mem, dnnl_memory_t mem,
                                 const dnnl_memory_desc_t *plain, float *buf, size_t n, char *err,
                                 size_t errlen)
{
    dnnl_engine_t eng;
    dnnl_stream_t st;
    const dnnl_memory_desc_t *md = NULL;
    void *handle = NULL;
    if (!mem || !buf || n != prof_dnnl_md_elems(plain)) {
        if (err && errlen)
            snprintf(err, errlen, "tensor has %zu elements, not %zu", prof_dnnl_md_elems(plain), n);
        return CLEAVE_EINVAL;
    }
    cleave_status rc = prof_dnnl_engine(&eng, &st, err, errlen);
    if (rc != CLEAVE_OK)
        return rc;
    dnnl_status_t s = dnnl_memory_get_memory_desc(mem, &md);
    if (s == dnnl_success && !x->ready) {
        dnnl_primitive_desc_t pd = NULL;
        x->same = dnnl_memory_desc_equal(md, plain);
        if (!x->same) {
            s = dnnl_memory_create(&x->user, plain, eng, buf);
            if (s == dnnl_success)
                s = to_mem ? dnnl_reorder_primitive_desc_create(&pd, plain, eng, md, eng, NULL)
                           : dnnl_reorder_primitive_desc_create(&pd, md, eng, plain, eng, NULL);
            if (s == dnnl_success)
                s = dnnl_primitive_create(&x->prim, pd);
            if (pd)
                dnnl_primitive_desc_destroy(pd);
        }
        x->ready = s == dnnl_success;
        if (!x->ready)
            prof_dnnl_xfer_release(x); /* whatever was made; the next call tries again */
    }
    if (s == dnnl_success && x->same) {
        s = dnnl_memory_get_data_handle(mem, &handle);
        if (s == dnnl_success) {
            if (to_mem)
                memcpy(handle, buf, n * sizeof *buf);
            else
                memcpy(buf, handle, n * sizeof *buf);
        }
    } else if (s == dnnl_success) {
        s = dnnl_memory_set_data_handle(x->user, buf);
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, to_mem ? x->user : mem},
                                   {DNNL_ARG_TO, to_mem ? mem : x->user}};
        if (s == dnnl_success)
            s = dnnl_primitive_execute(x->prim, st, 2, args);
        if (s == dnnl_success)
            s = dnnl_stream_wait(st);
    }
    if (s != dnnl_success)
        return prof_dnnl_fail(s, "reorder", err, errlen);
    return CLEAVE_OK;
}

void prof_dnnl_xfer_release(prof_dnnl_xfer *x)
{
    if (x->prim)
        dnnl_primitive_destroy(x->prim);
    if (x->user)
        dnnl_memory_destroy(x->user);
    memset(x, 0, sizeof *x);
}

cleave_status prof_dnnl_extra_alloc(const_dnnl_primitive_desc_t pd, dnnl_query_t query,
                                    dnnl_memory_t *mem, char *err, size_t errlen)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, query, 0);
    *mem = NULL;
    if (!md || md->ndims == 0 || dnnl_memory_desc_get_size(md) == 0)
        return CLEAVE_OK;
    return prof_dnnl_mem_zero(mem, md, err, errlen);
}

cleave_status prof_dnnl_execute(dnnl_primitive_t prim, dnnl_stream_t stream, int nargs,
                                const dnnl_exec_arg_t *args, char *err, size_t errlen)
{
    dnnl_status_t s = dnnl_primitive_execute(prim, stream, nargs, args);
    if (s == dnnl_success)
        s = dnnl_stream_wait(stream);
    if (s != dnnl_success)
        return prof_dnnl_fail(s, "execution", err, errlen);
    return CLEAVE_OK;
}

void prof_dnnl_impl_name(const_dnnl_primitive_desc_t pd, char *buf, size_t buflen)
{
    const char *name = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) != dnnl_success || !name)
        name = "unknown";
    snprintf(buf, buflen, "%s", name);
}

const char *prof_dnnl_version(void)
{
    static char buf[32];
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, sizeof buf, "%d.%d.%d", v->major, v->minor, v->patch);
    return buf;
}

const char *prof_dnnl_isa(void)
{
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic:
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
    }
}
