// Tiled VAE decode/encode (issue 13): tiles laid flush with the picture's edges, blend weights that add
// up to 1, exact results for a convolution-only network whose receptive field the overlap covers, and
// the embedded model's autoencoder tiled against untiled (GroupNorm and attention see one tile only).
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conv2d, upsample } from '../../../electron/engine/nn/layers.ts';
import { Graph } from '../../../electron/engine/onnx/graph.ts';
import { createSession, type Session } from '../../../electron/engine/onnx/runtime.ts';
import { toModelProto } from '../../../electron/engine/onnx/serialize.ts';
import { loadModel, type LoadedModel } from '../../../electron/engine/pipelines/loaded-model.ts';
import { decodeMaybeTiled, encodeMaybeTiled, runTiled, tileStarts } from '../../../electron/engine/pipelines/tiled-vae.ts';
import { tensor, type TensorData } from '../../../electron/engine/tensor.ts';
import { randomTensor, weightsFor } from '../nn/helpers.ts';

const MODEL_DIR = path.resolve('resources/models/emoji-ldm-32');

function diff(a: TensorData, b: TensorData): { max: number; mean: number } {
  expect(a.shape).toEqual(b.shape);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs((a.data[i] as number) - (b.data[i] as number));
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.data.length };
}

/** A convolution-only stand-in for a decoder: conv 3×3 → nearest ×2 → conv 3×3 (receptive field ±2 latent cells). */
async function convDecoder(h: number, w: number): Promise<Session> {
  const g = new Graph('conv_decoder');
  const x = g.input('z', 'float32', [1, 4, h, w]);
  const a = conv2d(g, 'in', x, 4, 8, { kernel: 3, padding: 1 });
  g.output(conv2d(g, 'out', upsample(g, 'up', g.silu(a), 8), 8, 3, { kernel: 3, padding: 1 }), 'y');
  const weights = weightsFor(g, 3);
  return createSession(toModelProto(g, { kind: 'embedded', get: (n) => tensor('float32', g.params.get(n)!.shape, weights.get(n)!) }), { provider: 'cpu', threads: 1 });
}

describe('tiling', () => {
  it('lays tiles every tile − overlap, the last one flush with the end', () => {
    expect(tileStarts(100, 64, 16)).toEqual([0, 36]);
    expect(tileStarts(160, 64, 16)).toEqual([0, 48, 96]);
    expect(tileStarts(64, 64, 16)).toEqual([0]);
    expect(tileStarts(40, 64, 16)).toEqual([0]);
    expect(() => tileStarts(100, 16, 16)).toThrow(/smaller than the tile/);
  });

  it('gives a convolution-only network\'s untiled output exactly when the overlap covers its receptive field', async () => {
    const z = randomTensor([1, 4, 20, 26], 9);
    const whole = await convDecoder(20, 26);
    const tile = await convDecoder(12, 12);
    try {
      const want = (await whole.run({ z })).y as TensorData<'float32'>;
      let calls = 0;
      const got = await runTiled(z, async (t) => {
        calls++;
        return (await tile.run({ z: t })).y as TensorData<'float32'>;
      }, { unit: 1, outUnit: 2, tile: 12, overlap: 8 });
      expect(calls).toBe(tileStarts(20, 12, 8).length * tileStarts(26, 12, 8).length);
      expect(got.shape).toEqual([1, 3, 40, 52]);
      expect(diff(got, want).max).toBeLessThan(1e-5);
      // too little overlap: the tiles' zero padding shows
      const thin = await runTiled(z, async (t) => (await tile.run({ z: t })).y as TensorData<'float32'>, { unit: 1, outUnit: 2, tile: 12, overlap: 2 });
      expect(diff(thin, want).max).toBeGreaterThan(1e-3);
    } finally {
      await whole.release();
      await tile.release();
    }
  });

  it('tiles only above the threshold, with tile and overlap in picture pixels', async () => {
    const seen: number[][] = [];
    const nearest = async (t: TensorData<'float32'>) => {
      seen.push([...t.shape]);
      const [b, c, h, w] = t.shape as [number, number, number, number];
      const out = new Float32Array(b * c * h * 8 * w * 8);
      for (let p = 0; p < b * c; p++) for (let y = 0; y < h * 8; y++) for (let x = 0; x < w * 8; x++) out[(p * h * 8 + y) * w * 8 + x] = t.data[(p * h + (y >> 3)) * w + (x >> 3)]!;
      return tensor('float32', [b, c, h * 8, w * 8], out);
    };
    await decodeMaybeTiled(randomTensor([1, 4, 64, 64], 1), 8, nearest);
    expect(seen).toEqual([[1, 4, 64, 64]]); // 512²: whole
    seen.length = 0;
    const z = randomTensor([1, 4, 64, 96], 2);
    const out = await decodeMaybeTiled(z, 8, nearest); // 768×512: two 512² tiles
    expect(seen).toEqual([[1, 4, 64, 64], [1, 4, 64, 64]]);
    expect(diff(out, await nearest(z)).max).toBeLessThan(1e-6); // a pointwise network: tiling changes nothing
    seen.length = 0;
    await decodeMaybeTiled(z, 8, nearest, false);
    expect(seen.length).toBe(1);
    await expect(encodeMaybeTiled(randomTensor([1, 3, 600, 600], 3), 8, async (x) => x, { above: 0, tile: 100, overlap: 16 })).rejects.toThrow(/multiples of the autoencoder's factor 8/);
  });
});

describe('tiled VAE on the embedded model', () => {
  let tiled: LoadedModel;
  let whole: LoadedModel;
  beforeAll(async () => {
    // 64-pixel tiles with 32 of overlap (16×16 latent cells, 8 of overlap) on a 128×96 picture: 3×2 tiles
    tiled = await loadModel(MODEL_DIR, { provider: 'cpu', threads: 1, vaeTiling: { above: 0, tile: 64, overlap: 32 } });
    whole = await loadModel(MODEL_DIR, { provider: 'cpu', threads: 1, vaeTiling: false });
  });
  afterAll(async () => {
    await tiled?.release();
    await whole?.release();
  });

  it('decodes and encodes close to the untiled networks (GroupNorm sees one tile: a small shift, no seam)', async () => {
    const [W, H] = [128, 96];
    const { data } = await sharp(path.join(MODEL_DIR, 'samples.png')).resize(W, H).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const x = new Float32Array(3 * H * W);
    for (let c = 0; c < 3; c++) for (let i = 0; i < H * W; i++) x[c * H * W + i] = data[i * 3 + c]! / 127.5 - 1;
    const image = tensor('float32', [1, 3, H, W], x);
    const z = await whole.encodeImage(image);
    const enc = diff(await tiled.encodeImage(image), z);
    const dec = diff(await tiled.decodeLatents(z), await whole.decodeLatents(z));
    // measured 2026-11-30: decode max 0.30 / mean 0.032, encode max 0.23 / mean 0.051 (pictures in [−1, 1], latents ~0.85 mean |z|)
    console.log(`tiled vs untiled, ${W}×${H}, 64-px tiles, 32 overlap: decode max ${dec.max.toFixed(3)} mean ${dec.mean.toFixed(4)}; encode max ${enc.max.toFixed(3)} mean ${enc.mean.toFixed(4)}`);
    expect(dec.mean).toBeLessThan(0.05);
    expect(dec.max).toBeLessThan(0.5);
    expect(enc.mean).toBeLessThan(0.08);
    expect(enc.max).toBeLessThan(0.4);
  });
});
