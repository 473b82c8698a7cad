/*
** runtime/coinfer.c - the plan document, the end and edge roles of a split inference.
*/
#include "runtime/coinfer.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "profiler/timing.h"
#include "runtime/wire.h"

#define HELLO_HEAD 44

/* ---- the plan document ------------------------------------------------------------------ */

void rt_plan_release(rt_plan *p)
{
    if (p) {
        free(p->on_edge);
        p->on_edge = NULL;
    }
}

/* Recompute the plan's cost from the document's node and tensor costs (the cost model of
** docs/plan-json.md, as tests/cli/t-plan.sh re-checks it). */
static void plan_costs(rt_plan *p, json_t *nodes, json_t *tensors, const plan_graph *g)
{
    size_t nn = json_array_size(nodes), nt = json_array_size(tensors);
    p->has_costs = nn == (size_t)g->nnodes && nt > 0;
    for (size_t i = 0; i < nn && p->has_costs; i++) {
        json_t *e = json_object_get(json_array_get(nodes, i), "end_us");
        json_t *d = json_object_get(json_array_get(nodes, i), "edge_us");
        if (!json_is_number(e) || !json_is_number(d)) {
            p->has_costs = 0;
            break;
        }
        if (p->on_edge[g->order[i]])
            p->edge_us += json_number_value(d);
        else
            p->end_us += json_number_value(e);
    }
    for (size_t t = 0; t < nt && p->has_costs; t++) {
        json_t *x = json_array_get(tensors, t);
        json_t *prod = json_object_get(x, "producer"), *cons = json_object_get(x, "consumers");
        json_t *up = json_object_get(x, "up_us"), *down = json_object_get(x, "down_us");
        if (!json_is_integer(prod) || !json_is_array(cons) || !json_is_number(up) ||
            !json_is_number(down)) {
            p->has_costs = 0;
            break;
        }
        json_int_t pi = json_integer_value(prod);
        int side = pi >= 0 && pi < g->nnodes ? p->on_edge[g->order[pi]] : 0;
        int need_up = 0, need_down = json_is_true(json_object_get(x, "output")) && side;
        for (size_t k = 0; k < json_array_size(cons); k++) {
            json_int_t c = json_integer_value(json_array_get(cons, k));
            if (c < 0 || c >= g->nnodes)
                continue;
            int cs = p->on_edge[g->order[c]];
            need_up |= !side && cs;
            need_down |= side && !cs;
        }
        if (need_up) {
            p->up_us += json_number_value(up);
            p->up_tensors++;
        }
        if (need_down) {
            p->down_us += json_number_value(down);
            p->down_tensors++;
        }
    }
    if (p->has_costs)
        p->total_us = p->end_us + p->edge_us + p->up_us + p->down_us;
}

