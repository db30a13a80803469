// Fine-tuning with aspect-ratio buckets on the tiny model: pictures of several shapes train at their
// buckets (one training graph per bucket shape, one optimiser), batches stay within one bucket, and the
// result carries kohya's bucket metadata.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finetune } from '../../../electron/engine/finetune/train.ts';
import { loadSafetensors } from '../../../electron/engine/io/safetensors.ts';
import { stripes, tinyBase } from './fixtures.ts';

let root: string;
let base: string;
let data: string;

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'finetune-buckets-'));
  base = await tinyBase(path.join(root, 'base'));
  data = path.join(root, 'data');
  await fsp.mkdir(data);
  // wide and square pictures (stripes resized to each shape)
  const shapes: [number, number][] = [[64, 32], [64, 32], [40, 40], [48, 48]];
  for (const [i, [w, h]] of shapes.entries()) {
    await sharp(stripes(64, 2 + (i % 3), i), { raw: { width: 64, height: 64, channels: 3 } }).resize(w, h, { fit: 'fill' }).png().toFile(path.join(data, `p${i}.png`));
  }
}, 60_000);

afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

describe('fine-tuning in aspect-ratio buckets', () => {
  it('trains every bucket shape with one optimiser and writes ss_bucket_info as kohya does', async () => {
    const out = path.join(root, 'bucketed.safetensors');
    const r = await finetune({ base, data, out, method: 'lora', steps: 3, batchSize: 2, learningRate: 1e-2, threads: 2, buckets: { steps: 16 } });
    expect(r.steps).toBe(3);
    for (const l of r.losses) expect(Number.isFinite(l.loss)).toBe(true);
    const { tensors, metadata } = await loadSafetensors(out);
    expect(metadata.ss_enable_bucket).toBe('True');
    expect(metadata.ss_bucket_no_upscale).toBe('True');
    const info = JSON.parse(metadata.ss_bucket_info!) as { buckets: Record<string, { resolution: [number, number]; count: number }>; mean_img_ar_error: number };
    // 64×32 → area 2048 > 32² → scaled to the area: 45×23 → bucket 32×16; 40×40, 48×48 → 32×32
    expect(Object.values(info.buckets)).toEqual([
      { resolution: [32, 16], count: 2 },
      { resolution: [32, 32], count: 2 },
    ]);
    expect(info.mean_img_ar_error).toBe(0); // every shape here has a bucket of its exact aspect ratio
    // the LoRA trained (its up projections left zero)
    const ups = [...tensors].filter(([k]) => k.endsWith('.lora_up.weight'));
    expect(ups.some(([, t]) => (t.data as Float32Array).some((v) => v !== 0))).toBe(true);
  }, 120_000);

  it('refuses a bucket step the model cannot take', async () => {
    await expect(finetune({ base, data, out: path.join(root, 'x.safetensors'), method: 'lora', steps: 1, buckets: { steps: 12 } })).rejects.toThrow(/bucket step 12 must be a multiple of/);
  });
});
