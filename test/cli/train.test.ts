// `ldm train` end to end: a real child process SIGKILLed mid-run, then the same command line resumes
// from its last checkpoint and ends with exactly the LoRA of an uninterrupted run.
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS, usage } from '../../electron/cli/commands.ts';
import { runCli } from '../../electron/cli/main.ts';
import { trainCommand } from '../../electron/cli/train.ts';
import { loadSafetensors } from '../../electron/engine/io/safetensors.ts';
import { patternFolder, tinyBase } from '../engine/finetune/fixtures.ts';

let root: string;
let base: string;
let data: string;

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'cli-train-'));
  base = await tinyBase(path.join(root, 'base'));
  data = path.join(root, 'data');
  await patternFolder(data, 6);
}, 60_000);

afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

const args = (out: string) => ['train', '--data', data, '--base', base, '--method', 'lora', '--steps', '30', '--batch', '2', '--rank', '2', '--targets', 'attn', '--save-every', '3', '--threads', '1', '--trigger', 'zqx', '--out', out];

describe('ldm train', () => {
  it('trains a LoRA with progress lines, and a killed run resumes to the same result', async () => {
    const whole = path.join(root, 'whole.safetensors');
    const r = await cli(args(whole));
    expect(r.err).toContain('step 30/30 loss');
    expect(r.err).toMatch(/trained 30 steps on 6 pictures/);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(path.resolve(whole));

    const killed = path.join(root, 'killed.safetensors');
    const child = spawn(process.execPath, ['--import', 'tsx', 'electron/cli/main.ts', ...args(killed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    const killedAt = await new Promise<number>((resolve, reject) => {
      child.stderr.on('data', (b: Buffer) => {
        seen += b.toString();
        const m = [...seen.matchAll(/step (\d+)\/30/g)].map((x) => Number(x[1]));
        if (m.length && m.at(-1)! >= 7) {
          child.kill('SIGKILL');
          resolve(m.at(-1)!);
        }
      });
      child.on('exit', (code) => reject(new Error(`the child ended by itself (code ${code}) before step 7:\n${seen}`)));
    });
    expect(killedAt).toBeLessThan(30);
    await expect(fsp.access(killed)).rejects.toThrow(); // no result yet

    const again = await cli(args(killed));
    expect(again.code).toBe(0);
    const resumed = Number(/resumed from the checkpoint at step (\d+)/.exec(again.err)?.[1]);
    expect(resumed % 3).toBe(0);
    expect(resumed).toBeGreaterThanOrEqual(6);
    expect(resumed).toBeLessThanOrEqual(killedAt);
    const a = (await loadSafetensors(whole)).tensors;
    const b = (await loadSafetensors(killed)).tensors;
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, t] of a) expect(b.get(k)!.data).toEqual(t.data);
  }, 120_000);

  it('reports bad usage with exit code 2 and lists its flags in help', async () => {
    expect((await cli(['train', '--out', 'x.safetensors'])).err).toMatch(/needs --data DIR/);
    const bad = await cli(['train', '--data', data, '--method', 'dreambooth', '--out', 'x.safetensors']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--method must be one of lora, full, ti/);
    expect((await cli(['train', '--data', data, '--out', 'x.png'])).err).toMatch(/\.safetensors file/);
    expect((await cli(['train', '--data', data, '--targets', 'attn,nope', '--out', 'x.safetensors'])).code).toBe(2);
    const help = await cli(['help', 'train']);
    expect(help.out).toMatch(/--rank N/);
    expect((await cli(['help'])).out).toMatch(/train\s+fine-tune on a folder/);
  });

  it('is one of the COMMANDS table, listed with the others in help', () => {
    expect(COMMANDS.train).toBe(trainCommand);
    const rows = usage().split('\n').filter((l) => /^  \S/.test(l)).map((l) => l.trim().split(/\s+/)[0]);
    expect(rows).toEqual(Object.keys(COMMANDS));
    expect(rows).toEqual(expect.arrayContaining(['generate', 'models', 'train', 'serve']));
  });
});
