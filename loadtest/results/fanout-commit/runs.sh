#!/usr/bin/env bash
# Commit-mode fan-out at issue 12's size (100 boards x 100 subscribers, 500 ops/s = 50 000
# deliveries/s, 10 s), the servers in turn, ROUNDS times; each run's p99, the steal time of the
# two cores during it (ticks of 10 ms: time the hypervisor gave to other machines) and its
# timeline (highest op -> event latency per quarter second, ms).
#   runs.sh LOADTEST OUT ROUNDS label=BIN ...      (label "bare" = the bare peer's binary;
#   a label ending in "-pg" runs Boardroom on a fresh Postgres database on 127.0.0.1:5432)
# Run it under a quiet machine: nothing else on the two cores (see BENCHMARKS.md).
set -uo pipefail
LT=$1 OUT=$2 ROUNDS=$3; shift 3
steal() { awk -v c="cpu$1" '$1==c{print $9}' /proc/stat; }
for r in $(seq 1 "$ROUNDS"); do
  for lb in "$@"; do
    label=${lb%%=*} bin=${lb#*=}
    mkdir -p "$OUT/$label"
    env=()
    case $label in
      bare) srv=(--servers bare --bare-bin "$bin") ;;
      *-pg)
        db=br_fanout_$(date +%s%N)
        createdb -h 127.0.0.1 -U postgres "$db"
        srv=(--servers boardroom --boardroom-bin "$bin")
        env=(--boardroom-env "BOARDROOM_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db"
             --boardroom-env BOARDROOM_JWT_SECRET=fanout-bench-secret-0123456789abcdef
             --boardroom-env BOARDROOM_DEV_MODE=true) ;;
      *) srv=(--servers boardroom --boardroom-bin "$bin") ;;
    esac
    s0=$(steal 0) s1=$(steal 1)
    line=$(taskset -c 1 "$LT" compare "${srv[@]}" "${env[@]}" --server-cpus 0 --boards 100 \
      --subscribers 10000 --publishers 10 --rates 500 --seconds 10 --drain-secs 5 --rounds 1 \
      --durability commit --quiet --out "$OUT/$label" 2>&1 | grep -E "^\| (boardroom|bare) " | head -1)
    echo "round $r $label steal $(( $(steal 0) - s0 ))/$(( $(steal 1) - s1 ))" \
      "$(echo "$line" | awk -F'|' '{print "p50",$9,"p90",$10,"p99",$11,"p99.9",$12,"missing",$15,"us/delivery",$19,"busy",$20}')"
    [ -n "${db:-}" ] && dropdb -h 127.0.0.1 -U postgres "$db" && db=
  done
done
for f in $(ls -tr "$OUT"/*/fanout-*.json); do
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[1].split('/')[-2], d['latency']['p99_ms'], ' '.join('%g' % x for x in d.get('latency_timeline_max_ms', [])))" "$f"
done
