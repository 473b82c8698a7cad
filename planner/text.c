/*
** planner/text.c - the text format for hand-written graphs (docs/graph-format.md): reading,
** with shapes inferred through the layer catalogue, and writing.
**
**   # comment
**   graph tiny
**   input x 1x3x32x32
**   node c1 conv k=16 kernel=3 pad=1 <- x
**   node r1 relu <- c1
**   node p gpool <- r1
**   node f flatten <- p
**   node fc fc k=10 <- f
**   output fc
**   exit final accuracy=0.7                         (early exits: docs/graph-format.md)
**
** A node's output tensor carries the node's name.  Inputs must be defined on earlier lines, so
** a text graph is in topological order by construction and cannot hold a cycle.
*/
#include "planner/graph.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/errmsg.h"

#define MAX_WORDS 64 /* per line: a node with 16 inputs and every key needs about 40 */
#define DIM_MAX ((int64_t)1 << 40)
#define WINDOW_MAX ((int64_t)1 << 31)

/* How a layer type's input shape is spelled: which keys, and how they are inferred. */
typedef enum shape_kind { SK_NCHW, SK_RNN, SK_CONCAT, SK_ELEMWISE } shape_kind;

static shape_kind kind_of_type(cleave_layer_type t)
{
    switch (t) {
    case CLEAVE_LAYER_LSTM:
    case CLEAVE_LAYER_GRU:
    case CLEAVE_LAYER_RNN: return SK_RNN;
    case CLEAVE_LAYER_CONCAT: return SK_CONCAT;
    case CLEAVE_LAYER_ADD:
    case CLEAVE_LAYER_MUL: return SK_ELEMWISE;
    default: return SK_NCHW;
    }
}

/* The kind for a type word as written (aliases like relu or maxpool are plain NCHW). */
static shape_kind kind_of_word(const char *word)
{
    int t = cleave_layer_type_from_name(word);
    return t >= 0 ? kind_of_type((cleave_layer_type)t) : SK_NCHW;
}

/* The shape keys a reader infers from the input tensors INS[0..NIN) of a layer of KIND, as
** text values: keys[i] = values[i] for i < return value.  Values are "" when nothing can be
** inferred (no inputs). */
typedef struct shape_keys {
    int count;
    const char *key[4];
    char value[4][CLEAVE_MAX_INPUTS * 16];
} shape_keys;

static void infer_keys(const plan_graph *g, const int *ins, int nin, shape_kind kind,
                       shape_keys *sk)
{
    memset(sk, 0, sizeof *sk);
    if (nin == 0)
        return;
    const cleave_shape *s0 = &g->tensors[ins[0]].shape;
    if (kind == SK_RNN) {
        static const char *k[3] = {"t", "n", "c"};
        sk->count = 3;
        for (int i = 0; i < 3; i++) {
            sk->key[i] = k[i];
            snprintf(sk->value[i], sizeof sk->value[i], "%lld", (long long)s0->d[i]);
        }
        return;
    }
    static const char *k[4] = {"n", "c", "h", "w"};
    sk->count = 4;
    for (int i = 0; i < 4; i++) {
        int64_t d = s0->d[i];
        if (kind == SK_ELEMWISE) /* broadcast: the largest extent */
            for (int j = 1; j < nin; j++)
                if (g->tensors[ins[j]].shape.d[i] > d)
                    d = g->tensors[ins[j]].shape.d[i];
        sk->key[i] = k[i];
        snprintf(sk->value[i], sizeof sk->value[i], "%lld", (long long)d);
    }
    if (kind == SK_CONCAT) {
        size_t len = 0;
        sk->value[1][0] = '\0';
        for (int j = 0; j < nin; j++) {
            int n = snprintf(sk->value[1] + len, sizeof sk->value[1] - len, "%s%lld", j ? "," : "",
                             (long long)g->tensors[ins[j]].shape.d[1]);
            if (n < 0 || (size_t)n >= sizeof sk->value[1] - len)
                break;
            len += (size_t)n;
        }
    }
}

