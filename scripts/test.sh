#!/usr/bin/env bash
# Install dependencies, build, and run the whole suite twice: a normal build with warnings as
# errors, then an ASan + UBSan build.  Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

jobs=$(nproc)
echo "== build (warnings are errors)"
scripts/build.sh build -DCLEAVE_WERROR=ON
echo "== tests"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600

echo "== fuzzing the ONNX and text importers (about 60 s, libFuzzer)"
rc=0
tests/fuzz/run.sh 60 || rc=$?
if [ "$rc" -eq 77 ]; then
    echo "fuzz: skipped (clang or libFuzzer missing)"
elif [ "$rc" -ne 0 ]; then
    echo "fuzz: FAILED (exit $rc)"
    exit 1
fi

echo "== build with ASan + UBSan"
scripts/build.sh build-asan -DCLEAVE_WERROR=ON -DCLEAVE_SANITIZE=address,undefined
echo "== tests under ASan + UBSan"
# oneDNN's JIT and OpenMP runtime are not instrumented; leaks inside them at exit are theirs.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 900
echo "== all tests passed in both builds"
