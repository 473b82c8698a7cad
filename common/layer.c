/*
** common/layer.c - the layer catalogue: names, defaults, the text syntax, validation, output
** shapes and static features.  The one place static features are computed (DESIGN.md).
*/
#include <cleave/cleave.h>

#include "common/layer.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errmsg.h"

/* Element counts and MACs must fit comfortably in 63 bits; this bound also keeps every byte
** count (4 bytes per element) and every sum of a few of them representable. */
#define DIM_MAX ((int64_t)1 << 40)
#define COUNT_MAX ((int64_t)1 << 58)

static const char *const type_names[] = {
#define X_(e, name, desc) name,
    CLEAVE_LAYER_TYPE_MAP(X_)
#undef X_
};

static const char *const act_names[] = {
#define X_(e, name) name,
    CLEAVE_ACT_KIND_MAP(X_)
#undef X_
};

static const char *const feature_names[] = {
#define X_(e, name, desc) name,
    CLEAVE_FEATURE_MAP(X_)
#undef X_
};

static const char *const pool_names[] = {"max", "avg", "avgpad"};

CLEAVE_API const char *cleave_layer_type_name(cleave_layer_type type)
{
    if ((int)type < 0 || type >= CLEAVE_LAYER_COUNT)
        return NULL;
    return type_names[type];
}

CLEAVE_API int cleave_layer_type_from_name(const char *name)
{
    for (int i = 0; name && i < CLEAVE_LAYER_COUNT; i++)
        if (strcmp(name, type_names[i]) == 0)
            return i;
    return -1;
}

CLEAVE_API const char *cleave_act_kind_name(cleave_act_kind kind)
{
    if ((int)kind < 0 || kind >= CLEAVE_ACT_COUNT)
        return NULL;
    return act_names[kind];
}

CLEAVE_API int cleave_act_kind_from_name(const char *name)
{
    for (int i = 0; name && i < CLEAVE_ACT_COUNT; i++)
        if (strcmp(name, act_names[i]) == 0)
            return i;
    return -1;
}

CLEAVE_API const char *cleave_feature_name(cleave_feature f)
{
    if ((int)f < 0 || f >= CLEAVE_FEAT_COUNT)
        return NULL;
    return feature_names[f];
}

/* Default parameters of an activation kind (ONNX's defaults where ONNX has the op). */
static void act_defaults(int kind, double *alpha, double *beta)
{
    *alpha = 0.0;
    *beta = 0.0;
    switch (kind) {
    case CLEAVE_ACT_CLIP: *beta = 6.0; break;
    case CLEAVE_ACT_HARDSIGMOID:
        *alpha = 0.2;
        *beta = 0.5;
        break;
    case CLEAVE_ACT_LEAKY: *alpha = 0.01; break;
    default: break;
    }
}

CLEAVE_API void cleave_layer_init(cleave_layer *l, cleave_layer_type type)
{
    memset(l, 0, sizeof *l);
    l->type = type;
    l->n = l->c = l->h = l->w = 1;
    l->k = 1;
    l->kh = l->kw = 1;
    l->sh = l->sw = 1;
    l->dh = l->dw = 1;
    l->groups = 1;
    l->bias = 1;
    l->act = CLEAVE_ACT_NONE;
    l->t = 1;
    l->layers = l->dirs = 1;
    l->axis = 1;
    for (int i = 0; i < 4; i++)
        l->perm[i] = i;
    l->ninputs = 2;
    l->size = 5;
    l->lrn_k = 1.0;
    if (type == CLEAVE_LAYER_LRN) {
        l->alpha = 1e-4;
        l->beta = 0.75;
    } else if (type == CLEAVE_LAYER_ACT) {
        l->kind = CLEAVE_ACT_RELU;
    } else if (type == CLEAVE_LAYER_SLICE) {
        l->end = 1;
    }
}

/* ---------------------------------------------------------------------------------------------
** The text syntax.  Each key is known to a set of types; a key given to a type that does not
** use it is an error, so that a typo ("strde=2") never silently profiles the wrong layer.
*/

#define T_(e) (1u << CLEAVE_LAYER_##e)
#define T_CONVS (T_(CONV) | T_(DECONV))
#define T_WINDOW (T_CONVS | T_(POOL))
#define T_RNNS (T_(LSTM) | T_(GRU) | T_(RNN))
#define T_ALL ((1u << CLEAVE_LAYER_COUNT) - 1)
#define T_NCHW (T_ALL & ~T_RNNS)

enum key_id {
    K_N,
    K_C,
    K_H,
    K_W,
    K_K,
    K_KH,
    K_KW,
    K_KERNEL,
    K_SH,
    K_SW,
    K_STRIDE,
    K_PT,
    K_PL,
    K_PB,
    K_PR,
    K_PH,
    K_PW,
    K_PAD,
    K_DH,
    K_DW,
    K_DIL,
    K_GROUPS,
    K_BIAS,
    K_ACT,
    K_KIND,
    K_GLOBAL,
    K_ALPHA,
    K_BETA,
    K_LRNK,
    K_SIZE,
    K_T,
    K_LAYERS,
    K_DIRS,
    K_AXIS,
    K_START,
    K_END,
    K_PERM,
    K_NINPUTS,
    K_COUNT
};

