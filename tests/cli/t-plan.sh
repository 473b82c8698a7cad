#!/usr/bin/env bash
# CLI tests of `cleave plan`: usage errors, then plans of a branchy text graph and of a zoo
# model, re-checked from the JSON by an independent implementation of the cost model.
. "$(dirname "$0")/lib.sh"
FIXTURE=${CLEAVE_BUILD:-}/tests/test-predict
[ -x "$FIXTURE" ] || { echo "fixture helper '$FIXTURE' missing"; exit 77; }
DB=$TMP/plan.db
"$FIXTURE" --fixture "$DB" >"$TMP/fixture.log" 2>&1 || { cat "$TMP/fixture.log"; exit 1; }

cat >"$TMP/g.txt" <<'G'
input x 1x256
node f1 fc k=512 <- x
node r1 relu <- f1
node f2 fc k=128 <- r1
node f3 fc k=128 <- r1
node a add <- f2 f3
node f4 fc k=10 <- a
output f4
G

expect_err 2 "cleave plan: --model, --end and --edge are required" plan --end dev --edge dev
expect_err 2 "cleave plan: unknown algorithm 'greedy' (local, edge, neurosurgeon, couper, dp, mincut, brute, edgent, all)" \
    plan --model "$TMP/g.txt" --end dev --edge dev --algo greedy
expect_err 2 "cleave plan: unknown network '5g' (3g, 4g, wifi)" plan --model "$TMP/g.txt" --end dev --edge dev --net 5g
expect_err 2 "cleave plan: option '--up' needs a positive number, got '-1'" \
    plan --model "$TMP/g.txt" --end dev --edge dev --up -1
expect_err 2 "cleave plan: option '--rtt' needs a number >= 0, got 'x'" \
    plan --model "$TMP/g.txt" --end dev --edge dev --rtt x
expect_err 2 "cleave plan: load item 'half' is not KEY=VALUE" \
    plan --model "$TMP/g.txt" --end dev --edge dev --end-load half
run plan --model "$TMP/missing.onnx" --end dev --edge dev --db "$DB"
[ "$rc" -eq 1 ] && grep -q "missing.onnx" "$TMP/err" && ok || bad "missing model: exit $rc"
run plan --model "$TMP/g.txt" --end nobody --edge dev --db "$DB"
[ "$rc" -eq 1 ] && grep -q "nobody" "$TMP/err" && ok || bad "unknown device: exit $rc"
printf 'input x 1x8\nnode f fc k=4 <- y\noutput f\n' >"$TMP/bad.txt"
run plan --model "$TMP/bad.txt" --end dev --edge dev --db "$DB"
[ "$rc" -eq 1 ] && grep -q "line 2" "$TMP/err" && ok || bad "bad graph: exit $rc"

# The JSON holds enough to re-check every plan: recompute each total from the nodes' costs,
# the tensors' transfer times and the placement, with the cost model written again here.
cat >"$TMP/check.py" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
nodes, tensors = j["nodes"], j["tensors"]
names = [n["name"] for n in nodes]
totals = {}
for p in j["plans"]:
    edge = set(p["edge_nodes"])
    on = [n in edge for n in names]
    t = sum(nodes[i]["edge_us"] if on[i] else nodes[i]["end_us"] for i in range(len(nodes)))
    for x in tensors:
        side = on[x["producer"]] if x["producer"] >= 0 else False
        cons = [on[c] for c in x["consumers"]]
        if not side and any(cons):
            t += x["up_us"]
        if side and (x["output"] or not all(cons)):
            t += x["down_us"]
    if abs(t - p["total_us"]) > 1e-6 * max(1.0, t):
        sys.exit("%s: total %r, recomputed %r" % (p["algo"], p["total_us"], t))
    totals[p["algo"]] = t
best = min(totals.values())
for a in ("dp", "mincut", "brute"):
    if a in totals and abs(totals[a] - best) > 1e-9 * best:
        sys.exit("%s is not optimal: %r > %r" % (a, totals[a], best))
