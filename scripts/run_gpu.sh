#!/usr/bin/env bash
# Train on GPU: bash scripts/run_gpu.sh CONFIG [KEY=VALUE ...]   (exit code is msgan's)
set -euo pipefail
exec bash "$(dirname "$0")/_run.sh" GPU "$@"
