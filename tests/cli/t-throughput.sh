#!/usr/bin/env bash
# CLI tests of `cleave plan`'s throughput objective (issue 9): usage errors, then the throughput
# plans of a branchy text graph and of a zoo model re-checked from the JSON by an independent
# implementation of the pipeline model (and brute force over every placement in Python), the
# auto rule on both sides of its threshold, the side-by-side report and the frame-rate sweep.
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
P=(plan --model "$TMP/g.txt" --end dev --edge dev --db "$DB")

expect_err 2 "cleave plan: option '--fps' needs a positive number, got '0'" "${P[@]}" --fps 0
expect_err 2 "cleave plan: option '--fps' needs a positive number, got '-25'" "${P[@]}" --fps -25
expect_err 2 "cleave plan: option '--fps' needs a positive number, got 'fast'" "${P[@]}" --fps fast
expect_err 2 "cleave plan: option '--fps' needs a positive number, got '30fps'" "${P[@]}" --fps 30fps
expect_err 2 "cleave plan: option '--fps' needs a positive number, got 'inf'" "${P[@]}" --fps inf
expect_err 2 "cleave plan: unknown objective 'speed' (latency, throughput, both, auto)" \
    "${P[@]}" --objective speed
expect_err 2 "cleave plan: --objective auto needs --fps" "${P[@]}" --objective auto
expect_err 2 "cleave plan: option '--sweep-fps' needs A:B:N with 0 < A < B and 2 <= N <= 1000, got '30:10:5'" \
    "${P[@]}" --sweep-fps 30:10:5
expect_err 2 "cleave plan: option '--sweep-fps' needs A:B:N with 0 < A < B and 2 <= N <= 1000, got '1:10'" \
    "${P[@]}" --sweep-fps 1:10
expect_err 2 "cleave plan: option '--sweep-fps' needs A:B:N with 0 < A < B and 2 <= N <= 1000, got '1:10:1'" \
    "${P[@]}" --sweep-fps 1:10:1
expect_err 2 "cleave plan: option '--end-scale' needs a positive number, got '0'" "${P[@]}" --end-scale 0
expect_err 2 "cleave plan: option '--edge-scale' needs a positive number, got 'x'" "${P[@]}" --edge-scale x

# The pipeline model written again: stages of a placement from the JSON's nodes and tensors,
# every plan's figures re-derived, brute force over every placement and over every single split
# of the topological order, DSH within 3x of the optimum and its lower bound below it.
cat >"$TMP/check.py" <<'PY'
import itertools, json, sys
j = json.load(open(sys.argv[1]))
F = j["fps"]
nodes, tensors = j["nodes"], j["tensors"]
n = len(nodes)
names = [x["name"] for x in nodes]
def stages(on):
    e = sum(nodes[i]["end_us"] for i in range(n) if not on[i])
    x = sum(nodes[i]["edge_us"] for i in range(n) if on[i])
    t = 0.0
    for v in tensors:
        side = on[v["producer"]] if v["producer"] >= 0 else False
        cons = [on[c] for c in v["consumers"]]
        if not side and any(cons):
            t += v["up_us"]
        if side and (v["output"] or not all(cons)):
            t += v["down_us"]
    return e, t, x
def close(a, b):
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))
def drop(b):
    if F is None:
        return None
    return max(0.0, 1.0 - (1e6 / b) / F) if b > 0 else 0.0
got = {}
for p in j["plans"] + j["throughput_plans"]:
    edge = set(p["edge_nodes"])
    e, t, x = stages([nm in edge for nm in names])
    b = max(e, t, x)
    checks = [close(e, p["end_us"]), close(x, p["edge_us"]), close(t, p["xfer_us"]),
              close(b, p["bottleneck_us"]), close(1e6 / b, p["fps"]),
              (p["drop_rate"] is None) == (F is None),
              F is None or close(drop(b), p["drop_rate"])]
    if not all(checks):
        sys.exit("%s: stages %r %r %r vs %r: %r" % (p["algo"], e, t, x, p, checks))
    got[p["algo"]] = b
