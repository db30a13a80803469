// Initial parameter values from each Param's ParamInit, drawn from the engine's seeded RNG in
// parameter order, so one seed gives one model.
import type { Graph } from '../onnx/graph.ts';
import { numel } from '../tensor.ts';
import type { Rng } from '../diffusion/rng.ts';
import { TrainingError } from './errors.ts';

export function initParams(graph: Graph, rng: Rng): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const p of graph.params.values()) {
    if (p.dtype !== 'float32') throw new TrainingError(`param '${p.name}' is ${p.dtype}; training keeps float32 params`);
    const n = numel(p.shape);
    const init = p.init;
    let a: Float32Array;
    switch (init.kind) {
      case 'zeros': a = new Float32Array(n); break;
      case 'ones': a = new Float32Array(n).fill(1); break;
      case 'constant': a = new Float32Array(n).fill(init.value); break;
      case 'normal': {
        a = rng.normal(n);
        for (let i = 0; i < n; i++) a[i] = a[i]! * init.std;
        break;
      }
      case 'uniform': {
        const u = rng.uniform(n);
        a = new Float32Array(n);
        for (let i = 0; i < n; i++) a[i] = (2 * u[i]! - 1) * init.bound;
        break;
      }
    }
    out.set(p.name, a);
  }
  return out;
}
