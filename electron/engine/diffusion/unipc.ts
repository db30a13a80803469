// UniPC as AUTOMATIC1111 runs it (modules/models/diffusion/uni_pc/uni_pc.py with its defaults: multistep,
// data prediction, variant bh1, order 3, time-uniform steps, lower order at the end, no denoise to zero).
//
// Time is continuous t ∈ [1/N, 1] (N = training timesteps); log α(t) interpolates ½·log ᾱ linearly between
// t_k = (k + 1)/N; σ(t) = √(1 − α²), λ = log α − log σ; the model is called at t_input = (t − 1/N)·1000
// with x itself. A1111 runs as many steps as CompVis's timesteps for S (range(0, T, T div S) + 1), from
// t = 1 to 1/N evenly: steps + 1 times, one model call per step.
//
// The loop drives one model call per step, so each step here first calls the model at the x the previous
// step predicted, uses that to correct the previous step (UniPC's corrector; its model value is reused as
// the next predictor's), then predicts the next x. The last step predicts without correcting, as UniPC does.

import {
  BaseSampler,
  callModel,
  type ModelFn,
  type Prediction,
  type Sampler,
  type StepResult,
} from './sampler-base.ts';
import type { Schedule } from './schedule.ts';
import { linspace } from './sigma-schedules.ts';

const ORDER = 3;

export class UniPC extends BaseSampler implements Sampler {
  readonly name = 'unipc';
  readonly schedule = 'automatic';
  readonly sigmas = null;
  readonly initNoiseSigma = 1;
  readonly timesteps: readonly number[];
  /** Continuous times t_0 … t_N. */
  private readonly times: Float64Array;
  private readonly logAlpha: Float64Array;
  private readonly order: number;
  private start = -1;
  private corrected: Float64Array | null = null;
  private readonly models: Float64Array[] = [];
  private readonly prevTimes: number[] = [];

  constructor(
    private readonly table: Schedule,
    steps: number,
    private readonly prediction: Prediction,
  ) {
    super();
    const N = table.trainTimesteps;
    this.logAlpha = table.alphasCumprod.map((a) => 0.5 * Math.log(a));
    this.times = linspace(1, 1 / N, steps + 1);
    this.timesteps = Array.from(this.times.subarray(0, steps), (t) => this.modelTime(t));
    this.order = Math.min(ORDER, steps);
  }

  private modelTime(t: number): number {
    return (t - 1 / this.table.trainTimesteps) * 1000;
  }

  /** log α(t): ½·log ᾱ interpolated linearly over t_k = (k + 1)/N, extended linearly past the ends. */
  private logA(t: number): number {
    const N = this.table.trainTimesteps;
    const la = this.logAlpha;
    const pos = t * N - 1;
    const k = Math.min(Math.max(Math.floor(pos), 0), N - 2);
    const t0 = (k + 1) / N;
    const t1 = (k + 2) / N;
    return la[k]! + ((t - t0) * (la[k + 1]! - la[k]!)) / (t1 - t0);
  }

  private alpha(t: number): number {
    return Math.exp(this.logA(t));
  }

  private std(t: number): number {
    return Math.sqrt(1 - Math.exp(2 * this.logA(t)));
  }

  private lambda(t: number): number {
    const l = this.logA(t);
    return l - 0.5 * Math.log(1 - Math.exp(2 * l));
  }

  addNoise(x0: Float32Array, noise: Float32Array, i: number): Float32Array {
    this.checkNoise(x0, noise, i);
    const t = this.times[i]!;
    const a = this.alpha(t);
    const s = this.std(t);
    return x0.map((v, k) => a * v + s * noise[k]!);
  }

