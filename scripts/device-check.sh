#!/usr/bin/env bash
# SD-size benchmark on whichever GPU provider onnxruntime loads on this machine (issue 13), in one table:
# SD v1 UNet (batch 2, 64² latent: one CFG step at 512²) fp32 and int8, and the SD VAE decoder to 512²,
# random fp16 weights. Stops after 8 minutes. Usage: scripts/device-check.sh [--quick] [--cpu]
#   --quick  32² latent (256² pictures)     --cpu  measure the CPU provider instead
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ]; then
  echo "device-check: run 'npm ci' first (node_modules is missing)" >&2
  exit 1
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec timeout --signal=INT 480 node --import tsx scripts/device-check.ts "$@"
