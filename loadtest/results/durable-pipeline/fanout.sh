#!/usr/bin/env bash
# Commit-mode fan-out at the issue's size, as durable/fanout.sh runs it, into this folder.
#   fanout.sh LOADTEST_BIN BOARDROOM_BEFORE BOARDROOM_AFTER LOCK_FILE [OUT_DIR] [ROUNDS]
set -euo pipefail
exec "$(dirname "$0")/../durable/fanout.sh" "$1" "$2" "$3" "$4" \
  "${5:-loadtest/results/durable-pipeline/fanout-100x100-commit}" "${6:-1}"
