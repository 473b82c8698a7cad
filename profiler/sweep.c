/*
** profiler/sweep.c - parse sweep specs and draw space-filling random layer shapes.
*/
#include "profiler/sweep.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"

#define MAX_KEYS 32
#define MAX_CHOICES 32
#define REDRAWS 50

enum val_kind { V_FIXED, V_RANGE, V_LOGRANGE, V_CHOICE, V_REF, V_SAME };

struct key_val {
    char key[24];
    enum val_kind kind;
    char text[128];                /* V_FIXED: the value; V_REF: the referenced key */
    long long lo, hi;              /* V_RANGE, V_LOGRANGE */
    char choices[MAX_CHOICES][32]; /* V_CHOICE */
    int nchoices;
    size_t *perm;    /* stratum order of this key over the line's draws */
    char drawn[128]; /* the value of the current draw */
};

static int add_entry(prof_sweep *s, size_t *cap, const cleave_layer *l, int random, int line)
{
    if (s->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        prof_sweep_entry *e = realloc(s->entries, ncap * sizeof *e);
        if (!e)
            return -1;
        s->entries = e;
        *cap = ncap;
    }
    s->entries[s->n].layer = *l;
    s->entries[s->n].from_random = random;
    s->entries[s->n].line = line;
    s->n++;
    return 0;
}

/* Whether L fits the caps of O. */
static int within_caps(const cleave_layer *l, const prof_sweep_opts *o)
{
    uint64_t bytes;
    double f[CLEAVE_FEAT_COUNT];
    if (cleave_layer_buffer_bytes(l, &bytes) != 0)
        return 0;
    if (o->max_bytes && bytes > o->max_bytes)
        return 0;
    cleave_layer_features(l, f);
    return !(o->max_macs > 0 && f[CLEAVE_FEAT_MACS] > o->max_macs);
}

static int parse_ll(const char *s, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return end != s && !*end && errno == 0 ? 0 : -1;
}

/* Classify VALUE of KEY into KV.  Returns 0, or -1 with a message. */
static int classify(struct key_val *kv, const char *key, const char *value, char *msg,
                    size_t msglen)
{
    memset(kv, 0, sizeof *kv);
    if (strlen(key) >= sizeof kv->key || strlen(value) >= sizeof kv->text) {
        snprintf(msg, msglen, "key or value too long: '%s'", key);
        return -1;
    }
    strcpy(kv->key, key);
    strcpy(kv->text, value);
    const char *dots = strstr(value, "..");
    if (value[0] == '@') {
        kv->kind = V_REF;
        memmove(kv->text, value + 1, strlen(value));
    } else if (strcmp(value, "same") == 0) {
        if (strcmp(key, "pad") != 0) {
            snprintf(msg, msglen, "'same' is only a value of 'pad', not of '%s'", key);
            return -1;
        }
        kv->kind = V_SAME;
    } else if (dots) {
        char lo[64], hi[64];
        const char *colon = strchr(dots, ':');
        size_t lolen = (size_t)(dots - value);
        size_t hilen = colon ? (size_t)(colon - dots - 2) : strlen(dots + 2);
        if (lolen >= sizeof lo || hilen >= sizeof hi) {
            snprintf(msg, msglen, "bad range '%s' for '%s'", value, key);
            return -1;
        }
        memcpy(lo, value, lolen);
        lo[lolen] = '\0';
        memcpy(hi, dots + 2, hilen);
        hi[hilen] = '\0';
        if (parse_ll(lo, &kv->lo) || parse_ll(hi, &kv->hi) || kv->lo > kv->hi ||
            (colon && strcmp(colon, ":log") != 0)) {
            snprintf(msg, msglen, "bad range '%s' for '%s' (want a..b or a..b:log)", value, key);
            return -1;
        }
        kv->kind = colon ? V_LOGRANGE : V_RANGE;
        if (kv->kind == V_LOGRANGE && kv->lo < 1) {
            snprintf(msg, msglen, "log range of '%s' must start at 1 or more, got '%s'", key,
                     value);
            return -1;
        }
    } else if (strchr(value, '|')) {
        char buf[128];
        strcpy(buf, value);
        kv->kind = V_CHOICE;
        for (char *save = NULL, *t = strtok_r(buf, "|", &save); t; t = strtok_r(NULL, "|", &save)) {
            if (kv->nchoices == MAX_CHOICES || strlen(t) >= sizeof kv->choices[0]) {
                snprintf(msg, msglen, "too many or too long choices for '%s'", key);
                return -1;
            }
            strcpy(kv->choices[kv->nchoices++], t);
        }
    } else {
        kv->kind = V_FIXED;
    }
    return 0;
}

