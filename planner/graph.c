/*
** planner/graph.c - the planner's DNN graph: building, validation, topological order, op
** statistics and the translation into a plan_problem.
*/
#include "planner/graph.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/errmsg.h"

/* Limits as the catalogue's (common/layer.c): a dimension up to 2^40, a tensor up to 2^58
** elements, so that byte counts (4 per element) and sums of a few of them fit in 63 bits. */
#define DIM_MAX ((int64_t)1 << 40)
#define ELEMS_MAX ((int64_t)1 << 58)

/* ---- name index --------------------------------------------------------------------------- */

struct plan_names {
    const char **keys; /* cap slots, NULL = empty */
    int *ids;
    size_t cap, count;
};

/* FNV-1a (Fowler, Noll, Vo): a simple, well-spread hash for short identifiers. */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

plan_names *plan_names_create(void)
{
    plan_names *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = 64;
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->ids = calloc(m->cap, sizeof *m->ids);
    if (!m->keys || !m->ids) {
        plan_names_destroy(m);
        return NULL;
    }
    return m;
}

void plan_names_destroy(plan_names *m)
{
    if (!m)
        return;
    free(m->keys);
    free(m->ids);
    free(m);
}

/* The slot holding KEY, or the empty slot where it would go (linear probing). */
static size_t names_slot(const plan_names *m, const char *key)
{
    size_t i = (size_t)hash_str(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

int plan_names_get(const plan_names *m, const char *key)
{
    if (!m || !key)
        return -1;
    size_t i = names_slot(m, key);
    return m->keys[i] ? m->ids[i] : -1;
}

int plan_names_put(plan_names *m, const char *key, int id)
{
    if ((m->count + 1) * 2 > m->cap) { /* keep the load under one half */
        size_t ncap = m->cap * 2;
        const char **nk = calloc(ncap, sizeof *nk);
        int *ni = calloc(ncap, sizeof *ni);
        if (!nk || !ni) {
            free(nk);
            free(ni);
            return -1;
        }
        plan_names old = *m;
        m->keys = nk;
        m->ids = ni;
        m->cap = ncap;
        for (size_t i = 0; i < old.cap; i++) {
            if (old.keys[i]) {
                size_t j = names_slot(m, old.keys[i]);
                m->keys[j] = old.keys[i];
                m->ids[j] = old.ids[i];
            }
        }
        free(old.keys);
        free(old.ids);
    }
    size_t i = names_slot(m, key);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->count++;
    }
    m->ids[i] = id;
    return 0;
}

/* ---- building ------------------------------------------------------------------------------ */

/* Grow *ARR (of ELEM-byte items, capacity *CAP) to hold at least NEED items; 0 or -1. */
static int grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > (1 << 29))
            return -1;
        ncap *= 2;
    }
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

cleave_status plan_graph_create(plan_graph **out, const char *name)
{
    plan_graph *g = calloc(1, sizeof *g);
    *out = NULL;
    if (!g)
        return CLEAVE_ENOMEM;
    g->name = strdup(name ? name : "");
    g->tensor_index = plan_names_create();
    g->node_index = plan_names_create();
    if (!g->name || !g->tensor_index || !g->node_index) {
        plan_graph_destroy(g);
        return CLEAVE_ENOMEM;
    }
    *out = g;
    return CLEAVE_OK;
}

void plan_graph_destroy(plan_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->nnodes; i++) {
        free(g->nodes[i].name);
        free(g->nodes[i].op);
        free(g->nodes[i].inputs);
    }
    for (int i = 0; i < g->ntensors; i++)
        free(g->tensors[i].name);
    for (int i = 0; i < g->nexits; i++) {
        free(g->exits[i].name);
        free(g->exits[i].layers);
    }
    free(g->exits);
    free(g->nodes);
    free(g->tensors);
    free(g->inputs);
    free(g->outputs);
    free(g->order);
    free(g->rank_of);
    free(g->cons_all);
    plan_names_destroy(g->tensor_index);
    plan_names_destroy(g->node_index);
    free(g->name);
    free(g);
}

int plan_graph_find_tensor(const plan_graph *g, const char *name)
{
    return plan_names_get(g->tensor_index, name);
}

int plan_graph_find_node(const plan_graph *g, const char *name)
{
    return plan_names_get(g->node_index, name);
}

/* 4 bytes per element, or -1 when a dimension is not in [1, DIM_MAX] or the count overflows. */
static int64_t shape_bytes(const cleave_shape *s)
{
    int64_t e = 1;
    for (int i = 0; i < 4; i++) {
        if (s->d[i] < 1 || s->d[i] > DIM_MAX || __builtin_mul_overflow(e, s->d[i], &e) ||
            e > ELEMS_MAX)
            return -1;
    }
    return 4 * e;
}

cleave_status plan_graph_add_tensor(plan_graph *g, const char *name, const int64_t *dims, int rank,
                                    int *id, char *err, size_t errlen)
{
    if (!name) {
        cl_errf(err, errlen, "tensor without a name");
        return CLEAVE_EINVAL;
    }
    if (rank < 1 || rank > 4) {
        cl_errf(err, errlen, "tensor '%s' has rank %d; 1 to 4 dimensions are supported", name,
                rank);
        return CLEAVE_EINVAL;
    }
    if (plan_graph_find_tensor(g, name) >= 0) {
        cl_errf(err, errlen, "tensor '%s' is defined twice", name);
        return CLEAVE_EINVAL;
    }
    if (grow((void **)&g->tensors, &g->tensor_cap, g->ntensors + 1, sizeof *g->tensors))
        return CLEAVE_ENOMEM;
    plan_tensor *t = &g->tensors[g->ntensors];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name)
        return CLEAVE_ENOMEM;
    if (plan_names_put(g->tensor_index, t->name, g->ntensors) != 0) {
        free(t->name);
        return CLEAVE_ENOMEM;
    }
    for (int i = 0; i < 4; i++)
        t->shape.d[i] = i < rank ? dims[i] : 1;
    t->rank = rank;
    t->bytes = shape_bytes(&t->shape);
    t->producer = -1;
    if (id)
        *id = g->ntensors;
    g->ntensors++;
    g->finished = 0;
    return CLEAVE_OK;
}

