// Random initial weights for a model's parameter specs, drawn from the engine's seeded RNG in
// parameter order: used by training (fresh models) and by tests (tiny models with reproducible weights).
import { Rng } from '../diffusion/rng.ts';
import type { Param, ParamInit } from '../onnx/graph.ts';
import { numel } from '../tensor.ts';
import { ConfigError } from './config.ts';

export function drawInit(n: number, init: ParamInit, rng: Rng): Float32Array {
  switch (init.kind) {
    case 'zeros':
      return new Float32Array(n);
    case 'ones':
      return new Float32Array(n).fill(1);
    case 'constant':
      return new Float32Array(n).fill(init.value);
    case 'normal': {
      const a = rng.normal(n);
      for (let i = 0; i < n; i++) a[i] = a[i]! * init.std;
      return a;
    }
    case 'uniform': {
      const u = rng.uniform(n);
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = (2 * u[i]! - 1) * init.bound;
      return a;
    }
  }
}

/** One Float32Array per parameter, in parameter order, from `seed` (or a given generator). */
export function initWeights(params: Iterable<Param> | ReadonlyMap<string, Param>, seed: number | Rng): Map<string, Float32Array> {
  const rng = typeof seed === 'number' ? new Rng(seed) : seed;
  const out = new Map<string, Float32Array>();
  for (const p of params instanceof Map ? params.values() : (params as Iterable<Param>)) {
    if (p.dtype !== 'float32') throw new ConfigError(`initWeights: parameter ${p.name} is ${p.dtype}; only float32 parameters are initialised`);
    out.set(p.name, drawInit(numel(p.shape), p.init, rng));
  }
  return out;
}
