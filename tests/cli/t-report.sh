#!/usr/bin/env bash
# CLI tests of `cleave report`: usage errors and their messages, a missing store, an unknown
# device, a device without models; then a small profiled (two load levels) and fitted store in
# every format with the same numbers, --plot with gnuplot (PNGs exist and are not empty), with
# gnuplot stripped from PATH (.gp and .dat still written, the message printed), with a gnuplot
# that fails (an error naming the script), and an unwritable plot directory.
. "$(dirname "$0")/lib.sh"

DB=$TMP/r.db

# ---- usage -------------------------------------------------------------------------------
expect_err 2 "cleave report: a device name is required (--device NAME)" report --db "$DB"
expect_err 2 "cleave report: unknown format 'xml' (formats: table, markdown, csv, json)" \
    report --device x --db "$DB" --format xml
expect_err 2 "cleave report: unknown metric 'r2' (metrics: cv, lolo)" \
    report --device x --db "$DB" --metric r2
expect_err 2 "cleave report: unknown option '--bogus'" report --device x --db "$DB" --bogus
expect_err 2 "cleave report: option '--format' needs a value" report --device x --format
expect_err 2 "cleave report: option '--plot' needs a directory" report --device x --db "$DB" --plot ''
expect_err 2 "cleave report: unexpected argument 'extra'" report --device x --db "$DB" extra
expect_exit 0 report --help
expect_out_has "usage: cleave report --device NAME"
expect_exit 0 help report
expect_out_has "--metric METRIC"
expect_err 1 "cleave: error: no store at '$DB'" report --device x --db "$DB"
[ ! -e "$DB" ] && ok || bad "report created the store"

# ---- a small store: two layer types under two load levels --------------------------------
cat >"$TMP/small.sweep" <<'EOF'
random 16 fc n=1 c=16..512:log k=16..512:log
random 16 act n=1 c=4..64:log h=4..32:log w=@h kind=relu|sigmoid
EOF
expect_exit 0 profile --device x --db "$DB" --types fc,act --load cpu=0,50 --window-ms 5 \
    --sample-ms 3 --sweep "$TMP/small.sweep" --quiet
expect_err 1 "cleave: error: no device 'nope' in '$DB'" report --device nope --db "$DB"
expect_err 1 "cleave: error: device 'x' has no fitted models in '$DB'; run 'cleave fit --device x' first" \
    report --device x --db "$DB"
[ ! -s "$TMP/out" ] && ok || bad "a failed report printed to stdout"
expect_exit 0 fit --device x --db "$DB"

# ---- formats -------------------------------------------------------------------------------
expect_exit 0 report --device x --db "$DB"
expect_out_has "cleave report: device 'x' in '$DB'"
expect_out_has "(a) R² per layer type and family, static features (5-fold cross-validation)"
expect_out_has "(a) R² per layer type and family, static + dynamic features (5-fold cross-validation)"
grep -Eq '^type +logarithmic +linear +lasso +ridge +kernel ridge +polynomial +GBDT$' "$TMP/out" && ok || bad "family table head"
expect_out_has "(b) Dynamic-feature gain"
grep -Eq '^ +seed 002 +0.6461 +0.8417 +30.27% +0.8321 +0.9306 +11.84% +NS → polynomial +0.8321 +0.9661 +16.10%$' "$TMP/out" &&
    ok || bad "no seed 002 row under fc"
expect_out_has "(b) Selected models on the samples taken under load only"
expect_out_has "(c) Selected models: share within ±10 %, MAPE and RMSE"
R2='(-?[0-9.]+(e[-+][0-9]+)?\*?|n/a|-)'
grep -Eq "^fc +($R2 +){6}$R2\$" "$TMP/out" && ok || bad "no fc row of seven R²"
[ "$(grep -c '^\(fc\|act\) .*\*' "$TMP/out")" -ge 4 ] && ok || bad "selected families not marked"

run report --device x --db "$DB" --format markdown
cp "$TMP/out" "$TMP/md"
[ "$rc" = 0 ] && ok || bad "markdown exit $rc"
expect_out_has "## cleave report: device \`x\`"
expect_out_has "| type | logarithmic | linear | lasso | ridge | kernel ridge | polynomial | GBDT |"
expect_out_has "|  | seed 002 | 0.7395 | 0.8889 | 20.20% | 0.6939 | 0.8583 | 23.69% | NS → polynomial | 0.7395 | 0.8991 | 21.58% |"

run report --device x --db "$DB" --format csv
cp "$TMP/out" "$TMP/csv"
[ "$rc" = 0 ] && ok || bad "csv exit $rc"
[ "$(wc -l <"$TMP/csv")" = 29 ] && ok || bad "csv has $(wc -l <"$TMP/csv") lines, want 1 + 2 x 2 x 7"
head -n1 "$TMP/csv" | grep -q '^device,type,feature_set,family,status,selected,n_samples,cv_r2,' && ok || bad "csv header"

expect_exit 0 report --device x --db "$DB" --format json
cp "$TMP/out" "$TMP/json"
expect_json "j['device'] == 'x' and j['metric'] == 'cv' and j['folds'] == 5 and j['models'] == 28 and j['plots'] is None"
expect_json "[t['type'] for t in j['types']] == ['fc', 'act']"
expect_json "all(t['seed002'] is not None for t in j['types'])"

