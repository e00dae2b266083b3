#!/usr/bin/env bash
# perf profile of a Boardroom server under the 16x4 Postgres commit load.
#   prof.sh LOADTEST_BIN BOARDROOM_BIN LABEL     (writes prof-LABEL.{log,top} and perf-LABEL.data here)
set -euo pipefail
LT=$1 BIN=$2 LABEL=$3
taskset -c 1 "$LT" ops --store postgres --boardroom-bin "$BIN" --server-cpus 0 \
  --writers 16 --window 64 --boards 16 --cards 4 --seconds 6 --port-base 18690 --label "prof-$LABEL" > "prof-$LABEL.log" 2>&1 &
LTPID=$!
PID=""
for _ in $(seq 1 100); do PID=$(grep -o "started boardroom (pid [0-9]*" "prof-$LABEL.log" | grep -o "[0-9]*$" || true); [ -n "$PID" ] && break; sleep 0.2; done
sleep 3
perf record -e cpu-clock -g -p "$PID" -o "perf-$LABEL.data" -- sleep 4 2>/dev/null
wait $LTPID
perf report -i "perf-$LABEL.data" --no-children --percent-limit 1.5 --stdio 2>/dev/null | grep -E "^ +[0-9]" | head -40 > "prof-$LABEL.top"
