/* tests/ref/ref.c - naive reference kernels: one obviously-correct loop nest per layer type. */
#include "ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Epsilon of batch normalisation, fixed by the catalogue (include/cleave/layer.h). */
#define REF_BN_EPS 1e-5

int ref_rnn_gates(cleave_layer_type type)
{
    switch (type) {
    case CLEAVE_LAYER_LSTM: return 4;
    case CLEAVE_LAYER_GRU: return 3;
    case CLEAVE_LAYER_RNN: return 1;
    default: return 0;
    }
}

/* Output length of a convolution or pooling window sliding over LEN elements:
** floor((len + pad_lo + pad_hi - dil*(k-1) - 1) / stride) + 1. */
static int64_t window_out(int64_t len, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi,
                          int64_t dil)
{
    return (len + pad_lo + pad_hi - dil * (k - 1) - 1) / stride + 1;
}

/* Output length of a transposed convolution (oneDNN's deconvolution, the adjoint of the
** convolution above): (len-1)*stride - pad_lo - pad_hi + dil*(k-1) + 1. */
static int64_t deconv_out(int64_t len, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi,
                          int64_t dil)
{
    return (len - 1) * stride - pad_lo - pad_hi + dil * (k - 1) + 1;
}

static void set_shape(cleave_shape *s, int64_t a, int64_t b, int64_t c, int64_t d)
{
    s->d[0] = a;
    s->d[1] = b;
    s->d[2] = c;
    s->d[3] = d;
}

/* The pooling window actually used: a global pool covers the whole plane with stride 1 and no
** padding, whatever kh/kw/stride/pad say. */
typedef struct pool_geom {
    int64_t kh, kw, sh, sw, pt, pl, pb, pr;
} pool_geom;

static pool_geom pool_geometry(const cleave_layer *l)
{
    pool_geom g;
    if (l->global) {
        g.kh = l->h;
        g.kw = l->w;
        g.sh = g.sw = 1;
        g.pt = g.pl = g.pb = g.pr = 0;
    } else {
        g.kh = l->kh;
        g.kw = l->kw;
        g.sh = l->sh;
        g.sw = l->sw;
        g.pt = l->pt;
        g.pl = l->pl;
        g.pb = l->pb;
        g.pr = l->pr;
    }
    return g;
}

