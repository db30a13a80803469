// σ-space samplers, step for step as k-diffusion's sampling.py writes them (with A1111's defaults: η = 1
// for the ancestral and SDE samplers, s_churn = 0, s_noise = 1, DPM++ SDE r = ½, DPM++ 2M SDE midpoint).
// x = x0 + σ·n; the model sees x/√(σ²+1) at the timestep its σ table gives for σ; the "denoised" D(x, σ)
// is x − σ·ε (CompVisDenoiser), c_skip·x + c_out·v for v-prediction (CompVisVDenoiser), or A1111's LCM
// consistency scalings.

import {
  BaseSampler,
  SamplerError,
  callModel,
  type BrownianNoiseFactory,
  type ModelFn,
  type NoiseSampler,
  type NoiseSource,
  type Prediction,
  type Sampler,
  type StepResult,
} from './sampler-base.ts';
import type { SigmaTable } from './sigma-schedules.ts';

export type KSamplerKind =
  | 'euler'
  | 'euler_a'
  | 'lms'
  | 'heun'
  | 'dpm2'
  | 'dpm2_a'
  | 'dpmpp_2s_a'
  | 'dpmpp_sde'
  | 'dpmpp_2m'
  | 'dpmpp_2m_sde'
  | 'dpmpp_2m_sde_heun'
  | 'dpmpp_3m_sde'
  | 'lcm';

type Vec = Float64Array;
type Denoise = (x: Vec, sigma: number) => Promise<Vec>;

export class KSampler extends BaseSampler implements Sampler {
  readonly timesteps: readonly number[];
  readonly initNoiseSigma: number;
  private readonly method: Method;
  private brownianNoise: NoiseSampler | null = null;

  constructor(
    readonly name: KSamplerKind,
    readonly schedule: string,
    readonly sigmas: Float64Array,
    private readonly table: SigmaTable,
    private readonly prediction: Prediction,
    private readonly brownian: BrownianNoiseFactory | null,
  ) {
    super();
    if (name === 'lcm' && prediction !== 'epsilon') throw new SamplerError('LCM samples ε-prediction models only (as A1111 does)');
    this.timesteps = Array.from(sigmas.subarray(0, sigmas.length - 1), (s) => table.modelTimestep(s));
    this.initNoiseSigma = sigmas[0]!;
    this.method = METHODS[name]();
  }

  addNoise(x0: Float32Array, noise: Float32Array, i: number): Float32Array {
    this.checkNoise(x0, noise, i);
    const s = this.sigmas[i]!;
    return x0.map((v, k) => v + s * noise[k]!);
  }

  async step(i: number, x: Float32Array, model: ModelFn, noise: NoiseSource): Promise<StepResult> {
    this.begin(i);
    let first: { input: Float32Array; eps: Float32Array } | null = null;
    const denoise: Denoise = async (xs, sigma) => {
      const { denoised, input } = await this.denoised(model, xs, sigma);
      first ??= { input, eps: Float32Array.from(xs, (v, k) => (v - denoised[k]!) / sigma) };
      return denoised;
    };
    const n = x.length;
    const noiseSampler = this.noiseSampler(n, noise);
    const out = await this.method({ i, x: Float64Array.from(x), s: this.sigmas, denoise, noise: noiseSampler });
    const { input, eps } = first!;
    return { x: Float32Array.from(out), input, eps };
  }

  /** DPM++ SDE, 2M SDE and 3M SDE take a Brownian-tree noise sampler when one is given; the rest draw from `noise`. */
  private noiseSampler(n: number, noise: NoiseSource): NoiseSampler {
    const sde = this.name === 'dpmpp_sde' || this.name === 'dpmpp_2m_sde' || this.name === 'dpmpp_2m_sde_heun' || this.name === 'dpmpp_3m_sde';
    if (sde && this.brownian) {
      if (!this.brownianNoise) {
        const positive = Array.from(this.sigmas).filter((v) => v > 0);
        this.brownianNoise = this.brownian(n, Math.min(...positive), Math.max(...positive));
      }
      return this.brownianNoise;
    }
    return () => {
      const v = noise.normal(n);
      if (v.length !== n) throw new SamplerError(`the noise source gave ${v.length} values for ${n}`);
      return v;
    };
  }