cleave_status plan_graph_add_input(plan_graph *g, int tensor, char *err, size_t errlen)
{
    if (tensor < 0 || tensor >= g->ntensors) {
        cl_errf(err, errlen, "no tensor %d", tensor);
        return CLEAVE_EINVAL;
    }
    plan_tensor *t = &g->tensors[tensor];
    if (t->is_input) {
        cl_errf(err, errlen, "input '%s' is declared twice", t->name);
        return CLEAVE_EINVAL;
    }
    if (t->producer >= 0) {
        cl_errf(err, errlen, "tensor '%s' is written by node '%s' and cannot be a network input",
                t->name, g->nodes[t->producer].name);
        return CLEAVE_EINVAL;
    }
    if (grow((void **)&g->inputs, &g->input_cap, g->ninputs + 1, sizeof *g->inputs))
        return CLEAVE_ENOMEM;
    g->inputs[g->ninputs++] = tensor;
    t->is_input = 1;
    g->finished = 0;
    return CLEAVE_OK;
}

cleave_status plan_graph_add_output(plan_graph *g, int tensor, char *err, size_t errlen)
{
    if (tensor < 0 || tensor >= g->ntensors) {
        cl_errf(err, errlen, "no tensor %d", tensor);
        return CLEAVE_EINVAL;
    }
    plan_tensor *t = &g->tensors[tensor];
    if (t->is_output) {
        cl_errf(err, errlen, "output '%s' is declared twice", t->name);
        return CLEAVE_EINVAL;
    }
    if (grow((void **)&g->outputs, &g->output_cap, g->noutputs + 1, sizeof *g->outputs))
        return CLEAVE_ENOMEM;
    g->outputs[g->noutputs++] = tensor;
    t->is_output = 1;
    g->finished = 0;
    return CLEAVE_OK;
}

cleave_status plan_graph_add_node(plan_graph *g, const char *name, const char *op,
                                  const cleave_layer *layer, const int *inputs, int ninputs,
                                  int output, unsigned flags, int *id, char *err, size_t errlen)
{
    if (!name || !layer) {
        cl_errf(err, errlen, "node without a name or a layer");
        return CLEAVE_EINVAL;
    }
    if (plan_graph_find_node(g, name) >= 0) {
        cl_errf(err, errlen, "node '%s' is defined twice", name);
        return CLEAVE_EINVAL;
    }
    if (ninputs < 0 || ninputs > PLAN_MAX_NODE_INPUTS || (ninputs > 0 && !inputs)) {
        cl_errf(err, errlen, "node '%s' has %d inputs; at most %d are supported", name, ninputs,
                PLAN_MAX_NODE_INPUTS);
        return CLEAVE_EINVAL;
    }
    for (int i = 0; i < ninputs; i++) {
        if (inputs[i] < 0 || inputs[i] >= g->ntensors) {
            cl_errf(err, errlen, "node '%s': no tensor %d", name, inputs[i]);
            return CLEAVE_EINVAL;
        }
    }
    if (output < 0 || output >= g->ntensors) {
        cl_errf(err, errlen, "node '%s': no tensor %d", name, output);
        return CLEAVE_EINVAL;
    }
    plan_tensor *t = &g->tensors[output];
    if (t->producer >= 0) {
        cl_errf(err, errlen, "tensor '%s' is written by both '%s' and '%s'", t->name,
                g->nodes[t->producer].name, name);
        return CLEAVE_EINVAL;
    }
    if (t->is_input) {
        cl_errf(err, errlen, "node '%s' writes the network input '%s'", name, t->name);
        return CLEAVE_EINVAL;
    }
    if (grow((void **)&g->nodes, &g->node_cap, g->nnodes + 1, sizeof *g->nodes))
        return CLEAVE_ENOMEM;
    plan_node *n = &g->nodes[g->nnodes];
    memset(n, 0, sizeof *n);
    n->name = strdup(name);
    if (!op)
        op = cleave_layer_type_name(layer->type) ? cleave_layer_type_name(layer->type) : "?";
    n->op = strdup(op);
    n->inputs = malloc(sizeof *n->inputs * (size_t)(ninputs ? ninputs : 1));
    if (!n->name || !n->op || !n->inputs || plan_names_put(g->node_index, n->name, g->nnodes)) {
        free(n->name);
        free(n->op);
        free(n->inputs);
        return CLEAVE_ENOMEM;
    }
    if (ninputs > 0)
        memcpy(n->inputs, inputs, sizeof *n->inputs * (size_t)ninputs);
    n->ninputs = ninputs;
    n->output = output;
    n->layer = *layer;
    n->flags = flags;
    if (layer->type == CLEAVE_LAYER_RESHAPE)
        n->flags |= PLAN_NODE_ZERO_COST;
    if (ninputs == 0)
        n->flags |= PLAN_NODE_CONST;
    t->producer = g->nnodes;
    if (id)
        *id = g->nnodes;
    g->nnodes++;
    g->finished = 0;
    return CLEAVE_OK;
}

/* ---- exits ------------------------------------------------------------------------------- */

int plan_graph_find_exit(const plan_graph *g, const char *name)
{
    for (int i = 0; i < g->nexits; i++)
        if (strcmp(g->exits[i].name, name) == 0)
            return i;
    return -1;
}

