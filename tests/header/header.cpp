// Compiles the public header as C++ (see tests/CMakeLists.txt).
#include <cleave/cleave.h>

int cleave_header_check_cxx();
int cleave_header_check_cxx()
{
    cleave_layer l = cleave_layer();
    cleave_prediction r = cleave_prediction();
    cleave_model_info info = cleave_model_info();
    cleave_predictor *p = nullptr;
    l.type = CLEAVE_LAYER_CONV;
    if (p && cleave_predict(p, &l, nullptr, &r) != CLEAVE_OK)
        return static_cast<int>(cleave_predictor_model(p, l.type, 0, &info));
    return static_cast<int>(l.type) + CLEAVE_VERSION_NUMBER + info.fallback;
}
