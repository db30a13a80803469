// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019), the update of
// torch.optim.AdamW: p ← p·(1 − lr·λ); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
// p ← p − lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε). State is float32, arithmetic per element in float64.
import type { Ema } from './ema.ts';
import { TrainingError } from './errors.ts';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Which params get weight decay; default all. Biases and norm scales are often left out. */
  decay?: (name: string) => boolean;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly m = new Map<string, Float32Array>();
  readonly v = new Map<string, Float32Array>();
  /** Updates done so far (t in the bias corrections). */
  t = 0;
  private readonly decay: (name: string) => boolean;

  constructor(o: AdamWOptions = {}) {
    this.beta1 = o.beta1 ?? 0.9;
    this.beta2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0.01;
    this.decay = o.decay ?? (() => true);
    for (const [k, b] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) {
      if (!(b >= 0 && b < 1)) throw new TrainingError(`AdamW: ${k} must be in [0, 1), got ${b}`);
    }
    if (!(this.eps > 0)) throw new TrainingError(`AdamW: eps must be positive, got ${this.eps}`);
    if (!(this.weightDecay >= 0)) throw new TrainingError(`AdamW: weightDecay must be ≥ 0, got ${this.weightDecay}`);
  }

  /** Moments for a param, created as zeros on first use. */
  private state(name: string, n: number): [Float32Array, Float32Array] {
    let m = this.m.get(name);
    let v = this.v.get(name);
    if (!m || !v) {
      m = new Float32Array(n);
      v = new Float32Array(n);
      this.m.set(name, m);
      this.v.set(name, v);
    }
    if (m.length !== n) throw new TrainingError(`AdamW: param '${name}' has ${n} values but its moments have ${m.length}`);
    return [m, v];
  }

  /**
   * One update of every param in `grads`; each gradient is multiplied by `gradScale` first (clipping,
   * averaging). With `ema`, its shadows follow in the same pass over the weights (the numbers of
   * step() then ema.update(), bit for bit, with one read of each weight instead of two).
   */
  step(params: ReadonlyMap<string, Float32Array>, grads: ReadonlyMap<string, Float32Array>, lr: number, gradScale = 1, ema?: Ema): void {
    this.t++;
    const b1 = this.beta1;
    const b2 = this.beta2;
    const c1 = 1 - b1;
    const c2 = 1 - b2;
    const stepSize = lr / (1 - b1 ** this.t);
    const invBc2 = 1 / Math.sqrt(1 - b2 ** this.t);
    const eps = this.eps;
    const d = ema ? ema.currentDecay() : 0;
    const c = 1 - d;
    const followed = new Set<string>();
    for (const [name, g] of grads) {
      const p = params.get(name);
      if (!p) throw new TrainingError(`AdamW: gradient for unknown param '${name}'`);
      if (p.length !== g.length) throw new TrainingError(`AdamW: param '${name}' has ${p.length} values, its gradient ${g.length}`);
      const [m, v] = this.state(name, p.length);
      const keep = this.decay(name) ? 1 - lr * this.weightDecay : 1;
      const s = ema?.shadow.get(name);
      if (s && s.length !== p.length) throw new TrainingError(`EMA: param '${name}' is missing or changed size`);
      // One pass over five (six with EMA) arrays; the moments are used in float64 before their float32 store.
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]! * gradScale;
        const mi = b1 * m[i]! + c1 * gi;
        const vi = b2 * v[i]! + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        const pi = Math.fround(p[i]! * keep - (stepSize * mi) / (Math.sqrt(vi) * invBc2 + eps));
        p[i] = pi;
        if (s) s[i] = d * s[i]! + c * pi;
      }
      if (s) followed.add(name);
    }
    // shadows of params without a gradient this step still move toward them
    ema?.update(params, followed);
  }
}
