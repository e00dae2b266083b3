#!/bin/bash
# before/after, Postgres, commit, 16 writers x 64 in flight; 3 rounds interleaved.
LT=/work/target-ops/release/boardroom-loadtest
OUT=/work/wt-ops/loadtest/results/ops
cd /work/ops-bin
for round in 1 2 3; do
  for cfg in "16 4" "1 1"; do set -- $cfg
    for bin in before after; do
      flock /tmp/bench.lock taskset -c 1 $LT ops --store postgres --boardroom-bin /work/ops-bin/boardroom-$bin --server-cpus 0 \
        --writers 16 --window 64 --boards $1 --cards $2 --seconds 5 --port-base 18690 --label $bin --out $OUT 2>&1 | grep "^ops \["
    done
  done
done
