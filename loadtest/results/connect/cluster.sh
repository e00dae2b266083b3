#!/usr/bin/env bash
# Starts N Boardroom nodes in cluster mode (broker = redis) for `connect --urls`, each pinned to
# CPU 0 like the single-node runs, on ports BASE+1.., with their own Postgres database and Redis
# key prefix; prints "urls pids" on stdout and keeps running until killed (SIGTERM stops the
# nodes). Used for the four-node row of BENCHMARKS.md ("Idle connections").
#
#   cluster.sh BIN DB_URL PREFIX [NODES] [BASE] [LOGDIR]
set -euo pipefail
bin=$1 db=$2 prefix=$3 nodes=${4:-4} base=${5:-18480} logs=${6:-/tmp/connect-cluster}
mkdir -p "$logs"
export BOARDROOM_DATABASE_URL=$db BOARDROOM_BROKER=redis BOARDROOM_REDIS_URL=redis://127.0.0.1:6379
export BOARDROOM_CLUSTER__KEY_PREFIX=$prefix BOARDROOM_JWT_SECRET=${BOARDROOM_JWT_SECRET:-$(openssl rand -hex 32)}
export BOARDROOM_DEV_MODE=true BOARDROOM_LOG_FORMAT=text RUST_LOG=${RUST_LOG:-warn}
"$bin" migrate >"$logs/migrate.log" 2>&1
pids=()
stop() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait; exit 0; }
trap stop INT TERM
urls=()
for i in $(seq 1 "$nodes"); do
    BOARDROOM_NODE_ID=n$i BOARDROOM_LISTEN=127.0.0.1:$((base + i)) \
        taskset -c 0 "$bin" serve >"$logs/n$i.log" 2>&1 &
    pids+=($!)
    urls+=("http://127.0.0.1:$((base + i))")
    # The first node seeds the demo organization; the others start on a seeded database.
    for _ in $(seq 1 600); do
        curl -fs "http://127.0.0.1:$((base + i))/readyz" >/dev/null && break
        sleep 0.1
    done
done
(IFS=,; echo "${urls[*]} ${pids[*]}")
wait
