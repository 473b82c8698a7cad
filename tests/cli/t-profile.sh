#!/usr/bin/env bash
# CLI tests of `cleave profile`: bad input, a short real run, device identity, SIGINT, and
# kill -9 followed by --resume (no duplicates, integrity ok, no load generator left behind).
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || { echo "sqlite3 missing"; exit 77; }

DB=$TMP/p.db
fast=(--window-ms 5 --sample-ms 3 --quiet)

expect_err 2 "cleave profile: a device name is required (--device NAME)" profile --db "$DB"
expect_err 2 "cleave profile: option '--budget' needs a positive duration like 90s, 10m or 1h, got '-5m'" \
    profile --device d --db "$DB" --budget -5m
expect_err 2 "cleave profile: option '--budget' needs a positive duration like 90s, 10m or 1h, got '10x'" \
    profile --device d --db "$DB" --budget 10x
expect_err 2 "cleave profile: unknown layer type 'cnov'" profile --device d --db "$DB" --types conv,cnov
expect_err 2 "cleave profile: unknown load key 'cpus'" profile --device d --db "$DB" --load cpus=50
expect_err 2 "cleave profile: invalid load value '150' for 'cpu': must be between 0 and 100" \
    profile --device d --db "$DB" --load cpu=150
expect_err 2 "cleave profile: option '--probes' takes cpu, mem, both or none, got 'gpu'" \
    profile --device d --db "$DB" --probes gpu
[ ! -e "$DB" ] && ok || bad "a refused command created the store"

printf 'conv n=1 c=3 h=8 w=8\nconv n=1 strde=2\n' >"$TMP/bad.sweep"
expect_err 2 "cleave profile: 'bad.sweep' line 2: unknown key 'strde' for layer type 'conv'" \
    profile --device d --db "$DB" --sweep "$TMP/bad.sweep"
expect_err 1 "cleave: error: cannot open sweep '$TMP/none.sweep': No such file or directory" \
    profile --device d --db "$DB" --sweep "$TMP/none.sweep"
run profile --device d --db "$TMP/no/such/dir/p.db" --types act
[ "$rc" -eq 1 ] && grep -q "cleave: error: cannot open '$TMP/no/such/dir/p.db'" "$TMP/err" && ok \
    || bad "unwritable store path: exit $rc"

# A short real run of one type without synthetic load: every planned sample is stored.
printf 'relu n=1 c=8 h=8 w=8\nrandom 5 act n=1 c=4..64 h=4 w=4 kind=sigmoid|tanh\n' >"$TMP/s.sweep"
expect_exit 0 profile --device d --db "$DB" --sweep "$TMP/s.sweep" --load none "${fast[@]}"
expect_out_has "6 of 6 planned samples stored"
expect_out_has "status: done"
[ "$(sqlite3 "$DB" 'select count(*) from samples')" = 6 ] && ok || bad "sample count"
[ "$(sqlite3 "$DB" "select count(*) from samples where median_us > 0 and min_us <= median_us and d_runnable_other >= 0 and load = 'none'")" = 6 ] \
    && ok || bad "sample values"
[ "$(sqlite3 "$DB" "select count(*) from counters where name = 'task_clock_ns' and value > 0")" = 6 ] \
    && ok || bad "task_clock counters"
# No PMU here: hardware counters are stored as unavailable (NULL), never 0.
if ! "$CLEAVE" info | grep -q "pmu         usable"; then
    [ "$(sqlite3 "$DB" "select count(*) from counters where name = 'cycles' and value is null")" = 6 ] \
        && ok || bad "cycles should be NULL without a PMU"
fi

# The same device name with another thread count is another device: refused.
expect_err 1 "cleave: error: device 'd' was calibrated with threads=$(nproc) binding=OMP_PROC_BIND=true, not threads=1 binding=OMP_PROC_BIND=true; use another --device name" \
    profile --device d --db "$DB" --threads 1 --sweep "$TMP/s.sweep" --load none "${fast[@]}"
expect_err 1 "cleave: error: device 'd' has no unfinished run to resume in '$DB'" \
    profile --device d --db "$DB" --resume

