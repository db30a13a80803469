// The memory estimate before a job: weights counted as the float32 copy onnxruntime holds, calibrated
// against the measured SD 1.x peak; a job that does not fit is refused naming what it needs and what is free.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { saveSafetensors } from '../../electron/engine/io/safetensors.ts';
import { availableMemory, checkMemory, describeEstimate, estimateMemory, weightBytes } from '../../electron/services/admission.ts';
import { tempDir } from './helpers.ts';

const GiB = 2 ** 30;
const SD = { factor: 8, attentionRates: [1, 2, 4], heads: 8 };

describe('memory estimate before a job', () => {
  it('counts fp16 weights as the float32 copy the runtime makes', async () => {
    const tmp = tempDir();
    try {
      const file = join(tmp.dir, 'half.safetensors');
      await saveSafetensors(file, new Map([
        ['a', { dtype: 'float16', shape: [10, 10], data: new Uint16Array(100) }],
        ['b', { dtype: 'float32', shape: [5], data: new Float32Array(5) }],
      ]));
      expect(await weightBytes(file)).toBe(4 * 105);
      expect(await weightBytes(tmp.dir)).toBe(4 * 105); // folders are summed
    } finally {
      tmp.cleanup();
    }
  });

  it('SD 1.x at 512² comes within 5% of the measured 5.4 GiB peak (bench/sd.bench.ts)', () => {
    const e = estimateMemory({ weightBytes: 1.066e9 * 4, width: 512, height: 512, shape: SD });
    expect(Math.abs(e.total / GiB - 5.4) / 5.4).toBeLessThan(0.05);
    expect(describeEstimate(e, { total: 24 * GiB, free: 19.25 * GiB })).toBe('needs about 5.3 GiB of memory (19.3 GiB free of 24.0 GiB)');
  });

  it('refuses a job over the memory it may use, naming what it needs and what is available', () => {
    const e = estimateMemory({ weightBytes: 1.066e9 * 4, width: 512, height: 512, shape: SD });
    expect(() => checkMemory(e, 'A 512x512 txt2img job', { warm: false, total: 4 * GiB, free: 3 * GiB }))
      .toThrow('A 512x512 txt2img job would need about 5.3 GiB of memory (weights 4.4 GiB, attention 0.1 GiB, decoding 0.4 GiB); this computer has 4.0 GiB, of which a job may use 3.6 GiB. Use a smaller size.');
    expect(() => checkMemory(e, 'A 512x512 txt2img job', { warm: false, total: 32 * GiB, free: 2 * GiB }))
      .toThrow('A 512x512 txt2img job would need about 5.3 GiB of memory; only 2.0 GiB is free now.');
    expect(availableMemory(e, { warm: true, total: 32 * GiB, free: 2 * GiB }).free).toBeCloseTo(2 * GiB + e.weights);
  });
});
