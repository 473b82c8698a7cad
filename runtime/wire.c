/*
** runtime/wire.c - frames over a TCP stream: send with optional pacing, receive and check.
*/
#include "runtime/wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <zlib.h>

#include "profiler/timing.h"

/* Tensor data goes on the wire as the host's floats. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the co-inference wire format sends host floats and assumes a little-endian host"
#endif

/* The pacing granule: small enough that a 1 Mbit/s link is paced every ~16 ms (not in one
** lump), large enough that the loopback is not slowed by system calls. */
#define RT_PACE_CHUNK 2048
#define RT_PACE_BURST 4096.0 /* bucket depth in bytes, as the tbf of tests/cli/t-shaped.sh */

const char *rt_frame_name(int t)
{
    switch (t) {
#define RT_FRAME_NAME_(e, v, name)                                                                 \
    case v: return name;
        RT_FRAME_MAP(RT_FRAME_NAME_)
#undef RT_FRAME_NAME_
    default: return "unknown";
    }
}

uint32_t rt_checksum(const void *p, size_t n)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    const unsigned char *b = p;
    while (n > 0) { /* zlib takes uInt lengths */
        uInt step = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, b, step);
        b += step;
        n -= step;
    }
    return (uint32_t)crc;
}

void rt_put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

void rt_put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

uint32_t rt_get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t rt_get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void rt_conn_init(rt_conn *c, int fd, double mbps, double rtt_ms)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->rate_bps = mbps > 0 ? mbps * 1e6 : 0;
    c->delay_us = rtt_ms > 0 ? rtt_ms * 1e3 / 2 : 0;
    c->tokens = RT_PACE_BURST;
    c->last_ns = prof_now_ns();
}

void rt_conn_burst(rt_conn *c)
{
    if (c->delay_us > 0)
        sleep_ns((uint64_t)(c->delay_us * 1e3));
}

/* Wait until the token bucket holds N bytes, then take them (Turner's token bucket: tokens
** accrue at the rate up to the bucket depth, a send spends them). */
static void pace(rt_conn *c, size_t n)
{
    if (c->rate_bps <= 0)
        return;
    uint64_t now = prof_now_ns();
    c->tokens += (double)(now - c->last_ns) * 1e-9 * c->rate_bps / 8.0;
    if (c->tokens > RT_PACE_BURST)
        c->tokens = RT_PACE_BURST;
    c->last_ns = now;
    if (c->tokens < (double)n) {
        double wait_s = ((double)n - c->tokens) * 8.0 / c->rate_bps;
        sleep_ns((uint64_t)(wait_s * 1e9));
        uint64_t after = prof_now_ns();
        c->tokens += (double)(after - c->last_ns) * 1e-9 * c->rate_bps / 8.0;
        c->last_ns = after;
    }
    c->tokens -= (double)n;
}

/* Write all of P[0..N), paced. */
static int send_all(rt_conn *c, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        size_t step = c->rate_bps > 0 && n > RT_PACE_CHUNK ? RT_PACE_CHUNK : n;
        pace(c, step);
        ssize_t w = send(c->fd, b, step, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (c->rate_bps > 0 && (size_t)w < step)
            c->tokens += (double)(step - (size_t)w); /* give back what was not sent */
        b += w;
        n -= (size_t)w;
        c->sent_bytes += (uint64_t)w;
    }
    return 0;
}