  private async denoised(model: ModelFn, x: Vec, sigma: number): Promise<{ denoised: Vec; input: Float32Array }> {
    const cIn = 1 / Math.sqrt(sigma * sigma + 1);
    const input = Float32Array.from(x, (v) => v * cIn);
    const t = this.table.modelTimestep(sigma);
    const out = await callModel(model, input, t);
    const d = new Float64Array(x.length);
    if (this.name === 'lcm') {
      // A1111 LCMCompVisDenoiser: x0 = x − σ·ε, then c_out·x0 + c_skip·x with the timestep scaled by 10, σ_data ½.
      const st = t * 10;
      const cSkip = 0.25 / (st * st + 0.25);
      const cOut = st / Math.sqrt(st * st + 0.25);
      for (let k = 0; k < d.length; k++) d[k] = cOut * (x[k]! - sigma * out[k]!) + cSkip * x[k]!;
    } else if (this.prediction === 'v_prediction') {
      const cSkip = 1 / (sigma * sigma + 1);
      const cOut = -sigma * cIn;
      for (let k = 0; k < d.length; k++) d[k] = cSkip * x[k]! + cOut * out[k]!;
    } else {
      for (let k = 0; k < d.length; k++) d[k] = x[k]! - sigma * out[k]!;
    }
    return { denoised: d, input };
  }
}

interface StepArgs {
  readonly i: number;
  readonly x: Vec;
  /** The whole σ list with its final 0. */
  readonly s: Float64Array;
  readonly denoise: Denoise;
  readonly noise: NoiseSampler;
}
type Method = (a: StepArgs) => Promise<Vec>;

/** k-diffusion get_ancestral_step with η = 1: [σ_down, σ_up]. */
function ancestral(from: number, to: number): [number, number] {
  const up = Math.min(to, Math.sqrt((to * to * (from * from - to * to)) / (from * from)));
  return [Math.sqrt(to * to - up * up), up];
}

/** a + c·(b − a)/σ elementwise: x + d·dt with d = (x − denoised)/σ. */
function eulerMove(x: Vec, denoised: Vec, sigma: number, dt: number): Vec {
  return x.map((v, k) => v + ((v - denoised[k]!) / sigma) * dt);
}

function addNoise(x: Vec, noise: Float32Array, scale: number): Vec {
  for (let k = 0; k < x.length; k++) x[k] = x[k]! + noise[k]! * scale;
  return x;
}

const sigmaFn = (t: number): number => Math.exp(-t);
const tFn = (sigma: number): number => -Math.log(sigma);