cleave_status plan_graph_add_exit(plan_graph *g, const char *name, int from, const int *layers,
                                  int nlayers, double accuracy, char *err, size_t errlen)
{
    if (!name || !*name) {
        cl_errf(err, errlen, "an exit needs a name");
        return CLEAVE_EINVAL;
    }
    if (plan_graph_find_exit(g, name) >= 0) {
        cl_errf(err, errlen, "exit '%s' is declared twice", name);
        return CLEAVE_EINVAL;
    }
    if (!(accuracy >= 0.0 && accuracy <= 1.0)) {
        cl_errf(err, errlen, "exit '%s': accuracy %g is outside [0, 1]", name, accuracy);
        return CLEAVE_EINVAL;
    }
    if (from < -1 || from >= g->nnodes || nlayers < 0 || (nlayers > 0 && !layers)) {
        cl_errf(err, errlen, "exit '%s': bad node id", name);
        return CLEAVE_EINVAL;
    }
    if (from < 0 && nlayers > 0) {
        cl_errf(err, errlen, "exit '%s': layers without a 'from' node", name);
        return CLEAVE_EINVAL;
    }
    if (from >= 0 && nlayers == 0) {
        cl_errf(err, errlen, "exit '%s' has no layers", name);
        return CLEAVE_EINVAL;
    }
    for (int i = 0; i < g->nexits && from < 0; i++)
        if (g->exits[i].from < 0) {
            cl_errf(err, errlen, "exits '%s' and '%s' are both the main exit", g->exits[i].name,
                    name);
            return CLEAVE_EINVAL;
        }
    for (int i = 0; i < nlayers; i++) {
        if (layers[i] < 0 || layers[i] >= g->nnodes) {
            cl_errf(err, errlen, "exit '%s': bad node id", name);
            return CLEAVE_EINVAL;
        }
        for (int j = 0; j < i; j++)
            if (layers[j] == layers[i]) {
                cl_errf(err, errlen, "exit '%s': layer '%s' is listed twice", name,
                        g->nodes[layers[i]].name);
                return CLEAVE_EINVAL;
            }
    }
    if (grow((void **)&g->exits, &g->exit_cap, g->nexits + 1, sizeof *g->exits))
        return CLEAVE_ENOMEM;
    plan_exit *e = &g->exits[g->nexits];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    e->layers = malloc(sizeof *e->layers * (size_t)(nlayers ? nlayers : 1));
    if (!e->name || !e->layers) {
        free(e->name);
        free(e->layers);
        return CLEAVE_ENOMEM;
    }
    if (nlayers)
        memcpy(e->layers, layers, sizeof *e->layers * (size_t)nlayers);
    e->from = from;
    e->nlayers = nlayers;
    e->output = -1;
    e->accuracy = accuracy;
    g->nexits++;
    g->finished = 0;
    return CLEAVE_OK;
}

/* A node named NAME, or else the producer of the tensor named NAME (ONNX users know tensor
** names better than node names); -1 if neither. */
static int node_or_producer(const plan_graph *g, const char *name)
{
    int v = plan_graph_find_node(g, name);
    if (v >= 0)
        return v;
    int t = plan_graph_find_tensor(g, name);
    return t >= 0 ? g->tensors[t].producer : -1;
}

