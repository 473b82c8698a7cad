#!/usr/bin/env bash
# bench/profile-figures.sh - the profiler's figures (not a test): samples per minute of the
# default sweep, the share of wall time spent outside the timed kernels, and the slowdown of
# conv, fc and pool under cpu 0/50/100 x membw 0/1.
#
#   bench/profile-figures.sh [BUDGET]      (default 3m; needs build/cleave and sqlite3)
#
# Slowdown: for every layer shape measured under a load level and under no load (cpu=0,
# membw=0), the ratio of the two medians; the table shows the median ratio over shapes.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-3m}
cleave=build/cleave
db=$(mktemp -d)/figures.db
trap 'rm -rf "$(dirname "$db")"' EXIT

echo "== default sweep, default loads, budget $budget"
echo "reproduce: $cleave profile --device fig --db $db --budget $budget"
$cleave profile --device fig --db "$db" --budget "$budget" --quiet

echo
echo "== slowdown of conv, fc, pool under load (median over shapes of latency / unloaded latency)"
sqlite3 -header -column "$db" "
with base as (
  select spec, median_us as us0 from samples where load = 'cpu=0,membw=0,memcap=0'),
ratios as (
  select s.type, s.load_cpu as cpu, s.load_membw as membw, s.median_us / b.us0 as r
  from samples s join base b on b.spec = s.spec
  where s.type in ('conv', 'fc', 'pool')),
ranked as (
  select type, cpu, membw, r,
         row_number() over (partition by type, cpu, membw order by r) as i,
         count(*) over (partition by type, cpu, membw) as n
  from ratios)
select type, cast(cpu as int) as cpu_pct, cast(membw as int) as membw_threads, n as shapes,
       printf('%.2f', avg(r)) as median_slowdown
from ranked where i in ((n + 1) / 2, (n + 2) / 2)
group by type, cpu, membw order by type, cpu, membw;"
