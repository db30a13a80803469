// ᾱ-space samplers on whole-number timesteps: DDIM and PLMS as CompVis's ddim.py / plms.py loops write
// them (and A1111's timestep samplers), and DDPM's ancestral posterior. x_t = √ᾱ·x0 + √(1−ᾱ)·n, the model
// sees x itself, x_T ~ N(0, 1). A v-prediction output becomes ε = √ᾱ·v + √(1−ᾱ)·x.

import {
  BaseSampler,
  SamplerError,
  callModel,
  type ModelFn,
  type NoiseSource,
  type Prediction,
  type Sampler,
  type StepResult,
} from './sampler-base.ts';
import type { Schedule } from './schedule.ts';

type Eps = (x: Float64Array | Float32Array, t: number) => Promise<Float64Array>;

abstract class AlphaSampler extends BaseSampler implements Sampler {
  readonly initNoiseSigma = 1;
  readonly sigmas = null;

  constructor(
    readonly name: string,
    readonly schedule: string,
    protected readonly table: Schedule,
    readonly timesteps: readonly number[],
    private readonly prediction: Prediction,
  ) {
    super();
  }

  protected alpha(i: number): number {
    return this.table.alphasCumprod[this.timesteps[i]!]!;
  }

  /** ᾱ the step from index i lands on; the last lands on ᾱ[0] (CompVis, diffusers set_alpha_to_one false). */
  protected alphaPrev(i: number): number {
    return i + 1 < this.timesteps.length ? this.alpha(i + 1) : this.table.alphasCumprod[0]!;
  }

  addNoise(x0: Float32Array, noise: Float32Array, i: number): Float32Array {
    this.checkNoise(x0, noise, i);
    const a = this.alpha(i);
    const ca = Math.sqrt(a);
    const cn = Math.sqrt(1 - a);
    return x0.map((v, k) => ca * v + cn * noise[k]!);
  }

  async step(i: number, x: Float32Array, model: ModelFn, noise: NoiseSource): Promise<StepResult> {
    this.begin(i);
    let first: { input: Float32Array; eps: Float32Array } | null = null;
    const eps: Eps = async (xs, t) => {
      const input = Float32Array.from(xs);
      const out = await callModel(model, input, t);
      const e = new Float64Array(out.length);
      if (this.prediction === 'v_prediction') {
        const a = this.table.alphasCumprod[t]!;
        const sa = Math.sqrt(a);
        const sb = Math.sqrt(1 - a);
        for (let k = 0; k < e.length; k++) e[k] = sa * out[k]! + sb * xs[k]!;
      } else {
        e.set(out);
      }
      first ??= { input, eps: Float32Array.from(e) };
      return e;
    };
    const out = await this.advance(i, x, eps, noise);
    const { input, eps: e } = first!;
    return { x: Float32Array.from(out), input, eps: e };
  }

  protected abstract advance(i: number, x: Float32Array, eps: Eps, noise: NoiseSource): Promise<Float64Array>;
}

/** DDIM update from ᾱ_t to ᾱ_prev with noise scale σ (η formula); σ = 0 is the ODE step PLMS uses too. */
function ddimUpdate(x: ArrayLike<number>, eps: ArrayLike<number>, a: number, ap: number, sigma: number, noise: Float32Array | null): Float64Array {
  const out = new Float64Array(x.length);
  const sa = Math.sqrt(a);
  const s1a = Math.sqrt(1 - a);
  const sap = Math.sqrt(ap);
  const dir = Math.sqrt(1 - ap - sigma * sigma);
  for (let k = 0; k < out.length; k++) {
    const e = eps[k]!;
    const x0 = (x[k]! - s1a * e) / sa;
    let v = sap * x0 + dir * e;
    if (noise) v += sigma * noise[k]!;
    out[k] = v;
  }
  return out;
}

export class Ddim extends AlphaSampler {
  constructor(name: string, schedule: string, table: Schedule, ts: readonly number[], prediction: Prediction, private readonly eta: number) {
    super(name, schedule, table, ts, prediction);
  }

  protected async advance(i: number, x: Float32Array, eps: Eps, noise: NoiseSource): Promise<Float64Array> {
    const e = await eps(x, this.timesteps[i]!);
    const a = this.alpha(i);
    const ap = this.alphaPrev(i);
    const sigma = this.eta * Math.sqrt(((1 - ap) / (1 - a)) * (1 - a / ap));
    return ddimUpdate(x, e, a, ap, sigma, this.eta > 0 ? noise.normal(x.length) : null);
  }
}

/**
 * PLMS (pseudo linear multistep, CompVis plms.py): the first step runs a second model call at the next
 * timestep (pseudo improved Euler), later steps combine the ε history Adams–Bashforth style.
 */
export class Plms extends AlphaSampler {
  private readonly old: Float64Array[] = [];

  protected async advance(i: number, x: Float32Array, eps: Eps): Promise<Float64Array> {
    const ts = this.timesteps;
    const e = await eps(x, ts[i]!);
    const a = this.alpha(i);
    const ap = this.alphaPrev(i);
    const h = this.old;
    let ep: Float64Array;
    if (h.length === 0) {
      const xPrev = ddimUpdate(x, e, a, ap, 0, null);
      const eNext = await eps(xPrev, ts[Math.min(i + 1, ts.length - 1)]!);
      ep = e.map((v, k) => (v + eNext[k]!) / 2);
    } else if (h.length === 1) {
      ep = e.map((v, k) => (3 * v - h[0]![k]!) / 2);
    } else if (h.length === 2) {
      ep = e.map((v, k) => (23 * v - 16 * h[1]![k]! + 5 * h[0]![k]!) / 12);
    } else {
      ep = e.map((v, k) => (55 * v - 59 * h[2]![k]! + 37 * h[1]![k]! - 9 * h[0]![k]!) / 24);
    }
    h.push(e);
    if (h.length > 3) h.shift();
    return ddimUpdate(x, ep, a, ap, 0, null);
  }
}

/** Ancestral sampling from the DDPM posterior q(x_prev | x_t, x̂0) with the "fixed small" variance. */
export class Ddpm extends AlphaSampler {
  protected async advance(i: number, x: Float32Array, eps: Eps, noise: NoiseSource): Promise<Float64Array> {
    const e = await eps(x, this.timesteps[i]!);
    const last = i + 1 === this.timesteps.length;
    const a = this.alpha(i);
    const ap = last ? 1 : this.alpha(i + 1);
    const beta = 1 - a / ap;
    const sa = Math.sqrt(a);
    const s1a = Math.sqrt(1 - a);
    const cx0 = (Math.sqrt(ap) * beta) / (1 - a);
    const cx = (Math.sqrt(a / ap) * (1 - ap)) / (1 - a);
    const std = Math.sqrt(((1 - ap) / (1 - a)) * beta);
    const n = last ? null : noise.normal(x.length);
    const out = new Float64Array(x.length);
    for (let k = 0; k < out.length; k++) {
      const x0 = (x[k]! - s1a * e[k]!) / sa;
      out[k] = cx0 * x0 + cx * x[k]! + (n ? std * n[k]! : 0);
    }
    return out;
  }
}

export function checkEta(eta: number, sampler: string): void {
  if (!(eta >= 0 && eta <= 1)) throw new SamplerError(`eta must be from 0 to 1, got ${eta}`);
  if (eta !== 0 && sampler !== 'ddim') throw new SamplerError(`eta applies to DDIM only (got eta ${eta} for ${sampler})`);
}
