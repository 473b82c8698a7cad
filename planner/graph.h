/*
** planner/graph.h - the planner's DNN graph: a DAG of catalogue layers joined by tensors, its
** validation and topological order, the importers (ONNX, text) and the bridge to plan_problem.
**
** A graph has nodes and tensors.  Every node is one catalogue layer (cleave_layer, with its
** input shape filled in) that reads one or more tensors and writes exactly one.  A tensor is
** produced by one node, or is a network input (producer -1); network outputs are tensors that
** must end up on the end device.  Shapes are 4-D NCHW: a tensor of rank r < 4 is padded on the
** right with ones (a [1, 1000] tensor is 1x1000x1x1, the catalogue's 2-D convention), and its
** bytes are 4 per element (fp32, like the catalogue).
**
** Life cycle: plan_graph_create(), then add tensors, inputs, nodes and outputs in any order,
** then plan_graph_finish(), which links consumers, validates everything and computes the
** topological order.  Only a finished graph may be given to the helpers below it.  The
** importers return finished graphs.  Internal to the planner stage.
*/
#ifndef CLEAVE_PLANNER_GRAPH_H
#define CLEAVE_PLANNER_GRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cleave/cleave.h>

#include "planner/problem.h"

/* Node flags.
**   ZERO_COST  reshape / flatten: moves no data (set for every RESHAPE layer)
**   CONST      a constant/read op (Couper): reads no activation (set when a node has no input)
**   UNKNOWN    imported with the fallback for an unsupported op: its layer is a stand-in copy
**              (dropout) of its output; apply a fallback cost from in_bytes / out_bytes */
#define PLAN_NODE_ZERO_COST 0x1u
#define PLAN_NODE_CONST 0x2u
#define PLAN_NODE_UNKNOWN 0x4u

/* At most this many tensors may feed one node (concat's limit). */
#define PLAN_MAX_NODE_INPUTS CLEAVE_MAX_INPUTS

typedef struct plan_node {
    char *name;         /* unique among nodes */
    char *op;           /* operator as imported: "Conv", "Relu", or the text type "conv" */
    cleave_layer layer; /* the catalogue layer, input shape included */
    int *inputs;        /* ninputs tensor ids, in operator order */
    int ninputs;
    int output;        /* the tensor it writes */
    unsigned flags;    /* PLAN_NODE_* */
    int64_t in_bytes;  /* bytes of all input tensors (set by plan_graph_finish) */
    int64_t out_bytes; /* bytes of the output tensor (set by plan_graph_finish) */
} plan_node;

typedef struct plan_tensor {
    char *name;         /* unique among tensors */
    cleave_shape shape; /* 4-D, right-padded with ones */
    int rank;           /* declared rank, 1..4 */
    int64_t bytes;      /* 4 per element; -1 when the shape is invalid or overflows */
    int producer;       /* producing node, or -1 (a network input) */
    int *consumers;     /* nconsumers node ids in increasing order, each once (after finish) */
    int nconsumers;
    unsigned char is_input, is_output;
} plan_tensor;

/* A string -> id index (open addressing, FNV-1a).  Keys are not copied: the caller keeps them
** alive as long as the index.  plan_names_put() returns 0, or -1 when out of memory (an
** existing key gets the new id); plan_names_get() returns the id or -1. */
typedef struct plan_names plan_names;
plan_names *plan_names_create(void);
void plan_names_destroy(plan_names *m); /* NULL is a harmless no-op */
int plan_names_put(plan_names *m, const char *key, int id);
int plan_names_get(const plan_names *m, const char *key);

/* An early exit (BranchyNet; Edgent's right-sizing).  A branch exit leaves the main path after
** node FROM: its own layers read FROM's output (and each other's) and end in one layer whose
** output is a network output, the exit's result.  The main exit is the main path's own result
** (FROM = -1, no layers).  The main path is every node that belongs to no branch. */
typedef struct plan_exit {
    char *name;
    int from;        /* graph node where the branch leaves the main path; -1: the main exit */
    int *layers;     /* nlayers graph node ids of the branch's own layers, as declared */
    int nlayers;     /* 0 for the main exit */
    int output;      /* the exit's result tensor (set by plan_graph_finish; -1 for the main exit) */
    double accuracy; /* in [0, 1] */
} plan_exit;

