#!/usr/bin/env bash
# Issue 12, the steps one at a time: saturating Postgres (100 boards x 1 card, 16 writers x 64
# in flight) for each build in turn, ROUNDS times, server on CPU 0, load generator on CPU 1.
#   steps.sh LOADTEST_BIN LOCK_FILE ROUNDS LABEL=BOARDROOM_BIN[:PIPELINE] ...
# e.g. steps.sh lt lock 2 base=before/boardroom lanes=lanes/boardroom:2 mi=mi/boardroom:2 json=after/boardroom
set -euo pipefail
LT=$1 LOCK=$2 ROUNDS=$3; shift 3
for round in $(seq 1 "$ROUNDS"); do
  for spec in "$@"; do
    label=${spec%%=*} rest=${spec#*=}
    bin=${rest%%:*} env=()
    [ "$rest" != "$bin" ] && env=(--boardroom-env "BOARDROOM_REALTIME__JOURNAL_PIPELINE=${rest#*:}")
    flock "$LOCK" taskset -c 1 "$LT" ops --store postgres --boardroom-bin "$bin" --server-cpus 0 \
      --writers 16 --window 64 --boards 100 --cards 1 --seconds 8 --port-base 18790 \
      --label "$label" "${env[@]}" 2>&1 | grep "^ops \[" || true
  done
done
