# tests/cli/lib.sh - helpers for the CLI tests (sourced): run the real binary, compare output.
# Each t-*.sh sources this, calls `expect ...` for each case and ends with `finish`.
set -u
: "${CLEAVE:?CLEAVE must point at the cleave binary}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
passes=0

# run ARGS...: runs cleave, leaving stdout in $TMP/out, stderr in $TMP/err, status in $rc.
run() {
    rc=0
    "$CLEAVE" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
}

ok() { passes=$((passes + 1)); }
bad() {
    fails=$((fails + 1))
    echo "FAIL: $*" >&2
    echo "  stdout: $(head -c 600 "$TMP/out")" >&2
    echo "  stderr: $(head -c 600 "$TMP/err")" >&2
}

# expect_exit CODE ARGS...: the exit status is CODE.
expect_exit() {
    local want=$1
    shift
    run "$@"
    if [ "$rc" -eq "$want" ]; then ok; else bad "cleave $* exited $rc, want $want"; fi
}

# expect_err CODE 'exact first stderr line' ARGS...
expect_err() {
    local want=$1 msg=$2
    shift 2
    run "$@"
    local first
    first=$(head -n1 "$TMP/err")
    if [ "$rc" -eq "$want" ] && [ "$first" = "$msg" ]; then
        ok
    else
        bad "cleave $*: exit $rc (want $want), stderr '$first' (want '$msg')"
    fi
}

# expect_out_has 'text' : the last run's stdout contains text.
expect_out_has() {
    if grep -qF -- "$1" "$TMP/out"; then ok; else bad "stdout lacks '$1'"; fi
}

# expect_json: the last run's stdout is valid JSON (python3's parser) satisfying the Python
# expression $1 over the parsed object `j` (default True).
expect_json() {
    if python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" \
        "$TMP/out"; then ok; else bad "stdout is not JSON satisfying: $1"; fi
}

finish() {
    echo "$passes passed, $fails failed"
    [ "$fails" -eq 0 ]
}
