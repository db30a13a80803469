import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { PhiloxNormal, TorchCpuNormal, type TorchCpuKernel } from '../../../electron/engine/diffusion/rng.ts';

interface Draw { shape: number[]; n: number; idx: number[]; values: number[]; sum: number; sumsq: number }
interface Case { seed: string; draws: Draw[] }

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../fixtures/rng/${name}`, import.meta.url), 'utf8'));
// scripts/reference/rng_nv.py (numpy, from A1111's description of its NV source)
const nv = fixture('nv.json') as { cases: Case[] };
// scripts/reference/rng_torch_cpu.py (Debian's PyTorch 1.13 itself, per CPU kernel)
const cpu = fixture('cpu.json') as { capabilities: Record<'default' | 'avx2', Case[]> };

/** Largest |ours − reference| over the kept elements; the checksums cover the rest of each tensor. */
function check(gen: { normal(n: number): Float32Array }, c: Case): number {
  let worst = 0;
  for (const d of c.draws) {
    const v = gen.normal(d.n);
    expect(v.length).toBe(d.shape.reduce((a, b) => a * b, 1));
    d.idx.forEach((i, k) => (worst = Math.max(worst, Math.abs(v[i]! - d.values[k]!))));
    let sum = 0;
    let sumsq = 0;
    for (const x of v) {
      sum += x;
      sumsq += x * x;
    }
    expect(Math.abs(sum - d.sum)).toBeLessThan(1e-6 * Math.sqrt(d.n) * 4);
    expect(Math.abs(sumsq - d.sumsq)).toBeLessThan(1e-6 * d.n);
  }
  return worst;
}

describe("A1111's GPU / NV source (PhiloxNormal)", () => {
  it('matches the reference for every shape and successive draws', () => {
    for (const c of nv.cases) expect(check(new PhiloxNormal(BigInt(c.seed)), c), `seed ${c.seed}`).toBeLessThanOrEqual(1e-6);
  });

  it("gives torch.randn((3, 4), device='cuda') for seed 0 as A1111 documents it", () => {
    // The expected output in modules/rng_philox.py's docstring (values CUDA computes in float32).
    const expected = [-0.92466259, -0.42534415, -2.6438457, 0.14518388, -0.12086647, -0.57972564, -0.62285122, -0.32838709, -1.07454231, -0.36314407, -1.67105067, 2.26550497];
    const v = new PhiloxNormal(0).normal(12);
    expected.forEach((e, i) => expect(Math.abs(v[i]! - e)).toBeLessThan(1e-6));
  });

  it('starts every generator of one seed the same and moves the offset per draw, not per value', () => {
    const a = new PhiloxNormal(42).normal(100);
    const b = new PhiloxNormal(42).normal(10);
    expect(Array.from(b)).toEqual(Array.from(a.subarray(0, 10)));
    const g = new PhiloxNormal(42);
    g.normal(5);
    const second = g.normal(100);
    expect(second[0]).not.toBe(a[0]);
    expect(second[5]).not.toBe(a[5]);
  });
});

describe("A1111's CPU source (TorchCpuNormal)", () => {
  const kernels: [keyof typeof cpu.capabilities, TorchCpuKernel][] = [['avx2', 'avx2'], ['default', 'scalar']];
  for (const [cap, kernel] of kernels) {
    it(`matches torch 1.13's ${cap} kernel with the '${kernel}' kernel, including the small-draw cache`, () => {
      for (const c of cpu.capabilities[cap]) expect(check(new TorchCpuNormal(BigInt(c.seed), kernel), c), `seed ${c.seed}`).toBeLessThanOrEqual(1e-6);
    });
  }

  it('the two kernels are the same stream, a few ulp apart', () => {
    const a = new TorchCpuNormal(7, 'avx2').normal(4096);
    const b = new TorchCpuNormal(7, 'scalar').normal(4096);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(5e-6);
  });

  it('gives torch.manual_seed(0); torch.randn(3, 4) as everyone knows it', () => {
    const v = new TorchCpuNormal(0).normal(12);
    const expected = [1.5410, -0.2934, -2.1788, 0.5684, -1.0845, -1.3986, 0.4033, 0.8380, -0.7193, -0.4033, -0.5966, 0.1820];
    expected.forEach((e, i) => expect(v[i]).toBeCloseTo(e, 4));
  });
});
