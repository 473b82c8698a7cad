/*
** tests/unit/test-onnx.c - the ONNX importer: the zoo against its .summary.json files (node
** count, op histogram, Conv/Gemm/MatMul MACs, branching), every op mapping on small models
** encoded here, and bad input (truncated, random, cyclic, shapeless, absurd) with exact messages.
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/json.h"
#include "common/rng.h"
#include "planner/graph.h"

/* ---- a minimal protobuf encoder (wire format: varints and length-delimited fields) ------- */

typedef struct pb {
    uint8_t *p;
    size_t len, cap;
} pb;

static void pb_raw(pb *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void pb_varint(pb *b, uint64_t v)
{
    uint8_t c[10];
    size_t n = 0;
    do {
        c[n] = v & 0x7f;
        v >>= 7;
        if (v)
            c[n] |= 0x80;
        n++;
    } while (v);
    pb_raw(b, c, n);
}

static void pb_int(pb *b, int field, int64_t v)
{
    pb_varint(b, (uint64_t)field << 3);
    pb_varint(b, (uint64_t)v);
}

static void pb_bytes(pb *b, int field, const void *data, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    pb_raw(b, data, n);
}

static void pb_str(pb *b, int field, const char *s)
{
    pb_bytes(b, field, s, strlen(s));
}

/* Append SUB as the embedded message FIELD and free SUB. */
static void pb_msg(pb *b, int field, pb *sub)
{
    pb_bytes(b, field, sub->p, sub->len);
    free(sub->p);
    memset(sub, 0, sizeof *sub);
}

static void pb_float(pb *b, int field, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint8_t c[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    pb_varint(b, (uint64_t)field << 3 | 5);
    pb_raw(b, c, 4);
}

/* ---- ONNX models (field numbers from onnx.proto) --------------------------------------- */

typedef struct model {
    pb graph;
    int opset;
} model;

static void m_init(model *m, int opset)
{
    memset(m, 0, sizeof *m);
    m->opset = opset;
    pb_str(&m->graph, 2, "test");
}

/* A TypeProto for DIMS: "1x3x8x8"; a non-numeric part is a dim_param; "" has no shape. */
static void type_proto(pb *out, const char *dims)
{
    pb tensor = {0}, shape = {0};
    pb_int(&tensor, 1, 1); /* elem_type FLOAT */
    if (dims[0]) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", dims);
        for (char *save = NULL, *tok = strtok_r(buf, "x", &save); tok;
             tok = strtok_r(NULL, "x", &save)) {
            pb dim = {0};
            if ((tok[0] >= '0' && tok[0] <= '9') || tok[0] == '-')
                pb_int(&dim, 1, strtoll(tok, NULL, 10));
            else
                pb_str(&dim, 2, tok);
            pb_msg(&shape, 1, &dim);
        }
        pb_msg(&tensor, 2, &shape);
    }
    pb_msg(out, 1, &tensor);
}

static void value_info(model *m, int field, const char *name, const char *dims)
{
    pb vi = {0}, tp = {0};
    pb_str(&vi, 1, name);
    type_proto(&tp, dims);
    pb_msg(&vi, 2, &tp);
    pb_msg(&m->graph, field, &vi);
}

static void m_input(model *m, const char *name, const char *dims)
{
    value_info(m, 11, name, dims);
}

static void m_output(model *m, const char *name, const char *dims)
{
    value_info(m, 12, name, dims);
}

static void m_vi(model *m, const char *name, const char *dims)
{
    value_info(m, 13, name, dims);
}

/* A float initializer with dims and no data (as the fixtures' stripped weights). */
static void m_weight(model *m, const char *name, const char *dims)
{
    pb t = {0};
    char buf[256];
    snprintf(buf, sizeof buf, "%s", dims);
    for (char *save = NULL, *tok = strtok_r(buf, "x", &save); tok; tok = strtok_r(NULL, "x", &save))
        pb_int(&t, 1, strtoll(tok, NULL, 10));
    pb_int(&t, 2, 1);
    pb_str(&t, 8, name);
    pb_msg(&m->graph, 5, &t);
}

/* A 1-D int64 initializer with values (packed int64_data). */
static void m_ints(model *m, const char *name, int n, const int64_t *v)
{
    pb t = {0}, packed = {0};
    pb_int(&t, 1, n);
    pb_int(&t, 2, 7);
    for (int i = 0; i < n; i++)
        pb_varint(&packed, (uint64_t)v[i]);
    pb_bytes(&t, 7, packed.p, packed.len);
    free(packed.p);
    pb_str(&t, 8, name);
    pb_msg(&m->graph, 5, &t);
}

/* A float scalar initializer (rank 0) stored in raw_data, little-endian. */
static void m_scalar(model *m, const char *name, float f)
{
    pb t = {0};
    uint32_t u;
    memcpy(&u, &f, 4);
    uint8_t c[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    pb_int(&t, 2, 1);
    pb_str(&t, 8, name);
    pb_bytes(&t, 9, c, 4);
    pb_msg(&m->graph, 5, &t);
}

/* A node: INS and OUTS are space-separated names ("-" is an empty, omitted input); ATTRS is
** "key=value ..." with value 1,2,3 (ints), 0.5f (float), 7 (int) or TEXT (string). */
static void m_node(model *m, const char *op, const char *name, const char *ins, const char *outs,
                   const char *attrs)
{
    pb n = {0};
    char buf[512];
    snprintf(buf, sizeof buf, "%s", ins);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        pb_str(&n, 1, strcmp(tok, "-") ? tok : "");
    snprintf(buf, sizeof buf, "%s", outs);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        pb_str(&n, 2, strcmp(tok, "-") ? tok : "");
    pb_str(&n, 3, name);
    pb_str(&n, 4, op);
    snprintf(buf, sizeof buf, "%s", attrs ? attrs : "");
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        pb a = {0};
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = '\0';
        const char *v = eq + 1;
        pb_str(&a, 1, tok);
        size_t len = strlen(v);
        if (strchr(v, ',') || (len > 1 && v[len - 1] == 'L')) { /* ints: 1,2 or 5L */
            char lb[128];
            snprintf(lb, sizeof lb, "%s", v);
            for (char *s2 = NULL, *t2 = strtok_r(lb, ",L", &s2); t2; t2 = strtok_r(NULL, ",L", &s2))
                pb_int(&a, 8, strtoll(t2, NULL, 10));
            pb_int(&a, 20, 7);
        } else if (len > 1 && v[len - 1] == 'f') {
            pb_float(&a, 2, strtof(v, NULL));
            pb_int(&a, 20, 1);
        } else if ((v[0] >= '0' && v[0] <= '9') || v[0] == '-') {
            pb_int(&a, 3, strtoll(v, NULL, 10));
            pb_int(&a, 20, 2);
        } else {
            pb_str(&a, 4, v);
            pb_int(&a, 20, 3);
        }
        pb_msg(&n, 5, &a);
    }
    pb_msg(&m->graph, 1, &n);
}

/* The serialised ModelProto; frees the graph under construction. */
static uint8_t *m_bytes(model *m, size_t *len)
{
    pb out = {0}, ops = {0};
    pb_int(&out, 1, 7); /* ir_version */
    pb_str(&out, 2, "cleave-test");
    pb_msg(&out, 7, &m->graph);
    pb_str(&ops, 1, "");
    pb_int(&ops, 2, m->opset);
    pb_msg(&out, 8, &ops);
    *len = out.len;
    return out.p;
}

/* Import M; returns the status, the graph in *G (may be NULL) and the message in ERR. */
static cleave_status m_import(model *m, unsigned flags, plan_graph **g, char *err, size_t errlen)
{
    size_t len;
    uint8_t *bytes = m_bytes(m, &len);
    if (getenv("CLEAVE_DUMP_ONNX_DIR")) { /* writes seeds for tests/fuzz/corpus/onnx */
        static int serial;
        char path[512];
        snprintf(path, sizeof path, "%s/synthetic-%03d.onnx", getenv("CLEAVE_DUMP_ONNX_DIR"),
                 serial++);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(bytes, 1, len, f);
            fclose(f);
        }
    }
    cleave_status rc = plan_onnx_read(g, bytes, len, flags, err, errlen);
    free(bytes);
    return rc;
}

