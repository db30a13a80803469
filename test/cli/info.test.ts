// `ldm info`: what a picture carries, as A1111's PNG Info shows it, in text and JSON.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './helpers.ts';

const fixture = (name: string): string => new URL(`../fixtures/metadata/${name}`, import.meta.url).pathname;

describe('ldm info', () => {
  it('prints every field of an A1111 JPEG in A1111 order', async () => {
    const r = await cli('info', fixture('a1111.jpg'));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        'Read from: AUTOMATIC1111 (EXIF UserComment)',
        'Prompt: masterpiece, a cat on a windowsill,\n  (sunset:1.2), [blurry]',
        'Negative prompt: lowres, bad anatomy',
        'Steps: 28', 'Sampler: DPM++ 2M', 'Schedule type: Karras', 'CFG scale: 6.5', 'Seed: 3141592653', 'Size: 512x768',
        'Model hash: 6ce0161689', 'Model: v1-5-pruned-emaonly', 'VAE hash: 735e4c3a44', 'VAE: vae-ft-mse-840000-ema-pruned',
        'Variation seed: 1234', 'Variation seed strength: 0.3', 'Seed resize from: 448x640', 'Denoising strength: 0.45', 'Clip skip: 2',
        'ENSD: 31337', 'RNG: NV', 'Hires upscale: 2', 'Hires steps: 12', 'Hires upscaler: Latent',
        'Lora hashes: add_detail: 7c6bad76eb54, more_art: 0a8b3a1b2c3d', 'TI hashes: easynegative: c74b4e810b03', 'Emphasis: Original',
        'Version: v1.10.1', '',
      ].join('\n'),
    );
  });

  it('prints JSON lines for several files, with warnings, and says when there is nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ldm-info-'));
    const broken = join(dir, 'broken.png');
    writeFileSync(broken, Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), Buffer.alloc(30, 1)]));
    const r = await cli('info', '--json', fixture('comfyui.png'), broken);
    const [a, b] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; source: string | null; params: { prompt: string } | null; warnings: string[] });
    expect(a).toMatchObject({ source: 'comfyui', params: { prompt: 'a mountain lake at dawn AND a red canoe' }, warnings: [] });
    expect(b).toMatchObject({ file: broken, source: null, params: null });
    expect(b!.warnings[0]).toMatch(/^metadata unreadable: the PNG's chunks are damaged/);
    const text = await cli('info', broken);
    expect(text.stdout).toMatch(/^no generation parameters in .*broken\.png \(PNG\)\nwarning: metadata unreadable: /);
  });

  it('explains bad use', async () => {
    expect(await cli('info')).toMatchObject({ code: 2, stderr: "ldm: 'ldm info' needs a picture, e.g. ldm info image.png\n" });
    expect((await cli('info', '/no/such.png')).stderr).toMatch(/cannot read \/no\/such\.png: no such file/);
  });
});
