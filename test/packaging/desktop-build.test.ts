// The desktop build without the Electron binary (it cannot be downloaded here): the bundled main process
// booted in plain Node with a stand-in 'electron' module, and the real electron-builder config run
// offline (a Linux directory build with a stub Electron), checking what went into the asar.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureRendererBuilt } from '../browser/harness.ts';

const require = createRequire(import.meta.url);
const asar = require('@electron/asar') as { listPackage(archive: string, options: object): string[] };
const root = path.resolve(import.meta.dirname, '../..');

function folderBytes(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .reduce((sum, d) => sum + statSync(path.join(d.parentPath, d.name)).size, 0);
}

// One build for both suites (parallel builds into dist/electron would race).
beforeAll(async () => {
  await ensureRendererBuilt();
  execFileSync(process.execPath, ['scripts/build-electron.mjs'], { cwd: root, stdio: 'pipe' });
}, 120_000);

describe('bundled main process', () => {
  let tmp: string;
  let report: any;
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'ldm-bundle-'));
    // Remembered from a monitor that is gone: the size comes back, the position does not.
    writeFileSync(path.join(tmp, 'window-state.json'), JSON.stringify({ bounds: { x: 5000, y: 300, width: 1000, height: 700 }, maximized: false }));
    const hooks = new URL('./fixtures/electron-hooks.mjs', import.meta.url).href;
    const register = `data:text/javascript,import{register}from'node:module';register(${JSON.stringify(hooks)});`;
    const out = execFileSync(process.execPath, ['--import', register, 'dist/electron/shell/main.js'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, STUB_APP_PATH: root, STUB_USER_DATA: tmp },
    });
    const line = out.split('\n').find((l) => l.startsWith('REPORT '));
    if (!line) throw new Error(`the bundle printed no report:\n${out}`);
    report = JSON.parse(line.slice('REPORT '.length));
  }, 120_000);
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('opens a sandboxed, isolated window on app://studio with an existing preload', () => {
    expect(report.loadedUrl).toBe('app://studio/');
    expect(report.webPreferences).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true });
    expect(report.preloadExists).toBe(true);
    expect(report.bounds).toEqual({ width: 1000, height: 700, x: null, y: null });
    expect(report.scheme).toBe('app');
    expect(report.permissions).toEqual({ media: false, geolocation: false, notifications: false, 'clipboard-sanitized-write': true });
  });

  it('answers system.info over IPC from the real services, with the data folder in userData', () => {
    expect(report.info).toMatchObject({ ok: true, output: { transport: 'ipc', dataDir: tmp, appVersion: expect.stringMatching(/^\d+\.\d+\.\d+/) } });
    expect(report.invalid).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
    expect(report.foreign).toMatchObject({ ok: false, error: { code: 'forbidden' } });
  });

  it('serves the built renderer with the CSP and nothing outside it', () => {
    expect(report.index.status).toBe(200);
    expect(report.index.csp).toContain("default-src 'self'");
    expect(report.index.html).toContain('<title>Latent Diffusion Studio</title>');
    expect(report.escapeStatus).toBeGreaterThanOrEqual(400);
  });
});

