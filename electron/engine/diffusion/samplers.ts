// Samplers: small objects over Float32Array latents, one per image run, computing in float64.
// Formulas: shared/reference/ldm-facts.md §2 (CompVis ddim.py / plms.py, diffusers' DDPM posterior,
// k-diffusion's Euler, Euler ancestral and DPM++ 2M). Reference values: scripts/reference/samplers.py.
//
// Two families:
// - ᾱ-space (DDPM, DDIM, PLMS): x_t = √ᾱ·x0 + √(1−ᾱ)·n, model input = x, x_T ~ N(0, 1).
// - σ-space (Euler, Euler a, DPM++ 2M; k-diffusion): x = x0 + σ·n, model input = x/√(σ²+1),
//   x_T = σ_max·n, a final σ = 0; optional Karras σ between the σ of the first and last spaced
//   timesteps (as diffusers does), with fractional model timesteps found by interpolating log σ.

import {
  ScheduleError,
  karrasSigmas,
  makeSchedule,
  sigmaToTimestep,
  spacedTimesteps,
  type Schedule,
  type ScheduleConfig,
  type Spacing,
} from './schedule.ts';

export class SamplerError extends Error {
  override name = 'SamplerError';
}

/** What a sampler needs from the RNG (the engine's Rng satisfies it). */
export interface NoiseSource {
  normal(n: number): Float32Array;
}

export interface Sampler {
  /** Model timestep per step, what the UNet is called with (fractional for Karras σ). */
  readonly timesteps: readonly number[];
  /** Multiply unit noise by this to start txt2img. */
  readonly initNoiseSigma: number;
  scaleModelInput(x: Float32Array, i: number): Float32Array;
  /** x at step i and the model's ε there → x for step i + 1. Call in order, one sampler per image. */
  step(eps: Float32Array, i: number, x: Float32Array, rng: NoiseSource): Float32Array;
  /** x0 noised to the level of step i (img2img start, inpaint blending). */
  addNoise(x0: Float32Array, noise: Float32Array, i: number): Float32Array;
}

export type BaseSamplerName = 'ddpm' | 'ddim' | 'plms' | 'euler' | 'euler_a' | 'dpmpp_2m';
export type SamplerName = BaseSamplerName | 'euler_karras' | 'euler_a_karras' | 'dpmpp_2m_karras';

/** Names with the labels AUTOMATIC1111 writes in its `parameters` text. */
export const SAMPLERS: readonly { readonly name: SamplerName; readonly label: string }[] = [
  { name: 'euler_a', label: 'Euler a' },
  { name: 'euler', label: 'Euler' },
  { name: 'dpmpp_2m', label: 'DPM++ 2M' },
  { name: 'dpmpp_2m_karras', label: 'DPM++ 2M Karras' },
  { name: 'euler_karras', label: 'Euler Karras' },
  { name: 'euler_a_karras', label: 'Euler a Karras' },
  { name: 'ddim', label: 'DDIM' },
  { name: 'plms', label: 'PLMS' },
  { name: 'ddpm', label: 'DDPM' },
];

const SIGMA_SAMPLERS: ReadonlySet<string> = new Set(['euler', 'euler_a', 'dpmpp_2m']);

// Other tools' spellings (ComfyUI, diffusers class names) of the same samplers.
const ALIASES: Record<string, BaseSamplerName> = {
  euler_ancestral: 'euler_a',
  'k_euler_a': 'euler_a',
  'k_euler': 'euler',
  eulerancestraldiscretescheduler: 'euler_a',
  eulerdiscretescheduler: 'euler',
  ddimscheduler: 'ddim',
  pndmscheduler: 'plms',
  ddpmscheduler: 'ddpm',
  dpmsolvermultistepscheduler: 'dpmpp_2m',
  'k_dpmpp_2m': 'dpmpp_2m',
};

export function samplerLabel(name: SamplerName): string {
  return SAMPLERS.find((s) => s.name === name)?.label ?? name;
}

/**
 * A sampler name from a label as other tools write it: A1111 ('DPM++ 2M Karras', or 'DPM++ 2M' with
 * `Schedule type: Karras` in newer versions), our names, ComfyUI names ('euler_ancestral' with scheduler
 * 'karras'). Null when unknown.
 */
export function parseSamplerLabel(label: string, scheduleType?: string): SamplerName | null {
  const l = label.trim().toLowerCase();
  let name: string | undefined = SAMPLERS.find((s) => s.label.toLowerCase() === l || s.name === l)?.name;
  name ??= ALIASES[l.replace(/\s+/g, '_')];
  if (!name) return null;
  if (scheduleType?.trim().toLowerCase() === 'karras' && SIGMA_SAMPLERS.has(name)) name = `${name}_karras`;
  return name as SamplerName;
}

