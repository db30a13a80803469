// Graph builder: a static-shape ONNX graph (ai.onnx, opset 18) built op by op, with shape and dtype
// inference at build time so that mistakes surface where the model is written, not inside onnxruntime.
import { allocate, floatToHalf, numel, type DType, type Shape, type TensorData } from '../tensor.ts';
import { ONNX_DTYPE, isFloat } from './dtypes.ts';

export interface Value {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

export type Attr =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'float'; value: number }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: TensorData };

export interface Node {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, Attr>>;
  readonly name: string;
  /** Operator set domain: '' is ai.onnx; 'com.microsoft' holds onnxruntime's contrib ops. */
  readonly domain?: string;
}

/** onnxruntime's contrib operator domain (MultiHeadAttention). */
export const MS_DOMAIN = 'com.microsoft';

export type ParamInit =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'constant'; value: number }
  | { kind: 'normal'; std: number }
  | { kind: 'uniform'; bound: number };

export interface Param {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
  readonly init: ParamInit;
  readonly trainable: boolean;
}

export class GraphError extends Error {
  override name = 'GraphError';
}

export interface OutSpec {
  dtype: DType;
  shape: Shape;
  /** Explicit value name (must be unused); generated when absent. */
  name?: string;
}

export const attr = {
  int: (value: number): Attr => ({ kind: 'int', value }),
  ints: (value: readonly number[]): Attr => ({ kind: 'ints', value }),
  float: (value: number): Attr => ({ kind: 'float', value }),
  floats: (value: readonly number[]): Attr => ({ kind: 'floats', value }),
  string: (value: string): Attr => ({ kind: 'string', value }),
};

const fmt = (s: Shape): string => `[${s.join(', ')}]`;

/** numpy broadcasting of two shapes; null when incompatible. */
export function broadcastShapes(a: Shape, b: Shape): number[] | null {
  const n = Math.max(a.length, b.length);
  const out: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da === db || db === 1) out[i] = da;
    else if (da === 1) out[i] = db;
    else return null;
  }
  return out;
}

function checkShape(shape: Shape, what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new GraphError(`${what}: invalid dimension ${d} in shape ${fmt(shape)}`);
  }
}

