#!/bin/bash
# perf profile of the server (after) under the 16x4 Postgres commit load.
LT=/work/target-ops/release/boardroom-loadtest
cd /work/ops-bin
taskset -c 1 $LT ops --store postgres --boardroom-bin /work/ops-bin/boardroom-$1 --server-cpus 0 \
  --writers 16 --window 64 --boards 16 --cards 4 --seconds 6 --port-base 18690 --label prof-$1 > prof-$1.log 2>&1 &
LTPID=$!
for i in $(seq 1 100); do PID=$(grep -o "started boardroom (pid [0-9]*" prof-$1.log | grep -o "[0-9]*$"); [ -n "$PID" ] && break; sleep 0.2; done
sleep 3
perf record -e cpu-clock -g -p $PID -o perf-$1.data -- sleep 4 2>/dev/null
wait $LTPID
perf report -i perf-$1.data --no-children --percent-limit 1.5 --stdio 2>/dev/null | grep -E "^ +[0-9]" | head -40 > prof-$1.top
