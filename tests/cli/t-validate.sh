#!/usr/bin/env bash
# CLI tests of `cleave validate`: usage errors, then a small graph validated against a fitted
# fixture store at two loads; the JSON is re-checked (totals are sums of the nodes, the static
# prediction equals `cleave plan`'s local plan, zero-cost nodes cost nothing, every kernel was
# timed) and --plot writes its files.
. "$(dirname "$0")/lib.sh"
FIXTURE=${CLEAVE_BUILD:-}/tests/test-predict
[ -x "$FIXTURE" ] || { echo "fixture helper '$FIXTURE' missing"; exit 77; }
unset CLEAVE_DB
DB=$TMP/v.db
"$FIXTURE" --fixture "$DB" >"$TMP/fixture.log" 2>&1 || { cat "$TMP/fixture.log"; exit 1; }

cat >"$TMP/g.txt" <<'G'
input x 1x256
node f1 fc k=128 <- x
node r1 relu <- f1
node f2 fc k=64 <- r1
node f3 fc k=64 <- r1
node a add <- f2 f3
node fl flatten <- a
node f4 fc k=10 <- fl
output f4
G

expect_err 2 "cleave validate: --model and --device are required" validate --model "$TMP/g.txt"
expect_err 2 "cleave validate: unknown load key 'gpu'" validate --model "$TMP/g.txt" --device dev --load gpu=1
expect_err 2 "cleave validate: invalid load value '150' for 'cpu': must be between 0 and 100" \
    validate --model "$TMP/g.txt" --device dev --load cpu=150
expect_err 1 "cleave: error: no device 'nobody' in '$DB'" validate --model "$TMP/g.txt" --device nobody --db "$DB"
run validate --model "$TMP/nope.txt" --device dev --db "$DB"
[ "$rc" -eq 1 ] && grep -q "nope.txt" "$TMP/err" && ok || bad "missing model: exit $rc"

expect_exit 0 validate --model "$TMP/g.txt" --device dev --db "$DB" --load none --load cpu=50 \
    --threads 1 --reps 3 --warmup 1 --json --plot "$TMP/plots"
cp "$TMP/out" "$TMP/v.json"
expect_exit 0 plan --model "$TMP/g.txt" --end dev --edge dev --db "$DB" --algo local --json
cp "$TMP/out" "$TMP/plan.json"
python3 - "$TMP/v.json" "$TMP/plan.json" >"$TMP/check.out" 2>&1 <<'PY' && ok || bad "recheck: $(cat "$TMP/check.out")"
import json, sys
v = json.load(open(sys.argv[1])); p = json.load(open(sys.argv[2]))
local = [x for x in p["plans"] if x["algo"] == "local"][0]["total_us"]
cases = v["cases"]
# The fixture is fitted with fit's defaults: its models predict the mean.
assert v["statistic"] == "mean", v["statistic"]
assert [c["load"] for c in cases] == ["none", "cpu=50,membw=0,memcap=0"], [c["load"] for c in cases]
within = 0
for c in cases:
    names = [n["name"] for n in c["nodes"]]
    assert names == ["f1", "r1", "f2", "f3", "a", "fl", "f4"], names
    s = sum(n["predicted_us"] for n in c["nodes"])
    assert abs(s - c["predicted_us"]) <= 1e-6 * s, (s, c["predicted_us"])
    assert abs(c["predicted_static_us"] - local) <= 1e-6 * local, (c["predicted_static_us"], local)
    fl = c["nodes"][5]
    assert fl["predicted_us"] == 0 and fl["measured_us"] == 0, fl
    assert all(n["measured_us"] > 0 for i, n in enumerate(c["nodes"]) if i != 5)
    assert c["wall_us"] >= c["measured_us"] * 0.999
    within += abs(c["predicted_us"] - c["measured_us"]) <= 0.1 * c["measured_us"]
assert v["within_10pct"] == within and v["cases_total"] == 2
# Per load and op: node counts, time shares summing to 1, the median node error recomputed.
import statistics
for c in cases:
    rows = [o for o in v["ops"] if o["load"] == c["load"]]
    assert [(o["op"], o["nodes"]) for o in rows] == [("add", 1), ("fc", 4), ("relu", 1)], rows
    assert abs(sum(o["time_share"] for o in rows) - 1) < 1e-9, rows
    for o in rows:
        e = [100 * (n["predicted_us"] - n["measured_us"]) / n["measured_us"] for n in c["nodes"] if n["op"] == o["op"]]
        assert abs(statistics.median(e) - o["median_error_pct"]) < 1e-6, (o, e)
print("ok")
PY
[ -s "$TMP/plots/nodes.dat" ] && [ -s "$TMP/plots/totals.gp" ] && ok || bad "plot files missing"
if command -v gnuplot >/dev/null; then [ -s "$TMP/plots/totals.png" ] && ok || bad "no totals.png"; fi
# The table ends with the headline.
expect_exit 0 validate --model "$TMP/g.txt" --device dev --db "$DB" --threads 1 --reps 2
expect_out_has "within +-10%:"
expect_out_has "model '$TMP/g.txt' under load none"
finish
