#!/usr/bin/env bash
# Train on CPU: bash scripts/run_cpu.sh CONFIG [KEY=VALUE ...]   (exit code is msgan's)
set -euo pipefail
exec bash "$(dirname "$0")/_run.sh" CPU "$@"