tp = {p["algo"]: p for p in j["throughput_plans"]}
split = min(max(stages([i >= k for i in range(n)])) for k in range(n + 1))
if not close(tp["split"]["bottleneck_us"], split):
    sys.exit("split %r, best single split %r" % (tp["split"]["bottleneck_us"], split))
if n <= 20:
    # every placement here for small graphs; for larger ones brute force's own figure
    opt = tp["brute"]["bottleneck_us"]
    if n <= 12:
        opt = min(max(stages(on)) for on in itertools.product([False, True], repeat=n))
    if not close(tp["brute"]["bottleneck_us"], opt):
        sys.exit("brute %r, optimum %r" % (tp["brute"]["bottleneck_us"], opt))
    if tp["dsh"]["bottleneck_us"] > 3 * opt * (1 + 1e-9):
        sys.exit("dsh beyond 3x")
    if not close(tp["bnb"]["bottleneck_us"], opt) or not tp["bnb"]["exact"]:
        sys.exit("bnb %r, optimum %r" % (tp["bnb"]["bottleneck_us"], opt))
    if tp["dsh"]["lower_bound_us"] > opt * (1 + 1e-9):
        sys.exit("dsh lower bound above the optimum")
    for a, b in got.items():
        if b < opt * (1 - 1e-9):
            sys.exit("%s below the optimum" % a)
best = min(tp, key=lambda a: (tp[a]["bottleneck_us"], tp[a]["total_us"]))
if j["choice"]["throughput_plan"] != best and not close(tp[j["choice"]["throughput_plan"]]["bottleneck_us"], tp[best]["bottleneck_us"]):
    sys.exit("choice %r, best %r" % (j["choice"], best))
print("re-checked:", ", ".join("%s=%.1f" % kv for kv in sorted(got.items())))
PY
for net in 3g wifi; do
    expect_exit 0 "${P[@]}" --net $net --end-scale 3 --objective both --fps 200 --json
    python3 "$TMP/check.py" "$TMP/out" >"$TMP/check.out" 2>&1 && ok || bad "recheck ($net): $(cat "$TMP/check.out")"
done
expect_json "j['objective'] == 'both' and j['fps'] == 200 and j['end_scale'] == 3 and [p['algo'] for p in j['throughput_plans']] == ['split', 'couper', 'dsh', 'bnb', 'brute'] and len(j['plans']) == 7"
expect_json "j['throughput_plans'][3]['guarantee'] == 'optimal over all placements' and j['throughput_plans'][4]['guarantee'] == 'optimal over all placements' and j['throughput_plans'][2]['ratio'] == 3 and j['throughput_plans'][0]['guarantee'] == 'optimal over the 7 single splits'"

# --end-scale multiplies the end device's predictions and nothing else.
expect_exit 0 "${P[@]}" --json
cp "$TMP/out" "$TMP/plain.json"
expect_exit 0 "${P[@]}" --end-scale 2.5 --json
python3 -c "
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
ok = all(abs(y['end_us'] - 2.5 * x['end_us']) <= 1e-9 * y['end_us'] and y['edge_us'] == x['edge_us']
         for x, y in zip(a['nodes'], b['nodes']))
sys.exit(0 if ok and a['objective'] == 'latency' and a['throughput_plans'] == [] else 1)" \
    "$TMP/plain.json" "$TMP/out" && ok || bad "--end-scale"

# A zoo model: throughput plans re-checked (brute force runs: alexnet has 20 nodes).
expect_exit 0 plan --model "$CLEAVE_SRC/data/models/alexnet.onnx" --end dev --edge dev --db "$DB" \
    --end-scale 4 --objective throughput --fps 1 --json
python3 "$TMP/check.py" "$TMP/out" >"$TMP/check.out" 2>&1 && ok || bad "recheck alexnet: $(cat "$TMP/check.out")"
expect_json "j['plans'] == [] and j['choice']['objective_used'] == 'throughput'"

