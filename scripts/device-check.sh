#!/usr/bin/env bash
# SD-size benchmark on whichever GPU provider onnxruntime loads on this machine (issue 13 goal 5), in one
# table: the SD v1 UNet (one CFG step at 512²), VAE decoder (512²) and text encoder, random fp16 weights,
# each as the float32 graph and the float16 variant: build, s/call, peak device memory, float16 error.
# Stops within 8 minutes (cases past the deadline are listed as skipped).
# Usage: scripts/device-check.sh [--cpu] [--tiny] [--provider cuda|dml|coreml|webgpu]
#   --cpu   measure the CPU provider instead      --tiny  small networks: a dry run in seconds
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ]; then
  echo "device-check: run 'npm ci' first (node_modules is missing)" >&2
  exit 1
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec timeout --signal=INT --kill-after=20 470 node --import tsx scripts/device-check.ts --deadline 440 "$@"
