/*
** planner/onnx.c - import an ONNX ModelProto (decoded by protobuf-c code generated from
** onnx.proto at build time) into a planner graph of catalogue layers.
**
** What is read: graph.node in file order (ONNX requires topological order; a graph that is not
** is caught as a cycle or a missing shape), graph.initializer and Constant nodes as constants
** (weights keep only their dims; small int64 tensors such as Reshape shapes, Slice bounds, Pad
** pads and float scalars such as Clip bounds keep their values), graph.input minus the
** initializers as network inputs, graph.output as outputs, and graph.value_info for the shape
** of every activation.  An activation whose shape is missing is inferred from its layer where
** the op allows it (cleave_layer_output_shape, Flatten, Reshape with a constant shape, ...).
** The op mapping is documented in docs/graph-format.md.
*/
#include "planner/graph.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/errmsg.h"
#include "onnx.pb-c.h"

#define MAX_RANK 8                 /* dims kept per value; more is "rank too large" */
#define MAX_NESTING 64             /* deepest message nesting accepted (ONNX needs < 20) */
#define MAX_CONST_INTS 16          /* int64 values kept from small constants */
#define DIM_MAX ((int64_t)1 << 40) /* as the catalogue's limits (common/layer.c) */
#define ELEMS_MAX ((int64_t)1 << 58)
#define WINDOW_MAX ((int64_t)1 << 31)

/* What the importer knows about one ONNX value name. */
typedef struct val {
    const char *name;
    int known; /* the shape below is static */
    int rank;  /* may exceed MAX_RANK (then dims holds the first ones) */
    int64_t dims[MAX_RANK];
    const char *symbolic;          /* the first symbolic dimension's name, when !known */
    int is_const;                  /* initializer or Constant output */
    const Onnx__TensorProto *init; /* its data, or NULL for a value_int(s)/value_float Constant */
    int nints;                     /* inline Constant values */
    int64_t ints[MAX_CONST_INTS];
    int has_float;
    double fval;
    int tensor;   /* graph tensor id, or -1 */
    int producer; /* ONNX node index writing it, or -1 */
    int used;     /* read by some node or a graph output */
} val;

typedef struct ctx {
    plan_graph *g;
    plan_names *index; /* name -> vals[] index */
    val *vals;
    int nvals, cap;
    int64_t opset;
    unsigned flags;
    char *err;
    size_t errlen;
    const char *node_name; /* of the node being imported, for messages */
} ctx;

/* The activations, layer and output a node maps to. */
typedef struct build {
    cleave_layer layer;
    int acts[PLAN_MAX_NODE_INPUTS]; /* graph tensor ids */
    int nacts;
    unsigned flags;
    int out_index;  /* the ONNX output that becomes the node's output */
    int have_shape; /* out_dims/out_rank were inferred */
    int out_rank;
    int64_t out_dims[MAX_RANK];
} build;

/* A message about the current node: "node 'NAME': ...". */
static cleave_status node_err(ctx *c, cleave_status rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static cleave_status node_err(ctx *c, cleave_status rc, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cl_errf(c->err, c->errlen, "node '%s': %s", c->node_name, msg);
    return rc;
}

/* ---- wire-format pre-check ------------------------------------------------------------------ */

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* protobuf-c decodes nested messages recursively without a depth limit, so a few kilobytes of
** nested length prefixes could exhaust the stack.  Walk the wire format with the message
** descriptors first and refuse nesting deeper than MAX_NESTING.  Malformed data is left for
** protobuf-c to reject: this returns -1 only for excessive depth. */
static int nesting_ok(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, int depth)
{
    const uint8_t *end = p + len;
    if (depth > MAX_NESTING)
        return -1;
    while (p < end) {
        uint64_t key, n;
        if (read_varint(&p, end, &key))
            return 0;
        switch (key & 7) {
        case 0:
            if (read_varint(&p, end, &n))
                return 0;
            break;
        case 1:
            if ((size_t)(end - p) < 8)
                return 0;
            p += 8;
            break;
        case 5:
            if ((size_t)(end - p) < 4)
                return 0;
            p += 4;
            break;
        case 2: {
            if (read_varint(&p, end, &n) || n > (uint64_t)(end - p))
                return 0;
            const ProtobufCFieldDescriptor *f =
                key >> 3 <= UINT32_MAX
                    ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3))
                    : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                nesting_ok(f->descriptor, p, (size_t)n, depth + 1))
                return -1;
            p += n;
            break;
        }
        default: return 0; /* groups or garbage: protobuf-c decides */
        }
    }
    return 0;
}

/* ---- values -----------------------------------------------------------------------------------
 */

static val *find_val(ctx *c, const char *name)
{
    int i = plan_names_get(c->index, name);
    return i >= 0 ? &c->vals[i] : NULL;
}

/* The value called NAME, created empty if new; NULL when out of memory. */
static val *get_val(ctx *c, const char *name)
{
    val *v = find_val(c, name);
    if (v)
        return v;
    if (c->nvals == c->cap) {
        int ncap = c->cap ? 2 * c->cap : 256;
        val *nv = realloc(c->vals, sizeof *nv * (size_t)ncap);
        if (!nv)
            return NULL;
        c->vals = nv;
        c->cap = ncap;
    }
    v = &c->vals[c->nvals];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->tensor = -1;
    v->producer = -1;
    if (plan_names_put(c->index, name, c->nvals) != 0)
        return NULL;
    c->nvals++;
    return v;
}

/* Record the shape of a ValueInfoProto (when it is a tensor type with a shape). */
static void set_shape_from_info(val *v, const Onnx__ValueInfoProto *vi)
{
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type ||
        !tp->tensor_type->shape)
        return;
    const Onnx__TensorShapeProto *sp = tp->tensor_type->shape;
    int known = 1;
    const char *sym = NULL;
    for (size_t i = 0; i < sp->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = sp->dim[i];
        if (!d || d->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (known && d && d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
                sym = d->dim_param;
            known = 0;
            break;
        }
        if (i < MAX_RANK)
            v->dims[i] = d->dim_value;
    }
    if (!known) {
        if (!v->known && !v->symbolic)
            v->symbolic = sym ? sym : "?";
        return;
    }
    v->known = 1;
    v->symbolic = NULL;
    v->rank = sp->n_dim > 64 ? 64 : (int)sp->n_dim;
}

static void set_shape_from_tensor(val *v, const Onnx__TensorProto *t)
{
    v->known = 1;
    v->rank = t->n_dims > 64 ? 64 : (int)t->n_dims;
    for (size_t i = 0; i < t->n_dims && i < MAX_RANK; i++)
        v->dims[i] = t->dims[i];
}

/* The int64 values of a constant into OUT (at most MAX); returns how many, or -1 when they
** cannot be read (not a constant, not an integer type, stripped, or too many). */
static int const_ints(const val *v, int64_t *out, int max)
{
    if (!v || !v->is_const)
        return -1;
    const Onnx__TensorProto *t = v->init;
    if (!t) {
        if (v->nints > max)
            return -1;
        memcpy(out, v->ints, sizeof *out * (size_t)v->nints);
        return v->nints;
    }
    int64_t count = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || t->dims[i] > max)
            return -1;
        count *= t->dims[i];
        if (count > max)
            return -1;
    }
    int n = (int)count;
    int32_t dt = t->has_data_type ? t->data_type : 0;
    if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
        if ((int64_t)t->n_int64_data == count) {
            memcpy(out, t->int64_data, sizeof *out * (size_t)n);
            return n;
        }
        if (t->has_raw_data && t->raw_data.len == 8 * (size_t)n) {
            for (int i = 0; i < n; i++) { /* little-endian per onnx.proto */
                uint64_t u = 0;
                for (int b = 7; b >= 0; b--)
                    u = u << 8 | t->raw_data.data[8 * i + b];
                out[i] = (int64_t)u;
            }
            return n;
        }
    } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32) {
        if ((int64_t)t->n_int32_data == count) {
            for (int i = 0; i < n; i++)
                out[i] = t->int32_data[i];
            return n;
        }
        if (t->has_raw_data && t->raw_data.len == 4 * (size_t)n) {
            for (int i = 0; i < n; i++) {
                uint32_t u = 0;
                for (int b = 3; b >= 0; b--)
                    u = u << 8 | t->raw_data.data[4 * i + b];
                out[i] = (int32_t)u;
            }
            return n;
        }
    }
    return -1;
}

/* The value of a scalar (one-element) floating or integer constant; 0, or -1 if unreadable. */
static int const_scalar(const val *v, double *out)
{
    int64_t iv;
    if (!v || !v->is_const)
        return -1;
    if (!v->init) {
        if (v->has_float) {
            *out = v->fval;
            return 0;
        }
        if (v->nints == 1) {
            *out = (double)v->ints[0];
            return 0;
        }
        return -1;
    }
    const Onnx__TensorProto *t = v->init;
    for (size_t i = 0; i < t->n_dims; i++)
        if (t->dims[i] != 1)
            return -1;
    int32_t dt = t->has_data_type ? t->data_type : 0;
    if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        if (t->n_float_data == 1) {
            *out = t->float_data[0];
            return 0;
        }
        if (t->has_raw_data && t->raw_data.len == 4) {
            uint32_t u = 0;
            float f;
            for (int b = 3; b >= 0; b--)
                u = u << 8 | t->raw_data.data[b];
            memcpy(&f, &u, sizeof f);
            *out = f;
            return isfinite(*out) ? 0 : -1;
        }
    } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
        if (t->n_double_data == 1) {
            *out = t->double_data[0];
            return 0;
        }
        if (t->has_raw_data && t->raw_data.len == 8) {
            uint64_t u = 0;
            for (int b = 7; b >= 0; b--)
                u = u << 8 | t->raw_data.data[b];
            memcpy(out, &u, sizeof *out);
            return isfinite(*out) ? 0 : -1;
        }
    } else if (const_ints(v, &iv, 1) == 1) {
        *out = (double)iv;
        return 0;
    }
    return -1;
}

