import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  SAMPLERS,
  SCHEDULE_TYPES,
  SamplerError,
  createSampler,
  foldSchedule,
  parseSamplerLabel,
  resolveSampler,
  samplerFromLabel,
  samplerLabel,
  samplerLabels,
  type ModelFn,
  type NoiseSource,
  type Prediction,
} from '../../../electron/engine/diffusion/samplers.ts';
import { Rng } from '../../../electron/engine/diffusion/rng.ts';
import { makeSchedule } from '../../../electron/engine/diffusion/schedule.ts';

interface Case {
  name: string;
  sampler: string;
  schedule: string;
  steps: number;
  prediction: Prediction;
  eta: number;
  startIndex: number;
  initNoise: number[];
  x0?: number[];
  sigmas?: number[];
  timesteps?: number[];
  initNoiseSigma: number;
  nSteps: number;
  final: number[];
  nCalls: number;
  callSum: number;
  calls?: number[];
  noiseDraws: number;
}

// Made by scripts/reference/samplers.py: independent numpy float64 re-implementations written as the
// originals' loops (k-diffusion sampling.py, CompVis ddim.py/plms.py, A1111's uni_pc.py), run on a
// t-dependent fake model, for every sampler × schedule type at 7, 20 (and for A1111's main five types 30
// and 50) steps, v-prediction, img2img starts and DDIM η.
const cases = JSON.parse(readFileSync(new URL('../../fixtures/samplers/trajectories.json', import.meta.url), 'utf8')) as Case[];

/** The reference's fake model: f_k = 0.1·x_k + sin(0.01·t + 0.5·k), answered as float32 like a UNet. */
function fakeModel(calls: number[]): ModelFn {
  return async (x, t) => {
    calls.push(t);
    return x.map((v, k) => 0.1 * v + Math.sin(0.01 * t + 0.5 * k));
  };
}

/** The reference's noise: draw j, element k = float32(1.3·sin(1.7·j + 0.9·k + 0.3)). */
class FormulaNoise implements NoiseSource {
  draws = 0;
  normal(n: number): Float32Array {
    const j = this.draws++;
    return Float32Array.from({ length: n }, (_, k) => 1.3 * Math.sin(1.7 * j + 0.9 * k + 0.3));
  }
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return m;
}

async function run(c: Case): Promise<{ x: Float32Array; calls: number[]; noise: FormulaNoise; steps: number; initNoiseSigma: number; sigmas: Float64Array | null; timesteps: readonly number[] }> {
  const s = createSampler(c.sampler, { steps: c.steps, scheduleType: c.schedule, prediction: c.prediction, eta: c.eta });
  const init = Float32Array.from(c.initNoise);
  let x = c.startIndex === 0 ? init.map((v) => v * s.initNoiseSigma) : s.addNoise(Float32Array.from(c.x0!), init, c.startIndex);
  const calls: number[] = [];
  const model = fakeModel(calls);
  const noise = new FormulaNoise();
  for (let i = c.startIndex; i < s.timesteps.length; i++) x = (await s.step(i, x, model, noise)).x;
  return { x, calls, noise, steps: s.timesteps.length, initNoiseSigma: s.initNoiseSigma, sigmas: s.sigmas, timesteps: s.timesteps };
}

