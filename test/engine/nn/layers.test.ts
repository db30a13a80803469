import { describe, expect, it } from 'vitest';
import { Graph } from '../../../electron/engine/onnx/graph.ts';
import { conv2d, dotProductAttention, groupNorm, linear, setLayerHooks } from '../../../electron/engine/nn/layers.ts';
import { buildUNetGraph } from '../../../electron/engine/nn/models.ts';
import { timestepEmbedding, unetForward } from '../../../electron/engine/nn/unet.ts';
import { TINY_UNET, randomTensor, runGraph, weightsFor } from './helpers.ts';

describe('layers against plain-JS references', () => {
  it('linear on [B, N, in] is x·Wᵀ + b per token', async () => {
    const g = new Graph();
    g.output(linear(g, 'fc', g.input('x', 'float32', [2, 3, 4]), 4, 5), 'y');
    const w = weightsFor(g);
    const x = randomTensor([2, 3, 4], 1);
    const y = (await runGraph(g, w, { x })).y!;
    expect(y.shape).toEqual([2, 3, 5]);
    const W = w.get('fc.weight')!;
    const b = w.get('fc.bias')!;
    for (let t = 0; t < 6; t++) {
      for (let o = 0; o < 5; o++) {
        let s = b[o]!;
        for (let i = 0; i < 4; i++) s += x.data[t * 4 + i]! * W[o * 4 + i]!;
        expect(y.data[t * 5 + o]).toBeCloseTo(s, 5);
      }
    }
  });

  it('multi-head attention equals softmax(q·kᵀ/√d)·v per head', async () => {
    const [B, N, M, H, d] = [1, 3, 2, 2, 2];
    const g = new Graph();
    const q = g.input('q', 'float32', [B, N, H * d]);
    const k = g.input('k', 'float32', [B, M, H * d]);
    const v = g.input('v', 'float32', [B, M, H * d]);
    g.output(dotProductAttention(g, q, k, v, H), 'y');
    const feeds = { q: randomTensor([B, N, H * d], 1), k: randomTensor([B, M, H * d], 2), v: randomTensor([B, M, H * d], 3) };
    const y = (await runGraph(g, new Map(), feeds)).y!;
    for (let h = 0; h < H; h++) {
      for (let n = 0; n < N; n++) {
        const logits = Array.from({ length: M }, (_, m) => {
          let s = 0;
          for (let c = 0; c < d; c++) s += feeds.q.data[n * H * d + h * d + c]! * feeds.k.data[m * H * d + h * d + c]!;
          return s / Math.sqrt(d);
        });
        const e = logits.map(Math.exp);
        const z = e.reduce((a, b) => a + b, 0);
        for (let c = 0; c < d; c++) {
          const want = e.reduce((s, p, m) => s + (p / z) * feeds.v.data[m * H * d + h * d + c]!, 0);
          expect(y.data[n * H * d + h * d + c]).toBeCloseTo(want, 5);
        }
      }
    }
  });

  it('GroupNorm normalises each group of channels over its pixels', async () => {
    const g = new Graph();
    g.output(groupNorm(g, 'norm', g.input('x', 'float32', [1, 4, 2, 2]), 2, 1e-6), 'y');
    const x = randomTensor([1, 4, 2, 2], 5);
    const y = (await runGraph(g, weightsFor(g), { x })).y!;
    for (let grp = 0; grp < 2; grp++) {
      const xs = Array.from(x.data.subarray(grp * 8, grp * 8 + 8));
      const mean = xs.reduce((a, b) => a + b, 0) / 8;
      const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / 8 + 1e-6);
      xs.forEach((v, i) => expect(y.data[grp * 8 + i]).toBeCloseTo((v - mean) / sd, 4));
    }
  });

  it('strided conv with the VAE padding [0, 0, 1, 1] halves the size', () => {
    const g = new Graph();
    const y = conv2d(g, 'c', g.input('x', 'float32', [1, 2, 8, 8]), 2, 3, { kernel: 3, stride: 2, padding: [0, 0, 1, 1] });
    expect(y.shape).toEqual([1, 3, 4, 4]);
  });
});

describe('layer hooks (adapters such as LoRA)', () => {
  it('see every linear and conv by parameter name and can replace its output', async () => {
    const g = new Graph('unet');
    const seen: string[] = [];
    setLayerHooks(g, {
      linear: (_g, name, _x, y) => (seen.push(name), y),
      conv2d: (hg, name, _x, y) => (seen.push(name), name.endsWith('out.2') ? hg.add(y, 1) : y),
    });
    const sample = g.input('sample', 'float32', [1, 4, 4, 4]);
    const temb = g.input('timestep_embedding', 'float32', [1, 16]);
    const ctx = g.input('encoder_hidden_states', 'float32', [1, 2, 12]);
    g.output(unetForward(g, TINY_UNET, { sample, timestepEmbedding: temb, context: ctx }), 'out_sample');
    expect(seen).toContain('model.diffusion_model.input_blocks.3.1.transformer_blocks.0.attn2.to_k');
    expect(seen).toContain('model.diffusion_model.middle_block.1.proj_out');
    const out = (await runGraph(g, weightsFor(g), {
      sample: randomTensor([1, 4, 4, 4], 1),
      timestep_embedding: timestepEmbedding([3], 16),
      encoder_hidden_states: randomTensor([1, 2, 12], 2),
    })).out_sample!;
    expect([...new Set(out.data as Float32Array)]).toEqual([1]); // zero-init out conv + the hook's +1
    // Graphs without hooks are untouched.
    const plain = buildUNetGraph(TINY_UNET, { batch: 1, height: 4, width: 4, contextLength: 2 });
    expect(plain.nodes.length).toBe(g.nodes.length - 1);
  });
});
