import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  ImageNoise, imageSeeds, initialNoise, NoiseError, pasteCentred, slerp, writesEnsd, type RngSource,
} from '../../../electron/engine/diffusion/noise.ts';
import { PhiloxNormal, TorchCpuNormal } from '../../../electron/engine/diffusion/rng.ts';

interface Summary { n: number; idx: number[]; values: number[]; sum: number }
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../fixtures/rng/${name}`, import.meta.url), 'utf8'));
// scripts/reference/rng_variation.py (torch float32, A1111's slerp and resize-from rules)
const variation = fixture('variation.json') as {
  cases: (Summary & { source: RngSource; seed: number; shape: [number, number, number]; sub?: number; strength?: number; resize_from?: [number, number] })[];
  fallback: Summary & { low_seed: number; other_seed: number; shape: number[]; val: number };
};
const nv = fixture('nv.json') as { cases: { seed: string; draws: Summary[] }[] };
const cpu = fixture('cpu.json') as { capabilities: { avx2: { seed: string; draws: Summary[] }[] } };

function worst(v: Float32Array, ref: Summary): number {
  expect(v.length).toBe(ref.n);
  let w = 0;
  ref.idx.forEach((i, k) => (w = Math.max(w, Math.abs(v[i]! - ref.values[k]!))));
  let sum = 0;
  for (const x of v) sum += x;
  expect(Math.abs(sum - ref.sum)).toBeLessThan(1e-6 * Math.sqrt(ref.n) * 4);
  return w;
}

describe('initialNoise', () => {
  it('matches A1111 for variation seeds and resize-seed-from (both sources) to 1e-6', () => {
    for (const c of variation.cases) {
      const v = initialNoise({
        seed: c.seed, shape: c.shape, downscale: 8, rngSource: c.source,
        variationSeed: c.sub, variationStrength: c.strength,
        resizeSeedFrom: c.resize_from ? { width: c.resize_from[0], height: c.resize_from[1] } : null,
      });
      expect(worst(v, c), JSON.stringify({ ...c, idx: undefined, values: undefined })).toBeLessThanOrEqual(1e-6);
    }
  });

  it("is the source's first draw when there are no extras; 'gpu' and 'nv' are the same numbers", () => {
    const shape = [4, 64, 64] as const;
    const gpu = initialNoise({ seed: 1, shape, downscale: 8 });
    expect(worst(gpu, nv.cases[1]!.draws[0]!)).toBeLessThanOrEqual(1e-6);
    expect(initialNoise({ seed: 1, shape, downscale: 8, rngSource: 'nv' })).toEqual(gpu);
    const c = initialNoise({ seed: 1, shape, downscale: 8, rngSource: 'cpu' });
    expect(worst(c, cpu.capabilities.avx2[1]!.draws[0]!)).toBeLessThanOrEqual(1e-6);
  });

  it('ignores the extras when they change nothing: strength 0, resize from the same size', () => {
    const base = initialNoise({ seed: 9, shape: [4, 8, 8], downscale: 8 });
    expect(initialNoise({ seed: 9, shape: [4, 8, 8], downscale: 8, variationSeed: 3, variationStrength: 0 })).toEqual(base);
    expect(initialNoise({ seed: 9, shape: [4, 8, 8], downscale: 8, resizeSeedFrom: { width: 64, height: 64 } })).toEqual(base);
    expect(initialNoise({ seed: 9, shape: [4, 8, 8], downscale: 8, resizeSeedFrom: { width: 0, height: 0 } })).toEqual(base);
    // strength 1 is the variation seed's own noise (slerp's end point, to float32 rounding)
    const other = initialNoise({ seed: 3, shape: [4, 8, 8], downscale: 8 });
    const full = initialNoise({ seed: 9, shape: [4, 8, 8], downscale: 8, variationSeed: 3, variationStrength: 1 });
    full.forEach((v, i) => expect(Math.abs(v - other[i]!)).toBeLessThan(1e-5));
  });
});

describe('slerp', () => {
  it("takes A1111's linear fallback (weights the other way round) when the noises are nearly parallel", () => {
    const f = variation.fallback;
    const n = f.shape.reduce((a, b) => a * b, 1);
    const low = new PhiloxNormal(f.low_seed).normal(n);
    const other = new PhiloxNormal(f.other_seed).normal(n);
    const high = low.map((x, i) => Math.fround(x + Math.fround(0.01 * other[i]!)));
    const v = slerp(f.val, low, high, f.shape);
    expect(worst(v, f)).toBeLessThanOrEqual(1e-6);
    expect(v[0]).toBeCloseTo(low[0]! * f.val + high[0]! * (1 - f.val), 6);
  });
});

describe('pasteCentred', () => {
  it("follows A1111's floor-division offsets: 3×3 into 2×2 copies one cell and leaves the rest", () => {
    const src = Float32Array.from({ length: 9 }, (_, i) => i + 1);
    const dst = new Float32Array([-1, -2, -3, -4]);
    pasteCentred(src, [1, 3, 3], dst, [1, 2, 2]);
    expect(Array.from(dst)).toEqual([5, -2, -3, -4]);
  });

  it('centres a smaller noise with a border of the image’s own noise', () => {
    const src = new Float32Array(2 * 2 * 2).fill(7);
    const dst = new Float32Array(2 * 4 * 4);
    pasteCentred(src, [2, 2, 2], dst, [2, 4, 4]);
    const at = (c: number, y: number, x: number) => dst[(c * 4 + y) * 4 + x];
    expect([at(0, 1, 1), at(0, 2, 2), at(1, 1, 2), at(1, 2, 1)]).toEqual([7, 7, 7, 7]);
    expect([at(0, 0, 0), at(0, 3, 3), at(1, 0, 1), at(1, 1, 3)]).toEqual([0, 0, 0, 0]);
  });
});

describe('ImageNoise (per-step noise)', () => {
  it('continues the image’s own generator after the initial noise, as A1111 ImageRNG.next does', () => {
    const n = 4 * 64 * 64;
    const g = new ImageNoise({ seed: 1, shape: [4, 64, 64], downscale: 8 });
    expect(worst(g.normal(n), nv.cases[1]!.draws[0]!)).toBeLessThanOrEqual(1e-6);
    expect(worst(g.normal(n), nv.cases[1]!.draws[1]!)).toBeLessThanOrEqual(1e-6);
    const c = new ImageNoise({ seed: 1, shape: [4, 64, 64], downscale: 8, rngSource: 'cpu' });
    expect(worst(c.normal(n), cpu.capabilities.avx2[1]!.draws[0]!)).toBeLessThanOrEqual(1e-6);
    expect(worst(c.normal(n), cpu.capabilities.avx2[1]!.draws[1]!)).toBeLessThanOrEqual(1e-6);
  });

  it('reseeds the step noise with seed + ENSD, leaving the initial noise alone', () => {
    const shape = [4, 8, 8] as const;
    for (const rngSource of ['gpu', 'cpu'] as const) {
      const g = new ImageNoise({ seed: 4294967295, shape, downscale: 8, ensd: 31337, rngSource });
      expect(g.normal(256)).toEqual(initialNoise({ seed: 4294967295, shape, downscale: 8, rngSource }));
      const fresh = rngSource === 'cpu' ? new TorchCpuNormal(4294967295 + 31337) : new PhiloxNormal(4294967295 + 31337);
      expect(g.normal(256)).toEqual(fresh.normal(256));
      expect(g.normal(256)).toEqual(fresh.normal(256));
    }
    // the CPU generator keeps only the low 32 bits of seed + ENSD, as torch does (fixture from torch)
    const cpuEnsd = new ImageNoise({ seed: 4294967295, shape: [4, 16, 16], downscale: 8, ensd: 31337, rngSource: 'cpu' });
    cpuEnsd.normal(1024);
    expect(worst(cpuEnsd.normal(1024), cpu.capabilities.avx2[5]!.draws[0]!)).toBeLessThanOrEqual(1e-6);
    const nvEnsd = new ImageNoise({ seed: 4294967295, shape: [4, 16, 16], downscale: 8, ensd: 31337 });
    nvEnsd.normal(1024);
    expect(worst(nvEnsd.normal(1024), nv.cases[5]!.draws[0]!)).toBeLessThanOrEqual(1e-6);
  });

  it('refuses a first draw that is not the latent size, and bad options, with the reason', () => {
    expect(() => new ImageNoise({ seed: 1, shape: [4, 8, 8], downscale: 8 }).normal(100)).toThrow(/initial noise of 4×8×8 = 256 values/);
    expect(() => new ImageNoise({ seed: 1, shape: [4, 8, 8], downscale: 8, variationStrength: 2 })).toThrow(NoiseError);
    expect(() => new ImageNoise({ seed: -1, shape: [4, 8, 8], downscale: 8 })).toThrow(/seed must be a whole number/);
    expect(() => new ImageNoise({ seed: 1, shape: [4, 8, 8], downscale: 8, rngSource: 'tpu' as RngSource })).toThrow(/use gpu, cpu, nv/);
  });
});

describe('batch rule and infotext rule', () => {
  it('gives seed + i, or with a variation the same seed and variation seed + i', () => {
    expect([0, 1, 2].map((i) => imageSeeds(100, i, {}))).toEqual([
      { seed: 100, variationSeed: null }, { seed: 101, variationSeed: null }, { seed: 102, variationSeed: null },
    ]);
    expect([0, 1, 2].map((i) => imageSeeds(100, i, { variationSeed: 7, variationStrength: 0.2 }))).toEqual([
      { seed: 100, variationSeed: 7 }, { seed: 100, variationSeed: 8 }, { seed: 100, variationSeed: 9 },
    ]);
  });

  it('writes ENSD only for the samplers A1111 writes it for, with η ≠ 0', () => {
    expect(writesEnsd('Euler a', 31337)).toBe(true);
    expect(writesEnsd('DPM++ 2S a Karras', 31337)).toBe(true);
    expect(writesEnsd('Euler a', 0)).toBe(false);
    expect(writesEnsd('Euler a', 31337, 0)).toBe(false);
    expect(writesEnsd('DPM++ 2M Karras', 31337)).toBe(false);
    expect(writesEnsd('DDIM', 31337)).toBe(false);
    expect(writesEnsd('DPM++ SDE', 31337)).toBe(false);
  });
});

describe('seed extras in the record and the parameters text', () => {
  it('keeps only what changes the noise, and writes it as A1111 does', async () => {
    const { seedRecord, seedParams, rngSourceFromInfotext } = await import('../../../electron/engine/diffusion/noise.ts');
    expect(seedRecord({ rngSource: 'gpu', variationSeed: 5, variationStrength: 0, resizeSeedFrom: { width: 0, height: 0 }, ensd: 0 }, null)).toEqual({});
    const rec = seedRecord({ rngSource: 'cpu', variationSeed: 5, variationStrength: 0.25, resizeSeedFrom: { width: 512, height: 384 }, ensd: 31337 }, 7);
    expect(rec).toEqual({ rngSource: 'cpu', variationSeed: 7, variationStrength: 0.25, resizeSeedFrom: { width: 512, height: 384 }, ensd: 31337 });
    expect(seedParams({ ...rec, sampler: 'euler_a' })).toEqual({
      variationSeed: 7, variationStrength: 0.25, seedResizeFrom: { width: 512, height: 384 }, ensd: 31337, rng: 'CPU',
    });
    expect(seedParams({ ...rec, sampler: 'dpmpp_2s_a_karras' }).ensd).toBe(31337);
    expect(seedParams({ ...rec, sampler: 'dpmpp_2m' }).ensd).toBeUndefined();
    expect(seedParams({ rngSource: 'nv' })).toEqual({});
    expect(['CPU', 'NV', 'GPU', undefined, 'cpu'].map(rngSourceFromInfotext)).toEqual(['cpu', 'nv', 'gpu', 'gpu', 'cpu']);
  });
});