int ref_sizes_init(ref_sizes *s, const cleave_layer *l)
{
    const int64_t nchw = l->n * l->c * l->h * l->w;
    memset(s, 0, sizeof *s);
    s->ninputs = 1;
    s->src[0] = nchw;
    set_shape(&s->dst_shape, l->n, l->c, l->h, l->w);

    switch (l->type) {
    case CLEAVE_LAYER_CONV:
        set_shape(&s->dst_shape, l->n, l->k, window_out(l->h, l->kh, l->sh, l->pt, l->pb, l->dh),
                  window_out(l->w, l->kw, l->sw, l->pl, l->pr, l->dw));
        s->weights = l->k * (l->c / l->groups) * l->kh * l->kw;
        s->bias = l->bias ? l->k : 0;
        break;
    case CLEAVE_LAYER_DECONV:
        set_shape(&s->dst_shape, l->n, l->k, deconv_out(l->h, l->kh, l->sh, l->pt, l->pb, l->dh),
                  deconv_out(l->w, l->kw, l->sw, l->pl, l->pr, l->dw));
        s->weights = l->k * (l->c / l->groups) * l->kh * l->kw;
        s->bias = l->bias ? l->k : 0;
        break;
    case CLEAVE_LAYER_POOL: {
        pool_geom g = pool_geometry(l);
        set_shape(&s->dst_shape, l->n, l->c, window_out(l->h, g.kh, g.sh, g.pt, g.pb, 1),
                  window_out(l->w, g.kw, g.sw, g.pl, g.pr, 1));
        break;
    }
    case CLEAVE_LAYER_FC:
        set_shape(&s->dst_shape, l->n, l->k, 1, 1);
        s->weights = l->k * l->c * l->h * l->w;
        s->bias = l->bias ? l->k : 0;
        break;
    case CLEAVE_LAYER_BN: s->bn = l->c; break;
    case CLEAVE_LAYER_ACT:
    case CLEAVE_LAYER_LRN:
    case CLEAVE_LAYER_DROPOUT:
    case CLEAVE_LAYER_SOFTMAX:
    case CLEAVE_LAYER_RESHAPE: break;
    case CLEAVE_LAYER_ARGMAX:
        if (l->axis < 0 || l->axis > 3)
            return -1;
        s->dst_shape.d[l->axis] = 1;
        break;
    case CLEAVE_LAYER_LSTM:
    case CLEAVE_LAYER_GRU:
    case CLEAVE_LAYER_RNN: {
        const int64_t gates = ref_rnn_gates(l->type);
        if (l->layers > 1 && l->c != l->dirs * l->k)
            return -1;
        s->src[0] = l->t * l->n * l->c;
        set_shape(&s->dst_shape, l->t, l->n, l->dirs * l->k, 1);
        s->weights = l->layers * l->dirs * l->c * gates * l->k;
        s->weights_iter = l->layers * l->dirs * l->k * gates * l->k;
        s->bias = l->bias ? l->layers * l->dirs * gates * l->k : 0;
        break;
    }
    case CLEAVE_LAYER_ADD:
    case CLEAVE_LAYER_MUL:
        s->ninputs = 2;
        s->src[1] = nchw;
        break;
    case CLEAVE_LAYER_CONCAT: {
        int64_t c = 0;
        if (l->ninputs < 1 || l->ninputs > CLEAVE_MAX_INPUTS)
            return -1;
        s->ninputs = l->ninputs;
        for (int i = 0; i < l->ninputs; i++) {
            s->src[i] = l->n * l->cin[i] * l->h * l->w;
            c += l->cin[i];
        }
        set_shape(&s->dst_shape, l->n, c, l->h, l->w);
        break;
    }
    case CLEAVE_LAYER_PAD:
        set_shape(&s->dst_shape, l->n, l->c, l->h + l->pt + l->pb, l->w + l->pl + l->pr);
        break;
    case CLEAVE_LAYER_TRANSPOSE: {
        const int64_t in[4] = {l->n, l->c, l->h, l->w};
        for (int i = 0; i < 4; i++) {
            if (l->perm[i] < 0 || l->perm[i] > 3)
                return -1;
            s->dst_shape.d[i] = in[l->perm[i]];
        }
        break;
    }
    case CLEAVE_LAYER_SLICE:
        if (l->axis < 0 || l->axis > 3)
            return -1;
        s->dst_shape.d[l->axis] = l->end - l->start;
        break;
    default: return -1;
    }
    s->dst = s->dst_shape.d[0] * s->dst_shape.d[1] * s->dst_shape.d[2] * s->dst_shape.d[3];
    return 0;
}

double ref_act(int kind, double alpha, double beta, double x)
{
    switch (kind) {
    case CLEAVE_ACT_RELU: return x > 0 ? x : 0;
    case CLEAVE_ACT_RELU6: return fmin(fmax(x, 0), 6);
    case CLEAVE_ACT_CLIP: return fmin(fmax(x, alpha), beta);
    case CLEAVE_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case CLEAVE_ACT_TANH: return tanh(x);
    case CLEAVE_ACT_HARDSWISH: return x * fmin(fmax(x + 3, 0), 6) / 6;
    case CLEAVE_ACT_HARDSIGMOID: return fmax(0, fmin(1, alpha * x + beta));
    case CLEAVE_ACT_LEAKY: return x > 0 ? x : alpha * x;
    default: return x;
    }
}

static double sigmoid(double x)
{
    return 1 / (1 + exp(-x));
}

/* Convolution: out[n][g*ocg+o][y][x] = bias + sum over ic < icg, ky, kx of
** in[n][g*icg+ic][y*sh - pt + ky*dh][x*sw - pl + kx*dw] * w[g][o][ic][ky][kx],
** taps outside the input reading zero; then the fused activation. */
static int ref_conv(const cleave_layer *l, const float *in, const ref_params *p, float *out)
{
    const int64_t G = l->groups, icg = l->c / G, ocg = l->k / G;
    const int64_t H = l->h, W = l->w;
    const int64_t oh = window_out(H, l->kh, l->sh, l->pt, l->pb, l->dh);
    const int64_t ow = window_out(W, l->kw, l->sw, l->pl, l->pr, l->dw);
    const float *w = p ? p->weights : NULL;
    const float *b = p && l->bias ? p->bias : NULL;
    if (!w || (l->bias && !b))
        return -1;
    for (int64_t n = 0; n < l->n; n++)
        for (int64_t g = 0; g < G; g++)
            for (int64_t o = 0; o < ocg; o++)
                for (int64_t y = 0; y < oh; y++)
                    for (int64_t x = 0; x < ow; x++) {
                        double acc = b ? b[g * ocg + o] : 0.0;
                        for (int64_t ic = 0; ic < icg; ic++)
                            for (int64_t ky = 0; ky < l->kh; ky++)
                                for (int64_t kx = 0; kx < l->kw; kx++) {
                                    const int64_t iy = y * l->sh - l->pt + ky * l->dh;
                                    const int64_t ix = x * l->sw - l->pl + kx * l->dw;
                                    if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                        continue;
                                    acc +=
                                        (double)in[((n * l->c + g * icg + ic) * H + iy) * W + ix] *
                                        w[(((g * ocg + o) * icg + ic) * l->kh + ky) * l->kw + kx];
                                }
                        out[((n * l->k + g * ocg + o) * oh + y) * ow + x] =
                            (float)ref_act(l->act, l->alpha, l->beta, acc);
                    }
    return 0;
}

