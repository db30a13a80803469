// `ldm generate --weights int8|int4` (issue 13): the embedded model sampled with int8 linear weights
// gives nearly the fp32 picture for the same seed; a wrong value is refused with the choices.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../../cli/helpers.ts';

let root: string;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-quant-cli-'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

async function pixels(file: string): Promise<Buffer> {
  return sharp(file).removeAlpha().raw().toBuffer();
}

function psnr(a: Buffer, b: Buffer): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  return se === 0 ? Infinity : 10 * Math.log10((255 * 255) / (se / a.length));
}

describe('ldm generate --weights', () => {
  it('int8 keeps the fp32 picture for a seed (PSNR > 35 dB)', async () => {
    const out: Record<string, string> = {};
    for (const w of ['fp32', 'int8']) {
      out[w] = path.join(root, `${w}.png`);
      const r = await cli('generate', 'a smiling face', '--seed', '3', '--steps', '4', '--model', 'emoji-ldm-32', '--weights', w, '--out', out[w]!, '--quiet', '--threads', '1');
      expect(r.code, r.stderr).toBe(0);
    }
    const base = await pixels(out.fp32!);
    const p8 = psnr(await pixels(out.int8!), base);
    expect(p8).toBeGreaterThan(35);
    expect(p8).toBeLessThan(Infinity); // the weights did change
  });

  it('refuses an unknown precision with the choices', async () => {
    const r = await cli('generate', 'x', '--model', 'emoji-ldm-32', '--weights', 'int2', '--out', path.join(root, 'x.png'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--weights must be one of fp32, int8, int4, got 'int2'/);
  });
});
