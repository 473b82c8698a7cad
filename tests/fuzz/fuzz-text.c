/*
** tests/fuzz/fuzz-text.c - fuzz target for the text-format reader: any bytes either read into a
** valid graph (which then passes fuzz_check_graph) or fail with a message; never a crash.
*/
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    plan_graph *g = NULL;
    err[0] = '\0';
    cleave_status rc = plan_text_read(&g, (const char *)data, size, err, sizeof err);
    if (rc == CLEAVE_OK) {
        fuzz_check_graph(g);
        plan_graph_destroy(g);
    } else if (g || err[0] == '\0') {
        abort(); /* a failure leaves no graph and always says why */
    }
    return 0;
}