/* Draw every ranged value of the line for draw I (stratified by the keys' permutations when
** STRATIFIED, plain uniform otherwise), resolve references and 'same', and build the spec. */
static int draw(struct key_val *kv, int nkv, const char *type, size_t i, size_t count,
                int stratified, uint64_t *rng, char *spec, size_t speclen, char *msg, size_t msglen)
{
    for (int j = 0; j < nkv; j++) {
        double u = cl_rng_uniform(rng);
        if (stratified && kv[j].perm)
            u = ((double)kv[j].perm[i] + u) / (double)count;
        switch (kv[j].kind) {
        case V_FIXED: strcpy(kv[j].drawn, kv[j].text); break;
        case V_RANGE: {
            long long v = kv[j].lo + (long long)floor(u * (double)(kv[j].hi - kv[j].lo + 1));
            snprintf(kv[j].drawn, sizeof kv[j].drawn, "%lld", v > kv[j].hi ? kv[j].hi : v);
            break;
        }
        case V_LOGRANGE: {
            double a = log((double)kv[j].lo), b = log((double)kv[j].hi + 1.0);
            long long v = (long long)floor(exp(a + u * (b - a)));
            v = v < kv[j].lo ? kv[j].lo : v > kv[j].hi ? kv[j].hi : v;
            snprintf(kv[j].drawn, sizeof kv[j].drawn, "%lld", v);
            break;
        }
        case V_CHOICE: {
            int c = (int)floor(u * kv[j].nchoices);
            strcpy(kv[j].drawn, kv[j].choices[c < kv[j].nchoices ? c : kv[j].nchoices - 1]);
            break;
        }
        default: break;
        }
    }
    /* References and 'same' after every plain value is known. */
    for (int j = 0; j < nkv; j++) {
        if (kv[j].kind == V_REF) {
            int found = 0;
            for (int r = 0; r < nkv && !found; r++)
                if (r != j && kv[r].kind != V_REF && strcmp(kv[r].key, kv[j].text) == 0) {
                    strcpy(kv[j].drawn, kv[r].drawn);
                    found = 1;
                }
            if (!found) {
                snprintf(msg, msglen, "'%s=@%s' refers to a key not on the line", kv[j].key,
                         kv[j].text);
                return -1;
            }
        } else if (kv[j].kind == V_SAME) {
            long long k = 1, d = 1;
            for (int r = 0; r < nkv; r++) {
                if (strcmp(kv[r].key, "kernel") == 0 || strcmp(kv[r].key, "kh") == 0 ||
                    strcmp(kv[r].key, "size") == 0)
                    k = strtoll(kv[r].drawn, NULL, 10);
                if (strcmp(kv[r].key, "dilation") == 0 || strcmp(kv[r].key, "dh") == 0)
                    d = strtoll(kv[r].drawn, NULL, 10);
            }
            snprintf(kv[j].drawn, sizeof kv[j].drawn, "%lld", d * (k - 1) / 2);
        }
    }
    size_t len = (size_t)snprintf(spec, speclen, "%s", type);
    for (int j = 0; j < nkv && len < speclen; j++)
        len += (size_t)snprintf(spec + len, speclen - len, " %s=%s", kv[j].key, kv[j].drawn);
    if (len >= speclen) {
        snprintf(msg, msglen, "drawn layer text too long");
        return -1;
    }
    return 0;
}

