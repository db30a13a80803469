import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  ScheduleError,
  betaScheduleFromModelJson,
  karrasSigmas,
  makeSchedule,
  sigmaToTimestep,
  spacedTimesteps,
  timestepToSigma,
  type BetaSchedule,
  type Spacing,
} from '../../../electron/engine/diffusion/schedule.ts';

// Made by scripts/reference/samplers.py (numpy, float64).
const ref = JSON.parse(readFileSync(new URL('../../fixtures/samplers/schedule.json', import.meta.url), 'utf8')) as {
  betas: Record<string, number>;
  alphasCumprod: Record<string, number>;
  sigmas: Record<string, number>;
  spacing: Record<string, number[]>;
  cosine: { betas: Record<string, number>; alphasCumprod: Record<string, number> };
  linear: { betas: Record<string, number>; alphasCumprod: Record<string, number> };
};

describe('scaled-linear schedule (LDM/SD; CompVis calls it "linear")', () => {
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
    expect(() => makeSchedule({ kind: 'sigmoid' as BetaSchedule })).toThrow(/unknown noise schedule "sigmoid"/);
    expect(() => makeSchedule({ trainTimesteps: 1 })).toThrow(ScheduleError);
    expect(() => makeSchedule({ betaStart: 0.1, betaEnd: 0.01 })).toThrow(/betaStart ≤ betaEnd/);
  });
});

describe('schedule names', () => {
  it('reads model.json names with CompVis meanings: its "linear" is scaled-linear', () => {
    expect(betaScheduleFromModelJson('linear')).toBe('scaled_linear');
    expect(betaScheduleFromModelJson('scaled_linear')).toBe('scaled_linear');
    expect(betaScheduleFromModelJson(undefined)).toBe('scaled_linear');
    expect(betaScheduleFromModelJson('sqrt_linear')).toBe('linear');
    expect(betaScheduleFromModelJson('cosine')).toBe('cosine');
    expect(betaScheduleFromModelJson('squaredcos_cap_v2')).toBe('cosine');
    expect(() => betaScheduleFromModelJson('sigmoid')).toThrow(/"sigmoid" is not one the samplers run/);
    expect(makeSchedule().kind).toBe('scaled_linear');
  });

  it("has diffusers' true linear β (CompVis sqrt_linear)", () => {
    const s = makeSchedule({ kind: 'linear', betaStart: 0.0001, betaEnd: 0.02 });
    for (const [i, v] of Object.entries(ref.linear.betas)) expect(s.betas[+i]).toBeCloseTo(v, 15);
    for (const [i, v] of Object.entries(ref.linear.alphasCumprod)) expect(Math.abs(s.alphasCumprod[+i]! - v) / v).toBeLessThan(1e-11);
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
  it('matches the reference for CompVis, leading, trailing and linspace spacing', () => {
    for (const [key, ts] of Object.entries(ref.spacing)) {
      const [spacing, steps] = key.split('/') as [Spacing, string];
      expect(spacedTimesteps(+steps, 1000, spacing), key).toEqual(ts);
    }
  });

  it('follows the documented conventions', () => {
    expect(spacedTimesteps(10, 1000, 'leading')).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(spacedTimesteps(4, 1000, 'trailing')).toEqual([999, 749, 499, 249]);
    expect(spacedTimesteps(30, 1000, 'compvis')).toHaveLength(31); // CompVis and A1111 run 31 steps for 30
    expect(spacedTimesteps(7, 1000)).toEqual([995, 853, 711, 569, 427, 285, 143, 1]); // CompVis by default
    expect(spacedTimesteps(4, 1000, 'linspace')).toEqual([999, 666, 333, 0]);
    // numpy rounds 812.5 half to even → 812 → 811
    expect(spacedTimesteps(16, 1000, 'trailing')[3]).toBe(811);
  });

  it('rejects bad step counts and spacings', () => {
    expect(() => spacedTimesteps(0, 1000)).toThrow(/steps must be/);
    expect(() => spacedTimesteps(1001, 1000)).toThrow(/steps must be/);
    expect(() => spacedTimesteps(2.5, 1000)).toThrow(/steps must be/);
    expect(() => spacedTimesteps(10, 1000, 'uniform' as Spacing)).toThrow(/unknown timestep spacing/);
    expect(() => spacedTimesteps(1000, 1000, 'leading')).toThrow(/reach timestep 1000, past the schedule's last \(999\)/);
    expect(() => spacedTimesteps(600, 1000, 'compvis')).toThrow(/repeat timestep 999; use at most 500 steps/);
    expect(spacedTimesteps(3, 1000, 'compvis')).toEqual([999, 667, 334, 1]); // A1111 clips 1000 to 999
    expect(spacedTimesteps(999, 1000, 'leading')[0]).toBe(999);
    expect(spacedTimesteps(1000, 1000, 'trailing')).toEqual(Array.from({ length: 1000 }, (_, i) => 999 - i));
  });
});

describe('σ ↔ t', () => {
  const s = makeSchedule();
  it('starts at σ_max, ends at σ_min and decreases (Karras)', () => {
    const k = karrasSigmas(8, 0.03, 14.6);
    expect(k[0]).toBeCloseTo(14.6, 12);
    expect(k[7]).toBeCloseTo(0.03, 12);
    for (let i = 1; i < 8; i++) expect(k[i]!).toBeLessThan(k[i - 1]!);
  });

  it('maps a schedule σ back to its own timestep, and fractional t between neighbours in log σ', () => {
    for (const t of [0, 1, 57, 500, 998, 999]) {
      expect(sigmaToTimestep(s, s.sigmas[t]!)).toBeCloseTo(t, 9);
      expect(timestepToSigma(s, t)).toBeCloseTo(s.sigmas[t]!, 12);
    }
    const mid = timestepToSigma(s, 500.25);
    expect(Math.log(mid)).toBeCloseTo(0.75 * Math.log(s.sigmas[500]!) + 0.25 * Math.log(s.sigmas[501]!), 12);
    expect(sigmaToTimestep(s, mid)).toBeCloseTo(500.25, 9);
  });
});
