// The float16 variant of an inference graph, for GPU execution providers (runtime.ts precisionFor):
// weights and activations in float16, with float32 kept where float16 is not safe:
//   - the graph's inputs and outputs stay float32 (a Cast just inside), so callers see the same
//     interface; the timestep embedding's sinusoids, for example, are computed in float32 and cast;
//   - normalisation statistics (the mean, the variance, the division of GroupNorm/LayerNorm, which
//     graph.ts writes as ReduceMean/Sub/Mul/ReduceMean/Add/Sqrt/Div) stay float32: a squared deviation
//     over 256 overflows float16;
//   - ops named in `keepFloat32` (e.g. Softmax for providers whose float16 kernel accumulates in float16)
//     and any op not known to take float16 in all its float inputs (quantised MatMulNBits,
//     DequantizeLinear, …) run as built, with their inputs cast up and outputs cast down.
// Casts are shared: one per value and precision.
import { floatToHalf, type DType, type TensorData } from '../tensor.ts';
import { ONNX_DTYPE } from './dtypes.ts';
import { Graph, attr, type Node, type Value } from './graph.ts';
import type { EmbeddedWeights, WeightMode } from './serialize.ts';

export interface Float16Options {
  /** Ops that run in float32 besides the normalisation statistics (inputs cast up, outputs cast down). */
  readonly keepFloat32?: readonly string[];
  /** Normalisation statistics in float32 (default true). */
  readonly float32Statistics?: boolean;
}

/**
 * Ops whose every float input and output is the one type T (so float16 throughout), with the input
 * slots that carry T when only some do (Resize: X; its roi and scales keep their own types).
 */
const FLOAT16_OPS: Readonly<Record<string, readonly number[] | 'all'>> = {
  Add: 'all', Sub: 'all', Mul: 'all', Div: 'all', Pow: 'all', Max: 'all', Min: 'all',
  Sqrt: 'all', Sigmoid: 'all', Erf: 'all', Tanh: 'all', Relu: 'all', Neg: 'all', Abs: 'all', Exp: 'all', Log: 'all', Reciprocal: 'all',
  Sin: 'all', Cos: 'all', Gelu: 'all',
  Equal: 'all', Less: 'all', Greater: 'all', Where: 'all',
  Gemm: 'all', MatMul: 'all', Conv: 'all', ConvTranspose: 'all', Softmax: 'all', MultiHeadAttention: 'all',
  ReduceMean: 'all', ReduceSum: 'all',
  Reshape: 'all', Transpose: 'all', Concat: 'all', Split: 'all', Slice: 'all', Gather: 'all', Expand: 'all',
  Identity: 'all', Squeeze: 'all', Unsqueeze: 'all', Pad: 'all',
  Resize: [0],
};

/**
 * The nodes of each normalisation's statistics: Div(d, Sqrt(Add(ReduceMean(Mul(d, d)), eps))) with
 * d = Sub(x, ReduceMean(x)), the pattern graph.ts's layerNorm/groupNorm write.
 */
export function normalizationStatistics(g: Graph): Set<Node> {
  const out = new Set<Node>();
  const by = (name: string | undefined, op: string): Node | undefined => {
    const n = name === undefined ? undefined : g.producer(name);
    return n?.op === op ? n : undefined;
  };
  for (const div of g.nodes) {
    if (div.op !== 'Div') continue;
    const [dName, sName] = div.inputs;
    const sub = by(dName, 'Sub');
    const mean = by(sub?.inputs[1], 'ReduceMean');
    if (!sub || !mean || mean.inputs[0] !== sub.inputs[0]) continue;
    const sqrt = by(sName, 'Sqrt');
    const add = by(sqrt?.inputs[0], 'Add');
    const variance = by(add?.inputs[0], 'ReduceMean');
    const square = by(variance?.inputs[0], 'Mul');
    if (!sqrt || !add || !variance || !square || square.inputs[0] !== dName || square.inputs[1] !== dName) continue;
    for (const n of [mean, sub, square, variance, add, sqrt, div]) out.add(n);
  }
  return out;
}

const isF32 = (v: Value): boolean => v.dtype === 'float32';

