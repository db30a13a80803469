#!/usr/bin/env bash
# SD-size benchmark on whichever GPU provider onnxruntime loads on this machine (issue 13 goal 5), in one
# table: the SD v1 UNet (one CFG step at 512²), VAE decoder (512²) and text encoder, random fp16 weights,
# each as the float32 graph and the float16 variant: build, s/call, peak device memory, float16 error.
# Stops within 8 minutes (cases past the deadline are listed as skipped).
# Usage: scripts/device-check.sh [--cpu] [--tiny] [--provider cuda|dml|coreml|webgpu]
#   --cpu   measure the CPU provider instead      --tiny  small networks: a dry run in seconds
# Without node_modules (a lent machine with no Node.js): runs from .device/, made by scripts/device-pack.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
if [ -d node_modules ]; then
  exec timeout --signal=INT --kill-after=20 470 node --import tsx scripts/device-check.ts --deadline 440 "$@"
fi
if [ ! -f .device/device-check.mjs ]; then
  echo "device-check: run 'npm ci' first (node_modules is missing), or carry .device made by scripts/device-pack.sh" >&2
  exit 1
fi
unxz() { python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; }
lib=.device/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
[ -f "$lib" ] || unxz .device/libonnxruntime.so.1.xz "$lib"
node=/tmp/ldm-device-node/node
if [ ! -x "$node" ]; then
  mkdir -p "$(dirname "$node")"
  unxz .device/node.xz "$node"
  chmod +x "$node"
fi
exec timeout --signal=INT --kill-after=20 470 "$node" .device/device-check.mjs --deadline 440 "$@"