cleave_status rt_send_frame(rt_conn *c, int type, const void *head, size_t headlen,
                            const void *data, size_t datalen, char *err, size_t errlen)
{
    unsigned char h[RT_FRAME_HEADER];
    uLong crc = crc32(0L, Z_NULL, 0);
    if (headlen + datalen > RT_MAX_PAYLOAD) {
        snprintf(err, errlen, "'%s' frame of %zu bytes is larger than the limit of %u",
                 rt_frame_name(type), headlen + datalen, RT_MAX_PAYLOAD);
        return CLEAVE_ERANGE;
    }
    if (headlen)
        crc = crc32(crc, head, (uInt)headlen);
    if (datalen)
        crc = crc32(crc, data, (uInt)datalen);
    rt_put_u32(h, RT_WIRE_MAGIC);
    h[4] = (unsigned char)(type & 0xff);
    h[5] = (unsigned char)(type >> 8);
    h[6] = h[7] = 0;
    rt_put_u32(h + 8, (uint32_t)(headlen + datalen));
    rt_put_u32(h + 12, (uint32_t)crc);
    if (send_all(c, h, sizeof h) != 0 || (headlen && send_all(c, head, headlen) != 0) ||
        (datalen && send_all(c, data, datalen) != 0)) {
        snprintf(err, errlen, "cannot send a '%s' frame: %s", rt_frame_name(type), strerror(errno));
        return CLEAVE_EIO;
    }
    return CLEAVE_OK;
}

cleave_status rt_send_tensor(rt_conn *c, int id, const int64_t dims[4], const float *data, size_t n,
                             char *err, size_t errlen)
{
    unsigned char h[RT_TENSOR_HEADER];
    memset(h, 0, sizeof h);
    rt_put_u32(h, (uint32_t)id);
    h[4] = RT_DTYPE_F32;
    h[5] = 4;
    for (int i = 0; i < 4; i++)
        rt_put_u64(h + 8 + 8 * i, (uint64_t)dims[i]);
    return rt_send_frame(c, RT_FRAME_TENSOR, h, sizeof h, data, n * sizeof *data, err, errlen);
}

void rt_send_error(rt_conn *c, const char *msg)
{
    char ignored[64];
    rt_send_frame(c, RT_FRAME_ERROR, msg, strlen(msg), NULL, 0, ignored, sizeof ignored);
}

