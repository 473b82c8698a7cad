/*
** predict/formula.c - formula device files (docs/devices.md): a recursive-descent parser from
** infix formulas over named features to postfix programs, and their evaluation.
**
**   expr   := term (('+' | '-') term)*
**   term   := factor (('*' | '/') factor)*
**   factor := ('+' | '-') factor | NUMBER | NAME | '(' expr ')'
*/
#include "predict/formula.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errmsg.h"

enum { OP_CONST, OP_VAR, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_NEG };

#define MAX_OPS 512

typedef struct parser {
    const char *s, *p; /* the formula, the cursor */
    pred_op ops[MAX_OPS];
    int nops, depth, max_depth;
    int loading;      /* variables: only model_bytes */
    const char *type; /* for messages: "conv", or "loading" */
    char msg[256];
    unsigned char seen[CLEAVE_FEAT_COUNT + 1];
} parser;

static int fail(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(parser *ps, const char *fmt, ...)
{
    va_list ap;
    if (ps->msg[0])
        return -1;
    va_start(ap, fmt);
    vsnprintf(ps->msg, sizeof ps->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static void skip_blank(parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r')
        ps->p++;
}

/* Append one op, tracking the stack depth it leaves. */
static int emit(parser *ps, int code, int var, double value)
{
    if (ps->nops == MAX_OPS)
        return fail(ps, "formula for '%s' is too long", ps->type);
    ps->ops[ps->nops++] = (pred_op){code, var, value};
    ps->depth += code == OP_CONST || code == OP_VAR ? 1 : code == OP_NEG ? 0 : -1;
    if (ps->depth > ps->max_depth)
        ps->max_depth = ps->depth;
    if (ps->max_depth > PRED_EXPR_MAX_DEPTH)
        return fail(ps, "formula for '%s' is nested too deeply", ps->type);
    return 0;
}

/* The rest of the formula from the cursor, for messages ("end of line" at the end). */
static const char *here(const parser *ps)
{
    return *ps->p ? ps->p : "end of line";
}

static int expr(parser *ps);

static int factor(parser *ps)
{
    skip_blank(ps);
    char c = *ps->p;
    if (c == '+' || c == '-') {
        ps->p++;
        if (factor(ps))
            return -1;
        return c == '-' ? emit(ps, OP_NEG, 0, 0) : 0;
    }
    if (c == '(') {
        ps->p++;
        if (expr(ps))
            return -1;
        skip_blank(ps);
        if (*ps->p != ')')
            return fail(ps, "formula for '%s': expected ')' at '%s'", ps->type, here(ps));
        ps->p++;
        return 0;
    }
    if (isdigit((unsigned char)c) || c == '.') {
        char *end;
        errno = 0;
        double v = strtod(ps->p, &end);
        if (end == ps->p || errno == ERANGE)
            return fail(ps, "formula for '%s': bad number at '%s'", ps->type, here(ps));
        ps->p = end;
        return emit(ps, OP_CONST, 0, v);
    }
    if (isalpha((unsigned char)c) || c == '_') {
        char name[64];
        size_t n = 0;
        while (isalnum((unsigned char)*ps->p) || *ps->p == '_') {
            if (n + 1 < sizeof name)
                name[n++] = *ps->p;
            ps->p++;
        }
        name[n] = '\0';
        int var = -1;
        if (!strcmp(name, "model_bytes"))
            var = PRED_VAR_MODEL_BYTES;
        for (int f = 0; f < CLEAVE_FEAT_COUNT && var < 0; f++)
            if (!strcmp(name, cleave_feature_name((cleave_feature)f)))
                var = f;
        if (ps->loading && var != PRED_VAR_MODEL_BYTES)
            return fail(ps, "the loading formula reads only model_bytes, not '%s'", name);
        if (!ps->loading && (var < 0 || var == PRED_VAR_MODEL_BYTES))
            return fail(ps, "formula for '%s' names unknown feature '%s'", ps->type, name);
        ps->seen[var] = 1;
        return emit(ps, OP_VAR, var, 0);
    }
    return fail(ps, "formula for '%s': expected a number, a feature or '(' at '%s'", ps->type,
                here(ps));
}

static int term(parser *ps)
{
    if (factor(ps))
        return -1;
    for (;;) {
        skip_blank(ps);
        char c = *ps->p;
        if (c != '*' && c != '/')
            return 0;
        ps->p++;
        if (factor(ps) || emit(ps, c == '*' ? OP_MUL : OP_DIV, 0, 0))
            return -1;
    }
}

static int expr(parser *ps)
{
    if (term(ps))
        return -1;
    for (;;) {
        skip_blank(ps);
        char c = *ps->p;
        if (c != '+' && c != '-')
            return 0;
        ps->p++;
        if (term(ps) || emit(ps, c == '+' ? OP_ADD : OP_SUB, 0, 0))
            return -1;
    }
}

/* Compile TEXT (one formula, NUL-terminated) for TYPE into *E; 0, or -1 with MSG set (an empty
** MSG with -1 means out of memory). */
static int compile(pred_expr *e, const char *text, const char *type, int loading, char *msg,
                   size_t msglen)
{
    parser *ps = calloc(1, sizeof *ps);
    if (!ps)
        return -1;
    ps->s = ps->p = text;
    ps->type = type;
    ps->loading = loading;
    int rc = expr(ps);
    skip_blank(ps);
    if (rc == 0 && *ps->p)
        rc = fail(ps, "formula for '%s': unexpected '%s'", type, ps->p);
    if (rc == 0) {
        e->ops = malloc(sizeof *e->ops * (size_t)ps->nops);
        if (!e->ops) {
            free(ps);
            msg[0] = '\0';
            return -1;
        }
        memcpy(e->ops, ps->ops, sizeof *e->ops * (size_t)ps->nops);
        e->nops = ps->nops;
        e->nvars = 0;
        for (int v = 0; v <= CLEAVE_FEAT_COUNT; v++)
            e->nvars += ps->seen[v];
    } else {
        snprintf(msg, msglen, "%s", ps->msg);
    }
    free(ps);
    return rc;
}

double pred_expr_eval(const pred_expr *e, const double *vars)
{
    double st[PRED_EXPR_MAX_DEPTH + 1];
    int top = 0;
    for (int i = 0; i < e->nops; i++) {
        const pred_op *o = &e->ops[i];
        switch (o->code) {
        case OP_CONST: st[top++] = o->value; break;
        case OP_VAR: st[top++] = vars[o->var]; break;
        case OP_NEG: st[top - 1] = -st[top - 1]; break;
        case OP_ADD:
            top--;
            st[top - 1] += st[top];
            break;
        case OP_SUB:
            top--;
            st[top - 1] -= st[top];
            break;
        case OP_MUL:
            top--;
            st[top - 1] *= st[top];
            break;
        default:
            top--;
            st[top - 1] /= st[top];
            break;
        }
    }
    return st[0];
}

void pred_formulas_release(pred_formulas *f)
{
    if (!f)
        return;
    free(f->device);
    for (int t = 0; t < CLEAVE_LAYER_COUNT; t++)
        free(f->type[t].ops);
    free(f->loading.ops);
    memset(f, 0, sizeof *f);
}

/* One line (comment stripped, NUL-terminated) of a formula file. */
static cleave_status parse_line(pred_formulas *f, char *line, int lineno, char *err, size_t errlen)
{
    char msg[300];
    char *p = line;
    while (*p == ' ' || *p == '\t' || *p == '\r')
        p++;
    if (!*p)
        return CLEAVE_OK;
    char *word = p;
    while (*p && *p != ' ' && *p != '\t' && *p != '=' && *p != '\r')
        p++;
    char save = *p;
    *p = '\0';
    if (!strcmp(word, "device") || !strcmp(word, "unit")) {
        int dev = word[0] == 'd';
        *p = save;
        char *v = p;
        while (*v == ' ' || *v == '\t')
            v++;
        char *end = v + strcspn(v, " \t\r");
        char *rest = end + strspn(end, " \t\r");
        *end = '\0';
        if (!*v || *rest) {
            cl_errf(err, errlen, "line %d: expected '%s'", lineno,
                    dev ? "device NAME" : "unit ms' or 'unit us");
            return CLEAVE_EPARSE;
        }
        if (dev) {
            if (f->device) {
                cl_errf(err, errlen, "line %d: 'device' is given twice", lineno);
                return CLEAVE_EPARSE;
            }
            if (!(f->device = strdup(v)))
                return CLEAVE_ENOMEM;
            return CLEAVE_OK;
        }
        if (f->us_per_unit > 0) {
            cl_errf(err, errlen, "line %d: 'unit' is given twice", lineno);
            return CLEAVE_EPARSE;
        }
        if (strcmp(v, "ms") && strcmp(v, "us")) {
            cl_errf(err, errlen, "line %d: unit '%s' is neither 'ms' nor 'us'", lineno, v);
            return CLEAVE_EPARSE;
        }
        f->us_per_unit = v[0] == 'm' ? 1000.0 : 1.0;
        return CLEAVE_OK;
    }
    /* TYPE = FORMULA or loading = FORMULA */
    char type[64];
    snprintf(type, sizeof type, "%s", word);
    *p = save;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '=') {
        cl_errf(err, errlen,
                "line %d: expected 'TYPE = FORMULA', 'loading = FORMULA', 'device NAME' or "
                "'unit ms|us'",
                lineno);
        return CLEAVE_EPARSE;
    }
    pred_expr *e;
    int loading = !strcmp(type, "loading");
    if (loading) {
        e = &f->loading;
    } else {
        int t = cleave_layer_type_from_name(type);
        if (t < 0) {
            cl_errf(err, errlen, "line %d: unknown layer type '%s'", lineno, type);
            return CLEAVE_EPARSE;
        }
        e = &f->type[t];
    }
    if (e->ops) {
        cl_errf(err, errlen, "line %d: '%s' is given twice", lineno, type);
        return CLEAVE_EPARSE;
    }
    if (compile(e, p + 1, type, loading, msg, sizeof msg) != 0) {
        if (!msg[0])
            return CLEAVE_ENOMEM;
        cl_errf(err, errlen, "line %d: %s", lineno, msg);
        return CLEAVE_EPARSE;
    }
    return CLEAVE_OK;
}

cleave_status pred_formulas_parse(pred_formulas *f, const char *text, size_t len, char *err,
                                  size_t errlen)
{
    cleave_status rc = CLEAVE_OK;
    char *buf = NULL;
    memset(f, 0, sizeof *f);
    if (!text && len) {
        cl_errf(err, errlen, "no text given");
        return CLEAVE_EPARSE;
    }
    size_t pos = 0;
    int lineno = 0;
    while (pos < len && rc == CLEAVE_OK) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - (text + pos)) : len - pos;
        lineno++;
        free(buf);
        if (!(buf = malloc(llen + 1))) {
            rc = CLEAVE_ENOMEM;
            break;
        }
        memcpy(buf, text + pos, llen);
        buf[llen] = '\0';
        if (strlen(buf) != llen) {
            cl_errf(err, errlen, "line %d: NUL byte", lineno);
            rc = CLEAVE_EPARSE;
            break;
        }
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        rc = parse_line(f, buf, lineno, err, errlen);
        pos += llen + (nl ? 1 : 0);
    }
    free(buf);
    if (rc == CLEAVE_OK) {
        int any = f->loading.ops != NULL;
        for (int t = 0; t < CLEAVE_LAYER_COUNT; t++)
            any |= f->type[t].ops != NULL;
        if (!f->device) {
            cl_errf(err, errlen, "no 'device NAME' line");
            rc = CLEAVE_EPARSE;
        } else if (!(f->us_per_unit > 0)) {
            cl_errf(err, errlen, "no 'unit ms' or 'unit us' line");
            rc = CLEAVE_EPARSE;
        } else if (!any) {
            cl_errf(err, errlen, "no formula");
            rc = CLEAVE_EPARSE;
        }
    }
    if (rc == CLEAVE_ENOMEM)
        cl_errf(err, errlen, "out of memory");
    if (rc != CLEAVE_OK)
        pred_formulas_release(f);
    return rc;
}

cleave_status pred_formulas_load(pred_formulas *f, const char *path, char *err, size_t errlen)
{
    char msg[400];
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        cl_errf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return CLEAVE_EIO;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len, fp);
        if (len < cap || cap >= ((size_t)1 << 24))
            break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(fp) || (buf && len == cap);
    fclose(fp);
    if (!buf) {
        cl_errf(err, errlen, "cannot read '%s': out of memory", path);
        return CLEAVE_ENOMEM;
    }
    if (bad) {
        free(buf);
        cl_errf(err, errlen, "cannot read '%s': %s", path,
                len == cap ? "larger than 16 MiB" : "I/O error");
        return CLEAVE_EIO;
    }
    cleave_status rc = pred_formulas_parse(f, buf, len, msg, sizeof msg);
    free(buf);
    if (rc != CLEAVE_OK)
        cl_errf(err, errlen, "'%s': %s", path, msg);
    return rc;
}