/* Parse "1x3x224x224" (1 to 4 dimensions, each 1..2^40) into DIMS; returns the rank or -1. */
static int parse_dims(const char *s, int64_t *dims)
{
    int rank = 0;
    const char *p = s;
    for (;;) {
        char *end;
        if (*p < '0' || *p > '9' || rank == 4)
            return -1;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || v < 1 || v > DIM_MAX)
            return -1;
        dims[rank++] = v;
        if (*end == '\0')
            return rank;
        if (*end != 'x')
            return -1;
        p = end + 1;
    }
}

/* A name is writable when it is non-empty, has no whitespace, control character or '#', and
** is not the arrow. */
static int name_ok(const char *s)
{
    if (!s || !*s || strcmp(s, "<-") == 0)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == '#' || *s == 0x7f)
            return 0;
    return 1;
}

/* Layers whose output the graph checks by element count only, so that the output tensor may
** have another layout than the catalogue's (a MatMul over [B, T, K] is an fc whose output is
** [B, T, N], not N x K): the text gives such a shape with to=. */
static int to_allowed(cleave_layer_type t)
{
    return t == CLEAVE_LAYER_RESHAPE || t == CLEAVE_LAYER_FC || t == CLEAVE_LAYER_ARGMAX ||
           t == CLEAVE_LAYER_LSTM || t == CLEAVE_LAYER_GRU || t == CLEAVE_LAYER_RNN;
}

/* The output shape a reader gives a node of the valid layer L written as TYPE by default, into
** OD; returns its rank.  The catalogue's output shape, except reshape (the input's shape) and
** flatten (n x c*h*w); the rank is 2 for fc and flatten, 3 for recurrent layers, else IN_RANK
** (the first input's, 4 without input), raised to keep every dimension that is not one. */
static int default_output(const cleave_layer *l, const char *type, int in_rank, int64_t od[4])
{
    cleave_shape o = cleave_layer_output_shape(l);
    int rank = in_rank;
    memcpy(od, o.d, sizeof o.d);
    if (l->type == CLEAVE_LAYER_RESHAPE && !strcmp(type, "flatten")) {
        od[1] = l->c * l->h * l->w; /* a valid layer keeps this under 2^58 */
        od[2] = od[3] = 1;
        rank = 2;
    } else if (l->type == CLEAVE_LAYER_FC) {
        rank = 2;
    } else if (kind_of_type(l->type) == SK_RNN) {
        rank = 3;
    }
    for (int i = 3; i >= rank; i--)
        if (od[i] != 1)
            return i + 1;
    return rank;
}

/* Kernel, stride and dilation keys: their values are bounded by WINDOW_MAX, so that their
** pairwise products (kernel area, stride area among the static features) fit in 63 bits. */
static int window_key(const char *key, size_t len)
{
    static const char *const keys[] = {"kernel", "kh", "kw",       "size", "stride",
                                       "sh",     "sw", "dilation", "dh",   "dw"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strlen(keys[i]) == len && !strncmp(key, keys[i], len))
            return 1;
    return 0;
}

/* ---- reading ------------------------------------------------------------------------------- */

typedef struct reader {
    plan_graph *g;
    int line;
    char *err;
    size_t errlen;
    int named; /* a graph line was seen */
} reader;

