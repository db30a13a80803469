import { describe, expect, it } from 'vitest';
import { float32 } from '../../../electron/engine/tensor.ts';
import { fitPreviewProjection, projectPreview } from '../../../electron/engine/pipelines/preview.ts';
import { PipelineError } from '../../../electron/engine/pipelines/errors.ts';

// Deterministic pseudo-random numbers (LCG) so the fixture is the same everywhere.
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

describe('preview projection', () => {
  const truth = { weights: [[0.3, -0.2, 0.1, 0.05], [0.1, 0.25, -0.3, 0], [-0.15, 0.05, 0.2, 0.3]], bias: [0.1, -0.05, 0.02] };

  function sample(rand: () => number, h: number, w: number) {
    const c = 4;
    const z = Float32Array.from({ length: c * h * w }, rand);
    const img = new Float32Array(3 * h * w);
    for (let o = 0; o < 3; o++) {
      for (let p = 0; p < h * w; p++) {
        let v = truth.bias[o]!;
        for (let k = 0; k < c; k++) v += truth.weights[o]![k]! * z[k * h * w + p]!;
        img[o * h * w + p] = v + 0.001 * rand();
      }
    }
    return { latent: float32([1, c, h, w], z), image: float32([1, 3, h, w], img) };
  }

  it('recovers a known linear map from noisy (latent, image) pairs', () => {
    const rand = lcg(7);
    const fit = fitPreviewProjection([sample(rand, 8, 8), sample(rand, 4, 6)]);
    for (let o = 0; o < 3; o++) {
      expect(fit.bias[o]).toBeCloseTo(truth.bias[o]!, 2);
      for (let k = 0; k < 4; k++) expect(fit.weights[o]![k]).toBeCloseTo(truth.weights[o]![k]!, 2);
    }
  });

  it('projects latents to RGB bytes at latent resolution', () => {
    const proj = { weights: [[1, 0], [0, 1], [0, 0]], bias: [0, 0, -1] };
    // two pixels: (z0, z1) = (1, -1) and (0, 0.5)
    const img = projectPreview(float32([1, 2, 1, 2], [1, 0, -1, 0.5]), proj);
    expect([img.width, img.height]).toEqual([2, 1]);
    expect(Array.from(img.data)).toEqual([255, 0, 0, 128, 191, 0]);
  });

  it('rejects a projection of the wrong size and mismatched samples', () => {
    expect(() => projectPreview(float32([1, 3, 1, 1], [0, 0, 0]), truth)).toThrow(PipelineError);
    expect(() => fitPreviewProjection([])).toThrow(/at least one/);
    expect(() =>
      fitPreviewProjection([{ latent: float32([1, 4, 2, 2]), image: float32([1, 3, 4, 4]) }]),
    ).toThrow(/same h, w/);
  });
});

describe('fitting a model’s preview from pictures', () => {
  it('encodes pictures, fits the best linear map, and beats the best constant colour', async () => {
    const { LoadedModel } = await import('../../../electron/engine/pipelines/loaded-model.ts');
    const { tinySpec, tinyWeights } = await import('./tiny-model.ts');
    const { rgbImage, imageToTensor, downsampleArea } = await import('../../../electron/engine/pipelines/image.ts');
    const { fitPreviewFromImages } = await import('../../../electron/engine/pipelines/preview.ts');
    const model = new LoadedModel(tinySpec({ kind: 'memory', tensors: tinyWeights(3) }), { provider: 'cpu', threads: 1 });
    const rand = lcg(3);
    const pics = [0, 1, 2].map(() => rgbImage(32, 32, Uint8Array.from({ length: 32 * 32 * 3 }, (_, i) => (((i / 3) | 0) % 32) * 8 * (i % 3 === 0 ? 1 : 0) + Math.floor((rand() + 1) * 40))));
    const proj = await fitPreviewFromImages(model, pics);
    // Residual of the fit vs. the variance around the mean, over the same pixels.
    let res = 0;
    let tot = 0;
    for (const pic of pics) {
      const z = await model.encodeImage(imageToTensor(pic));
      const small = downsampleArea(imageToTensor(pic).data, 3, 32, 32, 4);
      const prev = projectPreview(z, proj);
      for (let c = 0; c < 3; c++) {
        const plane = small.subarray(c * 64, (c + 1) * 64);
        const mean = plane.reduce((a, b) => a + b, 0) / 64; // the best constant colour per channel
        for (let p = 0; p < 64; p++) {
          res += (prev.data[3 * p + c]! / 127.5 - 1 - plane[p]!) ** 2;
          tot += (plane[p]! - mean) ** 2;
        }
      }
    }
    expect(res).toBeLessThan(tot);
    await model.release();
  });
});