static const struct key_def {
    const char *name;
    const char *alias;
    unsigned types;
} keys[K_COUNT] = {
    [K_N] = {"n", NULL, T_ALL},
    [K_C] = {"c", NULL, T_ALL},
    [K_H] = {"h", NULL, T_NCHW},
    [K_W] = {"w", NULL, T_NCHW},
    [K_K] = {"k", "hidden", T_CONVS | T_(FC) | T_RNNS},
    [K_KH] = {"kh", NULL, T_WINDOW},
    [K_KW] = {"kw", NULL, T_WINDOW},
    [K_KERNEL] = {"kernel", NULL, T_WINDOW},
    [K_SH] = {"sh", NULL, T_WINDOW},
    [K_SW] = {"sw", NULL, T_WINDOW},
    [K_STRIDE] = {"stride", NULL, T_WINDOW},
    [K_PT] = {"pt", NULL, T_WINDOW | T_(PAD)},
    [K_PL] = {"pl", NULL, T_WINDOW | T_(PAD)},
    [K_PB] = {"pb", NULL, T_WINDOW | T_(PAD)},
    [K_PR] = {"pr", NULL, T_WINDOW | T_(PAD)},
    [K_PH] = {"ph", NULL, T_WINDOW | T_(PAD)},
    [K_PW] = {"pw", NULL, T_WINDOW | T_(PAD)},
    [K_PAD] = {"pad", NULL, T_WINDOW | T_(PAD)},
    [K_DH] = {"dh", NULL, T_CONVS},
    [K_DW] = {"dw", NULL, T_CONVS},
    [K_DIL] = {"dilation", "dil", T_CONVS},
    [K_GROUPS] = {"groups", "g", T_CONVS},
    [K_BIAS] = {"bias", NULL, T_CONVS | T_(FC) | T_RNNS},
    [K_ACT] = {"act", NULL, T_CONVS | T_(FC)},
    [K_KIND] = {"kind", NULL, T_(POOL) | T_(ACT)},
    [K_GLOBAL] = {"global", NULL, T_(POOL)},
    [K_ALPHA] = {"alpha", NULL, T_CONVS | T_(FC) | T_(ACT) | T_(LRN)},
    [K_BETA] = {"beta", NULL, T_CONVS | T_(FC) | T_(ACT) | T_(LRN)},
    [K_LRNK] = {"lrn_k", NULL, T_(LRN)},
    [K_SIZE] = {"size", NULL, T_(LRN) | T_WINDOW},
    [K_T] = {"t", NULL, T_RNNS},
    [K_LAYERS] = {"layers", NULL, T_RNNS},
    [K_DIRS] = {"dirs", NULL, T_RNNS},
    [K_AXIS] = {"axis", NULL, T_(SOFTMAX) | T_(ARGMAX) | T_(SLICE)},
    [K_START] = {"start", NULL, T_(SLICE)},
    [K_END] = {"end", NULL, T_(SLICE)},
    [K_PERM] = {"perm", NULL, T_(TRANSPOSE)},
    [K_NINPUTS] = {"ninputs", "inputs", T_(ADD) | T_(MUL) | T_(CONCAT)},
};

/* A type name or one of the aliases that select a type and a kind. */
static int parse_type_word(const char *word, cleave_layer *l)
{
    int t = cleave_layer_type_from_name(word);
    if (t >= 0) {
        cleave_layer_init(l, (cleave_layer_type)t);
        return 0;
    }
    int a = cleave_act_kind_from_name(word);
    if (a > CLEAVE_ACT_NONE) {
        cleave_layer_init(l, CLEAVE_LAYER_ACT);
        l->kind = a;
        act_defaults(a, &l->alpha, &l->beta);
        return 0;
    }
    static const struct {
        const char *name;
        cleave_layer_type type;
        int kind, global;
    } aliases[] = {
        {"maxpool", CLEAVE_LAYER_POOL, CLEAVE_POOL_MAX, 0},
        {"avgpool", CLEAVE_LAYER_POOL, CLEAVE_POOL_AVG, 0},
        {"gpool", CLEAVE_LAYER_POOL, CLEAVE_POOL_AVG, 1},
        {"globalavgpool", CLEAVE_LAYER_POOL, CLEAVE_POOL_AVG, 1},
        {"globalmaxpool", CLEAVE_LAYER_POOL, CLEAVE_POOL_MAX, 1},
        {"flatten", CLEAVE_LAYER_RESHAPE, 0, 0},
        {"gemm", CLEAVE_LAYER_FC, 0, 0},
        {"batchnorm", CLEAVE_LAYER_BN, 0, 0},
    };
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        if (strcmp(word, aliases[i].name) == 0) {
            cleave_layer_init(l, aliases[i].type);
            l->kind = aliases[i].kind;
            l->global = aliases[i].global;
            return 0;
        }
    }
    return -1;
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end)
        return -1;
    if (errno == ERANGE)
        return -2;
    *out = v;
    return 0;
}

static int parse_f64(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* Parse a comma-separated list of at most MAX integers. */
static int parse_list(const char *s, int64_t *vals, int max, int *count)
{
    char buf[512];
    int n = 0;
    if (strlen(s) >= sizeof buf)
        return -1;
    strcpy(buf, s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == max)
            return -3;
        int rc = parse_i64(tok, &vals[n++]);
        if (rc)
            return rc;
    }
    if (n == 0 || s[strlen(s) - 1] == ',' || s[0] == ',' || strstr(s, ",,"))
        return -1;
    *count = n;
    return 0;
}

