// Every Graph helper run in a real onnxruntime session against a plain-JS float64 reference.
import { describe, expect, it } from 'vitest';
import { Graph, type Value } from '../../../electron/engine/onnx/graph.ts';
import { toModelProto } from '../../../electron/engine/onnx/serialize.ts';
import { createSession } from '../../../electron/engine/onnx/runtime.ts';
import type { TensorData } from '../../../electron/engine/tensor.ts';
import * as R from './ref.ts';

const r = R.rng(1234);
const toF32 = (a: R.Arr): TensorData => ({ dtype: 'float32', shape: a.shape, data: Float32Array.from(a.data) });

async function run(inputs: Record<string, R.Arr>, build: (g: Graph, v: Record<string, Value>) => Value | Value[]): Promise<TensorData[]> {
  const g = new Graph('op');
  const vals: Record<string, Value> = {};
  for (const [k, a] of Object.entries(inputs)) vals[k] = g.input(k, 'float32', a.shape);
  const out = build(g, vals);
  (Array.isArray(out) ? out : [out]).forEach((o, i) => g.output(o, `out${i}`));
  const s = await createSession(toModelProto(g, { kind: 'inputs' }), { provider: 'cpu', threads: 1 });
  const feeds: Record<string, TensorData> = {};
  for (const [k, a] of Object.entries(inputs)) feeds[k] = toF32(a);
  const res = await s.run(feeds);
  await s.release();
  return s.outputNames.map((n) => res[n]!);
}

function close(got: TensorData, want: R.Arr, tol = 1e-5): void {
  expect([...got.shape]).toEqual(want.shape);
  const g = got.data as Float32Array | Uint8Array;
  let worst = 0;
  for (let i = 0; i < want.data.length; i++) {
    const err = Math.abs(Number(g[i]) - want.data[i]!) / (1 + Math.abs(want.data[i]!));
    worst = Math.max(worst, Number.isNaN(err) ? Infinity : err);
  }
  expect(worst).toBeLessThan(tol);
}

async function check(inputs: Record<string, R.Arr>, build: (g: Graph, v: Record<string, Value>) => Value, want: R.Arr, tol?: number) {
  const [got] = await run(inputs, build);
  close(got!, want, tol);
}

describe('binary and unary ops against a JS reference', () => {
  const a = R.rand(r, [2, 1, 4]);
  const b = R.rand(r, [3, 1]);
  const pos = R.rand(r, [2, 3], 0.2, 2);
  it('add/sub/mul/div/pow/max/min with broadcasting and number operands', async () => {
    await check({ a, b }, (g, v) => g.add(v.a!, v.b!), R.map([a, b], (x, y) => x + y));
    await check({ a, b }, (g, v) => g.sub(v.a!, v.b!), R.map([a, b], (x, y) => x - y));
    await check({ a, b }, (g, v) => g.mul(v.a!, v.b!), R.map([a, b], (x, y) => x * y));
    await check({ a, b }, (g, v) => g.div(v.a!, g.add(g.abs(v.b!), 0.5)), R.map([a, b], (x, y) => x / (Math.abs(y) + 0.5)));
    await check({ pos }, (g, v) => g.pow(v.pos!, 1.7), R.map([pos], (x) => x ** 1.7));
    await check({ a, b }, (g, v) => g.max(v.a!, v.b!), R.map([a, b], Math.max));
    await check({ a, b }, (g, v) => g.min(v.a!, v.b!), R.map([a, b], Math.min));
    await check({ a }, (g, v) => g.sub(g.mul(v.a!, 3), 1), R.map([a], (x) => 3 * x - 1));
  });
  it('comparisons give bools and where selects', async () => {
    const [eq] = await run({ a, b }, (g, v) => g.cast(g.less(v.a!, v.b!), 'float32'));
    close(eq!, R.map([a, b], (x, y) => (x < y ? 1 : 0)));
    await check({ a, b }, (g, v) => g.where(g.greater(v.a!, v.b!), v.a!, v.b!), R.map([a, b], Math.max));
    await check({ a }, (g, v) => g.cast(g.equal(v.a!, v.a!), 'float32'), R.map([a], () => 1));
  });
  it('elementwise unary ops', async () => {
    const x = R.rand(r, [3, 5], -3, 3);
    const p = R.rand(r, [3, 5], 0.1, 4);
    const cases: [keyof Graph, R.Arr, (v: number) => number][] = [
      ['neg', x, (v) => -v], ['abs', x, Math.abs], ['relu', x, (v) => Math.max(v, 0)],
      ['sigmoid', x, (v) => 1 / (1 + Math.exp(-v))], ['tanh', x, Math.tanh], ['exp', x, Math.exp],
      ['log', p, Math.log], ['sqrt', p, Math.sqrt], ['erf', x, R.erf], ['reciprocal', p, (v) => 1 / v],
      ['sin', x, Math.sin], ['cos', x, Math.cos], ['identity', x, (v) => v],
      ['silu', x, (v) => v / (1 + Math.exp(-v))], ['gelu', x, (v) => 0.5 * v * (1 + R.erf(v / Math.SQRT2))],
    ];
    for (const [op, input, f] of cases) {
      await check({ x: input }, (g, v) => (g[op] as (x: Value) => Value).call(g, v.x!), R.map([input], f));
    }
  });
  it('cast float→int64→float truncates', async () => {
    const x = R.arr([4], [1.7, -2.2, 3, 0.4]);
    await check({ x }, (g, v) => g.cast(g.cast(v.x!, 'int64'), 'float32'), R.arr([4], [1, -2, 3, 0]));
  });
});