/* ---- attributes ------------------------------------------------------------------------------ */

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i] && n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

static int64_t attr_int(const Onnx__NodeProto *n, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = attr(n, name);
    return a && a->has_i ? a->i : def;
}

static double attr_float(const Onnx__NodeProto *n, const char *name, double def)
{
    const Onnx__AttributeProto *a = attr(n, name);
    return a && a->has_f && isfinite(a->f) ? a->f : def;
}

/* The ints of attribute NAME, or NULL (with *COUNT 0) when absent. */
static const int64_t *attr_ints(const Onnx__NodeProto *n, const char *name, size_t *count)
{
    const Onnx__AttributeProto *a = attr(n, name);
    *count = a ? a->n_ints : 0;
    return a && a->n_ints ? a->ints : NULL;
}

/* 1 when string attribute NAME equals S; DEF when the attribute is absent. */
static int attr_is(const Onnx__NodeProto *n, const char *name, const char *s, int def)
{
    const Onnx__AttributeProto *a = attr(n, name);
    if (!a || !a->has_s)
        return def;
    size_t len = strlen(s);
    return a->s.len == len && memcmp(a->s.data, s, len) == 0;
}

/* ---- inputs -----------------------------------------------------------------------------------
 */

/* Input I of node N, or NULL when absent or empty (an omitted optional input). */
static val *input_val(ctx *c, const Onnx__NodeProto *n, size_t i)
{
    if (i >= n->n_input || !n->input[i] || !n->input[i][0])
        return NULL;
    return find_val(c, n->input[i]);
}

/* Every dimension of V in [1, DIM_MAX] and the element count within ELEMS_MAX, reported as
** plan_graph_finish() reports tensors ("tensor 'x' has zero size (1x0x3x3)"), so that no later
** arithmetic on the dims can overflow. */
static cleave_status dims_ok(ctx *c, const val *v, const char *what)
{
    int64_t e = 1;
    int neg = 0, zero = 0, big = 0;
    for (int i = 0; i < v->rank && i < MAX_RANK; i++) {
        neg |= v->dims[i] < 0;
        zero |= v->dims[i] == 0;
        big |= v->dims[i] > DIM_MAX ||
               (v->dims[i] > 0 && (__builtin_mul_overflow(e, v->dims[i], &e) || e > ELEMS_MAX));
    }
    if (!neg && !zero && !big)
        return CLEAVE_OK;
    char s[160];
    size_t len = 0;
    s[0] = '\0';
    for (int i = 0; i < v->rank && i < 4 && len < sizeof s; i++) {
        int k = snprintf(s + len, sizeof s - len, "%s%lld", i ? "x" : "", (long long)v->dims[i]);
        if (k > 0)
            len += (size_t)k;
    }
    cl_errf(c->err, c->errlen,
            neg    ? "%s '%s' has a negative dimension (%s)"
            : zero ? "%s '%s' has zero size (%s)"
                   : "%s '%s' is too large (%s)",
            what, v->name, s);
    return CLEAVE_EINVAL;
}

/* Shape checks of a value about to be used as an activation. */
static cleave_status check_act_shape(ctx *c, const val *v)
{
    if (!v->known) {
        if (v->symbolic)
            return node_err(c, CLEAVE_EPARSE, "input '%s' has a symbolic dimension '%s'", v->name,
                            v->symbolic);
        return node_err(c, CLEAVE_EPARSE, "input '%s' has no static shape", v->name);
    }
    if (v->rank > 4)
        return node_err(c, CLEAVE_EUNSUPPORTED,
                        "input '%s' has rank %d; at most 4 dimensions are supported", v->name,
                        v->rank);
    return dims_ok(c, v, "tensor");
}

/* The graph tensor for value V (created from its known shape on first use). */
static cleave_status tensor_of(ctx *c, val *v, int *id)
{
    cleave_status rc;
    if (v->tensor < 0) {
        if ((rc = check_act_shape(c, v)) != CLEAVE_OK)
            return rc;
        int64_t one = 1;
        rc = plan_graph_add_tensor(c->g, v->name, v->rank ? v->dims : &one, v->rank ? v->rank : 1,
                                   &v->tensor, c->err, c->errlen);
        if (rc != CLEAVE_OK)
            return rc;
    }
    *id = v->tensor;
    return CLEAVE_OK;
}

/* Require input I (the data input): known shape, rank 1..4.  A non-constant input becomes an
** activation of B.  *OUT receives the value. */
static cleave_status data_input(ctx *c, const Onnx__NodeProto *n, size_t i, build *b, val **out)
{
    val *v = input_val(c, n, i);
    cleave_status rc;
    if (!v) {
        if (i < n->n_input && n->input[i] && n->input[i][0])
            return node_err(c, CLEAVE_EINVAL,
                            "input '%s' is neither a network input nor the output of a node",
                            n->input[i]);
        return node_err(c, CLEAVE_EPARSE, "input %zu is missing", i);
    }
    if ((rc = check_act_shape(c, v)) != CLEAVE_OK)
        return rc;
    if (!v->is_const) {
        if (b->nacts == PLAN_MAX_NODE_INPUTS)
            return node_err(c, CLEAVE_EUNSUPPORTED, "more than %d inputs", PLAN_MAX_NODE_INPUTS);
        if ((rc = tensor_of(c, v, &b->acts[b->nacts])) != CLEAVE_OK)
            return rc;
        b->nacts++;
    }
    *out = v;
    return CLEAVE_OK;
}

/* Input I must be a constant with a known shape (a weight, a shape, a bound). */
static cleave_status const_input(ctx *c, const Onnx__NodeProto *n, size_t i, const char *what,
                                 val **out)
{
    val *v = input_val(c, n, i);
    if (!v)
        return node_err(c, CLEAVE_EPARSE, "%s (input %zu) is missing", what, i);
    if (!v->is_const)
        return node_err(c, CLEAVE_EUNSUPPORTED, "%s '%s' is not a constant", what, v->name);
    if (!v->known || v->rank > 4)
        return node_err(c, CLEAVE_EUNSUPPORTED, "%s '%s' has an unsupported shape", what, v->name);
    *out = v;
    return dims_ok(c, v, what);
}

/* Inputs from I on must all be constants (weights, statistics) or absent. */
static cleave_status rest_const(ctx *c, const Onnx__NodeProto *n, size_t i)
{
    for (; i < n->n_input; i++) {
        val *v = input_val(c, n, i);
        if (v && !v->is_const)
            return node_err(c, CLEAVE_EUNSUPPORTED, "input '%s' must be a constant", v->name);
    }
    return CLEAVE_OK;
}

/* The canonical 4-D form of V's dims into the layer's n c h w (right-padded with ones). */
static void set_nchw(cleave_layer *l, const val *v)
{
    int64_t d[4] = {1, 1, 1, 1};
    for (int i = 0; i < v->rank && i < 4; i++)
        d[i] = v->dims[i];
    l->n = d[0];
    l->c = d[1];
    l->h = d[2];
    l->w = d[3];
}

static void set_out(build *b, const int64_t *dims, int rank)
{
    b->have_shape = 1;
    b->out_rank = rank;
    for (int i = 0; i < rank && i < MAX_RANK; i++)
        b->out_dims[i] = dims[i];
}

/* Output = the layer's output shape, in rank RANK.  The layer is validated first: the shape of
** an invalid layer is undefined (and could overflow). */
static cleave_status out_from_layer(ctx *c, build *b, int rank)
{
    char msg[200];
    if (cleave_layer_validate(&b->layer, msg, sizeof msg) != CLEAVE_OK)
        return node_err(c, CLEAVE_EINVAL, "%s", msg);
    cleave_shape s = cleave_layer_output_shape(&b->layer);
    set_out(b, s.d, rank);
    return CLEAVE_OK;
}

static int64_t norm_axis(int64_t axis, int rank)
{
    return axis < 0 ? axis + rank : axis;
}

/* ---- windows (Conv, ConvTranspose, pools) -----------------------------------------------------
 */