function normAxis(axis: number, rank: number, where: () => string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new GraphError(`${where()}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

const INT64_LIMIT = Number.MAX_SAFE_INTEGER;
const clampInt = (v: number): number => (v > INT64_LIMIT ? INT64_LIMIT : v < -INT64_LIMIT ? -INT64_LIMIT : Math.trunc(v));

export class Graph {
  readonly name: string;
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly params = new Map<string, Param>();
  readonly constants = new Map<string, TensorData>();
  /**
   * Attention as onnxruntime's fused MultiHeadAttention where the layers allow it (inference graphs;
   * set before building). Off, attention is MatMul + Softmax, which autodiff differentiates.
   */
  fusedAttention = false;
  /**
   * Linear layers' weights as onnxruntime's blockwise-quantised MatMulNBits (inference graphs; set
   * before building; see nn/quantize.ts). null: float weights, as training graphs always have.
   */
  weightQuant: { readonly bits: 4 | 8; readonly blockSize: number; readonly accuracyLevel?: number; readonly convs?: boolean; readonly linears?: 'nbits' | 'channel' } | null = null;

  private readonly values = new Map<string, Value>();
  private readonly producers = new Map<string, Node>();
  private readonly scalarCache = new Map<string, Value>();
  private readonly scopes: string[] = [];
  private counter = 0;

  constructor(name = 'graph') {
    this.name = name;
  }

  // ---------------------------------------------------------------- registry

  value(name: string): Value {
    const v = this.values.get(name);
    if (!v) throw new GraphError(`graph '${this.name}' has no value named '${name}'`);
    return v;
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  producer(name: string): Node | undefined {
    return this.producers.get(name);
  }

  /** Every value of the graph (inputs, params, constants, node outputs), by name. */
  allValues(): IterableIterator<Value> {
    return this.values.values();
  }

  private register(name: string, dtype: DType, shape: Shape): Value {
    if (name === '') throw new GraphError(`graph '${this.name}': value names must not be empty`);
    if (this.values.has(name)) throw new GraphError(`graph '${this.name}' already has a value named '${name}'`);
    checkShape(shape, `value '${name}'`);
    const v: Value = Object.freeze({ name, dtype, shape: Object.freeze([...shape]) });
    this.values.set(name, v);
    return v;
  }

  private fresh(base: string): string {
    const prefix = this.scopes.length ? this.scopes.join('/') + '/' : '';
    let name: string;
    do name = `${prefix}${base}_${this.counter++}`;
    while (this.values.has(name));
    return name;
  }

  private own(v: Value, where: () => string): Value {
    const mine = this.values.get(v.name);
    if (mine === undefined) throw new GraphError(`${where()}: value '${v.name}' does not belong to graph '${this.name}'`);
    if (mine !== v && (mine.dtype !== v.dtype || mine.shape.length !== v.shape.length || mine.shape.some((d, i) => d !== v.shape[i]))) {
      throw new GraphError(`${where()}: value '${v.name}' is ${mine.dtype}${fmt(mine.shape)} in graph '${this.name}', not ${v.dtype}${fmt(v.shape)}`);
    }
    return mine;
  }

  scoped<T>(prefix: string, fn: () => T): T {
    this.scopes.push(prefix);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  // ---------------------------------------------------------------- leaves

  input(name: string, dtype: DType, shape: Shape): Value {
    const v = this.register(name, dtype, shape);
    this.inputs.push(v);
    return v;
  }

  param(name: string, shape: Shape, init: ParamInit, opts: { trainable?: boolean; dtype?: DType } = {}): Value {
    if (this.params.has(name)) throw new GraphError(`duplicate parameter name '${name}'`);
    const dtype = opts.dtype ?? 'float32';
    const v = this.register(name, dtype, shape);
    this.params.set(name, Object.freeze({ name, dtype, shape: v.shape, init, trainable: opts.trainable ?? true }));
    return v;
  }

  /** A constant emitted as an initializer. `name` is generated unless given (autodiff copies use it). */
  constant(data: readonly number[] | TensorData['data'], shape: Shape, dtype: DType = 'float32', name?: string): Value {
    checkShape(shape, 'constant');
    const n = numel(shape);
    if (data.length !== n) {
      throw new GraphError(`constant: ${data.length} values given for shape ${fmt(shape)} (needs ${n})`);
    }
    const v = this.register(name ?? this.fresh('const'), dtype, shape);
    this.constants.set(v.name, { dtype, shape: v.shape, data: toTyped(data, dtype) });
    return v;
  }

  /** A scalar constant, shared between uses of the same dtype and value. */
  scalar(value: number, dtype: DType = 'float32'): Value {
    const key = `${dtype}:${Object.is(value, -0) ? '-0' : value}`;
    let v = this.scalarCache.get(key);
    if (!v) {
      v = this.constant([value], [], dtype);
      this.scalarCache.set(key, v);
    }
    return v;
  }

  private int64(values: readonly number[]): Value {
    return this.constant(values.map(clampInt), [values.length], 'int64');
  }

  output(v: Value, name?: string): Value {
    let out = this.own(v, () => 'output');
    if (name !== undefined && name !== v.name) out = this.emit('Identity', [v], {}, [{ dtype: v.dtype, shape: v.shape, name }])[0]!;
    if (this.outputs.some((o) => o.name === out.name)) throw new GraphError(`'${out.name}' is already a graph output`);
    this.outputs.push(out);
    return out;
  }

  // ---------------------------------------------------------------- raw nodes

  emit(op: string, inputs: (Value | null)[], attrs: Record<string, Attr>, outs: OutSpec[], domain = ''): Value[] {
    const nodeName = this.fresh(op);
    const inNames = inputs.map((x) => (x === null ? '' : this.own(x, () => `${op} (${nodeName})`).name));
    const values = outs.map((o, i) => this.register(o.name ?? (outs.length === 1 ? `${nodeName}` : `${nodeName}:${i}`), o.dtype, o.shape));
    const node: Node = Object.freeze({
      op,
      inputs: Object.freeze(inNames),
      outputs: Object.freeze(values.map((v) => v.name)),
      attrs: Object.freeze({ ...attrs }),
      name: nodeName,
      ...(domain ? { domain } : {}),
    });
    this.nodes.push(node);
    for (const v of values) this.producers.set(v.name, node);
    return values;
  }

  /**
   * Moves the node that makes `v`, which must read only params and constants, to the front of the graph.
   * onnxruntime orders the nodes depth first from the outputs, and of a node's inputs it computes the one
   * made by the later node first: a node of weights alone left in place (a dequantised kernel) would run
   * before the whole chain that feeds its consumer, so every such tensor would be alive at once. Placed
   * first, it runs right before the node that reads it and is freed after.
   */
  hoist(v: Value): void {
    const node = this.producers.get(v.name);
    const at = node ? this.nodes.indexOf(node) : -1;
    if (!node || at < 0) throw new GraphError(`hoist: '${v.name}' is not made by a node of graph '${this.name}'`);
    const loose = node.inputs.filter((i) => i !== '' && !this.params.has(i) && !this.constants.has(i));
    if (loose.length) throw new GraphError(`hoist: node ${node.name} reads ${loose.join(', ')}, not only params and constants`);
    this.nodes.splice(at, 1);
    this.nodes.unshift(node);
  }

  private one(op: string, inputs: (Value | null)[], attrs: Record<string, Attr>, dtype: DType, shape: Shape): Value {
    return this.emit(op, inputs, attrs, [{ dtype, shape }])[0]!;
  }

  private fail(op: string, inputs: (Value | null)[], reason: string): never {
    const shapes = inputs.map((x) => (x ? `${x.name}${fmt(x.shape)} ${x.dtype}` : '<none>')).join(', ');
    throw new GraphError(`${op}${this.scopes.length ? ` in ${this.scopes.join('/')}` : ''}: inputs ${shapes}: ${reason}`);
  }

  private operand(b: Value | number, like: Value): Value {
    return typeof b === 'number' ? this.scalar(b, like.dtype) : b;
  }

  // ---------------------------------------------------------------- elementwise

  private binary(op: string, a: Value, bIn: Value | number, outDtype?: DType): Value {
    const b = this.operand(bIn, a);
    if (a.dtype !== b.dtype) this.fail(op, [a, b], `dtypes differ (${a.dtype} vs ${b.dtype})`);
    const shape = broadcastShapes(a.shape, b.shape);
    if (!shape) this.fail(op, [a, b], 'shapes do not broadcast');
    return this.one(op, [a, b], {}, outDtype ?? a.dtype, shape);
  }

  add(a: Value, b: Value | number): Value { return this.binary('Add', a, b); }
  sub(a: Value, b: Value | number): Value { return this.binary('Sub', a, b); }
  mul(a: Value, b: Value | number): Value { return this.binary('Mul', a, b); }
  div(a: Value, b: Value | number): Value { return this.binary('Div', a, b); }
  pow(a: Value, b: Value | number): Value { return this.binary('Pow', a, b); }
  max(a: Value, b: Value | number): Value { return this.binary('Max', a, b); }
  min(a: Value, b: Value | number): Value { return this.binary('Min', a, b); }
  equal(a: Value, b: Value | number): Value { return this.binary('Equal', a, b, 'bool'); }
  less(a: Value, b: Value | number): Value { return this.binary('Less', a, b, 'bool'); }
  greater(a: Value, b: Value | number): Value { return this.binary('Greater', a, b, 'bool'); }

  private unary(op: string, x: Value, floatOnly = true): Value {
    if (floatOnly && !isFloat(x.dtype)) this.fail(op, [x], `needs a floating-point input, got ${x.dtype}`);
    return this.one(op, [x], {}, x.dtype, x.shape);
  }

  neg(x: Value): Value { return this.unary('Neg', x, false); }
  abs(x: Value): Value { return this.unary('Abs', x, false); }
  relu(x: Value): Value { return this.unary('Relu', x); }
  sigmoid(x: Value): Value { return this.unary('Sigmoid', x); }
  tanh(x: Value): Value { return this.unary('Tanh', x); }
  exp(x: Value): Value { return this.unary('Exp', x); }
  log(x: Value): Value { return this.unary('Log', x); }
  sqrt(x: Value): Value { return this.unary('Sqrt', x); }
  erf(x: Value): Value { return this.unary('Erf', x); }
  reciprocal(x: Value): Value { return this.unary('Reciprocal', x); }
  sin(x: Value): Value { return this.unary('Sin', x); }
  cos(x: Value): Value { return this.unary('Cos', x); }
  identity(x: Value): Value { return this.one('Identity', [x], {}, x.dtype, x.shape); }

  silu(x: Value): Value {
    return this.mul(x, this.sigmoid(x));
  }

  gelu(x: Value): Value {
    const inner = this.add(this.erf(this.mul(x, Math.SQRT1_2)), 1);
    return this.mul(this.mul(x, 0.5), inner);
  }

  where(cond: Value, a: Value, b: Value): Value {
    if (cond.dtype !== 'bool') this.fail('Where', [cond, a, b], `condition must be bool, got ${cond.dtype}`);
    if (a.dtype !== b.dtype) this.fail('Where', [cond, a, b], `branch dtypes differ (${a.dtype} vs ${b.dtype})`);
    const ab = broadcastShapes(a.shape, b.shape);
    const shape = ab && broadcastShapes(cond.shape, ab);
    if (!shape) this.fail('Where', [cond, a, b], 'shapes do not broadcast');
    return this.one('Where', [cond, a, b], {}, a.dtype, shape);
  }

  cast(x: Value, dtype: DType): Value {
    return this.one('Cast', [x], { to: attr.int(ONNX_DTYPE[dtype]) }, dtype, x.shape);
  }

  // ---------------------------------------------------------------- linear algebra

  matmul(a: Value, b: Value): Value {
    const ins = [a, b];
    if (a.dtype !== b.dtype) this.fail('MatMul', ins, `dtypes differ (${a.dtype} vs ${b.dtype})`);
    if (a.shape.length === 0 || b.shape.length === 0) this.fail('MatMul', ins, 'scalars are not allowed');
    const as = a.shape.length === 1 ? [1, a.shape[0]!] : [...a.shape];
    const bs = b.shape.length === 1 ? [b.shape[0]!, 1] : [...b.shape];
    const k1 = as[as.length - 1]!;
    const k2 = bs[bs.length - 2]!;
    if (k1 !== k2) this.fail('MatMul', ins, `inner dimensions differ (${k1} vs ${k2})`);
    const batch = broadcastShapes(as.slice(0, -2), bs.slice(0, -2));
    if (!batch) this.fail('MatMul', ins, 'batch dimensions do not broadcast');
    const shape = [...batch];
    if (a.shape.length > 1) shape.push(as[as.length - 2]!);
    if (b.shape.length > 1) shape.push(bs[bs.length - 1]!);
    return this.one('MatMul', ins, {}, a.dtype, shape);
  }

  gemm(a: Value, b: Value, c?: Value, o: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number } = {}): Value {
    const ins = c ? [a, b, c] : [a, b];
    if (a.shape.length !== 2 || b.shape.length !== 2) this.fail('Gemm', ins, 'A and B must be 2-D');
    if (a.dtype !== b.dtype || (c && c.dtype !== a.dtype)) this.fail('Gemm', ins, 'dtypes differ');
    const [m, ka] = o.transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
    const [kb, n] = o.transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
    if (ka !== kb) this.fail('Gemm', ins, `inner dimensions differ (${ka} vs ${kb})`);
    if (c) {
      const bc = broadcastShapes([m, n], c.shape);
      if (!bc || bc.length !== 2 || bc[0] !== m || bc[1] !== n) this.fail('Gemm', ins, `C does not broadcast to [${m}, ${n}]`);
    }
    const attrs: Record<string, Attr> = {};
    if (o.transA) attrs.transA = attr.int(1);
    if (o.transB) attrs.transB = attr.int(1);
    if (o.alpha !== undefined) attrs.alpha = attr.float(o.alpha);
    if (o.beta !== undefined) attrs.beta = attr.float(o.beta);
    return this.one('Gemm', ins, attrs, a.dtype, [m, n]);
  }

  private convCommon(op: 'Conv' | 'ConvTranspose', x: Value, w: Value, b: Value | undefined,
    o: { strides?: number[]; pads?: number[]; dilations?: number[]; group?: number; outputPadding?: number[] }) {
    const ins = b ? [x, w, b] : [x, w];
    const r = x.shape.length - 2;
    if (r < 1) this.fail(op, ins, 'input must be [N, C, spatial...]');
    if (w.shape.length !== r + 2) this.fail(op, ins, `weight must have rank ${r + 2}`);
    if (x.dtype !== w.dtype || (b && b.dtype !== x.dtype)) this.fail(op, ins, 'dtypes differ');
    const strides = o.strides ?? new Array(r).fill(1);
    const dilations = o.dilations ?? new Array(r).fill(1);
    const pads = o.pads ?? new Array(2 * r).fill(0);
    const group = o.group ?? 1;
    if (strides.length !== r || dilations.length !== r || pads.length !== 2 * r) {
      this.fail(op, ins, `strides/dilations need ${r} values and pads ${2 * r} (begins then ends)`);
    }
    if (!Number.isInteger(group) || group < 1) this.fail(op, ins, `group must be a positive integer, got ${group}`);
    const attrs: Record<string, Attr> = {
      strides: attr.ints(strides), pads: attr.ints(pads), dilations: attr.ints(dilations), group: attr.int(group),
      kernel_shape: attr.ints(w.shape.slice(2)),
    };
    return { ins, r, strides, dilations, pads, group, attrs };
  }

  conv(x: Value, w: Value, b?: Value, o: { strides?: number[]; pads?: number[]; dilations?: number[]; group?: number } = {}): Value {
    const { ins, r, strides, dilations, pads, group, attrs } = this.convCommon('Conv', x, w, b, o);
    const cin = x.shape[1]!;
    const cout = w.shape[0]!;
    if (cin % group || cout % group) this.fail('Conv', ins, `channels ${cin}→${cout} are not divisible by group ${group}`);
    if (w.shape[1] !== cin / group) this.fail('Conv', ins, `weight has ${w.shape[1]} input channels per group, input gives ${cin / group}`);
    if (b && (b.shape.length !== 1 || b.shape[0] !== cout)) this.fail('Conv', ins, `bias must be [${cout}]`);
    const shape = [x.shape[0]!, cout];
    for (let i = 0; i < r; i++) {
      const k = (w.shape[2 + i]! - 1) * dilations[i]! + 1;
      const span = x.shape[2 + i]! + pads[i]! + pads[r + i]! - k;
      if (span < 0) this.fail('Conv', ins, `kernel (dilated ${k}) is larger than padded input on spatial axis ${i}`);
      shape.push(Math.floor(span / strides[i]!) + 1);
    }
    return this.one('Conv', b ? [x, w, b] : [x, w], attrs, x.dtype, shape);
  }

  convTranspose(x: Value, w: Value, b?: Value, o: { strides?: number[]; pads?: number[]; dilations?: number[];
    group?: number; outputPadding?: number[] } = {}): Value {
    const { ins, r, strides, dilations, pads, group, attrs } = this.convCommon('ConvTranspose', x, w, b, o);
    const cin = x.shape[1]!;
    if (w.shape[0] !== cin) this.fail('ConvTranspose', ins, `weight must be [${cin}, C_out/group, k...]`);
    if (cin % group) this.fail('ConvTranspose', ins, `input channels ${cin} are not divisible by group ${group}`);
    const cout = w.shape[1]! * group;
    if (b && (b.shape.length !== 1 || b.shape[0] !== cout)) this.fail('ConvTranspose', ins, `bias must be [${cout}]`);
    const outPad = o.outputPadding ?? new Array(r).fill(0);
    if (outPad.length !== r) this.fail('ConvTranspose', ins, `outputPadding needs ${r} values`);
    const shape = [x.shape[0]!, cout];
    for (let i = 0; i < r; i++) {
      if (outPad[i]! >= Math.max(strides[i]!, dilations[i]!)) {
        this.fail('ConvTranspose', ins, `outputPadding ${outPad[i]} must be smaller than stride or dilation`);
      }
      const k = (w.shape[2 + i]! - 1) * dilations[i]! + 1;
      const n = strides[i]! * (x.shape[2 + i]! - 1) + outPad[i]! + k - pads[i]! - pads[r + i]!;
      if (n <= 0) this.fail('ConvTranspose', ins, `output size ${n} on spatial axis ${i} is not positive`);
      shape.push(n);
    }
    if (o.outputPadding) attrs.output_padding = attr.ints(outPad);
    return this.one('ConvTranspose', ins, attrs, x.dtype, shape);
  }

  // ---------------------------------------------------------------- shape ops

  reshape(x: Value, shape: number[]): Value {
    const out = shape.map((d, i) => (d === 0 ? x.shape[i] : d));
    if (out.some((d) => d === undefined)) this.fail('Reshape', [x], `0 in target ${fmt(shape)} copies a dimension the input lacks`);
    const holes = out.filter((d) => d === -1).length;
    if (holes > 1) this.fail('Reshape', [x], `target ${fmt(shape)} has more than one -1`);
    if (out.some((d) => d! < -1 || !Number.isInteger(d))) this.fail('Reshape', [x], `invalid target ${fmt(shape)}`);
    const n = numel(x.shape);
    const known = out.reduce<number>((p, d) => (d === -1 ? p : p * d!), 1);
    if (holes) {
      if (known === 0 || n % known) this.fail('Reshape', [x], `cannot infer -1 in ${fmt(shape)} for ${n} elements`);
      out[out.indexOf(-1)] = n / known;
    } else if (known !== n) {
      this.fail('Reshape', [x], `target ${fmt(shape)} has ${known} elements, input has ${n}`);
    }
    return this.one('Reshape', [x, this.int64(shape)], {}, x.dtype, out as number[]);
  }

  transpose(x: Value, perm: number[]): Value {
    const r = x.shape.length;
    const seen = new Set(perm);
    if (perm.length !== r || seen.size !== r || perm.some((p) => !Number.isInteger(p) || p < 0 || p >= r)) {
      this.fail('Transpose', [x], `perm ${fmt(perm)} is not a permutation of ${r} axes`);
    }
    return this.one('Transpose', [x], { perm: attr.ints(perm) }, x.dtype, perm.map((p) => x.shape[p]!));
  }

  unsqueeze(x: Value, axes: number[]): Value {
    const r = x.shape.length + axes.length;
    const norm = axes.map((a) => normAxis(a, r, () => `Unsqueeze: input ${x.name}${fmt(x.shape)}`));
    if (new Set(norm).size !== norm.length) this.fail('Unsqueeze', [x], `repeated axes ${fmt(axes)}`);
    const shape: number[] = [];
    let j = 0;
    for (let i = 0; i < r; i++) shape.push(norm.includes(i) ? 1 : x.shape[j++]!);
    return this.one('Unsqueeze', [x, this.int64(axes)], {}, x.dtype, shape);
  }

  squeeze(x: Value, axes: number[]): Value {
    const r = x.shape.length;
    const norm = axes.map((a) => normAxis(a, r, () => `Squeeze: input ${x.name}${fmt(x.shape)}`));
    for (const a of norm) if (x.shape[a] !== 1) this.fail('Squeeze', [x], `axis ${a} has size ${x.shape[a]}, not 1`);
    return this.one('Squeeze', [x, this.int64(axes)], {}, x.dtype, x.shape.filter((_, i) => !norm.includes(i)));
  }

  concat(xs: Value[], axis: number): Value {
    if (xs.length === 0) throw new GraphError('Concat: needs at least one input');
    const first = xs[0]!;
    const r = first.shape.length;
    const a = normAxis(axis, r, () => `Concat: input ${first.name}${fmt(first.shape)}`);
    let total = 0;
    for (const x of xs) {
      if (x.dtype !== first.dtype) this.fail('Concat', xs, 'dtypes differ');
      if (x.shape.length !== r || x.shape.some((d, i) => i !== a && d !== first.shape[i])) {
        this.fail('Concat', xs, `shapes differ outside axis ${axis}`);
      }
      total += x.shape[a]!;
    }
    const shape = [...first.shape];
    shape[a] = total;
    return this.one('Concat', xs, { axis: attr.int(a) }, first.dtype, shape);
  }

  split(x: Value, axis: number, sizes: number[]): Value[] {
    const a = normAxis(axis, x.shape.length, () => `Split: input ${x.name}${fmt(x.shape)}`);
    const sum = sizes.reduce((p, s) => p + s, 0);
    if (sizes.length === 0 || sizes.some((s) => !Number.isInteger(s) || s < 0) || sum !== x.shape[a]) {
      this.fail('Split', [x], `sizes ${fmt(sizes)} do not add up to dimension ${x.shape[a]} of axis ${axis}`);
    }
    const outs = sizes.map((s) => {
      const shape = [...x.shape];
      shape[a] = s;
      return { dtype: x.dtype, shape };
    });
    return this.emit('Split', [x, this.int64(sizes)], { axis: attr.int(a) }, outs);
  }

  slice(x: Value, starts: number[], ends: number[], axes?: number[], steps?: number[]): Value {
    const r = x.shape.length;
    const ax = axes ?? starts.map((_, i) => i);
    const st = steps ?? starts.map(() => 1);
    if (ends.length !== starts.length || ax.length !== starts.length || st.length !== starts.length) {
      this.fail('Slice', [x], 'starts, ends, axes and steps must have the same length');
    }
    const shape = [...x.shape];
    const seen = new Set<number>();
    for (let i = 0; i < starts.length; i++) {
      const a = normAxis(ax[i]!, r, () => `Slice: input ${x.name}${fmt(x.shape)}`);
      if (seen.has(a)) this.fail('Slice', [x], `axis ${a} appears twice`);
      seen.add(a);
      const step = st[i]!;
      if (!Number.isInteger(step) || step === 0) this.fail('Slice', [x], `step must be a non-zero integer, got ${step}`);
      shape[a] = sliceLength(x.shape[a]!, starts[i]!, ends[i]!, step);
    }
    const inputs = [x, this.int64(starts), this.int64(ends), this.int64(ax)];
    if (steps) inputs.push(this.int64(st));
    return this.one('Slice', inputs, {}, x.dtype, shape);
  }

  gather(x: Value, indices: Value, axis = 0): Value {
    if (indices.dtype !== 'int64' && indices.dtype !== 'int32') this.fail('Gather', [x, indices], 'indices must be int64 or int32');
    const a = normAxis(axis, x.shape.length, () => `Gather: input ${x.name}${fmt(x.shape)}`);
    const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
    return this.one('Gather', [x, indices], { axis: attr.int(a) }, x.dtype, shape);
  }

  expand(x: Value, shape: number[]): Value {
    const out = broadcastShapes(x.shape, shape);
    if (!out) this.fail('Expand', [x], `shape does not broadcast to ${fmt(shape)}`);
    return this.one('Expand', [x, this.int64(shape)], {}, x.dtype, out);
  }

  resizeNearest(x: Value, scale: number): Value {
    if (x.shape.length !== 4) this.fail('Resize', [x], 'resizeNearest needs an NCHW input');
    if (!(scale > 0)) this.fail('Resize', [x], `scale must be positive, got ${scale}`);
    const [n, c, h, w] = x.shape as [number, number, number, number];
    const shape = [n, c, Math.floor(h * scale), Math.floor(w * scale)];
    if (shape[2] === 0 || shape[3] === 0) this.fail('Resize', [x], `scale ${scale} gives an empty output`);
    const scales = this.constant([1, 1, scale, scale], [4], 'float32');
    return this.one('Resize', [x, null, scales], {
      mode: attr.string('nearest'),
      coordinate_transformation_mode: attr.string('asymmetric'),
      nearest_mode: attr.string('floor'),
    }, x.dtype, shape);
  }

  // ---------------------------------------------------------------- reductions and normalisation

  /**
   * onnxruntime's fused attention (com.microsoft MultiHeadAttention): q [B, N, h·d], k [B, M, h·d],
   * v [B, M, h·dv] → [B, N, h·dv] = softmax(scale·q·kᵀ)·v per head, without materialising the score
   * matrices. Inference only: autodiff has no rule for it (training graphs use MatMul + Softmax).
   */
  multiHeadAttention(q: Value, k: Value, v: Value, heads: number, scale: number): Value {
    const [b, n, inner] = q.shape;
    if (q.shape.length !== 3 || k.shape.length !== 3 || v.shape.length !== 3) this.fail('MultiHeadAttention', [q, k, v], 'q, k and v must be [B, tokens, channels]');
    if (k.shape[0] !== b || v.shape[0] !== b || k.shape[1] !== v.shape[1] || k.shape[2] !== inner) {
      this.fail('MultiHeadAttention', [q, k, v], 'batch, key/value lengths or q/k widths differ');
    }
    if (!Number.isInteger(heads) || heads < 1 || inner! % heads !== 0 || v.shape[2]! % heads !== 0) {
      this.fail('MultiHeadAttention', [q, k, v], `widths must split into ${heads} heads`);
    }
    if (q.dtype !== k.dtype || q.dtype !== v.dtype || !isFloat(q.dtype)) this.fail('MultiHeadAttention', [q, k, v], 'needs one floating-point dtype');
    const attrs = { num_heads: attr.int(heads), scale: attr.float(scale) };
    return this.emit('MultiHeadAttention', [q, k, v], attrs, [{ dtype: q.dtype, shape: [b!, n!, v.shape[2]!] }], MS_DOMAIN)[0]!;
  }

  /**
   * onnxruntime's MatMulNBits (com.microsoft): a [..., K] float times Bᵀ, B [N, K] stored blockwise
   * quantised along K as uint8 `b` [N, ⌈K/block⌉, block·bits/8] (codes packed low bits first) with
   * `scales` [N·⌈K/block⌉]; no zero points: each code's zero is 2^(bits−1). → [..., N]. Inference only.
   */
  matMulNBits(a: Value, b: Value, scales: Value, n: number, bits: number, blockSize: number, accuracyLevel = 0): Value {
    const k = a.shape[a.shape.length - 1]!;
    const blocks = Math.ceil(k / blockSize);
    if (b.dtype !== 'uint8' || b.shape.length !== 3 || b.shape[0] !== n || b.shape[1] !== blocks || b.shape[2] !== (blockSize * bits) / 8) {
      this.fail('MatMulNBits', [a, b, scales], `B must be uint8 [${n}, ${blocks}, ${(blockSize * bits) / 8}]`);
    }
    if (scales.dtype !== a.dtype || scales.shape.length !== 1 || scales.shape[0] !== n * blocks) {
      this.fail('MatMulNBits', [a, b, scales], `scales must be ${a.dtype} [${n * blocks}]`);
    }
    const attrs: Record<string, Attr> = { K: attr.int(k), N: attr.int(n), bits: attr.int(bits), block_size: attr.int(blockSize) };
    if (accuracyLevel) attrs.accuracy_level = attr.int(accuracyLevel); // 4: activations quantised to int8 per block inside the kernel
    return this.emit('MatMulNBits', [a, b, scales], attrs, [{ dtype: a.dtype, shape: [...a.shape.slice(0, -1), n] }], MS_DOMAIN)[0]!;
  }

  /**
   * DequantizeLinear per axis, symmetric (no zero point): int8 `q` times `scale` [q.shape[axis]] along
   * `axis` → float32 of q's shape. Weight-only quantised convolutions (nn/quantize.ts); inference only.
   */
  dequantizeLinear(q: Value, scale: Value, axis: number): Value {
    const a = normAxis(axis, q.shape.length, () => `DequantizeLinear: input ${q.name}${fmt(q.shape)}`);
    if (q.dtype !== 'int8') this.fail('DequantizeLinear', [q, scale], 'codes must be int8 (no zero point: symmetric)');
    if (scale.dtype !== 'float32' || scale.shape.length !== 1 || scale.shape[0] !== q.shape[a]) {
      this.fail('DequantizeLinear', [q, scale], `scale must be float32 [${q.shape[a]}]`);
    }
    return this.one('DequantizeLinear', [q, scale], { axis: attr.int(a) }, 'float32', q.shape);
  }

  softmax(x: Value, axis = -1): Value {
    const a = normAxis(axis, x.shape.length, () => `Softmax: input ${x.name}${fmt(x.shape)}`);
    if (!isFloat(x.dtype)) this.fail('Softmax', [x], 'needs a floating-point input');
    return this.one('Softmax', [x], { axis: attr.int(a) }, x.dtype, x.shape);
  }

  private reduce(op: string, x: Value, axes: number[], keepdims: boolean): Value {
    const r = x.shape.length;
    if (axes.length === 0) this.fail(op, [x], 'axes must not be empty (reduce over all axes by listing them)');
    const norm = axes.map((a) => normAxis(a, r, () => `${op}: input ${x.name}${fmt(x.shape)}`));
    if (new Set(norm).size !== norm.length) this.fail(op, [x], `repeated axes ${fmt(axes)}`);
    const shape: number[] = [];
    x.shape.forEach((d, i) => {
      if (!norm.includes(i)) shape.push(d);
      else if (keepdims) shape.push(1);
    });
    return this.one(op, [x, this.int64(norm)], { keepdims: attr.int(keepdims ? 1 : 0) }, x.dtype, shape);
  }

  reduceMean(x: Value, axes: number[], keepdims = true): Value { return this.reduce('ReduceMean', x, axes, keepdims); }
  reduceSum(x: Value, axes: number[], keepdims = true): Value { return this.reduce('ReduceSum', x, axes, keepdims); }

  /** (x − mean)/sqrt(var + eps) over `axes`, keepdims; the shared core of layerNorm and groupNorm. */
  private normalize(x: Value, axes: number[], eps: number): Value {
    const mean = this.reduceMean(x, axes);
    const d = this.sub(x, mean);
    const variance = this.reduceMean(this.mul(d, d), axes);
    return this.div(d, this.sqrt(this.add(variance, eps)));
  }

  private affine(y: Value, gamma: Value | null, beta: Value | null, op: string, x: Value): Value {
    let out = y;
    if (gamma) out = this.mul(out, gamma);
    if (beta) out = this.add(out, beta);
    if (out.shape.length !== x.shape.length || out.shape.some((d, i) => d !== x.shape[i])) {
      this.fail(op, [x, gamma, beta], `gamma/beta change the output shape to ${fmt(out.shape)}`);
    }
    return out;
  }

  layerNorm(x: Value, gamma: Value | null, beta: Value | null, eps: number, axis = -1): Value {
    const r = x.shape.length;
    const a = normAxis(axis, r, () => `LayerNorm: input ${x.name}${fmt(x.shape)}`);
    const axes: number[] = [];
    for (let i = a; i < r; i++) axes.push(i);
    const trailing = x.shape.slice(a);
    for (const p of [gamma, beta]) {
      if (p && (p.shape.length > trailing.length || !broadcastShapes(trailing, p.shape))) {
        this.fail('LayerNorm', [x, gamma, beta], `gamma/beta must broadcast to the normalised dims ${fmt(trailing)}`);
      }
    }
    return this.affine(this.normalize(x, axes, eps), gamma, beta, 'LayerNorm', x);
  }

  groupNorm(x: Value, groups: number, gamma: Value | null, beta: Value | null, eps: number): Value {
    const ins = [x, gamma, beta];
    if (x.shape.length < 3) this.fail('GroupNorm', ins, 'input must be [N, C, spatial...]');
    const [n, c] = x.shape as [number, number];
    if (!Number.isInteger(groups) || groups < 1 || c % groups) this.fail('GroupNorm', ins, `${c} channels do not split into ${groups} groups`);
    for (const p of [gamma, beta]) {
      if (p && (p.shape.length !== 1 || p.shape[0] !== c)) this.fail('GroupNorm', ins, `gamma/beta must be [${c}]`);
    }
    const y = this.reshape(this.normalize(this.reshape(x, [n, groups, -1]), [2], eps), [...x.shape]);
    const perChannel = [c, ...new Array(x.shape.length - 2).fill(1)];
    return this.affine(y, gamma && this.reshape(gamma, perChannel), beta && this.reshape(beta, perChannel), 'GroupNorm', x);
  }
}

/** Output length of ONNX Slice on one axis (start/end clamped as the spec says). */
export function sliceLength(dim: number, start: number, end: number, step: number): number {
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = Math.min(Math.max(s, 0), dim);
    e = Math.min(Math.max(e, 0), dim);
  } else {
    s = Math.min(Math.max(s, 0), dim - 1);
    e = Math.min(Math.max(e, -1), dim - 1);
  }
  return Math.max(0, Math.ceil((e - s) / step));
}

function toTyped(data: readonly number[] | TensorData['data'], dtype: DType): TensorData['data'] {
  if (!Array.isArray(data)) {
    const ok = (dtype === 'float32' && data instanceof Float32Array) || (dtype === 'float64' && data instanceof Float64Array)
      || (dtype === 'int64' && data instanceof BigInt64Array) || (dtype === 'int32' && data instanceof Int32Array)
      || (dtype === 'int8' && data instanceof Int8Array) || (dtype === 'float16' && data instanceof Uint16Array)
      || ((dtype === 'uint8' || dtype === 'bool') && data instanceof Uint8Array);
    if (!ok) throw new GraphError(`constant: a ${data.constructor.name} cannot hold ${dtype} data`);
    return data as TensorData['data'];
  }
  const nums = data as readonly number[];
  const out = allocate(dtype, nums.length);
  for (let i = 0; i < nums.length; i++) {
    const v = nums[i]!;
    if (out instanceof BigInt64Array) out[i] = BigInt(Math.trunc(v));
    else if (dtype === 'float16') (out as Uint16Array)[i] = floatToHalf(v);
    else if (dtype === 'bool') (out as Uint8Array)[i] = v ? 1 : 0;
    else (out as Float32Array)[i] = v;
  }
  return out;
}