cleave_status plan_graph_add_exit_spec(plan_graph *g, const char *name, const char *spec, char *err,
                                       size_t errlen)
{
    char *buf = strdup(spec ? spec : ""), *acc = NULL, *from = NULL, *layers = NULL;
    int *ids = NULL, nids = 0, from_id = -1;
    cleave_status rc = CLEAVE_EINVAL;
    if (!buf)
        return CLEAVE_ENOMEM;
    for (char *save = NULL, *tok = strtok_r(buf, " \t\r\n", &save); tok;
         tok = strtok_r(NULL, " \t\r\n", &save)) {
        char *eq = strchr(tok, '='), **slot = NULL;
        if (eq) {
            *eq = '\0';
            slot = !strcmp(tok, "accuracy") ? &acc
                   : !strcmp(tok, "from")   ? &from
                   : !strcmp(tok, "layers") ? &layers
                                            : NULL;
        }
        if (!slot) {
            cl_errf(err, errlen, "exit '%s': %s '%s' (accuracy=A [from=NODE layers=L1,L2,...])",
                    name, eq ? "unknown key" : "expected key=value, got", tok);
            goto done;
        }
        if (*slot) {
            cl_errf(err, errlen, "exit '%s': key '%s' given twice", name, tok);
            goto done;
        }
        *slot = eq + 1;
    }
    if (!acc) {
        cl_errf(err, errlen, "exit '%s': accuracy is missing", name);
        goto done;
    }
    char *end;
    double a = strtod(acc, &end);
    if (end == acc || *end) {
        cl_errf(err, errlen, "exit '%s': accuracy '%s' is not a number", name, acc);
        goto done;
    }
    if (!from != !layers) {
        cl_errf(err, errlen,
                "exit '%s': 'from' and 'layers' go together (a branch exit) or not "
                "at all (the main exit)",
                name);
        goto done;
    }
    if (from && (from_id = node_or_producer(g, from)) < 0) {
        cl_errf(err, errlen, "exit '%s': 'from' node '%s' is not defined", name, from);
        goto done;
    }
    if (layers) {
        size_t count = 1;
        for (const char *c = layers; *c; c++)
            count += *c == ',';
        if (!(ids = malloc(sizeof *ids * count))) {
            rc = CLEAVE_ENOMEM;
            goto done;
        }
        for (char *save = NULL, *tok = strtok_r(layers, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            if ((ids[nids++] = node_or_producer(g, tok)) < 0) {
                cl_errf(err, errlen, "exit '%s': layer '%s' is not defined", name, tok);
                goto done;
            }
        }
    }
    rc = plan_graph_add_exit(g, name, from_id, ids, nids, a, err, errlen);
done:
    if (rc == CLEAVE_ENOMEM)
        cl_errf(err, errlen, "out of memory");
    free(ids);
    free(buf);
    return rc;
}

/* Check the declared exits of G (consumers linked) and set each branch's output tensor; the
** messages are listed at plan_graph_finish() in graph.h.  OWNER[v] is scratch of nnodes ints. */
static cleave_status check_exits(plan_graph *g, int *owner, char *err, size_t errlen)
{
    int main_exit = -1;
    for (int v = 0; v < g->nnodes; v++)
        owner[v] = -1;
    for (int x = 0; x < g->nexits; x++) {
        const plan_exit *e = &g->exits[x];
        if (e->from < 0)
            main_exit = x;
        for (int i = 0; i < e->nlayers; i++) {
            int v = e->layers[i];
            if (owner[v] >= 0) {
                cl_errf(err, errlen, "exit '%s': layer '%s' is also in exit '%s'", e->name,
                        g->nodes[v].name, g->exits[owner[v]].name);
                return CLEAVE_EINVAL;
            }
            owner[v] = x;
        }
    }
    for (int x = 0; x < g->nexits; x++) {
        plan_exit *e = &g->exits[x];
        if (e->from < 0)
            continue;
        const plan_node *from = &g->nodes[e->from];
        if (owner[e->from] >= 0) {
            cl_errf(err, errlen,
                    "exit '%s': 'from' node '%s' is not on the main path (it is a layer of exit "
                    "'%s')",
                    e->name, from->name, g->exits[owner[e->from]].name);
            return CLEAVE_EINVAL;
        }
        int attached = 0, last = -1, nlast = 0;
        for (int i = 0; i < e->nlayers; i++) {
            const plan_node *n = &g->nodes[e->layers[i]];
            for (int k = 0; k < n->ninputs; k++) {
                int t = n->inputs[k], p = g->tensors[t].producer;
                if (t == from->output) {
                    attached = 1;
                } else if (p < 0 || owner[p] != x) {
                    cl_errf(err, errlen,
                            "exit '%s' does not attach to the main path at '%s': layer '%s' "
                            "reads '%s' (an exit's layers read only the output of its 'from' "
                            "node and each other's)",
                            e->name, from->name, n->name, g->tensors[t].name);
                    return CLEAVE_EINVAL;
                }
            }
            const plan_tensor *o = &g->tensors[n->output];
            int inside = 0;
            for (int c = 0; c < o->nconsumers; c++) {
                if (owner[o->consumers[c]] != x) {
                    cl_errf(err, errlen, "exit '%s': layer '%s' feeds node '%s', outside the exit",
                            e->name, n->name, g->nodes[o->consumers[c]].name);
                    return CLEAVE_EINVAL;
                }
                inside = 1;
            }
            if (!inside) {
                if (nlast++ == 0)
                    last = e->layers[i];
                else {
                    cl_errf(err, errlen,
                            "exit '%s' has several last layers ('%s', '%s'); an exit ends in one",
                            e->name, g->nodes[last].name, n->name);
                    return CLEAVE_EINVAL;
                }
            }
        }
        if (!attached) {
            cl_errf(err, errlen,
                    "exit '%s' does not attach to the main path at '%s': none of its layers "
                    "reads '%s'",
                    e->name, from->name, g->tensors[from->output].name);
            return CLEAVE_EINVAL;
        }
        if (nlast == 0) { /* impossible in a DAG, but keep the message honest */
            cl_errf(err, errlen, "exit '%s' has no last layer", e->name);
            return CLEAVE_EINVAL;
        }
        for (int i = 0; i < e->nlayers; i++) {
            const plan_node *n = &g->nodes[e->layers[i]];
            if (e->layers[i] != last && g->tensors[n->output].is_output) {
                cl_errf(err, errlen,
                        "exit '%s': layer '%s' writes the network output '%s'; only its last "
                        "layer may",
                        e->name, n->name, g->tensors[n->output].name);
                return CLEAVE_EINVAL;
            }
        }
        e->output = g->nodes[last].output;
        if (!g->tensors[e->output].is_output) {
            cl_errf(err, errlen, "exit '%s': its result '%s' is not a network output", e->name,
                    g->tensors[e->output].name);
            return CLEAVE_EINVAL;
        }
    }
    if (main_exit < 0) {
        cl_errf(err, errlen, "graph declares exits but no main exit (an exit without 'from')");
        return CLEAVE_EINVAL;
    }
    for (int i = 0; i < g->noutputs; i++) {
        int p = g->tensors[g->outputs[i]].producer;
        if (p >= 0 && owner[p] < 0)
            return CLEAVE_OK;
    }
    cl_errf(err, errlen, "the main path has no network output");
    return CLEAVE_EINVAL;
}

/* ---- validation ----------------------------------------------------------------------------- */

void plan_shape_format(const cleave_shape *s, int rank, char *buf, size_t buflen)
{
    size_t len = 0;
    if (buflen == 0)
        return;
    buf[0] = '\0';
    if (rank < 1)
        rank = 1;
    if (rank > 4)
        rank = 4;
    for (int i = 0; i < rank && len < buflen; i++) {
        int n = snprintf(buf + len, buflen - len, "%s%lld", i ? "x" : "", (long long)s->d[i]);
        if (n < 0)
            return;
        len += (size_t)n;
    }
}

/* The rank to print two shapes with: the tensor's, or more if the other has a non-one
** dimension past it. */
static int print_rank(const cleave_shape *a, int rank, const cleave_shape *b)
{
    for (int i = 3; i >= rank; i--)
        if (a->d[i] != 1 || b->d[i] != 1)
            return i + 1;
    return rank;
}

static int64_t elems(const cleave_shape *s)
{
    return s->d[0] * s->d[1] * s->d[2] * s->d[3];
}

static int same_shape(const cleave_shape *a, const cleave_shape *b)
{
    return a->d[0] == b->d[0] && a->d[1] == b->d[1] && a->d[2] == b->d[2] && a->d[3] == b->d[3];
}

static int is_rnn(cleave_layer_type t)
{
    return t == CLEAVE_LAYER_LSTM || t == CLEAVE_LAYER_GRU || t == CLEAVE_LAYER_RNN;
}

/* Consumers: a counting sort of (tensor, node) pairs, each node once per tensor. */
static cleave_status link_consumers(plan_graph *g)
{
    int total = 0;
    for (int v = 0; v < g->nnodes; v++)
        total += g->nodes[v].ninputs;
    int *all = malloc(sizeof *all * (size_t)(total ? total : 1));
    if (!all)
        return CLEAVE_ENOMEM;
    free(g->cons_all);
    g->cons_all = all;
    for (int t = 0; t < g->ntensors; t++)
        g->tensors[t].nconsumers = 0;
    /* First pass counts, second fills; nodes ascend, so each list is sorted and a repeat of the
    ** same node (Add(x, x)) is adjacent. */
    for (int v = 0; v < g->nnodes; v++) {
        const plan_node *n = &g->nodes[v];
        for (int i = 0; i < n->ninputs; i++) {
            int dup = 0;
            for (int j = 0; j < i; j++)
                dup |= n->inputs[j] == n->inputs[i];
            if (!dup)
                g->tensors[n->inputs[i]].nconsumers++;
        }
    }
    int off = 0;
    for (int t = 0; t < g->ntensors; t++) {
        g->tensors[t].consumers = all + off;
        off += g->tensors[t].nconsumers;
        g->tensors[t].nconsumers = 0;
    }
    for (int v = 0; v < g->nnodes; v++) {
        const plan_node *n = &g->nodes[v];
        for (int i = 0; i < n->ninputs; i++) {
            int dup = 0;
            for (int j = 0; j < i; j++)
                dup |= n->inputs[j] == n->inputs[i];
            if (!dup) {
                plan_tensor *t = &g->tensors[n->inputs[i]];
                t->consumers[t->nconsumers++] = v;
            }
        }
    }
    return CLEAVE_OK;
}

/* Binary min-heap of node ids, so that Kahn's algorithm takes the ready node of smallest id. */
static void heap_push(int *h, int *n, int v)
{
    int i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static int heap_pop(int *h, int *n)
{
    int top = h[0], last = h[--(*n)], i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1] < h[c])
            c++;
        if (h[c] >= last)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0)
        h[i] = last;
    return top;
}

