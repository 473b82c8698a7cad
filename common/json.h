/*
** common/json.h - writing JSON strings safely (escaping), for --json output and stored JSON.
*/
#ifndef CLEAVE_COMMON_JSON_H
#define CLEAVE_COMMON_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Write S to OUT as a JSON string literal, quotes included, escaping per RFC 8259. */
void cl_json_string(FILE *out, const char *s);

/* Write V as a JSON number, or null when V is NaN or infinite (JSON has neither). */
void cl_json_number(FILE *out, double v);

/* Minimal readers for the flat JSON objects cleave writes itself (configurations): find KEY at
** the top level of object JSON.  Strings are unescaped into BUF (BUFLEN bytes).  Each returns 0
** on success, -1 if the key is missing or its value has another type. */
int cl_json_get_string(const char *json, const char *key, char *buf, size_t buflen);
int cl_json_get_number(const char *json, const char *key, double *out);
/* An array of strings: calls FN(ARG, INDEX, VALUE) for each element; returns the count or -1. */
int cl_json_get_strings(const char *json, const char *key,
                        void (*fn)(void *arg, int index, const char *value), void *arg);

#endif /* CLEAVE_COMMON_JSON_H */