/** The float16 variant of a float32 inference graph (same input and output names, shapes and dtypes). */
export function toFloat16(src: Graph, opts: Float16Options = {}): Graph {
  const keep = new Set(opts.keepFloat32 ?? []);
  const stats = opts.float32Statistics === false ? new Set<Node>() : normalizationStatistics(src);
  const halfNode = (n: Node): boolean => FLOAT16_OPS[n.op] !== undefined && !keep.has(n.op) && !stats.has(n);
  const halfSlot = (n: Node, i: number): boolean => {
    const slots = FLOAT16_OPS[n.op]!;
    return slots === 'all' || slots.includes(i);
  };
  // Which precision each leaf (param, constant) is stored in: float16 when every node that reads it as a
  // float reads it in float16 (a scalar shared with a normalisation's eps stays exact, cast for the others).
  const wantedHalf = new Set<string>();
  const wantedFull = new Set<string>();
  for (const n of src.nodes) {
    const half = halfNode(n);
    n.inputs.forEach((name, i) => { if (name) (half && halfSlot(n, i) ? wantedHalf : wantedFull).add(name); });
  }
  for (const name of wantedFull) wantedHalf.delete(name);

  const g = new Graph(src.name);
  g.fusedAttention = src.fusedAttention;
  g.weightQuant = src.weightQuant;
  /** Each source value's name → its value in the new graph (float16 where it is now stored so). */
  const home = new Map<string, Value>();
  for (const v of src.inputs) home.set(v.name, g.input(v.name, v.dtype, v.shape));
  for (const p of src.params.values()) {
    const dtype: DType = p.dtype === 'float32' && wantedHalf.has(p.name) ? 'float16' : p.dtype;
    home.set(p.name, g.param(p.name, p.shape, p.init, { trainable: p.trainable, dtype }));
  }
  for (const [name, t] of src.constants) {
    const half = t.dtype === 'float32' && wantedHalf.has(name);
    home.set(name, half ? g.constant(narrow(t.data as Float32Array), t.shape, 'float16', name) : g.constant(t.data, t.shape, t.dtype, name));
  }

  const casts = new Map<string, Value>();
  const as = (name: string, dtype: DType): Value => {
    const v = home.get(name)!;
    if (v.dtype === dtype) return v;
    const key = `${name}|${dtype}`;
    let c = casts.get(key);
    if (!c) {
      c = g.emit('Cast', [v], { to: attr.int(ONNX_DTYPE[dtype]) }, [{ dtype, shape: v.shape, name: `${name}::${dtype}` }])[0]!;
      casts.set(key, c);
    }
    return c;
  };

  const outputs = new Set(src.outputs.map((v) => v.name));
  for (const n of src.nodes) {
    const half = halfNode(n);
    const ins = n.inputs.map((name, i) => {
      if (!name) return null;
      const orig = src.value(name);
      if (!isF32(orig)) return home.get(name)!;
      return as(name, half && halfSlot(n, i) ? 'float16' : 'float32');
    });
    const outs = n.outputs.map((name) => {
      const orig = src.value(name);
      const dtype: DType = half && isF32(orig) ? 'float16' : orig.dtype;
      // A graph output stored as float16 is renamed; the float32 Cast takes the output's name.
      return { dtype, shape: orig.shape, name: dtype !== orig.dtype && outputs.has(name) ? `${name}::float16` : name };
    });
    const made = g.emit(n.op, ins, n.attrs, outs, n.domain);
    n.outputs.forEach((name, i) => home.set(name, made[i]!));
  }
  for (const v of src.outputs) {
    const h = home.get(v.name)!;
    if (h.dtype === v.dtype) g.output(h);
    else g.output(g.emit('Cast', [h], { to: attr.int(ONNX_DTYPE[v.dtype]) }, [{ dtype: v.dtype, shape: v.shape, name: v.name }])[0]!);
  }
  return g;
}

function narrow(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = floatToHalf(data[i]!);
  return out;
}

/** A float32 tensor rounded to float16 (the engine's float16 TensorData holds the bit patterns). */
export function toHalfTensor(t: TensorData): TensorData {
  if (t.dtype !== 'float32') throw new Error(`toHalfTensor: expected float32, got ${t.dtype}`);
  return { dtype: 'float16', shape: t.shape, data: narrow(t.data as Float32Array) };
}

/**
 * Weights for a float16 graph from those of its float32 original: in-memory float32 tensors are rounded
 * once as they are serialised; external data is used as stored (float16 in place; float32 narrowed by a
 * Cast that onnxruntime folds at load, serialize.ts).
 */
export function float16Weights(mode: WeightMode, graph: Graph): WeightMode {
  const half = (name: string) => graph.params.get(name)?.dtype === 'float16';
  const wrap = (w: EmbeddedWeights): EmbeddedWeights => ({
    kind: 'embedded',
    get(name) {
      const t = w.get(name);
      return half(name) && t.dtype === 'float32' ? toHalfTensor(t) : t;
    },
  });
  switch (mode.kind) {
    case 'inputs':
    case 'external':
      return mode;
    case 'embedded':
      return wrap(mode);
    case 'mixed':
      return { ...mode, rest: mode.rest.kind === 'embedded' ? wrap(mode.rest) : mode.rest };
    case 'overlay':
      return {
        kind: 'overlay',
        get(name) {
          const t = mode.get(name);
          return t && half(name) && t.dtype === 'float32' ? toHalfTensor(t) : t;
        },
        rest: mode.rest.kind === 'embedded' ? wrap(mode.rest) : mode.rest,
      };
  }
}