/* Read kernel_shape (or KDEF when the op allows it to be taken from the weight), strides,
** dilations, pads and auto_pad for an input X of rank 3 (1-D: the spatial axis is h, w = 1)
** or 4.  Fills kh kw sh sw dh dw pt pl pb pr. */
static cleave_status window(ctx *c, const Onnx__NodeProto *n, const val *x, const int64_t *kdef,
                            cleave_layer *l, int transposed)
{
    int sp = x->rank - 2;
    size_t nk, ns, nd, np;
    const int64_t *ks = attr_ints(n, "kernel_shape", &nk);
    const int64_t *st = attr_ints(n, "strides", &ns);
    const int64_t *dl = attr_ints(n, "dilations", &nd);
    const int64_t *pd = attr_ints(n, "pads", &np);
    if (sp < 1 || sp > 2)
        return node_err(c, CLEAVE_EUNSUPPORTED, "%s on a rank-%d input is not supported",
                        n->op_type, x->rank);
    if (!ks && !kdef)
        return node_err(c, CLEAVE_EPARSE, "attribute 'kernel_shape' is missing");
    if ((ks && nk != (size_t)sp) || (st && ns != (size_t)sp) || (dl && nd != (size_t)sp) ||
        (pd && np != 2 * (size_t)sp))
        return node_err(c, CLEAVE_EPARSE,
                        "attributes kernel_shape/strides/dilations/pads do not fit %d spatial "
                        "dimensions",
                        sp);
    if (!ks)
        ks = kdef;
    int64_t k[2] = {ks[0], sp == 2 ? ks[1] : 1};
    int64_t s[2] = {st ? st[0] : 1, st && sp == 2 ? st[1] : 1};
    int64_t d[2] = {dl ? dl[0] : 1, dl && sp == 2 ? dl[1] : 1};
    int64_t pb[2] = {pd ? pd[0] : 0, pd && sp == 2 ? pd[1] : 0};
    int64_t pe[2] = {pd ? pd[sp] : 0, pd && sp == 2 ? pd[sp + 1] : 0};
    int64_t in[2] = {x->dims[2], sp == 2 ? x->dims[3] : 1};
    /* Window parameters beyond 2^31 are absurd, and their pairwise products (kernel area,
    ** stride area in the static features) must stay within 63 bits. */
    for (int i = 0; i < 2; i++)
        if (k[i] > WINDOW_MAX || s[i] > WINDOW_MAX || d[i] > WINDOW_MAX)
            return node_err(c, CLEAVE_EINVAL,
                            "kernel, stride or dilation larger than %lld is not supported",
                            (long long)WINDOW_MAX);
    int same_upper = attr_is(n, "auto_pad", "SAME_UPPER", 0);
    int same_lower = attr_is(n, "auto_pad", "SAME_LOWER", 0);
    if (same_upper || same_lower || attr_is(n, "auto_pad", "VALID", 0)) {
        if (transposed && (same_upper || same_lower))
            return node_err(c, CLEAVE_EUNSUPPORTED, "auto_pad SAME is not supported here");
        for (int i = 0; i < 2; i++) {
            pb[i] = pe[i] = 0;
            if ((same_upper || same_lower) && i < sp) {
                /* SAME: output = ceil(in / stride); the padding that gives it, split with the
                ** odd element at the end (UPPER) or the beginning (LOWER). */
                if (s[i] < 1 || s[i] > ((int64_t)1 << 40) || k[i] < 1 ||
                    k[i] > ((int64_t)1 << 40) || d[i] < 1 || d[i] > ((int64_t)1 << 20) ||
                    in[i] < 1 || in[i] > ((int64_t)1 << 40))
                    return node_err(c, CLEAVE_EINVAL, "bad window for auto_pad");
                int64_t o = (in[i] + s[i] - 1) / s[i];
                int64_t total = (o - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in[i];
                if (total < 0)
                    total = 0;
                pb[i] = same_upper ? total / 2 : total - total / 2;
                pe[i] = total - pb[i];
            }
        }
    } else if (!attr_is(n, "auto_pad", "NOTSET", 1)) {
        return node_err(c, CLEAVE_EUNSUPPORTED, "unknown auto_pad value");
    }
    l->kh = k[0];
    l->kw = k[1];
    l->sh = s[0];
    l->sw = s[1];
    l->dh = d[0];
    l->dw = d[1];
    l->pt = pb[0];
    l->pl = pb[1];
    l->pb = pe[0];
    l->pr = pe[1];
    return CLEAVE_OK;
}

/* ---- builders, one per op family ---------------------------------------------------------- */

typedef cleave_status (*builder)(ctx *c, const Onnx__NodeProto *n, build *b);

static cleave_status b_conv(ctx *c, const Onnx__NodeProto *n, build *b)
{
    val *x, *w;
    cleave_status rc;
    int transposed = strcmp(n->op_type, "ConvTranspose") == 0;
    if ((rc = data_input(c, n, 0, b, &x)) || (rc = const_input(c, n, 1, "weight", &w)) ||
        (rc = rest_const(c, n, 2)))
        return rc;
    if (w->rank != x->rank)
        return node_err(c, CLEAVE_EINVAL, "weight '%s' has rank %d, the input %d", w->name, w->rank,
                        x->rank);
    cleave_layer_init(&b->layer, transposed ? CLEAVE_LAYER_DECONV : CLEAVE_LAYER_CONV);
    cleave_layer *l = &b->layer;
    set_nchw(l, x);
    l->groups = attr_int(n, "group", 1);
    if ((rc = window(c, n, x, &w->dims[2], l, transposed)))
        return rc;
    if (l->groups < 1 || l->groups > l->c)
        return node_err(c, CLEAVE_EINVAL, "bad group count %lld", (long long)l->groups);
    if (!transposed) {
        int64_t cin;
        l->k = w->dims[0];
        if (__builtin_mul_overflow(w->dims[1], l->groups, &cin) || cin != l->c)
            return node_err(c, CLEAVE_EINVAL,
                            "weight '%s' expects %lld input channels per group, the input has "
                            "%lld in %lld groups",
                            w->name, (long long)w->dims[1], (long long)l->c, (long long)l->groups);
    } else {
        if (w->dims[0] != l->c)
            return node_err(c, CLEAVE_EINVAL, "weight '%s' expects %lld input channels, got %lld",
                            w->name, (long long)w->dims[0], (long long)l->c);
        if (__builtin_mul_overflow(w->dims[1], l->groups, &l->k))
            return node_err(c, CLEAVE_EINVAL, "weight '%s' is too large", w->name);
        size_t nop;
        const int64_t *op = attr_ints(n, "output_padding", &nop);
        for (size_t i = 0; op && i < nop && i < 2; i++) {
            /* ONNX adds output_padding at the end; fold it into (smaller) end padding. */
            int64_t *pe = i == 0 ? &l->pb : &l->pr;
            if (op[i] < 0 || op[i] > *pe)
                return node_err(c, CLEAVE_EUNSUPPORTED,
                                "output_padding larger than the end padding is not supported");
            *pe -= op[i];
        }
    }
    l->bias = input_val(c, n, 2) != NULL;
    return out_from_layer(c, b, x->rank);
}

static cleave_status b_pool(ctx *c, const Onnx__NodeProto *n, build *b)
{
    val *x;
    cleave_status rc;
    int avg = strcmp(n->op_type, "AveragePool") == 0;
    if ((rc = data_input(c, n, 0, b, &x)))
        return rc;
    cleave_layer_init(&b->layer, CLEAVE_LAYER_POOL);
    cleave_layer *l = &b->layer;
    set_nchw(l, x);
    l->kind = !avg                                  ? CLEAVE_POOL_MAX
              : attr_int(n, "count_include_pad", 0) ? CLEAVE_POOL_AVG_PAD
                                                    : CLEAVE_POOL_AVG;
    if ((rc = window(c, n, x, NULL, l, 0)))
        return rc;
    if (l->dh != 1 || l->dw != 1)
        return node_err(c, CLEAVE_EUNSUPPORTED, "dilated pooling is not supported");
    if (attr_int(n, "ceil_mode", 0)) {
        /* Ceil mode: out = ceil((in + pads - k) / s) + 1, less one if the last window would
        ** start in the end padding (ONNX and PyTorch).  The catalogue computes floor sizes,
        ** so extend the end padding until the floor formula gives the ceil size. */
        int64_t in[2] = {l->h, l->w}, k[2] = {l->kh, l->kw}, s[2] = {l->sh, l->sw};
        int64_t p0[2] = {l->pt, l->pl}, *p1[2] = {&l->pb, &l->pr};
        for (int i = 0; i < 2; i++) {
            if (s[i] < 1 || s[i] > ((int64_t)1 << 40) || in[i] > ((int64_t)1 << 40) ||
                k[i] > ((int64_t)1 << 40) || p0[i] < 0 || *p1[i] < 0 ||
                p0[i] > ((int64_t)1 << 40) || *p1[i] > ((int64_t)1 << 40))
                continue; /* validation reports the bad value */
            int64_t span = in[i] + p0[i] + *p1[i] - k[i];
            if (span < 0)
                continue;
            int64_t o = (span + s[i] - 1) / s[i] + 1;
            if ((o - 1) * s[i] >= in[i] + p0[i])
                o--;
            int64_t extra = (o - 1) * s[i] + k[i] - (in[i] + p0[i] + *p1[i]);
            if (extra > 0)
                *p1[i] += extra;
        }
    }
    return out_from_layer(c, b, x->rank);
}

static cleave_status b_global_pool(ctx *c, const Onnx__NodeProto *n, build *b)
{
    val *x;
    cleave_status rc;
    if ((rc = data_input(c, n, 0, b, &x)))
        return rc;
    if (x->rank < 3)
        return node_err(c, CLEAVE_EUNSUPPORTED, "%s on a rank-%d input is not supported",
                        n->op_type, x->rank);
    cleave_layer_init(&b->layer, CLEAVE_LAYER_POOL);
    set_nchw(&b->layer, x);
    b->layer.kind = strstr(n->op_type, "Max") ? CLEAVE_POOL_MAX : CLEAVE_POOL_AVG;
    b->layer.global = 1;
    b->layer.kh = b->layer.h;
    b->layer.kw = b->layer.w;
    return out_from_layer(c, b, x->rank);
}

/* ReduceMean over exactly the spatial axes is a global average pool (keepdims 0 or 1: the
** canonical 4-D shapes agree). */
static cleave_status b_reduce_mean(ctx *c, const Onnx__NodeProto *n, build *b)
{
    val *x;
    cleave_status rc;
    int64_t axes[MAX_CONST_INTS];
    int na;
    if ((rc = data_input(c, n, 0, b, &x)))
        return rc;
    size_t cnt;
    const int64_t *aa = attr_ints(n, "axes", &cnt);
    if (aa) {
        if (cnt > MAX_CONST_INTS)
            return node_err(c, CLEAVE_EUNSUPPORTED, "too many axes");
        na = (int)cnt;
        memcpy(axes, aa, sizeof *axes * cnt);
    } else if (input_val(c, n, 1)) {
        na = const_ints(input_val(c, n, 1), axes, MAX_CONST_INTS);
        if (na < 0)
            return node_err(c, CLEAVE_EUNSUPPORTED, "ReduceMean axes are not a constant");
    } else {
        return node_err(c, CLEAVE_EUNSUPPORTED, "ReduceMean over all axes is not supported");
    }
    unsigned mask = 0;
    for (int i = 0; i < na; i++) {
        int64_t a = norm_axis(axes[i], x->rank);
        if (a < 0 || a >= x->rank)
            return node_err(c, CLEAVE_EINVAL, "axis %lld is out of range", (long long)axes[i]);
        mask |= 1u << a;
    }
    unsigned spatial = x->rank == 4 ? 0xcu : x->rank == 3 ? 0x4u : 0u;
    if (!spatial || mask != spatial)
        return node_err(c, CLEAVE_EUNSUPPORTED,
                        "ReduceMean over axes other than the spatial ones is not supported");
    cleave_layer_init(&b->layer, CLEAVE_LAYER_POOL);
    set_nchw(&b->layer, x);
    b->layer.kind = CLEAVE_POOL_AVG;
    b->layer.global = 1;
    b->layer.kh = b->layer.h;
    b->layer.kw = b->layer.w;
    int keep = attr_int(n, "keepdims", 1) != 0;
    return out_from_layer(c, b, keep ? x->rank : 2);
}

static cleave_status b_gemm(ctx *c, const Onnx__NodeProto *n, build *b)
{
    val *a, *w;
    cleave_status rc;
    if ((rc = data_input(c, n, 0, b, &a)) || (rc = const_input(c, n, 1, "weight", &w)) ||
        (rc = rest_const(c, n, 2)))
        return rc;
    if (a->rank != 2 || w->rank != 2)
        return node_err(c, CLEAVE_EINVAL, "Gemm needs 2-D inputs, got ranks %d and %d", a->rank,
                        w->rank);
    int ta = attr_int(n, "transA", 0) != 0, tb = attr_int(n, "transB", 0) != 0;
    int64_t m = ta ? a->dims[1] : a->dims[0], ka = ta ? a->dims[0] : a->dims[1];
    int64_t kb = tb ? w->dims[1] : w->dims[0], nn = tb ? w->dims[0] : w->dims[1];
    if (ka != kb)
        return node_err(c, CLEAVE_EINVAL, "Gemm inner dimensions differ (%lld and %lld)",
                        (long long)ka, (long long)kb);
    cleave_layer_init(&b->layer, CLEAVE_LAYER_FC);
    b->layer.n = m;
    b->layer.c = ka;
    b->layer.k = nn;
    b->layer.bias = input_val(c, n, 2) != NULL;
    int64_t o[2] = {m, nn};
    set_out(b, o, 2);
    return CLEAVE_OK;
}

/* MatMul with a constant 2-D right operand is a fully-connected layer over the rows of A. */
static cleave_status b_matmul(ctx *c, const Onnx__NodeProto *n, build *b)
{
    val *a, *w;
    cleave_status rc;
    if ((rc = data_input(c, n, 0, b, &a)))
        return rc;
    val *wv = input_val(c, n, 1);
    if (!wv || !wv->is_const || !wv->known || wv->rank != 2)
        return node_err(c, CLEAVE_EUNSUPPORTED,
                        "MatMul needs a constant 2-D weight as its second input");
    if ((rc = const_input(c, n, 1, "weight", &w)))
        return rc;
    if (a->rank < 2)
        return node_err(c, CLEAVE_EUNSUPPORTED, "MatMul of a rank-%d input is not supported",
                        a->rank);
    int64_t rows = 1;
    for (int i = 0; i < a->rank - 1; i++) {
        if (a->dims[i] < 1 || a->dims[i] > ((int64_t)1 << 40) ||
            __builtin_mul_overflow(rows, a->dims[i], &rows) || rows > ((int64_t)1 << 40))
            return node_err(c, CLEAVE_EINVAL, "input '%s' has a bad shape", a->name);
    }
    int64_t ka = a->dims[a->rank - 1];
    if (ka != w->dims[0])
        return node_err(c, CLEAVE_EINVAL, "MatMul inner dimensions differ (%lld and %lld)",
                        (long long)ka, (long long)w->dims[0]);
    cleave_layer_init(&b->layer, CLEAVE_LAYER_FC);
    b->layer.n = rows;
    b->layer.c = ka;
    b->layer.k = w->dims[1];
    b->layer.bias = 0;
    int64_t o[MAX_RANK];
    memcpy(o, a->dims, sizeof o);
    o[a->rank - 1] = w->dims[1];
    set_out(b, o, a->rank);
    return CLEAVE_OK;
}

/* A unary op that keeps the shape: activations, BatchNormalization, Dropout, LRN. */
static cleave_status unary(ctx *c, const Onnx__NodeProto *n, build *b, cleave_layer_type t)
{
    val *x;
    cleave_status rc;
    if ((rc = data_input(c, n, 0, b, &x)) || (rc = rest_const(c, n, 1)))
        return rc;
    cleave_layer_init(&b->layer, t);
    set_nchw(&b->layer, x);
    set_out(b, x->dims, x->rank ? x->rank : 1);
    if (x->rank == 0)
        b->out_dims[0] = 1;
    return CLEAVE_OK;
}

static cleave_status b_act(ctx *c, const Onnx__NodeProto *n, build *b)
{
    static const struct {
        const char *op;
        cleave_act_kind kind;
    } map[] = {{"Relu", CLEAVE_ACT_RELU},
               {"Sigmoid", CLEAVE_ACT_SIGMOID},
               {"Tanh", CLEAVE_ACT_TANH},
               {"HardSwish", CLEAVE_ACT_HARDSWISH},
               {"HardSigmoid", CLEAVE_ACT_HARDSIGMOID},
               {"LeakyRelu", CLEAVE_ACT_LEAKY}};
    cleave_status rc = unary(c, n, b, CLEAVE_LAYER_ACT);
    if (rc)
        return rc;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(n->op_type, map[i].op) == 0)
            b->layer.kind = map[i].kind;
    b->layer.alpha = 0.0;
    b->layer.beta = 0.0;
    if (b->layer.kind == CLEAVE_ACT_HARDSIGMOID) {
        b->layer.alpha = attr_float(n, "alpha", 0.2);
        b->layer.beta = attr_float(n, "beta", 0.5);
    } else if (b->layer.kind == CLEAVE_ACT_LEAKY) {
        b->layer.alpha = attr_float(n, "alpha", 0.01);
    }
    return CLEAVE_OK;
}