describe('linear algebra', () => {
  it('matmul with broadcast batch dims', async () => {
    const a = R.rand(r, [2, 1, 3, 4]);
    const b = R.rand(r, [3, 4, 5]);
    await check({ a, b }, (g, v) => g.matmul(v.a!, v.b!), R.matmul(a, b));
  });
  it('gemm with transposes, alpha, beta and a broadcast C', async () => {
    const a = R.rand(r, [4, 3]);
    const b = R.rand(r, [5, 4]);
    const c = R.rand(r, [5]);
    const want = R.map([R.matmul(R.transpose(a, [1, 0]), R.transpose(b, [1, 0])), c], (x, y) => 2 * x + 0.5 * y);
    await check({ a, b, c }, (g, v) => g.gemm(v.a!, v.b!, v.c!, { transA: true, transB: true, alpha: 2, beta: 0.5 }), want);
  });
  it('conv with stride, pads, dilation, groups and bias', async () => {
    const x = R.rand(r, [2, 4, 7, 6]);
    const w = R.rand(r, [6, 2, 3, 3]);
    const b = R.rand(r, [6]);
    const o = { strides: [2, 1], pads: [1, 0, 2, 1], dilations: [1, 2], group: 2 };
    await check({ x, w, b }, (g, v) => g.conv(v.x!, v.w!, v.b!, o), R.conv2d(x, w, b, { ...o, dil: o.dilations }));
  });
  it('convTranspose with stride, pads, output padding and groups', async () => {
    const x = R.rand(r, [1, 4, 3, 4]);
    const w = R.rand(r, [4, 3, 3, 3]);
    const o = { strides: [2, 2], pads: [1, 1, 1, 0], dilations: [1, 1], group: 2, outputPadding: [1, 0] };
    const want = R.convT2d(x, w, { ...o, dil: o.dilations, outPad: o.outputPadding });
    await check({ x, w }, (g, v) => g.convTranspose(v.x!, v.w!, undefined, o), want);
  });
});

describe('shape ops', () => {
  const x = R.rand(r, [2, 3, 4]);
  it('reshape, transpose, unsqueeze, squeeze, expand', async () => {
    await check({ x }, (g, v) => g.reshape(v.x!, [0, -1, 2]), { shape: [2, 6, 2], data: x.data });
    await check({ x }, (g, v) => g.transpose(v.x!, [2, 0, 1]), R.transpose(x, [2, 0, 1]));
    await check({ x }, (g, v) => g.squeeze(g.unsqueeze(v.x!, [1, -1]), [-1]), { shape: [2, 1, 3, 4], data: x.data });
    const e = R.rand(r, [3, 1]);
    await check({ e }, (g, v) => g.expand(v.e!, [2, 3, 5]), R.map([e, R.arr([2, 3, 5], new Array(30).fill(0))], (p) => p));
  });
  it('concat and split', async () => {
    const y = R.rand(r, [2, 2, 4]);
    const cat = R.arr([2, 5, 4], []);
    cat.data = new Float64Array(40);
    for (let n = 0; n < 2; n++) {
      cat.data.set(x.data.subarray(n * 12, n * 12 + 12), n * 20);
      cat.data.set(y.data.subarray(n * 8, n * 8 + 8), n * 20 + 12);
    }
    await check({ x, y }, (g, v) => g.concat([v.x!, v.y!], 1), cat);
    const outs = await run({ x }, (g, v) => g.split(v.x!, -1, [1, 3]));
    close(outs[0]!, R.slice(x, [0], [1], [2], [1]));
    close(outs[1]!, R.slice(x, [1], [4], [2], [1]));
  });
  it('slice with negative indices, clamping and negative steps', async () => {
    await check({ x }, (g, v) => g.slice(v.x!, [1, -1], [1e12, -5], [1, 2], [1, -2]), R.slice(x, [1, -1], [1e12, -5], [1, 2], [1, -2]));
    await check({ x }, (g, v) => g.slice(v.x!, [0, 1], [1, 3]), R.slice(x, [0, 1], [1, 3], [0, 1], [1, 1]));
  });
  it('gather with int64 indices on an inner axis', async () => {
    const g = new Graph();
    const xv = g.input('x', 'float32', x.shape);
    const idx = g.constant([3, 0, 3, 1], [2, 2], 'int64');
    g.output(g.gather(xv, idx, 2), 'y');
    const s = await createSession(toModelProto(g, { kind: 'inputs' }), { provider: 'cpu' });
    const { y } = await s.run({ x: toF32(x) });
    const want = R.pick(x, [[0, 1], [0, 1, 2], [3, 0, 3, 1]]);
    close(y!, { shape: [2, 3, 2, 2], data: want.data });
  });
  it('resizeNearest ×2', async () => {
    const img = R.rand(r, [1, 2, 3, 2]);
    const rows = [0, 0, 1, 1, 2, 2];
    await check({ img }, (g, v) => g.resizeNearest(v.img!, 2), R.pick(img, [[0], [0, 1], rows, [0, 0, 1, 1]]));
  });
});

