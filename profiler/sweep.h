/*
** profiler/sweep.h - sweep specs: which layer shapes a profiling run times.
**
** A sweep file (in data/sweeps/, named NAME.sweep) holds one entry per line; '#' starts a comment.
**
**   conv n=1 c=3 h=224 w=224 k=64 kernel=11 stride=4 pad=2        a fixed layer (real network)
**   random 40 conv n=1 c=3..512:log h=7..224:log w=@h k=8..512:log kernel=1|3|5|7 stride=1|2
*pad=same
**
** A `random COUNT TYPE key=value...` line draws COUNT layers by Latin hypercube sampling over its
** ranged keys (McKay, Beckman & Conover 1979): each ranged key's range is cut into COUNT equal
** strata (in log space for ":log"), every stratum is used exactly once, in an order shuffled per
** key, so the draws fill the space evenly even for small COUNT.  Values:
**   v          fixed (any value the layer syntax takes)
**   a..b       integer uniform in [a, b];   a..b:log   log-uniform
**   x|y|z      one of the choices
**   @key       the value drawn for KEY on the same line (w=@h: square inputs)
**   same       pad only: kernel / 2 (dilated: dilation * (kernel - 1) / 2)
** A draw that is not a valid layer, or exceeds the caps, is redrawn (uniformly) up to 50 times;
** entries that still fail are counted as rejected.
*/
#ifndef CLEAVE_PROFILER_SWEEP_H
#define CLEAVE_PROFILER_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include <cleave/cleave.h>

typedef struct prof_sweep_entry {
    cleave_layer layer;
    int from_random; /* 1: drawn by a random line; 0: a fixed line */
    int line;        /* line of the sweep file */
} prof_sweep_entry;

typedef struct prof_sweep {
    prof_sweep_entry *entries;
    size_t n;
    size_t rejected; /* random draws given up after 50 attempts */
} prof_sweep;

typedef struct prof_sweep_opts {
    uint64_t seed;      /* random lines */
    uint64_t max_bytes; /* refuse layers whose buffers exceed this (0: no cap) */
    double max_macs;    /* refuse layers with more MACs (0: no cap) */
    unsigned types;     /* bit (1 << type) per type to keep; 0: all */
    const char *name;   /* file name for messages */
} prof_sweep_opts;

/* Parse sweep TEXT into *OUT (entries in file order; random lines expanded).  Errors name the
** file and line: "'default.sweep' line 7: unknown key 'strde' for layer type 'conv'" with
** CLEAVE_EPARSE or CLEAVE_EINVAL; an entry that is fixed and invalid is an error, not a skip. */
cleave_status prof_sweep_parse(prof_sweep *out, const char *text, const prof_sweep_opts *o,
                               char *err, size_t errlen);

/* Read and parse the file at PATH. */
cleave_status prof_sweep_load(prof_sweep *out, const char *path, const prof_sweep_opts *o,
                              char *err, size_t errlen);

void prof_sweep_release(prof_sweep *s);

/* The text of data/sweeps/default.sweep, compiled in (cmake/embed.cmake). */
extern const char prof_default_sweep[];

/* Parse a comma-separated list of layer type names into a bit set; CLEAVE_EPARSE naming an
** unknown type. */
cleave_status prof_types_parse(const char *list, unsigned *types, char *err, size_t errlen);

#endif /* CLEAVE_PROFILER_SWEEP_H */
