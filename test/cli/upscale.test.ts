// `ldm upscale`: Upscale ×4 from the terminal with a super-resolution model in the paper's layout, named by
// file (.ckpt through the restricted reader) or found in the models folder (a KL-f4 one of our own).
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readGenerationParams } from '../../electron/engine/io/generation-params.ts';
import { writeTinyRelease } from '../engine/families/ldm-fixtures.ts';
import { cli } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ldm-upscale-'));
const modelsDir = join(dir, 'models');
const saved = process.env.LDM_MODELS_DIR;
beforeAll(async () => {
  await writeTinyRelease('sr', join(dir, 'bsr_sr.ckpt'), null);
  await writeTinyRelease('cin', null, join(dir, 'cin.safetensors'));
  mkdirSync(join(modelsDir, 'emoji-sr'), { recursive: true });
  await writeTinyRelease('sr-kl', null, join(modelsDir, 'emoji-sr', 'emoji-sr.safetensors'));
  await sharp({ create: { width: 10, height: 9, channels: 3, background: { r: 30, g: 120, b: 200 } } }).png().toFile(join(dir, 'in.png'));
});
afterEach(() => {
  if (saved === undefined) delete process.env.LDM_MODELS_DIR;
  else process.env.LDM_MODELS_DIR = saved;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ldm upscale', () => {
  it('upscales ×4 with --model FILE.ckpt into a PNG with its parameters', async () => {
    const out = join(dir, 'big.png');
    const r = await cli('upscale', join(dir, 'in.png'), '--out', out, '--model', join(dir, 'bsr_sr.ckpt'), '--steps', '2', '--seed', '3', '-q');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/big\.png: 10×9 → 40×36 with bsr_sr \(2 steps, seed 3\)/);
    const png = readFileSync(out);
    expect(await sharp(png).metadata()).toMatchObject({ width: 40, height: 36 });
    const p = readGenerationParams(png)!;
    expect(p).toMatchObject({ steps: 2, seed: 3, width: 40, height: 36, model: 'bsr_sr' });
    expect(p.extras).toMatchObject({ 'Postprocess upscale by': '4', 'Postprocess upscaler': 'bsr_sr' });
  });

  it('finds a super-resolution model in the models folder without --model; says what is wrong otherwise', async () => {
    process.env.LDM_MODELS_DIR = modelsDir;
    const out = join(dir, 'kl.png');
    const r = await cli('upscale', join(dir, 'in.png'), '--out', out, '--steps', '2', '-q');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/10×9 → 40×36 with emoji-sr/);
    process.env.LDM_MODELS_DIR = join(dir, 'nothing-here');
    expect((await cli('upscale', join(dir, 'in.png'), '--out', out)).stderr).toMatch(/no super-resolution model is installed .*pass --model FILE/);
    expect((await cli('upscale', join(dir, 'in.png'), '--out', out, '--model', join(dir, 'cin.safetensors'))).stderr).toMatch(/class-conditional LDM .*not a super-resolution model/);
    expect((await cli('upscale', join(dir, 'in.png'))).stderr).toMatch(/--out FILE\.png is required/);
  });
});