describe('samplers against the numpy reference', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const r = await run(c);
      expect(r.steps).toBe(c.nSteps);
      expect(r.initNoiseSigma).toBeCloseTo(c.initNoiseSigma, 9);
      if (c.sigmas) r.sigmas!.forEach((v, i) => expect(Math.abs(v - c.sigmas![i]!) / Math.max(c.sigmas![i]!, 1e-12), `σ ${i}`).toBeLessThan(1e-12));
      if (c.timesteps) expect(r.timesteps).toEqual(c.timesteps);
      expect(r.calls.length).toBe(c.nCalls);
      if (c.calls) r.calls.forEach((t, i) => expect(t, `call ${i}`).toBeCloseTo(c.calls![i]!, 8));
      expect(r.calls.reduce((a, b) => a + b, 0)).toBeCloseTo(c.callSum, 6);
      expect(r.noise.draws).toBe(c.noiseDraws);
      expect(maxRelErr(r.x, c.final)).toBeLessThan(1e-5);
    });
  }

  it('covers every sampler with every schedule type it takes, at step counts that do and do not divide 1000', () => {
    for (const s of SAMPLERS) {
      for (const t of s.schedules) {
        const steps = cases.filter((c) => c.sampler === s.name && c.schedule === t && c.prediction === 'epsilon' && c.startIndex === 0).map((c) => c.steps);
        // The five types at 7, 20, 30 and 50 steps; A1111's other types and diffusers' spacings at 7 and 20.
        const main = ['automatic', 'uniform', 'karras', 'exponential', 'sgm_uniform'].includes(t);
        expect(steps, `${s.name} ${t}`).toEqual(expect.arrayContaining(main ? [7, 20, 30, 50] : [7, 20]));
      }
      if (s.name !== 'lcm') expect(cases.some((c) => c.sampler === s.name && c.prediction === 'v_prediction'), s.name).toBe(true);
      expect(cases.some((c) => c.sampler === s.name && c.startIndex > 0), s.name).toBe(true);
    }
  });
});

