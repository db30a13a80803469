// The ×4 super-resolution stage's pieces (scripts/embedded): the 128² data from SVG, the measures
// against an independent numpy reference, the training crops, and the release layout the studio opens;
// and the inpainting stage's masks and widened first convolution.
import { promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../electron/engine/diffusion/rng.ts';
import { saveSafetensors } from '../../electron/engine/io/safetensors.ts';
import type { AutoencoderConfig, UNetConfig } from '../../electron/engine/nn/config.ts';
import { randomWeights } from '../../electron/engine/nn/models.ts';
import { openRelease, upscale } from '../../electron/engine/pipelines/release.ts';
import type { RgbImage } from '../../electron/engine/pipelines/image.ts';
import { emojiKey, renderSvg, splitSprite } from '../../scripts/embedded/emoji-svg.ts';
import { srReleaseTensors } from '../../scripts/embedded/package-sr.ts';
import { mse, psnrOf, ssim, type SrDataset } from '../../scripts/embedded/sr-data.ts';
import { INPAINT_UNET, inpaintStartWeights, randomMask } from '../../scripts/embedded/train-inpaint.ts';
import { srCropBatch, type SrLatents } from '../../scripts/embedded/train-sr.ts';

describe('emoji SVG set', () => {
  it('names emoji as both packages do, without variation selectors', () => {
    expect(emojiKey('0023-fe0f-20e3.png')).toBe('0023-20e3');
    expect(emojiKey('0023-FE0F-20E3')).toBe('0023-20e3');
    expect(emojiKey('1F468-1F3FB-200D-1F33E')).toBe('1f468-1f3fb-200d-1f33e');
  });

  it('splits a sprite into standalone drawings and renders them on white, letterboxing wide ones', () => {
    const sprite = '<svg viewBox="0 0 2000 2000" xmlns="http://www.w3.org/2000/svg">'
      + '<svg viewBox="0 0 128 128" id="1F534" xmlns="http://www.w3.org/2000/svg"><circle cx="64" cy="64" r="60" fill="#f00"/></svg>'
      + '<svg style="x" viewBox="0 0 2 1" id="1F1EF-1F1F5" xmlns="http://www.w3.org/2000/svg"><rect width="2" height="1" fill="#00f"/></svg>'
      + '</svg>';
    const svgs = splitSprite(sprite);
    expect([...svgs.keys()]).toEqual(['1f534', '1f1ef-1f1f5']);
    const red = renderSvg(svgs.get('1f534')!, 16);
    const at = (img: Uint8Array, c: number, y: number, x: number) => img[c * 256 + y * 16 + x]!;
    expect([at(red, 0, 8, 8), at(red, 1, 8, 8), at(red, 2, 8, 8)]).toEqual([255, 0, 0]);
    expect([at(red, 0, 0, 0), at(red, 1, 0, 0), at(red, 2, 0, 0)]).toEqual([255, 255, 255]); // corner: white, not black
    const flag = renderSvg(svgs.get('1f1ef-1f1f5')!, 16);
    expect([at(flag, 0, 8, 8), at(flag, 2, 8, 8)]).toEqual([0, 255]); // centre: the flag
    expect([at(flag, 0, 1, 8), at(flag, 2, 1, 8)]).toEqual([255, 255]); // top band: white letterbox
  });
});

describe('measures (scripts/reference/ssim.py)', () => {
  const ref = JSON.parse(readFileSync('test/fixtures/sr/measures.json', 'utf8')) as Record<string, number>;
  const n = ref.size!;
  const make = (f: (c: number, y: number, x: number) => number) => {
    const out = new Uint8Array(3 * n * n);
    for (let c = 0; c < 3; c++) for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) out[c * n * n + y * n + x] = f(c, y, x);
    return out;
  };
  const a = make((c, y, x) => (x * 7 + y * 13 + c * 50) % 256);
  const b = make((c, y, x) => Math.min(255, Math.max(0, ((x * 7 + y * 13 + c * 50) % 256) + ((x * y * 31 + c * 17) % 41) - 20)));
  const flat = make(() => 200);

  it('SSIM matches the numpy reference', () => {
    expect(ssim(a, b, n)).toBeCloseTo(ref.ssim_a_b!, 10);
    expect(ssim(a, a, n)).toBeCloseTo(1, 12);
    expect(ssim(a, flat, n)).toBeCloseTo(ref.ssim_a_flat!, 10);
  });

  it('PSNR matches the numpy reference', () => {
    expect(psnrOf(mse(a, b))).toBeCloseTo(ref.psnr_a_b!, 10);
  });
});

