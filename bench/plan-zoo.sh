#!/usr/bin/env bash
# bench/plan-zoo.sh - the latency-optimal and the throughput-optimal plan of every bundled zoo
# model (issue 9's table): latency, sustainable frame rate and slowest stage of each, and which
# method proved the throughput plan optimal.  Prints figures; not a test.
#
#   bench/plan-zoo.sh --db PATH --device NAME [--net 3g|4g|wifi] [--end-scale X] [--fps F]
#
# The end device is DEVICE's predictions times --end-scale (default 4: a device four times
# slower than the edge, since one calibrated device plays both roles here), the edge is DEVICE.
set -euo pipefail
cd "$(dirname "$0")/.."
CLEAVE=${CLEAVE:-build/cleave}
db= device= net=4g scale=4 fps=
while [ $# -gt 0 ]; do
    case $1 in
    --db) db=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --net) net=$2; shift 2 ;;
    --end-scale) scale=$2; shift 2 ;;
    --fps) fps=$2; shift 2 ;;
    *) echo "plan-zoo: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[ -n "$db" ] && [ -n "$device" ] || { echo "plan-zoo: --db and --device are required" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
models=(alexnet googlenet mobilenet_v2 resnet18 resnet50 squeezenet1_0 vgg16)
for m in "${models[@]}"; do
    "$CLEAVE" plan --model "data/models/$m.onnx" --end "$device" --edge "$device" --db "$db" \
        --net "$net" --end-scale "$scale" --objective both ${fps:+--fps "$fps"} \
        --unknown-op fallback --json >"$tmp/$m.json"
done
echo "net $net, end = $device x $scale, edge = $device, store $db${fps:+, $fps fps}"
python3 - "$tmp" "${models[@]}" <<'PY'
import json, sys
d, models = sys.argv[1], sys.argv[2:]
print("| model | nodes | latency-optimal: ms (algo, edge nodes) | fps | slowest stage ms "
      "| throughput-optimal: ms (method, edge nodes) | fps | slowest stage ms | proven optimal by |")
print("|---|---|---|---|---|---|---|---|---|")
for m in models:
    j = json.load(open("%s/%s.json" % (d, m)))
    lp = [p for p in j['plans'] if p['algo'] == j['choice']['latency_plan']][0]
    tp = [p for p in j['throughput_plans'] if p['algo'] == j['choice']['throughput_plan']][0]
    ex = [p['algo'] for p in j['throughput_plans'] if p['exact'] and
          abs(p['bottleneck_us'] - tp['bottleneck_us']) <= 1e-9 * tp['bottleneck_us']]
    print("| %s | %d | %.2f (%s, %d) | %.2f | %s %.2f | %.2f (%s, %d) | %.2f | %s %.2f | %s |" % (
        m, len(j['nodes']), lp['total_us'] / 1e3, lp['algo'], len(lp['edge_nodes']), lp['fps'],
        lp['bottleneck'], lp['bottleneck_us'] / 1e3, tp['total_us'] / 1e3, tp['algo'],
        len(tp['edge_nodes']), tp['fps'], tp['bottleneck'], tp['bottleneck_us'] / 1e3,
        ", ".join(ex) or "-"))
PY