/* Import M, which must succeed; returns the graph. */
static plan_graph *must_import(model *m, unsigned flags)
{
    char err[512];
    plan_graph *g = NULL;
    cleave_status rc = m_import(m, flags, &g, err, sizeof err);
    if (rc != CLEAVE_OK)
        fail_msg("import failed: %s", err);
    assert_non_null(g);
    return g;
}

/* Import M, which must fail with RC and exactly MSG. */
static void must_fail(model *m, unsigned flags, cleave_status rc, const char *msg)
{
    char err[512];
    plan_graph *g = (plan_graph *)1;
    cleave_status got = m_import(m, flags, &g, err, sizeof err);
    assert_null(g);
    assert_string_equal(err, msg);
    assert_int_equal(got, rc);
}

static const plan_node *node(const plan_graph *g, const char *name)
{
    int v = plan_graph_find_node(g, name);
    if (v < 0)
        fail_msg("no node '%s'", name);
    return &g->nodes[v];
}

static const plan_tensor *tensor(const plan_graph *g, const char *name)
{
    int t = plan_graph_find_tensor(g, name);
    if (t < 0)
        fail_msg("no tensor '%s'", name);
    return &g->tensors[t];
}

static double macs_of(const plan_node *n)
{
    double f[CLEAVE_FEAT_COUNT];
    cleave_layer_features(&n->layer, f);
    return f[CLEAVE_FEAT_MACS];
}

static void assert_shape(const plan_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    if (t->shape.d[0] != a || t->shape.d[1] != b || t->shape.d[2] != c || t->shape.d[3] != d)
        fail_msg("tensor '%s' is %lldx%lldx%lldx%lld, expected %lldx%lldx%lldx%lld", t->name,
                 (long long)t->shape.d[0], (long long)t->shape.d[1], (long long)t->shape.d[2],
                 (long long)t->shape.d[3], (long long)a, (long long)b, (long long)c, (long long)d);
}

/* ---- the zoo ----------------------------------------------------------------------------- */

static const char *const zoo[] = {"alexnet",  "googlenet",     "mobilenet_v2", "resnet18",
                                  "resnet50", "squeezenet1_0", "vgg16"};

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* The integer value of "KEY": N inside the object that follows "OBJ": { in JSON; -1 if absent.
** The summaries are flat enough for this (common/json.h reads top-level keys only). */
static int64_t json_nested_int(const char *json, const char *obj, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", obj);
    const char *o = strstr(json, pat);
    if (!o)
        return -1;
    const char *end = strchr(o, '}');
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *k = strstr(o, pat);
    if (!k || k > end)
        return -1;
    return strtoll(k + strlen(pat), NULL, 10);
}

/* Every "NAME": COUNT pair of the op_histogram object, in file order (sorted by name). */
static int json_histogram(const char *json, char names[][64], int64_t *counts, int cap)
{
    const char *o = strstr(json, "\"op_histogram\":");
    assert_non_null(o);
    const char *p = strchr(o, '{') + 1, *end = strchr(o, '}');
    int n = 0;
    while (p < end) {
        const char *q1 = strchr(p, '"');
        if (!q1 || q1 > end)
            break;
        const char *q2 = strchr(q1 + 1, '"');
        assert_true(n < cap);
        snprintf(names[n], 64, "%.*s", (int)(q2 - q1 - 1), q1 + 1);
        counts[n] = strtoll(strchr(q2, ':') + 1, NULL, 10);
        n++;
        p = strchr(q2, ',') ? strchr(q2, ',') + 1 : end;
    }
    return n;
}

static void test_zoo_matches_summaries(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof zoo / sizeof zoo[0]; i++) {
        char path[512], err[512];
        size_t jlen;
        snprintf(path, sizeof path, "%s/data/models/%s.summary.json", CLEAVE_SRC_DIR, zoo[i]);
        char *json = read_all(path, &jlen);
        assert_non_null(json);
        snprintf(path, sizeof path, "%s/data/models/%s.onnx", CLEAVE_SRC_DIR, zoo[i]);
        plan_graph *g = NULL;
        cleave_status rc = plan_onnx_load(&g, path, 0, err, sizeof err);
        if (rc != CLEAVE_OK)
            fail_msg("%s: %s", zoo[i], err);

        double v;
        assert_int_equal(cl_json_get_number(json, "node_count", &v), 0);
        assert_int_equal(g->nnodes, (int)v);

        char names[32][64];
        int64_t counts[32];
        int nh = json_histogram(json, names, counts, 32);
        plan_op_count hist[32];
        int got = plan_graph_op_histogram(g, hist, 32);
        assert_int_equal(got, nh);
        for (int k = 0; k < nh; k++) {
            assert_string_equal(hist[k].op, names[k]);
            assert_int_equal(hist[k].count, counts[k]);
        }

        /* The summary counts MACs of Conv, Gemm and MatMul only: compare like with like. */
        double conv = 0, gemm = 0, matmul = 0;
        for (int n = 0; n < g->nnodes; n++) {
            const char *op = g->nodes[n].op;
            if (!strcmp(op, "Conv"))
                conv += macs_of(&g->nodes[n]);
            else if (!strcmp(op, "Gemm"))
                gemm += macs_of(&g->nodes[n]);
            else if (!strcmp(op, "MatMul"))
                matmul += macs_of(&g->nodes[n]);
        }
        assert_int_equal((int64_t)conv, json_nested_int(json, "macs", "Conv"));
        assert_int_equal((int64_t)gemm, json_nested_int(json, "macs", "Gemm"));
        assert_int_equal((int64_t)matmul, json_nested_int(json, "macs", "MatMul"));
        assert_int_equal((int64_t)(conv + gemm + matmul), json_nested_int(json, "macs", "total"));
        assert_true(plan_graph_macs(g) >= conv + gemm + matmul);

        /* Branching nodes: outputs read by more than one node; and the widest fan-out. */
        int branching = 0, fanout = 0;
        for (int n = 0; n < g->nnodes; n++) {
            int c = g->tensors[g->nodes[n].output].nconsumers;
            branching += c > 1;
            fanout = c > fanout ? c : fanout;
        }
        assert_int_equal(cl_json_get_number(json, "branching_nodes", &v), 0);
        assert_int_equal(branching, (int)v);
        assert_int_equal(cl_json_get_number(json, "max_fanout", &v), 0);
        assert_int_equal(fanout, (int)v);

        /* One input 1x3x224x224, one output 1x1000, every node placed in the order. */
        assert_int_equal(g->ninputs, 1);
        assert_string_equal(g->tensors[g->inputs[0]].name, "input");
        assert_shape(&g->tensors[g->inputs[0]], 1, 3, 224, 224);
        assert_int_equal(g->noutputs, 1);
        assert_string_equal(g->tensors[g->outputs[0]].name, "output");
        assert_shape(&g->tensors[g->outputs[0]], 1, 1000, 1, 1);
        assert_int_equal(g->tensors[g->outputs[0]].rank, 2);
        for (int k = 0; k < g->nnodes; k++)
            assert_int_equal(g->rank_of[g->order[k]], k);
        assert_int_equal(plan_graph_count_flag(g, PLAN_NODE_UNKNOWN), 0);
        assert_int_equal(plan_graph_count_flag(g, PLAN_NODE_ZERO_COST), 1); /* the Flatten */
        plan_graph_destroy(g);
        free(json);
    }
}

