// `ldm serve`: web mode from the CLI, on a free port, through the real HTTP server and WebSocket transport;
// in-process (stopped by the abort signal) and as a real process (stopped by SIGINT or SIGTERM).
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { runCli } from '../../electron/cli/main.ts';
import { startWebStudio } from '../../electron/web/main.ts';
import { ensureRendererBuilt } from '../browser/harness.ts';

let root: string;

beforeAll(async () => {
  await ensureRendererBuilt();
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-serve-'));
}, 120_000);
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

/** One request over the studio's WebSocket transport. */
function request(url: string, name: string, input: unknown): Promise<any> {
  const u = new URL(url);
  const ws = new WebSocket(`ws://${u.host}/ws?token=${u.searchParams.get('token')}`);
  return new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify({ t: 'req', id: 1, name, input })));
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.t !== 'res') return;
      ws.close();
      resolve(msg);
    });
  });
}

const urlIn = (s: string) => /Open (http:\/\/\S+)/.exec(s)?.[1];

describe('ldm serve', () => {
  it('serves the renderer and answers system.info over the WebSocket until aborted', async () => {
    const ac = new AbortController();
    let stdout = '';
    let stderr = '';
    let announced!: (url: string) => void;
    const started = new Promise<string>((r) => (announced = r));
    const dataDir = path.join(root, 'data');
    const done = runCli(['serve', '--data', dataDir, '--port', '0'], {
      stdout: { write: (s: string) => ((stdout += s), urlIn(stdout) && announced(urlIn(stdout)!)) },
      stderr: { write: (s: string) => (stderr += s) },
      signal: ac.signal,
    });
    const url = await Promise.race([started, done.then((code) => Promise.reject(new Error(`exited ${code}: ${stderr}`)))]);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=/);
    expect(new URL(url).port).not.toBe('7860');
    expect(stderr).toContain(`data in ${dataDir}`);

    const index = await fetch(new URL('/', url));
    expect(index.status).toBe(200);
    expect(await index.text()).toContain('<title>Latent Diffusion Studio</title>');
    const info = await request(url, 'system.info', {});
    expect(info).toMatchObject({ ok: true, output: { transport: 'web', dataDir } });

    ac.abort();
    expect(await done).toBe(0);
    await expect(fetch(new URL('/', url))).rejects.toThrow();
    // The data folder's lock is released: web mode can open it again at once.
    const again = await startWebStudio({ dataDir, port: 0, host: '127.0.0.1' }, () => {});
    await again.close();
  }, 30_000);

  it.each(['SIGINT', 'SIGTERM'] as const)('stops on %s as a real process, exit code 0', async (signal) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'electron/cli/main.ts', 'serve', '--data', path.join(root, signal), '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const u = urlIn(out);
        if (u) resolve(u);
      });
      void exited.then((code) => reject(new Error(`exited ${code} before serving: ${err}`)));
    });
    expect((await request(url, 'system.info', {})).ok).toBe(true);
    child.kill(signal);
    expect(await exited).toBe(0);
    expect(err).toContain('stopped');
  }, 30_000);

  it('rejects bad usage with exit code 2, and says how to build a missing renderer', async () => {
    const lines: string[] = [];
    const io = { stdout: { write: (s: string) => lines.push(s) }, stderr: { write: (s: string) => lines.push(s) }, signal: new AbortController().signal };
    expect(await runCli(['serve', '--port', '70000'], io)).toBe(2);
    expect(lines.join('')).toMatch(/--port must be a whole number from 0 to 65535/);
    expect(await runCli(['serve', 'extra'], io)).toBe(2);
    expect(await runCli(['help'], io)).toBe(0);
    expect(lines.join('')).toMatch(/serve\s+serve the studio to a web browser/);

    const empty = path.join(root, 'no-renderer');
    await fsp.mkdir(empty);
    const dataDir = path.join(root, 'missing');
    await expect(startWebStudio({ dataDir, port: 0, host: '127.0.0.1' }, () => {}, empty)).rejects.toThrow(
      /renderer is not built: .*index\.html is missing\. Run "npm run build:renderer"/,
    );
    // The studio it opened first is closed again: the data folder is free.
    await (await startWebStudio({ dataDir, port: 0, host: '127.0.0.1' }, () => {})).close();
  }, 30_000);
});
