// One gradient rule per ONNX op: given the forward node (inputs and outputs as values of the gradient
// graph) and the gradients of its outputs, emit standard ops that give the gradients of its inputs.
// A rule returns one entry per input: a value shaped like that input (or compact: size 1 on axes
// where the gradient is constant, e.g. a reduction's), or null where none is needed.
// Formulas: ../shared/reference/ldm-facts.md §7.
import type { Graph, Node, Value } from '../onnx/graph.ts';
import { sliceLength } from '../onnx/graph.ts';
import { isFloat } from '../onnx/dtypes.ts';
import { convGradients, convTransposeGradients, type ConvForms } from './conv.ts';
import { AutodiffError, constValues, intAttr, intsAttr, normAxis, pad, sameShape, stringAttr, sumToShape, zeros } from './util.ts';

export interface GradientOptions {
  /** Which forms the conv gradients take; 'auto' (default) picks the fastest measured on CPU. */
  conv?: ConvForms;
  /** Values treated as constants: no gradient flows through them (e.g. a straight-through estimator). */
  stopGradient?: readonly string[];
  /**
   * Activation recomputation (gradient checkpointing) at block granularity: the forward nodes of each
   * block (the nodes whose output is named inside one `Graph.scoped` scope, e.g. a ResBlock or a
   * transformer block of nn/unet.ts) keep only the block's inputs and outputs alive; the values inside
   * are computed again from them when the backward pass reaches the block. Same gradients, less memory,
   * about one more forward pass of time. Default off.
   */
  recompute?: boolean;
}

export interface RuleContext {
  readonly g: Graph;
  readonly node: Node;
  readonly inputs: readonly (Value | null)[];
  readonly outputs: readonly Value[];
  /** dLoss/dOutput k, shaped like that output; null where no gradient flows into it. */
  grad(k: number): Value | null;
  /**
   * The same gradient, possibly compact (size 1 on axes it is constant along). Only for rules that
   * broadcast it anyway; their results may then be compact too.
   */
  compactGrad(k: number): Value | null;
  needs(i: number): boolean;
  readonly options: GradientOptions;
}

export type GradientRule = (c: RuleContext) => (Value | null)[];

function x(c: RuleContext, i: number): Value {
  const v = c.inputs[i];
  if (!v) throw new AutodiffError(`${c.node.op} node '${c.node.name}': input ${i} is missing`);
  return v;
}

function dy(c: RuleContext): Value {
  const d = c.grad(0);
  if (!d) throw new AutodiffError(`${c.node.op} node '${c.node.name}': no gradient for its output`);
  return d;
}

/** The output gradient, possibly compact: for rules whose arithmetic broadcasts anyway. */
function dyc(c: RuleContext): Value {
  const d = c.compactGrad(0);
  if (!d) throw new AutodiffError(`${c.node.op} node '${c.node.name}': no gradient for its output`);
  return d;
}

/** Gradients for input 0 only (elementwise unary ops). */
const unary = (f: (g: Graph, dy: Value, x: Value, y: Value) => Value): GradientRule => (c) => [f(c.g, dy(c), x(c, 0), c.outputs[0]!)];

/** Only builds what the pass asked for. */
const when = (c: RuleContext, i: number, f: () => Value): Value | null => (c.needs(i) ? f() : null);

const lastTwo = (g: Graph, v: Value): Value => {
  const r = v.shape.length;
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
  return g.transpose(v, perm);
};

function matmulRule(c: RuleContext): (Value | null)[] {
  const { g } = c;
  const a = x(c, 0);
  const b = x(c, 1);
  // numpy lifts 1-D operands to matrices; work on the lifted forms, sum back at the end.
  const a2 = a.shape.length === 1 ? g.reshape(a, [1, a.shape[0]!]) : a;
  const b2 = b.shape.length === 1 ? g.reshape(b, [b.shape[0]!, 1]) : b;
  const m = a2.shape[a2.shape.length - 2]!;
  const k = a2.shape[a2.shape.length - 1]!;
  const n = b2.shape[b2.shape.length - 1]!;
  let d = dy(c);
  const batch = d.shape.slice(0, d.shape.length - (a.shape.length > 1 ? 1 : 0) - (b.shape.length > 1 ? 1 : 0));
  if (a.shape.length === 1 || b.shape.length === 1) d = g.reshape(d, [...batch, m, n]);
  const back = (v: Value, lifted: Value, orig: Value) => {
    const s = sumToShape(g, v, lifted.shape);
    return lifted === orig ? s : g.reshape(s, [...orig.shape]);
  };
  return [
    when(c, 0, () => back(g.matmul(d, lastTwo(g, b2)), a2, a)),
    when(c, 1, () => {
      if (b2.shape.length === 2 && a2.shape.length > 2) {
        // Linear layers: fold the batch into one GEMM instead of a batched product plus a reduction.
        return back(g.gemm(g.reshape(a2, [-1, k]), g.reshape(d, [-1, n]), undefined, { transA: true }), b2, b);
      }
      return back(g.matmul(lastTwo(g, a2), d), b2, b);
    }),
  ];
}