export interface SamplerOptions {
  readonly steps: number;
  /** A schedule, or its config (default: LDM 'linear' 0.00085 → 0.012 over 1000 steps). */
  readonly schedule?: Schedule | ScheduleConfig;
  readonly spacing?: Spacing;
  /** Karras σ (σ-space samplers only); the `_karras` names set it. */
  readonly karras?: boolean;
  /** DDIM stochasticity, 0 (deterministic) to 1. */
  readonly eta?: number;
  /** Shorthand for schedule.trainTimesteps. */
  readonly trainTimesteps?: number;
}

export function createSampler(name: SamplerName | string, opts: SamplerOptions): Sampler {
  const known = SAMPLERS.some((s) => s.name === name);
  if (!known) {
    throw new SamplerError(`unknown sampler "${name}": use one of ${SAMPLERS.map((s) => s.name).join(', ')}`);
  }
  const base = name.replace(/_karras$/, '') as BaseSamplerName;
  const karras = name.endsWith('_karras') || opts.karras === true;
  if (karras && !SIGMA_SAMPLERS.has(base)) {
    throw new SamplerError(`Karras σ applies to euler, euler_a and dpmpp_2m, not ${base}`);
  }
  const eta = opts.eta ?? 0;
  if (!(eta >= 0 && eta <= 1)) throw new SamplerError(`eta must be from 0 to 1, got ${eta}`);
  if (eta !== 0 && base !== 'ddim') throw new SamplerError(`eta applies to DDIM only (got eta ${eta} for ${base})`);

  let schedule: Schedule;
  let ts: number[];
  try {
    schedule = isSchedule(opts.schedule)
      ? opts.schedule
      : makeSchedule({ ...opts.schedule, ...(opts.trainTimesteps !== undefined ? { trainTimesteps: opts.trainTimesteps } : {}) });
    ts = spacedTimesteps(opts.steps, schedule.trainTimesteps, opts.spacing ?? 'leading');
  } catch (err) {
    if (err instanceof ScheduleError) throw new SamplerError(err.message);
    throw err;
  }
  switch (base) {
    case 'ddim':
      return new Ddim(schedule, ts, eta);
    case 'ddpm':
      return new Ddpm(schedule, ts);
    case 'plms':
      return new Plms(schedule, ts);
    default:
      return new SigmaSampler(base, schedule, ts, karras);
  }
}

function isSchedule(s: Schedule | ScheduleConfig | undefined): s is Schedule {
  return s !== undefined && 'alphasCumprod' in s;
}

// ---------------------------------------------------------------------------------------------

abstract class BaseSampler {
  private expected = -1;
  abstract readonly timesteps: readonly number[];

  /** Checks the call: shapes agree, i in range and in order (the first call may start anywhere, for img2img). */
  protected begin(eps: Float32Array, i: number, x: Float32Array): void {
    this.checkIndex(i);
    if (eps.length !== x.length) throw new SamplerError(`eps has ${eps.length} values but x has ${x.length}`);
    if (this.expected !== -1 && i !== this.expected) {
      throw new SamplerError(`step ${i} called after step ${this.expected - 1}: steps run in order; create a new sampler per image`);
    }
    this.expected = i + 1;
  }

  protected checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.timesteps.length) {
      throw new SamplerError(`step index ${i} is outside 0…${this.timesteps.length - 1}`);
    }
  }

  protected checkNoise(x0: Float32Array, noise: Float32Array, i: number): void {
    this.checkIndex(i);
    if (x0.length !== noise.length) throw new SamplerError(`x0 has ${x0.length} values but noise has ${noise.length}`);
  }
}

/** ᾱ-space samplers: ᾱ at each step's timestep, and ᾱ of the step it lands on. */
abstract class AlphaSampler extends BaseSampler {
  readonly initNoiseSigma = 1;

  constructor(
    protected readonly schedule: Schedule,
    readonly timesteps: readonly number[],
  ) {
    super();
  }

  protected alpha(i: number): number {
    return this.schedule.alphasCumprod[this.timesteps[i]!]!;
  }

  scaleModelInput(x: Float32Array, i: number): Float32Array {
    this.checkIndex(i);
    return Float32Array.from(x);
  }

  addNoise(x0: Float32Array, noise: Float32Array, i: number): Float32Array {
    this.checkNoise(x0, noise, i);
    const a = this.alpha(i);
    const ca = Math.sqrt(a);
    const cn = Math.sqrt(1 - a);
    const out = new Float32Array(x0.length);
    for (let k = 0; k < out.length; k++) out[k] = ca * x0[k]! + cn * noise[k]!;
    return out;
  }
}

