import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { dispatch, type StudioBackend } from '../../electron/api/dispatch.ts';
import { StudioError } from '../../electron/api/contract.ts';
import { startWebServer, type WebServer } from '../../electron/web/server.ts';
import { createStudio } from '../../electron/services/studio.ts';
import { parseWebArgs } from '../../electron/web/main.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');

function rpc(url: string, messages: object[]): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const replies: any[] = [];
    ws.on('open', () => messages.forEach((m) => ws.send(JSON.stringify(m))));
    ws.on('message', (data) => {
      replies.push(JSON.parse(data.toString()));
      if (replies.length === messages.length) {
        ws.close();
        resolve(replies.sort((a, b) => a.id - b.id));
      }
    });
    ws.on('error', reject);
  });
}

function rawGet(port: number, rawPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: rawPath }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('web transport', () => {
  let dir: string;
  let server: WebServer;
  let backend: StudioBackend;
  let wsUrl: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ldm-web-'));
    const staticDir = path.join(dir, 'dist');
    mkdirSync(path.join(staticDir, 'assets'), { recursive: true });
    writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>studio</title>');
    writeFileSync(path.join(staticDir, 'assets', 'app.js'), 'console.log(1)');
    writeFileSync(path.join(dir, 'secret.txt'), 'do not serve');
    const base = await createStudio({ dataDir: path.join(dir, 'data'), transport: 'web', embeddedModelsDir: path.join(dir, 'no-models') });
    backend = {
      ...base,
      handlers: {
        ...base.handlers,
        'history.get': async ({ id }) => {
          throw new StudioError(`No generation "${id}".`, 'not_found');
        },
        'history.prompts': async () => {
          throw new TypeError('boom');
        },
      },
    };
    server = await startWebServer({ backend, staticDir, port: 0 });
    wsUrl = `ws://127.0.0.1:${server.port}/ws?token=${server.token}`;
  });
  afterAll(async () => {
    await server.close();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers system.info over the socket and prints a loopback URL with the token', async () => {
    expect(server.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${server.port}/\\?token=[\\w-]{32}$`));
    const [reply] = await rpc(wsUrl, [{ t: 'req', id: 1, name: 'system.info', input: {} }]);
    expect(reply).toMatchObject({ t: 'res', id: 1, ok: true, output: { dataDir: path.join(dir, 'data'), transport: 'web' } });
    expect(reply.output.executionProviders).toContain('cpu');
  });

  it('validates input against the contract and returns errors as {code, message}', async () => {
    const replies = await rpc(wsUrl, [
      { t: 'req', id: 1, name: 'history.get', input: { id: 42 } },
      { t: 'req', id: 2, name: 'history.get', input: { id: 'abc' } },
      { t: 'req', id: 3, name: 'no.such', input: {} },
      { t: 'req', id: 4, name: 'history.prompts', input: {} },
      { t: 'req', id: 5, name: 'models.list', input: { kind: 'nonsense' } },
    ]);
    expect(replies[0].error.code).toBe('invalid_input');
    expect(replies[0].error.message).toMatch(/history\.get.*id/s);
    expect(replies[1].error).toEqual({ code: 'not_found', message: 'No generation "abc".' });
    expect(replies[2].error.code).toBe('unknown_request');
    expect(replies[3].error).toEqual({ code: 'internal', message: 'boom' });
    expect(replies[4].error.code).toBe('invalid_input');
  });

  it('refuses sockets without the right token', async () => {
    const bad = new WebSocket(`ws://127.0.0.1:${server.port}/ws?token=nope`);
    const result = await new Promise((resolve) => {
      bad.on('open', () => resolve('open'));
      bad.on('error', (err) => resolve(err.message));
    });
    expect(result).toMatch(/401/);
  });

  it('serves the renderer with a CSP and never files outside it', async () => {
    const base = `http://127.0.0.1:${server.port}`;
    const index = await fetch(`${base}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await fetch(`${base}/assets/app.js`)).headers.get('content-type')).toMatch(/javascript/);
    for (const raw of ['/..%2fsecret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt']) {
      const res = await rawGet(server.port, raw);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.body).not.toContain('do not serve');
    }
    expect((await fetch(`${base}/missing.js`)).status).toBe(404);
    expect(await (await fetch(`${base}/history`)).text()).toContain('<title>studio</title>');
  });

  it('says what to do when the port is taken', async () => {
    await expect(startWebServer({ backend, staticDir: path.join(dir, 'dist'), port: server.port })).rejects.toThrow(/already in use: pass --port N/);
  });

  it('dispatch rejects a prototype key as a request name', async () => {
    const reply = await dispatch(backend, 'toString', {});
    expect(reply).toMatchObject({ ok: false, error: { code: 'unknown_request' } });
  });
});

describe('npm run web', () => {
  it('parses its flags and rejects a bad port', () => {
    expect(parseWebArgs(['--data', 'x', '--port', '0'])).toMatchObject({ port: 0, host: '127.0.0.1', dataDir: path.resolve('x') });
    expect(() => parseWebArgs(['--port', 'abc'])).toThrow(/--port must be/);
  });

  it('takes --allow DIR, repeatable, for folders besides the data folder, and refuses a folder that is not there', () => {
    const a = mkdtempSync(path.join(os.tmpdir(), 'ldm-allow-'));
    try {
      expect(parseWebArgs(['--allow', a, '--allow', a]).allow).toEqual([a, a]);
      expect(() => parseWebArgs(['--allow', path.join(a, 'missing')])).toThrow(/--allow .*missing: no such folder/);
    } finally {
      rmSync(a, { recursive: true, force: true });
    }
  });

  it('starts, prints the URL, and serves system.info for its --data folder', async () => {
    const data = mkdtempSync(path.join(os.tmpdir(), 'ldm-webcli-'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'electron/web/main.ts', '--data', data, '--port', '0'], { cwd: repoRoot });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          const m = /Open (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.stderr.on('data', (d) => (out += d));
        child.on('exit', (code) => reject(new Error(`web mode exited with ${code}: ${out}`)));
      });
      const u = new URL(url);
      const [reply] = await rpc(`ws://${u.host}/ws?token=${u.searchParams.get('token')}`, [
        { t: 'req', id: 1, name: 'system.info', input: {} },
      ]);
      expect(reply.output.dataDir).toBe(data);
    } finally {
      child.kill('SIGTERM');
      rmSync(data, { recursive: true, force: true });
    }
  });
});
