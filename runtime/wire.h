/*
** runtime/wire.h - the co-inference wire format (docs/coinference.md): length-prefixed,
** checksummed frames over a TCP stream, tensors with id, dtype and shape, and the optional
** in-process link shaping (token bucket rate, one-way delay).
**
** Every frame is a 16-byte header followed by its payload, all integers little-endian:
**
**     offset 0  u32  magic 0x31564c43 ("CLV1")
**            4  u16  type (RT_FRAME_*)
**            6  u16  0
**            8  u32  payload bytes (at most RT_MAX_PAYLOAD)
**           12  u32  CRC-32 (zlib's, ISO-HDLC) of the payload
**
** A TENSOR payload is a 40-byte tensor header and the data:
**
**     offset 0  u32  tensor id (the graph's, both sides import the same model)
**            4  u8   dtype (1 = fp32 little-endian)
**            5  u8   rank (always 4: NCHW, right-padded with ones)
**            6  u16  0
**            8  u64  dims[4]
**           40       dims[0]*dims[1]*dims[2]*dims[3] elements
**
** Reading never trusts the peer: magic, type, length, checksum, dtype, rank and the element
** count against the payload are all checked, each with its own message.
*/
#ifndef CLEAVE_RUNTIME_WIRE_H
#define CLEAVE_RUNTIME_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <cleave/cleave.h>

#define RT_WIRE_MAGIC 0x31564c43u
#define RT_WIRE_VERSION 1
#define RT_FRAME_HEADER 16
#define RT_TENSOR_HEADER 40
#define RT_MAX_PAYLOAD (1u << 30) /* 1 GiB: larger than any activation of the zoo */
#define RT_DTYPE_F32 1

/* Frame types.  X(enum suffix, value, name). */
#define RT_FRAME_MAP(X)                                                                            \
    X(HELLO, 1, "hello")   /* end -> edge: session parameters and the model */                     \
    X(READY, 2, "ready")   /* edge -> end: model imported and its nodes prepared */                \
    X(TENSOR, 3, "tensor") /* either way: one tensor */                                            \
    X(RUN, 4, "run")       /* end -> edge: run a segment of the order, return tensors */           \
    X(DONE, 5, "done")     /* edge -> end: segment finished, its compute time */                   \
    X(ERROR, 6, "error")   /* either way: a message, then the sender closes */                     \
    X(BYE, 7, "bye")       /* end -> edge: the session is over */

typedef enum rt_frame_type {
#define RT_FRAME_ENUM_(e, v, name) RT_FRAME_##e = v,
    RT_FRAME_MAP(RT_FRAME_ENUM_)
#undef RT_FRAME_ENUM_
} rt_frame_type;

/* The name of frame type T ("tensor"), or "unknown". */
const char *rt_frame_name(int t);

/* CRC-32 of P[0..N) (zlib). */
uint32_t rt_checksum(const void *p, size_t n);

/* One end of a connection: the socket and how this side shapes what it sends. */
typedef struct rt_conn {
    int fd;
    double rate_bps;  /* token-bucket rate in bits per second for what we send; 0 = unpaced */
    double delay_us;  /* one-way delay added before each burst we send (rt_conn_burst) */
    double tokens;    /* bytes we may send now */
    uint64_t last_ns; /* when tokens were last refilled */
    uint64_t sent_bytes, recv_bytes;
} rt_conn;

/* Initialise C for socket FD sending at MBPS (0: unpaced) with a one-way delay of
** RTT_MS / 2. */
void rt_conn_init(rt_conn *c, int fd, double mbps, double rtt_ms);

/* Start a burst: sleep the one-way delay (the time the first byte would spend in flight). */
void rt_conn_burst(rt_conn *c);

/* Send one frame of type TYPE whose payload is HEAD[0..HEADLEN) followed by DATA[0..DATALEN)
** (either may be empty).  CLEAVE_EIO ("cannot send a 'tensor' frame: Broken pipe"). */
cleave_status rt_send_frame(rt_conn *c, int type, const void *head, size_t headlen,
                            const void *data, size_t datalen, char *err, size_t errlen);

/* Send tensor ID of shape DIMS[4] with N floats at DATA. */
cleave_status rt_send_tensor(rt_conn *c, int id, const int64_t dims[4], const float *data, size_t n,
                             char *err, size_t errlen);

/* Send an ERROR frame carrying MSG (best effort: failures are ignored). */
void rt_send_error(rt_conn *c, const char *msg);

/* A received frame: the payload lives in BUF (grown as needed, owned by the caller: free it). */
typedef struct rt_frame {
    int type;
    uint32_t len;
    unsigned char *buf;
    size_t cap;
} rt_frame;

/* Receive one frame into F.  Errors (CLEAVE_EIO for the connection, CLEAVE_EPARSE for bad
** bytes), with these messages:
**   "peer closed the connection"                          (EOF before a header)
**   "peer closed the connection in the middle of a frame (got N of 16 header bytes)"
**   "peer closed the connection in the middle of a 'tensor' frame (got N of M payload bytes)"
**   "cannot receive: <strerror>"                          (including a timeout)
**   "bad frame magic 0x...: not a cleave co-inference peer"
**   "unknown frame type N"
**   "'tensor' frame of N bytes is larger than the limit of 1073741824"
**   "'tensor' frame checksum mismatch: header says 0x..., payload has 0x..."
** An ERROR frame from the peer is returned as CLEAVE_EIO with "peer reported: <its message>". */
cleave_status rt_recv_frame(rt_conn *c, rt_frame *f, char *err, size_t errlen);

/* Decode the TENSOR frame F: its id, dims and data (pointing into F->buf, N elements).
** CLEAVE_EPARSE: "tensor frame of N bytes is shorter than its 40-byte header",
** "tensor N: unsupported dtype D", "tensor N: rank R is not 4",
** "tensor N: shape AxBxCxD needs X bytes, the frame carries Y". */
cleave_status rt_tensor_decode(const rt_frame *f, int *id, int64_t dims[4], const float **data,
                               size_t *n, char *err, size_t errlen);

/* Little-endian helpers for building and reading payloads. */
void rt_put_u32(unsigned char *p, uint32_t v);
void rt_put_u64(unsigned char *p, uint64_t v);
uint32_t rt_get_u32(const unsigned char *p);
uint64_t rt_get_u64(const unsigned char *p);

#endif /* CLEAVE_RUNTIME_WIRE_H */
