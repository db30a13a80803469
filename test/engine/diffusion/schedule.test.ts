import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  ScheduleError,
  karrasSigmas,
  makeSchedule,
  sigmaToTimestep,
  spacedTimesteps,
  type Spacing,
} from '../../../electron/engine/diffusion/schedule.ts';

// Made by scripts/reference/samplers.py (numpy, float64).
const ref = JSON.parse(readFileSync(new URL('../../fixtures/samplers/schedule.json', import.meta.url), 'utf8')) as {
  betas: Record<string, number>;
  alphasCumprod: Record<string, number>;
  sigmas: Record<string, number>;
  spacing: Record<string, number[]>;
  karras: Record<string, { timesteps: number[]; sigmas: number[] }>;
  cosine: { betas: Record<string, number>; alphasCumprod: Record<string, number> };
};

describe('LDM linear schedule', () => {
  const s = makeSchedule();
  it('matches numpy float64 β, ᾱ and σ', () => {
    for (const [i, v] of Object.entries(ref.betas)) expect(s.betas[+i]).toBeCloseTo(v, 15);
    for (const [i, v] of Object.entries(ref.alphasCumprod)) expect(Math.abs(s.alphasCumprod[+i]! - v) / v).toBeLessThan(1e-13);
    for (const [i, v] of Object.entries(ref.sigmas)) expect(Math.abs(s.sigmas[+i]! - v) / v).toBeLessThan(1e-12);
  });

  it('has the published endpoints', () => {
    expect(s.betas[0]).toBeCloseTo(0.00085, 12);
    expect(s.betas[999]).toBeCloseTo(0.012, 12);
    expect(s.sigmas[999]).toBeCloseTo(14.6146, 3); // k-diffusion's σ_max for SD v1
    expect(s.sigmas[0]).toBeCloseTo(0.0292, 3);
  });

  it('rejects bad configs', () => {
    expect(() => makeSchedule({ kind: 'sigmoid' as 'linear' })).toThrow(/unknown noise schedule "sigmoid"/);
    expect(() => makeSchedule({ trainTimesteps: 1 })).toThrow(ScheduleError);
    expect(() => makeSchedule({ betaStart: 0.1, betaEnd: 0.01 })).toThrow(/betaStart ≤ betaEnd/);
  });
});

describe('cosine schedule', () => {
  it('matches the reference (Nichol & Dhariwal, β capped at 0.999)', () => {
    const s = makeSchedule({ kind: 'cosine' });
    for (const [i, v] of Object.entries(ref.cosine.betas)) expect(Math.abs(s.betas[+i]! - v) / v).toBeLessThan(1e-12);
    for (const [i, v] of Object.entries(ref.cosine.alphasCumprod)) expect(Math.abs(s.alphasCumprod[+i]! - v) / v).toBeLessThan(1e-10);
    expect(s.betas[999]).toBe(0.999);
  });
});

describe('timestep spacing', () => {
  it('matches the reference for leading, trailing and uniform spacing', () => {
    for (const [key, ts] of Object.entries(ref.spacing)) {
      const [spacing, steps] = key.split('/') as [Spacing, string];
      expect(spacedTimesteps(+steps, 1000, spacing), key).toEqual(ts);
    }
  });

  it('follows the documented conventions', () => {
    expect(spacedTimesteps(10, 1000, 'leading')).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(spacedTimesteps(4, 1000, 'trailing')).toEqual([999, 749, 499, 249]);
    expect(spacedTimesteps(30, 1000, 'uniform')).toHaveLength(31); // CompVis quirk, kept on purpose
    // numpy rounds 812.5 half to even → 812 → 811
    expect(spacedTimesteps(16, 1000, 'trailing')[3]).toBe(811);
  });

  it('rejects bad step counts and spacings', () => {
    expect(() => spacedTimesteps(0, 1000)).toThrow(/steps must be/);
    expect(() => spacedTimesteps(1001, 1000)).toThrow(/steps must be/);
    expect(() => spacedTimesteps(2.5, 1000)).toThrow(/steps must be/);
    expect(() => spacedTimesteps(10, 1000, 'linspace' as Spacing)).toThrow(/unknown timestep spacing/);
    expect(() => spacedTimesteps(1000, 1000, 'leading')).toThrow(/reach timestep 1000, past the schedule's last \(999\)/);
    expect(() => spacedTimesteps(600, 1000, 'uniform')).toThrow(/trailing spacing/);
    expect(spacedTimesteps(999, 1000, 'leading')[0]).toBe(999);
    expect(spacedTimesteps(1000, 1000, 'trailing')).toEqual(Array.from({ length: 1000 }, (_, i) => 999 - i));
  });
});

describe('Karras σ', () => {
  const s = makeSchedule();
  it('matches the reference σ and fractional timesteps', () => {
    for (const [key, r] of Object.entries(ref.karras)) {
      const ts = spacedTimesteps(+key.split('/')[1]!, 1000, 'leading');
      const sig = karrasSigmas(ts.length, s.sigmas[ts.at(-1)!]!, s.sigmas[ts[0]!]!);
      sig.forEach((v, i) => expect(Math.abs(v - r.sigmas[i]!) / r.sigmas[i]!).toBeLessThan(1e-12));
      sig.forEach((v, i) => expect(sigmaToTimestep(s, v)).toBeCloseTo(r.timesteps[i]!, 9));
    }
  });

  it('starts at σ_max, ends at σ_min and decreases', () => {
    const k = karrasSigmas(8, 0.03, 14.6);
    expect(k[0]).toBeCloseTo(14.6, 12);
    expect(k[7]).toBeCloseTo(0.03, 12);
    for (let i = 1; i < 8; i++) expect(k[i]!).toBeLessThan(k[i - 1]!);
  });

  it('maps a schedule σ back to its own timestep', () => {
    for (const t of [0, 1, 57, 500, 998, 999]) expect(sigmaToTimestep(s, s.sigmas[t]!)).toBeCloseTo(t, 9);
  });
});
