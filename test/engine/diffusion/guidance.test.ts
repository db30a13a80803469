import { describe, it, expect } from 'vitest';
import { cfg, cfgBatched, GuidanceError } from '../../../electron/engine/diffusion/guidance.ts';

describe('classifier-free guidance', () => {
  const u = Float32Array.from([0, 1, -2]);
  const c = Float32Array.from([1, 1, 2]);
  it('extrapolates from the unconditional toward the conditional ε', () => {
    expect(Array.from(cfg(u, c, 7.5))).toEqual([7.5, 1, 28]);
    expect(Array.from(cfg(u, c, 1))).toEqual(Array.from(c));
    expect(Array.from(cfg(u, c, 0))).toEqual(Array.from(u));
  });
  it('works on a batched [uncond; cond] output', () => {
    const both = new Float32Array([...u, ...c]);
    expect(Array.from(cfgBatched(both, 3))).toEqual(Array.from(cfg(u, c, 3)));
  });
  it('rejects mismatched inputs', () => {
    expect(() => cfg(u, new Float32Array(2), 2)).toThrow(GuidanceError);
    expect(() => cfg(u, c, NaN)).toThrow(/finite/);
    expect(() => cfgBatched(new Float32Array(3), 2)).toThrow(/even length/);
  });
});
