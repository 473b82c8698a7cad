#!/usr/bin/env bash
# tests/cli/t-db.sh - `cleave db info | export --csv | merge | check`: usage errors, missing,
# foreign and newer stores, and real stores written through the store API by the test-store
# fixture helper (the CLI cannot create samples by itself yet).
set -u

if [ -z "${CLEAVE:-}" ]; then
    echo "CLEAVE is not set; skipping"
    exit 77
fi
FIXTURE="${CLEAVE_BUILD:-.}/tests/test-store"

tmp=$(mktemp -d /tmp/cleave-t-db.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
unset CLEAVE_DB
fails=0

# run ARGS...: run cleave, keeping stdout, stderr and the exit code.
run() {
    "$CLEAVE" "$@" >out 2>err
    echo $? >rc
}

not_ok() {
    printf 'not ok - %s\n' "$1"
    sed 's/^/#   stdout: /' out
    sed 's/^/#   stderr: /' err
    fails=$((fails + 1))
}

# expect NAME CODE STDERR: the last run exited CODE and wrote exactly STDERR ('-': anything).
expect() {
    if [ "$(cat rc)" != "$2" ]; then
        not_ok "$1: exit $(cat rc), want $2"
    elif [ "$3" != - ] && [ "$(cat err)" != "$3" ]; then
        not_ok "$1: stderr differs"
        printf '#   want:   %s\n' "$3"
    else
        printf 'ok - %s\n' "$1"
    fi
}

# check NAME COMMAND...: a shell condition on the outputs.
check() {
    local name=$1
    shift
    if "$@"; then printf 'ok - %s\n' "$name"; else not_ok "$name"; fi
}

# ---- usage --------------------------------------------------------------------------------
run db
expect "no subcommand" 2 "cleave db: missing subcommand: info, export, merge or check
see 'cleave db --help'"
run db frob
expect "unknown subcommand" 2 "cleave db: unknown subcommand 'frob' (info, export, merge or check)
see 'cleave db --help'"
run db info --bogus
expect "unknown option" 2 "cleave db info: unknown option '--bogus'
see 'cleave db info --help'"
run db info extra
expect "unexpected operand" 2 "cleave db info: unexpected argument 'extra'
see 'cleave db info --help'"
run db export --db x.db
expect "export without a format" 2 "cleave db export: choose a format: --csv
see 'cleave db export --help'"
run db export --csv --db
expect "option without its value" 2 "cleave db export: option '--db' needs a value
see 'cleave db export --help'"
run db merge
expect "merge without a source" 2 "cleave db merge: missing the store to merge from
see 'cleave db merge --help'"
run db merge a.db b.db
expect "merge with two sources" 2 "cleave db merge: unexpected argument 'b.db'
see 'cleave db merge --help'"
run db --help
expect "--help" 0 ""
check "--help is the synopsis" grep -q '^usage: cleave db info \[--db PATH\]$' out
run db export --help
expect "subcommand --help" 0 ""
check "subcommand --help is the synopsis" grep -q '^   or: cleave db export --csv' out

# ---- missing, foreign and unwritable stores ------------------------------------------------
run db info --db missing.db
expect "info on a missing store" 1 "cleave: error: no store at 'missing.db'"
check "info creates no store" test ! -e missing.db
CLEAVE_DB=env.db run db info
expect "\$CLEAVE_DB names the store" 1 "cleave: error: no store at 'env.db'"
run db info
expect "cleave.db is the default store" 1 "cleave: error: no store at 'cleave.db'"
run db export --csv
expect "export on a missing store" 1 "cleave: error: no store at 'cleave.db'"
run db check --db missing.db
expect "check on a missing store" 1 "cleave: error: no store at 'missing.db'"
check "no file was created" test "$(ls | tr '\n' ' ')" = "err out rc "

echo "line 1: a text file, not a database" >notes.txt
for i in $(seq 2 20); do echo "line $i: still text" >>notes.txt; done
run db info --db notes.txt
expect "a text file is not a store" 1 "cleave: error: 'notes.txt' is not a cleave store"

# ---- real stores ---------------------------------------------------------------------------
if [ ! -x "$FIXTURE" ] || ! "$FIXTURE" --fixture "$tmp" >fixture.log 2>&1; then
    echo "not ok - fixture helper '$FIXTURE' failed"
    cat fixture.log 2>/dev/null
    exit 1
fi

run db info --db empty.db
expect "info on an empty store" 0 ""
check "empty store has no devices" grep -q '^devices    0$' out
check "empty store schema" grep -q '^schema     version 3$' out

run db info --db a.db
expect "info" 0 ""
check "info names the device" grep -q '^device     alpha$' out
check "info identity" grep -q '^  backend  onednn 2.6.3, threads=1 binding=OMP_PROC_BIND=true$' out
check "info runs by status" grep -q '^  runs     1: 0 running, 1 done, 0 interrupted, 0 failed$' out
check "info samples per type" grep -q '^  samples  5: conv 3, fc 2$' out
check "info models" grep -q '^  models   1 (1 selected): conv 1$' out

header="sample_id,device,run_id,seq,type,spec,static_json,load,load_cpu,load_membw,load_memcap,\
d_sys_cpu,d_cpu_util,d_mem_free_mib,d_mem_used,d_other_cpu,d_runnable_other,d_psi_cpu,d_psi_mem,\
d_mem_avail,d_probe_cpu_ns,d_probe_mem_ns,reps,warmup,median_us,min_us,p90_us,max_us,mean_us,\
mad_us,threads,created,ctr_cycles,ctr_page-faults,ctr_task-clock"
run db export --csv --db a.db
expect "export" 0 ""
check "export header" test "$(head -n 1 out)" = "$header"
check "export has a row per sample" test "$(wc -l <out)" = 6
check "export row of seq 1" grep -q '^2,alpha,1,1,fc,fc n=1 c=2 h=8 w=8,"{""macs"":128,""in_bytes"":512}","cpu=50,membw=1,memcap=0",50,1,0,1,1.1,1.2,1.3,1.4,1.5,,1.7000000000000002,1.8,1.9,,31,5,10.25,9.75,10.583333333333334,12.25,10.35,0.125,1,[0-9T:.Z-]*,,0,1001$' out
run db export --csv --db a.db --device alpha -o a.csv
expect "export -o" 0 ""
check "export -o writes nothing on stdout" test ! -s out
check "export -o writes the file" test "$(wc -l <a.csv)" = 6
run db export --csv --db a.db --device zeta -o z.csv
expect "export of an unknown device" 1 "cleave: error: no device 'zeta' in 'a.db'"
check "no file for a failed export" test ! -e z.csv

run db merge missing.db --db m.db
expect "merge from a missing store" 1 "cleave: error: no store at 'missing.db'"
check "a failed merge creates no target" test ! -e m.db
run db merge a.db --db m.db
expect "merge into a new store" 0 ""
check "merge counts" test "$(cat out)" = "merged 'a.db' into 'm.db': 1 device, 1 run, 5 samples, 15 counters, 1 model added"
run db merge b.db --db m.db
expect "merge a second device" 0 ""
check "merge counts (second device)" test "$(cat out)" = "merged 'b.db' into 'm.db': 1 device, 1 run, 3 samples, 9 counters, 0 models added"
run db merge a.db --db m.db
expect "merge again" 0 ""
check "merge again adds nothing" test "$(cat out)" = "merged 'a.db' into 'm.db': 0 devices, 0 runs, 0 samples, 0 counters, 0 models added"
run db merge conflict.db --db m.db
expect "merge of a conflicting device" 1 "cleave: error: device 'alpha' differs: threads=2 binding=OMP_PROC_BIND=true cpu 'Test CPU @ 2.00GHz' in 'conflict.db', but threads=1 binding=OMP_PROC_BIND=true cpu 'Test CPU @ 2.00GHz' in 'm.db'; nothing merged"
run db merge m.db --db m.db
expect "merge into itself" 1 "cleave: error: cannot merge 'm.db' into itself"
sum_before=$(cksum <newer.db)
run db merge newer.db --db m.db
expect "merge from a newer store" 1 "cleave: error: 'newer.db' has schema version 99, newer than this cleave (3)"
run db info --db newer.db
expect "info on a newer store" 1 "cleave: error: 'newer.db' has schema version 99, newer than this cleave (3)"
check "a newer store is untouched" test "$(cksum <newer.db)" = "$sum_before"
run db merge notes.txt --db m.db
expect "merge from a text file" 1 "cleave: error: 'notes.txt' is not a cleave store"
: >plain
run db merge a.db --db plain/m.db
expect "merge into an impossible path" 1 "cleave: error: cannot open 'plain/m.db': not a directory"

run db info --db m.db
expect "info on the merged store" 0 ""
check "merged store has both devices" grep -q '^devices    2$' out
check "merged beta" grep -q '^  samples  3: conv 2, fc 1$' out
run db export --csv --db m.db
check "merged export" test "$(wc -l <out)" = 9
run db export --csv --db m.db --device beta
check "export of one device" test "$(grep -c ',beta,' out)" = 3 -a "$(wc -l <out)" = 4
run db check --db m.db
expect "check" 0 ""
check "check says ok" test "$(cat out)" = "'m.db': ok"
check "no -wal or -shm left behind" test -z "$(ls | grep -e '-wal$' -e '-shm$')"

if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
fi
echo "all checks passed"
