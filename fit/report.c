/*
** fit/report.c - `cleave report`: seed 002's R^2 tables (model selection, dynamic-feature gain)
** from the stored held-out metrics, the selected models' percentage errors, and gnuplot plots.
**
** Three parts: reading the store into a fit_report (fit_report_load), writing it as text,
** markdown, csv or json (fit_report_write; the human formats share one table builder so that
** they print the same cells), and the plots (fit_report_plot: .dat + .gp always, .png when
** gnuplot is in PATH).
*/
#include "fit/report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/json.h"
#include "common/sysinfo.h"

/* ---- small helpers ------------------------------------------------------------------------ */

static cleave_status fail(cleave_status rc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static cleave_status fail(cleave_status rc, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* strerror(ERRNUM) with a lowercase first letter, as git-style messages want. */
static const char *os_reason(int errnum, char *buf, size_t len)
{
    snprintf(buf, len, "%s", strerror(errnum));
    if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
        buf[0] = (char)(buf[0] - 'A' + 'a');
    return buf;
}

static const char *const format_names[FIT_REPORT_NFORMATS] = {"table", "markdown", "csv", "json"};
static const char *const metric_names[FIT_REPORT_NMETRICS] = {"cv", "lolo"};

const char *fit_report_format_name(fit_report_format f)
{
    return (unsigned)f < FIT_REPORT_NFORMATS ? format_names[f] : NULL;
}

int fit_report_format_from_name(const char *name)
{
    for (int i = 0; name && i < FIT_REPORT_NFORMATS; i++)
        if (strcmp(name, format_names[i]) == 0)
            return i;
    return -1;
}

const char *fit_report_metric_name(fit_report_metric m)
{
    return (unsigned)m < FIT_REPORT_NMETRICS ? metric_names[m] : NULL;
}

int fit_report_metric_from_name(const char *name)
{
    for (int i = 0; name && i < FIT_REPORT_NMETRICS; i++)
        if (strcmp(name, metric_names[i]) == 0)
            return i;
    return -1;
}

/* The families as seed 002's "Model Selection" table heads them. */
static const char *const family_label[FIT_NFAMILIES] = {
    "logarithmic", "linear", "lasso", "ridge", "kernel ridge", "polynomial", "GBDT"};

static const char *set_label(int s)
{
    return s == FIT_SET_STATIC ? "static" : "static+dynamic";
}

/* ---- seed 002's figures ------------------------------------------------------------------- */

/* From the slides (seeds/002): the "Dynamic Characteristic Gain" table (linear and logarithmic
** models, static and static + dynamic feature sets) and "Experiment 1" (the Neurosurgeon
** baseline and the seed's model).  The seed heads its logarithmic column "Logistic Regression
** Model"; the R^2 values match its "Model Selection" logarithmic column, so it is the log model. */
static const fit_seed002_row seed002[] = {
    {CLEAVE_LAYER_CONV, "conv", 0.4458, 0.5718, 0.6687, 0.7136, 0.6687, 0.9758},
    {CLEAVE_LAYER_POOL, "pooling", 0.9604, 0.9776, 0.7239, 0.8939, 0.9604, 0.9962},
    {CLEAVE_LAYER_FC, "fc", 0.6461, 0.8417, 0.8321, 0.9306, 0.8321, 0.9661},
    {CLEAVE_LAYER_BN, "bn", 0.9535, 0.9874, 0.6269, 0.8625, 0.9535, 0.9982},
    {CLEAVE_LAYER_ACT, "activation", 0.7395, 0.8889, 0.6939, 0.8583, 0.7395, 0.8991},
    {CLEAVE_LAYER_SOFTMAX, "softmax", 0.9712, 0.9836, 0.7262, 0.9061, 0.9712, 0.9836},
    {CLEAVE_LAYER_ARGMAX, "argmax", 0.9535, 0.9751, 0.6747, 0.8159, 0.9535, 0.9776},
};

const fit_seed002_row *fit_report_seed002(cleave_layer_type type)
{
    for (size_t i = 0; i < sizeof seed002 / sizeof seed002[0]; i++)
        if (seed002[i].type == type)
            return &seed002[i];
    return NULL;
}

/* The family behind the seed's best static + dynamic figure: its polynomial model, except for
** softmax, where 0.9836 is the linear (and ridge) column of "Model Selection". */
static const char *seed_best_family(cleave_layer_type type)
{
    return type == CLEAVE_LAYER_SOFTMAX ? "linear" : "polynomial";
}

double fit_report_gain_pct(double static_r2, double dynamic_r2)
{
    if (!isfinite(static_r2) || !isfinite(dynamic_r2) || static_r2 <= 0.0)
        return NAN;
    return 100.0 * (dynamic_r2 - static_r2) / static_r2;
}

/* ---- reading the store -------------------------------------------------------------------- */

struct load_ctx {
    fit_report *r;
    fit_report_type *all; /* CLEAVE_LAYER_COUNT entries, indexed by type */
    int *present;
};

static fit_metrics metrics_of(double r2, double rmse, double mape, double within10, int64_t n)
{
    fit_metrics m = {r2, rmse, mape, within10, 0};
    int any = isfinite(r2) || isfinite(rmse) || isfinite(mape) || isfinite(within10);
    m.n = any && n > 0 ? (size_t)n : 0;
    return m;
}

/* Called per stored model: file it under its (type, set, family). */
static int on_model(const cl_model *m, void *arg)
{
    struct load_ctx *c = arg;
    int t = cleave_layer_type_from_name(m->type), f = fit_family_from_name(m->family),
        s = fit_feature_set_from_name(m->feature_set);
    if (t < 0 || f < 0 || s < 0) {
        c->r->nignored++;
        return 0;
    }
    fit_report_cell *cell = &c->all[t].cell[s][f];
    memset(cell, 0, sizeof *cell);
    cell->state = FIT_CELL_FITTED;
    cell->selected = m->selected != 0;
    cell->model_id = m->id;
    cell->n_samples = m->n_samples;
    cell->cv = metrics_of(m->cv_r2, m->cv_rmse, m->cv_mape, m->cv_within10, m->n_samples);
    cell->lolo = metrics_of(m->lolo_r2, m->lolo_rmse, m->lolo_mape, m->lolo_within10, m->n_samples);
    cell->loaded_cv = cell->loaded_lolo = fit_metrics_none();
    const char *detail = m->detail ? m->detail : "{}";
    if (cl_json_get_string(detail, "lolo_note", cell->lolo_note, sizeof cell->lolo_note) != 0)
        cell->lolo_note[0] = '\0';
    double v;
    if (cl_json_get_number(detail, "folds", &v) == 0 && v > c->r->folds && v < 1000)
        c->r->folds = (int)v;
    if (cl_json_get_number(detail, "seed", &v) == 0 && v >= 0)
        c->r->seed = (uint64_t)v;
    if (cell->selected)
        c->all[t].selected[s] = f;
    int target = fit_target_from_name(m->target[0] ? m->target : "median");
    if (target >= 0 && c->r->nmodels == 0)
        c->r->target = (fit_target)target;
    else if (target != (int)c->r->target)
        c->r->mixed_targets = 1;
    c->present[t] = 1;
    c->r->nmodels++;
    return 0;
}

/* Called per fit skip: the family could not be fitted; keep the reason. */
static int on_skip(const char *type, const char *family, const char *set, const char *reason,
                   void *arg)
{
    struct load_ctx *c = arg;
    int t = type ? cleave_layer_type_from_name(type) : -1;
    int f = family ? fit_family_from_name(family) : -1;
    int s = set ? fit_feature_set_from_name(set) : -1;
    if (t < 0 || f < 0 || s < 0) {
        c->r->nignored++;
        return 0;
    }
    fit_report_cell *cell = &c->all[t].cell[s][f];
    if (cell->state != FIT_CELL_FITTED) {
        cell->state = FIT_CELL_SKIPPED;
        snprintf(cell->reason, sizeof cell->reason, "%s", reason ? reason : "");
    }
    c->present[t] = 1;
    c->r->nskips++;
    return 0;
}

/* Held-out predictions of one model on its loaded samples. */
struct loaded_ctx {
    fit_target target;
    double *y, *cv, *lolo;
    size_t n, cap;
    int oom;
};

static int sample_is_loaded(const cl_sample *s)
{
    return s->load_cpu > 0.0 || s->load_membw > 0.0 || s->load_memcap > 0.0;
}

static int on_loaded_prediction(const cl_prediction *p, const cl_sample *s, void *arg)
{
    struct loaded_ctx *c = arg;
    double measured = fit_target_of(s, c->target);
    if (!sample_is_loaded(s) || !isfinite(measured))
        return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 256;
        double *y = realloc(c->y, cap * sizeof *y);
        if (y)
            c->y = y;
        double *cv = y ? realloc(c->cv, cap * sizeof *cv) : NULL;
        if (cv)
            c->cv = cv;
        double *lolo = cv ? realloc(c->lolo, cap * sizeof *lolo) : NULL;
        if (!lolo) {
            c->oom = 1;
            return 1;
        }
        c->lolo = lolo;
        c->cap = cap;
    }
    c->y[c->n] = measured;
    c->cv[c->n] = p->cv_us;
    c->lolo[c->n] = p->lolo_us;
    c->n++;
    return 0;
}

/* The loaded-sample metrics of the selected models of every type (fit_report_cell). */
static cleave_status compute_loaded(cl_store *st, fit_report *r, char *err, size_t errlen)
{
    struct loaded_ctx c = {r->target, NULL, NULL, NULL, 0, 0, 0};
    cleave_status rc = CLEAVE_OK;

    for (size_t i = 0; i < r->ntypes; i++)
        for (int s = 0; s < FIT_NSETS; s++) {
            int f = r->types[i].selected[s];
            if (f < 0)
                continue;
            fit_report_cell *cell = &r->types[i].cell[s][f];
            c.n = 0;
            if ((rc = cl_store_predictions_foreach(st, cell->model_id, on_loaded_prediction, &c)) !=
                CLEAVE_OK) {
                fail(rc, err, errlen, "%s", cl_store_errmsg(st));
                goto done;
            }
            if (c.oom) {
                rc = fail(CLEAVE_ENOMEM, err, errlen, "out of memory");
                goto done;
            }
            fit_metrics_compute(&cell->loaded_cv, c.y, c.cv, c.n);
            fit_metrics_compute(&cell->loaded_lolo, c.y, c.lolo, c.n);
        }
done:
    free(c.y);
    free(c.cv);
    free(c.lolo);
    return rc;
}

cleave_status fit_report_load(cl_store *st, const char *device, fit_report *out, char *err,
                              size_t errlen)
{
    fit_report_type *all = NULL;
    int *present = NULL;
    int64_t device_id = 0;
    cleave_status rc;

    memset(out, 0, sizeof *out);
    if (!device || !*device)
        return fail(CLEAVE_EINVAL, err, errlen, "a device name is required");
    snprintf(out->device, sizeof out->device, "%s", device);
    const char *path = cl_store_path(st);
    all = calloc(CLEAVE_LAYER_COUNT, sizeof *all);
    present = calloc(CLEAVE_LAYER_COUNT, sizeof *present);
    out->db = strdup(path ? path : "");
    if (!all || !present || !out->db) {
        rc = fail(CLEAVE_ENOMEM, err, errlen, "out of memory");
        goto done;
    }
    for (int t = 0; t < CLEAVE_LAYER_COUNT; t++) {
        all[t].type = (cleave_layer_type)t;
        for (int s = 0; s < FIT_NSETS; s++)
            all[t].selected[s] = -1;
    }
    if ((rc = cl_store_device_get(st, device, NULL, &device_id)) != CLEAVE_OK) {
        fail(rc, err, errlen, "%s", cl_store_errmsg(st));
        goto done;
    }
    struct load_ctx c = {out, all, present};
    if ((rc = cl_store_models_foreach(st, device_id, NULL, on_model, &c)) != CLEAVE_OK ||
        (rc = cl_store_fit_skips_foreach(st, device_id, on_skip, &c)) != CLEAVE_OK) {
        fail(rc, err, errlen, "%s", cl_store_errmsg(st));
        goto done;
    }
    if (out->nmodels == 0) {
        rc = fail(CLEAVE_ENOMODEL, err, errlen,
                  "device '%s' has no fitted models in '%s'; run 'cleave fit --device %s' first",
                  device, out->db, device);
        goto done;
    }
    size_t n = 0;
    for (int t = 0; t < CLEAVE_LAYER_COUNT; t++)
        n += present[t] != 0;
    if (!(out->types = calloc(n, sizeof *out->types))) {
        rc = fail(CLEAVE_ENOMEM, err, errlen, "out of memory");
        goto done;
    }
    for (int t = 0; t < CLEAVE_LAYER_COUNT; t++)
        if (present[t])
            out->types[out->ntypes++] = all[t];
    rc = compute_loaded(st, out, err, errlen);
done:
    free(all);
    free(present);
    return rc;
}

void fit_report_release(fit_report *r)
{
    if (!r)
        return;
    free(r->db);
    free(r->types);
    memset(r, 0, sizeof *r);
}

/* ---- number formatting -------------------------------------------------------------------- */

/* Every displayed number goes through these, so that a value that was not computed is "n/a"
** everywhere. */
static void fmt_fixed(char *buf, size_t len, double v, int decimals, const char *suffix)
{
    if (!isfinite(v))
        snprintf(buf, len, "n/a");
    else if (fabs(v) >= 1e6) /* a diverged model: keep the column narrow */
        snprintf(buf, len, "%.3g%s", v, suffix);
    else
        snprintf(buf, len, "%.*f%s", decimals, v, suffix);
}

static void fmt_r2(char *buf, size_t len, double v)
{
    fmt_fixed(buf, len, v, 4, "");
}
static void fmt_gain(char *buf, size_t len, double v)
{
    fmt_fixed(buf, len, v, 2, "%");
}
static void fmt_share(char *buf, size_t len, double share)
{
    fmt_fixed(buf, len, 100.0 * share, 1, "%");
}
static void fmt_mape(char *buf, size_t len, double v)
{
    fmt_fixed(buf, len, v, 1, "%");
}
static void fmt_rmse(char *buf, size_t len, double v)
{
    fmt_fixed(buf, len, v, 2, "");
}

/* A full-precision number for csv (the shortest of %.15g, %.16g, %.17g that reads back as the
** same double), or n/a. */
static void csv_number(FILE *out, double v)
{
    char buf[40];
    if (!isfinite(v)) {
        fputs("n/a", out);
        return;
    }
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, out);
}

