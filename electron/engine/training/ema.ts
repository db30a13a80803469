// Exponential moving average of weights: shadow ← d·shadow + (1−d)·param after each optimiser step.
// With warm-up, d = min(decay, (1+t)/(10+t)) as in diffusers' EMAModel, so early shadows follow the
// fast-moving weights instead of the random initialisation.
import { TrainingError } from './errors.ts';

export class Ema {
  readonly shadow = new Map<string, Float32Array>();
  updates = 0;

  constructor(readonly decay: number, readonly warmup = true) {
    if (!(decay >= 0 && decay < 1)) throw new TrainingError(`EMA decay must be in [0, 1), got ${decay}`);
  }

  /** Starts the shadow as a copy of the params (only those not already tracked). */
  init(params: ReadonlyMap<string, Float32Array>): void {
    for (const [k, p] of params) if (!this.shadow.has(k)) this.shadow.set(k, p.slice());
  }

  currentDecay(): number {
    return this.warmup ? Math.min(this.decay, (1 + this.updates) / (10 + this.updates)) : this.decay;
  }

  /** One EMA step; shadows named in `done` were already moved (AdamW.step with this EMA does that in its own pass). */
  update(params: ReadonlyMap<string, Float32Array>, done?: ReadonlySet<string>): void {
    const d = this.currentDecay();
    const c = 1 - d;
    for (const [k, s] of this.shadow) {
      if (done?.has(k)) continue;
      const p = params.get(k);
      if (!p || p.length !== s.length) throw new TrainingError(`EMA: param '${k}' is missing or changed size`);
      for (let i = 0; i < s.length; i++) s[i] = d * s[i]! + c * p[i]!;
    }
    this.updates++;
  }
}