static cleave_status line_err(reader *r, cleave_status rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static cleave_status line_err(reader *r, cleave_status rc, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cl_errf(r->err, r->errlen, "line %d: %s", r->line, msg);
    return rc;
}

/* A new name must not clash with a tensor or a node. */
static cleave_status fresh_name(reader *r, const char *name)
{
    if (!name_ok(name))
        return line_err(r, CLEAVE_EPARSE, "bad name '%s'", name);
    if (plan_graph_find_tensor(r->g, name) >= 0 || plan_graph_find_node(r->g, name) >= 0)
        return line_err(r, CLEAVE_EINVAL, "'%s' is already defined", name);
    return CLEAVE_OK;
}

static cleave_status do_input(reader *r, char **w, int nw)
{
    int64_t dims[4];
    cleave_status rc;
    int id;
    if (nw != 3)
        return line_err(r, CLEAVE_EPARSE,
                        "expected 'input NAME SHAPE', e.g. 'input x 1x3x224x224'");
    if ((rc = fresh_name(r, w[1])))
        return rc;
    int rank = parse_dims(w[2], dims);
    if (rank < 0)
        return line_err(r, CLEAVE_EPARSE,
                        "bad shape '%s' (1 to 4 dimensions like 1x3x224x224, each 1 to 2^40)",
                        w[2]);
    if ((rc = plan_graph_add_tensor(r->g, w[1], dims, rank, &id, r->err, r->errlen)) ||
        (rc = plan_graph_add_input(r->g, id, r->err, r->errlen)))
        return rc == CLEAVE_ENOMEM ? rc : line_err(r, rc, "cannot add input '%s'", w[1]);
    return CLEAVE_OK;
}

static cleave_status do_output(reader *r, char **w, int nw)
{
    if (nw < 2)
        return line_err(r, CLEAVE_EPARSE, "expected 'output NAME ...'");
    for (int i = 1; i < nw; i++) {
        int t = plan_graph_find_tensor(r->g, w[i]);
        if (t < 0)
            return line_err(r, CLEAVE_EINVAL, "output '%s' is not defined", w[i]);
        if (r->g->tensors[t].is_output)
            return line_err(r, CLEAVE_EINVAL, "output '%s' is declared twice", w[i]);
        cleave_status rc = plan_graph_add_output(r->g, t, r->err, r->errlen);
        if (rc)
            return rc;
    }
    return CLEAVE_OK;
}

/* Append " KEY=VALUE" or " TOKEN" to the spec being built; -1 when it does not fit. */
static int spec_add(char *spec, size_t cap, const char *a, const char *b)
{
    size_t len = strlen(spec);
    int n = snprintf(spec + len, cap - len, b ? " %s=%s" : " %s", a, b);
    return n < 0 || (size_t)n >= cap - len ? -1 : 0;
}

/* node NAME TYPE [key=value ...] [<- INPUT ...] */
static cleave_status do_node(reader *r, char **w, int nw)
{
    cleave_status rc;
    char spec[1024], msg[256];
    const char *op = NULL, *to = NULL;
    unsigned flags = 0;
    int ins[PLAN_MAX_NODE_INPUTS], nin = 0, arrow = -1;
    int given[4] = {0, 0, 0, 0};
    if (nw < 3)
        return line_err(r, CLEAVE_EPARSE,
                        "expected 'node NAME TYPE [key=value ...] [<- INPUT ...]'");
    const char *name = w[1], *type = w[2];
    if ((rc = fresh_name(r, name)))
        return rc;
    if (strcmp(type, "<-") == 0 || strchr(type, '='))
        return line_err(r, CLEAVE_EPARSE, "node '%s': the layer type is missing", name);
    for (int i = 3; i < nw; i++)
        if (strcmp(w[i], "<-") == 0) {
            arrow = i;
            break;
        }
    if (arrow >= 0) {
        for (int i = arrow + 1; i < nw; i++) {
            int t = plan_graph_find_tensor(r->g, w[i]);
            if (t < 0)
                return line_err(r, CLEAVE_EINVAL, "node '%s': input '%s' is not defined", name,
                                w[i]);
            if (nin == PLAN_MAX_NODE_INPUTS)
                return line_err(r, CLEAVE_EINVAL, "node '%s': more than %d inputs", name,
                                PLAN_MAX_NODE_INPUTS);
            ins[nin++] = t;
        }
        if (nin == 0)
            return line_err(r, CLEAVE_EPARSE, "node '%s': no input after '<-'", name);
    }

    /* Node keys (op, to, const, unknown) are the reader's; the rest go to the layer parser. */
    shape_kind kind = kind_of_word(type);
    static const char *shape_names[2][4] = {{"n", "c", "h", "w"}, {"t", "n", "c", NULL}};
    const char *const *sn = shape_names[kind == SK_RNN];
    snprintf(spec, sizeof spec, "%s", type);
    int kend = arrow >= 0 ? arrow : nw;
    for (int i = 3; i < kend; i++) {
        char *eq = strchr(w[i], '=');
        if (!eq || eq == w[i])
            return line_err(r, CLEAVE_EPARSE, "node '%s': expected key=value, got '%s'", name,
                            w[i]);
        size_t klen = (size_t)(eq - w[i]);
        const char *val = eq + 1;
        if (klen == 2 && !strncmp(w[i], "op", 2)) {
            if (op || !name_ok(val))
                return line_err(r, CLEAVE_EPARSE, "node '%s': bad or repeated 'op'", name);
            op = val;
            continue;
        }
        if (klen == 2 && !strncmp(w[i], "to", 2)) {
            if (to)
                return line_err(r, CLEAVE_EPARSE, "node '%s': key 'to' given twice", name);
            to = val;
            continue;
        }
        if ((klen == 5 && !strncmp(w[i], "const", 5)) ||
            (klen == 7 && !strncmp(w[i], "unknown", 7))) {
            if (strcmp(val, "0") && strcmp(val, "1"))
                return line_err(r, CLEAVE_EPARSE, "node '%s': '%.*s' must be 0 or 1", name,
                                (int)klen, w[i]);
            if (val[0] == '1')
                flags |= klen == 5 ? PLAN_NODE_CONST : PLAN_NODE_UNKNOWN;
            continue;
        }
        for (int k = 0; k < 4; k++)
            if (sn[k] && strlen(sn[k]) == klen && !strncmp(w[i], sn[k], klen))
                given[k] = 1;
        if (window_key(w[i], klen) && (val[0] == '-' ? 0 : strtoull(val, NULL, 10)) > WINDOW_MAX)
            return line_err(r, CLEAVE_EINVAL, "node '%s': value of '%.*s' is larger than %lld",
                            name, (int)klen, w[i], (long long)WINDOW_MAX);
        if (spec_add(spec, sizeof spec, w[i], NULL))
            return line_err(r, CLEAVE_EPARSE, "node '%s': layer spec too long", name);
    }
    /* Shape keys not given are inferred from the inputs. */
    shape_keys sk;
    infer_keys(r->g, ins, nin, kind, &sk);
    for (int k = 0; k < sk.count; k++)
        if (!given[k] && spec_add(spec, sizeof spec, sk.key[k], sk.value[k]))
            return line_err(r, CLEAVE_EPARSE, "node '%s': layer spec too long", name);
    cleave_layer l;
    rc = cleave_layer_parse(&l, spec, msg, sizeof msg);
    if (rc != CLEAVE_OK)
        return line_err(r, rc, "node '%s': %s", name, msg);

    /* The output shape: given with to= where the layer allows it, else the default. */
    int64_t od[4];
    int orank = default_output(&l, type, nin ? r->g->tensors[ins[0]].rank : 4, od);
    if (to) {
        if (!to_allowed(l.type))
            return line_err(r, CLEAVE_EPARSE,
                            "node '%s': 'to' is only for reshape, flatten, fc, argmax and "
                            "recurrent layers",
                            name);
        od[0] = od[1] = od[2] = od[3] = 1;
        orank = parse_dims(to, od);
        if (orank < 0)
            return line_err(r, CLEAVE_EPARSE, "node '%s': bad shape '%s'", name, to);
    }
    int out;
    if ((rc = plan_graph_add_tensor(r->g, name, od, orank, &out, r->err, r->errlen)))
        return rc == CLEAVE_ENOMEM ? rc : line_err(r, rc, "node '%s': bad output", name);
    rc = plan_graph_add_node(r->g, name, op ? op : type, &l, ins, nin, out, flags, NULL, msg,
                             sizeof msg);
    if (rc)
        return rc == CLEAVE_ENOMEM ? rc : line_err(r, rc, "%s", msg);
    return CLEAVE_OK;
}

/* exit NAME accuracy=A [from=NODE layers=L1,L2,...] */
static cleave_status do_exit(reader *r, char **w, int nw)
{
    char spec[2048] = "", msg[400];
    if (nw < 3)
        return line_err(r, CLEAVE_EPARSE,
                        "expected 'exit NAME accuracy=A [from=NODE layers=L1,L2,...]'");
    for (int i = 2; i < nw; i++)
        if (spec_add(spec, sizeof spec, w[i], NULL))
            return line_err(r, CLEAVE_EPARSE, "exit '%s': line too long", w[1]);
    if (!name_ok(w[1]))
        return line_err(r, CLEAVE_EPARSE, "bad name '%s'", w[1]);
    cleave_status rc = plan_graph_add_exit_spec(r->g, w[1], spec, msg, sizeof msg);
    if (rc)
        return rc == CLEAVE_ENOMEM ? rc : line_err(r, rc, "%s", msg);
    return CLEAVE_OK;
}

static cleave_status do_line(reader *r, char *line)
{
    char *w[MAX_WORDS];
    int nw = 0;
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    for (char *save = NULL, *tok = strtok_r(line, " \t\r\f\v", &save); tok;
         tok = strtok_r(NULL, " \t\r\f\v", &save)) {
        if (nw == MAX_WORDS)
            return line_err(r, CLEAVE_EPARSE, "more than %d words", MAX_WORDS);
        w[nw++] = tok;
    }
    if (nw == 0)
        return CLEAVE_OK;
    if (!strcmp(w[0], "node"))
        return do_node(r, w, nw);
    if (!strcmp(w[0], "input"))
        return do_input(r, w, nw);
    if (!strcmp(w[0], "output"))
        return do_output(r, w, nw);
    if (!strcmp(w[0], "exit"))
        return do_exit(r, w, nw);
    if (!strcmp(w[0], "graph")) {
        if (nw != 2 || r->named)
            return line_err(r, CLEAVE_EPARSE, "expected one 'graph NAME' line");
        char *copy = strdup(w[1]);
        if (!copy)
            return CLEAVE_ENOMEM;
        free(r->g->name);
        r->g->name = copy;
        r->named = 1;
        return CLEAVE_OK;
    }
    return line_err(r, CLEAVE_EPARSE, "unknown directive '%s' (graph, input, node, output, exit)",
                    w[0]);
}

cleave_status plan_text_read(plan_graph **out, const char *text, size_t len, char *err,
                             size_t errlen)
{
    cleave_status rc;
    char *buf = NULL;
    reader r = {NULL, 0, err, errlen, 0};
    *out = NULL;
    cl_errf(err, errlen, "%s", "");
    if (!text && len) {
        cl_errf(err, errlen, "no text given");
        return CLEAVE_EINVAL;
    }
    if ((rc = plan_graph_create(&r.g, NULL)) != CLEAVE_OK)
        goto done;
    size_t pos = 0, cap = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - (text + pos)) : len - pos;
        r.line++;
        if (llen + 1 > cap) { /* names have no length limit, so neither have lines */
            free(buf);
            cap = llen + 1 > 256 ? llen + 1 : 256;
            buf = malloc(cap);
            if (!buf) {
                rc = CLEAVE_ENOMEM;
                goto done;
            }
        }
        if (memchr(text + pos, '\0', llen)) {
            rc = line_err(&r, CLEAVE_EPARSE, "NUL byte");
            goto done;
        }
        memcpy(buf, text + pos, llen);
        buf[llen] = '\0';
        if ((rc = do_line(&r, buf)) != CLEAVE_OK)
            goto done;
        pos += llen + (nl ? 1 : 0);
    }
    rc = plan_graph_finish(r.g, err, errlen);