/* Known layers of the zoo: squeezenet's ceil-mode MaxPool, mobilenet's Clip and depthwise
** Conv, resnet's Add. */
static void test_zoo_layers(void **state)
{
    (void)state;
    char path[512], err[512];
    plan_graph *g = NULL;
    snprintf(path, sizeof path, "%s/data/models/squeezenet1_0.onnx", CLEAVE_SRC_DIR);
    assert_int_equal(plan_onnx_load(&g, path, 0, err, sizeof err), CLEAVE_OK);
    int pools = 0;
    for (int v = 0; v < g->nnodes; v++) {
        const plan_node *n = &g->nodes[v];
        if (strcmp(n->op, "MaxPool"))
            continue;
        pools++;
        /* 3x3 stride 2, ceil_mode: 109 -> 54 with floor, 54 + ceil = 55 wanted */
        cleave_shape o = cleave_layer_output_shape(&n->layer);
        assert_int_equal(o.d[2], g->tensors[n->output].shape.d[2]);
        assert_true(n->layer.pb >= n->layer.pt);
    }
    assert_int_equal(pools, 3);
    /* The second pool: 54 -> 26 with floor, 27 with ceil, so one more row of end padding. */
    const plan_node *p1 = NULL;
    for (int v = 0, seen = 0; v < g->nnodes && !p1; v++)
        if (!strcmp(g->nodes[v].op, "MaxPool") && seen++ == 1)
            p1 = &g->nodes[v];
    assert_int_equal(p1->layer.h, 54);
    assert_int_equal(p1->layer.pt, 0);
    assert_int_equal(p1->layer.pb, 1);
    assert_int_equal(g->tensors[p1->output].shape.d[2], 27);
    plan_graph_destroy(g);

    snprintf(path, sizeof path, "%s/data/models/mobilenet_v2.onnx", CLEAVE_SRC_DIR);
    assert_int_equal(plan_onnx_load(&g, path, 0, err, sizeof err), CLEAVE_OK);
    int relu6 = 0, depthwise = 0;
    for (int v = 0; v < g->nnodes; v++) {
        const plan_node *n = &g->nodes[v];
        if (!strcmp(n->op, "Clip")) {
            assert_int_equal(n->layer.type, CLEAVE_LAYER_ACT);
            relu6 += n->layer.kind == CLEAVE_ACT_RELU6;
        }
        if (!strcmp(n->op, "Conv") && n->layer.groups > 1) {
            assert_int_equal(n->layer.groups, n->layer.c);
            assert_int_equal(n->layer.k, n->layer.c);
            depthwise++;
        }
        if (!strcmp(n->op, "Add"))
            assert_int_equal(n->ninputs, 2);
    }
    assert_int_equal(relu6, 35);
    assert_int_equal(depthwise, 17);
    plan_graph_destroy(g);
}

/* ---- op mappings on small models ------------------------------------------------------------- */

/* Import a chain x -> r1 -> r2 with a side exit r1 -> e (outputs r2 and e) whose ModelProto
** also carries the metadata_props (field 14) KEY=VALUE pairs KV[0..2N). */
static cleave_status exits_import(const char *const *kv, int n, plan_graph **g, char *err,
                                  size_t errlen)
{
    model m;
    m_init(&m, 13);
    m_input(&m, "x", "1x4");
    m_node(&m, "Relu", "r1", "x", "t1", NULL);
    m_node(&m, "Relu", "r2", "t1", "t2", NULL);
    m_node(&m, "Sigmoid", "e", "t1", "te", NULL);
    m_output(&m, "t2", "1x4");
    m_output(&m, "te", "1x4");
    size_t len;
    uint8_t *bytes = m_bytes(&m, &len);
    pb out = {0};
    pb_raw(&out, bytes, len);
    free(bytes);
    for (int i = 0; i < n; i++) {
        pb e = {0};
        pb_str(&e, 1, kv[2 * i]);
        pb_str(&e, 2, kv[2 * i + 1]);
        pb_msg(&out, 14, &e);
    }
    *g = NULL;
    cleave_status rc = plan_onnx_read(g, out.p, out.len, 0, err, errlen);
    free(out.p);
    return rc;
}

static void test_exits_metadata(void **state)
{
    (void)state;
    char err[512];
    plan_graph *g = NULL;
    static const char *const good[] = {"producer.note",    "ignored",
                                       "cleave.exit.side", "from=t1 layers=e accuracy=0.25",
                                       "cleave.exit.main", "accuracy=0.75"};
    if (exits_import(good, 3, &g, err, sizeof err) != CLEAVE_OK)
        fail_msg("%s", err);
    assert_int_equal(g->nexits, 2);
    assert_string_equal(g->exits[0].name, "side");
    assert_int_equal(g->exits[0].from, plan_graph_find_node(g, "r1")); /* by tensor name */
    assert_int_equal(g->exits[0].output, plan_graph_find_tensor(g, "te"));
    assert_true(g->exits[0].accuracy == 0.25);
    assert_int_equal(g->exits[1].from, -1);
    plan_graph_destroy(g);

    static const char *const acc[] = {"cleave.exit.side", "from=r1 layers=e accuracy=1.01"};
    assert_int_equal(exits_import(acc, 1, &g, err, sizeof err), CLEAVE_EINVAL);
    assert_null(g);
    assert_string_equal(err, "metadata 'cleave.exit.side': exit 'side': accuracy 1.01 is outside "
                             "[0, 1]");
    static const char *const detached[] = {"cleave.exit.side", "from=r2 layers=e accuracy=0.5",
                                           "cleave.exit.main", "accuracy=0.9"};
    assert_int_equal(exits_import(detached, 2, &g, err, sizeof err), CLEAVE_EINVAL);
    assert_string_equal(err, "exit 'side' does not attach to the main path at 'r2': layer 'e' "
                             "reads 't1' (an exit's layers read only the output of its 'from' "
                             "node and each other's)");
}

