#!/usr/bin/env bash
# Runs every fuzz target for a bounded time, one after the other, and prints one line per
# target: inputs run, seconds, inputs/s, crashes. Exits non-zero if any target crashed.
#
#   fuzz/run.sh                    # 120 s per target
#   FUZZ_SECONDS=30 fuzz/run.sh frame_json ops_apply
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); on stable Rust, RUSTC_BOOTSTRAP=1 (set here)
# lets the compiler take the sanitizer flags libFuzzer needs. Corpora grow in fuzz/corpus/,
# crashing inputs land in fuzz/artifacts/<target>/ (both gitignored); replay one with
# `cargo fuzz run -O <target> <file>`.
set -uo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
secs=${FUZZ_SECONDS:-120}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(frame_json frame_msgpack ops_apply http_bodies cluster_wire)

for t in "${targets[@]}"; do cargo fuzz build -O "$t" || exit 2; done
mkdir -p logs
total=0
failed=0
printf '%-14s %12s %6s %10s %8s\n' target inputs secs inputs/s crashes
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    seeds=()
    [ -d "seeds/$t" ] && seeds=("seeds/$t")
    before=$(ls "artifacts/$t" | wc -l)
    cargo fuzz run -O "$t" "corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 \
        >"logs/$t.log" 2>&1
    rc=$?
    crashes=$(( $(ls "artifacts/$t" | wc -l) - before ))
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "logs/$t.log" | tail -1)
    took=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "logs/$t.log" | tail -1)
    if [ -z "$runs" ]; then
        # A crash stops libFuzzer before its "Done" line; its last status line has the count.
        runs=$(grep -o '^#[0-9]*' "logs/$t.log" | tail -1 | tr -d '#')
        took=$secs
    fi
    runs=${runs:-0}
    [ "${took:-0}" -gt 0 ] || took=1
    [ $rc -ne 0 ] && [ "$crashes" -eq 0 ] && crashes="rc=$rc"
    [ $rc -ne 0 ] && failed=1
    printf '%-14s %12d %6d %10d %8s\n' "$t" "$runs" "$took" $((runs / took)) "$crashes"
    total=$((total + runs))
done
printf '%-14s %12d\n' total "$total"
exit $failed