# The same numbers in every format: each fitted cell's k-fold R^2 from the csv is the json's and,
# rounded to four places (three digits for a diverged model's huge value), is its markdown cell.
python3 - "$TMP/csv" "$TMP/json" "$TMP/md" <<'EOF' && ok || bad "formats disagree"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
j = json.load(open(sys.argv[2]))
md = open(sys.argv[3]).read().split('\n')
label = {'logarithmic': 1, 'linear': 2, 'lasso': 3, 'ridge': 4, 'kernel_ridge': 5,
         'polynomial': 6, 'gbdt': 7}
tables = [i for i, l in enumerate(md) if l.startswith('### (a)')]
for r in rows:
    if r['status'] != 'fitted':
        continue
    jf = [f for t in j['types'] if t['type'] == r['type']
          for f in t['sets'][r['feature_set']]['families'] if f['family'] == r['family']][0]
    v = float(r['cv_r2']) if r['cv_r2'] != 'n/a' else None
    assert jf['cv']['r2'] == v, (r, jf)
    start = tables[0 if r['feature_set'] == 'static' else 1]
    line = [l for l in md[start:start + 8] if l.startswith('| %s |' % r['type'])][0]
    cell = line.split('|')[1 + label[r['family']]].strip().rstrip('*')
    want = 'n/a' if v is None else '%.3g' % v if abs(v) >= 1e6 else '%.4f' % v
    assert cell == want, (cell, r)
    assert line.split('|')[1 + label[r['family']]].strip().endswith('*') == (r['selected'] == '1')
EOF

expect_exit 0 report --device x --db "$DB" --metric lolo --format markdown
expect_out_has "static features (leave-one-load-level-out)"

# ---- plots -----------------------------------------------------------------------------------
FILES="r2-static-vs-dynamic predicted-vs-measured-fc latency-vs-load-fc predicted-vs-measured-act latency-vs-load-act"
if command -v gnuplot >/dev/null; then
    expect_exit 0 report --device x --db "$DB" --plot "$TMP/plots"
    expect_out_has "wrote 15 files to $TMP/plots:"
    expect_out_has "  predicted-vs-measured-fc.png"
    for f in $FILES; do
        for ext in gp dat png; do
            [ -s "$TMP/plots/$f.$ext" ] && ok || bad "$f.$ext missing or empty"
        done
    done
    file "$TMP/plots/r2-static-vs-dynamic.png" 2>/dev/null | grep -q 'PNG image' && ok ||
        { command -v file >/dev/null && bad "not a PNG" || ok; }
    # csv has no place for the list: the summary goes to stderr.
    run report --device x --db "$DB" --plot "$TMP/plots2" --format csv
    [ "$rc" = 0 ] && [ "$(cat "$TMP/err")" = "cleave report: wrote 15 files to $TMP/plots2" ] &&
        ok || bad "csv --plot: exit $rc, stderr '$(cat "$TMP/err")'"
    expect_exit 0 report --device x --db "$DB" --plot "$TMP/plots3" --format json
    expect_json "j['plots']['gnuplot'] and len(j['plots']['files']) == 15 and j['plots']['dir'] == '$TMP/plots3'"
else
    echo "note: gnuplot not in PATH: rendering not tested"
fi

# Without gnuplot in PATH: scripts and data still written, and the report says so.
mkdir -p "$TMP/empty"
PATH="$TMP/empty" run report --device x --db "$DB" --plot "$TMP/nognu"
[ "$rc" = 0 ] && ok || bad "report without gnuplot exit $rc"
expect_out_has "gnuplot not found: wrote 10 .gp and .dat files to $TMP/nognu"
for f in $FILES; do
    [ -s "$TMP/nognu/$f.gp" ] && [ -s "$TMP/nognu/$f.dat" ] && [ ! -e "$TMP/nognu/$f.png" ] &&
        ok || bad "$f: .gp/.dat missing or a .png written"
done
grep -q '^set output "predicted-vs-measured-fc.png"$' "$TMP/nognu/predicted-vs-measured-fc.gp" &&
    ok || bad "script output name"

# A gnuplot that fails: an error naming the script, exit 1, no report.
mkdir -p "$TMP/fakebin"
printf '#!/bin/sh\necho "\\"$1\\" line 3: fake failure" >&2\nexit 1\n' >"$TMP/fakebin/gnuplot"
chmod +x "$TMP/fakebin/gnuplot"
PATH="$TMP/fakebin:$PATH" expect_err 1 \
    "cleave: error: gnuplot failed on '$TMP/failing/r2-static-vs-dynamic.gp': \"r2-static-vs-dynamic.gp\" line 3: fake failure" \
    report --device x --db "$DB" --plot "$TMP/failing"
[ ! -s "$TMP/out" ] && ok || bad "a failed plot printed the report"

# An unwritable plot directory (a file is in the way; works as root too).
: >"$TMP/afile"
expect_err 1 "cleave: error: cannot create directory '$TMP/afile/plots': not a directory" \
    report --device x --db "$DB" --plot "$TMP/afile/plots"
expect_err 1 "cleave: error: cannot create directory '$TMP/afile': not a directory" \
    report --device x --db "$DB" --plot "$TMP/afile"

finish
