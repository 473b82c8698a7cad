#!/usr/bin/env bash
# Install dependencies, build, and run cleave's main job on this machine: for now, benchmark one
# layer of every type in the catalogue on the oneDNN backend.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
echo
build/cleave info
echo
build/cleave bench --reps 30 \
    'conv n=1 c=64 h=56 w=56 k=64 kh=3 kw=3 stride=1 pad=1' \
    'conv n=1 c=144 h=56 w=56 k=144 kh=3 kw=3 stride=1 pad=1 groups=144 act=relu6' \
    'deconv n=1 c=64 h=28 w=28 k=32 kh=4 kw=4 stride=2 pad=1' \
    'pool n=1 c=64 h=112 w=112 kind=max kh=3 kw=3 stride=2 pad=1' \
    'pool n=1 c=512 h=7 w=7 kind=avg global=1' \
    'fc n=1 c=9216 k=4096' \
    'bn n=1 c=64 h=112 w=112' \
    'act n=1 c=64 h=112 w=112 kind=relu' \
    'act n=1 c=96 h=56 w=56 kind=hardswish' \
    'lrn n=1 c=96 h=55 w=55 size=5 alpha=0.0001 beta=0.75 lrn_k=2' \
    'dropout n=1 c=4096 h=1 w=1' \
    'softmax n=1 c=1000 h=1 w=1 axis=1' \
    'argmax n=1 c=1000 h=1 w=1 axis=1' \
    'lstm t=20 n=1 c=256 k=256' \
    'gru t=20 n=1 c=256 k=256' \
    'rnn t=20 n=1 c=256 k=256' \
    'add n=1 c=256 h=56 w=56' \
    'mul n=1 c=96 h=56 w=56' \
    'concat n=1 c=64,128,32,32 h=28 w=28' \
    'pad n=1 c=64 h=56 w=56 pad=1' \
    'transpose n=1 c=64 h=56 w=56 perm=0,2,3,1' \
    'slice n=1 c=256 h=28 w=28 axis=1 start=0 end=128' \
    'reshape n=1 c=512 h=7 w=7'