function gemmRule(c: RuleContext): (Value | null)[] {
  const { g, node } = c;
  const a = x(c, 0);
  const b = x(c, 1);
  const d = dy(c);
  const transA = intAttr(node, 'transA', 0) === 1;
  const transB = intAttr(node, 'transB', 0) === 1;
  const alpha = node.attrs.alpha?.kind === 'float' ? node.attrs.alpha.value : 1;
  const beta = node.attrs.beta?.kind === 'float' ? node.attrs.beta.value : 1;
  const o = (tA: boolean, tB: boolean) => ({ transA: tA, transB: tB, alpha });
  return [
    when(c, 0, () => (transA ? g.gemm(b, d, undefined, o(transB, true)) : g.gemm(d, b, undefined, o(false, !transB)))),
    when(c, 1, () => (transB ? g.gemm(d, a, undefined, o(true, transA)) : g.gemm(a, d, undefined, o(!transA, false)))),
    when(c, 2, () => {
      const dc = sumToShape(c.g, d, x(c, 2).shape);
      return beta === 1 ? dc : g.mul(dc, beta);
    }),
  ];
}

function reduceRule(mean: boolean): GradientRule {
  return (c) => {
    const { g, node } = c;
    const input = x(c, 0);
    const r = input.shape.length;
    let axes = constValues(g, node, c.inputs[1] ?? null)?.map((a) => normAxis(a, r));
    if (!axes || axes.length === 0) {
      if (intAttr(node, 'noop_with_empty_axes', 0) === 1) return [dy(c)];
      axes = [...Array(r).keys()];
    }
    // Compact: the reduced axes stay at size 1; the pass expands only where a consumer needs it.
    const kept = input.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const d = sameShape(dy(c).shape, kept) ? dy(c) : g.reshape(dy(c), kept);
    return [mean ? g.mul(d, 1 / axes.reduce((p, a) => p * input.shape[a]!, 1)) : d];
  };
}

function sliceRule(c: RuleContext): (Value | null)[] {
  const { g, node } = c;
  const input = x(c, 0);
  const r = input.shape.length;
  const starts = constValues(g, node, x(c, 1))!;
  const ends = constValues(g, node, x(c, 2))!;
  const axes = constValues(g, node, c.inputs[3] ?? null) ?? starts.map((_, i) => i);
  const steps = constValues(g, node, c.inputs[4] ?? null) ?? starts.map(() => 1);
  let d = dy(c);
  const pads = new Array<number>(2 * r).fill(0);
  const flip: number[] = [];
  axes.forEach((axis, i) => {
    const a = normAxis(axis, r);
    const dim = input.shape[a]!;
    const step = steps[i]!;
    const n = sliceLength(dim, starts[i]!, ends[i]!, step);
    if (n === 0) return;
    let first = starts[i]! < 0 ? starts[i]! + dim : starts[i]!;
    first = step > 0 ? Math.min(Math.max(first, 0), dim) : Math.min(Math.max(first, 0), dim - 1);
    const lo = step > 0 ? first : first + (n - 1) * step;
    const stride = Math.abs(step);
    if (step < 0) flip.push(a);
    if (stride > 1) d = spreadAxis(g, d, a, stride, (n - 1) * stride + 1);
    pads[a] = lo;
    pads[r + a] = dim - lo - ((n - 1) * stride + 1);
  });
  if (flip.length) d = g.slice(d, flip.map(() => -1), flip.map((a) => -(d.shape[a]! + 1)), flip, flip.map(() => -1));
  return [pad(g, d, pads)];
}

