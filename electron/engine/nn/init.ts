// Random initial weights for a model's parameter specs, from a seeded generator: used by training
// (fresh models) and by tests (tiny models with reproducible weights).
import type { Param, ParamInit } from '../onnx/graph.ts';
import { numel } from '../tensor.ts';

export interface RandomSource {
  /** Uniform in [0, 1). */
  uniform(): number;
  /** Standard normal. */
  normal(): number;
}

// Fallback generator until the engine's shared seeded RNG exists: mulberry32 (32-bit state) for
// uniforms, Box–Muller for normals. Deterministic for a seed on every platform.
export function seededSource(seed: number): RandomSource {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare: number | null = null;
  const normal = (): number => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = 1 - uniform(); // (0, 1]
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  return { uniform, normal };
}

export function fillInit(out: Float32Array, init: ParamInit, rng: RandomSource): Float32Array {
  switch (init.kind) {
    case 'zeros':
      return out.fill(0);
    case 'ones':
      return out.fill(1);
    case 'constant':
      return out.fill(init.value);
    case 'normal':
      for (let i = 0; i < out.length; i++) out[i] = rng.normal() * init.std;
      return out;
    case 'uniform':
      for (let i = 0; i < out.length; i++) out[i] = (2 * rng.uniform() - 1) * init.bound;
      return out;
  }
}

/** One Float32Array per parameter, in parameter order, drawn from `seed` (or a given source). */
export function initWeights(params: Iterable<Param> | Map<string, Param>, seed: number | RandomSource): Map<string, Float32Array> {
  const rng = typeof seed === 'number' ? seededSource(seed) : seed;
  const out = new Map<string, Float32Array>();
  for (const p of params instanceof Map ? params.values() : params) {
    if (p.dtype !== 'float32') throw new Error(`initWeights: parameter ${p.name} is ${p.dtype}; only float32 parameters are initialised`);
    out.set(p.name, fillInit(new Float32Array(numel(p.shape)), p.init, rng));
  }
  return out;
}
