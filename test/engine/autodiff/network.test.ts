// End to end: a small conv + attention block (GroupNorm, SiLU, conv, multi-head self-attention with
// softmax, residual, MSE loss) differentiated as a whole, checked against finite differences, and
// trained for a few SGD steps through onnxruntime alone.
import { describe, expect, it } from 'vitest';
import { Graph, type Value } from '../../../electron/engine/onnx/graph.ts';
import { toModelProto } from '../../../electron/engine/onnx/serialize.ts';
import { createSession } from '../../../electron/engine/onnx/runtime.ts';
import { buildGradientGraph } from '../../../electron/engine/autodiff/index.ts';
import type { TensorData } from '../../../electron/engine/tensor.ts';
import { gradCheck, normal, randomTensor, rng } from './gradcheck.ts';

const [N, C, H, W, HEADS] = [2, 8, 4, 4, 2];

/** Returns the block output; params named like LDM checkpoints. */
function block(g: Graph, x: Value): Value {
  const w = (name: string, shape: number[], std = 0.3) => g.param(name, shape, { kind: 'normal', std });
  // ResBlock-style half: GroupNorm → SiLU → conv 3×3, residual.
  let h = g.groupNorm(x, 4, w('in_layers.0.weight', [C]), w('in_layers.0.bias', [C]), 1e-5);
  h = g.conv(g.silu(h), w('in_layers.2.weight', [C, C, 3, 3]), w('in_layers.2.bias', [C]), { pads: [1, 1, 1, 1] });
  const r = g.add(x, h);
  // Attention: GroupNorm → tokens → q, k, v → heads → softmax(q kᵀ/√d) v → proj, residual.
  const n = g.groupNorm(r, 4, w('attn.norm.weight', [C]), w('attn.norm.bias', [C]), 1e-5);
  const tokens = g.transpose(g.reshape(n, [N, C, H * W]), [0, 2, 1]);
  const d = C / HEADS;
  const heads = (name: string) => g.transpose(g.reshape(g.matmul(tokens, w(`attn.${name}.weight`, [C, C])), [N, H * W, HEADS, d]), [0, 2, 1, 3]);
  const [q, k, v] = [heads('to_q'), heads('to_k'), heads('to_v')];
  const scores = g.mul(g.matmul(q, g.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(d));
  const mixed = g.matmul(g.softmax(scores, -1), v);
  const merged = g.reshape(g.transpose(mixed, [0, 2, 1, 3]), [N, H * W, C]);
  const proj = g.add(g.matmul(merged, w('attn.proj_out.weight', [C, C])), w('attn.proj_out.bias', [C]));
  return g.add(r, g.reshape(g.transpose(proj, [0, 2, 1]), [N, C, H, W]));
}

function network(): { g: Graph; loss: Value } {
  const g = new Graph('net');
  const x = g.input('x', 'float32', [N, C, H, W]);
  const target = g.input('target', 'float32', [N, C, H, W]);
  const diff = g.sub(block(g, x), target);
  return { g, loss: g.reduceMean(g.mul(diff, diff), [0, 1, 2, 3], false) };
}

const STANDARD_OPS = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sqrt', 'Exp', 'Log', 'Neg', 'Sigmoid', 'Tanh', 'Erf', 'MatMul', 'Gemm',
  'Conv', 'ConvTranspose', 'Reshape', 'Transpose', 'Concat', 'Split', 'Slice', 'Pad', 'Gather', 'ScatterND', 'Softmax',
  'ReduceMean', 'ReduceSum', 'Expand', 'Where', 'Cast', 'Identity', 'Sum', 'Greater', 'Less', 'Mod', 'Unsqueeze', 'Squeeze']);

describe('conv + attention network', () => {
  it('matches finite differences for every parameter (float32, eps 1e-2, tolerance 5e-3)', async () => {
    const u = rng(5);
    const r = await gradCheck({
      dtype: 'float32',
      build: (g) => {
        const x = g.input('x', 'float32', [N, C, H, W]);
        return block(g, x);
      },
      wrt: undefined,
      maxChecks: 12,
      eps: 1e-2,
      feeds: { x: randomTensor('float32', [N, C, H, W], normal(u)) },
      seed: 3,
    });
    const names = Object.keys(r.grads);
    expect(names).toContain('attn.to_q.weight');
    expect(names).toContain('in_layers.2.weight');
    expect(names).toContain('x');
    expect(r.checked).toBeGreaterThan(100);
    expect(r.maxError).toBeLessThan(5e-3);
    for (const op of r.ops) expect(STANDARD_OPS.has(op), `non-standard op ${op}`).toBe(true);
  });

  it('trains: 150 SGD steps on gradients from onnxruntime cut the MSE loss below 5% of its start', async () => {
    const { g, loss } = network();
    const names = [...g.params.keys()];
    const grad = buildGradientGraph(g, loss, names);
    const session = await createSession(toModelProto(grad, { kind: 'inputs' }), { provider: 'cpu', threads: 1 });
    const u = rng(11);
    const params: Record<string, TensorData> = {};
    for (const p of g.params.values()) {
      const std = p.init.kind === 'normal' ? p.init.std : 0.1;
      params[p.name] = randomTensor('float32', p.shape, () => std * normal(u)());
    }
    const x = randomTensor('float32', [N, C, H, W], normal(u));
    const target = randomTensor('float32', [N, C, H, W], normal(u));
    const losses: number[] = [];
    for (let step = 0; step < 150; step++) {
      const out = await session.run({ ...params, x, target });
      losses.push(out.loss!.data[0] as number);
      for (const name of names) {
        const p = params[name]!.data as Float32Array;
        const d = out[`grad:${name}`]!.data as Float32Array;
        for (let i = 0; i < p.length; i++) p[i] = p[i]! - 0.5 * d[i]!;
      }
    }
    await session.release();
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(0.05 * losses[0]!);
  });
});
