/*
** examples/planner_client.c - a planner's use of libcleave: open a device's models, list what
** is fitted, then predict a small network's layers idle and under the load right now.
**
** It needs only the installed header and pkg-config:
**
**     cc planner_client.c $(pkg-config --cflags --libs cleave) -o planner_client
**     ./planner_client cleave.db my-device ['conv n=1 c=3 h=224 w=224 k=64 kernel=7 ...' ...]
**
** Without layer arguments it predicts a built-in five-layer network.  Exit status: 0 on
** success, 1 when the store, the device or a prediction fails (the message says why).
*/
#include <stdio.h>
#include <stdlib.h>

#include <cleave/cleave.h>

static const char *const default_net[] = {
    "conv n=1 c=3 h=32 w=32 k=16 kernel=3 pad=1 act=relu",
    "pool n=1 c=16 h=32 w=32 kind=max kernel=2 stride=2",
    "conv n=1 c=16 h=16 w=16 k=32 kernel=3 pad=1 act=relu",
    "fc n=1 c=32 h=16 w=16 k=10",
    "softmax n=1 c=10 h=1 w=1 axis=1",
};

int main(int argc, char **argv)
{
    cleave_predictor *p = NULL;
    cleave_layer *layers = NULL;
    cleave_prediction *idle = NULL, *busy = NULL;
    cleave_load load;
    char err[512];
    int nlayers, code = 1;

    if (argc < 3) {
        fprintf(stderr, "usage: %s STORE DEVICE [LAYER-SPEC...]\n", argv[0]);
        return 2;
    }
    /* The header and the library must agree. */
    if (cleave_version_number() != CLEAVE_VERSION_NUMBER) {
        fprintf(stderr, "header %s but library %s\n", CLEAVE_VERSION, cleave_version());
        return 1;
    }
    printf("libcleave %s\n", cleave_version());

    if (cleave_predictor_open(&p, argv[1], argv[2], err, sizeof err) != CLEAVE_OK) {
        fprintf(stderr, "cannot open the models: %s\n", err);
        return 1;
    }

    /* What is fitted, per layer type: the static and the dynamic (load-aware) model. */
    for (int t = 0; t < CLEAVE_LAYER_COUNT; t++) {
        cleave_model_info s, d;
        if (cleave_predictor_model(p, (cleave_layer_type)t, 0, &s) != CLEAVE_OK ||
            cleave_predictor_model(p, (cleave_layer_type)t, 1, &d) != CLEAVE_OK || s.fallback)
            continue;
        printf("model %-8s static %-13s dynamic %-13s\n",
               cleave_layer_type_name((cleave_layer_type)t), s.family,
               d.feature_set[0] == 'd' ? d.family : "-");
    }

    /* The network: from the command line, or the built-in one. */
    nlayers = argc > 3 ? argc - 3 : (int)(sizeof default_net / sizeof default_net[0]);
    layers = calloc((size_t)nlayers, sizeof *layers);
    idle = calloc((size_t)nlayers, sizeof *idle);
    busy = calloc((size_t)nlayers, sizeof *busy);
    if (!layers || !idle || !busy) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    for (int i = 0; i < nlayers; i++) {
        const char *spec = argc > 3 ? argv[3 + i] : default_net[i];
        if (cleave_layer_parse(&layers[i], spec, err, sizeof err) != CLEAVE_OK) {
            fprintf(stderr, "layer %d '%s': %s\n", i + 1, spec, err);
            goto done;
        }
    }

    /* Idle (static models), then under the load of this machine right now. */
    if (cleave_predict_many(p, layers, (size_t)nlayers, NULL, idle) != CLEAVE_OK) {
        fprintf(stderr, "%s\n", cleave_predictor_errmsg(p));
        goto done;
    }
    if (cleave_load_now(&load, 0, err, sizeof err) != CLEAVE_OK) {
        fprintf(stderr, "cannot sample the load: %s\n", err);
        goto done;
    }
    if (cleave_predict_many(p, layers, (size_t)nlayers, &load, busy) != CLEAVE_OK) {
        fprintf(stderr, "%s\n", cleave_predictor_errmsg(p));
        goto done;
    }
    printf("load now: cpu_util %.2f, other_cpu %.2f\n", load.v[CLEAVE_LOAD_CPU_UTIL],
           load.v[CLEAVE_LOAD_OTHER_CPU]);

    double total_idle = 0.0, total_busy = 0.0;
    for (int i = 0; i < nlayers; i++) {
        printf("layer %d %-8s idle %10.2f us (%s%s)  now %10.2f us (%s, %s)\n", i + 1,
               cleave_layer_type_name(layers[i].type), idle[i].latency_us, idle[i].family,
               idle[i].fallback ? ", fallback" : "", busy[i].latency_us, busy[i].family,
               busy[i].feature_set);
        total_idle += idle[i].latency_us;
        total_busy += busy[i].latency_us;
    }
    printf("total idle %.2f us, now %.2f us\n", total_idle, total_busy);
    code = 0;
done:
    free(layers);
    free(idle);
    free(busy);
    cleave_predictor_close(p);
    return code;
}