/* Transposed convolution, written as the scatter that defines it: every input pixel (y, x)
** adds in[n][g*icg+ic][y][x] * w[g][o][ic][ky][kx] to out[n][g*ocg+o][y*sh - pt + ky*dh]
** [x*sw - pl + kx*dw] (dropped when that falls outside the output); plus bias, then the fused
** activation.  Accumulates in a double copy of the output. */
static int ref_deconv(const cleave_layer *l, const float *in, const ref_params *p, float *out)
{
    const int64_t G = l->groups, icg = l->c / G, ocg = l->k / G;
    const int64_t H = l->h, W = l->w;
    const int64_t oh = deconv_out(H, l->kh, l->sh, l->pt, l->pb, l->dh);
    const int64_t ow = deconv_out(W, l->kw, l->sw, l->pl, l->pr, l->dw);
    const int64_t total = l->n * l->k * oh * ow;
    const float *w = p ? p->weights : NULL;
    const float *b = p && l->bias ? p->bias : NULL;
    double *acc = NULL;
    if (!w || (l->bias && !b))
        return -1;
    acc = calloc((size_t)total, sizeof *acc);
    if (!acc)
        return -1;
    for (int64_t n = 0; n < l->n; n++)
        for (int64_t g = 0; g < G; g++)
            for (int64_t ic = 0; ic < icg; ic++)
                for (int64_t y = 0; y < H; y++)
                    for (int64_t x = 0; x < W; x++) {
                        const double v = in[((n * l->c + g * icg + ic) * H + y) * W + x];
                        for (int64_t o = 0; o < ocg; o++)
                            for (int64_t ky = 0; ky < l->kh; ky++)
                                for (int64_t kx = 0; kx < l->kw; kx++) {
                                    const int64_t oy = y * l->sh - l->pt + ky * l->dh;
                                    const int64_t ox = x * l->sw - l->pl + kx * l->dw;
                                    if (oy < 0 || oy >= oh || ox < 0 || ox >= ow)
                                        continue;
                                    acc[((n * l->k + g * ocg + o) * oh + oy) * ow + ox] +=
                                        v *
                                        w[(((g * ocg + o) * icg + ic) * l->kh + ky) * l->kw + kx];
                                }
                    }
    for (int64_t n = 0; n < l->n; n++)
        for (int64_t o = 0; o < l->k; o++)
            for (int64_t i = 0; i < oh * ow; i++) {
                const int64_t at = (n * l->k + o) * oh * ow + i;
                const double v = acc[at] + (b ? b[o] : 0.0);
                out[at] = (float)ref_act(l->act, l->alpha, l->beta, v);
            }
    free(acc);
    return 0;
}

