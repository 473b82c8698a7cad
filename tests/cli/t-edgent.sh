#!/usr/bin/env bash
# CLI tests of `cleave plan --algo edgent` with seed 001's formula devices: usage and input
# errors with their exact messages, the choice on the bundled BranchyNet AlexNet re-checked from
# the JSON, the sweeps (monotone in bandwidth and deadline), plots, and `cleave predict` on a
# formula device.
. "$(dirname "$0")/lib.sh"
SRC=${CLEAVE_SRC:?}
M=$SRC/data/models/branchy_alexnet.txt
END=$SRC/data/devices/edgent-rpi3.device
EDGE=$SRC/data/devices/edgent-desktop.device
P=(plan --model "$M" --end "$END" --edge "$EDGE" --algo edgent)

expect_err 2 "cleave plan: --algo edgent needs --deadline MS" "${P[@]}"
expect_err 2 "cleave plan: --objective, --fps and --sweep-fps do not combine with --algo edgent" \
    "${P[@]}" --deadline 200 --objective both
expect_err 2 "cleave plan: --objective, --fps and --sweep-fps do not combine with --algo edgent" \
    "${P[@]}" --deadline 200 --fps 30
expect_err 2 "cleave plan: option '--deadline' needs a positive number of ms, got '0'" \
    "${P[@]}" --deadline 0
expect_err 2 "cleave plan: option '--deadline' needs a positive number of ms, got '-5'" \
    "${P[@]}" --deadline -5
expect_err 2 "cleave plan: --deadline, --sweep-bandwidth, --sweep-deadline, --include-loading and --partition are for --algo edgent" \
    plan --model "$M" --end "$END" --edge "$EDGE" --deadline 10
expect_err 2 "cleave plan: option '--sweep-bandwidth' takes A:B:N with 0 < A < B and 2 <= N <= 10000 (or A:A:1), got '5:1:3'" \
    "${P[@]}" --deadline 10 --sweep-bandwidth 5:1:3
expect_err 2 "cleave plan: --plot with --algo edgent plots the sweeps: give --sweep-bandwidth or --sweep-deadline" \
    "${P[@]}" --deadline 10 --plot "$TMP/p"

# bad exits and bad formulas name what is wrong
sed 's/exit exit4 accuracy=0.745/exit exit4 accuracy=1.2/' "$M" >"$TMP/acc.txt"
expect_err 1 "cleave: error: '$TMP/acc.txt': line 72: exit 'exit4': accuracy 1.2 is outside [0, 1]" \
    plan --model "$TMP/acc.txt" --end "$END" --edge "$EDGE" --algo edgent --deadline 10
sed 's/from=relu4 layers=b4pool/from=relu5 layers=b4pool/' "$M" >"$TMP/attach.txt"
expect_err 1 "cleave: error: '$TMP/attach.txt': exit 'exit4' does not attach to the main path at 'relu5': layer 'b4pool' reads 'relu4' (an exit's layers read only the output of its 'from' node and each other's)" \
    plan --model "$TMP/attach.txt" --end "$END" --edge "$EDGE" --algo edgent --deadline 10
sed 's/ksize \/ stride \* k/ksize \/ stride * filters/' "$END" >"$TMP/bad.device"
expect_err 1 "cleave: error: '$TMP/bad.device': line 21: formula for 'conv' names unknown feature 'filters'" \
    plan --model "$M" --end "$TMP/bad.device" --edge "$EDGE" --algo edgent --deadline 10
printf 'device tiny\nunit ms\nconv = 1\n' >"$TMP/tiny.device"
expect_err 1 "cleave: error: node 'relu1' on the end device 'tiny': no formula for layer type 'act' in device 'tiny'" \
    plan --model "$M" --end "$TMP/tiny.device" --edge "$EDGE" --algo edgent --deadline 10
printf 'device calib\nunit ms\nconv = 1\nact = 1\npool = 1\nlrn = 1\nfc = 1\ndropout = 1\n' >"$TMP/noload.device"
expect_err 1 "cleave: error: --include-loading: end device: device 'calib' has no model-loading formula" \
    plan --model "$M" --end "$TMP/noload.device" --edge "$EDGE" --algo edgent --deadline 10 --include-loading

# the choice, re-checked from the JSON: the chosen exit meets the deadline, no exit meeting it
# is more accurate, ties go to the faster, and each total is the sum of its parts
check='(lambda ex, c: c["meets"] and all(not e["meets"] or e["accuracy"] < c["accuracy"] or
   (e["accuracy"] == c["accuracy"] and e["total_us"] >= c["total_us"]) for e in ex) and
   all(abs(e["total_us"] - (e["end_us"] + e["up_us"] + e["edge_us"] + e["down_us"] +
   e["load_end_us"] + e["load_edge_us"])) < 1e-6 * e["total_us"] for e in ex) and
   all(e["meets"] == (e["total_us"] <= j["deadline_ms"] * 1e3) for e in ex))(j["exits"],
   [e for e in j["exits"] if e["name"] == j["chosen"]][0])'
