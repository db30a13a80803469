import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  SAMPLERS,
  SamplerError,
  createSampler,
  parseSamplerLabel,
  samplerLabel,
  type NoiseSource,
  type SamplerName,
} from '../../../electron/engine/diffusion/samplers.ts';
import { Rng } from '../../../electron/engine/diffusion/rng.ts';
import { makeSchedule, type Spacing } from '../../../electron/engine/diffusion/schedule.ts';

interface Case {
  name: string;
  sampler: string;
  steps: number;
  spacing: Spacing;
  karras: boolean;
  eta: number;
  startIndex: number;
  initNoise: number[];
  x0?: number[];
  initNoiseSigma: number;
  timesteps: number[];
  modelTimesteps: number[];
  sigmas?: number[];
  states: number[][];
  noise: number[];
}

// Made by scripts/reference/samplers.py: independent numpy float64 implementations of each sampler
// (CompVis loops for DDIM/PLMS, k-diffusion loops for the σ samplers), run on a fake ε-model.
const cases = JSON.parse(readFileSync(new URL('../../fixtures/samplers/trajectories.json', import.meta.url), 'utf8')) as Case[];

/** The same fake ε-model as the reference: ε_k = 0.1·x_k + sin(0.01·t + 0.5·k). */
function fakeEps(x: Float32Array, t: number): Float32Array {
  return x.map((v, k) => 0.1 * v + Math.sin(0.01 * t + 0.5 * k));
}

/** Replays the reference's noise draws in order and checks none is left over or missing. */
class Replay implements NoiseSource {
  private at = 0;
  constructor(private readonly values: number[]) {}
  normal(n: number): Float32Array {
    if (this.at + n > this.values.length) throw new Error('sampler drew more noise than the reference');
    const out = Float32Array.from(this.values.slice(this.at, this.at + n));
    this.at += n;
    return out;
  }
  get used(): number {
    return this.at;
  }
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return m;
}

describe('samplers against the numpy reference', () => {
  for (const c of cases) {
    it(`${c.name}: timesteps, σ and the full trajectory`, () => {
      const name = (c.karras ? `${c.sampler}_karras` : c.sampler) as SamplerName;
      const s = createSampler(name, { steps: c.steps, spacing: c.spacing, eta: c.eta });
      expect(s.timesteps.length).toBe(c.modelTimesteps.length + c.startIndex);
      s.timesteps.forEach((t, i) => expect(t).toBeCloseTo(c.timesteps[i]!, 8));
      expect(s.initNoiseSigma).toBeCloseTo(c.initNoiseSigma, 10);

      const noise = Float32Array.from(c.initNoise);
      let x =
        c.startIndex === 0
          ? noise.map((v) => v * s.initNoiseSigma)
          : s.addNoise(Float32Array.from(c.x0!), noise, c.startIndex);
      const rng = new Replay(c.noise);
      for (let i = c.startIndex; i < s.timesteps.length; i++) {
        const eps = fakeEps(s.scaleModelInput(x, i), s.timesteps[i]!);
        x = s.step(eps, i, x, rng);
        expect(maxRelErr(x, c.states[i - c.startIndex]!), `step ${i}`).toBeLessThan(2e-5);
      }
      expect(rng.used).toBe(c.noise.length);
    });
  }

  it('covers every sampler', () => {
    const covered = new Set(cases.map((c) => (c.karras ? `${c.sampler}_karras` : c.sampler)));
    for (const s of SAMPLERS) if (s.name !== 'euler_a_karras' || covered.has('euler_a_karras')) expect(covered).toContain(s.name);
  });
});