describe('reductions and norms', () => {
  const x = R.rand(r, [2, 6, 3, 2], -2, 2);
  it('reduceMean, reduceSum (keepdims on and off), softmax', async () => {
    await check({ x }, (g, v) => g.reduceMean(v.x!, [1, 3]), R.reduce(x, [1, 3], true, true));
    await check({ x }, (g, v) => g.reduceSum(v.x!, [-1], false), R.reduce(x, [-1], false, false));
    await check({ x }, (g, v) => g.softmax(v.x!, 1), R.softmax(x, 1));
    await check({ x }, (g, v) => g.softmax(v.x!), R.softmax(x, 3));
  });
  it('layerNorm over the trailing dims with gamma and beta', async () => {
    const t = R.rand(r, [2, 3, 5], -2, 3);
    const gamma = R.rand(r, [5]);
    const beta = R.rand(r, [5]);
    const mean = R.reduce(t, [2], true, true);
    const d = R.map([t, mean], (a, m) => a - m);
    const vr = R.reduce(R.map([d], (a) => a * a), [2], true, true);
    const want = R.map([d, vr, gamma, beta], (a, v, gm, bt) => (a / Math.sqrt(v + 1e-5)) * gm + bt);
    await check({ t, gamma, beta }, (g, v) => g.layerNorm(v.t!, v.gamma!, v.beta!, 1e-5), want, 2e-5);
  });
  it('groupNorm with per-channel gamma and beta', async () => {
    const gamma = R.rand(r, [6]);
    const beta = R.rand(r, [6]);
    const want = new Float64Array(x.data.length);
    const per = 2 * 3 * 2; // channels per group × H × W
    for (let n = 0; n < 2; n++) for (let gi = 0; gi < 3; gi++) {
      const off = n * 36 + gi * per;
      const seg = x.data.subarray(off, off + per);
      const m = seg.reduce((p, v) => p + v, 0) / per;
      const vr = seg.reduce((p, v) => p + (v - m) ** 2, 0) / per;
      for (let i = 0; i < per; i++) {
        const c = gi * 2 + Math.floor(i / 6);
        want[off + i] = ((seg[i]! - m) / Math.sqrt(vr + 1e-6)) * gamma.data[c]! + beta.data[c]!;
      }
    }
    await check({ x, gamma, beta }, (g, v) => g.groupNorm(v.x!, 3, v.gamma!, v.beta!, 1e-6), { shape: x.shape, data: want }, 2e-5);
  });
});

describe('dtypes and raw nodes', () => {
  it('runs float16 arithmetic with a float16 scalar constant', async () => {
    const x = R.arr([4], [0.5, -1.25, 3, 1000]);
    await check({ x }, (g, v) => g.cast(g.mul(g.cast(v.x!, 'float16'), 2), 'float32'), R.arr([4], [1, -2.5, 6, 2000]));
  });
  it('serialises tensor attributes and multi-output raw nodes', async () => {
    const x = R.rand(r, [2, 3]);
    const [y] = await run({ x }, (g, v) => {
      const shape = g.constant([2, 3], [2], 'int64');
      const [filled] = g.emit('ConstantOfShape', [shape], { value: { kind: 'tensor', value: { dtype: 'float32', shape: [1], data: new Float32Array([1.5]) } } },
        [{ dtype: 'float32', shape: [2, 3] }]);
      const [a, b] = g.emit('Split', [v.x!, g.constant([1, 2], [2], 'int64')], { axis: { kind: 'int', value: 1 } },
        [{ dtype: 'float32', shape: [2, 1], name: 'left' }, { dtype: 'float32', shape: [2, 2], name: 'right' }]);
      return g.add(filled!, g.concat([b!, a!], 1));
    });
    close(y!, R.map([R.pick(x, [[0, 1], [1, 2, 0]])], (v) => v + 1.5));
  });
});
