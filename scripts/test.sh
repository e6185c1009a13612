#!/usr/bin/env bash
# Fresh machine → install msgan and its test extra into .venv, run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export GLOG_v=${GLOG_v:-3}
exec .venv/bin/python -m pytest -q --durations=10 "$@"
