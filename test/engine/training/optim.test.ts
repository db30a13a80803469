import { describe, expect, it } from 'vitest';
import { AdamW, Ema, clipFactor, globalNorm, lrAt, validateSchedule, TrainingError } from '../../../electron/engine/training/index.ts';

describe('AdamW', () => {
  it('first step moves each weight by lr·sign(g) after decoupled decay', () => {
    const p = new Float32Array([1, -2, 0.5]);
    const params = new Map([['w', p]]);
    const opt = new AdamW({ weightDecay: 0.1 });
    opt.step(params, new Map([['w', new Float32Array([3, -0.001, 0])]]), 0.01);
    // decay: p·(1 − 0.01·0.1); Adam: m̂ = g, v̂ = g², so the step is lr·g/(|g| + ε)
    expect(p[0]).toBeCloseTo(1 * 0.999 - 0.01, 6);
    expect(p[1]).toBeCloseTo(-2 * 0.999 + 0.01 * (0.001 / (0.001 + 1e-8)), 6);
    expect(p[2]).toBeCloseTo(0.5 * 0.999, 7); // zero gradient: only decay
  });

  it('matches a float64 transcription of torch.optim.AdamW over many steps', () => {
    const n = 5;
    const p = new Float32Array([0.3, -0.7, 1.2, 0, -0.1]);
    const ref = Float64Array.from(p);
    const m = new Float64Array(n);
    const v = new Float64Array(n);
    const opt = new AdamW({ beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.05, decay: (k) => k !== 'b' });
    const params = new Map([['w', p]]);
    for (let t = 1; t <= 20; t++) {
      const g = Float32Array.from(p, (x, i) => Math.sin(t + i) * 0.5 + x);
      const lr = 0.02;
      opt.step(params, new Map([['w', g]]), lr, 0.5);
      for (let i = 0; i < n; i++) {
        const gi = g[i]! * 0.5;
        ref[i] = ref[i]! * (1 - lr * 0.05);
        m[i] = 0.8 * m[i]! + 0.2 * gi;
        v[i] = 0.95 * v[i]! + 0.05 * gi * gi;
        ref[i] = ref[i]! - (lr * (m[i]! / (1 - 0.8 ** t))) / (Math.sqrt(v[i]! / (1 - 0.95 ** t)) + 1e-6);
      }
    }
    for (let i = 0; i < n; i++) expect(p[i]).toBeCloseTo(ref[i]!, 4);
    expect(opt.t).toBe(20);
  });

  it('skips decay for params the filter excludes and rejects bad settings', () => {
    const b = new Float32Array([1]);
    new AdamW({ weightDecay: 0.5, decay: (k) => !k.endsWith('.bias') }).step(new Map([['x.bias', b]]), new Map([['x.bias', new Float32Array([0])]]), 0.1);
    expect(b[0]).toBe(1);
    expect(() => new AdamW({ beta1: 1 })).toThrow(TrainingError);
    expect(() => new AdamW({ eps: 0 })).toThrow(/eps must be positive/);
    expect(() => new AdamW().step(new Map(), new Map([['q', new Float32Array(1)]]), 0.1)).toThrow(/unknown param 'q'/);
  });
});

describe('AdamW with EMA in one pass', () => {
  it('gives the weights and shadows of step() then ema.update(), bit for bit, shadows without gradients included', () => {
    const make = () => ({
      p: new Map([['a', Float32Array.from({ length: 37 }, (_, i) => Math.sin(i) * 0.7)], ['b', Float32Array.from({ length: 5 }, (_, i) => i - 2)], ['frozen', new Float32Array([0.25, -3])]]),
      opt: new AdamW({ weightDecay: 0.03, decay: (k) => k !== 'b' }),
      ema: new Ema(0.99),
    });
    const sep = make();
    const fused = make();
    sep.ema.init(sep.p);
    fused.ema.init(fused.p);
    for (let t = 1; t <= 12; t++) {
      const grads = (p: Map<string, Float32Array>) => new Map(['a', 'b'].map((k) => [k, Float32Array.from(p.get(k)!, (x, i) => Math.cos(t * 3 + i) + 0.1 * x)]));
      sep.opt.step(sep.p, grads(sep.p), 0.01 / t, 0.7);
      sep.ema.update(sep.p);
      fused.opt.step(fused.p, grads(fused.p), 0.01 / t, 0.7, fused.ema);
      fused.p.get('frozen')![0]! += 0.5; // a param the optimiser does not touch still pulls its shadow
      sep.p.get('frozen')![0]! += 0.5;
    }
    for (const k of ['a', 'b', 'frozen']) {
      expect([...fused.p.get(k)!]).toEqual([...sep.p.get(k)!]);
      expect([...fused.ema.shadow.get(k)!]).toEqual([...sep.ema.shadow.get(k)!]);
    }
    expect(fused.ema.updates).toBe(12);
    expect(fused.ema.shadow.get('frozen')![0]).not.toBe(0.25);
  });
});

describe('clipping, schedules, EMA', () => {
  it('computes the global norm over all gradients and the clip factor', () => {
    expect(globalNorm([new Float32Array([3]), new Float32Array([4])])).toBeCloseTo(5, 10);
    expect(globalNorm([new Float32Array([3, 4])], 0.5)).toBeCloseTo(2.5, 10);
    expect(globalNorm([new Float32Array([1, NaN])])).toBeNaN();
    expect(clipFactor(5, 1)).toBeCloseTo(0.2, 6);
    expect(clipFactor(0.5, 1)).toBe(1);
  });

  it('gives constant, linear warm-up and cosine rates', () => {
    expect(lrAt({ kind: 'constant' }, 0.1, 999)).toBe(0.1);
    const w = { kind: 'warmup', warmupSteps: 4 } as const;
    expect([0, 1, 3, 4, 100].map((s) => lrAt(w, 1, s))).toEqual([0.25, 0.5, 1, 1, 1]);
    const c = { kind: 'cosine', warmupSteps: 10, totalSteps: 110, minLr: 0.1 } as const;
    expect(lrAt(c, 1, 4)).toBeCloseTo(0.5, 12);
    expect(lrAt(c, 1, 10)).toBeCloseTo(1, 12);
    expect(lrAt(c, 1, 60)).toBeCloseTo(0.55, 12);
    expect(lrAt(c, 1, 110)).toBeCloseTo(0.1, 12);
    expect(lrAt(c, 1, 500)).toBeCloseTo(0.1, 12);
    expect(() => validateSchedule({ kind: 'cosine', warmupSteps: 10, totalSteps: 10 })).toThrow(/must exceed warmupSteps/);
    expect(() => validateSchedule({ kind: 'warmup', warmupSteps: -1 })).toThrow(/whole number/);
  });

  it('EMA follows the weights with warm-up decay', () => {
    const p = new Float32Array([0]);
    const params = new Map([['w', p]]);
    const ema = new Ema(0.9);
    ema.init(params);
    p[0] = 1;
    ema.update(params); // d = min(0.9, 1/10) = 0.1
    expect(ema.shadow.get('w')![0]).toBeCloseTo(0.9, 6);
    const plain = new Ema(0.9, false);
    p[0] = 0;
    plain.init(params);
    p[0] = 1;
    plain.update(params);
    expect(plain.shadow.get('w')![0]).toBeCloseTo(0.1, 6);
    expect(() => new Ema(1)).toThrow(/decay must be in/);
  });
});
