#!/usr/bin/env bash
# Train on Ascend: bash scripts/run_ascend.sh CONFIG [KEY=VALUE ...]   (exit code is msgan's)
set -euo pipefail
exec bash "$(dirname "$0")/_run.sh" Ascend "$@"