/** DDIM update from ᾱ_t to ᾱ_prev with noise scale σ (η formula); eta 0 is the ODE step PLMS uses too. */
function ddimUpdate(x: Float32Array, eps: ArrayLike<number>, a: number, ap: number, sigma: number, noise: Float32Array | null): Float32Array {
  const c0 = Math.sqrt(ap) / Math.sqrt(a);
  const s1a = Math.sqrt(1 - a);
  const dir = Math.sqrt(Math.max(0, 1 - ap - sigma * sigma));
  const out = new Float32Array(x.length);
  for (let k = 0; k < out.length; k++) {
    const e = eps[k]!;
    let v = c0 * (x[k]! - s1a * e) + dir * e;
    if (noise) v += sigma * noise[k]!;
    out[k] = v;
  }
  return out;
}

class Ddim extends AlphaSampler {
  constructor(schedule: Schedule, ts: number[], private readonly eta: number) {
    super(schedule, ts);
  }

  /** ᾱ after step i; the last step lands on ᾱ[0] (CompVis, and diffusers with set_alpha_to_one false). */
  private alphaPrev(i: number): number {
    return i + 1 < this.timesteps.length ? this.alpha(i + 1) : this.schedule.alphasCumprod[0]!;
  }

  step(eps: Float32Array, i: number, x: Float32Array, rng: NoiseSource): Float32Array {
    this.begin(eps, i, x);
    const a = this.alpha(i);
    const ap = this.alphaPrev(i);
    const sigma = this.eta * Math.sqrt(((1 - ap) / (1 - a)) * (1 - a / ap));
    return ddimUpdate(x, eps, a, ap, sigma, this.eta > 0 ? rng.normal(x.length) : null);
  }
}

/** Ancestral sampling from the DDPM posterior q(x_prev | x_t, x̂0) with the "fixed small" variance. */
class Ddpm extends AlphaSampler {
  step(eps: Float32Array, i: number, x: Float32Array, rng: NoiseSource): Float32Array {
    this.begin(eps, i, x);
    const last = i + 1 === this.timesteps.length;
    const a = this.alpha(i);
    const ap = last ? 1 : this.alpha(i + 1);
    const beta = 1 - a / ap;
    const sa = Math.sqrt(a);
    const s1a = Math.sqrt(1 - a);
    const cx0 = (Math.sqrt(ap) * beta) / (1 - a);
    const cx = (Math.sqrt(a / ap) * (1 - ap)) / (1 - a);
    const std = Math.sqrt(((1 - ap) / (1 - a)) * beta);
    const noise = last ? null : rng.normal(x.length);
    const out = new Float32Array(x.length);
    for (let k = 0; k < out.length; k++) {
      const x0 = (x[k]! - s1a * eps[k]!) / sa;
      let v = cx0 * x0 + cx * x[k]!;
      if (noise) v += std * noise[k]!;
      out[k] = v;
    }
    return out;
  }
}

/**
 * PLMS (pseudo linear multistep, CompVis). Its first step needs a second model evaluation, so with S ≥ 2
 * steps the timesteps are [t0, t1, t1, t2, …] (S + 1 calls, as diffusers' PNDM without PRK steps):
 * index 0 makes a provisional x at t1, index 1 redoes step 0 with the mean of both ε, and index j ≥ 2
 * is real step j − 1 with the Adams–Bashforth combination of the ε history.
 */
class Plms extends AlphaSampler {
  private readonly real: readonly number[];
  private history: Float32Array[] = [];
  private first: { x: Float32Array; eps: Float32Array } | null = null;

  constructor(schedule: Schedule, ts: number[]) {
    super(schedule, ts.length >= 2 ? [ts[0]!, ts[1]!, ...ts.slice(1)] : ts);
    this.real = ts;
  }

  private realAlphas(r: number): [number, number] {
    const ac = this.schedule.alphasCumprod;
    return [ac[this.real[r]!]!, r + 1 < this.real.length ? ac[this.real[r + 1]!]! : ac[0]!];
  }

