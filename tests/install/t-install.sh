#!/usr/bin/env bash
# tests/install/t-install.sh - the installed library as someone else's program sees it:
# `cmake --install` into a DESTDIR tree puts headers, libcleave.so (SONAME) and libcleave.a,
# cleave.pc and the CMake package in place; the shared library exports only cleave_* symbols
# and needs no oneDNN; examples/planner_client.c builds with `cc $(pkg-config --cflags --libs
# cleave)` (shared, static, with a sysroot, and after moving the tree) and with a
# find_package(cleave) project, and every build runs against a fitted fixture store.
# Registered with CTest (label install) by predict/CMakeLists.txt.
set -u
: "${CLEAVE_BUILD:?CLEAVE_BUILD must point at the build directory}"
: "${CLEAVE_SRC:?CLEAVE_SRC must point at the source directory}"
CC=${CC:-cc}
CMAKE=${CMAKE_COMMAND:-cmake}
FIXTURE=${CLEAVE_FIXTURE:-$CLEAVE_BUILD/tests/test-predict}
# A sanitizer build installs an instrumented library: its clients need the same runtime.
SAN=${CLEAVE_SANITIZE:+-fsanitize=$CLEAVE_SANITIZE}
for tool in pkg-config nm readelf "$CC"; do
    command -v "$tool" >/dev/null || { echo "$tool missing; skipping"; exit 77; }
done