typedef struct plan_graph {
    char *name; /* the model's name, may be "" */
    plan_node *nodes;
    int nnodes;
    plan_tensor *tensors;
    int ntensors;
    int *inputs; /* network input tensor ids, in declaration order */
    int ninputs;
    int *outputs; /* network output tensor ids */
    int noutputs;
    int *order;       /* nnodes node ids in topological order (after finish) */
    int *rank_of;     /* rank_of[node] = its position in order (after finish) */
    plan_exit *exits; /* declared early exits, in declaration order (may be none) */
    int nexits;
    int finished;
    /* private */
    int node_cap, tensor_cap, input_cap, output_cap, exit_cap;
    int *cons_all;
    plan_names *tensor_index, *node_index;
} plan_graph;

/* A new empty graph called NAME (NULL means "") into *OUT.  CLEAVE_OK or CLEAVE_ENOMEM. */
cleave_status plan_graph_create(plan_graph **out, const char *name);

/* Free G and everything it owns; NULL is a harmless no-op. */
void plan_graph_destroy(plan_graph *g);

/* Add the tensor NAME of rank RANK (1..4) with dimensions DIMS[0..RANK) into *ID (may be NULL).
** Dimensions are not checked here (plan_graph_finish does, so importers can report them with
** context).  CLEAVE_EINVAL ("tensor 'x' is defined twice", bad rank), CLEAVE_ENOMEM. */
cleave_status plan_graph_add_tensor(plan_graph *g, const char *name, const int64_t *dims, int rank,
                                    int *id, char *err, size_t errlen);

/* The id of the tensor / node called NAME, or -1. */
int plan_graph_find_tensor(const plan_graph *g, const char *name);
int plan_graph_find_node(const plan_graph *g, const char *name);

/* Mark TENSOR as a network input / output.  CLEAVE_EINVAL for a bad id or a repeat. */
cleave_status plan_graph_add_input(plan_graph *g, int tensor, char *err, size_t errlen);
cleave_status plan_graph_add_output(plan_graph *g, int tensor, char *err, size_t errlen);

/* Add the node NAME running LAYER (copied) on the tensors INPUTS[0..NINPUTS) and writing OUTPUT,
** with FLAGS (PLAN_NODE_ZERO_COST is added for RESHAPE layers, PLAN_NODE_CONST when NINPUTS is
** 0).  OP (NULL: the layer's type name) is kept for reports.  *ID (may be NULL) receives its id.
** CLEAVE_EINVAL: duplicate node name, a bad tensor id, more than PLAN_MAX_NODE_INPUTS inputs,
** an output that already has a producer ("tensor 'y' is written by both 'a' and 'b'") or is a
** network input; CLEAVE_ENOMEM. */
cleave_status plan_graph_add_node(plan_graph *g, const char *name, const char *op,
                                  const cleave_layer *layer, const int *inputs, int ninputs,
                                  int output, unsigned flags, int *id, char *err, size_t errlen);

/* Declare the exit NAME with ACCURACY: the main exit when FROM is -1 (then NLAYERS must be 0),
** else a branch leaving the main path after node FROM with its own layers LAYERS[0..NLAYERS)
** (copied).  Checks here, CLEAVE_EINVAL with these messages:
**   "exit 'e1' is declared twice", "exit 'e1': accuracy 1.5 is outside [0, 1]",
**   "exits 'a' and 'b' are both the main exit", "exit 'e1' has no layers",
**   "exit 'e1': layer 'b' is listed twice", bad node ids;
** the structure is checked by plan_graph_finish().  CLEAVE_ENOMEM. */
cleave_status plan_graph_add_exit(plan_graph *g, const char *name, int from, const int *layers,
                                  int nlayers, double accuracy, char *err, size_t errlen);

/* plan_graph_add_exit() from the text SPEC "accuracy=A [from=NODE layers=L1,L2,...]" (keys in
** any order, separated by blanks), the form of the text format's exit lines and of ONNX
** metadata_props (docs/graph-format.md).  Nodes are named by node name or, failing that, by the
** name of the tensor they write.  Errors (CLEAVE_EINVAL), besides plan_graph_add_exit()'s:
**   "exit 'e1': unknown key 'foo' (accuracy=A [from=NODE layers=L1,L2,...])",
**   "exit 'e1': accuracy is missing", "exit 'e1': accuracy 'x' is not a number",
**   "exit 'e1': 'from' and 'layers' go together (a branch exit) or not at all (the main exit)",
**   "exit 'e1': 'from' node 'q' is not defined", "exit 'e1': layer 'q' is not defined". */
cleave_status plan_graph_add_exit_spec(plan_graph *g, const char *name, const char *spec, char *err,
                                       size_t errlen);

