// The f-ablation's batched sampler (scripts/ablation/batch-sampler.ts) on tiny random snapshots in real
// onnxruntime sessions: a latent (f=4) and a pixel-space (f=1) one give 32×32 RGB pictures, the same for a
// seed and prompt wherever they sit in a batch, and the f=4 pictures are the studio's txt2img pictures.
import { afterAll, describe, expect, it } from 'vitest';
import type { UNetConfig } from '../../electron/engine/nn/config.ts';
import { randomWeights } from '../../electron/engine/nn/models.ts';
import type { RgbImage } from '../../electron/engine/pipelines/image.ts';
import { LoadedModel } from '../../electron/engine/pipelines/loaded-model.ts';
import { txt2img } from '../../electron/engine/pipelines/txt2img.ts';
import { BatchSampler, BatchSamplerError, type SnapshotNetworks } from '../../scripts/ablation/batch-sampler.ts';
import { byteTokenize, TINY_AUTOENCODER, TINY_TEXT, TINY_UNET, tinySpec, tinyWeights } from '../engine/pipelines/tiny-model.ts';

const PIXEL_UNET: UNetConfig = { ...TINY_UNET, inChannels: 3, outChannels: 3, modelChannels: 8, attentionResolutions: [2], normGroups: 4 };

function snapshot(f: 1 | 4): SnapshotNetworks {
  const pixel = f === 1;
  const w = tinyWeights(1);
  if (pixel) for (const [k, v] of nonZero(randomWeights({ unet: PIXEL_UNET }, 2))) w.set(k, v);
  return {
    unet: pixel ? PIXEL_UNET : TINY_UNET,
    textEncoder: TINY_TEXT,
    autoencoder: pixel ? null : TINY_AUTOENCODER,
    weights: { unet: w, textEncoder: w, decoder: pixel ? null : w },
    scaleFactor: pixel ? 1 : 0.5,
    tokenize: (t) => byteTokenize(t),
    imageSize: 32,
  };
}

/** The layers initialised to zero get small values, so the untrained UNet's prediction depends on its input. */
function nonZero(w: Map<string, Float32Array>): Map<string, Float32Array> {
  let s = 5;
  for (const [name, t] of w) {
    if (!name.endsWith('.weight') || t.some((v) => v !== 0)) continue;
    for (let i = 0; i < t.length; i++) t[i] = ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.2;
  }
  return w;
}

const samplers: BatchSampler[] = [];
afterAll(() => Promise.all(samplers.map((s) => s.close())));

async function open(f: 1 | 4, batch: number): Promise<BatchSampler> {
  const s = await BatchSampler.open(snapshot(f), { batch, steps: 2, guidance: 3, threads: 1 });
  samplers.push(s);
  return s;
}

function maxDiff(a: RgbImage, b: RgbImage): number {
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i]! - b.data[i]!));
  return m;
}

describe('f-ablation batch sampler', () => {
  for (const f of [4, 1] as const) {
    it(`f=${f}: 32×32 RGB pictures, deterministic per seed and prompt wherever they sit in the batch`, async () => {
      const s = await open(f, 2);
      const a = await s.sample(['a red heart', 'blue cat', 'square'], [7, 8, 9]);
      expect(a).toHaveLength(3);
      for (const img of a) expect([img.width, img.height, img.data.length]).toEqual([32, 32, 32 * 32 * 3]);
      const again = await s.sample(['a red heart', 'blue cat', 'square'], [7, 8, 9]);
      expect(again.map((i) => [...i.data])).toEqual(a.map((i) => [...i.data]));
      // reordered: seed 9's picture moves from a padded half batch to the front of a full one
      const moved = await s.sample(['square', 'a red heart'], [9, 7]);
      expect(maxDiff(moved[0]!, a[2]!)).toBeLessThanOrEqual(1);
      expect(maxDiff(moved[1]!, a[0]!)).toBeLessThanOrEqual(1);
      // different seeds and prompts give different pictures
      expect(maxDiff(a[0]!, a[1]!)).toBeGreaterThan(10);
    });
  }

  it('f=4: each picture is the one the studio\'s txt2img draws for its seed and prompt', async () => {
    const s = await open(4, 2);
    const mine = await s.sample(['a red heart', 'blue cat'], [11, 12]);
    const model = new LoadedModel(tinySpec({ kind: 'memory', tensors: tinyWeights(1) }), { provider: 'cpu', threads: 1 });
    try {
      for (const [i, prompt] of ['a red heart', 'blue cat'].entries()) {
        const [ref] = await txt2img(model, { prompt, seed: 11 + i, steps: 2, guidance: 3, sampler: 'ddim', width: 32, height: 32, previewEvery: 0 });
        expect(maxDiff(mine[i]!, ref!.image)).toBeLessThanOrEqual(1);
      }
    } finally {
      await model.release();
    }
  });

  it('refuses a snapshot whose UNet does not fit its latents, naming the channels', async () => {
    const bad = { ...snapshot(1), unet: { ...PIXEL_UNET, inChannels: 4, outChannels: 4 } };
    await expect(BatchSampler.open(bad, { batch: 1, steps: 1, guidance: 3 })).rejects.toThrow(BatchSamplerError);
    await expect(BatchSampler.open(bad, { batch: 1, steps: 1, guidance: 3 })).rejects.toThrow(/4 → 4 channels; the pictures have 3/);
  });
});