/** Puts stride−1 zeros after each element along `axis`, keeping the first `length` entries. */
function spreadAxis(g: Graph, d: Value, axis: number, stride: number, length: number): Value {
  const s = [...d.shape];
  const n = s[axis]!;
  const col = g.reshape(d, [...s.slice(0, axis + 1), 1, ...s.slice(axis + 1)]);
  const padsCol = new Array<number>(2 * col.shape.length).fill(0);
  padsCol[col.shape.length + axis + 1] = stride - 1;
  const spread = g.reshape(pad(g, col, padsCol), [...s.slice(0, axis), n * stride, ...s.slice(axis + 1)]);
  return g.slice(spread, [0], [length], [axis]);
}

function padRule(c: RuleContext): (Value | null)[] {
  const { g, node } = c;
  const input = x(c, 0);
  const r = input.shape.length;
  if (stringAttr(node, 'mode', 'constant') !== 'constant') {
    throw new AutodiffError(`Pad node '${node.name}': only constant padding is differentiable here`);
  }
  const raw = constValues(g, node, x(c, 1))!;
  const axes = (constValues(g, node, c.inputs[3] ?? null) ?? [...Array(r).keys()]).map((a) => normAxis(a, r));
  const begins = new Array<number>(r).fill(0);
  axes.forEach((a, i) => {
    begins[a] = raw[i]!;
    if (raw[i]! < 0 || raw[axes.length + i]! < 0) throw new AutodiffError(`Pad node '${node.name}': negative pads are not supported`);
  });
  return [g.slice(dy(c), begins, begins.map((b, a) => b + input.shape[a]!), [...Array(r).keys()])];
}

function gatherRule(c: RuleContext): (Value | null)[] {
  const { g, node } = c;
  const data = x(c, 0);
  const idx = x(c, 1);
  const r = data.shape.length;
  const axis = normAxis(intAttr(node, 'axis', 0), r);
  const dim = data.shape[axis]!;
  // Scatter-add the gradient rows into zeros with the gathered axis in front (ScatterND works on leading axes).
  let d = dy(c);
  const ir = idx.shape.length;
  if (axis > 0) d = g.transpose(d, [...[...Array(ir).keys()].map((i) => axis + i), ...[...Array(axis).keys()], ...[...Array(r - 1 - axis).keys()].map((i) => axis + ir + i)]);
  const front = [dim, ...data.shape.slice(0, axis), ...data.shape.slice(axis + 1)];
  const dimC = g.constant([dim], [], idx.dtype);
  const wrapped = g.emit('Mod', [g.add(idx, dimC), dimC], {}, [{ dtype: idx.dtype, shape: idx.shape }])[0]!;
  const index = g.unsqueeze(idx.dtype === 'int64' ? wrapped : g.cast(wrapped, 'int64'), [ir]);
  const scattered = g.emit('ScatterND', [zeros(g, data.dtype, front), index, d], { reduction: { kind: 'string', value: 'add' } },
    [{ dtype: data.dtype, shape: front }])[0]!;
  if (axis === 0) return [scattered, null];
  return [g.transpose(scattered, [...[...Array(axis).keys()].map((i) => i + 1), 0, ...[...Array(r - 1 - axis).keys()].map((i) => axis + 1 + i)]), null];
}

function resizeRule(c: RuleContext): (Value | null)[] {
  const { g, node } = c;
  const input = x(c, 0);
  const out = c.outputs[0]!;
  const mode = stringAttr(node, 'mode', 'nearest');
  const ctm = stringAttr(node, 'coordinate_transformation_mode', 'half_pixel');
  const nearest = stringAttr(node, 'nearest_mode', 'round_prefer_floor');
  const factors = input.shape.map((d, i) => out.shape[i]! / d);
  if (mode !== 'nearest' || ctm !== 'asymmetric' || nearest !== 'floor' || factors.some((f) => !Number.isInteger(f))) {
    throw new AutodiffError(`Resize node '${node.name}': only nearest upsampling by integer factors (asymmetric, floor) is differentiable here`);
  }
  // Each input pixel feeds an f×f block: view the gradient as [.., H, f, W, f] and sum the blocks.
  const split = input.shape.flatMap((d, i) => [d, factors[i]!]);
  const summed = g.reduceSum(g.reshape(dy(c), split), factors.map((_, i) => 2 * i + 1), false);
  return [summed];
}