/* Kahn's algorithm (Kahn, "Topological sorting of large networks", CACM 1962) with a min-heap
** for a stable order.  On a cycle, walks back from the first unplaced node through unplaced
** producers until a node repeats: that node lies on a cycle, and the message names it. */
static cleave_status topo_sort(plan_graph *g, char *err, size_t errlen)
{
    cleave_status rc = CLEAVE_OK;
    int n = g->nnodes, placed = 0, hn = 0;
    int *indeg = calloc((size_t)n, sizeof *indeg);
    int *heap = malloc(sizeof *heap * (size_t)n);
    int *order = malloc(sizeof *order * (size_t)n);
    int *rank_of = malloc(sizeof *rank_of * (size_t)n);
    if (!indeg || !heap || !order || !rank_of) {
        rc = CLEAVE_ENOMEM;
        goto done;
    }
    for (int v = 0; v < n; v++) {
        rank_of[v] = -1;
        for (int i = 0; i < g->nodes[v].ninputs; i++)
            indeg[v] += g->tensors[g->nodes[v].inputs[i]].producer >= 0;
        if (indeg[v] == 0)
            heap_push(heap, &hn, v);
    }
    while (hn > 0) {
        int u = heap_pop(heap, &hn);
        rank_of[u] = placed;
        order[placed++] = u;
        const plan_tensor *t = &g->tensors[g->nodes[u].output];
        for (int c = 0; c < t->nconsumers; c++) {
            int v = t->consumers[c];
            for (int i = 0; i < g->nodes[v].ninputs; i++)
                indeg[v] -= g->nodes[v].inputs[i] == g->nodes[u].output;
            if (indeg[v] == 0)
                heap_push(heap, &hn, v);
        }
    }
    if (placed < n) {
        /* indeg[] is reused as a visit mark. */
        int v = 0;
        while (rank_of[v] >= 0)
            v++;
        for (int i = 0; i < n; i++)
            indeg[i] = 0;
        while (!indeg[v]) {
            indeg[v] = 1;
            const plan_node *nd = &g->nodes[v];
            for (int i = 0; i < nd->ninputs; i++) {
                int p = g->tensors[nd->inputs[i]].producer;
                if (p >= 0 && rank_of[p] < 0) {
                    v = p;
                    break;
                }
            }
        }
        cl_errf(err, errlen, "graph has a cycle through node '%s'", g->nodes[v].name);
        rc = CLEAVE_EINVAL;
        goto done;
    }
    free(g->order);
    free(g->rank_of);
    g->order = order;
    g->rank_of = rank_of;
    order = rank_of = NULL;
done:
    free(indeg);
    free(heap);
    free(order);
    free(rank_of);
    return rc;
}

