#!/usr/bin/env bash
# SQLite synchronous FULL (the default under commit) against NORMAL, same build, interleaved:
# open loop at 1 000 and 10 000 ops/s, then closed loop (saturating).
#   sync.sh LOADTEST_BIN BOARDROOM_BIN LOCK_FILE [OUT_DIR] [ROUNDS]
set -euo pipefail
LT=$1 BIN=$2 LOCK=$3 OUT=${4:-loadtest/results/durable/sqlite-sync} ROUNDS=${5:-2}
lt() { flock "$LOCK" taskset -c 1 "$LT" "$@" 2>&1 | grep -E "^ops \[" || true; }
for round in $(seq 1 "$ROUNDS"); do
  for sync in full normal; do
    lt ops --store sqlite --boardroom-bin "$BIN" --server-cpus 0 --writers 8 --window 512 \
      --boards 16 --cards 4 --rates 1000,10000 --seconds 5 --port-base 18790 \
      --boardroom-env BOARDROOM_SQLITE_SYNCHRONOUS=$sync --label "sync-$sync" --out "$OUT"
    lt ops --store sqlite --boardroom-bin "$BIN" --server-cpus 0 --writers 16 --window 64 \
      --boards 100 --cards 1 --seconds 5 --port-base 18790 \
      --boardroom-env BOARDROOM_SQLITE_SYNCHRONOUS=$sync --label "sync-$sync" --out "$OUT"
  done
done