static double metric_r2(const fit_report_cell *c, fit_report_metric m)
{
    if (c->state != FIT_CELL_FITTED)
        return NAN;
    return m == FIT_REPORT_LOLO ? c->lolo.r2 : c->cv.r2;
}

static const fit_metrics *loaded_of(const fit_report_cell *c, fit_report_metric m)
{
    return m == FIT_REPORT_LOLO ? &c->loaded_lolo : &c->loaded_cv;
}

/* ---- tables shared by the text and markdown formats --------------------------------------- */

#define CELL_MAX 96

struct col {
    const char *group; /* spanning header over consecutive columns with the same group */
    const char *name;
    int right; /* right-aligned (numbers) */
};

struct tab {
    const struct col *cols;
    size_t ncols, nrows, cap;
    char (*cells)[CELL_MAX]; /* nrows x ncols */
    int oom;
};

static void tab_init(struct tab *t, const struct col *cols, size_t ncols)
{
    memset(t, 0, sizeof *t);
    t->cols = cols;
    t->ncols = ncols;
}

static void tab_free(struct tab *t)
{
    free(t->cells);
}

/* Append an empty row; its cells, or NULL when out of memory (remembered in T->oom). */
static char (*tab_row(struct tab *t))[CELL_MAX]
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        char(*cells)[CELL_MAX] = realloc(t->cells, cap * t->ncols * sizeof *cells);
        if (!cells) {
            t->oom = 1;
            return NULL;
        }
        t->cells = cells;
        t->cap = cap;
    }
    char(*row)[CELL_MAX] = t->cells + t->nrows * t->ncols;
    memset(row, 0, t->ncols * sizeof *row);
    t->nrows++;
    return row;
}

/* Display width of UTF-8 text: one column per code point (no wide characters occur here). */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void put_spaces(FILE *out, size_t n)
{
    while (n--)
        fputc(' ', out);
}

static int ends_with_star(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && s[n - 1] == '*';
}

/* Aligned text: two spaces between columns, a dashed group header line over spanning groups.
** In a right-aligned column a trailing '*' (the selection mark) hangs to the right of the
** digits, so that the numbers stay aligned. */
static void tab_print_text(FILE *out, const struct tab *t)
{
    size_t w[32] = {0}, hang[32] = {0};
    if (t->ncols > 32)
        return;
    for (size_t c = 0; c < t->ncols; c++) {
        size_t core = text_width(t->cols[c].name);
        for (size_t r = 0; r < t->nrows; r++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t sw = text_width(s);
            if (t->cols[c].right && ends_with_star(s)) {
                hang[c] = 1;
                sw--;
            }
            if (sw > core)
                core = sw;
        }
        w[c] = core + hang[c];
    }
    /* Widen the last column of a group whose label does not fit over it. */
    int groups = 0;
    for (size_t c = 0; c < t->ncols;) {
        size_t e = c + 1;
        const char *g = t->cols[c].group;
        if (!g || !*g) {
            c++;
            continue;
        }
        groups = 1;
        while (e < t->ncols && t->cols[e].group && strcmp(t->cols[e].group, g) == 0)
            e++;
        size_t span = 2 * (e - c - 1);
        for (size_t k = c; k < e; k++)
            span += w[k];
        if (text_width(g) + 4 > span)
            w[e - 1] += text_width(g) + 4 - span;
        c = e;
    }
    if (groups) {
        char line[4096];
        size_t pos = 0;
        for (size_t c = 0; c < t->ncols && pos < sizeof line - 512;) {
            const char *g = t->cols[c].group;
            size_t e = c + 1;
            if (c)
                pos += (size_t)snprintf(line + pos, sizeof line - pos, "  ");
            if (!g || !*g) {
                pos += (size_t)snprintf(line + pos, sizeof line - pos, "%*s", (int)w[c], "");
                c++;
                continue;
            }
            while (e < t->ncols && t->cols[e].group && strcmp(t->cols[e].group, g) == 0)
                e++;
            size_t span = 2 * (e - c - 1);
            for (size_t k = c; k < e; k++)
                span += w[k];
            size_t gw = text_width(g) + 2, left = (span - gw) / 2, right = span - gw - left;
            for (size_t k = 0; k < left && pos < sizeof line - 256; k++)
                line[pos++] = '-';
            pos += (size_t)snprintf(line + pos, sizeof line - pos, " %s ", g);
            for (size_t k = 0; k < right && pos < sizeof line - 256; k++)
                line[pos++] = '-';
            line[pos] = '\0';
            c = e;
        }
        while (pos > 0 && line[pos - 1] == ' ')
            line[--pos] = '\0';
        fprintf(out, "%s\n", line);
    }
    /* Header, then rows; trailing blanks are not printed. */
    for (size_t r = 0; r <= t->nrows; r++) {
        size_t pending = 0; /* spaces owed before the next visible text */
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = r == 0 ? t->cols[c].name : t->cells[(r - 1) * t->ncols + c];
            size_t sw = text_width(s);
            if (c)
                pending += 2;
            if (!*s) {
                pending += w[c];
                continue;
            }
            if (t->cols[c].right) {
                int star = r > 0 && hang[c] && ends_with_star(s);
                size_t core = star ? sw - 1 : sw;
                size_t cw = r == 0 ? w[c] : w[c] - hang[c];
                put_spaces(out, pending + (cw > core ? cw - core : 0));
                fputs(s, out);
                pending = (r > 0 && hang[c] && !star) ? 1 : 0;
            } else {
                put_spaces(out, pending);
                fputs(s, out);
                pending = w[c] > sw ? w[c] - sw : 0;
            }
        }
        fputc('\n', out);
    }
}

/* A markdown cell: '|' escaped. */
static void md_cell(FILE *out, const char *s)
{
    fputc(' ', out);
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
    fputs(" |", out);
}

