// electron-builder afterPack hook: each installer keeps only its own platform's onnxruntime-node binaries.
// onnxruntime-node ships bin/napi-v*/{darwin,linux,win32}/{arm64,x64} (~290 MB) and asarUnpack copies all of
// them; the app loads bin/napi-v*/<process.platform>/<process.arch> only. macOS keeps every darwin
// architecture (a universal build merges the x64 and arm64 packages, which must hold the same files).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

// electron-builder's Arch enum (builder-util): ia32 0, x64 1, armv7l 2, arm64 3, universal 4.
const ARCH_NAMES = ['ia32', 'x64', 'armv7l', 'arm64', 'universal'];

// Whether a package for `platform`/`arch` keeps the binaries in bin/napi-vN/<dirPlatform>/<dirArch>.
function keepsNativeDir(platform, arch, dirPlatform, dirArch) {
  if (dirPlatform !== platform) return false;
  return platform === 'darwin' || dirArch === arch;
}

/** Removes other platforms' and architectures' onnxruntime-node binaries under `resourcesDir`; returns what it removed. */
function pruneOnnxruntime(resourcesDir, platform, arch) {
  const bin = path.join(resourcesDir, 'app.asar.unpacked', 'node_modules', 'onnxruntime-node', 'bin');
  if (!fs.existsSync(bin)) throw new Error(`afterPack: ${bin} is missing; asarUnpack must keep node_modules/onnxruntime-node`);
  const removed = [];
  let kept = 0;
  for (const napi of fs.readdirSync(bin)) {
    const napiDir = path.join(bin, napi);
    if (!fs.statSync(napiDir).isDirectory()) continue;
    for (const dirPlatform of fs.readdirSync(napiDir)) {
      const platformDir = path.join(napiDir, dirPlatform);
      for (const dirArch of fs.readdirSync(platformDir)) {
        if (keepsNativeDir(platform, arch, dirPlatform, dirArch)) {
          kept++;
          continue;
        }
        fs.rmSync(path.join(platformDir, dirArch), { recursive: true, force: true });
        removed.push(`${napi}/${dirPlatform}/${dirArch}`);
      }
      if (fs.readdirSync(platformDir).length === 0) fs.rmdirSync(platformDir);
    }
  }
  if (kept === 0) throw new Error(`afterPack: onnxruntime-node ships no binaries for ${platform}/${arch}; the studio cannot run there`);
  return removed;
}

function resourcesDirOf(context) {
  if (context.electronPlatformName === 'darwin' || context.electronPlatformName === 'mas') {
    return path.join(context.appOutDir, `${context.packager.appInfo.productFilename}.app`, 'Contents', 'Resources');
  }
  return path.join(context.appOutDir, 'resources');
}

async function afterPack(context) {
  const platform = context.electronPlatformName === 'mas' ? 'darwin' : context.electronPlatformName;
  const arch = ARCH_NAMES[context.arch] ?? String(context.arch);
  const removed = pruneOnnxruntime(resourcesDirOf(context), platform, arch);
  console.log(`  • afterPack: kept onnxruntime-node ${platform}/${platform === 'darwin' ? '*' : arch}, removed ${removed.length} other folders`);
}

module.exports = afterPack;
module.exports.default = afterPack;
module.exports.pruneOnnxruntime = pruneOnnxruntime;
module.exports.keepsNativeDir = keepsNativeDir;
