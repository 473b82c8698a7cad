/*
** common/errmsg.h - the one way library code writes a message for its caller: into an ERR buffer
** of ERRLEN bytes that the caller owns (and may leave out: NULL or 0).  Internal.
*/
#ifndef CLEAVE_COMMON_ERRMSG_H
#define CLEAVE_COMMON_ERRMSG_H

#include <stddef.h>

/* snprintf(ERR, ERRLEN, FMT, ...) unless ERR is NULL or ERRLEN is 0. */
void cl_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* CLEAVE_COMMON_ERRMSG_H */