static cleave_status parse_pair(cleave_layer *l, char *tok, unsigned *seen, int *act_params,
                                char *err, size_t errlen)
{
    const char *tname = type_names[l->type];
    char *eq = strchr(tok, '=');
    if (!eq || eq == tok) {
        cl_errf(err, errlen, "expected key=value, got '%s'", tok);
        return CLEAVE_EPARSE;
    }
    *eq = '\0';
    const char *key = tok, *val = eq + 1;
    int id = -1;
    for (int i = 0; i < K_COUNT; i++)
        if (strcmp(key, keys[i].name) == 0 || (keys[i].alias && strcmp(key, keys[i].alias) == 0))
            id = i;
    if (id < 0 || !(keys[id].types & (1u << l->type))) {
        cl_errf(err, errlen, "unknown key '%s' for layer type '%s'", key, tname);
        return CLEAVE_EPARSE;
    }
    if (seen[id / 32] & (1u << (id % 32))) {
        cl_errf(err, errlen, "key '%s' given twice", key);
        return CLEAVE_EPARSE;
    }
    seen[id / 32] |= 1u << (id % 32);
    if (!*val) {
        cl_errf(err, errlen, "key '%s' has no value", key);
        return CLEAVE_EPARSE;
    }

    int64_t v = 0, list[CLEAVE_MAX_INPUTS];
    int count = 0, rc;
    double d;
    switch (id) {
    case K_ACT:
    case K_KIND:
        if (id == K_KIND && l->type == CLEAVE_LAYER_POOL) {
            for (int i = 0; i < 3; i++)
                if (strcmp(val, pool_names[i]) == 0) {
                    l->kind = i;
                    return CLEAVE_OK;
                }
            cl_errf(err, errlen, "unknown pooling kind '%s' (max, avg, avgpad)", val);
            return CLEAVE_EPARSE;
        }
        rc = cleave_act_kind_from_name(val);
        if (rc < 0 || (id == K_KIND && rc == CLEAVE_ACT_NONE)) {
            cl_errf(err, errlen, "unknown activation '%s'", val);
            return CLEAVE_EPARSE;
        }
        if (id == K_ACT)
            l->act = rc;
        else
            l->kind = rc;
        if (!*act_params)
            act_defaults(rc, &l->alpha, &l->beta);
        return CLEAVE_OK;
    case K_ALPHA:
    case K_BETA:
    case K_LRNK:
        if (parse_f64(val, &d)) {
            cl_errf(err, errlen, "value of '%s' is not a finite number: '%s'", key, val);
            return CLEAVE_EPARSE;
        }
        *(id == K_ALPHA ? &l->alpha : id == K_BETA ? &l->beta : &l->lrn_k) = d;
        if (id != K_LRNK)
            *act_params = 1;
        return CLEAVE_OK;
    case K_PERM:
        rc = parse_list(val, list, 4, &count);
        if (rc || count != 4) {
            cl_errf(err, errlen, "value of 'perm' must be four axes like 0,2,3,1, got '%s'", val);
            return CLEAVE_EPARSE;
        }
        for (int i = 0; i < 4; i++)
            l->perm[i] = list[i] < 0 || list[i] > 3 ? -1 : (int)list[i];
        return CLEAVE_OK;
    case K_C:
        rc = parse_list(val, list, CLEAVE_MAX_INPUTS, &count);
        if (rc == -3) {
            cl_errf(err, errlen, "too many values for 'c' (at most %d)", CLEAVE_MAX_INPUTS);
            return CLEAVE_EINVAL;
        }
        if (rc == 0 && count > 1 && l->type != CLEAVE_LAYER_CONCAT) {
            cl_errf(err, errlen, "key 'c' takes a list only for concat");
            return CLEAVE_EPARSE;
        }
        if (rc == 0 && count > 1) {
            int64_t sum = 0;
            for (int i = 0; i < count; i++) {
                l->cin[i] = list[i];
                if (list[i] > 0 && sum <= DIM_MAX)
                    sum += list[i];
            }
            l->ninputs = count;
            l->c = sum;
            seen[K_NINPUTS / 32] |= 1u << (K_NINPUTS % 32);
            return CLEAVE_OK;
        }
        break;
    default: break;
    }

    rc = parse_i64(val, &v);
    if (rc == -2) {
        cl_errf(err, errlen, "value of '%s' is out of range: '%s'", key, val);
        return CLEAVE_EINVAL;
    }
    if (rc) {
        cl_errf(err, errlen, "value of '%s' is not an integer: '%s'", key, val);
        return CLEAVE_EPARSE;
    }
    switch (id) {
    case K_N: l->n = v; break;
    case K_C: l->c = v; break;
    case K_H: l->h = v; break;
    case K_W: l->w = v; break;
    case K_K: l->k = v; break;
    case K_KH: l->kh = v; break;
    case K_KW: l->kw = v; break;
    case K_KERNEL: l->kh = l->kw = v; break;
    case K_SH: l->sh = v; break;
    case K_SW: l->sw = v; break;
    case K_STRIDE: l->sh = l->sw = v; break;
    case K_PT: l->pt = v; break;
    case K_PL: l->pl = v; break;
    case K_PB: l->pb = v; break;
    case K_PR: l->pr = v; break;
    case K_PH: l->pt = l->pb = v; break;
    case K_PW: l->pl = l->pr = v; break;
    case K_PAD: l->pt = l->pl = l->pb = l->pr = v; break;
    case K_DH: l->dh = v; break;
    case K_DW: l->dw = v; break;
    case K_DIL: l->dh = l->dw = v; break;
    case K_GROUPS: l->groups = v; break;
    case K_T: l->t = v; break;
    case K_LAYERS: l->layers = v; break;
    case K_DIRS: l->dirs = v; break;
    case K_START: l->start = v; break;
    case K_END: l->end = v; break;
    case K_SIZE:
        if (l->type == CLEAVE_LAYER_LRN)
            l->size = v;
        else
            l->kh = l->kw = v;
        break;
    case K_BIAS:
    case K_GLOBAL:
        if (v != 0 && v != 1) {
            cl_errf(err, errlen, "value of '%s' must be 0 or 1, got '%s'", key, val);
            return CLEAVE_EINVAL;
        }
        *(id == K_BIAS ? &l->bias : &l->global) = (int)v;
        break;
    case K_AXIS:
    case K_NINPUTS:
        if (v < INT_MIN || v > INT_MAX) {
            cl_errf(err, errlen, "value of '%s' is out of range: '%s'", key, val);
            return CLEAVE_EINVAL;
        }
        *(id == K_AXIS ? &l->axis : &l->ninputs) = (int)v;
        break;
    default: break;
    }
    return CLEAVE_OK;
}

CLEAVE_API cleave_status cleave_layer_parse(cleave_layer *out, const char *spec, char *err,
                                            size_t errlen)
{
    char buf[1024];
    cleave_layer l;
    unsigned seen[2] = {0, 0};
    int act_params = 0;
    cleave_status rc;

    cl_errf(err, errlen, "%s", "");
    if (!out || !spec) {
        cl_errf(err, errlen, "no layer given");
        return CLEAVE_EINVAL;
    }
    if (strlen(spec) >= sizeof buf) {
        cl_errf(err, errlen, "layer spec longer than %zu characters", sizeof buf - 1);
        return CLEAVE_EPARSE;
    }
    strcpy(buf, spec);
    char *save = NULL, *tok = strtok_r(buf, " \t\n", &save);
    if (!tok) {
        cl_errf(err, errlen, "empty layer spec");
        return CLEAVE_EPARSE;
    }
    if (parse_type_word(tok, &l) != 0) {
        cl_errf(err, errlen, "unknown layer type '%s'", tok);
        return CLEAVE_EPARSE;
    }
    /* Concat input channels given as a single c with ninputs are filled in after parsing. */
    while ((tok = strtok_r(NULL, " \t\n", &save)) != NULL) {
        rc = parse_pair(&l, tok, seen, &act_params, err, errlen);
        if (rc != CLEAVE_OK)
            return rc;
    }
    if (l.type == CLEAVE_LAYER_CONCAT && l.cin[0] == 0) {
        /* c=C ninputs=M: M inputs of C channels each. */
        if (l.ninputs >= 2 && l.ninputs <= CLEAVE_MAX_INPUTS && l.c > 0 && l.c <= DIM_MAX) {
            for (int i = 0; i < l.ninputs; i++)
                l.cin[i] = l.c;
            l.c *= l.ninputs;
        }
    }
    if (l.type == CLEAVE_LAYER_POOL && l.global) {
        l.kh = l.h;
        l.kw = l.w;
    }
    rc = cleave_layer_validate(&l, err, errlen);
    if (rc != CLEAVE_OK)
        return rc;
    *out = l;
    return CLEAVE_OK;
}

