// End to end: forward graphs differentiated by autodiff, trained by the Trainer on onnxruntime-node.
import { describe, expect, it } from 'vitest';
import { Graph } from '../../../electron/engine/onnx/graph.ts';
import { buildGradientGraph } from '../../../electron/engine/autodiff/index.ts';
import { Trainer } from '../../../electron/engine/training/index.ts';
import { Rng } from '../../../electron/engine/diffusion/rng.ts';
import type { TensorData } from '../../../electron/engine/tensor.ts';

const f32 = (shape: number[], data: Float32Array): TensorData => ({ dtype: 'float32', shape, data });

describe('training autodiff graphs', () => {
  it('a small MLP learns a nonlinear function', async () => {
    const N = 64, H = 32;
    const g = new Graph('mlp');
    const x = g.input('x', 'float32', [N, 2]);
    const t = g.input('t', 'float32', [N, 1]);
    const w1 = g.param('net.0.weight', [H, 2], { kind: 'normal', std: 0.7 });
    const b1 = g.param('net.0.bias', [H], { kind: 'zeros' });
    const w2 = g.param('net.2.weight', [1, H], { kind: 'normal', std: 0.2 });
    const b2 = g.param('net.2.bias', [1], { kind: 'zeros' });
    const h = g.gelu(g.gemm(x, w1, b1, { transB: true }));
    const y = g.gemm(h, w2, b2, { transB: true });
    const d = g.sub(y, t);
    const loss = g.reduceMean(g.mul(d, d), [0, 1], false);
    const grad = buildGradientGraph(g, loss, [...g.params.keys()]);
    const tr = await Trainer.create({
      graph: grad, lr: 0.02, seed: 3, schedule: { kind: 'cosine', warmupSteps: 20, totalSteps: 600 },
      adam: { weightDecay: 0 }, session: { provider: 'cpu', threads: 1 },
    });
    const data = (rng: Rng) => {
      const xs = rng.uniform(N * 2);
      const xv = Float32Array.from(xs, (v) => v * 4 - 2);
      const tv = new Float32Array(N);
      for (let i = 0; i < N; i++) tv[i] = Math.sin(2 * xv[2 * i]!) * xv[2 * i + 1]!;
      return { x: f32([N, 2], xv), t: f32([N, 1], tv) };
    };
    const held = data(new Rng(99));
    const start = await tr.evaluate(held);
    for (let i = 0; i < 600; i++) await tr.trainStep(data(tr.rng));
    const end = await tr.evaluate(held);
    expect(start).toBeGreaterThan(0.5);
    expect(end).toBeLessThan(0.05 * start);
    await tr.close();
  });

  it('a small conv net (conv, group norm, SiLU) learns a fixed 3×3 filter', async () => {
    const N = 4, C = 8, S = 8;
    const g = new Graph('convnet');
    const x = g.input('x', 'float32', [N, 1, S, S]);
    const t = g.input('t', 'float32', [N, 1, S, S]);
    const pad = { pads: [1, 1, 1, 1] };
    const h0 = g.conv(x, g.param('conv_in.weight', [C, 1, 3, 3], { kind: 'normal', std: 0.3 }), g.param('conv_in.bias', [C], { kind: 'zeros' }), pad);
    const n0 = g.groupNorm(h0, 2, g.param('norm.weight', [C], { kind: 'ones' }), g.param('norm.bias', [C], { kind: 'zeros' }), 1e-5);
    const h1 = g.conv(g.silu(n0), g.param('conv_out.weight', [1, C, 3, 3], { kind: 'normal', std: 0.1 }), g.param('conv_out.bias', [1], { kind: 'zeros' }), pad);
    const d = g.sub(g.add(h1, x), t); // residual, like a denoiser
    const loss = g.reduceMean(g.mul(d, d), [0, 1, 2, 3], false);
    const grad = buildGradientGraph(g, loss, [...g.params.keys()]);
    const tr = await Trainer.create({
      graph: grad, lr: 0.01, seed: 5, clipNorm: 1, schedule: { kind: 'warmup', warmupSteps: 10 },
      ema: { decay: 0.99 }, session: { provider: 'cpu', threads: 1 },
    });
    const K = [0, 0.2, 0, 0.2, 0.2, 0.2, 0, 0.2, 0]; // a plus-shaped blur, zero padded
    const data = (rng: Rng) => {
      const xv = rng.normal(N * S * S);
      const tv = new Float32Array(N * S * S);
      for (let n = 0; n < N; n++) for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) {
        let s = 0;
        for (let a = -1; a <= 1; a++) for (let b = -1; b <= 1; b++) {
          const ii = i + a, jj = j + b;
          if (ii >= 0 && ii < S && jj >= 0 && jj < S) s += K[(a + 1) * 3 + b + 1]! * xv[n * S * S + ii * S + jj]!;
        }
        tv[n * S * S + i * S + j] = s;
      }
      return { x: f32([N, 1, S, S], xv), t: f32([N, 1, S, S], tv) };
    };
    const held = data(new Rng(77));
    const start = await tr.evaluate(held);
    for (let i = 0; i < 300; i++) await tr.trainStep(data(tr.rng));
    const end = await tr.evaluate(held);
    expect(end).toBeLessThan(0.1 * start);
    await tr.close();
  });
});