/* Read exactly N bytes; returns the count read (short only at EOF) or -1 with errno. */
static ssize_t recv_all(rt_conn *c, void *p, size_t n)
{
    unsigned char *b = p;
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(c->fd, b + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    c->recv_bytes += got;
    return (ssize_t)got;
}

cleave_status rt_recv_frame(rt_conn *c, rt_frame *f, char *err, size_t errlen)
{
    unsigned char h[RT_FRAME_HEADER];
    ssize_t r = recv_all(c, h, sizeof h);
    if (r < 0) {
        snprintf(err, errlen, "cannot receive: %s",
                 errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : strerror(errno));
        return CLEAVE_EIO;
    }
    if (r == 0) {
        snprintf(err, errlen, "peer closed the connection");
        return CLEAVE_EIO;
    }
    if ((size_t)r < sizeof h) {
        snprintf(err, errlen,
                 "peer closed the connection in the middle of a frame (got %zd of %d header bytes)",
                 r, RT_FRAME_HEADER);
        return CLEAVE_EIO;
    }
    uint32_t magic = rt_get_u32(h);
    int type = h[4] | (h[5] << 8);
    uint32_t len = rt_get_u32(h + 8), crc = rt_get_u32(h + 12);
    if (magic != RT_WIRE_MAGIC) {
        snprintf(err, errlen, "bad frame magic 0x%08x: not a cleave co-inference peer",
                 (unsigned)magic);
        return CLEAVE_EPARSE;
    }
    if (type < RT_FRAME_HELLO || type > RT_FRAME_BYE) {
        snprintf(err, errlen, "unknown frame type %d", type);
        return CLEAVE_EPARSE;
    }
    if (len > RT_MAX_PAYLOAD) {
        snprintf(err, errlen, "'%s' frame of %u bytes is larger than the limit of %u",
                 rt_frame_name(type), (unsigned)len, RT_MAX_PAYLOAD);
        return CLEAVE_EPARSE;
    }
    if ((size_t)len + 1 > f->cap) {
        unsigned char *nb = realloc(f->buf, (size_t)len + 1);
        if (!nb) {
            snprintf(err, errlen, "cannot receive a '%s' frame of %u bytes: out of memory",
                     rt_frame_name(type), (unsigned)len);
            return CLEAVE_ENOMEM;
        }
        f->buf = nb;
        f->cap = (size_t)len + 1;
    }
    r = len ? recv_all(c, f->buf, len) : 0;
    if (r < 0) {
        snprintf(err, errlen, "cannot receive: %s",
                 errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : strerror(errno));
        return CLEAVE_EIO;
    }
    if ((uint32_t)r < len) {
        snprintf(err, errlen,
                 "peer closed the connection in the middle of a '%s' frame (got %zd of %u "
                 "payload bytes)",
                 rt_frame_name(type), r, (unsigned)len);
        return CLEAVE_EIO;
    }
    f->buf[len] = '\0'; /* so an ERROR message is a string */
    f->type = type;
    f->len = len;
    uint32_t have = rt_checksum(f->buf, len);
    if (have != crc) {
        snprintf(err, errlen,
                 "'%s' frame checksum mismatch: header says 0x%08x, payload has 0x%08x",
                 rt_frame_name(type), (unsigned)crc, (unsigned)have);
        return CLEAVE_EPARSE;
    }
    if (type == RT_FRAME_ERROR) {
        snprintf(err, errlen, "peer reported: %s", (const char *)f->buf);
        return CLEAVE_EIO;
    }
    return CLEAVE_OK;
}

cleave_status rt_tensor_decode(const rt_frame *f, int *id, int64_t dims[4], const float **data,
                               size_t *n, char *err, size_t errlen)
{
    if (f->len < RT_TENSOR_HEADER) {
        snprintf(err, errlen, "tensor frame of %u bytes is shorter than its %d-byte header",
                 (unsigned)f->len, RT_TENSOR_HEADER);
        return CLEAVE_EPARSE;
    }
    const unsigned char *p = f->buf;
    uint32_t tid = rt_get_u32(p);
    if (p[4] != RT_DTYPE_F32) {
        snprintf(err, errlen, "tensor %u: unsupported dtype %d", (unsigned)tid, p[4]);
        return CLEAVE_EPARSE;
    }
    if (p[5] != 4) {
        snprintf(err, errlen, "tensor %u: rank %d is not 4", (unsigned)tid, p[5]);
        return CLEAVE_EPARSE;
    }
    uint64_t elems = 1;
    int overflow = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t d = rt_get_u64(p + 8 + 8 * i);
        dims[i] = (int64_t)d;
        if (d == 0 || d > RT_MAX_PAYLOAD || elems > RT_MAX_PAYLOAD / d)
            overflow = 1;
        else
            elems *= d;
    }
    uint64_t have = f->len - RT_TENSOR_HEADER;
    if (overflow || elems * 4 != have) {
        snprintf(err, errlen,
                 "tensor %u: shape %llux%llux%llux%llu needs %s bytes, the frame "
                 "carries %llu",
                 (unsigned)tid, (unsigned long long)dims[0], (unsigned long long)dims[1],
                 (unsigned long long)dims[2], (unsigned long long)dims[3],
                 overflow ? "too many" : "", (unsigned long long)have);
        if (!overflow) /* say how many */
            snprintf(
                err, errlen,
                "tensor %u: shape %llux%llux%llux%llu needs %llu bytes, the frame carries %llu",
                (unsigned)tid, (unsigned long long)dims[0], (unsigned long long)dims[1],
                (unsigned long long)dims[2], (unsigned long long)dims[3],
                (unsigned long long)(elems * 4), (unsigned long long)have);
        return CLEAVE_EPARSE;
    }
    *id = (int)tid;
    *data = (const float *)(const void *)(p + RT_TENSOR_HEADER);
    *n = (size_t)elems;
    return CLEAVE_OK;
}
