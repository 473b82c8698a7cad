/* Compiles the public header under -std=c99/c11 -pedantic -Werror (see tests/CMakeLists.txt). */
#include <cleave/cleave.h>

int cleave_header_check_c(void);
int cleave_header_check_c(void)
{
    cleave_layer l;
    l.type = CLEAVE_LAYER_CONV;
    return (int)l.type + CLEAVE_VERSION_NUMBER + (int)CLEAVE_OK;
}