static void test_conv(void **state)
{
    (void)state;
    model m;
    m_init(&m, 13);
    m_input(&m, "x", "1x4x10x10");
    m_weight(&m, "w", "8x2x3x3");
    m_weight(&m, "b", "8");
    m_weight(&m, "w2", "8x8x3x3");
    m_weight(&m, "w3", "8x8x3x3");
    m_node(&m, "Conv", "c1", "x w b", "y1", "group=2 strides=2,2 pads=1,1,1,1 dilations=1,1");
    m_node(&m, "Conv", "c2", "y1 w2", "y2", "auto_pad=SAME_UPPER strides=2,2");
    m_node(&m, "Conv", "c3", "y2 w3", "y3", "dilations=2,2 pads=2,2,2,2");
    m_weight(&m, "w4", "8x4x3x3");
    m_node(&m, "Conv", "c4", "x w4", "y4", "auto_pad=SAME_LOWER strides=2,2");
    m_vi(&m, "y1", "1x8x5x5");
    m_output(&m, "y3", "1x8x3x3");
    m_output(&m, "y4", "1x8x5x5");
    plan_graph *g = must_import(&m, 0);
    const plan_node *c1 = node(g, "c1");
    assert_int_equal(c1->layer.type, CLEAVE_LAYER_CONV);
    assert_int_equal(c1->layer.c, 4);
    assert_int_equal(c1->layer.k, 8);
    assert_int_equal(c1->layer.groups, 2);
    assert_int_equal(c1->layer.kh, 3);
    assert_int_equal(c1->layer.sh, 2);
    assert_int_equal(c1->layer.pt, 1);
    assert_int_equal(c1->layer.bias, 1);
    assert_true(macs_of(c1) == 1.0 * 8 * 5 * 5 * 2 * 3 * 3);
    const plan_node *c2 = node(g, "c2"); /* SAME_UPPER: 5 -> 3 needs 2 pads, one each side */
    assert_int_equal(c2->layer.pt, 1);
    assert_int_equal(c2->layer.pb, 1);
    const plan_node *c4 = node(g, "c4"); /* SAME_LOWER: 10 -> 5 needs 1 pad, at the start */
    assert_int_equal(c4->layer.pt, 1);
    assert_int_equal(c4->layer.pb, 0);
    assert_int_equal(c2->layer.bias, 0);
    assert_shape(tensor(g, "y2"), 1, 8, 3, 3); /* inferred: no value_info */
    assert_int_equal(node(g, "c3")->layer.dh, 2);
    assert_int_equal(g->tensors[c1->inputs[0]].is_input, 1);
    assert_int_equal(c1->ninputs, 1); /* weights are not graph tensors */
    assert_int_equal(g->ntensors, 5);
    plan_graph_destroy(g);
}

static void test_conv_transpose(void **state)
{
    (void)state;
    model m;
    m_init(&m, 13);
    m_input(&m, "x", "1x4x5x5");
    m_weight(&m, "w", "4x3x3x3");
    m_node(&m, "ConvTranspose", "d", "x w", "y", "strides=2,2 pads=1,1,1,1 output_padding=1,1");
    m_output(&m, "y", "1x3x10x10");
    plan_graph *g = must_import(&m, 0);
    const plan_node *d = node(g, "d");
    assert_int_equal(d->layer.type, CLEAVE_LAYER_DECONV);
    assert_int_equal(d->layer.k, 3);
    assert_int_equal(d->layer.pb, 0); /* output_padding folded into the end padding */
    plan_graph_destroy(g);
}

static void test_pools(void **state)
{
    (void)state;
    model m;
    m_init(&m, 13);
    m_input(&m, "x", "1x4x10x10");
    m_node(&m, "MaxPool", "mp", "x", "p1", "kernel_shape=3,3 strides=2,2 ceil_mode=1");
    m_node(&m, "AveragePool", "ap", "p1", "p2",
           "kernel_shape=3,3 pads=1,1,1,1 count_include_pad=1");
    m_node(&m, "AveragePool", "ap2", "p2", "p3", "kernel_shape=2,2 strides=2,2");
    m_node(&m, "GlobalAveragePool", "gap", "p3", "p4", NULL);
    m_node(&m, "GlobalMaxPool", "gmp", "p2", "p5", NULL);
    m_node(&m, "Add", "join", "p4 p5", "y", NULL);
    m_output(&m, "y", "1x4x1x1");
    plan_graph *g = must_import(&m, 0);
    const plan_node *mp = node(g, "mp");
    assert_int_equal(mp->layer.kind, CLEAVE_POOL_MAX);
    assert_int_equal(mp->layer.pb, 1); /* ceil: (10 - 3) / 2 + 1 = 4 with floor, 5 with ceil */
    assert_int_equal(mp->layer.pr, 1);
    assert_shape(tensor(g, "p1"), 1, 4, 5, 5);
    assert_int_equal(node(g, "ap")->layer.kind, CLEAVE_POOL_AVG_PAD);
    assert_int_equal(node(g, "ap2")->layer.kind, CLEAVE_POOL_AVG);
    assert_shape(tensor(g, "p3"), 1, 4, 2, 2);
    assert_int_equal(node(g, "gap")->layer.global, 1);
    assert_int_equal(node(g, "gap")->layer.kind, CLEAVE_POOL_AVG);
    assert_int_equal(node(g, "gmp")->layer.kind, CLEAVE_POOL_MAX);
    assert_int_equal(node(g, "gmp")->layer.kh, 5);
    plan_graph_destroy(g);
}

static void test_clip(void **state)
{
    (void)state;
    model m;
    m_init(&m, 13);
    m_input(&m, "x", "1x4x2x2");
    m_scalar(&m, "zero", 0.0f);
    m_scalar(&m, "six", 6.0f);
    m_scalar(&m, "m1", -1.0f);
    m_scalar(&m, "p1", 1.0f);
    m_node(&m, "Clip", "relu6", "x zero six", "a", NULL);
    m_node(&m, "Clip", "relu", "a zero", "b", NULL);
    m_node(&m, "Clip", "clip", "b m1 p1", "c", NULL);
    m_node(&m, "Constant", "k", "", "kmax", "value_float=3.5f");
    m_node(&m, "Clip", "clipk", "c - kmax", "d", NULL);
    m_output(&m, "d", "1x4x2x2");
    plan_graph *g = must_import(&m, 0);
    assert_int_equal(g->nnodes, 4); /* the Constant is not a node */
    assert_int_equal(node(g, "relu6")->layer.kind, CLEAVE_ACT_RELU6);
    assert_int_equal(node(g, "relu")->layer.kind, CLEAVE_ACT_RELU);
    const plan_node *c = node(g, "clip");
    assert_int_equal(c->layer.kind, CLEAVE_ACT_CLIP);
    assert_true(c->layer.alpha == -1.0 && c->layer.beta == 1.0);
    assert_true(node(g, "clipk")->layer.beta == 3.5);
    assert_int_equal(node(g, "clip")->ninputs, 1);
    plan_graph_destroy(g);

    /* Opset 6: bounds are attributes. */
    m_init(&m, 6);
    m_input(&m, "x", "1x4x2x2");
    m_node(&m, "Clip", "c6", "x", "y", "min=0.0f max=6.0f");
    m_output(&m, "y", "1x4x2x2");
    g = must_import(&m, 0);
    assert_int_equal(node(g, "c6")->layer.kind, CLEAVE_ACT_RELU6);
    plan_graph_destroy(g);

    m_init(&m, 13);
    m_input(&m, "x", "1x4x2x2");
    m_input(&m, "lo", "1");
    m_node(&m, "Clip", "cl", "x lo", "y", NULL);
    m_output(&m, "y", "1x4x2x2");
    must_fail(&m, 0, CLEAVE_EUNSUPPORTED, "node 'cl': Clip bound 'lo' is not a constant");
}

