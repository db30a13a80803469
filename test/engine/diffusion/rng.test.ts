import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { Rng, RngError, philox4x32 } from '../../../electron/engine/diffusion/rng.ts';

// Made by scripts/reference/samplers.py: Philox in Python integers, Box–Muller in float64.
const ref = JSON.parse(readFileSync(new URL('../../fixtures/samplers/rng.json', import.meta.url), 'utf8')) as {
  philox: { ctr: number[]; key: number[]; out: number[] }[];
  normal: { seed: string; first: number[]; then: number[]; blocks: number }[];
  uniform: { seed: string; values: number[]; blocks: number }[];
};

describe('Philox4x32-10', () => {
  it('matches the Random123 known-answer vectors', () => {
    // Published in Random123's kat_vectors (and reproduced by the Python reference).
    expect(Array.from(philox4x32([0, 0, 0, 0], [0, 0]))).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    expect(Array.from(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]))).toEqual([
      0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd,
    ]);
    for (const k of ref.philox) expect(Array.from(philox4x32(k.ctr, k.key))).toEqual(k.out);
  });
});

describe('Rng', () => {
  it('draws the documented normals and uniforms', () => {
    for (const r of ref.normal) {
      const rng = new Rng(BigInt(r.seed));
      const a = rng.normal(11);
      a.forEach((v, i) => expect(v).toBe(Math.fround(r.first[i]!)));
      const b = rng.normal(5);
      b.forEach((v, i) => expect(v).toBe(Math.fround(r.then[i]!)));
      expect(rng.state.counter).toBe(String(r.blocks));
    }
    for (const r of ref.uniform) {
      const rng = new Rng(r.seed);
      expect(Array.from(rng.uniform(5))).toEqual(r.values);
      expect(rng.state.counter).toBe(String(r.blocks));
    }
  });

  it('is reproducible from a seed and from a saved state', () => {
    const a = new Rng(1234);
    a.normal(100);
    const saved = JSON.parse(JSON.stringify(a.state)) as typeof a.state;
    const next = a.normal(37);
    const b = Rng.fromState(saved);
    expect(b.normal(37)).toEqual(next);
    expect(new Rng(1234).normal(100)).toEqual(new Rng(1234).normal(100));
    expect(new Rng(1234).normal(8)).not.toEqual(new Rng(1235).normal(8));
  });

  it('has the right moments', () => {
    const v = new Rng(7).normal(200_000);
    let m = 0;
    let m2 = 0;
    let m4 = 0;
    for (const x of v) {
      m += x;
      m2 += x * x;
      m4 += x ** 4;
    }
    m /= v.length;
    m2 /= v.length;
    m4 /= v.length;
    expect(Math.abs(m)).toBeLessThan(0.01);
    expect(Math.abs(m2 - 1)).toBeLessThan(0.02);
    expect(Math.abs(m4 - 3)).toBeLessThan(0.1);
    const u = new Rng(8).uniform(100_000);
    const mean = u.reduce((s, x) => s + x, 0) / u.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
  });

  it('draws whole numbers below a bound', () => {
    const t = new Rng(3).integers(10_000, 1000);
    expect(Math.min(...t)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...t)).toBeLessThan(1000);
    expect(new Set(t).size).toBeGreaterThan(900);
  });

  it('carries the 64-bit counter across the 32-bit boundary', () => {
    const r = Rng.fromState({ algorithm: 'philox4x32-10', seed: '5', counter: String(2 ** 32 - 1) });
    r.uniform(4);
    expect(r.state.counter).toBe(String(2 ** 32 + 1));
  });

  it('rejects bad seeds, counts and states', () => {
    expect(() => new Rng(-1)).toThrow(RngError);
    expect(() => new Rng(1.5)).toThrow(RngError);
    expect(() => new Rng(2n ** 64n)).toThrow(/2\^64/);
    expect(() => new Rng('abc')).toThrow(RngError);
    expect(() => new Rng(1).normal(-1)).toThrow(/non-negative/);
    expect(() => Rng.fromState({ algorithm: 'mt19937' as 'philox4x32-10', seed: '1', counter: '0' })).toThrow(/unknown RNG state/);
    expect(() => Rng.fromState({ algorithm: 'philox4x32-10', seed: '1', counter: 'x' })).toThrow(/not a whole number/);
  });
});