/* Clip: relu6 for [0, 6], relu for [0, inf), otherwise clip [min, max].  Opset 11 and later
** take the bounds as (constant) inputs, earlier opsets as attributes. */
static cleave_status b_clip(ctx *c, const Onnx__NodeProto *n, build *b)
{
    val *x;
    cleave_status rc;
    double lo = -FLT_MAX, hi = FLT_MAX;
    if ((rc = data_input(c, n, 0, b, &x)))
        return rc;
    if (c->opset < 11) {
        lo = attr_float(n, "min", lo);
        hi = attr_float(n, "max", hi);
    } else {
        for (size_t i = 1; i <= 2; i++) {
            val *v = input_val(c, n, i);
            if (!v)
                continue;
            if (!v->is_const)
                return node_err(c, CLEAVE_EUNSUPPORTED, "Clip bound '%s' is not a constant",
                                v->name);
            if (const_scalar(v, i == 1 ? &lo : &hi) != 0)
                return node_err(c, CLEAVE_EUNSUPPORTED, "cannot read the Clip bound '%s'", v->name);
        }
    }
    cleave_layer_init(&b->layer, CLEAVE_LAYER_ACT);
    set_nchw(&b->layer, x);
    if (lo == 0.0 && hi == 6.0) {
        b->layer.kind = CLEAVE_ACT_RELU6;
        b->layer.alpha = b->layer.beta = 0.0;
    } else if (lo == 0.0 && hi >= FLT_MAX) {
        b->layer.kind = CLEAVE_ACT_RELU;
        b->layer.alpha = b->layer.beta = 0.0;
    } else {
        b->layer.kind = CLEAVE_ACT_CLIP;
        b->layer.alpha = lo;
        b->layer.beta = hi;
    }
    set_out(b, x->dims, x->rank ? x->rank : 1);
    if (x->rank == 0)
        b->out_dims[0] = 1;
    return CLEAVE_OK;
}

