/*
** common/status.c - version and status-code strings, generated from CLEAVE_STATUS_MAP, and the
** message writer of common/errmsg.h.
*/
#include <cleave/cleave.h>

#include <stdarg.h>
#include <stdio.h>

#include "common/errmsg.h"

CLEAVE_API const char *cleave_version(void)
{
    return CLEAVE_VERSION;
}

CLEAVE_API int cleave_version_number(void)
{
    return CLEAVE_VERSION_NUMBER;
}

CLEAVE_API const char *cleave_strerror(cleave_status status)
{
    switch (status) {
#define CLEAVE_STATUS_MSG_(name, value, msg)                                                       \
    case CLEAVE_##name: return msg;
        CLEAVE_STATUS_MAP(CLEAVE_STATUS_MSG_)
#undef CLEAVE_STATUS_MSG_
    default: return "unknown status";
    }
}

CLEAVE_API const char *cleave_status_name(cleave_status status)
{
    switch (status) {
#define CLEAVE_STATUS_NAME_(name, value, msg)                                                      \
    case CLEAVE_##name: return #name;
        CLEAVE_STATUS_MAP(CLEAVE_STATUS_NAME_)
#undef CLEAVE_STATUS_NAME_
    default: return "UNKNOWN";
    }
}

void cl_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
