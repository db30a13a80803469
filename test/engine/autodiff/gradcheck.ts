// Central finite differences against buildGradientGraph, both run through real onnxruntime sessions.
import { Graph, type Value } from '../../../electron/engine/onnx/graph.ts';
import { toModelProto } from '../../../electron/engine/onnx/serialize.ts';
import { createSession, type Session } from '../../../electron/engine/onnx/runtime.ts';
import { buildGradientGraph, type GradientOptions } from '../../../electron/engine/autodiff/index.ts';
import { numel, type TensorData } from '../../../electron/engine/tensor.ts';
import { rng } from '../../rng.ts';

export { rng };

export const normal = (u: () => number) => (): number => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());

export type Dtype = 'float32' | 'float64';

export function randomTensor(dtype: Dtype, shape: readonly number[], sample: () => number): TensorData {
  const n = numel(shape);
  const data = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = sample();
  return { dtype, shape: [...shape], data };
}

export interface GradCase {
  dtype: Dtype;
  /** Builds the op(s) under test on params/inputs it declares; returns the output. */
  build: (g: Graph) => Value;
  /** Sampler per param/input name (default standard normal). */
  sample?: Record<string, (u: () => number) => number>;
  /** Extra feeds (e.g. integer indices) for data inputs. */
  feeds?: Record<string, TensorData>;
  /** Names to differentiate; default every param and every float data input. */
  wrt?: string[];
  options?: GradientOptions;
  /** Max elements checked per tensor (random subset beyond). */
  maxChecks?: number;
  eps?: number;
  /** Allowed |fd − analytic| relative to max(1, |analytic|∞) of that tensor. */
  tol?: number;
  seed?: number;
}

export interface GradReport {
  maxError: number; // worst relative error over all checked elements
  checked: number;
  grads: Record<string, TensorData>;
  ops: string[];
}

const sessionOpts = { provider: 'cpu' as const, threads: 1 };

/** Loss = Σ y ⊙ R with a random R, so every output element gets a different upstream gradient. */
export function lossOf(g: Graph, y: Value, seed: number): Value {
  const r = randomTensor(y.dtype as Dtype, y.shape, normal(rng(seed)));
  const weighted = g.mul(y, g.constant(r.data, y.shape, y.dtype));
  return y.shape.length === 0 ? weighted : g.reduceSum(weighted, [...Array(y.shape.length).keys()], false);
}

export async function gradCheck(c: GradCase): Promise<GradReport> {
  const seed = c.seed ?? 1;
  const fwd = new Graph('case');
  const y = c.build(fwd);
  const loss = lossOf(fwd, y, seed + 7);
  fwd.output(loss, 'loss');
  const leaves = [...fwd.params.values()].map((p) => ({ name: p.name, dtype: p.dtype, shape: p.shape }))
    .concat(fwd.inputs.map((v) => ({ name: v.name, dtype: v.dtype, shape: v.shape })));
  const wrt = c.wrt ?? leaves.filter((l) => l.dtype === c.dtype).map((l) => l.name);
  const grad = buildGradientGraph(fwd, loss, wrt, c.options);

  const u = rng(seed);
  const feeds: Record<string, TensorData> = { ...c.feeds };
  for (const l of leaves) {
    if (feeds[l.name]) continue;
    const s = c.sample?.[l.name];
    feeds[l.name] = randomTensor(l.dtype as Dtype, l.shape, s ? () => s(u) : normal(u));
  }
  const fs = await createSession(toModelProto(fwd, { kind: 'inputs' }), sessionOpts);
  const gs = await createSession(toModelProto(grad, { kind: 'inputs' }), sessionOpts);
  try {
    const out = await gs.run(feeds);
    const grads: Record<string, TensorData> = {};
    for (const name of wrt) grads[name] = out[`grad:${name}`]!;
    const eps = c.eps ?? (c.dtype === 'float64' ? 1e-6 : 1e-2);
    let maxError = 0;
    let checked = 0;
    for (const name of wrt) {
      const base = feeds[name]!;
      const an = grads[name]!.data as Float32Array | Float64Array;
      const scale = Math.max(1, ...Array.from(an, Math.abs));
      for (const i of pick(an.length, c.maxChecks ?? 48, u)) {
        const fd = await centralDifference(fs, feeds, name, base, i, eps);
        maxError = Math.max(maxError, Math.abs(fd - an[i]!) / scale);
        checked++;
      }
    }
    return { maxError, checked, grads, ops: grad.nodes.map((n) => n.op) };
  } finally {
    await fs.release();
    await gs.release();
  }
}

function pick(n: number, max: number, u: () => number): number[] {
  const all = [...Array(n).keys()];
  if (n <= max) return all;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, max);
}

async function centralDifference(s: Session, feeds: Record<string, TensorData>, name: string, base: TensorData,
  i: number, eps: number): Promise<number> {
  const at = async (delta: number) => {
    const data = (base.data as Float64Array).slice();
    data[i] = data[i]! + delta;
    const out = await s.run({ ...feeds, [name]: { ...base, data } }, ['loss']);
    return { loss: Number(out.loss!.data[0]), x: data[i]! }; // x as stored (float32 rounds the step)
  };
  const [hi, lo] = [await at(eps), await at(-eps)];
  return (hi.loss - lo.loss) / (hi.x - lo.x);
}
