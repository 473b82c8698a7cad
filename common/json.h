/*
** common/json.h - writing JSON strings safely (escaping), for --json output and stored JSON.
*/
#ifndef CLEAVE_COMMON_JSON_H
#define CLEAVE_COMMON_JSON_H

#include <stdio.h>

/* Write S to OUT as a JSON string literal, quotes included, escaping per RFC 8259. */
void cl_json_string(FILE *out, const char *s);

/* Write V as a JSON number, or null when V is NaN or infinite (JSON has neither). */
void cl_json_number(FILE *out, double v);

#endif /* CLEAVE_COMMON_JSON_H */