for bw in 0.5 1 2 20; do
    for dl in 30 60 100 200; do
        run "${P[@]}" --deadline $dl --up $bw --down $bw --json
        if [ "$rc" -eq 0 ]; then ok; else bad "edgent json exit $rc"; fi
        python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if not j['meets_deadline'] or ($check) else 1)" "$TMP/out" && ok || bad "choice at $bw Mbit/s, $dl ms"
    done
done
run "${P[@]}" --deadline 100 --up 1 --down 1
expect_out_has "chosen: exit 'exit1' (accuracy 0.6), predicted 96.901 ms <= deadline 100 ms"
run "${P[@]}" --deadline 300 --up 0.4 --down 0.4 --partition neurosurgeon
expect_out_has "partition neurosurgeon"
expect_out_has "chosen: exit 'exit5' (accuracy 0.785)"
expect_err 2 "cleave plan: unknown partition algorithm 'best' (local, edge, neurosurgeon, couper, dp, mincut, brute)" \
    "${P[@]}" --deadline 300 --partition best
run "${P[@]}" --deadline 5 --up 1 --down 1
expect_out_has "no exit meets the deadline of 5 ms; the fastest is exit"
run "${P[@]}" --deadline 2000 --up 1 --down 1 --include-loading
expect_out_has "model loading included"
expect_out_has "chosen: exit 'exit5' (accuracy 0.785)"

# a calibrated device (the test store of test-predict --fixture) with a formula device
FIXTURE=${CLEAVE_BUILD:-}/tests/test-predict
if [ -x "$FIXTURE" ] && "$FIXTURE" --fixture "$TMP/fix.db" >"$TMP/fixture.log" 2>&1; then
    run plan --model "$M" --end dev --db "$TMP/fix.db" --edge "$EDGE" --algo edgent --deadline 50 --json
    expect_json 'j["end"] == "dev" and j["edge"] == "edgent-desktop" and len(j["exits"]) == 5'
    expect_err 1 "cleave: error: --include-loading: end device: device 'dev' has no model-loading formula" \
        plan --model "$M" --end dev --db "$TMP/fix.db" --edge "$EDGE" --algo edgent --deadline 50 --include-loading
fi

# a load given to a formula device is ignored, and the user is told
run "${P[@]}" --deadline 100 --end-load now
[ "$rc" -eq 0 ] && grep -qF "plan: note: formula device 'edgent-rpi3' does not read the load; it is ignored" "$TMP/err" && ok || bad "load note"

# a graph without exits is one exit, "main", without an accuracy
printf 'input x 1x8\nnode f fc k=4 <- x\nnode g fc k=2 <- f\noutput g\n' >"$TMP/noexit.txt"
run plan --model "$TMP/noexit.txt" --end "$END" --edge "$EDGE" --algo edgent --deadline 1
expect_out_has "chosen: exit 'main' (accuracy -), predicted"
run plan --model "$TMP/noexit.txt" --end "$END" --edge "$EDGE" --algo edgent --deadline 1 --json
expect_json 'j["chosen"] == "main" and j["exits"][0]["accuracy"] is None'

# sweeps: accuracy never falls as bandwidth or deadline grows (while some exit meets it)
run "${P[@]}" --deadline 100 --sweep-bandwidth 0.25:20:40 --json
expect_json 'all(not a["meets_deadline"] or (b["meets_deadline"] and b["chosen"]["accuracy"] >= a["chosen"]["accuracy"]) for a, b in zip(j["rows"], j["rows"][1:]))'
run "${P[@]}" --up 1 --down 1 --sweep-deadline 5:300:60 --json
expect_json 'len(j["rows"]) == 60 and all(not a["meets_deadline"] or (b["meets_deadline"] and b["chosen"]["accuracy"] >= a["chosen"]["accuracy"]) for a, b in zip(j["rows"], j["rows"][1:]))'
run "${P[@]}" --deadline 100 --sweep-bandwidth 0.5:2:4
expect_out_has "bw_mbps    exit       accuracy latency_ms meets partition"
if command -v gnuplot >/dev/null; then
    run "${P[@]}" --deadline 100 --sweep-bandwidth 0.5:2:4 --sweep-deadline 10:100:4 --plot "$TMP/plots"
    [ "$rc" -eq 0 ] && [ -s "$TMP/plots/edgent-bandwidth.png" ] && [ -s "$TMP/plots/edgent-deadline.png" ] && ok || bad "plots"
fi

# cleave predict with a formula device: Table 2's conv model on the edge server
run predict --device "$EDGE" 'conv n=1 c=3 h=32 w=32 k=32 kernel=5 pad=2'
# 6.03e-5 * 3072 + 1.24e-4 * 25 * 32 + 0.189 = 0.473442 ms
expect_out_has "473.442"
expect_out_has "device 'edgent-desktop' in '$EDGE'"
expect_err 1 "cleave: error: cannot open '$TMP/none.device': No such file or directory" \
    predict --device "$TMP/none.device" 'conv n=1 c=3 h=32 w=32 k=32 kernel=5 pad=2'
finish