static void test_activations(void **state)
{
    (void)state;
    model m;
    m_init(&m, 14);
    m_input(&m, "x", "1x8");
    m_node(&m, "Sigmoid", "s", "x", "a", NULL);
    m_node(&m, "HardSigmoid", "hs", "a", "b", "alpha=0.25f");
    m_node(&m, "HardSwish", "hw", "b", "c", NULL);
    m_node(&m, "Tanh", "t", "c", "d", NULL);
    m_node(&m, "LeakyRelu", "lr", "d", "e", "alpha=0.125f");
    m_node(&m, "Relu", "r", "e", "f", NULL);
    m_node(&m, "Softmax", "sm", "f", "g", NULL);
    m_node(&m, "Dropout", "dr", "g", "h", NULL);
    m_output(&m, "h", "1x8");
    plan_graph *g = must_import(&m, 0);
    assert_int_equal(node(g, "s")->layer.kind, CLEAVE_ACT_SIGMOID);
    assert_int_equal(node(g, "hs")->layer.kind, CLEAVE_ACT_HARDSIGMOID);
    assert_true(node(g, "hs")->layer.alpha == 0.25 && node(g, "hs")->layer.beta == 0.5);
    assert_int_equal(node(g, "hw")->layer.kind, CLEAVE_ACT_HARDSWISH);
    assert_int_equal(node(g, "t")->layer.kind, CLEAVE_ACT_TANH);
    assert_true(node(g, "lr")->layer.alpha == 0.125);
    assert_int_equal(node(g, "r")->layer.kind, CLEAVE_ACT_RELU);
    assert_int_equal(node(g, "sm")->layer.type, CLEAVE_LAYER_SOFTMAX);
    assert_int_equal(node(g, "sm")->layer.axis, 1); /* opset 13+: -1 of a rank-2 tensor */
    assert_int_equal(node(g, "dr")->layer.type, CLEAVE_LAYER_DROPOUT);
    assert_shape(tensor(g, "h"), 1, 8, 1, 1);
    plan_graph_destroy(g);
}

static void test_fc(void **state)
{
    (void)state;
    model m;
    m_init(&m, 13);
    m_input(&m, "x", "1x16");
    m_input(&m, "s", "2x5x16");
    m_weight(&m, "w", "10x16");
    m_weight(&m, "b", "10");
    m_weight(&m, "w2", "16x10");
    m_node(&m, "Gemm", "gemm", "x w b", "y", "transB=1");
    m_node(&m, "MatMul", "mm", "s w2", "z", NULL);
    m_output(&m, "y", "1x10");
    m_output(&m, "z", "2x5x10");
    plan_graph *g = must_import(&m, 0);
    const plan_node *gm = node(g, "gemm");
    assert_int_equal(gm->layer.type, CLEAVE_LAYER_FC);
    assert_int_equal(gm->layer.c, 16);
    assert_int_equal(gm->layer.k, 10);
    assert_int_equal(gm->layer.bias, 1);
    const plan_node *mm = node(g, "mm");
    assert_int_equal(mm->layer.n, 10); /* rows of the 2x5 batch */
    assert_int_equal(mm->layer.c, 16);
    assert_int_equal(mm->layer.k, 10);
    assert_int_equal(mm->layer.bias, 0);
    assert_true(macs_of(mm) == 1600.0);
    assert_shape(tensor(g, "z"), 2, 5, 10, 1);
    plan_graph_destroy(g);

    m_init(&m, 13);
    m_input(&m, "x", "4x16");
    m_input(&m, "w", "16x10");
    m_node(&m, "MatMul", "mm", "x w", "y", NULL);
    m_output(&m, "y", "4x10");
    must_fail(&m, 0, CLEAVE_EUNSUPPORTED,
              "node 'mm': MatMul needs a constant 2-D weight as its second input");
}

static void test_elementwise(void **state)
{
    (void)state;
    model m;
    m_init(&m, 13);
    m_input(&m, "x", "1x4x6x6");
    m_weight(&m, "bias", "1x4x1x1");
    m_node(&m, "Add", "addc", "x bias", "a", NULL);
    m_node(&m, "GlobalAveragePool", "sq", "a", "s", NULL);
    m_node(&m, "Sigmoid", "sg", "s", "e", NULL);
    m_node(&m, "Mul", "scale", "a e", "y", NULL); /* squeeze-and-excitation */
    m_node(&m, "Sub", "sub", "y x", "z", NULL);
    m_node(&m, "Div", "div", "z bias", "w", NULL);
    m_output(&m, "w", "1x4x6x6");
    plan_graph *g = must_import(&m, 0);
    const plan_node *addc = node(g, "addc");
    assert_int_equal(addc->layer.type, CLEAVE_LAYER_ADD);
    assert_int_equal(addc->ninputs, 1);
    const plan_node *sc = node(g, "scale");
    assert_int_equal(sc->layer.type, CLEAVE_LAYER_MUL);
    assert_int_equal(sc->ninputs, 2);
    assert_int_equal(sc->layer.c, 4);
    assert_int_equal(sc->layer.h, 6);
    assert_int_equal(node(g, "sub")->layer.type, CLEAVE_LAYER_ADD);
    assert_int_equal(node(g, "div")->layer.type, CLEAVE_LAYER_MUL);
    assert_int_equal(tensor(g, "a")->nconsumers, 2);
    plan_graph_destroy(g);

    m_init(&m, 13);
    m_input(&m, "x", "1x4x6x6");
    m_input(&m, "v", "6");
    m_node(&m, "Add", "a", "x v", "y", NULL);
    m_output(&m, "y", "1x4x6x6");
    must_fail(&m, 0, CLEAVE_EUNSUPPORTED,
              "node 'a': broadcasting input 'v' of rank 1 to rank 4 is not supported");
}

