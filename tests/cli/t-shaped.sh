#!/usr/bin/env bash
# Co-inference over a shaped link (8.8 Mbit/s up, 29.1 down, 20 ms RTT: seed 002's 4G): the
# measured end-to-end latency of split runs is within 20 % of the plan's prediction.
#
# Two links are tried, each when it can be built here (docs/coinference.md):
#  - kernel: two network namespaces joined by a veth pair, `tc tbf` shaping each direction's
#    rate (root and iproute2 needed; created here and removed on exit).  The delay comes from
#    `tc netem` where the kernel has it, otherwise from the runtime's in-process delay (--rtt):
#    this container's kernel has no sch_netem ("Specified qdisc kind is unknown").
#  - in-process: loopback with the runtime's token bucket (--up, --down) and delay (--rtt).
# A tolerance test: the measured latency is dominated by the link, not by the machine's noise.
. "$(dirname "$0")/lib.sh"
FIXTURE=${CLEAVE_BUILD:-}/tests/test-predict
[ -x "$FIXTURE" ] || { echo "fixture helper '$FIXTURE' missing"; exit 77; }
unset CLEAVE_DB
DB=$TMP/s.db
"$FIXTURE" --fixture "$DB" >"$TMP/fixture.log" 2>&1 || { cat "$TMP/fixture.log"; exit 1; }
export OMP_WAIT_POLICY=passive
UP=8.8 DOWN=29.1 RTT=20
M=$CLEAVE_SRC/data/models/alexnet.onnx

NS_END=cl-end-$$ NS_EDGE=cl-edge-$$
SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    ip netns del "$NS_END" 2>/dev/null
    ip netns del "$NS_EDGE" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

# The plan at the shaped link, with two extra placements: everything after the second pooling
# on the edge (one cut, 1x192x13x13 up) and everything on the edge (the input up).  The test
# store's fitted models know nothing of this machine, so the document's compute costs are
# replaced by this machine's measured node times (`cleave run --json`, both sides run here):
# what is checked is the split run against the plan's cost model, transfers included.
expect_exit 0 run --model "$M" --threads 2 --reps 5 --json
cp "$TMP/out" "$TMP/local.json"
expect_exit 0 plan --model "$M" --end dev --edge dev --db "$DB" --up $UP --down $DOWN --rtt $RTT --json
python3 - "$TMP/out" "$TMP/local.json" "$TMP/plan.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
local = {n["name"]: n["us"] for n in json.load(open(sys.argv[2]))["nodes"]}
for n in j["nodes"]:
    n["end_us"] = n["edge_us"] = local[n["name"]]
names = [n["name"] for n in j["nodes"]]
j["plans"].append({"algo": "cut6", "edge_nodes": names[6:]})
json.dump(j, open(sys.argv[3], "w"))
PY

# start_server PREFIX ADDR: `cleave serve` (under PREFIX, e.g. ip netns exec NS) on ADDR.
start_server() {
    $1 "$CLEAVE" serve --listen "$2" --timeout 30 >"$TMP/serve.out" 2>"$TMP/serve.err" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        ADDR=$(sed -n 's/^serve: listening on //p' "$TMP/serve.err")
        [ -n "$ADDR" ] && return 0
        sleep 0.1
    done
    echo "server did not start: $(cat "$TMP/serve.err")" >&2
    exit 1
}
stop_server() {
    kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
}

# check LABEL PREFIX ARGS...: run both placements, measured within 20 % of predicted.
check() {
    local label=$1 prefix=$2
    shift 2
    for algo in edge cut6; do
        rc=0
        $prefix "$CLEAVE" run --model "$M" --plan "$TMP/plan.json" --algo $algo --edge "$ADDR" \
            --threads 2 --reps 3 --warmup 1 --json "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
        [ "$rc" -eq 0 ] || { bad "$label/$algo: exit $rc"; continue; }
        python3 - "$TMP/out" "$label/$algo" <<'PY' && ok || bad "$label/$algo: $(cat "$TMP/err")"
import json, sys
j = json.load(open(sys.argv[1]))
m, p = j["measured"]["total_us"], j["predicted"]["total_us"]
print("%s: measured %.1f ms, predicted %.1f ms (%+.1f%%)" % (sys.argv[2], m / 1e3, p / 1e3, 100 * (m - p) / p))
sys.exit(0 if abs(m - p) <= 0.2 * p else 1)
PY
        cat "$TMP/err" >&2 2>/dev/null
    done
}

# ---- the in-process link ------------------------------------------------------------------
start_server "" 127.0.0.1:0
check in-process "" --up $UP --down $DOWN --rtt $RTT 2>&1
stop_server

# ---- the kernel link ----------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! command -v tc >/dev/null ||
    ! ip netns add "$NS_END" 2>/dev/null; then
    echo "kernel link skipped: needs root, iproute2 and network namespaces"
    finish
    exit $?
fi
ip netns add "$NS_EDGE"
ip link add "ve-$$" netns "$NS_END" type veth peer name "vg-$$" netns "$NS_EDGE"
ip -n "$NS_END" addr add 10.213.0.1/24 dev "ve-$$"
ip -n "$NS_EDGE" addr add 10.213.0.2/24 dev "vg-$$"
for ns in "$NS_END" "$NS_EDGE"; do ip -n "$ns" link set lo up; done
ip -n "$NS_END" link set "ve-$$" up
ip -n "$NS_EDGE" link set "vg-$$" up
delay_args=(--rtt $RTT)
if ip netns exec "$NS_END" tc qdisc add dev "ve-$$" root netem delay 10ms rate ${UP}mbit 2>/dev/null; then
    ip netns exec "$NS_EDGE" tc qdisc add dev "vg-$$" root netem delay 10ms rate ${DOWN}mbit
    delay_args=()
    echo "kernel link: netem rate and delay"
else
    ip netns exec "$NS_END" tc qdisc add dev "ve-$$" root tbf rate ${UP}mbit burst 4kb latency 2s
    ip netns exec "$NS_EDGE" tc qdisc add dev "vg-$$" root tbf rate ${DOWN}mbit burst 8kb latency 2s
    echo "kernel link: tbf rate, in-process delay (no netem in this kernel)"
fi
start_server "ip netns exec $NS_EDGE" 10.213.0.2:0
check kernel "ip netns exec $NS_END" "${delay_args[@]}" 2>&1
stop_server
ip netns del "$NS_END"
ip netns del "$NS_EDGE"
ip netns list | grep -q -- "-$$" && bad "namespaces left behind" || ok
ip link show | grep -q -- "-$$@" && bad "veth left behind" || ok
finish