# auto: on either side of the latency-optimal plan's sustainable rate.
expect_exit 0 "${P[@]}" --end-scale 3 --objective both --json
FMAX=$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); p=[p for p in j['plans'] if p['algo']==j['choice']['latency_plan']][0]; print(repr(p['fps']))" "$TMP/out")
LAT=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['choice']['latency_plan'])" "$TMP/out")
LOW=$(python3 -c "print(repr($FMAX * 0.9))")
HIGH=$(python3 -c "print(repr($FMAX * 1.1))")
expect_exit 0 "${P[@]}" --end-scale 3 --objective auto --fps "$LOW" --json
expect_json "j['choice']['objective_used'] == 'latency'"
expect_exit 0 "${P[@]}" --end-scale 3 --objective auto --fps "$HIGH" --json
expect_json "j['choice']['objective_used'] == 'throughput'"
expect_exit 0 "${P[@]}" --end-scale 3 --objective auto --fps "$HIGH"
expect_out_has "heavy load, using the throughput objective"
expect_out_has "placement of the throughput-optimal plan"
expect_out_has "objective auto at "
expect_exit 0 "${P[@]}" --end-scale 3 --objective auto --fps "$LOW"
expect_out_has "light load, using the latency objective"
expect_out_has "latency-optimal ($LAT)"

# The latency objective with --fps: the fastest plan's frame rate and drops.
expect_exit 0 "${P[@]}" --end-scale 3 --fps 100000
expect_out_has "at 100000 fps the fastest plan ($LAT) sustains"
expect_exit 0 "${P[@]}" --end-scale 3 --fps 100000 --json
expect_json "j['throughput_plans'] == [] and all(p['drop_rate'] == max(0, 1 - p['fps'] / 1e5) for p in j['plans'])"

# both: the two plans side by side; the sweep as a table and, with --plot, a plot.
expect_exit 0 "${P[@]}" --end-scale 3 --objective both --fps 100
expect_out_has "latency-optimal vs throughput-optimal plan at 100 fps:"
expect_out_has "throughput-optimal ("
expect_out_has "optimal over all placements"
expect_out_has "the best plan is optimal"
expect_exit 0 "${P[@]}" --end-scale 3 --sweep-fps 10:1000:12 --plot "$TMP/plots"
expect_out_has "frame-drop rate vs frame rate"
[ "$(grep -c '%.*%$' "$TMP/out")" = 12 ] && ok || bad "sweep table rows"
[ "$(grep -vc "^#" "$TMP/plots/pipeline-stages.dat")" = 6 ] && ok || bad "stage plot rows"
for f in drop-vs-fps.gp drop-vs-fps.dat pipeline-stages.gp pipeline-stages.dat; do
    [ -s "$TMP/plots/$f" ] && ok || bad "plot file $f missing"
done
if command -v gnuplot >/dev/null; then
    [ -s "$TMP/plots/drop-vs-fps.png" ] && [ -s "$TMP/plots/pipeline-stages.png" ] && ok \
        || bad "no PNG although gnuplot is installed"
fi
expect_exit 0 "${P[@]}" --end-scale 3 --sweep-fps 10:1000:12 --json
python3 -c "
import json, sys
j = json.load(open(sys.argv[1])); dat = [l.split() for l in open(sys.argv[2]) if not l.startswith('#')]
lat = [p for p in j['plans'] if p['algo'] == j['choice']['latency_plan']][0]['fps']
tp = [p for p in j['throughput_plans'] if p['algo'] == j['choice']['throughput_plan']][0]['fps']
ok = len(j['sweep']) == 12 == len(dat)
for s, d in zip(j['sweep'], dat):
    f = s['fps']
    ok &= abs(s['drop_latency_plan'] - max(0, 1 - lat / f)) < 1e-12 and abs(s['drop_throughput_plan'] - max(0, 1 - tp / f)) < 1e-12
    ok &= abs(float(d[0]) - f) <= 1e-5 * f and abs(float(d[1]) - 100 * s['drop_latency_plan']) < 1e-4 and abs(float(d[2]) - 100 * s['drop_throughput_plan']) < 1e-4
sys.exit(0 if ok else 1)" "$TMP/out" "$TMP/plots/drop-vs-fps.dat" && ok || bad "sweep values"
finish
