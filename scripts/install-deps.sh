#!/usr/bin/env bash
# Install every Debian package that building, testing and demonstrating cleave needs.
# Idempotent: packages already present are left alone and nothing is downloaded.
set -euo pipefail

PKGS=(
    build-essential cmake pkg-config
    libdnnl-dev            # oneDNN 2.x: the execution backend
    libgsl-dev             # fitting (linear algebra)
    libsqlite3-dev sqlite3 # the store
    libpfm4-dev            # performance counters
    libcmocka-dev          # unit tests
    gnuplot-nox            # plots
    libprotobuf-c-dev protobuf-c-compiler libonnx-dev # ONNX import
    libopenblas-dev
    zlib1g-dev             # crc32() for the co-inference frame checksums
    libjansson-dev         # reading PLAN.json (cleave run --plan)
    iproute2               # network namespaces, veth and tc for the shaped-link test
    procps                 # ps/pgrep used by tests to check for stray children
    clang libclang-rt-dev  # libFuzzer for the importer fuzz targets
    clang-format           # the format check
)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PKGS[@]} packages present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=""
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install-deps: missing packages: ${missing[*]}" >&2
        echo "install-deps: not running as root and no password-less sudo; run as root:" >&2
        echo "  apt-get install --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
else
    SUDO=""
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
