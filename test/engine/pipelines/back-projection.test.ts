// Iterative back-projection: after it, the upscaled picture shrunk back is (nearly) the input.
import { describe, expect, it } from 'vitest';
import { backProject } from '../../../electron/engine/pipelines/back-projection.ts';
import { rgbImage, imageToTensor, type RgbImage } from '../../../electron/engine/pipelines/image.ts';
import { resizeTensor } from '../../../electron/engine/io/image.ts';

const noise = (w: number, h: number, seed: number): RgbImage => {
  let s = seed;
  return rgbImage(w, h, Uint8Array.from({ length: w * h * 3 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 255));
};
/** Mean absolute difference, in [-1, 1] units, between the picture shrunk to the input's size and the input. */
const shrinkError = (high: RgbImage, low: RgbImage) => {
  const shrunk = resizeTensor(imageToTensor(high), low.width, low.height, { fit: 'fill' }).data;
  const target = imageToTensor(low).data;
  return shrunk.reduce((a, v, i) => a + Math.abs(v - target[i]!), 0) / target.length;
};

describe('backProject', () => {
  it('makes the upscaled picture agree with its input when shrunk, more with more rounds; 0 rounds leaves it', () => {
    const low = noise(8, 6, 1);
    const high = noise(32, 24, 2); // unrelated detail, as a drifting sampler might give
    const e0 = shrinkError(high, low);
    const e1 = shrinkError(backProject(high, low, 1), low);
    const e3 = shrinkError(backProject(high, low, 3), low);
    expect(e1).toBeLessThan(e0 / 2);
    expect(e3).toBeLessThan(e1);
    expect(backProject(high, low, 0)).toBe(high);
    const out = backProject(high, low, 2);
    expect([out.width, out.height]).toEqual([32, 24]);
  });
});