/* The exit called NAME, or -1. */
int plan_graph_find_exit(const plan_graph *g, const char *name);

/* Link consumers, validate G and compute its topological order (Kahn's algorithm taking the
** ready node of smallest id first, so a graph added in topological order keeps its order).
** Checks, in this order, each failing with CLEAVE_EINVAL and the message shown:
**   "graph has no input", "graph has no node", "graph has no output",
**   "tensor 'x' has zero size (1x0x3x3)", "tensor 'x' has a negative dimension (1x-3x3x3)",
**   "tensor 'x' is too large (1x1099511627776x...)",
**   "node 'c1': input 'x' is neither a network input nor the output of a node",
**   "output 'y' is not produced by any node",
**   "graph has a cycle through node 'b'" (b lies on the cycle),
**   "node 'c1': <cleave_layer_validate's message>",
**   "node 'a': 'add' takes 1 or 2 inputs, got 3" (input counts per type),
**   "node 'c2': input 'c1' has shape 1x64x56x56, the layer expects 1x32x56x56",
**   "node 'c2': output 'c2' has shape 1x64x56x56, the layer gives 1x64x28x28",
**   "node 'r': output 'r' has 47 elements, the layer gives 48" (where counts are compared),
** then the exits (when any is declared):
**   "exit 'e1': layer 'b' is also in exit 'e2'",
**   "exit 'e1': 'from' node 'b' is not on the main path (it is a layer of exit 'e2')",
**   "exit 'e1' does not attach to the main path at 'c2': layer 'b' reads 'x' (an exit's layers
**   read only the output of its 'from' node and each other's)",
**   "exit 'e1' does not attach to the main path at 'c2': none of its layers reads 'c2'",
**   "exit 'e1': layer 'b' feeds node 'm', outside the exit",
**   "exit 'e1' has several last layers ('a', 'b'); an exit ends in one",
**   "exit 'e1': its result 'b' is not a network output",
**   "exit 'e1': layer 'a' writes the network output 'a'; only its last layer may",
**   "graph declares exits but no main exit (an exit without 'from')",
**   "the main path has no network output".
** Shapes are compared exactly, except: reshape (element counts), fc (the input's elements must
** be n*c*h*w and the output's n*k), lstm/gru/rnn (input elements t*n*c; output t*n*dirs*k, or
** dirs*n*k for the last hidden state), argmax (output elements), add/mul (each input must
** broadcast to the layer's shape: every dimension equal or 1) and unknown-op nodes (not checked).
** Returns CLEAVE_OK, CLEAVE_EINVAL or CLEAVE_ENOMEM; may be called again after more additions. */
cleave_status plan_graph_finish(plan_graph *g, char *err, size_t errlen);

/* Write "AxBxCxD" for the first RANK dimensions of S into BUF. */
void plan_shape_format(const cleave_shape *s, int rank, char *buf, size_t buflen);

/* ---- helpers for the planner (finished graphs) ------------------------------------------ */

/* Sum of the catalogue MACs (CLEAVE_FEAT_MACS) over all nodes but unknown-op ones. */
double plan_graph_macs(const plan_graph *g);

/* The number of nodes whose flags include every bit of FLAG. */
int plan_graph_count_flag(const plan_graph *g, unsigned flag);

/* One line of an op histogram. */
typedef struct plan_op_count {
    const char *op; /* points into the graph */
    int count;
} plan_op_count;

/* Count nodes per op name into OUT (room for CAP entries), sorted by op name (strcmp); returns
** the number of distinct ops (which may exceed CAP: then only CAP are written). */
int plan_graph_op_histogram(const plan_graph *g, plan_op_count *out, int cap);

