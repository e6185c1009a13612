#!/usr/bin/env bash
# Fresh machine → trained class-conditional DCGAN on the embedded digits, images in runs/dcgan_digits/Data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec bash scripts/run_cpu.sh configs/dcgan_digits.yaml "$@"