function splitRule(c: RuleContext): (Value | null)[] {
  const { g, node } = c;
  const input = x(c, 0);
  const axis = normAxis(intAttr(node, 'axis', 0), input.shape.length);
  const parts = c.outputs.map((o, i) => c.grad(i) ?? zeros(g, o.dtype, o.shape));
  return [g.concat(parts, axis)];
}

function concatRule(c: RuleContext): (Value | null)[] {
  const { g, node } = c;
  const ins = c.inputs.map((v) => v!);
  const axis = normAxis(intAttr(node, 'axis', 0), ins[0]!.shape.length);
  const sizes = ins.map((v) => v.shape[axis]!);
  const needed = ins.map((_, i) => c.needs(i));
  if (needed.filter(Boolean).length === 1) {
    const i = needed.indexOf(true);
    const start = sizes.slice(0, i).reduce((p, s) => p + s, 0);
    return ins.map((_, k) => (k === i ? g.slice(dy(c), [start], [start + sizes[i]!], [axis]) : null));
  }
  return g.split(dy(c), axis, sizes);
}

const sumRule: GradientRule = (c) => c.inputs.map((v, i) => when(c, i, () => sumToShape(c.g, dyc(c), v!.shape)));

function minMaxRule(isMax: boolean): GradientRule {
  return (c) => {
    const { g } = c;
    if (c.inputs.length !== 2) throw new AutodiffError(`${c.node.op} node '${c.node.name}': only the two-input form is differentiable here`);
    const a = x(c, 0);
    const b = x(c, 1);
    const bWins = isMax ? g.less(a, b) : g.greater(a, b); // ties go to the first input
    const zero = g.scalar(0, a.dtype);
    return [
      when(c, 0, () => sumToShape(g, g.where(bWins, zero, dy(c)), a.shape)),
      when(c, 1, () => sumToShape(g, g.where(bWins, dy(c), zero), b.shape)),
    ];
  };
}

function powRule(c: RuleContext): (Value | null)[] {
  const { g, node } = c;
  const a = x(c, 0);
  const b = x(c, 1);
  const y = c.outputs[0]!;
  const d = dy(c);
  const exponent = g.constants.get(b.name) && b.shape.every((s) => s === 1) ? constValues(g, node, b)![0] : undefined;
  return [
    when(c, 0, () => {
      if (exponent === 2) return sumToShape(g, g.mul(d, g.mul(a, 2)), a.shape);
      if (exponent === 1) return sumToShape(g, d, a.shape);
      const local = exponent !== undefined ? g.mul(g.pow(a, exponent - 1), exponent) : g.mul(b, g.pow(a, g.sub(b, 1)));
      return sumToShape(g, g.mul(d, local), a.shape);
    }),
    when(c, 1, () => sumToShape(g, g.mul(d, g.mul(y, g.log(a))), b.shape)),
  ];
}

const reshapeLike: GradientRule = (c) => [c.g.reshape(dy(c), [...x(c, 0).shape])];

