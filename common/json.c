/*
** common/json.c - JSON string escaping and numbers.
*/
#include "common/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- reading ---------------------------------------------------------------------------- */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Parse the string literal at P (which points at its opening quote) into BUF; returns the
** character after the closing quote, or NULL. */
static const char *read_string(const char *p, char *buf, size_t buflen)
{
    size_t n = 0;
    if (*p != '"')
        return NULL;
    for (p++; *p && *p != '"'; p++) {
        char c = *p;
        if (c == '\\') {
            p++;
            switch (*p) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'u': {
                unsigned v = 0;
                for (int i = 1; i <= 4; i++) {
                    char h = p[i];
                    if (!h)
                        return NULL;
                    v = v * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
                }
                p += 4;
                c = v < 0x80 ? (char)v : '?';
                break;
            }
            case '\0': return NULL;
            default: c = *p; break;
            }
        }
        if (buf && n + 1 < buflen)
            buf[n++] = c;
    }
    if (buf && buflen)
        buf[n] = '\0';
    return *p == '"' ? p + 1 : NULL;
}

/* Skip one JSON value at P; returns the character after it, or NULL. */
static const char *skip_value(const char *p)
{
    p = skip_ws(p);
    if (*p == '"')
        return read_string(p, NULL, 0);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; *p; p++) {
            if (*p == '"') {
                p = read_string(p, NULL, 0);
                if (!p)
                    return NULL;
                p--;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
        }
        return NULL;
    }
    while (*p && *p != ',' && *p != '}' && *p != ']')
        p++;
    return p;
}

/* The value of top-level KEY in object JSON, or NULL. */
static const char *find_key(const char *json, const char *key)
{
    char name[128];
    const char *p = skip_ws(json);
    if (*p != '{')
        return NULL;
    p = skip_ws(p + 1);
    while (*p == '"') {
        p = read_string(p, name, sizeof name);
        if (!p)
            return NULL;
        p = skip_ws(p);
        if (*p != ':')
            return NULL;
        p = skip_ws(p + 1);
        if (strcmp(name, key) == 0)
            return p;
        p = skip_value(p);
        if (!p)
            return NULL;
        p = skip_ws(p);
        if (*p == ',')
            p = skip_ws(p + 1);
    }
    return NULL;
}

int cl_json_get_string(const char *json, const char *key, char *buf, size_t buflen)
{
    const char *v = find_key(json, key);
    return v && *v == '"' && read_string(v, buf, buflen) ? 0 : -1;
}

int cl_json_get_number(const char *json, const char *key, double *out)
{
    const char *v = find_key(json, key);
    char *end;
    if (!v)
        return -1;
    double d = strtod(v, &end);
    if (end == v)
        return -1;
    *out = d;
    return 0;
}

int cl_json_get_strings(const char *json, const char *key,
                        void (*fn)(void *arg, int index, const char *value), void *arg)
{
    char buf[1024];
    int n = 0;
    const char *p = find_key(json, key);
    if (!p || *p != '[')
        return -1;
    p = skip_ws(p + 1);
    while (*p == '"') {
        p = read_string(p, buf, sizeof buf);
        if (!p)
            return -1;
        fn(arg, n++, buf);
        p = skip_ws(p);
        if (*p == ',')
            p = skip_ws(p + 1);
    }
    return *p == ']' ? n : -1;
}
