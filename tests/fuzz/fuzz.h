/*
** tests/fuzz/fuzz.h - the libFuzzer entry point and the checks every importer fuzz target runs
** on a graph it managed to import.
*/
#ifndef CLEAVE_TESTS_FUZZ_H
#define CLEAVE_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planner/graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write G in the text format into a malloc'ed string (*OUT); NULL when G cannot be written
** (a name the format cannot hold). */
static char *fuzz_text_of(const plan_graph *g)
{
    char *buf = NULL, err[256];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    cleave_status rc = plan_text_write(g, f, err, sizeof err);
    fclose(f);
    if (rc != CLEAVE_OK) {
        if (rc != CLEAVE_EINVAL) /* only unwritable names are acceptable */
            abort();
        free(buf);
        return NULL;
    }
    return buf;
}

/* Properties of an imported graph: the helpers run, the problem builds and passes its own
** invariants, and the text form reads back to a graph whose text form is the same. */
static void fuzz_check_graph(const plan_graph *g)
{
    char err[256];
    if (!g->finished || g->nnodes < 1 || g->ninputs < 1 || g->noutputs < 1)
        abort();
    (void)plan_graph_macs(g);
    plan_op_count hist[8];
    if (plan_graph_op_histogram(g, hist, 8) < 1)
        abort();
    double *t = calloc((size_t)g->nnodes, sizeof *t);
    if (!t)
        abort();
    for (int v = 0; v < g->nnodes; v++)
        t[v] = (double)(v % 7);
    plan_problem_buf pb;
    if (plan_problem_build(&pb, g, t, t, 8.8, 29.1, 20.0, err, sizeof err) != CLEAVE_OK)
        abort();
    for (int tt = 0; tt < pb.p.ntensors; tt++)
        for (int k = pb.p.cons_off[tt]; k < pb.p.cons_off[tt + 1]; k++)
            if (pb.p.cons[k] <= pb.p.producer[tt])
                abort(); /* consumers come after producers in the order */
    plan_problem_buf_release(&pb);
    free(t);

    char *text = fuzz_text_of(g);
    if (!text)
        return;
    plan_graph *g2 = NULL;
    if (plan_text_read(&g2, text, strlen(text), err, sizeof err) != CLEAVE_OK) {
        fprintf(stderr, "round trip failed: %s\n--- text ---\n%s", err, text);
        abort();
    }
    char *text2 = fuzz_text_of(g2);
    if (!text2 || strcmp(text, text2) != 0 || g2->nnodes != g->nnodes) {
        fprintf(stderr, "round trip differs:\n--- first ---\n%s--- second ---\n%s", text,
                text2 ? text2 : "(unwritable)\n");
        abort();
    }
    free(text2);
    free(text);
    plan_graph_destroy(g2);
}

#endif /* CLEAVE_TESTS_FUZZ_H */
