#!/usr/bin/env bash
# CLI tests of `cleave predict`: usage errors and their exact messages, missing, foreign and
# newer stores, unknown devices, a device with nothing; then predictions on a fitted fixture
# store (written by `test-predict --fixture`): which model serves each layer (static, dynamic,
# fallback) as the store says, the table and --json agree and sum up, --load KEY=VALUE and
# --load now, missing load features named, layers read from standard input.
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || { echo "sqlite3 missing"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing"; exit 77; }
FIXTURE="${CLEAVE_BUILD:-.}/tests/test-predict"
[ -x "$FIXTURE" ] || { echo "fixture helper '$FIXTURE' missing"; exit 77; }
unset CLEAVE_DB

DB=$TMP/p.db
FC="fc n=1 c=256 h=1 w=1 k=128 bias=1 act=none"
POOL="pool n=1 c=32 h=8 w=8 kind=max kernel=1 stride=1 pad=0"
FEATURES="sys_cpu, cpu_util, mem_free_mib, mem_used, other_cpu, runnable_other, psi_cpu, psi_mem, mem_avail, probe_cpu_ns, probe_mem_ns"

# ---- usage -------------------------------------------------------------------------------
expect_err 2 "cleave predict: a device name is required (--device NAME)" predict --db "$DB" fc
expect_err 2 "cleave predict: no layer given (SPEC...)" predict --device dev --db "$DB"
expect_err 2 "cleave predict: cannot parse layer 'cnov n=1': unknown layer type 'cnov'" \
    predict --device dev --db "$DB" "cnov n=1"
expect_err 2 "cleave predict: cannot parse layer 'fc c=0': 'c' must be positive, got 0" \
    predict --device dev --db "$DB" "fc c=0"
expect_err 2 "cleave predict: unknown load feature 'cpu' (features: $FEATURES)" \
    predict --device dev --db "$DB" --load cpu=50 fc
expect_err 2 "cleave predict: load item 'cpu_util' is not KEY=VALUE" \
    predict --device dev --db "$DB" --load cpu_util fc
expect_err 2 "cleave predict: invalid value 'abc' for load feature 'cpu_util'" \
    predict --device dev --db "$DB" --load cpu_util=abc fc
expect_err 2 "cleave predict: invalid value 'nan' for load feature 'cpu_util'" \
    predict --device dev --db "$DB" --load cpu_util=nan fc
expect_err 2 "cleave predict: load feature 'cpu_util' given twice" \
    predict --device dev --db "$DB" --load cpu_util=1,cpu_util=2 fc
expect_err 2 "cleave predict: option '--load' needs 'now' or KEY=VALUE,..." \
    predict --device dev --db "$DB" --load , fc
expect_err 2 "cleave predict: option '--window-ms' must be in 1..60000, got 0" \
    predict --device dev --db "$DB" --window-ms 0 fc
expect_err 2 "cleave predict: unknown option '--bogus'" predict --device dev --db "$DB" --bogus fc
expect_err 2 "cleave predict: option '--device' needs a value" predict --device
expect_exit 0 predict --help
expect_out_has "usage: cleave predict --device NAME"
expect_exit 0 help predict
expect_out_has "--load K=V,..."

# ---- stores and devices ------------------------------------------------------------------
expect_err 1 "cleave: error: no store at '$DB'" predict --device dev --db "$DB" fc
[ ! -e "$DB" ] && ok || bad "a refused command created the store"
echo "not a database, and long enough to hold the hundred bytes of an SQLite header, or more" \
    >"$TMP/text.db"
expect_err 1 "cleave: error: '$TMP/text.db' is not a cleave store" \
    predict --device dev --db "$TMP/text.db" fc

"$FIXTURE" --fixture "$DB" >"$TMP/fixture.log" 2>&1 || { cat "$TMP/fixture.log"; exit 1; }
expect_err 1 "cleave: error: no device 'ghost' in '$DB'" predict --device ghost --db "$DB" fc
expect_err 1 "cleave: error: device 'bare' in '$DB' has no models and no samples" \
    predict --device bare --db "$DB" fc
cp "$DB" "$TMP/new.db"
sqlite3 "$TMP/new.db" 'pragma user_version = 99'
sum_before=$(md5sum <"$TMP/new.db")
expect_err 1 "cleave: error: '$TMP/new.db' has schema version 99, newer than this cleave (3)" \
    predict --device dev --db "$TMP/new.db" fc
[ "$(md5sum <"$TMP/new.db")" = "$sum_before" ] && ok || bad "newer-schema store was modified"
# $CLEAVE_DB is the default store
CLEAVE_DB=$DB expect_exit 0 predict --device dev "$FC"

# ---- predictions -------------------------------------------------------------------------
fc_static=$(sqlite3 "$DB" "SELECT family FROM models m JOIN devices d ON d.id = m.device_id
    WHERE d.name = 'dev' AND type = 'fc' AND feature_set = 'static' AND selected = 1")
fc_dynamic=$(sqlite3 "$DB" "SELECT family FROM models m JOIN devices d ON d.id = m.device_id
    WHERE d.name = 'dev' AND type = 'fc' AND feature_set = 'dynamic' AND selected = 1")
[ -n "$fc_static" ] && [ -n "$fc_dynamic" ] && ok || bad "fixture has no selected fc models"

expect_exit 0 predict --device dev --db "$DB" "$FC" "$POOL" "lstm t=4 c=32 k=32"
expect_out_has "device 'dev' in '$DB', no load given: static models"
cp "$TMP/out" "$TMP/table"
grep -qE "^   1 +[0-9]+\.[0-9]{3}  $fc_static +static +no +$FC\$" "$TMP/table" && ok \
    || bad "fc row of the table"
grep -qE "^   2 +[0-9]+\.[0-9]{3}  fallback +static +yes +$POOL\$" "$TMP/table" && ok \
    || bad "pool row of the table"
expect_out_has "over 3 layers (2 fallback)"

expect_exit 0 predict --device dev --db "$DB" --json "$FC" "$POOL" "lstm t=4 c=32 k=32"
expect_json "j['device'] == 'dev' and j['load'] is None and len(j['layers']) == 3"
expect_json "j['layers'][0]['family'] == '$fc_static' and j['layers'][0]['feature_set'] == 'static' and not j['layers'][0]['fallback']"
expect_json "j['layers'][1]['family'] == 'fallback' and j['layers'][1]['fallback'] and j['layers'][1]['spec'] == '$POOL'"
expect_json "abs(j['total_us'] - sum(l['latency_us'] for l in j['layers'])) < 1e-9 * j['total_us'] and j['fallbacks'] == 2"
expect_json "all(l['latency_us'] > 0 for l in j['layers'])"
# The table shows the same numbers, rounded.
cp "$TMP/out" "$TMP/json"
python3 - "$TMP/table" "$TMP/json" <<'EOF' && ok || bad "table and JSON disagree"
import json, sys
rows = [l.split() for l in open(sys.argv[1]) if l[:4].strip().isdigit()]
j = json.load(open(sys.argv[2]))
assert len(rows) == len(j["layers"])
for r, l in zip(rows, j["layers"]):
    assert r[1] == "%.3f" % l["latency_us"], (r, l)
    assert r[2] == l["family"] and r[3] == l["feature_set"]
total = [l for l in open(sys.argv[1]) if l.startswith("total ")][0].split()[1]
assert total == "%.3f" % j["total_us"]
EOF

# A load given by name: the dynamic models; a feature the model needs and is not given is
# named (there is no default).
LOAD=sys_cpu=0.02,cpu_util=0.5,other_cpu=0.5
expect_exit 0 predict --device dev --db "$DB" --load $LOAD --json "$FC" "$POOL"
expect_json "j['load']['source'] == 'given' and j['load']['features']['cpu_util'] == 0.5 and j['load']['features']['psi_cpu'] is None"
expect_json "j['layers'][0]['family'] == '$fc_dynamic' and j['layers'][0]['feature_set'] == 'dynamic'"
expect_json "j['layers'][1]['family'] == 'fallback' and j['layers'][1]['feature_set'] == 'dynamic'"
expect_exit 0 predict --device dev --db "$DB" --load $LOAD "$FC"
expect_out_has "load given: sys_cpu=0.02 cpu_util=0.5 other_cpu=0.5"
expect_err 1 "cleave: error: layer 1 '$FC': load feature 'sys_cpu' is NaN; the dynamic $fc_dynamic model of 'fc' needs it" \
    predict --device dev --db "$DB" --load cpu_util=0.5,other_cpu=0.5 "$FC"
expect_err 1 "cleave: error: layer 2 '$FC': load features 'sys_cpu', 'cpu_util' are NaN; the dynamic $fc_dynamic model of 'fc' needs them" \
    predict --device dev --db "$DB" --load other_cpu=0.5 "$POOL" "$FC"
expect_err 1 "cleave: error: layer 1 '$POOL': load feature 'other_cpu' is NaN; the fallback estimate for 'pool' needs it" \
    predict --device dev --db "$DB" --load cpu_util=0.5 "$POOL"

# The fallback grows with other_cpu (the fixture's latency is idle x (1 + other_cpu)).
expect_exit 0 predict --device dev --db "$DB" --load other_cpu=0.0 --json "$POOL"
idle=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['total_us'])" "$TMP/out")
expect_exit 0 predict --device dev --db "$DB" --load other_cpu=0.9 --json "$POOL"
busy=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['total_us'])" "$TMP/out")
python3 -c "import sys; r = $busy / $idle; sys.exit(0 if 1.7 < r < 2.1 else 1)" && ok \
    || bad "fallback load factor $busy / $idle"

# The current load, sampled as the profiler does.
expect_exit 0 predict --device dev --db "$DB" --load now --window-ms 20 --json "$FC"
expect_json "j['load']['source'] == 'now' and j['load']['window_ms'] == 20 and 0 <= j['load']['features']['cpu_util'] <= 1 and j['load']['features']['probe_cpu_ns'] > 0"
expect_json "j['layers'][0]['feature_set'] == 'dynamic'"
expect_exit 0 predict --device dev --db "$DB" --load now "$FC"
expect_out_has "load now (40 ms window): "

# Layers from standard input; a device with samples only predicts with the fallback.
printf '%s\n# a comment\n\n%s\n' "$FC" "act n=1 c=4 h=8 w=8 kind=relu" >"$TMP/layers"
rc=0
"$CLEAVE" predict --device samples-only --db "$DB" --json - <"$TMP/layers" >"$TMP/out" \
    2>"$TMP/err" || rc=$?
[ "$rc" -eq 0 ] && ok || bad "predict - exited $rc"
expect_json "len(j['layers']) == 2 and all(l['fallback'] and l['family'] == 'fallback' for l in j['layers'])"
rc=0
"$CLEAVE" predict --device dev --db "$DB" - - <"$TMP/layers" >"$TMP/out" 2>"$TMP/err" || rc=$?
[ "$rc" -eq 2 ] && [ "$(head -n1 "$TMP/err")" = "cleave predict: '-' given twice" ] && ok \
    || bad "'-' twice: exit $rc"
# A model-only device has no fallback for types without a model.
expect_err 1 "cleave: error: layer 1 'act n=1 c=4 h=1 w=1 kind=relu': no model for layer type 'act' of device 'models-only', and no samples to estimate one from" \
    predict --device models-only --db "$DB" "act c=4"

finish