/* A GitHub-flavoured markdown table; a group label is prefixed to each of its column heads. */
static void tab_print_markdown(FILE *out, const struct tab *t)
{
    char head[256];
    fputc('|', out);
    for (size_t c = 0; c < t->ncols; c++) {
        const char *g = t->cols[c].group;
        if (g && *g)
            snprintf(head, sizeof head, "%s %s", g, t->cols[c].name);
        else
            snprintf(head, sizeof head, "%s", t->cols[c].name);
        md_cell(out, head);
    }
    fputs("\n|", out);
    for (size_t c = 0; c < t->ncols; c++)
        fputs(t->cols[c].right ? "---:|" : "---|", out);
    fputc('\n', out);
    for (size_t r = 0; r < t->nrows; r++) {
        fputc('|', out);
        for (size_t c = 0; c < t->ncols; c++)
            md_cell(out, t->cells[r * t->ncols + c]);
        fputc('\n', out);
    }
}

/* ---- the document (text and markdown) ----------------------------------------------------- */

struct doc {
    FILE *out;
    int md;
};

static void doc_heading(struct doc *d, const char *text)
{
    if (d->md)
        fprintf(d->out, "\n### %s\n\n", text);
    else
        fprintf(d->out, "\n%s\n\n", text);
}

static void doc_table(struct doc *d, const struct tab *t)
{
    if (d->md)
        tab_print_markdown(d->out, t);
    else
        tab_print_text(d->out, t);
}

/* A paragraph of notes under a table (markdown needs the blank line to end the table). */
static void doc_note(struct doc *d, const char *text)
{
    fprintf(d->out, d->md ? "\n%s\n" : "%s\n", text);
}

/* A list: a lead-in line, then one item per call of doc_item(). */
static void doc_list(struct doc *d, const char *lead)
{
    fprintf(d->out, d->md ? "\n%s\n\n" : "%s\n", lead);
}

static void doc_item(struct doc *d, const char *text)
{
    fprintf(d->out, d->md ? "- %s\n" : "  %s\n", text);
}

static const char *metric_title(fit_report_metric m, const fit_report *r, char *buf, size_t len)
{
    if (m == FIT_REPORT_LOLO)
        snprintf(buf, len, "leave-one-load-level-out");
    else if (r->folds > 0)
        snprintf(buf, len, "%d-fold cross-validation", r->folds);
    else
        snprintf(buf, len, "k-fold cross-validation");
    return buf;
}

/* (a): R^2 per layer type x family for one feature set, seed 002's "Model Selection" layout. */
static int section_families(struct doc *d, const fit_report *r, int set, fit_report_metric m)
{
    static const struct col cols[] = {
        {NULL, "type", 0},  {NULL, "logarithmic", 1},  {NULL, "linear", 1},     {NULL, "lasso", 1},
        {NULL, "ridge", 1}, {NULL, "kernel ridge", 1}, {NULL, "polynomial", 1}, {NULL, "GBDT", 1}};
    struct tab t;
    char title[256], mt[64], line[600];
    size_t nskipped = 0;

    tab_init(&t, cols, sizeof cols / sizeof cols[0]);
    for (size_t i = 0; i < r->ntypes; i++) {
        const fit_report_type *ty = &r->types[i];
        char(*row)[CELL_MAX] = tab_row(&t);
        if (!row)
            break;
        snprintf(row[0], CELL_MAX, "%s", cleave_layer_type_name(ty->type));
        for (int f = 0; f < FIT_NFAMILIES; f++) {
            const fit_report_cell *c = &ty->cell[set][f];
            if (c->state == FIT_CELL_SKIPPED) {
                snprintf(row[1 + f], CELL_MAX, "-");
                nskipped++;
            } else if (c->state == FIT_CELL_FITTED) {
                fmt_r2(row[1 + f], CELL_MAX, metric_r2(c, m));
                if (c->selected)
                    strcat(row[1 + f], "*");
            }
        }
    }
    if (t.oom) {
        tab_free(&t);
        return -1;
    }
    snprintf(title, sizeof title, "(a) R² per layer type and family, %s features (%s)",
             set == FIT_SET_STATIC ? "static" : "static + dynamic",
             metric_title(m, r, mt, sizeof mt));
    doc_heading(d, title);
    doc_table(d, &t);
    doc_note(d, d->md ? "`*` = selected family (best k-fold R²); `-` = skipped (reasons below); "
                        "blank = not fitted; n/a = not computed."
                      : "* = selected family (best k-fold R²); - = skipped (reasons below); "
                        "blank = not fitted; n/a = not computed");
    if (nskipped) {
        doc_list(d, "skipped:");
        for (size_t i = 0; i < r->ntypes; i++)
            for (int f = 0; f < FIT_NFAMILIES; f++) {
                const fit_report_cell *c = &r->types[i].cell[set][f];
                if (c->state != FIT_CELL_SKIPPED)
                    continue;
                snprintf(line, sizeof line, "%s, %s: %s", cleave_layer_type_name(r->types[i].type),
                         family_label[f], c->reason);
                doc_item(d, line);
            }
    }
    tab_free(&t);
    return 0;
}

/* Fill the static / dynamic / increase cells of one gain group. */
static void gain_cells(char (*cells)[CELL_MAX], double s, double dyn)
{
    fmt_r2(cells[0], CELL_MAX, s);
    fmt_r2(cells[1], CELL_MAX, dyn);
    fmt_gain(cells[2], CELL_MAX, fit_report_gain_pct(s, dyn));
}

/* (b): the dynamic-feature gain, seed 002's "Dynamic Characteristic Gain" layout, with the
** seed's own figures in a row under each type it has; then the loaded samples only. */
static int section_gain(struct doc *d, const fit_report *r, fit_report_metric m)
{
    static const struct col cols[] = {{NULL, "type", 0},
                                      {NULL, "source", 0},
                                      {"linear", "static", 1},
                                      {"linear", "dynamic", 1},
                                      {"linear", "increase", 1},
                                      {"logarithmic", "static", 1},
                                      {"logarithmic", "dynamic", 1},
                                      {"logarithmic", "increase", 1},
                                      {"selected", "family", 0},
                                      {"selected", "static", 1},
                                      {"selected", "dynamic", 1},
                                      {"selected", "increase", 1}};
    static const struct col lcols[] = {
        {NULL, "type", 0},    {NULL, "loaded samples", 1},     {"static", "family", 0},
        {"static", "R²", 1},  {"static+dynamic", "family", 0}, {"static+dynamic", "R²", 1},
        {NULL, "increase", 1}};
    struct tab t, lt;
    char title[256], mt[64];
    int rc = 0, seed_rows = 0;

    tab_init(&t, cols, sizeof cols / sizeof cols[0]);
    tab_init(&lt, lcols, sizeof lcols / sizeof lcols[0]);
    for (size_t i = 0; i < r->ntypes; i++) {
        const fit_report_type *ty = &r->types[i];
        char(*row)[CELL_MAX] = tab_row(&t);
        if (!row)
            break;
        snprintf(row[0], CELL_MAX, "%s", cleave_layer_type_name(ty->type));
        snprintf(row[1], CELL_MAX, "cleave");
        gain_cells(row + 2, metric_r2(&ty->cell[FIT_SET_STATIC][FIT_LINEAR], m),
                   metric_r2(&ty->cell[FIT_SET_DYNAMIC][FIT_LINEAR], m));
        gain_cells(row + 5, metric_r2(&ty->cell[FIT_SET_STATIC][FIT_LOG], m),
                   metric_r2(&ty->cell[FIT_SET_DYNAMIC][FIT_LOG], m));
        int f = ty->selected[FIT_SET_DYNAMIC];
        if (f >= 0) {
            snprintf(row[8], CELL_MAX, "%s", family_label[f]);
            gain_cells(row + 9, metric_r2(&ty->cell[FIT_SET_STATIC][f], m),
                       metric_r2(&ty->cell[FIT_SET_DYNAMIC][f], m));
        } else {
            snprintf(row[8], CELL_MAX, "(none)");
            gain_cells(row + 9, NAN, NAN);
        }
        const fit_seed002_row *sd = fit_report_seed002(ty->type);
        if (sd) {
            if (!(row = tab_row(&t)))
                break;
            seed_rows = 1;
            snprintf(row[1], CELL_MAX, "seed 002");
            gain_cells(row + 2, sd->linear_static, sd->linear_dynamic);
            gain_cells(row + 5, sd->log_static, sd->log_dynamic);
            snprintf(row[8], CELL_MAX, "NS → %s", seed_best_family(ty->type));
            gain_cells(row + 9, sd->baseline_static, sd->best_dynamic);
        }
        /* The loaded-sample comparison of the selected models. */
        int fs = ty->selected[FIT_SET_STATIC], fd = ty->selected[FIT_SET_DYNAMIC];
        const fit_metrics *ls = fs >= 0 ? loaded_of(&ty->cell[FIT_SET_STATIC][fs], m) : NULL;
        const fit_metrics *ld = fd >= 0 ? loaded_of(&ty->cell[FIT_SET_DYNAMIC][fd], m) : NULL;
        if ((ls && ls->n) || (ld && ld->n)) {
            char(*lr)[CELL_MAX] = tab_row(&lt);
            if (!lr)
                break;
            size_t ns = ls ? ls->n : 0, nd = ld ? ld->n : 0;
            snprintf(lr[0], CELL_MAX, "%s", cleave_layer_type_name(ty->type));
            if (ns == nd || !ns || !nd)
                snprintf(lr[1], CELL_MAX, "%zu", nd ? nd : ns);
            else
                snprintf(lr[1], CELL_MAX, "%zu/%zu", ns, nd);
            snprintf(lr[2], CELL_MAX, "%s", fs >= 0 ? family_label[fs] : "(none)");
            fmt_r2(lr[3], CELL_MAX, ls && ls->n ? ls->r2 : NAN);
            snprintf(lr[4], CELL_MAX, "%s", fd >= 0 ? family_label[fd] : "(none)");
            fmt_r2(lr[5], CELL_MAX, ld && ld->n ? ld->r2 : NAN);
            fmt_gain(lr[6], CELL_MAX,
                     fit_report_gain_pct(ls && ls->n ? ls->r2 : NAN, ld && ld->n ? ld->r2 : NAN));
        }
    }
    if (t.oom || lt.oom) {
        rc = -1;
        goto done;
    }
    snprintf(title, sizeof title,
             "(b) Dynamic-feature gain: R² static → static+dynamic features (%s), increase = "
             "(dynamic − static) / static",
             metric_title(m, r, mt, sizeof mt));
    doc_heading(d, title);
    doc_table(d, &t);
    if (d->md)
        doc_note(d, "*selected* = the family selected on static+dynamic features, evaluated on "
                    "both sets. Rows *seed 002* are the seed's published R² (its \"Dynamic "
                    "Characteristic Gain\" table; under *selected*, its \"Experiment 1\": "
                    "Neurosurgeon (NS) on static features → its own model on static+dynamic "
                    "features), measured on its devices and layers, not ours; cleave rows are "
                    "held-out R² on this device. An increase is n/a when the static R² is not "
                    "positive.");
    else {
        doc_note(d, "selected = the family selected on static+dynamic features, evaluated on "
                    "both sets.");
        if (seed_rows)
            doc_note(d, "seed 002 rows = the seed's published R² (its \"Dynamic Characteristic "
                        "Gain\" table; under selected, its \"Experiment 1\": Neurosurgeon (NS)\n"
                        "on static features -> its own model on static+dynamic features), "
                        "measured on its devices, not ours.");
        doc_note(d, "An increase is n/a when the static R² is not positive.");
    }
    snprintf(title, sizeof title, "(b) Selected models on the samples taken under load only (%s)",
             metric_title(m, r, mt, sizeof mt));
    doc_heading(d, title);
    if (lt.nrows == 0)
        doc_note(d, "no sample of this device was taken under load (every load level is idle)");
    else {
        doc_table(d, &lt);
        doc_note(d, d->md ? "Held-out predictions of the selected models, restricted to samples "
                            "whose load level is not idle (cpu, membw and memcap not all 0)."
                          : "held-out predictions of the selected models, restricted to samples "
                            "whose load level is not idle");
    }
done:
    tab_free(&t);
    tab_free(&lt);
    return rc;
}

