#!/usr/bin/env bash
# Fresh machine → install msgan and its test extra into .venv, run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export GLOG_v=${GLOG_v:-3}
# Two worker processes (pytest-xdist), one test file each at a time so a file's compiled
# fixtures are built once; MSGAN_TEST_WORKERS=0 runs everything in this process.
exec .venv/bin/python -m pytest -q --durations=10 -n "${MSGAN_TEST_WORKERS:-2}" --dist loadfile "$@"
