#!/usr/bin/env bash
# Packs what scripts/device-check.sh needs onto a lent GPU machine that has neither Node.js nor
# node_modules (issue 13): the check bundled into one file (esbuild), onnxruntime-node's Linux x64
# binding and library, onnxruntime-common, and this machine's node binary (xz), in .device/ (kept out of
# git through .git/info/exclude). About 36 MB: with the tree it stays under a device call's 64 MiB.
# On the lent machine: carry .device, and run scripts/device-check.sh (it unpacks .device itself).
# Only providers in onnxruntime-node's own package can run from it: cpu and webgpu (through Vulkan; the
# CUDA provider is a separate download that such a machine cannot make).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude
rm -rf .device
ort=node_modules/onnxruntime-node
dst=.device/node_modules/onnxruntime-node
mkdir -p "$dst/bin/napi-v6/linux/x64"
npx esbuild scripts/device-check.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --outfile=.device/device-check.mjs --external:onnxruntime-node \
  --banner:js="import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
cp "$ort/package.json" "$dst/"
cp -r "$ort/dist" "$dst/"
cp "$ort/bin/napi-v6/linux/x64/onnxruntime_binding.node" "$dst/bin/napi-v6/linux/x64/"
xz -T2 -6 -c "$ort/bin/napi-v6/linux/x64/libonnxruntime.so.1" > .device/libonnxruntime.so.1.xz
cp -r node_modules/onnxruntime-common .device/node_modules/
xz -T2 -6 -c "$(command -v node)" > .device/node.xz
du -sh .device
