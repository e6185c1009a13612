#!/usr/bin/env bash
# Shared by run_distribute_{cpu,gpu,ascend}.sh: data-parallel `msgan train` with MindSpore's msrun.
set -euo pipefail
DEVICE=$1; shift
if [ $# -lt 2 ]; then
    echo "usage: bash scripts/run_distribute_$(echo "$DEVICE" | tr A-Z a-z).sh WORKERS CONFIG [KEY=VALUE ...]" >&2
    exit 2
fi
WORKERS=$1; shift
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/.venv/bin"
[ -x "$BIN/msrun" ] || BIN="$(dirname "$(command -v msrun)")"
LOG_DIR=${MSGAN_LOG_DIR:-msrun_logs}      # one worker_<rank>.log per rank
export GLOG_v=${GLOG_v:-3}
export PATH="$BIN:$PATH"                  # msrun starts workers with the `python` on PATH
exec "$BIN/msrun" --worker_num="$WORKERS" --local_worker_num="$WORKERS" \
    --master_port="${MASTER_PORT:-8129}" --log_dir="$LOG_DIR" --join=True \
    "$ROOT/scripts/msgan_worker.py" train "$@" device_target="$DEVICE"