/* One note with the labels it applies to, for deduplicated LOLO notes. */
struct note_group {
    char note[320];
    char where[512];
};

/* (c): the selected models' percentage errors, both sets, k-fold and LOLO. */
static int section_accuracy(struct doc *d, const fit_report *r)
{
    static const struct col cols[] = {
        {NULL, "type", 0},     {NULL, "features", 0},    {NULL, "family", 0},
        {NULL, "n", 1},        {"k-fold", "R²", 1},      {"k-fold", "±10 %", 1},
        {"k-fold", "MAPE", 1}, {"k-fold", "RMSE µs", 1}, {"LOLO", "R²", 1},
        {"LOLO", "±10 %", 1},  {"LOLO", "MAPE", 1},      {"LOLO", "RMSE µs", 1}};
    struct tab t;
    struct note_group notes[8];
    size_t nnotes = 0;
    char title[256], mt[64];

    tab_init(&t, cols, sizeof cols / sizeof cols[0]);
    for (size_t i = 0; i < r->ntypes; i++)
        for (int s = 0; s < FIT_NSETS; s++) {
            const fit_report_type *ty = &r->types[i];
            char(*row)[CELL_MAX] = tab_row(&t);
            if (!row)
                break;
            int f = ty->selected[s];
            snprintf(row[0], CELL_MAX, "%s", s == 0 ? cleave_layer_type_name(ty->type) : "");
            snprintf(row[1], CELL_MAX, "%s", set_label(s));
            if (f < 0) {
                snprintf(row[2], CELL_MAX, "(none)");
                for (int k = 3; k < 12; k++)
                    snprintf(row[k], CELL_MAX, "n/a");
                continue;
            }
            const fit_report_cell *c = &ty->cell[s][f];
            snprintf(row[2], CELL_MAX, "%s", family_label[f]);
            snprintf(row[3], CELL_MAX, "%lld", (long long)c->n_samples);
            const fit_metrics *mm[2] = {&c->cv, &c->lolo};
            for (int k = 0; k < 2; k++) {
                fmt_r2(row[4 + 4 * k], CELL_MAX, mm[k]->r2);
                fmt_share(row[5 + 4 * k], CELL_MAX, mm[k]->within10);
                fmt_mape(row[6 + 4 * k], CELL_MAX, mm[k]->mape);
                fmt_rmse(row[7 + 4 * k], CELL_MAX, mm[k]->rmse);
            }
            if (c->lolo_note[0]) {
                char where[64];
                size_t g;
                snprintf(where, sizeof where, "%s %s", cleave_layer_type_name(ty->type),
                         set_label(s));
                for (g = 0; g < nnotes && strcmp(notes[g].note, c->lolo_note) != 0; g++)
                    ;
                if (g == nnotes && nnotes < sizeof notes / sizeof notes[0]) {
                    snprintf(notes[g].note, sizeof notes[g].note, "%s", c->lolo_note);
                    notes[g].where[0] = '\0';
                    nnotes++;
                }
                if (g < nnotes) {
                    size_t len = strlen(notes[g].where);
                    snprintf(notes[g].where + len, sizeof notes[g].where - len, "%s%s",
                             len ? ", " : "", where);
                }
            }
        }
    if (t.oom) {
        tab_free(&t);
        return -1;
    }
    snprintf(title, sizeof title,
             "(c) Selected models: share within ±10 %%, MAPE and RMSE (%s and "
             "leave-one-load-level-out)",
             metric_title(FIT_REPORT_CV, r, mt, sizeof mt));
    doc_heading(d, title);
    doc_table(d, &t);
    if (nnotes) {
        doc_list(d, "LOLO n/a:");
        for (size_t g = 0; g < nnotes; g++) {
            fprintf(d->out, d->md ? "- %s (%s)\n" : "  %s (%s)\n", notes[g].note, notes[g].where);
        }
    }
    tab_free(&t);
    return 0;
}

/* The list of plot files under the tables. */
static void section_plots(struct doc *d, const fit_report_plots *p)
{
    char msg[1200];
    doc_heading(d, "(d) Plots");
    fit_report_plots_message(p, msg, sizeof msg);
    fprintf(d->out, d->md ? "%s:\n\n" : "%s:\n", msg);
    for (size_t i = 0; i < p->nfiles; i++) {
        if (d->md) {
            snprintf(msg, sizeof msg, "`%s`", p->files[i]);
            doc_item(d, msg);
        } else
            doc_item(d, p->files[i]);
    }
    if (p->nnotes) {
        doc_list(d, "not drawn:");
        for (size_t i = 0; i < p->nnotes; i++)
            doc_item(d, p->notes[i]);
    }
}

static int write_doc(FILE *out, const fit_report *r, int md, fit_report_metric m,
                     const fit_report_plots *plots)
{
    struct doc d = {out, md};
    char mt[64];
    if (md)
        fprintf(out, "## cleave report: device `%s`\n\nStore `%s`: ", r->device, r->db);
    else
        fprintf(out, "cleave report: device '%s' in '%s'\n", r->device, r->db);
    fprintf(out, "%zu layer %s, %zu models, %zu skipped; R² on held-out data (%s)", r->ntypes,
            r->ntypes == 1 ? "type" : "types", r->nmodels, r->nskips,
            metric_title(m, r, mt, sizeof mt));
    if (r->folds > 0 && m == FIT_REPORT_CV)
        fprintf(out, ", seed %llu", (unsigned long long)r->seed);
    fprintf(out, "; models predict the %s latency of the repetitions%s", fit_target_name(r->target),
            r->mixed_targets ? " (some models another statistic: refit to make them agree)" : "");
    fputs(md ? ".\n" : "\n", out);
    if (r->nignored)
        fprintf(out,
                md ? "\n%zu stored models or skips of unknown type, family or feature set "
                     "were left out.\n"
                   : "%zu stored models or skips of unknown type, family or feature set "
                     "were left out\n",
                r->nignored);
    for (int s = 0; s < FIT_NSETS; s++)
        if (section_families(&d, r, s, m))
            return -1;
    if (section_gain(&d, r, m) || section_accuracy(&d, r))
        return -1;
    if (plots)
        section_plots(&d, plots);
    return 0;
}

/* ---- csv and json ------------------------------------------------------------------------- */

/* A csv field, quoted when it holds a comma, quote or line break (RFC 4180). */
static void csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static const char *state_name(fit_report_state s)
{
    return s == FIT_CELL_FITTED ? "fitted" : s == FIT_CELL_SKIPPED ? "skipped" : "absent";
}

static void csv_metrics(FILE *out, const fit_metrics *m)
{
    const double v[4] = {m->r2, m->rmse, m->mape, 100.0 * m->within10};
    for (int k = 0; k < 4; k++) {
        fputc(',', out);
        csv_number(out, v[k]);
    }
}

/* One row per type x feature set x family with every metric. */
static void write_csv(FILE *out, const fit_report *r)
{
    fputs("device,type,feature_set,family,status,selected,n_samples,cv_r2,cv_rmse_us,"
          "cv_mape_pct,cv_within10_pct,lolo_r2,lolo_rmse_us,lolo_mape_pct,lolo_within10_pct,"
          "loaded_n,loaded_cv_r2,loaded_lolo_r2,note\n",
          out);
    for (size_t i = 0; i < r->ntypes; i++)
        for (int s = 0; s < FIT_NSETS; s++)
            for (int f = 0; f < FIT_NFAMILIES; f++) {
                const fit_report_cell *c = &r->types[i].cell[s][f];
                fit_metrics none = fit_metrics_none();
                csv_field(out, r->device);
                fprintf(out, ",%s,%s,%s,%s,%d,", cleave_layer_type_name(r->types[i].type),
                        fit_feature_set_name((fit_feature_set)s), fit_family_name((fit_family)f),
                        state_name(c->state), c->selected);
                if (c->state == FIT_CELL_FITTED)
                    fprintf(out, "%lld", (long long)c->n_samples);
                else
                    fputs("n/a", out);
                csv_metrics(out, c->state == FIT_CELL_FITTED ? &c->cv : &none);
                csv_metrics(out, c->state == FIT_CELL_FITTED ? &c->lolo : &none);
                if (c->selected && c->loaded_cv.n) {
                    fprintf(out, ",%zu,", c->loaded_cv.n);
                    csv_number(out, c->loaded_cv.r2);
                    fputc(',', out);
                    csv_number(out, c->loaded_lolo.n ? c->loaded_lolo.r2 : NAN);
                } else
                    fputs(",n/a,n/a,n/a", out);
                fputc(',', out);
                csv_field(out, c->state == FIT_CELL_SKIPPED ? c->reason : c->lolo_note);
                fputc('\n', out);
            }
}