cleave_status rt_plan_read(rt_plan *out, const char *path, const char *algo, const plan_graph *g,
                           char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = NULL, *chosen = NULL;
    cleave_status rc = CLEAVE_EPARSE;
    memset(out, 0, sizeof *out);
    out->doc_total_us = NAN;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
        return CLEAVE_EIO;
    }
    root = json_loadf(f, 0, &je);
    fclose(f);
    if (!root) {
        snprintf(err, errlen, "'%s' is not JSON: %s (line %d)", path, je.text, je.line);
        return CLEAVE_EPARSE;
    }
    json_t *plans = json_object_get(root, "plans");
    if (!json_is_array(plans)) {
        snprintf(err, errlen, "'%s' has no \"plans\" array (expected `cleave plan --json` output)",
                 path);
        goto done;
    }
    char have[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < json_array_size(plans); i++) {
        const char *a = json_string_value(json_object_get(json_array_get(plans, i), "algo"));
        if (a && strcmp(a, algo) == 0 && !chosen)
            chosen = json_array_get(plans, i);
        if (a && used < sizeof have)
            used += (size_t)snprintf(have + used, sizeof have - used, "%s%s", used ? ", " : "", a);
    }
    if (!chosen) {
        snprintf(err, errlen, "'%s' has no plan '%s' (it has: %s)", path, algo,
                 used ? have : "none");
        goto done;
    }
    /* The node list, when present, must be the model's, in the model's order. */
    json_t *nodes = json_object_get(root, "nodes");
    if (json_is_array(nodes)) {
        if (json_array_size(nodes) != (size_t)g->nnodes) {
            snprintf(err, errlen, "'%s' does not match the model: it has %zu nodes, the model %d",
                     path, json_array_size(nodes), g->nnodes);
            rc = CLEAVE_EINVAL;
            goto done;
        }
        for (int i = 0; i < g->nnodes; i++) {
            const char *nm = json_string_value(json_object_get(json_array_get(nodes, i), "name"));
            if (!nm || strcmp(nm, g->nodes[g->order[i]].name) != 0) {
                snprintf(err, errlen,
                         "'%s' does not match the model: node %d is '%s' in the plan, '%s' in "
                         "the model",
                         path, i, nm ? nm : "?", g->nodes[g->order[i]].name);
                rc = CLEAVE_EINVAL;
                goto done;
            }
        }
    }
    json_t *edge = json_object_get(chosen, "edge_nodes");
    if (!json_is_array(edge)) {
        snprintf(err, errlen, "'%s': plan '%s' has no \"edge_nodes\" array", path, algo);
        goto done;
    }
    out->on_edge = calloc((size_t)g->nnodes, 1);
    if (!out->on_edge) {
        snprintf(err, errlen, "out of memory");
        rc = CLEAVE_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < json_array_size(edge); i++) {
        const char *nm = json_string_value(json_array_get(edge, i));
        int id = nm ? plan_graph_find_node(g, nm) : -1;
        if (id < 0) {
            snprintf(err, errlen, "'%s': edge node '%s' is not in the model", path,
                     nm ? nm : "(not a string)");
            rc = CLEAVE_EINVAL;
            goto done;
        }
        out->on_edge[id] = 1;
    }
    for (int i = 0; i < g->nnodes; i++)
        out->segments += out->on_edge[g->order[i]] && (i == 0 || !out->on_edge[g->order[i - 1]]);
    json_t *tot = json_object_get(chosen, "total_us");
    if (json_is_number(tot))
        out->doc_total_us = json_number_value(tot);
    plan_costs(out, nodes, json_object_get(root, "tensors"), g);
    rc = CLEAVE_OK;
done:
    json_decref(root);
    if (rc != CLEAVE_OK)
        rt_plan_release(out);
    return rc;
}

/* ---- sockets ---------------------------------------------------------------------------- */

/* Split "host:port" (or "[v6]:port") into HOST and PORT. */
static int split_addr(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || !colon[1] || (size_t)(colon - addr) >= hostlen ||
        strlen(colon + 1) >= portlen)
        return -1;
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, portlen, "%s", colon + 1);
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    return 0;
}