# A store from a newer schema is refused and left as it was.
cp "$DB" "$TMP/new.db"
sqlite3 "$TMP/new.db" 'pragma user_version = 99'
sum_before=$(md5sum <"$TMP/new.db")
run profile --device d --db "$TMP/new.db" --sweep "$TMP/s.sweep" --load none "${fast[@]}"
[ "$rc" -eq 1 ] && grep -q "schema version 99, newer than this cleave" "$TMP/err" && ok || bad "newer schema: exit $rc"
[ "$(md5sum <"$TMP/new.db")" = "$sum_before" ] && ok || bad "newer-schema store was modified"

# kill -9 in the middle of a loaded run: at most the batch in flight is lost, the load
# generator dies with the profiler, and --resume completes the plan without duplicates.
printf 'random 60 act n=1 c=4..256 h=4..32 w=@h kind=relu|tanh\n' >"$TMP/k.sweep"
KDB=$TMP/k.db
"$CLEAVE" profile --device k --db "$KDB" --sweep "$TMP/k.sweep" --load cpu=0,50 "${fast[@]}" \
    >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do
    n=$(sqlite3 "$KDB" 'select count(*) from samples' 2>/dev/null || echo 0)
    [ "${n:-0}" -ge 32 ] && break
    sleep 0.1
done
kill -9 $pid
wait $pid 2>/dev/null
sleep 0.5
# The generator is a fork of the profiler: it carries the same command line.
if pgrep -f -- "--db $KDB" >/dev/null; then bad "a load generator outlived kill -9"; else ok; fi
before=$(sqlite3 "$KDB" 'select count(*) from samples')
[ "$before" -ge 32 ] && [ "$before" -lt 120 ] && ok || bad "samples before resume: $before"
[ "$(sqlite3 "$KDB" 'select status from runs')" = running ] && ok || bad "run status after kill -9"
expect_exit 0 profile --device k --db "$KDB" --resume --quiet
expect_out_has "120 of 120 planned samples stored"
[ "$(sqlite3 "$KDB" 'select count(*), count(distinct seq) from samples')" = "120|120" ] && ok \
    || bad "duplicates after resume: $(sqlite3 "$KDB" 'select count(*), count(distinct seq) from samples')"
[ "$(sqlite3 "$KDB" 'pragma integrity_check')" = ok ] && ok || bad "integrity after resume"
[ "$(sqlite3 "$KDB" 'select status from runs')" = done ] && ok || bad "run status after resume"

# SIGINT: the load stops, what was measured is committed, exit 130, the run is resumable.
IDB=$TMP/i.db
"$CLEAVE" profile --device i --db "$IDB" --sweep "$TMP/k.sweep" --load cpu=50 "${fast[@]}" \
    >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 100); do
    n=$(sqlite3 "$IDB" 'select count(*) from samples' 2>/dev/null || echo 0)
    [ "${n:-0}" -ge 5 ] && break
    sleep 0.1
done
kill -INT $pid
rc=0
wait $pid || rc=$?
[ "$rc" -eq 130 ] && ok || bad "SIGINT exit $rc"
grep -q "status: interrupted (signal)" "$TMP/out" && ok || bad "no interrupted summary"
sleep 0.3
if pgrep -f -- "--db $IDB" >/dev/null; then bad "a load generator outlived SIGINT"; else ok; fi
[ "$(sqlite3 "$IDB" 'select status from runs')" = interrupted ] && ok || bad "run status after SIGINT"
stored=$(sqlite3 "$IDB" 'select count(*) from samples')
grep -q "^run 1 of device 'i': $stored of 60 planned samples stored" "$TMP/out" && ok \
    || bad "summary count differs from the store ($stored)"

# Ctrl-C on a terminal signals the whole process group: the generator dies of it too, which
# must read as an interruption, not as a failure of the generator.
GDB=$TMP/g.db
setsid "$CLEAVE" profile --device g --db "$GDB" --sweep "$TMP/k.sweep" --load cpu=0,50 "${fast[@]}" \
    >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 100); do
    n=$(sqlite3 "$GDB" 'select count(*) from samples' 2>/dev/null || echo 0)
    [ "${n:-0}" -ge 5 ] && break
    sleep 0.1
done
sleep 0.2
kill -INT -- -$pid 2>/dev/null || kill -INT $pid
rc=0
wait $pid || rc=$?
[ "$rc" -eq 130 ] && ok || bad "group SIGINT exit $rc: $(cat "$TMP/err")"
grep -q "status: interrupted (signal)" "$TMP/out" && ok || bad "no interrupted summary after group SIGINT"
finish
