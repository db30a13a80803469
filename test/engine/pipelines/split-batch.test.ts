// CFG's two halves as two batch-1 UNet calls (issue 13: half the activations when memory is short): the
// same noise prediction as one batch-2 call.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openModel } from '../../../electron/engine/families/index.ts';
import { tensor } from '../../../electron/engine/tensor.ts';
import { writeSd1File } from '../families/tiny-sd.ts';

let root: string;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-split-'));
  await writeSd1File(path.join(root, 'sd1.safetensors'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

function random(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 2);
}

describe('split batch', () => {
  it('two batch-1 calls predict what one batch-2 call does', async () => {
    const out: Float32Array[] = [];
    for (const splitBatch of [false, true]) {
      const { model } = await openModel(path.join(root, 'sd1.safetensors'), { provider: 'cpu', threads: 1, splitBatch });
      const context = await model.encodeText(['', 'a cat']);
      out.push((await model.predictNoise(tensor('float32', [2, 4, 8, 8], random(512, 3)), 500, context)).data);
      await model.release();
    }
    const [whole, split] = out as [Float32Array, Float32Array];
    expect(split.length).toBe(512);
    expect(split.reduce((m, v, i) => Math.max(m, Math.abs(v - whole[i]!)), 0)).toBeLessThan(1e-5);
    expect(split.slice(0, 256)).not.toEqual(split.slice(256)); // the halves differ (different prompts)
  });
});
