// Every gradient rule against central finite differences, through real onnxruntime sessions.
// float64 wherever onnxruntime's CPU provider has a float64 kernel (tolerance 1e-6 relative to the
// largest gradient entry, eps 1e-6). Conv, ConvTranspose, Resize and Erf (so GELU) only run in float32
// there, and SiLU is fused into a float32-only kernel: eps 1e-2 and tolerance 2e-3 (the convs and
// Resize are linear in each input, the others smooth on these small values, so the step costs little).
import { describe, expect, it } from 'vitest';
import type { Graph, Value } from '../../../electron/engine/onnx/graph.ts';
import { gradCheck, rng, type GradCase } from './gradcheck.ts';

const F64_TOL = 1e-6;
const F32_TOL = 2e-3;

const p = (g: Graph, name: string, shape: number[], dtype: 'float32' | 'float64' = 'float64'): Value =>
  g.param(name, shape, { kind: 'normal', std: 1 }, { dtype });

/** Values away from 0 (kinks of Relu/Abs, poles of Div/Reciprocal), either sign. */
const awayFromZero = (u: () => number) => (u() < 0.5 ? -1 : 1) * (0.3 + u());
const positive = (u: () => number) => 0.5 + 1.5 * u();

const cases: Record<string, GradCase> = {
  'Add, broadcast [2,3,4] + [3,1]': { dtype: 'float64', build: (g) => g.add(p(g, 'a', [2, 3, 4]), p(g, 'b', [3, 1])) },
  'Add, scalar param': { dtype: 'float64', build: (g) => g.add(p(g, 'a', [2, 3]), p(g, 'b', [])) },
  'Sub, broadcast [4,1] − [3]': { dtype: 'float64', build: (g) => g.sub(p(g, 'a', [4, 1]), p(g, 'b', [3])) },
  'Mul, broadcast [2,1,4] · [3,1]': { dtype: 'float64', build: (g) => g.mul(p(g, 'a', [2, 1, 4]), p(g, 'b', [3, 1])) },
  'Mul, same value twice (accumulation)': { dtype: 'float64', build: (g) => { const a = p(g, 'a', [3, 2]); return g.mul(a, g.add(a, p(g, 'b', [2]))); } },
  'Div, broadcast [2,3] / [3]': { dtype: 'float64', build: (g) => g.div(p(g, 'a', [2, 3]), p(g, 'b', [3])), sample: { b: awayFromZero } },
  'Pow, both operands': { dtype: 'float64', build: (g) => g.pow(p(g, 'a', [2, 3]), p(g, 'b', [3])), sample: { a: positive } },
  'Pow, constant exponent 2': { dtype: 'float64', build: (g) => g.pow(p(g, 'a', [2, 3]), 2) },
  'Pow, constant exponent 3': { dtype: 'float64', build: (g) => g.pow(p(g, 'a', [2, 3]), 3) },
  'Max, broadcast': { dtype: 'float64', build: (g) => g.max(p(g, 'a', [2, 3]), p(g, 'b', [3])) },
  'Min': { dtype: 'float64', build: (g) => g.min(p(g, 'a', [2, 3]), p(g, 'b', [2, 3])) },
  'MatMul, batched × matrix': { dtype: 'float64', build: (g) => g.matmul(p(g, 'a', [2, 3, 4]), p(g, 'b', [4, 5])) },
  'MatMul, matrix × batched': { dtype: 'float64', build: (g) => g.matmul(p(g, 'a', [3, 4]), p(g, 'b', [2, 4, 5])) },
  'MatMul, broadcast batch dims': { dtype: 'float64', build: (g) => g.matmul(p(g, 'a', [2, 1, 3, 4]), p(g, 'b', [3, 4, 2])) },
  'MatMul, vector × matrix': { dtype: 'float64', build: (g) => g.matmul(p(g, 'a', [4]), p(g, 'b', [4, 5])) },
  'MatMul, batched × vector': { dtype: 'float64', build: (g) => g.matmul(p(g, 'a', [2, 3, 4]), p(g, 'b', [4])) },
  'Gemm, plain with C [n]': { dtype: 'float64', build: (g) => g.gemm(p(g, 'a', [3, 4]), p(g, 'b', [4, 5]), p(g, 'c', [5]), { alpha: 0.7, beta: 1.3 }) },
  'Gemm, transA': { dtype: 'float64', build: (g) => g.gemm(p(g, 'a', [4, 3]), p(g, 'b', [4, 5]), p(g, 'c', [3, 5]), { transA: true, alpha: 1.5 }) },
  'Gemm, transB': { dtype: 'float64', build: (g) => g.gemm(p(g, 'a', [3, 4]), p(g, 'b', [5, 4]), p(g, 'c', [3, 1]), { transB: true, beta: 0.5 }) },
  'Gemm, transA and transB': { dtype: 'float64', build: (g) => g.gemm(p(g, 'a', [4, 3]), p(g, 'b', [5, 4]), undefined, { transA: true, transB: true }) },
  'Reshape': { dtype: 'float64', build: (g) => g.exp(g.reshape(p(g, 'a', [2, 3, 4]), [4, -1])) },
  'Unsqueeze and Squeeze': { dtype: 'float64', build: (g) => g.squeeze(g.mul(g.unsqueeze(p(g, 'a', [2, 3]), [1]), p(g, 'b', [4, 1])), []) },
  'Transpose': { dtype: 'float64', build: (g) => g.mul(g.transpose(p(g, 'a', [2, 3, 4]), [2, 0, 1]), p(g, 'b', [2, 1])) },
  'Concat, with a constant part': {
    dtype: 'float64',
    build: (g) => g.concat([p(g, 'a', [2, 1, 3]), g.constant([1, 2, 3, 4, 5, 6], [2, 1, 3], 'float64'), p(g, 'b', [2, 2, 3])], 1),
  },
  'Concat, one needed input': { dtype: 'float64', wrt: ['b'], build: (g) => g.concat([p(g, 'a', [2, 3]), p(g, 'b', [2, 2])], 1) },
  'Split, one output unused': {
    dtype: 'float64',
    build: (g) => { const [s0, , s2] = g.split(p(g, 'a', [2, 6]), 1, [1, 2, 3]); return g.concat([g.exp(s0!), s2!], 1); },
  },
  'Slice, start/end/step 2': { dtype: 'float64', build: (g) => g.slice(p(g, 'a', [5, 7]), [1, 0], [5, 7], [0, 1], [2, 3]) },
  'Slice, negative steps and indices': { dtype: 'float64', build: (g) => g.slice(p(g, 'a', [4, 9]), [-1, 7], [-10, 1], [1, 0], [-2, -2]) },
  'Pad': {
    dtype: 'float64',
    build: (g) => g.emit('Pad', [p(g, 'a', [2, 3]), g.constant([1, 0, 2, 3], [4], 'int64')], { mode: { kind: 'string', value: 'constant' } },
      [{ dtype: 'float64', shape: [5, 6] }])[0]!,
  },
  'Gather, axis 0 with repeated and negative indices': {
    dtype: 'float64',
    build: (g) => g.gather(p(g, 'a', [5, 3]), g.constant([0, 4, -1, 2, 0], [5], 'int64'), 0),
  },
  'Gather, axis 1 with 2-D data-input indices': {
    dtype: 'float64',
    build: (g) => g.gather(p(g, 'a', [2, 4, 3]), g.input('idx', 'int64', [2, 2]), 1),
    feeds: { idx: { dtype: 'int64', shape: [2, 2], data: BigInt64Array.from([3n, 1n, 1n, 0n]) } },
  },
  'Softmax, middle axis': { dtype: 'float64', build: (g) => g.softmax(p(g, 'a', [2, 4, 3]), 1) },
  'Softmax, last axis': { dtype: 'float64', build: (g) => g.softmax(p(g, 'a', [3, 5])) },
  'Sigmoid': { dtype: 'float64', build: (g) => g.sigmoid(p(g, 'a', [3, 4])) },
  'Tanh': { dtype: 'float64', build: (g) => g.tanh(p(g, 'a', [3, 4])) },
  'Exp': { dtype: 'float64', build: (g) => g.exp(p(g, 'a', [3, 4])) },
  'Log': { dtype: 'float64', build: (g) => g.log(p(g, 'a', [3, 4])), sample: { a: positive } },
  'Sqrt': { dtype: 'float64', build: (g) => g.sqrt(p(g, 'a', [3, 4])), sample: { a: positive } },
  'Neg': { dtype: 'float64', build: (g) => g.neg(p(g, 'a', [3, 4])) },
  'Reciprocal': { dtype: 'float64', build: (g) => g.reciprocal(p(g, 'a', [3, 4])), sample: { a: awayFromZero } },
  'Relu': { dtype: 'float64', build: (g) => g.relu(p(g, 'a', [3, 4])), sample: { a: awayFromZero } },
  'Abs': { dtype: 'float64', build: (g) => g.abs(p(g, 'a', [3, 4])), sample: { a: awayFromZero } },
  'Sin and Cos': { dtype: 'float64', build: (g) => g.mul(g.sin(p(g, 'a', [3, 4])), g.cos(p(g, 'b', [4]))) },
  'Erf (float32)': { dtype: 'float32', tol: F32_TOL, build: (g) => g.erf(p(g, 'a', [3, 4], 'float32')) },
  'ReduceMean, one axis, no keepdims': { dtype: 'float64', build: (g) => g.reduceMean(p(g, 'a', [2, 3, 4]), [1], false) },
  'ReduceMean, two axes, keepdims': { dtype: 'float64', build: (g) => g.reduceMean(p(g, 'a', [2, 3, 4]), [0, 2], true) },
  'ReduceSum, all axes': { dtype: 'float64', build: (g) => g.reduceSum(p(g, 'a', [2, 3, 4]), [0, 1, 2], false) },
  'Where, broadcast branches': {
    dtype: 'float64',
    build: (g) => g.where(g.constant([1, 0, 1, 1, 0, 0], [2, 3], 'bool'), p(g, 'a', [3]), p(g, 'b', [2, 1])),
  },
  'Expand': { dtype: 'float64', build: (g) => g.expand(p(g, 'a', [3, 1]), [2, 3, 4]) },
  'Cast float64 → float32 → float64': { dtype: 'float64', tol: 1e-4, eps: 1e-3, build: (g) => g.cast(g.exp(g.cast(p(g, 'a', [3, 4]), 'float32')), 'float64') },
  'Identity': { dtype: 'float64', build: (g) => g.identity(p(g, 'a', [3, 4])) },
  'Resize nearest ×2 (float32)': { dtype: 'float32', tol: F32_TOL, build: (g) => g.resizeNearest(p(g, 'a', [1, 2, 3, 4], 'float32'), 2) },
  'Resize nearest ×3 (float32)': { dtype: 'float32', tol: F32_TOL, build: (g) => g.resizeNearest(p(g, 'a', [2, 1, 2, 2], 'float32'), 3) },
  'LayerNorm with gamma and beta': {
    dtype: 'float64', build: (g) => g.layerNorm(p(g, 'x', [2, 3, 5]), p(g, 'gamma', [5]), p(g, 'beta', [5]), 1e-5),
  },
  'GroupNorm with gamma and beta': {
    dtype: 'float64', build: (g) => g.groupNorm(p(g, 'x', [2, 4, 3, 3]), 2, p(g, 'gamma', [4]), p(g, 'beta', [4]), 1e-5),
  },
  // float32: onnxruntime fuses x·sigmoid(x) into a float-only kernel.
  'ReduceMean after Transpose (compact gradient expanded for a shape op)': {
    dtype: 'float64', build: (g) => g.sigmoid(g.reduceMean(g.transpose(p(g, 'a', [2, 3, 4]), [1, 2, 0]), [1], true)),
  },
  'LayerNorm over two axes, no affine': { dtype: 'float64', build: (g) => g.layerNorm(p(g, 'x', [2, 3, 4]), null, null, 1e-5, 1) },
  'GroupNorm of a 1-D signal, gamma only': {
    dtype: 'float64', build: (g) => g.groupNorm(p(g, 'x', [2, 6, 5]), 3, p(g, 'gamma', [6]), null, 1e-5),
  },
  'SiLU (float32)': { dtype: 'float32', tol: F32_TOL, build: (g) => g.silu(p(g, 'a', [3, 4], 'float32')) },
  'GELU (float32, erf)': { dtype: 'float32', tol: F32_TOL, build: (g) => g.gelu(p(g, 'a', [3, 4], 'float32')) },
};