/* Pooling over windows placed as for a convolution.  Max takes the largest in-bounds element
** (padding never wins); avg divides the sum of in-bounds elements by their count; avgpad by
** kh*kw (padding counts as zeros).  A window with no in-bounds element yields 0. */
static int ref_pool(const cleave_layer *l, const float *in, float *out)
{
    const pool_geom g = pool_geometry(l);
    const int64_t H = l->h, W = l->w;
    const int64_t oh = window_out(H, g.kh, g.sh, g.pt, g.pb, 1);
    const int64_t ow = window_out(W, g.kw, g.sw, g.pl, g.pr, 1);
    if (l->kind != CLEAVE_POOL_MAX && l->kind != CLEAVE_POOL_AVG && l->kind != CLEAVE_POOL_AVG_PAD)
        return -1;
    for (int64_t nc = 0; nc < l->n * l->c; nc++)
        for (int64_t y = 0; y < oh; y++)
            for (int64_t x = 0; x < ow; x++) {
                const float *plane = in + nc * H * W;
                double sum = 0, best = 0;
                int64_t count = 0;
                for (int64_t ky = 0; ky < g.kh; ky++)
                    for (int64_t kx = 0; kx < g.kw; kx++) {
                        const int64_t iy = y * g.sh - g.pt + ky;
                        const int64_t ix = x * g.sw - g.pl + kx;
                        double v;
                        if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                            continue;
                        v = plane[iy * W + ix];
                        if (count == 0 || v > best)
                            best = v;
                        sum += v;
                        count++;
                    }
                double r;
                if (count == 0)
                    r = 0;
                else if (l->kind == CLEAVE_POOL_MAX)
                    r = best;
                else if (l->kind == CLEAVE_POOL_AVG)
                    r = sum / (double)count;
                else
                    r = sum / (double)(g.kh * g.kw);
                out[(nc * oh + y) * ow + x] = (float)r;
            }
    return 0;
}

/* Fully connected: out[n][o] = bias[o] + sum_{i < c*h*w} in[n][i] * w[o][i] over the input
** flattened in CHW order; then the fused activation. */
static int ref_fc(const cleave_layer *l, const float *in, const ref_params *p, float *out)
{
    const int64_t len = l->c * l->h * l->w;
    const float *w = p ? p->weights : NULL;
    const float *b = p && l->bias ? p->bias : NULL;
    if (!w || (l->bias && !b))
        return -1;
    for (int64_t n = 0; n < l->n; n++)
        for (int64_t o = 0; o < l->k; o++) {
            double acc = b ? b[o] : 0.0;
            for (int64_t i = 0; i < len; i++)
                acc += (double)in[n * len + i] * w[o * len + i];
            out[n * l->k + o] = (float)ref_act(l->act, l->alpha, l->beta, acc);
        }
    return 0;
}

/* Batch normalisation at inference: y = scale * (x - mean) / sqrt(var + 1e-5) + shift. */
static int ref_bn(const cleave_layer *l, const float *in, const ref_params *p, float *out)
{
    const int64_t hw = l->h * l->w;
    if (!p || !p->mean || !p->var || !p->scale || !p->shift)
        return -1;
    for (int64_t n = 0; n < l->n; n++)
        for (int64_t c = 0; c < l->c; c++)
            for (int64_t i = 0; i < hw; i++) {
                const int64_t at = (n * l->c + c) * hw + i;
                out[at] = (float)((double)p->scale[c] * (in[at] - (double)p->mean[c]) /
                                      sqrt((double)p->var[c] + REF_BN_EPS) +
                                  p->shift[c]);
            }
    return 0;
}

/* Local response normalisation across channels (ONNX LRN): sq = sum of x[c']^2 over
** c' in [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to [0, C);
** y = x / (lrn_k + alpha/size * sq)^beta. */
static int ref_lrn(const cleave_layer *l, const float *in, float *out)
{
    const int64_t C = l->c, hw = l->h * l->w;
    const int64_t lo_half = (l->size - 1) / 2, hi_half = l->size / 2;
    for (int64_t n = 0; n < l->n; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < hw; i++) {
                double sq = 0;
                for (int64_t cc = c - lo_half; cc <= c + hi_half; cc++) {
                    if (cc < 0 || cc >= C)
                        continue;
                    const double v = in[(n * C + cc) * hw + i];
                    sq += v * v;
                }
                const int64_t at = (n * C + c) * hw + i;
                out[at] =
                    (float)(in[at] / pow(l->lrn_k + l->alpha / (double)l->size * sq, l->beta));
            }
    return 0;
}

/* Split the 4-D shape D around AXIS: OUTER elements before it, LEN along it, INNER after. */
static void axis_split(const int64_t d[4], int axis, int64_t *outer, int64_t *len, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < axis; i++)
        *outer *= d[i];
    for (int i = axis + 1; i < 4; i++)
        *inner *= d[i];
    *len = d[axis];
}

