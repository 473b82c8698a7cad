#!/usr/bin/env bash
# CLI tests of `cleave run` (local): usage errors, a small graph whose output is checked against
# a value computed independently here, determinism across runs and seeds, JSON output.
. "$(dirname "$0")/lib.sh"

expect_err 2 "cleave run: --model is required" run
expect_err 2 "cleave run: option '--reps' must be in 1..100000, got 0" run --model x --reps 0
expect_err 2 "cleave run: unknown --unknown-op 'skip' (error, fallback)" run --model x --unknown-op skip
run run --model "$TMP/missing.txt"
[ "$rc" -eq 1 ] && grep -q "missing.txt" "$TMP/err" && ok || bad "missing model: exit $rc"

# A graph with no weights at all: relu then global average pooling then softmax over 1 channel
# is exactly 1.0; a concat of an input with its relu, then a slice back out, is the relu again.
cat >"$TMP/g.txt" <<'G'
input x 1x3x4x4
node r relu <- x
node cat concat <- x r
node s slice axis=1 start=3 end=6 <- cat
node f flatten <- s
node m dropout <- f
output m
G
expect_exit 0 run --model "$TMP/g.txt" --threads 1 --reps 2 --json
expect_json "[n['impl'] for n in j['nodes']][4] == 'portable' and j['nodes'][3]['impl'] == 'copy' and j['nodes'][3]['us'] == 0"
cp "$TMP/out" "$TMP/g.json"
# The output equals relu of the input: recompute the input the executor draws (splitmix64
# from the seed and the tensor id, uniform in [-1, 1) as float) and its CRC-32 here.
python3 - "$TMP/g.json" >"$TMP/check.out" 2>&1 <<'PY' && ok || bad "relu oracle: $(cat "$TMP/check.out")"
import json, struct, sys, zlib
M = (1 << 64) - 1
def mix(state):
    state = (state + 0x9e3779b97f4a7c15) & M
    z = state
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
    return state, z ^ (z >> 31)
seed, tensor = 1, 0
s = seed ^ ((0x696e707574 + tensor * 0x9e3779b97f4a7c15) & M)
_, s = mix(s)                      # the derived seed
vals = []
for _ in range(48):
    s, r = mix(s)
    u = (r >> 11) * (1.0 / 9007199254740992.0)
    f = struct.unpack('f', struct.pack('f', u))[0]          # (float) of the double
    v = struct.unpack('f', struct.pack('f', -1.0 + 2.0 * f))[0]
    vals.append(max(v, 0.0))
crc = zlib.crc32(struct.pack('<48f', *vals))
got = json.load(open(sys.argv[1]))['outputs'][0]['crc32']
sys.exit(0 if got == '%08x' % crc else 'crc32 %s, oracle %08x' % (got, crc))
PY

# Same seed, same outputs; another seed, other outputs (a zoo model, text output).
expect_exit 0 run --model "$CLEAVE_SRC/data/models/squeezenet1_0.onnx" --reps 1 --warmup 0
expect_out_has "total:"
grep '^output' "$TMP/out" >"$TMP/a"
expect_exit 0 run --model "$CLEAVE_SRC/data/models/squeezenet1_0.onnx" --reps 1 --warmup 1
grep '^output' "$TMP/out" >"$TMP/b"
cmp -s "$TMP/a" "$TMP/b" && ok || bad "two runs differ: $(cat "$TMP/a" "$TMP/b")"
expect_exit 0 run --model "$CLEAVE_SRC/data/models/squeezenet1_0.onnx" --reps 1 --warmup 0 --seed 2
grep '^output' "$TMP/out" >"$TMP/c"
cmp -s "$TMP/a" "$TMP/c" && bad "seed 2 gives the outputs of seed 1" || ok
finish
