// build/after-pack.cjs: each package keeps only its own platform's onnxruntime-node binaries.
// Run on a copy of the real bin/ layout (empty files), for every platform an installer is built for.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const afterPack = require('../../build/after-pack.cjs') as ((context: object) => Promise<void>) & {
  pruneOnnxruntime(resourcesDir: string, platform: string, arch: string): string[];
};
const realBin = path.join(path.dirname(require.resolve('onnxruntime-node/package.json')), 'bin');

let tmp: string | undefined;
afterEach(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
});

/** A resources folder whose unpacked onnxruntime-node/bin mirrors the installed one's folders. */
function fakeResources(resources: string): void {
  const bin = path.join(resources, 'app.asar.unpacked/node_modules/onnxruntime-node/bin');
  for (const napi of readdirSync(realBin)) {
    for (const platform of readdirSync(path.join(realBin, napi))) {
      for (const arch of readdirSync(path.join(realBin, napi, platform))) {
        const dir = path.join(bin, napi, platform, arch);
        mkdirSync(dir, { recursive: true });
        writeFileSync(path.join(dir, 'onnxruntime_binding.node'), '');
      }
    }
  }
}

function left(resources: string): string[] {
  const bin = path.join(resources, 'app.asar.unpacked/node_modules/onnxruntime-node/bin');
  return readdirSync(bin, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.relative(bin, d.parentPath).split(path.sep).slice(1).join('/'))
    .sort();
}

describe('afterPack prunes onnxruntime-node to the target platform', () => {
  it.each([
    ['linux', 1, 'x64', ['linux/x64']],
    ['linux', 3, 'arm64', ['linux/arm64']],
    ['win32', 1, 'x64', ['win32/x64']],
    ['win32', 3, 'arm64', ['win32/arm64']],
  ])('%s %s keeps only %s', async (platform, archEnum, _arch, expected) => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'ldm-afterpack-'));
    fakeResources(path.join(tmp, 'resources'));
    await afterPack({ electronPlatformName: platform, arch: archEnum, appOutDir: tmp, packager: { appInfo: { productFilename: 'X' } } });
    expect(left(path.join(tmp, 'resources'))).toEqual(expected);
  });

  it('macOS keeps every darwin architecture inside the .app (a universal build merges them)', async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'ldm-afterpack-'));
    const resources = path.join(tmp, 'Latent Diffusion Studio.app/Contents/Resources');
    fakeResources(resources);
    const installedDarwin = readdirSync(path.join(realBin, readdirSync(realBin)[0]!, 'darwin')).map((a) => `darwin/${a}`);
    await afterPack({ electronPlatformName: 'darwin', arch: 3, appOutDir: tmp, packager: { appInfo: { productFilename: 'Latent Diffusion Studio' } } });
    expect(left(resources)).toEqual(installedDarwin.sort());
    expect(installedDarwin.length).toBeGreaterThan(0);
  });

  it('refuses a target onnxruntime-node has no binaries for, naming it', () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'ldm-afterpack-'));
    fakeResources(tmp);
    expect(() => afterPack.pruneOnnxruntime(tmp!, 'linux', 'ia32')).toThrow(/no binaries for linux\/ia32/);
  });

  it('says what is wrong when onnxruntime-node was not unpacked', () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'ldm-afterpack-'));
    expect(() => afterPack.pruneOnnxruntime(tmp!, 'linux', 'x64')).toThrow(/asarUnpack must keep node_modules\/onnxruntime-node/);
  });
});
