/*
** common/json.c - JSON string escaping and numbers.
*/
#include "common/json.h"

#include <math.h>
#include <stdlib.h>

void cl_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

void cl_json_number(FILE *out, double v)
{
    char buf[32];
    if (isfinite(v)) {
        /* The shortest of %.15g and %.17g that reads back as the same double. */
        snprintf(buf, sizeof buf, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, sizeof buf, "%.17g", v);
        fputs(buf, out);
    } else
        fputs("null", out);
}
