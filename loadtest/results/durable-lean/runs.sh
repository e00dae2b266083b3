#!/usr/bin/env bash
# Issue 12, lean event log + one-call group commit: before (9ad4dd4) / after, interleaved by round, every run on
# a fresh server and store, server pinned to CPU 0 and the load generator to CPU 1 (Postgres
# unpinned), each run under the shared benchmark lock.
#   runs.sh LOADTEST_BIN BOARDROOM_BEFORE BOARDROOM_AFTER LOCK_FILE [OUT_DIR] [ROUNDS]
set -euo pipefail
LT=$1 BEFORE=$2 AFTER=$3 LOCK=$4 OUT=${5:-loadtest/results/durable-lean} ROUNDS=${6:-2}
lt() { flock "$LOCK" taskset -c 1 "$LT" "$@" 2>&1 | grep -E "^ops \[|^group commit /|^\| [0-9]|ratio" || true; }
bin_of() { if [ "$1" = before ]; then echo "$BEFORE"; else echo "$AFTER"; fi; }
for round in $(seq 1 "$ROUNDS"); do
  for label in before after; do
    bin=$(bin_of $label)
    # Time to durable against offered ops/s (open loop), 16 boards x 4 cards: Postgres, SQLite
    # with its default under commit (synchronous = FULL).
    for store in postgres sqlite; do
      lt ops --store $store --boardroom-bin "$bin" --server-cpus 0 --writers 8 --window 512 \
        --boards 16 --cards 4 --rates 10,100,1000,10000 --seconds 5 --port-base 18790 \
        --label "$label" --out "$OUT/sweep"
    done
    # SQLite with synchronous = NORMAL (not durable across power loss), same sweep.
    lt ops --store sqlite --boardroom-bin "$bin" --server-cpus 0 --writers 8 --window 512 \
      --boards 16 --cards 4 --rates 10,100,1000,10000 --seconds 5 --port-base 18790 \
      --boardroom-env BOARDROOM_SQLITE_SYNCHRONOUS=normal --label "$label-normal" --out "$OUT/sweep-sqlite-normal"
    # Saturating throughput on Postgres at 100 boards, against one transaction per op.
    lt ops --store postgres --boardroom-bin "$bin" --server-cpus 0 --writers 16 --window 64 \
      --boards 100 --cards 1 --seconds 5 --baseline --rounds 1 --port-base 18790 \
      --label "$label" --out "$OUT/throughput"
  done
done