/* Add, Sub (add) and Mul, Div (mul).  The layer has the broadcast output shape; a constant
** operand (a bias or scale) is not an input of the node, and the catalogue prices it as a full
** tensor, an upper bound.  Activations must have the output's rank. */
static cleave_status b_binary(ctx *c, const Onnx__NodeProto *n, build *b)
{
    val *v[2];
    cleave_status rc;
    int is_add = strcmp(n->op_type, "Add") == 0 || strcmp(n->op_type, "Sub") == 0;
    if (n->n_input != 2)
        return node_err(c, CLEAVE_EPARSE, "%s takes 2 inputs, got %zu", n->op_type, n->n_input);
    for (int i = 0; i < 2; i++)
        if ((rc = data_input(c, n, (size_t)i, b, &v[i])))
            return rc;
    int rank = v[0]->rank > v[1]->rank ? v[0]->rank : v[1]->rank;
    int64_t o[4] = {1, 1, 1, 1};
    /* numpy broadcasting: align on the right; each pair equal, or one of them 1. */
    for (int i = 0; i < rank; i++) {
        int64_t d0 = 1, d1 = 1;
        int j0 = i - (rank - v[0]->rank), j1 = i - (rank - v[1]->rank);
        if (j0 >= 0)
            d0 = v[0]->dims[j0];
        if (j1 >= 0)
            d1 = v[1]->dims[j1];
        if (d0 != d1 && d0 != 1 && d1 != 1)
            return node_err(c, CLEAVE_EINVAL, "inputs '%s' and '%s' do not broadcast", v[0]->name,
                            v[1]->name);
        o[i] = d0 == 1 ? d1 : d0;
    }
    for (int i = 0; i < 2; i++)
        if (!v[i]->is_const && v[i]->rank != rank)
            return node_err(c, CLEAVE_EUNSUPPORTED,
                            "broadcasting input '%s' of rank %d to rank %d is not supported",
                            v[i]->name, v[i]->rank, rank);
    cleave_layer_init(&b->layer, is_add ? CLEAVE_LAYER_ADD : CLEAVE_LAYER_MUL);
    b->layer.n = o[0];
    b->layer.c = o[1];
    b->layer.h = o[2];
    b->layer.w = o[3];
    set_out(b, o, rank ? rank : 1);
    return CLEAVE_OK;
}