if "brute" in totals and totals["neurosurgeon"] < totals["brute"] - 1e-9 * best:
    sys.exit("neurosurgeon beats brute force")
print("plans re-checked:", ", ".join("%s=%.3f" % kv for kv in sorted(totals.items())))
PY
for net in 3g wifi; do
    expect_exit 0 plan --model "$TMP/g.txt" --end dev --edge dev --db "$DB" --net $net --rtt 5 --json
    python3 "$TMP/check.py" "$TMP/out" >"$TMP/check.out" 2>&1 && ok || bad "recheck ($net): $(cat "$TMP/check.out")"
done
expect_exit 0 plan --model "$TMP/g.txt" --end dev --edge dev --db "$DB"
expect_out_has "placement of the fastest plan"
expect_out_has "mincut"

# A zoo model imports and plans (unknown layer types are costed by the fallback).
expect_exit 0 plan --model "$CLEAVE_SRC/data/models/alexnet.onnx" --end dev --edge dev --db "$DB" --json
python3 "$TMP/check.py" "$TMP/out" >"$TMP/check.out" 2>&1 && ok || bad "recheck alexnet: $(cat "$TMP/check.out")"
expect_json "len(j['nodes']) == 20 and [p['algo'] for p in j['plans']] == ['local', 'edge', 'neurosurgeon', 'couper', 'dp', 'mincut', 'brute']"

# Options: Couper's method, given loads, plots.
expect_err 2 "cleave plan: unknown Couper method 'lazy' (strongman, comm-slim, early-stop, hybrid)" \
    plan --model "$TMP/g.txt" --end dev --edge dev --couper lazy
run plan --model "$TMP/g.txt" --end dev --edge dev --edge-load cpu_utl=0.5
[ "$rc" -eq 2 ] && grep -q "^cleave plan: unknown load feature 'cpu_utl' (features: sys_cpu, " "$TMP/err" \
    && ok || bad "unknown load feature: exit $rc"
expect_exit 0 plan --model "$TMP/g.txt" --end dev --edge dev --db "$DB" --plot "$TMP/plots"
for f in latency-vs-bandwidth.gp latency-vs-bandwidth.dat plan-breakdown.gp plan-breakdown.dat; do
    [ -s "$TMP/plots/$f" ] && ok || bad "plot file $f missing"
done
if command -v gnuplot >/dev/null; then
    [ -s "$TMP/plots/latency-vs-bandwidth.png" ] && [ -s "$TMP/plots/plan-breakdown.png" ] && ok \
        || bad "no PNG although gnuplot is installed"
fi
[ "$(grep -vc '^#' "$TMP/plots/latency-vs-bandwidth.dat")" = 31 ] && ok || bad "bandwidth points"

# Seed 000: on the zoo, Couper's hybrid method finds the strongman plan with fewer evaluations.
for m in alexnet vgg16 googlenet resnet18 resnet50 mobilenet_v2 squeezenet1_0; do
    for meth in strongman hybrid; do
        "$CLEAVE" plan --model "$CLEAVE_SRC/data/models/$m.onnx" --end dev --edge dev --db "$DB" \
            --algo couper --couper $meth --json >"$TMP/$meth.json" 2>"$TMP/err" || bad "couper $meth on $m"
    done
    python3 -c "
import json, sys
s = json.load(open(sys.argv[1]))['plans'][0]; h = json.load(open(sys.argv[2]))['plans'][0]
ok = abs(s['total_us'] - h['total_us']) <= 1e-9 * s['total_us'] and h['evaluated'] < s['evaluated']
print('$m', s['total_us'], s['evaluated'], h['total_us'], h['evaluated'])
sys.exit(0 if ok else 1)" "$TMP/strongman.json" "$TMP/hybrid.json" >"$TMP/couper.out" 2>&1 \
        && ok || bad "couper hybrid vs strongman on $m: $(cat "$TMP/couper.out")"
done
finish
