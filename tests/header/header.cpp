// Compiles the public header as C++ (see tests/CMakeLists.txt).
#include <cleave/cleave.h>

int cleave_header_check_cxx();
int cleave_header_check_cxx()
{
    cleave_layer l = cleave_layer();
    l.type = CLEAVE_LAYER_CONV;
    return static_cast<int>(l.type) + CLEAVE_VERSION_NUMBER;
}