/* Zero-cost reshapes: Flatten, Reshape, Identity, Squeeze, Unsqueeze. */
static cleave_status b_reshape(ctx *c, const Onnx__NodeProto *n, build *b)
{
    val *x;
    cleave_status rc;
    if ((rc = data_input(c, n, 0, b, &x)))
        return rc;
    if (!strcmp(n->op_type, "Reshape") || !strcmp(n->op_type, "Squeeze") ||
        !strcmp(n->op_type, "Unsqueeze")) {
        if ((rc = rest_const(c, n, 1)))
            return rc;
    }
    cleave_layer_init(&b->layer, CLEAVE_LAYER_RESHAPE);
    set_nchw(&b->layer, x);
    int64_t total = 1, o[MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        if (x->dims[i] < 1 || x->dims[i] > ((int64_t)1 << 40) ||
            __builtin_mul_overflow(total, x->dims[i], &total) || total > ((int64_t)1 << 58))
            return node_err(c, CLEAVE_EINVAL, "input '%s' has a bad shape", x->name);
    if (!strcmp(n->op_type, "Flatten")) {
        int64_t axis = norm_axis(attr_int(n, "axis", 1), x->rank);
        if (axis < 0 || axis > x->rank)
            return node_err(c, CLEAVE_EINVAL, "axis %lld is out of range",
                            (long long)attr_int(n, "axis", 1));
        o[0] = 1;
        for (int i = 0; i < axis; i++)
            o[0] *= x->dims[i];
        o[1] = total / o[0];
        set_out(b, o, 2);
    } else if (!strcmp(n->op_type, "Reshape")) {
        int64_t sh[MAX_RANK];
        int ns = const_ints(input_val(c, n, 1), sh, MAX_RANK);
        if (ns >= 1) {
            int infer = -1;
            int64_t known = 1;
            int ok = 1;
            for (int i = 0; i < ns; i++) {
                o[i] =
                    sh[i] == 0 && !attr_int(n, "allowzero", 0) && i < x->rank ? x->dims[i] : sh[i];
                if (o[i] == -1 && infer < 0)
                    infer = i;
                else if (o[i] < 1 || o[i] > ((int64_t)1 << 40) ||
                         __builtin_mul_overflow(known, o[i], &known))
                    ok = 0;
            }
            if (ok && infer >= 0 && known > 0 && total % known == 0)
                o[infer] = total / known;
            if (ok && (infer < 0 || total % known == 0))
                set_out(b, o, ns);
        }
    } else if (!strcmp(n->op_type, "Identity")) {
        set_out(b, x->dims, x->rank);
    }
    /* Squeeze / Unsqueeze take their shape from value_info. */
    return CLEAVE_OK;
}

static cleave_status b_concat(ctx *c, const Onnx__NodeProto *n, build *b)
{
    cleave_status rc;
    val *v[PLAN_MAX_NODE_INPUTS];
    if (n->n_input < 1 || n->n_input > PLAN_MAX_NODE_INPUTS)
        return node_err(c, CLEAVE_EUNSUPPORTED, "Concat of %zu inputs is not supported (1 to %d)",
                        n->n_input, PLAN_MAX_NODE_INPUTS);
    for (size_t i = 0; i < n->n_input; i++) {
        if ((rc = data_input(c, n, i, b, &v[i])))
            return rc;
        if (v[i]->is_const)
            return node_err(c, CLEAVE_EUNSUPPORTED, "Concat of the constant '%s' is not supported",
                            v[i]->name);
    }
    const Onnx__AttributeProto *a = attr(n, "axis");
    if (!a || !a->has_i)
        return node_err(c, CLEAVE_EPARSE, "attribute 'axis' is missing");
    int64_t axis = norm_axis(a->i, v[0]->rank);
    if (axis < 0 || axis >= v[0]->rank)
        return node_err(c, CLEAVE_EINVAL, "axis %lld is out of range", (long long)a->i);
    if (axis != 1)
        return node_err(c, CLEAVE_EUNSUPPORTED,
                        "Concat along axis %lld is not supported (only channels, axis 1)",
                        (long long)a->i);
    if (n->n_input == 1) { /* a copy that moves nothing */
        cleave_layer_init(&b->layer, CLEAVE_LAYER_RESHAPE);
        set_nchw(&b->layer, v[0]);
        set_out(b, v[0]->dims, v[0]->rank);
        return CLEAVE_OK;
    }
    cleave_layer_init(&b->layer, CLEAVE_LAYER_CONCAT);
    cleave_layer *l = &b->layer;
    set_nchw(l, v[0]);
    l->ninputs = (int)n->n_input;
    l->c = 0;
    for (size_t i = 0; i < n->n_input; i++) {
        l->cin[i] = v[i]->rank > 1 ? v[i]->dims[1] : 1;
        if (l->cin[i] > 0 && l->cin[i] <= DIM_MAX && l->c <= DIM_MAX)
            l->c += l->cin[i];
    }
    int64_t o[MAX_RANK];
    memcpy(o, v[0]->dims, sizeof o);
    o[1] = l->c;
    set_out(b, o, v[0]->rank);
    return CLEAVE_OK;
}

static cleave_status b_pad(ctx *c, const Onnx__NodeProto *n, build *b)
{
    val *x;
    cleave_status rc;
    int64_t p[2 * MAX_RANK];
    int np;
    if ((rc = data_input(c, n, 0, b, &x)) || (rc = rest_const(c, n, 1)))
        return rc;
    if (input_val(c, n, 3))
        return node_err(c, CLEAVE_EUNSUPPORTED, "Pad with 'axes' is not supported");
    if (c->opset < 11) {
        size_t cnt;
        const int64_t *pa = attr_ints(n, "pads", &cnt);
        np = pa && cnt <= 2 * MAX_RANK ? (int)cnt : -1;
        if (np > 0)
            memcpy(p, pa, sizeof *p * cnt);
    } else {
        np = const_ints(input_val(c, n, 1), p, 2 * MAX_RANK);
    }
    if (np < 0)
        return node_err(c, CLEAVE_EUNSUPPORTED, "Pad pads are missing or not a constant");
    if (np != 2 * x->rank || x->rank < 3)
        return node_err(c, CLEAVE_EUNSUPPORTED,
                        "Pad with %d pads on a rank-%d input is not "
                        "supported",
                        np, x->rank);
    int r = x->rank;
    for (int i = 0; i < 2 * r; i++)
        if (p[i] < 0 || ((i % r) < 2 && p[i] != 0))
            return node_err(c, CLEAVE_EUNSUPPORTED,
                            "Pad other than non-negative spatial padding is not supported");
    cleave_layer_init(&b->layer, CLEAVE_LAYER_PAD);
    cleave_layer *l = &b->layer;
    set_nchw(l, x);
    l->pt = p[2];
    l->pb = p[r + 2];
    if (r == 4) {
        l->pl = p[3];
        l->pr = p[r + 3];
    }
    return out_from_layer(c, b, r);
}

static cleave_status b_transpose(ctx *c, const Onnx__NodeProto *n, build *b)
{
    val *x;
    cleave_status rc;
    if ((rc = data_input(c, n, 0, b, &x)))
        return rc;
    size_t cnt;
    const int64_t *pa = attr_ints(n, "perm", &cnt);
    int r = x->rank;
    if (pa && cnt != (size_t)r)
        return node_err(c, CLEAVE_EINVAL, "perm has %zu axes, the input %d", cnt, r);
    cleave_layer_init(&b->layer, CLEAVE_LAYER_TRANSPOSE);
    set_nchw(&b->layer, x);
    int64_t o[4] = {1, 1, 1, 1};
    for (int i = 0; i < 4; i++) {
        int64_t a = i < r ? (pa ? pa[i] : r - 1 - i) : i;
        if (a < 0 || a >= (i < r ? r : 4))
            return node_err(c, CLEAVE_EINVAL, "perm is not a permutation");
        b->layer.perm[i] = (int)a;
        if (i < r)
            o[i] = x->dims[a];
    }
    set_out(b, o, r);
    return CLEAVE_OK;
}

/* Slice along one axis with step 1 (a full-range axis is ignored). */
static cleave_status b_slice(ctx *c, const Onnx__NodeProto *n, build *b)
{
    val *x;
    cleave_status rc;
    int64_t st[MAX_RANK], en[MAX_RANK], ax[MAX_RANK], sp[MAX_RANK];
    int ns, ne, na, nsp = 0;
    if ((rc = data_input(c, n, 0, b, &x)) || (rc = rest_const(c, n, 1)))
        return rc;
    if (c->opset < 10) {
        size_t c1, c2, c3;
        const int64_t *a1 = attr_ints(n, "starts", &c1), *a2 = attr_ints(n, "ends", &c2),
                      *a3 = attr_ints(n, "axes", &c3);
        if (!a1 || !a2 || c1 > MAX_RANK || c2 > MAX_RANK || c3 > MAX_RANK)
            return node_err(c, CLEAVE_EUNSUPPORTED, "Slice bounds are missing");
        ns = (int)c1;
        ne = (int)c2;
        memcpy(st, a1, sizeof *st * c1);
        memcpy(en, a2, sizeof *en * c2);
        na = a3 ? (int)c3 : -1;
        if (a3)
            memcpy(ax, a3, sizeof *ax * c3);
    } else {
        ns = const_ints(input_val(c, n, 1), st, MAX_RANK);
        ne = const_ints(input_val(c, n, 2), en, MAX_RANK);
        na = input_val(c, n, 3) ? const_ints(input_val(c, n, 3), ax, MAX_RANK) : -1;
        if (input_val(c, n, 4))
            nsp = const_ints(input_val(c, n, 4), sp, MAX_RANK);
        if (ns < 0 || ne < 0 || (input_val(c, n, 3) && na < 0) || nsp < 0)
            return node_err(c, CLEAVE_EUNSUPPORTED, "Slice bounds are not constants");
    }
    if (ns != ne || (na >= 0 && na != ns) || (nsp > 0 && nsp != ns))
        return node_err(c, CLEAVE_EINVAL, "Slice starts, ends, axes and steps differ in length");
    cleave_layer_init(&b->layer, CLEAVE_LAYER_SLICE);
    cleave_layer *l = &b->layer;
    set_nchw(l, x);
    int sliced = 0;
    l->axis = 1;
    l->start = 0;
    l->end = l->c;
    for (int i = 0; i < ns; i++) {
        int64_t a = norm_axis(na >= 0 ? ax[i] : i, x->rank);
        if (a < 0 || a >= x->rank)
            return node_err(c, CLEAVE_EINVAL, "Slice axis %lld is out of range",
                            (long long)(na >= 0 ? ax[i] : i));
        if (nsp > 0 && sp[i] != 1)
            return node_err(c, CLEAVE_EUNSUPPORTED, "Slice with step %lld is not supported",
                            (long long)sp[i]);
        int64_t dim = x->dims[a], s = st[i], e = en[i];
        /* ONNX clamps: negative bounds count from the end, then [0, dim]. */
        if (s < 0)
            s = s < -dim ? 0 : s + dim;
        if (e < 0)
            e = e < -dim ? 0 : e + dim;
        s = s > dim ? dim : s;
        e = e > dim ? dim : e;
        if (s == 0 && e == dim)
            continue;
        if (sliced++)
            return node_err(c, CLEAVE_EUNSUPPORTED, "Slice along several axes is not supported");
        l->axis = (int)a;
        l->start = s;
        l->end = e;
    }
    if (l->start >= l->end)
        return node_err(c, CLEAVE_EINVAL, "Slice [%lld, %lld) on axis %d is empty",
                        (long long)l->start, (long long)l->end, l->axis);
    return out_from_layer(c, b, x->rank);
}

static cleave_status b_softmax(ctx *c, const Onnx__NodeProto *n, build *b)
{
    cleave_status rc = unary(c, n, b, CLEAVE_LAYER_SOFTMAX);
    if (rc)
        return rc;
    int r = b->out_rank;
    int64_t axis = norm_axis(attr_int(n, "axis", c->opset >= 13 ? -1 : 1), r);
    if (axis < 0 || axis >= r)
        return node_err(c, CLEAVE_EINVAL, "axis %lld is out of range",
                        (long long)attr_int(n, "axis", -1));
    b->layer.axis = (int)axis;
    return CLEAVE_OK;
}

static cleave_status b_argmax(ctx *c, const Onnx__NodeProto *n, build *b)
{
    cleave_status rc = unary(c, n, b, CLEAVE_LAYER_ARGMAX);
    if (rc)
        return rc;
    int r = b->out_rank;
    int64_t axis = norm_axis(attr_int(n, "axis", 0), r);
    if (axis < 0 || axis >= r)
        return node_err(c, CLEAVE_EINVAL, "axis %lld is out of range",
                        (long long)attr_int(n, "axis", 0));
    b->layer.axis = (int)axis;
    b->out_dims[axis] = 1;
    if (!attr_int(n, "keepdims", 1)) {
        for (int i = (int)axis; i + 1 < r; i++)
            b->out_dims[i] = b->out_dims[i + 1];
        b->out_rank = r > 1 ? r - 1 : 1;
        if (r == 1)
            b->out_dims[0] = 1;
    }
    return CLEAVE_OK;
}

static cleave_status b_lrn(ctx *c, const Onnx__NodeProto *n, build *b)
{
    cleave_status rc = unary(c, n, b, CLEAVE_LAYER_LRN);
    if (rc)
        return rc;
    const Onnx__AttributeProto *a = attr(n, "size");
    if (!a || !a->has_i)
        return node_err(c, CLEAVE_EPARSE, "attribute 'size' is missing");
    b->layer.size = a->i;
    b->layer.alpha = attr_float(n, "alpha", 1e-4);
    b->layer.beta = attr_float(n, "beta", 0.75);
    b->layer.lrn_k = attr_float(n, "bias", 1.0);
    return CLEAVE_OK;
}

/* LSTM, GRU, RNN: one ONNX node is one layer (layers = 1) of 1 or 2 directions. */
static cleave_status b_rnn(ctx *c, const Onnx__NodeProto *n, build *b)
{
    val *x, *w;
    cleave_status rc;
    cleave_layer_type t = !strcmp(n->op_type, "LSTM")  ? CLEAVE_LAYER_LSTM
                          : !strcmp(n->op_type, "GRU") ? CLEAVE_LAYER_GRU
                                                       : CLEAVE_LAYER_RNN;
    int gates = t == CLEAVE_LAYER_LSTM ? 4 : t == CLEAVE_LAYER_GRU ? 3 : 1;
    if ((rc = data_input(c, n, 0, b, &x)) || (rc = const_input(c, n, 1, "weight", &w)))
        return rc;
    if (x->is_const)
        return node_err(c, CLEAVE_EUNSUPPORTED, "input '%s' is a constant", x->name);
    if (x->rank != 3 || w->rank != 3)
        return node_err(c, CLEAVE_EINVAL, "%s needs rank-3 X and W, got %d and %d", n->op_type,
                        x->rank, w->rank);
    /* Initial states and sequence lengths may be activations: they are dependencies. */
    for (size_t i = 2; i < n->n_input; i++) {
        val *v = input_val(c, n, i);
        if (v && !v->is_const && i != 3) {
            val *dummy;
            if ((rc = data_input(c, n, i, b, &dummy)))
                return rc;
        } else if (v && !v->is_const) {
            return node_err(c, CLEAVE_EUNSUPPORTED, "input '%s' must be a constant", v->name);
        }
    }
    int dirs = attr_is(n, "direction", "bidirectional", 0) ? 2 : 1;
    if (!attr_is(n, "direction", "forward", 1) && !attr_is(n, "direction", "reverse", 0) &&
        dirs == 1)
        return node_err(c, CLEAVE_EINVAL, "unknown direction");
    int64_t hidden = attr_int(n, "hidden_size", w->dims[1] / gates);
    if (hidden < 1 || hidden > DIM_MAX)
        return node_err(c, CLEAVE_EINVAL, "bad hidden_size %lld", (long long)hidden);
    if (w->dims[0] != dirs || w->dims[1] != gates * hidden)
        return node_err(c, CLEAVE_EINVAL, "weight '%s' does not fit %d directions of %lld units",
                        w->name, dirs, (long long)hidden);
    int layout = attr_int(n, "layout", 0) != 0;
    cleave_layer_init(&b->layer, t);
    cleave_layer *l = &b->layer;
    l->t = layout ? x->dims[1] : x->dims[0];
    l->n = layout ? x->dims[0] : x->dims[1];
    l->c = x->dims[2];
    l->k = hidden;
    l->dirs = dirs;
    l->layers = 1;
    l->bias = input_val(c, n, 3) != NULL;
    if (l->c != w->dims[2])
        return node_err(c, CLEAVE_EINVAL, "weight '%s' expects input size %lld, got %lld", w->name,
                        (long long)w->dims[2], (long long)l->c);
    if (b->out_index == 0) { /* Y: [T, dirs, N, K] or, with layout 1, [N, T, dirs, K] */
        int64_t o[4] = {l->t, dirs, l->n, hidden};
        if (layout) {
            o[0] = l->n;
            o[1] = l->t;
            o[2] = dirs;
        }
        set_out(b, o, 4);
    } else { /* Y_h, Y_c: [dirs, N, K] or [N, dirs, K] */
        int64_t o[3] = {dirs, l->n, hidden};
        if (layout) {
            o[0] = l->n;
            o[1] = dirs;
        }
        set_out(b, o, 3);
    }
    return CLEAVE_OK;
}

static cleave_status b_bn(ctx *c, const Onnx__NodeProto *n, build *b)
{
    return unary(c, n, b, CLEAVE_LAYER_BN);
}

static cleave_status b_dropout(ctx *c, const Onnx__NodeProto *n, build *b)
{
    return unary(c, n, b, CLEAVE_LAYER_DROPOUT);
}

static const struct {
    const char *op;
    builder fn;
} ops[] = {
    {"Conv", b_conv},
    {"ConvTranspose", b_conv},
    {"MaxPool", b_pool},
    {"AveragePool", b_pool},
    {"GlobalAveragePool", b_global_pool},
    {"GlobalMaxPool", b_global_pool},
    {"ReduceMean", b_reduce_mean},
    {"Gemm", b_gemm},
    {"MatMul", b_matmul},
    {"Relu", b_act},
    {"Sigmoid", b_act},
    {"Tanh", b_act},
    {"HardSwish", b_act},
    {"HardSigmoid", b_act},
    {"LeakyRelu", b_act},
    {"Clip", b_clip},
    {"Add", b_binary},
    {"Sub", b_binary},
    {"Mul", b_binary},
    {"Div", b_binary},
    {"Flatten", b_reshape},
    {"Reshape", b_reshape},
    {"Identity", b_reshape},
    {"Squeeze", b_reshape},
    {"Unsqueeze", b_reshape},
    {"Concat", b_concat},
    {"Pad", b_pad},
    {"BatchNormalization", b_bn},
    {"Transpose", b_transpose},
    {"Slice", b_slice},
    {"Softmax", b_softmax},
    {"Dropout", b_dropout},
    {"LRN", b_lrn},
    {"LSTM", b_rnn},
    {"GRU", b_rnn},
    {"RNN", b_rnn},
    {"ArgMax", b_argmax},
};

/* The stand-in for an op the catalogue lacks (PLAN_ONNX_FALLBACK): every non-constant input is
** an input of the node, and the layer is a copy (dropout) of the output, so that a planner that
** ignores the flag still sees a cost proportional to the bytes written. */
static cleave_status b_unknown(ctx *c, const Onnx__NodeProto *n, build *b, const val *out)
{
    cleave_status rc;
    b->nacts = 0;
    for (size_t i = 0; i < n->n_input; i++) {
        val *v = input_val(c, n, i);
        if (!v || v->is_const)
            continue;
        val *dummy;
        if ((rc = data_input(c, n, i, b, &dummy)))
            return rc;
    }
    if (!out->known || out->rank > 4)
        return node_err(c, CLEAVE_EPARSE,
                        "output '%s' of unsupported op '%s' has no static "
                        "shape of rank 1 to 4",
                        out->name, n->op_type);
    cleave_layer_init(&b->layer, CLEAVE_LAYER_DROPOUT);
    set_nchw(&b->layer, out);
    b->flags |= PLAN_NODE_UNKNOWN;
    set_out(b, out->dims, out->rank ? out->rank : 1);
    return CLEAVE_OK;
}

/* ---- nodes ------------------------------------------------------------------------------------
 */

/* A Constant node: its output becomes a constant value, not a graph node. */
static cleave_status import_constant(ctx *c, const Onnx__NodeProto *n)
{
    if (n->n_output < 1 || !n->output[0] || !n->output[0][0])
        return node_err(c, CLEAVE_EPARSE, "Constant without an output");
    val *v = find_val(c, n->output[0]); /* every name was registered before the nodes */
    if (!v)
        return node_err(c, CLEAVE_EPARSE, "output '%s' is unknown", n->output[0]);
    v->is_const = 1;
    const Onnx__AttributeProto *a;
    if ((a = attr(n, "value")) && a->t) {
        v->init = a->t;
        set_shape_from_tensor(v, a->t);
    } else if ((a = attr(n, "value_int")) && a->has_i) {
        v->nints = 1;
        v->ints[0] = a->i;
        v->known = 1;
        v->rank = 0;
    } else if ((a = attr(n, "value_ints"))) {
        v->nints = a->n_ints <= MAX_CONST_INTS ? (int)a->n_ints : MAX_CONST_INTS + 1;
        if (a->n_ints <= MAX_CONST_INTS && a->n_ints)
            memcpy(v->ints, a->ints, sizeof *v->ints * a->n_ints);
        v->known = 1;
        v->rank = 1;
        v->dims[0] = (int64_t)a->n_ints;
    } else if ((a = attr(n, "value_float")) && a->has_f) {
        v->has_float = 1;
        v->fval = a->f;
        v->known = 1;
        v->rank = 0;
    } else if ((a = attr(n, "value_floats"))) {
        v->known = 1;
        v->rank = 1;
        v->dims[0] = (int64_t)a->n_floats;
    } else {
        /* sparse_value, strings: the value is unreadable but still a constant */
        v->known = 0;
    }
    return CLEAVE_OK;
}

/* Which output of N becomes the node's output: the only one that is used, else the first
** named one.  Using two outputs is not supported (one output per node). */
static cleave_status pick_output(ctx *c, const Onnx__NodeProto *n, int *index)
{
    int first = -1, used = -1;
    for (size_t i = 0; i < n->n_output; i++) {
        if (!n->output[i] || !n->output[i][0])
            continue;
        if (first < 0)
            first = (int)i;
        val *v = find_val(c, n->output[i]);
        if (v && v->used) {
            if (used >= 0)
                return node_err(c, CLEAVE_EUNSUPPORTED,
                                "outputs '%s' and '%s' are both used; one output per node is "
                                "supported",
                                n->output[used], n->output[i]);
            used = (int)i;
        }
    }
    if (first < 0)
        return node_err(c, CLEAVE_EPARSE, "no output");
    *index = used >= 0 ? used : first;
    return CLEAVE_OK;
}

/* A unique node name for N (the IDX-th node) into NAMEBUF: its own, else derived from the op
** and index; a repeated name gets "#2", "#3", ... */
static void node_name(ctx *c, const Onnx__NodeProto *n, int idx, char *namebuf, size_t namelen)
{
    if (n->name && n->name[0])
        snprintf(namebuf, namelen, "%s", n->name);
    else
        snprintf(namebuf, namelen, "%s_%d", n->op_type, idx);
    if (plan_graph_find_node(c->g, namebuf) >= 0) {
        size_t len = strlen(namebuf);
        if (len > namelen - 16)
            len = namelen - 16;
        for (int k = 2; plan_graph_find_node(c->g, namebuf) >= 0; k++) {
            namebuf[len] = '\0';
            snprintf(namebuf + len, namelen - len, "#%d", k);
        }
    }
    c->node_name = namebuf;
}

/* Import the ordinary node N (named NAMEBUF) as one graph node. */
static cleave_status import_node(ctx *c, const Onnx__NodeProto *n, const char *namebuf)
{
    build b;
    cleave_status rc;
    builder fn = NULL;
    memset(&b, 0, sizeof b);

    int std_domain = !n->domain || !n->domain[0] || !strcmp(n->domain, "ai.onnx");
    for (size_t i = 0; std_domain && i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(n->op_type, ops[i].op) == 0)
            fn = ops[i].fn;
    if ((rc = pick_output(c, n, &b.out_index)))
        return rc;
    if (!fn) {
        if (!(c->flags & PLAN_ONNX_FALLBACK)) {
            if (!std_domain)
                return node_err(c, CLEAVE_EUNSUPPORTED, "unsupported op '%s' (domain '%s')",
                                n->op_type, n->domain);
            return node_err(c, CLEAVE_EUNSUPPORTED, "unsupported op '%s'", n->op_type);
        }
    } else {
        rc = fn(c, n, &b);
        if (rc == CLEAVE_EUNSUPPORTED && (c->flags & PLAN_ONNX_FALLBACK)) {
            fn = NULL; /* import what cannot be mapped as an unknown op */
            int keep = b.out_index;
            memset(&b, 0, sizeof b);
            b.out_index = keep;
        } else if (rc) {
            return rc;
        }
    }
    /* Every name was registered before the nodes, so no value moves from here on. */
    val *out = find_val(c, n->output[b.out_index]);
    if (!out)
        return node_err(c, CLEAVE_EPARSE, "output '%s' is unknown", n->output[b.out_index]);
    if (!fn && (rc = b_unknown(c, n, &b, out)))
        return rc;
    if (out->is_const)
        return node_err(c, CLEAVE_EINVAL, "output '%s' is also a constant", out->name);
    if (out->tensor >= 0 && c->g->tensors[out->tensor].producer >= 0)
        return node_err(c, CLEAVE_EINVAL, "output '%s' is written twice", out->name);
    if (!out->known) {
        if (!b.have_shape)
            return node_err(c, CLEAVE_EPARSE, "output '%s' has no static shape", out->name);
        out->known = 1;
        out->rank = b.out_rank;
        memcpy(out->dims, b.out_dims, sizeof out->dims);
    } else if (out->rank > 4) {
        return node_err(c, CLEAVE_EUNSUPPORTED,
                        "output '%s' has rank %d; at most 4 dimensions are supported", out->name,
                        out->rank);
    }
    int tid;
    if ((rc = tensor_of(c, out, &tid)))
        return rc;
    rc = plan_graph_add_node(c->g, namebuf, n->op_type, &b.layer, b.acts, b.nacts, tid, b.flags,
                             NULL, c->err, c->errlen);
    return rc;
}

/* ---- the model ----------------------------------------------------------------------------------
 */

static cleave_status import_graph(ctx *c, const Onnx__ModelProto *m)
{
    const Onnx__GraphProto *gp = m->graph;
    cleave_status rc;
    char name[512];
    if (!gp) {
        cl_errf(c->err, c->errlen, "model has no graph");
        return CLEAVE_EPARSE;
    }
    c->opset = 0;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (o && (!o->domain || !o->domain[0] || !strcmp(o->domain, "ai.onnx")) && o->has_version)
            c->opset = o->version;
    }
    if (c->opset <= 0)
        c->opset = 13; /* no default-domain opset: assume the fixtures' */
    if ((rc = plan_graph_create(&c->g, gp->name)) != CLEAVE_OK)
        return rc;

    /* Constants first, then shapes, then what is read and written. */
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        if (!t || !t->name || !t->name[0])
            continue;
        val *v = get_val(c, t->name);
        if (!v)
            return CLEAVE_ENOMEM;
        v->is_const = 1;
        v->init = t;
        set_shape_from_tensor(v, t);
    }
    for (size_t i = 0; i < gp->n_sparse_initializer; i++) {
        const Onnx__SparseTensorProto *s = gp->sparse_initializer[i];
        if (!s || !s->values || !s->values->name || !s->values->name[0])
            continue;
        val *v = get_val(c, s->values->name);
        if (!v)
            return CLEAVE_ENOMEM;
        v->is_const = 1;
        v->known = 1;
        v->rank = s->n_dims > 64 ? 64 : (int)s->n_dims;
        for (size_t k = 0; k < s->n_dims && k < MAX_RANK; k++)
            v->dims[k] = s->dims[k];
    }
    Onnx__ValueInfoProto **lists[3] = {gp->value_info, gp->input, gp->output};
    size_t counts[3] = {gp->n_value_info, gp->n_input, gp->n_output};
    for (int l = 0; l < 3; l++) {
        for (size_t i = 0; i < counts[l]; i++) {
            const Onnx__ValueInfoProto *vi = lists[l][i];
            if (!vi || !vi->name || !vi->name[0])
                continue;
            val *v = get_val(c, vi->name);
            if (!v)
                return CLEAVE_ENOMEM;
            if (!v->is_const)
                set_shape_from_info(v, vi);
        }
    }
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *n = gp->node[i];
        if (!n || !n->op_type) {
            cl_errf(c->err, c->errlen, "node %zu has no op type", i);
            return CLEAVE_EPARSE;
        }
        for (size_t k = 0; k < n->n_input; k++) {
            if (!n->input[k] || !n->input[k][0])
                continue;
            val *v = get_val(c, n->input[k]);
            if (!v)
                return CLEAVE_ENOMEM;
            v->used = 1;
        }
        for (size_t k = 0; k < n->n_output; k++) {
            if (!n->output[k] || !n->output[k][0])
                continue;
            val *v = get_val(c, n->output[k]);
            if (!v)
                return CLEAVE_ENOMEM;
            if (v->producer < 0)
                v->producer = (int)i;
        }
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        if (gp->output[i] && gp->output[i]->name && gp->output[i]->name[0]) {
            val *v = find_val(c, gp->output[i]->name);
            if (v)
                v->used = 1;
        }
    }

    /* Network inputs: graph inputs that are not initializers (IR < 4 lists both). */
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi || !vi->name || !vi->name[0])
            continue;
        val *v = find_val(c, vi->name);
        if (!v || v->is_const)
            continue;
        if (!v->known) {
            if (v->symbolic)
                cl_errf(c->err, c->errlen, "input '%s' has a symbolic dimension '%s'", v->name,
                        v->symbolic);
            else
                cl_errf(c->err, c->errlen, "input '%s' has no static shape", v->name);
            return CLEAVE_EPARSE;
        }
        if (v->rank > 4 || v->rank < 1) {
            cl_errf(c->err, c->errlen, "input '%s' has rank %d; 1 to 4 dimensions are supported",
                    v->name, v->rank);
            return CLEAVE_EUNSUPPORTED;
        }
        if (v->producer >= 0) {
            cl_errf(c->err, c->errlen, "input '%s' is also written by a node", v->name);
            return CLEAVE_EINVAL;
        }
        if (v->tensor >= 0) {
            cl_errf(c->err, c->errlen, "input '%s' is declared twice", v->name);
            return CLEAVE_EINVAL;
        }
        int tid;
        if ((rc =
                 plan_graph_add_tensor(c->g, v->name, v->dims, v->rank, &tid, c->err, c->errlen)) ||
            (rc = plan_graph_add_input(c->g, tid, c->err, c->errlen)))
            return rc;
        v->tensor = tid;
    }

    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *n = gp->node[i];
        node_name(c, n, (int)i, name, sizeof name);
        if (!strcmp(n->op_type, "Constant") &&
            (!n->domain || !n->domain[0] || !strcmp(n->domain, "ai.onnx"))) {
            if ((rc = import_constant(c, n)))
                return rc;
            continue;
        }
        /* An input that nothing writes is reported now, with the node that reads it. */
        for (size_t k = 0; k < n->n_input; k++) {
            val *v = input_val(c, n, k);
            if (v && !v->is_const && v->producer < 0 && v->tensor < 0)
                return node_err(c, CLEAVE_EINVAL,
                                "input '%s' is neither a network input nor the output of a node",
                                v->name);
        }
        if ((rc = import_node(c, n, name)))
            return rc;
    }

    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        if (!vi || !vi->name || !vi->name[0])
            continue;
        val *v = find_val(c, vi->name);
        if (!v || v->tensor < 0) {
            cl_errf(c->err, c->errlen, "output '%s' is not produced by any node", vi->name);
            return CLEAVE_EINVAL;
        }
        if (c->g->tensors[v->tensor].is_output)
            continue;
        if ((rc = plan_graph_add_output(c->g, v->tensor, c->err, c->errlen)))
            return rc;
    }

    /* Early exits: metadata_props "cleave.exit.NAME" = "accuracy=A [from=NODE layers=...]"
    ** (docs/graph-format.md); other keys are someone else's. */
    static const char prefix[] = "cleave.exit.";
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *kv = m->metadata_props[i];
        if (!kv || !kv->key || strncmp(kv->key, prefix, sizeof prefix - 1) != 0)
            continue;
        char msg[400];
        rc = plan_graph_add_exit_spec(c->g, kv->key + sizeof prefix - 1, kv->value ? kv->value : "",
                                      msg, sizeof msg);
        if (rc != CLEAVE_OK) {
            cl_errf(c->err, c->errlen, "metadata '%s': %s", kv->key, msg);
            return rc;
        }
    }
    return plan_graph_finish(c->g, c->err, c->errlen);
}

