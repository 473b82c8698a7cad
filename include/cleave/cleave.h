/*
** cleave/cleave.h - the whole public API of cleave; include this one header.
*/
#ifndef CLEAVE_CLEAVE_H
#define CLEAVE_CLEAVE_H

#include "status.h"
#include "layer.h"
#include "load.h"
#include "predict.h"

#endif /* CLEAVE_CLEAVE_H */