static void json_metrics(FILE *out, const fit_metrics *m)
{
    fputs("{\"r2\":", out);
    cl_json_number(out, m->r2);
    fputs(",\"rmse_us\":", out);
    cl_json_number(out, m->rmse);
    fputs(",\"mape_pct\":", out);
    cl_json_number(out, m->mape);
    fputs(",\"within10_pct\":", out);
    cl_json_number(out, 100.0 * m->within10);
    fprintf(out, ",\"n\":%zu}", m->n);
}

static void json_gain(FILE *out, const char *key, const char *family, double s, double d)
{
    fprintf(out, "\"%s\":{", key);
    if (family) {
        fputs("\"family\":", out);
        cl_json_string(out, family);
        fputc(',', out);
    }
    fputs("\"static_r2\":", out);
    cl_json_number(out, s);
    fputs(",\"dynamic_r2\":", out);
    cl_json_number(out, d);
    fputs(",\"increase_pct\":", out);
    cl_json_number(out, fit_report_gain_pct(s, d));
    fputc('}', out);
}

static void json_type(FILE *out, const fit_report_type *ty, fit_report_metric m)
{
    fputs("{\"type\":", out);
    cl_json_string(out, cleave_layer_type_name(ty->type));
    fputs(",\"sets\":{", out);
    for (int s = 0; s < FIT_NSETS; s++) {
        fprintf(out, "%s\"%s\":{\"selected\":", s ? "," : "",
                fit_feature_set_name((fit_feature_set)s));
        if (ty->selected[s] >= 0)
            cl_json_string(out, fit_family_name((fit_family)ty->selected[s]));
        else
            fputs("null", out);
        fputs(",\"families\":[", out);
        for (int f = 0; f < FIT_NFAMILIES; f++) {
            const fit_report_cell *c = &ty->cell[s][f];
            fprintf(out, "%s{\"family\":\"%s\",\"status\":\"%s\",\"selected\":%s", f ? "," : "",
                    fit_family_name((fit_family)f), state_name(c->state),
                    c->selected ? "true" : "false");
            if (c->state == FIT_CELL_SKIPPED) {
                fputs(",\"reason\":", out);
                cl_json_string(out, c->reason);
            } else if (c->state == FIT_CELL_FITTED) {
                fprintf(out,
                        ",\"model_id\":%lld,\"n_samples\":%lld,\"cv\":", (long long)c->model_id,
                        (long long)c->n_samples);
                json_metrics(out, &c->cv);
                fputs(",\"lolo\":", out);
                json_metrics(out, &c->lolo);
                fputs(",\"lolo_note\":", out);
                cl_json_string(out, c->lolo_note);
                if (c->selected) {
                    fputs(",\"loaded\":{\"cv\":", out);
                    json_metrics(out, &c->loaded_cv);
                    fputs(",\"lolo\":", out);
                    json_metrics(out, &c->loaded_lolo);
                    fputc('}', out);
                }
            }
            fputc('}', out);
        }
        fputs("]}", out);
    }
    fputs("},\"gain\":{", out);
    json_gain(out, "linear", NULL, metric_r2(&ty->cell[FIT_SET_STATIC][FIT_LINEAR], m),
              metric_r2(&ty->cell[FIT_SET_DYNAMIC][FIT_LINEAR], m));
    fputc(',', out);
    json_gain(out, "logarithmic", NULL, metric_r2(&ty->cell[FIT_SET_STATIC][FIT_LOG], m),
              metric_r2(&ty->cell[FIT_SET_DYNAMIC][FIT_LOG], m));
    int f = ty->selected[FIT_SET_DYNAMIC];
    if (f >= 0) {
        fputc(',', out);
        json_gain(out, "selected", fit_family_name((fit_family)f),
                  metric_r2(&ty->cell[FIT_SET_STATIC][f], m),
                  metric_r2(&ty->cell[FIT_SET_DYNAMIC][f], m));
    } else
        fputs(",\"selected\":null", out);
    fputs("},\"loaded\":{", out);
    for (int s = 0; s < FIT_NSETS; s++) {
        int fs = ty->selected[s];
        fprintf(out, "%s\"%s\":", s ? "," : "", fit_feature_set_name((fit_feature_set)s));
        if (fs < 0) {
            fputs("null", out);
            continue;
        }
        const fit_metrics *lm = loaded_of(&ty->cell[s][fs], m);
        fputs("{\"family\":", out);
        cl_json_string(out, fit_family_name((fit_family)fs));
        fputs(",\"r2\":", out);
        cl_json_number(out, lm->n ? lm->r2 : NAN);
        fprintf(out, ",\"n\":%zu}", lm->n);
    }
    {
        int fs = ty->selected[FIT_SET_STATIC], fd = ty->selected[FIT_SET_DYNAMIC];
        const fit_metrics *ls = fs >= 0 ? loaded_of(&ty->cell[FIT_SET_STATIC][fs], m) : NULL;
        const fit_metrics *ld = fd >= 0 ? loaded_of(&ty->cell[FIT_SET_DYNAMIC][fd], m) : NULL;
        fputs(",\"increase_pct\":", out);
        cl_json_number(out,
                       fit_report_gain_pct(ls && ls->n ? ls->r2 : NAN, ld && ld->n ? ld->r2 : NAN));
    }
    fputs("},\"seed002\":", out);
    const fit_seed002_row *sd = fit_report_seed002(ty->type);
    if (!sd)
        fputs("null", out);
    else {
        fputs("{\"name\":", out);
        cl_json_string(out, sd->name);
        fputc(',', out);
        json_gain(out, "linear", NULL, sd->linear_static, sd->linear_dynamic);
        fputc(',', out);
        json_gain(out, "logarithmic", NULL, sd->log_static, sd->log_dynamic);
        fputc(',', out);
        json_gain(out, "neurosurgeon_to_seed", seed_best_family(ty->type), sd->baseline_static,
                  sd->best_dynamic);
        fputc('}', out);
    }
    fputc('}', out);
}

static void write_json(FILE *out, const fit_report *r, fit_report_metric m,
                       const fit_report_plots *p)
{
    fputs("{\"device\":", out);
    cl_json_string(out, r->device);
    fputs(",\"db\":", out);
    cl_json_string(out, r->db);
    fprintf(out, ",\"metric\":\"%s\",\"folds\":", fit_report_metric_name(m));
    if (r->folds > 0)
        fprintf(out, "%d,\"seed\":%llu", r->folds, (unsigned long long)r->seed);
    else
        fputs("null,\"seed\":null", out);
    fprintf(out, ",\"target\":\"%s\",\"mixed_targets\":%s", fit_target_name(r->target),
            r->mixed_targets ? "true" : "false");
    fprintf(out, ",\"models\":%zu,\"skips\":%zu,\"ignored\":%zu,\"types\":[", r->nmodels, r->nskips,
            r->nignored);
    for (size_t i = 0; i < r->ntypes; i++) {
        if (i)
            fputc(',', out);
        json_type(out, &r->types[i], m);
    }
    fputs("],\"plots\":", out);
    if (!p)
        fputs("null", out);
    else {
        char msg[1200];
        fit_report_plots_message(p, msg, sizeof msg);
        fputs("{\"dir\":", out);
        cl_json_string(out, p->dir);
        fprintf(out, ",\"gnuplot\":%s,\"message\":", p->gnuplot_missing ? "false" : "true");
        cl_json_string(out, msg);
        fputs(",\"files\":[", out);
        for (size_t i = 0; i < p->nfiles; i++) {
            if (i)
                fputc(',', out);
            cl_json_string(out, p->files[i]);
        }
        fputs("],\"notes\":[", out);
        for (size_t i = 0; i < p->nnotes; i++) {
            if (i)
                fputc(',', out);
            cl_json_string(out, p->notes[i]);
        }
        fputs("]}", out);
    }
    fputs("}\n", out);
}

cleave_status fit_report_write(FILE *out, const fit_report *r, fit_report_format fmt,
                               fit_report_metric metric, const fit_report_plots *plots, char *err,
                               size_t errlen)
{
    char why[128];
    int bad = 0;
    if ((unsigned)metric >= FIT_REPORT_NMETRICS)
        return fail(CLEAVE_EINVAL, err, errlen, "unknown metric %d", (int)metric);
    switch (fmt) {
    case FIT_REPORT_TABLE: bad = write_doc(out, r, 0, metric, plots); break;
    case FIT_REPORT_MARKDOWN: bad = write_doc(out, r, 1, metric, plots); break;
    case FIT_REPORT_CSV: write_csv(out, r); break;
    case FIT_REPORT_JSON: write_json(out, r, metric, plots); break;
    default: return fail(CLEAVE_EINVAL, err, errlen, "unknown format %d", (int)fmt);
    }
    if (bad)
        return fail(CLEAVE_ENOMEM, err, errlen, "out of memory");
    if (fflush(out) != 0 || ferror(out))
        return fail(CLEAVE_EIO, err, errlen, "cannot write the report: %s",
                    os_reason(errno ? errno : EIO, why, sizeof why));
    return CLEAVE_OK;
}

/* ---- plots -------------------------------------------------------------------------------- */

void fit_report_plots_release(fit_report_plots *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nfiles; i++)
        free(p->files[i]);
    for (size_t i = 0; i < p->nnotes; i++)
        free(p->notes[i]);
    free(p->files);
    free(p->notes);
    free(p->dir);
    memset(p, 0, sizeof *p);
}

void fit_report_plots_message(const fit_report_plots *p, char *buf, size_t buflen)
{
    if (p->gnuplot_missing)
        snprintf(buf, buflen, "gnuplot not found: wrote %zu .gp and .dat files to %s",
                 p->ngp + p->ndat, p->dir ? p->dir : "");
    else
        snprintf(buf, buflen, "wrote %zu files to %s", p->nfiles, p->dir ? p->dir : "");
}

/* Append a malloc'ed copy of S to the string list (*V, *N); -1 when out of memory. */
static int push_string(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return -1;
    *v = nv;
    if (!(nv[*n] = strdup(s)))
        return -1;
    (*n)++;
    return 0;
}

static int push_note(fit_report_plots *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int push_note(fit_report_plots *p, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return push_string(&p->notes, &p->nnotes, buf);
}

/* mkdir -p DIR. 0 or an errno value. */
static int make_dirs(const char *dir)
{
    char path[4096];
    struct stat sb;
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return ENAMETOOLONG;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return errno;
        *p = '/';
    }
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return errno;
    if (stat(path, &sb) != 0)
        return errno;
    if (!S_ISDIR(sb.st_mode))
        return ENOTDIR;
    return 0;
}