static void test_shape_ops(void **state)
{
    (void)state;
    model m;
    int64_t shape[2] = {1, -1}, pads[8] = {0, 0, 1, 2, 0, 0, 3, 4};
    int64_t st[1] = {1}, en[1] = {3}, ax[1] = {1}, st2[1] = {2}, en2[1] = {INT64_MAX},
            ax2[1] = {-1}, axes[2] = {2, 3};
    m_init(&m, 13);
    m_input(&m, "x", "1x4x6x6");
    m_ints(&m, "shape", 2, shape);
    m_ints(&m, "pads", 8, pads);
    m_ints(&m, "st", 1, st);
    m_ints(&m, "en", 1, en);
    m_ints(&m, "ax", 1, ax);
    m_ints(&m, "st2", 1, st2);
    m_ints(&m, "en2", 1, en2);
    m_ints(&m, "ax2", 1, ax2);
    m_ints(&m, "axes", 2, axes);
    m_weight(&m, "sc", "4");
    m_node(&m, "BatchNormalization", "bn", "x sc sc sc sc", "b", NULL);
    m_node(&m, "Pad", "pad", "b pads", "p", NULL);
    m_node(&m, "Transpose", "tr", "b", "t", "perm=0,2,3,1");
    m_node(&m, "Slice", "sl", "b st en ax", "s", NULL);
    m_node(&m, "Slice", "sl2", "s st2 en2 ax2", "s2", NULL);
    m_node(&m, "Concat", "cat", "b s s", "c", "axis=1");
    m_node(&m, "ReduceMean", "rm", "c", "r", "axes=2,3 keepdims=1");
    m_node(&m, "ReduceMean", "rm0", "c", "r0", "axes=-2,-1 keepdims=0");
    m_node(&m, "Flatten", "fl", "r", "f", NULL);
    m_node(&m, "Reshape", "rs", "t shape", "q", NULL);
    m_node(&m, "LRN", "lrn", "b", "l", "size=5");
    m_output(&m, "p", "1x4x10x12");
    m_output(&m, "s2", "1x2x6x4");
    m_output(&m, "f", "1x8");
    m_output(&m, "r0", "1x8");
    m_output(&m, "q", "1x144");
    m_output(&m, "l", "1x4x6x6");
    plan_graph *g = must_import(&m, 0);
    assert_int_equal(node(g, "bn")->layer.type, CLEAVE_LAYER_BN);
    const plan_node *pad = node(g, "pad");
    assert_int_equal(pad->layer.type, CLEAVE_LAYER_PAD);
    assert_true(pad->layer.pt == 1 && pad->layer.pl == 2 && pad->layer.pb == 3 &&
                pad->layer.pr == 4);
    const plan_node *tr = node(g, "tr");
    assert_int_equal(tr->layer.perm[1], 2);
    assert_shape(tensor(g, "t"), 1, 6, 6, 4);
    const plan_node *sl = node(g, "sl");
    assert_true(sl->layer.axis == 1 && sl->layer.start == 1 && sl->layer.end == 3);
    assert_shape(tensor(g, "s"), 1, 2, 6, 6);
    const plan_node *sl2 = node(g, "sl2"); /* ends = INT64_MAX clamps; axis -1 is w */
    assert_true(sl2->layer.axis == 3 && sl2->layer.start == 2 && sl2->layer.end == 6);
    const plan_node *cat = node(g, "cat");
    assert_int_equal(cat->layer.type, CLEAVE_LAYER_CONCAT);
    assert_int_equal(cat->layer.ninputs, 3);
    assert_true(cat->layer.cin[0] == 4 && cat->layer.cin[1] == 2 && cat->layer.cin[2] == 2);
    assert_int_equal(cat->ninputs, 3);
    assert_int_equal(tensor(g, "s")->nconsumers, 2); /* sl2 and cat, each once */
    assert_shape(tensor(g, "c"), 1, 8, 6, 6);
    assert_int_equal(node(g, "rm")->layer.global, 1);
    assert_int_equal(node(g, "rm0")->layer.global, 1);
    assert_int_equal(tensor(g, "r0")->rank, 2);
    const plan_node *fl = node(g, "fl");
    assert_int_equal(fl->layer.type, CLEAVE_LAYER_RESHAPE);
    assert_true(fl->flags & PLAN_NODE_ZERO_COST);
    assert_true(macs_of(fl) == 0.0);
    assert_int_equal(node(g, "lrn")->layer.size, 5);
    assert_int_equal(plan_graph_count_flag(g, PLAN_NODE_ZERO_COST), 2);
    plan_graph_destroy(g);
}

static void test_shape_op_errors(void **state)
{
    (void)state;
    model m;
    int64_t axes[1] = {1};
    m_init(&m, 13);
    m_input(&m, "x", "1x4x6x6");
    m_node(&m, "Concat", "cat", "x x", "c", "axis=2");
    m_output(&m, "c", "1x4x12x6");
    must_fail(&m, 0, CLEAVE_EUNSUPPORTED,
              "node 'cat': Concat along axis 2 is not supported (only channels, axis 1)");

    m_init(&m, 13);
    m_input(&m, "x", "1x4x6x6");
    m_node(&m, "ReduceMean", "rm", "x", "r", "axes=1L");
    m_output(&m, "r", "1x1x6x6");
    must_fail(&m, 0, CLEAVE_EUNSUPPORTED,
              "node 'rm': ReduceMean over axes other than the spatial ones is not supported");

    m_init(&m, 18); /* opset 18: axes as an input */
    m_input(&m, "x", "1x4x6x6");
    m_ints(&m, "axes", 1, axes);
    m_node(&m, "ReduceMean", "rm", "x axes", "r", NULL);
    m_output(&m, "r", "1x1x6x6");
    must_fail(&m, 0, CLEAVE_EUNSUPPORTED,
              "node 'rm': ReduceMean over axes other than the spatial ones is not supported");
}

static void test_recurrent(void **state)
{
    (void)state;
    model m;
    m_init(&m, 14);
    m_input(&m, "x", "5x1x8");
    m_weight(&m, "W", "2x64x8");
    m_weight(&m, "R", "2x64x16");
    m_weight(&m, "B", "2x128");
    m_weight(&m, "Wg", "1x48x32");
    m_weight(&m, "Rg", "1x48x16");
    m_weight(&m, "Wr", "1x16x32");
    m_weight(&m, "Rr", "1x16x16");
    m_ints(&m, "shape", 3, (const int64_t[]){5, 1, 32});
    m_node(&m, "LSTM", "lstm", "x W R B", "Y", "hidden_size=16 direction=bidirectional");
    m_node(&m, "Reshape", "rs", "Y shape", "y2", NULL);
    m_node(&m, "GRU", "gru", "y2 Wg Rg", "- Yh", "hidden_size=16");
    m_node(&m, "RNN", "rnn", "y2 Wr Rr", "Yr", "hidden_size=16");
    m_output(&m, "Yh", "1x1x16");
    m_output(&m, "Yr", "5x1x1x16");
    plan_graph *g = must_import(&m, 0);
    const plan_node *l = node(g, "lstm");
    assert_int_equal(l->layer.type, CLEAVE_LAYER_LSTM);
    assert_true(l->layer.t == 5 && l->layer.n == 1 && l->layer.c == 8 && l->layer.k == 16);
    assert_int_equal(l->layer.dirs, 2);
    assert_int_equal(l->layer.bias, 1);
    assert_shape(tensor(g, "Y"), 5, 2, 1, 16);
    const plan_node *gr = node(g, "gru");
    assert_int_equal(gr->layer.type, CLEAVE_LAYER_GRU);
    assert_string_equal(g->tensors[gr->output].name, "Yh"); /* the output that is used */
    assert_int_equal(gr->layer.bias, 0);
    assert_int_equal(node(g, "rnn")->layer.type, CLEAVE_LAYER_RNN);
    plan_graph_destroy(g);

    m_init(&m, 14);
    m_input(&m, "x", "5x1x8");
    m_weight(&m, "W", "1x64x8");
    m_weight(&m, "R", "1x64x16");
    m_node(&m, "LSTM", "l", "x W R", "Y Yh", "hidden_size=16");
    m_node(&m, "Relu", "r1", "Y", "a", NULL);
    m_node(&m, "Relu", "r2", "Yh", "b", NULL);
    m_output(&m, "a", "5x1x1x16");
    m_output(&m, "b", "1x1x16");
    must_fail(&m, 0, CLEAVE_EUNSUPPORTED,
              "node 'l': outputs 'Y' and 'Yh' are both used; one output per node is supported");
}

