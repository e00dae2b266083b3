#!/usr/bin/env bash
# Before/after, Postgres, commit, 16 writers x 64 in flight; 3 rounds interleaved.
#   runs.sh LOADTEST_BIN BOARDROOM_BEFORE BOARDROOM_AFTER [OUT_DIR]
set -euo pipefail
LT=$1 BEFORE=$2 AFTER=$3 OUT=${4:-loadtest/results/ops}
for round in 1 2 3; do
  for cfg in "16 4" "1 1"; do set -- $cfg
    for label in before after; do
      if [ "$label" = before ]; then bin=$BEFORE; else bin=$AFTER; fi
      flock /tmp/bench.lock taskset -c 1 "$LT" ops --store postgres --boardroom-bin "$bin" --server-cpus 0 \
        --writers 16 --window 64 --boards "$1" --cards "$2" --seconds 5 --port-base 18690 --label "$label" --out "$OUT" 2>&1 | grep "^ops \["
    done
  done
done