tmp=$(mktemp -d /tmp/cleave-t-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { printf 'ok - %s\n' "$1"; }
not_ok() {
    printf 'not ok - %s\n' "$1"
    fails=$((fails + 1))
}
# check NAME COMMAND...: passes when the command succeeds.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}
# run_client NAME BINARY [ENV...]: the example runs on the fixture and prints what it should.
run_client() {
    local name=$1 bin=$2
    shift 2
    if env "$@" "$bin" "$tmp/store.db" dev >"$tmp/client.out" 2>"$tmp/client.err" &&
        grep -q "^libcleave 0\." "$tmp/client.out" &&
        grep -q "^model fc " "$tmp/client.out" &&
        grep -q "^layer 2 pool .*fallback" "$tmp/client.out" &&
        grep -q "^total idle " "$tmp/client.out"; then
        ok "$name"
    else
        not_ok "$name"
        sed 's/^/#   /' "$tmp/client.out" "$tmp/client.err"
    fi
}

# ---- install -----------------------------------------------------------------------------
prefix=/opt/cleave
if ! DESTDIR="$tmp/root" "$CMAKE" --install "$CLEAVE_BUILD" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
    not_ok "cmake --install"
    sed 's/^/#   /' "$tmp/install.log"
    echo "1 failed"
    exit 1
fi
ok "cmake --install into DESTDIR"
root=$tmp/root$prefix
pc=$(find "$root" -name cleave.pc)
libdir=$(dirname "$(dirname "$pc")")
for h in cleave.h status.h layer.h load.h predict.h; do
    check "header $h installed" test -f "$root/include/cleave/$h"
done
check "cleave.pc installed" test -f "$pc"
check "libcleave.a installed" test -f "$libdir/libcleave.a"
so=$(readlink -f "$libdir/libcleave.so")
check "libcleave.so is a link to a versioned file" test -f "$so" -a -L "$libdir/libcleave.so"
soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
check "SONAME '$soname' is versioned and installed" test -n "$soname" -a "$soname" != libcleave.so -a -L "$libdir/$soname"
for f in cleave-config.cmake cleave-config-version.cmake cleave-targets.cmake; do
    check "CMake package file $f" test -f "$libdir/cmake/cleave/$f"
done
nm -D --defined-only "$so" | awk '{print $3}' | sort >"$tmp/exports"
check "only cleave_* symbols exported ($(wc -l <"$tmp/exports") of them)" \
    test -s "$tmp/exports" -a -z "$(grep -v '^cleave_' "$tmp/exports")"
for sym in cleave_predictor_open cleave_predict cleave_predict_many cleave_load_now \
    cleave_predictor_errmsg cleave_version cleave_predictor_open_formulas cleave_predict_loading; do
    check "exports $sym" grep -qx "$sym" "$tmp/exports"
done
check "no oneDNN, OpenMP or libpfm dependency" \
    test -z "$(readelf -d "$so" | grep NEEDED | grep -Ei 'dnnl|gomp|omp|pfm')"

# ---- a fitted store for the client -------------------------------------------------------
if ! "$FIXTURE" --fixture "$tmp/store.db" >"$tmp/fixture.log" 2>&1; then
    not_ok "fixture store ($FIXTURE --fixture)"
    sed 's/^/#   /' "$tmp/fixture.log"
    echo "$fails failed"
    exit 1
fi

# ---- pkg-config --------------------------------------------------------------------------
export PKG_CONFIG_PATH=$libdir/pkgconfig
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR
check "pkg-config --modversion" test "$(pkg-config --modversion cleave)" = 0.1.0
cflags=$(pkg-config --cflags cleave)
libs=$(pkg-config --libs cleave)
check "pkg-config points into the staged tree" \
    test "$(readlink -f "$(echo "$cflags" | sed 's/^-I//; s/ *$//')")" = "$(readlink -f "$root/include")"
# shellcheck disable=SC2086
if "$CC" $SAN -std=c99 -Wall -Wextra -Werror "$CLEAVE_SRC/examples/planner_client.c" $cflags $libs \
    -o "$tmp/client" 2>"$tmp/cc.log"; then
    ok "planner_client builds with pkg-config (shared)"
    run_client "planner_client runs on the installed libcleave.so" "$tmp/client" \
        LD_LIBRARY_PATH="$libdir"
    check "... and loads the installed libcleave.so" \
        sh -c "LD_LIBRARY_PATH='$libdir' ldd '$tmp/client' | grep -q '$libdir/$soname'"
else
    not_ok "planner_client builds with pkg-config (shared)"
    sed 's/^/#   /' "$tmp/cc.log"
fi
static_libs=$(pkg-config --static --libs cleave | sed 's/-lcleave/-l:libcleave.a/')
# shellcheck disable=SC2086
if "$CC" $SAN -std=c99 -Wall -Wextra -Werror "$CLEAVE_SRC/examples/planner_client.c" $cflags \
    $static_libs -o "$tmp/client-static" 2>"$tmp/cc.log"; then
    ok "planner_client builds with pkg-config --static (libcleave.a)"
    run_client "planner_client runs linked statically" "$tmp/client-static"
    check "... without libcleave.so" sh -c "! ldd '$tmp/client-static' | grep -q libcleave"
else
    not_ok "planner_client builds with pkg-config --static (libcleave.a)"
    sed 's/^/#   /' "$tmp/cc.log"
fi

# The installed header alone compiles as C89 -pedantic and as C++.
check "installed cleave.h compiles as C89 -pedantic" \
    sh -c "echo '#include <cleave/cleave.h>' | '$CC' -x c -std=c89 -pedantic -Wall -Wextra -Werror -fsyntax-only $cflags -"
if command -v c++ >/dev/null; then
    check "installed cleave.h compiles as C++" \
        sh -c "echo '#include <cleave/cleave.h>' | c++ -x c++ -pedantic -Wall -Wextra -Werror -fsyntax-only $cflags -"
fi

# A sysroot: the .pc's paths are already inside the staged tree, so pkg-config must not
# prefix them a second time.
sysroot_cflags=$(PKG_CONFIG_SYSROOT_DIR=$tmp/root pkg-config --cflags cleave)
check "PKG_CONFIG_SYSROOT_DIR does not double the prefix ($sysroot_cflags)" \
    test -d "$(echo "$sysroot_cflags" | sed 's/^-I//; s/ *$//')/cleave"

# The tree can move: cleave.pc finds itself.
mv "$tmp/root" "$tmp/moved"
moved_libdir=$tmp/moved${libdir#"$tmp/root"}
# shellcheck disable=SC2046
if PKG_CONFIG_PATH=$moved_libdir/pkgconfig "$CC" $SAN -std=c99 "$CLEAVE_SRC/examples/planner_client.c" \
    $(PKG_CONFIG_PATH=$moved_libdir/pkgconfig pkg-config --cflags --libs cleave) \
    -o "$tmp/client-moved" 2>"$tmp/cc.log"; then
    run_client "a moved tree still builds and runs" "$tmp/client-moved" LD_LIBRARY_PATH="$moved_libdir"
else
    not_ok "a moved tree still builds"
    sed 's/^/#   /' "$tmp/cc.log"
fi
mv "$tmp/moved" "$tmp/root"

# ---- find_package(cleave) ----------------------------------------------------------------
if "$CMAKE" -S "$CLEAVE_SRC/tests/install/consumer" -B "$tmp/consumer" \
    -DCMAKE_PREFIX_PATH="$root" -DCLEAVE_EXAMPLE="$CLEAVE_SRC/examples/planner_client.c" \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="$SAN" \
    -DCMAKE_EXE_LINKER_FLAGS="$SAN" >"$tmp/consumer.log" 2>&1 &&
    "$CMAKE" --build "$tmp/consumer" >>"$tmp/consumer.log" 2>&1; then
    ok "find_package(cleave) project builds (cleave::cleave, cleave::cleave_static)"
    run_client "cleave::cleave client runs" "$tmp/consumer/planner_client"
    run_client "cleave::cleave_static client runs" "$tmp/consumer/planner_client_static"
else
    not_ok "find_package(cleave) project builds"
    sed 's/^/#   /' "$tmp/consumer.log"
fi
echo "$fails failed"
[ "$fails" -eq 0 ]