export const RULES: Readonly<Record<string, GradientRule>> = {
  Add: (c) => [when(c, 0, () => sumToShape(c.g, dyc(c), x(c, 0).shape)), when(c, 1, () => sumToShape(c.g, dyc(c), x(c, 1).shape))],
  Sub: (c) => [when(c, 0, () => sumToShape(c.g, dyc(c), x(c, 0).shape)), when(c, 1, () => c.g.neg(sumToShape(c.g, dyc(c), x(c, 1).shape)))],
  Mul: (c) => {
    const [a, b] = [x(c, 0), x(c, 1)];
    if (a.name === b.name) return [c.g.mul(a, c.g.mul(dyc(c), 2)), null]; // x·x: one term, not two summed
    return [when(c, 0, () => sumToShape(c.g, c.g.mul(dyc(c), b), a.shape)), when(c, 1, () => sumToShape(c.g, c.g.mul(dyc(c), a), b.shape))];
  },
  Div: (c) => {
    const da = c.g.div(dyc(c), x(c, 1)); // dL/dA before summing; dL/dB = −Σ da·Y
    return [when(c, 0, () => sumToShape(c.g, da, x(c, 0).shape)), when(c, 1, () => c.g.neg(sumToShape(c.g, c.g.mul(da, c.outputs[0]!), x(c, 1).shape)))];
  },
  Pow: powRule,
  Max: minMaxRule(true),
  Min: minMaxRule(false),
  Sum: sumRule,
  MatMul: matmulRule,
  Gemm: gemmRule,
  Conv: (c) => convGradients(c.g, c.node, x(c, 0), x(c, 1), c.inputs[2] ?? null, dy(c), c.needs, c.options.conv),
  ConvTranspose: (c) => convTransposeGradients(c.g, c.node, x(c, 0), x(c, 1), c.inputs[2] ?? null, dy(c), c.needs, c.options.conv),
  Reshape: reshapeLike,
  Flatten: reshapeLike,
  Squeeze: reshapeLike,
  Unsqueeze: reshapeLike,
  Identity: (c) => [dyc(c)],
  Transpose: (c) => {
    const r = x(c, 0).shape.length;
    const perm = intsAttr(c.node, 'perm') ?? [...Array(r).keys()].reverse();
    const inverse = new Array<number>(r);
    perm.forEach((p, i) => (inverse[p] = i));
    return [c.g.transpose(dy(c), inverse)];
  },
  Concat: concatRule,
  Split: splitRule,
  Slice: sliceRule,
  Pad: padRule,
  Gather: gatherRule,
  Expand: (c) => [sumToShape(c.g, dy(c), x(c, 0).shape)],
  Where: (c) => {
    const { g } = c;
    const cond = x(c, 0);
    const zero = g.scalar(0, dy(c).dtype);
    return [
      null,
      when(c, 1, () => sumToShape(g, g.where(cond, dy(c), zero), x(c, 1).shape)),
      when(c, 2, () => sumToShape(g, g.where(cond, zero, dy(c)), x(c, 2).shape)),
    ];
  },
  Cast: (c) => [isFloat(x(c, 0).dtype) ? c.g.cast(dy(c), x(c, 0).dtype) : null],
  Resize: resizeRule,
  ReduceSum: reduceRule(false),
  ReduceMean: reduceRule(true),
  Softmax: (c) => {
    const { g } = c;
    const y = c.outputs[0]!;
    const axis = normAxis(intAttr(c.node, 'axis', -1), y.shape.length);
    const yd = g.mul(y, dy(c));
    return [g.sub(yd, g.mul(y, g.reduceSum(yd, [axis], true)))]; // Y⊙(dY − Σ Y⊙dY)
  },
  LogSoftmax: (c) => {
    const { g } = c;
    const y = c.outputs[0]!;
    const axis = normAxis(intAttr(c.node, 'axis', -1), y.shape.length);
    return [g.sub(dy(c), g.mul(g.exp(y), g.reduceSum(dy(c), [axis], true)))];
  },
  Neg: (c) => [c.g.neg(dyc(c))],
  Exp: unary((g, d, _x, y) => g.mul(d, y)),
  Log: unary((g, d, xv) => g.div(d, xv)),
  Sqrt: unary((g, d, _x, y) => g.div(d, g.mul(y, 2))),
  Reciprocal: unary((g, d, _x, y) => g.neg(g.mul(d, g.mul(y, y)))),
  Sigmoid: unary((g, d, _x, y) => g.mul(d, g.mul(y, g.sub(g.scalar(1, y.dtype), y)))),
  Tanh: unary((g, d, _x, y) => g.mul(d, g.sub(g.scalar(1, y.dtype), g.mul(y, y)))),
  Erf: unary((g, d, xv) => g.mul(d, g.mul(g.exp(g.neg(g.mul(xv, xv))), 2 / Math.sqrt(Math.PI)))),
  Relu: unary((g, d, xv) => g.where(g.greater(xv, 0), d, g.scalar(0, d.dtype))),
  Abs: unary((g, d, xv) => g.mul(d, g.emit('Sign', [xv], {}, [{ dtype: xv.dtype, shape: xv.shape }])[0]!)),
  Sin: unary((g, d, xv) => g.mul(d, g.cos(xv))),
  Cos: unary((g, d, xv) => g.neg(g.mul(d, g.sin(xv)))),
};