static void test_argmax(void **state)
{
    (void)state;
    model m;
    m_init(&m, 13);
    m_input(&m, "x", "2x10");
    m_node(&m, "ArgMax", "am", "x", "y", "axis=1 keepdims=0");
    m_output(&m, "y", "2");
    plan_graph *g = must_import(&m, 0);
    assert_int_equal(node(g, "am")->layer.type, CLEAVE_LAYER_ARGMAX);
    assert_int_equal(node(g, "am")->layer.axis, 1);
    plan_graph_destroy(g);
}

static void test_unknown_op(void **state)
{
    (void)state;
    model m;
    for (int fallback = 0; fallback < 2; fallback++) {
        m_init(&m, 13);
        m_input(&m, "x", "1x3x8x8");
        m_input(&m, "grid", "1x8x8x2");
        m_node(&m, "Relu", "r", "x", "a", NULL);
        m_node(&m, "GridSample", "gs", "a grid", "b", NULL);
        m_node(&m, "Relu", "r2", "b", "y", NULL);
        m_vi(&m, "b", "1x3x8x8");
        m_output(&m, "y", "1x3x8x8");
        if (!fallback) {
            must_fail(&m, 0, CLEAVE_EUNSUPPORTED, "node 'gs': unsupported op 'GridSample'");
            continue;
        }
        plan_graph *g = must_import(&m, PLAN_ONNX_FALLBACK);
        const plan_node *gs = node(g, "gs");
        assert_true(gs->flags & PLAN_NODE_UNKNOWN);
        assert_int_equal(gs->ninputs, 2);
        assert_int_equal(gs->in_bytes, 4 * (192 + 128));
        assert_int_equal(gs->out_bytes, 4 * 192);
        assert_int_equal(plan_graph_count_flag(g, PLAN_NODE_UNKNOWN), 1);
        plan_graph_destroy(g);
    }

    /* Another domain, and a supported op with an unsupported attribute under fallback. */
    m_init(&m, 13);
    m_input(&m, "x", "1x3x8x8");
    pb n = {0};
    pb_str(&n, 1, "x");
    pb_str(&n, 2, "y");
    pb_str(&n, 3, "fg");
    pb_str(&n, 4, "FastGelu");
    pb_str(&n, 7, "com.microsoft");
    pb_msg(&m.graph, 1, &n);
    m_output(&m, "y", "1x3x8x8");
    must_fail(&m, 0, CLEAVE_EUNSUPPORTED,
              "node 'fg': unsupported op 'FastGelu' (domain 'com.microsoft')");

    m_init(&m, 13);
    m_input(&m, "x", "1x4x6x6");
    m_node(&m, "Concat", "cat", "x x", "c", "axis=2");
    m_output(&m, "c", "1x4x12x6");
    plan_graph *g = must_import(&m, PLAN_ONNX_FALLBACK);
    assert_true(node(g, "cat")->flags & PLAN_NODE_UNKNOWN);
    plan_graph_destroy(g);
}

/* ---- bad input ---------------------------------------------------------------------------------
 */

static void test_missing_shapes(void **state)
{
    (void)state;
    model m;
    m_init(&m, 13);
    m_input(&m, "x", "1x3x8x8");
    m_node(&m, "Squeeze", "sq", "x", "y", NULL);
    m_node(&m, "Relu", "r", "y", "z", NULL);
    m_output(&m, "z", "");
    must_fail(&m, 0, CLEAVE_EPARSE, "node 'sq': output 'y' has no static shape");

    m_init(&m, 13);
    m_input(&m, "x", "");
    m_node(&m, "Relu", "r", "x", "y", NULL);
    m_output(&m, "y", "1x3");
    must_fail(&m, 0, CLEAVE_EPARSE, "input 'x' has no static shape");

    m_init(&m, 13);
    m_input(&m, "x", "batchx3x8x8");
    m_node(&m, "Relu", "r", "x", "y", NULL);
    m_output(&m, "y", "batchx3x8x8");
    must_fail(&m, 0, CLEAVE_EPARSE, "input 'x' has a symbolic dimension 'batch'");

    /* Nodes out of order without value_info: the reader has no shape yet. */
    m_init(&m, 13);
    m_input(&m, "x", "1x3");
    m_node(&m, "Relu", "r2", "a", "y", NULL);
    m_node(&m, "Relu", "r1", "x", "a", NULL);
    m_output(&m, "y", "1x3");
    must_fail(&m, 0, CLEAVE_EPARSE, "node 'r2': input 'a' has no static shape");
}

static void test_bad_sizes(void **state)
{
    (void)state;
    model m;
    m_init(&m, 13);
    m_input(&m, "x", "1x0x8x8");
    m_node(&m, "Relu", "r", "x", "y", NULL);
    m_output(&m, "y", "1x0x8x8");
    must_fail(&m, 0, CLEAVE_EINVAL, "tensor 'x' has zero size (1x0x8x8)");

    m_init(&m, 13);
    m_input(&m, "x", "1x3x8x8");
    m_node(&m, "Relu", "r", "x", "y", NULL);
    m_output(&m, "y", "1x3x-8x8");
    must_fail(&m, 0, CLEAVE_EINVAL, "tensor 'y' has a negative dimension (1x3x-8x8)");

    m_init(&m, 13);
    m_input(&m, "x", "1x3x2199023255552x8");
    m_node(&m, "Relu", "r", "x", "y", NULL);
    m_output(&m, "y", "1x3x2199023255552x8");
    must_fail(&m, 0, CLEAVE_EINVAL, "tensor 'x' is too large (1x3x2199023255552x8)");

    m_init(&m, 13);
    m_input(&m, "x", "1x3x8x8");
    m_weight(&m, "w", "8x3x100000x3");
    m_node(&m, "Conv", "c", "x w", "y", NULL);
    m_output(&m, "y", "1x8x1x6");
    must_fail(&m, 0, CLEAVE_EINVAL,
              "node 'c': kernel 100000x3 is larger than the padded input 8x8");

    m_init(&m, 13);
    m_input(&m, "x", "1x3x8x8");
    m_weight(&m, "w", "8x3x3x3");
    m_node(&m, "Conv", "c", "x w", "y", NULL);
    m_output(&m, "y", "1x8x8x8"); /* should be 6x6 */
    must_fail(&m, 0, CLEAVE_EINVAL,
              "node 'c': output 'y' has shape 1x8x8x8, the layer gives 1x8x6x6");

    m_init(&m, 13);
    m_input(&m, "x", "1x3x8x8");
    m_node(&m, "MaxPool", "p", "x", "y", "kernel_shape=2,2 strides=11111111111,1");
    m_output(&m, "y", "1x3x1x7");
    must_fail(&m, 0, CLEAVE_EINVAL,
              "node 'p': kernel, stride or dilation larger than 2147483648 is not supported");

    m_init(&m, 13);
    m_input(&m, "x", "1x3x8x8x2");
    m_node(&m, "Relu", "r", "x", "y", NULL);
    m_output(&m, "y", "1x3x8x8x2");
    must_fail(&m, 0, CLEAVE_EUNSUPPORTED, "input 'x' has rank 5; 1 to 4 dimensions are supported");
}

