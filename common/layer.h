/*
** common/layer.h - what the library itself needs of the layer catalogue beyond the public
** include/cleave/layer.h.
*/
#ifndef CLEAVE_COMMON_LAYER_H
#define CLEAVE_COMMON_LAYER_H

#include <stddef.h>

#include <cleave/cleave.h>

/* cleave_layer_validate(), which also hands back the static features it computed on the way
** (FEATS[CLEAVE_FEAT_COUNT], may be NULL), so that a caller on a hot path (the predictor)
** computes them once.  Features are only meaningful when CLEAVE_OK is returned. */
cleave_status cl_layer_check(const cleave_layer *l, double *feats, char *err, size_t errlen);

#endif /* CLEAVE_COMMON_LAYER_H */