/* Check a tensor against the shape a layer expects, exactly or by element count. */
static cleave_status check_in(const plan_graph *g, const plan_node *n, int tensor,
                              const cleave_shape *want, int by_elems, char *err, size_t errlen)
{
    const plan_tensor *t = &g->tensors[tensor];
    if (by_elems ? elems(&t->shape) == elems(want) : same_shape(&t->shape, want))
        return CLEAVE_OK;
    if (by_elems) {
        cl_errf(err, errlen, "node '%s': input '%s' has %lld elements, the layer expects %lld",
                n->name, t->name, (long long)elems(&t->shape), (long long)elems(want));
        return CLEAVE_EINVAL;
    }
    char a[96], b[96];
    int r = print_rank(&t->shape, t->rank, want);
    plan_shape_format(&t->shape, r, a, sizeof a);
    plan_shape_format(want, r, b, sizeof b);
    cl_errf(err, errlen, "node '%s': input '%s' has shape %s, the layer expects %s", n->name,
            t->name, a, b);
    return CLEAVE_EINVAL;
}

/* Input counts per layer type; returns 0 when N inputs are fine for node ND. */
static int bad_input_count(const plan_node *nd, const char **want)
{
    int n = nd->ninputs;
    cleave_layer_type t = nd->layer.type;
    if (n == 0 || (nd->flags & PLAN_NODE_UNKNOWN))
        return 0;
    if (t == CLEAVE_LAYER_ADD || t == CLEAVE_LAYER_MUL) {
        *want = "1 or 2 inputs";
        return n > 2;
    }
    if (t == CLEAVE_LAYER_CONCAT) {
        *want = NULL;
        return n != nd->layer.ninputs;
    }
    if (is_rnn(t)) {
        *want = "1 to 4 inputs";
        return n > 4;
    }
    *want = "1 input";
    return n != 1;
}

/* The layer of ND is valid, has a fitting number of inputs, and its shapes match. */
static cleave_status check_node(const plan_graph *g, const plan_node *nd, char *err, size_t errlen)
{
    char msg[200];
    const cleave_layer *l = &nd->layer;
    cleave_status rc = cleave_layer_validate(l, msg, sizeof msg);
    if (rc != CLEAVE_OK) {
        cl_errf(err, errlen, "node '%s': %s", nd->name, msg);
        return rc;
    }
    const char *want = NULL;
    if (bad_input_count(nd, &want)) {
        if (want)
            cl_errf(err, errlen, "node '%s': '%s' takes %s, got %d", nd->name,
                    cleave_layer_type_name(l->type), want, nd->ninputs);
        else
            cl_errf(err, errlen, "node '%s': '%s' takes %d inputs, got %d", nd->name,
                    cleave_layer_type_name(l->type), l->ninputs, nd->ninputs);
        return CLEAVE_EINVAL;
    }
    if (nd->flags & PLAN_NODE_UNKNOWN)
        return CLEAVE_OK;

    cleave_shape in = {{l->n, l->c, l->h, l->w}};
    cleave_shape out = cleave_layer_output_shape(l);
    for (int i = 0; i < nd->ninputs; i++) {
        const plan_tensor *t = &g->tensors[nd->inputs[i]];
        switch (l->type) {
        case CLEAVE_LAYER_RESHAPE:
        case CLEAVE_LAYER_FC: rc = check_in(g, nd, nd->inputs[i], &in, 1, err, errlen); break;
        case CLEAVE_LAYER_LSTM:
        case CLEAVE_LAYER_GRU:
        case CLEAVE_LAYER_RNN:
            if (i == 0) { /* later inputs are initial states: not costed, not checked */
                cleave_shape x = {{l->t, l->n, l->c, 1}};
                rc = check_in(g, nd, nd->inputs[i], &x, 1, err, errlen);
            }
            break;
        case CLEAVE_LAYER_CONCAT: {
            cleave_shape x = {{l->n, l->cin[i], l->h, l->w}};
            rc = check_in(g, nd, nd->inputs[i], &x, 0, err, errlen);
            break;
        }
        case CLEAVE_LAYER_ADD:
        case CLEAVE_LAYER_MUL: {
            /* Multidirectional broadcasting (ONNX, numpy): each dimension equal or 1. */
            int ok = 1;
            for (int d = 0; d < 4; d++)
                ok &= t->shape.d[d] == in.d[d] || t->shape.d[d] == 1;
            if (!ok) {
                char a[96], b[96];
                int r = print_rank(&t->shape, t->rank, &in);
                plan_shape_format(&t->shape, r, a, sizeof a);
                plan_shape_format(&in, r, b, sizeof b);
                cl_errf(err, errlen,
                        "node '%s': input '%s' has shape %s, which does not broadcast to %s",
                        nd->name, t->name, a, b);
                rc = CLEAVE_EINVAL;
            }
            break;
        }
        default: rc = check_in(g, nd, nd->inputs[i], &in, 0, err, errlen); break;
        }
        if (rc != CLEAVE_OK)
            return rc;
    }

    const plan_tensor *o = &g->tensors[nd->output];
    int ok, by_elems = 1;
    switch (l->type) {
    case CLEAVE_LAYER_RESHAPE:
        out = in;
        ok = elems(&o->shape) == elems(&in);
        break;
    case CLEAVE_LAYER_FC:
    case CLEAVE_LAYER_ARGMAX: ok = elems(&o->shape) == elems(&out); break;
    case CLEAVE_LAYER_LSTM:
    case CLEAVE_LAYER_GRU:
    case CLEAVE_LAYER_RNN:
        ok = elems(&o->shape) == elems(&out) || elems(&o->shape) == l->dirs * l->n * l->k;
        break;
    default:
        by_elems = 0;
        ok = same_shape(&o->shape, &out);
        break;
    }
    if (!ok && by_elems) {
        cl_errf(err, errlen, "node '%s': output '%s' has %lld elements, the layer gives %lld",
                nd->name, o->name, (long long)elems(&o->shape), (long long)elems(&out));
        return CLEAVE_EINVAL;
    }
    if (!ok) {
        char a[96], b[96];
        int r = print_rank(&o->shape, o->rank, &out);
        plan_shape_format(&o->shape, r, a, sizeof a);
        plan_shape_format(&out, r, b, sizeof b);
        cl_errf(err, errlen, "node '%s': output '%s' has shape %s, the layer gives %s", nd->name,
                o->name, a, b);
        return CLEAVE_EINVAL;
    }
    return CLEAVE_OK;
}