describe('training crops', () => {
  it('crop the latents and the low-resolution picture at the same place, flipped together', () => {
    const s = 8;
    const count = 2;
    const c = 4;
    // every value says where it came from: picture i, channel, row, column
    const code = (i: number, ch: number, y: number, x: number) => i * 1000 + ch * 100 + y * 10 + x;
    const moments = new Float32Array(count * 2 * c * s * s);
    const low = new Uint8Array(count * 3 * s * s);
    for (let i = 0; i < count; i++) for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) {
      for (let ch = 0; ch < c; ch++) moments[i * 2 * c * s * s + ch * s * s + y * s + x] = code(i, ch, y, x); // std 0
      for (let ch = 0; ch < 3; ch++) low[i * 3 * s * s + ch * s * s + y * s + x] = y * s + x;
    }
    const ds = { high: { size: 32, samples: [], pixels: new Uint8Array(0) }, low, lowSize: s } as SrDataset;
    const lat: SrLatents = { moments, scaleFactor: 1, channels: c, size: s };
    const crop = 4;
    const { latents, concat } = srCropBatch(ds, lat, [1, 0, 1, 1], crop, new Rng(3));
    let flipped = 0;
    for (let k = 0; k < 4; k++) {
      for (let y = 0; y < crop; y++) for (let x = 0; x < crop; x++) {
        const v = latents[((k * c + 0) * crop + y) * crop + x]!;
        const [i, sy, sx] = [Math.floor(v / 1000), Math.floor((v % 100) / 10), v % 10];
        expect(i).toBe([1, 0, 1, 1][k]);
        expect(latents[((k * c + 3) * crop + y) * crop + x]).toBe(code(i, 3, sy, sx));
        expect((concat[((k * 3 + 2) * crop + y) * crop + x]! + 1) * 127.5).toBeCloseTo(sy * s + sx, 3);
        if (x === 0 && y === 0) {
          const right = latents[((k * c) * crop) * crop + 1]! % 10;
          if (right < sx) flipped++;
        }
      }
    }
    expect(flipped).toBeGreaterThan(0); // some crops were mirrored
    expect(flipped).toBeLessThan(4);
  });
});

describe('release layout', () => {
  const ae: AutoencoderConfig = {
    kind: 'kl', ch: 32, chMult: [1, 1, 1], numResBlocks: 1, attnResolutions: [], resolution: 32,
    inChannels: 3, outCh: 3, zChannels: 4, embedDim: 4, normGroups: 32,
  };
  const unet: UNetConfig = {
    inChannels: 7, outChannels: 4, modelChannels: 32, channelMult: [1, 1], numResBlocks: 1, attentionResolutions: [],
    numHeadChannels: 32, transformerDepth: 1, contextDim: null, normGroups: 32, legacyAttention: true,
  };
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-sr-'));
    file = path.join(dir, 'tiny-sr.safetensors');
    const w = randomWeights({ unet, autoencoder: ae }, 5);
    await saveSafetensors(file, srReleaseTensors(unet, w, ae, w, 0.75, { kind: 'scaled_linear', betaStart: 0.0015, betaEnd: 0.0155, trainTimesteps: 1000 }));
  });
  afterAll(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('opens as a super-resolution release with its scale factor and schedule from the file, and upscales ×4 per seed', async () => {
    const model = await openRelease(file, 'tiny-sr', '');
    try {
      expect(model.release.task).toBe('super-resolution');
      expect(model.release.concatChannels).toBe(3);
      expect(model.ldm.scaleFactor).toBeCloseTo(0.75, 6);
      expect(model.schedulerConfig.betaStart).toBeCloseTo(0.0015, 6);
      expect(model.schedulerConfig.betaEnd).toBeCloseTo(0.0155, 6);
      const data = new Uint8Array(8 * 8 * 3).map((_, i) => (i * 37) % 256);
      const image: RgbImage = { width: 8, height: 8, data };
      const run = async (seed: number) => (await upscale(model, { image, seed, steps: 3, sampler: 'ddim', previewEvery: 0 }))[0]!.image;
      const a = await run(1);
      expect([a.width, a.height]).toEqual([32, 32]);
      expect(Buffer.from((await run(1)).data).equals(Buffer.from(a.data))).toBe(true);
      expect(Buffer.from((await run(2)).data).equals(Buffer.from(a.data))).toBe(false);
    } finally {
      await model.close();
    }
  });
});

describe('inpainting stage (prepared)', () => {
  it('draws masks of every kind, inside the picture, from the seed alone', () => {
    const rng = new Rng(11);
    const masks = Array.from({ length: 60 }, () => randomMask(rng, 32));
    const covered = masks.map((m) => m.reduce((a, v) => a + v, 0) / m.length);
    expect(masks.every((m) => m.every((v) => v === 0 || v === 1))).toBe(true);
    expect(covered.some((c) => c === 1)).toBe(true); // the whole picture now and then
    expect(covered.filter((c) => c > 0 && c < 1).length).toBeGreaterThan(45);
    // an outpainting border touches an edge on a whole side
    const fullSide = (m: Float32Array) => [0, 31].some((y) => m.subarray(y * 32, y * 32 + 32).every((v) => v === 1))
      || [0, 31].some((x) => Array.from({ length: 32 }, (_, y) => m[y * 32 + x]).every((v) => v === 1));
    expect(masks.filter((m, i) => covered[i]! < 1 && fullSide(m)).length).toBeGreaterThan(5);
    const again = new Rng(11);
    expect(Array.from(randomMask(again, 32))).toEqual(Array.from(masks[0]!));
  });

  it('widens the first convolution to 9 channels, the text model\'s 4 kept and the new 5 zero', () => {
    const cfg = { ...INPAINT_UNET, modelChannels: 2 };
    const old = Float32Array.from({ length: 2 * 4 * 9 }, (_, i) => i + 1);
    const w = inpaintStartWeights(new Map([['model.diffusion_model.input_blocks.0.0.weight', old], ['other', Float32Array.of(7)]]), cfg, 4);
    const wide = w.get('model.diffusion_model.input_blocks.0.0.weight')!;
    expect(wide.length).toBe(2 * 9 * 9);
    for (let o = 0; o < 2; o++) {
      expect(Array.from(wide.subarray(o * 81, o * 81 + 36))).toEqual(Array.from(old.subarray(o * 36, o * 36 + 36)));
      expect(wide.subarray(o * 81 + 36, o * 81 + 81).every((v) => v === 0)).toBe(true);
    }
    expect(w.get('other')).toEqual(Float32Array.of(7));
  });
});
