#!/usr/bin/env bash
# Issue 12, pipelined group commit: before (a350567) / after, interleaved by round, every run on
# a fresh server and store, server pinned to CPU 0 and the load generator to CPU 1 (Postgres
# unpinned), each run under the shared benchmark lock: the runs of durable/runs.sh (Postgres,
# SQLite with its default under commit, synchronous = FULL), plus SQLite with synchronous =
# NORMAL (not durable across power loss), same sweep.
#   runs.sh LOADTEST_BIN BOARDROOM_BEFORE BOARDROOM_AFTER LOCK_FILE [OUT_DIR] [ROUNDS]
set -euo pipefail
SQLITE_NORMAL=1 exec "$(dirname "$0")/../durable/runs.sh" "$1" "$2" "$3" "$4" \
  "${5:-loadtest/results/durable-pipeline}" "${6:-2}"
