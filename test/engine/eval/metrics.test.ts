// FID, KID and precision/recall against scripts/reference/fid.py (numpy, float64) on the fixture it writes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { featureSet, fid, kid, precisionRecall, sqrtPsd, symmetricEigen, type FeatureSet } from '../../../electron/engine/eval/metrics.ts';
import { Rng } from '../../../electron/engine/diffusion/rng.ts';

interface Fixture {
  d: number;
  sets: Record<string, number[]>;
  cases: { name: string; x: string; y: string; fid: number; kid?: number; precision?: number; recall?: number }[];
}

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/eval/metrics.json', import.meta.url), 'utf8')) as Fixture;
const set = (name: string) => featureSet(fixture.sets[name]!, fixture.d);

function gaussianSet(n: number, d: number, seed: number, shift = 0): FeatureSet {
  const z = new Rng(seed).normal(n * d);
  return featureSet(Array.from(z, (v, i) => v + (i % d === 0 ? shift : 0)), d);
}

describe('metrics match the numpy reference', () => {
  for (const c of fixture.cases) {
    it(c.name, () => {
      const x = set(c.x);
      const y = set(c.y);
      // 1e-7 relative: with fewer vectors than features Σ is singular, and the square roots of its round-off
      // eigenvalues (~1e-16) differ by ~1e-8 between solvers
      expect(Math.abs(fid(x, y) - c.fid)).toBeLessThan(1e-7 * Math.max(1, Math.abs(c.fid)));
      if (c.kid !== undefined) expect(kid(x, y)).toBeCloseTo(c.kid, 10);
      if (c.precision !== undefined) expect(precisionRecall(x, y)).toEqual({ precision: c.precision, recall: c.recall });
    });
  }
});

describe('metrics behave', () => {
  it('the eigen-decomposition rebuilds the matrix and the square root squares back', () => {
    const d = 12;
    const x = gaussianSet(30, d, 7).data;
    const a = new Float64Array(d * d);
    for (let i = 0; i < 30; i++) for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) a[j * d + k]! += x[i * d + j]! * x[i * d + k]!;
    const { values, vectors } = symmetricEigen(a, d);
    const r = sqrtPsd(a, d);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let back = 0;
        let sq = 0;
        for (let k = 0; k < d; k++) {
          back += vectors[i * d + k]! * values[k]! * vectors[j * d + k]!;
          sq += r[i * d + k]! * r[k * d + j]!;
        }
        expect(back).toBeCloseTo(a[i * d + j]!, 9);
        expect(sq).toBeCloseTo(a[i * d + j]!, 9);
      }
    }
  });

  it('FID of a set with itself is ~0 and grows with a shift of the mean', () => {
    const a = gaussianSet(200, 8, 1);
    expect(Math.abs(fid(a, a))).toBeLessThan(1e-9);
    const b = gaussianSet(200, 8, 2);
    const shifted = [0.5, 1, 2].map((s) => fid(a, gaussianSet(200, 8, 2, s)));
    expect(shifted[0]).toBeGreaterThan(fid(a, b));
    expect(shifted[1]).toBeGreaterThan(shifted[0]!);
    expect(shifted[2]).toBeGreaterThan(shifted[1]!);
    // the mean term alone: a shift of 2 in one feature adds about 4
    expect(shifted[2]! - fid(a, b)).toBeGreaterThan(3);
  });

  it('KID is near 0 for two draws of one distribution, positive for a shifted one, and seeded subsets are reproducible', () => {
    const a = gaussianSet(120, 8, 3);
    const b = gaussianSet(150, 8, 4);
    const far = gaussianSet(150, 8, 5, 1.5);
    const same = kid(a, b, { subsets: 8, seed: 1 });
    expect(Math.abs(same)).toBeLessThan(0.05);
    expect(kid(a, far, { subsets: 8, seed: 1 })).toBeGreaterThan(0.1);
    expect(kid(a, b, { subsets: 8, seed: 1 })).toBe(same);
  });

  it('precision/recall: a copy covers itself, a collapsed set has precision but no recall', () => {
    const a = gaussianSet(100, 4, 6);
    expect(precisionRecall(a, a)).toEqual({ precision: 1, recall: 1 });
    const collapsed = featureSet(Array.from({ length: 40 * 4 }, (_, i) => a.data[i % 4]! + ((i >> 2) % 5) * 1e-3), 4);
    const pr = precisionRecall(a, collapsed);
    expect(pr.precision).toBe(1);
    expect(pr.recall).toBeLessThan(0.2);
  });

  it('refuses sets of different widths or too few vectors, by name', () => {
    expect(() => fid(gaussianSet(10, 4, 1), gaussianSet(10, 5, 1))).toThrow(/4 and 5 features/);
    expect(() => kid(gaussianSet(1, 4, 1), gaussianSet(10, 4, 1))).toThrow(/at least 2/);
  });
});
