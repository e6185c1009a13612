#!/usr/bin/env bash
# Shared by run_{cpu,gpu,ascend}.sh: run `msgan train CONFIG` on DEVICE with the repo's .venv.
set -euo pipefail
DEVICE=$1; shift
if [ $# -lt 1 ]; then
    echo "usage: bash scripts/run_$(echo "$DEVICE" | tr A-Z a-z).sh CONFIG [KEY=VALUE ...]" >&2
    exit 2
fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY=python3
export GLOG_v=${GLOG_v:-3}   # MindSpore's INFO/WARNING chatter off; errors still shown
exec "$PY" -m msgan train "$@" device_target="$DEVICE"