  step(eps: Float32Array, i: number, x: Float32Array): Float32Array {
    this.begin(eps, i, x);
    const warm = this.real.length >= 2;
    if (warm && i === 0) {
      this.first = { x: Float32Array.from(x), eps: Float32Array.from(eps) };
      const [a, ap] = this.realAlphas(0);
      return ddimUpdate(x, eps, a, ap, 0, null);
    }
    if (warm && i === 1) {
      // Started here (img2img): x is already at t1, where this correction step lands.
      if (!this.first) return Float32Array.from(x);
      const { x: x0, eps: e0 } = this.first;
      const mean = new Float64Array(eps.length);
      for (let k = 0; k < mean.length; k++) mean[k] = (eps[k]! + e0[k]!) / 2;
      this.history.push(e0);
      this.first = null;
      const [a, ap] = this.realAlphas(0);
      return ddimUpdate(x0, mean, a, ap, 0, null);
    }
    const r = warm ? i - 1 : i;
    const h = this.history;
    const n = h.length;
    const e = new Float64Array(eps.length);
    for (let k = 0; k < e.length; k++) {
      const c = eps[k]!;
      if (n === 0) e[k] = c;
      else if (n === 1) e[k] = (3 * c - h[n - 1]![k]!) / 2;
      else if (n === 2) e[k] = (23 * c - 16 * h[n - 1]![k]! + 5 * h[n - 2]![k]!) / 12;
      else e[k] = (55 * c - 59 * h[n - 1]![k]! + 37 * h[n - 2]![k]! - 9 * h[n - 3]![k]!) / 24;
    }
    h.push(Float32Array.from(eps));
    if (h.length > 3) h.shift();
    const [a, ap] = this.realAlphas(r);
    return ddimUpdate(x, e, a, ap, 0, null);
  }
}

class SigmaSampler extends BaseSampler {
  readonly timesteps: readonly number[];
  /** σ per step plus a final 0. */
  readonly sigmas: Float64Array;
  readonly initNoiseSigma: number;
  private prevDenoised: Float64Array | null = null;

  constructor(
    private readonly kind: 'euler' | 'euler_a' | 'dpmpp_2m',
    schedule: Schedule,
    ts: number[],
    karras: boolean,
  ) {
    super();
    const n = ts.length;
    this.sigmas = new Float64Array(n + 1);
    if (karras) {
      const s = schedule.sigmas;
      this.sigmas.set(karrasSigmas(n, s[ts[n - 1]!]!, s[ts[0]!]!));
      this.timesteps = Array.from(this.sigmas.subarray(0, n), (sig) => sigmaToTimestep(schedule, sig));
    } else {
      for (let i = 0; i < n; i++) this.sigmas[i] = schedule.sigmas[ts[i]!]!;
      this.timesteps = ts;
    }
    this.initNoiseSigma = this.sigmas[0]!;
  }

  scaleModelInput(x: Float32Array, i: number): Float32Array {
    this.checkIndex(i);
    const s = this.sigmas[i]!;
    const c = 1 / Math.sqrt(s * s + 1);
    return x.map((v) => v * c);
  }

  addNoise(x0: Float32Array, noise: Float32Array, i: number): Float32Array {
    this.checkNoise(x0, noise, i);
    const s = this.sigmas[i]!;
    const out = new Float32Array(x0.length);
    for (let k = 0; k < out.length; k++) out[k] = x0[k]! + s * noise[k]!;
    return out;
  }

  step(eps: Float32Array, i: number, x: Float32Array, rng: NoiseSource): Float32Array {
    this.begin(eps, i, x);
    const s = this.sigmas[i]!;
    const sn = this.sigmas[i + 1]!;
    const out = new Float32Array(x.length);
    if (this.kind === 'euler') {
      const dt = sn - s;
      for (let k = 0; k < out.length; k++) out[k] = x[k]! + eps[k]! * dt;
      return out;
    }
    if (this.kind === 'euler_a') {
      const up = Math.min(sn, Math.sqrt((sn * sn * (s * s - sn * sn)) / (s * s)));
      const dt = Math.sqrt(sn * sn - up * up) - s;
      const noise = sn > 0 ? rng.normal(x.length) : null;
      for (let k = 0; k < out.length; k++) out[k] = x[k]! + eps[k]! * dt + (noise ? noise[k]! * up : 0);
      return out;
    }
    // DPM++ 2M (k-diffusion sample_dpmpp_2m) in λ = −log σ, on the denoised prediction x − σε.
    const denoised = new Float64Array(x.length);
    for (let k = 0; k < denoised.length; k++) denoised[k] = x[k]! - s * eps[k]!;
    const prev = this.prevDenoised;
    this.prevDenoised = denoised;
    if (sn === 0) {
      out.set(denoised);
      return out;
    }
    const h = Math.log(s) - Math.log(sn);
    const ratio = sn / s;
    const c = -Math.expm1(-h);
    if (prev === null) {
      for (let k = 0; k < out.length; k++) out[k] = ratio * x[k]! + c * denoised[k]!;
      return out;
    }
    const hLast = Math.log(this.sigmas[i - 1]!) - Math.log(s);
    const r = hLast / h;
    const w1 = 1 + 1 / (2 * r);
    const w0 = 1 / (2 * r);
    for (let k = 0; k < out.length; k++) out[k] = ratio * x[k]! + c * (w1 * denoised[k]! - w0 * prev[k]!);
    return out;
  }
}