/* Expand one `random COUNT TYPE ...` line (REST points after "random"). */
static cleave_status random_line(prof_sweep *s, size_t *cap, char *rest, int line,
                                 const prof_sweep_opts *o, char *msg, size_t msglen)
{
    struct key_val kv[MAX_KEYS];
    int nkv = 0;
    long long count;
    char *save = NULL, spec[1024], lerr[256];
    cleave_status rc = CLEAVE_OK;
    const char *cnt = strtok_r(rest, " \t", &save);
    const char *type = strtok_r(NULL, " \t", &save);
    if (!cnt || parse_ll(cnt, &count) || count < 1 || count > 100000) {
        snprintf(msg, msglen, "'random' needs a count in 1..100000, got '%s'", cnt ? cnt : "");
        return CLEAVE_EPARSE;
    }
    if (!type) {
        snprintf(msg, msglen, "'random %lld' needs a layer type", count);
        return CLEAVE_EPARSE;
    }
    /* The type is checked by parsing a bare layer of it. */
    cleave_layer probe;
    if (cleave_layer_parse(&probe, type, lerr, sizeof lerr) != CLEAVE_OK &&
        strncmp(lerr, "unknown layer type", 18) == 0) {
        snprintf(msg, msglen, "%s", lerr);
        return CLEAVE_EPARSE;
    }
    if (o->types && !(o->types & (1u << probe.type)))
        return CLEAVE_OK;
    for (char *t = strtok_r(NULL, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(t, '=');
        if (!eq || nkv == MAX_KEYS) {
            snprintf(msg, msglen, "expected key=value, got '%s'", t);
            return CLEAVE_EPARSE;
        }
        *eq = '\0';
        if (classify(&kv[nkv], t, eq + 1, msg, msglen) != 0) {
            rc = CLEAVE_EPARSE;
            goto done;
        }
        nkv++;
    }
    /* Each line has its own stream, so that filtering types or editing one line does not
    ** change the draws of the others. */
    uint64_t rng = o->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(line + 1));
    for (int j = 0; j < nkv; j++) {
        if (kv[j].kind != V_RANGE && kv[j].kind != V_LOGRANGE && kv[j].kind != V_CHOICE)
            continue;
        kv[j].perm = malloc(sizeof(size_t) * (size_t)count);
        if (!kv[j].perm) {
            rc = CLEAVE_ENOMEM;
            snprintf(msg, msglen, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < (size_t)count; i++)
            kv[j].perm[i] = i;
        for (size_t i = (size_t)count; i > 1; i--) {
            size_t r = (size_t)(cl_rng_next(&rng) % i), tmp = kv[j].perm[i - 1];
            kv[j].perm[i - 1] = kv[j].perm[r];
            kv[j].perm[r] = tmp;
        }
    }
    for (size_t i = 0; i < (size_t)count; i++) {
        int ok = 0;
        for (int attempt = 0; attempt <= REDRAWS && !ok; attempt++) {
            cleave_layer l;
            if (draw(kv, nkv, type, i, (size_t)count, attempt == 0, &rng, spec, sizeof spec, msg,
                     msglen) != 0) {
                rc = CLEAVE_EPARSE;
                goto done;
            }
            cleave_status prc = cleave_layer_parse(&l, spec, lerr, sizeof lerr);
            if (prc == CLEAVE_EPARSE) {
                /* A syntax error is the file's fault, not the draw's: report it. */
                snprintf(msg, msglen, "%s", lerr);
                rc = CLEAVE_EPARSE;
                goto done;
            }
            if (prc == CLEAVE_OK && within_caps(&l, o)) {
                if (add_entry(s, cap, &l, 1, line) != 0) {
                    rc = CLEAVE_ENOMEM;
                    snprintf(msg, msglen, "out of memory");
                    goto done;
                }
                ok = 1;
            }
        }
        if (!ok)
            s->rejected++;
    }
done:
    for (int j = 0; j < nkv; j++)
        free(kv[j].perm);
    return rc;
}

cleave_status prof_sweep_parse(prof_sweep *out, const char *text, const prof_sweep_opts *o,
                               char *err, size_t errlen)
{
    prof_sweep s = {NULL, 0, 0};
    size_t cap = 0;
    int line = 0;
    char buf[2048], msg[384];
    const char *name = o->name ? o->name : "sweep";
    cleave_status rc = CLEAVE_OK;

    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        line++;
        if (len >= sizeof buf) {
            snprintf(err, errlen, "'%s' line %d: line too long", name, line);
            rc = CLEAVE_EPARSE;
            goto fail;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        p += len + (nl ? 1 : 0);
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        char *start = buf + strspn(buf, " \t\r");
        char *end = start + strlen(start);
        while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            *--end = '\0';
        if (!*start)
            continue;
        if (strncmp(start, "random", 6) == 0 && (start[6] == ' ' || start[6] == '\t')) {
            rc = random_line(&s, &cap, start + 7, line, o, msg, sizeof msg);
        } else {
            cleave_layer l;
            rc = cleave_layer_parse(&l, start, msg, sizeof msg);
            if (rc == CLEAVE_OK && (!o->types || (o->types & (1u << l.type)))) {
                if (!within_caps(&l, o))
                    s.rejected++;
                else if (add_entry(&s, &cap, &l, 0, line) != 0) {
                    rc = CLEAVE_ENOMEM;
                    snprintf(msg, sizeof msg, "out of memory");
                }
            }
        }
        if (rc != CLEAVE_OK) {
            snprintf(err, errlen, "'%s' line %d: %s", name, line, msg);
            goto fail;
        }
    }
    *out = s;
    return CLEAVE_OK;
fail:
    prof_sweep_release(&s);
    return rc;
}

cleave_status prof_sweep_load(prof_sweep *out, const char *path, const prof_sweep_opts *o,
                              char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open sweep '%s': %s", path, strerror(errno));
        return CLEAVE_EIO;
    }
    FILE *m = open_memstream(&text, &len);
    char chunk[4096];
    size_t got;
    while (m && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, got, m);
    int bad = ferror(f);
    fclose(f);
    if (!m || fclose(m) != 0 || bad) {
        free(text);
        snprintf(err, errlen, "cannot read sweep '%s'", path);
        return CLEAVE_EIO;
    }
    prof_sweep_opts oo = *o;
    if (!oo.name) {
        const char *slash = strrchr(path, '/');
        oo.name = slash ? slash + 1 : path;
    }
    cleave_status rc = prof_sweep_parse(out, text, &oo, err, errlen);
    free(text);
    return rc;
}

void prof_sweep_release(prof_sweep *s)
{
    free(s->entries);
    s->entries = NULL;
    s->n = 0;
}

cleave_status prof_types_parse(const char *list, unsigned *types, char *err, size_t errlen)
{
    char buf[512];
    *types = 0;
    if (strlen(list) >= sizeof buf) {
        snprintf(err, errlen, "type list too long");
        return CLEAVE_EPARSE;
    }
    strcpy(buf, list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int ty = cleave_layer_type_from_name(t);
        if (ty < 0) {
            snprintf(err, errlen, "unknown layer type '%s'", t);
            return CLEAVE_EPARSE;
        }
        *types |= 1u << ty;
    }
    if (!*types) {
        snprintf(err, errlen, "empty layer type list");
        return CLEAVE_EPARSE;
    }
    return CLEAVE_OK;
}