/* Softmax along AXIS: y_i = exp(x_i - max) / sum_j exp(x_j - max). */
static int ref_softmax(const cleave_layer *l, const float *in, float *out)
{
    const int64_t d[4] = {l->n, l->c, l->h, l->w};
    int64_t outer, len, inner;
    if (l->axis < 0 || l->axis > 3)
        return -1;
    axis_split(d, l->axis, &outer, &len, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            double mx = in[(o * len) * inner + j], sum = 0;
            for (int64_t i = 1; i < len; i++)
                mx = fmax(mx, in[(o * len + i) * inner + j]);
            for (int64_t i = 0; i < len; i++)
                sum += exp(in[(o * len + i) * inner + j] - mx);
            for (int64_t i = 0; i < len; i++) {
                const int64_t at = (o * len + i) * inner + j;
                out[at] = (float)(exp(in[at] - mx) / sum);
            }
        }
    return 0;
}

/* Argmax along AXIS: the index of the first maximum, as a float; the axis shrinks to 1. */
static int ref_argmax(const cleave_layer *l, const float *in, float *out)
{
    const int64_t d[4] = {l->n, l->c, l->h, l->w};
    int64_t outer, len, inner;
    if (l->axis < 0 || l->axis > 3)
        return -1;
    axis_split(d, l->axis, &outer, &len, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            int64_t best = 0;
            for (int64_t i = 1; i < len; i++)
                if (in[(o * len + i) * inner + j] > in[(o * len + best) * inner + j])
                    best = i;
            out[o * inner + j] = (float)best;
        }
    return 0;
}

/* Slice along AXIS: out[..., i, ...] = in[..., start + i, ...] for i < end - start. */
static int ref_slice(const cleave_layer *l, const float *in, float *out)
{
    const int64_t d[4] = {l->n, l->c, l->h, l->w};
    int64_t outer, len, inner;
    const int64_t olen = l->end - l->start;
    if (l->axis < 0 || l->axis > 3 || l->start < 0 || olen <= 0)
        return -1;
    axis_split(d, l->axis, &outer, &len, &inner);
    if (l->end > len)
        return -1;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < olen; i++)
            for (int64_t j = 0; j < inner; j++)
                out[(o * olen + i) * inner + j] = in[(o * len + l->start + i) * inner + j];
    return 0;
}

/* Transpose: output axis i is input axis perm[i], so the output element at coordinates
** (o0, o1, o2, o3) is the input element whose coordinate on axis perm[i] is o_i. */
static int ref_transpose(const cleave_layer *l, const float *in, float *out)
{
    const int64_t d[4] = {l->n, l->c, l->h, l->w};
    int64_t od[4], ic[4];
    int seen = 0;
    for (int i = 0; i < 4; i++) {
        if (l->perm[i] < 0 || l->perm[i] > 3)
            return -1;
        seen |= 1 << l->perm[i];
        od[i] = d[l->perm[i]];
    }
    if (seen != 0xf)
        return -1;
    int64_t at = 0;
    for (int64_t o0 = 0; o0 < od[0]; o0++)
        for (int64_t o1 = 0; o1 < od[1]; o1++)
            for (int64_t o2 = 0; o2 < od[2]; o2++)
                for (int64_t o3 = 0; o3 < od[3]; o3++) {
                    ic[l->perm[0]] = o0;
                    ic[l->perm[1]] = o1;
                    ic[l->perm[2]] = o2;
                    ic[l->perm[3]] = o3;
                    out[at++] = in[((ic[0] * d[1] + ic[1]) * d[2] + ic[2]) * d[3] + ic[3]];
                }
    return 0;
}

/* Concatenation along channels: input i (cin[i] channels) fills output channels
** [sum_{j<i} cin[j], sum_{j<=i} cin[j]). */
static int ref_concat(const cleave_layer *l, const float *const *src, float *out)
{
    const int64_t hw = l->h * l->w;
    int64_t c_total = 0;
    for (int i = 0; i < l->ninputs; i++)
        c_total += l->cin[i];
    for (int64_t n = 0; n < l->n; n++) {
        int64_t c_off = 0;
        for (int i = 0; i < l->ninputs; i++) {
            for (int64_t c = 0; c < l->cin[i]; c++)
                for (int64_t j = 0; j < hw; j++)
                    out[(n * c_total + c_off + c) * hw + j] = src[i][(n * l->cin[i] + c) * hw + j];
            c_off += l->cin[i];
        }
    }
    return 0;
}