cleave_status plan_graph_finish(plan_graph *g, char *err, size_t errlen)
{
    cleave_status rc;
    g->finished = 0;
    if (g->ninputs == 0) {
        cl_errf(err, errlen, "graph has no input");
        return CLEAVE_EINVAL;
    }
    if (g->nnodes == 0) {
        cl_errf(err, errlen, "graph has no node");
        return CLEAVE_EINVAL;
    }
    if (g->noutputs == 0) {
        cl_errf(err, errlen, "graph has no output");
        return CLEAVE_EINVAL;
    }
    for (int i = 0; i < g->ntensors; i++) {
        const plan_tensor *t = &g->tensors[i];
        if (t->bytes >= 0)
            continue;
        char s[128];
        int zero = 0, neg = 0;
        for (int d = 0; d < 4; d++) {
            zero |= t->shape.d[d] == 0;
            neg |= t->shape.d[d] < 0;
        }
        plan_shape_format(&t->shape, t->rank, s, sizeof s);
        cl_errf(err, errlen,
                neg    ? "tensor '%s' has a negative dimension (%s)"
                : zero ? "tensor '%s' has zero size (%s)"
                       : "tensor '%s' is too large (%s)",
                t->name, s);
        return CLEAVE_EINVAL;
    }
    for (int v = 0; v < g->nnodes; v++) {
        const plan_node *n = &g->nodes[v];
        for (int i = 0; i < n->ninputs; i++) {
            const plan_tensor *t = &g->tensors[n->inputs[i]];
            if (t->producer < 0 && !t->is_input) {
                cl_errf(err, errlen,
                        "node '%s': input '%s' is neither a network input nor the output of a node",
                        n->name, t->name);
                return CLEAVE_EINVAL;
            }
        }
    }
    for (int i = 0; i < g->noutputs; i++) {
        const plan_tensor *t = &g->tensors[g->outputs[i]];
        if (t->producer < 0) {
            cl_errf(err, errlen, "output '%s' is not produced by any node", t->name);
            return CLEAVE_EINVAL;
        }
    }
    if ((rc = link_consumers(g)) != CLEAVE_OK)
        return rc;
    if ((rc = topo_sort(g, err, errlen)) != CLEAVE_OK)
        return rc;
    for (int k = 0; k < g->nnodes; k++) {
        const plan_node *n = &g->nodes[g->order[k]];
        if ((rc = check_node(g, n, err, errlen)) != CLEAVE_OK)
            return rc;
    }
    for (int v = 0; v < g->nnodes; v++) {
        plan_node *n = &g->nodes[v];
        n->in_bytes = 0;
        for (int i = 0; i < n->ninputs; i++)
            n->in_bytes += g->tensors[n->inputs[i]].bytes;
        n->out_bytes = g->tensors[n->output].bytes;
    }
    if (g->nexits > 0) {
        int *owner = malloc(sizeof *owner * (size_t)g->nnodes);
        if (!owner)
            return CLEAVE_ENOMEM;
        rc = check_exits(g, owner, err, errlen);
        free(owner);
        if (rc != CLEAVE_OK)
            return rc;
    }
    g->finished = 1;
    return CLEAVE_OK;
}

/* ---- helpers -------------------------------------------------------------------------------- */

double plan_graph_macs(const plan_graph *g)
{
    double f[CLEAVE_FEAT_COUNT], sum = 0.0;
    for (int v = 0; v < g->nnodes; v++) {
        if (g->nodes[v].flags & PLAN_NODE_UNKNOWN)
            continue;
        cleave_layer_features(&g->nodes[v].layer, f);
        sum += f[CLEAVE_FEAT_MACS];
    }
    return sum;
}