static void test_bad_structure(void **state)
{
    (void)state;
    model m;
    /* A cycle: a reads y, which b writes from a's output. */
    m_init(&m, 13);
    m_input(&m, "x", "1x4");
    m_node(&m, "Add", "a", "x y", "z", NULL);
    m_node(&m, "Relu", "b", "z", "y", NULL);
    m_node(&m, "Relu", "c", "z", "out", NULL);
    m_vi(&m, "y", "1x4");
    m_vi(&m, "z", "1x4");
    m_output(&m, "out", "1x4");
    must_fail(&m, 0, CLEAVE_EINVAL, "graph has a cycle through node 'a'");

    /* No network input: everything reads a constant. */
    m_init(&m, 13);
    m_weight(&m, "w", "1x4");
    m_node(&m, "Relu", "r", "w", "y", NULL);
    m_output(&m, "y", "1x4");
    must_fail(&m, 0, CLEAVE_EINVAL, "graph has no input");

    m_init(&m, 13);
    m_input(&m, "x", "1x4");
    m_node(&m, "Add", "r", "x ghost", "y", NULL);
    m_output(&m, "y", "1x4");
    must_fail(&m, 0, CLEAVE_EINVAL,
              "node 'r': input 'ghost' is neither a network input nor the output of a node");

    m_init(&m, 13);
    m_input(&m, "x", "1x4");
    m_node(&m, "Relu", "r", "x", "y", NULL);
    m_output(&m, "nothing", "1x4");
    must_fail(&m, 0, CLEAVE_EINVAL, "output 'nothing' is not produced by any node");

    m_init(&m, 13);
    m_input(&m, "x", "1x4");
    must_fail(&m, 0, CLEAVE_EINVAL, "graph has no node");

    m_init(&m, 13);
    m_input(&m, "x", "1x4");
    m_node(&m, "Relu", "r", "x", "y", NULL);
    m_node(&m, "Relu", "r", "y", "z", NULL); /* a repeated node name gets a suffix */
    m_node(&m, "Relu", "", "z", "w", NULL);  /* no name: op and index */
    m_output(&m, "w", "1x4");
    plan_graph *g = must_import(&m, 0);
    assert_int_equal(plan_graph_find_node(g, "r#2"), 1);
    assert_int_equal(plan_graph_find_node(g, "Relu_2"), 2);
    plan_graph_destroy(g);
}

static void test_garbage(void **state)
{
    (void)state;
    char err[512];
    plan_graph *g = (plan_graph *)1;
    assert_int_equal(plan_onnx_read(&g, "", 0, 0, err, sizeof err), CLEAVE_EPARSE);
    assert_null(g);
    assert_string_equal(err, "empty ONNX model");
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(plan_onnx_read(&g, junk, sizeof junk, 0, err, sizeof err), CLEAVE_EPARSE);
    assert_string_equal(err, "cannot decode the ONNX model (truncated or not protobuf)");
    const uint8_t only_version[] = {0x08, 0x07};
    assert_int_equal(plan_onnx_read(&g, only_version, 2, 0, err, sizeof err), CLEAVE_EPARSE);
    assert_string_equal(err, "model has no graph");
    assert_int_equal(plan_onnx_load(&g, "/nonexistent/x.onnx", 0, err, sizeof err), CLEAVE_EIO);
    assert_string_equal(err, "cannot open '/nonexistent/x.onnx': No such file or directory");

    /* Deep nesting: graph -> node -> attribute -> graph -> ... 200 levels. */
    pb inner = {0};
    pb_str(&inner, 2, "leaf");
    for (int i = 0; i < 200; i++) {
        pb attrp = {0}, nodep = {0}, graph = {0};
        pb_str(&attrp, 1, "body");
        pb_msg(&attrp, 6, &inner);
        pb_str(&nodep, 4, "Loop");
        pb_msg(&nodep, 5, &attrp);
        pb_msg(&graph, 1, &nodep);
        inner = graph;
    }
    pb model_pb = {0};
    pb_msg(&model_pb, 7, &inner);
    assert_int_equal(plan_onnx_read(&g, model_pb.p, model_pb.len, 0, err, sizeof err),
                     CLEAVE_EPARSE);
    assert_string_equal(err, "cannot decode the ONNX model: messages nested deeper than 64");
    free(model_pb.p);
}

/* Every prefix of a small fixture: a failure with a message, or (cut after the graph field)
** the same graph. */
static void test_truncated(void **state)
{
    (void)state;
    char path[512], err[512];
    size_t len;
    snprintf(path, sizeof path, "%s/data/models/alexnet.onnx", CLEAVE_SRC_DIR);
    char *full = read_all(path, &len);
    assert_non_null(full);
    int ok = 0;
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
        memcpy(copy, full, n);
        plan_graph *g = NULL;
        err[0] = '\0';
        cleave_status rc = plan_onnx_read(&g, copy, n, 0, err, sizeof err);
        if (rc == CLEAVE_OK) {
            assert_int_equal(g->nnodes, 20);
            ok++;
        } else {
            assert_null(g);
            assert_true(err[0] != '\0');
        }
        plan_graph_destroy(g);
        free(copy);
    }
    assert_true(ok < 200); /* only cuts inside the trailing metadata keep the graph */
    free(full);
}

/* Random bytes and random byte mutations of a fixture: never a crash; failures explain. */
static void test_random_bytes(void **state)
{
    (void)state;
    char path[512], err[512];
    size_t len;
    uint64_t seed = 12345;
    snprintf(path, sizeof path, "%s/data/models/resnet18.onnx", CLEAVE_SRC_DIR);
    char *full = read_all(path, &len);
    assert_non_null(full);
    int imported = 0;
    for (int round = 0; round < 3000; round++) {
        size_t n;
        uint8_t *buf;
        if (round < 1000) {
            n = cl_rng_next(&seed) % 512;
            buf = malloc(n ? n : 1);
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)cl_rng_next(&seed);
        } else {
            n = len;
            buf = malloc(n);
            memcpy(buf, full, n);
            int flips = 1 + (int)(cl_rng_next(&seed) % 4);
            for (int k = 0; k < flips; k++)
                buf[cl_rng_next(&seed) % n] = (uint8_t)cl_rng_next(&seed);
        }
        plan_graph *g = NULL;
        err[0] = '\0';
        cleave_status rc =
            plan_onnx_read(&g, buf, n, round & 1 ? PLAN_ONNX_FALLBACK : 0, err, sizeof err);
        if (rc == CLEAVE_OK) {
            assert_true(g->finished && g->nnodes > 0);
            imported++;
        } else {
            assert_null(g);
            assert_true(err[0] != '\0');
        }
        plan_graph_destroy(g);
        free(buf);
    }
    assert_true(imported > 0); /* many mutations hit weight dims or names only */
    free(full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zoo_matches_summaries),
        cmocka_unit_test(test_zoo_layers),
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_exits_metadata),
        cmocka_unit_test(test_conv_transpose),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_fc),
        cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_shape_ops),
        cmocka_unit_test(test_shape_op_errors),
        cmocka_unit_test(test_recurrent),
        cmocka_unit_test(test_argmax),
        cmocka_unit_test(test_unknown_op),
        cmocka_unit_test(test_missing_shapes),
        cmocka_unit_test(test_bad_sizes),
        cmocka_unit_test(test_bad_structure),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_random_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
