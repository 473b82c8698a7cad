/* Compiles the public header under -std=c89/c99/c11 -pedantic -Werror (see tests/CMakeLists.txt
** and predict/CMakeLists.txt); the body is C89 so that one file serves every standard. */
#include <cleave/cleave.h>

int cleave_header_check_c(void);
int cleave_header_check_c(void)
{
    cleave_layer l;
    cleave_prediction r;
    cleave_model_info info;
    cleave_load load;
    cleave_predictor *p = 0;
    l.type = CLEAVE_LAYER_CONV;
    r.latency_us = 0.0;
    info.fallback = 0;
    load.v[CLEAVE_LOAD_CPU_UTIL] = 0.5;
    if (p && cleave_predict(p, &l, &load, &r) != CLEAVE_OK)
        return (int)cleave_predictor_model(p, l.type, 1, &info);
    return (int)l.type + CLEAVE_VERSION_NUMBER + (int)CLEAVE_OK + CLEAVE_LOAD_WINDOW_MS_DEFAULT +
           (int)r.latency_us + info.fallback;
}