type ConvOpts = Parameters<Graph['conv']>[3];
const forms = [
  { inputGrad: 'convTranspose', weightGrad: 'conv' },
  { inputGrad: 'auto', weightGrad: 'im2col' },
  { inputGrad: 'auto', weightGrad: 'im2colConv' },
  { inputGrad: 'conv', weightGrad: 'auto' },
  { inputGrad: 'auto', weightGrad: 'im2colTaps' },
] as const;

/** Conv in every applicable form of its gradient; x [N,C,H,W], w [O,C/group,kh,kw]. */
function convCases(label: string, xs: number[], ws: number[], o: ConvOpts, bias = true): Record<string, GradCase> {
  const out: Record<string, GradCase> = {};
  const general = (o?.group ?? 1) !== 1 || xs.length !== 4;
  const strided = (o?.strides ?? []).some((s) => s > 1);
  for (const f of general ? forms.slice(0, 1) : forms.filter((f) => !(strided && f.inputGrad === 'conv'))) {
    out[`Conv ${label} [dX ${f.inputGrad}, dW ${f.weightGrad}]`] = {
      dtype: 'float32', tol: F32_TOL, options: { conv: f },
      build: (g) => g.conv(p(g, 'x', xs, 'float32'), p(g, 'w', ws, 'float32'), bias ? p(g, 'b', [ws[0]!], 'float32') : undefined, o),
    };
  }
  return out;
}