/* Text safe inside a gnuplot double-quoted string: no quote, backslash or control byte. */
static void gp_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++)
        fputc(*s == '"' ? '\'' : *s == '\\' ? '/' : (unsigned char)*s < 0x20 ? ' ' : *s, out);
    fputc('"', out);
}

/* A number in a .dat file: NaN for a missing value (gnuplot skips it). */
static void dat_number(FILE *out, double v)
{
    if (isfinite(v))
        fprintf(out, " %.9g", v);
    else
        fputs(" NaN", out);
}

/* Tics at 1, 2 and 5 times the powers of ten in [LO, HI] on the log AXES ("x", "y", "xy"), when
** the range spans at most three decades: gnuplot's own log tics label only the powers of ten,
** which leaves a narrow range with one labelled tic or none. */
static void gp_log_tics(FILE *f, const char *axes, double lo, double hi)
{
    static const double steps[] = {1.0, 2.0, 5.0};
    if (!(lo > 0.0) || !(hi > lo) || hi / lo > 1e3)
        return;
    for (const char *axis = axes; *axis; axis++) {
        int first = 1;
        fprintf(f, "set %ctics (", *axis);
        for (double dec = pow(10.0, floor(log10(lo))); dec <= hi; dec *= 10.0)
            for (int k = 0; k < 3; k++) {
                double v = steps[k] * dec;
                if (v >= lo && v <= hi) {
                    fprintf(f, "%s\"%g\" %g", first ? "" : ", ", v, v);
                    first = 0;
                }
            }
        fputs(")\n", f);
    }
}

/* One prediction, with the load level of its sample. */
struct pt {
    double y, yhat;
    int64_t sample_id;
    int level;
};

struct level {
    char load[96];
    double cpu, membw, memcap;
};

/* The predictions of one model: points, with levels shared across the models of a type. */
struct series {
    struct pt *pts;
    size_t n, cap;
    struct level **lv; /* shared level table */
    size_t *nlv, *lvcap;
    fit_report_metric metric;
    int oom;
    fit_target target;
};

static int on_plot_prediction(const cl_prediction *p, const cl_sample *s, void *arg)
{
    struct series *se = arg;
    size_t l;
    for (l = 0; l < *se->nlv && strcmp((*se->lv)[l].load, s->load) != 0; l++)
        ;
    if (l == *se->nlv) {
        if (*se->nlv == *se->lvcap) {
            size_t cap = *se->lvcap ? 2 * *se->lvcap : 8;
            struct level *nl = realloc(*se->lv, cap * sizeof *nl);
            if (!nl) {
                se->oom = 1;
                return 1;
            }
            *se->lv = nl;
            *se->lvcap = cap;
        }
        struct level *nl = &(*se->lv)[l];
        snprintf(nl->load, sizeof nl->load, "%s", s->load);
        nl->cpu = s->load_cpu;
        nl->membw = s->load_membw;
        nl->memcap = s->load_memcap;
        (*se->nlv)++;
    }
    if (se->n == se->cap) {
        size_t cap = se->cap ? 2 * se->cap : 256;
        struct pt *np = realloc(se->pts, cap * sizeof *np);
        if (!np) {
            se->oom = 1;
            return 1;
        }
        se->pts = np;
        se->cap = cap;
    }
    struct pt *pt = &se->pts[se->n++];
    pt->y = fit_target_of(s, se->target);
    pt->yhat = se->metric == FIT_REPORT_LOLO ? p->lolo_us : p->cv_us;
    pt->sample_id = p->sample_id;
    pt->level = (int)l;
    return 0;
}