cleave_status plan_onnx_read(plan_graph **out, const void *data, size_t len, unsigned flags,
                             char *err, size_t errlen)
{
    cleave_status rc;
    Onnx__ModelProto *m = NULL;
    ctx c;
    memset(&c, 0, sizeof c);
    c.flags = flags;
    c.err = err;
    c.errlen = errlen;
    *out = NULL;
    cl_errf(err, errlen, "%s", "");
    if (!data && len) {
        cl_errf(err, errlen, "no data given");
        return CLEAVE_EINVAL;
    }
    if (len == 0) {
        cl_errf(err, errlen, "empty ONNX model");
        rc = CLEAVE_EPARSE;
        goto done;
    }
    if (nesting_ok(&onnx__model_proto__descriptor, data, len, 0) != 0) {
        cl_errf(err, errlen, "cannot decode the ONNX model: messages nested deeper than %d",
                MAX_NESTING);
        rc = CLEAVE_EPARSE;
        goto done;
    }
    m = onnx__model_proto__unpack(NULL, len, data);
    if (!m) {
        cl_errf(err, errlen, "cannot decode the ONNX model (truncated or not protobuf)");
        rc = CLEAVE_EPARSE;
        goto done;
    }
    c.index = plan_names_create();
    if (!c.index) {
        rc = CLEAVE_ENOMEM;
        goto done;
    }
    rc = import_graph(&c, m);
    if (rc == CLEAVE_ENOMEM)
        cl_errf(err, errlen, "out of memory");
    if (rc == CLEAVE_OK) {
        *out = c.g;
        c.g = NULL;
    }
done:
    plan_graph_destroy(c.g);
    plan_names_destroy(c.index);
    free(c.vals);
    if (m)
        onnx__model_proto__free_unpacked(m, NULL);
    return rc;
}

