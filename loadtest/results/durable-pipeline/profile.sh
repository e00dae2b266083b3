#!/usr/bin/env bash
# perf (whole machine, 6 s, after 4 s of load) during one `loadtest ops` run on Postgres.
#   profile.sh LOADTEST_BIN BOARDROOM_BIN OUT_PREFIX [ops args...]  (run it under the bench lock)
set -euo pipefail
LT=$1 BIN=$2 OUT=$3; shift 3
taskset -c 1 "$LT" ops --store postgres --boardroom-bin "$BIN" --server-cpus 0 --port-base 18890 "$@" > "$OUT.log" 2>&1 &
lp=$!
pid=""
for i in $(seq 1 100); do
  pid=$(pgrep -f -x "$BIN.*" | head -1 || true)
  [ -n "$pid" ] && break
  sleep 0.2
done
echo "server pid $pid"
sleep 4
perf record -F 499 -g -a -o "$OUT.data" -- sleep 6 2>&1 | tail -2
wait $lp || true
grep -E "^ops \[" "$OUT.log" || tail -5 "$OUT.log"