int plan_graph_count_flag(const plan_graph *g, unsigned flag)
{
    int n = 0;
    for (int v = 0; v < g->nnodes; v++)
        n += (g->nodes[v].flags & flag) == flag;
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int plan_graph_op_histogram(const plan_graph *g, plan_op_count *out, int cap)
{
    if (g->nnodes == 0)
        return 0;
    const char **ops = malloc(sizeof *ops * (size_t)g->nnodes);
    if (!ops)
        return -1;
    for (int v = 0; v < g->nnodes; v++)
        ops[v] = g->nodes[v].op;
    qsort(ops, (size_t)g->nnodes, sizeof *ops, cmp_str);
    int distinct = 0;
    for (int i = 0; i < g->nnodes; i++) {
        if (i > 0 && strcmp(ops[i], ops[i - 1]) == 0) {
            if (distinct - 1 < cap)
                out[distinct - 1].count++;
            continue;
        }
        if (distinct < cap) {
            out[distinct].op = ops[i];
            out[distinct].count = 1;
        }
        distinct++;
    }
    free(ops);
    return distinct;
}

double plan_transfer_us(int64_t bytes, double mbps, double rtt_ms)
{
    if (!(mbps > 0.0) || !isfinite(mbps))
        return INFINITY;
    /* rtt/2 in us is rtt_ms * 500; bits / (mbps * 1e6 bit/s) in us is bytes * 8 / mbps. */
    return rtt_ms * 500.0 + (double)bytes * 8.0 / mbps;
}

void plan_problem_buf_release(plan_problem_buf *b)
{
    if (!b)
        return;
    free(b->node_of);
    free(b->is_constant);
    free(b->t_end);
    free(b->t_edge);
    free(b->producer);
    free(b->up_us);
    free(b->down_us);
    free(b->cons_off);
    free(b->cons);
    free(b->is_output);
    memset(b, 0, sizeof *b);
}

cleave_status plan_problem_build(plan_problem_buf *out, const plan_graph *g, const double *end_us,
                                 const double *edge_us, double up_mbps, double down_mbps,
                                 double rtt_ms, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!g || !g->finished) {
        cl_errf(err, errlen, "graph is not finished");
        return CLEAVE_EINVAL;
    }
    if (!end_us || !edge_us) {
        cl_errf(err, errlen, "no node times given");
        return CLEAVE_EINVAL;
    }
    if (!(up_mbps > 0.0) || !isfinite(up_mbps) || !(down_mbps > 0.0) || !isfinite(down_mbps)) {
        cl_errf(err, errlen, "bandwidth must be a positive number of Mbps, got up %g down %g",
                up_mbps, down_mbps);
        return CLEAVE_EINVAL;
    }
    if (!(rtt_ms >= 0.0) || !isfinite(rtt_ms)) {
        cl_errf(err, errlen, "round-trip time must be >= 0 ms, got %g", rtt_ms);
        return CLEAVE_EINVAL;
    }
    for (int v = 0; v < g->nnodes; v++) {
        if (!(end_us[v] >= 0.0) || !isfinite(end_us[v]) || !(edge_us[v] >= 0.0) ||
            !isfinite(edge_us[v])) {
            cl_errf(err, errlen, "node '%s': time must be finite and >= 0, got end %g edge %g",
                    g->nodes[v].name, end_us[v], edge_us[v]);
            return CLEAVE_EINVAL;
        }
    }
    int n = g->nnodes, nt = g->ntensors, total = 0;
    for (int t = 0; t < nt; t++)
        total += g->tensors[t].nconsumers;
    size_t ntz = (size_t)(nt ? nt : 1);
    out->node_of = malloc(sizeof *out->node_of * (size_t)n);
    out->is_constant = malloc((size_t)n);
    out->t_end = malloc(sizeof *out->t_end * (size_t)n);
    out->t_edge = malloc(sizeof *out->t_edge * (size_t)n);
    out->producer = malloc(sizeof *out->producer * ntz);
    out->up_us = malloc(sizeof *out->up_us * ntz);
    out->down_us = malloc(sizeof *out->down_us * ntz);
    out->cons_off = malloc(sizeof *out->cons_off * (ntz + 1));
    out->cons = malloc(sizeof *out->cons * (size_t)(total ? total : 1));
    out->is_output = calloc(ntz, 1);
    if (!out->node_of || !out->is_constant || !out->t_end || !out->t_edge || !out->producer ||
        !out->up_us || !out->down_us || !out->cons_off || !out->cons || !out->is_output) {
        plan_problem_buf_release(out);
        return CLEAVE_ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        int v = g->order[i];
        out->node_of[i] = v;
        out->is_constant[i] = (g->nodes[v].flags & PLAN_NODE_CONST) != 0;
        out->t_end[i] = end_us[v];
        out->t_edge[i] = edge_us[v];
    }
    int off = 0;
    for (int t = 0; t < nt; t++) {
        const plan_tensor *ts = &g->tensors[t];
        out->producer[t] = ts->producer >= 0 ? g->rank_of[ts->producer] : -1;
        out->up_us[t] = plan_transfer_us(ts->bytes, up_mbps, rtt_ms);
        out->down_us[t] = plan_transfer_us(ts->bytes, down_mbps, rtt_ms);
        out->cons_off[t] = off;
        /* Consumers in problem numbering, kept increasing (insertion sort: lists are short). */
        for (int c = 0; c < ts->nconsumers; c++) {
            int r = g->rank_of[ts->consumers[c]], j = off + c;
            while (j > off && out->cons[j - 1] > r) {
                out->cons[j] = out->cons[j - 1];
                j--;
            }
            out->cons[j] = r;
        }
        off += ts->nconsumers;
        out->is_output[t] = ts->is_output;
    }
    out->cons_off[nt] = off;
    out->p.n = n;
    out->p.t_end = out->t_end;
    out->p.t_edge = out->t_edge;
    out->p.ntensors = nt;
    out->p.producer = out->producer;
    out->p.up_us = out->up_us;
    out->p.down_us = out->down_us;
    out->p.cons_off = out->cons_off;
    out->p.cons = out->cons;
    out->p.is_output = out->is_output;
    return CLEAVE_OK;
}

/* ---- loading by file type ------------------------------------------------------------------- */

cleave_status plan_graph_load(plan_graph **out, const char *path, unsigned flags, char *err,
                              size_t errlen)
{
    size_t len = path ? strlen(path) : 0;
    *out = NULL;
    if (!path) {
        cl_errf(err, errlen, "no file given");
        return CLEAVE_EINVAL;
    }
    int onnx = len >= 5 && strcmp(path + len - 5, ".onnx") == 0;
    if (!onnx) {
        /* A serialised ModelProto starts with a field tag, a control byte in practice
        ** (0x08: ir_version); text starts with printable characters. */
        FILE *f = fopen(path, "rb");
        if (f) {
            unsigned char head[64];
            size_t got = fread(head, 1, sizeof head, f);
            fclose(f);
            for (size_t i = 0; i < got; i++)
                if (head[i] < 0x20 && head[i] != '\n' && head[i] != '\r' && head[i] != '\t')
                    onnx = 1;
        }
    }
    return onnx ? plan_onnx_load(out, path, flags, err, errlen)
                : plan_text_load(out, path, err, errlen);
}