done:
    if (rc == CLEAVE_ENOMEM)
        cl_errf(err, errlen, "out of memory");
    if (rc == CLEAVE_OK) {
        *out = r.g;
        r.g = NULL;
    }
    plan_graph_destroy(r.g);
    free(buf);
    return rc;
}

cleave_status plan_text_load(plan_graph **out, const char *path, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t cap = 1 << 14, len = 0;
    cleave_status rc;
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        cl_errf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return CLEAVE_EIO;
    }
    buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        char *nb = cap < ((size_t)1 << 30) ? realloc(buf, cap * 2) : NULL;
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) {
        cl_errf(err, errlen, "cannot read '%s': out of memory", path);
        return CLEAVE_ENOMEM;
    }
    if (bad) {
        free(buf);
        cl_errf(err, errlen, "cannot read '%s': I/O error", path);
        return CLEAVE_EIO;
    }
    rc = plan_text_read(out, buf, len, err, errlen);
    free(buf);
    if (rc != CLEAVE_OK && err && errlen) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s", err);
        cl_errf(err, errlen, "'%s': %s", path, tmp);
    }
    return rc;
}

/* ---- writing ------------------------------------------------------------------------------- */

/* Write the dims of tensor T ("1x3x224x224", its declared rank). */
static void put_dims(FILE *f, const plan_tensor *t)
{
    for (int i = 0; i < t->rank; i++)
        fprintf(f, "%s%lld", i ? "x" : "", (long long)t->shape.d[i]);
}