const METHODS: Record<KSamplerKind, () => Method> = {
  euler: () => async ({ i, x, s, denoise }) => eulerMove(x, await denoise(x, s[i]!), s[i]!, s[i + 1]! - s[i]!),

  euler_a: () => async ({ i, x, s, denoise, noise }) => {
    const den = await denoise(x, s[i]!);
    const [down, up] = ancestral(s[i]!, s[i + 1]!);
    const out = eulerMove(x, den, s[i]!, down - s[i]!);
    return s[i + 1]! > 0 ? addNoise(out, noise(s[i]!, s[i + 1]!), up) : out;
  },

  heun: () => async ({ i, x, s, denoise }) => {
    const sg = s[i]!;
    const sn = s[i + 1]!;
    const den = await denoise(x, sg);
    const dt = sn - sg;
    if (sn === 0) return eulerMove(x, den, sg, dt);
    const x2 = eulerMove(x, den, sg, dt);
    const den2 = await denoise(x2, sn);
    return x.map((v, k) => v + (((v - den[k]!) / sg + (x2[k]! - den2[k]!) / sn) / 2) * dt);
  },

  dpm2: () => async ({ i, x, s, denoise }) => {
    const sg = s[i]!;
    const sn = s[i + 1]!;
    const den = await denoise(x, sg);
    if (sn === 0) return eulerMove(x, den, sg, sn - sg);
    const mid = Math.exp(lerp(Math.log(sg), Math.log(sn), 0.5));
    const x2 = eulerMove(x, den, sg, mid - sg);
    const den2 = await denoise(x2, mid);
    return x.map((v, k) => v + ((x2[k]! - den2[k]!) / mid) * (sn - sg));
  },

  dpm2_a: () => async ({ i, x, s, denoise, noise }) => {
    const sg = s[i]!;
    const den = await denoise(x, sg);
    const [down, up] = ancestral(sg, s[i + 1]!);
    if (down === 0) return eulerMove(x, den, sg, down - sg);
    const mid = Math.exp(lerp(Math.log(sg), Math.log(down), 0.5));
    const x2 = eulerMove(x, den, sg, mid - sg);
    const den2 = await denoise(x2, mid);
    const out = x.map((v, k) => v + ((x2[k]! - den2[k]!) / mid) * (down - sg));
    return addNoise(out, noise(sg, s[i + 1]!), up);
  },

  lms: () => {
    const ds: Vec[] = [];
    return async ({ i, x, s, denoise }) => {
      const den = await denoise(x, s[i]!);
      ds.push(x.map((v, k) => (v - den[k]!) / s[i]!));
      if (ds.length > 4) ds.shift();
      const order = ds.length;
      const out = Float64Array.from(x);
      for (let j = 0; j < order; j++) {
        const c = lmsCoefficient(order, s, i, j);
        const d = ds[ds.length - 1 - j]!;
        for (let k = 0; k < out.length; k++) out[k] = out[k]! + c * d[k]!;
      }
      return out;
    };
  },

  dpmpp_2s_a: () => async ({ i, x, s, denoise, noise }) => {
    const sg = s[i]!;
    const den = await denoise(x, sg);
    const [down, up] = ancestral(sg, s[i + 1]!);
    let out: Vec;
    if (down === 0) {
      out = eulerMove(x, den, sg, down - sg);
    } else {
      const t = tFn(sg);
      const tNext = tFn(down);
      const h = tNext - t;
      const sMid = t + 0.5 * h;
      const c1 = sigmaFn(sMid) / sigmaFn(t);
      const e1 = Math.expm1(-h * 0.5);
      const x2 = x.map((v, k) => c1 * v - e1 * den[k]!);
      const den2 = await denoise(x2, sigmaFn(sMid));
      const c2 = sigmaFn(tNext) / sigmaFn(t);
      const e2 = Math.expm1(-h);
      out = x.map((v, k) => c2 * v - e2 * den2[k]!);
    }
    return s[i + 1]! > 0 ? addNoise(out, noise(sg, s[i + 1]!), up) : out;
  },

  dpmpp_sde: () => async ({ i, x, s, denoise, noise }) => {
    const sg = s[i]!;
    const sn = s[i + 1]!;
    const den = await denoise(x, sg);
    if (sn === 0) return eulerMove(x, den, sg, sn - sg);
    const r = 0.5;
    const t = tFn(sg);
    const tNext = tFn(sn);
    const h = tNext - t;
    const sMid = t + h * r;
    const fac = 1 / (2 * r);
    // Step 1
    const [sd1, su1] = ancestral(sigmaFn(t), sigmaFn(sMid));
    const s1 = tFn(sd1);
    const c1 = sigmaFn(s1) / sigmaFn(t);
    const e1 = Math.expm1(t - s1);
    const x2 = addNoise(x.map((v, k) => c1 * v - e1 * den[k]!), noise(sigmaFn(t), sigmaFn(sMid)), su1);
    const den2 = await denoise(x2, sigmaFn(sMid));
    // Step 2
    const [sd2, su2] = ancestral(sigmaFn(t), sigmaFn(tNext));
    const t2 = tFn(sd2);
    const c2 = sigmaFn(t2) / sigmaFn(t);
    const e2 = Math.expm1(t - t2);
    const out = x.map((v, k) => c2 * v - e2 * ((1 - fac) * den[k]! + fac * den2[k]!));
    return addNoise(out, noise(sigmaFn(t), sigmaFn(tNext)), su2);
  },

  dpmpp_2m: () => {
    let old: Vec | null = null;
    return async ({ i, x, s, denoise }) => {
      const sg = s[i]!;
      const sn = s[i + 1]!;
      const den = await denoise(x, sg);
      let d = den;
      if (sn === 0) {
        old = den;
        return Float64Array.from(den);
      }
      const t = tFn(sg);
      const h = tFn(sn) - t;
      if (old !== null) {
        const r = (t - tFn(s[i - 1]!)) / h;
        const prev = old;
        d = den.map((v, k) => (1 + 1 / (2 * r)) * v - (1 / (2 * r)) * prev[k]!);
      }
      old = den;
      const c = sn / sg;
      const e = Math.expm1(-h);
      return x.map((v, k) => c * v - e * d[k]!);
    };
  },

  dpmpp_2m_sde: () => dpmpp2mSde('midpoint'),
  dpmpp_2m_sde_heun: () => dpmpp2mSde('heun'),

  dpmpp_3m_sde: () => {
    let d1Prev: Vec | null = null;
    let d2Prev: Vec | null = null;
    let h1: number | null = null;
    let h2: number | null = null;
    return async ({ i, x, s, denoise, noise }) => {
      const sg = s[i]!;
      const sn = s[i + 1]!;
      const den = await denoise(x, sg);
      if (sn === 0) return Float64Array.from(den);
      const h = tFn(sn) - tFn(sg);
      const hEta = h * 2; // η = 1
      const a = Math.exp(-hEta);
      const b = -Math.expm1(-hEta);
      const out = x.map((v, k) => a * v + b * den[k]!);
      const phi2 = Math.expm1(-hEta) / hEta + 1;
      if (h2 !== null && h1 !== null) {
        const r0 = h1 / h;
        const r1 = h2 / h;
        const phi3 = phi2 / hEta - 0.5;
        for (let k = 0; k < out.length; k++) {
          const d10 = (den[k]! - d1Prev![k]!) / r0;
          const d11 = (d1Prev![k]! - d2Prev![k]!) / r1;
          const d1 = d10 + ((d10 - d11) * r0) / (r0 + r1);
          const d2 = (d10 - d11) / (r0 + r1);
          out[k] = out[k]! + phi2 * d1 - phi3 * d2;
        }
      } else if (h1 !== null) {
        const r = h1 / h;
        for (let k = 0; k < out.length; k++) out[k] = out[k]! + phi2 * ((den[k]! - d1Prev![k]!) / r);
      }
      addNoise(out, noise(sg, sn), sn * Math.sqrt(-Math.expm1(-2 * h)));
      d2Prev = d1Prev;
      d1Prev = den;
      h2 = h1;
      h1 = h;
      return out;
    };
  },

  lcm: () => async ({ i, x, s, denoise, noise }) => {
    const den = await denoise(x, s[i]!);
    return s[i + 1]! > 0 ? addNoise(Float64Array.from(den), noise(s[i]!, s[i + 1]!), s[i + 1]!) : Float64Array.from(den);
  },
};