/* Time to send BYTES over a link of MBPS megabits per second with round-trip time RTT_MS:
** rtt/2 + bytes*8/bandwidth, in microseconds (DESIGN.md "Planner").  INFINITY when MBPS is not
** a positive finite number. */
double plan_transfer_us(int64_t bytes, double mbps, double rtt_ms);

/* A plan_problem together with the arrays it points at.  Problem node i is graph node
** node_of[i] (the topological order); tensor ids are the graph's. */
typedef struct plan_problem_buf {
    plan_problem p;
    int *node_of;               /* n: graph node of problem node i */
    unsigned char *is_constant; /* n: the node is a constant/read op (for Couper) */
    double *t_end, *t_edge;     /* n */
    int *producer;              /* ntensors, in problem node numbers */
    double *up_us, *down_us;    /* ntensors */
    int *cons_off, *cons;       /* ntensors + 1, total consumers */
    unsigned char *is_output;   /* ntensors */
} plan_problem_buf;

/* Build the partitioning problem of the finished graph G into *OUT: END_US[node] and
** EDGE_US[node] are the compute times of each graph node (indexed by graph node id) on the end
** device and on the edge; each tensor's transfer times are plan_transfer_us() of its bytes with
** UP_MBPS (end -> edge) / DOWN_MBPS (edge -> end) and RTT_MS.  Free with
** plan_problem_buf_release().  CLEAVE_EINVAL (unfinished graph, bad network or times: message
** in ERR) or CLEAVE_ENOMEM; on failure *OUT holds nothing to free. */
cleave_status plan_problem_build(plan_problem_buf *out, const plan_graph *g, const double *end_us,
                                 const double *edge_us, double up_mbps, double down_mbps,
                                 double rtt_ms, char *err, size_t errlen);
void plan_problem_buf_release(plan_problem_buf *b);

/* ---- importers -------------------------------------------------------------------------- */

/* ONNX import flags. */
#define PLAN_ONNX_FALLBACK 0x1u /* import unsupported ops as PLAN_NODE_UNKNOWN nodes */

/* Import the ONNX model in DATA[0..LEN) (a serialised ModelProto) into a new finished graph
** *OUT (see planner/onnx.c and docs/graph-format.md for the op mapping).  Errors:
** CLEAVE_EPARSE (not a model: "cannot decode the ONNX model (truncated or not protobuf)",
** missing graph or shapes), CLEAVE_EUNSUPPORTED ("node 'n': unsupported op 'GridSample'",
** unsupported attributes), CLEAVE_EINVAL (validation, as plan_graph_finish), CLEAVE_ENOMEM.
** On failure *OUT is NULL. */
cleave_status plan_onnx_read(plan_graph **out, const void *data, size_t len, unsigned flags,
                             char *err, size_t errlen);

/* plan_onnx_read() on the file PATH; messages start with "'PATH': ".  CLEAVE_EIO when the file
** cannot be read. */
cleave_status plan_onnx_load(plan_graph **out, const char *path, unsigned flags, char *err,
                             size_t errlen);

/* Parse the text format (docs/graph-format.md) in TEXT[0..LEN) into a new finished graph *OUT.
** Errors name the line: "line 3: unknown layer type 'convv'".  CLEAVE_EPARSE (syntax),
** CLEAVE_EINVAL (values, validation), CLEAVE_ENOMEM.  On failure *OUT is NULL. */
cleave_status plan_text_read(plan_graph **out, const char *text, size_t len, char *err,
                             size_t errlen);

/* plan_text_read() on the file PATH; messages start with "'PATH': ". */
cleave_status plan_text_load(plan_graph **out, const char *path, char *err, size_t errlen);

/* Write the finished graph G in the text format to F; reading it back gives the same graph
** (names, ops, layers, shapes, flags; node order is the topological order).  CLEAVE_EINVAL when
** a name cannot be written (empty, or holding whitespace, '#' or '=', or being "<-"),
** CLEAVE_EIO on a write error. */
cleave_status plan_text_write(const plan_graph *g, FILE *f, char *err, size_t errlen);

/* Load PATH as ONNX when its name ends in ".onnx" or its first bytes are not text, otherwise as
** the text format.  FLAGS as for plan_onnx_read(). */
cleave_status plan_graph_load(plan_graph **out, const char *path, unsigned flags, char *err,
                              size_t errlen);

#endif /* CLEAVE_PLANNER_GRAPH_H */