/* ---------------------------------------------------------------------------------------------
** Validation and shapes.
*/

/* A*B into *R unless it exceeds COUNT_MAX. */
static int mul_ok(int64_t a, int64_t b, int64_t *r)
{
    if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, r) || *r > COUNT_MAX)
        return 0;
    return 1;
}

static int64_t rnn_gates(cleave_layer_type t)
{
    return t == CLEAVE_LAYER_LSTM ? 4 : t == CLEAVE_LAYER_GRU ? 3 : 1;
}

/* Output spatial extent of a convolution/pooling window, floor mode. */
static int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1, int64_t d)
{
    return (in + p0 + p1 - d * (k - 1) - 1) / s + 1;
}

static int64_t deconv_out(int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1, int64_t d)
{
    return (in - 1) * s - p0 - p1 + d * (k - 1) + 1;
}

CLEAVE_API cleave_shape cleave_layer_output_shape(const cleave_layer *l)
{
    cleave_shape s = {{l->n, l->c, l->h, l->w}};
    switch (l->type) {
    case CLEAVE_LAYER_CONV:
        s.d[1] = l->k;
        s.d[2] = conv_out(l->h, l->kh, l->sh, l->pt, l->pb, l->dh);
        s.d[3] = conv_out(l->w, l->kw, l->sw, l->pl, l->pr, l->dw);
        break;
    case CLEAVE_LAYER_DECONV:
        s.d[1] = l->k;
        s.d[2] = deconv_out(l->h, l->kh, l->sh, l->pt, l->pb, l->dh);
        s.d[3] = deconv_out(l->w, l->kw, l->sw, l->pl, l->pr, l->dw);
        break;
    case CLEAVE_LAYER_POOL:
        if (l->global) {
            s.d[2] = s.d[3] = 1;
        } else {
            s.d[2] = conv_out(l->h, l->kh, l->sh, l->pt, l->pb, 1);
            s.d[3] = conv_out(l->w, l->kw, l->sw, l->pl, l->pr, 1);
        }
        break;
    case CLEAVE_LAYER_FC:
        s.d[1] = l->k;
        s.d[2] = s.d[3] = 1;
        break;
    case CLEAVE_LAYER_ARGMAX: s.d[l->axis] = 1; break;
    case CLEAVE_LAYER_LSTM:
    case CLEAVE_LAYER_GRU:
    case CLEAVE_LAYER_RNN:
        s.d[0] = l->t;
        s.d[1] = l->n;
        s.d[2] = l->dirs * l->k;
        s.d[3] = 1;
        break;
    case CLEAVE_LAYER_PAD:
        s.d[2] = l->h + l->pt + l->pb;
        s.d[3] = l->w + l->pl + l->pr;
        break;
    case CLEAVE_LAYER_TRANSPOSE: {
        int64_t in[4] = {l->n, l->c, l->h, l->w};
        for (int i = 0; i < 4; i++)
            s.d[i] = in[l->perm[i]];
        break;
    }
    case CLEAVE_LAYER_SLICE: s.d[l->axis] = l->end - l->start; break;
    default: break;
    }
    return s;
}

#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            cl_errf(err, errlen, __VA_ARGS__);                                                     \
            return CLEAVE_EINVAL;                                                                  \
        }                                                                                          \
    } while (0)

/* Check that every field F named in NAMES is within [LO, DIM_MAX]. */
static cleave_status check_range(const char *field, int64_t v, int64_t lo, char *err, size_t errlen)
{
    if (v < lo) {
        if (lo == 1)
            cl_errf(err, errlen, "'%s' must be positive, got %lld", field, (long long)v);
        else
            cl_errf(err, errlen, "'%s' must be at least %lld, got %lld", field, (long long)lo,
                    (long long)v);
        return CLEAVE_EINVAL;
    }
    if (v > DIM_MAX) {
        cl_errf(err, errlen, "'%s' is too large: %lld", field, (long long)v);
        return CLEAVE_EINVAL;
    }
    return CLEAVE_OK;
}