/** DPM++ 2M SDE with η = 1; A1111's "DPM++ 2M SDE" is the midpoint solver, "DPM++ 2M SDE Heun" the Heun one. */
function dpmpp2mSde(solver: 'midpoint' | 'heun'): Method {
  let old: Vec | null = null;
  let hLast = 0;
  return async ({ i, x, s, denoise, noise }) => {
    const sg = s[i]!;
    const sn = s[i + 1]!;
    const den = await denoise(x, sg);
    if (sn === 0) {
      old = den;
      return Float64Array.from(den);
    }
    const h = tFn(sn) - tFn(sg);
    const etaH = h; // η = 1
    const c = (sn / sg) * Math.exp(-etaH);
    const e = -Math.expm1(-h - etaH);
    const out = x.map((v, k) => c * v + e * den[k]!);
    if (old !== null) {
      const r = hLast / h;
      const prev = old;
      const w = solver === 'heun' ? (e / (-h - etaH) + 1) * (1 / r) : 0.5 * e * (1 / r);
      for (let k = 0; k < out.length; k++) out[k] = out[k]! + w * (den[k]! - prev[k]!);
    }
    addNoise(out, noise(sg, sn), sn * Math.sqrt(-Math.expm1(-2 * etaH)));
    old = den;
    hLast = h;
    return out;
  };
}

function lerp(a: number, b: number, w: number): number {
  return a + w * (b - a);
}

// Gauss–Legendre nodes and weights on [−1, 1], exact for polynomials up to degree 5 (LMS needs 3).
const GL_X = [-Math.sqrt(3 / 5), 0, Math.sqrt(3 / 5)];
const GL_W = [5 / 9, 8 / 9, 5 / 9];

/**
 * k-diffusion's linear_multistep_coeff: ∫ from σ_i to σ_{i+1} of the Lagrange basis polynomial j over
 * σ_i, σ_{i−1}, …, σ_{i−order+1}. k-diffusion integrates it with scipy's quad; it is a polynomial of
 * degree order − 1 ≤ 3, which 3-point Gauss–Legendre integrates exactly.
 */
export function lmsCoefficient(order: number, s: ArrayLike<number>, i: number, j: number): number {
  const basis = (tau: number): number => {
    let prod = 1;
    for (let k = 0; k < order; k++) {
      if (k === j) continue;
      prod *= (tau - s[i - k]!) / (s[i - j]! - s[i - k]!);
    }
    return prod;
  };
  const a = s[i]!;
  const b = s[i + 1]!;
  const half = (b - a) / 2;
  const mid = (a + b) / 2;
  let sum = 0;
  for (let q = 0; q < 3; q++) sum += GL_W[q]! * basis(mid + half * GL_X[q]!);
  return sum * half;
}
