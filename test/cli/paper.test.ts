// `ldm paper`: the paper's releases from the terminal, on tiny files in their exact key layout.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers.ts';
import { readPngText } from '../../electron/engine/io/png-metadata.ts';
import { writeTinyRelease } from '../engine/families/ldm-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'ldm-paper-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await writeTinyRelease('cin', join(dir, 'cin.ckpt'), null);
  await writeTinyRelease('vq-f4', null, join(dir, 'vq.safetensors'));
  await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 200, g: 40, b: 90 } } }).png().toFile(join(dir, 'in.png'));
});

describe('ldm paper', () => {
  it('--info names the release and what was assumed', async () => {
    const r = await cli('paper', join(dir, 'cin.ckpt'), '--info');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^class-conditional LDM \(1001 classes, class 1000 = none, for guidance\), vq-f4 first stage/);
    expect(r.stdout).toMatch(/"release": "cin256-v2"/);
    expect(r.stdout).toMatch(/EMA copy/);
  });

  it('samples a class by name into a PNG with its parameters', async () => {
    const out = join(dir, 'panda.png');
    const r = await cli('paper', join(dir, 'cin.ckpt'), '--class', 'giant panda', '--steps', '2', '--size', '32x32', '--cfg', '2', '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const png = new Uint8Array(readFileSync(out));
    expect((await sharp(png).metadata()).width).toBe(32);
    expect(readPngText(png).get('parameters')).toMatch(/^class giant panda\nSteps: 2, Sampler: DDIM, CFG scale: 2, Seed: 0, Size: 32x32, Model: cin, Release: cin256-v2$/);
  });

  it('runs an autoencoder round trip; usage errors say what is missing', async () => {
    const out = join(dir, 'rt.png');
    const r = await cli('paper', join(dir, 'vq.safetensors'), '--image', join(dir, 'in.png'), '--out', out);
    expect(r.stdout).toMatch(/encoded and decoded, 32×32/);
    expect((await cli('paper', join(dir, 'vq.safetensors'), '--out', out)).stderr).toMatch(/vq-f4 needs --image FILE/);
    expect((await cli('paper', join(dir, 'cin.ckpt'), '--out', out)).stderr).toMatch(/needs --class N/);
  });
});