const convs: Record<string, GradCase> = {
  ...convCases('3×3 pad 1', [2, 3, 5, 5], [4, 3, 3, 3], { pads: [1, 1, 1, 1] }),
  ...convCases('3×3 stride 2 pad 1, odd size', [2, 3, 7, 6], [4, 3, 3, 3], { pads: [1, 1, 1, 1], strides: [2, 2] }),
  ...convCases('1×1', [2, 5, 4, 3], [3, 5, 1, 1], {}),
  ...convCases('1×1 stride 2', [1, 3, 5, 4], [2, 3, 1, 1], { strides: [2, 2] }, false),
  ...convCases('3×2 dilation 2, asymmetric pads', [1, 2, 7, 6], [3, 2, 3, 2], { dilations: [2, 2], pads: [2, 0, 1, 1] }),
  ...convCases('3×3 stride 2 no pad (ConvTranspose dX with output_padding)', [1, 2, 8, 8], [3, 2, 3, 3], { strides: [2, 2] }),
  ...convCases('group 2, stride 2', [2, 4, 6, 6], [6, 2, 3, 3], { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] }),
  ...convCases('depthwise', [1, 3, 5, 5], [3, 1, 3, 3], { group: 3, pads: [1, 1, 1, 1] }),
  ...convCases('1-D, stride 2, dilation 2', [2, 3, 11], [2, 3, 3], { strides: [2], dilations: [2], pads: [1, 2] }),
  'ConvTranspose stride 2, pads, output_padding': {
    dtype: 'float32', tol: F32_TOL,
    build: (g) => g.convTranspose(p(g, 'x', [2, 3, 3, 4], 'float32'), p(g, 'w', [3, 2, 3, 3], 'float32'), p(g, 'b', [2], 'float32'),
      { strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 0] }),
  },
  'ConvTranspose group 2, dilation 2': {
    dtype: 'float32', tol: F32_TOL,
    build: (g) => g.convTranspose(p(g, 'x', [1, 4, 3, 3], 'float32'), p(g, 'w', [4, 3, 2, 2], 'float32'), undefined,
      { group: 2, dilations: [2, 2] }),
  },
  'ConvTranspose 4×4 stride 2 im2col dW': {
    dtype: 'float32', tol: F32_TOL, options: { conv: { weightGrad: 'im2col' } },
    build: (g) => g.convTranspose(p(g, 'x', [2, 3, 3, 3], 'float32'), p(g, 'w', [3, 2, 4, 4], 'float32'), undefined,
      { strides: [2, 2], pads: [1, 1, 1, 1] }),
  },
};

