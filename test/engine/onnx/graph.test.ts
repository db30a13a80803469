import { describe, expect, it } from 'vitest';
import { Graph, GraphError, broadcastShapes, sliceLength } from '../../../electron/engine/onnx/graph.ts';

describe('Graph shape inference', () => {
  it('broadcasts elementwise ops like numpy and turns numbers into shared scalar constants', () => {
    const g = new Graph();
    const a = g.input('a', 'float32', [2, 1, 4]);
    const b = g.input('b', 'float32', [3, 1]);
    expect(g.add(a, b).shape).toEqual([2, 3, 4]);
    const m1 = g.mul(a, 2);
    const m2 = g.mul(b, 2);
    expect(m1.shape).toEqual([2, 1, 4]);
    expect(g.producer(m1.name)!.inputs[1]).toBe(g.producer(m2.name)!.inputs[1]);
    expect(g.constants.get(g.producer(m1.name)!.inputs[1]!)!.shape).toEqual([]);
    expect(g.less(a, b).dtype).toBe('bool');
    expect(broadcastShapes([5, 1], [0])).toEqual([5, 0]);
  });

  it('rejects shapes that do not broadcast, naming the op and shapes', () => {
    const g = new Graph();
    const a = g.input('a', 'float32', [2, 3]);
    const b = g.input('b', 'float32', [4]);
    expect(() => g.add(a, b)).toThrow(GraphError);
    expect(() => g.add(a, b)).toThrow(/Add: inputs a\[2, 3\] float32, b\[4\] float32: shapes do not broadcast/);
    const i = g.input('i', 'int64', [2, 3]);
    expect(() => g.mul(a, i)).toThrow(/dtypes differ/);
    expect(() => g.sigmoid(i)).toThrow(/floating-point/);
  });

  it('infers matmul with batch broadcast and 1-D rules', () => {
    const g = new Graph();
    const a = g.input('a', 'float32', [5, 1, 2, 3]);
    const b = g.input('b', 'float32', [4, 3, 6]);
    expect(g.matmul(a, b).shape).toEqual([5, 4, 2, 6]);
    const v = g.input('v', 'float32', [3]);
    expect(g.matmul(a, v).shape).toEqual([5, 1, 2]);
    expect(g.matmul(v, b).shape).toEqual([4, 6]);
    expect(() => g.matmul(b, a)).toThrow(/MatMul.*inner dimensions differ \(6 vs 2\)/);
  });

  it('infers gemm with transposes and checks C', () => {
    const g = new Graph();
    const a = g.input('a', 'float32', [3, 5]);
    const w = g.param('w', [7, 3], { kind: 'normal', std: 0.1 });
    const c = g.param('c', [7], { kind: 'zeros' });
    expect(g.gemm(a, w, c, { transA: true, transB: true }).shape).toEqual([5, 7]);
    expect(() => g.gemm(a, w, c, { transA: true })).toThrow(/inner dimensions differ/);
    const bad = g.input('bad', 'float32', [2]);
    expect(() => g.gemm(a, w, bad, { transA: true, transB: true })).toThrow(/C does not broadcast/);
  });

  it('infers conv and convTranspose sizes (stride, pads, dilation, groups)', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2, 4, 9, 8]);
    const w = g.param('w', [6, 2, 3, 3], { kind: 'normal', std: 0.1 });
    const b = g.param('b', [6], { kind: 'zeros' });
    expect(g.conv(x, w, b, { strides: [2, 2], pads: [1, 1, 1, 1], group: 2 }).shape).toEqual([2, 6, 5, 4]);
    expect(g.conv(x, w, undefined, { dilations: [2, 1], group: 2 }).shape).toEqual([2, 6, 5, 6]);
    const w1 = g.param('w1', [6, 4, 3, 3], { kind: 'normal', std: 0.1 });
    expect(() => g.conv(x, w1, undefined, { group: 2 })).toThrow(/weight has 4 input channels per group, input gives 2/);
    const wt = g.param('wt', [4, 3, 4, 4], { kind: 'normal', std: 0.1 });
    const y = g.convTranspose(x, wt, undefined, { strides: [2, 2], pads: [1, 1, 1, 1] });
    expect(y.shape).toEqual([2, 3, 18, 16]);
    expect(g.convTranspose(x, wt, undefined, { strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 0] }).shape).toEqual([2, 3, 19, 16]);
    const tiny = g.input('tiny', 'float32', [1, 4, 2, 2]);
    expect(() => g.conv(tiny, w1)).toThrow(/larger than padded input/);
  });

  it('infers reshape (-1 and 0), transpose, concat, split, slice, gather, expand, resize', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2, 3, 4]);
    expect(g.reshape(x, [0, -1]).shape).toEqual([2, 12]);
    expect(() => g.reshape(x, [5, -1])).toThrow(/cannot infer -1/);
    expect(() => g.reshape(x, [2, 3, 5])).toThrow(/has 30 elements, input has 24/);
    expect(g.transpose(x, [2, 0, 1]).shape).toEqual([4, 2, 3]);
    expect(() => g.transpose(x, [0, 0, 1])).toThrow(/not a permutation/);
    expect(g.concat([x, x], -1).shape).toEqual([2, 3, 8]);
    expect(() => g.concat([x, g.transpose(x, [0, 2, 1])], 0)).toThrow(/shapes differ outside axis 0/);
    const parts = g.split(x, 1, [1, 2]);
    expect(parts.map((p) => p.shape)).toEqual([[2, 1, 4], [2, 2, 4]]);
    expect(() => g.split(x, 1, [1, 1])).toThrow(/do not add up/);
    expect(g.slice(x, [1, -1], [Infinity, 0], [2, 1], [1, -1]).shape).toEqual([2, 2, 3]);
    const idx = g.input('idx', 'int64', [5, 2]);
    expect(g.gather(x, idx, 1).shape).toEqual([2, 5, 2, 4]);
    expect(g.expand(g.input('e', 'float32', [3, 1]), [2, 3, 5]).shape).toEqual([2, 3, 5]);
    const img = g.input('img', 'float32', [1, 2, 3, 5]);
    expect(g.resizeNearest(img, 2).shape).toEqual([1, 2, 6, 10]);
    expect(g.unsqueeze(x, [0, -1]).shape).toEqual([1, 2, 3, 4, 1]);
    expect(g.squeeze(g.unsqueeze(x, [1]), [1]).shape).toEqual([2, 3, 4]);
    expect(sliceLength(10, -3, 100, 1)).toBe(3);
    expect(sliceLength(10, 9, -100, -2)).toBe(5);
  });

  it('infers reductions, softmax and the composed norms', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2, 8, 3, 3]);
    expect(g.reduceMean(x, [2, 3]).shape).toEqual([2, 8, 1, 1]);
    expect(g.reduceSum(x, [-1, 1], false).shape).toEqual([2, 3]);
    expect(g.softmax(x).shape).toEqual([2, 8, 3, 3]);
    const gamma = g.param('norm.weight', [8], { kind: 'ones' });
    const beta = g.param('norm.bias', [8], { kind: 'zeros' });
    const y = g.groupNorm(x, 4, gamma, beta, 1e-5);
    expect(y.shape).toEqual([2, 8, 3, 3]);
    const ops = new Set(g.nodes.map((n) => n.op));
    expect(ops.has('GroupNormalization')).toBe(false);
    expect(() => g.groupNorm(x, 3, null, null, 1e-5)).toThrow(/8 channels do not split into 3 groups/);
    const t = g.input('t', 'float32', [2, 5, 6]);
    const lg = g.param('ln.weight', [6], { kind: 'ones' });
    expect(g.layerNorm(t, lg, null, 1e-5).shape).toEqual([2, 5, 6]);
    expect(() => g.layerNorm(t, gamma, null, 1e-5)).toThrow(/LayerNorm.*gamma\/beta/);
  });

  it('keeps params, names, scopes and outputs straight', () => {
    const g = new Graph('m');
    const x = g.input('x', 'float32', [1, 4]);
    const w = g.param('model.diffusion_model.out.2.weight', [4, 4], { kind: 'normal', std: 0.02 });
    expect(w.name).toBe('model.diffusion_model.out.2.weight');
    expect(() => g.param('model.diffusion_model.out.2.weight', [4], { kind: 'zeros' })).toThrow(/duplicate parameter/);
    expect(() => g.input('x', 'float32', [1])).toThrow(/already has a value named 'x'/);
    const y = g.scoped('block', () => g.scoped('attn', () => g.matmul(x, w)));
    expect(y.name.startsWith('block/attn/MatMul')).toBe(true);
    const frozen = g.param('frozen', [4], { kind: 'zeros' }, { trainable: false });
    expect(g.params.get(frozen.name)!.trainable).toBe(false);
    expect([...g.params.keys()]).toEqual(['model.diffusion_model.out.2.weight', 'frozen']);
    const out = g.output(y, 'y');
    expect(out.name).toBe('y');
    expect(g.producer('y')!.op).toBe('Identity');
    expect(g.output(x).name).toBe('x');
    expect(g.outputs.map((o) => o.name)).toEqual(['y', 'x']);
    expect(() => g.value('nope')).toThrow(/no value named 'nope'/);
    const other = new Graph();
    expect(() => other.relu(x)).toThrow(/does not belong/);
    other.input('x', 'float32', [1, 4]);
    expect(other.relu(x).shape).toEqual([1, 4]); // same name, same type: values are matched by name
    const third = new Graph('third');
    third.input('x', 'float32', [2, 4]);
    expect(() => third.relu(x)).toThrow(/value 'x' is float32\[2, 4\] in graph 'third', not float32\[1, 4\]/);
    expect(() => g.constant([1, 2, 3], [2, 2])).toThrow(/3 values given for shape \[2, 2\]/);
    const [e] = g.emit('Relu', [x], {}, [{ dtype: 'float32', shape: [1, 4], name: 'relu_out' }]);
    expect(e!.name).toBe('relu_out');
  });

  it('composes silu and gelu from standard ops', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [3]);
    g.silu(x);
    g.gelu(x);
    expect(g.nodes.map((n) => n.op)).toEqual(['Sigmoid', 'Mul', 'Mul', 'Erf', 'Add', 'Mul', 'Mul']);
  });
});

describe('pruneToOutputs', () => {
  it('keeps only the nodes an output needs, with every input and param', async () => {
    const { pruneToOutputs } = await import('../../../electron/engine/onnx/prune.ts');
    const g = new Graph('two-heads');
    const x = g.input('x', 'float32', [2, 3]);
    const w = g.param('w', [3, 3], { kind: 'normal', std: 1 });
    const h = g.relu(g.matmul(x, w));
    g.output(g.reduceSum(h, [0, 1], false), 'loss');
    g.output(g.transpose(g.mul(h, 3), [1, 0]), 'other');
    const p = pruneToOutputs(g, ['loss']);
    expect(p.nodes.map((n) => n.op)).toEqual(['MatMul', 'Relu', 'ReduceSum', 'Identity']);
    expect(p.inputs.map((v) => v.name)).toEqual(['x']);
    expect([...p.params.keys()]).toEqual(['w']);
    expect(p.outputs.map((v) => v.name)).toEqual(['loss']);
    expect([...p.constants.keys()]).toHaveLength(1); // the ReduceSum axes, not the 3
    expect(() => pruneToOutputs(g, ['nope'])).toThrow(/no output 'nope'/);
  });
});