/* Zero padding of the spatial plane: pt rows above, pb below, pl columns left, pr right. */
static int ref_pad(const cleave_layer *l, const float *in, float *out)
{
    const int64_t H = l->h, W = l->w;
    const int64_t oh = H + l->pt + l->pb, ow = W + l->pl + l->pr;
    for (int64_t nc = 0; nc < l->n * l->c; nc++)
        for (int64_t y = 0; y < oh; y++)
            for (int64_t x = 0; x < ow; x++) {
                const int64_t iy = y - l->pt, ix = x - l->pl;
                const int inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
                out[(nc * oh + y) * ow + x] = inside ? in[(nc * H + iy) * W + ix] : 0.0f;
            }
    return 0;
}

/* One direction of one recurrent layer over the whole sequence.
** X is the layer input (T, N, C) and Y the layer output (T, N, D*K), both double; this
** direction's hidden state goes to channels [dir*K, (dir+1)*K).  WX (C, G, K), WH (K, G, K) and
** B (G, K, or NULL) are this layer's and direction's slices.  H and CELL are K-double scratch.
** Direction 1 runs t from T-1 down to 0.  Gates as in oneDNN (profiler/backend.h):
**   lstm i, f, c~, o:  c_t = f*c_{t-1} + i*c~,  h_t = o*tanh(c_t)
**   gru u, r, o:       o = tanh(Wx_o x + Wh_o (r*h) + b_o),  h_t = u*h_{t-1} + (1-u)*o
**   rnn:               h_t = tanh(Wx x + Wh h + b) */
static void rnn_direction(cleave_layer_type type, int64_t T, int64_t N, int64_t C, int64_t K,
                          int64_t D, int dir, const double *X, double *Y, const float *wx,
                          const float *wh, const float *b, double *gates, double *h, double *cell,
                          double *rh)
{
    const int64_t G = ref_rnn_gates(type);
    for (int64_t n = 0; n < N; n++) {
        for (int64_t j = 0; j < K; j++)
            h[j] = cell[j] = 0;
        for (int64_t s = 0; s < T; s++) {
            const int64_t t = dir == 0 ? s : T - 1 - s;
            const double *x = X + (t * N + n) * C;
            /* Input and bias part of every gate. */
            for (int64_t g = 0; g < G; g++)
                for (int64_t j = 0; j < K; j++) {
                    double acc = b ? b[g * K + j] : 0.0;
                    for (int64_t i = 0; i < C; i++)
                        acc += x[i] * wx[(i * G + g) * K + j];
                    gates[g * K + j] = acc;
                }
            if (type == CLEAVE_LAYER_GRU) {
                /* u and r see h; the candidate o sees r*h (linear_before_reset = 0). */
                for (int64_t g = 0; g < 2; g++)
                    for (int64_t j = 0; j < K; j++) {
                        double acc = gates[g * K + j];
                        for (int64_t i = 0; i < K; i++)
                            acc += h[i] * wh[(i * G + g) * K + j];
                        gates[g * K + j] = sigmoid(acc);
                    }
                for (int64_t i = 0; i < K; i++)
                    rh[i] = gates[1 * K + i] * h[i];
                for (int64_t j = 0; j < K; j++) {
                    double acc = gates[2 * K + j];
                    for (int64_t i = 0; i < K; i++)
                        acc += rh[i] * wh[(i * G + 2) * K + j];
                    gates[2 * K + j] = tanh(acc);
                }
                for (int64_t j = 0; j < K; j++) {
                    const double u = gates[j];
                    h[j] = u * h[j] + (1 - u) * gates[2 * K + j];
                }
            } else {
                for (int64_t g = 0; g < G; g++)
                    for (int64_t j = 0; j < K; j++) {
                        double acc = gates[g * K + j];
                        for (int64_t i = 0; i < K; i++)
                            acc += h[i] * wh[(i * G + g) * K + j];
                        gates[g * K + j] = acc;
                    }
                if (type == CLEAVE_LAYER_LSTM) {
                    for (int64_t j = 0; j < K; j++) {
                        const double ig = sigmoid(gates[0 * K + j]);
                        const double fg = sigmoid(gates[1 * K + j]);
                        const double cg = tanh(gates[2 * K + j]);
                        const double og = sigmoid(gates[3 * K + j]);
                        cell[j] = fg * cell[j] + ig * cg;
                        h[j] = og * tanh(cell[j]);
                    }
                } else {
                    for (int64_t j = 0; j < K; j++)
                        h[j] = tanh(gates[j]);
                }
            }
            for (int64_t j = 0; j < K; j++)
                Y[(t * N + n) * D * K + dir * K + j] = h[j];
        }
    }
}

