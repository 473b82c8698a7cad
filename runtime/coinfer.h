/*
** runtime/coinfer.h - co-inference: the end process runs its part of a plan and the edge
** process (`cleave serve`) the rest, exchanging cut tensors over TCP (docs/coinference.md).
**
** Session: the end connects and sends HELLO (threads, seed, link shaping for the edge's sends,
** the placement, the model file itself); the edge imports the model, prepares its nodes and
** answers READY.  Each inference walks the topological order: the end runs its nodes; at the
** first node of a run of consecutive edge nodes (a segment) it uploads every tensor those
** nodes read that lives on the end and has not been sent in this inference, then RUN with the
** segment and the ids of the tensors it needs back (edge-produced tensors read by a later end
** node or that are network outputs); the edge runs the segment and answers with those tensors
** and DONE (its compute time).  So every cut tensor crosses once per direction, and there are
** as many round trips as the plan has edge segments.  BYE ends the session.
*/
#ifndef CLEAVE_RUNTIME_COINFER_H
#define CLEAVE_RUNTIME_COINFER_H

#include <stddef.h>
#include <stdint.h>

#include <cleave/cleave.h>

#include "planner/graph.h"
#include "runtime/exec.h"

/* In-process link shaping (0 = none): the end paces its sends at UP_MBPS, the edge at
** DOWN_MBPS, and each side waits RTT_MS / 2 before each burst it sends. */
typedef struct rt_link {
    double up_mbps, down_mbps, rtt_ms;
} rt_link;

/* ---- the plan --------------------------------------------------------------------------- */

/* A placement read from a plan document, with its predicted cost recomputed from the
** document's own node and tensor costs (docs/plan-json.md). */
typedef struct rt_plan {
    unsigned char *on_edge; /* nnodes of the graph, by graph node id */
    int has_costs;          /* the document had end_us/edge_us and up_us/down_us */
    double total_us, end_us, edge_us, up_us, down_us; /* recomputed */
    double doc_total_us;                              /* the plan's own total_us, NaN if absent */
    int segments; /* runs of consecutive edge nodes in the order: round trips */
    int up_tensors, down_tensors;
} rt_plan;

/* Read plan ALGO from the JSON document at PATH (`cleave plan --json` output, or a hand-made
** one with the same fields) for graph G.  Messages name the file:
**   "cannot read 'P': <reason>", "'P' is not JSON: <reason> (line N)",
**   "'P' has no \"plans\" array (expected `cleave plan --json` output)",
**   "'P' has no plan 'ALGO' (it has: local, edge, ...)",
**   "'P' does not match the model: it has N nodes, the model M",
**   "'P' does not match the model: node I is 'A' in the plan, 'B' in the model",
**   "'P': edge node 'X' is not in the model".
** CLEAVE_EIO, CLEAVE_EPARSE, CLEAVE_EINVAL, CLEAVE_ENOMEM.  Free with rt_plan_release(). */
cleave_status rt_plan_read(rt_plan *out, const char *path, const char *algo, const plan_graph *g,
                           char *err, size_t errlen);
void rt_plan_release(rt_plan *p);

/* ---- the end role ----------------------------------------------------------------------- */

typedef struct rt_end rt_end;

/* One split inference, measured on the end. */
typedef struct rt_end_stats {
    double wall_us; /* first node to last output, transfers included */
    double end_us;  /* sum of the end's kernel times */
    double edge_us; /* sum of the edge's kernel times (its DONE reports) */
    double comm_us; /* wall - end - edge: transfers, framing, copies */
    uint64_t up_bytes, down_bytes;
    int rounds;
} rt_end_stats;

/* Connect to the edge at ADDR ("host:port"), send the model MODEL[0..LEN) and the placement
** ON_EDGE of the finished graph G (imported from those bytes with FLAGS), and wait until the
** edge is ready; prepare the end's own nodes (THREADS, SEED).  RECV_TIMEOUT_S bounds every wait
** for the edge.  CLEAVE_EIO ("cannot connect to 'A': Connection refused", the peer's error),
** CLEAVE_EPARSE (bad frames), CLEAVE_EINVAL, CLEAVE_ENOMEM.  *OUT is NULL on failure. */
cleave_status rt_end_open(rt_end **out, const char *addr, const plan_graph *g, const void *model,
                          size_t len, unsigned flags, const unsigned char *on_edge, int threads,
                          uint64_t seed, const rt_link *link, int recv_timeout_s, char *err,
                          size_t errlen);

/* Run one split inference (inputs drawn from the seed, as rt_exec_fill_inputs()). */
cleave_status rt_end_infer(rt_end *e, rt_end_stats *st, char *err, size_t errlen);

/* The end's executor: the network outputs are in its tensors after rt_end_infer(). */
rt_exec *rt_end_exec(rt_end *e);

/* Say BYE (best effort), close the connection, free everything; NULL is a no-op. */
void rt_end_close(rt_end *e);

/* ---- the edge role ---------------------------------------------------------------------- */

/* Listen on ADDR ("host:port"; port 0 picks a free one) into *FD; the bound address is written
** to BOUND ("127.0.0.1:40123").  CLEAVE_EIO: "cannot listen on 'A': Address already in use",
** CLEAVE_EINVAL: "bad address 'A' (expected HOST:PORT)". */
cleave_status rt_listen(int *fd, const char *addr, char *bound, size_t boundlen, char *err,
                        size_t errlen);

/* What one session did. */
typedef struct rt_session_report {
    int segments;   /* RUN requests served */
    char model[64]; /* the graph's name */
    int nodes_here;
} rt_session_report;

/* Serve one end process on the connected socket FD until it says BYE or fails.  Every wait for
** the end is bounded by RECV_TIMEOUT_S.  On a protocol failure the end is sent an ERROR frame
** with the message before the socket is closed.  Returns CLEAVE_OK after BYE; otherwise the
** failure, with ERR saying what went wrong.  The socket is closed in every case. */
cleave_status rt_edge_session(int fd, int recv_timeout_s, rt_session_report *rep, char *err,
                              size_t errlen);

#endif /* CLEAVE_RUNTIME_COINFER_H */