/* Read all of PATH into *BUF (malloc'ed) and *LEN. */
static cleave_status read_file(const char *path, unsigned char **buf, size_t *len, char *err,
                               size_t errlen)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 16, n = 0;
    unsigned char *p = NULL;
    *buf = NULL;
    *len = 0;
    if (!f) {
        cl_errf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return CLEAVE_EIO;
    }
    p = malloc(cap);
    while (p) {
        n += fread(p + n, 1, cap - n, f);
        if (n < cap)
            break;
        unsigned char *q = cap < ((size_t)1 << 34) ? realloc(p, cap * 2) : NULL;
        if (!q) {
            free(p);
            p = NULL;
            break;
        }
        p = q;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!p) {
        cl_errf(err, errlen, "cannot read '%s': out of memory", path);
        return CLEAVE_ENOMEM;
    }
    if (bad) {
        free(p);
        cl_errf(err, errlen, "cannot read '%s': I/O error", path);
        return CLEAVE_EIO;
    }
    *buf = p;
    *len = n;
    return CLEAVE_OK;
}

/* Prefix ERR's message with "'PATH': ". */
static void prefix_path(char *err, size_t errlen, const char *path)
{
    if (!err || !errlen)
        return;
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", err);
    cl_errf(err, errlen, "'%s': %s", path, tmp);
}

cleave_status plan_onnx_load(plan_graph **out, const char *path, unsigned flags, char *err,
                             size_t errlen)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    cleave_status rc = read_file(path, &buf, &len, err, errlen);
    if (rc != CLEAVE_OK)
        return rc;
    rc = plan_onnx_read(out, buf, len, flags, err, errlen);
    free(buf);
    if (rc != CLEAVE_OK)
        prefix_path(err, errlen, path);
    return rc;
}
