// Runs the real electron-builder config offline: a directory build for Linux with a stub Electron
// (the real binary cannot be downloaded here), then checks what went into the asar and what stayed out.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureRendererBuilt } from '../browser/harness.ts';

const require = createRequire(import.meta.url);
const asar = require('@electron/asar') as { listPackage(archive: string, options: object): string[] };
const root = path.resolve(import.meta.dirname, '../..');

describe('electron-builder directory build', () => {
  let tmp: string;
  let appDir: string;
  beforeAll(async () => {
    await ensureRendererBuilt();
    execFileSync(process.execPath, ['scripts/build-electron.mjs'], { cwd: root, stdio: 'pipe' });
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
    for (const f of ['/package.json', '/dist/electron/shell/main.js', '/dist/electron/shell/preload.cjs', '/renderer/dist/index.html']) {
      expect(files).toContain(f);
    }
    expect(files.some((f) => /^\/renderer\/dist\/assets\/index-.*\.js$/.test(f))).toBe(true);
    expect(files.some((f) => f.endsWith('.map'))).toBe(false);
    expect(files.some((f) => f.startsWith('/electron/'))).toBe(false);
    expect(files.some((f) => f.startsWith('/node_modules/electron/'))).toBe(false);
  });

  it('unpacks the native modules from the asar', () => {
    const unpacked = path.join(appDir, 'resources/app.asar.unpacked/node_modules');
    expect(existsSync(path.join(unpacked, 'onnxruntime-node/bin'))).toBe(true);
    expect(existsSync(path.join(unpacked, 'better-sqlite3/build/Release/better_sqlite3.node'))).toBe(true);
    expect(existsSync(path.join(unpacked, 'sharp/package.json'))).toBe(true);
    expect(existsSync(path.join(unpacked, '@img'))).toBe(true);
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