/* One node line: the layer's canonical text without the shape keys a reader would infer, the
** reader's node keys where they differ from its defaults, and the inputs. */
static cleave_status put_node(FILE *f, const plan_graph *g, const plan_node *n, char *err,
                              size_t errlen)
{
    char spec[2048];
    const plan_tensor *o = &g->tensors[n->output];
    if (cleave_layer_format(&n->layer, spec, sizeof spec) < 0 || strlen(spec) >= sizeof spec - 1) {
        cl_errf(err, errlen, "node '%s': cannot format its layer", n->name);
        return CLEAVE_EINVAL;
    }
    if (!name_ok(n->op)) {
        cl_errf(err, errlen, "node '%s': op '%s' cannot be written in the text format", n->name,
                n->op);
        return CLEAVE_EINVAL;
    }
    shape_keys sk;
    infer_keys(g, n->inputs, n->ninputs, kind_of_type(n->layer.type), &sk);
    fprintf(f, "node %s", o->name);
    char *save = NULL, *tok = strtok_r(spec, " ", &save);
    const char *type = tok;
    fprintf(f, " %s", tok);
    while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
        int skip = 0;
        char *eq = strchr(tok, '=');
        for (int k = 0; eq && k < sk.count; k++)
            if ((size_t)(eq - tok) == strlen(sk.key[k]) &&
                !strncmp(tok, sk.key[k], strlen(sk.key[k])) && !strcmp(eq + 1, sk.value[k]))
                skip = 1;
        if (!skip)
            fprintf(f, " %s", tok);
    }
    if (to_allowed(n->layer.type)) {
        int64_t od[4];
        int rank =
            default_output(&n->layer, type, n->ninputs ? g->tensors[n->inputs[0]].rank : 4, od);
        if (rank != o->rank || memcmp(od, o->shape.d, sizeof od) != 0) {
            fprintf(f, " to=");
            put_dims(f, o);
        }
    }
    if (strcmp(n->op, type) != 0)
        fprintf(f, " op=%s", n->op);
    if ((n->flags & PLAN_NODE_CONST) && n->ninputs > 0)
        fprintf(f, " const=1");
    if (n->flags & PLAN_NODE_UNKNOWN)
        fprintf(f, " unknown=1");
    if (n->ninputs > 0) {
        fprintf(f, " <-");
        for (int i = 0; i < n->ninputs; i++)
            fprintf(f, " %s", g->tensors[n->inputs[i]].name);
    }
    fprintf(f, "\n");
    return CLEAVE_OK;
}

