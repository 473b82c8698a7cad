#!/usr/bin/env bash
# Install dependencies, build, and run cleave's main job on this machine:
#   1. describe the machine (cleave info);
#   2. calibrate it once - profile every layer type of the built-in default sweep under
#      synthetic CPU and memory-bandwidth load, fit the seven regression families, and print
#      the R² tables (cleave calibrate), into the SQLite store cleave.db;
#   3. ask the fitted models, through the predict API, how long a few layers take under the
#      load the machine has right now (cleave predict --load now).
# CLEAVE_DEMO_BUDGET sets the profiling budget (default 3m; `cleave calibrate` alone uses 10m).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build

db=${CLEAVE_DB:-cleave.db}
device="$(hostname -s)-$(nproc)t"
echo
build/cleave info
echo
build/cleave calibrate --device "$device" --db "$db" --budget "${CLEAVE_DEMO_BUDGET:-3m}" \
    --plot cleave-report
echo
build/cleave predict --device "$device" --db "$db" --load now \
    'conv n=1 c=64 h=56 w=56 k=64 kernel=3 pad=1' \
    'pool n=1 c=64 h=112 w=112 kind=max kernel=3 stride=2 pad=1' \
    'fc n=1 c=9216 k=4096' \
    'softmax n=1 c=1000'
echo
echo "demo: the store is $db; plots are in cleave-report/"
