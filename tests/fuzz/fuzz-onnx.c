/*
** tests/fuzz/fuzz-onnx.c - fuzz target for the ONNX importer: any bytes either import into a
** valid graph (which then passes fuzz_check_graph) or fail with a message; never a crash.
*/
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    for (unsigned flags = 0; flags <= PLAN_ONNX_FALLBACK; flags += PLAN_ONNX_FALLBACK) {
        plan_graph *g = NULL;
        err[0] = '\0';
        cleave_status rc = plan_onnx_read(&g, data, size, flags, err, sizeof err);
        if (rc == CLEAVE_OK) {
            fuzz_check_graph(g);
            plan_graph_destroy(g);
        } else if (g || err[0] == '\0') {
            abort(); /* a failure leaves no graph and always says why */
        }
    }
    return 0;
}