static void tune_socket(int fd, int recv_timeout_s)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (recv_timeout_s > 0) {
        struct timeval tv = {recv_timeout_s, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
}

cleave_status rt_listen(int *fd, const char *addr, char *bound, size_t boundlen, char *err,
                        size_t errlen)
{
    char host[256], port[16];
    struct addrinfo hints, *res = NULL;
    *fd = -1;
    if (split_addr(addr, host, sizeof host, port, sizeof port) != 0) {
        snprintf(err, errlen, "bad address '%s' (expected HOST:PORT)", addr);
        return CLEAVE_EINVAL;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gr = getaddrinfo(host, port, &hints, &res);
    if (gr != 0) {
        snprintf(err, errlen, "cannot listen on '%s': %s", addr, gai_strerror(gr));
        return CLEAVE_EIO;
    }
    int s = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    int one = 1;
    if (s >= 0)
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (s < 0 || bind(s, res->ai_addr, res->ai_addrlen) != 0 || listen(s, 8) != 0) {
        snprintf(err, errlen, "cannot listen on '%s': %s", addr, strerror(errno));
        if (s >= 0)
            close(s);
        freeaddrinfo(res);
        return CLEAVE_EIO;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char h[128] = "?", p[16] = "?";
    if (getsockname(s, (struct sockaddr *)&ss, &sl) == 0)
        getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, p, sizeof p,
                    NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(bound, boundlen, strchr(h, ':') ? "[%s]:%s" : "%s:%s", h, p);
    *fd = s;
    return CLEAVE_OK;
}

static cleave_status dial(int *fd, const char *addr, char *err, size_t errlen)
{
    char host[256], port[16];
    struct addrinfo hints, *res = NULL;
    *fd = -1;
    if (split_addr(addr, host, sizeof host, port, sizeof port) != 0) {
        snprintf(err, errlen, "bad address '%s' (expected HOST:PORT)", addr);
        return CLEAVE_EINVAL;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gr = getaddrinfo(host, port, &hints, &res);
    if (gr != 0) {
        snprintf(err, errlen, "cannot connect to '%s': %s", addr, gai_strerror(gr));
        return CLEAVE_EIO;
    }
    int e = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int s = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (s < 0) {
            e = errno;
            continue;
        }
        if (connect(s, a->ai_addr, a->ai_addrlen) == 0) {
            *fd = s;
            break;
        }
        e = errno;
        close(s);
    }
    freeaddrinfo(res);
    if (*fd < 0) {
        snprintf(err, errlen, "cannot connect to '%s': %s", addr, strerror(e));
        return CLEAVE_EIO;
    }
    return CLEAVE_OK;
}

static uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static double bitsd(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Whether MODEL[0..LEN) is the text format rather than ONNX (binary protobuf). */
static int looks_like_text(const unsigned char *m, size_t len)
{
    for (size_t i = 0; i < len && i < 4096; i++)
        if (m[i] < 0x09 || (m[i] > 0x0d && m[i] < 0x20))
            return 0;
    return 1;
}

/* ---- the end role ----------------------------------------------------------------------- */

struct rt_end {
    const plan_graph *g;
    unsigned char *on_edge;
    rt_exec *x;
    rt_conn c;
    rt_frame f;
    unsigned char *sent;        /* ntensors: uploaded in this inference */
    unsigned char *want;        /* ntensors: requested back in this segment */
    unsigned char *wanted_back; /* ntensors: edge-produced and read on the end */
    uint32_t *ids;              /* ntensors */
};

cleave_status rt_end_open(rt_end **out, const char *addr, const plan_graph *g, const void *model,
                          size_t len, unsigned flags, const unsigned char *on_edge, int threads,
                          uint64_t seed, const rt_link *link, int recv_timeout_s, char *err,
                          size_t errlen)
{
    cleave_status rc = CLEAVE_ENOMEM;
    unsigned char *hello = NULL;
    rt_end *e = calloc(1, sizeof *e);
    *out = NULL;
    if (!e)
        goto nomem;
    e->g = g;
    e->c.fd = -1;
    e->on_edge = malloc((size_t)g->nnodes);
    e->sent = calloc((size_t)g->ntensors, 1);
    e->want = calloc((size_t)g->ntensors, 1);
    e->wanted_back = calloc((size_t)g->ntensors, 1);
    e->ids = calloc((size_t)g->ntensors, sizeof *e->ids);
    unsigned char *mine = malloc((size_t)g->nnodes);
    if (!e->on_edge || !e->sent || !e->want || !e->wanted_back || !e->ids || !mine) {
        free(mine);
        goto nomem;
    }
    memcpy(e->on_edge, on_edge, (size_t)g->nnodes);
    for (int i = 0; i < g->nnodes; i++)
        mine[i] = !on_edge[i];
    /* Tensors the end needs back from the edge: produced there, read here or a network output. */
    for (int t = 0; t < g->ntensors; t++) {
        const plan_tensor *pt = &g->tensors[t];
        if (pt->producer < 0 || !on_edge[pt->producer])
            continue;
        int need = pt->is_output;
        for (int k = 0; k < pt->nconsumers; k++)
            need |= !on_edge[pt->consumers[k]];
        e->wanted_back[t] = (unsigned char)need;
    }
    rc = rt_exec_create(&e->x, g, mine, threads, seed, err, errlen);
    free(mine);
    if (rc != CLEAVE_OK)
        goto fail;
    int fd;
    if ((rc = dial(&fd, addr, err, errlen)) != CLEAVE_OK)
        goto fail;
    tune_socket(fd, recv_timeout_s);
    rt_conn_init(&e->c, fd, link ? link->up_mbps : 0, link ? link->rtt_ms : 0);

    /* HELLO: the session parameters, the placement and the model itself. */
    size_t hl = HELLO_HEAD + (size_t)g->nnodes;
    hello = calloc(hl, 1);
    if (!hello)
        goto nomem;
    rt_put_u32(hello, RT_WIRE_VERSION);
    rt_put_u32(hello + 4, (uint32_t)threads);
    rt_put_u64(hello + 8, seed);
    rt_put_u32(hello + 16, flags);
    rt_put_u32(hello + 20, (uint32_t)g->nnodes);
    rt_put_u64(hello + 24, dbits(link ? link->down_mbps : 0));
    rt_put_u64(hello + 32, dbits(link ? link->rtt_ms : 0));
    rt_put_u32(hello + 40, (uint32_t)len);
    memcpy(hello + HELLO_HEAD, on_edge, (size_t)g->nnodes);
    if ((rc = rt_send_frame(&e->c, RT_FRAME_HELLO, hello, hl, model, len, err, errlen)) !=
        CLEAVE_OK)
        goto fail;
    if ((rc = rt_recv_frame(&e->c, &e->f, err, errlen)) != CLEAVE_OK)
        goto fail;
    if (e->f.type != RT_FRAME_READY) {
        snprintf(err, errlen, "edge answered the hello with a '%s' frame, not 'ready'",
                 rt_frame_name(e->f.type));
        rc = CLEAVE_EPARSE;
        goto fail;
    }
    free(hello);
    *out = e;
    return CLEAVE_OK;
nomem:
    snprintf(err, errlen, "out of memory");
    rc = CLEAVE_ENOMEM;
fail:
    free(hello);
    rt_end_close(e);
    return rc;
}

rt_exec *rt_end_exec(rt_end *e)
{
    return e->x;
}

void rt_end_close(rt_end *e)
{
    if (!e)
        return;
    if (e->c.fd >= 0) {
        char ignored[64];
        rt_send_frame(&e->c, RT_FRAME_BYE, NULL, 0, NULL, 0, ignored, sizeof ignored);
        close(e->c.fd);
    }
    rt_exec_destroy(e->x);
    free(e->f.buf);
    free(e->on_edge);
    free(e->sent);
    free(e->want);
    free(e->wanted_back);
    free(e->ids);
    free(e);
}

/* Put the tensor in frame F into X's buffer for it, checking it against the graph: a known id,
** the graph's shape. */
static cleave_status take_tensor(rt_exec *x, const plan_graph *g, const rt_frame *f, int *id,
                                 char *err, size_t errlen)
{
    int64_t dims[4];
    const float *data;
    size_t n;
    cleave_status rc = rt_tensor_decode(f, id, dims, &data, &n, err, errlen);
    if (rc != CLEAVE_OK)
        return rc;
    if (*id < 0 || *id >= g->ntensors) {
        snprintf(err, errlen, "tensor %d is not in the model (it has %d tensors)", *id,
                 g->ntensors);
        return CLEAVE_EPARSE;
    }
    const plan_tensor *t = &g->tensors[*id];
    if (memcmp(dims, t->shape.d, sizeof dims) != 0) {
        snprintf(err, errlen,
                 "tensor '%s': shape %lldx%lldx%lldx%lld on the wire, %lldx%lldx%lldx%lld in the "
                 "model",
                 t->name, (long long)dims[0], (long long)dims[1], (long long)dims[2],
                 (long long)dims[3], (long long)t->shape.d[0], (long long)t->shape.d[1],
                 (long long)t->shape.d[2], (long long)t->shape.d[3]);
        return CLEAVE_EPARSE;
    }
    float *dst = rt_exec_tensor(x, *id, NULL);
    if (!dst) {
        snprintf(err, errlen, "tensor '%s': cannot take its buffer", t->name);
        return CLEAVE_EBACKEND;
    }
    memcpy(dst, data, n * sizeof *data);
    return CLEAVE_OK;
}

static cleave_status send_tensor(rt_conn *c, rt_exec *x, const plan_graph *g, int t, char *err,
                                 size_t errlen)
{
    size_t n;
    const float *d = rt_exec_tensor(x, t, &n);
    if (!d) {
        snprintf(err, errlen, "tensor '%s': cannot read it back from its kernel",
                 g->tensors[t].name);
        return CLEAVE_EBACKEND;
    }
    return rt_send_tensor(c, t, g->tensors[t].shape.d, d, n, err, errlen);
}

cleave_status rt_end_infer(rt_end *e, rt_end_stats *st, char *err, size_t errlen)
{
    const plan_graph *g = e->g;
    cleave_status rc = CLEAVE_OK;
    memset(st, 0, sizeof *st);
    memset(e->sent, 0, (size_t)g->ntensors);
    uint64_t up0 = e->c.sent_bytes, down0 = e->c.recv_bytes;
    rt_exec_fill_inputs(e->x);
    uint64_t t0 = prof_now_ns();
    for (int pos = 0; pos < g->nnodes && rc == CLEAVE_OK;) {
        int id = g->order[pos];
        if (!e->on_edge[id]) {
            double us;
            rc = rt_exec_run_node(e->x, id, &us, err, errlen);
            st->end_us += us;
            pos++;
            continue;
        }
        int end = pos;
        while (end < g->nnodes && e->on_edge[g->order[end]])
            end++;
        /* Upload what the segment reads from the end side, once per inference. */
        rt_conn_burst(&e->c);
        uint32_t nwant = 0;
        memset(e->want, 0, (size_t)g->ntensors);
        for (int k = pos; k < end && rc == CLEAVE_OK; k++) {
            const plan_node *n = &g->nodes[g->order[k]];
            for (int i = 0; i < n->ninputs && rc == CLEAVE_OK; i++) {
                int t = n->inputs[i], prod = g->tensors[t].producer;
                if ((prod < 0 || !e->on_edge[prod]) && !e->sent[t]) {
                    rc = send_tensor(&e->c, e->x, g, t, err, errlen);
                    e->sent[t] = 1;
                }
            }
            if (e->wanted_back[n->output]) {
                e->want[n->output] = 1;
                e->ids[nwant++] = (uint32_t)n->output;
            }
        }
        if (rc != CLEAVE_OK)
            break;
        unsigned char *run = malloc(12 + 4 * (size_t)nwant);
        if (!run) {
            snprintf(err, errlen, "out of memory");
            rc = CLEAVE_ENOMEM;
            break;
        }
        rt_put_u32(run, (uint32_t)pos);
        rt_put_u32(run + 4, (uint32_t)end);
        rt_put_u32(run + 8, nwant);
        for (uint32_t k = 0; k < nwant; k++)
            rt_put_u32(run + 12 + 4 * k, e->ids[k]);
        rc = rt_send_frame(&e->c, RT_FRAME_RUN, run, 12 + 4 * (size_t)nwant, NULL, 0, err, errlen);
        free(run);
        /* The answer: the wanted tensors, each once, then DONE. */
        uint32_t got = 0;
        while (rc == CLEAVE_OK) {
            if ((rc = rt_recv_frame(&e->c, &e->f, err, errlen)) != CLEAVE_OK)
                break;
            if (e->f.type == RT_FRAME_DONE && e->f.len == 8) {
                st->edge_us += bitsd(rt_get_u64(e->f.buf));
                break;
            }
            if (e->f.type != RT_FRAME_TENSOR) {
                snprintf(err, errlen, "edge sent a '%s' frame during a segment",
                         rt_frame_name(e->f.type));
                rc = CLEAVE_EPARSE;
                break;
            }
            int t;
            if ((rc = take_tensor(e->x, g, &e->f, &t, err, errlen)) != CLEAVE_OK)
                break;
            if (!e->want[t]) {
                snprintf(err, errlen, "edge sent tensor '%s', which was not asked for",
                         g->tensors[t].name);
                rc = CLEAVE_EPARSE;
                break;
            }
            e->want[t] = 0;
            got++;
        }
        if (rc == CLEAVE_OK && got != nwant) {
            snprintf(err, errlen, "edge finished nodes %d..%d without returning %u of %u tensors",
                     pos, end - 1, nwant - got, nwant);
            rc = CLEAVE_EPARSE;
        }
        st->rounds++;
        pos = end;
    }
    st->wall_us = (double)(prof_now_ns() - t0) / 1e3;
    st->comm_us = st->wall_us - st->end_us - st->edge_us;
    st->up_bytes = e->c.sent_bytes - up0;
    st->down_bytes = e->c.recv_bytes - down0;
    return rc;
}

/* ---- the edge role ---------------------------------------------------------------------- */

/* The session after HELLO: import, prepare, READY, then RUN/TENSOR until BYE. */
static cleave_status edge_serve(rt_conn *c, rt_frame *f, rt_session_report *rep, char *err,
                                size_t errlen)
{
    plan_graph *g = NULL;
    rt_exec *x = NULL;
    cleave_status rc = CLEAVE_EPARSE;
    const unsigned char *p = f->buf;
    if (f->type != RT_FRAME_HELLO) {
        snprintf(err, errlen, "expected a 'hello' frame, got '%s'", rt_frame_name(f->type));
        return CLEAVE_EPARSE;
    }
    if (f->len < HELLO_HEAD) {
        snprintf(err, errlen, "hello frame of %u bytes is shorter than its %d-byte header",
                 (unsigned)f->len, HELLO_HEAD);
        return CLEAVE_EPARSE;
    }
    uint32_t version = rt_get_u32(p), threads = rt_get_u32(p + 4), flags = rt_get_u32(p + 16);
    uint32_t nnodes = rt_get_u32(p + 20), mlen = rt_get_u32(p + 40);
    uint64_t seed = rt_get_u64(p + 8);
    double down = bitsd(rt_get_u64(p + 24)), rtt = bitsd(rt_get_u64(p + 32));
    if (version != RT_WIRE_VERSION) {
        snprintf(err, errlen, "end speaks wire version %u, this edge %d", (unsigned)version,
                 RT_WIRE_VERSION);
        return CLEAVE_EPARSE;
    }
    if (threads < 1 || threads > 1024 || !(down >= 0) || !(rtt >= 0) || !isfinite(down) ||
        !isfinite(rtt) || (uint64_t)HELLO_HEAD + nnodes + mlen != f->len) {
        snprintf(err, errlen,
                 "malformed hello frame (threads %u, %u nodes, model of %u bytes "
                 "in %u bytes)",
                 (unsigned)threads, (unsigned)nnodes, (unsigned)mlen, (unsigned)f->len);
        return CLEAVE_EPARSE;
    }
    const unsigned char *model = p + HELLO_HEAD + nnodes;
    if (looks_like_text(model, mlen))
        rc = plan_text_read(&g, (const char *)model, mlen, err, errlen);
    else
        rc = plan_onnx_read(&g, model, mlen, flags & PLAN_ONNX_FALLBACK, err, errlen);
    if (rc != CLEAVE_OK)
        return rc;
    snprintf(rep->model, sizeof rep->model, "%s", g->name);
    if ((uint32_t)g->nnodes != nnodes) {
        snprintf(err, errlen, "the model has %d nodes here, the end says %u", g->nnodes,
                 (unsigned)nnodes);
        rc = CLEAVE_EINVAL;
        goto done;
    }
    unsigned char *on_edge = malloc(nnodes ? nnodes : 1);
    if (!on_edge) {
        snprintf(err, errlen, "out of memory");
        rc = CLEAVE_ENOMEM;
        goto done;
    }
    for (uint32_t i = 0; i < nnodes; i++) {
        on_edge[i] = p[HELLO_HEAD + i] != 0;
        rep->nodes_here += on_edge[i];
    }
    rc = rt_exec_create(&x, g, on_edge, (int)threads, seed, err, errlen);
    free(on_edge);
    if (rc != CLEAVE_OK)
        goto done;
    c->rate_bps = down > 0 ? down * 1e6 : 0;
    c->delay_us = rtt > 0 ? rtt * 1e3 / 2 : 0;
    if ((rc = rt_send_frame(c, RT_FRAME_READY, NULL, 0, NULL, 0, err, errlen)) != CLEAVE_OK)
        goto done;
    for (;;) {
        if ((rc = rt_recv_frame(c, f, err, errlen)) != CLEAVE_OK)
            goto done;
        if (f->type == RT_FRAME_BYE)
            break;
        if (f->type == RT_FRAME_TENSOR) {
            int t;
            if ((rc = take_tensor(x, g, f, &t, err, errlen)) != CLEAVE_OK)
                goto done;
            continue;
        }
        if (f->type != RT_FRAME_RUN || f->len < 12) {
            snprintf(err, errlen, "unexpected '%s' frame of %u bytes", rt_frame_name(f->type),
                     (unsigned)f->len);
            rc = CLEAVE_EPARSE;
            goto done;
        }
        uint32_t from = rt_get_u32(f->buf), to = rt_get_u32(f->buf + 4);
        uint32_t nwant = rt_get_u32(f->buf + 8);
        if (from >= to || to > nnodes || (uint64_t)12 + 4ull * nwant != f->len) {
            snprintf(
                err, errlen, "malformed run frame (nodes %u..%u of %u, %u tensors in %u bytes)",
                (unsigned)from, (unsigned)to, (unsigned)nnodes, (unsigned)nwant, (unsigned)f->len);
            rc = CLEAVE_EPARSE;
            goto done;
        }
        double us = 0;
        for (uint32_t k = from; k < to; k++) {
            double one;
            if ((rc = rt_exec_run_node(x, g->order[k], &one, err, errlen)) != CLEAVE_OK)
                goto done;
            us += one;
        }
        rt_conn_burst(c);
        for (uint32_t k = 0; k < nwant; k++) {
            uint32_t t = rt_get_u32(f->buf + 12 + 4 * k);
            if (t >= (uint32_t)g->ntensors) {
                snprintf(err, errlen, "run frame asks for tensor %u, the model has %d", (unsigned)t,
                         g->ntensors);
                rc = CLEAVE_EPARSE;
                goto done;
            }
            if ((rc = send_tensor(c, x, g, (int)t, err, errlen)) != CLEAVE_OK)
                goto done;
        }
        unsigned char done[8];
        rt_put_u64(done, dbits(us));
        if ((rc = rt_send_frame(c, RT_FRAME_DONE, done, 8, NULL, 0, err, errlen)) != CLEAVE_OK)
            goto done;
        rep->segments++;
    }
    rc = CLEAVE_OK;
done:
    rt_exec_destroy(x);
    plan_graph_destroy(g);
    return rc;
}

cleave_status rt_edge_session(int fd, int recv_timeout_s, rt_session_report *rep, char *err,
                              size_t errlen)
{
    rt_conn c;
    rt_frame f = {0, 0, NULL, 0};
    memset(rep, 0, sizeof *rep);
    tune_socket(fd, recv_timeout_s);
    rt_conn_init(&c, fd, 0, 0);
    cleave_status rc = rt_recv_frame(&c, &f, err, errlen);
    if (rc == CLEAVE_OK)
        rc = edge_serve(&c, &f, rep, err, errlen);
    /* Tell the end why, unless it is the one that went away or reported the error. */
    if (rc != CLEAVE_OK && strncmp(err, "peer ", 5) != 0 && strncmp(err, "cannot send", 11) != 0)
        rt_send_error(&c, err);
    free(f.buf);
    close(fd);
    return rc;
}
