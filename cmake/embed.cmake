# cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake
# Writes OUT defining `const char NAME[]`: the bytes of IN followed by a NUL, so that data files
# (the default sweep) are part of the binary and need no installation to be found.
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n    "
       bytes "${bytes}")
get_filename_component(base "${IN}" NAME)
file(WRITE "${OUT}" "/* Generated from ${base} by cmake/embed.cmake; do not edit. */\n"
     "extern const char ${NAME}[];\nconst char ${NAME}[] = {\n    ${bytes}0x00};\n")
