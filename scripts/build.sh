#!/usr/bin/env bash
# Configure and build cleave into DIR (default build/); extra arguments go to cmake.
# Used by demo.sh and test.sh so that both build the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