describe('sampler behaviour', () => {
  it('is deterministic for a seed, with the engine RNG', async () => {
    const go = async (seed: number): Promise<Float32Array> => {
      const s = createSampler('euler_a', { steps: 8 });
      const rng = new Rng(seed);
      let x: Float32Array = rng.normal(16).map((v) => v * s.initNoiseSigma);
      for (let i = 0; i < s.timesteps.length; i++) x = (await s.step(i, x, fakeModel([]), rng)).x;
      return x;
    };
    expect(await go(5)).toEqual(await go(5));
    expect(await go(5)).not.toEqual(await go(6));
  });

  it('recovers x0 when the model predicts the true noise (deterministic samplers), for ε and v models', async () => {
    // With the model answering the noise that was added, every deterministic sampler lands on x0 (up to
    // ᾱ[0] for DDIM/PLMS/UniPC, which end there).
    const x0 = Float32Array.from([0.5, -0.25, 1, 0]);
    const n = Float32Array.from([1, -1, 0.3, 2]);
    const sched = makeSchedule();
    for (const prediction of ['epsilon', 'v_prediction'] as const) {
      for (const name of ['ddim', 'plms', 'euler', 'heun', 'lms', 'dpm2', 'dpmpp_2m', 'unipc']) {
        const s = createSampler(name, { steps: 20, prediction });
        // The "true" answer at model input u and timestep t: ε = n, v = √ᾱ·n − √(1−ᾱ)·x0.
        const model: ModelFn = async (_u, t) => {
          const lo = Math.floor(t);
          const w = t - lo;
          const ab = sched.alphasCumprod[lo]! * (1 - w) + sched.alphasCumprod[Math.min(lo + 1, 999)]! * w;
          return prediction === 'epsilon' ? Float32Array.from(n) : n.map((e, k) => Math.sqrt(ab) * e - Math.sqrt(1 - ab) * x0[k]!);
        };
        let x = s.addNoise(x0, n, 0);
        for (let i = 0; i < s.timesteps.length; i++) x = (await s.step(i, x, model, new Rng(0))).x;
        const a0 = sched.alphasCumprod[0]!;
        const alphaEnd = s.sigmas === null;
        const want = alphaEnd ? x0.map((v, k) => Math.sqrt(a0) * v + Math.sqrt(1 - a0) * n[k]!) : x0;
        // v at fractional σ-space timesteps uses ᾱ interpolated linearly here, log-σ there: close, not equal.
        const tol = prediction === 'epsilon' ? 1e-4 : 2e-2;
        x.forEach((v, k) => expect(Math.abs(v - want[k]!), `${name} ${prediction}[${k}]`).toBeLessThan(tol));
      }
    }
  });

  it('makes one model call per step, two for Heun/DPM2/DPM++ 2S a/DPM++ SDE (one on their last), and PLMS one extra', async () => {
    const count = async (name: string, steps: number): Promise<number> => {
      const s = createSampler(name, { steps });
      const calls: number[] = [];
      let x: Float32Array = new Float32Array(4).fill(s.initNoiseSigma);
      for (let i = 0; i < s.timesteps.length; i++) x = (await s.step(i, x, fakeModel(calls), new Rng(1))).x;
      return calls.length;
    };
    expect(await count('euler', 10)).toBe(10);
    expect(await count('heun', 10)).toBe(19);
    expect(await count('dpm2', 10)).toBe(19);
    expect(await count('dpmpp_2s_a', 10)).toBe(19);
    expect(await count('dpmpp_sde', 10)).toBe(19);
    expect(await count('plms', 10)).toBe(11);
    expect(await count('unipc', 10)).toBe(10);
    expect(await count('ddim', 7)).toBe(8); // CompVis: range(0, 1000, 142) + 1 has 8 timesteps
  });

  it('follows k-diffusion and A1111 conventions for the σ and timestep lists', () => {
    const uni = createSampler('euler', { steps: 20 });
    expect(uni.sigmas![0]).toBeCloseTo(14.6146, 4);
    expect(uni.sigmas![19]).toBeCloseTo(0.0292, 4);
    expect(uni.sigmas![20]).toBe(0);
    expect(uni.timesteps[0]).toBe(999);
    expect(uni.timesteps[19]).toBeCloseTo(0, 9);
    expect(createSampler('euler', { steps: 7 }).timesteps[1]).toBeCloseTo(832.5, 9); // fractional, not rounded
    const k = createSampler('dpmpp_2m', { steps: 10 }); // automatic = Karras for DPM++ 2M (A1111 ≥ 1.9)
    expect(k.schedule).toBe('karras');
    expect(k.sigmas![0]).toBeCloseTo(14.6146, 4);
    expect(k.sigmas![9]).toBeCloseTo(0.0292, 4);
    expect(createSampler('dpm2', { steps: 10 }).sigmas).toHaveLength(11); // 11 built, the penultimate dropped
    expect(createSampler('ddim', { steps: 20 }).timesteps.slice(0, 3)).toEqual([951, 901, 851]);
    expect(createSampler('ddim', { steps: 7 }).timesteps).toEqual([995, 853, 711, 569, 427, 285, 143, 1]);
    expect(createSampler('ddim', { steps: 10, scheduleType: 'leading' }).timesteps[0]).toBe(901);
    expect(createSampler('unipc', { steps: 7 }).timesteps).toHaveLength(8);
  });

  it('lets img2img start mid-way but refuses steps out of order', async () => {
    const s = createSampler('dpmpp_2m', { steps: 10 });
    const x = new Float32Array(4);
    await s.step(4, x, fakeModel([]), new Rng(0));
    await s.step(5, x, fakeModel([]), new Rng(0));
    await expect(s.step(5, x, fakeModel([]), new Rng(0))).rejects.toThrow(/steps run in order/);
    await expect(createSampler('ddim', { steps: 4 }).step(4, x, fakeModel([]), new Rng(0))).rejects.toThrow(/outside 0…3/);
    await expect(createSampler('ddim', { steps: 4 }).step(0, x, async () => new Float32Array(3), new Rng(0))).rejects.toThrow(/answered 3 values/);
    expect(() => createSampler('ddim', { steps: 3 }).addNoise(x, new Float32Array(2), 0)).toThrow(SamplerError);
  });

  it('rejects unknown samplers, schedule types and options that do not apply', () => {
    expect(() => createSampler('warp', { steps: 10 })).toThrow(/unknown sampler "warp"/);
    expect(() => createSampler('ddim', { steps: 10, scheduleType: 'karras' })).toThrow(/DDIM takes the schedule types automatic, leading, trailing, linspace, not karras/);
    expect(() => createSampler('unipc', { steps: 10, scheduleType: 'trailing' })).toThrow(/UniPC takes/);
    expect(() => createSampler('euler', { steps: 10, scheduleType: 'bogus' })).toThrow(/unknown schedule type "bogus"/);
    expect(() => createSampler('dpmpp_2m_karras', { steps: 10, scheduleType: 'exponential' })).toThrow(/names the karras schedule/);
    expect(() => createSampler('euler', { steps: 10, eta: 0.5 })).toThrow(/eta applies to DDIM only/);
    expect(() => createSampler('ddim', { steps: 10, eta: 2 })).toThrow(/eta must be from 0 to 1/);
    expect(() => createSampler('lcm', { steps: 4, prediction: 'v_prediction' })).toThrow(/LCM samples ε-prediction/);
    expect(() => createSampler('ddim', { steps: 0 })).toThrow(SamplerError);
  });

  it('reads the older names with a schedule suffix', () => {
    expect(resolveSampler('dpmpp_2m_karras')).toEqual({ name: 'dpmpp_2m', schedule: 'karras' });
    expect(resolveSampler('euler_a_karras', 'karras')).toEqual({ name: 'euler_a', schedule: 'karras' });
    expect(createSampler('euler_karras', { steps: 5 }).schedule).toBe('karras');
  });

  it('runs every sampler and schedule type on the cosine and linear-β schedules to finite values', async () => {
    for (const kind of ['cosine', 'linear'] as const) {
      for (const s of SAMPLERS) {
        for (const t of s.schedules) {
          const sampler = createSampler(s.name, { steps: 12, scheduleType: t, schedule: { kind } });
          const rng = new Rng(1);
          let x: Float32Array = rng.normal(8).map((v) => v * sampler.initNoiseSigma);
          for (let i = 0; i < sampler.timesteps.length; i++) x = (await sampler.step(i, x, fakeModel([]), rng)).x;
          for (const v of x) expect(Number.isFinite(v), `${kind} ${s.name} ${t}`).toBe(true);
        }
      }
    }
  });

  it('takes a Brownian-tree noise sampler for the SDE samplers', async () => {
    const asked: number[][] = [];
    const s = createSampler('dpmpp_2m_sde', {
      steps: 6,
      brownianNoise: (size, lo, hi) => {
        asked.push([size, lo, hi]);
        return () => new Float32Array(size);
      },
    });
    const noise = new FormulaNoise();
    let x: Float32Array = new Float32Array(4).fill(1);
    for (let i = 0; i < 6; i++) x = (await s.step(i, x, fakeModel([]), noise)).x;
    expect(asked).toEqual([[4, s.sigmas![5], s.sigmas![0]]]);
    expect(noise.draws).toBe(0);
  });
});

