// The data-folder lock under simultaneous starts: exactly one process gets it, every other one is refused
// with the holder's process id; the lock goes with its process (a killed holder leaves no stale lock).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { lockDataDir } from '../../electron/services/lock.ts';

const RACER = fileURLToPath(new URL('./fixtures/lock-racer.ts', import.meta.url));
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Starts n contenders, says "go" to all of them at once, and lets the winner go once all have answered. */
async function race(dataDir: string, n: number): Promise<string[]> {
  const children = Array.from({ length: n }, () => spawn(process.execPath, ['--import', 'tsx', RACER, dataDir], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const lines = children.map((child) => {
    const queue: string[] = [];
    const waiters: ((l: string) => void)[] = [];
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      for (let k = buf.indexOf('\n'); k >= 0; k = buf.indexOf('\n')) {
        const line = buf.slice(0, k);
        buf = buf.slice(k + 1);
        const w = waiters.shift();
        if (w) w(line);
        else queue.push(line);
      }
    });
    return () => new Promise<string>((resolve) => (queue.length ? resolve(queue.shift()!) : waiters.push(resolve)));
  });
  expect(await Promise.all(lines.map((next) => next()))).toEqual(Array(n).fill('ready'));
  for (const c of children) c.stdin.write('go\n');
  const answers = await Promise.all(lines.map((next) => next()));
  await Promise.all(children.map((c) => new Promise((r) => (c.once('close', r), c.stdin.end()))));
  return answers;
}

describe('data-folder lock', () => {
  it('lets exactly one of many simultaneous starts take the folder', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ldm-lock-'));
    dirs.push(dataDir);
    const contenders = 6;
    const rounds = 1;
    for (let round = 0; round < rounds; round++) {
      const results = await race(dataDir, contenders);
      const winners = results.filter((r) => r.startsWith('locked'));
      expect(winners, results.join(' | ')).toHaveLength(1);
      for (const r of results.filter((x) => !x.startsWith('locked'))) expect(r).toMatch(/^refused .*open in another studio/);
    }
  }, 90_000);

  it('refuses a second lock in the same process with the holder\'s pid, and frees it on release or on death', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ldm-lock-'));
    dirs.push(dataDir);
    const unlock = lockDataDir(dataDir);
    expect(() => lockDataDir(dataDir)).toThrow(new RegExp(`open in another studio \\(process ${process.pid}\\)`));
    unlock();
    lockDataDir(dataDir)();
    // A holder killed with SIGKILL: the system drops its lock, nothing stale is left to take over.
    const child = spawn(process.execPath, ['--import', 'tsx', RACER, dataDir], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stdin.write('go\n');
    while (!out.includes('locked')) await new Promise((r) => setTimeout(r, 20));
    expect(() => lockDataDir(dataDir)).toThrow(/open in another studio/);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    lockDataDir(dataDir)();
  }, 30_000);
});