  async step(i: number, x: Float32Array, model: ModelFn): Promise<StepResult> {
    this.begin(i);
    if (this.start === -1) this.start = i;
    const t = this.times[i]!;
    const input = Float32Array.from(x);
    const out = await callModel(model, input, this.modelTime(t));
    const eps = this.epsOf(out, x, t);
    const a = this.alpha(t);
    const s = this.std(t);
    const m = eps.map((e, k) => (x[k]! - s * e) / a);
    if (this.corrected === null) {
      this.corrected = Float64Array.from(x);
    } else {
      this.corrected = this.update(this.corrected, t, this.orderFor(i), m);
    }
    this.models.push(m);
    this.prevTimes.push(t);
    if (this.models.length > this.order) {
      this.models.shift();
      this.prevTimes.shift();
    }
    const next = this.update(this.corrected, this.times[i + 1]!, this.orderFor(i + 1), null);
    return { x: Float32Array.from(next), input, eps: Float32Array.from(eps) };
  }

  /** ε from the model output; A1111 converts v with ᾱ at the truncated model timestep. */
  private epsOf(out: Float32Array, x: Float32Array, t: number): Float64Array {
    if (this.prediction !== 'v_prediction') return Float64Array.from(out);
    const a = this.table.alphasCumprod[Math.trunc(this.modelTime(t))]!;
    return Float64Array.from(out, (v, k) => Math.sqrt(a) * v + Math.sqrt(1 - a) * x[k]!);
  }

  /** The order of the update landing on step k: lower while warming up (1, 2, …) and at the end (lower_order_final). */
  private orderFor(k: number): number {
    const n = this.timesteps.length;
    return Math.min(k - this.start, this.order, n + 1 - k);
  }

  /**
   * multistep_uni_pc_bh_update (bh1, data prediction) from `x` at the last model time to time `t`: the
   * predictor when `modelT` is null, else the corrector with the model's x0 at the predicted point.
   */
  private update(x: Float64Array, t: number, order: number, modelT: Float64Array | null): Float64Array {
    const M = this.models;
    const T = this.prevTimes;
    const tp0 = T[T.length - 1]!;
    const m0 = M[M.length - 1]!;
    const lp0 = this.lambda(tp0);
    const h = this.lambda(t) - lp0;
    const sp0 = this.std(tp0);
    const st = this.std(t);
    const at = this.alpha(t);
    const rks: number[] = [];
    const d1s: Float64Array[] = [];
    for (let i = 1; i < order; i++) {
      const rk = (this.lambda(T[T.length - 1 - i]!) - lp0) / h;
      const mi = M[M.length - 1 - i]!;
      rks.push(rk);
      d1s.push(mi.map((v, k) => (v - m0[k]!) / rk));
    }
    rks.push(1);
    const hh = -h;
    const hPhi1 = Math.expm1(hh);
    let hPhiK = hPhi1 / hh - 1;
    const bH = hh; // bh1
    let factorial = 1;
    const R: number[][] = [];
    const b: number[] = [];
    for (let i = 1; i <= order; i++) {
      R.push(rks.map((r) => r ** (i - 1)));
      b.push((hPhiK * factorial) / bH);
      factorial *= i + 1;
      hPhiK = hPhiK / hh - 1 / factorial;
    }
    const base = x.map((v, k) => (st / sp0) * v - at * hPhi1 * m0[k]!);
    if (modelT === null) {
      if (d1s.length === 0) return base;
      const rhos = order === 2 ? [0.5] : solve(R.slice(0, -1).map((r) => r.slice(0, -1)), b.slice(0, -1));
      return base.map((v, k) => v - at * bH * d1s.reduce((acc, d, j) => acc + rhos[j]! * d[k]!, 0));
    }
    const rhos = order === 1 ? [0.5] : solve(R, b);
    const last = rhos[rhos.length - 1]!;
    return base.map((v, k) => {
      const corr = d1s.reduce((acc, d, j) => acc + rhos[j]! * d[k]!, 0);
      return v - at * bH * (corr + last * (modelT[k]! - m0[k]!));
    });
  }
}

/** Solves A·x = b (n ≤ 3) by Gaussian elimination with partial pivoting. */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const m = A.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = m[r]![c]! / m[c]![c]!;
      for (let k = c; k <= n; k++) m[r]![k] = m[r]![k]! - f * m[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= m[r]![k]! * x[k]!;
    x[r] = s / m[r]![r]!;
  }
  return x;
}