describe('electron-builder directory build', () => {
  let tmp: string;
  let appDir: string;
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'ldm-pack-'));
    const stub = path.join(tmp, 'electron-stub');
    mkdirSync(stub);
    writeFileSync(path.join(stub, 'electron'), '#!/bin/sh\necho stub electron\n');
    chmodSync(path.join(stub, 'electron'), 0o755);
    const out = path.join(tmp, 'out');
    execFileSync(
      process.execPath,
      [
        require.resolve('electron-builder/cli.js'),
        '--linux',
        'dir',
        '--config',
        'electron-builder.yml',
        `-c.electronDist=${stub}`,
        `-c.directories.output=${out}`,
        // Rebuilding better-sqlite3 for Electron's ABI needs headers from the network.
        '-c.npmRebuild=false',
      ],
      { cwd: root, stdio: 'pipe', env: { ...process.env, ELECTRON_BUILDER_OFFLINE: 'true' } },
    );
    appDir = path.join(out, 'linux-unpacked');
  }, 180_000);
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('puts the bundled main, preload and renderer in app.asar, without source maps', () => {
    const files = asar.listPackage(path.join(appDir, 'resources/app.asar'), {}).map((f) => f.replaceAll('\\', '/'));
    for (const f of ['/package.json', '/dist/electron/shell/main.js', '/dist/electron/shell/preload.cjs', '/dist/electron/workers/main.js', '/renderer/dist/index.html']) {
      expect(files).toContain(f);
    }
    expect(files.some((f) => /^\/renderer\/dist\/assets\/index-.*\.js$/.test(f))).toBe(true);
    expect(files.some((f) => f.endsWith('.map'))).toBe(false);
    expect(files.some((f) => f.startsWith('/electron/'))).toBe(false);
    expect(files.some((f) => f.startsWith('/node_modules/electron/'))).toBe(false);
    expect(files.some((f) => f.startsWith('/node_modules/esbuild/') || f.startsWith('/node_modules/tsx/'))).toBe(false);
  });

  it('unpacks the native modules from the asar', () => {
    const unpacked = path.join(appDir, 'resources/app.asar.unpacked/node_modules');
    expect(existsSync(path.join(unpacked, 'onnxruntime-node/bin'))).toBe(true);
    expect(existsSync(path.join(unpacked, 'better-sqlite3/build/Release/better_sqlite3.node'))).toBe(true);
    expect(existsSync(path.join(unpacked, 'sharp/package.json'))).toBe(true);
    expect(existsSync(path.join(unpacked, '@img'))).toBe(true);
  });

  it('keeps only linux/x64 of onnxruntime-node in a Linux x64 package (build/after-pack.cjs)', () => {
    const bin = path.join(appDir, 'resources/app.asar.unpacked/node_modules/onnxruntime-node/bin');
    const folders = readdirSync(bin).flatMap((napi) =>
      readdirSync(path.join(bin, napi)).flatMap((platform) => readdirSync(path.join(bin, napi, platform)).map((arch) => `${platform}/${arch}`)),
    );
    expect(folders).toEqual(['linux/x64']);
    const unpackedMB = folderBytes(path.join(bin, '..')) / 2 ** 20;
    const installedMB = folderBytes(path.dirname(require.resolve('onnxruntime-node/package.json'))) / 2 ** 20;
    // The installed package holds every platform (~288 MB); the Linux x64 package keeps ~45 MB of it.
    expect(installedMB).toBeGreaterThan(200);
    expect(unpackedMB).toBeGreaterThan(20);
    expect(unpackedMB).toBeLessThan(60);
  });

  it('asks electron-builder to rebuild the native modules for Electron\'s ABI (this offline test turns it off)', () => {
    const config = readFileSync(path.join(root, 'electron-builder.yml'), 'utf8');
    // better-sqlite3 is not Node-API: the package must carry a build for Electron's ABI, not Node's.
    expect(config).toMatch(/^npmRebuild: true$/m);
    expect(config).toMatch(/^buildDependenciesFromSource: false$/m);
    expect(config).toMatch(/^afterPack: build\/after-pack\.cjs$/m);
    expect(existsSync(path.join(root, 'node_modules/better-sqlite3/binding.gyp'))).toBe(true);
    const napi = (name: string) => JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8'));
    // onnxruntime-node loads through Node-API (bin/napi-v*), so it needs no rebuild.
    expect(readdirSync(path.join(root, 'node_modules/onnxruntime-node/bin')).every((d) => d.startsWith('napi-v'))).toBe(true);
    expect(napi('better-sqlite3').scripts.install).toMatch(/prebuild-install/);
  });

  it('ships every file of resources/models as an extra resource', () => {
    const models = path.join(root, 'resources/models');
    const files = existsSync(models) ? readdirSync(models, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()) : [];
    for (const f of files) {
      const rel = path.relative(models, path.join(f.parentPath, f.name));
      expect(existsSync(path.join(appDir, 'resources/models', rel)), rel).toBe(true);
    }
    // While the embedded model is not there yet, at least the config must name the folder.
    if (files.length === 0) expect(readFileSync(path.join(root, 'electron-builder.yml'), 'utf8')).toMatch(/from: resources\/models/);
  });
});
