#!/usr/bin/env bash
# CLI tests of the command table, `cleave help`, `cleave info` and `cleave bench`.
. "$(dirname "$0")/lib.sh"

run --version
[ "$rc" -eq 0 ] && [ "$(cat "$TMP/out")" = "cleave 0.1.0" ] && ok || bad "--version"
expect_exit 2
expect_err 2 "cleave: 'bnech' is not a cleave command. See 'cleave --help'." bnech
grep -q "^	bench$" "$TMP/err" && ok || bad "no suggestion of 'bench' for 'bnech'"
expect_exit 0 --help
expect_out_has "bench"
run help bench
cp "$TMP/out" "$TMP/help1"
run bench --help
cmp -s "$TMP/out" "$TMP/help1" && ok || bad "'help bench' differs from 'bench --help'"
expect_out_has "usage: cleave bench"
expect_err 2 "cleave help: no such command 'nope'" help nope

# Writing to a full device is an error, not a silent success.
rc=0; "$CLEAVE" --version >/dev/full 2>"$TMP/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "cannot write output" "$TMP/err" && ok || bad "--version >/dev/full exit $rc"

# Usage errors: exit 2, message naming the option or the key.
expect_err 2 "cleave bench: no layer given" bench
expect_err 2 "cleave bench: unknown option '--frobnicate'" bench --frobnicate 'relu n=1'
expect_err 2 "cleave bench: option '--threads' must be in 1..1024, got 0" bench --threads 0 'relu n=1'
expect_err 2 "cleave bench: option '--reps' needs an integer, got 'many'" bench --reps many 'relu n=1'
expect_err 2 "cleave bench: option '--max-mem' needs a positive size like 512M or 2G, got '12Q'" \
    bench --max-mem 12Q 'relu n=1'
expect_err 2 "cleave bench: option '--max-mem' must not be negative, got '-5M'" \
    bench --max-mem -5M 'relu n=1'
expect_err 2 "cleave bench: layer 'conv n=0 c=3 h=8 w=8': 'n' must be positive, got 0" \
    bench 'conv n=0 c=3 h=8 w=8'
expect_err 2 "cleave bench: layer 'conv n=1 c=3 h=-8 w=8': 'h' must be positive, got -8" \
    bench 'conv n=1 c=3 h=-8 w=8'
expect_err 2 "cleave bench: layer 'conv n=1 c=3 h=8 w=8 k=2 kernel=9': kernel 9x9 is larger than the padded input 8x8" \
    bench 'conv n=1 c=3 h=8 w=8 k=2 kernel=9'
expect_err 2 "cleave bench: layer 'conv n=1 strde=2': unknown key 'strde' for layer type 'conv'" \
    bench 'conv n=1 strde=2'
expect_err 2 "cleave bench: layer 'convolution n=1': unknown layer type 'convolution'" \
    bench 'convolution n=1'
expect_err 2 "cleave bench: layer 'fc n=1 c=99999999999999999999': value of 'c' is out of range: '99999999999999999999'" \
    bench 'fc n=1 c=99999999999999999999'
expect_err 2 "cleave bench: layer 'conv n=100000 c=100000 h=100000 w=100000': layer is too large: element counts overflow" \
    bench 'conv n=100000 c=100000 h=100000 w=100000'
# Over the memory cap: refused before anything is allocated (64 MiB of weights, cap 16 MiB).
expect_err 2 "cleave bench: layer 'fc n=1 c=4096 k=4096': its buffers need 64.0 MiB, more than the memory cap of 16.0 MiB (--max-mem)" \
    bench --max-mem 16M 'fc n=1 c=4096 k=4096'
# A bad spec after a good one is caught before anything runs.
expect_err 2 "cleave bench: layer 'pool n=1 kind=median': unknown pooling kind 'median' (max, avg, avgpad)" \
    bench 'relu n=1 c=8 h=8 w=8' 'pool n=1 kind=median'

# Real runs.
expect_exit 0 bench --reps 3 --warmup 1 --threads 1 'conv n=1 c=8 h=16 w=16 k=8 kernel=3 pad=1' 'argmax n=1 c=10'
expect_out_has "median_us"
expect_out_has "reproduce: cleave bench --threads 1 --reps 3 --warmup 1 --seed 1 'conv n=1 c=8 h=16 w=16 k=8 kernel=3 pad=1' 'argmax n=1 c=10'"
expect_exit 0 bench --json --reps 3 --warmup 0 'fc n=2 c=16 k=4' 'reshape n=1 c=4'
expect_json "len(j['results']) == 2 and j['results'][0]['spec'] == 'fc n=2 c=16 h=1 w=1 k=4 bias=1 act=none' and j['results'][0]['reps'] == 3 and j['results'][0]['min_us'] <= j['results'][0]['median_us'] <= j['results'][0]['p90_us'] <= j['results'][0]['max_us'] and j['results'][0]['gflops'] > 0 and j['results'][1]['backend'] == 'none' and j['results'][1]['gflops'] is None and j['binding'] == 'OMP_PROC_BIND=true'"

expect_exit 0 info
expect_out_has "backend     oneDNN 2."
expect_exit 0 info --json
expect_json "j['cores'] >= 1 and j['backend'] == 'onednn' and isinstance(j['pmu'], bool) and 'task_clock' in j['counters']"
expect_err 2 "cleave info: unexpected argument 'extra'" info extra
finish
