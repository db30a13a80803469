// The reverse pass itself: pruning, accumulation, outputs, errors, standard ops only.
import { describe, expect, it } from 'vitest';
import { Graph } from '../../../electron/engine/onnx/graph.ts';
import { toModelProto } from '../../../electron/engine/onnx/serialize.ts';
import { createSession } from '../../../electron/engine/onnx/runtime.ts';
import { AutodiffError, buildGradientGraph } from '../../../electron/engine/autodiff/index.ts';
import { float32 } from '../../../electron/engine/tensor.ts';

const normal = { kind: 'normal', std: 1 } as const;

describe('buildGradientGraph', () => {
  it('emits nothing for data inputs, constants or branches the loss does not use', () => {
    const g = new Graph('prune');
    const x = g.input('x', 'float32', [3, 4]);
    const w = g.param('w', [3, 4], normal);
    const h = g.exp(g.mul(x, 2)); // data-only branch: needs no gradient
    g.sigmoid(w); // dead branch
    const loss = g.reduceSum(g.mul(h, w), [0, 1], false);
    const grad = buildGradientGraph(g, loss, ['w']);
    expect(grad.nodes.some((n) => n.op === 'Sigmoid')).toBe(false);
    const forwardCount = grad.nodes.findIndex((n) => n.name.startsWith('grad/'));
    const backward = grad.nodes.slice(forwardCount);
    // dW = dY·h: the backward pass reads h but never w or x (their gradients are not needed).
    const read = new Set(backward.flatMap((n) => n.inputs));
    expect(read.has(h.name)).toBe(true);
    expect(read.has('w')).toBe(false);
    expect(read.has('x')).toBe(false);
    expect(backward.filter((n) => n.op === 'Exp')).toHaveLength(0);
  });

  it('sums the contributions of every consumer once, with one Sum node', () => {
    const g = new Graph('accumulate');
    const w = g.param('w', [2, 2], normal);
    const y = g.add(g.add(g.exp(w), g.sigmoid(w)), g.tanh(w));
    const grad = buildGradientGraph(g, g.reduceSum(y, [0, 1], false), ['w']);
    const sums = grad.nodes.filter((n) => n.op === 'Sum');
    expect(sums).toHaveLength(1);
    expect(sums[0]!.inputs).toHaveLength(3);
  });

  it('outputs the loss and one gradient per wrt name, shaped like the param; zeros where the loss does not depend on it', async () => {
    const g = new Graph('outputs');
    const a = g.param('a', [2, 3], normal);
    g.param('unused', [4], normal);
    const b = g.param('b', [3], normal);
    const loss = g.reduceSum(g.mul(a, b), [0, 1], false);
    const grad = buildGradientGraph(g, loss, ['b', 'unused', 'a']);
    expect(grad.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['loss', []], ['grad:b', [3]], ['grad:unused', [4]], ['grad:a', [2, 3]],
    ]);
    expect([...grad.params.keys()]).toEqual(['a', 'unused', 'b']);
    const s = await createSession(toModelProto(grad, { kind: 'inputs' }), { provider: 'cpu' });
    const out = await s.run({ a: float32([2, 3], [1, 2, 3, 4, 5, 6]), b: float32([3], [1, -1, 2]), unused: float32([4], [9, 9, 9, 9]) });
    await s.release();
    expect(Array.from(out.loss!.data as Float32Array)).toEqual([1 - 2 + 6 + 4 - 5 + 12]);
    expect(Array.from(out['grad:b']!.data as Float32Array)).toEqual([5, 7, 9]);
    expect(Array.from(out['grad:a']!.data as Float32Array)).toEqual([1, -1, 2, 1, -1, 2]);
    expect(Array.from(out['grad:unused']!.data as Float32Array)).toEqual([0, 0, 0, 0]);
  });

  it('rejects what it cannot differentiate with clear errors', () => {
    const g = new Graph('errors');
    const w = g.param('w', [2, 3], normal);
    const idx = g.input('idx', 'int64', [2]);
    const vec = g.mul(w, 2);
    expect(() => buildGradientGraph(g, vec, ['w'])).toThrow(/must hold one element.*\[2, 3\]/);
    const loss = g.reduceSum(vec, [0, 1], false);
    expect(() => buildGradientGraph(g, loss, ['nope'])).toThrow(/'nope' is not a parameter or input/);
    expect(() => buildGradientGraph(g, loss, ['w', 'w'])).toThrow(/twice/);
    expect(() => buildGradientGraph(g, loss, [idx.name])).toThrow(/dtype int64/);
    const odd = g.emit('Hardmax', [w], {}, [{ dtype: 'float32', shape: [2, 3] }])[0]!;
    const loss2 = g.reduceSum(odd, [0, 1], false);
    expect(() => buildGradientGraph(g, loss2, ['w'])).toThrow(AutodiffError);
    expect(() => buildGradientGraph(g, loss2, ['w'])).toThrow(/no gradient rule for op Hardmax/);
  });
});
