// Data sets in aspect-ratio buckets: each picture at its kohya bucket (resized without enlarging, then
// centre-cropped at trim // 2), the pixels equal to sharp's own resize + extract of the same window,
// and the bucket table that goes into the run's metadata.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BucketPlanner, bucketMetadata } from '../../../electron/engine/io/buckets.ts';
import { loadDataset } from '../../../electron/engine/io/dataset.ts';

let dir: string;
const SIZES: [string, number, number][] = [['wide', 300, 170], ['tall', 100, 250], ['square', 128, 128], ['big', 400, 400], ['odd', 150, 97]];

function noise(w: number, h: number, seed: number): Buffer {
  let s = seed;
  return Buffer.from(Array.from({ length: w * h * 3 }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24)));
}

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'dataset-buckets-'));
  for (const [i, [name, w, h]] of SIZES.entries()) {
    await sharp(noise(w, h, i + 1), { raw: { width: w, height: h, channels: 3 } }).png().toFile(path.join(dir, `${name}.png`));
  }
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('loadDataset with buckets', () => {
  it('gives each picture its bucket, never enlarged, cropped as kohya crops', async () => {
    const ds = await loadDataset(dir, { width: 128, height: 128, buckets: { steps: 32 } });
    const planner = new BucketPlanner({ resolution: 128, steps: 32 });
    expect(ds.items.length).toBe(SIZES.length);
    for (const it of ds.items) {
      const choice = planner.select(it.width, it.height);
      expect(it.size).toEqual(choice.bucket);
      expect(it.pixels.length).toBe(3 * choice.bucket[0] * choice.bucket[1]);
      expect(choice.resized[0] <= it.width && choice.resized[1] <= it.height).toBe(true);
      // sharp's resize to the same size and extract of the same window (independent of our crop)
      const [left, top] = [Math.floor((choice.resized[0] - choice.bucket[0]) / 2), Math.floor((choice.resized[1] - choice.bucket[1]) / 2)];
      const ref = await sharp(it.path).resize(choice.resized[0], choice.resized[1], { fit: 'fill' })
        .extract({ left, top, width: choice.bucket[0], height: choice.bucket[1] }).raw().toBuffer();
      const hw = choice.bucket[0] * choice.bucket[1];
      let worst = 0;
      for (let p = 0; p < hw; p++) for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(it.pixels[c * hw + p]! - (ref[3 * p + c]! / 127.5 - 1)));
      expect(worst, it.path).toBeLessThan(1e-6);
    }
    const byName = Object.fromEntries(ds.items.map((i) => [path.basename(i.path, '.png'), i.size]));
    expect(byName).toEqual({ wide: [160, 96], tall: [64, 160], square: [128, 128], big: [128, 128], odd: [128, 96] });
    expect(ds.buckets!.noUpscale).toBe(true);
    expect(bucketMetadata(ds.buckets!, ds.buckets!.noUpscale).ss_bucket_info).toMatch(
      /^\{"buckets": \{"0": \{"resolution": \[64, 160\], "count": 1\}, "1": \{"resolution": \[128, 96\], "count": 1\}, "2": \{"resolution": \[128, 128\], "count": 2\}, "3": \{"resolution": \[160, 96\], "count": 1\}\}, "mean_img_ar_error": 0\.\d+\}$/,
    );
  });

  it('without buckets, everything is still resized to the one square training size', async () => {
    const ds = await loadDataset(dir, { width: 64, height: 64 });
    for (const it of ds.items) expect([it.size, it.pixels.length]).toEqual([[64, 64], 3 * 64 * 64]);
    expect(ds.buckets).toBeUndefined();
  });
});