cleave_status plan_text_write(const plan_graph *g, FILE *f, char *err, size_t errlen)
{
    cleave_status rc;
    if (!g || !g->finished) {
        cl_errf(err, errlen, "graph is not finished");
        return CLEAVE_EINVAL;
    }
    for (int t = 0; t < g->ntensors; t++) {
        if (!name_ok(g->tensors[t].name)) {
            cl_errf(err, errlen, "tensor name '%s' cannot be written in the text format",
                    g->tensors[t].name);
            return CLEAVE_EINVAL;
        }
    }
    for (int x = 0; x < g->nexits; x++) {
        const plan_exit *e = &g->exits[x];
        int bad = !name_ok(e->name) ? -2 : -1;
        for (int i = -1; bad == -1 && i < e->nlayers && e->from >= 0; i++) {
            const char *t = g->tensors[g->nodes[i < 0 ? e->from : e->layers[i]].output].name;
            if (strchr(t, ',') || strchr(t, '='))
                bad = i < 0 ? e->from : e->layers[i];
        }
        if (bad != -1) {
            cl_errf(err, errlen, "exit '%s': %s%s%s cannot be written in the text format", e->name,
                    bad == -2 ? "its name" : "node '", bad == -2 ? "" : g->nodes[bad].name,
                    bad == -2 ? "" : "'");
            return CLEAVE_EINVAL;
        }
    }
    if (g->name[0] && !name_ok(g->name)) {
        cl_errf(err, errlen, "graph name '%s' cannot be written in the text format", g->name);
        return CLEAVE_EINVAL;
    }
    fprintf(f, "# cleave graph, text format (docs/graph-format.md)\n");
    if (g->name[0])
        fprintf(f, "graph %s\n", g->name);
    for (int i = 0; i < g->ninputs; i++) {
        const plan_tensor *t = &g->tensors[g->inputs[i]];
        fprintf(f, "input %s ", t->name);
        put_dims(f, t);
        fprintf(f, "\n");
    }
    for (int k = 0; k < g->nnodes; k++)
        if ((rc = put_node(f, g, &g->nodes[g->order[k]], err, errlen)) != CLEAVE_OK)
            return rc;
    for (int i = 0; i < g->noutputs; i++) /* 16 names a line keeps lines short */
        fprintf(f, "%s%s%s", i % 16 ? " " : "output ", g->tensors[g->outputs[i]].name,
                i % 16 == 15 || i == g->noutputs - 1 ? "\n" : "");
    for (int x = 0; x < g->nexits; x++) {
        const plan_exit *e = &g->exits[x];
        char acc[32]; /* the shortest of %.15g and %.17g that reads back the same */
        snprintf(acc, sizeof acc, "%.15g", e->accuracy);
        if (strtod(acc, NULL) != e->accuracy)
            snprintf(acc, sizeof acc, "%.17g", e->accuracy);
        fprintf(f, "exit %s accuracy=%s", e->name, acc);
        if (e->from >= 0) {
            fprintf(f, " from=%s layers=", g->tensors[g->nodes[e->from].output].name);
            for (int i = 0; i < e->nlayers; i++)
                fprintf(f, "%s%s", i ? "," : "", g->tensors[g->nodes[e->layers[i]].output].name);
        }
        fprintf(f, "\n");
    }
    if (fflush(f) != 0 || ferror(f)) {
        cl_errf(err, errlen, "cannot write the graph: %s", strerror(errno));
        return CLEAVE_EIO;
    }
    return CLEAVE_OK;
}