describe('sampler behaviour', () => {
  it('is deterministic for a seed, with the engine RNG', () => {
    const run = (seed: number): Float32Array => {
      const s = createSampler('euler_a', { steps: 8 });
      const rng = new Rng(seed);
      let x: Float32Array = rng.normal(16).map((v) => v * s.initNoiseSigma);
      for (let i = 0; i < s.timesteps.length; i++) x = s.step(fakeEps(s.scaleModelInput(x, i), s.timesteps[i]!), i, x, rng);
      return x;
    };
    expect(run(5)).toEqual(run(5));
    expect(run(5)).not.toEqual(run(6));
  });

  it('recovers x0 when the model predicts the true noise (deterministic samplers)', () => {
    // With ε = the noise that was added, every deterministic sampler lands on x0 up to its final σ.
    const x0 = Float32Array.from([0.5, -0.25, 1, 0]);
    const n = Float32Array.from([1, -1, 0.3, 2]);
    for (const name of ['ddim', 'euler', 'dpmpp_2m', 'dpmpp_2m_karras'] as const) {
      const s = createSampler(name, { steps: 20, spacing: 'trailing' });
      let x = s.addNoise(x0, n, 0);
      for (let i = 0; i < s.timesteps.length; i++) x = s.step(n, i, x, new Rng(0));
      // DDIM ends at ᾱ[0] (x = √ᾱ0·x0 + √(1−ᾱ0)·n); the σ samplers end at σ = 0, x = x0.
      const a0 = makeSchedule().alphasCumprod[0]!;
      const want = name === 'ddim' ? x0.map((v, k) => Math.sqrt(a0) * v + Math.sqrt(1 - a0) * n[k]!) : x0;
      x.forEach((v, k) => expect(Math.abs(v - want[k]!), `${name}[${k}]`).toBeLessThan(1e-5));
    }
  });

  it('scales the model input only in σ-space', () => {
    const x = Float32Array.from([2, -2]);
    expect(createSampler('ddim', { steps: 5 }).scaleModelInput(x, 0)).toEqual(x);
    const e = createSampler('euler', { steps: 5 });
    const s0 = e.initNoiseSigma;
    expect(e.scaleModelInput(x, 0)[0]).toBeCloseTo(2 / Math.sqrt(s0 * s0 + 1), 6);
  });

  it('uses S + 1 model calls for PLMS (its warm-up step) and S for the others', () => {
    expect(createSampler('plms', { steps: 10 }).timesteps).toHaveLength(11);
    expect(createSampler('plms', { steps: 10 }).timesteps.slice(0, 3)).toEqual([901, 801, 801]);
    expect(createSampler('plms', { steps: 1 }).timesteps).toEqual([1]);
    for (const n of ['ddpm', 'ddim', 'euler', 'euler_a', 'dpmpp_2m_karras'] as const) {
      expect(createSampler(n, { steps: 10 }).timesteps).toHaveLength(10);
    }
  });

  it('lets img2img start mid-way but refuses steps out of order', () => {
    const s = createSampler('dpmpp_2m', { steps: 10 });
    const x = new Float32Array(4);
    const eps = new Float32Array(4).fill(0.1);
    s.step(eps, 4, x, new Rng(0));
    s.step(eps, 5, x, new Rng(0));
    expect(() => s.step(eps, 5, x, new Rng(0))).toThrow(/steps run in order/);
    expect(() => createSampler('ddim', { steps: 3 }).step(eps, 3, x, new Rng(0))).toThrow(/outside 0…2/);
    expect(() => createSampler('ddim', { steps: 3 }).step(new Float32Array(3), 0, x, new Rng(0))).toThrow(/eps has 3 values/);
    expect(() => createSampler('ddim', { steps: 3 }).addNoise(x, new Float32Array(2), 0)).toThrow(SamplerError);
  });

  it('PLMS started at the correction step keeps x (img2img landing on index 1)', () => {
    const s = createSampler('plms', { steps: 5 });
    const x = Float32Array.from([0.3, -0.7]);
    expect(s.step(Float32Array.from([1, 1]), 1, x, new Rng(0))).toEqual(x);
  });

  it('rejects unknown samplers and options that do not apply', () => {
    expect(() => createSampler('heun', { steps: 10 })).toThrow(/unknown sampler "heun"/);
    expect(() => createSampler('ddim', { steps: 10, karras: true })).toThrow(/Karras σ applies to/);
    expect(() => createSampler('euler', { steps: 10, eta: 0.5 })).toThrow(/eta applies to DDIM only/);
    expect(() => createSampler('ddim', { steps: 10, eta: 2 })).toThrow(/eta must be from 0 to 1/);
    expect(() => createSampler('ddim', { steps: 0 })).toThrow(SamplerError);
    expect(() => createSampler('ddim', { steps: 10, spacing: 'bogus' as Spacing })).toThrow(/unknown timestep spacing/);
  });

  it('accepts a custom schedule and train timestep count', () => {
    const s = createSampler('ddim', { steps: 4, trainTimesteps: 100 });
    expect(s.timesteps).toEqual([76, 51, 26, 1]);
    const k = createSampler('euler', { steps: 4, schedule: { betaStart: 0.0001, betaEnd: 0.02 } });
    expect(k.initNoiseSigma).toBeGreaterThan(createSampler('euler', { steps: 4 }).initNoiseSigma);
  });

  it('runs every sampler on the cosine schedule to finite values', () => {
    for (const { name } of SAMPLERS) {
      for (const spacing of ['leading', 'trailing'] as const) {
        const s = createSampler(name, { steps: 12, spacing, schedule: { kind: 'cosine' } });
        const rng = new Rng(1);
        let x: Float32Array = rng.normal(8).map((v) => v * s.initNoiseSigma);
        for (let i = 0; i < s.timesteps.length; i++) x = s.step(fakeEps(s.scaleModelInput(x, i), s.timesteps[i]!), i, x, rng);
        for (const v of x) expect(Number.isFinite(v), `${name} ${spacing}`).toBe(true);
      }
    }
  });
});

describe('sampler labels', () => {
  it('round-trips every A1111 label', () => {
    for (const s of SAMPLERS) {
      expect(samplerLabel(s.name)).toBe(s.label);
      expect(parseSamplerLabel(s.label)).toBe(s.name);
    }
    expect(SAMPLERS.map((s) => s.label)).toEqual(expect.arrayContaining(['Euler a', 'DPM++ 2M Karras', 'DDIM', 'PLMS', 'Euler', 'DDPM']));
  });

  it('reads newer A1111 and ComfyUI spellings', () => {
    expect(parseSamplerLabel('DPM++ 2M', 'Karras')).toBe('dpmpp_2m_karras');
    expect(parseSamplerLabel('euler_ancestral', 'karras')).toBe('euler_a_karras');
    expect(parseSamplerLabel('euler a')).toBe('euler_a');
    expect(parseSamplerLabel('DDIM', 'Karras')).toBe('ddim');
    expect(parseSamplerLabel('UniPC')).toBeNull();
  });
});