#define RANGE(field, lo)                                                                           \
    do {                                                                                           \
        cleave_status rc_ = check_range(#field, l->field, lo, err, errlen);                        \
        if (rc_ != CLEAVE_OK)                                                                      \
            return rc_;                                                                            \
    } while (0)

static cleave_status validate_window(const cleave_layer *l, char *err, size_t errlen)
{
    RANGE(kh, 1);
    RANGE(kw, 1);
    RANGE(sh, 1);
    RANGE(sw, 1);
    RANGE(pt, 0);
    RANGE(pl, 0);
    RANGE(pb, 0);
    RANGE(pr, 0);
    if (l->type != CLEAVE_LAYER_POOL) {
        RANGE(dh, 1);
        RANGE(dw, 1);
    }
    int64_t dh = l->type == CLEAVE_LAYER_POOL ? 1 : l->dh;
    int64_t dw = l->type == CLEAVE_LAYER_POOL ? 1 : l->dw;
    int64_t eh, ew;
    REQUIRE(mul_ok(dh, l->kh - 1, &eh) && mul_ok(dw, l->kw - 1, &ew), "dilated kernel too large");
    eh += 1;
    ew += 1;
    if (l->type == CLEAVE_LAYER_DECONV) {
        REQUIRE(deconv_out(l->h, l->kh, l->sh, l->pt, l->pb, dh) >= 1 &&
                    deconv_out(l->w, l->kw, l->sw, l->pl, l->pr, dw) >= 1,
                "padding %lld+%lld x %lld+%lld leaves no output of the transposed convolution",
                (long long)l->pt, (long long)l->pb, (long long)l->pl, (long long)l->pr);
        return CLEAVE_OK;
    }
    REQUIRE(eh <= l->h + l->pt + l->pb && ew <= l->w + l->pl + l->pr,
            "kernel %lldx%lld is larger than the padded input %lldx%lld", (long long)eh,
            (long long)ew, (long long)(l->h + l->pt + l->pb), (long long)(l->w + l->pl + l->pr));
    if (l->type == CLEAVE_LAYER_POOL)
        REQUIRE(l->pt < l->kh && l->pb < l->kh && l->pl < l->kw && l->pr < l->kw,
                "padding must be smaller than the pooling window %lldx%lld", (long long)l->kh,
                (long long)l->kw);
    return CLEAVE_OK;
}

static cleave_status validate_act(int kind, double alpha, double beta, const char *what, char *err,
                                  size_t errlen)
{
    REQUIRE(kind >= 0 && kind < CLEAVE_ACT_COUNT, "unknown %s kind %d", what, kind);
    REQUIRE(isfinite(alpha) && isfinite(beta), "'alpha' and 'beta' must be finite");
    if (kind == CLEAVE_ACT_CLIP)
        REQUIRE(alpha <= beta, "clip bounds must satisfy alpha <= beta, got %g > %g", alpha, beta);
    return CLEAVE_OK;
}

cleave_status cl_layer_check(const cleave_layer *l, double *feats, char *err, size_t errlen)
{
    cleave_status rc;
    if (!l) {
        cl_errf(err, errlen, "no layer given");
        return CLEAVE_EINVAL;
    }
    REQUIRE((int)l->type >= 0 && l->type < CLEAVE_LAYER_COUNT, "unknown layer type %d",
            (int)l->type);
    RANGE(n, 1);
    RANGE(c, 1);
    switch (l->type) {
    case CLEAVE_LAYER_LSTM:
    case CLEAVE_LAYER_GRU:
    case CLEAVE_LAYER_RNN:
        RANGE(t, 1);
        RANGE(k, 1);
        RANGE(layers, 1);
        REQUIRE(l->dirs == 1 || l->dirs == 2, "'dirs' must be 1 or 2, got %lld",
                (long long)l->dirs);
        REQUIRE(l->layers == 1 || (l->c == l->k && l->dirs == 1),
                "stacked recurrent layers need c == k and dirs=1 (got c=%lld k=%lld dirs=%lld)",
                (long long)l->c, (long long)l->k, (long long)l->dirs);
        break;
    default:
        RANGE(h, 1);
        RANGE(w, 1);
        break;
    }

    switch (l->type) {
    case CLEAVE_LAYER_CONV:
    case CLEAVE_LAYER_DECONV:
        RANGE(k, 1);
        RANGE(groups, 1);
        REQUIRE(l->c % l->groups == 0 && l->k % l->groups == 0,
                "groups=%lld must divide c=%lld and k=%lld", (long long)l->groups, (long long)l->c,
                (long long)l->k);
        if ((rc = validate_window(l, err, errlen)) != CLEAVE_OK)
            return rc;
        if ((rc = validate_act(l->act, l->alpha, l->beta, "activation", err, errlen)))
            return rc;
        break;
    case CLEAVE_LAYER_POOL:
        REQUIRE(l->kind >= CLEAVE_POOL_MAX && l->kind <= CLEAVE_POOL_AVG_PAD,
                "unknown pooling kind %d", l->kind);
        if (l->global) {
            REQUIRE(l->kh == l->h && l->kw == l->w && l->sh == 1 && l->sw == 1 && !l->pt &&
                        !l->pl && !l->pb && !l->pr,
                    "global pooling takes no kernel, stride or padding");
        }
        if ((rc = validate_window(l, err, errlen)) != CLEAVE_OK)
            return rc;
        break;
    case CLEAVE_LAYER_FC:
        RANGE(k, 1);
        if ((rc = validate_act(l->act, l->alpha, l->beta, "activation", err, errlen)))
            return rc;
        break;
    case CLEAVE_LAYER_ACT:
        REQUIRE(l->kind > CLEAVE_ACT_NONE, "activation layer needs a kind");
        if ((rc = validate_act(l->kind, l->alpha, l->beta, "activation", err, errlen)))
            return rc;
        break;
    case CLEAVE_LAYER_LRN:
        RANGE(size, 1);
        REQUIRE(isfinite(l->alpha) && isfinite(l->beta) && isfinite(l->lrn_k) && l->lrn_k > 0,
                "lrn needs finite alpha and beta and lrn_k > 0");
        break;
    case CLEAVE_LAYER_SOFTMAX:
    case CLEAVE_LAYER_ARGMAX:
        REQUIRE(l->axis >= 0 && l->axis <= 3, "'axis' must be 0..3, got %d", l->axis);
        break;
    case CLEAVE_LAYER_SLICE: {
        REQUIRE(l->axis >= 0 && l->axis <= 3, "'axis' must be 0..3, got %d", l->axis);
        int64_t dims[4] = {l->n, l->c, l->h, l->w};
        REQUIRE(l->start >= 0 && l->start < l->end && l->end <= dims[l->axis],
                "slice [%lld, %lld) is not inside axis %d of size %lld", (long long)l->start,
                (long long)l->end, l->axis, (long long)dims[l->axis]);
        break;
    }
    case CLEAVE_LAYER_ADD:
    case CLEAVE_LAYER_MUL:
        REQUIRE(l->ninputs == 2, "'%s' takes 2 inputs, got %d", type_names[l->type], l->ninputs);
        break;
    case CLEAVE_LAYER_CONCAT: {
        REQUIRE(l->ninputs >= 2 && l->ninputs <= CLEAVE_MAX_INPUTS,
                "concat takes 2..%d inputs, got %d", CLEAVE_MAX_INPUTS, l->ninputs);
        int64_t sum = 0;
        for (int i = 0; i < l->ninputs; i++) {
            REQUIRE(l->cin[i] >= 1 && l->cin[i] <= DIM_MAX,
                    "concat input %d must have a positive channel count, got %lld", i,
                    (long long)l->cin[i]);
            sum += l->cin[i];
        }
        REQUIRE(sum == l->c, "concat inputs have %lld channels in all, not c=%lld", (long long)sum,
                (long long)l->c);
        break;
    }
    case CLEAVE_LAYER_PAD:
        RANGE(pt, 0);
        RANGE(pl, 0);
        RANGE(pb, 0);
        RANGE(pr, 0);
        break;
    case CLEAVE_LAYER_TRANSPOSE: {
        int used[4] = {0, 0, 0, 0};
        for (int i = 0; i < 4; i++) {
            REQUIRE(l->perm[i] >= 0 && l->perm[i] <= 3 && !used[l->perm[i]],
                    "'perm' must be a permutation of 0,1,2,3");
            used[l->perm[i]] = 1;
        }
        break;
    }
    default: break;
    }

    /* Element counts, MACs and bytes must not overflow: the features computation reports an
    ** overflow of any element count as infinite MACs. */
    double local[CLEAVE_FEAT_COUNT], *f = feats ? feats : local;
    cleave_layer_features(l, f);
    REQUIRE(isfinite(f[CLEAVE_FEAT_MACS]), "layer is too large: element counts overflow");
    REQUIRE(f[CLEAVE_FEAT_MACS] < (double)COUNT_MAX, "layer is too large: %.3g MACs",
            f[CLEAVE_FEAT_MACS]);
    return CLEAVE_OK;
}

CLEAVE_API cleave_status cleave_layer_validate(const cleave_layer *l, char *err, size_t errlen)
{
    return cl_layer_check(l, NULL, err, errlen);
}

/* ---------------------------------------------------------------------------------------------
** Sizes and static features.
*/

/* Element counts of inputs, output and weights; 0 on success, -1 on overflow. */
static int layer_counts(const cleave_layer *l, int64_t *in, int64_t *out, int64_t *wts)
{
    int64_t a, b;
    cleave_shape o = cleave_layer_output_shape(l);
    *wts = 0;
    if (l->type == CLEAVE_LAYER_LSTM || l->type == CLEAVE_LAYER_GRU ||
        l->type == CLEAVE_LAYER_RNN) {
        /* Input (t, n, c); weights per layer and direction: G*k*(input + k) + G*k bias. */
        int64_t g = rnn_gates(l->type), per, ld;
        if (!mul_ok(l->t, l->n, &a) || !mul_ok(a, l->c, in))
            return -1;
        if (!mul_ok(l->t, l->n, &a) || !mul_ok(a, l->dirs * l->k, out))
            return -1;
        if (!mul_ok(g, l->k, &a) || !mul_ok(a, l->c + l->k + 1, &per) ||
            !mul_ok(l->layers, l->dirs, &ld) || !mul_ok(per, ld, wts))
            return -1;
        return 0;
    }
    if (o.d[2] < 1 || o.d[3] < 1 || o.d[1] < 1)
        return -1;
    if (!mul_ok(l->n, l->c, &a) || !mul_ok(a, l->h, &b) || !mul_ok(b, l->w, in))
        return -1;
    if (!mul_ok(o.d[0], o.d[1], &a) || !mul_ok(a, o.d[2], &b) || !mul_ok(b, o.d[3], out))
        return -1;
    if (l->type == CLEAVE_LAYER_ADD || l->type == CLEAVE_LAYER_MUL)
        *in *= 2;
    switch (l->type) {
    case CLEAVE_LAYER_CONV:
    case CLEAVE_LAYER_DECONV:
        if (!mul_ok(l->k, l->c / (l->groups > 0 ? l->groups : 1), &a) || !mul_ok(a, l->kh, &b) ||
            !mul_ok(b, l->kw, wts))
            return -1;
        *wts += l->bias ? l->k : 0;
        break;
    case CLEAVE_LAYER_FC:
        if (!mul_ok(l->k, l->c, &a) || !mul_ok(a, l->h, &b) || !mul_ok(b, l->w, wts))
            return -1;
        *wts += l->bias ? l->k : 0;
        break;
    case CLEAVE_LAYER_BN: *wts = 4 * l->c; break;
    default: break;
    }
    return 0;
}

CLEAVE_API int cleave_layer_buffer_bytes(const cleave_layer *l, uint64_t *bytes)
{
    int64_t in, out, wts;
    if (layer_counts(l, &in, &out, &wts) != 0)
        return -1;
    *bytes = 4 * ((uint64_t)in + (uint64_t)out + (uint64_t)wts);
    return 0;
}

/* Multiply-accumulates (or elementwise operations for layers without a reduction). */
static double layer_macs(const cleave_layer *l, const cleave_shape *o, double in_elems,
                         double out_elems)
{
    double d;
    switch (l->type) {
    case CLEAVE_LAYER_CONV:
        return out_elems * (double)(l->c / l->groups) * (double)l->kh * (double)l->kw;
    case CLEAVE_LAYER_DECONV:
        /* Every input pixel scatters into k/groups channels through the kernel. */
        return in_elems * (double)(l->k / l->groups) * (double)l->kh * (double)l->kw;
    case CLEAVE_LAYER_POOL: return out_elems * (double)l->kh * (double)l->kw;
    case CLEAVE_LAYER_FC:
        return (double)l->n * (double)l->k * (double)l->c * (double)l->h * (double)l->w;
    case CLEAVE_LAYER_LRN: return in_elems * (double)l->size;
    case CLEAVE_LAYER_LSTM:
    case CLEAVE_LAYER_GRU:
    case CLEAVE_LAYER_RNN:
        d = (double)rnn_gates(l->type) * (double)l->k * (double)(l->c + l->k);
        return d * (double)l->t * (double)l->n * (double)l->layers * (double)l->dirs;
    case CLEAVE_LAYER_RESHAPE: return 0.0;
    case CLEAVE_LAYER_SOFTMAX:
    case CLEAVE_LAYER_ARGMAX: return in_elems;
    default: (void)o; return out_elems;
    }
}

CLEAVE_API void cleave_layer_features(const cleave_layer *l, double f[CLEAVE_FEAT_COUNT])
{
    int64_t in = 0, out = 0, wts = 0;
    cleave_shape o = cleave_layer_output_shape(l);
    for (int i = 0; i < CLEAVE_FEAT_COUNT; i++)
        f[i] = 0.0;
    if (layer_counts(l, &in, &out, &wts) != 0) {
        f[CLEAVE_FEAT_MACS] = INFINITY;
        return;
    }
    int is_rnn =
        l->type == CLEAVE_LAYER_LSTM || l->type == CLEAVE_LAYER_GRU || l->type == CLEAVE_LAYER_RNN;
    int has_window = l->type == CLEAVE_LAYER_CONV || l->type == CLEAVE_LAYER_DECONV ||
                     l->type == CLEAVE_LAYER_POOL;
    int is_conv = l->type == CLEAVE_LAYER_CONV || l->type == CLEAVE_LAYER_DECONV;

    f[CLEAVE_FEAT_IN_ELEMS] = (double)in;
    f[CLEAVE_FEAT_OUT_ELEMS] = (double)out;
    f[CLEAVE_FEAT_IN_BYTES] = 4.0 * (double)in;
    f[CLEAVE_FEAT_OUT_BYTES] = l->type == CLEAVE_LAYER_RESHAPE ? 0.0 : 4.0 * (double)out;
    f[CLEAVE_FEAT_W_BYTES] = 4.0 * (double)wts;
    f[CLEAVE_FEAT_MACS] = layer_macs(l, &o, (double)in, (double)out);
    /* Edgent (Li et al., 2018), Table 1: x1 = input feature-map size; for convolution
    ** x2 = (filter size / stride)^2 * number of filters, otherwise the output size. */
    f[CLEAVE_FEAT_X1] = (double)in;
    f[CLEAVE_FEAT_X2] =
        is_conv ? (double)l->kh * (double)l->kw / ((double)l->sh * (double)l->sw) * (double)l->k
                : (double)out;
    f[CLEAVE_FEAT_N] = (double)l->n;
    f[CLEAVE_FEAT_C] = (double)l->c;
    f[CLEAVE_FEAT_H] = is_rnn ? 1.0 : (double)l->h;
    f[CLEAVE_FEAT_W] = is_rnn ? 1.0 : (double)l->w;
    f[CLEAVE_FEAT_K] = (is_conv || is_rnn || l->type == CLEAVE_LAYER_FC) ? (double)l->k : 0.0;
    if (has_window || l->type == CLEAVE_LAYER_PAD) {
        f[CLEAVE_FEAT_KSIZE] = has_window ? (double)l->kh * (double)l->kw : 0.0;
        f[CLEAVE_FEAT_STRIDE] = has_window ? (double)l->sh * (double)l->sw : 0.0;
        f[CLEAVE_FEAT_PAD] = (double)(l->pt + l->pl + l->pb + l->pr);
    }
    if (is_conv) {
        f[CLEAVE_FEAT_GROUPS] = (double)l->groups;
        f[CLEAVE_FEAT_DIL] = (double)l->dh * (double)l->dw;
    }
    if (is_conv || is_rnn || l->type == CLEAVE_LAYER_FC)
        f[CLEAVE_FEAT_BIAS] = l->bias ? 1.0 : 0.0;
    if (is_conv || l->type == CLEAVE_LAYER_FC)
        f[CLEAVE_FEAT_ACT] = (double)l->act;
    else if (l->type == CLEAVE_LAYER_ACT)
        f[CLEAVE_FEAT_ACT] = (double)l->kind;
    if (l->type == CLEAVE_LAYER_POOL)
        f[CLEAVE_FEAT_KIND] = (double)l->kind;
    if (!is_rnn) {
        f[CLEAVE_FEAT_OH] = (double)o.d[2];
        f[CLEAVE_FEAT_OW] = (double)o.d[3];
    }
    if (is_rnn) {
        f[CLEAVE_FEAT_T] = (double)l->t;
        f[CLEAVE_FEAT_LAYERS] = (double)(l->layers * l->dirs);
    }
    f[CLEAVE_FEAT_NINPUTS] = (l->type == CLEAVE_LAYER_ADD || l->type == CLEAVE_LAYER_MUL ||
                              l->type == CLEAVE_LAYER_CONCAT)
                                 ? (double)l->ninputs
                                 : 1.0;
}

CLEAVE_API int cleave_layer_type_features(cleave_layer_type type, cleave_feature *ids, int cap)
{
    /* Seed 002's static characteristics per type (its "Static Characteristics" table), plus
    ** MACs and bytes, which every type gets. */
#define F_(e) CLEAVE_FEAT_##e
    static const cleave_feature common_f[] = {F_(MACS), F_(IN_BYTES), F_(OUT_BYTES)};
    static const cleave_feature conv_f[] = {
        F_(W_BYTES), F_(X1),  F_(X2),     F_(N),   F_(C),    F_(H),   F_(W),  F_(K), F_(KSIZE),
        F_(STRIDE),  F_(PAD), F_(GROUPS), F_(DIL), F_(BIAS), F_(ACT), F_(OH), F_(OW)};
    static const cleave_feature pool_f[] = {F_(X1),   F_(X2),    F_(N),      F_(C),
                                            F_(H),    F_(W),     F_(OH),     F_(OW),
                                            F_(KIND), F_(KSIZE), F_(STRIDE), F_(PAD)};
    static const cleave_feature fc_f[] = {F_(W_BYTES), F_(X1),   F_(X2), F_(N),
                                          F_(K),       F_(BIAS), F_(ACT)};
    static const cleave_feature act_f[] = {F_(IN_ELEMS), F_(ACT)};
    static const cleave_feature size_f[] = {F_(IN_ELEMS), F_(OUT_ELEMS), F_(N), F_(C)};
    static const cleave_feature lrn_f[] = {F_(IN_ELEMS), F_(N), F_(C), F_(H), F_(W)};
    static const cleave_feature rnn_f[] = {F_(W_BYTES), F_(IN_ELEMS), F_(N),      F_(C),
                                           F_(K),       F_(T),        F_(LAYERS), F_(BIAS)};
    static const cleave_feature multi_f[] = {F_(IN_ELEMS), F_(OUT_ELEMS), F_(NINPUTS), F_(C)};
    static const cleave_feature pad_f[] = {F_(IN_ELEMS), F_(OUT_ELEMS), F_(PAD)};
#undef F_
    const cleave_feature *extra = size_f;
    int nextra = (int)(sizeof size_f / sizeof size_f[0]);
#define USE_(arr)                                                                                  \
    do {                                                                                           \
        extra = arr;                                                                               \
        nextra = (int)(sizeof arr / sizeof arr[0]);                                                \
    } while (0)
    switch (type) {
    case CLEAVE_LAYER_CONV:
    case CLEAVE_LAYER_DECONV: USE_(conv_f); break;
    case CLEAVE_LAYER_POOL: USE_(pool_f); break;
    case CLEAVE_LAYER_FC: USE_(fc_f); break;
    case CLEAVE_LAYER_ACT: USE_(act_f); break;
    case CLEAVE_LAYER_LRN: USE_(lrn_f); break;
    case CLEAVE_LAYER_LSTM:
    case CLEAVE_LAYER_GRU:
    case CLEAVE_LAYER_RNN: USE_(rnn_f); break;
    case CLEAVE_LAYER_ADD:
    case CLEAVE_LAYER_MUL:
    case CLEAVE_LAYER_CONCAT: USE_(multi_f); break;
    case CLEAVE_LAYER_PAD: USE_(pad_f); break;
    default:
        if ((int)type < 0 || type >= CLEAVE_LAYER_COUNT)
            return 0;
        break;
    }
#undef USE_
    int n = 0;
    for (int i = 0; i < 3; i++, n++)
        if (n < cap)
            ids[n] = common_f[i];
    for (int i = 0; i < nextra; i++, n++)
        if (n < cap)
            ids[n] = extra[i];
    return n;
}

/* ---------------------------------------------------------------------------------------------
** Canonical text.
*/

struct sbuf {
    char *p;
    size_t cap, len;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->len < b->cap ? b->p + b->len : NULL, b->len < b->cap ? b->cap - b->len : 0,
                      fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += (size_t)n;
}

static void sb_pairs(struct sbuf *b, const char *both, const char *a, const char *c, int64_t x,
                     int64_t y)
{
    if (x == y)
        sb_add(b, " %s=%lld", both, (long long)x);
    else
        sb_add(b, " %s=%lld %s=%lld", a, (long long)x, c, (long long)y);
}

static void sb_pads(struct sbuf *b, const cleave_layer *l)
{
    if (l->pt == l->pl && l->pt == l->pb && l->pt == l->pr)
        sb_add(b, " pad=%lld", (long long)l->pt);
    else
        sb_add(b, " pt=%lld pl=%lld pb=%lld pr=%lld", (long long)l->pt, (long long)l->pl,
               (long long)l->pb, (long long)l->pr);
}

/* Fused or standalone activation with its parameters when they matter. */
static void sb_act(struct sbuf *b, const char *key, int kind, double alpha, double beta)
{
    sb_add(b, " %s=%s", key, kind >= 0 && kind < CLEAVE_ACT_COUNT ? act_names[kind] : "?");
    if (kind == CLEAVE_ACT_CLIP || kind == CLEAVE_ACT_HARDSIGMOID)
        sb_add(b, " alpha=%.9g beta=%.9g", alpha, beta);
    else if (kind == CLEAVE_ACT_LEAKY)
        sb_add(b, " alpha=%.9g", alpha);
}

CLEAVE_API int cleave_layer_format(const cleave_layer *l, char *buf, size_t buflen)
{
    struct sbuf b = {buf, buf ? buflen : 0, 0};
    if (!l || (int)l->type < 0 || l->type >= CLEAVE_LAYER_COUNT)
        return -1;
    if (b.cap)
        b.p[0] = '\0';
    sb_add(&b, "%s", type_names[l->type]);
    switch (l->type) {
    case CLEAVE_LAYER_LSTM:
    case CLEAVE_LAYER_GRU:
    case CLEAVE_LAYER_RNN:
        sb_add(&b, " t=%lld n=%lld c=%lld k=%lld layers=%lld dirs=%lld bias=%d", (long long)l->t,
               (long long)l->n, (long long)l->c, (long long)l->k, (long long)l->layers,
               (long long)l->dirs, l->bias);
        return (int)b.len;
    case CLEAVE_LAYER_CONCAT:
        sb_add(&b, " n=%lld c=", (long long)l->n);
        for (int i = 0; i < l->ninputs && i < CLEAVE_MAX_INPUTS; i++)
            sb_add(&b, "%s%lld", i ? "," : "", (long long)l->cin[i]);
        sb_add(&b, " h=%lld w=%lld", (long long)l->h, (long long)l->w);
        return (int)b.len;
    default:
        sb_add(&b, " n=%lld c=%lld h=%lld w=%lld", (long long)l->n, (long long)l->c,
               (long long)l->h, (long long)l->w);
        break;
    }
    switch (l->type) {
    case CLEAVE_LAYER_CONV:
    case CLEAVE_LAYER_DECONV:
        sb_add(&b, " k=%lld", (long long)l->k);
        sb_pairs(&b, "kernel", "kh", "kw", l->kh, l->kw);
        sb_pairs(&b, "stride", "sh", "sw", l->sh, l->sw);
        sb_pads(&b, l);
        sb_pairs(&b, "dilation", "dh", "dw", l->dh, l->dw);
        sb_add(&b, " groups=%lld bias=%d", (long long)l->groups, l->bias);
        sb_act(&b, "act", l->act, l->alpha, l->beta);
        break;
    case CLEAVE_LAYER_POOL:
        sb_add(&b, " kind=%s", l->kind >= 0 && l->kind < 3 ? pool_names[l->kind] : "?");
        if (l->global) {
            sb_add(&b, " global=1");
            break;
        }
        sb_pairs(&b, "kernel", "kh", "kw", l->kh, l->kw);
        sb_pairs(&b, "stride", "sh", "sw", l->sh, l->sw);
        sb_pads(&b, l);
        break;
    case CLEAVE_LAYER_FC:
        sb_add(&b, " k=%lld bias=%d", (long long)l->k, l->bias);
        sb_act(&b, "act", l->act, l->alpha, l->beta);
        break;
    case CLEAVE_LAYER_ACT: sb_act(&b, "kind", l->kind, l->alpha, l->beta); break;
    case CLEAVE_LAYER_LRN:
        sb_add(&b, " size=%lld alpha=%.9g beta=%.9g lrn_k=%.9g", (long long)l->size, l->alpha,
               l->beta, l->lrn_k);
        break;
    case CLEAVE_LAYER_SOFTMAX:
    case CLEAVE_LAYER_ARGMAX: sb_add(&b, " axis=%d", l->axis); break;
    case CLEAVE_LAYER_PAD: sb_pads(&b, l); break;
    case CLEAVE_LAYER_TRANSPOSE:
        sb_add(&b, " perm=%d,%d,%d,%d", l->perm[0], l->perm[1], l->perm[2], l->perm[3]);
        break;
    case CLEAVE_LAYER_SLICE:
        sb_add(&b, " axis=%d start=%lld end=%lld", l->axis, (long long)l->start, (long long)l->end);
        break;
    default: break;
    }
    return (int)b.len;
}
