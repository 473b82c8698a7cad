/*
** profiler/backend.c - choose the execution backend for a layer type and prepare it.
*/
#include "profiler/backend.h"

#include <stdio.h>

const char *prof_backend_for(cleave_layer_type type)
{
    switch (type) {
    case CLEAVE_LAYER_ARGMAX:
    case CLEAVE_LAYER_DROPOUT:
    case CLEAVE_LAYER_PAD:
    case CLEAVE_LAYER_TRANSPOSE:
    case CLEAVE_LAYER_SLICE: return "portable";
    case CLEAVE_LAYER_RESHAPE: return "none";
    default: return (int)type >= 0 && type < CLEAVE_LAYER_COUNT ? "onednn" : "unknown";
    }
}

cleave_status prof_kernel_prepare(prof_kernel **out, const cleave_layer *l, int threads,
                                  uint64_t seed, char *err, size_t errlen)
{
    *out = NULL;
    cleave_status rc = cleave_layer_validate(l, err, errlen);
    if (rc != CLEAVE_OK)
        return rc;
    if (threads < 1) {
        snprintf(err, errlen, "thread count must be positive, got %d", threads);
        return CLEAVE_EINVAL;
    }
    switch (l->type) {
    case CLEAVE_LAYER_CONV:
    case CLEAVE_LAYER_DECONV:
    case CLEAVE_LAYER_POOL:
    case CLEAVE_LAYER_FC:
    case CLEAVE_LAYER_BN:
    case CLEAVE_LAYER_ACT:
    case CLEAVE_LAYER_LRN:
    case CLEAVE_LAYER_SOFTMAX:
    case CLEAVE_LAYER_ADD:
    case CLEAVE_LAYER_MUL:
    case CLEAVE_LAYER_CONCAT: return prof_dnnl_cnn_prepare(out, l, threads, seed, err, errlen);
    case CLEAVE_LAYER_LSTM:
    case CLEAVE_LAYER_GRU:
    case CLEAVE_LAYER_RNN: return prof_dnnl_rnn_prepare(out, l, threads, seed, err, errlen);
    case CLEAVE_LAYER_ARGMAX:
    case CLEAVE_LAYER_DROPOUT:
    case CLEAVE_LAYER_PAD:
    case CLEAVE_LAYER_TRANSPOSE:
    case CLEAVE_LAYER_SLICE:
    case CLEAVE_LAYER_RESHAPE: return prof_portable_prepare(out, l, threads, seed, err, errlen);
    default:
        snprintf(err, errlen, "no backend runs layer type '%s'",
                 cleave_layer_type_name(l->type) ? cleave_layer_type_name(l->type) : "?");
        return CLEAVE_EUNSUPPORTED;
    }
}

void prof_kernel_release(prof_kernel *k)
{
    if (k)
        k->ops->release(k);
}
