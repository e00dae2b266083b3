#!/usr/bin/env bash
# Commit-mode fan-out at the size (100 boards x 100 subscribers, 500 ops/s = 50 000
# deliveries/s), Boardroom only, before and after in turn, ROUNDS times.
#   fanout.sh LOADTEST_BIN BOARDROOM_BEFORE BOARDROOM_AFTER LOCK_FILE [OUT_DIR] [ROUNDS]
set -euo pipefail
LT=$1 BEFORE=$2 AFTER=$3 LOCK=$4 OUT=${5:-loadtest/results/durable-lean/fanout-100x100-commit} ROUNDS=${6:-1}
for round in $(seq 1 "$ROUNDS"); do
  for label in before after; do
    if [ "$label" = before ]; then bin=$BEFORE; else bin=$AFTER; fi
    flock "$LOCK" taskset -c 1 "$LT" compare --servers boardroom --boardroom-bin "$bin" --server-cpus 0 \
      --boards 100 --subscribers 10000 --publishers 10 --rates 500 --seconds 10 --drain-secs 5 \
      --rounds 1 --durability commit --quiet --out "$OUT/$label" 2>&1 | grep -E "p99|deliveries" | tail -3 || true
  done
done
