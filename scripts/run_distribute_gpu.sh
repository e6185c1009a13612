#!/usr/bin/env bash
# Data-parallel training on GPU: bash scripts/run_distribute_gpu.sh WORKERS CONFIG [KEY=VALUE ...]
# train.batch_size is the global batch; each worker trains on batch_size/WORKERS of its shard.
set -euo pipefail
exec bash "$(dirname "$0")/_run_distribute.sh" GPU "$@"
