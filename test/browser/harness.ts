// Browser tests: the real renderer build, served by web mode over a temporary data folder, driven in
// the system Chromium through playwright-core. Screenshots land in test-artifacts/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createStudio, type Studio as Backend } from '../../electron/services/studio.ts';
import { startWebServer, type WebServer } from '../../electron/web/server.ts';
import { writeTinyPackage } from '../services/helpers.ts';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const artifactsDir = path.join(repoRoot, 'test-artifacts');

export function findChromium(): string {
  const candidates = [process.env.CHROME_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  for (const c of candidates) if (c && existsSync(c)) return c;
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('No Chromium found: run `apt-get install -y chromium` or set CHROME_PATH.');
  }
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function rendererStale(): boolean {
  const index = path.join(repoRoot, 'renderer/dist/index.html');
  const sources = Math.max(
    newestMtime(path.join(repoRoot, 'renderer/src')),
    newestMtime(path.join(repoRoot, 'renderer/public')),
    newestMtime(path.join(repoRoot, 'electron/api')),
    statSync(path.join(repoRoot, 'renderer/index.html')).mtimeMs,
    statSync(path.join(repoRoot, 'vite.config.ts')).mtimeMs,
  );
  return !existsSync(index) || statSync(index).mtimeMs < sources;
}

/**
 * Builds the renderer when renderer/dist is missing or older than its sources. Test files may run in
 * parallel processes: a lock folder lets one build while the others wait for it.
 */
export async function ensureRendererBuilt(): Promise<string> {
  const dist = path.join(repoRoot, 'renderer/dist');
  const lock = path.join(repoRoot, 'renderer/.build-lock');
  const deadline = Date.now() + 120_000;
  while (rendererStale()) {
    try {
      mkdirSync(lock);
    } catch {
      if (Date.now() > deadline) throw new Error(`Timed out waiting for another renderer build (remove ${lock} if none is running).`);
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    try {
      if (rendererStale()) {
        const { build } = await import('vite');
        await build({ configFile: path.join(repoRoot, 'vite.config.ts'), root: path.join(repoRoot, 'renderer'), logLevel: 'error' });
      }
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  return dist;
}

export interface Studio {
  dataDir: string;
  server: WebServer;
  backend: Backend;
  browser: BrowserContext;
  page: Page;
  /** Errors the page logged or threw; tests assert there are none. */
  pageErrors: string[];
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * The studio in web mode over a fresh data folder whose embedded models folder holds one tiny random
 * model package ("probe": real graphs, real worker, seconds per image), unless `withModel` is false.
 */
export async function launchStudio(options: { withModel?: boolean } = {}): Promise<Studio> {
  const staticDir = await ensureRendererBuilt();
  const root = mkdtempSync(path.join(os.tmpdir(), 'ldm-browser-'));
  const dataDir = path.join(root, 'data');
  const embeddedModelsDir = path.join(root, 'embedded');
  mkdirSync(embeddedModelsDir);
  if (options.withModel !== false) await writeTinyPackage(path.join(embeddedModelsDir, 'probe'));
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'ldm-chromium-'));
  const backend = await createStudio({ dataDir, transport: 'web', embeddedModelsDir, allowedDirs: [root] });
  const server = await startWebServer({ backend, staticDir, port: 0 });
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: findChromium(),
    headless: true,
    viewport: { width: 1360, height: 860 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(msg.text());
  });
  await page.goto(server.url);
  mkdirSync(artifactsDir, { recursive: true });
  return {
    dataDir,
    server,
    backend,
    browser,
    page,
    pageErrors,
    async screenshot(name) {
      const file = path.join(artifactsDir, `${name}.png`);
      await page.screenshot({ path: file });
      return file;
    },
    async close() {
      await browser.close();
      await server.close();
      await backend.close();
      rmSync(root, { recursive: true, force: true });
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