/* A stack of recurrent layers: layer 0 reads the input, layer l > 0 reads layer l-1's output
** (which needs c == dirs*k, as weights_layer has c input rows for every layer).  Intermediate
** outputs are kept in double. */
static int ref_rnn(const cleave_layer *l, const float *in, const ref_params *p, float *out)
{
    const int64_t T = l->t, N = l->n, C = l->c, K = l->k, D = l->dirs, L = l->layers;
    const int64_t G = ref_rnn_gates(l->type);
    const int64_t out_elems = T * N * D * K;
    double *x = NULL, *y = NULL, *scratch = NULL;
    int rc = -1;
    if (!p || !p->weights || !p->weights_iter || (D != 1 && D != 2) || L < 1 ||
        (L > 1 && C != D * K))
        return -1;
    x = malloc((size_t)(T * N * C) * sizeof *x);
    y = malloc((size_t)out_elems * sizeof *y);
    scratch = malloc((size_t)(G * K + 3 * K) * sizeof *scratch);
    if (!x || !y || !scratch)
        goto done;
    for (int64_t i = 0; i < T * N * C; i++)
        x[i] = in[i];
    for (int64_t layer = 0; layer < L; layer++) {
        for (int dir = 0; dir < D; dir++) {
            const int64_t ld = layer * D + dir;
            rnn_direction(l->type, T, N, C, K, D, dir, x, y, p->weights + ld * C * G * K,
                          p->weights_iter + ld * K * G * K, p->bias ? p->bias + ld * G * K : NULL,
                          scratch, scratch + G * K, scratch + G * K + K, scratch + G * K + 2 * K);
        }
        if (layer + 1 < L) {
            double *tmp = x;
            x = y;
            y = tmp;
        }
    }
    for (int64_t i = 0; i < out_elems; i++)
        out[i] = (float)y[i];
    rc = 0;
done:
    free(x);
    free(y);
    free(scratch);
    return rc;
}

int ref_forward(const cleave_layer *l, const float *const *src, const ref_params *p, float *dst)
{
    const int64_t nchw = l->n * l->c * l->h * l->w;
    switch (l->type) {
    case CLEAVE_LAYER_CONV: return ref_conv(l, src[0], p, dst);
    case CLEAVE_LAYER_DECONV: return ref_deconv(l, src[0], p, dst);
    case CLEAVE_LAYER_POOL: return ref_pool(l, src[0], dst);
    case CLEAVE_LAYER_FC: return ref_fc(l, src[0], p, dst);
    case CLEAVE_LAYER_BN: return ref_bn(l, src[0], p, dst);
    case CLEAVE_LAYER_ACT:
        for (int64_t i = 0; i < nchw; i++)
            dst[i] = (float)ref_act(l->kind, l->alpha, l->beta, src[0][i]);
        return 0;
    case CLEAVE_LAYER_LRN: return ref_lrn(l, src[0], dst);
    case CLEAVE_LAYER_DROPOUT: /* inference: identity */
    case CLEAVE_LAYER_RESHAPE: /* the same data under another shape */
        memcpy(dst, src[0], (size_t)nchw * sizeof *dst);
        return 0;
    case CLEAVE_LAYER_SOFTMAX: return ref_softmax(l, src[0], dst);
    case CLEAVE_LAYER_ARGMAX: return ref_argmax(l, src[0], dst);
    case CLEAVE_LAYER_LSTM:
    case CLEAVE_LAYER_GRU:
    case CLEAVE_LAYER_RNN: return ref_rnn(l, src[0], p, dst);
    case CLEAVE_LAYER_ADD:
        for (int64_t i = 0; i < nchw; i++)
            dst[i] = (float)((double)src[0][i] + src[1][i]);
        return 0;
    case CLEAVE_LAYER_MUL:
        for (int64_t i = 0; i < nchw; i++)
            dst[i] = (float)((double)src[0][i] * src[1][i]);
        return 0;
    case CLEAVE_LAYER_CONCAT: return ref_concat(l, src, dst);
    case CLEAVE_LAYER_PAD: return ref_pad(l, src[0], dst);
    case CLEAVE_LAYER_TRANSPOSE: return ref_transpose(l, src[0], dst);
    case CLEAVE_LAYER_SLICE: return ref_slice(l, src[0], dst);
    default: return -1;
    }
}