describe('sampler labels', () => {
  it('offers every sampler with its A1111 label and schedule types', () => {
    expect(SAMPLERS.map((s) => s.label)).toEqual([
      'DPM++ 2M', 'DPM++ SDE', 'DPM++ 2M SDE', 'DPM++ 2M SDE Heun', 'DPM++ 2S a', 'DPM++ 3M SDE', 'Euler a', 'Euler', 'LMS', 'Heun',
      'DPM2', 'DPM2 a', 'DDIM', 'PLMS', 'UniPC', 'LCM', 'DDPM',
    ]);
    expect(SCHEDULE_TYPES.slice(0, 10).map((t) => t.label)).toEqual([
      'Automatic', 'Uniform', 'Karras', 'Exponential', 'SGM Uniform', 'Polyexponential', 'KL Optimal', 'Align Your Steps', 'Simple', 'DDIM',
    ]);
  });

  it('writes what A1111 ≥ 1.9 writes and reads it back', () => {
    expect(samplerLabels('dpmpp_2m')).toEqual({ sampler: 'DPM++ 2M', scheduleType: 'Karras' });
    expect(samplerLabels('dpmpp_2m_sde')).toEqual({ sampler: 'DPM++ 2M SDE', scheduleType: 'Exponential' });
    expect(samplerLabels('euler_a')).toEqual({ sampler: 'Euler a', scheduleType: 'Automatic' });
    expect(samplerLabels('euler', 'sgm_uniform')).toEqual({ sampler: 'Euler', scheduleType: 'SGM Uniform' });
    expect(samplerLabels('dpmpp_2m_karras')).toEqual({ sampler: 'DPM++ 2M', scheduleType: 'Karras' });
    expect(samplerLabels('ddim')).toEqual({ sampler: 'DDIM', scheduleType: 'Automatic' });
    for (const s of SAMPLERS) {
      for (const t of s.schedules) {
        const l = samplerLabels(s.name, t);
        const back = samplerFromLabel(l.sampler, l.scheduleType)!;
        expect(back.name).toBe(s.name);
        // 'automatic' comes back as what it resolved to where A1111 writes it resolved.
        const again = samplerLabels(back.name, back.schedule);
        expect(again, `${s.name} ${t}`).toEqual(l);
      }
    }
  });

  it('reads older A1111 labels, aliases and other tools’ names', () => {
    expect(samplerFromLabel('DPM++ 2M Karras')).toEqual({ name: 'dpmpp_2m', schedule: 'karras' });
    expect(samplerFromLabel('DPM++ 2M SDE Exponential')).toEqual({ name: 'dpmpp_2m_sde', schedule: 'exponential' });
    expect(samplerFromLabel('DPM++ 2M SDE Heun Karras')).toEqual({ name: 'dpmpp_2m_sde_heun', schedule: 'karras' });
    // Before 1.9 a plain "DPM++ 2M" ran k-diffusion's get_sigmas: Uniform, not today's Karras default.
    expect(samplerFromLabel('DPM++ 2M')).toEqual({ name: 'dpmpp_2m', schedule: 'uniform' });
    expect(samplerFromLabel('DPM++ 2M', 'Automatic')).toEqual({ name: 'dpmpp_2m', schedule: 'automatic' });
    expect(samplerFromLabel('Euler a', 'SGMUniform')).toEqual({ name: 'euler_a', schedule: 'sgm_uniform' });
    expect(samplerFromLabel('k_dpmpp_2m_sde')).toEqual({ name: 'dpmpp_2m_sde', schedule: 'uniform' });
    expect(samplerFromLabel('euler_ancestral', 'karras')).toEqual({ name: 'euler_a', schedule: 'karras' });
    expect(samplerFromLabel('dpmpp_2m', 'normal')).toEqual({ name: 'dpmpp_2m', schedule: 'uniform' });
    expect(samplerFromLabel('uni_pc')).toEqual({ name: 'unipc', schedule: 'automatic' });
    expect(samplerFromLabel('DDIM', 'Karras')).toEqual({ name: 'ddim', schedule: 'automatic' });
    expect(samplerFromLabel('LCM')).toEqual({ name: 'lcm', schedule: 'uniform' });
    expect(samplerFromLabel('Restart')).toBeNull();
    expect(samplerFromLabel('DPM++ 2M SGM Uniform')).toEqual({ name: 'dpmpp_2m', schedule: 'sgm_uniform' });
    expect(samplerFromLabel('Euler', 'KL Optimal')).toEqual({ name: 'euler', schedule: 'kl_optimal' });
    expect(samplerFromLabel('dpmpp_2m', 'ddim_uniform')).toEqual({ name: 'dpmpp_2m', schedule: 'ddim_uniform' });
    expect(resolveSampler('dpmpp_2m_sgm_uniform')).toEqual({ name: 'dpmpp_2m', schedule: 'sgm_uniform' });
  });

  it('keeps the one-string forms for older callers', () => {
    expect(parseSamplerLabel('DPM++ 2M', 'Karras')).toBe('dpmpp_2m_karras');
    expect(parseSamplerLabel('DPM++ 2M')).toBe('dpmpp_2m_uniform');
    expect(parseSamplerLabel('Euler a')).toBe('euler_a');
    expect(parseSamplerLabel('nope')).toBeNull();
    expect(foldSchedule('dpmpp_2m', 'exponential')).toBe('dpmpp_2m_exponential');
    expect(foldSchedule('dpmpp_2m', 'automatic')).toBe('dpmpp_2m');
    expect(foldSchedule('euler_a', 'uniform')).toBe('euler_a');
    expect(foldSchedule('dpmpp_2m_karras')).toBe('dpmpp_2m_karras');
    expect(resolveSampler(foldSchedule('dpm2_a', 'sgm_uniform'))).toEqual({ name: 'dpm2_a', schedule: 'sgm_uniform' });
    expect(samplerLabel('dpmpp_2m_karras')).toBe('DPM++ 2M Karras');
    expect(samplerLabel('heun')).toBe('Heun');
    expect(samplerLabel('something else')).toBe('something else');
  });
});