/* Load levels (indices into the table ARG) in order of CPU load, then memory bandwidth, then
** capacity, then name. */
static int cmp_level(const void *a, const void *b, void *arg)
{
    const struct level *lv = arg;
    const struct level *x = &lv[*(const int *)a], *y = &lv[*(const int *)b];
    if (x->cpu != y->cpu)
        return x->cpu < y->cpu ? -1 : 1;
    if (x->membw != y->membw)
        return x->membw < y->membw ? -1 : 1;
    if (x->memcap != y->memcap)
        return x->memcap < y->memcap ? -1 : 1;
    return strcmp(x->load, y->load);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The P-quantile of sorted X[0..N) by linear interpolation between order statistics
** (Hyndman & Fan 1996, definition 7: R's and numpy's default). */
static double quantile(const double *x, size_t n, double p)
{
    double h = (double)(n - 1) * p;
    size_t lo = (size_t)floor(h);
    if (lo + 1 >= n)
        return x[n - 1];
    return x[lo] + (h - (double)lo) * (x[lo + 1] - x[lo]);
}

/* Everything the per-type plots share. */
struct plot_ctx {
    cl_store *st;
    const fit_report *r;
    fit_report_metric metric;
    const char *dir;
    const char *gnuplot; /* program to run, NULL = do not render */
    fit_report_plots *out;
    char *err;
    size_t errlen;
};

static int valid_point(const struct pt *p)
{
    return isfinite(p->y) && p->y > 0.0 && isfinite(p->yhat) && p->yhat > 0.0;
}

/* Open DIR/NAME for writing; the file is recorded in the list once closed well (close_file). */
static FILE *open_file(struct plot_ctx *c, const char *name, cleave_status *rc)
{
    char path[4096], why[128];
    snprintf(path, sizeof path, "%s/%s", c->dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        *rc = fail(CLEAVE_EIO, c->err, c->errlen, "cannot write '%s': %s", path,
                   os_reason(errno, why, sizeof why));
    return f;
}

static cleave_status close_file(struct plot_ctx *c, FILE *f, const char *name)
{
    char path[4096], why[128];
    int bad = ferror(f);
    int e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    snprintf(path, sizeof path, "%s/%s", c->dir, name);
    if (bad)
        return fail(CLEAVE_EIO, c->err, c->errlen, "cannot write '%s': %s", path,
                    os_reason(e ? e : EIO, why, sizeof why));
    if (push_string(&c->out->files, &c->out->nfiles, name))
        return fail(CLEAVE_ENOMEM, c->err, c->errlen, "out of memory");
    size_t n = strlen(name);
    if (n > 3 && strcmp(name + n - 3, ".gp") == 0)
        c->out->ngp++;
    else if (n > 4 && strcmp(name + n - 4, ".dat") == 0)
        c->out->ndat++;
    return CLEAVE_OK;
}

/* The common head of every script: how to render it, terminal, output. */
static void gp_head(FILE *f, const char *base, const char *what)
{
    fprintf(f,
            "# %s.gp - %s, written by `cleave report`.\n"
            "# Render from this directory: gnuplot %s.gp  (writes %s.png from %s.dat)\n"
            "set encoding utf8\n"
            "set terminal pngcairo noenhanced size 960,800 font \"sans,11\"\n"
            "set output \"%s.png\"\n"
            "set datafile missing \"NaN\"\n",
            base, what, base, base, base, base);
}

/* Run GNUPLOT on DIR/BASE.gp with DIR as working directory, and check that BASE.png came out.
** gnuplot's standard error is captured so that a failure can quote its last message. */
static cleave_status render(struct plot_ctx *c, const char *base)
{
    char gp[512], png[4096], msg[4096], why[128];
    int fds[2] = {-1, -1}, status = 0, spawned = 0, have_fa = 0;
    size_t len = 0;
    pid_t pid = 0;
    posix_spawn_file_actions_t fa;
    cleave_status rc = CLEAVE_OK;
    struct stat sb;

    snprintf(gp, sizeof gp, "%s.gp", base);
    if (pipe2(fds, O_CLOEXEC) != 0) {
        rc = fail(CLEAVE_EIO, c->err, c->errlen, "cannot run gnuplot: %s",
                  os_reason(errno, why, sizeof why));
        goto done;
    }
    if (posix_spawn_file_actions_init(&fa) != 0) {
        rc = fail(CLEAVE_ENOMEM, c->err, c->errlen, "out of memory");
        goto done;
    }
    have_fa = 1;
    char *argv[] = {(char *)c->gnuplot, gp, NULL};
    int e = posix_spawn_file_actions_addchdir_np(&fa, c->dir);
    if (!e)
        e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!e)
        e = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (!e)
        e = posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    if (!e)
        e = posix_spawnp(&pid, c->gnuplot, &fa, NULL, argv, environ);
    if (e) {
        rc = fail(CLEAVE_EIO, c->err, c->errlen, "cannot run %s on '%s/%s': %s", c->gnuplot, c->dir,
                  gp, os_reason(e, why, sizeof why));
        goto done;
    }
    spawned = 1;
    close(fds[1]);
    fds[1] = -1;
    for (;;) {
        char buf[1024];
        ssize_t got = read(fds[0], buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        /* Keep the tail: gnuplot's error line comes last. */
        for (ssize_t k = 0; k < got; k++) {
            if (len == sizeof msg - 1) {
                memmove(msg, msg + sizeof msg / 2, sizeof msg / 2 - 1);
                len = sizeof msg / 2 - 1;
            }
            msg[len++] = buf[k];
        }
    }
    msg[len] = '\0';
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            status = -1;
            break;
        }
    }
    spawned = 0;
    if (status != 0) {
        /* The last non-empty line of gnuplot's output names the problem. */
        char *end = msg + len;
        while (end > msg && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\r'))
            *--end = '\0';
        char *last = strrchr(msg, '\n');
        last = last ? last + 1 : msg;
        if (*last)
            rc = fail(CLEAVE_EIO, c->err, c->errlen, "gnuplot failed on '%s/%s': %.300s", c->dir,
                      gp, last);
        else if (status > 0 && WIFEXITED(status))
            rc = fail(CLEAVE_EIO, c->err, c->errlen, "gnuplot failed on '%s/%s': exit status %d",
                      c->dir, gp, WEXITSTATUS(status));
        else if (status > 0 && WIFSIGNALED(status))
            rc = fail(CLEAVE_EIO, c->err, c->errlen,
                      "gnuplot failed on '%s/%s': killed by signal %d", c->dir, gp,
                      WTERMSIG(status));
        else
            rc = fail(CLEAVE_EIO, c->err, c->errlen, "gnuplot failed on '%s/%s'", c->dir, gp);
        goto done;
    }
    snprintf(png, sizeof png, "%s/%s.png", c->dir, base);
    if (stat(png, &sb) != 0 || sb.st_size == 0) {
        rc = fail(CLEAVE_EIO, c->err, c->errlen, "gnuplot wrote no '%s'", png);
        goto done;
    }
    snprintf(png, sizeof png, "%s.png", base);
    if (push_string(&c->out->files, &c->out->nfiles, png)) {
        rc = fail(CLEAVE_ENOMEM, c->err, c->errlen, "out of memory");
        goto done;
    }
    c->out->npng++;
done:
    if (spawned)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    if (have_fa)
        posix_spawn_file_actions_destroy(&fa);
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    return rc;
}

/* Render BASE if gnuplot is to be run and was found. */
static cleave_status maybe_render(struct plot_ctx *c, const char *base)
{
    if (!c->gnuplot || c->out->gnuplot_missing)
        return CLEAVE_OK;
    return render(c, base);
}

/* R^2 bars of the selected models per type: static vs static + dynamic. */
static cleave_status plot_r2_bars(struct plot_ctx *c)
{
    const fit_report *r = c->r;
    const char *base = "r2-static-vs-dynamic";
    char name[128], mt[64];
    FILE *f = NULL;
    cleave_status rc = CLEAVE_OK;
    double lo = 0.0;
    int any = 0;

    for (size_t i = 0; i < r->ntypes; i++)
        for (int s = 0; s < FIT_NSETS; s++) {
            int fam = r->types[i].selected[s];
            double v = fam >= 0 ? metric_r2(&r->types[i].cell[s][fam], c->metric) : NAN;
            if (isfinite(v)) {
                any = 1;
                if (v < lo)
                    lo = v;
            }
        }
    if (!any) {
        if (push_note(c->out, "%s: no selected model has a finite %s R²", base,
                      fit_report_metric_name(c->metric)))
            return fail(CLEAVE_ENOMEM, c->err, c->errlen, "out of memory");
        return CLEAVE_OK;
    }
    /* Bars below -1 are clipped: a model worse than the mean says enough at -1. */
    double ymin = lo < 0.0 ? (lo < -1.0 ? -1.0 : lo) - 0.05 : 0.0;

    snprintf(name, sizeof name, "%s.dat", base);
    if (!(f = open_file(c, name, &rc)))
        goto done;
    fprintf(f,
            "# R² (%s) of the selected model per layer type: static vs static+dynamic "
            "features\n# columns: x type static_r2 dynamic_r2 static_family dynamic_family\n",
            metric_title(c->metric, r, mt, sizeof mt));
    for (size_t i = 0; i < r->ntypes; i++) {
        const fit_report_type *ty = &r->types[i];
        fprintf(f, "%zu %s", i, cleave_layer_type_name(ty->type));
        for (int s = 0; s < FIT_NSETS; s++)
            dat_number(f, ty->selected[s] >= 0 ? metric_r2(&ty->cell[s][ty->selected[s]], c->metric)
                                               : NAN);
        for (int s = 0; s < FIT_NSETS; s++)
            fprintf(f, " %s",
                    ty->selected[s] >= 0 ? fit_family_name((fit_family)ty->selected[s]) : "-");
        fputc('\n', f);
    }
    rc = close_file(c, f, name);
    f = NULL;
    if (rc != CLEAVE_OK)
        goto done;

    snprintf(name, sizeof name, "%s.gp", base);
    if (!(f = open_file(c, name, &rc)))
        goto done;
    gp_head(f, base, "R² of the selected models, static vs static+dynamic features");
    fprintf(f, "set title \"R² of the selected model per layer type (%s, held out)\"\n",
            metric_title(c->metric, r, mt, sizeof mt));
    fprintf(f,
            "set xlabel \"layer type\"\n"
            "set ylabel \"R² (held out)\"\n"
            "set xrange [-0.6:%zu.4]\n"
            "set yrange [%.3f:1.08]\n"
            "set ytics -1, 0.1, 1\n"
            "set grid ytics\n"
            "set xzeroaxis lt -1\n"
            "set style fill solid 0.85 border -1\n"
            "set boxwidth 0.36\n"
            "set key outside top center horizontal\n"
            "ymin = %.3f\n"
            "clip(v) = v < ymin ? ymin : v\n",
            r->ntypes - 1, ymin, ymin);
    const char *rot = r->ntypes > 10 ? " rotate by 90 left" : "";
    fprintf(f,
            "plot \"%s.dat\" using ($1-0.19):(clip($3)):xtic(2) with boxes lc rgb \"#88aacc\" "
            "title \"static features\", \\\n"
            "     \"\" using ($1+0.19):(clip($4)) with boxes lc rgb \"#cc5533\" "
            "title \"static + dynamic features\", \\\n"
            "     \"\" using ($1-0.19):($3 > 0 ? $3 : 0):(sprintf(\"%%.3f\", $3)) with labels%s "
            "offset 0,0.7 font \",9\" notitle, \\\n"
            "     \"\" using ($1+0.19):($4 > 0 ? $4 : 0):(sprintf(\"%%.3f\", $4)) with labels%s "
            "offset 0,0.7 font \",9\" notitle\n",
            base, rot, rot);
    rc = close_file(c, f, name);
    f = NULL;
    if (rc == CLEAVE_OK)
        rc = maybe_render(c, base);
done:
    if (f)
        fclose(f);
    return rc;
}

/* Predicted vs measured latency of the selected static + dynamic model of type TY, from the
** held-out predictions in SE (levels in ORDER), log-log with y = x and the +-10 % band. */
static cleave_status plot_predicted(struct plot_ctx *c, const fit_report_type *ty,
                                    const struct series *se, const struct level *lv,
                                    const int *order, size_t nlv)
{
    const char *tname = cleave_layer_type_name(ty->type);
    int fam = ty->selected[FIT_SET_DYNAMIC];
    const fit_report_cell *cell = &ty->cell[FIT_SET_DYNAMIC][fam];
    const fit_metrics *mm = c->metric == FIT_REPORT_LOLO ? &cell->lolo : &cell->cv;
    char base[96], name[128], mt[64], r2[32], w10[32];
    size_t *count = NULL, nvalid = 0;
    double lo = INFINITY, hi = 0.0;
    FILE *f = NULL;
    cleave_status rc = CLEAVE_OK;

    snprintf(base, sizeof base, "predicted-vs-measured-%s", tname);
    if (!(count = calloc(nlv ? nlv : 1, sizeof *count))) {
        rc = fail(CLEAVE_ENOMEM, c->err, c->errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < se->n; i++)
        if (valid_point(&se->pts[i])) {
            count[se->pts[i].level]++;
            nvalid++;
            double a = fmin(se->pts[i].y, se->pts[i].yhat), b = fmax(se->pts[i].y, se->pts[i].yhat);
            lo = fmin(lo, a);
            hi = fmax(hi, b);
        }
    if (!nvalid) {
        if (push_note(c->out, "%s: no positive held-out %s prediction of the selected model", base,
                      fit_report_metric_name(c->metric)))
            rc = fail(CLEAVE_ENOMEM, c->err, c->errlen, "out of memory");
        goto done;
    }
    snprintf(name, sizeof name, "%s.dat", base);
    if (!(f = open_file(c, name, &rc)))
        goto done;
    fprintf(f,
            "# %s: measured latency vs held-out (%s) prediction of the selected static+dynamic "
            "model (%s)\n"
            "# columns: measured_us predicted_us sample_id; one block per load level\n"
            "# %zu of %zu predictions are shown; %zu are not positive or not finite and are "
            "left out (log scale)\n",
            tname, metric_title(c->metric, c->r, mt, sizeof mt), fit_family_name((fit_family)fam),
            nvalid, se->n, se->n - nvalid);
    int block = 0;
    for (size_t k = 0; k < nlv; k++) {
        int l = order[k];
        if (!count[l])
            continue;
        fprintf(f, "%s# block %d: load %s (%zu samples)\n", block ? "\n\n" : "", block, lv[l].load,
                count[l]);
        for (size_t i = 0; i < se->n; i++)
            if (se->pts[i].level == l && valid_point(&se->pts[i]))
                fprintf(f, "%.9g %.9g %lld\n", se->pts[i].y, se->pts[i].yhat,
                        (long long)se->pts[i].sample_id);
        block++;
    }
    rc = close_file(c, f, name);
    f = NULL;
    if (rc != CLEAVE_OK)
        goto done;

    snprintf(name, sizeof name, "%s.gp", base);
    if (!(f = open_file(c, name, &rc)))
        goto done;
    gp_head(f, base, "predicted vs measured latency");
    fmt_r2(r2, sizeof r2, mm->r2);
    fmt_share(w10, sizeof w10, mm->within10);
    fprintf(f,
            "set title \"%s: selected static+dynamic model (%s), held-out predictions (%s)\\n"
            "R² = %s, within ±10 %%: %s, n = %zu\"\n",
            tname, family_label[fam], metric_title(c->metric, c->r, mt, sizeof mt), r2, w10,
            nvalid);
    fprintf(f,
            "set xlabel \"measured latency (µs, %s of repetitions)\"\n"
            "set ylabel \"predicted latency (µs, held out)\"\n"
            "set logscale xy\n"
            "set size square\n"
            "set grid\n"
            "set key top left box opaque Left reverse\n"
            "lo = %.6g\n"
            "hi = %.6g\n"
            "set xrange [lo:hi]\n"
            "set yrange [lo:hi]\n",
            fit_target_name(c->r->target), lo / 1.25, hi * 1.25);
    gp_log_tics(f, "xy", lo / 1.25, hi * 1.25);
    fprintf(f, "plot '+' using 1:(0.9*$1):(1.1*$1) with filledcurves lc rgb \"#dddddd\" "
               "title \"±10 %%\", \\\n"
               "     x with lines lc rgb \"black\" title \"y = x\"");
    static const int ptypes[] = {7, 5, 9, 11, 13, 15, 6, 4, 8, 10, 12, 14};
    block = 0;
    for (size_t k = 0; k < nlv; k++) {
        int l = order[k];
        if (!count[l])
            continue;
        fprintf(f, ", \\\n     \"%s.dat\" index %d using 1:2 with points pt %d ps 0.8 title ", base,
                block, ptypes[block % (int)(sizeof ptypes / sizeof ptypes[0])]);
        char label[160];
        snprintf(label, sizeof label, "%s (%zu)", lv[l].load, count[l]);
        gp_string(f, label);
        block++;
    }
    fputc('\n', f);
    rc = close_file(c, f, name);
    f = NULL;
    if (rc == CLEAVE_OK)
        rc = maybe_render(c, base);
done:
    if (f)
        fclose(f);
    free(count);
    return rc;
}

/* Mean of the finite predictions of SE at level L; NaN when none. */
static double mean_prediction(const struct series *se, int l)
{
    double sum = 0.0;
    size_t n = 0;
    for (size_t i = 0; se && i < se->n; i++)
        if (se->pts[i].level == l && isfinite(se->pts[i].yhat)) {
            sum += se->pts[i].yhat;
            n++;
        }
    return n ? sum / (double)n : NAN;
}

/* Latency vs load level for type TY: the measured latencies of the selected static + dynamic
** model's samples per level (quartiles, min, max, mean), and both selected models' mean
** held-out predictions (a static model cannot see the load; the dynamic one can). */
static cleave_status plot_load(struct plot_ctx *c, const fit_report_type *ty,
                               const struct series *dyn, const struct series *sta,
                               const struct level *lv, const int *order, size_t nlv)
{
    const char *tname = cleave_layer_type_name(ty->type);
    int fd = ty->selected[FIT_SET_DYNAMIC], fs = ty->selected[FIT_SET_STATIC];
    char base[96], name[128], mt[64];
    double *vals = NULL;
    FILE *f = NULL;
    cleave_status rc = CLEAVE_OK;

    snprintf(base, sizeof base, "latency-vs-load-%s", tname);
    if (!(vals = malloc((dyn->n ? dyn->n : 1) * sizeof *vals))) {
        rc = fail(CLEAVE_ENOMEM, c->err, c->errlen, "out of memory");
        goto done;
    }
    snprintf(name, sizeof name, "%s.dat", base);
    if (!(f = open_file(c, name, &rc)))
        goto done;
    fprintf(f,
            "# %s: measured latency per load level (the samples of the selected static+dynamic "
            "model) and the selected models' mean held-out (%s) predictions\n"
            "# quartiles by linear interpolation (Hyndman & Fan type 7); NaN = none, or a "
            "non-positive mean (log scale)\n"
            "# columns: x load n min_us q1_us median_us q3_us max_us mean_us "
            "dynamic_pred_mean_us static_pred_mean_us\n",
            tname, metric_title(c->metric, c->r, mt, sizeof mt));
    size_t x = 0;
    double lo = INFINITY, hi = 0.0;
    for (size_t k = 0; k < nlv; k++) {
        int l = order[k];
        size_t n = 0;
        double sum = 0.0;
        for (size_t i = 0; i < dyn->n; i++)
            if (dyn->pts[i].level == l && isfinite(dyn->pts[i].y) && dyn->pts[i].y > 0.0) {
                vals[n++] = dyn->pts[i].y;
                sum += dyn->pts[i].y;
            }
        if (!n)
            continue;
        qsort(vals, n, sizeof *vals, cmp_double);
        double md = mean_prediction(dyn, l), ms = mean_prediction(sta, l);
        lo = fmin(lo, vals[0]);
        hi = fmax(hi, vals[n - 1]);
        if (md > 0.0) {
            lo = fmin(lo, md);
            hi = fmax(hi, md);
        }
        if (ms > 0.0) {
            lo = fmin(lo, ms);
            hi = fmax(hi, ms);
        }
        fprintf(f, "%zu ", x++);
        gp_string(f, lv[l].load);
        fprintf(f, " %zu", n);
        dat_number(f, vals[0]);
        dat_number(f, quantile(vals, n, 0.25));
        dat_number(f, quantile(vals, n, 0.5));
        dat_number(f, quantile(vals, n, 0.75));
        dat_number(f, vals[n - 1]);
        dat_number(f, sum / (double)n);
        dat_number(f, md > 0.0 ? md : NAN);
        dat_number(f, ms > 0.0 ? ms : NAN);
        fputc('\n', f);
    }
    rc = close_file(c, f, name);
    f = NULL;
    if (rc != CLEAVE_OK)
        goto done;

    snprintf(name, sizeof name, "%s.gp", base);
    if (!(f = open_file(c, name, &rc)))
        goto done;
    gp_head(f, base, "latency vs load level");
    fprintf(f,
            "set title \"%s: measured latency per load level and the selected models' mean "
            "held-out prediction (%s)\"\n"
            "set xlabel \"load level\"\n"
            "set ylabel \"latency (µs)\"\n"
            "set logscale y\n"
            "set grid ytics\n"
            "set xrange [-0.6:%zu.4]\n"
            "set xtics rotate by 25 right\n"
            "set boxwidth 0.45\n"
            "set key outside top center horizontal Left reverse maxrows 3\n",
            tname, metric_title(c->metric, c->r, mt, sizeof mt), x ? x - 1 : 0);
    if (hi > lo)
        fprintf(f, "set yrange [%.6g:%.6g]\n", lo / 1.3, hi * 1.3);
    gp_log_tics(f, "y", lo / 1.3, hi * 1.3);
    fprintf(f,
            "plot \"%s.dat\" using 1:5:4:8:7:xtic(2) with candlesticks whiskerbars "
            "lc rgb \"#4477aa\" lw 1.5 title \"measured: quartiles, min-max\", \\\n"
            "     \"\" using 1:6:6:6:6 with candlesticks lc rgb \"#4477aa\" lw 3 "
            "title \"measured median\", \\\n"
            "     \"\" using 1:10 with linespoints pt 9 ps 1.6 lw 2 lc rgb \"#cc3311\" title ",
            base);
    char label[200];
    snprintf(label, sizeof label, "static+dynamic model (%s): mean prediction", family_label[fd]);
    gp_string(f, label);
    if (fs >= 0 && sta) {
        fputs(", \\\n     \"\" using 1:11 with linespoints pt 5 ps 1.2 lw 2 dt 2 "
              "lc rgb \"#999933\" title ",
              f);
        snprintf(label, sizeof label, "static model (%s): mean prediction", family_label[fs]);
        gp_string(f, label);
    }
    /* Last, so that it is drawn on top of the predictions it is compared with. */
    fputs(", \\\n     \"\" using 1:9 with points pt 6 ps 2 lw 1.5 lc rgb \"black\" "
          "title \"measured mean\"\n",
          f);
    rc = close_file(c, f, name);
    f = NULL;
    if (rc == CLEAVE_OK)
        rc = maybe_render(c, base);
done:
    if (f)
        fclose(f);
    free(vals);
    return rc;
}

/* Both per-type plots of TY. */
static cleave_status plot_type(struct plot_ctx *c, const fit_report_type *ty)
{
    const char *tname = cleave_layer_type_name(ty->type);
    struct level *lv = NULL;
    size_t nlv = 0, lvcap = 0;
    struct series dyn = {NULL, 0, 0, &lv, &nlv, &lvcap, c->metric, 0, c->r->target};
    struct series sta = {NULL, 0, 0, &lv, &nlv, &lvcap, c->metric, 0, c->r->target};
    int *order = NULL;
    cleave_status rc = CLEAVE_OK;
    int fd = ty->selected[FIT_SET_DYNAMIC], fs = ty->selected[FIT_SET_STATIC];

    if (fd < 0) {
        if (push_note(c->out, "%s: no selected static+dynamic model", tname))
            rc = fail(CLEAVE_ENOMEM, c->err, c->errlen, "out of memory");
        goto done;
    }
    if ((rc = cl_store_predictions_foreach(c->st, ty->cell[FIT_SET_DYNAMIC][fd].model_id,
                                           on_plot_prediction, &dyn)) != CLEAVE_OK ||
        (fs >= 0 && (rc = cl_store_predictions_foreach(c->st, ty->cell[FIT_SET_STATIC][fs].model_id,
                                                       on_plot_prediction, &sta)) != CLEAVE_OK)) {
        fail(rc, c->err, c->errlen, "%s", cl_store_errmsg(c->st));
        goto done;
    }
    if (dyn.oom || sta.oom) {
        rc = fail(CLEAVE_ENOMEM, c->err, c->errlen, "out of memory");
        goto done;
    }
    if (!dyn.n) {
        if (push_note(c->out, "%s: the selected static+dynamic model has no stored predictions",
                      tname))
            rc = fail(CLEAVE_ENOMEM, c->err, c->errlen, "out of memory");
        goto done;
    }
    if (!(order = malloc(nlv * sizeof *order))) {
        rc = fail(CLEAVE_ENOMEM, c->err, c->errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nlv; i++)
        order[i] = (int)i;
    qsort_r(order, nlv, sizeof *order, cmp_level, lv);
    if ((rc = plot_predicted(c, ty, &dyn, lv, order, nlv)) != CLEAVE_OK)
        goto done;
    rc = plot_load(c, ty, &dyn, fs >= 0 ? &sta : NULL, lv, order, nlv);
done:
    free(dyn.pts);
    free(sta.pts);
    free(lv);
    free(order);
    return rc;
}

cleave_status fit_report_plot(cl_store *st, const fit_report *r, fit_report_metric metric,
                              const char *dir, const char *gnuplot, fit_report_plots *out,
                              char *err, size_t errlen)
{
    char why[128];
    struct plot_ctx c = {st, r, metric, dir, gnuplot, out, err, errlen};
    cleave_status rc = CLEAVE_OK;

    memset(out, 0, sizeof *out);
    if (!dir || !*dir)
        return fail(CLEAVE_EINVAL, err, errlen, "a plot directory is required");
    if ((unsigned)metric >= FIT_REPORT_NMETRICS)
        return fail(CLEAVE_EINVAL, err, errlen, "unknown metric %d", (int)metric);
    if (!(out->dir = strdup(dir)))
        return fail(CLEAVE_ENOMEM, err, errlen, "out of memory");
    int e = make_dirs(dir);
    if (e)
        return fail(CLEAVE_EIO, err, errlen, "cannot create directory '%s': %s", dir,
                    os_reason(e, why, sizeof why));
    if (access(dir, W_OK | X_OK) != 0)
        return fail(CLEAVE_EIO, err, errlen, "cannot write to directory '%s': %s", dir,
                    os_reason(errno, why, sizeof why));
    out->gnuplot_missing = gnuplot && !cl_in_path(gnuplot);
    if ((rc = plot_r2_bars(&c)) != CLEAVE_OK)
        return rc;
    for (size_t i = 0; i < r->ntypes; i++)
        if ((rc = plot_type(&c, &r->types[i])) != CLEAVE_OK)
            return rc;
    return CLEAVE_OK;
}
