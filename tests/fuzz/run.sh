#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS - fuzz the ONNX and text importers with libFuzzer for about SECONDS
# in all (half each), from the seed corpus in tests/fuzz/corpus/.
#
# Self-contained: compiles the importers, the layer catalogue and the protoc-c output for
# onnx.proto straight with clang (-fsanitize=fuzzer,address,undefined) in a temporary directory,
# so it needs neither a configured build tree nor the other stages.  New inputs found go to that
# directory, never into the repository.  Exits 0 when both targets ran without a crash, 1 on a
# crash (the reproducer is kept and its path printed: replay it with any build's fuzz-onnx /
# fuzz-text, e.g. build/fuzz-onnx FILE), 77 when clang or its libFuzzer runtime is missing.
set -euo pipefail

secs=${1:-60}
case $secs in '' | *[!0-9]*) echo "usage: $0 SECONDS" >&2; exit 2 ;; esac
half=$(( secs / 2 > 0 ? secs / 2 : 1 ))
src=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CLANG:-clang}
proto=${ONNX_PROTO:-/usr/include/onnx/onnx.proto}

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "fuzz: skipped: no clang (Debian package clang)" >&2
    exit 77
fi
if ! command -v protoc-c >/dev/null 2>&1 || [ ! -f "$proto" ]; then
    echo "fuzz: protoc-c or $proto missing (protobuf-c-compiler, libonnx-dev)" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cleave-fuzz.XXXXXX")
keep=0
cleanup() { if [ "$keep" = 0 ]; then rm -rf "$work"; fi; }
trap cleanup EXIT

# libFuzzer is there when a trivial target links.
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >"$work/probe.c"
if ! "$cc" -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" 2>/dev/null; then
    echo "fuzz: skipped: $cc cannot link libFuzzer (Debian package libclang-rt-dev)" >&2
    exit 77
fi

protoc-c --c_out="$work" -I"$(dirname "$proto")" "$proto"
lib_src=("$src/common/layer.c" "$src/common/status.c" "$src/planner/graph.c"
         "$src/planner/onnx.c" "$src/planner/text.c")
cflags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
        -I"$src" -I"$src/include" -I"$work")
echo "fuzz: building with $cc"
"$cc" "${cflags[@]}" -w -c "$work/onnx.pb-c.c" -o "$work/onnx.pb-c.o"
for t in onnx text; do
    "$cc" "${cflags[@]}" "${lib_src[@]}" "$src/tests/fuzz/fuzz-$t.c" "$work/onnx.pb-c.o" \
        -lprotobuf-c -lm -o "$work/fuzz-$t"
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in onnx text; do
    mkdir -p "$work/corpus-$t"
    dict=()
    [ -f "$src/tests/fuzz/$t.dict" ] && dict=(-dict="$src/tests/fuzz/$t.dict")
    echo "fuzz: $t for ${half}s"
    if ! "$work/fuzz-$t" -max_total_time="$half" -timeout=10 -rss_limit_mb=2048 \
            -max_len=16384 -print_final_stats=1 "${dict[@]}" \
            -artifact_prefix="$work/crash-$t-" "$work/corpus-$t" "$src/tests/fuzz/corpus/$t" \
            >"$work/log-$t" 2>&1; then
        status=1
        keep=1
        tail -n 60 "$work/log-$t" >&2
        echo "fuzz: $t crashed; reproducer(s):" >&2
        ls "$work"/crash-"$t"-* >&2 2>/dev/null || true
    else
        grep -E "^stat::number_of_executed_runs|^Done" "$work/log-$t" | tr '\n' ' '
        echo
    fi
done
if [ "$status" = 0 ]; then
    echo "fuzz: no crash in ${secs}s"
else
    echo "fuzz: work directory kept: $work" >&2
fi
exit "$status"