describe('conv gradients against finite differences (float32)', () => {
  for (const [name, c] of Object.entries(convs)) {
    it(name, async () => {
      const r = await gradCheck(c);
      expect(r.maxError).toBeLessThan(c.tol!);
    });
  }
});

describe('gradient rules against finite differences', () => {
  for (const [name, c] of Object.entries(cases)) {
    it(name, async () => {
      const r = await gradCheck(c);
      expect(r.checked).toBeGreaterThan(0);
      expect(r.maxError).toBeLessThan(c.tol ?? (c.dtype === 'float64' ? F64_TOL : F32_TOL));
    });
  }
});

/** Random broadcast-compatible shape pairs (seeded): each axis of b is a's size, 1, or dropped from the front. */
function randomBroadcastPair(u: () => number): [number[], number[]] {
  const rank = 1 + Math.floor(u() * 4);
  const a = Array.from({ length: rank }, () => 1 + Math.floor(u() * 4));
  const drop = Math.floor(u() * rank);
  const b = a.slice(drop).map((d) => (u() < 0.4 ? 1 : d));
  return u() < 0.5 ? [a, b] : [b, a];
}

describe('broadcasting rules on random shapes (float64, seeded)', () => {
  const u = rng(2024);
  const ops = {
    Add: (g: Graph, a: Value, b: Value) => g.add(a, b),
    Sub: (g: Graph, a: Value, b: Value) => g.sub(a, b),
    Mul: (g: Graph, a: Value, b: Value) => g.mul(a, b),
    Div: (g: Graph, a: Value, b: Value) => g.div(a, b),
    Max: (g: Graph, a: Value, b: Value) => g.max(a, b),
    Where: (g: Graph, a: Value, b: Value) => g.where(g.greater(a, b), g.exp(a), b),
  };
  for (const [op, f] of Object.entries(ops)) {
    for (let trial = 0; trial < 4; trial++) {
      const [sa, sb] = randomBroadcastPair(u);
      it(`${op} [${sa.join(',')}] with [${sb.join(',')}]`, async () => {
        const r = await gradCheck({ dtype: 'float64', build: (g) => f(g, p(g, 'a', sa), p(g, 'b', sb)), sample: { b: awayFromZero }, seed: trial + 1 });
        expect(r.maxError).toBeLessThan(F64_TOL);
      });
    }
  }
  for (let trial = 0; trial < 4; trial++) {
    const batch = Array.from({ length: Math.floor(u() * 3) }, () => 1 + Math.floor(u() * 3));
    const [m, k, n] = [1 + Math.floor(u() * 4), 1 + Math.floor(u() * 4), 1 + Math.floor(u() * 4)];
    const bBatch = batch.slice(Math.floor(u() * (batch.length + 1))).map((d) => (u() < 0.3 ? 1 : d));
    it(`MatMul [${[...batch, m, k].join(',')}] × [${[...bBatch, k, n].join(',')}]`, async () => {
      const r = await gradCheck({ dtype: 'float64', build: (g) => g.matmul(p(g, 'a', [...batch, m, k]), p(g, 'b', [...bBatch, k, n])), seed: trial + 1 });
      expect(r.maxError).toBeLessThan(F64_TOL);
    });
  }
});
